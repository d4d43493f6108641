//! Off-site copies against a real S3 server (SeaweedFS, see `s3server`):
//! push, list, verify, deep verify, content addressing, damage caught,
//! recovery onto an empty directory, a server killed mid-upload, the
//! three connection failures, encryption, and auto-push.

use std::path::{Path, PathBuf};
use std::process::Command;

use graphvault::remote::push::{PushOptions, PushProgress};
use graphvault::remote::{Remote, RemoteConfig};
use object_store::ObjectStoreExt;
use serde_json::Value;

use crate::common::{self, MetaName, app_graph, app_store, sha256};
use crate::s3server::{self, ACCESS_KEY, SECRET_KEY, Server};

/// Runs the binary with the test server's credentials (or `creds`) and an
/// empty HOME, so no real AWS config is read.
fn gv_with(store: &Path, creds: (&str, &str), args: &[&str]) -> (i32, Value, String) {
    let home = tempfile::tempdir().expect("home");
    let out = Command::new(env!("CARGO_BIN_EXE_graphvault"))
        .arg("--store")
        .arg(store)
        .arg("--json")
        .args(args)
        .env("AWS_ACCESS_KEY_ID", creds.0)
        .env("AWS_SECRET_ACCESS_KEY", creds.1)
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("GRAPHVAULT_AGE_IDENTITY")
        .env("HOME", home.path())
        .output()
        .expect("run graphvault");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let json: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (
        out.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn gv(store: &Path, args: &[&str]) -> (i32, Value) {
    let (code, json, _) = gv_with(store, (ACCESS_KEY, SECRET_KEY), args);
    (code, json)
}

/// `remote add` of bucket/prefix on `server`, with extra flags.
fn add_remote(store: &Path, server: &Server, name: &str, url: &str, extra: &[&str]) {
    let mut args = vec!["remote", "add", name, url, "--endpoint", &server.endpoint];
    args.extend_from_slice(extra);
    let (code, json) = gv(store, &args);
    assert_eq!(code, 0, "remote add: {json}");
}

/// The store's backups that have a meta (the ones a push sends), newest first.
fn pushed_ids(json: &Value) -> Vec<String> {
    json["result"]["sent"]
        .as_array()
        .expect("sent")
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_string())
        .collect()
}

fn remote_ids(store: &Path, name: &str) -> Vec<String> {
    let (code, json) = gv(store, &["remote", "ls", name]);
    assert_eq!(code, 0, "remote ls: {json}");
    json["result"]["backups"]
        .as_array()
        .expect("backups")
        .iter()
        .map(|b| b["id"].as_str().expect("id").to_string())
        .collect()
}

/// Everything of the store but the remotes' state cache (which records a
/// failed push on purpose, so the next one retries and the UI shows it).
fn store_tree(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    common::snapshot_tree(root)
        .into_iter()
        .filter(|(p, _)| !p.starts_with(".graphvault/remotes"))
        .collect()
}

fn raw_store(server: &Server, bucket: &str) -> object_store::aws::AmazonS3 {
    object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region("us-east-1")
        .with_endpoint(&server.endpoint)
        .with_allow_http(true)
        .with_access_key_id(ACCESS_KEY)
        .with_secret_access_key(SECRET_KEY)
        .build()
        .expect("raw S3 client")
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

#[test]
fn push_list_verify_deep_and_a_second_push_sends_nothing() {
    let server = s3server::shared();
    let bucket = server.bucket(&s3server::unique_bucket("push"));
    let s = app_store();
    let root = s.root();
    add_remote(
        &root,
        server,
        "off",
        &format!("s3://{bucket}/team/graph"),
        &[],
    );

    let (code, json) = gv(&root, &["push", "off"]);
    assert_eq!(code, 0, "push: {json}");
    // Three backups have a meta; the fourth has none and is not pushed.
    let sent = pushed_ids(&json);
    assert_eq!(
        sent,
        [
            "graph_20251003_100000",
            "graph_20251002_100000",
            "graph_20251001_100000"
        ]
    );
    assert_eq!(json["result"]["skipped"][0]["id"], "graph_20251003_100500");
    assert!(json["result"]["bytes_sent"].as_u64().expect("bytes") > 0);

    assert_eq!(remote_ids(&root, "off"), sent);
    let (code, json) = gv(&root, &["remote", "ls", "off"]);
    assert_eq!(code, 0);
    assert_eq!(json["result"]["protection"]["object_lock"], false);

    let (code, json) = gv(&root, &["remote", "verify", "off"]);
    assert_eq!(code, 0, "verify: {json}");
    assert_eq!(json["result"]["valid"], 3);
    let levels: Vec<&str> = json["result"]["backups"][0]["levels"]
        .as_array()
        .expect("levels")
        .iter()
        .map(|l| l["level"].as_str().expect("level"))
        .collect();
    assert_eq!(levels, ["manifest", "object", "server_checksum"]);

    let (code, json) = gv(&root, &["remote", "verify", "off", "--deep"]);
    assert_eq!(code, 0, "deep verify: {json}");
    assert_eq!(json["result"]["valid"], 3);
    assert_eq!(json["result"]["backups"][0]["local"]["status"], "valid");
    assert_eq!(
        json["result"]["backups"][0]["local"]["failed_level"],
        Value::Null
    );

    // Nothing new: nothing sent.
    let (code, json) = gv(&root, &["push", "off"]);
    assert_eq!(code, 0);
    assert_eq!(json["result"]["sent"].as_array().expect("sent").len(), 0);
    assert_eq!(json["result"]["already"], 3);
    assert_eq!(json["result"]["bytes_sent"], 0);

    // The same content under a new id: listed, but its data is not sent again.
    let text = app_graph(4, 2, true, "c");
    s.add_backup("20251004_090000", &text, MetaName::Meta);
    let (code, json) = gv(&root, &["push", "off"]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(pushed_ids(&json), ["graph_20251004_090000"]);
    assert_eq!(json["result"]["sent"][0]["data"], "reused");
    assert_eq!(json["result"]["bytes_sent"], 0);
    let (_, listing) = gv(&root, &["remote", "ls", "off"]);
    let keys: std::collections::HashSet<&str> = listing["result"]["backups"]
        .as_array()
        .expect("backups")
        .iter()
        .map(|b| b["data_key"].as_str().expect("key"))
        .collect();
    assert_eq!(
        keys.len(),
        3,
        "four backups, three distinct contents: {listing}"
    );
}

#[test]
fn damage_through_the_s3_api_is_caught_by_verify_and_skipped_by_recovery() {
    let server = s3server::shared();
    let bucket = server.bucket(&s3server::unique_bucket("damage"));
    let s = app_store();
    let root = s.root();
    add_remote(&root, server, "off", &format!("s3://{bucket}/g"), &[]);
    let (code, _) = gv(&root, &["push", "off"]);
    assert_eq!(code, 0);

    // Overwrite the newest backup's data object by hand, as a person (or
    // a bug) with write access to the bucket could.
    let newest = "graph_20251003_100000";
    let text = app_graph(4, 2, true, "c");
    let key = format!("g/data/{}.json", sha256(text.as_bytes()));
    let raw = raw_store(server, &bucket);
    let mut damaged = text.clone().into_bytes();
    damaged[10] ^= 0x20;
    block_on(raw.put(
        &object_store::path::Path::from(key.as_str()),
        damaged.into(),
    ))
    .expect("overwrite through the S3 API");

    let (code, json) = gv(&root, &["remote", "verify", "off"]);
    assert_eq!(code, 1, "verify must find the damage: {json}");
    assert_eq!(json["result"]["corrupt"], 1);
    let bad = &json["result"]["backups"][0];
    assert_eq!(bad["id"], newest);
    assert_eq!(bad["status"], "corrupt");
    assert_eq!(bad["failed_level"], "server_checksum");

    // Recovery onto a new directory skips it and installs the next one.
    let fresh = tempfile::tempdir().expect("fresh");
    let target = fresh.path().join("new-storage");
    let url = format!("s3://{bucket}/g");
    let (code, json) = gv(
        &target,
        &[
            "recover",
            "--from-remote",
            &url,
            "--endpoint",
            &server.endpoint,
        ],
    );
    assert_eq!(code, 0, "recover: {json}");
    let r = &json["result"];
    assert_eq!(r["source"], "remote");
    assert_eq!(r["remote_id"], "graph_20251002_100000");
    assert_eq!(r["candidates"][0]["id"], newest);
    assert_eq!(r["candidates"][0]["status"], "corrupt");
    assert_eq!(r["candidates"][1]["status"], "valid");
    let expected = app_graph(3, 2, false, "b");
    assert_eq!(
        std::fs::read(target.join("graph.json")).expect("primary"),
        expected.as_bytes()
    );
}

#[test]
fn recovery_onto_an_empty_directory_gives_the_pushed_bytes() {
    let server = s3server::shared();
    let bucket = server.bucket(&s3server::unique_bucket("recover"));
    let s = app_store();
    let root = s.root();
    add_remote(&root, server, "off", &format!("s3://{bucket}"), &[]);
    assert_eq!(gv(&root, &["push"]).0, 0);
    let newest = std::fs::read(s.backups().join("graph_20251003_100000.json")).expect("newest");

    let fresh = tempfile::tempdir().expect("fresh");
    let target = fresh.path().join("storage");
    let url = format!("s3://{bucket}");
    // A dry run writes nothing, not even the directory.
    let (code, json) = gv(
        &target,
        &[
            "recover",
            "--from-remote",
            &url,
            "--endpoint",
            &server.endpoint,
            "--dry-run",
        ],
    );
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["result"]["remote_id"], "graph_20251003_100000");
    assert!(!target.exists());

    let (code, json) = gv(
        &target,
        &[
            "recover",
            "--from-remote",
            &url,
            "--endpoint",
            &server.endpoint,
        ],
    );
    assert_eq!(code, 0, "{json}");
    assert_eq!(
        std::fs::read(target.join("graph.json")).expect("primary"),
        newest
    );
    // Installed as a local backup too, byte for byte, meta included.
    let local = target.join("backups/graph_20251003_100000.json");
    assert_eq!(std::fs::read(&local).expect("local backup"), newest);
    assert_eq!(
        std::fs::read(target.join("backups/graph_20251003_100000.meta")).expect("meta"),
        std::fs::read(s.backups().join("graph_20251003_100000.meta")).expect("meta")
    );
    let (code, json) = gv(&target, &["verify"]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["result"]["status"], "valid");

    // `remote restore NAME ID` fetches a chosen one.
    add_remote(&target, server, "off", &url, &[]);
    let (code, json) = gv(
        &target,
        &["remote", "restore", "off", "graph_20251001_100000"],
    );
    assert_eq!(code, 0, "{json}");
    assert_eq!(
        std::fs::read(target.join("graph.json")).expect("primary"),
        app_graph(2, 1, false, "a").as_bytes()
    );
    assert!(
        std::fs::read_dir(target.join(".graphvault/evidence"))
            .expect("evidence")
            .count()
            > 0,
        "the replaced primary is kept"
    );
}

#[test]
fn connection_failures_are_clear_and_change_nothing_local() {
    let server = s3server::shared();
    let bucket = server.bucket(&s3server::unique_bucket("fail"));
    let s = app_store();
    let root = s.root();
    add_remote(&root, server, "off", &format!("s3://{bucket}/x"), &[]);
    add_remote(
        &root,
        server,
        "nobucket",
        "s3://gv-no-such-bucket-here/x",
        &[],
    );
    let refused_port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let (code, json) = gv(
        &root,
        &[
            "remote",
            "add",
            "down",
            &format!("s3://{bucket}/x"),
            "--endpoint",
            &format!("http://127.0.0.1:{refused_port}"),
        ],
    );
    assert_eq!(code, 0, "{json}");
    let before = store_tree(&root);

    let (code, json, _) = gv_with(&root, (ACCESS_KEY, "not-the-secret"), &["push", "off"]);
    assert_eq!(code, 7, "{json}");
    assert_eq!(json["error"]["kind"], "remote_auth");
    assert!(
        !json.to_string().contains("not-the-secret"),
        "secret leaked: {json}"
    );

    let (code, json) = gv(&root, &["push", "down"]);
    assert_eq!(code, 7, "{json}");
    assert_eq!(json["error"]["kind"], "remote_unreachable");
    assert!(
        json["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("could not be reached"),
        "{json}"
    );

    let (code, json) = gv(&root, &["push", "nobucket"]);
    assert_eq!(code, 7, "{json}");
    assert_eq!(json["error"]["kind"], "remote_no_bucket");
    assert!(
        json["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("gv-no-such-bucket-here")
    );

    for args in [["remote", "ls", "down"], ["remote", "verify", "down"]] {
        let (code, json) = gv(&root, &args);
        assert_eq!(code, 7, "{args:?}: {json}");
    }
    assert_eq!(store_tree(&root), before, "nothing local may change");
    // The failure is remembered for the next push and the UI.
    let (_, list) = gv(&root, &["remote", "list"]);
    assert_eq!(list["ok"], true);
}

fn key_file(dir: &Path, name: &str) -> PathBuf {
    use age::secrecy::ExposeSecret;
    let id = age::x25519::Identity::generate();
    let path = dir.join(name);
    std::fs::write(&path, format!("{}\n", id.to_string().expose_secret())).expect("key");
    path
}

#[test]
fn encryption_round_trips_and_a_wrong_key_is_refused() {
    let server = s3server::shared();
    let bucket = server.bucket(&s3server::unique_bucket("age"));
    let keys = tempfile::tempdir().expect("keys");
    let key = key_file(keys.path(), "graph.key");
    let wrong = key_file(keys.path(), "other.key");
    let s = app_store();
    let root = s.root();

    // A key file inside the store is refused.
    let inside = key_file(&root, "inside.key");
    let (code, json) = gv(
        &root,
        &[
            "remote",
            "add",
            "bad",
            "s3://x-bucket",
            "--encrypt-key-file",
            inside.to_str().expect("path"),
        ],
    );
    assert_eq!(code, 2, "{json}");

    let url = format!("s3://{bucket}/enc");
    add_remote(
        &root,
        server,
        "off",
        &url,
        &["--encrypt-key-file", key.to_str().expect("path")],
    );
    let (code, json) = gv(&root, &["push", "off"]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["result"]["encrypted"], true);

    // What the server holds is an age file, not the graph.
    let text = app_graph(4, 2, true, "c");
    let obj = format!("enc/data/{}.json.age", sha256(text.as_bytes()));
    let raw = raw_store(server, &bucket);
    let stored = block_on(async {
        raw.get(&object_store::path::Path::from(obj.as_str()))
            .await?
            .bytes()
            .await
    })
    .expect("get the object");
    assert!(stored.starts_with(b"age-encryption.org/v1\n"));
    assert!(!stored.windows(10).any(|w| w == &text.as_bytes()[..10]));

    let (code, json) = gv(&root, &["remote", "verify", "off", "--deep"]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["result"]["valid"], 3);

    let fresh = tempfile::tempdir().expect("fresh");
    let target = fresh.path().join("storage");
    let (code, json) = gv(
        &target,
        &[
            "recover",
            "--from-remote",
            &url,
            "--endpoint",
            &server.endpoint,
            "--identity-file",
            wrong.to_str().expect("path"),
        ],
    );
    assert_eq!(code, 5, "a wrong key must be refused: {json}");
    assert_eq!(json["error"]["kind"], "wrong_key");
    assert!(
        !target.join("graph.json").exists(),
        "nothing installed with a wrong key"
    );

    let (code, json) = gv(
        &target,
        &[
            "recover",
            "--from-remote",
            &url,
            "--endpoint",
            &server.endpoint,
            "--identity-file",
            key.to_str().expect("path"),
        ],
    );
    assert_eq!(code, 0, "{json}");
    assert_eq!(
        std::fs::read(target.join("graph.json")).expect("primary"),
        text.as_bytes()
    );
}

#[test]
fn a_failing_auto_push_leaves_the_save_committed_and_the_next_push_retries() {
    let server = s3server::shared();
    let bucket = server.bucket(&s3server::unique_bucket("auto"));
    let s = app_store();
    let root = s.root();
    add_remote(
        &root,
        server,
        "off",
        &format!("s3://{bucket}/a"),
        &["--auto-push"],
    );
    let input = s.dir.path().join("input.json");
    let text = app_graph(6, 2, false, "new");
    std::fs::write(&input, &text).expect("input");

    let (code, json, _) = gv_with(
        &root,
        (ACCESS_KEY, "wrong-secret"),
        &[
            "save",
            "--from",
            input.to_str().expect("path"),
            "--no-rotate",
        ],
    );
    assert_eq!(code, 0, "the save must succeed: {json}");
    assert_eq!(json["result"]["auto_push"][0]["ok"], false);
    assert_eq!(json["result"]["node_count"], 6);
    let backup = json["result"]["backup_id"]
        .as_str()
        .expect("backup id")
        .to_string();
    let (code, json) = gv(&root, &["verify"]);
    assert_eq!(code, 0, "{json}");

    let (code, json) = gv(&root, &["remote", "list"]);
    assert_eq!(code, 0, "{json}");
    // The next push (right credentials) sends it, and the one before.
    let (code, json) = gv(&root, &["push"]);
    assert_eq!(code, 0, "{json}");
    assert!(remote_ids(&root, "off").contains(&backup));

    // With working credentials, a save pushes by itself.
    std::fs::write(&input, app_graph(7, 2, false, "newer")).expect("input");
    let (code, json) = gv(
        &root,
        &[
            "save",
            "--from",
            input.to_str().expect("path"),
            "--no-rotate",
        ],
    );
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["result"]["auto_push"][0]["ok"], true, "{json}");
    assert_eq!(json["result"]["auto_push"][0]["sent"], 1);

    // A partial restore is a save with its own backup: pushed like one.
    let (code, json) = gv(
        &root,
        &["restore", &backup, "--nodes", "N0", "--prefer", "backup"],
    );
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["result"]["auto_push"][0]["ok"], true, "{json}");
    assert_eq!(json["result"]["auto_push"][0]["sent"], 1, "{json}");
}

/// A backup large enough for a multipart upload (about 12 MB).
fn big_store() -> common::AppStore {
    let s = common::empty_store();
    std::fs::create_dir_all(s.backups()).expect("backups");
    s.add_backup(
        "20251005_120000",
        &app_graph(24_000, 2, false, "big"),
        MetaName::Meta,
    );
    s
}

/// Every object under `prefix` in `bucket`, straight from the server.
fn raw_keys(server: &Server, bucket: &str, prefix: &str) -> Vec<String> {
    use graphvault::remote::ObjectBackend;
    server
        .backend(bucket)
        .list(prefix)
        .expect("raw list")
        .into_iter()
        .map(|o| o.key)
        .collect()
}

/// Kills the server after the first part of a multipart upload, checks
/// nothing partial is listed (as a backup, or as an object), restarts it,
/// and checks the next push resumes: only the missing parts go up, and
/// what is on the remote verifies deeply.
fn killed_mid_multipart_then_resumed(encrypted: bool) {
    // Its own server: this test kills it.
    let mut server = Server::start();
    let bucket = server.bucket("gv-kill");
    let s = big_store();
    let keys = tempfile::tempdir().expect("keys");
    let store = graphvault::store::Store::open(s.root()).expect("store");
    let mut config: RemoteConfig = server.config("off", &bucket, "k");
    if encrypted {
        config.encryption = Some(graphvault::remote::Encryption::KeyFile {
            path: key_file(keys.path(), "graph.key"),
        });
    }
    let remote = Remote::open_with_credentials(&config, Some(s3server::credentials()), None)
        .expect("remote");
    let options = PushOptions {
        part_size: 5 << 20,
        multipart_threshold: 6 << 20,
    };
    let killed = std::cell::Cell::new(false);
    let kill_after_first_part = |p: &PushProgress| {
        if p.parts_done == 1 && !killed.get() {
            killed.set(true);
            server.kill();
        }
    };
    let err = graphvault::remote::push::push(&store, &remote, &options, &kill_after_first_part)
        .expect_err("the push must fail when the server dies");
    assert!(killed.get(), "the server was killed mid-upload");
    assert!(
        matches!(err, graphvault::remote::RemoteError::Unreachable { .. }),
        "{err}"
    );
    let staged = s.root().join(".graphvault/remotes/off.staged.age");
    assert_eq!(
        staged.is_file(),
        encrypted,
        "an encrypted upload keeps its ciphertext staged for the resume"
    );

    server.restart();
    let remote = Remote::open_with_credentials(&config, Some(s3server::credentials()), None)
        .expect("remote");
    let listing = graphvault::remote::inspect::list(&remote).expect("list");
    assert!(
        listing.backups.is_empty(),
        "nothing partial is listed: {listing:?}"
    );
    assert_eq!(
        raw_keys(&server, &bucket, "k"),
        Vec::<String>::new(),
        "no object, not even a data object, exists before the upload completes"
    );

    let report = graphvault::remote::push::push(&store, &remote, &options, &|_| {}).expect("push");
    assert_eq!(report.sent.len(), 1, "{report:?}");
    assert_eq!(report.sent[0].data, "resumed", "{report:?}");
    let size = std::fs::metadata(s.backups().join("graph_20251005_120000.json"))
        .expect("size")
        .len();
    assert!(size > 12 << 20, "three parts: {size}");
    let stored: Vec<_> = {
        use graphvault::remote::ObjectBackend;
        server.backend(&bucket).list("k/data/").expect("list")
    };
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(
        report.bytes_sent,
        stored[0].size - (5 << 20),
        "only the parts not sent before go up (stored {} bytes): {report:?}",
        stored[0].size
    );
    assert!(
        !staged.exists(),
        "the staged ciphertext is gone once complete"
    );
    let verify = graphvault::remote::inspect::verify(
        &remote,
        &graphvault::remote::inspect::RemoteVerifyOptions {
            deep: true,
            id: None,
        },
        None,
    )
    .expect("verify");
    assert_eq!(verify.valid, 1, "{verify:?}");
    let state = graphvault::remote::state::load(&store, "off");
    assert!(state.upload.is_none(), "no upload left pending: {state:?}");
    server.kill();
}

#[test]
fn a_server_killed_mid_multipart_lists_nothing_partial_and_the_next_push_resumes() {
    killed_mid_multipart_then_resumed(false);
}

#[test]
fn an_encrypted_multipart_upload_killed_midway_resumes_from_its_staged_ciphertext() {
    killed_mid_multipart_then_resumed(true);
}

#[test]
fn a_multipart_completion_never_replaces_an_object_that_appeared_meanwhile() {
    use graphvault::remote::ObjectBackend;
    use graphvault::remote::backend::PutOutcome;
    use object_store::multipart::MultipartStore;

    let server = s3server::shared();
    let bucket = server.bucket(&s3server::unique_bucket("race"));
    let backend = server.backend(&bucket);
    let part = vec![7u8; 1 << 20];

    // Another writer creates the key between the first part and the end.
    let upload = backend.multipart_begin("race/a").expect("begin");
    let id = backend
        .multipart_part("race/a", &upload, 0, part.clone())
        .expect("part");
    assert_eq!(
        backend
            .put_create("race/a", b"theirs".to_vec())
            .expect("put"),
        PutOutcome::Created
    );
    assert_eq!(
        backend
            .multipart_complete("race/a", &upload, vec![id])
            .expect("complete"),
        PutOutcome::AlreadyExists
    );
    assert_eq!(
        backend.get("race/a", 1 << 30).expect("get"),
        b"theirs",
        "the object that was there first is untouched"
    );
    backend.multipart_abort("race/a", &upload).expect("abort");

    // On a free key it completes, with the parts' composite checksum.
    let upload = backend.multipart_begin("race/b").expect("begin");
    let id = backend
        .multipart_part("race/b", &upload, 0, part.clone())
        .expect("part");
    assert_eq!(
        backend
            .multipart_complete("race/b", &upload, vec![id])
            .expect("complete"),
        PutOutcome::Created
    );
    assert_eq!(backend.get("race/b", 1 << 30).expect("get"), part);
    let checksum = backend.server_checksum("race/b").expect("checksum");
    assert!(
        checksum.as_deref().is_some_and(|c| c.ends_with("-1")),
        "{checksum:?}"
    );

    // Negative control: object_store's own completion, which sends no
    // If-None-Match, replaces the object; the check above would catch it.
    let raw = raw_store(server, &bucket);
    let path = object_store::path::Path::from("race/a");
    block_on(async {
        let id = raw.create_multipart(&path).await?;
        let p = raw.put_part(&path, &id, 0, part.clone().into()).await?;
        raw.complete_multipart(&path, &id, vec![p]).await
    })
    .expect("overwriting completion");
    assert_eq!(backend.get("race/a", 1 << 30).expect("get"), part);
}

#[test]
fn a_push_whose_data_key_is_taken_mid_upload_overwrites_nothing_and_lists_nothing() {
    let server = s3server::shared();
    let bucket = server.bucket(&s3server::unique_bucket("taken"));
    let s = big_store();
    let store = graphvault::store::Store::open(s.root()).expect("store");
    let config: RemoteConfig = server.config("off", &bucket, "t");
    let remote = Remote::open_with_credentials(&config, Some(s3server::credentials()), None)
        .expect("remote");
    let options = PushOptions {
        part_size: 5 << 20,
        multipart_threshold: 6 << 20,
    };
    let bytes = std::fs::read(s.backups().join("graph_20251005_120000.json")).expect("backup");
    let data_key = format!("t/data/{}.json", sha256(&bytes));
    let raw = raw_store(server, &bucket);
    let taken = std::cell::Cell::new(false);
    let take_the_key = |p: &PushProgress| {
        if p.parts_done == 1 && !taken.get() {
            taken.set(true);
            block_on(raw.put(
                &object_store::path::Path::from(data_key.as_str()),
                b"someone else's".to_vec().into(),
            ))
            .expect("put");
        }
    };
    let report =
        graphvault::remote::push::push(&store, &remote, &options, &take_the_key).expect("push");
    assert!(taken.get());
    assert!(report.sent.is_empty(), "{report:?}");
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(
        report.failed[0].reason.contains("not overwritten"),
        "{report:?}"
    );
    let got = block_on(async {
        raw.get(&object_store::path::Path::from(data_key.as_str()))
            .await?
            .bytes()
            .await
    })
    .expect("get");
    assert_eq!(&got[..], b"someone else's", "the object is untouched");
    let listing = graphvault::remote::inspect::list(&remote).expect("list");
    assert!(listing.backups.is_empty(), "nothing listed: {listing:?}");
}

/// Figures for docs/PERFORMANCE.md, not a timed test (nothing asserted on
/// time): push and remote recovery of a 77 MB graph against the floor of
/// the same server, a raw multipart upload and a raw download of the same
/// bytes in the same part size. Run once, late, with
/// `cargo test --release --test integration remote::figures -- --ignored --nocapture`.
#[test]
#[ignore = "prints figures for docs/PERFORMANCE.md; run by hand"]
fn figures_push_and_recovery_of_a_77_mb_graph_against_raw_transfers() {
    use graphvault::remote::fetch::FetchOptions;
    use object_store::multipart::MultipartStore;
    use std::time::Instant;

    let server = s3server::shared();
    let bucket = server.bucket(&s3server::unique_bucket("figures"));
    let s = common::empty_store();
    let store = graphvault::store::Store::open(s.root()).expect("store");
    let graph = graphvault::generate::graph_near_bytes(77_000_000, 7);
    store.save_graph_with_backup(&graph).expect("save");
    let listing = store.list_backups().expect("list");
    let backup = &listing.backups[0];
    let bytes = std::fs::read(&backup.data_path).expect("read backup");
    let mb = bytes.len() as f64 / 1e6;
    let config = server.config("off", &bucket, "fig");
    let remote = Remote::open_with_credentials(&config, Some(s3server::credentials()), None)
        .expect("remote");

    let t = Instant::now();
    let report = graphvault::remote::push::push(&store, &remote, &PushOptions::default(), &|_| {})
        .expect("push");
    let push_s = t.elapsed().as_secs_f64();
    assert_eq!(report.sent.len(), 1);

    // The same graph in a store whose backups are zstd frames: the push
    // sends the frame as it is.
    let z = common::empty_store();
    let mut zstore = graphvault::store::Store::open(z.root()).expect("store");
    zstore.set_setting("compression", "zstd").expect("set");
    zstore.save_graph_with_backup(&graph).expect("save");
    let zconfig = server.config("zst", &bucket, "fig-zst");
    let zremote = Remote::open_with_credentials(&zconfig, Some(s3server::credentials()), None)
        .expect("remote");
    let t = Instant::now();
    let zreport =
        graphvault::remote::push::push(&zstore, &zremote, &PushOptions::default(), &|_| {})
            .expect("compressed push");
    let zpush_s = t.elapsed().as_secs_f64();
    assert_eq!(zreport.sent.len(), 1);

    // The same push encrypted: age on the way, the ciphertext staged on
    // local disk so that an interrupted upload resumes.
    let keys = tempfile::tempdir().expect("keys");
    let mut enc_config = server.config("enc", &bucket, "fig-enc");
    enc_config.encryption = Some(graphvault::remote::Encryption::KeyFile {
        path: key_file(keys.path(), "fig.key"),
    });
    let enc_remote =
        Remote::open_with_credentials(&enc_config, Some(s3server::credentials()), None)
            .expect("remote");
    let t = Instant::now();
    let enc_report =
        graphvault::remote::push::push(&store, &enc_remote, &PushOptions::default(), &|_| {})
            .expect("encrypted push");
    let enc_push_s = t.elapsed().as_secs_f64();
    assert_eq!(enc_report.sent.len(), 1);

    // The floor: the same bytes, the same server, the same 8 MiB parts,
    // with SHA-256 checksums, and nothing else (no hashing of the file,
    // no manifest, no read-back).
    let raw = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(&bucket)
        .with_region("us-east-1")
        .with_endpoint(&server.endpoint)
        .with_allow_http(true)
        .with_access_key_id(ACCESS_KEY)
        .with_secret_access_key(SECRET_KEY)
        .with_checksum_algorithm(object_store::aws::Checksum::SHA256)
        .build()
        .expect("raw client");
    let path = object_store::path::Path::from("raw/floor.json");
    let t = Instant::now();
    block_on(async {
        let id = raw.create_multipart(&path).await?;
        let mut parts = Vec::new();
        for (i, chunk) in bytes.chunks(8 << 20).enumerate() {
            parts.push(raw.put_part(&path, &id, i, chunk.to_vec().into()).await?);
        }
        raw.complete_multipart(&path, &id, parts).await
    })
    .expect("raw upload");
    let raw_up_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let got = block_on(async { raw.get(&path).await?.bytes().await }).expect("raw download");
    let raw_down_s = t.elapsed().as_secs_f64();
    assert_eq!(got.len(), bytes.len());

    let fresh = tempfile::tempdir().expect("fresh");
    let target = graphvault::store::Store::open(fresh.path().join("storage")).expect("target");
    let t = Instant::now();
    let rec = graphvault::remote::fetch::recover(&target, &remote, FetchOptions::default())
        .expect("recover");
    let recover_s = t.elapsed().as_secs_f64();
    assert_eq!(
        rec.installed_as.as_ref().map(|i| i.to_string()),
        Some(backup.id.to_string())
    );
    assert_eq!(
        std::fs::read(fresh.path().join("storage/graph.json")).expect("primary"),
        bytes
    );

    println!("graph: {mb:.1} MB, {} nodes", graph.node_count());
    println!(
        "push (hash, 8 MiB parts with SHA-256, read back checksum, manifest): {push_s:.2} s, {:.0} MB/s",
        mb / push_s
    );
    println!(
        "raw multipart upload of the same bytes (floor): {raw_up_s:.2} s, {:.0} MB/s; push/floor {:.2}x",
        mb / raw_up_s,
        push_s / raw_up_s
    );
    println!(
        "push of the same graph from a compressed store (the zstd frame as stored): {zpush_s:.2} s, {} bytes sent against {} for the plain push ({:.1}%)",
        zreport.bytes_sent,
        report.bytes_sent,
        zreport.bytes_sent as f64 * 100.0 / report.bytes_sent as f64
    );
    println!(
        "push encrypted (age, ciphertext staged on disk, 8 MiB parts, read back, manifest): {enc_push_s:.2} s, {:.0} MB/s; {:.2}x the floor",
        mb / enc_push_s,
        enc_push_s / raw_up_s
    );
    println!(
        "recover onto an empty directory (download, checksum, full ladder, install, restore): {recover_s:.2} s"
    );
    println!(
        "raw download of the same bytes (floor): {raw_down_s:.2} s, {:.0} MB/s; recover/floor {:.2}x",
        mb / raw_down_s,
        recover_s / raw_down_s
    );
}

/// A request to the test server signed with its credentials, for what
/// graphvault itself never does (turning versioning on, creating a bucket
/// with object lock, listing object versions): `(status, body)`.
fn signed(
    server: &Server,
    bucket: &str,
    method: http::Method,
    query: &[(&str, &str)],
    headers: &[(&'static str, &str)],
    body: &str,
) -> (u16, String) {
    use object_store::client::{HttpConnector, HttpRequest, HttpRequestBody, ReqwestConnector};
    use object_store::signer::{SignedUrlOptions, Signer};
    let store = raw_store(server, bucket);
    let mut options = SignedUrlOptions::new().with_query(query.iter().copied());
    for (name, value) in headers {
        options = options.with_signed_header(
            http::HeaderName::from_static(name),
            http::HeaderValue::from_str(value).expect("header value"),
        );
    }
    let client = ReqwestConnector::default()
        .connect(&object_store::ClientOptions::new().with_allow_http(true))
        .expect("http client");
    block_on(async {
        let url = store
            .signed_url_opts(
                method.clone(),
                &object_store::path::Path::from(""),
                std::time::Duration::from_secs(300),
                &options,
            )
            .await
            .expect("sign");
        let mut request = HttpRequest::new(HttpRequestBody::from(body.as_bytes().to_vec()));
        *request.method_mut() = method;
        *request.uri_mut() = url.as_str().parse().expect("uri");
        for (name, value) in headers {
            request.headers_mut().insert(
                http::HeaderName::from_static(name),
                http::HeaderValue::from_str(value).expect("header value"),
            );
        }
        let response = client.execute(request).await.expect("request");
        let status = response.status().as_u16();
        let body = response.into_body().bytes().await.expect("body");
        (status, String::from_utf8_lossy(&body).into_owned())
    })
}

/// A store with five backups with metas, a day apart.
fn five_backups() -> common::AppStore {
    let s = common::empty_store();
    std::fs::create_dir_all(s.backups()).expect("backups");
    for (i, ts) in [
        "20251001_100000",
        "20251002_100000",
        "20251003_100000",
        "20251004_100000",
        "20251005_100000",
    ]
    .iter()
    .enumerate()
    {
        s.add_backup(ts, &app_graph(3 + i, 2, false, ts), MetaName::Meta);
    }
    s
}

#[test]
fn remote_rotate_is_a_dry_run_by_default_keeps_the_newest_valid_and_the_floor() {
    let server = s3server::shared();
    let bucket = server.bucket(&s3server::unique_bucket("rotate"));
    let s = five_backups();
    let root = s.root();
    add_remote(&root, server, "off", &format!("s3://{bucket}/r"), &[]);
    let (code, json) = gv(&root, &["push", "off"]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(remote_ids(&root, "off").len(), 5);
    // The newest remote backup is damaged through the S3 API.
    let newest = std::fs::read(s.backups().join("graph_20251005_100000.json")).expect("backup");
    let raw = raw_store(server, &bucket);
    block_on(raw.put(
        &object_store::path::Path::from(format!("r/data/{}.json", sha256(&newest))),
        b"{}".to_vec().into(),
    ))
    .expect("damage");

    let policy = ["--keep-last", "1", "--min-valid", "2"];
    let mut args = vec!["remote", "rotate", "off"];
    args.extend(policy);
    let (code, json) = gv(&root, &args);
    assert_eq!(code, 0, "{json}");
    let r = &json["result"];
    assert_eq!(r["dry_run"], true, "a dry run unless --apply: {r}");
    assert_eq!(r["removed"], serde_json::json!([]), "{r}");
    assert_eq!(
        remote_ids(&root, "off").len(),
        5,
        "nothing removed by a dry run"
    );
    let decisions = r["plan"]["decisions"].as_array().expect("decisions");
    let decision = |id: &str| {
        decisions
            .iter()
            .find(|d| d["id"] == id)
            .unwrap_or_else(|| panic!("no decision for {id}: {r}"))
    };
    let reasons = |id: &str| decision(id)["reasons"].to_string();
    // The damaged one is kept aside, not counted, never removed.
    assert_eq!(decision("graph_20251005_100000")["action"], "keep");
    assert!(reasons("graph_20251005_100000").contains("corrupt"), "{r}");
    // The newest valid one is always kept; the floor keeps a second.
    assert_eq!(decision("graph_20251004_100000")["action"], "keep");
    assert!(
        reasons("graph_20251004_100000").contains("newest valid backup (always kept)"),
        "{r}"
    );
    assert_eq!(decision("graph_20251003_100000")["action"], "keep");
    assert!(
        reasons("graph_20251003_100000").contains("floor: keeps at least 2 valid backups"),
        "{r}"
    );
    for id in ["graph_20251002_100000", "graph_20251001_100000"] {
        assert_eq!(decision(id)["action"], "remove", "{r}");
        assert!(
            decision(id)["reasons"]
                .as_array()
                .is_some_and(|a| !a.is_empty()),
            "every decision has its reasons: {r}"
        );
    }

    args.push("--apply");
    let (code, json) = gv(&root, &args);
    assert_eq!(code, 0, "{json}");
    let mut removed: Vec<String> = json["result"]["removed"]
        .as_array()
        .expect("removed")
        .iter()
        .map(|v| v.as_str().expect("id").to_string())
        .collect();
    removed.sort();
    assert_eq!(
        removed,
        vec!["graph_20251001_100000", "graph_20251002_100000"]
    );
    assert_eq!(
        remote_ids(&root, "off"),
        vec![
            "graph_20251005_100000",
            "graph_20251004_100000",
            "graph_20251003_100000"
        ]
    );
    assert_eq!(
        raw_keys(server, &bucket, "r/data/").len(),
        3,
        "the removed backups' data objects are gone too"
    );
    // Local backups are the local policy's business: untouched.
    assert_eq!(std::fs::read_dir(s.backups()).expect("backups").count(), 10);
}

#[test]
fn a_versioned_bucket_is_named_by_remote_ls_and_its_old_versions_are_left_alone() {
    let server = s3server::shared();
    let bucket = server.bucket(&s3server::unique_bucket("versions"));
    let (status, body) = signed(
        server,
        &bucket,
        http::Method::PUT,
        &[("versioning", "")],
        &[],
        r#"<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>"#,
    );
    assert_eq!(status, 200, "turn versioning on: {body}");
    let s = five_backups();
    let root = s.root();
    add_remote(&root, server, "off", &format!("s3://{bucket}/v"), &[]);
    let (code, json) = gv(&root, &["push", "off"]);
    assert_eq!(code, 0, "{json}");

    let (code, json) = gv(&root, &["remote", "ls", "off"]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(
        json["result"]["protection"]["versioning"], "Enabled",
        "{json}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_graphvault"))
        .arg("--store")
        .arg(&root)
        .args(["remote", "ls", "off"])
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("HOME", root.join("no-home"))
        .output()
        .expect("remote ls");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("versioning enabled: deleted or replaced objects stay as old versions"),
        "{text}"
    );

    let (code, json) = gv(
        &root,
        &[
            "remote",
            "rotate",
            "off",
            "--keep-last",
            "1",
            "--min-valid",
            "1",
            "--apply",
        ],
    );
    assert_eq!(code, 0, "{json}");
    let r = &json["result"];
    assert_eq!(r["removed"].as_array().map(Vec::len), Some(4), "{r}");
    assert_eq!(r["refused"], serde_json::json!([]), "{r}");
    assert!(
        r["notes"].to_string().contains("the bucket keeps versions"),
        "rotate says what versioning does with its deletes: {r}"
    );
    assert_eq!(remote_ids(&root, "off"), vec!["graph_20251005_100000"]);
    // Never fights versioning: every removed manifest is still there as an
    // old version (graphvault deletes no version; the bucket's lifecycle
    // rules decide).
    let (status, versions) = signed(
        server,
        &bucket,
        http::Method::GET,
        &[("versions", "")],
        &[],
        "",
    );
    assert_eq!(status, 200, "{versions}");
    for id in [
        "graph_20251001_100000",
        "graph_20251002_100000",
        "graph_20251003_100000",
        "graph_20251004_100000",
    ] {
        let key = format!("v/backups/{id}.manifest.json");
        assert!(
            versions.contains(&format!("<Key>{key}</Key>")),
            "{key} kept as an old version:\n{versions}"
        );
    }
    assert!(
        versions.contains("<DeleteMarker>"),
        "the deletes are delete markers:\n{versions}"
    );
}

#[test]
fn a_bucket_with_object_lock_is_named_and_its_locked_versions_stay() {
    let server = s3server::shared();
    let bucket = s3server::unique_bucket("locked");
    let (status, body) = signed(
        server,
        &bucket,
        http::Method::PUT,
        &[],
        &[("x-amz-bucket-object-lock-enabled", "true")],
        "",
    );
    assert_eq!(status, 200, "create a bucket with object lock: {body}");
    // Every new object locked for a day, in compliance mode (nobody may
    // delete a locked version before then).
    let (status, body) = signed(
        server,
        &bucket,
        http::Method::PUT,
        &[("object-lock", "")],
        &[],
        r#"<ObjectLockConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Days>1</Days></DefaultRetention></Rule></ObjectLockConfiguration>"#,
    );
    assert_eq!(status, 200, "default retention: {body}");
    let s = five_backups();
    let root = s.root();
    add_remote(&root, server, "off", &format!("s3://{bucket}/l"), &[]);
    let (code, json) = gv(&root, &["push", "off"]);
    assert_eq!(code, 0, "{json}");
    let (code, json) = gv(&root, &["remote", "ls", "off"]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["result"]["protection"]["object_lock"], true, "{json}");
    let (code, json) = gv(
        &root,
        &[
            "remote",
            "rotate",
            "off",
            "--keep-last",
            "1",
            "--min-valid",
            "1",
        ],
    );
    assert_eq!(code, 0, "{json}");
    assert!(
        json["result"]["notes"].to_string().contains("object lock"),
        "{json}"
    );
    assert_eq!(
        remote_ids(&root, "off").len(),
        5,
        "a dry run removes nothing"
    );
    // Applied: the removals are delete markers (what S3 allows on a locked
    // bucket); graphvault asks for nothing more, and every locked version
    // is still there.
    let (code, json) = gv(
        &root,
        &[
            "remote",
            "rotate",
            "off",
            "--keep-last",
            "1",
            "--min-valid",
            "1",
            "--apply",
        ],
    );
    assert_eq!(code, 0, "{json}");
    assert_eq!(
        json["result"]["removed"].as_array().map(Vec::len),
        Some(4),
        "{json}"
    );
    assert_eq!(remote_ids(&root, "off"), vec!["graph_20251005_100000"]);
    let (status, versions) = signed(
        server,
        &bucket,
        http::Method::GET,
        &[("versions", "")],
        &[],
        "",
    );
    assert_eq!(status, 200, "{versions}");
    assert_eq!(
        versions.matches("<Version>").count(),
        10,
        "five manifests and five data objects, each version kept:\n{versions}"
    );
    assert_eq!(versions.matches("<DeleteMarker>").count(), 8, "{versions}");
}

/// Runs `cmd`, failing (never skipping) with what it printed.
fn run_tool(cmd: &mut Command, what: &str) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: could not run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Installs a tool once per target directory, under a lock shared by the
/// test binaries: `install` runs only when `bin` is not there yet.
fn tool(bin: PathBuf, lock: &str, install: impl FnOnce()) -> PathBuf {
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .to_path_buf();
    if bin.is_file() {
        return bin;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(target.join(lock))
        .expect("lock file");
    // Blocks while another test binary installs.
    file.lock().unwrap_or_else(|e| panic!("lock {lock}: {e}"));
    if !bin.is_file() {
        install();
    }
    assert!(bin.is_file(), "{} was not installed", bin.display());
    bin
}

/// `rage`, the age format's Rust command-line tool, with the same flags as
/// Go's `age` (`-d -i KEY -o OUT FILE`), built from crates.io into the
/// target directory on first use (cargo is all it needs).
fn rage() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("age-tools");
    let bin = root.join("bin").join("rage");
    let target_dir = root.join("build");
    tool(bin, "age-tools.lock", || {
        run_tool(
            Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args([
                    "install",
                    "--locked",
                    "--quiet",
                    "rage",
                    "--version",
                    "0.12.1",
                ])
                .arg("--root")
                .arg(&root)
                .arg("--target-dir")
                .arg(&target_dir),
            "cargo install rage",
        );
    })
}

/// The runbook's way without graphvault: fetch the data object with any
/// S3 tool, decrypt it with an age tool and the key file, and check the
/// result against the meta's checksum.
#[test]
fn a_pushed_encrypted_backup_decrypts_with_the_age_command_line_tools() {
    let server = s3server::shared();
    let bucket = server.bucket(&s3server::unique_bucket("agecli"));
    let keys = tempfile::tempdir().expect("keys");
    let key = key_file(keys.path(), "graph.key");
    let s = app_store();
    let root = s.root();
    add_remote(
        &root,
        server,
        "off",
        &format!("s3://{bucket}/enc"),
        &["--encrypt-key-file", key.to_str().expect("path")],
    );
    let (code, json) = gv(&root, &["push", "off"]);
    assert_eq!(code, 0, "{json}");
    let (code, json) = gv(&root, &["remote", "ls", "off"]);
    assert_eq!(code, 0, "{json}");
    let newest = &json["result"]["backups"][0];
    assert_eq!(newest["id"], "graph_20251003_100000", "{json}");
    let data_key = newest["data_key"].as_str().expect("data_key");
    let checksum = newest["checksum"].as_str().expect("checksum");
    let plain = std::fs::read(s.backups().join("graph_20251003_100000.json")).expect("backup");
    assert_eq!(checksum, sha256(&plain));

    let raw = raw_store(server, &bucket);
    let cipher = block_on(async {
        raw.get(&object_store::path::Path::from(format!("enc/{data_key}")))
            .await?
            .bytes()
            .await
    })
    .expect("fetch the object");
    assert!(cipher.starts_with(b"age-encryption.org/v1\n"));
    let work = tempfile::tempdir().expect("work");
    let file = work.path().join(data_key.rsplit('/').next().expect("name"));
    std::fs::write(&file, &cipher).expect("write the object");

    // As the runbook says, with rage's flags (the same as age's).
    let out = work.path().join("graph.json");
    run_tool(
        Command::new(rage())
            .arg("-d")
            .arg("-i")
            .arg(&key)
            .arg("-o")
            .arg(&out)
            .arg(&file),
        "rage -d",
    );
    let decrypted = std::fs::read(&out).expect("decrypted");
    assert_eq!(decrypted, plain, "rage gives the backup's bytes");
    assert_eq!(sha256(&decrypted), checksum, "sha256sum matches the meta");

    // Negative control: another key does not decrypt it.
    let other = key_file(keys.path(), "other.key");
    let refused = Command::new(rage())
        .arg("-d")
        .arg("-i")
        .arg(&other)
        .arg("-o")
        .arg(work.path().join("no.json"))
        .arg(&file)
        .output()
        .expect("run rage");
    assert!(!refused.status.success(), "a wrong key must be refused");
}

// ---- Off-site copies of compressed and delta backups: stored bytes as
// they are, read back through their form.

/// A store whose four backups are zstd frames, or with `deltas`, a full
/// backup every other save and a delta against it in between: day 1 full,
/// day 2 a delta of day 1, day 3 full, day 4 a delta of day 3. Returns the
/// backups, newest first.
fn encoded_store(deltas: bool) -> (common::AppStore, Vec<graphvault::store::list::BackupInfo>) {
    use graphvault::store::save::SaveOptions;
    let s = common::empty_store();
    let mut store = s.open();
    store.set_setting("compression", "zstd").expect("set");
    if deltas {
        store.set_setting("deltas", "on").expect("set");
        store.set_setting("full-every", "2").expect("set");
    }
    for day in 1..=4 {
        store
            .save_with(
                &crate::delta::day_graph(day),
                &SaveOptions {
                    rotate: false,
                    at: Some(crate::delta::at(day)),
                },
            )
            .expect("save");
    }
    let backups = store.list_backups().expect("list").backups;
    assert_eq!(backups.len(), 4);
    (s, backups)
}

/// The plain JSON of a local backup, read through its form.
fn plain_of(b: &graphvault::store::list::BackupInfo) -> Vec<u8> {
    graphvault::store::codec::read_plain(&graphvault::store::fs::RealFs, &b.data_path, u64::MAX)
        .expect("plain")
}

fn raw_get(server: &Server, bucket: &str, key: &str) -> Vec<u8> {
    use graphvault::remote::ObjectBackend;
    server
        .backend(bucket)
        .get(key, u64::MAX)
        .unwrap_or_else(|e| panic!("get {key}: {e}"))
}

fn manifest_of(server: &Server, bucket: &str, prefix: &str, id: &str) -> Value {
    let bytes = raw_get(
        server,
        bucket,
        &format!("{prefix}backups/{id}.manifest.json"),
    );
    serde_json::from_slice(&bytes).expect("manifest JSON")
}

fn check_of<'a>(json: &'a Value, id: &str) -> &'a Value {
    json["result"]["backups"]
        .as_array()
        .or_else(|| json["result"]["candidates"].as_array())
        .expect("checks")
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check of {id}: {json}"))
}

/// `recover --from-remote URL` onto `target`, with `extra` flags.
fn recover_from(target: &Path, server: &Server, url: &str, extra: &[&str]) -> (i32, Value) {
    let mut args = vec![
        "recover",
        "--from-remote",
        url,
        "--endpoint",
        &server.endpoint,
    ];
    args.extend_from_slice(extra);
    gv(target, &args)
}

/// `encoded_store(true)` pushed to a new bucket as remote `off` at
/// `s3://BUCKET/PREFIX`: the bucket, the store and its backups.
fn pushed_delta_store(
    server: &Server,
    tag: &str,
    prefix: &str,
) -> (
    String,
    common::AppStore,
    Vec<graphvault::store::list::BackupInfo>,
) {
    let bucket = server.bucket(&s3server::unique_bucket(tag));
    let (s, backups) = encoded_store(true);
    add_remote(
        &s.root(),
        server,
        "off",
        &format!("s3://{bucket}/{prefix}"),
        &[],
    );
    let (code, json) = gv(&s.root(), &["push", "off"]);
    assert_eq!(code, 0, "push: {json}");
    (bucket, s, backups)
}

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

#[test]
fn a_compressed_store_is_pushed_as_its_stored_frames_byte_for_byte() {
    let server = s3server::shared();
    let bucket = server.bucket(&s3server::unique_bucket("zst"));
    let (s, backups) = encoded_store(false);
    let root = s.root();
    add_remote(&root, server, "off", &format!("s3://{bucket}/z"), &[]);
    let (code, json) = gv(&root, &["push", "off"]);
    assert_eq!(code, 0, "push: {json}");
    assert_eq!(pushed_ids(&json).len(), 4, "{json}");
    let stored_total: u64 = backups.iter().map(|b| b.size.expect("size")).sum();
    assert_eq!(
        json["result"]["bytes_sent"].as_u64(),
        Some(stored_total),
        "what went up is the stored frames, not the plain JSON: {json}"
    );

    let keys = raw_keys(server, &bucket, "z/data/");
    for b in &backups {
        assert_eq!(b.form, graphvault::store::codec::StoredForm::Zstd);
        let sha = b.checksum.clone().expect("checksum");
        let local = std::fs::read(&b.data_path).expect("local frame");
        let object = raw_get(server, &bucket, &format!("z/data/{sha}.json.zst"));
        assert_eq!(object.len() as u64, b.size.expect("size"));
        assert_eq!(object, local, "the object is the local file, byte for byte");
        // Negative control: a push that still sent plain JSON would have
        // put the plain bytes (which do not start with zstd's magic) under
        // the plain key.
        assert!(object.starts_with(&ZSTD_MAGIC));
        assert_ne!(object, plain_of(b));
        assert!(
            !keys.contains(&format!("z/data/{sha}.json")),
            "no plain copy: {keys:?}"
        );
        let m = manifest_of(server, &bucket, "z/", &b.id.to_string());
        assert_eq!(m["stored_format"], "zstd");
        assert_eq!(
            m["checksum"],
            sha.as_str(),
            "the plain checksum: the graph's identity"
        );
        assert_eq!(m["size"].as_u64(), Some(plain_of(b).len() as u64));
        assert_eq!(m["stored_size"].as_u64(), b.size);
        assert_eq!(m["encoded_sha256"], sha256(&local).as_str());
        assert_eq!(m["delta_base"], Value::Null);
    }

    let (code, json) = gv(&root, &["remote", "ls", "off"]);
    assert_eq!(code, 0, "{json}");
    for b in json["result"]["backups"].as_array().expect("backups") {
        assert_eq!(b["stored_format"], "zstd");
        assert!(b["stored_size"].as_u64() < b["size"].as_u64(), "{b}");
    }
    let (code, json) = gv(&root, &["remote", "verify", "off"]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["result"]["valid"], 4);
    let (code, json) = gv(&root, &["remote", "verify", "off", "--deep"]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["result"]["valid"], 4);

    // Restored as it was stored: the frame and its meta, byte for byte.
    let newest = &backups[0];
    let fresh = tempfile::tempdir().expect("fresh");
    let target = fresh.path().join("storage");
    let url = format!("s3://{bucket}/z");
    let (code, json) = recover_from(&target, server, &url, &[]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["result"]["remote_id"], newest.id.to_string());
    assert_eq!(
        std::fs::read(target.join("graph.json")).expect("primary"),
        plain_of(newest)
    );
    let installed = target.join("backups").join(newest.id.zstd_file_name());
    assert_eq!(
        std::fs::read(&installed).expect("installed"),
        std::fs::read(&newest.data_path).expect("local")
    );
    assert_eq!(
        std::fs::read(target.join("backups").join(newest.id.meta_file_name())).expect("meta"),
        std::fs::read(newest.meta_path.as_ref().expect("meta")).expect("meta")
    );
    let (code, json) = gv(&target, &["verify", &newest.id.to_string()]);
    assert_eq!(code, 0, "{json}");
}

#[test]
fn a_delta_store_is_pushed_with_its_bases_and_recovers_through_a_delta() {
    use graphvault::store::codec::StoredForm;
    let server = s3server::shared();
    let bucket = server.bucket(&s3server::unique_bucket("delta"));
    let (s, backups) = encoded_store(true);
    let root = s.root();
    let forms: Vec<StoredForm> = backups.iter().map(|b| b.form).collect();
    assert_eq!(
        forms,
        [
            StoredForm::Delta,
            StoredForm::Zstd,
            StoredForm::Delta,
            StoredForm::Zstd
        ]
    );
    let id = |i: usize| backups[i].id.to_string();
    add_remote(&root, server, "off", &format!("s3://{bucket}/d"), &[]);
    let (code, json) = gv(&root, &["push", "off"]);
    assert_eq!(code, 0, "push: {json}");
    // Newest first, each delta's base just before it.
    assert_eq!(pushed_ids(&json), [id(1), id(0), id(3), id(2)], "{json}");

    for (delta, base) in [(0, 1), (2, 3)] {
        let d = &backups[delta];
        let b = &backups[base];
        let m = manifest_of(server, &bucket, "d/", &id(delta));
        assert_eq!(m["stored_format"], "zstd-delta");
        assert_eq!(
            m["delta_base"],
            id(base).as_str(),
            "the manifest names its base"
        );
        assert_eq!(
            m["delta_base_checksum"],
            b.checksum.clone().expect("checksum").as_str()
        );
        let object = raw_get(
            server,
            &bucket,
            &format!("d/{}", m["data_key"].as_str().expect("key")),
        );
        assert_eq!(object, std::fs::read(&d.data_path).expect("local delta"));
        assert!(
            m["data_key"]
                .as_str()
                .expect("key")
                .ends_with(".json.delta.zst"),
            "{m}"
        );
        let bm = manifest_of(server, &bucket, "d/", &id(base));
        assert_eq!(bm["stored_format"], "zstd");
        assert_eq!(
            raw_get(
                server,
                &bucket,
                &format!("d/{}", bm["data_key"].as_str().expect("key"))
            ),
            std::fs::read(&b.data_path).expect("local base")
        );
    }
    let (code, json) = gv(&root, &["remote", "verify", "off"]);
    assert_eq!(code, 0, "{json}");
    let levels: Vec<&str> = check_of(&json, &id(0))["levels"]
        .as_array()
        .expect("levels")
        .iter()
        .map(|l| l["level"].as_str().expect("level"))
        .collect();
    assert_eq!(
        levels,
        ["manifest", "object", "server_checksum", "base", "base"]
    );
    let (code, json) = gv(&root, &["remote", "ls", "off"]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["result"]["backups"][0]["stored_format"], "zstd-delta");
    assert_eq!(json["result"]["backups"][0]["delta_base"], id(1).as_str());

    // Onto an empty directory, through the newest, a delta.
    let fresh = tempfile::tempdir().expect("fresh");
    let target = fresh.path().join("storage");
    let url = format!("s3://{bucket}/d");
    let (code, json) = recover_from(&target, server, &url, &[]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["result"]["remote_id"], id(0).as_str());
    let expected = plain_of(&backups[0]);
    assert_eq!(
        std::fs::read(target.join("graph.json")).expect("primary"),
        expected,
        "the primary is the original plain JSON, byte for byte"
    );
    // Installed as a full plain backup, its meta describing that.
    let installed = target.join("backups").join(backups[0].id.data_file_name());
    assert_eq!(std::fs::read(&installed).expect("installed"), expected);
    assert!(
        !target
            .join("backups")
            .join(backups[0].id.delta_file_name())
            .exists()
    );
    let meta: Value = serde_json::from_slice(
        &std::fs::read(target.join("backups").join(backups[0].id.meta_file_name())).expect("meta"),
    )
    .expect("meta JSON");
    assert_eq!(meta["checksum"], sha256(&expected).as_str());
    assert_eq!(meta["size"].as_u64(), Some(expected.len() as u64));
    for gone in [
        "stored_format",
        "stored_checksum",
        "stored_size",
        "delta_base",
        "delta_base_checksum",
    ] {
        assert_eq!(meta[gone], Value::Null, "{gone} left in {meta}");
    }
    let (code, json) = gv(&target, &["verify", &id(0)]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["result"]["status"], "valid");

    // `remote restore` of the other delta, by id.
    add_remote(&target, server, "off", &url, &[]);
    let (code, json) = gv(&target, &["remote", "restore", "off", &id(2)]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(
        std::fs::read(target.join("graph.json")).expect("primary"),
        plain_of(&backups[2])
    );
}

#[test]
fn a_delta_is_never_pushed_without_its_base() {
    let server = s3server::shared();
    let bucket = server.bucket(&s3server::unique_bucket("nobase"));
    let (s, backups) = encoded_store(true);
    let root = s.root();
    let id = |i: usize| backups[i].id.to_string();
    // The newest delta's base is damaged locally: it cannot be sent, so
    // neither can the delta.
    let mut bytes = std::fs::read(&backups[1].data_path).expect("base");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(&backups[1].data_path, bytes).expect("damage");
    add_remote(&root, server, "off", &format!("s3://{bucket}"), &[]);
    let (code, json) = gv(&root, &["push", "off"]);
    assert_ne!(code, 0, "{json}");
    assert_eq!(pushed_ids(&json), [id(3), id(2)], "{json}");
    let failed = json["result"]["failed"].to_string();
    assert!(failed.contains(&id(1)), "{failed}");
    let reason = json["result"]["failed"]
        .as_array()
        .expect("failed")
        .iter()
        .find(|f| f["id"] == id(0).as_str())
        .expect("the delta failed")["reason"]
        .to_string();
    assert!(
        reason.contains(&format!("its base {} is not on the remote", id(1))),
        "{reason}"
    );
    assert_eq!(remote_ids(&root, "off"), [id(2), id(3)]);
    assert!(
        !raw_keys(server, &bucket, "data/")
            .iter()
            .any(|k| k.contains(&backups[0].checksum.clone().expect("sha"))),
        "nothing of the delta went up"
    );
}

#[test]
fn a_remote_delta_whose_base_is_damaged_names_it_and_recovery_takes_the_next() {
    use graphvault::remote::ObjectBackend;
    let server = s3server::shared();
    let (bucket, s, backups) = pushed_delta_store(server, "badbase", "b");
    let root = s.root();
    let id = |i: usize| backups[i].id.to_string();
    let base_key = format!(
        "b/{}",
        manifest_of(server, &bucket, "b/", &id(1))["data_key"]
            .as_str()
            .expect("key")
    );
    // Overwritten through the S3 API with other bytes.
    let raw = raw_store(server, &bucket);
    block_on(raw.put(
        &object_store::path::Path::from(base_key.as_str()),
        b"not the base".to_vec().into(),
    ))
    .expect("damage");

    let (code, json) = gv(&root, &["remote", "verify", "off"]);
    assert_eq!(code, 1, "{json}");
    let delta = check_of(&json, &id(0));
    assert_eq!(delta["status"], "corrupt");
    assert_eq!(delta["failed_level"], "base");
    assert!(
        delta["reason"]
            .as_str()
            .expect("reason")
            .contains(&format!("base {}", id(1))),
        "{delta}"
    );
    // The other delta and its base are fine.
    assert_eq!(check_of(&json, &id(2))["status"], "valid");

    let fresh = tempfile::tempdir().expect("fresh");
    let target = fresh.path().join("storage");
    let url = format!("s3://{bucket}/b");
    let (code, json) = recover_from(&target, server, &url, &[]);
    assert_eq!(code, 0, "{json}");
    let r = &json["result"];
    assert_eq!(r["candidates"][0]["id"], id(0).as_str());
    assert_eq!(r["candidates"][0]["status"], "corrupt");
    assert!(
        r["candidates"][0]["reason"]
            .as_str()
            .expect("reason")
            .contains(&format!("base {}", id(1))),
        "{r}"
    );
    assert_eq!(r["candidates"][1]["id"], id(1).as_str());
    assert_eq!(r["candidates"][1]["status"], "corrupt");
    assert_eq!(r["remote_id"], id(2).as_str(), "the next candidate: {r}");
    assert_eq!(
        std::fs::read(target.join("graph.json")).expect("primary"),
        plain_of(&backups[2])
    );

    // Gone altogether: named as missing.
    server.backend(&bucket).delete(&base_key).expect("delete");
    let (code, json) = gv(&root, &["remote", "verify", "off"]);
    assert_eq!(code, 1, "{json}");
    let reason = check_of(&json, &id(0))["reason"]
        .as_str()
        .expect("reason")
        .to_string();
    assert!(
        reason.contains(&format!("base {}", id(1))) && reason.contains("is not on the remote"),
        "{reason}"
    );
}

#[test]
fn remote_rotate_keeps_the_base_a_kept_delta_needs() {
    let server = s3server::shared();
    let (bucket, s, backups) = pushed_delta_store(server, "rotbase", "r");
    let root = s.root();
    let id = |i: usize| backups[i].id.to_string();
    let args = [
        "remote",
        "rotate",
        "off",
        "--keep-last",
        "1",
        "--min-valid",
        "1",
        "--apply",
    ];
    let (code, json) = gv(&root, &args);
    assert_eq!(code, 0, "{json}");
    let r = &json["result"];
    let decision = |i: usize| {
        r["plan"]["decisions"]
            .as_array()
            .expect("decisions")
            .iter()
            .find(|d| d["id"] == id(i).as_str())
            .unwrap_or_else(|| panic!("no decision for {}: {r}", id(i)))
            .clone()
    };
    assert_eq!(decision(0)["action"], "keep");
    assert_eq!(decision(1)["action"], "keep", "the kept delta's base: {r}");
    assert!(
        decision(1)["reasons"]
            .to_string()
            .contains(&format!("the base of delta {}", id(0))),
        "{r}"
    );
    // Negative control: the base of a delta that goes is not kept for it.
    assert_eq!(decision(2)["action"], "remove", "{r}");
    assert_eq!(decision(3)["action"], "remove", "{r}");
    assert_eq!(remote_ids(&root, "off"), [id(0), id(1)]);
    assert_eq!(raw_keys(server, &bucket, "r/data/").len(), 2);
    let (code, json) = gv(&root, &["remote", "verify", "off", "--deep"]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["result"]["valid"], 2);
}

#[test]
fn an_encrypted_push_of_compressed_backups_round_trips() {
    let server = s3server::shared();
    let bucket = server.bucket(&s3server::unique_bucket("agezst"));
    let keys = tempfile::tempdir().expect("keys");
    let key = key_file(keys.path(), "graph.key");
    let (s, backups) = encoded_store(true);
    let root = s.root();
    let url = format!("s3://{bucket}/e");
    add_remote(
        &root,
        server,
        "off",
        &url,
        &["--encrypt-key-file", key.to_str().expect("path")],
    );
    let (code, json) = gv(&root, &["push", "off"]);
    assert_eq!(code, 0, "{json}");
    let newest = &backups[0];
    let m = manifest_of(server, &bucket, "e/", &newest.id.to_string());
    let data_key = m["data_key"].as_str().expect("key");
    assert!(data_key.ends_with(".json.delta.zst.age"), "{m}");
    let object = raw_get(server, &bucket, &format!("e/{data_key}"));
    assert!(object.starts_with(b"age-encryption.org/v1\n"));
    assert_eq!(m["encoded_size"].as_u64(), newest.size);

    let (code, json) = gv(&root, &["remote", "verify", "off", "--deep"]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["result"]["valid"], 4);

    let fresh = tempfile::tempdir().expect("fresh");
    let target = fresh.path().join("storage");
    let identity = ["--identity-file", key.to_str().expect("path")];
    let (code, json) = recover_from(&target, server, &url, &identity);
    assert_eq!(code, 0, "{json}");
    assert_eq!(
        std::fs::read(target.join("graph.json")).expect("primary"),
        plain_of(newest)
    );
    // A compressed one, by id: installed as its frame, byte for byte.
    add_remote(
        &target,
        server,
        "off",
        &url,
        &["--encrypt-key-file", key.to_str().expect("path")],
    );
    let (code, json) = gv(
        &target,
        &["remote", "restore", "off", &backups[1].id.to_string()],
    );
    assert_eq!(code, 0, "{json}");
    assert_eq!(
        std::fs::read(target.join("backups").join(backups[1].id.zstd_file_name()))
            .expect("installed"),
        std::fs::read(&backups[1].data_path).expect("local")
    );
    assert_eq!(
        std::fs::read(target.join("graph.json")).expect("primary"),
        plain_of(&backups[1])
    );
}

#[test]
fn an_object_pushed_by_an_older_version_is_still_read_as_plain_json() {
    use graphvault::remote::ObjectBackend;
    let server = s3server::shared();
    let bucket = server.bucket(&s3server::unique_bucket("old"));
    let backend = server.backend(&bucket);
    let text = app_graph(5, 2, false, "old");
    let sha = sha256(text.as_bytes());
    let data_key = format!("o/data/{sha}.json");
    backend
        .put_create(&data_key, text.clone().into_bytes())
        .expect("data");
    let server_sum = backend
        .server_checksum(&data_key)
        .expect("head")
        .expect("checksum");
    // Exactly the fields versions before compression wrote.
    let meta = common::app_meta(text.as_bytes(), Some((5, 4)));
    let manifest = serde_json::json!({
        "graphvault_remote": 1,
        "id": "graph_20251001_080000",
        "checksum": sha,
        "size": text.len(),
        "data_key": format!("data/{sha}.json"),
        "stored_size": text.len(),
        "stored_checksum": server_sum,
        "meta": meta,
        "pushed_at": "2025-10-01T08:00:01Z",
        "pushed_by": "graphvault 0.1.0",
    });
    backend
        .put_create(
            "o/backups/graph_20251001_080000.manifest.json",
            serde_json::to_vec_pretty(&manifest).expect("json"),
        )
        .expect("manifest");

    let s = common::empty_store();
    let root = s.root();
    let url = format!("s3://{bucket}/o");
    add_remote(&root, server, "off", &url, &[]);
    let (code, json) = gv(&root, &["remote", "ls", "off"]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["result"]["backups"][0]["stored_format"], "plain");
    let (code, json) = gv(&root, &["remote", "verify", "off", "--deep"]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["result"]["valid"], 1);
    let fresh = tempfile::tempdir().expect("fresh");
    let target = fresh.path().join("storage");
    let (code, json) = recover_from(&target, server, &url, &[]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(
        std::fs::read(target.join("graph.json")).expect("primary"),
        text.as_bytes()
    );
    assert_eq!(
        std::fs::read(target.join("backups/graph_20251001_080000.json")).expect("installed"),
        text.as_bytes()
    );
}
