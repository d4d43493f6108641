//! A UI that never misleads: a store that cannot be read is not shown as
//! empty, another process's writes are seen without F5, one status per file
//! (the latest and deepest), the recovery key leads when the primary is
//! broken, footers say what the keys do now, small windows drop whole
//! columns, the log can be read in full, and a long rotation can be stopped.

use std::sync::atomic::Ordering;

use crossterm::event::KeyCode;
use insta::assert_snapshot;

use super::{
    BIG, MEDIUM, SMALL, fixtures, fresh, loaded, press, rotate_app, screen, screen_text, sent,
    verified,
};
use crate::store::verify::{Depth, Level, Status, Target};
use crate::tui::action::Action;
use crate::tui::error::{ErrorKind, UiError};
use crate::tui::keymap::Context;
use crate::tui::popups::Popup;
use crate::tui::worker::{Command, Event};

fn unreadable_state() -> crate::tui::worker::StoreState {
    let mut state = fixtures::store_state(0);
    state.has_primary = false;
    state.has_meta = false;
    state.listing = Err(UiError {
        kind: ErrorKind::PermissionDenied,
        message: "list backups /srv/graph/storage/backups: Permission denied (os error 13)".into(),
    });
    state
}

#[test]
fn an_unreadable_store_says_so_and_never_that_it_is_empty() {
    for size in [BIG, MEDIUM, SMALL] {
        let (mut app, rx) = fresh(size);
        sent(&rx);
        app.update(Action::Worker(Event::Listed(Box::new(unreadable_state()))));
        assert!(!app.no_store(), "not \"no store\": it could not be read");
        assert!(app.unreadable().is_some());
        assert!(
            app.popup.is_none(),
            "a screen, not a popup over an empty one"
        );
        assert_eq!(app.context(), Context::NoStore);
        let text = screen_text(&app).join("\n");
        assert!(text.contains("Cannot read the graph store"), "{text}");
        assert!(text.contains("Permission"), "{text}");
        assert!(text.contains("does not mean the data is gone"), "{text}");
        assert!(!text.contains("No graph store"), "{text}");
        assert!(!text.contains("no backups"), "{text}");
        press(&mut app, KeyCode::F(5));
        assert!(matches!(&sent(&rx)[..], [Command::Refresh]));
        let name = format!("unreadable_store_{}x{}", size.0, size.1);
        assert_snapshot!(name, screen(&app));
    }
}

#[test]
fn a_store_that_becomes_unreadable_drops_its_old_rows() {
    let (mut app, _rx) = verified(BIG, 12);
    app.update(Action::Worker(Event::Listed(Box::new(unreadable_state()))));
    assert!(app.table.rows.is_empty(), "rows that can no longer be read");
    assert!(app.unreadable().is_some());
    // Readable again: the table comes back.
    app.update(Action::Worker(Event::Listed(Box::new(
        fixtures::store_state(12),
    ))));
    assert!(app.unreadable().is_none());
    assert_eq!(app.table.rows.len(), 12);
}

#[test]
fn the_store_is_watched_and_an_outside_change_is_read_again_and_shown() {
    let (mut app, rx) = verified(BIG, 12);
    sent(&rx);
    let text = screen_text(&app).join("\n");
    assert!(text.contains("read 12:00:00"), "when it was read:\n{text}");
    app.update(Action::Tick(fixtures::now() + chrono::Duration::seconds(2)));
    assert!(matches!(&sent(&rx)[..], [Command::Watch]));
    // The worker saw a change and reads the store again.
    app.update(Action::Worker(Event::ChangedOnDisk));
    app.update(Action::Worker(Event::Listed(Box::new(
        fixtures::store_state(13),
    ))));
    app.update(Action::Worker(Event::PrimaryVerified(Box::new(
        fixtures::report(Target::Primary, Status::Corrupt),
    ))));
    assert!(
        app.log
            .iter()
            .any(|l| l.text.contains("changed on disk") && l.text.contains("another process"))
    );
    assert_eq!(app.table.rows.len(), 13);
    assert!(app.primary_broken());
    let text = screen_text(&app).join("\n");
    assert!(text.contains("read 12:00:02"), "{text}");
    assert!(text.contains("✗ corrupt"), "{text}");
}

#[test]
fn a_broken_primary_puts_the_recovery_key_first_in_the_footer() {
    let (mut app, _rx) = loaded(MEDIUM, 12);
    assert_eq!(app.footer_hints()[0].1, "quit");
    assert!(
        app.footer_hints()
            .iter()
            .any(|(k, w)| k == "x" && *w == "damage")
    );
    // Damaged while the UI is open (seen by the watch).
    app.update(Action::Worker(Event::PrimaryVerified(Box::new(
        fixtures::report(Target::Primary, Status::Corrupt),
    ))));
    let hints = app.footer_hints();
    assert_eq!((hints[0].0.as_str(), hints[0].1), ("x", "recover"));
    assert!(!hints.iter().any(|(_, w)| *w == "damage"));
    for size in [BIG, MEDIUM, SMALL] {
        app.update(Action::Resize(size.0, size.1));
        let text = screen_text(&app);
        let footer = text.last().cloned().unwrap_or_default();
        assert!(footer.starts_with("x recover"), "{size:?}: {footer:?}");
    }
    // After Esc from the wizard, the footer still leads back to it.
    press(&mut app, KeyCode::Char('x'));
    assert!(app.wizard.is_some());
    press(&mut app, KeyCode::Esc);
    assert!(app.wizard.is_none());
    assert_eq!(app.footer_hints()[0].1, "recover");
    app.update(Action::Resize(MEDIUM.0, MEDIUM.1));
    assert_snapshot!("recover_key_leads_80x24", screen(&app));
}

#[test]
fn a_refused_restores_verification_becomes_the_rows_status_and_the_headers() {
    let (mut app, _rx) = verified(BIG, 12);
    let id = app.table.rows[0].info.id.clone();
    assert_eq!(app.table.rows[0].status(), Some(Status::Valid));
    let before = app.table.tally;
    // The worker sends the refusal's verification first.
    let mut failed = fixtures::report_for(&id, Status::Corrupt);
    failed.failed_level = Some(Level::Consistency);
    failed.reason = Some("1 dangling edge (endpoint is not a node): e1 -> GHOST".into());
    app.update(Action::Worker(Event::Verified(Ok(Box::new(failed)))));
    assert_eq!(app.table.rows[0].status(), Some(Status::Corrupt));
    assert_eq!(app.table.tally.failed, before.failed + 1);
    assert_eq!(app.table.tally.valid, before.valid - 1);
    let text = screen_text(&app).join("\n");
    assert!(text.contains("2 ✗"), "the header counts it:\n{text}");
}

#[test]
fn a_checksum_only_valid_never_hides_a_deeper_verdict_on_the_same_bytes() {
    let (mut app, _rx) = verified(BIG, 12);
    let id = app.table.rows[2].info.id.clone();
    assert_eq!(app.table.rows[2].status(), Some(Status::Corrupt));
    // Same bytes hashed again: the checksum passes, the parse failed.
    let mut shallow = fixtures::report_for(&id, Status::Valid);
    shallow.depth = Depth::Checksum;
    shallow.actual_checksum = app.table.rows[2]
        .report
        .as_ref()
        .and_then(|r| r.actual_checksum.clone());
    app.update(Action::Worker(Event::Verified(Ok(Box::new(
        shallow.clone(),
    )))));
    assert_eq!(app.table.rows[2].status(), Some(Status::Corrupt));
    // Other bytes: the newer verdict stands, and says "sum only".
    shallow.actual_checksum = Some("0".repeat(64));
    app.update(Action::Worker(Event::Verified(Ok(Box::new(shallow)))));
    assert_eq!(app.table.rows[2].status(), Some(Status::Valid));
    let text = screen_text(&app).join("\n");
    assert!(text.contains("sum only"), "{text}");
    // The primary: a checksum-only "valid" says so in the header.
    let mut primary = fixtures::report(Target::Primary, Status::Valid);
    primary.depth = Depth::Checksum;
    primary.actual_checksum = Some("1".repeat(64));
    app.update(Action::Worker(Event::Verified(Ok(Box::new(primary)))));
    let text = screen_text(&app).join("\n");
    assert!(text.contains("checksum ok, not parsed"), "{text}");
}

#[test]
fn the_wizards_footer_names_what_enter_presses() {
    let (mut app, _rx) = verified(BIG, 12);
    press(&mut app, KeyCode::Char('x'));
    let words = |app: &crate::tui::app::App| -> Vec<(String, &'static str)> { app.footer_hints() };
    assert!(words(&app).contains(&("Enter".into(), "next")));
    assert!(
        !words(&app).iter().any(|(k, _)| k == "y"),
        "nothing to confirm yet"
    );
    press(&mut app, KeyCode::Enter);
    // The confirmation: Enter presses No until Tab moves the focus.
    assert!(
        words(&app).contains(&("Enter".into(), "no")),
        "{:?}",
        words(&app)
    );
    assert!(words(&app).contains(&("y".into(), "damage")));
    assert!(!words(&app).contains(&("Enter".into(), "next")));
    press(&mut app, KeyCode::Tab);
    assert!(words(&app).contains(&("Enter".into(), "damage")));
    let footer = screen_text(&app).last().cloned().unwrap_or_default();
    assert!(footer.contains("Enter damage"), "{footer}");
}

#[test]
fn the_summarys_footer_says_enter_closes_and_it_does() {
    use crate::store::corrupt::CorruptionKind;
    use crate::tui::wizard::Step;
    let mut app = super::wizard_at(CorruptionKind::Truncate, Step::Summary);
    assert!(app.footer_hints().contains(&("Enter".into(), "close")));
    assert!(!app.footer_hints().iter().any(|(k, _)| k == "y"));
    press(&mut app, KeyCode::Enter);
    assert!(app.wizard.is_none());
}

#[test]
fn the_log_opens_in_full_wraps_and_scrolls_back() {
    let (mut app, _rx) = verified(MEDIUM, 12);
    for i in 0..40 {
        app.update(Action::Worker(Event::Failed(UiError::internal(format!(
            "line {i}: a long message whose end is what matters, so it wraps rather than being cut off at the edge"
        )))));
        press(&mut app, KeyCode::Esc);
    }
    press(&mut app, KeyCode::Char('L'));
    assert_eq!(app.context(), Context::Log);
    let text = screen_text(&app).join("\n");
    assert!(text.contains("line 39"), "opens at the newest:\n{text}");
    assert!(
        text.contains("cut off at the edge"),
        "wrapped, not cut:\n{text}"
    );
    assert!(!text.contains("line 3:"), "{text}");
    press(&mut app, KeyCode::Char('g'));
    let text = screen_text(&app).join("\n");
    assert!(
        text.contains("line 0:"),
        "scrolls back to the oldest:\n{text}"
    );
    assert_snapshot!("log_view_oldest_80x24", screen(&app));
    press(&mut app, KeyCode::Esc);
    assert!(app.popup.is_none());
}

#[test]
fn a_line_said_again_is_counted_not_repeated() {
    let (mut app, _rx) = verified(BIG, 12);
    let n = app.log.len();
    for _ in 0..3 {
        app.update(Action::Worker(Event::ChangedOnDisk));
    }
    assert_eq!(app.log.len(), n + 1);
    assert_eq!(app.log.back().map(|l| l.repeats), Some(3));
    let text = screen_text(&app).join("\n");
    assert!(text.contains("(×3)"), "{text}");
}

#[test]
fn a_rotation_under_way_shows_progress_and_esc_or_quitting_stops_it() {
    let (mut app, rx) = rotate_app();
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char('y'));
    let Some(Command::Rotate { cancel, .. }) = sent(&rx).pop() else {
        panic!("the rotation is sent");
    };
    assert_eq!(app.context(), Context::Rotating);
    app.update(Action::Worker(Event::RotateProgress(
        crate::store::rotate::RotateProgress {
            step: crate::store::rotate::RotateStep::Reading,
            done: 1200,
            total: 2500,
            bytes_done: 1200 << 20,
            bytes_total: 2500 << 20,
        },
    )));
    let text = screen_text(&app).join("\n");
    assert!(text.contains("reading backups 1200/2500"), "{text}");
    assert!(text.contains("Esc stops between two files"), "{text}");
    assert_snapshot!("rotation_under_way", screen(&app));
    press(&mut app, KeyCode::Esc);
    assert!(cancel.load(Ordering::Relaxed), "Esc stops it");
    // Stopped before anything moved: a line, not an error popup.
    app.update(Action::Worker(Event::Rotated(Err(UiError::from(
        crate::store::StoreError::Cancelled {
            op: "rotation",
            state: "stopped while reading the backups: nothing was moved to the trash".into(),
        },
    )))));
    assert!(app.popup.is_none());
    assert!(
        app.log
            .back()
            .is_some_and(|l| l.text.contains("nothing was moved"))
    );
}

#[test]
fn quitting_during_a_rotation_stops_it_between_two_files() {
    let (mut app, rx) = rotate_app();
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char('y'));
    let Some(Command::Rotate { cancel, .. }) = sent(&rx).pop() else {
        panic!("the rotation is sent");
    };
    press_ctrl_c(&mut app);
    assert!(app.quit);
    assert!(cancel.load(Ordering::Relaxed), "the worker is told to stop");
}

fn press_ctrl_c(app: &mut crate::tui::app::App) {
    let key = crossterm::event::KeyEvent::new(
        KeyCode::Char('c'),
        crossterm::event::KeyModifiers::CONTROL,
    );
    if let Some(action) = app.action_for_key(key) {
        app.update(action);
    }
}

#[test]
fn small_windows_drop_whole_columns_and_never_cut_the_time() {
    for (w, h) in [(40, 10), (20, 5)] {
        let (mut app, _rx) = verified((w, h), 12);
        app.update(Action::Resize(w, h));
        let text = screen_text(&app);
        let all = text.join("\n");
        if w == 40 {
            // The whole time, not "2025-10-20 1".
            assert!(all.contains("2025-10-20 10:00:00"), "{all}");
            assert!(
                !all.contains("KiB"),
                "size goes before the time is cut:\n{all}"
            );
        }
        let footer = text.last().cloned().unwrap_or_default();
        assert!(!footer.contains("KiB"), "{w}x{h} footer: {footer:?}");
        // Only whole hints: nothing of another line shows through.
        assert!(
            !footer.chars().any(|c| c.is_ascii_digit()),
            "{w}x{h} footer: {footer:?}"
        );
        assert_snapshot!(format!("small_{w}x{h}"), screen(&app));
    }
}

#[test]
fn the_restore_plan_never_promises_to_keep_a_missing_primary_nor_calls_a_parseable_one_unparseable()
{
    let (mut app, _rx) = verified(BIG, 12);
    press(&mut app, KeyCode::Char('r'));
    let id = app.table.rows[0].info.id.clone();
    app.update(Action::Worker(Event::RestorePlanned {
        id: id.clone(),
        allow_unverified: false,
        result: Ok(Box::new(fixtures::restore_report(
            &id,
            Status::Missing,
            true,
        ))),
    }));
    let text = screen_text(&app).join("\n");
    assert!(text.contains("there is no graph.json to keep"), "{text}");
    assert!(!text.contains("will be kept"), "{text}");
    assert!(!text.contains("cannot be parsed"), "{text}");
    assert_snapshot!("restore_plan_primary_missing", screen(&app));
    let (mut app, _rx) = verified(BIG, 12);
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
    let text = screen_text(&app).join("\n");
    assert!(
        text.contains("no diff to show: graph.json does not parse"),
        "{text}"
    );
    assert!(text.contains("will be kept in"), "{text}");
    assert!(matches!(app.popup, Some(Popup::Restore(_))));
}

#[test]
fn the_candidates_show_what_each_holds_where_the_list_is_and_what_an_older_choice_loses() {
    use crate::store::corrupt::CorruptionKind;
    use crate::tui::wizard::Step;
    let mut app = super::wizard_at(CorruptionKind::Truncate, Step::Candidates);
    let text = screen_text(&app).join("\n");
    assert!(text.contains("154 nodes · 308 edges · 118.5 KiB"), "{text}");
    assert!(!text.contains("older than the recommended"), "{text}");
    // An older backup than the recommended one: the loss is named at once.
    press(&mut app, KeyCode::Down);
    let text = screen_text(&app).join("\n");
    assert!(text.contains("older than the recommended ★"), "{text}");
    // A short window: the rows say where they are, the warning stays.
    app.update(Action::Resize(SMALL.0, SMALL.1));
    let text = screen_text(&app).join("\n");
    assert!(text.contains("of 12 · ↓ more below"), "{text}");
    assert!(text.contains("older than the recommended"), "{text}");
    assert_snapshot!("wizard_candidates_older_60x15", screen(&app));
}

#[test]
fn the_filter_follows_typing_matches_status_words_and_esc_puts_it_back() {
    let (mut app, _rx) = verified(BIG, 12);
    press(&mut app, KeyCode::Char('/'));
    for c in "corr".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    assert_eq!(
        app.table.visible.len(),
        0,
        "no id, time or status is \"corr\""
    );
    for c in "upt".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    // As it is typed: the one corrupt backup.
    assert_eq!(app.table.visible.len(), 1);
    assert_eq!(
        app.table.selected_row().and_then(|r| r.status()),
        Some(Status::Corrupt)
    );
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.table.visible.len(), 12, "Esc puts the filter back");
    press(&mut app, KeyCode::Char('/'));
    for c in "unchecked".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.table.visible.len(), 0, "every backup here is verified");
}

#[test]
fn big_o_orders_the_table_n_selects_the_newest_valid_and_y_copies() {
    let (mut app, _rx) = verified(BIG, 12);
    // The newest backup is corrupt here: n skips it.
    let id = app.table.rows[0].info.id.clone();
    let mut corrupt = fixtures::report_for(&id, Status::Corrupt);
    corrupt.failed_level = Some(Level::Checksum);
    app.update(Action::Worker(Event::Verified(Ok(Box::new(corrupt)))));
    press(&mut app, KeyCode::Char('G'));
    press(&mut app, KeyCode::Char('n'));
    assert_eq!(app.table.selected, 1);
    let selected = app.table.selected_id().cloned();
    // Largest first keeps the same backup selected.
    press(&mut app, KeyCode::Char('O'));
    press(&mut app, KeyCode::Char('O'));
    assert_eq!(app.table.sort, crate::tui::table::SortBy::Size);
    assert_eq!(app.table.selected_id(), selected.as_ref());
    let sizes: Vec<u64> = app
        .table
        .visible
        .iter()
        .filter_map(|&i| app.table.rows[i].info.size)
        .collect();
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
    assert!(screen_text(&app).join("\n").contains("largest first"));
    // y: the id goes to the clipboard (the event loop writes it as OSC 52).
    press(&mut app, KeyCode::Char('y'));
    assert_eq!(app.clipboard, selected.map(|id| id.to_string()));
    press(&mut app, KeyCode::Char('#'));
    assert!(app.clipboard.as_ref().is_some_and(|c| c.len() == 64));
}

#[test]
fn ctrl_s_in_the_rotate_form_saves_the_policy_as_the_stores_own() {
    let (mut app, rx) = rotate_app();
    let ctrl_s = crossterm::event::KeyEvent::new(
        KeyCode::Char('s'),
        crossterm::event::KeyModifiers::CONTROL,
    );
    let action = app.action_for_key(ctrl_s).expect("bound");
    app.update(action);
    let Some(Command::SavePolicy(policy)) = sent(&rx).pop() else {
        panic!("the policy is sent to be saved");
    };
    assert_eq!(policy.keep_last, Some(3));
    assert!(app.popup.is_some(), "nothing is moved: the form stays");
    app.update(Action::Worker(Event::PolicySaved(Ok(policy.clone()))));
    assert_eq!(app.policy, policy);
    assert!(
        app.log
            .back()
            .is_some_and(|l| l.text.contains("keep last 3") && l.text.contains("after every save"))
    );
}

#[test]
fn a_click_selects_a_row_and_a_second_click_opens_its_details() {
    for size in [BIG, MEDIUM, SMALL] {
        let (mut app, _rx) = verified(size, 12);
        // The screen row that shows the fourth backup.
        let text = screen_text(&app);
        let time = crate::present::local_time(app.table.rows[3].info.time);
        let y = text
            .iter()
            .position(|l| l.contains(&time))
            .expect("the row is drawn");
        let y = u16::try_from(y).unwrap_or(0);
        app.update(Action::Click(10, y));
        assert_eq!(app.table.selected, 3, "{size:?}");
        assert!(app.popup.is_none());
        app.update(Action::Click(10, y));
        assert!(matches!(app.popup, Some(Popup::Details(_))), "{size:?}");
        // Off the table: nothing.
        press(&mut app, KeyCode::Esc);
        app.update(Action::Click(0, size.1 - 1));
        assert_eq!(app.table.selected, 3);
    }
}

#[test]
fn a_diff_lists_every_id_on_space_and_enter_drills_into_the_nodes() {
    let (mut app, rx) = verified(BIG, 12);
    press(&mut app, KeyCode::Char('d'));
    let id = app.table.rows[0].info.id.clone();
    let mut report = fixtures::diff_report(&id);
    report.diff.nodes_changed = (0..183).map(|i| format!("node_{i:03}")).collect();
    app.update(Action::Worker(Event::Diffed(Ok(Box::new(report)))));
    let text = screen_text(&app).join("\n");
    assert!(text.contains("and 143 more"), "{text}");
    assert!(!text.contains("node_182"), "{text}");
    press(&mut app, KeyCode::Char(' '));
    let text = screen_text(&app).join("\n");
    assert!(!text.contains("and 143 more"), "{text}");
    assert!(text.contains("node_100"), "{text}");
    assert_snapshot!("diff_expanded", screen(&app));
    // Field by field: the node browser on the changed and added nodes,
    // compared with the older graph.
    sent(&rx);
    press(&mut app, KeyCode::Enter);
    assert!(matches!(app.popup, Some(Popup::Nodes(_))));
    assert!(matches!(
        &sent(&rx)[..],
        [Command::OpenNodes {
            compare: Some(_),
            ..
        }]
    ));
}

#[test]
fn a_stopped_rotation_says_what_it_moved_and_what_stayed() {
    let (mut app, _rx) = verified(BIG, 12);
    let mut report = super::trash::rotate_report(4, 0);
    report.trashed.truncate(1);
    report.cancelled = true;
    app.update(Action::Worker(Event::Rotated(Ok(Box::new(report)))));
    let last = app.log.back().map(|l| l.text.clone()).unwrap_or_default();
    assert!(
        last.starts_with("rotation stopped: moved 1 of 4 backups"),
        "{last}"
    );
    assert!(last.contains("the other 3 stay in backups/"), "{last}");
    assert!(!last.contains("backups kept"), "{last}");
}

#[test]
fn the_restore_buttons_can_be_clicked() {
    for size in [BIG, MEDIUM, SMALL] {
        let (mut app, rx) = verified(size, 12);
        press(&mut app, KeyCode::Char('r'));
        let id = app.table.rows[0].info.id.clone();
        app.update(Action::Worker(Event::RestorePlanned {
            id: id.clone(),
            allow_unverified: false,
            result: Ok(Box::new(fixtures::restore_report(&id, Status::Valid, true))),
        }));
        // Where the buttons are, as drawn.
        let text = screen_text(&app);
        let (y, line) = text
            .iter()
            .enumerate()
            .find(|(_, l)| l.contains("[ Restore ]"))
            .expect("the buttons are drawn");
        let col = |needle: &str| {
            let byte = line.find(needle).unwrap_or(0);
            u16::try_from(line[..byte].chars().count() + 2).unwrap_or(0)
        };
        let y = u16::try_from(y).unwrap_or(0);
        sent(&rx);
        // A click beside the buttons does nothing; on Restore, restores.
        app.update(Action::Click(0, y));
        assert!(sent(&rx).is_empty(), "{size:?}");
        assert!(app.popup.is_some(), "{size:?}");
        app.update(Action::Click(col("[ Restore ]"), y));
        assert!(
            matches!(&sent(&rx)[..], [Command::Restore { .. }]),
            "{size:?}: {line}"
        );
        // On No (another plan): closes, nothing sent.
        let (mut app, rx) = verified(size, 12);
        press(&mut app, KeyCode::Char('r'));
        app.update(Action::Worker(Event::RestorePlanned {
            id: id.clone(),
            allow_unverified: false,
            result: Ok(Box::new(fixtures::restore_report(&id, Status::Valid, true))),
        }));
        screen_text(&app);
        sent(&rx);
        app.update(Action::Click(col("[ No ]"), y));
        assert!(app.popup.is_none(), "{size:?}");
        assert!(sent(&rx).is_empty());
    }
}

#[test]
fn the_rotation_confirmation_buttons_can_be_clicked() {
    let (mut app, rx) = rotate_app();
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.context(), Context::Confirm);
    let text = screen_text(&app);
    let (y, line) = text
        .iter()
        .enumerate()
        .find(|(_, l)| l.contains("[ Move to trash ]"))
        .expect("the buttons are drawn");
    let col = |needle: &str| {
        let byte = line.find(needle).unwrap_or(0);
        u16::try_from(line[..byte].chars().count() + 2).unwrap_or(0)
    };
    let y = u16::try_from(y).unwrap_or(0);
    sent(&rx);
    app.update(Action::Click(col("[ No ]"), y));
    assert_eq!(app.context(), Context::Rotate, "No goes back to the form");
    assert!(sent(&rx).is_empty());
    press(&mut app, KeyCode::Enter);
    screen_text(&app);
    app.update(Action::Click(col("[ Move to trash ]"), y));
    assert!(matches!(&sent(&rx)[..], [Command::Rotate { .. }]));
}

/// The screen row showing `needle`, and a column inside it.
fn where_is(app: &crate::tui::app::App, needle: &str) -> Option<(u16, u16)> {
    let text = screen_text(app);
    let (y, line) = text.iter().enumerate().find(|(_, l)| l.contains(needle))?;
    let byte = line.find(needle)?;
    let x = u16::try_from(line[..byte].chars().count() + 2).ok()?;
    Some((x, u16::try_from(y).ok()?))
}

#[test]
fn the_wizards_buttons_can_be_clicked_when_they_are_on_screen() {
    use crate::store::corrupt::CorruptionKind;
    use crate::tui::wizard::Step;
    use crate::tui::worker::WizardCommand;
    let (mut app, rx) = verified(BIG, 12);
    press(&mut app, KeyCode::Char('x'));
    press(&mut app, KeyCode::Enter);
    let (x, y) = where_is(&app, "[ No ]").expect("the confirmation's buttons");
    app.update(Action::Click(x, y));
    assert_eq!(app.wizard.as_ref().map(|w| w.step), Some(Step::Choose));
    press(&mut app, KeyCode::Enter);
    sent(&rx);
    let (x, y) = where_is(&app, "[ Damage it ]").expect("the buttons again");
    app.update(Action::Click(x, y));
    assert!(matches!(
        &sent(&rx)[..],
        [Command::Wizard(WizardCommand::Begin { .. })]
    ));
    // The plan: its buttons at the end of a long text, clickable once
    // scrolled into view.
    let mut app = super::wizard_at(CorruptionKind::Truncate, Step::Plan);
    app.update(Action::Resize(SMALL.0, SMALL.1));
    assert!(where_is(&app, "[ Restore ]").is_none(), "below the fold");
    for _ in 0..10 {
        press(&mut app, KeyCode::PageDown);
    }
    let (x, y) = where_is(&app, "[ Restore ]").expect("scrolled into view");
    app.update(Action::Click(x, y));
    assert!(app.wizard.as_ref().is_some_and(|w| {
        w.busy
            .as_deref()
            .is_some_and(|b| b.starts_with("restoring"))
    }));
}
