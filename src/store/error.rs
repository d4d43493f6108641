//! The store's typed errors. Every I/O error carries the operation and the path.

use std::io;
use std::path::PathBuf;

/// What can go wrong in a store operation. Each variant says what was being
/// done, to which path, and why; callers can match on the kind.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A filesystem call failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A write, or a read of a graph (show, diff), was asked of a
    /// directory that holds no store.
    #[error(
        "no store in {root}: it holds neither graph.json nor backups/ nor .graphvault/; nothing was changed (only a save creates a store)"
    )]
    NoStore { root: PathBuf },

    /// Another process holds the store's write lock.
    #[error(
        "storage {store} is in use by {holder}; nothing was changed (try again when it is done)"
    )]
    Locked { store: PathBuf, holder: String },

    /// A backup id that does not match `graph_YYYYMMDD_HHMMSS[_N]`.
    #[error("invalid backup id {id:?}: {reason}")]
    InvalidBackupId { id: String, reason: String },

    /// A well-formed id with no backup behind it.
    #[error("no backup {id} in {dir}")]
    NoSuchBackup { id: String, dir: PathBuf },

    /// A file that must be a plain regular file inside the store is not.
    #[error("refusing {path}: {reason}")]
    Refused { path: PathBuf, reason: String },

    /// A file's bytes do not match its recorded checksum.
    #[error("{path}: checksum mismatch (meta says {expected}, file hashes to {actual})")]
    ChecksumMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },

    /// A file failed verification at some level of the ladder.
    #[error("{path} failed verification: {reason}")]
    VerifyFailed { path: PathBuf, reason: String },

    /// A restore refused because the backup failed verification: the
    /// verification that refused it comes with it, so a front end can show
    /// that status on the backup's row without verifying it again.
    #[error(
        "{} failed verification: restore of {id} refused, the primary is unchanged: {}",
        report.path.display(),
        report.summary()
    )]
    RestoreRefused {
        id: super::names::BackupId,
        report: Box<super::verify::FileReport>,
    },

    /// A long operation stopped between two files because it was asked to.
    #[error("{op} cancelled: {state}")]
    Cancelled {
        op: &'static str,
        /// What is on disk now (what it did before it stopped).
        state: String,
    },

    /// A restore refused because the backup has no meta to check its bytes
    /// against, though it parses and is consistent. The caller may accept
    /// it explicitly (`RestoreOptions::allow_unverified`).
    #[error("restore of {id} refused, the primary is unchanged: {path} is unverified: {reason}")]
    BackupUnverified {
        id: super::names::BackupId,
        path: PathBuf,
        reason: String,
    },

    /// A graph file could not be parsed or has the wrong shape.
    #[error("{path}: {source}")]
    Graph {
        path: PathBuf,
        #[source]
        source: crate::graph::GraphError,
    },

    /// A graph to be saved that verification would call corrupt (the one
    /// consistency check both share, [`crate::graph::KnowledgeGraph::check_consistency`]).
    #[error("save refused, nothing was written: verify would call this graph corrupt: {problems}")]
    InconsistentGraph { problems: String },

    /// Neither the primary nor any backup verifies.
    #[error(
        "nothing recoverable in {store}: the primary and all {checked} backups failed verification; nothing was written or deleted"
    )]
    NothingRecoverable { store: PathBuf, checked: usize },

    /// A retention policy that keeps nothing, or has invalid values.
    #[error("invalid retention policy: {0}")]
    InvalidPolicy(String),

    /// The corruption simulator only works on sandbox stores.
    #[error(
        "{store} is not a sandbox store ({reason}): corruption simulation refused, nothing was changed"
    )]
    NotSandbox { store: PathBuf, reason: String },

    /// A node id that the graph looked at does not have.
    #[error("no node {node:?} in {target}")]
    NoSuchNode { node: String, target: String },

    /// A partial restore would overwrite nodes that changed after the backup,
    /// and no side was chosen.
    #[error(
        "restore of nodes from {backup} refused, the primary is unchanged: {} changed after the backup ({}); choose whether the backup's or the current version wins",
        nodes.len(),
        nodes.join(", ")
    )]
    Conflict { backup: String, nodes: Vec<String> },

    /// A store-level precondition failed (no primary to snapshot, ...).
    #[error("{0}")]
    Invalid(String),

    /// Too little free space for an operation that has not written anything.
    #[error(
        "{op} refused: it needs {} free on the filesystem of {path} ({} to write, then a margin of {} left free), but only {} is free; {untouched}",
        bytes_text(*needed),
        bytes_text(*writes),
        bytes_text(*margin),
        bytes_text(*available)
    )]
    NoSpace {
        op: &'static str,
        path: PathBuf,
        needed: u64,
        writes: u64,
        margin: u64,
        available: u64,
        /// What is left as it was.
        untouched: String,
    },

    /// An operation failed part-way: the error, and the state it left.
    #[error("{source}; {state}")]
    Interrupted {
        #[source]
        source: Box<StoreError>,
        /// What is on disk now, in words an operator can act on.
        state: String,
    },
}

impl StoreError {
    /// Adds what the failed operation left on disk to the message.
    pub fn left(self, state: impl Into<String>) -> Self {
        StoreError::Interrupted {
            source: Box::new(self),
            state: state.into(),
        }
    }

    /// Wraps an I/O error with the operation and the path it concerned.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        StoreError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// A byte count as an operator reads it: `97.3 MiB (102021120 bytes)`.
fn bytes_text(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {} ({bytes} bytes)", UNITS[unit])
}

/// Shorthand for the store's results.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
