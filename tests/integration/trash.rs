//! The trash, the evidence commands, the thinning default policy and the
//! free-space check, through the store's API and the command line.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use chrono::TimeZone;
use graphvault::graph::KnowledgeGraph;
use graphvault::store::restore::RestoreOptions;
use graphvault::store::retention::{Action, RetentionPolicy};
use graphvault::store::rotate::RotateControl;
use graphvault::store::rotate::RotateOptions;
use graphvault::store::save::SaveOptions;
use graphvault::store::trash::{ItemState, TrashEmptyOptions};
use graphvault::store::verify::Status;
use graphvault::store::{Store, StoreConfig, StoreError};

use crate::common::{self, MetaName, snapshot_tree};

fn graph(nodes: usize, salt: &str) -> KnowledgeGraph {
    KnowledgeGraph::from_slice(common::app_graph(nodes, 2, false, salt).as_bytes())
        .expect("fixture graph")
}

fn local(y: i32, m: u32, d: u32, h: u32) -> chrono::DateTime<chrono::Local> {
    chrono::Local
        .with_ymd_and_hms(y, m, d, h, 0, 0)
        .earliest()
        .expect("local time")
}

fn save_at(store: &Store, at: chrono::DateTime<chrono::Local>, salt: &str, rotate: bool) {
    let r = store
        .save_with(
            &graph(3, salt),
            &SaveOptions {
                rotate,
                at: Some(at),
            },
        )
        .expect("save");
    assert!(r.rotation_error.is_none(), "{:?}", r.rotation_error);
}

/// Every data file of the backups directory, by id, with its bytes.
fn backup_bytes(s: &common::AppStore) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(s.backups())
        .expect("list")
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let id = name.strip_suffix(".json")?.to_string();
            id.starts_with("graph_")
                .then(|| (id, fs::read(e.path()).expect("read")))
        })
        .collect()
}

/// What the application itself finds: Python's `glob` over `backups/graph_*.json`.
fn app_glob(root: &Path) -> Vec<String> {
    let out = Command::new("python3")
        .arg("-c")
        .arg("import glob,os,sys; os.chdir(sys.argv[1]); print('\\n'.join(sorted(glob.glob('backups/graph_*.json'))))")
        .arg(root)
        .output()
        .expect("python3 runs (CI has it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_start_matches("backups/").to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn keep_last(n: u32) -> RetentionPolicy {
    RetentionPolicy {
        keep_last: Some(n),
        keep_within: None,
        min_valid: 1,
        ..RetentionPolicy::application()
    }
}

fn set_config(s: &common::AppStore, policy: RetentionPolicy, grace: chrono::Duration) {
    let mut store = s.open();
    store
        .set_config(StoreConfig {
            retention: policy,
            trash_grace: grace,
            ..StoreConfig::default()
        })
        .expect("config");
}

/// A store with `n` backups saved a day apart from 2025-10-01, no retention.
fn store_with_saves(n: u32) -> common::AppStore {
    let s = common::empty_store();
    let store = s.open();
    for d in 0..n {
        save_at(&store, local(2025, 10, 1 + d, 12), &format!("s{d}"), false);
    }
    s
}

#[test]
fn every_removal_path_moves_whole_pairs_to_the_trash_that_the_app_never_sees() {
    // rotate --apply
    let s = store_with_saves(5);
    let before = backup_bytes(&s);
    let r = s
        .open()
        .rotate(&keep_last(2), RotateOptions { dry_run: false })
        .expect("rotate");
    assert_eq!(r.trashed.len(), 3);
    assert!(r.purged.is_empty());
    let trash = s.open().list_trash().expect("trash");
    assert_eq!(trash.items.len(), 3);
    for item in &trash.items {
        assert_eq!(item.state, ItemState::Trashed, "{item:?}");
        assert_eq!(item.operation.as_deref(), Some("rotate"));
        assert!(
            item.reasons
                .iter()
                .any(|r| r.contains("outside every rule"))
        );
        assert!(item.policy.is_some());
        let data = trash.dir.join(format!("{}.json", item.id));
        let meta = trash.dir.join(format!("{}.meta", item.id));
        assert_eq!(
            fs::read(&data).expect("trashed data"),
            before[&item.backup_id.to_string()],
            "the trash holds the backup's exact bytes"
        );
        assert!(meta.is_file(), "the meta travels with its data");
        let expires = item.expires_at.expect("expiry") - item.trashed_at.expect("trashed");
        assert_eq!(expires, chrono::Duration::days(14), "the default grace");
    }
    let glob = app_glob(&s.root());
    assert_eq!(
        glob,
        ["graph_20251004_120000.json", "graph_20251005_120000.json"],
        "the application's glob sees only the kept backups"
    );

    // retention after a save
    let s = store_with_saves(3);
    set_config(&s, keep_last(2), chrono::Duration::days(14));
    let store = s.open();
    let r = store
        .save_with(
            &graph(4, "new"),
            &SaveOptions {
                rotate: true,
                at: Some(local(2025, 10, 9, 12)),
            },
        )
        .expect("save");
    let rot = r.rotation.expect("rotation ran");
    assert_eq!(rot.trashed.len(), 2);
    let trash = store.list_trash().expect("trash");
    assert!(
        trash
            .items
            .iter()
            .all(|i| i.operation.as_deref() == Some("retention after save"))
    );
    assert_eq!(app_glob(&s.root()).len(), 2);

    // the UI's rotation: only what was confirmed
    let s = store_with_saves(4);
    let store = s.open();
    let preview = store
        .rotate(&keep_last(1), RotateOptions { dry_run: true })
        .expect("preview");
    let confirmed: Vec<_> = preview
        .plan
        .decisions
        .iter()
        .filter(|d| d.action == Action::Remove)
        .map(|d| d.id.clone())
        .take(2)
        .collect();
    let r = store
        .rotate_confirmed(&keep_last(1), &confirmed, RotateControl::none())
        .expect("confirmed rotation");
    let mut trashed: Vec<_> = r.trashed.iter().map(|t| t.backup_id.clone()).collect();
    trashed.sort();
    let mut want = confirmed.clone();
    want.sort();
    assert_eq!(trashed, want);
    assert_eq!(store.list_trash().expect("trash").items.len(), 2);
}

#[test]
fn trash_restore_brings_back_identical_bytes_and_refuses_to_overwrite() {
    let s = store_with_saves(4);
    let before = backup_bytes(&s);
    let store = s.open();
    store
        .rotate(&keep_last(1), RotateOptions { dry_run: false })
        .expect("rotate");
    let trash = store.list_trash().expect("trash");
    let ids: Vec<String> = trash.items.iter().map(|i| i.id.to_string()).collect();
    assert_eq!(ids.len(), 3);

    // A name taken in backups/ refuses the whole request, nothing moves.
    let taken = s.backups().join(format!("{}.json", ids[1]));
    fs::write(&taken, b"someone else's file").expect("plant");
    let snapshot = snapshot_tree(&s.root());
    let err = store.trash_restore(&ids).expect_err("collision refused");
    assert!(
        matches!(err, StoreError::Refused { .. }) && err.to_string().contains("overwrite"),
        "{err}"
    );
    // The plan (what the UI shows before its confirmation) refuses alike.
    let err = store
        .trash_restore_plan(&ids)
        .expect_err("the plan sees the collision");
    assert!(
        matches!(err, StoreError::Refused { .. }) && err.to_string().contains("overwrite"),
        "{err}"
    );
    assert_eq!(snapshot_tree(&s.root()), snapshot, "nothing changed");
    fs::remove_file(&taken).expect("unplant");

    // The plan verifies every item where it lies and writes nothing.
    let snapshot = snapshot_tree(&s.root());
    let plan = store.trash_restore_plan(&ids).expect("plan");
    assert_eq!(plan.items.len(), 3);
    for item in &plan.items {
        assert_eq!(item.status, Status::Valid);
        assert!(
            item.files
                .iter()
                .all(|f| f.parent() == Some(s.backups().as_path()) && !f.exists()),
            "{:?} go back to free names in backups/",
            item.files
        );
    }
    assert_eq!(snapshot_tree(&s.root()), snapshot, "a plan writes nothing");

    // A trashed file whose bytes changed is refused as well.
    let damaged = trash.dir.join(format!("{}.json", ids[2]));
    let good = fs::read(&damaged).expect("read");
    fs::write(&damaged, b"{}").expect("damage");
    assert!(matches!(
        store.trash_restore(&ids[2..]),
        Err(StoreError::Interrupted { .. } | StoreError::ChecksumMismatch { .. })
    ));
    fs::write(&damaged, &good).expect("repair");

    let r = store.trash_restore(&ids).expect("restore");
    assert_eq!(r.restored.len(), 3);
    assert!(r.restored.iter().all(|i| i.status == Status::Valid));
    assert_eq!(backup_bytes(&s), before, "every backup back, byte for byte");
    assert!(store.list_trash().expect("trash").items.is_empty());
    let err = store
        .trash_restore(&ids[..1])
        .expect_err("gone from the trash");
    assert!(matches!(err, StoreError::NoSuchBackup { .. }), "{err}");
}

#[test]
fn a_purge_removes_only_expired_items_and_never_in_the_call_that_trashed_them() {
    let s = store_with_saves(3);
    // A grace of one minute: anything trashed is expired by the next save.
    set_config(&s, keep_last(1), chrono::Duration::minutes(1));
    let store = s.open();
    save_at(&store, local(2025, 10, 10, 12), "a", true);
    let first: Vec<String> = store
        .list_trash()
        .expect("trash")
        .items
        .iter()
        .map(|i| i.id.to_string())
        .collect();
    assert_eq!(
        first.len(),
        3,
        "three backups went to the trash, none purged"
    );

    // Thirty seconds later: not expired, nothing purged.
    let r = store
        .save_with(
            &graph(3, "b"),
            &SaveOptions {
                rotate: true,
                at: Some(local(2025, 10, 10, 12) + chrono::Duration::seconds(30)),
            },
        )
        .expect("save");
    let rot = r.rotation.expect("rotation");
    assert!(rot.purged.is_empty());
    assert_eq!(rot.trashed.len(), 1);

    // An hour later, all four items so far are past their grace and
    // purged; the one this save trashes stays.
    let mut expected: Vec<String> = store
        .list_trash()
        .expect("trash")
        .items
        .iter()
        .map(|i| i.id.to_string())
        .collect();
    expected.sort();
    assert_eq!(expected.len(), 4);
    let r = store
        .save_with(
            &graph(3, "c"),
            &SaveOptions {
                rotate: true,
                at: Some(local(2025, 10, 10, 13)),
            },
        )
        .expect("save");
    let rot = r.rotation.expect("rotation");
    let mut purged: Vec<String> = rot.purged.iter().map(|p| p.id.to_string()).collect();
    purged.sort();
    assert_eq!(purged, expected);
    let left: Vec<String> = store
        .list_trash()
        .expect("trash")
        .items
        .iter()
        .map(|i| i.id.to_string())
        .collect();
    let just: Vec<String> = rot.trashed.iter().map(|t| t.id.to_string()).collect();
    assert_eq!(just.len(), 1);
    assert_eq!(left, just, "only what this call trashed is left");
}

#[test]
fn a_clock_far_ahead_purges_nothing_from_the_trash() {
    // Three backups go to the trash on 2025-10-10 with the default grace
    // (14 days); the next call's clock reads a year later.
    let s = store_with_saves(4);
    set_config(&s, keep_last(1), chrono::Duration::days(14));
    let store = s.open();
    save_at(&store, local(2025, 10, 10, 12), "a", true);
    let trashed = store.list_trash().expect("trash").items.len();
    assert_eq!(trashed, 4, "four backups went to the trash");

    // The daily check's retention, no save, the clock a year fast.
    store
        .check(&graphvault::store::check::CheckOptions {
            at: Some(local(2026, 10, 10, 12)),
            ..Default::default()
        })
        .expect("check");
    assert_eq!(
        store.list_trash().expect("trash").items.len(),
        trashed,
        "a rotation purged on the clock's word"
    );

    // A save with the clock a year fast: its own backup is the only thing
    // that says time has passed, and it says so by the same clock.
    let r = store
        .save_with(
            &graph(3, "ahead"),
            &SaveOptions {
                rotate: true,
                at: Some(local(2026, 10, 10, 13)),
            },
        )
        .expect("save");
    let rot = r.rotation.expect("rotation");
    assert!(
        rot.purged.is_empty(),
        "purged on the clock's word: {:?}",
        rot.purged
    );
    let note = rot.purge_note.as_deref().unwrap_or_default();
    assert!(note.contains("4 trash items"), "{note}");
    assert_eq!(store.list_trash().expect("trash").items.len(), trashed + 1);

    // Once a backup made by an earlier call is dated past an item's
    // expiry (time did pass, by the store's own history), and the clock
    // agrees, that item is purged, and only the expired ones.
    let s2 = store_with_saves(4);
    set_config(&s2, keep_last(1), chrono::Duration::days(14));
    let store = s2.open();
    save_at(&store, local(2025, 10, 10, 12), "a", true);
    save_at(&store, local(2025, 10, 30, 12), "b", false);
    let r = store
        .save_with(
            &graph(3, "c"),
            &SaveOptions {
                rotate: true,
                at: Some(local(2025, 10, 31, 12)),
            },
        )
        .expect("save");
    let rot = r.rotation.expect("rotation");
    assert_eq!(rot.purged.len(), 4, "{:?}", rot.purge_note);
    assert!(rot.purge_note.is_none(), "{:?}", rot.purge_note);
}

#[test]
fn trash_empty_is_a_dry_run_unless_applied_and_honours_older_than() {
    let s = store_with_saves(3);
    let store = s.open();
    store
        .rotate(&keep_last(1), RotateOptions { dry_run: false })
        .expect("rotate");
    let before = snapshot_tree(&s.root());
    let dry = store
        .trash_empty(TrashEmptyOptions {
            older_than: None,
            dry_run: true,
        })
        .expect("dry run");
    assert_eq!(dry.purged.len(), 2);
    assert_eq!(snapshot_tree(&s.root()), before, "a dry run writes nothing");
    let young = store
        .trash_empty(TrashEmptyOptions {
            older_than: Some(chrono::Duration::days(1)),
            dry_run: false,
        })
        .expect("older than a day");
    assert!(
        young.purged.is_empty(),
        "just trashed: not older than a day"
    );
    let all = store
        .trash_empty(TrashEmptyOptions {
            older_than: None,
            dry_run: false,
        })
        .expect("empty");
    assert_eq!(all.purged.len(), 2);
    assert!(store.list_trash().expect("trash").items.is_empty());
    assert_eq!(
        fs::read_dir(store.trash_dir()).expect("dir").count(),
        0,
        "no file of a purged item is left"
    );
}

#[test]
fn the_default_policy_thins_a_year_old_history_to_one_per_month() {
    // The application's store, untouched for a year: two backups in each
    // of the last 12 months before it stopped, then one save today.
    let s = common::empty_store();
    fs::create_dir_all(s.backups()).expect("dir");
    let mut ids = Vec::new();
    for m in 1..=12u32 {
        for day in [5u32, 20] {
            let text = common::app_graph(2 + m as usize, 2, false, &format!("{m}-{day}"));
            ids.push(s.add_backup(&format!("2024{m:02}{day:02}_120000"), &text, MetaName::Meta));
        }
    }
    s.write_primary(&common::app_graph(9, 2, false, "primary"), true);
    assert_eq!(s.open().config().retention, RetentionPolicy::thinning());
    let store = s.open();
    save_at(&store, local(2025, 1, 10, 12), "today", true);
    let kept: Vec<String> = store
        .list_backups()
        .expect("list")
        .backups
        .iter()
        .map(|b| b.id.to_string())
        .collect();
    // Today's, and the newest of each month: 2024-12 .. 2024-01 are the 12
    // months before January 2025 (and the floor of 3 valid keeps 2024-12-05).
    let mut want = vec!["graph_20250110_120000".to_string()];
    want.extend(
        (1..=12u32)
            .rev()
            .map(|m| format!("graph_2024{m:02}20_120000")),
    );
    want.insert(2, "graph_20241205_120000".to_string());
    assert_eq!(kept, want);
    let trash = store.list_trash().expect("trash");
    assert_eq!(
        trash.items.len(),
        11,
        "the other backup of each month is in the trash"
    );
    assert!(
        trash
            .items
            .iter()
            .all(|i| i.backup_id.time().format("%d").to_string() == "05")
    );

    // The application's plain 30 days stays available, explicitly.
    let plain = store
        .rotate(
            &RetentionPolicy::application(),
            RotateOptions { dry_run: true },
        )
        .expect("plan");
    assert_eq!(plain.plan.kept, 3, "30 days keeps only the floor of 3");
}

#[test]
fn the_space_check_refuses_a_save_and_a_restore_before_writing_anything() {
    let s = store_with_saves(2);
    let tiny = Store::open_with(s.root(), Arc::new(common::FakeDisk::free(3_000))).expect("open");
    let before = snapshot_tree(&s.root());
    let err = tiny
        .save_with(&graph(40, "big"), &SaveOptions::default())
        .expect_err("refused");
    let StoreError::NoSpace {
        needed, available, ..
    } = &err
    else {
        panic!("expected NoSpace, got {err}");
    };
    assert_eq!(*available, 3_000);
    assert!(*needed > 3_000);
    let text = err.to_string();
    assert!(
        text.contains("needs") && text.contains("unchanged") && text.contains("free"),
        "{text}"
    );
    assert_eq!(snapshot_tree(&s.root()), before, "nothing was written");

    let id = s.open().list_backups().expect("list").backups[1].id.clone();
    let err = tiny
        .restore(&id, RestoreOptions::default())
        .expect_err("restore refused");
    assert!(matches!(err, StoreError::NoSpace { .. }), "{err}");
    assert_eq!(snapshot_tree(&s.root()), before, "nothing was written");

    // With room to spare both go through, and the real statvfs says so.
    let roomy =
        Store::open_with(s.root(), Arc::new(common::FakeDisk::free(u64::MAX))).expect("open");
    roomy
        .restore(&id, RestoreOptions::default())
        .expect("restore");
    assert!(s.open().free_space().is_some_and(|f| f > 0));
}

#[test]
fn restoring_evidence_goes_through_the_plan_and_keeps_the_replaced_primary() {
    let s = store_with_saves(3);
    let store = s.open();
    let original = fs::read(s.primary()).expect("primary");
    let oldest = store.list_backups().expect("list").backups[2].id.clone();
    store
        .restore(&oldest, RestoreOptions::default())
        .expect("restore");
    let restored = fs::read(s.primary()).expect("primary");
    assert_ne!(restored, original);

    let listing = store
        .list_evidence(Some(graphvault::store::verify::Depth::Full))
        .expect("evidence");
    assert_eq!(listing.items.len(), 1);
    let kept = &listing.items[0];
    assert_eq!(kept.status, Some(Status::Valid));
    assert_eq!(kept.id.why(), "before-restore");
    assert_eq!(kept.size, Some(original.len() as u64));

    // The plan: a diff, nothing written.
    let before = snapshot_tree(&s.root());
    let plan = store
        .restore_evidence(
            &kept.id.to_string(),
            RestoreOptions {
                dry_run: true,
                allow_unverified: false,
            },
        )
        .expect("plan");
    assert!(plan.diff.is_some() && plan.restore.is_none());
    assert_eq!(snapshot_tree(&s.root()), before);

    // Undo the restore.
    let done = store
        .restore_evidence(&kept.id.to_string(), RestoreOptions::default())
        .expect("undo");
    assert_eq!(fs::read(s.primary()).expect("primary"), original);
    let restore = done.restore.expect("the normal restore ran");
    assert_eq!(
        restore.after.as_ref().map(|a| a.status),
        Some(Status::Valid)
    );
    assert!(
        restore
            .evidence
            .iter()
            .any(|p| fs::read(p).ok().as_deref() == Some(restored.as_slice())),
        "the primary it replaced is kept in turn"
    );
    let backup = done.backup_id.expect("saved as a backup first");
    assert_eq!(
        fs::read(s.backups().join(format!("{backup}.json"))).expect("backup"),
        original
    );
    assert_eq!(store.list_evidence(None).expect("evidence").items.len(), 2);

    let err = store
        .restore_evidence("20251020_120000_000000-../../x", RestoreOptions::default())
        .expect_err("hostile id");
    assert!(matches!(err, StoreError::InvalidBackupId { .. }), "{err}");
}

use crate::common::gv;

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn trash_and_evidence_from_the_command_line() {
    let s = store_with_saves(4);
    let root: PathBuf = s.root();
    let out = gv(
        &root,
        &["rotate", "--keep-last", "2", "--min-valid", "1", "--apply"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("moved 2 to the trash for 2w"), "{text}");
    assert!(text.contains("graphvault trash restore"), "{text}");

    let doc = json(&gv(&root, &["--json", "trash"]));
    assert_eq!(doc["command"], "trash");
    let items = doc["result"]["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    for key in [
        "id",
        "size",
        "trashed_at",
        "expires_at",
        "reasons",
        "operation",
    ] {
        assert!(!items[0][key].is_null(), "{key} missing: {}", items[0]);
    }
    let id = items[0]["id"].as_str().expect("id").to_string();

    let doc = json(&gv(&root, &["--json", "list"]));
    assert_eq!(doc["result"]["trash"]["count"], 2);
    assert!(doc["result"]["evidence"]["total_size"].is_u64());

    let before = snapshot_tree(&root);
    let out = gv(&root, &["trash", "empty"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("dry run"));
    assert_eq!(snapshot_tree(&root), before);

    // A dry run verifies the item where it lies and moves nothing.
    let before = snapshot_tree(&root);
    let out = gv(&root, &["trash", "restore", "--dry-run", &id]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("would go back to backups/ as graph_") && text.contains("valid"),
        "{text}"
    );
    assert!(text.contains("dry run: nothing was written"), "{text}");
    let doc = json(&gv(
        &root,
        &["--json", "trash", "restore", &id, "--dry-run"],
    ));
    assert_eq!(doc["result"]["items"][0]["status"], "valid", "{doc}");
    assert_eq!(snapshot_tree(&root), before, "a dry run moves nothing");

    let doc = json(&gv(&root, &["--json", "trash", "restore", &id]));
    assert_eq!(doc["ok"], true, "{doc}");
    assert_eq!(doc["result"]["restored"][0]["status"], "valid");
    let doc = json(&gv(&root, &["--json", "trash", "empty", "--apply"]));
    assert_eq!(doc["result"]["purged"].as_array().map(Vec::len), Some(1));

    let out = gv(&root, &["restore", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = json(&gv(&root, &["--json", "evidence"]));
    let kept = doc["result"]["items"].as_array().expect("items");
    assert!(!kept.is_empty());
    assert_eq!(kept[0]["status"], "valid");
    let eid = kept[0]["id"].as_str().expect("id").to_string();
    let out = gv(&root, &["evidence", "restore", &eid, "--dry-run"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("dry run: nothing was written"));
    let doc = json(&gv(&root, &["--json", "evidence", "restore", &eid]));
    assert_eq!(doc["ok"], true, "{doc}");
    assert!(
        doc["result"]["restore"]["evidence"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
    );
}

#[test]
fn a_move_to_the_trash_reads_the_backup_once() {
    let s = store_with_saves(3);
    let disk = Arc::new(common::FakeDisk::default());
    let store = Store::open_with(s.root(), disk.clone()).expect("open");
    let r = store
        .rotate(&keep_last(2), RotateOptions { dry_run: false })
        .expect("rotate");
    let gone = r.trashed[0].backup_id.clone();
    let data = s.backups().join(gone.data_file_name());
    assert!(!data.exists(), "moved to the trash");
    // Once, for the manifest's checksum. Its backup name is removed without
    // a second read: it is one inode with the trash's file.
    let reads = disk
        .reads
        .lock()
        .expect("reads")
        .iter()
        .filter(|p| **p == data)
        .count();
    assert_eq!(reads, 1);
    let item = store.trash_dir().join(format!("{}.json", r.trashed[0].id));
    assert!(item.exists(), "the trash holds it");
}

#[test]
fn a_backup_recreated_with_a_trashed_name_and_bytes_is_not_taken_for_a_remnant() {
    // Found by the benchmark: a backup hard-linked back under the name of
    // one just trashed, same bytes, was removed by the next locked open as
    // if it were what a crash left of the move.
    let s = store_with_saves(3);
    let store = s.open();
    let r = store
        .rotate(&keep_last(2), RotateOptions { dry_run: false })
        .expect("rotate");
    let gone = r.trashed[0].backup_id.clone();
    let item = store.trash_dir().join(format!("{}.json", r.trashed[0].id));
    let data = s.backups().join(gone.data_file_name());
    fs::copy(&item, &data).expect("recreate data");
    fs::copy(
        store.trash_dir().join(format!("{}.meta", r.trashed[0].id)),
        s.backups().join(gone.meta_file_name()),
    )
    .expect("recreate meta");
    drop(store.lock().expect("locked open"));
    assert!(data.exists(), "a new backup was removed as a remnant");
    assert_eq!(store.list_trash().expect("trash").items.len(), 1);
}

/// An invalid `trash_grace` in the store's config is named as such, with
/// the file and the value (before, it was "invalid retention policy"), and
/// nothing is purged from the trash on the default grace, which is only a
/// guess (before, a rotation purged on it).
#[test]
fn an_invalid_trash_grace_is_named_and_nothing_is_purged_on_a_guess() {
    let s = store_with_saves(3);
    set_config(&s, keep_last(1), chrono::Duration::minutes(1));
    let store = s.open();
    save_at(&store, local(2025, 10, 10, 12), "a", true);
    assert_eq!(store.list_trash().expect("trash").items.len(), 3);
    // A backup dated well after any grace, so history vouches for expiry.
    save_at(&store, local(2025, 12, 1, 12), "b", false);

    let config = s.root().join(".graphvault/config.json");
    let mut doc: serde_json::Value =
        serde_json::from_slice(&fs::read(&config).expect("config")).expect("json");
    doc["trash_grace"] = serde_json::Value::from("banana");
    fs::write(&config, serde_json::to_vec_pretty(&doc).expect("json")).expect("write");

    let store = s.open();
    let problem = store
        .config_problem()
        .expect("a config problem")
        .to_string();
    assert!(
        problem.contains("trash_grace")
            && problem.contains("\"banana\"")
            && problem.contains(&config.display().to_string())
            && !problem.contains("retention policy"),
        "{problem}"
    );
    let r = store
        .rotate(&keep_last(1), RotateOptions { dry_run: false })
        .expect("rotate");
    assert!(
        r.purged.is_empty(),
        "purged on a guessed grace: {:?}",
        r.purged
    );
    let note = r.purge_note.unwrap_or_default();
    assert!(
        note.contains("trash_grace") && note.contains("nothing was purged"),
        "{note}"
    );
    let trash = store.list_trash().expect("trash");
    assert!(trash.items.len() >= 3, "{:?}", trash.items);
    assert!(trash.grace_problem.is_some());

    // check reports the purge as not run, and fails.
    let before = store.list_trash().expect("trash").items.len();
    let out = gv(&s.root(), &["check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(5), "{text}");
    assert!(
        text.contains("purge_trash") && text.contains("not run"),
        "{text}"
    );
    assert_eq!(store.list_trash().expect("trash").items.len(), before);
}
