//! Crash-point enumeration: count the filesystem steps of an operation,
//! then crash before every step k, over the simulated disk (the process
//! dies, or the power goes with several seeds deciding what unsynced state
//! survives) and in a real child process that aborts before step k. After
//! every crash the store must reopen to exactly the old or the new graph
//! ([`check_reopened`]).

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::sync::Arc;

use graphvault::store::Store;
use graphvault::store::fs::{Fs, RealFs};

use crate::child;
use crate::hookfs::{HookFs, StepLog};
use crate::scenario::{Expect, Landed, SIM_ROOT, Scenario, check_reopened, copy_tree};
use crate::simfs::{CrashBefore, Loss, SimFs};

/// Power-cut seeds per crash point: 0 and 1 are the extremes (nothing
/// unsynced survives, everything does), the rest mix.
pub const POWER_SEEDS: u64 = 8;

/// A simulated disk holding the scenario's starting store, all durable.
pub fn sim_base(scenario: Scenario) -> SimFs {
    let disk = SimFs::new();
    disk.create_dir_all(Path::new(SIM_ROOT)).expect("sim root");
    scenario
        .build_base(Arc::new(disk.clone()), Path::new(SIM_ROOT))
        .expect("build the base store");
    disk.settle();
    disk
}

/// Runs the scenario on `fs` and returns its steps.
pub fn count_steps(scenario: Scenario, fs: Arc<dyn Fs>, root: &Path) -> (u64, Vec<String>) {
    let log = Arc::new(StepLog::default());
    let hooked = HookFs::new(fs, log.clone());
    let store = Store::open_with(root, Arc::new(hooked))
        .expect("open")
        .with_lock_wait(crate::scenario::LOCK_GRACE);
    scenario.run(&store).expect("uninterrupted run");
    (log.steps(), log.ops())
}

/// Result of crashing one scenario at every step.
pub struct CrashTally {
    pub steps: u64,
    pub checks: usize,
    pub landed: BTreeMap<Landed, usize>,
    pub failures: Vec<String>,
}

/// Crashes `scenario` before every step (and once after the last) with
/// each kind of loss in `losses`, and checks every reopened disk.
pub fn crash_every_step_sim(scenario: Scenario, losses: &[Loss]) -> CrashTally {
    let root = Path::new(SIM_ROOT);
    let base = sim_base(scenario);
    let exp = Expect::measure(scenario, Arc::new(base.fork()), root);
    let (steps, _) = count_steps(scenario, Arc::new(base.fork()), root);
    let mut tally = CrashTally {
        steps,
        checks: 0,
        landed: BTreeMap::new(),
        failures: Vec::new(),
    };
    for k in 1..=steps + 1 {
        let disk = base.fork();
        let crash = Arc::new(CrashBefore::new(k, disk.clone()));
        let store = Store::open_with(
            root,
            Arc::new(HookFs::new(Arc::new(disk.clone()), crash.clone())),
        )
        .expect("open");
        let result = scenario.run(&store);
        drop(store);
        let (image, point) = match crash.captured() {
            Some(c) => c,
            None => {
                if let Err(e) = result {
                    tally.failures.push(format!(
                        "{}: the run past its last step failed: {e}",
                        scenario.name()
                    ));
                }
                (disk.fork(), "after the last step".to_string())
            }
        };
        for &loss in losses {
            tally.checks += 1;
            match check_reopened(Arc::new(image.crash(loss)), root, &exp) {
                Ok(landed) => *tally.landed.entry(landed).or_default() += 1,
                Err(e) => tally.failures.push(format!(
                    "{} crashed before {point} ({loss:?}): {e}",
                    scenario.name()
                )),
            }
        }
    }
    tally
}

pub fn all_losses() -> Vec<Loss> {
    let mut losses = vec![Loss::Process];
    losses.extend((0..POWER_SEEDS).map(Loss::Power));
    losses
}

fn report(scenario: Scenario, kind: &str, tally: &CrashTally) {
    println!(
        "{kind}: {:<12} {:>3} steps, {:>4} crash states checked, reopened old {:>4}, new {:>4}, violations {}",
        scenario.name(),
        tally.steps,
        tally.checks,
        tally.landed.get(&Landed::Old).copied().unwrap_or(0),
        tally.landed.get(&Landed::New).copied().unwrap_or(0),
        tally.failures.len()
    );
}

fn sim_suite(scenario: Scenario) {
    let tally = crash_every_step_sim(scenario, &all_losses());
    report(scenario, "simulated crash", &tally);
    assert!(
        tally.failures.is_empty(),
        "{} of {} crash states broke the store:\n{}",
        tally.failures.len(),
        tally.checks,
        tally.failures.join("\n")
    );
    assert!(tally.steps >= 10, "suspiciously few steps: {}", tally.steps);
    // Both outcomes must occur, or the enumeration missed the commit point.
    assert!(tally.landed.len() == 2, "{:?}", tally.landed);
}

#[test]
fn power_loss_at_every_step_of_save() {
    sim_suite(Scenario::Save);
}

#[test]
fn power_loss_at_every_step_of_save_from_a_file() {
    sim_suite(Scenario::SaveFrom);
}

#[test]
fn power_loss_at_every_step_of_save_and_rotate() {
    sim_suite(Scenario::SaveRotate);
}

#[test]
fn power_loss_at_every_step_of_save_with_a_trash_purge() {
    sim_suite(Scenario::SaveRotatePurge);
}

#[test]
fn power_loss_at_every_step_of_restore() {
    sim_suite(Scenario::Restore);
}

#[test]
fn power_loss_at_every_step_of_recovery() {
    sim_suite(Scenario::Recover);
}

#[test]
fn power_loss_at_every_step_of_the_command_lines_recovery() {
    sim_suite(Scenario::RecoverCommand);
}

/// A real child process aborts before step k of the scenario, for every k.
fn real_suite(scenario: Scenario) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = tmp.path().join("base/storage");
    std::fs::create_dir_all(&base).expect("base dir");
    scenario
        .build_base(Arc::new(RealFs), &base)
        .expect("build the base store");
    let copy = |name: &str| {
        let dir = tmp.path().join(name).join("storage");
        copy_tree(&base, &dir);
        dir
    };
    let exp = Expect::measure(scenario, Arc::new(RealFs), &copy("expect"));
    let (steps, ops) = count_steps(scenario, Arc::new(RealFs), &copy("count"));
    let (sim_steps, sim_ops) = count_steps(
        scenario,
        Arc::new(sim_base(scenario).fork()),
        Path::new(SIM_ROOT),
    );
    assert_eq!(
        steps, sim_steps,
        "the real and the simulated run take different steps:\nreal {ops:#?}\nsim {sim_ops:#?}"
    );
    let mut landed: BTreeMap<Landed, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for k in 1..=steps {
        let root = copy(&format!("k{k}"));
        let out = child::command("crash", tmp.path())
            .env("GV_REL_SCENARIO", scenario.name())
            .env("GV_REL_ROOT", &root)
            .env("GV_REL_ABORT_AT", k.to_string())
            .output()
            .expect("run the child");
        if out.status.signal() != Some(libc::SIGABRT) {
            failures.push(format!(
                "step {k} ({}): the child did not abort: {:?} {}",
                ops[k as usize - 1],
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
            continue;
        }
        match check_reopened(Arc::new(RealFs), &root, &exp) {
            Ok(l) => *landed.entry(l).or_default() += 1,
            Err(e) => failures.push(format!(
                "{} aborted before {}: {e}",
                scenario.name(),
                ops[k as usize - 1]
            )),
        }
        let _ = std::fs::remove_dir_all(root.parent().expect("copy dir"));
    }
    println!(
        "real abort: {:<12} {:>3} steps, {:>3} child processes aborted, reopened old {:>3}, new {:>3}, violations {}",
        scenario.name(),
        steps,
        steps,
        landed.get(&Landed::Old).copied().unwrap_or(0),
        landed.get(&Landed::New).copied().unwrap_or(0),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(landed.len(), 2, "{landed:?}");
}

#[test]
fn a_real_process_aborted_at_every_step_of_save() {
    real_suite(Scenario::Save);
}

#[test]
fn a_real_process_aborted_at_every_step_of_save_from_a_file() {
    real_suite(Scenario::SaveFrom);
}

#[test]
fn a_real_process_aborted_at_every_step_of_save_and_rotate() {
    real_suite(Scenario::SaveRotate);
}

#[test]
fn a_real_process_aborted_at_every_step_of_save_with_a_trash_purge() {
    real_suite(Scenario::SaveRotatePurge);
}

#[test]
fn a_real_process_aborted_at_every_step_of_restore() {
    real_suite(Scenario::Restore);
}

#[test]
fn a_real_process_aborted_at_every_step_of_recovery() {
    real_suite(Scenario::Recover);
}

#[test]
fn a_real_process_aborted_at_every_step_of_the_command_lines_recovery() {
    real_suite(Scenario::RecoverCommand);
}

/// A store on the simulated disk whose trash holds two backups (days 1 and
/// 2, moved there by day 4's retention), and the data bytes of each.
fn trash_restore_base() -> (SimFs, BTreeMap<String, Vec<u8>>) {
    use graphvault::store::StoreConfig;
    use graphvault::store::retention::RetentionPolicy;
    use graphvault::store::save::SaveOptions;
    let disk = SimFs::new();
    let root = Path::new(SIM_ROOT);
    disk.create_dir_all(root).expect("sim root");
    let mut store = Store::open_with(root, Arc::new(disk.clone())).expect("open");
    store
        .set_config(StoreConfig {
            retention: RetentionPolicy {
                keep_last: Some(2),
                keep_within: None,
                min_valid: 1,
                ..RetentionPolicy::default()
            },
            ..StoreConfig::default()
        })
        .expect("config");
    for day in 1..=4 {
        store
            .save_with(
                &crate::scenario::graph(3 + day as usize, &format!("t{day}")),
                &SaveOptions {
                    rotate: day == 4,
                    at: Some(crate::scenario::at(day, 12)),
                },
            )
            .expect("save");
    }
    let items = crate::scenario::trash_items(&store).expect("trash");
    assert_eq!(items.len(), 2, "the base rotation trashed two backups");
    disk.settle();
    let bytes = items.into_iter().map(|(id, (_, b))| (id, b)).collect();
    (disk, bytes)
}

/// After a locked reopen: each trashed backup is whole in `backups/` (its
/// bytes, and it verifies) or whole in the trash, never in neither, never
/// in both; then `trash restore` of what is left brings every one back.
fn check_trash_restore(fs: Arc<dyn Fs>, want: &BTreeMap<String, Vec<u8>>) -> Result<usize, String> {
    use graphvault::store::verify::{Depth, Status, Target};
    let store = Store::open_with(Path::new(SIM_ROOT), fs).map_err(|e| format!("open: {e}"))?;
    drop(store.lock().map_err(|e| format!("locked reopen: {e}"))?);
    let trash = crate::scenario::trash_items(&store)?;
    let mut back = 0;
    for (id, bytes) in want {
        let backup: graphvault::store::names::BackupId =
            id.parse().map_err(|e| format!("{id}: {e}"))?;
        let data = store.backups_dir().join(backup.data_file_name());
        let in_backups = crate::scenario::read(store.fs(), &data);
        let in_trash = trash.values().filter(|(b, _)| *b == backup).count();
        match (&in_backups, in_trash) {
            (Some(b), 0) => {
                if b != bytes {
                    return Err(format!("{id} is back with other bytes"));
                }
                let r = store
                    .verify(&Target::Backup(backup.clone()), Depth::Full)
                    .map_err(|e| format!("verify {id}: {e}"))?;
                if r.status != Status::Valid {
                    return Err(format!("{id} is back but {}", r.summary()));
                }
                back += 1;
            }
            (None, 1) => {}
            (Some(_), _) => return Err(format!("{id} is both in backups/ and in the trash")),
            (None, 0) => return Err(format!("{id} is in neither backups/ nor the trash")),
            (None, n) => return Err(format!("{id} is in the trash {n} times")),
        }
    }
    let left: Vec<String> = trash.keys().cloned().collect();
    if !left.is_empty() {
        store
            .trash_restore(&left)
            .map_err(|e| format!("restoring the rest: {e}"))?;
    }
    if !store
        .list_trash()
        .map_err(|e| format!("list trash: {e}"))?
        .items
        .is_empty()
    {
        return Err("the trash is not empty after restoring the rest".into());
    }
    Ok(back)
}

/// What a crash at every step of a restore from the trash left: steps,
/// crash states checked, reopens by how many backups were back, failures.
pub struct TrashRestoreTally {
    pub steps: u64,
    pub checks: usize,
    pub back: BTreeMap<usize, usize>,
    pub failures: Vec<String>,
}

pub fn crash_every_step_of_trash_restore(losses: &[Loss]) -> TrashRestoreTally {
    let (base, want) = trash_restore_base();
    let ids: Vec<String> = want.keys().cloned().collect();
    let root = Path::new(SIM_ROOT);
    let log = Arc::new(StepLog::default());
    let store = Store::open_with(
        root,
        Arc::new(HookFs::new(Arc::new(base.fork()), log.clone())),
    )
    .expect("open");
    store.trash_restore(&ids).expect("uninterrupted restore");
    let steps = log.steps();
    let mut checks = 0;
    let mut back: BTreeMap<usize, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for k in 1..=steps + 1 {
        let disk = base.fork();
        let crash = Arc::new(CrashBefore::new(k, disk.clone()));
        let store = Store::open_with(
            root,
            Arc::new(HookFs::new(Arc::new(disk.clone()), crash.clone())),
        )
        .expect("open");
        let result = store.trash_restore(&ids);
        drop(store);
        let (image, point) = match crash.captured() {
            Some(c) => c,
            None => {
                if let Err(e) = result {
                    failures.push(format!("the run past its last step failed: {e}"));
                }
                (disk.fork(), "after the last step".to_string())
            }
        };
        for &loss in losses {
            checks += 1;
            match check_trash_restore(Arc::new(image.crash(loss)), &want) {
                Ok(n) => *back.entry(n).or_default() += 1,
                Err(e) => failures.push(format!("crash before step {k} ({point}), {loss:?}: {e}")),
            }
        }
    }
    TrashRestoreTally {
        steps,
        checks,
        back,
        failures,
    }
}

#[test]
fn power_loss_at_every_step_of_trash_restore() {
    let t = crash_every_step_of_trash_restore(&all_losses());
    println!(
        "simulated crash: trash restore {:>3} steps, {:>4} crash states checked, backups back at reopen {:?}, violations {}",
        t.steps,
        t.checks,
        t.back,
        t.failures.len()
    );
    assert!(t.failures.is_empty(), "{}", t.failures.join("\n"));
    assert!(t.steps >= 10, "suspiciously few steps: {}", t.steps);
    // Crashes before, in the middle of and after the restore all occurred.
    assert!(
        t.back.contains_key(&0) && t.back.contains_key(&2),
        "{:?}",
        t.back
    );
}
