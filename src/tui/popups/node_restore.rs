//! Restoring the nodes marked in the node browser into the current graph: the plan
//! (nodes added back, overwritten, kept; edges added and skipped), the choice for nodes
//! changed since the backup, the confirmation, and what was done with the new primary
//! verified again. Drawn over the node browser.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget, Wrap};

use super::Effects;
use crate::graph::merge::Prefer;
use crate::present::nodes::plan_lines;
use crate::store::names::BackupId;
use crate::store::partial::{PartialRestoreOptions, PartialRestoreReport};
use crate::tui::action::Action;
use crate::tui::app::{Severity, evidence_text};
use crate::tui::keymap::{Binding, KeyCode, bind, ch, code};
use crate::tui::render::{buttons, centered};
use crate::tui::theme::{Theme, status_symbol};
use crate::tui::worker::{Command, Event};

#[derive(Debug, Clone)]
pub enum NodeRestoreState {
    Planning,
    Ready(Box<PartialRestoreReport>),
    Refused(String),
    Running,
    Done(Box<PartialRestoreReport>),
    Failed(String),
}

/// The partial restore of the marked nodes.
#[derive(Debug, Clone)]
pub struct NodeRestoreView {
    pub id: BackupId,
    pub nodes: Vec<String>,
    pub with_edges: bool,
    pub prefer: Option<Prefer>,
    pub state: NodeRestoreState,
    /// The "Restore" button has focus; the default is "No".
    pub focus_restore: bool,
    pub scroll: u16,
}

#[rustfmt::skip]
pub static KEYS: &[Binding] = &[
    bind!(NodeRestore, [ch('y')], Yes, "restore these nodes now", "restore"),
    bind!(NodeRestore, [ch('n'), code(KeyCode::Esc), ch('q')], No, "do not restore; back to the nodes", "cancel"),
    bind!(NodeRestore, [ch('b')], PreferBackup, "nodes changed since: take the backup's version", "backup wins"),
    bind!(NodeRestore, [ch('c')], PreferCurrent, "nodes changed since: keep the current version", "keep current"),
    bind!(NodeRestore, [ch('e')], ToggleEdges, "bring the nodes' edges too, or not", "edges"),
    bind!(NodeRestore, [code(KeyCode::Tab), code(KeyCode::Left), code(KeyCode::Right)], FocusNext, "switch button"),
    bind!(NodeRestore, [code(KeyCode::Enter)], Submit, "press the focused button (the default is No)", "press"),
    bind!(NodeRestore, [code(KeyCode::Up), ch('k')], Up, "scroll up"),
    bind!(NodeRestore, [code(KeyCode::Down), ch('j')], Down, "scroll down"),
];

impl NodeRestoreView {
    /// The view, planning (a dry run asked of the worker in `fx`).
    pub fn open(id: BackupId, nodes: Vec<String>, fx: &mut Effects) -> NodeRestoreView {
        let mut view = NodeRestoreView {
            id,
            nodes,
            with_edges: true,
            prefer: None,
            state: NodeRestoreState::Planning,
            focus_restore: false,
            scroll: 0,
        };
        view.plan(fx);
        view
    }

    fn options(&self, dry_run: bool) -> PartialRestoreOptions {
        PartialRestoreOptions {
            nodes: self.nodes.clone(),
            with_edges: self.with_edges,
            prefer: self.prefer,
            dry_run,
            allow_unverified: false,
        }
    }

    fn plan(&mut self, fx: &mut Effects) {
        self.state = NodeRestoreState::Planning;
        self.focus_restore = false;
        fx.send(Command::RestoreNodes {
            id: self.id.clone(),
            options: self.options(true),
        });
    }

    /// A plan that can be carried out: no conflict left open, something to change.
    fn restorable(&self) -> bool {
        matches!(&self.state, NodeRestoreState::Ready(r) if r.plan.conflicts.is_empty() && !r.plan.is_noop())
    }

    fn start(&mut self, fx: &mut Effects) {
        self.state = NodeRestoreState::Running;
        fx.log(
            Severity::Warn,
            format!(
                "restoring {} nodes of {} into the current graph…",
                self.nodes.len(),
                self.id
            ),
        );
        fx.send(Command::RestoreNodes {
            id: self.id.clone(),
            options: self.options(false),
        });
    }

    /// Handles a key; true when the view should close.
    pub fn update(&mut self, action: &Action, fx: &mut Effects) -> bool {
        let running = matches!(self.state, NodeRestoreState::Running);
        let done = matches!(
            self.state,
            NodeRestoreState::Done(_) | NodeRestoreState::Failed(_)
        );
        match action {
            Action::Up => self.scroll = self.scroll.saturating_sub(1),
            Action::Down => self.scroll = self.scroll.saturating_add(1),
            Action::FocusNext | Action::FocusPrev => {
                self.focus_restore = self.restorable() && !self.focus_restore
            }
            Action::PreferBackup if !running && !done => {
                self.prefer = Some(Prefer::Backup);
                self.plan(fx);
            }
            Action::PreferCurrent if !running && !done => {
                self.prefer = Some(Prefer::Current);
                self.plan(fx);
            }
            Action::ToggleEdges if !running && !done => {
                self.with_edges = !self.with_edges;
                self.plan(fx);
            }
            Action::Yes if self.restorable() => self.start(fx),
            Action::Submit => {
                if self.restorable() && self.focus_restore {
                    self.start(fx);
                } else if !running {
                    return true;
                }
            }
            Action::No | Action::Close if !running => {
                if !done {
                    fx.log(
                        Severity::Info,
                        "restore of nodes cancelled: nothing was changed",
                    );
                }
                return true;
            }
            _ => {}
        }
        false
    }

    pub fn on_event(&mut self, event: &Event, fx: &mut Effects) {
        let Event::NodesRestored { dry_run, result } = event else {
            return;
        };
        match (dry_run, &self.state) {
            (true, NodeRestoreState::Planning) => {
                self.state = match result {
                    Ok(r) => NodeRestoreState::Ready(r.clone()),
                    Err(e) => NodeRestoreState::Refused(e.to_string()),
                };
            }
            (false, NodeRestoreState::Running) => {
                self.scroll = 0;
                self.state = match result {
                    Ok(r) => {
                        let saved = r
                            .save
                            .as_ref()
                            .map_or(String::new(), |s| format!(" as backup {}", s.backup_id));
                        fx.log(
                            Severity::Good,
                            format!(
                                "restored {} nodes of {} into the current graph{saved}",
                                self.nodes.len(),
                                self.id
                            ),
                        );
                        NodeRestoreState::Done(r.clone())
                    }
                    Err(e) => {
                        fx.log(Severity::Error, format!("restore of nodes failed: {e}"));
                        NodeRestoreState::Failed(e.to_string())
                    }
                };
            }
            _ => {}
        }
    }

    pub fn draw(&self, t: Theme, area: Rect, buf: &mut Buffer) {
        let rect = centered(area, 96, 28);
        Clear.render(rect, buf);
        let title = match self.state {
            NodeRestoreState::Done(_) => format!(" restored nodes of {} ", self.id),
            _ => format!(
                " restore these nodes of {} into the current graph? ",
                self.id
            ),
        };
        let block = Block::bordered()
            .border_style(t.popup_border())
            .title(Span::styled(title, t.bold()))
            .title_bottom(Line::styled(" ↑↓ scroll ", t.dim()).right_aligned());
        let inner = block.inner(rect);
        block.render(rect, buf);
        let [body, _, bar] = Layout::vertical([
            Constraint::Min(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(inner);
        let settings = Line::from(vec![
            Span::styled("nodes ", t.dim()),
            Span::raw(crate::present::shorten_list(&self.nodes, 8)),
            Span::styled("  edges ", t.dim()),
            Span::raw(if self.with_edges { "yes" } else { "no" }),
            Span::styled("  changed since: ", t.dim()),
            Span::raw(match self.prefer {
                None => "not chosen",
                Some(Prefer::Backup) => "backup wins",
                Some(Prefer::Current) => "keep current",
            }),
        ]);
        let close = Line::styled("[ Close ]", t.focused()).centered();
        let (mut lines, bar_line) = match &self.state {
            NodeRestoreState::Planning => (
                vec![Line::styled(
                    "verifying the backup and planning the merge…",
                    t.dim(),
                )],
                Line::styled("Esc cancels", t.dim()).centered(),
            ),
            NodeRestoreState::Ready(r) => {
                let mut lines: Vec<Line> = plan_lines(&r.plan)
                    .into_iter()
                    .map(|l| {
                        if l.starts_with("CONFLICT") {
                            Line::styled(l, t.bad())
                        } else {
                            Line::from(l)
                        }
                    })
                    .collect();
                lines.push(Line::from(""));
                lines.push(Line::styled(
                    format!(
                        "the current graph becomes {} nodes, {} edges, saved with a backup of its own;",
                        r.node_count, r.edge_count
                    ),
                    t.dim(),
                ));
                lines.push(Line::styled(
                    "the current graph.json is kept in .graphvault/evidence/; nothing is written until you confirm",
                    t.dim(),
                ));
                if !r.plan.conflicts.is_empty() {
                    lines.push(Line::from(""));
                    lines.push(Line::from(vec![
                        Span::styled("b", t.key()),
                        Span::raw(" takes the backup's version of the nodes changed since, "),
                        Span::styled("c", t.key()),
                        Span::raw(" keeps their current version"),
                    ]));
                }
                let bar = if self.restorable() {
                    buttons(t, "No", "Restore", self.focus_restore)
                } else {
                    close.clone()
                };
                (lines, bar)
            }
            NodeRestoreState::Refused(e) => (
                vec![
                    Line::styled("Refused:", t.bad()),
                    Line::from(e.clone()),
                    Line::from(""),
                    Line::styled("The primary is unchanged.", t.good()),
                ],
                close.clone(),
            ),
            NodeRestoreState::Running => (
                vec![Line::styled("restoring the nodes…", t.warn())],
                Line::from(""),
            ),
            NodeRestoreState::Done(r) => {
                let mut lines: Vec<Line> =
                    plan_lines(&r.plan).into_iter().map(Line::from).collect();
                lines.push(Line::from(""));
                if let Some(save) = &r.save {
                    lines.push(Line::from(format!(
                        "saved as the new primary with backup {}",
                        save.backup_id
                    )));
                    if let Some(w) = &save.named_behind {
                        lines.push(Line::styled(format!("warning: {w}"), t.warn()));
                    }
                }
                lines.push(Line::from(vec![
                    Span::styled("the previous primary was kept in ", t.dim()),
                    Span::raw(evidence_text(&r.evidence)),
                ]));
                if let Some(after) = &r.after {
                    let s = Some(after.status);
                    lines.push(Line::styled(
                        format!(
                            "re-verified the new primary: {} {}",
                            status_symbol(s),
                            after.summary()
                        ),
                        t.status(s),
                    ));
                }
                (lines, close.clone())
            }
            NodeRestoreState::Failed(e) => (
                vec![
                    Line::styled("The restore of nodes failed.", t.bad()),
                    Line::from(e.clone()),
                ],
                close.clone(),
            ),
        };
        lines.insert(0, settings);
        lines.insert(1, Line::from(""));
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((self.scroll, 0))
            .render(body, buf);
        Paragraph::new(bar_line).render(bar, buf);
    }
}
