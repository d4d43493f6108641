//! Text renderings of the node-level reports: `show`, `history` and a partial `restore`.

use std::fmt::Write;

use super::render::{Align, table};
use crate::graph::change::NodeChanges;
use crate::graph::select::EdgeView;
use crate::present::nodes::{EDGE_CHANGES_SHOWN, field_line, more_edge_changes, plan_lines};
use crate::store::history::{EdgeState, HistoryReport, NodeState};
use crate::store::nodes::ShowReport;
use crate::store::partial::PartialRestoreReport;
use crate::store::verify::{Status, Target};

fn change_lines(out: &mut String, indent: &str, c: &NodeChanges) {
    for f in &c.data {
        let _ = writeln!(out, "{indent}data {}", field_line(f));
    }
    for f in &c.fields {
        let _ = writeln!(out, "{indent}{}", field_line(f));
    }
}

fn edge_line(e: &EdgeView, outgoing: bool) -> String {
    let other = if outgoing { &e.to } else { &e.from };
    let arrow = if outgoing { "->" } else { "<-" };
    let strength = e.strength_json.as_deref().unwrap_or("-");
    let missing = if e.other_end_exists {
        ""
    } else {
        " (no such node)"
    };
    format!(
        "  {arrow} {other}{missing}  {}  strength {strength}  {}",
        e.relationship.as_deref().unwrap_or("-"),
        e.id
    )
}

pub fn show(r: &ShowReport) -> String {
    let mut out = String::new();
    let warn = if r.file.status == Status::Valid {
        String::new()
    } else {
        format!(" ({})", r.file.summary())
    };
    if let Some(d) = &r.node {
        let _ = writeln!(out, "{} in {}{warn}", d.id, r.target);
        let _ = writeln!(out, "type      {}", d.kind.as_deref().unwrap_or("-"));
        let _ = writeln!(out, "created   {}", d.created.as_deref().unwrap_or("-"));
        let _ = writeln!(out, "modified  {}", d.modified.as_deref().unwrap_or("-"));
        let _ = writeln!(out, "data      {}", d.data_json.as_deref().unwrap_or("-"));
        let _ = writeln!(
            out,
            "metadata  {}",
            d.metadata_json.as_deref().unwrap_or("-")
        );
        if !d.unknown_keys.is_empty() {
            let _ = writeln!(out, "other     {}", d.unknown_keys.join(", "));
        }
        let _ = writeln!(out, "edges out ({}):", d.edges_out.len());
        for e in &d.edges_out {
            let _ = writeln!(out, "{}", edge_line(e, true));
        }
        let _ = writeln!(out, "edges in ({}):", d.edges_in.len());
        for e in &d.edges_in {
            let _ = writeln!(out, "{}", edge_line(e, false));
        }
        return out;
    }
    let rows: Vec<Vec<String>> = r
        .nodes
        .iter()
        .map(|n| {
            vec![
                n.kind.clone().unwrap_or_else(|| "-".into()),
                n.id.clone(),
                n.degree.to_string(),
                n.modified.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            ("TYPE", Align::Left),
            ("ID", Align::Left),
            ("DEGREE", Align::Right),
            ("MODIFIED", Align::Left),
        ],
        &rows,
    ));
    let types: Vec<String> = r
        .node_types
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    let _ = writeln!(
        out,
        "{} of {} nodes shown ({} edges) in {}{warn}; types: {}",
        r.nodes.len(),
        r.node_count,
        r.edge_count,
        r.target,
        types.join(", ")
    );
    out
}

pub fn history(r: &HistoryReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "history of {} across {} graphs, newest first (present in {})",
        r.node,
        r.entries.len(),
        r.present_in
    );
    for e in &r.entries {
        let when = match (&e.target, e.time) {
            (Target::Primary, _) => "primary (now)".to_string(),
            (t, Some(time)) => format!("{t}  {}", time.format("%Y-%m-%d %H:%M:%S")),
            (t, None) => t.to_string(),
        };
        let edges = if e.edges.is_empty() {
            String::new()
        } else {
            format!(", {} edge changes", e.edges.len())
        };
        let _ = writeln!(
            out,
            "{:<11} {when}  ({} edges{edges})",
            e.state.name(),
            e.edge_count
        );
        if let Some(c) = &e.changes {
            change_lines(&mut out, "    ", c);
        }
        for c in e.edges.iter().take(EDGE_CHANGES_SHOWN) {
            let state = match c.state {
                EdgeState::Added => "+",
                EdgeState::Removed => "-",
                EdgeState::Changed => "~",
            };
            let _ = writeln!(out, "    edge {state} {} {} -> {}", c.id, c.from, c.to);
            for f in &c.fields {
                let _ = writeln!(out, "        {}", field_line(f));
            }
        }
        if let Some(more) = more_edge_changes(e.edges.len()) {
            let _ = writeln!(out, "    {more} (`--json` lists every one)");
        }
        if let Some(reason) = &e.reason {
            let prefix = if e.state == NodeState::Unreadable {
                ""
            } else {
                "note: "
            };
            let _ = writeln!(out, "    {prefix}{reason}");
        }
    }
    let _ = writeln!(
        out,
        "node index: {} cached, {} built, {} rebuilt, {} skimmed; {:.0} ms",
        r.index_hits, r.index_built, r.index_rebuilt, r.index_skimmed, r.elapsed_ms
    );
    if r.index_skimmed > 0 {
        let _ = writeln!(
            out,
            "  {} graph(s) had no node index and were read for this node alone; \
             `graphvault check` (or `history --build-index`) indexes them, after which a \
             history reads indexes only",
            r.index_skimmed
        );
    }
    out
}

pub fn partial_restore(r: &PartialRestoreReport) -> String {
    let mut out = String::new();
    let verb = if r.dry_run { "would bring" } else { "brought" };
    let chosen = r.plan.nodes_added.len()
        + r.plan.nodes_overwritten.len()
        + r.plan.nodes_kept.len()
        + r.plan.conflicts.len()
        + r.plan.nodes_unchanged.len();
    let _ = writeln!(
        out,
        "{verb} {chosen} nodes of {} into the current graph:",
        r.backup_id
    );
    for line in plan_lines(&r.plan) {
        let _ = writeln!(out, "  {line}");
    }
    let _ = writeln!(
        out,
        "result: {} nodes, {} edges",
        r.node_count, r.edge_count
    );
    if let Some(save) = &r.save {
        let _ = writeln!(
            out,
            "saved as the new primary with backup {} (sha256 {})",
            save.backup_id, save.checksum
        );
        if let Some(w) = &save.named_behind {
            let _ = writeln!(out, "warning: {w}");
        }
    }
    for e in &r.evidence {
        let _ = writeln!(out, "kept the previous file as {}", e.display());
    }
    if let Some(after) = &r.after {
        let _ = writeln!(out, "re-verified the new primary: {}", after.summary());
    }
    if r.dry_run {
        if !r.plan.conflicts.is_empty() {
            out.push_str(
                "conflicts: choose --prefer backup (overwrite) or --prefer current (keep)\n",
            );
        }
        out.push_str("dry run: nothing was written\n");
    } else if r.save.is_none() {
        out.push_str("nothing to change: nothing was written\n");
    }
    out
}
