//! Failing disks: EIO, ENOSPC, EROFS and EACCES injected at every call
//! the store makes (reads included), once (a transient error) and
//! persistently (a disk that went bad, full or read-only), through the same
//! `Fs` layer production uses. And one real disk-full test on a tiny tmpfs
//! in a user namespace, where the machine allows it.
//!
//! Every failed operation must return an error naming the operation and the
//! path, must leave the primary and its meta byte for byte as they were
//! (unless the new graph had already been renamed into place: the commit
//! point), must delete no backup to make room, and the store must reopen,
//! once the disk is healthy, to the old or the new graph, even if the power
//! goes right after the failure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use graphvault::store::fs::RealFs;
use graphvault::store::verify::{Depth, Status, Target};
use graphvault::store::{Store, StoreError};

use crate::crash::{count_steps, sim_base};
use crate::hookfs::{CallCount, FaultAt, HookFs, Persistence, StepLog};
use crate::scenario::{Expect, LOCK_GRACE, SIM_ROOT, Scenario, check_reopened, copy_tree, read};
use crate::simfs::{Loss, SimFs};

pub const ERRNOS: [(i32, &str); 4] = [
    (libc::EIO, "EIO"),
    (libc::ENOSPC, "ENOSPC"),
    (libc::EROFS, "EROFS"),
    (libc::EACCES, "EACCES"),
];

/// The error must say what was being done and to which file: an `Io`
/// error with the injected errno and a path in the store, or a refusal
/// whose text carries both.
pub fn names_op_and_path(e: &StoreError, errno: i32, root: &Path) -> Result<(), String> {
    let text = e.to_string();
    let os = std::io::Error::from_raw_os_error(errno).to_string();
    match e {
        StoreError::Io { op, path, source } => {
            if op.is_empty() || !path.starts_with(root) || source.raw_os_error() != Some(errno) {
                return Err(format!(
                    "an I/O error without its operation, path or cause: {text}"
                ));
            }
        }
        _ => {
            if !text.contains(&root.display().to_string()) || !text.contains(&os) {
                return Err(format!(
                    "the error does not name the path and the cause ({os}): {text}"
                ));
            }
        }
    }
    Ok(())
}

#[derive(Default)]
pub struct FaultTally {
    pub runs: usize,
    pub errors: usize,
    pub tolerated: usize,
    pub landed: BTreeMap<String, usize>,
    pub failures: Vec<String>,
}

/// Runs `scenario` once with a fault at call `at`, on a fork of `base`,
/// and checks the store before and after it is reopened.
fn one_fault(
    scenario: Scenario,
    base: &SimFs,
    exp: &Expect,
    at: u64,
    errno: (i32, &str),
    persistence: Persistence,
    tally: &mut FaultTally,
) {
    let root = Path::new(SIM_ROOT);
    let primary = root.join("graph.json");
    let disk = base.fork();
    let fault = Arc::new(FaultAt::new(at, errno.0, persistence, primary.clone()));
    let hooked = Arc::new(HookFs::new(Arc::new(disk.clone()), fault.clone()));
    let result = Store::open_with(root, hooked).and_then(|store| scenario.run(&store));
    tally.runs += 1;
    let Some(fired) = fault.fired() else {
        return;
    };
    let what = format!(
        "{} with {} {:?} at {fired}",
        scenario.name(),
        errno.1,
        persistence
    );
    let mut fail = |why: String| tally.failures.push(format!("{what}: {why}"));
    match &result {
        Ok(()) => tally.tolerated += 1,
        Err(e) => {
            tally.errors += 1;
            if let Err(why) = names_op_and_path(e, errno.0, root) {
                fail(why);
            }
            let unchanged = disk.get(&primary).as_deref() == Some(exp.old.as_slice())
                && disk.get(&root.join("graph.json.meta")).as_deref()
                    == Some(exp.old_meta.as_slice());
            if !fault.primary_replaced() && !unchanged {
                fail(format!(
                    "the operation failed ({e}) but changed the primary or its meta"
                ));
            }
        }
    }
    for (id, bytes) in &exp.before_backups {
        let path = root.join("backups").join(id.data_file_name());
        let kept = disk.get(&path).as_deref() == Some(bytes.as_slice());
        if !kept && !exp.removed.contains(id) {
            fail(format!("backup {id} was deleted or changed"));
        }
    }
    // Recovery that could not read the newest valid backup falls back to
    // the next one: an older but valid graph, which is what it promises.
    let mut exp = exp.clone();
    if let Some(now) = disk.get(&primary)
        && scenario.recovers()
        && now != exp.new
        && now != exp.old
        && exp.before_backups.values().any(|b| *b == now)
        && (fired.contains("backups/") || fired.contains("graph.json"))
    {
        exp.new = now;
        *tally.landed.entry("older valid backup".into()).or_default() += 1;
    }
    for loss in [Loss::Process, Loss::Power(at)] {
        match check_reopened(Arc::new(disk.crash(loss)), root, &exp) {
            Ok(landed) => {
                *tally.landed.entry(landed.to_string()).or_default() += 1;
            }
            Err(why) => fail(format!("reopened after {loss:?}: {why}")),
        }
    }
}

fn fault_suite(scenario: Scenario) {
    let root = Path::new(SIM_ROOT);
    let base = sim_base(scenario);
    let exp = Expect::measure(scenario, Arc::new(base.fork()), root);
    let count = Arc::new(CallCount::default());
    let store = Store::open_with(
        root,
        Arc::new(HookFs::new(Arc::new(base.fork()), count.clone())),
    )
    .expect("open");
    scenario.run(&store).expect("uninterrupted run");
    // Reads are spread over worker threads in some operations, so the
    // number of calls may vary a little; go a few past it.
    let calls = count.calls() + 4;
    let mut tally = FaultTally::default();
    for errno in ERRNOS {
        for persistence in [Persistence::Once, Persistence::Persistent] {
            for at in 1..=calls {
                one_fault(scenario, &base, &exp, at, errno, persistence, &mut tally);
            }
        }
    }
    println!(
        "injected faults: {:<12} {:>3} calls x 4 errnos x once/persistent = {:>4} runs, {:>4} failed cleanly, {:>3} tolerated, reopened {:?}, violations {}",
        scenario.name(),
        calls,
        tally.runs,
        tally.errors,
        tally.tolerated,
        tally.landed,
        tally.failures.len()
    );
    assert!(
        tally.failures.is_empty(),
        "{} violations:\n{}",
        tally.failures.len(),
        tally.failures.join("\n")
    );
}

#[test]
fn every_call_of_save_fails_cleanly() {
    fault_suite(Scenario::Save);
}

#[test]
fn every_call_of_save_from_a_file_fails_cleanly() {
    fault_suite(Scenario::SaveFrom);
}

#[test]
fn every_call_of_save_and_rotate_fails_cleanly() {
    fault_suite(Scenario::SaveRotate);
}

#[test]
fn every_call_of_save_with_a_trash_purge_fails_cleanly() {
    fault_suite(Scenario::SaveRotatePurge);
}

#[test]
fn every_call_of_restore_fails_cleanly() {
    fault_suite(Scenario::Restore);
}

#[test]
fn every_call_of_recovery_fails_cleanly() {
    fault_suite(Scenario::Recover);
}

#[test]
fn every_call_of_the_command_lines_recovery_fails_cleanly() {
    fault_suite(Scenario::RecoverCommand);
}

/// A store left by a save interrupted between renaming the graph and
/// renaming its meta: new graph, old meta, pending meta that matches.
fn interrupted_save() -> (SimFs, Expect) {
    let root = Path::new(SIM_ROOT);
    let base = sim_base(Scenario::Save);
    let exp = Expect::measure(Scenario::Save, Arc::new(base.fork()), root);
    let (_, ops) = count_steps(Scenario::Save, Arc::new(base.fork()), root);
    let k = ops
        .iter()
        .position(|op| op.contains("rename") && op.ends_with("graph.json.meta"))
        .expect("the meta rename step") as u64
        + 1;
    let disk = base.fork();
    let crash = Arc::new(crate::simfs::CrashBefore::new(k, disk.clone()));
    let store =
        Store::open_with(root, Arc::new(HookFs::new(Arc::new(disk), crash.clone()))).expect("open");
    let _ = Scenario::Save.run(&store);
    let (image, _) = crash.captured().expect("crashed");
    let image = image.crash(Loss::Process);
    assert!(image.get(&root.join("graph.json.meta.pending")).is_some());
    assert_eq!(
        image.get(&root.join("graph.json")).as_deref(),
        Some(exp.new.as_slice())
    );
    (image, exp)
}

#[test]
fn an_error_while_settling_an_interrupted_save_never_discards_its_meta() {
    // The next writer settles the pending meta under the lock. An I/O
    // error there (reading the graph to compare) must not be taken for
    // "the graph does not match": that would delete the only meta that
    // describes the good new graph, and verify would call it corrupt.
    let root = Path::new(SIM_ROOT);
    let (image, exp) = interrupted_save();
    let count = Arc::new(CallCount::default());
    let store = Store::open_with(
        root,
        Arc::new(HookFs::new(Arc::new(image.fork()), count.clone())),
    )
    .expect("open");
    drop(store.lock().expect("lock"));
    let calls = count.calls();
    let mut failures = Vec::new();
    let mut runs = 0;
    for errno in ERRNOS {
        for persistence in [Persistence::Once, Persistence::Persistent] {
            for at in 1..=calls {
                let disk = image.fork();
                let fault = Arc::new(FaultAt::new(
                    at,
                    errno.0,
                    persistence,
                    root.join("graph.json"),
                ));
                let hooked = Arc::new(HookFs::new(Arc::new(disk.clone()), fault.clone()));
                let locked = Store::open_with(root, hooked).and_then(|s| s.lock().map(drop));
                runs += 1;
                if let Err(e) = &locked
                    && let Err(why) = names_op_and_path(e, errno.0, root)
                {
                    failures.push(why);
                }
                for loss in [Loss::Process, Loss::Power(at)] {
                    let after = Arc::new(disk.crash(loss));
                    let report = Store::open_with(root, after.clone())
                        .expect("reopen")
                        .verify(&Target::Primary, Depth::Full)
                        .expect("verify");
                    if report.status != Status::Valid {
                        failures.push(format!(
                            "{} {persistence:?} at {:?} ({loss:?}): the new graph now verifies as {}",
                            errno.1,
                            fault.fired(),
                            report.summary()
                        ));
                    }
                    if let Err(why) = check_reopened(after, root, &exp) {
                        failures.push(format!(
                            "{} {persistence:?} at {:?}: {why}",
                            errno.1,
                            fault.fired()
                        ));
                    }
                }
            }
        }
    }
    println!(
        "settling an interrupted save: {runs} faulted locked opens, violations {}",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The same injection over the real filesystem, for the save: the fault
/// layer sits on `RealFs` in a temp directory, so the errors travel through
/// real files, real renames and real fsyncs.
#[test]
fn every_step_of_a_real_save_fails_cleanly() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = tmp.path().join("base/storage");
    std::fs::create_dir_all(&base).expect("base");
    Scenario::Save
        .build_base(Arc::new(RealFs), &base)
        .expect("base store");
    let copy = |name: &str| -> PathBuf {
        let dir = tmp.path().join(name).join("storage");
        copy_tree(&base, &dir);
        dir
    };
    let exp = Expect::measure(Scenario::Save, Arc::new(RealFs), &copy("expect"));
    let log = Arc::new(StepLog::default());
    let counted = copy("count");
    let store = Store::open_with(
        &counted,
        Arc::new(HookFs::new(Arc::new(RealFs), log.clone())),
    )
    .expect("open")
    .with_lock_wait(LOCK_GRACE);
    Scenario::Save.run(&store).expect("run");
    let calls = {
        let count = Arc::new(CallCount::default());
        let again = copy("count2");
        let store = Store::open_with(
            &again,
            Arc::new(HookFs::new(Arc::new(RealFs), count.clone())),
        )
        .expect("open")
        .with_lock_wait(LOCK_GRACE);
        Scenario::Save.run(&store).expect("run");
        count.calls()
    };
    let mut failures = Vec::new();
    let mut runs = 0;
    for errno in [ERRNOS[0], ERRNOS[1]] {
        for at in 1..=calls {
            let root = copy(&format!("{}-{at}", errno.1));
            let fault = Arc::new(FaultAt::new(
                at,
                errno.0,
                Persistence::Once,
                root.join("graph.json"),
            ));
            let hooked = Arc::new(HookFs::new(Arc::new(RealFs), fault.clone()));
            let result = Store::open_with(&root, hooked)
                .and_then(|s| Scenario::Save.run(&s.with_lock_wait(LOCK_GRACE)));
            runs += 1;
            if let Err(e) = &result {
                if let Err(why) = names_op_and_path(e, errno.0, &root) {
                    failures.push(why);
                }
                if !fault.primary_replaced()
                    && (read(&RealFs, &root.join("graph.json")).as_deref()
                        != Some(exp.old.as_slice())
                        || read(&RealFs, &root.join("graph.json.meta")).as_deref()
                            != Some(exp.old_meta.as_slice()))
                {
                    failures.push(format!(
                        "{} at {:?}: primary changed by a failed save",
                        errno.1,
                        fault.fired()
                    ));
                }
            }
            if let Err(why) = check_reopened(Arc::new(RealFs), &root, &exp) {
                failures.push(format!("{} at {:?}: {why}", errno.1, fault.fired()));
            }
            let _ = std::fs::remove_dir_all(root.parent().expect("copy"));
        }
    }
    println!(
        "injected faults (real fs): save, {calls} calls x EIO/ENOSPC once = {runs} runs, {} mutating steps, violations {}",
        log.steps(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Whether `unshare -r -m` can mount a tmpfs here.
fn namespaces_available() -> Result<(), String> {
    let out = Command::new("unshare")
        .args([
            "-r",
            "-m",
            "sh",
            "-c",
            "mount -t tmpfs -o size=64k gv-probe /mnt && echo ok",
        ])
        .output()
        .map_err(|e| format!("cannot run unshare: {e}"))?;
    if out.status.success() && out.stdout.starts_with(b"ok") {
        Ok(())
    } else {
        Err(format!(
            "unshare -r -m cannot mount a tmpfs here: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Where the disk runs out in [`real_disk_full`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FullAt {
    /// The new backup does not fit.
    Backup,
    /// Either the new backup or the new primary fits, not both. The two
    /// are written at once, so which of them meets the full disk is a race:
    /// either way the save must fail cleanly, and say which it left.
    Primary,
    /// Both fit, but not the margin the store keeps free: refused by the
    /// space check (a real statvfs) before anything is written.
    Margin,
}

/// Saves a big graph with the real binary into a store on a tmpfs that
/// holds a small saved graph and has room as `full_at` says, and checks
/// what the failed save left.
fn real_disk_full(full_at: FullAt) -> Result<String, String> {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mnt = tmp.path().join("mnt");
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&mnt).expect("mount point");
    std::fs::create_dir_all(&out).expect("out dir");
    let small = tmp.path().join("small.json");
    let big = tmp.path().join("big.json");
    std::fs::write(&small, crate::fixtures::app_graph(3, 2, false, "small")).expect("small");
    let big_text = crate::fixtures::app_graph(200, 2, false, "big");
    std::fs::write(&big, &big_text).expect("big");
    // tmpfs counts 4 KiB pages; the small store takes about six, and one
    // more for the config that turns the space check off where the write
    // itself must meet the full disk.
    let pages = big_text.len().div_ceil(4096);
    let size_kib = 4 * match full_at {
        FullAt::Backup => 7 + pages / 2,
        FullAt::Primary => 7 + pages + 3 + pages / 2,
        FullAt::Margin => 6 + 2 * pages + 6,
    };
    let script = r#"
set -u
mount -t tmpfs -o size="$SIZE"k gv-full "$MNT" || exit 90
S="$MNT/storage"
"$GV" --store "$S" save --from "$SMALL" --no-rotate >/dev/null 2>"$OUT/first.err" || exit 91
cd "$S"
if [ "$NOMARGIN" = 1 ]; then echo '{"space_margin": 0}' > .graphvault/config.json; fi
sha256sum graph.json graph.json.meta > "$OUT/before"
ls -A backups | sort > "$OUT/backups.before"
"$GV" --store "$S" save --from "$BIG" --no-rotate >/dev/null 2>"$OUT/err"
echo $? > "$OUT/code"
sha256sum graph.json graph.json.meta > "$OUT/after"
ls -A backups | sort > "$OUT/backups.after"
ls -A . backups .graphvault > "$OUT/ls"
"$GV" --store "$S" verify >/dev/null 2>&1
echo $? > "$OUT/verify"
df -k "$MNT" | tail -1 > "$OUT/df"
"#;
    let status = Command::new("unshare")
        .args(["-r", "-m", "sh", "-c", script])
        .env("SIZE", size_kib.to_string())
        .env("MNT", &mnt)
        .env("OUT", &out)
        .env("GV", env!("CARGO_BIN_EXE_graphvault"))
        .env("SMALL", &small)
        .env("BIG", &big)
        .env(
            "NOMARGIN",
            if full_at == FullAt::Margin { "0" } else { "1" },
        )
        .status()
        .map_err(|e| format!("unshare: {e}"))?;
    if !status.success() {
        return Err(format!("the namespace script failed: {status:?}"));
    }
    let get = |name: &str| std::fs::read_to_string(out.join(name)).unwrap_or_default();
    let err = get("err");
    let code = get("code");
    if code.trim() != "5" {
        return Err(format!("the save into a full disk exited {code:?}: {err}"));
    }
    let cause = if full_at == FullAt::Margin {
        "refused: it needs"
    } else {
        "No space left on device"
    };
    if !err.contains(cause) || !err.contains(&mnt.display().to_string()) {
        return Err(format!(
            "the error does not name the cause and the path: {err}"
        ));
    }
    if full_at == FullAt::Margin && get("backups.before") != get("backups.after") {
        return Err(format!(
            "the space check refused, yet backups/ changed: {:?} -> {:?}",
            get("backups.before"),
            get("backups.after")
        ));
    }
    let failed_in_backups = err.contains("/backups/");
    if full_at == FullAt::Backup && !failed_in_backups {
        return Err(format!(
            "the disk ran out at another step than planned ({size_kib} KiB): {err}"
        ));
    }
    // Where the backup was written and the primary was not, the error says
    // so and the new backup is there; where the backup failed, backups/ is
    // as it was.
    if full_at == FullAt::Primary {
        let count = |name: &str| get(name).lines().count() as isize;
        let added = count("backups.after") - count("backups.before");
        let (said, pairs) = if failed_in_backups {
            (true, 0)
        } else {
            (err.contains("of the new graph was written"), 2)
        };
        if !said || added != pairs {
            return Err(format!(
                "the error and backups/ disagree ({added} files added, {size_kib} KiB): {err}"
            ));
        }
    }
    if get("before") != get("after") {
        return Err("the failed save changed graph.json or its meta".to_string());
    }
    let before = get("backups.before");
    let after = get("backups.after");
    if before.lines().any(|l| !after.lines().any(|a| a == l)) {
        return Err(format!(
            "a backup was deleted: before {before:?}, after {after:?}"
        ));
    }
    if get("ls").contains(graphvault::store::fs::TEMP_PREFIX) {
        return Err(format!("temp files were left behind: {}", get("ls")));
    }
    if get("verify").trim() != "0" {
        return Err("the primary no longer verifies".to_string());
    }
    Ok(err.trim().to_string())
}

#[test]
fn a_real_full_disk_fails_the_save_cleanly() {
    if let Err(why) = namespaces_available() {
        println!("real disk-full test skipped: {why}");
        return;
    }
    for full_at in [FullAt::Backup, FullAt::Primary, FullAt::Margin] {
        match real_disk_full(full_at) {
            Ok(err) => println!("real disk full at the {full_at:?} write: {err}"),
            Err(why) => panic!("disk full at the {full_at:?} write: {why}"),
        }
    }
}

/// Denies every read of a backup's meta with EACCES, as a meta whose
/// permissions were changed (root in the test machine ignores chmod).
struct DenyBackupMetas;

impl crate::hookfs::Hook for DenyBackupMetas {
    fn before(&self, op: &crate::hookfs::Op) -> std::io::Result<()> {
        let name = op
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let in_backups = op
            .path
            .parent()
            .is_some_and(|p| p.ends_with(graphvault::store::BACKUPS_DIR));
        if op.kind == crate::hookfs::OpKind::OpenRead && in_backups && name.ends_with(".meta") {
            return Err(std::io::Error::from_raw_os_error(libc::EACCES));
        }
        Ok(())
    }
}

/// Denies every read of a backup's data file (EACCES), as a file another user owns.
struct DenyBackupData;

impl crate::hookfs::Hook for DenyBackupData {
    fn before(&self, op: &crate::hookfs::Op) -> std::io::Result<()> {
        let in_backups = op
            .path
            .parent()
            .is_some_and(|p| p.ends_with(graphvault::store::BACKUPS_DIR));
        let data = op.path.extension().is_some_and(|e| e == "json");
        if op.kind == crate::hookfs::OpKind::OpenRead && in_backups && data {
            return Err(std::io::Error::from_raw_os_error(libc::EACCES));
        }
        Ok(())
    }
}

#[test]
fn a_backup_that_cannot_be_read_is_called_unreadable_not_corrupt() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("storage");
    let store = crate::scenario::open_real(&root);
    for i in 0..2 {
        let graph = graphvault::graph::KnowledgeGraph::from_slice(
            crate::fixtures::app_graph(2, 2, false, &format!("u{i}")).as_bytes(),
        )
        .expect("graph");
        store.save_graph_with_backup(&graph).expect("save");
    }
    let id = store.list_backups().expect("list").backups[0].id.clone();
    let denied = Store::open_with(
        &root,
        Arc::new(HookFs::new(Arc::new(RealFs), Arc::new(DenyBackupData))),
    )
    .expect("open");
    let r = denied
        .verify(&Target::Backup(id.clone()), Depth::Full)
        .expect("verify");
    // It fails (nothing vouches for it) but nothing was learned about its bytes.
    assert_eq!((r.status, r.unreadable), (Status::Corrupt, true), "{r:?}");
    assert_eq!(r.word(), "unreadable", "{r:?}");
    assert!(r.summary().starts_with("unreadable: "), "{}", r.summary());
    // The same file read through the real disk verifies.
    let real = store
        .verify(&Target::Backup(id), Depth::Full)
        .expect("verify");
    assert_eq!(real.word(), "valid", "{real:?}");
}

#[test]
fn metas_that_cannot_be_read_remove_no_backup() {
    // A meta that cannot be read says nothing about its backup: retention
    // (alone, and after a save) must keep every backup whose meta it could
    // not read, and verify must say it could not judge them.
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("storage");
    let store = crate::scenario::open_real(&root);
    for i in 0..6 {
        let graph = graphvault::graph::KnowledgeGraph::from_slice(
            crate::fixtures::app_graph(2, 2, false, &format!("m{i}")).as_bytes(),
        )
        .expect("graph");
        store
            .save_with(
                &graph,
                &graphvault::store::save::SaveOptions {
                    rotate: false,
                    at: Some(chrono::Local::now() - chrono::Duration::days(400 - i * 60)),
                },
            )
            .expect("save");
    }
    let before = store.list_backups().expect("list").backups.len();
    let denied = Store::open_with(
        &root,
        Arc::new(HookFs::new(Arc::new(RealFs), Arc::new(DenyBackupMetas))),
    )
    .expect("open")
    .with_lock_wait(LOCK_GRACE);
    let policy = graphvault::store::retention::RetentionPolicy {
        keep_last: Some(1),
        keep_within: None,
        min_valid: 1,
        ..Default::default()
    };
    let report = denied
        .rotate(
            &policy,
            graphvault::store::rotate::RotateOptions { dry_run: false },
        )
        .expect("rotate");
    assert_eq!(report.plan.removed, 0, "{:#?}", report.plan);
    let graph = graphvault::graph::KnowledgeGraph::from_slice(
        crate::fixtures::app_graph(3, 2, false, "after").as_bytes(),
    )
    .expect("graph");
    let saved = denied.save_graph_with_backup(&graph).expect("save");
    assert_eq!(
        saved.rotation.map(|r| r.plan.removed),
        Some(0),
        "{:?}",
        saved.rotation_error
    );
    assert_eq!(
        store.list_backups().expect("list").backups.len(),
        before + 1,
        "a backup went"
    );
    let any = store.list_backups().expect("list").backups[1].id.clone();
    let r = denied
        .verify(&Target::Backup(any), Depth::Full)
        .expect("verify");
    assert!(r.unreadable, "{r:?}");
    // A meta it could not read leaves the backup unverified, never corrupt.
    assert_eq!(r.word(), "unverified", "{r:?}");
    println!("EACCES on every backup meta: {before} backups, rotate and save+rotate removed none");
}

/// Replaces a backup's bytes the first time it is opened after the restore's
/// side file was created: the backup changed between its verification and
/// the copy that a restore makes of it.
struct ChangeDuringCopy {
    disk: SimFs,
    backup: PathBuf,
    replacement: Vec<u8>,
    side_created: std::sync::atomic::AtomicBool,
    changed: std::sync::atomic::AtomicBool,
}

impl crate::hookfs::Hook for ChangeDuringCopy {
    fn before(&self, op: &crate::hookfs::Op) -> std::io::Result<()> {
        use crate::hookfs::OpKind;
        use std::sync::atomic::Ordering;
        let side = op
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.contains("restore-"));
        if op.kind == OpKind::CreateNew && side {
            self.side_created.store(true, Ordering::SeqCst);
        }
        if op.kind == OpKind::OpenRead
            && op.path == self.backup
            && self.side_created.load(Ordering::SeqCst)
            && !self.changed.swap(true, Ordering::SeqCst)
        {
            self.disk.put(&self.backup, &self.replacement);
        }
        Ok(())
    }
}

/// The command line's recovery copies a plain backup from its file instead
/// of holding it in memory. A backup whose bytes change between their
/// verification and that copy is refused by the read-back of the copy: the
/// primary and its meta stay as they were, and nothing of the other content
/// lands. (Negative control: with the read-back's comparison taken out of
/// `write_verified_side_file`, the changed bytes become the primary and this
/// test fails.)
#[test]
fn a_backup_changed_between_its_verification_and_the_copy_is_refused() {
    let root = Path::new(SIM_ROOT);
    let disk = sim_base(Scenario::RecoverCommand);
    let primary = root.join("graph.json");
    let meta = root.join("graph.json.meta");
    let (old, old_meta) = (disk.get(&primary), disk.get(&meta));
    let newest = Store::open_with(root, Arc::new(disk.clone()))
        .expect("open")
        .list_backups()
        .expect("list")
        .backups[0]
        .data_path
        .clone();
    let original = disk.get(&newest).expect("newest backup");
    // Same length, other content: only a hash can tell.
    let mut replacement = original.clone();
    let mid = replacement.len() / 2;
    replacement[mid] ^= 0x01;
    let hook = Arc::new(ChangeDuringCopy {
        disk: disk.clone(),
        backup: newest.clone(),
        replacement: replacement.clone(),
        side_created: Default::default(),
        changed: Default::default(),
    });
    let store = Store::open_with(
        root,
        Arc::new(HookFs::new(Arc::new(disk.clone()), hook.clone())),
    )
    .expect("open");
    let err = Scenario::RecoverCommand
        .run(&store)
        .expect_err("the changed backup must not be restored");
    assert!(
        hook.changed.load(std::sync::atomic::Ordering::SeqCst),
        "the backup was never opened for the copy: the test did not reach the copy"
    );
    // The refusal names the backup that changed, not the side file.
    let said = err.to_string();
    assert!(
        said.contains(&newest.display().to_string())
            && said.contains("changed since it was verified"),
        "{said}"
    );
    assert_eq!(disk.get(&primary), old, "the primary was replaced");
    assert_eq!(disk.get(&meta), old_meta, "the primary's meta was replaced");
    assert_ne!(disk.get(&primary).as_deref(), Some(replacement.as_slice()));
}
