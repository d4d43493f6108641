//! The health checks an operator runbook asks for, free disk space against
//! the store's margin, and what the last unattended check recorded.
//!
//! The free space is the store's own ([`crate::store::Store::free_space`]),
//! asked by the worker (never on the draw path); the header judges it the
//! way a save does ([`SpaceCheck`]) and warns while there is still room.
//! The last check and the newest valid backup's age are judged by the
//! thresholds `graphvault status` uses, so the header and the probe agree.

use chrono::NaiveDateTime;

use crate::present::{age, human_size};
use crate::store::space::SpaceCheck;
use crate::store::status::{Health, StatusReport};
use crate::store::verify::Status;

/// Free space of the filesystem holding the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskSpace {
    Unknown(String),
    /// `margin` is the store's `space_margin`: a save must leave this many
    /// times the graph's size free (0: the check is off).
    Known {
        available: u64,
        margin: u32,
    },
}

impl DiskSpace {
    /// The store's free space and margin, as the worker asks for them.
    pub fn of(store: &crate::store::Store) -> DiskSpace {
        match store.free_space() {
            Some(available) => DiskSpace::Known {
                available,
                margin: store.config().space_margin,
            },
            None => DiskSpace::Unknown("the filesystem did not say".to_string()),
        }
    }
}

/// A save is refused below what it needs; below this many times that, the
/// header warns, while there is still room to act.
pub const EARLY_WARNING_FACTOR: u64 = 2;

/// What a save of a graph of `size` bytes needs, as the store asks it: the
/// backup and the new primary written in full, and the margin left free.
pub fn save_space(available: u64, size: u64, margin: u32) -> SpaceCheck {
    SpaceCheck {
        available,
        writes: size.saturating_mul(2),
        margin: size.saturating_mul(u64::from(margin)),
    }
}

/// What the header shows of the unattended checks, read by the worker.
#[derive(Debug, Clone, Default)]
pub struct Watch {
    /// `graphvault status` as of the probe.
    pub status: Option<StatusReport>,
    /// Bytes in the trash and kept as evidence (`None`: unreadable).
    pub trash_bytes: Option<u64>,
    pub evidence_bytes: Option<u64>,
}

impl Watch {
    /// Reads the status record and the trash and evidence sizes.
    pub fn of(store: &crate::store::Store) -> Watch {
        Watch {
            status: Some(store.status(crate::store::now(), None)),
            trash_bytes: store.list_trash().ok().map(|l| l.total_size),
            evidence_bytes: store.list_evidence(None).ok().map(|l| l.total_size),
        }
    }

    /// The staleness threshold `status` uses.
    pub fn max_age_seconds(&self) -> i64 {
        self.status
            .as_ref()
            .map_or(crate::store::status::DEFAULT_MAX_AGE_SECONDS, |s| {
                s.max_age_seconds
            })
    }
}

fn span_text(seconds: i64) -> String {
    crate::store::retention::format_duration(chrono::Duration::seconds(seconds))
}

/// The last check (when, result) and the newest valid backup's age, judged
/// as `status` judges them. `newest_valid` is what the UI verified itself
/// (fresher than the record), `all_verified` whether it has verified every
/// backup.
pub fn watch_checks(
    watch: &Watch,
    newest_valid: Option<NaiveDateTime>,
    all_verified: bool,
    now: NaiveDateTime,
) -> Vec<Check> {
    let max_age = watch.max_age_seconds();
    let limit = span_text(max_age);
    let mut out = Vec::new();
    let record = watch.status.as_ref().and_then(|s| s.record.as_ref());
    out.push(match (&watch.status, record) {
        (None, _) => Check::new(CheckState::Unknown, "last check …"),
        (Some(_), None) => Check::new(CheckState::Warn, "no check recorded").short("no check"),
        (Some(_), Some(r)) => {
            let at = r.checked_at.naive_local();
            let text = format!("last check {}: {}", age(at, now), r.health.name());
            let short = format!("checked {}: {}", age(at, now), r.health.name());
            if (now - at).num_seconds() > max_age {
                Check::new(CheckState::Warn, format!("{text} (older than {limit})")).short(short)
            } else {
                let state = match r.health {
                    Health::Healthy => CheckState::Ok,
                    Health::Stale | Health::Locked => CheckState::Warn,
                    Health::Integrity | Health::Failed => CheckState::Problem,
                };
                Check::new(state, text).short(short)
            }
        }
    });
    let newest = newest_valid.or_else(|| {
        record
            .and_then(|r| r.newest_valid_backup.as_ref())
            .map(|n| n.time)
            .filter(|_| !all_verified)
    });
    out.push(match newest {
        Some(t) if (now - t).num_seconds() > max_age => Check::new(
            CheckState::Warn,
            format!("newest valid {} (older than {limit})", age(t, now)),
        )
        .short(format!("newest {}", age(t, now))),
        Some(t) => Check::new(CheckState::Ok, format!("newest valid {}", age(t, now))),
        None if all_verified => Check::new(CheckState::Problem, "no valid backup"),
        None => Check::new(CheckState::Unknown, "newest valid …"),
    });
    out
}

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckState {
    Ok,
    Problem,
    /// Nothing wrong yet, but it needs attention soon (stale, near the
    /// space margin).
    Warn,
    /// Not known yet (not verified, free space unavailable).
    Unknown,
}

/// One health check, worded for the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub state: CheckState,
    pub text: String,
    /// The same, for a small window's one-line header.
    pub short: String,
}

impl Check {
    fn new(state: CheckState, text: impl Into<String>) -> Check {
        let text = text.into();
        Check {
            state,
            short: text.clone(),
            text,
        }
    }

    fn short(mut self, short: impl Into<String>) -> Check {
        self.short = short.into();
        self
    }
}

/// What the checks look at, all already known to the UI.
#[derive(Debug, Clone, Default)]
pub struct HealthInput {
    pub has_primary: bool,
    pub has_meta: bool,
    pub primary_status: Option<Status>,
    pub primary_size: Option<u64>,
    pub backups: usize,
    /// Backups verified so far, and of those how many valid / failed.
    pub verified: usize,
    pub valid: usize,
    pub failed: usize,
    pub disk: Option<DiskSpace>,
}

/// Minimum number of backups a store should have.
pub const MIN_BACKUPS: usize = 5;
/// Minimum number of valid backups a store should have.
pub const MIN_VALID: usize = 3;

/// The checks, in the order the header shows them.
pub fn checks(h: &HealthInput) -> Vec<Check> {
    let mut out = Vec::new();
    out.push(match (h.has_primary, h.has_meta) {
        (true, true) => Check::new(CheckState::Ok, "graph.json + meta"),
        (false, true) => Check::new(CheckState::Problem, "graph.json missing"),
        (true, false) => Check::new(CheckState::Problem, "graph.json.meta missing"),
        (false, false) => Check::new(CheckState::Problem, "graph.json and meta missing"),
    });
    let primary_failed = matches!(h.primary_status, Some(Status::Corrupt | Status::Missing));
    let failed = h.failed + usize::from(primary_failed);
    out.push(if failed > 0 {
        Check::new(CheckState::Problem, format!("{failed} failed verification"))
            .short(format!("{failed} failed"))
    } else if h.verified == h.backups && h.primary_status.is_some() {
        Check::new(CheckState::Ok, "no failed verification")
    } else {
        Check::new(
            CheckState::Unknown,
            format!("no failure in {} of {} checked", h.verified, h.backups),
        )
    });
    out.push(if h.backups >= MIN_BACKUPS {
        Check::new(
            CheckState::Ok,
            crate::present::count_of(h.backups, "backup"),
        )
    } else {
        Check::new(
            CheckState::Problem,
            format!(
                "only {} (< {MIN_BACKUPS})",
                crate::present::count_of(h.backups, "backup")
            ),
        )
        .short(crate::present::count_of(h.backups, "backup"))
    });
    out.push(if h.valid >= MIN_VALID {
        Check::new(CheckState::Ok, format!("{} valid", h.valid))
    } else if h.verified == h.backups {
        Check::new(
            CheckState::Problem,
            format!("only {} valid (< {MIN_VALID})", h.valid),
        )
        .short(format!("{} valid", h.valid))
    } else {
        Check::new(CheckState::Unknown, format!("{} valid so far", h.valid))
    });
    out.push(match &h.disk {
        None => Check::new(CheckState::Unknown, "free disk: …"),
        Some(DiskSpace::Unknown(_)) => Check::new(CheckState::Unknown, "free disk: unknown"),
        Some(DiskSpace::Known { available, margin }) => {
            let free = human_size(*available);
            let save = save_space(*available, h.primary_size.unwrap_or(0), *margin);
            if *margin == 0 || h.primary_size.is_none() {
                Check::new(CheckState::Ok, format!("free disk {free}"))
            } else if !save.enough() {
                Check::new(
                    CheckState::Problem,
                    format!(
                        "free disk {free}: a save needs {}",
                        human_size(save.needed())
                    ),
                )
                .short(format!("disk {free}: too full to save"))
            } else if *available < save.needed().saturating_mul(EARLY_WARNING_FACTOR) {
                // Short: it shares a line with the other checks at 80
                // columns; the figure a save needs shows once it is refused.
                Check::new(
                    CheckState::Warn,
                    format!("free disk {free}: near the margin"),
                )
                .short(format!("disk {free} near margin"))
            } else {
                Check::new(CheckState::Ok, format!("free disk {free}"))
            }
        }
    });
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn free_disk_of_the_current_directory_is_known_or_explained() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::store::Store::open(dir.path().join("s")).expect("open");
        match DiskSpace::of(&store) {
            DiskSpace::Known { available, margin } => {
                assert!(available > 0);
                assert_eq!(margin, crate::store::space::default_margin());
            }
            DiskSpace::Unknown(why) => assert!(!why.is_empty()),
        }
    }

    fn states(h: &HealthInput) -> Vec<CheckState> {
        checks(h).iter().map(|c| c.state).collect()
    }

    #[test]
    fn a_healthy_store_passes_every_check() {
        let h = HealthInput {
            has_primary: true,
            has_meta: true,
            primary_status: Some(Status::Valid),
            primary_size: Some(1000),
            backups: 12,
            verified: 12,
            valid: 12,
            failed: 0,
            disk: Some(DiskSpace::Known {
                available: 10 << 30,
                margin: 2,
            }),
        };
        assert_eq!(states(&h), vec![CheckState::Ok; 5]);
    }

    #[test]
    fn each_runbook_problem_is_reported() {
        let h = HealthInput {
            has_primary: true,
            has_meta: false,
            primary_status: Some(Status::Unverified),
            primary_size: Some(1 << 30),
            backups: 4,
            verified: 4,
            valid: 2,
            failed: 1,
            // A save of 1 GiB needs 2 GiB written and 2 GiB left free.
            disk: Some(DiskSpace::Known {
                available: 3 << 30,
                margin: 2,
            }),
        };
        let c = checks(&h);
        assert!(c.iter().all(|c| c.state == CheckState::Problem), "{c:?}");
        assert_eq!(c[0].text, "graph.json.meta missing");
        assert_eq!(c[1].text, "1 failed verification");
        assert_eq!(c[2].text, "only 4 backups (< 5)");
        assert_eq!(c[3].text, "only 2 valid (< 3)");
        assert_eq!(c[4].text, "free disk 3.0 GiB: a save needs 4.0 GiB");
    }

    #[test]
    fn unverified_backups_leave_checks_unknown_not_green() {
        let h = HealthInput {
            has_primary: true,
            has_meta: true,
            backups: 12,
            verified: 1,
            valid: 1,
            disk: Some(DiskSpace::Unknown("no df".into())),
            ..HealthInput::default()
        };
        let s = states(&h);
        assert_eq!(s[1], CheckState::Unknown);
        assert_eq!(s[3], CheckState::Unknown);
        assert_eq!(s[4], CheckState::Unknown);
    }

    #[test]
    fn free_disk_warns_before_a_save_would_be_refused() {
        let disk = |available: u64| HealthInput {
            primary_size: Some(1 << 30),
            disk: Some(DiskSpace::Known {
                available,
                margin: 2,
            }),
            ..HealthInput::default()
        };
        let last = |h: &HealthInput| checks(h).pop().expect("disk check");
        // A save needs 4 GiB: refused below, warned below twice that.
        assert_eq!(last(&disk(3 << 30)).state, CheckState::Problem);
        let near = last(&disk(5 << 30));
        assert_eq!(near.state, CheckState::Warn);
        assert_eq!(near.text, "free disk 5.0 GiB: near the margin");
        assert_eq!(last(&disk(8 << 30)).state, CheckState::Ok);
        // The margin switched off: no judgement beyond the figure.
        let off = HealthInput {
            disk: Some(DiskSpace::Known {
                available: 1,
                margin: 0,
            }),
            ..disk(0)
        };
        assert_eq!(last(&off).state, CheckState::Ok);
    }

    /// A status report of a check at `checked`, for the UI's tests too.
    pub(crate) fn record(
        health: Health,
        checked: NaiveDateTime,
        newest: Option<NaiveDateTime>,
    ) -> StatusReport {
        use crate::store::status::{NewestValid, StatusRecord};
        use chrono::TimeZone;
        let local = |t: NaiveDateTime| chrono::Local.from_local_datetime(&t).earliest();
        let record = StatusRecord {
            format: 1,
            written_by: String::new(),
            store: "/s".into(),
            checked_at: local(checked).expect("time"),
            duration_seconds: 1.0,
            health,
            exit_code: health.exit_code(),
            summary: String::new(),
            primary: None,
            backups: None,
            newest_valid_backup: newest.map(|time| NewestValid {
                id: "graph_20251020_100000".into(),
                time,
                unix: 0,
            }),
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
            max_age_seconds: 2 * 86_400,
        };
        StatusReport {
            health,
            exit_code: health.exit_code(),
            record: Some(record),
            record_problem: None,
            newest_valid_age_seconds: None,
            last_check_age_seconds: None,
            offsite_lag_seconds: None,
            offsite: Vec::new(),
            stale: Vec::new(),
            max_age_seconds: 2 * 86_400,
        }
    }

    #[test]
    fn the_last_check_and_the_newest_backup_are_judged_by_status_thresholds() {
        let now = chrono::NaiveDate::from_ymd_opt(2025, 10, 20)
            .and_then(|d| d.and_hms_opt(12, 0, 0))
            .expect("time");
        let hours = |h: i64| now - chrono::Duration::hours(h);
        let watch = |status: StatusReport| Watch {
            status: Some(status),
            ..Watch::default()
        };
        let healthy = watch(record(Health::Healthy, hours(3), Some(hours(5))));
        let c = watch_checks(&healthy, None, false, now);
        assert_eq!(c[0].text, "last check 3 h ago: healthy");
        assert_eq!(c[0].state, CheckState::Ok);
        assert_eq!(c[1].text, "newest valid 5 h ago", "from the record");
        assert_eq!(c[1].state, CheckState::Ok);
        // What the UI verified itself wins over the record.
        let c = watch_checks(&healthy, Some(hours(1)), false, now);
        assert_eq!(c[1].text, "newest valid 1 h ago");
        // Past the threshold: both warn, saying the limit.
        let old = watch(record(Health::Healthy, hours(50), Some(hours(60))));
        let c = watch_checks(&old, None, false, now);
        assert_eq!(c[0].state, CheckState::Warn);
        assert!(c[0].text.ends_with("(older than 2d)"), "{}", c[0].text);
        assert_eq!(c[1].state, CheckState::Warn);
        // A check that found damage or failed is a problem; stale warns.
        for (health, state) in [
            (Health::Integrity, CheckState::Problem),
            (Health::Failed, CheckState::Problem),
            (Health::Stale, CheckState::Warn),
            (Health::Locked, CheckState::Warn),
        ] {
            let w = watch(record(health, hours(1), Some(hours(1))));
            assert_eq!(watch_checks(&w, None, false, now)[0].state, state);
        }
        // Every backup verified and none valid: a problem, whatever the record.
        assert_eq!(
            watch_checks(&healthy, None, true, now)[1].state,
            CheckState::Problem
        );
        // No check recorded yet: a warning, not silence.
        let none = Watch {
            status: Some(StatusReport {
                record: None,
                ..record(Health::Stale, hours(1), None)
            }),
            ..Watch::default()
        };
        let c = watch_checks(&none, None, false, now);
        assert_eq!(c[0].text, "no check recorded");
        assert_eq!(c[0].state, CheckState::Warn);
    }
}
