//! The verification ladder: file -> meta -> checksum -> parse -> consistency.
//!
//! The checksum step hashes bytes and never parses JSON. Each file ends with
//! one [`Status`]: valid, unverified (no usable meta, so nothing to compare
//! the bytes with, but the graph parses and is consistent), corrupt (with the
//! level and the exact reason) or missing.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::error::{Result, StoreError};
use super::fs::{self, Fs};
use super::graph::KnowledgeGraph;
use super::list::BackupInfo;
use super::meta::{self, Meta};
use super::names::BackupId;
use super::{MAX_GRAPH_LEN, Store};

/// One rung of the ladder, in the order they are climbed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// The data file exists, is a regular file, within the size limit.
    File,
    /// The meta exists and is readable JSON with a SHA-256 checksum.
    Meta,
    /// Size and SHA-256 of the bytes match the meta.
    Checksum,
    /// The bytes are JSON in the graph's shape.
    Parse,
    /// Ids unique, edge endpoints exist, counts match the meta.
    Consistency,
}

impl Level {
    pub const ALL: [Level; 5] = [
        Level::File,
        Level::Meta,
        Level::Checksum,
        Level::Parse,
        Level::Consistency,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Level::File => "file",
            Level::Meta => "meta",
            Level::Checksum => "checksum",
            Level::Parse => "parse",
            Level::Consistency => "consistency",
        }
    }
}

/// The verdict on one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Valid,
    Unverified,
    Corrupt,
    Missing,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Valid => "valid",
            Status::Unverified => "unverified",
            Status::Corrupt => "corrupt",
            Status::Missing => "missing",
        }
    }

    /// Whether the file's content can be trusted as a graph.
    pub fn is_usable(self) -> bool {
        matches!(self, Status::Valid | Status::Unverified)
    }
}

/// What happened at one level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    /// Passed with something worth saying (legacy zero counts, no meta).
    Warn,
    Fail,
    /// Not reached (an earlier level failed) or not asked for.
    Skipped,
}

/// One level's outcome and its explanation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LevelResult {
    pub level: Level,
    pub outcome: Outcome,
    pub detail: String,
}

/// How far up the ladder to climb.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Depth {
    /// File, meta and checksum only: bytes in, no JSON parsing.
    Checksum,
    /// Every level.
    #[default]
    Full,
}

/// What is verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Target {
    Primary,
    Backup(BackupId),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Primary => f.write_str("primary"),
            Target::Backup(id) => write!(f, "{id}"),
        }
    }
}

/// The result of verifying one file.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub target: Target,
    pub path: PathBuf,
    pub meta_path: Option<PathBuf>,
    pub status: Status,
    /// The level that failed, for corrupt and missing files.
    pub failed_level: Option<Level>,
    /// Why the status is not plain valid, in one sentence.
    pub reason: Option<String>,
    pub levels: Vec<LevelResult>,
    pub size: Option<u64>,
    pub expected_checksum: Option<String>,
    pub actual_checksum: Option<String>,
    pub node_count: Option<usize>,
    pub edge_count: Option<usize>,
    pub node_types: Vec<(String, usize)>,
    pub edge_types: Vec<(String, usize)>,
    pub warnings: Vec<String>,
    pub depth: Depth,
    pub verified_at: chrono::DateTime<chrono::Local>,
    pub elapsed_ms: f64,
}

impl FileReport {
    /// One line: status and, when not valid, the reason.
    pub fn summary(&self) -> String {
        match &self.reason {
            Some(r) => format!("{}: {r}", self.status.name()),
            None => self.status.name().to_string(),
        }
    }
}

/// Options of [`Store::verify_all`].
#[derive(Debug, Clone, Copy, Default)]
pub struct VerifyAllOptions {
    pub depth: Depth,
    /// Include the primary as the first result.
    pub include_primary: bool,
    /// Worker threads; 0 means one per core.
    pub threads: usize,
}

/// Progress of [`Store::verify_all`], sent after each file.
#[derive(Debug, Clone)]
pub struct VerifyProgress {
    pub done: usize,
    pub total: usize,
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub elapsed: std::time::Duration,
    /// The report of the file just finished.
    pub report: FileReport,
}

/// Result of [`Store::verify_all`].
#[derive(Debug, Clone, Serialize)]
pub struct VerifyAllReport {
    pub files: Vec<FileReport>,
    pub valid: usize,
    pub unverified: usize,
    pub corrupt: usize,
    pub missing: usize,
    pub cancelled: bool,
    pub bytes: u64,
    pub elapsed_ms: f64,
}

impl VerifyAllReport {
    /// Whether any file was found corrupt or missing.
    pub fn has_problems(&self) -> bool {
        self.corrupt + self.missing > 0
    }
}

/// Streams a file through SHA-256 with 1 MiB reads.
///
/// # Errors
/// I/O errors from opening or reading (NotFound passes through).
pub fn hash_file(fs: &dyn Fs, path: &Path, max_len: u64) -> std::io::Result<(String, u64)> {
    let fs::ReadFile { mut reader, .. } = fs.open_read(path, max_len)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex(&hasher.finalize()), total))
}

/// SHA-256 of bytes in memory, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// What the ladder found, plus what later steps can reuse.
pub(crate) struct Inspection {
    pub report: FileReport,
    pub graph: Option<KnowledgeGraph>,
    pub bytes: Option<Vec<u8>>,
    pub meta: Option<Meta>,
}

/// Where a file's meta may be, in order of preference.
pub(crate) struct MetaSource {
    pub paths: Vec<PathBuf>,
    /// A pending meta that may be the true one after an interrupted save.
    pub pending: Option<PathBuf>,
}

fn read_meta(
    fs: &dyn Fs,
    paths: &[PathBuf],
) -> (Option<PathBuf>, Option<std::result::Result<Meta, String>>) {
    for p in paths {
        match fs::read_file(fs, p, meta::MAX_META_LEN) {
            Ok(bytes) => {
                let parsed =
                    Meta::from_slice(&bytes).map_err(|e| format!("meta is not valid JSON: {e}"));
                return (Some(p.clone()), Some(parsed));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return (Some(p.clone()), Some(Err(format!("cannot read meta: {e}")))),
        }
    }
    (None, None)
}

/// Climbs the ladder for one file. `keep` asks to return the parsed graph
/// and the bytes for reuse (restore, recovery, diff).
pub(crate) fn inspect(
    fs: &dyn Fs,
    target: Target,
    path: &Path,
    metas: &MetaSource,
    depth: Depth,
    keep: bool,
) -> Inspection {
    let started = Instant::now();
    let mut levels: Vec<LevelResult> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    let mut report = FileReport {
        target,
        path: path.to_path_buf(),
        meta_path: None,
        status: Status::Valid,
        failed_level: None,
        reason: None,
        levels: Vec::new(),
        size: None,
        expected_checksum: None,
        actual_checksum: None,
        node_count: None,
        edge_count: None,
        node_types: Vec::new(),
        edge_types: Vec::new(),
        warnings: Vec::new(),
        depth,
        verified_at: super::now(),
        elapsed_ms: 0.0,
    };
    let mut out = Inspection {
        report: report.clone(),
        graph: None,
        bytes: None,
        meta: None,
    };

    let finish = |mut report: FileReport,
                  mut levels: Vec<LevelResult>,
                  warnings: Vec<String>,
                  status: Status,
                  failed: Option<(Level, String)>| {
        let reached: Vec<Level> = levels.iter().map(|l| l.level).collect();
        for level in Level::ALL {
            if !reached.contains(&level) {
                let detail = if depth == Depth::Checksum && level >= Level::Parse {
                    "not checked (checksum-only verification)"
                } else {
                    "not reached"
                };
                levels.push(LevelResult {
                    level,
                    outcome: Outcome::Skipped,
                    detail: detail.to_string(),
                });
            }
        }
        levels.sort_by_key(|l| l.level);
        report.status = status;
        if let Some((level, reason)) = failed {
            report.failed_level = Some(level);
            report.reason = Some(reason);
        }
        report.levels = levels;
        report.warnings = warnings;
        report.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
        report
    };

    // Level: file.
    let opened = fs.open_read(path, MAX_GRAPH_LEN);
    let (meta_path, meta_read) = read_meta(fs, &metas.paths);
    report.meta_path = meta_path.clone();
    let file = match opened {
        Ok(f) => {
            levels.push(LevelResult {
                level: Level::File,
                outcome: Outcome::Pass,
                detail: format!("regular file, {} bytes", f.len),
            });
            report.size = Some(f.len);
            f
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let reason = if meta_path.is_some() {
                "data file is missing (its meta is still there)".to_string()
            } else {
                "data file is missing".to_string()
            };
            levels.push(LevelResult {
                level: Level::File,
                outcome: Outcome::Fail,
                detail: reason.clone(),
            });
            out.report = finish(
                report,
                levels,
                warnings,
                Status::Missing,
                Some((Level::File, reason)),
            );
            return out;
        }
        Err(e) => {
            let reason = format!("cannot open: {e}");
            levels.push(LevelResult {
                level: Level::File,
                outcome: Outcome::Fail,
                detail: reason.clone(),
            });
            out.report = finish(
                report,
                levels,
                warnings,
                Status::Corrupt,
                Some((Level::File, reason)),
            );
            return out;
        }
    };

    // Level: meta.
    let mut meta_problem: Option<String> = None;
    let mut meta_value: Option<Meta> = None;
    match meta_read {
        None => meta_problem = Some("no meta file, so no checksum to compare".to_string()),
        Some(Err(why)) => meta_problem = Some(why),
        Some(Ok(m)) => {
            if m.sha256().is_some() {
                meta_value = Some(m);
            } else {
                meta_problem = Some(match &m.checksum {
                    None => "meta has no checksum".to_string(),
                    Some(c) => format!("meta checksum {c:?} is not a SHA-256 hex digest"),
                });
            }
        }
    }
    // A pending meta may be the real one after an interrupted save.
    let pending = metas
        .pending
        .as_ref()
        .and_then(|p| {
            fs::read_file(fs, p, meta::MAX_META_LEN)
                .ok()
                .map(|b| (p.clone(), b))
        })
        .and_then(|(p, b)| {
            Meta::from_slice(&b)
                .ok()
                .filter(|m| m.sha256().is_some())
                .map(|m| (p, m))
        });

    // Read the bytes once: the checksum step hashes them, later steps parse them.
    let need_bytes = depth == Depth::Full || keep;
    let (actual, bytes) = if need_bytes {
        let mut buf = Vec::with_capacity(usize::try_from(file.len).unwrap_or(0));
        let mut reader = file.reader;
        if let Err(e) = reader.read_to_end(&mut buf) {
            let reason = format!("read failed: {e}");
            levels.push(LevelResult {
                level: Level::File,
                outcome: Outcome::Fail,
                detail: reason.clone(),
            });
            out.report = finish(
                report,
                levels,
                warnings,
                Status::Corrupt,
                Some((Level::File, reason)),
            );
            return out;
        }
        (None, Some(buf))
    } else {
        match hash_reader(file.reader) {
            Ok(h) => (Some(h), None),
            Err(e) => {
                let reason = format!("read failed: {e}");
                levels.push(LevelResult {
                    level: Level::File,
                    outcome: Outcome::Fail,
                    detail: reason.clone(),
                });
                out.report = finish(
                    report,
                    levels,
                    warnings,
                    Status::Corrupt,
                    Some((Level::File, reason)),
                );
                return out;
            }
        }
    };

    // With the bytes in memory, hash on this thread while another parses.
    let mut parsed: Option<std::result::Result<KnowledgeGraph, super::graph::GraphError>> = None;
    let actual = match (actual, &bytes) {
        (Some(a), _) => a,
        (None, Some(b)) => {
            if depth == Depth::Full {
                std::thread::scope(|s| {
                    let parser = s.spawn(|| KnowledgeGraph::from_slice(b));
                    let digest = sha256_hex(b);
                    match parser.join() {
                        Ok(p) => parsed = Some(p),
                        // A panic in the parser is a bug, not a verdict on
                        // the file; parse again here so it surfaces.
                        Err(_) => parsed = Some(KnowledgeGraph::from_slice(b)),
                    }
                    digest
                })
            } else {
                sha256_hex(b)
            }
        }
        (None, None) => String::new(),
    };
    report.actual_checksum = Some(actual.clone());

    let mut status = Status::Valid;
    match (&meta_value, &meta_problem) {
        (Some(m), _) => {
            levels.push(LevelResult {
                level: Level::Meta,
                outcome: Outcome::Pass,
                detail: format!(
                    "{} ({})",
                    meta_path
                        .as_ref()
                        .and_then(|p| p.file_name())
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    m.saved_by.as_deref().unwrap_or("unknown writer")
                ),
            });
        }
        (None, Some(problem)) => {
            // No usable meta: the file may still be a good graph. Never call
            // it corrupt for that alone.
            if let Some((p, pm)) = &pending
                && pm.sha256() == Some(actual.as_str())
            {
                warnings.push(format!(
                    "{problem}; the pending meta {} matches (an interrupted save): it is completed on the next write",
                    p.display()
                ));
                meta_value = Some(pm.clone());
                report.meta_path = Some(p.clone());
            }
            if meta_value.is_none() {
                levels.push(LevelResult {
                    level: Level::Meta,
                    outcome: Outcome::Warn,
                    detail: problem.clone(),
                });
                status = Status::Unverified;
            } else {
                levels.push(LevelResult {
                    level: Level::Meta,
                    outcome: Outcome::Warn,
                    detail: "pending meta of an interrupted save".to_string(),
                });
            }
        }
        (None, None) => {}
    }

    // Level: checksum (bytes only, no parsing).
    if let Some(m) = &meta_value {
        let expected = m.sha256().unwrap_or_default().to_ascii_lowercase();
        report.expected_checksum = Some(expected.clone());
        let size = report.size.unwrap_or(0);
        let size_problem = m
            .size
            .filter(|&s| s != size)
            .map(|s| format!("size is {size} bytes, meta says {s}"));
        let mut pass = size_problem.is_none() && expected == actual;
        let mut detail = match &size_problem {
            Some(p) => p.clone(),
            None if pass => format!("sha256 {}…", &actual[..12.min(actual.len())]),
            None => format!(
                "checksum mismatch: meta says sha256 {expected}, the file hashes to {actual}"
            ),
        };
        // A stale meta beside a graph that a pending meta describes is an
        // interrupted save, not corruption.
        if !pass
            && let Some((p, pm)) = &pending
            && pm.sha256() == Some(actual.as_str())
        {
            pass = true;
            warnings.push(format!(
                "graph.json.meta is stale but the pending meta {} matches (an interrupted save): it is completed on the next write",
                p.display()
            ));
            report.expected_checksum = Some(actual.clone());
            detail = format!("sha256 {}… (pending meta)", &actual[..12.min(actual.len())]);
            meta_value = Some(pm.clone());
        }
        #[cfg(feature = "negative-controls")]
        if negative_controls::skip_checksum() {
            pass = true;
        }
        if !pass {
            levels.push(LevelResult {
                level: Level::Checksum,
                outcome: Outcome::Fail,
                detail: detail.clone(),
            });
            out.report = finish(
                report,
                levels,
                warnings,
                Status::Corrupt,
                Some((Level::Checksum, detail)),
            );
            out.meta = meta_value;
            return out;
        }
        levels.push(LevelResult {
            level: Level::Checksum,
            outcome: Outcome::Pass,
            detail,
        });
    } else {
        levels.push(LevelResult {
            level: Level::Checksum,
            outcome: Outcome::Skipped,
            detail: "no checksum to compare".to_string(),
        });
    }
    out.meta = meta_value.clone();

    if depth == Depth::Checksum {
        if status == Status::Unverified {
            let reason = meta_problem.unwrap_or_default();
            out.report = finish(
                report,
                levels,
                warnings,
                Status::Unverified,
                Some((Level::Meta, reason)),
            );
            out.report.failed_level = None;
        } else {
            out.report = finish(report, levels, warnings, status, None);
        }
        out.bytes = bytes.filter(|_| keep);
        return out;
    }

    // Level: parse.
    let Some(bytes) = bytes else {
        out.report = finish(report, levels, warnings, status, None);
        return out;
    };
    let graph = match parsed.unwrap_or_else(|| KnowledgeGraph::from_slice(&bytes)) {
        Ok(g) => {
            levels.push(LevelResult {
                level: Level::Parse,
                outcome: Outcome::Pass,
                detail: format!(
                    "version {}, {} nodes, {} edges",
                    g.version(),
                    g.node_count(),
                    g.edge_count()
                ),
            });
            g
        }
        Err(e) => {
            let reason = format!("not a valid graph: {e}");
            levels.push(LevelResult {
                level: Level::Parse,
                outcome: Outcome::Fail,
                detail: reason.clone(),
            });
            out.report = finish(
                report,
                levels,
                warnings,
                Status::Corrupt,
                Some((Level::Parse, reason)),
            );
            return out;
        }
    };
    report.node_count = Some(graph.node_count());
    report.edge_count = Some(graph.edge_count());
    let stats = graph.stats();
    report.node_types = stats.node_types.clone();
    report.edge_types = stats.edge_types.clone();

    // Level: consistency.
    let consistency = graph.check_consistency();
    let mut problems = consistency.problems.clone();
    warnings.extend(consistency.warnings.iter().cloned());
    if let Some(m) = &meta_value {
        if m.counts_are_legacy_zero() {
            warnings.push(
                "meta counts are 0/0 as the application's last versions wrote them: not compared"
                    .to_string(),
            );
        } else {
            if let Some(n) = m.node_count
                && n != graph.node_count() as u64
            {
                problems.push(format!(
                    "meta says {n} nodes, the graph has {}",
                    graph.node_count()
                ));
            }
            if let Some(n) = m.edge_count
                && n != graph.edge_count() as u64
            {
                problems.push(format!(
                    "meta says {n} edges, the graph has {}",
                    graph.edge_count()
                ));
            }
        }
    }
    if problems.is_empty() {
        levels.push(LevelResult {
            level: Level::Consistency,
            outcome: if consistency.warnings.is_empty() {
                Outcome::Pass
            } else {
                Outcome::Warn
            },
            detail: if consistency.warnings.is_empty() {
                "ids unique, every edge's endpoints exist".to_string()
            } else {
                format!("consistent, {} warning(s)", consistency.warnings.len())
            },
        });
    } else {
        let reason = problems.join("; ");
        levels.push(LevelResult {
            level: Level::Consistency,
            outcome: Outcome::Fail,
            detail: reason.clone(),
        });
        out.report = finish(
            report,
            levels,
            warnings,
            Status::Corrupt,
            Some((Level::Consistency, reason)),
        );
        return out;
    }

    let reason = (status == Status::Unverified).then(|| meta_problem.unwrap_or_default());
    out.report = finish(report, levels, warnings, status, None);
    out.report.reason = reason;
    if keep {
        out.graph = Some(graph);
        out.bytes = Some(bytes);
    }
    out
}

fn hash_reader(mut reader: Box<dyn Read + Send>) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(hex(&hasher.finalize()))
}

impl Store {
    pub(crate) fn primary_metas(&self) -> MetaSource {
        MetaSource {
            paths: vec![self.primary_meta_path()],
            pending: Some(self.pending_meta_path()),
        }
    }

    pub(crate) fn backup_metas(&self, id: &BackupId) -> MetaSource {
        let dir = self.backups_dir();
        MetaSource {
            paths: vec![
                dir.join(id.meta_file_name()),
                dir.join(id.alt_meta_file_name()),
            ],
            pending: None,
        }
    }

    pub(crate) fn inspect_target(&self, target: &Target, depth: Depth, keep: bool) -> Inspection {
        match target {
            Target::Primary => inspect(
                &*self.fs,
                Target::Primary,
                &self.primary_path(),
                &self.primary_metas(),
                depth,
                keep,
            ),
            Target::Backup(id) => inspect(
                &*self.fs,
                target.clone(),
                &self.backup_data_path(id),
                &self.backup_metas(id),
                depth,
                keep,
            ),
        }
    }

    /// Verifies the primary or one backup. Reads only; needs no lock.
    ///
    /// # Errors
    /// [`StoreError::NoSuchBackup`] when neither the data file nor a meta of
    /// that backup exists.
    pub fn verify(&self, target: &Target, depth: Depth) -> Result<FileReport> {
        if let Target::Backup(id) = target {
            self.require_backup(id)?;
        }
        let report = self.inspect_target(target, depth, false).report;
        log_report(&report);
        Ok(report)
    }

    /// Fails unless some file of backup `id` exists.
    pub(crate) fn require_backup(&self, id: &BackupId) -> Result<()> {
        let dir = self.backups_dir();
        let any = [
            id.data_file_name(),
            id.meta_file_name(),
            id.alt_meta_file_name(),
        ]
        .iter()
        .any(|n| self.fs.entry(&dir.join(n)).is_ok());
        if any {
            Ok(())
        } else {
            Err(StoreError::NoSuchBackup {
                id: id.to_string(),
                dir,
            })
        }
    }

    /// Verifies every backup (and the primary if asked), newest first, on
    /// one worker per core. `progress` is called after each file from the
    /// worker threads; `cancel` stops it between files.
    ///
    /// # Errors
    /// Listing `backups/` failed.
    pub fn verify_all(
        &self,
        options: VerifyAllOptions,
        cancel: &AtomicBool,
        progress: &(dyn Fn(VerifyProgress) + Sync),
    ) -> Result<VerifyAllReport> {
        let listing = self.list_backups()?;
        let mut targets: Vec<(Target, u64)> = Vec::new();
        if options.include_primary {
            let size = self
                .fs
                .entry(&self.primary_path())
                .map(|e| e.len)
                .unwrap_or(0);
            targets.push((Target::Primary, size));
        }
        targets.extend(
            listing
                .backups
                .iter()
                .map(|b: &BackupInfo| (Target::Backup(b.id.clone()), b.size.unwrap_or(0))),
        );
        self.verify_targets(&targets, options, cancel, progress)
    }

    fn verify_targets(
        &self,
        targets: &[(Target, u64)],
        options: VerifyAllOptions,
        cancel: &AtomicBool,
        progress: &(dyn Fn(VerifyProgress) + Sync),
    ) -> Result<VerifyAllReport> {
        let started = Instant::now();
        let bytes_total: u64 = targets.iter().map(|t| t.1).sum();
        let threads = match options.threads {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            n => n,
        }
        .clamp(1, targets.len().max(1));
        let next = AtomicUsize::new(0);
        let done = AtomicUsize::new(0);
        let bytes_done = std::sync::atomic::AtomicU64::new(0);
        let results: Mutex<Vec<Option<FileReport>>> = Mutex::new(vec![None; targets.len()]);
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    loop {
                        if cancel.load(Ordering::Relaxed) {
                            break;
                        }
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some((target, size)) = targets.get(i) else {
                            break;
                        };
                        let report = self.inspect_target(target, options.depth, false).report;
                        log_report(&report);
                        let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                        let b = bytes_done.fetch_add(*size, Ordering::Relaxed) + size;
                        if let Ok(mut r) = results.lock() {
                            r[i] = Some(report.clone());
                        }
                        progress(VerifyProgress {
                            done: d,
                            total: targets.len(),
                            bytes_done: b,
                            bytes_total,
                            elapsed: started.elapsed(),
                            report,
                        });
                    }
                });
            }
        });
        let files: Vec<FileReport> = results
            .into_inner()
            .unwrap_or_default()
            .into_iter()
            .flatten()
            .collect();
        let count = |s: Status| files.iter().filter(|f| f.status == s).count();
        let report = VerifyAllReport {
            valid: count(Status::Valid),
            unverified: count(Status::Unverified),
            corrupt: count(Status::Corrupt),
            missing: count(Status::Missing),
            cancelled: files.len() < targets.len(),
            bytes: bytes_done.load(Ordering::Relaxed),
            elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
            files,
        };
        tracing::info!(
            valid = report.valid,
            unverified = report.unverified,
            corrupt = report.corrupt,
            missing = report.missing,
            cancelled = report.cancelled,
            elapsed_ms = report.elapsed_ms,
            "verified all"
        );
        Ok(report)
    }
}

fn log_report(report: &FileReport) {
    match report.status {
        Status::Valid => {
            tracing::info!(target_file = %report.target, path = %report.path.display(), checksum = report.actual_checksum.as_deref().unwrap_or(""), "verified: valid")
        }
        Status::Unverified => {
            tracing::warn!(target_file = %report.target, path = %report.path.display(), reason = report.reason.as_deref().unwrap_or(""), "verified: unverified")
        }
        Status::Corrupt | Status::Missing => {
            tracing::warn!(target_file = %report.target, path = %report.path.display(), status = report.status.name(), reason = report.reason.as_deref().unwrap_or(""), "verification failed")
        }
    }
}

#[cfg(feature = "negative-controls")]
pub mod negative_controls {
    //! Test-only switches that break detectors on purpose so the suites can
    //! show they catch a broken implementation. Compiled only with the
    //! `negative-controls` feature, never in a default or release build.
    //! Thread-local, so a weakened detector affects only the test that asks.
    use std::cell::Cell;
    thread_local! {
        static SKIP_CHECKSUM: Cell<bool> = const { Cell::new(false) };
    }
    /// Makes the checksum level pass whatever the bytes are, on this thread.
    pub fn set_skip_checksum(on: bool) {
        SKIP_CHECKSUM.with(|c| c.set(on));
    }
    pub(crate) fn skip_checksum() -> bool {
        SKIP_CHECKSUM.with(Cell::get)
    }
}
