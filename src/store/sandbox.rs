//! Sandbox copies: a new store holding a copy of another store's primary,
//! its meta and every backup file, marked as a sandbox, so that damage can
//! be simulated without touching the user's files.

use std::path::{Path, PathBuf};

use super::error::{Result, StoreError};
use super::fs::{self, EntryKind, Publish};
use super::names::BackupId;
use super::{BACKUPS_DIR, MAX_GRAPH_LEN, PRIMARY_FILE, PRIMARY_META_FILE, Store};

/// What [`Store::copy_to_sandbox`] made.
#[derive(Debug, Clone)]
pub struct SandboxCopy {
    /// The new store, over the same filesystem and with the same key.
    pub store: Store,
    pub files_copied: usize,
}

impl Store {
    /// Copies this store's primary, its meta and every backup file into a
    /// new directory `root` (which must not exist: a directory or symlink
    /// planted at that name makes the copy fail rather than receive it),
    /// and marks the copy as a sandbox. Anything that is not a regular
    /// file, and sub-directories, are left out. This store is only read.
    ///
    /// # Errors
    /// `root` exists or cannot be created, or a file cannot be read or
    /// written; what was copied so far stays in `root`.
    pub fn copy_to_sandbox(&self, root: &Path) -> Result<SandboxCopy> {
        let backups = root.join(BACKUPS_DIR);
        for dir in [root, backups.as_path()] {
            self.fs
                .create_dir(dir)
                .map_err(|e| StoreError::io("create sandbox directory", dir, e))?;
        }
        let mut files_copied = 0;
        let mut copy = |from: PathBuf, to: PathBuf| -> Result<()> {
            match self.fs.entry(&from) {
                Ok(e) if e.kind == EntryKind::File => {}
                _ => return Ok(()),
            }
            let bytes = fs::read_file(&*self.fs, &from, MAX_GRAPH_LEN)
                .map_err(|e| StoreError::io("read for the sandbox copy", &from, e))?;
            fs::write_atomic(&*self.fs, &to, &bytes, Publish::NoReplace)?;
            files_copied += 1;
            Ok(())
        };
        copy(self.primary_path(), root.join(PRIMARY_FILE))?;
        copy(self.primary_meta_path(), root.join(PRIMARY_META_FILE))?;
        let dir = self.backups_dir();
        match self.fs.read_dir(&dir) {
            Ok(entries) => {
                for entry in entries {
                    if BackupId::from_file_name(&entry.name).is_some() {
                        copy(dir.join(&entry.name), backups.join(&entry.name))?;
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io("list", &dir, e)),
        }
        let mut store = Store::open_with(root, self.fs.clone())?;
        store.key = self.key.clone();
        store.mark_sandbox(&format!(
            "copy of {} made to simulate corruption",
            self.root.display()
        ))?;
        tracing::info!(from = %self.root.display(), to = %root.display(), files = files_copied, "made a sandbox copy");
        Ok(SandboxCopy {
            store,
            files_copied,
        })
    }
}
