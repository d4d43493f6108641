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
pub fn field_line(c: &FieldChange) -> String {
    let key = if c.key.is_empty() { "(value)" } else { &c.key };
    match c.change {
        FieldChangeKind::Added => format!("+ {key}: {}", clip(c.new.as_deref().unwrap_or(""))),
        FieldChangeKind::Removed => format!("- {key}: {}", clip(c.old.as_deref().unwrap_or(""))),
        FieldChangeKind::Changed => format!(
            "~ {key}: {} -> {}",
            clip(c.old.as_deref().unwrap_or("")),
            clip(c.new.as_deref().unwrap_or(""))
        ),
    }
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
