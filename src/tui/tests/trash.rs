//! The trash and evidence views: keys, state and whole screens on hand-made
//! listings with fixed times; restoring from either goes through the
//! restore popup's plan and confirmation and comes back to the view.

use std::path::PathBuf;

use chrono::{DateTime, FixedOffset, Local, TimeZone};
use insta::assert_snapshot;

use super::{BIG, MEDIUM, SMALL, fixtures, press, screen, sent, verified};
use crate::store::evidence::{EvidenceItem, EvidenceListing, EvidenceRestoreReport};
use crate::store::retention::{Action as Fate, Decision, RetentionPlan, RetentionPolicy};
use crate::store::rotate::RotateReport;
use crate::store::trash::{
    ItemState, PlannedTrashRestore, PurgedItem, RestoredItem, TrashId, TrashItem, TrashListing,
    TrashRestorePlan, TrashRestoreReport, TrashedBackup,
};
use crate::store::verify::{Status, Target};
use crate::tui::action::Action;
use crate::tui::keymap::Context;
use crate::tui::popups::{Popup, RestoreSource, RestoreState};
use crate::tui::worker::{Command, Event};
use crossterm::event::KeyCode;

fn at(s: &str) -> DateTime<FixedOffset> {
    let t = fixtures::time(s);
    Local
        .from_local_datetime(&t)
        .earliest()
        .map(|t| t.fixed_offset())
        .unwrap_or_else(|| DateTime::UNIX_EPOCH.fixed_offset())
}

fn trash_id(s: &str) -> TrashId {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn item(id: &str, trashed: &str, expires: &str, state: ItemState) -> TrashItem {
    let id = trash_id(id);
    let dir = PathBuf::from(fixtures::STORE).join(".graphvault/trash");
    TrashItem {
        backup_id: id.backup().clone(),
        state,
        size: 98_400,
        trashed_at: Some(at(trashed)),
        expires_at: Some(at(expires)),
        expired: at(expires) <= at("2025-10-20 12:00:00"),
        operation: Some("retention after save".into()),
        policy: Some(RetentionPolicy::default()),
        reasons: vec!["outside every rule".into()],
        files: vec![
            dir.join(format!("{id}.json")),
            dir.join(format!("{id}.meta")),
        ],
        notes: if state == ItemState::Interrupted {
            vec![
                "an interrupted move: the next save, rotation or trash command completes it".into(),
            ]
        } else {
            Vec::new()
        },
        id,
    }
}

fn trash_listing() -> TrashListing {
    let items = vec![
        item(
            "graph_20251006_133200",
            "2025-10-20 10:00:01",
            "2025-11-03 10:00:01",
            ItemState::Trashed,
        ),
        item(
            "graph_20251003_022500",
            "2025-10-19 09:00:00",
            "2025-11-02 09:00:00",
            ItemState::Trashed,
        ),
        item(
            "graph_20250912_074300~2",
            "2025-10-01 08:00:00",
            "2025-10-15 08:00:00",
            ItemState::Trashed,
        ),
        item(
            "graph_20250901_080000",
            "2025-09-30 08:00:00",
            "2025-10-14 08:00:00",
            ItemState::Interrupted,
        ),
    ];
    TrashListing {
        dir: PathBuf::from(fixtures::STORE).join(".graphvault/trash"),
        total_size: items.iter().map(|i| i.size).sum(),
        items,
        grace: "2w".into(),
        grace_problem: None,
    }
}

fn trash_plan(id: &TrashId) -> TrashRestorePlan {
    TrashRestorePlan {
        items: vec![PlannedTrashRestore {
            id: id.clone(),
            backup_id: id.backup().clone(),
            size: 98_400,
            trashed_at: Some(at("2025-10-20 10:00:01")),
            expires_at: Some(at("2025-11-03 10:00:01")),
            operation: "retention after save".into(),
            reasons: vec!["outside every rule".into()],
            files: vec![
                PathBuf::from(fixtures::STORE)
                    .join("backups")
                    .join(id.backup().data_file_name()),
                PathBuf::from(fixtures::STORE)
                    .join("backups")
                    .join(id.backup().meta_file_name()),
            ],
            status: Status::Valid,
            reason: None,
            node_count: Some(131),
            edge_count: Some(262),
        }],
    }
}

fn evidence_item(id: &str, status: Status) -> EvidenceItem {
    let id: crate::store::evidence::EvidenceId = id.parse().unwrap_or_else(|e| panic!("{id}: {e}"));
    let dir = PathBuf::from(fixtures::STORE).join(".graphvault/evidence");
    EvidenceItem {
        kept_at: id.kept_at(),
        reason: id.reason(),
        data_path: dir.join(format!("{id}-graph.json")),
        meta_path: Some(dir.join(format!("{id}-graph.json.meta"))),
        size: Some(121_300),
        status: Some(status),
        status_reason: (status != Status::Valid).then(|| {
            "sha256 mismatch: the kept meta says 2ae2f0de…, the file hashes to 6e1c9946…".into()
        }),
        node_count: (status == Status::Valid).then_some(151),
        edge_count: (status == Status::Valid).then_some(306),
        id,
    }
}

fn evidence_listing() -> EvidenceListing {
    let items = vec![
        evidence_item("20251020_113000_000000-before-restore", Status::Valid),
        evidence_item("20251012_080000_000000-before-restore", Status::Corrupt),
        evidence_item("20251001_090000_000000-before-save", Status::Valid),
    ];
    EvidenceListing {
        dir: PathBuf::from(fixtures::STORE).join(".graphvault/evidence"),
        total_size: items.iter().filter_map(|i| i.size).sum(),
        items,
    }
}

fn evidence_report(item: EvidenceItem, dry_run: bool) -> EvidenceRestoreReport {
    let backup = crate::store::names::BackupId::new(fixtures::time("2025-10-20 12:00:00"), 0);
    EvidenceRestoreReport {
        evidence: item,
        dry_run,
        previous_primary: fixtures::report(Target::Primary, Status::Valid),
        diff: Some(fixtures::diff()),
        no_diff: None,
        keeps: crate::store::restore::KeptPrimary::Evidence {
            dir: std::path::PathBuf::from(fixtures::STORE).join(".graphvault/evidence"),
            with_meta: true,
        },
        node_count: 151,
        edge_count: 306,
        backup_id: (!dry_run).then(|| backup.clone()),
        restore: (!dry_run).then(|| fixtures::restore_report(&backup, Status::Valid, false)),
        elapsed_ms: 8.0,
    }
}

#[test]
fn t_opens_the_trash_and_a_restore_goes_through_plan_and_confirm() {
    let (mut app, rx) = verified(BIG, 12);
    sent(&rx);
    press(&mut app, KeyCode::Char('t'));
    assert_eq!(app.context(), Context::Trash);
    assert!(matches!(&sent(&rx)[..], [Command::ListTrash]));
    app.update(Action::Worker(Event::TrashListed(Ok(Box::new(
        trash_listing(),
    )))));
    press(&mut app, KeyCode::Down);
    let id = trash_id("graph_20251003_022500");
    assert!(
        matches!(&app.popup, Some(Popup::Trash(v)) if v.selected_item().map(|i| &i.id) == Some(&id))
    );
    // r plans: the store checks the item, nothing is written yet.
    press(&mut app, KeyCode::Char('r'));
    assert_eq!(app.context(), Context::Restore);
    assert!(matches!(&sent(&rx)[..], [Command::TrashRestorePlan(i)] if *i == id));
    app.update(Action::Worker(Event::TrashRestorePlanned {
        id: id.clone(),
        result: Ok(Box::new(trash_plan(&id))),
    }));
    assert!(
        matches!(&app.popup, Some(Popup::Restore(p)) if matches!(p.state, RestoreState::Ready(_)))
    );
    // Enter on the default (No) cancels, back to the trash.
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.context(), Context::Trash);
    assert!(
        sent(&rx)
            .iter()
            .all(|c| !matches!(c, Command::TrashRestore(_))),
        "nothing restored without a confirmation"
    );
    app.update(Action::Worker(Event::TrashListed(Ok(Box::new(
        trash_listing(),
    )))));
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Enter);
    sent(&rx);
    app.update(Action::Worker(Event::TrashRestorePlanned {
        id: id.clone(),
        result: Ok(Box::new(trash_plan(&id))),
    }));
    press(&mut app, KeyCode::Char('y'));
    assert!(matches!(&sent(&rx)[..], [Command::TrashRestore(i)] if *i == id));
    press(&mut app, KeyCode::Esc);
    assert!(
        matches!(&app.popup, Some(Popup::Restore(p)) if matches!(p.state, RestoreState::Running)),
        "keys do not close it while it runs"
    );
    app.update(Action::Worker(Event::TrashRestored(Ok(Box::new(
        TrashRestoreReport {
            restored: vec![RestoredItem {
                id: id.clone(),
                backup_id: id.backup().clone(),
                status: Status::Valid,
                reason: None,
                files: trash_plan(&id).items[0].files.clone(),
            }],
        },
    )))));
    assert!(
        matches!(&app.popup, Some(Popup::Restore(p)) if matches!(p.state, RestoreState::Done(_)))
    );
    // Done, its footer offers a way out, not another restore.
    assert_eq!(app.context(), Context::RestoreOutcome);
    let footer: Vec<_> = crate::tui::keymap::hints(app.context())
        .into_iter()
        .map(|(_, word)| word)
        .collect();
    assert_eq!(footer, ["close"]);
    assert!(
        app.log
            .iter()
            .any(|l| l.text.contains("is back in backups/"))
    );
    // The restored row is verified, and closing lists the trash again.
    assert!(
        sent(&rx)
            .iter()
            .any(|c| matches!(c, Command::Verify(Target::Backup(b)) if b == id.backup()))
    );
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.context(), Context::Trash);
    assert!(matches!(&sent(&rx)[..], [Command::ListTrash]));
    press(&mut app, KeyCode::Esc);
    assert!(app.popup.is_none());
}

#[test]
fn an_interrupted_trash_item_is_not_offered_for_restore() {
    let (mut app, rx) = verified(BIG, 12);
    press(&mut app, KeyCode::Char('t'));
    app.update(Action::Worker(Event::TrashListed(Ok(Box::new(
        trash_listing(),
    )))));
    press(&mut app, KeyCode::Char('G'));
    sent(&rx);
    press(&mut app, KeyCode::Char('r'));
    assert_eq!(app.context(), Context::Trash);
    assert!(sent(&rx).is_empty());
    assert!(
        app.log
            .back()
            .is_some_and(|l| l.text.contains("interrupted move"))
    );
}

#[test]
fn e_opens_the_evidence_and_its_restore_keeps_the_replaced_primary() {
    let (mut app, rx) = verified(BIG, 12);
    sent(&rx);
    press(&mut app, KeyCode::Char('e'));
    assert_eq!(app.context(), Context::Evidence);
    assert!(matches!(&sent(&rx)[..], [Command::ListEvidence]));
    app.update(Action::Worker(Event::EvidenceListed(Ok(Box::new(
        evidence_listing(),
    )))));
    let item = evidence_listing().items[0].clone();
    press(&mut app, KeyCode::Char('r'));
    assert!(matches!(
        &sent(&rx)[..],
        [Command::EvidenceRestorePlan { id, allow_unverified: false }] if *id == item.id
    ));
    app.update(Action::Worker(Event::EvidenceRestorePlanned {
        id: item.id.clone(),
        allow_unverified: false,
        result: Ok(Box::new(evidence_report(item.clone(), true))),
    }));
    assert!(
        matches!(&app.popup, Some(Popup::Restore(p)) if p.source == RestoreSource::Evidence(item.id.clone()) && matches!(p.state, RestoreState::Ready(_)))
    );
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Enter);
    assert!(matches!(
        &sent(&rx)[..],
        [Command::EvidenceRestore { id, allow_unverified: false }] if *id == item.id
    ));
    app.update(Action::Worker(Event::EvidenceRestored(Ok(Box::new(
        evidence_report(item.clone(), false),
    )))));
    let line = app.log.back().map(|l| l.text.clone()).unwrap_or_default();
    assert!(line.contains("previous primary was kept in"), "{line}");
    assert!(line.contains("as the primary (e to undo)"), "{line}");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.context(), Context::Evidence, "back to the list");
}

#[test]
fn a_refused_evidence_restore_says_the_primary_is_unchanged() {
    let (mut app, rx) = verified(BIG, 12);
    press(&mut app, KeyCode::Char('e'));
    app.update(Action::Worker(Event::EvidenceListed(Ok(Box::new(
        evidence_listing(),
    )))));
    press(&mut app, KeyCode::Down);
    sent(&rx);
    press(&mut app, KeyCode::Enter);
    let item = evidence_listing().items[1].clone();
    app.update(Action::Worker(Event::EvidenceRestorePlanned {
        id: item.id.clone(),
        allow_unverified: false,
        result: Err(crate::tui::error::UiError::from(
            crate::store::StoreError::VerifyFailed {
                path: item.data_path.clone(),
                reason: format!(
                    "restore of evidence {} refused, the primary is unchanged: corrupt",
                    item.id
                ),
            },
        )),
    }));
    assert!(
        matches!(&app.popup, Some(Popup::Restore(p)) if matches!(p.state, RestoreState::Refused(_)))
    );
    sent(&rx);
    press(&mut app, KeyCode::Char('y'));
    assert!(sent(&rx).is_empty(), "a refused plan cannot be confirmed");
}

pub(super) fn rotate_report(trashed: usize, purged: usize) -> RotateReport {
    let ids: Vec<_> = fixtures::listing(12).into_iter().map(|b| b.id).collect();
    let decisions = ids
        .iter()
        .enumerate()
        .map(|(i, id)| Decision {
            id: id.clone(),
            action: if i >= 12 - trashed {
                Fate::Remove
            } else {
                Fate::Keep
            },
            reasons: vec!["outside every rule".into()],
        })
        .collect();
    RotateReport {
        policy: RetentionPolicy::default(),
        dry_run: false,
        plan: RetentionPlan {
            decisions,
            kept: 12 - trashed,
            removed: trashed,
            kept_valid: 12 - trashed,
            clock_warning: None,
        },
        removed_files: Vec::new(),
        trashed: ids[12 - trashed..]
            .iter()
            .map(|id| TrashedBackup {
                id: trash_id(&id.to_string()),
                backup_id: id.clone(),
                size: 98_400,
                expires_at: at("2025-11-03 12:00:00"),
                moved: Vec::new(),
            })
            .collect(),
        purged: (0..purged)
            .map(|i| PurgedItem {
                id: trash_id(&format!("graph_2025080{}_080000", i + 1)),
                backup_id: ids[0].clone(),
                size: 50_000,
                trashed_at: Some(at("2025-09-01 08:00:00")),
                expires_at: Some(at("2025-09-15 08:00:00")),
            })
            .collect(),
        trash_grace: "2w".into(),
        purge_note: None,
        cancelled: false,
        elapsed_ms: 30.0,
    }
}

#[test]
fn after_a_rotation_the_log_counts_what_went_to_the_trash_and_names_the_undo_key() {
    let (mut app, _rx) = verified(BIG, 12);
    app.update(Action::Worker(Event::Rotated(Ok(Box::new(rotate_report(
        1, 0,
    ))))));
    let line = app.log.back().map(|l| l.text.clone()).unwrap_or_default();
    assert!(
        line.starts_with("moved 1 backup to the trash (t to undo), kept there 2w: graph_"),
        "{line}"
    );
    app.update(Action::Worker(Event::Rotated(Ok(Box::new(rotate_report(
        3, 2,
    ))))));
    let line = app.log.back().map(|l| l.text.clone()).unwrap_or_default();
    assert!(
        line.starts_with("moved 3 backups to the trash (t to undo)"),
        "{line}"
    );
    assert!(line.contains("purged 2 older trash items"), "{line}");
    app.update(Action::Worker(Event::Rotated(Ok(Box::new(rotate_report(
        0, 0,
    ))))));
    let line = app.log.back().map(|l| l.text.clone()).unwrap_or_default();
    assert!(line.starts_with("moved 0 backups to the trash"), "{line}");
    assert!(!line.contains("undo"), "nothing to undo: {line}");
}

#[test]
fn snapshot_trash_view() {
    for (name, size) in [
        ("trash_view", BIG),
        ("trash_view_medium", MEDIUM),
        ("trash_view_small", SMALL),
    ] {
        let (mut app, _rx) = verified(size, 12);
        press(&mut app, KeyCode::Char('t'));
        app.update(Action::Worker(Event::TrashListed(Ok(Box::new(
            trash_listing(),
        )))));
        press(&mut app, KeyCode::Down);
        assert_snapshot!(name, screen(&app));
    }
}

#[test]
fn snapshot_trash_restore_plan() {
    let (mut app, _rx) = verified(BIG, 12);
    press(&mut app, KeyCode::Char('t'));
    app.update(Action::Worker(Event::TrashListed(Ok(Box::new(
        trash_listing(),
    )))));
    press(&mut app, KeyCode::Char('r'));
    let id = trash_id("graph_20251006_133200");
    app.update(Action::Worker(Event::TrashRestorePlanned {
        id: id.clone(),
        result: Ok(Box::new(trash_plan(&id))),
    }));
    assert_snapshot!("trash_restore_plan", screen(&app));
}

#[test]
fn snapshot_evidence_view() {
    for (name, size) in [
        ("evidence_view", BIG),
        ("evidence_view_medium", MEDIUM),
        ("evidence_view_small", SMALL),
    ] {
        let (mut app, _rx) = verified(size, 12);
        press(&mut app, KeyCode::Char('e'));
        app.update(Action::Worker(Event::EvidenceListed(Ok(Box::new(
            evidence_listing(),
        )))));
        press(&mut app, KeyCode::Down);
        assert_snapshot!(name, screen(&app));
    }
}

#[test]
fn snapshot_evidence_restore_plan() {
    let (mut app, _rx) = verified(BIG, 12);
    press(&mut app, KeyCode::Char('e'));
    app.update(Action::Worker(Event::EvidenceListed(Ok(Box::new(
        evidence_listing(),
    )))));
    press(&mut app, KeyCode::Char('r'));
    let item = evidence_listing().items[0].clone();
    app.update(Action::Worker(Event::EvidenceRestorePlanned {
        id: item.id.clone(),
        allow_unverified: false,
        result: Ok(Box::new(evidence_report(item, true))),
    }));
    assert_snapshot!("evidence_restore_plan", screen(&app));
}
