//! The terminal UI (being built).
use std::path::Path;

/// Runs the UI until the user quits.
///
/// # Errors
/// Terminal setup failures.
pub fn run(store: &Path, _note: Option<String>) -> anyhow::Result<()> {
    anyhow::bail!("the terminal UI is not built yet; use the subcommands (graphvault --store {} list)", store.display())
}
