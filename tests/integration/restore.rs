use std::fs;

use graphvault::store::StoreError;
use graphvault::store::names::BackupId;
use graphvault::store::restore::RestoreOptions;
use graphvault::store::verify::{Depth, Status, Target};

use crate::common::{self, snapshot_tree};

const REAL: RestoreOptions = RestoreOptions {
    dry_run: false,
    allow_unverified: false,
};

#[test]
fn restore_replaces_primary_keeps_evidence_and_reverifies() {
    let s = common::app_store();
    let store = s.open();
    let old_primary = fs::read(s.primary()).expect("primary");
    let backup = fs::read(s.backups().join("graph_20251003_100000.json")).expect("backup");
    let r = store
        .restore(&bid("graph_20251003_100000"), REAL)
        .expect("restore");
    assert_eq!(
        fs::read(s.primary()).expect("new primary"),
        backup,
        "bytes in, bytes out"
    );
    assert_eq!((r.node_count, r.edge_count), (4, 3));
    assert_eq!(r.after.as_ref().map(|a| a.status), Some(Status::Valid));
    assert_eq!(
        store
            .verify(&Target::Primary, Depth::Full)
            .expect("verify")
            .status,
        Status::Valid
    );
    // The old primary and its meta are kept byte for byte.
    assert_eq!(r.evidence.len(), 2);
    assert_eq!(fs::read(&r.evidence[0]).expect("evidence"), old_primary);
    let diff = r.diff.expect("diff against the old primary");
    assert_eq!(diff.nodes_removed, vec!["N4".to_string()]);
    // The backup itself is untouched.
    assert_eq!(
        fs::read(s.backups().join("graph_20251003_100000.json")).expect("backup"),
        backup
    );
}

#[test]
fn dry_run_changes_nothing() {
    let s = common::app_store();
    let before = snapshot_tree(&s.root());
    let r = s
        .open()
        .restore(
            &bid("graph_20251001_100000"),
            RestoreOptions {
                dry_run: true,
                allow_unverified: false,
            },
        )
        .expect("dry run");
    assert!(r.dry_run && r.evidence.is_empty() && r.after.is_none());
    assert_eq!(r.diff.expect("diff").nodes_removed.len(), 3);
    assert_eq!(snapshot_tree(&s.root()), before);
}

#[test]
fn restore_refuses_a_corrupt_backup_and_leaves_the_primary() {
    let s = common::app_store();
    let path = s.backups().join("graph_20251003_100000.json");
    let mut bytes = fs::read(&path).expect("read");
    bytes[10] ^= 0x20;
    fs::write(&path, bytes).expect("corrupt backup");
    let before = snapshot_tree(&s.root());
    let err = s
        .open()
        .restore(&bid("graph_20251003_100000"), REAL)
        .expect_err("refused");
    // The refusal carries the verification that refused it, for a row.
    assert!(
        matches!(&err, StoreError::RestoreRefused { report, .. } if report.failed_level.is_some()),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("refused") && msg.contains("primary is unchanged") && msg.contains("checksum"),
        "{msg}"
    );
    assert_eq!(snapshot_tree(&s.root()), before);
}

#[test]
fn unverified_backups_need_an_explicit_flag() {
    let s = common::app_store();
    let err = s
        .open()
        .restore(&bid("graph_20251003_100500"), REAL)
        .expect_err("no meta");
    assert!(
        matches!(err, StoreError::BackupUnverified { .. }),
        "a typed refusal: {err}"
    );
    assert!(!err.to_string().contains("--"), "no CLI flags: {err}");
    s.open()
        .restore(
            &bid("graph_20251003_100500"),
            RestoreOptions {
                dry_run: false,
                allow_unverified: true,
            },
        )
        .expect("allowed");
}

#[test]
fn hostile_ids_are_refused_before_touching_anything() {
    let s = common::app_store();
    let outside = s.dir.path().join("evil.json");
    fs::write(&outside, common::app_graph(2, 2, false, "")).expect("outside");
    std::os::unix::fs::symlink(&outside, s.backups().join("graph_20251009_000000.json"))
        .expect("symlink");
    let before = snapshot_tree(&s.root());
    for id in [
        "../evil",
        "/etc/passwd",
        "graph_20251003_100000/../../x",
        "graph_x",
        "",
        "graph_20251003_100000.json",
    ] {
        let err = id.parse::<BackupId>().expect_err(id);
        assert!(
            matches!(err, StoreError::InvalidBackupId { .. }),
            "{id}: {err}"
        );
    }
    let err = s
        .open()
        .restore(&bid("graph_20991231_000000"), REAL)
        .expect_err("absent");
    assert!(matches!(err, StoreError::NoSuchBackup { .. }), "{err}");
    let err = s
        .open()
        .restore(&bid("graph_20251009_000000"), REAL)
        .expect_err("symlink");
    assert!(err.to_string().contains("symlink"), "{err}");
    assert_eq!(snapshot_tree(&s.root()), before);
}

fn bid(s: &str) -> BackupId {
    s.parse().expect("a well-formed id")
}

/// `restore --dry-run` from the command line, as text.
fn dry_run_text(s: &common::AppStore, id: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_graphvault"))
        .arg("--store")
        .arg(s.root())
        .args(["restore", id, "--dry-run"])
        .output()
        .expect("run graphvault");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_restore_plan_says_what_it_keeps_and_why_there_is_no_diff_as_the_store_found_it() {
    let s = common::app_store();
    let id = "graph_20251003_100000";
    // A primary that fails its checksum but parses: a diff, no claim that
    // it "cannot be parsed", and it is kept.
    let text = fs::read_to_string(s.primary()).expect("primary");
    fs::write(
        s.primary(),
        text.replacen("\"price\": 101.5", "\"price\": 999.5", 1),
    )
    .expect("edit");
    let r = s
        .open()
        .restore(
            &bid(id),
            RestoreOptions {
                dry_run: true,
                allow_unverified: false,
            },
        )
        .expect("plan");
    assert_eq!(r.previous_primary.status, Status::Corrupt);
    assert!(r.diff.is_some() && r.no_diff.is_none(), "{:?}", r.no_diff);
    let cli = dry_run_text(&s, id);
    assert!(cli.contains("changes from the previous primary"), "{cli}");
    assert!(cli.contains("will be kept in"), "{cli}");
    assert!(!cli.contains("could not be parsed"), "{cli}");
    // The primary deleted: nothing to compare, nothing to keep.
    fs::remove_file(s.primary()).expect("delete");
    fs::remove_file(s.primary_meta()).expect("delete meta");
    let cli = dry_run_text(&s, id);
    assert!(cli.contains("no diff: there is no graph.json"), "{cli}");
    assert!(cli.contains("there is no graph.json to keep"), "{cli}");
    assert!(!cli.contains("will be kept"), "{cli}");
}
