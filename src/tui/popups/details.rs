//! Details of the primary or of one backup: what its meta says and the
//! verification ladder with the exact reasons. The same lines fill the
//! details pane beside the table.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Widget, Wrap};

use super::{Effects, Env, PopupView, field, fit_checksums, render_text_popup, scroll, wrap_words};
use crate::present::{age, human_size, local_time, short_checksum};
use crate::store::verify::{FileReport, Target};
use crate::tui::action::Action;
use crate::tui::app::{App, Severity};
use crate::tui::keymap::{Binding, Context, KeyCode, bind, ch, code};
use crate::tui::theme::{Theme, outcome_symbol, status_symbol};
use crate::tui::worker::Command;

/// Width and height of the details popup.
const DETAILS_POPUP: (u16, u16) = (90, 34);

#[derive(Debug)]
pub struct DetailsPopup {
    pub target: Target,
    pub scroll: u16,
}

impl DetailsPopup {
    pub fn new(target: Target) -> DetailsPopup {
        DetailsPopup { target, scroll: 0 }
    }
}

#[rustfmt::skip]
pub static KEYS: &[Binding] = &[
    bind!(Details, [code(KeyCode::Up), ch('k')], Up, "scroll up"),
    bind!(Details, [code(KeyCode::Down), ch('j')], Down, "scroll down", "scroll"),
    bind!(Details, [ch('v')], Verify, "verify it now", "verify"),
    bind!(Details, [code(KeyCode::Esc), ch('q'), code(KeyCode::Enter)], Close, "close", "close"),
];

impl PopupView for DetailsPopup {
    fn context(&self) -> Context {
        Context::Details
    }

    fn update(&mut self, action: Action, _env: &Env, fx: &mut Effects) {
        if scroll(&mut self.scroll, &action) {
            return;
        }
        match action {
            Action::Verify => {
                fx.log(Severity::Info, format!("verifying {}…", self.target));
                fx.send(Command::Verify(self.target.clone()));
            }
            Action::Close | Action::No => fx.close = true,
            _ => {}
        }
    }

    fn draw(&self, app: &App, area: Rect, buf: &mut Buffer) {
        let title = format!(" details: {} ", self.target);
        let width = DETAILS_POPUP.0.min(area.width).saturating_sub(2);
        let lines = details_lines(app, &self.target, width);
        render_text_popup(
            app.theme,
            area,
            &title,
            lines,
            self.scroll,
            DETAILS_POPUP,
            buf,
        );
    }
}

/// What the details pane and popup show for the primary or a backup.
pub fn details_lines(app: &App, target: &Target, width: u16) -> Vec<Line<'static>> {
    let t = app.theme;
    let mut lines = Vec::new();
    let report = match target {
        Target::Primary => {
            lines.push(field(
                t,
                "file",
                app.store_path
                    .join(crate::store::PRIMARY_FILE)
                    .display()
                    .to_string(),
            ));
            lines.push(field(
                t,
                "meta",
                if app.store.has_meta {
                    "graph.json.meta"
                } else {
                    "graph.json.meta is missing"
                },
            ));
            app.store.primary.as_ref()
        }
        Target::Backup(id) => {
            let Some(row) = app.table.row(id) else {
                return vec![Line::styled(format!("{id} is no longer listed"), t.dim())];
            };
            let info = &row.info;
            lines.push(field(
                t,
                "time",
                format!("{} ({})", local_time(info.time), age(info.time, app.now)),
            ));
            lines.push(match (info.size, info.form) {
                (Some(size), crate::store::codec::StoredForm::Plain) => {
                    field(t, "size", human_size(size))
                }
                (Some(stored), form) => field(
                    t,
                    "size",
                    format!(
                        "{} stored as {}, {} of JSON",
                        human_size(stored),
                        form.name(),
                        info.plain_size.map_or_else(|| "?".into(), human_size)
                    ),
                ),
                (None, _) => {
                    Line::styled(format!("{} is missing", info.id.data_file_name()), t.bad())
                }
            });
            lines.push(field(
                t,
                "meta",
                info.meta_path
                    .as_ref()
                    .and_then(|p| p.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "none".into()),
            ));
            let mut by = info
                .saved_by
                .clone()
                .unwrap_or_else(|| "unknown writer".into());
            if let Some(source) = &info.source {
                by.push_str(&format!(" · {source}"));
            }
            lines.push(field(t, "saved by", by));
            if let Some(ts) = &info.meta_timestamp {
                lines.push(field(t, "meta time", ts.clone()));
            }
            if let Some(c) = &info.checksum {
                lines.push(field(t, "checksum", short_checksum(c)));
            }
            lines.push(field(
                t,
                "counts",
                if info.legacy_counts {
                    "legacy meta: 0/0 recorded (not compared)".to_string()
                } else {
                    match (info.node_count, info.edge_count) {
                        (Some(n), Some(e)) => format!("{n} nodes · {e} edges (meta)"),
                        _ => "not in the meta".to_string(),
                    }
                },
            ));
            for note in &info.notes {
                lines.push(Line::styled(format!("note: {note}"), t.warn()));
            }
            row.report.as_ref()
        }
    };
    lines.push(Line::from(""));
    match report {
        None => lines.push(Line::styled(
            "· not verified yet: v verifies it, every level",
            t.dim(),
        )),
        Some(r) => lines.extend(ladder_lines(t, r, app.now, width)),
    }
    lines
}

/// The verification ladder of one report, with the exact reasons.
/// `width` is where the lines will be drawn: level details wrap under
/// themselves so the level names stay in a column.
pub fn ladder_lines(
    t: Theme,
    r: &FileReport,
    now: chrono::NaiveDateTime,
    width: u16,
) -> Vec<Line<'static>> {
    let status = Some(r.status);
    let at = r.verified_at.naive_local();
    let when = if at.date() == now.date() {
        at.format("%H:%M:%S").to_string()
    } else {
        local_time(at)
    };
    let depth = match r.depth {
        crate::store::verify::Depth::Full => "every level",
        crate::store::verify::Depth::Checksum => "checksum only",
    };
    let mut lines = vec![Line::from(vec![
        Span::styled(
            format!("{} {}", status_symbol(status), r.word()),
            t.status(status)
                .add_modifier(ratatui::style::Modifier::BOLD),
        ),
        Span::styled(
            format!(" · {depth} · {when} · {:.0} ms", r.elapsed_ms),
            t.dim(),
        ),
    ])];
    // The reason is usually one level's detail, shown just below.
    if let Some(reason) = r
        .reason
        .as_ref()
        .filter(|reason| !r.levels.iter().any(|l| &l.detail == *reason))
    {
        lines.push(Line::styled(reason.clone(), t.status(status)));
    }
    const INDENT: usize = 15;
    let room = usize::from(width).saturating_sub(INDENT).max(12);
    for l in &r.levels {
        let detail = fit_checksums(&l.detail, room);
        for (i, chunk) in wrap_words(&detail, room).into_iter().enumerate() {
            let head = if i == 0 {
                vec![
                    Span::styled(
                        format!(" {} ", outcome_symbol(l.outcome)),
                        t.outcome(l.outcome),
                    ),
                    Span::styled(format!("{:<12}", l.level.name()), t.bold()),
                ]
            } else {
                vec![Span::raw(" ".repeat(INDENT))]
            };
            let mut spans = head;
            spans.push(Span::styled(chunk, t.outcome(l.outcome)));
            lines.push(Line::from(spans));
        }
    }
    for w in &r.warnings {
        lines.push(Line::styled(format!("warning: {w}"), t.warn()));
    }
    if !r.node_types.is_empty() {
        lines.push(Line::from(""));
        lines.push(type_line(t, "node types", &r.node_types));
    }
    if !r.edge_types.is_empty() {
        lines.push(type_line(t, "edge types", &r.edge_types));
    }
    lines
}

fn type_line(t: Theme, name: &str, types: &[(String, usize)]) -> Line<'static> {
    let text = types
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(" · ");
    field(t, name, text)
}

pub fn render_details_pane(app: &App, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let (title, lines) = match app.table.selected_id() {
        Some(id) => (
            format!(" {id} "),
            details_lines(
                app,
                &Target::Backup(id.clone()),
                area.width.saturating_sub(2),
            ),
        ),
        None => (
            " details ".to_string(),
            vec![Line::styled("no backup selected", t.dim())],
        ),
    };
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .block(
            Block::bordered()
                .border_style(t.border())
                .title(Span::styled(title, t.bold())),
        )
        .render(area, buf);
}
