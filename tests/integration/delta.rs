//! Delta backups: a zstd frame against the newest full backup's plain
//! JSON, read through it by every reader; a full backup every K and
//! whenever a delta would not save much; retention keeps a base while a
//! kept delta needs it; the base's faults caught, naming it.

use std::fs;

use chrono::TimeZone;
use graphvault::graph::KnowledgeGraph;
use graphvault::store::Store;
use graphvault::store::codec::StoredForm;
use graphvault::store::corrupt::CorruptionKind;
use graphvault::store::recover::RecoverOptions;
use graphvault::store::restore::RestoreOptions;
use graphvault::store::retention::RetentionPolicy;
use graphvault::store::rotate::RotateOptions;
use graphvault::store::save::{SaveOptions, SaveReport};
use graphvault::store::verify::{Depth, Level, Status, Target};

use crate::common::{self, sha256};

pub(crate) fn at(day: u32) -> chrono::DateTime<chrono::Local> {
    chrono::Local
        .with_ymd_and_hms(2025, 10, day, 12, 0, 0)
        .earliest()
        .expect("local time")
}

/// The same large graph each day, with one node more: what a delta is for.
pub(crate) fn day_graph(day: u32) -> KnowledgeGraph {
    let mut g = KnowledgeGraph::from_slice(common::app_graph(300, 2, false, "same").as_bytes())
        .expect("graph");
    for d in 1..=day {
        g.add_node(
            "stock",
            serde_json::json!({"symbol": format!("D{d}"), "price": f64::from(d)}),
            Some(&format!("DAY{d}")),
        );
    }
    g
}

fn save_on(store: &Store, day: u32) -> SaveReport {
    store
        .save_with(
            &day_graph(day),
            &SaveOptions {
                rotate: false,
                at: Some(at(day)),
            },
        )
        .expect("save")
}

fn with_deltas(s: &common::AppStore, full_every: u32) -> Store {
    let mut store = s.open();
    store.set_setting("compression", "zstd").expect("set");
    store.set_setting("deltas", "on").expect("set");
    store
        .set_setting("full-every", &full_every.to_string())
        .expect("set");
    store
}

fn form_of(store: &Store, r: &SaveReport) -> StoredForm {
    store
        .list_backups()
        .expect("list")
        .backups
        .into_iter()
        .find(|b| b.id == r.backup_id)
        .expect("listed")
        .form
}

#[test]
fn deltas_depend_on_one_full_backup_and_a_full_one_comes_every_k() {
    let s = common::empty_store();
    let store = with_deltas(&s, 3);
    let saves: Vec<SaveReport> = (1..=5).map(|d| save_on(&store, d)).collect();
    let forms: Vec<StoredForm> = saves.iter().map(|r| form_of(&store, r)).collect();
    assert_eq!(
        forms,
        vec![
            StoredForm::Zstd,
            StoredForm::Delta,
            StoredForm::Delta,
            StoredForm::Zstd,
            StoredForm::Delta
        ]
    );
    let listing = store.list_backups().expect("list");
    for b in &listing.backups {
        if let Some(base) = &b.delta_base {
            let base_info = listing
                .backups
                .iter()
                .find(|x| &x.id == base)
                .expect("the base is there");
            assert!(base_info.form.is_full(), "never a chain");
        }
    }
    // Deltas are small beside a full backup, and the application's glob
    // sees none of it.
    let full = listing
        .backups
        .iter()
        .find(|b| b.id == saves[0].backup_id)
        .expect("full");
    let delta = listing
        .backups
        .iter()
        .find(|b| b.id == saves[1].backup_id)
        .expect("delta");
    assert!(
        delta.size.expect("size") * 10 < full.size.expect("size"),
        "{delta:?} {full:?}"
    );
    assert!(
        !fs::read_dir(s.backups())
            .expect("list")
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".json"))
    );
    // Every one verifies and restores through its base.
    for r in &saves {
        let v = store
            .verify(&Target::Backup(r.backup_id.clone()), Depth::Full)
            .expect("verify");
        assert_eq!(v.status, Status::Valid, "{:?}", v.reason);
        assert_eq!(v.actual_checksum.as_deref(), Some(r.checksum.as_str()));
    }
    store
        .restore(&saves[2].backup_id, RestoreOptions::default())
        .expect("restore a delta");
    assert_eq!(
        sha256(&fs::read(s.primary()).expect("primary")),
        saves[2].checksum
    );
    let diff = store
        .diff(
            &Target::Backup(saves[1].backup_id.clone()),
            &Target::Backup(saves[2].backup_id.clone()),
        )
        .expect("diff of two deltas");
    assert_eq!(diff.new_size, saves[2].size);
}

#[test]
fn a_delta_that_would_not_save_much_is_written_full() {
    let s = common::empty_store();
    let store = with_deltas(&s, 10);
    save_on(&store, 1);
    // An unrelated graph of digests: a delta against day 1 saves little.
    let mut other = KnowledgeGraph::new(2);
    for i in 0..2000 {
        other.add_node(
            "digest",
            serde_json::json!({"h": sha256(format!("other {i}").as_bytes())}),
            Some(&format!("H{i}")),
        );
    }
    let r = store
        .save_with(
            &other,
            &SaveOptions {
                rotate: false,
                at: Some(at(2)),
            },
        )
        .expect("save");
    assert_eq!(form_of(&store, &r), StoredForm::Zstd);
}

#[test]
fn retention_never_removes_a_base_while_a_kept_delta_needs_it() {
    let s = common::empty_store();
    let store = with_deltas(&s, 10);
    let base = save_on(&store, 1);
    for d in 2..=4 {
        save_on(&store, d);
    }
    let policy = RetentionPolicy {
        keep_last: Some(2),
        keep_within: None,
        min_valid: 1,
        ..RetentionPolicy::default()
    };
    let report = store
        .rotate(&policy, RotateOptions { dry_run: false })
        .expect("rotate");
    let kept_base = report
        .plan
        .decisions
        .iter()
        .find(|d| d.id == base.backup_id)
        .expect("decided");
    assert!(
        kept_base
            .reasons
            .iter()
            .any(|r| r.contains("base of delta")),
        "{kept_base:?}"
    );
    // Every kept delta has its base, and still verifies.
    let listing = store.list_backups().expect("list");
    for b in &listing.backups {
        if let Some(base) = &b.delta_base {
            assert!(
                listing.backups.iter().any(|x| &x.id == base),
                "{} lost its base",
                b.id
            );
        }
        let v = store
            .verify(&Target::Backup(b.id.clone()), Depth::Full)
            .expect("verify");
        assert_eq!(v.status, Status::Valid, "{}: {:?}", b.id, v.reason);
    }
    // The delta retention removed is in the trash.
    assert_eq!(report.trashed.len(), 1, "{report:?}");
}

#[test]
fn retention_property_a_kept_delta_always_has_its_base() {
    use graphvault::store::names::BackupId;
    use graphvault::store::retention::{
        Action, Candidate, Health, keep_bases_of_kept_deltas, plan,
    };
    // Many shapes of history: full backups every k, random policies.
    for k in 1..=5u32 {
        for keep in 1..=6u32 {
            let ids: Vec<BackupId> = (1..=12)
                .map(|d| BackupId::new(at(d).naive_local(), 0))
                .collect();
            let candidates: Vec<Candidate> = ids
                .iter()
                .rev()
                .map(|id| Candidate::new(id.clone(), Health::Valid))
                .collect();
            let policy = RetentionPolicy {
                keep_last: Some(keep),
                keep_within: None,
                min_valid: 1,
                ..RetentionPolicy::default()
            };
            let mut p = plan(&policy, &candidates, at(28).naive_local()).expect("plan");
            let mut deltas = Vec::new();
            let mut base = ids[0].clone();
            for (i, id) in ids.iter().enumerate() {
                if (i as u32).is_multiple_of(k) {
                    base = id.clone();
                } else {
                    deltas.push((id.clone(), base.clone()));
                }
            }
            keep_bases_of_kept_deltas(&mut p, &deltas);
            let action = |id: &BackupId| {
                p.decisions
                    .iter()
                    .find(|d| &d.id == id)
                    .map(|d| d.action)
                    .expect("decided")
            };
            for (delta, base) in &deltas {
                if action(delta) == Action::Keep {
                    assert_eq!(action(base), Action::Keep, "k={k} keep={keep}: {delta}");
                }
            }
            let kept = p
                .decisions
                .iter()
                .filter(|d| d.action == Action::Keep)
                .count();
            assert_eq!(kept, p.kept);
            assert_eq!(p.decisions.len() - kept, p.removed);
        }
    }
}

#[test]
fn a_missing_or_corrupt_base_is_named_by_the_ladder_and_recovery_passes_over() {
    for kind in [CorruptionKind::MissingBase, CorruptionKind::CorruptBase] {
        let s = common::empty_store();
        let store = with_deltas(&s, 2);
        // day 1 full, 2 delta of 1, 3 full, 4 delta of 3.
        let saves: Vec<SaveReport> = (1..=4).map(|d| save_on(&store, d)).collect();
        assert_eq!(form_of(&store, &saves[3]), StoredForm::Delta);
        s.mark_sandbox();
        let report = store.corrupt(kind).expect("corrupt");
        assert_eq!(report.target, Target::Backup(saves[3].backup_id.clone()));
        let v = store.verify(&report.target, Depth::Full).expect("verify");
        assert_eq!(v.status, Status::Corrupt, "{kind:?}");
        assert_eq!(v.failed_level, Some(Level::File), "{kind:?}: {v:?}");
        let reason = v.reason.unwrap_or_default();
        assert!(
            reason.contains(&format!("base {}", saves[2].backup_id)),
            "{kind:?}: {reason}"
        );
        assert!(!v.unreadable);
        // With the primary lost, recovery passes over the delta and its
        // base to the newest backup that reads: day 2's delta of day 1.
        fs::remove_file(s.primary()).expect("lose the primary");
        let (_, rec) = store
            .load_with_recovery(RecoverOptions { dry_run: false })
            .expect("recover");
        assert_eq!(
            rec.recommended.as_ref(),
            Some(&saves[1].backup_id),
            "{kind:?}"
        );
        assert_eq!(
            sha256(&fs::read(s.primary()).expect("primary")),
            saves[1].checksum
        );
    }
}

#[test]
fn a_delta_in_the_trash_comes_back_and_reads_through_its_base() {
    let s = common::empty_store();
    let store = with_deltas(&s, 10);
    save_on(&store, 1);
    let delta = save_on(&store, 2);
    save_on(&store, 3);
    assert_eq!(form_of(&store, &delta), StoredForm::Delta);
    let policy = RetentionPolicy {
        keep_last: Some(1),
        keep_within: None,
        min_valid: 1,
        ..RetentionPolicy::default()
    };
    // Keeps 3 (a delta) and so its base 1; removes 2.
    let report = store
        .rotate(&policy, RotateOptions { dry_run: false })
        .expect("rotate");
    assert_eq!(report.trashed.len(), 1);
    assert_eq!(report.trashed[0].backup_id, delta.backup_id);
    let trash = s.root().join(".graphvault/trash");
    assert!(
        trash
            .join(format!("{}.json.delta.zst", delta.backup_id))
            .exists()
    );
    let back = store
        .trash_restore(&[delta.backup_id.to_string()])
        .expect("restore from the trash");
    assert_eq!(back.restored[0].status, Status::Valid);
}

#[test]
fn the_trash_keeps_a_delta_with_its_base() {
    let s = common::empty_store();
    let store = with_deltas(&s, 10);
    let base = save_on(&store, 1);
    let delta = save_on(&store, 2);
    assert_eq!(form_of(&store, &delta), StoredForm::Delta);
    // A later full history makes both of them old: remove both.
    let mut plain = s.open();
    plain.set_setting("deltas", "off").expect("set");
    save_on(&plain, 3);
    save_on(&plain, 4);
    let policy = RetentionPolicy {
        keep_last: Some(2),
        keep_within: None,
        min_valid: 1,
        ..RetentionPolicy::default()
    };
    let report = plain
        .rotate(&policy, RotateOptions { dry_run: false })
        .expect("rotate");
    assert_eq!(report.trashed.len(), 2, "{report:?}");
    // The delta alone is refused, naming its base; nothing moves.
    let err = plain
        .trash_restore(&[delta.backup_id.to_string()])
        .expect_err("refused");
    assert!(
        err.to_string().contains(&base.backup_id.to_string()),
        "{err}"
    );
    assert!(
        !s.backups()
            .join(format!("{}.json.delta.zst", delta.backup_id))
            .exists()
    );
    // Both together come back, the base first, and both verify.
    let back = plain
        .trash_restore(&[delta.backup_id.to_string(), base.backup_id.to_string()])
        .expect("restore the pair");
    assert_eq!(back.restored.len(), 2);
    for r in [&base, &delta] {
        let v = plain
            .verify(&Target::Backup(r.backup_id.clone()), Depth::Full)
            .expect("verify");
        assert_eq!(v.status, Status::Valid, "{:?}", v.reason);
    }
}
