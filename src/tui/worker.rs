//! The worker thread: it owns a [`Store`] clone, takes [`Command`]s in and
//! sends [`Event`]s out, so the UI thread never touches the disk (the shape
//! of gitui's asyncgit). Verifications of many files run on a thread of
//! their own so that the worker stays free for single commands meanwhile.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::NaiveDateTime;

use crate::graph::KnowledgeGraph;
use crate::store::corrupt::{CorruptionKind, CorruptionReport};
use crate::store::diff::{DiffReport, GraphDiff, diff_graphs};
use crate::store::list::BackupListing;
use crate::store::names::BackupId;
use crate::store::restore::{RestoreOptions, RestoreReport};
use crate::store::retention::{self, Candidate, RetentionPlan, RetentionPolicy};
use crate::store::rotate::RotateReport;
use crate::store::save::SnapshotReport;
use crate::store::verify::{Depth, FileReport, Target, VerifyAllOptions};
use crate::store::{LockState, MAX_GRAPH_LEN, Store};

use super::health::{DiskSpace, free_disk};

/// What the UI asks the worker to do.
#[derive(Debug, Clone)]
pub enum Command {
    /// List backups, look at the primary and the lock, then verify the primary.
    Refresh,
    /// Lock state and free disk, for the header.
    Probe,
    /// Verify one file at every level.
    Verify(Target),
    /// Verify the primary and every backup on a thread of its own.
    VerifyAll {
        job: u64,
        depth: Depth,
        include_primary: bool,
        cancel: Arc<AtomicBool>,
    },
    Diff {
        old: Target,
        new: Target,
    },
    /// A dry-run restore: what the primary would become.
    RestorePlan {
        id: BackupId,
        allow_unverified: bool,
    },
    Restore {
        id: BackupId,
        allow_unverified: bool,
    },
    /// A retention plan from statuses the UI already knows (no disk).
    RetentionPlan {
        seq: u64,
        policy: RetentionPolicy,
        candidates: Vec<Candidate>,
        now: NaiveDateTime,
    },
    /// Applies a policy for real (the store verifies and plans again, and
    /// removes only backups in `confirmed`, the ones the user saw marked).
    Rotate {
        policy: RetentionPolicy,
        confirmed: Vec<crate::store::names::BackupId>,
    },
    Snapshot,
    Wizard(WizardCommand),
}

/// Steps of the corruption and recovery wizard.
#[derive(Debug, Clone)]
pub enum WizardCommand {
    /// Chooses the store the wizard works on: this one, or (with `copy`) a
    /// new sandbox copy of it in the temp directory.
    Begin {
        copy: bool,
    },
    Damage(CorruptionKind),
    /// Verifies the primary; with `compare_newest`, also diffs the newest
    /// backup against it (what a checksum cannot see).
    Detect {
        compare_newest: bool,
    },
    Candidates {
        cancel: Arc<AtomicBool>,
    },
    Plan(BackupId),
    Restore(BackupId),
    End,
}

/// What the header and table need from one look at the store.
#[derive(Debug, Clone)]
pub struct StoreState {
    pub exists: bool,
    pub is_sandbox: bool,
    pub has_primary: bool,
    pub has_meta: bool,
    pub listing: Result<BackupListing, String>,
    pub lock: LockState,
}

/// Totals of a finished verify-all.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifySummary {
    pub valid: usize,
    pub unverified: usize,
    pub corrupt: usize,
    pub missing: usize,
    pub cancelled: bool,
    pub elapsed_ms: f64,
}

/// Progress of a verification of many files.
#[derive(Debug, Clone)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub elapsed: Duration,
}

/// The store the wizard works on.
#[derive(Debug, Clone)]
pub struct WizardStore {
    pub root: PathBuf,
    /// True when it is a fresh sandbox copy of the user's store.
    pub copied: bool,
    pub files_copied: usize,
}

/// The primary as the wizard's detect step found it.
#[derive(Debug, Clone)]
pub struct Detection {
    pub report: FileReport,
    /// The newest backup compared with the primary, when asked.
    pub reference: Option<DiffReport>,
}

/// The restore step's outcome.
#[derive(Debug, Clone)]
pub struct Recovery {
    pub restore: RestoreReport,
    /// The new primary verified again after the restore.
    pub after: FileReport,
    /// From the graph the restore replaced to the restored one: what the
    /// restore did not bring back. `None` when unknown.
    pub lost: Option<GraphDiff>,
    /// What `lost` compares with: the graph before a simulated damage, or
    /// the damaged primary itself (kept as evidence) when it still parses.
    pub lost_basis: LostBasis,
    /// Why `lost` is unknown, when it is.
    pub lost_note: Option<String>,
}

/// What the restored graph was compared with to tell what was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostBasis {
    BeforeDamage,
    DamagedPrimary,
}

/// What the worker reports.
#[derive(Debug, Clone)]
pub enum Event {
    Listed(Box<StoreState>),
    PrimaryVerified(Box<FileReport>),
    Probed {
        lock: LockState,
        disk: DiskSpace,
    },
    Verified(Result<Box<FileReport>, String>),
    VerifyProgress {
        job: u64,
        progress: Progress,
        report: Box<FileReport>,
    },
    VerifyFinished {
        job: u64,
        result: Result<VerifySummary, String>,
    },
    Diffed(Result<Box<DiffReport>, String>),
    RestorePlanned {
        id: BackupId,
        allow_unverified: bool,
        result: Result<Box<RestoreReport>, String>,
    },
    Restored(Result<Box<RestoreReport>, String>),
    RetentionPlanned {
        seq: u64,
        result: Result<RetentionPlan, String>,
    },
    Rotated(Result<Box<RotateReport>, String>),
    SnapshotTaken(Result<Box<SnapshotReport>, String>),
    Wizard(WizardEvent),
    /// Something failed outside any one operation's report.
    Failed(String),
}

/// What the wizard's steps report.
#[derive(Debug, Clone)]
pub enum WizardEvent {
    Began(Result<WizardStore, String>),
    Damaged(Result<Box<CorruptionReport>, String>),
    Detected(Result<Box<Detection>, String>),
    Candidate {
        progress: Progress,
        report: Box<FileReport>,
    },
    CandidatesDone(Result<VerifySummary, String>),
    Planned {
        id: BackupId,
        result: Result<Box<RestoreReport>, String>,
    },
    Restored(Result<Box<Recovery>, String>),
}

/// Starts the worker. It ends when the command channel closes, after
/// waiting for the verification threads it started (cancel them first).
///
/// # Errors
/// The thread could not be spawned.
pub fn spawn(
    store: Store,
    commands: Receiver<Command>,
    events: Sender<Event>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("graphvault-worker".into())
        .spawn(move || {
            let mut worker = Worker {
                store,
                events,
                wizard: None,
                before_damage: None,
                jobs: Vec::new(),
            };
            worker.run(&commands);
            for job in worker.jobs.drain(..) {
                let _ = job.join();
            }
        })
}

struct Worker {
    store: Store,
    events: Sender<Event>,
    /// The store the wizard works on, once it has begun.
    wizard: Option<Store>,
    /// The wizard store's primary bytes just before the simulated damage.
    before_damage: Option<Vec<u8>>,
    jobs: Vec<JoinHandle<()>>,
}

impl Worker {
    fn run(&mut self, commands: &Receiver<Command>) {
        let mut queue: VecDeque<Command> = VecDeque::new();
        loop {
            let command = match queue.pop_front() {
                Some(c) => c,
                None => match commands.recv() {
                    Ok(c) => c,
                    Err(_) => return,
                },
            };
            // Retention previews follow typing; only the latest one matters.
            if matches!(command, Command::RetentionPlan { .. }) {
                queue.extend(commands.try_iter());
                if queue
                    .iter()
                    .any(|c| matches!(c, Command::RetentionPlan { .. }))
                {
                    continue;
                }
            }
            let name = command_name(&command);
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.handle(command)));
            if outcome.is_err() {
                tracing::error!(command = name, "the worker panicked; see the panic above");
                self.send(Event::Failed(format!(
                    "internal error while running {name} (details in the UI log); nothing more was done"
                )));
            }
            self.jobs.retain(|j| !j.is_finished());
        }
    }

    fn send(&self, event: Event) {
        // The UI has gone away when this fails: nothing left to tell.
        let _ = self.events.send(event);
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Refresh => self.refresh(),
            Command::Probe => self.send(Event::Probed {
                lock: self.store.lock_state(),
                disk: free_disk(&existing_ancestor(self.store.root())),
            }),
            Command::Verify(target) => {
                let result = self
                    .store
                    .verify(&target, Depth::Full)
                    .map(Box::new)
                    .map_err(|e| e.to_string());
                self.send(Event::Verified(result));
            }
            Command::VerifyAll {
                job,
                depth,
                include_primary,
                cancel,
            } => {
                let store = self.store.clone();
                let events = self.events.clone();
                let started = self.spawn_job("graphvault-verify", move || {
                    let result = verify_many(
                        &store,
                        depth,
                        include_primary,
                        &cancel,
                        |progress, report| {
                            let _ = events.send(Event::VerifyProgress {
                                job,
                                progress,
                                report,
                            });
                        },
                    );
                    let _ = events.send(Event::VerifyFinished { job, result });
                });
                if let Err(e) = started {
                    self.send(Event::VerifyFinished {
                        job,
                        result: Err(e),
                    });
                }
            }
            Command::Diff { old, new } => {
                let result = self
                    .store
                    .diff(&old, &new)
                    .map(Box::new)
                    .map_err(|e| e.to_string());
                self.send(Event::Diffed(result));
            }
            Command::RestorePlan {
                id,
                allow_unverified,
            } => {
                let result = self.restore(&id, allow_unverified, true);
                self.send(Event::RestorePlanned {
                    id,
                    allow_unverified,
                    result,
                });
            }
            Command::Restore {
                id,
                allow_unverified,
            } => {
                let result = self.restore(&id, allow_unverified, false);
                self.send(Event::Restored(result));
                self.refresh();
            }
            Command::RetentionPlan {
                seq,
                policy,
                candidates,
                now,
            } => {
                let result = retention::plan(&policy, &candidates, now).map_err(|e| e.to_string());
                self.send(Event::RetentionPlanned { seq, result });
            }
            Command::Rotate { policy, confirmed } => {
                let result = self
                    .store
                    .rotate_confirmed(&policy, &confirmed)
                    .map(Box::new)
                    .map_err(|e| e.to_string());
                self.send(Event::Rotated(result));
                self.refresh();
            }
            Command::Snapshot => {
                let result = self
                    .store
                    .snapshot()
                    .map(Box::new)
                    .map_err(|e| e.to_string());
                self.send(Event::SnapshotTaken(result));
                self.refresh();
            }
            Command::Wizard(step) => self.wizard_step(step),
        }
    }

    /// Runs `job` on a thread of its own; the error says why it could not.
    fn spawn_job(&mut self, name: &str, job: impl FnOnce() + Send + 'static) -> Result<(), String> {
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(job)
            .map_err(|e| format!("cannot start a thread for {name}: {e}"))?;
        self.jobs.push(handle);
        Ok(())
    }

    /// A restore of `id` (or its plan, with `dry_run`), as the UI reports it.
    fn restore(
        &self,
        id: &crate::store::names::BackupId,
        allow_unverified: bool,
        dry_run: bool,
    ) -> Result<Box<crate::store::restore::RestoreReport>, String> {
        self.store
            .restore(
                &id.to_string(),
                RestoreOptions {
                    dry_run,
                    allow_unverified,
                },
            )
            .map(Box::new)
            .map_err(|e| e.to_string())
    }

    fn refresh(&self) {
        let store = &self.store;
        let exists = store.exists();
        let is_file = |p: &Path| {
            std::fs::symlink_metadata(p)
                .map(|m| m.is_file())
                .unwrap_or(false)
        };
        let state = StoreState {
            exists,
            is_sandbox: store.is_sandbox(),
            has_primary: is_file(&store.primary_path()),
            has_meta: is_file(&store.primary_meta_path()),
            listing: store.list_backups().map_err(|e| e.to_string()),
            lock: store.lock_state(),
        };
        self.send(Event::Listed(Box::new(state)));
        self.send(Event::Probed {
            lock: store.lock_state(),
            disk: free_disk(&existing_ancestor(store.root())),
        });
        if exists {
            match store.verify(&Target::Primary, Depth::Full) {
                Ok(report) => self.send(Event::PrimaryVerified(Box::new(report))),
                Err(e) => self.send(Event::Failed(format!("verify the primary: {e}"))),
            }
        }
    }

    fn wizard_step(&mut self, step: WizardCommand) {
        if let WizardCommand::Begin { copy } = step {
            let result = if copy {
                sandbox_copy(&self.store).map(|(store, files)| {
                    let info = WizardStore {
                        root: store.root().to_path_buf(),
                        copied: true,
                        files_copied: files,
                    };
                    self.wizard = Some(store);
                    info
                })
            } else {
                self.wizard = Some(self.store.clone());
                Ok(WizardStore {
                    root: self.store.root().to_path_buf(),
                    copied: false,
                    files_copied: 0,
                })
            };
            self.before_damage = None;
            self.send(Event::Wizard(WizardEvent::Began(result)));
            return;
        }
        if let WizardCommand::End = step {
            self.wizard = None;
            self.before_damage = None;
            return;
        }
        let Some(store) = self.wizard.clone() else {
            self.send(Event::Failed(
                "the wizard has no store to work on (internal error)".into(),
            ));
            return;
        };
        let same_store = store.root() == self.store.root();
        match step {
            WizardCommand::Begin { .. } | WizardCommand::End => {}
            WizardCommand::Damage(kind) => {
                // What the graph was before the damage, to tell later what a
                // restore could not bring back.
                self.before_damage =
                    crate::store::fs::read_file(store.fs(), &store.primary_path(), MAX_GRAPH_LEN)
                        .ok();
                let result = store.corrupt(kind).map(Box::new).map_err(|e| e.to_string());
                self.send(Event::Wizard(WizardEvent::Damaged(result)));
                if same_store {
                    self.refresh();
                }
            }
            WizardCommand::Detect { compare_newest } => {
                let result = detect(&store, compare_newest);
                self.send(Event::Wizard(WizardEvent::Detected(result.map(Box::new))));
            }
            WizardCommand::Candidates { cancel } => {
                let events = self.events.clone();
                let started = self.spawn_job("graphvault-candidates", move || {
                    let result =
                        verify_many(&store, Depth::Full, false, &cancel, |progress, report| {
                            let _ = events
                                .send(Event::Wizard(WizardEvent::Candidate { progress, report }));
                        });
                    let _ = events.send(Event::Wizard(WizardEvent::CandidatesDone(result)));
                });
                if let Err(e) = started {
                    self.send(Event::Wizard(WizardEvent::CandidatesDone(Err(e))));
                }
            }
            WizardCommand::Plan(id) => {
                let result = store
                    .restore(
                        &id.to_string(),
                        RestoreOptions {
                            dry_run: true,
                            allow_unverified: false,
                        },
                    )
                    .map(Box::new)
                    .map_err(|e| e.to_string());
                self.send(Event::Wizard(WizardEvent::Planned { id, result }));
            }
            WizardCommand::Restore(id) => {
                let result = recover_with(&store, &id, self.before_damage.as_deref());
                self.send(Event::Wizard(WizardEvent::Restored(result.map(Box::new))));
                if same_store {
                    self.refresh();
                }
            }
        }
    }
}

fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Refresh => "refresh",
        Command::Probe => "probe",
        Command::Verify(_) => "verify",
        Command::VerifyAll { .. } => "verify all",
        Command::Diff { .. } => "diff",
        Command::RestorePlan { .. } => "restore plan",
        Command::Restore { .. } => "restore",
        Command::RetentionPlan { .. } => "retention plan",
        Command::Rotate { .. } => "rotate",
        Command::Snapshot => "snapshot",
        Command::Wizard(_) => "wizard step",
    }
}

/// Verifies every backup (and the primary) through the store, reporting
/// each file as it is done.
fn verify_many(
    store: &Store,
    depth: Depth,
    include_primary: bool,
    cancel: &AtomicBool,
    each: impl Fn(Progress, Box<FileReport>) + Sync,
) -> Result<VerifySummary, String> {
    let report = store
        .verify_all(
            VerifyAllOptions {
                depth,
                include_primary,
                threads: 0,
            },
            cancel,
            &|p| {
                each(
                    Progress {
                        done: p.done,
                        total: p.total,
                        bytes_done: p.bytes_done,
                        bytes_total: p.bytes_total,
                        elapsed: p.elapsed,
                    },
                    Box::new(p.report),
                );
            },
        )
        .map_err(|e| e.to_string())?;
    Ok(VerifySummary {
        valid: report.valid,
        unverified: report.unverified,
        corrupt: report.corrupt,
        missing: report.missing,
        cancelled: report.cancelled || cancel.load(Ordering::Relaxed),
        elapsed_ms: report.elapsed_ms,
    })
}

fn detect(store: &Store, compare_newest: bool) -> Result<Detection, String> {
    let report = store
        .verify(&Target::Primary, Depth::Full)
        .map_err(|e| e.to_string())?;
    let reference = if compare_newest && report.status.is_usable() {
        let listing = store.list_backups().map_err(|e| e.to_string())?;
        listing.backups.first().and_then(|newest| {
            store
                .diff(&Target::Backup(newest.id.clone()), &Target::Primary)
                .ok()
        })
    } else {
        None
    };
    Ok(Detection { report, reference })
}

/// Restores `id`, verifies the result, and works out what was lost
/// relative to the graph before the damage.
fn recover_with(store: &Store, id: &BackupId, before: Option<&[u8]>) -> Result<Recovery, String> {
    let restore = store
        .restore(
            &id.to_string(),
            RestoreOptions {
                dry_run: false,
                allow_unverified: false,
            },
        )
        .map_err(|e| e.to_string())?;
    let after = store
        .verify(&Target::Primary, Depth::Full)
        .map_err(|e| e.to_string())?;
    // Without the graph from before a simulated damage, the damaged primary
    // itself (as kept in evidence) is the best record of what was there.
    let evidence_graph = || {
        restore
            .evidence
            .iter()
            .find(|p| p.to_string_lossy().ends_with("graph.json"))
            .and_then(|p| crate::store::fs::read_file(store.fs(), p, MAX_GRAPH_LEN).ok())
    };
    let (basis, old_bytes) = match before {
        Some(bytes) => (LostBasis::BeforeDamage, Some(bytes.to_vec())),
        None => (LostBasis::DamagedPrimary, evidence_graph()),
    };
    let what = match basis {
        LostBasis::BeforeDamage => "the graph before the damage",
        LostBasis::DamagedPrimary => "the damaged primary",
    };
    let (lost, lost_note) = match old_bytes {
        None => (
            None,
            Some(format!("{what} could not be read (nothing was kept)")),
        ),
        Some(bytes) => match KnowledgeGraph::from_slice(&bytes) {
            Err(e) => (None, Some(format!("{what} does not parse: {e}"))),
            Ok(old) => {
                match crate::store::fs::read_file(store.fs(), &store.primary_path(), MAX_GRAPH_LEN)
                    .map_err(|e| e.to_string())
                    .and_then(|b| KnowledgeGraph::from_slice(&b).map_err(|e| e.to_string()))
                {
                    Ok(new) => (Some(diff_graphs(&old, &new)), None),
                    Err(e) => (
                        None,
                        Some(format!("the restored primary could not be read back: {e}")),
                    ),
                }
            }
        },
    };
    Ok(Recovery {
        restore,
        after,
        lost,
        lost_basis: basis,
        lost_note,
    })
}

/// Copies the primary, its meta and every backup file into a new sandbox
/// store in the temp directory, so a simulation never touches the user's
/// files. Sub-directories and anything that is not a regular file are left.
fn sandbox_copy(source: &Store) -> Result<(Store, usize), String> {
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
    let root =
        std::env::temp_dir().join(format!("graphvault-sandbox-{}-{stamp}", std::process::id()));
    let backups = root.join(crate::store::BACKUPS_DIR);
    // create_dir, not create_dir_all: a directory or symlink planted at this
    // name in the shared temp dir must make the copy fail, not receive it.
    std::fs::create_dir(&root).map_err(|e| format!("create {}: {e}", root.display()))?;
    std::fs::create_dir(&backups).map_err(|e| format!("create {}: {e}", backups.display()))?;
    let mut copied = 0;
    let mut copy = |from: &Path, to: &Path| -> Result<(), String> {
        match std::fs::symlink_metadata(from) {
            Ok(m) if m.is_file() => {
                std::fs::copy(from, to)
                    .map_err(|e| format!("copy {} to {}: {e}", from.display(), to.display()))?;
                copied += 1;
                Ok(())
            }
            _ => Ok(()),
        }
    };
    copy(
        &source.primary_path(),
        &root.join(crate::store::PRIMARY_FILE),
    )?;
    copy(
        &source.primary_meta_path(),
        &root.join(crate::store::PRIMARY_META_FILE),
    )?;
    let dir = source.backups_dir();
    match std::fs::read_dir(&dir) {
        Ok(entries) => {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if BackupId::from_file_name(&name).is_some() {
                    copy(&entry.path(), &backups.join(&name))?;
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("list {}: {e}", dir.display())),
    }
    let store = Store::open(&root).map_err(|e| e.to_string())?;
    store
        .mark_sandbox(&format!(
            "copy of {} made by the graphvault UI to simulate corruption",
            source.root().display()
        ))
        .map_err(|e| e.to_string())?;
    tracing::info!(from = %source.root().display(), to = %root.display(), files = copied, "made a sandbox copy");
    Ok((store, copied))
}

/// The store directory, or its nearest existing parent (for `df`).
fn existing_ancestor(path: &Path) -> PathBuf {
    let mut p = path.to_path_buf();
    loop {
        if p.exists() {
            return p;
        }
        if !p.pop() || p.as_os_str().is_empty() {
            return PathBuf::from(".");
        }
    }
}
