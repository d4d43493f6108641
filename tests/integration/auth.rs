use std::fs;

use graphvault::graph::KnowledgeGraph;
use graphvault::store::auth::Key;
use graphvault::store::corrupt::CorruptionKind;
use graphvault::store::meta::Meta;
use graphvault::store::verify::{Depth, Level, Status, Target};

use crate::common;

fn key() -> Key {
    Key::from_bytes(b"a secret kept outside the store").expect("key")
}

#[test]
fn a_keyed_store_signs_its_metas_and_catches_tampering() {
    let s = common::empty_store();
    let store = s.open().with_key(key());
    let text = common::app_graph(4, 2, false, "");
    store
        .save_graph_with_backup(&KnowledgeGraph::from_slice(text.as_bytes()).expect("graph"))
        .expect("save");
    let meta = Meta::from_slice(&fs::read(s.primary_meta()).expect("meta")).expect("json");
    assert_eq!(meta.hmac.as_ref().map(String::len), Some(64));
    let r = store.verify(&Target::Primary, Depth::Full).expect("verify");
    assert_eq!(r.status, Status::Valid);
    assert!(
        r.levels.iter().any(|l| l.detail.contains("HMAC ok")),
        "{:?}",
        r.levels
    );

    // Tampering recomputes the checksum but cannot recompute the HMAC.
    store.mark_sandbox("test").expect("sandbox");
    let report = store.corrupt(CorruptionKind::Tampered).expect("tamper");
    assert!(report.detectable);
    let r = store.verify(&Target::Primary, Depth::Full).expect("verify");
    assert_eq!(
        (r.status, r.failed_level),
        (Status::Corrupt, Some(Level::Checksum))
    );
    assert!(r.reason.expect("reason").contains("HMAC mismatch"));
    // Without the key the same file passes: that is all a checksum can do.
    assert_eq!(
        s.open()
            .verify(&Target::Primary, Depth::Full)
            .expect("verify")
            .status,
        Status::Valid
    );
    // A different key is no key at all.
    let other = s
        .open()
        .with_key(Key::from_bytes(b"some other secret key").expect("key"));
    let backup = other.list_backups().expect("list").backups[0].id.clone();
    let r = other
        .verify(&Target::Backup(backup), Depth::Full)
        .expect("verify");
    assert_eq!(r.status, Status::Corrupt);
}

#[test]
fn unsigned_backups_are_unverified_an_unsigned_primary_fails_and_stripping_does_not_help() {
    let s = common::app_store();
    let keyed = s.open().with_key(key());
    let backup = keyed.list_backups().expect("list").backups[1].id.clone();
    let r = keyed
        .verify(&Target::Backup(backup), Depth::Full)
        .expect("verify");
    assert_eq!(r.status, Status::Unverified);
    assert_eq!(r.authenticated, Some(false));
    // The primary must prove itself: unsigned is a failure, not "usable".
    let r = keyed.verify(&Target::Primary, Depth::Full).expect("verify");
    assert_eq!(r.status, Status::Corrupt);
    assert!(
        r.reason
            .as_deref()
            .unwrap_or("")
            .contains("not authenticated"),
        "{:?}",
        r.reason
    );

    // Sign a save, then tamper and strip the HMAC: still not valid.
    let store = s.open().with_key(key());
    let g =
        KnowledgeGraph::from_slice(common::app_graph(3, 2, false, "").as_bytes()).expect("graph");
    store.save_graph_with_backup(&g).expect("save");
    let mut bytes = fs::read(s.primary()).expect("read");
    let at = bytes.windows(5).position(|w| w == b"price").expect("price") + 8;
    bytes[at] = if bytes[at] == b'9' { b'1' } else { b'9' };
    fs::write(s.primary(), &bytes).expect("tamper");
    let mut meta = Meta::from_slice(&fs::read(s.primary_meta()).expect("meta")).expect("json");
    meta.checksum = Some(common::sha256(&bytes));
    meta.hmac = None;
    fs::write(s.primary_meta(), meta.to_vec()).expect("strip");
    let r = store.verify(&Target::Primary, Depth::Full).expect("verify");
    assert_eq!(
        (r.status, r.failed_level),
        (Status::Corrupt, Some(Level::Checksum)),
        "{:?}",
        r.reason
    );
}

#[test]
fn the_cli_refuses_a_key_inside_the_store_and_uses_one_outside() {
    let s = common::app_store();
    let inside = s.root().join("key");
    fs::write(&inside, "0123456789abcdef0123456789").expect("key");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_graphvault"))
        .args([
            "--store",
            s.root().to_str().expect("utf8"),
            "--key-file",
            inside.to_str().expect("utf8"),
            "snapshot",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("inside the storage directory"));
    let outside = s.dir.path().join("key");
    fs::write(&outside, "0123456789abcdef0123456789").expect("key");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_graphvault"))
            .args([
                "--store",
                s.root().to_str().expect("utf8"),
                "--key-file",
                outside.to_str().expect("utf8"),
                "--json",
            ])
            .args(args)
            .output()
            .expect("run")
    };
    // The application's primary carries no HMAC: a snapshot would sign
    // what it could not authenticate.
    let out = run(&["snapshot"]);
    assert_eq!(out.status.code(), Some(1));
    let input = s.dir.path().join("input.json");
    fs::write(&input, common::app_graph(3, 2, false, "signed")).expect("input");
    let out = run(&["save", "--from", input.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(0));
    let out = run(&["snapshot"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let id = doc["result"]["backup_id"].as_str().expect("id");
    let meta = Meta::from_slice(&fs::read(s.backups().join(format!("{id}.meta"))).expect("meta"))
        .expect("json");
    assert!(meta.hmac.is_some());
}

/// `--key-file K demo` builds the demo with the key: its metas are signed
/// (the two legacy ones stay unsigned, as the application writes them), so
/// the HMAC story can be shown; tampering is then caught at the checksum.
#[test]
fn the_demo_built_with_a_key_file_signs_its_metas() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let key_file = tmp.path().join("demo.key");
    fs::write(&key_file, "a secret kept outside the store").expect("key file");
    let dir = tmp.path().join("demo");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_graphvault"))
            .arg("--key-file")
            .arg(&key_file)
            .args(args)
            .output()
            .expect("run graphvault")
    };
    let dir_text = dir.display().to_string();
    let out = run(&["demo", "--no-ui", "--dir", &dir_text]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("metas signed with the key"), "{said}");
    let with_key = Key::from_file(&key_file, &dir).expect("key");
    let store = graphvault::store::Store::open(&dir)
        .expect("open")
        .with_key(with_key);
    let r = store.verify(&Target::Primary, Depth::Full).expect("verify");
    assert_eq!((r.status, r.authenticated), (Status::Valid, Some(true)));
    let out = run(&["--store", &dir_text, "corrupt", "tampered"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = store.verify(&Target::Primary, Depth::Full).expect("verify");
    assert_eq!(
        (r.status, r.failed_level),
        (Status::Corrupt, Some(Level::Checksum)),
        "{}",
        r.summary()
    );
}
