//! Looking inside one graph of the store: its node table (filtered by type or text) and
//! one node's detail with its edges.

use std::time::Instant;

use serde::Serialize;

use super::Store;
use super::error::{Result, StoreError};
use super::verify::{Depth, FileReport, Target};
use crate::graph::KnowledgeGraph;
use crate::graph::select::{NodeDetail, NodeFilter, NodeSummary};

/// Options of [`Store::show`].
#[derive(Debug, Clone, Default)]
pub struct ShowOptions {
    /// Only nodes of this `type`.
    pub kind: Option<String>,
    /// Only nodes whose id or data contains this text (ASCII case ignored).
    pub grep: Option<String>,
    /// The detail of this node (data and edges both ways).
    pub node: Option<String>,
}

/// What [`Store::show`] found.
#[derive(Debug, Clone, Serialize)]
pub struct ShowReport {
    pub target: Target,
    /// The file's verification (a file that fails it is still shown when it parses).
    pub file: FileReport,
    pub node_count: usize,
    pub edge_count: usize,
    /// Node types with their counts, in order of first appearance.
    pub node_types: Vec<(String, usize)>,
    /// The nodes that pass the filter, in file order.
    pub nodes: Vec<NodeSummary>,
    /// With a node asked for: its detail.
    pub node: Option<NodeDetail>,
    pub elapsed_ms: f64,
}

/// How many times its stored size a compressed file without a meta may decode to when
/// it is read without verification (JSON compresses about ten times).
const UNVERIFIED_EXPANSION: u64 = 64;

impl Store {
    /// Why a file with a hole is never read whole: the hole reads as zero
    /// bytes, which no graph's JSON holds (the verifier's rule). `None`
    /// when it has none, or one that does not read as zero.
    pub(crate) fn sparse_reason(&self, path: &std::path::Path) -> Option<String> {
        let hole = self.fs.first_hole(path)?;
        self.fs
            .read_at(path, hole, 1, super::MAX_GRAPH_LEN)
            .is_ok_and(|b| b == [0])
            .then(|| {
                format!(
                    "sparse file: a hole at byte {hole} reads as zero bytes, which a graph's JSON never holds (not read)"
                )
            })
    }

    /// Refuses to read a sparse file whole (see [`Store::sparse_reason`]).
    pub(crate) fn refuse_sparse(&self, path: &std::path::Path) -> Result<()> {
        match self.sparse_reason(path) {
            Some(reason) => Err(StoreError::Refused {
                path: path.to_path_buf(),
                reason,
            }),
            None => Ok(()),
        }
    }

    /// Reads a graph of the store for looking at it: verified at full depth, and
    /// parsed even when verification fails, as long as it is a graph.
    ///
    /// # Errors
    /// No such backup, or the file cannot be read or parsed.
    pub(crate) fn read_graph(&self, target: &Target) -> Result<(FileReport, KnowledgeGraph)> {
        // A typo in --store is the likely cause, not a lost graph: say so
        // rather than "No such file" for a graph.json no one wrote.
        if !self.holds_store() {
            return Err(StoreError::NoStore {
                root: self.root.clone(),
            });
        }
        if let Target::Backup(id) = target {
            self.require_backup(id)?;
        }
        let mut inspection = self.inspect_target(target, Depth::Full, true);
        let graph = match inspection.graph.take() {
            Some(g) => g,
            None => {
                let path = inspection.report.path.clone();
                let bytes = self.read_unverified_plain(&inspection, "read graph")?;
                KnowledgeGraph::from_vec(bytes)
                    .map_err(|e| StoreError::Graph { path, source: e })?
            }
        };
        Ok((inspection.report, graph))
    }

    /// The plain bytes of a file that did not verify, so that what it holds can still
    /// be shown or compared. A compressed file is decoded only up to the plain size
    /// its meta records (without a meta, 64 times its stored size): a frame that says
    /// it holds more, damaged or made to inflate, is refused instead of filling memory.
    pub(crate) fn read_unverified_plain(
        &self,
        inspection: &super::verify::Inspection,
        operation: &'static str,
    ) -> Result<Vec<u8>> {
        let path = &inspection.report.path;
        self.refuse_sparse(path)?;
        let limit = match super::codec::StoredForm::of_path(path) {
            super::codec::StoredForm::Plain => super::MAX_GRAPH_LEN,
            _ => inspection
                .meta
                .as_ref()
                .and_then(|m| m.size)
                .or_else(|| {
                    self.fs
                        .entry(path)
                        .ok()
                        .map(|e| e.len.saturating_mul(UNVERIFIED_EXPANSION))
                })
                .unwrap_or(0)
                .min(super::MAX_GRAPH_LEN),
        };
        super::codec::read_plain(&*self.fs, path, limit)
            .map_err(|e| StoreError::io(operation, path, e))
    }

    /// The nodes of the primary or of one backup, filtered, and one node's detail.
    /// Reads only; needs no lock.
    ///
    /// # Errors
    /// No such backup, a file that is not a graph, or a node asked for that the graph
    /// does not have.
    pub fn show(&self, target: &Target, options: &ShowOptions) -> Result<ShowReport> {
        let started = Instant::now();
        let (file, graph) = self.read_graph(target)?;
        let node = match &options.node {
            Some(key) => Some(
                graph
                    .node_detail(key)
                    .ok_or_else(|| StoreError::NoSuchNode {
                        node: key.clone(),
                        target: target.to_string(),
                    })?,
            ),
            None => None,
        };
        let filter = NodeFilter {
            kind: options.kind.clone(),
            grep: options.grep.clone(),
        };
        let nodes = match &options.node {
            Some(key) => graph
                .node_summaries(&filter)
                .into_iter()
                .filter(|n| &n.id == key)
                .collect(),
            None => graph.node_summaries(&filter),
        };
        tracing::info!(target = %target, shown = nodes.len(), "showed nodes");
        Ok(ShowReport {
            target: target.clone(),
            node_count: graph.node_count(),
            edge_count: graph.edge_count(),
            node_types: graph.node_types(),
            nodes,
            node,
            file,
            elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
        })
    }
}
