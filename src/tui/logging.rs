//! The UI logs to a file, never to the terminal it draws on:
//! `<store>/.graphvault/ui.log` when the directory holds a store (a
//! directory without one is never written to) and `.graphvault` is a plain
//! directory (a symlinked one is refused, as the store refuses it), else
//! `graphvault-ui-<pid>.log` in the temp directory. Log files are opened
//! without following symlinks and must be regular files with one link: a
//! planted symlink, hard link or device must never turn log lines into
//! writes to a graph or to a file outside the store.
//! `GRAPHVAULT_LOG` sets the filter (default `info`).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

/// A log larger than this is started afresh.
const MAX_LOG_LEN: u64 = 8 << 20;

/// Installs the file logger; returns the file, or `None` when no file could
/// be opened (then nothing is logged rather than drawing over the UI).
pub fn init(store: &Path) -> Option<PathBuf> {
    let fallback = std::env::temp_dir().join(format!("graphvault-ui-{}.log", std::process::id()));
    let (path, file) = store_log_path(store)
        .and_then(|p| open_log(&p).map(|f| (p, f)))
        .or_else(|| open_log(&fallback).map(|f| (fallback, f)))?;
    let filter =
        EnvFilter::try_from_env("GRAPHVAULT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Mutex::new(file))
        .with_ansi(false)
        .with_target(false)
        .finish();
    // A subscriber set earlier (`graphvault -v demo` logs to stderr) stays:
    // there is only one global slot.
    tracing::subscriber::set_global_default(subscriber).ok()?;
    Some(path)
}

/// `<store>/.graphvault/ui.log`, when the directory holds a store.
fn store_log_path(store: &Path) -> Option<PathBuf> {
    if !crate::store::holds_store_in(&crate::store::fs::RealFs, store) {
        return None;
    }
    let dir = store.join(crate::store::STATE_DIR);
    match std::fs::symlink_metadata(&dir) {
        Ok(m) if m.file_type().is_dir() => {}
        // A symlink or anything else: not the store's own directory.
        Ok(_) => return None,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::create_dir(&dir).ok()?,
        Err(_) => return None,
    }
    Some(dir.join("ui.log"))
}

/// Opens for appending, starting afresh when the log has grown too big.
/// Refuses a symlink (`O_NOFOLLOW`) and anything but a regular file.
fn open_log(path: &Path) -> Option<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let meta = std::fs::symlink_metadata(path).ok();
    if meta
        .as_ref()
        .is_some_and(|m| crate::store::fs::own_in_place_file(m).is_err())
    {
        return None;
    }
    let too_big = meta.is_some_and(|m| m.len() > MAX_LOG_LEN);
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .ok()?;
    let opened = file.metadata().ok()?;
    crate::store::fs::own_in_place_file(&opened).ok()?;
    if too_big {
        // Truncate through the handle just checked, never by path.
        file.set_len(0).ok()?;
    }
    Some(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hard_linked_or_symlinked_log_and_a_symlinked_state_dir_are_refused() {
        // Regression (issue 8): the UI log truncated a hard-linked outside
        // file, and the UI followed a symlinked .graphvault.
        let dir = tempfile::tempdir().expect("tempdir");
        let outside = dir.path().join("outside.txt");
        std::fs::write(&outside, "outside").expect("outside");
        let linked = dir.path().join("linked.log");
        std::fs::hard_link(&outside, &linked).expect("hard link");
        assert!(open_log(&linked).is_none(), "a hard-linked log was opened");
        let symlinked = dir.path().join("symlinked.log");
        std::os::unix::fs::symlink(&outside, &symlinked).expect("symlink");
        assert!(open_log(&symlinked).is_none(), "a symlinked log was opened");
        assert_eq!(std::fs::read_to_string(&outside).expect("read"), "outside");

        let store = dir.path().join("store");
        std::fs::create_dir_all(store.join("backups")).expect("store");
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir_all(&elsewhere).expect("elsewhere");
        std::os::unix::fs::symlink(&elsewhere, store.join(crate::store::STATE_DIR))
            .expect("symlink");
        assert_eq!(store_log_path(&store), None);
        // A directory without a store gets no log, and nothing in it.
        let empty = dir.path().join("empty");
        std::fs::create_dir_all(&empty).expect("empty");
        assert_eq!(store_log_path(&empty), None);
        assert_eq!(std::fs::read_dir(&empty).expect("list").count(), 0);
    }
}
