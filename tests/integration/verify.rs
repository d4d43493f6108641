use std::fs;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use graphvault::store::verify::{Depth, Level, Status, Target, VerifyAllOptions};

use crate::common::{self, app_graph, app_meta};

fn primary_status(s: &common::AppStore) -> (Status, Option<Level>, Option<String>) {
    let r = s
        .open()
        .verify(&Target::Primary, Depth::Full)
        .expect("verify");
    (r.status, r.failed_level, r.reason)
}

#[test]
fn the_ladder_names_the_level_that_failed() {
    let s = common::app_store();
    assert_eq!(primary_status(&s).0, Status::Valid);

    // Bytes changed, meta stale: checksum level.
    let good = fs::read(s.primary()).expect("read");
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 1;
    fs::write(s.primary(), &flipped).expect("write");
    let (status, level, reason) = primary_status(&s);
    assert_eq!((status, level), (Status::Corrupt, Some(Level::Checksum)));
    assert!(reason.expect("reason").contains("mismatch"));
    // Bytes that were read and are wrong are corrupt (an unreadable file is not).
    let r = s
        .open()
        .verify(&Target::Primary, Depth::Full)
        .expect("verify");
    assert_eq!(r.word(), "corrupt");

    // Broken JSON with a matching meta: parse level, with line and column.
    let broken = b"{\n  \"nodes\": {\n    \"a\" {}\n  }\n}";
    fs::write(s.primary(), broken).expect("write");
    fs::write(s.primary_meta(), app_meta(broken, None)).expect("meta");
    let (status, level, reason) = primary_status(&s);
    assert_eq!((status, level), (Status::Corrupt, Some(Level::Parse)));
    let reason = reason.expect("reason");
    assert!(reason.contains("line 3"), "{reason}");

    // Valid JSON, wrong shape: parse level too.
    let shape = b"{\"nodes\": [], \"edges\": []}";
    fs::write(s.primary(), shape).expect("write");
    fs::write(s.primary_meta(), app_meta(shape, None)).expect("meta");
    assert_eq!(primary_status(&s).1, Some(Level::Parse));

    // A dangling edge in valid JSON: consistency level.
    let dangling = app_graph(3, 2, false, "").replace("\"to\": \"N2\"", "\"to\": \"GHOST\"");
    fs::write(s.primary(), &dangling).expect("write");
    fs::write(s.primary_meta(), app_meta(dangling.as_bytes(), None)).expect("meta");
    let (status, level, reason) = primary_status(&s);
    assert_eq!((status, level), (Status::Corrupt, Some(Level::Consistency)));
    assert!(reason.expect("reason").contains("GHOST"));

    // Counts that disagree with the application's meta are advisory: a
    // warning, not a fault in the graph.
    let text = app_graph(3, 2, false, "");
    fs::write(s.primary(), &text).expect("write");
    fs::write(s.primary_meta(), app_meta(text.as_bytes(), Some((7, 2)))).expect("meta");
    let r = s
        .open()
        .verify(&Target::Primary, Depth::Full)
        .expect("verify");
    assert_eq!(r.status, Status::Valid);
    assert!(
        r.warnings.iter().any(|w| w.contains("meta says 7 nodes")),
        "{:?}",
        r.warnings
    );
    // Counts that disagree with a graphvault meta: the meta lies.
    let ours = app_meta(text.as_bytes(), Some((7, 2)))
        .replace("DawsOS PersistenceManager", "graphvault 0.1.0");
    fs::write(s.primary_meta(), ours).expect("meta");
    let (status, level, _) = primary_status(&s);
    assert_eq!((status, level), (Status::Corrupt, Some(Level::Consistency)));
}

#[test]
fn missing_meta_is_unverified_not_corrupt_and_missing_file_is_missing() {
    let s = common::app_store();
    fs::remove_file(s.primary_meta()).expect("rm meta");
    let (status, level, reason) = primary_status(&s);
    assert_eq!(status, Status::Unverified);
    assert_eq!(level, None);
    assert!(reason.expect("reason").contains("no meta"));
    // A meta that is not JSON: still unverified when the graph is good.
    fs::write(s.primary_meta(), "{{{").expect("garbage meta");
    assert_eq!(primary_status(&s).0, Status::Unverified);
    fs::remove_file(s.primary()).expect("rm primary");
    let (status, level, _) = primary_status(&s);
    assert_eq!((status, level), (Status::Missing, Some(Level::File)));
}

#[test]
fn legacy_zero_counts_are_accepted_and_nan_graphs_verify() {
    let s = common::app_store();
    let r = s
        .open()
        .verify(&Target::Primary, Depth::Full)
        .expect("verify");
    assert_eq!(r.status, Status::Valid);
    assert!(
        r.warnings.iter().any(|w| w.contains("0/0")),
        "{:?}",
        r.warnings
    );
    assert_eq!(r.node_count, Some(5));
}

#[test]
fn checksum_depth_never_parses() {
    let s = common::app_store();
    // Not JSON at all, but the meta matches: a checksum-only verify passes.
    fs::write(s.primary(), b"not json").expect("write");
    fs::write(s.primary_meta(), app_meta(b"not json", None)).expect("meta");
    let r = s
        .open()
        .verify(&Target::Primary, Depth::Checksum)
        .expect("verify");
    assert_eq!(r.status, Status::Valid);
    assert_eq!(
        s.open()
            .verify(&Target::Primary, Depth::Full)
            .expect("verify")
            .status,
        Status::Corrupt
    );
}

#[test]
fn verify_all_reports_every_file_with_progress() {
    let s = common::app_store();
    let mut text = fs::read(s.backups().join("graph_20251002_100000.json")).expect("read");
    text.truncate(text.len() / 2);
    fs::write(s.backups().join("graph_20251002_100000.json"), text).expect("truncate");
    let seen = Mutex::new(Vec::new());
    let report = s
        .open()
        .verify_all(
            VerifyAllOptions {
                depth: Depth::Full,
                include_primary: true,
                threads: 2,
            },
            &AtomicBool::new(false),
            &|p| seen.lock().expect("lock").push((p.done, p.total)),
        )
        .expect("verify all");
    assert_eq!(report.files.len(), 5);
    assert_eq!((report.valid, report.unverified, report.corrupt), (3, 1, 1));
    assert!(report.has_problems());
    let seen = seen.into_inner().expect("seen");
    assert_eq!(seen.len(), 5);
    assert!(seen.iter().any(|&(d, t)| d == 5 && t == 5));
    // Results keep listing order: primary, then newest first.
    assert_eq!(report.files[0].target, Target::Primary);
}

#[test]
fn verify_all_can_be_cancelled() {
    let s = common::app_store();
    let cancel = AtomicBool::new(true);
    let report = s
        .open()
        .verify_all(
            VerifyAllOptions {
                depth: Depth::Full,
                include_primary: true,
                threads: 1,
            },
            &cancel,
            &|_| {},
        )
        .expect("verify all");
    assert!(report.cancelled);
    assert!(report.files.is_empty());
}

#[test]
fn an_interrupted_save_is_not_reported_as_corruption() {
    // Crash between renaming the graph and renaming its meta: new graph,
    // stale meta, pending meta that matches.
    let s = common::app_store();
    let new = app_graph(6, 2, false, "new");
    fs::write(s.primary(), &new).expect("new graph");
    fs::write(
        s.root().join("graph.json.meta.pending"),
        app_meta(new.as_bytes(), None),
    )
    .expect("pending");
    let r = s
        .open()
        .verify(&Target::Primary, Depth::Full)
        .expect("verify");
    assert_eq!(r.status, Status::Valid, "{:?}", r.reason);
    assert!(r.warnings.iter().any(|w| w.contains("interrupted save")));
    // The next locked operation rolls it forward.
    s.open().lock().expect("lock");
    assert!(!s.root().join("graph.json.meta.pending").exists());
    assert_eq!(
        fs::read_to_string(s.primary_meta()).expect("meta"),
        app_meta(new.as_bytes(), None)
    );
}

#[test]
fn a_pending_meta_of_a_save_that_never_landed_is_discarded() {
    let s = common::app_store();
    let old_meta = fs::read(s.primary_meta()).expect("meta");
    fs::write(
        s.root().join("graph.json.meta.pending"),
        app_meta(b"other", None),
    )
    .expect("pending");
    assert_eq!(
        s.open()
            .verify(&Target::Primary, Depth::Full)
            .expect("verify")
            .status,
        Status::Valid
    );
    s.open().lock().expect("lock");
    assert!(!s.root().join("graph.json.meta.pending").exists());
    assert_eq!(fs::read(s.primary_meta()).expect("meta"), old_meta);
}

#[test]
fn symlinks_fifos_and_directories_are_refused_not_followed() {
    let s = common::app_store();
    let outside = s.dir.path().join("outside.json");
    fs::write(&outside, app_graph(2, 2, false, "")).expect("outside");
    fs::remove_file(s.primary()).expect("rm");
    std::os::unix::fs::symlink(&outside, s.primary()).expect("symlink");
    let r = s
        .open()
        .verify(&Target::Primary, Depth::Full)
        .expect("verify");
    assert_eq!(
        (r.status, r.failed_level),
        (Status::Corrupt, Some(Level::File))
    );
    assert!(r.reason.expect("reason").contains("symlink"));

    fs::remove_file(s.primary()).expect("rm");
    fs::create_dir(s.primary()).expect("dir");
    let r = s
        .open()
        .verify(&Target::Primary, Depth::Full)
        .expect("verify");
    assert!(r.reason.expect("reason").contains("directory"));
}

/// A meta with a key twice says two things: Python's `json` (the
/// application) takes the last value, so no single reading is safe. It is a
/// corrupt meta naming the key (before, one value was taken and the primary
/// called "unverified" with exit 0). Two metas of one backup that disagree
/// are corrupt in the same way.
#[test]
fn an_ambiguous_meta_is_corrupt_and_names_the_key() {
    let s = common::app_store();
    let bytes = fs::read(s.primary()).expect("primary");
    let good = common::sha256(&bytes);
    for (first, last) in [
        (good.clone(), "0".repeat(64)),
        ("0".repeat(64), good.clone()),
    ] {
        fs::write(
            s.primary_meta(),
            format!("{{\n  \"checksum\": \"{first}\",\n  \"checksum\": \"{last}\"\n}}"),
        )
        .expect("meta");
        let (status, level, reason) = primary_status(&s);
        let reason = reason.unwrap_or_default();
        assert_eq!(
            (status, level),
            (Status::Corrupt, Some(Level::Meta)),
            "{reason}"
        );
        assert!(
            reason.contains("\"checksum\"") && reason.contains("ambiguous"),
            "{reason}"
        );
    }

    // A backup with both names, saying different checksums.
    let text = app_graph(3, 2, false, "two metas");
    let id = s.add_backup("20251005_100000", &text, common::MetaName::Meta);
    fs::write(
        s.backups().join(format!("{id}.json.meta")),
        app_meta(b"something else", None),
    )
    .expect("second meta");
    let r = s
        .open()
        .verify(&Target::Backup(id.parse().expect("id")), Depth::Full)
        .expect("verify");
    let reason = r.reason.unwrap_or_default();
    assert_eq!(
        (r.status, r.failed_level),
        (Status::Corrupt, Some(Level::Meta)),
        "{reason}"
    );
    assert!(
        reason.contains("disagree") && reason.contains(".json.meta"),
        "{reason}"
    );
    // The same meta under both names is one meta.
    fs::write(
        s.backups().join(format!("{id}.json.meta")),
        app_meta(text.as_bytes(), None),
    )
    .expect("same meta");
    let r = s
        .open()
        .verify(&Target::Backup(id.parse().expect("id")), Depth::Full)
        .expect("verify");
    assert_eq!(r.status, Status::Valid, "{:?}", r.reason);
}
