//! Tamper evidence with a key kept outside the storage directory.
//!
//! A SHA-256 beside the data only detects accidents: whoever can edit
//! `graph.json` can recompute it. When a key is configured, every meta
//! graphvault writes also carries `hmac`: HMAC-SHA256 under that key over
//! the data's SHA-256, its size, counts and timestamp. Someone without the
//! key cannot make a changed file or meta pass.
//!
//! What it does not stop: deleting files; rolling the store back to an
//! older, authentic backup (no generation counter is kept outside the
//! store); anyone who can read the key. Files written without the key
//! (the application's, or before a key was configured) carry no `hmac` and
//! are reported as not authenticated, not as corrupt.

use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::error::{Result, StoreError};
use super::meta::Meta;

type HmacSha256 = Hmac<Sha256>;

/// Shortest key accepted, in bytes.
pub const MIN_KEY_LEN: usize = 16;

/// A secret key for the meta HMAC, read from a file outside the store.
#[derive(Clone)]
pub struct Key {
    /// The HMAC keyed once; each use clones it.
    keyed: HmacSha256,
    path: PathBuf,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("Key")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Key {
    /// Reads a key file. It must lie outside `store_root` (a key stored
    /// beside the data protects nothing) and hold at least 16 bytes.
    ///
    /// # Errors
    /// The file cannot be read, is too short, or is inside the store.
    pub fn from_file(path: &Path, store_root: &Path) -> Result<Key> {
        let canonical =
            std::fs::canonicalize(path).map_err(|e| StoreError::io("read key file", path, e))?;
        if let Ok(root) = std::fs::canonicalize(store_root)
            && canonical.starts_with(&root)
        {
            return Err(StoreError::Refused {
                path: path.to_path_buf(),
                reason: "the key file is inside the storage directory: whoever can edit the data could read the key. Keep it elsewhere".into(),
            });
        }
        // A key is a short regular file; anything else (a FIFO, a device)
        // could hang or flood the read.
        let meta =
            std::fs::metadata(&canonical).map_err(|e| StoreError::io("read key file", path, e))?;
        if !meta.is_file() || meta.len() > 64 * 1024 {
            return Err(StoreError::Refused {
                path: path.to_path_buf(),
                reason: "a key file must be a regular file of at most 64 KiB".into(),
            });
        }
        let bytes = super::fs::read_bounded(&canonical, 64 * 1024)
            .map_err(|e| StoreError::io("read key file", path, e))?;
        let trimmed = bytes.trim_ascii().to_vec();
        if trimmed.len() < MIN_KEY_LEN {
            return Err(StoreError::Refused {
                path: path.to_path_buf(),
                reason: format!(
                    "the key is {} bytes; at least {MIN_KEY_LEN} are needed (e.g. `head -c 32 /dev/urandom | base64`)",
                    trimmed.len()
                ),
            });
        }
        Key::keyed(&trimmed, canonical)
    }

    /// A key from bytes (tests, embedding applications).
    ///
    /// # Errors
    /// Fewer than [`MIN_KEY_LEN`] bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Key> {
        if bytes.len() < MIN_KEY_LEN {
            return Err(StoreError::Invalid(format!(
                "an HMAC key needs at least {MIN_KEY_LEN} bytes"
            )));
        }
        Key::keyed(bytes, PathBuf::new())
    }

    fn keyed(bytes: &[u8], path: PathBuf) -> Result<Key> {
        let keyed = HmacSha256::new_from_slice(bytes)
            .map_err(|e| StoreError::Invalid(format!("unusable HMAC key: {e}")))?;
        Ok(Key { keyed, path })
    }

    fn mac(&self, meta: &Meta) -> HmacSha256 {
        let mut mac = self.keyed.clone();
        mac.update(&message(meta));
        mac
    }

    /// The `hmac` value for a meta (over its checksum, size, counts, time).
    pub fn sign(&self, meta: &Meta) -> String {
        super::digest::hex(&self.mac(meta).finalize().into_bytes())
    }

    /// The HMAC of any other message graphvault authenticates (the memo's
    /// entries), lowercase hex. Each caller prefixes its own domain tag.
    pub(crate) fn sign_message(&self, message: &[u8]) -> String {
        let mut mac = self.keyed.clone();
        mac.update(message);
        super::verify::hex(&mac.finalize().into_bytes())
    }

    /// Whether `claimed` is this key's HMAC of `message`, in constant time.
    pub(crate) fn check_message(&self, message: &[u8], claimed: &str) -> bool {
        let Some(raw) = unhex(claimed) else {
            return false;
        };
        let mut mac = self.keyed.clone();
        mac.update(message);
        mac.verify_slice(&raw).is_ok()
    }

    /// Whether `meta.hmac` is this key's HMAC of the meta, compared in
    /// constant time. `None` when the meta carries no HMAC.
    pub fn check(&self, meta: &Meta) -> Option<bool> {
        let claimed = meta.hmac.as_deref()?;
        let Some(raw) = unhex(claimed) else {
            return Some(false);
        };
        Some(self.mac(meta).verify_slice(&raw).is_ok())
    }
}

/// What the HMAC covers, in a fixed textual form.
fn message(meta: &Meta) -> Vec<u8> {
    let mut text = format!(
        "graphvault-hmac-v1\nchecksum={}\nsize={}\nnode_count={}\nedge_count={}\ntimestamp={}\n",
        meta.checksum.as_deref().unwrap_or(""),
        meta.size.map(|s| s.to_string()).unwrap_or_default(),
        meta.node_count.map(|s| s.to_string()).unwrap_or_default(),
        meta.edge_count.map(|s| s.to_string()).unwrap_or_default(),
        meta.timestamp.as_deref().unwrap_or(""),
    );
    // The creation order is covered too (metas without one sign exactly as
    // before): moving an old authentic backup to the front of the order by
    // editing its sequence breaks its HMAC.
    if let Some(n) = meta.sequence {
        text.push_str(&format!("sequence={n}\n"));
    }
    // How the file is stored (metas of plain backups sign as before): a
    // stored checksum changed to match damaged or replaced stored bytes
    // breaks the HMAC.
    if meta.stored_format.is_some() || meta.stored_checksum.is_some() {
        text.push_str(&format!(
            "stored_format={}\nstored_size={}\nstored_checksum={}\n",
            meta.stored_format.as_deref().unwrap_or(""),
            meta.stored_size.map(|s| s.to_string()).unwrap_or_default(),
            meta.stored_checksum.as_deref().unwrap_or(""),
        ));
    }
    // The base a delta is read through, and what it must hold.
    if meta.delta_base.is_some() || meta.delta_base_checksum.is_some() {
        text.push_str(&format!(
            "delta_base={}\ndelta_base_checksum={}\n",
            meta.delta_base.as_deref().unwrap_or(""),
            meta.delta_base_checksum.as_deref().unwrap_or(""),
        ));
    }
    text.into_bytes()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Meta {
        Meta::for_data("ab".repeat(32), 10, 2, 1, "save", chrono::Local::now())
    }

    #[test]
    fn signs_and_checks_and_rejects_any_change() {
        let key = Key::from_bytes(b"0123456789abcdef0123").expect("key");
        let mut m = meta();
        assert_eq!(key.check(&m), None, "no hmac: not authenticated");
        m.hmac = Some(key.sign(&m));
        assert_eq!(key.check(&m), Some(true));
        let mut changed = m.clone();
        changed.checksum = Some("cd".repeat(32));
        assert_eq!(
            key.check(&changed),
            Some(false),
            "recomputed checksum without the key"
        );
        let mut changed = m.clone();
        changed.node_count = Some(3);
        assert_eq!(key.check(&changed), Some(false));
        // How the file is stored is covered too.
        let mut stored = m.clone();
        stored.stored_format = Some("zstd".into());
        stored.stored_size = Some(4);
        stored.stored_checksum = Some("ef".repeat(32));
        stored.hmac = Some(key.sign(&stored));
        assert_eq!(key.check(&stored), Some(true));
        let mut changed = stored.clone();
        changed.stored_checksum = Some("01".repeat(32));
        assert_eq!(key.check(&changed), Some(false), "stored checksum changed");
        let mut changed = stored;
        changed.stored_format = None;
        assert_eq!(key.check(&changed), Some(false), "stored format dropped");
        let other = Key::from_bytes(b"another key of 16+ bytes").expect("key");
        assert_eq!(other.check(&m), Some(false));
        let mut garbage = m;
        garbage.hmac = Some("zz".into());
        assert_eq!(key.check(&garbage), Some(false));
    }

    #[test]
    fn refuses_short_keys_and_keys_inside_the_store() {
        assert!(Key::from_bytes(b"short").is_err());
        let dir = tempfile::tempdir().expect("tempdir");
        let store = dir.path().join("storage");
        std::fs::create_dir_all(&store).expect("dir");
        let inside = store.join("key");
        std::fs::write(&inside, "0123456789abcdef0123").expect("key");
        let err = Key::from_file(&inside, &store).expect_err("inside");
        assert!(err.to_string().contains("inside the storage directory"));
        let outside = dir.path().join("key");
        std::fs::write(&outside, "0123456789abcdef0123\n").expect("key");
        let key = Key::from_file(&outside, &store).expect("outside");
        assert!(
            !format!("{key:?}").contains("0123"),
            "Debug never shows the secret"
        );
        std::fs::write(&outside, "short").expect("key");
        assert!(Key::from_file(&outside, &store).is_err());
    }
}
