//! The real binary in a pseudo-terminal: `graphvault demo`, simulate a
//! truncated primary with the wizard, walk it to the end, quit; then check
//! on disk with the core that the primary verifies and that the damaged
//! file was kept as evidence. And: open the node browser on the backup that
//! still has the subgraph the demo lost, search, mark, restore the marked
//! nodes into the current graph; then check on disk that they are back,
//! the primary verifies and every newer node kept its data. Every wait is bounded, and the child is
//! killed if it outlives the test.

use std::io::{Read, Write};
use std::num::NonZeroU16;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use graphvault::store::Store;
use graphvault::store::verify::{Depth, Status, Target};
use portable_pty::{CommandBuilder, PtySize, native_pty_system};

const ROWS: NonZeroU16 = NonZeroU16::new(35).expect("non-zero");
const COLS: NonZeroU16 = NonZeroU16::new(120).expect("non-zero");
/// Long enough for a debug build on a busy two-core machine.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// The terminal as the program drew it, fed by a reader thread.
struct Screen {
    parser: Arc<Mutex<vt100::Parser>>,
    /// Everything the program wrote, for what it prints after leaving the
    /// alternate screen.
    raw: Arc<Mutex<Vec<u8>>>,
}

impl Screen {
    fn text(&self) -> String {
        self.parser
            .lock()
            .map(|p| p.screen().contents())
            .unwrap_or_default()
    }

    /// Waits until the screen shows every one of `needles`.
    fn wait_for(&self, needles: &[&str], what: &str) {
        let started = Instant::now();
        loop {
            let text = self.text();
            if needles.iter().all(|n| text.contains(n)) {
                return;
            }
            assert!(
                started.elapsed() < STEP_TIMEOUT,
                "timed out waiting for {what} ({needles:?}); the screen shows:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn raw_text(&self) -> String {
        self.raw
            .lock()
            .map(|r| String::from_utf8_lossy(&r).into_owned())
            .unwrap_or_default()
    }
}

/// Kills the child if the test fails before it quits.
struct KillOnDrop(Box<dyn portable_pty::Child + Send + Sync>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
    }
}

#[test]
fn demo_truncate_and_recover_through_the_wizard() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("demo");
    let pty = native_pty_system()
        .openpty(PtySize {
            rows: ROWS.get(),
            cols: COLS.get(),
            pixel_width: 0,
            pixel_height: 0,
        })
        .expect("open a pseudo-terminal");
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_graphvault"));
    cmd.arg("demo");
    cmd.arg("--dir");
    cmd.arg(&dir);
    cmd.cwd(tmp.path());
    cmd.env("TERM", "xterm-256color");
    cmd.env("NO_COLOR", "1");
    cmd.env_remove("GRAPHVAULT_STORE");
    let child = pty.slave.spawn_command(cmd).expect("start graphvault demo");
    let mut child = KillOnDrop(child);
    drop(pty.slave);

    let mut reader = pty.master.try_clone_reader().expect("pty reader");
    let mut keys = pty.master.take_writer().expect("pty writer");
    let screen = Screen {
        parser: Arc::new(Mutex::new(vt100::Parser::new(ROWS, COLS, 0))),
        raw: Arc::new(Mutex::new(Vec::new())),
    };
    let (parser, raw) = (screen.parser.clone(), screen.raw.clone());
    // Ends by itself when the child exits and the pty reports EOF or EIO.
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            if let Ok(mut p) = parser.lock() {
                p.process(&buf[..n]);
            }
            if let Ok(mut r) = raw.lock() {
                r.extend_from_slice(&buf[..n]);
            }
        }
    });
    let mut press = |bytes: &str| {
        keys.write_all(bytes.as_bytes()).expect("send keys");
        keys.flush().expect("flush keys");
        // Lets a lone Esc arrive alone, so it is not read as the start of
        // an escape sequence.
        std::thread::sleep(Duration::from_millis(150));
    };

    screen.wait_for(
        &["backups", "q quit", "verify all done"],
        "the main screen, verified",
    );
    press("x");
    screen.wait_for(
        &["choose damage", "truncate"],
        "the wizard's choice of damage",
    );
    press("j");
    press("\r");
    screen.wait_for(&["Damage it", "the sandbox store"], "the confirmation");
    press("y");
    screen.wait_for(
        &["detected:", "corrupt at the checksum level"],
        "the detect step",
    );
    press("\r");
    screen.wait_for(
        &["recommended", "Enter plans the restore"],
        "the verified candidates",
    );
    press("\r");
    screen.wait_for(&["[ Restore ]", "primary becomes"], "the restore plan");
    press("y");
    screen.wait_for(
        &["re-verified the new primary", "valid"],
        "the re-verification",
    );
    press("\r");
    screen.wait_for(
        &["Recovered.", "The damaged files were kept in"],
        "the summary",
    );
    press("\x1b");
    screen.wait_for(&["q quit", "recovered from"], "the main screen again");
    press("q");

    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("child status") {
            break status;
        }
        assert!(
            started.elapsed() < STEP_TIMEOUT,
            "graphvault did not quit:\n{}",
            screen.text()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "graphvault exited with {status:?}");
    // The terminal was handed back and the demo said where its sandbox is.
    let wait_printed = Instant::now();
    while !screen.raw_text().contains("explore it again with")
        && wait_printed.elapsed() < STEP_TIMEOUT
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let raw = screen.raw_text();
    assert!(raw.contains("\x1b[?1049l"), "the alternate screen was left");
    assert!(
        raw.contains("explore it again with"),
        "the demo printed where it is"
    );

    // The demo store is a sandbox, so the wizard worked on it directly.
    let store = Store::open(&dir).expect("open the demo store");
    let primary = store
        .verify(&Target::Primary, Depth::Full)
        .expect("verify the primary");
    assert_eq!(primary.status, Status::Valid, "{}", primary.summary());
    let evidence: Vec<String> = std::fs::read_dir(store.evidence_dir())
        .expect("an evidence directory")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        evidence.iter().any(|n| n.ends_with("-graph.json")),
        "the damaged graph.json was kept: {evidence:?}"
    );
    let kept = evidence
        .iter()
        .find(|n| n.ends_with("-graph.json"))
        .map(|n| store.evidence_dir().join(n))
        .expect("kept file");
    let kept_len = std::fs::metadata(&kept).map(|m| m.len()).unwrap_or(0);
    let primary_len = primary.size.unwrap_or(0);
    assert!(
        kept_len > 0 && kept_len < primary_len,
        "the kept file is the truncated one ({kept_len} of {primary_len} bytes)"
    );
}

/// The company the demo's history deleted by mistake.
const DELETED: &str = graphvault::generate::DEMO_DELETED;

#[test]
fn demo_brings_back_a_deleted_node_from_the_node_browser() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("demo");
    let pty = native_pty_system()
        .openpty(PtySize {
            rows: ROWS.get(),
            cols: COLS.get(),
            pixel_width: 0,
            pixel_height: 0,
        })
        .expect("open a pseudo-terminal");
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_graphvault"));
    cmd.arg("demo");
    cmd.arg("--dir");
    cmd.arg(&dir);
    cmd.cwd(tmp.path());
    cmd.env("TERM", "xterm-256color");
    cmd.env("NO_COLOR", "1");
    cmd.env_remove("GRAPHVAULT_STORE");
    let child = pty.slave.spawn_command(cmd).expect("start graphvault demo");
    let mut child = KillOnDrop(child);
    drop(pty.slave);

    let mut reader = pty.master.try_clone_reader().expect("pty reader");
    let mut keys = pty.master.take_writer().expect("pty writer");
    let screen = Screen {
        parser: Arc::new(Mutex::new(vt100::Parser::new(ROWS, COLS, 0))),
        raw: Arc::new(Mutex::new(Vec::new())),
    };
    let (parser, raw) = (screen.parser.clone(), screen.raw.clone());
    // Ends by itself when the child exits and the pty reports EOF or EIO.
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            if let Ok(mut p) = parser.lock() {
                p.process(&buf[..n]);
            }
            if let Ok(mut r) = raw.lock() {
                r.extend_from_slice(&buf[..n]);
            }
        }
    });
    let mut press = |bytes: &str| {
        keys.write_all(bytes.as_bytes()).expect("send keys");
        keys.flush().expect("flush keys");
        // Lets a lone Esc arrive alone, so it is not read as the start of
        // an escape sequence.
        std::thread::sleep(Duration::from_millis(150));
    };

    screen.wait_for(
        &["backups", "q quit", "verify all done"],
        "the main screen, verified",
    );
    let store = Store::open(&dir).expect("open the demo store");
    let before = graphvault::graph::KnowledgeGraph::from_slice(
        &std::fs::read(store.primary_path()).expect("read the primary"),
    )
    .expect("the primary parses");
    assert!(before.node(DELETED).is_none(), "the demo lost {DELETED}");
    // The last backup that still has it: the fifth newest.
    for _ in 0..4 {
        press("j");
    }
    press("\r");
    screen.wait_for(&["nodes of graph_", "TYPE", "DEGREE"], "the node browser");
    press("/");
    for c in DELETED.chars() {
        press(&c.to_string());
    }
    press("\r");
    // The search finds the company, its CEO and the event about it (ids and data).
    screen.wait_for(
        &["3 of ", &format!("search {DELETED}"), "edges out"],
        "the search narrowed to the subgraph",
    );
    press(" ");
    press(" ");
    press(" ");
    screen.wait_for(&["3 marked"], "three nodes marked");
    press("r");
    screen.wait_for(
        &[&format!("add back node {DELETED}"), "[ No ]"],
        "the plan of the partial restore",
    );
    press("y");
    screen.wait_for(
        &["re-verified the new primary", "saved as the new primary"],
        "the re-verification",
    );
    press("\r");
    press("\x1b");
    screen.wait_for(&["q quit", "restored 3 nodes"], "the main screen again");
    press("q");
    let started = Instant::now();
    while child.0.try_wait().expect("child status").is_none() {
        assert!(
            started.elapsed() < STEP_TIMEOUT,
            "graphvault did not quit:\n{}",
            screen.text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // On disk: the node is back, the primary verifies, and every node of the graph
    // before the restore is there with its newer data.
    let primary = store
        .verify(&Target::Primary, Depth::Full)
        .expect("verify the primary");
    assert_eq!(primary.status, Status::Valid, "{}", primary.summary());
    let after = graphvault::graph::KnowledgeGraph::from_slice(
        &std::fs::read(store.primary_path()).expect("read the primary"),
    )
    .expect("the primary parses");
    assert!(after.node(DELETED).is_some(), "{DELETED} is back");
    for node in before.nodes() {
        assert_eq!(
            after.node(node.key()).and_then(|n| n.data_json()),
            node.data_json(),
            "{} keeps its newer data",
            node.key()
        );
    }
    assert_eq!(after.node_count(), before.node_count() + 3);
}

/// `graphvault demo` in a pseudo-terminal of `cols` x `rows`, with its
/// screen and a way to press keys.
struct Demo {
    screen: Screen,
    child: KillOnDrop,
    keys: Box<dyn Write + Send>,
}

impl Demo {
    fn start(dir: &std::path::Path, cols: NonZeroU16, rows: NonZeroU16) -> Demo {
        Demo::run(
            &["demo".as_ref(), "--dir".as_ref(), dir.as_os_str()],
            dir,
            cols,
            rows,
        )
    }

    /// The UI on the existing store at `dir` (no demo built).
    fn open(dir: &std::path::Path, cols: NonZeroU16, rows: NonZeroU16) -> Demo {
        Demo::run(&["--store".as_ref(), dir.as_os_str()], dir, cols, rows)
    }

    fn run(
        args: &[&std::ffi::OsStr],
        dir: &std::path::Path,
        cols: NonZeroU16,
        rows: NonZeroU16,
    ) -> Demo {
        let pty = native_pty_system()
            .openpty(PtySize {
                rows: rows.get(),
                cols: cols.get(),
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("open a pseudo-terminal");
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_graphvault"));
        for a in args {
            cmd.arg(a);
        }
        if let Some(parent) = dir.parent() {
            cmd.cwd(parent);
        }
        cmd.env("TERM", "xterm-256color");
        cmd.env("NO_COLOR", "1");
        cmd.env_remove("GRAPHVAULT_STORE");
        Demo::spawn(pty, cmd, cols, rows)
    }

    /// `cmd` in the pseudo-terminal `pty` of `cols` x `rows`.
    fn spawn(
        pty: portable_pty::PtyPair,
        cmd: CommandBuilder,
        cols: NonZeroU16,
        rows: NonZeroU16,
    ) -> Demo {
        let child = KillOnDrop(pty.slave.spawn_command(cmd).expect("start graphvault"));
        drop(pty.slave);
        let mut reader = pty.master.try_clone_reader().expect("pty reader");
        let keys = pty.master.take_writer().expect("pty writer");
        let screen = Screen {
            parser: Arc::new(Mutex::new(vt100::Parser::new(rows, cols, 0))),
            raw: Arc::new(Mutex::new(Vec::new())),
        };
        let (parser, raw) = (screen.parser.clone(), screen.raw.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut p) = parser.lock() {
                    p.process(&buf[..n]);
                }
                if let Ok(mut r) = raw.lock() {
                    r.extend_from_slice(&buf[..n]);
                }
            }
        });
        Demo {
            screen,
            child,
            keys,
        }
    }

    fn press(&mut self, bytes: &str) {
        self.keys.write_all(bytes.as_bytes()).expect("send keys");
        self.keys.flush().expect("flush keys");
        // A lone Esc must arrive alone, not as the start of a sequence.
        std::thread::sleep(Duration::from_millis(150));
    }

    fn quit(mut self) {
        self.press("q");
        let started = Instant::now();
        while self.child.0.try_wait().expect("child status").is_none() {
            assert!(
                started.elapsed() < STEP_TIMEOUT,
                "graphvault did not quit:\n{}",
                self.screen.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Every file of `dir` by name, with its bytes.
fn files_of(dir: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("list a directory")
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read a file"),
            )
        })
        .collect()
}

#[test]
fn demo_rotation_goes_to_the_trash_and_both_views_undo_through_plan_and_confirm() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("demo");
    let mut demo = Demo::start(&dir, COLS, ROWS);
    demo.screen.wait_for(
        &["backups", "q quit", "verify all done"],
        "the main screen, verified",
    );
    let store = Store::open(&dir).expect("open the demo store");
    let backups_before = files_of(&store.backups_dir());
    let primary_before = std::fs::read(store.primary_path()).expect("read the primary");

    // The store's own policy moves the oldest backups to the trash.
    demo.press("R");
    demo.screen.wait_for(
        &["to the trash 2", "for 2w", "TRASH "],
        "the rotation preview",
    );
    demo.press("\r");
    demo.screen.wait_for(
        &["Move 2 backups to the trash", "[ No ]"],
        "the confirmation",
    );
    demo.press("y");
    demo.screen.wait_for(
        &["moved 2 backups to the trash (t to undo), kept there 2w"],
        "the rotation's activity line",
    );
    assert_eq!(store.list_trash().expect("list the trash").items.len(), 2);

    // The trash view brings the newest of them back, after a plan.
    demo.press("t");
    demo.screen
        .wait_for(&["trash 1/2", "2 backups", "MOVED BY"], "the trash view");
    demo.press("r");
    demo.screen.wait_for(
        &["back from the trash?", "goes back as", "[ Restore ]"],
        "the plan of a restore from the trash",
    );
    demo.press("y");
    demo.screen.wait_for(
        &["is back in backups/, verified again: valid"],
        "the restore",
    );
    demo.press("\r");
    demo.screen
        .wait_for(&["trash 1/1", "1 backup"], "the trash view again");
    demo.press("\x1b");

    // A restore, then the evidence view undoes it.
    demo.press("j");
    demo.press("r");
    demo.screen
        .wait_for(&["as the primary?", "[ Restore ]"], "the restore plan");
    demo.press("y");
    demo.screen
        .wait_for(&["re-verified the new primary"], "the restore done");
    demo.press("\r");
    demo.press("e");
    demo.screen
        .wait_for(&["evidence 1/1", "before-restore"], "the evidence view");
    demo.press("r");
    demo.screen.wait_for(
        &[
            "restore evidence",
            "changes from the primary now to the evidence",
            "[ Restore ]",
        ],
        "the plan of an evidence restore",
    );
    demo.press("\t");
    demo.press("\r");
    demo.screen.wait_for(
        &["restored evidence", "as the primary (e to undo)"],
        "the evidence restore",
    );
    demo.press("\r");
    demo.screen
        .wait_for(&["evidence 1/2"], "the evidence view, one more kept");
    demo.press("\x1b");
    demo.quit();

    // On disk: the trash holds one backup, the other is back byte for byte;
    // the primary is the demo's again, and both replaced primaries are kept.
    let trash = store.list_trash().expect("list the trash");
    assert_eq!(trash.items.len(), 1);
    let backups_after = files_of(&store.backups_dir());
    let missing: Vec<&String> = backups_before
        .keys()
        .filter(|name| !backups_after.contains_key(*name))
        .collect();
    assert!(
        missing
            .iter()
            .all(|n| n.starts_with(&trash.items[0].backup_id.to_string())),
        "only the backup still in the trash is missing from backups/: {missing:?}"
    );
    for (name, bytes) in &backups_before {
        if let Some(after) = backups_after.get(name) {
            assert_eq!(after, bytes, "{name} is back with identical bytes");
        }
    }
    assert_eq!(
        std::fs::read(store.primary_path()).expect("read the primary"),
        primary_before,
        "the evidence restore undid the restore"
    );
    let evidence = store.list_evidence(None).expect("list the evidence");
    assert_eq!(evidence.items.len(), 2, "each replaced primary was kept");
    let primary = store
        .verify(&Target::Primary, Depth::Full)
        .expect("verify the primary");
    assert_eq!(primary.status, Status::Valid, "{}", primary.summary());
}

/// The UI on a store with a remote on a real S3 server (SeaweedFS, as the
/// remote tests use), with the server's credentials and an empty HOME.
fn ui_with_remote(root: &std::path::Path, home: &std::path::Path) -> Demo {
    let pty = native_pty_system()
        .openpty(PtySize {
            rows: ROWS.get(),
            cols: COLS.get(),
            pixel_width: 0,
            pixel_height: 0,
        })
        .expect("open a pseudo-terminal");
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_graphvault"));
    cmd.arg("--store");
    cmd.arg(root);
    cmd.cwd(home);
    cmd.env("TERM", "xterm-256color");
    cmd.env("NO_COLOR", "1");
    cmd.env("HOME", home);
    cmd.env("AWS_ACCESS_KEY_ID", crate::s3server::ACCESS_KEY);
    cmd.env("AWS_SECRET_ACCESS_KEY", crate::s3server::SECRET_KEY);
    cmd.env_remove("AWS_SESSION_TOKEN");
    cmd.env_remove("AWS_PROFILE");
    cmd.env_remove("GRAPHVAULT_STORE");
    Demo::spawn(pty, cmd, COLS, ROWS)
}

/// With a remote: the off-site column goes from pending to verified after
/// the push key, the panel shows the push; then with the primary and every
/// local backup damaged, the recovery wizard offers the remote's backups
/// and recovers the newest one through plan, confirm and re-verify. On
/// disk afterwards: the primary is byte for byte the backup pushed, and it
/// verifies.
#[test]
fn the_off_site_column_the_push_key_and_the_wizards_remote_candidates() {
    let server = crate::s3server::shared();
    let bucket = server.bucket(&crate::s3server::unique_bucket("pty"));
    let s = crate::common::app_store();
    let root = s.root();
    let home = tempfile::tempdir().expect("home");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_graphvault"))
        .arg("--store")
        .arg(&root)
        .args(["remote", "add", "off", &format!("s3://{bucket}/pty")])
        .args(["--endpoint", &server.endpoint, "--region", "us-east-1"])
        .env("HOME", home.path())
        .output()
        .expect("remote add");
    assert!(out.status.success(), "remote add: {out:?}");
    // The newest backup with a meta: what the remote will offer first.
    let newest = "graph_20251003_100000";
    let pushed = std::fs::read(s.backups().join(format!("{newest}.json"))).expect("backup");

    let mut ui = ui_with_remote(&root, home.path());
    ui.screen.wait_for(
        &["verify all done", "OFF-SITE", "· pending"],
        "the main screen with the off-site column, nothing pushed yet",
    );
    assert!(
        !ui.screen.text().contains("✓ verified"),
        "{}",
        ui.screen.text()
    );
    ui.press("P");
    ui.screen.wait_for(
        &["off-site: 1 remote", "push to off: 3 sent"],
        "the push's outcome in the panel",
    );
    ui.screen
        .wait_for(&[": ok, 3 sent"], "the panel read again: last push ok");
    ui.press("\x1b");
    ui.screen
        .wait_for(&["✓ verified"], "the column after the push, read again");
    let text = ui.screen.text();
    assert!(
        text.matches("✓ verified").count() >= 3,
        "the three backups with a meta are verified off-site:\n{text}"
    );
    ui.quit();

    // The disk is damaged: the primary and every local backup.
    std::fs::write(s.primary(), b"{\"nodes\": {").expect("damage the primary");
    for entry in std::fs::read_dir(s.backups()).expect("backups") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            std::fs::write(&path, b"{\"nodes\": {}, \"edges\": {}} damaged").expect("damage");
        }
    }
    let mut ui = ui_with_remote(&root, home.path());
    ui.screen
        .wait_for(&["recover the store", "detect"], "the recovery wizard");
    ui.press("\r");
    ui.screen.wait_for(
        &["No local backup verifies", "★ recommended", "off"],
        "the remote's candidates",
    );
    ui.press("\r");
    ui.screen.wait_for(
        &["(a dry run:", "Recover"],
        "the plan of the remote recovery",
    );
    ui.press("y");
    ui.screen
        .wait_for(&["re-verified the new primary"], "the re-verification");
    ui.press("\r");
    ui.screen
        .wait_for(&["Recovered from the remote"], "the summary");
    ui.press("\x1b");
    ui.screen
        .wait_for(&["backups", "q quit"], "the main screen");
    ui.quit();

    assert_eq!(
        std::fs::read(s.primary()).expect("primary"),
        pushed,
        "the primary is the backup pushed, byte for byte"
    );
    let store = Store::open(&root).expect("store");
    let report = store.verify(&Target::Primary, Depth::Full).expect("verify");
    assert_eq!(report.status, Status::Valid, "{report:?}");
}

/// Another process damages the demo's primary while the UI is open: the UI
/// sees it without F5 (the header, the footer's recovery key, the log), and
/// the demo's exit message counts the store as it is then. Opened again on
/// that broken store, the UI starts in the recovery wizard, which restores
/// it.
#[test]
fn an_outside_change_is_seen_without_f5_and_a_store_opened_broken_is_recovered() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("demo");
    let cols = NonZeroU16::new(80).expect("non-zero");
    let rows = NonZeroU16::new(24).expect("non-zero");
    let mut demo = Demo::start(&dir, cols, rows);
    demo.screen
        .wait_for(&["verify all done", "q quit"], "the main screen, verified");
    // Another process: the command line damages the sandbox's primary.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_graphvault"))
        .arg("--store")
        .arg(&dir)
        .args(["corrupt", "truncate"])
        .output()
        .expect("run graphvault corrupt");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // No key pressed: the watch sees it.
    demo.screen
        .wait_for(&["✗ corrupt", "x recover"], "the damage, seen without F5");
    // The log says why the screen changed.
    demo.press("L");
    demo.screen
        .wait_for(&["changed on disk", "another process"], "the log view");
    demo.press("\x1b");
    let screen = demo.screen.raw.clone();
    demo.quit();
    let started = Instant::now();
    let printed = || {
        screen
            .lock()
            .map(|r| String::from_utf8_lossy(&r).into_owned())
            .unwrap_or_default()
    };
    while !printed().contains("explore it again with") && started.elapsed() < STEP_TIMEOUT {
        std::thread::sleep(Duration::from_millis(50));
    }
    let raw = printed();
    // The exit message counts the store as it is now, not as built.
    assert!(raw.contains("primary corrupt"), "{raw}");

    // Opened again on the broken store: the recovery wizard, by itself.
    let mut ui = Demo::open(&dir, COLS, ROWS);
    ui.screen
        .wait_for(&["recover the store", "corrupt"], "the recovery wizard");
    ui.press("\r");
    ui.screen
        .wait_for(&["recommended", "Enter plans"], "the verified candidates");
    ui.press("\r");
    ui.screen.wait_for(
        &["[ Restore ]", "Enter no"],
        "the restore plan, Enter on No",
    );
    ui.press("y");
    ui.screen
        .wait_for(&["re-verified the new primary"], "the re-verification");
    ui.press("\r");
    ui.screen.wait_for(&["Recovered."], "the summary");
    ui.press("\x1b");
    ui.screen
        .wait_for(&["primary ✓ valid", "q quit"], "the main screen, recovered");
    ui.quit();
    let store = Store::open(&dir).expect("open");
    let primary = store.verify(&Target::Primary, Depth::Full).expect("verify");
    assert_eq!(primary.status, Status::Valid, "{}", primary.summary());
}
