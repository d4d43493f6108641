//! The operations the crash and fault suites interrupt, the stores they
//! start from, and the one checker every interrupted run must pass.
//!
//! Everything here works through `Arc<dyn Fs>`, so the same scenario and
//! the same checker run over the simulated disk and over the real one.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::TimeZone;
use graphvault::graph::KnowledgeGraph;
use graphvault::store::fs::{self as gvfs, EntryKind, Fs, Publish, TEMP_PREFIX};
use graphvault::store::meta::Meta;
use graphvault::store::names::BackupId;
use graphvault::store::recover::{RecoverOptions, RecoveryReport, Source};
use graphvault::store::restore::RestoreOptions;
use graphvault::store::retention::RetentionPolicy;
use graphvault::store::save::SaveOptions;
use graphvault::store::trash::ItemState;
use graphvault::store::verify::{Depth, Status, Target, sha256_hex};
use graphvault::store::{MAX_GRAPH_LEN, Store, StoreConfig, StoreError};

use crate::fixtures::app_graph;

/// Other tests of this binary start processes all the time, and a child
/// between fork and exec holds a copy of every descriptor of this process,
/// the lock file's included: a lock just released here can look held for
/// that instant. In-process stores wait such an instant out; a lock that
/// stays held still fails after this long.
pub const LOCK_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Opens a store on the real filesystem for in-process checks.
pub fn open_real(root: &Path) -> Store {
    Store::open(root)
        .expect("open store")
        .with_lock_wait(LOCK_GRACE)
}

/// Where the simulated store lives on the simulated disk.
pub const SIM_ROOT: &str = "/sim/storage";

/// A fixed local time on 2025-10-`day`, so runs are repeatable.
pub fn at(day: u32, hour: u32) -> chrono::DateTime<chrono::Local> {
    chrono::Local
        .with_ymd_and_hms(2025, 10, day, hour, 0, 0)
        .earliest()
        .expect("a fixed local time")
}

/// A graph in the application's format, `nodes` nodes, told apart by `salt`.
pub fn graph(nodes: usize, salt: &str) -> KnowledgeGraph {
    KnowledgeGraph::from_slice(app_graph(nodes, 2, nodes.is_multiple_of(2), salt).as_bytes())
        .expect("fixture graph parses")
}

fn no_rotate(day: u32) -> SaveOptions {
    SaveOptions {
        rotate: false,
        at: Some(at(day, 12)),
    }
}

/// An operation that a crash or a fault may interrupt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Save with backup, no retention.
    Save,
    /// `save --from`: a graph file's bytes (with Python's bare `NaN`) saved
    /// as they are, parsed while the backup and the primary are written.
    SaveFrom,
    /// Save with backup, then the store's retention (moves two backups to
    /// the trash).
    SaveRotate,
    /// Save with backup and retention over a store whose trash holds two
    /// items past their grace period (by the clock and by a backup made
    /// after it ended): the rotation purges them, then moves backups to
    /// the trash.
    SaveRotatePurge,
    /// Restore the oldest backup over a good primary.
    Restore,
    /// Load with recovery over a corrupt primary.
    Recover,
    /// The command line's recovery over the same primary: no graph is
    /// wanted, so a plain backup is copied from its file.
    RecoverCommand,
}

impl Scenario {
    pub const ALL: [Scenario; 7] = [
        Scenario::Save,
        Scenario::SaveFrom,
        Scenario::SaveRotate,
        Scenario::SaveRotatePurge,
        Scenario::Restore,
        Scenario::Recover,
        Scenario::RecoverCommand,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Save => "save",
            Scenario::SaveFrom => "save-from",
            Scenario::SaveRotate => "save+rotate",
            Scenario::SaveRotatePurge => "save+purge",
            Scenario::Restore => "restore",
            Scenario::Recover => "recover",
            Scenario::RecoverCommand => "recover-command",
        }
    }

    /// Recovery over a damaged primary, either way in.
    pub fn recovers(self) -> bool {
        matches!(self, Scenario::Recover | Scenario::RecoverCommand)
    }

    pub fn from_name(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Builds the store the operation starts from: three saves (three
    /// backups), and per scenario a retention policy or a damaged primary.
    pub fn build_base(self, fs: Arc<dyn Fs>, root: &Path) -> Result<(), StoreError> {
        let mut store = Store::open_with(root, fs.clone())?.with_lock_wait(LOCK_GRACE);
        if matches!(self, Scenario::SaveRotate | Scenario::SaveRotatePurge) {
            store.set_config(StoreConfig {
                retention: RetentionPolicy {
                    keep_last: Some(2),
                    keep_within: None,
                    min_valid: 1,
                    ..RetentionPolicy::default()
                },
                trash_grace: chrono::Duration::days(1),
                ..StoreConfig::default()
            })?;
        }
        for (i, day) in [1, 2, 3].into_iter().enumerate() {
            store.save_with(&graph(3 + i, &format!("base{i}")), &no_rotate(day))?;
        }
        if self == Scenario::SaveRotatePurge {
            // Day 4's rotation trashes days 1 and 2; their day of grace is
            // over by day 7, when the scenario runs.
            let rotated = store.save_with(
                &graph(6, "base3"),
                &SaveOptions {
                    rotate: true,
                    at: Some(at(4, 12)),
                },
            )?;
            if rotated.rotation.map(|r| r.trashed.len()) != Some(2) {
                return Err(StoreError::Invalid(
                    "the base rotation did not trash two backups".to_string(),
                ));
            }
            // A backup of day 6 is the store's own word that their grace
            // is over (a purge never believes the clock alone).
            store.save_with(&graph(6, "base4"), &no_rotate(6))?;
        }
        if self.recovers() {
            let path = store.primary_path();
            let mut bytes = gvfs::read_file(&*fs, &path, MAX_GRAPH_LEN)
                .map_err(|e| StoreError::io("read", &path, e))?;
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0x20;
            gvfs::write_atomic(&*fs, &path, &bytes, Publish::Replace)?;
        }
        Ok(())
    }

    /// The operation itself.
    pub fn run(self, store: &Store) -> Result<(), StoreError> {
        match self {
            Scenario::Save => store.save_with(&graph(7, "new"), &no_rotate(4)).map(drop),
            Scenario::SaveFrom => {
                let bytes = app_graph(8, 2, true, "from").into_bytes();
                store
                    .save_file_bytes(Path::new("input.json"), bytes, &no_rotate(4))
                    .map(drop)
            }
            Scenario::SaveRotate | Scenario::SaveRotatePurge => store
                .save_with(
                    &graph(7, "new"),
                    &SaveOptions {
                        rotate: true,
                        at: Some(at(if self == Scenario::SaveRotate { 4 } else { 7 }, 12)),
                    },
                )
                .and_then(|r| match r.rotation_error {
                    Some(e) => Err(StoreError::Invalid(format!("rotation failed: {e}"))),
                    None => Ok(()),
                }),
            Scenario::Restore => store
                .restore(
                    &BackupId::new(at(1, 12).naive_local(), 0),
                    RestoreOptions::default(),
                )
                .map(drop),
            Scenario::Recover => {
                let (graph, report) =
                    store.load_with_recovery(RecoverOptions { dry_run: false })?;
                match (graph, &report.source) {
                    (Some(_), Source::Backup(_)) => Ok(()),
                    _ => Err(not_restored(&report)),
                }
            }
            Scenario::RecoverCommand => {
                let report = store.recover_reporting(RecoverOptions { dry_run: false }, &|_| {})?;
                match (&report.restore, &report.source) {
                    (Some(_), Source::Backup(_)) => Ok(()),
                    _ => Err(not_restored(&report)),
                }
            }
        }
    }

    /// Whether completing the operation keeps the previous primary as evidence.
    fn keeps_evidence(self) -> bool {
        matches!(
            self,
            Scenario::Restore | Scenario::Recover | Scenario::RecoverCommand
        )
    }
}

/// A recovery that restored nothing, with what it found of each file.
fn not_restored(report: &RecoveryReport) -> StoreError {
    StoreError::Invalid(format!(
        "recovery did not restore a backup: {:?}; primary: {}; candidates: {}",
        report.source,
        report.primary.summary(),
        report
            .candidates
            .iter()
            .map(|c| format!("{} {}", c.path.display(), c.summary()))
            .collect::<Vec<_>>()
            .join("; ")
    ))
}

/// What the uninterrupted operation does, measured by running it.
#[derive(Debug, Clone)]
pub struct Expect {
    pub scenario: Scenario,
    pub old: Vec<u8>,
    pub old_meta: Vec<u8>,
    pub old_status: Status,
    pub new: Vec<u8>,
    /// Data bytes of every backup before the operation.
    pub before_backups: BTreeMap<BackupId, Vec<u8>>,
    /// Backups the clean run removed.
    pub removed: BTreeSet<BackupId>,
    /// Backups the clean run created.
    pub created: BTreeSet<BackupId>,
    /// Data bytes of every trash item before the operation, by item id.
    pub before_trash: BTreeMap<String, Vec<u8>>,
    /// Trash items the clean run purged.
    pub purged: BTreeSet<String>,
}

pub fn read(fs: &dyn Fs, path: &Path) -> Option<Vec<u8>> {
    gvfs::read_file(fs, path, MAX_GRAPH_LEN).ok()
}

/// Every trash item's data bytes, by item id, and the backup it holds.
/// An item not whole (an interrupted move, purge or restore) is an error.
pub fn trash_items(store: &Store) -> Result<BTreeMap<String, (BackupId, Vec<u8>)>, String> {
    let listing = store.list_trash().map_err(|e| format!("list trash: {e}"))?;
    let mut out = BTreeMap::new();
    for item in listing.items {
        if item.state != ItemState::Trashed {
            return Err(format!(
                "trash item {} is not whole after the locked reopen ({:?}: {:?})",
                item.id, item.state, item.notes
            ));
        }
        let data = store.trash_dir().join(format!("{}.json", item.id));
        let bytes = read(store.fs(), &data)
            .ok_or_else(|| format!("trash item {} has no data file", item.id))?;
        out.insert(item.id.to_string(), (item.backup_id, bytes));
    }
    Ok(out)
}

fn backups(store: &Store) -> Result<BTreeMap<BackupId, Vec<u8>>, String> {
    let listing = store
        .list_backups()
        .map_err(|e| format!("list backups: {e}"))?;
    Ok(listing
        .backups
        .iter()
        .map(|b| {
            let bytes = read(store.fs(), &b.data_path).unwrap_or_default();
            (b.id.clone(), bytes)
        })
        .collect())
}

impl Expect {
    /// Runs `scenario` on `fs` (a copy of the base store) and records what
    /// it changed.
    pub fn measure(scenario: Scenario, fs: Arc<dyn Fs>, root: &Path) -> Expect {
        let store = Store::open_with(root, fs.clone())
            .expect("open base")
            .with_lock_wait(LOCK_GRACE);
        let old = read(&*fs, &store.primary_path()).expect("base primary");
        let old_meta = read(&*fs, &store.primary_meta_path()).expect("base meta");
        let old_status = store
            .verify(&Target::Primary, Depth::Full)
            .expect("verify base")
            .status;
        let before_backups = backups(&store).expect("base backups");
        let before_trash: BTreeMap<String, Vec<u8>> = trash_items(&store)
            .expect("base trash")
            .into_iter()
            .map(|(id, (_, bytes))| (id, bytes))
            .collect();
        scenario
            .run(&store)
            .expect("the uninterrupted operation succeeds");
        let new = read(&*fs, &store.primary_path()).expect("new primary");
        let after = backups(&store).expect("backups after");
        let trash_after = trash_items(&store).expect("trash after");
        let purged: BTreeSet<String> = before_trash
            .keys()
            .filter(|id| !trash_after.contains_key(*id))
            .cloned()
            .collect();
        let removed: BTreeSet<BackupId> = before_backups
            .keys()
            .filter(|id| !after.contains_key(id))
            .cloned()
            .collect();
        let created = after
            .keys()
            .filter(|id| !before_backups.contains_key(id))
            .cloned()
            .collect();
        assert_ne!(
            old,
            new,
            "{}: the operation must change the primary",
            scenario.name()
        );
        // The removal paths must really run, or their crash points are
        // never enumerated.
        let (want_removed, want_purged) = match scenario {
            Scenario::SaveRotate => (2, 0),
            Scenario::SaveRotatePurge => (2, 2),
            _ => (0, 0),
        };
        assert_eq!(
            (removed.len(), purged.len()),
            (want_removed, want_purged),
            "{}: backups trashed and trash items purged by the clean run",
            scenario.name()
        );
        Expect {
            scenario,
            old,
            old_meta,
            old_status,
            new,
            before_backups,
            removed,
            created,
            before_trash,
            purged,
        }
    }
}

/// Which graph a reopened store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Landed {
    Old,
    New,
}

impl fmt::Display for Landed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Landed::Old => "old",
            Landed::New => "new",
        })
    }
}

/// Every regular file under `dir` (through the store's Fs), relative.
pub fn walk(fs: &dyn Fs, dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs.read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = d.join(&e.name);
            match e.kind {
                EntryKind::Dir => stack.push(p),
                _ => out.push(p),
            }
        }
    }
    out.sort();
    out
}

/// Reopens a store after an interruption and checks everything the
/// reliability bar promises. `Err` says what broke.
///
/// - Before any locked operation, verify already reports no false
///   corruption, and the primary is byte for byte the old or the new graph.
/// - A locked open succeeds (no stale lock), settles the pending meta,
///   sweeps every temp file, and changes no graph byte.
/// - The meta is final and matches; no pending meta is left.
/// - No backup that existed is lost or damaged (retention may remove only
///   what the clean run removed, and only meta first); a new backup is
///   valid or, when its meta never landed, unverified, never corrupt.
/// - If the new graph landed: a save's backup of it exists and verifies;
///   a restore or recovery kept the previous primary as evidence.
/// - A recovery cut short can be run again to the same result, and the
///   store takes a new save afterwards.
pub fn check_reopened(fs: Arc<dyn Fs>, root: &Path, exp: &Expect) -> Result<Landed, String> {
    let store = Store::open_with(root, fs.clone())
        .map_err(|e| format!("reopen: {e}"))?
        .with_lock_wait(LOCK_GRACE);
    let primary = store.primary_path();
    let report = store
        .verify(&Target::Primary, Depth::Full)
        .map_err(|e| format!("verify: {e}"))?;
    agrees_with_a_deep_verify(&store, &Target::Primary, report.status)?;
    let bytes = read(&*fs, &primary)
        .ok_or_else(|| format!("the primary is gone (verify: {})", report.summary()))?;
    let landed = if bytes == exp.new {
        Landed::New
    } else if bytes == exp.old {
        Landed::Old
    } else {
        return Err(format!(
            "the primary is neither the old nor the new graph: {} bytes (old {}, new {}), verify: {}",
            bytes.len(),
            exp.old.len(),
            exp.new.len(),
            report.summary()
        ));
    };
    let expected_status = match landed {
        Landed::New => Status::Valid,
        Landed::Old => exp.old_status,
    };
    if report.status != expected_status {
        return Err(format!(
            "false verdict before the locked reopen: the {landed} primary verifies as {} (expected {})",
            report.summary(),
            expected_status.name()
        ));
    }

    drop(store.lock().map_err(|e| format!("locked reopen: {e}"))?);

    let after = store
        .verify(&Target::Primary, Depth::Full)
        .map_err(|e| format!("verify after lock: {e}"))?;
    if read(&*fs, &primary).as_deref() != Some(bytes.as_slice()) {
        return Err("the locked reopen changed the primary's bytes".to_string());
    }
    if after.status != expected_status {
        return Err(format!(
            "after the locked reopen the {landed} primary verifies as {}",
            after.summary()
        ));
    }
    if fs.entry(&store.pending_meta_path()).is_ok() {
        return Err("a pending meta survived the locked reopen".to_string());
    }
    if expected_status == Status::Valid {
        let meta = read(&*fs, &store.primary_meta_path())
            .and_then(|m| Meta::from_slice(&m).ok())
            .ok_or("the primary's meta is missing or unreadable after the locked reopen")?;
        if meta.sha256() != Some(sha256_hex(&bytes).as_str()) {
            return Err("the primary's meta does not describe it after the locked reopen".into());
        }
    }
    let temps: Vec<PathBuf> = walk(&*fs, root)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(TEMP_PREFIX))
        })
        .collect();
    if !temps.is_empty() {
        return Err(format!("temp files survived the locked reopen: {temps:?}"));
    }

    let listing = store
        .list_backups()
        .map_err(|e| format!("list backups: {e}"))?;
    let trash = trash_items(&store)?;
    let mut present: BTreeMap<BackupId, Status> = BTreeMap::new();
    for b in &listing.backups {
        let r = store
            .verify(&Target::Backup(b.id.clone()), Depth::Full)
            .map_err(|e| format!("verify {}: {e}", b.id))?;
        present.insert(b.id.clone(), r.status);
        agrees_with_a_deep_verify(&store, &Target::Backup(b.id.clone()), r.status)?;
        let data = read(&*fs, &b.data_path);
        match exp.before_backups.get(&b.id) {
            Some(old_bytes) => {
                // After the locked reopen every interrupted move is
                // completed: a backup still here is whole and unchanged.
                if r.status != Status::Valid || data.as_deref() != Some(old_bytes.as_slice()) {
                    return Err(format!(
                        "backup {} was valid before and is now {}",
                        b.id,
                        r.summary()
                    ));
                }
            }
            None => {
                if !exp.created.contains(&b.id) {
                    return Err(format!("an unexpected backup appeared: {}", b.id));
                }
                if !r.status.is_usable() {
                    return Err(format!("the new backup {} is {}", b.id, r.summary()));
                }
            }
        }
    }
    // A backup is in backups/ or in the trash, whole, never in neither and
    // never in both; only what the clean run removed may be in the trash.
    for (id, old_bytes) in &exp.before_backups {
        let trashed: Vec<&String> = trash
            .iter()
            .filter(|(item, (backup, bytes))| {
                !exp.before_trash.contains_key(*item) && backup == id && bytes == old_bytes
            })
            .map(|(item, _)| item)
            .collect();
        match (present.contains_key(id), trashed.len()) {
            (true, 0) | (false, 1) => {}
            (true, _) => return Err(format!("backup {id} is both in backups/ and in the trash")),
            (false, 0) => {
                return Err(format!(
                    "backup {id} was lost: in neither backups/ nor the trash"
                ));
            }
            (false, _) => return Err(format!("backup {id} is in the trash twice: {trashed:?}")),
        }
        if !trashed.is_empty() && !exp.removed.contains(id) {
            return Err(format!(
                "backup {id} went to the trash but the plan keeps it"
            ));
        }
    }
    for (item, (backup, bytes)) in &trash {
        match exp.before_trash.get(item) {
            Some(old) if old == bytes => {}
            Some(_) => return Err(format!("trash item {item} changed")),
            None => {
                if exp.before_backups.get(backup) != Some(bytes) {
                    return Err(format!("an unexpected trash item appeared: {item}"));
                }
            }
        }
    }
    // Only a purge past the grace period takes anything out of the trash.
    for item in exp.before_trash.keys() {
        if !trash.contains_key(item) && !exp.purged.contains(item) {
            return Err(format!("trash item {item} was lost without being purged"));
        }
    }

    if landed == Landed::New {
        match exp.scenario {
            Scenario::Save
            | Scenario::SaveFrom
            | Scenario::SaveRotate
            | Scenario::SaveRotatePurge => {
                let backed_up = listing.backups.iter().any(|b| {
                    present.get(&b.id) == Some(&Status::Valid)
                        && read(&*fs, &b.data_path).as_deref() == Some(exp.new.as_slice())
                });
                if !backed_up {
                    return Err("the new graph landed without a valid backup of it".to_string());
                }
            }
            Scenario::Restore | Scenario::Recover | Scenario::RecoverCommand => {}
        }
        if exp.scenario.keeps_evidence() {
            let kept = walk(&*fs, &store.evidence_dir())
                .iter()
                .any(|p| read(&*fs, p).as_deref() == Some(exp.old.as_slice()));
            if !kept {
                return Err("the previous primary was replaced but not kept as evidence".into());
            }
        }
    }

    if exp.scenario.recovers() && landed == Landed::Old {
        let (graph, report) = store
            .load_with_recovery(RecoverOptions { dry_run: false })
            .map_err(|e| format!("recovery after the crash: {e}"))?;
        if graph.is_none() || read(&*fs, &primary).as_deref() != Some(exp.new.as_slice()) {
            return Err(format!(
                "recovery run again did not restore the newest valid backup: {:?}",
                report.source
            ));
        }
    }

    let next = store
        .save_with(&graph(2, "after"), &no_rotate(5))
        .map_err(|e| format!("a save after the crash failed: {e}"))?;
    let status = store
        .verify(&Target::Primary, Depth::Full)
        .map_err(|e| format!("verify after the next save: {e}"))?
        .status;
    if status != Status::Valid || next.checksum.is_empty() {
        return Err(format!(
            "the save after the crash left a {} primary",
            status.name()
        ));
    }
    Ok(landed)
}

/// The memo of verified content is written by saves and verifications, so
/// a crash can cut its writes short: whatever it left must never change a
/// verdict. A deep verify parses again and ignores the memo.
fn agrees_with_a_deep_verify(store: &Store, target: &Target, status: Status) -> Result<(), String> {
    let deep = store
        .clone()
        .with_deep(true)
        .verify(target, Depth::Full)
        .map_err(|e| format!("deep verify of {target}: {e}"))?;
    if deep.status != status {
        return Err(format!(
            "the memo changed a verdict: {target} verifies as {} but parsed again it is {}",
            status.name(),
            deep.summary()
        ));
    }
    Ok(())
}

/// Copies a directory tree of regular files (a real store) to `to`.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create copy");
    for e in std::fs::read_dir(from).expect("list").flatten() {
        let ft = e.file_type().expect("file type");
        let dest = to.join(e.file_name());
        if ft.is_dir() {
            copy_tree(&e.path(), &dest);
        } else if ft.is_file() {
            std::fs::copy(e.path(), &dest).expect("copy file");
        }
    }
}
