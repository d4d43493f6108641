//! The rotate popup's form: one text input per retention rule, the policy
//! they spell (or why they do not), the live preview and the confirmation
//! before anything is deleted.

use ratatui_textarea::{CursorMove, TextArea};

use crate::store::retention::{
    Candidate, Health, RetentionPlan, RetentionPolicy, format_duration, parse_duration,
};

use super::table::BackupRow;

/// The form's fields: label and placeholder.
pub const FIELDS: [(&str, &str); 6] = [
    ("keep last", "N newest valid"),
    ("keep within", "e.g. 30d, 2w, 1d12h"),
    ("keep daily", "N days"),
    ("keep weekly", "N ISO weeks"),
    ("keep monthly", "N months"),
    ("min valid", "floor, at least 1"),
];

/// The rotate popup's state.
#[derive(Debug)]
pub struct RotateForm {
    pub fields: Vec<TextArea<'static>>,
    pub focus: usize,
    /// The policy the fields spell, or what is wrong with them.
    pub policy: Result<RetentionPolicy, String>,
    /// The preview for `seq`, once the worker has planned it.
    pub plan: Option<Result<RetentionPlan, String>>,
    pub seq: u64,
    pub scroll: usize,
    /// `Some(focus_on_delete)` while confirming the deletions.
    pub confirm: Option<bool>,
    pub applying: bool,
}

impl RotateForm {
    /// A form holding `policy` (the store's own, usually).
    pub fn new(policy: &RetentionPolicy) -> RotateForm {
        let n = |v: Option<u32>| v.map(|n| n.to_string()).unwrap_or_default();
        let values = [
            n(policy.keep_last),
            policy.keep_within.map(format_duration).unwrap_or_default(),
            n(policy.keep_daily),
            n(policy.keep_weekly),
            n(policy.keep_monthly),
            policy.min_valid.to_string(),
        ];
        let fields = values
            .into_iter()
            .zip(FIELDS)
            .map(|(value, (_, placeholder))| {
                let mut t = TextArea::new(vec![value]);
                t.set_placeholder_text(placeholder);
                t.move_cursor(CursorMove::End);
                t
            })
            .collect();
        let mut form = RotateForm {
            fields,
            focus: 0,
            policy: Ok(policy.clone()),
            plan: None,
            seq: 0,
            scroll: 0,
            confirm: None,
            applying: false,
        };
        form.reparse();
        form
    }

    pub fn values(&self) -> Vec<String> {
        self.fields
            .iter()
            .map(|f| f.lines().first().cloned().unwrap_or_default())
            .collect()
    }

    /// Reads the policy from the fields again.
    pub fn reparse(&mut self) {
        self.policy = parse_policy(&self.values());
    }

    pub fn focus_next(&mut self) {
        self.focus = (self.focus + 1) % self.fields.len();
    }

    pub fn focus_prev(&mut self) {
        self.focus = (self.focus + self.fields.len() - 1) % self.fields.len();
    }

    /// The preview, when it is ready and belongs to the current policy.
    pub fn ready_plan(&self) -> Option<&RetentionPlan> {
        match (&self.policy, &self.plan) {
            (Ok(_), Some(Ok(plan))) => Some(plan),
            _ => None,
        }
    }
}

/// The policy written in the form's six fields; an empty field is a rule
/// left off (min valid: the default 3).
pub fn parse_policy(values: &[String]) -> Result<RetentionPolicy, String> {
    let count = |i: usize| -> Result<Option<u32>, String> {
        let text = values.get(i).map(|s| s.trim()).unwrap_or("");
        if text.is_empty() {
            return Ok(None);
        }
        text.parse::<u32>()
            .map(Some)
            .map_err(|_| format!("{}: {text:?} is not a whole number", FIELDS[i].0))
    };
    let within = values.get(1).map(|s| s.trim()).unwrap_or("");
    let policy = RetentionPolicy {
        keep_last: count(0)?,
        keep_within: if within.is_empty() {
            None
        } else {
            Some(parse_duration(within).map_err(|e| e.to_string())?)
        },
        keep_daily: count(2)?,
        keep_weekly: count(3)?,
        keep_monthly: count(4)?,
        min_valid: count(5)?.unwrap_or(RetentionPolicy::default().min_valid),
    };
    policy.validate().map_err(|e| e.to_string())?;
    Ok(policy)
}

/// The reason given for a backup the UI has not verified yet: the planner
/// keeps it and counts it for nothing, like a corrupt one.
pub const NOT_VERIFIED_YET: &str = "not verified yet: verify first (V)";

/// The planner's view of the rows, from what verification said so far.
pub fn candidates(rows: &[BackupRow]) -> Vec<Candidate> {
    rows.iter()
        .map(|row| Candidate {
            id: row.info.id.clone(),
            health: match &row.report {
                None => Health::Corrupt(NOT_VERIFIED_YET.to_string()),
                Some(r) => Health::from(r),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(v: [&str; 6]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn fields_spell_a_policy() {
        let p = parse_policy(&values(["5", "30d", "", "4", "", "2"])).expect("valid");
        assert_eq!(p.keep_last, Some(5));
        assert_eq!(p.keep_within, Some(chrono::Duration::days(30)));
        assert_eq!(p.keep_daily, None);
        assert_eq!(p.keep_weekly, Some(4));
        assert_eq!(p.min_valid, 2);
        let default_floor = parse_policy(&values(["5", "", "", "", "", ""])).expect("valid");
        assert_eq!(default_floor.min_valid, 3);
    }

    #[test]
    fn bad_fields_say_what_is_wrong() {
        let e = parse_policy(&values(["five", "", "", "", "", ""])).expect_err("not a number");
        assert!(e.contains("keep last"), "{e}");
        let e = parse_policy(&values(["", "", "", "", "", ""])).expect_err("no rule");
        assert!(e.contains("keeps nothing"), "{e}");
        let e = parse_policy(&values(["", "1.5d", "", "", "", ""])).expect_err("fraction");
        assert!(e.contains("fractions"), "{e}");
        let e = parse_policy(&values(["3", "", "", "", "", "0"])).expect_err("floor 0");
        assert!(e.contains("min_valid"), "{e}");
    }

    #[test]
    fn the_form_round_trips_the_stores_policy() {
        let form = RotateForm::new(&RetentionPolicy::default());
        assert_eq!(form.values(), values(["", "30d", "", "", "", "3"]));
        assert_eq!(form.policy, Ok(RetentionPolicy::default()));
    }
}
