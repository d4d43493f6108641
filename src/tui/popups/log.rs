//! The activity log in full (`L`): every line the UI kept, wrapped rather
//! than cut, newest at the bottom, opened at the end and scrolled back from
//! there. The pane on the main screen shows only the last few.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget, Wrap};

use super::{Effects, Env, PopupView};
use crate::tui::action::Action;
use crate::tui::app::App;
use crate::tui::keymap::{Binding, Context, KeyCode, bind, ch, code};
use crate::tui::render::{centered, log_line};

/// The log view's state: how many wrapped lines it is scrolled back from
/// the newest.
#[derive(Debug, Default)]
pub struct LogPopup {
    pub back: u16,
    /// How far back the log goes, as last drawn: keys stop there rather
    /// than scrolling on into nothing.
    pub back_max: std::cell::Cell<u16>,
}

#[rustfmt::skip]
pub static KEYS: &[Binding] = &[
    bind!(Log, [code(KeyCode::Up), ch('k')], Up, "scroll back (older lines)", "older"),
    bind!(Log, [code(KeyCode::Down), ch('j')], Down, "scroll on (newer lines)", "newer"),
    bind!(Log, [code(KeyCode::PageUp)], PageUp, "a page back"),
    bind!(Log, [code(KeyCode::PageDown)], PageDown, "a page on"),
    bind!(Log, [ch('g'), code(KeyCode::Home)], Top, "the oldest line"),
    bind!(Log, [ch('G'), code(KeyCode::End)], Bottom, "the newest line"),
    bind!(Log, [code(KeyCode::Esc), ch('q'), ch('L')], Close, "close", "close"),
];

impl PopupView for LogPopup {
    fn context(&self) -> Context {
        Context::Log
    }

    fn update(&mut self, action: Action, _env: &Env, fx: &mut Effects) {
        let max = self.back_max.get();
        match action {
            Action::Up => self.back = self.back.saturating_add(1).min(max),
            Action::Down => self.back = self.back.saturating_sub(1),
            Action::PageUp => self.back = self.back.saturating_add(10).min(max),
            Action::PageDown => self.back = self.back.saturating_sub(10),
            Action::Top => self.back = max,
            Action::Bottom => self.back = 0,
            Action::Close | Action::No => fx.close = true,
            _ => {}
        }
    }

    fn draw(&self, app: &App, area: Rect, buf: &mut Buffer) {
        let t = app.theme;
        let rect = centered(area, area.width.saturating_sub(4).max(40), area.height);
        Clear.render(rect, buf);
        let lines: Vec<Line> = app.log.iter().map(|e| log_line(app, e)).collect();
        let count = lines.len();
        let paragraph = Paragraph::new(lines).wrap(Wrap { trim: false });
        let inner_width = rect.width.saturating_sub(2);
        let visible = rect.height.saturating_sub(2);
        let total = u16::try_from(paragraph.line_count(inner_width)).unwrap_or(u16::MAX);
        let last_top = total.saturating_sub(visible);
        self.back_max.set(last_top);
        let back = self.back.min(last_top);
        let title = format!(" activity: {} ", crate::present::count_of(count, "line"));
        let mut block = Block::bordered()
            .border_style(t.popup_border())
            .title(Span::styled(title, t.bold()));
        if back > 0 {
            block = block.title_bottom(
                Line::styled(format!(" {back} lines back · End: newest "), t.dim()).right_aligned(),
            );
        } else if last_top > 0 {
            block = block.title_bottom(Line::styled(" ↑ older ", t.dim()).right_aligned());
        }
        paragraph
            .scroll((last_top - back, 0))
            .block(block)
            .render(rect, buf);
    }
}
