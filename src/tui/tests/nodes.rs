//! The node browser, a node's history timeline and restoring marked nodes: keys,
//! state and whole screens, on hand-made graphs and reports with fixed times.

use std::sync::Arc;

use insta::assert_snapshot;

use super::{
    BIG, MEDIUM, Rx, SMALL, fixtures, press, screen, screen_text, sent, type_text, verified,
};
use crate::graph::KnowledgeGraph;
use crate::graph::change::{FieldChange, FieldChangeKind, NodeChanges};
use crate::graph::merge::{EdgeRef, MergePlan, NodeConflict, Prefer, SkipReason, SkippedEdge};
use crate::store::history::{EdgeChange, EdgeState, HistoryEntry, HistoryReport, NodeState};
use crate::store::names::BackupId;
use crate::store::node_index::IndexOutcome;
use crate::store::partial::PartialRestoreReport;
use crate::store::verify::{Status, Target};
use crate::tui::action::Action;
use crate::tui::app::App;
use crate::tui::keymap::Context;
use crate::tui::popups::Popup;
use crate::tui::worker::{Command, Event, NodeGraphs};
use crossterm::event::KeyCode;

const T: &str = "2025-10-03T09:30:00.000000";

/// A small financial graph: two companies, a sector, a CEO.
fn graph() -> KnowledgeGraph {
    let mut g = KnowledgeGraph::new(2);
    g.seed_ids(12);
    g.add_node_at(
        "company",
        &serde_json::json!({"symbol": "NVDA", "price": 118.88, "employees": 29600}),
        Some("NVDA"),
        T,
    );
    g.add_node_at(
        "company",
        &serde_json::json!({"symbol": "AMD", "price": 155.2}),
        Some("AMD"),
        "2025-10-04T10:00:00.000000",
    );
    g.add_node_at(
        "sector",
        &serde_json::json!({"name": "Information Technology"}),
        Some("sector_technology"),
        T,
    );
    g.add_node_at(
        "person",
        &serde_json::json!({"name": "Jensen Huang", "role": "CEO"}),
        Some("person_jensen_huang"),
        T,
    );
    for (from, to, rel, s) in [
        ("NVDA", "sector_technology", "in_sector", 1.0),
        ("AMD", "sector_technology", "in_sector", 1.0),
        ("AMD", "NVDA", "sector_peer", 0.65),
        ("person_jensen_huang", "NVDA", "ceo_of", 1.0),
    ] {
        let _ = g.connect_at(from, to, rel, s, T);
    }
    g
}

fn backup_id(app: &App) -> BackupId {
    app.table.rows[1].info.id.clone()
}

/// The app with the node browser open on the second backup, its graph loaded.
fn browsing() -> (App, Rx) {
    let (mut app, rx) = verified(BIG, 12);
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Enter);
    let id = backup_id(&app);
    let target = Target::Backup(id.clone());
    assert!(
        sent(&rx)
            .iter()
            .any(|c| matches!(c, Command::OpenNodes { target: t, compare: None } if *t == target)),
        "Enter asks the worker for the backup's graph"
    );
    app.update(Action::Worker(Event::NodesOpened {
        target: target.clone(),
        result: Ok(Box::new(NodeGraphs {
            file: fixtures::report(target, Status::Valid),
            graph: Arc::new(graph()),
            compare: None,
        })),
    }));
    (app, rx)
}

fn nodes(app: &App) -> &crate::tui::popups::NodesPopup {
    match &app.popup {
        Some(Popup::Nodes(p)) => p,
        other => panic!("not the node browser: {other:?}"),
    }
}

fn history(id: &BackupId) -> HistoryReport {
    let change = |key: &str, old: &str, new: &str| FieldChange {
        key: key.into(),
        change: FieldChangeKind::Changed,
        old: Some(old.into()),
        new: Some(new.into()),
    };
    let entry = |target: Target, time: Option<&str>, state: NodeState| HistoryEntry {
        target,
        time: time.map(fixtures::time),
        state,
        changes: None,
        edges: Vec::new(),
        edge_count: 3,
        modified: Some(T.into()),
        reason: None,
        index: Some(IndexOutcome::Hit),
    };
    let older = BackupId::new(fixtures::time("2025-10-10 08:00:00"), 0);
    let oldest = BackupId::new(fixtures::time("2025-10-06 08:00:00"), 0);
    let mut changed = entry(
        Target::Backup(id.clone()),
        Some("2025-10-16 18:00:00"),
        NodeState::Changed,
    );
    changed.changes = Some(NodeChanges {
        data: vec![change("price", "121.94", "118.88")],
        fields: vec![change(
            "modified",
            "\"2025-10-01T07:30:18\"",
            "\"2025-10-03T09:30:00\"",
        )],
    });
    changed.edges = vec![EdgeChange {
        id: "edge_c99a235b".into(),
        from: "NVDA".into(),
        to: "ZEI".into(),
        state: EdgeState::Removed,
        fields: Vec::new(),
    }];
    let mut removed = entry(Target::Primary, None, NodeState::Removed);
    removed.edge_count = 0;
    removed.modified = None;
    HistoryReport {
        node: "NVDA".into(),
        entries: vec![
            removed,
            changed,
            entry(
                Target::Backup(older),
                Some("2025-10-10 08:00:00"),
                NodeState::Unchanged,
            ),
            entry(
                Target::Backup(oldest),
                Some("2025-10-06 08:00:00"),
                NodeState::Added,
            ),
        ],
        present_in: 3,
        index_hits: 4,
        index_built: 0,
        index_rebuilt: 0,
        index_skimmed: 0,
        elapsed_ms: 12.0,
    }
}

fn plan_report(id: &BackupId, dry_run: bool, prefer: Option<Prefer>) -> PartialRestoreReport {
    let conflict = NodeConflict {
        id: "AMD".into(),
        backup_modified: Some(T.into()),
        current_modified: Some("2025-10-18T10:00:00.000000".into()),
        changes: NodeChanges {
            data: vec![FieldChange {
                key: "price".into(),
                change: FieldChangeKind::Changed,
                old: Some("161.3".into()),
                new: Some("155.2".into()),
            }],
            fields: Vec::new(),
        },
    };
    let mut plan = MergePlan {
        nodes_added: vec!["NVDA".into(), "person_jensen_huang".into()],
        edges_added: vec![
            EdgeRef {
                id: "edge_1".into(),
                from: "NVDA".into(),
                to: "sector_technology".into(),
                relationship: Some("in_sector".into()),
            },
            EdgeRef {
                id: "edge_4".into(),
                from: "person_jensen_huang".into(),
                to: "NVDA".into(),
                relationship: Some("ceo_of".into()),
            },
        ],
        edges_skipped: vec![SkippedEdge {
            edge: EdgeRef {
                id: "edge_c99a235b".into(),
                from: "NVDA".into(),
                to: "ZEI".into(),
                relationship: Some("correlates_with".into()),
            },
            reason: SkipReason::MissingEndpoint {
                missing: vec!["ZEI".into()],
            },
        }],
        connections_updated: vec!["sector_technology".into()],
        ..MergePlan::default()
    };
    match prefer {
        None => plan.conflicts.push(conflict),
        Some(Prefer::Backup) => plan.nodes_overwritten.push(conflict),
        Some(Prefer::Current) => plan.nodes_kept.push(conflict),
    }
    let target = Target::Backup(id.clone());
    PartialRestoreReport {
        backup_id: id.clone(),
        dry_run,
        backup: fixtures::report(target, Status::Valid),
        previous_primary: fixtures::report(Target::Primary, Status::Valid),
        plan,
        save: None,
        evidence: if dry_run {
            Vec::new()
        } else {
            vec![
                format!(
                    "{}/.graphvault/evidence/20251020_120000-before-partial-restore-graph.json",
                    fixtures::STORE
                )
                .into(),
            ]
        },
        node_count: 316,
        edge_count: 410,
        after: (!dry_run).then(|| fixtures::report(Target::Primary, Status::Valid)),
        elapsed_ms: 40.0,
    }
}

#[test]
fn enter_opens_the_browser_with_every_node_and_its_detail() {
    let (app, _rx) = browsing();
    assert_eq!(app.context(), Context::Nodes);
    let p = nodes(&app);
    assert_eq!(p.rows.len(), 4);
    assert_eq!(p.selected_node().map(|n| n.id.as_str()), Some("NVDA"));
    assert_eq!(p.selected_node().map(|n| n.degree), Some(3));
    assert_snapshot!("node_browser", screen(&app));
}

/// The table shows MODIFIED as date and time, as a date, or not at all, by the width:
/// a date cut mid-way (`2025-10-0`) reads as another date.
#[test]
fn the_node_table_never_cuts_a_date_at_any_size() {
    for (size, shown) in [
        (BIG, "2025-10-04 10:00:00"),
        (MEDIUM, "2025-10-04"),
        (SMALL, ""),
    ] {
        let (mut app, _rx) = browsing();
        app.size = size;
        let lines = screen_text(&app);
        // The table's part of a line: after the outer border, up to the detail pane.
        let table = |line: &str| -> String {
            line.chars()
                .skip(1)
                .take_while(|&c| c != '│' && c != '┌')
                .collect()
        };
        let header = lines.iter().find(|l| l.contains("DEGREE")).expect("header");
        assert_eq!(
            table(header).contains("MODIFIED"),
            !shown.is_empty(),
            "{size:?}: {header}"
        );
        let amd = lines.iter().find(|l| l.contains(" AMD ")).expect("AMD row");
        let cell = table(amd);
        let date = cell.trim_end().rsplit("  ").next().unwrap_or_default();
        match shown {
            "" => assert!(!cell.contains("2025"), "{size:?}: {amd}"),
            full => assert_eq!(date.trim(), full, "{size:?}: {amd}"),
        }
    }
}

#[test]
fn search_as_you_type_and_the_type_filter_narrow_the_table() {
    let (mut app, _rx) = browsing();
    press(&mut app, KeyCode::Char('/'));
    assert_eq!(app.context(), Context::NodeSearch);
    type_text(&mut app, "jens");
    assert_eq!(nodes(&app).rows.len(), 1, "matches the data as you type");
    assert_eq!(
        nodes(&app).selected_node().map(|n| n.id.as_str()),
        Some("person_jensen_huang")
    );
    press(&mut app, KeyCode::Esc);
    assert_eq!(nodes(&app).rows.len(), 4, "Esc clears the search");
    press(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "NVDA");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.context(), Context::Nodes);
    assert_eq!(nodes(&app).rows.len(), 1, "the search stays after Enter");
    press(&mut app, KeyCode::Char('/'));
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('t'));
    assert_eq!(nodes(&app).kind.as_deref(), Some("company"));
    assert_eq!(nodes(&app).rows.len(), 2);
    press(&mut app, KeyCode::Char('t'));
    press(&mut app, KeyCode::Char('t'));
    press(&mut app, KeyCode::Char('t'));
    assert_eq!(nodes(&app).kind, None, "after the last type: all again");
    press(&mut app, KeyCode::Esc);
    assert!(app.popup.is_none(), "Esc goes back to the backups");
}

#[test]
fn h_shows_the_timeline_of_the_selected_node() {
    let (mut app, rx) = browsing();
    press(&mut app, KeyCode::Char('h'));
    assert_eq!(app.context(), Context::History);
    assert!(
        sent(&rx)
            .iter()
            .any(|c| matches!(c, Command::NodeHistory(n) if n == "NVDA"))
    );
    let id = backup_id(&app);
    app.update(Action::Worker(Event::NodeHistory {
        node: "NVDA".into(),
        result: Ok(Box::new(history(&id))),
    }));
    assert_snapshot!("node_history", screen(&app));
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.context(), Context::Nodes, "back to the browser");
}

/// A hub node's first appearance brings thousands of edges: the timeline lists the
/// first few and says how many more, so the rest of the history stays in reach.
#[test]
fn a_hub_nodes_edges_are_counted_past_the_first_few() {
    let (mut app, _rx) = browsing();
    press(&mut app, KeyCode::Char('h'));
    let id = backup_id(&app);
    let mut report = history(&id);
    let hub = report.entries.len() - 1;
    report.entries[hub].edges = (0..3059)
        .map(|i| EdgeChange {
            id: format!("edge_{i:08x}"),
            from: format!("company_{i}"),
            to: "NVDA".into(),
            state: EdgeState::Added,
            fields: Vec::new(),
        })
        .collect();
    app.update(Action::Worker(Event::NodeHistory {
        node: "NVDA".into(),
        result: Ok(Box::new(report)),
    }));
    // Scrolled to the end: the oldest entry, its first edges, then the count.
    for _ in 0..40 {
        press(&mut app, KeyCode::PageDown);
    }
    let text = super::screen_text(&app).join("\n");
    let listed = text.matches("edge + company_").count();
    assert!((1..=12).contains(&listed), "{listed} edges listed:\n{text}");
    assert!(
        text.contains("… and 3047 more edge changes"),
        "no count of the rest:\n{text}"
    );
}

#[test]
fn marked_nodes_go_through_plan_choice_confirm_and_reverify() {
    let (mut app, rx) = browsing();
    let id = backup_id(&app);
    press(&mut app, KeyCode::Char(' '));
    press(&mut app, KeyCode::Char(' '));
    assert_eq!(nodes(&app).marked, ["NVDA", "AMD"]);
    let _ = sent(&rx);
    press(&mut app, KeyCode::Char('r'));
    assert_eq!(app.context(), Context::NodeRestore);
    let planned = sent(&rx);
    assert!(
        planned.iter().any(|c| matches!(c, Command::RestoreNodes { options, .. }
            if options.dry_run && options.with_edges && options.nodes == ["NVDA", "AMD"] && options.prefer.is_none())),
        "a dry run first: {planned:?}"
    );
    app.update(Action::Worker(Event::NodesRestored {
        dry_run: true,
        result: Ok(Box::new(plan_report(&id, true, None))),
    }));
    assert_snapshot!("node_restore_conflict", screen(&app));
    // With a conflict open, y does nothing.
    press(&mut app, KeyCode::Char('y'));
    assert!(
        sent(&rx)
            .iter()
            .all(|c| !matches!(c, Command::RestoreNodes { options, .. } if !options.dry_run))
    );
    press(&mut app, KeyCode::Char('c'));
    assert!(
        sent(&rx)
            .iter()
            .any(|c| matches!(c, Command::RestoreNodes { options, .. }
        if options.dry_run && options.prefer == Some(Prefer::Current)))
    );
    app.update(Action::Worker(Event::NodesRestored {
        dry_run: true,
        result: Ok(Box::new(plan_report(&id, true, Some(Prefer::Current)))),
    }));
    press(&mut app, KeyCode::Char('y'));
    assert!(
        sent(&rx)
            .iter()
            .any(|c| matches!(c, Command::RestoreNodes { options, .. }
        if !options.dry_run && options.prefer == Some(Prefer::Current)))
    );
    app.update(Action::Worker(Event::NodesRestored {
        dry_run: false,
        result: Ok(Box::new(plan_report(&id, false, Some(Prefer::Current)))),
    }));
    let text = format!("{:?}", screen(&app));
    assert!(text.contains("re-verified the new primary"), "{text}");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.context(), Context::Nodes);
}

#[test]
fn the_diff_drills_down_into_a_changed_node() {
    let (mut app, rx) = verified(BIG, 12);
    press(&mut app, KeyCode::Char('d'));
    let id = app.table.rows[0].info.id.clone();
    let report = fixtures::diff_report(&id);
    app.update(Action::Worker(Event::Diffed(Ok(Box::new(report.clone())))));
    let _ = sent(&rx);
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.context(), Context::Nodes);
    assert!(sent(&rx).iter().any(|c| matches!(
        c,
        Command::OpenNodes {
            compare: Some(_),
            ..
        }
    )));
    let mut old = graph();
    old.set_node_data_json("AMD", r#"{"symbol": "AMD", "price": 150.0}"#, T)
        .expect("edit");
    let mut new = graph();
    new.set_node_data_json("AMD", r#"{"symbol": "AMD", "price": 155.2}"#, T)
        .expect("edit");
    let target = report.new.clone();
    app.update(Action::Worker(Event::NodesOpened {
        target: target.clone(),
        result: Ok(Box::new(NodeGraphs {
            file: fixtures::report(target, Status::Valid),
            graph: Arc::new(new),
            compare: Some(Arc::new(old)),
        })),
    }));
    let p = nodes(&app);
    assert_eq!(
        p.rows.len(),
        2,
        "the changed and added nodes this graph has"
    );
    press(&mut app, KeyCode::Char('j'));
    assert_eq!(
        nodes(&app).selected_node().map(|n| n.id.as_str()),
        Some("AMD")
    );
    assert_snapshot!("diff_drill_down", screen(&app));
}

/// A history that skimmed graphs leaves the worker indexing them on a thread of its
/// own; the next history, of another node, reads indexes only.
#[test]
fn a_skimming_history_leaves_the_graphs_indexed_for_the_next() {
    use std::time::Duration;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = crate::store::Store::open(dir.path().join("s")).expect("open");
    let mut g = graph();
    store.save_graph_with_backup(&g).expect("save");
    g.set_node_data_json("NVDA", r#"{"symbol": "NVDA", "price": 1.5}"#, T)
        .expect("edit");
    store.save_graph_with_backup(&g).expect("save");

    let (commands, worker_rx) = std::sync::mpsc::channel();
    let (events_tx, events) = std::sync::mpsc::channel();
    let handle = crate::tui::worker::spawn(store.clone(), worker_rx, events_tx).expect("worker");
    let next = |want: &dyn Fn(&Event) -> bool| loop {
        match events.recv_timeout(Duration::from_secs(60)) {
            Ok(e) if want(&e) => return e,
            Ok(_) => {}
            Err(e) => panic!("no event from the worker: {e}"),
        }
    };
    // The history of `node`, as the worker reports it.
    let history = |node: &str| {
        commands
            .send(Command::NodeHistory(node.into()))
            .expect("send");
        match next(&|e| matches!(e, Event::NodeHistory { .. })) {
            Event::NodeHistory { result, .. } => result.expect("history"),
            _ => unreachable!(),
        }
    };
    let first = history("NVDA");
    assert_eq!(first.index_skimmed, first.entries.len(), "{first:?}");
    let Event::Indexed(indexed) = next(&|e| matches!(e, Event::Indexed(_))) else {
        unreachable!()
    };
    let indexed = indexed.expect("indexing");
    // The primary has the newest backup's bytes: two contents.
    assert_eq!((indexed.built, indexed.left), (2, 0), "{indexed:?}");

    let second = history("AMD");
    assert_eq!(second.index_hits, second.entries.len(), "{second:?}");
    drop(commands);
    handle.join().expect("worker");
}
