//! Real kills of `graphvault rotate --apply`: a store of 12 backups whose
//! policy keeps 2, SIGKILLed at a random moment of the rotation (verifying,
//! moving pairs into the trash, or done). After each kill and a locked
//! reopen, every backup is whole in `backups/` or whole in the trash, never
//! in both and never in neither, only backups the plan removes are in the
//! trash, and a rotation run again to the end leaves exactly the plan.
//!
//! `cargo test` runs 24 kills; `GV_ROTATE_KILLS=N` runs N.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use graphvault::store::names::BackupId;
use graphvault::store::retention::RetentionPolicy;
use graphvault::store::rotate::RotateOptions;
use graphvault::store::save::SaveOptions;
use graphvault::store::verify::{Depth, Status, Target};

use crate::scenario::{at, copy_tree, graph, open_real, trash_items};
use crate::simfs::Rng;

const BACKUPS: u32 = 12;
const KEEP: u32 = 2;

fn policy() -> RetentionPolicy {
    RetentionPolicy {
        keep_last: Some(KEEP),
        keep_within: None,
        min_valid: 1,
        ..RetentionPolicy::application()
    }
}

/// A store of 12 backups of graphs large enough that verifying and moving
/// them takes a while; the bytes of each backup.
fn build_base(root: &Path) -> BTreeMap<BackupId, Vec<u8>> {
    let store = open_real(root);
    for day in 1..=BACKUPS {
        store
            .save_with(
                &graph(600 + day as usize, &format!("k{day}")),
                &SaveOptions {
                    rotate: false,
                    at: Some(at(day, 12)),
                },
            )
            .expect("base save");
    }
    store
        .list_backups()
        .expect("list")
        .backups
        .iter()
        .map(|b| (b.id.clone(), std::fs::read(&b.data_path).expect("read")))
        .collect()
}

fn rotate_command(root: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_graphvault"));
    cmd.arg("--store")
        .arg(root)
        .args([
            "rotate",
            "--keep-last",
            &KEEP.to_string(),
            "--min-valid",
            "1",
            "--apply",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// Where every backup is after a locked reopen; `Err` says what broke.
/// Returns how many were in the trash.
fn check(root: &Path, originals: &BTreeMap<BackupId, Vec<u8>>) -> Result<usize, String> {
    let store = open_real(root);
    drop(store.lock().map_err(|e| format!("locked reopen: {e}"))?);
    let trash = trash_items(&store)?;
    let keep: Vec<&BackupId> = originals.keys().rev().take(KEEP as usize).collect();
    let mut trashed = 0;
    for (id, bytes) in originals {
        let path = store.backup_data_path(id);
        let here = std::fs::read(&path).ok().as_ref() == Some(bytes);
        if here {
            let r = store
                .verify(&Target::Backup(id.clone()), Depth::Full)
                .map_err(|e| format!("verify {id}: {e}"))?;
            if r.status != Status::Valid {
                return Err(format!("{id} is in backups/ but {}", r.summary()));
            }
        } else if path.exists() {
            return Err(format!("{id} in backups/ changed"));
        }
        let copies = trash
            .values()
            .filter(|(b, data)| b == id && data == bytes)
            .count();
        match (here, copies) {
            (true, 0) => {}
            (false, 1) => {
                trashed += 1;
                if keep.contains(&id) {
                    return Err(format!(
                        "{id} is one the plan keeps, yet it is in the trash"
                    ));
                }
            }
            (true, _) => return Err(format!("{id} is both in backups/ and in the trash")),
            (false, 0) => return Err(format!("{id} is in neither backups/ nor the trash")),
            (false, n) => return Err(format!("{id} is in the trash {n} times")),
        }
    }
    if trash.len() != trashed {
        return Err(format!(
            "the trash holds {} items, {trashed} expected",
            trash.len()
        ));
    }
    Ok(trashed)
}

#[derive(Debug, Default)]
struct Tally {
    kills: usize,
    /// By how many backups were in the trash when the process died.
    moved_none: usize,
    moved_some: usize,
    moved_all: usize,
    finished: usize,
    failures: Vec<String>,
}

fn kill_loop(kills: usize, seed: u64) -> Tally {
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = tmp.path().join("base/storage");
    let originals = build_base(&base);
    // How long a whole rotation takes here: kill moments spread over it.
    let probe = tmp.path().join("probe/storage");
    copy_tree(&base, &probe);
    let started = Instant::now();
    let status = rotate_command(&probe).status().expect("run rotate");
    assert!(status.success(), "a clean rotate --apply failed");
    let span = started.elapsed().mul_f64(1.2);
    let mut rng = Rng::new(seed);
    let mut tally = Tally::default();
    let removable = originals.len() - KEEP as usize;
    for round in 0..kills {
        let root = tmp.path().join(format!("r{round}/storage"));
        copy_tree(&base, &root);
        let mut child = rotate_command(&root).spawn().expect("spawn rotate");
        // Verifying the 12 backups comes first and takes most of the run;
        // the moves are in its last part, so most kills aim there.
        let wait = span.mul_f64(0.3 + 0.8 * rng.below(1000) as f64 / 1000.0);
        std::thread::sleep(wait);
        let _ = child.kill();
        let out = child.wait().expect("wait");
        tally.kills += 1;
        if out.signal() != Some(libc::SIGKILL) {
            tally.finished += 1;
        }
        match check(&root, &originals) {
            Ok(0) => tally.moved_none += 1,
            Ok(n) if n == removable => tally.moved_all += 1,
            Ok(_) => tally.moved_some += 1,
            Err(e) => tally
                .failures
                .push(format!("kill {round} after {wait:?}: {e}")),
        }
        // Run again to the end: the plan is carried out exactly.
        let store = open_real(&root);
        match store.rotate(&policy(), RotateOptions { dry_run: false }) {
            Ok(_) => match check(&root, &originals) {
                Ok(n) if n == removable => {}
                Ok(n) => tally
                    .failures
                    .push(format!("kill {round}: rotated again, {n} in the trash")),
                Err(e) => tally
                    .failures
                    .push(format!("kill {round}, rotated again: {e}")),
            },
            Err(e) => tally
                .failures
                .push(format!("kill {round}: rotate again: {e}")),
        }
        let _ = std::fs::remove_dir_all(root.parent().expect("round dir"));
    }
    tally
}

#[test]
fn sigkill_at_random_moments_of_rotate_apply_loses_no_backup() {
    let kills = std::env::var("GV_ROTATE_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let tally = kill_loop(kills, 0x7261_7368);
    println!(
        "rotate --apply SIGKILLed {} times: {} before anything moved, {} part-way through the moves, {} after all moved, {} had finished; violations {}",
        tally.kills,
        tally.moved_none,
        tally.moved_some,
        tally.moved_all,
        tally.finished,
        tally.failures.len()
    );
    assert!(tally.failures.is_empty(), "{}", tally.failures.join("\n"));
    assert!(
        tally.moved_some + tally.moved_all > 0,
        "no kill landed after the moves began: {tally:?}"
    );
}
