//! Drawing the corruption and recovery wizard.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, LineGauge, Paragraph, Widget, Wrap};

use crate::present::{age, human_size, local_time};
use crate::store::corrupt::{CorruptionKind, CorruptionReport};
use crate::store::verify::{FileReport, Level, Status};

use super::app::{App, evidence_text};
use super::popups::{diff_lines, ladder_lines, restore_plan_lines};
use super::render::{buttons, ellipsize, eta_text};
use super::theme::{Theme, status_symbol, status_word};
use super::wizard::{Mode, Step, Wizard};
use super::worker::LostBasis;

pub fn render_wizard(app: &App, w: &Wizard, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    Clear.render(area, buf);
    let title = match w.mode {
        Mode::Simulate => " simulate corruption and recover ",
        Mode::Recover => " recover the store ",
    };
    let block = Block::bordered()
        .border_style(t.popup_border())
        .title(Span::styled(title, t.bold()));
    let inner = block.inner(area);
    block.render(area, buf);
    let busy_h = u16::from(w.busy.is_some() || w.error.is_some()) * 2;
    let place_h = if inner.height < 20 { 1 } else { 2 };
    let [trail, place, body, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(place_h),
        Constraint::Min(1),
        Constraint::Length(busy_h),
    ])
    .areas(inner);
    render_trail(t, w, trail, buf);
    render_place(app, w, place, buf);
    let lines = match w.step {
        Step::Choose => return render_choose(t, w, body, status, buf),
        Step::ConfirmDamage => confirm_damage_lines(app, w),
        Step::Detect => detect_lines(app, w, body.width),
        Step::Candidates => return render_candidates(app, w, body, status, buf),
        Step::Plan => plan_lines(app, w),
        Step::Verified => verified_lines(app, w, body.width),
        Step::Summary => summary_lines(app, w),
    };
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .scroll((w.scroll, 0))
        .render(body, buf);
    render_status(t, w, status, buf);
}

fn render_trail(t: Theme, w: &Wizard, area: Rect, buf: &mut Buffer) {
    let trail = Step::trail(w.mode);
    let mut spans = Vec::new();
    for (i, step) in trail.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" › ", t.dim()));
        }
        let style = if *step == w.step {
            t.focused()
        } else {
            t.dim()
        };
        spans.push(Span::styled(format!(" {} ", step.title()), style));
    }
    let line = Line::from(spans);
    // Too narrow for the whole trail: say where we are instead.
    let line = if line.width() > usize::from(area.width) {
        let at = trail.iter().position(|s| *s == w.step).unwrap_or(0);
        Line::from(vec![
            Span::styled(format!("step {}/{} ", at + 1, trail.len()), t.dim()),
            Span::styled(format!(" {} ", w.step.title()), t.focused()),
        ])
    } else {
        line
    };
    Paragraph::new(line).render(area, buf);
}

fn render_place(app: &App, w: &Wizard, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    if area.height == 1 {
        // A short screen: one line, the path cut from the left.
        let (what, path) = match (&w.store, w.mode) {
            (Some(s), _) if s.copied => ("sandbox copy: ", s.root.display().to_string()),
            (_, Mode::Simulate) if w.source_is_sandbox => {
                ("sandbox: ", app.store_path.display().to_string())
            }
            (_, Mode::Simulate) => ("a sandbox copy of: ", app.store_path.display().to_string()),
            (_, Mode::Recover) => ("recovering: ", app.store_path.display().to_string()),
        };
        let room = usize::from(area.width).saturating_sub(what.chars().count());
        Paragraph::new(Line::from(vec![
            Span::styled(what, t.warn()),
            Span::raw(super::render::ellipsize_left(&path, room)),
        ]))
        .render(area, buf);
        return;
    }
    let line = match (&w.store, w.mode) {
        (Some(s), _) if s.copied => Line::from(vec![
            Span::styled("working on a sandbox copy: ", t.warn()),
            Span::raw(s.root.display().to_string()),
            Span::styled(" (your store is not touched)", t.good()),
        ]),
        (_, Mode::Simulate) if w.source_is_sandbox => Line::from(vec![
            Span::styled("working on the sandbox store ", t.warn()),
            Span::raw(app.store_path.display().to_string()),
        ]),
        (_, Mode::Simulate) => Line::from(vec![
            Span::styled("a sandbox copy of ", t.warn()),
            Span::raw(app.store_path.display().to_string()),
            Span::styled(
                " will be made in the temp directory; your files are never damaged",
                t.good(),
            ),
        ]),
        (_, Mode::Recover) => Line::from(vec![
            Span::styled("recovering ", t.warn()),
            Span::raw(app.store_path.display().to_string()),
            Span::styled(
                " itself: the restore writes here (the damaged file is kept)",
                t.dim(),
            ),
        ]),
    };
    Paragraph::new(line)
        .wrap(Wrap { trim: true })
        .render(area, buf);
}

fn render_status(t: Theme, w: &Wizard, area: Rect, buf: &mut Buffer) {
    if area.height == 0 {
        return;
    }
    let [first, second] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
    if let Some(e) = &w.error {
        Paragraph::new(Line::styled(format!("✗ {e}"), t.bad()))
            .wrap(Wrap { trim: false })
            .render(area, buf);
        return;
    }
    let Some(busy) = &w.busy else { return };
    Paragraph::new(Line::styled(format!("⟳ {busy}"), t.warn())).render(first, buf);
    if let Some(p) = &w.progress
        && w.step == Step::Candidates
    {
        let ratio = if p.total > 0 {
            p.done as f64 / p.total as f64
        } else {
            0.0
        };
        LineGauge::default()
            .ratio(ratio.clamp(0.0, 1.0))
            .label(format!(
                "{}/{} · {} · {} · Esc cancels ",
                p.done,
                p.total,
                human_size(p.bytes_done),
                eta_text(p.elapsed.as_secs_f64(), ratio)
            ))
            .filled_symbol("█")
            .unfilled_symbol("░")
            .filled_style(t.accent())
            .unfilled_style(t.dim())
            .render(second, buf);
    }
}

fn render_choose(t: Theme, w: &Wizard, body: Rect, status: Rect, buf: &mut Buffer) {
    let roomy = usize::from(body.height) >= CorruptionKind::ALL.len() + 4;
    let mut lines = Vec::new();
    if roomy {
        lines.push(Line::from(
            "Choose the damage to do to graph.json, then watch graphvault detect it and recover.",
        ));
        lines.push(Line::from(""));
    }
    let width = usize::from(body.width);
    // Keep the choice in view on a short screen.
    let rows = usize::from(body.height).max(1);
    let first = if roomy {
        0
    } else {
        w.kind_index.saturating_sub(rows - 1)
    };
    for (i, kind) in CorruptionKind::ALL.iter().enumerate().skip(first) {
        let selected = i == w.kind_index;
        let caught = match kind.expected_level() {
            Some(level) => format!("caught at {}", level.name()),
            None if *kind == CorruptionKind::DeleteMeta => "not corruption: unverified".into(),
            None => "NOT caught by a checksum".into(),
        };
        let head = format!("{} {:<15}", if selected { "▶" } else { " " }, kind.name());
        let room = width.saturating_sub(head.chars().count() + caught.chars().count() + 4);
        let style = if selected {
            t.focused()
        } else {
            ratatui::style::Style::new()
        };
        lines.push(Line::from(vec![
            Span::styled(head, style),
            Span::raw(" "),
            Span::raw(format!("{:<room$}", ellipsize(kind.description(), room))),
            Span::raw("  "),
            Span::styled(
                caught,
                if kind.expected_level().is_some() {
                    t.dim()
                } else {
                    t.warn()
                },
            ),
        ]));
    }
    if roomy {
        lines.push(Line::from(""));
        lines.push(Line::styled(
            "↑↓ choose · Enter continues (you confirm before anything is damaged) · Esc closes",
            t.dim(),
        ));
    }
    Paragraph::new(lines).render(body, buf);
    render_status(t, w, status, buf);
}

fn confirm_damage_lines(app: &App, w: &Wizard) -> Vec<Line<'static>> {
    let t = app.theme;
    let Some(kind) = w.kind else {
        return Vec::new();
    };
    let target = if w.source_is_sandbox {
        format!("the sandbox store {}", app.store_path.display())
    } else {
        "a new sandbox copy of this store (graph.json, its meta and backups/, copied to the temp directory)".to_string()
    };
    vec![
        Line::from(vec![
            Span::styled("Damage: ", t.bold()),
            Span::raw(kind.description().to_string()),
        ]),
        Line::from(vec![Span::styled("Where:  ", t.bold()), Span::raw(target)]),
        Line::from(vec![
            Span::styled("Then:   ", t.bold()),
            Span::raw(
                "verify the primary, list the backups, recommend one, restore it, verify again.",
            ),
        ]),
        Line::from(""),
        if w.source_is_sandbox {
            Line::styled(
                "Only this sandbox is changed; it exists for this.",
                t.good(),
            )
        } else {
            Line::styled(
                "Your own files are never damaged: only the copy is.",
                t.good(),
            )
        },
        Line::from(""),
        buttons(t, "No", "Damage it", w.focus_yes),
    ]
}

/// How bad a failed verification is, in words for whoever is on call.
fn seriousness(report: &FileReport) -> &'static str {
    match (report.status, report.failed_level) {
        (Status::Valid, _) => {
            "verification passes: the bytes match the checksum and the graph is consistent"
        }
        (Status::Unverified, _) => {
            "not corruption: there is no checksum to compare, but the graph parses and is consistent, so it is kept"
        }
        (Status::Missing, _) => {
            "the primary is gone: there is nothing to load; a backup must be restored"
        }
        (Status::Corrupt, Some(Level::File)) => {
            "the file cannot be read: a backup must be restored"
        }
        (Status::Corrupt, Some(Level::Checksum)) => {
            "the bytes changed after they were written (a disk or a writer damaged them): do not trust or load this file"
        }
        (Status::Corrupt, Some(Level::Parse)) => {
            "the file is not a valid graph (its checksum was recomputed over broken JSON): it cannot be loaded"
        }
        (Status::Corrupt, Some(Level::Consistency)) => {
            "the graph parses but contradicts itself (dangling edges, duplicate ids or wrong counts): do not use it"
        }
        (Status::Corrupt, _) => "the file cannot be trusted",
    }
}

fn corruption_lines(t: Theme, c: &CorruptionReport) -> Vec<Line<'static>> {
    vec![
        Line::from(vec![
            Span::styled("damage done: ", t.warn()),
            Span::raw(format!("{} — {}", c.kind.name(), c.action)),
        ]),
        Line::from(""),
    ]
}

fn detect_lines(app: &App, w: &Wizard, width: u16) -> Vec<Line<'static>> {
    let t = app.theme;
    let mut lines = Vec::new();
    if let Some(c) = &w.corruption {
        lines.extend(corruption_lines(t, c));
    }
    let Some(d) = &w.detection else {
        lines.push(Line::styled("verifying the primary…", t.dim()));
        return lines;
    };
    let r = &d.report;
    let status = Some(r.status);
    let level = r
        .failed_level
        .map(|l| format!(" at the {} level", l.name()))
        .unwrap_or_default();
    lines.push(Line::from(vec![
        Span::styled("detected: ", t.bold()),
        Span::styled(
            format!("{} {}{level}", status_symbol(status), status_word(status)),
            t.status(status),
        ),
    ]));
    lines.push(Line::from(vec![
        Span::styled("how serious: ", t.bold()),
        Span::raw(seriousness(r)),
    ]));
    lines.push(Line::from(""));
    lines.extend(ladder_lines(t, r, app.now, width));
    if let Some(reference) = &d.reference {
        lines.push(Line::from(""));
        lines.push(Line::styled(
            format!("compared with the newest backup {}:", reference.old),
            t.bold(),
        ));
        lines.extend(diff_lines(t, &reference.diff));
    }
    lines.push(Line::from(""));
    lines.push(Line::styled(
        if w.primary_usable() {
            "Enter: summary"
        } else {
            "Enter: verify every backup to find one to restore · Esc closes"
        },
        t.dim(),
    ));
    lines
}

fn render_candidates(app: &App, w: &Wizard, body: Rect, status: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let recommended = w.recommended();
    let mut lines = vec![
        Line::from(
            "Every backup, newest first, verified at every level. The newest valid one is recommended.",
        ),
        Line::from(""),
    ];
    let height = usize::from(body.height).saturating_sub(5);
    let first = w.selected.saturating_sub(height.saturating_sub(1));
    let width = usize::from(body.width);
    for (i, c) in w.candidates.iter().enumerate().skip(first).take(height) {
        let status_ = Some(c.status);
        let (time, ago) = match &c.target {
            crate::store::verify::Target::Backup(id) => {
                (local_time(id.time()), age(id.time(), app.now))
            }
            crate::store::verify::Target::Primary => ("primary".to_string(), String::new()),
        };
        let star = if Some(i) == recommended {
            "★ recommended"
        } else {
            ""
        };
        let reason = c.reason.clone().unwrap_or_default();
        let head = format!(
            "{} {time} {ago:>10}  ",
            if i == w.selected { "▶" } else { " " }
        );
        let room = width.saturating_sub(head.chars().count() + 15 + 14);
        let row_style = if i == w.selected {
            t.selected()
        } else {
            ratatui::style::Style::new()
        };
        lines.push(
            Line::from(vec![
                Span::raw(head),
                Span::styled(
                    format!("{} {:<12}", status_symbol(status_), status_word(status_)),
                    t.status(status_),
                ),
                Span::styled(format!("{star:<14}"), t.good()),
                Span::raw(" "),
                Span::styled(ellipsize(&reason, room), t.dim()),
            ])
            .style(row_style),
        );
    }
    if w.candidates.is_empty() && w.busy.is_none() {
        lines.push(Line::styled("this store has no backups", t.bad()));
    }
    lines.push(Line::from(""));
    match (&w.candidates_done, recommended) {
        (Some(_), Some(_)) => lines.push(Line::styled(
            "↑↓ choose · Enter plans the restore of the selected backup (you confirm before anything is written)",
            t.dim(),
        )),
        (Some(_), None) => lines.push(Line::styled(
            "No backup verifies. Enter: what to do now",
            t.bad(),
        )),
        (None, _) => {}
    }
    Paragraph::new(lines).render(body, buf);
    render_status(t, w, status, buf);
}

fn plan_lines(app: &App, w: &Wizard) -> Vec<Line<'static>> {
    let t = app.theme;
    let Some(plan) = &w.plan else {
        return vec![Line::styled("planning the restore…", t.dim())];
    };
    let mut lines = vec![
        Line::styled(
            format!(
                "Restoring {} gives this primary (a dry run: nothing written yet):",
                plan.backup_id
            ),
            t.bold(),
        ),
        Line::from(""),
    ];
    let root = w
        .store
        .as_ref()
        .map(|s| s.root.as_path())
        .unwrap_or(app.store_path.as_path());
    lines.extend(restore_plan_lines(app, plan, root));
    lines.push(Line::from(""));
    lines.push(buttons(t, "No", "Restore", w.focus_yes));
    lines
}

fn verified_lines(app: &App, w: &Wizard, width: u16) -> Vec<Line<'static>> {
    let t = app.theme;
    let Some(rec) = &w.recovery else {
        return Vec::new();
    };
    let mut lines = vec![
        Line::from(vec![
            Span::styled("restored ", t.good()),
            Span::styled(rec.restore.backup_id.to_string(), t.bold()),
            Span::raw(format!(
                " as the primary: {} nodes, {} edges",
                rec.restore.node_count, rec.restore.edge_count
            )),
        ]),
        Line::from(""),
        Line::styled("re-verified the new primary:", t.bold()),
    ];
    lines.extend(ladder_lines(t, &rec.after, app.now, width));
    lines.push(Line::from(""));
    lines.push(Line::styled("Enter: summary", t.dim()));
    lines
}

fn summary_lines(app: &App, w: &Wizard) -> Vec<Line<'static>> {
    let t = app.theme;
    let mut lines = Vec::new();
    if let Some(rec) = &w.recovery {
        let s = Some(rec.after.status);
        lines.push(Line::from(vec![
            Span::styled("Recovered. ", t.good()),
            Span::raw(format!(
                "The primary is now the graph of backup {} ",
                rec.restore.backup_id
            )),
            Span::styled(
                format!("({} {})", status_symbol(s), status_word(s)),
                t.status(s),
            ),
            Span::raw("."),
        ]));
        lines.push(Line::from(""));
        lines.push(Line::styled("What was lost:", t.bold()));
        let basis = match rec.lost_basis {
            LostBasis::BeforeDamage => "the graph before the damage",
            LostBasis::DamagedPrimary => "the damaged primary (as far as it parses)",
        };
        match &rec.lost {
            Some(diff) if diff.is_empty() => lines.push(Line::styled(
                format!("nothing: the restored graph has the same nodes and edges as {basis}"),
                t.good(),
            )),
            Some(diff) => {
                lines.push(Line::from(format!(
                    "from {basis} to the restored one (removed: lost; changed: an older version is back; added: back from the older state):"
                )));
                lines.extend(diff_lines(t, diff));
            }
            None => {
                lines.push(Line::from(
                    "unknown: anything saved after the restored backup is only in the kept file",
                ));
                if let Some(note) = &rec.lost_note {
                    lines.push(Line::styled(format!("({note})"), t.dim()));
                }
            }
        }
        lines.push(Line::from(""));
        if rec.restore.evidence.is_empty() {
            lines.push(Line::styled(
                "The damaged primary was not kept: there was no file left to keep.",
                t.bold(),
            ));
        } else {
            lines.push(Line::from(vec![
                Span::styled("The damaged files were kept in ", t.bold()),
                Span::raw(evidence_text(&rec.restore.evidence)),
                Span::styled(":", t.bold()),
            ]));
        }
        for e in &rec.restore.evidence {
            let name = e
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            lines.push(Line::from(format!("  {name}")));
        }
    } else if let Some(d) = &w.detection {
        let r = &d.report;
        let s = Some(r.status);
        match r.status {
            Status::Unverified => {
                lines.push(Line::from(vec![
                    Span::styled("The primary is unverified but kept: ", t.warn()),
                    Span::raw(format!("{}.", r.reason.clone().unwrap_or_default())),
                ]));
                lines.push(Line::from(
                    "It parses and is consistent, so graphvault loads it (with a warning) and never replaces it. Nothing was restored and nothing was lost.",
                ));
                lines.push(Line::from(
                    "To have a checksum again, save the graph anew from the application (or `graphvault save --from FILE`); `graphvault verify` then reports it valid.",
                ));
            }
            Status::Valid => {
                lines.push(Line::from(vec![
                    Span::styled("Verification passed: ", t.warn()),
                    Span::raw(format!("{} {}.", status_symbol(s), status_word(s))),
                ]));
                if let Some(reference) = &d.reference {
                    lines.push(Line::from(""));
                    lines.push(Line::styled(
                        format!("Only a comparison with a copy you trust shows the change (newest backup {}):", reference.old),
                        t.bold(),
                    ));
                    lines.extend(diff_lines(t, &reference.diff));
                    let undo = match &w.store {
                        Some(s) if s.copied => format!(
                            "To undo it in the sandbox: graphvault --store {} restore {}",
                            s.root.display(),
                            reference.old
                        ),
                        _ => format!(
                            "To undo it, restore {}: r on the main screen.",
                            reference.old
                        ),
                    };
                    lines.push(Line::from(undo));
                }
            }
            Status::Corrupt | Status::Missing => {
                lines.push(Line::styled(
                    "Nothing recoverable: no backup verifies.",
                    t.bad(),
                ));
                lines.push(Line::from(
                    "Nothing was written or deleted; the damaged primary is where it was.",
                ));
                let unverified: Vec<String> = w
                    .candidates
                    .iter()
                    .filter(|c| c.status == Status::Unverified)
                    .map(|c| c.target.to_string())
                    .collect();
                if unverified.is_empty() {
                    lines.push(Line::from(
                        "No backup even parses. Keep every file as it is, copy the whole storage directory aside, and see docs/RECOVERY.md (“when no backup is valid”).",
                    ));
                } else {
                    lines.push(Line::from(format!(
                        "Backups without a meta that parse: {}. Check one by hand, then restore it with r and a on the main screen (or `graphvault restore ID --allow-unverified`).",
                        unverified.join(", ")
                    )));
                }
            }
        }
    }
    if let Some(note) = w.corruption.as_ref().and_then(|c| c.note.clone()) {
        lines.push(Line::from(""));
        lines.push(Line::styled(
            "What a plain checksum can and cannot do:",
            t.bold(),
        ));
        lines.push(Line::from(note));
    }
    if let Some(s) = &w.store
        && s.copied
    {
        lines.push(Line::from(""));
        lines.push(Line::styled(
            format!(
                "The sandbox copy stays at {} for you to inspect; delete it when done.",
                s.root.display()
            ),
            t.dim(),
        ));
    }
    lines.push(Line::from(""));
    lines.push(Line::styled("Esc closes the wizard", t.dim()));
    lines
}
