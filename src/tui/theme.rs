//! Colours and status symbols. Colour is never the only signal: every
//! status has a symbol and a word, so the screen reads the same with
//! `NO_COLOR` set (which turns colours off entirely).

use ratatui::style::{Color, Modifier, Style};

use crate::store::verify::{Outcome, Status};

/// The styles the UI draws with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    /// No colours: bold, reverse video and symbols only.
    pub const PLAIN: Theme = Theme { color: false };

    /// Follows the NO_COLOR convention (<https://no-color.org>): set and
    /// non-empty turns colours off.
    pub fn from_env() -> Theme {
        Theme::from_no_color(std::env::var_os("NO_COLOR"))
    }

    pub fn from_no_color(value: Option<std::ffi::OsString>) -> Theme {
        Theme {
            color: value.is_none_or(|v| v.is_empty()),
        }
    }

    fn fg(self, color: Color) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new()
        }
    }

    pub fn good(self) -> Style {
        self.fg(Color::Green)
    }

    pub fn warn(self) -> Style {
        self.fg(Color::Yellow)
    }

    pub fn bad(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn dim(self) -> Style {
        self.fg(Color::Gray)
    }

    pub fn bold(self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    pub fn key(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn accent(self) -> Style {
        self.fg(Color::Cyan)
    }

    pub fn border(self) -> Style {
        self.fg(Color::DarkGray)
    }

    pub fn popup_border(self) -> Style {
        self.fg(Color::Cyan)
    }

    /// The selected table row: reverse video without colours so the
    /// selection never depends on them.
    pub fn selected(self) -> Style {
        if self.color {
            Style::new()
                .bg(Color::Blue)
                .fg(Color::White)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }

    /// A focused button or field.
    pub fn focused(self) -> Style {
        if self.color {
            Style::new()
                .bg(Color::Cyan)
                .fg(Color::Black)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        }
    }

    /// `None` is a backup not verified yet.
    pub fn status(self, status: Option<Status>) -> Style {
        match status {
            Some(Status::Valid) => self.good(),
            Some(Status::Unverified) => self.warn(),
            Some(Status::Corrupt | Status::Missing) => self.bad(),
            None => self.dim(),
        }
    }

    pub fn outcome(self, outcome: Outcome) -> Style {
        match outcome {
            Outcome::Pass => self.good(),
            Outcome::Warn => self.warn(),
            Outcome::Fail => self.bad(),
            Outcome::Skipped => self.dim(),
        }
    }
}

pub use crate::present::{outcome_symbol, status_symbol, status_word};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_set_and_non_empty_turns_colours_off() {
        assert!(Theme::from_no_color(None).color);
        assert!(Theme::from_no_color(Some("".into())).color);
        assert!(!Theme::from_no_color(Some("1".into())).color);
        assert_eq!(Theme::PLAIN.good(), Style::new());
        assert_ne!(Theme::PLAIN.selected(), Style::new());
    }

    #[test]
    fn every_status_has_its_own_symbol() {
        let all = [
            Some(Status::Valid),
            Some(Status::Unverified),
            Some(Status::Corrupt),
            Some(Status::Missing),
            None,
        ];
        let symbols: std::collections::HashSet<_> = all.iter().map(|s| status_symbol(*s)).collect();
        assert_eq!(symbols.len(), all.len());
    }
}
