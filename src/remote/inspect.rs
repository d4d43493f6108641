//! `remote ls` and `remote verify`: the remote's backups with their status.
//!
//! Verification climbs a ladder like the local one: manifest (readable,
//! names its id) → object (present, expected size) → server checksum (the
//! SHA-256 the server reports with checksum mode equals the one recorded
//! at push). `--deep` then downloads the object, checks its bytes against
//! that checksum, decrypts it, and climbs the whole local ladder (file,
//! meta, checksum of the plain JSON, parse, consistency) on a staged copy.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::backend::BucketProtection;
use super::error::{RemoteError, Result};
use super::state::{self, OffsiteEntry, OffsiteStatus};
use super::{Manifest, Remote};
use crate::store::Store;
use crate::store::fs::{self, Publish, RealFs};
use crate::store::names::BackupId;
use crate::store::verify::{Depth, FileReport, Outcome, Status, Target};

/// One remote backup, from its manifest.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteBackup {
    pub id: String,
    pub time: Option<chrono::NaiveDateTime>,
    pub checksum: String,
    pub size: u64,
    pub stored_size: u64,
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

/// A staged copy of a downloaded backup, verified by the local ladder.
pub(crate) struct Staged {
    pub dir: PathBuf,
    pub id: BackupId,
    pub plain: Vec<u8>,
    pub meta: Vec<u8>,
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
    c.pass(
        "manifest",
        format!("{} bytes of data, meta of {} bytes", m.size, m.meta.len()),
    );
    let key = remote.key(&m.data_key);
    let fatal = |e: &RemoteError| {
        matches!(
            e,
            RemoteError::Auth { .. }
                | RemoteError::Unreachable { .. }
                | RemoteError::NoSuchBucket { .. }
        )
    };
    match remote.backend().head(&key) {
        Ok(Some(o)) if o.size == m.stored_size => {
            c.pass("object", format!("{key}, {} bytes", o.size))
        }
        Ok(Some(o)) => {
            c.fail(
                "object",
                Status::Corrupt,
                format!(
                    "{key} is {} bytes, the manifest says {}",
                    o.size, m.stored_size
                ),
            );
            return Ok((c, None));
        }
        Ok(None) => {
            c.fail(
                "object",
                Status::Missing,
                format!("{key} is not on the remote"),
            );
            return Ok((c, None));
        }
        Err(e) if fatal(&e) => return Err(e),
        Err(e) => {
            c.fail("object", Status::Corrupt, e.to_string());
            return Ok((c, None));
        }
    }
    match remote.backend().server_checksum(&key) {
        Ok(Some(s)) if s == m.stored_checksum => c.pass("server_checksum", format!("sha256 {s}")),
        Ok(Some(s)) => {
            c.fail(
                "server_checksum",
                Status::Corrupt,
                format!(
                    "the server reports {s}, the push recorded {}",
                    m.stored_checksum
                ),
            );
            return Ok((c, None));
        }
        Ok(None) => {
            c.fail(
                "server_checksum",
                Status::Corrupt,
                "the server holds no SHA-256 for the object (it was rewritten without one)",
            );
            return Ok((c, None));
        }
        Err(e) if fatal(&e) => return Err(e),
        Err(e) => {
            c.fail("server_checksum", Status::Corrupt, e.to_string());
            return Ok((c, None));
        }
    }
    if !deep {
        return Ok((c, None));
    }
    let stored = match remote
        .backend()
        .get(&key, crate::store::MAX_GRAPH_LEN.saturating_mul(2))
    {
        Ok(b) => b,
        Err(e) if fatal(&e) => return Err(e),
        Err(e) => {
            c.fail("download", Status::Corrupt, e.to_string());
            return Ok((c, None));
        }
    };
    let actual = super::expected_s3_checksum(&stored, m.part_size);
    if actual != m.stored_checksum {
        c.fail(
            "download",
            Status::Corrupt,
            format!(
                "the downloaded bytes hash to {actual}, the push recorded {}",
                m.stored_checksum
            ),
        );
        return Ok((c, None));
    }
    c.pass(
        "download",
        format!("{} bytes, sha256 matches", stored.len()),
    );
    let plain = if m.encryption.is_some() {
        let Some(keys) = remote.keys().filter(|k| k.can_decrypt()) else {
            c.fail(
                "decrypt",
                Status::Unverified,
                "the backup is encrypted and no age identity was given to decrypt it",
            );
            return Ok((c, None));
        };
        match keys.decrypt(&stored, crate::store::MAX_GRAPH_LEN) {
            Ok(p) => {
                c.pass("decrypt", format!("age, {} bytes of plain JSON", p.len()));
                p
            }
            // A wrong key says nothing about the backup: an error, not
            // "corrupt" (which would let retention remove it).
            Err(e @ RemoteError::WrongKey(_)) => return Err(e),
            Err(e) => {
                c.fail("decrypt", Status::Corrupt, e.to_string());
                return Ok((c, None));
            }
        }
    } else {
        stored
    };
    let parent = stage_in.map_or_else(std::env::temp_dir, Path::to_path_buf);
    let dir = scratch_dir(&parent)?;
    let staged = Staged {
        dir,
        id: id.clone(),
        plain,
        meta: m.meta.clone().into_bytes(),
    };
    let scratch = Store::open_with(&staged.dir, std::sync::Arc::new(RealFs))?;
    let backups = scratch.backups_dir();
    fs::write_atomic(
        &RealFs,
        &backups.join(id.data_file_name()),
        &staged.plain,
        Publish::NoReplace,
    )?;
    fs::write_atomic(
        &RealFs,
        &backups.join(id.meta_file_name()),
        &staged.meta,
        Publish::NoReplace,
    )?;
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
