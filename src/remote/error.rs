//! The remote's typed errors: what was being done, on which remote and
//! object, and why, in a form callers can match (the CLI maps each kind to
//! an exit code; the UI shows the message).

use std::path::PathBuf;

use crate::store::StoreError;

/// What can go wrong talking to a remote.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The server refused the credentials (unknown key, bad signature,
    /// access denied).
    #[error("{op} on {remote}: the server refused the credentials: {detail}")]
    Auth {
        op: &'static str,
        remote: String,
        detail: String,
    },
    /// The server could not be reached (refused connection, DNS, timeout).
    #[error("{op} on {remote}: the server could not be reached: {detail}")]
    Unreachable {
        op: &'static str,
        remote: String,
        detail: String,
    },
    /// The bucket does not exist.
    #[error("{op} on {remote}: bucket {bucket:?} does not exist")]
    NoSuchBucket {
        op: &'static str,
        remote: String,
        bucket: String,
    },
    /// Any other failure reported by the server or the client library.
    #[error("{op} on {remote} ({key}): {detail}")]
    Server {
        op: &'static str,
        remote: String,
        key: String,
        detail: String,
    },
    /// A remote name, URL or setting that cannot be used.
    #[error("{0}")]
    Config(String),
    /// No remote of that name in the store's config.
    #[error("no remote named {name:?} in {store}")]
    NoSuchRemote { name: String, store: PathBuf },
    /// No backup of that id on the remote.
    #[error("no backup {id} on {remote}")]
    NoSuchBackup { id: String, remote: String },
    /// Encryption or decryption failed (wrong key, damaged ciphertext, an
    /// unreadable key file).
    #[error("{0}")]
    Crypto(String),
    /// The backup is encrypted to a key other than the one given.
    #[error("wrong key: {0}")]
    WrongKey(String),
    /// A remote object failed verification (checksum, parse, ...).
    #[error("{id} on {remote} failed verification: {reason}")]
    VerifyFailed {
        id: String,
        remote: String,
        reason: String,
    },
    /// Nothing on the remote verifies; nothing local was written.
    #[error(
        "nothing recoverable on {remote}: all {checked} remote backups failed verification; nothing local was written or deleted"
    )]
    NothingRecoverable { remote: String, checked: usize },
    /// A local store operation failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Shorthand for the remote's results.
pub type Result<T, E = RemoteError> = std::result::Result<T, E>;
