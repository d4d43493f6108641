//! A diff of two graphs (a backup and the primary, or two marked
//! backups): counts and the ids added, removed and changed.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::{Effects, Env, NodesPopup, PopupView, render_text_popup, scroll, wrap_words};
use crate::present::{human_size, shorten_list};
use crate::store::diff::{DiffReport, GraphDiff};
use crate::store::verify::{FileReport, Target};
use crate::tui::action::Action;
use crate::tui::app::App;
use crate::tui::error::UiError;
use crate::tui::keymap::{Binding, Context, KeyCode, bind, ch, code};
use crate::tui::theme::{Theme, status_symbol};
use crate::tui::worker::{Command, Event};

#[derive(Debug)]
pub struct DiffPopup {
    pub title: String,
    pub result: Option<Result<Box<DiffReport>, UiError>>,
    pub scroll: u16,
    /// Every id listed, not the first few and "and N more".
    pub expanded: bool,
}

impl DiffPopup {
    /// The popup, waiting for the worker's diff it asks for in `fx`.
    pub fn open(old: Target, new: Target, fx: &mut Effects) -> DiffPopup {
        let title = format!("diff {old} → {new}");
        fx.send(Command::Diff { old, new });
        DiffPopup {
            title,
            result: None,
            scroll: 0,
            expanded: false,
        }
    }
}

#[rustfmt::skip]
pub static KEYS: &[Binding] = &[
    bind!(Diff, [code(KeyCode::Up), ch('k')], Up, "scroll up"),
    bind!(Diff, [code(KeyCode::Down), ch('j')], Down, "scroll down", "scroll"),
    bind!(Diff, [code(KeyCode::PageUp)], PageUp, "page up"),
    bind!(Diff, [code(KeyCode::PageDown)], PageDown, "page down"),
    bind!(Diff, [code(KeyCode::Enter)], Browse, "browse the changed and added nodes, with what changed field by field", "nodes"),
    bind!(Diff, [ch(' '), ch('+')], ToggleMark, "list every id (expand \"and N more\"), or the first few again", "all ids"),
    bind!(Diff, [code(KeyCode::Esc), ch('q')], Close, "close", "close"),
];

impl PopupView for DiffPopup {
    fn context(&self) -> Context {
        Context::Diff
    }

    fn update(&mut self, action: Action, _env: &Env, fx: &mut Effects) {
        if scroll(&mut self.scroll, &action) {
            return;
        }
        match action {
            Action::Close | Action::No => fx.close = true,
            Action::ToggleMark => self.expanded = !self.expanded,
            Action::Browse => {
                if let Some(Ok(report)) = &self.result {
                    let mut ids = report.diff.nodes_changed.clone();
                    ids.extend(report.diff.nodes_added.iter().cloned());
                    let popup = NodesPopup::open(
                        report.new.clone(),
                        Some(report.old.clone()),
                        Some(ids),
                        fx,
                    );
                    fx.close = true;
                    fx.open = Some(super::Popup::Nodes(Box::new(popup)));
                }
            }
            _ => {}
        }
    }

    fn on_event(&mut self, event: &Event, _env: &Env, _fx: &mut Effects) {
        if let Event::Diffed(result) = event {
            self.result = Some(result.clone());
        }
    }

    fn draw(&self, app: &App, area: Rect, buf: &mut Buffer) {
        let lines = match &self.result {
            None => vec![Line::styled("comparing the two graphs…", app.theme.dim())],
            Some(Err(e)) => vec![
                Line::styled("the diff failed:", app.theme.bad()),
                Line::from(e.message.clone()),
            ],
            Some(Ok(report)) => {
                let inner = usize::from(SIZE.0.min(area.width).saturating_sub(2));
                diff_report_lines(app.theme, report, self.expanded, inner)
            }
        };
        let title = format!(" {} ", self.title);
        render_text_popup(app.theme, area, &title, lines, self.scroll, SIZE, buf);
    }
}

/// How many ids of one kind of change are listed before "and N more".
const IDS_LISTED: usize = 40;

/// The diff popup's size at most.
const SIZE: (u16, u16) = (96, 30);

/// Where a group's list of ids starts: after its name, its count and two spaces.
const IDS_AT: usize = 24;

pub fn diff_lines(t: Theme, d: &GraphDiff) -> Vec<Line<'static>> {
    diff_lines_listing(t, d, IDS_LISTED, None)
}

/// [`diff_lines`] listing up to `listed` ids of each kind of change. With the
/// `width` of the lines, a list longer than a line goes on under itself.
fn diff_lines_listing(
    t: Theme,
    d: &GraphDiff,
    listed: usize,
    width: Option<usize>,
) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let groups: [(&str, &Vec<String>); 6] = [
        ("+ nodes added", &d.nodes_added),
        ("- nodes removed", &d.nodes_removed),
        ("~ nodes changed", &d.nodes_changed),
        ("+ edges added", &d.edges_added),
        ("- edges removed", &d.edges_removed),
        ("~ edges changed", &d.edges_changed),
    ];
    lines.push(Line::from(vec![
        Span::styled("counts          ", t.dim()),
        Span::raw(format!(
            "{} → {} nodes, {} → {} edges",
            d.old_node_count, d.new_node_count, d.old_edge_count, d.new_edge_count
        )),
    ]));
    if d.is_empty() {
        lines.push(Line::styled(
            "no differences: the same nodes and edges",
            t.good(),
        ));
        return lines;
    }
    for (what, ids) in groups {
        let style = if ids.is_empty() {
            t.dim()
        } else {
            ratatui::style::Style::new()
        };
        let mut spans = vec![Span::styled(format!("{what:<16}{:>6}", ids.len()), style)];
        if ids.is_empty() {
            lines.push(Line::from(spans));
            continue;
        }
        let list = shorten_list(ids, listed);
        let parts = match width.map(|w| w.saturating_sub(IDS_AT)) {
            Some(room) if room >= 20 => wrap_words(&list, room),
            _ => vec![list],
        };
        let mut parts = parts.into_iter();
        spans.push(Span::raw(format!("  {}", parts.next().unwrap_or_default())));
        lines.push(Line::from(spans));
        lines.extend(parts.map(|more| Line::raw(format!("{:IDS_AT$}{more}", ""))));
    }
    lines
}

fn file_line(
    t: Theme,
    label: &str,
    target: &Target,
    size: u64,
    report: &FileReport,
) -> Line<'static> {
    let status = Some(report.status);
    Line::from(vec![
        Span::styled(format!("{label:<5}"), t.dim()),
        Span::styled(format!("{target}"), t.bold()),
        Span::raw(format!(" · {} · ", human_size(size))),
        Span::styled(
            format!("{} {}", status_symbol(status), report.summary()),
            t.status(status),
        ),
    ])
}

fn diff_report_lines(t: Theme, r: &DiffReport, expanded: bool, width: usize) -> Vec<Line<'static>> {
    let mut lines = vec![
        file_line(t, "old", &r.old, r.old_size, &r.old_file),
        file_line(t, "new", &r.new, r.new_size, &r.new_file),
        Line::from(""),
    ];
    let listed = if expanded { usize::MAX } else { IDS_LISTED };
    lines.extend(diff_lines_listing(t, &r.diff, listed, Some(width)));
    let more = [
        &r.diff.nodes_added,
        &r.diff.nodes_removed,
        &r.diff.nodes_changed,
        &r.diff.edges_added,
        &r.diff.edges_removed,
        &r.diff.edges_changed,
    ]
    .iter()
    .any(|ids| ids.len() > IDS_LISTED);
    if more {
        lines.push(Line::from(""));
        lines.push(Line::styled(
            if expanded {
                "Space: the first few ids again · Enter: the nodes, field by field"
            } else {
                "Space: every id · Enter: the nodes, field by field"
            },
            t.dim(),
        ));
    }
    lines
}
