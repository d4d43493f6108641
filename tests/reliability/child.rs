//! The test binary re-runs itself as a child process for the suites that
//! need a real process to die or to compete: `child_process_entry` does
//! what the `GV_REL_*` variables say. It is ignored in normal runs.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use graphvault::graph::KnowledgeGraph;
use graphvault::store::Store;
use graphvault::store::fs::RealFs;
use graphvault::store::save::SaveOptions;

use crate::hookfs::{AbortBefore, Hook, HookFs, Op};
use crate::scenario::Scenario;

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} must be set for a child process"))
}

/// A command that runs this test binary as a child in `mode`.
pub fn command(mode: &str, cwd: &Path) -> Command {
    let mut c = Command::new(std::env::current_exe().expect("path of the test binary"));
    c.args([
        "--exact",
        "child::child_process_entry",
        "--ignored",
        "--nocapture",
        "--test-threads",
        "1",
        "-q",
    ])
    .env("GV_REL_CHILD", mode)
    // A core dump of an aborted child, if the machine writes any, lands
    // in a temp directory rather than in the source tree.
    .current_dir(cwd)
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    c
}

#[test]
#[ignore = "run by the reliability suites as a child process"]
fn child_process_entry() {
    let Ok(mode) = std::env::var("GV_REL_CHILD") else {
        return;
    };
    match mode.as_str() {
        "crash" => crash(),
        "compact" => compact(),
        "hold-lock" => hold_lock(),
        "probe-save" => probe_save(),
        other => panic!("unknown child mode {other}"),
    }
}

/// Runs a scenario over the real filesystem and aborts before step k.
fn crash() {
    let scenario = Scenario::from_name(&var("GV_REL_SCENARIO")).expect("scenario name");
    let at: u64 = var("GV_REL_ABORT_AT").parse().expect("step number");
    let fs = HookFs::new(Arc::new(RealFs), Arc::new(AbortBefore::new(at)));
    let store = Store::open_with(var("GV_REL_ROOT"), Arc::new(fs)).expect("open store");
    // Reaching the end means step k was never reached: the parent asked
    // for one step too many, which it treats as a failure.
    let result = scenario.run(&store);
    eprintln!("child finished without aborting: {result:?}");
    std::process::exit(70);
}

/// Runs `compact --apply` over the real filesystem and aborts before step k.
fn compact() {
    let at: u64 = var("GV_REL_ABORT_AT").parse().expect("step number");
    let fs = HookFs::new(Arc::new(RealFs), Arc::new(AbortBefore::new(at)));
    let store = Store::open_with(var("GV_REL_ROOT"), Arc::new(fs)).expect("open store");
    let result = store.compact(graphvault::store::compact::CompactOptions { dry_run: false });
    eprintln!("child finished without aborting: {result:?}");
    std::process::exit(70);
}

/// Takes the write lock, says so in a file, and waits to be killed.
fn hold_lock() {
    // Only a save creates a store: make this one the application's way.
    std::fs::create_dir_all(std::path::Path::new(&var("GV_REL_ROOT")).join("backups"))
        .expect("backups dir");
    let store = Store::open(var("GV_REL_ROOT")).expect("open store");
    let _guard = store.lock().expect("take the lock");
    std::fs::write(var("GV_REL_READY"), b"locked").expect("ready file");
    std::thread::sleep(Duration::from_secs(120));
    std::process::exit(71);
}

fn unix_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Records when this process first and last changed anything on disk while
/// holding (or, weakened, ignoring) the lock: every mutating call but the
/// directory creation and the lock itself, which come before the lock.
#[derive(Default)]
struct Activity {
    span: std::sync::Mutex<Option<(u128, u128)>>,
}

impl Hook for Activity {
    fn before(&self, op: &Op) -> std::io::Result<()> {
        use crate::hookfs::OpKind;
        if op.kind.mutating() && !matches!(op.kind, OpKind::CreateDirAll | OpKind::TryLock) {
            let now = unix_nanos();
            if let Ok(mut span) = self.span.lock() {
                let first = span.map_or(now, |s| s.0);
                *span = Some((first, now));
            }
        }
        Ok(())
    }

    fn after(&self, op: &Op, _ok: bool) {
        use crate::hookfs::OpKind;
        if op.kind.mutating() && !matches!(op.kind, OpKind::CreateDirAll | OpKind::TryLock) {
            let now = unix_nanos();
            if let Ok(mut span) = self.span.lock()
                && let Some(s) = span.as_mut()
            {
                s.1 = now;
            }
        }
    }
}

/// Waits for a common start instant, saves a graph through the library,
/// and writes `exit_code first_ns last_ns` (0 0 when it changed nothing).
fn probe_save() {
    let root = PathBuf::from(var("GV_REL_ROOT"));
    let bytes = std::fs::read(var("GV_REL_GRAPH")).expect("graph file");
    let graph = KnowledgeGraph::from_slice(&bytes).expect("graph parses");
    let start: u128 = var("GV_REL_START_NS").parse().expect("start instant");
    while unix_nanos() < start {
        std::thread::sleep(Duration::from_micros(200));
    }
    let activity = Arc::new(Activity::default());
    let fs = HookFs::new(Arc::new(RealFs), activity.clone());
    let code = match Store::open_with(&root, Arc::new(fs)).and_then(|s| {
        s.save_with(
            &graph,
            &SaveOptions {
                rotate: false,
                at: None,
            },
        )
    }) {
        Ok(_) => 0,
        Err(graphvault::store::StoreError::Locked { .. }) => 3,
        Err(e) => {
            eprintln!("probe save failed: {e}");
            5
        }
    };
    let (first, last) = activity.span.lock().ok().and_then(|s| *s).unwrap_or((0, 0));
    let mut out = std::fs::File::create(var("GV_REL_OUT")).expect("result file");
    writeln!(out, "{code} {first} {last}").expect("write result");
    std::process::exit(code);
}
