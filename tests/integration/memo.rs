//! The memo of verified content (`.graphvault/memo/`): a hit takes the
//! parse level from the memo, anything wrong with the memo falls back to a
//! parse, and no memo entry can make a damaged file valid.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use graphvault::graph::KnowledgeGraph;
use graphvault::store::Store;
use graphvault::store::auth::Key;
use graphvault::store::meta::Meta;
use graphvault::store::retention::{Action, RetentionPolicy};
use graphvault::store::rotate::RotateOptions;
use graphvault::store::save::SaveOptions;
use graphvault::store::verify::{Depth, FileReport, Level, Status, Target};

use crate::common::{self, sha256};

/// A store written by graphvault: one save, so one backup, and a memo
/// entry for the saved content.
pub fn saved_store(nodes: usize) -> common::AppStore {
    let s = common::empty_store();
    let text = common::app_graph(nodes, 2, false, "memo");
    s.open()
        .save_graph_with_backup(&KnowledgeGraph::from_slice(text.as_bytes()).expect("graph"))
        .expect("save");
    s
}

pub fn memo_dir(s: &common::AppStore) -> PathBuf {
    s.root().join(".graphvault/memo")
}

pub fn entry_path(s: &common::AppStore, bytes: &[u8]) -> PathBuf {
    memo_dir(s).join(format!("{}.json", sha256(bytes)))
}

fn parse_detail(r: &FileReport) -> String {
    r.levels
        .iter()
        .find(|l| l.level == Level::Parse)
        .map(|l| l.detail.clone())
        .unwrap_or_default()
}

fn verify_primary(store: &Store) -> FileReport {
    store.verify(&Target::Primary, Depth::Full).expect("verify")
}

#[test]
fn a_save_records_its_content_and_a_verify_takes_the_parse_level_from_it() {
    let s = saved_store(6);
    let bytes = fs::read(s.primary()).expect("read");
    assert!(
        entry_path(&s, &bytes).is_file(),
        "the save recorded its content"
    );

    let hit = verify_primary(&s.open());
    assert_eq!(hit.status, Status::Valid);
    assert!(hit.memo_verified_at.is_some());
    assert!(
        parse_detail(&hit).contains("same content as verified"),
        "{:?}",
        hit.levels
    );

    // What the memo says is what a parse finds.
    let deep = verify_primary(&s.open().with_deep(true));
    assert_eq!(deep.status, Status::Valid);
    assert_eq!(deep.memo_verified_at, None, "a deep verify parses");
    assert!(!parse_detail(&deep).contains("same content"));
    assert_eq!(
        (hit.node_count, hit.edge_count),
        (deep.node_count, deep.edge_count)
    );
    assert_eq!(hit.node_types, deep.node_types);
    assert_eq!(hit.edge_types, deep.edge_types);
    assert_eq!(hit.warnings, deep.warnings);
}

#[test]
fn without_the_memo_a_verify_parses_and_records_it_again() {
    let s = saved_store(4);
    fs::remove_dir_all(memo_dir(&s)).expect("rm memo");
    let first = verify_primary(&s.open());
    assert_eq!(first.status, Status::Valid);
    assert_eq!(first.memo_verified_at, None);
    let bytes = fs::read(s.primary()).expect("read");
    assert!(entry_path(&s, &bytes).is_file(), "rebuilt by the verify");
    let second = verify_primary(&s.open());
    assert!(second.memo_verified_at.is_some());
}

#[test]
fn a_garbled_or_truncated_memo_entry_is_ignored_and_rebuilt() {
    let s = saved_store(4);
    let bytes = fs::read(s.primary()).expect("read");
    let entry = entry_path(&s, &bytes);
    let good = fs::read(&entry).expect("entry");
    for bad in [
        b"".to_vec(),
        good[..good.len() / 2].to_vec(),
        b"\x00\xff not json".to_vec(),
        br#"{"format": 1}"#.to_vec(),
    ] {
        fs::write(&entry, &bad).expect("garble");
        let r = verify_primary(&s.open());
        assert_eq!(r.status, Status::Valid, "a bad memo is never an error");
        assert_eq!(r.memo_verified_at, None, "parsed instead");
        let rebuilt = fs::read(&entry).expect("entry");
        assert!(
            serde_json::from_slice::<serde_json::Value>(&rebuilt).is_ok(),
            "rewritten"
        );
    }
    // A memo directory that is a file is ignored too.
    fs::remove_dir_all(memo_dir(&s)).expect("rm");
    fs::write(memo_dir(&s), "not a directory").expect("file");
    assert_eq!(verify_primary(&s.open()).status, Status::Valid);
}

/// Replaces the primary with bytes that do not parse, under a meta that
/// matches them (so only the parse level can tell), and returns them.
pub fn unparseable_primary(s: &common::AppStore, key: Option<&Key>) -> Vec<u8> {
    let garbage = b"{\"version\": 2, \"nodes\": {\"a\" {}}}".to_vec();
    fs::write(s.primary(), &garbage).expect("write");
    // The counts the good content's meta had, so that only the parse can tell.
    let before = Meta::from_slice(&fs::read(s.primary_meta()).expect("meta")).expect("json");
    let mut meta = Meta::for_data(
        sha256(&garbage),
        garbage.len() as u64,
        before.node_count.unwrap_or(0),
        before.edge_count.unwrap_or(0),
        "save",
        chrono::Local::now(),
    );
    meta.hmac = key.map(|k| k.sign(&meta));
    fs::write(s.primary_meta(), meta.to_vec()).expect("meta");
    garbage
}

/// The memo entry of the good content, copied under the garbage's name
/// (and optionally rewritten to name the garbage): what an attacker or a
/// confused copy could leave.
pub fn plant_entry(s: &common::AppStore, good: &[u8], garbage: &[u8], rename_inside: bool) {
    let text = fs::read_to_string(entry_path(s, good)).expect("entry");
    let mut value: serde_json::Value = serde_json::from_str(&text).expect("json");
    if rename_inside {
        value["sha256"] = serde_json::Value::String(sha256(garbage));
        value["size"] = serde_json::Value::from(garbage.len());
    }
    fs::write(entry_path(s, garbage), value.to_string()).expect("plant");
}

#[test]
fn a_memo_entry_for_other_content_never_makes_a_corrupt_file_valid() {
    let s = saved_store(4);
    let good = fs::read(s.primary()).expect("read");
    let garbage = unparseable_primary(&s, None);
    plant_entry(&s, &good, &garbage, false);
    let r = verify_primary(&s.open());
    assert_eq!(
        (r.status, r.failed_level),
        (Status::Corrupt, Some(Level::Parse))
    );
    assert_eq!(r.memo_verified_at, None);
}

/// JSON without `nodes` is not a graph. Builds that took it for an empty one
/// recorded it in the memo; such an entry must not keep it valid.
#[test]
fn an_entry_recording_no_nodes_never_vouches_for_json_that_is_not_a_graph() {
    let s = saved_store(4);
    let good = fs::read(s.primary()).expect("read");
    let junk = b"{\"error\": \"upstream timeout\", \"edges\": []}".to_vec();
    fs::write(s.primary(), &junk).expect("write");
    fs::write(s.primary_meta(), common::app_meta(&junk, Some((0, 0)))).expect("meta");
    // The entry an earlier build wrote after parsing it as a graph of no nodes.
    let text = fs::read_to_string(entry_path(&s, &good)).expect("entry");
    let mut entry: serde_json::Value = serde_json::from_str(&text).expect("json");
    entry["sha256"] = serde_json::Value::String(sha256(&junk));
    entry["size"] = serde_json::Value::from(junk.len());
    entry["node_count"] = serde_json::Value::from(0);
    entry["edge_count"] = serde_json::Value::from(0);
    entry["node_types"] = serde_json::json!([]);
    entry["edge_types"] = serde_json::json!([]);
    fs::write(entry_path(&s, &junk), entry.to_string()).expect("plant");

    let r = verify_primary(&s.open());
    assert_eq!(
        (r.status, r.failed_level),
        (Status::Corrupt, Some(Level::Parse)),
        "{:?}",
        r.levels
    );
    assert_eq!(r.memo_verified_at, None, "parsed, not taken from the memo");
    assert!(
        parse_detail(&r).contains("no `nodes` object"),
        "{}",
        parse_detail(&r)
    );
}

#[test]
fn with_a_key_a_forged_memo_entry_is_refused() {
    let key = || Key::from_bytes(b"a secret kept outside the store").expect("key");
    let s = common::empty_store();
    let text = common::app_graph(4, 2, false, "k");
    s.open()
        .with_key(key())
        .save_graph_with_backup(&KnowledgeGraph::from_slice(text.as_bytes()).expect("graph"))
        .expect("save");
    let good = fs::read(s.primary()).expect("read");
    let entry: serde_json::Value =
        serde_json::from_slice(&fs::read(entry_path(&s, &good)).expect("entry")).expect("json");
    assert_eq!(entry["hmac"].as_str().map(str::len), Some(64), "signed");
    assert!(
        verify_primary(&s.open().with_key(key()))
            .memo_verified_at
            .is_some()
    );

    // The garbage's meta is signed (the key holder wrote it), its memo
    // entry is not: writing the memo alone must not make it valid.
    let garbage = unparseable_primary(&s, Some(&key()));
    plant_entry(&s, &good, &garbage, true);
    let r = verify_primary(&s.open().with_key(key()));
    assert_eq!(
        (r.status, r.failed_level),
        (Status::Corrupt, Some(Level::Parse)),
        "{:?}",
        r.levels
    );
}

#[test]
fn verify_deep_on_the_command_line_parses_again() {
    let s = saved_store(4);
    let run = |deep: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_graphvault"));
        cmd.arg("--store").arg(s.root()).args(["--json", "verify"]);
        if deep {
            cmd.arg("--deep");
        }
        let out = cmd.output().expect("run");
        assert_eq!(out.status.code(), Some(0));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        doc["result"]["memo_verified_at"].clone()
    };
    assert!(run(false).is_string(), "the default takes the memo");
    assert!(run(true).is_null(), "--deep parses");
}

#[test]
fn verify_all_uses_the_memo_for_every_backup_a_save_wrote() {
    let s = common::empty_store();
    let store = s.open();
    for i in 0..3 {
        let text = common::app_graph(3 + i, 2, false, &format!("v{i}"));
        store
            .save_with(
                &KnowledgeGraph::from_slice(text.as_bytes()).expect("graph"),
                &SaveOptions {
                    rotate: false,
                    at: Some(chrono::Local::now() - chrono::Duration::days(3 - i as i64)),
                },
            )
            .expect("save");
    }
    let all = store
        .verify_all(
            Default::default(),
            &std::sync::atomic::AtomicBool::new(false),
            &|_| {},
        )
        .expect("verify all");
    assert_eq!(all.valid, 3);
    assert!(all.files.iter().all(|f| f.memo_verified_at.is_some()));
}

/// Saves `n` backups a day apart, the newest yesterday, then damages the
/// backups at `damaged` (indexes, newest first) in place with their size,
/// meta and memo entry untouched: only reading them can tell.
fn store_with_silently_damaged_backups(
    n: usize,
    damaged: &[usize],
) -> (common::AppStore, Vec<String>) {
    let s = common::empty_store();
    let store = s.open();
    for i in 0..n {
        let text = common::app_graph(3 + i, 2, false, &format!("r{i}"));
        store
            .save_with(
                &KnowledgeGraph::from_slice(text.as_bytes()).expect("graph"),
                &SaveOptions {
                    rotate: false,
                    at: Some(chrono::Local::now() - chrono::Duration::days((n - i) as i64)),
                },
            )
            .expect("save");
    }
    let ids: Vec<String> = store
        .list_backups()
        .expect("list")
        .backups
        .iter()
        .map(|b| b.id.to_string())
        .collect();
    for &i in damaged {
        let path = s.backups().join(format!("{}.json", ids[i]));
        let mut bytes = fs::read(&path).expect("read");
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x01;
        fs::write(&path, &bytes).expect("damage");
    }
    (s, ids)
}

#[test]
fn retention_confirms_what_it_relies_on_even_when_the_memo_vouches_for_it() {
    // Newest first: 0 good, 1 and 2 damaged, 3 and 4 good. keep_last 1 and
    // a floor of 2: judged from metas and memo alone, 0 and 1 would be the
    // floor and 2, 3, 4 would go, leaving one good backup.
    let (s, ids) = store_with_silently_damaged_backups(5, &[1, 2]);
    let policy = RetentionPolicy {
        keep_last: Some(1),
        keep_within: None,
        min_valid: 2,
        ..RetentionPolicy::default()
    };
    let r = s
        .open()
        .rotate(&policy, RotateOptions { dry_run: false })
        .expect("rotate");
    let action = |id: &str| {
        r.plan
            .decisions
            .iter()
            .find(|d| d.id.to_string() == id)
            .map(|d| d.action)
    };
    assert_eq!(action(&ids[0]), Some(Action::Keep));
    assert_eq!(action(&ids[1]), Some(Action::Keep), "corrupt: kept aside");
    assert_eq!(action(&ids[2]), Some(Action::Keep), "corrupt: kept aside");
    assert_eq!(
        action(&ids[3]),
        Some(Action::Keep),
        "the floor's second valid backup"
    );
    assert_eq!(action(&ids[4]), Some(Action::Remove));
    // Two backups that really verify are left.
    let store = s.open().with_deep(true);
    let valid = store
        .list_backups()
        .expect("list")
        .backups
        .iter()
        .filter(|b| {
            store
                .verify(&Target::Backup(b.id.clone()), Depth::Full)
                .expect("verify")
                .status
                == Status::Valid
        })
        .count();
    assert_eq!(valid, 2);
}

#[test]
fn retention_prunes_memo_entries_no_file_has() {
    let (s, ids) = store_with_silently_damaged_backups(4, &[]);
    let before = fs::read_dir(memo_dir(&s)).expect("memo").count();
    assert_eq!(before, 4);
    let policy = RetentionPolicy {
        keep_last: Some(2),
        keep_within: None,
        min_valid: 1,
        ..RetentionPolicy::default()
    };
    s.open()
        .rotate(&policy, RotateOptions { dry_run: false })
        .expect("rotate");
    let left: Vec<String> = fs::read_dir(memo_dir(&s))
        .expect("memo")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let kept: Vec<String> = ids[..2]
        .iter()
        .map(|id| {
            let bytes = fs::read(s.backups().join(format!("{id}.json"))).expect("read");
            format!("{}.json", sha256(&bytes))
        })
        .collect();
    let mut left_sorted = left.clone();
    left_sorted.sort();
    let mut kept_sorted = kept;
    kept_sorted.sort();
    assert_eq!(
        left_sorted, kept_sorted,
        "entries of removed backups are dropped"
    );
}

#[test]
fn save_from_a_file_stores_its_bytes_as_they_are_and_records_them() {
    let s = common::empty_store();
    // Hand-edited: a literal é and a key order of its own, which the
    // application's writer would not reproduce byte for byte.
    let text = common::app_graph(3, 2, true, "x").replacen(
        "\"version\"",
        "\"note\": \"é\", \"version\"",
        1,
    );
    KnowledgeGraph::from_slice(text.as_bytes()).expect("still a graph");
    let input = s.dir.path().join("input.json");
    fs::write(&input, &text).expect("write input");
    let out = Command::new(env!("CARGO_BIN_EXE_graphvault"))
        .arg("--store")
        .arg(s.root())
        .args(["--json", "save", "--from"])
        .arg(&input)
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fs::read(s.primary()).expect("primary"), text.as_bytes());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let backup = doc["result"]["backup_path"].as_str().expect("backup path");
    assert_eq!(fs::read(backup).expect("backup"), text.as_bytes());
    assert!(
        entry_path(&s, text.as_bytes()).is_file(),
        "recorded in the memo"
    );
    let r = verify_primary(&s.open());
    assert_eq!(r.status, Status::Valid);
    assert!(r.memo_verified_at.is_some());
    // The memo's proof is the parse's: same counts, types and warnings.
    let deep = verify_primary(&s.open().with_deep(true));
    assert_eq!(
        (r.node_count, r.edge_count, &r.warnings),
        (deep.node_count, deep.edge_count, &deep.warnings)
    );
}

#[test]
fn a_kept_graph_of_proven_content_skips_the_consistency_check_and_other_content_does_not() {
    use graphvault::store::nodes::ShowOptions;
    let s = saved_store(5);
    let shown = s
        .open()
        .show(&Target::Primary, &ShowOptions::default())
        .expect("show");
    assert_eq!(shown.file.status, Status::Valid);
    assert!(shown.file.memo_verified_at.is_some(), "{:?}", shown.file);
    assert_eq!(shown.nodes.len(), 5);

    // A dangling edge in valid JSON, its meta matching, and the good
    // content's memo entry planted under its name: the check still runs.
    let good = fs::read(s.primary()).expect("read");
    let dangling =
        common::app_graph(5, 2, false, "memo").replace("\"to\": \"N2\"", "\"to\": \"GHOST\"");
    assert_ne!(dangling.as_bytes(), &good[..], "the fixture changed");
    s.write_primary(&dangling, true);
    plant_entry(&s, &good, dangling.as_bytes(), false);
    let shown = s
        .open()
        .show(&Target::Primary, &ShowOptions::default())
        .expect("show lists what parses");
    assert_eq!(
        (shown.file.status, shown.file.failed_level),
        (Status::Corrupt, Some(Level::Consistency)),
        "{:?}",
        shown.file
    );
    assert!(
        shown
            .file
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("GHOST")),
        "{:?}",
        shown.file
    );
    assert_eq!(shown.file.memo_verified_at, None);
}

/// Recovery of a primary whose bytes fail: the backup it restores was saved by
/// graphvault, so its parse level comes from the memo (it is read and hashed once),
/// and the damaged primary, judged beside the restore, still earns the stale-meta
/// warning that points at where it was kept. Both entry points agree, and the one
/// that hands back the graph hands back the backup's.
#[test]
fn recovery_takes_the_restored_backups_parse_level_from_the_memo() {
    use graphvault::store::recover::{Lost, RecoverOptions, RecoveryWarning};
    for want_graph in [true, false] {
        let s = saved_store(8);
        let saved = fs::read(s.primary()).expect("read");
        let mut bytes = saved.clone();
        // A letter of a value flipped: the file still parses and is consistent,
        // only its checksum tells.
        let at = bytes
            .iter()
            .rposition(|b| b.is_ascii_lowercase())
            .expect("a letter");
        bytes[at] ^= 0x01;
        fs::write(s.primary(), &bytes).expect("flip");
        let store = s.open();
        let options = RecoverOptions { dry_run: false };
        let (graph, report) = if want_graph {
            let (graph, report) = store.load_with_recovery(options).expect("recover");
            (graph, report)
        } else {
            (
                None,
                store.recover_reporting(options, &|_| {}).expect("recover"),
            )
        };
        assert!(report.recovered());
        let chosen = report.candidates.last().expect("a candidate");
        assert_eq!(chosen.status, Status::Valid);
        // The backup's parse level is the memo's: it is read and hashed once (a
        // load that hands back the graph parses the bytes after they pass).
        assert!(
            parse_detail(chosen).contains("same content as verified"),
            "the restored backup was verified by a parse: {:?}",
            chosen.levels
        );
        assert_eq!(report.lost, Some(Lost::SameChecksum));
        let kept = report.evidence().first().cloned().expect("evidence");
        assert_eq!(fs::read(&kept).expect("evidence"), bytes);
        assert!(
            report.warnings.iter().any(|w| matches!(
                w,
                RecoveryWarning::StaleMeta { kept_at: Some(p) } if *p == kept
            )),
            "{:?}",
            report.warnings
        );
        assert_eq!(fs::read(s.primary()).expect("read"), saved);
        assert_eq!(report.node_count, 8);
        match graph {
            Some(g) => assert_eq!(g.node_count(), 8, "the backup's graph"),
            None => assert!(!want_graph),
        }
    }
}

/// An entry whose counts contradict the file's own meta does not make a good file
/// corrupt: the file is parsed instead, and the entry is recorded again from what
/// the parse proved.
#[test]
fn an_entry_that_contradicts_the_meta_is_not_taken_and_is_rewritten() {
    let s = saved_store(6);
    let bytes = fs::read(s.primary()).expect("read");
    let entry = entry_path(&s, &bytes);
    let text = fs::read_to_string(&entry).expect("entry");
    let forged = text.replacen("\"node_count\": 6", "\"node_count\": 999", 1);
    assert_ne!(forged, text, "the entry records the count: {text}");
    fs::write(&entry, &forged).expect("forge");
    let report = verify_primary(&s.open());
    assert_eq!(report.status, Status::Valid, "{:?}", report.reason);
    assert!(
        !parse_detail(&report).contains("same content as verified"),
        "the contradicted entry was taken: {:?}",
        report.levels
    );
    // The count itself, not the text: a checksum or a time may hold "999".
    let again: serde_json::Value =
        serde_json::from_slice(&fs::read(&entry).expect("entry")).expect("json");
    assert_eq!(again["node_count"], 6, "the entry was rewritten: {again}");
    assert!(verify_primary(&s.open()).memo_verified_at.is_some());
}

/// Damages the one backup of `s` (sixteen `fill` bytes in its middle) and
/// forges, without a key, its meta and a memo entry for the damaged bytes, as
/// whoever can write the store could. Returns the backup's path and the
/// damaged bytes' SHA-256.
fn forge_entry_for_damaged_backup(s: &common::AppStore, fill: u8) -> (PathBuf, String) {
    let saved = fs::read(s.primary()).expect("read");
    let backup = fs::read_dir(s.backups())
        .expect("list")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .expect("a backup");
    let meta_path = backup.with_extension("meta");
    let mut bytes = fs::read(&backup).expect("backup");
    let mid = bytes.len() / 2;
    bytes[mid..mid + 16].fill(fill);
    fs::write(&backup, &bytes).expect("damage");
    let forged_sha = sha256(&bytes);
    let meta = fs::read_to_string(&meta_path).expect("meta");
    fs::write(&meta_path, meta.replace(&sha256(&saved), &forged_sha)).expect("meta");
    let entry = fs::read_to_string(entry_path(s, &saved)).expect("entry");
    fs::write(
        memo_dir(s).join(format!("{forged_sha}.json")),
        entry.replace(&sha256(&saved), &forged_sha),
    )
    .expect("forge");
    (backup, forged_sha)
}

/// A memo entry forged (without a key) for a backup whose bytes and meta were
/// replaced together by content that does not parse: recovery, which took the
/// entry's word, stops with nothing changed and names the entry to remove.
#[test]
fn recovery_through_a_forged_entry_stops_and_names_it() {
    use graphvault::store::recover::RecoverOptions;
    let s = saved_store(8);
    let saved = fs::read(s.primary()).expect("read");
    let (_, forged_sha) = forge_entry_for_damaged_backup(&s, b'{');
    fs::write(s.primary(), &saved[..saved.len() / 3]).expect("truncate");
    let before = common::snapshot_tree(&s.root());
    let err = s
        .open()
        .recover_reporting(RecoverOptions { dry_run: false }, &|_| {})
        .expect_err("a backup that does not parse is never restored");
    let text = err.to_string();
    assert!(
        text.contains("does not parse") && text.contains(&format!("{forged_sha}.json")),
        "{text}"
    );
    assert_eq!(common::snapshot_tree(&s.root()), before, "nothing changed");
}

/// A forged memo entry (no key) for a backup that does not parse, laid out so
/// that the skim cannot walk it: the skim declines, and the index built from
/// the same read judges the file unreadable. The forged entry gives no answer
/// from a graph that is not one.
#[test]
fn a_history_through_a_forged_entry_the_skim_declines_finds_the_file_unreadable() {
    use graphvault::store::history::{HistoryOptions, NodeState};
    let s = saved_store(8);
    // Sixteen unmatched brackets: the skim's count never closes the file.
    let (backup, _) = forge_entry_for_damaged_backup(&s, b'[');
    let store = s.open();
    let history = store
        .history("N0", HistoryOptions::default())
        .expect("history");
    let id = backup
        .file_stem()
        .and_then(|n| n.to_str())
        .expect("backup name");
    let damaged = history
        .entries
        .iter()
        .find(|e| e.target.to_string() == id)
        .expect("the damaged backup's entry");
    assert_eq!(damaged.state, NodeState::Unreadable, "{damaged:?}");
    assert!(damaged.index.is_none(), "{damaged:?}");
    assert_eq!(
        history.index_skimmed, 1,
        "the primary was skimmed: {history:?}"
    );
    let cached = fs::read_dir(store.node_index_dir()).map_or(0, |d| d.count());
    assert_eq!(
        cached, 0,
        "no index was cached for the file that does not parse"
    );
}
