//! The check's records under crashes: the metrics file and
//! `.graphvault/status.json` are each either the previous complete file or
//! the new complete one at every crash point of a check, with every kind
//! of power loss; the scrub record may be lost, never trusted half-written;
//! and the store checks clean again after every crash.

use std::path::Path;
use std::sync::Arc;

use graphvault::store::Store;
use graphvault::store::check::CheckOptions;
use graphvault::store::fs::Fs;
use graphvault::store::status::Health;

use crate::crash::{all_losses, sim_base};
use crate::hookfs::{HookFs, StepLog};
use crate::scenario::{SIM_ROOT, Scenario, at, read};
use crate::simfs::CrashBefore;

const METRICS: &str = "/sim/textfile/graphvault.prom";

fn options(day: u32) -> CheckOptions {
    CheckOptions {
        metrics_file: Some(METRICS.into()),
        at: Some(at(day, 6)),
        ..CheckOptions::default()
    }
}

/// Whether `bytes` is one whole metrics file: it parses, every sample line
/// is a sample, and the last family is there with its line end.
fn whole_metrics(bytes: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    let lines = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .count();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .map_err(|e| format!("does not parse: {e}"))?;
    if scrape.samples.len() != lines || lines == 0 {
        return Err(format!("{} samples of {lines} lines", scrape.samples.len()));
    }
    if !text.ends_with('\n') || !text.contains("graphvault_evidence_bytes{") {
        return Err("truncated".to_string());
    }
    Ok(())
}

/// What crashing a check at every step found.
pub struct CheckCrashTally {
    pub steps: u64,
    pub checks: usize,
    pub old_seen: usize,
    pub new_seen: usize,
    pub failures: Vec<String>,
}

/// Crashes a check (after a first one that left records) before every
/// filesystem step, with every kind of loss, and checks what is left.
pub fn crash_every_step_of_check() -> CheckCrashTally {
    let root = Path::new(SIM_ROOT);
    let base = sim_base(Scenario::Save);
    base.create_dir_all(Path::new("/sim/textfile"))
        .expect("dir");
    let first = Store::open_with(root, Arc::new(base.clone()))
        .expect("open")
        .check(&options(4))
        .expect("first check");
    assert_ne!(first.exit_code, 5, "{:?}", first.steps);
    base.settle();
    let old_metrics = read(&base, Path::new(METRICS)).expect("metrics written");
    let status_path = root.join(".graphvault/status.json");
    let old_status = read(&base, &status_path).expect("status written");

    let log = Arc::new(StepLog::default());
    Store::open_with(
        root,
        Arc::new(HookFs::new(Arc::new(base.fork()), log.clone())),
    )
    .expect("open")
    .check(&options(5))
    .expect("counted check");
    let steps = log.steps();
    assert!(
        steps >= 8,
        "suspiciously few steps: {steps}: {:?}",
        log.ops()
    );

    let (mut old_seen, mut new_seen, mut checks) = (0, 0, 0);
    let mut failures = Vec::new();
    for k in 1..=steps + 1 {
        let disk = base.fork();
        let crash = Arc::new(CrashBefore::new(k, disk.clone()));
        let store = Store::open_with(
            root,
            Arc::new(HookFs::new(Arc::new(disk.clone()), crash.clone())),
        )
        .expect("open");
        let _ = store.check(&options(5));
        drop(store);
        let (image, point) = crash
            .captured()
            .unwrap_or_else(|| (disk.fork(), "after the last step".to_string()));
        for loss in all_losses() {
            checks += 1;
            let after = image.crash(loss);
            let what = format!("crash before {point} ({loss:?})");
            match read(&after, Path::new(METRICS)) {
                None => failures.push(format!("{what}: the metrics file is gone")),
                Some(b) if b == old_metrics => old_seen += 1,
                Some(b) => match whole_metrics(&b) {
                    Ok(()) => new_seen += 1,
                    Err(e) => failures.push(format!("{what}: metrics {e}")),
                },
            }
            let reopened = Store::open_with(root, Arc::new(after.clone())).expect("reopen");
            match read(&after, &status_path) {
                Some(b) if b == old_status => {}
                Some(_) => {
                    if let Err(e) = reopened.read_status_record() {
                        failures.push(format!("{what}: status.json {e}"));
                    }
                }
                None => failures.push(format!("{what}: status.json is gone")),
            }
            // Whatever the scrub record holds now, the next check judges
            // the store right: nothing failed, nothing false.
            let again = reopened.check(&options(6)).expect("check after the crash");
            if again.exit_code == 5 || again.health == Health::Integrity {
                failures.push(format!(
                    "{what}: the next check says {:?}: {:?}",
                    again.health, again.record.failures
                ));
            }
        }
    }
    CheckCrashTally {
        steps,
        checks,
        old_seen,
        new_seen,
        failures,
    }
}

#[test]
fn power_loss_at_every_step_of_a_check_leaves_whole_records() {
    let t = crash_every_step_of_check();
    println!(
        "check: {} steps, {} crash states checked, old metrics {}, new {}, violations {}",
        t.steps,
        t.checks,
        t.old_seen,
        t.new_seen,
        t.failures.len()
    );
    assert!(t.failures.is_empty(), "{}", t.failures.join("\n"));
    // Both outcomes must occur, or the enumeration missed the rename.
    assert!(
        t.old_seen > 0 && t.new_seen > 0,
        "old {}, new {}",
        t.old_seen,
        t.new_seen
    );
}
