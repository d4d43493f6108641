use std::fs;

use crate::common::{self, MetaName};

#[test]
fn lists_an_application_directory_newest_first_from_metas() {
    let s = common::app_store();
    let listing = s.open().list_backups().expect("list");
    let ids: Vec<String> = listing.backups.iter().map(|b| b.id.to_string()).collect();
    assert_eq!(
        ids,
        [
            "graph_20251003_100500",
            "graph_20251003_100000",
            "graph_20251002_100000",
            "graph_20251001_100000"
        ]
    );
    // Both meta names are read; legacy zero counts are flagged, not trusted.
    assert!(
        listing.backups[2]
            .meta_path
            .as_ref()
            .is_some_and(|p| p.to_string_lossy().ends_with(".json.meta"))
    );
    assert!(listing.backups[1].legacy_counts);
    assert_eq!(listing.backups[1].node_count, None);
    assert!(listing.backups[0].meta_path.is_none());
    assert!(
        listing.backups[0]
            .notes
            .iter()
            .any(|n| n.contains("no meta"))
    );
    // Non-backup entries are ignored and reported as left alone.
    for other in [".gitkeep", "20251001_161329", "backup_20251001_161329"] {
        assert!(
            listing.ignored.iter().any(|i| i == other),
            "{other} in {:?}",
            listing.ignored
        );
    }
    assert!(listing.backups.iter().all(|b| b.size.is_some()));
}

#[test]
fn orders_by_the_name_never_by_mtime_and_shows_a_meta_without_data() {
    let s = common::empty_store();
    fs::create_dir_all(s.backups()).expect("dir");
    let text = common::app_graph(2, 2, false, "");
    s.add_backup("20250101_000000", &text, MetaName::Meta);
    s.add_backup("20240101_000000", &text, MetaName::Meta);
    // Make the older backup's mtime the newest.
    let f = fs::File::options()
        .append(true)
        .open(s.backups().join("graph_20240101_000000.meta"))
        .expect("open");
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(3600))
        .expect("mtime");
    fs::write(
        s.backups().join("graph_20230101_000000.meta"),
        common::app_meta(b"x", None),
    )
    .expect("orphan meta");
    let listing = s.open().list_backups().expect("list");
    let ids: Vec<String> = listing.backups.iter().map(|b| b.id.to_string()).collect();
    assert_eq!(
        ids,
        [
            "graph_20250101_000000",
            "graph_20240101_000000",
            "graph_20230101_000000"
        ]
    );
    assert!(listing.backups[2].size.is_none());
    assert!(
        listing.backups[2]
            .notes
            .iter()
            .any(|n| n.contains("data file is missing"))
    );
}

#[test]
fn a_store_without_backups_dir_lists_nothing() {
    let s = common::empty_store();
    let listing = s.open().list_backups().expect("list");
    assert!(listing.backups.is_empty());
}

/// Entries named like a backup's data file that are not regular files are
/// listed as what they are, never as "data file is missing", and never
/// opened or followed.
#[test]
fn data_files_that_are_fifos_dirs_symlinks_or_sockets_are_named_as_such() {
    let s = common::app_store();
    let meta = common::app_meta(b"{}", None);
    let plant = |id: &str, make: &dyn Fn(&std::path::Path)| {
        make(&s.backups().join(format!("{id}.json")));
        fs::write(s.backups().join(format!("{id}.meta")), &meta).expect("meta");
    };
    plant("graph_20250101_000001", &|p| {
        assert!(
            std::process::Command::new("mkfifo")
                .arg(p)
                .status()
                .expect("mkfifo")
                .success()
        );
    });
    plant("graph_20250101_000002", &|p| {
        fs::create_dir(p).expect("dir")
    });
    plant("graph_20250101_000003", &|p| {
        std::os::unix::fs::symlink(s.root().join("graph.json"), p).expect("symlink");
    });
    let _listener =
        std::os::unix::net::UnixListener::bind(s.backups().join("graph_20250101_000004.json"))
            .expect("socket");
    fs::write(s.backups().join("graph_20250101_000004.meta"), &meta).expect("meta");
    let listing = s.open().list_backups().expect("list");
    for (id, what) in [
        ("graph_20250101_000001", "a FIFO, socket or device node"),
        ("graph_20250101_000002", "a directory"),
        ("graph_20250101_000003", "a symlink"),
        ("graph_20250101_000004", "a FIFO, socket or device node"),
    ] {
        let b = listing
            .backups
            .iter()
            .find(|b| b.id.to_string() == id)
            .unwrap_or_else(|| panic!("{id} is not listed"));
        assert!(
            b.notes
                .iter()
                .any(|n| n.contains(&format!("is {what}, not a regular file"))),
            "{id}: {:?}",
            b.notes
        );
        assert!(
            !b.notes.iter().any(|n| n.contains("missing")),
            "{id}: {:?}",
            b.notes
        );
    }
}
