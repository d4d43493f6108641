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
use crate::store::diff::DiffReport;
use crate::store::evidence::{EvidenceId, EvidenceListing, EvidenceRestoreReport};
use crate::store::history::{HistoryOptions, HistoryReport};
use crate::store::list::BackupListing;
use crate::store::names::BackupId;
use crate::store::partial::{PartialRestoreOptions, PartialRestoreReport};
use crate::store::recover::{PlanOptions, RecoverFromOptions, RecoveryPlan, RecoveryReport};
use crate::store::restore::{RestoreOptions, RestoreReport};
use crate::store::retention::{self, Candidate, RetentionPlan, RetentionPolicy};
use crate::store::rotate::{RotateControl, RotateProgress, RotateReport};
use crate::store::save::SnapshotReport;
use crate::store::trash::{TrashId, TrashListing, TrashRestorePlan, TrashRestoreReport};
use crate::store::verify::{Depth, FileReport, Target, VerifyAllOptions};
use crate::store::{ChangeStamp, LockState, Store};

use super::error::UiError;
use super::health::{DiskSpace, Watch};

/// What the UI asks the worker to do.
#[derive(Debug, Clone)]
pub enum Command {
    /// List backups, look at the primary and the lock, then verify the primary.
    Refresh,
    /// Lock state and free disk, for the header.
    Probe,
    /// A cheap stat of the store; re-read it if another process wrote to
    /// it since the last look ([`Event::ChangedOnDisk`], then a refresh).
    Watch,
    /// Verify one file at every level.
    Verify(Target),
    /// [`Command::Verify`] that parses again even content the memo of
    /// verified content knows (the CLI's `verify --deep`).
    VerifyDeep(Target),
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
        /// Stops it between two files (Esc, or quitting).
        cancel: Arc<AtomicBool>,
    },
    Snapshot,
    /// Stores a retention policy as the store's own (`.graphvault/config.json`).
    SavePolicy(RetentionPolicy),
    /// Reads a graph for the node browser; with `compare`, also the graph it
    /// is compared with (a diff's drill-down).
    OpenNodes {
        target: Target,
        compare: Option<Target>,
    },
    /// One node's history across the store.
    NodeHistory(String),
    /// A partial restore; with `options.dry_run`, its plan.
    RestoreNodes {
        id: BackupId,
        options: PartialRestoreOptions,
    },
    /// What `graphvault trash` lists.
    ListTrash,
    /// What `graphvault evidence` lists, each verified against its meta.
    ListEvidence,
    /// Every check of bringing a trash item back, nothing written.
    TrashRestorePlan(TrashId),
    TrashRestore(TrashId),
    /// A dry run of putting kept evidence back as the primary.
    EvidenceRestorePlan {
        id: EvidenceId,
        allow_unverified: bool,
    },
    EvidenceRestore {
        id: EvidenceId,
        allow_unverified: bool,
    },
    Wizard(WizardCommand),
    /// The store's remotes as the off-site panel shows them (no network).
    ListRemotes,
    /// Each backup's off-site status again, for the table's column.
    ReadOffsite,
    /// Pushes to remote `Some(name)`, or to every remote, on a thread of
    /// its own (pushes run one at a time).
    Push(Option<String>),
}

/// One remote as the off-site panel shows it: its settings and what this
/// machine knows of it, without asking the server.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteView {
    pub name: String,
    pub url: String,
    pub bucket: String,
    pub prefix: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub auto_push: bool,
    pub encrypted: bool,
    pub last_push: Option<crate::remote::state::LastPush>,
    /// When the last push ended, local time.
    pub last_push_at: Option<NaiveDateTime>,
    /// When a push last succeeded (the off-site lag runs from it).
    pub last_success: Option<NaiveDateTime>,
    /// Local backups this machine does not know to be on the remote.
    pub pending: usize,
    /// An interrupted multipart upload waits for the next push.
    pub upload_waiting: bool,
}

/// What the node browser shows: a graph, and the one it is compared with.
#[derive(Debug, Clone)]
pub struct NodeGraphs {
    pub file: FileReport,
    pub graph: Arc<KnowledgeGraph>,
    pub compare: Option<Arc<KnowledgeGraph>>,
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
    /// The store's recovery plan, every backup checked.
    Candidates {
        cancel: Arc<AtomicBool>,
    },
    /// A dry run of recovering from `id` (what it gives, what is lost).
    Plan {
        plan: Box<RecoveryPlan>,
        id: BackupId,
        allow_unverified: bool,
    },
    Restore {
        plan: Box<RecoveryPlan>,
        id: BackupId,
        allow_unverified: bool,
    },
    /// No local backup verifies: every remote's backups, checked on the
    /// server (manifest, object, the server's SHA-256), newest first.
    RemoteCandidates,
    /// A dry run of recovering remote backup `id`: downloaded, decrypted
    /// and verified at every level, nothing written.
    RemotePlan {
        remote: String,
        id: String,
    },
    /// Recovering remote backup `id`: installed as a local backup and
    /// restored as the primary (the damaged one kept), then re-verified.
    RemoteRestore {
        remote: String,
        id: String,
    },
    End,
}

/// One remote's backups as the wizard's candidates, or why the remote
/// could not be asked.
pub type RemoteCandidates = (
    String,
    Result<crate::remote::inspect::RemoteVerifyReport, UiError>,
);

/// A recovery from a remote, and the new primary verified again.
#[derive(Debug, Clone)]
pub struct RemoteRecovery {
    pub report: crate::remote::fetch::RemoteRecoveryReport,
    pub after: FileReport,
}

/// What the header and table need from one look at the store.
#[derive(Debug, Clone)]
pub struct StoreState {
    pub exists: bool,
    pub is_sandbox: bool,
    pub has_primary: bool,
    pub has_meta: bool,
    pub listing: Result<BackupListing, UiError>,
    pub lock: LockState,
    /// Where each backup stands off-site, from the remotes' local state
    /// (no network); empty when the store has no remote.
    pub offsite: crate::remote::state::OffsiteSummary,
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
    /// The store's report: the restore, what was lost, the warnings.
    pub report: RecoveryReport,
    /// The new primary verified again, every level, after the restore.
    pub after: FileReport,
}

/// What the worker reports.
#[derive(Debug, Clone)]
pub enum Event {
    Listed(Box<StoreState>),
    PrimaryVerified(Box<FileReport>),
    Probed {
        lock: LockState,
        disk: DiskSpace,
        /// The last check's record, the trash and the evidence.
        watch: Box<Watch>,
    },
    Verified(Result<Box<FileReport>, UiError>),
    VerifyProgress {
        job: u64,
        progress: Progress,
        report: Box<FileReport>,
    },
    VerifyFinished {
        job: u64,
        result: Result<VerifySummary, UiError>,
    },
    Diffed(Result<Box<DiffReport>, UiError>),
    RestorePlanned {
        id: BackupId,
        allow_unverified: bool,
        result: Result<Box<RestoreReport>, UiError>,
    },
    Restored(Result<Box<RestoreReport>, UiError>),
    RetentionPlanned {
        seq: u64,
        result: Result<RetentionPlan, UiError>,
    },
    /// How far a rotation is, after each file it read or moved.
    RotateProgress(RotateProgress),
    Rotated(Result<Box<RotateReport>, UiError>),
    SnapshotTaken(Result<Box<SnapshotReport>, UiError>),
    PolicySaved(Result<RetentionPolicy, UiError>),
    NodesOpened {
        target: Target,
        result: Result<Box<NodeGraphs>, UiError>,
    },
    NodeHistory {
        node: String,
        result: Result<Box<HistoryReport>, UiError>,
    },
    /// The background indexing a history started has finished (or stopped).
    Indexed(Result<Box<crate::store::node_index::IndexingReport>, UiError>),
    NodesRestored {
        dry_run: bool,
        result: Result<Box<PartialRestoreReport>, UiError>,
    },
    TrashListed(Result<Box<TrashListing>, UiError>),
    EvidenceListed(Result<Box<EvidenceListing>, UiError>),
    TrashRestorePlanned {
        id: TrashId,
        result: Result<Box<TrashRestorePlan>, UiError>,
    },
    TrashRestored(Result<Box<TrashRestoreReport>, UiError>),
    EvidenceRestorePlanned {
        id: EvidenceId,
        allow_unverified: bool,
        result: Result<Box<EvidenceRestoreReport>, UiError>,
    },
    EvidenceRestored(Result<Box<EvidenceRestoreReport>, UiError>),
    Wizard(WizardEvent),
    RemotesListed(Result<Vec<RemoteView>, UiError>),
    OffsiteRead(Box<crate::remote::state::OffsiteSummary>),
    /// How far a push is.
    PushProgress {
        remote: String,
        progress: crate::remote::push::PushProgress,
    },
    /// One remote's push ended.
    Pushed {
        remote: String,
        result: Result<Box<crate::remote::push::PushReport>, UiError>,
    },
    /// Every push asked for has ended.
    PushesDone,
    /// The automatic pushes after a save or restore made from the UI (the
    /// save is committed whatever they report).
    AutoPushed(Vec<crate::remote::push::AutoPushOutcome>),
    /// The store changed on disk since it was last read, by someone else
    /// than this UI; a refresh follows.
    ChangedOnDisk,
    /// Something failed outside any one operation's report.
    Failed(UiError),
}

/// What the wizard's steps report.
#[derive(Debug, Clone)]
pub enum WizardEvent {
    Began(Result<WizardStore, UiError>),
    Damaged(Result<Box<CorruptionReport>, UiError>),
    Detected(Result<Box<Detection>, UiError>),
    Candidate {
        progress: Progress,
        report: Box<FileReport>,
    },
    CandidatesDone(Result<Box<RecoveryPlan>, UiError>),
    Planned {
        id: BackupId,
        result: Result<Box<RecoveryReport>, UiError>,
    },
    Restored(Result<Box<Recovery>, UiError>),
    RemoteCandidates(Vec<RemoteCandidates>),
    RemotePlanned {
        id: String,
        result: Result<Box<crate::remote::fetch::RemoteRecoveryReport>, UiError>,
    },
    RemoteRestored(Result<Box<RemoteRecovery>, UiError>),
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
                jobs: Vec::new(),
                pushing: Arc::new(std::sync::Mutex::new(())),
                seen: None,
                indexing: None,
            };
            worker.run(&commands);
            // Quitting does not wait for indexes nobody will read now: the one
            // being written is finished, the rest are left for the next time.
            if let Some((stop, _)) = &worker.indexing {
                stop.store(true, Ordering::Relaxed);
            }
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
    jobs: Vec<JoinHandle<()>>,
    /// Held by the push running now: pushes (asked for, or automatic after
    /// a save) run one after the other, never two on one remote's state.
    pushing: Arc<std::sync::Mutex<()>>,
    /// The store's change stamp when it was last read.
    seen: Option<ChangeStamp>,
    /// The background indexing of graphs a history skimmed: set to stop it, and
    /// whether it has finished.
    indexing: Option<(Arc<AtomicBool>, Arc<AtomicBool>)>,
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
                self.send(Event::Failed(UiError::internal(format!(
                    "internal error while running {name} (details in the UI log); nothing more was done"
                ))));
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
            Command::Watch => {
                let now = self.store.change_stamp();
                if self.seen.as_ref().is_some_and(|seen| *seen != now) {
                    self.send(Event::ChangedOnDisk);
                    self.refresh();
                }
            }
            Command::Probe => self.send(Event::Probed {
                lock: self.store.lock_state(),
                disk: DiskSpace::of(&self.store),
                watch: Box::new(Watch::of(&self.store)),
            }),
            Command::Verify(target) => {
                let result = self
                    .store
                    .verify(&target, Depth::Full)
                    .map(Box::new)
                    .map_err(UiError::from);
                self.send(Event::Verified(result));
            }
            Command::VerifyDeep(target) => {
                let result = self
                    .store
                    .clone()
                    .with_deep(true)
                    .verify(&target, Depth::Full)
                    .map(Box::new)
                    .map_err(UiError::from);
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
                    .map_err(UiError::from);
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
                let saved = result.is_ok();
                self.send(Event::Restored(result));
                self.refresh();
                if saved {
                    self.auto_push(&self.store.clone());
                }
            }
            Command::RetentionPlan {
                seq,
                policy,
                candidates,
                now,
            } => {
                let result = retention::plan(&policy, &candidates, now).map_err(UiError::from);
                self.send(Event::RetentionPlanned { seq, result });
            }
            Command::Rotate {
                policy,
                confirmed,
                cancel,
            } => {
                let events = self.events.clone();
                let progress = move |p| {
                    let _ = events.send(Event::RotateProgress(p));
                };
                let control = RotateControl {
                    cancel: &cancel,
                    progress: &progress,
                };
                let result = self
                    .store
                    .rotate_confirmed(&policy, &confirmed, control)
                    .map(Box::new)
                    .map_err(UiError::from);
                self.send(Event::Rotated(result));
                self.refresh();
            }
            Command::SavePolicy(policy) => {
                let mut config = self.store.config().clone();
                config.retention = policy.clone();
                let result = self
                    .store
                    .set_config(config)
                    .map(|()| policy)
                    .map_err(UiError::from);
                self.send(Event::PolicySaved(result));
            }
            Command::Snapshot => {
                let result = self.store.snapshot().map(Box::new).map_err(UiError::from);
                let saved = result.is_ok();
                self.send(Event::SnapshotTaken(result));
                self.refresh();
                if saved {
                    self.auto_push(&self.store.clone());
                }
            }
            Command::OpenNodes { target, compare } => {
                let read = |t: &Target| self.store.read_graph(t).map_err(UiError::from);
                let result = read(&target).and_then(|(file, graph)| {
                    let compare = match &compare {
                        Some(c) => Some(Arc::new(read(c)?.1)),
                        None => None,
                    };
                    Ok(Box::new(NodeGraphs {
                        file,
                        graph: Arc::new(graph),
                        compare,
                    }))
                });
                self.send(Event::NodesOpened { target, result });
            }
            Command::NodeHistory(node) => {
                let result = self
                    .store
                    .history(&node, HistoryOptions::default())
                    .map(Box::new)
                    .map_err(UiError::from);
                let skimmed = result.as_ref().is_ok_and(|r| r.index_skimmed > 0);
                self.send(Event::NodeHistory { node, result });
                if skimmed {
                    self.index_in_background();
                }
            }
            Command::RestoreNodes { id, options } => {
                let dry_run = options.dry_run;
                let result = self
                    .store
                    .restore_nodes(&id, &options)
                    .map(Box::new)
                    .map_err(UiError::from);
                let saved = !dry_run && result.is_ok();
                self.send(Event::NodesRestored { dry_run, result });
                if !dry_run {
                    self.refresh();
                }
                if saved {
                    self.auto_push(&self.store.clone());
                }
            }
            Command::ListTrash => {
                let result = self.store.list_trash().map(Box::new).map_err(UiError::from);
                self.send(Event::TrashListed(result));
            }
            Command::ListEvidence => {
                // As `graphvault evidence`: damaged primaries are what
                // evidence is for, so each is verified against its meta.
                let result = self
                    .store
                    .list_evidence(Some(Depth::Full))
                    .map(Box::new)
                    .map_err(UiError::from);
                self.send(Event::EvidenceListed(result));
            }
            Command::TrashRestorePlan(id) => {
                let result = self
                    .store
                    .trash_restore_plan(&[id.to_string()])
                    .map(Box::new)
                    .map_err(UiError::from);
                self.send(Event::TrashRestorePlanned { id, result });
            }
            Command::TrashRestore(id) => {
                let result = self
                    .store
                    .trash_restore(&[id.to_string()])
                    .map(Box::new)
                    .map_err(UiError::from);
                let saved = result.is_ok();
                self.send(Event::TrashRestored(result));
                self.refresh();
                if saved {
                    self.auto_push(&self.store.clone());
                }
            }
            Command::EvidenceRestorePlan {
                id,
                allow_unverified,
            } => {
                let result = self.restore_evidence(&id, allow_unverified, true);
                self.send(Event::EvidenceRestorePlanned {
                    id,
                    allow_unverified,
                    result,
                });
            }
            Command::EvidenceRestore {
                id,
                allow_unverified,
            } => {
                let result = self.restore_evidence(&id, allow_unverified, false);
                let saved = result.is_ok();
                self.send(Event::EvidenceRestored(result));
                self.refresh();
                if saved {
                    self.auto_push(&self.store.clone());
                }
            }
            Command::Wizard(step) => self.wizard_step(step),
            Command::ListRemotes => {
                let result = remote_views(&self.store);
                self.send(Event::RemotesListed(result));
            }
            Command::ReadOffsite => self.send(Event::OffsiteRead(Box::new(
                crate::remote::state::summary(&self.store),
            ))),
            Command::Push(name) => self.push(name),
        }
    }

    /// Pushes on a thread of its own through the remote library (the CLI's
    /// `push`), reporting progress and each remote's outcome.
    fn push(&mut self, name: Option<String>) {
        let remotes: Vec<crate::remote::RemoteConfig> = self
            .store
            .config()
            .remotes
            .iter()
            .filter(|r| name.as_ref().is_none_or(|n| *n == r.name))
            .cloned()
            .collect();
        if remotes.is_empty() {
            let message = match name {
                Some(n) => format!("no remote named {n:?} in this store"),
                None => "this store has no remote; add one with graphvault remote add".to_string(),
            };
            self.send(Event::Pushed {
                remote: String::new(),
                result: Err(UiError {
                    kind: super::error::ErrorKind::NotFound,
                    message,
                }),
            });
            self.send(Event::PushesDone);
            return;
        }
        let store = self.store.clone();
        let events = self.events.clone();
        let lock = self.pushing.clone();
        let started = self.spawn_job("graphvault-push", move || {
            let _one_at_a_time = lock.lock().unwrap_or_else(|e| e.into_inner());
            for config in remotes {
                let remote = config.name.clone();
                let result = crate::remote::Remote::open(&config, None)
                    .and_then(|r| {
                        crate::remote::push::push(
                            &store,
                            &r,
                            &crate::remote::push::PushOptions::default(),
                            &|p| {
                                let _ = events.send(Event::PushProgress {
                                    remote: remote.clone(),
                                    progress: p.clone(),
                                });
                            },
                        )
                    })
                    .map(Box::new)
                    .map_err(UiError::from);
                let _ = events.send(Event::Pushed { remote, result });
            }
            let _ = events.send(Event::PushesDone);
        });
        if let Err(e) = started {
            self.send(Event::Pushed {
                remote: String::new(),
                result: Err(e),
            });
            self.send(Event::PushesDone);
        }
    }

    /// After a save or restore from the UI committed: the automatic pushes,
    /// as the CLI runs them after its saves (the same library call), on a
    /// thread of their own. They never undo or fail the save.
    fn auto_push(&mut self, store: &Store) {
        if !store.config().remotes.iter().any(|r| r.auto_push) {
            return;
        }
        let store = store.clone();
        let events = self.events.clone();
        let lock = self.pushing.clone();
        let started = self.spawn_job("graphvault-auto-push", move || {
            let _one_at_a_time = lock.lock().unwrap_or_else(|e| e.into_inner());
            let outcomes = crate::remote::push::auto_push(&store);
            let _ = events.send(Event::AutoPushed(outcomes));
        });
        if let Err(e) = started {
            self.send(Event::AutoPushed(vec![
                crate::remote::push::AutoPushOutcome {
                    remote: "every auto-push remote".to_string(),
                    ok: false,
                    sent: 0,
                    error: Some(e.to_string()),
                },
            ]));
        }
    }

    /// Indexes the graphs that have no node index, on one thread beside the UI, so
    /// that the next history (of any node) reads indexes instead of skimming each
    /// graph again. One at a time; a failure to start is only logged.
    fn index_in_background(&mut self) {
        if self
            .indexing
            .as_ref()
            .is_some_and(|(_, done)| !done.load(Ordering::Relaxed))
        {
            return;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let (store, events) = (self.store.clone(), self.events.clone());
        let (stopping, finished) = (stop.clone(), done.clone());
        let started = self.spawn_job("graphvault-index", move || {
            let result = store
                .index_missing_until(1, &stopping)
                .map(Box::new)
                .map_err(UiError::from);
            finished.store(true, Ordering::Relaxed);
            let _ = events.send(Event::Indexed(result));
        });
        match started {
            Ok(()) => self.indexing = Some((stop, done)),
            Err(e) => tracing::warn!(error = %e, "no background indexing"),
        }
    }

    /// Runs `job` on a thread of its own; the error says why it could not.
    fn spawn_job(
        &mut self,
        name: &str,
        job: impl FnOnce() + Send + 'static,
    ) -> Result<(), UiError> {
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(job)
            .map_err(|e| UiError::internal(format!("cannot start a thread for {name}: {e}")))?;
        self.jobs.push(handle);
        Ok(())
    }

    /// A restore of `id` (or its plan, with `dry_run`), as the UI reports it.
    fn restore(
        &self,
        id: &crate::store::names::BackupId,
        allow_unverified: bool,
        dry_run: bool,
    ) -> Result<Box<RestoreReport>, UiError> {
        self.store
            .restore(
                id,
                RestoreOptions {
                    dry_run,
                    allow_unverified,
                },
            )
            .map(Box::new)
            .map_err(|e| self.refused(e))
    }

    /// A restore's error for the UI. A refusal carries the verification
    /// that refused it: that goes to the backup's row first, so the row and
    /// the header never keep an older, shallower "valid".
    fn refused(&self, e: crate::store::StoreError) -> UiError {
        if let crate::store::StoreError::RestoreRefused { report, .. } = &e {
            self.send(Event::Verified(Ok(report.clone())));
        }
        UiError::from(e)
    }

    /// Kept evidence put back as the primary (or its plan, with `dry_run`)
    /// through the store's normal restore, which keeps the primary it
    /// replaces.
    fn restore_evidence(
        &self,
        id: &EvidenceId,
        allow_unverified: bool,
        dry_run: bool,
    ) -> Result<Box<EvidenceRestoreReport>, UiError> {
        self.store
            .restore_evidence(
                &id.to_string(),
                RestoreOptions {
                    dry_run,
                    allow_unverified,
                },
            )
            .map(Box::new)
            .map_err(UiError::from)
    }

    fn refresh(&mut self) {
        // Taken first: a write during this read shows at the next look.
        self.seen = Some(self.store.change_stamp());
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
            listing: store.list_backups().map_err(UiError::from),
            lock: store.lock_state(),
            offsite: crate::remote::state::summary(store),
        };
        self.send(Event::Listed(Box::new(state)));
        self.send(Event::Probed {
            lock: store.lock_state(),
            disk: DiskSpace::of(store),
            watch: Box::new(Watch::of(store)),
        });
        if exists {
            match store.verify(&Target::Primary, Depth::Full) {
                Ok(report) => self.send(Event::PrimaryVerified(Box::new(report))),
                Err(e) => self.send(Event::Failed(UiError::from(e))),
            }
        }
    }

    fn wizard_step(&mut self, step: WizardCommand) {
        if let WizardCommand::Begin { copy } = step {
            let result = if copy {
                let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
                let root = std::env::temp_dir()
                    .join(format!("graphvault-sandbox-{}-{stamp}", std::process::id()));
                self.store
                    .copy_to_sandbox(&root)
                    .map(|copy| {
                        let info = WizardStore {
                            root: copy.store.root().to_path_buf(),
                            copied: true,
                            files_copied: copy.files_copied,
                        };
                        self.wizard = Some(copy.store);
                        info
                    })
                    .map_err(UiError::from)
            } else {
                self.wizard = Some(self.store.clone());
                Ok(WizardStore {
                    root: self.store.root().to_path_buf(),
                    copied: false,
                    files_copied: 0,
                })
            };
            self.send(Event::Wizard(WizardEvent::Began(result)));
            return;
        }
        if let WizardCommand::End = step {
            self.wizard = None;
            return;
        }
        let Some(store) = self.wizard.clone() else {
            self.send(Event::Failed(UiError::internal(
                "the wizard has no store to work on (internal error)",
            )));
            return;
        };
        let same_store = store.root() == self.store.root();
        match step {
            WizardCommand::Begin { .. } | WizardCommand::End => {}
            WizardCommand::Damage(kind) => {
                let result = store.corrupt(kind).map(Box::new).map_err(UiError::from);
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
                    let result = store
                        .plan_recovery(
                            PlanOptions {
                                every_candidate: true,
                            },
                            &cancel,
                            &|p| {
                                let _ = events.send(Event::Wizard(WizardEvent::Candidate {
                                    progress: Progress {
                                        done: p.done,
                                        total: p.total,
                                        bytes_done: p.bytes_done,
                                        bytes_total: p.bytes_total,
                                        elapsed: p.elapsed,
                                    },
                                    report: Box::new(p.report),
                                }));
                            },
                        )
                        .map(Box::new)
                        .map_err(UiError::from);
                    let _ = events.send(Event::Wizard(WizardEvent::CandidatesDone(result)));
                });
                if let Err(e) = started {
                    self.send(Event::Wizard(WizardEvent::CandidatesDone(Err(e))));
                }
            }
            WizardCommand::Plan {
                plan,
                id,
                allow_unverified,
            } => {
                let result = store
                    .recover_from(
                        &plan,
                        &id,
                        RecoverFromOptions {
                            dry_run: true,
                            allow_unverified,
                        },
                    )
                    .map(Box::new)
                    // Only this store's rows may take the refusal's status.
                    .map_err(|e| {
                        if same_store {
                            self.refused(e)
                        } else {
                            UiError::from(e)
                        }
                    });
                self.send(Event::Wizard(WizardEvent::Planned { id, result }));
            }
            WizardCommand::Restore {
                plan,
                id,
                allow_unverified,
            } => {
                let result = store
                    .recover_from(
                        &plan,
                        &id,
                        RecoverFromOptions {
                            dry_run: false,
                            allow_unverified,
                        },
                    )
                    .and_then(|report| {
                        let after = store.verify(&Target::Primary, Depth::Full)?;
                        Ok(Recovery { report, after })
                    })
                    .map_err(UiError::from);
                let saved = result.is_ok();
                self.send(Event::Wizard(WizardEvent::Restored(result.map(Box::new))));
                if same_store {
                    self.refresh();
                }
                // A sandbox copy has no remotes of its own to push to; the
                // user's store pushes what the wizard restored into it.
                if saved && same_store {
                    self.auto_push(&store);
                }
            }
            WizardCommand::RemoteCandidates => {
                let events = self.events.clone();
                let started = self.spawn_job("graphvault-remote-candidates", move || {
                    let found = store
                        .config()
                        .remotes
                        .iter()
                        .map(|config| {
                            let result = crate::remote::Remote::open(config, None)
                                .and_then(|remote| {
                                    crate::remote::inspect::verify(
                                        &remote,
                                        &crate::remote::inspect::RemoteVerifyOptions::default(),
                                        Some(&store),
                                    )
                                })
                                .map_err(UiError::from);
                            (config.name.clone(), result)
                        })
                        .collect();
                    let _ = events.send(Event::Wizard(WizardEvent::RemoteCandidates(found)));
                });
                if let Err(e) = started {
                    self.send(Event::Wizard(WizardEvent::RemoteCandidates(vec![(
                        String::new(),
                        Err(e),
                    )])));
                }
            }
            WizardCommand::RemotePlan { remote, id } => {
                let result = remote_fetch(&store, &remote, &id, true).map(Box::new);
                self.send(Event::Wizard(WizardEvent::RemotePlanned { id, result }));
            }
            WizardCommand::RemoteRestore { remote, id } => {
                let result = remote_fetch(&store, &remote, &id, false).and_then(|report| {
                    let after = store
                        .verify(&Target::Primary, Depth::Full)
                        .map_err(UiError::from)?;
                    Ok(Box::new(RemoteRecovery { report, after }))
                });
                let saved = result.is_ok();
                self.send(Event::Wizard(WizardEvent::RemoteRestored(result)));
                if same_store {
                    self.refresh();
                }
                if saved && same_store {
                    self.auto_push(&store);
                }
            }
        }
    }
}

fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Refresh => "refresh",
        Command::Probe => "probe",
        Command::Watch => "watch",
        Command::Verify(_) => "verify",
        Command::VerifyDeep(_) => "verify (parse again)",
        Command::VerifyAll { .. } => "verify all",
        Command::Diff { .. } => "diff",
        Command::RestorePlan { .. } => "restore plan",
        Command::Restore { .. } => "restore",
        Command::RetentionPlan { .. } => "retention plan",
        Command::Rotate { .. } => "rotate",
        Command::Snapshot => "snapshot",
        Command::SavePolicy(_) => "save policy",
        Command::OpenNodes { .. } => "open nodes",
        Command::NodeHistory(_) => "node history",
        Command::RestoreNodes { .. } => "restore nodes",
        Command::ListTrash => "list trash",
        Command::ListEvidence => "list evidence",
        Command::TrashRestorePlan(_) => "trash restore plan",
        Command::TrashRestore(_) => "trash restore",
        Command::EvidenceRestorePlan { .. } => "evidence restore plan",
        Command::EvidenceRestore { .. } => "evidence restore",
        Command::Wizard(_) => "wizard step",
        Command::ListRemotes => "list remotes",
        Command::ReadOffsite => "read off-site state",
        Command::Push(_) => "push",
    }
}

/// Remote backup `id` of the store's remote `name` fetched through the
/// remote library (the CLI's `remote restore`): with `dry_run`, downloaded
/// and verified only.
fn remote_fetch(
    store: &Store,
    name: &str,
    id: &str,
    dry_run: bool,
) -> Result<crate::remote::fetch::RemoteRecoveryReport, UiError> {
    let config = store
        .config()
        .remotes
        .iter()
        .find(|r| r.name == name)
        .cloned()
        .ok_or_else(|| UiError {
            kind: super::error::ErrorKind::NotFound,
            message: format!("no remote named {name:?} in this store"),
        })?;
    let remote = crate::remote::Remote::open(&config, None)?;
    Ok(crate::remote::fetch::restore(
        store,
        &remote,
        id,
        crate::remote::fetch::FetchOptions { dry_run },
    )?)
}

/// The store's remotes with what this machine knows of each (no network).
fn remote_views(store: &Store) -> Result<Vec<RemoteView>, UiError> {
    let listing = store.list_backups().map_err(UiError::from)?;
    let views = store
        .config()
        .remotes
        .iter()
        .map(|config| {
            let state = crate::remote::state::load(store, &config.name);
            let (bucket, prefix) = config
                .parsed_url()
                .map(|u| (u.bucket, u.prefix))
                .unwrap_or_default();
            let pending = listing
                .backups
                .iter()
                .filter(|b| b.checksum.is_some() && b.meta_path.is_some())
                .filter(|b| {
                    state
                        .backups
                        .get(&b.id.to_string())
                        .is_none_or(|e| e.status == crate::remote::state::OffsiteStatus::Failed)
                })
                .count();
            RemoteView {
                name: config.name.clone(),
                url: config.url.clone(),
                bucket,
                prefix,
                endpoint: config.endpoint.clone(),
                region: config.region.clone(),
                auto_push: config.auto_push,
                encrypted: config.encryption.is_some(),
                last_success: state.last_success().map(|t| t.naive_local()),
                last_push_at: state.last_push.as_ref().and_then(|l| {
                    chrono::DateTime::parse_from_rfc3339(&l.at)
                        .ok()
                        .map(|t| t.with_timezone(&chrono::Local).naive_local())
                }),
                last_push: state.last_push.clone(),
                pending,
                upload_waiting: state.upload.is_some(),
            }
        })
        .collect();
    Ok(views)
}

/// Verifies every backup (and the primary) through the store, reporting
/// each file as it is done.
fn verify_many(
    store: &Store,
    depth: Depth,
    include_primary: bool,
    cancel: &AtomicBool,
    each: impl Fn(Progress, Box<FileReport>) + Sync,
) -> Result<VerifySummary, UiError> {
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
        .map_err(UiError::from)?;
    Ok(VerifySummary {
        valid: report.valid,
        unverified: report.unverified,
        corrupt: report.corrupt,
        missing: report.missing,
        cancelled: report.cancelled || cancel.load(Ordering::Relaxed),
        elapsed_ms: report.elapsed_ms,
    })
}

fn detect(store: &Store, compare_newest: bool) -> Result<Detection, UiError> {
    let report = store
        .verify(&Target::Primary, Depth::Full)
        .map_err(UiError::from)?;
    let reference = if compare_newest && report.status.is_usable() {
        let listing = store.list_backups().map_err(UiError::from)?;
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
