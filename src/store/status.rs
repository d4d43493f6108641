//! The outcome of the last unattended check, as a record anyone can read:
//! `.graphvault/status.json`, the same figures as a Prometheus text file,
//! and the health judgement that `check`, `status` and the UI header share.
//!
//! This module owns the status record's format, the metric names, and the
//! rules that turn findings and ages into one [`Health`] and exit code.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Local, NaiveDateTime};
use serde::{Deserialize, Serialize};

use super::Store;
use super::error::Result;
use super::fs;
use super::verify::Status;

/// Name of the status record in `.graphvault/`.
pub const STATUS_FILE: &str = "status.json";

/// The default threshold past which the newest valid backup, the last
/// push or the last check counts as stale: two days.
pub const DEFAULT_MAX_AGE_SECONDS: i64 = 2 * 86_400;

const STATUS_FORMAT: u32 = 1;

/// The one word for a store's state, most serious first. Each maps to one
/// exit code, the same for `check` and `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// A corrupt or missing file somewhere: exit 1.
    Integrity,
    /// A step could not run (I/O error, unusable config): exit 5.
    Failed,
    /// Another process held the write lock: retry later, exit 3.
    Locked,
    /// Nothing wrong found, but the newest valid backup, the last push or
    /// the last check is older than the threshold: exit 6.
    Stale,
    /// Everything checked and recent: exit 0.
    Healthy,
}

impl Health {
    /// The process exit code this health maps to.
    pub fn exit_code(self) -> u8 {
        match self {
            Health::Healthy => 0,
            Health::Integrity => 1,
            Health::Locked => 3,
            Health::Failed => 5,
            Health::Stale => 6,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Integrity => "integrity",
            Health::Locked => "locked",
            Health::Failed => "failed",
            Health::Stale => "stale",
        }
    }
}

/// What a check learnt, before it is judged.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    /// Integrity problems (corrupt or missing files).
    pub integrity: Vec<String>,
    /// Steps that could not run, and why.
    pub failures: Vec<String>,
    pub locked: bool,
}

/// Judges findings and ages: the most serious finding wins, so that a
/// failed step never hides an earlier integrity problem, and staleness
/// only shows when nothing worse does. Returns the health and, for stale,
/// the reasons.
pub fn judge(
    findings: &Findings,
    newest_valid: Option<NaiveDateTime>,
    last_pushes: &[(String, Option<DateTime<Local>>)],
    max_age_seconds: i64,
    now: DateTime<Local>,
) -> (Health, Vec<String>) {
    let stale = stale_reasons(newest_valid, last_pushes, max_age_seconds, now);
    let health = if !findings.integrity.is_empty() {
        Health::Integrity
    } else if !findings.failures.is_empty() {
        Health::Failed
    } else if findings.locked {
        Health::Locked
    } else if !stale.is_empty() {
        Health::Stale
    } else {
        Health::Healthy
    };
    (health, stale)
}

/// Why the store is stale, if it is. `last_pushes` holds, per remote that
/// pushes automatically, its last successful push (`None`: never).
pub fn stale_reasons(
    newest_valid: Option<NaiveDateTime>,
    last_pushes: &[(String, Option<DateTime<Local>>)],
    max_age_seconds: i64,
    now: DateTime<Local>,
) -> Vec<String> {
    let limit =
        crate::store::retention::format_duration(chrono::Duration::seconds(max_age_seconds));
    let mut out = Vec::new();
    match newest_valid {
        None => out.push("no valid backup".to_string()),
        Some(t) => {
            let age = (now.naive_local() - t).num_seconds();
            if age > max_age_seconds {
                out.push(format!(
                    "the newest valid backup is {} old (more than {limit})",
                    crate::store::retention::format_duration(chrono::Duration::seconds(age))
                ));
            }
        }
    }
    for (remote, last) in last_pushes {
        match last {
            None => out.push(format!("no successful push to remote {remote} yet")),
            Some(t) => {
                let age = (now - *t).num_seconds();
                if age > max_age_seconds {
                    out.push(format!(
                        "the last successful push to remote {remote} is {} old (more than {limit})",
                        crate::store::retention::format_duration(chrono::Duration::seconds(age))
                    ));
                }
            }
        }
    }
    out
}

/// The primary's verdict in the last check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrimaryState {
    pub status: Status,
    pub reason: Option<String>,
}

/// Backups by verdict (fresh or from the scrub record).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupCounts {
    pub total: usize,
    pub valid: usize,
    pub unverified: usize,
    pub corrupt: usize,
    pub missing: usize,
}

/// The newest backup whose verdict is valid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewestValid {
    pub id: String,
    /// Local time from the backup's name.
    pub time: NaiveDateTime,
    /// The same instant, Unix seconds.
    pub unix: i64,
}

/// What the last check's scrub did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScrubSummary {
    pub days: u32,
    pub full: bool,
    pub hashed: usize,
    pub hashed_bytes: u64,
    /// Unix seconds of the least recently hashed backup's last hash.
    pub oldest_hash_unix: Option<i64>,
}

/// One remote that pushes automatically, as the last check saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OffsiteState {
    pub remote: String,
    /// The last successful push to it, Unix seconds (`None`: never).
    pub last_success_unix: Option<i64>,
    /// Seconds from that push to the check (`None`: never pushed).
    pub lag_seconds: Option<f64>,
    /// Whether the check's own push succeeded (`None`: it did not push).
    pub push_ok: Option<bool>,
    /// Why the check's push failed.
    pub error: Option<String>,
}

impl OffsiteState {
    /// The last successful push as a local time.
    pub fn last_success(&self) -> Option<DateTime<Local>> {
        self.last_success_unix
            .and_then(|t| DateTime::from_timestamp(t, 0))
            .map(|t| t.with_timezone(&Local))
    }
}

/// `.graphvault/status.json`: the outcome of the last check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusRecord {
    pub format: u32,
    /// The graphvault version that wrote it.
    pub written_by: String,
    pub store: PathBuf,
    pub checked_at: DateTime<Local>,
    pub duration_seconds: f64,
    pub health: Health,
    pub exit_code: u8,
    /// One line for people.
    pub summary: String,
    /// `None` when the step was switched off.
    pub primary: Option<PrimaryState>,
    /// `None` when the scrub was switched off.
    pub backups: Option<BackupCounts>,
    pub newest_valid_backup: Option<NewestValid>,
    pub scrub: Option<ScrubSummary>,
    /// Bytes hashed by every check so far (a counter).
    pub scrubbed_bytes_total: u64,
    /// The last check that found everything healthy (this one or earlier).
    pub last_success_at: Option<DateTime<Local>>,
    pub evidence_bytes: u64,
    /// Bytes of the backups waiting in the trash.
    #[serde(default)]
    pub trash_bytes: u64,
    /// Seconds since the last successful push to the remote that lags
    /// most, when a remote pushes automatically and each has succeeded
    /// once.
    pub offsite_lag_seconds: Option<f64>,
    /// Every remote that pushes automatically.
    #[serde(default)]
    pub offsite: Vec<OffsiteState>,
    pub integrity: Vec<String>,
    pub failures: Vec<String>,
    pub stale: Vec<String>,
    /// The staleness threshold used, so that every reader judges alike.
    pub max_age_seconds: i64,
}

impl StatusRecord {
    /// A new record of this format.
    pub(crate) fn format() -> u32 {
        STATUS_FORMAT
    }

    /// The record as a Prometheus text exposition (format 0.0.4): one
    /// family per figure, every sample labelled with the store.
    pub fn prometheus_text(&self) -> String {
        let store = escape_label(&self.store.display().to_string());
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, f64)]| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            for (labels, value) in samples {
                out.push_str(&format!(
                    "{name}{{store=\"{store}\"{labels}}} {}\n",
                    number(*value)
                ));
            }
        };
        let one = |v: f64| vec![(String::new(), v)];
        let unix = |t: &DateTime<Local>| t.timestamp_millis() as f64 / 1e3;
        if let Some(p) = &self.primary {
            let states: Vec<(String, f64)> = [
                Status::Valid,
                Status::Unverified,
                Status::Corrupt,
                Status::Missing,
            ]
            .iter()
            .map(|s| {
                (
                    format!(",status=\"{}\"", s.name()),
                    f64::from(u8::from(p.status == *s)),
                )
            })
            .collect();
            family(
                "graphvault_primary_status",
                "gauge",
                "1 for the primary's verdict in the last check, 0 for the others.",
                &states,
            );
        }
        if let Some(b) = &self.backups {
            family(
                "graphvault_backups",
                "gauge",
                "Backups by verdict in the last check (hashed then, or earlier by the scrub).",
                &[
                    (",status=\"valid\"".to_string(), b.valid as f64),
                    (",status=\"unverified\"".to_string(), b.unverified as f64),
                    (",status=\"corrupt\"".to_string(), b.corrupt as f64),
                    (",status=\"missing\"".to_string(), b.missing as f64),
                ],
            );
        }
        if let Some(n) = &self.newest_valid_backup {
            family(
                "graphvault_newest_valid_backup_timestamp_seconds",
                "gauge",
                "When the newest valid backup was made, Unix time.",
                &one(n.unix as f64),
            );
        }
        family(
            "graphvault_last_check_timestamp_seconds",
            "gauge",
            "When the last check ran, Unix time.",
            &one(unix(&self.checked_at)),
        );
        family(
            "graphvault_last_check_duration_seconds",
            "gauge",
            "How long the last check took.",
            &one(self.duration_seconds),
        );
        family(
            "graphvault_last_check_exit_code",
            "gauge",
            "Exit code of the last check: 0 healthy, 1 integrity problem, 3 locked, 5 a step failed, 6 stale.",
            &one(f64::from(self.exit_code)),
        );
        family(
            "graphvault_last_check_success",
            "gauge",
            "1 when the last check found everything healthy, else 0.",
            &one(f64::from(u8::from(self.health == Health::Healthy))),
        );
        if let Some(t) = &self.last_success_at {
            family(
                "graphvault_last_success_timestamp_seconds",
                "gauge",
                "When a check last found everything healthy, Unix time.",
                &one(unix(t)),
            );
        }
        if let Some(s) = &self.scrub {
            family(
                "graphvault_last_check_scrubbed_bytes",
                "gauge",
                "Bytes of backups re-hashed by the last check.",
                &one(s.hashed_bytes as f64),
            );
            family(
                "graphvault_last_check_scrubbed_backups",
                "gauge",
                "Backups re-hashed by the last check.",
                &one(s.hashed as f64),
            );
            if let Some(t) = s.oldest_hash_unix {
                family(
                    "graphvault_scrub_oldest_hash_timestamp_seconds",
                    "gauge",
                    "When the least recently hashed backup was last hashed, Unix time.",
                    &one(t as f64),
                );
            }
        }
        family(
            "graphvault_scrubbed_bytes_total",
            "counter",
            "Bytes of backups re-hashed by all checks so far.",
            &one(self.scrubbed_bytes_total as f64),
        );
        family(
            "graphvault_evidence_bytes",
            "gauge",
            "Size of the replaced primaries kept as evidence.",
            &one(self.evidence_bytes as f64),
        );
        family(
            "graphvault_trash_bytes",
            "gauge",
            "Size of the backups waiting in the trash for their grace period to end.",
            &one(self.trash_bytes as f64),
        );
        let per_remote = |value: &dyn Fn(&OffsiteState) -> Option<f64>| -> Vec<(String, f64)> {
            self.offsite
                .iter()
                .filter_map(|o| {
                    value(o).map(|v| (format!(",remote=\"{}\"", escape_label(&o.remote)), v))
                })
                .collect()
        };
        let lags = per_remote(&|o| o.lag_seconds);
        if !lags.is_empty() {
            family(
                "graphvault_offsite_lag_seconds",
                "gauge",
                "Time from the last successful push to an off-site remote to the last check (absent for a remote never pushed to).",
                &lags,
            );
        }
        let successes = per_remote(&|o| o.last_success_unix.map(|t| t as f64));
        if !successes.is_empty() {
            family(
                "graphvault_offsite_last_success_timestamp_seconds",
                "gauge",
                "When the last successful push to an off-site remote ended, Unix time.",
                &successes,
            );
        }
        let pushes = per_remote(&|o| o.push_ok.map(|ok| f64::from(u8::from(ok))));
        if !pushes.is_empty() {
            family(
                "graphvault_offsite_push_success",
                "gauge",
                "1 when the last check's push to an off-site remote succeeded, else 0.",
                &pushes,
            );
        }
        out
    }
}

/// The lag of the remote that lags most, in seconds at `now`; `None` when
/// no remote pushes automatically or one never succeeded (that one is
/// stale by itself).
pub fn offsite_lag(
    last_pushes: &[(String, Option<DateTime<Local>>)],
    now: DateTime<Local>,
) -> Option<f64> {
    let mut worst: Option<f64> = None;
    for (_, last) in last_pushes {
        let lag = lag_seconds(now, (*last)?);
        worst = Some(worst.map_or(lag, |w: f64| w.max(lag)));
    }
    worst
}

/// Seconds from a remote's last successful push to `now`. A push that
/// finished after `now` (a check dates its record from its start, and the
/// push is one of its last steps) leaves the remote current: the lag is 0,
/// never negative.
pub(crate) fn lag_seconds(now: DateTime<Local>, last_success: DateTime<Local>) -> f64 {
    ((now - last_success).num_milliseconds() as f64 / 1e3).max(0.0)
}

/// A sample value as Prometheus writes it.
fn number(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else if v.is_nan() {
        "NaN".to_string()
    } else {
        format!("{v}")
    }
}

/// Escapes a label value: backslash, double quote and line feed.
fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// What `status` reports: the last check's record judged again at `now`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub health: Health,
    pub exit_code: u8,
    /// `None` when no check has been recorded (or its record is unusable).
    pub record: Option<StatusRecord>,
    /// Why the record could not be used, if it could not.
    pub record_problem: Option<String>,
    pub newest_valid_age_seconds: Option<i64>,
    pub last_check_age_seconds: Option<i64>,
    pub offsite_lag_seconds: Option<f64>,
    /// Each remote that pushes automatically, its lag measured again.
    pub offsite: Vec<OffsiteState>,
    /// Why it is stale, when it is.
    pub stale: Vec<String>,
    pub max_age_seconds: i64,
}

impl Store {
    pub(crate) fn status_path(&self) -> PathBuf {
        self.state_dir().join(STATUS_FILE)
    }

    /// The last check's record, or why there is none to use.
    pub fn read_status_record(&self) -> std::result::Result<StatusRecord, String> {
        let path = self.status_path();
        let bytes =
            fs::read_file(&*self.fs, &path, 16 * super::meta::MAX_META_LEN).map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    "no check has been recorded yet".to_string()
                } else {
                    format!("cannot read {}: {e}", path.display())
                }
            })?;
        let record: StatusRecord = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{} is not a valid status record: {e}", path.display()))?;
        if record.format != STATUS_FORMAT {
            return Err(format!(
                "{} has format {} (this graphvault reads {STATUS_FORMAT})",
                path.display(),
                record.format
            ));
        }
        Ok(record)
    }

    /// Writes the record to `.graphvault/status.json`, atomically.
    ///
    /// # Errors
    /// I/O errors naming the step and the path.
    pub(crate) fn write_status_record(&self, record: &StatusRecord) -> Result<()> {
        self.check_own_dir(&self.state_dir())?;
        let bytes = serde_json::to_vec_pretty(record).unwrap_or_default();
        fs::write_atomic(&*self.fs, &self.status_path(), &bytes, fs::Publish::Replace)
    }

    /// Writes the record's metrics to `path` (anywhere, typically a node
    /// exporter's textfile directory), atomically: a temp file in the same
    /// directory, then a rename, so a scraper never reads half a file.
    ///
    /// # Errors
    /// I/O errors naming the step and the path.
    pub fn write_metrics(&self, path: &Path, record: &StatusRecord) -> Result<()> {
        fs::write_atomic(
            &*self.fs,
            path,
            record.prometheus_text().as_bytes(),
            fs::Publish::Replace,
        )
    }

    /// The health as of `now`, from the last check's record: its findings
    /// stand, and the ages are measured again, so a store nobody checks
    /// turns stale by itself. Reads one small file; needs no lock.
    pub fn status(&self, now: DateTime<Local>, max_age_seconds: Option<i64>) -> StatusReport {
        let record = self.read_status_record();
        let (record, record_problem) = match record {
            Ok(r) => (Some(r), None),
            Err(why) => (None, Some(why)),
        };
        let max_age = max_age_seconds
            .or(record.as_ref().map(|r| r.max_age_seconds))
            .unwrap_or(DEFAULT_MAX_AGE_SECONDS);
        let Some(r) = &record else {
            return StatusReport {
                health: Health::Stale,
                exit_code: Health::Stale.exit_code(),
                record: None,
                stale: vec![record_problem.clone().unwrap_or_default()],
                record_problem,
                newest_valid_age_seconds: None,
                last_check_age_seconds: None,
                offsite_lag_seconds: None,
                offsite: Vec::new(),
                max_age_seconds: max_age,
            };
        };
        let findings = Findings {
            integrity: r.integrity.clone(),
            failures: r.failures.clone(),
            locked: r.health == Health::Locked,
        };
        let check_age = (now - r.checked_at).num_seconds();
        // The lag grows from when it was measured: measure it again.
        let last_pushes: Vec<(String, Option<DateTime<Local>>)> = r
            .offsite
            .iter()
            .map(|o| (o.remote.clone(), o.last_success()))
            .collect();
        let lag = offsite_lag(&last_pushes, now);
        let (mut health, mut stale) = judge(
            &findings,
            r.newest_valid_backup.as_ref().map(|n| n.time),
            &last_pushes,
            max_age,
            now,
        );
        if check_age > max_age {
            stale.push(format!(
                "the last check ran {} ago (more than {})",
                crate::store::retention::format_duration(chrono::Duration::seconds(check_age)),
                crate::store::retention::format_duration(chrono::Duration::seconds(max_age))
            ));
            if health == Health::Healthy {
                health = Health::Stale;
            }
        }
        StatusReport {
            health,
            exit_code: health.exit_code(),
            newest_valid_age_seconds: r
                .newest_valid_backup
                .as_ref()
                .map(|n| (now.naive_local() - n.time).num_seconds()),
            last_check_age_seconds: Some(check_age),
            offsite_lag_seconds: lag,
            offsite: r
                .offsite
                .iter()
                .map(|o| OffsiteState {
                    lag_seconds: o.last_success().map(|t| lag_seconds(now, t)),
                    ..o.clone()
                })
                .collect(),
            stale,
            max_age_seconds: max_age,
            record_problem: None,
            record: record.clone(),
        }
    }
}
