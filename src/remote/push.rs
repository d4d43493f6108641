//! Push: upload every local backup the remote lacks, with its meta.
//!
//! What goes up is each backup's stored bytes as they are: plain JSON, a
//! zstd frame, or a delta frame (age wraps them when the remote encrypts);
//! nothing is decoded or re-encoded on the way.
//!
//! Per backup, newest first: skip it if its manifest is there; reuse the
//! data object if one with the same plain checksum is there (any id, any
//! form; a full backup reuses only a full copy, so it stays restorable on
//! its own and can serve as a base); otherwise upload it (one create-only put with its SHA-256, or a
//! multipart upload in fixed-size parts with one part in memory at a
//! time), read the server's checksum back, and only then write the
//! manifest that makes it visible. An interrupted multipart upload is
//! resumed by the next push from the parts already sent; encrypted data
//! is staged as ciphertext on local disk first so that the parts sent
//! before and after are of the same age stream.
//!
//! A delta goes up only once its base is there: a full backup on the
//! remote with the base's plain checksum (the base's own id first), or
//! else the local base, pushed first in the same run. A delta whose base
//! cannot be put there is not sent at all, so no remote delta ever lacks
//! its base; its manifest names the base's remote id and checksum.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::time::Instant;

use serde::Serialize;
use sha2::Digest;

use super::backend::PutOutcome;
use super::error::{RemoteError, Result};
use super::state::{self, LastPush, OffsiteEntry, OffsiteStatus, PendingUpload, RemoteState};
use super::{Manifest, Remote, data_key, manifest_key};
use crate::store::Store;
use crate::store::codec::StoredForm;
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
    let report = PushReport {
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
    let on_remote: HashSet<String> = manifests.iter().map(|m| m.id.clone()).collect();
    let objects: HashSet<String> = remote
        .backend()
        .list(&remote.key("data/"))?
        .into_iter()
        .map(|o| o.key)
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
    let mut run = Run {
        store,
        remote,
        options,
        progress,
        st,
        prog: PushProgress::default(),
        view: View { manifests, objects },
        report,
        local: &listing.backups,
        todo: HashSet::new(),
        tried: HashSet::new(),
    };
    let mut todo: Vec<&BackupInfo> = Vec::new();
    for info in &listing.backups {
        if on_remote.contains(&info.id.to_string()) {
            run.report.already += 1;
            continue;
        }
        match (&info.checksum, info.has_data(), &info.meta_path) {
            (Some(_), true, Some(_)) => todo.push(info),
            (_, false, _) => run.report.skipped.push(PushFailure {
                id: info.id.clone(),
                reason: "its data file is missing".to_string(),
            }),
            _ => run.report.skipped.push(PushFailure {
                id: info.id.clone(),
                reason: "it has no usable meta, so nothing could verify it later".to_string(),
            }),
        }
    }
    run.todo = todo.iter().map(|i| i.id.clone()).collect();
    run.prog = PushProgress {
        backups_total: todo.len(),
        bytes_total: todo.iter().filter_map(|i| i.size.or(i.plain_size)).sum(),
        ..PushProgress::default()
    };
    progress(&run.prog);
    for info in todo {
        run.send(info)?;
    }
    let mut report = run.report;
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

/// What the remote holds, as far as this push knows: the manifests listed
/// at its start and those it wrote, and the data objects present.
struct View {
    manifests: Vec<Manifest>,
    /// Full keys of the data objects.
    objects: HashSet<String>,
}

impl View {
    /// A backup on the remote whose data object holds `checksum`'s content
    /// and is there: one of `id` first, then a full one, then any.
    /// `full_only` leaves deltas out (a base, or a full backup that must
    /// stay restorable on its own); `encrypted` asks for objects of that
    /// kind (`None`: either).
    fn holding(
        &self,
        remote: &Remote,
        checksum: &str,
        id: Option<&BackupId>,
        full_only: bool,
        encrypted: Option<bool>,
    ) -> Option<&Manifest> {
        let usable = |m: &&Manifest| {
            m.checksum == checksum
                && m.form().is_ok()
                && (!full_only || m.is_full())
                && encrypted.is_none_or(|e| m.encryption.is_some() == e)
                && self.objects.contains(&remote.key(&m.data_key))
        };
        let id = id.map(ToString::to_string);
        self.manifests
            .iter()
            .filter(usable)
            .find(|m| Some(&m.id) == id.as_ref())
            .or_else(|| self.manifests.iter().filter(usable).find(|m| m.is_full()))
            .or_else(|| self.manifests.iter().find(usable))
    }
}

/// A local backup as a push sends it: its stored bytes as they are.
struct Local<'a> {
    info: &'a BackupInfo,
    /// The meta file, byte for byte.
    meta_text: String,
    form: StoredForm,
    /// SHA-256 (hex) and size of the stored bytes, as the meta records
    /// them (the plain checksum and size for plain JSON).
    encoded_sha256: String,
    encoded_size: u64,
    /// For a delta: the local base's id and the plain checksum it must have.
    base: Option<(BackupId, String)>,
}

impl Local<'_> {
    fn checksum(&self) -> String {
        self.info.checksum.clone().unwrap_or_default()
    }
    fn plain_size(&self) -> u64 {
        self.info.plain_size.or(self.info.size).unwrap_or(0)
    }
}

/// Reads what a push needs of a local backup from its meta. A compressed
/// backup whose meta records no stored checksum is proven by decoding it.
fn describe<'a>(store: &Store, remote: &Remote, info: &'a BackupInfo) -> Result<Local<'a>> {
    let meta_path = info.meta_path.clone().unwrap_or_default();
    let bytes =
        crate::store::fs::read_file(store.fs(), &meta_path, crate::store::meta::MAX_META_LEN)
            .map_err(|e| crate::store::StoreError::io("read backup meta", &meta_path, e))?;
    let meta_text = String::from_utf8(bytes).map_err(|_| RemoteError::VerifyFailed {
        id: info.id.to_string(),
        remote: remote.config.name.clone(),
        reason: "its meta is not UTF-8 text".to_string(),
    })?;
    let meta = crate::store::meta::Meta::from_slice(meta_text.as_bytes()).map_err(|e| {
        RemoteError::VerifyFailed {
            id: info.id.to_string(),
            remote: remote.config.name.clone(),
            reason: format!("its meta is not valid: {e}"),
        }
    })?;
    let checksum = info.checksum.clone().unwrap_or_default();
    let (encoded_sha256, encoded_size) = match (info.form, meta.stored_sha256()) {
        (StoredForm::Plain, _) => (checksum.clone(), info.size.unwrap_or(0)),
        (_, Some(sha)) => (
            sha.to_ascii_lowercase(),
            meta.stored_size.or(info.size).unwrap_or(0),
        ),
        (_, None) => {
            // Nothing records the stored bytes: prove them by decoding.
            let (plain, _) = crate::store::codec::hash_plain(
                store.fs(),
                &info.data_path,
                crate::store::MAX_GRAPH_LEN,
            )
            .map_err(|e| crate::store::StoreError::io("read backup", &info.data_path, e))?;
            if plain != checksum {
                return Err(local_corrupt(info, &checksum, &plain));
            }
            crate::store::verify::hash_file(
                store.fs(),
                &info.data_path,
                crate::store::MAX_GRAPH_LEN,
            )
            .map_err(|e| crate::store::StoreError::io("read backup", &info.data_path, e))?
        }
    };
    let base = if info.form == StoredForm::Delta {
        let id = meta
            .delta_base
            .as_deref()
            .and_then(|b| b.parse::<BackupId>().ok());
        let sha = meta.delta_base_checksum.clone().filter(|s| !s.is_empty());
        match (id, sha) {
            (Some(id), Some(sha)) => Some((id, sha.to_ascii_lowercase())),
            _ => {
                return Err(RemoteError::VerifyFailed {
                    id: info.id.to_string(),
                    remote: remote.config.name.clone(),
                    reason: "it is a delta and its meta does not name its base and the base's checksum, so it could never be read back; nothing was sent".to_string(),
                });
            }
        }
    } else {
        None
    };
    Ok(Local {
        info,
        meta_text,
        form: info.form,
        encoded_sha256,
        encoded_size,
        base,
    })
}

/// One push's working state.
struct Run<'a, 's> {
    store: &'a Store,
    remote: &'a Remote,
    options: &'a PushOptions,
    progress: &'a dyn Fn(&PushProgress),
    st: &'s mut RemoteState,
    prog: PushProgress,
    view: View,
    report: PushReport,
    /// Every local backup (a delta's base is looked up here).
    local: &'a [BackupInfo],
    /// The backups this push is to send.
    todo: HashSet<BackupId>,
    /// Those it has tried (a base is tried before its delta, once).
    tried: HashSet<BackupId>,
}

impl Run<'_, '_> {
    /// Sends one backup (its base first when it is a delta whose base is
    /// not on the remote) and records the outcome.
    ///
    /// # Errors
    /// Only a failure that stops every upload.
    fn send(&mut self, info: &BackupInfo) -> Result<()> {
        if !self.tried.insert(info.id.clone()) {
            return Ok(());
        }
        self.prog.backup = Some(info.id.to_string());
        self.prog.parts_done = 0;
        (self.progress)(&self.prog);
        let result = describe(self.store, self.remote, info).and_then(|local| {
            let base = self.base_for(&local)?;
            self.prog.backup = Some(info.id.to_string());
            self.prog.parts_done = 0;
            self.push_one(&local, base)
        });
        match result {
            Ok(pushed) => {
                self.report.bytes_sent += pushed.bytes_sent;
                self.st.backups.insert(
                    info.id.to_string(),
                    OffsiteEntry {
                        status: OffsiteStatus::Verified,
                        at: state::now_text(),
                        detail: None,
                    },
                );
                self.report.sent.push(pushed);
            }
            Err(e) => {
                self.st.backups.insert(
                    info.id.to_string(),
                    OffsiteEntry {
                        status: OffsiteStatus::Failed,
                        at: state::now_text(),
                        detail: Some(e.to_string()),
                    },
                );
                if is_fatal(&e) {
                    return Err(e);
                }
                tracing::warn!(backup = %info.id, error = %e, "push of one backup failed");
                self.report.failed.push(PushFailure {
                    id: info.id.clone(),
                    reason: e.to_string(),
                });
            }
        }
        self.prog.backups_done += 1;
        (self.progress)(&self.prog);
        Ok(())
    }

    /// For a delta: the remote backup it will be read through (a full
    /// backup with its base's content), pushing the local base first when
    /// the remote has none. `None` for a full backup, and for a delta
    /// whose content is already on the remote (nothing of it is sent).
    ///
    /// # Errors
    /// The base cannot be put on the remote: the delta is not sent, so no
    /// remote delta ever lacks its base.
    fn base_for(&mut self, local: &Local<'_>) -> Result<Option<(String, String)>> {
        let Some((base_id, base_sha)) = local.base.clone() else {
            return Ok(None);
        };
        let encrypted = Some(self.remote.encrypts());
        if self
            .view
            .holding(self.remote, &local.checksum(), None, false, encrypted)
            .is_some()
        {
            return Ok(None);
        }
        let remote = self.remote;
        let found = |view: &View| {
            view.holding(remote, &base_sha, Some(&base_id), true, None)
                .map(|m| (m.id.clone(), base_sha.clone()))
        };
        if let Some(b) = found(&self.view) {
            return Ok(Some(b));
        }
        let all = self.local;
        let base_info = all.iter().find(|b| b.id == base_id);
        if let Some(b) = base_info
            && self.todo.contains(&b.id)
        {
            self.send(b)?;
            if let Some(found) = found(&self.view) {
                return Ok(Some(found));
            }
        }
        let why = if let Some(f) = self.report.failed.iter().find(|f| f.id == base_id) {
            format!("pushing it failed: {}", f.reason)
        } else if let Some(s) = self.report.skipped.iter().find(|s| s.id == base_id) {
            format!("it cannot be pushed: {}", s.reason)
        } else if base_info.is_none() {
            "it is not among the local backups".to_string()
        } else {
            "the remote has no full backup with its content (its id there holds other content, or no data object)".to_string()
        };
        Err(RemoteError::VerifyFailed {
            id: local.info.id.to_string(),
            remote: self.remote.config.name.clone(),
            reason: format!(
                "it is a delta and its base {base_id} is not on the remote: {why}; a delta is never pushed without its base, so nothing was sent"
            ),
        })
    }

    fn push_one(
        &mut self,
        local: &Local<'_>,
        base: Option<(String, String)>,
    ) -> Result<PushedBackup> {
        let (store, remote, options) = (self.store, self.remote, self.options);
        let info = local.info;
        let checksum = local.checksum();
        let encrypt = remote.encrypts();
        // The same content already there, in a form that needs no more
        // than this one does (a full backup never becomes a delta there).
        let existing = self
            .view
            .holding(remote, &checksum, None, local.form.is_full(), Some(encrypt))
            .cloned();
        let (rel, form, stored, encoded, base) = if let Some(m) = existing {
            let stored = reuse_named(remote, info, &m)?;
            let form = m.form().unwrap_or(StoredForm::Plain);
            let encoded = (
                m.encoded_size.unwrap_or(m.size),
                m.encoded_sha256().to_string(),
            );
            let base = m.delta_base.clone().zip(m.delta_base_checksum.clone());
            (m.data_key.clone(), form, stored, encoded, base)
        } else {
            let rel = data_key(&checksum, local.form, encrypt);
            let key = remote.key(&rel);
            let stored = if self.view.objects.contains(&key) {
                let pending = self.st.upload.as_ref().filter(|u| u.key == key);
                let stored = reuse_unnamed(remote, store, local, &key, options, pending)?;
                // An upload of this key left pending (its completion went
                // through but the answer was lost) has nothing left to do.
                if let Some(u) = self.st.upload.take_if(|u| u.key == key) {
                    abandon(store, remote, &u);
                }
                stored
            } else if local.encoded_size >= options.multipart_threshold {
                let resuming = self.st.upload.as_ref().is_some_and(|u| u.key == key);
                let (st, prog, progress) = (&mut *self.st, &mut self.prog, self.progress);
                match upload_multipart(store, remote, options, local, &key, st, prog, progress) {
                    Ok(s) => s,
                    // The server may have forgotten the upload (restarted
                    // without it, or expired it): start once more from the
                    // first part.
                    Err(e) if resuming && !is_fatal(&e) => {
                        tracing::warn!(error = %e, "resuming the multipart upload failed; starting it again");
                        if let Some(u) = st.upload.take() {
                            abandon(store, remote, &u);
                        }
                        upload_multipart(store, remote, options, local, &key, st, prog, progress)?
                    }
                    Err(e) => return Err(e),
                }
            } else {
                upload_single(store, remote, local, &key)?
            };
            let encoded = (local.encoded_size, local.encoded_sha256.clone());
            (rel, local.form, stored, encoded, base)
        };
        self.prog.bytes_done += local.encoded_size;

        let full = form.is_full();
        let manifest = Manifest {
            graphvault_remote: super::MANIFEST_VERSION,
            id: info.id.to_string(),
            checksum,
            size: local.plain_size(),
            data_key: rel.clone(),
            stored_size: stored.size,
            stored_checksum: stored.checksum,
            part_size: stored.part_size,
            encryption: remote.encrypts().then(|| "age".to_string()),
            stored_format: (form != StoredForm::Plain).then(|| form.name().to_string()),
            encoded_size: (form != StoredForm::Plain).then_some(encoded.0),
            encoded_sha256: (form != StoredForm::Plain).then_some(encoded.1),
            delta_base: base.as_ref().filter(|_| !full).map(|b| b.0.clone()),
            delta_base_checksum: base.filter(|_| !full).map(|b| b.1),
            meta: local.meta_text.clone(),
            pushed_at: state::now_text(),
            pushed_by: crate::store::meta::SAVED_BY.to_string(),
        };
        let bytes = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
        let mkey = remote.key(&manifest_key(&info.id));
        // Already there means another push got here first with the same id;
        // it is on the remote either way.
        let _ = remote.backend().put_create(&mkey, bytes)?;
        self.view.objects.insert(remote.key(&rel));
        self.view.manifests.push(manifest);
        Ok(PushedBackup {
            id: info.id.clone(),
            bytes_sent: stored.bytes_sent,
            data: stored.how,
        })
    }
}

/// What was stored for one data object.
struct Stored {
    size: u64,
    checksum: String,
    part_size: Option<u64>,
    bytes_sent: u64,
    how: &'static str,
}

/// Reuses the data object of a backup already on the remote with the same
/// content, when the server still reports the checksum its push recorded.
fn reuse_named(remote: &Remote, info: &BackupInfo, m: &Manifest) -> Result<Stored> {
    let key = remote.key(&m.data_key);
    let server = remote.backend().server_checksum(&key)?;
    if server.as_deref() == Some(m.stored_checksum.as_str()) {
        return Ok(Stored {
            size: m.stored_size,
            checksum: m.stored_checksum.clone(),
            part_size: m.part_size,
            bytes_sent: 0,
            how: "reused",
        });
    }
    Err(RemoteError::VerifyFailed {
        id: info.id.to_string(),
        remote: remote.config.name.clone(),
        reason: format!(
            "the data object {key} (also used by {}) reports checksum {} instead of {}; it was not overwritten",
            m.id,
            server.as_deref().unwrap_or("none"),
            m.stored_checksum
        ),
    })
}

/// An object no manifest names at this backup's key: left by a push
/// interrupted between the data and the manifest, or by a concurrent
/// push. Reused when it can be shown to hold these stored bytes (the
/// server's checksum is the one of this machine's pending upload of it,
/// or of the local stored bytes, or it decrypts to them).
fn reuse_unnamed(
    remote: &Remote,
    store: &Store,
    local: &Local<'_>,
    key: &str,
    options: &PushOptions,
    pending: Option<&PendingUpload>,
) -> Result<Stored> {
    let info = local.info;
    let server = remote.backend().server_checksum(key)?;
    if let Some(p) = pending.filter(|p| p.checksum == local.encoded_sha256) {
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
    let bytes = read_checked(store, local)?;
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

/// Reads a local backup's stored bytes as they are (a zstd or delta frame
/// is not decoded) and checks them against its meta before sending.
fn read_checked(store: &Store, local: &Local<'_>) -> Result<Vec<u8>> {
    let path = &local.info.data_path;
    let bytes = crate::store::fs::read_file(store.fs(), path, crate::store::MAX_GRAPH_LEN)
        .map_err(|e| crate::store::StoreError::io("read backup", path, e))?;
    let actual = crate::store::verify::sha256_hex(&bytes);
    if actual != local.encoded_sha256 {
        return Err(local_corrupt(local.info, &local.encoded_sha256, &actual));
    }
    Ok(bytes)
}

/// The local file does not hash to what its meta records (`expected`: the
/// plain checksum for plain JSON, the stored checksum for a frame).
fn local_corrupt(info: &BackupInfo, expected: &str, actual: &str) -> RemoteError {
    RemoteError::Store(crate::store::StoreError::ChecksumMismatch {
        path: info.data_path.clone(),
        expected: expected.to_string(),
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

fn upload_single(store: &Store, remote: &Remote, local: &Local<'_>, key: &str) -> Result<Stored> {
    let bytes = read_checked(store, local)?;
    let stored = match (remote.encrypts(), remote.keys()) {
        (true, Some(k)) => k.encrypt(&bytes)?,
        (true, None) => {
            return Err(RemoteError::Crypto("no encryption key loaded".to_string()));
        }
        (false, _) => bytes,
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

/// Encrypts the backup's stored bytes into the remote's staged ciphertext
/// file (written atomically and synced), checking them against the meta
/// on the way. Returns the ciphertext's SHA-256 (hex).
fn stage_ciphertext(store: &Store, remote: &Remote, local: &Local<'_>) -> Result<String> {
    let info = local.info;
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
    let crate::store::fs::ReadFile { mut reader, .. } = store
        .fs()
        .open_read(&info.data_path, crate::store::MAX_GRAPH_LEN)
        .map_err(|e| crate::store::StoreError::io("open backup", &info.data_path, e))?;
    let mut source_hash = sha2::Sha256::new();
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
                source_hash.update(&buf[..n]);
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
    let actual = crate::store::verify::hex(&source_hash.finalize());
    if actual != local.encoded_sha256 {
        state::remove_staged(store, &remote.config.name);
        return Err(local_corrupt(info, &local.encoded_sha256, &actual));
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
    local: &Local<'_>,
    key: &str,
    st: &mut RemoteState,
    prog: &mut PushProgress,
    progress: &dyn Fn(&PushProgress),
) -> Result<Stored> {
    let part_size = options.part_size.max(5 << 20);
    let part_len = usize::try_from(part_size).unwrap_or(8 << 20);
    let info = local.info;
    // The pending upload is of these stored bytes.
    let checksum = local.encoded_sha256.clone();
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
                Some(stage_ciphertext(store, remote, local)?)
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
    // The stored bytes as they are (a zstd or delta frame is never
    // decoded here), or their staged ciphertext.
    let opened = store
        .fs()
        .open_read(&source, crate::store::MAX_GRAPH_LEN * 2)
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
    // The hash of everything read: the stored bytes (checked against the
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
        return Err(local_corrupt(info, &expected_source, &actual));
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
