//! Save with backup, snapshot, and the commit protocol for the primary.
//!
//! # Commit protocol
//! Graph and meta are two files and two renames are not atomic together,
//! so a save runs, under the write lock:
//! 1. the backup pair `backups/graph_<ts>.json` + `.meta`, each written to a
//!    temp file, fsynced and linked under a name that is never overwritten;
//! 2. the new primary meta as `graph.json.meta.pending` (durable);
//! 3. the new graph to a temp file, fsync, rename over `graph.json`, fsync dir;
//! 4. rename the pending meta over `graph.json.meta`, fsync dir.
//!
//! The backup's data and the new graph are written to their temporary
//! names at once, beside the parse of `save --from`'s input; nothing is
//! linked or renamed into place before the bytes are proven a graph that
//! verify accepts, so a refused input leaves only temporary files, which
//! are removed (or swept by the next locked open after a crash).
//!
//! A crash before 3 leaves the old graph and its meta (the pending meta does
//! not match and is discarded at the next locked open). A crash between 3
//! and 4 leaves the new graph and a pending meta that matches it: verify
//! accepts it and the next locked open rolls it forward. So reopening gives
//! the old graph or the new one, and verify never reports false corruption.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::codec::{self, StoredForm};
use super::error::{Result, StoreError};
use super::fs::{self, Publish};
use super::meta::Meta;
use super::names::BackupId;
use super::rotate::RotateReport;
use super::verify::{Depth, Status, Target, hex};
use super::{MAX_GRAPH_LEN, Store};
use crate::graph::pyjson::{self, NonFinite};
use crate::graph::{KnowledgeGraph, SaveStamp};

/// Options of [`Store::save_with`].
#[derive(Debug, Clone, Default)]
pub struct SaveOptions {
    /// Apply the store's retention policy after the save (the default for
    /// [`Store::save_graph_with_backup`]).
    pub rotate: bool,
    /// The clock to stamp the save with; `None` is now. Used to build demo
    /// histories and in tests.
    pub at: Option<chrono::DateTime<chrono::Local>>,
}

/// What a save wrote.
#[derive(Debug, Clone, Serialize)]
pub struct SaveReport {
    pub primary_path: PathBuf,
    pub meta_path: PathBuf,
    pub backup_id: BackupId,
    pub backup_path: PathBuf,
    pub backup_meta_path: PathBuf,
    pub checksum: String,
    pub size: u64,
    pub node_count: usize,
    pub edge_count: usize,
    pub meta: Meta,
    /// Where the replaced primary was kept, when no backup held its bytes.
    pub evidence: Vec<PathBuf>,
    /// What retention removed after the save, when it ran.
    pub rotation: Option<RotateReport>,
    /// Retention failed after a successful save (the save stands).
    pub rotation_error: Option<String>,
    /// Backups past `keep-plain` that could not be compressed after the
    /// save (the save stands; `compact` tries again).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub compact_problems: Vec<String>,
    /// The new backup's name sorts before backups already there: the clock
    /// reads earlier than their names (see [`Store::named_behind`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub named_behind: Option<String>,
    pub elapsed_ms: f64,
}

/// What a snapshot wrote.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotReport {
    pub backup_id: BackupId,
    pub backup_path: PathBuf,
    pub checksum: String,
    pub size: u64,
    pub node_count: Option<usize>,
    pub edge_count: Option<usize>,
    /// Status of the primary when it was copied.
    pub primary_status: Status,
    /// The new backup's name sorts before backups already there: the clock
    /// reads earlier than their names (see [`Store::named_behind`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub named_behind: Option<String>,
    pub elapsed_ms: f64,
}

/// Collects bytes and hashes them in 1 MiB steps as they arrive, so the
/// checksum is ready when serialization ends (never re-read to hash).
struct HashingBuffer {
    buf: Vec<u8>,
    hashed: usize,
    hasher: Sha256,
}

impl HashingBuffer {
    const STEP: usize = 1 << 20;

    fn new(capacity: usize) -> Self {
        HashingBuffer {
            buf: Vec::with_capacity(capacity),
            hashed: 0,
            hasher: Sha256::new(),
        }
    }

    fn finish(mut self) -> (Vec<u8>, String) {
        self.hasher.update(&self.buf[self.hashed..]);
        (self.buf, hex(&self.hasher.finalize()))
    }
}

impl Write for HashingBuffer {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() - self.hashed >= Self::STEP {
            self.hasher.update(&self.buf[self.hashed..]);
            self.hashed = self.buf.len();
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Serializes `graph` as the application would on save (fresh `last_saved`
/// and stats) and returns the bytes with their SHA-256.
pub(crate) fn serialize_for_save(
    graph: &KnowledgeGraph,
    at: chrono::DateTime<chrono::Local>,
) -> (Vec<u8>, String) {
    let stamp = SaveStamp {
        last_saved: at.naive_local().format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
    };
    let mut out = HashingBuffer::new(graph.node_count() * 1024 + 4096);
    // Writing into memory cannot fail.
    let _ = graph.write_json(&mut out, Some(&stamp));
    out.finish()
}

/// The bytes a save writes, and how they came to be.
struct Prepared<'a> {
    /// Only read, except that bytes to parse with Python's bare `NaN` are
    /// masked in place while the save's threads run, and put back after.
    bytes: &'a mut [u8],
    at: chrono::DateTime<chrono::Local>,
    /// The caller kept the primary in evidence already (a partial restore
    /// keeps what it replaces, as every restore does): not kept twice.
    primary_kept: bool,
}

/// What a save knows of its bytes before it writes them.
enum Proof<'g> {
    /// The graph they are the file form of, its consistency and their hash.
    Known {
        graph: &'g KnowledgeGraph,
        consistency: crate::graph::Consistency,
        checksum: String,
    },
    /// Nothing yet: the bytes of the file at `input` are hashed, parsed and
    /// checked while they are written.
    Parse { input: &'g Path },
}

/// What a save put in place: the graph its bytes are, with its
/// consistency, the primary's meta, the checksum, the backup (id, data and
/// meta paths) and where the replaced primary was kept.
struct Written<'g> {
    graph: std::borrow::Cow<'g, KnowledgeGraph>,
    consistency: crate::graph::Consistency,
    meta: Meta,
    checksum: String,
    backup: (BackupId, PathBuf, PathBuf),
    evidence: Vec<PathBuf>,
}

/// What [`parse_for_save`] found: the graph and its consistency, or the
/// error.
type Parsed =
    std::result::Result<(KnowledgeGraph, crate::graph::Consistency), crate::graph::GraphError>;

/// Parses and checks bytes that other threads are writing (never changed),
/// with Python's bare `NaN` (`masked`) masked in them.
fn parse_for_save(bytes: &[u8], masked: &[NonFinite]) -> Parsed {
    let graph = KnowledgeGraph::from_masked(bytes, masked)?;
    let consistency = graph.check_consistency();
    Ok((graph, consistency))
}

/// The graph a save's bytes are, from `proof` and what the parse beside the
/// writes found (`parsed`; parsed here if it gave no answer).
fn prove<'g>(
    proof: Proof<'g>,
    parsed: Option<Parsed>,
    bytes: &mut [u8],
) -> Result<(
    std::borrow::Cow<'g, KnowledgeGraph>,
    crate::graph::Consistency,
)> {
    match proof {
        Proof::Known {
            graph, consistency, ..
        } => Ok((std::borrow::Cow::Borrowed(graph), consistency)),
        Proof::Parse { input } => {
            let parsed = parsed.unwrap_or_else(|| {
                let graph = KnowledgeGraph::from_mut_slice(bytes)?;
                let consistency = graph.check_consistency();
                Ok((graph, consistency))
            });
            let (graph, consistency) = parsed.map_err(|source| StoreError::Graph {
                path: input.to_path_buf(),
                source,
            })?;
            Ok((std::borrow::Cow::Owned(graph), consistency))
        }
    }
}

/// A graph file read for saving as it is: its bytes, their SHA-256, the
/// graph they parse to and its consistency, from one pass on two cores.
pub struct SaveInput {
    pub bytes: Vec<u8>,
    pub checksum: String,
    pub graph: KnowledgeGraph,
    pub consistency: crate::graph::Consistency,
}

impl SaveInput {
    /// Parses and hashes `bytes` at the same time (the hash on this core,
    /// the parse and the consistency check on another).
    ///
    /// # Errors
    /// The bytes are not a graph in the application's format.
    pub fn read(mut bytes: Vec<u8>) -> std::result::Result<SaveInput, crate::graph::GraphError> {
        let (checksum, parsed) = super::digest::hash_and_parse(&mut bytes);
        let graph = parsed?;
        let consistency = graph.check_consistency();
        Ok(SaveInput {
            bytes,
            checksum,
            graph,
            consistency,
        })
    }
}

/// The fsync of a file another thread wrote ([`fs::Unsynced::sync`]).
fn synced<'a>(
    written: &std::sync::mpsc::Receiver<Result<fs::Unsynced<'a>>>,
) -> Result<fs::Staged<'a>> {
    written
        .recv()
        .unwrap_or_else(|_| {
            Err(StoreError::Invalid(
                "a save's write ended without a result".to_string(),
            ))
        })
        .and_then(fs::Unsynced::sync)
}

/// Refuses to save what verify would call corrupt (the one consistency
/// check both share), before anything is put in place.
fn refuse_inconsistent(consistency: &crate::graph::Consistency) -> Result<()> {
    if consistency.problems.is_empty() {
        return Ok(());
    }
    Err(StoreError::InconsistentGraph {
        problems: consistency.problems.join("; "),
    })
}

/// How far behind the newest backup's name the clock may read before a new
/// backup takes its own time again (see `write_backup_pair`).
const MAX_NAME_CATCH_UP_HOURS: i64 = 2;

impl Store {
    /// Saves `graph` as the primary with a backup of it, then applies the
    /// store's retention policy. See the module docs for the protocol.
    ///
    /// # Errors
    /// [`StoreError::Locked`] when another process is writing, or an I/O
    /// error naming the step and path. On error the primary is unchanged
    /// (a backup pair may already exist: it is a complete, valid backup).
    pub fn save_graph_with_backup(&self, graph: &KnowledgeGraph) -> Result<SaveReport> {
        self.save_with(
            graph,
            &SaveOptions {
                rotate: true,
                at: None,
            },
        )
    }

    /// [`Store::save_graph_with_backup`] with options.
    ///
    /// # Errors
    /// As [`Store::save_graph_with_backup`].
    pub fn save_with(&self, graph: &KnowledgeGraph, options: &SaveOptions) -> Result<SaveReport> {
        let started = Instant::now();
        let _guard = self.lock_creating()?;
        self.save_locked(graph, options, "save", started, false)
    }

    /// The save itself, for a caller that holds the lock; `source` is recorded
    /// in the metas (what made this save).
    pub(crate) fn save_locked(
        &self,
        graph: &KnowledgeGraph,
        options: &SaveOptions,
        source: &str,
        started: Instant,
        primary_kept: bool,
    ) -> Result<SaveReport> {
        let at = options.at.unwrap_or_else(super::now);
        // The memo records what a save writes only for a consistent graph;
        // the check runs on the second core while this one serializes.
        let (mut bytes, checksum, consistency) = std::thread::scope(|s| {
            let check = s.spawn(|| graph.check_consistency());
            let (bytes, checksum) = serialize_for_save(graph, at);
            (bytes, checksum, check.join().ok())
        });
        let consistency = consistency.unwrap_or_else(|| graph.check_consistency());
        refuse_inconsistent(&consistency)?;
        let prepared = Prepared {
            bytes: &mut bytes,
            at,
            primary_kept,
        };
        let proof = Proof::Known {
            graph,
            consistency,
            checksum,
        };
        self.save_prepared(prepared, proof, options, source, started)
    }

    /// Saves a graph file's bytes as they are (`save --from FILE`): what
    /// [`SaveInput::read`] parsed and hashed. The primary and the backup are
    /// byte for byte the input (its `last_saved` included): nothing is
    /// serialized again.
    ///
    /// # Errors
    /// As [`Store::save_graph_with_backup`].
    pub fn save_input(&self, input: SaveInput, options: &SaveOptions) -> Result<SaveReport> {
        let started = Instant::now();
        let SaveInput {
            mut bytes,
            checksum,
            graph,
            consistency,
        } = input;
        // Refused before the lock: a refused input makes no directory a store.
        refuse_inconsistent(&consistency)?;
        // A save is the one operation that may make a directory a store.
        let _guard = self.lock_creating()?;
        let prepared = Prepared {
            bytes: &mut bytes,
            at: options.at.unwrap_or_else(super::now),
            primary_kept: false,
        };
        let proof = Proof::Known {
            graph: &graph,
            consistency,
            checksum,
        };
        self.save_prepared(prepared, proof, options, "save", started)
    }

    /// Saves the bytes of the graph file at `input` as they are (`save --from
    /// FILE`), parsing them while they are written: the backup's data and the
    /// new primary go to temporary names beside their targets while another
    /// core parses and checks the graph, and nothing is put in place until
    /// the parse has proven it. A graph that does not parse, or that verify
    /// would call corrupt, leaves the store as it was (the temporary files are
    /// removed). Python's bare `NaN` in the file are masked in place before
    /// the threads start, and put back as the bytes are hashed and written:
    /// never in a copy.
    ///
    /// Into a directory that is not a store yet the parse comes first (as
    /// [`SaveInput::read`] and [`Store::save_input`]), so that a refused input
    /// creates nothing.
    ///
    /// # Errors
    /// [`StoreError::Graph`] (naming `input`) for bytes that are not a graph
    /// in the application's format, [`StoreError::InconsistentGraph`], and as
    /// [`Store::save_graph_with_backup`].
    pub fn save_file_bytes(
        &self,
        input: &Path,
        mut bytes: Vec<u8>,
        options: &SaveOptions,
    ) -> Result<SaveReport> {
        if !self.is_store() {
            let read = SaveInput::read(bytes).map_err(|source| StoreError::Graph {
                path: input.to_path_buf(),
                source,
            })?;
            return self.save_input(read, options);
        }
        let started = Instant::now();
        let _guard = self.lock_creating()?;
        let prepared = Prepared {
            bytes: &mut bytes,
            at: options.at.unwrap_or_else(super::now),
            primary_kept: false,
        };
        self.save_prepared(prepared, Proof::Parse { input }, options, "save", started)
    }

    /// The save of `prepared`, under the lock, with what is known of its
    /// bytes (`proof`). Nothing is put in place before the bytes are proven
    /// a consistent graph.
    fn save_prepared(
        &self,
        prepared: Prepared<'_>,
        proof: Proof<'_>,
        options: &SaveOptions,
        source: &str,
        started: Instant,
    ) -> Result<SaveReport> {
        let Prepared {
            bytes,
            at,
            primary_kept,
        } = prepared;
        // Backup and primary are both written in full before the old
        // primary's space comes back.
        let size = bytes.len() as u64;
        self.require_space(
            "save",
            size,
            size.saturating_mul(2),
            "nothing was written: graph.json, its meta and the backups are unchanged",
        )?;
        // Hashes made in this save (keeping the old primary, the prefetch)
        // are recalled by its retention, and forgotten when it returns.
        let _remembering = self.remember_hashes();
        // A symlink or a directory at graph.json is refused before anything
        // is written (the keeping below would refuse it after the backup).
        if !primary_kept {
            self.refuse_unreplaceable_primary("before-save")
                .map_err(|e| e.left("nothing was saved: graph.json and its meta are unchanged"))?;
        }
        // Six things overlap; the disk is what they mostly wait for:
        // - the bytes are hashed (unless known) and the backup's data is
        //   written to a temporary name (this thread);
        // - for `save --from`, the bytes are parsed and checked (another
        //   core);
        // - the new primary is written under a temporary name and made
        //   durable (the two copies of 70 MB into the page cache are most of
        //   a save's writing);
        // - the bytes in graph.json, which may exist nowhere else (the
        //   application or a person wrote them, whatever the meta says), are
        //   kept unless a backup holds them;
        // - then the backups the retention that follows will read are hashed
        //   (see `prefetch.rs`).
        // The backup is put in place once the graph is proven and its meta
        // written; the new primary only once the backup is durable and the
        // old one is kept.
        let primary = self.primary_path();
        let rotating = options.rotate && self.config_problem.is_none();
        let stop = std::sync::atomic::AtomicBool::new(false);
        let (kept_tx, kept_rx) = std::sync::mpsc::channel::<()>();
        let (sum_tx, sum_rx) = std::sync::mpsc::channel::<String>();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<bool>();
        let nothing_saved = "nothing was saved: graph.json and its meta are unchanged";
        let written = std::thread::scope(|scope| {
            #[cfg(feature = "negative-controls")]
            let trust_guess = super::negative_controls::trust_backup_guess();
            let keeping = scope.spawn(move || {
                #[cfg(feature = "negative-controls")]
                super::negative_controls::set_trust_backup_guess(trust_guess);
                // The hashes run beside the writes; a copy is made only
                // for a save that goes ahead (its bytes proven a graph, its
                // backup in place and the new primary staged).
                let kept = match (primary_kept, sum_rx.recv()) {
                    (false, Ok(incoming)) => {
                        self.primary_needs_keeping(Some(&incoming))
                            .and_then(|needed| {
                                // Asked only when a copy is needed: the
                                // prefetch waits for this thread.
                                if needed && go_rx.recv() == Ok(true) {
                                    self.keep_evidence(None, at, "before-save")
                                } else {
                                    Ok(Vec::new())
                                }
                            })
                    }
                    // Kept by the caller, or the save ended before its bytes
                    // were hashed.
                    _ => Ok(Vec::new()),
                };
                // The prefetch may now recall the hashes made here.
                drop(kept_tx);
                kept
            });
            if rotating {
                let stop = &stop;
                scope.spawn(move || {
                    let _ = kept_rx.recv();
                    self.prefetch_for_retention(at, stop);
                });
            }
            // Each file is written on its own thread, then handed to another
            // for its fsync: the buffer is free once the writes have copied
            // it, while the disk still works.
            let (primary_tx, primary_rx) = std::sync::mpsc::channel();
            let primary_synced = scope.spawn(move || synced(&primary_rx));
            // A plain backup's data needs no meta yet: it is written before
            // the proof. (A compressed or delta one is encoded with its meta.)
            let early_backup =
                (self.config.backup_format.form_for(0) == StoredForm::Plain).then(|| {
                    let id = self.new_backup_id(at);
                    let data_path = self.backups_dir().join(id.data_file_name());
                    let (tx, rx) = std::sync::mpsc::channel();
                    let synced = scope.spawn(move || synced(&rx));
                    (id, data_path, tx, synced)
                });
            // Python's bare `NaN` in bytes to parse are masked in place
            // before the threads share them: the parse reads them masked and
            // starts at once, while the hash and the writes put the tokens
            // back as they go. Unmasked again below, once all have joined.
            let masked = match proof {
                Proof::Parse { .. } => {
                    let found = pyjson::find_non_finite(bytes);
                    pyjson::mask_non_finite(bytes, &found);
                    found
                }
                Proof::Known { .. } => Vec::new(),
            };
            let masked = &masked[..];
            // The writes, and the parse beside them, only read the bytes.
            let (checksum, parsed, backup_synced) = std::thread::scope(|inner| {
                let bytes: &[u8] = bytes;
                let write = move |w: &mut dyn Write| {
                    pyjson::for_each_unmasked(bytes, masked, |piece| w.write_all(piece))
                };
                // The disk is the longest wait: both writes start first.
                inner.spawn(move || {
                    let _ = primary_tx.send(fs::stage_unsynced(&*self.fs, &primary, write));
                });
                let backup_synced = early_backup.map(|(id, data_path, tx, synced)| {
                    let target = data_path.clone();
                    inner.spawn(move || {
                        let _ = tx.send(fs::stage_unsynced(&*self.fs, &target, write));
                    });
                    (id, data_path, synced)
                });
                let parsing = matches!(proof, Proof::Parse { .. })
                    .then(|| inner.spawn(move || parse_for_save(bytes, masked)));
                let checksum = match &proof {
                    Proof::Known { checksum, .. } => checksum.clone(),
                    Proof::Parse { .. } => super::digest::sha256_hex_unmasked(bytes, masked),
                };
                let _ = sum_tx.send(checksum.clone());
                let parsed = parsing.map(|p| {
                    // A panic in the parser is a bug, not a verdict on the
                    // input: parse again here so that it surfaces.
                    p.join().unwrap_or_else(|_| parse_for_save(bytes, masked))
                });
                (checksum, parsed, backup_synced)
            });
            pyjson::unmask_non_finite(bytes, masked);
            let proven = prove(proof, parsed, bytes).and_then(|(graph, consistency)| {
                refuse_inconsistent(&consistency)?;
                let meta = self.seal(Meta::for_data(
                    checksum.clone(),
                    size,
                    graph.node_count() as u64,
                    graph.edge_count() as u64,
                    source,
                    at,
                ))?;
                Ok((graph, consistency, meta))
            });
            let early_backup = backup_synced.map(|(id, data_path, synced)| {
                let staged = synced
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                staged.map(|staged| (id, data_path, staged))
            });
            let staged = primary_synced
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            let backup = match proven {
                // Not a graph to save: the staged files are dropped, which
                // removes them, and nothing else was written.
                Err(e) => Err(e),
                Ok((graph, consistency, meta)) => match early_backup {
                    Some(staged) => staged
                        .and_then(|(id, data_path, staged)| {
                            staged.publish(Publish::NoReplace)?;
                            let meta_path = self.backups_dir().join(id.meta_file_name());
                            fs::write_atomic(
                                &*self.fs,
                                &meta_path,
                                &meta.to_vec(),
                                Publish::NoReplace,
                            )?;
                            Ok((id, data_path, meta_path))
                        })
                        .map_err(|e| e.left(nothing_saved)),
                    None => self
                        .write_backup_pair(bytes, &meta, at)
                        .map_err(|e| e.left(nothing_saved)),
                }
                .map(|written| (graph, consistency, meta, written)),
            };
            // The save goes ahead once its backup is in place and the new
            // primary is staged: only then is the old primary copied.
            let _ = go_tx.send(backup.is_ok() && staged.is_ok());
            let kept = keeping
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            // An error drops the staged file, which removes it.
            let written = backup.and_then(
                |(graph, consistency, meta, (backup_id, backup_path, backup_meta_path))| {
                    let unchanged = format!(
                        "backup {backup_id} of the new graph was written; graph.json and its meta are unchanged"
                    );
                    let evidence = kept.map_err(|e| e.left(&*unchanged))?;
                    if !evidence.is_empty() {
                        tracing::warn!(kept = ?evidence, "no backup held the primary's bytes: kept them before saving over it");
                    }
                    let staged = staged.map_err(|e| e.left(&*unchanged))?;
                    self.commit_primary_with(&meta, |_| staged.publish(Publish::Replace))
                        .map_err(|e| {
                            e.left(format!("backup {backup_id} of the new graph was written"))
                        })?;
                    Ok(Written {
                        graph,
                        consistency,
                        meta,
                        checksum,
                        backup: (backup_id, backup_path, backup_meta_path),
                        evidence,
                    })
                },
            );
            if written.is_err() {
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            written
        });
        let Written {
            graph,
            consistency,
            meta,
            checksum,
            backup: (backup_id, backup_path, backup_meta_path),
            evidence,
        } = written?;
        let graph = &*graph;
        self.memo_record(super::memo::MemoEntry::new(
            &checksum,
            size,
            graph,
            consistency.warnings,
        ));
        tracing::info!(
            path = %self.primary_path().display(),
            backup = %backup_id,
            checksum = %checksum,
            size = bytes.len(),
            nodes = graph.node_count(),
            edges = graph.edge_count(),
            "saved graph with backup"
        );
        let named_behind = self.named_behind(&backup_id);
        let compact_problems = self.compact_after_save();
        let (rotation, rotation_error) =
            if let (true, Some(problem)) = (options.rotate, &self.config_problem) {
                (None, Some(format!("retention skipped: {problem}")))
            } else if options.rotate {
                match self.rotate_locked(
                    &self.config.retention,
                    false,
                    at.naive_local(),
                    Some(&backup_id),
                ) {
                    Ok(r) => (Some(r), None),
                    Err(e) => {
                        tracing::error!(error = %e, "retention after save failed; the save stands");
                        (None, Some(e.to_string()))
                    }
                }
            } else {
                (None, None)
            };
        Ok(SaveReport {
            primary_path: self.primary_path(),
            meta_path: self.primary_meta_path(),
            backup_id,
            backup_path,
            backup_meta_path,
            checksum,
            size: bytes.len() as u64,
            node_count: graph.node_count(),
            edge_count: graph.edge_count(),
            meta,
            evidence,
            rotation,
            rotation_error,
            compact_problems,
            named_behind,
            elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
        })
    }

    /// Backs up the current primary as it is, bytes unchanged. Refuses a
    /// corrupt or missing primary (a backup of it would only mislead).
    ///
    /// # Errors
    /// The primary is missing or corrupt, the lock is held, or an I/O error.
    pub fn snapshot(&self) -> Result<SnapshotReport> {
        let started = Instant::now();
        let _guard = self.lock()?;
        let inspection = self.inspect_target(&Target::Primary, Depth::Full, true);
        let report = inspection.report;
        let (Some(bytes), true) = (inspection.bytes, report.status.is_usable()) else {
            return Err(StoreError::VerifyFailed {
                path: self.primary_path(),
                reason: format!(
                    "snapshot refused, nothing was written: the primary is {}; recover it first",
                    report.summary()
                ),
            });
        };
        let at = super::now();
        let checksum = report.actual_checksum.clone().unwrap_or_default();
        let meta = self.seal(Meta::for_data(
            checksum.clone(),
            bytes.len() as u64,
            report.node_count.unwrap_or(0) as u64,
            report.edge_count.unwrap_or(0) as u64,
            "snapshot",
            at,
        ))?;
        let (backup_id, backup_path, _) = self.write_backup_pair(&bytes, &meta, at)?;
        tracing::info!(backup = %backup_id, checksum = %checksum, "snapshot of the primary");
        let named_behind = self.named_behind(&backup_id);
        Ok(SnapshotReport {
            backup_id,
            backup_path,
            checksum,
            size: bytes.len() as u64,
            node_count: report.node_count,
            edge_count: report.edge_count,
            primary_status: report.status,
            named_behind,
            elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
        })
    }

    /// Writes a backup pair under a fresh id for `at`, never overwriting:
    /// a name taken by any file gets the next counter in the same second.
    pub(crate) fn write_backup_pair(
        &self,
        bytes: &[u8],
        meta: &Meta,
        at: chrono::DateTime<chrono::Local>,
    ) -> Result<(BackupId, PathBuf, PathBuf)> {
        let id = self.new_backup_id(at);
        let dir = self.backups_dir();
        let format = &self.config.backup_format;
        let form = format.form_for(0);
        let data_path = dir.join(id.stored_file_name(form));
        let meta_path = dir.join(id.meta_file_name());
        match form {
            StoredForm::Plain => {
                fs::write_atomic(&*self.fs, &data_path, bytes, Publish::NoReplace)?;
                fs::write_atomic(&*self.fs, &meta_path, &meta.to_vec(), Publish::NoReplace)?;
            }
            StoredForm::Zstd | StoredForm::Delta => {
                let (stored, meta, delta) = match self.encode_as_delta(bytes, meta)? {
                    Some((stored, meta)) => (stored, meta, true),
                    None => {
                        let (stored, meta) = self.encode_backup(bytes, meta, &data_path)?;
                        (stored, meta, false)
                    }
                };
                let data_path = if delta {
                    dir.join(id.delta_file_name())
                } else {
                    data_path
                };
                fs::write_atomic(&*self.fs, &data_path, &stored, Publish::NoReplace)?;
                fs::write_atomic(&*self.fs, &meta_path, &meta.to_vec(), Publish::NoReplace)?;
                return Ok((id, data_path, meta_path));
            }
        }
        Ok((id, data_path, meta_path))
    }

    /// What to tell when the backup `id` just written is not the newest in
    /// creation order: its name, from a clock that reads earlier than the
    /// names of backups already there (a clock set back, or one that ran
    /// ahead when they were made), sorts before backups that carry no
    /// creation sequence (the application's). Backups with a sequence are
    /// ordered by it whatever their names (`names::creation_order`), so
    /// among graphvault's own a wrong clock misorders nothing. Recovery
    /// takes the newest backup first, so the user should know; nothing is
    /// lost by it.
    pub(crate) fn named_behind(&self, id: &BackupId) -> Option<String> {
        // The listing (a stat and a meta per backup) only when some name
        // sorts after this one.
        let entries = self.fs.read_dir(&self.backups_dir()).ok()?;
        let later = entries
            .iter()
            .filter_map(|e| BackupId::from_file_name(&e.name))
            .any(|(b, _)| &b > id);
        if !later {
            return None;
        }
        let listing = self.list_backups().ok()?;
        let ahead: Vec<&BackupId> = listing
            .backups
            .iter()
            .map(|b| &b.id)
            .take_while(|b| *b != id)
            .collect();
        let newest = ahead.first()?;
        if ahead.len() == listing.backups.len() {
            return None;
        }
        Some(format!(
            "backup {id} is named by this machine's clock, which reads earlier than the name of {} backup{} already there that carr{} no creation number (the newest is {newest}): {} taken as newer than this one, and recovery tries the newest first. Check the clock; nothing was removed because of it",
            ahead.len(),
            if ahead.len() == 1 { "" } else { "s" },
            if ahead.len() == 1 { "ies" } else { "y" },
            if ahead.len() == 1 {
                "it is"
            } else {
                "they are"
            },
        ))
    }

    /// A fresh backup id for `at` (the caller holds the lock): a name taken
    /// by any file, or by a backup in the trash, gets the next counter in
    /// the same second.
    fn new_backup_id(&self, at: chrono::DateTime<chrono::Local>) -> BackupId {
        let dir = self.backups_dir();
        let mut id = BackupId::new(at.naive_local(), 0);
        // A new backup must sort after every backup already there: order
        // is by name, and retention and recovery trust it. So never reuse a
        // name that retention freed in this second, and when the local clock
        // reads earlier than the newest name by a little (a DST fall-back
        // repeats an hour; small clock corrections), take the newest name's
        // second with the next counter. The meta keeps the true time. A
        // newest name far ahead is a clock that ran wild: it must not drag
        // every later name along, so it is left to retention's future rule.
        if let Ok(entries) = self.fs.read_dir(&dir) {
            let ids: Vec<BackupId> = entries
                .iter()
                .filter_map(|e| BackupId::from_file_name(&e.name))
                .map(|(b, _)| b)
                .collect();
            let catch_up = chrono::Duration::hours(MAX_NAME_CATCH_UP_HOURS);
            let last_before = ids
                .iter()
                .filter(|b| b.time() >= id.time() && b.time() - id.time() <= catch_up)
                .max();
            if let Some(last) = last_before {
                id = last.next_in_second();
            }
        }
        loop {
            let taken = [
                id.data_file_name(),
                id.zstd_file_name(),
                id.delta_file_name(),
                id.meta_file_name(),
                id.alt_meta_file_name(),
            ]
            .iter()
            .any(|n| self.fs.entry(&dir.join(n)).is_ok())
                // A name in the trash stays its backup's: a restore from
                // the trash must find its place free.
                || self.id_in_trash(&id);
            if !taken {
                break;
            }
            id = id.next_in_second();
        }
        id
    }

    /// With deltas on: the new backup as a delta against the newest full
    /// backup, when that base verifies, fewer than `full-every` backups
    /// were made since it, and the delta saves much (under half the base's
    /// stored size). `None` means a full backup is due.
    fn encode_as_delta(&self, plain: &[u8], meta: &Meta) -> Result<Option<(Vec<u8>, Meta)>> {
        let format = &self.config.backup_format;
        if !format.deltas {
            return Ok(None);
        }
        let listing = self.list_backups()?;
        let Some(pos) = listing
            .backups
            .iter()
            .position(|b| b.form.is_full() && b.has_data())
        else {
            return Ok(None);
        };
        // Every backup since the base counts: a full one every K.
        if pos + 1 >= format.full_every as usize {
            return Ok(None);
        }
        let base = &listing.backups[pos];
        let Some(base_sha) = base.checksum.as_deref().map(str::to_ascii_lowercase) else {
            return Ok(None);
        };
        // The base's plain bytes, proven to be what its meta names; any
        // doubt makes a full backup instead.
        let Ok(base_plain) = codec::read_plain(&*self.fs, &base.data_path, MAX_GRAPH_LEN) else {
            return Ok(None);
        };
        if super::digest::sha256_hex(&base_plain) != base_sha {
            return Ok(None);
        }
        let path = self.backups_dir().join(base.id.delta_file_name());
        let encoded = codec::compress_delta(&base_plain, plain, format.compression_level)
            .map_err(|e| StoreError::io("compress a delta backup", &path, e))?;
        // Not much saved: a full backup is worth its independence.
        if encoded.bytes.len() as u64 * 2 > base.size.unwrap_or(0) {
            return Ok(None);
        }
        let sha = meta.sha256().unwrap_or_default().to_ascii_lowercase();
        let proven = codec::proves_delta(&encoded.bytes, &base_plain, &sha)
            .map_err(|e| StoreError::io("check the delta backup", &path, e))?;
        if !proven {
            return Ok(None);
        }
        let mut meta = meta.clone();
        meta.stored_format = Some(codec::DELTA_FORMAT.to_string());
        meta.stored_size = Some(encoded.bytes.len() as u64);
        meta.stored_checksum = Some(encoded.sha256);
        meta.delta_base = Some(base.id.to_string());
        meta.delta_base_checksum = Some(base_sha);
        Ok(Some((encoded.bytes, self.sign(meta))))
    }

    /// Compresses a backup's plain bytes as the store's settings say and
    /// proves the frame gives them back; the meta gains what describes the
    /// stored bytes (and a new HMAC over them). `checksum` and `size` stay
    /// the plain JSON's.
    pub(crate) fn encode_backup(
        &self,
        plain: &[u8],
        meta: &Meta,
        data_path: &Path,
    ) -> Result<(Vec<u8>, Meta)> {
        let level = self.config.backup_format.compression_level;
        let encoded = codec::compress(plain, level)
            .map_err(|e| StoreError::io("compress backup", data_path, e))?;
        let sha = meta.sha256().unwrap_or_default().to_ascii_lowercase();
        let proven = codec::proves(&encoded.bytes, &sha)
            .map_err(|e| StoreError::io("check the compressed backup", data_path, e))?;
        if !proven {
            return Err(StoreError::ChecksumMismatch {
                path: data_path.to_path_buf(),
                expected: sha,
                actual: "the compressed bytes decompress to other content".to_string(),
            });
        }
        let mut meta = meta.clone();
        meta.stored_format = Some(codec::ZSTD_FORMAT.to_string());
        meta.stored_size = Some(encoded.bytes.len() as u64);
        meta.stored_checksum = Some(encoded.sha256);
        Ok((encoded.bytes, self.sign(meta)))
    }

    /// Replaces the primary and its meta (steps 2-4 of the protocol). With
    /// `reverify`, the temp file is read back and hashed before the rename
    /// (restore: proves the bytes on disk are the backup's); a file's
    /// content is always read back.
    pub(crate) fn commit_primary(
        &self,
        content: Content<'_>,
        meta: &Meta,
        reverify: bool,
    ) -> Result<()> {
        self.commit_primary_with(meta, |primary| match content {
            Content::Bytes(bytes) if !reverify => {
                fs::write_atomic(&*self.fs, primary, bytes, Publish::Replace)
            }
            content => self.write_verified_side_file(primary, content, meta),
        })
    }

    /// [`Store::commit_primary`] with the new graph's bytes put in place by
    /// `write` (given the primary's path), between the pending meta and the
    /// meta's rename.
    fn commit_primary_with(
        &self,
        meta: &Meta,
        write: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<()> {
        let pending = self.pending_meta_path();
        fs::write_atomic(&*self.fs, &pending, &meta.to_vec(), Publish::Replace)?;
        let primary = self.primary_path();
        let result = write(&primary);
        if let Err(e) = result {
            // Only a graph that surely did not land leaves a pending meta
            // that describes nothing. If the rename happened and a later
            // step failed (the directory fsync), the pending meta is all
            // that describes the new graph: the next locked open settles it.
            let landed = match super::verify::hash_file(&*self.fs, &primary, MAX_GRAPH_LEN) {
                Ok((actual, _)) => Some(meta.sha256() == Some(actual.as_str())),
                // No regular file of ours there: it surely did not land.
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::InvalidInput
                    ) =>
                {
                    Some(false)
                }
                Err(_) => None,
            };
            return Err(match landed {
                Some(false) => {
                    let _ = fs::remove_durable(&*self.fs, &pending);
                    e.left("the new graph did not land: graph.json and its meta are unchanged")
                }
                Some(true) => e.left(
                    "the new graph landed in graph.json; its meta is pending and is completed on the next write (verify already accepts it)",
                ),
                None => e.left(
                    "could not tell whether the new graph landed; its pending meta is kept and settled on the next write",
                ),
            });
        }
        fs::rename_durable(&*self.fs, &pending, &self.primary_meta_path())
    }

    /// Writes `content` to a side file beside `target`, reads it back and
    /// checks its SHA-256 and length against the meta, then renames it over
    /// `target`. A file is copied as it is read: what proves the copy is the
    /// read-back, so a source that changed since it was verified is refused.
    fn write_verified_side_file(
        &self,
        target: &Path,
        content: Content<'_>,
        meta: &Meta,
    ) -> Result<()> {
        let side =
            target.with_file_name(format!("{}restore-{}", fs::TEMP_PREFIX, std::process::id()));
        let _ = self.fs.remove_file(&side);
        let mut file = self
            .fs
            .create_new(&side)
            .map_err(|e| StoreError::io("create side file", &side, e))?;
        let written = match content {
            Content::Bytes(bytes) => file
                .write_all(bytes)
                .map_err(|e| StoreError::io("write side file", &side, e)),
            Content::File { path, .. } => self.copy_into(path, &mut *file, &side),
        }
        .and_then(|()| {
            file.flush()
                .map_err(|e| StoreError::io("write side file", &side, e))
        })
        .and_then(|()| {
            file.sync_all()
                .map_err(|e| StoreError::io("fsync side file", &side, e))
        });
        drop(file);
        let checked = written.and_then(|()| {
            let (actual, len) = super::verify::hash_file(&*self.fs, &side, MAX_GRAPH_LEN)
                .map_err(|e| StoreError::io("read back side file", &side, e))?;
            let expected = meta.sha256().unwrap_or_default();
            if actual != expected || len != content.len() {
                // A file copied as it is read: name it, not the side file.
                if let Content::File { path, .. } = content {
                    return Err(StoreError::VerifyFailed {
                        path: path.to_path_buf(),
                        reason: format!(
                            "its copy in {} has checksum {actual}, not the {expected} it was verified with: the file changed since it was verified, or the copy failed",
                            side.display()
                        ),
                    });
                }
                return Err(StoreError::ChecksumMismatch {
                    path: side.clone(),
                    expected: expected.to_string(),
                    actual,
                });
            }
            Ok(())
        });
        let renamed = checked.and_then(|()| fs::rename_durable(&*self.fs, &side, target));
        if renamed.is_err() {
            let _ = self.fs.remove_file(&side);
        }
        renamed
    }

    /// Copies the file at `from` into `to` (the side file at `side`) in
    /// chunks, holding one chunk in memory.
    fn copy_into(&self, from: &Path, to: &mut dyn fs::WriteFile, side: &Path) -> Result<()> {
        let mut source = self
            .fs
            .open_read(from, MAX_GRAPH_LEN)
            .map_err(|e| StoreError::io("open for copying", from, e))?;
        let mut chunk = vec![0u8; COPY_CHUNK];
        loop {
            let n = match source.reader.read(&mut chunk) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(StoreError::io("read for copying", from, e)),
            };
            to.write_all(&chunk[..n])
                .map_err(|e| StoreError::io("write side file", side, e))?;
        }
    }
}

/// Chunk of a copy from a backup file into the primary's side file.
const COPY_CHUNK: usize = 1 << 20;

/// What a restore puts in place of the primary.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Content<'a> {
    /// Bytes in hand (what a save serialized, or a decoded backup).
    Bytes(&'a [u8]),
    /// A plain backup file, copied as it is: nothing of it is held in
    /// memory. `len` is its verified size.
    File { path: &'a Path, len: u64 },
}

impl Content<'_> {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Content::Bytes(b) => b.len() as u64,
            Content::File { len, .. } => *len,
        }
    }
}
