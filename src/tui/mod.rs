//! The terminal UI: browse and verify backups, diff, restore, rotate,
//! snapshot, and a guided wizard that simulates corruption on a sandbox and
//! recovers from it (or recovers the store's own broken primary).
//!
//! # Design
//! - [`app::App`] holds all state; [`app::App::update`] is the only place it
//!   changes, from an [`action::Action`].
//! - Each popup ([`popups`]) and the wizard ([`wizard`]) is one file: its
//!   state, its key table, its `update`/`on_event` and its drawing. The
//!   keymap reads every view's table as one, for dispatch, the footer
//!   hints and the `?` help. See the README's architecture section for
//!   how to add an action or a popup.
//! - Disk work runs on a worker thread ([`worker`]) that owns a clone of
//!   the store; results come back as events over a channel, so drawing
//!   never touches the disk and a key press redraws within a frame.
//! - The terminal is entered and left one way (`ratatui::try_init` and
//!   `ratatui::restore`, whose panic hook restores it on a panic of the UI
//!   thread). Logs go to a file, never to the terminal.

mod action;
mod app;
pub mod error;
pub mod health;
mod keymap;
mod logging;
mod popups;
mod render;
mod table;
mod theme;
mod wizard;
pub mod worker;

#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use crossterm::event::{self, Event as TermEvent};

use crate::store::Store;

use action::Action;
use app::{App, AppConfig};

/// How long to wait for a key before looking at the worker's results.
const POLL: Duration = Duration::from_millis(50);
/// How often the clock (ages, probes) moves on without a key press.
const TICK: Duration = Duration::from_secs(1);

/// Runs the UI on the store at `store` until the user quits.
///
/// # Errors
/// The store's configuration cannot be read, the worker thread cannot be
/// started, or the terminal cannot be set up or drawn to. Store errors met
/// while running are shown in the UI, not returned.
pub fn run(
    store: &Path,
    note: Option<String>,
    key: Option<crate::store::auth::Key>,
) -> anyhow::Result<()> {
    let log_file = logging::init(store);
    let opened =
        Store::open(store).with_context(|| format!("cannot open the store {}", store.display()))?;
    let opened = match key {
        Some(key) => opened.with_key(key),
        None => opened,
    };
    let (commands_tx, commands_rx) = mpsc::channel();
    let (events_tx, events_rx) = mpsc::channel();
    let worker = worker::spawn(opened.clone(), commands_rx, events_tx)
        .context("cannot start the worker thread")?;
    let mut terminal = ratatui::try_init().context("cannot set up the terminal")?;
    keep_terminal_on_background_panics();
    // The wheel and clicks (Shift+drag still selects text in most
    // terminals).
    let _ = crossterm::execute!(std::io::stdout(), event::EnableMouseCapture);
    let size = terminal
        .size()
        .map(|s| (s.width, s.height))
        .unwrap_or((80, 24));
    let mut notes: Vec<String> = note.into_iter().collect();
    if let Some(path) = &log_file {
        notes.push(format!("UI log: {}", path.display()));
    }
    let mut app = App::new(
        AppConfig {
            store_path: store.to_path_buf(),
            notes,
            theme: theme::Theme::from_env(),
            now: chrono::Local::now().naive_local(),
            size,
            policy: opened.config().retention.clone(),
            trash_grace: crate::store::retention::format_duration(opened.trash_grace()),
            auto_verify: true,
        },
        commands_tx,
    );
    let result = event_loop(&mut terminal, &mut app, &events_rx);
    let _ = crossterm::execute!(std::io::stdout(), event::DisableMouseCapture);
    ratatui::restore();
    // Dropping the app closes the command channel; the worker finishes
    // the command it runs (verifications were cancelled on quit) and ends.
    drop(app);
    if worker.join().is_err() {
        tracing::error!("the worker thread panicked");
    }
    tracing::info!("UI closed");
    result
}

fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    events: &mpsc::Receiver<worker::Event>,
) -> anyhow::Result<()> {
    let mut last_tick = Instant::now();
    let mut dirty = true;
    loop {
        if dirty {
            terminal.draw(|frame| frame.render_widget(&*app, frame.area()))?;
            dirty = false;
        }
        if app.quit {
            return Ok(());
        }
        if event::poll(POLL)? {
            let input = event::read()?;
            // Only presses: releases and repeats would act twice.
            if let Some(key) = input.as_key_press_event() {
                if let Some(action) = app.action_for_key(key) {
                    app.update(action);
                }
                if let Some(text) = app.clipboard.take() {
                    copy_to_clipboard(&text);
                }
                dirty = true;
            } else if let TermEvent::Resize(w, h) = input {
                app.update(Action::Resize(w, h));
                dirty = true;
            } else if let TermEvent::Mouse(m) = input
                && let Some(action) = mouse_action(m)
            {
                app.update(action);
                dirty = true;
            }
        }
        for event in events.try_iter() {
            app.update(Action::Worker(event));
            dirty = true;
        }
        if last_tick.elapsed() >= TICK {
            last_tick = Instant::now();
            app.update(Action::Tick(chrono::Local::now().naive_local()));
            dirty = true;
        }
    }
}

/// What a mouse event asks for: the wheel moves as the arrow keys do
/// (the selection, a popup's scroll, the wizard's choice), a left click
/// selects a row.
fn mouse_action(m: event::MouseEvent) -> Option<Action> {
    use event::{MouseButton, MouseEventKind};
    match m.kind {
        MouseEventKind::ScrollUp => Some(Action::Up),
        MouseEventKind::ScrollDown => Some(Action::Down),
        MouseEventKind::Down(MouseButton::Left) => Some(Action::Click(m.column, m.row)),
        _ => None,
    }
}

/// Asks the terminal to put `text` on the clipboard (OSC 52), which works
/// over ssh too; terminals that do not allow it ignore the sequence.
fn copy_to_clipboard(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout();
    let _ = write!(out, "\x1b]52;c;{}\x07", base64(text.as_bytes()));
    let _ = out.flush();
}

/// Standard base64 with padding, for OSC 52.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// ratatui's panic hook restores the terminal on any panic; a panic on a
/// background thread is caught and shown in the UI instead, so it must not
/// take the terminal out of raw mode under a UI that keeps running.
fn keep_terminal_on_background_panics() {
    let ui_thread = std::thread::current().id();
    let restore_and_report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() == ui_thread {
            restore_and_report(info);
        } else {
            tracing::error!(panic = %info, thread = ?std::thread::current().name(), "panic in a background thread");
        }
    }));
}

#[cfg(test)]
mod clipboard_tests {
    #[test]
    fn base64_is_the_standard_one() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foo"), "Zm9v");
        assert_eq!(
            super::base64(b"graph_20251003_000432"),
            "Z3JhcGhfMjAyNTEwMDNfMDAwNDMy"
        );
    }
}
