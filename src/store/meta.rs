//! The `.meta` sidecar: the application's fields plus graphvault's own.
//!
//! The application only ever reads `checksum`, so extra fields are harmless
//! to it. Counts written by its last versions are always 0: a zero pair in a
//! meta not written by graphvault is "legacy", never a mismatch.

use serde::{Deserialize, Serialize};

/// `saved_by` of metas graphvault writes.
pub const SAVED_BY: &str = concat!("graphvault ", env!("CARGO_PKG_VERSION"));

/// Largest meta file read; real ones are ~250 bytes.
pub const MAX_META_LEN: u64 = 1 << 20;

/// Parsed `.meta` file. Unknown fields are kept and written back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved_by: Option<String>,
    /// Byte size of the data file (graphvault).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// The same instant as `timestamp`, in UTC, so ordering survives DST
    /// changes (graphvault).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_utc: Option<String>,
    /// What wrote the file: `save`, `snapshot`, `restore of <id>` (graphvault).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Store-wide creation order (graphvault): one more than any sequence
    /// in the store when the file was written. Orders backups whatever the
    /// clock said; backups without it are ordered by their names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    /// HMAC-SHA256 under the store's key, when one is configured (see
    /// [`super::auth`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hmac: Option<String>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Meta {
    /// A meta for `bytes` just written, with true counts.
    pub fn for_data(
        checksum: String,
        size: u64,
        node_count: u64,
        edge_count: u64,
        source: &str,
        now: chrono::DateTime<chrono::Local>,
    ) -> Meta {
        Meta {
            timestamp: Some(
                now.naive_local()
                    .format("%Y-%m-%dT%H:%M:%S%.6f")
                    .to_string(),
            ),
            checksum: Some(checksum),
            node_count: Some(node_count),
            edge_count: Some(edge_count),
            graph_version: Some("1.0".to_string()),
            saved_by: Some(SAVED_BY.to_string()),
            size: Some(size),
            timestamp_utc: Some(
                now.with_timezone(&chrono::Utc)
                    .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                    .to_string(),
            ),
            source: Some(source.to_string()),
            sequence: None,
            hmac: None,
            extra: serde_json::Map::new(),
        }
    }

    /// Parses a meta file's bytes.
    ///
    /// # Errors
    /// The JSON error (with line and column) when the bytes are not a JSON
    /// object of the expected field types.
    pub fn from_slice(bytes: &[u8]) -> Result<Meta, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// Pretty JSON with 2-space indent, like the application writes.
    pub fn to_vec(&self) -> Vec<u8> {
        // Serializing a struct of strings, numbers and a JSON map into memory
        // cannot fail.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// True when the counts cannot be trusted: the application's last
    /// versions wrote 0 and 0 whatever the graph held.
    pub fn counts_are_legacy_zero(&self) -> bool {
        self.node_count.unwrap_or(0) == 0
            && self.edge_count.unwrap_or(0) == 0
            && !self.written_by_graphvault()
    }

    /// Whether graphvault wrote this meta.
    pub fn written_by_graphvault(&self) -> bool {
        self.saved_by
            .as_deref()
            .is_some_and(|s| s.starts_with("graphvault"))
    }

    /// The checksum when it has the shape of a SHA-256 hex digest.
    pub fn sha256(&self) -> Option<&str> {
        self.checksum
            .as_deref()
            .filter(|c| c.len() == 64 && c.bytes().all(|b| b.is_ascii_hexdigit()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_applications_meta_and_keeps_unknown_fields() {
        let text = r#"{
  "timestamp": "2025-10-03T00:04:32.883824",
  "checksum": "744d27a94a7043988726401563f7e197bb477677494088eaf02174722093bffe",
  "node_count": 0,
  "edge_count": 0,
  "graph_version": "1.0",
  "saved_by": "DawsOS PersistenceManager",
  "future_field": [1, 2]
}"#;
        let meta = Meta::from_slice(text.as_bytes()).expect("valid meta");
        assert!(meta.counts_are_legacy_zero());
        assert!(meta.sha256().is_some());
        let again = Meta::from_slice(&meta.to_vec()).expect("reparse");
        assert_eq!(again, meta);
        assert!(again.extra.contains_key("future_field"));
    }

    #[test]
    fn our_zero_counts_are_not_legacy() {
        let meta = Meta::for_data("00".repeat(32), 2, 0, 0, "save", chrono::Local::now());
        assert!(!meta.counts_are_legacy_zero());
    }

    #[test]
    fn malformed_checksums_are_not_digests() {
        let mut meta = Meta::default();
        for bad in ["", "xyz", &"g".repeat(64), &"a".repeat(63)] {
            meta.checksum = Some(bad.to_string());
            assert!(meta.sha256().is_none(), "{bad:?}");
        }
    }
}
