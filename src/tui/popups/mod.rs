//! What sits in front of the main screen. Each popup is one file that owns
//! its state, its keys ([`Binding`] rows), what it does with an [`Action`]
//! or a worker [`Event`], and how it is drawn (gitui's `src/popups/*.rs`
//! is the model).
//!
//! A popup never touches the rest of the UI: it reads what it needs from
//! [`Env`] and asks for everything else through [`Effects`] (commands for
//! the worker, log lines, close, open another popup), which
//! [`super::app::App`] applies. Adding a popup is: a new file implementing
//! [`PopupView`], one variant in [`Popup`] and one line in
//! [`each_popup!`] and [`KEYS`], and one [`Context`] in the keymap. A view
//! drawn over a popup (the node browser's history and restore) is a file
//! too, owned by that popup, which hands it its keys and events.

mod details;
mod diff;
mod error;
mod evidence;
mod help;
mod history;
mod log;
mod node_restore;
mod nodes;
mod remotes;
mod restore;
mod rotate;
mod trash;

use chrono::NaiveDateTime;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget, Wrap};

pub use details::{DetailsPopup, ladder_lines, render_details_pane};
pub use diff::{DiffPopup, diff_lines};
pub use error::ErrorPopup;
pub use evidence::EvidencePopup;
pub use help::HelpPopup;
pub use log::LogPopup;
pub use nodes::NodesPopup;
pub use remotes::{RemotesPopup, push_text};
pub use restore::{RestorePopup, restore_plan_lines};
pub use rotate::RotateForm;
pub use trash::TrashPopup;
#[cfg(test)]
pub use {
    remotes::PushState,
    restore::{RestoreSource, RestoreState},
    rotate::{NOT_VERIFIED_YET, candidates},
};

use super::action::Action;
use super::app::{App, Severity};
use super::keymap::{Binding, Context};
use super::render::centered;
use super::table::BackupTable;
use super::theme::Theme;
use super::worker::{Command, Event};

/// What a popup may read of the rest of the UI.
pub struct Env<'a> {
    pub now: NaiveDateTime,
    pub table: &'a BackupTable,
}

/// What a popup asks the app to do; applied after the popup returns.
#[derive(Default)]
pub struct Effects {
    pub commands: Vec<Command>,
    pub log: Vec<(Severity, String)>,
    /// Close this popup.
    pub close: bool,
    /// Put this popup in front instead (after `close`).
    pub open: Option<Popup>,
}

impl Effects {
    pub fn send(&mut self, command: Command) {
        self.commands.push(command);
    }

    pub fn log(&mut self, severity: Severity, text: impl Into<String>) {
        self.log.push((severity, text.into()));
    }
}

/// One popup: its keys' context, its reactions, its drawing.
pub trait PopupView {
    /// Where its keys are looked up.
    fn context(&self) -> Context;
    /// A key's action while it is in front.
    fn update(&mut self, action: Action, env: &Env, fx: &mut Effects);
    /// A worker result; most popups wait for none.
    fn on_event(&mut self, _event: &Event, _env: &Env, _fx: &mut Effects) {}
    /// What a left click at (`x`, `y`) presses, as last drawn; most
    /// popups have nothing to click.
    fn click(&self, _x: u16, _y: u16) -> Option<Action> {
        None
    }
    fn draw(&self, app: &App, area: Rect, buf: &mut Buffer);
}

/// The popup in front of the main screen.
#[derive(Debug)]
pub enum Popup {
    Help(HelpPopup),
    Details(DetailsPopup),
    Diff(DiffPopup),
    Restore(RestorePopup),
    Rotate(Box<RotateForm>),
    Nodes(Box<NodesPopup>),
    Trash(TrashPopup),
    Evidence(EvidencePopup),
    Remotes(RemotesPopup),
    Error(ErrorPopup),
    Log(LogPopup),
}

/// Runs `$body` with `$p` bound to whichever popup `$popup` is.
macro_rules! each_popup {
    ($popup:expr, $p:ident => $body:expr) => {
        match $popup {
            Popup::Help($p) => $body,
            Popup::Details($p) => $body,
            Popup::Diff($p) => $body,
            Popup::Restore($p) => $body,
            Popup::Rotate($p) => $body,
            Popup::Nodes($p) => $body,
            Popup::Trash($p) => $body,
            Popup::Evidence($p) => $body,
            Popup::Remotes($p) => $body,
            Popup::Error($p) => $body,
            Popup::Log($p) => $body,
        }
    };
}

/// Every popup's key table, for the keymap.
pub static KEYS: &[&[Binding]] = &[
    help::KEYS,
    details::KEYS,
    diff::KEYS,
    restore::KEYS,
    rotate::KEYS,
    nodes::KEYS,
    history::KEYS,
    node_restore::KEYS,
    trash::KEYS,
    evidence::KEYS,
    remotes::KEYS,
    error::KEYS,
    log::KEYS,
];

impl Popup {
    pub fn context(&self) -> Context {
        each_popup!(self, p => p.context())
    }

    pub fn update(&mut self, action: Action, env: &Env, fx: &mut Effects) {
        each_popup!(self, p => p.update(action, env, fx))
    }

    pub fn on_event(&mut self, event: &Event, env: &Env, fx: &mut Effects) {
        each_popup!(self, p => p.on_event(event, env, fx))
    }

    pub fn click(&self, x: u16, y: u16) -> Option<Action> {
        each_popup!(self, p => p.click(x, y))
    }

    pub fn draw(&self, app: &App, area: Rect, buf: &mut Buffer) {
        each_popup!(self, p => p.draw(app, area, buf))
    }
}

/// Lines a paragraph of `lines` takes at `width` when wrapped (a close
/// estimate: words are not split across lines by this count).
pub fn wrapped_height(lines: &[Line], width: u16) -> u16 {
    let width = usize::from(width.max(1));
    lines
        .iter()
        .map(|l| l.width().max(1).div_ceil(width) as u16)
        .sum::<u16>()
        + 1
}

/// A bordered, scrollable text popup of at most `width` x `height`.
pub fn render_text_popup(
    t: Theme,
    area: Rect,
    title: &str,
    lines: Vec<Line<'static>>,
    scroll: u16,
    (width, height): (u16, u16),
    buf: &mut Buffer,
) {
    let rect = centered(area, width, height);
    Clear.render(rect, buf);
    let inner_width = rect.width.saturating_sub(2);
    let total = wrapped_height(&lines, inner_width);
    let visible = rect.height.saturating_sub(2);
    let scroll = scroll.min(total.saturating_sub(visible));
    let mut block = Block::bordered()
        .border_style(t.popup_border())
        .title(Span::styled(title.to_string(), t.bold()));
    if total > visible {
        block = block.title_bottom(Line::styled(" ↑↓ scroll ", t.dim()).right_aligned());
    }
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .scroll((scroll, 0))
        .block(block)
        .render(rect, buf);
}

/// Where a list view (trash, evidence) draws: its bordered rect, no taller
/// than it needs, and inside it the summary, the table (a header and one
/// row per item) and the selected item's details right under it. When the
/// window is short the table gives up rows first, down to two.
pub fn list_view_areas(
    area: Rect,
    summary: &[Line],
    rows: usize,
    details: &[Line],
) -> (Rect, [Rect; 3]) {
    let width = area.width.saturating_sub(4).max(40).min(area.width);
    let inner_width = width.saturating_sub(2);
    let summary_h = wrapped_height(summary, inner_width)
        .saturating_sub(1)
        .max(1);
    let details_h = wrapped_height(details, inner_width)
        .saturating_sub(1)
        .max(1);
    let table_h = u16::try_from(rows + 1).unwrap_or(u16::MAX);
    let needed = summary_h
        .saturating_add(table_h)
        .saturating_add(1)
        .saturating_add(details_h)
        .saturating_add(2);
    let rect = centered(area, width, needed.min(area.height));
    let inner = Rect::new(
        rect.x + 1,
        rect.y + 1,
        rect.width.saturating_sub(2),
        rect.height.saturating_sub(2),
    );
    let room = inner.height.saturating_sub(summary_h + 1);
    let details_h = details_h.min(room.saturating_sub(2) / 2).max(1);
    let table_h = table_h.min(room.saturating_sub(details_h)).max(2);
    let [top, table, _, bottom] = Layout::vertical([
        Constraint::Length(summary_h),
        Constraint::Length(table_h),
        Constraint::Length(1),
        Constraint::Min(1),
    ])
    .areas(inner);
    (rect, [top, table, bottom])
}

/// `name       value`, the name dimmed in a column.
pub fn field<'a>(t: Theme, name: &str, value: impl Into<String>) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!("{name:<11}"), t.dim()),
        Span::raw(value.into()),
    ])
}

/// Scroll movement shared by the text popups.
pub fn scroll(scroll: &mut u16, action: &Action) -> bool {
    match action {
        Action::Up => *scroll = scroll.saturating_sub(1),
        Action::Down => *scroll = scroll.saturating_add(1),
        Action::PageUp => *scroll = scroll.saturating_sub(10),
        Action::PageDown => *scroll = scroll.saturating_add(10),
        _ => return false,
    }
    true
}

/// `detail` with each SHA-256 (64 hex digits) that would not fit on a line of `room`
/// columns shortened to its first 16 digits and "…" (`room` 0: every one): a checksum
/// cut across two lines reads as two values. The CLI and the JSON keep them whole.
pub fn fit_checksums(detail: &str, room: usize) -> String {
    detail
        .split(' ')
        .map(|word| {
            let hex = word.bytes().take_while(u8::is_ascii_hexdigit).count();
            if hex == 64 && word.chars().count() > room {
                format!("{}…{}", &word[..16], &word[64..])
            } else {
                word.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Splits `text` into lines of at most `width` characters, at spaces when
/// it can.
pub fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut current = String::new();
    for word in text.split(' ') {
        let needed = if current.is_empty() { 0 } else { 1 } + word.chars().count();
        if !current.is_empty() && current.chars().count() + needed > width {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
        while current.chars().count() > width {
            let head: String = current.chars().take(width).collect();
            let tail: String = current.chars().skip(width).collect();
            lines.push(head);
            current = tail;
        }
    }
    if !current.is_empty() || lines.is_empty() {
        lines.push(current);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::{fit_checksums, wrap_words};

    #[test]
    fn words_wrap_at_spaces_and_long_ones_are_cut() {
        assert_eq!(
            wrap_words("keep the newest valid backup", 10),
            vec!["keep the", "newest", "valid", "backup"]
        );
        assert_eq!(wrap_words("abcdefghijkl", 5), vec!["abcde", "fghij", "kl"]);
        assert_eq!(wrap_words("", 5), vec![""]);
    }

    #[test]
    fn a_checksum_that_cannot_fit_a_line_is_shortened_not_cut() {
        let (a, b) = ("1d97".repeat(16), "5828".repeat(16));
        let detail = format!("checksum mismatch: meta says sha256 {a}, the file hashes to {b}");
        let narrow = fit_checksums(&detail, 63);
        assert_eq!(
            narrow,
            "checksum mismatch: meta says sha256 1d971d971d971d97…, the file hashes to 5828582858285828…"
        );
        // With room for it, a checksum stays whole; other words are never touched.
        assert_eq!(fit_checksums(&detail, 80), detail);
        assert_eq!(fit_checksums(&"x".repeat(70), 10), "x".repeat(70));
    }
}
