//! The memo of verified content: `.graphvault/memo/<sha256>.json`.
//!
//! Parsing a 77 MB graph costs several times what hashing it costs, and the
//! backups of a store are the same few contents verified again and again.
//! So when a file's bytes pass the parse and consistency levels, what those
//! levels proved (size, counts, type statistics, graph version, the
//! warnings, when, by which graphvault) is recorded under the bytes'
//! SHA-256. A later file whose bytes hash to a recorded checksum has the
//! same bytes, so it passed the same levels: the ladder takes the parse
//! level from here instead of parsing again, and still compares the
//! counts with the file's own meta.
//!
//! This module owns the memo's files and the rules for trusting one:
//!
//! - It is a cache, never a source of truth. A missing, truncated, garbled
//!   or foreign entry is ignored (the file is parsed, and the entry
//!   rewritten); nothing here is ever an error for the caller.
//! - One file per checksum, named by it and written through
//!   [`fs::write_atomic`]: a crash leaves the old entry or the new one,
//!   never a torn one that reads as valid. Readers that hold no lock may
//!   add entries: two writers of the same checksum write the same facts,
//!   and each publishes its own temp file with one rename.
//! - An entry is trusted only for the checksum it is named by *and* that
//!   it names inside, and only for a file of the size it records.
//! - With a key configured, every entry carries an HMAC under that key and
//!   one without a valid HMAC is refused: whoever can write the memo cannot
//!   forge validity without the key. Without a key the memo is as strong
//!   as the metas beside it (anyone who can write those can write this).
//! - Bounded: [`Store::prune_memo`] drops entries for checksums that no
//!   meta of the store names any more (run by retention, under the lock).

use std::collections::HashSet;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Store;
use super::fs::{self, EntryKind, Publish};
use super::meta;

/// The entry format this build writes and reads.
const FORMAT: u32 = 1;

/// Largest entry read (type statistics of a big graph are a few KB).
const MAX_ENTRY_LEN: u64 = 4 << 20;

/// What the parse and consistency levels proved about one content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoEntry {
    pub format: u32,
    /// SHA-256 of the bytes, lowercase hex (also the file's name).
    pub sha256: String,
    /// Byte length of the content.
    pub size: u64,
    pub graph_version: u32,
    pub node_count: u64,
    pub edge_count: u64,
    pub node_types: Vec<(String, usize)>,
    pub edge_types: Vec<(String, usize)>,
    /// The consistency level's warnings (states the application produces).
    pub warnings: Vec<String>,
    /// When the content was parsed (or serialized by a save), RFC 3339.
    pub verified_at: String,
    /// The graphvault that proved it (`graphvault 0.1.0`).
    pub verified_by: String,
    /// HMAC-SHA256 of the other fields under the store's key, when one is
    /// configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hmac: Option<String>,
}

impl MemoEntry {
    /// An entry for content just proven consistent.
    pub(crate) fn new(
        sha256: &str,
        size: u64,
        graph: &crate::graph::KnowledgeGraph,
        warnings: Vec<String>,
    ) -> MemoEntry {
        let stats = graph.stats();
        MemoEntry {
            format: FORMAT,
            sha256: sha256.to_ascii_lowercase(),
            size,
            graph_version: graph.version(),
            node_count: graph.node_count() as u64,
            edge_count: graph.edge_count() as u64,
            node_types: stats.node_types,
            edge_types: stats.edge_types,
            warnings,
            verified_at: super::now().to_rfc3339(),
            verified_by: meta::SAVED_BY.to_string(),
            hmac: None,
        }
    }

    /// The day the content was proven, for reports (`2026-11-30`).
    pub fn verified_day(&self) -> &str {
        self.verified_at.get(..10).unwrap_or(&self.verified_at)
    }

    /// What the HMAC covers: every field but the HMAC, in a fixed form.
    fn message(&self) -> Vec<u8> {
        let mut unsigned = self.clone();
        unsigned.hmac = None;
        let mut out = b"graphvault-memo-v1\n".to_vec();
        // A struct of strings, numbers and vectors serializes infallibly.
        out.extend(serde_json::to_vec(&unsigned).unwrap_or_default());
        out
    }
}

/// Whether `text` is a lowercase SHA-256 hex digest (the only names the
/// memo reads or writes: nothing else can become a path).
fn is_digest(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl Store {
    fn memo_dir(&self) -> PathBuf {
        self.state_dir().join("memo")
    }

    /// The memo directory when it can be used: `.graphvault/` and `memo/`
    /// are plain directories (or `memo/` is absent). Through a symlink the
    /// memo would be someone else's files.
    fn usable_memo_dir(&self) -> Option<PathBuf> {
        let dir = self.memo_dir();
        let state_ok =
            matches!(self.fs.entry(&self.state_dir()), Ok(e) if e.kind == EntryKind::Dir);
        (state_ok && self.check_own_dir(&dir).is_ok()).then_some(dir)
    }

    /// The entry for content with this checksum and size, when the memo has
    /// one it can trust. Never fails: anything unusable is `None`.
    pub(crate) fn memo_lookup(&self, sha256: &str, size: u64) -> Option<MemoEntry> {
        let sha = sha256.to_ascii_lowercase();
        if !is_digest(&sha) || self.deep {
            return None;
        }
        let path = self.usable_memo_dir()?.join(format!("{sha}.json"));
        let bytes = match fs::read_file(&*self.fs, &path, MAX_ENTRY_LEN) {
            Ok(b) => b,
            Err(e) => {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::debug!(path = %path.display(), error = %e, "memo entry unreadable; ignored");
                }
                return None;
            }
        };
        let entry: MemoEntry = match serde_json::from_slice(&bytes) {
            Ok(e) => e,
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "memo entry garbled; ignored");
                return None;
            }
        };
        let trusted = self.memo_trusts(&entry, &sha, size);
        #[cfg(feature = "negative-controls")]
        let trusted = trusted || super::negative_controls::trust_any_memo_entry();
        if trusted {
            Some(entry)
        } else {
            tracing::debug!(path = %path.display(), "memo entry refused (other content, other format, or not authenticated)");
            None
        }
    }

    /// The rules for trusting an entry (see the module docs).
    fn memo_trusts(&self, entry: &MemoEntry, sha: &str, size: u64) -> bool {
        if entry.format != FORMAT || entry.sha256 != sha || entry.size != size {
            return false;
        }
        // Earlier builds took JSON without a `nodes` object (`{}`, an error report) for a
        // graph of no nodes, and may have recorded it. Content of no nodes is parsed
        // again instead: for a real empty graph that costs little.
        if entry.node_count == 0 {
            return false;
        }
        match &self.key {
            None => true,
            Some(key) => entry
                .hmac
                .as_deref()
                .is_some_and(|h| key.check_message(&entry.message(), h)),
        }
    }

    /// Records an entry. Best effort: a memo that cannot be written costs a
    /// parse later, nothing else, so failures are logged and dropped. Only
    /// into a store that has its `.graphvault/` already (a read-only look
    /// at the application's directory creates nothing).
    pub(crate) fn memo_record(&self, mut entry: MemoEntry) {
        // An entry of no nodes is never trusted (see `memo_trusts`): writing one would
        // cost an fsync on every verification of an empty graph for nothing.
        if !is_digest(&entry.sha256) || entry.node_count == 0 {
            return;
        }
        let Some(dir) = self.usable_memo_dir() else {
            return;
        };
        entry.hmac = self.key.as_ref().map(|k| k.sign_message(&entry.message()));
        let path = dir.join(format!("{}.json", entry.sha256));
        // Already there with the same proof: nothing to write (saves and
        // verifications of unchanged content cost no fsync). An entry that
        // says other counts than the parse found is replaced.
        if let Ok(bytes) = fs::read_file(&*self.fs, &path, MAX_ENTRY_LEN)
            && let Ok(old) = serde_json::from_slice::<MemoEntry>(&bytes)
            && self.memo_trusts(&old, &entry.sha256, entry.size)
            && (old.node_count, old.edge_count) == (entry.node_count, entry.edge_count)
        {
            return;
        }
        if self.fs.entry(&dir).is_err() {
            if let Err(e) = self.fs.create_dir_all(&dir) {
                tracing::debug!(path = %dir.display(), error = %e, "cannot create the memo directory; not recorded");
                return;
            }
            let _ = self.fs.sync_dir(&self.state_dir());
        }
        let bytes = serde_json::to_vec_pretty(&entry).unwrap_or_default();
        if let Err(e) = fs::write_atomic(&*self.fs, &path, &bytes, Publish::Replace) {
            tracing::debug!(error = %e, "memo entry not recorded");
        }
    }

    /// Drops the entries for checksums not in `keep` (the checksums the
    /// store's metas name). For a caller that holds the write lock; best
    /// effort like every memo write.
    pub(crate) fn prune_memo(&self, keep: &HashSet<String>) {
        let Some(dir) = self.usable_memo_dir() else {
            return;
        };
        let Ok(entries) = self.fs.read_dir(&dir) else {
            return;
        };
        for entry in entries {
            let Some(sha) = entry.name.strip_suffix(".json") else {
                continue;
            };
            // Temp files are swept with the others; foreign names are left.
            if entry.kind != EntryKind::File || !is_digest(sha) || keep.contains(sha) {
                continue;
            }
            let path = dir.join(&entry.name);
            match self.fs.remove_file(&path) {
                Ok(()) => {
                    tracing::debug!(path = %path.display(), "memo entry dropped: no file has this content any more")
                }
                Err(e) => {
                    tracing::debug!(path = %path.display(), error = %e, "memo entry not dropped")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_the_only_names() {
        assert!(is_digest(&"ab".repeat(32)));
        assert!(!is_digest(&"AB".repeat(32)));
        assert!(!is_digest("../../etc/passwd"));
        assert!(!is_digest(&"ab".repeat(31)));
    }

    #[test]
    fn the_hmac_message_covers_every_field_but_the_hmac() {
        let graph = crate::graph::KnowledgeGraph::new(2);
        let a = MemoEntry::new(&"ab".repeat(32), 10, &graph, Vec::new());
        let mut b = a.clone();
        b.hmac = Some("x".to_string());
        assert_eq!(a.message(), b.message());
        b.node_count += 1;
        assert_ne!(a.message(), b.message());
    }
}
