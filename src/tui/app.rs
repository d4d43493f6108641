//! The UI's state and the one function that changes it, [`App::update`].
//!
//! Keys become [`Action`]s through the keymap ([`App::action_for_key`]),
//! worker results arrive as [`Action::Worker`], and nothing else mutates
//! the state. The worker is only a [`Sender`] here, so tests drive `update`
//! with injected events and read the commands it sent.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;

use chrono::NaiveDateTime;
use crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui_textarea::{CursorMove, TextArea};

use crate::store::LockState;
use crate::store::retention::RetentionPolicy;
use crate::store::verify::{Depth, FileReport, Status, Target};

use super::action::Action;
use super::error::UiError;
use super::health::{self, Check, DiskSpace, HealthInput, Watch};
use super::keymap::{self, Context};
use super::popups::{
    DetailsPopup, DiffPopup, Effects, Env, ErrorPopup, EvidencePopup, HelpPopup, LogPopup,
    NodesPopup, Popup, RemotesPopup, RestorePopup, RotateForm, TrashPopup, push_text,
};
use super::render;
use super::table::BackupTable;
use super::theme::Theme;
use super::wizard::{Mode, Wizard};
use super::worker::{Command, Event, Progress, StoreState, WizardCommand, WizardEvent};

/// How the UI starts.
#[derive(Debug, Clone)]
pub struct AppConfig {
    pub store_path: PathBuf,
    /// Lines to show in the log at start (the demo says what it built).
    pub notes: Vec<String>,
    pub theme: Theme,
    pub now: NaiveDateTime,
    /// Terminal size, columns and rows.
    pub size: (u16, u16),
    /// The store's configured retention, the rotate form's starting point.
    pub policy: RetentionPolicy,
    /// How long the trash keeps what retention moves there (`14d`).
    pub trash_grace: String,
    /// Verify every backup, every level, in the background after the first
    /// listing, so statuses fill in without a key press (at hash speed for
    /// content the memo of verified content knows).
    pub auto_verify: bool,
}

/// What is known about the store itself.
#[derive(Debug, Clone, Default)]
pub struct StoreView {
    /// The first listing has arrived.
    pub loaded: bool,
    pub exists: bool,
    pub is_sandbox: bool,
    pub has_primary: bool,
    pub has_meta: bool,
    pub listing_error: Option<UiError>,
    pub ignored: Vec<String>,
    pub primary: Option<FileReport>,
    pub lock: Option<LockState>,
    pub disk: Option<DiskSpace>,
    /// The last unattended check, the trash and the evidence (`None`
    /// until the first probe).
    pub watch: Option<Watch>,
    /// Off-site status of the backups (empty without remotes).
    pub offsite: crate::remote::state::OffsiteSummary,
    /// When the store was last read (listed), for the header.
    pub read_at: Option<NaiveDateTime>,
}

/// A verify-all running in the background.
#[derive(Debug, Clone)]
pub struct VerifyJob {
    pub job: u64,
    pub depth: Depth,
    pub cancel: Arc<AtomicBool>,
    pub progress: Option<Progress>,
    /// Failures logged so far (the log shows only the first few).
    pub failures_logged: usize,
}

impl VerifyJob {
    pub fn cancelling(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

/// How serious a log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Info,
    Good,
    Warn,
    Error,
}

/// One line of the activity log.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub time: NaiveDateTime,
    pub severity: Severity,
    pub text: String,
    /// How many times in a row it was said (shown once, counted).
    pub repeats: usize,
}

/// Lines kept in the activity log.
const LOG_CAPACITY: usize = 500;
/// Failures of one verify-all written to the log one by one.
const FAILURES_LOGGED: usize = 20;
/// Seconds between looks at the lock and the free disk.
const PROBE_EVERY_SECS: i64 = 10;
/// Seconds between stats of the store, to see another process's writes
/// without F5.
const WATCH_EVERY_SECS: i64 = 2;

/// The whole UI state.
#[derive(Debug)]
pub struct App {
    pub store_path: PathBuf,
    pub theme: Theme,
    pub now: NaiveDateTime,
    pub size: (u16, u16),
    pub policy: RetentionPolicy,
    /// How long the trash keeps what retention moves there (`14d`).
    pub trash_grace: String,
    auto_verify: bool,
    pub store: StoreView,
    pub table: BackupTable,
    pub verify: Option<VerifyJob>,
    pub popup: Option<Popup>,
    pub wizard: Option<Wizard>,
    pub filter_input: Option<TextArea<'static>>,
    /// The filter before the input opened, restored by Esc (the filter
    /// applies as it is typed).
    filter_before: String,
    /// Text for the terminal's clipboard, written by the event loop as an
    /// OSC 52 sequence (drawing never writes to the terminal itself).
    pub clipboard: Option<String>,
    pub log: VecDeque<LogEntry>,
    pub quit: bool,
    worker: Sender<Command>,
    next_job: u64,
    /// Waiting for the first look at the primary to decide where to start.
    starting: bool,
    last_probe: NaiveDateTime,
    last_watch: NaiveDateTime,
    /// Stop switches of long store operations under way (a rotation):
    /// quitting flips them, so the worker stops between two files and the
    /// UI does not wait for thousands more.
    stops: Vec<Arc<AtomicBool>>,
}

impl App {
    pub fn new(config: AppConfig, worker: Sender<Command>) -> App {
        let mut app = App {
            store_path: config.store_path,
            theme: config.theme,
            now: config.now,
            size: config.size,
            policy: config.policy,
            trash_grace: config.trash_grace,
            auto_verify: config.auto_verify,
            store: StoreView::default(),
            table: BackupTable::default(),
            verify: None,
            popup: None,
            wizard: None,
            filter_input: None,
            filter_before: String::new(),
            clipboard: None,
            log: VecDeque::new(),
            quit: false,
            worker,
            next_job: 1,
            starting: true,
            last_probe: config.now,
            last_watch: config.now,
            stops: Vec::new(),
        };
        for note in config.notes {
            app.log_line(Severity::Info, note);
        }
        app.send(Command::Refresh);
        app
    }

    fn send(&mut self, command: Command) {
        if self.worker.send(command).is_err() {
            self.log_line(
                Severity::Error,
                "the worker thread has stopped; restart graphvault".into(),
            );
        }
    }

    fn send_wizard(&mut self, commands: Vec<WizardCommand>) {
        for c in commands {
            self.send(Command::Wizard(c));
        }
    }

    fn log_line(&mut self, severity: Severity, text: String) {
        match severity {
            Severity::Error => tracing::error!(target: "graphvault::ui", "{text}"),
            Severity::Warn => tracing::warn!(target: "graphvault::ui", "{text}"),
            Severity::Info | Severity::Good => tracing::info!(target: "graphvault::ui", "{text}"),
        }
        // The same line again (a refresh that finds what the last one
        // found) is counted, not repeated.
        if let Some(last) = self.log.back_mut()
            && last.text == text
            && last.severity == severity
        {
            last.repeats += 1;
            last.time = self.now;
            return;
        }
        if self.log.len() == LOG_CAPACITY {
            self.log.pop_front();
        }
        self.log.push_back(LogEntry {
            time: self.now,
            severity,
            text,
            repeats: 1,
        });
    }

    fn show_error(&mut self, title: &str, error: UiError) {
        let message = error.message;
        self.log_line(Severity::Error, format!("{title}: {message}"));
        self.popup = Some(Popup::Error(ErrorPopup {
            title: title.to_string(),
            message,
        }));
    }

    /// The store could not be read (its listing failed), and nothing of it
    /// is known: the screen says so, and never that the store is empty.
    pub fn unreadable(&self) -> Option<&UiError> {
        self.store
            .listing_error
            .as_ref()
            .filter(|_| self.store.loaded && self.table.rows.is_empty())
    }

    /// The store directory is missing or holds nothing of a graph store
    /// (as far as could be read: an unreadable one is not empty).
    pub fn no_store(&self) -> bool {
        self.store.loaded
            && self.store.listing_error.is_none()
            && (!self.store.exists
                || (!self.store.has_primary && !self.store.has_meta && self.table.rows.is_empty()))
    }

    /// The primary as last verified is corrupt or missing.
    pub fn primary_broken(&self) -> bool {
        self.store
            .primary
            .as_ref()
            .is_some_and(|p| matches!(p.status, Status::Corrupt | Status::Missing))
    }

    /// Where the keys go now.
    pub fn context(&self) -> Context {
        if self.filter_input.is_some() {
            return Context::Filter;
        }
        if let Some(popup) = &self.popup {
            return popup.context();
        }
        self.context_under_popup()
    }

    /// Where the keys would go without the popup (what help describes).
    pub fn context_under_popup(&self) -> Context {
        if self.wizard.is_some() {
            Context::Wizard
        } else if self.no_store() || self.unreadable().is_some() {
            Context::NoStore
        } else {
            Context::Main
        }
    }

    /// The footer's `(keys, word)` pairs here. When the primary is corrupt
    /// or missing, the recovery key leads the main screen's footer (so no
    /// width cuts it off, and after Esc from the wizard something still
    /// leads back to it), named for what it does then.
    pub fn footer_hints(&self) -> Vec<(String, &'static str)> {
        let context = self.context();
        if context == Context::Wizard
            && let Some(w) = &self.wizard
        {
            return keymap::hint_bindings(context)
                .filter_map(|b| {
                    let word = w.footer_word(&b.action, b.hint?)?;
                    Some((b.keys_label(), word))
                })
                .collect();
        }
        let mut hints = keymap::hints(context);
        if context == Context::Main && self.primary_broken() {
            let recover = keymap::key_label(Context::Main, |a| matches!(a, Action::Simulate));
            if let Some(key) = recover {
                hints.retain(|(k, _)| *k != key);
                hints.insert(0, (key, "recover"));
            }
        }
        hints
    }

    /// The action a key press asks for here, if any.
    pub fn action_for_key(&self, key: KeyEvent) -> Option<Action> {
        keymap::lookup(self.context(), &key)
    }

    /// The health checks for the header.
    pub fn health(&self) -> Vec<Check> {
        health::checks(&HealthInput {
            has_primary: self.store.has_primary,
            has_meta: self.store.has_meta,
            primary_status: self.store.primary.as_ref().map(|p| p.status),
            primary_size: self.store.primary.as_ref().and_then(|p| p.size),
            backups: self.table.rows.len(),
            verified: self.table.tally.verified,
            valid: self.table.tally.valid,
            failed: self.table.tally.failed,
            disk: self.store.disk.clone(),
        })
    }

    /// The last check and the newest valid backup's age, for the header,
    /// judged as `graphvault status` judges them.
    pub fn watch_checks(&self) -> Vec<Check> {
        let newest_valid = self
            .table
            .rows
            .iter()
            .filter(|r| r.status() == Some(crate::store::verify::Status::Valid))
            .map(|r| r.info.time)
            .max();
        let all_verified =
            !self.table.rows.is_empty() && self.table.rows.iter().all(|r| r.report.is_some());
        health::watch_checks(
            self.store.watch.as_ref().unwrap_or(&Watch::default()),
            newest_valid,
            all_verified,
            self.now,
        )
    }

    fn area(&self) -> Rect {
        Rect::new(0, 0, self.size.0, self.size.1)
    }

    /// Rows of the backups table that fit on the screen.
    pub fn page(&self) -> usize {
        render::table_capacity(self, self.area()).max(1)
    }

    /// Applies one action. The only place the state changes.
    pub fn update(&mut self, action: Action) {
        match action {
            Action::Quit => self.shut_down(),
            Action::Resize(w, h) => self.size = (w, h),
            Action::Tick(now) => {
                self.now = now;
                if (now - self.last_probe).num_seconds() >= PROBE_EVERY_SECS {
                    self.last_probe = now;
                    self.send(Command::Probe);
                }
                if (now - self.last_watch).num_seconds() >= WATCH_EVERY_SECS {
                    self.last_watch = now;
                    self.send(Command::Watch);
                }
            }
            Action::Worker(event) => self.on_event(event),
            Action::Click(x, y) => self.click(x, y),
            action if self.filter_input.is_some() => self.update_filter(action),
            action if self.popup.is_some() => {
                let mut fx = Effects::default();
                if let Some(popup) = &mut self.popup {
                    let env = Env {
                        now: self.now,
                        table: &self.table,
                    };
                    popup.update(action, &env, &mut fx);
                }
                self.apply(fx);
            }
            action if self.wizard.is_some() => {
                let mut fx = Effects::default();
                if let Some(w) = &mut self.wizard {
                    w.update(action, &mut fx);
                }
                let close = std::mem::take(&mut fx.close);
                self.apply(fx);
                if close {
                    self.close_wizard();
                }
            }
            action => match self.context() {
                Context::NoStore => match action {
                    Action::Refresh => self.send(Command::Refresh),
                    Action::Help => self.popup = Some(Popup::Help(HelpPopup::default())),
                    _ => {}
                },
                _ => self.update_main(action),
            },
        }
        let page = self.page();
        self.table.scroll_into_view(page);
    }

    /// Carries out what a popup or the wizard asked for.
    fn apply(&mut self, fx: Effects) {
        for (severity, text) in fx.log {
            self.log_line(severity, text);
        }
        if fx.close {
            self.popup = None;
        }
        if let Some(popup) = fx.open {
            self.popup = Some(popup);
        }
        for command in fx.commands {
            if let Command::Rotate { cancel, .. } = &command {
                self.stops.push(cancel.clone());
            }
            self.send(command);
        }
    }

    /// Opens `make`'s popup, which may ask the worker for something.
    fn open(&mut self, make: impl FnOnce(&Env, &mut Effects) -> Popup) {
        let mut fx = Effects::default();
        let env = Env {
            now: self.now,
            table: &self.table,
        };
        fx.open = Some(make(&env, &mut fx));
        self.apply(fx);
    }

    fn shut_down(&mut self) {
        if let Some(job) = &self.verify {
            job.cancel.store(true, Ordering::Relaxed);
        }
        if let Some(w) = &mut self.wizard {
            w.cancel_running();
        }
        for stop in &self.stops {
            stop.store(true, Ordering::Relaxed);
        }
        self.quit = true;
    }

    fn update_main(&mut self, action: Action) {
        let page = self.page() as isize;
        match action {
            Action::Up => self.table.move_by(-1),
            Action::Down => self.table.move_by(1),
            Action::PageUp => self.table.move_by(-page),
            Action::PageDown => self.table.move_by(page),
            Action::Top => self.table.select_first(),
            Action::Bottom => self.table.select_last(),
            Action::Help => self.popup = Some(Popup::Help(HelpPopup::default())),
            Action::Details => {
                if let Some(id) = self.table.selected_id().cloned() {
                    self.popup = Some(Popup::Details(DetailsPopup::new(Target::Backup(id))));
                }
            }
            Action::Browse => {
                if let Some(id) = self.table.selected_id().cloned() {
                    self.open(|_, fx| {
                        Popup::Nodes(Box::new(NodesPopup::open(
                            Target::Backup(id),
                            None,
                            None,
                            fx,
                        )))
                    });
                }
            }
            Action::PrimaryDetails => {
                self.popup = Some(Popup::Details(DetailsPopup::new(Target::Primary)))
            }
            Action::OpenFilter => {
                let mut input = TextArea::new(vec![self.table.filter.clone()]);
                input.move_cursor(CursorMove::End);
                input.set_placeholder_text(
                    "part of an id or a date (2025-10-03), or a status (corrupt)",
                );
                self.filter_input = Some(input);
                self.filter_before = self.table.filter.clone();
            }
            Action::Cancel | Action::Close => {
                if let Some(job) = &self.verify {
                    if !job.cancelling() {
                        job.cancel.store(true, Ordering::Relaxed);
                        self.log_line(Severity::Warn, "cancelling verify all…".into());
                    }
                } else if !self.table.filter.is_empty() {
                    self.table.set_filter("");
                }
            }
            Action::Verify => {
                if let Some(id) = self.table.selected_id().cloned() {
                    self.log_line(Severity::Info, format!("verifying {id}…"));
                    self.send(Command::Verify(Target::Backup(id)));
                }
            }
            Action::VerifyDeep => {
                if let Some(id) = self.table.selected_id().cloned() {
                    self.log_line(Severity::Info, format!("verifying {id}, parsing it again…"));
                    self.send(Command::VerifyDeep(Target::Backup(id)));
                }
            }
            Action::VerifyAll => self.start_verify_all(Depth::Full, true),
            Action::ToggleMark => self.table.toggle_mark(),
            Action::Diff => self.start_diff(),
            Action::Restore => {
                if let Some(id) = self.table.selected_id().cloned() {
                    self.open(|_, fx| Popup::Restore(RestorePopup::open(id, false, fx)));
                }
            }
            Action::Rotate => {
                let policy = self.policy.clone();
                self.open(|env, fx| {
                    let mut form = RotateForm::new(&policy);
                    form.request_plan(env, fx);
                    Popup::Rotate(Box::new(form))
                });
            }
            Action::OpenTrash => self.open(|_, fx| Popup::Trash(TrashPopup::open(fx))),
            Action::OpenEvidence => self.open(|_, fx| Popup::Evidence(EvidencePopup::open(fx))),
            Action::OpenRemotes => self.open(|_, fx| Popup::Remotes(RemotesPopup::open(false, fx))),
            Action::Push => self.open(|_, fx| Popup::Remotes(RemotesPopup::open(true, fx))),
            Action::OpenLog => self.popup = Some(Popup::Log(LogPopup::default())),
            Action::SortNext => {
                self.table.set_sort(self.table.sort.next());
                self.log_line(
                    Severity::Info,
                    format!("backups ordered {}", self.table.sort.name()),
                );
            }
            Action::NewestValid if !self.table.select_newest_valid() => {
                self.log_line(
                    Severity::Warn,
                    "no backup shown has verified valid (yet): V verifies them all".into(),
                );
            }
            Action::CopyId | Action::CopyPath | Action::CopyChecksum => self.copy(&action),
            Action::Snapshot => {
                self.log_line(Severity::Info, "taking a snapshot of the primary…".into());
                self.send(Command::Snapshot);
            }
            Action::Simulate => self.open_wizard(),
            Action::Refresh => {
                self.log_line(Severity::Info, "re-reading the store…".into());
                self.send(Command::Refresh);
            }
            _ => {}
        }
    }

    fn start_verify_all(&mut self, depth: Depth, include_primary: bool) {
        if self.verify.is_some() {
            self.log_line(
                Severity::Warn,
                "verify all is already running (Esc or c cancels it)".into(),
            );
            return;
        }
        let job = self.next_job;
        self.next_job += 1;
        let cancel = Arc::new(AtomicBool::new(false));
        self.verify = Some(VerifyJob {
            job,
            depth,
            cancel: cancel.clone(),
            progress: None,
            failures_logged: 0,
        });
        let what = match (depth, include_primary) {
            (Depth::Full, true) => "verifying the primary and every backup, every level…",
            (Depth::Full, false) => "verifying every backup, every level…",
            (Depth::Checksum, _) => "checking every backup's checksum…",
        };
        self.log_line(Severity::Info, what.into());
        self.send(Command::VerifyAll {
            job,
            depth,
            include_primary,
            cancel,
        });
    }

    fn start_diff(&mut self) {
        let (old, new) = if self.table.marks.len() == 2 {
            let mut ids = self.table.marks.clone();
            ids.sort();
            (
                Target::Backup(ids[0].clone()),
                Target::Backup(ids[1].clone()),
            )
        } else if let Some(id) = self.table.selected_id().cloned() {
            (Target::Backup(id), Target::Primary)
        } else {
            return;
        };
        self.open(|_, fx| Popup::Diff(DiffPopup::open(old, new, fx)));
    }

    fn open_wizard(&mut self) {
        if self.wizard.is_some() {
            return;
        }
        if self.primary_broken() {
            let (mut wizard, commands) =
                Wizard::recover(self.store.is_sandbox, self.store.primary.clone());
            wizard.has_remotes = !self.store.offsite.remotes.is_empty();
            self.log_line(
                Severity::Warn,
                "recovery wizard: the primary is broken".into(),
            );
            self.wizard = Some(wizard);
            self.send_wizard(commands);
        } else {
            self.wizard = Some(Wizard::simulate(self.store.is_sandbox));
        }
    }

    /// A left click: on a row of the backups table, selects it (a click on
    /// the selected row opens its details, as `i` does).
    fn click(&mut self, x: u16, y: u16) {
        // A popup's buttons press as their keys do.
        if let Some(popup) = &self.popup {
            if let Some(action) = popup.click(x, y) {
                self.update(action);
            }
            return;
        }
        if let Some(w) = &self.wizard {
            if let Some(action) = w.click(x, y) {
                self.update(action);
            }
            return;
        }
        if self.filter_input.is_some() {
            return;
        }
        if self.context() != Context::Main {
            return;
        }
        let Some(pos) = render::table_row_at(self, self.area(), x, y) else {
            return;
        };
        if pos == self.table.selected {
            self.update_main(Action::Details);
        } else {
            self.table.selected = pos;
        }
    }

    /// Puts the selected backup's id, path or checksum on the clipboard.
    fn copy(&mut self, what: &Action) {
        let Some(row) = self.table.selected_row() else {
            return;
        };
        let (name, text) = match what {
            Action::CopyId => ("id", Some(row.info.id.to_string())),
            Action::CopyPath => ("path", Some(row.info.data_path.display().to_string())),
            _ => (
                "checksum",
                row.report
                    .as_ref()
                    .and_then(|r| r.actual_checksum.clone())
                    .or_else(|| row.info.checksum.clone()),
            ),
        };
        match text {
            Some(text) => {
                self.log_line(
                    Severity::Info,
                    format!("copied the {name} {text} (the terminal must allow OSC 52)"),
                );
                self.clipboard = Some(text);
            }
            None => self.log_line(
                Severity::Warn,
                format!("{} has no {name} to copy", row.info.id),
            ),
        }
    }

    fn update_filter(&mut self, action: Action) {
        let Some(input) = &mut self.filter_input else {
            return;
        };
        match action {
            // The table follows the text as it is typed.
            Action::Input(key) if input.input(key) => {
                let text = input.lines().first().cloned().unwrap_or_default();
                self.table.set_filter(&text);
            }
            Action::Submit => {
                let text = input.lines().first().cloned().unwrap_or_default();
                self.filter_input = None;
                self.table.set_filter(&text);
                let shown = self.table.visible.len();
                if !text.trim().is_empty() {
                    self.log_line(
                        Severity::Info,
                        format!(
                            "filter {:?}: {} {}",
                            text.trim(),
                            crate::present::count_of(shown, "backup"),
                            if shown == 1 { "matches" } else { "match" }
                        ),
                    );
                }
            }
            Action::Close => {
                self.filter_input = None;
                let before = std::mem::take(&mut self.filter_before);
                self.table.set_filter(&before);
            }
            _ => {}
        }
    }

    fn close_wizard(&mut self) {
        let Some(w) = self.wizard.take() else { return };
        if let Some(store) = &w.store
            && store.copied
        {
            self.log_line(
                Severity::Info,
                format!(
                    "the sandbox copy stays at {} (remove it when done)",
                    store.root.display()
                ),
            );
        }
        self.send(Command::Wizard(WizardCommand::End));
        if w.mode == Mode::Recover || !w.store.as_ref().is_some_and(|s| s.copied) {
            self.send(Command::Refresh);
        }
        // Opening on a broken primary skipped the background pass.
        if self.auto_verify
            && self.verify.is_none()
            && self.table.tally.verified < self.table.rows.len()
        {
            self.start_verify_all(Depth::Full, false);
        }
    }

    fn on_event(&mut self, event: Event) {
        // The popup in front sees every result first (a diff, a plan…).
        let mut fx = Effects::default();
        if let Some(popup) = &mut self.popup {
            let env = Env {
                now: self.now,
                table: &self.table,
            };
            popup.on_event(&event, &env, &mut fx);
        }
        self.apply(fx);
        match event {
            Event::Listed(state) => self.on_listed(*state),
            Event::PrimaryVerified(report) => self.on_primary(*report),
            Event::Probed { lock, disk, watch } => {
                self.store.lock = Some(lock);
                self.store.disk = Some(disk);
                self.store.watch = Some(*watch);
            }
            Event::Verified(Ok(report)) => {
                let (severity, text) = describe_report(&report);
                self.log_line(severity, text);
                self.apply_report(*report);
            }
            Event::Verified(Err(e)) => self.show_error("verify failed", e),
            Event::VerifyProgress {
                job,
                progress,
                report,
            } => self.on_verify_progress(job, progress, *report),
            Event::VerifyFinished { job, result } => {
                if self.verify.as_ref().is_none_or(|j| j.job != job) {
                    return;
                }
                self.verify = None;
                match result {
                    Ok(s) => {
                        let severity = if s.corrupt + s.missing > 0 {
                            Severity::Error
                        } else if s.cancelled {
                            Severity::Warn
                        } else {
                            Severity::Good
                        };
                        self.log_line(
                            severity,
                            format!(
                                "verify all {}: {} valid, {} unverified, {} corrupt, {} missing ({:.1} s)",
                                if s.cancelled { "cancelled" } else { "done" },
                                s.valid,
                                s.unverified,
                                s.corrupt,
                                s.missing,
                                s.elapsed_ms / 1e3
                            ),
                        );
                    }
                    Err(e) => self.show_error("verify all failed", e),
                }
            }
            Event::Restored(result) => match &result {
                Ok(r) => {
                    let text = format!(
                        "restored {} as the primary ({} nodes, {} edges); the previous primary was kept in {}",
                        r.backup_id,
                        r.node_count,
                        r.edge_count,
                        evidence_text(&r.evidence)
                    );
                    self.log_line(Severity::Good, text);
                }
                Err(e) => self.log_line(Severity::Error, format!("restore failed: {e}")),
            },
            Event::Rotated(result) => {
                self.stops.clear();
                match result {
                    Ok(r) => {
                        let (severity, text) = rotation_text(&r);
                        self.log_line(severity, text);
                    }
                    // Asked for: a line, not an error popup.
                    Err(e) if e.kind == super::error::ErrorKind::Cancelled => {
                        self.log_line(Severity::Warn, e.message)
                    }
                    Err(e) => self.show_error("rotation failed", e),
                }
            }
            Event::TrashRestored(result) => match result {
                Ok(r) => {
                    for item in &r.restored {
                        let severity = match item.status {
                            Status::Valid => Severity::Good,
                            Status::Unverified => Severity::Warn,
                            Status::Corrupt | Status::Missing => Severity::Error,
                        };
                        self.log_line(
                            severity,
                            format!(
                                "{} is back in backups/ from the trash ({})",
                                item.backup_id,
                                item.status.name()
                            ),
                        );
                        // Its row should not stay unchecked.
                        self.send(Command::Verify(Target::Backup(item.backup_id.clone())));
                    }
                }
                Err(e) => self.log_line(
                    Severity::Error,
                    format!("bringing a backup back from the trash failed: {e}"),
                ),
            },
            Event::EvidenceRestored(result) => match result {
                Ok(r) => {
                    let kept = r
                        .restore
                        .as_ref()
                        .map(|x| evidence_text(&x.evidence))
                        .unwrap_or_else(|| "(nothing to keep)".to_string());
                    let undo =
                        keymap::key_label(Context::Main, |a| matches!(a, Action::OpenEvidence))
                            .map(|k| format!(" ({k} to undo)"))
                            .unwrap_or_default();
                    self.log_line(
                        Severity::Good,
                        format!(
                            "restored evidence {} as the primary{undo}: {} nodes, {} edges; the previous primary was kept in {kept}",
                            r.evidence.id, r.node_count, r.edge_count,
                        ),
                    );
                    // The backup the evidence became should not stay unchecked.
                    if let Some(id) = &r.backup_id {
                        self.send(Command::Verify(Target::Backup(id.clone())));
                    }
                }
                Err(e) => {
                    self.log_line(Severity::Error, format!("restore of evidence failed: {e}"))
                }
            },
            // The node browser in front handles its own results.
            Event::NodesOpened { .. } | Event::NodeHistory { .. } | Event::NodesRestored { .. } => {
            }
            Event::Indexed(result) => match result {
                Ok(r) if r.built > 0 || !r.failed.is_empty() => {
                    let failed = match r.failed.len() {
                        0 => String::new(),
                        n => format!("; {n} could not be indexed (verify says why)"),
                    };
                    self.log_line(
                        Severity::Info,
                        format!(
                            "node indexes built for {} graph(s): a history now reads indexes{failed}",
                            r.built
                        ),
                    );
                }
                Ok(_) => {}
                Err(e) => self.log_line(Severity::Warn, format!("node indexing stopped: {e}")),
            },
            Event::SnapshotTaken(result) => match result {
                Ok(r) => {
                    self.log_line(
                        Severity::Good,
                        format!(
                            "snapshot {} of the primary ({}, the primary was {})",
                            r.backup_id,
                            crate::present::human_size(r.size),
                            r.primary_status.name()
                        ),
                    );
                    if let Some(w) = &r.named_behind {
                        self.log_line(Severity::Warn, w.clone());
                    }
                    // The new backup's row should not stay unchecked.
                    self.send(Command::Verify(Target::Backup(r.backup_id)));
                }
                Err(e) => self.show_error("snapshot refused", e),
            },
            Event::Wizard(event) => self.on_wizard_event(event),
            Event::OffsiteRead(summary) => self.store.offsite = *summary,
            Event::Pushed { remote, result } => {
                match result {
                    Ok(report) => {
                        let (severity, text) = push_text(&report);
                        self.log_line(severity, text);
                    }
                    Err(e) if remote.is_empty() => {
                        self.log_line(Severity::Error, format!("push failed: {e}"));
                    }
                    Err(e) => {
                        self.log_line(Severity::Error, format!("push to {remote} failed: {e}"));
                    }
                }
                self.send(Command::ReadOffsite);
            }
            Event::AutoPushed(outcomes) => {
                for o in outcomes {
                    if o.ok {
                        self.log_line(
                            Severity::Good,
                            format!("auto-push to {}: {} sent", o.remote, o.sent),
                        );
                    } else {
                        self.log_line(
                            Severity::Warn,
                            format!(
                                "auto-push to {} failed: {}; the save is committed, and the next push retries",
                                o.remote,
                                o.error.as_deref().unwrap_or("unknown error")
                            ),
                        );
                    }
                }
                self.send(Command::ReadOffsite);
            }
            Event::PolicySaved(Ok(policy)) => {
                self.log_line(
                    Severity::Good,
                    format!(
                        "saved as the store's retention policy ({}): it applies after every save",
                        policy.describe()
                    ),
                );
                self.policy = policy;
            }
            Event::PolicySaved(Err(e)) => self.show_error("saving the policy failed", e),
            Event::ChangedOnDisk => self.log_line(
                Severity::Warn,
                "the store changed on disk (another process wrote to it): reading it again".into(),
            ),
            // The popup in front took these.
            Event::RemotesListed(_) | Event::PushProgress { .. } | Event::PushesDone => {}
            Event::RotateProgress(_)
            | Event::Diffed(_)
            | Event::RestorePlanned { .. }
            | Event::RetentionPlanned { .. }
            | Event::TrashListed(_)
            | Event::EvidenceListed(_)
            | Event::TrashRestorePlanned { .. }
            | Event::EvidenceRestorePlanned { .. } => {}
            Event::Failed(e) => self.show_error("error", e),
        }
    }

    fn on_listed(&mut self, state: StoreState) {
        let first = !self.store.loaded;
        self.store.loaded = true;
        self.store.read_at = Some(self.now);
        self.store.exists = state.exists;
        self.store.is_sandbox = state.is_sandbox;
        self.store.has_primary = state.has_primary;
        self.store.has_meta = state.has_meta;
        self.store.lock = Some(state.lock);
        self.store.offsite = state.offsite;
        match state.listing {
            Ok(listing) => {
                self.store.listing_error = None;
                self.store.ignored = listing.ignored;
                let count = listing.backups.len();
                self.table.replace(listing.backups);
                if first {
                    self.log_line(
                        Severity::Info,
                        format!(
                            "listed {} in {:.0} ms",
                            crate::present::count_of(count, "backup"),
                            listing.elapsed_ms
                        ),
                    );
                }
            }
            Err(e) => {
                // Rows from an earlier listing would show a store that can
                // no longer be read as if it could: the screen says why
                // instead.
                self.table.replace(Vec::new());
                self.log_line(
                    Severity::Error,
                    format!("cannot list the backups: {}", e.message),
                );
                self.store.listing_error = Some(e);
            }
        }
        if !state.exists {
            self.starting = false;
        }
    }

    fn on_primary(&mut self, report: FileReport) {
        let changed = self.store.primary.as_ref().map(|p| p.status) != Some(report.status);
        if changed || self.starting {
            let (severity, text) = describe_report(&report);
            self.log_line(severity, text);
        }
        self.store.primary = Some(report);
        // Nothing to recover from or verify on a store that cannot be read.
        if !std::mem::take(&mut self.starting) || self.no_store() || self.unreadable().is_some() {
            return;
        }
        if self.primary_broken() {
            self.open_wizard();
        } else if self.auto_verify && !self.table.rows.is_empty() {
            self.start_verify_all(Depth::Full, false);
        }
    }

    fn apply_report(&mut self, report: FileReport) {
        match report.target {
            Target::Primary => {
                let old = self.store.primary.take();
                self.store.primary = Some(super::table::latest_and_deepest(old, report));
            }
            Target::Backup(_) => {
                self.table.set_report(report);
            }
        }
    }

    fn on_verify_progress(&mut self, job: u64, progress: Progress, report: FileReport) {
        let Some(current) = &mut self.verify else {
            return;
        };
        if current.job != job {
            return;
        }
        current.progress = Some(progress);
        let failed = matches!(report.status, Status::Corrupt | Status::Missing);
        let log_it = failed && current.failures_logged < FAILURES_LOGGED;
        if log_it {
            current.failures_logged += 1;
            let (severity, text) = describe_report(&report);
            self.log_line(severity, text);
        }
        self.apply_report(report);
    }

    fn on_wizard_event(&mut self, event: WizardEvent) {
        let Some(w) = &mut self.wizard else {
            // A step finished after the wizard was closed: let go of its store.
            if matches!(event, WizardEvent::Began(Ok(_))) {
                self.send(Command::Wizard(WizardCommand::End));
            }
            return;
        };
        let mut fx = Effects::default();
        let shared = w.on_worker_event(event, &mut fx);
        if let Some(report) = shared {
            self.apply_report(report);
        }
        self.apply(fx);
    }
}

/// A one-line account of a verification for the log.
pub fn describe_report(r: &FileReport) -> (Severity, String) {
    let severity = match r.status {
        Status::Valid => Severity::Good,
        Status::Unverified => Severity::Warn,
        Status::Corrupt | Status::Missing => Severity::Error,
    };
    let at = r
        .failed_level
        .map(|l| format!(" (at the {} level)", l.name()))
        .unwrap_or_default();
    (severity, format!("{} {}{at}", r.target, r.summary()))
}

/// The activity line after a rotation: how many backups went to the trash
/// (and which), for how long, the key that undoes it, and what was purged.
pub fn rotation_text(r: &crate::store::rotate::RotateReport) -> (Severity, String) {
    use crate::present::{count_of, human_size};
    let ids: Vec<String> = r.trashed.iter().map(|t| t.backup_id.to_string()).collect();
    // What undoes it comes first, so a narrow log line still shows it.
    let mut text = if r.cancelled {
        format!(
            "rotation stopped: moved {} of {} to the trash",
            r.trashed.len(),
            count_of(r.plan.removed, "backup")
        )
    } else {
        format!("moved {} to the trash", count_of(r.trashed.len(), "backup"))
    };
    if !ids.is_empty() {
        text.push_str(&format!(
            " ({} to undo), kept there {}: {}",
            keymap::trash_key(),
            r.trash_grace,
            shorten_list(&ids, 3)
        ));
    }
    if r.cancelled {
        // Stopped: what the plan would have removed is still there too.
        text.push_str(&format!(
            "; the other {} stay in backups/",
            r.plan.removed.saturating_sub(r.trashed.len())
        ));
    } else {
        text.push_str(&format!("; {} kept", count_of(r.plan.kept, "backup")));
    }
    if !r.purged.is_empty() {
        text.push_str(&format!(
            "; purged {} past their grace period ({})",
            count_of(r.purged.len(), "older trash item"),
            human_size(r.purged.iter().map(|p| p.size).sum())
        ));
    }
    if let Some(note) = &r.purge_note {
        text.push_str(&format!("; {note}"));
        return (Severity::Warn, text);
    }
    if r.cancelled {
        return (Severity::Warn, text);
    }
    (Severity::Good, text)
}

/// Where evidence went, for one line of text.
pub fn evidence_text(paths: &[PathBuf]) -> String {
    match paths.first().and_then(|p| p.parent()) {
        Some(dir) => dir.display().to_string(),
        None => "(nothing to keep)".to_string(),
    }
}

pub use crate::present::shorten_list;
