//! The off-site panel: what it shows of each remote (endpoint, bucket, last
//! push, lag) from fixed state, the push key running on the worker with
//! its progress and result, and the automatic pushes after saves made in
//! the UI, whose failure never reads as a failed save.

use crossterm::event::KeyCode;
use insta::assert_snapshot;

use super::{BIG, MEDIUM, SMALL, fixtures, press, screen, screen_text, sent, verified};
use crate::remote::push::{AutoPushOutcome, PushFailure, PushProgress, PushReport, PushedBackup};
use crate::remote::state::LastPush;
use crate::tui::action::Action;
use crate::tui::app::{App, Severity};
use crate::tui::keymap::Context;
use crate::tui::popups::{Popup, PushState};
use crate::tui::worker::{Command, Event, RemoteView};

fn views() -> Vec<RemoteView> {
    vec![
        RemoteView {
            name: "offsite".into(),
            url: "s3://graph-backups/laptop".into(),
            bucket: "graph-backups".into(),
            prefix: "laptop".into(),
            endpoint: None,
            region: Some("eu-west-1".into()),
            auto_push: true,
            encrypted: true,
            last_push: Some(LastPush {
                at: "2025-10-20T09:55:00Z".into(),
                ok: true,
                sent: 2,
                failed: 0,
                error: None,
                newest: None,
            }),
            last_push_at: Some(fixtures::time("2025-10-20 11:55:00")),
            last_success: Some(fixtures::time("2025-10-20 11:55:00")),
            pending: 0,
            upload_waiting: false,
        },
        RemoteView {
            name: "nas".into(),
            url: "s3://graph".into(),
            bucket: "graph".into(),
            prefix: String::new(),
            endpoint: Some("http://10.0.0.5:8333".into()),
            region: None,
            auto_push: false,
            encrypted: false,
            last_push: Some(LastPush {
                at: "2025-10-20T08:00:00Z".into(),
                ok: false,
                sent: 0,
                failed: 0,
                error: Some(
                    "list objects on nas (s3://graph): the server could not be reached: connection refused"
                        .into(),
                ),
                newest: None,
            }),
            last_push_at: Some(fixtures::time("2025-10-20 10:00:00")),
            last_success: Some(fixtures::time("2025-10-17 12:00:00")),
            pending: 3,
            upload_waiting: true,
        },
    ]
}

fn report(remote: &str, failed: bool) -> PushReport {
    let id: crate::store::names::BackupId = "graph_20251020_100000".parse().expect("id");
    PushReport {
        remote: remote.into(),
        url: "s3://graph".into(),
        sent: vec![PushedBackup {
            id: id.clone(),
            bytes_sent: 121_300,
            data: "uploaded",
        }],
        already: 9,
        skipped: Vec::new(),
        failed: if failed {
            vec![PushFailure {
                id,
                reason: "upload an object on nas (data/x.json): HTTP 500".into(),
            }]
        } else {
            Vec::new()
        },
        bytes_sent: 121_300,
        encrypted: false,
        elapsed_ms: 20.0,
    }
}

/// The verified main screen with the off-site panel open on `views()`.
fn panel(size: (u16, u16)) -> (App, super::Rx) {
    let (mut app, rx) = verified(size, 12);
    sent(&rx);
    press(&mut app, KeyCode::Char('o'));
    assert_eq!(app.context(), Context::Remotes);
    assert!(matches!(sent(&rx)[..], [Command::ListRemotes]));
    app.update(Action::Worker(Event::RemotesListed(Ok(views()))));
    (app, rx)
}

fn log_has(app: &App, severity: Severity, text: &str) -> bool {
    app.log
        .iter()
        .any(|l| l.severity == severity && l.text.contains(text))
}

#[test]
fn o_opens_the_off_site_panel_with_endpoint_bucket_last_push_and_lag() {
    let (app, _rx) = panel(BIG);
    let text = screen_text(&app).join("\n");
    for expected in [
        "off-site: 2 remotes",
        "▸ offsite",
        "auto-push · encrypted (age)",
        "AWS S3 (eu-west-1)",
        "graph-backups, prefix laptop",
        "2025-10-20 11:55:00 (5 min ago): ok, 2 sent",
        "5 min since the last successful push; every local backup is there",
        "http://10.0.0.5:8333",
        "graph (whole bucket)",
        "failed: list objects on nas",
        "3 d since the last successful push; 3 local backups not there yet",
        "an interrupted upload resumes with the next push",
    ] {
        assert!(text.contains(expected), "no {expected:?} in\n{text}");
    }
    assert_snapshot!("remotes_panel", screen(&app));
}

#[test]
fn the_off_site_panel_fits_smaller_windows() {
    let (app, _rx) = panel(MEDIUM);
    assert_snapshot!("remotes_panel_medium", screen(&app));
    let (app, _rx) = panel(SMALL);
    let text = screen_text(&app).join("\n");
    assert!(text.contains("▸ offsite"), "{text}");
    assert!(
        text.contains("scroll"),
        "a panel taller than the window says it scrolls:\n{text}"
    );
    assert_snapshot!("remotes_panel_small", screen(&app));
}

#[test]
fn the_panel_says_how_to_add_a_remote_when_there_is_none() {
    let (mut app, _rx) = verified(BIG, 3);
    press(&mut app, KeyCode::Char('o'));
    app.update(Action::Worker(Event::RemotesListed(Ok(Vec::new()))));
    let text = screen_text(&app).join("\n");
    assert!(text.contains("This store has no remote"), "{text}");
    assert!(
        text.contains("graphvault remote add NAME s3://BUCKET/PREFIX"),
        "{text}"
    );
}

#[test]
fn big_p_in_the_panel_pushes_the_selected_remote_on_the_worker_and_shows_the_result() {
    let (mut app, rx) = panel(BIG);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Char('P'));
    let commands = sent(&rx);
    assert!(
        matches!(&commands[..], [Command::Push(Some(n))] if n == "nas"),
        "{commands:?}"
    );
    // A second press while it runs starts nothing.
    press(&mut app, KeyCode::Char('P'));
    assert!(sent(&rx).is_empty());
    assert!(log_has(&app, Severity::Warn, "a push is already running"));

    // Progress while it runs: the UI keeps drawing it.
    app.update(Action::Worker(Event::PushProgress {
        remote: "nas".into(),
        progress: PushProgress {
            backup: Some("graph_20251020_100000".into()),
            backups_done: 1,
            backups_total: 3,
            bytes_done: 24 << 20,
            bytes_total: 40 << 20,
            parts_done: 2,
        },
    }));
    let text = screen_text(&app).join("\n");
    assert!(
        text.contains("pushing to nas: backup 2 of 3, 24.0 MiB of 40.0 MiB, part 2"),
        "{text}"
    );

    app.update(Action::Worker(Event::Pushed {
        remote: "nas".into(),
        result: Ok(Box::new(report("nas", true))),
    }));
    app.update(Action::Worker(Event::PushesDone));
    let commands = sent(&rx);
    assert!(
        commands.iter().any(|c| matches!(c, Command::ListRemotes)),
        "the panel reads the remotes again: {commands:?}"
    );
    assert!(
        commands.iter().any(|c| matches!(c, Command::ReadOffsite)),
        "the table's column is read again: {commands:?}"
    );
    let Some(Popup::Remotes(p)) = &app.popup else {
        panic!("the panel stays open");
    };
    assert!(!p.running());
    assert!(matches!(p.pushes[..], [PushState::Done { .. }]));
    let text = screen_text(&app).join("\n");
    assert!(
        text.contains("push to nas: 1 sent (118.5 KiB), 9 already there, 1 failed"),
        "{text}"
    );
    assert!(log_has(&app, Severity::Error, "push to nas: 1 sent"));
    assert_snapshot!("remotes_panel_pushed", screen(&app));

    // Done: it can be pushed again.
    press(&mut app, KeyCode::Char('P'));
    assert!(matches!(&sent(&rx)[..], [Command::Push(Some(_))]));
}

#[test]
fn big_p_on_the_main_screen_pushes_every_remote_and_opens_the_panel() {
    let (mut app, rx) = verified(BIG, 12);
    sent(&rx);
    press(&mut app, KeyCode::Char('P'));
    let commands = sent(&rx);
    assert!(
        matches!(&commands[..], [Command::ListRemotes, Command::Push(None)]),
        "{commands:?}"
    );
    assert_eq!(app.context(), Context::Remotes);
    // Closing the panel does not stop the push; its outcome is logged.
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.context(), Context::Main);
    app.update(Action::Worker(Event::Pushed {
        remote: "offsite".into(),
        result: Ok(Box::new(report("offsite", false))),
    }));
    assert!(log_has(
        &app,
        Severity::Good,
        "push to offsite: 1 sent (118.5 KiB), 9 already there"
    ));
    app.update(Action::Worker(Event::Pushed {
        remote: "nas".into(),
        result: Err(crate::tui::error::UiError {
            kind: crate::tui::error::ErrorKind::Io,
            message: "list objects on nas: the server could not be reached".into(),
        }),
    }));
    assert!(log_has(
        &app,
        Severity::Error,
        "push to nas failed: list objects"
    ));
    assert!(
        app.popup.is_none(),
        "a failed push is logged, not a popup over the table"
    );
}

#[test]
fn an_auto_push_after_a_ui_save_is_logged_and_a_failure_keeps_the_save() {
    let (mut app, rx) = verified(BIG, 12);
    sent(&rx);
    app.update(Action::Worker(Event::AutoPushed(vec![
        AutoPushOutcome {
            remote: "offsite".into(),
            ok: true,
            sent: 1,
            error: None,
        },
        AutoPushOutcome {
            remote: "nas".into(),
            ok: false,
            sent: 0,
            error: Some("the server could not be reached".into()),
        },
    ])));
    assert!(log_has(
        &app,
        Severity::Good,
        "auto-push to offsite: 1 sent"
    ));
    assert!(log_has(
        &app,
        Severity::Warn,
        "auto-push to nas failed: the server could not be reached; the save is committed, and the next push retries"
    ));
    assert!(matches!(&sent(&rx)[..], [Command::ReadOffsite]));
    // The column follows what the pushes recorded.
    let mut summary = crate::remote::state::OffsiteSummary {
        remotes: vec!["offsite".into()],
        ..Default::default()
    };
    let id = app.table.rows[0].info.id.to_string();
    summary
        .backups
        .insert(id, crate::remote::state::OffsiteStatus::Verified);
    app.update(Action::Worker(Event::OffsiteRead(Box::new(summary))));
    let text = screen_text(&app).join("\n");
    assert!(text.contains("✓ verified"), "{text}");
}

/// The real worker on a real store: a snapshot taken in the UI pushes to
/// the auto-push remote through the remote library, as a CLI save does.
/// The remote is unreachable (a closed port), so the push fails: the
/// snapshot is committed all the same, and the failure is recorded for the
/// next push and the panel.
#[test]
fn a_snapshot_in_the_ui_auto_pushes_and_a_failed_push_keeps_the_snapshot() {
    use std::time::Duration;

    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = crate::store::Store::open(dir.path().join("storage")).expect("store");
    let graph = crate::generate::graph_near_bytes(20_000, 3);
    store.save_graph_with_backup(&graph).expect("save");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let mut config = store.config().clone();
    config.remotes.push(crate::remote::RemoteConfig {
        name: "offsite".into(),
        url: "s3://graph/laptop".into(),
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        region: Some("us-east-1".into()),
        auto_push: true,
        encryption: None,
        retention: None,
    });
    store.set_config(config).expect("config");
    let before = store.list_backups().expect("list").backups.len();

    let (commands, worker_rx) = std::sync::mpsc::channel();
    let (events_tx, events) = std::sync::mpsc::channel();
    let handle = crate::tui::worker::spawn(store.clone(), worker_rx, events_tx).expect("worker");
    commands.send(Command::Snapshot).expect("send");
    let mut snapshot_ok = None;
    let mut auto = None;
    while auto.is_none() {
        match events.recv_timeout(Duration::from_secs(120)) {
            Ok(Event::SnapshotTaken(r)) => snapshot_ok = Some(r.is_ok()),
            Ok(Event::AutoPushed(o)) => auto = Some(o),
            Ok(_) => {}
            Err(e) => panic!("no auto-push outcome from the worker: {e}"),
        }
    }
    drop(commands);
    let _ = handle.join();
    assert_eq!(
        snapshot_ok,
        Some(true),
        "the snapshot came first, committed"
    );
    let auto = auto.unwrap_or_default();
    assert_eq!(auto.len(), 1, "{auto:?}");
    assert!(!auto[0].ok, "{auto:?}");
    assert!(
        auto[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("could not be reached")),
        "{auto:?}"
    );
    assert_eq!(
        store.list_backups().expect("list").backups.len(),
        before + 1,
        "the snapshot's backup stays"
    );
    let state = crate::remote::state::load(&store, "offsite");
    assert!(
        state.last_push.as_ref().is_some_and(|l| !l.ok),
        "the failure is recorded for the next push: {state:?}"
    );
}

// ------------------------------------------------ the wizard's remote step

fn remote_check(
    id: &str,
    status: crate::store::verify::Status,
    reason: Option<&str>,
    deep: bool,
) -> crate::remote::inspect::RemoteCheck {
    use crate::remote::inspect::{RemoteCheck, RemoteLevel};
    use crate::store::verify::Outcome;
    let mut levels = vec![
        RemoteLevel {
            level: "manifest",
            outcome: Outcome::Pass,
            detail: "format 1, 121300 bytes".into(),
        },
        RemoteLevel {
            level: "server_checksum",
            outcome: if reason.is_some() {
                Outcome::Fail
            } else {
                Outcome::Pass
            },
            detail: reason
                .unwrap_or("the server's SHA-256 is the one pushed")
                .into(),
        },
    ];
    if deep {
        levels.push(RemoteLevel {
            level: "download",
            outcome: Outcome::Pass,
            detail: "121300 bytes, SHA-256 matches the meta".into(),
        });
        levels.push(RemoteLevel {
            level: "ladder",
            outcome: Outcome::Pass,
            detail: "every level passes".into(),
        });
    }
    RemoteCheck {
        id: id.into(),
        status,
        failed_level: reason.map(|_| "server_checksum"),
        reason: reason.map(Into::into),
        levels,
        local: None,
        deep,
    }
}

/// A broken primary, no local backup that verifies, and a remote: the
/// wizard asks the remotes, offers their backups, plans the chosen one (a
/// dry run), recovers it after a yes, and shows the re-verified primary.
#[test]
fn with_no_valid_local_backup_the_wizard_offers_the_remotes_candidates() {
    use crate::remote::fetch::{FetchSource, RemoteRecoveryReport};
    use crate::remote::inspect::RemoteVerifyReport;
    use crate::store::verify::{Status, Target};
    use crate::tui::wizard::Step;
    use crate::tui::worker::{RemoteRecovery, WizardCommand, WizardEvent};

    let (mut app, rx) = super::fresh(BIG);
    let mut state = fixtures::store_state(3);
    state.offsite.remotes = vec!["offsite".into()];
    app.update(Action::Worker(Event::Listed(Box::new(state))));
    app.update(Action::Worker(Event::PrimaryVerified(Box::new(
        fixtures::report(Target::Primary, Status::Corrupt),
    ))));
    assert!(app.wizard.as_ref().is_some_and(|w| w.has_remotes));
    let wizard = |app: &mut App, e: WizardEvent| app.update(Action::Worker(Event::Wizard(e)));
    wizard(
        &mut app,
        WizardEvent::Began(Ok(crate::tui::worker::WizardStore {
            root: fixtures::STORE.into(),
            copied: false,
            files_copied: 0,
        })),
    );
    press(&mut app, KeyCode::Enter);
    let ids: Vec<_> = app.table.rows.iter().map(|r| r.info.id.clone()).collect();
    for (i, id) in ids.iter().enumerate() {
        wizard(
            &mut app,
            WizardEvent::Candidate {
                progress: super::progress(i + 1, 3),
                report: Box::new(fixtures::report_for(id, Status::Corrupt)),
            },
        );
    }
    sent(&rx);
    let candidates = app
        .wizard
        .as_ref()
        .map(|w| w.candidates.clone())
        .unwrap_or_default();
    wizard(
        &mut app,
        WizardEvent::CandidatesDone(Ok(Box::new(fixtures::recovery_plan(candidates, false)))),
    );
    assert!(
        matches!(
            &sent(&rx)[..],
            [Command::Wizard(WizardCommand::RemoteCandidates)]
        ),
        "no local backup verifies: the remotes are asked"
    );

    let newest = "graph_20251020_100000";
    let older = "graph_20251016_030300";
    wizard(
        &mut app,
        WizardEvent::RemoteCandidates(vec![
            (
                "offsite".into(),
                Ok(RemoteVerifyReport {
                    remote: "offsite".into(),
                    url: "s3://graph-backups/laptop".into(),
                    deep: false,
                    backups: vec![
                        remote_check(
                            newest,
                            Status::Corrupt,
                            Some("the server reports another SHA-256"),
                            false,
                        ),
                        remote_check(older, Status::Valid, None, false),
                    ],
                    valid: 1,
                    corrupt: 1,
                    missing: 0,
                    elapsed_ms: 12.0,
                }),
            ),
            (
                "nas".into(),
                Err(crate::tui::error::UiError {
                    kind: crate::tui::error::ErrorKind::Io,
                    message: "the server could not be reached: connection refused".into(),
                }),
            ),
        ]),
    );
    let w = app.wizard.as_ref().expect("wizard");
    assert_eq!(w.step, Step::Candidates);
    assert!(w.on_remote());
    assert_eq!(
        w.selected, 1,
        "the newest sound remote backup is preselected"
    );
    let text = super::screen_text(&app).join("\n");
    for expected in [
        "No local backup verifies",
        "remote nas could not be asked",
        "★ recommended",
        "the server reports another SHA-256",
    ] {
        assert!(text.contains(expected), "no {expected:?} in\n{text}");
    }
    assert_snapshot!("wizard_remote_candidates", screen(&app));

    // The damaged one is refused; the sound one is planned.
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Enter);
    assert!(app.wizard.as_ref().is_some_and(|w| w.error.is_some()));
    assert!(sent(&rx).is_empty());
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Enter);
    let commands = sent(&rx);
    assert!(
        matches!(&commands[..], [Command::Wizard(WizardCommand::RemotePlan { remote, id })] if remote == "offsite" && id == older),
        "{commands:?}"
    );
    let plan = RemoteRecoveryReport {
        remote: "offsite".into(),
        url: "s3://graph-backups/laptop".into(),
        source: FetchSource::Remote,
        dry_run: true,
        primary: None,
        remote_id: Some(older.into()),
        installed_as: None,
        candidates: vec![remote_check(older, Status::Valid, None, true)],
        restore: None,
        elapsed_ms: 40.0,
    };
    wizard(
        &mut app,
        WizardEvent::RemotePlanned {
            id: older.into(),
            result: Ok(Box::new(plan.clone())),
        },
    );
    assert_eq!(app.wizard.as_ref().map(|w| w.step), Some(Step::Plan));
    let text = super::screen_text(&app).join("\n");
    assert!(text.contains("(a dry run:"), "{text}");
    assert_snapshot!("wizard_remote_plan", screen(&app));
    // The default is No: Enter goes back; y recovers.
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.wizard.as_ref().map(|w| w.step), Some(Step::Candidates));
    assert!(sent(&rx).is_empty());
    press(&mut app, KeyCode::Enter);
    sent(&rx);
    wizard(
        &mut app,
        WizardEvent::RemotePlanned {
            id: older.into(),
            result: Ok(Box::new(plan.clone())),
        },
    );
    press(&mut app, KeyCode::Char('y'));
    let commands = sent(&rx);
    assert!(
        matches!(&commands[..], [Command::Wizard(WizardCommand::RemoteRestore { remote, id })] if remote == "offsite" && id == older),
        "{commands:?}"
    );
    let installed: crate::store::names::BackupId = older.parse().expect("id");
    let mut done = plan;
    done.dry_run = false;
    done.installed_as = Some(installed.clone());
    done.restore = Some(fixtures::restore_report(&installed, Status::Corrupt, false));
    wizard(
        &mut app,
        WizardEvent::RemoteRestored(Ok(Box::new(RemoteRecovery {
            report: done,
            after: fixtures::report(Target::Primary, Status::Valid),
        }))),
    );
    assert_eq!(app.wizard.as_ref().map(|w| w.step), Some(Step::Verified));
    let text = super::screen_text(&app).join("\n");
    assert!(text.contains("re-verified the new primary"), "{text}");
    press(&mut app, KeyCode::Enter);
    let text = super::screen_text(&app).join("\n");
    assert!(text.contains("Recovered from the remote"), "{text}");
    assert!(
        app.log
            .iter()
            .any(|l| l.text.contains("recovered from remote offsite")),
        "the log says where the primary came from"
    );
}
