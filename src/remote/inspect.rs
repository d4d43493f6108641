//! `remote ls` and `remote verify`: the remote's backups with their status.
//!
//! Verification climbs a ladder like the local one: manifest (readable,
//! names its id) → object (present, expected size) → server checksum (the
//! SHA-256 the server reports with checksum mode equals the one recorded
//! at push, the checksum of the stored bytes: compressed, and ciphertext
//! when encrypted) → for a delta, its base (its manifest names a full
//! backup with the checksum the delta was made against, and its object
//! passes the same two rungs). `--deep` then downloads the object, checks
//! its bytes against that checksum, decrypts it, checks the stored bytes
//! against their SHA-256, fetches and proves a delta's base the same way,
//! and climbs the whole local ladder (file, meta, checksum of the plain
//! JSON, parse, consistency) on a staged copy in its stored form, so a
//! frame is decoded as a stream and a delta through its base, once.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::backend::BucketProtection;
use super::error::{RemoteError, Result};
use super::state::{self, OffsiteEntry, OffsiteStatus};
use super::{Manifest, Remote};
use crate::store::Store;
use crate::store::codec::StoredForm;
use crate::store::fs::{self, Publish, RealFs};
use crate::store::names::BackupId;
use crate::store::verify::{Depth, FileReport, Outcome, Status, Target};

/// One remote backup, from its manifest.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteBackup {
    pub id: String,
    pub time: Option<chrono::NaiveDateTime>,
    pub checksum: String,
    /// Plain JSON size (the graph's).
    pub size: u64,
    /// Size of the data object as stored (compressed, and ciphertext when
    /// encrypted).
    pub stored_size: u64,
    /// `plain`, `zstd` or `zstd-delta`.
    pub stored_format: String,
    /// For a delta: the remote backup it is read through.
    pub delta_base: Option<String>,
    pub encrypted: bool,
    pub data_key: String,
    pub pushed_at: String,
    pub node_count: Option<u64>,
    pub edge_count: Option<u64>,
}

/// Result of [`list`].
#[derive(Debug, Clone, Serialize)]
pub struct RemoteListing {
    pub remote: String,
    pub url: String,
    pub endpoint: Option<String>,
    /// Newest first.
    pub backups: Vec<RemoteBackup>,
    /// Manifests that could not be read: (id, why).
    pub unreadable: Vec<(String, String)>,
    /// Data objects no manifest names (an interrupted push, or removed by
    /// retention while versioning keeps them): never listed as backups.
    pub unreferenced: Vec<String>,
    pub protection: BucketProtection,
    pub total_stored: u64,
    pub elapsed_ms: f64,
}

fn summary(m: &Manifest) -> RemoteBackup {
    let meta = crate::store::meta::Meta::from_slice(m.meta.as_bytes()).ok();
    RemoteBackup {
        id: m.id.clone(),
        time: m.id.parse::<BackupId>().ok().map(|i| i.time()),
        checksum: m.checksum.clone(),
        size: m.size,
        stored_size: m.stored_size,
        stored_format: m.form().map_or_else(
            |_| m.stored_format.clone().unwrap_or_default(),
            |f| f.name().to_string(),
        ),
        delta_base: m.delta_base.clone(),
        encrypted: m.encryption.is_some(),
        data_key: m.data_key.clone(),
        pushed_at: m.pushed_at.clone(),
        node_count: meta.as_ref().and_then(|m| m.node_count),
        edge_count: meta.as_ref().and_then(|m| m.edge_count),
    }
}

/// Lists the remote's backups, newest first.
///
/// # Errors
/// A listing failure (unreachable, credentials, no bucket).
pub fn list(remote: &Remote) -> Result<RemoteListing> {
    let started = Instant::now();
    let (manifests, unreadable) = remote.manifests()?;
    let data = remote.backend().list(&remote.key("data/"))?;
    let named: std::collections::HashSet<String> =
        manifests.iter().map(|m| remote.key(&m.data_key)).collect();
    let unreferenced = data
        .iter()
        .filter(|o| !named.contains(&o.key))
        .map(|o| o.key.clone())
        .collect();
    let backups: Vec<RemoteBackup> = manifests.iter().map(summary).collect();
    let mut seen = std::collections::HashSet::new();
    let total_stored = manifests
        .iter()
        .filter(|m| seen.insert(m.data_key.clone()))
        .map(|m| m.stored_size)
        .sum();
    Ok(RemoteListing {
        remote: remote.config.name.clone(),
        url: remote.url.to_string(),
        endpoint: remote.config.endpoint.clone(),
        backups,
        unreadable,
        unreferenced,
        protection: remote.backend().protection(),
        total_stored,
        elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
    })
}

/// A rung of the remote ladder.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RemoteLevel {
    /// `manifest`, `object`, `server_checksum`, `download`, `decrypt`, `ladder`.
    pub level: &'static str,
    pub outcome: Outcome,
    pub detail: String,
}

/// One remote backup's verification.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteCheck {
    pub id: String,
    pub status: Status,
    pub failed_level: Option<&'static str>,
    pub reason: Option<String>,
    pub levels: Vec<RemoteLevel>,
    /// The local ladder on the downloaded copy (deep only).
    pub local: Option<FileReport>,
    pub deep: bool,
}

impl RemoteCheck {
    fn new(id: &str, deep: bool) -> RemoteCheck {
        RemoteCheck {
            id: id.to_string(),
            status: Status::Valid,
            failed_level: None,
            reason: None,
            levels: Vec::new(),
            local: None,
            deep,
        }
    }
    pub(crate) fn unreadable(id: &str, why: String) -> RemoteCheck {
        let mut c = RemoteCheck::new(id, false);
        c.fail("manifest", Status::Corrupt, why);
        c
    }
    fn pass(&mut self, level: &'static str, detail: impl Into<String>) {
        self.levels.push(RemoteLevel {
            level,
            outcome: Outcome::Pass,
            detail: detail.into(),
        });
    }
    fn fail(&mut self, level: &'static str, status: Status, detail: impl Into<String>) {
        let detail = detail.into();
        self.levels.push(RemoteLevel {
            level,
            outcome: Outcome::Fail,
            detail: detail.clone(),
        });
        self.status = status;
        self.failed_level = Some(level);
        self.reason = Some(format!("{level}: {detail}"));
    }
}

/// Result of [`verify`].
#[derive(Debug, Clone, Serialize)]
pub struct RemoteVerifyReport {
    pub remote: String,
    pub url: String,
    pub deep: bool,
    pub backups: Vec<RemoteCheck>,
    pub valid: usize,
    pub corrupt: usize,
    pub missing: usize,
    pub elapsed_ms: f64,
}

impl RemoteVerifyReport {
    pub fn has_problems(&self) -> bool {
        self.corrupt + self.missing > 0
    }
}

/// Options of [`verify`].
#[derive(Debug, Clone, Default)]
pub struct RemoteVerifyOptions {
    pub deep: bool,
    /// Only this backup.
    pub id: Option<String>,
}

/// Verifies the remote's backups (all, or one). With a store, the results
/// are kept in its state file for the UI's off-site column.
///
/// # Errors
/// A listing failure, or `id` not on the remote.
pub fn verify(
    remote: &Remote,
    options: &RemoteVerifyOptions,
    store: Option<&Store>,
) -> Result<RemoteVerifyReport> {
    let started = Instant::now();
    let manifests: Vec<std::result::Result<Manifest, (String, String)>> = match &options.id {
        Some(id) => {
            let parsed: BackupId = id.parse()?;
            match remote.read_manifest(&parsed) {
                Ok(Some(m)) => vec![Ok(m)],
                Ok(None) => {
                    return Err(RemoteError::NoSuchBackup {
                        id: id.clone(),
                        remote: remote.config.name.clone(),
                    });
                }
                Err(e) => vec![Err((id.clone(), e.to_string()))],
            }
        }
        None => {
            let (ok, bad) = remote.manifests()?;
            ok.into_iter()
                .map(Ok)
                .chain(bad.into_iter().map(Err))
                .collect()
        }
    };
    let mut report = RemoteVerifyReport {
        remote: remote.config.name.clone(),
        url: remote.url.to_string(),
        deep: options.deep,
        backups: Vec::new(),
        valid: 0,
        corrupt: 0,
        missing: 0,
        elapsed_ms: 0.0,
    };
    for m in manifests {
        let check = match m {
            Ok(m) => check_backup(remote, &m, options.deep, None)?.0,
            Err((id, why)) => {
                let mut c = RemoteCheck::new(&id, options.deep);
                c.fail("manifest", Status::Corrupt, why);
                c
            }
        };
        match check.status {
            Status::Valid | Status::Unverified => report.valid += 1,
            Status::Corrupt => report.corrupt += 1,
            Status::Missing => report.missing += 1,
        }
        report.backups.push(check);
    }
    if let Some(store) = store {
        let mut st = state::load(store, &remote.config.name);
        for c in &report.backups {
            st.backups.insert(
                c.id.clone(),
                OffsiteEntry {
                    status: if c.status.is_usable() {
                        OffsiteStatus::Verified
                    } else {
                        OffsiteStatus::Failed
                    },
                    at: state::now_text(),
                    detail: c.reason.clone(),
                },
            );
        }
        if let Err(e) = state::save(store, &remote.config.name, &st) {
            tracing::warn!(error = %e, "could not record the verification in the remote's state file");
        }
    }
    report.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    Ok(report)
}

/// A staged copy of a downloaded backup, verified by the local ladder: a
/// scratch store whose `backups/` holds the backup as it was stored (and,
/// for a delta, its base).
pub(crate) struct Staged {
    pub dir: PathBuf,
    pub id: BackupId,
    pub form: StoredForm,
    pub meta: Vec<u8>,
    /// SHA-256 of the plain JSON.
    pub checksum: String,
}

impl Staged {
    /// The staged data file.
    pub fn data_path(&self) -> PathBuf {
        self.dir
            .join(crate::store::BACKUPS_DIR)
            .join(self.id.stored_file_name(self.form))
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        // A scratch copy of something that is on the remote: removing it
        // loses nothing.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

static STAGE_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A fresh scratch directory under `parent`.
pub(crate) fn scratch_dir(parent: &Path) -> Result<PathBuf> {
    let n = STAGE_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = parent.join(format!(
        "graphvault-remote-{}-{}-{n}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    ));
    std::fs::create_dir_all(dir.join(crate::store::BACKUPS_DIR))
        .map_err(|e| crate::store::StoreError::io("create scratch directory", &dir, e))?;
    Ok(dir)
}

/// Checks one backup; with `deep`, also downloads and verifies it fully,
/// staging the copy under `stage_in` (default: the system temp dir) and
/// returning it when it is valid.
///
/// # Errors
/// Only failures that say nothing about this backup (unreachable,
/// credentials); damage is a status in the check.
pub(crate) fn check_backup(
    remote: &Remote,
    m: &Manifest,
    deep: bool,
    stage_in: Option<&Path>,
) -> Result<(RemoteCheck, Option<Staged>)> {
    let mut c = RemoteCheck::new(&m.id, deep);
    let id = match m.backup_id() {
        Ok(id) => id,
        Err(e) => {
            c.fail("manifest", Status::Corrupt, e.to_string());
            return Ok((c, None));
        }
    };
    let form = match m.form() {
        Ok(f) => f,
        Err(e) => {
            c.fail("manifest", Status::Corrupt, e);
            return Ok((c, None));
        }
    };
    c.pass(
        "manifest",
        format!(
            "{} bytes of data stored as {}{}, meta of {} bytes",
            m.size,
            form.name(),
            m.delta_base
                .as_deref()
                .map(|b| format!(" against base {b}"))
                .unwrap_or_default(),
            m.meta.len()
        ),
    );
    if !check_object(remote, m, &mut c, "object", "server_checksum", "")? {
        return Ok((c, None));
    }
    // A delta is read through its base: the base's manifest and object
    // are checked like the delta's own, and a failure names the base.
    let base = match form {
        StoredForm::Delta => match base_of(remote, m, &mut c)? {
            Some(b) => Some(b),
            None => return Ok((c, None)),
        },
        _ => None,
    };
    if !deep {
        return Ok((c, None));
    }
    let Some(encoded) = download(remote, m, &mut c, "download", "decrypt", "")? else {
        return Ok((c, None));
    };
    let parent = stage_in.map_or_else(std::env::temp_dir, Path::to_path_buf);
    let dir = scratch_dir(&parent)?;
    let staged = Staged {
        dir,
        id: id.clone(),
        form,
        meta: m.meta.clone().into_bytes(),
        checksum: m.checksum.clone(),
    };
    let scratch = Store::open_with(&staged.dir, std::sync::Arc::new(RealFs))?;
    let backups = scratch.backups_dir();
    fs::write_atomic(
        &RealFs,
        &backups.join(id.stored_file_name(form)),
        &encoded,
        Publish::NoReplace,
    )?;
    drop(encoded);
    fs::write_atomic(
        &RealFs,
        &backups.join(id.meta_file_name()),
        &staged.meta,
        Publish::NoReplace,
    )?;
    if let Some(base) = &base {
        // Fetched and checked against its plain checksum before the delta
        // is read through it; staged under the name the delta's meta gives
        // its base, where the store's reader looks for it.
        let Some(bytes) = download(
            remote,
            base,
            &mut c,
            "base",
            "base",
            &format!("base {} of delta {}: ", base.id, m.id),
        )?
        else {
            return Ok((c, None));
        };
        let base_form = base.form().unwrap_or(StoredForm::Plain);
        let proven = match base_form {
            StoredForm::Plain => Ok(crate::store::verify::sha256_hex(&bytes) == base.checksum),
            _ => crate::store::codec::proves(&bytes, &base.checksum),
        };
        let expected = m.delta_base_checksum.as_deref().unwrap_or_default();
        match proven {
            Ok(true) if base.checksum == expected => {}
            Ok(_) => {
                c.fail(
                    "base",
                    Status::Corrupt,
                    format!(
                        "base {} of delta {} is corrupt: its JSON does not hash to {expected}, the checksum the delta was made against",
                        base.id, m.id
                    ),
                );
                return Ok((c, None));
            }
            Err(e) => {
                c.fail(
                    "base",
                    Status::Corrupt,
                    format!("base {} of delta {} is corrupt: {e}", base.id, m.id),
                );
                return Ok((c, None));
            }
        }
        let local_base = crate::store::meta::Meta::from_slice(m.meta.as_bytes())
            .ok()
            .and_then(|meta| meta.delta_base)
            .and_then(|b| b.parse::<BackupId>().ok());
        let Some(local_base) = local_base else {
            c.fail(
                "ladder",
                Status::Corrupt,
                "the delta's meta names no base, so it cannot be read",
            );
            return Ok((c, None));
        };
        fs::write_atomic(
            &RealFs,
            &backups.join(local_base.stored_file_name(base_form)),
            &bytes,
            Publish::NoReplace,
        )?;
        fs::write_atomic(
            &RealFs,
            &backups.join(local_base.meta_file_name()),
            base.meta.as_bytes(),
            Publish::NoReplace,
        )?;
        c.pass(
            "base",
            format!(
                "{} ({} as {}): {} bytes, its JSON hashes to the checksum the delta was made against",
                base.id,
                base.data_key,
                base_form.name(),
                bytes.len()
            ),
        );
    }
    let report = scratch.verify(&Target::Backup(id), Depth::Full)?;
    if report.status == Status::Valid {
        c.pass("ladder", "file, meta, checksum, parse and consistency pass");
        c.local = Some(report);
        Ok((c, Some(staged)))
    } else {
        c.fail(
            "ladder",
            if report.status == Status::Missing {
                Status::Corrupt
            } else {
                report.status
            },
            report.summary(),
        );
        c.local = Some(report);
        Ok((c, None))
    }
}

fn is_fatal(e: &RemoteError) -> bool {
    matches!(
        e,
        RemoteError::Auth { .. }
            | RemoteError::Unreachable { .. }
            | RemoteError::NoSuchBucket { .. }
    )
}

/// The object rungs of `m`: present at the size its push recorded, and the
/// server's SHA-256 of the stored bytes is the one recorded. `prefix`
/// starts each detail (a base's rungs name the base). Returns whether
/// both pass.
fn check_object(
    remote: &Remote,
    m: &Manifest,
    c: &mut RemoteCheck,
    object_level: &'static str,
    checksum_level: &'static str,
    prefix: &str,
) -> Result<bool> {
    let key = remote.key(&m.data_key);
    match remote.backend().head(&key) {
        Ok(Some(o)) if o.size == m.stored_size => {
            c.pass(object_level, format!("{prefix}{key}, {} bytes", o.size));
        }
        Ok(Some(o)) => {
            c.fail(
                object_level,
                Status::Corrupt,
                format!(
                    "{prefix}{key} is {} bytes, the manifest says {}",
                    o.size, m.stored_size
                ),
            );
            return Ok(false);
        }
        Ok(None) => {
            c.fail(
                object_level,
                // A delta whose base object is gone cannot be read: the
                // delta is damaged, not missing.
                if prefix.is_empty() {
                    Status::Missing
                } else {
                    Status::Corrupt
                },
                format!("{prefix}{key} is not on the remote"),
            );
            return Ok(false);
        }
        Err(e) if is_fatal(&e) => return Err(e),
        Err(e) => {
            c.fail(object_level, Status::Corrupt, format!("{prefix}{e}"));
            return Ok(false);
        }
    }
    match remote.backend().server_checksum(&key) {
        Ok(Some(s)) if s == m.stored_checksum => {
            c.pass(checksum_level, format!("{prefix}sha256 {s}"));
            Ok(true)
        }
        Ok(Some(s)) => {
            c.fail(
                checksum_level,
                Status::Corrupt,
                format!(
                    "{prefix}the server reports {s} for {key}, the push recorded {}",
                    m.stored_checksum
                ),
            );
            Ok(false)
        }
        Ok(None) => {
            c.fail(
                checksum_level,
                Status::Corrupt,
                format!(
                    "{prefix}the server holds no SHA-256 for {key} (it was rewritten without one)"
                ),
            );
            Ok(false)
        }
        Err(e) if is_fatal(&e) => Err(e),
        Err(e) => {
            c.fail(checksum_level, Status::Corrupt, format!("{prefix}{e}"));
            Ok(false)
        }
    }
}

/// A delta's base on the remote: its manifest, which must name a full
/// backup with the checksum the delta was made against, and its object.
/// `None` (with the failure in `c`, naming the base) when it is not
/// usable.
fn base_of(remote: &Remote, m: &Manifest, c: &mut RemoteCheck) -> Result<Option<Manifest>> {
    let Some(base_id) = m.base_id() else {
        c.fail(
            "base",
            Status::Corrupt,
            format!("delta {} names no valid base", m.id),
        );
        return Ok(None);
    };
    let prefix = format!("base {base_id} of delta {}: ", m.id);
    let base = match remote.read_manifest(&base_id) {
        Ok(Some(b)) => b,
        Ok(None) => {
            c.fail(
                "base",
                Status::Corrupt,
                format!(
                    "base {base_id} is missing on the remote (no manifest): delta {} cannot be read without it",
                    m.id
                ),
            );
            return Ok(None);
        }
        Err(e) if is_fatal(&e) => return Err(e),
        Err(e) => {
            c.fail("base", Status::Corrupt, format!("{prefix}{e}"));
            return Ok(None);
        }
    };
    let expected = m.delta_base_checksum.as_deref().unwrap_or_default();
    if base.checksum != expected || !base.is_full() {
        c.fail(
            "base",
            Status::Corrupt,
            format!(
                "{prefix}it is not a full backup with checksum {expected} (its manifest says {} stored as {})",
                base.checksum,
                base.stored_format.as_deref().unwrap_or("plain")
            ),
        );
        return Ok(None);
    }
    if !check_object(remote, &base, c, "base", "base", &prefix)? {
        return Ok(None);
    }
    Ok(Some(base))
}

/// Downloads `m`'s object, checks it against the checksum its push
/// recorded, decrypts it when it is encrypted and checks the stored bytes
/// against their SHA-256. `None` (with the failure in `c`) when any of
/// that fails.
///
/// # Errors
/// Unreachable, credentials, or a wrong key (which says nothing about the
/// backup: never "corrupt", which would let retention remove it).
fn download(
    remote: &Remote,
    m: &Manifest,
    c: &mut RemoteCheck,
    download_level: &'static str,
    decrypt_level: &'static str,
    prefix: &str,
) -> Result<Option<Vec<u8>>> {
    let key = remote.key(&m.data_key);
    let stored = match remote
        .backend()
        .get(&key, crate::store::MAX_GRAPH_LEN.saturating_mul(2))
    {
        Ok(b) => b,
        Err(e) if is_fatal(&e) => return Err(e),
        Err(e) => {
            c.fail(download_level, Status::Corrupt, format!("{prefix}{e}"));
            return Ok(None);
        }
    };
    let actual = super::expected_s3_checksum(&stored, m.part_size);
    if actual != m.stored_checksum {
        c.fail(
            download_level,
            Status::Corrupt,
            format!(
                "{prefix}the downloaded bytes of {key} hash to {actual}, the push recorded {}",
                m.stored_checksum
            ),
        );
        return Ok(None);
    }
    if prefix.is_empty() {
        c.pass(
            download_level,
            format!("{} bytes, sha256 matches", stored.len()),
        );
    }
    let encoded = if m.encryption.is_some() {
        let Some(keys) = remote.keys().filter(|k| k.can_decrypt()) else {
            c.fail(
                decrypt_level,
                Status::Unverified,
                format!(
                    "{prefix}the backup is encrypted and no age identity was given to decrypt it"
                ),
            );
            return Ok(None);
        };
        match keys.decrypt(&stored, crate::store::MAX_GRAPH_LEN) {
            Ok(p) => {
                if prefix.is_empty() {
                    c.pass(decrypt_level, format!("age, {} bytes", p.len()));
                }
                p
            }
            Err(e @ RemoteError::WrongKey(_)) => return Err(e),
            Err(e) => {
                c.fail(decrypt_level, Status::Corrupt, format!("{prefix}{e}"));
                return Ok(None);
            }
        }
    } else {
        stored
    };
    // The stored bytes themselves (under any encryption), against what the
    // local meta recorded of them.
    let sha = crate::store::verify::sha256_hex(&encoded);
    if sha != m.encoded_sha256() {
        c.fail(
            if m.encryption.is_some() {
                decrypt_level
            } else {
                download_level
            },
            Status::Corrupt,
            format!(
                "{prefix}the stored bytes hash to {sha}, the manifest records {}",
                m.encoded_sha256()
            ),
        );
        return Ok(None);
    }
    Ok(Some(encoded))
}
