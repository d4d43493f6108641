//! The consistency check: what makes a graph contradict itself (dangling edges,
//! duplicate ids, wrong counts), named by id.

use super::*;

impl KnowledgeGraph {
    /// Checks the graph's internal references. Problems are corruption; warnings are
    /// states the application itself produces. Each message names the ids concerned (at
    /// most [`MAX_LISTED`], then how many more).
    pub fn check_consistency(&self) -> Consistency {
        // Lookups by node key cost a few cache misses each: on a 100 MB graph the node pass
        // and the edge endpoints take hundreds of milliseconds, so they run on a second core
        // while this one checks the edge ids.
        let node_pass = || {
            let mut duplicate_keys = Vec::new();
            let mut mismatched = Vec::new();
            let mut minimal = Vec::new();
            for (i, node) in self.nodes.iter().enumerate() {
                if self.node_position(node.key()) != Some(i)
                    && !duplicate_keys.contains(&node.key())
                {
                    duplicate_keys.push(node.key());
                }
                if node.key.is_some() {
                    mismatched.push(format!("{:?} has id {:?}", node.key(), node.id()));
                }
                if node.is_minimal() {
                    minimal.push(node.key());
                }
            }
            let mut dangling = Vec::new();
            for edge in &self.edges {
                let missing: Vec<&str> = [edge.from(), edge.to()]
                    .into_iter()
                    .filter(|id| self.node_position(id).is_none())
                    .collect();
                if !missing.is_empty() {
                    dangling.push(format!("{} -> {}", edge.id(), missing.join(", ")));
                }
            }
            (duplicate_keys, mismatched, minimal, dangling)
        };
        let edge_pass = || {
            // Positions of the first edge with each id, found by the id's
            // text: a quarter of the memory of a set of `&str`.
            let id_of = |j: &u32| self.edges[*j as usize].id();
            let mut seen_edges: HashTable<u32> = HashTable::with_capacity(self.edges.len());
            let mut duplicate_edges = Vec::new();
            let mut bad_strength = Vec::new();
            for (i, edge) in self.edges.iter().enumerate() {
                let id = edge.id();
                match seen_edges.entry(
                    self.lookup.key(id),
                    |j| id_of(j) == id,
                    |j| self.lookup.key(id_of(j)),
                ) {
                    hash_table::Entry::Occupied(_) => {
                        if !duplicate_edges.contains(&id) {
                            duplicate_edges.push(id);
                        }
                    }
                    hash_table::Entry::Vacant(slot) => {
                        slot.insert(offset(i));
                    }
                }
                // `null` is what the application writes for an edge it gave no
                // strength: a warning (below), not a fault.
                if edge
                    .strength_json()
                    .is_some_and(|text| text.trim() != "null")
                    && edge.strength().is_none()
                {
                    bad_strength.push(edge.id());
                }
            }
            let mut dangling_connections = Vec::new();
            for node in &self.nodes {
                for (list, direction) in
                    [(&node.connections_in, "in"), (&node.connections_out, "out")]
                {
                    let known = |id: &&str| {
                        seen_edges
                            .find(self.lookup.key(id), |j| id_of(j) == *id)
                            .is_some()
                    };
                    for id in list.iter().filter(|id| !known(id)) {
                        dangling_connections.push(format!("{}: {direction} {id}", node.key()));
                    }
                }
            }
            (duplicate_edges, bad_strength, dangling_connections)
        };
        let (
            (duplicate_keys, mismatched, minimal, dangling),
            (duplicate_edges, bad_strength, dangling_connections),
        ) = if self.edges.len() < PARALLEL_CHECK_MIN_EDGES {
            (node_pass(), edge_pass())
        } else {
            std::thread::scope(|s| {
                let nodes = s.spawn(node_pass);
                let edges = edge_pass();
                let nodes = nodes
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                (nodes, edges)
            })
        };

        let mut report = Consistency::default();
        push_listed(
            &mut report.problems,
            ["duplicate node key", "duplicate node keys"],
            &duplicate_keys,
        );
        push_listed(
            &mut report.problems,
            [
                "node whose id differs from its key",
                "nodes whose id differs from their key",
            ],
            &mismatched,
        );
        push_listed(
            &mut report.problems,
            ["duplicate edge id", "duplicate edge ids"],
            &duplicate_edges,
        );
        push_listed(
            &mut report.problems,
            [
                "dangling edge (endpoint is not a node)",
                "dangling edges (endpoint is not a node)",
            ],
            &dangling,
        );
        push_listed(
            &mut report.problems,
            [
                "edge whose strength is not a number",
                "edges whose strength is not a number",
            ],
            &bad_strength,
        );
        push_listed(
            &mut report.warnings,
            [
                "connection id that names no edge",
                "connection ids that name no edge",
            ],
            &dangling_connections,
        );
        push_listed(
            &mut report.warnings,
            [
                "node with nothing but an id",
                "nodes with nothing but an id",
            ],
            &minimal,
        );
        let missing_strength: Vec<&str> = self
            .edges
            .iter()
            .filter(|e| e.strength_json().is_none_or(|text| text.trim() == "null"))
            .map(Edge::id)
            .collect();
        push_listed(
            &mut report.warnings,
            [
                "edge without a strength (absent or null)",
                "edges without a strength (absent or null)",
            ],
            &missing_strength,
        );
        report
    }
}

/// At most this many ids are named in one consistency message.
pub const MAX_LISTED: usize = 20;

/// Below this many edges the consistency check is a few milliseconds: not worth a thread.
const PARALLEL_CHECK_MIN_EDGES: usize = 20_000;

/// `what` is the singular and the plural: "1 dangling edge", "2 dangling edges".
fn push_listed<T: fmt::Display>(messages: &mut Vec<String>, what: [&str; 2], items: &[T]) {
    if items.is_empty() {
        return;
    }
    let what = if items.len() == 1 { what[0] } else { what[1] };
    let mut message = format!("{} {what}: ", items.len());
    for (i, item) in items.iter().take(MAX_LISTED).enumerate() {
        if i > 0 {
            message.push_str(", ");
        }
        message.push_str(&item.to_string());
    }
    if items.len() > MAX_LISTED {
        message.push_str(&format!(" and {} more", items.len() - MAX_LISTED));
    }
    messages.push(message);
}
