//! The verification ladder: file -> meta -> checksum -> parse -> consistency.
//!
//! The checksum step hashes bytes and never parses JSON. Each file ends with
//! one [`Status`]: valid, unverified (no usable meta, so nothing to compare
//! the bytes with, but the graph parses and is consistent), corrupt (with the
//! level and the exact reason) or missing.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use serde::Serialize;

use super::codec::{self, StoredForm};
use super::digest::hash_reader;
pub(crate) use super::digest::hex;
pub use super::digest::sha256_hex;
use super::error::{Result, StoreError};
use super::fs::{self, Fs};
use super::list::BackupInfo;
use super::memo::MemoEntry;
use super::meta::{self, Meta};
use super::names::BackupId;
use super::{MAX_GRAPH_LEN, Store};
use crate::graph::KnowledgeGraph;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
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

impl Target {
    /// The backup's id; `None` for the primary.
    pub fn backup_id(&self) -> Option<&BackupId> {
        match self {
            Target::Backup(id) => Some(id),
            Target::Primary => None,
        }
    }
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
    /// With a key configured: whether the meta's HMAC proved the file
    /// authentic (`Some(true)`) or the meta carries none (`Some(false)`).
    /// `None` without a key, or when the checksum step was not passed.
    pub authenticated: Option<bool>,
    /// The verdict rests on a read that failed (permission, I/O error, a
    /// meta that is a symlink or not a regular file): the file could not be
    /// judged, which says nothing about its bytes.
    pub unreadable: bool,
    pub depth: Depth,
    /// When the parse and consistency levels were taken from the memo of
    /// verified content: when that content was parsed (RFC 3339). `None`
    /// when this run parsed it, or did not get that far.
    pub memo_verified_at: Option<String>,
    pub verified_at: chrono::DateTime<chrono::Local>,
    pub elapsed_ms: f64,
}

impl FileReport {
    /// One line: status and, when not valid, the reason.
    pub fn summary(&self) -> String {
        match &self.reason {
            Some(r) => format!("{}: {r}", self.word()),
            None => self.word().to_string(),
        }
    }

    /// The verdict in one word. A file whose read failed (permission, an I/O error)
    /// fails like a corrupt one, since nothing vouches for it, but is called
    /// "unreadable": nothing was learned about its bytes, and retention keeps it as
    /// "could not be judged".
    pub fn word(&self) -> &'static str {
        if self.failed_unread() {
            "unreadable"
        } else {
            self.status.name()
        }
    }

    /// Whether it failed because its read failed, not because of what it holds.
    pub fn failed_unread(&self) -> bool {
        self.unreadable && self.status == Status::Corrupt
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
    let file = fs.open_read(path, max_len)?;
    hash_reader(file)
}

/// What the ladder found, plus what later steps can reuse.
pub(crate) struct Inspection {
    pub report: FileReport,
    /// With `keep`: the parsed graph of a usable file, or of a file that
    /// failed only its checksum but still parses (callers check the
    /// status before trusting it).
    pub graph: Option<KnowledgeGraph>,
    pub bytes: Option<Vec<u8>>,
    pub meta: Option<Meta>,
}

/// Where a file's meta may be, in order of preference.
pub(crate) struct MetaSource {
    pub paths: Vec<PathBuf>,
    /// A pending meta that may be the true one after an interrupted save.
    pub pending: Option<PathBuf>,
    /// The store's HMAC key, when one is configured.
    pub key: Option<std::sync::Arc<super::auth::Key>>,
}

/// Why no usable meta was found: in words, and whether it is because a
/// read failed (then nothing about the file could be judged).
pub(crate) struct MetaProblem {
    pub text: String,
    pub unreadable: bool,
    /// The meta says two things (a key twice, or two metas of one backup
    /// that disagree): it is corrupt, never taken at one of its words.
    pub ambiguous: bool,
}

fn read_meta(
    fs: &dyn Fs,
    paths: &[PathBuf],
) -> (
    Option<PathBuf>,
    Option<std::result::Result<Meta, MetaProblem>>,
) {
    for (i, p) in paths.iter().enumerate() {
        match fs::read_file(fs, p, meta::MAX_META_LEN) {
            Ok(bytes) => {
                let ambiguous = meta::ambiguity(&bytes);
                let parsed = Meta::from_slice(&bytes)
                    .map_err(|e| MetaProblem {
                        text: match &ambiguous {
                            Some(why) => format!("meta is corrupt: {why}"),
                            None => format!("meta is not valid JSON: {e}"),
                        },
                        unreadable: false,
                        ambiguous: ambiguous.is_some(),
                    })
                    .and_then(|m| disagreeing_meta(fs, p, &m, &paths[i + 1..]).map(|()| m));
                return (Some(p.clone()), Some(parsed));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            // Permission denied, an I/O error, a symlink, a FIFO, a meta
            // over the size limit: the meta says nothing either way, and
            // the backup must not be judged as if it had none.
            Err(e) => {
                return (
                    Some(p.clone()),
                    Some(Err(MetaProblem {
                        text: format!("cannot read meta: {e}"),
                        unreadable: true,
                        ambiguous: false,
                    })),
                );
            }
        }
    }
    (None, None)
}

/// A backup's meta may be under two names (the application's `.meta` and
/// the `.json.meta` its own tool looked for). When another one is there and
/// says something else (another checksum, or a key twice), the two are
/// ambiguous: which one describes the data is not for graphvault to guess.
/// One that cannot be read or is not JSON says nothing, and is ignored.
fn disagreeing_meta(
    fs: &dyn Fs,
    first_path: &Path,
    first: &Meta,
    others: &[PathBuf],
) -> std::result::Result<(), MetaProblem> {
    let name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    for other in others {
        let Ok(bytes) = fs::read_file(fs, other, meta::MAX_META_LEN) else {
            continue;
        };
        if let Some(why) = meta::ambiguity(&bytes) {
            return Err(MetaProblem {
                text: format!("meta is corrupt: {}: {why}", name(other)),
                unreadable: false,
                ambiguous: true,
            });
        }
        let why = match Meta::from_slice(&bytes) {
            Ok(m) if m.checksum == first.checksum => continue,
            Ok(m) => format!(
                "{} says checksum {:?}, {} says {:?}",
                name(first_path),
                first.checksum.as_deref().unwrap_or("none"),
                name(other),
                m.checksum.as_deref().unwrap_or("none")
            ),
            Err(_) => continue,
        };
        return Err(MetaProblem {
            text: format!("meta is corrupt: two metas of this file disagree ({why})"),
            unreadable: false,
            ambiguous: true,
        });
    }
    Ok(())
}

/// The rungs climbed so far for one file; ends in a [`FileReport`].
struct Ladder {
    report: FileReport,
    levels: Vec<LevelResult>,
    warnings: Vec<String>,
    started: Instant,
}

impl Ladder {
    fn record(&mut self, level: Level, outcome: Outcome, detail: impl Into<String>) {
        self.levels.push(LevelResult {
            level,
            outcome,
            detail: detail.into(),
        });
    }

    /// Closes the report: levels not reached are marked skipped, and the
    /// status and failure (if any) are set.
    fn finish(mut self, status: Status, failed: Option<(Level, String)>) -> FileReport {
        let depth = self.report.depth;
        for level in Level::ALL {
            if !self.levels.iter().any(|l| l.level == level) {
                let detail = if depth == Depth::Checksum && level >= Level::Parse {
                    "not checked (checksum-only verification)"
                } else {
                    "not reached"
                };
                self.record(level, Outcome::Skipped, detail);
            }
        }
        self.levels.sort_by_key(|l| l.level);
        self.report.status = status;
        if let Some((level, reason)) = failed {
            self.report.failed_level = Some(level);
            self.report.reason = Some(reason);
        }
        self.report.levels = self.levels;
        self.report.warnings = self.warnings;
        self.report.elapsed_ms = self.started.elapsed().as_secs_f64() * 1e3;
        self.report
    }

    /// Fails at `level` as corrupt, replacing what that level recorded.
    fn fail_replacing(mut self, level: Level, reason: String) -> FileReport {
        self.levels.retain(|l| l.level != level);
        self.fail(level, Status::Corrupt, reason)
    }

    /// Records a failure at `level` and closes the report with `status`.
    fn fail(mut self, level: Level, status: Status, reason: String) -> FileReport {
        self.record(level, Outcome::Fail, reason.clone());
        self.finish(status, Some((level, reason)))
    }
}

/// Reads the first meta of `metas` that exists: its path, and the parsed
/// meta or why it is unusable. `None` when there is no meta at all.
pub(crate) fn read_usable_meta(
    fs: &dyn Fs,
    metas: &MetaSource,
) -> (Option<PathBuf>, std::result::Result<Meta, MetaProblem>) {
    let (path, read) = read_meta(fs, &metas.paths);
    let judged = |text: String| MetaProblem {
        text,
        unreadable: false,
        ambiguous: false,
    };
    let meta = match read {
        None => Err(judged(
            "no meta file, so no checksum to compare".to_string(),
        )),
        Some(Err(why)) => Err(why),
        Some(Ok(m)) if m.sha256().is_some() => Ok(m),
        Some(Ok(m)) => Err(judged(match &m.checksum {
            None => "meta has no checksum".to_string(),
            Some(c) => format!("meta checksum {c:?} is not a SHA-256 hex digest"),
        })),
    };
    (path, meta)
}

/// Above this size, a file whose meta records no size is hashed by
/// streaming before it is read into memory for the parse.
const STREAM_FIRST_LEN: u64 = 256 << 20;

/// Bytes of file content that all verification workers of this process may
/// hold in memory at once (parses add their own, a bounded multiple).
const READ_BUDGET_BYTES: u64 = 1 << 30;

static READ_BUDGET: ReadBudget = ReadBudget {
    in_use: Mutex::new(0),
    freed: std::sync::Condvar::new(),
};

/// A budget of in-memory file bytes shared by the verification workers, so
/// that N workers reading N large files never hold N times the largest. A
/// file larger than the whole budget waits until it can hold all of it: it
/// is read alone, never refused.
struct ReadBudget {
    in_use: Mutex<u64>,
    freed: std::sync::Condvar,
}

/// What one reader holds of the [`ReadBudget`], given back when dropped.
struct BudgetPermit(u64);

impl ReadBudget {
    fn acquire(&'static self, len: u64) -> BudgetPermit {
        let want = len.min(READ_BUDGET_BYTES);
        let mut in_use = self.in_use.lock().unwrap_or_else(|p| p.into_inner());
        while *in_use + want > READ_BUDGET_BYTES {
            in_use = self.freed.wait(in_use).unwrap_or_else(|p| p.into_inner());
        }
        *in_use += want;
        BudgetPermit(want)
    }
}

impl Drop for BudgetPermit {
    fn drop(&mut self) {
        let mut in_use = READ_BUDGET.in_use.lock().unwrap_or_else(|p| p.into_inner());
        *in_use = in_use.saturating_sub(self.0);
        READ_BUDGET.freed.notify_all();
    }
}

/// The pending meta of an interrupted save, when there is a usable one.
fn read_pending(fs: &dyn Fs, metas: &MetaSource) -> Option<(PathBuf, Meta)> {
    let path = metas.pending.as_ref()?;
    let bytes = fs::read_file(fs, path, meta::MAX_META_LEN).ok()?;
    let meta = Meta::from_slice(&bytes)
        .ok()
        .filter(|m| m.sha256().is_some())?;
    Some((path.clone(), meta))
}

/// What an inspection hands back beside its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keep {
    /// The report only.
    No,
    /// The bytes that were verified (a restore writes them, recovery keeps
    /// them as evidence); the parse level may come from the memo, so there
    /// may be no graph.
    Bytes,
    /// The bytes and the parsed graph (a diff, a node browser).
    Graph,
}

impl Keep {
    fn bytes(self) -> bool {
        self != Keep::No
    }
    fn graph(self) -> bool {
        self == Keep::Graph
    }
}

/// Climbs the ladder for one file. `keep` asks to return the parsed graph
/// and the bytes for reuse (restore, recovery, diff).
pub(crate) fn inspect(
    store: &Store,
    target: Target,
    path: &Path,
    metas: &MetaSource,
    depth: Depth,
    keep: bool,
) -> Inspection {
    let keep = if keep { Keep::Graph } else { Keep::No };
    inspect_keeping(store, target, path, metas, depth, keep)
}

/// [`inspect`], saying what to keep.
pub(crate) fn inspect_keeping(
    store: &Store,
    target: Target,
    path: &Path,
    metas: &MetaSource,
    depth: Depth,
    keep: Keep,
) -> Inspection {
    let mut ladder = Ladder {
        report: FileReport {
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
            authenticated: None,
            unreadable: false,
            depth,
            memo_verified_at: None,
            verified_at: super::now(),
            elapsed_ms: 0.0,
        },
        levels: Vec::new(),
        warnings: Vec::new(),
        started: Instant::now(),
    };
    let mut out = Inspection {
        report: ladder.report.clone(),
        graph: None,
        bytes: None,
        meta: None,
    };
    let fs = store.fs();

    // Level: file. A compressed file is opened through its decoder (the
    // one way to a backup's plain bytes, see `codec`): what follows reads
    // plain JSON, and `len` is its plain size.
    let form = StoredForm::of_path(path);
    let (meta_path, meta_read) = read_usable_meta(fs, metas);
    ladder.report.meta_path = meta_path.clone();
    let stored = match form {
        StoredForm::Plain => None,
        StoredForm::Zstd | StoredForm::Delta => Some(hash_file(fs, path, MAX_GRAPH_LEN)),
    };
    let opened = codec::open_plain(fs, path, MAX_GRAPH_LEN);
    // A delta is read through its base, which is checked first: a base
    // that is missing, corrupt or not the content the delta was made
    // against makes the delta unreadable, and the ladder names the base.
    if let Err(e) = &opened
        && codec::is_base_problem(e)
    {
        out.meta = meta_read.ok();
        out.report = ladder.fail(Level::File, Status::Corrupt, e.to_string());
        return out;
    }
    // The stored bytes against the meta's stored checksum, before any
    // decompression: a damaged compressed file is caught here, at the
    // checksum level, as a scrub of stored bytes would catch it.
    // The plain checksum a matching stored checksum proves: the frame was
    // proven to decode to the meta's checksum before it was written, and
    // decoding is deterministic, so bytes equal to the stored ones hold
    // that JSON. A check that needs no parse is then done without
    // decompressing.
    let mut stored_proof: Option<String> = None;
    if let Some(Ok((stored_sha, stored_len))) = &stored {
        ladder.record(
            Level::File,
            Outcome::Pass,
            format!("zstd frame, {stored_len} bytes stored"),
        );
        // The stored fields describe the file of the meta's
        // `stored_format` only: while a conversion is under way the file
        // read first may be the other one (see `compact`), and it is then
        // judged by its plain checksum alone.
        if let Ok(m) = &meta_read
            && m.stored_format.as_deref() == Some(form.name())
            && let Some(expected) = m.stored_sha256()
        {
            let expected = expected.to_ascii_lowercase();
            let mismatch = match m.stored_size.filter(|s| s != stored_len) {
                Some(s) => Some(format!(
                    "stored file is {stored_len} bytes, meta says {s} (the compressed file is damaged or was replaced; not decompressed)"
                )),
                None if &expected != stored_sha => Some(format!(
                    "stored checksum mismatch: meta says the compressed file has sha256 {expected}, it hashes to {stored_sha} (damaged; not decompressed)"
                )),
                None => None,
            };
            #[cfg(feature = "negative-controls")]
            let mismatch = mismatch.filter(|_| !super::negative_controls::skip_stored_checksum());
            if let Some(reason) = mismatch {
                ladder.record(Level::Meta, Outcome::Pass, "stored checksum recorded");
                ladder.report.expected_checksum = m.sha256().map(str::to_string);
                out.meta = Some(m.clone());
                out.report = ladder.fail(Level::Checksum, Status::Corrupt, reason);
                return out;
            }
            if m.stored_size.is_some() && &expected == stored_sha {
                stored_proof = m.sha256().map(str::to_ascii_lowercase);
            }
        }
    }
    let file = match opened {
        Ok(f) => {
            if form == StoredForm::Plain {
                ladder.record(
                    Level::File,
                    Outcome::Pass,
                    format!("regular file, {} bytes", f.len),
                );
            } else if let Some(last) = ladder.levels.last_mut() {
                last.detail.push_str(&format!(", {} bytes of JSON", f.len));
            }
            ladder.report.size = Some(f.len);
            f
        }
        Err(e) if codec::is_damaged_frame(&e) => {
            out.meta = meta_read.ok();
            out.report = ladder.fail(Level::Checksum, Status::Corrupt, e.to_string());
            return out;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let reason = if meta_path.is_some() {
                "data file is missing (its meta is still there)"
            } else {
                "data file is missing"
            };
            // What the meta says the file held stays known: recovery
            // compares it with what it restores ("lost: nothing" when equal).
            out.meta = meta_read.ok();
            out.report = ladder.fail(Level::File, Status::Missing, reason.to_string());
            return out;
        }
        Err(e) => {
            // A file that is not a regular file (InvalidInput) was judged; a
            // failed open (permission, I/O) was not.
            ladder.report.unreadable = e.kind() != std::io::ErrorKind::InvalidInput;
            ladder.levels.retain(|l| l.level != Level::File);
            out.meta = meta_read.ok();
            out.report = ladder.fail(Level::File, Status::Corrupt, format!("cannot open: {e}"));
            return out;
        }
    };

    // Content the memo has proven needs only its hash: the parse level is
    // taken from the memo once the bytes hash to the proven checksum. A
    // caller that keeps the graph needs the parse anyway.
    let memo_hit = match (&meta_read, depth) {
        (Ok(m), Depth::Full) if !keep.graph() => {
            m.sha256().and_then(|sha| store.memo_lookup(sha, file.len))
        }
        _ => None,
    };

    // What the metas say of the size decides how much to read. A file whose
    // size differs from its meta's (and from a pending meta's) cannot match
    // its checksum: it is judged without reading a byte, so a planted sparse
    // file of gigabytes costs a stat. A large file whose meta records no
    // size (the application's metas) is hashed by streaming first and read
    // into memory for the parse only when its checksum matches.
    let pending_raw = read_pending(fs, metas);
    let meta_size = meta_read.as_ref().ok().and_then(|m| m.size);
    let size_cannot_match = meta_size.is_some_and(|s| s != file.len)
        && pending_raw
            .as_ref()
            .is_none_or(|(_, pm)| pm.size.is_some_and(|s| s != file.len));
    let stream_first = meta_read.is_ok()
        && meta_size.is_none()
        && file.len > STREAM_FIRST_LEN
        && pending_raw.is_none();
    let in_memory = keep.bytes() || (depth == Depth::Full && memo_hit.is_none() && !stream_first);

    // A hole (a sparse file's range never written) reads as zero bytes, and
    // no graph's JSON holds a zero byte: one byte read proves the file
    // corrupt, where hashing it would read gigabytes of zeros.
    if (!size_cannot_match || keep.bytes())
        && form == StoredForm::Plain
        && let Some(hole) = fs.first_hole(path)
        && fs
            .read_at(path, hole, 1, MAX_GRAPH_LEN)
            .is_ok_and(|b| b == [0])
    {
        out.meta = meta_read.ok();
        out.report = ladder.fail_replacing(
            Level::File,
            format!(
                "sparse file: a hole at byte {hole} of {} reads as zero bytes, which a graph's JSON never holds (not read further)",
                file.len
            ),
        );
        return out;
    }

    // Read the bytes once when they are needed beyond the checksum: the
    // checksum step hashes them and the parse step reuses them. Otherwise
    // stream them through the hash.
    // Permits of the read budget, held while the bytes are in memory.
    let mut held = Vec::new();
    // Kept bytes of a plain file are evidence; a compressed file whose frame
    // says it holds another size than its meta's is not decoded at all
    // (damage, or a frame made to inflate to gigabytes).
    let (streamed, bytes) = if size_cannot_match && (!keep.bytes() || form != StoredForm::Plain) {
        (Some(String::new()), None)
    } else if in_memory {
        held.push(READ_BUDGET.acquire(file.len));
        let mut buf = Vec::with_capacity(usize::try_from(file.len).unwrap_or(0));
        let mut reader = file.reader;
        if let Err(e) = reader.read_to_end(&mut buf) {
            out.report = read_failed(ladder, e);
            return out;
        }
        (None, Some(buf))
    } else if let Some(proven) = stored_proof {
        (Some(proven), None)
    } else if let Some((known, _)) = (form == StoredForm::Plain)
        .then(|| store.recall_hash(path))
        .flatten()
    {
        // Hashed earlier in this run (a save's prefetch) and unchanged since.
        (Some(known), None)
    } else {
        match hash_reader(file) {
            Ok((h, _)) => (Some(h), None),
            Err(e) => {
                out.report = read_failed(ladder, e);
                return out;
            }
        }
    };

    // With the bytes in memory, hash on this thread while another parses.
    let mut parsed: Option<std::result::Result<KnowledgeGraph, crate::graph::GraphError>> = None;
    let mut bytes = bytes;
    let actual = match (streamed, bytes.as_mut()) {
        (Some(a), _) => a,
        (None, Some(b)) if depth == Depth::Full && memo_hit.is_none() => {
            let (digest, graph) = super::digest::hash_and_parse(b);
            parsed = Some(graph);
            digest
        }
        (None, Some(b)) => sha256_hex(b),
        (None, None) => String::new(),
    };
    ladder.report.actual_checksum = Some(actual.clone()).filter(|a| !a.is_empty());
    let short = &actual[..12.min(actual.len())];

    // Level: meta. No usable meta does not make a file corrupt: it may still
    // be a good graph (unverified). A pending meta that matches the bytes is
    // the real one after an interrupted save.
    let pending =
        pending_raw.filter(|(_, m)| !actual.is_empty() && m.sha256() == Some(actual.as_str()));
    let mut status = Status::Valid;
    let mut meta_problem = None;
    let mut meta_value = match (meta_read, &pending) {
        (Ok(m), _) => {
            let name = meta_path
                .as_ref()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let writer = m.saved_by.as_deref().unwrap_or("unknown writer");
            ladder.record(Level::Meta, Outcome::Pass, format!("{name} ({writer})"));
            Some(m)
        }
        (Err(problem), Some((p, pm))) => {
            let problem = problem.text;
            ladder.warnings.push(format!(
                "{problem}; the pending meta {} matches (an interrupted save): it is completed on the next write",
                p.display()
            ));
            ladder.record(
                Level::Meta,
                Outcome::Warn,
                "pending meta of an interrupted save",
            );
            ladder.report.meta_path = Some(p.clone());
            Some(pm.clone())
        }
        // A meta that says two things is corrupt: taking one of its words
        // would judge against a checksum the application may not read.
        (Err(problem), None) if problem.ambiguous => {
            out.report = ladder.fail(Level::Meta, Status::Corrupt, problem.text);
            return out;
        }
        (Err(problem), None) => {
            ladder.record(Level::Meta, Outcome::Warn, problem.text.clone());
            ladder.report.unreadable = problem.unreadable;
            status = Status::Unverified;
            meta_problem = Some(problem.text);
            None
        }
    };

    // Level: checksum (bytes only, no parsing).
    if let Some(m) = &meta_value {
        let expected = m.sha256().unwrap_or_default().to_ascii_lowercase();
        ladder.report.expected_checksum = Some(expected.clone());
        let size = ladder.report.size.unwrap_or(0);
        let mismatch = match m.size.filter(|&s| s != size) {
            Some(s) => Some(format!("size is {size} bytes, meta says {s}")),
            None if expected != actual => Some(format!(
                "checksum mismatch: meta says sha256 {expected}, the file hashes to {actual}"
            )),
            None => None,
        };
        #[cfg(feature = "negative-controls")]
        let mismatch = mismatch.filter(|_| !super::negative_controls::skip_checksum());
        match (mismatch, &pending) {
            (None, _) => ladder.record(Level::Checksum, Outcome::Pass, format!("sha256 {short}…")),
            // A stale meta beside a graph that the pending meta describes
            // is an interrupted save, not corruption.
            (Some(_), Some((p, pm))) => {
                ladder.warnings.push(format!(
                    "graph.json.meta is stale but the pending meta {} matches (an interrupted save): it is completed on the next write",
                    p.display()
                ));
                ladder.report.expected_checksum = Some(actual.clone());
                ladder.record(
                    Level::Checksum,
                    Outcome::Pass,
                    format!("sha256 {short}… (pending meta)"),
                );
                meta_value = Some(pm.clone());
            }
            (Some(reason), None) => {
                out.meta = meta_value;
                // Recovery keeps a damaged primary as evidence: spare it a
                // second read of the bytes it has in hand.
                out.bytes = bytes.filter(|_| keep.bytes());
                // The parse ran beside the hash: hand it over, so recovery
                // can tell a stale meta from damage and show what the
                // damaged file held, without parsing it again.
                out.graph = parsed.take().and_then(Result::ok).filter(|_| keep.bytes());
                out.report = ladder.fail(Level::Checksum, Status::Corrupt, reason);
                return out;
            }
        }
        // Tamper evidence: a checksum anyone could recompute is trusted
        // only as far as the key's HMAC over it.
        if let (Some(key), Some(m)) = (&metas.key, &meta_value) {
            match key.check(m) {
                Some(true) => {
                    ladder.report.authenticated = Some(true);
                    if let Some(last) = ladder.levels.last_mut() {
                        last.detail.push_str(" · HMAC ok");
                    }
                }
                Some(false) => {
                    ladder.levels.pop();
                    out.meta = meta_value;
                    out.bytes = bytes.filter(|_| keep.bytes());
                    out.report = ladder.fail(
                        Level::Checksum,
                        Status::Corrupt,
                        "HMAC mismatch: the file or its meta was changed by someone without the key (tampering), or the key changed".to_string(),
                    );
                    return out;
                }
                // With a key configured an unsigned meta proves nothing:
                // stripping the HMAC must not be a way around it.
                None => {
                    ladder.report.authenticated = Some(false);
                    status = Status::Unverified;
                    meta_problem = Some(
                        "not authenticated: a key is configured but the meta has no HMAC (written without the key, or stripped)".to_string(),
                    );
                }
            }
        }
    } else {
        ladder.record(Level::Checksum, Outcome::Skipped, "no checksum to compare");
    }
    out.meta = meta_value.clone();
    if let Some((level, reason)) = unauthenticated_primary(&ladder, metas, status, &meta_problem) {
        // The bytes stay in hand: recovery keeps them as evidence.
        out.bytes = bytes.filter(|_| keep.bytes());
        out.report = ladder.fail_replacing(level, reason);
        return out;
    }

    // Level: parse, from the memo: the bytes hash to content proven before.
    let proves = |e: &MemoEntry| {
        let same = e.sha256 == actual;
        #[cfg(feature = "negative-controls")]
        let same = same || super::negative_controls::trust_any_memo_entry();
        same && depth == Depth::Full
    };
    // An entry whose counts contradict the file's own meta is not taken:
    // the memo is a cache, never the judge of a file. The parse below
    // decides, and records what it proves in place of the entry.
    let agrees = |e: &MemoEntry| {
        let (mut problems, mut warnings) = (Vec::new(), Vec::new());
        compare_counts(
            meta_value.as_ref(),
            usize::try_from(e.node_count).unwrap_or(usize::MAX),
            usize::try_from(e.edge_count).unwrap_or(usize::MAX),
            &mut problems,
            &mut warnings,
        );
        if !problems.is_empty() {
            tracing::warn!(sha256 = %e.sha256, problems = ?problems, "a memo entry disagrees with the meta; parsing instead");
        }
        problems.is_empty()
    };
    if let Some(entry) = memo_hit.filter(proves).filter(agrees) {
        ladder.record(
            Level::Parse,
            Outcome::Pass,
            format!(
                "version {}, {} nodes, {} edges · same content as verified {} ({})",
                entry.graph_version,
                entry.node_count,
                entry.edge_count,
                entry.verified_day(),
                entry.verified_by
            ),
        );
        ladder.report.memo_verified_at = Some(entry.verified_at.clone());
        let (nodes, edges) = (
            usize::try_from(entry.node_count).unwrap_or(usize::MAX),
            usize::try_from(entry.edge_count).unwrap_or(usize::MAX),
        );
        ladder.report.node_count = Some(nodes);
        ladder.report.edge_count = Some(edges);
        ladder.report.node_types = entry.node_types;
        ladder.report.edge_types = entry.edge_types;
        let warning_count = entry.warnings.len();
        ladder.warnings.extend(entry.warnings);
        let mut problems = Vec::new();
        compare_counts(
            meta_value.as_ref(),
            nodes,
            edges,
            &mut problems,
            &mut ladder.warnings,
        );
        out.report = close_consistency(ladder, problems, warning_count, status);
        if out.report.status != Status::Corrupt {
            out.report.reason = meta_problem;
            out.bytes = bytes.filter(|_| keep.bytes());
        }
        return out;
    }

    // The bytes were only streamed so far: a large file hashed before it was
    // read, or content other than the memo's (a pending meta describes it).
    // Its checksum is good: read it to parse.
    if bytes.is_none() && depth == Depth::Full && held.is_empty() {
        held.push(READ_BUDGET.acquire(ladder.report.size.unwrap_or(0)));
    }
    let bytes = match bytes {
        None if depth == Depth::Full => match codec::read_plain(fs, path, MAX_GRAPH_LEN) {
            Ok(b) => Some(b),
            Err(e) => {
                out.report = read_failed(ladder, e);
                return out;
            }
        },
        b => b,
    };
    let mut bytes = match (bytes, depth) {
        (Some(b), Depth::Full) => b,
        // Checksum-only verification ends here.
        (b, _) => {
            out.report = ladder.finish(status, None);
            out.report.reason = meta_problem;
            out.bytes = b.filter(|_| keep.bytes());
            return out;
        }
    };

    // Level: parse.
    let graph = match parsed.unwrap_or_else(|| KnowledgeGraph::from_mut_slice(&mut bytes)) {
        Ok(g) => {
            let detail = format!(
                "version {}, {} nodes, {} edges",
                g.version(),
                g.node_count(),
                g.edge_count()
            );
            ladder.record(Level::Parse, Outcome::Pass, detail);
            g
        }
        Err(e) => {
            out.report = ladder.fail(
                Level::Parse,
                Status::Corrupt,
                format!("not a valid graph: {e}"),
            );
            return out;
        }
    };
    // Only a caller that keeps the graph needs the bytes beside it; the
    // others let them go before the consistency check builds its indexes,
    // so a verify holds the file and the graph at once only while parsing.
    let bytes = keep.bytes().then_some(bytes);
    ladder.report.node_count = Some(graph.node_count());
    ladder.report.edge_count = Some(graph.edge_count());
    let stats = graph.stats();
    ladder.report.node_types = stats.node_types;
    ladder.report.edge_types = stats.edge_types;

    // Level: consistency. A caller that keeps the graph had it parsed, but
    // content the memo proved consistent is not checked again (the check
    // costs a fifth of a load): these bytes hash to what it proved.
    let proven = keep
        .bytes()
        .then(|| store.memo_lookup(&actual, ladder.report.size.unwrap_or(0)))
        .flatten()
        .filter(|e| e.sha256 == actual);
    let (mut problems, warnings) = match proven {
        Some(entry) => {
            ladder.report.memo_verified_at = Some(entry.verified_at.clone());
            (Vec::new(), entry.warnings)
        }
        None => {
            let consistency = graph.check_consistency();
            // What the bytes alone proved goes to the memo (the meta's counts
            // are compared again on every use): only for content whose
            // checksum level passed, so the memo holds the store's files, not
            // every stray.
            if consistency.problems.is_empty() && out.meta.is_some() {
                store.memo_record(MemoEntry::new(
                    &actual,
                    ladder.report.size.unwrap_or(0),
                    &graph,
                    consistency.warnings.clone(),
                ));
            }
            (consistency.problems, consistency.warnings)
        }
    };
    let warning_count = warnings.len();
    ladder.warnings.extend(warnings);
    compare_counts(
        meta_value.as_ref(),
        graph.node_count(),
        graph.edge_count(),
        &mut problems,
        &mut ladder.warnings,
    );
    out.report = close_consistency(ladder, problems, warning_count, status);
    if out.report.status == Status::Corrupt {
        return out;
    }
    out.report.reason = meta_problem;
    if keep.graph() {
        out.graph = Some(graph);
    }
    out.bytes = bytes;
    out
}

/// Closes the ladder on a failed read: a damaged zstd frame is corrupt at
/// the checksum level (its bytes are not the graph the meta names); any
/// other failure says nothing about the file (unreadable).
fn read_failed(mut ladder: Ladder, e: std::io::Error) -> FileReport {
    if codec::is_damaged_frame(&e) {
        return ladder.fail(Level::Checksum, Status::Corrupt, e.to_string());
    }
    // A delta's base that turned out corrupt once decompressed (its
    // stored bytes had proven it at open): the file level, naming it.
    if codec::is_base_problem(&e) {
        return ladder.fail(Level::File, Status::Corrupt, e.to_string());
    }
    ladder.report.unreadable = true;
    ladder.fail(Level::File, Status::Corrupt, format!("read failed: {e}"))
}

/// Compares a meta's counts with what the graph has: a mismatch in a meta
/// graphvault wrote is a problem, in another writer's meta a warning.
fn compare_counts(
    meta: Option<&Meta>,
    nodes: usize,
    edges: usize,
    problems: &mut Vec<String>,
    warnings: &mut Vec<String>,
) {
    match meta {
        Some(m) if m.counts_are_legacy_zero() => warnings.push(
            "meta counts are 0/0 as the application's last versions wrote them: not compared"
                .to_string(),
        ),
        Some(m) => {
            for (what, said, has) in [
                ("nodes", m.node_count, nodes),
                ("edges", m.edge_count, edges),
            ] {
                if let Some(n) = said
                    && n != has as u64
                {
                    let text = format!("meta says {n} {what}, the graph has {has}");
                    // graphvault always writes true counts, so a mismatch
                    // under a matching checksum means its meta lies. Other
                    // writers' counts are advisory (LEGACY_FORMAT): a wrong
                    // one says nothing about the graph's bytes.
                    if m.written_by_graphvault() {
                        problems.push(text);
                    } else {
                        warnings.push(format!(
                            "{text} (advisory count of another writer: not a fault in the graph)"
                        ));
                    }
                }
            }
        }
        None => {}
    }
}

/// Records the consistency level and closes the report.
fn close_consistency(
    mut ladder: Ladder,
    problems: Vec<String>,
    warning_count: usize,
    status: Status,
) -> FileReport {
    if !problems.is_empty() {
        return ladder.fail(Level::Consistency, Status::Corrupt, problems.join("; "));
    }
    if warning_count > 0 {
        ladder.record(
            Level::Consistency,
            Outcome::Warn,
            format!("consistent, {warning_count} warning(s)"),
        );
    } else {
        ladder.record(
            Level::Consistency,
            Outcome::Pass,
            "ids unique, every edge's endpoints exist",
        );
    }
    ladder.finish(status, None)
}

/// With a key configured the primary must prove it was written with the
/// key. One that cannot (no meta, an unreadable meta, a meta without an
/// HMAC) fails: otherwise deleting the meta or stripping its HMAC after
/// changing `graph.json` would be a way around the key. Backups written
/// before the key stay unverified (usable by explicit choice) instead.
fn unauthenticated_primary(
    ladder: &Ladder,
    metas: &MetaSource,
    status: Status,
    problem: &Option<String>,
) -> Option<(Level, String)> {
    if metas.key.is_none()
        || ladder.report.target != Target::Primary
        || status != Status::Unverified
    {
        return None;
    }
    let (level, what) = if ladder.report.authenticated == Some(false) {
        (
            Level::Checksum,
            "its meta has no HMAC (written without the key, or stripped)".to_string(),
        )
    } else {
        (
            Level::Meta,
            problem
                .clone()
                .unwrap_or_else(|| "it has no usable meta".to_string()),
        )
    };
    Some((
        level,
        format!(
            "not authenticated: a key is configured and the primary cannot prove it was written with it: {what}"
        ),
    ))
}

impl Store {
    pub(crate) fn primary_metas(&self) -> MetaSource {
        MetaSource {
            paths: vec![self.primary_meta_path()],
            pending: Some(self.pending_meta_path()),
            key: self.key.clone(),
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
            key: self.key.clone(),
        }
    }

    pub(crate) fn inspect_target(&self, target: &Target, depth: Depth, keep: bool) -> Inspection {
        let keep = if keep { Keep::Graph } else { Keep::No };
        self.inspect_target_keeping(target, depth, keep)
    }

    /// [`Store::inspect_target`], saying what to keep.
    pub(crate) fn inspect_target_keeping(
        &self,
        target: &Target,
        depth: Depth,
        keep: Keep,
    ) -> Inspection {
        match target {
            Target::Primary => inspect_keeping(
                self,
                Target::Primary,
                &self.primary_path(),
                &self.primary_metas(),
                depth,
                keep,
            ),
            Target::Backup(id) => inspect_keeping(
                self,
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

    /// Judges a backup from its meta and the memo alone, without reading
    /// its bytes: its data file has the size the listing saw, its meta
    /// names a checksum (authenticated, with a key) and that size, and the
    /// memo has proven that content, with the meta's counts. `None` when
    /// any of that is not so: then only reading the file can tell.
    ///
    /// What this proves is weaker than [`Store::verify`]: the bytes on disk
    /// are not hashed. Retention uses it for backups it does not rely on,
    /// and hashes the ones it does (see [`super::rotate`]).
    pub(crate) fn judge_from_memo(&self, id: &BackupId, size: u64) -> Option<FileReport> {
        let started = Instant::now();
        let metas = self.backup_metas(id);
        let (meta_path, meta) = read_usable_meta(&*self.fs, &metas);
        let meta = meta.ok()?;
        let sha = meta.sha256()?.to_ascii_lowercase();
        // `size` is the data file's as listed: a compressed file's is its
        // stored size, which its meta records beside the plain size.
        let size = match StoredForm::of_path(&self.backup_data_path(id)) {
            StoredForm::Plain => {
                if meta.size.is_some_and(|s| s != size) {
                    return None;
                }
                size
            }
            StoredForm::Zstd => {
                if meta.stored_size != Some(size)
                    || meta.stored_format.as_deref() != Some(codec::ZSTD_FORMAT)
                {
                    return None;
                }
                meta.size?
            }
            // A delta is judged only by reading it through its base.
            StoredForm::Delta => return None,
        };
        let authenticated = match &self.key {
            Some(key) => key.check(&meta) == Some(true),
            None => true,
        };
        if !authenticated {
            return None;
        }
        let entry = self.memo_lookup(&sha, size)?;
        let (nodes, edges) = (
            usize::try_from(entry.node_count).ok()?,
            usize::try_from(entry.edge_count).ok()?,
        );
        let mut problems = Vec::new();
        let mut warnings = Vec::new();
        compare_counts(Some(&meta), nodes, edges, &mut problems, &mut warnings);
        if !problems.is_empty() {
            return None;
        }
        let short = &sha[..12];
        let report = FileReport {
            target: Target::Backup(id.clone()),
            path: self.backup_data_path(id),
            meta_path,
            status: Status::Valid,
            failed_level: None,
            reason: None,
            levels: vec![
                LevelResult {
                    level: Level::File,
                    outcome: Outcome::Pass,
                    detail: format!("regular file, {size} bytes (from the directory listing)"),
                },
                LevelResult {
                    level: Level::Meta,
                    outcome: Outcome::Pass,
                    detail: meta.saved_by.clone().unwrap_or_default(),
                },
                LevelResult {
                    level: Level::Checksum,
                    outcome: Outcome::Pass,
                    detail: format!(
                        "sha256 {short}… per the meta; the bytes were not read in this run"
                    ),
                },
                LevelResult {
                    level: Level::Parse,
                    outcome: Outcome::Pass,
                    detail: format!(
                        "version {}, {nodes} nodes, {edges} edges · same content as verified {} ({})",
                        entry.graph_version,
                        entry.verified_day(),
                        entry.verified_by
                    ),
                },
                LevelResult {
                    level: Level::Consistency,
                    outcome: if entry.warnings.is_empty() {
                        Outcome::Pass
                    } else {
                        Outcome::Warn
                    },
                    detail: "as verified then".to_string(),
                },
            ],
            size: Some(size),
            expected_checksum: Some(sha.clone()),
            actual_checksum: None,
            node_count: Some(nodes),
            edge_count: Some(edges),
            node_types: entry.node_types,
            edge_types: entry.edge_types,
            warnings: entry.warnings.into_iter().chain(warnings).collect(),
            authenticated: self.key.as_ref().map(|_| true),
            unreadable: false,
            depth: Depth::Full,
            memo_verified_at: Some(entry.verified_at),
            verified_at: super::now(),
            elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
        };
        Some(report)
    }

    /// Fails unless some file of backup `id` exists.
    pub(crate) fn require_backup(&self, id: &BackupId) -> Result<()> {
        let dir = self.backups_dir();
        self.check_own_dir(&dir)?;
        let mut any = false;
        for name in [
            id.data_file_name(),
            id.meta_file_name(),
            id.alt_meta_file_name(),
        ] {
            let path = dir.join(name);
            match self.fs.entry(&path) {
                Ok(_) => any = true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                // A failing disk is not a missing backup.
                Err(e) => return Err(StoreError::io("look up backup", path, e)),
            }
        }
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

    pub(crate) fn verify_targets(
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
                    let work = || loop {
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
                    };
                    if threads > 1 {
                        super::digest::serially(work);
                    } else {
                        work();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_waits_while_the_read_budget_is_spent_and_goes_on_once_freed() {
        // A file larger than the budget takes all of it (never refused).
        let whole = READ_BUDGET.acquire(u64::MAX);
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let _permit = READ_BUDGET.acquire(1);
            let _ = tx.send(());
        });
        // Waiting can only be observed as not having gone on yet: a budget
        // that let the reader through would send at once.
        assert!(
            rx.recv_timeout(std::time::Duration::from_millis(300))
                .is_err(),
            "a reader got past a spent budget"
        );
        drop(whole);
        rx.recv()
            .expect("the reader goes on once the budget is freed");
        reader.join().expect("reader");
    }
}
