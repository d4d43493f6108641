//! Backup names: `graph_YYYYMMDD_HHMMSS[_N]`.
//!
//! The application names backups by local time with one-second resolution, so
//! two saves in one second collided. graphvault keeps the application's
//! pattern and adds a collision counter `_N` (N >= 2) when the plain name is
//! taken, so names never collide and still sort with the application's.
//! Order is always by the time in the name, then the counter, never by mtime.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDateTime, Timelike};

use super::error::StoreError;

/// Identifies one backup in `backups/`: the file stem, such as
/// `graph_20251003_000432` or `graph_20251003_000432_2`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BackupId {
    time: NaiveDateTime,
    seq: u32,
}

const TIME_FORMAT: &str = "%Y%m%d_%H%M%S";

/// The largest collision counter a name may carry (six digits).
pub const MAX_SEQ: u32 = 999_999;

impl BackupId {
    /// The id for a backup taken at `time` (local, naive), with collision counter `seq`
    /// (0 or 1 mean the plain name).
    pub fn new(time: NaiveDateTime, seq: u32) -> Self {
        let time = time.with_nanosecond(0).unwrap_or(time);
        BackupId {
            time,
            seq: if seq <= 1 { 0 } else { seq.min(MAX_SEQ) },
        }
    }

    /// The local time written in the name.
    pub fn time(&self) -> NaiveDateTime {
        self.time
    }

    /// The collision counter (0 for the plain name).
    pub fn seq(&self) -> u32 {
        self.seq
    }

    /// The next id after this one, used when this one is taken: the next
    /// counter in the same second, or, once the counter is at its largest
    /// ([`MAX_SEQ`]), the plain name of the next second. Every id this
    /// returns prints as a name that parses back to it.
    pub fn next_in_second(&self) -> Self {
        if self.seq >= MAX_SEQ {
            return BackupId {
                time: self.time + chrono::Duration::seconds(1),
                seq: 0,
            };
        }
        BackupId {
            time: self.time,
            seq: self.seq.max(1) + 1,
        }
    }

    /// `graph_<ts>.json`
    pub fn data_file_name(&self) -> String {
        format!("{self}.json")
    }

    /// `graph_<ts>.json.zst`, a backup stored as one zstd frame (see
    /// [`super::codec`]): a name the application's glob never takes for JSON.
    pub fn zstd_file_name(&self) -> String {
        format!("{self}{}", super::codec::ZSTD_SUFFIX)
    }

    /// `graph_<ts>.json.delta.zst`, a delta against a full backup.
    pub fn delta_file_name(&self) -> String {
        format!("{self}{}", super::codec::DELTA_SUFFIX)
    }

    /// The data file's name in the stored form `form`.
    pub fn stored_file_name(&self, form: super::codec::StoredForm) -> String {
        format!("{self}{}", form.suffix())
    }

    /// `graph_<ts>.meta`, the name the application writes.
    pub fn meta_file_name(&self) -> String {
        format!("{self}.meta")
    }

    /// `graph_<ts>.json.meta`, the name the application looked for (and some
    /// tools wrote). Accepted when reading.
    pub fn alt_meta_file_name(&self) -> String {
        format!("{self}.json.meta")
    }

    /// Parses a file name found in `backups/` into the id and what kind of
    /// file it is. Anything that is not a backup data or meta file is `None`.
    pub fn from_file_name(name: &str) -> Option<(BackupId, BackupFileKind)> {
        let (stem, kind) = if let Some(s) = name.strip_suffix(".json.meta") {
            (s, BackupFileKind::AltMeta)
        } else if let Some(s) = name.strip_suffix(".meta") {
            (s, BackupFileKind::Meta)
        } else if let Some(s) = name.strip_suffix(".json") {
            (s, BackupFileKind::Data)
        } else if let Some(s) = name.strip_suffix(super::codec::DELTA_SUFFIX) {
            (s, BackupFileKind::Delta)
        } else if let Some(s) = name.strip_suffix(super::codec::ZSTD_SUFFIX) {
            (s, BackupFileKind::Zstd)
        } else {
            return None;
        };
        stem.parse().ok().map(|id| (id, kind))
    }
}

/// Sorts `items` newest first by creation. Backups that carry a
/// store-wide sequence number (graphvault writes one in every meta) are
/// ordered by it; backups without one (the application's, older ones) by
/// their names. Mixed, every backup first takes its place by name, then the
/// places held by numbered backups are handed out again in sequence order,
/// so a name from a clock that ran ahead or behind never moves a backup
/// before one made after it. With a correct clock this is name order.
pub fn creation_order<T>(items: &mut [T], key: impl Fn(&T) -> (&BackupId, Option<u64>)) {
    // Oldest first while rearranging, reversed at the end.
    items.sort_by(|a, b| key(a).0.cmp(key(b).0));
    let slots: Vec<usize> = (0..items.len())
        .filter(|&i| key(&items[i]).1.is_some())
        .collect();
    let mut by_sequence = slots.clone();
    by_sequence.sort_by(|&a, &b| {
        let (ia, sa) = key(&items[a]);
        let (ib, sb) = key(&items[b]);
        (sa, ia).cmp(&(sb, ib))
    });
    // Apply the permutation slots[k] <- by_sequence[k] without cloning T.
    let mut order: Vec<usize> = (0..items.len()).collect();
    for (slot, from) in slots.iter().zip(&by_sequence) {
        order[*slot] = *from;
    }
    apply_permutation(items, &mut order);
    items.reverse();
}

/// Reorders `items` so that position i holds what was at `order[i]`.
fn apply_permutation<T>(items: &mut [T], order: &mut [usize]) {
    for start in 0..items.len() {
        if order[start] == start {
            continue;
        }
        let mut current = start;
        loop {
            let source = order[current];
            order[current] = current;
            if source == start {
                break;
            }
            items.swap(current, source);
            current = source;
        }
    }
}

/// What a file in `backups/` is to its backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupFileKind {
    /// Plain JSON (`.json`).
    Data,
    /// One zstd frame (`.json.zst`).
    Zstd,
    /// A zstd delta against a full backup (`.json.delta.zst`).
    Delta,
    Meta,
    AltMeta,
}

impl Ord for BackupId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.time, self.seq).cmp(&(other.time, other.seq))
    }
}

impl PartialOrd for BackupId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for BackupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Digit by digit into one buffer (as `TIME_FORMAT` would write it; a
        // leap second as 60): every listed backup's paths and row go through
        // here, and `write!` with six padded fields was a tenth of a listing.
        let t = self.time;
        match u32::try_from(t.year()).ok().filter(|y| *y <= 9999) {
            Some(year) => {
                let leap = u32::from(t.nanosecond() >= 1_000_000_000);
                let mut name = *b"graph_00000000_000000";
                let fields = [
                    (6, 4, year),
                    (10, 2, t.month()),
                    (12, 2, t.day()),
                    (15, 2, t.hour()),
                    (17, 2, t.minute()),
                    (19, 2, t.second() + leap),
                ];
                for (at, width, mut value) in fields {
                    for slot in name[at..at + width].iter_mut().rev() {
                        *slot = b'0' + (value % 10) as u8;
                        value /= 10;
                    }
                }
                // ASCII digits written into an ASCII template.
                f.write_str(std::str::from_utf8(&name).map_err(|_| fmt::Error)?)?;
            }
            // A year no name holds (a clock gone far wrong): written as chrono
            // writes it, which no name parses back to.
            None => write!(f, "graph_{}", t.format(TIME_FORMAT))?,
        }
        if self.seq > 1 {
            write!(f, "_{}", self.seq)?;
        }
        Ok(())
    }
}

impl FromStr for BackupId {
    type Err = StoreError;

    /// Strict: `graph_` + 8 digits + `_` + 6 digits, optionally `_` + 1-6 digits
    /// (no leading zero, at least 2). Nothing else, so an id can never name a
    /// path outside `backups/`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |why: &str| StoreError::InvalidBackupId {
            id: s.chars().take(80).collect(),
            reason: why.to_string(),
        };
        let rest = s
            .strip_prefix("graph_")
            .ok_or_else(|| invalid("must start with `graph_`"))?;
        let bytes = rest.as_bytes();
        if bytes.len() < 15
            || !bytes[..8].iter().all(u8::is_ascii_digit)
            || bytes[8] != b'_'
            || !bytes[9..15].iter().all(u8::is_ascii_digit)
        {
            return Err(invalid("expected graph_YYYYMMDD_HHMMSS[_N]"));
        }
        let time = name_time(bytes)
            .ok_or_else(|| invalid("the date or time in the name does not exist"))?;
        let seq = match &rest[15..] {
            "" => 0,
            tail => {
                let digits = tail
                    .strip_prefix('_')
                    .ok_or_else(|| invalid("expected `_N` after the time"))?;
                if digits.is_empty()
                    || digits.len() > 6
                    || digits.starts_with('0')
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(invalid("the counter after the time must be 2..999999"));
                }
                let n: u32 = digits.parse().map_err(|_| invalid("bad counter"))?;
                if n < 2 {
                    return Err(invalid("the counter after the time must be 2..999999"));
                }
                n
            }
        };
        Ok(BackupId { time, seq })
    }
}

impl serde::Serialize for BackupId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The time of `YYYYMMDD_HHMMSS` (digits checked by the caller), read field by field: a
/// listing reads every name in `backups/`, and a strftime pattern parsed per name was a
/// twentieth of a listing's CPU. A leap second (`60`) is left to chrono's parser.
fn name_time(b: &[u8]) -> Option<NaiveDateTime> {
    let num =
        |r: std::ops::Range<usize>| b[r].iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    let sec = num(13..15);
    if sec >= 60 {
        let text = std::str::from_utf8(&b[..15]).ok()?;
        return NaiveDateTime::parse_from_str(text, TIME_FORMAT).ok();
    }
    let date = chrono::NaiveDate::from_ymd_opt(num(0..4) as i32, num(4..6), num(6..8))?;
    date.and_hms_opt(num(9..11), num(11..13), sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names' times read and written field by field, as chrono's pattern would.
    #[test]
    fn name_times_read_and_write_as_the_pattern_does() {
        let mut names: Vec<String> = Vec::new();
        for y in [0, 1, 999, 1970, 2000, 2024, 2025, 9999] {
            for (m, d) in [
                (1, 1),
                (2, 28),
                (2, 29),
                (2, 30),
                (4, 31),
                (12, 31),
                (0, 1),
                (13, 1),
                (1, 0),
                (1, 32),
            ] {
                for (h, mi, se) in [
                    (0, 0, 0),
                    (23, 59, 59),
                    (23, 59, 60),
                    (24, 0, 0),
                    (12, 60, 0),
                    (12, 0, 61),
                ] {
                    names.push(format!("{y:04}{m:02}{d:02}_{h:02}{mi:02}{se:02}"));
                }
            }
        }
        for name in names {
            let ours = name_time(name.as_bytes());
            let chrono = NaiveDateTime::parse_from_str(&name, TIME_FORMAT).ok();
            assert_eq!(ours, chrono, "{name}");
            if let Some(t) = ours {
                let id = BackupId { time: t, seq: 0 };
                assert_eq!(
                    id.to_string(),
                    format!("graph_{}", t.format(TIME_FORMAT)),
                    "{name}"
                );
            }
        }
        // Years no name holds are written as chrono writes them.
        for year in [-1, 10_000, 262_000] {
            let t = chrono::NaiveDate::from_ymd_opt(year, 1, 2)
                .and_then(|d| d.and_hms_opt(3, 4, 5))
                .expect("a time");
            let id = BackupId { time: t, seq: 2 };
            assert_eq!(
                id.to_string(),
                format!("graph_{}_2", t.format(TIME_FORMAT)),
                "{year}"
            );
            assert!(id.to_string().parse::<BackupId>().is_err(), "{year}");
        }
    }

    #[test]
    fn round_trips_plain_and_counter_names() {
        for s in [
            "graph_20251003_000432",
            "graph_20251003_000432_2",
            "graph_20251231_235959_999999",
        ] {
            let id: BackupId = s.parse().expect("valid id");
            assert_eq!(id.to_string(), s);
        }
    }

    #[test]
    fn rejects_hostile_and_malformed_ids() {
        for s in [
            "",
            "../graph_20251003_000432",
            "/etc/passwd",
            "graph_20251003_000432/../../x",
            "graph_20251003_000432_1",
            "graph_20251003_000432_02",
            "graph_20251003_000432_",
            "graph_20251303_000432",
            "graph_20251003_250000",
            "graph_2025100_0004321",
            "graph_20251003_000432.json",
            "graph_20251003_000432_1234567",
        ] {
            assert!(s.parse::<BackupId>().is_err(), "{s:?} should be refused");
        }
    }

    #[test]
    fn orders_by_time_then_counter() {
        let a: BackupId = "graph_20251003_000432".parse().expect("id");
        let b: BackupId = "graph_20251003_000432_2".parse().expect("id");
        let c: BackupId = "graph_20251003_000433".parse().expect("id");
        assert!(a < b && b < c);
        assert_eq!(a.next_in_second(), b);
    }

    #[test]
    fn every_next_name_parses_back_to_the_same_id() {
        // Regression (issue 8): `_999999` + 1 became `_1000000`, a name
        // nothing can parse, so its backup was missing from list, verify
        // and retention.
        let last: BackupId = "graph_20251003_000432_999999".parse().expect("id");
        let next = last.next_in_second();
        assert!(next > last);
        assert_eq!(next.to_string(), "graph_20251003_000433");
        for id in [last.clone(), next, BackupId::new(last.time(), u32::MAX)] {
            let back: BackupId = id.to_string().parse().expect("parses");
            assert_eq!(back, id);
        }
    }

    #[test]
    fn classifies_file_names() {
        use BackupFileKind::*;
        let k = |n: &str| BackupId::from_file_name(n).map(|(_, k)| k);
        assert_eq!(k("graph_20251003_000432.json"), Some(Data));
        assert_eq!(k("graph_20251003_000432.meta"), Some(Meta));
        assert_eq!(k("graph_20251003_000432.json.meta"), Some(AltMeta));
        assert_eq!(k("graph_20251003_000432.json.zst"), Some(Zstd));
        assert_eq!(k("graph_20251003_000432.json.delta.zst"), Some(Delta));
        assert_eq!(k(".gitkeep"), None);
        assert_eq!(k("20251001_161329"), None);
        assert_eq!(k("backup_20251001_161329"), None);
        assert_eq!(k("graph_20251003_000432.json.tmp"), None);
    }
}
