//! An error that stopped an operation, in front until closed; the
//! activity log keeps it too.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget, Wrap};

use super::{Effects, Env, PopupView, wrapped_height};
use crate::tui::action::Action;
use crate::tui::app::App;
use crate::tui::keymap::{Binding, Context, KeyCode, bind, ch, code};
use crate::tui::render::centered;

#[derive(Debug)]
pub struct ErrorPopup {
    pub title: String,
    pub message: String,
}

#[rustfmt::skip]
pub static KEYS: &[Binding] = &[
    bind!(Error, [code(KeyCode::Esc), code(KeyCode::Enter), ch('q')], Close, "close", "close"),
];

impl PopupView for ErrorPopup {
    fn context(&self) -> Context {
        Context::Error
    }

    fn update(&mut self, action: Action, _env: &Env, fx: &mut Effects) {
        if matches!(action, Action::Close | Action::No) {
            fx.close = true;
        }
    }

    fn draw(&self, app: &App, area: Rect, buf: &mut Buffer) {
        let t = app.theme;
        let lines = vec![
            Line::from(self.message.clone()),
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
                    .title(Span::styled(format!(" {} ", self.title), t.bad())),
            )
            .render(rect, buf);
    }
}
