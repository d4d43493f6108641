//! Recovery, in two steps that both front ends call:
//!
//! 1. [`Store::plan_recovery`]: the primary's inspection, the backups
//!    checked newest first with their results, the recommended one, and
//!    every warning (future-dated, stale meta, unauthenticated…). It
//!    writes nothing.
//! 2. [`Store::recover_from`]: restores a chosen candidate (or says what it
//!    would do) and works out what was lost ([`Lost`]).
//!
//! [`Store::load_with_recovery`] is the two together with the recommended
//! candidate, under one lock, reusing the inspections of step 1 so that
//! nothing is parsed twice. The command line's `recover` and the UI's
//! wizard both go through here, so they show the same candidates, the
//! same warnings and the same "what was lost".

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use chrono::NaiveDateTime;
use serde::{Serialize, Serializer};

use super::Store;
use super::codec::StoredForm;
use super::diff::{GraphDiff, diff_graphs};
use super::error::Result;
use super::names::BackupId;
use super::restore::RestoreReport;
use super::save::Content;
use super::verify::{
    Depth, FileReport, Inspection, Keep, Level, Status, Target, VerifyAllOptions, VerifyProgress,
};
use crate::graph::KnowledgeGraph;

/// Options of [`Store::load_with_recovery`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RecoverOptions {
    /// Find what would be restored; write nothing.
    pub dry_run: bool,
}

/// Options of [`Store::plan_recovery`].
#[derive(Debug, Clone, Copy, Default)]
pub struct PlanOptions {
    /// Check every backup (on every core), not only down to the newest one
    /// that verifies: a person choosing a candidate wants to see them all.
    pub every_candidate: bool,
}

/// Options of [`Store::recover_from`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RecoverFromOptions {
    /// Report what would be restored and lost; write nothing.
    pub dry_run: bool,
    /// Accept a backup without a meta when it parses and is consistent.
    pub allow_unverified: bool,
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

/// Something recovery wants a person to know. Each front end words the
/// next step its own way (the store names no commands).
#[derive(Debug, Clone, PartialEq)]
pub enum RecoveryWarning {
    /// The primary has no usable meta but parses and is consistent: it is
    /// loaded and kept, and nothing proves its bytes are whole.
    PrimaryWithoutMeta { reason: String },
    /// The primary failed only its checksum yet parses as a consistent
    /// graph: it may be newer data beside a stale meta (the application
    /// crashed between writing the graph and its meta). `kept_at` is where
    /// it was kept, once a restore has run.
    StaleMeta { kept_at: Option<PathBuf> },
    /// The chosen backup's name is dated after now: the clock may have been
    /// wrong when it was written, so "newest" may not be newest.
    FutureDated { id: BackupId, time: NaiveDateTime },
    /// The chosen backup is older than the newest one that verifies.
    OlderThanNewestValid {
        chosen: BackupId,
        newest_valid: BackupId,
    },
    /// The primary's meta names the content of `primary_had`, a backup
    /// older than `chosen`: the primary had been rolled back to it (a
    /// deliberate restore, most often), and restoring `chosen` brings back
    /// what was saved after it.
    RollsForward {
        chosen: BackupId,
        primary_had: BackupId,
    },
    /// A warning from one file's verification (a meta not authenticated by
    /// the key, legacy counts, …).
    File { target: Target, text: String },
}

impl std::fmt::Display for RecoveryWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecoveryWarning::PrimaryWithoutMeta { reason } => write!(
                f,
                "the primary has no usable meta ({reason}); it parses and is consistent, so it was loaded and kept"
            ),
            RecoveryWarning::StaleMeta { kept_at } => {
                write!(
                    f,
                    "the replaced primary failed only its checksum and still parses as a consistent graph: it may be newer data beside a stale meta (an interrupted save of the application)"
                )?;
                match kept_at {
                    Some(p) => write!(f, "; it is kept at {}", p.display()),
                    None => write!(f, "; a restore keeps it in the evidence directory"),
                }
            }
            RecoveryWarning::FutureDated { id, time } => write!(
                f,
                "the backup {id} is dated in the future ({} > now): the clock may have been wrong when it was written",
                time.format("%Y-%m-%d %H:%M")
            ),
            RecoveryWarning::OlderThanNewestValid {
                chosen,
                newest_valid,
            } => write!(
                f,
                "{chosen} is older than {newest_valid}, the newest backup that verifies: what was saved between them is not brought back"
            ),
            RecoveryWarning::RollsForward {
                chosen,
                primary_had,
            } => write!(
                f,
                "the primary's meta names the content of {primary_had}, which is older than {chosen}: the primary had been rolled back to {primary_had} (by a restore?), and {chosen} brings back what was saved after it"
            ),
            RecoveryWarning::File { target, text } => write!(f, "{target}: {text}"),
        }
    }
}

fn as_strings<S: Serializer>(
    warnings: &[RecoveryWarning],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.collect_seq(warnings.iter().map(ToString::to_string))
}

/// What a restore did not bring back, relative to the primary it replaced.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Lost {
    /// Nothing: the replaced primary's meta records the restored backup's
    /// checksum, so before the damage it was this backup byte for byte.
    SameChecksum,
    /// The replaced primary parses and has the same nodes and edges.
    SameGraph,
    /// The replaced primary parses; `diff` goes from it to the restored
    /// graph (its removed and changed entries are what the restore does
    /// not bring back). When the primary failed its checksum, a "changed"
    /// entry may be the damage itself (`primary_damaged`).
    Changes {
        diff: GraphDiff,
        primary_damaged: bool,
    },
    /// It cannot be told: the replaced primary does not parse and its meta
    /// records a different checksum, or nothing was there to compare.
    Unknown {
        reason: String,
        /// What the replaced primary's meta recorded, when it had a meta.
        recorded_nodes: Option<u64>,
        recorded_edges: Option<u64>,
    },
}

/// Whether `warnings` hold the stale-meta warning: the replaced primary still parses,
/// so a meta naming the restored backup may only be out of date.
pub fn warns_of_stale_meta(warnings: &[RecoveryWarning]) -> bool {
    warnings
        .iter()
        .any(|w| matches!(w, RecoveryWarning::StaleMeta { .. }))
}

impl Lost {
    /// [`Lost::SameChecksum`] in words. Beside the stale-meta warning the meta may be
    /// out of date, so "nothing" holds only if it was current.
    pub fn same_checksum_text(stale: bool) -> &'static str {
        if stale {
            "nothing, if graph.json.meta was current: it records this backup's checksum; \
             but the damaged primary still parses, so it may be newer data (see the warning)"
        } else {
            "nothing: the damaged primary's meta records this backup's checksum, so before \
             the damage it was this backup byte for byte"
        }
    }

    /// Whether it is proven that nothing was lost.
    pub fn nothing(&self) -> bool {
        match self {
            Lost::SameChecksum | Lost::SameGraph => true,
            Lost::Changes { diff, .. } => {
                diff.nodes_removed.is_empty()
                    && diff.nodes_changed.is_empty()
                    && diff.edges_removed.is_empty()
                    && diff.edges_changed.is_empty()
            }
            Lost::Unknown { .. } => false,
        }
    }
}

/// What a recovery would start from: step 1.
#[derive(Debug, Clone, Serialize)]
pub struct RecoveryPlan {
    pub primary: FileReport,
    /// The primary can be loaded as it is (valid, or no meta but parses).
    pub primary_usable: bool,
    /// Why the primary cannot be used, when it cannot.
    pub primary_failure: Option<String>,
    /// Backups checked, newest first, with their results. Without
    /// [`PlanOptions::every_candidate`] the list stops at the recommended
    /// one.
    pub candidates: Vec<FileReport>,
    /// The newest backup that verifies.
    pub recommended: Option<BackupId>,
    #[serde(serialize_with = "as_strings")]
    pub warnings: Vec<RecoveryWarning>,
    /// Backups without a meta that parse: usable by hand when nothing verifies.
    pub unverified_fallbacks: Vec<BackupId>,
    /// Every backup was checked.
    pub complete: bool,
    /// Checking stopped early because it was cancelled.
    pub cancelled: bool,
    pub elapsed_ms: f64,
}

impl RecoveryPlan {
    /// A plan for `primary` before any backup was looked at.
    fn unsearched(primary: FileReport) -> RecoveryPlan {
        RecoveryPlan {
            primary,
            primary_usable: false,
            primary_failure: None,
            candidates: Vec::new(),
            recommended: None,
            warnings: Vec::new(),
            unverified_fallbacks: Vec::new(),
            complete: false,
            cancelled: false,
            elapsed_ms: 0.0,
        }
    }
}

/// What recovery found and did: step 2 (and `load_with_recovery`).
#[derive(Debug, Clone, Serialize)]
pub struct RecoveryReport {
    pub source: Source,
    pub dry_run: bool,
    pub primary: FileReport,
    /// Why the primary was not used, when it was not.
    pub primary_failure: Option<String>,
    /// Every backup checked, newest first, with its result.
    pub candidates: Vec<FileReport>,
    /// The newest backup that verifies.
    pub recommended: Option<BackupId>,
    pub restore: Option<RestoreReport>,
    /// What the restore did not bring back; `None` when nothing was restored.
    pub lost: Option<Lost>,
    pub node_count: usize,
    pub edge_count: usize,
    #[serde(serialize_with = "as_strings")]
    pub warnings: Vec<RecoveryWarning>,
    /// Backups without a meta that parse: usable by hand when nothing verifies.
    pub unverified_fallbacks: Vec<BackupId>,
    pub elapsed_ms: f64,
}

impl RecoveryReport {
    /// Whether a graph came out of it.
    pub fn recovered(&self) -> bool {
        self.source != Source::Nothing
    }

    /// The backup restored, or what the source was, in a word.
    pub fn source_label(&self) -> String {
        match &self.source {
            Source::Primary => "the primary".to_string(),
            Source::Backup(id) => id.to_string(),
            Source::Nothing => "nothing".to_string(),
        }
    }

    /// Where the replaced primary was kept (empty when nothing was restored
    /// or there was nothing to keep).
    pub fn evidence(&self) -> &[PathBuf] {
        self.restore.as_ref().map_or(&[], |r| r.evidence.as_slice())
    }

    fn from_plan(plan: RecoveryPlan, dry_run: bool) -> RecoveryReport {
        RecoveryReport {
            source: Source::Nothing,
            dry_run,
            primary: plan.primary,
            primary_failure: plan.primary_failure,
            candidates: plan.candidates,
            recommended: plan.recommended,
            restore: None,
            lost: None,
            node_count: 0,
            edge_count: 0,
            warnings: plan.warnings,
            unverified_fallbacks: plan.unverified_fallbacks,
            elapsed_ms: 0.0,
        }
    }
}

/// A plan with the inspections it made, so a recovery under the same lock
/// need not read or parse them again.
struct PlanWork {
    plan: RecoveryPlan,
    primary: Inspection,
    /// The recommended backup's full inspection, when the plan made one.
    recommended: Option<Inspection>,
    /// Whether the damaged primary looks like newer data beside a stale meta.
    stale: bool,
}

/// The primary failed only its checksum and still parses as a consistent graph.
fn stale_meta_suspect(primary: &Inspection) -> bool {
    primary.report.failed_level == Some(Level::Checksum)
        && primary
            .graph
            .as_ref()
            .is_some_and(|g| g.check_consistency().problems.is_empty())
}

fn file_warnings(report: &FileReport) -> impl Iterator<Item = RecoveryWarning> + '_ {
    report.warnings.iter().map(|w| RecoveryWarning::File {
        target: report.target.clone(),
        text: w.clone(),
    })
}

/// What a restore of `restored` (checksum `checksum`) over `primary` loses.
fn what_was_lost(primary: &Inspection, restored: &KnowledgeGraph, checksum: &str) -> Lost {
    let recorded = primary
        .report
        .expected_checksum
        .as_deref()
        .or_else(|| primary.meta.as_ref().and_then(|m| m.sha256()));
    if recorded.is_some_and(|c| c.eq_ignore_ascii_case(checksum)) {
        return Lost::SameChecksum;
    }
    // The primary's bytes match their meta only when it did not fail at the
    // checksum level or below; otherwise its parse may show the damage.
    let damaged = !primary.report.status.is_usable();
    if let Some(old) = &primary.graph {
        let diff = diff_graphs(old, restored);
        if diff.is_empty() {
            return Lost::SameGraph;
        }
        return Lost::Changes {
            diff,
            primary_damaged: damaged,
        };
    }
    let (recorded_nodes, recorded_edges) = primary
        .meta
        .as_ref()
        .map(|m| (m.node_count, m.edge_count))
        .unwrap_or((None, None));
    let reason = match (&primary.report.status, recorded) {
        (Status::Missing, None) => "there was no primary and no meta to compare with".to_string(),
        (_, None) => format!(
            "the replaced primary does not parse and has no meta checksum to compare ({})",
            primary.report.summary()
        ),
        (_, Some(_)) => format!(
            "the replaced primary does not parse, and its meta records a different checksum from the restored backup's ({})",
            primary.report.summary()
        ),
    };
    Lost::Unknown {
        reason,
        recorded_nodes,
        recorded_edges,
    }
}

impl Store {
    /// Step 1: inspects the primary and the backups newest first and
    /// recommends the newest one that verifies. Writes nothing and takes no
    /// lock. `progress` is called after each backup; `cancel` stops it
    /// between files (the plan then says `cancelled`).
    ///
    /// # Errors
    /// `backups/` cannot be listed.
    pub fn plan_recovery(
        &self,
        options: PlanOptions,
        cancel: &AtomicBool,
        progress: &(dyn Fn(VerifyProgress) + Sync),
    ) -> Result<RecoveryPlan> {
        Ok(self.plan_work(options, cancel, progress, None)?.plan)
    }

    /// The plan with its inspections; `early` is the caller's checksum-level
    /// inspection of the primary, when it made one.
    fn plan_work(
        &self,
        options: PlanOptions,
        cancel: &AtomicBool,
        progress: &(dyn Fn(VerifyProgress) + Sync),
        early: Option<Inspection>,
    ) -> Result<PlanWork> {
        let started = Instant::now();
        // The primary's bytes first (one hash). Bytes that already fail are
        // parsed anyway, for the stale-meta judgement and what was lost, but
        // on another core while the backups are searched rather than in
        // front of the search: recovery costs the longer of the two.
        let early =
            early.unwrap_or_else(|| self.inspect_target(&Target::Primary, Depth::Checksum, false));
        let damaged = matches!(early.report.status, Status::Corrupt | Status::Missing);
        let mut search = RecoveryPlan::unsearched(early.report);
        let usable_of = |p: &Inspection| p.report.status.is_usable() && p.graph.is_some();
        let (primary, stale, searched) = if damaged {
            std::thread::scope(|s| {
                let inspecting = s.spawn(|| {
                    let primary = self.inspect_target(&Target::Primary, Depth::Full, true);
                    let stale = !usable_of(&primary) && stale_meta_suspect(&primary);
                    (primary, stale)
                });
                let searched = self.search_backups(
                    options,
                    false,
                    Keep::Graph,
                    &mut search,
                    cancel,
                    progress,
                    started,
                );
                let (primary, stale) = inspecting
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                (primary, stale, searched)
            })
        } else {
            let primary = self.inspect_target(&Target::Primary, Depth::Full, true);
            let usable = usable_of(&primary);
            // Whether a damaged primary is newer data beside a stale meta
            // takes a consistency check of its whole graph: beside the
            // search too.
            let (stale, searched) = std::thread::scope(|s| {
                let stale = s.spawn(|| !usable && stale_meta_suspect(&primary));
                let searched = self.search_backups(
                    options,
                    usable,
                    Keep::Graph,
                    &mut search,
                    cancel,
                    progress,
                    started,
                );
                (stale.join().unwrap_or(false), searched)
            });
            (primary, stale, searched)
        };
        let usable = usable_of(&primary);
        // Bytes that changed between the two looks (a writer, in a dry run
        // without the lock) and now pass: the search was for nothing.
        let searched = if usable && damaged {
            search = RecoveryPlan::unsearched(search.primary);
            Ok(None)
        } else {
            searched
        };
        let mut plan = RecoveryPlan {
            primary: primary.report.clone(),
            primary_usable: usable,
            primary_failure: (!usable).then(|| primary.report.summary()),
            warnings: file_warnings(&primary.report).collect(),
            ..search
        };
        if usable && primary.report.status == Status::Unverified {
            plan.warnings.insert(
                0,
                RecoveryWarning::PrimaryWithoutMeta {
                    reason: primary.report.reason.clone().unwrap_or_default(),
                },
            );
        }
        let recommended = searched?;
        if stale {
            plan.warnings
                .push(RecoveryWarning::StaleMeta { kept_at: None });
        }
        if !usable {
            let warnings = self.recommended_warnings(&plan);
            plan.warnings.extend(warnings);
        }
        plan.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
        Ok(PlanWork {
            plan,
            primary,
            recommended,
            stale,
        })
    }

    /// The candidates of a plan: every backup, or newest first until one
    /// verifies. Returns the recommended backup's full inspection.
    #[allow(clippy::too_many_arguments)]
    fn search_backups(
        &self,
        options: PlanOptions,
        usable: bool,
        keep: Keep,
        plan: &mut RecoveryPlan,
        cancel: &AtomicBool,
        progress: &(dyn Fn(VerifyProgress) + Sync),
        started: Instant,
    ) -> Result<Option<Inspection>> {
        let mut recommended = None;
        if options.every_candidate {
            let all = self.verify_all(
                VerifyAllOptions {
                    depth: Depth::Full,
                    include_primary: false,
                    threads: 0,
                },
                cancel,
                progress,
            )?;
            plan.cancelled = all.cancelled;
            plan.complete = !all.cancelled;
            plan.candidates = all.files;
            plan.recommended = plan
                .candidates
                .iter()
                .find(|c| c.status == Status::Valid)
                .and_then(|c| match &c.target {
                    Target::Backup(id) => Some(id.clone()),
                    Target::Primary => None,
                });
        } else if !usable {
            // Hash first: a damaged backup is rejected for the price of a
            // hash instead of a parse (several times slower). Only a backup
            // whose bytes pass is parsed; the first valid one ends the search.
            let listing = self.list_backups()?;
            let total = listing.backups.len();
            let bytes_total = listing.backups.iter().filter_map(|b| b.size).sum();
            let mut bytes_done = 0;
            plan.complete = true;
            for (i, info) in listing.backups.iter().enumerate() {
                if cancel.load(Ordering::Relaxed) {
                    plan.cancelled = true;
                    plan.complete = false;
                    break;
                }
                let target = Target::Backup(info.id.clone());
                // Content the memo proved is read (and decompressed) once:
                // its hash settles it, and a caller that keeps the graph has
                // the bytes parsed only once they pass (one that keeps
                // nothing has them streamed through the hash). Anything else is
                // hashed first, so that a damaged backup costs a hash and
                // not a parse.
                let proven = info.checksum.as_deref().is_some_and(|sha| {
                    self.memo_lookup(sha, info.plain_size.unwrap_or(0))
                        .is_some()
                });
                let inspection = if proven {
                    // Its bytes are held only for a caller that keeps them.
                    let held = if keep == Keep::No {
                        Keep::No
                    } else {
                        Keep::Bytes
                    };
                    let mut found = self.inspect_target_keeping(&target, Depth::Full, held);
                    if keep == Keep::Graph && found.report.status == Status::Valid {
                        found.graph = found
                            .bytes
                            .as_deref()
                            .and_then(|b| KnowledgeGraph::from_slice(b).ok());
                        if found.graph.is_none() {
                            // The memo vouched for bytes that do not parse:
                            // the full ladder, without it, says what is wrong.
                            found = self.inspect_target_keeping(&target, Depth::Full, keep);
                        }
                    }
                    found
                } else {
                    let quick = self.inspect_target(&target, Depth::Checksum, false);
                    if matches!(quick.report.status, Status::Corrupt | Status::Missing) {
                        quick
                    } else {
                        self.inspect_target_keeping(&target, Depth::Full, keep)
                    }
                };
                bytes_done += info.size.unwrap_or(0);
                progress(VerifyProgress {
                    done: i + 1,
                    total,
                    bytes_done,
                    bytes_total,
                    elapsed: started.elapsed(),
                    report: inspection.report.clone(),
                });
                plan.candidates.push(inspection.report.clone());
                match inspection.report.status {
                    Status::Valid => {
                        plan.recommended = Some(info.id.clone());
                        plan.complete = i + 1 == total;
                        recommended = Some(inspection);
                        break;
                    }
                    Status::Unverified => plan.unverified_fallbacks.push(info.id.clone()),
                    _ => {}
                }
            }
        }
        if options.every_candidate {
            plan.unverified_fallbacks = plan
                .candidates
                .iter()
                .filter(|c| c.status == Status::Unverified)
                .filter_map(|c| match &c.target {
                    Target::Backup(id) => Some(id.clone()),
                    Target::Primary => None,
                })
                .collect();
        }
        Ok(recommended)
    }

    /// The warnings about restoring a plan's recommended backup (none
    /// without one), with what its verification found.
    fn recommended_warnings(&self, plan: &RecoveryPlan) -> Vec<RecoveryWarning> {
        let Some(id) = &plan.recommended else {
            return Vec::new();
        };
        let chosen = plan
            .candidates
            .iter()
            .find(|c| c.target.backup_id() == Some(id));
        let mut out = self.candidate_warnings(id, None, chosen);
        out.extend(self.rolls_forward(&plan.primary, id, chosen));
        out
    }

    /// Whether restoring `id` undoes a rollback: the primary's meta names
    /// other content than the chosen backup's, and an older backup has that
    /// content. The backups' metas are read only in that case, which a
    /// primary saved by graphvault or the application never is (its meta
    /// names the newest backup's content, or content no backup has yet).
    fn rolls_forward(
        &self,
        primary: &FileReport,
        id: &BackupId,
        chosen: Option<&FileReport>,
    ) -> Option<RecoveryWarning> {
        let recorded = primary.expected_checksum.as_deref()?;
        let restored = chosen?.actual_checksum.as_deref()?;
        if recorded.eq_ignore_ascii_case(restored) {
            return None;
        }
        let listing = self.list_backups().ok()?;
        let at = listing.backups.iter().position(|b| b.id == *id)?;
        let had = listing.backups[at + 1..].iter().find(|b| {
            b.checksum
                .as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case(recorded))
        })?;
        Some(RecoveryWarning::RollsForward {
            chosen: id.clone(),
            primary_had: had.id.clone(),
        })
    }

    /// Warnings about restoring `id`: dated in the future, older than the
    /// newest valid backup, and its own verification's warnings.
    fn candidate_warnings(
        &self,
        id: &BackupId,
        newest_valid: Option<&BackupId>,
        report: Option<&FileReport>,
    ) -> Vec<RecoveryWarning> {
        let mut out = Vec::new();
        // Order is by the time in the name; a name from a clock that ran
        // ahead sorts first. Say so rather than hide it.
        let now = super::now().naive_local();
        if id.time() > now + chrono::Duration::minutes(5) {
            out.push(RecoveryWarning::FutureDated {
                id: id.clone(),
                time: id.time(),
            });
        }
        if let Some(newest) = newest_valid.filter(|n| *n != id) {
            out.push(RecoveryWarning::OlderThanNewestValid {
                chosen: id.clone(),
                newest_valid: newest.clone(),
            });
        }
        if let Some(r) = report {
            out.extend(file_warnings(r));
        }
        out
    }

    /// Step 2: restores the backup `id` chosen from `plan` (or, with
    /// `dry_run`, says what it would do), keeping the replaced primary as
    /// evidence, and works out what was lost. The primary and the backup
    /// are inspected again under the lock: the plan may be old.
    ///
    /// # Errors
    /// No such backup, a backup that does not verify
    /// ([`StoreError::BackupUnverified`] for one without a meta unless
    /// `allow_unverified`), the lock held elsewhere, or an I/O error while
    /// restoring; in every case the primary is unchanged.
    pub fn recover_from(
        &self,
        plan: &RecoveryPlan,
        id: &BackupId,
        options: RecoverFromOptions,
    ) -> Result<RecoveryReport> {
        let started = Instant::now();
        self.require_backup(id)?;
        let _guard = if options.dry_run {
            None
        } else {
            Some(self.lock()?)
        };
        let primary = self.inspect_target(&Target::Primary, Depth::Full, true);
        let backup = self.inspect_target(&Target::Backup(id.clone()), Depth::Full, true);
        let mut report = RecoveryReport::from_plan(plan.clone(), options.dry_run);
        report.primary = primary.report.clone();
        report.primary_failure =
            (!primary.report.status.is_usable()).then(|| primary.report.summary());
        // The plan's warnings about its own recommendation give way to the
        // ones about this choice.
        report.warnings.retain(|w| {
            !matches!(
                w,
                RecoveryWarning::FutureDated { .. }
                    | RecoveryWarning::OlderThanNewestValid { .. }
                    | RecoveryWarning::File {
                        target: Target::Backup(_),
                        ..
                    }
            )
        });
        report.warnings.extend(self.candidate_warnings(
            id,
            plan.recommended.as_ref(),
            Some(&backup.report),
        ));
        // The candidate list shows what was found now.
        if let Some(c) = report
            .candidates
            .iter_mut()
            .find(|c| c.target.backup_id() == Some(id))
        {
            *c = backup.report.clone();
        }
        let (_, report) =
            self.recover_inspected(report, primary, backup, id, options, None, started)?;
        Ok(report)
    }

    /// The restore and "what was lost", from inspections made under the
    /// lock (or for a dry run).
    #[allow(clippy::too_many_arguments)]
    fn recover_inspected(
        &self,
        mut report: RecoveryReport,
        primary: Inspection,
        backup: Inspection,
        id: &BackupId,
        options: RecoverFromOptions,
        known_stale: Option<bool>,
        started: Instant,
    ) -> Result<(KnowledgeGraph, RecoveryReport)> {
        let status = backup.report.status;
        let acceptable =
            status == Status::Valid || (options.allow_unverified && status == Status::Unverified);
        let (Some(graph), Some(bytes), true) = (backup.graph, backup.bytes, acceptable) else {
            return Err(super::restore::refusal(id, &backup.report));
        };
        let checksum = backup.report.actual_checksum.clone().unwrap_or_default();
        // The stale-meta judgement (known from the plan, or checked beside
        // the comparison of what was lost) is not in front of the restore.
        let (lost, stale) = std::thread::scope(|s| {
            let stale = s.spawn(|| known_stale.unwrap_or_else(|| stale_meta_suspect(&primary)));
            let lost = what_was_lost(&primary, &graph, &checksum);
            (lost, stale.join().unwrap_or(false))
        });
        let restore = self.restore_verified(
            id.clone(),
            backup.report,
            &graph,
            bytes,
            Some(primary),
            options.dry_run,
            started,
        )?;
        if stale {
            let kept_at = restore.evidence.first().cloned();
            report
                .warnings
                .retain(|w| !matches!(w, RecoveryWarning::StaleMeta { .. }));
            report.warnings.push(RecoveryWarning::StaleMeta { kept_at });
        }
        report.source = Source::Backup(id.clone());
        report.node_count = graph.node_count();
        report.edge_count = graph.edge_count();
        report.lost = Some(lost);
        report.restore = Some(restore);
        report.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
        tracing::info!(backup = %id, dry_run = options.dry_run, "recovered from backup");
        Ok((graph, report))
    }

    /// Loads the primary; if it is corrupt or missing (or has no meta and
    /// does not parse), restores the newest backup that verifies, keeping the
    /// damaged primary as evidence. A primary without a meta that parses is
    /// loaded with a warning and never thrown away. When nothing verifies,
    /// nothing is written or deleted and the report lists every candidate.
    /// This is [`Store::plan_recovery`] and [`Store::recover_from`] with the
    /// recommended backup, under one lock.
    ///
    /// # Errors
    /// The lock held elsewhere (unless `dry_run`), or an I/O error while
    /// restoring. "Nothing recoverable" is not an error: the graph is `None`
    /// and the report says why.
    pub fn load_with_recovery(
        &self,
        options: RecoverOptions,
    ) -> Result<(Option<KnowledgeGraph>, RecoveryReport)> {
        self.load_with_recovery_reporting(options, &|_| {})
    }

    /// [`Store::load_with_recovery`], calling `progress` after each backup
    /// the search verifies (a command line's progress bar).
    ///
    /// # Errors
    /// As [`Store::load_with_recovery`].
    pub fn load_with_recovery_reporting(
        &self,
        options: RecoverOptions,
        progress: &(dyn Fn(VerifyProgress) + Sync),
    ) -> Result<(Option<KnowledgeGraph>, RecoveryReport)> {
        self.recover_work(options, progress, true)
    }

    /// [`Store::load_with_recovery_reporting`] for a caller that wants the
    /// report and not the graph (the command line's `recover`): a restored
    /// backup whose content the memo proved is then never parsed.
    ///
    /// # Errors
    /// As [`Store::load_with_recovery`].
    pub fn recover_reporting(
        &self,
        options: RecoverOptions,
        progress: &(dyn Fn(VerifyProgress) + Sync),
    ) -> Result<RecoveryReport> {
        Ok(self.recover_work(options, progress, false)?.1)
    }

    fn recover_work(
        &self,
        options: RecoverOptions,
        progress: &(dyn Fn(VerifyProgress) + Sync),
        want_graph: bool,
    ) -> Result<(Option<KnowledgeGraph>, RecoveryReport)> {
        let started = Instant::now();
        let _guard = if options.dry_run {
            None
        } else {
            Some(self.lock()?)
        };
        let never = AtomicBool::new(false);
        // Hashes made in this run are recalled by the search while the file
        // is unchanged (see `prefetch.rs`).
        let _remembering = self.remember_hashes();
        // One hash of the primary, its bytes kept in hand: a primary that
        // already fails is recovered without being parsed in front of it.
        // The newest plain backup, the first candidate of a recovery, is
        // hashed on the other core meanwhile (spare work when the primary
        // is good).
        let mut early = std::thread::scope(|s| {
            s.spawn(|| {
                let newest = self.list_backups().ok().and_then(|l| {
                    l.backups.into_iter().find(|b| {
                        b.has_data() && StoredForm::of_path(&b.data_path) == StoredForm::Plain
                    })
                });
                if let Some(b) = newest {
                    // An error is the search's to report, when it reads the file.
                    let _ = self.hash_remembering(&b.data_path);
                }
            });
            self.inspect_target_keeping(&Target::Primary, Depth::Checksum, Keep::Bytes)
        });
        if matches!(early.report.status, Status::Corrupt | Status::Missing) {
            return self.recover_damaged(early, options, progress, want_graph, started);
        }
        early.bytes = None;
        let mut work = self.plan_work(PlanOptions::default(), &never, progress, Some(early))?;
        let mut report = RecoveryReport::from_plan(work.plan.clone(), options.dry_run);
        if work.plan.primary_usable {
            let graph = work.primary.graph.take();
            report.source = Source::Primary;
            report.node_count = graph.as_ref().map_or(0, KnowledgeGraph::node_count);
            report.edge_count = graph.as_ref().map_or(0, KnowledgeGraph::edge_count);
            report.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
            tracing::info!(
                nodes = report.node_count,
                edges = report.edge_count,
                "loaded primary"
            );
            return Ok((graph, report));
        }
        tracing::warn!(reason = %work.plan.primary.summary(), "primary unusable, trying backups newest first");
        let (Some(id), Some(backup)) = (work.plan.recommended.clone(), work.recommended) else {
            tracing::error!(
                checked = report.candidates.len(),
                "nothing recoverable: the primary and every backup failed verification; nothing was written or deleted"
            );
            report.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
            return Ok((None, report));
        };
        let (graph, report) = self.recover_inspected(
            report,
            work.primary,
            backup,
            &id,
            RecoverFromOptions {
                dry_run: options.dry_run,
                allow_unverified: false,
            },
            Some(work.stale),
            started,
        )?;
        Ok((Some(graph), report))
    }

    /// Recovery of a primary whose bytes already failed their checksum (or
    /// that is missing): the newest backup that verifies is restored at
    /// once. The damaged primary is parsed from the bytes in hand (its file
    /// is about to be replaced) beside the search and the restore, never in
    /// front of them: it says whether it is newer data beside a stale meta,
    /// and it is what a restore is compared with when the primary's meta does
    /// not name the restored backup's checksum. A backup whose content the
    /// memo proved is parsed only when the caller wants the graph, and then
    /// beside the restore too.
    fn recover_damaged(
        &self,
        mut early: Inspection,
        options: RecoverOptions,
        progress: &(dyn Fn(VerifyProgress) + Sync),
        want_graph: bool,
        started: Instant,
    ) -> Result<(Option<KnowledgeGraph>, RecoveryReport)> {
        let never = AtomicBool::new(false);
        let damaged = early.bytes.take();
        let failed_checksum_only = early.report.failed_level == Some(Level::Checksum);
        std::thread::scope(|s| {
            let judging = s.spawn(move || {
                let graph = damaged.and_then(|mut b| KnowledgeGraph::from_mut_slice(&mut b).ok());
                let stale = failed_checksum_only
                    && graph
                        .as_ref()
                        .is_some_and(|g| g.check_consistency().problems.is_empty());
                (graph, stale)
            });
            let judged = move || {
                judging
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            };
            let mut plan = RecoveryPlan::unsearched(early.report.clone());
            // A caller that wants the graph has the chosen backup parsed in
            // the search (once); one that does not takes the memo's word and
            // holds none of its bytes (a plain file is copied as it is).
            let keep = if want_graph { Keep::Graph } else { Keep::No };
            let recommended = self.search_backups(
                PlanOptions::default(),
                false,
                keep,
                &mut plan,
                &never,
                progress,
                started,
            )?;
            plan.primary_failure = Some(early.report.summary());
            plan.warnings = file_warnings(&early.report).collect();
            let warnings = self.recommended_warnings(&plan);
            plan.warnings.extend(warnings);
            plan.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
            let mut report = RecoveryReport::from_plan(plan, options.dry_run);
            let (Some(id), Some(mut backup)) = (report.recommended.clone(), recommended) else {
                if judged().1 {
                    report
                        .warnings
                        .push(RecoveryWarning::StaleMeta { kept_at: None });
                }
                tracing::error!(
                    checked = report.candidates.len(),
                    "nothing recoverable: the primary and every backup failed verification; nothing was written or deleted"
                );
                report.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
                return Ok((None, report));
            };
            if backup.report.status != Status::Valid {
                return Err(super::restore::refusal(&id, &backup.report));
            }
            let checksum = backup.report.actual_checksum.clone().unwrap_or_default();
            let counts = (
                backup.report.node_count.unwrap_or(0),
                backup.report.edge_count.unwrap_or(0),
            );
            let recorded = early.report.expected_checksum.clone().or_else(|| {
                early
                    .meta
                    .as_ref()
                    .and_then(|m| m.sha256().map(str::to_owned))
            });
            let same = recorded.is_some_and(|c| c.eq_ignore_ascii_case(&checksum));
            // The restore copies a plain backup's file when nothing else needs
            // its bytes: recovery then holds the damaged primary (and its
            // graph, on the judging thread) and no second copy of the graph.
            // Otherwise the bytes come from the search, or from a second read
            // that must verify to the same checksum.
            let copied = match (&backup.bytes, backup.report.size) {
                (None, Some(len))
                    if same && StoredForm::of_path(&backup.report.path) == StoredForm::Plain =>
                {
                    Some(len)
                }
                _ => None,
            };
            let bytes = match (backup.bytes.take(), copied) {
                (Some(b), _) => b,
                (None, Some(_)) => Vec::new(),
                (None, None) => {
                    let again = self.inspect_target_keeping(
                        &Target::Backup(id.clone()),
                        Depth::Full,
                        Keep::Bytes,
                    );
                    match again.bytes {
                        Some(b)
                            if again.report.status == Status::Valid
                                && again.report.actual_checksum.as_deref()
                                    == Some(checksum.as_str()) =>
                        {
                            b
                        }
                        _ => return Err(super::restore::refusal(&id, &again.report)),
                    }
                }
            };
            let content = match copied {
                Some(len) => Content::File {
                    path: &backup.report.path,
                    len,
                },
                None => Content::Bytes(&bytes),
            };
            let previous = |graph: Option<KnowledgeGraph>| Inspection {
                report: early.report.clone(),
                graph,
                bytes: None,
                meta: early.meta.clone(),
            };
            let verified = backup.report.clone();
            let restore = |compared| {
                self.restore_bytes(
                    id.clone(),
                    verified.clone(),
                    counts,
                    content,
                    previous(None),
                    compared,
                    options.dry_run,
                    started,
                )
            };
            let (graph, restore, lost, stale) = if same {
                // The primary's meta names this very content: nothing to
                // compare, so nothing to parse in front of the restore.
                let compared = (
                    None,
                    Some(
                        "the replaced primary's meta records this backup's checksum: the same graph"
                            .to_string(),
                    ),
                );
                let (restore, graph) = std::thread::scope(|inner| {
                    let parsing = (want_graph && backup.graph.is_none())
                        .then(|| inner.spawn(|| KnowledgeGraph::from_slice(&bytes).ok()));
                    let restore = restore(compared);
                    let graph = match parsing {
                        Some(p) => p
                            .join()
                            .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                        None => backup.graph.take(),
                    };
                    (restore, graph)
                });
                let restore = restore?;
                let (_, stale) = judged();
                (graph, restore, Lost::SameChecksum, stale)
            } else {
                // Another graph than the meta names: what the restore loses
                // is the diff from the damaged primary, which needs both.
                let restored = match backup.graph.take() {
                    Some(g) => g,
                    None => KnowledgeGraph::from_slice(&bytes).map_err(|e| {
                        super::StoreError::Invalid(format!(
                            "recover: backup {id} matches its meta's checksum and the memo of verified content vouched for it, but it does not parse ({e}): the memo entry {} is wrong (written without --key-file, or damaged). Nothing was changed. Remove that file and run recover again: the backup is then parsed and passed over",
                            self.state_dir().join("memo").join(format!("{checksum}.json")).display()
                        ))
                    })?,
                };
                let (old, stale) = judged();
                let primary = previous(old);
                let lost = what_was_lost(&primary, &restored, &checksum);
                let restore = restore(self.diff_from_primary(&primary, &restored))?;
                (want_graph.then_some(restored), restore, lost, stale)
            };
            if stale {
                let kept_at = restore.evidence.first().cloned();
                report.warnings.push(RecoveryWarning::StaleMeta { kept_at });
            }
            report.source = Source::Backup(id.clone());
            report.node_count = counts.0;
            report.edge_count = counts.1;
            report.lost = Some(lost);
            report.restore = Some(restore);
            report.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
            tracing::info!(backup = %id, dry_run = options.dry_run, "recovered from backup");
            Ok((graph, report))
        })
    }
}
