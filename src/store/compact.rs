//! `compact`: converts existing backups to the form the store's settings
//! ask for (compressed, deltas against a full backup, or plain for the
//! newest `keep-plain`), and the same conversion for the backup a save
//! pushes past `keep-plain`.
//!
//! # Which form each backup takes
//! The history is walked oldest first, under the rules saves follow:
//! - the newest `keep-plain` backups are plain; with `compression none`
//!   every backup is plain (a delta is read through its base and written
//!   out whole);
//! - with `compression zstd` and `deltas off`, every other backup is one
//!   zstd frame, a delta included: the settings ask for backups that stand
//!   on their own, and the dry run shows what that costs first;
//! - with `deltas on`, a backup is a delta against the one full backup
//!   chosen before it (never a chain): a full backup comes first, then one
//!   every `full-every` backups, and whenever the delta would not save
//!   much (at least half the base's stored size), as in a save. A base is
//!   made full (zstd) before any delta is made against it, and must verify
//!   (its plain JSON hashes to its meta's checksum) to become one. A
//!   backup some existing delta is read through stays full, and an
//!   existing delta that reads through its base is left as it is.
//!
//! # Safety of a conversion
//! Each backup is verified first (its bytes against its meta's checksum);
//! the new file is written beside the old one under its own name, never
//! over anything, then read back from disk and proven to give the same
//! plain JSON (SHA-256 equal to the meta's `checksum`; a delta read with
//! its base). Only then is the meta rewritten (atomically, to describe the
//! new file), a delta read once more the way every reader reads it
//! (through the base on disk, named by the new meta), and the old file
//! moved to the trash, never deleted. While both files are there the full
//! one is read (plain before zstd before delta), and whichever it is, it
//! holds the backup's JSON.
//!
//! A crash leaves at most one backup with two data files. The next
//! `compact` settles it before anything else: the file the meta describes
//! is proven whole and the other one goes to the trash, then the backup is
//! converted as the walk says.
//!
//! A meta's HMAC is never made up: a meta that was authenticated is signed
//! again over its new fields; one that carried no HMAC gets none; one
//! signed under a key this run does not have is left unconverted.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::codec::{self, StoredForm};
use super::error::{Result, StoreError};
use super::fs::{self, EntryKind, Publish};
use super::list::BackupInfo;
use super::meta::{self, Meta};
use super::names::BackupId;
use super::trash::TrashReason;
use super::verify::{Depth, Target};
use super::{MAX_GRAPH_LEN, Store};

/// Options of [`Store::compact`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CompactOptions {
    /// Only say what would be converted; write nothing.
    pub dry_run: bool,
}

/// One backup converted, or that would be.
#[derive(Debug, Clone, Serialize)]
pub struct Conversion {
    pub id: BackupId,
    pub from: StoredForm,
    pub to: StoredForm,
    /// For a delta: the full backup it is read through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<BackupId>,
    /// The data file's size before (as stored).
    pub size_before: u64,
    /// Its size after; `None` in a dry run (a delta's, computed in memory,
    /// is known in a dry run too).
    pub size_after: Option<u64>,
    /// The new data file; `None` in a dry run.
    pub path: Option<PathBuf>,
    /// Where the old file went in the trash; `None` in a dry run.
    pub trash_id: Option<String>,
}

/// A backup left with two data files by an interrupted conversion, settled:
/// the file its meta describes kept, the other moved to the trash.
#[derive(Debug, Clone, Serialize)]
pub struct Settled {
    pub id: BackupId,
    pub kept: StoredForm,
    /// The forms of the files moved to the trash (in a dry run: that would be).
    pub trashed: Vec<StoredForm>,
}

/// A backup left as it is, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub id: BackupId,
    pub reason: String,
}

/// Result of [`Store::compact`].
#[derive(Debug, Clone, Serialize)]
pub struct CompactReport {
    pub dry_run: bool,
    pub compression: codec::Compression,
    pub keep_plain: u32,
    pub deltas: bool,
    pub full_every: u32,
    /// Interrupted conversions finished first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub settled: Vec<Settled>,
    pub converted: Vec<Conversion>,
    pub skipped: Vec<Skipped>,
    /// Backups already in the form asked for.
    pub unchanged: usize,
    /// Bytes of every data file before and (without a dry run) after.
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub elapsed_ms: f64,
}

/// The full backup deltas are made against, while the walk is past it:
/// its plain JSON, proven to hash to its meta's checksum.
struct Base {
    id: BackupId,
    plain: Vec<u8>,
    sha: String,
    /// Its size as stored (zstd): the measure of "saves much".
    stored_size: u64,
}

/// What a backup meant to be a delta turned out to be.
enum DeltaPlan {
    /// The delta, proven to decode to the backup with the base.
    Delta {
        encoded: codec::Encoded,
        /// Bytes of the plain JSON it gives back.
        plain_len: u64,
    },
    /// It would not save much (or did not prove): a full backup instead.
    Full,
}

/// A backup's meta with what a conversion needs of it.
struct Described {
    path: PathBuf,
    meta: Meta,
    /// The plain JSON's SHA-256, lower case.
    sha: String,
}

impl Store {
    /// Converts every backup whose stored form differs from what the
    /// settings ask for (see the module doc), or with `dry_run` only says
    /// which would be. A backup that fails verification, or has no meta
    /// to prove the conversion against, is skipped and named.
    ///
    /// # Errors
    /// The lock held elsewhere, `backups/` unreadable, or an I/O error
    /// while converting (the message says what was left: the backup being
    /// converted is always readable, from its old file at least).
    pub fn compact(&self, options: CompactOptions) -> Result<CompactReport> {
        let started = Instant::now();
        let _guard = if options.dry_run {
            None
        } else {
            Some(self.lock()?)
        };
        let dry_run = options.dry_run;
        let mut listing = self.list_backups()?;
        let format = self.config.backup_format.clone();
        let mut report = CompactReport {
            dry_run,
            compression: format.compression,
            keep_plain: format.keep_plain,
            deltas: format.deltas,
            full_every: format.full_every,
            settled: Vec::new(),
            converted: Vec::new(),
            skipped: Vec::new(),
            unchanged: 0,
            bytes_before: listing.total_size,
            bytes_after: listing.total_size,
            elapsed_ms: 0.0,
        };
        let now = super::now();
        // Interrupted conversions first: a backup with two data files.
        let mut left_alone: HashSet<BackupId> = HashSet::new();
        for b in &listing.backups {
            match self.settle(b, dry_run, now) {
                Ok(Some(s)) => report.settled.push(s),
                Ok(None) => {}
                Err(reason) => {
                    left_alone.insert(b.id.clone());
                    report.skipped.push(Skipped {
                        id: b.id.clone(),
                        reason,
                    });
                }
            }
        }
        if !dry_run && !report.settled.is_empty() {
            listing = self.list_backups()?;
            report.bytes_after = listing.total_size;
        }
        let deltas = format.deltas && format.compression == codec::Compression::Zstd;
        let full_every = format.full_every.max(1) as usize;
        // A backup an existing delta is read through stays full: a delta
        // made of it would make a chain.
        let in_use: HashSet<BackupId> = listing
            .backups
            .iter()
            .filter(|b| b.form == StoredForm::Delta)
            .filter_map(|b| b.delta_base.clone())
            .collect();
        let mut base: Option<Base> = None;
        // Backups since the base, the base included.
        let mut since = 0usize;
        // Oldest first: a base is chosen (and made full) before any delta
        // is made against it.
        for (newer, b) in listing.backups.iter().enumerate().rev() {
            if !b.has_data() || left_alone.contains(&b.id) {
                continue;
            }
            let wanted = format.form_for(newer);
            let step = if deltas && wanted == StoredForm::Zstd {
                self.compact_toward_delta(
                    b, &in_use, full_every, &mut base, &mut since, dry_run, now,
                )
            } else if b.form == wanted {
                Ok(None)
            } else {
                self.compact_one(b, wanted, dry_run, now).map(Some)
            };
            match step {
                Ok(None) => report.unchanged += 1,
                Ok(Some(Err(reason))) => report.skipped.push(Skipped {
                    id: b.id.clone(),
                    reason,
                }),
                Ok(Some(Ok(done))) => {
                    if let Some(after) = done.size_after.filter(|_| !dry_run) {
                        report.bytes_after = report.bytes_after - done.size_before + after;
                    }
                    report.converted.push(done);
                }
                Err(e) => {
                    return Err(e.left(format!(
                        "backup {} is readable from {}; converted before it: {}",
                        b.id,
                        b.data_path.display(),
                        report.converted.len()
                    )));
                }
            }
        }
        report.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
        tracing::info!(
            converted = report.converted.len(),
            settled = report.settled.len(),
            skipped = report.skipped.len(),
            dry_run = report.dry_run,
            "compact"
        );
        Ok(report)
    }

    /// One backup converted to `to` (plain or zstd), or in a dry run what
    /// would be; `Err` inside says why it is left as it is.
    fn compact_one(
        &self,
        b: &BackupInfo,
        to: StoredForm,
        dry_run: bool,
        now: chrono::DateTime<chrono::Local>,
    ) -> Result<std::result::Result<Conversion, String>> {
        if let Some(reason) = self.conversion_blocker(b) {
            return Ok(Err(reason));
        }
        if dry_run {
            return Ok(Ok(Conversion {
                id: b.id.clone(),
                from: b.form,
                to,
                base: None,
                size_before: b.size.unwrap_or(0),
                size_after: None,
                path: None,
                trash_id: None,
            }));
        }
        self.convert(b, to, "compact", now).map(Ok)
    }

    /// One step of the walk with deltas on, for backup `b` past
    /// `keep-plain`: it stays or becomes the base (full zstd) when one is
    /// due, else becomes a delta against `base` when that saves much.
    /// `Ok(None)`: left as it is, already right.
    #[allow(clippy::too_many_arguments)]
    fn compact_toward_delta(
        &self,
        b: &BackupInfo,
        in_use: &HashSet<BackupId>,
        full_every: usize,
        base: &mut Option<Base>,
        since: &mut usize,
        dry_run: bool,
        now: chrono::DateTime<chrono::Local>,
    ) -> Result<Option<std::result::Result<Conversion, String>>> {
        if b.form == StoredForm::Delta {
            // An existing delta is kept when it reads through its base.
            if let Some(reason) = self.conversion_blocker(b) {
                return Ok(Some(Err(reason)));
            }
            if base.as_ref().map(|x| &x.id) == b.delta_base.as_ref() {
                *since += 1;
            }
            return Ok(None);
        }
        let due_full = *since >= full_every || in_use.contains(&b.id);
        if let (false, Some(current)) = (due_full, base.as_ref()) {
            match self.plan_delta(b, current)? {
                Err(reason) => return Ok(Some(Err(reason))),
                Ok(DeltaPlan::Delta { encoded, plain_len }) => {
                    *since += 1;
                    if dry_run {
                        return Ok(Some(Ok(Conversion {
                            id: b.id.clone(),
                            from: b.form,
                            to: StoredForm::Delta,
                            base: Some(current.id.clone()),
                            size_before: b.size.unwrap_or(0),
                            size_after: Some(encoded.bytes.len() as u64),
                            path: None,
                            trash_id: None,
                        })));
                    }
                    return self
                        .convert_to_delta(b, current, encoded, plain_len, "compact", now)
                        .map(|c| Some(Ok(c)));
                }
                Ok(DeltaPlan::Full) => {}
            }
        }
        // A full backup, and the base of what follows.
        if let Some(reason) = self.conversion_blocker(b) {
            return Ok(Some(Err(reason)));
        }
        let (conversion, full_path, stored_size) = match b.form {
            StoredForm::Zstd => (None, b.data_path.clone(), b.size.unwrap_or(0)),
            _ if dry_run => {
                // The size it would take, for the "saves much" rule of the
                // deltas after it.
                let plain = codec::read_plain(&*self.fs, &b.data_path, MAX_GRAPH_LEN)
                    .map_err(|e| StoreError::io("read backup to plan compact", &b.data_path, e))?;
                let stored = codec::compress(&plain, self.config.backup_format.compression_level)
                    .map_err(|e| StoreError::io("compress backup", &b.data_path, e))?
                    .bytes
                    .len() as u64;
                let c = Conversion {
                    id: b.id.clone(),
                    from: b.form,
                    to: StoredForm::Zstd,
                    base: None,
                    size_before: b.size.unwrap_or(0),
                    size_after: None,
                    path: None,
                    trash_id: None,
                };
                (Some(c), b.data_path.clone(), stored)
            }
            _ => {
                let c = self.convert(b, StoredForm::Zstd, "compact", now)?;
                let path = c.path.clone().unwrap_or_else(|| b.data_path.clone());
                let size = c.size_after.unwrap_or(0);
                (Some(c), path, size)
            }
        };
        // The base's JSON, read from the file that now holds it and proven
        // against its meta: a base that does not verify takes no deltas.
        *base = None;
        *since = 0;
        let sha = b.checksum.as_deref().map(str::to_ascii_lowercase);
        match (sha, codec::read_plain(&*self.fs, &full_path, MAX_GRAPH_LEN)) {
            (Some(sha), Ok(plain)) if super::digest::sha256_hex(&plain) == sha => {
                *base = Some(Base {
                    id: b.id.clone(),
                    plain,
                    sha,
                    stored_size,
                });
                *since = 1;
            }
            _ => {
                tracing::warn!(backup = %b.id, "a full backup did not read back to its checksum: no delta is made against it")
            }
        }
        Ok(conversion.map(Ok))
    }

    /// The delta of backup `b` against `base`, proven in memory; `Err`
    /// inside says why `b` is left as it is.
    fn plan_delta(
        &self,
        b: &BackupInfo,
        base: &Base,
    ) -> Result<std::result::Result<DeltaPlan, String>> {
        if let Some(reason) = self.conversion_blocker(b) {
            return Ok(Err(reason));
        }
        let Some(sha) = b.checksum.as_deref().map(str::to_ascii_lowercase) else {
            return Ok(Err("its meta records no checksum: left as it is".into()));
        };
        let plain = codec::read_plain(&*self.fs, &b.data_path, MAX_GRAPH_LEN)
            .map_err(|e| StoreError::io("read backup to convert", &b.data_path, e))?;
        if super::digest::sha256_hex(&plain) != sha {
            return Ok(Err(format!(
                "{} does not hash to its meta's checksum: left as it is",
                b.data_path.display()
            )));
        }
        let target = self.backups_dir().join(b.id.delta_file_name());
        let encoded = codec::compress_delta(
            &base.plain,
            &plain,
            self.config.backup_format.compression_level,
        )
        .map_err(|e| StoreError::io("compress a delta backup", &target, e))?;
        // Not much saved: a full backup is worth its independence.
        if encoded.bytes.len() as u64 * 2 > base.stored_size {
            return Ok(Ok(DeltaPlan::Full));
        }
        let proven = codec::proves_delta(&encoded.bytes, &base.plain, &sha)
            .map_err(|e| StoreError::io("check the delta backup", &target, e))?;
        Ok(Ok(if proven {
            DeltaPlan::Delta {
                encoded,
                plain_len: plain.len() as u64,
            }
        } else {
            DeltaPlan::Full
        }))
    }

    /// After a save under the lock: converts the backups that the new one
    /// pushed past `keep-plain` (at most two, so a save never turns into a
    /// compact of a whole history). Failures are returned as text: the
    /// save stands.
    pub(crate) fn compact_after_save(&self) -> Vec<String> {
        let format = &self.config.backup_format;
        if format.compression == codec::Compression::None || format.keep_plain == 0 {
            return Vec::new();
        }
        let Ok(listing) = self.list_backups() else {
            return Vec::new();
        };
        let now = super::now();
        let start = format.keep_plain as usize;
        let mut problems = Vec::new();
        for b in listing.backups.iter().skip(start).take(2) {
            let to = format.form_for(start);
            if !b.form.is_full() || b.form == to || !b.has_data() {
                continue;
            }
            if self.conversion_blocker(b).is_some() {
                continue;
            }
            if let Err(e) = self.convert(b, to, "keep-plain after save", now) {
                tracing::warn!(backup = %b.id, error = %e, "could not compress a backup past keep-plain; the save stands");
                problems.push(format!("{}: {e}", b.id));
            }
        }
        problems
    }

    /// Backup `b`'s meta, usable to prove a conversion against; `Err`
    /// says why not.
    fn described(&self, b: &BackupInfo) -> std::result::Result<Described, String> {
        self.read_described(b).map_err(|e| match e {
            StoreError::Refused { reason, .. } => reason,
            other => {
                format!("its meta cannot be read ({other}): nothing to prove a conversion against")
            }
        })
    }

    /// [`Store::described`] for a conversion under way: an I/O error is
    /// returned as it is (naming the operation, the path and the cause),
    /// anything else as a refusal.
    fn read_described(&self, b: &BackupInfo) -> Result<Described> {
        let refused = |reason: &str| StoreError::Refused {
            path: b.meta_path.clone().unwrap_or_else(|| b.data_path.clone()),
            reason: reason.to_string(),
        };
        let Some(path) = b.meta_path.clone() else {
            return Err(refused(
                "it has no meta: nothing to prove a conversion against",
            ));
        };
        let bytes = fs::read_file(&*self.fs, &path, meta::MAX_META_LEN)
            .map_err(|e| StoreError::io("read meta to convert", &path, e))?;
        let meta = Meta::from_slice(&bytes)
            .ok()
            .filter(|m| m.sha256().is_some())
            .ok_or_else(|| {
                refused("its meta is unusable: nothing to prove a conversion against")
            })?;
        if meta.hmac.is_some() {
            match &self.key {
                None => {
                    return Err(refused(
                        "its meta is signed (HMAC) and no key was given: converting it would \
                         break the signature (run with --key-file)",
                    ));
                }
                Some(key) if key.check(&meta) != Some(true) => {
                    return Err(refused(
                        "its meta's HMAC does not check under the key given: left as it is",
                    ));
                }
                Some(_) => {}
            }
        }
        let sha = meta.sha256().unwrap_or_default().to_ascii_lowercase();
        Ok(Described { path, meta, sha })
    }

    /// Why backup `b` cannot be converted, if it cannot: it fails
    /// verification, has no meta, or is signed under a key not loaded.
    fn conversion_blocker(&self, b: &BackupInfo) -> Option<String> {
        let described = match self.described(b) {
            Ok(d) => d,
            Err(why) => return Some(why),
        };
        let report = self
            .inspect_target(&Target::Backup(b.id.clone()), Depth::Checksum, false)
            .report;
        let proven =
            report.status.is_usable() && report.actual_checksum.as_deref() == Some(&*described.sha);
        (!proven).then(|| format!("it is {}: left as it is", report.summary()))
    }

    /// A backup with more than one data file (a conversion interrupted
    /// between writing the new file and moving the old one to the trash):
    /// the file its meta describes is proven to hold the backup, and the
    /// others go to the trash (never deleted). `Ok(None)`: one data file.
    /// `Err` says why the files are left as they are.
    fn settle(
        &self,
        b: &BackupInfo,
        dry_run: bool,
        now: chrono::DateTime<chrono::Local>,
    ) -> std::result::Result<Option<Settled>, String> {
        let dir = self.backups_dir();
        let present: Vec<StoredForm> = [StoredForm::Plain, StoredForm::Zstd, StoredForm::Delta]
            .into_iter()
            .filter(|f| {
                self.fs
                    .entry(&dir.join(b.id.stored_file_name(*f)))
                    .is_ok_and(|e| e.kind == EntryKind::File)
            })
            .collect();
        if present.len() < 2 {
            return Ok(None);
        }
        let names = present
            .iter()
            .map(|f| b.id.stored_file_name(*f))
            .collect::<Vec<_>>()
            .join(" and ");
        let d = self
            .described(b)
            .map_err(|why| format!("{names} are both there and {why}; left as they are"))?;
        let kept = match d.meta.stored_format.as_deref() {
            None => StoredForm::Plain,
            Some(codec::ZSTD_FORMAT) => StoredForm::Zstd,
            Some(codec::DELTA_FORMAT) => StoredForm::Delta,
            Some(other) => {
                return Err(format!(
                    "{names} are both there and its meta names an unknown stored format {other:?}; left as they are"
                ));
            }
        };
        let kept_path = dir.join(b.id.stored_file_name(kept));
        let whole = present.contains(&kept)
            && codec::hash_plain(&*self.fs, &kept_path, MAX_GRAPH_LEN)
                .is_ok_and(|(h, _)| h == d.sha)
            && (kept == StoredForm::Plain
                || d.meta.stored_sha256().is_none_or(|want| {
                    super::verify::hash_file(&*self.fs, &kept_path, MAX_GRAPH_LEN)
                        .is_ok_and(|(h, _)| h.eq_ignore_ascii_case(want))
                }));
        if !whole {
            return Err(format!(
                "{names} are both there (an interrupted compact) and {} that its meta describes does not hold the backup; left as they are",
                kept_path.display()
            ));
        }
        let trashed: Vec<StoredForm> = present.into_iter().filter(|f| *f != kept).collect();
        if !dry_run {
            let reasons = [format!(
                "a copy left by an interrupted compact; {} is whole and its meta describes it",
                kept_path.display()
            )];
            for form in &trashed {
                self.trash_data_file(&b.id, *form, "compact", &reasons, now)
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(Some(Settled {
            id: b.id.clone(),
            kept,
            trashed,
        }))
    }

    /// Converts backup `b` to `to`, plain or zstd (see the module doc for
    /// the order of steps). The caller holds the lock and has checked
    /// [`Store::conversion_blocker`].
    fn convert(
        &self,
        b: &BackupInfo,
        to: StoredForm,
        operation: &str,
        now: chrono::DateTime<chrono::Local>,
    ) -> Result<Conversion> {
        let d = self.read_described(b)?;
        let plain = codec::read_plain(&*self.fs, &b.data_path, MAX_GRAPH_LEN)
            .map_err(|e| StoreError::io("read backup to convert", &b.data_path, e))?;
        if super::digest::sha256_hex(&plain) != d.sha {
            return Err(StoreError::ChecksumMismatch {
                path: b.data_path.clone(),
                expected: d.sha.clone(),
                actual: super::digest::sha256_hex(&plain),
            });
        }
        let mut unsigned = d.meta.clone();
        unsigned.hmac = None;
        unsigned.size = Some(plain.len() as u64);
        let unsigned = unsigned.as_plain();
        let target = self.backups_dir().join(b.id.stored_file_name(to));
        let (bytes, new_meta) = match to {
            StoredForm::Zstd => self.encode_backup(&plain, &unsigned, &target)?,
            StoredForm::Plain => (plain, unsigned),
            StoredForm::Delta => {
                return Err(StoreError::Invalid(format!(
                    "backup {}: a delta is made against a base (convert_to_delta); nothing was changed",
                    b.id
                )));
            }
        };
        self.commit_conversion(b, to, &d, bytes, new_meta, None, operation, now)
    }

    /// Converts backup `b` to the delta `encoded` against `base` (proven
    /// in memory by the caller).
    fn convert_to_delta(
        &self,
        b: &BackupInfo,
        base: &Base,
        encoded: codec::Encoded,
        plain_len: u64,
        operation: &str,
        now: chrono::DateTime<chrono::Local>,
    ) -> Result<Conversion> {
        let d = self.read_described(b)?;
        let mut m = d.meta.clone();
        m.hmac = None;
        // The plain size, as a compressed backup's meta always records it
        // (the application's metas have none): listings and the memo use it.
        m.size = Some(plain_len);
        m.stored_format = Some(codec::DELTA_FORMAT.to_string());
        m.stored_size = Some(encoded.bytes.len() as u64);
        m.stored_checksum = Some(encoded.sha256.clone());
        m.delta_base = Some(base.id.to_string());
        m.delta_base_checksum = Some(base.sha.clone());
        self.commit_conversion(
            b,
            StoredForm::Delta,
            &d,
            encoded.bytes,
            m,
            Some(base),
            operation,
            now,
        )
    }

    /// Whether the data file at `path` holds the backup whose plain JSON
    /// hashes to `sha`: decoded from disk, a delta with `base`'s JSON.
    /// `Err`: the file could not be read (a frame that does not decode is
    /// `Ok(false)`).
    fn holds(&self, path: &Path, sha: &str, base: Option<&Base>) -> std::io::Result<bool> {
        match base {
            Some(base) => {
                let bytes = fs::read_file(&*self.fs, path, MAX_GRAPH_LEN)?;
                Ok(codec::proves_delta(&bytes, &base.plain, sha).unwrap_or(false))
            }
            None => match codec::hash_plain(&*self.fs, path, MAX_GRAPH_LEN) {
                Ok((h, _)) => Ok(h == sha),
                Err(e) if codec::is_damaged_frame(&e) => Ok(false),
                Err(e) => Err(e),
            },
        }
    }

    /// Moves one data file of backup `id` to the trash (never deleted),
    /// with why.
    fn trash_data_file(
        &self,
        id: &BackupId,
        form: StoredForm,
        operation: &str,
        reasons: &[String],
        now: chrono::DateTime<chrono::Local>,
    ) -> Result<Option<super::trash::TrashedBackup>> {
        self.move_data_file_to_trash(
            id,
            form,
            &TrashReason {
                operation,
                policy: None,
                reasons,
            },
            now,
        )
    }

    /// The steps every conversion shares, from writing the new file to
    /// moving the old one to the trash (see the module doc).
    #[allow(clippy::too_many_arguments)]
    fn commit_conversion(
        &self,
        b: &BackupInfo,
        to: StoredForm,
        d: &Described,
        bytes: Vec<u8>,
        mut new_meta: Meta,
        base: Option<&Base>,
        operation: &str,
        now: chrono::DateTime<chrono::Local>,
    ) -> Result<Conversion> {
        let sha = d.sha.as_str();
        let signed = d.meta.hmac.is_some();
        let target = self.backups_dir().join(b.id.stored_file_name(to));
        #[cfg(feature = "negative-controls")]
        if super::negative_controls::compact_trash_first() {
            let reasons =
                ["negative control: trashed before its replacement was written".to_string()];
            self.trash_data_file(&b.id, b.form, operation, &reasons, now)?;
        }
        // A file of the target's name (an interrupted compact) is reused
        // when it proves to hold this backup, else moved to the trash.
        if self.fs.entry(&target).is_ok() && !self.holds(&target, sha, base).unwrap_or(false) {
            let reasons = [format!(
                "{} did not hold backup {} (left by an interrupted compact)",
                target.display(),
                b.id
            )];
            self.trash_data_file(&b.id, to, operation, &reasons, now)?;
        }
        if self.fs.entry(&target).is_err() {
            fs::write_atomic(&*self.fs, &target, &bytes, Publish::NoReplace)?;
        }
        drop(bytes);
        // Proven from disk, as any reader will read it.
        let held = self
            .holds(&target, sha, base)
            .map_err(|e| StoreError::io("read back the converted backup", &target, e))?;
        if !held {
            return Err(StoreError::ChecksumMismatch {
                path: target.clone(),
                expected: sha.to_string(),
                actual: "other content, read back from disk".to_string(),
            }
            .left(format!(
                "backup {} is unchanged in {}",
                b.id,
                b.data_path.display()
            )));
        }
        if to != StoredForm::Plain {
            let (stored_sha, stored_len) =
                super::verify::hash_file(&*self.fs, &target, MAX_GRAPH_LEN)
                    .map_err(|e| StoreError::io("read back the converted backup", &target, e))?;
            new_meta.stored_checksum = Some(stored_sha);
            new_meta.stored_size = Some(stored_len);
        }
        // Signed again only if it was signed (and so verified under this
        // key); an unsigned meta is never made to look authenticated.
        new_meta.hmac = None;
        if signed {
            new_meta = self.sign(new_meta);
        }
        fs::write_atomic(&*self.fs, &d.path, &new_meta.to_vec(), Publish::Replace)?;
        if base.is_some() {
            // Read once more as every reader will: through the base on
            // disk that the new meta names. The old file is still there
            // (and still read first); the old meta comes back on failure.
            let read = codec::hash_plain(&*self.fs, &target, MAX_GRAPH_LEN);
            if !read.as_ref().is_ok_and(|(h, _)| h == sha) {
                fs::write_atomic(&*self.fs, &d.path, &d.meta.to_vec(), Publish::Replace)?;
                let unchanged = format!(
                    "its meta was put back and backup {} is unchanged in {}",
                    b.id,
                    b.data_path.display()
                );
                return Err(match read {
                    Ok((h, _)) => StoreError::Refused {
                        path: target,
                        reason: format!(
                            "the delta did not read back through its base (it reads as sha256 {h}); {unchanged}"
                        ),
                    },
                    Err(e) => StoreError::io("read the delta back through its base", &target, e)
                        .left(unchanged),
                });
            }
        }
        let reasons = [format!(
            "converted to {} ({}{}), verified: same SHA-256 {}",
            to.name(),
            target.display(),
            base.map(|x| format!(", against base {}", x.id))
                .unwrap_or_default(),
            &sha[..12.min(sha.len())]
        )];
        let trashed = self.trash_data_file(&b.id, b.form, operation, &reasons, now)?;
        let size_after = self.fs.entry(&target).map(|e| e.len).ok();
        tracing::info!(backup = %b.id, from = b.form.name(), to = to.name(), "converted a backup");
        Ok(Conversion {
            id: b.id.clone(),
            from: b.form,
            to,
            base: base.map(|x| x.id.clone()),
            size_before: b.size.unwrap_or(0),
            size_after,
            path: Some(target),
            trash_id: trashed.map(|t| t.id.to_string()),
        })
    }
}
