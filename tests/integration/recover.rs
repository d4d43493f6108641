use std::fs;

use graphvault::store::StoreError;
use graphvault::store::recover::{
    Lost, PlanOptions, RecoverFromOptions, RecoverOptions, RecoveryWarning, Source,
};
use graphvault::store::verify::{Depth, Level, Status, Target};

use crate::common::{self, snapshot_tree};

const REAL: RecoverOptions = RecoverOptions { dry_run: false };

fn backup_id(s: &str) -> Source {
    Source::Backup(s.parse().expect("id"))
}

#[test]
fn a_valid_primary_is_loaded_and_nothing_is_written() {
    let s = common::app_store();
    let before = snapshot_tree(&s.root());
    let (graph, report) = s.open().load_with_recovery(REAL).expect("load");
    assert_eq!(report.source, Source::Primary);
    assert_eq!(graph.expect("graph").node_count(), 5);
    assert_eq!(snapshot_tree(&s.root()), before);
}

#[test]
fn a_missing_primary_is_recovered_from_the_newest_valid_backup() {
    let s = common::app_store();
    fs::remove_file(s.primary()).expect("rm");
    let (graph, report) = s.open().load_with_recovery(REAL).expect("recover");
    // The newest backup has no meta (unverified): skipped, the next is valid.
    assert_eq!(report.source, backup_id("graph_20251003_100000"));
    assert_eq!(report.candidates.len(), 2);
    assert_eq!(report.candidates[0].status, Status::Unverified);
    assert_eq!(graph.expect("graph").node_count(), 4);
    assert_eq!(
        s.open()
            .verify(&Target::Primary, Depth::Full)
            .expect("verify")
            .status,
        Status::Valid
    );
    assert!(report.primary_failure.expect("why").contains("missing"));
}

#[test]
fn recovery_skips_corrupt_newest_backups_and_keeps_the_damaged_primary() {
    let s = common::app_store();
    let damaged = b"{\"nodes\": {".to_vec();
    fs::write(s.primary(), &damaged).expect("truncate primary");
    fs::write(s.backups().join("graph_20251003_100000.json"), b"garbage")
        .expect("corrupt newest valid");
    let (graph, report) = s.open().load_with_recovery(REAL).expect("recover");
    assert_eq!(report.source, backup_id("graph_20251002_100000"));
    assert_eq!(graph.expect("graph").node_count(), 3);
    let statuses: Vec<Status> = report.candidates.iter().map(|c| c.status).collect();
    assert_eq!(
        statuses,
        [Status::Unverified, Status::Corrupt, Status::Valid]
    );
    assert_eq!(report.candidates[1].failed_level, Some(Level::Checksum));
    let restore = report.restore.expect("restore report");
    assert_eq!(
        fs::read(&restore.evidence[0]).expect("evidence"),
        damaged,
        "damaged primary kept"
    );
}

#[test]
fn a_primary_without_meta_that_parses_is_kept_with_a_warning() {
    let s = common::app_store();
    fs::remove_file(s.primary_meta()).expect("rm meta");
    let before = fs::read(s.primary()).expect("primary");
    let (graph, report) = s.open().load_with_recovery(REAL).expect("load");
    assert_eq!(report.source, Source::Primary);
    assert!(graph.is_some());
    assert!(matches!(
        report.warnings[0],
        RecoveryWarning::PrimaryWithoutMeta { .. }
    ));
    assert_eq!(fs::read(s.primary()).expect("primary"), before);
}

#[test]
fn a_primary_without_meta_that_does_not_parse_is_recovered() {
    let s = common::app_store();
    fs::remove_file(s.primary_meta()).expect("rm meta");
    fs::write(s.primary(), b"{ not json").expect("garbage");
    let (_, report) = s.open().load_with_recovery(REAL).expect("recover");
    assert_eq!(report.source, backup_id("graph_20251003_100000"));
}

#[test]
fn nothing_recoverable_writes_and_deletes_nothing_and_lists_every_candidate() {
    let s = common::app_store();
    fs::write(s.primary(), b"").expect("empty primary");
    for e in fs::read_dir(s.backups()).expect("ls").flatten() {
        if e.file_name().to_string_lossy().ends_with(".json") {
            fs::write(e.path(), b"\x00\x01 not json").expect("corrupt");
        }
    }
    let before = snapshot_tree(&s.root());
    let (graph, report) = s.open().load_with_recovery(REAL).expect("report");
    assert!(graph.is_none());
    assert_eq!(report.source, Source::Nothing);
    assert_eq!(report.candidates.len(), 4);
    assert!(report.candidates.iter().all(|c| c.reason.is_some()));
    assert_eq!(snapshot_tree(&s.root()), before);
}

#[test]
fn dry_run_recovery_writes_nothing() {
    let s = common::app_store();
    fs::remove_file(s.primary()).expect("rm");
    let before = snapshot_tree(&s.root());
    let (_, report) = s
        .open()
        .load_with_recovery(RecoverOptions { dry_run: true })
        .expect("dry run");
    assert_eq!(report.source, backup_id("graph_20251003_100000"));
    assert_eq!(snapshot_tree(&s.root()), before);
}

#[test]
fn a_primary_beside_a_stale_meta_is_kept_and_the_report_says_it_may_be_newer() {
    let s = common::app_store();
    // New data written, meta not updated: what the application leaves when
    // it crashes between the two files.
    let newer = common::app_graph(6, 2, false, "newer");
    fs::write(s.primary(), &newer).expect("newer graph");
    let (_, report) = s.open().load_with_recovery(REAL).expect("recover");
    assert!(matches!(report.source, Source::Backup(_)));
    let kept_at = report
        .warnings
        .iter()
        .find_map(|w| match w {
            RecoveryWarning::StaleMeta { kept_at } => Some(kept_at.clone()),
            _ => None,
        })
        .expect("warned");
    let evidence = &report.restore.expect("restore").evidence[0];
    assert_eq!(kept_at.as_ref(), Some(evidence), "the warning says where");
    assert_eq!(fs::read(evidence).expect("kept"), newer.as_bytes());
}

#[test]
fn a_broken_config_does_not_block_verify_or_recover() {
    let s = common::app_store();
    fs::create_dir_all(s.root().join(".graphvault")).expect("dir");
    fs::write(
        s.root().join(".graphvault/config.json"),
        "{\"retention\": {\"keep_lats\": 3}}",
    )
    .expect("typo");
    let store = s.open();
    assert!(store.config_problem().is_some());
    fs::remove_file(s.primary()).expect("rm");
    let (graph, _) = store
        .load_with_recovery(REAL)
        .expect("recover despite the config");
    assert!(graph.is_some());
    // A save still works; retention is skipped and says why.
    let report = store
        .save_graph_with_backup(&graph.expect("graph"))
        .expect("save");
    assert!(
        report
            .rotation_error
            .expect("skipped")
            .contains("retention skipped")
    );
}

#[test]
fn recovery_from_a_future_dated_backup_says_so() {
    let s = common::app_store();
    let text = common::app_graph(3, 2, false, "future");
    s.add_backup("20991231_120000", &text, common::MetaName::Meta);
    fs::remove_file(s.primary()).expect("rm");
    let (_, report) = s.open().load_with_recovery(REAL).expect("recover");
    assert_eq!(report.source, backup_id("graph_20991231_120000"));
    assert!(
        report
            .warnings
            .iter()
            .any(|w| matches!(w, RecoveryWarning::FutureDated { .. })),
        "{:?}",
        report.warnings
    );
}

/// The primary's bytes are the newest valid backup's; then it is damaged.
fn primary_equal_to_the_newest_valid_backup() -> common::AppStore {
    let s = common::app_store();
    s.write_primary(&common::app_graph(4, 2, true, "c"), true);
    s
}

#[test]
fn nothing_is_lost_after_a_truncation_when_the_meta_matches_the_backup() {
    let s = primary_equal_to_the_newest_valid_backup();
    let bytes = fs::read(s.primary()).expect("read");
    fs::write(s.primary(), &bytes[..bytes.len() / 3]).expect("truncate");
    let (_, report) = s.open().load_with_recovery(REAL).expect("recover");
    assert_eq!(report.source, backup_id("graph_20251003_100000"));
    assert_eq!(report.lost, Some(Lost::SameChecksum), "no false alarm");
}

/// Flips a bit inside a node's value (101.5 becomes 100.5): the file still parses,
/// only the checksum tells.
fn flip_a_price_bit(s: &common::AppStore) {
    let mut bytes = fs::read(s.primary()).expect("read");
    let at = bytes
        .windows(5)
        .position(|w| w == b"101.5")
        .expect("a price")
        + 2;
    bytes[at] ^= 0x01;
    fs::write(s.primary(), &bytes).expect("flip");
}

#[test]
fn a_bit_flipped_node_is_not_reported_as_changed() {
    let s = primary_equal_to_the_newest_valid_backup();
    flip_a_price_bit(&s);
    let (_, report) = s.open().load_with_recovery(REAL).expect("recover");
    assert!(matches!(report.source, Source::Backup(_)));
    assert_eq!(report.lost, Some(Lost::SameChecksum), "{:?}", report.lost);
}

/// The same bit flip through the command line: "nothing lost" is said only on the
/// condition it rests on, since the damaged file still parses and its meta may be stale.
#[test]
fn nothing_lost_beside_the_stale_meta_warning_is_said_with_its_condition() {
    let s = primary_equal_to_the_newest_valid_backup();
    flip_a_price_bit(&s);
    let out = common::gv(&s.root(), &["recover"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("lost: nothing, if graph.json.meta was current"),
        "{text}"
    );
    assert!(text.contains("warning: "), "{text}");
    assert!(!text.contains("byte for byte"), "{text}");

    // A truncated primary does not parse: nothing is lost, without a condition.
    let s = primary_equal_to_the_newest_valid_backup();
    let bytes = fs::read(s.primary()).expect("read");
    fs::write(s.primary(), &bytes[..bytes.len() / 3]).expect("truncate");
    let out = common::gv(&s.root(), &["recover"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("lost: nothing: the damaged primary's meta records"),
        "{text}"
    );
}

#[test]
fn what_was_lost_is_the_diff_when_the_primary_parses_and_differs() {
    let s = common::app_store();
    // Newer data beside its own meta, then a bit flipped: the meta's
    // checksum is not any backup's, and the damaged file still parses.
    let mut bytes = fs::read(s.primary()).expect("read");
    let at = bytes
        .windows(5)
        .position(|w| w == b"101.5")
        .expect("a price")
        + 2;
    bytes[at] ^= 0x01;
    fs::write(s.primary(), &bytes).expect("flip");
    let (_, report) = s.open().load_with_recovery(REAL).expect("recover");
    match report.lost {
        Some(Lost::Changes {
            diff,
            primary_damaged,
        }) => {
            assert!(primary_damaged, "the damaged primary is flagged");
            assert!(!diff.nodes_removed.is_empty(), "{diff:?}");
        }
        other => panic!("expected the diff, got {other:?}"),
    }
}

#[test]
fn a_plan_writes_nothing_and_recover_from_restores_the_chosen_candidate() {
    let s = common::app_store();
    fs::remove_file(s.primary()).expect("rm");
    let store = s.open();
    let before = snapshot_tree(&s.root());
    let never = std::sync::atomic::AtomicBool::new(false);
    let plan = store
        .plan_recovery(
            PlanOptions {
                every_candidate: true,
            },
            &never,
            &|_| {},
        )
        .expect("plan");
    assert_eq!(snapshot_tree(&s.root()), before, "a plan writes nothing");
    assert_eq!(plan.candidates.len(), 4, "every backup checked");
    assert!(plan.complete);
    let newest: graphvault::store::names::BackupId = "graph_20251003_100000".parse().expect("id");
    assert_eq!(plan.recommended.as_ref(), Some(&newest));
    // An older one than the recommendation: the report says what that costs.
    let older = "graph_20251001_100000".parse().expect("id");
    let report = store
        .recover_from(&plan, &older, RecoverFromOptions::default())
        .expect("recover");
    assert_eq!(report.source, Source::Backup(older));
    assert!(
        report
            .warnings
            .iter()
            .any(|w| matches!(w, RecoveryWarning::OlderThanNewestValid { .. })),
        "{:?}",
        report.warnings
    );
    assert!(
        matches!(report.lost, Some(Lost::Unknown { .. })),
        "no primary"
    );
    // A backup without a meta is a typed refusal unless accepted.
    let unverified = "graph_20251003_100500".parse().expect("id");
    let err = store
        .recover_from(&plan, &unverified, RecoverFromOptions::default())
        .expect_err("refused");
    assert!(matches!(err, StoreError::BackupUnverified { .. }), "{err}");
}

/// A primary that is gone, or is a sparse file of a gigabyte, beside a meta
/// that names the restored backup's content: nothing was lost, and the meta
/// says so. (It was "unknown: there was no primary and no meta to compare
/// with", and the sparse file was read whole to be compared.) A directory in
/// its place is refused before anything is planned as written:
/// `cli::a_directory_at_graph_json_is_refused_before_anything_is_kept`.
#[test]
fn a_primary_judged_at_the_file_level_still_has_its_meta_compared() {
    for damage in ["missing", "sparse"] {
        let s = primary_equal_to_the_newest_valid_backup();
        match damage {
            "missing" => fs::remove_file(s.primary()).expect("rm"),
            _ => fs::OpenOptions::new()
                .write(true)
                .open(s.primary())
                .and_then(|f| f.set_len(1 << 30))
                .expect("sparse"),
        }
        let report = s
            .open()
            .recover_reporting(RecoverOptions { dry_run: true }, &|_| {})
            .expect("plan");
        assert_eq!(
            report.source,
            backup_id("graph_20251003_100000"),
            "{damage}"
        );
        assert_eq!(report.lost, Some(Lost::SameChecksum), "{damage}");
    }
}

/// The memo's directory replaced by a file blocks nothing: the caches ignore it,
/// and recovery restores as it would without it.
#[test]
fn a_memo_that_is_a_file_does_not_block_recovery() {
    let s = primary_equal_to_the_newest_valid_backup();
    let memo = s.root().join(".graphvault/memo");
    fs::create_dir_all(s.root().join(".graphvault")).expect("state dir");
    let _ = fs::remove_dir_all(&memo);
    fs::write(&memo, "not a directory").expect("file");
    let bytes = fs::read(s.primary()).expect("read");
    fs::write(s.primary(), &bytes[..bytes.len() / 2]).expect("truncate");
    let (_, report) = s.open().load_with_recovery(REAL).expect("recover");
    assert_eq!(report.source, backup_id("graph_20251003_100000"));
    assert_eq!(fs::read(&memo).expect("memo file"), b"not a directory");
}

/// After a deliberate restore of an older backup, a damaged primary is
/// recovered to the newest backup that verifies, as always, and the report
/// says that this undoes the rollback, naming the backup the primary had.
/// Before, nothing said so (red-team F4).
#[test]
fn recovery_that_undoes_a_rollback_says_so_and_names_the_backup_the_primary_had() {
    let s = common::app_store();
    let rolls_forward = |warnings: &[RecoveryWarning]| {
        warnings
            .iter()
            .filter(|w| matches!(w, RecoveryWarning::RollsForward { .. }))
            .count()
    };
    // Control: a damaged primary that was never rolled back.
    fs::write(s.primary(), b"{\"nodes\": {").expect("damage");
    let dry = RecoverOptions { dry_run: true };
    let (_, report) = s.open().load_with_recovery(dry).expect("dry run");
    assert_eq!(report.source, backup_id("graph_20251003_100000"));
    assert_eq!(rolls_forward(&report.warnings), 0, "{:?}", report.warnings);

    let older: graphvault::store::names::BackupId = "graph_20251002_100000".parse().expect("id");
    s.open()
        .restore(
            &older,
            graphvault::store::restore::RestoreOptions::default(),
        )
        .expect("deliberate restore of the older backup");
    fs::write(s.primary(), b"{\"nodes\": {").expect("damage after the rollback");
    let out = common::gv(&s.root(), &["recover", "--dry-run"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("rolled back to graph_20251002_100000")
            && text.contains("graphvault restore graph_20251002_100000"),
        "{text}"
    );
    let (graph, report) = s.open().load_with_recovery(REAL).expect("recover");
    assert_eq!(report.source, backup_id("graph_20251003_100000"));
    assert_eq!(graph.expect("graph").node_count(), 4);
    assert!(
        report.warnings.contains(&RecoveryWarning::RollsForward {
            chosen: "graph_20251003_100000".parse().expect("id"),
            primary_had: older.clone(),
        }),
        "{:?}",
        report.warnings
    );
}
