//! Real processes killed in `compact --apply` while it turns a history of
//! plain backups into full zstd bases and deltas against them (settings:
//! compression zstd, deltas on, a full backup every 3).
//!
//! - A child process aborts right before every filesystem step of the
//!   compact in turn (`abort`, no unwinding: what a kill at that moment
//!   leaves on the real disk).
//! - `graphvault compact --apply` is SIGKILLed at random moments.
//!
//! After each, and a locked reopen: every backup is listed and reads to its
//! meta's checksum (a delta through its base), verifies at full depth, and
//! nothing is lost: each backup's plain file is either still in `backups/`
//! or, whole, in the trash. Then a `compact` run again on the same disk
//! finishes the work: the same forms and bases as an uninterrupted run,
//! and the checks hold again.
//!
//! `cargo test` runs every step (a small history) and 12 kills; set
//! `GV_COMPACT_KILLS=N` for more kills.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use graphvault::graph::KnowledgeGraph;
use graphvault::store::MAX_GRAPH_LEN;
use graphvault::store::Store;
use graphvault::store::codec::{self, StoredForm};
use graphvault::store::compact::CompactOptions;
use graphvault::store::fs::RealFs;
use graphvault::store::names::BackupId;
use graphvault::store::save::SaveOptions;
use graphvault::store::verify::{Depth, Status, Target};

use crate::child;
use crate::hookfs::{HookFs, StepLog};
use crate::scenario::{at, copy_tree, open_real};
use crate::simfs::Rng;

/// Each backup's plain checksum.
pub type Want = BTreeMap<BackupId, String>;
/// Each backup's form, and base for a delta, after a whole compact.
type Forms = BTreeMap<BackupId, (StoredForm, Option<BackupId>)>;

/// The same graph each day with one more node: what deltas are for.
fn day_graph(nodes: usize, day: u32) -> KnowledgeGraph {
    let mut g = crate::scenario::graph(nodes, "compact-kill");
    for d in 1..=day {
        g.add_node(
            "stock",
            serde_json::json!({"symbol": format!("D{d}"), "price": f64::from(d)}),
            Some(&format!("DAY{d}")),
        );
    }
    g
}

/// `backups` plain backups of a `nodes`-node graph, then the settings ask
/// for deltas (a full backup every 3).
pub fn build_base(root: &Path, nodes: usize, backups: u32) -> Want {
    let mut want = Want::new();
    {
        let store = open_real(root);
        for day in 1..=backups {
            let r = store
                .save_with(
                    &day_graph(nodes, day),
                    &SaveOptions {
                        rotate: false,
                        at: Some(at(day, 12)),
                    },
                )
                .expect("base save");
            want.insert(r.backup_id, r.checksum);
        }
    }
    let mut store = open_real(root);
    for (k, v) in [
        ("compression", "zstd"),
        ("deltas", "on"),
        ("full-every", "3"),
    ] {
        store.set_setting(k, v).expect("setting");
    }
    want
}

fn forms(store: &Store) -> Result<Forms, String> {
    Ok(store
        .list_backups()
        .map_err(|e| format!("list: {e}"))?
        .backups
        .into_iter()
        .map(|b| (b.id, (b.form, b.delta_base)))
        .collect())
}

/// The checks after a kill (see the module doc). Returns how many backups
/// were no longer plain.
fn check(root: &Path, want: &Want) -> Result<usize, String> {
    let store = open_real(root);
    drop(store.lock().map_err(|e| format!("locked reopen: {e}"))?);
    let listing = store.list_backups().map_err(|e| format!("list: {e}"))?;
    let trash = store.list_trash().map_err(|e| format!("list trash: {e}"))?;
    let mut converted = 0;
    for (id, sha) in want {
        let b = listing
            .backups
            .iter()
            .find(|b| &b.id == id)
            .ok_or_else(|| format!("backup {id} is not listed"))?;
        let (actual, _) = codec::hash_plain(&RealFs, &b.data_path, MAX_GRAPH_LEN)
            .map_err(|e| format!("backup {id} cannot be read: {e}"))?;
        if &actual != sha {
            return Err(format!("backup {id} reads as other content"));
        }
        let v = store
            .verify(&Target::Backup(id.clone()), Depth::Full)
            .map_err(|e| format!("verify {id}: {e}"))?;
        if v.status != Status::Valid {
            return Err(format!("backup {id} is {}", v.summary()));
        }
        if b.form != StoredForm::Plain {
            converted += 1;
        }
        // Nothing lost: the plain file in backups/, or whole in the trash.
        let plain = store.backups_dir().join(id.data_file_name());
        let here = std::fs::read(&plain).is_ok_and(|bytes| &crate::fixtures::sha256(&bytes) == sha);
        let kept = trash.items.iter().any(|item| {
            &item.backup_id == id
                && item.files.iter().any(|f| {
                    std::fs::read(f).is_ok_and(|bytes| &crate::fixtures::sha256(&bytes) == sha)
                })
        });
        if !here && !kept {
            return Err(format!(
                "backup {id}: its plain file is in neither backups/ nor the trash"
            ));
        }
    }
    Ok(converted)
}

/// The checks, then a compact run again, then the checks and the forms an
/// uninterrupted run gives.
fn check_and_finish(root: &Path, want: &Want, expected: &Forms) -> Result<usize, String> {
    let converted = check(root, want)?;
    let store = open_real(root);
    let report = store
        .compact(CompactOptions { dry_run: false })
        .map_err(|e| format!("compact again: {e}"))?;
    if !report.skipped.is_empty() {
        return Err(format!("compact again skipped {:?}", report.skipped));
    }
    check(root, want).map_err(|e| format!("after compact again: {e}"))?;
    let now = forms(&store)?;
    if &now != expected {
        return Err(format!(
            "compact again left {now:?}, an uninterrupted one {expected:?}"
        ));
    }
    Ok(converted)
}

fn compact_command(root: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_graphvault"));
    cmd.arg("--store")
        .arg(root)
        .args(["compact", "--apply"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

#[derive(Debug, Default)]
pub struct Tally {
    pub runs: usize,
    pub steps: u64,
    /// By how many backups were converted when the process died.
    pub converted_none: usize,
    pub converted_some: usize,
    pub converted_all: usize,
    pub finished: usize,
    pub failures: Vec<String>,
}

impl Tally {
    fn count(&mut self, result: Result<usize, String>, total: usize, what: String) {
        match result {
            Ok(0) => self.converted_none += 1,
            Ok(n) if n == total => self.converted_all += 1,
            Ok(_) => self.converted_some += 1,
            Err(e) => self.failures.push(format!("{what}: {e}")),
        }
    }
}

/// A real child process aborts before step k of `compact --apply`, for
/// every k. `weaken`: the name of a negative control's variable set to `1`
/// in the children's environment; the run then stops at its first
/// violation.
pub fn abort_at_every_step(weaken: Option<&str>) -> Tally {
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = tmp.path().join("base/storage");
    let want = build_base(&base, 150, 5);
    let copy = |name: &str| {
        let dir = tmp.path().join(name).join("storage");
        copy_tree(&base, &dir);
        dir
    };
    // The steps of an uninterrupted run, counted over the real disk.
    let counted = copy("count");
    let log = Arc::new(StepLog::default());
    let store = Store::open_with(
        &counted,
        Arc::new(HookFs::new(Arc::new(RealFs), log.clone())),
    )
    .expect("open");
    store
        .compact(CompactOptions { dry_run: false })
        .expect("uninterrupted compact");
    let expected = forms(&store).expect("forms");
    let ops = log.ops();
    let mut tally = Tally {
        steps: log.steps(),
        ..Tally::default()
    };
    for k in 1..=tally.steps {
        let root = copy(&format!("k{k}"));
        let mut cmd = child::command("compact", tmp.path());
        cmd.env("GV_REL_ROOT", &root)
            .env("GV_REL_ABORT_AT", k.to_string());
        if let Some(name) = weaken {
            cmd.env(name, "1");
        }
        let out = cmd.output().expect("run the child");
        tally.runs += 1;
        // A weakened child takes other steps: only its number is told.
        let op = match weaken {
            None => ops[k as usize - 1].clone(),
            Some(_) => format!("{k} (a weakened run)"),
        };
        if out.status.signal() != Some(libc::SIGABRT) {
            tally.failures.push(format!(
                "step {op}: the child did not abort: {:?} {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        } else {
            tally.count(
                check_and_finish(&root, &want, &expected),
                want.len(),
                format!("aborted before step {op}"),
            );
        }
        let _ = std::fs::remove_dir_all(root.parent().expect("copy dir"));
        if weaken.is_some() && !tally.failures.is_empty() {
            break;
        }
    }
    tally
}

fn kill_loop(kills: usize, seed: u64) -> Tally {
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = tmp.path().join("base/storage");
    let want = build_base(&base, 900, 7);
    // How long a whole compact takes here, and what it leaves.
    let probe = tmp.path().join("probe/storage");
    copy_tree(&base, &probe);
    let started = Instant::now();
    let status = compact_command(&probe).status().expect("run compact");
    assert!(status.success(), "a clean compact --apply failed");
    let span = started.elapsed().mul_f64(1.1);
    let expected = forms(&open_real(&probe)).expect("forms");
    assert!(
        expected.values().any(|(f, _)| *f == StoredForm::Delta),
        "the uninterrupted compact made no delta: {expected:?}"
    );
    let mut rng = Rng::new(seed);
    let mut tally = Tally::default();
    for round in 0..kills {
        let root = tmp.path().join(format!("r{round}/storage"));
        copy_tree(&base, &root);
        let mut child = compact_command(&root).spawn().expect("spawn compact");
        let wait = span.mul_f64(0.05 + 0.8 * rng.below(1000) as f64 / 1000.0);
        std::thread::sleep(wait);
        let _ = child.kill();
        let out = child.wait().expect("wait");
        tally.runs += 1;
        if out.signal() != Some(libc::SIGKILL) {
            tally.finished += 1;
        }
        tally.count(
            check_and_finish(&root, &want, &expected),
            want.len(),
            format!("kill {round} after {wait:?}"),
        );
        let _ = std::fs::remove_dir_all(root.parent().expect("round dir"));
    }
    tally
}

#[test]
fn a_real_process_aborted_at_every_step_of_compact_to_deltas_loses_nothing() {
    let tally = abort_at_every_step(None);
    println!(
        "real abort: compact to deltas {:>3} steps, {:>3} child processes aborted: {} with no backup converted, {} part-way, {} with all; violations {}",
        tally.steps,
        tally.runs,
        tally.converted_none,
        tally.converted_some,
        tally.converted_all,
        tally.failures.len()
    );
    assert!(tally.failures.is_empty(), "{}", tally.failures.join("\n"));
    assert!(tally.steps >= 20, "suspiciously few steps: {tally:?}");
    assert!(
        tally.converted_none > 0 && tally.converted_some > 0 && tally.converted_all > 0,
        "{tally:?}"
    );
}

#[test]
fn sigkill_at_random_moments_of_compact_apply_loses_no_backup() {
    let kills = std::env::var("GV_COMPACT_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let tally = kill_loop(kills, 0x636f_6d70);
    println!(
        "compact --apply SIGKILLed {} times: {} before any conversion, {} part-way, {} after all, {} had finished; violations {}",
        tally.runs,
        tally.converted_none,
        tally.converted_some,
        tally.converted_all,
        tally.finished,
        tally.failures.len()
    );
    assert!(tally.failures.is_empty(), "{}", tally.failures.join("\n"));
    assert!(
        tally.converted_some + tally.converted_all > 0,
        "no kill landed after the conversions began: {tally:?}"
    );
}
