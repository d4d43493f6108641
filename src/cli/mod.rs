//! The command line: parses arguments, runs one store operation, renders
//! its report as aligned text or one JSON document, and maps the outcome to
//! a documented exit code.

mod check;
mod nodes;
pub mod ping;
mod progress;
mod remote;
mod render;

pub use remote::{EndpointArgs, FromRemoteArgs, IdentityArgs, RemoteCommand};

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use clap::{Args, Parser, Subcommand};

use crate::graph::merge::Prefer;
use crate::store::corrupt::CorruptionKind;
use crate::store::history::HistoryOptions;
use crate::store::names::BackupId;
use crate::store::nodes::ShowOptions;
use crate::store::partial::PartialRestoreOptions;
use crate::store::recover::RecoverOptions;
use crate::store::restore::RestoreOptions;
use crate::store::retention::{RetentionPolicy, parse_duration};
use crate::store::rotate::RotateOptions;
use crate::store::trash::TrashEmptyOptions;
use crate::store::verify::{Depth, Target, VerifyAllOptions};
use crate::store::{Store, StoreError};

/// Exit codes, documented in the README.
pub mod exit {
    /// The command did what was asked and found nothing wrong.
    pub const OK: u8 = 0;
    /// An integrity problem was found (a corrupt or missing file).
    pub const INTEGRITY: u8 = 1;
    /// The command line was wrong (clap also uses 2).
    pub const USAGE: u8 = 2;
    /// Another process holds the store's write lock.
    pub const LOCKED: u8 = 3;
    /// Recovery found nothing valid to recover from.
    pub const NOTHING_RECOVERABLE: u8 = 4;
    /// Any other failure (I/O, refused input); the message says what.
    pub const FAILURE: u8 = 5;
    /// `check`/`status`: nothing wrong found, but the newest valid backup,
    /// a remote's last successful push (or, for `status`, the last check)
    /// is older than `--max-age`.
    pub const STALE: u8 = 6;
    /// A remote failed: unreachable, credentials refused, no such bucket,
    /// or a push that left backups unsent. Nothing local was changed. Its
    /// own number, not [`STALE`]'s: a script that retries pushes must not
    /// take a stale store for a remote failure, nor the reverse.
    pub const REMOTE: u8 = 7;
}

/// Crash-safe storage, backups, verification and recovery for a knowledge
/// graph's graph.json. Without a command, opens the terminal UI.
#[derive(Debug, Parser)]
#[command(name = "graphvault", version, about, long_about = None)]
pub struct Cli {
    /// The storage directory (holds graph.json and backups/).
    #[arg(
        long,
        global = true,
        default_value = "./storage",
        env = "GRAPHVAULT_STORE"
    )]
    pub store: PathBuf,
    /// Print one JSON document instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// A file with the secret key for tamper evidence (HMAC-SHA256 in every
    /// meta written; checked on every verify). Must be outside the store.
    #[arg(long, global = true, value_name = "PATH", env = "GRAPHVAULT_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// Wait up to this many seconds for another writer instead of failing
    /// at once with exit code 3.
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 0.0)]
    pub wait: f64,
    /// Log what happens to stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List backups, newest first, from their meta files.
    List,
    /// Verify the primary (default), one backup, or everything.
    Verify {
        /// `primary` or a backup id such as graph_20251003_000432.
        #[arg(value_parser = parse_target)]
        target: Option<Target>,
        /// Verify the primary and every backup, on all cores.
        #[arg(long, conflicts_with = "target")]
        all: bool,
        /// Stop after the checksum level (no JSON parsing).
        #[arg(long)]
        quick: bool,
        /// Parse every file again, even content the memo of verified
        /// content has proven before (the memo is refreshed).
        #[arg(long, conflicts_with = "quick")]
        deep: bool,
    },
    /// Save a graph file as the new primary, with a backup.
    Save {
        /// A graph in the application's JSON format.
        #[arg(long)]
        from: PathBuf,
        /// Do not apply the store's retention policy afterwards.
        #[arg(long)]
        no_rotate: bool,
    },
    /// Back up the current primary as it is.
    Snapshot,
    /// Replace the primary with a backup (the old primary is kept as evidence),
    /// or with --nodes bring only chosen nodes back into the current graph.
    Restore {
        /// The backup id, from `graphvault list`.
        #[arg(value_parser = parse_id)]
        id: BackupId,
        /// Show what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Accept a backup that has no meta (nothing to check its bytes against).
        #[arg(long)]
        allow_unverified: bool,
        /// Bring only these nodes (comma-separated ids) back into the current
        /// graph, as a new save; everything else stays as it is now.
        #[arg(long, value_delimiter = ',', value_name = "ID,...")]
        nodes: Vec<String>,
        /// With --nodes: also bring the backup's edges at those nodes whose
        /// endpoints exist in the result.
        #[arg(long, requires = "nodes")]
        with_edges: bool,
        /// With --nodes: for a node changed after the backup, which version wins.
        #[arg(long, requires = "nodes", value_name = "backup|current")]
        prefer: Option<String>,
    },
    /// Show the nodes of a backup or the primary, or one node with its edges.
    Show {
        /// `primary` or a backup id.
        #[arg(value_parser = parse_target)]
        target: Target,
        /// Only nodes of this type.
        #[arg(long = "type", value_name = "TYPE")]
        kind: Option<String>,
        /// Only nodes whose id or data contains this text (case ignored).
        #[arg(long, value_name = "TEXT")]
        grep: Option<String>,
        /// Show this node: its data and its edges in and out.
        #[arg(long, value_name = "ID")]
        node: Option<String>,
    },
    /// A node's history across the primary and every backup, newest first.
    History {
        /// The node id.
        node: String,
        /// Build the node index of every graph that has none (as `check` does), so
        /// that later histories read indexes only. Without it, a graph with no index
        /// is read for this node alone.
        #[arg(long)]
        build_index: bool,
    },
    /// Apply a retention policy (dry run unless --apply).
    Rotate {
        #[command(flatten)]
        policy: PolicyArgs,
        /// Delete what the policy removes. Without it, only show the plan.
        #[arg(long)]
        apply: bool,
        /// With --apply, also store the policy as the store's own (applied
        /// after each save).
        #[arg(long)]
        save_policy: bool,
    },
    /// Load the primary, or restore the newest valid backup if it is broken
    /// (or, with --from-remote, the newest remote backup that verifies).
    Recover {
        /// Show what would be restored; write nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        remote: FromRemoteArgs,
    },
    /// Upload every backup a remote lacks (all remotes without NAME).
    Push {
        /// A remote from `graphvault remote list`.
        name: Option<String>,
    },
    /// Off-site copies on S3-compatible object storage.
    Remote {
        #[command(subcommand)]
        command: RemoteCommand,
    },
    /// List the trash (backups retention moved out), or act on it.
    Trash {
        #[command(subcommand)]
        action: Option<TrashAction>,
    },
    /// List the kept primaries (evidence), or restore one as the primary.
    Evidence {
        #[command(subcommand)]
        action: Option<EvidenceAction>,
    },
    /// Compare two graphs: backup ids or `primary`.
    Diff {
        #[arg(value_parser = parse_target)]
        old: Target,
        #[arg(value_parser = parse_target)]
        new: Target,
    },
    /// Damage the primary of a sandbox store (see `graphvault demo`).
    Corrupt {
        /// What to damage, and how (`--help` says what each kind does).
        #[arg(value_parser = kind_parser())]
        kind: CorruptionKind,
    },
    /// The one command for a timer: verify the primary, scrub the backups,
    /// apply retention, record the outcome (exit 0 healthy, 1 integrity
    /// problem, 3 locked, 5 a step failed, 6 stale).
    Check {
        /// Re-hash each backup at least every N days (default: the store's
        /// config, else 7).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        scrub_days: Option<u32>,
        /// Re-hash every backup at every level.
        #[arg(long)]
        full: bool,
        /// Stale when the newest valid backup is older than this (default
        /// the store's config, else 2d).
        #[arg(long, value_name = "DURATION")]
        max_age: Option<String>,
        /// Also write the outcome as a Prometheus text file (atomically).
        #[arg(long, value_name = "PATH")]
        metrics_file: Option<PathBuf>,
        /// Healthchecks-style URL: pinged at URL/start before and
        /// URL/<exit code> after. A failed ping never changes the result.
        #[arg(long, value_name = "URL")]
        ping: Option<String>,
    },
    /// One line: health, newest valid backup's age, the last check, the
    /// off-site lag. Exit code as for `check`.
    Status {
        /// Stale past this age (default: the threshold the last check used).
        #[arg(long, value_name = "DURATION")]
        max_age: Option<String>,
    },
    /// Convert existing backups to the form the settings ask for
    /// (compression, keep-plain): dry run unless --apply. Each conversion
    /// is verified before the old file goes to the trash.
    Compact {
        /// Convert. Without it, only show what would be converted.
        #[arg(long)]
        apply: bool,
    },
    /// Show the store's settings, or change one (`config set KEY VALUE`).
    Config {
        #[command(subcommand)]
        action: Option<ConfigAction>,
    },
    /// Build a sandbox store from the bundled sample graph and open the UI on it.
    Demo {
        /// Where to build it (default: a new directory under the system temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Build it and print where, without opening the UI.
        #[arg(long)]
        no_ui: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Change one setting (validated first; an invalid value changes nothing).
    Set {
        /// A key from `graphvault config`: compression, compression-level,
        /// keep-plain, deltas, full-every, keep-last, keep-within, keep-daily, keep-weekly,
        /// keep-monthly, min-valid, trash-grace, space-margin.
        key: String,
        /// The new value (a negative number is refused by the setting,
        /// not taken for an option).
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TrashAction {
    /// Bring trashed backups back into backups/ (verified; never overwrites).
    Restore {
        /// Trash ids, from `graphvault trash`.
        #[arg(required = true)]
        ids: Vec<String>,
        /// Verify the items where they lie and show where they would go;
        /// move nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Purge items from the trash for good (dry run unless --apply).
    Empty {
        /// Only items trashed longer ago than this (14d, 2w, 1d12h).
        #[arg(long, value_name = "DURATION")]
        older_than: Option<String>,
        /// Purge them. Without it, only show what would go.
        #[arg(long)]
        apply: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum EvidenceAction {
    /// Restore a kept primary as the primary, through the normal restore
    /// (the primary it replaces is kept in turn): this undoes a restore.
    Restore {
        /// The evidence id, from `graphvault evidence`.
        id: String,
        /// Show what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Accept evidence that has no meta, or whose kept meta does not
        /// describe it (nothing to check its bytes against), when it parses
        /// and is consistent.
        #[arg(long)]
        allow_unverified: bool,
    },
}

/// Retention flags; none given means the store's own policy.
#[derive(Debug, Args, Default)]
pub struct PolicyArgs {
    /// Keep the N newest valid backups.
    #[arg(long, value_name = "N")]
    pub keep_last: Option<u32>,
    /// Keep backups within this age of the newest one (30d, 12h, 2w, 1d12h).
    #[arg(long, value_name = "DURATION")]
    pub keep_within: Option<String>,
    /// Keep the newest valid backup of each of the last N days.
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<u32>,
    /// Keep the newest valid backup of each of the last N ISO weeks.
    #[arg(long, value_name = "N")]
    pub keep_weekly: Option<u32>,
    /// Keep the newest valid backup of each of the last N months.
    #[arg(long, value_name = "N")]
    pub keep_monthly: Option<u32>,
    /// Never keep fewer than N valid backups (default 3, at least 1).
    #[arg(long, value_name = "N")]
    pub min_valid: Option<u32>,
}

impl PolicyArgs {
    pub(crate) fn any_rule(&self) -> bool {
        self.keep_last.is_some()
            || self.keep_within.is_some()
            || self.keep_daily.is_some()
            || self.keep_weekly.is_some()
            || self.keep_monthly.is_some()
    }

    /// The policy these flags describe, or the store's own when no rule is given.
    pub(crate) fn policy(&self, store: &Store) -> Result<RetentionPolicy, StoreError> {
        if let (false, Some(problem)) = (self.any_rule(), store.config_problem()) {
            return Err(StoreError::InvalidPolicy(format!(
                "the store's own policy cannot be used ({problem}); give the policy as flags, e.g. --keep-within 30d, or fix the file"
            )));
        }
        let store_policy = &store.config().retention;
        let mut policy = if self.any_rule() {
            RetentionPolicy {
                keep_last: self.keep_last,
                keep_within: self
                    .keep_within
                    .as_deref()
                    .map(parse_duration)
                    .transpose()?,
                keep_daily: self.keep_daily,
                keep_weekly: self.keep_weekly,
                keep_monthly: self.keep_monthly,
                ..RetentionPolicy::default()
            }
        } else {
            store_policy.clone()
        };
        if let Some(n) = self.min_valid {
            policy.min_valid = n;
        }
        policy.validate()?;
        Ok(policy)
    }
}

/// A CLI failure: the message and the exit code it maps to.
pub struct Failure {
    pub code: u8,
    pub kind: &'static str,
    pub message: String,
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        let (code, kind) = match &e {
            StoreError::Locked { .. } => (exit::LOCKED, "locked"),
            StoreError::NoStore { .. } => (exit::FAILURE, "no_store"),
            StoreError::InvalidBackupId { .. } => (exit::USAGE, "invalid_backup_id"),
            StoreError::InvalidPolicy(_) => (exit::USAGE, "invalid_policy"),
            // The id names no backup: the command asked for nothing there,
            // like a malformed id; nothing in the store is wrong.
            StoreError::NoSuchBackup { .. } => (exit::USAGE, "no_such_backup"),
            StoreError::NothingRecoverable { .. } => {
                (exit::NOTHING_RECOVERABLE, "nothing_recoverable")
            }
            StoreError::VerifyFailed { .. }
            | StoreError::RestoreRefused { .. }
            | StoreError::ChecksumMismatch { .. }
            | StoreError::BackupUnverified { .. } => (exit::INTEGRITY, "verification_failed"),
            StoreError::NotSandbox { .. } => (exit::FAILURE, "not_sandbox"),
            StoreError::Io { .. } => (exit::FAILURE, "io"),
            StoreError::Refused { .. } => (exit::FAILURE, "refused"),
            StoreError::Graph { .. } => (exit::FAILURE, "invalid_graph"),
            StoreError::InconsistentGraph { .. } => (exit::FAILURE, "inconsistent_graph"),
            StoreError::Invalid(_) => (exit::FAILURE, "invalid"),
            StoreError::NoSuchNode { .. } => (exit::FAILURE, "no_such_node"),
            StoreError::Conflict { .. } => (exit::FAILURE, "conflict"),
            StoreError::Interrupted { .. } => (exit::FAILURE, "interrupted"),
            StoreError::Cancelled { .. } => (exit::FAILURE, "cancelled"),
            StoreError::NoSpace { .. } => (exit::FAILURE, "no_space"),
        };
        // The store names no commands or flags; the command line says
        // which of its own would help.
        let hint = match &e {
            StoreError::BackupUnverified { .. } => {
                " (pass --allow-unverified to accept it after checking it)"
            }
            StoreError::NotSandbox { .. } => " (create one with `graphvault demo`)",
            StoreError::Conflict { .. } => {
                " (see the plan with --dry-run, then pass --prefer backup or --prefer current)"
            }
            _ => "",
        };
        Failure {
            code,
            kind,
            message: format!("{e}{hint}"),
        }
    }
}

/// What a command produced: a JSON value, its text rendering, and its exit code.
pub struct Outcome {
    pub json: serde_json::Value,
    /// A report serialized straight into the output instead of through
    /// `json` (the listing, whose 100,000 rows as a `serde_json::Value`
    /// took most of `list --json`'s time and 0.7 GB).
    pub direct: Option<ListJson>,
    pub text: String,
    pub code: u8,
}

/// `list --json`'s result: the listing, and what the trash and the kept
/// primaries hold.
#[derive(serde::Serialize)]
pub struct ListJson {
    #[serde(flatten)]
    listing: crate::store::list::BackupListing,
    trash: serde_json::Value,
    evidence: serde_json::Value,
}

/// The document `--json` prints for a command that succeeded. The fields
/// are in the order a `serde_json::Value` sorts them, as before.
#[derive(serde::Serialize)]
struct Envelope<'a> {
    command: &'a str,
    exit_code: u8,
    graphvault: u8,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    ping: Option<&'a serde_json::Value>,
    result: Body<'a>,
    store: &'a std::path::Path,
}

enum Body<'a> {
    Value(&'a serde_json::Value),
    Direct(&'a ListJson),
}

impl serde::Serialize for Body<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Body::Value(v) => v.serialize(s),
            Body::Direct(d) => d.serialize(s),
        }
    }
}

/// The document `--json` prints for a command that failed.
fn print_failure_json(name: &str, cli: &Cli, f: &Failure, ping: Option<&serde_json::Value>) {
    let mut doc = serde_json::json!({
        "graphvault": 1,
        "command": name,
        "store": cli.store.to_string_lossy(),
        "ok": false,
        "exit_code": f.code,
        "error": { "kind": f.kind, "message": f.message },
    });
    if let Some(p) = ping {
        doc["ping"] = p.clone();
    }
    let _ = writeln!(
        std::io::stdout().lock(),
        "{}",
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    );
}

/// The outcome of a command: its report as JSON only when `json` asks for
/// it (a listing of 100,000 backups took a third of its time and most of
/// its memory turning into a JSON value that text output never read).
fn outcome<T: serde::Serialize>(json: bool, report: &T, text: String, code: u8) -> Outcome {
    Outcome {
        json: if json {
            serde_json::to_value(report).unwrap_or(serde_json::Value::Null)
        } else {
            serde_json::Value::Null
        },
        direct: None,
        text,
        code,
    }
}

/// Reads a graph file named on the command line.
fn read_input_graph(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "is not a regular file",
        ));
    }
    if meta.len() > crate::store::MAX_GRAPH_LEN {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "is {} bytes, over the {} byte limit",
                meta.len(),
                crate::store::MAX_GRAPH_LEN
            ),
        ));
    }
    // Read no more than the size the file reported, plus one byte to tell
    // whether there is more: `/proc/self/pagemap` reports 0 bytes and never
    // ends, and a file still being written grows under the reader. Either
    // is refused once the read passes the reported size, so memory is
    // bounded by what the stat promised, never by what the file yields.
    // Chunks of a fixed size: some special files refuse reads that are not
    // a multiple of 8 bytes, and one chunk past the size is all it takes.
    let reported = meta.len();
    let mut file = std::fs::File::open(path)?;
    let mut bytes = Vec::with_capacity(usize::try_from(reported).unwrap_or(0));
    let mut chunk = vec![0u8; 64 << 10];
    while bytes.len() as u64 <= reported {
        match std::io::Read::read(&mut file, &mut chunk) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if bytes.len() as u64 > reported {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "yields more than the {reported} bytes it reports (a file still being written, or a special file such as one under /proc); read stopped there"
            ),
        ));
    }
    Ok(bytes)
}

/// `--max-age`, a duration; a bad one is a usage error.
fn max_age_arg(text: &str) -> Result<chrono::Duration, Failure> {
    parse_duration(text).map_err(|e| Failure {
        code: exit::USAGE,
        kind: "usage",
        message: format!(
            "--max-age: {}",
            e.to_string()
                .trim_start_matches("invalid retention policy: ")
        ),
    })
}

// Parsers for clap: a malformed id or kind is a usage error (exit 2),
// caught before the store is opened.

fn parse_id(s: &str) -> Result<BackupId, String> {
    s.parse().map_err(|e: StoreError| e.to_string())
}

fn parse_target(s: &str) -> Result<Target, String> {
    if s == "primary" {
        Ok(Target::Primary)
    } else {
        parse_id(s).map(Target::Backup)
    }
}

fn parse_kind(s: &str) -> Result<CorruptionKind, String> {
    s.parse().map_err(|e: StoreError| e.to_string())
}

/// The kinds of damage as clap's possible values, each with what it does: the primary's
/// kinds (the wizard's list), then the backups'.
fn kind_parser() -> impl clap::builder::TypedValueParser<Value = CorruptionKind> {
    use clap::builder::TypedValueParser as _;
    let kinds = CorruptionKind::ALL
        .iter()
        .chain(CorruptionKind::BACKUP_KINDS.iter())
        .map(|k| clap::builder::PossibleValue::new(k.name()).help(k.description()));
    clap::builder::PossibleValuesParser::new(kinds).try_map(|name: String| parse_kind(&name))
}

fn command_name(c: &Command) -> &'static str {
    match c {
        Command::List => "list",
        Command::Verify { .. } => "verify",
        Command::Save { .. } => "save",
        Command::Snapshot => "snapshot",
        Command::Restore { .. } => "restore",
        Command::Show { .. } => "show",
        Command::History { .. } => "history",
        Command::Rotate { .. } => "rotate",
        Command::Recover { .. } => "recover",
        Command::Push { .. } => "push",
        Command::Remote { command } => match command {
            RemoteCommand::Add { .. } => "remote add",
            RemoteCommand::List => "remote list",
            RemoteCommand::Remove { .. } => "remote remove",
            RemoteCommand::Ls { .. } => "remote ls",
            RemoteCommand::Verify { .. } => "remote verify",
            RemoteCommand::Restore { .. } => "remote restore",
            RemoteCommand::Rotate { .. } => "remote rotate",
        },
        Command::Trash { action: None } => "trash",
        Command::Trash {
            action: Some(TrashAction::Restore { .. }),
        } => "trash restore",
        Command::Trash {
            action: Some(TrashAction::Empty { .. }),
        } => "trash empty",
        Command::Evidence { action: None } => "evidence",
        Command::Evidence {
            action: Some(EvidenceAction::Restore { .. }),
        } => "evidence restore",
        Command::Diff { .. } => "diff",
        Command::Corrupt { .. } => "corrupt",
        Command::Check { .. } => "check",
        Command::Status { .. } => "status",
        Command::Demo { .. } => "demo",
        Command::Compact { .. } => "compact",
        Command::Config { action: None } => "config",
        Command::Config {
            action: Some(ConfigAction::Set { .. }),
        } => "config set",
    }
}

/// Runs one non-interactive command and prints its result. Returns the
/// process exit code.
pub fn run(cli: &Cli, command: &Command) -> u8 {
    let name = command_name(command);
    let wait = std::time::Duration::try_from_secs_f64(cli.wait.max(0.0)).unwrap_or_default();
    let pinger = match command {
        Command::Check {
            ping: Some(url), ..
        } => Some(ping::Pinger::new(url)),
        _ => None,
    };
    let mut pings = Vec::new();
    if let Some(p) = &pinger {
        pings.push(p.send("start", ""));
    }
    // JSON has no way to carry a path that is not UTF-8: every report names the store's
    // paths, so such a store is refused before anything is read.
    if cli.json && cli.store.to_str().is_none() {
        let f = Failure {
            code: exit::USAGE,
            kind: "refused",
            message: format!(
                "--json: the store path {} is not valid UTF-8, which a JSON document cannot carry; nothing was read or written (run without --json, or through a symlink whose path is UTF-8)",
                cli.store.display()
            ),
        };
        print_failure_json(name, cli, &f, None);
        return f.code;
    }
    let result = Store::open(&cli.store)
        .map(|s| s.with_lock_wait(wait))
        .and_then(|s| match &cli.key_file {
            Some(k) => crate::store::auth::Key::from_file(k, &cli.store).map(|key| s.with_key(key)),
            None => Ok(s),
        })
        .map_err(Failure::from)
        .and_then(|store| execute(&store, cli, command));
    if let Some(p) = &pinger {
        let (code, body) = match &result {
            Ok(out) => (out.code, out.text.clone()),
            Err(f) => (f.code, f.message.clone()),
        };
        pings.push(p.send(&code.to_string(), &body));
    }
    for p in pings.iter().filter(|p| !p.ok) {
        if !cli.json {
            eprintln!(
                "graphvault {name}: ping {} failed: {}; the check's result is unchanged",
                p.url,
                p.error.as_deref().unwrap_or("unknown error")
            );
        }
    }
    let ping_json = pinger
        .as_ref()
        .map(|_| serde_json::to_value(&pings).unwrap_or_default());
    let mut stdout = std::io::stdout().lock();
    match result {
        Ok(out) => {
            let written = if cli.json {
                let doc = Envelope {
                    command: name,
                    exit_code: out.code,
                    graphvault: 1,
                    ok: out.code == exit::OK,
                    ping: ping_json.as_ref(),
                    result: match &out.direct {
                        Some(d) => Body::Direct(d),
                        None => Body::Value(&out.json),
                    },
                    store: &cli.store,
                };
                let mut buffered = std::io::BufWriter::with_capacity(1 << 16, &mut stdout);
                serde_json::to_writer_pretty(&mut buffered, &doc)
                    .map_err(std::io::Error::from)
                    .and_then(|()| writeln!(buffered))
                    .and_then(|()| buffered.flush())
            } else {
                write!(stdout, "{}", crate::present::terminal_safe(&out.text))
                    .and_then(|()| stdout.flush())
            };
            match written {
                // A reader that stopped early (`| head`) chose to; nothing to report.
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    eprintln!(
                        "graphvault {name}: could not write the result to stdout: {e}; what the command did stands (its exit code would have been {})",
                        out.code
                    );
                    // A finding the command made (integrity, stale, ...) keeps its code.
                    if out.code == exit::OK {
                        exit::FAILURE
                    } else {
                        out.code
                    }
                }
                _ => out.code,
            }
        }
        Err(f) => {
            tracing::error!(command = name, kind = f.kind, error = %f.message, "command failed");
            if cli.json {
                print_failure_json(name, cli, &f, ping_json.as_ref());
            } else {
                eprintln!(
                    "graphvault {name}: {}",
                    crate::present::terminal_safe(&f.message)
                );
            }
            f.code
        }
    }
}

fn execute(store: &Store, cli: &Cli, command: &Command) -> Result<Outcome, Failure> {
    // Only `save` and recovery from a remote (the disk was lost) may create
    // a store; anything else on a path that is not a directory is almost
    // certainly a typo in --store.
    let creates = matches!(command, Command::Save { .. })
        || matches!(command, Command::Recover { remote, .. } if remote.from_remote.is_some());
    if !creates && !store.exists() {
        return Err(Failure {
            code: exit::FAILURE,
            kind: "refused",
            message: format!(
                "no storage directory at {}; nothing was read or written (check --store, or create one with `graphvault save --from FILE`)",
                store.root().display()
            ),
        });
    }
    match command {
        Command::List => {
            let listing = store.list_backups()?;
            let trash = store.list_trash()?;
            let evidence = store.list_evidence(None)?;
            if cli.json {
                let report = ListJson {
                    listing,
                    trash: serde_json::json!({
                        "dir": trash.dir,
                        "count": trash.items.len(),
                        "total_size": trash.total_size,
                        "grace": trash.grace,
                    }),
                    evidence: serde_json::json!({
                        "dir": evidence.dir,
                        "count": evidence.items.len(),
                        "total_size": evidence.total_size,
                    }),
                };
                return Ok(Outcome {
                    json: serde_json::Value::Null,
                    direct: Some(report),
                    text: String::new(),
                    code: exit::OK,
                });
            }
            let mut text = render::listing(store, &listing);
            text.push_str(&render::kept_aside(&trash, &evidence));
            Ok(outcome(false, &listing, text, exit::OK))
        }
        Command::Compact { apply } => {
            let report =
                store.compact(crate::store::compact::CompactOptions { dry_run: !apply })?;
            let code = if report.skipped.is_empty() {
                exit::OK
            } else {
                exit::INTEGRITY
            };
            Ok(outcome(cli.json, &report, render::compact(&report), code))
        }
        Command::Config { action: None } => {
            let report = store.settings();
            Ok(outcome(
                cli.json,
                &report,
                render::settings(&report),
                exit::OK,
            ))
        }
        Command::Config {
            action: Some(ConfigAction::Set { key, value }),
        } => {
            let mut store = store.clone();
            let change = store.set_setting(key, value)?;
            Ok(outcome(
                cli.json,
                &change,
                render::setting_change(&change),
                exit::OK,
            ))
        }
        Command::Trash { action: None } => {
            let listing = store.list_trash()?;
            Ok(outcome(
                cli.json,
                &listing,
                render::trash(&listing),
                exit::OK,
            ))
        }
        Command::Trash {
            action: Some(TrashAction::Restore { ids, dry_run: true }),
        } => {
            let plan = store.trash_restore_plan(ids)?;
            let code = all_valid_code(plan.items.iter().map(|i| i.status));
            Ok(outcome(
                cli.json,
                &plan,
                render::trash_restore_plan(&plan),
                code,
            ))
        }
        Command::Trash {
            action:
                Some(TrashAction::Restore {
                    ids,
                    dry_run: false,
                }),
        } => {
            let report = store.trash_restore(ids)?;
            let code = all_valid_code(report.restored.iter().map(|r| r.status));
            Ok(outcome(
                cli.json,
                &report,
                render::trash_restore(&report),
                code,
            ))
        }
        Command::Trash {
            action: Some(TrashAction::Empty { older_than, apply }),
        } => {
            let older_than = older_than.as_deref().map(parse_duration).transpose()?;
            let report = store.trash_empty(TrashEmptyOptions {
                older_than,
                dry_run: !apply,
            })?;
            Ok(outcome(
                cli.json,
                &report,
                render::trash_empty(&report),
                exit::OK,
            ))
        }
        Command::Evidence { action: None } => {
            // Damaged primaries are what evidence is for: listing one is
            // not a failure of this command.
            let listing = store.list_evidence(Some(Depth::Full))?;
            Ok(outcome(
                cli.json,
                &listing,
                render::evidence(&listing),
                exit::OK,
            ))
        }
        Command::Evidence {
            action:
                Some(EvidenceAction::Restore {
                    id,
                    dry_run,
                    allow_unverified,
                }),
        } => {
            let report = store.restore_evidence(
                id,
                RestoreOptions {
                    dry_run: *dry_run,
                    allow_unverified: *allow_unverified,
                },
            )?;
            Ok(outcome(
                cli.json,
                &report,
                render::evidence_restore(&report),
                exit::OK,
            ))
        }
        Command::Verify {
            target,
            all,
            quick,
            deep,
        } => {
            let depth = if *quick { Depth::Checksum } else { Depth::Full };
            let store = &store.clone().with_deep(*deep);
            if *all {
                let bar = progress::Progress::new("verifying files", cli.json);
                let report = store.verify_all(
                    VerifyAllOptions {
                        depth,
                        include_primary: true,
                        threads: 0,
                    },
                    &AtomicBool::new(false),
                    &|p| bar.verify(&p),
                )?;
                bar.finish();
                let code = if report.has_problems() {
                    exit::INTEGRITY
                } else {
                    exit::OK
                };
                Ok(outcome(
                    cli.json,
                    &report,
                    render::verify_all(&report),
                    code,
                ))
            } else {
                let target = target.clone().unwrap_or(Target::Primary);
                let report = store.verify(&target, depth)?;
                let code = if matches!(
                    report.status,
                    crate::store::verify::Status::Corrupt | crate::store::verify::Status::Missing
                ) {
                    exit::INTEGRITY
                } else {
                    exit::OK
                };
                Ok(outcome(
                    cli.json,
                    &report,
                    render::file_report(&report),
                    code,
                ))
            }
        }
        Command::Save { from, no_rotate } => {
            // A user-chosen input path: symlinks are followed, but it must
            // be a regular file within the size limit (a FIFO or /dev/zero
            // would hang or exhaust memory), and it is never written.
            let bytes = read_input_graph(from).map_err(|e| Failure {
                code: exit::FAILURE,
                kind: "io",
                message: format!("read {}: {e}; nothing was saved", from.display()),
            })?;
            // Stored as they are: parsed (to refuse what is not a graph) and
            // hashed while they are written, never serialized again.
            let report = store
                .save_file_bytes(
                    from,
                    bytes,
                    &crate::store::save::SaveOptions {
                        rotate: !no_rotate,
                        at: None,
                    },
                )
                .map_err(|e| {
                    let invalid = matches!(e, StoreError::Graph { .. });
                    // Its problems name nodes and edges, not the file.
                    let inconsistent = matches!(e, StoreError::InconsistentGraph { .. });
                    let mut f = Failure::from(e);
                    if invalid {
                        f.message.push_str("; nothing was saved");
                    } else if inconsistent {
                        f.message = format!(
                            "{}: {}; graph.json, its meta and the backups are unchanged",
                            from.display(),
                            f.message
                        );
                    }
                    f
                })?;
            let mut out = outcome(cli.json, &report, render::save(&report), exit::OK);
            remote::auto_push_after_save(store, &mut out);
            Ok(out)
        }
        Command::Snapshot => {
            let report = store.snapshot().map_err(|e| {
                let unusable = matches!(e, StoreError::VerifyFailed { .. });
                let mut f = Failure::from(e);
                if unusable {
                    f.message.push_str(" (run `graphvault recover`)");
                }
                f
            })?;
            let mut out = outcome(cli.json, &report, render::snapshot(&report), exit::OK);
            remote::auto_push_after_save(store, &mut out);
            Ok(out)
        }
        Command::Restore {
            id,
            dry_run,
            allow_unverified,
            nodes,
            with_edges,
            prefer,
        } if !nodes.is_empty() => {
            let prefer = prefer
                .as_deref()
                .map(str::parse::<Prefer>)
                .transpose()
                .map_err(|e| Failure {
                    code: exit::USAGE,
                    kind: "usage",
                    message: format!("--prefer: {e}"),
                })?;
            let report = store.restore_nodes(
                id,
                &PartialRestoreOptions {
                    nodes: nodes.clone(),
                    with_edges: *with_edges,
                    prefer,
                    dry_run: *dry_run,
                    allow_unverified: *allow_unverified,
                },
            )?;
            let mut out = outcome(cli.json, &report, nodes::partial_restore(&report), exit::OK);
            // A partial restore is a save with its own backup: pushed like one.
            if !*dry_run {
                remote::auto_push_after_save(store, &mut out);
            }
            Ok(out)
        }
        Command::Restore {
            id,
            dry_run,
            allow_unverified,
            ..
        } => {
            let report = store.restore(
                id,
                RestoreOptions {
                    dry_run: *dry_run,
                    allow_unverified: *allow_unverified,
                },
            )?;
            Ok(outcome(
                cli.json,
                &report,
                render::restore(&report),
                exit::OK,
            ))
        }
        Command::Rotate {
            policy,
            apply,
            save_policy,
        } => {
            let policy = policy.policy(store)?;
            if *save_policy && *apply {
                let mut s = store.clone();
                let mut config = s.config().clone();
                config.retention = policy.clone();
                s.set_config(config)?;
            }
            let bar = progress::Progress::files("rotating", cli.json);
            let report = store.rotate_reporting(
                &policy,
                RotateOptions { dry_run: !apply },
                crate::store::rotate::RotateControl {
                    cancel: &AtomicBool::new(false),
                    progress: &|p| bar.rotate(&p),
                },
            )?;
            bar.finish();
            let mut text = render::rotate(&report);
            if *save_policy {
                text.push_str(if *apply {
                    "saved this policy as the store's own: it applies after every save\n"
                } else {
                    "policy not saved: dry run (add --apply to save it and act on it)\n"
                });
            }
            Ok(outcome(cli.json, &report, text, exit::OK))
        }
        Command::Recover {
            dry_run,
            remote: from,
        } => {
            if let Some(name) = &from.from_remote {
                return remote::recover(store, cli.json, from, name, *dry_run);
            }
            let bar = progress::Progress::new("checking backups", cli.json);
            let report = store
                .recover_reporting(RecoverOptions { dry_run: *dry_run }, &|p| bar.verify(&p))?;
            bar.finish();
            let code = if report.recovered() {
                exit::OK
            } else {
                exit::NOTHING_RECOVERABLE
            };
            Ok(outcome(cli.json, &report, render::recover(&report), code))
        }
        Command::Show {
            target,
            kind,
            grep,
            node,
        } => {
            let report = store.show(
                target,
                &ShowOptions {
                    kind: kind.clone(),
                    grep: grep.clone(),
                    node: node.clone(),
                },
            )?;
            Ok(outcome(cli.json, &report, nodes::show(&report), exit::OK))
        }
        Command::History { node, build_index } => {
            let options = HistoryOptions {
                build_indexes: *build_index,
                ..HistoryOptions::default()
            };
            let report = store.history(node, options)?;
            // As verify: a missing or unreadable graph is an integrity
            // problem, though the history of the others is shown.
            let code = if report.has_problems() {
                exit::INTEGRITY
            } else {
                exit::OK
            };
            Ok(outcome(cli.json, &report, nodes::history(&report), code))
        }
        Command::Diff { old, new } => {
            let report = store.diff(old, new)?;
            Ok(outcome(cli.json, &report, render::diff(&report), exit::OK))
        }
        Command::Corrupt { kind } => {
            let report = store.corrupt(*kind)?;
            Ok(outcome(
                cli.json,
                &report,
                render::corrupt(&report),
                exit::OK,
            ))
        }
        Command::Push { name } => remote::push(store, cli.json, name.as_deref()),
        Command::Remote { command } => remote::execute(store, cli.json, command),
        Command::Check {
            scrub_days,
            full,
            max_age,
            metrics_file,
            ping: _,
        } => {
            let report = store.check(&crate::store::check::CheckOptions {
                scrub_days: *scrub_days,
                full: *full,
                max_age: max_age.as_deref().map(max_age_arg).transpose()?,
                metrics_file: metrics_file.clone(),
                at: None,
                offsite: Some(std::sync::Arc::new(crate::remote::push::CheckPush)),
            })?;
            Ok(outcome(
                cli.json,
                &report,
                check::check(&report),
                report.exit_code,
            ))
        }
        Command::Status { max_age } => {
            let max_age = max_age
                .as_deref()
                .map(max_age_arg)
                .transpose()?
                .map(|d| d.num_seconds());
            let report = store.status(crate::store::now(), max_age);
            Ok(outcome(
                cli.json,
                &report,
                check::status(&report),
                report.exit_code,
            ))
        }
        Command::Demo { .. } => Err(Failure {
            code: exit::USAGE,
            kind: "usage",
            message: "demo is handled by the binary".to_string(),
        }),
    }
}

/// Exit code of a trash restore or its plan: 1 unless every item is (or
/// would come back) valid.
fn all_valid_code(mut statuses: impl Iterator<Item = crate::store::verify::Status>) -> u8 {
    if statuses.all(|s| s == crate::store::verify::Status::Valid) {
        exit::OK
    } else {
        exit::INTEGRITY
    }
}

#[cfg(test)]
mod tests {
    use super::exit;
    use crate::store::status::Health;

    #[test]
    fn every_exit_code_means_one_thing() {
        let codes = [
            exit::OK,
            exit::INTEGRITY,
            exit::USAGE,
            exit::LOCKED,
            exit::NOTHING_RECOVERABLE,
            exit::FAILURE,
            exit::STALE,
            exit::REMOTE,
        ];
        let mut sorted = codes.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), codes.len(), "two meanings share a code");
        // The store's health maps onto the same numbers.
        assert_eq!(Health::Healthy.exit_code(), exit::OK);
        assert_eq!(Health::Integrity.exit_code(), exit::INTEGRITY);
        assert_eq!(Health::Locked.exit_code(), exit::LOCKED);
        assert_eq!(Health::Failed.exit_code(), exit::FAILURE);
        assert_eq!(Health::Stale.exit_code(), exit::STALE);
    }
}
