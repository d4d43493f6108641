//! The trash view: what `graphvault trash` lists (every backup retention
//! moved out of `backups/`, when, why, until when), and bringing one back
//! through the restore popup's plan and confirmation.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Cell, Clear, Paragraph, Row, StatefulWidget, Table, TableState, Widget, Wrap,
};

use super::restore::{RestorePopup, RestoreSource};
use super::{Effects, Env, Popup, PopupView, list_view_areas};
use crate::present::{age, count_of, human_size};
use crate::store::trash::{ItemState, TrashItem, TrashListing};
use crate::tui::action::Action;
use crate::tui::app::{App, Severity};
use crate::tui::error::UiError;
use crate::tui::keymap::{Binding, Context, KeyCode, bind, ch, code, ctrl};
use crate::tui::render::centered;
use crate::tui::theme::Theme;
use crate::tui::worker::{Command, Event};

#[rustfmt::skip]
pub static KEYS: &[Binding] = &[
    bind!(Trash, [ch('r'), code(KeyCode::Enter)], Restore, "bring the selected backup back into backups/ (plan, then confirm)", "restore"),
    bind!(Trash, [code(KeyCode::Esc), ch('q'), ch('t')], Close, "close the trash", "close"),
    bind!(Trash, [code(KeyCode::Up), ch('k')], Up, "select the newer item"),
    bind!(Trash, [code(KeyCode::Down), ch('j')], Down, "select the older item"),
    bind!(Trash, [ch('g'), code(KeyCode::Home)], Top, "newest item"),
    bind!(Trash, [ch('G'), code(KeyCode::End)], Bottom, "oldest item"),
    bind!(Trash, [code(KeyCode::F(5)), ctrl('r')], Refresh, "list the trash again"),
];

/// The trash view's state.
#[derive(Debug, Clone)]
pub struct TrashPopup {
    /// The listing, once the worker has read it.
    pub listing: Option<Result<TrashListing, UiError>>,
    pub selected: usize,
}

impl TrashPopup {
    /// The view, listing: it asks the worker for the trash in `fx`.
    pub fn open(fx: &mut Effects) -> TrashPopup {
        fx.send(Command::ListTrash);
        TrashPopup {
            listing: None,
            selected: 0,
        }
    }

    fn items(&self) -> &[TrashItem] {
        match &self.listing {
            Some(Ok(l)) => &l.items,
            _ => &[],
        }
    }

    pub fn selected_item(&self) -> Option<&TrashItem> {
        self.items().get(self.selected)
    }
}

impl PopupView for TrashPopup {
    fn context(&self) -> Context {
        Context::Trash
    }

    fn update(&mut self, action: Action, _env: &Env, fx: &mut Effects) {
        let last = self.items().len().saturating_sub(1);
        match action {
            Action::Up => self.selected = self.selected.saturating_sub(1),
            Action::Down => self.selected = (self.selected + 1).min(last),
            Action::Top => self.selected = 0,
            Action::Bottom => self.selected = last,
            Action::Refresh => {
                self.listing = None;
                fx.send(Command::ListTrash);
            }
            Action::Restore => match self.selected_item() {
                Some(item) if item.state == ItemState::Trashed => {
                    let source = RestoreSource::Trash(item.id.clone());
                    fx.close = true;
                    fx.open = Some(Popup::Restore(RestorePopup::open_source(source, false, fx)));
                }
                Some(item) => fx.log(
                    Severity::Warn,
                    format!(
                        "{} cannot be brought back as it is: {}",
                        item.id,
                        item.notes.join("; ")
                    ),
                ),
                None => {}
            },
            Action::Close | Action::No => fx.close = true,
            _ => {}
        }
    }

    fn on_event(&mut self, event: &Event, _env: &Env, _fx: &mut Effects) {
        if let Event::TrashListed(result) = event {
            self.listing = Some(result.as_ref().map(|l| (**l).clone()).map_err(Clone::clone));
            self.selected = self.selected.min(self.items().len().saturating_sub(1));
        }
    }

    fn draw(&self, app: &App, area: Rect, buf: &mut Buffer) {
        let t = app.theme;
        let title = match &self.listing {
            Some(Ok(l)) if !l.items.is_empty() => {
                format!(" trash {}/{} ", self.selected + 1, l.items.len())
            }
            _ => " trash ".to_string(),
        };
        let block = Block::bordered()
            .border_style(t.popup_border())
            .title(Span::styled(title, t.bold()));
        let listing = match &self.listing {
            None => {
                let rect = centered(area, area.width.saturating_sub(4).max(40), 6);
                Clear.render(rect, buf);
                let inner = block.inner(rect);
                block.render(rect, buf);
                Paragraph::new(Line::styled("reading the trash…", t.dim())).render(inner, buf);
                return;
            }
            Some(Err(e)) => {
                let rect = centered(area, area.width.saturating_sub(4).max(40), 6);
                Clear.render(rect, buf);
                let inner = block.inner(rect);
                block.render(rect, buf);
                Paragraph::new(vec![
                    Line::styled("cannot list the trash", t.bad()),
                    Line::from(e.message.clone()),
                ])
                .wrap(Wrap { trim: false })
                .render(inner, buf);
                return;
            }
            Some(Ok(l)) => l,
        };
        let summary = vec![Line::from(vec![
            Span::styled(
                format!(
                    "{} · {}",
                    count_of(listing.items.len(), "backup"),
                    human_size(listing.total_size)
                ),
                t.bold(),
            ),
            Span::styled(
                format!(
                    " · each stays {} after it was trashed, then a later save or rotation purges it",
                    listing.grace
                ),
                t.dim(),
            ),
        ])];
        if listing.items.is_empty() {
            let mut lines = summary;
            lines.push(Line::from(""));
            lines.push(Line::styled(
                "The trash is empty: retention has moved nothing out of backups/ (or all of it was purged).",
                t.dim(),
            ));
            let (rect, [inner, _, _]) = list_view_areas(area, &lines, 0, &[]);
            let inner = Rect::new(inner.x, inner.y, inner.width, rect.height.saturating_sub(2));
            Clear.render(rect, buf);
            block.render(rect, buf);
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .render(inner, buf);
            return;
        }
        let details = self
            .selected_item()
            .map(|i| detail_lines(t, i))
            .unwrap_or_default();
        let (rect, [top, table_area, bottom]) =
            list_view_areas(area, &summary, listing.items.len(), &details);
        Clear.render(rect, buf);
        block.render(rect, buf);
        Paragraph::new(summary)
            .wrap(Wrap { trim: false })
            .render(top, buf);
        render_items(app, listing, self.selected, table_area, buf);
        Paragraph::new(details)
            .wrap(Wrap { trim: false })
            .render(bottom, buf);
    }
}

fn expires_text(item: &TrashItem, now: chrono::NaiveDateTime) -> String {
    match item.state {
        ItemState::Trashed if item.expired => "expired".to_string(),
        ItemState::Trashed => item
            .expires_at
            .map(|x| age(x.with_timezone(&chrono::Local).naive_local(), now))
            .unwrap_or_else(|| "–".to_string()),
        ItemState::Interrupted => "interrupted".to_string(),
        ItemState::Unknown => "unknown".to_string(),
    }
}

fn render_items(app: &App, listing: &TrashListing, selected: usize, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let id_width = listing
        .items
        .iter()
        .map(|i| i.id.to_string().chars().count())
        .max()
        .unwrap_or(2)
        .max(2) as u16;
    let wide = area.width >= id_width + 56;
    let rows: Vec<Row> = listing
        .items
        .iter()
        .map(|i| {
            let trashed = i
                .trashed_at
                .map(|x| age(x.with_timezone(&chrono::Local).naive_local(), app.now))
                .unwrap_or_else(|| "–".to_string());
            let expires = expires_text(i, app.now);
            let expires_style = if i.state != ItemState::Trashed {
                t.warn()
            } else if i.expired {
                t.bad()
            } else {
                t.dim()
            };
            let why = i.operation.clone().unwrap_or_else(|| i.notes.join("; "));
            let mut cells = vec![
                Cell::from(i.id.to_string()),
                Cell::from(Line::from(human_size(i.size)).right_aligned()),
            ];
            if wide {
                cells.push(Cell::from(Line::from(trashed).right_aligned()));
            }
            cells.push(Cell::from(Span::styled(expires, expires_style)));
            cells.push(Cell::from(Span::styled(why, t.dim())));
            Row::new(cells)
        })
        .collect();
    let mut header = vec![
        Cell::from("ID"),
        Cell::from(Line::from("SIZE").right_aligned()),
    ];
    let mut widths = vec![Constraint::Length(id_width), Constraint::Length(10)];
    if wide {
        header.push(Cell::from(Line::from("TRASHED").right_aligned()));
        widths.push(Constraint::Length(10));
    }
    header.push(Cell::from("EXPIRES"));
    widths.push(Constraint::Length(11));
    // What is left for the last column after the highlight symbol, the
    // fixed columns and the spaces between them: a narrow window gets the
    // short header rather than a cut one ("MOVED B").
    let fixed: u16 = widths
        .iter()
        .map(|c| match c {
            Constraint::Length(n) => n + 1,
            _ => 1,
        })
        .sum();
    let left = area.width.saturating_sub(2 + fixed);
    header.push(Cell::from(if left >= 8 { "MOVED BY" } else { "BY" }));
    widths.push(Constraint::Min(4));
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(t.bold()))
        .row_highlight_style(t.selected())
        .highlight_symbol("▶ ")
        .column_spacing(1);
    let mut state = TableState::new().with_selected(Some(selected));
    StatefulWidget::render(table, area, buf, &mut state);
}

/// The selected item's reasons, files and notes, under the table.
fn detail_lines(t: Theme, i: &TrashItem) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if !i.reasons.is_empty() {
        lines.push(Line::from(vec![
            Span::styled("why  ", t.dim()),
            Span::raw(i.reasons.join("; ")),
        ]));
    }
    for n in &i.notes {
        lines.push(Line::styled(n.clone(), t.warn()));
    }
    if lines.is_empty() {
        lines.push(Line::styled(
            "r brings it back into backups/ after a plan and a confirmation",
            t.dim(),
        ));
    }
    lines
}
