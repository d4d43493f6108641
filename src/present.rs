//! How both front ends say things: sizes, ages, times, status symbols,
//! "a, b and N more" and plurals. The CLI and the terminal UI both use this
//! module; neither imports the other, so a word changed here changes in
//! both at once.

pub mod nodes;

use chrono::{Local, NaiveDateTime, TimeZone};

use crate::store::verify::{Outcome, Status};

/// Text for a terminal, with every control character but a newline and a tab shown as
/// `\u{1b}` instead of written raw: node and edge ids, file names and messages come
/// from files anyone may have written, and an escape sequence in one would otherwise
/// reach the terminal (retitling it, recolouring, moving the cursor over earlier lines).
pub fn terminal_safe(text: &str) -> std::borrow::Cow<'_, str> {
    escape_where(text, |c| c.is_control() && c != '\n' && c != '\t')
}

/// `text` on one line: every control character, newlines and tabs too, shown
/// as an escape (a file name with a newline would otherwise break a list).
pub fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    escape_where(text, char::is_control)
}

/// `text` with each character `escaped` picks written as `\u{..}`.
fn escape_where(text: &str, escaped: impl Fn(char) -> bool) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(&escaped) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if escaped(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Bytes as a short human size: `812 B`, `118.4 KiB`, `97.3 MiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Bytes in at most five characters, for a narrow column: `812B`,
/// `118K`, `9.3M`, `97M`, `1.2G`.
pub fn short_size(bytes: u64) -> String {
    const K: f64 = 1024.0;
    let b = bytes as f64;
    if bytes < 1024 {
        format!("{bytes}B")
    } else if b < K * K {
        format!("{:.0}K", b / K)
    } else if b < 10.0 * K * K {
        format!("{:.1}M", b / (K * K))
    } else if b < K * K * K {
        format!("{:.0}M", b / (K * K))
    } else {
        format!("{:.1}G", b / (K * K * K))
    }
}

/// What compression saves: `saves 84%` of `plain` bytes stored as
/// `stored`, or `saves nothing`.
pub fn savings(stored: u64, plain: u64) -> String {
    if plain == 0 || stored >= plain {
        return "saves nothing".to_string();
    }
    let saved = (plain - stored) as f64 * 100.0 / plain as f64;
    format!("saves {saved:.0}%")
}

/// How long ago `then` was, relative to `now`: `just now`, `42 s ago`,
/// `5 min ago`, `3 h ago`, `12 d ago`, `in 2 d` for the future.
pub fn age(then: NaiveDateTime, now: NaiveDateTime) -> String {
    let secs = (now - then).num_seconds();
    let (future, secs) = if secs < 0 {
        (true, -secs)
    } else {
        (false, secs)
    };
    let text = if secs < 5 {
        return "just now".to_string();
    } else if secs < 60 {
        format!("{secs} s")
    } else if secs < 3600 {
        format!("{} min", secs / 60)
    } else if secs < 86_400 * 2 {
        format!("{} h", secs / 3600)
    } else if secs < 86_400 * 365 {
        format!("{} d", secs / 86_400)
    } else {
        format!("{:.1} y", secs as f64 / (86_400.0 * 365.25))
    };
    if future {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

/// A naive local time as `2025-10-03 00:04:32`.
pub fn local_time(t: NaiveDateTime) -> String {
    // Written field by field: parsing a strftime pattern per row was a
    // tenth of listing 100,000 backups.
    use chrono::{Datelike as _, Timelike as _};
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        // A leap second (a backup named `..._235960`) reads as chrono writes
        // it: 60, never a second time 59.
        t.second() + u32::from(t.nanosecond() >= 1_000_000_000)
    )
}

/// Now, as naive local time.
pub fn now_local() -> NaiveDateTime {
    Local::now().naive_local()
}

/// A naive local time interpreted in the local zone (earliest if ambiguous).
pub fn to_local(t: NaiveDateTime) -> Option<chrono::DateTime<Local>> {
    Local.from_local_datetime(&t).earliest()
}

/// Abbreviates the middle of a SHA-256 for tables.
pub fn short_checksum(c: &str) -> String {
    if c.len() > 12 {
        format!("{}…", &c[..12])
    } else {
        c.to_string()
    }
}

/// The symbol of a status; `None` is a file not verified yet.
pub fn status_symbol(status: Option<Status>) -> &'static str {
    match status {
        Some(Status::Valid) => "✓",
        Some(Status::Unverified) => "?",
        Some(Status::Corrupt) => "✗",
        Some(Status::Missing) => "∅",
        None => "·",
    }
}

/// The word of a status; `None` is a file not verified yet.
pub fn status_word(status: Option<Status>) -> &'static str {
    match status {
        Some(s) => s.name(),
        None => "unchecked",
    }
}

/// The symbol of one verification level's outcome.
pub fn outcome_symbol(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "✓",
        Outcome::Warn => "!",
        Outcome::Fail => "✗",
        Outcome::Skipped => "–",
    }
}

/// `a, b, c and 7 more`: the first `keep` items, then how many were left.
pub fn shorten_list(items: &[String], keep: usize) -> String {
    let shown = items
        .iter()
        .take(keep)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    match items.len().saturating_sub(keep) {
        0 => shown,
        more if shown.is_empty() => format!("{more} more"),
        more => format!("{shown} and {more} more"),
    }
}

/// `1 backup`, `2 backups`, `0 backups`: a count with its noun. `noun` is
/// the singular; the plural adds an `s` (every noun we count does).
pub fn count(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// [`count`] for a `usize`.
pub fn count_of(n: usize, noun: &str) -> String {
    count(n as u64, noun)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_reach_a_terminal_only_as_text() {
        assert_eq!(terminal_safe("a\tb\nc"), "a\tb\nc");
        assert_eq!(
            terminal_safe("e\u{1b}]0;pwned\u{7}x\u{9b}31m\r"),
            "e\\u{1b}]0;pwned\\u{7}x\\u{9b}31m\\u{d}"
        );
        assert!(matches!(
            terminal_safe("plain é"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn one_line_escapes_newlines_that_terminal_text_keeps() {
        let name = "graph_x\nfake line\t\u{1b}[2J";
        assert_eq!(one_line(name), "graph_x\\u{a}fake line\\u{9}\\u{1b}[2J");
        assert_eq!(terminal_safe(name), "graph_x\nfake line\t\\u{1b}[2J");
        assert!(matches!(
            one_line("plain"),
            std::borrow::Cow::Borrowed("plain")
        ));
    }

    #[test]
    fn local_times_read_as_strftime_writes_them() {
        for text in [
            "2025-10-03 00:04:32",
            "1999-12-31 23:59:59",
            "2026-01-09 07:05:00",
            "0001-01-01 00:00:00",
            "2026-06-30 23:59:60",
        ] {
            let t = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").expect("time");
            assert_eq!(local_time(t), t.format("%Y-%m-%d %H:%M:%S").to_string());
            assert_eq!(local_time(t), text);
        }
    }

    #[test]
    fn stored_sizes_fit_a_narrow_column_and_savings_read_as_a_share() {
        assert_eq!(short_size(812), "812B");
        assert_eq!(short_size(121_300), "118K");
        assert_eq!(short_size(80_740_352), "77M");
        assert_eq!(short_size(9_740_352), "9.3M");
        assert!(format!("{}/{}", short_size(12_800_000), short_size(80_740_352)).len() <= 10);
        assert_eq!(savings(12, 100), "saves 88%");
        assert_eq!(savings(100, 100), "saves nothing");
        assert_eq!(savings(0, 0), "saves nothing");
    }

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1024), "1.0 KiB");
        assert_eq!(human_size(121_300), "118.5 KiB");
        assert_eq!(human_size(100 * 1024 * 1024), "100.0 MiB");
    }

    #[test]
    fn ages_round_down_and_say_future() {
        let t = NaiveDateTime::parse_from_str("2025-10-03 00:00:00", "%Y-%m-%d %H:%M:%S")
            .expect("time");
        let later = |s: i64| t + chrono::Duration::seconds(s);
        assert_eq!(age(t, later(2)), "just now");
        assert_eq!(age(t, later(42)), "42 s ago");
        assert_eq!(age(t, later(300)), "5 min ago");
        assert_eq!(age(t, later(3 * 3600)), "3 h ago");
        assert_eq!(age(t, later(3 * 86_400)), "3 d ago");
        assert_eq!(age(later(3 * 86_400), t), "in 3 d");
    }

    #[test]
    fn counts_agree_with_their_noun() {
        assert_eq!(count_of(1, "backup"), "1 backup");
        assert_eq!(count_of(0, "backup"), "0 backups");
        assert_eq!(count(2u64, "dangling edge"), "2 dangling edges");
    }

    #[test]
    fn long_lists_say_how_many_were_left_out() {
        let items: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        assert_eq!(shorten_list(&items, 2), "a, b and 2 more");
        assert_eq!(shorten_list(&items, 4), "a, b, c, d");
        assert_eq!(shorten_list(&items, 0), "4 more");
    }
}
