//! Remote retention: its own policy, under the same safety rules as the
//! local one (the planner is the same: the newest valid backup is always
//! kept, a floor of valid backups, every decision with its reasons, and a
//! dry run unless applied). Health comes from the server checksums.
//!
//! A delta is read through its base: the base of a delta the plan keeps
//! is kept too, with a reason naming the delta (as local retention does).
//!
//! Removing a backup deletes its manifest first (it is then no longer
//! listed) and then its data object when no other manifest names it. A
//! bucket with versioning keeps what is deleted as old versions behind a
//! delete marker; object lock (which S3 only allows with versioning)
//! keeps each locked version until its retention ends. graphvault never
//! fights either: it deletes no version, and a delete the server refuses
//! is reported and the backup stays listed.

use std::time::Instant;

use serde::Serialize;

use super::backend::BucketProtection;
use super::error::Result;
use super::inspect::check_backup;
use super::{Remote, manifest_key};
use crate::store::codec::StoredForm;
use crate::store::names::BackupId;
use crate::store::retention::{self, Action, Candidate, Health, RetentionPlan, RetentionPolicy};
use crate::store::verify::Status;

/// Options of [`rotate`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RemoteRotateOptions {
    pub dry_run: bool,
}

/// What remote retention decided and did.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteRotateReport {
    pub remote: String,
    pub url: String,
    pub policy: RetentionPolicy,
    pub dry_run: bool,
    pub plan: RetentionPlan,
    /// Backups no longer listed on the remote.
    pub removed: Vec<String>,
    /// Deletes the server refused (object lock, permissions): still listed.
    pub refused: Vec<(String, String)>,
    pub protection: BucketProtection,
    pub notes: Vec<String>,
    pub elapsed_ms: f64,
}

/// Plans `policy` over the remote's backups and, unless `dry_run`, removes
/// what it decides to remove.
///
/// # Errors
/// An invalid policy, or a listing/connection failure (before anything is
/// deleted).
pub fn rotate(
    remote: &Remote,
    policy: &RetentionPolicy,
    options: RemoteRotateOptions,
) -> Result<RemoteRotateReport> {
    let started = Instant::now();
    policy.validate()?;
    let (manifests, unreadable) = remote.manifests()?;
    let mut candidates = Vec::new();
    for m in &manifests {
        let Ok(id) = m.backup_id() else { continue };
        let (check, _) = check_backup(remote, m, false, None)?;
        let health = match check.status {
            Status::Valid => Health::Valid,
            Status::Unverified => Health::Unverified,
            _ => Health::Corrupt(check.reason.unwrap_or_default()),
        };
        candidates.push(Candidate::new(id, health));
    }
    for (id, why) in &unreadable {
        if let Ok(id) = id.parse::<BackupId>() {
            // A manifest that could not be read is not judged corrupt:
            // what cannot be judged is kept.
            candidates.push(Candidate::new(id, Health::Unjudged(why.clone())));
        }
    }
    candidates.sort_by(|a, b| b.id.cmp(&a.id));
    let mut plan = retention::plan(policy, &candidates, chrono::Local::now().naive_local())?;
    // A delta is read through its base: the base of every kept delta is
    // kept, whatever the policy says of it, and its reasons say why.
    let deltas: Vec<(BackupId, BackupId)> = manifests
        .iter()
        .filter(|m| m.form() == Ok(StoredForm::Delta))
        .filter_map(|m| Some((m.backup_id().ok()?, m.base_id()?)))
        .collect();
    retention::keep_bases_of_kept_deltas(&mut plan, &deltas);
    let protection = remote.backend().protection();
    let mut notes = Vec::new();
    if protection.versioning.as_deref() == Some("Enabled") {
        notes.push("the bucket keeps versions: removed backups stay as old versions until the bucket's lifecycle rules expire them".to_string());
    }
    if protection.object_lock {
        notes.push("the bucket has object lock: a removal only adds a delete marker, and each locked version stays until its retention ends (graphvault never deletes a version); a delete the server refuses is reported and the backup stays listed".to_string());
    }
    let mut report = RemoteRotateReport {
        remote: remote.config.name.clone(),
        url: remote.url.to_string(),
        policy: policy.clone(),
        dry_run: options.dry_run,
        plan,
        removed: Vec::new(),
        refused: Vec::new(),
        protection,
        notes,
        elapsed_ms: 0.0,
    };
    if !options.dry_run {
        let removing: Vec<BackupId> = report
            .plan
            .decisions
            .iter()
            .filter(|d| d.action == Action::Remove)
            .map(|d| d.id.clone())
            .collect();
        let mut remaining: Vec<&super::Manifest> = manifests.iter().collect();
        for id in removing {
            let key = remote.key(&manifest_key(&id));
            match remote.backend().delete(&key) {
                Ok(()) => {
                    let data = remaining
                        .iter()
                        .find(|m| m.id == id.to_string())
                        .map(|m| m.data_key.clone());
                    remaining.retain(|m| m.id != id.to_string());
                    report.removed.push(id.to_string());
                    if let Some(data) = data
                        && !remaining.iter().any(|m| m.data_key == data)
                        && let Err(e) = remote.backend().delete(&remote.key(&data))
                    {
                        // The backup is unlisted already; the object is
                        // debris that `remote ls` shows as unreferenced.
                        report.notes.push(format!(
                            "{id}: its data object {data} could not be deleted: {e}"
                        ));
                    }
                }
                Err(e) => report.refused.push((id.to_string(), e.to_string())),
            }
        }
    }
    report.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    Ok(report)
}
