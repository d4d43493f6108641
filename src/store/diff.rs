//! Differences between two graphs of the store.

use serde::Serialize;

use super::Store;
use super::error::{Result, StoreError};
use super::verify::{Depth, FileReport, Target};
pub use crate::graph::GraphDiff;
use crate::graph::KnowledgeGraph;

/// Differences from `old` to `new`, by node id and edge id.
pub fn diff_graphs(old: &KnowledgeGraph, new: &KnowledgeGraph) -> GraphDiff {
    crate::graph::diff(old, new)
}

/// Result of [`Store::diff`].
#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    pub old: Target,
    pub new: Target,
    pub old_size: u64,
    pub new_size: u64,
    pub old_file: FileReport,
    pub new_file: FileReport,
    pub diff: GraphDiff,
}

impl Store {
    /// Compares two graphs of the store (the primary or backups by id).
    /// Files that fail checksum verification are still compared if they
    /// parse; the reports say so.
    ///
    /// # Errors
    /// No such backup, or one side cannot be parsed as a graph.
    pub fn diff(&self, old: &Target, new: &Target) -> Result<DiffReport> {
        // As for show: a directory without a store is most likely a typo
        // in the store's path, and is said to be.
        if !self.holds_store() {
            return Err(StoreError::NoStore {
                root: self.root.clone(),
            });
        }
        let load = |t: &Target| -> Result<(FileReport, KnowledgeGraph, u64)> {
            if let Target::Backup(id) = t {
                self.require_backup(id)?;
            }
            let mut inspection = self.inspect_target(t, Depth::Full, true);
            let graph = match inspection.graph.take() {
                Some(g) => g,
                None => {
                    // Verification failed before parsing, or the graph is
                    // inconsistent: parse anyway so a damaged file can be
                    // compared, as long as it is JSON of the right shape.
                    let bytes = self.read_unverified_plain(&inspection, "read for diff")?;
                    KnowledgeGraph::from_slice(&bytes).map_err(|e| StoreError::Graph {
                        path: inspection.report.path.clone(),
                        source: e,
                    })?
                }
            };
            let size = inspection.report.size.unwrap_or(0);
            Ok((inspection.report, graph, size))
        };
        let (old_file, old_graph, old_size) = load(old)?;
        let (new_file, new_graph, new_size) = load(new)?;
        let diff = diff_graphs(&old_graph, &new_graph);
        tracing::info!(old = %old, new = %new, "diffed graphs");
        Ok(DiffReport {
            old: old.clone(),
            new: new.clone(),
            old_size,
            new_size,
            old_file,
            new_file,
            diff,
        })
    }
}
