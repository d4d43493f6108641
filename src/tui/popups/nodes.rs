//! The node browser: the nodes of one backup (or the primary) as a table of type, id,
//! degree and modified time, searched as you type and filtered by type, with a detail
//! pane (data, edges in and out with strengths). From here `h` shows a node's history
//! and `r` restores the marked nodes into the current graph; both are drawn over it.
//! Opened with Enter on a backup, or from a diff on its changed nodes, when the detail
//! also says what changed.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Clear, Paragraph, Row, Table, Widget, Wrap};
use ratatui_textarea::TextArea;

use super::history::HistoryView;
use super::node_restore::NodeRestoreView;
use super::{Effects, Env, PopupView};
use crate::graph::change::node_changes;
use crate::graph::pyjson;
use crate::graph::select::{NodeFilter, NodeSummary};
use crate::present::nodes::{clip, field_line};
use crate::store::verify::{Status, Target};
use crate::tui::action::Action;
use crate::tui::app::{App, Severity};
use crate::tui::error::UiError;
use crate::tui::keymap::{Binding, Context, KeyCode, bind, ch, code};
use crate::tui::render::ellipsize;
use crate::tui::theme::{Theme, status_symbol};
use crate::tui::worker::{Command, Event, NodeGraphs};

#[derive(Debug)]
pub struct NodesPopup {
    pub target: Target,
    /// The older graph a diff compared with: the detail shows what changed.
    pub compare: Option<Target>,
    /// Only these ids (a diff's changed nodes).
    pub only: Option<Vec<String>>,
    pub data: Option<Result<Box<NodeGraphs>, UiError>>,
    all: Vec<NodeSummary>,
    /// Positions in `all` that pass the filters, in order.
    pub rows: Vec<usize>,
    pub selected: usize,
    pub search: String,
    pub search_input: Option<TextArea<'static>>,
    /// The type filter; `None` shows every type.
    pub kind: Option<String>,
    pub types: Vec<String>,
    pub marked: Vec<String>,
    pub history: Option<HistoryView>,
    pub restore: Option<NodeRestoreView>,
}

#[rustfmt::skip]
pub static KEYS: &[Binding] = &[
    bind!(Nodes, [ch('/')], OpenFilter, "search ids and data as you type", "search"),
    bind!(Nodes, [ch('t')], CycleType, "filter by type: the next type (then all)", "type"),
    bind!(Nodes, [ch(' ')], ToggleMark, "mark a node to restore", "mark"),
    bind!(Nodes, [ch('r')], Restore, "restore the marked nodes (or the selected one) into the current graph", "restore"),
    bind!(Nodes, [ch('h')], NodeHistory, "history of the selected node across every backup", "history"),
    bind!(Nodes, [code(KeyCode::Esc), ch('q')], Close, "back to the backups", "back"),
    bind!(Nodes, [code(KeyCode::Up), ch('k')], Up, "previous node"),
    bind!(Nodes, [code(KeyCode::Down), ch('j')], Down, "next node"),
    bind!(Nodes, [code(KeyCode::PageUp)], PageUp, "one page up"),
    bind!(Nodes, [code(KeyCode::PageDown)], PageDown, "one page down"),
    bind!(Nodes, [ch('g'), code(KeyCode::Home)], Top, "first node"),
    bind!(Nodes, [ch('G'), code(KeyCode::End)], Bottom, "last node"),
    bind!(NodeSearch, [code(KeyCode::Enter)], Submit, "keep the search", "keep"),
    bind!(NodeSearch, [code(KeyCode::Esc)], Close, "clear the search", "clear"),
];

/// Rows a page moves.
const PAGE: usize = 20;

impl NodesPopup {
    /// The browser of `target`, waiting for the graph it asks the worker for in `fx`.
    pub fn open(
        target: Target,
        compare: Option<Target>,
        only: Option<Vec<String>>,
        fx: &mut Effects,
    ) -> NodesPopup {
        fx.send(Command::OpenNodes {
            target: target.clone(),
            compare: compare.clone(),
        });
        NodesPopup {
            target,
            compare,
            only,
            data: None,
            all: Vec::new(),
            rows: Vec::new(),
            selected: 0,
            search: String::new(),
            search_input: None,
            kind: None,
            types: Vec::new(),
            marked: Vec::new(),
            history: None,
            restore: None,
        }
    }

    fn graphs(&self) -> Option<&NodeGraphs> {
        self.data
            .as_ref()
            .and_then(|d| d.as_ref().ok())
            .map(|b| &**b)
    }

    /// The summary of the selected row.
    pub fn selected_node(&self) -> Option<&NodeSummary> {
        self.rows.get(self.selected).and_then(|&i| self.all.get(i))
    }

    fn refilter(&mut self) {
        let keep = self.selected_node().map(|n| n.id.clone());
        let filter = NodeFilter {
            kind: self.kind.clone(),
            grep: (!self.search.is_empty()).then(|| self.search.clone()),
        };
        self.rows = match self.graphs() {
            Some(g) => self
                .all
                .iter()
                .enumerate()
                .filter(|(_, s)| g.graph.node(&s.id).is_some_and(|n| filter.matches(n)))
                .map(|(i, _)| i)
                .collect(),
            None => Vec::new(),
        };
        self.selected = keep
            .and_then(|id| self.rows.iter().position(|&i| self.all[i].id == id))
            .unwrap_or(0);
    }

    fn move_by(&mut self, delta: isize) {
        let last = self.rows.len().saturating_sub(1) as isize;
        self.selected = (self.selected as isize + delta).clamp(0, last.max(0)) as usize;
    }

    fn start_restore(&mut self, fx: &mut Effects) {
        let Target::Backup(id) = &self.target else {
            fx.log(
                Severity::Warn,
                "this is the primary: open a backup to restore nodes from it",
            );
            return;
        };
        let nodes = if self.marked.is_empty() {
            self.selected_node()
                .map(|n| vec![n.id.clone()])
                .unwrap_or_default()
        } else {
            self.marked.clone()
        };
        if nodes.is_empty() {
            return;
        }
        self.restore = Some(NodeRestoreView::open(id.clone(), nodes, fx));
    }
}

impl PopupView for NodesPopup {
    fn context(&self) -> Context {
        if self.restore.is_some() {
            Context::NodeRestore
        } else if self.history.is_some() {
            Context::History
        } else if self.search_input.is_some() {
            Context::NodeSearch
        } else {
            Context::Nodes
        }
    }

    fn update(&mut self, action: Action, _env: &Env, fx: &mut Effects) {
        if let Some(view) = &mut self.restore {
            if view.update(&action, fx) {
                self.restore = None;
            }
            return;
        }
        if let Some(view) = &mut self.history {
            if view.update(&action) {
                self.history = None;
            }
            return;
        }
        if let Some(input) = &mut self.search_input {
            match action {
                Action::Submit => self.search_input = None,
                Action::Close => {
                    self.search_input = None;
                    self.search.clear();
                    self.refilter();
                }
                Action::Input(key) => {
                    input.input(key);
                    self.search = input.lines().join("");
                    self.refilter();
                }
                _ => {}
            }
            return;
        }
        match action {
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => self.move_by(-(PAGE as isize)),
            Action::PageDown => self.move_by(PAGE as isize),
            Action::Top => self.selected = 0,
            Action::Bottom => self.selected = self.rows.len().saturating_sub(1),
            Action::OpenFilter => {
                let mut input = TextArea::new(vec![self.search.clone()]);
                input.move_cursor(ratatui_textarea::CursorMove::End);
                input.set_placeholder_text("part of an id or of the data");
                self.search_input = Some(input);
            }
            Action::CycleType => {
                self.kind = match &self.kind {
                    None => self.types.first().cloned(),
                    Some(k) => {
                        let i = self.types.iter().position(|t| t == k);
                        i.and_then(|i| self.types.get(i + 1)).cloned()
                    }
                };
                self.refilter();
            }
            Action::ToggleMark => {
                if let Some(id) = self.selected_node().map(|n| n.id.clone()) {
                    match self.marked.iter().position(|m| *m == id) {
                        Some(i) => {
                            self.marked.remove(i);
                        }
                        None => self.marked.push(id),
                    }
                    self.move_by(1);
                }
            }
            Action::NodeHistory => {
                if let Some(id) = self.selected_node().map(|n| n.id.clone()) {
                    self.history = Some(HistoryView::open(id, fx));
                }
            }
            Action::Restore => self.start_restore(fx),
            Action::Close | Action::No => fx.close = true,
            _ => {}
        }
    }

    fn on_event(&mut self, event: &Event, _env: &Env, fx: &mut Effects) {
        if let Some(view) = &mut self.history {
            view.on_event(event);
        }
        if let Some(view) = &mut self.restore {
            view.on_event(event, fx);
        }
        if let Event::NodesOpened { target, result } = event
            && *target == self.target
            && self.data.is_none()
        {
            self.data = Some(result.clone());
            if let Ok(g) = result {
                let mut all = g.graph.node_summaries(&NodeFilter::default());
                if let Some(only) = &self.only {
                    all.retain(|n| only.contains(&n.id));
                }
                self.types = g.graph.node_types().into_iter().map(|(k, _)| k).collect();
                self.all = all;
            }
            self.refilter();
        }
    }

    fn draw(&self, app: &App, area: Rect, buf: &mut Buffer) {
        let t = app.theme;
        let rect = area;
        Clear.render(rect, buf);
        let mut title = format!(" nodes of {} ", self.target);
        if let Some(c) = &self.compare {
            title = format!(" nodes changed from {c} to {} ", self.target);
        }
        let block = Block::bordered()
            .border_style(t.popup_border())
            .title(Span::styled(title, t.bold()));
        let inner = block.inner(rect);
        block.render(rect, buf);
        let [status, body] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(inner);
        let graphs = match &self.data {
            None => {
                Paragraph::new(Line::styled(format!("reading {}…", self.target), t.dim()))
                    .render(body, buf);
                return;
            }
            Some(Err(e)) => {
                Paragraph::new(vec![
                    Line::styled("cannot show the nodes:", t.bad()),
                    Line::from(e.to_string()),
                ])
                .wrap(Wrap { trim: false })
                .render(body, buf);
                return;
            }
            Some(Ok(g)) => g,
        };
        let file = Some(graphs.file.status);
        let mut spans = vec![
            Span::styled(
                format!("{} {} ", status_symbol(file), graphs.file.word()),
                t.status(file),
            ),
            Span::raw(format!(
                "· {} of {} nodes",
                self.rows.len(),
                graphs.graph.node_count()
            )),
            Span::styled("  type ", t.dim()),
            Span::raw(self.kind.clone().unwrap_or_else(|| "all".into())),
            Span::styled("  search ", t.dim()),
        ];
        match &self.search_input {
            Some(_) => spans.push(Span::styled(format!("{}▏", self.search), t.focused())),
            None if self.search.is_empty() => spans.push(Span::styled("–", t.dim())),
            None => spans.push(Span::raw(self.search.clone())),
        }
        if !self.marked.is_empty() {
            spans.push(Span::styled(
                format!("  {} marked", self.marked.len()),
                t.warn(),
            ));
        }
        if graphs.file.status != Status::Valid {
            spans.push(Span::styled(
                format!("  ({})", graphs.file.summary()),
                t.warn(),
            ));
        }
        Paragraph::new(Line::from(spans)).render(status, buf);

        // A narrow window gives the table a little more of the width.
        let table_share = if body.width < 100 { 60 } else { 55 };
        let [left, right] = Layout::horizontal([
            Constraint::Percentage(table_share),
            Constraint::Percentage(100 - table_share),
        ])
        .areas(body);
        let height = usize::from(left.height.saturating_sub(1)).max(1);
        let offset = (self.selected + 1).saturating_sub(height);
        // MODIFIED as date and time, as a date alone, or not at all: whatever
        // fits beside an ID column of at least 12, never a date cut mid-way.
        let fixed = 2 + 10 + 6 + 4;
        let modified_width = [19, 10, 0]
            .into_iter()
            .find(|w| usize::from(left.width) >= fixed + 12 + w)
            .unwrap_or(0);
        // What the ID column gets of the width (the others are fixed, with a
        // space between columns): a longer id ends in "…", never cut mute.
        let id_width = usize::from(left.width)
            .saturating_sub(fixed + modified_width)
            .max(12);
        let rows: Vec<Row> = self
            .rows
            .iter()
            .enumerate()
            .skip(offset)
            .take(height)
            .filter_map(|(pos, &i)| self.all.get(i).map(|n| (pos, n)))
            .map(|(pos, n)| {
                let mark = if self.marked.contains(&n.id) {
                    "●"
                } else {
                    " "
                };
                let cursor = if pos == self.selected { "▶" } else { " " };
                let style = if pos == self.selected {
                    t.selected()
                } else {
                    Style::new()
                };
                Row::new(vec![
                    Cell::from(format!("{cursor}{mark}")),
                    Cell::from(ellipsize(n.kind.as_deref().unwrap_or("-"), 10)),
                    Cell::from(ellipsize(&n.id, id_width)),
                    Cell::from(n.degree.to_string()),
                    Cell::from(
                        n.modified
                            .as_deref()
                            .map(|m| m.get(..modified_width).unwrap_or(m).replace('T', " "))
                            .unwrap_or_default(),
                    ),
                ])
                .style(style)
            })
            .collect();
        Table::new(
            rows,
            [
                Constraint::Length(2),
                Constraint::Length(10),
                Constraint::Min(12),
                Constraint::Length(6),
                Constraint::Length(modified_width as u16),
            ],
        )
        .header(
            Row::new(vec![
                "",
                "TYPE",
                "ID",
                "DEGREE",
                if modified_width > 0 { "MODIFIED" } else { "" },
            ])
            .style(t.dim()),
        )
        .render(left, buf);

        let lines = match self.selected_node() {
            Some(n) => detail_lines(t, graphs, &n.id, self.compare.as_ref()),
            None => vec![Line::styled("no node matches", t.dim())],
        };
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().border_style(t.dim()))
            .render(right, buf);

        if let Some(view) = &self.history {
            view.draw(t, area, buf);
        }
        if let Some(view) = &self.restore {
            view.draw(t, area, buf);
        }
    }
}

/// The detail pane of one node: fields, data by key, edges both ways, and what changed
/// from the compared graph.
pub fn detail_lines(
    t: Theme,
    graphs: &NodeGraphs,
    id: &str,
    compare: Option<&Target>,
) -> Vec<Line<'static>> {
    let Some(d) = graphs.graph.node_detail(id) else {
        return vec![Line::styled(format!("{id} is not in this graph"), t.bad())];
    };
    let field = |name: &str, value: String| {
        Line::from(vec![
            Span::styled(format!("{name:<9}"), t.dim()),
            Span::raw(value),
        ])
    };
    let mut lines = vec![
        Line::styled(d.id.clone(), t.bold()),
        field("type", d.kind.clone().unwrap_or_else(|| "-".into())),
        field("modified", d.modified.clone().unwrap_or_else(|| "-".into())),
        field("created", d.created.clone().unwrap_or_else(|| "-".into())),
    ];
    if let (Some(old), Some(target)) = (&graphs.compare, compare) {
        let now = graphs.graph.node(id).map(|n| n.json_text());
        match (old.node(id).map(|n| n.json_text()), now) {
            (None, _) => lines.push(Line::styled(format!("added since {target}"), t.good())),
            (Some(a), Some(b)) => {
                lines.push(Line::styled(format!("changed since {target}:"), t.warn()));
                if let Ok(c) = node_changes(&a, &b) {
                    for f in c.data.iter() {
                        lines.push(Line::from(format!(" data {}", field_line(f))));
                    }
                    for f in c.fields.iter() {
                        lines.push(Line::styled(format!(" {}", field_line(f)), t.dim()));
                    }
                }
            }
            _ => {}
        }
    }
    lines.push(Line::styled("data", t.dim()));
    let data = d.data_json.clone().unwrap_or_default();
    match pyjson::object_entries(&data) {
        Ok(Some(entries)) => {
            for (key, range) in entries {
                lines.push(Line::from(format!(
                    "  {key}: {}",
                    clip(data.get(range).unwrap_or(""))
                )));
            }
        }
        _ => lines.push(Line::from(format!("  {}", clip(&data)))),
    }
    lines.push(Line::styled(
        format!("edges out ({})", d.edges_out.len()),
        t.dim(),
    ));
    for e in &d.edges_out {
        lines.push(Line::from(format!(
            "  → {}  {}  {}",
            e.to,
            e.relationship.as_deref().unwrap_or("-"),
            e.strength_json.as_deref().unwrap_or("-")
        )));
    }
    lines.push(Line::styled(
        format!("edges in ({})", d.edges_in.len()),
        t.dim(),
    ));
    for e in &d.edges_in {
        lines.push(Line::from(format!(
            "  ← {}  {}  {}",
            e.from,
            e.relationship.as_deref().unwrap_or("-"),
            e.strength_json.as_deref().unwrap_or("-")
        )));
    }
    lines
}
