//! The `graphvault` binary: parse arguments, open the store, hand over to
//! the command line, the terminal UI or the demo.

use std::process::ExitCode;

use clap::Parser;
use std::path::{Path, PathBuf};

use graphvault::cli::{self, Cli, Command, exit};

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => return,
        1 => tracing::Level::INFO,
        _ => tracing::Level::DEBUG,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .with_target(false)
        .init();
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match &cli.command {
        None => ExitCode::from(run_ui(&cli.store, None, cli.key_file.as_deref())),
        Some(Command::Demo { dir, no_ui }) => {
            // With the UI up, logs go to its log file: stderr would draw
            // over the screen.
            if *no_ui {
                init_logging(cli.verbose);
            }
            ExitCode::from(run_demo(dir.as_deref(), *no_ui, cli.key_file.as_deref()))
        }
        Some(command) => {
            init_logging(cli.verbose);
            ExitCode::from(cli::run(&cli, command))
        }
    }
}

/// Opens the terminal UI on `store`, with the HMAC key in `key_file` if
/// one is given. Returns the exit code.
pub fn run_ui(store: &Path, note: Option<String>, key_file: Option<&Path>) -> u8 {
    let key = match key_file
        .map(|k| graphvault::store::auth::Key::from_file(k, store))
        .transpose()
    {
        Ok(k) => k,
        Err(e) => {
            eprintln!("graphvault: {e}; nothing was opened");
            return exit::FAILURE;
        }
    };
    match graphvault::tui::run(store, note, key) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("graphvault: {e:#}");
            exit::FAILURE
        }
    }
}

/// Builds the demo sandbox and opens the UI on it (or just prints where it
/// is with `no_ui`). With `key_file`, the demo's metas are signed with that
/// key and the UI checks them with it.
pub fn run_demo(dir: Option<&Path>, no_ui: bool, key_file: Option<&Path>) -> u8 {
    let root = match dir {
        Some(d) => d.to_path_buf(),
        None => std::env::temp_dir().join(format!("graphvault-demo-{}", std::process::id())),
    };
    let key = match key_file
        .map(|k| graphvault::store::auth::Key::from_file(k, &root))
        .transpose()
    {
        Ok(k) => k,
        Err(e) => {
            eprintln!("graphvault demo: {e}; nothing was built");
            return exit::FAILURE;
        }
    };
    let keyed = key.is_some();
    let report = match graphvault::demo::build_demo_store_keyed(&root, key) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("graphvault demo: {e}");
            return exit::FAILURE;
        }
    };
    let signed = if keyed {
        "; metas signed with the key"
    } else {
        ""
    };
    let summary = format!(
        "demo sandbox store: {} ({}; primary {} nodes, {} edges{signed})",
        display(&report.root),
        graphvault::present::count_of(report.backups, "backup"),
        report.node_count,
        report.edge_count
    );
    if no_ui {
        println!("{summary}");
        return exit::OK;
    }
    let code = run_ui(&root, Some(summary), key_file);
    // Counted again: a restore, a rotation or a snapshot in the UI changed
    // what the summary said when the demo was built.
    let now = sandbox_now(&root);
    let again = match key_file {
        Some(k) => format!(
            "graphvault --key-file {} --store {}",
            display(k),
            display(&root)
        ),
        None => format!("graphvault --store {}", display(&root)),
    };
    println!(
        "demo sandbox store: {} ({now})\nexplore it again with: {again}",
        display(&root)
    );
    code
}

/// What the sandbox holds now, in one phrase, for the exit message.
fn sandbox_now(root: &Path) -> String {
    use graphvault::store::verify::{Depth, Target};
    let Ok(store) = graphvault::store::Store::open(root) else {
        return "cannot be read now".to_string();
    };
    let backups = match store.list_backups() {
        Ok(l) => graphvault::present::count_of(l.backups.len(), "backup"),
        Err(_) => "backups cannot be listed".to_string(),
    };
    let primary = match store.verify(&Target::Primary, Depth::Full) {
        Ok(r) => match (r.node_count, r.edge_count) {
            (Some(n), Some(e)) => format!("primary {n} nodes, {e} edges, {}", r.word()),
            _ => format!("primary {}", r.summary()),
        },
        Err(e) => format!("primary: {e}"),
    };
    format!("{backups}; {primary}")
}

fn display(p: &Path) -> String {
    PathBuf::from(p).display().to_string()
}
