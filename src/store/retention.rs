//! Retention planning: given a policy and the backups that exist, decide which
//! ones to keep and which to remove, and say why for every single one.
//!
//! This module owns the decision only. It reads no files and deletes nothing;
//! rotation executes a [`RetentionPlan`] and the CLI and TUI render it, so a
//! dry run shows exactly what a real run would do.
//!
//! # Safety rules
//!
//! The Python application deleted backups by file mtime with no minimum, so
//! `retention_days=0`, a clock jump or copied mtimes removed every backup,
//! including the one just made. The planner therefore holds these whatever
//! the policy says:
//!
//! - Order is the time written in the backup's name, then its collision
//!   counter ([`BackupId`]'s order). Mtimes are never consulted.
//! - Only backups that verify ([`Health::Valid`]) count toward any rule.
//! - The newest valid backup is always kept, and so are the newest
//!   `min_valid` valid backups (the floor).
//! - `keep_within` is measured back from the newest backup dated no later
//!   than `now`, not from the wall clock, so a clock that jumps forward does
//!   not age everything out.
//! - A backup dated after `now` is kept and counted by no rule: either the
//!   clock is wrong now or it was wrong then, and neither is a reason to
//!   delete anything.
//! - Corrupt backups are kept aside for inspection and counted by no rule.
//! - What could not be judged is kept and counted by no rule: a backup
//!   whose meta or data could not be read ([`Health::Unjudged`]), and one
//!   whose checksum matches but carries no HMAC under a configured key
//!   ([`Health::Unauthenticated`]; "not authenticated" is not "no
//!   checksum"). Neither is corrupt.
//! - An unverified backup (no usable meta, so no checksum) is kept only while it is
//!   newer than the oldest valid backup being kept, and always while the
//!   valid backups do not reach the floor.
//! - With no valid backup to fall back on, nothing is removed at all.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{Datelike, Duration, NaiveDateTime};

use serde::{Deserialize, Serialize};

use crate::store::error::StoreError;
use crate::store::names::BackupId;

/// How many backups to keep, in the spirit of restic's `forget`: each rule
/// names backups it keeps, the union of all rules is kept, everything else
/// is removed (subject to the safety rules in the module docs).
///
/// In a config file a rule that is absent is off, `keep_within` is written
/// like `"30d"` or `"1d12h"`, and an absent `min_valid` means 3. Unknown keys
/// are refused: a misspelt rule silently ignored could delete backups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionPolicy {
    /// Keep the N newest valid backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<u32>,
    /// Keep every valid backup no older than this, measured back from the
    /// newest backup dated up to now (whatever its health: saves happened
    /// then), never from the wall clock.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "duration_text"
    )]
    pub keep_within: Option<Duration>,
    /// Keep the newest valid backup of each of the N most recent days that
    /// have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_daily: Option<u32>,
    /// Same per ISO week.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_weekly: Option<u32>,
    /// Same per calendar month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_monthly: Option<u32>,
    /// The newest `min_valid` valid backups are kept whatever the rules say.
    #[serde(default = "default_min_valid")]
    pub min_valid: u32,
}

const DEFAULT_KEEP_WITHIN_DAYS: i64 = 30;
const DEFAULT_MIN_VALID: u32 = 3;

fn default_min_valid() -> u32 {
    DEFAULT_MIN_VALID
}

impl Default for RetentionPolicy {
    /// The application's own 30-day retention, with a floor of 3 valid
    /// backups so that a quiet month never empties the backups directory.
    fn default() -> Self {
        RetentionPolicy {
            keep_last: None,
            keep_within: Some(Duration::days(DEFAULT_KEEP_WITHIN_DAYS)),
            keep_daily: None,
            keep_weekly: None,
            keep_monthly: None,
            min_valid: DEFAULT_MIN_VALID,
        }
    }
}

/// Months the store's default policy keeps one backup of: the month of
/// the newest backup and the 12 before it.
const THINNING_MONTHS: u32 = 13;

impl RetentionPolicy {
    /// The rules in a few words, as the command line spells them:
    /// `keep within 30d, keep monthly 13, min valid 3`.
    pub fn describe(&self) -> String {
        let count = |name: &str, v: Option<u32>| v.map(|n| format!("{name} {n}"));
        [
            count("keep last", self.keep_last),
            self.keep_within
                .map(|d| format!("keep within {}", format_duration(d))),
            count("keep daily", self.keep_daily),
            count("keep weekly", self.keep_weekly),
            count("keep monthly", self.keep_monthly),
            Some(format!("min valid {}", self.min_valid)),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ")
    }

    /// The store's default: everything within 30 days of the newest backup,
    /// plus the newest valid backup of each month for the 12 months before
    /// (the month of the newest backup and the 12 before it), and never
    /// fewer than 3 valid. A year-old history is thinned, not erased.
    pub fn thinning() -> Self {
        RetentionPolicy {
            keep_monthly: Some(THINNING_MONTHS),
            ..RetentionPolicy::application()
        }
    }

    /// The application's plain 30 days (with the floor of 3 valid): the
    /// same as [`RetentionPolicy::default`], named for explicit use.
    pub fn application() -> Self {
        RetentionPolicy::default()
    }

    fn has_rule(&self) -> bool {
        self.keep_last.is_some()
            || self.keep_within.is_some()
            || self.keep_daily.is_some()
            || self.keep_weekly.is_some()
            || self.keep_monthly.is_some()
    }

    /// Checks that the policy is one the planner will run.
    ///
    /// # Errors
    /// [`StoreError::InvalidPolicy`] listing every problem found: no rule at
    /// all, a rule set to zero, a `keep_within` that is not positive, or a
    /// `min_valid` of 0.
    pub fn validate(&self) -> Result<(), StoreError> {
        let mut problems: Vec<String> = Vec::new();
        if !self.has_rule() {
            problems.push(
                "it keeps nothing: set at least one of keep_last, keep_within, keep_daily, \
                 keep_weekly, keep_monthly"
                    .to_string(),
            );
        }
        for (name, value) in [
            ("keep_last", self.keep_last),
            ("keep_daily", self.keep_daily),
            ("keep_weekly", self.keep_weekly),
            ("keep_monthly", self.keep_monthly),
        ] {
            if value == Some(0) {
                problems.push(format!(
                    "{name} 0 would keep no backup by that rule (leave {name} out to turn it off)"
                ));
            }
        }
        if let Some(window) = self.keep_within
            && window <= Duration::zero()
        {
            problems.push(format!(
                "keep_within {} would keep no backup by that rule: it must be longer than zero",
                format_duration(window)
            ));
        }
        if self.min_valid == 0 {
            problems.push(
                "min_valid 0 would let every valid backup go: the newest valid backup is always \
                 kept, so the floor must be at least 1"
                    .to_string(),
            );
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(StoreError::InvalidPolicy(problems.join("; ")))
        }
    }
}

const MINUTES_PER_HOUR: i64 = 60;
const MINUTES_PER_DAY: i64 = 24 * MINUTES_PER_HOUR;
const MINUTES_PER_WEEK: i64 = 7 * MINUTES_PER_DAY;

/// Units of the duration text, largest first; a duration is written with
/// each unit at most once and in this order, so every duration has exactly
/// one spelling.
const DURATION_UNITS: [(char, i64); 4] = [
    ('w', MINUTES_PER_WEEK),
    ('d', MINUTES_PER_DAY),
    ('h', MINUTES_PER_HOUR),
    ('m', 1),
];

/// Parses a duration such as `30d`, `12h`, `90m`, `2w` or `1d12h`
/// (w = weeks, d = days, h = hours, m = minutes).
///
/// # Errors
/// [`StoreError::InvalidPolicy`] saying what is wrong with the text: empty,
/// zero, negative, fractional, an unknown or repeated unit, units out of
/// order, or too large.
pub fn parse_duration(text: &str) -> Result<Duration, StoreError> {
    let refuse = |why: &str| {
        StoreError::InvalidPolicy(format!(
            "duration {:?}: {why}",
            text.chars().take(40).collect::<String>()
        ))
    };
    let units_help = "units are w (weeks), d (days), h (hours), m (minutes), as in 30d or 1d12h";
    let s = text.trim();
    if s.is_empty() {
        return Err(refuse(&format!("is empty; {units_help}")));
    }
    if s.starts_with('-') {
        return Err(refuse("negative durations are not allowed"));
    }
    let mut total_minutes: i64 = 0;
    let mut previous_unit: Option<usize> = None;
    let mut rest = s;
    while !rest.is_empty() {
        let digit_count = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digit_count == 0 {
            return Err(refuse(&format!(
                "expected a number at {rest:?}; {units_help}"
            )));
        }
        let (digits, after) = rest.split_at(digit_count);
        let mut chars = after.chars();
        let unit = chars
            .next()
            .ok_or_else(|| refuse(&format!("{digits} has no unit; {units_help}")))?;
        let Some(rank) = DURATION_UNITS.iter().position(|&(u, _)| u == unit) else {
            let why = match unit {
                '.' | ',' => {
                    "fractions are not supported; write 1d12h rather than 1.5d".to_string()
                }
                'M' | 'y' | 'Y' => {
                    "months and years vary in length; use keep_monthly, or days or weeks"
                        .to_string()
                }
                's' => "seconds are finer than backups need; use minutes (m)".to_string(),
                other => format!("unknown unit {other:?}; {units_help}"),
            };
            return Err(refuse(&why));
        };
        if previous_unit.is_some_and(|p| rank <= p) {
            return Err(refuse(
                "each unit may appear once, largest first (w, d, h, m), as in 1d12h",
            ));
        }
        previous_unit = Some(rank);
        let too_large = || refuse("is too large");
        let count: i64 = digits.parse().map_err(|_| too_large())?;
        total_minutes = count
            .checked_mul(DURATION_UNITS[rank].1)
            .and_then(|m| total_minutes.checked_add(m))
            .ok_or_else(too_large)?;
        rest = chars.as_str();
    }
    if total_minutes == 0 {
        return Err(refuse("must be longer than zero"));
    }
    Duration::try_minutes(total_minutes).ok_or_else(|| refuse("is too large"))
}

/// Writes a duration the way [`parse_duration`] reads it, largest units
/// first: 90 minutes is `1h30m`, 36 hours `1d12h`. Weeks are used only for a
/// whole number of weeks (14 days is `2w`, 30 days stays `30d`, which is how
/// people say it). A duration that is not a whole number of minutes is
/// rounded up, because a longer window keeps more and never less.
pub fn format_duration(duration: Duration) -> String {
    if duration < Duration::zero() {
        return format!("-{}", format_duration(duration.abs()));
    }
    let seconds = duration.num_seconds();
    let mut minutes = seconds / 60;
    if seconds % 60 != 0 || duration.subsec_nanos() != 0 {
        minutes += 1;
    }
    if minutes == 0 {
        return "0m".to_string();
    }
    let mut out = String::new();
    for (unit, size) in DURATION_UNITS {
        if unit == 'w' && minutes % size != 0 {
            continue;
        }
        let count = minutes / size;
        if count > 0 {
            let _ = write!(out, "{count}{unit}");
            minutes %= size;
        }
    }
    out
}

/// `keep_within` as text in config files, so people write `"30d"` rather
/// than a number of seconds.
pub(crate) mod duration_text {
    use chrono::Duration;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => s.serialize_str(&super::format_duration(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(text) => super::parse_duration(&text)
                .map(Some)
                .map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

/// What verification said about a backup, as retention counts it.
///
/// Only [`Health::Valid`] counts toward any rule. The other kinds are kept
/// apart because they are not the same thing: a backup whose bytes match
/// their checksum but carry no HMAC under a key is not one without a
/// checksum, and a backup that could not be read is neither.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Its checksum matches (and its HMAC, with a key) and it parses.
    Valid,
    /// Its bytes match their checksum and it parses, but a key is
    /// configured and its meta has no HMAC (written before the key, or by
    /// the application). Kept, counted by no rule, never removed for it:
    /// restoring it is an explicit choice.
    Unauthenticated,
    /// It parses, but it has no usable meta and so no checksum to prove it
    /// whole.
    Unverified,
    /// It could not be judged: its meta or data could not be read
    /// (permission, I/O error, a symlink), or verification did not finish.
    /// Kept and counted by no rule; the text says why.
    Unjudged(String),
    /// It failed verification; the text says how (shown to the operator).
    Corrupt(String),
}

impl Health {
    /// The one rule turning a verification into a retention health (used
    /// by rotation and by the UI's preview).
    pub fn judge(r: &crate::store::verify::FileReport) -> Health {
        use crate::store::verify::Status;
        let why = || {
            r.reason
                .clone()
                .unwrap_or_else(|| r.status.name().to_string())
        };
        if r.unreadable {
            return Health::Unjudged(why());
        }
        match r.status {
            Status::Valid => Health::Valid,
            Status::Unverified if r.authenticated == Some(false) => Health::Unauthenticated,
            Status::Unverified => Health::Unverified,
            Status::Corrupt | Status::Missing => Health::Corrupt(why()),
        }
    }
}

impl From<&crate::store::verify::FileReport> for Health {
    fn from(r: &crate::store::verify::FileReport) -> Health {
        Health::judge(r)
    }
}

/// One backup the planner decides about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: BackupId,
    pub health: Health,
    /// The store-wide creation sequence from its meta, when graphvault
    /// wrote one; order is by it, names are the fallback.
    pub sequence: Option<u64>,
    /// Made by the save that runs this retention: being new, it ages
    /// nothing out (windows are measured from the backups before it).
    pub just_made: bool,
}

impl Candidate {
    /// A candidate without a sequence, not made by the running save.
    pub fn new(id: BackupId, health: Health) -> Candidate {
        Candidate {
            id,
            health,
            sequence: None,
            just_made: false,
        }
    }
}

/// What happens to a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Keep,
    Remove,
}

/// The fate of one backup and every reason for it, in words for an operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub id: BackupId,
    pub action: Action,
    pub reasons: Vec<String>,
}

/// A decision for every candidate, newest first, with totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetentionPlan {
    pub decisions: Vec<Decision>,
    pub kept: usize,
    pub removed: usize,
    /// Valid backups kept (future-dated ones included).
    pub kept_valid: usize,
    /// What looks wrong with the clock, when something does (then the
    /// plan says whether anything was removed on its word: nothing is).
    pub clock_warning: Option<String>,
}

/// Keeps the base of every delta the plan keeps: a delta is read through
/// its base, so removing the base would lose the delta too. `deltas` are
/// pairs (delta, its base). A delta depends on one full backup, never on
/// a chain, so one pass settles it. Returns the bases this kept.
pub fn keep_bases_of_kept_deltas(
    plan: &mut RetentionPlan,
    deltas: &[(BackupId, BackupId)],
) -> Vec<BackupId> {
    let kept: std::collections::HashSet<&BackupId> = plan
        .decisions
        .iter()
        .filter(|d| d.action == Action::Keep)
        .map(|d| &d.id)
        .collect();
    let mut needed: BTreeMap<BackupId, Vec<&BackupId>> = BTreeMap::new();
    for (delta, base) in deltas {
        if kept.contains(delta) {
            needed.entry(base.clone()).or_default().push(delta);
        }
    }
    let mut changed = Vec::new();
    for decision in &mut plan.decisions {
        if decision.action != Action::Remove {
            continue;
        }
        let Some(by) = needed.get(&decision.id) else {
            continue;
        };
        decision.action = Action::Keep;
        let names: Vec<String> = by.iter().map(|d| d.to_string()).collect();
        decision.reasons.push(format!(
            "kept: the base of delta{} {}, which {} kept (a delta is read through its base)",
            if names.len() == 1 { "" } else { "s" },
            names.join(", "),
            if names.len() == 1 { "is" } else { "are" }
        ));
        plan.removed -= 1;
        plan.kept += 1;
        changed.push(decision.id.clone());
    }
    changed
}

/// What a plan that removes anything relies on: the positions in
/// `candidates` of the newest valid backups dated up to `now`, as many as
/// the floor keeps. Retention confirms them in its run before it removes
/// anything (`rotate.rs`), and a save hashes them ahead (`prefetch.rs`).
pub fn relied_on(
    policy: &RetentionPolicy,
    candidates: &[Candidate],
    now: NaiveDateTime,
) -> impl Iterator<Item = usize> {
    candidates
        .iter()
        .enumerate()
        .filter(move |(_, c)| c.health == Health::Valid && c.id.time() <= now)
        .take(policy.min_valid.max(1) as usize)
        .map(|(i, _)| i)
}

/// Decides, for every candidate, whether `policy` keeps or removes it and
/// why. `now` only serves to recognise backups dated in the future; ages are
/// measured from the newest backup.
///
/// # Errors
/// [`StoreError::InvalidPolicy`] when the policy does not validate (see
/// [`RetentionPolicy::validate`]), and [`StoreError::Invalid`] when the same
/// backup id is listed twice (a listing bug: nothing should be decided on
/// it). Either way no plan is produced, so nothing can be removed.
pub fn plan(
    policy: &RetentionPolicy,
    candidates: &[Candidate],
    now: NaiveDateTime,
) -> Result<RetentionPlan, StoreError> {
    #[cfg(feature = "negative-controls")]
    if crate::store::negative_controls::drop_retention_guards() {
        let none = Safeguards {
            newest_valid: false,
            floor: false,
        };
        return plan_with(policy, candidates, now, none);
    }
    plan_with(policy, candidates, now, Safeguards::ALL)
}

/// The two rules that hold whatever the policy says. Each one alone protects
/// the newest valid backup; tests switch them off to prove the property test
/// notices a planner without them.
#[derive(Debug, Clone, Copy)]
struct Safeguards {
    newest_valid: bool,
    floor: bool,
}

impl Safeguards {
    const ALL: Safeguards = Safeguards {
        newest_valid: true,
        floor: true,
    };
}

/// Keep flags and reasons, indexed like the newest-first candidate list.
struct Marks {
    keep: Vec<bool>,
    reasons: Vec<Vec<String>>,
}

impl Marks {
    fn keep(&mut self, index: usize, reason: String) {
        self.keep[index] = true;
        self.reasons[index].push(reason);
    }

    fn note(&mut self, index: usize, reason: String) {
        self.reasons[index].push(reason);
    }
}

/// A calendar period the bucket rules group backups by.
#[derive(Debug, Clone, Copy)]
enum Period {
    Day,
    Week,
    Month,
}

impl Period {
    /// Names the period a time falls in; equal labels mean the same period.
    fn label(self, time: NaiveDateTime) -> String {
        match self {
            Period::Day => time.format("%Y-%m-%d").to_string(),
            Period::Week => {
                let week = time.iso_week();
                format!("{:04}-W{:02}", week.year(), week.week())
            }
            Period::Month => time.format("%Y-%m").to_string(),
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }

    fn rule(self) -> &'static str {
        match self {
            Period::Day => "daily",
            Period::Week => "weekly",
            Period::Month => "monthly",
        }
    }
}

const NEWEST_VALID_REASON: &str = "newest valid backup (always kept)";
const OUTSIDE_RULES_REASON: &str = "outside every rule";
const UNAUTHENTICATED_REASON: &str = "not authenticated (its checksum matches, but its meta has no HMAC \
     under the configured key): kept, counted by no rule";

fn plan_with(
    policy: &RetentionPolicy,
    candidates: &[Candidate],
    now: NaiveDateTime,
    safeguards: Safeguards,
) -> Result<RetentionPlan, StoreError> {
    policy.validate()?;

    let mut ids: Vec<&BackupId> = candidates.iter().map(|c| &c.id).collect();
    ids.sort();
    if let Some(pair) = ids.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(StoreError::Invalid(format!(
            "backup {} is listed twice; refusing to plan retention on a listing that repeats itself",
            pair[0]
        )));
    }
    // Newest first by creation, never by a clock that may have been wrong.
    let mut order: Vec<&Candidate> = candidates.iter().collect();
    crate::store::names::creation_order(&mut order, |c| (&c.id, c.sequence));

    let count = order.len();
    let mut marks = Marks {
        keep: vec![false; count],
        reasons: vec![Vec::new(); count],
    };
    let is_future = |c: &Candidate| c.id.time() > now;
    let clock = judge_clock(&order, now, policy);

    for (i, c) in order.iter().enumerate() {
        if is_future(c) {
            marks.keep(
                i,
                format!(
                    "dated in the future ({} > now {}): kept, counted by no rule",
                    c.id.time().format("%Y-%m-%d %H:%M:%S"),
                    now.format("%Y-%m-%d %H:%M:%S")
                ),
            );
        }
        if c.just_made {
            marks.keep(i, "made by this save: kept".to_string());
        }
        match &c.health {
            Health::Corrupt(why) => marks.keep(
                i,
                format!("corrupt ({why}): kept aside for inspection, not counted"),
            ),
            Health::Unauthenticated => marks.keep(i, UNAUTHENTICATED_REASON.to_string()),
            Health::Unjudged(why) => marks.keep(
                i,
                format!("could not be judged ({why}): kept, counted by no rule"),
            ),
            Health::Valid | Health::Unverified => {}
        }
    }

    // The rules only ever see valid backups dated up to now, newest first.
    let present_valid: Vec<usize> = (0..count)
        .filter(|&i| order[i].health == Health::Valid && !is_future(order[i]))
        .collect();

    if present_valid.is_empty() {
        let why = if order.iter().any(|c| c.health == Health::Valid) {
            "every valid backup is dated in the future: nothing is removed until one is dated up to now"
        } else {
            "no backup verifies: nothing is removed while there is no valid backup to fall back on"
        };
        for (i, c) in order.iter().enumerate() {
            if c.health == Health::Unverified && !is_future(c) {
                marks.note(i, "unverified (no usable meta, so no checksum)".to_string());
            }
            marks.keep(i, why.to_string());
        }
        return Ok(finish(&order, marks, clock.warning));
    }

    if clock.remove_nothing {
        let why = format!(
            "the clock is in doubt, so nothing is removed on its word: {}",
            clock.warning.as_deref().unwrap_or("")
        );
        for i in 0..count {
            marks.keep(i, why.clone());
        }
        return Ok(finish(&order, marks, clock.warning));
    }

    if safeguards.newest_valid {
        marks.keep(present_valid[0], NEWEST_VALID_REASON.to_string());
    }

    if let Some(n) = policy.keep_last {
        for &i in present_valid.iter().take(n as usize) {
            marks.keep(i, format!("within last {n}"));
        }
    }

    if let Some(window) = policy.keep_within {
        // Measured from the newest backup dated up to now, but never from
        // the one the running save just made: a save never ages anything
        // out merely by being new (its clock may be far ahead).
        let reference = order
            .iter()
            .find(|c| !is_future(c) && !c.just_made)
            .or_else(|| order.iter().find(|c| !is_future(c)));
        if let Some(reference) = reference {
            let newest = reference.id.time();
            // A window reaching past the calendar's start covers everything.
            let cutoff = newest.checked_sub_signed(window);
            let reason = format!(
                "within {} of newest backup ({})",
                format_duration(window),
                newest.format("%Y-%m-%d %H:%M")
            );
            // Creation order need not follow the names' times (a clock
            // that was off): look at every one.
            for &i in &present_valid {
                if cutoff.is_some_and(|c| order[i].id.time() < c) {
                    continue;
                }
                marks.keep(i, reason.clone());
            }
        }
    }

    for (period, wanted) in [
        (Period::Day, policy.keep_daily),
        (Period::Week, policy.keep_weekly),
        (Period::Month, policy.keep_monthly),
    ] {
        if let Some(n) = wanted {
            keep_newest_per_period(&mut marks, &order, &present_valid, period, n);
        }
    }

    if safeguards.floor {
        let floor = policy.min_valid;
        let reason = format!(
            "floor: keeps at least {floor} valid backup{}",
            if floor == 1 { "" } else { "s" }
        );
        for &i in present_valid.iter().take(floor as usize) {
            marks.keep(i, reason.clone());
        }
    }

    let oldest_kept_valid = present_valid
        .iter()
        .rev()
        .find(|&&i| marks.keep[i])
        .map(|&i| (i, order[i].id.clone()));

    let floor_unmet = safeguards.floor && present_valid.len() < policy.min_valid as usize;
    for (i, c) in order.iter().enumerate() {
        if marks.keep[i] || is_future(c) {
            continue;
        }
        match &c.health {
            Health::Valid => marks.note(i, OUTSIDE_RULES_REASON.to_string()),
            // With fewer valid backups than the floor asks for, a backup
            // without a checksum is the best fallback left: the floor
            // holds by keeping it.
            Health::Unverified if floor_unmet => marks.keep(
                i,
                format!(
                    "unverified (no usable meta, so no checksum): only {} valid backup{} below the floor of \
                     {}, so kept as a fallback, but not counted",
                    present_valid.len(),
                    if present_valid.len() == 1 { " is" } else { "s are" },
                    policy.min_valid
                ),
            ),
            Health::Unverified => match &oldest_kept_valid {
                Some((at, oldest)) if i < *at => marks.keep(
                    i,
                    format!(
                        "unverified (no usable meta, so no checksum): newer than the oldest kept valid \
                         backup {oldest}, so kept, but not counted"
                    ),
                ),
                Some(_) => marks.note(
                    i,
                    "unverified (no checksum) and older than every valid backup kept".to_string(),
                ),
                // Only reachable with the safeguards off: with no valid
                // backup kept there is nothing better to fall back on.
                None => marks.keep(
                    i,
                    "unverified (no usable meta, so no checksum): no valid backup is kept".to_string(),
                ),
            },
            Health::Corrupt(_) | Health::Unauthenticated | Health::Unjudged(_) => {}
        }
    }

    Ok(finish(&order, marks, clock.warning))
}

/// What the backups say about the clock.
struct ClockJudgement {
    warning: Option<String>,
    /// The clock reads earlier than when the newest backup was made: either
    /// it is behind now or it was ahead then, and neither is a reason to
    /// remove anything.
    remove_nothing: bool,
}

/// How far a name may be ahead of `now` before the clock is in doubt
/// (clock corrections and DST steps are smaller).
const CLOCK_TOLERANCE_MINUTES: i64 = 5;

/// How far two clocks may disagree and still be taken as one (see
/// [`CLOCK_TOLERANCE_MINUTES`]); the trash's purge uses it too.
pub(crate) fn clock_tolerance() -> Duration {
    Duration::minutes(CLOCK_TOLERANCE_MINUTES)
}

fn judge_clock(
    order: &[&Candidate],
    now: NaiveDateTime,
    policy: &RetentionPolicy,
) -> ClockJudgement {
    let tolerance = Duration::minutes(CLOCK_TOLERANCE_MINUTES);
    let fmt = |t: NaiveDateTime| t.format("%Y-%m-%d %H:%M:%S").to_string();
    // The newest backup by creation other than the one just made: the
    // clock must not read earlier than when it was made.
    if let Some(last) = order.iter().find(|c| !c.just_made)
        && now
            .checked_add_signed(tolerance)
            .is_some_and(|n| last.id.time() > n)
    {
        return ClockJudgement {
            warning: Some(format!(
                "the newest backup {} is dated {}, after the clock's now ({}): either the clock \
                 is behind now or it was ahead when that backup was made; check the system \
                 clock",
                last.id,
                fmt(last.id.time()),
                fmt(now)
            )),
            remove_nothing: true,
        };
    }
    // A backup just made far after every other: a long pause, or a clock
    // far ahead. This save ages nothing out by it; say so, because the
    // next retention will measure from it.
    if let (Some(made), Some(before)) = (
        order.iter().find(|c| c.just_made),
        order.iter().find(|c| !c.just_made),
    ) {
        let gap = made.id.time() - before.id.time();
        let window = policy.keep_within.unwrap_or(Duration::days(30));
        if gap > window {
            return ClockJudgement {
                warning: Some(format!(
                    "the backup just made ({}) is dated {} after the newest one before it ({}): \
                     if the clock is ahead, correct it before the next save, which measures ages \
                     from this backup; this save aged nothing out by it",
                    made.id,
                    format_duration(gap),
                    before.id
                )),
                remove_nothing: false,
            };
        }
    }
    ClockJudgement {
        warning: None,
        remove_nothing: false,
    }
}

/// Keeps the newest valid backup of each of the `wanted` most recent periods
/// that contain one.
fn keep_newest_per_period(
    marks: &mut Marks,
    order: &[&Candidate],
    present_valid: &[usize],
    period: Period,
    wanted: u32,
) {
    let mut periods_seen: u32 = 0;
    let mut current: Option<String> = None;
    for &i in present_valid {
        let label = period.label(order[i].id.time());
        if current.as_deref() == Some(label.as_str()) {
            continue;
        }
        periods_seen += 1;
        if periods_seen > wanted {
            break;
        }
        marks.keep(
            i,
            format!(
                "newest of {} {label} ({} {periods_seen}/{wanted})",
                period.noun(),
                period.rule()
            ),
        );
        current = Some(label);
    }
}

fn finish(order: &[&Candidate], marks: Marks, clock_warning: Option<String>) -> RetentionPlan {
    let mut kept = 0;
    let mut kept_valid = 0;
    let decisions: Vec<Decision> = order
        .iter()
        .zip(marks.keep)
        .zip(marks.reasons)
        .map(|((c, keep), reasons)| {
            if keep {
                kept += 1;
                if c.health == Health::Valid {
                    kept_valid += 1;
                }
            }
            Decision {
                id: c.id.clone(),
                action: if keep { Action::Keep } else { Action::Remove },
                reasons,
            }
        })
        .collect();
    RetentionPlan {
        removed: decisions.len() - kept,
        decisions,
        kept,
        kept_valid,
        clock_warning,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    use chrono::NaiveDate;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestError, TestRunner};

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").expect("test time")
    }

    fn id(text: &str) -> BackupId {
        text.parse().expect("test id")
    }

    fn valid(text: &str) -> Candidate {
        Candidate::new(id(text), Health::Valid)
    }

    fn unverified(text: &str) -> Candidate {
        Candidate::new(id(text), Health::Unverified)
    }

    fn corrupt(text: &str) -> Candidate {
        Candidate::new(id(text), Health::Corrupt("checksum mismatch".to_string()))
    }

    fn with_health(text: &str, health: Health) -> Candidate {
        Candidate::new(id(text), health)
    }

    fn only(rule: impl FnOnce(&mut RetentionPolicy)) -> RetentionPolicy {
        let mut policy = RetentionPolicy {
            keep_within: None,
            min_valid: 1,
            ..RetentionPolicy::default()
        };
        rule(&mut policy);
        policy
    }

    fn decision<'a>(plan: &'a RetentionPlan, name: &str) -> &'a Decision {
        let wanted = id(name);
        plan.decisions
            .iter()
            .find(|d| d.id == wanted)
            .expect("a decision for every candidate")
    }

    fn kept_names(plan: &RetentionPlan) -> Vec<String> {
        plan.decisions
            .iter()
            .filter(|d| d.action == Action::Keep)
            .map(|d| d.id.to_string())
            .collect()
    }

    fn has_reason(d: &Decision, fragment: &str) -> bool {
        d.reasons.iter().any(|r| r.contains(fragment))
    }

    fn policy_error(result: Result<impl std::fmt::Debug, StoreError>) -> String {
        match result {
            Err(StoreError::InvalidPolicy(why)) => why,
            other => panic!("expected InvalidPolicy, got {other:?}"),
        }
    }

    // ---- durations ----

    #[test]
    fn parses_the_documented_duration_forms() {
        for (text, minutes) in [
            ("30d", 30 * MINUTES_PER_DAY),
            ("12h", 12 * 60),
            ("90m", 90),
            ("2w", 2 * MINUTES_PER_WEEK),
            ("1d12h", MINUTES_PER_DAY + 12 * 60),
            (
                "1w2d3h4m",
                MINUTES_PER_WEEK + 2 * MINUTES_PER_DAY + 3 * 60 + 4,
            ),
            (" 7d ", 7 * MINUTES_PER_DAY),
        ] {
            assert_eq!(
                parse_duration(text).expect("valid duration"),
                Duration::minutes(minutes),
                "{text:?}"
            );
        }
    }

    #[test]
    fn refuses_bad_durations_with_a_reason() {
        for (text, why) in [
            ("", "empty"),
            ("   ", "empty"),
            ("0d", "longer than zero"),
            ("0m", "longer than zero"),
            ("0w0d", "longer than zero"),
            ("-1d", "negative"),
            ("30", "no unit"),
            ("d", "expected a number"),
            ("30x", "unknown unit"),
            ("1.5d", "fractions"),
            ("3M", "months and years"),
            ("1y", "months and years"),
            ("30s", "seconds"),
            ("12h1d", "largest first"),
            ("1d1d", "largest first"),
            ("1d 12h", "expected a number"),
            ("99999999999999999999d", "too large"),
            ("9999999999999999w", "too large"),
            ("+3d", "expected a number"),
            ("٣d", "expected a number"),
        ] {
            let err = policy_error(parse_duration(text));
            assert!(err.contains(why), "{text:?}: {err}");
        }
    }

    #[test]
    fn formats_durations_largest_unit_first() {
        for (minutes, text) in [
            (14 * MINUTES_PER_DAY, "2w"),
            (30 * MINUTES_PER_DAY, "30d"),
            (15 * MINUTES_PER_DAY + 1, "15d1m"),
            (
                MINUTES_PER_WEEK + 2 * MINUTES_PER_DAY + 3 * 60 + 4,
                "9d3h4m",
            ),
            (90, "1h30m"),
            (MINUTES_PER_DAY + 12 * 60, "1d12h"),
            (1, "1m"),
        ] {
            assert_eq!(format_duration(Duration::minutes(minutes)), text);
        }
        assert_eq!(format_duration(Duration::zero()), "0m");
        assert_eq!(format_duration(Duration::days(-2)), "-2d");
        // Rounded up: a window never shrinks by being written down.
        assert_eq!(format_duration(Duration::seconds(61)), "2m");
        assert_eq!(format_duration(Duration::milliseconds(1)), "1m");
    }

    // ---- the policy ----

    #[test]
    fn default_is_thirty_days_with_a_floor_of_three() {
        let policy = RetentionPolicy::default();
        assert_eq!(policy.keep_within, Some(Duration::days(30)));
        assert_eq!(policy.min_valid, 3);
        assert_eq!(
            (
                policy.keep_last,
                policy.keep_daily,
                policy.keep_weekly,
                policy.keep_monthly
            ),
            (None, None, None, None)
        );
        policy.validate().expect("the default policy is valid");
    }

    #[test]
    fn reads_and_writes_the_config_form() {
        let policy: RetentionPolicy =
            serde_json::from_str(r#"{"keep_within": "1d12h", "keep_daily": 7}"#).expect("parses");
        assert_eq!(policy.keep_within, Some(Duration::hours(36)));
        assert_eq!(policy.keep_daily, Some(7));
        assert_eq!(policy.keep_last, None);
        assert_eq!(policy.min_valid, 3, "an absent floor means the default");

        let json = serde_json::to_value(&policy).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({"keep_within": "1d12h", "keep_daily": 7, "min_valid": 3})
        );
        let back: RetentionPolicy = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, policy);

        let default_json = serde_json::to_string(&RetentionPolicy::default()).expect("serializes");
        assert_eq!(default_json, r#"{"keep_within":"30d","min_valid":3}"#);

        let null_window: RetentionPolicy =
            serde_json::from_str(r#"{"keep_within": null, "keep_last": 2}"#).expect("parses");
        assert_eq!(null_window.keep_within, None);
    }

    #[test]
    fn config_refuses_typos_and_bad_durations() {
        let typo = serde_json::from_str::<RetentionPolicy>(r#"{"keep_dayly": 7}"#)
            .expect_err("unknown key");
        assert!(typo.to_string().contains("keep_dayly"), "{typo}");

        let zero = serde_json::from_str::<RetentionPolicy>(r#"{"keep_within": "0d"}"#)
            .expect_err("zero window");
        assert!(zero.to_string().contains("longer than zero"), "{zero}");

        let number = serde_json::from_str::<RetentionPolicy>(r#"{"keep_within": 30}"#)
            .expect_err("a bare number is ambiguous");
        assert!(number.to_string().contains("invalid type"), "{number}");
    }

    #[test]
    fn refuses_a_policy_that_keeps_nothing() {
        let empty = RetentionPolicy {
            keep_within: None,
            ..RetentionPolicy::default()
        };
        assert!(policy_error(empty.validate()).contains("keeps nothing"));
        // An empty config file is not "the defaults": it names no rule.
        let from_file: RetentionPolicy = serde_json::from_str("{}").expect("parses");
        assert!(policy_error(from_file.validate()).contains("keeps nothing"));
    }

    #[test]
    fn refuses_zero_rules_and_a_zero_floor_saying_why() {
        let base = RetentionPolicy::default();
        let cases: [(RetentionPolicy, &str); 6] = [
            (
                RetentionPolicy {
                    keep_last: Some(0),
                    ..base.clone()
                },
                "keep_last 0 would keep no backup",
            ),
            (
                RetentionPolicy {
                    keep_daily: Some(0),
                    ..base.clone()
                },
                "keep_daily 0 would keep no backup",
            ),
            (
                RetentionPolicy {
                    keep_weekly: Some(0),
                    ..base.clone()
                },
                "keep_weekly 0 would keep no backup",
            ),
            (
                RetentionPolicy {
                    keep_monthly: Some(0),
                    ..base.clone()
                },
                "keep_monthly 0 would keep no backup",
            ),
            (
                RetentionPolicy {
                    keep_within: Some(Duration::zero()),
                    ..base.clone()
                },
                "keep_within 0m would keep no backup",
            ),
            (
                RetentionPolicy {
                    min_valid: 0,
                    ..base.clone()
                },
                "floor must be at least 1",
            ),
        ];
        for (policy, why) in cases {
            let err = policy_error(policy.validate());
            assert!(err.contains(why), "{err}");
            let candidates = [valid("graph_20251003_000432")];
            let refused = policy_error(plan(&policy, &candidates, at("2025-10-03 12:00:00")));
            assert!(refused.contains(why), "plan must refuse too: {refused}");
        }
        let negative = RetentionPolicy {
            keep_within: Some(Duration::days(-1)),
            ..base
        };
        assert!(policy_error(negative.validate()).contains("keep_within -1d"));
    }

    #[test]
    fn reports_every_problem_at_once() {
        let policy = RetentionPolicy {
            keep_last: Some(0),
            keep_within: None,
            keep_daily: None,
            keep_weekly: Some(0),
            keep_monthly: None,
            min_valid: 0,
        };
        let err = policy_error(policy.validate());
        for fragment in ["keep_last 0", "keep_weekly 0", "min_valid 0"] {
            assert!(err.contains(fragment), "{err}");
        }
    }

    // ---- planning ----

    #[test]
    fn no_candidates_make_an_empty_plan() {
        let plan = plan(&RetentionPolicy::default(), &[], at("2025-10-03 12:00:00")).expect("plan");
        assert!(plan.decisions.is_empty());
        assert_eq!((plan.kept, plan.removed, plan.kept_valid), (0, 0, 0));
    }

    #[test]
    fn keep_last_keeps_the_newest_valid_ones_and_says_so() {
        let candidates: Vec<Candidate> = (1..=8)
            .map(|day| valid(&format!("graph_2025100{day}_120000")))
            .collect();
        let policy = only(|p| p.keep_last = Some(5));
        let plan = plan(&policy, &candidates, at("2025-10-09 00:00:00")).expect("plan");
        assert_eq!(
            kept_names(&plan),
            [
                "graph_20251008_120000",
                "graph_20251007_120000",
                "graph_20251006_120000",
                "graph_20251005_120000",
                "graph_20251004_120000"
            ]
        );
        let newest = decision(&plan, "graph_20251008_120000");
        assert_eq!(newest.reasons[0], NEWEST_VALID_REASON);
        assert!(has_reason(newest, "within last 5"));
        let fifth = decision(&plan, "graph_20251004_120000");
        assert_eq!(fifth.reasons, ["within last 5"]);
        let sixth = decision(&plan, "graph_20251003_120000");
        assert_eq!(sixth.action, Action::Remove);
        assert_eq!(sixth.reasons, [OUTSIDE_RULES_REASON]);
        assert_eq!((plan.kept, plan.removed, plan.kept_valid), (5, 3, 5));
    }

    #[test]
    fn the_floor_keeps_the_newest_valid_backups_whatever_the_rules_say() {
        let candidates = [
            valid("graph_20250101_000000"),
            valid("graph_20250201_000000"),
            valid("graph_20250301_000000"),
            valid("graph_20250401_000000"),
        ];
        let policy = RetentionPolicy {
            keep_last: Some(1),
            keep_within: None,
            min_valid: 3,
            ..RetentionPolicy::default()
        };
        let plan = plan(&policy, &candidates, at("2025-05-01 00:00:00")).expect("plan");
        assert_eq!(plan.kept_valid, 3);
        let second = decision(&plan, "graph_20250301_000000");
        assert_eq!(second.action, Action::Keep);
        assert_eq!(second.reasons, ["floor: keeps at least 3 valid backups"]);
        assert_eq!(
            decision(&plan, "graph_20250101_000000").action,
            Action::Remove
        );

        let single = RetentionPolicy {
            min_valid: 1,
            ..policy
        };
        let plan = super::plan(&single, &candidates, at("2025-05-01 00:00:00")).expect("plan");
        assert!(has_reason(
            decision(&plan, "graph_20250401_000000"),
            "floor: keeps at least 1 valid backup"
        ));
    }

    #[test]
    fn a_zero_day_like_window_still_keeps_the_newest_and_the_floor() {
        // The application's retention_days=0 deleted every backup. The
        // nearest a valid policy gets is a one-minute window.
        let candidates = [
            valid("graph_20251001_100000"),
            valid("graph_20251002_100000"),
            valid("graph_20251003_100000"),
            valid("graph_20251003_100500"),
        ];
        let policy = RetentionPolicy {
            keep_within: Some(parse_duration("1m").expect("duration")),
            min_valid: 2,
            ..RetentionPolicy::default()
        };
        let plan = plan(&policy, &candidates, at("2025-10-03 10:05:00")).expect("plan");
        assert_eq!(
            kept_names(&plan),
            ["graph_20251003_100500", "graph_20251003_100000"]
        );
        let second = decision(&plan, "graph_20251003_100000");
        assert_eq!(second.reasons, ["floor: keeps at least 2 valid backups"]);
        assert!(policy_error(parse_duration("0d")).contains("longer than zero"));
    }

    #[test]
    fn daily_keeps_the_newest_of_each_recent_day_that_has_a_valid_backup() {
        let candidates = [
            valid("graph_20251003_000432"),
            valid("graph_20251003_180000"),
            valid("graph_20251002_090000"),
            valid("graph_20251002_230000"),
            corrupt("graph_20251001_120000"),
            valid("graph_20250930_080000"),
            valid("graph_20250929_080000"),
        ];
        let policy = only(|p| p.keep_daily = Some(3));
        let plan = plan(&policy, &candidates, at("2025-10-04 00:00:00")).expect("plan");
        assert_eq!(
            decision(&plan, "graph_20251003_180000").reasons,
            [
                NEWEST_VALID_REASON,
                "newest of day 2025-10-03 (daily 1/3)",
                "floor: keeps at least 1 valid backup"
            ]
        );
        assert_eq!(
            decision(&plan, "graph_20251002_230000").reasons,
            ["newest of day 2025-10-02 (daily 2/3)"]
        );
        // The corrupt backup's day does not use up a slot.
        assert_eq!(
            decision(&plan, "graph_20250930_080000").reasons,
            ["newest of day 2025-09-30 (daily 3/3)"]
        );
        for removed in [
            "graph_20251003_000432",
            "graph_20251002_090000",
            "graph_20250929_080000",
        ] {
            let d = decision(&plan, removed);
            assert_eq!(d.action, Action::Remove, "{removed}");
            assert_eq!(d.reasons, [OUTSIDE_RULES_REASON]);
        }
        assert_eq!(
            decision(&plan, "graph_20251001_120000").action,
            Action::Keep
        );
    }

    #[test]
    fn weekly_uses_iso_weeks_across_the_year_end() {
        // 2024-12-30 (Monday) starts ISO week 2025-W01; 2024-12-29 is 2024-W52.
        let candidates = [
            valid("graph_20250102_100000"),
            valid("graph_20241230_100000"),
            valid("graph_20241229_100000"),
            valid("graph_20241223_100000"),
            valid("graph_20241216_100000"),
        ];
        let policy = only(|p| p.keep_weekly = Some(2));
        let plan = plan(&policy, &candidates, at("2025-01-10 00:00:00")).expect("plan");
        assert!(has_reason(
            decision(&plan, "graph_20250102_100000"),
            "newest of week 2025-W01 (weekly 1/2)"
        ));
        assert_eq!(
            decision(&plan, "graph_20241229_100000").reasons,
            ["newest of week 2024-W52 (weekly 2/2)"]
        );
        assert_eq!(plan.kept, 2);
    }

    #[test]
    fn monthly_uses_calendar_months() {
        let candidates = [
            valid("graph_20251003_100000"),
            valid("graph_20250930_235959"),
            valid("graph_20250901_000000"),
            valid("graph_20250815_120000"),
            valid("graph_20250701_120000"),
        ];
        let policy = only(|p| p.keep_monthly = Some(3));
        let plan = plan(&policy, &candidates, at("2025-10-04 00:00:00")).expect("plan");
        assert_eq!(
            kept_names(&plan),
            [
                "graph_20251003_100000",
                "graph_20250930_235959",
                "graph_20250815_120000"
            ]
        );
        assert_eq!(
            decision(&plan, "graph_20250815_120000").reasons,
            ["newest of month 2025-08 (monthly 3/3)"]
        );
    }

    #[test]
    fn rules_add_up_and_each_reason_is_listed() {
        let candidates = [
            valid("graph_20251003_120000"),
            valid("graph_20251003_110000"),
            valid("graph_20251002_120000"),
            valid("graph_20250915_120000"),
            valid("graph_20250801_120000"),
        ];
        let policy = RetentionPolicy {
            keep_last: Some(2),
            keep_within: Some(Duration::days(1)),
            keep_daily: Some(2),
            keep_weekly: None,
            keep_monthly: Some(3),
            min_valid: 1,
        };
        let plan = plan(&policy, &candidates, at("2025-10-03 12:00:00")).expect("plan");
        assert_eq!(
            decision(&plan, "graph_20251003_120000").reasons,
            [
                NEWEST_VALID_REASON,
                "within last 2",
                "within 1d of newest backup (2025-10-03 12:00)",
                "newest of day 2025-10-03 (daily 1/2)",
                "newest of month 2025-10 (monthly 1/3)",
                "floor: keeps at least 1 valid backup",
            ]
        );
        assert_eq!(
            decision(&plan, "graph_20251002_120000").reasons,
            [
                "within 1d of newest backup (2025-10-03 12:00)",
                "newest of day 2025-10-02 (daily 2/2)"
            ]
        );
        assert_eq!(
            decision(&plan, "graph_20250915_120000").reasons,
            ["newest of month 2025-09 (monthly 2/3)"]
        );
        assert_eq!(plan.removed, 0);
    }

    #[test]
    fn keep_within_counts_from_the_newest_backup_not_from_now() {
        let candidates = [
            valid("graph_20240301_120000"),
            valid("graph_20240305_120000"),
            valid("graph_20240310_120000"),
            valid("graph_20240220_120000"),
        ];
        let policy = only(|p| p.keep_within = Some(Duration::days(7)));
        // A year later: measured from the wall clock every backup is too old.
        let plan = plan(&policy, &candidates, at("2025-03-10 12:00:00")).expect("plan");
        assert_eq!(
            kept_names(&plan),
            ["graph_20240310_120000", "graph_20240305_120000"]
        );
        assert_eq!(
            decision(&plan, "graph_20240305_120000").reasons,
            ["within 1w of newest backup (2024-03-10 12:00)"]
        );
        // The window's edge is inclusive: exactly 7 days old is within 7 days.
        let edge = [
            valid("graph_20240310_120000"),
            valid("graph_20240303_120000"),
        ];
        let plan = super::plan(&policy, &edge, at("2025-03-10 12:00:00")).expect("plan");
        assert_eq!(plan.removed, 0);
    }

    #[test]
    fn keep_within_is_measured_from_the_newest_backup_whatever_its_health() {
        // Saves kept happening (the newest is corrupt), so the window follows
        // them; the valid backups behind it are held by the safeguards alone.
        let candidates = [
            corrupt("graph_20251003_120000"),
            valid("graph_20250810_120000"),
            valid("graph_20250805_120000"),
        ];
        let policy = RetentionPolicy {
            keep_last: None,
            keep_within: Some(Duration::days(30)),
            min_valid: 1,
            ..RetentionPolicy::default()
        };
        let plan = plan(&policy, &candidates, at("2025-10-03 13:00:00")).expect("plan");
        assert_eq!(
            decision(&plan, "graph_20250810_120000").reasons,
            [NEWEST_VALID_REASON, "floor: keeps at least 1 valid backup"]
        );
        assert_eq!(
            decision(&plan, "graph_20250805_120000").action,
            Action::Remove
        );
        assert!(has_reason(
            decision(&plan, "graph_20251003_120000"),
            "kept aside"
        ));
    }

    #[test]
    fn a_clock_set_far_back_keeps_everything_as_future_dated() {
        let candidates = [
            valid("graph_20251001_100000"),
            valid("graph_20251002_100000"),
            unverified("graph_20251003_100000"),
            corrupt("graph_20251003_110000"),
        ];
        let policy = only(|p| p.keep_last = Some(1));
        let plan = plan(&policy, &candidates, at("1970-01-01 00:00:00")).expect("plan");
        assert_eq!(plan.removed, 0);
        for d in &plan.decisions {
            assert!(has_reason(d, "dated in the future ("), "{d:?}");
            assert!(
                has_reason(d, "every valid backup is dated in the future"),
                "{d:?}"
            );
        }
        assert_eq!(
            decision(&plan, "graph_20251002_100000").reasons[0],
            "dated in the future (2025-10-02 10:00:00 > now 1970-01-01 00:00:00): kept, counted by no rule"
        );
        assert!(has_reason(
            decision(&plan, "graph_20251003_110000"),
            "corrupt (checksum mismatch)"
        ));
    }

    #[test]
    fn a_clock_set_far_ahead_changes_nothing() {
        let candidates = [
            valid("graph_20251001_100000"),
            valid("graph_20251002_100000"),
            valid("graph_20250902_100000"),
            unverified("graph_20250801_100000"),
        ];
        let policy = RetentionPolicy {
            keep_within: Some(Duration::days(2)),
            min_valid: 1,
            ..RetentionPolicy::default()
        };
        let soon = plan(&policy, &candidates, at("2025-10-02 10:00:00")).expect("plan");
        let far = plan(&policy, &candidates, at("2099-12-31 23:59:59")).expect("plan");
        assert_eq!(soon, far);
        assert_eq!(
            kept_names(&far),
            ["graph_20251002_100000", "graph_20251001_100000"]
        );
    }

    #[test]
    fn future_backups_are_kept_uncounted_and_are_not_the_age_reference() {
        // The future one was made second, with a clock running ahead; the
        // sequence numbers say the others came after it.
        let numbered = |text: &str, n: u64| Candidate {
            sequence: Some(n),
            ..valid(text)
        };
        let candidates = [
            numbered("graph_20260101_100000", 2),
            numbered("graph_20251003_100000", 5),
            numbered("graph_20251002_100000", 4),
            numbered("graph_20251001_100000", 3),
            numbered("graph_20250915_100000", 1),
        ];
        let policy = RetentionPolicy {
            keep_last: Some(2),
            keep_within: Some(Duration::days(1)),
            min_valid: 1,
            ..RetentionPolicy::default()
        };
        let plan = plan(&policy, &candidates, at("2025-10-03 12:00:00")).expect("plan");
        assert_eq!(
            decision(&plan, "graph_20260101_100000").reasons,
            [
                "dated in the future (2026-01-01 10:00:00 > now 2025-10-03 12:00:00): kept, counted by no rule"
            ]
        );
        let newest_present = decision(&plan, "graph_20251003_100000");
        assert_eq!(newest_present.reasons[0], NEWEST_VALID_REASON);
        assert!(has_reason(
            newest_present,
            "within 1d of newest backup (2025-10-03 10:00)"
        ));
        // keep_last 2 counts the two newest present backups, not the future one.
        assert!(has_reason(
            decision(&plan, "graph_20251002_100000"),
            "within last 2"
        ));
        assert_eq!(
            decision(&plan, "graph_20251001_100000").action,
            Action::Remove
        );
        assert_eq!((plan.kept, plan.kept_valid), (3, 3));
    }

    #[test]
    fn a_clock_that_reads_earlier_than_the_newest_backup_removes_nothing() {
        // Regression (issue 8): the newest backup dated a year ahead (the
        // clock ran ahead then, or is behind now): nothing goes on its word.
        let candidates = [
            valid("graph_20261003_100000"),
            valid("graph_20251003_100000"),
            valid("graph_20251002_100000"),
            valid("graph_20250101_100000"),
        ];
        let plan = plan(
            &only(|p| p.keep_last = Some(1)),
            &candidates,
            at("2025-10-03 12:00:00"),
        )
        .expect("plan");
        assert_eq!(plan.removed, 0, "{plan:#?}");
        let warning = plan.clock_warning.as_deref().expect("reported");
        assert!(warning.contains("graph_20261003_100000"), "{warning}");
    }

    #[test]
    fn a_save_ages_nothing_out_by_being_new() {
        // Regression (issue 8): a save with the clock a year fast measured
        // the window from its own backup and removed all but the floor.
        let mut made = valid("graph_20261003_120000");
        made.just_made = true;
        made.sequence = Some(9);
        let mut candidates = vec![made];
        for day in 1..=8 {
            candidates.push(valid(&format!("graph_202509{:02}_120000", 20 + day)));
        }
        let plan = plan(
            &RetentionPolicy::default(),
            &candidates,
            at("2026-10-03 12:00:01"),
        )
        .expect("plan");
        assert_eq!(plan.removed, 0, "{plan:#?}");
        assert!(plan.clock_warning.is_some(), "the jump is reported");
        assert!(has_reason(
            decision(&plan, "graph_20261003_120000"),
            "made by this save: kept"
        ));
    }

    #[test]
    fn a_backup_dated_exactly_now_is_not_in_the_future() {
        let candidates = [
            valid("graph_20251003_120000"),
            valid("graph_20251001_120000"),
        ];
        let policy = only(|p| p.keep_last = Some(1));
        let plan = plan(&policy, &candidates, at("2025-10-03 12:00:00")).expect("plan");
        assert_eq!(
            decision(&plan, "graph_20251003_120000").reasons[0],
            NEWEST_VALID_REASON
        );
        assert_eq!(plan.removed, 1);
    }

    #[test]
    fn same_second_backups_order_by_their_counter() {
        let candidates = [
            valid("graph_20251003_000432_3"),
            valid("graph_20251003_000432"),
            valid("graph_20251003_000432_2"),
            valid("graph_20251002_000432"),
        ];
        let policy = only(|p| p.keep_last = Some(1));
        let plan = plan(&policy, &candidates, at("2025-10-03 00:04:32")).expect("plan");
        let order: Vec<String> = plan.decisions.iter().map(|d| d.id.to_string()).collect();
        assert_eq!(
            order,
            [
                "graph_20251003_000432_3",
                "graph_20251003_000432_2",
                "graph_20251003_000432",
                "graph_20251002_000432"
            ]
        );
        assert_eq!(kept_names(&plan), ["graph_20251003_000432_3"]);

        let daily = only(|p| p.keep_daily = Some(2));
        let plan = super::plan(&daily, &candidates, at("2025-10-04 00:00:00")).expect("plan");
        assert_eq!(
            kept_names(&plan),
            ["graph_20251003_000432_3", "graph_20251002_000432"]
        );
    }

    #[test]
    fn all_corrupt_removes_nothing_and_says_why() {
        let candidates = [
            corrupt("graph_20251001_100000"),
            Candidate::new(
                id("graph_20251002_100000"),
                Health::Corrupt("not valid JSON at byte 4096".to_string()),
            ),
        ];
        let plan = plan(
            &RetentionPolicy::default(),
            &candidates,
            at("2025-10-03 00:00:00"),
        )
        .expect("plan");
        assert_eq!((plan.kept, plan.removed, plan.kept_valid), (2, 0, 0));
        assert_eq!(
            decision(&plan, "graph_20251002_100000").reasons,
            [
                "corrupt (not valid JSON at byte 4096): kept aside for inspection, not counted",
                "no backup verifies: nothing is removed while there is no valid backup to fall back on"
            ]
        );
    }

    #[test]
    fn only_unverified_removes_nothing_and_says_why() {
        let candidates = [
            unverified("graph_20251001_100000"),
            unverified("graph_20250101_100000"),
        ];
        let plan = plan(
            &only(|p| p.keep_last = Some(1)),
            &candidates,
            at("2025-10-03 00:00:00"),
        )
        .expect("plan");
        assert_eq!(plan.removed, 0);
        for d in &plan.decisions {
            assert_eq!(
                d.reasons,
                [
                    "unverified (no usable meta, so no checksum)",
                    "no backup verifies: nothing is removed while there is no valid backup to fall back on"
                ]
            );
        }
    }

    #[test]
    fn unverified_is_kept_only_while_newer_than_the_oldest_kept_valid_backup() {
        let candidates = [
            unverified("graph_20251003_120000"),
            valid("graph_20251003_100000"),
            unverified("graph_20251002_120000"),
            valid("graph_20251002_100000"),
            unverified("graph_20251001_120000"),
            valid("graph_20251001_100000"),
        ];
        let policy = only(|p| p.keep_last = Some(2));
        let plan = plan(&policy, &candidates, at("2025-10-04 00:00:00")).expect("plan");
        assert_eq!(
            decision(&plan, "graph_20251002_120000").reasons,
            [
                "unverified (no usable meta, so no checksum): newer than the oldest kept valid backup \
              graph_20251002_100000, so kept, but not counted"
            ]
        );
        assert_eq!(
            decision(&plan, "graph_20251003_120000").action,
            Action::Keep
        );
        let old = decision(&plan, "graph_20251001_120000");
        assert_eq!(old.action, Action::Remove);
        assert_eq!(
            old.reasons,
            ["unverified (no checksum) and older than every valid backup kept"]
        );
        // Unverified backups take no keep_last slot.
        assert_eq!(plan.kept_valid, 2);
        assert_eq!(
            decision(&plan, "graph_20251001_100000").action,
            Action::Remove
        );
    }

    #[test]
    fn corrupt_backups_are_kept_aside_and_take_no_slot() {
        let candidates = [
            valid("graph_20251003_100000"),
            corrupt("graph_20251002_100000"),
            valid("graph_20251001_100000"),
            corrupt("graph_20240101_100000"),
        ];
        let policy = only(|p| p.keep_last = Some(2));
        let plan = plan(&policy, &candidates, at("2025-10-04 00:00:00")).expect("plan");
        assert_eq!(plan.removed, 0);
        assert_eq!(plan.kept_valid, 2);
        assert_eq!(
            decision(&plan, "graph_20240101_100000").reasons,
            ["corrupt (checksum mismatch): kept aside for inspection, not counted"]
        );
        assert!(has_reason(
            decision(&plan, "graph_20251001_100000"),
            "within last 2"
        ));
    }

    #[test]
    fn input_order_does_not_matter_and_output_is_newest_first() {
        let mut candidates = vec![
            valid("graph_20250101_000000"),
            unverified("graph_20250601_000000"),
            valid("graph_20251003_000000"),
            corrupt("graph_20250301_000000"),
            valid("graph_20250901_000000"),
        ];
        let policy = only(|p| p.keep_last = Some(2));
        let now = at("2025-10-04 00:00:00");
        let forward = plan(&policy, &candidates, now).expect("plan");
        candidates.reverse();
        let backward = plan(&policy, &candidates, now).expect("plan");
        assert_eq!(forward, backward);
        assert!(forward.decisions.windows(2).all(|w| w[0].id > w[1].id));
    }

    #[test]
    fn a_repeated_id_is_refused() {
        let candidates = [
            valid("graph_20251003_000432"),
            corrupt("graph_20251003_000432"),
        ];
        match plan(
            &RetentionPolicy::default(),
            &candidates,
            at("2025-10-04 00:00:00"),
        ) {
            Err(StoreError::Invalid(why)) => assert!(why.contains("listed twice"), "{why}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn plan_serializes_for_the_cli() {
        let candidates = [
            valid("graph_20251003_000432_2"),
            valid("graph_20250101_000000"),
        ];
        let plan = plan(
            &only(|p| p.keep_last = Some(1)),
            &candidates,
            at("2025-10-04 00:00:00"),
        )
        .expect("plan");
        let json = serde_json::to_value(&plan).expect("serializes");
        assert_eq!(json["decisions"][0]["id"], "graph_20251003_000432_2");
        assert_eq!(json["decisions"][0]["action"], "keep");
        assert_eq!(json["decisions"][1]["action"], "remove");
        assert_eq!(json["decisions"][1]["reasons"][0], OUTSIDE_RULES_REASON);
        assert_eq!(
            (
                json["kept"].clone(),
                json["removed"].clone(),
                json["kept_valid"].clone()
            ),
            (1.into(), 1.into(), 1.into())
        );
    }

    #[test]
    fn backups_made_before_a_key_are_never_removed_for_lack_of_an_hmac() {
        // Regression (issue 8): with a key configured, the first save made
        // the only authenticated backup, and every backup made before the
        // key counted as "unverified (no checksum)" and went, floor or not.
        let mut candidates = vec![valid("graph_20251003_120000")];
        for day in 1..=9 {
            candidates.push(with_health(
                &format!("graph_202509{day:02}_120000"),
                Health::Unauthenticated,
            ));
        }
        let plan = plan(
            &RetentionPolicy::default(),
            &candidates,
            at("2025-10-03 12:00:01"),
        )
        .expect("plan");
        assert_eq!(plan.removed, 0, "{plan:#?}");
        assert!(has_reason(
            decision(&plan, "graph_20250901_120000"),
            UNAUTHENTICATED_REASON
        ));
    }

    #[test]
    fn a_backup_that_could_not_be_judged_is_kept() {
        // Regression (issue 8): a meta that could not be read (permission
        // denied, a symlink) made its backup "unverified" and removable.
        let candidates = [
            valid("graph_20251003_120000"),
            valid("graph_20251002_120000"),
            valid("graph_20251001_120000"),
            valid("graph_20250930_120000"),
            with_health(
                "graph_20250101_120000",
                Health::Unjudged("cannot read meta: Permission denied".to_string()),
            ),
            unverified("graph_20250102_120000"),
        ];
        let plan = plan(
            &only(|p| p.keep_last = Some(1)),
            &candidates,
            at("2025-10-04 00:00:00"),
        )
        .expect("plan");
        let unjudged = decision(&plan, "graph_20250101_120000");
        assert_eq!(unjudged.action, Action::Keep);
        assert!(unjudged.reasons[0].starts_with("could not be judged (cannot read meta"));
        // A backup with no meta at all is still judged (no checksum): it
        // goes when older than every valid backup kept.
        assert_eq!(
            decision(&plan, "graph_20250102_120000").action,
            Action::Remove
        );
    }

    // ---- properties ----

    /// Every safety rule the planner promises, checked from the outside
    /// (from the candidates and the plan only). `Err` names the first broken
    /// rule.
    fn check_plan(
        policy: &RetentionPolicy,
        candidates: &[Candidate],
        now: NaiveDateTime,
        plan: &RetentionPlan,
    ) -> Result<(), String> {
        let mut by_creation: Vec<&Candidate> = candidates.iter().collect();
        crate::store::names::creation_order(&mut by_creation, |c| (&c.id, c.sequence));
        let expected: Vec<&BackupId> = by_creation.iter().map(|c| &c.id).collect();
        let got: Vec<&BackupId> = plan.decisions.iter().map(|d| &d.id).collect();
        if got != expected {
            return Err("decisions are not exactly the candidates, newest first".to_string());
        }
        // Position in creation order, 0 the newest.
        let rank: HashMap<&BackupId, usize> = expected
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, i))
            .collect();
        if let Some(last) = by_creation.iter().find(|c| !c.just_made)
            && last.id.time() > now + Duration::minutes(CLOCK_TOLERANCE_MINUTES)
            && plan.removed > 0
        {
            return Err(format!(
                "removed backups on the word of a clock that reads earlier than {}",
                last.id
            ));
        }
        for c in candidates.iter().filter(|c| c.just_made) {
            if plan
                .decisions
                .iter()
                .any(|d| d.id == c.id && d.action == Action::Remove)
                && c.health == Health::Valid
            {
                return Err(format!("the backup just made {} was removed", c.id));
            }
        }
        let health: HashMap<&BackupId, &Health> =
            candidates.iter().map(|c| (&c.id, &c.health)).collect();
        for d in &plan.decisions {
            if d.reasons.is_empty() || d.reasons.iter().any(|r| r.trim().is_empty()) {
                return Err(format!("{} has no reason", d.id));
            }
            if d.action == Action::Remove {
                match health[&d.id] {
                    Health::Corrupt(_) => return Err(format!("corrupt backup {} removed", d.id)),
                    Health::Unauthenticated => {
                        return Err(format!("unauthenticated backup {} removed", d.id));
                    }
                    Health::Unjudged(_) => {
                        return Err(format!("backup {} removed though not judged", d.id));
                    }
                    Health::Valid | Health::Unverified => {}
                }
                if d.id.time() > now {
                    return Err(format!("future-dated backup {} removed", d.id));
                }
            }
        }
        let is_kept = |id: &BackupId| {
            plan.decisions
                .iter()
                .any(|d| d.id == *id && d.action == Action::Keep)
        };
        let valid: Vec<&BackupId> = candidates
            .iter()
            .filter(|c| c.health == Health::Valid)
            .map(|c| &c.id)
            .collect();
        if let Some(newest) = valid.iter().min_by_key(|id| rank[*id])
            && !is_kept(newest)
        {
            return Err(format!("newest valid backup {newest} removed"));
        }
        if let Some(newest_present) = valid
            .iter()
            .filter(|id| id.time() <= now)
            .min_by_key(|id| rank[*id])
            && !is_kept(newest_present)
        {
            return Err(format!(
                "newest valid backup up to now {newest_present} removed"
            ));
        }
        let kept_valid = valid.iter().filter(|id| is_kept(id)).count();
        let floor = (policy.min_valid as usize).min(valid.len());
        if kept_valid < floor {
            return Err(format!(
                "kept {kept_valid} valid backups, below the floor of {floor}"
            ));
        }
        let oldest_kept_valid = plan
            .decisions
            .iter()
            .filter(|d| {
                d.action == Action::Keep && *health[&d.id] == Health::Valid && d.id.time() <= now
            })
            .map(|d| &d.id)
            .max_by_key(|id| rank[*id]);
        for d in &plan.decisions {
            if d.action == Action::Remove
                && *health[&d.id] == Health::Unverified
                && oldest_kept_valid.is_some_and(|oldest| rank[&d.id] < rank[oldest])
            {
                return Err(format!(
                    "unverified {} removed though newer than a kept valid backup",
                    d.id
                ));
            }
        }
        let present_valid = valid.iter().filter(|id| id.time() <= now).count();
        if present_valid < policy.min_valid as usize
            && let Some(d) = plan
                .decisions
                .iter()
                .find(|d| d.action == Action::Remove && *health[&d.id] == Health::Unverified)
        {
            return Err(format!(
                "unverified {} removed though the valid backups do not reach the floor",
                d.id
            ));
        }
        if valid.is_empty() && plan.removed > 0 {
            return Err("removed backups with no valid backup to fall back on".to_string());
        }
        let kept = plan
            .decisions
            .iter()
            .filter(|d| d.action == Action::Keep)
            .count();
        if (plan.kept, plan.removed, plan.kept_valid)
            != (kept, plan.decisions.len() - kept, kept_valid)
        {
            return Err("totals do not match the decisions".to_string());
        }
        Ok(())
    }

    fn base_time() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2023, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .expect("fixed date")
    }

    fn health_strategy() -> impl Strategy<Value = Health> {
        prop_oneof![
            6 => Just(Health::Valid),
            2 => Just(Health::Unverified),
            2 => Just(Health::Corrupt("checksum mismatch".to_string())),
            1 => Just(Health::Unauthenticated),
            1 => Just(Health::Unjudged("cannot read meta: Permission denied".to_string())),
        ]
    }

    /// 0-60 backups spread over a few years, with bursts inside one second
    /// (collision counters), handed over in random order.
    fn backup_sets() -> impl Strategy<Value = Vec<Candidate>> {
        const DAY: i64 = 86_400;
        let gap = prop_oneof![
            2 => Just(0i64),
            3 => 1i64..3_600,
            3 => 3_600i64..3 * DAY,
            2 => 3 * DAY..90 * DAY,
        ];
        let skew = prop_oneof![16 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)];
        (
            0i64..400 * DAY,
            prop::collection::vec(
                (gap, health_strategy(), skew, prop::bool::weighted(0.6)),
                0..=60,
            ),
            prop::bool::weighted(0.3),
        )
            .prop_map(|(start, items, last_just_made)| {
                let mut time = base_time() + Duration::seconds(start);
                let mut seq = 0;
                let mut out: Vec<Candidate> = Vec::with_capacity(items.len());
                let mut seen = std::collections::HashSet::new();
                for (n, (gap, health, skew, numbered)) in items.into_iter().enumerate() {
                    if n > 0 && gap == 0 {
                        seq = if seq == 0 { 2 } else { seq + 1 };
                    } else {
                        time += Duration::seconds(gap);
                        seq = 0;
                    }
                    // Clocks far off: the name is a year away from when the
                    // backup was made, while its sequence keeps the order.
                    let named = match skew {
                        1 => time + Duration::days(365),
                        2 => time - Duration::days(365),
                        _ => time,
                    };
                    let id = BackupId::new(named, seq);
                    if !seen.insert(id.clone()) {
                        continue;
                    }
                    out.push(Candidate {
                        id,
                        health,
                        sequence: numbered.then_some(n as u64 + 1),
                        just_made: false,
                    });
                }
                // The backup a save just made: the last one, numbered, named
                // by the clock of the save.
                if last_just_made && let Some(last) = out.last_mut() {
                    last.health = Health::Valid;
                    last.sequence = Some(u64::MAX);
                    last.just_made = true;
                }
                out
            })
            .prop_shuffle()
    }

    /// Clocks before every backup, among them, after them and decades on.
    fn clocks() -> impl Strategy<Value = NaiveDateTime> {
        const YEAR: i64 = 365 * 86_400;
        (
            prop_oneof![
                1 => -3 * YEAR..0,
                5 => 0..8 * YEAR,
                1 => 8 * YEAR..40 * YEAR,
            ],
            0i64..1_000_000_000,
        )
            .prop_map(|(seconds, nanos)| {
                base_time() + Duration::seconds(seconds) + Duration::nanoseconds(nanos)
            })
    }

    fn valid_policies() -> impl Strategy<Value = RetentionPolicy> {
        (
            prop::option::of(1u32..=40),
            prop::option::of(1i64..=400 * MINUTES_PER_DAY),
            prop::option::of(1u32..=40),
            prop::option::of(1u32..=20),
            prop::option::of(1u32..=24),
            1u32..=10,
        )
            .prop_map(
                |(last, within, daily, weekly, monthly, min_valid)| RetentionPolicy {
                    keep_last: last,
                    keep_within: within.map(Duration::minutes),
                    keep_daily: daily,
                    keep_weekly: weekly,
                    keep_monthly: monthly,
                    min_valid,
                },
            )
            .prop_filter(
                "a policy needs at least one rule",
                RetentionPolicy::has_rule,
            )
    }

    /// A valid policy broken in one of the ways validation must refuse.
    fn invalid_policies() -> impl Strategy<Value = RetentionPolicy> {
        (valid_policies(), 0usize..7, -100_000i64..=0).prop_map(|(mut policy, how, minutes)| {
            match how {
                0 => {
                    policy.keep_last = None;
                    policy.keep_within = None;
                    policy.keep_daily = None;
                    policy.keep_weekly = None;
                    policy.keep_monthly = None;
                }
                1 => policy.keep_last = Some(0),
                2 => policy.keep_within = Some(Duration::minutes(minutes)),
                3 => policy.keep_daily = Some(0),
                4 => policy.keep_weekly = Some(0),
                5 => policy.keep_monthly = Some(0),
                _ => policy.min_valid = 0,
            }
            policy
        })
    }

    fn property_config() -> ProptestConfig {
        ProptestConfig {
            // Regression files would land beside the source, in a shared tree.
            failure_persistence: None,
            ..ProptestConfig::with_cases(10_000)
        }
    }

    proptest! {
        #![proptest_config(property_config())]

        #[test]
        fn every_plan_upholds_the_safety_rules(
            candidates in backup_sets(),
            policy in valid_policies(),
            now in clocks(),
        ) {
            let plan = plan(&policy, &candidates, now).map_err(|e| TestCaseError::fail(e.to_string()))?;
            if let Err(broken) = check_plan(&policy, &candidates, now, &plan) {
                prop_assert!(false, "{broken}");
            }
        }

        #[test]
        fn invalid_policies_are_refused(
            policy in invalid_policies(),
            candidates in backup_sets(),
            now in clocks(),
        ) {
            prop_assert!(matches!(policy.validate(), Err(StoreError::InvalidPolicy(_))));
            prop_assert!(matches!(plan(&policy, &candidates, now), Err(StoreError::InvalidPolicy(_))));
        }

        #[test]
        fn durations_round_trip_through_their_text(minutes in 1i64..=10_000 * MINUTES_PER_DAY) {
            let duration = Duration::minutes(minutes);
            let text = format_duration(duration);
            prop_assert_eq!(parse_duration(&text).map_err(|e| TestCaseError::fail(e.to_string()))?, duration);
        }

        #[test]
        fn duration_parser_never_panics(text in "[0-9wdhmsMy. -]{0,12}|\\PC{0,12}") {
            if let Ok(d) = parse_duration(&text) {
                prop_assert!(d > Duration::zero());
            }
        }
    }

    // ---- negative controls: the checks above can fail ----

    const UNGUARDED: Safeguards = Safeguards {
        newest_valid: false,
        floor: false,
    };

    /// The newest valid backup is old and the newest backup is corrupt, so
    /// no rule keeps the valid one: only the safeguards do.
    fn stranded_newest_valid() -> (RetentionPolicy, Vec<Candidate>, NaiveDateTime) {
        let policy = only(|p| p.keep_within = Some(Duration::days(30)));
        let candidates = vec![
            corrupt("graph_20251003_120000"),
            valid("graph_20250801_120000"),
        ];
        (policy, candidates, at("2025-10-03 13:00:00"))
    }

    #[test]
    fn negative_control_without_the_safeguards_the_newest_valid_backup_goes() {
        let (policy, candidates, now) = stranded_newest_valid();
        let good = plan(&policy, &candidates, now).expect("plan");
        assert_eq!(check_plan(&policy, &candidates, now, &good), Ok(()));

        let broken = plan_with(&policy, &candidates, now, UNGUARDED).expect("plan");
        assert_eq!(
            decision(&broken, "graph_20250801_120000").action,
            Action::Remove
        );
        assert_eq!(
            check_plan(&policy, &candidates, now, &broken),
            Err("newest valid backup graph_20250801_120000 removed".to_string())
        );
    }

    #[test]
    fn negative_control_the_newest_guard_alone_still_holds_the_newest() {
        // Each safeguard alone protects the newest valid backup (the floor is
        // at least 1), which is why the control above switches off both.
        let (policy, candidates, now) = stranded_newest_valid();
        for alone in [
            Safeguards {
                newest_valid: true,
                floor: false,
            },
            Safeguards {
                newest_valid: false,
                floor: true,
            },
        ] {
            let plan = plan_with(&policy, &candidates, now, alone).expect("plan");
            assert_eq!(
                check_plan(&policy, &candidates, now, &plan),
                Ok(()),
                "{alone:?}"
            );
        }
    }

    #[test]
    fn negative_control_without_the_floor_too_few_valid_backups_stay() {
        let candidates = [
            valid("graph_20251003_120000"),
            valid("graph_20251002_120000"),
            valid("graph_20251001_120000"),
        ];
        let policy = RetentionPolicy {
            keep_last: Some(1),
            keep_within: None,
            min_valid: 3,
            ..RetentionPolicy::default()
        };
        let now = at("2025-10-04 00:00:00");
        let broken = plan_with(
            &policy,
            &candidates,
            now,
            Safeguards {
                newest_valid: true,
                floor: false,
            },
        )
        .expect("plan");
        assert_eq!(
            check_plan(&policy, &candidates, now, &broken),
            Err("kept 1 valid backups, below the floor of 3".to_string())
        );
    }

    #[test]
    fn negative_control_the_property_search_finds_the_unguarded_planner() {
        // The same generators as the property test, aimed at a planner
        // without its safeguards, must turn up a counterexample.
        let mut runner = TestRunner::new(Config {
            failure_persistence: None,
            ..Config::with_cases(10_000)
        });
        let result = runner.run(
            &(backup_sets(), valid_policies(), clocks()),
            |(candidates, policy, now)| {
                let plan = plan_with(&policy, &candidates, now, UNGUARDED)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                check_plan(&policy, &candidates, now, &plan).map_err(TestCaseError::fail)
            },
        );
        match result {
            Err(TestError::Fail(why, _)) => {
                // Any of the violations the two safeguards exist to prevent
                // (which one the search meets first depends on its cases).
                let why = why.to_string();
                assert!(
                    [
                        "newest valid backup",
                        "below the floor",
                        "do not reach the floor",
                        "no valid backup to fall back on",
                        "newer than a kept valid backup",
                    ]
                    .iter()
                    .any(|v| why.contains(v)),
                    "{why}"
                );
            }
            other => panic!("the property search missed a planner without safeguards: {other:?}"),
        }
    }
}
