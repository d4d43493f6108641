//! The restore popup: the plan (what would change, what is kept), then the
//! confirmation, then what was done. One flow for the three things that
//! can be put back: a backup as the primary, a trashed backup into
//! `backups/`, and kept evidence as the primary (through the store's
//! normal restore, so the primary it replaces is kept in turn).

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget, Wrap};

use super::diff::diff_lines;
use super::evidence::EvidencePopup;
use super::trash::TrashPopup;
use super::{Effects, Env, Popup, PopupView, fit_checksums};
use crate::present::{age, count_of, human_size, local_time, short_checksum};
use crate::store::evidence::{EvidenceId, EvidenceRestoreReport};
use crate::store::names::BackupId;
use crate::store::restore::RestoreReport;
use crate::store::trash::{TrashId, TrashRestorePlan, TrashRestoreReport};
use crate::tui::action::Action;
use crate::tui::app::{App, Severity, evidence_text};
use crate::tui::error::{ErrorKind, UiError};
use crate::tui::keymap::{Binding, Context, KeyCode, bind, ch, code};
use crate::tui::render::{button_at, buttons, centered};
use crate::tui::theme::{Theme, status_symbol};
use crate::tui::worker::{Command, Event};

/// What is put back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreSource {
    /// A backup, as the primary.
    Backup(BackupId),
    /// A trashed backup, back into `backups/`.
    Trash(TrashId),
    /// A kept primary, as the primary.
    Evidence(EvidenceId),
}

impl std::fmt::Display for RestoreSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RestoreSource::Backup(id) => write!(f, "{id}"),
            RestoreSource::Trash(id) => write!(f, "{id}"),
            RestoreSource::Evidence(id) => write!(f, "evidence {id}"),
        }
    }
}

/// A dry run's report, by source.
#[derive(Debug, Clone)]
pub enum RestorePlan {
    Backup(Box<RestoreReport>),
    Trash(Box<TrashRestorePlan>),
    Evidence(Box<EvidenceRestoreReport>),
}

/// What was done, by source.
#[derive(Debug, Clone)]
pub enum RestoreDone {
    Backup(Box<RestoreReport>),
    Trash(Box<TrashRestoreReport>),
    Evidence(Box<EvidenceRestoreReport>),
}

/// The restore popup's progress.
#[derive(Debug, Clone)]
pub enum RestoreState {
    Planning,
    Ready(RestorePlan),
    Refused(UiError),
    Running,
    Done(RestoreDone),
    Failed(UiError),
}

/// The restore popup: the plan, then the confirmation.
#[derive(Debug, Clone)]
pub struct RestorePopup {
    pub source: RestoreSource,
    pub allow_unverified: bool,
    pub state: RestoreState,
    /// The "Restore" button has focus; the default is "No".
    pub focus_restore: bool,
    pub scroll: u16,
    /// Where the buttons were last drawn, for a click.
    pub bar: std::cell::Cell<Rect>,
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
    bind!(RestoreOutcome, [code(KeyCode::Enter), code(KeyCode::Esc), ch('q')], Close, "close", "close"),
    bind!(RestoreOutcome, [ch('a')], AllowUnverified, "after a refusal for a missing meta: plan again accepting it"),
    bind!(RestoreOutcome, [code(KeyCode::Up), ch('k')], Up, "scroll up"),
    bind!(RestoreOutcome, [code(KeyCode::Down), ch('j')], Down, "scroll down"),
];

impl RestorePopup {
    /// The popup for a backup, planning: it asks the worker for a dry run.
    pub fn open(id: BackupId, allow_unverified: bool, fx: &mut Effects) -> RestorePopup {
        RestorePopup::open_source(RestoreSource::Backup(id), allow_unverified, fx)
    }

    /// The popup for any source, planning.
    pub fn open_source(
        source: RestoreSource,
        allow_unverified: bool,
        fx: &mut Effects,
    ) -> RestorePopup {
        fx.send(match &source {
            RestoreSource::Backup(id) => Command::RestorePlan {
                id: id.clone(),
                allow_unverified,
            },
            RestoreSource::Trash(id) => Command::TrashRestorePlan(id.clone()),
            RestoreSource::Evidence(id) => Command::EvidenceRestorePlan {
                id: id.clone(),
                allow_unverified,
            },
        });
        RestorePopup {
            source,
            allow_unverified,
            state: RestoreState::Planning,
            focus_restore: false,
            scroll: 0,
            bar: std::cell::Cell::new(Rect::ZERO),
        }
    }

    fn start(&mut self, fx: &mut Effects) {
        self.state = RestoreState::Running;
        let allow_unverified = self.allow_unverified;
        let (text, command) = match &self.source {
            RestoreSource::Backup(id) => (
                format!("restoring {id} as the primary…"),
                Command::Restore {
                    id: id.clone(),
                    allow_unverified,
                },
            ),
            RestoreSource::Trash(id) => (
                format!("bringing {id} back from the trash…"),
                Command::TrashRestore(id.clone()),
            ),
            RestoreSource::Evidence(id) => (
                format!("restoring evidence {id} as the primary…"),
                Command::EvidenceRestore {
                    id: id.clone(),
                    allow_unverified,
                },
            ),
        };
        fx.log(Severity::Warn, text);
        fx.send(command);
    }

    /// The refusal can be lifted by accepting a file without a meta.
    fn refused_for_no_meta(&self) -> bool {
        matches!(&self.state, RestoreState::Refused(e) if e.kind == ErrorKind::Unverified)
            && !self.allow_unverified
            && !matches!(self.source, RestoreSource::Trash(_))
    }

    /// Closes, back to the list it was opened from.
    fn close(&self, fx: &mut Effects) {
        fx.close = true;
        fx.open = match self.source {
            RestoreSource::Backup(_) => None,
            RestoreSource::Trash(_) => Some(Popup::Trash(TrashPopup::open(fx))),
            RestoreSource::Evidence(_) => Some(Popup::Evidence(EvidencePopup::open(fx))),
        };
    }

    /// The dry run arrived for this popup.
    fn planned(&mut self, plan: Result<RestorePlan, &UiError>) {
        if matches!(self.state, RestoreState::Planning) {
            self.state = match plan {
                Ok(p) => RestoreState::Ready(p),
                Err(e) => RestoreState::Refused(e.clone()),
            };
        }
    }

    fn done(&mut self, result: Result<RestoreDone, &UiError>) {
        if matches!(self.state, RestoreState::Running) {
            self.state = match result {
                Ok(d) => RestoreState::Done(d),
                Err(e) => RestoreState::Failed(e.clone()),
            };
            self.scroll = 0;
        }
    }
}

impl PopupView for RestorePopup {
    fn context(&self) -> Context {
        match self.state {
            RestoreState::Done(_) | RestoreState::Failed(_) | RestoreState::Refused(_) => {
                Context::RestoreOutcome
            }
            _ => Context::Restore,
        }
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
                *self = RestorePopup::open_source(self.source.clone(), true, fx);
            }
            Action::Yes if restorable => self.start(fx),
            Action::Submit => {
                if restorable && self.focus_restore {
                    self.start(fx);
                } else if !running {
                    self.close(fx);
                }
            }
            Action::No | Action::Close if !running => {
                if !finished {
                    fx.log(Severity::Info, "restore cancelled: nothing was changed");
                }
                self.close(fx);
            }
            _ => {}
        }
    }

    fn on_event(&mut self, event: &Event, _env: &Env, _fx: &mut Effects) {
        let unverified = self.allow_unverified;
        match (event, &self.source) {
            (
                Event::RestorePlanned {
                    id,
                    allow_unverified,
                    result,
                },
                RestoreSource::Backup(mine),
            ) if id == mine && *allow_unverified == unverified => {
                self.planned(result.as_ref().map(|r| RestorePlan::Backup(r.clone())));
            }
            (Event::TrashRestorePlanned { id, result }, RestoreSource::Trash(mine))
                if id == mine =>
            {
                self.planned(result.as_ref().map(|r| RestorePlan::Trash(r.clone())));
            }
            (
                Event::EvidenceRestorePlanned {
                    id,
                    allow_unverified,
                    result,
                },
                RestoreSource::Evidence(mine),
            ) if id == mine && *allow_unverified == unverified => {
                self.planned(result.as_ref().map(|r| RestorePlan::Evidence(r.clone())));
            }
            (Event::Restored(result), RestoreSource::Backup(_)) => {
                self.done(result.as_ref().map(|r| RestoreDone::Backup(r.clone())));
            }
            (Event::TrashRestored(result), RestoreSource::Trash(_)) => {
                self.done(result.as_ref().map(|r| RestoreDone::Trash(r.clone())));
            }
            (Event::EvidenceRestored(result), RestoreSource::Evidence(_)) => {
                self.done(result.as_ref().map(|r| RestoreDone::Evidence(r.clone())));
            }
            _ => {}
        }
    }

    fn draw(&self, app: &App, area: Rect, buf: &mut Buffer) {
        let p = self;
        let t = app.theme;
        let rect = centered(area, 92, 26);
        Clear.render(rect, buf);
        let title = match (&p.state, &p.source) {
            (RestoreState::Done(_), RestoreSource::Trash(id)) => format!(" {id} is back "),
            (RestoreState::Done(_), source) => format!(" restored {source} "),
            (_, RestoreSource::Trash(id)) => format!(" bring {id} back from the trash? "),
            (_, source) => format!(" restore {source} as the primary? "),
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
                    match &p.source {
                        RestoreSource::Trash(id) => {
                            format!("checking {id} in the trash against its manifest…")
                        }
                        source => format!("verifying {source} and comparing it with the primary…"),
                    },
                    t.dim(),
                )],
                Line::styled("Esc cancels", t.dim()).centered(),
            ),
            RestoreState::Ready(plan) => {
                let mut lines = Vec::new();
                if p.allow_unverified {
                    lines.push(Line::styled(
                        "! this backup has no meta: nothing proves its bytes are whole (it parses and is consistent)",
                        t.warn(),
                    ));
                }
                lines.extend(match plan {
                    RestorePlan::Backup(report) => restore_plan_lines(app, report),
                    RestorePlan::Trash(plan) => trash_plan_lines(app, plan, body.width),
                    RestorePlan::Evidence(report) => evidence_plan_lines(app, report),
                });
                (lines, buttons(t, "No", "Restore", p.focus_restore))
            }
            RestoreState::Refused(e) => {
                let head = match (e.kind, &p.source) {
                    (ErrorKind::Locked, _) => "Not now: another process is writing to the store.",
                    (ErrorKind::Unverified, RestoreSource::Evidence(_)) => {
                        "Refused: nothing proves this kept primary's bytes are whole (it has no meta)."
                    }
                    (ErrorKind::Unverified, _) => {
                        "Refused: nothing proves this backup's bytes are whole (it has no meta)."
                    }
                    (_, RestoreSource::Trash(_)) => "Refused: this item cannot be brought back.",
                    (_, RestoreSource::Evidence(_)) => {
                        "Refused: this kept primary cannot be restored."
                    }
                    _ => "Refused: this backup cannot be restored.",
                };
                let unchanged = match p.source {
                    RestoreSource::Trash(_) => "The trash and backups/ are unchanged.",
                    _ => "The primary is unchanged.",
                };
                let mut lines = vec![
                    Line::styled(head, t.bad()),
                    Line::from(""),
                    Line::from(e.message.clone()),
                    Line::from(""),
                    Line::styled(unchanged, t.good()),
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
                vec![Line::styled(format!("restoring {}…", p.source), t.warn())],
                Line::from(""),
            ),
            RestoreState::Done(done) => (
                match done {
                    RestoreDone::Backup(report) => restore_plan_lines(app, report),
                    RestoreDone::Trash(report) => trash_done_lines(t, report),
                    RestoreDone::Evidence(report) => match &report.restore {
                        Some(r) => {
                            let mut lines = evidence_head_lines(t, report);
                            lines.extend(restore_plan_lines(app, r));
                            lines
                        }
                        None => evidence_plan_lines(app, report),
                    },
                },
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
        self.bar.set(bar);
    }

    fn click(&self, x: u16, y: u16) -> Option<Action> {
        let bar = self.bar.get();
        if y != bar.y || !bar.contains(ratatui::layout::Position { x, y }) {
            return None;
        }
        match &self.state {
            RestoreState::Ready(_) => match button_at(bar, "No", "Restore", x)? {
                true => Some(Action::Yes),
                false => Some(Action::No),
            },
            RestoreState::Planning | RestoreState::Running => None,
            // The one button, "[ Close ]", or anywhere on its row.
            _ => Some(Action::Close),
        }
    }
}

/// `name              value`, the name dimmed in the plan's column.
fn plan_field(t: Theme, name: &str, value: Vec<Span<'static>>) -> Line<'static> {
    let mut spans = vec![Span::styled(format!("{name:<18}"), t.dim())];
    spans.extend(value);
    Line::from(spans)
}

fn when(t: Option<chrono::DateTime<chrono::FixedOffset>>, now: chrono::NaiveDateTime) -> String {
    match t {
        Some(t) => {
            let local = t.with_timezone(&chrono::Local).naive_local();
            format!("{} ({})", local_time(local), age(local, now))
        }
        None => "unknown".to_string(),
    }
}

/// `name              value`, the value wrapped under itself at `width`.
fn plan_field_wrapped(
    t: Theme,
    name: &str,
    value: &str,
    style: ratatui::style::Style,
    width: u16,
) -> Vec<Line<'static>> {
    const INDENT: usize = 18;
    let room = usize::from(width).saturating_sub(INDENT).max(10);
    super::wrap_words(value, room)
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| {
            let head = if i == 0 { name } else { "" };
            Line::from(vec![
                Span::styled(format!("{head:<INDENT$}"), t.dim()),
                Span::styled(chunk, style),
            ])
        })
        .collect()
}

/// What bringing trashed backups back would do, at `width` columns.
pub fn trash_plan_lines(app: &App, plan: &TrashRestorePlan, width: u16) -> Vec<Line<'static>> {
    let t = app.theme;
    let mut lines = Vec::new();
    for item in &plan.items {
        let s = Some(item.status);
        let counts = match (item.node_count, item.edge_count) {
            (Some(n), Some(e)) => format!(" · {n} nodes, {e} edges"),
            _ => String::new(),
        };
        let mut field = |name: &str, value: String, style| {
            lines.extend(plan_field_wrapped(t, name, &value, style, width));
        };
        field("trash item", item.id.to_string(), t.bold());
        field(
            "in the trash",
            format!(
                "{} {}{counts} (its bytes match its manifest)",
                status_symbol(s),
                item.status.name()
            ),
            t.status(s),
        );
        field(
            "size",
            human_size(item.size),
            ratatui::style::Style::default(),
        );
        field(
            "trashed",
            format!("{} by {}", when(item.trashed_at, app.now), item.operation),
            ratatui::style::Style::default(),
        );
        if !item.reasons.is_empty() {
            field(
                "because",
                item.reasons.join("; "),
                ratatui::style::Style::default(),
            );
        }
        field(
            "would expire",
            when(item.expires_at, app.now),
            ratatui::style::Style::default(),
        );
        for (i, f) in item.files.iter().enumerate() {
            let name = f
                .file_name()
                .map(|n| format!("backups/{}", n.to_string_lossy()))
                .unwrap_or_default();
            field(
                if i == 0 { "goes back as" } else { "" },
                name,
                ratatui::style::Style::default(),
            );
        }
        lines.push(Line::from(""));
    }
    lines.push(Line::styled(
        "Nothing in backups/ is overwritten: these names are free there. The primary is not touched.",
        t.dim(),
    ));
    lines.push(Line::styled(
        "The trash keeps its copy until the backup is verified back in place; nothing is written until you confirm.",
        t.dim(),
    ));
    lines
}

fn trash_done_lines(t: Theme, r: &TrashRestoreReport) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for i in &r.restored {
        let s = Some(i.status);
        lines.push(Line::from(vec![
            Span::styled(format!("{} ", status_symbol(s)), t.status(s)),
            Span::styled(i.id.to_string(), t.bold()),
            Span::raw(format!(
                " is back in backups/, verified again: {}",
                match &i.reason {
                    Some(why) => format!("{}: {why}", i.status.name()),
                    None => i.status.name().to_string(),
                }
            )),
        ]));
    }
    lines.push(Line::from(""));
    lines.push(Line::styled(
        format!(
            "{} left the trash; the primary was not touched",
            count_of(r.restored.len(), "backup")
        ),
        t.dim(),
    ));
    lines
}

/// The kept primary an evidence restore puts back.
fn evidence_head_lines(t: Theme, r: &EvidenceRestoreReport) -> Vec<Line<'static>> {
    let e = &r.evidence;
    let s = e.status;
    let mut lines = vec![
        plan_field(
            t,
            "evidence",
            vec![Span::styled(e.id.to_string(), t.bold())],
        ),
        plan_field(
            t,
            "kept",
            vec![Span::raw(format!(
                "{} · {}",
                e.kept_at
                    .map(local_time)
                    .unwrap_or_else(|| "unknown".into()),
                e.reason
            ))],
        ),
        plan_field(
            t,
            "verified",
            vec![Span::styled(
                format!(
                    "{} {}{}",
                    status_symbol(s),
                    crate::present::status_word(s),
                    e.status_reason
                        .as_ref()
                        .map(|r| format!(": {}", fit_checksums(r, 0)))
                        .unwrap_or_default()
                ),
                t.status(s),
            )],
        ),
    ];
    if let Some(b) = &r.backup_id {
        lines.push(plan_field(
            t,
            "saved as backup",
            vec![Span::raw(b.to_string())],
        ));
    }
    lines.push(Line::from(""));
    lines
}

/// What putting kept evidence back as the primary would do.
pub fn evidence_plan_lines(app: &App, r: &EvidenceRestoreReport) -> Vec<Line<'static>> {
    let t = app.theme;
    let previous = Some(r.previous_primary.status);
    let mut lines = evidence_head_lines(t, r);
    lines.push(plan_field(
        t,
        "primary becomes",
        vec![Span::raw(format!(
            "{} nodes, {} edges",
            r.node_count, r.edge_count
        ))],
    ));
    lines.push(plan_field(
        t,
        "primary now",
        vec![Span::styled(
            format!(
                "{} {}",
                status_symbol(previous),
                fit_checksums(&r.previous_primary.summary(), 0)
            ),
            t.status(previous),
        )],
    ));
    lines.push(Line::from(""));
    match &r.diff {
        Some(d) => {
            lines.push(Line::styled(
                "changes from the primary now to the evidence:",
                t.bold(),
            ));
            lines.extend(diff_lines(t, d));
        }
        None => lines.push(no_diff_line(t, r.no_diff.as_deref())),
    }
    lines.push(Line::from(""));
    lines.push(Line::styled(
        "the evidence is saved as a new backup (bytes unchanged), then restored as any backup is:",
        t.dim(),
    ));
    lines.push(Line::styled(r.keeps.describe(true), t.dim()));
    lines.push(Line::styled(
        "nothing is written until you confirm",
        t.dim(),
    ));
    lines
}

/// Why a plan shows no diff, as the store said it.
fn no_diff_line(t: Theme, why: Option<&str>) -> Line<'static> {
    Line::styled(
        format!(
            "no diff to show: {}",
            why.unwrap_or("the primary now could not be compared")
        ),
        t.warn(),
    )
}

/// What a restore would do (or did), for the popup and the wizard.
pub fn restore_plan_lines(app: &App, r: &RestoreReport) -> Vec<Line<'static>> {
    let t = app.theme;
    let backup = Some(r.backup.status);
    let previous = Some(r.previous_primary.status);
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!("{:<18}", "backup"), t.dim()),
            Span::styled(format!("{} ", r.backup_id), t.bold()),
            Span::styled(
                format!(
                    "{} {}",
                    status_symbol(backup),
                    fit_checksums(&r.backup.summary(), 0)
                ),
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
                    fit_checksums(&r.previous_primary.summary(), 0)
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
        None => lines.push(no_diff_line(t, r.no_diff.as_deref())),
    }
    lines.push(Line::from(""));
    if r.dry_run {
        lines.push(Line::styled(r.keeps.describe(true), t.dim()));
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
                    fit_checksums(&after.summary(), 0)
                ),
                t.status(s),
            ));
        }
    }
    lines
}
