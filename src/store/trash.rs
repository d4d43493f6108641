//! The store's trash: where every backup graphvault removes goes first.
//!
//! This module owns `.graphvault/trash/`: moving a backup pair there (the
//! only way retention removes anything), listing it, bringing items back
//! into `backups/`, purging items whose grace period is over, and finishing
//! any of those that a crash interrupted. Nothing else in the store deletes
//! a backup.
//!
//! # Layout
//! ```text
//! .graphvault/trash/
//!   graph_20251003_000432.trash.json    the manifest: when, why, until when, which files
//!   graph_20251003_000432.json          the backup's data file, bytes unchanged
//!                                       (`.json.zst` for a compressed one)
//!   graph_20251003_000432.meta          its meta (and .json.meta when it had one)
//!   graph_20251003_000432~2.*           the same id trashed a second time
//! ```
//! The item id is the backup id (with `~N` when that id is in the trash
//! already). The directory is outside `backups/`, so the application's
//! glob `backups/graph_*.json` never sees a trashed file.
//!
//! # Crash story
//! A backup is always whole in `backups/` or whole in the trash (or both,
//! for an instant), never in neither and never in half. A rename between
//! two directories is two directory updates, and POSIX does not promise a
//! power cut keeps both or neither; so a move is:
//! 1. the manifest, written atomically as `*.moving.json` (its file list
//!    is the plan);
//! 2. a hard link of each file into the trash, then fsync of the trash:
//!    the whole pair is now durable there, and still whole in `backups/`;
//! 3. removal from `backups/`, meta first (fsync between, so a meta that
//!    describes nothing never survives), then fsync of `backups/`;
//! 4. the manifest renamed to `*.trash.json`: the move is over, and a file
//!    of the same name and bytes that appears in `backups/` later is a
//!    new backup, never taken for a remnant of this move.
//!
//! A purge first renames the manifest to `*.purging.json` (one directory,
//! atomic), and a restore to `*.restoring.json`; that marker says which
//! way an interrupted operation goes. The next locked open
//! ([`Store::settle_trash`]) completes whatever it finds: a move whose
//! links or removals are missing, a purge, a restore. A file is removed
//! from `backups/` only when its bytes hash to what the manifest recorded,
//! so a newer backup that took the same name is never touched.
//!
//! Where the filesystem has no hard links, step 2 falls back to a rename
//! followed by fsync of the trash and then of `backups/`: journaling
//! filesystems commit a rename as one transaction, which is what that
//! fallback relies on.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, Duration, FixedOffset, Local};
use serde::{Deserialize, Serialize};

use super::error::{Result, StoreError};
use super::fs::{self, EntryKind, Publish};
use super::names::BackupId;
use super::retention::{RetentionPolicy, format_duration, parse_duration};
use super::verify::{self, Depth, FileReport, MetaSource, Status, Target};
use super::{MAX_GRAPH_LEN, Store};

/// The trash directory's name under `.graphvault/`.
pub const TRASH_DIR: &str = "trash";

/// How long a trashed backup stays before a later save or rotation may
/// purge it, unless the store's config says otherwise.
pub const DEFAULT_GRACE_DAYS: i64 = 14;

/// The grace period a store without a config uses.
pub fn default_grace() -> Duration {
    Duration::days(DEFAULT_GRACE_DAYS)
}

const MANIFEST_SUFFIX: &str = ".trash.json";
/// The manifest of a move still under way: renamed to [`MANIFEST_SUFFIX`]
/// once the backup has left `backups/`, so that only a move this marker
/// names is ever completed (a later file of the same name and bytes in
/// `backups/` is a new backup, not a remnant).
const MOVING_SUFFIX: &str = ".moving.json";
const PURGING_SUFFIX: &str = ".purging.json";
const RESTORING_SUFFIX: &str = ".restoring.json";
/// Suffixes of an item's backup files, metas first (the order of removal).
/// A compressed backup's data file ends in `.json.zst` (see
/// [`super::codec`]); its pair moves the same way.
const FILE_SUFFIXES: [&str; 5] = [
    ".meta",
    ".json.meta",
    ".json",
    ".json.zst",
    ".json.delta.zst",
];
/// Largest manifest read (real ones are about a kilobyte).
const MAX_MANIFEST_LEN: u64 = 1 << 20;
/// Format version written in every manifest.
const MANIFEST_FORMAT: u32 = 1;

/// Identifies one item of the trash: the backup id, with `~N` (N >= 2)
/// when the same backup id was trashed more than once.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TrashId {
    backup: BackupId,
    n: u32,
}

impl TrashId {
    /// The id of the backup this item holds.
    pub fn backup(&self) -> &BackupId {
        &self.backup
    }

    fn first(backup: BackupId) -> TrashId {
        TrashId { backup, n: 0 }
    }

    fn next(&self) -> TrashId {
        TrashId {
            backup: self.backup.clone(),
            n: self.n.max(1) + 1,
        }
    }

    /// The item's name for a file named `backup_name` in `backups/`.
    fn file_name(&self, suffix: &str) -> String {
        format!("{self}{suffix}")
    }
}

impl fmt::Display for TrashId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.backup)?;
        if self.n > 1 {
            write!(f, "~{}", self.n)?;
        }
        Ok(())
    }
}

impl FromStr for TrashId {
    type Err = StoreError;

    /// Strict: a backup id, optionally `~N` with N in 2..=999999 and no
    /// leading zero, so an id can never name a path outside the trash.
    fn from_str(s: &str) -> Result<Self> {
        let (stem, n) = match s.split_once('~') {
            None => (s, 0),
            Some((stem, digits)) => {
                let ok = !digits.is_empty()
                    && digits.len() <= 6
                    && !digits.starts_with('0')
                    && digits.bytes().all(|b| b.is_ascii_digit());
                let n: u32 = if ok { digits.parse().unwrap_or(0) } else { 0 };
                if n < 2 {
                    return Err(StoreError::InvalidBackupId {
                        id: s.chars().take(80).collect(),
                        reason:
                            "a trash id is a backup id, optionally followed by ~N (N at least 2)"
                                .to_string(),
                    });
                }
                (stem, n)
            }
        };
        Ok(TrashId {
            backup: stem.parse()?,
            n,
        })
    }
}

impl Serialize for TrashId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What kind of file of a trash item a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ItemFile {
    Manifest,
    Moving,
    Purging,
    Restoring,
    /// One of the backup's own files, by its suffix in [`FILE_SUFFIXES`].
    Backup(&'static str),
}

/// Splits a name found in the trash into the item and what the file is.
fn parse_trash_name(name: &str) -> Option<(TrashId, ItemFile)> {
    // Longest suffixes first: `.trash.json` and `.json.meta` end like others.
    let kinds = [
        (MANIFEST_SUFFIX, ItemFile::Manifest),
        (MOVING_SUFFIX, ItemFile::Moving),
        (PURGING_SUFFIX, ItemFile::Purging),
        (RESTORING_SUFFIX, ItemFile::Restoring),
        (".json.meta", ItemFile::Backup(".json.meta")),
        (".meta", ItemFile::Backup(".meta")),
        (".json", ItemFile::Backup(".json")),
        (".json.delta.zst", ItemFile::Backup(".json.delta.zst")),
        (".json.zst", ItemFile::Backup(".json.zst")),
    ];
    kinds.into_iter().find_map(|(suffix, kind)| {
        let stem = name.strip_suffix(suffix)?;
        stem.parse().ok().map(|id| (id, kind))
    })
}

/// One file a manifest records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrashFile {
    /// Its name in `backups/`.
    pub backup_name: String,
    /// Its name in the trash.
    pub trash_name: String,
    pub size: u64,
    /// SHA-256 of its bytes when it was moved.
    pub sha256: String,
}

/// The record kept beside every trashed backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrashManifest {
    /// Format version of this record.
    pub graphvault_trash: u32,
    pub item: String,
    pub backup_id: String,
    pub trashed_at: DateTime<FixedOffset>,
    /// When a later save or rotation may purge it.
    pub expires_at: DateTime<FixedOffset>,
    /// What moved it: `retention after save`, `rotate`, ...
    pub operation: String,
    /// The policy that decided it.
    pub policy: Option<RetentionPolicy>,
    /// Every reason of the decision, as the plan gave them.
    pub reasons: Vec<String>,
    pub files: Vec<TrashFile>,
}

/// Why a backup is moved to the trash.
#[derive(Debug, Clone)]
pub struct TrashReason<'a> {
    pub operation: &'a str,
    pub policy: Option<&'a RetentionPolicy>,
    pub reasons: &'a [String],
}

/// Where an item of the trash stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemState {
    /// Whole in the trash, waiting for its grace period to end.
    Trashed,
    /// An interrupted move, purge or restore; the next write completes it.
    Interrupted,
    /// Files with no manifest, or a manifest that cannot be read: left
    /// alone (graphvault removes only what it can name and prove).
    Unknown,
}

/// One item of the trash, as listed.
#[derive(Debug, Clone, Serialize)]
pub struct TrashItem {
    pub id: TrashId,
    pub backup_id: BackupId,
    pub state: ItemState,
    /// Bytes of its files in the trash.
    pub size: u64,
    pub trashed_at: Option<DateTime<FixedOffset>>,
    pub expires_at: Option<DateTime<FixedOffset>>,
    /// Past its grace period: the next save or rotation purges it.
    pub expired: bool,
    pub operation: Option<String>,
    pub policy: Option<RetentionPolicy>,
    pub reasons: Vec<String>,
    /// Paths of its files in the trash.
    pub files: Vec<PathBuf>,
    /// What is odd about it.
    pub notes: Vec<String>,
}

/// Result of [`Store::list_trash`].
#[derive(Debug, Clone, Serialize)]
pub struct TrashListing {
    pub dir: PathBuf,
    /// Newest trashed first.
    pub items: Vec<TrashItem>,
    pub total_size: u64,
    /// The store's grace period, as text (`2w`).
    pub grace: String,
    /// Why the store's grace period is not known (its config cannot be
    /// used): `grace` and the expiry times are then the default's, and
    /// nothing is purged by expiry until the config is fixed.
    pub grace_problem: Option<String>,
}

/// A backup just moved to the trash.
#[derive(Debug, Clone, Serialize)]
pub struct TrashedBackup {
    pub id: TrashId,
    pub backup_id: BackupId,
    pub size: u64,
    pub expires_at: DateTime<FixedOffset>,
    /// Files that left `backups/`.
    pub moved: Vec<PathBuf>,
}

/// An item purged from the trash.
#[derive(Debug, Clone, Serialize)]
pub struct PurgedItem {
    pub id: TrashId,
    pub backup_id: BackupId,
    pub size: u64,
    pub trashed_at: Option<DateTime<FixedOffset>>,
    pub expires_at: Option<DateTime<FixedOffset>>,
}

/// Options of [`Store::trash_empty`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TrashEmptyOptions {
    /// Only items trashed longer ago than this (all items when `None`).
    pub older_than: Option<Duration>,
    /// Only report what would be purged.
    pub dry_run: bool,
}

/// What [`Store::trash_empty`] purged or would purge.
#[derive(Debug, Clone, Serialize)]
pub struct TrashEmptyReport {
    pub dry_run: bool,
    pub older_than: Option<String>,
    pub purged: Vec<PurgedItem>,
    /// Items left in the trash.
    pub kept: usize,
    pub freed: u64,
    /// Why items old enough by the clock alone were kept (a clock far
    /// ahead purges nothing), when some were.
    pub clock_note: Option<String>,
}

/// One item brought back by [`Store::trash_restore`].
#[derive(Debug, Clone, Serialize)]
pub struct RestoredItem {
    pub id: TrashId,
    pub backup_id: BackupId,
    /// Verification of the backup back in `backups/`.
    pub status: Status,
    pub reason: Option<String>,
    pub files: Vec<PathBuf>,
}

/// Result of [`Store::trash_restore`].
#[derive(Debug, Clone, Serialize)]
pub struct TrashRestoreReport {
    pub restored: Vec<RestoredItem>,
}

/// One item as [`Store::trash_restore_plan`] found it: verified where it
/// lies in the trash, its names free in `backups/`.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedTrashRestore {
    pub id: TrashId,
    pub backup_id: BackupId,
    pub size: u64,
    pub trashed_at: Option<DateTime<FixedOffset>>,
    pub expires_at: Option<DateTime<FixedOffset>>,
    pub operation: String,
    pub reasons: Vec<String>,
    /// Where its files go back to.
    pub files: Vec<PathBuf>,
    pub status: Status,
    pub reason: Option<String>,
    pub node_count: Option<usize>,
    pub edge_count: Option<usize>,
}

/// Result of [`Store::trash_restore_plan`].
#[derive(Debug, Clone, Serialize)]
pub struct TrashRestorePlan {
    pub items: Vec<PlannedTrashRestore>,
}

/// `trash_grace` as duration text in the store's config (`"14d"`).
pub(crate) mod grace_text {
    use chrono::Duration;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_duration(*value))
    }

    /// The error names the setting and its value: a bad grace is not a bad
    /// retention policy.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_duration(&text).map_err(|e| {
            let why = match e {
                crate::store::StoreError::InvalidPolicy(why) => why,
                other => other.to_string(),
            };
            serde::de::Error::custom(format!("trash_grace: {why}"))
        })
    }
}

/// Files of one item found in the trash directory.
#[derive(Debug, Default)]
struct Found {
    manifest: bool,
    moving: bool,
    purging: bool,
    restoring: bool,
    /// Suffix -> size.
    files: BTreeMap<&'static str, u64>,
}

fn local_offset(t: DateTime<Local>) -> DateTime<FixedOffset> {
    t.fixed_offset()
}

/// Why items the clock calls expired stay in the trash.
fn held_note(n: usize, history: Option<chrono::NaiveDateTime>) -> String {
    let items = if n == 1 {
        "1 trash item is".to_string()
    } else {
        format!("{n} trash items are")
    };
    let since = match history {
        Some(h) => format!(
            "the newest backup made before now is dated {}",
            h.format("%Y-%m-%d %H:%M:%S")
        ),
        None => "there is no backup made before now".to_string(),
    };
    format!(
        "{items} past the grace period by the clock, but {since}, before they expire: kept, \
         since a clock far ahead must purge nothing; a later save or rotation purges them once a \
         backup dated after their expiry exists (`trash empty --apply` purges now)"
    )
}

impl Store {
    /// The trash directory.
    pub fn trash_dir(&self) -> PathBuf {
        self.state_dir().join(TRASH_DIR)
    }

    /// How long trashed backups are kept before a later write may purge them.
    pub fn trash_grace(&self) -> Duration {
        self.config.trash_grace
    }

    fn read_trash_dir(&self) -> Result<BTreeMap<TrashId, Found>> {
        let dir = self.trash_dir();
        self.check_own_dir(&dir)?;
        let entries = match self.fs.read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(StoreError::io("list the trash", &dir, e)),
        };
        let mut items: BTreeMap<TrashId, Found> = BTreeMap::new();
        for entry in entries {
            if entry.kind != EntryKind::File {
                continue;
            }
            let Some((id, kind)) = parse_trash_name(&entry.name) else {
                continue;
            };
            let found = items.entry(id).or_default();
            match kind {
                ItemFile::Manifest => found.manifest = true,
                ItemFile::Moving => found.moving = true,
                ItemFile::Purging => found.purging = true,
                ItemFile::Restoring => found.restoring = true,
                ItemFile::Backup(suffix) => {
                    found.files.insert(suffix, entry.len);
                }
            }
        }
        Ok(items)
    }

    fn read_manifest(&self, path: &Path) -> Result<TrashManifest> {
        let bytes = fs::read_file(&*self.fs, path, MAX_MANIFEST_LEN)
            .map_err(|e| StoreError::io("read trash manifest", path, e))?;
        serde_json::from_slice(&bytes).map_err(|e| StoreError::Refused {
            path: path.to_path_buf(),
            reason: format!("not a trash manifest graphvault can read: {e}"),
        })
    }

    /// Every item in the trash, newest trashed first. Reads only the
    /// directory and the small manifests; needs no lock.
    ///
    /// # Errors
    /// The trash directory is not a plain directory or cannot be listed.
    pub fn list_trash(&self) -> Result<TrashListing> {
        let dir = self.trash_dir();
        let now = super::now().fixed_offset();
        let mut items = Vec::new();
        for (id, found) in self.read_trash_dir()? {
            let files: Vec<PathBuf> = found
                .files
                .keys()
                .map(|suffix| dir.join(id.file_name(suffix)))
                .collect();
            let size = found.files.values().sum();
            let marker = if found.purging {
                Some(PURGING_SUFFIX)
            } else if found.restoring {
                Some(RESTORING_SUFFIX)
            } else if found.moving {
                Some(MOVING_SUFFIX)
            } else if found.manifest {
                Some(MANIFEST_SUFFIX)
            } else {
                None
            };
            let mut item = TrashItem {
                backup_id: id.backup().clone(),
                state: ItemState::Unknown,
                size,
                trashed_at: None,
                expires_at: None,
                expired: false,
                operation: None,
                policy: None,
                reasons: Vec::new(),
                files,
                notes: Vec::new(),
                id: id.clone(),
            };
            match marker {
                None => item
                    .notes
                    .push("no manifest: not moved here by graphvault, left alone".to_string()),
                Some(suffix) => match self.read_manifest(&dir.join(id.file_name(suffix))) {
                    Ok(m) => {
                        let complete = m
                            .files
                            .iter()
                            .all(|f| found.files.keys().any(|s| id.file_name(s) == f.trash_name));
                        item.state = if suffix == MANIFEST_SUFFIX && complete {
                            ItemState::Trashed
                        } else {
                            item.notes.push(
                                match suffix {
                                    PURGING_SUFFIX => "an interrupted purge",
                                    RESTORING_SUFFIX => "an interrupted restore",
                                    _ => "an interrupted move",
                                }
                                .to_string()
                                    + ": the next save, rotation or trash command completes it",
                            );
                            ItemState::Interrupted
                        };
                        item.expired = m.trashed_at <= now && m.expires_at <= now;
                        item.trashed_at = Some(m.trashed_at);
                        item.expires_at = Some(m.expires_at);
                        item.operation = Some(m.operation);
                        item.policy = m.policy;
                        item.reasons = m.reasons;
                    }
                    Err(e) => item
                        .notes
                        .push(format!("manifest unreadable, left alone: {e}")),
                },
            }
            items.push(item);
        }
        items.sort_by(|a, b| {
            b.trashed_at
                .cmp(&a.trashed_at)
                .then_with(|| b.id.cmp(&a.id))
        });
        Ok(TrashListing {
            total_size: items.iter().map(|i| i.size).sum(),
            items,
            dir,
            grace: format_duration(self.trash_grace()),
            grace_problem: self.config_problem.clone(),
        })
    }

    /// Creates the trash directory (durably) when it is not there yet.
    fn ensure_trash_dir(&self) -> Result<PathBuf> {
        let dir = self.trash_dir();
        self.check_own_dir(&dir)?;
        if self.fs.entry(&dir).is_err() {
            self.fs
                .create_dir_all(&dir)
                .map_err(|e| StoreError::io("create directory", &dir, e))?;
            let parent = fs::parent_dir(&dir);
            self.fs
                .sync_dir(parent)
                .map_err(|e| StoreError::io("fsync directory", parent, e))?;
        }
        Ok(dir)
    }

    /// Whether backup `id` has an item in the trash (so a new backup does
    /// not take its name and a restore finds its place free).
    pub(crate) fn id_in_trash(&self, id: &BackupId) -> bool {
        let dir = self.trash_dir();
        [
            MANIFEST_SUFFIX,
            MOVING_SUFFIX,
            PURGING_SUFFIX,
            RESTORING_SUFFIX,
        ]
        .iter()
        .any(|s| self.fs.entry(&dir.join(format!("{id}{s}"))).is_ok())
    }

    /// Moves backup `id` (every file of it in `backups/`) into the trash,
    /// durably, with a manifest saying why. The caller holds the lock.
    /// `None` when the backup has no file left to move.
    ///
    /// # Errors
    /// An I/O error naming the step and path; the message says where the
    /// backup is (always whole in `backups/` or in the trash).
    pub(crate) fn move_to_trash(
        &self,
        id: &BackupId,
        why: &TrashReason<'_>,
        now: DateTime<Local>,
    ) -> Result<Option<TrashedBackup>> {
        self.move_files_to_trash(id, &FILE_SUFFIXES, why, now)
    }

    /// Moves one stored form of backup `id`'s data file into the trash
    /// (`compact`, once the other form is written and verified), the same
    /// durable way as a whole backup. `None` when that file is not there.
    ///
    /// # Errors
    /// As [`Store::move_to_trash`].
    pub(crate) fn move_data_file_to_trash(
        &self,
        id: &BackupId,
        form: super::codec::StoredForm,
        why: &TrashReason<'_>,
        now: DateTime<Local>,
    ) -> Result<Option<TrashedBackup>> {
        self.move_files_to_trash(id, &[form.suffix()], why, now)
    }

    fn move_files_to_trash(
        &self,
        id: &BackupId,
        suffixes: &[&'static str],
        why: &TrashReason<'_>,
        now: DateTime<Local>,
    ) -> Result<Option<TrashedBackup>> {
        let backups = self.backups_dir();
        let whole = format!("backup {id} is unchanged in {}", backups.display());
        // What is moved must come from the directory judged: `backups/`
        // swapped for a symlink (or another directory) while a rotation runs
        // would have files from elsewhere moved into the trash. Its identity
        // is taken now and checked before every step that touches a file.
        let anchor = self.dir_identity(&backups).map_err(|e| e.left(&*whole))?;
        let mut files = Vec::new();
        for &suffix in suffixes {
            let name = format!("{id}{suffix}");
            let path = backups.join(&name);
            match self.fs.entry(&path) {
                Ok(e) if e.kind == EntryKind::File => {}
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(StoreError::io("look up backup file", path, e).left(whole));
                }
            }
            // A save hashed it on its idle core if it predicted this move.
            let (sha256, size) = match self.recall_hash(&path) {
                Some(known) => known,
                None => verify::hash_file(&*self.fs, &path, MAX_GRAPH_LEN).map_err(|e| {
                    StoreError::io("read backup to trash it", &path, e).left(&*whole)
                })?,
            };
            files.push((suffix, name, size, sha256));
        }
        if files.is_empty() {
            return Ok(None);
        }
        #[cfg(feature = "negative-controls")]
        if super::negative_controls::delete_instead_of_trash() {
            for (_, name, _, _) in &files {
                let _ = self.fs.remove_file(&backups.join(name));
            }
            return Ok(None);
        }
        let dir = self.ensure_trash_dir().map_err(|e| e.left(&*whole))?;
        let existing = self.read_trash_dir().map_err(|e| e.left(&*whole))?;
        let mut item = TrashId::first(id.clone());
        while existing.contains_key(&item) {
            item = item.next();
        }
        let trashed_at = local_offset(now);
        let expires_at = trashed_at + self.trash_grace();
        let manifest = TrashManifest {
            graphvault_trash: MANIFEST_FORMAT,
            item: item.to_string(),
            backup_id: id.to_string(),
            trashed_at,
            expires_at,
            operation: why.operation.to_string(),
            policy: why.policy.cloned(),
            reasons: why.reasons.to_vec(),
            files: files
                .iter()
                .map(|(suffix, name, size, sha256)| TrashFile {
                    backup_name: name.clone(),
                    trash_name: item.file_name(suffix),
                    size: *size,
                    sha256: sha256.clone(),
                })
                .collect(),
        };
        let bytes = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
        let moving = dir.join(item.file_name(MOVING_SUFFIX));
        fs::write_atomic(&*self.fs, &moving, &bytes, Publish::NoReplace)
            .map_err(|e| e.left(&*whole))?;
        let half = format!(
            "backup {id} is whole in {}; the trash holds part of a copy that the next write completes",
            backups.display()
        );
        let mut linked = false;
        for f in &manifest.files {
            let from = backups.join(&f.backup_name);
            let to = dir.join(&f.trash_name);
            self.same_dir(&backups, anchor, id)
                .map_err(|e| e.left(&*half))?;
            self.link_or_move(&from, &to, &backups)
                .map_err(|e| e.left(&*half))?;
            linked = true;
        }
        #[cfg(feature = "negative-controls")]
        if super::negative_controls::skip_trash_sync() {
            linked = false;
        }
        if linked {
            self.fs
                .sync_dir(&dir)
                .map_err(|e| StoreError::io("fsync directory", &dir, e).left(&*half))?;
        }
        let moved = self
            .same_dir(&backups, anchor, id)
            .and_then(|()| self.remove_remnants(&manifest))
            .map_err(|e| {
                e.left(format!(
                    "backup {id} is whole in the trash ({}); what is left of it in {} is removed by the next write",
                    dir.display(),
                    backups.display()
                ))
            })?;
        fs::rename_durable(
            &*self.fs,
            &moving,
            &dir.join(item.file_name(MANIFEST_SUFFIX)),
        )
        .map_err(|e| {
            e.left(format!(
                "backup {id} is whole in the trash ({}); the next write completes its move",
                dir.display()
            ))
        })?;
        tracing::info!(backup = %id, item = %item, operation = why.operation, reasons = ?why.reasons, "moved backup to the trash");
        Ok(Some(TrashedBackup {
            id: item,
            backup_id: id.clone(),
            size: manifest.files.iter().map(|f| f.size).sum(),
            expires_at,
            moved,
        }))
    }

    /// The device and inode of `dir`, refused when it is a symlink or not a
    /// directory; `None` when it is not there.
    fn dir_identity(&self, dir: &Path) -> Result<Option<(Option<u64>, Option<u64>)>> {
        self.check_own_dir(dir)?;
        match self.fs.file_stat(dir) {
            Ok(st) => Ok(Some((st.dev, st.ino))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io("inspect directory", dir, e)),
        }
    }

    /// Refuses to go on moving backup `id` when `dir` is no longer the
    /// directory whose identity was `anchor`.
    fn same_dir(
        &self,
        dir: &Path,
        anchor: Option<(Option<u64>, Option<u64>)>,
        id: &BackupId,
    ) -> Result<()> {
        if self.dir_identity(dir)? == anchor {
            return Ok(());
        }
        Err(StoreError::Refused {
            path: dir.to_path_buf(),
            reason: format!(
                "it was replaced while backup {id} was being moved to the trash (it is no longer the directory the move began in); nothing more is moved through it"
            ),
        })
    }

    /// A second name for `from` at `to` (never replacing `to`); where the
    /// filesystem has no hard links, a rename made durable on both sides,
    /// destination first.
    fn link_or_move(&self, from: &Path, to: &Path, from_dir: &Path) -> Result<()> {
        match self.fs.hard_link(from, to) {
            Ok(()) => Ok(()),
            Err(e) if fs::no_hard_links(&e) => {
                if self.fs.entry(to).is_ok() {
                    return Err(StoreError::io(
                        "move (no overwrite)",
                        to,
                        std::io::Error::from(std::io::ErrorKind::AlreadyExists),
                    ));
                }
                self.fs
                    .rename(from, to)
                    .map_err(|e| StoreError::io("move", to, e))?;
                let to_dir = fs::parent_dir(to);
                self.fs
                    .sync_dir(to_dir)
                    .map_err(|e| StoreError::io("fsync directory", to_dir, e))?;
                self.fs
                    .sync_dir(from_dir)
                    .map_err(|e| StoreError::io("fsync directory", from_dir, e))
            }
            Err(e) => Err(StoreError::io("link into the trash", to, e)),
        }
    }

    /// Removes from `backups/` the files of a manifest that the trash holds
    /// whole, metas first, each only when its bytes are the ones recorded.
    /// Returns the paths removed.
    fn remove_remnants(&self, manifest: &TrashManifest) -> Result<Vec<PathBuf>> {
        let backups = self.backups_dir();
        let mut removed = Vec::new();
        for f in &manifest.files {
            let path = backups.join(&f.backup_name);
            match self.fs.entry(&path) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                // Not knowing is not "gone": skipping a meta that is still
                // there would leave it describing a data file removed next.
                Err(e) => return Err(StoreError::io("look up backup file", &path, e)),
            }
            // The usual case, just after the link: the backup's name and the
            // trash's are one inode, so removing this name loses no byte and
            // there is nothing to read. Otherwise (a copy, or a crash
            // between the steps) the bytes must be the recorded ones.
            let trashed = self.trash_dir().join(&f.trash_name);
            if same_inode(&*self.fs, &path, &trashed) {
                tracing::debug!(path = %path.display(), "the trash holds this very file: removing its backup name without reading it");
            } else {
                match verify::hash_file(&*self.fs, &path, MAX_GRAPH_LEN) {
                    Ok((sha, size)) if sha == f.sha256 && size == f.size => {}
                    // Another file took the name since: not ours to remove.
                    Ok(_) => {
                        tracing::warn!(path = %path.display(), "a file of a trashed backup's name differs from the trashed one: left alone");
                        continue;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(StoreError::io("read backup file", &path, e)),
                }
            }
            if (f.backup_name.ends_with(".json") || f.backup_name.ends_with(".zst"))
                && !removed.is_empty()
            {
                // Unsynced removals may reach the disk in any order: the
                // meta's removal is durable before the data's.
                self.fs
                    .sync_dir(&backups)
                    .map_err(|e| StoreError::io("fsync directory", &backups, e))?;
            }
            self.fs
                .remove_file(&path)
                .map_err(|e| StoreError::io("remove backup file (moved to the trash)", &path, e))?;
            removed.push(path);
        }
        if !removed.is_empty() {
            self.fs
                .sync_dir(&backups)
                .map_err(|e| StoreError::io("fsync directory", &backups, e))?;
        }
        Ok(removed)
    }

    /// Completes whatever a crash interrupted in the trash: a move (links
    /// or removals missing), a purge, a restore. Called under the lock by
    /// [`Store::lock`].
    pub(crate) fn settle_trash(&self) -> Result<()> {
        let dir = self.trash_dir();
        let items = self.read_trash_dir()?;
        if items.is_empty() {
            return Ok(());
        }
        let backups = self.backups_dir();
        let in_backups: Vec<String> = match self.fs.read_dir(&backups) {
            Ok(entries) => entries.into_iter().map(|e| e.name).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(StoreError::io("list backups", &backups, e)),
        };
        for (id, found) in items {
            if found.purging {
                tracing::warn!(item = %id, "completing an interrupted purge");
                self.finish_purge(&id)?;
            } else if found.restoring {
                tracing::warn!(item = %id, "completing an interrupted restore from the trash");
                let manifest = self.read_manifest(&dir.join(id.file_name(RESTORING_SUFFIX)))?;
                self.finish_restore(&id, &manifest)?;
            } else if found.moving {
                let backup_has =
                    |m: &TrashManifest| m.files.iter().any(|f| in_backups.contains(&f.backup_name));
                let trash_has_all = |m: &TrashManifest| {
                    m.files
                        .iter()
                        .all(|f| found.files.keys().any(|s| id.file_name(s) == f.trash_name))
                };
                tracing::warn!(item = %id, "completing an interrupted move to the trash");
                let moving = dir.join(id.file_name(MOVING_SUFFIX));
                let manifest = match self.read_manifest(&moving) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(item = %id, error = %e, "trash manifest unreadable: item left alone");
                        continue;
                    }
                };
                if backup_has(&manifest) && !trash_has_all(&manifest) {
                    let mut linked = false;
                    for f in &manifest.files {
                        let to = dir.join(&f.trash_name);
                        if self.fs.entry(&to).is_ok() {
                            continue;
                        }
                        let from = backups.join(&f.backup_name);
                        match verify::hash_file(&*self.fs, &from, MAX_GRAPH_LEN) {
                            Ok((sha, size)) if sha == f.sha256 && size == f.size => {
                                self.link_or_move(&from, &to, &backups)?;
                                linked = true;
                            }
                            Ok(_) => {}
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                            Err(e) => {
                                return Err(StoreError::io("read backup file", &from, e));
                            }
                        }
                    }
                    if linked {
                        self.fs
                            .sync_dir(&dir)
                            .map_err(|e| StoreError::io("fsync directory", &dir, e))?;
                    }
                    if !self.item_whole_in_trash(&manifest) {
                        // Parts of it are neither here nor there in the
                        // recorded bytes: leave everything as it is.
                        continue;
                    }
                }
                self.remove_remnants(&manifest)?;
                fs::rename_durable(&*self.fs, &moving, &dir.join(id.file_name(MANIFEST_SUFFIX)))?;
            }
        }
        Ok(())
    }

    fn item_whole_in_trash(&self, manifest: &TrashManifest) -> bool {
        let dir = self.trash_dir();
        manifest
            .files
            .iter()
            .all(|f| self.fs.entry(&dir.join(&f.trash_name)).is_ok())
    }

    /// Removes an item whose manifest is already renamed to the purging
    /// marker: its files, then the marker.
    fn finish_purge(&self, id: &TrashId) -> Result<()> {
        let dir = self.trash_dir();
        let mut removed = false;
        for suffix in FILE_SUFFIXES {
            let path = dir.join(id.file_name(suffix));
            match self.fs.remove_file(&path) {
                Ok(()) => removed = true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io("purge from the trash", path, e)),
            }
        }
        if removed {
            self.fs
                .sync_dir(&dir)
                .map_err(|e| StoreError::io("fsync directory", &dir, e))?;
        }
        fs::remove_durable(&*self.fs, &dir.join(id.file_name(PURGING_SUFFIX)))
    }

    /// Purges one item: marker first (the point of no return), then its
    /// files, then the marker.
    fn purge_item(&self, id: &TrashId) -> Result<()> {
        let dir = self.trash_dir();
        fs::rename_durable(
            &*self.fs,
            &dir.join(id.file_name(MANIFEST_SUFFIX)),
            &dir.join(id.file_name(PURGING_SUFFIX)),
        )
        .map_err(|e| e.left(format!("item {id} is unchanged in the trash")))?;
        self.finish_purge(id).map_err(|e| {
            e.left(format!(
                "item {id} is being purged; the next write finishes removing it"
            ))
        })?;
        tracing::info!(item = %id, "purged from the trash");
        Ok(())
    }

    /// Purges every item of the trash whose grace period is over, both by
    /// the clock (`now`) and by the store's own history (`history`: the
    /// newest backup made before this call). A clock far ahead says every
    /// item has expired; the backups made since the items were trashed say
    /// how much time really passed, and nothing is purged on the clock's
    /// word alone (issue 8's rule for retention, applied to the trash).
    /// The caller holds the lock; a rotation calls this before it moves
    /// anything, so nothing it trashes is purged in the same call.
    ///
    /// Returns what was purged and, when the clock alone called items
    /// expired, a note saying how many were kept and why.
    pub(crate) fn purge_expired_trash(
        &self,
        now: DateTime<Local>,
        history: Option<chrono::NaiveDateTime>,
    ) -> Result<(Vec<PurgedItem>, Option<String>)> {
        // The grace period comes from the store's config: one that cannot
        // be used leaves only the default's, a guess, and nothing is purged
        // for good on a guess.
        if let Some(problem) = &self.config_problem {
            tracing::warn!(problem = %problem, "trash not purged: the grace period is not known");
            return Ok((
                Vec::new(),
                Some(format!(
                    "nothing was purged from the trash: its grace period (trash_grace) is not \
                     known while the store config cannot be used ({problem}); fix the file, or \
                     purge explicitly"
                )),
            ));
        }
        let now = local_offset(now);
        let listing = self.list_trash()?;
        let confirmed = |x: DateTime<FixedOffset>| {
            history.is_some_and(|h| {
                x.with_timezone(&Local).naive_local() <= h + super::retention::clock_tolerance()
            })
        };
        let mut purged = Vec::new();
        let mut held = Vec::new();
        for item in listing.items {
            let by_clock = item.state == ItemState::Trashed
                && item
                    .trashed_at
                    .zip(item.expires_at)
                    .is_some_and(|(t, x)| t <= now && x <= now);
            if !by_clock {
                continue;
            }
            if !item.expires_at.is_some_and(confirmed) {
                held.push(item.id);
                continue;
            }
            self.purge_item(&item.id).map_err(|e| {
                e.left(format!(
                    "purged before the error: {}",
                    if purged.is_empty() {
                        "nothing".to_string()
                    } else {
                        purged
                            .iter()
                            .map(|p: &PurgedItem| p.id.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ))
            })?;
            purged.push(PurgedItem {
                id: item.id,
                backup_id: item.backup_id,
                size: item.size,
                trashed_at: item.trashed_at,
                expires_at: item.expires_at,
            });
        }
        let note = (!held.is_empty()).then(|| {
            tracing::warn!(
                held = held.len(),
                "trash items expired by the clock only: kept"
            );
            held_note(held.len(), history)
        });
        Ok((purged, note))
    }

    /// Purges items from the trash on request: all of them, or those
    /// trashed longer ago than `older_than`. A dry run only reports.
    ///
    /// # Errors
    /// The lock held elsewhere, or an I/O error naming the path (items
    /// purged before it stay purged; the message lists them).
    pub fn trash_empty(&self, options: TrashEmptyOptions) -> Result<TrashEmptyReport> {
        let _guard = if options.dry_run {
            None
        } else {
            Some(self.lock()?)
        };
        let now = super::now().fixed_offset();
        let listing = self.list_trash()?;
        // As for the automatic purge: an age is believed when the store's
        // newest backup agrees with the clock, never on the clock alone.
        let history = self
            .list_backups()?
            .backups
            .iter()
            .map(|b| b.id.time())
            .max();
        let total = listing.items.len();
        let mut purged = Vec::new();
        let mut held = 0;
        for item in listing.items {
            let old_enough = match (options.older_than, item.trashed_at) {
                (None, _) => true,
                (Some(age), Some(t)) => {
                    let by_clock = t <= now && now - t >= age;
                    let by_history = history.is_some_and(|h| {
                        (t + age).with_timezone(&Local).naive_local()
                            <= h + super::retention::clock_tolerance()
                    });
                    if by_clock && !by_history && item.state == ItemState::Trashed {
                        held += 1;
                    }
                    by_clock && by_history
                }
                (Some(_), None) => false,
            };
            // Only what graphvault put there and can name is purged.
            if item.state != ItemState::Trashed || !old_enough {
                continue;
            }
            if !options.dry_run {
                self.purge_item(&item.id).map_err(|e| {
                    e.left(match purged.len() {
                        1 => "1 item purged before the error".to_string(),
                        n => format!("{n} items purged before the error"),
                    })
                })?;
            }
            purged.push(PurgedItem {
                id: item.id,
                backup_id: item.backup_id,
                size: item.size,
                trashed_at: item.trashed_at,
                expires_at: item.expires_at,
            });
        }
        Ok(TrashEmptyReport {
            dry_run: options.dry_run,
            clock_note: (held > 0).then(|| held_note(held, history)),
            older_than: options.older_than.map(format_duration),
            freed: purged.iter().map(|p| p.size).sum(),
            kept: total - purged.len(),
            purged,
        })
    }

    /// Brings trashed backups back into `backups/`: each is checked against
    /// its manifest and verified first, refused if any of its names is
    /// taken there, linked back, verified in place, and only then removed
    /// from the trash. Every id is checked before anything is moved.
    ///
    /// # Errors
    /// An invalid or unknown id, an item that is not whole or whose bytes
    /// differ from its manifest, a name taken in `backups/` (nothing is
    /// overwritten), the lock held elsewhere, or an I/O error.
    pub fn trash_restore(&self, ids: &[String]) -> Result<TrashRestoreReport> {
        let _guard = self.lock()?;
        let planned = self.check_trash_restore(ids)?;
        let dir = self.trash_dir();
        let mut restored = Vec::new();
        for (id, manifest, _) in planned {
            let done = |restored: &[RestoredItem]| {
                if restored.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; restored before the error: {}",
                        restored
                            .iter()
                            .map(|r| r.id.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            };
            fs::rename_durable(
                &*self.fs,
                &dir.join(id.file_name(MANIFEST_SUFFIX)),
                &dir.join(id.file_name(RESTORING_SUFFIX)),
            )
            .map_err(|e| e.left(format!("{id} is unchanged in the trash{}", done(&restored))))?;
            let files = self.finish_restore(&id, &manifest).map_err(|e| {
                e.left(format!(
                    "{id} is being restored; the next write completes it{}",
                    done(&restored)
                ))
            })?;
            let after =
                self.inspect_target(&Target::Backup(id.backup().clone()), Depth::Full, false);
            tracing::info!(item = %id, status = after.report.status.name(), "restored from the trash");
            restored.push(RestoredItem {
                backup_id: id.backup().clone(),
                id,
                status: after.report.status,
                reason: after.report.reason,
                files,
            });
        }
        Ok(TrashRestoreReport { restored })
    }

    /// What [`Store::trash_restore`] of `ids` would do, with every check it
    /// makes first (the manifest's bytes, the verification, the names free
    /// in `backups/`); nothing is written. Needs no lock.
    ///
    /// # Errors
    /// As for [`Store::trash_restore`]: the first item that would be refused.
    pub fn trash_restore_plan(&self, ids: &[String]) -> Result<TrashRestorePlan> {
        let listing = self.list_trash()?;
        let backups = self.backups_dir();
        let items = self
            .check_trash_restore(ids)?
            .into_iter()
            .map(|(id, manifest, report)| {
                let listed = listing.items.iter().find(|i| i.id == id);
                PlannedTrashRestore {
                    backup_id: id.backup().clone(),
                    size: manifest.files.iter().map(|f| f.size).sum(),
                    trashed_at: Some(manifest.trashed_at),
                    expires_at: Some(manifest.expires_at),
                    operation: manifest.operation.clone(),
                    reasons: listed.map(|i| i.reasons.clone()).unwrap_or_default(),
                    files: manifest
                        .files
                        .iter()
                        .map(|f| backups.join(&f.backup_name))
                        .collect(),
                    status: report.status,
                    reason: report.reason.clone(),
                    node_count: report.node_count,
                    edge_count: report.edge_count,
                    id,
                }
            })
            .collect();
        Ok(TrashRestorePlan { items })
    }

    /// Every check of a restore from the trash, before anything moves: each
    /// item's manifest, its bytes against it, its verification where it
    /// lies, and its names free in `backups/`.
    fn check_trash_restore(
        &self,
        ids: &[String],
    ) -> Result<Vec<(TrashId, TrashManifest, FileReport)>> {
        let dir = self.trash_dir();
        let backups = self.backups_dir();
        let mut planned = Vec::new();
        for text in ids {
            let id: TrashId = text.parse()?;
            let manifest_path = dir.join(id.file_name(MANIFEST_SUFFIX));
            if self.fs.entry(&manifest_path).is_err() {
                return Err(StoreError::NoSuchBackup {
                    id: id.to_string(),
                    dir: dir.clone(),
                });
            }
            let unchanged = "nothing was restored; the trash and backups/ are unchanged";
            let manifest = self
                .read_manifest(&manifest_path)
                .map_err(|e| e.left(unchanged))?;
            for f in &manifest.files {
                let src = dir.join(&f.trash_name);
                let (sha, size) = verify::hash_file(&*self.fs, &src, MAX_GRAPH_LEN)
                    .map_err(|e| StoreError::io("read trashed file", &src, e).left(unchanged))?;
                if sha != f.sha256 || size != f.size {
                    return Err(StoreError::ChecksumMismatch {
                        path: src,
                        expected: f.sha256.clone(),
                        actual: sha,
                    }
                    .left(unchanged));
                }
            }
            let backup = id.backup().clone();
            for name in [
                backup.data_file_name(),
                backup.zstd_file_name(),
                backup.delta_file_name(),
                backup.meta_file_name(),
                backup.alt_meta_file_name(),
            ] {
                let path = backups.join(&name);
                if self.fs.entry(&path).is_ok() {
                    return Err(StoreError::Refused {
                        path,
                        reason: format!(
                            "restoring {id} from the trash would overwrite it; {unchanged}"
                        ),
                    });
                }
            }
            // Verified as a backup, from where it lies in the trash.
            let metas = MetaSource {
                paths: vec![
                    dir.join(id.file_name(".meta")),
                    dir.join(id.file_name(".json.meta")),
                ],
                pending: None,
                key: self.key.clone(),
            };
            // Its data file as it lies there: plain, or compressed (read
            // through its decoder, as every backup is).
            let data = manifest
                .files
                .iter()
                .find(|f| f.trash_name.ends_with(".zst"))
                .map_or_else(|| id.file_name(".json"), |f| f.trash_name.clone());
            let data = dir.join(data);
            let report = verify::inspect(
                self,
                Target::Backup(backup.clone()),
                &data,
                &metas,
                Depth::Full,
                false,
            )
            .report;
            if !report.status.is_usable() {
                return Err(StoreError::VerifyFailed {
                    path: report.path.clone(),
                    reason: format!("{id} in the trash is {}; {unchanged}", report.summary()),
                });
            }
            // The pair stays together: a delta goes back only where its
            // base is, or comes back with it.
            if super::codec::StoredForm::of_path(&data) == super::codec::StoredForm::Delta
                && let Ok((base, _)) = super::codec::delta_base_of(&*self.fs, &data)
            {
                let in_backups = self
                    .fs
                    .entry(&super::data_path_in(&*self.fs, &backups, &base))
                    .is_ok();
                let asked = ids
                    .iter()
                    .filter_map(|t| t.parse::<TrashId>().ok())
                    .any(|t| t.backup() == &base);
                if !in_backups && !asked {
                    return Err(StoreError::Refused {
                        path: data.clone(),
                        reason: format!(
                            "{id} is a delta whose base {base} is not in backups/: restore them together (`graphvault trash restore {id} {base}`); {unchanged}"
                        ),
                    });
                }
            }
            if planned
                .iter()
                .any(|(p, _, _): &(TrashId, TrashManifest, FileReport)| p.backup() == id.backup())
            {
                return Err(StoreError::Invalid(format!(
                    "two trash items of backup {} were asked for; only one can go back; {unchanged}",
                    id.backup()
                )));
            }
            planned.push((id, manifest, report));
        }
        // Bases before their deltas: a delta is never in backups/ before
        // the backup it is read through.
        planned.sort_by_key(|(_, m, _)| {
            m.files
                .iter()
                .any(|f| f.backup_name.ends_with(super::codec::DELTA_SUFFIX))
        });
        Ok(planned)
    }

    /// Links an item's files back into `backups/` (those not there yet),
    /// then removes it from the trash, marker last. The manifest is
    /// already renamed to the restoring marker.
    fn finish_restore(&self, id: &TrashId, manifest: &TrashManifest) -> Result<Vec<PathBuf>> {
        let dir = self.trash_dir();
        let backups = self.backups_dir();
        let mut files = Vec::new();
        let mut linked = false;
        for f in &manifest.files {
            let to = backups.join(&f.backup_name);
            let from = dir.join(&f.trash_name);
            if self.fs.entry(&to).is_err() && self.fs.entry(&from).is_ok() {
                self.link_or_move(&from, &to, &dir)?;
                linked = true;
            }
            files.push(to);
        }
        #[cfg(feature = "negative-controls")]
        if super::negative_controls::skip_restore_sync() {
            linked = false;
        }
        if linked {
            self.fs
                .sync_dir(&backups)
                .map_err(|e| StoreError::io("fsync directory", &backups, e))?;
        }
        // Only now, with every file durable in backups/, may the trash's
        // names go. A file in backups/ that is not the recorded one (the
        // place was taken meanwhile) keeps the trashed copy.
        for f in &manifest.files {
            let back = backups.join(&f.backup_name);
            match verify::hash_file(&*self.fs, &back, MAX_GRAPH_LEN) {
                Ok((sha, size)) if sha == f.sha256 && size == f.size => {}
                Ok(_) => {
                    return Err(StoreError::Refused {
                        path: back,
                        reason: format!(
                            "another file took this name while {id} was coming back from the trash; the trashed copy is kept"
                        ),
                    });
                }
                Err(e) => return Err(StoreError::io("read restored backup file", back, e)),
            }
        }
        let mut removed = false;
        for f in &manifest.files {
            let path = dir.join(&f.trash_name);
            match self.fs.remove_file(&path) {
                Ok(()) => removed = true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io("remove from the trash", path, e)),
            }
        }
        if removed {
            self.fs
                .sync_dir(&dir)
                .map_err(|e| StoreError::io("fsync directory", &dir, e))?;
        }
        fs::remove_durable(&*self.fs, &dir.join(id.file_name(RESTORING_SUFFIX)))?;
        Ok(files)
    }
}

/// Whether `a` and `b` are two names of one file (same device and inode),
/// as far as the filesystem can say; `false` when it cannot.
fn same_inode(fs: &dyn fs::Fs, a: &Path, b: &Path) -> bool {
    match (fs.file_stat(a), fs.file_stat(b)) {
        (Ok(x), Ok(y)) => x.ino.is_some() && x.dev.is_some() && (x.ino, x.dev) == (y.ino, y.dev),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trash_ids_round_trip_and_refuse_paths() {
        for s in ["graph_20251003_000432", "graph_20251003_000432_2~3"] {
            let id: TrashId = s.parse().expect("valid");
            assert_eq!(id.to_string(), s);
        }
        for s in [
            "graph_20251003_000432~1",
            "graph_20251003_000432~02",
            "graph_20251003_000432~",
            "../graph_20251003_000432",
            "graph_20251003_000432~2/../x",
        ] {
            assert!(s.parse::<TrashId>().is_err(), "{s:?} must be refused");
        }
    }

    #[test]
    fn trash_names_parse_by_longest_suffix() {
        let p = |n: &str| parse_trash_name(n).map(|(id, k)| (id.to_string(), k));
        assert_eq!(
            p("graph_20251003_000432.trash.json"),
            Some(("graph_20251003_000432".into(), ItemFile::Manifest))
        );
        assert_eq!(
            p("graph_20251003_000432~2.json.meta"),
            Some((
                "graph_20251003_000432~2".into(),
                ItemFile::Backup(".json.meta")
            ))
        );
        assert_eq!(
            p("graph_20251003_000432.json"),
            Some(("graph_20251003_000432".into(), ItemFile::Backup(".json")))
        );
        assert_eq!(p("notes.txt"), None);
    }
}
