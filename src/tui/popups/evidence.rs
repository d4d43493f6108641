//! The evidence view: what `graphvault evidence` lists (every primary
//! graphvault kept before replacing it, verified against the meta kept with
//! it), and putting one back as the primary through the restore popup's
//! plan and confirmation. That is also how a restore is undone.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Cell, Clear, Paragraph, Row, StatefulWidget, Table, TableState, Widget, Wrap,
};

use super::restore::{RestorePopup, RestoreSource};
use super::{Effects, Env, Popup, PopupView, list_view_areas};
use crate::present::{age, human_size, local_time, status_symbol, status_word};
use crate::store::evidence::{EvidenceItem, EvidenceListing};
use crate::tui::action::Action;
use crate::tui::app::App;
use crate::tui::error::UiError;
use crate::tui::keymap::{Binding, Context, KeyCode, bind, ch, code, ctrl};
use crate::tui::render::centered;
use crate::tui::theme::Theme;
use crate::tui::worker::{Command, Event};

#[rustfmt::skip]
pub static KEYS: &[Binding] = &[
    bind!(Evidence, [ch('r'), code(KeyCode::Enter)], Restore, "put the selected kept primary back as the primary (plan, then confirm; the primary it replaces is kept)", "restore"),
    bind!(Evidence, [code(KeyCode::Esc), ch('q'), ch('e')], Close, "close the evidence", "close"),
    bind!(Evidence, [code(KeyCode::Up), ch('k')], Up, "select the newer item"),
    bind!(Evidence, [code(KeyCode::Down), ch('j')], Down, "select the older item"),
    bind!(Evidence, [ch('g'), code(KeyCode::Home)], Top, "newest item"),
    bind!(Evidence, [ch('G'), code(KeyCode::End)], Bottom, "oldest item"),
    bind!(Evidence, [code(KeyCode::F(5)), ctrl('r')], Refresh, "list and verify the evidence again"),
];

/// The evidence view's state.
#[derive(Debug, Clone)]
pub struct EvidencePopup {
    /// The listing, once the worker has read and verified it.
    pub listing: Option<Result<EvidenceListing, UiError>>,
    pub selected: usize,
}

impl EvidencePopup {
    /// The view, listing: it asks the worker for the evidence in `fx`.
    pub fn open(fx: &mut Effects) -> EvidencePopup {
        fx.send(Command::ListEvidence);
        EvidencePopup {
            listing: None,
            selected: 0,
        }
    }

    fn items(&self) -> &[EvidenceItem] {
        match &self.listing {
            Some(Ok(l)) => &l.items,
            _ => &[],
        }
    }

    pub fn selected_item(&self) -> Option<&EvidenceItem> {
        self.items().get(self.selected)
    }
}

impl PopupView for EvidencePopup {
    fn context(&self) -> Context {
        Context::Evidence
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
                fx.send(Command::ListEvidence);
            }
            Action::Restore => {
                if let Some(item) = self.selected_item() {
                    let source = RestoreSource::Evidence(item.id.clone());
                    fx.close = true;
                    fx.open = Some(Popup::Restore(RestorePopup::open_source(source, false, fx)));
                }
            }
            Action::Close | Action::No => fx.close = true,
            _ => {}
        }
    }

    fn on_event(&mut self, event: &Event, _env: &Env, _fx: &mut Effects) {
        if let Event::EvidenceListed(result) = event {
            self.listing = Some(result.as_ref().map(|l| (**l).clone()).map_err(Clone::clone));
            self.selected = self.selected.min(self.items().len().saturating_sub(1));
        }
    }

    fn draw(&self, app: &App, area: Rect, buf: &mut Buffer) {
        let t = app.theme;
        let title = match &self.listing {
            Some(Ok(l)) if !l.items.is_empty() => {
                format!(" evidence {}/{} ", self.selected + 1, l.items.len())
            }
            _ => " evidence ".to_string(),
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
                Paragraph::new(Line::styled(
                    "reading and verifying the kept primaries…",
                    t.dim(),
                ))
                .render(inner, buf);
                return;
            }
            Some(Err(e)) => {
                let rect = centered(area, area.width.saturating_sub(4).max(40), 6);
                Clear.render(rect, buf);
                let inner = block.inner(rect);
                block.render(rect, buf);
                Paragraph::new(vec![
                    Line::styled("cannot list the evidence", t.bad()),
                    Line::from(e.message.clone()),
                ])
                .wrap(Wrap { trim: false })
                .render(inner, buf);
                return;
            }
            Some(Ok(l)) => l,
        };
        let n = listing.items.len();
        let summary = vec![Line::from(vec![
            Span::styled(
                format!(
                    "{n} kept primar{} · {}",
                    if n == 1 { "y" } else { "ies" },
                    human_size(listing.total_size)
                ),
                t.bold(),
            ),
            Span::styled(
                " · every primary graphvault replaced; restoring one undoes that",
                t.dim(),
            ),
        ])];
        if listing.items.is_empty() {
            let mut lines = summary;
            lines.push(Line::from(""));
            lines.push(Line::styled(
                "No primary has been replaced yet: restores and recoveries keep the one they replace here.",
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

fn render_items(
    app: &App,
    listing: &EvidenceListing,
    selected: usize,
    area: Rect,
    buf: &mut Buffer,
) {
    let t = app.theme;
    // KEPT 19, AGE 10, SIZE 10, STATUS 12, then WHY; counts when wide.
    let wide = area.width >= 100;
    let medium = area.width >= 72;
    let rows: Vec<Row> = listing
        .items
        .iter()
        .map(|i| {
            let kept = i.kept_at.map(local_time).unwrap_or_else(|| "–".into());
            let ago = i.kept_at.map(|k| age(k, app.now)).unwrap_or_default();
            let size = i.size.map(human_size).unwrap_or_else(|| "no data".into());
            let status = Span::styled(
                format!("{} {}", status_symbol(i.status), status_word(i.status)),
                t.status(i.status),
            );
            let mut cells = vec![Cell::from(kept)];
            if medium {
                cells.push(Cell::from(Line::from(ago).right_aligned()));
            }
            cells.push(Cell::from(Line::from(size).right_aligned()));
            cells.push(Cell::from(status));
            if wide {
                let counts = |c: Option<usize>| c.map(|n| n.to_string()).unwrap_or("–".into());
                cells.push(Cell::from(Line::from(counts(i.node_count)).right_aligned()));
                cells.push(Cell::from(Line::from(counts(i.edge_count)).right_aligned()));
            }
            cells.push(Cell::from(Span::styled(i.id.why().to_string(), t.dim())));
            Row::new(cells)
        })
        .collect();
    let mut header = vec![Cell::from("KEPT (local)")];
    let mut widths = vec![Constraint::Length(19)];
    if medium {
        header.push(Cell::from(Line::from("AGE").right_aligned()));
        widths.push(Constraint::Length(10));
    }
    header.push(Cell::from(Line::from("SIZE").right_aligned()));
    widths.push(Constraint::Length(10));
    header.push(Cell::from("STATUS"));
    widths.push(Constraint::Length(12));
    if wide {
        header.push(Cell::from(Line::from("NODES").right_aligned()));
        widths.push(Constraint::Length(6));
        header.push(Cell::from(Line::from("EDGES").right_aligned()));
        widths.push(Constraint::Length(6));
    }
    header.push(Cell::from("WHY"));
    widths.push(Constraint::Min(4));
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(t.bold()))
        .row_highlight_style(t.selected())
        .highlight_symbol("▶ ")
        .column_spacing(1);
    let mut state = TableState::new().with_selected(Some(selected));
    StatefulWidget::render(table, area, buf, &mut state);
}

/// The selected item's id, reason and verification, under the table.
fn detail_lines(t: Theme, i: &EvidenceItem) -> Vec<Line<'static>> {
    let mut lines = vec![Line::from(vec![
        Span::styled("id  ", t.dim()),
        Span::raw(i.id.to_string()),
        Span::styled(format!(" · {}", i.reason), t.dim()),
    ])];
    if let Some(why) = &i.status_reason {
        lines.push(Line::from(vec![
            Span::styled("verified  ", t.dim()),
            Span::styled(super::fit_checksums(why, 0), t.status(i.status)),
        ]));
    }
    lines
}
