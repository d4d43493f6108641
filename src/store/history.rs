//! One node's history across the store: for the primary and every backup, newest first,
//! whether the node was added, changed (which keys of its `data`, old and new values),
//! unchanged or removed there, and the same for its edges.
//!
//! Each graph file is looked at through its node index ([`super::node_index`]), cached by
//! checksum, so a history over many large backups costs, once the indexes exist, a few
//! small reads per backup. Only the versions that differ are read from the graph files,
//! one node's or edge's bytes at a time. A graph with no index yet is read for this node
//! alone when the memo vouches for its content (a skim: one read, one hash and a walk
//! over the bytes), and indexed otherwise; `check` and `history --build-index` build the
//! missing indexes.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde::Serialize;

use super::Store;
use super::error::Result;
use super::node_index::{IndexFailure, IndexOutcome, IndexedEdge, NodeRecord, read_span};
use super::verify::Target;
use crate::graph::change::{FieldChange, NodeChanges, node_changes, object_changes};

/// Options of [`Store::history`].
#[derive(Debug, Clone, Copy, Default)]
pub struct HistoryOptions {
    /// Worker threads building missing indexes; 0 means one per core.
    pub threads: usize,
    /// Leave out the primary (backups only).
    pub backups_only: bool,
    /// Build and cache the node index of every graph that has none. Without it, a
    /// graph whose content the memo vouches for is read for this node alone (a skim,
    /// several times cheaper than indexing it); `check` builds the indexes.
    pub build_indexes: bool,
}

/// What happened to the node in one graph, compared with the next older readable one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    /// Present here and not in the older graph (or this is the oldest graph).
    Added,
    Changed,
    Unchanged,
    /// Present in the older graph, not here.
    Removed,
    /// Not here and not in the older graph either.
    Absent,
    /// The data file is not there (for the primary: the history is the
    /// backups').
    Missing,
    /// The file could not be read (corrupt, not a graph).
    Unreadable,
}

impl NodeState {
    pub fn name(self) -> &'static str {
        match self {
            NodeState::Added => "added",
            NodeState::Changed => "changed",
            NodeState::Unchanged => "unchanged",
            NodeState::Removed => "removed",
            NodeState::Absent => "absent",
            NodeState::Missing => "missing",
            NodeState::Unreadable => "unreadable",
        }
    }

    /// Whether the graph file was not there or could not be read: an
    /// integrity problem, whatever the other graphs say.
    pub fn is_problem(self) -> bool {
        matches!(self, NodeState::Missing | NodeState::Unreadable)
    }
}

/// What happened to one edge at the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeState {
    Added,
    Changed,
    Removed,
}

/// One edge at the node that differs from the older graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EdgeChange {
    pub id: String,
    pub from: String,
    pub to: String,
    pub state: EdgeState,
    /// For a changed edge: its fields that differ (`strength`, `type`, ...).
    pub fields: Vec<FieldChange>,
}

/// The node in one graph of the store.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub target: Target,
    /// The time in the backup's name (none for the primary).
    pub time: Option<chrono::NaiveDateTime>,
    pub state: NodeState,
    /// For a changed node: what differs from the older version.
    pub changes: Option<NodeChanges>,
    /// Edges at the node that differ from the older graph.
    pub edges: Vec<EdgeChange>,
    /// Edges at the node in this graph.
    pub edge_count: usize,
    /// The node's `modified` here, when present.
    pub modified: Option<String>,
    /// Why the file is unreadable, or why a change could not be detailed.
    pub reason: Option<String>,
    /// How its node index was obtained (none when unreadable).
    pub index: Option<IndexOutcome>,
}

/// Result of [`Store::history`].
#[derive(Debug, Clone, Serialize)]
pub struct HistoryReport {
    pub node: String,
    /// Newest first: the primary, then the backups.
    pub entries: Vec<HistoryEntry>,
    /// In how many graphs the node exists.
    pub present_in: usize,
    pub index_hits: usize,
    pub index_built: usize,
    pub index_rebuilt: usize,
    /// Graphs with no index yet, read for this node alone.
    pub index_skimmed: usize,
    pub elapsed_ms: f64,
}

pub(crate) struct Source {
    pub(crate) target: Target,
    time: Option<chrono::NaiveDateTime>,
    pub(crate) data: PathBuf,
    pub(crate) checksum: Option<String>,
    /// The plain size its meta records, for a compressed file (whose frame is
    /// not decoded when it says otherwise).
    pub(crate) plain_size: Option<u64>,
}

/// One graph looked at: the record for the node, or why it could not be.
type Looked = std::result::Result<(Option<NodeRecord>, IndexOutcome, String), IndexFailure>;

fn modified_of(text: &str) -> Option<String> {
    let entries = crate::graph::pyjson::object_entries(text).ok()??;
    let (_, range) = entries.iter().rev().find(|(k, _)| k == "modified")?;
    crate::graph::pyjson::string_value(text.get(range.clone())?).map(|s| s.into_owned())
}

impl HistoryReport {
    /// Whether a graph file was missing or could not be read.
    pub fn has_problems(&self) -> bool {
        self.entries.iter().any(|e| e.state.is_problem())
    }
}

impl Store {
    /// The graphs a history looks at: the primary (unless left out) and every backup,
    /// newest first, each with the checksum its meta records.
    pub(crate) fn history_sources(&self, options: &HistoryOptions) -> Result<Vec<Source>> {
        let mut sources = Vec::new();
        if !options.backups_only {
            let checksum = super::fs::read_file(
                &*self.fs,
                &self.primary_meta_path(),
                super::meta::MAX_META_LEN,
            )
            .ok()
            .and_then(|b| super::meta::Meta::from_slice(&b).ok())
            .and_then(|m| m.sha256().map(str::to_owned));
            sources.push(Source {
                target: Target::Primary,
                time: None,
                data: self.primary_path(),
                checksum,
                plain_size: None,
            });
        }
        for b in self.list_backups()?.backups {
            sources.push(Source {
                target: Target::Backup(b.id.clone()),
                time: Some(b.time),
                data: b.data_path.clone(),
                checksum: b.checksum.clone(),
                plain_size: b.plain_size,
            });
        }
        Ok(sources)
    }

    /// What `source` holds for `key`. With `confirm`, a cached index is used only once
    /// the file's bytes hash to its meta's checksum (without, its header naming that
    /// content and the file's size is enough, as for any cached index).
    fn look_up(&self, source: &Source, key: &str, build_indexes: bool, confirm: bool) -> Looked {
        let (data, sum, size) = (&source.data, source.checksum.as_deref(), source.plain_size);
        let (index, outcome) = match self.cached_node_index(data, sum, size)? {
            Ok(index) => {
                if confirm {
                    self.confirm_graph_bytes(data, sum, size)?;
                }
                (index, IndexOutcome::Hit)
            }
            // None yet: read for this node alone, unless indexes are wanted.
            Err(IndexOutcome::Built) if !build_indexes => {
                return self.node_record_unindexed(data, sum, size, key);
            }
            Err(outcome) => self.build_node_index(data, sum, size, outcome)?,
        };
        match index.record(&*self.fs, key) {
            Ok(record) => Ok((record, outcome, index.checksum.clone())),
            Err(why) => {
                // A cached index that fails inside is rebuilt from the file.
                tracing::warn!(data = %data.display(), why = %why, "node index damaged; rebuilding");
                let (index, outcome) =
                    self.build_node_index(data, sum, size, IndexOutcome::Rebuilt { why })?;
                let record = index
                    .record(&*self.fs, key)
                    .map_err(IndexFailure::Unreadable)?;
                Ok((record, outcome, index.checksum.clone()))
            }
        }
    }

    /// The history of node `key` across the primary and every backup, newest first.
    /// Reads only (and writes node index caches); needs no lock.
    ///
    /// # Errors
    /// Listing `backups/` failed.
    pub fn history(&self, key: &str, options: HistoryOptions) -> Result<HistoryReport> {
        let started = Instant::now();
        let sources = self.history_sources(&options)?;
        let threads = match options.threads {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        }
        .min(sources.len().max(1));
        let next = AtomicUsize::new(0);
        let looked: Mutex<Vec<Option<Looked>>> = Mutex::new(vec![None; sources.len()]);
        // Backups of the same content share one index: a checksum already
        // taken by a worker waits for it rather than being built twice at
        // once (twice the memory, for nothing), then reads the cache.
        let claimed: Mutex<HashMap<String, usize>> = Mutex::new(HashMap::new());
        let deferred: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());
        #[cfg(feature = "negative-controls")]
        let (trusted, unvouched) = (
            super::negative_controls::trust_node_index(),
            super::negative_controls::skim_unvouched(),
        );
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    #[cfg(feature = "negative-controls")]
                    {
                        super::negative_controls::set_trust_node_index(trusted);
                        super::negative_controls::set_skim_unvouched(unvouched);
                    }
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(source) = sources.get(i) else { break };
                        if let Some(checksum) = &source.checksum
                            && let Ok(mut taken) = claimed.lock()
                        {
                            if let Some(&first) = taken.get(checksum) {
                                if let Ok(mut later) = deferred.lock() {
                                    later.push((i, first));
                                }
                                continue;
                            }
                            taken.insert(checksum.clone(), i);
                        }
                        let result = self.look_up(source, key, options.build_indexes, false);
                        if let Ok(mut all) = looked.lock() {
                            all[i] = Some(result);
                        }
                    }
                });
            }
        });
        for (i, first) in deferred.into_inner().unwrap_or_default() {
            // Its meta names content another graph was just read for, which its own
            // bytes may not be: hashed before it takes an index built by this run,
            // and read on its own when there is none (a skim writes none). An index
            // the other found cached is taken on its header's word, as by the other.
            let fresh = looked
                .lock()
                .is_ok_and(|all| !matches!(&all[first], Some(Ok((_, IndexOutcome::Hit, _)))));
            let result = self.look_up(&sources[i], key, options.build_indexes, fresh);
            if let Ok(mut all) = looked.lock() {
                all[i] = Some(result);
            }
        }
        let looked = looked.into_inner().unwrap_or_default();

        let mut keep: HashSet<String> = HashSet::new();
        let mut entries: Vec<HistoryEntry> = Vec::with_capacity(sources.len());
        // Walk oldest first, each graph compared with the next older readable one.
        let mut older: Option<(usize, Option<NodeRecord>)> = None;
        let (mut hits, mut built, mut rebuilt, mut skimmed) = (0, 0, 0, 0);
        for i in (0..sources.len()).rev() {
            let source = &sources[i];
            let mut entry = HistoryEntry {
                target: source.target.clone(),
                time: source.time,
                state: NodeState::Unreadable,
                changes: None,
                edges: Vec::new(),
                edge_count: 0,
                modified: None,
                reason: None,
                index: None,
            };
            let (record, outcome, checksum) = match looked.get(i).cloned().flatten() {
                Some(Ok(found)) => found,
                Some(Err(IndexFailure::Missing)) => {
                    entry.state = NodeState::Missing;
                    entry.reason = Some(match source.target {
                        Target::Primary => {
                            "graph.json is missing: this history is the backups'".to_string()
                        }
                        Target::Backup(_) => IndexFailure::Missing.to_string(),
                    });
                    entries.push(entry);
                    continue;
                }
                Some(Err(why)) => {
                    entry.reason = Some(why.to_string());
                    entries.push(entry);
                    continue;
                }
                None => {
                    entry.reason = Some("not looked at".into());
                    entries.push(entry);
                    continue;
                }
            };
            keep.insert(checksum);
            match &outcome {
                IndexOutcome::Hit => hits += 1,
                IndexOutcome::Built => built += 1,
                IndexOutcome::Rebuilt { .. } => rebuilt += 1,
                IndexOutcome::Skimmed => skimmed += 1,
            }
            entry.index = Some(outcome);
            let here = record.as_ref().and_then(|r| r.node);
            let before = older
                .as_ref()
                .and_then(|(_, r)| r.as_ref().and_then(|r| r.node));
            entry.edge_count = record.as_ref().map_or(0, |r| r.edges.len());
            let mut problems: Vec<String> = Vec::new();
            if let Some(span) = &here {
                match read_span(&*self.fs, &source.data, span) {
                    Ok(text) => entry.modified = modified_of(&text),
                    Err(e) => problems.push(e),
                }
            }
            entry.state = match (before, here) {
                (_, Some(_)) if older.is_none() => NodeState::Added,
                (None, Some(_)) => NodeState::Added,
                (Some(_), None) => NodeState::Removed,
                (None, None) => NodeState::Absent,
                (Some(a), Some(b)) if a.hash == b.hash => NodeState::Unchanged,
                (Some(a), Some(b)) => {
                    let older_data = older
                        .as_ref()
                        .map(|(j, _)| sources[*j].data.clone())
                        .unwrap_or_default();
                    match (
                        read_span(&*self.fs, &older_data, &a),
                        read_span(&*self.fs, &source.data, &b),
                    ) {
                        (Ok(old), Ok(new)) => match node_changes(&old, &new) {
                            // Other bytes, the same values (spacing, or a string
                            // escaped another way): nothing a person changed.
                            Ok(c) if c.is_empty() => NodeState::Unchanged,
                            Ok(c) => {
                                entry.changes = Some(c);
                                NodeState::Changed
                            }
                            Err(e) => {
                                problems.push(format!("cannot compare: {e}"));
                                NodeState::Changed
                            }
                        },
                        (Err(e), _) | (_, Err(e)) => {
                            problems.push(e);
                            NodeState::Changed
                        }
                    }
                }
            };
            // Edges at the node, compared by id.
            let no_edges: Vec<IndexedEdge> = Vec::new();
            let older_edges = older
                .as_ref()
                .and_then(|(_, r)| r.as_ref().map(|r| &r.edges))
                .unwrap_or(&no_edges);
            let edges_here = record.as_ref().map(|r| &r.edges).unwrap_or(&no_edges);
            // By id, the first of each as a scan would find it: a hub node has
            // thousands of edges, and comparing lists pairwise costs their product.
            let mut older_by_id: HashMap<&str, &IndexedEdge> =
                HashMap::with_capacity(older_edges.len());
            for o in older_edges {
                older_by_id.entry(o.id.as_str()).or_insert(o);
            }
            let ids_here: HashSet<&str> = edges_here.iter().map(|e| e.id.as_str()).collect();
            for e in edges_here {
                match older_by_id.get(e.id.as_str()).copied() {
                    None => entry.edges.push(EdgeChange {
                        id: e.id.clone(),
                        from: e.from.clone(),
                        to: e.to.clone(),
                        state: EdgeState::Added,
                        fields: Vec::new(),
                    }),
                    Some(o) if o.span.hash != e.span.hash => {
                        let older_data = older
                            .as_ref()
                            .map(|(j, _)| sources[*j].data.clone())
                            .unwrap_or_default();
                        let fields = match (
                            read_span(&*self.fs, &older_data, &o.span),
                            read_span(&*self.fs, &source.data, &e.span),
                        ) {
                            (Ok(a), Ok(b)) => match object_changes(&a, &b) {
                                // The same values written another way.
                                Ok(fields) if fields.is_empty() => continue,
                                Ok(fields) => fields,
                                Err(why) => {
                                    problems.push(format!("cannot compare: {why}"));
                                    Vec::new()
                                }
                            },
                            (Err(why), _) | (_, Err(why)) => {
                                problems.push(why);
                                Vec::new()
                            }
                        };
                        entry.edges.push(EdgeChange {
                            id: e.id.clone(),
                            from: e.from.clone(),
                            to: e.to.clone(),
                            state: EdgeState::Changed,
                            fields,
                        });
                    }
                    Some(_) => {}
                }
            }
            for o in older_edges {
                if !ids_here.contains(o.id.as_str()) {
                    entry.edges.push(EdgeChange {
                        id: o.id.clone(),
                        from: o.from.clone(),
                        to: o.to.clone(),
                        state: EdgeState::Removed,
                        fields: Vec::new(),
                    });
                }
            }
            if !problems.is_empty() {
                entry.reason = Some(problems.join("; "));
            }
            older = Some((i, record));
            entries.push(entry);
        }
        entries.reverse();
        // Indexes of graphs that are gone are dropped; the primary's and the backups'
        // stay (a primary usually shares its checksum with the newest backup).
        if !options.backups_only {
            self.prune_node_indexes(&keep);
        }
        let present_in = entries
            .iter()
            .filter(|e| {
                matches!(
                    e.state,
                    NodeState::Added | NodeState::Changed | NodeState::Unchanged
                )
            })
            .count();
        tracing::info!(
            node = key,
            graphs = entries.len(),
            hits,
            built,
            rebuilt,
            skimmed,
            "node history"
        );
        Ok(HistoryReport {
            node: key.to_owned(),
            entries,
            present_in,
            index_hits: hits,
            index_built: built,
            index_rebuilt: rebuilt,
            index_skimmed: skimmed,
            elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
        })
    }
}
