//! Errors as the UI receives them from the worker: a kind to decide on and
//! a message to show. Made from the store's [`StoreError`] (which cannot be
//! cloned: it holds an `io::Error`), so no UI logic ever reads message text.

use crate::store::StoreError;

/// What kind of failure it was; the UI decides on this, never on words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Another process holds the write lock.
    Locked,
    /// A restore refused because the backup has no meta (it can be
    /// accepted explicitly).
    Unverified,
    /// A file failed verification; a restore refused for it.
    Integrity,
    /// The store, a backup or a file is not there.
    NotFound,
    /// The store or a file in it cannot be read by this user.
    PermissionDenied,
    /// Any other filesystem failure.
    Io,
    /// A precondition or input the store refused.
    Refused,
    /// The operation failed part-way; the message says what it left.
    Interrupted,
    /// Refused before writing anything: too little free space.
    NoSpace,
    /// Stopped between two files because the user asked; the message
    /// says what was done before.
    Cancelled,
    /// The UI itself failed (a thread could not start, a panic).
    Internal,
}

/// A failure the UI shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiError {
    pub kind: ErrorKind,
    pub message: String,
}

impl UiError {
    pub fn internal(message: impl Into<String>) -> UiError {
        UiError {
            kind: ErrorKind::Internal,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for UiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn kind_of(e: &StoreError) -> ErrorKind {
    match e {
        StoreError::Locked { .. } => ErrorKind::Locked,
        StoreError::BackupUnverified { .. } => ErrorKind::Unverified,
        StoreError::VerifyFailed { .. }
        | StoreError::RestoreRefused { .. }
        | StoreError::ChecksumMismatch { .. }
        | StoreError::Graph { .. }
        | StoreError::NothingRecoverable { .. } => ErrorKind::Integrity,
        StoreError::NoSuchBackup { .. } | StoreError::NoSuchNode { .. } => ErrorKind::NotFound,
        StoreError::Io { source, .. } => match source.kind() {
            std::io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            _ => ErrorKind::Io,
        },
        StoreError::Interrupted { .. } => ErrorKind::Interrupted,
        StoreError::Cancelled { .. } => ErrorKind::Cancelled,
        StoreError::NoSpace { .. } => ErrorKind::NoSpace,
        StoreError::InvalidBackupId { .. }
        | StoreError::Refused { .. }
        | StoreError::InvalidPolicy(_)
        | StoreError::NotSandbox { .. }
        | StoreError::Conflict { .. }
        | StoreError::NoStore { .. }
        | StoreError::InconsistentGraph { .. }
        | StoreError::Invalid(_) => ErrorKind::Refused,
    }
}

impl From<StoreError> for UiError {
    fn from(e: StoreError) -> UiError {
        UiError {
            kind: kind_of(&e),
            message: e.to_string(),
        }
    }
}

impl From<crate::remote::RemoteError> for UiError {
    fn from(e: crate::remote::RemoteError) -> UiError {
        use crate::remote::RemoteError as R;
        let kind = match &e {
            R::Store(inner) => kind_of(inner),
            R::Auth { .. } => ErrorKind::PermissionDenied,
            R::Unreachable { .. } | R::Server { .. } => ErrorKind::Io,
            R::NoSuchBucket { .. } | R::NoSuchRemote { .. } | R::NoSuchBackup { .. } => {
                ErrorKind::NotFound
            }
            R::VerifyFailed { .. } | R::NothingRecoverable { .. } => ErrorKind::Integrity,
            R::Config(_) | R::Crypto(_) | R::WrongKey(_) => ErrorKind::Refused,
        };
        UiError {
            kind,
            message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_the_variant_not_the_words() {
        let denied = StoreError::io(
            "list",
            "/srv/storage/backups",
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        );
        assert_eq!(UiError::from(denied).kind, ErrorKind::PermissionDenied);
        let unverified = StoreError::BackupUnverified {
            id: "graph_20251003_000432".parse().expect("id"),
            path: "/srv/storage/backups/graph_20251003_000432.json".into(),
            reason: "no meta".into(),
        };
        let e = UiError::from(unverified);
        assert_eq!(e.kind, ErrorKind::Unverified);
        assert!(!e.message.contains("--"), "the store names no flags: {e}");
    }
}
