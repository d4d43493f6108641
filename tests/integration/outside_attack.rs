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
    let store = s.open();
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
