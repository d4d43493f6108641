//! Drawing what sits in front of the main screen: help, details, diff,
//! restore plan, rotate form and errors; plus the details pane, which
//! shows the same lines as the details popup.

use std::path::Path;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget, Wrap};

use crate::present::{age, human_size, local_time, short_checksum};
use crate::store::diff::{DiffReport, GraphDiff};
use crate::store::restore::RestoreReport;
use crate::store::retention::Action as Fate;
use crate::store::verify::{FileReport, Target};

use super::app::{App, Popup, RestorePopup, RestoreState, evidence_text, shorten_list};
use super::keymap;
use super::render::{buttons, centered};
use super::rotate::{FIELDS, NOT_VERIFIED_YET, RotateForm};
use super::theme::{Theme, outcome_symbol, status_symbol, status_word};

/// Width and height of the details popup.
const DETAILS_POPUP: (u16, u16) = (90, 34);

pub fn render_popup(app: &App, area: Rect, buf: &mut Buffer) {
    let Some(popup) = &app.popup else { return };
    match popup {
        Popup::Help { scroll } => render_help(app, area, *scroll, buf),
        Popup::Details { target, scroll } => {
            let title = format!(" details: {target} ");
            let width = DETAILS_POPUP.0.min(area.width).saturating_sub(2);
            let lines = details_lines(app, target, width);
            render_text_popup(app, area, &title, lines, *scroll, DETAILS_POPUP, buf);
        }
        Popup::Diff {
            title,
            result,
            scroll,
        } => {
            let lines = match result {
                None => vec![Line::styled("comparing the two graphs…", app.theme.dim())],
                Some(Err(e)) => vec![
                    Line::styled("the diff failed:", app.theme.bad()),
                    Line::from(e.clone()),
                ],
                Some(Ok(report)) => diff_report_lines(app.theme, report),
            };
            render_text_popup(
                app,
                area,
                &format!(" {title} "),
                lines,
                *scroll,
                (96, 30),
                buf,
            );
        }
        Popup::Restore(p) => render_restore(app, p, area, buf),
        Popup::Rotate(form) => render_rotate(app, form, area, buf),
        Popup::Error { title, message } => {
            let t = app.theme;
            let lines = vec![
                Line::from(message.clone()),
                Line::from(""),
                Line::styled(
                    "Esc or Enter closes this; the activity log keeps it.",
                    t.dim(),
                ),
            ];
            let width = 76.min(area.width);
            let height = (wrapped_height(&lines, width.saturating_sub(2)) + 2).min(area.height);
            let rect = centered(area, width, height);
            Clear.render(rect, buf);
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(
                    Block::bordered()
                        .border_style(t.bad())
                        .title(Span::styled(format!(" {title} "), t.bad())),
                )
                .render(rect, buf);
        }
    }
}

/// Lines a paragraph of `lines` takes at `width` when wrapped (a close
/// estimate: words are not split across lines by this count).
fn wrapped_height(lines: &[Line], width: u16) -> u16 {
    let width = usize::from(width.max(1));
    lines
        .iter()
        .map(|l| l.width().max(1).div_ceil(width) as u16)
        .sum::<u16>()
        + 1
}

fn render_text_popup(
    app: &App,
    area: Rect,
    title: &str,
    lines: Vec<Line<'static>>,
    scroll: u16,
    (width, height): (u16, u16),
    buf: &mut Buffer,
) {
    let t = app.theme;
    let rect = centered(area, width, height);
    Clear.render(rect, buf);
    let inner_width = rect.width.saturating_sub(2);
    let total = wrapped_height(&lines, inner_width);
    let visible = rect.height.saturating_sub(2);
    let scroll = scroll.min(total.saturating_sub(visible));
    let mut block = Block::bordered()
        .border_style(t.popup_border())
        .title(Span::styled(title.to_string(), t.bold()));
    if total > visible {
        block = block.title_bottom(Line::styled(" ↑↓ scroll ", t.dim()).right_aligned());
    }
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .scroll((scroll, 0))
        .block(block)
        .render(rect, buf);
}

fn render_help(app: &App, area: Rect, scroll: u16, buf: &mut Buffer) {
    let t = app.theme;
    let current = app.context();
    // The help popup is itself the current context: describe what is under it.
    let under = if current == keymap::Context::Help {
        if app.wizard.is_some() {
            keymap::Context::Wizard
        } else {
            keymap::Context::Main
        }
    } else {
        current
    };
    let mut lines = vec![
        Line::styled(
            "Statuses: ✓ valid  ? unverified (no meta)  ✗ corrupt  ∅ missing  · unchecked (not verified yet)",
            t.dim(),
        ),
        Line::from(""),
    ];
    for (ctx, bindings) in keymap::help_sections(under) {
        lines.push(Line::styled(ctx.title().to_string(), t.bold()));
        for b in bindings {
            lines.push(Line::from(vec![
                Span::styled(format!("  {:<16}", b.keys_label()), t.key()),
                Span::raw(b.help),
            ]));
        }
        lines.push(Line::from(""));
    }
    render_text_popup(app, area, " help: keys ", lines, scroll, (100, 40), buf);
}

fn field<'a>(t: Theme, name: &str, value: impl Into<String>) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!("{name:<11}"), t.dim()),
        Span::raw(value.into()),
    ])
}

/// What the details pane and popup show for the primary or a backup.
pub fn details_lines(app: &App, target: &Target, width: u16) -> Vec<Line<'static>> {
    let t = app.theme;
    let mut lines = Vec::new();
    let report = match target {
        Target::Primary => {
            lines.push(field(
                t,
                "file",
                app.store_path
                    .join(crate::store::PRIMARY_FILE)
                    .display()
                    .to_string(),
            ));
            lines.push(field(
                t,
                "meta",
                if app.store.has_meta {
                    "graph.json.meta"
                } else {
                    "graph.json.meta is missing"
                },
            ));
            app.store.primary.as_ref()
        }
        Target::Backup(id) => {
            let Some(row) = app.table.row(id) else {
                return vec![Line::styled(format!("{id} is no longer listed"), t.dim())];
            };
            let info = &row.info;
            lines.push(field(
                t,
                "time",
                format!("{} ({})", local_time(info.time), age(info.time, app.now)),
            ));
            lines.push(match info.size {
                Some(size) => field(t, "size", human_size(size)),
                None => Line::styled(format!("{} is missing", info.id.data_file_name()), t.bad()),
            });
            lines.push(field(
                t,
                "meta",
                info.meta_path
                    .as_ref()
                    .and_then(|p| p.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "none".into()),
            ));
            let mut by = info
                .saved_by
                .clone()
                .unwrap_or_else(|| "unknown writer".into());
            if let Some(source) = &info.source {
                by.push_str(&format!(" · {source}"));
            }
            lines.push(field(t, "saved by", by));
            if let Some(ts) = &info.meta_timestamp {
                lines.push(field(t, "meta time", ts.clone()));
            }
            if let Some(c) = &info.checksum {
                lines.push(field(t, "checksum", short_checksum(c)));
            }
            lines.push(field(
                t,
                "counts",
                if info.legacy_counts {
                    "legacy meta: 0/0 recorded (not compared)".to_string()
                } else {
                    match (info.node_count, info.edge_count) {
                        (Some(n), Some(e)) => format!("{n} nodes · {e} edges (meta)"),
                        _ => "not in the meta".to_string(),
                    }
                },
            ));
            for note in &info.notes {
                lines.push(Line::styled(format!("note: {note}"), t.warn()));
            }
            row.report.as_ref()
        }
    };
    lines.push(Line::from(""));
    match report {
        None => lines.push(Line::styled(
            "· not verified yet: v verifies it, every level",
            t.dim(),
        )),
        Some(r) => lines.extend(ladder_lines(t, r, app.now, width)),
    }
    lines
}

/// The verification ladder of one report, with the exact reasons.
/// `width` is where the lines will be drawn: level details wrap under
/// themselves so the level names stay in a column.
pub fn ladder_lines(
    t: Theme,
    r: &FileReport,
    now: chrono::NaiveDateTime,
    width: u16,
) -> Vec<Line<'static>> {
    let status = Some(r.status);
    let at = r.verified_at.naive_local();
    let when = if at.date() == now.date() {
        at.format("%H:%M:%S").to_string()
    } else {
        local_time(at)
    };
    let depth = match r.depth {
        crate::store::verify::Depth::Full => "every level",
        crate::store::verify::Depth::Checksum => "checksum only",
    };
    let mut lines = vec![Line::from(vec![
        Span::styled(
            format!("{} {}", status_symbol(status), status_word(status)),
            t.status(status)
                .add_modifier(ratatui::style::Modifier::BOLD),
        ),
        Span::styled(
            format!(" · {depth} · {when} · {:.0} ms", r.elapsed_ms),
            t.dim(),
        ),
    ])];
    // The reason is usually one level's detail, shown just below.
    if let Some(reason) = r
        .reason
        .as_ref()
        .filter(|reason| !r.levels.iter().any(|l| &l.detail == *reason))
    {
        lines.push(Line::styled(reason.clone(), t.status(status)));
    }
    const INDENT: usize = 15;
    let room = usize::from(width).saturating_sub(INDENT).max(12);
    for l in &r.levels {
        for (i, chunk) in wrap_words(&l.detail, room).into_iter().enumerate() {
            let head = if i == 0 {
                vec![
                    Span::styled(
                        format!(" {} ", outcome_symbol(l.outcome)),
                        t.outcome(l.outcome),
                    ),
                    Span::styled(format!("{:<12}", l.level.name()), t.bold()),
                ]
            } else {
                vec![Span::raw(" ".repeat(INDENT))]
            };
            let mut spans = head;
            spans.push(Span::styled(chunk, t.outcome(l.outcome)));
            lines.push(Line::from(spans));
        }
    }
    for w in &r.warnings {
        lines.push(Line::styled(format!("warning: {w}"), t.warn()));
    }
    if !r.node_types.is_empty() {
        lines.push(Line::from(""));
        lines.push(type_line(t, "node types", &r.node_types));
    }
    if !r.edge_types.is_empty() {
        lines.push(type_line(t, "edge types", &r.edge_types));
    }
    lines
}

fn type_line(t: Theme, name: &str, types: &[(String, usize)]) -> Line<'static> {
    let text = types
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(" · ");
    field(t, name, text)
}

pub fn render_details_pane(app: &App, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let (title, lines) = match app.table.selected_id() {
        Some(id) => (
            format!(" {id} "),
            details_lines(
                app,
                &Target::Backup(id.clone()),
                area.width.saturating_sub(2),
            ),
        ),
        None => (
            " details ".to_string(),
            vec![Line::styled("no backup selected", t.dim())],
        ),
    };
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .block(
            Block::bordered()
                .border_style(t.border())
                .title(Span::styled(title, t.bold())),
        )
        .render(area, buf);
}

/// How many ids of one kind of change are listed before "and N more".
const IDS_LISTED: usize = 40;

pub fn diff_lines(t: Theme, d: &GraphDiff) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let groups: [(&str, &Vec<String>); 6] = [
        ("+ nodes added", &d.nodes_added),
        ("- nodes removed", &d.nodes_removed),
        ("~ nodes changed", &d.nodes_changed),
        ("+ edges added", &d.edges_added),
        ("- edges removed", &d.edges_removed),
        ("~ edges changed", &d.edges_changed),
    ];
    lines.push(Line::from(vec![
        Span::styled("counts          ", t.dim()),
        Span::raw(format!(
            "{} → {} nodes, {} → {} edges",
            d.old_node_count, d.new_node_count, d.old_edge_count, d.new_edge_count
        )),
    ]));
    if d.is_empty() {
        lines.push(Line::styled(
            "no differences: the same nodes and edges",
            t.good(),
        ));
        return lines;
    }
    for (what, ids) in groups {
        let style = if ids.is_empty() {
            t.dim()
        } else {
            ratatui::style::Style::new()
        };
        let mut spans = vec![Span::styled(format!("{what:<16}{:>6}", ids.len()), style)];
        if !ids.is_empty() {
            spans.push(Span::raw(format!("  {}", shorten_list(ids, IDS_LISTED))));
        }
        lines.push(Line::from(spans));
    }
    lines
}

fn file_line(
    t: Theme,
    label: &str,
    target: &Target,
    size: u64,
    report: &FileReport,
) -> Line<'static> {
    let status = Some(report.status);
    Line::from(vec![
        Span::styled(format!("{label:<5}"), t.dim()),
        Span::styled(format!("{target}"), t.bold()),
        Span::raw(format!(" · {} · ", human_size(size))),
        Span::styled(
            format!("{} {}", status_symbol(status), report.summary()),
            t.status(status),
        ),
    ])
}

fn diff_report_lines(t: Theme, r: &DiffReport) -> Vec<Line<'static>> {
    let mut lines = vec![
        file_line(t, "old", &r.old, r.old_size, &r.old_file),
        file_line(t, "new", &r.new, r.new_size, &r.new_file),
        Line::from(""),
    ];
    lines.extend(diff_lines(t, &r.diff));
    lines
}

/// What a restore would do (or did), for the popup and the wizard.
pub fn restore_plan_lines(app: &App, r: &RestoreReport, store_root: &Path) -> Vec<Line<'static>> {
    let t = app.theme;
    let backup = Some(r.backup.status);
    let previous = Some(r.previous_primary.status);
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!("{:<18}", "backup"), t.dim()),
            Span::styled(format!("{} ", r.backup_id), t.bold()),
            Span::styled(
                format!("{} {}", status_symbol(backup), r.backup.summary()),
                t.status(backup),
            ),
        ]),
        Line::from(vec![
            Span::styled(format!("{:<18}", "primary becomes"), t.dim()),
            Span::raw(format!(
                "{} nodes, {} edges, sha256 {}",
                r.node_count,
                r.edge_count,
                short_checksum(&r.checksum)
            )),
        ]),
        Line::from(vec![
            Span::styled(format!("{:<18}", "primary now"), t.dim()),
            Span::styled(
                format!(
                    "{} {}",
                    status_symbol(previous),
                    r.previous_primary.summary()
                ),
                t.status(previous),
            ),
        ]),
        Line::from(""),
    ];
    match &r.diff {
        Some(d) => {
            lines.push(Line::styled(
                "changes from the primary now to the backup:",
                t.bold(),
            ));
            lines.extend(diff_lines(t, d));
        }
        None => lines.push(Line::styled(
            "the primary now cannot be parsed, so there is no diff to show",
            t.warn(),
        )),
    }
    lines.push(Line::from(""));
    if r.dry_run {
        let evidence = store_root.join(crate::store::STATE_DIR).join("evidence");
        lines.push(Line::from(vec![
            Span::styled(
                "the current graph.json and its meta will be kept in ",
                t.dim(),
            ),
            Span::raw(format!("{}/", evidence.display())),
        ]));
        lines.push(Line::styled(
            "backups are not touched; nothing is written until you confirm",
            t.dim(),
        ));
    } else {
        lines.push(Line::from(vec![
            Span::styled("the previous primary was kept in ", t.dim()),
            Span::raw(evidence_text(&r.evidence)),
        ]));
        if let Some(after) = &r.after {
            let s = Some(after.status);
            lines.push(Line::styled(
                format!(
                    "re-verified the new primary: {} {}",
                    status_symbol(s),
                    after.summary()
                ),
                t.status(s),
            ));
        }
    }
    lines
}

fn render_restore(app: &App, p: &RestorePopup, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let rect = centered(area, 92, 26);
    Clear.render(rect, buf);
    let title = match p.state {
        RestoreState::Done(_) => format!(" restored {} ", p.id),
        _ => format!(" restore {} as the primary? ", p.id),
    };
    let block = Block::bordered()
        .border_style(t.popup_border())
        .title(Span::styled(title, t.bold()))
        .title_bottom(Line::styled(" ↑↓ scroll ", t.dim()).right_aligned());
    let inner = block.inner(rect);
    block.render(rect, buf);
    let [body, _, bar] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    let (lines, bar_line) = match &p.state {
        RestoreState::Planning => (
            vec![Line::styled(
                format!("verifying {} and comparing it with the primary…", p.id),
                t.dim(),
            )],
            Line::styled("Esc cancels", t.dim()).centered(),
        ),
        RestoreState::Ready(report) => {
            let mut lines = Vec::new();
            if p.allow_unverified {
                lines.push(Line::styled(
                    "! this backup has no meta: nothing proves its bytes are whole (it parses and is consistent)",
                    t.warn(),
                ));
            }
            lines.extend(restore_plan_lines(app, report, &app.store_path));
            (lines, buttons(t, "No", "Restore", p.focus_restore))
        }
        RestoreState::Refused(reason) => {
            let mut lines = vec![
                Line::styled("Refused: this backup cannot be restored.", t.bad()),
                Line::from(""),
                Line::from(reason.clone()),
                Line::from(""),
                Line::styled("The primary is unchanged.", t.good()),
            ];
            if reason.contains("allow-unverified") && !p.allow_unverified {
                lines.push(Line::from(""));
                lines.push(Line::from(vec![
                    Span::styled("a", t.key()),
                    Span::raw(" plans it again accepting a backup without a meta (check it first)"),
                ]));
            }
            (lines, Line::styled("[ Close ]", t.focused()).centered())
        }
        RestoreState::Running => (
            vec![Line::styled(format!("restoring {}…", p.id), t.warn())],
            Line::from(""),
        ),
        RestoreState::Done(report) => (
            restore_plan_lines(app, report, &app.store_path),
            Line::styled("[ Close ]", t.focused()).centered(),
        ),
        RestoreState::Failed(e) => (
            vec![
                Line::styled("The restore failed.", t.bad()),
                Line::from(""),
                Line::from(e.clone()),
            ],
            Line::styled("[ Close ]", t.focused()).centered(),
        ),
    };
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .scroll((p.scroll, 0))
        .render(body, buf);
    Paragraph::new(bar_line).render(bar, buf);
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
                    format!("remove {}", plan.removed),
                    if plan.removed > 0 { t.bad() } else { t.dim() },
                ),
            ]));
            let unknown = app.table.rows.len() - app.table.tally.verified;
            if unknown > 0 {
                lines.push(Line::styled(
                    format!("{unknown} backups not verified yet are kept; verify first (V) for the exact plan"),
                    t.warn(),
                ));
            }
            if !narrow {
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
            Fate::Remove => ("REMOVE", t.bad()),
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
                "Delete {} backups (their .json and .meta files)?",
                plan.removed
            ),
            t.bad(),
        ),
        Line::from(""),
        Line::from(shorten_list(&ids, 6)),
        Line::from(""),
        Line::from(format!(
            "{} backups stay, {} of them valid. The store verifies every backup again and plans once more before deleting; this cannot be undone.",
            plan.kept, plan.kept_valid
        )),
        Line::from(""),
        buttons(t, "No", "Delete", focus_delete),
    ];
    let width = 76.min(area.width);
    let height = (wrapped_height(&lines, width - 2) + 2).min(area.height);
    let rect = centered(area, width, height);
    Clear.render(rect, buf);
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .block(
            Block::bordered()
                .border_style(t.bad())
                .title(Span::styled(" confirm deletion ", t.bad())),
        )
        .render(rect, buf);
}

/// Splits `text` into lines of at most `width` characters, at spaces when
/// it can.
pub fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut current = String::new();
    for word in text.split(' ') {
        let needed = if current.is_empty() { 0 } else { 1 } + word.chars().count();
        if !current.is_empty() && current.chars().count() + needed > width {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
        while current.chars().count() > width {
            let head: String = current.chars().take(width).collect();
            let tail: String = current.chars().skip(width).collect();
            lines.push(head);
            current = tail;
        }
    }
    if !current.is_empty() || lines.is_empty() {
        lines.push(current);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::wrap_words;

    #[test]
    fn words_wrap_at_spaces_and_long_ones_are_cut() {
        assert_eq!(
            wrap_words("keep the newest valid backup", 10),
            vec!["keep the", "newest", "valid", "backup"]
        );
        assert_eq!(wrap_words("abcdefghijkl", 5), vec!["abcde", "fghij", "kl"]);
        assert_eq!(wrap_words("", 5), vec![""]);
    }
}
