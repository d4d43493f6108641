//! Off-site copies of a store's backups on S3-compatible object storage
//! (AWS S3, SeaweedFS, MinIO, Ceph RGW, R2, ...): push, list, verify,
//! recover, restore, retention, and optional client-side age encryption.
//!
//! This module owns everything remote. The S3 client (`object_store`) and
//! its tokio runtime live only in [`backend`], behind the small
//! [`backend::ObjectBackend`] trait; the rest of the program stays
//! synchronous. Operations follow the store's shape: options in, a report
//! out, nothing printed.
//!
//! # Layout on the remote, under `s3://BUCKET/PREFIX/`
//! ```text
//! data/<sha256>.json[.age]        a plain backup's bytes, named by the SHA-256
//!                                 of the plain JSON (so never sent twice, under
//!                                 any id, in any form)
//! data/<sha256>.json.zst[.age]    a compressed backup's zstd frame, as stored
//!                                 locally (`zstd -d` restores it)
//! data/<sha256>.json.delta.zst[.age]
//!                                 a delta's zstd frame, as stored locally; it
//!                                 decodes only with its base's plain JSON
//!                                 (`zstd -d --patch-from=BASE`), and its base is
//!                                 always a full backup on the same remote
//! backups/<id>.manifest.json      makes backup <id> visible: its meta (byte for
//!                                 byte), the data object's key, form, sizes and
//!                                 the checksum the server must report for it,
//!                                 and for a delta its base (id and checksum)
//! ```
//! A push sends each backup's stored bytes as they are (age wraps them
//! when the remote encrypts); everything that reads from a remote reads
//! through the form its manifest records. A manifest without a form (as
//! versions before compression wrote) names a plain JSON object.
//! Every put is create-only (`If-None-Match: *`) and carries its SHA-256, so
//! the server rejects a body damaged in transit and nothing is overwritten.
//! Multipart uploads complete create-only as well (`If-None-Match: *` on
//! CompleteMultipartUpload, sent by [`backend`] itself because
//! object_store's completion always overwrites).
//! The manifest is written only after the data object is complete and its
//! server checksum read back, so an interrupted push never lists a backup:
//! at worst it leaves an unreferenced data object (reused by the next push)
//! or an incomplete multipart upload (resumed by the next push).
//!
//! # Security
//! Credentials come from the environment or the shared credentials file
//! and are never written, logged or printed. With encryption the data
//! objects are age files; manifests stay readable so `remote ls` and
//! checksum verification work without the key: ids, times, sizes, counts
//! and checksums are visible to whoever can read the bucket, the graph is not.

pub mod backend;
pub mod config;
pub mod credentials;
pub mod crypt;
pub mod error;
pub mod fetch;
pub mod inspect;
pub mod prune;
pub mod push;
pub mod state;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use backend::{BucketProtection, ObjectBackend, S3Backend};
pub use config::{Encryption, RemoteConfig, RemoteUrl};
pub use error::{RemoteError, Result};

use crate::store::codec::StoredForm;
use crate::store::names::BackupId;

/// Version of the manifest format.
pub const MANIFEST_VERSION: u32 = 1;
/// Largest manifest read (a meta is ~300 bytes).
const MAX_MANIFEST_LEN: u64 = 1 << 20;

/// What makes a backup visible on the remote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub graphvault_remote: u32,
    pub id: String,
    /// SHA-256 (hex) of the plain JSON: the meta's checksum.
    pub checksum: String,
    /// Size of the plain JSON.
    pub size: u64,
    /// The data object's key, relative to the prefix.
    pub data_key: String,
    /// Size of the object as stored (ciphertext when encrypted).
    pub stored_size: u64,
    /// The SHA-256 the server must report for the stored object, in S3's
    /// form: base64, with `-N` for an N-part upload.
    pub stored_checksum: String,
    /// Part size of a multipart upload (the server's `-N` checksum is over
    /// parts of this size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_size: Option<u64>,
    /// `age` when the data object is encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<String>,
    /// How the backup's bytes are stored in the data object (under any
    /// encryption): `zstd` or `zstd-delta`, as the local meta's
    /// `stored_format`. Absent: plain JSON (and every manifest that
    /// versions before compression wrote).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_format: Option<String>,
    /// Size of those bytes before encryption (the local meta's
    /// `stored_size`). Absent for plain JSON: then it is `size`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoded_size: Option<u64>,
    /// SHA-256 (hex) of those bytes before encryption (the local meta's
    /// `stored_checksum`). Absent for plain JSON: then it is `checksum`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoded_sha256: Option<String>,
    /// For a delta: the id of the remote backup it is read through, a full
    /// backup whose manifest is on the same remote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_base: Option<String>,
    /// For a delta: the plain SHA-256 that base must have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_base_checksum: Option<String>,
    /// The backup's meta file, byte for byte.
    pub meta: String,
    pub pushed_at: String,
    pub pushed_by: String,
}

impl Manifest {
    /// The backup id, validated.
    ///
    /// # Errors
    /// An id that is not a backup id (a hostile or damaged manifest).
    pub fn backup_id(&self) -> Result<BackupId> {
        self.id
            .parse()
            .map_err(|e: crate::store::StoreError| RemoteError::Config(e.to_string()))
    }

    /// How the data object's bytes are stored, under any encryption.
    ///
    /// # Errors
    /// A form this version does not know (a newer graphvault pushed it),
    /// or a delta whose manifest names no base.
    pub fn form(&self) -> std::result::Result<StoredForm, String> {
        let form = match self.stored_format.as_deref() {
            None | Some("plain") => StoredForm::Plain,
            Some(f) if f == StoredForm::Zstd.name() => StoredForm::Zstd,
            Some(f) if f == StoredForm::Delta.name() => StoredForm::Delta,
            Some(other) => {
                return Err(format!(
                    "its data is stored as {other:?}, a form this version of graphvault does not know"
                ));
            }
        };
        if form == StoredForm::Delta && self.base_id().is_none() {
            return Err("it is a delta and its manifest names no valid base".to_string());
        }
        Ok(form)
    }

    /// A delta's base: the remote backup it is read through.
    pub fn base_id(&self) -> Option<BackupId> {
        self.delta_base.as_deref().and_then(|b| b.parse().ok())
    }

    /// SHA-256 (hex) of the stored bytes before encryption.
    pub fn encoded_sha256(&self) -> &str {
        self.encoded_sha256.as_deref().unwrap_or(&self.checksum)
    }

    /// Whether this backup can serve as a delta's base: its object holds
    /// the whole graph on its own.
    pub fn is_full(&self) -> bool {
        self.form().is_ok_and(StoredForm::is_full)
    }
}

/// The key of a backup's manifest, relative to the prefix.
pub fn manifest_key(id: &BackupId) -> String {
    format!("backups/{id}.manifest.json")
}

/// The key of a data object, relative to the prefix: named by the plain
/// checksum, with the stored form's suffix (so a plain and a compressed
/// copy of the same content never share a key), and `.age` when encrypted.
pub fn data_key(checksum: &str, form: StoredForm, encrypted: bool) -> String {
    format!(
        "data/{checksum}{}{}",
        form.suffix(),
        if encrypted { ".age" } else { "" }
    )
}

/// A manifest that could not be read: its id and why.
pub type Unreadable = (String, String);

/// A connected remote: its config, parsed URL, backend and keys.
#[derive(Debug)]
pub struct Remote {
    pub config: RemoteConfig,
    pub url: RemoteUrl,
    backend: Box<dyn ObjectBackend>,
    keys: Option<crypt::Keys>,
}

impl Remote {
    /// Opens `config` over S3. `identity_file` is the age identity for
    /// decrypting when the config holds only a recipient.
    ///
    /// # Errors
    /// An invalid config, an unreadable key file, or a client setup failure.
    pub fn open(config: &RemoteConfig, identity_file: Option<&Path>) -> Result<Remote> {
        config.validate()?;
        let backend = S3Backend::open(config)?;
        let keys = match &config.encryption {
            Some(e) => Some(crypt::Keys::load(e, identity_file)?),
            None => identity_file.map(crypt::Keys::decrypt_only).transpose()?,
        };
        Ok(Remote {
            config: config.clone(),
            url: config.parsed_url()?,
            backend: Box::new(backend),
            keys,
        })
    }

    /// Opens `config` over S3 with these credentials rather than the
    /// environment's.
    ///
    /// # Errors
    /// As [`Remote::open`].
    pub fn open_with_credentials(
        config: &RemoteConfig,
        credentials: Option<credentials::Credentials>,
        identity_file: Option<&Path>,
    ) -> Result<Remote> {
        config.validate()?;
        let backend = S3Backend::open_with(config, &config.parsed_url()?, credentials)?;
        let keys = match &config.encryption {
            Some(e) => Some(crypt::Keys::load(e, identity_file)?),
            None => identity_file.map(crypt::Keys::decrypt_only).transpose()?,
        };
        Ok(Remote {
            config: config.clone(),
            url: config.parsed_url()?,
            backend: Box::new(backend),
            keys,
        })
    }

    /// Over another backend (tests).
    ///
    /// # Errors
    /// An invalid config.
    pub fn with_backend(
        config: &RemoteConfig,
        backend: Box<dyn ObjectBackend>,
        keys: Option<crypt::Keys>,
    ) -> Result<Remote> {
        Ok(Remote {
            config: config.clone(),
            url: config.parsed_url()?,
            backend,
            keys,
        })
    }

    pub fn backend(&self) -> &dyn ObjectBackend {
        &*self.backend
    }

    pub(crate) fn keys(&self) -> Option<&crypt::Keys> {
        self.keys.as_ref()
    }

    pub(crate) fn encrypts(&self) -> bool {
        self.config.encryption.is_some()
    }

    /// The full key of `rest` under the prefix.
    pub fn key(&self, rest: &str) -> String {
        self.url.key(rest)
    }

    /// Every manifest on the remote, newest id first, with those that could
    /// not be read.
    ///
    /// # Errors
    /// A listing failure (unreachable, credentials, no bucket).
    pub fn manifests(&self) -> Result<(Vec<Manifest>, Vec<Unreadable>)> {
        let prefix = self.key("backups/");
        let objects = self.backend.list(&prefix)?;
        let mut manifests = Vec::new();
        let mut unreadable = Vec::new();
        for object in objects {
            let Some(name) = object.key.rsplit('/').next() else {
                continue;
            };
            let Some(id) = name
                .strip_suffix(".manifest.json")
                .and_then(|s| s.parse::<BackupId>().ok())
            else {
                continue;
            };
            match self.read_manifest(&id) {
                Ok(Some(m)) => manifests.push(m),
                Ok(None) => {}
                Err(e) => unreadable.push((id.to_string(), e.to_string())),
            }
        }
        manifests.sort_by(|a, b| {
            let (ia, ib) = (a.id.parse::<BackupId>().ok(), b.id.parse::<BackupId>().ok());
            ib.cmp(&ia)
        });
        Ok((manifests, unreadable))
    }

    /// One backup's manifest, `None` when it is not there.
    ///
    /// # Errors
    /// A download failure, or a manifest that does not parse or names
    /// another id.
    pub fn read_manifest(&self, id: &BackupId) -> Result<Option<Manifest>> {
        let key = self.key(&manifest_key(id));
        if self.backend.head(&key)?.is_none() {
            return Ok(None);
        }
        let bytes = self.backend.get(&key, MAX_MANIFEST_LEN)?;
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| RemoteError::VerifyFailed {
                id: id.to_string(),
                remote: self.config.name.clone(),
                reason: format!("manifest {key} is not valid: {e}"),
            })?;
        if manifest.id != id.to_string() || manifest.graphvault_remote != MANIFEST_VERSION {
            return Err(RemoteError::VerifyFailed {
                id: id.to_string(),
                remote: self.config.name.clone(),
                reason: format!(
                    "manifest {key} names backup {:?} (format {}), not {id} (format {MANIFEST_VERSION})",
                    manifest.id, manifest.graphvault_remote
                ),
            });
        }
        Ok(Some(manifest))
    }
}

/// Base64 (standard, padded) as S3 writes checksums.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// S3's checksum of a single-part object: base64 of its SHA-256.
pub(crate) fn s3_checksum(bytes: &[u8]) -> String {
    use sha2::Digest;
    base64(&sha2::Sha256::digest(bytes))
}

/// S3's checksum of a multipart object: base64 of the SHA-256 of the
/// parts' SHA-256 digests, then `-N`.
pub(crate) fn s3_composite_checksum(part_digests: &[[u8; 32]]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for d in part_digests {
        h.update(d);
    }
    format!("{}-{}", base64(&h.finalize()), part_digests.len())
}

/// The checksum S3 reports for `stored` uploaded in parts of `part_size`
/// (or in one put when `None`).
pub(crate) fn expected_s3_checksum(stored: &[u8], part_size: Option<u64>) -> String {
    use sha2::Digest;
    match part_size
        .and_then(|p| usize::try_from(p).ok())
        .filter(|p| *p > 0)
    {
        Some(p) => {
            let digests: Vec<[u8; 32]> = stored
                .chunks(p)
                .map(|c| sha2::Sha256::digest(c).into())
                .collect();
            s3_composite_checksum(&digests)
        }
        None => s3_checksum(stored),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_known_values() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        // sha256("") in base64, as S3 shows it for an empty object.
        assert_eq!(
            s3_checksum(b""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn a_manifest_without_a_form_names_plain_json() {
        // As versions before compression wrote it.
        let old = r#"{"graphvault_remote":1,"id":"graph_20251003_000432","checksum":"ab","size":3,
            "data_key":"data/ab.json","stored_size":3,"stored_checksum":"x","meta":"{}",
            "pushed_at":"t","pushed_by":"graphvault 0.1.0"}"#;
        let m: Manifest = serde_json::from_str(old).expect("old manifest");
        assert_eq!(m.form(), Ok(StoredForm::Plain));
        assert_eq!(m.encoded_sha256(), "ab");
        assert!(m.is_full());
        let mut delta = m.clone();
        delta.stored_format = Some(StoredForm::Delta.name().to_string());
        assert!(delta.form().is_err(), "a delta must name its base");
        delta.delta_base = Some("graph_20251002_000432".to_string());
        assert_eq!(delta.form(), Ok(StoredForm::Delta));
        assert!(!delta.is_full());
        let mut odd = m;
        odd.stored_format = Some("brotli".to_string());
        assert!(odd.form().expect_err("unknown").contains("brotli"));
    }

    #[test]
    fn keys_are_content_addressed() {
        // Plain keys are the ones every earlier version wrote.
        assert_eq!(data_key("ab", StoredForm::Plain, false), "data/ab.json");
        assert_eq!(data_key("ab", StoredForm::Plain, true), "data/ab.json.age");
        assert_eq!(data_key("ab", StoredForm::Zstd, false), "data/ab.json.zst");
        assert_eq!(
            data_key("ab", StoredForm::Delta, true),
            "data/ab.json.delta.zst.age"
        );
        let id: BackupId = "graph_20251003_000432".parse().expect("id");
        assert_eq!(
            manifest_key(&id),
            "backups/graph_20251003_000432.manifest.json"
        );
    }
}
