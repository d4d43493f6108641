//! `compact` interrupted: a crash (the process dies, or the power goes,
//! with several seeds deciding what unsynced state survives) before every
//! filesystem step, and an injected error (EIO, ENOSPC, EROFS, EACCES,
//! once and persistently) at every call. After each, the store must
//! reopen with every backup whole and verifying, its plain JSON the same
//! SHA-256 as before, in one form or the other; and a `compact` run again
//! on the healthy disk must finish the job, every plain file it replaced
//! kept in the trash (never deleted).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use graphvault::store::codec::{self, StoredForm};
use graphvault::store::compact::CompactOptions;
use graphvault::store::fs::Fs;
use graphvault::store::names::BackupId;
use graphvault::store::save::SaveOptions;
use graphvault::store::verify::{Depth, Status, Target};
use graphvault::store::{MAX_GRAPH_LEN, Store};

use crate::crash::all_losses;
use crate::faults::{ERRNOS, names_op_and_path};
use crate::hookfs::{CallCount, FaultAt, HookFs, Persistence, StepLog};
use crate::scenario::{LOCK_GRACE, SIM_ROOT, at, graph};
use crate::simfs::{CrashBefore, Loss, SimFs};

/// Three plain backups on the simulated disk, in a store whose settings
/// now ask for zstd; and the plain checksum of each.
fn compact_base() -> (SimFs, BTreeMap<BackupId, String>) {
    let disk = SimFs::new();
    let root = Path::new(SIM_ROOT);
    disk.create_dir_all(root).expect("sim root");
    let mut store = Store::open_with(root, Arc::new(disk.clone())).expect("open");
    let mut want = BTreeMap::new();
    for day in 1..=3 {
        let r = store
            .save_with(
                &graph(3 + day as usize, &format!("c{day}")),
                &SaveOptions {
                    rotate: false,
                    at: Some(at(day, 12)),
                },
            )
            .expect("save");
        want.insert(r.backup_id, r.checksum);
    }
    store.set_setting("compression", "zstd").expect("setting");
    disk.settle();
    (disk, want)
}

fn run_compact(store: &Store) -> Result<usize, graphvault::store::StoreError> {
    store
        .compact(CompactOptions { dry_run: false })
        .map(|r| r.converted.len())
}

/// After a locked reopen, every backup verifies and holds its plain JSON
/// (in either form); then a compact on the healthy disk converts what is
/// left and keeps each replaced plain file in the trash. Returns how many
/// backups were compressed at the reopen.
fn check_compact(fs: Arc<dyn Fs>, want: &BTreeMap<BackupId, String>) -> Result<usize, String> {
    let root = Path::new(SIM_ROOT);
    let store = Store::open_with(root, fs.clone())
        .map_err(|e| format!("reopen: {e}"))?
        .with_lock_wait(LOCK_GRACE);
    drop(store.lock().map_err(|e| format!("locked reopen: {e}"))?);
    let whole = |store: &Store, stage: &str| -> Result<usize, String> {
        let listing = store.list_backups().map_err(|e| format!("list: {e}"))?;
        let mut compressed = 0;
        for (id, sha) in want {
            let b = listing
                .backups
                .iter()
                .find(|b| &b.id == id)
                .ok_or_else(|| format!("{stage}: backup {id} is gone"))?;
            let (actual, _) = codec::hash_plain(&*fs, &b.data_path, MAX_GRAPH_LEN)
                .map_err(|e| format!("{stage}: backup {id} cannot be read: {e}"))?;
            if &actual != sha {
                return Err(format!("{stage}: backup {id} holds other content"));
            }
            let v = store
                .verify(&Target::Backup(id.clone()), Depth::Full)
                .map_err(|e| format!("{stage}: verify {id}: {e}"))?;
            if v.status != Status::Valid {
                return Err(format!("{stage}: backup {id} is {}", v.summary()));
            }
            if b.form == StoredForm::Zstd {
                compressed += 1;
            }
        }
        Ok(compressed)
    };
    let compressed = whole(&store, "at reopen")?;
    run_compact(&store).map_err(|e| format!("compact again on a healthy disk: {e}"))?;
    let done = whole(&store, "after compact")?;
    if done != want.len() {
        return Err(format!(
            "compact again left {} of {} backups plain",
            want.len() - done,
            want.len()
        ));
    }
    for (id, sha) in want {
        if store
            .fs()
            .entry(&store.backups_dir().join(id.data_file_name()))
            .is_ok()
        {
            return Err(format!("{id}: a plain file is left in backups/"));
        }
        // The replaced plain file is in the trash with its bytes.
        let kept = store
            .list_trash()
            .map_err(|e| format!("list trash: {e}"))?
            .items
            .iter()
            .any(|item| {
                &item.backup_id == id
                    && codec::hash_plain(
                        &*fs,
                        &store.trash_dir().join(format!("{}.json", item.id)),
                        MAX_GRAPH_LEN,
                    )
                    .is_ok_and(|(h, _)| &h == sha)
            });
        if !kept {
            return Err(format!("{id}: its plain file is not in the trash"));
        }
    }
    Ok(compressed)
}

#[test]
fn power_loss_at_every_step_of_compact() {
    let (base, want) = compact_base();
    let root = Path::new(SIM_ROOT);
    let log = Arc::new(StepLog::default());
    let store = Store::open_with(
        root,
        Arc::new(HookFs::new(Arc::new(base.fork()), log.clone())),
    )
    .expect("open");
    assert_eq!(run_compact(&store).expect("uninterrupted compact"), 3);
    let steps = log.steps();
    let mut checks = 0;
    let mut at_reopen: BTreeMap<usize, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for k in 1..=steps + 1 {
        let disk = base.fork();
        let crash = Arc::new(CrashBefore::new(k, disk.clone()));
        let store = Store::open_with(
            root,
            Arc::new(HookFs::new(Arc::new(disk.clone()), crash.clone())),
        )
        .expect("open");
        let result = run_compact(&store);
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
        for loss in all_losses() {
            checks += 1;
            match check_compact(Arc::new(image.crash(loss)), &want) {
                Ok(n) => *at_reopen.entry(n).or_default() += 1,
                Err(e) => failures.push(format!("crash before step {k} ({point}), {loss:?}: {e}")),
            }
        }
    }
    println!(
        "simulated crash: compact {steps:>3} steps, {checks:>4} crash states checked, backups compressed at reopen {at_reopen:?}, violations {}",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(steps >= 10, "suspiciously few steps: {steps}");
    // Crashes before, in the middle of and after the conversions occurred.
    assert!(
        at_reopen.contains_key(&0) && at_reopen.contains_key(&want.len()),
        "{at_reopen:?}"
    );
}

#[test]
fn every_call_of_compact_fails_cleanly() {
    let (base, want) = compact_base();
    let root = Path::new(SIM_ROOT);
    let count = Arc::new(CallCount::default());
    let store = Store::open_with(
        root,
        Arc::new(HookFs::new(Arc::new(base.fork()), count.clone())),
    )
    .expect("open");
    run_compact(&store).expect("uninterrupted compact");
    let calls = count.calls() + 4;
    let (mut runs, mut errors, mut tolerated) = (0, 0, 0);
    let mut failures = Vec::new();
    for errno in ERRNOS {
        for persistence in [Persistence::Once, Persistence::Persistent] {
            for at_call in 1..=calls {
                let disk = base.fork();
                let fault = Arc::new(FaultAt::new(
                    at_call,
                    errno.0,
                    persistence,
                    root.join("graph.json"),
                ));
                let hooked = Arc::new(HookFs::new(Arc::new(disk.clone()), fault.clone()));
                let result = Store::open_with(root, hooked).and_then(|s| run_compact(&s));
                runs += 1;
                let Some(fired) = fault.fired() else {
                    continue;
                };
                let what = format!("compact with {} {persistence:?} at {fired}", errno.1);
                match &result {
                    Ok(_) => tolerated += 1,
                    Err(e) => {
                        errors += 1;
                        if let Err(why) = names_op_and_path(e, errno.0, root) {
                            failures.push(format!("{what}: {why}"));
                        }
                    }
                }
                for loss in [Loss::Process, Loss::Power(at_call)] {
                    if let Err(why) = check_compact(Arc::new(disk.crash(loss)), &want) {
                        failures.push(format!("{what}, reopened after {loss:?}: {why}"));
                    }
                }
            }
        }
    }
    println!(
        "injected faults: compact {calls:>3} calls x 4 errnos x once/persistent = {runs:>4} runs, {errors:>4} failed cleanly, {tolerated:>3} tolerated, violations {}",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} violations:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
