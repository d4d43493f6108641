//! The rotate popup: one text input per retention rule, the policy they
//! spell (or why they do not), the live preview and the confirmation
//! before anything is moved to the trash (where it stays for the store's
//! grace period, and from where the trash view brings it back).

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget, Wrap};
use ratatui_textarea::{CursorMove, TextArea};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Effects, Env, PopupView, wrap_words, wrapped_height};
use crate::present::{local_time, shorten_list};
use crate::store::retention::{
    Action as Fate, Candidate, Health, RetentionPlan, RetentionPolicy, format_duration,
    parse_duration,
};
use crate::store::rotate::{RotateProgress, RotateStep};
use crate::tui::action::Action;
use crate::tui::app::{App, Severity};
use crate::tui::error::UiError;
use crate::tui::keymap::{Binding, Context, KeyCode, bind, ch, code, ctrl};
use crate::tui::render::{button_at, buttons, centered, progress_ratio};
use crate::tui::table::BackupRow;
use crate::tui::theme::status_symbol;
use crate::tui::worker::{Command, Event};

#[rustfmt::skip]
pub static KEYS: &[Binding] = &[
    bind!(Rotate, [code(KeyCode::Tab), code(KeyCode::Down)], FocusNext, "next field", "next field"),
    bind!(Rotate, [code(KeyCode::BackTab), code(KeyCode::Up)], FocusPrev, "previous field"),
    bind!(Rotate, [code(KeyCode::PageUp)], PageUp, "scroll the preview up"),
    bind!(Rotate, [code(KeyCode::PageDown)], PageDown, "scroll the preview down", "scroll"),
    bind!(Rotate, [code(KeyCode::Enter)], Submit, "review what would go to the trash, then confirm", "apply…"),
    bind!(Rotate, [ctrl('s')], SavePolicy, "save this policy as the store's own (applied after every save); moves nothing", "save policy"),
    bind!(Rotate, [code(KeyCode::Esc)], Close, "close without moving anything", "close"),
    // Confirmation of the moves to the trash.
    bind!(Confirm, [ch('y')], Yes, "move them to the trash", "move"),
    bind!(Confirm, [ch('n'), code(KeyCode::Esc)], No, "back to the form", "back"),
    bind!(Confirm, [code(KeyCode::Tab), code(KeyCode::Left), code(KeyCode::Right)], FocusNext, "switch button"),
    bind!(Confirm, [code(KeyCode::Enter)], Submit, "press the focused button (the default is No)", "press"),
    // A rotation under way.
    bind!(Rotating, [code(KeyCode::Esc), ch('c')], Cancel, "stop the rotation between two files (what was moved stays in the trash)", "stop"),
];

/// The form's fields: label and placeholder.
pub const FIELDS: [(&str, &str); 6] = [
    ("keep last", "N newest valid"),
    ("keep within", "e.g. 30d, 2w, 1d12h"),
    ("keep daily", "N days"),
    ("keep weekly", "N ISO weeks"),
    ("keep monthly", "N months"),
    ("min valid", "floor, at least 1"),
];

/// The rotate popup's state.
#[derive(Debug)]
pub struct RotateForm {
    pub fields: Vec<TextArea<'static>>,
    pub focus: usize,
    /// The policy the fields spell, or what is wrong with them.
    pub policy: Result<RetentionPolicy, String>,
    /// The preview for `seq`, once the worker has planned it.
    pub plan: Option<Result<RetentionPlan, UiError>>,
    pub seq: u64,
    pub scroll: usize,
    /// `Some(focus_on_delete)` while confirming the deletions.
    pub confirm: Option<bool>,
    /// The rotation under way: its stop switch and how far it is.
    pub applying: Option<Applying>,
    /// Where the confirmation's buttons were last drawn, for a click.
    pub confirm_bar: std::cell::Cell<Rect>,
}

/// A rotation the user confirmed, running in the worker.
#[derive(Debug)]
pub struct Applying {
    pub cancel: Arc<AtomicBool>,
    pub progress: Option<RotateProgress>,
}

impl RotateForm {
    /// A form holding `policy` (the store's own, usually).
    pub fn new(policy: &RetentionPolicy) -> RotateForm {
        let n = |v: Option<u32>| v.map(|n| n.to_string()).unwrap_or_default();
        let values = [
            n(policy.keep_last),
            policy.keep_within.map(format_duration).unwrap_or_default(),
            n(policy.keep_daily),
            n(policy.keep_weekly),
            n(policy.keep_monthly),
            policy.min_valid.to_string(),
        ];
        let fields = values
            .into_iter()
            .zip(FIELDS)
            .map(|(value, (_, placeholder))| {
                let mut t = TextArea::new(vec![value]);
                t.set_placeholder_text(placeholder);
                t.move_cursor(CursorMove::End);
                t
            })
            .collect();
        let mut form = RotateForm {
            fields,
            focus: 0,
            policy: Ok(policy.clone()),
            plan: None,
            seq: 0,
            scroll: 0,
            confirm: None,
            applying: None,
            confirm_bar: std::cell::Cell::new(Rect::ZERO),
        };
        form.reparse();
        form
    }

    pub fn values(&self) -> Vec<String> {
        self.fields
            .iter()
            .map(|f| f.lines().first().cloned().unwrap_or_default())
            .collect()
    }

    /// Reads the policy from the fields again.
    pub fn reparse(&mut self) {
        self.policy = parse_policy(&self.values());
    }

    pub fn focus_next(&mut self) {
        self.focus = (self.focus + 1) % self.fields.len();
    }

    pub fn focus_prev(&mut self) {
        self.focus = (self.focus + self.fields.len() - 1) % self.fields.len();
    }

    /// The preview, when it is ready and belongs to the current policy.
    pub fn ready_plan(&self) -> Option<&RetentionPlan> {
        match (&self.policy, &self.plan) {
            (Ok(_), Some(Ok(plan))) => Some(plan),
            _ => None,
        }
    }
}

impl RotateForm {
    /// Asks the worker for a preview of the current policy (none while the
    /// fields do not spell one).
    pub fn request_plan(&mut self, env: &Env, fx: &mut Effects) {
        self.seq += 1;
        self.plan = None;
        let Ok(policy) = self.policy.clone() else {
            return;
        };
        fx.send(Command::RetentionPlan {
            seq: self.seq,
            policy,
            candidates: candidates(&env.table.rows),
            now: env.now,
        });
    }

    fn apply(&mut self, fx: &mut Effects) {
        let (Ok(policy), Some(plan)) = (self.policy.clone(), self.ready_plan()) else {
            return;
        };
        let removed = plan.removed;
        let confirmed = plan
            .decisions
            .iter()
            .filter(|d| d.action == Fate::Remove)
            .map(|d| d.id.clone())
            .collect();
        let cancel = Arc::new(AtomicBool::new(false));
        self.applying = Some(Applying {
            cancel: cancel.clone(),
            progress: None,
        });
        self.confirm = None;
        fx.log(
            Severity::Warn,
            format!(
                "rotating: moving {} to the trash…",
                crate::present::count_of(removed, "backup")
            ),
        );
        fx.send(Command::Rotate {
            policy,
            confirmed,
            cancel,
        });
    }
}

impl PopupView for RotateForm {
    fn context(&self) -> Context {
        if self.applying.is_some() {
            Context::Rotating
        } else if self.confirm.is_some() {
            Context::Confirm
        } else {
            Context::Rotate
        }
    }

    fn update(&mut self, action: Action, env: &Env, fx: &mut Effects) {
        if let Some(run) = &self.applying {
            if matches!(action, Action::Cancel) && !run.cancel.load(Ordering::Relaxed) {
                run.cancel.store(true, Ordering::Relaxed);
                fx.log(
                    Severity::Warn,
                    "stopping the rotation after the file it is on…",
                );
            }
            return;
        }
        if let Some(focus_delete) = self.confirm {
            match action {
                Action::FocusNext | Action::FocusPrev => self.confirm = Some(!focus_delete),
                Action::Yes => self.apply(fx),
                Action::Submit if focus_delete => self.apply(fx),
                Action::Submit | Action::No | Action::Close => self.confirm = None,
                _ => {}
            }
            return;
        }
        match action {
            Action::FocusNext => self.focus_next(),
            Action::FocusPrev => self.focus_prev(),
            Action::PageUp => self.scroll = self.scroll.saturating_sub(10),
            Action::PageDown => self.scroll = self.scroll.saturating_add(10),
            Action::Input(key) => {
                let focus = self.focus;
                if self.fields[focus].input(key) {
                    self.reparse();
                    self.request_plan(env, fx);
                }
            }
            Action::Submit => match self.ready_plan() {
                Some(plan) if plan.removed > 0 => self.confirm = Some(false),
                Some(_) => fx.log(
                    Severity::Info,
                    "this policy removes nothing: nothing to apply",
                ),
                None => {}
            },
            Action::SavePolicy => match &self.policy {
                Ok(policy) => {
                    fx.log(Severity::Info, "saving the policy as the store's own…");
                    fx.send(Command::SavePolicy(policy.clone()));
                }
                Err(e) => fx.log(Severity::Warn, format!("not saved: {e}")),
            },
            Action::Close => fx.close = true,
            _ => {}
        }
    }

    fn on_event(&mut self, event: &Event, _env: &Env, fx: &mut Effects) {
        match event {
            Event::RetentionPlanned { seq, result } if *seq == self.seq => {
                self.plan = Some(result.clone());
            }
            Event::RotateProgress(p) => {
                if let Some(run) = &mut self.applying {
                    run.progress = Some(*p);
                }
            }
            Event::Rotated(_) => fx.close = true,
            _ => {}
        }
    }

    fn draw(&self, app: &App, area: Rect, buf: &mut Buffer) {
        render_rotate(app, self, area, buf);
    }

    fn click(&self, x: u16, y: u16) -> Option<Action> {
        let bar = self.confirm_bar.get();
        if self.confirm.is_none() || self.applying.is_some() || y != bar.y {
            return None;
        }
        match button_at(bar, "No", CONFIRM_YES, x)? {
            true => Some(Action::Yes),
            false => Some(Action::No),
        }
    }
}

/// The policy written in the form's six fields; an empty field is a rule
/// left off (min valid: the default 3).
pub fn parse_policy(values: &[String]) -> Result<RetentionPolicy, String> {
    let count = |i: usize| -> Result<Option<u32>, String> {
        let text = values.get(i).map(|s| s.trim()).unwrap_or("");
        if text.is_empty() {
            return Ok(None);
        }
        text.parse::<u32>()
            .map(Some)
            .map_err(|_| format!("{}: {text:?} is not a whole number", FIELDS[i].0))
    };
    let within = values.get(1).map(|s| s.trim()).unwrap_or("");
    let policy = RetentionPolicy {
        keep_last: count(0)?,
        keep_within: if within.is_empty() {
            None
        } else {
            Some(parse_duration(within).map_err(|e| e.to_string())?)
        },
        keep_daily: count(2)?,
        keep_weekly: count(3)?,
        keep_monthly: count(4)?,
        min_valid: count(5)?.unwrap_or(RetentionPolicy::default().min_valid),
    };
    policy.validate().map_err(|e| e.to_string())?;
    Ok(policy)
}

/// The reason given for a backup the UI has not verified yet: the planner
/// keeps it and counts it for nothing, like a corrupt one.
pub const NOT_VERIFIED_YET: &str = "not verified yet: verify first (V)";

/// The planner's view of the rows, from what verification said so far.
pub fn candidates(rows: &[BackupRow]) -> Vec<Candidate> {
    rows.iter()
        .map(|row| Candidate {
            id: row.info.id.clone(),
            health: match &row.report {
                None => Health::Corrupt(NOT_VERIFIED_YET.to_string()),
                Some(r) => Health::from(r),
            },
            sequence: row.info.sequence,
            just_made: false,
        })
        .collect()
}

fn render_rotate(app: &App, form: &RotateForm, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let rect = centered(
        area,
        area.width.saturating_sub(4).max(60),
        area.height.saturating_sub(2).max(12),
    );
    Clear.render(rect, buf);
    let block = Block::bordered()
        .border_style(t.popup_border())
        .title(Span::styled(" rotate: retention policy ", t.bold()));
    let inner = block.inner(rect);
    block.render(rect, buf);
    let narrow = inner.width < 90;
    let (form_area, preview_area) = if narrow {
        let [f, p] = Layout::vertical([Constraint::Length(6), Constraint::Min(3)]).areas(inner);
        (f, p)
    } else {
        let [f, p] = Layout::horizontal([Constraint::Length(36), Constraint::Min(20)]).areas(inner);
        (f, p)
    };
    render_rotate_fields(app, form, form_area, narrow, buf);
    render_rotate_preview(app, form, preview_area, buf);
    if let Some(focus_delete) = form.confirm {
        render_rotate_confirm(app, form, focus_delete, rect, buf);
    }
    if let Some(run) = &form.applying {
        render_rotate_progress(app, run, rect, buf);
    }
}

/// The rotation under way: which step, how far, and how to stop it.
fn render_rotate_progress(app: &App, run: &Applying, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let (ratio, what) = match run.progress {
        None => (0.0, "starting…".to_string()),
        Some(p) => {
            let ratio = progress_ratio(p.done, p.total, p.bytes_done, p.bytes_total);
            let step = match p.step {
                RotateStep::Judging => "checking metas",
                RotateStep::Reading => "reading backups",
                RotateStep::Trashing => "moving to the trash",
            };
            (ratio, format!("{step} {}/{}", p.done, p.total))
        }
    };
    let stop = if run.cancel.load(Ordering::Relaxed) {
        "stopping after this file…"
    } else {
        "Esc stops between two files"
    };
    let lines = vec![
        Line::styled(what, t.bold()),
        Line::from(""),
        Line::styled(stop, t.dim()),
    ];
    let width = 60.min(area.width);
    let rect = centered(area, width, 7.min(area.height));
    Clear.render(rect, buf);
    let block = Block::bordered()
        .border_style(t.popup_border())
        .title(Span::styled(" rotating ", t.bold()));
    let inner = block.inner(rect);
    block.render(rect, buf);
    let [gauge, text] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
    ratatui::widgets::LineGauge::default()
        .ratio(ratio.clamp(0.0, 1.0))
        .filled_symbol("█")
        .unfilled_symbol("░")
        .filled_style(t.accent())
        .unfilled_style(t.dim())
        .render(gauge, buf);
    Paragraph::new(lines).render(text, buf);
}

fn render_rotate_fields(app: &App, form: &RotateForm, area: Rect, narrow: bool, buf: &mut Buffer) {
    let t = app.theme;
    let rows = if narrow { 3 } else { FIELDS.len() };
    let cols = FIELDS.len().div_ceil(rows);
    let col_width = area.width / cols as u16;
    for (i, (label, _)) in FIELDS.iter().enumerate() {
        let (col, row) = (i / rows, i % rows);
        let y = area.y + row as u16;
        if y >= area.bottom() {
            break;
        }
        let x = area.x + col as u16 * col_width;
        let focused = i == form.focus;
        let label_style = if focused { t.focused() } else { t.bold() };
        let label_rect = Rect::new(x, y, 14.min(col_width), 1);
        Paragraph::new(Span::styled(
            format!("{}{label:<12}", if focused { "›" } else { " " }),
            label_style,
        ))
        .render(label_rect, buf);
        let field_rect = Rect::new(x + 14, y, col_width.saturating_sub(16).max(4), 1);
        form.fields[i].render(field_rect.intersection(area), buf);
    }
    let status_y = area.y + rows as u16 + 1;
    if status_y >= area.bottom() {
        return;
    }
    let status_area = Rect::new(area.x, status_y, area.width, area.bottom() - status_y);
    let mut lines = Vec::new();
    match (&form.policy, &form.plan) {
        (Err(e), _) => lines.push(Line::styled(format!("✗ {e}"), t.bad())),
        (Ok(_), None) => lines.push(Line::styled("planning…", t.dim())),
        (Ok(_), Some(Err(e))) => lines.push(Line::styled(format!("✗ {e}"), t.bad())),
        (Ok(_), Some(Ok(plan))) => {
            lines.push(Line::from(vec![
                Span::styled(format!("keep {}", plan.kept), t.good()),
                Span::raw(format!(" ({} valid) · ", plan.kept_valid)),
                Span::styled(
                    format!("to the trash {}", plan.removed),
                    if plan.removed > 0 { t.bad() } else { t.dim() },
                ),
                Span::styled(format!(" for {}", app.trash_grace), t.dim()),
            ]));
            let unknown = app.table.rows.len() - app.table.tally.verified;
            if unknown > 0 {
                lines.push(Line::styled(
                    format!(
                        "{} not verified yet {} kept; verify first (V) for the exact plan",
                        crate::present::count_of(unknown, "backup"),
                        if unknown == 1 { "is" } else { "are" }
                    ),
                    t.warn(),
                ));
            }
            if !narrow {
                lines.push(Line::from(""));
                lines.push(Line::styled(
                    format!(
                        "What goes to the trash stays there {} ({} brings it back); a later save or rotation purges it after that.",
                        app.trash_grace,
                        crate::tui::keymap::trash_key()
                    ),
                    t.dim(),
                ));
                lines.push(Line::from(""));
                lines.push(Line::styled(
                    "Always: the newest valid backup and the newest “min valid” ones are kept; corrupt, unverified-newer and future-dated ones too; nothing is removed without a valid backup.",
                    t.dim(),
                ));
            }
        }
    }
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .render(status_area, buf);
}

fn render_rotate_preview(app: &App, form: &RotateForm, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let block = Block::bordered()
        .border_style(t.border())
        .title(Span::styled(
            " preview: every backup, newest first ",
            t.bold(),
        ));
    let inner = block.inner(area);
    block.render(area, buf);
    let Some(plan) = form.ready_plan() else {
        Paragraph::new(Line::styled("no plan for this policy", t.dim())).render(inner, buf);
        return;
    };
    let height = usize::from(inner.height);
    let scroll = form.scroll.min(plan.decisions.len().saturating_sub(1));
    let width = usize::from(inner.width);
    let mut lines: Vec<Line> = Vec::new();
    for d in plan.decisions.iter().skip(scroll) {
        if lines.len() >= height {
            break;
        }
        let status = app.table.row(&d.id).and_then(|r| r.status());
        let (word, style) = match d.action {
            Fate::Keep => ("keep  ", t.good()),
            Fate::Remove => ("TRASH ", t.bad()),
        };
        let time = local_time(d.id.time());
        let head = format!("{word} {} {time}  ", status_symbol(status));
        let indent = head.chars().count();
        let reasons = d.reasons.join("; ");
        let reason_style = if reasons.contains(NOT_VERIFIED_YET) {
            t.warn()
        } else {
            t.dim()
        };
        // Reasons wrap under themselves, so the columns stay readable.
        for (i, chunk) in wrap_words(&reasons, width.saturating_sub(indent).max(10))
            .into_iter()
            .enumerate()
        {
            let mut spans = if i == 0 {
                vec![
                    Span::styled(word, style),
                    Span::raw(" "),
                    Span::styled(status_symbol(status), t.status(status)),
                    Span::raw(format!(" {time}  ")),
                ]
            } else {
                vec![Span::raw(" ".repeat(indent))]
            };
            spans.push(Span::styled(chunk, reason_style));
            lines.push(Line::from(spans));
        }
    }
    Paragraph::new(lines).render(inner, buf);
}

fn render_rotate_confirm(
    app: &App,
    form: &RotateForm,
    focus_delete: bool,
    area: Rect,
    buf: &mut Buffer,
) {
    let t = app.theme;
    let Some(plan) = form.ready_plan() else {
        return;
    };
    let ids: Vec<String> = plan
        .decisions
        .iter()
        .filter(|d| d.action == Fate::Remove)
        .map(|d| d.id.to_string())
        .collect();
    let lines = vec![
        Line::styled(
            format!(
                "Move {} to the trash (their .json and .meta files)?",
                crate::present::count_of(plan.removed, "backup")
            ),
            t.bad(),
        ),
        Line::from(""),
        Line::from(shorten_list(&ids, 6)),
        Line::from(""),
        Line::from(format!(
            "{} stay, {} of them valid. The store verifies every backup again and plans once more before moving anything.",
            crate::present::count_of(plan.kept, "backup"),
            plan.kept_valid
        )),
        Line::from(format!(
            "The trash keeps them {}: {} brings them back until then; a later save or rotation purges them after.",
            app.trash_grace,
            crate::tui::keymap::trash_key()
        )),
        Line::from(""),
    ];
    let width = 76.min(area.width);
    // The text, then the buttons on a row of their own (clickable).
    let height = (wrapped_height(&lines, width - 2) + 3).min(area.height);
    let rect = centered(area, width, height);
    Clear.render(rect, buf);
    let block = Block::bordered()
        .border_style(t.bad())
        .title(Span::styled(" confirm: move to the trash ", t.bad()));
    let inner = block.inner(rect);
    block.render(rect, buf);
    let [text, bar] = Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(inner);
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .render(text, buf);
    Paragraph::new(buttons(t, "No", CONFIRM_YES, focus_delete)).render(bar, buf);
    form.confirm_bar.set(bar);
}

/// The confirmation's second button.
const CONFIRM_YES: &str = "Move to trash";

#[cfg(test)]
mod tests {
    use super::*;

    fn values(v: [&str; 6]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn fields_spell_a_policy() {
        let p = parse_policy(&values(["5", "30d", "", "4", "", "2"])).expect("valid");
        assert_eq!(p.keep_last, Some(5));
        assert_eq!(p.keep_within, Some(chrono::Duration::days(30)));
        assert_eq!(p.keep_daily, None);
        assert_eq!(p.keep_weekly, Some(4));
        assert_eq!(p.min_valid, 2);
        let default_floor = parse_policy(&values(["5", "", "", "", "", ""])).expect("valid");
        assert_eq!(default_floor.min_valid, 3);
    }

    #[test]
    fn bad_fields_say_what_is_wrong() {
        let e = parse_policy(&values(["five", "", "", "", "", ""])).expect_err("not a number");
        assert!(e.contains("keep last"), "{e}");
        let e = parse_policy(&values(["", "", "", "", "", ""])).expect_err("no rule");
        assert!(e.contains("keeps nothing"), "{e}");
        let e = parse_policy(&values(["", "1.5d", "", "", "", ""])).expect_err("fraction");
        assert!(e.contains("fractions"), "{e}");
        let e = parse_policy(&values(["3", "", "", "", "", "0"])).expect_err("floor 0");
        assert!(e.contains("min_valid"), "{e}");
    }

    #[test]
    fn the_form_round_trips_the_stores_policy() {
        let form = RotateForm::new(&RetentionPolicy::default());
        assert_eq!(form.values(), values(["", "30d", "", "", "", "3"]));
        assert_eq!(form.policy, Ok(RetentionPolicy::default()));
    }
}
