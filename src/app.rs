//! What the binary runs: the terminal UI on a store, or the demo.

use std::path::{Path, PathBuf};

use crate::cli::exit;

/// Opens the terminal UI on `store`, with the HMAC key in `key_file` if
/// one is given. Returns the exit code.
pub fn run_ui(store: &Path, note: Option<String>, key_file: Option<&Path>) -> u8 {
    let key = match key_file
        .map(|k| crate::store::auth::Key::from_file(k, store))
        .transpose()
    {
        Ok(k) => k,
        Err(e) => {
            eprintln!("graphvault: {e}; nothing was opened");
            return exit::FAILURE;
        }
    };
    match crate::tui::run(store, note, key) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("graphvault: {e:#}");
            exit::FAILURE
        }
    }
}

/// Builds the demo sandbox and opens the UI on it (or just prints where it
/// is with `no_ui`).
pub fn run_demo(dir: Option<&Path>, no_ui: bool) -> u8 {
    let root = match dir {
        Some(d) => d.to_path_buf(),
        None => std::env::temp_dir().join(format!("graphvault-demo-{}", std::process::id())),
    };
    let report = match crate::demo::build_demo_store(&root) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("graphvault demo: {e}");
            return exit::FAILURE;
        }
    };
    let summary = format!(
        "demo sandbox store: {} ({} backups; primary {} nodes, {} edges)",
        display(&report.root),
        report.backups,
        report.node_count,
        report.edge_count
    );
    if no_ui {
        println!("{summary}");
        return exit::OK;
    }
    let code = run_ui(&root, Some(summary.clone()), None);
    println!(
        "{summary}\nexplore it again with: graphvault --store {}",
        display(&root)
    );
    code
}

fn display(p: &Path) -> String {
    PathBuf::from(p).display().to_string()
}
