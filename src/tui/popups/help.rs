//! The `?` overlay: every key of the context under it first, then the
//! rest, straight from the keymap table.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::{Effects, Env, PopupView, render_text_popup, scroll};
use crate::tui::action::Action;
use crate::tui::app::App;
use crate::tui::keymap::{self, Binding, Context, KeyCode, bind, ch, code};

#[derive(Debug, Default)]
pub struct HelpPopup {
    pub scroll: u16,
}

#[rustfmt::skip]
pub static KEYS: &[Binding] = &[
    bind!(Help, [code(KeyCode::Up), ch('k')], Up, "scroll up"),
    bind!(Help, [code(KeyCode::Down), ch('j')], Down, "scroll down", "scroll"),
    bind!(Help, [code(KeyCode::PageUp)], PageUp, "page up"),
    bind!(Help, [code(KeyCode::PageDown)], PageDown, "page down"),
    bind!(Help, [code(KeyCode::Esc), ch('q'), ch('?')], Close, "close", "close"),
];

impl PopupView for HelpPopup {
    fn context(&self) -> Context {
        Context::Help
    }

    fn update(&mut self, action: Action, _env: &Env, fx: &mut Effects) {
        if !scroll(&mut self.scroll, &action) && matches!(action, Action::Close | Action::No) {
            fx.close = true;
        }
    }

    fn draw(&self, app: &App, area: Rect, buf: &mut Buffer) {
        let t = app.theme;
        // The help popup is itself the current context: describe what is under it.
        let under = app.context_under_popup();
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
        render_text_popup(t, area, " help: keys ", lines, self.scroll, (100, 40), buf);
    }
}
