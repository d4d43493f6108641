//! The corruption and recovery wizard, in one file: its state, its keys,
//! its transitions and its drawing. Choose a kind of damage (simulation
//! only), detect, list the candidates, recommend a backup and show what
//! restoring it gives, restore, verify again, and sum up.
//!
//! Its transitions return the worker commands to send, so they stay
//! testable without a worker; [`super::app::App`] applies them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, LineGauge, Paragraph, Widget, Wrap};

use crate::present::{age, human_size, local_time};
use crate::store::corrupt::{CorruptionKind, CorruptionReport};
use crate::store::names::BackupId;
use crate::store::recover::{Lost, RecoveryPlan, RecoveryReport, Source, warns_of_stale_meta};
use crate::store::verify::{FileReport, Level, Status, Target};

use super::action::Action;
use super::app::{App, Severity, describe_report, evidence_text};
use super::keymap::{Binding, KeyCode, bind, ch, code};
use super::popups::{Effects, HelpPopup, Popup, diff_lines, ladder_lines, restore_plan_lines};
use super::render::{button_at, buttons, ellipsize, eta_text};
use super::theme::{Theme, status_symbol, status_word};
use super::worker::{
    Command, Detection, Progress, Recovery, RemoteRecovery, WizardCommand, WizardEvent, WizardStore,
};
use crate::remote::fetch::RemoteRecoveryReport;
use crate::remote::inspect::RemoteCheck;

#[rustfmt::skip]
pub static KEYS: &[Binding] = &[
    bind!(Wizard, [code(KeyCode::Up), ch('k')], Up, "previous choice / scroll up"),
    bind!(Wizard, [code(KeyCode::Down), ch('j')], Down, "next choice / scroll down"),
    bind!(Wizard, [code(KeyCode::PageUp)], PageUp, "page up"),
    bind!(Wizard, [code(KeyCode::PageDown)], PageDown, "page down"),
    bind!(Wizard, [code(KeyCode::Enter)], Submit, "next step / press the focused button", "next"),
    bind!(Wizard, [ch('y')], Yes, "confirm (damage the sandbox, restore)", "yes"),
    bind!(Wizard, [ch('n')], No, "decline"),
    bind!(Wizard, [ch('a')], AllowUnverified, "plan the restore of a candidate without a meta (check it first)"),
    bind!(Wizard, [code(KeyCode::Tab), code(KeyCode::Left), code(KeyCode::Right)], FocusNext, "switch button"),
    bind!(Wizard, [ch('?')], Help, "help"),
    bind!(Wizard, [code(KeyCode::Esc)], Close, "cancel what runs; close the wizard", "close"),
];

/// Why the wizard runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Damage a sandbox on purpose, then recover it.
    Simulate,
    /// The store's own primary is broken: recover it.
    Recover,
}

/// Where the wizard is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Choose,
    ConfirmDamage,
    Detect,
    Candidates,
    Plan,
    Verified,
    Summary,
}

impl Step {
    pub fn title(self) -> &'static str {
        match self {
            Step::Choose => "choose damage",
            Step::ConfirmDamage => "confirm",
            Step::Detect => "detect",
            Step::Candidates => "candidates",
            Step::Plan => "restore plan",
            Step::Verified => "re-verify",
            Step::Summary => "summary",
        }
    }

    /// The steps shown in the breadcrumb for `mode`.
    pub fn trail(mode: Mode) -> &'static [Step] {
        match mode {
            Mode::Simulate => &[
                Step::Choose,
                Step::ConfirmDamage,
                Step::Detect,
                Step::Candidates,
                Step::Plan,
                Step::Verified,
                Step::Summary,
            ],
            Mode::Recover => &[
                Step::Detect,
                Step::Candidates,
                Step::Plan,
                Step::Verified,
                Step::Summary,
            ],
        }
    }
}

/// The wizard's state.
#[derive(Debug, Clone)]
pub struct Wizard {
    pub mode: Mode,
    pub step: Step,
    /// The store the UI was opened on is a sandbox already (the demo).
    pub source_is_sandbox: bool,
    /// Position in [`CorruptionKind::ALL`] on the choose step.
    pub kind_index: usize,
    pub kind: Option<CorruptionKind>,
    pub store: Option<WizardStore>,
    /// What runs right now, in words; keys other than Esc wait for it.
    pub busy: Option<String>,
    pub error: Option<String>,
    pub corruption: Option<CorruptionReport>,
    pub detection: Option<Detection>,
    /// Every backup's verification, newest first.
    pub candidates: Vec<FileReport>,
    pub progress: Option<Progress>,
    /// The store's recovery plan, once every candidate is checked.
    pub recovery_plan: Option<RecoveryPlan>,
    pub cancel: Option<Arc<AtomicBool>>,
    /// Position in `candidates`.
    pub selected: usize,
    /// A dry run of recovering from the chosen candidate.
    pub plan: Option<RecoveryReport>,
    /// The chosen candidate has no meta and the user accepted it (`a`).
    pub allow_unverified: bool,
    pub recovery: Option<Recovery>,
    /// The "yes" button has focus (the default is no).
    pub focus_yes: bool,
    pub scroll: u16,
    /// The last line the step's text can scroll to, as last drawn: keys
    /// stop there rather than scrolling on into nothing.
    pub scroll_max: std::cell::Cell<u16>,
    /// The store has remotes: when no local backup verifies, their
    /// backups are offered instead.
    pub has_remotes: bool,
    /// The remotes' backups, once asked for (no local one verified).
    pub remote: Option<RemoteStage>,
    /// The row of a confirmation's buttons, when they were last drawn on
    /// screen: a click there presses them.
    pub buttons_bar: std::cell::Cell<Option<Rect>>,
}

/// Recovery from the remotes: their candidates, the chosen one's dry run
/// and the recovery, through the same plan / confirm / re-verify steps.
#[derive(Debug, Clone, Default)]
pub struct RemoteStage {
    /// `(remote, check)`, each remote's backups newest first, checked on
    /// the server (manifest, object, the server's SHA-256).
    pub candidates: Vec<(String, RemoteCheck)>,
    /// Remotes that could not be asked, and why.
    pub failures: Vec<(String, String)>,
    /// The chosen candidate downloaded and verified deeply, nothing written.
    pub plan: Option<RemoteRecoveryReport>,
    pub recovery: Option<RemoteRecovery>,
}

impl RemoteStage {
    /// Position of the newest candidate the server vouches for.
    pub fn recommended(&self) -> Option<usize> {
        self.candidates
            .iter()
            .position(|(_, c)| c.status == Status::Valid)
    }
}

impl Wizard {
    /// The simulation, from the choice of damage.
    pub fn simulate(source_is_sandbox: bool) -> Wizard {
        Wizard::new(Mode::Simulate, Step::Choose, source_is_sandbox)
    }

    /// Recovery of the store's own primary. With `detection`, the detect
    /// step shows it at once; the returned command attaches the worker.
    pub fn recover(
        source_is_sandbox: bool,
        detection: Option<FileReport>,
    ) -> (Wizard, Vec<WizardCommand>) {
        let mut w = Wizard::new(Mode::Recover, Step::Detect, source_is_sandbox);
        let mut commands = vec![WizardCommand::Begin { copy: false }];
        match detection {
            Some(report) => {
                w.detection = Some(Detection {
                    report,
                    reference: None,
                })
            }
            None => {
                w.busy = Some("verifying the primary…".into());
                commands.push(WizardCommand::Detect {
                    compare_newest: false,
                });
            }
        }
        (w, commands)
    }

    fn new(mode: Mode, step: Step, source_is_sandbox: bool) -> Wizard {
        Wizard {
            mode,
            step,
            source_is_sandbox,
            kind_index: 0,
            kind: None,
            store: None,
            busy: None,
            error: None,
            corruption: None,
            detection: None,
            candidates: Vec::new(),
            progress: None,
            recovery_plan: None,
            cancel: None,
            selected: 0,
            plan: None,
            allow_unverified: false,
            recovery: None,
            focus_yes: false,
            scroll: 0,
            scroll_max: std::cell::Cell::new(u16::MAX),
            has_remotes: false,
            remote: None,
            buttons_bar: std::cell::Cell::new(None),
        }
    }

    /// The candidates step lists the remotes' backups.
    pub fn on_remote(&self) -> bool {
        self.remote
            .as_ref()
            .is_some_and(|r| !r.candidates.is_empty())
    }

    /// The selected remote candidate: its remote and check.
    pub fn selected_remote(&self) -> Option<&(String, RemoteCheck)> {
        self.remote.as_ref()?.candidates.get(self.selected)
    }

    /// The store's recommendation (the newest candidate that verifies),
    /// as a position in `candidates`, once the plan is there.
    pub fn recommended(&self) -> Option<usize> {
        let id = self.recovery_plan.as_ref()?.recommended.as_ref()?;
        self.candidates
            .iter()
            .position(|c| c.target.backup_id() == Some(id))
    }

    pub fn selected_candidate(&self) -> Option<&FileReport> {
        self.candidates.get(self.selected)
    }

    fn candidate_id(report: &FileReport) -> Option<&BackupId> {
        match &report.target {
            Target::Backup(id) => Some(id),
            Target::Primary => None,
        }
    }

    /// Whether the primary, as detected, can be kept as it is.
    pub fn primary_usable(&self) -> bool {
        self.detection
            .as_ref()
            .is_some_and(|d| d.report.status.is_usable())
    }

    /// Stops what runs; true when something was running.
    pub fn cancel_running(&mut self) -> bool {
        match (&self.cancel, &self.busy) {
            (Some(flag), Some(_)) => {
                flag.store(true, Ordering::Relaxed);
                self.busy = Some("cancelling…".into());
                true
            }
            _ => false,
        }
    }

    pub fn up(&mut self) {
        match self.step {
            Step::Choose => self.kind_index = self.kind_index.saturating_sub(1),
            Step::Candidates => self.selected = self.selected.saturating_sub(1),
            _ => self.scroll = self.scroll.saturating_sub(1),
        }
    }

    pub fn down(&mut self) {
        match self.step {
            Step::Choose => {
                self.kind_index = (self.kind_index + 1).min(CorruptionKind::ALL.len() - 1)
            }
            Step::Candidates => {
                let n = match &self.remote {
                    Some(r) if !r.candidates.is_empty() => r.candidates.len(),
                    _ => self.candidates.len(),
                };
                self.selected = (self.selected + 1).min(n.saturating_sub(1))
            }
            _ => self.scroll = self.scroll.saturating_add(1).min(self.scroll_max.get()),
        }
    }

    pub fn page(&mut self, down: bool) {
        for _ in 0..10 {
            if down {
                self.down();
            } else {
                self.up();
            }
        }
    }

    /// What the footer calls the key bound to `action` on this step, or
    /// `None` to leave it out: Enter on a confirmation presses the focused
    /// button (No unless Tab moved it), `y` only confirms where there is
    /// something to confirm, and Enter closes the summary.
    pub fn footer_word(&self, action: &Action, word: &'static str) -> Option<&'static str> {
        let yes_word = match self.step {
            Step::ConfirmDamage => Some("damage"),
            Step::Plan
                if self.on_remote() && self.remote.as_ref().is_some_and(|r| r.plan.is_some()) =>
            {
                Some("recover")
            }
            Step::Plan if !self.on_remote() && self.plan.is_some() => Some("restore"),
            _ => None,
        };
        match (action, yes_word) {
            (Action::Submit, Some(yes)) => Some(if self.focus_yes { yes } else { "no" }),
            (Action::Submit, None) if self.step == Step::Summary => Some("close"),
            (Action::Yes, yes) => yes,
            _ => Some(word),
        }
    }

    fn go(&mut self, step: Step) {
        self.step = step;
        self.focus_yes = false;
        self.scroll = 0;
        self.error = None;
    }

    /// Enter: go on from this step. `yes` is `y` (or Enter on the yes
    /// button); `Some(false)` is `n`.
    pub fn advance(&mut self, answer: Option<bool>) -> Vec<WizardCommand> {
        if self.busy.is_some() {
            return Vec::new();
        }
        let yes = answer.unwrap_or(self.focus_yes);
        match self.step {
            Step::Choose => {
                if answer == Some(false) {
                    return Vec::new();
                }
                self.kind = CorruptionKind::ALL.get(self.kind_index).copied();
                self.go(Step::ConfirmDamage);
                Vec::new()
            }
            Step::ConfirmDamage => {
                if !yes {
                    self.go(Step::Choose);
                    return Vec::new();
                }
                self.busy = Some(if self.source_is_sandbox {
                    "opening the sandbox…".into()
                } else {
                    "copying the store into a new sandbox…".into()
                });
                vec![WizardCommand::Begin {
                    copy: !self.source_is_sandbox,
                }]
            }
            Step::Detect => {
                if answer == Some(false) {
                    return Vec::new();
                }
                if self.detection.is_none() {
                    return Vec::new();
                }
                if self.primary_usable() {
                    self.go(Step::Summary);
                    return Vec::new();
                }
                self.go(Step::Candidates);
                self.start_candidates()
            }
            Step::Candidates if self.on_remote() => {
                if answer == Some(false) {
                    return Vec::new();
                }
                let Some((remote, check)) = self.selected_remote().cloned() else {
                    return Vec::new();
                };
                if check.status != Status::Valid {
                    if self
                        .remote
                        .as_ref()
                        .and_then(RemoteStage::recommended)
                        .is_none()
                    {
                        self.go(Step::Summary);
                        return Vec::new();
                    }
                    self.error = Some(format!(
                        "{} on {remote} cannot be recovered: {}. Choose one the server vouches for (✓).",
                        check.id,
                        check
                            .reason
                            .clone()
                            .unwrap_or_else(|| "it failed verification".into())
                    ));
                    return Vec::new();
                }
                self.go(Step::Plan);
                if let Some(r) = &mut self.remote {
                    r.plan = None;
                }
                self.busy = Some(format!(
                    "downloading {} from {remote} and verifying it at every level…",
                    check.id
                ));
                vec![WizardCommand::RemotePlan {
                    remote,
                    id: check.id,
                }]
            }
            Step::Candidates => {
                if answer == Some(false) {
                    return Vec::new();
                }
                let Some(plan) = self.recovery_plan.clone() else {
                    // Cancelled or failed earlier: look again.
                    return self.start_candidates();
                };
                let Some(candidate) = self.selected_candidate() else {
                    self.go(Step::Summary);
                    return Vec::new();
                };
                match candidate.status {
                    Status::Valid => {}
                    Status::Unverified if answer == Some(true) || self.allow_unverified => {}
                    Status::Unverified => {
                        self.error = Some(format!(
                            "{} has no meta: nothing proves its bytes are whole. Press a to plan it anyway, or choose a valid one (✓).",
                            candidate.target
                        ));
                        return Vec::new();
                    }
                    Status::Corrupt | Status::Missing if self.recommended().is_none() => {
                        self.go(Step::Summary);
                        return Vec::new();
                    }
                    Status::Corrupt | Status::Missing => {
                        self.error = Some(format!(
                            "{} cannot be restored: {}. Choose a valid one (✓).",
                            candidate.target,
                            super::popups::fit_checksums(&candidate.summary(), 0)
                        ));
                        return Vec::new();
                    }
                }
                let allow_unverified = candidate.status == Status::Unverified;
                let Some(id) = Self::candidate_id(candidate).cloned() else {
                    return Vec::new();
                };
                self.go(Step::Plan);
                self.plan = None;
                self.allow_unverified = allow_unverified;
                self.busy = Some(format!("planning the restore of {id}…"));
                vec![WizardCommand::Plan {
                    plan: Box::new(plan),
                    id,
                    allow_unverified,
                }]
            }
            Step::Plan if self.on_remote() => {
                if !yes {
                    self.go(Step::Candidates);
                    return Vec::new();
                }
                let Some(plan) = self.remote.as_ref().and_then(|r| r.plan.as_ref()) else {
                    return Vec::new();
                };
                let Some(id) = plan
                    .remote_id
                    .clone()
                    .filter(|_| plan.source == crate::remote::fetch::FetchSource::Remote)
                else {
                    return Vec::new();
                };
                let remote = plan.remote.clone();
                self.busy = Some(format!("recovering {id} from {remote}…"));
                vec![WizardCommand::RemoteRestore { remote, id }]
            }
            Step::Plan => {
                if !yes {
                    self.go(Step::Candidates);
                    return Vec::new();
                }
                let (Some(report), Some(plan)) = (&self.plan, &self.recovery_plan) else {
                    return Vec::new();
                };
                let Source::Backup(id) = report.source.clone() else {
                    return Vec::new();
                };
                self.busy = Some(format!("restoring {id}…"));
                vec![WizardCommand::Restore {
                    plan: Box::new(plan.clone()),
                    id,
                    allow_unverified: self.allow_unverified,
                }]
            }
            Step::Verified => {
                self.go(Step::Summary);
                Vec::new()
            }
            Step::Summary => Vec::new(),
        }
    }

    fn start_candidates(&mut self) -> Vec<WizardCommand> {
        let cancel = Arc::new(AtomicBool::new(false));
        self.cancel = Some(cancel.clone());
        self.candidates.clear();
        self.progress = None;
        self.recovery_plan = None;
        self.selected = 0;
        self.busy = Some("verifying every backup, newest first…".into());
        vec![WizardCommand::Candidates { cancel }]
    }

    /// A worker result for the wizard; returns the next commands.
    pub fn on_event(&mut self, event: WizardEvent) -> Vec<WizardCommand> {
        match event {
            WizardEvent::Began(Ok(store)) => {
                self.store = Some(store);
                match (self.mode, self.kind) {
                    (Mode::Simulate, Some(kind)) => {
                        self.busy = Some(format!("damaging graph.json: {}…", kind.name()));
                        vec![WizardCommand::Damage(kind)]
                    }
                    _ => Vec::new(),
                }
            }
            WizardEvent::Damaged(Ok(report)) => {
                let compare_newest = report.kind == CorruptionKind::Tampered;
                self.corruption = Some(*report);
                self.busy = Some("verifying the primary, every level…".into());
                vec![WizardCommand::Detect { compare_newest }]
            }
            WizardEvent::Detected(Ok(detection)) => {
                self.detection = Some(*detection);
                self.busy = None;
                self.go(Step::Detect);
                Vec::new()
            }
            WizardEvent::Candidate { progress, report } => {
                let at = self
                    .candidates
                    .partition_point(|c| order_key(c) > order_key(&report));
                self.candidates.insert(at, *report);
                self.progress = Some(progress);
                Vec::new()
            }
            WizardEvent::CandidatesDone(result) => {
                self.cancel = None;
                self.busy = None;
                match result {
                    Ok(plan) if !plan.cancelled => {
                        // The store's order is the one to show.
                        self.candidates = plan.candidates.clone();
                        self.recovery_plan = Some(*plan);
                        self.selected = self.recommended().unwrap_or(0);
                        if self.recommended().is_none() && self.has_remotes {
                            self.busy = Some(
                                "no local backup verifies: asking the remotes for theirs…".into(),
                            );
                            return vec![WizardCommand::RemoteCandidates];
                        }
                    }
                    Ok(_) => {
                        self.error =
                            Some("cancelled: press Enter to verify the backups again".into())
                    }
                    Err(e) => self.error = Some(e.message),
                }
                Vec::new()
            }
            WizardEvent::Planned { id, result } => {
                self.busy = None;
                match result {
                    Ok(plan) if plan.source == Source::Backup(id) => self.plan = Some(*plan),
                    Ok(_) => {}
                    Err(e) => self.error = Some(e.message),
                }
                Vec::new()
            }
            WizardEvent::Restored(Ok(recovery)) => {
                self.busy = None;
                self.recovery = Some(*recovery);
                self.go(Step::Verified);
                Vec::new()
            }
            WizardEvent::RemoteCandidates(found) => {
                self.busy = None;
                let mut stage = RemoteStage::default();
                for (remote, result) in found {
                    match result {
                        Ok(report) => stage
                            .candidates
                            .extend(report.backups.into_iter().map(|c| (remote.clone(), c))),
                        Err(e) => stage.failures.push((remote, e.message)),
                    }
                }
                self.selected = stage.recommended().unwrap_or(0);
                self.remote = Some(stage);
                Vec::new()
            }
            WizardEvent::RemotePlanned { id, result } => {
                self.busy = None;
                match result {
                    Ok(plan) if plan.remote_id.as_deref() == Some(id.as_str()) => {
                        if let Some(r) = &mut self.remote {
                            r.plan = Some(*plan);
                        }
                    }
                    Ok(_) => {}
                    Err(e) => self.error = Some(e.message),
                }
                Vec::new()
            }
            WizardEvent::RemoteRestored(Ok(recovery)) => {
                self.busy = None;
                if let Some(r) = &mut self.remote {
                    r.recovery = Some(*recovery);
                }
                self.go(Step::Verified);
                Vec::new()
            }
            WizardEvent::RemoteRestored(Err(e)) => {
                self.busy = None;
                self.error = Some(e.message);
                Vec::new()
            }
            WizardEvent::Began(Err(e))
            | WizardEvent::Damaged(Err(e))
            | WizardEvent::Detected(Err(e))
            | WizardEvent::Restored(Err(e)) => {
                self.busy = None;
                self.error = Some(e.message);
                Vec::new()
            }
        }
    }
}

impl Wizard {
    /// A key's action while the wizard is up. `fx.close` asks the app to
    /// close the wizard.
    pub fn update(&mut self, action: Action, fx: &mut Effects) {
        let commands = match action {
            Action::Up => {
                self.up();
                Vec::new()
            }
            Action::Down => {
                self.down();
                Vec::new()
            }
            Action::PageUp => {
                self.page(false);
                Vec::new()
            }
            Action::PageDown => {
                self.page(true);
                Vec::new()
            }
            Action::FocusNext | Action::FocusPrev => {
                self.focus_yes = !self.focus_yes;
                Vec::new()
            }
            Action::Submit if self.step == Step::Summary => {
                fx.close = true;
                Vec::new()
            }
            Action::Submit => self.advance(None),
            Action::Yes => self.advance(Some(true)),
            Action::AllowUnverified if self.step == Step::Candidates => {
                self.allow_unverified = true;
                self.advance(Some(true))
            }
            Action::No => self.advance(Some(false)),
            Action::Help => {
                fx.open = Some(Popup::Help(HelpPopup::default()));
                Vec::new()
            }
            Action::Close => {
                if !self.cancel_running() && self.busy.is_none() {
                    fx.close = true;
                }
                Vec::new()
            }
            _ => Vec::new(),
        };
        fx.commands
            .extend(commands.into_iter().map(Command::Wizard));
    }

    /// A worker result for the wizard: its state moves on, the log gets a
    /// line, and the next commands go in `fx`. Returns the report of a
    /// backup of the store the UI shows, which its table shows too.
    pub fn on_worker_event(&mut self, event: WizardEvent, fx: &mut Effects) -> Option<FileReport> {
        let on_this_store = self.store.as_ref().is_some_and(|s| !s.copied);
        let mut lines: Vec<(Severity, String)> = Vec::new();
        let mut shared_report = None;
        match &event {
            // The wizard verified one of this store's backups: the table
            // shows it too.
            WizardEvent::Candidate { report, .. } if on_this_store => {
                shared_report = Some((**report).clone());
            }
            WizardEvent::Began(Ok(s)) if s.copied => lines.push((
                Severity::Info,
                format!(
                    "sandbox copy of the store made at {} ({} files)",
                    s.root.display(),
                    s.files_copied
                ),
            )),
            WizardEvent::Damaged(Ok(r)) => lines.push((
                Severity::Warn,
                format!("simulated {}: {}", r.kind.name(), r.action),
            )),
            WizardEvent::Detected(Ok(d)) => lines.push(describe_report(&d.report)),
            WizardEvent::RemoteCandidates(found) => {
                for (remote, result) in found {
                    match result {
                        Ok(r) => lines.push((
                            Severity::Info,
                            format!(
                                "remote {remote}: {} backups, {} pass the server's checks",
                                r.backups.len(),
                                r.valid
                            ),
                        )),
                        Err(e) => lines.push((
                            Severity::Error,
                            format!("remote {remote} could not be asked: {e}"),
                        )),
                    }
                }
            }
            WizardEvent::RemoteRestored(Ok(r)) => lines.push((
                Severity::Good,
                format!(
                    "recovered from remote {}: backup {} installed as {} and restored; the primary is now {}",
                    r.report.remote,
                    r.report.remote_id.as_deref().unwrap_or("?"),
                    r.report
                        .installed_as
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    r.after.word()
                ),
            )),
            WizardEvent::RemoteRestored(Err(e)) => {
                lines.push((Severity::Error, format!("wizard: {e}")))
            }
            WizardEvent::Restored(Ok(r)) => lines.push((
                Severity::Good,
                format!(
                    "recovered from {}: the primary is now {}; the damaged file was kept in {}",
                    r.report.source_label(),
                    r.after.word(),
                    evidence_text(r.report.evidence())
                ),
            )),
            WizardEvent::Began(Err(e))
            | WizardEvent::Damaged(Err(e))
            | WizardEvent::Detected(Err(e))
            | WizardEvent::Restored(Err(e)) => {
                lines.push((Severity::Error, format!("wizard: {e}")))
            }
            _ => {}
        }
        // The copy's primary is not the store's: say which one broke.
        let prefix = if self.store.as_ref().is_some_and(|s| s.copied) {
            "sandbox copy: "
        } else {
            ""
        };
        let commands = self.on_event(event);
        for (severity, text) in lines {
            fx.log(severity, format!("{prefix}{text}"));
        }
        fx.commands
            .extend(commands.into_iter().map(Command::Wizard));
        shared_report
    }
}

/// Newest first: by backup id, the primary before every backup.
fn order_key(report: &FileReport) -> Option<&BackupId> {
    match &report.target {
        Target::Backup(id) => Some(id),
        Target::Primary => None,
    }
}

// Drawing.

impl Wizard {
    pub fn draw(&self, app: &App, area: Rect, buf: &mut Buffer) {
        render_wizard(app, self, area, buf);
    }

    /// The second button of this step's confirmation, if it has one.
    fn yes_label(&self) -> Option<&'static str> {
        match self.step {
            Step::ConfirmDamage => Some(DAMAGE_YES),
            Step::Plan
                if self.on_remote() && self.remote.as_ref().is_some_and(|r| r.plan.is_some()) =>
            {
                Some(RECOVER_YES)
            }
            Step::Plan if !self.on_remote() && self.plan.is_some() => Some(RESTORE_YES),
            _ => None,
        }
    }

    /// What a left click at (`x`, `y`) presses: a confirmation's button.
    pub fn click(&self, x: u16, y: u16) -> Option<Action> {
        let bar = self.buttons_bar.get()?;
        if y != bar.y || self.busy.is_some() {
            return None;
        }
        match button_at(bar, "No", self.yes_label()?, x)? {
            true => Some(Action::Yes),
            false => Some(Action::No),
        }
    }
}

const DAMAGE_YES: &str = "Damage it";
const RESTORE_YES: &str = "Restore";
const RECOVER_YES: &str = "Recover";

fn render_wizard(app: &App, w: &Wizard, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    Clear.render(area, buf);
    w.buttons_bar.set(None);
    let title = match w.mode {
        Mode::Simulate => " simulate corruption and recover ",
        Mode::Recover => " recover the store ",
    };
    let mut block = Block::bordered()
        .border_style(t.popup_border())
        .title(Span::styled(title, t.bold()));
    let inner = block.inner(area);
    let busy_h = u16::from(w.busy.is_some() || w.error.is_some()) * 2;
    let place_h = if inner.height < 20 { 1 } else { 2 };
    let [trail, place, body, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(place_h),
        Constraint::Min(1),
        Constraint::Length(busy_h),
    ])
    .areas(inner);
    let lines = match w.step {
        Step::Choose | Step::Candidates => None,
        Step::ConfirmDamage => Some(confirm_damage_lines(app, w)),
        Step::Detect => Some(detect_lines(app, w, body.width)),
        Step::Plan if w.on_remote() => Some(remote_plan_lines(app, w, body.width)),
        Step::Plan => Some(plan_lines(app, w)),
        Step::Verified if w.on_remote() => Some(remote_verified_lines(app, w, body.width)),
        Step::Verified => Some(verified_lines(app, w, body.width)),
        Step::Summary => Some(summary_lines(app, w)),
    };
    // A step longer than the window says so on the border, and scrolling
    // stops at its last line instead of paging into blank space.
    let paragraph = lines.map(|lines| Paragraph::new(lines).wrap(Wrap { trim: false }));
    let mut scroll = w.scroll;
    if let Some(paragraph) = &paragraph {
        let total = u16::try_from(paragraph.line_count(body.width)).unwrap_or(u16::MAX);
        let last = total.saturating_sub(body.height);
        w.scroll_max.set(last);
        scroll = scroll.min(last);
        if last > 0 {
            let hint = match (scroll == 0, scroll == last) {
                (true, _) => " ↓ more below · ↑↓ PgUp PgDn scroll ",
                (false, true) => " ↑ more above · ↑↓ PgUp PgDn scroll ",
                (false, false) => " ↑↓ more · PgUp PgDn scroll ",
            };
            block = block.title_bottom(Line::styled(hint, t.dim()).right_aligned());
        }
    }
    block.render(area, buf);
    render_trail(t, w, trail, buf);
    render_place(app, w, place, buf);
    match paragraph {
        None if w.step == Step::Choose => render_choose(t, w, body, status, buf),
        None if w.on_remote() => render_remote_candidates(app, w, body, status, buf),
        None => render_candidates(app, w, body, status, buf),
        Some(paragraph) => {
            // A confirmation ends with its buttons: where they are on
            // screen, if they are, for a click.
            let total = u16::try_from(paragraph.line_count(body.width)).unwrap_or(u16::MAX);
            let row = total.saturating_sub(1);
            let shown = w.yes_label().is_some() && row >= scroll && row - scroll < body.height;
            w.buttons_bar.set(shown.then(|| Rect {
                y: body.y + row - scroll,
                height: 1,
                ..body
            }));
            paragraph.scroll((scroll, 0)).render(body, buf);
            render_status(t, w, status, buf);
        }
    }
}

fn render_trail(t: Theme, w: &Wizard, area: Rect, buf: &mut Buffer) {
    let trail = Step::trail(w.mode);
    let mut spans = Vec::new();
    for (i, step) in trail.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" › ", t.dim()));
        }
        let style = if *step == w.step {
            t.focused()
        } else {
            t.dim()
        };
        spans.push(Span::styled(format!(" {} ", step.title()), style));
    }
    let line = Line::from(spans);
    // Too narrow for the whole trail: say where we are instead.
    let line = if line.width() > usize::from(area.width) {
        let at = trail.iter().position(|s| *s == w.step).unwrap_or(0);
        Line::from(vec![
            Span::styled(format!("step {}/{} ", at + 1, trail.len()), t.dim()),
            Span::styled(format!(" {} ", w.step.title()), t.focused()),
        ])
    } else {
        line
    };
    Paragraph::new(line).render(area, buf);
}

fn render_place(app: &App, w: &Wizard, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    if area.height == 1 {
        // A short screen: one line, the path cut from the left.
        let (what, path) = match (&w.store, w.mode) {
            (Some(s), _) if s.copied => ("sandbox copy: ", s.root.display().to_string()),
            (_, Mode::Simulate) if w.source_is_sandbox => {
                ("sandbox: ", app.store_path.display().to_string())
            }
            (_, Mode::Simulate) => ("a sandbox copy of: ", app.store_path.display().to_string()),
            (_, Mode::Recover) => ("recovering: ", app.store_path.display().to_string()),
        };
        let room = usize::from(area.width).saturating_sub(what.chars().count());
        Paragraph::new(Line::from(vec![
            Span::styled(what, t.warn()),
            Span::raw(super::render::ellipsize_left(&path, room)),
        ]))
        .render(area, buf);
        return;
    }
    let line = match (&w.store, w.mode) {
        (Some(s), _) if s.copied => Line::from(vec![
            Span::styled("working on a sandbox copy: ", t.warn()),
            Span::raw(s.root.display().to_string()),
            Span::styled(" (your store is not touched)", t.good()),
        ]),
        (_, Mode::Simulate) if w.source_is_sandbox => Line::from(vec![
            Span::styled("working on the sandbox store ", t.warn()),
            Span::raw(app.store_path.display().to_string()),
        ]),
        (_, Mode::Simulate) => Line::from(vec![
            Span::styled("a sandbox copy of ", t.warn()),
            Span::raw(app.store_path.display().to_string()),
            Span::styled(
                " will be made in the temp directory; your files are never damaged",
                t.good(),
            ),
        ]),
        (_, Mode::Recover) => Line::from(vec![
            Span::styled("recovering ", t.warn()),
            Span::raw(app.store_path.display().to_string()),
            Span::styled(
                " itself: the restore writes here (the damaged file is kept)",
                t.dim(),
            ),
        ]),
    };
    Paragraph::new(line)
        .wrap(Wrap { trim: true })
        .render(area, buf);
}

fn render_status(t: Theme, w: &Wizard, area: Rect, buf: &mut Buffer) {
    if area.height == 0 {
        return;
    }
    let [first, second] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
    if let Some(e) = &w.error {
        Paragraph::new(Line::styled(format!("✗ {e}"), t.bad()))
            .wrap(Wrap { trim: false })
            .render(area, buf);
        return;
    }
    let Some(busy) = &w.busy else { return };
    Paragraph::new(Line::styled(format!("⟳ {busy}"), t.warn())).render(first, buf);
    if let Some(p) = &w.progress
        && w.step == Step::Candidates
    {
        let ratio = if p.total > 0 {
            p.done as f64 / p.total as f64
        } else {
            0.0
        };
        LineGauge::default()
            .ratio(ratio.clamp(0.0, 1.0))
            .label(format!(
                "{}/{} · {} · {} · Esc cancels ",
                p.done,
                p.total,
                human_size(p.bytes_done),
                eta_text(p.elapsed.as_secs_f64(), ratio)
            ))
            .filled_symbol("█")
            .unfilled_symbol("░")
            .filled_style(t.accent())
            .unfilled_style(t.dim())
            .render(second, buf);
    }
}

fn render_choose(t: Theme, w: &Wizard, body: Rect, status: Rect, buf: &mut Buffer) {
    const INTRO: &str =
        "Choose the damage to do to graph.json; watch graphvault catch it and recover.";
    const HINT: &str = "↑↓ choose · Enter continues (you confirm before any damage) · Esc closes";
    let width = usize::from(body.width);
    // The intro and the hint wrap in a narrow window: room for them counts their lines.
    let wrapped = |text: &str| text.chars().count().div_ceil(width.max(1));
    let roomy =
        usize::from(body.height) >= CorruptionKind::ALL.len() + wrapped(INTRO) + wrapped(HINT) + 2;
    let mut lines = Vec::new();
    if roomy {
        lines.push(Line::from(INTRO));
        lines.push(Line::from(""));
    }
    // Keep the choice in view on a short screen.
    let rows = usize::from(body.height).max(1);
    let first = if roomy {
        0
    } else {
        w.kind_index.saturating_sub(rows - 1)
    };
    for (i, kind) in CorruptionKind::ALL.iter().enumerate().skip(first) {
        let selected = i == w.kind_index;
        let caught = match kind.expected_level() {
            Some(level) => format!("caught at {}", level.name()),
            None if *kind == CorruptionKind::DeleteMeta => "not corruption: unverified".into(),
            None => "NOT caught by a checksum".into(),
        };
        let head = format!("{} {:<15}", if selected { "▶" } else { " " }, kind.name());
        let room = width.saturating_sub(head.chars().count() + caught.chars().count() + 4);
        let style = if selected {
            t.focused()
        } else {
            ratatui::style::Style::new()
        };
        lines.push(Line::from(vec![
            Span::styled(head, style),
            Span::raw(" "),
            Span::raw(format!("{:<room$}", ellipsize(kind.description(), room))),
            Span::raw("  "),
            Span::styled(
                caught,
                if kind.expected_level().is_some() {
                    t.dim()
                } else {
                    t.warn()
                },
            ),
        ]));
    }
    if roomy {
        lines.push(Line::from(""));
        lines.push(Line::styled(HINT, t.dim()));
    }
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .render(body, buf);
    render_status(t, w, status, buf);
}

fn confirm_damage_lines(app: &App, w: &Wizard) -> Vec<Line<'static>> {
    let t = app.theme;
    let Some(kind) = w.kind else {
        return Vec::new();
    };
    let target = if w.source_is_sandbox {
        format!("the sandbox store {}", app.store_path.display())
    } else {
        "a new sandbox copy of this store (graph.json, its meta and backups/, copied to the temp directory)".to_string()
    };
    vec![
        Line::from(vec![
            Span::styled("Damage: ", t.bold()),
            Span::raw(kind.description().to_string()),
        ]),
        Line::from(vec![Span::styled("Where:  ", t.bold()), Span::raw(target)]),
        Line::from(vec![
            Span::styled("Then:   ", t.bold()),
            Span::raw(
                "verify the primary, list the backups, recommend one, restore it, verify again.",
            ),
        ]),
        Line::from(""),
        if w.source_is_sandbox {
            Line::styled(
                "Only this sandbox is changed; it exists for this.",
                t.good(),
            )
        } else {
            Line::styled(
                "Your own files are never damaged: only the copy is.",
                t.good(),
            )
        },
        Line::from(""),
        buttons(t, "No", DAMAGE_YES, w.focus_yes),
    ]
}

/// How bad a failed verification is, in words for whoever is on call.
fn seriousness(report: &FileReport) -> &'static str {
    match (report.status, report.failed_level) {
        (Status::Valid, _) => {
            "verification passes: the bytes match the checksum and the graph is consistent"
        }
        (Status::Unverified, _) => {
            "not corruption: there is no checksum to compare, but the graph parses and is consistent, so it is kept"
        }
        (Status::Missing, _) => {
            "the primary is gone: there is nothing to load; a backup must be restored"
        }
        (Status::Corrupt, Some(Level::File)) => {
            "the file cannot be read: a backup must be restored"
        }
        (Status::Corrupt, Some(Level::Checksum)) => {
            "the bytes changed after they were written (a disk or a writer damaged them): do not trust or load this file"
        }
        (Status::Corrupt, Some(Level::Parse)) => {
            "the file is not a valid graph (its checksum was recomputed over broken JSON): it cannot be loaded"
        }
        (Status::Corrupt, Some(Level::Consistency)) => {
            "the graph parses but contradicts itself (dangling edges, duplicate ids or wrong counts): do not use it"
        }
        (Status::Corrupt, _) => "the file cannot be trusted",
    }
}

fn corruption_lines(t: Theme, c: &CorruptionReport) -> Vec<Line<'static>> {
    vec![
        Line::from(vec![
            Span::styled("damage done: ", t.warn()),
            Span::raw(format!("{} — {}", c.kind.name(), c.action)),
        ]),
        Line::from(""),
    ]
}

fn detect_lines(app: &App, w: &Wizard, width: u16) -> Vec<Line<'static>> {
    let t = app.theme;
    let mut lines = Vec::new();
    if let Some(c) = &w.corruption {
        lines.extend(corruption_lines(t, c));
    }
    let Some(d) = &w.detection else {
        lines.push(Line::styled("verifying the primary…", t.dim()));
        return lines;
    };
    let r = &d.report;
    let status = Some(r.status);
    let level = r
        .failed_level
        .map(|l| format!(" at the {} level", l.name()))
        .unwrap_or_default();
    lines.push(Line::from(vec![
        Span::styled("detected: ", t.bold()),
        Span::styled(
            format!("{} {}{level}", status_symbol(status), status_word(status)),
            t.status(status),
        ),
    ]));
    lines.push(Line::from(vec![
        Span::styled("how serious: ", t.bold()),
        Span::raw(seriousness(r)),
    ]));
    lines.push(Line::from(""));
    lines.extend(ladder_lines(t, r, app.now, width));
    if let Some(reference) = &d.reference {
        lines.push(Line::from(""));
        lines.push(Line::styled(
            format!("compared with the newest backup {}:", reference.old),
            t.bold(),
        ));
        lines.extend(diff_lines(t, &reference.diff));
    }
    lines.push(Line::from(""));
    lines.push(Line::styled(
        if w.primary_usable() {
            "Enter: summary"
        } else {
            "Enter: verify every backup to find one to restore · Esc closes"
        },
        t.dim(),
    ));
    lines
}

fn render_candidates(app: &App, w: &Wizard, body: Rect, status: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let recommended = w.recommended();
    // The intro and the hint wrap to the window; the rows get what is left.
    let intro = vec![Line::from(
        "Every backup, newest first, verified at every level. The newest valid one is recommended.",
    )];
    let mut hint = match (&w.recovery_plan, recommended) {
        (Some(_), Some(_)) => vec![Line::styled(
            "↑↓ choose · Enter plans the restore of the selected backup (you confirm before anything is written)",
            t.dim(),
        )],
        (Some(_), None) => vec![Line::styled(
            "No backup verifies. Enter: what to do now",
            t.bad(),
        )],
        (None, _) => Vec::new(),
    };
    // Choosing an older backup than the recommended one loses what was
    // saved in between: say so before the plan does.
    if let Some(rec) = recommended
        && w.selected > rec
        && w.candidates
            .get(w.selected)
            .is_some_and(|c| c.status.is_usable())
    {
        // A short window keeps the rows: the footer names the keys.
        if body.height < 14 {
            hint.clear();
        }
        hint.insert(
            0,
            Line::styled(
                "! older than the recommended ★: what was saved after it is lost (the plan lists it)",
                t.warn(),
            ),
        );
    } else if body.height < 10 && recommended.is_some() {
        hint.clear();
    }
    let rows_area = candidates_layout(body, buf, intro, hint, w.candidates.len());
    let mut lines = Vec::new();
    let all = w.candidates.len();
    // When not every row fits, the last row says where the list is.
    let height = if all > usize::from(rows_area.height) {
        usize::from(rows_area.height.saturating_sub(1))
    } else {
        usize::from(rows_area.height)
    };
    let first = w.selected.saturating_sub(height.saturating_sub(1));
    let width = usize::from(body.width);
    for (i, c) in w.candidates.iter().enumerate().skip(first).take(height) {
        let status_ = Some(c.status);
        let (time, ago) = match &c.target {
            crate::store::verify::Target::Backup(id) => {
                (local_time(id.time()), age(id.time(), app.now))
            }
            crate::store::verify::Target::Primary => ("primary".to_string(), String::new()),
        };
        // A narrow window keeps the star and drops the word.
        let narrow = width < 66;
        let star = match (Some(i) == recommended, narrow) {
            (true, false) => "★ recommended",
            (true, true) => "★",
            (false, _) => "",
        };
        let star_width = if narrow { 2 } else { 14 };
        // A valid candidate shows what it holds (as much as fits, whole);
        // any other, why it is not valid.
        let room =
            width.saturating_sub(format!("  {time} {ago:>10}  ").chars().count() + 15 + star_width);
        let reason = match (&c.reason, c.node_count, c.edge_count) {
            (Some(r), _, _) if c.status != Status::Valid => r.clone(),
            (_, Some(n), Some(e)) => [
                format!(
                    "{n} nodes · {e} edges · {}",
                    c.size.map(human_size).unwrap_or_default()
                ),
                format!("{n} nodes · {e} edges"),
                format!("{n}n {e}e"),
            ]
            .into_iter()
            .find(|t| t.chars().count() <= room)
            .unwrap_or_default(),
            (r, _, _) => r.clone().unwrap_or_default(),
        };
        let head = format!(
            "{} {time} {ago:>10}  ",
            if i == w.selected { "▶" } else { " " }
        );
        let room = width.saturating_sub(head.chars().count() + 15 + star_width);
        let row_style = if i == w.selected {
            t.selected()
        } else {
            ratatui::style::Style::new()
        };
        lines.push(
            Line::from(vec![
                Span::raw(head),
                Span::styled(
                    format!("{} {:<12}", status_symbol(status_), status_word(status_)),
                    t.status(status_),
                ),
                Span::styled(format!("{star:<star_width$}"), t.good()),
                Span::raw(" "),
                Span::styled(ellipsize(&reason, room), t.dim()),
            ])
            .style(row_style),
        );
    }
    if w.candidates.is_empty() && w.busy.is_none() {
        lines.push(Line::styled("this store has no backups", t.bad()));
    }
    if all > height && height > 0 {
        let last = (first + height).min(all);
        let more = if last < all { " · ↓ more below" } else { "" };
        lines.push(Line::styled(
            format!("  {}–{last} of {all}{more}", first + 1),
            t.dim(),
        ));
    }
    Paragraph::new(lines).render(rows_area, buf);
    render_status(t, w, status, buf);
}

/// The remotes' backups when no local one verifies: each with its remote,
/// time, size and the server's verdict, the newest sound one recommended.
fn render_remote_candidates(app: &App, w: &Wizard, body: Rect, status: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let Some(stage) = &w.remote else { return };
    let recommended = stage.recommended();
    let mut intro = vec![Line::styled(
        "No local backup verifies. The remotes' backups, newest first, checked on the server (manifest, object, SHA-256):",
        t.warn(),
    )];
    // One line per remote that failed: the rows need the room (the whole
    // reason is in the activity log).
    for (remote, why) in &stage.failures {
        intro.push(Line::styled(
            ellipsize(
                &format!("remote {remote} could not be asked: {why}"),
                usize::from(body.width),
            ),
            t.bad(),
        ));
    }
    let hint = vec![Line::styled(
        if recommended.is_some() {
            "↑↓ choose · Enter downloads the selected backup and plans its recovery (you confirm before anything is written)"
        } else {
            "No remote backup passes the server's checks either. Enter: what to do now"
        },
        if recommended.is_some() {
            t.dim()
        } else {
            t.bad()
        },
    )];
    let rows_area = candidates_layout(body, buf, intro, hint, stage.candidates.len());
    let height = usize::from(rows_area.height);
    let first = w.selected.saturating_sub(height.saturating_sub(1));
    let width = usize::from(body.width);
    let narrow = width < 66;
    let mut lines = Vec::new();
    for (i, (remote, c)) in stage.candidates.iter().enumerate().skip(first).take(height) {
        let s = Some(c.status);
        let time =
            c.id.parse::<BackupId>()
                .map(|id| (local_time(id.time()), age(id.time(), app.now)))
                .unwrap_or_else(|_| (c.id.clone(), String::new()));
        let star = match (Some(i) == recommended, narrow) {
            (true, false) => "★ recommended",
            (true, true) => "★",
            (false, _) => "",
        };
        let star_width = if narrow { 2 } else { 14 };
        let head = format!(
            "{} {} {:>10}  {:<8} ",
            if i == w.selected { "▶" } else { " " },
            time.0,
            time.1,
            ellipsize(remote, 8)
        );
        let room = width.saturating_sub(head.chars().count() + 15 + star_width);
        let row_style = if i == w.selected {
            t.selected()
        } else {
            ratatui::style::Style::new()
        };
        lines.push(
            Line::from(vec![
                Span::raw(head),
                Span::styled(
                    format!("{} {:<12}", status_symbol(s), status_word(s)),
                    t.status(s),
                ),
                Span::styled(format!("{star:<star_width$}"), t.good()),
                Span::raw(" "),
                Span::styled(
                    ellipsize(&c.reason.clone().unwrap_or_default(), room),
                    t.dim(),
                ),
            ])
            .style(row_style),
        );
    }
    Paragraph::new(lines).render(rows_area, buf);
    render_status(t, w, status, buf);
}

/// The chosen remote backup, downloaded and verified, and what recovering
/// it would do.
fn remote_plan_lines(app: &App, w: &Wizard, width: u16) -> Vec<Line<'static>> {
    let t = app.theme;
    let Some(plan) = w.remote.as_ref().and_then(|r| r.plan.as_ref()) else {
        return vec![Line::styled(
            "downloading and verifying the remote backup…",
            t.dim(),
        )];
    };
    let id = plan.remote_id.clone().unwrap_or_default();
    let mut lines = vec![
        Line::styled(
            format!(
                "Recovering {id} from remote {} ({}) gives this primary (a dry run: nothing written yet):",
                plan.remote, plan.url
            ),
            t.bold(),
        ),
        Line::from(""),
    ];
    for c in &plan.candidates {
        for l in &c.levels {
            let s = match l.outcome {
                crate::store::verify::Outcome::Pass => t.good(),
                crate::store::verify::Outcome::Fail => t.bad(),
                _ => t.dim(),
            };
            // Object keys are long: the start of one says little, its end
            // (the checksum) is what tells objects apart.
            let room = usize::from(width).saturating_sub(19);
            lines.push(Line::from(vec![
                Span::styled(format!("  {:<16}", l.level), s),
                Span::raw(super::render::ellipsize_left(&l.detail, room)),
            ]));
        }
        if let Some(local) = &c.local {
            lines.push(Line::from(format!(
                "  the downloaded graph: {} · {} nodes, {} edges",
                local.word(),
                local
                    .node_count
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "?".into()),
                local
                    .edge_count
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "?".into()),
            )));
        }
    }
    lines.push(Line::from(""));
    lines.push(Line::from(format!(
        "It is installed as local backup {id} (or the next free id: no local file is ever overwritten), then restored as the primary through the normal restore, which verifies it again and keeps the damaged primary in .graphvault/evidence/."
    )));
    lines.push(Line::from(""));
    lines.push(buttons(t, "No", RECOVER_YES, w.focus_yes));
    lines
}

fn remote_verified_lines(app: &App, w: &Wizard, width: u16) -> Vec<Line<'static>> {
    let t = app.theme;
    let Some(rec) = w.remote.as_ref().and_then(|r| r.recovery.as_ref()) else {
        return Vec::new();
    };
    let installed = rec
        .report
        .installed_as
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    let mut lines = vec![
        Line::from(vec![
            Span::styled("restored ", t.good()),
            Span::styled(installed.clone(), t.bold()),
            Span::raw(format!(
                " (fetched from remote {}) as the primary",
                rec.report.remote
            )),
        ]),
        Line::from(""),
        Line::styled("re-verified the new primary:", t.bold()),
    ];
    lines.extend(ladder_lines(t, &rec.after, app.now, width));
    lines.push(Line::from(""));
    lines.push(Line::styled("Enter: summary", t.dim()));
    lines
}

fn plan_lines(app: &App, w: &Wizard) -> Vec<Line<'static>> {
    let t = app.theme;
    let Some((plan, restore)) = w.plan.as_ref().and_then(|p| Some((p, p.restore.as_ref()?))) else {
        return vec![Line::styled("planning the restore…", t.dim())];
    };
    let mut lines = vec![
        Line::styled(
            format!(
                "Restoring {} gives this primary (a dry run: nothing written yet):",
                restore.backup_id
            ),
            t.bold(),
        ),
        Line::from(""),
    ];
    lines.extend(restore_plan_lines(app, restore));
    if w.allow_unverified {
        lines.push(Line::from(""));
        lines.push(Line::styled(
            "! This backup has no meta: nothing proves its bytes are the ones that were saved. It parses and is consistent; restore it only if you have checked it (y confirms).",
            t.warn(),
        ));
    }
    lines.push(Line::from(""));
    lines.extend(lost_lines(
        t,
        plan.lost.as_ref(),
        true,
        warns_of_stale_meta(&plan.warnings),
    ));
    lines.extend(warning_lines(t, &plan.warnings));
    lines.push(Line::from(""));
    lines.push(buttons(t, "No", RESTORE_YES, w.focus_yes));
    lines
}

fn verified_lines(app: &App, w: &Wizard, width: u16) -> Vec<Line<'static>> {
    let t = app.theme;
    let Some(rec) = &w.recovery else {
        return Vec::new();
    };
    let mut lines = vec![
        Line::from(vec![
            Span::styled("restored ", t.good()),
            Span::styled(rec.report.source_label(), t.bold()),
            Span::raw(format!(
                " as the primary: {} nodes, {} edges",
                rec.report.node_count, rec.report.edge_count
            )),
        ]),
        Line::from(""),
        Line::styled("re-verified the new primary:", t.bold()),
    ];
    lines.extend(ladder_lines(t, &rec.after, app.now, width));
    lines.push(Line::from(""));
    lines.push(Line::styled("Enter: summary", t.dim()));
    lines
}

fn summary_lines(app: &App, w: &Wizard) -> Vec<Line<'static>> {
    let t = app.theme;
    let mut lines = Vec::new();
    if let Some(rec) = w.remote.as_ref().and_then(|r| r.recovery.as_ref()) {
        let s = Some(rec.after.status);
        lines.push(Line::from(vec![
            Span::styled("Recovered from the remote. ", t.good()),
            Span::raw(format!(
                "The primary is now the graph of remote backup {} from {}, installed as local backup {} ",
                rec.report.remote_id.as_deref().unwrap_or("?"),
                rec.report.remote,
                rec.report
                    .installed_as
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            )),
            Span::styled(
                format!("({} {})", status_symbol(s), status_word(s)),
                t.status(s),
            ),
            Span::raw("."),
        ]));
        lines.push(Line::from(""));
        let evidence = rec
            .report
            .restore
            .as_ref()
            .map(|r| r.evidence.clone())
            .unwrap_or_default();
        if evidence.is_empty() {
            lines.push(Line::styled(
                "The damaged primary was not kept: there was no file left to keep.",
                t.bold(),
            ));
        } else {
            lines.push(Line::from(vec![
                Span::styled("The damaged files were kept in ", t.bold()),
                Span::raw(evidence_text(&evidence)),
            ]));
        }
    } else if let Some(rec) = &w.recovery {
        let s = Some(rec.after.status);
        lines.push(Line::from(vec![
            Span::styled("Recovered. ", t.good()),
            Span::raw(format!(
                "The primary is now the graph of backup {} ",
                rec.report.source_label()
            )),
            Span::styled(
                format!("({} {})", status_symbol(s), status_word(s)),
                t.status(s),
            ),
            Span::raw("."),
        ]));
        lines.push(Line::from(""));
        lines.extend(lost_lines(
            t,
            rec.report.lost.as_ref(),
            false,
            warns_of_stale_meta(&rec.report.warnings),
        ));
        lines.extend(warning_lines(t, &rec.report.warnings));
        lines.push(Line::from(""));
        let evidence = rec.report.evidence();
        if evidence.is_empty() {
            lines.push(Line::styled(
                "The damaged primary was not kept: there was no file left to keep.",
                t.bold(),
            ));
        } else {
            lines.push(Line::from(vec![
                Span::styled("The damaged files were kept in ", t.bold()),
                Span::raw(evidence_text(evidence)),
                Span::styled(":", t.bold()),
            ]));
        }
        for e in evidence {
            let name = e
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            lines.push(Line::from(format!("  {name}")));
        }
    } else if let Some(d) = &w.detection {
        let r = &d.report;
        let s = Some(r.status);
        match r.status {
            Status::Unverified => {
                lines.push(Line::from(vec![
                    Span::styled("The primary is unverified but kept: ", t.warn()),
                    Span::raw(format!("{}.", r.reason.clone().unwrap_or_default())),
                ]));
                lines.push(Line::from(
                    "It parses and is consistent, so graphvault loads it (with a warning) and never replaces it. Nothing was restored and nothing was lost.",
                ));
                lines.push(Line::from(
                    "To have a checksum again, save the graph anew from the application (or `graphvault save --from FILE`); `graphvault verify` then reports it valid.",
                ));
            }
            Status::Valid => {
                lines.push(Line::from(vec![
                    Span::styled("Verification passed: ", t.warn()),
                    Span::raw(format!("{} {}.", status_symbol(s), status_word(s))),
                ]));
                if let Some(reference) = &d.reference {
                    lines.push(Line::from(""));
                    lines.push(Line::styled(
                        format!("Only a comparison with a copy you trust shows the change (newest backup {}):", reference.old),
                        t.bold(),
                    ));
                    lines.extend(diff_lines(t, &reference.diff));
                    let undo = match &w.store {
                        Some(s) if s.copied => format!(
                            "To undo it in the sandbox: graphvault --store {} restore {}",
                            s.root.display(),
                            reference.old
                        ),
                        _ => format!(
                            "To undo it, restore {}: r on the main screen.",
                            reference.old
                        ),
                    };
                    lines.push(Line::from(undo));
                }
            }
            Status::Corrupt | Status::Missing => {
                lines.push(Line::styled(
                    "Nothing recoverable: no backup verifies.",
                    t.bad(),
                ));
                if let Some(stage) = &w.remote {
                    lines.push(Line::from(format!(
                        "No remote backup passes the server's checks either ({} checked).",
                        stage.candidates.len()
                    )));
                    for (remote, why) in &stage.failures {
                        lines.push(Line::styled(
                            format!("remote {remote} could not be asked: {why}"),
                            t.bad(),
                        ));
                    }
                }
                lines.push(Line::from(
                    "Nothing was written or deleted; the damaged primary is where it was.",
                ));
                let unverified: Vec<String> = w
                    .candidates
                    .iter()
                    .filter(|c| c.status == Status::Unverified)
                    .map(|c| c.target.to_string())
                    .collect();
                if unverified.is_empty() {
                    lines.push(Line::from(
                        "No backup even parses. Keep every file as it is, copy the whole storage directory aside, and see docs/RECOVERY.md (“when no backup is valid”).",
                    ));
                } else {
                    lines.push(Line::from(format!(
                        "Backups without a meta that parse: {}. Check one by hand, then restore it with r and a on the main screen (or `graphvault restore ID --allow-unverified`).",
                        unverified.join(", ")
                    )));
                }
            }
        }
    }
    if let Some(note) = w.corruption.as_ref().and_then(|c| c.note.clone()) {
        lines.push(Line::from(""));
        lines.push(Line::styled(
            "What a plain checksum can and cannot do:",
            t.bold(),
        ));
        lines.push(Line::from(note));
    }
    if let Some(s) = &w.store
        && s.copied
    {
        lines.push(Line::from(""));
        lines.push(Line::styled(
            format!(
                "The sandbox copy stays at {} for you to inspect; delete it when done.",
                s.root.display()
            ),
            t.dim(),
        ));
    }
    lines.push(Line::from(""));
    lines.push(Line::styled("Esc closes the wizard", t.dim()));
    lines
}

/// What a recovery loses, as the store worked it out. `planned`: before
/// the restore (the wording is "would").
fn lost_lines(t: Theme, lost: Option<&Lost>, planned: bool, stale: bool) -> Vec<Line<'static>> {
    let Some(lost) = lost else {
        return Vec::new();
    };
    let head = if planned {
        "What this restore would lose:"
    } else {
        "What was lost:"
    };
    let mut lines = vec![Line::styled(head, t.bold())];
    match lost {
        Lost::SameChecksum => lines.push(Line::styled(
            Lost::same_checksum_text(stale),
            if stale { t.warn() } else { t.good() },
        )),
        Lost::SameGraph => lines.push(Line::styled(
            "nothing: the replaced primary has the same nodes and edges",
            t.good(),
        )),
        Lost::Changes {
            diff,
            primary_damaged,
        } => {
            lines.push(Line::from(
                "from the replaced primary to the restored one (removed: lost; changed: an older version is back; added: back from the older state):",
            ));
            lines.extend(diff_lines(t, diff));
            if *primary_damaged {
                lines.push(Line::styled(
                    "the replaced primary failed verification: a changed entry may be the damage itself",
                    t.dim(),
                ));
            }
        }
        Lost::Unknown {
            reason,
            recorded_nodes,
            recorded_edges,
        } => {
            lines.push(Line::from(
                "unknown: anything saved after the restored backup is only in the kept file",
            ));
            lines.push(Line::styled(format!("({reason})"), t.dim()));
            if let (Some(n), Some(e)) = (recorded_nodes, recorded_edges) {
                lines.push(Line::styled(
                    format!("its meta recorded {n} nodes and {e} edges"),
                    t.dim(),
                ));
            }
        }
    }
    lines
}

fn warning_lines(
    t: Theme,
    warnings: &[crate::store::recover::RecoveryWarning],
) -> Vec<Line<'static>> {
    warnings
        .iter()
        .map(|w| Line::styled(format!("warning: {w}"), t.warn()))
        .collect()
}

/// A list of candidates between an intro and a hint, each wrapped to the
/// width: renders the two texts and gives the area left for the rows.
fn candidates_layout(
    body: Rect,
    buf: &mut Buffer,
    intro: Vec<Line<'_>>,
    hint: Vec<Line<'_>>,
    rows: usize,
) -> Rect {
    let intro = Paragraph::new(intro).wrap(Wrap { trim: true });
    let hint = Paragraph::new(hint).wrap(Wrap { trim: true });
    let height_of = |p: &Paragraph| u16::try_from(p.line_count(body.width)).unwrap_or(u16::MAX);
    let row_count = u16::try_from(rows.max(1)).unwrap_or(u16::MAX);
    let [intro_area, _, rows_area, _, hint_area, _] = Layout::vertical([
        Constraint::Length(height_of(&intro)),
        Constraint::Length(1),
        Constraint::Max(row_count),
        Constraint::Length(1),
        Constraint::Length(height_of(&hint)),
        Constraint::Fill(1),
    ])
    .areas(body);
    intro.render(intro_area, buf);
    hint.render(hint_area, buf);
    rows_area
}
