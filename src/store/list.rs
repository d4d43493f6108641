//! Listing backups from their meta files only (never the graphs).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use super::Store;
use super::codec::StoredForm;
use super::error::{Result, StoreError};
use super::fs::{self, DirFiles, EntryKind};
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
    /// The data file, when the directory says it is a regular file (its
    /// size is stat'ed by the thread that reads the meta).
    data: bool,
    /// The compressed data file, likewise.
    zstd: bool,
    /// The delta data file, likewise.
    delta: bool,
    /// What stands where the data file should be, when it is not a
    /// regular file (never followed, opened or counted as missing).
    data_other: Option<EntryKind>,
    meta: bool,
    alt_meta: bool,
}

/// The stored sizes of a backup's data files, from one stat each.
#[derive(Default)]
struct Sizes {
    data: Option<u64>,
    zstd: Option<u64>,
    delta: Option<u64>,
    /// A file the directory called regular that a stat found otherwise
    /// (replaced in between).
    other: Option<EntryKind>,
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
        // Everything is read through one handle on `backups/`, opened without
        // following a symlink: a directory swapped for a symlink after the
        // check above is refused as the check refuses it, never followed.
        let files = match self.fs.open_dir(&dir) {
            Ok(files) => files,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(self.no_backups(dir, started));
            }
            Err(e) => {
                self.check_own_dir(&dir)?;
                return Err(StoreError::io("list backups", &dir, e));
            }
        };
        // Nothing is stat'ed here: the directory's own entry types say what
        // each name is, and the threads below stat the data files (their
        // sizes are listed) beside reading the metas (whose open checks that
        // they are regular files).
        let entries = match &files {
            Some(files) => files.entries(),
            None => self.fs.read_dir_describing(&dir, &|_| false),
        };
        let entries = match entries {
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
                        BackupFileKind::Data => p.data = true,
                        BackupFileKind::Zstd => p.zstd = true,
                        BackupFileKind::Delta => p.delta = true,
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
        // Each backup costs a stat of its data file and an open, a read and
        // a close of its meta: system calls that run side by side on every
        // core (100,000 backups: 2.3 s of CPU on one).
        let parts: Vec<(BackupId, Parts)> = parts.into_iter().rev().collect();
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(parts.len().div_ceil(MIN_PER_THREAD).max(1));
        let chunk = parts.len().div_ceil(threads).max(1);
        let mut backups = Vec::with_capacity(parts.len());
        let files = files.as_deref();
        std::thread::scope(|s| -> Result<()> {
            let workers: Vec<_> = parts
                .chunks(chunk)
                .map(|slice| {
                    s.spawn(move || {
                        // One buffer for every meta this thread reads.
                        let mut buf = Vec::with_capacity(1024);
                        slice
                            .iter()
                            .map(|(id, p)| self.describe_backup(id.clone(), p, files, &mut buf))
                            .collect::<Result<Vec<_>>>()
                    })
                })
                .collect();
            for worker in workers {
                backups.extend(
                    worker
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?,
                );
            }
            Ok(())
        })?;
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

    /// The listing of a store without `backups/`.
    fn no_backups(&self, dir: PathBuf, started: Instant) -> BackupListing {
        BackupListing {
            dir,
            backups: Vec::new(),
            ignored: Vec::new(),
            total_size: 0,
            total_plain_size: 0,
            elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
        }
    }

    /// Stats the data files the directory listed as regular files.
    fn data_sizes(&self, id: &BackupId, p: &Parts, files: Option<&dyn DirFiles>) -> Result<Sizes> {
        let mut sizes = Sizes::default();
        for (form, seen, slot) in [
            (StoredForm::Plain, p.data, &mut sizes.data),
            (StoredForm::Zstd, p.zstd, &mut sizes.zstd),
            (StoredForm::Delta, p.delta, &mut sizes.delta),
        ] {
            if !seen {
                continue;
            }
            let name = id.stored_file_name(form);
            let entry = match files {
                Some(files) => files.entry(&name),
                None => self.fs.entry(&self.backups_dir().join(&name)),
            };
            match entry {
                Ok(e) if e.kind == EntryKind::File => *slot = Some(e.len),
                Ok(e) => sizes.other = Some(e.kind),
                // Removed between the listing and the stat: not there.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(StoreError::io(
                        "list backups",
                        self.backups_dir().join(&name),
                        e,
                    ));
                }
            }
        }
        Ok(sizes)
    }

    fn describe_backup(
        &self,
        id: BackupId,
        p: &Parts,
        files: Option<&dyn DirFiles>,
        buf: &mut Vec<u8>,
    ) -> Result<BackupInfo> {
        let dir = self.backups_dir();
        let sizes = self.data_sizes(&id, p, files)?;
        let data_other = p.data_other.or(sizes.other);
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
        let (form, stored) = match (sizes.data, sizes.zstd) {
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
            (None, None) => match sizes.delta {
                Some(len) => (StoredForm::Delta, Some(len)),
                None => (StoredForm::Plain, None),
            },
        };
        if sizes.delta.is_some() && form != StoredForm::Delta {
            notes.push(format!(
                "{} is also there; the full file is read",
                id.delta_file_name()
            ));
        }
        match (stored, data_other) {
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
        let meta_path = meta_name.as_ref().map(|n| dir.join(n));
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
        if let (Some(path), Some(name)) = (meta_path, meta_name) {
            let read = match files {
                Some(files) => files.read_into(&name, meta::MAX_META_LEN, buf),
                None => fs::read_file_into(&*self.fs, &path, meta::MAX_META_LEN, buf),
            };
            match read {
                Ok(()) => match Meta::from_slice(buf) {
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
        Ok(info)
    }
}
