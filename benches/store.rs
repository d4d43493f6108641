//! Benchmarks of the storage core against the floors this machine allows.
//!
//! `cargo bench --bench store` generates graphs of 10k, 100k and 200k nodes, runs every
//! operation several times and prints one table of medians, throughputs and ratios
//! against baselines measured in the same run (see `docs/PERFORMANCE.md`). Shared
//! machines are noisy, so the ratios matter more than the absolute figures.
//!
//! Settings, from the environment (or sizes as arguments after `--`):
//! - `GV_BENCH_SIZES`: comma-separated sizes, in nodes (`2000`, `10k`, `200k`) or in file
//!   bytes (`100MB`). Default `10k,100k,200k`.
//! - `GV_BENCH_REPS`: timed repetitions per measurement (default 5, 3 above 50 MB), after
//!   one untimed warm-up.
//! - `GV_BENCH_PEER=0`: skip the Python peer (`scripts/peer.py`).
//! - `GV_BENCH_OPS`: only these sections, e.g. `recovery` or `save,load` (of `save`,
//!   `verify`, `load`, `memory`, `recovery`, `verify-all`, `check`, `peer`, `list`, `tui`, `nodes`, `cli`,
//!   `compress`; and `big`, which runs only when named: the commands once each on one large
//!   graph with their peak memory, e.g. `GV_BENCH_OPS=big GV_BENCH_SIZES=1GB`).
//!   `check` times `Store::check` over simulated days and the real `graphvault check` command
//!   end to end, each beside one full verify of the primary plus the day's scrub share.
//!   `cli` times the real `graphvault` commands end to end on a store with 30 backups
//!   (save with retention, verify, recover, verify --all) beside `scripts/peer.py --history 30`
//!   and, when installed, restic and borg.
//! - `GV_BENCH_TUI=0`: skip the terminal UI timings.
//! - `GV_BENCH_DIR`: where the scratch stores go (default: the system temp dir).
//!
//! The body is [`run`], so that `tests/bench_smoke.rs` runs a tiny instance under
//! `cargo test` (it asserts what was measured is right, never how fast).

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use sha2::{Digest, Sha256};

use graphvault::generate::{graph_near_bytes, sized_graph};
use graphvault::graph::{KnowledgeGraph, SaveStamp};
use graphvault::store::Store;
use graphvault::store::history::HistoryOptions;
use graphvault::store::meta::Meta;
use graphvault::store::names::BackupId;
use graphvault::store::recover::{RecoverOptions, Source};
use graphvault::store::save::SaveOptions;
use graphvault::store::verify::{Depth, Status, Target, VerifyAllOptions};

/// Set in the environment of the child process that measures the peak memory of a load;
/// its value is the store to load.
pub const PEAK_CHILD_ENV: &str = "GV_BENCH_PEAK_LOAD";
/// The child's one line of output: `GV_PEAK <hwm before KiB> <hwm after KiB> <file bytes>`.
const PEAK_MARKER: &str = "GV_PEAK";

const MB: f64 = 1e6;
/// The size the targets of `PERFORMANCE.md` are stated for.
const TARGET_BYTES: f64 = 100.0 * MB;
/// Below this, fixed costs (fsync latency, thread start) dominate and a target scaled
/// down from 100 MB says nothing; those rows show no verdict.
const SCALED_TARGET_MIN_BYTES: u64 = 50_000_000;
const SEED: u64 = 0x0067_7662_656e_6368;
/// The three newest backups are damaged in the recovery scenario, the fourth is good.
const DAMAGED_BACKUPS: usize = 3;

fn main() {
    if let Some(store) = std::env::var_os(PEAK_CHILD_ENV) {
        if let Err(e) = peak_load_child(Path::new(&store)) {
            eprintln!("peak-memory child failed: {e:#}");
            std::process::exit(1);
        }
        return;
    }
    let config = match Config::from_env_and_args(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bad benchmark settings: {e:#}");
            std::process::exit(2);
        }
    };
    let mut stdout = io::stdout().lock();
    if let Err(e) = run(&config, &mut stdout) {
        eprintln!("benchmark failed: {e:#}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------------------------
// Settings

/// A graph size: a node count, or a file length to approach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeSpec {
    Nodes(usize),
    Bytes(usize),
}

impl SizeSpec {
    /// `2000`, `10k`, `1.5m` (nodes) or `100MB`, `512KB`, `1GB` (file bytes).
    pub fn parse(text: &str) -> Result<SizeSpec> {
        let t = text.trim().to_ascii_lowercase();
        let number = |s: &str, unit: f64| -> Result<usize> {
            let n: f64 = s
                .trim()
                .parse()
                .with_context(|| format!("size {text:?} is not a number"))?;
            ensure!(n > 0.0, "size {text:?} must be positive");
            Ok((n * unit).round() as usize)
        };
        if let Some(s) = t.strip_suffix("gb") {
            Ok(SizeSpec::Bytes(number(s, 1e9)?))
        } else if let Some(s) = t.strip_suffix("mb") {
            Ok(SizeSpec::Bytes(number(s, MB)?))
        } else if let Some(s) = t.strip_suffix("kb") {
            Ok(SizeSpec::Bytes(number(s, 1e3)?))
        } else if let Some(s) = t.strip_suffix('k') {
            Ok(SizeSpec::Nodes(number(s, 1e3)?))
        } else if let Some(s) = t.strip_suffix('m') {
            Ok(SizeSpec::Nodes(number(s, 1e6)?))
        } else {
            Ok(SizeSpec::Nodes(number(&t, 1.0)?))
        }
    }

    fn generate(self) -> KnowledgeGraph {
        match self {
            SizeSpec::Nodes(n) => sized_graph(n, SEED),
            SizeSpec::Bytes(b) => graph_near_bytes(b, SEED),
        }
    }
}

/// A part of the run that `GV_BENCH_OPS` can select.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Save,
    Verify,
    Load,
    Memory,
    Recovery,
    VerifyAll,
    Check,
    Peer,
    List,
    Tui,
    Nodes,
    Cli,
    Compress,
    /// Only when named: the commands on one large graph, with their peak memory.
    Big,
}

impl Section {
    /// Sections run only when `GV_BENCH_OPS` names them.
    pub const NAMED_ONLY: [Section; 1] = [Section::Big];

    pub const ALL: [Section; 13] = [
        Section::Save,
        Section::Verify,
        Section::Load,
        Section::Memory,
        Section::Recovery,
        Section::VerifyAll,
        Section::Check,
        Section::Peer,
        Section::List,
        Section::Tui,
        Section::Nodes,
        Section::Cli,
        Section::Compress,
    ];

    fn name(self) -> &'static str {
        match self {
            Section::Save => "save",
            Section::Verify => "verify",
            Section::Load => "load",
            Section::Memory => "memory",
            Section::Recovery => "recovery",
            Section::VerifyAll => "verify-all",
            Section::Check => "check",
            Section::Peer => "peer",
            Section::List => "list",
            Section::Tui => "tui",
            Section::Nodes => "nodes",
            Section::Cli => "cli",
            Section::Compress => "compress",
            Section::Big => "big",
        }
    }
}

/// Whether and how the Python peer runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerMode {
    Run,
    Skip(String),
}

/// What one run measures.
#[derive(Debug, Clone)]
pub struct Config {
    pub sizes: Vec<SizeSpec>,
    /// Timed repetitions; `None` picks by file size.
    pub reps: Option<usize>,
    pub peer: PeerMode,
    /// Parent of the scratch directory; `None` is the system temp dir.
    pub scratch_parent: Option<PathBuf>,
    /// Backup pairs created for the listing (and TUI) measurements.
    pub backups_to_list: usize,
    /// Backups verified by the verify-all measurement.
    pub backups_to_verify: usize,
    /// Arguments that make `current_exe()` act as the peak-memory child (with
    /// [`PEAK_CHILD_ENV`] set): none for the bench binary, a test filter for a test binary.
    pub child_args: Vec<String>,
    /// What to measure (all by default).
    pub sections: Vec<Section>,
}

impl Config {
    /// The settings `cargo bench --bench store` uses, from `GV_BENCH_*` and the arguments.
    ///
    /// # Errors
    /// A size or a repetition count that does not parse.
    pub fn from_env_and_args(args: impl Iterator<Item = String>) -> Result<Config> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        // cargo passes `--bench` to every bench binary; other flags are libtest's.
        let positional: Vec<String> = args.filter(|a| !a.starts_with('-')).collect();
        let size_text = if positional.is_empty() {
            env("GV_BENCH_SIZES").unwrap_or_else(|| "10k,100k,200k".to_string())
        } else {
            positional.join(",")
        };
        let sizes = size_text
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(SizeSpec::parse)
            .collect::<Result<Vec<_>>>()?;
        let reps = env("GV_BENCH_REPS")
            .map(|r| r.trim().parse::<usize>().context("GV_BENCH_REPS"))
            .transpose()?
            .map(|r| r.max(1));
        let peer = match env("GV_BENCH_PEER").as_deref() {
            Some("0" | "false" | "no") => PeerMode::Skip("GV_BENCH_PEER=0".to_string()),
            _ => PeerMode::Run,
        };
        let mut sections = match env("GV_BENCH_OPS") {
            None => Section::ALL.to_vec(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|name| {
                    Section::ALL
                        .into_iter()
                        .chain(Section::NAMED_ONLY)
                        .find(|s| s.name() == name)
                        .with_context(|| {
                            let names: Vec<&str> = Section::ALL
                                .iter()
                                .chain(&Section::NAMED_ONLY)
                                .map(|s| s.name())
                                .collect();
                            format!(
                                "GV_BENCH_OPS: no section {name:?} (one of {})",
                                names.join(", ")
                            )
                        })
                })
                .collect::<Result<Vec<_>>>()?,
        };
        if matches!(env("GV_BENCH_TUI").as_deref(), Some("0" | "false" | "no")) {
            sections.retain(|s| *s != Section::Tui);
        }
        Ok(Config {
            sizes,
            reps,
            peer,
            scratch_parent: env("GV_BENCH_DIR").map(PathBuf::from),
            backups_to_list: 10_000,
            backups_to_verify: 30,
            child_args: Vec::new(),
            sections,
        })
    }

    pub fn wants(&self, section: Section) -> bool {
        self.sections.contains(&section)
    }

    fn reps_for(&self, file_bytes: u64) -> usize {
        self.reps
            .unwrap_or(if file_bytes > SCALED_TARGET_MIN_BYTES {
                3
            } else {
                5
            })
    }
}

// ---------------------------------------------------------------------------------------------
// Results

/// Median and spread of repeated timings.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub median: Duration,
    pub min: Duration,
    pub max: Duration,
    pub reps: usize,
}

impl Timing {
    fn of(mut samples: Vec<Duration>) -> Result<Timing> {
        ensure!(!samples.is_empty(), "no samples");
        samples.sort();
        let n = samples.len();
        let median = if n % 2 == 1 {
            samples[n / 2]
        } else {
            (samples[n / 2 - 1] + samples[n / 2]) / 2
        };
        Ok(Timing {
            median,
            min: samples[0],
            max: samples[n - 1],
            reps: n,
        })
    }

    fn ms(&self) -> f64 {
        self.median.as_secs_f64() * 1e3
    }
}

/// What a row measured.
#[derive(Debug, Clone, Copy)]
pub enum Measured {
    Time(Timing),
    /// Peak resident memory added by the operation.
    Memory {
        peak_bytes: u64,
    },
}

/// How the ratio column reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RatioKind {
    /// Our time over the floor's time: 1.0 is the floor, lower is better.
    TimeOverFloor,
    /// The baseline's time over ours: our speed relative to the baseline.
    Speed,
    /// Sequential time over ours: how many cores' worth of work.
    Speedup,
    /// Peak memory over file size.
    OfFile,
    /// CPU time over wall time: cores kept busy.
    Busy,
}

/// The goal a row is held to, as `PERFORMANCE.md` states it.
#[derive(Debug, Clone, Copy)]
pub enum Goal {
    /// At most this many ms for a 100 MB file, scaled linearly with the file's size.
    MsPer100Mb(f64),
    /// At most this many ms, whatever the graph.
    Ms(f64),
    /// A ratio at least this.
    RatioAtLeast(f64),
    /// A ratio at most this.
    RatioAtMost(f64),
}

#[derive(Debug, Clone)]
pub struct Row {
    pub size: String,
    pub operation: String,
    pub measured: Measured,
    /// Bytes processed, for the throughput column.
    pub bytes: Option<u64>,
    /// Length of the graph file the row is about: targets scale with it, and rows of
    /// small graphs get no verdict.
    pub graph_bytes: Option<u64>,
    pub baseline: Option<(String, Timing)>,
    pub ratio: Option<(f64, RatioKind)>,
    /// The Python peer's median on the same graph, in ms.
    pub peer_ms: Option<f64>,
    pub goal: Option<Goal>,
}

impl Row {
    fn time(size: &str, operation: &str, timing: Timing, bytes: Option<u64>) -> Row {
        Row {
            size: size.to_string(),
            operation: operation.to_string(),
            measured: Measured::Time(timing),
            bytes,
            graph_bytes: bytes,
            baseline: None,
            ratio: None,
            peer_ms: None,
            goal: None,
        }
    }

    fn against(mut self, name: &str, baseline: Timing, kind: RatioKind) -> Row {
        let (ours, base) = match self.measured {
            Measured::Time(t) => (t.median.as_secs_f64(), baseline.median.as_secs_f64()),
            Measured::Memory { .. } => (0.0, 0.0),
        };
        let ratio = match kind {
            RatioKind::TimeOverFloor => ours / base.max(1e-9),
            RatioKind::Speed | RatioKind::Speedup => base / ours.max(1e-9),
            RatioKind::OfFile | RatioKind::Busy => 0.0,
        };
        self.baseline = Some((name.to_string(), baseline));
        self.ratio = Some((ratio, kind));
        self
    }

    fn goal(mut self, goal: Goal) -> Row {
        self.goal = Some(goal);
        self
    }

    /// The goal in this row's terms, and whether it was met; `None` when the goal does not
    /// apply at this size.
    pub fn verdict(&self) -> Option<(String, bool)> {
        let goal = self.goal?;
        if self
            .graph_bytes
            .is_some_and(|b| b < SCALED_TARGET_MIN_BYTES)
        {
            return None;
        }
        match (goal, self.measured) {
            (Goal::MsPer100Mb(ms), Measured::Time(t)) => {
                let limit = ms * self.graph_bytes? as f64 / TARGET_BYTES;
                Some((format!("<= {limit:.0} ms"), t.ms() <= limit))
            }
            (Goal::Ms(ms), Measured::Time(t)) => Some((format!("<= {ms:.0} ms"), t.ms() <= ms)),
            (Goal::RatioAtLeast(r), _) => {
                let (got, _) = self.ratio?;
                Some((format!(">= {r}x"), got >= r))
            }
            (Goal::RatioAtMost(r), _) => {
                let (got, _) = self.ratio?;
                Some((format!("<= {r}x"), got <= r))
            }
            _ => None,
        }
    }
}

/// Everything one run produced.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub rows: Vec<Row>,
    /// One line per size: file length, counts, generation time.
    pub graphs: Vec<String>,
    /// Why something was not measured.
    pub skipped: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// The run

/// Runs every measurement `config` asks for, prints the table to `out` (progress goes to
/// stderr) and returns it.
///
/// # Errors
/// An operation failed or gave a wrong result (a verification that should pass did not,
/// recovery restored the wrong backup): the figures would mean nothing.
pub fn run(config: &Config, out: &mut dyn Write) -> Result<Report> {
    let parent = config
        .scratch_parent
        .clone()
        .unwrap_or_else(std::env::temp_dir);
    fs::create_dir_all(&parent).with_context(|| format!("create {}", parent.display()))?;
    let scratch = tempfile::Builder::new()
        .prefix("gv-bench-")
        .tempdir_in(&parent)
        .context("create the scratch directory")?;
    let mut report = Report::default();
    let peer = match &config.peer {
        PeerMode::Run => python_version()
            .map(|v| {
                progress(&format!("peer: {v}"));
                PeerMode::Run
            })
            .unwrap_or_else(PeerMode::Skip),
        skip => skip.clone(),
    };
    if let PeerMode::Skip(why) = &peer {
        report.skipped.push(format!("Python peer not run: {why}"));
    }

    for &spec in &config.sizes {
        let started = Instant::now();
        let graph = spec.generate();
        let generated = started.elapsed();
        let dir = scratch.path().join(format!("size-{}", graph.node_count()));
        fs::create_dir_all(&dir)?;
        bench_size(config, &peer, spec, &graph, generated, &dir, &mut report)?;
        // Each size's stores hold several copies of the graph: free the disk before the next.
        fs::remove_dir_all(&dir).with_context(|| format!("remove {}", dir.display()))?;
    }

    if config.wants(Section::List) || config.wants(Section::Tui) {
        bench_listing(config, scratch.path(), &mut report)?;
    }

    write_table(out, &report)?;
    Ok(report)
}

fn progress(text: &str) {
    eprintln!("[bench] {text}");
}

fn bench_size(
    config: &Config,
    peer: &PeerMode,
    spec: SizeSpec,
    graph: &KnowledgeGraph,
    generated: Duration,
    dir: &Path,
    report: &mut Report,
) -> Result<()> {
    let nodes = graph.node_count();
    let label = match spec {
        SizeSpec::Nodes(n) => size_label(n),
        SizeSpec::Bytes(b) => format!("{:.0} MB", b as f64 / MB),
    };
    progress(&format!(
        "{label}: generated {nodes} nodes, {} edges in {:.2} s",
        graph.edge_count(),
        generated.as_secs_f64()
    ));
    // The store every section but recovery and verify-all works on.
    let store_dir = dir.join("store");
    let store = Store::open(&store_dir)?;
    let file_len = store.save_with(graph, &no_rotation())?.size;
    let reps = config.reps_for(file_len);
    report.graphs.push(format!(
        "{label}: {nodes} nodes, {} edges, graph.json {:.1} MB, generated in {:.2} s",
        graph.edge_count(),
        file_len as f64 / MB,
        generated.as_secs_f64()
    ));
    progress(&format!(
        "{label}: graph.json is {:.1} MB; {reps} timed repetitions each",
        file_len as f64 / MB
    ));
    let size = SizeRun {
        label: &label,
        graph,
        file_len,
        reps,
        dir,
    };

    let write_floor = if config.wants(Section::Save) {
        Some(bench_save(&size, &store, report)?)
    } else {
        None
    };
    let one_hash = if config.wants(Section::Verify) {
        Some(bench_verify(&size, &store, report)?)
    } else {
        None
    };
    let read_parse = if config.wants(Section::Load) {
        Some(bench_load(&size, &store, report)?)
    } else {
        None
    };
    if config.wants(Section::Memory) {
        // In a child process, so that nothing else this process did counts.
        let peak = peak_load_memory(config, &store_dir)?;
        report.rows.push(Row {
            size: label.clone(),
            operation: "load: peak memory".to_string(),
            measured: Measured::Memory { peak_bytes: peak },
            bytes: Some(file_len),
            graph_bytes: Some(file_len),
            baseline: None,
            ratio: Some((peak as f64 / file_len as f64, RatioKind::OfFile)),
            peer_ms: None,
            goal: Some(Goal::RatioAtMost(3.0)),
        });
    }
    if config.wants(Section::Recovery) {
        let recovery = bench_recovery(&size)?;
        let mut row = Row::time(
            &label,
            "load with recovery (4th backup)",
            recovery,
            Some(file_len),
        )
        .goal(Goal::MsPer100Mb(1000.0));
        if let (Some(hash), Some(parse), Some(write)) = (one_hash, read_parse, write_floor) {
            let floor = sum_timings(&[(hash, 1 + DAMAGED_BACKUPS as u32), (parse, 1), (write, 1)]);
            row = row.against(
                "4 hashes + read/parse + write",
                floor,
                RatioKind::TimeOverFloor,
            );
        }
        report.rows.push(row);
    }
    if config.wants(Section::VerifyAll) {
        bench_verify_all(config, &size, &store, report)?;
    }
    if config.wants(Section::Nodes) {
        bench_nodes(config, &size, report)?;
    }
    if config.wants(Section::Check) {
        bench_check(config, &size, &store, report)?;
    }
    if config.wants(Section::Cli) {
        bench_cli(config, peer, &size, report)?;
    }
    if config.wants(Section::Compress) {
        bench_compress(&size, report)?;
    }
    if config.wants(Section::Big) {
        bench_big(&size, &store, report)?;
    }
    drop(store);
    fs::remove_dir_all(&store_dir)?;

    match peer {
        PeerMode::Run if config.wants(Section::Peer) => {
            let peer_reps = if file_len > SCALED_TARGET_MIN_BYTES {
                1
            } else {
                reps.min(3)
            };
            let results = run_peer(graph, dir, peer_reps)?;
            for row in report.rows.iter_mut().filter(|r| r.size == label) {
                row.peer_ms = match row.operation.as_str() {
                    "save with backup" => Some(results.save_ms),
                    "load (verify + parse)" => Some(results.load_ms),
                    "load with recovery (4th backup)" => Some(results.recovery_ms),
                    _ => None,
                };
            }
        }
        _ => {}
    }
    Ok(())
}

/// One graph size's settings, shared by its sections.
struct SizeRun<'a> {
    label: &'a str,
    graph: &'a KnowledgeGraph,
    file_len: u64,
    reps: usize,
    dir: &'a Path,
}

/// Save with backup, against serialize + hash + write + copy done by hand. Returns the
/// floor's write step (the recovery floor reuses it).
fn bench_save(size: &SizeRun<'_>, store: &Store, report: &mut Report) -> Result<Timing> {
    let floor_dir = size.dir.join("floor");
    fs::create_dir_all(&floor_dir)?;
    let mut ours = Vec::new();
    let mut floor = FloorParts::default();
    for rep in 0..=size.reps {
        clear_dir(&store.backups_dir())?;
        let t = Instant::now();
        let saved = store.save_with(size.graph, &no_rotation())?;
        let elapsed = t.elapsed();
        ensure!(
            saved.size == size.file_len,
            "save wrote {} bytes, then {}",
            size.file_len,
            saved.size
        );
        let parts = save_floor(size.graph, size.file_len, &floor_dir)?;
        if rep > 0 {
            ours.push(elapsed);
            floor.push(&parts);
        }
    }
    clear_dir(&store.backups_dir())?;
    fs::remove_dir_all(&floor_dir)?;
    report.rows.push(
        Row::time(
            size.label,
            "save with backup",
            Timing::of(ours)?,
            Some(size.file_len),
        )
        .against(
            "serialize+sha+write+copy",
            Timing::of(floor.total.clone())?,
            RatioKind::TimeOverFloor,
        )
        .goal(Goal::MsPer100Mb(450.0)),
    );
    for (name, samples) in [
        ("  floor: serialize to memory", &floor.serialize),
        ("  floor: sha256 of the bytes", &floor.hash),
        ("  floor: write+fsync+rename", &floor.write),
        ("  floor: copy+fsync+rename", &floor.copy),
    ] {
        report.rows.push(Row::time(
            size.label,
            name,
            Timing::of(samples.clone())?,
            Some(size.file_len),
        ));
    }
    Timing::of(floor.write)
}

/// Compressed (zstd) backups: a save with compression against a plain save, a checksum
/// verify of a compressed backup against one of a plain backup, verifies at the default
/// depth of a compressed and of a delta backup against a plain one (memo warm and cold),
/// the stored size, and the `zstd` command line on the same file at the same level where
/// it is installed.
fn bench_compress(size: &SizeRun<'_>, report: &mut Report) -> Result<()> {
    let plain_dir = size.dir.join("compress-plain");
    let zstd_dir = size.dir.join("compress-zstd");
    let plain = Store::open(&plain_dir)?;
    let mut zstd = Store::open(&zstd_dir)?;
    // The first save makes the store; the setting needs one.
    zstd.save_with(size.graph, &no_rotation())?;
    zstd.set_setting("compression", "zstd")?;
    let (mut plain_saves, mut zstd_saves) = (Vec::new(), Vec::new());
    let (mut plain_last, mut zstd_last) = (None, None);
    for rep in 0..=size.reps {
        clear_dir(&plain.backups_dir())?;
        clear_dir(&zstd.backups_dir())?;
        let t = Instant::now();
        let p = plain.save_with(size.graph, &no_rotation())?;
        let plain_elapsed = t.elapsed();
        let t = Instant::now();
        let z = zstd.save_with(size.graph, &no_rotation())?;
        let zstd_elapsed = t.elapsed();
        if rep > 0 {
            plain_saves.push(plain_elapsed);
            zstd_saves.push(zstd_elapsed);
        }
        plain_last = Some(p.backup_id);
        zstd_last = Some(z.backup_id);
    }
    let (Some(plain_id), Some(zstd_id)) = (plain_last, zstd_last) else {
        bail!("no save was measured");
    };
    report.rows.push(
        Row::time(
            size.label,
            "save with backup, zstd level 3",
            Timing::of(zstd_saves)?,
            Some(size.file_len),
        )
        .against(
            "save with backup, plain",
            Timing::of(plain_saves)?,
            RatioKind::TimeOverFloor,
        )
        .goal(Goal::RatioAtMost(1.3)),
    );
    let (mut plain_verifies, mut zstd_verifies) = (Vec::new(), Vec::new());
    for rep in 0..=size.reps {
        let t = Instant::now();
        let p = plain.verify(&Target::Backup(plain_id.clone()), Depth::Checksum)?;
        let plain_elapsed = t.elapsed();
        let t = Instant::now();
        let z = zstd.verify(&Target::Backup(zstd_id.clone()), Depth::Checksum)?;
        let zstd_elapsed = t.elapsed();
        ensure!(
            p.status == Status::Valid && z.status == Status::Valid,
            "verify: plain {}, zstd {}",
            p.summary(),
            z.summary()
        );
        if rep > 0 {
            plain_verifies.push(plain_elapsed);
            zstd_verifies.push(zstd_elapsed);
        }
    }
    report.rows.push(
        Row::time(
            size.label,
            "verify a zstd backup (checksum)",
            Timing::of(zstd_verifies)?,
            Some(size.file_len),
        )
        .against(
            "verify a plain backup",
            Timing::of(plain_verifies)?,
            RatioKind::Speed,
        )
        .goal(Goal::RatioAtLeast(0.8)),
    );
    // Verify at the default depth (what `graphvault verify` does): a
    // compressed backup is decompressed and parsed, a delta read through
    // its base, against the same for a plain backup.
    let delta_dir = size.dir.join("compress-delta");
    let mut delta = Store::open(&delta_dir)?;
    delta.save_with(size.graph, &no_rotation())?;
    delta.set_setting("compression", "zstd")?;
    delta.set_setting("deltas", "on")?;
    clear_dir(&delta.backups_dir())?;
    delta.save_with(size.graph, &no_rotation())?;
    let mut changed = size.graph.clone();
    changed.add_node(
        "bench",
        serde_json::json!({"delta": true}),
        Some("compress_delta_node"),
    );
    let delta_id = delta.save_with(&changed, &no_rotation())?.backup_id;
    let delta_form = delta
        .list_backups()?
        .backups
        .iter()
        .find(|b| b.id == delta_id)
        .map(|b| b.form);
    ensure!(
        delta_form == Some(graphvault::store::codec::StoredForm::Delta),
        "the second save was not written as a delta: {delta_form:?}"
    );
    // Twice: with the memo as a save leaves it (content it has parsed is
    // proven by its hash; a matching stored checksum proves a compressed
    // backup's without decompressing), and cold (the memo removed before
    // each verify: every backup decompressed, hashed and parsed).
    for cold in [false, true] {
        let (mut plain_full, mut zstd_full, mut delta_full) = (Vec::new(), Vec::new(), Vec::new());
        for rep in 0..=size.reps {
            let one = |store: &Store, id: &BackupId| -> Result<Duration> {
                if cold {
                    let memo = store.state_dir().join("memo");
                    if memo.exists() {
                        fs::remove_dir_all(&memo)?;
                    }
                }
                let t = Instant::now();
                let r = store.verify(&Target::Backup(id.clone()), Depth::Full)?;
                let elapsed = t.elapsed();
                ensure!(r.status == Status::Valid, "verify {id}: {}", r.summary());
                Ok(elapsed)
            };
            let p = one(&plain, &plain_id)?;
            let z = one(&zstd, &zstd_id)?;
            let d = one(&delta, &delta_id)?;
            if rep > 0 {
                plain_full.push(p);
                zstd_full.push(z);
                delta_full.push(d);
            }
        }
        let plain_full = Timing::of(plain_full)?;
        let memo = if cold { "memo cold" } else { "memo warm" };
        for (what, samples) in [("zstd", zstd_full), ("delta", delta_full)] {
            report.rows.push(
                Row::time(
                    size.label,
                    &format!("verify a {what} backup (default depth, {memo})"),
                    Timing::of(samples)?,
                    Some(size.file_len),
                )
                .against(
                    &format!("verify a plain backup (default depth, {memo})"),
                    plain_full,
                    RatioKind::Speed,
                )
                .goal(Goal::RatioAtLeast(0.8)),
            );
        }
    }
    drop(delta);
    fs::remove_dir_all(&delta_dir)?;
    let listing = zstd.list_backups()?;
    let stored = listing
        .backups
        .iter()
        .find(|b| b.id == zstd_id)
        .and_then(|b| b.size)
        .context("the compressed backup is listed")?;
    let line = format!(
        "{}: a zstd backup stores {:.1} MB of {:.1} MB ({:.1}% of the plain size, {:.1}x)",
        size.label,
        stored as f64 / MB,
        size.file_len as f64 / MB,
        stored as f64 * 100.0 / size.file_len as f64,
        size.file_len as f64 / stored.max(1) as f64
    );
    progress(&line);
    report.graphs.push(line);
    // The zstd command line, same file, same level, for comparison.
    let input = zstd.primary_path();
    let out = size.dir.join("compress-cli.zst");
    let cli = (0..=size.reps)
        .map(|_| -> Result<Duration> {
            let t = Instant::now();
            let status = Command::new("zstd")
                .args(["-3", "-q", "-f", "-o"])
                .arg(&out)
                .arg(&input)
                .status()?;
            ensure!(status.success(), "zstd exited with {status}");
            Ok(t.elapsed())
        })
        .collect::<Result<Vec<_>>>();
    match cli {
        Ok(mut samples) => {
            samples.remove(0);
            let cli_len = fs::metadata(&out)?.len();
            report.rows.push(Row::time(
                size.label,
                "  zstd -3 CLI on graph.json (no fsync)",
                Timing::of(samples)?,
                Some(size.file_len),
            ));
            report.graphs.push(format!(
                "{}: zstd -3 on the command line: {:.1} MB",
                size.label,
                cli_len as f64 / MB
            ));
            fs::remove_file(&out)?;
        }
        Err(e) => {
            let why = format!("{}: zstd CLI not measured: {e:#}", size.label);
            progress(&why);
            report.skipped.push(why);
        }
    }
    drop((plain, zstd));
    fs::remove_dir_all(&plain_dir)?;
    fs::remove_dir_all(&zstd_dir)?;
    bench_month(size, report)
}

/// Days of the simulated month of daily backups.
const MONTH_DAYS: usize = 30;

/// A month of daily backups with small daily changes (1% of the nodes get
/// new data, and a few are added), stored with zstd alone and with deltas:
/// what each store takes as a share of the plain JSON (targets: at most 20%
/// and 3%), then recovery through a delta against recovery through a full
/// compressed backup (target: at most 1.5x).
fn bench_month(size: &SizeRun<'_>, report: &mut Report) -> Result<()> {
    let mut stores = Vec::new();
    for (name, deltas) in [("month-zstd", false), ("month-delta", true)] {
        let dir = size.dir.join(name);
        let mut store = Store::open(&dir)?;
        store.save_with(size.graph, &no_rotation())?;
        clear_dir(&store.backups_dir())?;
        store.set_setting("compression", "zstd")?;
        if deltas {
            store.set_setting("deltas", "on")?;
            store.set_setting("full-every", "31")?;
        }
        stores.push((name, dir, store));
    }
    let keys: Vec<String> = size.graph.nodes().map(|n| n.id().to_string()).collect();
    let step = (keys.len() / 100).max(1);
    let mut graph = size.graph.clone();
    let mut plain_total = 0u64;
    let start = chrono::Local::now() - chrono::Duration::days(MONTH_DAYS as i64 + 1);
    for day in 0..MONTH_DAYS {
        for key in keys.iter().skip(day % step).step_by(step) {
            graph.set_node_data_json(
                key,
                &format!("{{\"day\": {day}, \"key\": \"{key}\"}}"),
                "2025-10-03T00:00:00.000000",
            )?;
        }
        for n in 0..10 {
            graph.add_node(
                "bench",
                serde_json::json!({"day": day, "n": n}),
                Some(&format!("month_{day}_{n}")),
            );
        }
        let at = Some(start + chrono::Duration::days(day as i64));
        for (_, _, store) in &stores {
            let saved = store.save_with(&graph, &SaveOptions { rotate: false, at })?;
            if store.config().backup_format.deltas {
                plain_total += saved.size;
            }
        }
        if day % 10 == 9 {
            progress(&format!(
                "{}: month: day {} of {MONTH_DAYS}",
                size.label,
                day + 1
            ));
        }
    }
    for (name, _, store) in &stores {
        let listing = store.list_backups()?;
        let line = format!(
            "{}: {MONTH_DAYS} daily backups, {}: {:.1} MB stored of {:.1} MB plain ({:.2}%)",
            size.label,
            if *name == "month-delta" {
                "zstd with deltas (one full backup)"
            } else {
                "zstd alone"
            },
            listing.total_size as f64 / MB,
            plain_total as f64 / MB,
            listing.total_size as f64 * 100.0 / plain_total.max(1) as f64
        );
        progress(&line);
        report.graphs.push(line);
    }
    // Recovery: the primary damaged, the newest backup restored.
    let mut timings = Vec::new();
    for (_, _, store) in &stores {
        let mut samples = Vec::new();
        for rep in 0..=size.reps {
            flip_middle_bit(&store.primary_path())?;
            let t = Instant::now();
            let (graph, rec) = store.load_with_recovery(RecoverOptions { dry_run: false })?;
            let elapsed = t.elapsed();
            ensure!(graph.is_some() && rec.recovered(), "recovery failed");
            if rep > 0 {
                samples.push(elapsed);
            }
        }
        timings.push(Timing::of(samples)?);
    }
    report.rows.push(
        Row::time(
            size.label,
            "load with recovery through a delta",
            timings[1],
            Some(size.file_len),
        )
        .against(
            "through a full zstd backup",
            timings[0],
            RatioKind::TimeOverFloor,
        )
        .goal(Goal::RatioAtMost(1.5)),
    );
    for (_, dir, store) in stores {
        drop(store);
        fs::remove_dir_all(&dir)?;
    }
    Ok(())
}

/// Verify one file (checksum only), against a bare sha2 loop over the same file. Returns
/// the bare loop's timing.
fn bench_verify(size: &SizeRun<'_>, store: &Store, report: &mut Report) -> Result<Timing> {
    let primary = store.primary_path();
    let mut ours = Vec::new();
    let mut bare = Vec::new();
    for rep in 0..=size.reps {
        let t = Instant::now();
        let verified = store.verify(&Target::Primary, Depth::Checksum)?;
        let elapsed = t.elapsed();
        ensure!(
            verified.status == Status::Valid,
            "verify of a fresh save: {}",
            verified.summary()
        );
        let (digest, bare_elapsed) = bare_sha256(&primary)?;
        ensure!(
            verified.actual_checksum.as_deref() == Some(digest.as_str()),
            "verify and the bare loop disagree on the checksum"
        );
        if rep > 0 {
            ours.push(elapsed);
            bare.push(bare_elapsed);
        }
    }
    let one_hash = Timing::of(bare)?;
    report.rows.push(
        Row::time(
            size.label,
            "verify one file (checksum)",
            Timing::of(ours)?,
            Some(size.file_len),
        )
        .against("bare sha2 loop, 1 MiB reads", one_hash, RatioKind::Speed)
        .goal(Goal::RatioAtLeast(0.9)),
    );
    Ok(one_hash)
}

/// Load (verify + parse), against read + parse alone. Returns the latter's timing.
fn bench_load(size: &SizeRun<'_>, store: &Store, report: &mut Report) -> Result<Timing> {
    let nodes = size.graph.node_count();
    let primary = store.primary_path();
    let mut ours = Vec::new();
    let mut parse = Vec::new();
    let mut check = Vec::new();
    for rep in 0..=size.reps {
        let t = Instant::now();
        let (loaded, rec) = store.load_with_recovery(RecoverOptions::default())?;
        let elapsed = t.elapsed();
        ensure!(
            rec.source == Source::Primary,
            "load of a healthy store used {:?}",
            rec.source
        );
        ensure!(
            loaded.as_ref().map(KnowledgeGraph::node_count) == Some(nodes),
            "load returned the wrong graph"
        );
        drop(loaded);
        let t = Instant::now();
        let bytes = fs::read(&primary)?;
        let parsed = KnowledgeGraph::from_slice(&bytes)?;
        let parse_elapsed = t.elapsed();
        ensure!(
            parsed.node_count() == nodes,
            "parse returned the wrong graph"
        );
        // The part of a load beyond read + parse that costs the most.
        let t = Instant::now();
        let consistency = parsed.check_consistency();
        let check_elapsed = t.elapsed();
        ensure!(
            consistency.is_consistent(),
            "the generated graph is not consistent: {:?}",
            consistency.problems
        );
        drop(parsed);
        if rep > 0 {
            ours.push(elapsed);
            parse.push(parse_elapsed);
            check.push(check_elapsed);
        }
    }
    let read_parse = Timing::of(parse)?;
    report.rows.push(
        Row::time(
            size.label,
            "load (verify + parse)",
            Timing::of(ours)?,
            Some(size.file_len),
        )
        .against("read + typed parse", read_parse, RatioKind::TimeOverFloor)
        .goal(Goal::MsPer100Mb(650.0)),
    );
    report.rows.push(Row::time(
        size.label,
        "  load: consistency check alone",
        Timing::of(check)?,
        Some(size.file_len),
    ));
    Ok(read_parse)
}

fn no_rotation() -> SaveOptions {
    SaveOptions {
        rotate: false,
        at: None,
    }
}

fn size_label(nodes: usize) -> String {
    if nodes >= 1000 && nodes.is_multiple_of(1000) {
        format!("{}k", nodes / 1000)
    } else {
        nodes.to_string()
    }
}

/// Removes the files of a directory (not the directory).
fn clear_dir(dir: &Path) -> Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("list {}", dir.display())),
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

fn sum_timings(parts: &[(Timing, u32)]) -> Timing {
    let mut total = Timing {
        median: Duration::ZERO,
        min: Duration::ZERO,
        max: Duration::ZERO,
        reps: usize::MAX,
    };
    for (t, times) in parts {
        total.median += t.median * *times;
        total.min += t.min * *times;
        total.max += t.max * *times;
        total.reps = total.reps.min(t.reps);
    }
    total
}

// ---------------------------------------------------------------------------------------------
// Floors

#[derive(Default)]
struct FloorParts {
    serialize: Vec<Duration>,
    hash: Vec<Duration>,
    write: Vec<Duration>,
    copy: Vec<Duration>,
    total: Vec<Duration>,
}

impl FloorParts {
    fn push(&mut self, one: &FloorSample) {
        self.serialize.push(one.serialize);
        self.hash.push(one.hash);
        self.write.push(one.write);
        self.copy.push(one.copy);
        self.total
            .push(one.serialize + one.hash + one.write + one.copy);
    }
}

struct FloorSample {
    serialize: Duration,
    hash: Duration,
    write: Duration,
    copy: Duration,
}

/// The least a save with backup must do, each step done the plain way: serialize into a
/// buffer of the right size, hash it, write it durably, copy it durably.
fn save_floor(graph: &KnowledgeGraph, len: u64, dir: &Path) -> Result<FloorSample> {
    let stamp = SaveStamp::now();
    let t = Instant::now();
    let mut bytes = Vec::with_capacity(usize::try_from(len)? + 4096);
    graph.write_json(&mut bytes, Some(&stamp))?;
    let serialize = t.elapsed();

    let t = Instant::now();
    let digest = Sha256::digest(&bytes);
    let hash = t.elapsed();
    std::hint::black_box(digest);

    let target = dir.join("graph.json");
    let t = Instant::now();
    write_durably(&target, |f| f.write_all(&bytes))?;
    let write = t.elapsed();
    drop(bytes);

    let copy_target = dir.join("graph_copy.json");
    let t = Instant::now();
    let tmp = dir.join(".copy.tmp");
    fs::copy(&target, &tmp)?;
    File::open(&tmp)?.sync_all()?;
    fs::rename(&tmp, &copy_target)?;
    File::open(dir)?.sync_all()?;
    let copy = t.elapsed();
    Ok(FloorSample {
        serialize,
        hash,
        write,
        copy,
    })
}

/// Temp file, write, fsync, rename, fsync of the directory.
fn write_durably(target: &Path, fill: impl FnOnce(&mut File) -> io::Result<()>) -> Result<()> {
    let dir = target.parent().context("target has no parent")?;
    let tmp = dir.join(".write.tmp");
    let mut file = File::create(&tmp)?;
    fill(&mut file)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, target)?;
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// SHA-256 of a file with 1 MiB reads and nothing else: the verify baseline.
fn bare_sha256(path: &Path) -> Result<(String, Duration)> {
    let t = Instant::now();
    let mut file = File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut hasher = Sha256::new();
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let digest = hasher.finalize();
    let elapsed = t.elapsed();
    Ok((
        digest.iter().fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        }),
        elapsed,
    ))
}

// ---------------------------------------------------------------------------------------------
// Recovery and verify-all

/// Flips one bit in the middle of a file: the damage only a full hash can see.
fn flip_middle_bit(path: &Path) -> Result<()> {
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let len = file.metadata()?.len();
    ensure!(len > 0, "{} is empty", path.display());
    let mut byte = [0u8; 1];
    file.seek(SeekFrom::Start(len / 2))?;
    file.read_exact(&mut byte)?;
    byte[0] ^= 0x01;
    file.seek(SeekFrom::Start(len / 2))?;
    file.write_all(&byte)?;
    Ok(())
}

fn bench_recovery(size: &SizeRun<'_>) -> Result<Timing> {
    let (graph, file_len, reps, dir) = (size.graph, size.file_len, size.reps, size.dir);
    let store = Store::open(dir.join("recover"))?;
    let base = chrono::Local::now() - chrono::TimeDelta::hours(1);
    let mut ids = Vec::new();
    for k in 0..=DAMAGED_BACKUPS {
        let saved = store.save_with(
            graph,
            &SaveOptions {
                rotate: false,
                at: Some(base + chrono::TimeDelta::seconds(k as i64)),
            },
        )?;
        ids.push(saved.backup_id);
    }
    let good = ids[0].clone();
    for id in &ids[1..] {
        flip_middle_bit(&store.backup_data_path(id))?;
    }
    let mut samples = Vec::new();
    for rep in 0..=reps {
        flip_middle_bit(&store.primary_path())?;
        let _ = fs::remove_dir_all(store.evidence_dir());
        let t = Instant::now();
        let (loaded, rec) = store.load_with_recovery(RecoverOptions::default())?;
        let elapsed = t.elapsed();
        ensure!(
            rec.source == Source::Backup(good.clone()),
            "recovery used {:?}, expected the 4th newest backup {good}",
            rec.source
        );
        ensure!(
            rec.candidates.len() == DAMAGED_BACKUPS + 1,
            "recovery checked {} backups",
            rec.candidates.len()
        );
        ensure!(
            loaded.as_ref().map(KnowledgeGraph::node_count) == Some(graph.node_count()),
            "recovery returned the wrong graph"
        );
        ensure!(
            fs::metadata(store.primary_path())?.len() == file_len,
            "the restored primary has the wrong length"
        );
        if rep == reps {
            progress(&recovery_breakdown(&rec, elapsed));
        }
        if rep > 0 {
            samples.push(elapsed);
        }
    }
    drop(store);
    fs::remove_dir_all(dir.join("recover"))?;
    Timing::of(samples)
}

/// Where a recovery's time went, from the report's own clocks.
fn recovery_breakdown(rec: &graphvault::store::recover::RecoveryReport, total: Duration) -> String {
    let candidates: Vec<String> = rec
        .candidates
        .iter()
        .map(|c| format!("{:.0}", c.elapsed_ms))
        .collect();
    let (restore, previous, after) = rec
        .restore
        .as_ref()
        .map(|r| {
            (
                r.elapsed_ms,
                r.previous_primary.elapsed_ms,
                r.after.as_ref().map_or(0.0, |a| a.elapsed_ms),
            )
        })
        .unwrap_or_default();
    format!(
        "recovery took {:.0} ms: primary checked in {:.0} ms, backups in [{}] ms; \
         restore {:.0} ms since start (primary re-checked in {:.0} ms, result re-verified in {:.0} ms)",
        total.as_secs_f64() * 1e3,
        rec.primary.elapsed_ms,
        candidates.join(", "),
        restore,
        previous,
        after
    )
}

/// Verify all backups on every core, against one verify times their number. The backups
/// are hard links to one file: the hashing work per byte is the same as for distinct
/// files, and the page cache (which the floors assume) holds one copy instead of thirty.
/// The node browser's list of one backup, and one node's history across
/// `backups_to_verify` backups that differ a little each (a few nodes changed per save):
/// first with no node index (each backup scanned and indexed), then with every index cached.
fn bench_nodes(config: &Config, size: &SizeRun<'_>, report: &mut Report) -> Result<()> {
    let count = config.backups_to_verify.max(2);
    let root = size.dir.join("nodes");
    let store = Store::open(&root)?;
    let mut graph = size.graph.clone();
    let keys: Vec<String> = graph.nodes().take(8).map(|n| n.key().to_owned()).collect();
    ensure!(!keys.is_empty(), "the graph has no nodes");
    let base = chrono::Local::now() - chrono::TimeDelta::days(count as i64);
    progress(&format!(
        "{}: {count} backups for the node history",
        size.label
    ));
    for k in 0..count {
        if k > 0 {
            let key = &keys[k % keys.len()];
            graph.set_node_data_json(
                key,
                &format!("{{\"revision\": {k}}}"),
                "2025-10-03T00:00:00",
            )?;
        }
        store.save_with(
            &graph,
            &SaveOptions {
                rotate: false,
                at: Some(base + chrono::TimeDelta::hours(k as i64)),
            },
        )?;
    }
    let newest = store
        .list_backups()?
        .backups
        .first()
        .map(|b| b.id.clone())
        .context("no backups")?;
    // Changed by the first save after the oldest, and every `keys.len()` saves after.
    let node = keys[1 % keys.len()].clone();
    let (mut show, mut built, mut indexed, mut cached) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for rep in 0..=size.reps {
        let t = Instant::now();
        let shown = store.show(
            &Target::Backup(newest.clone()),
            &graphvault::store::nodes::ShowOptions::default(),
        )?;
        let show_elapsed = t.elapsed();
        ensure!(
            shown.nodes.len() == graph.node_count(),
            "show listed {} of {} nodes",
            shown.nodes.len(),
            graph.node_count()
        );
        let index_dir = store.node_index_dir();
        if index_dir.exists() {
            fs::remove_dir_all(&index_dir)?;
        }
        let t = Instant::now();
        let first = store.history(&node, HistoryOptions::default())?;
        let built_elapsed = t.elapsed();
        // Every graph was written by a save, so the memo vouches for each: each is
        // skimmed for the node, and no index is built.
        ensure!(
            first.index_skimmed == count + 1 && first.index_built == 0,
            "history skimmed {} and built {} indexes for {} graphs",
            first.index_skimmed,
            first.index_built,
            count + 1
        );
        let changed = first
            .entries
            .iter()
            .filter(|e| e.state == graphvault::store::history::NodeState::Changed)
            .count();
        ensure!(changed > 0, "the history saw none of the changes made");
        let t = Instant::now();
        let indexing = store.index_missing(0)?;
        let index_elapsed = t.elapsed();
        // The primary has the newest backup's bytes: one index serves both.
        ensure!(
            indexing.built == count && indexing.failed.is_empty(),
            "indexing built {} of {count}: {:?}",
            indexing.built,
            indexing.failed
        );
        let t = Instant::now();
        let again = store.history(&node, HistoryOptions::default())?;
        let cached_elapsed = t.elapsed();
        // The skim answers exactly as the indexes do.
        let seen = |h: &graphvault::store::history::HistoryReport| -> Vec<String> {
            h.entries
                .iter()
                .map(|e| {
                    format!(
                        "{:?} {} {:?} {:?}",
                        e.state, e.edge_count, e.changes, e.edges
                    )
                })
                .collect()
        };
        ensure!(
            seen(&first) == seen(&again),
            "the skimmed history differs from the indexed one"
        );
        ensure!(
            again.index_hits == again.entries.len() && again.index_built == 0,
            "second history: {} cached of {}",
            again.index_hits,
            again.entries.len()
        );
        if rep > 0 {
            show.push(show_elapsed);
            built.push(built_elapsed);
            indexed.push(index_elapsed);
            cached.push(cached_elapsed);
        }
    }
    drop(store);
    fs::remove_dir_all(&root)?;
    // The targets are stated for a 77 MB graph.
    let per_100mb = |ms_at_77: f64| Goal::MsPer100Mb(ms_at_77 * 100.0 / 77.0);
    report.rows.push(
        Row::time(
            size.label,
            "show: node list of a backup",
            Timing::of(show)?,
            Some(size.file_len),
        )
        .goal(per_100mb(1000.0)),
    );
    let mut row = Row::time(
        size.label,
        &format!("history: {count} backups, no index yet"),
        Timing::of(built)?,
        Some(size.file_len * count as u64),
    )
    .goal(per_100mb(3000.0));
    row.graph_bytes = Some(size.file_len);
    report.rows.push(row);
    let mut row = Row::time(
        size.label,
        &format!("index: {count} backups (check's step, after which a history is cached)"),
        Timing::of(indexed)?,
        Some(size.file_len * count as u64),
    );
    row.graph_bytes = Some(size.file_len);
    report.rows.push(row);
    let mut row = Row::time(
        size.label,
        &format!("history: {count} backups, indexes cached"),
        Timing::of(cached)?,
        None,
    )
    .goal(Goal::Ms(200.0));
    row.graph_bytes = Some(size.file_len);
    report.rows.push(row);
    Ok(())
}

fn bench_verify_all(
    config: &Config,
    size: &SizeRun<'_>,
    source: &Store,
    report: &mut Report,
) -> Result<()> {
    let count = config.backups_to_verify;
    let store = Store::open(size.dir.join("verify-all"))?;
    let backups = store.backups_dir();
    fs::create_dir_all(&backups)?;
    let meta_bytes = fs::read(source.primary_meta_path())?;
    let base = chrono::Local::now().naive_local() - chrono::TimeDelta::days(1);
    let mut first: Option<(BackupId, PathBuf)> = None;
    for k in 0..count {
        let id = BackupId::new(base + chrono::TimeDelta::seconds(k as i64), 0);
        let data = backups.join(id.data_file_name());
        match &first {
            None => {
                fs::copy(source.primary_path(), &data)?;
                first = Some((id.clone(), data));
            }
            Some((_, original)) => fs::hard_link(original, &data)?,
        }
        fs::write(backups.join(id.meta_file_name()), &meta_bytes)?;
    }
    let (first_id, _) = first.context("no backups to verify")?;
    let cancel = AtomicBool::new(false);
    let mut all = Vec::new();
    let mut cpu = Vec::new();
    let mut one = Vec::new();
    for rep in 0..=size.reps {
        let cpu_before = cpu_time()?;
        let t = Instant::now();
        let verified = store.verify_all(
            VerifyAllOptions {
                depth: Depth::Checksum,
                include_primary: false,
                threads: 0,
            },
            &cancel,
            &|_| {},
        )?;
        let elapsed = t.elapsed();
        let cpu_used = cpu_time()?.saturating_sub(cpu_before);
        ensure!(
            verified.valid == count && !verified.has_problems(),
            "verify all: {} valid of {count}",
            verified.valid
        );
        let t = Instant::now();
        let single = store.verify(&Target::Backup(first_id.clone()), Depth::Checksum)?;
        let single_elapsed = t.elapsed();
        ensure!(single.status == Status::Valid, "{}", single.summary());
        if rep > 0 {
            all.push(elapsed);
            cpu.push(cpu_used);
            one.push(single_elapsed);
        }
    }
    drop(store);
    fs::remove_dir_all(size.dir.join("verify-all"))?;

    let n = u32::try_from(count)?;
    let one = Timing::of(one)?;
    let sequential = Timing {
        median: one.median * n,
        min: one.min * n,
        max: one.max * n,
        reps: one.reps,
    };
    let all = Timing::of(all)?;
    let cpu = Timing::of(cpu)?;
    let mut row = Row::time(
        size.label,
        &format!("verify all {count} backups (checksum)"),
        all,
        Some(size.file_len * u64::from(n)),
    )
    .against(
        &format!("{count} x one verify"),
        sequential,
        RatioKind::Speedup,
    )
    .goal(Goal::RatioAtLeast(1.8));
    row.graph_bytes = Some(size.file_len);
    report.rows.push(row);
    // Other processes on a shared machine take cores away; CPU time over wall time says
    // how many cores the verification kept busy whatever the speedup was.
    let mut busy = Row::time(size.label, "  verify all: CPU time", cpu, None);
    busy.ratio = Some((
        cpu.median.as_secs_f64() / all.median.as_secs_f64().max(1e-9),
        RatioKind::Busy,
    ));
    report.rows.push(busy);
    Ok(())
}

/// `check` of a store with the primary and `backups_to_verify` backups of it where nothing
/// changed, one simulated day after another, against its floor: one full verify of the
/// primary plus a checksum verify of each backup the day's share re-hashes.
fn bench_check(
    config: &Config,
    size: &SizeRun<'_>,
    source: &Store,
    report: &mut Report,
) -> Result<()> {
    use graphvault::store::check::CheckOptions;
    let count = config.backups_to_verify;
    let dir = size.dir.join("check");
    let store = Store::open(&dir)?;
    let backups = store.backups_dir();
    fs::create_dir_all(&backups)?;
    fs::copy(source.primary_path(), store.primary_path())?;
    fs::copy(source.primary_meta_path(), store.primary_meta_path())?;
    let meta_bytes = fs::read(source.primary_meta_path())?;
    let base = chrono::Local::now().naive_local() - chrono::TimeDelta::days(1);
    let mut ids = Vec::new();
    for k in 0..count {
        let id = BackupId::new(base + chrono::TimeDelta::seconds(k as i64), 0);
        // Real copies, not links: each backup is its own file with its own stat.
        fs::copy(source.primary_path(), backups.join(id.data_file_name()))?;
        fs::write(backups.join(id.meta_file_name()), &meta_bytes)?;
        ids.push(id);
    }
    let start = chrono::Local::now();
    // The first check sees every backup for the first time and climbs the whole ladder
    // for each; it is the setup, not the measurement.
    let first = store.check(&CheckOptions {
        at: Some(start),
        ..CheckOptions::default()
    })?;
    ensure!(
        first
            .scrub
            .as_ref()
            .is_some_and(|s| s.hashed == count && s.valid == count),
        "first check: {:?}",
        first.steps
    );
    // The command a timer runs, end to end (process start, lock, every step, status.json),
    // on the real clock: nothing changed since the check above, so it re-hashes the day's
    // share. The floor beside it is measured right after each run, as below.
    let mut cli_checks = Vec::new();
    let mut cli_floors = Vec::new();
    let mut cli_share = 0;
    for rep in 0..=size.reps {
        let (result, elapsed) = gv_cli(&dir, &["check".as_ref()])?;
        ensure!(
            result["health"] == "healthy" && result["scrub"]["valid"] == count,
            "CLI check: {}",
            result["steps"]
        );
        cli_share = result["scrub"]["hashed"]
            .as_u64()
            .and_then(|h| usize::try_from(h).ok())
            .context("the CLI check scrubbed")?;
        let t = Instant::now();
        let primary = store.verify(&Target::Primary, Depth::Full)?;
        ensure!(primary.status == Status::Valid, "{}", primary.summary());
        for id in ids.iter().take(cli_share) {
            let b = store.verify(&Target::Backup(id.clone()), Depth::Checksum)?;
            ensure!(b.status == Status::Valid, "{}", b.summary());
        }
        let floor = t.elapsed();
        if rep > 0 {
            cli_checks.push(elapsed);
            cli_floors.push(floor);
        }
    }
    let mut row = Row::time(
        size.label,
        &format!("CLI: check, {count} backups unchanged"),
        Timing::of(cli_checks)?,
        Some(size.file_len * (1 + cli_share as u64)),
    )
    .against(
        &format!("verify primary + {cli_share} hashes"),
        Timing::of(cli_floors)?,
        RatioKind::TimeOverFloor,
    )
    .goal(Goal::RatioAtMost(1.2));
    row.graph_bytes = Some(size.file_len);
    report.rows.push(row);

    let mut checks = Vec::new();
    let mut floors = Vec::new();
    let mut share = 0;
    for rep in 0..=size.reps {
        let at = start + chrono::TimeDelta::days(rep as i64 + 1);
        let t = Instant::now();
        let r = store.check(&CheckOptions {
            at: Some(at),
            ..CheckOptions::default()
        })?;
        let elapsed = t.elapsed();
        let scrub = r.scrub.as_ref().context("the check scrubbed")?;
        ensure!(
            scrub.valid == count
                && r.primary
                    .as_ref()
                    .is_some_and(|p| p.status == Status::Valid),
            "check: {:?}",
            r.steps
        );
        share = scrub.hashed;
        let t = Instant::now();
        let primary = store.verify(&Target::Primary, Depth::Full)?;
        ensure!(primary.status == Status::Valid, "{}", primary.summary());
        for id in ids.iter().take(share) {
            let b = store.verify(&Target::Backup(id.clone()), Depth::Checksum)?;
            ensure!(b.status == Status::Valid, "{}", b.summary());
        }
        let floor = t.elapsed();
        if rep > 0 {
            checks.push(elapsed);
            floors.push(floor);
        }
    }
    drop(store);
    fs::remove_dir_all(&dir)?;
    let mut row = Row::time(
        size.label,
        &format!("check, {count} backups unchanged"),
        Timing::of(checks)?,
        Some(size.file_len * (1 + share as u64)),
    )
    .against(
        &format!("verify primary + {share} hashes"),
        Timing::of(floors)?,
        RatioKind::TimeOverFloor,
    )
    .goal(Goal::RatioAtMost(1.2));
    row.graph_bytes = Some(size.file_len);
    report.rows.push(row);
    Ok(())
}

/// User + system CPU time of this process so far, threads that ended included.
fn cpu_time() -> Result<Duration> {
    let stat = fs::read_to_string("/proc/self/stat").context("read /proc/self/stat")?;
    // The command name may hold spaces; the fields after its closing parenthesis do not.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime are fields 14 and 15 of the whole line, in USER_HZ (100) ticks.
    let ticks = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .context("unexpected /proc/self/stat")
    };
    Ok(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}

// ---------------------------------------------------------------------------------------------
// Listing

fn bench_listing(config: &Config, scratch: &Path, report: &mut Report) -> Result<()> {
    let count = config.backups_to_list;
    progress(&format!("listing: creating {count} small backup pairs"));
    let store = Store::open(scratch.join("many-backups"))?;
    create_small_backups(&store, count)?;
    let label = format!("{count} backups");
    if config.wants(Section::List) {
        let reps = config.reps.unwrap_or(5);
        let mut samples = Vec::new();
        for rep in 0..=reps {
            let t = Instant::now();
            let listing = store.list_backups()?;
            let elapsed = t.elapsed();
            ensure!(
                listing.backups.len() == count,
                "listed {} backups of {count}",
                listing.backups.len()
            );
            ensure!(
                listing.backups.iter().all(|b| b.checksum.is_some()),
                "a listed backup has no checksum: its meta was not read"
            );
            if rep > 0 {
                samples.push(elapsed);
            }
        }
        report.rows.push(
            Row::time(
                &label,
                &format!("list {count} backups"),
                Timing::of(samples)?,
                None,
            )
            .goal(Goal::Ms(200.0)),
        );
    }
    if config.wants(Section::Tui) {
        bench_tui(config, &store, &label, report)?;
    }
    Ok(())
}

/// A store with a small primary and `count` backups in all (the save that writes the
/// primary makes the newest), written plainly: setup, not measured.
fn create_small_backups(store: &Store, count: usize) -> Result<()> {
    let dir = store.backups_dir();
    fs::create_dir_all(&dir)?;
    let graph = sized_graph(3, SEED);
    let bytes = graph.to_vec();
    let checksum = hex_digest(&bytes);
    let now = chrono::Local::now();
    let base = now - chrono::TimeDelta::days(30);
    for k in 0..count.saturating_sub(1) {
        let at = base + chrono::TimeDelta::seconds(k as i64 * 60);
        let id = BackupId::new(at.naive_local(), 0);
        let meta = Meta::for_data(
            checksum.clone(),
            bytes.len() as u64,
            graph.node_count() as u64,
            graph.edge_count() as u64,
            "save",
            at,
        );
        fs::write(dir.join(id.data_file_name()), &bytes)?;
        fs::write(dir.join(id.meta_file_name()), meta.to_vec())?;
    }
    store.save_with(&graph, &no_rotation())?;
    Ok(())
}

fn hex_digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

// ---------------------------------------------------------------------------------------------
// The terminal UI, through a pseudo-terminal

const TUI_ROWS: u16 = 35;
const TUI_COLS: u16 = 120;
/// Generous: a busy shared machine, and a background checksum pass of every backup.
const TUI_TIMEOUT: Duration = Duration::from_secs(120);
const TUI_KEYS_PER_SESSION: usize = 10;

/// Every distinct screen the program drew, with when it was read from the terminal.
#[derive(Default)]
struct Screens {
    seen: Mutex<Vec<(Instant, String)>>,
    changed: Condvar,
}

impl Screens {
    /// Waits for the first screen after the first `skip` that contains `needle`: its
    /// time and index.
    fn wait_for(&self, skip: usize, needle: &str) -> Result<(Instant, usize)> {
        let deadline = Instant::now() + TUI_TIMEOUT;
        let mut seen = self
            .seen
            .lock()
            .map_err(|_| anyhow::anyhow!("screen log poisoned"))?;
        loop {
            if let Some((i, (at, _))) = seen
                .iter()
                .enumerate()
                .skip(skip)
                .find(|(_, (_, text))| text.contains(needle))
            {
                return Ok((*at, i));
            }
            let now = Instant::now();
            if now >= deadline {
                let last = seen
                    .last()
                    .map(|(_, t)| t.as_str())
                    .unwrap_or("(nothing drawn)");
                bail!("the UI never showed {needle:?}; its screen:\n{last}");
            }
            seen = self
                .changed
                .wait_timeout(seen, deadline - now)
                .map_err(|_| anyhow::anyhow!("screen log poisoned"))?
                .0;
        }
    }

    fn count(&self) -> usize {
        self.seen.lock().map(|s| s.len()).unwrap_or(0)
    }
}

/// Kills the UI if the measurement fails before it quits.
struct KillOnDrop(Box<dyn portable_pty::Child + Send + Sync>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
    }
}

struct TuiSession {
    /// Start of the process to its first frame of any kind (the loading screen).
    first_output: Duration,
    /// Start of the process to the first frame with the backup table.
    first_frame: Duration,
    /// Start to the end of the background checksum pass of every backup.
    checked: Duration,
    /// The screen when the background pass said it was done.
    done_screen: String,
    /// Key press to the frame that shows the selection moved.
    keys: Vec<Duration>,
}

/// Times the real binary in a pseudo-terminal: nothing of the UI is public, so this is
/// the way in (see `docs/PERFORMANCE.md` for the headless API a `TestBackend` timing
/// would need). Latencies include the terminal round trip, which is well under 1 ms.
fn tui_session(store: &Path, count: usize) -> Result<TuiSession> {
    use portable_pty::{CommandBuilder, PtySize, native_pty_system};
    let pty = native_pty_system()
        .openpty(PtySize {
            rows: TUI_ROWS,
            cols: TUI_COLS,
            pixel_width: 0,
            pixel_height: 0,
        })
        .map_err(|e| anyhow::anyhow!("open a pseudo-terminal: {e}"))?;
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_graphvault"));
    cmd.arg("--store");
    cmd.arg(store);
    cmd.env("TERM", "xterm-256color");
    cmd.env("NO_COLOR", "1");
    cmd.env_remove("GRAPHVAULT_STORE");
    cmd.env_remove("GRAPHVAULT_KEY_FILE");
    let started = Instant::now();
    let child = pty
        .slave
        .spawn_command(cmd)
        .map_err(|e| anyhow::anyhow!("start graphvault: {e}"))?;
    let mut child = KillOnDrop(child);
    drop(pty.slave);
    let mut reader = pty
        .master
        .try_clone_reader()
        .map_err(|e| anyhow::anyhow!("pty reader: {e}"))?;
    let mut keys = pty
        .master
        .take_writer()
        .map_err(|e| anyhow::anyhow!("pty writer: {e}"))?;
    let screens = Arc::new(Screens::default());
    let log = Arc::clone(&screens);
    // Ends by itself when the child exits and the pty reports EOF or EIO.
    let rows = std::num::NonZeroU16::new(TUI_ROWS).context("rows")?;
    let cols = std::num::NonZeroU16::new(TUI_COLS).context("cols")?;
    std::thread::spawn(move || {
        let mut parser = vt100::Parser::new(rows, cols, 0);
        let mut buf = [0u8; 1 << 16];
        let mut last = String::new();
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            let at = Instant::now();
            parser.process(&buf[..n]);
            let text = parser.screen().contents();
            if text != last {
                last.clone_from(&text);
                if let Ok(mut seen) = log.seen.lock() {
                    seen.push((at, text));
                }
                log.changed.notify_all();
            }
        }
    });

    // The title says which row is selected: "backups 1/10000".
    let (shown, _) = screens.wait_for(0, &format!("backups 1/{count}"))?;
    let first_frame = shown - started;
    let first_output = screens
        .seen
        .lock()
        .ok()
        .and_then(|s| s.first().map(|(at, _)| *at - started))
        .unwrap_or(first_frame);
    let (done, at) = screens.wait_for(0, "verify all done")?;
    let checked = done - started;
    // A frame can arrive in more than one read: the screen where the line first shows
    // may hold only its start. Its counts are on the screen where the line is whole.
    let (_, at) = screens.wait_for(at, "missing (")?;
    let done_screen = screens
        .seen
        .lock()
        .ok()
        .and_then(|s| s.get(at).map(|(_, text)| text.clone()))
        .unwrap_or_default();
    let mut latencies = Vec::new();
    for k in 1..=TUI_KEYS_PER_SESSION {
        let before = screens.count();
        let pressed = Instant::now();
        keys.write_all(b"j")?;
        keys.flush()?;
        let (drawn, _) = screens.wait_for(before, &format!("backups {}/{count}", k + 1))?;
        latencies.push(drawn.saturating_duration_since(pressed));
    }
    keys.write_all(b"q")?;
    keys.flush()?;
    let deadline = Instant::now() + TUI_TIMEOUT;
    while child.0.try_wait()?.is_none() {
        ensure!(Instant::now() < deadline, "graphvault did not quit on q");
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(TuiSession {
        first_output,
        first_frame,
        checked,
        done_screen,
        keys: latencies,
    })
}

fn bench_tui(config: &Config, store: &Store, label: &str, report: &mut Report) -> Result<()> {
    let count = store.list_backups()?.backups.len();
    let sessions = config.reps.unwrap_or(5).min(3);
    progress(&format!(
        "tui: {} sessions of graphvault in a pseudo-terminal, {count} backups",
        sessions + 1
    ));
    let mut first = Vec::new();
    let mut output = Vec::new();
    let mut checked = Vec::new();
    let mut keys = Vec::new();
    for session in 0..=sessions {
        let run = tui_session(store.root(), count)?;
        if session > 0 {
            first.push(run.first_frame);
            output.push(run.first_output);
            checked.push(run.checked);
            keys.extend(run.keys);
        }
    }
    report.rows.push(
        Row::time(
            label,
            &format!("TUI: first frame, {count} backups"),
            Timing::of(first)?,
            None,
        )
        .goal(Goal::Ms(200.0)),
    );
    report.rows.push(Row::time(
        label,
        "  TUI: first output (loading screen)",
        Timing::of(output)?,
        None,
    ));
    let slowest = keys.iter().max().copied().unwrap_or_default();
    let presses = keys.len();
    report.rows.push(
        Row::time(label, "TUI: key press to frame", Timing::of(keys)?, None).goal(Goal::Ms(16.0)),
    );
    report.rows.push(
        Row::time(
            label,
            &format!("  TUI: slowest of {presses} key presses"),
            Timing::of(vec![slowest])?,
            None,
        )
        .goal(Goal::Ms(16.0)),
    );
    report.rows.push(Row::time(
        label,
        "  TUI: background checksum pass done",
        Timing::of(checked)?,
        None,
    ));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Peak memory of a load, in a child process

fn peak_load_memory(config: &Config, store_dir: &Path) -> Result<u64> {
    let exe = std::env::current_exe().context("find the benchmark executable")?;
    let output = Command::new(&exe)
        .args(&config.child_args)
        .env(PEAK_CHILD_ENV, store_dir)
        .output()
        .with_context(|| format!("run {} as the peak-memory child", exe.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "peak-memory child failed ({}): {}{}",
        output.status,
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    // A test harness prints its own words on the same line (`test name ... GV_PEAK`).
    let line = stdout
        .lines()
        .find_map(|l| l.split_once(PEAK_MARKER).map(|(_, rest)| rest))
        .with_context(|| {
            format!("the peak-memory child printed no {PEAK_MARKER} line: {stdout}")
        })?;
    let numbers: Vec<u64> = line
        .split_whitespace()
        .take(3)
        .map(str::parse)
        .collect::<std::result::Result<_, _>>()
        .context("peak-memory child output")?;
    let [before_kib, after_kib, _file] = numbers[..] else {
        bail!("peak-memory child output {line:?}");
    };
    Ok(after_kib.saturating_sub(before_kib) * 1024)
}

/// The child's side: load the store once and print how far the resident-set high-water
/// mark rose.
///
/// # Errors
/// The load failed or `/proc/self/status` cannot be read.
pub fn peak_load_child(store_dir: &Path) -> Result<()> {
    let store = Store::open(store_dir)?;
    let before = vm_hwm_kib()?;
    let (graph, rec) = store.load_with_recovery(RecoverOptions::default())?;
    let after = vm_hwm_kib()?;
    ensure!(
        rec.source == Source::Primary,
        "the child loaded {:?}",
        rec.source
    );
    let file = fs::metadata(store.primary_path())?.len();
    drop(graph);
    println!("{PEAK_MARKER} {before} {after} {file}");
    Ok(())
}

fn vm_hwm_kib() -> Result<u64> {
    let status = fs::read_to_string("/proc/self/status").context("read /proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/self/status")
}

// ---------------------------------------------------------------------------------------------
// The Python peer

struct PeerResults {
    save_ms: f64,
    load_ms: f64,
    recovery_ms: f64,
}

fn python_version() -> std::result::Result<String, String> {
    match Command::new("python3").arg("--version").output() {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout).trim().to_string();
            Ok(text)
        }
        Ok(o) => Err(format!("python3 --version failed ({})", o.status)),
        Err(e) => Err(format!("python3 not found ({e})")),
    }
}

fn peer_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/peer.py")
}

fn run_peer(graph: &KnowledgeGraph, dir: &Path, reps: usize) -> Result<PeerResults> {
    let work = dir.join("peer");
    fs::create_dir_all(&work)?;
    // The peer starts from the same bytes: the graph as a save writes it.
    let input = dir.join("peer-input.json");
    write_durably(&input, |f| {
        graph.write_json(io::BufWriter::new(f), Some(&SaveStamp::now()))
    })?;
    progress(&format!(
        "peer: python3 scripts/peer.py ({reps} repetition(s))"
    ));
    let output = Command::new("python3")
        .arg(peer_script())
        .arg("--graph")
        .arg(&input)
        .arg("--workdir")
        .arg(&work)
        .arg("--reps")
        .arg(reps.to_string())
        .arg("--damaged-backups")
        .arg(DAMAGED_BACKUPS.to_string())
        .output()
        .context("run python3 scripts/peer.py")?;
    ensure!(
        output.status.success(),
        "scripts/peer.py failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let value: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("scripts/peer.py printed no JSON")?;
    let median = |key: &str| -> Result<f64> {
        let mut v: Vec<f64> = value[key]
            .as_array()
            .with_context(|| format!("peer output has no {key}"))?
            .iter()
            .filter_map(serde_json::Value::as_f64)
            .collect();
        ensure!(!v.is_empty(), "peer output {key} is empty");
        v.sort_by(f64::total_cmp);
        let n = v.len();
        Ok(if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        })
    };
    ensure!(
        value["recovered_from"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "the peer did not recover: {value}"
    );
    let results = PeerResults {
        save_ms: median("save_ms")?,
        load_ms: median("load_ms")?,
        recovery_ms: median("recovery_ms")?,
    };
    fs::remove_dir_all(&work)?;
    fs::remove_file(&input)?;
    Ok(results)
}

// ---------------------------------------------------------------------------------------------
// The commands users run, end to end

/// Backups in the store the CLI rows work on: a month of daily saves.
const CLI_HISTORY: usize = 30;

/// Runs `graphvault --store STORE --json ARGS...` and returns its JSON result and the
/// wall time of the whole process.
fn gv_cli(store: &Path, args: &[&std::ffi::OsStr]) -> Result<(serde_json::Value, Duration)> {
    let t = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_graphvault"))
        .arg("--store")
        .arg(store)
        .arg("--json")
        .args(args)
        .output()
        .context("run graphvault")?;
    let elapsed = t.elapsed();
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).with_context(|| {
        format!(
            "graphvault {args:?} printed no JSON: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    ensure!(
        doc["ok"] == true,
        "graphvault {args:?} failed: {}",
        doc["error"]
    );
    Ok((doc["result"].clone(), elapsed))
}

/// As [`gv_cli`], and the command's peak resident memory: its `VmHWM`, read every few
/// milliseconds while it runs (the high-water mark only grows, so a late read sees it).
fn gv_cli_peak(
    store: &Path,
    args: &[&std::ffi::OsStr],
) -> Result<(serde_json::Value, Duration, u64)> {
    let t = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_graphvault"))
        .arg("--store")
        .arg(store)
        .arg("--json")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("run graphvault")?;
    let status = PathBuf::from(format!("/proc/{}/status", child.id()));
    let waiting = std::thread::spawn(move || child.wait_with_output());
    let mut peak_kib = 0u64;
    while !waiting.is_finished() {
        // Gone, or a zombie without memory, once it has exited: the last read stands.
        if let Some(kib) = fs::read_to_string(&status).ok().and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        }) {
            peak_kib = peak_kib.max(kib);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let output = waiting
        .join()
        .map_err(|_| anyhow::anyhow!("the waiting thread panicked"))?
        .context("wait for graphvault")?;
    let elapsed = t.elapsed();
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).with_context(|| {
        format!(
            "graphvault {args:?} printed no JSON: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    ensure!(
        doc["ok"] == true,
        "graphvault {args:?} failed: {}",
        doc["error"]
    );
    ensure!(peak_kib > 0, "graphvault {args:?}: no VmHWM was read");
    Ok((doc["result"].clone(), elapsed, peak_kib * 1024))
}

/// The commands a person runs, once each, on one large graph (`GV_BENCH_OPS=big
/// GV_BENCH_SIZES=1GB`): their time and their peak memory against the file's size. The
/// store holds the bench's saved graph and its backup; the save adds a second.
fn bench_big(size: &SizeRun<'_>, store: &Store, report: &mut Report) -> Result<()> {
    let label = size.label;
    let input = size.dir.join("big-input.json");
    write_input(size.graph, &input, chrono::Local::now())?;
    let root = store.root();
    let file = size.file_len;
    let mut measure = |what: &str, args: &[&std::ffi::OsStr]| -> Result<serde_json::Value> {
        progress(&format!("{label}: big: {what}"));
        let (result, t, peak) = gv_cli_peak(root, args)?;
        report.rows.push(Row::time(
            label,
            &format!("big: {what}"),
            Timing::of(vec![t])?,
            Some(file),
        ));
        report.rows.push(Row {
            size: label.to_string(),
            operation: format!("  big: {what}, peak memory"),
            measured: Measured::Memory { peak_bytes: peak },
            bytes: Some(file),
            graph_bytes: Some(file),
            baseline: None,
            ratio: Some((peak as f64 / file as f64, RatioKind::OfFile)),
            peer_ms: None,
            goal: Some(Goal::RatioAtMost(2.0)),
        });
        Ok(result)
    };
    measure(
        "save --from",
        &["save".as_ref(), "--from".as_ref(), input.as_os_str()],
    )?;
    fs::remove_file(&input)?;
    let verified = measure("verify", &["verify".as_ref()])?;
    ensure!(verified["status"] == "valid", "verify: {verified}");
    let deep = measure("verify --deep", &["verify".as_ref(), "--deep".as_ref()])?;
    ensure!(deep["status"] == "valid", "verify --deep: {deep}");
    let listed = measure("list", &["list".as_ref()])?;
    ensure!(
        listed["backups"].as_array().is_some_and(|b| b.len() >= 2),
        "list: {listed}"
    );
    flip_middle_bit(&store.primary_path())?;
    let recovered = measure("recover (newest backup good)", &["recover".as_ref()])?;
    ensure!(
        recovered["source"]["kind"] == "backup",
        "recover: {}",
        recovered["source"]
    );
    Ok(())
}

/// A graph file as a save of `at` writes it (each `at` gives other bytes).
fn write_input(
    graph: &KnowledgeGraph,
    path: &Path,
    at: chrono::DateTime<chrono::Local>,
) -> Result<()> {
    let stamp = SaveStamp {
        last_saved: at.naive_local().format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
    };
    write_durably(path, |f| {
        graph.write_json(io::BufWriter::new(f), Some(&stamp))
    })
}

/// A backup pair named `days` ago that shares the bytes of `like` (a hard link: the
/// bench's setup, never timed), its meta copied: a backup that has just aged out.
fn add_aged_backup(store: &Store, like: &BackupId, days: i64) -> Result<BackupId> {
    let id = BackupId::new(
        (chrono::Local::now() - chrono::Duration::days(days)).naive_local(),
        0,
    );
    let dir = store.backups_dir();
    fs::hard_link(
        dir.join(like.data_file_name()),
        dir.join(id.data_file_name()),
    )?;
    fs::copy(
        dir.join(like.meta_file_name()),
        dir.join(id.meta_file_name()),
    )?;
    Ok(id)
}

fn samples_timing(samples: &[f64]) -> Result<Timing> {
    Timing::of(
        samples
            .iter()
            .map(|ms| Duration::from_secs_f64(ms / 1e3))
            .collect(),
    )
}

/// The real commands on a store with 30 backups of this graph (see the module docs).
fn bench_cli(
    config: &Config,
    peer: &PeerMode,
    size: &SizeRun<'_>,
    report: &mut Report,
) -> Result<()> {
    let label = size.label;
    let dir = size.dir.join("cli");
    fs::create_dir_all(&dir)?;
    let store_dir = dir.join("storage");
    progress(&format!(
        "{label}: cli: building a store with {CLI_HISTORY} daily backups"
    ));
    let mut store = Store::open(&store_dir)?;
    // The steady state measured below is the application's plain 30 days:
    // one backup ages out per daily save. (The store's default thins
    // history by month and would keep it.)
    store.set_config(graphvault::store::StoreConfig {
        retention: graphvault::store::retention::RetentionPolicy::application(),
        ..graphvault::store::StoreConfig::default()
    })?;
    let now = chrono::Local::now();
    for day in (1..=CLI_HISTORY).rev() {
        store.save_with(
            size.graph,
            &SaveOptions {
                rotate: false,
                at: Some(now - chrono::Duration::days(day as i64) + chrono::Duration::hours(1)),
            },
        )?;
    }
    let oldest = store
        .list_backups()?
        .backups
        .last()
        .map(|b| b.id.clone())
        .context("no backups")?;
    let reps = size.reps;
    let inputs: Vec<PathBuf> = (0..=reps)
        .map(|k| dir.join(format!("input-{k}.json")))
        .collect();
    for (k, input) in inputs.iter().enumerate() {
        write_input(size.graph, input, now + chrono::Duration::seconds(k as i64))?;
    }

    // Save into an empty store: the reference the 30-backup save is held to.
    let empty_dir = dir.join("empty");
    let mut empty = Vec::new();
    for input in &inputs {
        if empty_dir.exists() {
            fs::remove_dir_all(&empty_dir)?;
        }
        let (_, t) = gv_cli(
            &empty_dir,
            &["save".as_ref(), "--from".as_ref(), input.as_os_str()],
        )?;
        empty.push(t);
    }
    empty.remove(0);
    let empty = Timing::of(empty)?;
    fs::remove_dir_all(&empty_dir)?;

    // Save with retention into the 30-backup store, in the steady state of daily saves:
    // one backup has just aged out and retention removes it.
    let mut saves = Vec::new();
    let mut removed = 0;
    for input in &inputs {
        add_aged_backup(&store, &oldest, 31)?;
        let (result, t) = gv_cli(
            &store_dir,
            &["save".as_ref(), "--from".as_ref(), input.as_os_str()],
        )?;
        removed += result["rotation"]["plan"]["removed"].as_u64().unwrap_or(0);
        ensure!(
            result["evidence"].as_array().is_none_or(Vec::is_empty),
            "the save kept the primary as evidence, though the newest backup holds it: {}",
            result["evidence"]
        );
        saves.push(t);
        // Back to 30 backups for the next repetition (the bench's own scratch store). The
        // backup this save wrote stays, as after a real daily save: the next save finds
        // the primary's bytes in the newest backup. The oldest other than the template
        // of the aged-out backups goes.
        let listing = store.list_backups()?;
        let spare = listing
            .backups
            .iter()
            .rev()
            .find(|b| b.id != oldest)
            .context("no backup to take out")?;
        fs::remove_file(&spare.data_path)?;
        if let Some(meta) = &spare.meta_path {
            fs::remove_file(meta)?;
        }
    }
    ensure!(
        removed as usize >= inputs.len(),
        "retention removed {removed} backups in {} saves; the aged-out one each time was expected",
        inputs.len()
    );
    saves.remove(0);
    let saves = Timing::of(saves)?;

    // Verify the primary at the default depth.
    let mut verifies = Vec::new();
    for _ in 0..=reps {
        let (result, t) = gv_cli(&store_dir, &["verify".as_ref()])?;
        ensure!(result["status"] == "valid", "verify: {result}");
        verifies.push(t);
    }
    verifies.remove(0);
    let verifies = Timing::of(verifies)?;

    // verify --all, every level: 30 backups and the primary.
    let mut alls = Vec::new();
    let mut all_bytes = 0;
    for _ in 0..=reps {
        let (result, t) = gv_cli(&store_dir, &["verify".as_ref(), "--all".as_ref()])?;
        ensure!(
            result["corrupt"] == 0 && result["missing"] == 0,
            "verify --all found problems: {}",
            result["valid"]
        );
        all_bytes = result["bytes"].as_u64().unwrap_or(0);
        alls.push(t);
    }
    alls.remove(0);
    let alls = Timing::of(alls)?;
    let one_core = {
        let (_, t) = bare_sha256(&store.primary_path())?;
        let files = (all_bytes as f64 / size.file_len.max(1) as f64)
            .round()
            .max(1.0) as u32;
        Timing::of(vec![t * files])?
    };

    // The UI on this store, from start until its background pass has given every row a
    // full-depth status (the memo supplies the parse level of what saves proved).
    let ui_full_depth = if config.wants(Section::Tui) {
        let count = store.list_backups()?.backups.len();
        let mut sessions = Vec::new();
        for _ in 0..=reps.min(3) {
            let run = tui_session(&store_dir, count)?;
            ensure!(
                run.done_screen
                    .contains(&format!("{count} valid, 0 unverified, 0 corrupt")),
                "the UI's background pass did not find every file valid:\n{}",
                run.done_screen
            );
            sessions.push(run.checked);
        }
        sessions.remove(0);
        Some(Timing::of(sessions)?)
    } else {
        None
    };

    // Recover: the primary fails its checksum, the newest backup is good.
    let mut recovers = Vec::new();
    for _ in 0..=reps {
        flip_middle_bit(&store.primary_path())?;
        let (result, t) = gv_cli(&store_dir, &["recover".as_ref()])?;
        ensure!(
            result["source"]["kind"] == "backup",
            "recover: {}",
            result["source"]
        );
        recovers.push(t);
    }
    recovers.remove(0);
    let recovers = Timing::of(recovers)?;

    let peer_results = match peer {
        PeerMode::Run if config.wants(Section::Peer) => {
            Some(run_history_peer(&inputs[0], &dir, reps)?)
        }
        _ => None,
    };
    let bytes = Some(size.file_len);
    let mut save_row = Row::time(
        label,
        "CLI: save --from, 30 backups, retention",
        saves,
        bytes,
    )
    .against(
        "the same save into an empty store",
        empty,
        RatioKind::TimeOverFloor,
    )
    .goal(Goal::RatioAtMost(1.15));
    let mut verify_row = Row::time(label, "CLI: verify (default depth)", verifies, bytes);
    let mut recover_row = Row::time(label, "CLI: recover (newest backup good)", recovers, bytes);
    if let Some(p) = &peer_results {
        save_row.peer_ms = Some(p.save_retention.ms());
        verify_row = verify_row
            .against("peer's hash-only verify", p.verify, RatioKind::Speed)
            .goal(Goal::RatioAtLeast(1.4));
        verify_row.peer_ms = Some(p.verify.ms());
        recover_row = recover_row
            .against("peer's recovery", p.recovery, RatioKind::Speed)
            .goal(Goal::RatioAtLeast(4.0));
        recover_row.peer_ms = Some(p.recovery.ms());
        let mut vs_peer = Row::time(
            label,
            "CLI: save with retention vs the peer's",
            saves,
            bytes,
        )
        .against(
            "peer's save + 30-day cleanup",
            p.save_retention,
            RatioKind::Speed,
        )
        .goal(Goal::RatioAtLeast(8.0));
        vs_peer.peer_ms = Some(p.save_retention.ms());
        report.rows.push(save_row);
        report.rows.push(vs_peer);
    } else {
        report.rows.push(save_row);
    }
    report.rows.push(Row::time(
        label,
        "CLI: save --from, empty store",
        empty,
        bytes,
    ));
    report.rows.push(verify_row);
    report.rows.push(recover_row);
    report.rows.push(
        Row::time(
            label,
            "CLI: verify --all, 30 backups + primary",
            alls,
            Some(all_bytes),
        )
        .against(
            "one core hashing the same bytes",
            one_core,
            RatioKind::Speed,
        )
        .goal(Goal::RatioAtLeast(1.8)),
    );
    if let Some(ui) = ui_full_depth {
        report.rows.push(
            Row::time(label, "CLI: UI, every row at full depth", ui, None).goal(Goal::Ms(3000.0)),
        );
    }
    bench_other_tools(label, &inputs, &dir, reps, report);
    drop(store);
    fs::remove_dir_all(&dir)?;
    Ok(())
}

struct HistoryPeer {
    save_retention: Timing,
    verify: Timing,
    recovery: Timing,
}

fn run_history_peer(input: &Path, dir: &Path, reps: usize) -> Result<HistoryPeer> {
    let work = dir.join("peer");
    fs::create_dir_all(&work)?;
    progress(&format!(
        "peer: python3 scripts/peer.py --history {CLI_HISTORY} ({reps} repetition(s))"
    ));
    let output = Command::new("python3")
        .arg(peer_script())
        .arg("--graph")
        .arg(input)
        .arg("--workdir")
        .arg(&work)
        .arg("--reps")
        .arg(reps.to_string())
        .arg("--history")
        .arg(CLI_HISTORY.to_string())
        .output()
        .context("run python3 scripts/peer.py --history")?;
    ensure!(
        output.status.success(),
        "scripts/peer.py --history failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let value: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("scripts/peer.py printed no JSON")?;
    let timing = |key: &str| -> Result<Timing> {
        let v: Vec<f64> = value[key]
            .as_array()
            .with_context(|| format!("peer output has no {key}"))?
            .iter()
            .filter_map(serde_json::Value::as_f64)
            .collect();
        samples_timing(&v)
    };
    let results = HistoryPeer {
        save_retention: timing("save_retention_ms")?,
        verify: timing("verify_ms")?,
        recovery: timing("recovery_newest_ms")?,
    };
    fs::remove_dir_all(&work)?;
    Ok(results)
}

/// restic and borg on the same inputs (a new backup of a slightly changed file, a check
/// that reads all data, a restore), when they are installed; a printed reason when not.
fn bench_other_tools(
    label: &str,
    inputs: &[PathBuf],
    dir: &Path,
    reps: usize,
    report: &mut Report,
) {
    for tool in ["restic", "borg"] {
        match other_tool(tool, label, inputs, dir, reps) {
            Ok(rows) => report.rows.extend(rows),
            Err(e) => {
                let why = format!("{label}: {tool} not measured: {e:#}");
                progress(&why);
                report.skipped.push(why);
            }
        }
    }
}

fn other_tool(
    tool: &str,
    label: &str,
    inputs: &[PathBuf],
    dir: &Path,
    reps: usize,
) -> Result<Vec<Row>> {
    let version = Command::new(tool)
        .arg(if tool == "restic" {
            "version"
        } else {
            "--version"
        })
        .output()
        .map_err(|e| {
            anyhow::anyhow!("{tool} is not installed ({e}); apt-get install restic borgbackup")
        })?;
    ensure!(version.status.success(), "{tool} --version failed");
    let repo = dir.join(format!("{tool}-repo"));
    let work = dir.join(format!("{tool}-work"));
    let restore = dir.join(format!("{tool}-restore"));
    fs::create_dir_all(&work)?;
    let target = work.join("graph.json");
    let run = |args: &[&std::ffi::OsStr]| -> Result<Duration> {
        let t = Instant::now();
        let out = Command::new(tool)
            .args(args)
            .env("RESTIC_PASSWORD", "bench")
            .env("BORG_PASSPHRASE", "")
            .env("BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK", "yes")
            .env("BORG_RELOCATED_REPO_ACCESS_IS_OK", "yes")
            .current_dir(&work)
            .output()?;
        let elapsed = t.elapsed();
        ensure!(
            out.status.success(),
            "{tool} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(elapsed)
    };
    let repo_s = repo.as_os_str();
    let restore_s = restore.as_os_str();
    match tool {
        "restic" => run(&["init".as_ref(), "--repo".as_ref(), repo_s])?,
        _ => run(&["init".as_ref(), "--encryption=none".as_ref(), repo_s])?,
    };
    let mut backups = Vec::new();
    for (k, input) in inputs.iter().enumerate() {
        fs::copy(input, &target)?;
        let t = match tool {
            "restic" => run(&[
                "--repo".as_ref(),
                repo_s,
                "backup".as_ref(),
                "graph.json".as_ref(),
            ])?,
            _ => {
                let archive = format!("{}::a{k}", repo.display());
                run(&["create".as_ref(), archive.as_ref(), "graph.json".as_ref()])?
            }
        };
        backups.push(t);
    }
    // The first backup stores everything; the others are the changed-file case.
    backups.remove(0);
    let mut checks = Vec::new();
    let mut restores = Vec::new();
    for _ in 0..reps.max(1) {
        checks.push(match tool {
            "restic" => run(&[
                "--repo".as_ref(),
                repo_s,
                "check".as_ref(),
                "--read-data".as_ref(),
            ])?,
            _ => run(&["check".as_ref(), "--verify-data".as_ref(), repo_s])?,
        });
        if restore.exists() {
            fs::remove_dir_all(&restore)?;
        }
        fs::create_dir_all(&restore)?;
        restores.push(match tool {
            "restic" => run(&[
                "--repo".as_ref(),
                repo_s,
                "restore".as_ref(),
                "latest".as_ref(),
                "--target".as_ref(),
                restore_s,
            ])?,
            _ => {
                let archive = format!("{}::a{}", repo.display(), inputs.len() - 1);
                let t = Instant::now();
                let out = Command::new(tool)
                    .args(["extract".as_ref(), std::ffi::OsStr::new(&archive)])
                    .env("BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK", "yes")
                    .current_dir(&restore)
                    .output()?;
                ensure!(
                    out.status.success(),
                    "borg extract: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                t.elapsed()
            }
        });
    }
    let bytes = fs::metadata(&target)?.len();
    let rows = vec![
        Row::time(
            label,
            &format!("{tool}: new backup (changed file)"),
            Timing::of(backups)?,
            Some(bytes),
        ),
        Row::time(
            label,
            &format!("{tool}: check, reading all data"),
            Timing::of(checks)?,
            Some(bytes),
        ),
        Row::time(
            label,
            &format!("{tool}: restore"),
            Timing::of(restores)?,
            Some(bytes),
        ),
    ];
    for d in [&repo, &work, &restore] {
        if d.exists() {
            fs::remove_dir_all(d)?;
        }
    }
    Ok(rows)
}

// ---------------------------------------------------------------------------------------------
// The table

fn fmt_ms(ms: f64) -> String {
    if ms >= 10_000.0 {
        format!("{:.1} s", ms / 1e3)
    } else if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 1.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

fn cells(row: &Row) -> Vec<String> {
    let (median, spread, throughput) = match row.measured {
        Measured::Time(t) => {
            let spread = if t.reps > 1 {
                format!(
                    "{:.0}%",
                    (t.max - t.min).as_secs_f64() / t.median.as_secs_f64().max(1e-12) * 100.0
                )
            } else {
                String::new()
            };
            let throughput = row
                .bytes
                .map(|b| format!("{:.0}", b as f64 / MB / t.median.as_secs_f64().max(1e-12)))
                .unwrap_or_default();
            (fmt_ms(t.ms()), spread, throughput)
        }
        Measured::Memory { peak_bytes } => (
            format!("{:.0} MB", peak_bytes as f64 / MB),
            String::new(),
            String::new(),
        ),
    };
    let (baseline, base_median) = match &row.baseline {
        Some((name, t)) => (name.clone(), fmt_ms(t.ms())),
        None => (String::new(), String::new()),
    };
    let ratio = match row.ratio {
        Some((r, RatioKind::TimeOverFloor)) => format!("{r:.2}x floor"),
        Some((r, RatioKind::Speed)) => format!("{r:.2}x speed"),
        Some((r, RatioKind::Speedup)) => format!("{r:.2}x cores"),
        Some((r, RatioKind::OfFile)) => format!("{r:.2}x file"),
        Some((r, RatioKind::Busy)) => format!("{r:.2} cores busy"),
        None => String::new(),
    };
    let (peer, peer_ratio) = match (row.peer_ms, row.measured) {
        (Some(p), Measured::Time(t)) => (fmt_ms(p), format!("{:.1}x", p / t.ms().max(1e-9))),
        _ => (String::new(), String::new()),
    };
    let (target, met) = match row.verdict() {
        Some((text, true)) => (text, "yes".to_string()),
        Some((text, false)) => (text, "MISSED".to_string()),
        None => (String::new(), String::new()),
    };
    vec![
        row.size.clone(),
        row.operation.clone(),
        median,
        spread,
        throughput,
        baseline,
        base_median,
        ratio,
        peer,
        peer_ratio,
        target,
        met,
    ]
}

/// Prints the report as a Markdown table (readable as is, and pasted into
/// `docs/PERFORMANCE.md`).
///
/// # Errors
/// Writing to `out` failed.
pub fn write_table(out: &mut dyn Write, report: &Report) -> Result<()> {
    let header: Vec<String> = [
        "size",
        "operation",
        "median",
        "spread",
        "MB/s",
        "baseline",
        "baseline median",
        "ratio",
        "python peer",
        "peer/ours",
        "target",
        "met",
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    let mut lines = vec![header];
    lines.extend(report.rows.iter().map(cells));
    let widths: Vec<usize> = (0..lines[0].len())
        .map(|c| {
            lines
                .iter()
                .map(|l| l[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let render = |cells: &[String]| -> String {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("| {} |", padded.join(" | "))
    };
    writeln!(out)?;
    writeln!(out, "graphvault storage benchmarks ({})", machine_line())?;
    for g in &report.graphs {
        writeln!(out, "- {g}")?;
    }
    writeln!(out)?;
    writeln!(out, "{}", render(&lines[0]))?;
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    writeln!(out, "{}", render(&rule))?;
    for line in &lines[1..] {
        writeln!(out, "{}", render(line))?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "median of the timed repetitions after one warm-up; spread = (max - min) / median; MB = 10^6 bytes."
    )?;
    writeln!(
        out,
        "ratio: 'floor' = our time / the floor's (1.00 is the floor); 'speed' = baseline time / ours; \
         'cores' = sequential time / ours; 'file' = peak memory / file size."
    )?;
    writeln!(
        out,
        "targets are PERFORMANCE.md's for 100 MB, scaled with the file size; no verdict below {} MB. \
         peer/ours = how many times faster graphvault is than the Python peer.",
        SCALED_TARGET_MIN_BYTES / 1_000_000
    )?;
    for s in &report.skipped {
        writeln!(out, "skipped: {s}")?;
    }
    Ok(())
}

/// Cores, CPU model and compiler, for the record.
fn machine_line() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get().to_string())
        .unwrap_or_else(|_| "?".to_string());
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    let rustc = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string()))
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "rustc unknown".to_string());
    // Other users of a shared machine show up here first.
    let load = fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".to_string());
    format!("{cores} cores, {cpu}, {rustc}; load average {load} at the end")
}
