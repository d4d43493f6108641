//! The remote commands: `remote add|list|remove|ls|verify|restore|rotate`,
//! `push [NAME]` and `recover --from-remote`. Each calls one operation of
//! [`crate::remote`] and renders its report as text or JSON.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::{Failure, Outcome, PolicyArgs, exit, outcome};
use crate::present::{human_size, short_checksum};
use crate::remote::fetch::{FetchOptions, FetchSource, RemoteRecoveryReport};
use crate::remote::inspect::{RemoteListing, RemoteVerifyOptions, RemoteVerifyReport};
use crate::remote::prune::{RemoteRotateOptions, RemoteRotateReport};
use crate::remote::push::{AutoPushOutcome, PushOptions, PushProgress, PushReport};
use crate::remote::{Encryption, Remote, RemoteConfig, RemoteError};
use crate::store::Store;
use crate::store::retention::Action;
use crate::store::verify::{Outcome as LevelOutcome, Status};

/// `graphvault remote ...`
#[derive(Debug, Subcommand)]
pub enum RemoteCommand {
    /// Add a remote (S3 or S3-compatible) to the store's config.
    Add {
        /// A short name for it (letters, digits, '-', '_').
        name: String,
        /// s3://BUCKET/PREFIX
        url: String,
        #[command(flatten)]
        endpoint: EndpointArgs,
        /// Push after every save (a failed push never fails the save).
        #[arg(long)]
        auto_push: bool,
        /// Encrypt backups to this age recipient (age1...). Deep verify and
        /// recovery then need the identity file (--identity-file).
        #[arg(long, value_name = "RECIPIENT", conflicts_with = "encrypt_key_file")]
        encrypt_to: Option<String>,
        /// Encrypt with the age identity in this file (kept outside the
        /// store; only its path is stored) and decrypt with it.
        #[arg(long, value_name = "PATH")]
        encrypt_key_file: Option<PathBuf>,
    },
    /// List the store's remotes.
    List,
    /// Remove a remote from the store's config (nothing on it is deleted).
    Remove { name: String },
    /// List a remote's backups, newest first.
    Ls { name: String },
    /// Verify a remote's backups (server checksums; --deep downloads,
    /// decrypts and climbs the whole ladder).
    Verify {
        name: String,
        /// Only this backup id.
        id: Option<String>,
        #[arg(long)]
        deep: bool,
        #[command(flatten)]
        identity: IdentityArgs,
    },
    /// Fetch one remote backup, verify it, install it as a local backup
    /// and restore it as the primary.
    Restore {
        name: String,
        id: String,
        /// Verify and show what would be installed; write nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        identity: IdentityArgs,
    },
    /// Apply a retention policy to the remote (dry run unless --apply).
    Rotate {
        name: String,
        #[command(flatten)]
        policy: PolicyArgs,
        #[arg(long)]
        apply: bool,
        /// With --apply, store the policy as this remote's own.
        #[arg(long)]
        save_policy: bool,
    },
}

/// Where a remote's server is, when it is not AWS.
#[derive(Debug, Args, Default, Clone)]
pub struct EndpointArgs {
    /// The S3 endpoint (http://127.0.0.1:8333 for a local SeaweedFS).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
}

/// The age identity that decrypts an encrypted remote.
#[derive(Debug, Args, Default, Clone)]
pub struct IdentityArgs {
    /// An age identity file that decrypts the remote's backups (needed
    /// when the remote was added with --encrypt-to, or on a new machine).
    #[arg(long, value_name = "PATH", env = "GRAPHVAULT_AGE_IDENTITY")]
    pub identity_file: Option<PathBuf>,
}

/// The remote options of `recover`.
#[derive(Debug, Args, Default, Clone)]
pub struct FromRemoteArgs {
    /// Recover from this remote: a name from the store's config, or
    /// s3://BUCKET/PREFIX on a new machine.
    #[arg(long, value_name = "NAME|URL")]
    pub from_remote: Option<String>,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    #[command(flatten)]
    pub identity: IdentityArgs,
}

impl From<RemoteError> for Failure {
    fn from(e: RemoteError) -> Self {
        let (code, kind) = match &e {
            RemoteError::Store(_) => (0, ""),
            RemoteError::Auth { .. } => (exit::REMOTE, "remote_auth"),
            RemoteError::Unreachable { .. } => (exit::REMOTE, "remote_unreachable"),
            RemoteError::NoSuchBucket { .. } => (exit::REMOTE, "remote_no_bucket"),
            RemoteError::Server { .. } => (exit::REMOTE, "remote"),
            RemoteError::Config(_) => (exit::USAGE, "invalid_remote"),
            RemoteError::NoSuchRemote { .. } => (exit::FAILURE, "no_such_remote"),
            // As for a local backup: an id that names nothing is a usage error.
            RemoteError::NoSuchBackup { .. } => (exit::USAGE, "no_such_backup"),
            RemoteError::Crypto(_) => (exit::FAILURE, "crypto"),
            RemoteError::WrongKey(_) => (exit::FAILURE, "wrong_key"),
            RemoteError::VerifyFailed { .. } => (exit::INTEGRITY, "verification_failed"),
            RemoteError::NothingRecoverable { .. } => {
                (exit::NOTHING_RECOVERABLE, "nothing_recoverable")
            }
        };
        match e {
            RemoteError::Store(inner) => Failure::from(inner),
            e => Failure {
                code,
                kind,
                message: e.to_string(),
            },
        }
    }
}

fn find<'a>(store: &'a Store, name: &str) -> Result<&'a RemoteConfig, RemoteError> {
    store
        .config()
        .remotes
        .iter()
        .find(|r| r.name == name)
        .ok_or_else(|| RemoteError::NoSuchRemote {
            name: name.to_string(),
            store: store.root().to_path_buf(),
        })
}

fn open(store: &Store, name: &str, identity: Option<&Path>) -> Result<Remote, RemoteError> {
    Remote::open(find(store, name)?, identity)
}

/// A key file inside the store would travel with it (and be lost with it).
fn refuse_inside_store(store: &Store, path: &Path) -> Result<PathBuf, Failure> {
    let abs = std::path::absolute(path).map_err(|e| Failure {
        code: exit::USAGE,
        kind: "invalid_remote",
        message: format!("key file {}: {e}", path.display()),
    })?;
    let root = std::path::absolute(store.root()).unwrap_or_else(|_| store.root().to_path_buf());
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    if canon(&abs).starts_with(canon(&root)) {
        return Err(Failure {
            code: exit::USAGE,
            kind: "invalid_remote",
            message: format!(
                "key file {} is inside the store {}: keep it elsewhere, or it is lost with the store; nothing was changed",
                abs.display(),
                root.display()
            ),
        });
    }
    Ok(abs)
}

fn save_config(store: &Store, config: crate::store::StoreConfig) -> Result<(), Failure> {
    if let Some(problem) = store.config_problem() {
        return Err(Failure {
            code: exit::FAILURE,
            kind: "refused",
            message: format!(
                "the store's config cannot be used ({problem}); it was not changed, fix it first"
            ),
        });
    }
    let mut s = store.clone();
    s.set_config(config)?;
    Ok(())
}

/// Runs `graphvault remote ...`.
pub(super) fn execute(
    store: &Store,
    json: bool,
    command: &RemoteCommand,
) -> Result<Outcome, Failure> {
    match command {
        RemoteCommand::Add {
            name,
            url,
            endpoint,
            auto_push,
            encrypt_to,
            encrypt_key_file,
        } => {
            let encryption = match (encrypt_to, encrypt_key_file) {
                (Some(r), _) => Some(Encryption::Recipient {
                    recipient: r.trim().to_string(),
                }),
                (None, Some(p)) => {
                    let path = refuse_inside_store(store, p)?;
                    // Read it now: a typo must fail here, not at the first push.
                    crate::remote::crypt::Keys::load(
                        &Encryption::KeyFile { path: path.clone() },
                        None,
                    )?;
                    Some(Encryption::KeyFile { path })
                }
                (None, None) => None,
            };
            let remote = RemoteConfig {
                name: name.clone(),
                url: url.clone(),
                endpoint: endpoint.endpoint.clone(),
                region: endpoint.region.clone(),
                auto_push: *auto_push,
                encryption,
                retention: None,
            };
            remote.validate()?;
            let mut config = store.config().clone();
            if config.remotes.iter().any(|r| r.name == *name) {
                return Err(Failure {
                    code: exit::USAGE,
                    kind: "invalid_remote",
                    message: format!(
                        "a remote named {name:?} exists already; remove it first. Nothing was changed"
                    ),
                });
            }
            config.remotes.push(remote.clone());
            save_config(store, config)?;
            let text = format!("added remote {}\n", remote.describe());
            Ok(outcome(json, &remote, text, exit::OK))
        }
        RemoteCommand::List => {
            let remotes = &store.config().remotes;
            let mut text = String::new();
            if remotes.is_empty() {
                text.push_str(
                    "no remotes (add one with `graphvault remote add NAME s3://BUCKET/PREFIX`)\n",
                );
            }
            for r in remotes {
                let st = crate::remote::state::load(store, &r.name);
                let last = st
                    .last_push
                    .map(|l| format!("last push {} {}", l.at, if l.ok { "ok" } else { "FAILED" }))
                    .unwrap_or_else(|| "never pushed".to_string());
                let _ = writeln!(
                    text,
                    "{}  {}{}{}{}  {last}",
                    r.name,
                    r.url,
                    r.endpoint
                        .as_deref()
                        .map(|e| format!("  endpoint {e}"))
                        .unwrap_or_default(),
                    if r.auto_push { "  auto-push" } else { "" },
                    match &r.encryption {
                        Some(Encryption::Recipient { .. }) => "  encrypted (recipient)",
                        Some(Encryption::KeyFile { .. }) => "  encrypted (key file)",
                        None => "",
                    }
                );
            }
            Ok(outcome(json, remotes, text, exit::OK))
        }
        RemoteCommand::Remove { name } => {
            let removed = find(store, name)?.clone();
            let mut config = store.config().clone();
            config.remotes.retain(|r| r.name != *name);
            save_config(store, config)?;
            crate::remote::state::forget(store, name);
            let text = format!(
                "removed remote {} from the config; nothing on it was deleted\n",
                removed.describe()
            );
            Ok(outcome(json, &removed, text, exit::OK))
        }
        RemoteCommand::Ls { name } => {
            let remote = open(store, name, None)?;
            let listing = crate::remote::inspect::list(&remote)?;
            Ok(outcome(json, &listing, render_listing(&listing), exit::OK))
        }
        RemoteCommand::Verify {
            name,
            id,
            deep,
            identity,
        } => {
            let remote = open(store, name, identity.identity_file.as_deref())?;
            let report = crate::remote::inspect::verify(
                &remote,
                &RemoteVerifyOptions {
                    deep: *deep,
                    id: id.clone(),
                },
                Some(store),
            )?;
            let code = if report.has_problems() {
                exit::INTEGRITY
            } else {
                exit::OK
            };
            Ok(outcome(json, &report, render_verify(&report), code))
        }
        RemoteCommand::Restore {
            name,
            id,
            dry_run,
            identity,
        } => {
            let remote = open(store, name, identity.identity_file.as_deref())?;
            let report = crate::remote::fetch::restore(
                store,
                &remote,
                id,
                FetchOptions { dry_run: *dry_run },
            )?;
            Ok(outcome(json, &report, render_recovery(&report), exit::OK))
        }
        RemoteCommand::Rotate {
            name,
            policy,
            apply,
            save_policy,
        } => {
            let config = find(store, name)?.clone();
            let policy = if policy.any_rule() {
                policy.policy(store)?
            } else {
                let mut p = config.retention.clone().unwrap_or_default();
                if let Some(n) = policy.min_valid {
                    p.min_valid = n;
                }
                p
            };
            if *save_policy && *apply {
                let mut all = store.config().clone();
                if let Some(r) = all.remotes.iter_mut().find(|r| r.name == *name) {
                    r.retention = Some(policy.clone());
                }
                save_config(store, all)?;
            }
            let remote = Remote::open(&config, None)?;
            let report = crate::remote::prune::rotate(
                &remote,
                &policy,
                RemoteRotateOptions { dry_run: !apply },
            )?;
            let _ = json;
            Ok(outcome(json, &report, render_rotate(&report), exit::OK))
        }
    }
}

/// `graphvault push [NAME]`: one remote, or every remote of the store.
pub(super) fn push(store: &Store, json: bool, name: Option<&str>) -> Result<Outcome, Failure> {
    let names: Vec<String> = match name {
        Some(n) => vec![find(store, n)?.name.clone()],
        None => store
            .config()
            .remotes
            .iter()
            .map(|r| r.name.clone())
            .collect(),
    };
    if names.is_empty() {
        return Err(Failure {
            code: exit::USAGE,
            kind: "no_such_remote",
            message: format!(
                "{} has no remotes; add one with `graphvault remote add NAME s3://BUCKET/PREFIX`",
                store.root().display()
            ),
        });
    }
    let bar = super::progress::Progress::new("pushing backups", json);
    let progress = |p: &PushProgress| {
        bar.update(p.backups_done, p.backups_total, p.bytes_done, p.bytes_total);
    };
    let mut reports: Vec<PushReport> = Vec::new();
    for n in &names {
        let remote = open(store, n, None)?;
        let report = crate::remote::push::push(store, &remote, &PushOptions::default(), &progress);
        reports.push(report?);
    }
    bar.finish();
    let code = if reports.iter().all(PushReport::ok) {
        exit::OK
    } else {
        exit::REMOTE
    };
    let text: String = reports.iter().map(render_push).collect();
    if name.is_some() {
        Ok(outcome(json, &reports[0], text, code))
    } else {
        Ok(outcome(json, &reports, text, code))
    }
}

/// `graphvault recover --from-remote NAME|URL`.
pub(super) fn recover(
    store: &Store,
    json: bool,
    args: &FromRemoteArgs,
    from: &str,
    dry_run: bool,
) -> Result<Outcome, Failure> {
    let identity = args.identity.identity_file.as_deref();
    let remote = if from.starts_with("s3://") {
        // A new machine: no config, so the URL, endpoint and identity
        // file given here are all there is.
        let config = RemoteConfig {
            name: "recovery".to_string(),
            url: from.to_string(),
            endpoint: args.endpoint.endpoint.clone(),
            region: args.endpoint.region.clone(),
            auto_push: false,
            encryption: None,
            retention: None,
        };
        Remote::open(&config, identity)?
    } else {
        open(store, from, identity)?
    };
    let report = crate::remote::fetch::recover(store, &remote, FetchOptions { dry_run })?;
    let code = if report.source == FetchSource::Nothing {
        exit::NOTHING_RECOVERABLE
    } else {
        exit::OK
    };
    Ok(outcome(json, &report, render_recovery(&report), code))
}

/// Runs the store's auto-push remotes after a save and says how it went.
/// Never fails the save.
pub(super) fn auto_push_after_save(store: &Store, out: &mut Outcome) {
    if !store.config().remotes.iter().any(|r| r.auto_push) {
        return;
    }
    let outcomes: Vec<AutoPushOutcome> = crate::remote::push::auto_push(store);
    for o in &outcomes {
        if o.ok {
            let _ = writeln!(out.text, "auto-push to {}: {} sent", o.remote, o.sent);
        } else {
            let msg = format!(
                "auto-push to {} failed: {}; the save is committed, and the next push retries",
                o.remote,
                o.error.as_deref().unwrap_or("unknown error")
            );
            let _ = writeln!(out.text, "{msg}");
            tracing::warn!("{msg}");
        }
    }
    if let serde_json::Value::Object(map) = &mut out.json {
        map.insert(
            "auto_push".to_string(),
            serde_json::to_value(&outcomes).unwrap_or_default(),
        );
    }
}

fn protection_line(p: &crate::remote::BucketProtection) -> String {
    let mut parts = Vec::new();
    match p.versioning.as_deref() {
        Some("Enabled") => parts.push(
            "versioning enabled: deleted or replaced objects stay as old versions".to_string(),
        ),
        Some(other) => parts.push(format!("versioning {}", other.to_ascii_lowercase())),
        None => parts.push("versioning off".to_string()),
    }
    if p.object_lock {
        parts.push(
            "object lock enabled: locked objects cannot be deleted before their retention ends"
                .to_string(),
        );
    }
    if let Some(u) = &p.unknown {
        parts.push(format!("(bucket settings unreadable: {u})"));
    }
    parts.join("; ")
}

fn render_listing(l: &RemoteListing) -> String {
    let mut out = format!(
        "{}  {}{}\n{}\n",
        l.remote,
        l.url,
        l.endpoint
            .as_deref()
            .map(|e| format!(" at {e}"))
            .unwrap_or_default(),
        protection_line(&l.protection)
    );
    if l.backups.is_empty() {
        out.push_str("no backups on the remote\n");
    } else {
        let _ = writeln!(
            out,
            "{:<26}  {:>10}  {:>10}  {:<10}  {:>6}  {:>6}  {:<12}  pushed",
            "ID", "SIZE", "STORED", "FORM", "NODES", "EDGES", "CHECKSUM"
        );
    }
    for b in &l.backups {
        let _ = writeln!(
            out,
            "{:<26}  {:>10}  {:>10}  {:<10}  {:>6}  {:>6}  {:<12}  {}{}{}",
            b.id,
            human_size(b.size),
            human_size(b.stored_size),
            match b.stored_format.as_str() {
                "zstd-delta" => "delta",
                other => other,
            },
            b.node_count.map_or("–".to_string(), |n| n.to_string()),
            b.edge_count.map_or("–".to_string(), |n| n.to_string()),
            short_checksum(&b.checksum),
            b.pushed_at,
            if b.encrypted { "  age" } else { "" },
            b.delta_base
                .as_deref()
                .map(|base| format!("  base {base}"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(
        out,
        "{}, {} stored",
        crate::present::count_of(l.backups.len(), "backup"),
        human_size(l.total_stored)
    );
    for (id, why) in &l.unreadable {
        let _ = writeln!(out, "✗ {id}: manifest unreadable: {why}");
    }
    if !l.unreferenced.is_empty() {
        let _ = writeln!(
            out,
            "{} data objects no backup names (an interrupted push, or removed backups): not listed as backups",
            l.unreferenced.len()
        );
    }
    out
}

fn symbol(s: Status) -> &'static str {
    crate::present::status_symbol(Some(s))
}

fn render_verify(r: &RemoteVerifyReport) -> String {
    let mut out = String::new();
    for c in &r.backups {
        let _ = writeln!(
            out,
            "{} {}  {}{}",
            symbol(c.status),
            c.id,
            c.status.name(),
            c.reason
                .as_deref()
                .map(|x| format!(": {x}"))
                .unwrap_or_default()
        );
        if c.status != Status::Valid {
            for l in &c.levels {
                let mark = match l.outcome {
                    LevelOutcome::Pass => "✓",
                    LevelOutcome::Fail => "✗",
                    _ => "–",
                };
                let _ = writeln!(out, "    {mark} {:<16} {}", l.level, l.detail);
            }
        }
    }
    let _ = writeln!(
        out,
        "{} on {}: {} valid, {} corrupt, {} missing{}",
        if r.deep { "deep verify" } else { "verify" },
        r.remote,
        r.valid,
        r.corrupt,
        r.missing,
        if r.deep {
            ""
        } else {
            " (server checksums; --deep downloads and checks every level)"
        }
    );
    out
}

fn render_push(r: &PushReport) -> String {
    let mut out = String::new();
    for s in &r.sent {
        let _ = writeln!(out, "✓ {}  {} ({})", s.id, s.data, human_size(s.bytes_sent));
    }
    for f in &r.failed {
        let _ = writeln!(out, "✗ {}  {}", f.id, f.reason);
    }
    for f in &r.skipped {
        let _ = writeln!(out, "– {}  not pushed: {}", f.id, f.reason);
    }
    let _ = writeln!(
        out,
        "push to {} ({}): {} sent, {} already there, {} failed, {} uploaded{}",
        r.remote,
        r.url,
        r.sent.len(),
        r.already,
        r.failed.len(),
        human_size(r.bytes_sent),
        if r.encrypted { ", encrypted (age)" } else { "" }
    );
    if !r.failed.is_empty() {
        out.push_str("the next push retries what failed\n");
    }
    out
}

fn render_recovery(r: &RemoteRecoveryReport) -> String {
    let mut out = String::new();
    for c in &r.candidates {
        let _ = writeln!(
            out,
            "{} {}  {}{}",
            symbol(c.status),
            c.id,
            c.status.name(),
            c.reason
                .as_deref()
                .map(|x| format!(": {x}"))
                .unwrap_or_default()
        );
    }
    match r.source {
        FetchSource::Primary => out.push_str("the local primary verifies: nothing was fetched\n"),
        FetchSource::Nothing => {
            let _ = writeln!(
                out,
                "nothing on {} verifies ({} checked); nothing local was written or deleted",
                r.remote,
                r.candidates.len()
            );
        }
        FetchSource::Remote if r.dry_run => {
            let _ = writeln!(
                out,
                "dry run: would install {} from {} and restore it as the primary",
                r.remote_id.as_deref().unwrap_or(""),
                r.remote
            );
        }
        FetchSource::Remote => {
            let _ = writeln!(
                out,
                "installed {} from {} as local backup {}",
                r.remote_id.as_deref().unwrap_or(""),
                r.remote,
                r.installed_as
                    .as_ref()
                    .map(|i| i.to_string())
                    .unwrap_or_default()
            );
            if let Some(restore) = &r.restore {
                out.push_str(&super::render::restore(restore));
            }
        }
    }
    out
}

fn render_rotate(r: &RemoteRotateReport) -> String {
    let mut out = String::new();
    for d in &r.plan.decisions {
        let _ = writeln!(
            out,
            "{} {}  {}",
            match d.action {
                Action::Keep => "keep  ",
                Action::Remove => "remove",
            },
            d.id,
            d.reasons.join("; ")
        );
    }
    for n in &r.notes {
        let _ = writeln!(out, "note: {n}");
    }
    for (id, why) in &r.refused {
        let _ = writeln!(out, "✗ {id}: the server refused the delete: {why}");
    }
    let _ = writeln!(
        out,
        "{}: keep {}, remove {}{}",
        r.remote,
        r.plan.kept,
        r.plan.removed,
        if r.dry_run {
            " (dry run: add --apply to remove)"
        } else {
            ""
        }
    );
    out
}
