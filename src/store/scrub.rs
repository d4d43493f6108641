//! The scrub: re-hashing backups on a schedule, so that a backup rotting on
//! disk is found by the daily check and not on the day it is needed.
//!
//! A run re-hashes every backup that is new or whose stat (size, mtime,
//! ctime, inode of the data file and its metas) changed since it was last
//! hashed, every backup last hashed about `days` days ago or more, and tops
//! that up with the least recently hashed others to a share of
//! `ceil(backups / days)`. Run daily, every backup is so re-hashed at least
//! every `days` days, the work spread evenly over the days. Each re-hash
//! climbs the whole ladder; the memo of verified content (see
//! [`super::memo`]) spares the parse of bytes proven before, so a re-hash
//! costs a read and a hash.
//!
//! This module owns `.graphvault/scrub.json`, the record of when each backup
//! was last hashed, with its stat and verdict. It is a cache: missing,
//! truncated or garbled, it is ignored and rebuilt (every backup is then
//! hashed once), and it is written atomically. It never decides anything
//! destructive: retention re-verifies before it removes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use chrono::{DateTime, Local, NaiveDateTime, TimeZone};
use serde::{Deserialize, Serialize};

use super::Store;
use super::error::{Result, StoreError};
use super::fs::{self, FileStat};
use super::meta;
use super::names::BackupId;
use super::verify::{Depth, FileReport, Status, Target};

/// Name of the scrub record in `.graphvault/`.
pub const SCRUB_RECORD_FILE: &str = "scrub.json";

/// A backup last hashed this long before `days` days have passed is due
/// already: a daily timer's randomized delay and the run's own length must
/// not stretch the interval past `days` days.
pub const DUE_MARGIN_SECONDS: i64 = 2 * 3600;

/// The scrub's default interval: each backup is re-hashed at least this
/// often (in days) when the check runs daily.
pub const DEFAULT_SCRUB_DAYS: u32 = 7;

/// Options of [`Store::scrub`].
#[derive(Debug, Clone, Copy)]
pub struct ScrubOptions {
    /// Every backup is re-hashed at least every this many days (at least 1).
    pub days: u32,
    /// Re-hash everything, at every level.
    pub full: bool,
    /// The clock of this run (tests simulate days with it).
    pub now: DateTime<Local>,
    /// Worker threads; 0 means one per core.
    pub threads: usize,
}

/// Why a backup was re-hashed in this run, or why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HashReason {
    /// Not in the record: never hashed by a check before.
    New,
    /// Its data file or a meta changed since it was last hashed.
    Changed,
    /// Last hashed about `days` days ago or more.
    Due,
    /// Picked for today's share, least recently hashed first.
    Share,
    /// Everything was asked for.
    Full,
    /// Not hashed in this run: the verdict is the one from `last_hashed`.
    NotDue,
}

/// One backup after the scrub.
#[derive(Debug, Clone, Serialize)]
pub struct ScrubbedBackup {
    pub id: BackupId,
    pub status: Status,
    pub reason: Option<String>,
    pub hashed: HashReason,
    /// When the verdict was established (now, for those hashed in this run).
    pub last_hashed: DateTime<Local>,
    pub size: Option<u64>,
    /// With a key: whether the meta's HMAC proved it authentic.
    pub authenticated: Option<bool>,
    /// The verdict rests on a read that failed: it could not be judged.
    pub unreadable: bool,
}

/// What a scrub did and found.
#[derive(Debug, Clone, Serialize)]
pub struct ScrubReport {
    /// Every backup, newest first.
    pub backups: Vec<ScrubbedBackup>,
    pub days: u32,
    pub full: bool,
    /// The share of this run: `ceil(backups / days)`.
    pub share: usize,
    /// Backups hashed in this run, and their bytes.
    pub hashed: usize,
    pub hashed_bytes: u64,
    pub valid: usize,
    pub unverified: usize,
    pub corrupt: usize,
    pub missing: usize,
    /// When the least recently hashed backup was last hashed.
    pub oldest_hash: Option<DateTime<Local>>,
    /// Why the record was ignored and rebuilt, if it was.
    pub record_problem: Option<String>,
    /// Why the record could not be written (the verdicts stand; the next
    /// run hashes more than it would have).
    pub record_error: Option<String>,
    pub elapsed_ms: f64,
}

impl ScrubReport {
    /// The newest backup whose verdict is valid, and its time.
    pub fn newest_valid(&self) -> Option<(&BackupId, NaiveDateTime)> {
        self.backups
            .iter()
            .find(|b| b.status == Status::Valid)
            .map(|b| (&b.id, b.id.time()))
    }

    /// Drops backups that were removed after the scrub (by retention), so
    /// the counts describe what is left.
    pub fn forget(&mut self, removed: &[BackupId]) {
        self.backups.retain(|b| !removed.contains(&b.id));
        let count = |s: Status| self.backups.iter().filter(|b| b.status == s).count();
        self.valid = count(Status::Valid);
        self.unverified = count(Status::Unverified);
        self.corrupt = count(Status::Corrupt);
        self.missing = count(Status::Missing);
    }

    /// Whether any backup is corrupt or missing.
    pub fn has_problems(&self) -> bool {
        self.corrupt + self.missing > 0
    }
}

/// The stats that identify one version of a backup: its data file and both
/// meta names (absent ones as `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct BackupStat {
    data: Option<FileStat>,
    meta: Option<FileStat>,
    alt_meta: Option<FileStat>,
}

/// What the record keeps of one backup.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RecordEntry {
    stat: BackupStat,
    /// Unix seconds.
    hashed_at: i64,
    status: Status,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    authenticated: Option<bool>,
    #[serde(default)]
    unreadable: bool,
}

const RECORD_FORMAT: u32 = 1;

#[derive(Debug, Default, Serialize, Deserialize)]
struct ScrubRecord {
    format: u32,
    backups: BTreeMap<String, RecordEntry>,
}

/// One backup to judge in this run.
struct Job {
    id: BackupId,
    stat: BackupStat,
    previous: Option<RecordEntry>,
    reason: HashReason,
}

fn local_from_unix(secs: i64) -> DateTime<Local> {
    Local
        .timestamp_opt(secs, 0)
        .earliest()
        .unwrap_or_else(super::now)
}

impl Store {
    fn scrub_record_path(&self) -> PathBuf {
        self.state_dir().join(SCRUB_RECORD_FILE)
    }

    /// The record, or an empty one and why the stored one was not usable.
    fn read_scrub_record(&self) -> (ScrubRecord, Option<String>) {
        let path = self.scrub_record_path();
        let bytes = match fs::read_file(&*self.fs, &path, 64 * meta::MAX_META_LEN) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return (ScrubRecord::default(), None);
            }
            Err(e) => {
                return (
                    ScrubRecord::default(),
                    Some(format!("cannot read {}: {e}", path.display())),
                );
            }
        };
        match serde_json::from_slice::<ScrubRecord>(&bytes) {
            Ok(r) if r.format == RECORD_FORMAT => (r, None),
            Ok(r) => (
                ScrubRecord::default(),
                Some(format!(
                    "{} has format {} (this graphvault writes {RECORD_FORMAT})",
                    path.display(),
                    r.format
                )),
            ),
            Err(e) => (
                ScrubRecord::default(),
                Some(format!("{} is not a valid record: {e}", path.display())),
            ),
        }
    }

    fn stat_backup(&self, id: &BackupId) -> Result<BackupStat> {
        let dir = self.backups_dir();
        let stat = |name: String| -> Result<Option<FileStat>> {
            let path = dir.join(name);
            match self.fs.file_stat(&path) {
                Ok(s) => Ok(Some(s)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(StoreError::io("stat backup", path, e)),
            }
        };
        Ok(BackupStat {
            data: stat(
                self.backup_data_path(id)
                    .file_name()
                    .map_or_else(|| id.data_file_name(), |n| n.to_string_lossy().into_owned()),
            )?,
            meta: stat(id.meta_file_name())?,
            alt_meta: stat(id.alt_meta_file_name())?,
        })
    }

    /// Re-hashes the backups that are new, changed, due, or in today's
    /// share (everything with `full`), and reports every backup's verdict:
    /// fresh for those hashed now, from the record for the others. Reads
    /// the backups only; writes only its record. Needs no lock.
    ///
    /// # Errors
    /// `backups/` cannot be listed, or a backup cannot be stat'ed. A record
    /// that cannot be read or written is reported, not an error.
    pub fn scrub(&self, options: ScrubOptions) -> Result<ScrubReport> {
        let started = Instant::now();
        let days = options.days.max(1);
        let now_unix = options.now.timestamp();
        let listing = self.list_backups()?;
        let (mut record, record_problem) = self.read_scrub_record();

        let mut jobs = Vec::with_capacity(listing.backups.len());
        for b in &listing.backups {
            let stat = self.stat_backup(&b.id)?;
            let previous = record.backups.remove(&b.id.to_string());
            let due_at = |p: &RecordEntry| {
                p.hashed_at + i64::from(days) * 86_400 - DUE_MARGIN_SECONDS <= now_unix
            };
            let changed = |p: &RecordEntry| {
                #[cfg(feature = "negative-controls")]
                if super::negative_controls::scrub_ignores_stat() {
                    return false;
                }
                p.stat != stat
            };
            let reason = match &previous {
                _ if options.full => HashReason::Full,
                None => HashReason::New,
                Some(p) if changed(p) => HashReason::Changed,
                Some(p) if due_at(p) => HashReason::Due,
                Some(_) => HashReason::NotDue,
            };
            jobs.push(Job {
                id: b.id.clone(),
                stat,
                previous,
                reason,
            });
        }

        // Today's share: what is due counts toward it (new and changed
        // backups do not: they are extra work that a save caused), and the
        // least recently hashed of the rest fill it up.
        let share = jobs.len().div_ceil(days as usize);
        let due = jobs.iter().filter(|j| j.reason == HashReason::Due).count();
        let mut waiting: Vec<usize> = (0..jobs.len())
            .filter(|&i| jobs[i].reason == HashReason::NotDue)
            .collect();
        waiting.sort_by_key(|&i| {
            let j = &jobs[i];
            (
                j.previous.as_ref().map_or(i64::MIN, |p| p.hashed_at),
                j.id.clone(),
            )
        });
        for &i in waiting.iter().take(share.saturating_sub(due)) {
            jobs[i].reason = HashReason::Share;
        }

        // --full parses again what the memo has proven.
        let hasher = if options.full {
            self.clone().with_deep(true)
        } else {
            self.clone()
        };
        let results = hasher.judge_jobs(&jobs, options);
        let mut report = ScrubReport {
            backups: Vec::with_capacity(jobs.len()),
            days,
            full: options.full,
            share,
            hashed: 0,
            hashed_bytes: 0,
            valid: 0,
            unverified: 0,
            corrupt: 0,
            missing: 0,
            oldest_hash: None,
            record_problem,
            record_error: None,
            elapsed_ms: 0.0,
        };
        let mut next = ScrubRecord {
            format: RECORD_FORMAT,
            backups: BTreeMap::new(),
        };
        let mut oldest = i64::MAX;
        for (job, entry) in jobs.iter().zip(results) {
            if job.reason != HashReason::NotDue {
                report.hashed += 1;
                report.hashed_bytes += job.stat.data.map_or(0, |s| s.len);
            }
            match entry.status {
                Status::Valid => report.valid += 1,
                Status::Unverified => report.unverified += 1,
                Status::Corrupt => report.corrupt += 1,
                Status::Missing => report.missing += 1,
            }
            oldest = oldest.min(entry.hashed_at);
            report.backups.push(ScrubbedBackup {
                id: job.id.clone(),
                status: entry.status,
                reason: entry.reason.clone(),
                hashed: job.reason,
                last_hashed: local_from_unix(entry.hashed_at),
                size: job.stat.data.map(|s| s.len),
                authenticated: entry.authenticated,
                unreadable: entry.unreadable,
            });
            next.backups.insert(job.id.to_string(), entry);
        }
        report.oldest_hash = (oldest != i64::MAX).then(|| local_from_unix(oldest));
        // Entries of backups no longer listed are dropped: the record stays
        // as large as the backups directory.
        let bytes = serde_json::to_vec(&next).unwrap_or_default();
        if let Err(e) = self.check_own_dir(&self.state_dir()).and_then(|()| {
            fs::write_atomic(
                &*self.fs,
                &self.scrub_record_path(),
                &bytes,
                fs::Publish::Replace,
            )
        }) {
            tracing::warn!(error = %e, "scrub record not written");
            report.record_error = Some(e.to_string());
        }
        report.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
        tracing::info!(
            hashed = report.hashed,
            bytes = report.hashed_bytes,
            corrupt = report.corrupt,
            missing = report.missing,
            elapsed_ms = report.elapsed_ms,
            "scrubbed backups"
        );
        Ok(report)
    }

    /// The new record entry of every job, in order: hashed on a few worker
    /// threads for those picked, carried over for the others.
    fn judge_jobs(&self, jobs: &[Job], options: ScrubOptions) -> Vec<RecordEntry> {
        let picked: Vec<usize> = (0..jobs.len())
            .filter(|&i| jobs[i].reason != HashReason::NotDue)
            .collect();
        let threads = match options.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
        .clamp(1, picked.len().max(1));
        let next = AtomicUsize::new(0);
        let fresh: Mutex<BTreeMap<usize, RecordEntry>> = Mutex::new(BTreeMap::new());
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    while let Some(&i) = picked.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let entry = self.hash_one(&jobs[i], options.now.timestamp());
                        if let Ok(mut f) = fresh.lock() {
                            f.insert(i, entry);
                        }
                    }
                });
            }
        });
        let mut fresh = fresh.into_inner().unwrap_or_default();
        jobs.iter()
            .enumerate()
            .map(|(i, job)| match (fresh.remove(&i), &job.previous) {
                (Some(entry), _) => entry,
                (None, Some(previous)) if job.reason == HashReason::NotDue => previous.clone(),
                // A picked job whose worker did not report (it cannot
                // happen short of a panic): judge it here rather than guess.
                (None, _) => self.hash_one(job, options.now.timestamp()),
            })
            .collect()
    }

    /// Hashes one backup and climbs the whole ladder; the memo of verified
    /// content spares the parse of bytes proven before (with `full`, the
    /// store is deep and parses again).
    fn hash_one(&self, job: &Job, now_unix: i64) -> RecordEntry {
        let target = Target::Backup(job.id.clone());
        let report = self.inspect_target(&target, Depth::Full, false).report;
        log_verdict(&report);
        RecordEntry {
            stat: job.stat,
            hashed_at: now_unix,
            status: report.status,
            reason: report.reason,
            authenticated: report.authenticated,
            unreadable: report.unreadable,
        }
    }
}

fn log_verdict(report: &FileReport) {
    if !report.status.is_usable() {
        tracing::warn!(backup = %report.target, status = report.status.name(), reason = report.reason.as_deref().unwrap_or(""), "scrub: backup failed verification");
    }
}
