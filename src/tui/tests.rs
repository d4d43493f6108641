//! The UI without a terminal: key -> action -> state for every action, and
//! whole screens as insta snapshots on a fixed-size `TestBackend`. Times,
//! ages and paths are fixed values injected into the state, so the
//! snapshots do not depend on the clock or on temp directories.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use insta::assert_snapshot;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use crate::store::LockState;
use crate::store::corrupt::CorruptionKind;
use crate::store::names::BackupId;
use crate::store::retention::{self, RetentionPolicy};
use crate::store::verify::{Depth, Status, Target};

use crate::store::StoreError;
use crate::store::recover::Lost;

/// The node browser, the history timeline and restoring marked nodes.
mod nodes;

/// The trash and evidence views, restoring from them, and the rotation's
/// activity line.
mod trash;

/// The off-site panel, the push key and the automatic pushes after saves.
mod remotes;
/// A UI that never misleads: an unreadable store, outside changes, one
/// status per file, the recovery key, stale footers, small windows, the
/// log, a long rotation.
mod trust;

use super::action::Action;
use super::app::App;
use super::error::UiError;
use super::keymap::Context;
use super::popups::candidates as rotate_candidates;
use super::popups::{Popup, RestoreState};
use super::wizard::{Mode, Step};
use super::worker::{Command, Event, Progress, VerifySummary, WizardCommand, WizardEvent};

/// Hand-made store reports with fixed times, paths and checksums.
pub mod fixtures {
    use std::path::PathBuf;

    use chrono::{Local, NaiveDateTime, TimeZone};

    use crate::store::LockState;
    use crate::store::corrupt::{CorruptionKind, CorruptionReport};
    use crate::store::diff::{DiffReport, GraphDiff};
    use crate::store::list::{BackupInfo, BackupListing};
    use crate::store::names::BackupId;
    use crate::store::recover::{Lost, RecoveryPlan, RecoveryReport, Source};
    use crate::store::restore::RestoreReport;
    use crate::store::verify::{Depth, FileReport, Level, LevelResult, Outcome, Status, Target};
    use crate::tui::health::{DiskSpace, Watch};
    use crate::tui::worker::StoreState;

    pub const STORE: &str = "/srv/graph/storage";

    pub fn now() -> NaiveDateTime {
        time("2025-10-20 12:00:00")
    }

    pub fn time(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap_or_default()
    }

    fn local(t: NaiveDateTime) -> chrono::DateTime<Local> {
        Local
            .from_local_datetime(&t)
            .earliest()
            .unwrap_or_else(|| Local.timestamp_opt(0, 0).unwrap())
    }

    fn checksum(seed: usize) -> String {
        crate::store::verify::sha256_hex(format!("fixture {seed}").as_bytes())
    }

    /// `n` backups, newest first, two hours old for the newest, then about
    /// every three and a half days; the two oldest have legacy metas.
    pub fn listing(n: usize) -> Vec<BackupInfo> {
        (0..n)
            .map(|i| {
                let t = now()
                    - chrono::Duration::hours(2 + 83 * i as i64)
                    - chrono::Duration::minutes(i as i64 * 7);
                let id = BackupId::new(t, 0);
                let legacy = n > 4 && i + 2 >= n;
                let nodes = 154 - (i as u64 % 40) * 3;
                BackupInfo {
                    time: t,
                    data_path: PathBuf::from(STORE)
                        .join("backups")
                        .join(id.data_file_name()),
                    form: crate::store::codec::StoredForm::Plain,
                    size: Some(121_300 - (i as u64 % 40) * 2_500),
                    plain_size: Some(121_300 - (i as u64 % 40) * 2_500),
                    delta_base: None,
                    meta_path: Some(
                        PathBuf::from(STORE)
                            .join("backups")
                            .join(id.meta_file_name()),
                    ),
                    node_count: (!legacy).then_some(nodes),
                    edge_count: (!legacy).then_some(nodes * 2),
                    legacy_counts: legacy,
                    checksum: Some(checksum(i)),
                    saved_by: Some(if legacy {
                        "DawsOS PersistenceManager".into()
                    } else {
                        "graphvault 0.1.0".into()
                    }),
                    source: (!legacy).then(|| "save".to_string()),
                    meta_timestamp: Some(t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()),
                    sequence: None,
                    notes: Vec::new(),
                    id,
                }
            })
            .collect()
    }

    fn level(level: Level, outcome: Outcome, detail: &str) -> LevelResult {
        LevelResult {
            level,
            outcome,
            detail: detail.to_string(),
        }
    }

    /// A report as the ladder would give it for `status`, fully verified.
    pub fn report(target: Target, status: Status) -> FileReport {
        let (path, meta) = match &target {
            Target::Primary => ("graph.json".to_string(), "graph.json.meta".to_string()),
            Target::Backup(id) => (
                format!("backups/{}", id.data_file_name()),
                id.meta_file_name(),
            ),
        };
        let sum = checksum(1);
        let pass = |l, d: &str| level(l, Outcome::Pass, d);
        let skip = |l| level(l, Outcome::Skipped, "not reached");
        let (levels, failed, reason) = match status {
            Status::Valid => (
                vec![
                    pass(Level::File, "regular file, 121300 bytes"),
                    pass(Level::Meta, &format!("{meta} (graphvault 0.1.0)")),
                    pass(Level::Checksum, &format!("sha256 {}…", &sum[..12])),
                    pass(Level::Parse, "version 2, 154 nodes, 308 edges"),
                    pass(
                        Level::Consistency,
                        "ids unique, every edge's endpoints exist",
                    ),
                ],
                None,
                None,
            ),
            Status::Unverified => {
                let why = "no meta file, so no checksum to compare";
                (
                    vec![
                        pass(Level::File, "regular file, 121300 bytes"),
                        level(Level::Meta, Outcome::Warn, why),
                        level(Level::Checksum, Outcome::Skipped, "no checksum to compare"),
                        pass(Level::Parse, "version 2, 154 nodes, 308 edges"),
                        pass(
                            Level::Consistency,
                            "ids unique, every edge's endpoints exist",
                        ),
                    ],
                    None,
                    Some(why.to_string()),
                )
            }
            Status::Corrupt => {
                let why = format!(
                    "sha256 mismatch: meta says {sum}, file hashes to {}",
                    checksum(99)
                );
                (
                    vec![
                        pass(Level::File, "regular file, 60650 bytes"),
                        pass(Level::Meta, &format!("{meta} (graphvault 0.1.0)")),
                        level(Level::Checksum, Outcome::Fail, &why),
                        skip(Level::Parse),
                        skip(Level::Consistency),
                    ],
                    Some(Level::Checksum),
                    Some(why),
                )
            }
            Status::Missing => {
                let why = "data file is missing (its meta is still there)";
                (
                    vec![
                        level(Level::File, Outcome::Fail, why),
                        skip(Level::Meta),
                        skip(Level::Checksum),
                        skip(Level::Parse),
                        skip(Level::Consistency),
                    ],
                    Some(Level::File),
                    Some(why.to_string()),
                )
            }
        };
        let parsed = matches!(status, Status::Valid | Status::Unverified);
        FileReport {
            target,
            path: PathBuf::from(STORE).join(path),
            meta_path: Some(PathBuf::from(STORE).join(meta)),
            status,
            failed_level: failed,
            reason,
            levels,
            size: (status != Status::Missing).then_some(121_300),
            expected_checksum: Some(sum.clone()),
            actual_checksum: Some(sum),
            node_count: parsed.then_some(154),
            edge_count: parsed.then_some(308),
            node_types: if parsed {
                vec![
                    ("stock".into(), 90),
                    ("sector".into(), 40),
                    ("indicator".into(), 24),
                ]
            } else {
                Vec::new()
            },
            edge_types: if parsed {
                vec![("sector_peer".into(), 200), ("affects".into(), 108)]
            } else {
                Vec::new()
            },
            memo_verified_at: None,
            warnings: Vec::new(),
            authenticated: None,
            unreadable: false,
            depth: Depth::Full,
            verified_at: local(now() - chrono::Duration::minutes(3)),
            elapsed_ms: 4.0,
        }
    }

    pub fn report_for(id: &BackupId, status: Status) -> FileReport {
        report(Target::Backup(id.clone()), status)
    }

    pub fn store_state(n: usize) -> StoreState {
        let backups = listing(n);
        StoreState {
            exists: true,
            is_sandbox: false,
            has_primary: true,
            has_meta: true,
            listing: Ok(BackupListing {
                dir: PathBuf::from(STORE).join("backups"),
                total_size: backups.iter().filter_map(|b| b.size).sum(),
                total_plain_size: backups.iter().filter_map(|b| b.plain_size).sum(),
                backups,
                ignored: vec![".gitkeep".into(), "20251001_161329".into()],
                elapsed_ms: 1.0,
            }),
            lock: LockState::Free,
            offsite: Default::default(),
        }
    }

    pub fn disk() -> DiskSpace {
        DiskSpace::Known {
            available: 42 << 30,
            margin: 2,
        }
    }

    /// A healthy check two hours before [`now`], with the trash and the
    /// evidence of the trash tests' listings (4 x 98,400 and 3 x 121,300
    /// bytes).
    pub fn watch() -> Watch {
        Watch {
            status: Some(crate::tui::health::tests::record(
                crate::store::status::Health::Healthy,
                time("2025-10-20 10:00:00"),
                Some(time("2025-10-20 10:00:00")),
            )),
            trash_bytes: Some(393_600),
            evidence_bytes: Some(363_900),
        }
    }

    pub fn diff() -> GraphDiff {
        GraphDiff {
            nodes_added: vec!["NVDA".into(), "AMD".into(), "TSM".into()],
            nodes_changed: vec!["AAPL".into()],
            edges_added: vec!["edge_1a2b3c4d".into(), "edge_5e6f7a8b".into()],
            old_node_count: 151,
            new_node_count: 154,
            old_edge_count: 306,
            new_edge_count: 308,
            ..GraphDiff::default()
        }
    }

    pub fn diff_report(old: &BackupId) -> DiffReport {
        DiffReport {
            old: Target::Backup(old.clone()),
            new: Target::Primary,
            old_size: 118_800,
            new_size: 121_300,
            old_file: report(Target::Backup(old.clone()), Status::Valid),
            new_file: report(Target::Primary, Status::Valid),
            diff: diff(),
        }
    }

    /// The store's recovery plan over `candidates` (newest first): the
    /// newest valid one recommended.
    pub fn recovery_plan(candidates: Vec<FileReport>, cancelled: bool) -> RecoveryPlan {
        let recommended = candidates
            .iter()
            .find(|c| c.status == Status::Valid)
            .and_then(|c| c.target.backup_id().cloned());
        RecoveryPlan {
            primary: report(Target::Primary, Status::Corrupt),
            primary_usable: false,
            primary_failure: Some("corrupt: sha256 mismatch".into()),
            unverified_fallbacks: candidates
                .iter()
                .filter(|c| c.status == Status::Unverified)
                .filter_map(|c| c.target.backup_id().cloned())
                .collect(),
            candidates,
            recommended,
            warnings: Vec::new(),
            complete: !cancelled,
            cancelled,
            elapsed_ms: 9.0,
        }
    }

    /// A recovery from `id` as the store reports it.
    pub fn recovery_report(
        id: &BackupId,
        dry_run: bool,
        lost: Lost,
        restore: RestoreReport,
    ) -> RecoveryReport {
        RecoveryReport {
            source: Source::Backup(id.clone()),
            dry_run,
            primary: report(Target::Primary, Status::Corrupt),
            primary_failure: Some("corrupt: sha256 mismatch".into()),
            candidates: Vec::new(),
            recommended: Some(id.clone()),
            node_count: restore.node_count,
            edge_count: restore.edge_count,
            restore: Some(restore),
            lost: Some(lost),
            warnings: Vec::new(),
            unverified_fallbacks: Vec::new(),
            elapsed_ms: 4.0,
        }
    }

    pub fn restore_report(id: &BackupId, primary: Status, dry_run: bool) -> RestoreReport {
        RestoreReport {
            backup_id: id.clone(),
            dry_run,
            backup: report(Target::Backup(id.clone()), Status::Valid),
            previous_primary: report(Target::Primary, primary),
            diff: (primary == Status::Valid).then(diff),
            no_diff: match primary {
                Status::Valid => None,
                Status::Missing => Some("there is no graph.json to compare with".into()),
                _ => Some("graph.json does not parse: expected value at line 1 column 1".into()),
            },
            keeps: if primary == Status::Missing {
                crate::store::restore::KeptPrimary::NoPrimary
            } else {
                crate::store::restore::KeptPrimary::Evidence {
                    dir: PathBuf::from(STORE).join(".graphvault/evidence"),
                    with_meta: true,
                }
            },
            evidence: if dry_run {
                Vec::new()
            } else {
                vec![
                    PathBuf::from(STORE).join(".graphvault/evidence/20251020_120000_000000-before-restore-graph.json"),
                    PathBuf::from(STORE).join(".graphvault/evidence/20251020_120000_000000-before-restore-graph.json.meta"),
                ]
            },
            node_count: 154,
            edge_count: 308,
            checksum: checksum(1),
            after: (!dry_run).then(|| report(Target::Primary, Status::Valid)),
            elapsed_ms: 12.0,
        }
    }

    pub fn corruption(kind: CorruptionKind) -> CorruptionReport {
        CorruptionReport {
            kind,
            target: Target::Primary,
            path: PathBuf::from(STORE).join("graph.json"),
            action: match kind {
                CorruptionKind::Truncate => "cut graph.json from 121300 to 60650 bytes".into(),
                CorruptionKind::DeleteMeta => "deleted graph.json.meta; graph.json was left in place".into(),
                _ => "changed a value inside graph.json and recomputed the checksum in graph.json.meta".into(),
            },
            expected_level: kind.expected_level(),
            detectable: kind.expected_level().is_some(),
            note: match kind {
                CorruptionKind::Tampered => Some("A plain SHA-256 beside the data only detects accidents: whoever can edit graph.json can recompute the checksum.".into()),
                CorruptionKind::DeleteMeta => Some("Without a meta there is no checksum to compare: the graph is reported unverified, and kept as long as it parses.".into()),
                _ => None,
            },
            evidence: Vec::new(),
        }
    }
}

type Rx = Receiver<Command>;

fn config(size: (u16, u16)) -> super::app::AppConfig {
    super::app::AppConfig {
        store_path: fixtures::STORE.into(),
        notes: vec!["UI log: /srv/graph/storage/.graphvault/ui.log".into()],
        theme: super::theme::Theme::PLAIN,
        now: fixtures::now(),
        size,
        policy: RetentionPolicy::default(),
        trash_grace: "2w".into(),
        auto_verify: true,
    }
}

/// An app before the worker has said anything.
fn fresh(size: (u16, u16)) -> (App, Rx) {
    let (tx, rx) = mpsc::channel();
    let app = App::new(config(size), tx);
    (app, rx)
}

/// An app on a store of `n` backups with a valid primary, the startup
/// checksum pass under way, and some backups verified.
fn loaded(size: (u16, u16), n: usize) -> (App, Rx) {
    let (mut app, rx) = fresh(size);
    app.update(Action::Worker(Event::Listed(Box::new(
        fixtures::store_state(n),
    ))));
    app.update(Action::Worker(Event::Probed {
        lock: LockState::Free,
        disk: fixtures::disk(),
        watch: Box::new(fixtures::watch()),
    }));
    app.update(Action::Worker(Event::PrimaryVerified(Box::new(
        fixtures::report(Target::Primary, Status::Valid),
    ))));
    (app, rx)
}

/// `loaded` with every backup verified: one corrupt, one unverified.
fn verified(size: (u16, u16), n: usize) -> (App, Rx) {
    let (mut app, rx) = loaded(size, n);
    let job = app.verify.as_ref().map(|j| j.job).unwrap_or(0);
    let ids: Vec<BackupId> = app.table.rows.iter().map(|r| r.info.id.clone()).collect();
    for (i, id) in ids.iter().enumerate() {
        let status = match i {
            2 => Status::Corrupt,
            4 => Status::Unverified,
            _ => Status::Valid,
        };
        app.update(Action::Worker(Event::VerifyProgress {
            job,
            progress: progress(i + 1, ids.len()),
            report: Box::new(fixtures::report_for(id, status)),
        }));
    }
    app.update(Action::Worker(Event::VerifyFinished {
        job,
        result: Ok(VerifySummary {
            valid: n - 2,
            unverified: 1,
            corrupt: 1,
            missing: 0,
            cancelled: false,
            elapsed_ms: 310.0,
        }),
    }));
    (app, rx)
}

fn progress(done: usize, total: usize) -> Progress {
    Progress {
        done,
        total,
        bytes_done: done as u64 * 120_000,
        bytes_total: total as u64 * 120_000,
        elapsed: std::time::Duration::from_millis(done as u64 * 40),
    }
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

/// Presses a key the way the event loop does: keymap, then update.
fn press(app: &mut App, code: KeyCode) {
    if let Some(action) = app.action_for_key(key(code)) {
        app.update(action);
    }
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

fn sent(rx: &Rx) -> Vec<Command> {
    rx.try_iter().collect()
}

fn screen(app: &App) -> TestBackend {
    let (w, h) = app.size;
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap_or_else(|e| match e {});
    terminal
        .draw(|frame| frame.render_widget(app, frame.area()))
        .unwrap_or_else(|e| match e {});
    terminal.backend().clone()
}

const BIG: (u16, u16) = (120, 35);
const MEDIUM: (u16, u16) = (80, 24);
const SMALL: (u16, u16) = (60, 15);

// ---------------------------------------------------------------- keys

#[test]
fn starting_asks_the_worker_for_the_store_then_verifies_every_level() {
    let (app, rx) = fresh(BIG);
    assert!(matches!(sent(&rx)[..], [Command::Refresh]));
    assert!(!app.store.loaded);
    let (app, rx) = loaded(BIG, 12);
    let commands = sent(&rx);
    assert!(matches!(
        commands.last(),
        Some(Command::VerifyAll {
            depth: Depth::Full,
            include_primary: false,
            ..
        })
    ));
    assert!(app.verify.is_some());
    assert_eq!(app.context(), Context::Main);
}

#[test]
fn q_quits_and_cancels_what_runs() {
    let (mut app, _rx) = loaded(BIG, 12);
    let cancel = app
        .verify
        .as_ref()
        .map(|j| j.cancel.clone())
        .expect("startup verification");
    assert!(matches!(
        app.action_for_key(key(KeyCode::Char('q'))),
        Some(Action::Quit)
    ));
    press(&mut app, KeyCode::Char('q'));
    assert!(app.quit);
    assert!(cancel.load(Ordering::Relaxed));
}

#[test]
fn ctrl_c_quits_even_while_typing() {
    let (mut app, _rx) = verified(BIG, 12);
    press(&mut app, KeyCode::Char('/'));
    app.update(
        app.action_for_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL))
            .expect("bound"),
    );
    assert!(app.quit);
}

#[test]
fn navigation_keys_move_the_selection_and_keep_it_visible() {
    let (mut app, _rx) = verified(BIG, 80);
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Down);
    assert_eq!(app.table.selected, 2);
    press(&mut app, KeyCode::Char('k'));
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Up);
    assert_eq!(app.table.selected, 0);
    press(&mut app, KeyCode::PageDown);
    let page = app.page();
    assert_eq!(app.table.selected, page);
    assert!(app.table.offset > 0 && app.table.offset + page > app.table.selected);
    press(&mut app, KeyCode::PageUp);
    assert_eq!(app.table.selected, 0);
    assert_eq!(app.table.offset, 0);
    press(&mut app, KeyCode::Char('G'));
    assert_eq!(app.table.selected, 79);
    assert_eq!(app.table.offset, 80 - page);
    press(&mut app, KeyCode::Home);
    assert_eq!(app.table.selected, 0);
    press(&mut app, KeyCode::End);
    press(&mut app, KeyCode::Char('g'));
    assert_eq!(app.table.selected, 0);
}

#[test]
fn a_smaller_window_pages_by_fewer_rows() {
    let (mut app, _rx) = verified(BIG, 80);
    let big = app.page();
    app.update(Action::Resize(SMALL.0, SMALL.1));
    assert_eq!(app.size, SMALL);
    assert!(app.page() < big);
    press(&mut app, KeyCode::PageDown);
    assert_eq!(app.table.selected, app.page());
}

#[test]
fn slash_filters_as_you_type_enter_keeps_it_and_esc_cancels() {
    let (mut app, _rx) = verified(BIG, 40);
    let day = crate::present::local_time(app.table.rows[3].info.time)[..10].to_string();
    press(&mut app, KeyCode::Char('/'));
    assert_eq!(app.context(), Context::Filter);
    type_text(&mut app, "zzz");
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.context(), Context::Main);
    assert_eq!(app.table.visible.len(), 40);
    press(&mut app, KeyCode::Char('/'));
    type_text(&mut app, &day);
    let shown = app.table.visible.len();
    assert!(shown < 40 && shown > 0, "it applies as it is typed");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.table.visible.len(), shown);
    assert_eq!(app.table.filter, day);
    assert!(app.table.visible.len() < 40 && !app.table.visible.is_empty());
    // Esc on the table clears the filter (no verification runs now).
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.table.visible.len(), 40);
}

#[test]
fn question_mark_opens_help_built_from_the_keymap() {
    let (mut app, _rx) = verified(BIG, 12);
    press(&mut app, KeyCode::Char('?'));
    assert!(matches!(app.popup, Some(Popup::Help(_))));
    press(&mut app, KeyCode::Down);
    assert!(matches!(&app.popup, Some(Popup::Help(h)) if h.scroll == 1));
    press(&mut app, KeyCode::Esc);
    assert!(app.popup.is_none());
}

#[test]
fn i_shows_details_and_v_there_verifies_it() {
    let (mut app, rx) = verified(BIG, 12);
    sent(&rx);
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Char('i'));
    let id = app.table.selected_id().cloned().expect("selection");
    assert!(
        matches!(&app.popup, Some(Popup::Details(d)) if d.target == Target::Backup(id.clone()))
    );
    press(&mut app, KeyCode::Char('v'));
    assert!(matches!(&sent(&rx)[..], [Command::Verify(Target::Backup(t))] if *t == id));
    press(&mut app, KeyCode::Enter);
    assert!(app.popup.is_none());
    press(&mut app, KeyCode::Char('p'));
    assert!(matches!(
        &app.popup,
        Some(Popup::Details(d)) if d.target == Target::Primary
    ));
}

#[test]
fn v_verifies_the_selected_backup_and_the_row_takes_the_result() {
    let (mut app, rx) = loaded(BIG, 12);
    sent(&rx);
    press(&mut app, KeyCode::Char('v'));
    let id = app.table.rows[0].info.id.clone();
    assert!(matches!(&sent(&rx)[..], [Command::Verify(Target::Backup(t))] if *t == id));
    app.update(Action::Worker(Event::Verified(Ok(Box::new(
        fixtures::report_for(&id, Status::Corrupt),
    )))));
    assert_eq!(app.table.rows[0].status(), Some(Status::Corrupt));
    assert_eq!(app.table.tally.failed, 1);
    assert!(app.log.back().is_some_and(|l| l.text.contains("corrupt")));
    // D asks for the same verification with the parse done again.
    press(&mut app, KeyCode::Char('D'));
    assert!(matches!(&sent(&rx)[..], [Command::VerifyDeep(Target::Backup(t))] if *t == id));
}

#[test]
fn verify_all_streams_results_and_esc_or_c_cancels() {
    let (mut app, rx) = verified(BIG, 12);
    sent(&rx);
    press(&mut app, KeyCode::Char('V'));
    let Some(Command::VerifyAll {
        job,
        depth: Depth::Full,
        include_primary: true,
        cancel,
    }) = sent(&rx).pop()
    else {
        panic!("V must start a full verify-all including the primary");
    };
    // A second V does not start another.
    press(&mut app, KeyCode::Char('V'));
    assert!(sent(&rx).is_empty());
    let id = app.table.rows[5].info.id.clone();
    app.update(Action::Worker(Event::VerifyProgress {
        job,
        progress: progress(1, 13),
        report: Box::new(fixtures::report_for(&id, Status::Missing)),
    }));
    assert_eq!(app.table.rows[5].status(), Some(Status::Missing));
    assert_eq!(
        app.verify
            .as_ref()
            .and_then(|j| j.progress.as_ref())
            .map(|p| p.done),
        Some(1)
    );
    press(&mut app, KeyCode::Char('c'));
    assert!(cancel.load(Ordering::Relaxed));
    app.update(Action::Worker(Event::VerifyFinished {
        job,
        result: Ok(VerifySummary {
            valid: 0,
            unverified: 0,
            corrupt: 0,
            missing: 1,
            cancelled: true,
            elapsed_ms: 5.0,
        }),
    }));
    assert!(app.verify.is_none());
    assert!(app.log.back().is_some_and(|l| l.text.contains("cancelled")));
    // Esc cancels as well.
    press(&mut app, KeyCode::Char('V'));
    let Some(Command::VerifyAll { cancel, .. }) = sent(&rx).pop() else {
        panic!("restarted")
    };
    press(&mut app, KeyCode::Esc);
    assert!(cancel.load(Ordering::Relaxed));
}

#[test]
fn results_of_an_old_verify_all_are_ignored() {
    let (mut app, _rx) = verified(BIG, 12);
    let id = app.table.rows[0].info.id.clone();
    app.update(Action::Worker(Event::VerifyProgress {
        job: 999,
        progress: progress(1, 1),
        report: Box::new(fixtures::report_for(&id, Status::Corrupt)),
    }));
    assert_eq!(app.table.rows[0].status(), Some(Status::Valid));
}

#[test]
fn d_diffs_the_selection_with_the_primary_or_the_two_marked() {
    let (mut app, rx) = verified(BIG, 12);
    sent(&rx);
    press(&mut app, KeyCode::Char('d'));
    let newest = app.table.rows[0].info.id.clone();
    assert!(
        matches!(&sent(&rx)[..], [Command::Diff { old: Target::Backup(o), new: Target::Primary }] if *o == newest)
    );
    app.update(Action::Worker(Event::Diffed(Ok(Box::new(
        fixtures::diff_report(&newest),
    )))));
    assert!(matches!(
        &app.popup,
        Some(Popup::Diff(d)) if matches!(d.result, Some(Ok(_)))
    ));
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char(' '));
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Char(' '));
    assert_eq!(app.table.marks.len(), 2);
    press(&mut app, KeyCode::Char('d'));
    let older = app.table.rows[2].info.id.clone();
    assert!(matches!(
        &sent(&rx)[..],
        [Command::Diff { old: Target::Backup(o), new: Target::Backup(n) }] if *o == older && *n == newest
    ));
    app.update(Action::Worker(Event::Diffed(Err(UiError::internal(
        "boom",
    )))));
    assert!(matches!(
        &app.popup,
        Some(Popup::Diff(d)) if matches!(d.result, Some(Err(_)))
    ));
}

#[test]
fn r_plans_then_the_default_answer_is_no() {
    let (mut app, rx) = verified(BIG, 12);
    sent(&rx);
    press(&mut app, KeyCode::Char('r'));
    let id = app.table.rows[0].info.id.clone();
    assert!(matches!(
        &sent(&rx)[..],
        [Command::RestorePlan { id: i, allow_unverified: false }] if *i == id
    ));
    app.update(Action::Worker(Event::RestorePlanned {
        id: id.clone(),
        allow_unverified: false,
        result: Ok(Box::new(fixtures::restore_report(&id, Status::Valid, true))),
    }));
    assert_eq!(app.context(), Context::Restore);
    press(&mut app, KeyCode::Enter);
    assert!(
        app.popup.is_none(),
        "Enter on the default button (No) closes"
    );
    assert!(
        sent(&rx)
            .iter()
            .all(|c| !matches!(c, Command::Restore { .. }))
    );
}

#[test]
fn restore_needs_y_or_the_restore_button() {
    let (mut app, rx) = verified(BIG, 12);
    let id = app.table.rows[0].info.id.clone();
    for confirm in [vec![KeyCode::Char('y')], vec![KeyCode::Tab, KeyCode::Enter]] {
        press(&mut app, KeyCode::Char('r'));
        app.update(Action::Worker(Event::RestorePlanned {
            id: id.clone(),
            allow_unverified: false,
            result: Ok(Box::new(fixtures::restore_report(
                &id,
                Status::Corrupt,
                true,
            ))),
        }));
        sent(&rx);
        for k in confirm {
            press(&mut app, k);
        }
        assert!(
            matches!(&sent(&rx)[..], [Command::Restore { id: i, allow_unverified: false }] if *i == id)
        );
        assert!(
            matches!(&app.popup, Some(Popup::Restore(p)) if matches!(p.state, RestoreState::Running))
        );
        // Keys do not close it while it runs.
        press(&mut app, KeyCode::Esc);
        assert!(app.popup.is_some());
        app.update(Action::Worker(Event::Restored(Ok(Box::new(
            fixtures::restore_report(&id, Status::Corrupt, false),
        )))));
        assert!(
            matches!(&app.popup, Some(Popup::Restore(p)) if matches!(p.state, RestoreState::Done(_)))
        );
        assert!(app.log.back().is_some_and(|l| l.text.contains("evidence")));
        press(&mut app, KeyCode::Enter);
        assert!(app.popup.is_none());
    }
}

#[test]
fn a_refused_restore_of_an_unverified_backup_can_be_planned_again_with_a() {
    let (mut app, rx) = verified(BIG, 12);
    sent(&rx);
    let id = app.table.rows[4].info.id.clone();
    app.table.select_id(&id);
    press(&mut app, KeyCode::Char('r'));
    app.update(Action::Worker(Event::RestorePlanned {
        id: id.clone(),
        allow_unverified: false,
        result: Err(UiError::from(StoreError::BackupUnverified {
            id: id.clone(),
            path: format!("/srv/graph/storage/backups/{id}.json").into(),
            reason: "no meta file".into(),
        })),
    }));
    press(&mut app, KeyCode::Char('y'));
    assert!(
        sent(&rx)
            .iter()
            .all(|c| !matches!(c, Command::Restore { .. })),
        "y does nothing on a refusal"
    );
    press(&mut app, KeyCode::Char('a'));
    assert!(matches!(
        &sent(&rx).last(),
        Some(Command::RestorePlan { id: i, allow_unverified: true }) if *i == id
    ));
}

#[test]
fn big_r_opens_the_rotate_form_with_a_live_preview_and_a_confirmation() {
    let (mut app, rx) = verified(BIG, 12);
    sent(&rx);
    press(&mut app, KeyCode::Char('R'));
    assert_eq!(app.context(), Context::Rotate);
    let Some(Command::RetentionPlan {
        seq, candidates, ..
    }) = sent(&rx).pop()
    else {
        panic!("the form asks for a preview at once");
    };
    assert_eq!(candidates.len(), 12);
    // Typing into "keep last" plans again, with a newer sequence number.
    type_text(&mut app, "2");
    let Some(Command::RetentionPlan {
        seq: seq2,
        policy,
        candidates,
        now,
    }) = sent(&rx).pop()
    else {
        panic!("typing re-plans");
    };
    assert!(seq2 > seq);
    assert_eq!(policy.keep_last, Some(2));
    // A stale preview is dropped, the current one shown.
    let plan = retention::plan(&policy, &candidates, now).expect("valid policy");
    assert!(plan.removed > 0);
    app.update(Action::Worker(Event::RetentionPlanned {
        seq,
        result: Ok(plan.clone()),
    }));
    assert!(matches!(&app.popup, Some(Popup::Rotate(f)) if f.plan.is_none()));
    app.update(Action::Worker(Event::RetentionPlanned {
        seq: seq2,
        result: Ok(plan),
    }));
    // An invalid value shows why and plans nothing.
    press(&mut app, KeyCode::Down);
    type_text(&mut app, "x");
    assert!(matches!(&app.popup, Some(Popup::Rotate(f)) if f.policy.is_err()));
    assert!(sent(&rx).is_empty());
    press(&mut app, KeyCode::Backspace);
    let Some(Command::RetentionPlan {
        seq: seq3,
        policy,
        candidates,
        now,
    }) = sent(&rx).pop()
    else {
        panic!("fixing it re-plans");
    };
    app.update(Action::Worker(Event::RetentionPlanned {
        seq: seq3,
        result: retention::plan(&policy, &candidates, now).map_err(UiError::from),
    }));
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.context(), Context::Confirm);
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        app.context(),
        Context::Rotate,
        "Enter on the default (No) goes back"
    );
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char('y'));
    assert!(
        matches!(&sent(&rx)[..], [Command::Rotate { policy: p, confirmed, .. }] if p.keep_last == Some(2) && !confirmed.is_empty())
    );
    press(&mut app, KeyCode::Esc);
    assert!(
        app.popup.is_some(),
        "the form stays while the rotation runs"
    );
    app.update(Action::Worker(Event::Rotated(Err(UiError::internal(
        "storage is in use by pid 7",
    )))));
    assert!(matches!(&app.popup, Some(Popup::Error(_))));
    press(&mut app, KeyCode::Esc);
    assert!(app.popup.is_none());
}

#[test]
fn unverified_rows_are_kept_by_the_preview_until_verified() {
    let (app, _rx) = loaded(BIG, 12);
    let candidates = rotate_candidates(&app.table.rows);
    let policy = RetentionPolicy {
        keep_last: Some(1),
        keep_within: None,
        min_valid: 1,
        ..RetentionPolicy::default()
    };
    let plan = retention::plan(&policy, &candidates, fixtures::now()).expect("plan");
    assert_eq!(
        plan.removed, 0,
        "nothing counts as valid before verification"
    );
    assert!(plan.decisions.iter().all(|d| {
        d.reasons
            .iter()
            .any(|r| r.contains(super::popups::NOT_VERIFIED_YET))
    }));
}

#[test]
fn s_takes_a_snapshot_and_an_error_pops_up() {
    let (mut app, rx) = verified(BIG, 12);
    sent(&rx);
    press(&mut app, KeyCode::Char('s'));
    assert!(matches!(&sent(&rx)[..], [Command::Snapshot]));
    app.update(Action::Worker(Event::SnapshotTaken(Err(
        UiError::internal("snapshot refused, nothing was written: the primary is corrupt"),
    ))));
    assert_eq!(app.context(), Context::Error);
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.context(), Context::Main);
}

#[test]
fn f5_refreshes_and_a_new_listing_keeps_known_statuses() {
    let (mut app, rx) = verified(BIG, 12);
    sent(&rx);
    press(&mut app, KeyCode::F(5));
    assert!(matches!(&sent(&rx)[..], [Command::Refresh]));
    app.update(Action::Worker(Event::Listed(Box::new(
        fixtures::store_state(12),
    ))));
    assert_eq!(app.table.rows[2].status(), Some(Status::Corrupt));
}

#[test]
fn ticks_move_the_clock_and_probe_now_and_then() {
    let (mut app, rx) = verified(BIG, 12);
    sent(&rx);
    let later = fixtures::now() + chrono::Duration::seconds(1);
    app.update(Action::Tick(later));
    assert_eq!(app.now, later);
    assert!(sent(&rx).is_empty());
    // Every two seconds a cheap look at the store; every ten, the probe.
    app.update(Action::Tick(later + chrono::Duration::seconds(1)));
    assert!(matches!(&sent(&rx)[..], [Command::Watch]));
    app.update(Action::Tick(later + chrono::Duration::seconds(10)));
    assert!(matches!(&sent(&rx)[..], [Command::Probe, Command::Watch]));
    app.update(Action::Worker(Event::Probed {
        lock: LockState::Held {
            holder: "pid 4242 since 2025-10-20 11:59:00".into(),
        },
        disk: fixtures::disk(),
        watch: Box::new(fixtures::watch()),
    }));
    assert!(matches!(app.store.lock, Some(LockState::Held { .. })));
}

#[test]
fn a_missing_directory_gets_a_screen_that_says_so() {
    let (mut app, rx) = fresh(BIG);
    sent(&rx);
    app.update(Action::Worker(Event::Listed(Box::new(
        super::worker::StoreState {
            exists: false,
            is_sandbox: false,
            has_primary: false,
            has_meta: false,
            listing: Ok(crate::store::list::BackupListing {
                dir: "/srv/graph/storage/backups".into(),
                backups: Vec::new(),
                ignored: Vec::new(),
                total_size: 0,
                total_plain_size: 0,
                elapsed_ms: 0.0,
            }),
            lock: LockState::Free,
            offsite: Default::default(),
        },
    ))));
    assert!(app.no_store());
    assert_eq!(app.context(), Context::NoStore);
    press(&mut app, KeyCode::Char('x'));
    assert!(app.wizard.is_none(), "nothing to damage or recover");
    press(&mut app, KeyCode::F(5));
    assert!(matches!(&sent(&rx)[..], [Command::Refresh]));
    press(&mut app, KeyCode::Char('q'));
    assert!(app.quit);
}

/// Drives the simulation wizard through every step with the events the
/// worker would send.
fn walk_wizard(app: &mut App, rx: &Rx, kind: CorruptionKind) {
    sent(rx);
    press(app, KeyCode::Char('x'));
    assert_eq!(app.context(), Context::Wizard);
    let index = CorruptionKind::ALL
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(0);
    for _ in 0..index {
        press(app, KeyCode::Down);
    }
    press(app, KeyCode::Enter);
    assert_eq!(
        app.wizard.as_ref().map(|w| w.step),
        Some(Step::ConfirmDamage)
    );
    press(app, KeyCode::Char('y'));
    assert!(matches!(
        &sent(rx)[..],
        [Command::Wizard(WizardCommand::Begin { copy: true })]
    ));
}

fn wizard_event(app: &mut App, event: WizardEvent) {
    app.update(Action::Worker(Event::Wizard(event)));
}

/// The report as the sandbox copy's restore gives it: evidence in the copy.
/// The store's plan over the candidates the wizard has seen.
fn plan_of(app: &App, cancelled: bool) -> crate::store::recover::RecoveryPlan {
    let candidates = app
        .wizard
        .as_ref()
        .map(|w| w.candidates.clone())
        .unwrap_or_default();
    fixtures::recovery_plan(candidates, cancelled)
}

fn in_sandbox(mut r: crate::store::restore::RestoreReport) -> crate::store::restore::RestoreReport {
    let root = sandbox().root;
    for e in &mut r.evidence {
        if let Ok(rest) = e.strip_prefix(fixtures::STORE) {
            *e = root.join(rest);
        }
    }
    if let crate::store::restore::KeptPrimary::Evidence { dir, .. } = &mut r.keeps
        && let Ok(rest) = dir.strip_prefix(fixtures::STORE)
    {
        *dir = root.join(rest);
    }
    r
}

fn sandbox() -> super::worker::WizardStore {
    super::worker::WizardStore {
        root: "/tmp/graphvault-sandbox-4242-20251020-120000".into(),
        copied: true,
        files_copied: 25,
    }
}

#[test]
fn x_walks_the_wizard_on_a_sandbox_copy_to_a_recovery() {
    let (mut app, rx) = verified(BIG, 12);
    sent(&rx);
    walk_wizard(&mut app, &rx, CorruptionKind::Truncate);
    wizard_event(&mut app, WizardEvent::Began(Ok(sandbox())));
    assert!(matches!(
        &sent(&rx)[..],
        [Command::Wizard(WizardCommand::Damage(
            CorruptionKind::Truncate
        ))]
    ));
    wizard_event(
        &mut app,
        WizardEvent::Damaged(Ok(Box::new(fixtures::corruption(CorruptionKind::Truncate)))),
    );
    assert!(matches!(
        &sent(&rx)[..],
        [Command::Wizard(WizardCommand::Detect {
            compare_newest: false
        })]
    ));
    wizard_event(
        &mut app,
        WizardEvent::Detected(Ok(Box::new(super::worker::Detection {
            report: fixtures::report(Target::Primary, Status::Corrupt),
            reference: None,
        }))),
    );
    assert_eq!(app.wizard.as_ref().map(|w| w.step), Some(Step::Detect));
    press(&mut app, KeyCode::Enter);
    assert!(matches!(
        &sent(&rx)[..],
        [Command::Wizard(WizardCommand::Candidates { .. })]
    ));
    let ids: Vec<BackupId> = app.table.rows.iter().map(|r| r.info.id.clone()).collect();
    // Results arrive out of order; the list stays newest first.
    for (n, i) in [3usize, 0, 1, 2].into_iter().enumerate() {
        let status = if i == 0 {
            Status::Corrupt
        } else {
            Status::Valid
        };
        wizard_event(
            &mut app,
            WizardEvent::Candidate {
                progress: progress(n + 1, 4),
                report: Box::new(fixtures::report_for(&ids[i], status)),
            },
        );
    }
    press(&mut app, KeyCode::Enter);
    assert!(
        sent(&rx).is_empty(),
        "keys wait while the candidates are verified"
    );
    let plan = plan_of(&app, false);
    wizard_event(&mut app, WizardEvent::CandidatesDone(Ok(Box::new(plan))));
    let w = app.wizard.as_ref().expect("open");
    assert_eq!(w.selected, 1, "the newest valid backup is recommended");
    assert_eq!(w.candidates[0].target, Target::Backup(ids[0].clone()));
    // The corrupt one cannot be chosen.
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Enter);
    assert!(app.wizard.as_ref().is_some_and(|w| w.error.is_some()));
    assert!(sent(&rx).is_empty());
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Enter);
    assert!(
        matches!(&sent(&rx)[..], [Command::Wizard(WizardCommand::Plan { id, .. })] if *id == ids[1])
    );
    wizard_event(
        &mut app,
        WizardEvent::Planned {
            id: ids[1].clone(),
            result: Ok(Box::new(fixtures::recovery_report(
                &ids[1],
                true,
                Lost::SameChecksum,
                fixtures::restore_report(&ids[1], Status::Corrupt, true),
            ))),
        },
    );
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        app.wizard.as_ref().map(|w| w.step),
        Some(Step::Candidates),
        "the default is No"
    );
    press(&mut app, KeyCode::Enter);
    sent(&rx);
    wizard_event(
        &mut app,
        WizardEvent::Planned {
            id: ids[1].clone(),
            result: Ok(Box::new(fixtures::recovery_report(
                &ids[1],
                true,
                Lost::SameChecksum,
                fixtures::restore_report(&ids[1], Status::Corrupt, true),
            ))),
        },
    );
    press(&mut app, KeyCode::Char('y'));
    assert!(
        matches!(&sent(&rx)[..], [Command::Wizard(WizardCommand::Restore { id, .. })] if *id == ids[1])
    );
    wizard_event(
        &mut app,
        WizardEvent::Restored(Ok(Box::new(super::worker::Recovery {
            report: fixtures::recovery_report(
                &ids[1],
                false,
                Lost::Changes {
                    diff: fixtures::diff(),
                    primary_damaged: false,
                },
                in_sandbox(fixtures::restore_report(&ids[1], Status::Corrupt, false)),
            ),
            after: fixtures::report(Target::Primary, Status::Valid),
        }))),
    );
    assert_eq!(app.wizard.as_ref().map(|w| w.step), Some(Step::Verified));
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.wizard.as_ref().map(|w| w.step), Some(Step::Summary));
    press(&mut app, KeyCode::Esc);
    assert!(app.wizard.is_none());
    let after = sent(&rx);
    assert!(
        matches!(&after[..], [Command::Wizard(WizardCommand::End)]),
        "a copy needs no refresh: {after:?}"
    );
    assert!(
        app.log
            .iter()
            .any(|l| l.text.contains("/tmp/graphvault-sandbox-4242"))
    );
}

#[test]
fn esc_cancels_the_candidates_verification_before_closing() {
    let (mut app, rx) = verified(BIG, 12);
    walk_wizard(&mut app, &rx, CorruptionKind::BitFlip);
    wizard_event(&mut app, WizardEvent::Began(Ok(sandbox())));
    wizard_event(
        &mut app,
        WizardEvent::Damaged(Ok(Box::new(fixtures::corruption(CorruptionKind::BitFlip)))),
    );
    wizard_event(
        &mut app,
        WizardEvent::Detected(Ok(Box::new(super::worker::Detection {
            report: fixtures::report(Target::Primary, Status::Corrupt),
            reference: None,
        }))),
    );
    sent(&rx);
    press(&mut app, KeyCode::Enter);
    let Some(Command::Wizard(WizardCommand::Candidates { cancel })) = sent(&rx).pop() else {
        panic!("candidates start");
    };
    press(&mut app, KeyCode::Esc);
    assert!(cancel.load(Ordering::Relaxed));
    assert!(app.wizard.is_some(), "the first Esc only cancels");
    let plan = plan_of(&app, true);
    wizard_event(&mut app, WizardEvent::CandidatesDone(Ok(Box::new(plan))));
    press(&mut app, KeyCode::Esc);
    assert!(app.wizard.is_none());
}

#[test]
fn the_wizard_opens_on_its_own_when_the_primary_is_broken() {
    let (mut app, rx) = fresh(BIG);
    app.update(Action::Worker(Event::Listed(Box::new(
        fixtures::store_state(12),
    ))));
    app.update(Action::Worker(Event::PrimaryVerified(Box::new(
        fixtures::report(Target::Primary, Status::Missing),
    ))));
    let w = app.wizard.as_ref().expect("recovery wizard");
    assert_eq!((w.mode, w.step), (Mode::Recover, Step::Detect));
    assert!(w.detection.is_some());
    let commands = sent(&rx);
    assert!(matches!(
        commands.last(),
        Some(Command::Wizard(WizardCommand::Begin { copy: false }))
    ));
    assert!(
        !commands
            .iter()
            .any(|c| matches!(c, Command::VerifyAll { .. })),
        "no background pass while recovering"
    );
    press(&mut app, KeyCode::Enter);
    assert!(matches!(
        &sent(&rx)[..],
        [Command::Wizard(WizardCommand::Candidates { .. })]
    ));
    // Working on this very store, the candidates fill in the table too.
    wizard_event(
        &mut app,
        WizardEvent::Began(Ok(super::worker::WizardStore {
            root: fixtures::STORE.into(),
            copied: false,
            files_copied: 0,
        })),
    );
    let id = app.table.rows[1].info.id.clone();
    wizard_event(
        &mut app,
        WizardEvent::Candidate {
            progress: progress(1, 12),
            report: Box::new(fixtures::report_for(&id, Status::Valid)),
        },
    );
    assert_eq!(app.table.rows[1].status(), Some(Status::Valid));
}

#[test]
fn delete_meta_ends_with_the_primary_kept() {
    let (mut app, rx) = verified(BIG, 12);
    walk_wizard(&mut app, &rx, CorruptionKind::DeleteMeta);
    wizard_event(&mut app, WizardEvent::Began(Ok(sandbox())));
    wizard_event(
        &mut app,
        WizardEvent::Damaged(Ok(Box::new(fixtures::corruption(
            CorruptionKind::DeleteMeta,
        )))),
    );
    wizard_event(
        &mut app,
        WizardEvent::Detected(Ok(Box::new(super::worker::Detection {
            report: fixtures::report(Target::Primary, Status::Unverified),
            reference: None,
        }))),
    );
    sent(&rx);
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.wizard.as_ref().map(|w| w.step), Some(Step::Summary));
    assert!(sent(&rx).is_empty(), "nothing to restore");
    press(&mut app, KeyCode::Enter);
    assert!(app.wizard.is_none());
}

#[test]
fn tampering_compares_with_the_newest_backup() {
    let (mut app, rx) = verified(BIG, 12);
    walk_wizard(&mut app, &rx, CorruptionKind::Tampered);
    wizard_event(&mut app, WizardEvent::Began(Ok(sandbox())));
    wizard_event(
        &mut app,
        WizardEvent::Damaged(Ok(Box::new(fixtures::corruption(CorruptionKind::Tampered)))),
    );
    assert!(matches!(
        &sent(&rx)[..],
        [
            _,
            Command::Wizard(WizardCommand::Detect {
                compare_newest: true
            })
        ]
    ));
}

#[test]
fn on_the_demo_sandbox_the_wizard_damages_it_directly() {
    let (mut app, rx) = fresh(BIG);
    let mut state = fixtures::store_state(12);
    state.is_sandbox = true;
    app.update(Action::Worker(Event::Listed(Box::new(state))));
    app.update(Action::Worker(Event::PrimaryVerified(Box::new(
        fixtures::report(Target::Primary, Status::Valid),
    ))));
    sent(&rx);
    press(&mut app, KeyCode::Char('x'));
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Enter);
    assert!(matches!(
        &sent(&rx)[..],
        [Command::Wizard(WizardCommand::Begin { copy: false })]
    ));
}

// ------------------------------------------------------------ snapshots

#[test]
fn snapshot_main_screen() {
    let (mut app, _rx) = verified(BIG, 12);
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Char('j'));
    assert_snapshot!("main_screen", screen(&app));
}

#[test]
fn snapshot_loading() {
    let (app, _rx) = fresh(BIG);
    assert_snapshot!("loading", screen(&app));
}

#[test]
fn snapshot_help() {
    let (mut app, _rx) = verified(BIG, 12);
    press(&mut app, KeyCode::Char('?'));
    assert_snapshot!("help", screen(&app));
}

#[test]
fn snapshot_details_of_a_corrupt_backup() {
    let (mut app, _rx) = verified(BIG, 12);
    app.update(Action::Resize(100, 35));
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Char('i'));
    assert_snapshot!("details_corrupt", screen(&app));
}

#[test]
fn snapshot_verify_all_in_progress() {
    let (mut app, rx) = loaded(BIG, 12);
    let job = app.verify.as_ref().map(|j| j.job).unwrap_or(0);
    let ids: Vec<BackupId> = app.table.rows.iter().map(|r| r.info.id.clone()).collect();
    for (i, id) in ids.iter().take(5).enumerate() {
        let status = if i == 2 {
            Status::Corrupt
        } else {
            Status::Valid
        };
        app.update(Action::Worker(Event::VerifyProgress {
            job,
            progress: progress(i + 1, 12),
            report: Box::new(fixtures::report_for(id, status)),
        }));
    }
    sent(&rx);
    assert_snapshot!("verify_all_in_progress", screen(&app));
}

#[test]
fn snapshot_filter_input() {
    let (mut app, _rx) = verified(BIG, 12);
    press(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "2025-10-1");
    assert_snapshot!("filter_input", screen(&app));
}

#[test]
fn snapshot_diff() {
    let (mut app, _rx) = verified(BIG, 12);
    press(&mut app, KeyCode::Char('d'));
    let id = app.table.rows[0].info.id.clone();
    app.update(Action::Worker(Event::Diffed(Ok(Box::new(
        fixtures::diff_report(&id),
    )))));
    assert_snapshot!("diff", screen(&app));
}

#[test]
fn snapshot_restore_plan() {
    let (mut app, _rx) = verified(BIG, 12);
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Char('r'));
    let id = app.table.rows[1].info.id.clone();
    app.update(Action::Worker(Event::RestorePlanned {
        id: id.clone(),
        allow_unverified: false,
        result: Ok(Box::new(fixtures::restore_report(&id, Status::Valid, true))),
    }));
    assert_snapshot!("restore_plan", screen(&app));
}

#[test]
fn snapshot_restore_refused() {
    let (mut app, _rx) = verified(BIG, 12);
    let id = app.table.rows[2].info.id.clone();
    app.table.select_id(&id);
    press(&mut app, KeyCode::Char('r'));
    app.update(Action::Worker(Event::RestorePlanned {
        id: id.clone(),
        allow_unverified: false,
        result: Err(UiError::from(StoreError::VerifyFailed {
            path: format!("/srv/graph/storage/backups/{id}.json").into(),
            reason: format!(
                "restore of {id} refused, the primary is unchanged: corrupt: sha256 mismatch"
            ),
        })),
    }));
    assert_snapshot!("restore_refused", screen(&app));
}

fn rotate_app() -> (App, Rx) {
    let (mut app, rx) = verified(BIG, 12);
    sent(&rx);
    press(&mut app, KeyCode::Char('R'));
    type_text(&mut app, "3");
    press(&mut app, KeyCode::Down);
    for _ in 0..3 {
        press(&mut app, KeyCode::Backspace);
    }
    let Some(Command::RetentionPlan {
        seq,
        policy,
        candidates,
        now,
    }) = sent(&rx).pop()
    else {
        panic!("a preview is asked for");
    };
    app.update(Action::Worker(Event::RetentionPlanned {
        seq,
        result: retention::plan(&policy, &candidates, now).map_err(UiError::from),
    }));
    (app, rx)
}

#[test]
fn snapshot_rotate_preview() {
    let (app, _rx) = rotate_app();
    assert_snapshot!("rotate_preview", screen(&app));
}

#[test]
fn snapshot_rotate_confirm() {
    let (mut app, _rx) = rotate_app();
    press(&mut app, KeyCode::Enter);
    assert_snapshot!("rotate_confirm", screen(&app));
}

#[test]
fn snapshot_error() {
    let (mut app, _rx) = verified(BIG, 12);
    app.update(Action::Worker(Event::SnapshotTaken(Err(UiError::from(
        StoreError::Locked {
            store: "/srv/graph/storage".into(),
            holder: "pid 4242 since 2025-10-20 11:59:00".into(),
        },
    )))));
    assert_snapshot!("error", screen(&app));
}

#[test]
fn snapshot_small_window() {
    let (mut app, _rx) = verified(SMALL, 12);
    press(&mut app, KeyCode::Char('j'));
    assert_snapshot!("small_window", screen(&app));
}

#[test]
fn snapshot_small_window_with_a_popup() {
    let (mut app, _rx) = verified(SMALL, 12);
    press(&mut app, KeyCode::Char('r'));
    let id = app.table.rows[0].info.id.clone();
    app.update(Action::Worker(Event::RestorePlanned {
        id: id.clone(),
        allow_unverified: false,
        result: Ok(Box::new(fixtures::restore_report(&id, Status::Valid, true))),
    }));
    assert_snapshot!("small_window_restore", screen(&app));
}

#[test]
fn snapshot_no_store() {
    let (mut app, _rx) = fresh(BIG);
    let mut state = fixtures::store_state(0);
    state.has_primary = false;
    state.has_meta = false;
    app.update(Action::Worker(Event::Listed(Box::new(state))));
    assert_snapshot!("no_store", screen(&app));
}

/// The wizard on a sandbox copy at each step, for `kind`.
fn wizard_at(kind: CorruptionKind, step: Step) -> App {
    let (mut app, rx) = verified(BIG, 12);
    sent(&rx);
    press(&mut app, KeyCode::Char('x'));
    if step == Step::Choose {
        press(&mut app, KeyCode::Down);
        return app;
    }
    walk_wizard(&mut app, &rx, kind);
    if step == Step::ConfirmDamage {
        // Stop before the worker answers: show the confirmation itself.
        if let Some(w) = &mut app.wizard {
            w.step = Step::ConfirmDamage;
            w.busy = None;
        }
        return app;
    }
    wizard_event(&mut app, WizardEvent::Began(Ok(sandbox())));
    wizard_event(
        &mut app,
        WizardEvent::Damaged(Ok(Box::new(fixtures::corruption(kind)))),
    );
    let (status, reference) = match kind {
        CorruptionKind::DeleteMeta => (Status::Unverified, None),
        CorruptionKind::Tampered => {
            let newest = app.table.rows[0].info.id.clone();
            let mut d = fixtures::diff_report(&newest);
            d.diff = crate::store::diff::GraphDiff {
                nodes_changed: vec!["AAPL".into()],
                old_node_count: 154,
                new_node_count: 154,
                old_edge_count: 308,
                new_edge_count: 308,
                ..Default::default()
            };
            (Status::Valid, Some(d))
        }
        _ => (Status::Corrupt, None),
    };
    wizard_event(
        &mut app,
        WizardEvent::Detected(Ok(Box::new(super::worker::Detection {
            report: fixtures::report(Target::Primary, status),
            reference,
        }))),
    );
    if step == Step::Detect {
        return app;
    }
    press(&mut app, KeyCode::Enter);
    if step == Step::Summary && status != Status::Corrupt {
        return app;
    }
    let ids: Vec<BackupId> = app.table.rows.iter().map(|r| r.info.id.clone()).collect();
    for (i, id) in ids.iter().enumerate() {
        let status = match i {
            0 => Status::Corrupt,
            3 => Status::Unverified,
            _ => Status::Valid,
        };
        wizard_event(
            &mut app,
            WizardEvent::Candidate {
                progress: progress(i + 1, ids.len()),
                report: Box::new(fixtures::report_for(id, status)),
            },
        );
    }
    let plan = plan_of(&app, false);
    wizard_event(&mut app, WizardEvent::CandidatesDone(Ok(Box::new(plan))));
    if step == Step::Candidates {
        return app;
    }
    press(&mut app, KeyCode::Enter);
    wizard_event(
        &mut app,
        WizardEvent::Planned {
            id: ids[1].clone(),
            result: Ok(Box::new(fixtures::recovery_report(
                &ids[1],
                true,
                Lost::SameChecksum,
                fixtures::restore_report(&ids[1], Status::Corrupt, true),
            ))),
        },
    );
    if step == Step::Plan {
        return app;
    }
    press(&mut app, KeyCode::Char('y'));
    wizard_event(
        &mut app,
        WizardEvent::Restored(Ok(Box::new(super::worker::Recovery {
            report: fixtures::recovery_report(
                &ids[1],
                false,
                Lost::Changes {
                    diff: fixtures::diff(),
                    primary_damaged: false,
                },
                in_sandbox(fixtures::restore_report(&ids[1], Status::Corrupt, false)),
            ),
            after: fixtures::report(Target::Primary, Status::Valid),
        }))),
    );
    if step == Step::Verified {
        return app;
    }
    press(&mut app, KeyCode::Enter);
    app
}

#[test]
fn snapshot_wizard_steps() {
    for (name, step) in [
        ("wizard_1_choose", Step::Choose),
        ("wizard_2_confirm", Step::ConfirmDamage),
        ("wizard_3_detect", Step::Detect),
        ("wizard_4_candidates", Step::Candidates),
        ("wizard_5_plan", Step::Plan),
        ("wizard_6_verified", Step::Verified),
        ("wizard_7_summary", Step::Summary),
    ] {
        let app = wizard_at(CorruptionKind::Truncate, step);
        assert_eq!(app.wizard.as_ref().map(|w| w.step), Some(step), "{name}");
        assert_snapshot!(name, screen(&app));
    }
}

/// The first step in a narrow window: its intro and key hint wrap instead of being
/// cut at the border, and every kind of damage stays listed.
#[test]
fn the_choice_of_damage_reads_whole_in_a_narrow_window() {
    for size in [(80, 24), (60, 24)] {
        let mut app = wizard_at(CorruptionKind::Truncate, Step::Choose);
        app.size = size;
        let text = screen_text(&app)
            .iter()
            .map(|l| l.trim_matches(|c: char| c == '│' || c == ' ').to_string())
            .collect::<Vec<_>>()
            .join(" ");
        for whole in ["catch it and recover.", "Esc closes"] {
            assert!(text.contains(whole), "{size:?}: {whole} cut in {text}");
        }
        for kind in CorruptionKind::ALL {
            assert!(
                text.contains(kind.name()),
                "{size:?}: {} missing",
                kind.name()
            );
        }
    }
}

/// A plan longer than the window says so on the border, and scrolling
/// stops at its last line: Up after many PgDn moves at once.
#[test]
fn a_long_wizard_step_shows_that_it_scrolls_and_stops_at_its_end() {
    let mut app = wizard_at(CorruptionKind::Truncate, Step::Plan);
    app.size = SMALL;
    let text = |app: &App| format!("{:?}", screen(app));
    assert!(text(&app).contains("more below"), "{}", text(&app));
    for _ in 0..20 {
        app.update(Action::PageDown);
        let _ = screen(&app);
    }
    let bottom = text(&app);
    assert!(bottom.contains("more above"), "{bottom}");
    assert!(
        bottom.contains("[ Restore ]"),
        "the buttons are reachable: {bottom}"
    );
    let max = app.wizard.as_ref().map(|w| w.scroll);
    app.update(Action::Up);
    assert_eq!(
        app.wizard.as_ref().map(|w| w.scroll),
        max.map(|m| m.saturating_sub(1)),
        "one key up leaves the end at once"
    );
}

#[test]
fn snapshot_wizard_endings() {
    let app = wizard_at(CorruptionKind::Tampered, Step::Summary);
    assert_snapshot!("wizard_summary_tampered", screen(&app));
    let app = wizard_at(CorruptionKind::DeleteMeta, Step::Summary);
    assert_snapshot!("wizard_summary_delete_meta", screen(&app));
}

#[test]
fn snapshot_wizard_nothing_recoverable() {
    let (mut app, rx) = fresh(BIG);
    app.update(Action::Worker(Event::Listed(Box::new(
        fixtures::store_state(3),
    ))));
    app.update(Action::Worker(Event::PrimaryVerified(Box::new(
        fixtures::report(Target::Primary, Status::Corrupt),
    ))));
    wizard_event(
        &mut app,
        WizardEvent::Began(Ok(super::worker::WizardStore {
            root: fixtures::STORE.into(),
            copied: false,
            files_copied: 0,
        })),
    );
    press(&mut app, KeyCode::Enter);
    let ids: Vec<BackupId> = app.table.rows.iter().map(|r| r.info.id.clone()).collect();
    for (i, id) in ids.iter().enumerate() {
        let status = if i == 1 {
            Status::Unverified
        } else {
            Status::Corrupt
        };
        wizard_event(
            &mut app,
            WizardEvent::Candidate {
                progress: progress(i + 1, 3),
                report: Box::new(fixtures::report_for(id, status)),
            },
        );
    }
    let plan = plan_of(&app, false);
    wizard_event(&mut app, WizardEvent::CandidatesDone(Ok(Box::new(plan))));
    assert_snapshot!("wizard_recover_candidates_none_valid", screen(&app));
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.wizard.as_ref().map(|w| w.step), Some(Step::Summary));
    assert!(
        sent(&rx)
            .iter()
            .all(|c| !matches!(c, Command::Wizard(WizardCommand::Restore { .. })))
    );
    assert_snapshot!("wizard_recover_nothing_recoverable", screen(&app));
}

#[test]
fn shift_tab_and_up_move_back_through_the_rotate_fields() {
    let (mut app, _rx) = verified(BIG, 12);
    press(&mut app, KeyCode::Char('R'));
    let focus = |app: &App| match &app.popup {
        Some(Popup::Rotate(f)) => f.focus,
        _ => usize::MAX,
    };
    assert_eq!(focus(&app), 0);
    app.update(
        app.action_for_key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT))
            .expect("bound"),
    );
    assert_eq!(focus(&app), 5, "wraps to the last field");
    press(&mut app, KeyCode::Up);
    assert_eq!(focus(&app), 4);
    press(&mut app, KeyCode::Tab);
    assert_eq!(focus(&app), 5);
}

#[test]
fn n_declines_in_every_confirmation() {
    // Restore plan: n closes, nothing restored.
    let (mut app, rx) = verified(BIG, 12);
    let id = app.table.rows[0].info.id.clone();
    press(&mut app, KeyCode::Char('r'));
    app.update(Action::Worker(Event::RestorePlanned {
        id: id.clone(),
        allow_unverified: false,
        result: Ok(Box::new(fixtures::restore_report(&id, Status::Valid, true))),
    }));
    press(&mut app, KeyCode::Char('n'));
    assert!(app.popup.is_none());
    assert!(
        sent(&rx)
            .iter()
            .all(|c| !matches!(c, Command::Restore { .. }))
    );
    // Wizard: n on the damage confirmation goes back to the choice.
    press(&mut app, KeyCode::Char('x'));
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char('n'));
    assert_eq!(app.wizard.as_ref().map(|w| w.step), Some(Step::Choose));
    assert!(
        sent(&rx)
            .iter()
            .all(|c| !matches!(c, Command::Wizard(WizardCommand::Begin { .. })))
    );
}

#[test]
fn the_off_site_column_shows_each_backups_state_on_the_remotes() {
    use crate::remote::state::{OffsiteStatus, OffsiteSummary};
    let (mut app, _rx) = fresh(BIG);
    let mut state = fixtures::store_state(3);
    let ids: Vec<String> = match &state.listing {
        Ok(l) => l.backups.iter().map(|b| b.id.to_string()).collect(),
        Err(_) => Vec::new(),
    };
    state.offsite = OffsiteSummary {
        remotes: vec!["offsite".to_string()],
        backups: [
            (ids[0].clone(), OffsiteStatus::Verified),
            (ids[1].clone(), OffsiteStatus::Failed),
        ]
        .into_iter()
        .collect(),
        last_pushes: Vec::new(),
    };
    app.update(Action::Worker(Event::Listed(Box::new(state))));
    let text: String = screen(&app)
        .buffer()
        .content()
        .iter()
        .map(|c| c.symbol())
        .collect();
    for expected in ["OFF-SITE", "✓ verified", "✗ failed", "· pending"] {
        assert!(text.contains(expected), "{expected} missing");
    }
    // Without remotes there is no such column.
    let (app, _rx) = loaded(BIG, 3);
    let text: String = screen(&app)
        .buffer()
        .content()
        .iter()
        .map(|c| c.symbol())
        .collect();
    assert!(!text.contains("OFF-SITE"));
}

/// The screen's text, one string per row.
fn screen_text(app: &App) -> Vec<String> {
    let backend = screen(app);
    let buf = backend.buffer();
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect()
}

#[test]
fn the_header_warns_of_a_stale_check_and_a_disk_near_the_margin_at_every_size() {
    use crate::store::status::Health;
    for size in [BIG, (80, 24), SMALL] {
        let (mut app, _rx) = verified(size, 12);
        // Checked three days ago: past status's 2-day threshold.
        app.update(Action::Worker(Event::Probed {
            lock: LockState::Free,
            // A save of the 118.5 KiB primary needs 474 KiB: 600 KiB is
            // enough, but less than twice that.
            disk: crate::tui::health::DiskSpace::Known {
                available: 600 << 10,
                margin: 2,
            },
            watch: Box::new(crate::tui::health::Watch {
                status: Some(crate::tui::health::tests::record(
                    Health::Integrity,
                    fixtures::time("2025-10-17 12:00:00"),
                    Some(fixtures::time("2025-10-17 12:00:00")),
                )),
                trash_bytes: Some(2 << 20),
                evidence_bytes: Some(0),
            }),
        }));
        let text = screen_text(&app).join("\n");
        let expected: &[&str] = if size == SMALL {
            &[
                "! checked 3 d ago: integrity",
                "! disk 600.0 KiB near margin",
                // What fits, whole: the evidence's size makes way.
                "read 12:00:00 · trash 2.0 MiB",
            ]
        } else {
            &[
                "! last check 3 d ago: integrity (older than 2d)",
                "! free disk 600.0 KiB: near the margin",
                "trash 2.0 MiB · evidence 0 B",
            ]
        };
        for e in expected {
            assert!(text.contains(e), "{size:?}: no {e:?} in\n{text}");
        }
        // The newest backup the UI verified is recent: no warning for it.
        assert!(!text.contains("! newest valid"), "{size:?}:\n{text}");
    }
}

/// A backup another process wrote after the last listing, verified (`V` reads the
/// directory itself) before the UI listed it: its verdict waits for the next listing
/// instead of being dropped, so the row shows corrupt, not unchecked.
#[test]
fn a_verdict_for_a_backup_not_listed_yet_is_kept_for_the_next_listing() {
    let all = fixtures::listing(3);
    let mut table = super::table::BackupTable::default();
    table.replace(all[1..].to_vec());
    let newcomer = all[0].id.clone();
    assert!(!table.set_report(fixtures::report_for(&newcomer, Status::Corrupt)));
    assert_eq!(table.tally.failed, 0, "not counted before it is listed");

    table.replace(all.clone());
    let row = table
        .rows
        .iter()
        .find(|r| r.info.id == newcomer)
        .expect("listed now");
    assert_eq!(row.report.as_ref().map(|r| r.status), Some(Status::Corrupt));
    assert_eq!(table.tally.failed, 1);

    // Held for one listing only: a verdict for a file that is then gone is dropped.
    let gone = fixtures::listing(4)[3].id.clone();
    table.set_report(fixtures::report_for(&gone, Status::Valid));
    table.replace(all[1..].to_vec());
    table.replace(fixtures::listing(4));
    let row = table
        .rows
        .iter()
        .find(|r| r.info.id == gone)
        .expect("listed");
    assert!(row.report.is_none(), "{:?}", row.report);
}
