//! The storage core: crash-safe save with backup, list, verify, restore,
//! rotate, load with recovery, diff and a corruption simulator.
//!
//! No UI and no printing here: every operation takes an options value and
//! returns a report value; the CLI and the TUI are two renderers of them.
//! Every filesystem effect goes through [`fs::Fs`].
//!
//! # Layout of a store
//! ```text
//! storage/
//!   graph.json, graph.json.meta          the primary and its meta
//!   graph.json.meta.pending              a meta whose graph may not have landed yet
//!   backups/graph_YYYYMMDD_HHMMSS[_N].json + .meta
//!   .graphvault/lock                     the write lock (never replaced)
//!   .graphvault/config.json              the store's retention policy and remotes
//!   .graphvault/remotes/<name>.json      what this machine knows of each remote
//!   .graphvault/sandbox                  marks a sandbox or demo store
//!   .graphvault/evidence/                primaries replaced by restore or recovery
//!   .graphvault/memo/<sha256>.json       what parsing proved about a content (a cache, see memo)
//!   .graphvault/node-index/<sha256>.idx  node index caches (see [`node_index`])
//!   .graphvault/scrub.json               when each backup was last hashed (a cache)
//!   .graphvault/status.json              the outcome of the last `check`
//!   .graphvault/trash/                   backups retention removed, for a grace period
//! ```

pub mod auth;
pub mod check;
pub mod codec;
pub mod compact;
pub mod corrupt;
pub mod diff;
pub mod digest;
pub mod error;
pub mod evidence;
pub mod fs;
pub mod history;
pub mod list;
pub mod memo;
pub mod meta;
pub mod names;
#[cfg(feature = "negative-controls")]
pub mod negative_controls;
pub mod node_index;
pub mod nodes;
pub mod partial;
mod prefetch;
pub mod recover;
pub mod restore;
pub mod retention;
pub mod rotate;
pub mod sandbox;
pub mod save;
pub mod scrub;
pub mod settings;
pub mod space;
pub mod status;
pub mod trash;
pub mod verify;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use error::{Result, StoreError};
use fs::{EntryKind, Fs, LockError, LockHandle, RealFs};
use retention::RetentionPolicy;

/// Name of the primary graph file.
pub const PRIMARY_FILE: &str = "graph.json";
/// Name of the primary's meta file.
pub const PRIMARY_META_FILE: &str = "graph.json.meta";
/// A meta written before its graph is renamed into place (commit protocol).
pub const PENDING_META_FILE: &str = "graph.json.meta.pending";
/// The backups directory.
pub const BACKUPS_DIR: &str = "backups";
/// graphvault's own directory inside the store.
pub const STATE_DIR: &str = ".graphvault";

/// The line of `.graphvault/sandbox` that names the store it marks.
const SANDBOX_ROOT_LINE: &str = "store: ";

/// Largest graph file graphvault reads (the application claims ~100 MB graphs).
pub const MAX_GRAPH_LEN: u64 = 4 << 30;

/// The store's own settings, in `.graphvault/config.json`. Absent means defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreConfig {
    /// Retention applied after each save (absent: [`RetentionPolicy::thinning`]).
    #[serde(default = "RetentionPolicy::thinning")]
    pub retention: RetentionPolicy,
    /// Off-site copies (see [`crate::remote`]): where, never a secret.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remotes: Vec<crate::remote::RemoteConfig>,
    /// What `check` runs, and its thresholds.
    #[serde(default)]
    pub check: check::CheckConfig,
    /// How long a backup stays in the trash before a later save or
    /// rotation may purge it, as duration text (`"14d"`).
    #[serde(default = "trash::default_grace", with = "trash::grace_text")]
    pub trash_grace: chrono::Duration,
    /// A save or restore is refused when it would leave less free space
    /// than this many times the new graph's size (0 turns the check off).
    #[serde(default = "space::default_margin")]
    pub space_margin: u32,
    /// How backups are written: plain JSON (absent) or compressed.
    #[serde(default, skip_serializing_if = "codec::BackupFormat::is_default")]
    pub backup_format: codec::BackupFormat,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            retention: RetentionPolicy::thinning(),
            trash_grace: trash::default_grace(),
            space_margin: space::default_margin(),
            remotes: Vec::new(),
            check: check::CheckConfig::default(),
            backup_format: codec::BackupFormat::default(),
        }
    }
}

impl StoreConfig {
    /// Checks every setting.
    ///
    /// # Errors
    /// [`StoreError::InvalidPolicy`] naming what is wrong.
    pub fn validate(&self) -> Result<()> {
        self.retention.validate()?;
        self.check.validate()?;
        if let Some(problem) = self.backup_format.problem() {
            return Err(StoreError::Invalid(problem));
        }
        if self.trash_grace <= chrono::Duration::zero() {
            return Err(StoreError::Invalid(format!(
                "trash_grace {:?} must be longer than zero: a trashed backup must stay for a while",
                retention::format_duration(self.trash_grace)
            )));
        }
        Ok(())
    }
}

/// Who holds the write lock, as the header shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LockState {
    Free,
    Held { holder: String },
    Unknown { error: String },
}

/// A storage directory of the application.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    fs: Arc<dyn Fs>,
    config: StoreConfig,
    /// How long a writer waits for the lock before giving up (zero: not at all).
    lock_wait: std::time::Duration,
    /// The HMAC key for tamper evidence, when configured.
    key: Option<Arc<auth::Key>>,
    /// Why the config file could not be used (then `config` is the default).
    config_problem: Option<String>,
    /// Parse every file again instead of taking the parse level from the
    /// memo (the memo is still refreshed).
    deep: bool,
    /// Hashes this run made, recalled while their files are unchanged.
    run_hashes: prefetch::RunHashes,
}

/// Holds the store's write lock for as long as it lives.
pub struct WriteGuard {
    _handle: Box<dyn LockHandle>,
}

/// What [`Store::change_stamp`] saw: per path, its length, mtime, ctime
/// and inode, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeStamp(Vec<StampEntry>);

type StampEntry =
    std::result::Result<(u64, Option<i64>, Option<i64>, Option<u64>), std::io::ErrorKind>;

impl Store {
    /// Opens the store at `root` on the real filesystem. The directory need
    /// not exist yet (the first save creates it).
    ///
    /// # Errors
    /// When `.graphvault/config.json` exists but cannot be read or parsed.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store> {
        Store::open_with(root, Arc::new(RealFs))
    }

    /// Opens the store over another filesystem implementation (tests inject
    /// faults and simulated crashes this way).
    ///
    /// # Errors
    /// As [`Store::open`].
    pub fn open_with(root: impl Into<PathBuf>, fs: Arc<dyn Fs>) -> Result<Store> {
        let root = root.into();
        let mut store = Store {
            root,
            fs,
            config: StoreConfig::default(),
            lock_wait: std::time::Duration::ZERO,
            key: None,
            config_problem: None,
            deep: false,
            run_hashes: prefetch::RunHashes::default(),
        };
        // A broken config must not lock an operator out of verify and
        // recover in the middle of an incident: fall back to the defaults,
        // remember why, and refuse only what needs the policy.
        match store.read_config() {
            Ok(config) => store.config = config,
            Err(e) => {
                tracing::warn!(error = %e, "store config unusable; using the default policy for reading");
                store.config_problem = Some(e.to_string());
            }
        }
        Ok(store)
    }

    /// Why `.graphvault/config.json` could not be used, if it could not.
    /// Saves then skip retention and `rotate` needs an explicit policy.
    pub fn config_problem(&self) -> Option<&str> {
        self.config_problem.as_deref()
    }

    /// Makes writers wait up to `wait` for another writer to finish instead
    /// of failing at once with [`StoreError::Locked`].
    #[must_use]
    pub fn with_lock_wait(mut self, wait: std::time::Duration) -> Store {
        self.lock_wait = wait;
        self
    }

    /// Signs every meta this store writes with `key` and checks the HMAC of
    /// every meta it verifies (see [`auth`]).
    #[must_use]
    pub fn with_key(mut self, key: auth::Key) -> Store {
        self.key = Some(Arc::new(key));
        self
    }

    /// Makes every verification parse again, whatever the memo of verified
    /// content knows (see [`memo`]).
    #[must_use]
    pub fn with_deep(mut self, deep: bool) -> Store {
        self.deep = deep;
        self
    }

    /// Whether an HMAC key is configured.
    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// Adds the HMAC to a meta about to be written, when a key is configured.
    pub(crate) fn sign(&self, mut meta: meta::Meta) -> meta::Meta {
        meta.hmac = self.key.as_ref().map(|k| k.sign(&meta));
        meta
    }

    /// `converted`, a meta rewritten from `original` to describe the same
    /// graph in another form, signed when this store's key proves
    /// `original` (and left without an HMAC otherwise: an HMAC is never
    /// made up for a meta the key did not vouch for).
    pub(crate) fn sign_if_authentic(
        &self,
        original: &meta::Meta,
        mut converted: meta::Meta,
    ) -> meta::Meta {
        converted.hmac = None;
        match &self.key {
            Some(k) if k.check(original) == Some(true) => self.sign(converted),
            _ => converted,
        }
    }

    /// Finishes a meta about to be written under the lock: the next
    /// store-wide creation sequence number (so order never rests on the
    /// clock), then the HMAC.
    ///
    /// # Errors
    /// `backups/` cannot be listed.
    pub(crate) fn seal(&self, mut meta: meta::Meta) -> Result<meta::Meta> {
        meta.sequence = Some(self.next_sequence()?);
        Ok(self.sign(meta))
    }

    /// One more than any creation sequence in the store: the backups' metas
    /// and the primary's (which holds the latest even when retention or a
    /// person removed backups).
    fn next_sequence(&self) -> Result<u64> {
        let listed = self
            .list_backups()?
            .backups
            .iter()
            .filter_map(|b| b.sequence)
            .max();
        let primary = fs::read_file(&*self.fs, &self.primary_meta_path(), meta::MAX_META_LEN)
            .ok()
            .and_then(|b| meta::Meta::from_slice(&b).ok())
            .and_then(|m| m.sequence);
        Ok(listed.max(primary).map_or(1, |n| n.saturating_add(1)))
    }

    /// The storage directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The filesystem layer in use.
    pub fn fs(&self) -> &dyn Fs {
        &*self.fs
    }

    /// The store's configuration as read at open.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    pub fn primary_path(&self) -> PathBuf {
        self.root.join(PRIMARY_FILE)
    }

    pub fn primary_meta_path(&self) -> PathBuf {
        self.root.join(PRIMARY_META_FILE)
    }

    pub fn pending_meta_path(&self) -> PathBuf {
        self.root.join(PENDING_META_FILE)
    }

    pub fn backups_dir(&self) -> PathBuf {
        self.root.join(BACKUPS_DIR)
    }

    pub fn state_dir(&self) -> PathBuf {
        self.root.join(STATE_DIR)
    }

    pub fn evidence_dir(&self) -> PathBuf {
        self.state_dir().join("evidence")
    }

    fn lock_path(&self) -> PathBuf {
        self.state_dir().join("lock")
    }

    fn config_path(&self) -> PathBuf {
        self.state_dir().join("config.json")
    }

    fn sandbox_marker_path(&self) -> PathBuf {
        self.state_dir().join("sandbox")
    }

    /// Whether the directory exists at all.
    pub fn exists(&self) -> bool {
        matches!(self.fs.entry(&self.root), Ok(e) if e.kind == EntryKind::Dir)
    }

    /// A cheap look at what any writer of the store changes: one stat each
    /// of the directory, `graph.json`, its meta and pending meta, and
    /// `backups/` (whose mtime moves when a backup is added or removed).
    /// Two equal stamps mean nothing was saved, restored, rotated or
    /// damaged in between as far as a stat can tell; a front end compares
    /// them every few seconds to notice another process's writes.
    pub fn change_stamp(&self) -> ChangeStamp {
        let paths = [
            self.root.clone(),
            self.primary_path(),
            self.primary_meta_path(),
            self.pending_meta_path(),
            self.backups_dir(),
        ];
        ChangeStamp(
            paths
                .iter()
                .map(|p| match self.fs.file_stat(p) {
                    Ok(st) => Ok((st.len, st.mtime_ns, st.ctime_ns, st.ino)),
                    Err(e) => Err(e.kind()),
                })
                .collect(),
        )
    }

    /// Whether the directory holds a store: the application's files
    /// (`graph.json`, its meta, `backups/`) or graphvault's own directory.
    /// A directory that holds none is never written to, except by a save
    /// (which creates the store) and the demo.
    pub fn holds_store(&self) -> bool {
        holds_store_in(&*self.fs, &self.root)
    }

    fn read_config(&self) -> Result<StoreConfig> {
        self.check_own_dir(&self.state_dir())?;
        let path = self.config_path();
        match fs::read_file(&*self.fs, &path, meta::MAX_META_LEN) {
            Ok(bytes) => {
                let config: StoreConfig =
                    serde_json::from_slice(&bytes).map_err(|e| StoreError::Refused {
                        path: path.clone(),
                        reason: format!("store config is not valid: {e}"),
                    })?;
                config.validate().map_err(|e| StoreError::Refused {
                    path,
                    reason: format!("store config: {e}"),
                })?;
                Ok(config)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(StoreConfig::default()),
            Err(e) => Err(StoreError::io("read store config", path, e)),
        }
    }

    /// Stores a new configuration (validated first) in `.graphvault/config.json`.
    ///
    /// # Errors
    /// An invalid policy, the lock held elsewhere, or an I/O error.
    pub fn set_config(&mut self, config: StoreConfig) -> Result<()> {
        config.validate()?;
        // Setting a policy is asked for, not incidental: it may make the
        // directory a store, like a save.
        let _guard = self.lock_creating()?;
        let bytes = serde_json::to_vec_pretty(&config).unwrap_or_default();
        fs::write_atomic(&*self.fs, &self.config_path(), &bytes, fs::Publish::Replace)?;
        self.config = config;
        self.config_problem = None;
        Ok(())
    }

    /// Whether this store is marked as a sandbox or demo store (the only kind
    /// the corruption simulator touches): see [`Store::sandbox_problem`].
    pub fn is_sandbox(&self) -> bool {
        self.sandbox_problem().is_none()
    }

    /// Why this store is not a sandbox, or `None` when it is: its marker
    /// must be a regular file that names this very store (its canonical
    /// path), so a marker copied into a real store marks nothing.
    pub fn sandbox_problem(&self) -> Option<String> {
        let marker = self.sandbox_marker_path();
        let text = match fs::read_file(&*self.fs, &marker, 64 << 10) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Some(format!("it has no sandbox marker {}", marker.display()));
            }
            Err(e) => return Some(format!("its sandbox marker {}: {e}", marker.display())),
        };
        let here = match self.fs.canonicalize(&self.root) {
            Ok(p) => p,
            Err(e) => return Some(format!("its path cannot be resolved: {e}")),
        };
        let named = text
            .lines()
            .find_map(|l| l.strip_prefix(SANDBOX_ROOT_LINE))
            .map(PathBuf::from);
        match named {
            Some(p) if p == here => None,
            Some(p) => Some(format!(
                "its sandbox marker {} was made for {}, not for this store ({}): a marker copied \
                 from another store does not make this one a sandbox",
                marker.display(),
                p.display(),
                here.display()
            )),
            None => Some(format!(
                "its sandbox marker {} names no store (a marker graphvault writes names the store \
                 it was made for; rebuild the demo to get one)",
                marker.display()
            )),
        }
    }

    /// Whether a sandbox marker file is there at all, whatever it names:
    /// the demo rebuilds over an earlier demo on it (and then only from
    /// the list of the files that demo wrote).
    pub(crate) fn has_sandbox_marker(&self) -> bool {
        matches!(self.fs.entry(&self.sandbox_marker_path()), Ok(e) if e.kind == EntryKind::File)
    }

    /// Marks this store as a sandbox (creating the directory if needed),
    /// naming its canonical path in the marker.
    ///
    /// # Errors
    /// I/O errors creating the marker or resolving the store's path.
    pub fn mark_sandbox(&self, why: &str) -> Result<()> {
        self.ensure_dirs()?;
        let here = self
            .fs
            .canonicalize(&self.root)
            .map_err(|e| StoreError::io("resolve the store's path", &self.root, e))?;
        fs::write_atomic(
            &*self.fs,
            &self.sandbox_marker_path(),
            format!(
                "graphvault sandbox store: {why}\n{SANDBOX_ROOT_LINE}{}\n",
                here.display()
            )
            .as_bytes(),
            fs::Publish::Replace,
        )
    }

    /// Whether the directories a save creates are all there already (a save
    /// into anything else makes a directory a store).
    pub(crate) fn is_store(&self) -> bool {
        self.dirs_a_save_creates()
            .iter()
            .all(|dir| self.fs.entry(dir).is_ok())
    }

    /// The directories the first save creates, parents first.
    fn dirs_a_save_creates(&self) -> [PathBuf; 3] {
        [self.root.clone(), self.backups_dir(), self.state_dir()]
    }

    fn ensure_dirs(&self) -> Result<()> {
        for dir in [
            self.backups_dir(),
            self.state_dir(),
            self.evidence_dir(),
            self.trash_dir(),
        ] {
            self.check_own_dir(&dir)?;
        }
        for dir in self.dirs_a_save_creates() {
            if self.fs.entry(&dir).is_ok() {
                continue;
            }
            self.fs
                .create_dir_all(&dir)
                .map_err(|e| StoreError::io("create directory", &dir, e))?;
            // A new directory's entry must be durable before anything
            // written into it is reported as saved.
            let parent = fs::parent_dir(&dir);
            self.fs
                .sync_dir(parent)
                .map_err(|e| StoreError::io("fsync directory", parent, e))?;
        }
        Ok(())
    }

    /// Refuses one of the store's own directories (`backups/`,
    /// `.graphvault/`, its `evidence/`) when it is there but is not a plain
    /// directory: through a symlink, everything read, written or deleted in
    /// it would be somewhere else.
    pub(crate) fn check_own_dir(&self, dir: &Path) -> Result<()> {
        let kind = match self.fs.entry(dir) {
            Ok(e) if e.kind == EntryKind::Dir => return Ok(()),
            Ok(e) => e.kind,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(StoreError::io("inspect directory", dir, e)),
        };
        let what = match kind {
            EntryKind::Symlink => "a symlink",
            EntryKind::File => "a file",
            _ => "not a directory",
        };
        Err(StoreError::Refused {
            path: dir.to_path_buf(),
            reason: format!(
                "it is {what}, not a directory of this store; nothing is read, written or deleted through it"
            ),
        })
    }

    /// Who holds the write lock right now (for display; racy by nature).
    pub fn lock_state(&self) -> LockState {
        match self.fs.lock_holder(&self.lock_path()) {
            Ok(None) => LockState::Free,
            Ok(Some(holder)) => LockState::Held {
                holder: if holder.is_empty() {
                    "another process".to_string()
                } else {
                    holder
                },
            },
            Err(e) => LockState::Unknown {
                error: e.to_string(),
            },
        }
    }

    /// Takes the exclusive write lock, then finishes or discards what an
    /// interrupted writer left (a pending meta, temp files). Every mutating
    /// operation does this first; readers never need it.
    ///
    /// # Errors
    /// [`StoreError::NoStore`] when the directory holds no store (nothing
    /// is created in it), [`StoreError::Locked`] naming the holder, or an
    /// I/O error.
    pub fn lock(&self) -> Result<WriteGuard> {
        if !self.holds_store() {
            return Err(StoreError::NoStore {
                root: self.root.clone(),
            });
        }
        self.lock_creating()
    }

    /// [`Store::lock`] that creates the store's directories when they are
    /// missing: only a save (and the demo) may create a store.
    pub(crate) fn lock_creating(&self) -> Result<WriteGuard> {
        self.ensure_dirs()
            .map_err(|e| with_write_hint(e, "nothing was changed"))?;
        let path = self.lock_path();
        let holder = format!(
            "pid {} since {}",
            std::process::id(),
            chrono::Local::now().format("%Y-%m-%d %H:%M:%S")
        );
        let deadline = std::time::Instant::now() + self.lock_wait;
        let handle = loop {
            match self.fs.try_lock(&path, &holder) {
                Ok(h) => break h,
                Err(LockError::Held(_)) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(LockError::Held(text)) => {
                    #[cfg(feature = "negative-controls")]
                    if negative_controls::ignore_lock() {
                        break Box::new(negative_controls::Unlocked);
                    }
                    return Err(StoreError::Locked {
                        store: self.root.clone(),
                        holder: if text.is_empty() {
                            "another process".to_string()
                        } else {
                            text
                        },
                    });
                }
                Err(LockError::Io(e)) => {
                    let hint = if e.kind() == std::io::ErrorKind::InvalidInput {
                        "nothing was changed: the lock file is not graphvault's own (it must be a \
                         regular file with one link); remove it and a fresh one is made"
                    } else {
                        "nothing was changed"
                    };
                    return Err(with_write_hint(StoreError::io("lock", path, e), hint));
                }
            }
        };
        let guard = WriteGuard { _handle: handle };
        self.settle_pending()?;
        self.sweep_temp_files()?;
        self.settle_trash()?;
        Ok(guard)
    }

    /// Completes or discards an interrupted primary commit: a pending meta
    /// that matches `graph.json` is the new graph's meta and is renamed into
    /// place; one that does not belongs to a graph that never landed.
    fn settle_pending(&self) -> Result<()> {
        let pending = self.pending_meta_path();
        let bytes = match fs::read_file(&*self.fs, &pending, meta::MAX_META_LEN) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            // A symlink, FIFO, directory or huge file is not a meta
            // graphvault wrote: it is neither settled nor deleted.
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
                return Err(StoreError::Refused {
                    path: pending,
                    reason: format!(
                        "it {e}, not a pending meta graphvault wrote; nothing was changed. \
                         Writes stay blocked until it is moved out of the way (reading still works)"
                    ),
                });
            }
            Err(e) => {
                return Err(with_write_hint(
                    StoreError::io("read pending meta", pending, e),
                    "nothing was changed",
                ));
            }
        };
        let matches = match meta::Meta::from_slice(&bytes) {
            Ok(m) => match m.sha256() {
                Some(expected) => {
                    let primary = self.primary_path();
                    match verify::hash_file(&*self.fs, &primary, MAX_GRAPH_LEN) {
                        Ok((actual, _)) => actual == expected,
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::NotFound | std::io::ErrorKind::InvalidInput
                            ) =>
                        {
                            false
                        }
                        // Not knowing is not "different": discarding the
                        // pending meta of a graph that did land would make
                        // a good primary read as corrupt.
                        Err(e) => {
                            return Err(StoreError::io(
                                "read graph to settle a pending meta",
                                primary,
                                e,
                            ));
                        }
                    }
                }
                None => false,
            },
            Err(_) => false,
        };
        if matches {
            tracing::warn!(path = %pending.display(), "completing an interrupted save: pending meta matches graph.json");
            fs::rename_durable(&*self.fs, &pending, &self.primary_meta_path())
        } else {
            tracing::warn!(path = %pending.display(), "discarding the meta of a save that never landed");
            fs::remove_durable(&*self.fs, &pending)
        }
    }

    /// Removes temp files left by killed writers. Only called under the lock,
    /// so no live writer of ours owns them.
    fn sweep_temp_files(&self) -> Result<()> {
        for dir in [
            self.root.clone(),
            self.backups_dir(),
            self.evidence_dir(),
            self.state_dir(),
            self.state_dir().join("memo"),
            self.node_index_dir(),
            self.trash_dir(),
        ] {
            let entries = match self.fs.read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                // One of our caches replaced by a file (the memo, the node
                // index): it holds no temp files of ours, and the caches
                // ignore it. It must not block a restore or a recovery.
                Err(e)
                    if e.kind() == std::io::ErrorKind::NotADirectory
                        && (dir == self.state_dir().join("memo")
                            || dir == self.node_index_dir()) =>
                {
                    tracing::warn!(path = %dir.display(), "not a directory: no temp files to sweep there");
                    continue;
                }
                Err(e) => return Err(StoreError::io("list directory", &dir, e)),
            };
            let mut removed = false;
            for entry in entries {
                if entry.kind == EntryKind::File && entry.name.starts_with(fs::TEMP_PREFIX) {
                    let path = dir.join(&entry.name);
                    tracing::warn!(path = %path.display(), "removing a temp file left by an interrupted write");
                    match self.fs.remove_file(&path) {
                        Ok(()) => removed = true,
                        // A reader without the lock may publish its memo
                        // entry (renaming its temp file) meanwhile.
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(StoreError::io("remove stale temp file", &path, e)),
                    }
                }
            }
            if removed {
                self.fs
                    .sync_dir(&dir)
                    .map_err(|e| StoreError::io("fsync directory", &dir, e))?;
            }
        }
        Ok(())
    }

    /// Path of a backup's data file, from a validated id: the plain
    /// `graph_<ts>.json` when it is there (or nothing is), else the
    /// compressed `graph_<ts>.json.zst` (see [`codec`]). Read it only
    /// through [`codec::open_plain`].
    pub fn backup_data_path(&self, id: &names::BackupId) -> PathBuf {
        data_path_in(&*self.fs, &self.backups_dir(), id)
    }
}

/// The data file of backup `id` in `dir` (`backups/`, or a copy of it):
/// plain when it is there or nothing is, else the compressed one. A plain
/// file beside a compressed one (an interrupted compact) is the one read:
/// it is the file the application knows.
pub(crate) fn data_path_in(fs: &dyn Fs, dir: &Path, id: &names::BackupId) -> PathBuf {
    let plain = dir.join(id.data_file_name());
    if matches!(fs.entry(&plain), Err(e) if e.kind() == std::io::ErrorKind::NotFound) {
        for other in [id.zstd_file_name(), id.delta_file_name()] {
            let path = dir.join(other);
            if fs.entry(&path).is_ok() {
                return path;
            }
        }
    }
    plain
}

/// Whether `root` holds a store (see [`Store::holds_store`]).
pub fn holds_store_in(fs: &dyn Fs, root: &Path) -> bool {
    [
        PRIMARY_FILE,
        PRIMARY_META_FILE,
        PENDING_META_FILE,
        BACKUPS_DIR,
        STATE_DIR,
    ]
    .iter()
    // Not knowing is not "no store": an I/O error counts as there, and the
    // operation then fails on it with its path.
    .any(|name| {
        !matches!(fs.entry(&root.join(name)), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
    })
}

/// Adds what was left and, for a read-only filesystem, what to do.
fn with_write_hint(e: StoreError, left: &str) -> StoreError {
    let read_only = match &e {
        StoreError::Io { source, .. } => source.raw_os_error() == Some(libc::EROFS),
        // Refusals say themselves what they left alone.
        _ => return e,
    };
    if read_only {
        e.left(format!(
            "{left}: the filesystem is read-only. Reading (list, verify, diff, dry runs) still \
             works; to write, remount it read-write or work on a copy"
        ))
    } else {
        e.left(left.to_string())
    }
}

/// Current local time; one place so every report agrees on the clock.
pub(crate) fn now() -> chrono::DateTime<chrono::Local> {
    chrono::Local::now()
}
