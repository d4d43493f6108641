//! Listing backups from their meta files only (never the graphs).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use super::Store;
use super::codec::StoredForm;
use super::error::{Result, StoreError};
use super::fs::{self, EntryKind};
use super::meta::{self, Meta};
use super::names::{BackupFileKind, BackupId};

/// One backup as its meta describes it.
#[derive(Debug, Clone, Serialize)]
pub struct BackupInfo {
    pub id: BackupId,
    /// Local time from the backup's name.
    pub time: chrono::NaiveDateTime,
    pub data_path: PathBuf,
    /// How the data file is stored (see [`super::codec`]).
    pub form: StoredForm,
    /// Bytes of the data file as stored; `None` when the data file is gone.
    pub size: Option<u64>,
    /// Bytes of the graph's plain JSON: the file's size for a plain
    /// backup, what the meta records for a compressed one.
    pub plain_size: Option<u64>,
    /// For a delta: the full backup it is read through.
    pub delta_base: Option<BackupId>,
    pub meta_path: Option<PathBuf>,
    pub node_count: Option<u64>,
    pub edge_count: Option<u64>,
    /// True when the meta carries the application's 0/0 counts.
    pub legacy_counts: bool,
    pub checksum: Option<String>,
    pub saved_by: Option<String>,
    pub source: Option<String>,
    pub meta_timestamp: Option<String>,
    /// The store-wide creation sequence from the meta (graphvault's).
    pub sequence: Option<u64>,
    /// What is odd about this backup, from the listing alone.
    pub notes: Vec<String>,
}

impl BackupInfo {
    /// Whether there is a data file to restore from.
    pub fn has_data(&self) -> bool {
        self.size.is_some()
    }
}

/// Result of [`Store::list_backups`].
#[derive(Debug, Clone, Serialize)]
pub struct BackupListing {
    pub dir: PathBuf,
    /// Newest first, by creation: the sequence number in the metas
    /// graphvault writes, the name (time, then counter) for backups without
    /// one (see [`super::names::creation_order`]).
    pub backups: Vec<BackupInfo>,
    /// Entries of `backups/` that are not graph backups (left alone).
    pub ignored: Vec<String>,
    /// Bytes of every data file as stored.
    pub total_size: u64,
    /// Bytes of every backup's plain JSON (as far as known): what the
    /// backups would take uncompressed.
    pub total_plain_size: u64,
    pub elapsed_ms: f64,
}

#[derive(Default)]
struct Parts {
    data: Option<u64>,
    /// The compressed data file's size, when there is one.
    zstd: Option<u64>,
    /// The delta data file's size, when there is one.
    delta: Option<u64>,
    /// What stands where the data file should be, when it is not a
    /// regular file (never followed, opened or counted as missing).
    data_other: Option<EntryKind>,
    meta: bool,
    alt_meta: bool,
}

/// Below this many backups per core, one thread reads every meta (a thread
/// costs more than a few hundred small reads).
const MIN_PER_THREAD: usize = 2_000;

impl Store {
    /// Every backup, newest first, with what its meta says. Reads only the
    /// directory listing and the small meta files; needs no lock.
    ///
    /// # Errors
    /// `backups/` exists but cannot be listed. A store without `backups/`
    /// has no backups.
    pub fn list_backups(&self) -> Result<BackupListing> {
        let started = Instant::now();
        let dir = self.backups_dir();
        self.check_own_dir(&dir)?;
        // Only data files are stat'ed (their sizes are listed); a meta's
        // open checks that it is a regular file, and its kind here comes
        // from the directory.
        let data_file = |name: &str| {
            BackupId::from_file_name(name).is_some_and(|(_, kind)| {
                matches!(
                    kind,
                    BackupFileKind::Data | BackupFileKind::Zstd | BackupFileKind::Delta
                )
            })
        };
        let entries = match self.fs.read_dir_describing(&dir, &data_file) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(StoreError::io("list backups", &dir, e)),
        };
        let mut parts: BTreeMap<BackupId, Parts> = BTreeMap::new();
        let mut ignored = Vec::new();
        for entry in entries {
            let parsed = BackupId::from_file_name(&entry.name);
            match (parsed, entry.kind) {
                (Some((id, kind)), EntryKind::File) => {
                    let p = parts.entry(id).or_default();
                    match kind {
                        BackupFileKind::Data => p.data = Some(entry.len),
                        BackupFileKind::Zstd => p.zstd = Some(entry.len),
                        BackupFileKind::Delta => p.delta = Some(entry.len),
                        BackupFileKind::Meta => p.meta = true,
                        BackupFileKind::AltMeta => p.alt_meta = true,
                    }
                }
                // Named like a backup's file but not a regular file: the
                // backup is listed with what is there, never as "missing".
                (
                    Some((id, BackupFileKind::Data | BackupFileKind::Zstd | BackupFileKind::Delta)),
                    other,
                ) => {
                    parts.entry(id).or_default().data_other = Some(other);
                }
                // A meta that is not a regular file is read (and refused,
                // with what it is) like any other.
                (Some((id, BackupFileKind::Meta)), _) => parts.entry(id).or_default().meta = true,
                (Some((id, BackupFileKind::AltMeta)), _) => {
                    parts.entry(id).or_default().alt_meta = true;
                }
                _ => {
                    if !entry.name.starts_with(fs::TEMP_PREFIX) {
                        ignored.push(entry.name);
                    }
                }
            }
        }
        ignored.sort();
        // Each backup costs an open, a read and a close of its meta: system
        // calls that run side by side on every core (100,000 backups: 2.3 s
        // of CPU on one).
        let parts: Vec<(BackupId, Parts)> = parts.into_iter().rev().collect();
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(parts.len().div_ceil(MIN_PER_THREAD).max(1));
        let chunk = parts.len().div_ceil(threads).max(1);
        let mut backups = Vec::with_capacity(parts.len());
        std::thread::scope(|s| {
            let workers: Vec<_> = parts
                .chunks(chunk)
                .map(|slice| {
                    s.spawn(move || {
                        slice
                            .iter()
                            .map(|(id, p)| self.describe_backup(id.clone(), p))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for worker in workers {
                backups.extend(
                    worker
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                );
            }
        });
        super::names::creation_order(&mut backups, |b| (&b.id, b.sequence));
        let total_size = backups.iter().filter_map(|b| b.size).sum();
        let total_plain_size = backups.iter().filter_map(|b| b.plain_size).sum();
        let listing = BackupListing {
            dir,
            backups,
            ignored,
            total_size,
            total_plain_size,
            elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
        };
        tracing::info!(
            count = listing.backups.len(),
            ignored = listing.ignored.len(),
            elapsed_ms = listing.elapsed_ms,
            "listed backups"
        );
        Ok(listing)
    }

    fn describe_backup(&self, id: BackupId, p: &Parts) -> BackupInfo {
        let dir = self.backups_dir();
        let mut notes = Vec::new();
        let meta_name = if p.meta {
            if p.alt_meta {
                notes.push(format!(
                    "both {} and {} exist; using the first",
                    id.meta_file_name(),
                    id.alt_meta_file_name()
                ));
            }
            Some(id.meta_file_name())
        } else if p.alt_meta {
            Some(id.alt_meta_file_name())
        } else {
            notes.push("no meta file: nothing to verify the bytes against".to_string());
            None
        };
        // The plain file is the one read when both are there (see
        // `data_path_in`).
        let (form, stored) = match (p.data, p.zstd) {
            (Some(len), Some(_)) => {
                notes.push(format!(
                    "both {} and {} exist (an interrupted compact); the plain one is read, and the next compact finishes the conversion",
                    id.data_file_name(),
                    id.zstd_file_name()
                ));
                (StoredForm::Plain, Some(len))
            }
            (Some(len), None) => (StoredForm::Plain, Some(len)),
            (None, Some(len)) => (StoredForm::Zstd, Some(len)),
            (None, None) => match p.delta {
                Some(len) => (StoredForm::Delta, Some(len)),
                None => (StoredForm::Plain, None),
            },
        };
        if p.delta.is_some() && form != StoredForm::Delta {
            notes.push(format!(
                "{} is also there; the full file is read",
                id.delta_file_name()
            ));
        }
        match (stored, p.data_other) {
            (Some(_), _) => {}
            (None, Some(kind)) => notes.push(format!(
                "{} is {}, not a regular file: it cannot be a backup, and graphvault never opens or follows it",
                id.data_file_name(),
                match kind {
                    EntryKind::Dir => "a directory",
                    EntryKind::Symlink => "a symlink",
                    EntryKind::File | EntryKind::Other => "a FIFO, socket or device node",
                }
            )),
            (None, None) => notes.push("data file is missing (only the meta is left)".to_string()),
        }
        let meta_path = meta_name.map(|n| dir.join(n));
        let mut info = BackupInfo {
            time: id.time(),
            data_path: dir.join(id.stored_file_name(form)),
            form,
            size: stored,
            plain_size: stored.filter(|_| form == StoredForm::Plain),
            delta_base: None,
            meta_path: meta_path.clone(),
            node_count: None,
            edge_count: None,
            legacy_counts: false,
            checksum: None,
            saved_by: None,
            source: None,
            meta_timestamp: None,
            sequence: None,
            notes,
            id,
        };
        if let Some(path) = meta_path {
            match fs::read_file(&*self.fs, &path, meta::MAX_META_LEN) {
                Ok(bytes) => match Meta::from_slice(&bytes) {
                    Ok(m) => {
                        info.legacy_counts = m.counts_are_legacy_zero();
                        if !info.legacy_counts {
                            info.node_count = m.node_count;
                            info.edge_count = m.edge_count;
                        }
                        info.checksum = m.checksum;
                        info.saved_by = m.saved_by;
                        info.source = m.source;
                        info.meta_timestamp = m.timestamp;
                        info.sequence = m.sequence;
                        if info.form != StoredForm::Plain && info.size.is_some() {
                            info.plain_size = m.size;
                        }
                        if info.form == StoredForm::Delta {
                            info.delta_base = m.delta_base.as_deref().and_then(|b| b.parse().ok());
                        }
                    }
                    Err(e) => info.notes.push(format!("meta is not valid JSON: {e}")),
                },
                Err(e) => info.notes.push(format!("cannot read meta: {e}")),
            }
        }
        info
    }
}
