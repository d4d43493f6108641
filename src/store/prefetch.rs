//! Hashes made earlier in the same run, and the save's prefetch of what its
//! retention will read.
//!
//! Retention after a save must confirm at checksum level, in this run, the
//! backups it relies on, and the move to the trash records the hash of each
//! backup it moves. Both used to hash after the save's writes, one after the
//! other. While the save writes its two files (most of that time the CPU
//! waits for the disk), a third thread now hashes the backups retention will
//! read, predicted from the same metas and memo retention judges by. A hash
//! is recalled only for the same path whose stat (device, inode, size,
//! modification and status-change times) is the one it had when it was
//! read: any write to the file since, through any name, changes its ctime.
//! Filesystems that cannot say all of that recall nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::fs::FileStat;
use super::names::BackupId;
use super::retention::{self, Action, Candidate, Health};
use super::{MAX_GRAPH_LEN, Store};

/// At most this many files are hashed ahead of a retention: a prediction
/// that many more will be read is left to the retention itself.
const MAX_PREFETCH: usize = 8;

/// Hashes of this run by path, with the stat each file had when read.
/// Held only while a save runs (`None` otherwise): a long-lived process
/// (the UI) must read a file again when asked to verify it later, since
/// damage to the disk's bytes changes no stat.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunHashes(Arc<Mutex<Option<HashMap<PathBuf, Remembered>>>>);

/// Holds the run's hashes from [`Store::remember_hashes`] until dropped.
pub(crate) struct Remembering(RunHashes);

impl Drop for Remembering {
    fn drop(&mut self) {
        *self.0.0.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

#[derive(Debug, Clone)]
struct Remembered {
    stat: FileStat,
    sha256: String,
    len: u64,
}

/// A stat that identifies one version of one file.
fn identifies(stat: &FileStat) -> bool {
    stat.ino.is_some() && stat.dev.is_some() && stat.mtime_ns.is_some() && stat.ctime_ns.is_some()
}

impl Store {
    /// Hashes made from now until the guard is dropped are remembered and
    /// recalled (a save holds it for its whole run, retention included);
    /// then they are forgotten.
    pub(crate) fn remember_hashes(&self) -> Remembering {
        *self
            .run_hashes
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(HashMap::new());
        Remembering(self.run_hashes.clone())
    }

    /// The SHA-256 and length this run computed for `path`, if its file is
    /// still the one that was read.
    pub(crate) fn recall_hash(&self, path: &Path) -> Option<(String, u64)> {
        let hashes = self
            .run_hashes
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let known = hashes.as_ref()?.get(path)?;
        let now = self.fs.file_stat(path).ok()?;
        (identifies(&now) && now == known.stat).then(|| (known.sha256.clone(), known.len))
    }

    /// Hashes the plain file at `path` and, while a save runs, remembers
    /// the result if its stat was the same before and after the read.
    pub(crate) fn hash_remembering(&self, path: &Path) -> std::io::Result<(String, u64)> {
        let before = self.fs.file_stat(path)?;
        let (sha256, len) = super::verify::hash_file(&*self.fs, path, MAX_GRAPH_LEN)?;
        self.remember_hash(path, before, &sha256, len);
        Ok((sha256, len))
    }

    /// While a save runs, remembers that the file at `path`, whose stat
    /// was `before` when its read began, hashed to `sha256` (`len` bytes),
    /// if its stat is still the same now that the read is done.
    pub(crate) fn remember_hash(&self, path: &Path, before: FileStat, sha256: &str, len: u64) {
        if identifies(&before)
            && self.fs.file_stat(path).is_ok_and(|after| after == before)
            && let Some(hashes) = self
                .run_hashes
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_mut()
        {
            hashes.insert(
                path.to_path_buf(),
                Remembered {
                    stat: before,
                    sha256: sha256.to_string(),
                    len,
                },
            );
        }
    }

    /// Hashes, ahead of the retention that follows a save of a backup named
    /// for `at`, the plain backups it will read: those the memo cannot
    /// judge, the newest valid ones its floor relies on, and those it will
    /// move to the trash. A wrong prediction costs time, never a verdict:
    /// the retention hashes whatever it does not recall. Stops early when
    /// `stop` is set.
    pub(crate) fn prefetch_for_retention(
        &self,
        at: chrono::DateTime<chrono::Local>,
        stop: &AtomicBool,
    ) {
        for path in self.files_retention_will_read(at.naive_local()) {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            if self.recall_hash(&path).is_some() {
                continue;
            }
            // An error is the retention's to report, when it reads the file.
            let _ = self.hash_remembering(&path);
        }
    }

    /// The prediction of [`Store::prefetch_for_retention`], most needed first.
    fn files_retention_will_read(&self, now: chrono::NaiveDateTime) -> Vec<PathBuf> {
        let policy = &self.config.retention;
        let Ok(listing) = self.list_backups() else {
            return Vec::new();
        };
        let plain: Vec<Option<&Path>> = listing
            .backups
            .iter()
            .map(|b| {
                (super::codec::StoredForm::of_path(&b.data_path) == super::codec::StoredForm::Plain)
                    .then_some(b.data_path.as_path())
            })
            .collect();
        let judged: Vec<Option<Health>> = listing
            .backups
            .iter()
            .map(|b| {
                b.size
                    .and_then(|size| self.judge_from_memo(&b.id, size))
                    .map(|r| Health::from(&r))
            })
            .collect();
        let mut wanted: Vec<&Path> = Vec::new();
        // What the memo cannot judge is read before anything is planned.
        for (path, health) in plain.iter().zip(&judged) {
            if let (Some(path), None) = (path, health) {
                wanted.push(path);
            }
        }
        let mut candidates = vec![Candidate {
            id: BackupId::new(now, 0),
            health: Health::Valid,
            sequence: None,
            just_made: true,
        }];
        candidates.extend(listing.backups.iter().zip(&judged).map(|(b, h)| Candidate {
            id: b.id.clone(),
            health: h.clone().unwrap_or(Health::Valid),
            sequence: b.sequence,
            just_made: false,
        }));
        let Ok(plan) = retention::plan(policy, &candidates, now) else {
            return Vec::new();
        };
        if plan.removed > 0 {
            // The floor: the newest valid backups, the new one among them.
            let relied = retention::relied_on(policy, &candidates, now)
                .filter(|&i| i > 0)
                .filter_map(|i| plain[i - 1]);
            wanted.extend(relied);
            let position: HashMap<&BackupId, usize> = listing
                .backups
                .iter()
                .enumerate()
                .map(|(i, b)| (&b.id, i))
                .collect();
            let removed = plan
                .decisions
                .iter()
                .filter(|d| d.action == Action::Remove)
                .filter_map(|d| position.get(&d.id).and_then(|&i| plain[i]));
            wanted.extend(removed);
        }
        let mut seen = std::collections::HashSet::new();
        wanted
            .into_iter()
            .filter(|p| seen.insert(*p))
            .take(MAX_PREFETCH)
            .map(Path::to_path_buf)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::io::Write as _;

    use super::*;

    fn store_with_file(bytes: &[u8]) -> (tempfile::TempDir, Store, PathBuf) {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(dir.path()).expect("open");
        let path = dir.path().join("graph_20261201_120000.json");
        fs::write(&path, bytes).expect("write");
        (dir, store, path)
    }

    #[test]
    fn a_hash_is_recalled_while_its_file_is_unchanged_and_a_save_runs() {
        let (_dir, store, path) = store_with_file(b"{\"nodes\": {}}");
        // Outside a save nothing is remembered.
        store.hash_remembering(&path).expect("hash");
        assert_eq!(store.recall_hash(&path), None);
        let saving = store.remember_hashes();
        assert_eq!(store.recall_hash(&path), None, "nothing hashed yet");
        let hashed = store.hash_remembering(&path).expect("hash");
        assert_eq!(hashed.1, 13);
        assert_eq!(store.recall_hash(&path), Some(hashed.clone()));
        // A clone of the store (the same run) recalls it too.
        assert_eq!(store.clone().recall_hash(&path), Some(hashed));
        // After the save, a verify reads the file again.
        drop(saving);
        assert_eq!(store.recall_hash(&path), None);
    }

    #[test]
    fn a_file_written_since_its_hash_is_not_recalled() {
        let (_dir, store, path) = store_with_file(b"{\"nodes\": {}}");
        let _saving = store.remember_hashes();
        store.hash_remembering(&path).expect("hash");
        let modified = fs::metadata(&path)
            .expect("stat")
            .modified()
            .expect("mtime");
        // One byte changed in place, same length, and the mtime put back:
        // only the status-change time tells.
        let mut f = fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open");
        f.write_all(b"[").expect("write");
        f.set_modified(modified).expect("set mtime");
        drop(f);
        assert_eq!(store.recall_hash(&path), None);
    }

    #[test]
    fn another_file_under_the_same_name_is_not_recalled() {
        let (dir, store, path) = store_with_file(b"{\"nodes\": {}}");
        let _saving = store.remember_hashes();
        store.hash_remembering(&path).expect("hash");
        let other = dir.path().join("other");
        fs::write(&other, b"{\"nodes\": {}}").expect("write");
        fs::rename(&other, &path).expect("replace");
        assert_eq!(store.recall_hash(&path), None);
        fs::remove_file(&path).expect("remove");
        assert_eq!(store.recall_hash(&path), None, "a missing file");
    }
}
