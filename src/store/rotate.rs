//! Applying a retention policy to `backups/`.
//!
//! The decisions come from [`super::retention::plan`]; this module gathers
//! the health of every backup so that only valid ones count (a checksum
//! that matches bytes which do not parse proves nothing), and moves what
//! the plan removes into the trash ([`super::trash`]), never anything
//! else. Before it moves anything, a rotation purges the trash items whose
//! grace period is over.
//!
//! # What a rotation reads
//! Re-verifying every backup in full before each save made a save cost
//! O(backups x size). Instead:
//! - every backup is judged from its meta and the memo of verified content
//!   (one stat and two small reads, see [`Store::judge_from_memo`]); only a
//!   backup the memo cannot vouch for is read, hashed and parsed;
//! - when the plan removes anything, the backups it relies on to do so
//!   safely (the newest valid one and the floor of `min_valid`) are
//!   confirmed at checksum level in this run (hashed; the memo supplies
//!   their parse level), and the plan is made again if one fails, until
//!   everything it relies on is confirmed. A backup the save of this run
//!   just wrote counts as confirmed: its bytes were hashed as they were
//!   written.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::Serialize;

use super::Store;
use super::error::{Result, StoreError};
use super::names::BackupId;
use super::retention::{self, Action, Candidate, Health, RetentionPlan, RetentionPolicy};
use super::trash::{PurgedItem, TrashReason, TrashedBackup};
use super::verify::{Depth, FileReport, Target, VerifyAllOptions};

/// Options of [`Store::rotate`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RotateOptions {
    /// Only report what would be removed (the CLI's default).
    pub dry_run: bool,
}

/// Which part of a rotation is under way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RotateStep {
    /// Judging every backup from its meta and the memo (a stat and two
    /// small reads each).
    Judging,
    /// Reading the backups the memo cannot vouch for, or that the plan
    /// relies on (hash, and parse unless the memo knows the content).
    Reading,
    /// Moving what the plan removes into the trash, one backup at a time.
    Trashing,
}

/// How far a rotation is, after each file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotateProgress {
    pub step: RotateStep,
    pub done: usize,
    pub total: usize,
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// A long rotation's caller: told after each file, and able to stop it
/// between two files. Stopped while reading, nothing is moved (the
/// rotation fails with [`StoreError::Cancelled`]); stopped while moving,
/// what was moved stays in the trash and the report says `cancelled`.
#[derive(Clone, Copy)]
pub struct RotateControl<'a> {
    pub cancel: &'a AtomicBool,
    pub progress: &'a (dyn Fn(RotateProgress) + Sync),
}

static NEVER: AtomicBool = AtomicBool::new(false);

fn ignore(_: RotateProgress) {}

impl RotateControl<'static> {
    /// Never cancelled, tells no one.
    pub fn none() -> Self {
        RotateControl {
            cancel: &NEVER,
            progress: &ignore,
        }
    }
}

impl RotateControl<'_> {
    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

/// What a rotation decided and did.
#[derive(Debug, Clone, Serialize)]
pub struct RotateReport {
    pub policy: RetentionPolicy,
    pub dry_run: bool,
    pub plan: RetentionPlan,
    /// Files that left `backups/` for the trash (empty on a dry run).
    pub removed_files: Vec<PathBuf>,
    /// The backups moved to the trash, with when each expires.
    pub trashed: Vec<TrashedBackup>,
    /// Items purged from the trash because their grace period was over
    /// (never one this call trashed).
    pub purged: Vec<PurgedItem>,
    /// How long what was trashed stays before a later call may purge it.
    pub trash_grace: String,
    /// Why trash items past their grace by the clock were not purged (the
    /// store's own history does not confirm it), when some were not.
    pub purge_note: Option<String>,
    /// Asked to stop while moving: `trashed` is what was moved before it
    /// stopped; the rest of the plan's removals stayed in `backups/`.
    pub cancelled: bool,
    pub elapsed_ms: f64,
}

/// Who rotates: named in what it trashes, and whether it purges the trash's
/// expired items first (every rotation does, but `check`'s, whose own step
/// purges or is switched off).
struct Caller<'a> {
    operation: &'a str,
    purge_trash: bool,
    /// Told after each file, and able to stop the rotation between two.
    control: RotateControl<'a>,
}

impl<'a> Caller<'a> {
    fn purging(operation: &'a str) -> Self {
        Caller {
            operation,
            purge_trash: true,
            control: RotateControl::none(),
        }
    }

    fn with(self, control: RotateControl<'a>) -> Self {
        Caller { control, ..self }
    }
}

impl Store {
    /// Plans (and unless `dry_run`, applies) `policy` to the backups.
    ///
    /// # Errors
    /// An invalid policy, the lock held elsewhere, or an I/O error. Backups
    /// moved to the trash before an I/O error stay there; the error names
    /// the path and says where the backup being moved is.
    pub fn rotate(&self, policy: &RetentionPolicy, options: RotateOptions) -> Result<RotateReport> {
        self.rotate_reporting(policy, options, RotateControl::none())
    }

    /// [`Store::rotate`], telling `control` after each file and stopping
    /// between two files when it asks.
    ///
    /// # Errors
    /// As [`Store::rotate`], and [`StoreError::Cancelled`] when stopped
    /// before anything was moved.
    pub fn rotate_reporting(
        &self,
        policy: &RetentionPolicy,
        options: RotateOptions,
        control: RotateControl<'_>,
    ) -> Result<RotateReport> {
        policy.validate()?;
        let _guard = if options.dry_run {
            None
        } else {
            Some(self.lock()?)
        };
        self.rotate_with(
            policy,
            options.dry_run,
            super::now().naive_local(),
            None,
            None,
            Caller::purging("rotate").with(control),
        )
    }

    /// Applies `policy`, but removes only backups in `confirmed` (what the
    /// user saw marked for removal in a preview). The store verifies and
    /// plans again first; a backup the fresh plan would remove but the user
    /// never confirmed is kept, with that reason.
    ///
    /// # Errors
    /// As [`Store::rotate`].
    pub fn rotate_confirmed(
        &self,
        policy: &RetentionPolicy,
        confirmed: &[BackupId],
        control: RotateControl<'_>,
    ) -> Result<RotateReport> {
        policy.validate()?;
        let _guard = self.lock()?;
        self.rotate_with(
            policy,
            false,
            super::now().naive_local(),
            Some(confirmed),
            None,
            Caller::purging("rotation confirmed in the terminal UI").with(control),
        )
    }

    /// The retention after a save, for the saver that holds the lock.
    /// `written` is the backup this run's save just wrote, if any.
    pub(crate) fn rotate_locked(
        &self,
        policy: &RetentionPolicy,
        dry_run: bool,
        now: chrono::NaiveDateTime,
        written: Option<&BackupId>,
    ) -> Result<RotateReport> {
        self.rotate_with(
            policy,
            dry_run,
            now,
            None,
            written,
            Caller::purging("retention after save"),
        )
    }

    /// Retention in `check`, for the checker that holds the lock: the
    /// check purges the trash in its own step (before this one, so nothing
    /// moved here is purged by the same call), or not at all when that
    /// step is switched off.
    pub(crate) fn rotate_locked_keeping_trash(
        &self,
        policy: &RetentionPolicy,
        now: chrono::NaiveDateTime,
    ) -> Result<RotateReport> {
        self.rotate_with(
            policy,
            false,
            now,
            None,
            None,
            Caller {
                operation: "retention in check",
                purge_trash: false,
                control: RotateControl::none(),
            },
        )
    }

    fn rotate_with(
        &self,
        policy: &RetentionPolicy,
        dry_run: bool,
        now: chrono::NaiveDateTime,
        confirmed: Option<&[BackupId]>,
        written: Option<&BackupId>,
        caller: Caller<'_>,
    ) -> Result<RotateReport> {
        let operation = caller.operation;
        let control = caller.control;
        let started = Instant::now();
        let (candidates, mut plan, checksums) =
            self.plan_with_health(policy, now, written, control)?;
        if let Some(confirmed) = confirmed {
            let confirmed: HashSet<&BackupId> = confirmed.iter().collect();
            let healths = candidates_by_id(&candidates, &plan);
            for (decision, candidate) in plan.decisions.iter_mut().zip(&healths) {
                if decision.action == Action::Remove && !confirmed.contains(&decision.id) {
                    decision.action = Action::Keep;
                    decision
                        .reasons
                        .push("not among the backups confirmed for removal: kept".to_string());
                    plan.removed -= 1;
                    plan.kept += 1;
                    if matches!(candidate, Some(Health::Valid)) {
                        plan.kept_valid += 1;
                    }
                }
            }
        }
        let mut removed_files = Vec::new();
        let mut trashed = Vec::new();
        let mut purged = Vec::new();
        let mut purge_note = None;
        let mut cancelled = false;
        if !dry_run {
            // The trash's clock is the rotation's: tests and demo
            // histories pass their own `now`, and a purge must agree.
            let at = chrono::TimeZone::from_local_datetime(&chrono::Local, &now)
                .earliest()
                .unwrap_or_else(super::now);
            // Purge first: nothing this call moves can be purged by it.
            if caller.purge_trash {
                // The store's history: the newest backup not made by this
                // call, whose date an earlier call's clock gave.
                let history = candidates
                    .iter()
                    .filter(|c| !c.just_made)
                    .map(|c| c.id.time())
                    .max();
                (purged, purge_note) = self
                    .purge_expired_trash(at, history)
                    .map_err(|e| e.left("nothing was moved to the trash by this rotation"))?;
            }
            let removals: Vec<&retention::Decision> = plan
                .decisions
                .iter()
                .rev()
                .filter(|d| d.action == Action::Remove)
                .collect();
            let moving = |done: usize| RotateProgress {
                step: RotateStep::Trashing,
                done,
                total: removals.len(),
                bytes_done: 0,
                bytes_total: 0,
            };
            (control.progress)(moving(0));
            for (done, decision) in removals.iter().enumerate() {
                // Between two files: what was moved stays moved, and is
                // reported; nothing is half-moved.
                if control.cancelled() {
                    cancelled = true;
                    break;
                }
                let why = TrashReason {
                    operation,
                    policy: Some(policy),
                    reasons: &decision.reasons,
                };
                match self.move_to_trash(&decision.id, &why, at) {
                    Ok(Some(item)) => {
                        removed_files.extend(item.moved.iter().cloned());
                        trashed.push(item);
                        (control.progress)(moving(done + 1));
                    }
                    Ok(None) => {}
                    Err(e) => {
                        let done = if trashed.is_empty() {
                            "nothing else was moved".to_string()
                        } else {
                            format!(
                                "moved to the trash before the error: {}",
                                trashed
                                    .iter()
                                    .map(|t: &TrashedBackup| t.backup_id.to_string())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        };
                        return Err(e.left(done));
                    }
                }
            }
            // Keep the memo bounded: drop what no file has any more (not
            // after a stop: the plan's removals are partly still there).
            let mut keep: HashSet<String> = plan
                .decisions
                .iter()
                .filter(|d| d.action == Action::Keep)
                .filter_map(|d| checksums.get(&d.id).cloned())
                .collect();
            keep.extend(self.primary_checksums());
            if !cancelled {
                self.prune_memo(&keep);
            }
        }
        tracing::info!(
            kept = plan.kept,
            removed = plan.removed,
            dry_run,
            "retention planned"
        );
        Ok(RotateReport {
            policy: policy.clone(),
            dry_run,
            plan,
            removed_files,
            trashed,
            purged,
            trash_grace: super::retention::format_duration(self.trash_grace()),
            purge_note,
            cancelled,
            elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
        })
    }
}

impl Store {
    /// Gathers every backup's health (see the module docs) and plans on it:
    /// the candidates, the plan, and the checksum each backup's meta names.
    fn plan_with_health(
        &self,
        policy: &RetentionPolicy,
        now: chrono::NaiveDateTime,
        written: Option<&BackupId>,
        control: RotateControl<'_>,
    ) -> Result<(Vec<Candidate>, RetentionPlan, HashMap<BackupId, String>)> {
        let listing = self.list_backups()?;
        let checksums: HashMap<BackupId, String> = listing
            .backups
            .iter()
            .filter_map(|b| Some((b.id.clone(), b.checksum.clone()?.to_ascii_lowercase())))
            .collect();
        // Judged from meta and memo, or (None) still to be read.
        let total = listing.backups.len();
        let mut reports: Vec<Option<FileReport>> = Vec::with_capacity(total);
        for (done, b) in listing.backups.iter().enumerate() {
            if control.cancelled() {
                return Err(StoreError::Cancelled {
                    op: "rotation",
                    state:
                        "stopped while checking the backups' metas: nothing was moved to the trash"
                            .to_string(),
                });
            }
            reports.push(b.size.and_then(|size| self.judge_from_memo(&b.id, size)));
            (control.progress)(RotateProgress {
                step: RotateStep::Judging,
                done: done + 1,
                total,
                bytes_done: 0,
                bytes_total: 0,
            });
        }
        // Read in this run: hashed (and parsed unless the memo knew them).
        let mut confirmed: Vec<bool> = listing
            .backups
            .iter()
            .map(|b| Some(&b.id) == written)
            .collect();
        let unread: Vec<usize> = (0..reports.len())
            .filter(|&i| reports[i].is_none() && !confirmed[i])
            .collect();
        self.read_backups(
            &listing.backups,
            &unread,
            &mut reports,
            &mut confirmed,
            control,
        )?;
        loop {
            let candidates: Vec<Candidate> = listing
                .backups
                .iter()
                .zip(&reports)
                .map(|(b, r)| Candidate {
                    id: b.id.clone(),
                    health: match r {
                        Some(r) => Health::from(r),
                        // Only the backup this save wrote is never judged
                        // nor read: it is what was just written and hashed.
                        None => Health::Valid,
                    },
                    sequence: b.sequence,
                    just_made: Some(&b.id) == written,
                })
                .collect();
            let plan = retention::plan(policy, &candidates, now)?;
            // What the plan relies on to remove anything: the newest valid
            // backups dated up to now, as many as the floor keeps.
            let relied: Vec<usize> = if plan.removed == 0 {
                Vec::new()
            } else {
                retention::relied_on(policy, &candidates, now)
                    .filter(|&i| !confirmed[i])
                    .collect()
            };
            if relied.is_empty() {
                // A kept delta keeps its base, whatever the policy says of it
                // (the bases come from this listing: no second one).
                let mut plan = plan;
                let deltas: Vec<(BackupId, BackupId)> = listing
                    .backups
                    .iter()
                    .filter_map(|b| Some((b.id.clone(), b.delta_base.clone()?)))
                    .collect();
                retention::keep_bases_of_kept_deltas(&mut plan, &deltas);
                return Ok((candidates, plan, checksums));
            }
            // Every pass confirms at least one more backup, so this ends.
            self.read_backups(
                &listing.backups,
                &relied,
                &mut reports,
                &mut confirmed,
                control,
            )?;
        }
    }

    /// Reads the backups at `which` (on every core): hash, and the parse
    /// level from the memo or a parse.
    fn read_backups(
        &self,
        backups: &[super::list::BackupInfo],
        which: &[usize],
        reports: &mut [Option<FileReport>],
        confirmed: &mut [bool],
        control: RotateControl<'_>,
    ) -> Result<()> {
        if which.is_empty() {
            return Ok(());
        }
        let targets: Vec<(Target, u64)> = which
            .iter()
            .map(|&i| {
                (
                    Target::Backup(backups[i].id.clone()),
                    backups[i].size.unwrap_or(0),
                )
            })
            .collect();
        let verified = self.verify_targets(
            &targets,
            VerifyAllOptions {
                // A backup whose bytes match but which does not parse is
                // no backup: only the full ladder may count one as valid.
                depth: Depth::Full,
                include_primary: false,
                threads: 0,
            },
            control.cancel,
            &|p| {
                (control.progress)(RotateProgress {
                    step: RotateStep::Reading,
                    done: p.done,
                    total: p.total,
                    bytes_done: p.bytes_done,
                    bytes_total: p.bytes_total,
                })
            },
        )?;
        if verified.cancelled || control.cancelled() {
            return Err(StoreError::Cancelled {
                op: "rotation",
                state: "stopped while reading the backups: nothing was moved to the trash"
                    .to_string(),
            });
        }
        // By id, not by a scan per report: a rotation reads thousands.
        let position: HashMap<&BackupId, usize> =
            which.iter().map(|&i| (&backups[i].id, i)).collect();
        for report in verified.files {
            if let Some(&i) = report.target.backup_id().and_then(|id| position.get(id)) {
                reports[i] = Some(report);
                confirmed[i] = true;
            }
        }
        Ok(())
    }

    /// The checksums the primary's meta and pending meta name.
    fn primary_checksums(&self) -> Vec<String> {
        [self.primary_meta_path(), self.pending_meta_path()]
            .iter()
            .filter_map(|p| super::fs::read_file(&*self.fs, p, super::meta::MAX_META_LEN).ok())
            .filter_map(|b| super::meta::Meta::from_slice(&b).ok())
            .filter_map(|m| m.sha256().map(str::to_ascii_lowercase))
            .collect()
    }
}

/// The health of each decision's backup, in the plan's order.
fn candidates_by_id(candidates: &[Candidate], plan: &RetentionPlan) -> Vec<Option<Health>> {
    let by_id: HashMap<&BackupId, &Health> =
        candidates.iter().map(|c| (&c.id, &c.health)).collect();
    plan.decisions
        .iter()
        .map(|d| by_id.get(&d.id).map(|&h| h.clone()))
        .collect()
}
