//! Concurrent writers: 2, 4 and 8 real `graphvault save` processes at once,
//! each saving its own graph. Exactly one holds the lock at a time, the
//! others fail with exit code 3 and "in use by pid N", and the final primary
//! is, byte for byte, the whole graph of one writer that succeeded. A lock
//! holder that is killed blocks nobody.
//!
//! Exclusion itself is measured with child processes of this test binary
//! that save through the library and record, with the wall clock, when
//! they first and last changed anything on disk: no two such spans may
//! overlap.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use graphvault::store::fs::RealFs;
use graphvault::store::verify::{Depth, Status, Target};
use graphvault::store::{LockState, Store};

use crate::child;
use crate::kill::{SavedTemplate, open_rotating_store, write_input};
use crate::scenario::read;

/// Nodes per writer's graph (about 0.5 MB): a save holds the lock for
/// tens of milliseconds.
const WRITER_NODES: usize = 700;

struct Writers {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    inputs: Vec<(PathBuf, SavedTemplate)>,
}

fn writers(n: usize) -> Writers {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("storage");
    let inputs = (0..n)
        .map(|i| {
            write_input(
                tmp.path(),
                &format!("writer-{i}.json"),
                WRITER_NODES + i,
                &format!("w{i}"),
            )
        })
        .collect();
    // Only its config matters here: the writers are separate processes.
    open_rotating_store(&root);
    Writers {
        _tmp: tmp,
        root,
        inputs,
    }
}

/// The primary must verify and be exactly one of `winners`' graphs.
fn final_graph_is_one_writers(
    root: &Path,
    w: &Writers,
    winners: &[usize],
) -> Result<usize, String> {
    let store = Store::open(root).map_err(|e| e.to_string())?;
    let report = store
        .verify(&Target::Primary, Depth::Full)
        .map_err(|e| e.to_string())?;
    if report.status != Status::Valid {
        return Err(format!("the final primary is {}", report.summary()));
    }
    let bytes = read(&RealFs, &store.primary_path()).ok_or("no primary")?;
    winners
        .iter()
        .copied()
        .find(|&i| w.inputs[i].1.matches(&bytes))
        .ok_or_else(|| format!("the final primary is none of the winners' graphs {winners:?}"))
}

#[derive(Default, Debug)]
struct CliTally {
    saves: usize,
    succeeded: usize,
    refused: usize,
}

fn cli_rounds(n: usize, rounds: usize, tally: &mut CliTally) {
    let w = writers(n);
    for round in 0..rounds {
        let children: Vec<_> = w
            .inputs
            .iter()
            .map(|(path, _)| {
                Command::new(env!("CARGO_BIN_EXE_graphvault"))
                    .arg("--store")
                    .arg(&w.root)
                    .args(["save", "--from"])
                    .arg(path)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("start graphvault")
            })
            .collect();
        let mut winners = Vec::new();
        for (i, c) in children.into_iter().enumerate() {
            let out = c.wait_with_output().expect("wait");
            let err = String::from_utf8_lossy(&out.stderr);
            tally.saves += 1;
            match out.status.code() {
                Some(0) => {
                    tally.succeeded += 1;
                    winners.push(i);
                }
                Some(3) => {
                    tally.refused += 1;
                    assert!(
                        err.contains("in use by pid") && err.contains("nothing was changed"),
                        "round {round}: unclear refusal: {err}"
                    );
                }
                other => panic!("round {round}, writer {i}: exit {other:?}: {err}"),
            }
        }
        assert!(!winners.is_empty(), "round {round}: nobody saved");
        if let Err(why) = final_graph_is_one_writers(&w.root, &w, &winners) {
            panic!("{n} writers, round {round}: {why}");
        }
    }
    let store = Store::open(&w.root).expect("open");
    for b in store.list_backups().expect("list").backups {
        let r = store
            .verify(&Target::Backup(b.id.clone()), Depth::Checksum)
            .expect("verify");
        assert_eq!(r.status, Status::Valid, "{}: {}", b.id, r.summary());
    }
}

#[test]
fn two_four_and_eight_processes_saving_at_once() {
    let started = Instant::now();
    let mut tally = CliTally::default();
    for (n, rounds) in [(2, 30), (4, 20), (8, 12)] {
        cli_rounds(n, rounds, &mut tally);
    }
    println!(
        "concurrent CLI saves: {} saves by 2/4/8 processes at once, {} succeeded, {} refused with exit 3, in {:.1}s",
        tally.saves,
        tally.succeeded,
        tally.refused,
        started.elapsed().as_secs_f64()
    );
    assert!(tally.refused > 0, "the writers never competed for the lock");
}

fn unix_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

#[derive(Default, Debug)]
pub struct ProbeTally {
    pub rounds: usize,
    pub saves: usize,
    pub succeeded: usize,
    pub refused: usize,
    pub failed: usize,
    /// Pairs of processes whose disk activity overlapped in time.
    pub overlaps: usize,
    pub problems: Vec<String>,
}

/// `rounds` rounds of `n` child processes that start saving at the same
/// instant. With `ignore_lock`, the children run with the lock weakened
/// (negative-controls builds only).
pub fn probe_rounds(n: usize, rounds: usize, ignore_lock: bool) -> ProbeTally {
    let w = writers(n);
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut tally = ProbeTally::default();
    for round in 0..rounds {
        let start = unix_nanos() + 400_000_000;
        let children: Vec<_> = w
            .inputs
            .iter()
            .enumerate()
            .map(|(i, (path, _))| {
                let out = tmp.path().join(format!("r{round}-w{i}"));
                let mut c = child::command("probe-save", tmp.path());
                c.env("GV_REL_ROOT", &w.root)
                    .env("GV_REL_GRAPH", path)
                    .env("GV_REL_START_NS", start.to_string())
                    .env("GV_REL_OUT", &out);
                if ignore_lock {
                    c.env("GRAPHVAULT_NEGATIVE_IGNORE_LOCK", "1");
                }
                (c.spawn().expect("start child"), out)
            })
            .collect();
        let mut spans = Vec::new();
        let mut winners = Vec::new();
        for (i, (c, out)) in children.into_iter().enumerate() {
            let output = c.wait_with_output().expect("wait");
            let text = std::fs::read_to_string(&out).unwrap_or_default();
            let fields: Vec<u128> = text
                .split_whitespace()
                .filter_map(|f| f.parse().ok())
                .collect();
            let [code, first, last] = fields[..] else {
                tally.problems.push(format!(
                    "round {round}, child {i} left no result: {:?} {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr)
                ));
                continue;
            };
            tally.saves += 1;
            match code {
                0 => {
                    tally.succeeded += 1;
                    winners.push(i);
                }
                3 => tally.refused += 1,
                _ => tally.failed += 1,
            }
            if code == 3 && first != 0 {
                tally
                    .problems
                    .push(format!("round {round}: a refused writer changed the disk"));
            }
            if first != 0 {
                spans.push((first, last));
            }
        }
        for (a, sa) in spans.iter().enumerate() {
            for sb in &spans[a + 1..] {
                if sa.0 <= sb.1 && sb.0 <= sa.1 {
                    tally.overlaps += 1;
                }
            }
        }
        if !ignore_lock {
            if winners.is_empty() {
                tally.problems.push(format!("round {round}: nobody saved"));
            } else if let Err(why) = final_graph_is_one_writers(&w.root, &w, &winners) {
                tally.problems.push(format!("round {round}: {why}"));
            }
        }
        tally.rounds += 1;
    }
    tally
}

#[test]
fn exactly_one_process_changes_the_disk_at_a_time() {
    let tally = probe_rounds(4, 6, false);
    println!(
        "lock exclusion: {} rounds of 4 processes starting together: {} saves, {} succeeded, {} refused, {} overlapping writers",
        tally.rounds, tally.saves, tally.succeeded, tally.refused, tally.overlaps
    );
    assert!(tally.problems.is_empty(), "{:#?}", tally.problems);
    assert_eq!(tally.failed, 0, "{tally:?}");
    assert_eq!(
        tally.overlaps, 0,
        "two writers changed the disk at once: {tally:?}"
    );
    assert!(tally.refused > 0, "the writers never competed: {tally:?}");
}

#[test]
fn a_killed_lock_holder_blocks_nobody() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("storage");
    let input = tmp.path().join("g.json");
    std::fs::write(&input, crate::fixtures::app_graph(5, 2, false, "k")).expect("input");
    let ready = tmp.path().join("ready");
    let mut holder = child::command("hold-lock", tmp.path())
        .env("GV_REL_ROOT", &root)
        .env("GV_REL_READY", &ready)
        .spawn()
        .expect("start the holder");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready.exists() {
        assert!(Instant::now() < deadline, "the holder never took the lock");
        std::thread::sleep(Duration::from_millis(10));
    }
    let save = || {
        Command::new(env!("CARGO_BIN_EXE_graphvault"))
            .arg("--store")
            .arg(&root)
            .args(["save", "--from"])
            .arg(&input)
            .output()
            .expect("run graphvault")
    };
    let store = Store::open(&root).expect("open");
    match store.lock_state() {
        LockState::Held { holder: text } => {
            assert!(text.contains(&format!("pid {}", holder.id())), "{text}")
        }
        other => panic!("expected the lock held, got {other:?}"),
    }
    let refused = save();
    assert_eq!(refused.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains(&format!("in use by pid {}", holder.id()))
    );
    holder.kill().expect("SIGKILL the holder");
    holder.wait().expect("reap");
    assert_eq!(store.lock_state(), LockState::Free);
    let t = Instant::now();
    let after = save();
    assert_eq!(
        after.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&after.stderr)
    );
    assert!(t.elapsed() < Duration::from_secs(10));
}
