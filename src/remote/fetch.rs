//! Recovery from a remote: fetch the newest remote backup that verifies
//! (deep: download, decrypt, the whole ladder), install it as a local
//! backup, then restore it as the primary through the store's own restore
//! (which verifies it again under the lock and keeps what it replaces).
//! Works on an empty or new directory: the disk was lost, the config
//! with it.

use std::time::Instant;

use serde::Serialize;

use super::error::{RemoteError, Result};
use super::inspect::{RemoteCheck, Staged, check_backup};
use super::{Manifest, Remote};
use crate::store::Store;
use crate::store::codec::{self, StoredForm};
use crate::store::fs::{self, Publish};
use crate::store::meta::Meta;
use crate::store::names::BackupId;
use crate::store::restore::{RestoreOptions, RestoreReport};
use crate::store::verify::{Depth, FileReport, Status, Target};

/// Options of [`recover`] and [`restore`].
#[derive(Debug, Clone, Copy, Default)]
pub struct FetchOptions {
    /// Find and verify what would be installed; write nothing.
    pub dry_run: bool,
}

/// Where the store's primary came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FetchSource {
    /// The local primary verified: nothing was fetched.
    Primary,
    /// A remote backup was installed (or would be, on a dry run).
    Remote,
    /// Nothing on the remote verified: nothing local was written.
    Nothing,
}

/// What recovery from a remote found and did.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteRecoveryReport {
    pub remote: String,
    pub url: String,
    pub source: FetchSource,
    pub dry_run: bool,
    /// The local primary before, when there was a store to look at.
    pub primary: Option<FileReport>,
    /// The remote backup installed.
    pub remote_id: Option<String>,
    /// The local backup it was installed as (its own id unless that name
    /// was taken by a different local file, which is never overwritten).
    pub installed_as: Option<BackupId>,
    /// Every remote backup checked, newest first, with its result.
    pub candidates: Vec<RemoteCheck>,
    pub restore: Option<RestoreReport>,
    pub elapsed_ms: f64,
}

fn stage_parent(store: &Store) -> std::path::PathBuf {
    if store.state_dir().is_dir() {
        store.state_dir()
    } else {
        std::env::temp_dir()
    }
}

/// Installs a verified staged copy as a local backup; returns its id.
///
/// A plain or compressed backup is installed as it was stored: its bytes
/// and its meta exactly as pushed (the meta describes those bytes, and
/// its HMAC stays valid). A delta is installed as plain JSON, a full
/// backup on its own: its base is a separate backup on the remote, and a
/// local delta without it could not be read. Its meta is the pushed one
/// with the stored form and base left out (the plain checksum and size,
/// the graph's identity, are unchanged); its HMAC is signed again only
/// when this store's key proves the pushed one, and is otherwise dropped,
/// never made up.
fn install(store: &Store, remote: &Remote, staged: &Staged) -> Result<BackupId> {
    // Creates the store (a new machine has none: recovering from a remote is
    // asked for, like a save) and settles
    // anything an interrupted writer left.
    drop(store.lock_creating()?);
    let dir = store.backups_dir();
    let (form, data, meta) = if staged.form == StoredForm::Delta {
        let plain = codec::read_plain(
            &fs::RealFs,
            &staged.data_path(),
            crate::store::MAX_GRAPH_LEN,
        )
        .map_err(|e| crate::store::StoreError::io("read staged delta", staged.data_path(), e))?;
        let actual = crate::store::verify::sha256_hex(&plain);
        if actual != staged.checksum {
            return Err(RemoteError::Store(
                crate::store::StoreError::ChecksumMismatch {
                    path: staged.data_path(),
                    expected: staged.checksum.clone(),
                    actual,
                },
            ));
        }
        let pushed = Meta::from_slice(&staged.meta).map_err(|e| RemoteError::VerifyFailed {
            id: staged.id.to_string(),
            remote: remote.config.name.clone(),
            reason: format!("its meta is not valid: {e}"),
        })?;
        let mut meta = pushed.clone().as_plain();
        meta.size = Some(plain.len() as u64);
        meta.hmac = None;
        let meta = store.sign_if_authentic(&pushed, meta);
        (StoredForm::Plain, plain, meta.to_vec())
    } else {
        let path = staged.data_path();
        let bytes = fs::read_file(&fs::RealFs, &path, crate::store::MAX_GRAPH_LEN)
            .map_err(|e| crate::store::StoreError::io("read staged backup", &path, e))?;
        (staged.form, bytes, staged.meta.clone())
    };
    let mut id = staged.id.clone();
    loop {
        let taken = [
            id.data_file_name(),
            id.zstd_file_name(),
            id.delta_file_name(),
            id.meta_file_name(),
            id.alt_meta_file_name(),
        ]
        .iter()
        .any(|n| store.fs().entry(&dir.join(n)).is_ok());
        if !taken {
            break;
        }
        // The same backup already here, whole, with its meta: use it.
        let here = crate::store::data_path_in(store.fs(), &dir, &id);
        let same = codec::hash_plain(store.fs(), &here, crate::store::MAX_GRAPH_LEN)
            .is_ok_and(|(h, _)| h == staged.checksum)
            && store
                .verify(&Target::Backup(id.clone()), Depth::Checksum)
                .is_ok_and(|r| r.status == Status::Valid);
        if same {
            return Ok(id);
        }
        id = id.next_in_second();
    }
    fs::write_atomic(
        store.fs(),
        &dir.join(id.stored_file_name(form)),
        &data,
        Publish::NoReplace,
    )?;
    fs::write_atomic(
        store.fs(),
        &dir.join(id.meta_file_name()),
        &meta,
        Publish::NoReplace,
    )?;
    tracing::info!(backup = %id, form = form.name(), "installed a remote backup as a local backup");
    Ok(id)
}

fn finish(
    store: &Store,
    remote: &Remote,
    staged: &Staged,
    options: FetchOptions,
    report: &mut RemoteRecoveryReport,
) -> Result<()> {
    report.source = FetchSource::Remote;
    report.remote_id = Some(staged.id.to_string());
    if options.dry_run {
        return Ok(());
    }
    let id = install(store, remote, staged)?;
    report.installed_as = Some(id.clone());
    let restored = store.restore(&id, RestoreOptions::default()).map_err(|e| {
        RemoteError::Store(e.left(format!(
            "the remote backup {} is kept as local backup {id}",
            staged.id
        )))
    })?;
    tracing::info!(remote = %remote.config.name, backup = %id, "recovered the primary from the remote");
    report.restore = Some(restored);
    Ok(())
}

/// Recovers the store's primary from `remote` unless the local primary
/// verifies: tries the remote's backups newest first and installs the
/// first that passes the deep check.
///
/// # Errors
/// [`RemoteError::NothingRecoverable`] is not an error here (the report's
/// source is `nothing`); errors are listing or connection failures, the
/// lock, or local I/O, and leave the store as it was.
pub fn recover(
    store: &Store,
    remote: &Remote,
    options: FetchOptions,
) -> Result<RemoteRecoveryReport> {
    let started = Instant::now();
    let mut report = RemoteRecoveryReport {
        remote: remote.config.name.clone(),
        url: remote.url.to_string(),
        source: FetchSource::Nothing,
        dry_run: options.dry_run,
        primary: None,
        remote_id: None,
        installed_as: None,
        candidates: Vec::new(),
        restore: None,
        elapsed_ms: 0.0,
    };
    if store.exists() {
        let primary = store.verify(&Target::Primary, Depth::Full)?;
        let usable = primary.status.is_usable();
        report.primary = Some(primary);
        if usable {
            report.source = FetchSource::Primary;
            report.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
            return Ok(report);
        }
    }
    let (manifests, unreadable) = remote.manifests()?;
    for (id, why) in unreadable {
        let mut c = RemoteCheck::unreadable(&id, why);
        c.deep = true;
        report.candidates.push(c);
    }
    let parent = stage_parent(store);
    for m in &manifests {
        let (check, staged) = check_backup(remote, m, true, Some(&parent))?;
        report.candidates.push(check);
        if let Some(staged) = staged {
            finish(store, remote, &staged, options, &mut report)?;
            break;
        }
    }
    if report.source == FetchSource::Nothing {
        tracing::error!(remote = %remote.config.name, checked = report.candidates.len(), "nothing on the remote verifies; nothing local was written");
    }
    report.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    Ok(report)
}

/// Fetches the remote backup `id`, verifies it deeply, installs it as a
/// local backup and restores it as the primary.
///
/// # Errors
/// No such backup on the remote, [`RemoteError::VerifyFailed`] when it
/// fails the deep check (nothing local is written), connection failures,
/// the lock, or local I/O.
pub fn restore(
    store: &Store,
    remote: &Remote,
    id: &str,
    options: FetchOptions,
) -> Result<RemoteRecoveryReport> {
    let started = Instant::now();
    let parsed: BackupId = id.parse()?;
    let manifest: Manifest =
        remote
            .read_manifest(&parsed)?
            .ok_or_else(|| RemoteError::NoSuchBackup {
                id: id.to_string(),
                remote: remote.config.name.clone(),
            })?;
    let mut report = RemoteRecoveryReport {
        remote: remote.config.name.clone(),
        url: remote.url.to_string(),
        source: FetchSource::Nothing,
        dry_run: options.dry_run,
        primary: store
            .exists()
            .then(|| store.verify(&Target::Primary, Depth::Checksum).ok())
            .flatten(),
        remote_id: None,
        installed_as: None,
        candidates: Vec::new(),
        restore: None,
        elapsed_ms: 0.0,
    };
    let (check, staged) = check_backup(remote, &manifest, true, Some(&stage_parent(store)))?;
    let reason = check.reason.clone();
    report.candidates.push(check);
    let Some(staged) = staged else {
        return Err(RemoteError::VerifyFailed {
            id: id.to_string(),
            remote: remote.config.name.clone(),
            reason: format!(
                "{}; nothing local was changed",
                reason.unwrap_or_else(|| "it did not verify".to_string())
            ),
        });
    };
    finish(store, remote, &staged, options, &mut report)?;
    report.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    Ok(report)
}
