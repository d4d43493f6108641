//! Retention through the store, on real directories: random backup sets
//! (valid, corrupt, without meta, some dated in the future) and random
//! policies, applied with `Store::rotate` and with a save that rotates.
//! The newest valid backup is never removed, the floor of valid backups is
//! kept, corrupt backups are kept aside, nothing but backup files is ever
//! deleted, and only what the plan says goes. The planner's own property
//! test (src/store/retention.rs) covers the decisions in depth; this one
//! covers the store executing them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::{Duration, NaiveDate, NaiveDateTime};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use graphvault::graph::KnowledgeGraph;
use graphvault::store::names::BackupId;
use graphvault::store::retention::{Action, RetentionPolicy};
use graphvault::store::rotate::RotateOptions;
use graphvault::store::save::SaveOptions;
use graphvault::store::trash::ItemState;
use graphvault::store::verify::{Depth, Status, Target};
use graphvault::store::{Store, StoreConfig};

use crate::fixtures::{app_graph, app_meta};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Valid,
    Corrupt,
    NoMeta,
    /// A meta that cannot be read (a symlink to a matching meta outside):
    /// the backup cannot be judged and must be kept.
    UnreadableMeta,
}

#[derive(Debug, Clone)]
pub struct Case {
    /// (minutes after the base time, kind); far-future ones are dated 2099.
    pub backups: Vec<(i64, bool, Kind)>,
    pub policy: RetentionPolicy,
    /// Opened with an HMAC key: the application's metas carry no HMAC, so
    /// every backup is unauthenticated and none may be removed for it.
    pub keyed: bool,
    /// Days the clock of the final save is off: 0, a year ahead, or three
    /// years behind (before every backup of the case).
    pub save_clock_days: i64,
    /// The store's trash grace period, in minutes.
    pub grace_minutes: i64,
    /// How long after the first save a second one runs (its rotation
    /// purges what is past its grace by then).
    pub later_minutes: i64,
}

fn base_time() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2024, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("fixed date")
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        6 => Just(Kind::Valid),
        2 => Just(Kind::Corrupt),
        2 => Just(Kind::NoMeta),
        1 => Just(Kind::UnreadableMeta),
    ]
}

fn policies() -> impl Strategy<Value = RetentionPolicy> {
    (
        prop::option::of(1u32..=6),
        prop::option::of(1i64..=90),
        prop::option::of(1u32..=6),
        prop::option::of(1u32..=4),
        prop::option::of(1u32..=3),
        1u32..=4,
    )
        .prop_map(
            |(last, within, daily, weekly, monthly, min_valid)| RetentionPolicy {
                keep_last: last,
                keep_within: within.map(Duration::days),
                keep_daily: daily,
                keep_weekly: weekly,
                keep_monthly: monthly,
                min_valid,
            },
        )
        .prop_filter("a policy needs a rule", |p| p.validate().is_ok())
}

pub fn cases() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(
            (0i64..200 * 1440, prop::bool::weighted(0.05), kind()),
            0..=12,
        ),
        policies(),
        prop::bool::weighted(0.2),
        prop_oneof![4 => Just(0i64), 1 => Just(365i64), 1 => Just(-3 * 365i64)],
        10i64..=40 * 1440,
        0i64..=60 * 1440,
    )
        .prop_map(
            |(backups, policy, keyed, save_clock_days, grace_minutes, later_minutes)| Case {
                backups,
                policy,
                keyed,
                save_clock_days,
                grace_minutes,
                later_minutes,
            },
        )
}

fn id_of(minutes: i64, future: bool) -> BackupId {
    let time = if future {
        NaiveDate::from_ymd_opt(2099, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .expect("future date")
            + Duration::minutes(minutes)
    } else {
        base_time() + Duration::minutes(minutes)
    };
    BackupId::new(time, 0)
}

/// Writes the case's backups (application format) into a fresh store.
fn build(case: &Case, root: &Path) -> Vec<(BackupId, Kind)> {
    let backups = root.join("backups");
    std::fs::create_dir_all(backups.join("20251001_161329")).expect("dirs");
    std::fs::write(backups.join(".gitkeep"), "").expect("gitkeep");
    let mut made: Vec<(BackupId, Kind)> = Vec::new();
    for (i, &(minutes, future, kind)) in case.backups.iter().enumerate() {
        let id = id_of(minutes, future);
        if made.iter().any(|(m, _)| *m == id) {
            continue;
        }
        let data = app_graph(1 + i % 3, 2, false, &format!("r{i}"));
        std::fs::write(backups.join(id.data_file_name()), &data).expect("data");
        match kind {
            Kind::Valid => std::fs::write(
                backups.join(id.meta_file_name()),
                app_meta(data.as_bytes(), None),
            ),
            Kind::Corrupt => std::fs::write(
                backups.join(id.meta_file_name()),
                app_meta(b"other bytes", None),
            ),
            Kind::NoMeta => Ok(()),
            Kind::UnreadableMeta => {
                let outside = root.with_file_name(format!("outside-{id}.meta"));
                std::fs::write(&outside, app_meta(data.as_bytes(), None)).expect("outside meta");
                std::os::unix::fs::symlink(&outside, backups.join(id.meta_file_name()))
            }
        }
        .expect("meta");
        made.push((id, kind));
    }
    made
}

fn present(root: &Path, id: &BackupId) -> bool {
    root.join("backups").join(id.data_file_name()).exists()
}

/// The data bytes of every trashed copy of each backup, and when each expires.
type TrashView = BTreeMap<BackupId, Vec<(Vec<u8>, chrono::DateTime<chrono::FixedOffset>)>>;

fn trash_view(store: &Store) -> Result<TrashView, String> {
    let listing = store.list_trash().map_err(|e| format!("list trash: {e}"))?;
    let mut view = TrashView::new();
    for item in listing.items {
        if item.state != ItemState::Trashed {
            return Err(format!("trash item {} is {:?}", item.id, item.state));
        }
        let data = std::fs::read(store.trash_dir().join(format!("{}.json", item.id)))
            .map_err(|e| format!("trash item {} has no data: {e}", item.id))?;
        let expires = item.expires_at.ok_or("a trash item without expiry")?;
        view.entry(item.backup_id)
            .or_default()
            .push((data, expires));
    }
    Ok(view)
}

/// Each backup is in `backups/` or whole in the trash: never in both,
/// never in neither, unless `purge_by` is given and its trashed copy had
/// expired by then (the only way out of the trash).
fn where_each_backup_is(
    root: &Path,
    originals: &BTreeMap<BackupId, Vec<u8>>,
    before: Option<&TrashView>,
    after: &TrashView,
    purge_by: Option<chrono::DateTime<chrono::FixedOffset>>,
) -> Result<BTreeSet<BackupId>, String> {
    let mut purged = BTreeSet::new();
    for (id, bytes) in originals {
        let here = present(root, id)
            && std::fs::read(root.join("backups").join(id.data_file_name()))
                .ok()
                .as_ref()
                == Some(bytes);
        let trashed = after
            .get(id)
            .is_some_and(|copies| copies.iter().any(|(b, _)| b == bytes));
        match (here, trashed) {
            (true, true) => return Err(format!("{id} is both in backups/ and in the trash")),
            (false, false) => {
                let purged_in_time = match (before.and_then(|b| b.get(id)), purge_by) {
                    (Some(copies), Some(t)) => copies
                        .iter()
                        .any(|(b, expires)| b == bytes && *expires <= t),
                    _ => false,
                };
                if !purged_in_time {
                    return Err(format!(
                        "{id} left both backups/ and the trash without a purge past its grace"
                    ));
                }
                purged.insert(id.clone());
            }
            _ => {}
        }
    }
    Ok(purged)
}

/// Applies the case's policy through the store; `Err` names the broken rule.
pub fn check_rotation(case: &Case) -> Result<(), String> {
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let root = tmp.path().join("storage");
    let made = build(case, &root);
    let originals: BTreeMap<BackupId, Vec<u8>> = made
        .iter()
        .filter_map(|(id, _)| {
            std::fs::read(root.join("backups").join(id.data_file_name()))
                .ok()
                .map(|b| (id.clone(), b))
        })
        .collect();
    let store = Store::open(&root)
        .map_err(|e| e.to_string())?
        .with_lock_wait(crate::scenario::LOCK_GRACE);
    let store = if case.keyed {
        store.with_key(
            graphvault::store::auth::Key::from_bytes(b"a key the fixtures never signed with")
                .map_err(|e| e.to_string())?,
        )
    } else {
        store
    };
    let report = store
        .rotate(&case.policy, RotateOptions { dry_run: false })
        .map_err(|e| format!("rotate: {e}"))?;
    let removed: BTreeSet<&BackupId> = report
        .plan
        .decisions
        .iter()
        .filter(|d| d.action == Action::Remove)
        .map(|d| &d.id)
        .collect();
    // Under a key the application's metas prove nothing: no backup of the
    // case is valid, and none may go for lack of an HMAC.
    let valid: Vec<&BackupId> = made
        .iter()
        .filter(|(_, k)| *k == Kind::Valid && !case.keyed)
        .map(|(id, _)| id)
        .collect();
    if let Some(newest) = valid.iter().max() {
        let r = store
            .verify(&Target::Backup((*newest).clone()), Depth::Full)
            .map_err(|e| format!("the newest valid backup {newest} is gone: {e}"))?;
        if r.status != Status::Valid {
            return Err(format!(
                "the newest valid backup {newest} is now {}",
                r.summary()
            ));
        }
    }
    let kept_valid = valid.iter().filter(|id| present(&root, id)).count();
    let floor = (case.policy.min_valid as usize).min(valid.len());
    if kept_valid < floor {
        return Err(format!(
            "{kept_valid} valid backups kept, below the floor of {floor}"
        ));
    }
    for (id, kind) in &made {
        let here = present(&root, id);
        if *kind == Kind::Corrupt && !here {
            return Err(format!(
                "corrupt backup {id} was deleted instead of kept aside"
            ));
        }
        if *kind == Kind::UnreadableMeta && !here {
            return Err(format!(
                "backup {id}, whose meta could not be read, was deleted"
            ));
        }
        if case.keyed && *kind == Kind::Valid && !here {
            return Err(format!(
                "backup {id} was deleted for lack of an HMAC (its checksum matches)"
            ));
        }
        if here == removed.contains(id) {
            return Err(format!(
                "{id}: the plan says {:?} but the file is {}",
                !here,
                if here { "there" } else { "gone" }
            ));
        }
    }
    for other in [".gitkeep", "20251001_161329"] {
        if !root.join("backups").join(other).exists() {
            return Err(format!("{other} was removed"));
        }
    }
    let after_rotate = trash_view(&store)?;
    where_each_backup_is(&root, &originals, None, &after_rotate, None)?;
    let mut originals = originals;
    for (id, copies) in &after_rotate {
        if !removed.contains(id) || copies.len() != 1 {
            return Err(format!(
                "{id} is in the trash {} time(s); the plan says {}",
                copies.len(),
                removed.contains(id)
            ));
        }
    }
    // A save that rotates with the same policy keeps the backup it made.
    let mut store = store;
    store
        .set_config(StoreConfig {
            retention: case.policy.clone(),
            trash_grace: Duration::minutes(case.grace_minutes),
            ..StoreConfig::default()
        })
        .map_err(|e| e.to_string())?;
    let graph = KnowledgeGraph::from_slice(app_graph(2, 2, false, "saved").as_bytes())
        .map_err(|e| e.to_string())?;
    let save_at = chrono::Local::now() + Duration::days(case.save_clock_days);
    let saved = store
        .save_with(
            &graph,
            &SaveOptions {
                rotate: true,
                at: Some(save_at),
            },
        )
        .map_err(|e| format!("save: {e}"))?;
    if let Some(e) = &saved.rotation_error {
        return Err(format!("rotation after save: {e}"));
    }
    let rotation = saved.rotation.as_ref().ok_or("the save did not rotate")?;
    // A clock behind every backup: nothing may go on its word, and it must
    // be reported. A clock far ahead: the jump must be reported.
    if case.save_clock_days != 0 && !made.is_empty() {
        if rotation.plan.clock_warning.is_none() {
            return Err(format!(
                "a save with the clock {} days off reported nothing",
                case.save_clock_days
            ));
        }
        if case.save_clock_days < 0 && rotation.plan.removed > 0 {
            return Err(format!(
                "a save with the clock behind every backup removed {}",
                rotation.plan.removed
            ));
        }
    }
    let r = store
        .verify(&Target::Backup(saved.backup_id.clone()), Depth::Full)
        .map_err(|e| format!("the backup just made is gone: {e}"))?;
    if r.status != Status::Valid {
        return Err(format!("the backup just made is {}", r.summary()));
    }
    let after_save = trash_view(&store)?;
    // Only what is past its grace by the save's clock may have been purged
    // (nothing, unless that clock is far ahead).
    let gone = where_each_backup_is(
        &root,
        &originals,
        Some(&after_rotate),
        &after_save,
        Some(save_at.fixed_offset()),
    )?;
    // What that save purged is gone for good; the next step checks the rest.
    originals.retain(|id, _| !gone.contains(id));
    // A later save purges what is past its grace by then, and only that.
    let later = chrono::Local::now() + Duration::minutes(case.later_minutes);
    store
        .save_with(
            &graph,
            &SaveOptions {
                rotate: true,
                at: Some(later),
            },
        )
        .map_err(|e| format!("later save: {e}"))?;
    let after_later = trash_view(&store)?;
    where_each_backup_is(
        &root,
        &originals,
        Some(&after_save),
        &after_later,
        Some(later.fixed_offset()),
    )?;
    Ok(())
}

pub fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        // Regression files would land in the shared source tree.
        failure_persistence: None,
        ..Config::with_cases(cases)
    })
}

/// Cases the property test runs per `cargo test`.
pub const CASES: u32 = 96;

#[test]
fn rotation_through_the_store_keeps_the_newest_valid_backup_and_the_floor() {
    let started = std::time::Instant::now();
    let result = runner(CASES).run(&cases(), |case| {
        check_rotation(&case).map_err(TestCaseError::fail)
    });
    println!(
        "retention through the store: {CASES} random backup sets and policies on real directories in {:.1}s: {}",
        started.elapsed().as_secs_f64(),
        if result.is_ok() {
            "no violation"
        } else {
            "VIOLATION"
        }
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn saves_in_one_second_keep_the_backup_just_made_after_retention() {
    // Found by the kill loop: retention removed the oldest backup of a
    // second, the next save in that second took its freed name, sorted
    // before the others, and the same rotation deleted it as the oldest.
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut store = crate::scenario::open_real(&tmp.path().join("storage"));
    store
        .set_config(StoreConfig {
            retention: RetentionPolicy {
                keep_last: Some(2),
                keep_within: None,
                min_valid: 1,
                ..RetentionPolicy::default()
            },
            ..StoreConfig::default()
        })
        .expect("policy");
    let at = chrono::Local::now();
    for i in 0..6 {
        let graph = KnowledgeGraph::from_slice(app_graph(2, 2, false, &format!("s{i}")).as_bytes())
            .expect("graph");
        let saved = store
            .save_with(
                &graph,
                &SaveOptions {
                    rotate: true,
                    at: Some(at),
                },
            )
            .expect("save");
        let listing = store.list_backups().expect("list");
        let newest = listing.backups.first().expect("a backup");
        assert_eq!(
            newest.id,
            saved.backup_id,
            "save {i}: the backup just made is not the newest: {:?}",
            listing
                .backups
                .iter()
                .map(|b| b.id.to_string())
                .collect::<Vec<_>>()
        );
        assert_eq!(
            std::fs::read(&newest.data_path).expect("newest backup"),
            std::fs::read(store.primary_path()).expect("primary"),
            "save {i}: the newest backup is not the primary"
        );
    }
}
