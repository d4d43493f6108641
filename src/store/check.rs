//! `check`: the one operation for a timer. In order, each step switchable
//! in the store's config: verify the primary fully, scrub the backups
//! ([`super::scrub`]), purge the trash items whose grace period is over,
//! apply retention, push to the remotes that push automatically, then
//! record the outcome ([`super::status`]) in `.graphvault/status.json` and,
//! when asked, as a Prometheus text file.
//!
//! The purge runs before retention, as in every rotation, so nothing this
//! check moves to the trash can be purged by it, whatever the grace period.
//! The push runs after the lock is released (a push reads without it, and a
//! save must not wait for an upload); the store knows nothing of S3, so the
//! caller supplies the pushing as an [`OffsitePush`].
//!
//! Every step runs whatever the steps before it found, and its failure is
//! recorded beside, never instead of, what they found: the health is the
//! most serious of all of it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Local, TimeZone};
use serde::{Deserialize, Serialize};

use super::error::{Result, StoreError};
use super::fs::EntryKind;
use super::names::BackupId;
use super::retention;
use super::scrub::{DEFAULT_SCRUB_DAYS, ScrubOptions, ScrubReport};
use super::status::{
    BackupCounts, DEFAULT_MAX_AGE_SECONDS, Findings, Health, NewestValid, OffsiteState,
    PrimaryState, ScrubSummary, StatusRecord,
};
use super::trash::PurgedItem;
use super::verify::{Depth, FileReport, Status, Target};
use super::{Store, StoreConfig};

/// Which steps `check` runs, and its thresholds: the `check` section of
/// `.graphvault/config.json`. Absent keys take the defaults (every step on,
/// a 7-day scrub, a 2-day staleness threshold); unknown keys are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckConfig {
    #[serde(default = "yes")]
    pub verify_primary: bool,
    #[serde(default = "yes")]
    pub scrub: bool,
    #[serde(default = "yes")]
    pub retention: bool,
    /// Purge the trash items whose grace period is over.
    #[serde(default = "yes")]
    pub purge_trash: bool,
    /// Push to the remotes that push automatically.
    #[serde(default = "yes")]
    pub push: bool,
    /// Build the node index of each graph that has none, so that `history` reads
    /// indexes instead of scanning whole files.
    #[serde(default = "yes")]
    pub index_nodes: bool,
    /// Every backup is re-hashed at least every this many days.
    #[serde(default = "default_scrub_days")]
    pub scrub_days: u32,
    /// Older than this, the newest valid backup makes the store stale
    /// (`"2d"`, `"36h"`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "retention::duration_text"
    )]
    pub max_age: Option<chrono::Duration>,
}

fn yes() -> bool {
    true
}

fn default_scrub_days() -> u32 {
    DEFAULT_SCRUB_DAYS
}

impl Default for CheckConfig {
    fn default() -> Self {
        CheckConfig {
            verify_primary: true,
            scrub: true,
            retention: true,
            purge_trash: true,
            push: true,
            index_nodes: true,
            scrub_days: DEFAULT_SCRUB_DAYS,
            max_age: None,
        }
    }
}

impl CheckConfig {
    /// Checks the values are usable.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for a scrub interval of 0 or a threshold
    /// that is not positive.
    pub fn validate(&self) -> Result<()> {
        if self.scrub_days == 0 {
            return Err(StoreError::Invalid(
                "check: scrub_days must be at least 1".to_string(),
            ));
        }
        if self.max_age.is_some_and(|d| d <= chrono::Duration::zero()) {
            return Err(StoreError::Invalid(
                "check: max_age must be positive".to_string(),
            ));
        }
        Ok(())
    }
}

/// The off-site step of a check, supplied by the caller (the CLI passes
/// [`crate::remote::push::CheckPush`]) so that the store needs no S3 client.
pub trait OffsitePush: std::fmt::Debug + Send + Sync {
    /// Pushes to every remote of `store` that pushes automatically and
    /// returns each outcome with that remote's last successful push. Never
    /// fails: a failure is an outcome.
    fn push(&self, store: &Store) -> Vec<OffsiteOutcome>;
    /// The same remotes' last successful pushes, without pushing (for the
    /// lag when the push step is off or cannot run).
    fn last_successes(&self, store: &Store) -> Vec<OffsiteOutcome>;
}

/// One remote in the check's off-site step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OffsiteOutcome {
    pub remote: String,
    /// Whether this check's push succeeded; `None` when it did not push.
    pub pushed: Option<bool>,
    /// Backups sent by this check's push.
    pub sent: usize,
    pub error: Option<String>,
    /// The last successful push to this remote (this one or earlier).
    pub last_success: Option<DateTime<Local>>,
}

/// Options of [`Store::check`]; `None` takes the store's config.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Pushes to the remotes that push automatically. Without it the push
    /// step is skipped and the off-site lag is unknown.
    pub offsite: Option<Arc<dyn OffsitePush>>,
    pub scrub_days: Option<u32>,
    /// Re-hash every backup at every level.
    pub full: bool,
    pub max_age: Option<chrono::Duration>,
    /// Also write the record as a Prometheus text file here.
    pub metrics_file: Option<PathBuf>,
    /// The clock of this check (tests simulate days with it).
    pub at: Option<DateTime<Local>>,
}

/// How one step went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    /// Ran and found nothing wrong.
    Ok,
    /// Ran and found an integrity problem.
    Problem,
    /// Could not run to its end.
    Failed,
    /// Switched off in the config, or impossible after an earlier failure.
    Skipped,
}

/// One step of the check.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub step: &'static str,
    pub outcome: StepOutcome,
    pub detail: String,
    pub elapsed_ms: f64,
}

/// What retention did in a check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckRetention {
    pub kept: usize,
    pub removed: usize,
    pub removed_ids: Vec<BackupId>,
    pub removed_files: Vec<PathBuf>,
}

/// The outcome of [`Store::check`].
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub health: Health,
    pub exit_code: u8,
    pub steps: Vec<StepReport>,
    pub primary: Option<FileReport>,
    pub scrub: Option<ScrubReport>,
    pub retention: Option<CheckRetention>,
    /// What the trash purge removed.
    pub purged: Option<Vec<PurgedItem>>,
    /// Each remote that pushes automatically.
    pub offsite: Vec<OffsiteOutcome>,
    /// What was recorded in `.graphvault/status.json` (and the metrics).
    pub record: StatusRecord,
    pub metrics_file: Option<PathBuf>,
    pub elapsed_ms: f64,
}

impl Store {
    /// Runs the unattended check (see the module docs) and records its
    /// outcome. Takes the write lock for its whole run; when another
    /// process holds it, nothing is done and the health is
    /// [`Health::Locked`]. Findings, failed steps and staleness are all in
    /// the report; only an invalid option is an error.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for an invalid scrub interval or threshold.
    pub fn check(&self, options: &CheckOptions) -> Result<CheckReport> {
        let started = Instant::now();
        let now = options.at.unwrap_or_else(super::now);
        let config: StoreConfig = self.config().clone();
        let mut cfg = config.check.clone();
        if let Some(d) = options.scrub_days {
            cfg.scrub_days = d;
        }
        if options.max_age.is_some() {
            cfg.max_age = options.max_age;
        }
        cfg.validate()?;
        let max_age = cfg
            .max_age
            .map_or(DEFAULT_MAX_AGE_SECONDS, |d| d.num_seconds());
        let previous = self.read_status_record().ok();

        let mut findings = Findings::default();
        let mut steps = Vec::new();
        if let Some(problem) = self.config_problem() {
            findings
                .failures
                .push(format!("store config unusable, defaults used: {problem}"));
        }

        let guard = match self.lock() {
            Ok(g) => Some(g),
            Err(StoreError::Locked { holder, .. }) => {
                findings.locked = true;
                steps.push(StepReport {
                    step: "lock",
                    outcome: StepOutcome::Failed,
                    detail: format!("held by {holder}: nothing was checked (retry later)"),
                    elapsed_ms: 0.0,
                });
                let earlier_success = previous.as_ref().and_then(|p| p.last_success_at);
                let record = self.locked_record(previous, &findings, now, started, max_age);
                let mut report = CheckReport {
                    health: record.health,
                    exit_code: record.exit_code,
                    steps,
                    primary: None,
                    scrub: None,
                    retention: None,
                    purged: None,
                    offsite: Vec::new(),
                    record,
                    metrics_file: None,
                    elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
                };
                self.publish_metrics(options, &mut report, earlier_success);
                return Ok(report);
            }
            Err(e) => {
                // Reading needs no lock: go on, and record why nothing
                // that writes could run.
                findings.failures.push(format!("lock: {e}"));
                steps.push(StepReport {
                    step: "lock",
                    outcome: StepOutcome::Failed,
                    detail: e.to_string(),
                    elapsed_ms: 0.0,
                });
                None
            }
        };

        // Step: verify the primary fully.
        let primary = if cfg.verify_primary {
            let t = Instant::now();
            let report = self.verify(&Target::Primary, Depth::Full);
            match report {
                Ok(r) => {
                    let bad = matches!(r.status, Status::Corrupt | Status::Missing);
                    if bad {
                        findings.integrity.push(format!("primary: {}", r.summary()));
                    }
                    steps.push(step("verify_primary", bad, r.summary(), t));
                    Some(r)
                }
                Err(e) => {
                    findings.failures.push(format!("verify primary: {e}"));
                    steps.push(failed("verify_primary", &e, t));
                    None
                }
            }
        } else {
            steps.push(skipped(
                "verify_primary",
                "switched off in the store's config",
            ));
            None
        };

        // Step: scrub the backups.
        let scrub = if cfg.scrub {
            let t = Instant::now();
            match self.scrub(ScrubOptions {
                days: cfg.scrub_days,
                full: options.full,
                now,
                threads: 0,
            }) {
                Ok(s) => {
                    for b in s.backups.iter().filter(|b| b.unreadable) {
                        // A read that failed says nothing about the bytes:
                        // not corruption, but the check could not vouch.
                        findings.failures.push(format!(
                            "{}: could not be judged: {}",
                            b.id,
                            b.reason.as_deref().unwrap_or("read failed")
                        ));
                    }
                    for b in s
                        .backups
                        .iter()
                        .filter(|b| !b.unreadable && !b.status.is_usable())
                    {
                        findings.integrity.push(format!(
                            "{}: {}{}",
                            b.id,
                            b.status.name(),
                            b.reason
                                .as_deref()
                                .map(|r| format!(": {r}"))
                                .unwrap_or_default()
                        ));
                    }
                    if let Some(e) = &s.record_error {
                        findings.failures.push(format!("scrub record: {e}"));
                    }
                    let mut detail = format!(
                        "{} of {} backups re-hashed ({} bytes): {} valid, {} unverified, {} corrupt, {} missing",
                        s.hashed,
                        s.backups.len(),
                        s.hashed_bytes,
                        s.valid,
                        s.unverified,
                        s.corrupt,
                        s.missing
                    );
                    if let Some(p) = &s.record_problem {
                        detail.push_str(&format!("; record ignored and rebuilt ({p})"));
                    }
                    let outcome = if s.has_problems() {
                        StepOutcome::Problem
                    } else if s.record_error.is_some() {
                        StepOutcome::Failed
                    } else {
                        StepOutcome::Ok
                    };
                    steps.push(StepReport {
                        step: "scrub",
                        outcome,
                        detail,
                        elapsed_ms: ms(t),
                    });
                    Some(s)
                }
                Err(e) => {
                    findings.failures.push(format!("scrub: {e}"));
                    steps.push(failed("scrub", &e, t));
                    None
                }
            }
        } else {
            steps.push(skipped("scrub", "switched off in the store's config"));
            None
        };

        // Step: purge the trash, before retention moves anything there.
        let purged = if !cfg.purge_trash {
            steps.push(skipped("purge_trash", "switched off in the store's config"));
            None
        } else if guard.is_none() {
            steps.push(skipped(
                "purge_trash",
                "not run: the write lock could not be taken",
            ));
            None
        } else if let Some(problem) = self.config_problem() {
            // The grace period is the config's: the default is a guess, and
            // nothing is purged for good on a guess (the failure is counted
            // above, with the config's).
            steps.push(StepReport {
                step: "purge_trash",
                outcome: StepOutcome::Failed,
                detail: format!(
                    "not run: the trash's grace period (trash_grace) is not known while the \
                     store config cannot be used: {problem}"
                ),
                elapsed_ms: 0.0,
            });
            None
        } else {
            let t = Instant::now();
            // The store's history vouches for an expiry, never the clock alone.
            let history = self
                .list_backups()
                .ok()
                .and_then(|l| l.backups.iter().map(|b| b.id.time()).max());
            match self.purge_expired_trash(now, history) {
                Ok((p, held)) => {
                    let mut detail = if p.is_empty() {
                        format!(
                            "nothing past its grace period ({})",
                            retention::format_duration(self.trash_grace())
                        )
                    } else {
                        format!(
                            "{} purged ({} bytes): {}",
                            p.len(),
                            p.iter().map(|i| i.size).sum::<u64>(),
                            p.iter()
                                .map(|i| i.backup_id.to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    };
                    if let Some(held) = held {
                        detail.push_str(&format!("; {held}"));
                    }
                    steps.push(step("purge_trash", false, detail, t));
                    Some(p)
                }
                Err(e) => {
                    findings.failures.push(format!("purge trash: {e}"));
                    steps.push(failed("purge_trash", &e, t));
                    None
                }
            }
        };

        // Step: retention.
        let mut scrub = scrub;
        let retention = if !cfg.retention {
            steps.push(skipped("retention", "switched off in the store's config"));
            None
        } else if guard.is_none() {
            steps.push(skipped(
                "retention",
                "not run: the write lock could not be taken",
            ));
            None
        } else if let Some(problem) = self.config_problem() {
            findings.failures.push(format!(
                "retention: the store's policy cannot be used ({problem})"
            ));
            steps.push(StepReport {
                step: "retention",
                outcome: StepOutcome::Failed,
                detail: format!("the store's policy cannot be used: {problem}"),
                elapsed_ms: 0.0,
            });
            None
        } else {
            let t = Instant::now();
            match self.check_retention(&config.retention, now) {
                Ok(r) => {
                    let detail = if r.removed == 0 {
                        format!("{} kept, nothing to remove", r.kept)
                    } else {
                        format!("{} kept, {} removed", r.kept, r.removed)
                    };
                    steps.push(step("retention", false, detail, t));
                    Some(r)
                }
                Err(e) => {
                    findings.failures.push(format!("retention: {e}"));
                    steps.push(failed("retention", &e, t));
                    None
                }
            }
        };
        drop(guard);
        if let (Some(s), Some(r)) = (scrub.as_mut(), &retention) {
            s.forget(&r.removed_ids);
        }

        // Step: index the graphs that have no node index yet (after retention,
        // so that nothing it moved to the trash is read). A cache: what fails
        // here is reported, and judged by the verify and scrub steps, not here.
        if cfg.index_nodes {
            let t = Instant::now();
            match self.index_missing(0) {
                Ok(r) => {
                    let mut detail = format!("{} indexed, {} already indexed", r.built, r.already);
                    for (name, why) in &r.failed {
                        detail.push_str(&format!("; {name} not indexed: {why}"));
                    }
                    steps.push(step("index_nodes", false, detail, t));
                }
                Err(e) => {
                    findings.failures.push(format!("index nodes: {e}"));
                    steps.push(failed("index_nodes", &e, t));
                }
            }
        } else {
            steps.push(skipped("index_nodes", "switched off in the store's config"));
        }

        // Step: push to the remotes that push automatically.
        let auto_push = config.remotes.iter().any(|r| r.auto_push);
        let offsite = match (&options.offsite, auto_push) {
            (_, false) => {
                steps.push(skipped("push", "no remote pushes automatically"));
                Vec::new()
            }
            (None, true) => {
                steps.push(skipped(
                    "push",
                    "no off-site client given to this check: the lag is unknown",
                ));
                Vec::new()
            }
            (Some(pusher), true) if !cfg.push => {
                steps.push(skipped("push", "switched off in the store's config"));
                pusher.last_successes(self)
            }
            (Some(pusher), true) => {
                let t = Instant::now();
                let outcomes = pusher.push(self);
                let mut parts = Vec::new();
                let mut bad = false;
                for o in &outcomes {
                    match (o.pushed, &o.error) {
                        (Some(true), _) => parts.push(format!("{}: {} sent", o.remote, o.sent)),
                        (_, error) => {
                            bad = true;
                            let why = error.clone().unwrap_or_else(|| "failed".to_string());
                            findings
                                .failures
                                .push(format!("push to remote {}: {why}", o.remote));
                            parts.push(format!("{}: {why}", o.remote));
                        }
                    }
                }
                steps.push(StepReport {
                    step: "push",
                    outcome: if bad {
                        StepOutcome::Failed
                    } else {
                        StepOutcome::Ok
                    },
                    detail: parts.join("; "),
                    elapsed_ms: ms(t),
                });
                outcomes
            }
        };
        let last_pushes: Vec<(String, Option<DateTime<Local>>)> = offsite
            .iter()
            .map(|o| (o.remote.clone(), o.last_success))
            .collect();

        // Step: record the outcome.
        let newest_valid = scrub.as_ref().and_then(|s| {
            s.newest_valid().map(|(id, time)| NewestValid {
                id: id.to_string(),
                time,
                unix: Local
                    .from_local_datetime(&time)
                    .earliest()
                    .map_or(0, |t| t.timestamp()),
            })
        });
        // With the scrub off, the check vouches for no backup: stale.
        let newest_time = newest_valid.as_ref().map(|n| n.time);
        let (health, stale) =
            super::status::judge(&findings, newest_time, &last_pushes, max_age, now);
        // As the evidence listing counts it (and the UI shows it).
        let evidence_bytes = self
            .list_evidence(None)
            .map_or_else(|_| self.dir_bytes(&self.evidence_dir()), |l| l.total_size);
        let trash_bytes = self.list_trash().map_or(0, |l| l.total_size);
        let mut record = StatusRecord {
            format: StatusRecord::format(),
            written_by: format!("graphvault {}", env!("CARGO_PKG_VERSION")),
            store: self.root().to_path_buf(),
            checked_at: now,
            duration_seconds: 0.0,
            health,
            exit_code: health.exit_code(),
            summary: String::new(),
            primary: primary.as_ref().map(|p| PrimaryState {
                status: p.status,
                reason: p.reason.clone(),
            }),
            backups: scrub.as_ref().map(|s| BackupCounts {
                total: s.backups.len(),
                valid: s.valid,
                unverified: s.unverified,
                corrupt: s.corrupt,
                missing: s.missing,
            }),
            newest_valid_backup: newest_valid,
            scrub: scrub.as_ref().map(|s| ScrubSummary {
                days: s.days,
                full: s.full,
                hashed: s.hashed,
                hashed_bytes: s.hashed_bytes,
                oldest_hash_unix: s.oldest_hash.map(|t| t.timestamp()),
            }),
            scrubbed_bytes_total: previous.as_ref().map_or(0, |p| p.scrubbed_bytes_total)
                + scrub.as_ref().map_or(0, |s| s.hashed_bytes),
            last_success_at: previous.as_ref().and_then(|p| p.last_success_at),
            evidence_bytes,
            trash_bytes,
            offsite_lag_seconds: super::status::offsite_lag(&last_pushes, now),
            offsite: offsite
                .iter()
                .map(|o| OffsiteState {
                    remote: o.remote.clone(),
                    last_success_unix: o.last_success.map(|t| t.timestamp()),
                    lag_seconds: o.last_success.map(|t| super::status::lag_seconds(now, t)),
                    push_ok: o.pushed,
                    error: o.error.clone(),
                })
                .collect(),
            integrity: findings.integrity.clone(),
            failures: findings.failures.clone(),
            stale,
            max_age_seconds: max_age,
        };
        let mut report = CheckReport {
            health,
            exit_code: health.exit_code(),
            steps,
            primary,
            scrub,
            retention,
            purged,
            offsite,
            record: record.clone(),
            metrics_file: None,
            elapsed_ms: 0.0,
        };
        finish_record(&mut record, &findings, started);
        report.record = record;
        let earlier_success = previous.as_ref().and_then(|p| p.last_success_at);
        // The metrics first, then status.json: a failure to write the
        // metrics is then part of the record that `status` reads.
        self.publish_metrics(options, &mut report, earlier_success);
        let t = Instant::now();
        match self.write_status_record(&report.record) {
            Ok(()) => report.steps.push(step(
                "record",
                false,
                self.status_path().display().to_string(),
                t,
            )),
            Err(e) => {
                report.steps.push(failed("record", &e, t));
                degrade(&mut report, format!("record: {e}"), earlier_success);
            }
        }
        report.health = report.record.health;
        report.exit_code = report.record.exit_code;
        report.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
        tracing::info!(
            health = report.health.name(),
            exit_code = report.exit_code,
            elapsed_ms = report.elapsed_ms,
            "check done"
        );
        Ok(report)
    }

    /// The record of a check that found the lock held: what was known
    /// before stands, with this attempt's time and result.
    fn locked_record(
        &self,
        previous: Option<StatusRecord>,
        findings: &Findings,
        now: DateTime<Local>,
        started: Instant,
        max_age: i64,
    ) -> StatusRecord {
        let mut record = previous.unwrap_or_else(|| StatusRecord {
            format: StatusRecord::format(),
            written_by: String::new(),
            store: self.root().to_path_buf(),
            checked_at: now,
            duration_seconds: 0.0,
            health: Health::Locked,
            exit_code: Health::Locked.exit_code(),
            summary: String::new(),
            primary: None,
            backups: None,
            newest_valid_backup: None,
            scrub: None,
            scrubbed_bytes_total: 0,
            last_success_at: None,
            evidence_bytes: 0,
            trash_bytes: 0,
            offsite_lag_seconds: None,
            offsite: Vec::new(),
            integrity: Vec::new(),
            failures: Vec::new(),
            stale: Vec::new(),
            max_age_seconds: max_age,
        });
        record.written_by = format!("graphvault {}", env!("CARGO_PKG_VERSION"));
        record.checked_at = now;
        record.health = Health::Locked;
        record.exit_code = Health::Locked.exit_code();
        record.integrity.clear();
        record.failures.clear();
        record.stale.clear();
        record.max_age_seconds = max_age;
        finish_record(&mut record, findings, started);
        record
    }

    /// Writes the metrics file when asked; a failure is recorded.
    fn publish_metrics(
        &self,
        options: &CheckOptions,
        report: &mut CheckReport,
        earlier_success: Option<DateTime<Local>>,
    ) {
        let Some(path) = &options.metrics_file else {
            return;
        };
        let t = Instant::now();
        match self.write_metrics(path, &report.record) {
            Ok(()) => {
                report.metrics_file = Some(path.clone());
                report
                    .steps
                    .push(step("metrics", false, path.display().to_string(), t));
            }
            Err(e) => {
                report.steps.push(failed("metrics", &e, t));
                degrade(report, format!("metrics: {e}"), earlier_success);
            }
        }
    }

    /// Retention in a check: the ordinary rotation, which judges backups
    /// from their metas and the memo and confirms by hashing what its
    /// removals rely on.
    fn check_retention(
        &self,
        policy: &retention::RetentionPolicy,
        now: DateTime<Local>,
    ) -> Result<CheckRetention> {
        // The check's own step purges the trash (or is switched off).
        let r = self.rotate_locked_keeping_trash(policy, now.naive_local())?;
        Ok(CheckRetention {
            kept: r.plan.kept,
            removed: r.plan.removed,
            removed_ids: r
                .plan
                .decisions
                .iter()
                .filter(|d| d.action == retention::Action::Remove)
                .map(|d| d.id.clone())
                .collect(),
            removed_files: r.removed_files,
        })
    }

    /// Total size of the regular files directly in `dir` (0 when absent).
    fn dir_bytes(&self, dir: &std::path::Path) -> u64 {
        self.fs.read_dir(dir).map_or(0, |entries| {
            entries
                .iter()
                .filter(|e| e.kind == EntryKind::File)
                .map(|e| e.len)
                .sum()
        })
    }
}

/// Records a step that failed after the health was judged: the failure is
/// added, and the health becomes [`Health::Failed`] unless something more
/// serious was already found. This check is then no success.
fn degrade(report: &mut CheckReport, why: String, earlier_success: Option<DateTime<Local>>) {
    let record = &mut report.record;
    record.failures.push(why);
    if record.health > Health::Failed {
        record.health = Health::Failed;
        record.exit_code = Health::Failed.exit_code();
        record.last_success_at = earlier_success;
        let findings = Findings {
            integrity: record.integrity.clone(),
            failures: record.failures.clone(),
            locked: false,
        };
        record.summary = summary_line(record, &findings);
    }
    report.health = record.health;
    report.exit_code = record.exit_code;
}

/// Fills in the duration and the one-line summary, and the time of the
/// last success when this check is one.
fn finish_record(record: &mut StatusRecord, findings: &Findings, started: Instant) {
    record.duration_seconds = started.elapsed().as_secs_f64();
    if record.health == Health::Healthy {
        record.last_success_at = Some(record.checked_at);
    }
    record.summary = summary_line(record, findings);
}

/// One line: the health and the first reason for it.
fn summary_line(record: &StatusRecord, findings: &Findings) -> String {
    let first = |v: &[String]| v.first().cloned().unwrap_or_default();
    match record.health {
        Health::Healthy => "healthy".to_string(),
        Health::Integrity => format!(
            "integrity problem: {}{}",
            first(&findings.integrity),
            more(findings.integrity.len())
        ),
        Health::Failed => format!(
            "a step failed: {}{}",
            first(&findings.failures),
            more(findings.failures.len())
        ),
        Health::Locked => "locked by another process: retry later".to_string(),
        Health::Stale => format!("stale: {}", first(&record.stale)),
    }
}

fn more(n: usize) -> String {
    if n > 1 {
        format!(" (and {} more)", n - 1)
    } else {
        String::new()
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn step(name: &'static str, problem: bool, detail: String, t: Instant) -> StepReport {
    StepReport {
        step: name,
        outcome: if problem {
            StepOutcome::Problem
        } else {
            StepOutcome::Ok
        },
        detail,
        elapsed_ms: ms(t),
    }
}

fn failed(name: &'static str, e: &StoreError, t: Instant) -> StepReport {
    StepReport {
        step: name,
        outcome: StepOutcome::Failed,
        detail: e.to_string(),
        elapsed_ms: ms(t),
    }
}

fn skipped(name: &'static str, why: &str) -> StepReport {
    StepReport {
        step: name,
        outcome: StepOutcome::Skipped,
        detail: why.to_string(),
        elapsed_ms: 0.0,
    }
}
