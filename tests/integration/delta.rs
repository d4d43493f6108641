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

/// Retention that keeps the newest `n` and needs one valid backup.
fn keep_last(n: u32) -> RetentionPolicy {
    RetentionPolicy {
        keep_last: Some(n),
        keep_within: None,
        min_valid: 1,
        ..RetentionPolicy::default()
    }
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
    let policy = keep_last(2);
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
            let policy = keep_last(keep);
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
    let policy = keep_last(1);
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
    let policy = keep_last(2);
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

/// Six plain backups of a growing graph, in a store whose settings then
/// ask for deltas with a full backup every 3.
fn plain_history() -> (common::AppStore, Store, Vec<SaveReport>) {
    let s = common::empty_store();
    let store = s.open();
    let saves: Vec<SaveReport> = (1..=6).map(|d| save_on(&store, d)).collect();
    for r in &saves {
        assert_eq!(form_of(&store, r), StoredForm::Plain);
    }
    let store = with_deltas(&s, 3);
    (s, store, saves)
}

fn backup_info(store: &Store, r: &SaveReport) -> graphvault::store::list::BackupInfo {
    store
        .list_backups()
        .expect("list")
        .backups
        .into_iter()
        .find(|b| b.id == r.backup_id)
        .expect("listed")
}

#[test]
fn compact_makes_deltas_against_verified_bases_and_every_reader_reads_them() {
    use graphvault::store::compact::CompactOptions;
    let (s, store, saves) = plain_history();
    let before = common::snapshot_tree(&s.backups());
    // The dry run plans it all, bases named, and writes nothing.
    let plan = store
        .compact(CompactOptions { dry_run: true })
        .expect("dry run");
    assert_eq!(common::snapshot_tree(&s.backups()), before);
    let planned: Vec<(StoredForm, Option<String>)> = plan
        .converted
        .iter()
        .map(|c| (c.to, c.base.as_ref().map(ToString::to_string)))
        .collect();
    let id = |i: usize| Some(saves[i].backup_id.to_string());
    // Oldest first: day 1 the base of 2 and 3, day 4 the base of 5 and 6.
    assert_eq!(
        planned,
        vec![
            (StoredForm::Zstd, None),
            (StoredForm::Delta, id(0)),
            (StoredForm::Delta, id(0)),
            (StoredForm::Zstd, None),
            (StoredForm::Delta, id(3)),
            (StoredForm::Delta, id(3)),
        ]
    );
    let done = store
        .compact(CompactOptions { dry_run: false })
        .expect("compact");
    assert_eq!(done.skipped.len(), 0, "{:?}", done.skipped);
    let applied: Vec<(StoredForm, Option<String>)> = done
        .converted
        .iter()
        .map(|c| (c.to, c.base.as_ref().map(ToString::to_string)))
        .collect();
    assert_eq!(applied, planned, "the dry run said what the run did");
    assert!(done.bytes_after * 10 < done.bytes_before, "{done:?}");
    for (i, r) in saves.iter().enumerate() {
        let b = backup_info(&store, r);
        assert_eq!(b.form, planned[i].0, "{}", r.backup_id);
        assert_eq!(b.delta_base.map(|x| x.to_string()), planned[i].1);
        let v = store
            .verify(&Target::Backup(r.backup_id.clone()), Depth::Full)
            .expect("verify");
        assert_eq!(v.status, Status::Valid, "{}: {:?}", r.backup_id, v.reason);
        assert_eq!(v.actual_checksum.as_deref(), Some(r.checksum.as_str()));
        // No plain file is left, and the old one is in the trash, whole.
        assert!(!s.backups().join(format!("{}.json", r.backup_id)).exists());
    }
    let trash = store.list_trash().expect("trash");
    for r in &saves {
        let item = trash
            .items
            .iter()
            .find(|t| t.backup_id == r.backup_id)
            .expect("old file in the trash");
        let bytes = fs::read(&item.files[0]).expect("trashed file");
        assert_eq!(sha256(&bytes), r.checksum, "{}", r.backup_id);
    }
    // A second compact finds nothing to do.
    let again = store
        .compact(CompactOptions { dry_run: false })
        .expect("compact again");
    assert!(again.converted.is_empty(), "{again:?}");
    assert_eq!(again.unchanged, saves.len());
    // Diff of two deltas, restore of one, and recovery through one.
    let diff = store
        .diff(
            &Target::Backup(saves[4].backup_id.clone()),
            &Target::Backup(saves[5].backup_id.clone()),
        )
        .expect("diff of two deltas");
    assert_eq!(diff.new_size, saves[5].size);
    assert_eq!(
        diff.diff.nodes_added.len(),
        1,
        "{:?}",
        diff.diff.nodes_added
    );
    store
        .restore(&saves[1].backup_id, RestoreOptions::default())
        .expect("restore a compact-made delta");
    assert_eq!(
        sha256(&fs::read(s.primary()).expect("primary")),
        saves[1].checksum
    );
    fs::remove_file(s.primary()).expect("lose the primary");
    let (_, rec) = store
        .load_with_recovery(RecoverOptions { dry_run: false })
        .expect("recover");
    assert_eq!(rec.recommended.as_ref(), Some(&saves[5].backup_id));
    assert_eq!(
        sha256(&fs::read(s.primary()).expect("primary")),
        saves[5].checksum
    );
}

#[test]
fn retention_keeps_the_base_of_a_compact_made_delta_and_the_trash_gives_deltas_back() {
    use graphvault::store::compact::CompactOptions;
    let (s, store, saves) = plain_history();
    store
        .compact(CompactOptions { dry_run: false })
        .expect("compact");
    // Keep the newest, a delta of day 4: day 4 stays as its base.
    let policy = keep_last(1);
    let report = store
        .rotate(&policy, RotateOptions { dry_run: false })
        .expect("rotate");
    let base = report
        .plan
        .decisions
        .iter()
        .find(|d| d.id == saves[3].backup_id)
        .expect("decided");
    assert!(
        base.reasons.iter().any(|r| r.contains("base of delta")),
        "{base:?}"
    );
    let listing = store.list_backups().expect("list");
    let ids: Vec<_> = listing.backups.iter().map(|b| b.id.clone()).collect();
    assert_eq!(
        ids,
        vec![saves[5].backup_id.clone(), saves[3].backup_id.clone()]
    );
    // The trash also holds the plain files compact replaced: the items
    // retention made are named by its report.
    let item = |r: &SaveReport| {
        report
            .trashed
            .iter()
            .find(|t| t.backup_id == r.backup_id)
            .map(|t| t.id.to_string())
            .expect("rotated into the trash")
    };
    // A delta rotated away comes back from the trash while its base is
    // in backups/, and reads through it.
    let back = store
        .trash_restore(&[item(&saves[4])])
        .expect("restore a delta from the trash");
    assert_eq!(back.restored[0].status, Status::Valid);
    // The delta of day 2 with its base, together.
    let back = store
        .trash_restore(&[item(&saves[1]), item(&saves[0])])
        .expect("restore the pair");
    assert_eq!(back.restored.len(), 2);
    for r in [&saves[0], &saves[1], &saves[4]] {
        let v = store
            .verify(&Target::Backup(r.backup_id.clone()), Depth::Full)
            .expect("verify");
        assert_eq!(v.status, Status::Valid, "{}: {:?}", r.backup_id, v.reason);
    }
    let _ = s;
}

#[test]
fn compact_undoes_deltas_when_the_settings_no_longer_ask_for_them() {
    use graphvault::store::compact::CompactOptions;
    let (s, store, saves) = plain_history();
    store
        .compact(CompactOptions { dry_run: false })
        .expect("compact");
    // Deltas off, zstd still on: every delta becomes one full zstd frame.
    let mut store = s.open();
    store.set_setting("deltas", "off").expect("set");
    let done = store
        .compact(CompactOptions { dry_run: false })
        .expect("compact");
    assert_eq!(done.converted.len(), 4, "{done:?}");
    assert!(
        done.converted
            .iter()
            .all(|c| c.from == StoredForm::Delta && c.to == StoredForm::Zstd)
    );
    // Compression none: every backup is plain JSON again.
    store.set_setting("compression", "none").expect("set");
    let done = store
        .compact(CompactOptions { dry_run: false })
        .expect("compact");
    assert_eq!(done.converted.len(), 6, "{done:?}");
    for r in &saves {
        let bytes = fs::read(s.backups().join(format!("{}.json", r.backup_id))).expect("plain");
        assert_eq!(sha256(&bytes), r.checksum);
    }
}

#[test]
fn a_missing_base_is_named_by_the_file_it_was_stored_as() {
    use graphvault::store::compact::CompactOptions;
    let (s, store, saves) = plain_history();
    store
        .compact(CompactOptions { dry_run: false })
        .expect("compact");
    let base_file = s.backups().join(format!("{}.json.zst", saves[3].backup_id));
    fs::remove_file(&base_file).expect("lose the base");
    let v = store
        .verify(&Target::Backup(saves[4].backup_id.clone()), Depth::Full)
        .expect("verify");
    assert_eq!(v.status, Status::Corrupt);
    let reason = v.reason.unwrap_or_default();
    assert!(
        reason.contains(&format!("{}.json.zst", saves[3].backup_id)),
        "{reason}"
    );
}

#[test]
fn compact_leaves_a_backup_an_existing_delta_needs_full() {
    use graphvault::store::compact::CompactOptions;
    let s = common::empty_store();
    // Saves make day 1 full and day 2 a delta of it (full every 10).
    let store = with_deltas(&s, 10);
    let first = save_on(&store, 1);
    let second = save_on(&store, 2);
    assert_eq!(form_of(&store, &second), StoredForm::Delta);
    let plain = {
        let mut p = s.open();
        p.set_setting("deltas", "off").expect("set");
        p.set_setting("compression", "none").expect("set");
        p
    };
    // Two plain ones after, then deltas on again with a full every 10.
    let third = save_on(&plain, 3);
    let fourth = save_on(&plain, 4);
    let store = with_deltas(&s, 10);
    let done = store
        .compact(CompactOptions { dry_run: false })
        .expect("compact");
    assert!(done.skipped.is_empty(), "{:?}", done.skipped);
    assert_eq!(form_of(&store, &first), StoredForm::Zstd);
    assert_eq!(form_of(&store, &second), StoredForm::Delta);
    for r in [&third, &fourth] {
        let b = backup_info(&store, r);
        assert_eq!(b.form, StoredForm::Delta);
        assert_eq!(
            b.delta_base.as_ref(),
            Some(&first.backup_id),
            "never a chain"
        );
    }
}

/// The application's metas record no plain size. Once compact has made such a
/// backup a delta (or a full zstd backup), its JSON is no longer the file's size:
/// the meta records it, so listings show it and the memo can be consulted.
#[test]
fn compact_records_the_plain_size_the_applications_metas_lack() {
    use graphvault::store::compact::CompactOptions;
    let s = common::empty_store();
    std::fs::create_dir_all(s.backups()).expect("backups dir");
    let mut sizes = Vec::new();
    for day in 1..=4 {
        // A graph that grows a little: each delta saves much against the first.
        let text = common::app_graph(200 + day, 2, false, "grow");
        let id = s.add_backup(
            &format!("202510{day:02}_100000"),
            &text,
            common::MetaName::Meta,
        );
        sizes.push((id, text.len() as u64));
    }
    let store = with_deltas(&s, 4);
    let done = store
        .compact(CompactOptions { dry_run: false })
        .expect("compact");
    assert!(
        done.converted.iter().any(|c| c.to == StoredForm::Delta),
        "{done:?}"
    );
    let listing = store.list_backups().expect("list");
    for (id, len) in sizes {
        let b = listing
            .backups
            .iter()
            .find(|b| b.id.to_string() == id)
            .expect("listed");
        assert_ne!(b.form, StoredForm::Plain, "{id} was converted");
        assert_eq!(b.plain_size, Some(len), "{id} ({:?})", b.form);
    }
}
