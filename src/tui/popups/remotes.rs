//! The off-site panel: each remote of the store with its endpoint, bucket
//! and prefix, its last push and the off-site lag (time since the last
//! successful push, and the local backups not known to be there), read
//! from this machine's state without asking the server. `P` pushes the
//! selected remote through the remote library on a thread of the worker's,
//! so the UI keeps drawing; progress and the outcome show here and in the
//! activity log.

use chrono::NaiveDateTime;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::{Effects, Env, PopupView, field, render_text_popup, scroll};
use crate::present::{age, count_of, human_size, local_time};
use crate::remote::push::{PushProgress, PushReport};
use crate::tui::action::Action;
use crate::tui::app::App;
use crate::tui::error::UiError;
use crate::tui::keymap::{Binding, Context, KeyCode, bind, ch, code, ctrl};
use crate::tui::theme::Theme;
use crate::tui::worker::{Command, Event, RemoteView};

#[rustfmt::skip]
pub static KEYS: &[Binding] = &[
    bind!(Remotes, [ch('P')], Push, "push the selected remote now: every local backup it lacks", "push"),
    bind!(Remotes, [code(KeyCode::Esc), ch('q'), ch('o')], Close, "close the off-site panel", "close"),
    bind!(Remotes, [code(KeyCode::Up), ch('k')], Up, "select the previous remote"),
    bind!(Remotes, [code(KeyCode::Down), ch('j')], Down, "select the next remote", "select"),
    bind!(Remotes, [code(KeyCode::PageUp)], PageUp, "scroll up"),
    bind!(Remotes, [code(KeyCode::PageDown)], PageDown, "scroll down"),
    bind!(Remotes, [code(KeyCode::F(5)), ctrl('r')], Refresh, "read the remotes' state again"),
];

/// Where a push asked from this panel stands.
#[derive(Debug, Clone)]
pub enum PushState {
    Running {
        remote: String,
        progress: Option<PushProgress>,
    },
    Done {
        remote: String,
        result: Result<Box<PushReport>, UiError>,
    },
}

/// The off-site panel's state.
#[derive(Debug, Clone)]
pub struct RemotesPopup {
    pub remotes: Option<Result<Vec<RemoteView>, UiError>>,
    pub selected: usize,
    /// The pushes of this panel, latest last (one line each once done).
    pub pushes: Vec<PushState>,
    pub scroll: u16,
    /// The first line of the selected remote, as last drawn: the view
    /// follows the selection.
    pub selected_line: std::cell::Cell<usize>,
}

impl RemotesPopup {
    /// The panel, reading the remotes; with `push_all`, every remote is
    /// pushed at once (the main screen's push key).
    pub fn open(push_all: bool, fx: &mut Effects) -> RemotesPopup {
        fx.send(Command::ListRemotes);
        if push_all {
            fx.send(Command::Push(None));
        }
        RemotesPopup {
            remotes: None,
            selected: 0,
            pushes: if push_all {
                vec![PushState::Running {
                    remote: String::new(),
                    progress: None,
                }]
            } else {
                Vec::new()
            },
            scroll: 0,
            selected_line: std::cell::Cell::new(0),
        }
    }

    fn views(&self) -> &[RemoteView] {
        match &self.remotes {
            Some(Ok(v)) => v,
            _ => &[],
        }
    }

    /// A push of this panel has not ended yet.
    pub fn running(&self) -> bool {
        self.pushes
            .iter()
            .any(|p| matches!(p, PushState::Running { .. }))
    }
}

impl PopupView for RemotesPopup {
    fn context(&self) -> Context {
        Context::Remotes
    }

    fn update(&mut self, action: Action, _env: &Env, fx: &mut Effects) {
        let last = self.views().len().saturating_sub(1);
        match action {
            Action::Up if self.views().len() > 1 => {
                self.selected = self.selected.saturating_sub(1);
                self.scroll = 0;
            }
            Action::Down if self.views().len() > 1 => {
                self.selected = (self.selected + 1).min(last);
                self.scroll = 0;
            }
            Action::Refresh => fx.send(Command::ListRemotes),
            Action::Push => {
                if self.running() {
                    fx.log(
                        crate::tui::app::Severity::Warn,
                        "a push is already running; wait for it to end",
                    );
                } else if let Some(view) = self.views().get(self.selected) {
                    let name = view.name.clone();
                    fx.send(Command::Push(Some(name.clone())));
                    self.pushes.push(PushState::Running {
                        remote: name,
                        progress: None,
                    });
                }
            }
            Action::Close | Action::No => fx.close = true,
            ref other => {
                scroll(&mut self.scroll, other);
            }
        }
    }

    fn on_event(&mut self, event: &Event, _env: &Env, fx: &mut Effects) {
        match event {
            Event::RemotesListed(result) => {
                self.remotes = Some(result.clone());
                self.selected = self.selected.min(self.views().len().saturating_sub(1));
            }
            Event::PushProgress { remote, progress } => {
                if let Some(PushState::Running {
                    remote: r,
                    progress: p,
                }) = self.pushes.last_mut()
                {
                    *r = remote.clone();
                    *p = Some(progress.clone());
                }
            }
            Event::Pushed { remote, result } => {
                // A push of every remote ends once per remote: each gets
                // its own line, the next one runs after it.
                let done = PushState::Done {
                    remote: remote.clone(),
                    result: result.clone(),
                };
                match self.pushes.last_mut() {
                    Some(last @ PushState::Running { .. }) => *last = done,
                    _ => self.pushes.push(done),
                }
                self.pushes.push(PushState::Running {
                    remote: String::new(),
                    progress: None,
                });
            }
            Event::PushesDone => {
                if matches!(
                    self.pushes.last(),
                    Some(PushState::Running { progress: None, .. })
                ) {
                    self.pushes.pop();
                }
                fx.send(Command::ListRemotes);
            }
            _ => {}
        }
    }

    fn draw(&self, app: &App, area: Rect, buf: &mut Buffer) {
        let t = app.theme;
        let width = area.width.saturating_sub(4).min(100);
        let inner_width = width.saturating_sub(2);
        let lines = panel_lines(self, t, app.now, usize::from(inner_width));
        let title = match self.views().len() {
            0 => " off-site ".to_string(),
            n => format!(" off-site: {} ", count_of(n, "remote")),
        };
        // The paragraph's height as it wraps (with one spare line, which
        // `wrapped_height` counts), and the borders.
        let height = super::wrapped_height(&lines, inner_width)
            .saturating_add(2)
            .min(area.height.saturating_sub(2));
        // The selected remote's block starts in view (after ↑↓; PgUp and
        // PgDn scroll from there).
        let start = self.selected_line.get().min(lines.len());
        let above = super::wrapped_height(&lines[..start], inner_width).saturating_sub(1);
        let visible = height.saturating_sub(2);
        let total = super::wrapped_height(&lines, inner_width);
        let follow = above.min(total.saturating_sub(visible));
        let scroll = follow.saturating_add(self.scroll);
        render_text_popup(t, area, &title, lines, scroll, (width, height), buf);
    }
}

/// The panel's text: each remote, then the pushes asked from it.
pub fn panel_lines(
    p: &RemotesPopup,
    t: Theme,
    now: NaiveDateTime,
    width: usize,
) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    match &p.remotes {
        None => lines.push(Line::styled("reading the remotes' state…", t.dim())),
        Some(Err(e)) => {
            lines.push(Line::styled("cannot read the remotes", t.bad()));
            lines.push(Line::from(e.message.clone()));
        }
        Some(Ok(v)) if v.is_empty() => {
            lines.push(Line::from(
                "This store has no remote, so every copy is on this disk.",
            ));
            lines.push(Line::styled(
                "Add one: graphvault remote add NAME s3://BUCKET/PREFIX [--endpoint URL] [--auto-push]",
                t.dim(),
            ));
        }
        Some(Ok(v)) => {
            for (i, r) in v.iter().enumerate() {
                if i > 0 {
                    lines.push(Line::from(""));
                }
                if i == p.selected {
                    p.selected_line.set(lines.len());
                }
                remote_lines(&mut lines, r, i == p.selected, t, now, width);
            }
        }
    }
    if !p.pushes.is_empty() {
        lines.push(Line::from(""));
    }
    for push in &p.pushes {
        lines.push(push_line(push, t));
    }
    lines
}

fn remote_lines(
    lines: &mut Vec<Line<'static>>,
    r: &RemoteView,
    selected: bool,
    t: Theme,
    now: NaiveDateTime,
    width: usize,
) {
    let mut flags = Vec::new();
    if r.auto_push {
        flags.push("auto-push");
    }
    if r.encrypted {
        flags.push("encrypted (age)");
    }
    let (mark, style) = if selected {
        ("▸ ", t.selected())
    } else {
        ("  ", t.bold())
    };
    let mut head = vec![Span::styled(format!("{mark}{}", r.name), style)];
    if !flags.is_empty() {
        head.push(Span::styled(format!("  {}", flags.join(" · ")), t.dim()));
    }
    lines.push(Line::from(head));
    let value_width = width.saturating_sub(14).max(10);
    let endpoint = match (&r.endpoint, &r.region) {
        (Some(e), Some(reg)) => format!("{e} ({reg})"),
        (Some(e), None) => e.clone(),
        (None, Some(reg)) => format!("AWS S3 ({reg})"),
        (None, None) => "AWS S3 (region from the environment)".to_string(),
    };
    lines.push(indent(field(
        t,
        "endpoint",
        crate::tui::render::ellipsize(&endpoint, value_width),
    )));
    let bucket = if r.prefix.is_empty() {
        format!("{} (whole bucket)", r.bucket)
    } else {
        format!("{}, prefix {}", r.bucket, r.prefix)
    };
    lines.push(indent(field(
        t,
        "bucket",
        crate::tui::render::ellipsize(&bucket, value_width),
    )));
    let (last, last_style) = match (&r.last_push, r.last_push_at) {
        (None, _) => ("never".to_string(), t.warn()),
        (Some(l), at) => {
            let when = at
                .map(|at| format!("{} ({})", local_time(at), age(at, now)))
                .unwrap_or_else(|| l.at.clone());
            if l.ok {
                (format!("{when}: ok, {} sent", l.sent), t.good())
            } else {
                let why = l
                    .error
                    .clone()
                    .unwrap_or_else(|| format!("{} failed", count_of(l.failed, "backup")));
                (format!("{when}: failed: {why}"), t.bad())
            }
        }
    };
    // Two lines at most: the whole error is in the push's own line and
    // the activity log.
    let last =
        crate::tui::render::ellipsize(&last, value_width.saturating_mul(2).saturating_sub(4));
    wrapped_field(lines, t, "last push", &last, last_style, value_width);
    let since = match r.last_success {
        Some(at) if (now - at).num_seconds() < 5 => {
            "the last successful push ended just now".to_string()
        }
        Some(at) => format!("{} since the last successful push", age_span(at, now)),
        None => "no push has succeeded yet".to_string(),
    };
    let pending = match r.pending {
        0 => "every local backup is there".to_string(),
        n => format!("{} not there yet", count_of(n, "local backup")),
    };
    let lag_style = if r.pending == 0 && r.last_success.is_some() {
        t.good()
    } else {
        t.warn()
    };
    wrapped_field(
        lines,
        t,
        "lag",
        &format!("{since}; {pending}"),
        lag_style,
        value_width,
    );
    if r.upload_waiting {
        lines.push(indent(field(
            t,
            "",
            "an interrupted upload resumes with the next push",
        )));
    }
}

/// `name  value`, the value wrapped under itself at `width`.
fn wrapped_field(
    lines: &mut Vec<Line<'static>>,
    t: Theme,
    name: &str,
    value: &str,
    style: ratatui::style::Style,
    width: usize,
) {
    for (i, part) in crate::tui::popups::wrap_words(value, width)
        .into_iter()
        .enumerate()
    {
        let name = if i == 0 { name } else { "" };
        lines.push(indent(Line::from(vec![
            Span::styled(format!("{name:<11}"), t.dim()),
            Span::styled(part, style),
        ])));
    }
}

/// `5 min`, `3 h`: an age without "ago".
fn age_span(at: NaiveDateTime, now: NaiveDateTime) -> String {
    let text = age(at, now);
    text.strip_suffix(" ago").unwrap_or(&text).to_string()
}

fn indent(line: Line<'static>) -> Line<'static> {
    let mut spans = vec![Span::raw("  ")];
    spans.extend(line.spans);
    Line::from(spans)
}

fn push_line(push: &PushState, t: Theme) -> Line<'static> {
    match push {
        PushState::Running { remote, progress } => {
            let who = if remote.is_empty() {
                "pushing…".to_string()
            } else {
                format!("pushing to {remote}")
            };
            let how = match progress {
                Some(p) if p.backups_total == 0 => ": nothing to send so far".to_string(),
                Some(p) => format!(
                    ": backup {} of {}, {} of {}{}",
                    (p.backups_done + 1).min(p.backups_total),
                    p.backups_total,
                    human_size(p.bytes_done),
                    human_size(p.bytes_total),
                    if p.parts_done > 0 {
                        format!(", part {}", p.parts_done)
                    } else {
                        String::new()
                    }
                ),
                None => String::new(),
            };
            Line::styled(format!("{who}{how}"), t.warn())
        }
        PushState::Done { remote, result } => match result {
            Ok(r) => {
                let (severity, text) = push_text(r);
                Line::styled(
                    text,
                    if severity == crate::tui::app::Severity::Good {
                        t.good()
                    } else {
                        t.bad()
                    },
                )
            }
            Err(e) if remote.is_empty() => Line::styled(format!("push failed: {e}"), t.bad()),
            Err(e) => Line::styled(format!("push to {remote} failed: {e}"), t.bad()),
        },
    }
}

/// One line for a finished push, for this panel and the activity log.
pub fn push_text(r: &PushReport) -> (crate::tui::app::Severity, String) {
    let mut text = format!(
        "push to {}: {} sent ({}), {} already there",
        r.remote,
        r.sent.len(),
        human_size(r.bytes_sent),
        r.already
    );
    if !r.skipped.is_empty() {
        text.push_str(&format!(", {} skipped", r.skipped.len()));
    }
    if r.failed.is_empty() {
        (crate::tui::app::Severity::Good, text)
    } else {
        text.push_str(&format!(
            ", {} failed (first: {}: {})",
            r.failed.len(),
            r.failed[0].id,
            r.failed[0].reason
        ));
        (crate::tui::app::Severity::Error, text)
    }
}
