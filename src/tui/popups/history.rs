//! A node's history as a timeline across the primary and every backup, newest first,
//! with its field-level changes and its edges'. Opened with `h` from the node browser,
//! over which it is drawn.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::{Effects, render_text_popup, scroll};
use crate::present::nodes::field_line;
use crate::store::history::{EdgeState, HistoryReport, NodeState};
use crate::store::verify::Target;
use crate::tui::action::Action;
use crate::tui::error::UiError;
use crate::tui::keymap::{Binding, KeyCode, bind, ch, code};
use crate::tui::theme::Theme;
use crate::tui::worker::{Command, Event};

/// The timeline of one node.
#[derive(Debug)]
pub struct HistoryView {
    pub node: String,
    pub result: Option<Result<Box<HistoryReport>, UiError>>,
    pub scroll: u16,
}

#[rustfmt::skip]
pub static KEYS: &[Binding] = &[
    bind!(History, [code(KeyCode::Up), ch('k')], Up, "scroll up"),
    bind!(History, [code(KeyCode::Down), ch('j')], Down, "scroll down", "scroll"),
    bind!(History, [code(KeyCode::PageUp)], PageUp, "page up"),
    bind!(History, [code(KeyCode::PageDown)], PageDown, "page down"),
    bind!(History, [code(KeyCode::Esc), ch('q'), ch('h')], Close, "back to the nodes", "back"),
];

impl HistoryView {
    /// The view, waiting for the history it asks the worker for in `fx`.
    pub fn open(node: String, fx: &mut Effects) -> HistoryView {
        fx.send(Command::NodeHistory(node.clone()));
        HistoryView {
            node,
            result: None,
            scroll: 0,
        }
    }

    /// Handles a key; true when the view should close.
    pub fn update(&mut self, action: &Action) -> bool {
        !scroll(&mut self.scroll, action) && matches!(action, Action::Close | Action::No)
    }

    pub fn on_event(&mut self, event: &Event) {
        if let Event::NodeHistory { node, result } = event
            && *node == self.node
        {
            self.result = Some(result.clone());
        }
    }

    pub fn draw(&self, t: Theme, area: Rect, buf: &mut Buffer) {
        let lines = match &self.result {
            None => vec![Line::styled(
                "reading the node in every backup (indexes are built on first use)…",
                t.dim(),
            )],
            Some(Err(e)) => vec![
                Line::styled("the history could not be read:", t.bad()),
                Line::from(e.to_string()),
            ],
            Some(Ok(r)) => timeline_lines(t, r),
        };
        let title = format!(" history of {} ", self.node);
        let size = (area.width.saturating_sub(4), area.height.saturating_sub(2));
        render_text_popup(t, area, &title, lines, self.scroll, size, buf);
    }
}

/// The timeline as lines, newest first.
pub fn timeline_lines(t: Theme, r: &HistoryReport) -> Vec<Line<'static>> {
    let mut lines = vec![Line::styled(
        format!(
            "present in {} of {} graphs · node index: {} cached, {} built, {} rebuilt",
            r.present_in,
            r.entries.len(),
            r.index_hits,
            r.index_built,
            r.index_rebuilt
        ),
        t.dim(),
    )];
    for e in &r.entries {
        let (mark, style) = match e.state {
            NodeState::Added => ("+", t.good()),
            NodeState::Changed => ("~", t.warn()),
            NodeState::Unchanged => ("=", t.dim()),
            NodeState::Removed => ("-", t.bad()),
            NodeState::Absent => ("·", t.dim()),
            NodeState::Missing | NodeState::Unreadable => ("✗", t.bad()),
        };
        let when = match (&e.target, e.time) {
            (Target::Primary, _) => "primary (now)".to_string(),
            (target, Some(time)) => format!("{}  {target}", time.format("%Y-%m-%d %H:%M")),
            (target, None) => target.to_string(),
        };
        let mut spans = vec![
            Span::styled(format!("{mark} {:<10}", e.state.name()), style),
            Span::styled(when, t.bold()),
        ];
        if e.state != NodeState::Absent && !e.state.is_problem() {
            spans.push(Span::styled(format!("  {} edges", e.edge_count), t.dim()));
        }
        lines.push(Line::from(spans));
        if let Some(c) = &e.changes {
            for f in &c.data {
                lines.push(Line::from(format!("      data {}", field_line(f))));
            }
            for f in &c.fields {
                lines.push(Line::styled(format!("      {}", field_line(f)), t.dim()));
            }
        }
        for c in &e.edges {
            let sign = match c.state {
                EdgeState::Added => "+",
                EdgeState::Removed => "-",
                EdgeState::Changed => "~",
            };
            lines.push(Line::from(format!(
                "      edge {sign} {} → {}  {}",
                c.from, c.to, c.id
            )));
            for f in &c.fields {
                lines.push(Line::styled(
                    format!("          {}", field_line(f)),
                    t.dim(),
                ));
            }
        }
        if let Some(reason) = &e.reason {
            lines.push(Line::styled(format!("      {reason}"), t.warn()));
        }
    }
    lines
}
