use std::fs;
use std::process::{Command, Output};

use crate::common;

use crate::common::gv;

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn list_prints_an_aligned_table_and_a_json_document() {
    let s = common::app_store();
    let out = gv(&s.root(), &["list"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("4 backups"), "{text}");
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("graph_")).collect();
    assert_eq!(lines.len(), 4);
    // Columns line up: every row has TIME at the same offset.
    let col = |l: &str| l.find("2025-10-0").expect("time column");
    assert!(lines.iter().all(|l| col(l) == col(lines[0])), "{text}");
    assert!(text.contains("left alone"));

    let doc = json(&gv(&s.root(), &["--json", "list"]));
    assert_eq!(doc["command"], "list");
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["result"]["backups"].as_array().expect("array").len(), 4);
    assert_eq!(doc["result"]["backups"][0]["id"], "graph_20251003_100500");
    // The listing is written straight into the document, not through a
    // `serde_json::Value`: every field the listing serializes is there.
    let listing = serde_json::to_value(s.open().list_backups().expect("list")).expect("value");
    let fields = listing.as_object().expect("an object");
    assert!(fields.len() >= 5, "{listing}");
    for (key, value) in fields.iter().filter(|(k, _)| *k != "elapsed_ms") {
        assert_eq!(&doc["result"][key], value, "{key}");
    }
    assert_eq!(doc["result"]["trash"]["count"], 0);
    assert_eq!(doc["result"]["evidence"]["count"], 0);
    assert_eq!(doc["exit_code"], 0);
    assert_eq!(doc["store"], s.root().to_str().expect("utf8"));
}

/// A store whose path is not UTF-8 works as text, and `--json` (which cannot carry the
/// path) refuses it with a JSON document instead of a panic.
#[test]
fn a_store_path_that_is_not_utf8_is_refused_under_json_and_works_as_text() {
    use std::os::unix::ffi::OsStrExt;
    let s = common::app_store();
    let odd = s.dir.path().join(std::ffi::OsStr::from_bytes(b"st\xffore"));
    fs::rename(s.root(), &odd).expect("rename the store");
    let out = gv(&odd, &["list"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before = common::snapshot_tree(&odd);
    for args in [
        &["--json", "list"][..],
        &["--json", "verify"],
        &["--json", "save", "--from", "x.json"],
    ] {
        let out = gv(&odd, args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc = json(&out);
        assert_eq!(doc["ok"], false);
        assert_eq!(doc["error"]["kind"], "refused");
        let message = doc["error"]["message"].as_str().expect("message");
        assert!(message.contains("not valid UTF-8"), "{message}");
        assert!(message.contains("nothing was read or written"), "{message}");
    }
    assert_eq!(common::snapshot_tree(&odd), before);
}

/// Output that cannot be written (a full disk behind stdout) is an error a script can see,
/// not a silent success; a reader that stops early (`| head`) is not.
#[test]
fn a_result_that_cannot_be_written_fails_the_command() {
    let s = common::app_store();
    for json in [false, true] {
        let full = fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_graphvault"));
        cmd.arg("--store").arg(s.root());
        if json {
            cmd.arg("--json");
        }
        let out = cmd
            .arg("list")
            .stdout(full)
            .output()
            .expect("run graphvault");
        assert_eq!(out.status.code(), Some(5), "json {json}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("could not write the result"), "{err}");
    }
    // A closed pipe: the listing was cut short by its reader, the command succeeded.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_graphvault"))
        .arg("--store")
        .arg(s.root())
        .arg("list")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `corrupt --help` says what each kind of damage does, the backups' kinds included,
/// from the same descriptions the UI's wizard lists.
#[test]
fn corrupt_help_lists_every_kind_with_what_it_does() {
    use graphvault::store::corrupt::CorruptionKind;
    let s = common::app_store();
    let out = gv(&s.root(), &["corrupt", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for kind in CorruptionKind::ALL
        .iter()
        .chain(CorruptionKind::BACKUP_KINDS.iter())
    {
        let line = help
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("- {}:", kind.name())))
            .unwrap_or_else(|| panic!("{} not listed:\n{help}", kind.name()));
        assert!(line.ends_with(kind.description()), "{line}");
    }
}

#[test]
fn exit_codes_are_the_documented_ones() {
    let s = common::app_store();
    assert_eq!(gv(&s.root(), &["verify"]).status.code(), Some(0));
    assert_eq!(gv(&s.root(), &["verify", "--all"]).status.code(), Some(0));
    assert_eq!(gv(&s.root(), &["restore", "../x"]).status.code(), Some(2));
    assert_eq!(gv(&s.root(), &["no-such-command"]).status.code(), Some(2));
    // Ids and corruption kinds are parsed with the arguments: usage errors.
    assert_eq!(
        gv(&s.root(), &["diff", "primary", "x"]).status.code(),
        Some(2)
    );
    assert_eq!(gv(&s.root(), &["verify", "graph_x"]).status.code(), Some(2));
    assert_eq!(gv(&s.root(), &["corrupt", "melt"]).status.code(), Some(2));
    // The store's refusal is typed; the command line adds its own flag.
    let out = gv(&s.root(), &["restore", "graph_20251003_100500"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unverified") && err.contains("--allow-unverified"),
        "{err}"
    );
    fs::write(s.primary(), b"{").expect("break");
    let out = gv(&s.root(), &["verify"]);
    assert_eq!(out.status.code(), Some(1));
    let doc = json(&gv(&s.root(), &["--json", "verify"]));
    assert_eq!(doc["result"]["status"], "corrupt");
    assert_eq!(doc["result"]["failed_level"], "checksum");

    let guard = s.open().lock().expect("hold the lock");
    let out = gv(&s.root(), &["snapshot"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("in use by pid") && err.contains("nothing was changed"),
        "{err}"
    );
    drop(guard);

    for e in fs::read_dir(s.backups()).expect("ls").flatten() {
        if e.file_name().to_string_lossy().ends_with(".json") {
            fs::write(e.path(), b"x").expect("corrupt");
        }
    }
    let out = gv(&s.root(), &["recover"]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn recover_and_rotate_from_the_command_line() {
    let s = common::app_store();
    fs::remove_file(s.primary()).expect("rm");
    let out = gv(&s.root(), &["recover", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!s.primary().exists(), "dry run wrote nothing");
    let out = gv(&s.root(), &["recover"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("recovered from graph_20251003_100000"),
        "{text}"
    );
    assert!(s.primary().exists());

    let out = gv(
        &s.root(),
        &["rotate", "--keep-last", "1", "--min-valid", "1"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("dry run"), "{text}");
    assert_eq!(s.open().list_backups().expect("list").backups.len(), 4);
    let out = gv(
        &s.root(),
        &[
            "--json",
            "rotate",
            "--keep-last",
            "1",
            "--min-valid",
            "1",
            "--apply",
        ],
    );
    assert_eq!(json(&out)["result"]["dry_run"], false);
    let out = gv(&s.root(), &["rotate", "--keep-last", "0"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn save_from_a_file_and_diff() {
    let s = common::empty_store();
    let input = s.dir.path().join("input.json");
    fs::write(&input, common::app_graph(3, 2, true, "")).expect("input");
    let out = gv(
        &s.root(),
        &["save", "--from", input.to_str().expect("utf8")],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = json(&gv(&s.root(), &["--json", "list"]));
    let id = doc["result"]["backups"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let out = gv(&s.root(), &["diff", &id, "primary"]);
    assert_eq!(out.status.code(), Some(0));
    let bad = s.dir.path().join("bad.json");
    fs::write(&bad, "[1, 2").expect("bad");
    let out = gv(&s.root(), &["save", "--from", bad.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was saved"));
}

#[test]
fn a_store_path_that_does_not_exist_is_a_clear_error_and_is_not_created() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-storage");
    for args in [
        &["list"][..],
        &["verify"],
        &["recover"],
        &["snapshot"],
        &["rotate", "--apply"],
    ] {
        let out = gv(&missing, args);
        assert_eq!(out.status.code(), Some(5), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("no storage directory") && err.contains("nothing was read or written"),
            "{err}"
        );
    }
    assert!(!missing.exists());

    // A directory that is there but holds no store: the readers of a
    // graph say so and that nothing was changed (before: "read graph
    // …/graph.json: No such file or directory").
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).expect("empty dir");
    for args in [
        &["show", "primary"][..],
        &["diff", "primary", "graph_20251003_000432"],
    ] {
        let out = gv(&empty, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(5), "{args:?}: {err}");
        assert!(
            err.contains("no store in") && err.contains("nothing was changed"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(fs::read_dir(&empty).expect("ls").count(), 0);
}

#[test]
fn save_refuses_what_is_not_a_regular_file_and_dry_runs_save_no_policy() {
    let s = common::app_store();
    let fifo = s.dir.path().join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo")
            .success()
    );
    let out = gv(&s.root(), &["save", "--from", fifo.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a regular file"));
    // A file that reports 0 bytes and never ends (read until memory ran out
    // before): refused once the read passes the size it reported.
    let primary_before = fs::read(s.root().join("graph.json")).expect("primary");
    let backups_before = fs::read_dir(s.backups()).expect("backups").count();
    for endless in ["/proc/self/pagemap", "/proc/self/status"] {
        let out = gv(&s.root(), &["save", "--from", endless]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(5), "{endless}: {err}");
        assert!(
            err.contains("yields more than the 0 bytes it reports")
                && err.contains("nothing was saved"),
            "{endless}: {err}"
        );
    }
    // The same for a key file: its 64 KiB cap holds by what is read.
    let out = gv(&s.root(), &["--key-file", "/proc/self/pagemap", "verify"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("yields more than 65536 bytes"), "{err}");
    assert_eq!(
        fs::read(s.root().join("graph.json")).expect("primary"),
        primary_before
    );
    assert_eq!(
        fs::read_dir(s.backups()).expect("backups").count(),
        backups_before
    );
    let out = gv(
        &s.root(),
        &[
            "rotate",
            "--keep-last",
            "1",
            "--min-valid",
            "1",
            "--save-policy",
        ],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("policy not saved"));
    assert!(!s.root().join(".graphvault/config.json").exists());
}

/// A `graph.json` that is a symbolic link is refused by every write that
/// would replace it (save, restore, recover, the restore of evidence), with
/// the link's target named and nothing changed: before, each replaced the
/// link, kept nothing of the file it pointed to, and recover said "lost:
/// unknown".
#[test]
fn a_symlinked_primary_is_refused_by_every_write_that_would_replace_it() {
    let s = common::app_store();
    let outside = s.dir.path().join("outside.json");
    fs::copy(s.primary(), &outside).expect("copy out");
    let input = s.dir.path().join("input.json");
    fs::write(&input, common::app_graph(3, 2, false, "in")).expect("input");
    // A valid backup to restore and recover from.
    let id = s.add_backup(
        "20251004_100000",
        &common::app_graph(4, 2, false, "e"),
        common::MetaName::Meta,
    );
    // Evidence to restore: a restore keeps the primary it replaces.
    let first = s
        .open()
        .restore(
            &id.parse().expect("id"),
            graphvault::store::restore::RestoreOptions::default(),
        )
        .expect("restore");
    assert!(!first.evidence.is_empty());
    let evidence = s.open().list_evidence(None).expect("evidence").items[0]
        .id
        .to_string();
    fs::remove_file(s.primary()).expect("rm primary");
    std::os::unix::fs::symlink(&outside, s.primary()).expect("symlink");
    let outside_before = fs::read(&outside).expect("outside");
    let before = common::snapshot_tree(&s.root());
    let input_arg = input.to_string_lossy().into_owned();
    for args in [
        vec!["save", "--from", input_arg.as_str()],
        vec!["restore", id.as_str()],
        vec!["recover"],
        vec!["evidence", "restore", evidence.as_str()],
        // A dry run says what the real run would: refused.
        vec!["restore", id.as_str(), "--dry-run"],
        vec!["recover", "--dry-run"],
        vec!["evidence", "restore", evidence.as_str(), "--dry-run"],
    ] {
        let out = gv(&s.root(), &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(5), "{args:?}: {err}");
        assert!(
            err.contains("graph.json is a symbolic link to")
                && err.contains(&outside.display().to_string())
                && err.contains("nothing was changed")
                && err.contains("replace the link"),
            "{args:?}: {err}"
        );
        assert_eq!(fs::read_link(s.primary()).expect("still a link"), outside);
        assert_eq!(fs::read(&outside).expect("outside"), outside_before);
        assert_eq!(common::snapshot_tree(&s.root()), before, "{args:?}");
    }
}

/// A directory at `graph.json` is refused by every write that would replace
/// it, in a dry run as in the real run, before anything is kept: before, the
/// dry run said it would recover, the real run failed at the rename with
/// exit 5, and each attempt left one more copy of the meta in `evidence/`.
#[test]
fn a_directory_at_graph_json_is_refused_before_anything_is_kept() {
    let s = common::app_store();
    let id = s.add_backup(
        "20251004_100000",
        &common::app_graph(4, 2, false, "e"),
        common::MetaName::Meta,
    );
    let input = s.dir.path().join("input.json");
    fs::write(&input, common::app_graph(3, 2, false, "in")).expect("input");
    fs::remove_file(s.primary()).expect("rm primary");
    fs::create_dir(s.primary()).expect("directory in its place");
    fs::write(s.primary().join("inside.txt"), "not ours").expect("inside");
    let before = common::snapshot_tree(&s.root());
    let input_arg = input.to_string_lossy().into_owned();
    for args in [
        vec!["recover", "--dry-run"],
        vec!["recover"],
        vec!["recover"],
        vec!["restore", id.as_str(), "--dry-run"],
        vec!["restore", id.as_str()],
        vec!["save", "--from", input_arg.as_str()],
    ] {
        let out = gv(&s.root(), &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(5), "{args:?}: {err}");
        assert!(
            err.contains("graph.json is a directory")
                && err.contains("nothing was changed")
                && err.contains("move the directory away"),
            "{args:?}: {err}"
        );
        assert_eq!(common::snapshot_tree(&s.root()), before, "{args:?}");
    }
}

/// A primary the application rewrote beside its old meta, kept by a save,
/// disagrees with the meta kept with it. `evidence restore --allow-unverified`
/// puts it back (before, it was refused whatever the flag, and the only copy
/// of that work could not be restored); without the flag the refusal says
/// how it can be accepted.
#[test]
fn evidence_beside_a_stale_meta_is_restored_when_accepted_unverified() {
    let s = common::app_store();
    // The application writes a new graph and leaves the old meta.
    let newer = common::app_graph(6, 2, false, "newer work");
    fs::write(s.primary(), &newer).expect("rewrite");
    let input = s.dir.path().join("input.json");
    fs::write(&input, common::app_graph(3, 2, false, "in")).expect("input");
    let out = gv(
        &s.root(),
        &["save", "--from", input.to_str().expect("utf-8")],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let items = s.open().list_evidence(None).expect("evidence").items;
    assert_eq!(items.len(), 1);
    let id = items[0].id.to_string();

    let out = gv(&s.root(), &["evidence", "restore", &id]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("accept it as unverified"), "{err}");
    assert_ne!(fs::read(s.primary()).expect("primary"), newer.as_bytes());

    let out = gv(
        &s.root(),
        &["evidence", "restore", &id, "--allow-unverified"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(fs::read(s.primary()).expect("primary"), newer.as_bytes());
    // The primary it replaced (the save's) is kept in turn, and the
    // restored one verifies against the meta the restore wrote.
    assert_eq!(
        s.open().list_evidence(None).expect("evidence").items.len(),
        2
    );
    assert_eq!(gv(&s.root(), &["verify"]).status.code(), Some(0));
}

/// The exit codes of the README's table, for the cases the outside attack
/// found undocumented: a well-formed id that names no backup is a usage
/// error (2, like a malformed id; it was 5), and `history` with the primary
/// missing still shows the backups but says so and exits 1, as verify does
/// (it exited 0 with "unreadable").
#[test]
fn unknown_ids_and_a_missing_primary_in_history_have_the_documented_codes() {
    let s = common::app_store();
    for args in [
        vec!["restore", "graph_20200101_000000"],
        vec!["restore", "graph_20200101_000000", "--dry-run"],
        vec!["verify", "graph_20200101_000000"],
    ] {
        let out = gv(&s.root(), &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("no backup graph_20200101_000000"), "{err}");
    }
    let doc = json(&gv(
        &s.root(),
        &["--json", "restore", "graph_20200101_000000"],
    ));
    assert_eq!(
        (doc["exit_code"].as_u64(), doc["error"]["kind"].as_str()),
        (Some(2), Some("no_such_backup"))
    );

    let node = "N0";
    let out = gv(&s.root(), &["history", node]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs::remove_file(s.primary()).expect("rm primary");
    let out = gv(&s.root(), &["history", node]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("missing") && text.contains("graph.json is missing"),
        "{text}"
    );
    let doc = json(&gv(&s.root(), &["--json", "history", node]));
    assert_eq!(doc["exit_code"], 1);
    assert_eq!(doc["result"]["entries"][0]["state"], "missing");
    // The backups' history is all there.
    assert!(
        doc["result"]["present_in"].as_u64().unwrap_or(0) >= 1,
        "{doc}"
    );
}

/// Long commands draw their progress on a terminal only: with stderr a
/// pipe (a log, a timer's journal) nothing is written there, and stdout
/// holds only the report.
#[test]
fn progress_is_drawn_on_a_terminal_only() {
    let s = crate::common::app_store();
    for args in [
        vec!["verify", "--all"],
        vec!["recover", "--dry-run"],
        vec!["rotate", "--keep-last", "2"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_graphvault"))
            .arg("--store")
            .arg(s.root())
            .args(&args)
            .output()
            .expect("run graphvault");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.is_empty(), "{args:?} wrote to stderr: {err}");
        assert!(!out.stdout.is_empty(), "{args:?} printed no report");
    }
}

/// The application's store after one `save --from`, so that it is
/// graphvault's store and the next `save --from` parses beside its writes.
fn saved_once_from_a_file() -> common::AppStore {
    let s = common::app_store();
    let first = s.dir.path().join("first.json");
    fs::write(&first, common::app_graph(4, 2, false, "first")).expect("input");
    let out = gv(
        &s.root(),
        &["save", "--from", first.to_str().expect("utf8")],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s
}

/// `save --from` into a store writes the backup and the new primary while
/// another core parses the input. An input that is not a graph, or one that
/// verify would call corrupt, must leave the store exactly as it was: no
/// backup, no temporary file, and no evidence copy of a primary that no
/// backup holds (the copy is for a save that goes ahead).
#[test]
fn a_save_from_an_input_refused_while_written_leaves_the_store_as_it_was() {
    let s = saved_once_from_a_file();
    // The application rewrites the primary: its bytes are in no backup.
    fs::write(s.primary(), common::app_graph(6, 2, true, "unbacked")).expect("rewrite");
    let before = common::snapshot_tree(&s.root());

    let not_json = s.dir.path().join("not-json.json");
    fs::write(
        &not_json,
        common::app_graph(40, 2, true, "cut").split_at(3000).0,
    )
    .expect("cut");
    let dangling = s.dir.path().join("dangling.json");
    fs::write(
        &dangling,
        common::app_graph(40, 2, true, "dangling").replacen(
            "\"to\": \"N1\"",
            "\"to\": \"N999\"",
            1,
        ),
    )
    .expect("dangling");
    // Valid JSON that is not a graph (no `nodes`): once taken for an empty one.
    let not_a_graph = s.dir.path().join("package.json");
    fs::write(&not_a_graph, "{\"name\": \"app\", \"version\": \"1.0.0\"}").expect("json");
    for (input, kind) in [
        (&not_json, "invalid_graph"),
        (&dangling, "inconsistent_graph"),
        (&not_a_graph, "invalid_graph"),
    ] {
        let out = gv(
            &s.root(),
            &["--json", "save", "--from", input.to_str().expect("utf8")],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(5), "{kind}: {err}");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(doc["error"]["kind"], kind, "{doc}");
        let message = doc["error"]["message"].as_str().expect("message");
        assert!(message.contains("nothing was"), "{message}");
        assert!(message.contains(input.to_str().expect("utf8")), "{message}");
        assert_eq!(common::snapshot_tree(&s.root()), before, "{kind}");
    }
    // Into a directory that is not a store yet, a refused input makes
    // none: nothing is created.
    let fresh = s.dir.path().join("fresh");
    for input in [&not_json, &dangling, &not_a_graph] {
        let out = gv(&fresh, &["save", "--from", input.to_str().expect("utf8")]);
        assert_eq!(out.status.code(), Some(5));
        assert!(!fresh.exists(), "{}", input.display());
    }
}

/// A file with Python's bare `NaN`, saved into a store while it is written,
/// is parsed again masked once the writes are done: the primary and the
/// backup are the input byte for byte, and both verify.
#[test]
fn a_save_from_an_input_with_bare_nan_stores_its_bytes_as_they_are() {
    let s = saved_once_from_a_file();

    // A file of several MiB (the save writes it in pieces) with a bare
    // token in every node, and token-like text in strings that must stay.
    let input = s.dir.path().join("nan.json");
    let tokens = ["NaN", "Infinity", "-Infinity"];
    let text = common::app_graph(6000, 2, true, "nan")
        .replace(
            "\"x_custom\": \"kept\"",
            "\"x_custom\": \"kept [NaN, -Infinity]\"",
        )
        .split("\"confidence\": 1.0")
        .enumerate()
        .map(|(i, part)| match i {
            0 => part.to_string(),
            _ => format!("\"confidence\": {}{part}", tokens[i % 3]),
        })
        .collect::<String>();
    assert!(text.contains("\"price\": NaN"));
    assert!(text.len() > 3 << 20, "{}", text.len());
    fs::write(&input, &text).expect("input");
    let out = gv(
        &s.root(),
        &["--json", "save", "--from", input.to_str().expect("utf8")],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["result"]["node_count"], 6000, "{doc}");
    let backup = doc["result"]["backup_path"].as_str().expect("backup path");
    assert_eq!(fs::read(s.primary()).expect("primary"), text.as_bytes());
    assert_eq!(fs::read(backup).expect("backup"), text.as_bytes());
    let id = doc["result"]["backup_id"].as_str().expect("id");
    for target in ["primary", id] {
        let out = gv(&s.root(), &["verify", "--deep", target]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{target}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}
