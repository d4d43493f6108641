//! The restore popup: the plan (what the primary would become, what is
//! kept), then the confirmation, then what was done.

use std::path::Path;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget, Wrap};

use super::diff::diff_lines;
use super::{Effects, Env, PopupView};
use crate::present::short_checksum;
use crate::store::names::BackupId;
use crate::store::restore::RestoreReport;
use crate::tui::action::Action;
use crate::tui::app::{App, Severity, evidence_text};
use crate::tui::error::{ErrorKind, UiError};
use crate::tui::keymap::{Binding, Context, KeyCode, bind, ch, code};
use crate::tui::render::{buttons, centered};
use crate::tui::theme::status_symbol;
use crate::tui::worker::{Command, Event};

/// The restore popup's progress.
#[derive(Debug, Clone)]
pub enum RestoreState {
    Planning,
    Ready(Box<RestoreReport>),
    Refused(UiError),
    Running,
    Done(Box<RestoreReport>),
    Failed(UiError),
}

/// The restore popup: the plan, then the confirmation.
#[derive(Debug, Clone)]
pub struct RestorePopup {
    pub id: BackupId,
    pub allow_unverified: bool,
    pub state: RestoreState,
    /// The "Restore" button has focus; the default is "No".
    pub focus_restore: bool,
    pub scroll: u16,
}

#[rustfmt::skip]
pub static KEYS: &[Binding] = &[
    bind!(Restore, [ch('y')], Yes, "restore now", "restore"),
    bind!(Restore, [ch('n'), code(KeyCode::Esc), ch('q')], No, "do not restore; close", "cancel"),
    bind!(Restore, [code(KeyCode::Tab), code(KeyCode::Left), code(KeyCode::Right)], FocusNext, "switch button"),
    bind!(Restore, [code(KeyCode::Enter)], Submit, "press the focused button (the default is No)", "press"),
    bind!(Restore, [ch('a')], AllowUnverified, "plan again accepting a backup without a meta"),
    bind!(Restore, [code(KeyCode::Up), ch('k')], Up, "scroll up"),
    bind!(Restore, [code(KeyCode::Down), ch('j')], Down, "scroll down"),
];

impl RestorePopup {
    /// The popup, planning: it asks the worker for a dry run in `fx`.
    pub fn open(id: BackupId, allow_unverified: bool, fx: &mut Effects) -> RestorePopup {
        fx.send(Command::RestorePlan {
            id: id.clone(),
            allow_unverified,
        });
        RestorePopup {
            id,
            allow_unverified,
            state: RestoreState::Planning,
            focus_restore: false,
            scroll: 0,
        }
    }

    fn start(&mut self, fx: &mut Effects) {
        self.state = RestoreState::Running;
        fx.log(
            Severity::Warn,
            format!("restoring {} as the primary…", self.id),
        );
        fx.send(Command::Restore {
            id: self.id.clone(),
            allow_unverified: self.allow_unverified,
        });
    }

    /// The refusal can be lifted by accepting a backup without a meta.
    fn refused_for_no_meta(&self) -> bool {
        matches!(&self.state, RestoreState::Refused(e) if e.kind == ErrorKind::Unverified)
            && !self.allow_unverified
    }
}

impl PopupView for RestorePopup {
    fn context(&self) -> Context {
        Context::Restore
    }

    fn update(&mut self, action: Action, _env: &Env, fx: &mut Effects) {
        let restorable = matches!(self.state, RestoreState::Ready(_));
        let finished = matches!(
            self.state,
            RestoreState::Done(_) | RestoreState::Failed(_) | RestoreState::Refused(_)
        );
        let running = matches!(self.state, RestoreState::Running);
        match action {
            Action::Up => self.scroll = self.scroll.saturating_sub(1),
            Action::Down => self.scroll = self.scroll.saturating_add(1),
            Action::FocusNext | Action::FocusPrev => {
                self.focus_restore = restorable && !self.focus_restore
            }
            Action::AllowUnverified if self.refused_for_no_meta() => {
                *self = RestorePopup::open(self.id.clone(), true, fx);
            }
            Action::Yes if restorable => self.start(fx),
            Action::Submit => {
                if restorable && self.focus_restore {
                    self.start(fx);
                } else if !running {
                    fx.close = true;
                }
            }
            Action::No | Action::Close if !running => {
                if !finished {
                    fx.log(Severity::Info, "restore cancelled: nothing was changed");
                }
                fx.close = true;
            }
            _ => {}
        }
    }

    fn on_event(&mut self, event: &Event, _env: &Env, _fx: &mut Effects) {
        match event {
            Event::RestorePlanned {
                id,
                allow_unverified,
                result,
            } if *id == self.id && *allow_unverified == self.allow_unverified => {
                self.state = match result {
                    Ok(report) => RestoreState::Ready(report.clone()),
                    Err(e) => RestoreState::Refused(e.clone()),
                };
            }
            Event::Restored(result) => {
                self.state = match result {
                    Ok(r) => RestoreState::Done(r.clone()),
                    Err(e) => RestoreState::Failed(e.clone()),
                };
                self.scroll = 0;
            }
            _ => {}
        }
    }

    fn draw(&self, app: &App, area: Rect, buf: &mut Buffer) {
        let p = self;
        let t = app.theme;
        let rect = centered(area, 92, 26);
        Clear.render(rect, buf);
        let title = match p.state {
            RestoreState::Done(_) => format!(" restored {} ", p.id),
            _ => format!(" restore {} as the primary? ", p.id),
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
        let (lines, bar_line) = match &p.state {
            RestoreState::Planning => (
                vec![Line::styled(
                    format!("verifying {} and comparing it with the primary…", p.id),
                    t.dim(),
                )],
                Line::styled("Esc cancels", t.dim()).centered(),
            ),
            RestoreState::Ready(report) => {
                let mut lines = Vec::new();
                if p.allow_unverified {
                    lines.push(Line::styled(
                        "! this backup has no meta: nothing proves its bytes are whole (it parses and is consistent)",
                        t.warn(),
                    ));
                }
                lines.extend(restore_plan_lines(app, report, &app.store_path));
                (lines, buttons(t, "No", "Restore", p.focus_restore))
            }
            RestoreState::Refused(e) => {
                let head = match e.kind {
                    ErrorKind::Locked => "Not now: another process is writing to the store.",
                    ErrorKind::Unverified => {
                        "Refused: nothing proves this backup's bytes are whole (it has no meta)."
                    }
                    _ => "Refused: this backup cannot be restored.",
                };
                let mut lines = vec![
                    Line::styled(head, t.bad()),
                    Line::from(""),
                    Line::from(e.message.clone()),
                    Line::from(""),
                    Line::styled("The primary is unchanged.", t.good()),
                ];
                if p.refused_for_no_meta() {
                    lines.push(Line::from(""));
                    lines.push(Line::from(vec![
                        Span::styled("a", t.key()),
                        Span::raw(
                            " plans it again accepting a backup without a meta (check it first)",
                        ),
                    ]));
                }
                (lines, Line::styled("[ Close ]", t.focused()).centered())
            }
            RestoreState::Running => (
                vec![Line::styled(format!("restoring {}…", p.id), t.warn())],
                Line::from(""),
            ),
            RestoreState::Done(report) => (
                restore_plan_lines(app, report, &app.store_path),
                Line::styled("[ Close ]", t.focused()).centered(),
            ),
            RestoreState::Failed(e) => (
                vec![
                    Line::styled("The restore failed.", t.bad()),
                    Line::from(""),
                    Line::from(e.message.clone()),
                ],
                Line::styled("[ Close ]", t.focused()).centered(),
            ),
        };
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((p.scroll, 0))
            .render(body, buf);
        Paragraph::new(bar_line).render(bar, buf);
    }
}

/// What a restore would do (or did), for the popup and the wizard.
pub fn restore_plan_lines(app: &App, r: &RestoreReport, store_root: &Path) -> Vec<Line<'static>> {
    let t = app.theme;
    let backup = Some(r.backup.status);
    let previous = Some(r.previous_primary.status);
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!("{:<18}", "backup"), t.dim()),
            Span::styled(format!("{} ", r.backup_id), t.bold()),
            Span::styled(
                format!("{} {}", status_symbol(backup), r.backup.summary()),
                t.status(backup),
            ),
        ]),
        Line::from(vec![
            Span::styled(format!("{:<18}", "primary becomes"), t.dim()),
            Span::raw(format!(
                "{} nodes, {} edges, sha256 {}",
                r.node_count,
                r.edge_count,
                short_checksum(&r.checksum)
            )),
        ]),
        Line::from(vec![
            Span::styled(format!("{:<18}", "primary now"), t.dim()),
            Span::styled(
                format!(
                    "{} {}",
                    status_symbol(previous),
                    r.previous_primary.summary()
                ),
                t.status(previous),
            ),
        ]),
        Line::from(""),
    ];
    match &r.diff {
        Some(d) => {
            lines.push(Line::styled(
                "changes from the primary now to the backup:",
                t.bold(),
            ));
            lines.extend(diff_lines(t, d));
        }
        None => lines.push(Line::styled(
            "the primary now cannot be parsed, so there is no diff to show",
            t.warn(),
        )),
    }
    lines.push(Line::from(""));
    if r.dry_run {
        let evidence = store_root.join(crate::store::STATE_DIR).join("evidence");
        lines.push(Line::from(vec![
            Span::styled(
                "the current graph.json and its meta will be kept in ",
                t.dim(),
            ),
            Span::raw(format!("{}/", evidence.display())),
        ]));
        lines.push(Line::styled(
            "backups are not touched; nothing is written until you confirm",
            t.dim(),
        ));
    } else {
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
    }
    lines
}
