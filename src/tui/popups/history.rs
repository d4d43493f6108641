//! A node's history as a timeline across the primary and every backup, newest first,
//! with its field-level changes and its edges'. Opened with `h` from the node browser,
//! over which it is drawn.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::{Effects, render_text_popup, scroll};
use crate::present::nodes::{EDGE_CHANGES_SHOWN, field_line, more_edge_changes};
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
            None => vec![Line::styled("reading the node in every backup…", t.dim())],
            Some(Err(e)) => vec![
                Line::styled("the history could not be read:", t.bad()),
                Line::from(e.to_string()),
            ],
            Some(Ok(r)) => {
                let inner = area.width.saturating_sub(4).saturating_sub(2);
                timeline_lines(t, r, usize::from(inner))
            }
        };
        let title = format!(" history of {} ", self.node);
        let size = (area.width.saturating_sub(4), area.height.saturating_sub(2));
        render_text_popup(t, area, &title, lines, self.scroll, size, buf);
    }
}

/// A detail line of the timeline, wrapped at spaces to `width` with its continuation
/// lines indented under it (ratatui's own wrap would start them at the margin).
fn detail(lines: &mut Vec<Line<'static>>, indent: usize, text: &str, style: Style, width: usize) {
    let mut pad = " ".repeat(indent);
    let mut line = pad.clone();
    let mut fresh = true;
    for word in text.split(' ') {
        let room = width.saturating_sub(line.chars().count() + usize::from(!fresh));
        if !fresh && word.chars().count() > room {
            lines.push(Line::styled(std::mem::take(&mut line), style));
            if pad.len() == indent {
                pad.push_str("    ");
            }
            line = pad.clone();
            fresh = true;
        }
        if !fresh {
            line.push(' ');
        }
        line.push_str(word);
        fresh = false;
    }
    lines.push(Line::styled(line, style));
}

/// The timeline as lines, newest first, for a popup `width` columns wide inside.
pub fn timeline_lines(t: Theme, r: &HistoryReport, width: usize) -> Vec<Line<'static>> {
    let counts: Vec<String> = [
        (r.index_hits, "cached"),
        (r.index_built, "built"),
        (r.index_rebuilt, "rebuilt"),
        (r.index_skimmed, "skimmed (no index yet)"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    let mut lines = Vec::new();
    detail(
        &mut lines,
        0,
        &format!(
            "present in {} of {} graphs · node index: {}",
            r.present_in,
            r.entries.len(),
            if counts.is_empty() {
                "none".to_string()
            } else {
                counts.join(", ")
            }
        ),
        t.dim(),
        width,
    );
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
                let text = format!("data {}", field_line(f));
                detail(&mut lines, 6, &text, Style::default(), width);
            }
            for f in &c.fields {
                detail(&mut lines, 6, &field_line(f), t.dim(), width);
            }
        }
        for c in e.edges.iter().take(EDGE_CHANGES_SHOWN) {
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
                detail(&mut lines, 10, &field_line(f), t.dim(), width);
            }
        }
        if let Some(more) = more_edge_changes(e.edges.len()) {
            lines.push(Line::styled(format!("      {more}"), t.dim()));
        }
        if let Some(reason) = &e.reason {
            detail(&mut lines, 6, reason, t.warn(), width);
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_detail_wraps_at_spaces_under_its_indent() {
        let mut lines = Vec::new();
        let text = "~ connections_in: 11 items -> 15; added \"edge_61a7bc75\", \"edge_29039004\"";
        detail(&mut lines, 6, text, Style::default(), 40);
        let text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        assert_eq!(
            text,
            [
                "      ~ connections_in: 11 items -> 15;",
                "          added \"edge_61a7bc75\",",
                "          \"edge_29039004\"",
            ]
        );
        assert!(text.iter().all(|l| l.chars().count() <= 40));
        let mut short = Vec::new();
        detail(&mut short, 6, "data ~ price: 1 -> 2", Style::default(), 40);
        assert_eq!(short.len(), 1);
    }
}
