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
    assert!(matches!(err, StoreError::VerifyFailed { .. }), "{err}");
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
