//! The UI logs to a file, never to the terminal it draws on:
//! `<store>/.graphvault/ui.log` when the store directory exists and is
//! writable, else `graphvault-ui-<pid>.log` in the temp directory. Log
//! files are opened without following symlinks and must be regular files:
//! a planted link must never turn log lines into writes to a graph.
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

/// `<store>/.graphvault/ui.log`, when the store directory exists.
fn store_log_path(store: &Path) -> Option<PathBuf> {
    if !store.is_dir() {
        return None;
    }
    let dir = store.join(crate::store::STATE_DIR);
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir.join("ui.log"))
}

/// Opens for appending, starting afresh when the log has grown too big.
/// Refuses a symlink (`O_NOFOLLOW`) and anything but a regular file.
fn open_log(path: &Path) -> Option<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let meta = std::fs::symlink_metadata(path).ok();
    if meta.as_ref().is_some_and(|m| !m.file_type().is_file()) {
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
    if !opened.file_type().is_file() {
        return None;
    }
    if too_big {
        // Truncate through the handle just checked, never by path.
        file.set_len(0).ok()?;
    }
    Some(file)
}
