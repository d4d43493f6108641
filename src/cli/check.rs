//! Text renderings of `check` and `status`.

use std::fmt::Write;

use crate::present::{age, human_size, local_time, now_local};
use crate::store::check::{CheckReport, StepOutcome};
use crate::store::status::{Health, StatusReport};

fn mark(o: StepOutcome) -> &'static str {
    match o {
        StepOutcome::Ok => "✓",
        StepOutcome::Problem => "✗",
        StepOutcome::Failed => "!",
        StepOutcome::Skipped => "–",
    }
}

/// A duration in seconds as a short span (`5 h`, `just now`).
fn span(seconds: i64) -> String {
    let now = now_local();
    let text = age(now - chrono::Duration::seconds(seconds), now);
    text.strip_suffix(" ago")
        .map(str::to_string)
        .unwrap_or(text)
}

pub fn check(r: &CheckReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "check {}: {} (exit {}) in {:.1} s",
        r.record.store.display(),
        r.record.summary,
        r.exit_code,
        r.elapsed_ms / 1e3
    );
    let width = r.steps.iter().map(|s| s.step.len()).max().unwrap_or(0);
    for s in &r.steps {
        let _ = writeln!(
            out,
            "  {} {:<width$}  {}",
            mark(s.outcome),
            s.step,
            s.detail
        );
    }
    for line in r.record.integrity.iter().skip(1) {
        let _ = writeln!(out, "  ✗ {line}");
    }
    for line in r.record.failures.iter().skip(1) {
        let _ = writeln!(out, "  ! {line}");
    }
    match &r.record.newest_valid_backup {
        Some(n) => {
            let _ = writeln!(
                out,
                "newest valid backup {} ({}, {})",
                n.id,
                local_time(n.time),
                age(n.time, r.record.checked_at.naive_local())
            );
        }
        None if r.scrub.is_some() => {
            let _ = writeln!(out, "no valid backup");
        }
        None => {}
    }
    if r.record.health != Health::Locked {
        let _ = writeln!(
            out,
            "evidence kept {}; trash {}; bytes scrubbed by all checks {}",
            human_size(r.record.evidence_bytes),
            human_size(r.record.trash_bytes),
            human_size(r.record.scrubbed_bytes_total)
        );
        for o in &r.record.offsite {
            let _ = writeln!(
                out,
                "off-site {}: {}",
                o.remote,
                match o.lag_seconds {
                    Some(l) => format!("last successful push {} ago", span(l as i64)),
                    None => "never pushed successfully".to_string(),
                }
            );
        }
    }
    for s in &r.record.stale {
        let _ = writeln!(out, "stale: {s}");
    }
    out
}

fn ago(seconds: i64) -> String {
    let now = now_local();
    age(now - chrono::Duration::seconds(seconds), now)
}

/// One line for a prompt or a probe.
pub fn status(r: &StatusReport) -> String {
    let mut parts = vec![r.health.name().to_string()];
    match &r.record {
        None => parts.push(
            r.record_problem
                .clone()
                .unwrap_or_else(|| "no check recorded".to_string()),
        ),
        Some(rec) => {
            parts.push(
                match (&rec.newest_valid_backup, r.newest_valid_age_seconds) {
                    (Some(n), Some(a)) => format!("newest valid backup {} ({})", ago(a), n.id),
                    _ => "no valid backup".to_string(),
                },
            );
            parts.push(format!(
                "last check {}: {} (exit {})",
                ago(r.last_check_age_seconds.unwrap_or(0)),
                rec.health.name(),
                rec.exit_code
            ));
            let never: Vec<&str> = r
                .offsite
                .iter()
                .filter(|o| o.lag_seconds.is_none())
                .map(|o| o.remote.as_str())
                .collect();
            parts.push(match (r.offsite_lag_seconds, never.is_empty()) {
                _ if r.offsite.is_empty() => "off-site: no auto-push remote".to_string(),
                (_, false) => format!("off-site: never pushed to {}", never.join(", ")),
                (Some(l), true) => format!("off-site lag {}", span(l as i64)),
                (None, true) => "off-site lag unknown".to_string(),
            });
            // Times ahead of this clock make every age above meaningless:
            // say so rather than print "healthy" beside "in 364 d".
            let ahead = -crate::store::retention::clock_tolerance().num_seconds();
            if [r.newest_valid_age_seconds, r.last_check_age_seconds]
                .into_iter()
                .flatten()
                .any(|age| age < ahead)
            {
                parts.push(
                    "warning: dated in the future by this clock (it was ahead when they were \
                     written, or it is behind now); the ages above are not to be trusted"
                        .to_string(),
                );
            }
        }
    }
    // The stale reason, unless it is what the line already says (a store
    // with no check recorded gives the same words for both).
    let stale = r
        .stale
        .first()
        .filter(|s| r.health == Health::Stale && !parts.contains(s));
    let mut line = parts.join(" · ");
    if let Some(s) = stale {
        let _ = write!(line, " · {s}");
    }
    line.push('\n');
    line
}
