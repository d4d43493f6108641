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
//! data/<sha256>.json[.age]        a backup's bytes, named by the SHA-256 of the
//!                                 plain JSON (so never sent twice, under any id)
//! backups/<id>.manifest.json      makes backup <id> visible: its meta (byte for
//!                                 byte), the data object's key, size and the
//!                                 checksum the server must report for it
//! ```
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
}

/// The key of a backup's manifest, relative to the prefix.
pub fn manifest_key(id: &BackupId) -> String {
    format!("backups/{id}.manifest.json")
}

/// The key of a data object, relative to the prefix.
pub fn data_key(checksum: &str, encrypted: bool) -> String {
    if encrypted {
        format!("data/{checksum}.json.age")
    } else {
        format!("data/{checksum}.json")
    }
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
    fn keys_are_content_addressed() {
        assert_eq!(data_key("ab", false), "data/ab.json");
        assert_eq!(data_key("ab", true), "data/ab.json.age");
        let id: BackupId = "graph_20251003_000432".parse().expect("id");
        assert_eq!(
            manifest_key(&id),
            "backups/graph_20251003_000432.manifest.json"
        );
    }
}
