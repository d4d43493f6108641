//! `compact`: converts existing backups to the form the store's settings
//! ask for (compressed, or plain for the newest `keep-plain`), and the same
//! conversion for the backup a save pushes past `keep-plain`.
//!
//! # Safety of a conversion
//! Each backup is verified first (its bytes against its meta's checksum);
//! the new file is written beside the old one under its own name, never
//! over anything, then read back from disk and proven to give the same
//! plain JSON (SHA-256 equal to the meta's `checksum`). Only then is the
//! meta rewritten (atomically, to describe the new file) and the old file
//! moved to the trash, never deleted. A crash at any point leaves the old
//! file readable: while both files are there the plain one is read, and
//! the next `compact` finishes the conversion.
//!
//! A meta's HMAC is never made up: a meta that was authenticated is signed
//! again over its new fields; one that carried no HMAC gets none; one
//! signed under a key this run does not have is left unconverted.

use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use super::codec::{self, StoredForm};
use super::error::{Result, StoreError};
use super::fs::{self, Publish};
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
    /// The data file's size before (as stored).
    pub size_before: u64,
    /// Its size after; `None` in a dry run.
    pub size_after: Option<u64>,
    /// The new data file; `None` in a dry run.
    pub path: Option<PathBuf>,
    /// Where the old file went in the trash; `None` in a dry run.
    pub trash_id: Option<String>,
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
    pub converted: Vec<Conversion>,
    pub skipped: Vec<Skipped>,
    /// Backups already in the form asked for.
    pub unchanged: usize,
    /// Bytes of every data file before and (without a dry run) after.
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub elapsed_ms: f64,
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
        let listing = self.list_backups()?;
        let format = self.config.backup_format.clone();
        let mut report = CompactReport {
            dry_run: options.dry_run,
            compression: format.compression,
            keep_plain: format.keep_plain,
            converted: Vec::new(),
            skipped: Vec::new(),
            unchanged: 0,
            bytes_before: listing.total_size,
            bytes_after: listing.total_size,
            elapsed_ms: 0.0,
        };
        let now = super::now();
        for (newer, b) in listing.backups.iter().enumerate() {
            let to = format.form_for(newer);
            if !b.has_data() {
                continue;
            }
            let both = b.notes.iter().any(|n| n.contains("interrupted compact"));
            // A delta is a compressed backup: left as it is.
            if b.form == StoredForm::Delta && to == StoredForm::Zstd {
                report.unchanged += 1;
                continue;
            }
            if b.form == to && !both {
                report.unchanged += 1;
                continue;
            }
            if b.form == to {
                // Both files there, the plain one wanted: the compressed
                // one is what an interrupted compact left.
                match self.finish_interrupted(b, options.dry_run, now) {
                    Ok(()) => report.unchanged += 1,
                    Err(why) => report.skipped.push(Skipped {
                        id: b.id.clone(),
                        reason: why,
                    }),
                }
                continue;
            }
            match self.conversion_blocker(b) {
                Some(reason) => report.skipped.push(Skipped {
                    id: b.id.clone(),
                    reason,
                }),
                None if options.dry_run => report.converted.push(Conversion {
                    id: b.id.clone(),
                    from: b.form,
                    to,
                    size_before: b.size.unwrap_or(0),
                    size_after: None,
                    path: None,
                    trash_id: None,
                }),
                None => {
                    let done = self.convert(b, to, "compact", now).map_err(|e| {
                        e.left(format!(
                            "backup {} is readable from {}; converted before it: {}",
                            b.id,
                            b.data_path.display(),
                            report.converted.len()
                        ))
                    })?;
                    report.bytes_after = report.bytes_after - done.size_before
                        + done.size_after.unwrap_or(done.size_before);
                    report.converted.push(done);
                }
            }
        }
        report.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
        tracing::info!(
            converted = report.converted.len(),
            skipped = report.skipped.len(),
            dry_run = report.dry_run,
            "compact"
        );
        Ok(report)
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
            if b.form == to || !b.has_data() || self.conversion_blocker(b).is_some() {
                continue;
            }
            if let Err(e) = self.convert(b, to, "keep-plain after save", now) {
                tracing::warn!(backup = %b.id, error = %e, "could not compress a backup past keep-plain; the save stands");
                problems.push(format!("{}: {e}", b.id));
            }
        }
        problems
    }

    /// Why backup `b` cannot be converted, if it cannot: it fails
    /// verification, has no meta, or is signed under a key not loaded.
    fn conversion_blocker(&self, b: &BackupInfo) -> Option<String> {
        let Some(meta_path) = &b.meta_path else {
            return Some("it has no meta: nothing to prove a conversion against".to_string());
        };
        let meta = match fs::read_file(&*self.fs, meta_path, meta::MAX_META_LEN)
            .ok()
            .and_then(|bytes| Meta::from_slice(&bytes).ok())
        {
            Some(m) if m.sha256().is_some() => m,
            _ => return Some("its meta is unusable: nothing to prove a conversion against".into()),
        };
        if meta.hmac.is_some() && self.key.is_none() {
            return Some(
                "its meta is signed (HMAC) and no key was given: converting it would break the \
                 signature (run with --key-file)"
                    .to_string(),
            );
        }
        let report = self
            .inspect_target(&Target::Backup(b.id.clone()), Depth::Checksum, false)
            .report;
        let proven = report.status.is_usable()
            && report.actual_checksum.as_deref()
                == meta.sha256().map(str::to_ascii_lowercase).as_deref();
        (!proven).then(|| format!("it is {}: left as it is", report.summary()))
    }

    /// Converts backup `b` to `to` (see the module doc for the order of
    /// steps). The caller holds the lock and has checked
    /// [`Store::conversion_blocker`].
    fn convert(
        &self,
        b: &BackupInfo,
        to: StoredForm,
        operation: &str,
        now: chrono::DateTime<chrono::Local>,
    ) -> Result<Conversion> {
        let meta_path = b.meta_path.clone().ok_or_else(|| {
            StoreError::Invalid(format!("backup {} has no meta to convert against", b.id))
        })?;
        let old_meta = fs::read_file(&*self.fs, &meta_path, meta::MAX_META_LEN)
            .map_err(|e| StoreError::io("read meta to convert", &meta_path, e))
            .and_then(|bytes| {
                Meta::from_slice(&bytes).map_err(|e| StoreError::Refused {
                    path: meta_path.clone(),
                    reason: format!("its meta is not valid: {e}"),
                })
            })?;
        let sha = old_meta.sha256().unwrap_or_default().to_ascii_lowercase();
        let plain = codec::read_plain(&*self.fs, &b.data_path, MAX_GRAPH_LEN)
            .map_err(|e| StoreError::io("read backup to convert", &b.data_path, e))?;
        if super::digest::sha256_hex(&plain) != sha {
            return Err(StoreError::ChecksumMismatch {
                path: b.data_path.clone(),
                expected: sha,
                actual: super::digest::sha256_hex(&plain),
            });
        }
        let signed = old_meta.hmac.is_some();
        let mut unsigned = old_meta.clone();
        unsigned.hmac = None;
        unsigned.size = Some(plain.len() as u64);
        let dir = self.backups_dir();
        let target = dir.join(b.id.stored_file_name(to));
        let (bytes, mut new_meta) = match to {
            StoredForm::Zstd => {
                let (bytes, m) = self.encode_backup(&plain, &unsigned, &target)?;
                (bytes, m)
            }
            StoredForm::Plain => (plain, unsigned.clone().as_plain()),
            StoredForm::Delta => {
                return Err(StoreError::Invalid(format!(
                    "backup {}: compact never makes deltas (saves do); nothing was changed",
                    b.id
                )));
            }
        };
        // Signed again only if it was signed (and so verified under this
        // key); an unsigned meta is never made to look authenticated.
        new_meta.hmac = None;
        if signed {
            new_meta = self.sign(new_meta);
        }
        // A file of the target's name (an interrupted compact) is reused
        // when it proves to hold this backup, else moved to the trash.
        if self.fs.entry(&target).is_ok() {
            let same =
                codec::hash_plain(&*self.fs, &target, MAX_GRAPH_LEN).is_ok_and(|(h, _)| h == sha);
            if !same {
                let reasons = [format!(
                    "{} did not hold backup {} (left by an interrupted compact)",
                    target.display(),
                    b.id
                )];
                self.move_data_file_to_trash(
                    &b.id,
                    to,
                    &TrashReason {
                        operation,
                        policy: None,
                        reasons: &reasons,
                    },
                    now,
                )?;
            }
        }
        if self.fs.entry(&target).is_err() {
            fs::write_atomic(&*self.fs, &target, &bytes, Publish::NoReplace)?;
        }
        drop(bytes);
        // Proven from disk, as any reader will read it.
        let (actual, _) = codec::hash_plain(&*self.fs, &target, MAX_GRAPH_LEN)
            .map_err(|e| StoreError::io("read back the converted backup", &target, e))?;
        if actual != sha {
            return Err(StoreError::ChecksumMismatch {
                path: target,
                expected: sha,
                actual,
            }
            .left(format!(
                "backup {} is unchanged in {}",
                b.id,
                b.data_path.display()
            )));
        }
        if to == StoredForm::Zstd {
            let (stored_sha, stored_len) =
                super::verify::hash_file(&*self.fs, &target, MAX_GRAPH_LEN)
                    .map_err(|e| StoreError::io("read back the converted backup", &target, e))?;
            new_meta.stored_checksum = Some(stored_sha);
            new_meta.stored_size = Some(stored_len);
            new_meta.hmac = None;
            if signed {
                new_meta = self.sign(new_meta);
            }
        }
        fs::write_atomic(&*self.fs, &meta_path, &new_meta.to_vec(), Publish::Replace)?;
        let reasons = [format!(
            "converted to {} ({}), verified: same SHA-256 {}",
            to.name(),
            target.display(),
            &sha[..12]
        )];
        let trashed = self.move_data_file_to_trash(
            &b.id,
            b.form,
            &TrashReason {
                operation,
                policy: None,
                reasons: &reasons,
            },
            now,
        )?;
        let size_after = self.fs.entry(&target).map(|e| e.len).ok();
        tracing::info!(backup = %b.id, from = b.form.name(), to = to.name(), "converted a backup");
        Ok(Conversion {
            id: b.id.clone(),
            from: b.form,
            to,
            size_before: b.size.unwrap_or(0),
            size_after,
            path: Some(target),
            trash_id: trashed.map(|t| t.id.to_string()),
        })
    }

    /// A plain backup beside a compressed copy that an interrupted compact
    /// left, where plain is the form wanted: the copy goes to the trash
    /// (it is never deleted), after the plain file proves whole.
    fn finish_interrupted(
        &self,
        b: &BackupInfo,
        dry_run: bool,
        now: chrono::DateTime<chrono::Local>,
    ) -> std::result::Result<(), String> {
        if let Some(why) = self.conversion_blocker(b) {
            return Err(why);
        }
        if dry_run {
            return Ok(());
        }
        let reasons = [format!(
            "a copy left by an interrupted compact; {} is whole",
            b.data_path.display()
        )];
        self.move_data_file_to_trash(
            &b.id,
            StoredForm::Zstd,
            &TrashReason {
                operation: "compact",
                policy: None,
                reasons: &reasons,
            },
            now,
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    }
}
