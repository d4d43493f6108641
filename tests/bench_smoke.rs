//! Runs a tiny instance of the storage benchmark (`benches/store.rs`) under `cargo test`,
//! so that the harness cannot rot unnoticed. It checks that every measurement ran and
//! measured the right thing (the benchmark itself refuses wrong results: a verification
//! that fails, a recovery from the wrong backup); it never looks at how fast anything was.

#[path = "../benches/store.rs"]
#[allow(
    dead_code,
    reason = "the bench binary's main() is not called here; the test calls run()"
)]
mod bench;

use std::path::Path;

/// This test's name: the benchmark re-executes this binary with it as a filter to get a
/// child process that measures the peak memory of one load.
const TEST_NAME: &str = "tiny_benchmark_measures_every_operation";

#[test]
fn tiny_benchmark_measures_every_operation() -> anyhow::Result<()> {
    if let Some(store) = std::env::var_os(bench::PEAK_CHILD_ENV) {
        return bench::peak_load_child(Path::new(&store));
    }
    let mut config = bench::Config::from_env_and_args(std::iter::empty())?;
    config.sizes = vec![bench::SizeSpec::Nodes(300)];
    config.reps = Some(1);
    config.backups_to_list = 200;
    config.backups_to_verify = 4;
    config.child_args = [TEST_NAME, "--exact", "--nocapture", "--test-threads=1"]
        .map(String::from)
        .to_vec();

    let mut out = Vec::new();
    let report = bench::run(&config, &mut out)?;
    let table = String::from_utf8(out)?;
    // Shown with `--nocapture`; the figures of a debug build on a tiny graph mean nothing.
    println!("{table}");

    let mut expected = vec![
        "save with backup",
        "verify one file (checksum)",
        "load (verify + parse)",
        "load: peak memory",
        "load with recovery (4th backup)",
        "verify all 4 backups (checksum)",
        "check, 4 backups unchanged",
        "CLI: check, 4 backups unchanged",
        "list 200 backups",
        "show: node list of a backup",
        "history: 4 backups, no index yet",
        "history: 4 backups, indexes cached",
    ];
    if config.wants(bench::Section::Tui) {
        expected.extend([
            "TUI: first frame, 200 backups",
            "TUI: key press to frame",
            "CLI: UI, every row at full depth",
        ]);
    }
    for operation in expected {
        let row = report.rows.iter().find(|r| r.operation == operation);
        assert!(row.is_some(), "no row {operation:?} in\n{table}");
        assert!(
            table.contains(operation),
            "{operation:?} not printed:\n{table}"
        );
    }
    for row in &report.rows {
        if let bench::Measured::Memory { peak_bytes } = row.measured {
            // A load holds at least the file's bytes at some point.
            assert!(
                peak_bytes >= row.bytes.unwrap_or(0),
                "peak memory {peak_bytes} below the file size: {row:?}"
            );
        }
    }
    let peer_ran = report.rows.iter().any(|r| r.peer_ms.is_some());
    let peer_skipped = report.skipped.iter().any(|s| s.contains("peer"));
    assert!(
        peer_ran != peer_skipped,
        "the peer must either run or say why not:\n{table}"
    );
    Ok(())
}
