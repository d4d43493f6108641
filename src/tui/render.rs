//! Drawing the main screen: `impl Widget for &App`, a layout computed the
//! same way for drawing and for paging, and small `render_*` helpers. Only
//! the visible rows of the backups table are built; nothing here reads the
//! disk.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Cell, Clear, HighlightSpacing, LineGauge, Paragraph, Row, StatefulWidget,
    Table, TableState, Widget, Wrap,
};

use crate::present::{age, human_size, local_time};
use crate::store::LockState;

use super::app::{App, Severity};
use super::health::CheckState;
use super::popups;
use super::table::{BackupRow, visible_offset};
use super::theme::{Theme, status_symbol, status_word};

/// Below this size the screen keeps only the header, the table, a status
/// line and the footer.
const COMPACT_WIDTH: u16 = 80;
const COMPACT_HEIGHT: u16 = 22;
/// The details pane sits beside the table when it can be this wide, and
/// grows up to the maximum; the rest goes to the table.
const MIN_SIDE_DETAILS: u16 = 40;
const MAX_SIDE_DETAILS: u16 = 64;

/// Where each part of the main screen goes.
#[derive(Debug, Clone, Copy)]
pub struct MainAreas {
    pub compact: bool,
    pub header: Rect,
    pub table: Rect,
    pub details: Option<Rect>,
    pub filter: Rect,
    pub gauge: Rect,
    pub log: Rect,
    pub status: Rect,
}

pub fn main_areas(app: &App, area: Rect) -> MainAreas {
    let compact = area.width < COMPACT_WIDTH || area.height < COMPACT_HEIGHT;
    let header_h = if compact { 3 } else { 6 };
    let filter_h = u16::from(app.filter_input.is_some());
    let gauge_h = u16::from(app.verify.is_some());
    let log_h = match (compact, area.height) {
        (true, _) => 0,
        (false, h) if h >= 30 => 7,
        _ => 5,
    };
    let status_h = u16::from(compact);
    let [header, body, filter, gauge, log, status, _footer] = Layout::vertical([
        Constraint::Length(header_h),
        Constraint::Min(3),
        Constraint::Length(filter_h),
        Constraint::Length(gauge_h),
        Constraint::Length(log_h),
        Constraint::Length(status_h),
        Constraint::Length(1),
    ])
    .areas(area);
    let (table, details) = if !compact && area.width >= FULL_TABLE_WIDTH + MIN_SIDE_DETAILS {
        let side = (area.width - FULL_TABLE_WIDTH).min(MAX_SIDE_DETAILS);
        let [table, details] =
            Layout::horizontal([Constraint::Min(0), Constraint::Length(side)]).areas(body);
        (table, Some(details))
    } else {
        (body, None)
    };
    MainAreas {
        compact,
        header,
        table,
        details,
        filter,
        gauge,
        log,
        status,
    }
}

/// The position in the table's visible rows drawn at (`x`, `y`), if a
/// backup's row is there: the same layout as drawing uses.
pub fn table_row_at(app: &App, area: Rect, x: u16, y: u16) -> Option<usize> {
    let a = main_areas(app, area);
    if !a.table.contains(ratatui::layout::Position { x, y }) {
        return None;
    }
    // The top border and the column header (and the side borders when
    // not compact).
    let first = a.table.y + 2;
    let capacity = table_capacity(app, area);
    let t = &app.table;
    let offset = visible_offset(t.offset, t.selected, capacity, t.visible.len());
    let pos = offset + usize::from(y.checked_sub(first)?);
    (y < first + u16::try_from(capacity).unwrap_or(u16::MAX) && pos < t.visible.len())
        .then_some(pos)
}

/// Data rows the table shows in `area`: its height less the borders and
/// the header row.
pub fn table_capacity(app: &App, area: Rect) -> usize {
    let a = main_areas(app, area);
    let chrome = if a.compact { 2 } else { 3 };
    usize::from(a.table.height.saturating_sub(chrome))
}

impl Widget for &App {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let [body, footer] =
            Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(area);
        if !self.store.loaded {
            render_loading(self, body, buf);
        } else if let Some(error) = self.unreadable() {
            render_unreadable(self, error, body, buf);
        } else if self.no_store() {
            render_no_store(self, body, buf);
        } else {
            render_main(self, area, buf);
        }
        if let Some(wizard) = &self.wizard {
            wizard.draw(self, body, buf);
        }
        if let Some(popup) = &self.popup {
            popup.draw(self, body, buf);
        }
        render_footer(self, footer, buf);
    }
}

fn render_main(app: &App, area: Rect, buf: &mut Buffer) {
    let a = main_areas(app, area);
    render_header(app, a.header, a.compact, buf);
    render_table(app, a.table, a.compact, buf);
    if let Some(details) = a.details {
        popups::render_details_pane(app, details, buf);
    }
    render_filter(app, a.filter, buf);
    render_gauge(app, a.gauge, buf);
    render_log(app, a.log, buf);
    render_status(app, a.status, buf);
}

fn render_loading(app: &App, area: Rect, buf: &mut Buffer) {
    let text = vec![
        Line::from(""),
        Line::styled(
            format!("reading {} …", app.store_path.display()),
            app.theme.bold(),
        ),
    ];
    Paragraph::new(text).centered().render(area, buf);
}

fn render_no_store(app: &App, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let path = app.store_path.display().to_string();
    let why = if !app.store.exists {
        "The directory does not exist."
    } else {
        "The directory exists but holds no graph.json, no graph.json.meta and no backups."
    };
    let lines = vec![
        Line::styled(format!("No graph store at {path}"), t.bad()),
        Line::from(""),
        Line::from(why),
        Line::from("There is nothing to verify, restore or snapshot here yet."),
        Line::from(""),
        Line::styled("What you can do:", t.bold()),
        Line::from(vec![
            Span::styled(format!("  {:<24}", "q"), t.key()),
            Span::raw("quit"),
        ]),
        Line::from(vec![
            Span::styled(format!("  {:<24}", "F5"), t.key()),
            Span::raw("look again (after the application has saved)"),
        ]),
        Line::from(vec![
            Span::styled(format!("  {:<24}", "graphvault --store DIR"), t.key()),
            Span::raw("open another storage directory"),
        ]),
        Line::from(vec![
            Span::styled(format!("  {:<24}", "graphvault demo"), t.key()),
            Span::raw("try it on a sandbox built from the sample graph"),
        ]),
        Line::from(""),
        Line::styled(
            "The default store is ./storage; the application writes storage/graph.json there.",
            t.dim(),
        ),
    ];
    draw_notice(app, lines, area, buf);
}

/// A store whose backups cannot be listed: what failed and why, that this
/// says nothing about the data, and what to do. Never "no store".
fn render_unreadable(app: &App, error: &super::error::UiError, area: Rect, buf: &mut Buffer) {
    use super::error::ErrorKind;
    let t = app.theme;
    let path = app.store_path.display().to_string();
    let advice = match error.kind {
        ErrorKind::PermissionDenied => {
            "Run graphvault as the user that owns the store (or one allowed to read it), or fix its permissions."
        }
        _ => "Check the disk and the directory, then look again.",
    };
    let mut lines = vec![
        Line::styled(format!("Cannot read the graph store at {path}"), t.bad()),
        Line::from(""),
        Line::from(format!("Listing the backups failed: {}", error.message)),
        Line::from(""),
        Line::styled(
            "This does not mean the data is gone: graphvault could not look. Nothing was changed.",
            t.bold(),
        ),
        Line::from(advice),
    ];
    if let Some(p) = &app.store.primary {
        lines.push(Line::from(format!("graph.json: {}", p.summary())));
    }
    lines.extend([
        Line::from(""),
        Line::styled("What you can do:", t.bold()),
        Line::from(vec![
            Span::styled(format!("  {:<8}", "F5"), t.key()),
            Span::raw("look again"),
        ]),
        Line::from(vec![
            Span::styled(format!("  {:<8}", "q"), t.key()),
            Span::raw("quit"),
        ]),
    ]);
    draw_notice(app, lines, area, buf);
}

/// A bordered notice in the middle of `area`, wrapped to fit.
fn draw_notice(app: &App, lines: Vec<Line<'static>>, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let width = 84.min(area.width);
    let paragraph = Paragraph::new(lines).wrap(Wrap { trim: false });
    let height = (paragraph.line_count(width.saturating_sub(2)) as u16 + 2).min(area.height);
    let popup = centered(area, width, height);
    Clear.render(popup, buf);
    paragraph
        .block(
            Block::bordered()
                .title(" graphvault ")
                .border_style(t.popup_border()),
        )
        .render(popup, buf);
}

fn lock_span(app: &App) -> Span<'static> {
    let t = app.theme;
    match &app.store.lock {
        None => Span::styled("lock …", t.dim()),
        Some(LockState::Free) => Span::styled("lock: free", t.good()),
        Some(LockState::Held { holder }) => Span::styled(format!("locked by {holder}"), t.warn()),
        Some(LockState::Unknown { error }) => {
            Span::styled(format!("lock: unknown ({error})"), t.warn())
        }
    }
}

fn primary_spans(app: &App) -> Vec<Span<'static>> {
    let t = app.theme;
    let mut spans = vec![Span::styled("primary ", t.bold())];
    match &app.store.primary {
        None => spans.push(Span::styled("· verifying…", t.dim())),
        Some(p) => {
            let status = Some(p.status);
            // "valid" means every level; a hash alone says so.
            let word = if p.depth == crate::store::verify::Depth::Checksum
                && p.status == crate::store::verify::Status::Valid
            {
                "checksum ok, not parsed"
            } else {
                p.word()
            };
            spans.push(Span::styled(
                format!("{} {word}", status_symbol(status)),
                t.status(status),
            ));
            if let Some(level) = p.failed_level {
                spans.push(Span::styled(
                    format!(" at {}", level.name()),
                    t.status(status),
                ));
            }
            let mut facts = Vec::new();
            if let (Some(n), Some(e)) = (p.node_count, p.edge_count) {
                facts.push(format!("{n} nodes"));
                facts.push(format!("{e} edges"));
            }
            if let Some(size) = p.size {
                facts.push(human_size(size));
            }
            if !facts.is_empty() {
                spans.push(Span::raw(format!(" · {}", facts.join(" · "))));
            }
        }
    }
    spans
}

fn check_spans(app: &App, problems_only: bool) -> Vec<Span<'static>> {
    check_list_spans(
        app,
        &app.health(),
        if problems_only {
            Passing::Counted
        } else {
            Passing::Shown
        },
        "✓ all checks pass".to_string(),
    )
}

/// What becomes of the checks that pass.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Passing {
    Shown,
    /// Only counted: "✓ 4 more pass".
    Counted,
    /// Left out: a narrow line has room for the problems only.
    Omitted,
}

/// A small window's checks: the problems, in their short words.
fn compact_check_spans(app: &App) -> Vec<Span<'static>> {
    let checks: Vec<super::health::Check> = app
        .health()
        .into_iter()
        .map(|c| super::health::Check {
            text: c.short.clone(),
            ..c
        })
        .collect();
    check_list_spans(
        app,
        &checks,
        Passing::Omitted,
        "✓ all checks pass".to_string(),
    )
}

/// Each check as its symbol and text, coloured by its state; the passing
/// ones as `passing` says.
fn check_list_spans(
    app: &App,
    checks: &[super::health::Check],
    passing: Passing,
    all_pass: String,
) -> Vec<Span<'static>> {
    let t = app.theme;
    let shown: Vec<_> = checks
        .iter()
        .filter(|c| passing == Passing::Shown || c.state != CheckState::Ok)
        .collect();
    if shown.is_empty() {
        return vec![Span::styled(all_pass, t.good())];
    }
    let passed = checks.len() - shown.len();
    let mut spans = Vec::new();
    for (i, c) in shown.iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw("  "));
        }
        let (symbol, style) = match c.state {
            CheckState::Ok => ("✓", t.good()),
            CheckState::Problem => ("✗", t.bad()),
            CheckState::Warn => ("!", t.warn()),
            CheckState::Unknown => ("?", t.warn()),
        };
        spans.push(Span::styled(format!("{symbol} {}", c.text), style));
    }
    if passing == Passing::Counted && passed > 0 {
        spans.push(Span::styled(format!("  ✓ {passed} more pass"), t.good()));
    }
    spans
}

fn render_header(app: &App, area: Rect, compact: bool, buf: &mut Buffer) {
    let t = app.theme;
    let path = app.store_path.display().to_string();
    let sandbox = if app.store.is_sandbox {
        " [sandbox]"
    } else {
        ""
    };
    if compact {
        let [top, bottom, watch] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(area);
        let lock = lock_span(app);
        let room = usize::from(area.width).saturating_sub(lock.width() + sandbox.len() + 13);
        let line = Line::from(vec![
            Span::styled("graphvault ", t.bold()),
            Span::raw(ellipsize_left(&path, room)),
            Span::styled(sandbox, t.accent()),
            Span::raw("  "),
            lock,
        ]);
        Paragraph::new(line).render(top, buf);
        let mut spans = primary_spans(app);
        spans.truncate(2);
        spans.push(Span::raw("  "));
        spans.extend(compact_check_spans(app));
        Paragraph::new(Line::from(spans)).render(bottom, buf);
        // The checks first; then what fits of the read time and the sizes,
        // each whole (never a stray "KiB" at the edge).
        // Room is kept for when the store was last read.
        let read_w = if app.store.read_at.is_some() { 15 } else { 0 };
        let mut spans = watch_spans(app, usize::from(area.width).saturating_sub(read_w));
        let room = usize::from(area.width)
            .saturating_sub(Line::from(spans.clone()).width())
            .saturating_sub(2);
        let sizes = whole_parts(&sizes_parts(app), room);
        if !sizes.is_empty() {
            spans.push(Span::styled(format!("  {sizes}"), t.dim()));
        }
        Paragraph::new(Line::from(spans)).render(watch, buf);
        return;
    }
    let title_room = usize::from(area.width).saturating_sub(40);
    let block = Block::bordered()
        .border_style(t.border())
        .title(Line::from(vec![
            Span::styled(" graphvault ", t.bold()),
            Span::raw(format!("{} ", ellipsize_left(&path, title_room))),
            Span::styled(sandbox.trim_start(), t.accent()),
            Span::raw(if sandbox.is_empty() { "" } else { " " }),
        ]))
        .title_top(Line::from(vec![Span::raw(" "), lock_span(app), Span::raw(" ")]).right_aligned())
        .title_bottom(Line::styled(format!(" {} ", sizes_text(app)), t.dim()).right_aligned());
    let inner = block.inner(area);
    block.render(area, buf);
    let tally = app.table.tally;
    // Compressed backups: what they take beside what their JSON would.
    let plain_total: u64 = app
        .table
        .rows
        .iter()
        .filter_map(|r| r.info.plain_size)
        .sum();
    let total = if app
        .table
        .rows
        .iter()
        .any(|r| r.info.form != crate::store::codec::StoredForm::Plain)
    {
        format!(
            "{} stored of {} JSON ({})",
            human_size(app.table.total_size),
            human_size(plain_total),
            crate::present::savings(app.table.total_size, plain_total)
        )
    } else {
        format!("{} total", human_size(app.table.total_size))
    };
    let mut backups = vec![
        Span::styled("backups ", t.bold()),
        Span::raw(format!(
            "{} · {total} · {} verified",
            app.table.rows.len(),
            tally.verified
        )),
    ];
    if tally.verified > 0 {
        backups.push(Span::raw(": "));
        backups.push(Span::styled(format!("{} ✓", tally.valid), t.good()));
        if tally.failed > 0 {
            backups.push(Span::raw(" "));
            backups.push(Span::styled(format!("{} ✗", tally.failed), t.bad()));
        }
    }
    if !app.store.ignored.is_empty() {
        backups.push(Span::styled(
            format!(" · {} other entries left alone", app.store.ignored.len()),
            t.dim(),
        ));
    }
    let mut checks = vec![Span::styled("checks  ", t.bold())];
    let all = check_spans(app, false);
    // The passing checks make way for the failing ones when space is short.
    if Line::from(all.clone()).width() + 8 > usize::from(inner.width) {
        checks.extend(check_spans(app, true));
    } else {
        checks.extend(all);
    }
    let mut status = vec![Span::styled("status  ", t.bold())];
    status.extend(watch_spans(app, usize::from(inner.width).saturating_sub(8)));
    let lines = vec![
        Line::from(primary_spans(app)),
        Line::from(backups),
        Line::from(checks),
        Line::from(status),
    ];
    Paragraph::new(lines).render(inner, buf);
}

/// The last check and the newest valid backup's age; the passing ones make
/// way for the others when `room` is short.
fn watch_spans(app: &App, room: usize) -> Vec<Span<'static>> {
    let checks = app.watch_checks();
    // All well: the last check's age alone says it.
    let all_well = match app
        .store
        .watch
        .as_ref()
        .and_then(|w| w.status.as_ref()?.record.as_ref())
    {
        Some(r) => format!(
            "✓ checked {}",
            crate::present::age(r.checked_at.naive_local(), app.now)
        ),
        None => "✓ recent".to_string(),
    };
    let fits = |spans: &[Span<'static>]| Line::from(spans.to_vec()).width() <= room;
    // Everything in full; else the warnings in full; else in short words.
    let all = check_list_spans(app, &checks, Passing::Shown, String::new());
    if fits(&all) {
        return all;
    }
    let problems = check_list_spans(app, &checks, Passing::Omitted, all_well.clone());
    if fits(&problems) {
        return problems;
    }
    let shorts: Vec<super::health::Check> = checks
        .into_iter()
        .map(|c| super::health::Check {
            text: c.short.clone(),
            ..c
        })
        .collect();
    check_list_spans(app, &shorts, Passing::Omitted, all_well)
}

/// What the trash and the evidence hold, in bytes.
fn sizes_text(app: &App) -> String {
    sizes_parts(app).join(" · ")
}

/// When the store was last read (it is watched, but a stat every few
/// seconds is what "now" means here), then the trash's and the evidence's
/// sizes: most telling first, so a narrow header drops from the end.
fn sizes_parts(app: &App) -> Vec<String> {
    let size = |v: Option<u64>| v.map_or_else(|| "?".to_string(), human_size);
    let mut parts: Vec<String> = app
        .store
        .read_at
        .map(|t| format!("read {}", t.format("%H:%M:%S")))
        .into_iter()
        .collect();
    match &app.store.watch {
        None => parts.extend(["trash …".to_string(), "evidence …".to_string()]),
        Some(w) => parts.extend([
            format!("trash {}", size(w.trash_bytes)),
            format!("evidence {}", size(w.evidence_bytes)),
        ]),
    }
    parts
}

/// As many of `parts` as fit in `room` columns, whole, joined with " · ".
fn whole_parts(parts: &[String], room: usize) -> String {
    let mut out = String::new();
    for part in parts {
        let sep = if out.is_empty() { "" } else { " · " };
        if out.chars().count() + sep.chars().count() + part.chars().count() > room {
            break;
        }
        out.push_str(sep);
        out.push_str(part);
    }
    out
}

/// Which optional columns the table shows at a given width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Columns {
    /// The backup's time as `2025-10-03 00:04:32`, or (`short_time`)
    /// `10-03 00:04`, or not at all when even that does not fit.
    pub time: bool,
    pub short_time: bool,
    pub age: bool,
    pub size: bool,
    pub nodes: bool,
    pub edges: bool,
    /// The status as a word beside its symbol.
    pub status_word: bool,
    pub checked: bool,
    /// Where the backup stands on the store's remotes.
    pub offsite: bool,
    /// The backup's id (what the CLI takes), on wide screens.
    pub id: bool,
}

const MARK_W: u16 = 1;
const STATUS_W: u16 = 12;
const TIME_W: u16 = 19;
const SHORT_TIME_W: u16 = 11;
const ID_W: u16 = 23;
const AGE_W: u16 = 10;
const SIZE_W: u16 = 10;
const COUNT_W: u16 = 6;
const CHECKED_W: u16 = 8;
const OFFSITE_W: u16 = 10;
/// The highlight symbol's width.
const SYMBOL_W: u16 = 2;

impl Columns {
    /// Mark, status symbol, time, age and size always; then nodes, edges,
    /// the status word and the check time while they fit in `width`.
    ///
    /// As the window narrows, columns go in this order, and a column is
    /// either whole or gone, never cut mid-value: the id, the check time,
    /// the status word, edges, nodes, size, age; then the time loses its
    /// year and seconds, and last of all goes too (the status symbol and
    /// the selection stay).
    pub fn fit(width: u16) -> Columns {
        // Always: the highlight symbol, the mark and the status symbol.
        let mut used = SYMBOL_W + MARK_W + 1 + 1;
        // `extra` is what a column adds: its width and one space before it.
        let mut take = |extra: u16| {
            if used + extra <= width {
                used += extra;
                true
            } else {
                false
            }
        };
        let time = take(TIME_W + 1);
        let short_time = !time && take(SHORT_TIME_W + 1);
        let age = (time || short_time) && take(AGE_W + 1);
        let size = age && take(SIZE_W + 1);
        let nodes = size && take(COUNT_W + 1);
        let edges = nodes && take(COUNT_W + 1);
        let status_word = size && take(STATUS_W - 1);
        let checked = status_word && take(CHECKED_W + 1);
        let id = checked && take(ID_W + 1);
        Columns {
            time,
            short_time,
            age,
            size,
            nodes,
            edges,
            status_word,
            checked,
            offsite: false,
            id,
        }
    }

    /// As [`Columns::fit`], with the off-site column first among the
    /// optional ones when the store has remotes.
    pub fn fit_with_offsite(width: u16, remotes: bool) -> Columns {
        if !remotes {
            return Columns::fit(width);
        }
        let mut c = Columns::fit(width.saturating_sub(OFFSITE_W + 1));
        c.offsite = width > SYMBOL_W + MARK_W + 1 + TIME_W + AGE_W + SIZE_W + 4 + OFFSITE_W;
        if !c.offsite {
            c = Columns::fit(width);
        }
        c
    }

    fn widths(self) -> Vec<Constraint> {
        let mut w = vec![
            Constraint::Length(MARK_W),
            Constraint::Length(if self.status_word { STATUS_W } else { 1 }),
        ];
        if self.time {
            w.push(Constraint::Length(TIME_W));
        }
        if self.short_time {
            w.push(Constraint::Length(SHORT_TIME_W));
        }
        if self.age {
            w.push(Constraint::Length(AGE_W));
        }
        if self.size {
            w.push(Constraint::Length(SIZE_W));
        }
        if self.nodes {
            w.push(Constraint::Length(COUNT_W));
        }
        if self.edges {
            w.push(Constraint::Length(COUNT_W));
        }
        if self.offsite {
            w.push(Constraint::Length(OFFSITE_W));
        }
        if self.checked {
            w.push(Constraint::Length(CHECKED_W));
        }
        if self.id {
            w.push(Constraint::Min(ID_W));
        }
        w
    }

    fn header(self) -> Vec<Cell<'static>> {
        let right = |s: &'static str| Cell::from(Line::from(s).right_aligned());
        let mut cells = vec![
            Cell::from(""),
            Cell::from(if self.status_word { "STATUS" } else { "" }),
        ];
        if self.time {
            cells.push(Cell::from("TIME (local)"));
        }
        if self.short_time {
            cells.push(Cell::from("TIME"));
        }
        if self.age {
            cells.push(right("AGE"));
        }
        if self.size {
            cells.push(right("SIZE"));
        }
        if self.nodes {
            cells.push(right("NODES"));
        }
        if self.edges {
            cells.push(right("EDGES"));
        }
        if self.offsite {
            cells.push(Cell::from("OFF-SITE"));
        }
        if self.checked {
            cells.push(Cell::from("CHECKED"));
        }
        if self.id {
            cells.push(Cell::from("ID"));
        }
        cells
    }
}

/// Width the table needs with every column (borders included).
pub const FULL_TABLE_WIDTH: u16 =
    2 + SYMBOL_W + MARK_W + STATUS_W + TIME_W + AGE_W + SIZE_W + 2 * COUNT_W + 6;

fn count_text(report: Option<usize>, meta: Option<u64>) -> String {
    match (report, meta) {
        (Some(n), _) => n.to_string(),
        (None, Some(n)) => n.to_string(),
        (None, None) => "–".to_string(),
    }
}

fn backup_row<'a>(app: &App, row: &BackupRow, columns: Columns) -> Row<'a> {
    let t = app.theme;
    let status = row.status();
    let marked = app.table.marks.contains(&row.info.id);
    let mut time = local_time(row.info.time);
    if row.info.id.seq() > 1 {
        time.push_str(&format!(" #{}", row.info.id.seq()));
    }
    let report = row.report.as_ref();
    // "valid" means every level: a row whose parse was not checked says so.
    let word = match report {
        Some(r)
            if r.depth == crate::store::verify::Depth::Checksum
                && r.status == crate::store::verify::Status::Valid =>
        {
            "sum only"
        }
        Some(r) => r.word(),
        None => status_word(status),
    };
    let status_cell = if columns.status_word {
        Cell::from(Span::styled(
            format!("{} {word}", status_symbol(status)),
            t.status(status),
        ))
    } else {
        Cell::from(Span::styled(status_symbol(status), t.status(status)))
    };
    // A compressed backup shows its stored size beside its JSON's.
    let size = match (row.info.size, row.info.form) {
        (Some(s), crate::store::codec::StoredForm::Plain) => human_size(s),
        (Some(s), _) => format!(
            "{}/{}",
            crate::present::short_size(s),
            row.info
                .plain_size
                .map_or_else(|| "?".into(), crate::present::short_size)
        ),
        (None, _) => "no data".into(),
    };
    let mut cells = vec![
        Cell::from(Span::styled(if marked { "◆" } else { " " }, t.accent())),
        status_cell,
    ];
    if columns.time {
        cells.push(Cell::from(time));
    }
    if columns.short_time {
        cells.push(Cell::from(row.info.time.format("%m-%d %H:%M").to_string()));
    }
    if columns.age {
        cells.push(Cell::from(
            Line::from(age(row.info.time, app.now)).right_aligned(),
        ));
    }
    if columns.size {
        cells.push(Cell::from(Line::from(size).right_aligned()));
    }
    if columns.nodes {
        let n = count_text(report.and_then(|r| r.node_count), row.info.node_count);
        cells.push(Cell::from(Line::from(n).right_aligned()));
    }
    if columns.edges {
        let n = count_text(report.and_then(|r| r.edge_count), row.info.edge_count);
        cells.push(Cell::from(Line::from(n).right_aligned()));
    }
    if columns.offsite {
        use crate::remote::state::OffsiteStatus;
        let (text, style) = match app.store.offsite.status(&row.info.id.to_string()) {
            Some(OffsiteStatus::Verified) => (
                "✓ verified",
                t.status(Some(crate::store::verify::Status::Valid)),
            ),
            Some(OffsiteStatus::Pushed) => (
                "✓ pushed",
                t.status(Some(crate::store::verify::Status::Valid)),
            ),
            Some(OffsiteStatus::Failed) => (
                "✗ failed",
                t.status(Some(crate::store::verify::Status::Corrupt)),
            ),
            None => ("· pending", t.dim()),
        };
        cells.push(Cell::from(Span::styled(text, style)));
    }
    if columns.checked {
        let checked = report
            .map(|r| {
                let at = r.verified_at.naive_local();
                if at.date() == app.now.date() {
                    at.format("%H:%M:%S").to_string()
                } else {
                    at.format("%m-%d %H:%M").to_string()
                }
            })
            .unwrap_or_else(|| "–".into());
        cells.push(Cell::from(Span::styled(checked, t.dim())));
    }
    if columns.id {
        cells.push(Cell::from(Span::styled(row.info.id.to_string(), t.dim())));
    }
    Row::new(cells)
}

fn render_table(app: &App, area: Rect, compact: bool, buf: &mut Buffer) {
    let t = app.theme;
    let table = &app.table;
    let capacity = usize::from(area.height.saturating_sub(if compact { 2 } else { 3 }));
    let offset = visible_offset(table.offset, table.selected, capacity, table.visible.len());
    let end = (offset + capacity).min(table.visible.len());
    let mut title = vec![Span::styled(" backups ", t.bold())];
    if !table.visible.is_empty() {
        title.push(Span::raw(format!(
            "{}/{} ",
            table.selected + 1,
            table.visible.len()
        )));
    }
    if !table.filter.is_empty() {
        title.push(Span::styled(
            format!("filter “{}” ", table.filter),
            t.accent(),
        ));
    }
    if !table.marks.is_empty() {
        title.push(Span::styled(
            format!("◆ {} marked ", table.marks.len()),
            t.accent(),
        ));
    }
    if table.sort != super::table::SortBy::default() {
        title.push(Span::styled(format!("{} ", table.sort.name()), t.accent()));
    }
    let block = if compact {
        Block::new()
            .borders(Borders::TOP)
            .border_style(t.border())
            .title(Line::from(title))
    } else {
        Block::bordered()
            .border_style(t.border())
            .title(Line::from(title))
    };
    if table.visible.is_empty() {
        let inner = block.inner(area);
        block.render(area, buf);
        let message = if table.rows.is_empty() {
            "no backups yet: s takes a snapshot of the primary".to_string()
        } else {
            format!(
                "no backup matches “{}” (Esc clears the filter)",
                table.filter
            )
        };
        Paragraph::new(Line::styled(message, t.dim()))
            .wrap(Wrap { trim: false })
            .render(inner, buf);
        return;
    }
    let columns = Columns::fit_with_offsite(
        block.inner(area).width,
        !app.store.offsite.remotes.is_empty(),
    );
    let rows: Vec<Row> = table.visible[offset..end]
        .iter()
        .filter_map(|&i| table.rows.get(i))
        .map(|row| backup_row(app, row, columns))
        .collect();
    let header = Row::new(columns.header()).style(t.bold());
    let widget = Table::new(rows, columns.widths())
        .header(header)
        .block(block)
        .column_spacing(1)
        .row_highlight_style(t.selected())
        .highlight_symbol("▶ ")
        .highlight_spacing(HighlightSpacing::Always);
    let mut state = TableState::new().with_selected(Some(table.selected.saturating_sub(offset)));
    StatefulWidget::render(widget, area, buf, &mut state);
}

fn render_filter(app: &App, area: Rect, buf: &mut Buffer) {
    let Some(input) = &app.filter_input else {
        return;
    };
    if area.height == 0 {
        return;
    }
    let [label, field] =
        Layout::horizontal([Constraint::Length(9), Constraint::Min(1)]).areas(area);
    Paragraph::new(Span::styled(" filter /", app.theme.key())).render(label, buf);
    input.render(field, buf);
}

fn render_gauge(app: &App, area: Rect, buf: &mut Buffer) {
    let Some(job) = &app.verify else { return };
    if area.height == 0 {
        return;
    }
    let t = app.theme;
    let what = match job.depth {
        crate::store::verify::Depth::Full => "verify all",
        crate::store::verify::Depth::Checksum => "checksums",
    };
    let (ratio, label) = match &job.progress {
        None => (0.0, format!("{what}: starting… ")),
        Some(p) => {
            let ratio = progress_ratio(p.done, p.total, p.bytes_done, p.bytes_total);
            let eta = eta_text(p.elapsed.as_secs_f64(), ratio);
            (
                ratio,
                format!(
                    "{what} {}/{} · {} of {} · {eta} ",
                    p.done,
                    p.total,
                    human_size(p.bytes_done),
                    human_size(p.bytes_total)
                ),
            )
        }
    };
    let label = if job.cancelling() {
        format!("{label}· cancelling…")
    } else {
        format!("{label}· Esc/c cancels")
    };
    LineGauge::default()
        .ratio(ratio.clamp(0.0, 1.0))
        .label(Span::styled(label, t.bold()))
        .filled_symbol("█")
        .unfilled_symbol("░")
        .filled_style(t.accent())
        .unfilled_style(t.dim())
        .render(area, buf);
}

/// How far a job over many files is: by bytes when it knows them, else by
/// files.
pub fn progress_ratio(done: usize, total: usize, bytes_done: u64, bytes_total: u64) -> f64 {
    if bytes_total > 0 {
        bytes_done as f64 / bytes_total as f64
    } else if total > 0 {
        done as f64 / total as f64
    } else {
        0.0
    }
}

/// Time left at the current pace, from the fraction done.
pub fn eta_text(elapsed_secs: f64, ratio: f64) -> String {
    if ratio <= 0.0 || elapsed_secs <= 0.0 {
        return "ETA …".into();
    }
    let left = (elapsed_secs / ratio - elapsed_secs).max(0.0);
    if left < 1.0 {
        "ETA <1 s".into()
    } else if left < 90.0 {
        format!("ETA {:.0} s", left)
    } else {
        format!("ETA {:.0} min", left / 60.0)
    }
}

pub fn severity_style(t: Theme, s: Severity) -> Style {
    match s {
        Severity::Info => Style::new(),
        Severity::Good => t.good(),
        Severity::Warn => t.warn(),
        Severity::Error => t.bad(),
    }
}

/// One activity line: time, mark, text, and how often it came again.
pub fn log_line(app: &App, entry: &super::app::LogEntry) -> Line<'static> {
    let t = app.theme;
    let mark = match entry.severity {
        Severity::Info => "·",
        Severity::Good => "✓",
        Severity::Warn => "!",
        Severity::Error => "✗",
    };
    Line::from(vec![
        Span::styled(entry.time.format("%H:%M:%S ").to_string(), t.dim()),
        Span::styled(format!("{mark} "), severity_style(t, entry.severity)),
        Span::styled(entry.text.clone(), severity_style(t, entry.severity)),
        Span::styled(
            if entry.repeats > 1 {
                format!(" (×{})", entry.repeats)
            } else {
                String::new()
            },
            t.dim(),
        ),
    ])
}

fn render_log(app: &App, area: Rect, buf: &mut Buffer) {
    if area.height == 0 {
        return;
    }
    let block = Block::bordered()
        .border_style(app.theme.border())
        .title(Span::styled(" activity ", app.theme.bold()));
    let inner = block.inner(area);
    block.render(area, buf);
    // The newest entries that fit whole, wrapped rather than cut (the end
    // of a message is often what matters); never the tail of an older one.
    // An older one that does not fit shows its beginning in the rows left
    // (rows left empty looked like nothing more to see, and hid a warning
    // the moment the next line came). The whole log is one key away.
    let mut room = usize::from(inner.height);
    let mut shown: Vec<Line> = Vec::new();
    let mut cut: Option<Line> = None;
    for entry in app.log.iter().rev() {
        let line = log_line(app, entry);
        let height = Paragraph::new(line.clone())
            .wrap(Wrap { trim: false })
            .line_count(inner.width);
        if height > room && !shown.is_empty() {
            cut = (room > 0).then_some(line);
            break;
        }
        room = room.saturating_sub(height);
        shown.push(line);
    }
    shown.reverse();
    // Bottom-aligned: the newest line stays in the same place.
    let unused = u16::try_from(room).unwrap_or(0).min(inner.height);
    if let Some(line) = cut {
        Paragraph::new(line).wrap(Wrap { trim: false }).render(
            Rect {
                height: unused,
                ..inner
            },
            buf,
        );
    }
    let area = Rect {
        y: inner.y + unused,
        height: inner.height - unused,
        ..inner
    };
    Paragraph::new(shown)
        .wrap(Wrap { trim: false })
        .render(area, buf);
}

fn render_status(app: &App, area: Rect, buf: &mut Buffer) {
    if area.height == 0 {
        return;
    }
    if let Some(entry) = app.log.back() {
        Paragraph::new(log_line(app, entry)).render(area, buf);
    }
}

fn render_footer(app: &App, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    // A squeezed layout may have drawn something on this row: what the
    // hints do not cover must not show through.
    Clear.render(area, buf);
    let mut spans: Vec<Span> = Vec::new();
    let mut used = 0usize;
    let width = usize::from(area.width);
    for (keys, word) in app.footer_hints() {
        let piece = keys.chars().count() + 1 + word.chars().count() + 2;
        if used + piece > width {
            break;
        }
        used += piece;
        spans.push(Span::styled(keys, t.key()));
        spans.push(Span::raw(format!(" {word}  ")));
    }
    Paragraph::new(Line::from(spans)).render(area, buf);
}

/// A `width` x `height` rectangle centred in `area` (clamped to it).
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// Cuts `s` to `max` characters, keeping its end (paths end with what
/// tells them apart).
pub fn ellipsize_left(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let tail: String = s.chars().skip(n - (max - 1)).collect();
    format!("…{tail}")
}

/// Cuts `s` to `max` characters, keeping its start.
pub fn ellipsize(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let head: String = s.chars().take(max - 1).collect();
    format!("{head}…")
}

/// Which of the two buttons [`buttons`] drew in `bar` is at column `x`:
/// `Some(true)` for the second (yes), `Some(false)` for No.
pub fn button_at(bar: Rect, no: &str, yes: &str, x: u16) -> Option<bool> {
    let line = buttons(super::theme::Theme::PLAIN, no, yes, false);
    let width = u16::try_from(line.width()).unwrap_or(u16::MAX);
    // As ratatui centres a line.
    let start = bar.x + (bar.width / 2).saturating_sub(width / 2);
    let no_w = u16::try_from(format!("[ {no} ]").chars().count()).unwrap_or(0);
    let yes_w = u16::try_from(format!("[ {yes} ]").chars().count()).unwrap_or(0);
    let yes_x = start + no_w + 3;
    if (start..start + no_w).contains(&x) {
        Some(false)
    } else if (yes_x..yes_x + yes_w).contains(&x) {
        Some(true)
    } else {
        None
    }
}

/// `[ No ]  [ Restore ]` with the focused one highlighted.
pub fn buttons(t: Theme, no: &str, yes: &str, focus_yes: bool) -> Line<'static> {
    let style = |focused: bool| if focused { t.focused() } else { t.bold() };
    Line::from(vec![
        Span::styled(format!("[ {no} ]"), style(!focus_yes)),
        Span::raw("   "),
        Span::styled(format!("[ {yes} ]"), style(focus_yes)),
        Span::styled("   y/n · Tab switches · Enter presses", t.dim()),
    ])
    .centered()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ellipsis_keeps_the_telling_end() {
        assert_eq!(ellipsize_left("/a/b/c/storage", 9), "…/storage");
        assert_eq!(ellipsize_left("short", 9), "short");
        assert_eq!(ellipsize("a long reason", 6), "a lon…");
    }

    #[test]
    fn eta_follows_the_pace() {
        assert_eq!(eta_text(10.0, 0.5), "ETA 10 s");
        assert_eq!(eta_text(0.0, 0.0), "ETA …");
        assert_eq!(eta_text(60.0, 0.25), "ETA 3 min");
    }

    #[test]
    fn columns_appear_as_the_width_allows() {
        let narrow = Columns::fit(58);
        assert!(narrow.nodes && !narrow.edges && !narrow.status_word);
        let side = Columns::fit(FULL_TABLE_WIDTH - 2);
        assert!(side.nodes && side.edges && side.status_word && !side.checked);
        let wide = Columns::fit(200);
        assert!(wide.checked && wide.id);
    }

    #[test]
    fn narrow_tables_drop_whole_columns_in_order_and_never_cut_the_time() {
        // 40 columns: the time and the age, whole; no size.
        let c = Columns::fit(40);
        assert!(c.time && c.age && !c.size && !c.nodes, "{c:?}");
        // Narrower: the short time alone.
        let c = Columns::fit(20);
        assert!(!c.time && c.short_time && !c.age, "{c:?}");
        // Every width: what the columns need fits in it.
        for width in 10..200 {
            let c = Columns::fit(width);
            let need: u16 = c
                .widths()
                .iter()
                .map(|w| match w {
                    Constraint::Length(n) | Constraint::Min(n) => n + 1,
                    _ => 0,
                })
                .sum::<u16>()
                + SYMBOL_W;
            assert!(need <= width + 1, "{width}: {c:?} needs {need}");
        }
    }

    #[test]
    fn popups_fit_inside_small_screens() {
        let area = Rect::new(0, 0, 60, 15);
        let r = centered(area, 100, 40);
        assert_eq!(r, area);
    }
}
