//! Real kills: start `graphvault save --from FILE` on a graph big enough
//! that a save takes tens of milliseconds, SIGKILL it at a random moment,
//! and check that the store reopens to exactly the old or the new graph.
//! Saves alternate between two different graphs, so every save changes the
//! primary. The store keeps its 3 newest valid backups, so retention runs
//! (and is killed) too.
//!
//! `cargo test` runs 50 kills; the full count (1,000) runs with
//! `scripts/kill-loop.sh` (see docs/RELIABILITY.md).

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use graphvault::graph::{KnowledgeGraph, SaveStamp};
use graphvault::store::Store;
use graphvault::store::fs::{RealFs, TEMP_PREFIX};
use graphvault::store::retention::RetentionPolicy;
use graphvault::store::verify::{Depth, Status, Target};

use crate::scenario::{read, walk};
use crate::simfs::Rng;

/// Nodes of the graphs the kill loop saves (about 1.7 MB each).
const KILL_GRAPH_NODES: usize = 2500;

/// A save's stamp: `%Y-%m-%dT%H:%M:%S%.6f`, always this long.
const STAMP_LEN: usize = 26;
const PLACEHOLDER: &str = "2000-01-01T00:00:00.000000";

/// Writes an input graph in the application's format for `graphvault save
/// --from`, and what a save of it must produce (the same bytes from the
/// command line, which stores a file as it is; the graph re-serialized with
/// a fresh stamp from the library's `save_with`).
pub fn write_input(dir: &Path, name: &str, nodes: usize, salt: &str) -> (PathBuf, SavedTemplate) {
    let text = crate::fixtures::app_graph(nodes, 2, false, salt);
    let path = dir.join(name);
    std::fs::write(&path, &text).expect("input graph");
    let graph = KnowledgeGraph::from_slice(text.as_bytes()).expect("parses");
    let mut template = SavedTemplate::new(&graph);
    template.exact = text.into_bytes();
    (path, template)
}

/// A real store whose retention keeps the last 3 backups (floor 1), so that
/// every save also rotates: the suites kill and race rotation too.
pub fn open_rotating_store(root: &Path) -> graphvault::store::Store {
    let mut store = crate::scenario::open_real(root);
    store
        .set_config(graphvault::store::StoreConfig {
            retention: RetentionPolicy {
                keep_last: Some(3),
                keep_within: None,
                min_valid: 1,
                ..RetentionPolicy::default()
            },
            ..graphvault::store::StoreConfig::default()
        })
        .expect("policy");
    store
}

/// What a save of one input writes, but for the stamp: the bytes with a
/// placeholder stamp, and where the stamp goes.
pub struct SavedTemplate {
    bytes: Vec<u8>,
    at: usize,
    /// The input file's own bytes.
    exact: Vec<u8>,
}

impl SavedTemplate {
    pub fn new(input: &KnowledgeGraph) -> SavedTemplate {
        let mut bytes = Vec::new();
        input
            .write_json(
                &mut bytes,
                Some(&SaveStamp {
                    last_saved: PLACEHOLDER.to_string(),
                }),
            )
            .expect("write into memory");
        let at = stamp_at(&bytes).expect("the template has a stamp");
        SavedTemplate {
            bytes,
            at,
            exact: Vec::new(),
        }
    }

    /// Whether `bytes` are exactly this input, or this input saved with
    /// some stamp.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        if !self.exact.is_empty() && bytes == self.exact.as_slice() {
            return true;
        }
        bytes.len() == self.bytes.len()
            && stamp_at(bytes) == Some(self.at)
            && bytes[..self.at] == self.bytes[..self.at]
            && bytes[self.at + STAMP_LEN..] == self.bytes[self.at + STAMP_LEN..]
    }
}

/// Offset of the `last_saved` value (the top-level metadata comes last).
fn stamp_at(bytes: &[u8]) -> Option<usize> {
    let key = b"\"last_saved\": \"";
    let tail = bytes.len().saturating_sub(8192);
    bytes[tail..]
        .windows(key.len())
        .rposition(|w| w == key)
        .map(|p| tail + p + key.len())
        .filter(|&p| p + STAMP_LEN <= bytes.len())
}

/// What the disk showed right after a kill, before anything reopened it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum KillPhase {
    /// The save had finished before the signal.
    Completed,
    /// Killed before it changed anything visible (start-up, parsing).
    BeforeWriting,
    /// Killed with a save half done: temp files, a pending meta, or a new
    /// backup beside the old primary.
    MidSave,
    /// Killed after the new graph and its meta were in place (retention,
    /// or exiting).
    AfterCommit,
}

#[derive(Debug, Default)]
pub struct KillTally {
    pub kills: usize,
    pub phases: std::collections::BTreeMap<String, usize>,
    pub landed_new: usize,
    pub landed_old: usize,
    pub failures: Vec<String>,
    pub elapsed: Duration,
    pub checking: Duration,
    pub backups_left: usize,
}

fn temp_files(root: &Path) -> Vec<PathBuf> {
    walk(&RealFs, root)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(TEMP_PREFIX))
        })
        .collect()
}

fn backup_names(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root.join("backups"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Checks a store after a kill: `Ok(true)` when the new graph landed.
fn check_after_kill(root: &Path, old: &[u8], input: &SavedTemplate) -> Result<bool, String> {
    let store = Store::open(root)
        .map_err(|e| format!("reopen: {e}"))?
        .with_lock_wait(crate::scenario::LOCK_GRACE);
    let report = store
        .verify(&Target::Primary, Depth::Full)
        .map_err(|e| format!("verify: {e}"))?;
    if report.status != Status::Valid {
        return Err(format!("the primary verifies as {}", report.summary()));
    }
    let bytes = read(&RealFs, &store.primary_path()).ok_or("the primary is gone")?;
    let landed_new = if bytes == old {
        false
    } else if input.matches(&bytes) {
        true
    } else {
        return Err("the primary is neither the old graph nor the new one".to_string());
    };
    drop(store.lock().map_err(|e| format!("locked reopen: {e}"))?);
    if read(&RealFs, &store.primary_path()).as_deref() != Some(bytes.as_slice()) {
        return Err("the locked reopen changed the primary".to_string());
    }
    let temps = temp_files(root);
    if !temps.is_empty() || store.pending_meta_path().exists() {
        return Err(format!("left over after the locked reopen: {temps:?}"));
    }
    let listing = store.list_backups().map_err(|e| format!("list: {e}"))?;
    let mut newest_valid = None;
    for b in &listing.backups {
        let r = store
            .verify(&Target::Backup(b.id.clone()), Depth::Checksum)
            .map_err(|e| format!("verify {}: {e}", b.id))?;
        if !r.status.is_usable() {
            return Err(format!("backup {} is {}", b.id, r.summary()));
        }
        if r.status == Status::Valid && newest_valid.is_none() {
            newest_valid = Some(b.data_path.clone());
        }
    }
    let newest = newest_valid.ok_or("no valid backup is left")?;
    if landed_new && read(&RealFs, &newest).as_deref() != Some(bytes.as_slice()) {
        let names: Vec<String> = listing
            .backups
            .iter()
            .map(|b| format!("{} {:?}", b.id, b.checksum))
            .collect();
        return Err(format!(
            "the new graph landed but the newest valid backup {} is not of it; primary {}; backups {names:?}",
            newest.display(),
            graphvault::store::verify::sha256_hex(&bytes)
        ));
    }
    Ok(landed_new)
}

/// Runs `kills` kill rounds; `seed` picks the moments.
pub fn kill_loop(kills: usize, seed: u64) -> KillTally {
    let started = Instant::now();
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("storage");
    let inputs: Vec<(PathBuf, SavedTemplate)> = ["a", "b"]
        .iter()
        .map(|salt| {
            write_input(
                tmp.path(),
                &format!("input-{salt}.json"),
                KILL_GRAPH_NODES,
                salt,
            )
        })
        .collect();
    open_rotating_store(&root);
    let save = |input: &Path| {
        Command::new(env!("CARGO_BIN_EXE_graphvault"))
            .arg("--store")
            .arg(&root)
            .args(["save", "--from"])
            .arg(input)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start graphvault")
    };
    // How long an uninterrupted save takes here.
    let mut total = Duration::ZERO;
    const CALIBRATION: u32 = 4;
    for (path, _) in inputs.iter().cycle().take(CALIBRATION as usize) {
        let t = Instant::now();
        let status = save(path).wait().expect("wait");
        assert!(status.success(), "calibration save failed: {status:?}");
        total += t.elapsed();
    }
    let whole = (total / CALIBRATION).as_micros().max(2) as u64;
    // Half the kills land anywhere in a save. The other half wait until the
    // save has started writing (its first temp file shows) and land at a
    // random moment after that, within a window that narrows when kills
    // come too late (the save already committed) and widens otherwise.
    let mut window = whole as f64 / 4.0;
    let mut rng = Rng::new(seed);
    let mut tally = KillTally::default();
    for round in 0..kills {
        let (path, input) = &inputs[round % 2];
        // Killed saves leave complete backups that only a finished rotation
        // removes, and a rotation over many backups takes long enough to be
        // killed too. Every tenth save runs to the end so that the store
        // stays the size a real one would.
        if round % 10 == 9 {
            let status = save(path).wait().expect("wait");
            assert!(status.success(), "an uninterrupted save failed: {status:?}");
        }
        let old = std::fs::read(root.join("graph.json")).expect("primary");
        let before = backup_names(&root);
        let mut child = save(path);
        let started = Instant::now();
        let aimed = rng.chance(50);
        let delay = if aimed {
            let deadline = Duration::from_micros(whole * 2);
            while temp_files(&root.join("backups")).is_empty()
                && started.elapsed() < deadline
                && child.try_wait().ok().flatten().is_none()
            {
                std::thread::sleep(Duration::from_micros(300));
            }
            rng.below(window as u64)
        } else {
            rng.below(whole)
        };
        std::thread::sleep(Duration::from_micros(delay));
        let _ = child.kill();
        let status = child.wait().expect("wait");
        tally.kills += 1;
        let killed = status.signal() == Some(libc::SIGKILL);
        let partial = !temp_files(&root).is_empty()
            || root.join("graph.json.meta.pending").exists()
            || (backup_names(&root) != before
                && std::fs::read(root.join("graph.json")).ok().as_deref() == Some(old.as_slice()));
        let changed =
            std::fs::read(root.join("graph.json")).ok().as_deref() != Some(old.as_slice());
        let phase = match (killed, partial, changed) {
            (false, _, _) => KillPhase::Completed,
            (true, true, _) => KillPhase::MidSave,
            (true, false, true) => KillPhase::AfterCommit,
            (true, false, false) => KillPhase::BeforeWriting,
        };
        if !killed && !status.success() {
            tally.failures.push(format!(
                "round {round}: the save failed by itself: {status:?}"
            ));
        }
        *tally.phases.entry(format!("{phase:?}")).or_default() += 1;
        if aimed {
            window = match phase {
                KillPhase::AfterCommit | KillPhase::Completed => window * 0.9,
                _ => window * 1.03,
            }
            .clamp(100.0, whole as f64);
        }
        let checking = Instant::now();
        let checked = check_after_kill(&root, &old, input);
        tally.checking += checking.elapsed();
        match checked {
            Ok(true) => tally.landed_new += 1,
            Ok(false) => tally.landed_old += 1,
            Err(why) => tally
                .failures
                .push(format!("round {round} ({phase:?}): {why}")),
        }
    }
    tally.backups_left = backup_names(&root).len();
    tally.elapsed = started.elapsed();
    tally
}

fn run_and_report(kills: usize) {
    let tally = kill_loop(kills, 0x5EED_0000 + kills as u64);
    println!(
        "real SIGKILL: {} kills of `graphvault save` in {:.1}s ({:.1}s checking): phases {:?}; reopened old {}, new {}; {} files left in backups/; losses {}",
        tally.kills,
        tally.elapsed.as_secs_f64(),
        tally.checking.as_secs_f64(),
        tally.phases,
        tally.landed_old,
        tally.landed_new,
        tally.backups_left,
        tally.failures.len()
    );
    assert!(tally.failures.is_empty(), "{}", tally.failures.join("\n"));
    let mid = tally.phases.get("MidSave").copied().unwrap_or(0);
    assert!(
        mid * 10 >= kills,
        "only {mid} of {kills} kills landed mid-save: the loop is not testing much"
    );
}

#[test]
fn sigkill_at_random_moments_of_a_real_save_loses_nothing() {
    let kills = std::env::var("GV_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    run_and_report(kills);
}

#[test]
#[ignore = "the full count, about two minutes: scripts/kill-loop.sh"]
fn sigkill_a_thousand_times() {
    run_and_report(1000);
}
