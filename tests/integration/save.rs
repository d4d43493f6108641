use std::fs;

use graphvault::graph::KnowledgeGraph;
use graphvault::store::meta::Meta;
use graphvault::store::save::SaveOptions;
use graphvault::store::verify::{Depth, Status, Target};

use crate::common::{self, sha256};

fn sample_graph() -> KnowledgeGraph {
    let mut g = KnowledgeGraph::new(2);
    g.add_node(
        "stock",
        serde_json::json!({"symbol": "AAPL", "price": 175.5}),
        Some("AAPL"),
    );
    g.add_node(
        "stock",
        serde_json::json!({"symbol": "GOOGL", "price": 140.1}),
        Some("GOOGL"),
    );
    g.connect("AAPL", "GOOGL", "sector_peer", 0.8)
        .expect("connect");
    g
}

#[test]
fn save_writes_primary_meta_and_backup_pair_that_verify() {
    let s = common::empty_store();
    let store = s.open();
    let report = store.save_graph_with_backup(&sample_graph()).expect("save");
    let bytes = fs::read(s.primary()).expect("primary");
    assert_eq!(
        report.checksum,
        sha256(&bytes),
        "checksum is of the bytes on disk"
    );
    assert_eq!(report.size, bytes.len() as u64);
    let meta = Meta::from_slice(&fs::read(s.primary_meta()).expect("meta")).expect("meta json");
    assert_eq!(meta.checksum.as_deref(), Some(report.checksum.as_str()));
    assert_eq!(
        (meta.node_count, meta.edge_count),
        (Some(2), Some(1)),
        "true counts"
    );
    assert_eq!(meta.graph_version.as_deref(), Some("1.0"));
    assert!(meta.timestamp.is_some() && meta.saved_by.is_some());
    // The backup is a byte copy with the application's meta name.
    assert_eq!(fs::read(&report.backup_path).expect("backup"), bytes);
    assert!(report.backup_meta_path.to_string_lossy().ends_with(".meta"));
    assert!(
        !report
            .backup_meta_path
            .to_string_lossy()
            .ends_with(".json.meta")
    );
    assert_eq!(
        store
            .verify(&Target::Primary, Depth::Full)
            .expect("verify")
            .status,
        Status::Valid
    );
    let b = store
        .verify(&Target::Backup(report.backup_id.clone()), Depth::Full)
        .expect("verify backup");
    assert_eq!(b.status, Status::Valid);
    // Python's layout: no trailing newline, 2-space indent.
    assert!(!bytes.ends_with(b"\n"));
    assert!(bytes.starts_with(b"{\n  \""));
    // No temp files left behind.
    for dir in [s.root(), s.backups()] {
        for e in fs::read_dir(dir).expect("ls").flatten() {
            assert!(
                !e.file_name().to_string_lossy().starts_with(".gv-tmp"),
                "{:?}",
                e.path()
            );
        }
    }
}

#[test]
fn same_second_saves_get_distinct_backups_and_never_overwrite() {
    let s = common::empty_store();
    let store = s.open();
    let at = chrono::Local::now();
    let mut ids = Vec::new();
    let mut g = sample_graph();
    for i in 0..4 {
        g.add_node("stock", serde_json::json!({"i": i}), Some(&format!("X{i}")));
        let r = store
            .save_with(
                &g,
                &SaveOptions {
                    rotate: false,
                    at: Some(at),
                },
            )
            .expect("save");
        ids.push(r.backup_id.to_string());
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 4, "{ids:?}");
    assert!(ids[1].ends_with("_2") && ids[3].ends_with("_4"), "{ids:?}");
    let listing = store.list_backups().expect("list");
    assert_eq!(listing.backups.len(), 4);
    // Newest first, by counter within the second.
    assert_eq!(listing.backups[0].id.to_string(), ids[3]);
    assert_eq!(listing.backups[0].node_count, Some(6));
    assert_eq!(listing.backups[3].node_count, Some(3));
}

#[test]
fn round_trip_of_an_application_graph_keeps_unknown_keys_and_nan() {
    let text = common::app_graph(6, 2, true, "");
    let g = KnowledgeGraph::from_slice(text.as_bytes()).expect("parse app graph");
    assert_eq!(
        g.to_vec(),
        text.as_bytes(),
        "load then write is byte for byte"
    );
    let v1 = common::app_graph(3, 1, false, "");
    let g1 = KnowledgeGraph::from_slice(v1.as_bytes()).expect("parse v1");
    assert_eq!(g1.version(), 1);
    assert_eq!(g1.to_vec(), v1.as_bytes());
    // Saving refreshes last_saved and stats but keeps every other key.
    let s = common::empty_store();
    s.open().save_graph_with_backup(&g).expect("save");
    let saved = fs::read_to_string(s.primary()).expect("read");
    for needle in [
        "\"x_custom\": \"kept\"",
        "\"x_top_level\"",
        "\"price\": NaN",
        "Soci\\u00e9t\\u00e9",
    ] {
        assert!(saved.contains(needle), "{needle} lost");
    }
    assert!(
        !saved.contains("2025-10-03T00:05:41.999491"),
        "last_saved refreshed"
    );
}

#[test]
fn snapshot_copies_the_primary_bytes_and_refuses_a_corrupt_one() {
    let s = common::app_store();
    let store = s.open();
    let before = fs::read(s.primary()).expect("primary");
    let r = store.snapshot().expect("snapshot");
    assert_eq!(fs::read(&r.backup_path).expect("backup"), before);
    assert_eq!(r.node_count, Some(5));
    let meta = Meta::from_slice(
        &fs::read(s.backups().join(format!("{}.meta", r.backup_id))).expect("meta"),
    )
    .expect("json");
    assert_eq!(meta.checksum.as_deref(), Some(sha256(&before).as_str()));

    fs::write(s.primary(), b"{ broken").expect("break");
    let err = store.snapshot().expect_err("corrupt primary refused");
    assert!(err.to_string().contains("snapshot refused"), "{err}");
}

/// The store of `s`, set to keep the last two backups, two of them valid.
fn keeping_the_last_two(s: &common::AppStore) -> graphvault::store::Store {
    let mut store = s.open();
    let mut config = store.config().clone();
    config.retention = graphvault::store::retention::RetentionPolicy {
        keep_last: Some(2),
        keep_within: None,
        min_valid: 2,
        ..Default::default()
    };
    store.set_config(config).expect("config");
    s.open()
}

#[test]
fn retention_after_save_follows_the_store_policy() {
    let s = common::empty_store();
    let store = keeping_the_last_two(&s);
    let base = chrono::Local::now() - chrono::Duration::days(10);
    let g = sample_graph();
    let mut last = None;
    for i in 0..5 {
        let r = store
            .save_with(
                &g,
                &SaveOptions {
                    rotate: true,
                    at: Some(base + chrono::Duration::hours(i)),
                },
            )
            .expect("save");
        last = Some(r);
    }
    let last = last.expect("saved");
    let rotation = last.rotation.expect("rotation ran");
    assert_eq!(rotation.plan.kept, 2);
    assert_eq!(store.list_backups().expect("list").backups.len(), 2);
}

#[test]
fn a_save_that_fails_part_way_says_what_it_left() {
    let s = common::app_store();
    let before = fs::read(s.primary()).expect("primary");
    // The disk fills as the new graph is renamed into place.
    let disk = common::FakeDisk::failing_rename_to(s.primary());
    let store =
        graphvault::store::Store::open_with(s.root(), std::sync::Arc::new(disk)).expect("open");
    let err = store
        .save_graph_with_backup(&sample_graph())
        .expect_err("fails");
    let msg = err.to_string();
    assert!(
        msg.contains("rename into place") && msg.contains("graph.json"),
        "{msg}"
    );
    assert!(
        msg.contains("did not land: graph.json and its meta are unchanged"),
        "{msg}"
    );
    assert!(msg.contains("of the new graph was written"), "{msg}");
    assert_eq!(fs::read(s.primary()).expect("primary"), before);
    assert!(!s.root().join("graph.json.meta.pending").exists());
    let strays: Vec<_> = fs::read_dir(s.root())
        .expect("store")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".gv-tmp-"))
        .collect();
    assert!(strays.is_empty(), "temporary files left: {strays:?}");
}

#[test]
fn a_backup_that_cannot_be_written_leaves_no_staged_primary() {
    let s = common::app_store();
    let before = fs::read(s.primary()).expect("primary");
    let listed = |dir: &std::path::Path| -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .expect("dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let backups_before = listed(&s.backups());
    let disk = common::FakeDisk {
        failing_links_into: Some(s.backups()),
        ..common::FakeDisk::default()
    };
    let store =
        graphvault::store::Store::open_with(s.root(), std::sync::Arc::new(disk)).expect("open");
    let err = store
        .save_graph_with_backup(&sample_graph())
        .expect_err("the backup cannot be published");
    let msg = err.to_string();
    assert!(
        msg.contains("nothing was saved: graph.json and its meta are unchanged"),
        "{msg}"
    );
    // The new primary was written beside the backup; it never replaced
    // graph.json and its temporary file is gone.
    assert_eq!(fs::read(s.primary()).expect("primary"), before);
    assert!(
        !listed(&s.root()).iter().any(|n| n.starts_with(".gv-tmp-")),
        "{:?}",
        listed(&s.root())
    );
    assert_eq!(listed(&s.backups()), backups_before);
    // No backup holds the primary's bytes, but the save did not go ahead:
    // no copy of it was made either (one more at each retry, before).
    let evidence = s.root().join(".graphvault").join("evidence");
    assert!(
        !evidence.exists() || listed(&evidence).is_empty(),
        "{:?}",
        listed(&evidence)
    );
}

#[test]
fn a_primary_whose_bytes_no_backup_holds_is_kept_first() {
    // The primary's meta names the newest backup's checksum and the sizes
    // agree, but one byte differs: in graph.json (changed in place, its meta
    // left as it was), or in the backup (damaged). Or the same byte changed
    // in both (a hard link between them, then an in-place write): the bytes
    // are the same, but that backup fails its checksum and retention may
    // remove it. Each way the primary's bytes are in no backup that holds
    // them, and are kept before the save replaces them.
    for damaged in ["graph.json", "the backup", "both"] {
        let s = common::empty_store();
        let store = s.open();
        let first = store.save_graph_with_backup(&sample_graph()).expect("save");
        let paths = match damaged {
            "graph.json" => vec![s.primary()],
            "the backup" => vec![first.backup_path.clone()],
            _ => vec![s.primary(), first.backup_path.clone()],
        };
        for path in paths {
            let mut bytes = fs::read(&path).expect("read");
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x01;
            fs::write(&path, &bytes).expect("change in place");
        }
        let primary = fs::read(s.primary()).expect("primary");
        store
            .save_graph_with_backup(
                &KnowledgeGraph::from_slice(common::app_graph(3, 2, false, "next").as_bytes())
                    .expect("graph"),
            )
            .expect("save");
        let evidence = s.root().join(".graphvault/evidence");
        let kept: Vec<_> = fs::read_dir(&evidence)
            .unwrap_or_else(|e| panic!("{damaged} damaged: nothing kept ({e})"))
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(
            kept.iter().any(|p| fs::read(p).expect("read") == primary),
            "{damaged} damaged: {kept:?}"
        );
    }
}

#[test]
fn a_save_with_retention_reads_each_backup_at_most_once() {
    let s = common::empty_store();
    let store = keeping_the_last_two(&s);
    let base = chrono::Local::now() - chrono::Duration::days(3);
    let graph = |salt: &str| {
        KnowledgeGraph::from_slice(common::app_graph(4, 2, false, salt).as_bytes()).expect("graph")
    };
    for (i, salt) in ["a", "b", "c"].iter().enumerate() {
        store
            .save_with(
                &graph(salt),
                &SaveOptions {
                    rotate: false,
                    at: Some(base + chrono::Duration::hours(i as i64)),
                },
            )
            .expect("save");
    }
    let disk = std::sync::Arc::new(common::FakeDisk::default());
    let watched = graphvault::store::Store::open_with(s.root(), disk.clone()).expect("open");
    let before = watched.list_backups().expect("list").backups;
    let report = watched
        .save_with(
            &graph("d"),
            &SaveOptions {
                rotate: true,
                at: Some(base + chrono::Duration::hours(5)),
            },
        )
        .expect("save");
    let rotation = report.rotation.expect("rotation ran");
    assert_eq!(rotation.plan.removed, 2, "{:?}", rotation.plan);
    // The old primary's backup (the newest before this save) is hashed to
    // keep the primary, and is then one the floor relies on; the removed
    // ones are hashed for the trash's manifest. Each is read once.
    let reads = disk.reads.lock().expect("reads").clone();
    for b in &before {
        let n = reads.iter().filter(|p| **p == b.data_path).count();
        assert!(n <= 1, "{} read {n} times: {reads:?}", b.id);
    }
    assert_eq!(
        reads.iter().filter(|p| **p == before[0].data_path).count(),
        1,
        "the newest backup was confirmed in this run"
    );
}

#[test]
fn saving_over_a_primary_without_meta_keeps_it_first() {
    let s = common::app_store();
    fs::remove_file(s.primary_meta()).expect("rm meta");
    let hand_edited = common::app_graph(2, 2, false, "hand_edit");
    fs::write(s.primary(), &hand_edited).expect("hand edit");
    s.open()
        .save_graph_with_backup(&sample_graph())
        .expect("save");
    let evidence = s.root().join(".graphvault/evidence");
    let kept: Vec<_> = fs::read_dir(&evidence)
        .expect("evidence")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(
        kept.iter()
            .any(|p| fs::read(p).expect("read") == hand_edited.as_bytes()),
        "{kept:?}"
    );
    // A primary with its meta is in a backup already: nothing extra kept.
    let before = fs::read_dir(&evidence).expect("evidence").count();
    s.open()
        .save_graph_with_backup(&sample_graph())
        .expect("save");
    assert_eq!(fs::read_dir(&evidence).expect("evidence").count(), before);
}

#[test]
fn a_clock_that_reads_earlier_than_the_newest_backup_still_names_the_new_one_last() {
    let s = common::empty_store();
    let store = s.open();
    let g = sample_graph();
    let late = chrono::Local::now();
    // DST fall-back: the same local hour comes again, 40 minutes "earlier".
    let first = save_at(&store, &g, late);
    let again = late - chrono::Duration::minutes(40);
    let second = save_at(&store, &g, again);
    assert!(
        second.backup_id > first.backup_id,
        "{} then {}",
        first.backup_id,
        second.backup_id
    );
    assert_eq!(
        store.list_backups().expect("list").backups[0].id,
        second.backup_id
    );
    // A name far in the future (a clock that ran wild) does not drag later
    // names along: the next save takes its own time.
    let wild = late + chrono::Duration::days(400);
    save_at(&store, &g, wild);
    let third = save_at(&store, &g, late);
    assert_eq!(third.backup_id.time(), name_second(late));
    // Its name sorts before the wild one, but graphvault's backups are
    // ordered by their creation sequence: it is the newest, and nothing is
    // said. Nor after the DST catch-up above.
    assert!(
        first.named_behind.is_none()
            && second.named_behind.is_none()
            && third.named_behind.is_none(),
        "{:?}",
        third.named_behind
    );
    assert_eq!(
        store.list_backups().expect("list").backups[0].id,
        third.backup_id
    );
    // An application backup (no creation number) named in 2099 does sort
    // before every backup made now, and the report says so.
    s.add_backup(
        "20991231_120000",
        &common::app_graph(3, 2, false, "wild"),
        common::MetaName::Meta,
    );
    let fourth = save_at(&store, &g, late);
    let said = fourth.named_behind.as_deref().expect("named behind");
    assert!(
        said.contains(&fourth.backup_id.to_string())
            && said.contains("1 backup already there")
            && said.contains("graph_20991231_120000"),
        "{said}"
    );
    // A snapshot is named by the same clock, and the command line says it.
    let out = common::gv(&s.root(), &["snapshot"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("warning: backup graph_")
            && text.contains("it is taken as newer than this one"),
        "{text}"
    );
}

/// A save of `g` without retention, by a clock that reads `at`.
fn save_at(
    store: &graphvault::store::Store,
    g: &KnowledgeGraph,
    at: chrono::DateTime<chrono::Local>,
) -> graphvault::store::save::SaveReport {
    store
        .save_with(
            g,
            &SaveOptions {
                rotate: false,
                at: Some(at),
            },
        )
        .expect("save")
}

/// The second a backup taken at `t` is named after.
fn name_second(t: chrono::DateTime<chrono::Local>) -> chrono::NaiveDateTime {
    graphvault::store::names::BackupId::new(t.naive_local(), 0).time()
}
