//! Load with automatic recovery.

use std::time::Instant;

use serde::Serialize;

use super::Store;
use super::error::Result;
use super::names::BackupId;
use super::restore::RestoreReport;
use super::verify::{Depth, FileReport, Inspection, Status, Target};
use crate::graph::KnowledgeGraph;

/// Options of [`Store::load_with_recovery`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RecoverOptions {
    /// Find what would be restored; write nothing.
    pub dry_run: bool,
}

/// Where the loaded graph came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Source {
    /// The primary verified (or had no meta but parsed).
    Primary,
    /// The primary failed and this backup was restored (or would be, on a
    /// dry run).
    Backup(BackupId),
    /// Nothing usable: nothing was written or deleted.
    Nothing,
}

/// What recovery found and did.
#[derive(Debug, Clone, Serialize)]
pub struct RecoveryReport {
    pub source: Source,
    pub dry_run: bool,
    pub primary: FileReport,
    /// Why the primary was not used, when it was not.
    pub primary_failure: Option<String>,
    /// Every backup checked, newest first, with its result.
    pub candidates: Vec<FileReport>,
    pub restore: Option<RestoreReport>,
    pub node_count: usize,
    pub edge_count: usize,
    pub warnings: Vec<String>,
    /// Backups without a meta that parse: usable by hand when nothing verifies.
    pub unverified_fallbacks: Vec<BackupId>,
    pub elapsed_ms: f64,
}

impl RecoveryReport {
    /// Whether a graph came out of it.
    pub fn recovered(&self) -> bool {
        self.source != Source::Nothing
    }
}

impl Store {
    /// Loads the primary; if it is corrupt or missing (or has no meta and
    /// does not parse), restores the newest backup that verifies, keeping the
    /// damaged primary as evidence. A primary without a meta that parses is
    /// loaded with a warning and never thrown away. When nothing verifies,
    /// nothing is written or deleted and the report lists every candidate.
    ///
    /// # Errors
    /// The lock held elsewhere (unless `dry_run`), or an I/O error while
    /// restoring. "Nothing recoverable" is not an error: the graph is `None`
    /// and the report says why.
    pub fn load_with_recovery(
        &self,
        options: RecoverOptions,
    ) -> Result<(Option<KnowledgeGraph>, RecoveryReport)> {
        let started = Instant::now();
        let _guard = if options.dry_run {
            None
        } else {
            Some(self.lock()?)
        };
        let primary = self.inspect_target(&Target::Primary, Depth::Full, true);
        let mut report = RecoveryReport {
            source: Source::Nothing,
            dry_run: options.dry_run,
            primary: primary.report.clone(),
            primary_failure: None,
            candidates: Vec::new(),
            restore: None,
            node_count: 0,
            edge_count: 0,
            warnings: primary.report.warnings.clone(),
            unverified_fallbacks: Vec::new(),
            elapsed_ms: 0.0,
        };
        let mut primary = primary;
        let usable = primary.report.status.is_usable();
        if let Some(graph) = primary.graph.take_if(|_| usable) {
            if primary.report.status == Status::Unverified {
                report.warnings.insert(
                    0,
                    format!(
                        "the primary has no usable meta ({}); it parses and is consistent, so it was loaded and kept",
                        primary.report.reason.as_deref().unwrap_or("")
                    ),
                );
            }
            report.source = Source::Primary;
            report.node_count = graph.node_count();
            report.edge_count = graph.edge_count();
            report.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
            tracing::info!(
                nodes = report.node_count,
                edges = report.edge_count,
                "loaded primary"
            );
            return Ok((Some(graph), report));
        }
        report.primary_failure = Some(primary.report.summary());
        tracing::warn!(reason = %primary.report.summary(), "primary unusable, trying backups newest first");
        // Bytes that no longer match their meta but still make a consistent
        // graph may be newer data beside a stale meta (the application
        // crashes between writing graph.json and its meta). It is kept as
        // evidence either way; say so loudly rather than let it look like
        // mere damage.
        let stale_meta_suspect = primary.report.failed_level
            == Some(super::verify::Level::Checksum)
            && primary
                .graph
                .as_ref()
                .is_some_and(|g| g.check_consistency().problems.is_empty());
        // The restore reuses this inspection (we hold the lock, so the primary
        // cannot change) rather than parse a damaged primary a second time.
        let mut previous = Some(Inspection {
            report: primary.report,
            graph: primary.graph,
            bytes: primary.bytes,
            meta: primary.meta,
        });

        let listing = self.list_backups()?;
        for info in &listing.backups {
            let target = Target::Backup(info.id.clone());
            // Hash first: a damaged backup is rejected for the price of a hash
            // instead of a parse (several times slower). Only a backup whose
            // bytes pass is parsed.
            let quick = self.inspect_target(&target, Depth::Checksum, false);
            if matches!(quick.report.status, Status::Corrupt | Status::Missing) {
                report.candidates.push(quick.report);
                continue;
            }
            let inspection = self.inspect_target(&target, Depth::Full, true);
            let status = inspection.report.status;
            report.candidates.push(inspection.report.clone());
            match (status, inspection.graph, inspection.bytes) {
                (Status::Valid, Some(graph), Some(bytes)) => {
                    let restore = self.restore_verified(
                        info.id.clone(),
                        inspection.report,
                        &graph,
                        bytes,
                        previous.take(),
                        options.dry_run,
                        started,
                    )?;
                    report.source = Source::Backup(info.id.clone());
                    // Order is by the time in the name; a name from a clock
                    // that ran ahead sorts first. Say so rather than hide it.
                    let now = super::now().naive_local();
                    if info.time > now + chrono::Duration::minutes(5) {
                        report.warnings.push(format!(
                            "the restored backup {} is dated in the future ({} > now): the clock may have been wrong when it was written; check `graphvault list` and restore another by id if needed",
                            info.id,
                            info.time.format("%Y-%m-%d %H:%M")
                        ));
                    }
                    report.node_count = graph.node_count();
                    report.edge_count = graph.edge_count();
                    if stale_meta_suspect {
                        let kept = restore
                            .evidence
                            .first()
                            .map(|p| p.display().to_string())
                            .unwrap_or_else(|| {
                                "graphvault's evidence/ directory when the restore runs".to_string()
                            });
                        report.warnings.push(format!(
                            "the replaced primary failed only its checksum and still parses as a consistent graph: it may be newer data beside a stale meta (an interrupted save of the application). It is kept at {kept}; compare it with `graphvault diff`, and if it is the graph you want, bring it back with `graphvault save --from {kept}`"
                        ));
                    }
                    report.restore = Some(restore);
                    report.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
                    tracing::info!(backup = %info.id, dry_run = options.dry_run, "recovered from backup");
                    return Ok((Some(graph), report));
                }
                (Status::Unverified, _, _) => report.unverified_fallbacks.push(info.id.clone()),
                _ => {}
            }
        }
        tracing::error!(
            checked = report.candidates.len(),
            "nothing recoverable: the primary and every backup failed verification; nothing was written or deleted"
        );
        report.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
        Ok((None, report))
    }
}
