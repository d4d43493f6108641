//! The corruption and recovery wizard's state: choose a kind of damage
//! (simulation only), detect, list the candidates, recommend a backup and
//! show what restoring it gives, restore, verify again, and sum up.
//!
//! Its transitions are called only from [`super::app::App::update`]; they
//! return the worker commands to send, so they stay testable without a
//! worker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::store::corrupt::{CorruptionKind, CorruptionReport};
use crate::store::names::BackupId;
use crate::store::restore::RestoreReport;
use crate::store::verify::{FileReport, Status, Target};

use super::worker::{
    Detection, Progress, Recovery, VerifySummary, WizardCommand, WizardEvent, WizardStore,
};

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
    pub candidates_done: Option<VerifySummary>,
    pub cancel: Option<Arc<AtomicBool>>,
    /// Position in `candidates`.
    pub selected: usize,
    pub plan: Option<RestoreReport>,
    pub recovery: Option<Recovery>,
    /// The "yes" button has focus (the default is no).
    pub focus_yes: bool,
    pub scroll: u16,
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
            candidates_done: None,
            cancel: None,
            selected: 0,
            plan: None,
            recovery: None,
            focus_yes: false,
            scroll: 0,
        }
    }

    /// The newest candidate that verifies: the one to restore.
    pub fn recommended(&self) -> Option<usize> {
        self.candidates
            .iter()
            .position(|c| c.status == Status::Valid)
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
                self.selected = (self.selected + 1).min(self.candidates.len().saturating_sub(1))
            }
            _ => self.scroll = self.scroll.saturating_add(1),
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
            Step::Candidates => {
                if answer == Some(false) {
                    return Vec::new();
                }
                if self.candidates_done.is_none() {
                    // Cancelled or failed earlier: look again.
                    return self.start_candidates();
                }
                if self.recommended().is_none() {
                    self.go(Step::Summary);
                    return Vec::new();
                }
                let Some(candidate) = self.selected_candidate() else {
                    return Vec::new();
                };
                if candidate.status != Status::Valid {
                    self.error = Some(format!(
                        "{} cannot be restored: {}. Choose a valid one (✓).",
                        candidate.target,
                        candidate.summary()
                    ));
                    return Vec::new();
                }
                let Some(id) = Self::candidate_id(candidate).cloned() else {
                    return Vec::new();
                };
                self.go(Step::Plan);
                self.plan = None;
                self.busy = Some(format!("planning the restore of {id}…"));
                vec![WizardCommand::Plan(id)]
            }
            Step::Plan => {
                if !yes {
                    self.go(Step::Candidates);
                    return Vec::new();
                }
                let Some(plan) = &self.plan else {
                    return Vec::new();
                };
                let id = plan.backup_id.clone();
                self.busy = Some(format!("restoring {id}…"));
                vec![WizardCommand::Restore(id)]
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
        self.candidates_done = None;
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
                    Ok(summary) if !summary.cancelled => {
                        self.candidates_done = Some(summary);
                        self.selected = self.recommended().unwrap_or(0);
                    }
                    Ok(_) => {
                        self.error =
                            Some("cancelled: press Enter to verify the backups again".into())
                    }
                    Err(e) => self.error = Some(e),
                }
                Vec::new()
            }
            WizardEvent::Planned { id, result } => {
                self.busy = None;
                match result {
                    Ok(plan) if plan.backup_id == id => self.plan = Some(*plan),
                    Ok(_) => {}
                    Err(e) => self.error = Some(e),
                }
                Vec::new()
            }
            WizardEvent::Restored(Ok(recovery)) => {
                self.busy = None;
                self.recovery = Some(*recovery);
                self.go(Step::Verified);
                Vec::new()
            }
            WizardEvent::Began(Err(e))
            | WizardEvent::Damaged(Err(e))
            | WizardEvent::Detected(Err(e))
            | WizardEvent::Restored(Err(e)) => {
                self.busy = None;
                self.error = Some(e);
                Vec::new()
            }
        }
    }
}

/// Newest first: by backup id, the primary before every backup.
fn order_key(report: &FileReport) -> Option<&BackupId> {
    match &report.target {
        Target::Backup(id) => Some(id),
        Target::Primary => None,
    }
}
