//! graphvault: crash-safe storage, backups, verification and recovery for a
//! knowledge graph's `graph.json`, in the exact layout the Python
//! application writes (see `LEGACY_FORMAT.md` in the project's shared docs).
//!
//! # When to use what
//! - [`store::Store`] is the library: open a storage directory, then
//!   [`save_graph_with_backup`](store::Store::save_graph_with_backup),
//!   [`list_backups`](store::Store::list_backups),
//!   [`verify`](store::Store::verify) / [`verify_all`](store::Store::verify_all),
//!   [`restore`](store::Store::restore), [`rotate`](store::Store::rotate),
//!   [`load_with_recovery`](store::Store::load_with_recovery) and
//!   [`diff`](store::Store::diff). Each takes an options value and returns a
//!   report; nothing prints.
//! - [`graph::KnowledgeGraph`] reads and writes `graph.json` byte for
//!   byte (unknown keys, `NaN`, both versions' key orders survive).
//! - [`cli`] and [`tui`] are the two renderers of the same reports.
//!
//! ```
//! use graphvault::store::Store;
//! use graphvault::store::corrupt::CorruptionKind;
//! use graphvault::graph::KnowledgeGraph;
//! use graphvault::store::recover::{RecoverOptions, Source};
//! use graphvault::store::verify::{Depth, Status, Target};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path().join("storage"))?;
//!
//! let mut graph = KnowledgeGraph::new(2);
//! graph.add_node("stock", serde_json::json!({"symbol": "AAPL", "price": 175.5}), Some("AAPL"));
//! graph.add_node("stock", serde_json::json!({"symbol": "MSFT", "price": 410.2}), Some("MSFT"));
//! graph.connect("AAPL", "MSFT", "sector_peer", 0.8)?;
//! let saved = store.save_graph_with_backup(&graph)?;
//! println!("saved {} with backup {}", saved.checksum, saved.backup_id);
//!
//! // Break the primary (the simulator only touches sandbox stores)...
//! store.mark_sandbox("doc example")?;
//! store.corrupt(CorruptionKind::Truncate)?;
//! assert_eq!(store.verify(&Target::Primary, Depth::Full)?.status, Status::Corrupt);
//!
//! // ...and recover it from the newest backup that verifies.
//! let (recovered, report) = store.load_with_recovery(RecoverOptions::default())?;
//! assert!(matches!(report.source, Source::Backup(_)));
//! assert_eq!(recovered.map(|g| g.node_count()), Some(2));
//! assert_eq!(store.verify(&Target::Primary, Depth::Full)?.status, Status::Valid);
//! # Ok(())
//! # }
//! ```
//!
//! # Design
//! Every file is written through one helper (temp file, fsync, rename, fsync
//! of the directory); the graph and its meta are committed with a pending
//! meta so a crash never produces false corruption; one writer at a time
//! holds `.graphvault/lock`. See `src/store/save.rs` for the protocol.
//!
//! # Security
//! Backups are chosen by id, never by path, and opened without following
//! symlinks. A SHA-256 beside the data detects accidents, not tampering:
//! whoever can write `graph.json` can recompute its checksum.

pub mod cli;
pub mod demo;
pub mod generate;
pub mod graph;
pub mod present;
pub mod remote;
pub mod store;
pub mod tui;
