//! Push: upload every local backup the remote lacks, with its meta.
//!
//! Per backup, newest first: skip it if its manifest is there; reuse the
//! data object if one with the same plain checksum is there (any id);
//! otherwise upload it (one create-only put with its SHA-256, or a
//! multipart upload in fixed-size parts with one part in memory at a
//! time), read the server's checksum back, and only then write the
//! manifest that makes it visible. An interrupted multipart upload is
//! resumed by the next push from the parts already sent; encrypted data
//! is staged as ciphertext on local disk first so that the parts sent
//! before and after are of the same age stream.

use std::io::{Read, Write};
use std::time::Instant;

use serde::Serialize;
use sha2::Digest;

use super::backend::PutOutcome;
use super::error::{RemoteError, Result};
use super::state::{self, LastPush, OffsiteEntry, OffsiteStatus, PendingUpload, RemoteState};
use super::{Manifest, Remote, data_key, manifest_key};
use crate::store::Store;
use crate::store::list::BackupInfo;
use crate::store::names::BackupId;

/// Options of [`push`].
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Size of each part of a multipart upload (S3's minimum is 5 MiB).
    pub part_size: u64,
    /// Backups at least this large go up in parts.
    pub multipart_threshold: u64,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            part_size: 8 << 20,
            multipart_threshold: 16 << 20,
        }
    }
}

/// How far a push is, for a progress line.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PushProgress {
    pub backup: Option<String>,
    pub backups_done: usize,
    pub backups_total: usize,
    pub bytes_done: u64,
    pub bytes_total: u64,
    /// Parts of the current multipart upload sent so far.
    pub parts_done: usize,
}

/// One backup the push made visible on the remote.
#[derive(Debug, Clone, Serialize)]
pub struct PushedBackup {
    pub id: BackupId,
    /// Bytes uploaded for it (0 when its data was already there).
    pub bytes_sent: u64,
    /// `uploaded`, `resumed` (a multipart upload continued), or `reused`
    /// (the same content was already there under another id).
    pub data: &'static str,
}

/// A backup the push could not send, and why.
#[derive(Debug, Clone, Serialize)]
pub struct PushFailure {
    pub id: BackupId,
    pub reason: String,
}

/// What a push did.
#[derive(Debug, Clone, Serialize)]
pub struct PushReport {
    pub remote: String,
    pub url: String,
    pub sent: Vec<PushedBackup>,
    /// Backups already on the remote (nothing sent for them).
    pub already: usize,
    /// Local backups not pushed on purpose (no meta, no data file).
    pub skipped: Vec<PushFailure>,
    pub failed: Vec<PushFailure>,
    pub bytes_sent: u64,
    pub encrypted: bool,
    pub elapsed_ms: f64,
}

impl PushReport {
    /// Whether every backup that should be on the remote is.
    pub fn ok(&self) -> bool {
        self.failed.is_empty()
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

/// Pushes every local backup that `remote` lacks. Reads the store without
/// its lock (a push can take long; saves must not wait), and keeps what it
/// learned in the remote's state file.
///
/// # Errors
/// A failure that stops every upload (credentials refused, server
/// unreachable, no such bucket); per-backup failures are in the report.
/// Either way the outcome is recorded as the remote's last push, and
/// nothing local but that state file is written.
pub fn push(
    store: &Store,
    remote: &Remote,
    options: &PushOptions,
    progress: &dyn Fn(&PushProgress),
) -> Result<PushReport> {
    let mut st = state::load(store, &remote.config.name);
    let result = push_inner(store, remote, options, progress, &mut st);
    let (ok, sent, failed, error) = match &result {
        Ok(r) => (r.ok(), r.sent.len(), r.failed.len(), None),
        Err(e) => (false, 0, 0, Some(e.to_string())),
    };
    let newest = st
        .backups
        .iter()
        .filter(|(_, e)| e.status != OffsiteStatus::Failed)
        .filter_map(|(id, _)| id.parse::<BackupId>().ok())
        .max()
        .map(|id| id.to_string());
    let at = state::now_text();
    if ok {
        st.last_success_at = Some(at.clone());
    }
    st.last_push = Some(LastPush {
        at,
        ok,
        sent,
        failed,
        error,
        newest,
    });
    if let Err(e) = state::save(store, &remote.config.name, &st) {
        tracing::warn!(error = %e, "could not record the push in the remote's state file");
    }
    result
}

fn push_inner(
    store: &Store,
    remote: &Remote,
    options: &PushOptions,
    progress: &dyn Fn(&PushProgress),
    st: &mut RemoteState,
) -> Result<PushReport> {
    let started = Instant::now();
    let mut report = PushReport {
        remote: remote.config.name.clone(),
        url: remote.url.to_string(),
        sent: Vec::new(),
        already: 0,
        skipped: Vec::new(),
        failed: Vec::new(),
        bytes_sent: 0,
        encrypted: remote.encrypts(),
        elapsed_ms: 0.0,
    };
    // Listing first: it fails fast on credentials, reachability and the
    // bucket, before anything is read or sent.
    let (manifests, _) = remote.manifests()?;
    let on_remote: std::collections::HashSet<String> =
        manifests.iter().map(|m| m.id.clone()).collect();
    let data_objects: std::collections::HashMap<String, u64> = remote
        .backend()
        .list(&remote.key("data/"))?
        .into_iter()
        .map(|o| (o.key, o.size))
        .collect();
    for id in &on_remote {
        st.backups.entry(id.clone()).or_insert(OffsiteEntry {
            status: OffsiteStatus::Pushed,
            at: state::now_text(),
            detail: None,
        });
        if let Some(e) = st.backups.get_mut(id)
            && e.status == OffsiteStatus::Failed
        {
            e.status = OffsiteStatus::Pushed;
            e.detail = None;
        }
    }

    let listing = store.list_backups()?;
    let mut todo: Vec<&BackupInfo> = Vec::new();
    for info in &listing.backups {
        if on_remote.contains(&info.id.to_string()) {
            report.already += 1;
            continue;
        }
        match (&info.checksum, info.has_data(), &info.meta_path) {
            (Some(_), true, Some(_)) => todo.push(info),
            (_, false, _) => report.skipped.push(PushFailure {
                id: info.id.clone(),
                reason: "its data file is missing".to_string(),
            }),
            _ => report.skipped.push(PushFailure {
                id: info.id.clone(),
                reason: "it has no usable meta, so nothing could verify it later".to_string(),
            }),
        }
    }
    let mut prog = PushProgress {
        backups_total: todo.len(),
        bytes_total: todo.iter().filter_map(|i| i.plain_size.or(i.size)).sum(),
        ..PushProgress::default()
    };
    progress(&prog);
    for info in todo {
        prog.backup = Some(info.id.to_string());
        prog.parts_done = 0;
        progress(&prog);
        match push_one(
            store,
            remote,
            options,
            info,
            &data_objects,
            &manifests,
            st,
            &mut prog,
            progress,
        ) {
            Ok(pushed) => {
                report.bytes_sent += pushed.bytes_sent;
                st.backups.insert(
                    info.id.to_string(),
                    OffsiteEntry {
                        status: OffsiteStatus::Verified,
                        at: state::now_text(),
                        detail: None,
                    },
                );
                report.sent.push(pushed);
            }
            Err(e) if is_fatal(&e) => {
                st.backups.insert(
                    info.id.to_string(),
                    OffsiteEntry {
                        status: OffsiteStatus::Failed,
                        at: state::now_text(),
                        detail: Some(e.to_string()),
                    },
                );
                return Err(e);
            }
            Err(e) => {
                tracing::warn!(backup = %info.id, error = %e, "push of one backup failed");
                st.backups.insert(
                    info.id.to_string(),
                    OffsiteEntry {
                        status: OffsiteStatus::Failed,
                        at: state::now_text(),
                        detail: Some(e.to_string()),
                    },
                );
                report.failed.push(PushFailure {
                    id: info.id.clone(),
                    reason: e.to_string(),
                });
            }
        }
        prog.backups_done += 1;
        progress(&prog);
    }
    report.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    tracing::info!(
        remote = %remote.config.name,
        sent = report.sent.len(),
        already = report.already,
        failed = report.failed.len(),
        bytes = report.bytes_sent,
        "push done"
    );
    Ok(report)
}

/// What was stored for one data object.
struct Stored {
    size: u64,
    checksum: String,
    part_size: Option<u64>,
    bytes_sent: u64,
    how: &'static str,
}

#[allow(clippy::too_many_arguments)]
fn push_one(
    store: &Store,
    remote: &Remote,
    options: &PushOptions,
    info: &BackupInfo,
    data_objects: &std::collections::HashMap<String, u64>,
    manifests: &[Manifest],
    st: &mut RemoteState,
    prog: &mut PushProgress,
    progress: &dyn Fn(&PushProgress),
) -> Result<PushedBackup> {
    let checksum = info.checksum.clone().unwrap_or_default();
    let meta_path = info.meta_path.clone().unwrap_or_default();
    let meta =
        crate::store::fs::read_file(store.fs(), &meta_path, crate::store::meta::MAX_META_LEN)
            .map_err(|e| crate::store::StoreError::io("read backup meta", &meta_path, e))?;
    let meta = String::from_utf8(meta).map_err(|_| RemoteError::VerifyFailed {
        id: info.id.to_string(),
        remote: remote.config.name.clone(),
        reason: "its meta is not UTF-8 text".to_string(),
    })?;
    let rel = data_key(&checksum, remote.encrypts());
    let key = remote.key(&rel);
    let size = info.plain_size.or(info.size).unwrap_or(0);

    let stored = if data_objects.contains_key(&key) {
        let pending = st.upload.as_ref().filter(|u| u.key == key);
        let stored = reuse(remote, store, info, &rel, &key, manifests, options, pending)?;
        // An upload of this key left pending (its completion went through
        // but the answer was lost) has nothing left to do.
        if let Some(u) = st.upload.take_if(|u| u.key == key) {
            abandon(store, remote, &u);
        }
        stored
    } else if size >= options.multipart_threshold {
        let resuming = st.upload.as_ref().is_some_and(|u| u.key == key);
        match upload_multipart(store, remote, options, info, &key, st, prog, progress) {
            Ok(s) => s,
            // The server may have forgotten the upload (restarted without
            // it, or expired it): start once more from the first part.
            Err(e) if resuming && !is_fatal(&e) => {
                tracing::warn!(error = %e, "resuming the multipart upload failed; starting it again");
                if let Some(u) = st.upload.take() {
                    abandon(store, remote, &u);
                }
                upload_multipart(store, remote, options, info, &key, st, prog, progress)?
            }
            Err(e) => return Err(e),
        }
    } else {
        upload_single(store, remote, info, &key)?
    };
    prog.bytes_done += size;

    let manifest = Manifest {
        graphvault_remote: super::MANIFEST_VERSION,
        id: info.id.to_string(),
        checksum,
        size,
        data_key: rel,
        stored_size: stored.size,
        stored_checksum: stored.checksum,
        part_size: stored.part_size,
        encryption: remote.encrypts().then(|| "age".to_string()),
        meta,
        pushed_at: state::now_text(),
        pushed_by: crate::store::meta::SAVED_BY.to_string(),
    };
    let bytes = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    let mkey = remote.key(&manifest_key(&info.id));
    // Already there means another push got here first with the same id;
    // it is on the remote either way.
    let _ = remote.backend().put_create(&mkey, bytes)?;
    Ok(PushedBackup {
        id: info.id.clone(),
        bytes_sent: stored.bytes_sent,
        data: stored.how,
    })
}

/// Data already on the remote under this checksum: reuse it when a
/// manifest vouches for it, or when it can be shown to hold these bytes
/// (the server's checksum is the one of this machine's pending upload of
/// it, or of the local bytes, or it decrypts to them).
#[allow(clippy::too_many_arguments)]
fn reuse(
    remote: &Remote,
    store: &Store,
    info: &BackupInfo,
    rel: &str,
    key: &str,
    manifests: &[Manifest],
    options: &PushOptions,
    pending: Option<&PendingUpload>,
) -> Result<Stored> {
    let server = remote.backend().server_checksum(key)?;
    if let Some(p) = pending.filter(|p| p.checksum == info.checksum.clone().unwrap_or_default()) {
        let digests: Option<Vec<[u8; 32]>> = p.part_sha256.iter().map(|h| unhex32(h)).collect();
        if let Some(digests) = digests.filter(|d| !d.is_empty()) {
            let expected = super::s3_composite_checksum(&digests);
            if server.as_deref() == Some(expected.as_str()) {
                let size = remote
                    .backend()
                    .head(key)?
                    .map(|o| o.size)
                    .unwrap_or_default();
                return Ok(Stored {
                    size,
                    checksum: expected,
                    part_size: Some(p.part_size),
                    bytes_sent: 0,
                    how: "resumed",
                });
            }
        }
    }
    if let Some(m) = manifests.iter().find(|m| m.data_key == rel) {
        if server.as_deref() == Some(m.stored_checksum.as_str()) {
            return Ok(Stored {
                size: m.stored_size,
                checksum: m.stored_checksum.clone(),
                part_size: m.part_size,
                bytes_sent: 0,
                how: "reused",
            });
        }
        return Err(RemoteError::VerifyFailed {
            id: info.id.to_string(),
            remote: remote.config.name.clone(),
            reason: format!(
                "the data object {key} (also used by {}) reports checksum {} instead of {}; it was not overwritten",
                m.id,
                server.as_deref().unwrap_or("none"),
                m.stored_checksum
            ),
        });
    }
    // An object no manifest names: left by a push interrupted between the
    // data and the manifest, or by a concurrent push. Plain data can be
    // checked against the local bytes; ciphertext can be decrypted.
    let bytes =
        crate::store::codec::read_plain(store.fs(), &info.data_path, crate::store::MAX_GRAPH_LEN)
            .map_err(|e| crate::store::StoreError::io("read backup", &info.data_path, e))?;
    let stored_size = remote
        .backend()
        .head(key)?
        .map(|o| o.size)
        .unwrap_or_default();
    let ok = if remote.encrypts() {
        match remote.keys() {
            Some(k) if k.can_decrypt() => {
                let cipher = remote.backend().get(key, crate::store::MAX_GRAPH_LEN * 2)?;
                let plain = k.decrypt(&cipher, crate::store::MAX_GRAPH_LEN)?;
                let expected = server
                    .clone()
                    .filter(|s| *s == super::s3_checksum(&cipher) || s.contains('-'));
                plain == bytes && expected.is_some()
            }
            _ => false,
        }
    } else {
        let single = super::s3_checksum(&bytes);
        let parts = super::expected_s3_checksum(&bytes, Some(options.part_size));
        server.as_deref() == Some(single.as_str()) || server.as_deref() == Some(parts.as_str())
    };
    match (ok, server) {
        (true, Some(checksum)) => Ok(Stored {
            size: stored_size,
            part_size: checksum.contains('-').then_some(options.part_size),
            checksum,
            bytes_sent: 0,
            how: "reused",
        }),
        _ => Err(RemoteError::VerifyFailed {
            id: info.id.to_string(),
            remote: remote.config.name.clone(),
            reason: format!(
                "an object no backup names is already at {key} and could not be shown to hold this backup; it was not overwritten (remove it by hand if it is debris)"
            ),
        }),
    }
}

/// Reads a local backup and checks it against its meta before sending.
fn read_checked(store: &Store, info: &BackupInfo) -> Result<Vec<u8>> {
    let bytes =
        crate::store::codec::read_plain(store.fs(), &info.data_path, crate::store::MAX_GRAPH_LEN)
            .map_err(|e| crate::store::StoreError::io("read backup", &info.data_path, e))?;
    let actual = crate::store::verify::sha256_hex(&bytes);
    if Some(actual.as_str()) != info.checksum.as_deref() {
        return Err(local_corrupt(info, &actual));
    }
    Ok(bytes)
}

fn local_corrupt(info: &BackupInfo, actual: &str) -> RemoteError {
    RemoteError::Store(crate::store::StoreError::ChecksumMismatch {
        path: info.data_path.clone(),
        expected: info.checksum.clone().unwrap_or_default(),
        actual: actual.to_string(),
    })
}

fn confirm_server_checksum(remote: &Remote, key: &str, expected: &str) -> Result<()> {
    let server = remote.backend().server_checksum(key)?;
    if server.as_deref() == Some(expected) {
        Ok(())
    } else {
        Err(RemoteError::Server {
            op: "confirm an upload",
            remote: remote.config.name.clone(),
            key: key.to_string(),
            detail: format!(
                "the server reports checksum {} for what was sent as {expected}",
                server.as_deref().unwrap_or("none")
            ),
        })
    }
}

fn upload_single(store: &Store, remote: &Remote, info: &BackupInfo, key: &str) -> Result<Stored> {
    let plain = read_checked(store, info)?;
    let stored = match (remote.encrypts(), remote.keys()) {
        (true, Some(k)) => k.encrypt(&plain)?,
        (true, None) => {
            return Err(RemoteError::Crypto("no encryption key loaded".to_string()));
        }
        (false, _) => plain,
    };
    let checksum = super::s3_checksum(&stored);
    let size = stored.len() as u64;
    match remote.backend().put_create(key, stored)? {
        PutOutcome::Created => {}
        PutOutcome::AlreadyExists => {
            return Err(RemoteError::Server {
                op: "upload a backup",
                remote: remote.config.name.clone(),
                key: key.to_string(),
                detail: "another push created this object at the same time; the next push will check and use it".to_string(),
            });
        }
    }
    confirm_server_checksum(remote, key, &checksum)?;
    Ok(Stored {
        size,
        checksum,
        part_size: None,
        bytes_sent: size,
        how: "uploaded",
    })
}

/// Writes through to `inner` and hashes what it wrote.
struct HashingWriter<W> {
    inner: W,
    hash: sha2::Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Encrypts the backup into the remote's staged ciphertext file (written
/// atomically and synced), checking the plain bytes against the meta on
/// the way. Returns the ciphertext's SHA-256 (hex).
fn stage_ciphertext(store: &Store, remote: &Remote, info: &BackupInfo) -> Result<String> {
    let keys = remote
        .keys()
        .ok_or_else(|| RemoteError::Crypto("no encryption key loaded".to_string()))?;
    let staged = state::staged_path(store, &remote.config.name);
    let dir = crate::store::fs::parent_dir(&staged).to_path_buf();
    store.check_own_dir(&store.state_dir())?;
    if store.fs().entry(&dir).is_err() {
        store
            .fs()
            .create_dir_all(&dir)
            .map_err(|e| crate::store::StoreError::io("create directory", &dir, e))?;
    }
    let crate::store::fs::ReadFile { mut reader, .. } =
        crate::store::codec::open_plain(store.fs(), &info.data_path, crate::store::MAX_GRAPH_LEN)
            .map_err(|e| crate::store::StoreError::io("open backup", &info.data_path, e))?;
    let mut plain_hash = sha2::Sha256::new();
    let mut cipher_hash = None;
    let mut crypto_error = None;
    let written = crate::store::fs::write_atomic_with(
        store.fs(),
        &staged,
        crate::store::fs::Publish::Replace,
        |out| {
            let mut hashing = HashingWriter {
                inner: out,
                hash: sha2::Sha256::new(),
            };
            let mut enc = match keys.encryptor(&mut hashing) {
                Ok(enc) => enc,
                Err(e) => {
                    crypto_error = Some(e);
                    return Err(std::io::Error::other("age encryption could not start"));
                }
            };
            let mut buf = vec![0u8; 256 << 10];
            loop {
                let n = reader.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                plain_hash.update(&buf[..n]);
                enc.write_all(&buf[..n])?;
            }
            enc.finish()?;
            cipher_hash = Some(crate::store::verify::hex(&hashing.hash.finalize()));
            Ok(())
        },
    );
    if let Some(e) = crypto_error {
        return Err(e);
    }
    written?;
    let actual = crate::store::verify::hex(&plain_hash.finalize());
    if Some(actual.as_str()) != info.checksum.as_deref() {
        state::remove_staged(store, &remote.config.name);
        return Err(local_corrupt(info, &actual));
    }
    cipher_hash.ok_or_else(|| RemoteError::Crypto("age encryption did not finish".to_string()))
}

/// Keeps an upload's progress so the next push resumes it.
fn keep_pending(store: &Store, remote: &Remote, st: &mut RemoteState, upload: &PendingUpload) {
    st.upload = Some(upload.clone());
    if let Err(e) = state::save(store, &remote.config.name, st) {
        tracing::warn!(error = %e, "could not record the multipart upload's progress");
    }
}

/// Abandons a pending upload: aborted on the server (best effort: the
/// server may have forgotten it) and its staged ciphertext removed.
fn abandon(store: &Store, remote: &Remote, upload: &PendingUpload) {
    let _ = remote
        .backend()
        .multipart_abort(&upload.key, &upload.upload_id);
    if upload.staged_sha256.is_some() {
        state::remove_staged(store, &remote.config.name);
    }
}

/// Uploads one backup in parts of `part_size`, one part in memory at a
/// time, resuming the pending upload of the same bytes if there is one.
///
/// Plain data is read from the backup file; encrypted data from a staged
/// ciphertext file written first (see [`PendingUpload`]), so both resume
/// from the first part the server lacks. The completion is create-only:
/// if an object appeared at `key` meanwhile it is never replaced, and it
/// counts as this upload only when the server's checksum for it is the
/// one these parts make.
#[allow(clippy::too_many_arguments)]
fn upload_multipart(
    store: &Store,
    remote: &Remote,
    options: &PushOptions,
    info: &BackupInfo,
    key: &str,
    st: &mut RemoteState,
    prog: &mut PushProgress,
    progress: &dyn Fn(&PushProgress),
) -> Result<Stored> {
    let part_size = options.part_size.max(5 << 20);
    let part_len = usize::try_from(part_size).unwrap_or(8 << 20);
    let checksum = info.checksum.clone().unwrap_or_default();
    let encrypt = remote.encrypts();

    // Resume an upload of these same bytes in parts of this size; anything
    // else left over is abandoned.
    let pending = match st.upload.take() {
        Some(p)
            if p.key == key
                && p.checksum == checksum
                && p.part_size == part_size
                && p.staged_sha256.is_some() == encrypt =>
        {
            Some(p)
        }
        Some(p) => {
            abandon(store, remote, &p);
            None
        }
        None => None,
    };
    let resumed = pending.as_ref().is_some_and(|p| !p.parts.is_empty());
    let mut upload = match pending {
        Some(p) => p,
        None => {
            let staged_sha256 = if encrypt {
                Some(stage_ciphertext(store, remote, info)?)
            } else {
                None
            };
            let upload_id = match remote.backend().multipart_begin(key) {
                Ok(id) => id,
                Err(e) => {
                    if encrypt {
                        state::remove_staged(store, &remote.config.name);
                    }
                    return Err(e);
                }
            };
            let upload = PendingUpload {
                key: key.to_string(),
                upload_id,
                checksum: checksum.clone(),
                part_size,
                parts: Vec::new(),
                part_sha256: Vec::new(),
                staged_sha256,
            };
            keep_pending(store, remote, st, &upload);
            upload
        }
    };

    let source = if encrypt {
        state::staged_path(store, &remote.config.name)
    } else {
        info.data_path.clone()
    };
    // A compressed backup goes up as its plain JSON for now (the remote's
    // objects are named and checked by the plain checksum): read through
    // the store's decoder.
    let opened = if encrypt {
        store
            .fs()
            .open_read(&source, crate::store::MAX_GRAPH_LEN * 2)
    } else {
        crate::store::codec::open_plain(store.fs(), &source, crate::store::MAX_GRAPH_LEN)
    }
    .map_err(|e| crate::store::StoreError::io("open backup", &source, e));
    let crate::store::fs::ReadFile { mut reader, .. } = match opened {
        Ok(r) => r,
        Err(e) => {
            // A staged file gone missing: start afresh next push.
            abandon(store, remote, &upload);
            st.upload = None;
            return Err(e.into());
        }
    };
    // The hash of everything read: the plain JSON (checked against the
    // meta) or the staged ciphertext (checked against what was staged).
    let mut source_hash = sha2::Sha256::new();
    let mut part = vec![0u8; part_len];
    let mut index = 0usize;
    let mut stored_size = 0u64;
    let mut sent = 0u64;
    let mut digests: Vec<[u8; 32]> = Vec::new();
    loop {
        let mut filled = 0usize;
        while filled < part_len {
            let n = reader
                .read(&mut part[filled..])
                .map_err(|e| crate::store::StoreError::io("read backup", &source, e))?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 {
            break;
        }
        let bytes = &part[..filled];
        source_hash.update(bytes);
        let digest: [u8; 32] = sha2::Sha256::digest(bytes).into();
        stored_size += filled as u64;
        if index < upload.parts.len() {
            // Sent by an earlier push: only check it is the same part.
            if upload.part_sha256.get(index).map(String::as_str) != Some(hex32(&digest).as_str()) {
                abandon(store, remote, &upload);
                st.upload = None;
                return Err(RemoteError::Server {
                    op: "resume a multipart upload",
                    remote: remote.config.name.clone(),
                    key: key.to_string(),
                    detail: format!(
                        "part {index} differs from the one sent before; the upload was abandoned and starts again next push"
                    ),
                });
            }
        } else {
            let id =
                match remote
                    .backend()
                    .multipart_part(key, &upload.upload_id, index, bytes.to_vec())
                {
                    Ok(id) => id,
                    Err(e) => {
                        // What was sent stays recorded for the next push.
                        keep_pending(store, remote, st, &upload);
                        return Err(e);
                    }
                };
            upload.parts.push(id);
            upload.part_sha256.push(hex32(&digest));
            sent += filled as u64;
            keep_pending(store, remote, st, &upload);
        }
        digests.push(digest);
        index += 1;
        prog.parts_done = index;
        progress(prog);
        if filled < part_len {
            break;
        }
    }
    drop(part);
    let actual = crate::store::verify::hex(&source_hash.finalize());
    let expected_source = if encrypt {
        upload.staged_sha256.clone().unwrap_or_default()
    } else {
        checksum.clone()
    };
    if actual != expected_source {
        abandon(store, remote, &upload);
        st.upload = None;
        if encrypt {
            return Err(RemoteError::Crypto(format!(
                "the staged ciphertext {} changed since it was written (SHA-256 {actual}, expected {expected_source}); nothing was completed, the next push encrypts the backup again",
                source.display()
            )));
        }
        return Err(local_corrupt(info, &actual));
    }
    let expected = super::s3_composite_checksum(&digests);
    let outcome =
        match remote
            .backend()
            .multipart_complete(key, &upload.upload_id, upload.parts.clone())
        {
            Ok(o) => o,
            Err(e) => {
                keep_pending(store, remote, st, &upload);
                return Err(e);
            }
        };
    if outcome == PutOutcome::AlreadyExists {
        // Something is at the key: nothing was replaced. It is this very
        // content only if the server's checksum is the one of these parts
        // (an earlier completion whose answer was lost).
        let server = remote.backend().server_checksum(key)?;
        abandon(store, remote, &upload);
        st.upload = None;
        if server.as_deref() != Some(expected.as_str()) {
            return Err(RemoteError::Server {
                op: "complete a multipart upload",
                remote: remote.config.name.clone(),
                key: key.to_string(),
                detail: "another object appeared at this key during the upload; it was not overwritten, and the next push checks whether it holds this backup".to_string(),
            });
        }
    } else {
        st.upload = None;
        if encrypt {
            state::remove_staged(store, &remote.config.name);
        }
    }
    confirm_server_checksum(remote, key, &expected)?;
    Ok(Stored {
        size: stored_size,
        checksum: expected,
        part_size: Some(part_size),
        bytes_sent: sent,
        how: if resumed { "resumed" } else { "uploaded" },
    })
}

fn hex32(d: &[u8; 32]) -> String {
    crate::store::verify::hex(d)
}

fn unhex32(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

/// Pushes to every remote of the store that has `auto_push`, after a save
/// committed. Never fails: each outcome is returned (and recorded), and a
/// failed push is retried by the next one.
pub fn auto_push(store: &Store) -> Vec<AutoPushOutcome> {
    let remotes: Vec<_> = store
        .config()
        .remotes
        .iter()
        .filter(|r| r.auto_push)
        .cloned()
        .collect();
    remotes
        .into_iter()
        .map(|config| {
            let result = Remote::open(&config, None)
                .and_then(|remote| push(store, &remote, &PushOptions::default(), &|_| {}));
            match result {
                Ok(report) => AutoPushOutcome {
                    remote: config.name,
                    ok: report.ok(),
                    sent: report.sent.len(),
                    error: report
                        .failed
                        .first()
                        .map(|f| format!("{}: {}", f.id, f.reason)),
                },
                Err(e) => {
                    // Push records its own failures; a remote that could
                    // not even be opened is recorded here.
                    if matches!(e, RemoteError::Config(_) | RemoteError::Crypto(_)) {
                        let mut st = state::load(store, &config.name);
                        st.last_push = Some(LastPush {
                            at: state::now_text(),
                            ok: false,
                            sent: 0,
                            failed: 0,
                            error: Some(e.to_string()),
                            newest: st.last_push.as_ref().and_then(|l| l.newest.clone()),
                        });
                        let _ = state::save(store, &config.name, &st);
                    }
                    AutoPushOutcome {
                        remote: config.name,
                        ok: false,
                        sent: 0,
                        error: Some(e.to_string()),
                    }
                }
            }
        })
        .collect()
}

/// The off-site step of `check`: the automatic pushes, each with its
/// remote's last successful push.
#[derive(Debug, Default, Clone, Copy)]
pub struct CheckPush;

impl crate::store::check::OffsitePush for CheckPush {
    fn push(&self, store: &Store) -> Vec<crate::store::check::OffsiteOutcome> {
        auto_push(store)
            .into_iter()
            .map(|o| crate::store::check::OffsiteOutcome {
                last_success: state::load(store, &o.remote).last_success(),
                pushed: Some(o.ok),
                sent: o.sent,
                error: o.error,
                remote: o.remote,
            })
            .collect()
    }

    fn last_successes(&self, store: &Store) -> Vec<crate::store::check::OffsiteOutcome> {
        store
            .config()
            .remotes
            .iter()
            .filter(|r| r.auto_push)
            .map(|r| crate::store::check::OffsiteOutcome {
                remote: r.name.clone(),
                pushed: None,
                sent: 0,
                error: None,
                last_success: state::load(store, &r.name).last_success(),
            })
            .collect()
    }
}

/// What one automatic push did.
#[derive(Debug, Clone, Serialize)]
pub struct AutoPushOutcome {
    pub remote: String,
    pub ok: bool,
    pub sent: usize,
    pub error: Option<String>,
}
