//! How both front ends say node-level things: one field change, and the plan of a
//! partial restore line by line.

use crate::graph::change::{FieldChange, FieldChangeKind};
use crate::graph::merge::{MergePlan, SkipReason};

/// At most this many characters of a value are printed on one line.
const VALUE_WIDTH: usize = 60;

pub fn clip(text: &str) -> String {
    if text.chars().count() <= VALUE_WIDTH {
        text.to_string()
    } else {
        let head: String = text.chars().take(VALUE_WIDTH - 1).collect();
        format!("{head}…")
    }
}

/// One field change as `key: old -> new`.
/// How many edge changes one entry of a history lists: a hub node's first appearance
/// brings thousands of edges with it, and a page of `edge + …` hides the rest of the
/// timeline. `history --json` keeps every one.
pub const EDGE_CHANGES_SHOWN: usize = 12;

/// The line that stands for the edge changes of an entry beyond
/// [`EDGE_CHANGES_SHOWN`], or `None` when every one is listed.
pub fn more_edge_changes(total: usize) -> Option<String> {
    let hidden = total.checked_sub(EDGE_CHANGES_SHOWN).filter(|&n| n > 0)?;
    Some(format!(
        "… and {hidden} more edge change{}",
        if hidden == 1 { "" } else { "s" }
    ))
}

pub fn field_line(c: &FieldChange) -> String {
    let key = if c.key.is_empty() { "(value)" } else { &c.key };
    match c.change {
        FieldChangeKind::Added => format!("+ {key}: {}", clip(c.new.as_deref().unwrap_or(""))),
        FieldChangeKind::Removed => format!("- {key}: {}", clip(c.old.as_deref().unwrap_or(""))),
        FieldChangeKind::Changed => {
            let (old, new) = (
                c.old.as_deref().unwrap_or(""),
                c.new.as_deref().unwrap_or(""),
            );
            let clipped = old.chars().count() > VALUE_WIDTH || new.chars().count() > VALUE_WIDTH;
            match list_change(old, new).filter(|_| clipped) {
                Some(items) => format!("~ {key}: {items}"),
                None => format!("~ {key}: {} -> {}", clip(old), clip(new)),
            }
        }
    }
}

/// A change between two long lists, as what was added and removed: two clipped
/// lists would often show the same first sixty characters and hide the difference
/// (a node's `connections_in` gaining one edge id at the end).
fn list_change(old: &str, new: &str) -> Option<String> {
    let items = |text: &str| -> Option<Vec<String>> {
        match serde_json::from_str::<serde_json::Value>(text).ok()? {
            serde_json::Value::Array(items) => Some(items.iter().map(|v| v.to_string()).collect()),
            _ => None,
        }
    };
    let (old, new) = (items(old)?, items(new)?);
    let (in_old, in_new): (
        std::collections::HashSet<&String>,
        std::collections::HashSet<&String>,
    ) = (old.iter().collect(), new.iter().collect());
    let added: Vec<&str> = new
        .iter()
        .filter(|x| !in_old.contains(x))
        .map(String::as_str)
        .collect();
    let removed: Vec<&str> = old
        .iter()
        .filter(|x| !in_new.contains(x))
        .map(String::as_str)
        .collect();
    let mut parts = vec![format!("{} items -> {}", old.len(), new.len())];
    if !added.is_empty() {
        parts.push(format!("added {}", clip(&added.join(", "))));
    }
    if !removed.is_empty() {
        parts.push(format!("removed {}", clip(&removed.join(", "))));
    }
    if added.is_empty() && removed.is_empty() {
        parts.push("the same items in another order".to_string());
    }
    Some(parts.join("; "))
}

/// The plan of a partial restore, as the CLI and the UI's confirmation show it.
pub fn plan_lines(p: &MergePlan) -> Vec<String> {
    let mut lines = Vec::new();
    for id in &p.nodes_added {
        lines.push(format!("add back node {id}"));
    }
    // A conflict's changes run from the current version (old) to the backup's (new).
    for c in &p.nodes_overwritten {
        lines.push(format!(
            "overwrite node {} with the backup's version (the current one was modified {})",
            c.id,
            c.current_modified.as_deref().unwrap_or("?")
        ));
        lines.extend(
            c.changes
                .data
                .iter()
                .map(|f| format!("    data {}", field_line(f))),
        );
    }
    for c in &p.nodes_kept {
        lines.push(format!(
            "keep node {} as it is now (changed after the backup)",
            c.id
        ));
    }
    for c in &p.conflicts {
        lines.push(format!(
            "CONFLICT node {} changed after the backup (modified {} there, {} now):",
            c.id,
            c.backup_modified.as_deref().unwrap_or("?"),
            c.current_modified.as_deref().unwrap_or("?")
        ));
        lines.extend(
            c.changes
                .data
                .iter()
                .map(|f| format!("    data {}", field_line(f))),
        );
    }
    for id in &p.nodes_unchanged {
        lines.push(format!("node {id} is the same in both: left as it is"));
    }
    for e in &p.edges_added {
        lines.push(format!(
            "add edge {} {} -> {} ({})",
            e.id,
            e.from,
            e.to,
            e.relationship.as_deref().unwrap_or("-")
        ));
    }
    for s in &p.edges_skipped {
        let why = match &s.reason {
            SkipReason::MissingEndpoint { missing } => {
                format!("{} no longer exists", missing.join(" and "))
            }
            SkipReason::IdInUse => "its id is used by another edge now".to_string(),
            SkipReason::PairConnected { by } => format!("the pair is connected by {by} now"),
        };
        lines.push(format!(
            "skip edge {} {} -> {}: {why}",
            s.edge.id, s.edge.from, s.edge.to
        ));
    }
    if p.edges_already_present > 0 {
        lines.push(format!(
            "{} edges of these nodes are in the current graph already",
            p.edges_already_present
        ));
    }
    if !p.connections_updated.is_empty() {
        lines.push(format!(
            "connection lists updated on {}",
            p.connections_updated.join(", ")
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changed(old: &str, new: &str) -> String {
        field_line(&FieldChange {
            key: "connections_in".into(),
            change: FieldChangeKind::Changed,
            old: Some(old.into()),
            new: Some(new.into()),
        })
    }

    #[test]
    fn edge_changes_past_the_first_few_are_counted() {
        assert_eq!(more_edge_changes(0), None);
        assert_eq!(more_edge_changes(EDGE_CHANGES_SHOWN), None);
        assert_eq!(
            more_edge_changes(EDGE_CHANGES_SHOWN + 1).as_deref(),
            Some("… and 1 more edge change")
        );
        assert_eq!(
            more_edge_changes(EDGE_CHANGES_SHOWN + 3047).as_deref(),
            Some("… and 3047 more edge changes")
        );
    }

    #[test]
    fn a_long_list_change_says_what_was_added_and_removed() {
        let ids = |n: usize| {
            (0..n)
                .map(|i| format!("\"edge_{i:08}\""))
                .collect::<Vec<_>>()
        };
        let old = format!("[{}]", ids(6).join(","));
        let mut grown = ids(6);
        grown.push("\"edge_new\"".into());
        grown.remove(1);
        let new = format!("[{}]", grown.join(","));
        assert_eq!(
            changed(&old, &new),
            "~ connections_in: 6 items -> 6; added \"edge_new\"; removed \"edge_00000001\""
        );
        let mut reordered = ids(6);
        reordered.reverse();
        assert_eq!(
            changed(&old, &format!("[{}]", reordered.join(","))),
            "~ connections_in: 6 items -> 6; the same items in another order"
        );
        // Short lists, and anything that is not two lists, are shown whole.
        assert_eq!(
            changed("[1,2]", "[2,3]"),
            "~ connections_in: [1,2] -> [2,3]"
        );
        let long = format!("\"{}\"", "x".repeat(80));
        assert!(changed(&long, "[1]").contains(" -> [1]"));
    }
}
