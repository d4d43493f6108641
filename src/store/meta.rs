//! The `.meta` sidecar: the application's fields plus graphvault's own.
//!
//! The application only ever reads `checksum`, so extra fields are harmless
//! to it. Counts written by its last versions are always 0: a zero pair in a
//! meta not written by graphvault is "legacy", never a mismatch.

use serde::{Deserialize, Serialize};

/// `saved_by` of metas graphvault writes.
pub const SAVED_BY: &str = concat!("graphvault ", env!("CARGO_PKG_VERSION"));

/// Why a meta's bytes say two things (a top-level key twice), if they do:
/// no reader can take such a meta at one of its words.
pub(crate) fn ambiguity(bytes: &[u8]) -> Option<String> {
    duplicate_key(bytes).map(|key| {
        format!(
            "ambiguous meta: key {key:?} appears more than once (the application would take the \
             last value, another reader the first)"
        )
    })
}

/// A key's text, borrowed from the input where it holds no escape.
#[derive(PartialEq)]
struct KeyText<'de>(std::borrow::Cow<'de, str>);

impl<'de> Deserialize<'de> for KeyText<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = KeyText<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<KeyText<'de>, E> {
                Ok(KeyText(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<KeyText<'de>, E> {
                Ok(KeyText(std::borrow::Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(Visit)
    }
}

/// The first top-level key of a JSON object that appears more than once.
fn duplicate_key(bytes: &[u8]) -> Option<String> {
    struct FirstDuplicate(Option<String>);
    impl<'de> Deserialize<'de> for FirstDuplicate {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visit;
            impl<'de> serde::de::Visitor<'de> for Visit {
                type Value = FirstDuplicate;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<FirstDuplicate, A::Error> {
                    // A meta has a dozen keys: a list beats a hash set, and a
                    // key is copied only when it holds an escape (a listing
                    // reads 100,000 metas).
                    let mut seen: Vec<KeyText<'de>> = Vec::with_capacity(16);
                    let mut first = None;
                    while let Some(key) = map.next_key::<KeyText<'de>>()? {
                        map.next_value::<serde::de::IgnoredAny>()?;
                        if first.is_none() {
                            if seen.contains(&key) {
                                first = Some(key.0.into_owned());
                            } else {
                                seen.push(key);
                            }
                        }
                    }
                    Ok(FirstDuplicate(first))
                }
            }
            d.deserialize_map(Visit)
        }
    }
    serde_json::from_slice::<FirstDuplicate>(bytes).ok()?.0
}

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
    /// How the backup's data file is stored when it is not plain JSON:
    /// `zstd` (graphvault; see [`super::codec`]). `checksum` and `size`
    /// stay those of the plain JSON, the graph's identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_format: Option<String>,
    /// Byte size of the data file as stored (graphvault).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_size: Option<u64>,
    /// SHA-256 of the data file as stored, so a scrub checks it without
    /// decompressing (graphvault).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_checksum: Option<String>,
    /// The full backup a delta is read through (graphvault).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_base: Option<String>,
    /// The plain SHA-256 of that base when the delta was made against it
    /// (graphvault): a base replaced by other content is never used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_base_checksum: Option<String>,
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
            stored_format: None,
            stored_size: None,
            stored_checksum: None,
            delta_base: None,
            delta_base_checksum: None,
            hmac: None,
            extra: serde_json::Map::new(),
        }
    }

    /// Parses a meta file's bytes.
    ///
    /// # Errors
    /// The JSON error (with line and column) when the bytes are not a JSON
    /// object of the expected field types.
    /// A key that appears twice makes the meta ambiguous, never one of
    /// its values picked: Python's `json` (the application) takes the last,
    /// and a reader that took another would judge a different checksum.
    pub fn from_slice(bytes: &[u8]) -> Result<Meta, serde_json::Error> {
        if let Some(why) = ambiguity(bytes) {
            return Err(serde::de::Error::custom(why));
        }
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

    /// This meta for the same graph stored as plain JSON: the fields that
    /// describe a compressed or delta file left out (`checksum` and `size`,
    /// the plain JSON's, stay). The HMAC is the caller's to redo.
    pub fn as_plain(mut self) -> Meta {
        self.stored_format = None;
        self.stored_size = None;
        self.stored_checksum = None;
        self.delta_base = None;
        self.delta_base_checksum = None;
        self
    }

    /// The stored-bytes checksum when it has the shape of a SHA-256 digest.
    pub fn stored_sha256(&self) -> Option<&str> {
        self.stored_checksum
            .as_deref()
            .filter(|c| c.len() == 64 && c.bytes().all(|b| b.is_ascii_hexdigit()))
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
    fn a_key_twice_is_ambiguous_however_it_is_written() {
        for (text, key) in [
            (
                r#"{"checksum": "a", "size": 1, "checksum": "b"}"#,
                Some("checksum"),
            ),
            (
                r#"{"checksum": "a", "check\u0073um": "b"}"#,
                Some("checksum"),
            ),
            (r#"{"x\n": 1, "x\n": 2}"#, Some("x\n")),
            (r#"{"a": {"b": 1, "b": 2}, "c": 3}"#, None),
            (r#"{"checksum": "a", "size": 1}"#, None),
        ] {
            assert_eq!(duplicate_key(text.as_bytes()).as_deref(), key, "{text}");
        }
    }

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
    fn a_key_twice_makes_the_meta_ambiguous_never_one_value_picked() {
        let sha = "a".repeat(64);
        let other = "0".repeat(64);
        let text =
            format!("{{\"checksum\": \"{sha}\", \"node_count\": 1, \"checksum\": \"{other}\"}}");
        assert!(ambiguity(text.as_bytes()).is_some());
        let err = Meta::from_slice(text.as_bytes()).expect_err("ambiguous");
        assert!(err.to_string().contains("\"checksum\""), "{err}");
        // An unknown key twice is as ambiguous.
        let text = format!("{{\"checksum\": \"{sha}\", \"x\": 1, \"x\": 2}}");
        let err = Meta::from_slice(text.as_bytes()).expect_err("ambiguous");
        assert!(err.to_string().contains("\"x\""), "{err}");
        // Not JSON is not "ambiguous"; nested repeats are the value's own.
        assert!(ambiguity(b"{").is_none());
        let text = format!("{{\"checksum\": \"{sha}\", \"x\": {{\"a\": 1}}, \"y\": {{\"a\": 2}}}}");
        assert!(Meta::from_slice(text.as_bytes()).is_ok());
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
