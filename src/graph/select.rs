//! Looking at single nodes of a graph: the node table a browser shows (type, id, degree,
//! modified), filters by type and text, one node's detail with its edges, and a node's
//! own JSON text for comparisons.

use std::collections::HashMap;

use serde::Serialize;

use super::change::compact_json;
use super::{Edge, KnowledgeGraph, Node, write_edge, write_node};

/// One row of a node table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeSummary {
    pub id: String,
    /// The node's `type`; `None` when absent or `null`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Edges that start or end at the node (a self-loop counts once).
    pub degree: usize,
    pub modified: Option<String>,
}

/// Which nodes a table shows.
#[derive(Debug, Clone, Default)]
pub struct NodeFilter {
    /// Only nodes of this `type`.
    pub kind: Option<String>,
    /// Only nodes whose id or `data` text contains this, ignoring ASCII case.
    pub grep: Option<String>,
}

impl NodeFilter {
    /// Whether `node` passes the filter.
    pub fn matches(&self, node: &Node) -> bool {
        if let Some(kind) = &self.kind
            && node.kind() != Some(kind.as_str())
        {
            return false;
        }
        match &self.grep {
            None => true,
            Some(needle) if needle.is_empty() => true,
            Some(needle) => {
                let needle = needle.to_ascii_lowercase();
                contains_ignore_case(node.key(), &needle)
                    || node
                        .data_json()
                        .is_some_and(|d| contains_ignore_case(d, &needle))
            }
        }
    }
}

/// `haystack` contains `needle_lower` (already lower case), ignoring ASCII case.
pub fn contains_ignore_case(haystack: &str, needle_lower: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle_lower.as_bytes());
    if n.is_empty() {
        return true;
    }
    h.windows(n.len())
        .any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b))
}

/// One edge as a node's detail shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EdgeView {
    pub id: String,
    pub from: String,
    pub to: String,
    /// The edge's `type`.
    pub relationship: Option<String>,
    pub strength: Option<f64>,
    /// The strength as the file has it (keeps `NaN`).
    pub strength_json: Option<String>,
    /// Whether the node at the other end exists in the graph.
    pub other_end_exists: bool,
}

/// Everything about one node: its fields, payload and edges in both directions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeDetail {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub created: Option<String>,
    pub modified: Option<String>,
    /// The `data` payload as JSON, when it is strict JSON (no bare `NaN`).
    pub data: Option<serde_json::Value>,
    /// The `data` payload as compact JSON text, exactly as the file has it.
    pub data_json: Option<String>,
    /// The node's `metadata` as compact JSON text.
    pub metadata_json: Option<String>,
    /// Edges that start here.
    pub edges_out: Vec<EdgeView>,
    /// Edges that end here.
    pub edges_in: Vec<EdgeView>,
    /// Keys the application does not define.
    pub unknown_keys: Vec<String>,
}

impl Node {
    /// The node's JSON object exactly as the graph writes it (indented for its place in
    /// `graph.json`).
    pub fn json_text(&self) -> String {
        let mut out = Vec::new();
        write_node(&mut out, self);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Edge {
    /// The edge's JSON object exactly as the graph writes it.
    pub fn json_text(&self) -> String {
        let mut out = Vec::new();
        write_edge(&mut out, self);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl KnowledgeGraph {
    /// Number of edges at each node key (a self-loop counts once).
    pub fn degrees(&self) -> HashMap<&str, usize> {
        let mut degrees: HashMap<&str, usize> = HashMap::with_capacity(self.nodes.len());
        for edge in &self.edges {
            *degrees.entry(edge.from()).or_default() += 1;
            if edge.to() != edge.from() {
                *degrees.entry(edge.to()).or_default() += 1;
            }
        }
        degrees
    }

    /// The node table, in file order, of the nodes `filter` lets through (the node a
    /// repeated key resolves to only).
    pub fn node_summaries(&self, filter: &NodeFilter) -> Vec<NodeSummary> {
        let degrees = self.degrees();
        self.nodes
            .iter()
            .enumerate()
            .filter(|(i, n)| self.node_position(n.key()) == Some(*i) && filter.matches(n))
            .map(|(_, n)| NodeSummary {
                id: n.key().to_owned(),
                kind: n.kind().map(str::to_owned),
                degree: degrees.get(n.key()).copied().unwrap_or(0),
                modified: n.modified().map(|m| m.into_owned()),
            })
            .collect()
    }

    /// The node types present, with their counts, in order of first appearance.
    pub fn node_types(&self) -> Vec<(String, usize)> {
        self.stats().node_types
    }

    /// Edges that start or end at `key`, in file order.
    pub fn edges_of<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a Edge> + 'a {
        self.edges
            .iter()
            .filter(move |e| e.from() == key || e.to() == key)
    }

    fn edge_view(&self, edge: &Edge, other: &str) -> EdgeView {
        EdgeView {
            id: edge.id().to_owned(),
            from: edge.from().to_owned(),
            to: edge.to().to_owned(),
            relationship: edge.relationship().map(str::to_owned),
            strength: edge.strength(),
            strength_json: edge.strength_json().map(str::to_owned),
            other_end_exists: self.node(other).is_some(),
        }
    }

    /// The detail of the node stored under `key`, or `None` when there is none.
    pub fn node_detail(&self, key: &str) -> Option<NodeDetail> {
        let node = self.node(key)?;
        let mut edges_out = Vec::new();
        let mut edges_in = Vec::new();
        for edge in self.edges_of(key) {
            if edge.from() == key {
                edges_out.push(self.edge_view(edge, edge.to()));
            }
            if edge.to() == key {
                edges_in.push(self.edge_view(edge, edge.from()));
            }
        }
        let data_json = node.data_json().map(compact_json);
        Some(NodeDetail {
            id: node.key().to_owned(),
            kind: node.kind().map(str::to_owned),
            created: node.created().map(|c| c.into_owned()),
            modified: node.modified().map(|m| m.into_owned()),
            data: data_json
                .as_deref()
                .and_then(|d| serde_json::from_str(d).ok()),
            data_json,
            metadata_json: node.metadata_json().map(compact_json),
            edges_out,
            edges_in,
            unknown_keys: node.unknown_keys().map(str::to_owned).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph() -> KnowledgeGraph {
        let mut g = KnowledgeGraph::new(2);
        g.seed_ids(7);
        g.add_node_at(
            "stock",
            &serde_json::json!({"symbol": "AAPL"}),
            Some("AAPL"),
            "2025-10-03T00:00:00",
        );
        g.add_node_at(
            "stock",
            &serde_json::json!({"symbol": "MSFT"}),
            Some("MSFT"),
            "2025-10-03T00:00:01",
        );
        g.add_node_at(
            "sector",
            &serde_json::json!({"name": "Tech"}),
            Some("tech"),
            "2025-10-03T00:00:02",
        );
        g.connect_at("AAPL", "MSFT", "sector_peer", 0.8, "2025-10-03T00:00:03")
            .expect("edge");
        g.connect_at("AAPL", "tech", "in_sector", 1.0, "2025-10-03T00:00:03")
            .expect("edge");
        g
    }

    #[test]
    fn summaries_filter_by_type_and_text() {
        let g = graph();
        let all = g.node_summaries(&NodeFilter::default());
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].degree, 2);
        assert_eq!(all[0].modified.as_deref(), Some("2025-10-03T00:00:00"));
        let stocks = g.node_summaries(&NodeFilter {
            kind: Some("stock".into()),
            grep: None,
        });
        assert_eq!(stocks.len(), 2);
        let grep = g.node_summaries(&NodeFilter {
            kind: None,
            grep: Some("TECH".into()),
        });
        assert_eq!(grep.len(), 1, "matches data text, ignoring case");
        assert_eq!(grep[0].id, "tech");
    }

    #[test]
    fn detail_lists_edges_both_ways() {
        let g = graph();
        let d = g.node_detail("AAPL").expect("node");
        assert_eq!(d.edges_out.len(), 2);
        assert!(d.edges_in.is_empty());
        assert_eq!(d.edges_out[0].strength, Some(0.8));
        assert_eq!(d.data, Some(serde_json::json!({"symbol": "AAPL"})));
        let m = g.node_detail("MSFT").expect("node");
        assert_eq!(m.edges_in.len(), 1);
        assert!(g.node_detail("nope").is_none());
    }
}
