//! A storage directory written by Python itself (`json.dump(indent=2)`, as
//! the application does), when python3 is available: graphvault must read
//! it as it is, write it back byte for byte, and give the right answers.

use std::fs;
use std::path::Path;
use std::process::Command;

use graphvault::graph::KnowledgeGraph;
use graphvault::store::recover::{RecoverOptions, Source};
use graphvault::store::verify::{Depth, Status, Target, VerifyAllOptions};

fn python_store(dir: &Path) -> bool {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/make_app_store.py"
    );
    match Command::new("python3").arg(script).arg(dir).status() {
        Ok(s) if s.success() => true,
        Ok(s) => panic!("make_app_store.py failed: {s}"),
        Err(e) => {
            eprintln!("skipped: python3 is not available ({e})");
            false
        }
    }
}

#[test]
fn a_directory_written_by_python_reads_verifies_and_round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    if !python_store(dir.path()) {
        return;
    }
    let root = dir.path().join("storage");
    let mut files = vec![root.join("graph.json")];
    for e in fs::read_dir(root.join("backups")).expect("ls").flatten() {
        if e.file_name().to_string_lossy().ends_with(".json") {
            files.push(e.path());
        }
    }
    assert_eq!(files.len(), 7);
    for f in &files {
        let bytes = fs::read(f).expect("read");
        let g =
            KnowledgeGraph::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert_eq!(
            g.to_vec(),
            bytes,
            "{} round-trips byte for byte",
            f.display()
        );
    }

    let store = graphvault::store::Store::open(&root).expect("open");
    let listing = store.list_backups().expect("list");
    assert_eq!(listing.backups.len(), 6);
    assert_eq!(listing.ignored, [".gitkeep", "20251001_161329"]);
    let all = store
        .verify_all(
            VerifyAllOptions {
                depth: Depth::Full,
                include_primary: true,
                threads: 2,
            },
            &std::sync::atomic::AtomicBool::new(false),
            &|_| {},
        )
        .expect("verify all");
    assert_eq!(
        (all.valid, all.unverified, all.corrupt, all.missing),
        (6, 1, 0, 0)
    );

    // Break the primary: the newest backup verifies, so it is restored and
    // the primary verifies again.
    fs::write(root.join("graph.json"), b"{\"version\": 2, \"nodes\": {").expect("truncate");
    let (graph, report) = store
        .load_with_recovery(RecoverOptions::default())
        .expect("recover");
    assert_eq!(
        report.source,
        Source::Backup("graph_20251016_090000".parse().expect("id"))
    );
    assert_eq!(graph.map(|g| g.node_count()), Some(8));
    assert_eq!(
        store
            .verify(&Target::Primary, Depth::Full)
            .expect("verify")
            .status,
        Status::Valid
    );
}
