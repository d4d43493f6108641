//! Restore the primary from a backup chosen by id.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::Store;
use super::diff::GraphDiff;
use super::error::{Result, StoreError};
use super::fs::{self, Publish};
use super::meta::Meta;
use super::names::BackupId;
use super::save::Content;
use super::verify::{Depth, FileReport, Inspection, Status, Target};
use crate::graph::KnowledgeGraph;

/// Options of [`Store::restore`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RestoreOptions {
    /// Report what would change; write nothing.
    pub dry_run: bool,
    /// Accept a backup without a meta (nothing to check its bytes against)
    /// when it parses and is consistent.
    pub allow_unverified: bool,
}

/// What a restore did, or would do.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub backup_id: BackupId,
    pub dry_run: bool,
    /// The backup's verification.
    pub backup: FileReport,
    /// The primary as it was before.
    pub previous_primary: FileReport,
    /// Differences from the previous primary to the backup, when the
    /// previous primary could be parsed.
    pub diff: Option<GraphDiff>,
    /// Why there is no diff, when there is none (no graph.json, it cannot
    /// be read, it does not parse), in words for both front ends.
    pub no_diff: Option<String>,
    /// What happens to the primary being replaced (the plan's promise).
    pub keeps: KeptPrimary,
    /// Where the previous primary (and its meta) were kept.
    pub evidence: Vec<PathBuf>,
    pub node_count: usize,
    pub edge_count: usize,
    pub checksum: String,
    /// Re-verification of the new primary after the restore.
    pub after: Option<FileReport>,
    pub elapsed_ms: f64,
}

/// What a restore does with the `graph.json` it replaces, decided before
/// anything is written, so a plan never promises to keep a file that is
/// not there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KeptPrimary {
    /// There is no graph.json: nothing is replaced, and nothing kept.
    NoPrimary,
    /// graph.json (and its meta, when there is one) are kept in `dir`.
    Evidence { dir: PathBuf, with_meta: bool },
}

impl KeptPrimary {
    /// One line for a plan or a result.
    pub fn describe(&self, dry_run: bool) -> String {
        match (self, dry_run) {
            (KeptPrimary::NoPrimary, _) => {
                "there is no graph.json to keep: the restore writes a new one".to_string()
            }
            (KeptPrimary::Evidence { dir, with_meta }, true) => format!(
                "the current graph.json{} will be kept in {}/",
                if *with_meta { " and its meta" } else { "" },
                dir.display()
            ),
            (KeptPrimary::Evidence { dir, with_meta }, false) => format!(
                "the replaced graph.json{} was kept in {}/",
                if *with_meta { " and its meta" } else { "" },
                dir.display()
            ),
        }
    }
}

/// Why a restore of `id` is refused, given its verification: typed, so a
/// front end can offer to accept an unverified backup without reading text.
pub(crate) fn refusal(id: &BackupId, report: &FileReport) -> StoreError {
    if report.status == Status::Unverified {
        StoreError::BackupUnverified {
            id: id.clone(),
            path: report.path.clone(),
            reason: report.reason.clone().unwrap_or_default(),
        }
    } else {
        StoreError::RestoreRefused {
            id: id.clone(),
            report: Box::new(report.clone()),
        }
    }
}

impl Store {
    /// Restores the backup `id` as the primary: verifies it (refusing one that
    /// fails), keeps the current primary as evidence, writes the bytes to a
    /// side file, reads them back, and atomically replaces `graph.json` and
    /// its meta. With `dry_run`, only reports.
    ///
    /// # Errors
    /// No such backup, a backup that fails verification
    /// ([`StoreError::BackupUnverified`] for one without a meta, unless
    /// `allow_unverified`), the lock held elsewhere, or an I/O error; in
    /// every case the primary is unchanged.
    pub fn restore(&self, id: &BackupId, options: RestoreOptions) -> Result<RestoreReport> {
        let id = id.clone();
        self.require_backup(&id)?;
        let _guard = if options.dry_run {
            None
        } else {
            Some(self.lock()?)
        };
        let started = Instant::now();
        let target = Target::Backup(id.clone());
        let inspection = self.inspect_target(&target, Depth::Full, true);
        let acceptable = inspection.report.status == Status::Valid
            || (options.allow_unverified && inspection.report.status == Status::Unverified);
        let (Some(graph), Some(bytes), true) = (inspection.graph, inspection.bytes, acceptable)
        else {
            return Err(refusal(&id, &inspection.report));
        };
        self.restore_verified(
            id,
            inspection.report,
            &graph,
            bytes,
            None,
            options.dry_run,
            started,
        )
    }

    /// The restore itself, for a backup already verified by the caller (who
    /// holds the lock unless `dry_run`). `previous` is the caller's full
    /// inspection of the primary under that lock, when it has one.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn restore_verified(
        &self,
        id: BackupId,
        backup: FileReport,
        graph: &KnowledgeGraph,
        bytes: Vec<u8>,
        previous: Option<Inspection>,
        dry_run: bool,
        started: Instant,
    ) -> Result<RestoreReport> {
        let previous =
            previous.unwrap_or_else(|| self.inspect_target(&Target::Primary, Depth::Full, true));
        let compared = self.diff_from_primary(&previous, graph);
        self.restore_bytes(
            id,
            backup,
            (graph.node_count(), graph.edge_count()),
            Content::Bytes(&bytes),
            previous,
            compared,
            dry_run,
            started,
        )
    }

    /// The writing half of [`Store::restore_verified`]: `content` (of a
    /// backup verified by the caller, with `counts` nodes and edges) becomes
    /// the primary; `compared` is the diff from `previous` or why there is
    /// none.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn restore_bytes(
        &self,
        id: BackupId,
        backup: FileReport,
        counts: (usize, usize),
        content: Content<'_>,
        previous: Inspection,
        compared: (Option<GraphDiff>, Option<String>),
        dry_run: bool,
        started: Instant,
    ) -> Result<RestoreReport> {
        let (diff, no_diff) = compared;
        let keeps = self.kept_primary();
        let checksum = backup.actual_checksum.clone().unwrap_or_default();
        let mut report = RestoreReport {
            backup_id: id.clone(),
            dry_run,
            node_count: counts.0,
            edge_count: counts.1,
            checksum: checksum.clone(),
            backup,
            previous_primary: previous.report.clone(),
            diff,
            no_diff,
            keeps,
            evidence: Vec::new(),
            after: None,
            elapsed_ms: 0.0,
        };
        // A dry run says what the real run would do: a symlinked primary (or
        // a directory in its place) is refused before anything is planned as
        // written.
        self.refuse_unreplaceable_primary("before-restore")?;
        if dry_run {
            report.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
            return Ok(report);
        }
        let size = content.len();
        self.require_space(
            "restore",
            size,
            size,
            "nothing was written: graph.json and its meta are unchanged",
        )?;
        let at = super::now();
        report.evidence = self.keep_primary_before_replacing(
            previous.bytes.as_deref(),
            at,
            "before-restore",
            None,
        )?;
        let meta = self.seal(Meta::for_data(
            checksum,
            size,
            counts.0 as u64,
            counts.1 as u64,
            &format!("restore of {id}"),
            at,
        ))?;
        self.commit_primary(content, &meta, true).map_err(|e| {
            e.left(format!(
                "the previous primary was kept in {}",
                self.evidence_dir().display()
            ))
        })?;
        // The bytes were parsed and checked before the commit and read back
        // before the rename; what is left to prove is that graph.json and its
        // meta agree, which needs a hash, not a second parse.
        let after = self
            .inspect_target(&Target::Primary, Depth::Checksum, false)
            .report;
        tracing::info!(
            backup = %id,
            status = after.status.name(),
            nodes = report.node_count,
            edges = report.edge_count,
            evidence = ?report.evidence,
            "restored primary from backup"
        );
        report.after = Some(after);
        report.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
        Ok(report)
    }

    /// The diff from the primary as `previous` found it to `incoming`, or
    /// why there is none. A primary that failed its checksum (or its
    /// consistency check) may still parse: then there is a diff, and never
    /// a claim that it "cannot be parsed".
    pub(crate) fn diff_from_primary(
        &self,
        previous: &Inspection,
        incoming: &KnowledgeGraph,
    ) -> (Option<GraphDiff>, Option<String>) {
        if let Some(old) = &previous.graph {
            return (Some(super::diff::diff_graphs(old, incoming)), None);
        }
        // A file judged at the file level (not a regular file, sparse, over
        // the size limit) is not read again to be compared: a sparse
        // graph.json of gigabytes would be read whole for nothing.
        if previous.bytes.is_none()
            && previous.report.failed_level == Some(super::verify::Level::File)
            && previous.report.status != Status::Missing
        {
            return (
                None,
                Some(format!(
                    "graph.json cannot be compared: {}",
                    previous.report.summary()
                )),
            );
        }
        let path = self.primary_path();
        let bytes = match &previous.bytes {
            Some(b) => std::borrow::Cow::Borrowed(b.as_slice()),
            None => match fs::read_file(&*self.fs, &path, super::MAX_GRAPH_LEN) {
                Ok(b) => std::borrow::Cow::Owned(b),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return (None, Some("there is no graph.json to compare with".into()));
                }
                Err(e) => {
                    return (None, Some(format!("graph.json cannot be read: {e}")));
                }
            },
        };
        match KnowledgeGraph::from_slice(&bytes) {
            Ok(old) => (Some(super::diff::diff_graphs(&old, incoming)), None),
            Err(e) => (None, Some(format!("graph.json does not parse: {e}"))),
        }
    }

    /// What replacing the primary now would keep of it.
    pub(crate) fn kept_primary(&self) -> KeptPrimary {
        let present = |p: &std::path::Path| match self.fs.entry(p) {
            Err(e) => e.kind() != std::io::ErrorKind::NotFound,
            Ok(_) => true,
        };
        if !present(&self.primary_path()) {
            return KeptPrimary::NoPrimary;
        }
        KeptPrimary::Evidence {
            dir: self.evidence_dir(),
            with_meta: present(&self.primary_meta_path()),
        }
    }

    /// The one rule for anything about to replace `graph.json`: keep what
    /// is there in `.graphvault/evidence/` unless a backup holds exactly
    /// those bytes (same SHA-256 and size, checked on the backup's data,
    /// not on its meta's word). What the primary's meta says does not
    /// matter: the application or a person may have written graph.json
    /// and left an old meta. `incoming` is the SHA-256 of the bytes a save
    /// is about to write (a backup of them is written first); `None` keeps
    /// the primary whatever the backups hold (restore and recovery, where
    /// the user did not ask to lose it).
    ///
    /// # Errors
    /// The primary could not be read (beyond "missing" or "not a regular
    /// file") or the evidence could not be written; nothing was replaced.
    pub(crate) fn keep_primary_before_replacing(
        &self,
        bytes: Option<&[u8]>,
        at: chrono::DateTime<chrono::Local>,
        why: &str,
        incoming: Option<&str>,
    ) -> Result<Vec<PathBuf>> {
        let Some(incoming) = incoming else {
            return self.keep_evidence(bytes, at, why);
        };
        self.keep_primary_unless_backed_up(bytes, at, why, Some(incoming))
    }

    /// Keeps the primary in `.graphvault/evidence/` unless a backup holds
    /// exactly its bytes (or they are `incoming`, what is about to be
    /// written): the rule of [`Store::keep_primary_before_replacing`] for a
    /// save, and for the corruption simulator, which writes no bytes a
    /// backup could hold.
    ///
    /// # Errors
    /// As [`Store::keep_primary_before_replacing`].
    pub(crate) fn keep_primary_unless_backed_up(
        &self,
        bytes: Option<&[u8]>,
        at: chrono::DateTime<chrono::Local>,
        why: &str,
        incoming: Option<&str>,
    ) -> Result<Vec<PathBuf>> {
        if self.primary_needs_keeping(incoming)? {
            self.keep_evidence(bytes, at, why)
        } else {
            Ok(Vec::new())
        }
    }

    /// Whether graph.json must be kept before it is replaced: it is there
    /// and no backup holds exactly its bytes, nor are they `incoming` (what
    /// is about to be written). A file that cannot be hashed as a graph
    /// (not a regular file, over the size limit) must be kept too.
    ///
    /// # Errors
    /// graph.json could not be read (it is then neither kept nor replaced).
    pub(crate) fn primary_needs_keeping(&self, incoming: Option<&str>) -> Result<bool> {
        let primary = self.primary_path();
        // The backup most likely to hold the primary's bytes (after a save,
        // the newest one: the primary's meta names its checksum) is hashed on
        // the other core beside the primary's own hash.
        let listing = self.list_backups().ok();
        let guess = self
            .read_primary_checksum()
            .and_then(|expected| Some((expected, self.fs.entry(&primary).ok()?.len)))
            .and_then(|(expected, len)| {
                listing.iter().flat_map(|l| &l.backups).find(|b| {
                    b.plain_size == Some(len)
                        && b.checksum
                            .as_deref()
                            .is_some_and(|c| c.eq_ignore_ascii_case(&expected))
                })
            });
        // The common case, after a save: the guess holds the same bytes, and
        // they are the ones its meta records. Read side by side, compared, and
        // only the backup hashed (remembered for the retention that follows):
        // one hash where two were made. Anything else leaves the guess out of
        // the search below; a failed read leaves the decision to the hashes.
        let guess = match guess.filter(|b| {
            super::codec::StoredForm::of_path(&b.data_path) == super::codec::StoredForm::Plain
        }) {
            Some(b) => match self.holds_same_bytes(b, &primary) {
                Ok(true) => return Ok(false),
                Ok(false) => None,
                Err(_) => guess,
            },
            None => guess,
        };
        let (hashed, guessed) = std::thread::scope(|scope| {
            let guessed = guess.map(|b| {
                scope.spawn(move || {
                    // Remembered: it is often a backup retention relies on next.
                    if super::codec::StoredForm::of_path(&b.data_path)
                        == super::codec::StoredForm::Plain
                    {
                        self.hash_remembering(&b.data_path).ok()
                    } else {
                        super::codec::hash_plain(&*self.fs, &b.data_path, super::MAX_GRAPH_LEN).ok()
                    }
                })
            });
            let hashed = super::verify::hash_file(&*self.fs, &primary, super::MAX_GRAPH_LEN);
            (hashed, guessed.and_then(|h| h.join().ok().flatten()))
        });
        let (sha, size) = match hashed {
            Ok(h) => h,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            // Not a regular file, or over the size limit: nothing a backup
            // could hold; keep_evidence keeps what can be kept of it.
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => return Ok(true),
            Err(e) => return Err(StoreError::io("read graph.json to keep it", primary, e)),
        };
        let guess_holds = guess.is_some_and(|b| {
            b.checksum
                .as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case(&sha))
        }) && guessed.is_some_and(|(h, n)| h == sha && n == size);
        Ok(!(incoming == Some(sha.as_str())
            || guess_holds
            || self.backup_holding(listing.as_ref(), &sha, size).is_some()))
    }

    /// Whether the plain `backup` holds exactly the bytes of the file at
    /// `other` and they are the bytes its meta records (a backup that fails
    /// its own checksum is one retention may remove: it holds nothing). The
    /// two are read side by side in 1 MiB chunks and only the backup is
    /// hashed (a comparison costs a fraction of a hash); when they are the
    /// same, the backup's hash is remembered for this run.
    fn holds_same_bytes(
        &self,
        backup: &super::list::BackupInfo,
        other: &Path,
    ) -> std::io::Result<bool> {
        #[cfg(feature = "negative-controls")]
        if super::negative_controls::trust_backup_guess() {
            return Ok(true);
        }
        let path = &backup.data_path;
        let before = self.fs.file_stat(path)?;
        let mut held = self.fs.open_read(path, super::MAX_GRAPH_LEN)?;
        let mut other = self.fs.open_read(other, super::MAX_GRAPH_LEN)?;
        if held.len != other.len {
            return Ok(false);
        }
        let (mut x, mut y) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
        let mut hasher = Sha256::new();
        let mut total = 0u64;
        loop {
            let n = read_up_to(&mut *held.reader, &mut x)?;
            let m = read_up_to(&mut *other.reader, &mut y)?;
            if x[..n] != y[..m] {
                return Ok(false);
            }
            if n == 0 {
                break;
            }
            hasher.update(&x[..n]);
            total += n as u64;
        }
        let sha256 = super::digest::hex(&hasher.finalize());
        self.remember_hash(path, before, &sha256, total);
        Ok(backup
            .checksum
            .as_deref()
            .is_some_and(|recorded| recorded.eq_ignore_ascii_case(&sha256)))
    }

    /// The checksum graph.json's meta records, if it can be read (lower
    /// case); a guess only, the bytes decide.
    fn read_primary_checksum(&self) -> Option<String> {
        let (_, meta) = super::verify::read_usable_meta(&*self.fs, &self.primary_metas());
        Some(meta.ok()?.sha256()?.to_ascii_lowercase())
    }

    /// A backup whose data file hashes to `sha` (and is `size` bytes), found
    /// by its meta's checksum and then proved on the bytes. Any doubt (a
    /// listing or read that fails) is "none": the caller then keeps a copy.
    fn backup_holding(
        &self,
        listing: Option<&super::list::BackupListing>,
        sha: &str,
        size: u64,
    ) -> Option<BackupId> {
        listing?
            .backups
            .iter()
            .filter(|b| {
                b.plain_size == Some(size)
                    && b.checksum
                        .as_deref()
                        .is_some_and(|c| c.eq_ignore_ascii_case(sha))
            })
            .find(|b| {
                matches!(
                    super::codec::hash_plain(&*self.fs, &b.data_path, super::MAX_GRAPH_LEN),
                    Ok((h, n)) if h == sha && n == size
                )
            })
            .map(|b| b.id.clone())
    }

    /// Refuses to replace a `graph.json` that is a symbolic link or a
    /// directory. The file a link points to is not graphvault's to keep or to
    /// replace (it is never followed), and replacing the link would silently
    /// detach the application from the file it may still be writing; a
    /// directory could only be replaced by removing it. Every write that
    /// replaces the primary keeps it first, so this one check covers save,
    /// restore, recovery and the restore of evidence. `why` is the evidence
    /// reason (`before-save`), which names the operation.
    pub(crate) fn refuse_unreplaceable_primary(&self, why: &str) -> Result<()> {
        let primary = self.primary_path();
        let kind = match self.fs.entry(&primary) {
            Ok(e) => e.kind,
            Err(_) => return Ok(()),
        };
        let op = why.strip_prefix("before-").unwrap_or(why).replace('-', " ");
        let reason = match kind {
            fs::EntryKind::Symlink => {
                let to = self.fs.read_link(&primary).map_or_else(
                    |e| format!("a target that cannot be read ({e})"),
                    |t| t.display().to_string(),
                );
                format!(
                    "{op} refused: graph.json is a symbolic link to {to}, and graphvault neither \
                     follows nor replaces a link (the file it points to would silently stop being the \
                     graph); nothing was changed: the link, the file it points to, graph.json.meta and \
                     the backups are as they were. To go on, replace the link with a copy of the file \
                     it points to (or move the link away), then run this again"
                )
            }
            // A file cannot be renamed over a directory, and graphvault
            // never removes one: say so before anything is kept or written,
            // so that a dry run and the real run give the same answer.
            fs::EntryKind::Dir => format!(
                "{op} refused: graph.json is a directory, and a graph cannot be put in its place \
                 without removing it, which graphvault never does; nothing was changed: the \
                 directory, graph.json.meta and the backups are as they were. To go on, move the \
                 directory away (for example `mv {path} {path}.dir`), then run this again",
                path = primary.display()
            ),
            _ => return Ok(()),
        };
        Err(StoreError::Refused {
            path: primary,
            reason,
        })
    }

    /// Copies the current primary and its meta (whatever state they are in)
    /// into `.graphvault/evidence/` before they are replaced. `bytes` are the
    /// primary's bytes when they could be read already.
    pub(crate) fn keep_evidence(
        &self,
        bytes: Option<&[u8]>,
        at: chrono::DateTime<chrono::Local>,
        why: &str,
    ) -> Result<Vec<PathBuf>> {
        self.refuse_unreplaceable_primary(why)?;
        let dir = self.evidence_dir();
        self.fs
            .create_dir_all(&dir)
            .map_err(|e| StoreError::io("create directory", &dir, e))?;
        // The evidence directory may be new: its entry must be durable
        // before the primary is replaced, or a power cut takes the kept
        // primary with it.
        let parent = fs::parent_dir(&dir);
        self.fs
            .sync_dir(parent)
            .map_err(|e| StoreError::io("fsync directory", parent, e))?;
        let stamp = at.format("%Y%m%d_%H%M%S%.6f").to_string().replace('.', "_");
        let mut kept = Vec::new();
        let sources = [
            (self.primary_path(), "graph.json"),
            (self.primary_meta_path(), "graph.json.meta"),
        ];
        for (i, (src, name)) in sources.iter().enumerate() {
            let dest = dir.join(format!("{stamp}-{why}-{name}"));
            // The primary is only ever replaced by a rename, never written in
            // place, so a second name for its inode keeps its bytes exactly,
            // with no copy of a large graph. Regular files only; a copy is
            // the fallback where links are not possible.
            if i == 0
                && matches!(self.fs.entry(src), Ok(e) if e.kind == fs::EntryKind::File)
                && self.fs.hard_link(src, &dest).is_ok()
            {
                self.fs
                    .sync_dir(&dir)
                    .map_err(|e| StoreError::io("fsync directory", &dir, e))?;
                kept.push(dest);
                continue;
            }
            // Borrowed when the caller has the bytes: no copy of a large graph.
            let content = if i == 0 && bytes.is_some() {
                bytes.map(std::borrow::Cow::Borrowed)
            } else {
                match fs::read_file(&*self.fs, src, super::MAX_GRAPH_LEN) {
                    Ok(b) => Some(std::borrow::Cow::Owned(b)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    // A primary we cannot even read (a FIFO, a symlink) is
                    // not copied; the restore replaces the name, and the
                    // report says nothing was kept for it.
                    Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
                        tracing::warn!(path = %src.display(), error = %e, "could not keep as evidence");
                        None
                    }
                    // A read error says nothing about the file: replacing it
                    // unkept could discard a good graph. Nothing is changed.
                    Err(e) => return Err(StoreError::io("keep as evidence (read)", src, e)),
                }
            };
            if let Some(content) = content {
                fs::write_atomic(&*self.fs, &dest, &content, Publish::NoReplace)?;
                kept.push(dest);
            }
        }
        Ok(kept)
    }
}

/// Fills `buf` from `reader` as far as it goes: short only at the end.
fn read_up_to(reader: &mut dyn std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
