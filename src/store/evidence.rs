//! The primaries kept in `.graphvault/evidence/`: listing them, and putting
//! one back as the primary (which is how a restore is undone).
//!
//! Every restore and recovery keeps the primary it replaces, and a save
//! keeps a primary that had no meta, as `<stamp>-<why>-graph.json` (+
//! `.meta`). This module names each such pair by `<stamp>-<why>`, verifies
//! it against the meta kept with it, and restores it through the normal
//! restore: it is first saved as a new backup (bytes unchanged, a fresh
//! meta saying where it came from), then that backup is restored, so the
//! plan, the diff, the re-verification and the keeping of the replaced
//! primary are the very ones `restore` uses.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Instant;

use chrono::NaiveDateTime;
use serde::Serialize;

use super::Store;
use super::diff::GraphDiff;
use super::error::{Result, StoreError};
use super::fs::EntryKind;
use super::meta::Meta;
use super::names::BackupId;
use super::restore::{RestoreOptions, RestoreReport};
use super::verify::{self, Depth, FileReport, MetaSource, Status, Target};

const DATA_SUFFIX: &str = "-graph.json";
const META_SUFFIX: &str = "-graph.json.meta";
const STAMP_FORMAT: &str = "%Y%m%d_%H%M%S_%6f";
const STAMP_LEN: usize = 22;

/// Names one kept primary: `20251020_120000_000000-before-restore`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EvidenceId {
    stamp: String,
    why: String,
}

impl EvidenceId {
    /// When it was kept (local time).
    pub fn kept_at(&self) -> Option<NaiveDateTime> {
        NaiveDateTime::parse_from_str(&self.stamp, STAMP_FORMAT).ok()
    }

    /// Why, as written in the name: `before-restore`, `before-save`.
    pub fn why(&self) -> &str {
        &self.why
    }

    /// The reason in words.
    pub fn reason(&self) -> String {
        match self.why.as_str() {
            "before-restore" => "the primary a restore or recovery replaced".to_string(),
            "before-save" => {
                "a primary that a save replaced (no backup held its bytes)".to_string()
            }
            "before-corrupt" => {
                "a primary the corruption simulator damaged (no backup held its bytes)".to_string()
            }
            other => format!("kept {}", other.replace('-', " ")),
        }
    }

    fn data_name(&self) -> String {
        format!("{self}{DATA_SUFFIX}")
    }

    fn meta_name(&self) -> String {
        format!("{self}{META_SUFFIX}")
    }
}

impl fmt::Display for EvidenceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.stamp, self.why)
    }
}

impl FromStr for EvidenceId {
    type Err = StoreError;

    /// Strict: a stamp `YYYYMMDD_HHMMSS_ffffff`, `-`, and a reason of
    /// lowercase letters and dashes, so an id never names another path.
    fn from_str(s: &str) -> Result<Self> {
        let invalid = || StoreError::InvalidBackupId {
            id: s.chars().take(80).collect(),
            reason: "an evidence id looks like 20251020_120000_000000-before-restore".to_string(),
        };
        if s.len() < STAMP_LEN + 2 || !s.is_char_boundary(STAMP_LEN) {
            return Err(invalid());
        }
        let (stamp, rest) = s.split_at(STAMP_LEN);
        let why = rest.strip_prefix('-').ok_or_else(invalid)?;
        let stamp_ok = NaiveDateTime::parse_from_str(stamp, STAMP_FORMAT).is_ok()
            && stamp.bytes().all(|b| b.is_ascii_digit() || b == b'_');
        let why_ok = !why.is_empty()
            && why.len() <= 40
            && !why.starts_with('-')
            && why.bytes().all(|b| b.is_ascii_lowercase() || b == b'-');
        if !stamp_ok || !why_ok {
            return Err(invalid());
        }
        Ok(EvidenceId {
            stamp: stamp.to_string(),
            why: why.to_string(),
        })
    }
}

impl Serialize for EvidenceId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One kept primary.
#[derive(Debug, Clone, Serialize)]
pub struct EvidenceItem {
    pub id: EvidenceId,
    pub kept_at: Option<NaiveDateTime>,
    /// Why it was kept, in words.
    pub reason: String,
    pub data_path: PathBuf,
    pub meta_path: Option<PathBuf>,
    /// `None` when only its meta is there (the primary was missing).
    pub size: Option<u64>,
    /// Its verification against the meta kept with it, when asked for.
    pub status: Option<Status>,
    pub status_reason: Option<String>,
    pub node_count: Option<usize>,
    pub edge_count: Option<usize>,
}

/// Result of [`Store::list_evidence`].
#[derive(Debug, Clone, Serialize)]
pub struct EvidenceListing {
    pub dir: PathBuf,
    /// Newest first.
    pub items: Vec<EvidenceItem>,
    pub total_size: u64,
}

/// What restoring kept evidence did, or would do.
#[derive(Debug, Clone, Serialize)]
pub struct EvidenceRestoreReport {
    pub evidence: EvidenceItem,
    pub dry_run: bool,
    /// The primary as it is now.
    pub previous_primary: FileReport,
    /// From the primary now to the evidence, when the primary parses.
    pub diff: Option<GraphDiff>,
    /// Why there is no diff, when there is none.
    pub no_diff: Option<String>,
    /// What happens to the primary being replaced.
    pub keeps: super::restore::KeptPrimary,
    pub node_count: usize,
    pub edge_count: usize,
    /// The backup the evidence was saved as before it was restored.
    pub backup_id: Option<BackupId>,
    /// The normal restore of that backup (absent on a dry run).
    pub restore: Option<RestoreReport>,
    pub elapsed_ms: f64,
}

impl Store {
    fn evidence_metas(&self, id: &EvidenceId) -> MetaSource {
        MetaSource {
            paths: vec![self.evidence_dir().join(id.meta_name())],
            pending: None,
            key: self.key.clone(),
        }
    }

    /// Every kept primary, newest first. With `depth`, each is verified
    /// against the meta kept with it (reads the files); without, only the
    /// directory is listed. Needs no lock.
    ///
    /// # Errors
    /// The evidence directory is not a plain directory or cannot be listed.
    pub fn list_evidence(&self, depth: Option<Depth>) -> Result<EvidenceListing> {
        let dir = self.evidence_dir();
        self.check_own_dir(&dir)?;
        let entries = match self.fs.read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(StoreError::io("list evidence", &dir, e)),
        };
        let mut found: std::collections::BTreeMap<EvidenceId, (Option<u64>, bool)> =
            std::collections::BTreeMap::new();
        for e in entries {
            if e.kind != EntryKind::File {
                continue;
            }
            let (stem, is_meta) = if let Some(s) = e.name.strip_suffix(META_SUFFIX) {
                (s, true)
            } else if let Some(s) = e.name.strip_suffix(DATA_SUFFIX) {
                (s, false)
            } else {
                continue;
            };
            let Ok(id) = stem.parse::<EvidenceId>() else {
                continue;
            };
            let slot = found.entry(id).or_insert((None, false));
            if is_meta {
                slot.1 = true;
            } else {
                slot.0 = Some(e.len);
            }
        }
        let mut items = Vec::new();
        for (id, (size, has_meta)) in found.into_iter().rev() {
            let data_path = dir.join(id.data_name());
            let mut item = EvidenceItem {
                kept_at: id.kept_at(),
                reason: id.reason(),
                meta_path: has_meta.then(|| dir.join(id.meta_name())),
                data_path,
                size,
                status: None,
                status_reason: None,
                node_count: None,
                edge_count: None,
                id,
            };
            if let Some(depth) = depth {
                let report = self.inspect_evidence(&item.id, depth, false).report;
                item.status = Some(report.status);
                item.status_reason = report.reason;
                item.node_count = report.node_count;
                item.edge_count = report.edge_count;
            }
            items.push(item);
        }
        Ok(EvidenceListing {
            total_size: items.iter().filter_map(|i| i.size).sum(),
            items,
            dir,
        })
    }

    fn inspect_evidence(&self, id: &EvidenceId, depth: Depth, keep: bool) -> verify::Inspection {
        verify::inspect(
            self,
            Target::Primary,
            &self.evidence_dir().join(id.data_name()),
            &self.evidence_metas(id),
            depth,
            keep,
        )
    }

    /// Puts kept evidence back as the primary through the normal restore:
    /// verified against its kept meta (refused unless valid, or, with
    /// `allow_unverified`, unverified or disagreeing with its kept meta
    /// while parsing as a consistent graph), saved as a new backup with its bytes
    /// unchanged, and that backup restored, so the primary it replaces is
    /// kept as evidence in turn. With `dry_run`, only the plan and the
    /// diff; nothing is written.
    ///
    /// # Errors
    /// An invalid or unknown id, evidence that fails verification, too
    /// little free space, the lock held elsewhere, or an I/O error; the
    /// message says what was left as it was.
    pub fn restore_evidence(
        &self,
        id: &str,
        options: RestoreOptions,
    ) -> Result<EvidenceRestoreReport> {
        let started = Instant::now();
        let id: EvidenceId = id.parse()?;
        let listing = self.list_evidence(None)?;
        let Some(mut item) = listing.items.into_iter().find(|i| i.id == id) else {
            return Err(StoreError::NoSuchBackup {
                id: id.to_string(),
                dir: self.evidence_dir(),
            });
        };
        let _guard = if options.dry_run {
            None
        } else {
            Some(self.lock()?)
        };
        let mut inspection = self.inspect_evidence(&id, Depth::Full, true);
        // The meta kept with a primary is whatever stood beside it, and the
        // application rewrites graph.json without touching its meta: a kept
        // primary that disagrees with its meta may be the only copy of the
        // newest work. Asked to accept what cannot be checked, judge its
        // bytes on their own (parse and consistency), as for no meta at all.
        if options.allow_unverified
            && inspection.report.status == Status::Corrupt
            && inspection.report.failed_level == Some(verify::Level::Checksum)
        {
            let disagreement = inspection.report.summary();
            let alone = MetaSource {
                paths: Vec::new(),
                pending: None,
                key: self.key.clone(),
            };
            inspection = verify::inspect(
                self,
                Target::Primary,
                &self.evidence_dir().join(id.data_name()),
                &alone,
                Depth::Full,
                true,
            );
            if inspection.report.status == Status::Unverified {
                inspection.report.reason = Some(format!(
                    "the meta kept with it does not describe it ({disagreement}), so nothing \
                     checks its bytes; it parses and is consistent"
                ));
            }
        }
        item.status = Some(inspection.report.status);
        item.status_reason = inspection.report.reason.clone();
        item.node_count = inspection.report.node_count;
        item.edge_count = inspection.report.edge_count;
        let acceptable = inspection.report.status == Status::Valid
            || (options.allow_unverified && inspection.report.status == Status::Unverified);
        let (Some(graph), Some(bytes), true) = (inspection.graph, inspection.bytes, acceptable)
        else {
            let hint = if inspection.report.failed_level == Some(verify::Level::Checksum) {
                "; if it is newer work beside a stale meta (the application rewrites graph.json \
                 without its meta), accept it as unverified to restore it: its bytes are then \
                 judged on their own"
            } else {
                ""
            };
            return Err(StoreError::VerifyFailed {
                path: inspection.report.path.clone(),
                reason: format!(
                    "restore of evidence {id} refused, the primary is unchanged: {}{hint}",
                    inspection.report.summary()
                ),
            });
        };
        let previous = self.inspect_target(&Target::Primary, Depth::Full, true);
        let (diff, no_diff) = self.diff_from_primary(&previous, &graph);
        let mut report = EvidenceRestoreReport {
            evidence: item,
            dry_run: options.dry_run,
            previous_primary: previous.report,
            diff,
            no_diff,
            keeps: self.kept_primary(),
            node_count: graph.node_count(),
            edge_count: graph.edge_count(),
            backup_id: None,
            restore: None,
            elapsed_ms: 0.0,
        };
        // Before the backup of the evidence is written (a restore that the
        // primary refuses must leave nothing behind), and in a dry run too,
        // which says what the real run would do.
        self.refuse_unreplaceable_primary("before-restore")?;
        if options.dry_run {
            report.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
            return Ok(report);
        }
        let size = bytes.len() as u64;
        self.require_space(
            "restore of evidence",
            size,
            size.saturating_mul(2),
            "nothing was written: graph.json, its meta, the backups and the evidence are unchanged",
        )?;
        let at = super::now();
        let meta = self.sign(Meta::for_data(
            verify::sha256_hex(&bytes),
            size,
            graph.node_count() as u64,
            graph.edge_count() as u64,
            &format!("evidence {id}"),
            at,
        ));
        let (backup_id, _, _) = self
            .write_backup_pair(&bytes, &meta, at)
            .map_err(|e| e.left("nothing was restored: graph.json and its meta are unchanged"))?;
        let backup = self
            .inspect_target(&Target::Backup(backup_id.clone()), Depth::Checksum, false)
            .report;
        if backup.status != Status::Valid {
            return Err(StoreError::VerifyFailed {
                path: backup.path.clone(),
                reason: format!(
                    "the backup {backup_id} made of evidence {id} reads back as {}; nothing was restored, graph.json is unchanged",
                    backup.summary()
                ),
            });
        }
        let restore = self
            .restore_verified(
                backup_id.clone(),
                backup,
                &graph,
                bytes,
                None,
                false,
                started,
            )
            .map_err(|e| e.left(format!("evidence {id} was saved as backup {backup_id}")))?;
        tracing::info!(evidence = %id, backup = %backup_id, "restored evidence as the primary");
        report.backup_id = Some(backup_id);
        report.restore = Some(restore);
        report.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_ids_are_strict() {
        let id: EvidenceId = "20251020_120000_000000-before-restore"
            .parse()
            .expect("valid");
        assert_eq!(id.to_string(), "20251020_120000_000000-before-restore");
        assert_eq!(id.why(), "before-restore");
        assert!(id.kept_at().is_some());
        for bad in [
            "",
            "20251020_120000_000000",
            "20251020_120000_000000-",
            "20251020_120000_000000-../x",
            "20251020_120000_000000-Before",
            "20251320_120000_000000-before-save",
            "../20251020_120000_000000-before-save",
        ] {
            assert!(
                bad.parse::<EvidenceId>().is_err(),
                "{bad:?} must be refused"
            );
        }
    }
}
