//! What this machine knows about each remote without asking it: the last
//! push and, per backup, whether it is on the remote and verified there,
//! or failed. Kept in `.graphvault/remotes/<name>.json` (a cache: the
//! remote itself is the truth, and `remote verify` rebuilds it), plus the
//! state of an interrupted multipart upload so the next push resumes it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::store::Store;
use crate::store::fs::{self, Publish};

/// Where a backup stands on one remote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OffsiteStatus {
    /// On the remote; its server checksum was read back and matched.
    Verified,
    /// On the remote (listed), not checked by this machine.
    Pushed,
    /// The last attempt failed (reason in `detail`).
    Failed,
}

/// One backup's entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsiteEntry {
    pub status: OffsiteStatus,
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The last push to a remote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastPush {
    pub at: String,
    pub ok: bool,
    pub sent: usize,
    pub failed: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The newest backup on the remote after the push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest: Option<String>,
}

/// A multipart upload that the next push resumes. Plain data is sent
/// straight from the backup file. Encrypted data is first written whole to
/// a staged ciphertext file beside this state ([`staged_path`]): an age
/// stream is never the same twice (its file key and nonce are random), so
/// resuming needs the very ciphertext whose first parts were sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingUpload {
    pub key: String,
    pub upload_id: String,
    pub checksum: String,
    pub part_size: u64,
    /// Part ids as the server returned them, in order.
    pub parts: Vec<String>,
    /// SHA-256 (hex) of each uploaded part, for the composite checksum.
    pub part_sha256: Vec<String>,
    /// SHA-256 (hex) of the whole staged ciphertext, when the upload sends
    /// one: a staged file that no longer hashes to it is never sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staged_sha256: Option<String>,
}

/// Everything kept for one remote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_push: Option<LastPush>,
    /// When a push last succeeded (kept when a later one fails: the
    /// off-site lag is measured from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success_at: Option<String>,
    #[serde(default)]
    pub backups: BTreeMap<String, OffsiteEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<PendingUpload>,
}

fn path(store: &Store, name: &str) -> PathBuf {
    store
        .state_dir()
        .join("remotes")
        .join(format!("{name}.json"))
}

/// The state of remote `name`; empty when none was kept or it is unreadable
/// (it is only a cache).
pub fn load(store: &Store, name: &str) -> RemoteState {
    fs::read_file(store.fs(), &path(store, name), 16 << 20)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Writes the state of remote `name` atomically.
///
/// # Errors
/// An I/O error creating the directory or writing the file.
pub fn save(store: &Store, name: &str, state: &RemoteState) -> crate::store::Result<()> {
    let file = path(store, name);
    let dir = fs::parent_dir(&file).to_path_buf();
    store.check_own_dir(&store.state_dir())?;
    if store.fs().entry(&dir).is_err() {
        store
            .fs()
            .create_dir_all(&dir)
            .map_err(|e| crate::store::StoreError::io("create directory", &dir, e))?;
    }
    let bytes = serde_json::to_vec_pretty(state).unwrap_or_default();
    fs::write_atomic(store.fs(), &file, &bytes, Publish::Replace)
}

/// Where the ciphertext of an encrypted multipart upload to remote `name`
/// is staged while it is sent (one at a time per remote).
pub fn staged_path(store: &Store, name: &str) -> PathBuf {
    store
        .state_dir()
        .join("remotes")
        .join(format!("{name}.staged.age"))
}

/// Removes the staged ciphertext of remote `name`, if any (best effort).
pub fn remove_staged(store: &Store, name: &str) {
    let file = staged_path(store, name);
    if store.fs().entry(&file).is_ok() {
        let _ = fs::remove_durable(store.fs(), &file);
    }
}

/// Removes the state of a removed remote (best effort: it is a cache).
pub fn forget(store: &Store, name: &str) {
    remove_staged(store, name);
    let _ = fs::remove_durable(store.fs(), &path(store, name));
}

impl RemoteState {
    /// When a push to this remote last succeeded, if one ever did (a state
    /// file from before `last_success_at` was kept counts its last push
    /// when that one succeeded).
    pub fn last_success(&self) -> Option<chrono::DateTime<chrono::Local>> {
        let text = self.last_success_at.as_deref().or(self
            .last_push
            .as_ref()
            .filter(|p| p.ok)
            .map(|p| p.at.as_str()))?;
        chrono::DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&chrono::Local))
    }
}

/// The current time as kept in state files.
pub(crate) fn now_text() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Every remote's view of the store's backups, for a front end: per backup
/// id the least good status over the remotes (failed, then pending, then
/// pushed, then verified), and the remotes' last pushes. No network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsiteSummary {
    /// The names of the store's remotes.
    pub remotes: Vec<String>,
    /// Backup id -> its status on every remote; absent means pending on
    /// at least one.
    pub backups: BTreeMap<String, OffsiteStatus>,
    /// Each remote's last push, when there was one.
    pub last_pushes: Vec<(String, Option<LastPush>)>,
}

impl OffsiteSummary {
    /// `None` when the backup is not on every remote yet (pending).
    pub fn status(&self, id: &str) -> Option<OffsiteStatus> {
        self.backups.get(id).copied()
    }
}

/// Reads the state of every remote of `store`.
pub fn summary(store: &Store) -> OffsiteSummary {
    let names: Vec<String> = store
        .config()
        .remotes
        .iter()
        .map(|r| r.name.clone())
        .collect();
    let states: Vec<RemoteState> = names.iter().map(|n| load(store, n)).collect();
    let mut backups = BTreeMap::new();
    if let Some(first) = states.first() {
        for id in first.backups.keys() {
            let worst = states.iter().try_fold(OffsiteStatus::Verified, |acc, st| {
                let status = st.backups.get(id).map(|e| e.status)?;
                Some(match (acc, status) {
                    (OffsiteStatus::Failed, _) | (_, OffsiteStatus::Failed) => {
                        OffsiteStatus::Failed
                    }
                    (OffsiteStatus::Pushed, _) | (_, OffsiteStatus::Pushed) => {
                        OffsiteStatus::Pushed
                    }
                    _ => OffsiteStatus::Verified,
                })
            });
            if let Some(w) = worst {
                backups.insert(id.clone(), w);
            }
        }
        // A failure on any remote shows even if another lacks the backup.
        for st in &states {
            for (id, e) in &st.backups {
                if e.status == OffsiteStatus::Failed {
                    backups.insert(id.clone(), OffsiteStatus::Failed);
                }
            }
        }
    }
    OffsiteSummary {
        last_pushes: names
            .iter()
            .cloned()
            .zip(states.into_iter().map(|s| s.last_push))
            .collect(),
        remotes: names,
        backups,
    }
}
