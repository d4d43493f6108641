//! Comparing two graphs by node key and edge id.

use super::*;

/// Whether two serialized objects whose bytes differ hold the same values (a string
/// escaped another way, other spacing in a kept value); `unchanged` compares their texts.
fn same_values(a: &[u8], b: &[u8], unchanged: fn(&str, &str) -> bool) -> bool {
    match (std::str::from_utf8(a), std::str::from_utf8(b)) {
        (Ok(a), Ok(b)) => unchanged(a, b),
        _ => false,
    }
}

fn same_node(a: &str, b: &str) -> bool {
    change::node_changes(a, b).is_ok_and(|c| c.is_empty())
}

fn same_edge(a: &str, b: &str) -> bool {
    change::object_changes(a, b).is_ok_and(|c| c.is_empty())
}

/// Compares two graphs by node key and edge id; a node or edge counts as changed when its
/// values differ (its serialized text, read with each string decoded).
pub fn diff(old: &KnowledgeGraph, new: &KnowledgeGraph) -> GraphDiff {
    let mut report = GraphDiff {
        old_node_count: old.node_count(),
        new_node_count: new.node_count(),
        old_edge_count: old.edge_count(),
        new_edge_count: new.edge_count(),
        ..GraphDiff::default()
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for (i, node) in new.nodes.iter().enumerate() {
        // Only the node a key resolves to takes part, as in the application's dict.
        if new.node_position(node.key()) != Some(i) {
            continue;
        }
        match old.node(node.key()) {
            None => report.nodes_added.push(node.key().to_owned()),
            Some(before) => {
                a.clear();
                b.clear();
                write_node(&mut a, before);
                write_node(&mut b, node);
                if a != b && !same_values(&a, &b, same_node) {
                    report.nodes_changed.push(node.key().to_owned());
                }
            }
        }
    }
    for (i, node) in old.nodes.iter().enumerate() {
        if old.node_position(node.key()) == Some(i) && new.node(node.key()).is_none() {
            report.nodes_removed.push(node.key().to_owned());
        }
    }
    for (i, edge) in new.edges.iter().enumerate() {
        if new.edge_position(edge.id()) != Some(i) {
            continue;
        }
        match old.edge(edge.id()) {
            None => report.edges_added.push(edge.id().to_owned()),
            Some(before) => {
                a.clear();
                b.clear();
                write_edge(&mut a, before);
                write_edge(&mut b, edge);
                if a != b && !same_values(&a, &b, same_edge) {
                    report.edges_changed.push(edge.id().to_owned());
                }
            }
        }
    }
    for (i, edge) in old.edges.iter().enumerate() {
        if old.edge_position(edge.id()) == Some(i) && new.edge(edge.id()).is_none() {
            report.edges_removed.push(edge.id().to_owned());
        }
    }
    report
}

// ---------------------------------------------------------------------------------------------
// Parsing
