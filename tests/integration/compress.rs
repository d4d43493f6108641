//! Compressed (zstd) backups: written by save when the store's settings
//! ask for them, read through the one decoder by every reader, converted
//! by `compact`, and the `config` command that sets them.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::TimeZone;
use graphvault::graph::KnowledgeGraph;
use graphvault::store::codec::StoredForm;
use graphvault::store::compact::CompactOptions;
use graphvault::store::history::HistoryOptions;
use graphvault::store::meta::Meta;
use graphvault::store::nodes::ShowOptions;
use graphvault::store::recover::RecoverOptions;
use graphvault::store::restore::RestoreOptions;
use graphvault::store::retention::RetentionPolicy;
use graphvault::store::rotate::RotateOptions;
use graphvault::store::save::SaveOptions;
use graphvault::store::verify::{Depth, Level, Status, Target};
use graphvault::store::{Store, StoreError};

use crate::common::{self, sha256, snapshot_tree};

fn graph_text(nodes: usize, salt: &str) -> String {
    common::app_graph(nodes, 2, false, salt)
}

fn graph(nodes: usize, salt: &str) -> KnowledgeGraph {
    KnowledgeGraph::from_slice(graph_text(nodes, salt).as_bytes()).expect("fixture graph")
}

fn at(day: u32) -> chrono::DateTime<chrono::Local> {
    chrono::Local
        .with_ymd_and_hms(2025, 10, day, 12, 0, 0)
        .earliest()
        .expect("local time")
}

fn save_on(store: &Store, day: u32, nodes: usize) -> graphvault::store::save::SaveReport {
    store
        .save_with(
            &graph(nodes, &format!("day{day}")),
            &SaveOptions {
                rotate: false,
                at: Some(at(day)),
            },
        )
        .expect("save")
}

/// A store whose settings compress every backup.
fn compressing(s: &common::AppStore) -> Store {
    let mut store = s.open();
    store.set_setting("compression", "zstd").expect("set");
    store
}

/// Names in `backups/` the application's glob `graph_*.json` takes.
fn app_glob(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("list")
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with("graph_") && n.ends_with(".json"))
        .collect();
    names.sort();
    names
}

fn meta_of(s: &common::AppStore, id: &str) -> Meta {
    Meta::from_slice(&fs::read(s.backups().join(format!("{id}.meta"))).expect("meta"))
        .expect("meta json")
}

fn decompress(path: &Path) -> Vec<u8> {
    graphvault::store::codec::read_plain(&graphvault::store::fs::RealFs, path, u64::MAX)
        .expect("decompress")
}

#[test]
fn a_compressed_backup_keeps_the_graphs_identity_and_describes_its_stored_bytes() {
    let s = common::empty_store();
    let store = compressing(&s);
    let report = save_on(&store, 1, 40);
    let id = report.backup_id.to_string();
    assert_eq!(
        report.backup_path,
        s.backups().join(format!("{id}.json.zst"))
    );
    // The primary stays plain JSON; the backup is not seen by the
    // application's glob.
    let primary = fs::read(s.primary()).expect("primary");
    assert!(primary.starts_with(b"{"));
    assert!(
        app_glob(&s.backups()).is_empty(),
        "{:?}",
        app_glob(&s.backups())
    );
    let stored = fs::read(&report.backup_path).expect("stored");
    assert!(stored.len() < primary.len() / 2, "compressed");
    assert_eq!(decompress(&report.backup_path), primary);
    let meta = meta_of(&s, &id);
    assert_eq!(meta.checksum.as_deref(), Some(sha256(&primary).as_str()));
    assert_eq!(meta.size, Some(primary.len() as u64));
    assert_eq!(meta.stored_format.as_deref(), Some("zstd"));
    assert_eq!(meta.stored_size, Some(stored.len() as u64));
    assert_eq!(
        meta.stored_checksum.as_deref(),
        Some(sha256(&stored).as_str())
    );
    // The primary's meta names the same content and knows nothing of zstd.
    let pmeta = Meta::from_slice(&fs::read(s.primary_meta()).expect("meta")).expect("json");
    assert_eq!(pmeta.checksum, meta.checksum);
    assert!(pmeta.stored_format.is_none() && pmeta.stored_checksum.is_none());
    // The listing knows both sizes.
    let listing = store.list_backups().expect("list");
    let b = &listing.backups[0];
    assert_eq!(b.form, StoredForm::Zstd);
    assert_eq!(b.size, Some(stored.len() as u64));
    assert_eq!(b.plain_size, Some(primary.len() as u64));
    assert_eq!(listing.total_plain_size, primary.len() as u64);
}

#[test]
fn every_reader_reads_a_compressed_backup_through_the_decoder() {
    let s = common::empty_store();
    let store = compressing(&s);
    let first = save_on(&store, 1, 10);
    let second = save_on(&store, 2, 12);
    let third = save_on(&store, 3, 14);
    for r in [&first, &second, &third] {
        for depth in [Depth::Checksum, Depth::Full] {
            let v = store
                .verify(&Target::Backup(r.backup_id.clone()), depth)
                .expect("verify");
            assert_eq!(v.status, Status::Valid, "{depth:?}: {:?}", v.reason);
            assert_eq!(v.size, Some(r.size), "the plain size");
        }
    }
    // Show and diff read the graphs.
    let shown = store
        .show(
            &Target::Backup(first.backup_id.clone()),
            &ShowOptions::default(),
        )
        .expect("show");
    assert_eq!(shown.node_count, 10);
    let diff = store
        .diff(
            &Target::Backup(first.backup_id.clone()),
            &Target::Backup(third.backup_id.clone()),
        )
        .expect("diff");
    assert_eq!(diff.old_size, first.size);
    assert_eq!(diff.new_size, third.size);
    // History reads node ranges through the decoder (the node index).
    let key = graph(10, "day1")
        .nodes()
        .next()
        .map(|n| n.id().to_owned())
        .expect("a node");
    let history = store
        .history(&key, HistoryOptions::default())
        .expect("history");
    assert_eq!(history.entries.len(), 4, "primary and three backups");
    for e in &history.entries {
        assert!(e.reason.is_none(), "{:?}: {:?}", e.target, e.reason);
    }
    // Restore brings back the plain JSON as the primary.
    let restored = store
        .restore(&first.backup_id, RestoreOptions::default())
        .expect("restore");
    assert!(!restored.dry_run);
    let primary = fs::read(s.primary()).expect("primary");
    assert_eq!(sha256(&primary), first.checksum);
    assert_eq!(
        store
            .verify(&Target::Primary, Depth::Full)
            .expect("verify")
            .status,
        Status::Valid
    );
    // Recovery from a destroyed primary reads the newest compressed backup.
    fs::write(s.primary(), b"{ not json").expect("damage");
    let (graph, report) = store
        .load_with_recovery(RecoverOptions { dry_run: false })
        .expect("recover");
    assert!(report.recovered(), "{report:?}");
    let graph = graph.expect("a graph");
    let newest = store.list_backups().expect("list").backups[0].clone();
    assert_eq!(
        sha256(&fs::read(s.primary()).expect("primary")),
        newest.checksum.clone().expect("checksum")
    );
    assert!(graph.node_count() > 0);
}

#[test]
fn rotation_and_the_trash_move_a_compressed_backup_whole_and_bring_it_back() {
    let s = common::empty_store();
    let store = compressing(&s);
    let first = save_on(&store, 1, 5);
    save_on(&store, 2, 6);
    save_on(&store, 3, 7);
    let policy = RetentionPolicy {
        keep_last: Some(2),
        keep_within: None,
        min_valid: 1,
        ..RetentionPolicy::default()
    };
    let rotated = store
        .rotate(&policy, RotateOptions { dry_run: false })
        .expect("rotate");
    assert_eq!(rotated.trashed.len(), 1, "{rotated:?}");
    let trash = s.root().join(".graphvault/trash");
    let id = first.backup_id.to_string();
    assert!(trash.join(format!("{id}.json.zst")).exists());
    assert!(trash.join(format!("{id}.meta")).exists());
    assert!(!first.backup_path.exists());
    let back = store
        .trash_restore(std::slice::from_ref(&id))
        .expect("restore");
    assert_eq!(back.restored[0].status, Status::Valid);
    assert!(first.backup_path.exists());
    assert_eq!(
        store
            .verify(&Target::Backup(first.backup_id.clone()), Depth::Full)
            .expect("verify")
            .status,
        Status::Valid
    );
}

/// Flips one byte in the middle of a file.
fn flip_middle(path: &Path) {
    let mut bytes = fs::read(path).expect("read");
    let i = bytes.len() / 2;
    bytes[i] ^= 0x20;
    fs::write(path, bytes).expect("write");
}

#[test]
fn a_damaged_compressed_file_is_caught_by_its_stored_checksum_before_decompressing() {
    let s = common::empty_store();
    let store = compressing(&s);
    let r = save_on(&store, 1, 30);
    flip_middle(&r.backup_path);
    for depth in [Depth::Checksum, Depth::Full] {
        let v = store
            .verify(&Target::Backup(r.backup_id.clone()), depth)
            .expect("verify");
        assert_eq!(v.status, Status::Corrupt);
        assert_eq!(v.failed_level, Some(Level::Checksum));
        let reason = v.reason.unwrap_or_default();
        assert!(reason.contains("stored checksum"), "{reason}");
        assert!(!v.unreadable);
    }
}

#[test]
fn a_damaged_frame_without_a_stored_checksum_is_still_corrupt_at_the_checksum_level() {
    let s = common::empty_store();
    let store = compressing(&s);
    let r = save_on(&store, 1, 30);
    // A meta that records nothing of the stored bytes (as written by a
    // tool that only knew the plain checksum).
    let meta_path = s.backups().join(format!("{}.meta", r.backup_id));
    let mut meta = meta_of(&s, &r.backup_id.to_string());
    meta.stored_checksum = None;
    meta.stored_size = None;
    fs::write(&meta_path, meta.to_vec()).expect("meta");
    flip_middle(&r.backup_path);
    let v = store
        .verify(&Target::Backup(r.backup_id.clone()), Depth::Full)
        .expect("verify");
    assert_eq!(v.status, Status::Corrupt, "{v:?}");
    assert_eq!(v.failed_level, Some(Level::Checksum), "{v:?}");
    assert!(v.reason.unwrap_or_default().contains("damaged zstd frame"));
}

#[test]
fn recovery_skips_a_damaged_compressed_backup_for_the_next_good_one() {
    let s = common::empty_store();
    let store = compressing(&s);
    let good = save_on(&store, 1, 8);
    let bad = save_on(&store, 2, 9);
    // The newest backup holds the primary's content: damage both.
    flip_middle(&bad.backup_path);
    fs::write(s.primary(), b"garbage").expect("damage");
    let (_, report) = store
        .load_with_recovery(RecoverOptions { dry_run: false })
        .expect("recover");
    assert_eq!(
        report.recommended.as_ref(),
        Some(&good.backup_id),
        "{report:?}"
    );
    assert_eq!(
        sha256(&fs::read(s.primary()).expect("primary")),
        good.checksum
    );
}

#[test]
fn under_a_key_the_hmac_covers_the_stored_checksum() {
    let s = common::empty_store();
    let key = || graphvault::store::auth::Key::from_bytes(b"0123456789abcdef0123").expect("key");
    let store = compressing(&s).with_key(key());
    let r = save_on(&store, 1, 20);
    let v = store
        .verify(&Target::Backup(r.backup_id.clone()), Depth::Full)
        .expect("verify");
    assert_eq!((v.status, v.authenticated), (Status::Valid, Some(true)));
    // Someone without the key damages the file and fixes up the stored
    // checksum and size to match: the HMAC no longer does.
    flip_middle(&r.backup_path);
    let stored = fs::read(&r.backup_path).expect("stored");
    let meta_path = s.backups().join(format!("{}.meta", r.backup_id));
    let mut meta = meta_of(&s, &r.backup_id.to_string());
    meta.stored_checksum = Some(sha256(&stored));
    fs::write(&meta_path, meta.to_vec()).expect("meta");
    let v = store
        .verify(&Target::Backup(r.backup_id.clone()), Depth::Full)
        .expect("verify");
    assert_eq!(v.status, Status::Corrupt, "{v:?}");
}

#[test]
fn default_settings_write_plain_backups_as_before() {
    let s = common::empty_store();
    let store = s.open();
    let r = save_on(&store, 1, 5);
    assert_eq!(
        r.backup_path,
        s.backups().join(format!("{}.json", r.backup_id))
    );
    let meta = meta_of(&s, &r.backup_id.to_string());
    assert!(meta.stored_format.is_none() && meta.stored_checksum.is_none());
    assert!(!s.root().join(".graphvault/config.json").exists());
}

#[test]
fn keep_plain_leaves_the_newest_plain_and_compresses_what_falls_behind() {
    let s = common::empty_store();
    let mut store = compressing(&s);
    store.set_setting("keep-plain", "1").expect("set");
    let first = save_on(&store, 1, 5);
    assert_eq!(
        first.backup_path.extension().and_then(|e| e.to_str()),
        Some("json")
    );
    let second = save_on(&store, 2, 6);
    assert!(
        second.compact_problems.is_empty(),
        "{:?}",
        second.compact_problems
    );
    let listing = store.list_backups().expect("list");
    let forms: Vec<_> = listing
        .backups
        .iter()
        .map(|b| (b.id.clone(), b.form))
        .collect();
    assert_eq!(
        forms,
        vec![
            (second.backup_id.clone(), StoredForm::Plain),
            (first.backup_id.clone(), StoredForm::Zstd)
        ]
    );
    // The plain file went to the trash, never deleted.
    assert!(
        s.root()
            .join(format!(".graphvault/trash/{}.json", first.backup_id))
            .exists()
    );
    assert_eq!(
        app_glob(&s.backups()),
        vec![format!("{}.json", second.backup_id)]
    );
    for b in &listing.backups {
        let v = store
            .verify(&Target::Backup(b.id.clone()), Depth::Full)
            .expect("verify");
        assert_eq!(v.status, Status::Valid, "{:?}", v.reason);
    }
}

#[test]
fn compact_dry_run_changes_nothing_and_apply_converts_each_verified_backup() {
    let s = common::app_store();
    let mut store = s.open();
    store.set_setting("compression", "zstd").expect("set");
    let before = snapshot_tree(&s.root());
    let plan = store
        .compact(CompactOptions { dry_run: true })
        .expect("dry run");
    assert_eq!(snapshot_tree(&s.root()), before, "a dry run writes nothing");
    assert_eq!(plan.converted.len(), 3, "{plan:?}");
    assert_eq!(plan.skipped.len(), 1, "the backup without a meta: {plan:?}");
    assert!(plan.skipped[0].reason.contains("no meta"));
    let checksums: Vec<_> = store
        .list_backups()
        .expect("list")
        .backups
        .iter()
        .map(|b| (b.id.clone(), b.checksum.clone()))
        .collect();

    let done = store
        .compact(CompactOptions { dry_run: false })
        .expect("compact");
    assert_eq!(done.converted.len(), 3, "{done:?}");
    assert!(done.bytes_after < done.bytes_before);
    // Only the backup without a meta is still seen by the application.
    assert_eq!(app_glob(&s.backups()), vec!["graph_20251003_100500.json"]);
    let listing = store.list_backups().expect("list");
    for (id, checksum) in &checksums {
        let b = listing.backups.iter().find(|b| &b.id == id).expect("kept");
        assert_eq!(&b.checksum, checksum, "the graph's identity is unchanged");
        let v = store
            .verify(&Target::Backup(id.clone()), Depth::Full)
            .expect("verify");
        assert!(v.status.is_usable(), "{id}: {:?}", v.reason);
    }
    // The application's meta name is kept for the backup that had it.
    assert!(s.backups().join("graph_20251002_100000.json.meta").exists());
    // Every plain file is in the trash.
    let trash = store.list_trash().expect("trash");
    assert_eq!(trash.items.len(), 3);
    // Again: nothing left to convert.
    let again = store
        .compact(CompactOptions { dry_run: false })
        .expect("compact");
    assert!(again.converted.is_empty(), "{again:?}");

    // Back to plain: the same path the other way.
    store.set_setting("compression", "none").expect("set");
    let back = store
        .compact(CompactOptions { dry_run: false })
        .expect("compact");
    assert_eq!(back.converted.len(), 3, "{back:?}");
    assert_eq!(app_glob(&s.backups()).len(), 4);
    for (id, _) in &checksums {
        let data = s.backups().join(format!("{id}.json"));
        let text = fs::read_to_string(&data).expect("plain again");
        assert!(text.starts_with('{'));
    }
}

#[test]
fn compact_leaves_a_corrupt_backup_as_it_is() {
    let s = common::app_store();
    let mut store = s.open();
    store.set_setting("compression", "zstd").expect("set");
    let path = s.backups().join("graph_20251001_100000.json");
    flip_middle(&path);
    let damaged = fs::read(&path).expect("read");
    let report = store
        .compact(CompactOptions { dry_run: false })
        .expect("compact");
    assert!(
        report
            .skipped
            .iter()
            .any(|k| k.id.to_string() == "graph_20251001_100000" && k.reason.contains("corrupt")),
        "{report:?}"
    );
    assert_eq!(fs::read(&path).expect("still there"), damaged);
    assert!(!s.backups().join("graph_20251001_100000.json.zst").exists());
}

fn gv(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_graphvault"))
        .arg("--store")
        .arg(store)
        .args(["--wait", "5"])
        .args(args)
        .output()
        .expect("run graphvault")
}

fn config_file(s: &common::AppStore) -> PathBuf {
    s.root().join(".graphvault/config.json")
}

#[test]
fn config_shows_every_setting_and_set_validates_before_writing() {
    let s = common::app_store();
    let out = gv(&s.root(), &["config"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for key in [
        "compression",
        "compression-level",
        "keep-plain",
        "keep-last",
        "keep-within",
        "min-valid",
        "trash-grace",
    ] {
        assert!(text.contains(key), "{key} in {text}");
    }

    let out = gv(&s.root(), &["config", "set", "compression-level", "9"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 -> 9"));
    let written = fs::read(config_file(&s)).expect("config");

    for (key, value) in [
        ("compression", "lz4"),
        ("compression-level", "0"),
        ("compression-level", "99"),
        ("keep-plain", "-2"),
        ("trash-grace", "0d"),
        ("keep-within", "a while"),
        ("colour", "blue"),
    ] {
        let out = gv(&s.root(), &["config", "set", key, value]);
        assert_eq!(out.status.code(), Some(5), "{key}={value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("config set"), "{err}");
        assert!(err.contains("unchanged"), "{err}");
        assert_eq!(fs::read(config_file(&s)).expect("config"), written, "{key}");
    }

    let out = gv(&s.root(), &["--json", "config"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let settings = doc["result"]["settings"].as_array().expect("settings");
    let level = settings
        .iter()
        .find(|s| s["key"] == "compression-level")
        .expect("level");
    assert_eq!(level["value"], "9");
    assert_eq!(level["default"], "3");
}

#[test]
fn compact_on_the_command_line_is_a_dry_run_unless_applied() {
    let s = common::app_store();
    assert!(
        gv(&s.root(), &["config", "set", "compression", "zstd"])
            .status
            .success()
    );
    let before = snapshot_tree(&s.root());
    let out = gv(&s.root(), &["compact"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("dry run"), "{text}");
    assert_eq!(snapshot_tree(&s.root()), before);
    let out = gv(&s.root(), &["compact", "--apply"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("-> zstd"), "{text}");
    let out = gv(&s.root(), &["list"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("STORED") && text.contains("saves"), "{text}");
    let out = gv(&s.root(), &["verify", "--all"]);
    assert!(
        out.status.code() != Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_store_config_that_cannot_be_read_is_never_overwritten_by_config_set() {
    let s = common::app_store();
    fs::create_dir_all(s.root().join(".graphvault")).expect("dir");
    fs::write(config_file(&s), b"{ broken").expect("config");
    let mut store = s.open();
    let err = store
        .set_setting("compression", "zstd")
        .expect_err("refused");
    assert!(matches!(err, StoreError::Refused { .. }), "{err}");
    assert_eq!(fs::read(config_file(&s)).expect("config"), b"{ broken");
}

#[test]
fn bytes_appended_after_the_frame_are_caught_by_the_stored_size() {
    let s = common::empty_store();
    let store = compressing(&s);
    let r = save_on(&store, 1, 20);
    let mut stored = fs::read(&r.backup_path).expect("read");
    stored.extend_from_slice(b"trailing");
    fs::write(&r.backup_path, &stored).expect("write");
    // The decoder alone stops at the frame's end and would give back the
    // right JSON: only the stored size and checksum say the file changed.
    assert_eq!(
        decompress(&r.backup_path),
        fs::read(s.primary()).expect("primary")
    );
    let v = store
        .verify(&Target::Backup(r.backup_id.clone()), Depth::Full)
        .expect("verify");
    assert_eq!(v.status, Status::Corrupt);
    assert_eq!(v.failed_level, Some(Level::Checksum));
}

#[test]
fn the_simulator_damages_a_frame_which_verify_catches_at_its_level_and_recovery_passes_over() {
    use graphvault::store::corrupt::CorruptionKind;
    let s = common::empty_store();
    let store = compressing(&s);
    let older = save_on(&store, 1, 8);
    let newest = save_on(&store, 2, 9);
    // Not a sandbox: refused, nothing changed.
    let before = fs::read(&newest.backup_path).expect("read");
    assert!(store.corrupt(CorruptionKind::DamagedFrame).is_err());
    assert_eq!(fs::read(&newest.backup_path).expect("read"), before);
    s.mark_sandbox();
    let kind: CorruptionKind = "damaged-frame".parse().expect("a kind");
    let report = store.corrupt(kind).expect("corrupt");
    assert_eq!(report.target, Target::Backup(newest.backup_id.clone()));
    let v = store.verify(&report.target, Depth::Full).expect("verify");
    assert_eq!(v.status, Status::Corrupt);
    assert_eq!(v.failed_level, report.expected_level, "{v:?}");
    // With the primary lost too, recovery restores the older backup.
    fs::remove_file(s.primary()).expect("lose the primary");
    let (_, rec) = store
        .load_with_recovery(RecoverOptions { dry_run: false })
        .expect("recover");
    assert_eq!(rec.recommended.as_ref(), Some(&older.backup_id), "{rec:?}");
    assert_eq!(
        sha256(&fs::read(s.primary()).expect("primary")),
        older.checksum
    );
}

#[test]
fn a_frame_that_inflates_past_its_meta_is_never_decoded_by_show_diff_history_or_check() {
    let s = common::empty_store();
    let store = compressing(&s);
    let older = save_on(&store, 1, 6);
    let r = save_on(&store, 2, 6);
    // 32 MiB of zeros in 3 KiB, the stored size and checksum in the meta made to
    // match (no key): only the frame's declared size tells.
    let bomb = zstd::bulk::compress(&vec![0u8; 32 << 20], 3).expect("zstd");
    fs::write(&r.backup_path, &bomb).expect("plant");
    let meta_path = s.backups().join(format!("{}.meta", r.backup_id));
    let mut meta = meta_of(&s, &r.backup_id.to_string());
    meta.stored_size = Some(bomb.len() as u64);
    meta.stored_checksum = Some(sha256(&bomb));
    fs::write(&meta_path, meta.to_vec()).expect("meta");
    let target = Target::Backup(r.backup_id.clone());

    let v = store.verify(&target, Depth::Full).expect("verify");
    assert_eq!(
        (v.status, v.failed_level),
        (Status::Corrupt, Some(Level::Checksum)),
        "{v:?}"
    );
    assert!(
        v.reason.as_deref().is_some_and(|r| r.contains("meta says")),
        "{v:?}"
    );
    let over = |e: StoreError| {
        let text = e.to_string();
        assert!(text.contains("over the limit"), "{text}");
    };
    over(
        store
            .show(&target, &ShowOptions::default())
            .expect_err("show refuses"),
    );
    over(
        store
            .diff(&Target::Backup(older.backup_id.clone()), &target)
            .expect_err("diff refuses"),
    );
    let history = store
        .history("N1", HistoryOptions::default())
        .expect("history");
    let entry = history
        .entries
        .iter()
        .find(|e| e.target == target)
        .expect("the entry");
    assert!(
        entry
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("not decoded")),
        "{entry:?}"
    );
    let indexed = store.index_missing(0).expect("index");
    assert!(
        indexed
            .failed
            .iter()
            .any(|(name, why)| name == &r.backup_id.to_string() && why.contains("not decoded")),
        "{indexed:?}"
    );
}
