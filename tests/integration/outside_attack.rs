//! Regression tests for what an outside attack on the release binary found
//! (issue 8): one test per finding, each failing on the code before its fix.
//! The reliability suites (`tests/reliability/`) widen each class.

use std::fs;
use std::path::PathBuf;

use graphvault::graph::KnowledgeGraph;
use graphvault::store::auth::Key;
use graphvault::store::retention::{Action, RetentionPolicy};
use graphvault::store::rotate::RotateOptions;

use crate::common::{self, MetaName};

fn key() -> Key {
    Key::from_bytes(b"a secret kept outside the store").expect("key")
}

fn graph(nodes: usize, salt: &str) -> KnowledgeGraph {
    KnowledgeGraph::from_slice(common::app_graph(nodes, 2, false, salt).as_bytes()).expect("graph")
}

/// Opens with a lock wait: other tests of this binary start processes all
/// the time, and a child between fork and exec holds a copy of the lock's
/// descriptor for that instant (docs/RELIABILITY.md, notes).
fn open(s: &common::AppStore) -> graphvault::store::Store {
    s.open().with_lock_wait(std::time::Duration::from_secs(5))
}

fn evidence_files(s: &common::AppStore) -> Vec<PathBuf> {
    match fs::read_dir(s.root().join(".graphvault/evidence")) {
        Ok(d) => d.flatten().map(|e| e.path()).collect(),
        Err(_) => Vec::new(),
    }
}

fn backup_ids(s: &common::AppStore) -> Vec<String> {
    let mut ids: Vec<String> = fs::read_dir(s.backups())
        .expect("backups")
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".json"))
                .map(str::to_string)
        })
        .collect();
    ids.sort();
    ids
}

// ---- 1. retention removes backups it cannot judge ----

#[test]
fn the_first_save_under_a_key_keeps_every_backup_made_before_it() {
    // Before: the pre-key backups counted as "unverified (no checksum)"
    // although their checksums match, and the first keyed save removed all
    // of them, floor or not.
    let s = common::app_store();
    let before = backup_ids(&s);
    let report = s
        .open()
        .with_key(key())
        .save_graph_with_backup(&graph(3, "keyed"))
        .expect("save");
    let rotation = report.rotation.expect("retention ran");
    assert_eq!(rotation.plan.removed, 0, "{:#?}", rotation.plan);
    for id in &before {
        assert!(
            backup_ids(&s).contains(id),
            "{id} was removed: {:#?}",
            rotation.plan
        );
    }
}

#[test]
fn a_backup_whose_meta_cannot_be_read_is_kept() {
    // Before: a meta that is a symlink (or unreadable) made its backup
    // "unverified" and so removable once older than the valid ones kept.
    let s = common::app_store();
    let outside = s.dir.path().join("outside.meta");
    let old = common::app_graph(2, 2, false, "old");
    fs::write(&outside, common::app_meta(old.as_bytes(), None)).expect("outside meta");
    let old_id = s.add_backup("20240101_100000", &old, MetaName::None);
    std::os::unix::fs::symlink(&outside, s.backups().join(format!("{old_id}.meta")))
        .expect("symlink");
    let policy = RetentionPolicy {
        keep_last: Some(1),
        keep_within: None,
        min_valid: 1,
        ..RetentionPolicy::default()
    };
    let report = s
        .open()
        .rotate(&policy, RotateOptions { dry_run: false })
        .expect("rotate");
    let d = report
        .plan
        .decisions
        .iter()
        .find(|d| d.id.to_string() == old_id)
        .expect("decided");
    assert_eq!(d.action, Action::Keep, "{d:?}");
    assert!(s.backups().join(format!("{old_id}.json")).exists());
    assert!(d.reasons.iter().any(|r| r.contains("could not be judged")));
}

// ---- 2. a save replaces a primary that exists nowhere else ----

#[test]
fn a_save_keeps_a_primary_no_backup_holds_whatever_its_meta_says() {
    // Before: the application wrote graph.json and left the old meta; the
    // next save replaced it and it existed nowhere.
    let s = common::empty_store();
    let store = open(&s);
    store
        .save_graph_with_backup(&graph(2, "first"))
        .expect("save");
    let written_by_app = common::app_graph(4, 2, false, "by the application");
    fs::write(s.primary(), &written_by_app).expect("app writes");
    let report = store
        .save_graph_with_backup(&graph(3, "second"))
        .expect("save");
    assert!(
        evidence_files(&s)
            .iter()
            .any(|p| fs::read(p).expect("read") == written_by_app.as_bytes()),
        "the application's graph was lost"
    );
    let kept = evidence_files(&s).len();
    // A primary a backup holds byte for byte is not copied again.
    store
        .save_graph_with_backup(&graph(3, "third"))
        .expect("save");
    assert_eq!(evidence_files(&s).len(), kept);
    drop(report);
}

// ---- 5. tamper evidence can be bypassed with the key configured ----

fn tamper_primary(s: &common::AppStore) -> Vec<u8> {
    let mut bytes = fs::read(s.primary()).expect("read");
    let at = bytes.windows(5).position(|w| w == b"price").expect("price") + 8;
    bytes[at] = if bytes[at] == b'9' { b'1' } else { b'9' };
    fs::write(s.primary(), &bytes).expect("tamper");
    bytes
}

#[test]
fn with_a_key_a_changed_primary_without_its_meta_fails_and_recovery_replaces_it() {
    // Before: change graph.json, delete its meta: verify said "unverified"
    // (exit 0), recover kept the tampered graph and snapshot signed it.
    use graphvault::store::recover::{RecoverOptions, Source};
    use graphvault::store::verify::{Depth, Status, Target};
    let s = common::empty_store();
    let store = open(&s).with_key(key());
    store
        .save_graph_with_backup(&graph(3, "one"))
        .expect("save");
    let good = store
        .save_graph_with_backup(&graph(4, "two"))
        .expect("save");
    let tampered = tamper_primary(&s);
    fs::remove_file(s.primary_meta()).expect("delete meta");

    let r = store.verify(&Target::Primary, Depth::Full).expect("verify");
    assert_eq!(r.status, Status::Corrupt, "{:?}", r.reason);
    assert!(
        r.reason
            .as_deref()
            .unwrap_or("")
            .contains("not authenticated")
    );
    assert!(
        store.snapshot().is_err(),
        "snapshot signed a tampered primary"
    );

    let (_, report) = store
        .load_with_recovery(RecoverOptions { dry_run: false })
        .expect("recover");
    assert_eq!(report.source, Source::Backup(good.backup_id.clone()));
    assert_eq!(
        fs::read(s.primary()).expect("primary"),
        fs::read(&good.backup_path).expect("backup")
    );
    assert!(
        evidence_files(&s)
            .iter()
            .any(|p| fs::read(p).expect("read") == tampered),
        "the tampered primary was not kept as evidence"
    );
    assert_eq!(
        store
            .verify(&Target::Primary, Depth::Full)
            .expect("verify")
            .status,
        Status::Valid
    );
}

#[test]
fn with_a_key_the_cli_verify_fails_on_a_primary_whose_hmac_was_stripped() {
    let s = common::empty_store();
    let key_file = s.dir.path().join("key");
    fs::write(&key_file, "a secret kept outside the store").expect("key");
    let store = s
        .open()
        .with_key(Key::from_file(&key_file, &s.root()).expect("key"));
    store
        .save_graph_with_backup(&graph(3, "one"))
        .expect("save");
    let bytes = tamper_primary(&s);
    let mut meta =
        graphvault::store::meta::Meta::from_slice(&fs::read(s.primary_meta()).expect("meta"))
            .expect("json");
    meta.checksum = Some(common::sha256(&bytes));
    meta.size = Some(bytes.len() as u64);
    meta.hmac = None;
    fs::write(s.primary_meta(), meta.to_vec()).expect("strip");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_graphvault"))
        .args([
            "--store",
            s.root().to_str().expect("utf8"),
            "--key-file",
            key_file.to_str().expect("utf8"),
            "verify",
        ])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

// ---- 7. the same-second counter can produce a name nothing can see ----

#[test]
fn a_save_after_the_last_counter_of_a_second_names_a_backup_that_is_listed() {
    // Before: `_999999` + 1 became `_1000000`, which does not parse: the
    // backup was missing from list, verify and retention.
    use chrono::TimeZone;
    let s = common::empty_store();
    let store = open(&s);
    store
        .save_graph_with_backup(&graph(2, "first"))
        .expect("save");
    let at = chrono::Local
        .with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
        .single()
        .expect("time");
    let text = common::app_graph(2, 2, false, "last of its second");
    s.add_backup("20260102_030405_999999", &text, MetaName::Meta);
    let report = store
        .save_with(
            &graph(3, "next"),
            &graphvault::store::save::SaveOptions {
                rotate: true,
                at: Some(at),
            },
        )
        .expect("save");
    let name = report.backup_id.to_string();
    assert_eq!(
        name.parse::<graphvault::store::names::BackupId>().ok(),
        Some(report.backup_id.clone())
    );
    let listing = store.list_backups().expect("list");
    assert!(
        listing.backups.iter().any(|b| b.id == report.backup_id),
        "{name} is not listed"
    );
}

// ---- 3. a wrong clock ages history out ----

#[test]
fn a_save_with_a_clock_a_year_fast_ages_nothing_out_and_does_not_stay_newest() {
    // Before: the year-fast save measured the 30-day window from its own
    // backup and removed every backup but the floor; its future name then
    // stayed "newest" for recovery and listing.
    let s = common::empty_store();
    let store = open(&s);
    let now = chrono::Local::now();
    for i in 0..6 {
        store
            .save_with(
                &graph(2, &format!("h{i}")),
                &graphvault::store::save::SaveOptions {
                    rotate: false,
                    at: Some(now - chrono::Duration::days(10 - i)),
                },
            )
            .expect("save");
    }
    let before = backup_ids(&s);
    let fast = store
        .save_with(
            &graph(3, "fast"),
            &graphvault::store::save::SaveOptions {
                rotate: true,
                at: Some(now + chrono::Duration::days(365)),
            },
        )
        .expect("save");
    let rotation = fast.rotation.expect("retention ran");
    assert_eq!(rotation.plan.removed, 0, "{:#?}", rotation.plan);
    assert!(
        rotation.plan.clock_warning.is_some(),
        "the jump is reported"
    );
    // The clock is put right: the next save is the newest by creation, and
    // the future-dated backup makes retention remove nothing on its word.
    let next = store
        .save_graph_with_backup(&graph(4, "next"))
        .expect("save");
    let rotation = next.rotation.expect("retention ran");
    assert_eq!(rotation.plan.removed, 0, "{:#?}", rotation.plan);
    assert!(rotation.plan.clock_warning.is_some());
    assert_eq!(
        store.list_backups().expect("list").backups[0].id,
        next.backup_id,
        "the future-dated backup still sorts as the newest"
    );
    for id in &before {
        assert!(backup_ids(&s).contains(id), "{id} was removed");
    }
}

// ---- 6. save accepts graphs that verify rejects ----

#[test]
fn save_refuses_exactly_what_verify_calls_corrupt_and_accepts_a_null_strength() {
    // Before: save wrote a graph with a dangling edge (and other faults the
    // consistency check names), verify called it corrupt and recovery threw
    // the new save away. And `"strength": null`, which the application
    // writes, was called corrupt.
    use graphvault::store::verify::{Depth, Status, Target};
    let s = common::empty_store();
    let store = open(&s);
    store
        .save_graph_with_backup(&graph(2, "good"))
        .expect("save");
    let before = common::snapshot_tree(&s.root());
    let good = common::app_graph(3, 2, false, "x");
    for (what, text) in [
        (
            "a dangling edge",
            good.replacen("\"to\": \"N1\"", "\"to\": \"nowhere\"", 1),
        ),
        (
            "a strength that is text",
            good.replacen("\"strength\": 0.8", "\"strength\": \"high\"", 1),
        ),
    ] {
        assert_ne!(text, good, "{what}: the fixture did not change");
        let g = KnowledgeGraph::from_slice(text.as_bytes()).expect("parses");
        let err = store
            .save_graph_with_backup(&g)
            .expect_err(&format!("{what} was saved"));
        assert!(
            err.to_string().contains("nothing was written"),
            "{what}: {err}"
        );
        assert_eq!(common::snapshot_tree(&s.root()), before, "{what}");
    }
    let null = good.replacen("\"strength\": 0.8", "\"strength\": null", 1);
    assert_ne!(null, good);
    let g = KnowledgeGraph::from_slice(null.as_bytes()).expect("parses");
    store
        .save_graph_with_backup(&g)
        .expect("a null strength is saved");
    let r = store.verify(&Target::Primary, Depth::Full).expect("verify");
    assert_eq!(r.status, Status::Valid, "{:?}", r.reason);
    assert!(
        r.warnings.iter().any(|w| w.contains("without a strength")),
        "{:?}",
        r.warnings
    );
}

// ---- 8. the lock and the UI log are written through hard links ----

#[test]
fn a_hard_linked_lock_file_is_refused_and_the_outside_file_is_untouched() {
    // Before: taking the lock wrote the holder text through a hard link,
    // truncating a file outside the store to 64 bytes.
    let s = common::app_store();
    fs::create_dir_all(s.root().join(".graphvault")).expect("state dir");
    let outside = s.dir.path().join("precious.txt");
    let precious =
        "a file outside the store, longer than sixty-four bytes, that nobody may touch\n";
    fs::write(&outside, precious).expect("outside");
    fs::hard_link(&outside, s.root().join(".graphvault/lock")).expect("hard link");
    let err = s
        .open()
        .save_graph_with_backup(&graph(2, "x"))
        .expect_err("a hard-linked lock was used");
    let text = err.to_string();
    assert!(
        text.contains("links") && text.contains("nothing was changed"),
        "{text}"
    );
    assert_eq!(fs::read_to_string(&outside).expect("outside"), precious);
}

// ---- 9. commands with nothing to do create files ----

#[test]
fn no_command_but_save_demo_and_a_policy_writes_into_a_directory_without_a_store() {
    // Before: recover, rotate --apply and snapshot on `--store /` created
    // backups/ and .graphvault/lock while saying nothing was written.
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("not-a-store");
    fs::create_dir_all(&root).expect("dir");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_graphvault"))
            .args(["--store", root.to_str().expect("utf8")])
            .args(args)
            .output()
            .expect("run")
    };
    for args in [
        &["list"][..],
        &["verify"],
        &["verify", "--all"],
        &["rotate"],
        &["rotate", "--apply"],
        &["recover"],
        &["recover", "--dry-run"],
        &["snapshot"],
        &["restore", "graph_20251003_000432"],
        &["diff", "primary", "graph_20251003_000432"],
        &["corrupt", "truncated"],
    ] {
        let out = run(args);
        let created: Vec<_> = fs::read_dir(&root)
            .expect("dir")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(
            created.is_empty(),
            "{args:?} created {created:?} (exit {:?}: {})",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

// ---- 11. unclear errors ----

#[test]
fn a_pending_meta_that_is_a_fifo_blocks_writes_with_a_clear_error() {
    // Before: "read pending meta ...: is a FIFO", saying neither that
    // nothing changed nor what to do.
    let s = common::app_store();
    let pending = s.root().join("graph.json.meta.pending");
    let made = std::process::Command::new("mkfifo")
        .arg(&pending)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let before = common::snapshot_tree(&s.root());
    let err = s
        .open()
        .save_graph_with_backup(&graph(2, "x"))
        .expect_err("saved past a FIFO");
    let text = err.to_string();
    for part in [
        "graph.json.meta.pending",
        "FIFO",
        "nothing was changed",
        "moved out of the way",
    ] {
        assert!(text.contains(part), "{part:?} missing in: {text}");
    }
    assert_eq!(common::snapshot_tree(&s.root()), before);
}
