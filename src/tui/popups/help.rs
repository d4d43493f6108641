//! The `?` overlay: every key of the context under it first, then the
//! rest, straight from the keymap table.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::{Effects, Env, PopupView, render_text_popup, scroll, wrap_words};
use crate::tui::action::Action;
use crate::tui::app::App;
use crate::tui::keymap::{self, Binding, Context, KeyCode, bind, ch, code};

/// The width of the keys column, margin included.
const KEYS_WIDTH: usize = 18;

/// What each status mark means.
const STATUSES: [&str; 5] = [
    "✓ valid",
    "? unverified (no meta)",
    "✗ corrupt, or unreadable (the read failed)",
    "∅ missing",
    "· unchecked (not verified yet)",
];

/// The status legend in lines of at most `width` characters, whole items only, the
/// lines after the first under the first item.
fn legend_lines(width: usize) -> Vec<String> {
    const LEAD: &str = "Statuses: ";
    let mut lines = vec![LEAD.to_string()];
    for item in STATUSES {
        let line = lines.last_mut().expect("one line at least");
        let used = line.chars().count();
        if used > LEAD.len() && used + 2 + item.chars().count() > width {
            lines.push(format!("{:width$}{item}", "", width = LEAD.len()));
        } else {
            if used > LEAD.len() {
                line.push_str("  ");
            }
            line.push_str(item);
        }
    }
    lines
}

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
        let size = (100, 40);
        // What does not fit goes on under itself, not at the margin.
        let inner = usize::from(size.0.min(area.width).saturating_sub(2));
        let mut lines: Vec<Line<'static>> = legend_lines(inner)
            .into_iter()
            .map(|l| Line::styled(l, t.dim()))
            .collect();
        lines.push(Line::from(""));
        for (ctx, bindings) in keymap::help_sections(under) {
            lines.push(Line::styled(ctx.title().to_string(), t.bold()));
            for b in bindings {
                // Too narrow for a column of its own: the popup wraps it.
                let room = inner.saturating_sub(KEYS_WIDTH);
                let parts = if room < 20 {
                    vec![b.help.to_string()]
                } else {
                    wrap_words(b.help, room)
                };
                let mut parts = parts.into_iter();
                lines.push(Line::from(vec![
                    Span::styled(format!("  {:<16}", b.keys_label()), t.key()),
                    Span::raw(parts.next().unwrap_or_default()),
                ]));
                for more in parts {
                    lines.push(Line::raw(format!("{:KEYS_WIDTH$}{more}", "")));
                }
            }
            lines.push(Line::from(""));
        }
        render_text_popup(t, area, " help: keys ", lines, self.scroll, size, buf);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_legend_keeps_each_status_whole() {
        let wide = super::legend_lines(200);
        assert_eq!(wide.len(), 1);
        for width in [98, 78, 58] {
            let lines = super::legend_lines(width);
            assert!(lines.len() > 1, "{width}: {lines:?}");
            assert!(
                lines.iter().all(|l| l.chars().count() <= width),
                "{lines:?}"
            );
            assert!(lines[1..].iter().all(|l| l.starts_with("          ")));
            for item in super::STATUSES {
                assert!(
                    lines.iter().any(|l| l.contains(item)),
                    "{item} cut: {lines:?}"
                );
            }
        }
    }
}
