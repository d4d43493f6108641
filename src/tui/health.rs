//! The health checks an operator runbook asks for, and free disk space.
//!
//! std has no `statvfs` and unsafe code is forbidden in this crate, so the
//! free space comes from `df -P -k`, run by the worker (never on the draw
//! path); when that fails the header says "free disk: unknown".

use std::path::Path;
use std::process::Command;

use crate::present::human_size;
use crate::store::verify::Status;

/// Free space of the filesystem holding the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskSpace {
    Unknown(String),
    Known { available: u64, total: u64 },
}

/// Asks `df` for the free space of the filesystem holding `dir`.
pub fn free_disk(dir: &Path) -> DiskSpace {
    match Command::new("df").arg("-P").arg("-k").arg(dir).output() {
        Ok(out) if out.status.success() => parse_df(&String::from_utf8_lossy(&out.stdout))
            .unwrap_or_else(|| DiskSpace::Unknown("df printed something unexpected".into())),
        Ok(out) => DiskSpace::Unknown(format!(
            "df failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => DiskSpace::Unknown(format!("cannot run df: {e}")),
    }
}

/// Reads POSIX `df -P -k` output: a header, then `name total used available
/// capacity% mount`. Counted from the capacity column so that spaces in
/// the device name do not shift the numbers.
pub fn parse_df(text: &str) -> Option<DiskSpace> {
    let line = text.lines().skip(1).find(|l| !l.trim().is_empty())?;
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let pct = tokens.iter().position(|t| {
        t.len() > 1 && t.ends_with('%') && t[..t.len() - 1].bytes().all(|b| b.is_ascii_digit())
    })?;
    let kib = |i: usize| -> Option<u64> { tokens.get(i)?.parse::<u64>().ok()?.checked_mul(1024) };
    let available = kib(pct.checked_sub(1)?)?;
    let total = kib(pct.checked_sub(3)?)?;
    Some(DiskSpace::Known { available, total })
}

/// Below this much free space (or four times the primary, whichever is
/// more) a save, a restore (which keeps evidence) or a snapshot may fail.
pub const LOW_DISK_FLOOR: u64 = 1 << 30;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckState {
    Ok,
    Problem,
    /// Not known yet (not verified, df unavailable).
    Unknown,
}

/// One health check, worded for the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub state: CheckState,
    pub text: String,
}

impl Check {
    fn new(state: CheckState, text: impl Into<String>) -> Check {
        Check {
            state,
            text: text.into(),
        }
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
    } else if h.verified == h.backups && h.primary_status.is_some() {
        Check::new(CheckState::Ok, "no failed verification")
    } else {
        Check::new(
            CheckState::Unknown,
            format!("no failure in {} of {} checked", h.verified, h.backups),
        )
    });
    out.push(if h.backups >= MIN_BACKUPS {
        Check::new(CheckState::Ok, format!("{} backups", h.backups))
    } else {
        Check::new(
            CheckState::Problem,
            format!("only {} backups (< {MIN_BACKUPS})", h.backups),
        )
    });
    out.push(if h.valid >= MIN_VALID {
        Check::new(CheckState::Ok, format!("{} valid", h.valid))
    } else if h.verified == h.backups {
        Check::new(
            CheckState::Problem,
            format!("only {} valid (< {MIN_VALID})", h.valid),
        )
    } else {
        Check::new(CheckState::Unknown, format!("{} valid so far", h.valid))
    });
    out.push(match &h.disk {
        None => Check::new(CheckState::Unknown, "free disk: …"),
        Some(DiskSpace::Unknown(_)) => Check::new(CheckState::Unknown, "free disk: unknown"),
        Some(DiskSpace::Known { available, .. }) => {
            let need = LOW_DISK_FLOOR.max(h.primary_size.unwrap_or(0).saturating_mul(4));
            if *available < need {
                Check::new(
                    CheckState::Problem,
                    format!("free disk {} low", human_size(*available)),
                )
            } else {
                Check::new(
                    CheckState::Ok,
                    format!("free disk {}", human_size(*available)),
                )
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn df_output_is_read_from_the_capacity_column() {
        let text = "Filesystem     1024-blocks      Used Available Capacity Mounted on\n\
                    /dev/sda1        102687672  51234567  46181380      53% /\n";
        assert_eq!(
            parse_df(text),
            Some(DiskSpace::Known {
                available: 46_181_380 * 1024,
                total: 102_687_672 * 1024
            })
        );
        let spaced = "Filesystem 1024-blocks Used Available Capacity Mounted on\n\
                      my disk 1000 400 600 40% /mnt/my disk\n";
        assert_eq!(
            parse_df(spaced),
            Some(DiskSpace::Known {
                available: 600 * 1024,
                total: 1000 * 1024
            })
        );
        assert_eq!(parse_df("garbage"), None);
        assert_eq!(parse_df("header\nno numbers here\n"), None);
    }

    #[test]
    fn free_disk_of_the_current_directory_is_known_or_explained() {
        match free_disk(Path::new(".")) {
            DiskSpace::Known { available, total } => assert!(available <= total),
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
                total: 20 << 30,
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
            disk: Some(DiskSpace::Known {
                available: 2 << 30,
                total: 20 << 30,
            }),
        };
        let c = checks(&h);
        assert!(c.iter().all(|c| c.state == CheckState::Problem), "{c:?}");
        assert_eq!(c[0].text, "graph.json.meta missing");
        assert_eq!(c[1].text, "1 failed verification");
        assert_eq!(c[2].text, "only 4 backups (< 5)");
        assert_eq!(c[3].text, "only 2 valid (< 3)");
        assert!(c[4].text.ends_with("low"));
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
}
