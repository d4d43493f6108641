//! Applying a retention policy to `backups/`.
//!
//! The decisions come from [`super::retention::plan`]; this module verifies
//! every backup at every level (a checksum that matches bytes which do not
//! parse proves nothing) so that only valid ones count, and removes what
//! the plan says, never anything else.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use serde::Serialize;

use super::Store;
use super::error::{Result, StoreError};
use super::names::BackupId;
use super::retention::{self, Action, Candidate, Health, RetentionPlan, RetentionPolicy};
use super::verify::{Depth, Target, VerifyAllOptions};

/// Options of [`Store::rotate`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RotateOptions {
    /// Only report what would be removed (the CLI's default).
    pub dry_run: bool,
}

/// What a rotation decided and did.
#[derive(Debug, Clone, Serialize)]
pub struct RotateReport {
    pub policy: RetentionPolicy,
    pub dry_run: bool,
    pub plan: RetentionPlan,
    /// Files deleted (empty on a dry run).
    pub removed_files: Vec<PathBuf>,
    pub elapsed_ms: f64,
}

impl Store {
    /// Plans (and unless `dry_run`, applies) `policy` to the backups.
    ///
    /// # Errors
    /// An invalid policy, the lock held elsewhere, or an I/O error. Files
    /// removed before an I/O error stay removed; the error names the path.
    pub fn rotate(&self, policy: &RetentionPolicy, options: RotateOptions) -> Result<RotateReport> {
        policy.validate()?;
        let _guard = if options.dry_run {
            None
        } else {
            Some(self.lock()?)
        };
        self.rotate_locked(policy, options.dry_run, super::now().naive_local())
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
    ) -> Result<RotateReport> {
        policy.validate()?;
        let _guard = self.lock()?;
        self.rotate_with(policy, false, super::now().naive_local(), Some(confirmed))
    }

    /// The rotation, for a caller that holds the lock (or a dry run).
    pub(crate) fn rotate_locked(
        &self,
        policy: &RetentionPolicy,
        dry_run: bool,
        now: chrono::NaiveDateTime,
    ) -> Result<RotateReport> {
        self.rotate_with(policy, dry_run, now, None)
    }

    fn rotate_with(
        &self,
        policy: &RetentionPolicy,
        dry_run: bool,
        now: chrono::NaiveDateTime,
        confirmed: Option<&[BackupId]>,
    ) -> Result<RotateReport> {
        let started = Instant::now();
        let verified = self.verify_all(
            VerifyAllOptions {
                // A backup whose bytes match but which does not parse is
                // no backup: only full verification may count one as valid.
                depth: Depth::Full,
                include_primary: false,
                threads: 0,
            },
            &AtomicBool::new(false),
            &|_| {},
        )?;
        let candidates: Vec<Candidate> = verified
            .files
            .iter()
            .filter_map(|f| match &f.target {
                Target::Backup(id) => Some(Candidate {
                    id: id.clone(),
                    health: Health::from(f),
                }),
                Target::Primary => None,
            })
            .collect();
        let mut plan = retention::plan(policy, &candidates, now)?;
        if let Some(confirmed) = confirmed {
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
        if !dry_run {
            let dir = self.backups_dir();
            for decision in plan
                .decisions
                .iter()
                .rev()
                .filter(|d| d.action == Action::Remove)
            {
                // Meta first: if interrupted, what is left is a data file
                // without a meta (an unverified backup), never a meta that
                // describes nothing.
                for name in [
                    decision.id.meta_file_name(),
                    decision.id.alt_meta_file_name(),
                    decision.id.data_file_name(),
                ] {
                    let path = dir.join(&name);
                    if name == decision.id.data_file_name() {
                        // Unsynced removals may reach the disk in any order
                        // at a power cut: make the meta's removal durable
                        // before the data's, or a meta that describes
                        // nothing can survive (reported missing forever).
                        self.fs
                            .sync_dir(&dir)
                            .map_err(|e| StoreError::io("fsync directory", &dir, e))?;
                    }
                    match self.fs.remove_file(&path) {
                        Ok(()) => removed_files.push(path),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => {
                            let _ = self.fs.sync_dir(&dir);
                            let done = if removed_files.is_empty() {
                                "nothing was removed".to_string()
                            } else {
                                format!(
                                    "removed before the error: {}",
                                    removed_files
                                        .iter()
                                        .map(|p: &PathBuf| p.display().to_string())
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                )
                            };
                            return Err(
                                StoreError::io("remove backup (retention)", path, e).left(done)
                            );
                        }
                    }
                }
                tracing::info!(backup = %decision.id, reasons = ?decision.reasons, "retention removed backup");
            }
            if !removed_files.is_empty() {
                self.fs
                    .sync_dir(&dir)
                    .map_err(|e| StoreError::io("fsync directory", &dir, e))?;
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
            elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
        })
    }
}

/// The health of each decision's backup, in the plan's order.
fn candidates_by_id(candidates: &[Candidate], plan: &RetentionPlan) -> Vec<Option<Health>> {
    plan.decisions
        .iter()
        .map(|d| {
            candidates
                .iter()
                .find(|c| c.id == d.id)
                .map(|c| c.health.clone())
        })
        .collect()
}
