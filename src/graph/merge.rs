//! Bringing chosen nodes of an older graph (a backup) into a newer one (the current
//! graph) without losing what changed since: the plan of a partial restore, and the
//! merged graph.
//!
//! Rules:
//! - A chosen node absent from the newer graph is added back as the older graph had it.
//! - A chosen node present in both whose content differs (anything but its connection
//!   lists) is a conflict: it changed after the older graph was taken. It is overwritten
//!   with the older version only with [`Prefer::Backup`], kept with [`Prefer::Current`],
//!   and left unresolved otherwise (the caller refuses to write).
//! - With edges, every edge of the older graph at a chosen node is added when both its
//!   endpoints exist in the result, its id is free and (version 2) the pair of nodes is
//!   not connected already; otherwise it is reported as skipped, with why.
//! - The connection lists of every node touched hold exactly the edges of the result
//!   that are recorded for it: ids of edges that do not exist are dropped, edges added
//!   are recorded at both ends.

use std::collections::HashSet;

use serde::Serialize;

use super::change::{NodeChanges, node_changes};
use super::{Connections, KnowledgeGraph, N_CONN_IN, N_CONN_OUT};

/// Which version wins when a chosen node changed after the backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Prefer {
    /// Overwrite the newer version with the backup's.
    Backup,
    /// Keep the newer version (its edges may still be restored).
    Current,
}

impl std::str::FromStr for Prefer {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "backup" => Ok(Prefer::Backup),
            "current" => Ok(Prefer::Current),
            other => Err(format!("{other:?} is not backup or current")),
        }
    }
}

/// What to bring over.
#[derive(Debug, Clone, Default)]
pub struct MergeOptions {
    /// Node keys of the older graph.
    pub nodes: Vec<String>,
    /// Also bring the older graph's edges at those nodes.
    pub with_edges: bool,
    /// How conflicts are resolved; `None` leaves them unresolved.
    pub prefer: Option<Prefer>,
}

/// A chosen node that exists in both graphs with different content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeConflict {
    pub id: String,
    /// `modified` of the backup's version.
    pub backup_modified: Option<String>,
    /// `modified` of the newer version.
    pub current_modified: Option<String>,
    /// From the newer version (old) to the backup's (new): what overwriting would change.
    pub changes: NodeChanges,
}

/// Why an edge of the backup was not brought over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum SkipReason {
    /// An endpoint is neither in the current graph nor among the nodes restored.
    MissingEndpoint { missing: Vec<String> },
    /// Another edge of the current graph already has this id.
    IdInUse,
    /// The current graph (version 2: one edge per pair) already connects the pair.
    PairConnected { by: String },
}

/// An edge of the backup at a chosen node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EdgeRef {
    pub id: String,
    pub from: String,
    pub to: String,
    pub relationship: Option<String>,
}

/// An edge that was not brought over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedEdge {
    #[serde(flatten)]
    pub edge: EdgeRef,
    #[serde(flatten)]
    pub reason: SkipReason,
}

/// Exactly what a merge changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MergePlan {
    /// Chosen nodes absent from the current graph: added back.
    pub nodes_added: Vec<String>,
    /// Conflicts resolved for the backup: the newer version is replaced (the change
    /// lists what the newer version had).
    pub nodes_overwritten: Vec<NodeConflict>,
    /// Conflicts resolved for the current graph: the node is left as it is.
    pub nodes_kept: Vec<NodeConflict>,
    /// Conflicts with no resolution: nothing may be written.
    pub conflicts: Vec<NodeConflict>,
    /// Chosen nodes identical in both (connection lists aside).
    pub nodes_unchanged: Vec<String>,
    /// Chosen ids the backup does not have.
    pub nodes_not_in_backup: Vec<String>,
    pub edges_added: Vec<EdgeRef>,
    pub edges_skipped: Vec<SkippedEdge>,
    /// Edges of the backup at chosen nodes that the current graph has already.
    pub edges_already_present: usize,
    /// Nodes not chosen whose connection lists gained an edge added.
    pub connections_updated: Vec<String>,
}

impl MergePlan {
    /// True when the merge would change nothing.
    pub fn is_noop(&self) -> bool {
        self.nodes_added.is_empty()
            && self.nodes_overwritten.is_empty()
            && self.edges_added.is_empty()
    }
}

/// Keeps the ids of `list` that name an edge of `edges`, without repeats.
fn filtered(
    list: &Connections,
    edges: &HashSet<String>,
    seen: &mut HashSet<String>,
) -> Vec<String> {
    list.iter()
        .filter(|id| edges.contains(*id) && seen.insert((*id).to_owned()))
        .map(str::to_owned)
        .collect()
}

/// Merges the chosen nodes of `backup` into a copy of `current`. Returns the plan and the
/// merged graph (equal to `current` when the plan has unresolved conflicts).
pub fn merge_nodes(
    current: &KnowledgeGraph,
    backup: &KnowledgeGraph,
    options: &MergeOptions,
) -> (MergePlan, KnowledgeGraph) {
    let mut plan = MergePlan::default();
    let mut chosen: Vec<&str> = Vec::new();
    for id in &options.nodes {
        if !chosen.contains(&id.as_str()) {
            chosen.push(id);
        }
    }
    // (key, replace-in-place?) of the nodes whose backup version goes in.
    let mut restored: Vec<(&str, bool)> = Vec::new();
    let mut in_backup: Vec<&str> = Vec::new();
    for &id in &chosen {
        let Some(old) = backup.node(id) else {
            plan.nodes_not_in_backup.push(id.to_owned());
            continue;
        };
        in_backup.push(id);
        let Some(now) = current.node(id) else {
            plan.nodes_added.push(id.to_owned());
            restored.push((id, false));
            continue;
        };
        let changes = node_changes(&now.json_text(), &old.json_text()).unwrap_or_default();
        if !changes.touches_content() {
            plan.nodes_unchanged.push(id.to_owned());
            continue;
        }
        let conflict = NodeConflict {
            id: id.to_owned(),
            backup_modified: old.modified().map(|m| m.into_owned()),
            current_modified: now.modified().map(|m| m.into_owned()),
            changes,
        };
        match options.prefer {
            Some(Prefer::Backup) => {
                plan.nodes_overwritten.push(conflict);
                restored.push((id, true));
            }
            Some(Prefer::Current) => plan.nodes_kept.push(conflict),
            None => plan.conflicts.push(conflict),
        }
    }

    let mut merged = current.clone();
    // Nodes first, so that edges see every endpoint the result will have.
    let mut result_edges: HashSet<String> =
        current.edges.iter().map(|e| e.id().to_owned()).collect();
    for &(id, replace) in &restored {
        let Some(old) = backup.node(id) else { continue };
        let mut node = old.clone();
        let mut seen = HashSet::new();
        let mut ins = filtered(&old.connections_in, &result_edges, &mut seen);
        let mut seen_out = HashSet::new();
        let mut outs = filtered(&old.connections_out, &result_edges, &mut seen_out);
        if replace && let Some(now) = current.node(id) {
            // Edges made since the backup stay, and stay recorded.
            ins.extend(filtered(&now.connections_in, &result_edges, &mut seen));
            outs.extend(filtered(&now.connections_out, &result_edges, &mut seen_out));
        }
        node.connections_in = Connections::default();
        node.connections_out = Connections::default();
        for e in &ins {
            node.connections_in.push(e);
        }
        for e in &outs {
            node.connections_out.push(e);
        }
        match merged.node_position(id).filter(|_| replace) {
            Some(i) => merged.nodes[i] = node,
            None => merged.push_node(node),
        }
    }

    if options.with_edges {
        let mut updated: Vec<String> = Vec::new();
        for edge in backup.edges.iter() {
            if !in_backup
                .iter()
                .any(|id| *id == edge.from() || *id == edge.to())
            {
                continue;
            }
            let eref = EdgeRef {
                id: edge.id().to_owned(),
                from: edge.from().to_owned(),
                to: edge.to().to_owned(),
                relationship: edge.relationship().map(str::to_owned),
            };
            if let Some(existing) = merged.edge(edge.id()) {
                if existing.from() == edge.from() && existing.to() == edge.to() {
                    plan.edges_already_present += 1;
                } else {
                    plan.edges_skipped.push(SkippedEdge {
                        edge: eref,
                        reason: SkipReason::IdInUse,
                    });
                }
                continue;
            }
            let missing: Vec<String> = [edge.from(), edge.to()]
                .into_iter()
                .filter(|id| merged.node_position(id).is_none())
                .map(str::to_owned)
                .collect::<Vec<_>>();
            let mut missing = missing;
            missing.dedup();
            if !missing.is_empty() {
                plan.edges_skipped.push(SkippedEdge {
                    edge: eref,
                    reason: SkipReason::MissingEndpoint { missing },
                });
                continue;
            }
            if merged.version() >= 2
                && let Some(i) = merged.edge_between(edge.from(), edge.to())
            {
                plan.edges_skipped.push(SkippedEdge {
                    edge: eref,
                    reason: SkipReason::PairConnected {
                        by: merged.edges[i].id().to_owned(),
                    },
                });
                continue;
            }
            merged.push_edge(edge.clone());
            result_edges.insert(edge.id().to_owned());
            for (end, list) in [(edge.from(), N_CONN_OUT), (edge.to(), N_CONN_IN)] {
                if let Some(i) = merged.node_position(end) {
                    let node = &mut merged.nodes[i];
                    let has = if list == N_CONN_OUT {
                        node.connections_out.contains(edge.id())
                    } else {
                        node.connections_in.contains(edge.id())
                    };
                    if !has {
                        node.record_connection(list, edge.id());
                    }
                }
                if !chosen.contains(&end) && !updated.iter().any(|u| u == end) {
                    updated.push(end.to_owned());
                }
            }
            plan.edges_added.push(eref);
        }
        plan.connections_updated = updated;
    }

    if !plan.conflicts.is_empty() {
        return (plan, current.clone());
    }
    (plan, merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T: &str = "2025-10-03T00:00:00";

    /// A -> B -> C, and D -> A.
    fn backup() -> KnowledgeGraph {
        let mut g = KnowledgeGraph::new(2);
        g.seed_ids(1);
        for id in ["A", "B", "C", "D"] {
            g.add_node_at("stock", &json!({"symbol": id, "price": 1.0}), Some(id), T);
        }
        g.connect_at("A", "B", "peer", 0.5, T).expect("edge");
        g.connect_at("B", "C", "peer", 0.6, T).expect("edge");
        g.connect_at("D", "A", "peer", 0.7, T).expect("edge");
        g
    }

    fn consistent_connections(g: &KnowledgeGraph) {
        assert!(
            g.check_consistency().is_consistent(),
            "{:?}",
            g.check_consistency()
        );
        for node in g.nodes() {
            for id in node.connections_out().iter() {
                assert_eq!(g.edge(id).map(|e| e.from()), Some(node.key()), "{id}");
            }
            for id in node.connections_in().iter() {
                assert_eq!(g.edge(id).map(|e| e.to()), Some(node.key()), "{id}");
            }
        }
        for edge in g.edges() {
            assert!(
                g.node(edge.from())
                    .is_some_and(|n| n.connections_out().contains(edge.id()))
            );
            assert!(
                g.node(edge.to())
                    .is_some_and(|n| n.connections_in().contains(edge.id()))
            );
        }
    }

    #[test]
    fn adds_back_a_deleted_node_with_its_edges_where_endpoints_exist() {
        let old = backup();
        let mut now = old.clone();
        now.remove_node("B");
        now.remove_node("C");
        now.set_node_data_json(
            "A",
            r#"{"symbol": "A", "price": 2.0}"#,
            "2025-10-04T00:00:00",
        )
        .expect("edit");
        let (plan, merged) = merge_nodes(
            &now,
            &old,
            &MergeOptions {
                nodes: vec!["B".into()],
                with_edges: true,
                prefer: None,
            },
        );
        assert_eq!(plan.nodes_added, ["B"]);
        assert_eq!(plan.edges_added.len(), 1, "A -> B");
        assert_eq!(plan.edges_skipped.len(), 1, "B -> C: C is gone");
        assert!(matches!(
            &plan.edges_skipped[0].reason,
            SkipReason::MissingEndpoint { missing } if missing == &["C".to_string()]
        ));
        assert_eq!(plan.connections_updated, ["A"]);
        consistent_connections(&merged);
        // The newer change to A survives.
        assert!(
            merged
                .node("A")
                .and_then(|n| n.data_json())
                .is_some_and(|d| d.contains("2.0"))
        );
        assert_eq!(merged.node_count(), 3);
    }

    #[test]
    fn without_edges_the_node_comes_back_alone() {
        let old = backup();
        let mut now = old.clone();
        now.remove_node("B");
        let (plan, merged) = merge_nodes(
            &now,
            &old,
            &MergeOptions {
                nodes: vec!["B".into()],
                ..MergeOptions::default()
            },
        );
        assert_eq!(plan.nodes_added, ["B"]);
        assert!(plan.edges_added.is_empty());
        assert!(
            merged
                .node("B")
                .is_some_and(|n| n.connections_in().is_empty() && n.connections_out().is_empty())
        );
        consistent_connections(&merged);
    }

    #[test]
    fn a_node_changed_since_is_a_conflict_until_a_side_is_preferred() {
        let old = backup();
        let mut now = old.clone();
        now.set_node_data_json(
            "A",
            r#"{"symbol": "A", "price": 3.0}"#,
            "2025-10-05T00:00:00",
        )
        .expect("edit");
        now.connect_at("A", "C", "peer", 0.9, T).expect("new edge");
        let options = |prefer| MergeOptions {
            nodes: vec!["A".into()],
            with_edges: true,
            prefer,
        };
        let (plan, merged) = merge_nodes(&now, &old, &options(None));
        assert_eq!(plan.conflicts.len(), 1);
        assert_eq!(plan.conflicts[0].changes.data[0].key, "price");
        assert_eq!(merged.to_vec(), now.to_vec(), "unresolved: nothing merged");

        let (plan, merged) = merge_nodes(&now, &old, &options(Some(Prefer::Backup)));
        assert_eq!(plan.nodes_overwritten.len(), 1);
        assert_eq!(
            plan.nodes_overwritten[0].current_modified.as_deref(),
            Some("2025-10-05T00:00:00")
        );
        let a = merged.node("A").expect("A");
        assert!(a.data_json().is_some_and(|d| d.contains("1.0")));
        // The edge made since the backup is still there and still recorded.
        assert_eq!(a.connections_out().len(), 2);
        consistent_connections(&merged);

        let (plan, merged) = merge_nodes(&now, &old, &options(Some(Prefer::Current)));
        assert_eq!(plan.nodes_kept.len(), 1);
        assert!(
            merged
                .node("A")
                .and_then(|n| n.data_json())
                .is_some_and(|d| d.contains("3.0"))
        );
        consistent_connections(&merged);
    }

    #[test]
    fn unknown_ids_and_taken_pairs_are_reported() {
        let old = backup();
        let mut now = old.clone();
        let ab = old.edges().next().map(|e| e.id().to_owned()).expect("edge");
        now.remove_edge(&ab);
        now.connect_at("A", "B", "other", 0.1, T).expect("edge");
        now.remove_node("D");
        let (plan, merged) = merge_nodes(
            &now,
            &old,
            &MergeOptions {
                nodes: vec!["A".into(), "Z".into(), "D".into()],
                with_edges: true,
                prefer: Some(Prefer::Backup),
            },
        );
        assert_eq!(plan.nodes_not_in_backup, ["Z"]);
        assert_eq!(plan.nodes_added, ["D"]);
        assert!(
            plan.edges_skipped
                .iter()
                .any(|s| matches!(s.reason, SkipReason::PairConnected { .. }))
        );
        assert!(plan.edges_added.iter().any(|e| e.from == "D"));
        consistent_connections(&merged);
    }
}
