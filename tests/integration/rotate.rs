use std::fs;

use graphvault::store::retention::{Action, RetentionPolicy};
use std::sync::atomic::{AtomicBool, Ordering};

use graphvault::store::StoreError;
use graphvault::store::rotate::{RotateControl, RotateOptions, RotateStep};

use crate::common::{self, MetaName, snapshot_tree};

fn store_with_backups(n: usize) -> common::AppStore {
    let s = common::empty_store();
    fs::create_dir_all(s.backups()).expect("dir");
    for i in 0..n {
        let text = common::app_graph(2 + i, 2, false, &i.to_string());
        s.add_backup(&format!("202510{:02}_120000", i + 1), &text, MetaName::Meta);
    }
    fs::create_dir_all(s.backups().join("20251001_161329")).expect("stray");
    fs::write(s.backups().join(".gitkeep"), "").expect("gitkeep");
    s
}

fn policy(keep_last: Option<u32>, min_valid: u32) -> RetentionPolicy {
    RetentionPolicy {
        keep_last,
        keep_within: None,
        min_valid,
        ..Default::default()
    }
}

#[test]
fn dry_run_by_default_lists_decisions_with_reasons_and_deletes_nothing() {
    let s = store_with_backups(6);
    let before = snapshot_tree(&s.root());
    let r = s
        .open()
        .rotate(&policy(Some(2), 2), RotateOptions { dry_run: true })
        .expect("plan");
    assert_eq!((r.plan.kept, r.plan.removed), (2, 4));
    assert!(r.plan.decisions.iter().all(|d| !d.reasons.is_empty()));
    assert_eq!(snapshot_tree(&s.root()), before);
}

#[test]
fn apply_removes_data_and_meta_and_never_touches_other_files() {
    let s = store_with_backups(6);
    let r = s
        .open()
        .rotate(&policy(Some(2), 2), RotateOptions { dry_run: false })
        .expect("apply");
    assert_eq!(r.removed_files.len(), 8);
    let left: Vec<String> = s
        .open()
        .list_backups()
        .expect("list")
        .backups
        .iter()
        .map(|b| b.id.to_string())
        .collect();
    assert_eq!(left, ["graph_20251006_120000", "graph_20251005_120000"]);
    assert!(s.backups().join(".gitkeep").exists());
    assert!(s.backups().join("20251001_161329").is_dir());
}

#[test]
fn corrupt_backups_are_kept_and_do_not_count() {
    let s = store_with_backups(5);
    // Corrupt the two newest: the two kept must be the newest *valid* ones.
    for id in ["graph_20251005_120000", "graph_20251004_120000"] {
        fs::write(s.backups().join(format!("{id}.json")), b"{}").expect("corrupt");
    }
    let r = s
        .open()
        .rotate(&policy(Some(2), 2), RotateOptions { dry_run: false })
        .expect("apply");
    let kept: Vec<String> = r
        .plan
        .decisions
        .iter()
        .filter(|d| d.action == Action::Keep)
        .map(|d| d.id.to_string())
        .collect();
    assert_eq!(
        kept,
        [
            "graph_20251005_120000",
            "graph_20251004_120000",
            "graph_20251003_120000",
            "graph_20251002_120000"
        ]
    );
    let corrupt = &r.plan.decisions[0];
    assert!(
        corrupt.reasons.iter().any(|x| x.contains("corrupt")),
        "{:?}",
        corrupt.reasons
    );
    assert!(s.backups().join("graph_20251005_120000.json").exists());
    assert!(!s.backups().join("graph_20251001_120000.json").exists());
}

#[test]
fn empty_and_zero_policies_are_refused() {
    let s = store_with_backups(3);
    let before = snapshot_tree(&s.root());
    let empty = RetentionPolicy {
        keep_last: None,
        keep_within: None,
        min_valid: 3,
        ..Default::default()
    };
    assert!(
        s.open()
            .rotate(&empty, RotateOptions { dry_run: false })
            .is_err()
    );
    assert!(
        s.open()
            .rotate(&policy(Some(0), 3), RotateOptions { dry_run: false })
            .is_err()
    );
    assert!(
        s.open()
            .rotate(&policy(Some(1), 0), RotateOptions { dry_run: false })
            .is_err()
    );
    assert_eq!(snapshot_tree(&s.root()), before);
}

#[test]
fn the_floor_keeps_valid_backups_even_when_the_window_is_tiny() {
    let s = store_with_backups(6);
    let tiny = RetentionPolicy {
        keep_within: Some(chrono::Duration::minutes(1)),
        min_valid: 3,
        ..Default::default()
    };
    let r = s
        .open()
        .rotate(&tiny, RotateOptions { dry_run: false })
        .expect("apply");
    assert_eq!(r.plan.kept_valid, 3);
    assert_eq!(s.open().list_backups().expect("list").backups.len(), 3);
}

#[test]
fn a_backup_whose_checksum_matches_but_does_not_parse_does_not_count() {
    let s = store_with_backups(5);
    // The three newest: broken JSON with a recomputed meta (a buggy writer).
    for id in [
        "graph_20251005_120000",
        "graph_20251004_120000",
        "graph_20251003_120000",
    ] {
        let broken = b"{\"nodes\": {";
        fs::write(s.backups().join(format!("{id}.json")), broken).expect("break");
        fs::write(
            s.backups().join(format!("{id}.meta")),
            common::app_meta(broken, None),
        )
        .expect("meta");
    }
    let r = s
        .open()
        .rotate(&policy(Some(1), 1), RotateOptions { dry_run: false })
        .expect("apply");
    assert_eq!(r.plan.kept_valid, 1);
    // The newest backup that truly verifies is kept, and so are the broken ones.
    assert!(s.backups().join("graph_20251002_120000.json").exists());
    assert!(s.backups().join("graph_20251005_120000.json").exists());
    assert!(!s.backups().join("graph_20251001_120000.json").exists());
}

#[test]
fn a_confirmed_rotation_removes_only_what_was_confirmed() {
    let s = store_with_backups(6);
    let store = s.open();
    let preview = store
        .rotate(&policy(Some(2), 2), RotateOptions { dry_run: true })
        .expect("plan");
    assert_eq!(preview.plan.removed, 4);
    // The user saw (and confirmed) only two of the four removals.
    let confirmed: Vec<_> = preview
        .plan
        .decisions
        .iter()
        .filter(|d| d.action == Action::Remove)
        .take(2)
        .map(|d| d.id.clone())
        .collect();
    let r = store
        .rotate_confirmed(&policy(Some(2), 2), &confirmed, RotateControl::none())
        .expect("apply");
    assert_eq!((r.plan.removed, r.plan.kept), (2, 4));
    assert!(r.plan.decisions.iter().any(|d| {
        d.reasons
            .iter()
            .any(|x| x.contains("not among the backups confirmed"))
    }));
    for id in &confirmed {
        assert!(!s.backups().join(format!("{id}.json")).exists());
    }
    assert_eq!(store.list_backups().expect("list").backups.len(), 4);
}

#[test]
fn a_rotation_stopped_while_moving_keeps_what_it_moved_and_says_so() {
    let s = store_with_backups(6);
    let cancel = AtomicBool::new(false);
    // Asked to stop as soon as the first backup has gone to the trash.
    let stop_after_first = |p: graphvault::store::rotate::RotateProgress| {
        if p.step == RotateStep::Trashing && p.done == 1 {
            cancel.store(true, Ordering::Relaxed);
        }
    };
    let r = s
        .open()
        .rotate_reporting(
            &policy(Some(2), 2),
            RotateOptions { dry_run: false },
            RotateControl {
                cancel: &cancel,
                progress: &stop_after_first,
            },
        )
        .expect("stopped, not failed");
    assert!(r.cancelled);
    assert_eq!(r.plan.removed, 4);
    // Stopped between two files: the one moved stays in the trash, the
    // other three removals stay in backups/.
    assert_eq!(r.trashed.len(), 1);
    assert_eq!(s.open().list_backups().expect("list").backups.len(), 5);
}

#[test]
fn a_rotation_stopped_while_reading_moves_nothing() {
    let s = store_with_backups(6);
    let before = snapshot_tree(&s.root());
    let cancel = AtomicBool::new(true);
    let err = s
        .open()
        .rotate_reporting(
            &policy(Some(2), 2),
            RotateOptions { dry_run: false },
            RotateControl {
                cancel: &cancel,
                progress: &|_| {},
            },
        )
        .expect_err("cancelled");
    assert!(matches!(err, StoreError::Cancelled { .. }), "{err}");
    assert!(err.to_string().contains("nothing was moved"), "{err}");
    assert_eq!(snapshot_tree(&s.root()), before);
}
