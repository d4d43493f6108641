//! Partial restore: chosen nodes (and, if asked, their edges) of a backup brought back
//! into the current primary, keeping everything that changed since.
//!
//! It is a save like any other, through the same machinery and under the same lock: the
//! backup is verified as for a full restore, the primary must be usable, the merged graph
//! (see [`crate::graph::merge`]) must pass the consistency check, the replaced primary is
//! kept in `.graphvault/evidence/`, and the result is written with the commit protocol and
//! a backup of its own, then verified again.

use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use super::Store;
use super::error::{Result, StoreError};
use super::names::BackupId;
use super::save::{SaveOptions, SaveReport};
use super::verify::{Depth, FileReport, Status, Target};
use crate::graph::merge::{MergeOptions, MergePlan, Prefer, merge_nodes};

/// Options of [`Store::restore_nodes`].
#[derive(Debug, Clone, Default)]
pub struct PartialRestoreOptions {
    /// Node ids of the backup to bring back.
    pub nodes: Vec<String>,
    /// Also bring the backup's edges at those nodes whose endpoints exist.
    pub with_edges: bool,
    /// Which version wins for a node changed after the backup.
    pub prefer: Option<Prefer>,
    /// Report the plan; write nothing.
    pub dry_run: bool,
    /// Accept a backup without a meta when it parses and is consistent.
    pub allow_unverified: bool,
}

/// What a partial restore did, or would do.
#[derive(Debug, Clone, Serialize)]
pub struct PartialRestoreReport {
    pub backup_id: BackupId,
    pub dry_run: bool,
    /// The backup's verification.
    pub backup: FileReport,
    /// The primary as it was before.
    pub previous_primary: FileReport,
    /// Exactly what changes.
    pub plan: MergePlan,
    /// The save that wrote the result (none for a dry run or when nothing changes).
    pub save: Option<SaveReport>,
    /// Where the previous primary (and its meta) were kept.
    pub evidence: Vec<PathBuf>,
    pub node_count: usize,
    pub edge_count: usize,
    /// Verification of the new primary after the save.
    pub after: Option<FileReport>,
    pub elapsed_ms: f64,
}

impl Store {
    /// Brings the chosen nodes of backup `id` into the current primary (see the module
    /// docs). With `dry_run`, only plans.
    ///
    /// # Errors
    /// An unknown backup or node, a backup that fails verification, a primary that is not
    /// usable, conflicts with no side chosen ([`StoreError::Conflict`]), a result that fails
    /// the consistency check, the lock held elsewhere, or an I/O error. In every case the
    /// primary is unchanged, unless the error says otherwise.
    pub fn restore_nodes(
        &self,
        id: &BackupId,
        options: &PartialRestoreOptions,
    ) -> Result<PartialRestoreReport> {
        let started = Instant::now();
        if options.nodes.is_empty() {
            return Err(StoreError::Invalid(format!(
                "restore of nodes from {id}: no node ids given; nothing was changed"
            )));
        }
        self.require_backup(id)?;
        let _guard = if options.dry_run {
            None
        } else {
            Some(self.lock()?)
        };
        let inspection = self.inspect_target(&Target::Backup(id.clone()), Depth::Full, true);
        let acceptable = inspection.report.status == Status::Valid
            || (options.allow_unverified && inspection.report.status == Status::Unverified);
        let (Some(backup), true) = (inspection.graph, acceptable) else {
            return Err(StoreError::VerifyFailed {
                path: inspection.report.path.clone(),
                reason: format!(
                    "restore of nodes from {id} refused, the primary is unchanged: {}",
                    inspection.report.summary()
                ),
            });
        };
        let previous = self.inspect_target(&Target::Primary, Depth::Full, true);
        let (Some(current), true) = (previous.graph, previous.report.status.is_usable()) else {
            return Err(StoreError::VerifyFailed {
                path: previous.report.path.clone(),
                reason: format!(
                    "restore of nodes from {id} refused: the primary is {}, so there is nothing to merge into; recover it first (nothing was changed)",
                    previous.report.summary()
                ),
            });
        };
        let (plan, merged) = merge_nodes(
            &current,
            &backup,
            &MergeOptions {
                nodes: options.nodes.clone(),
                with_edges: options.with_edges,
                prefer: options.prefer,
            },
        );
        if let Some(missing) = plan.nodes_not_in_backup.first() {
            return Err(StoreError::NoSuchNode {
                node: missing.clone(),
                target: id.to_string(),
            });
        }
        let mut report = PartialRestoreReport {
            backup_id: id.clone(),
            dry_run: options.dry_run,
            backup: inspection.report,
            previous_primary: previous.report,
            node_count: merged.node_count(),
            edge_count: merged.edge_count(),
            plan,
            save: None,
            evidence: Vec::new(),
            after: None,
            elapsed_ms: 0.0,
        };
        let finish = |mut r: PartialRestoreReport| {
            r.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
            r
        };
        if options.dry_run {
            return Ok(finish(report));
        }
        if !report.plan.conflicts.is_empty() {
            return Err(StoreError::Conflict {
                backup: id.to_string(),
                nodes: report.plan.conflicts.iter().map(|c| c.id.clone()).collect(),
            });
        }
        if report.plan.is_noop() {
            return Ok(finish(report));
        }
        let consistency = merged.check_consistency();
        if !consistency.is_consistent() {
            return Err(StoreError::Invalid(format!(
                "restore of nodes from {id} refused, the primary is unchanged: the result would not be consistent: {}",
                consistency.problems.join("; ")
            )));
        }
        let at = super::now();
        report.evidence =
            self.keep_evidence(previous.bytes.as_deref(), at, "before-partial-restore")?;
        let saved = self
            .save_locked(
                &merged,
                &SaveOptions {
                    rotate: false,
                    at: Some(at),
                },
                &format!("partial restore of {id}"),
                started,
                true,
            )
            .map_err(|e| {
                e.left(format!(
                    "the previous primary was kept in {}",
                    self.evidence_dir().display()
                ))
            })?;
        let after = self
            .inspect_target(&Target::Primary, Depth::Full, false)
            .report;
        tracing::info!(
            backup = %id,
            added = report.plan.nodes_added.len(),
            overwritten = report.plan.nodes_overwritten.len(),
            edges = report.plan.edges_added.len(),
            new_backup = %saved.backup_id,
            status = after.status.name(),
            "restored nodes from a backup"
        );
        report.save = Some(saved);
        report.after = Some(after);
        Ok(finish(report))
    }
}
