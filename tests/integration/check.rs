//! `check` and `status`: every exit code, the scrub's schedule over
//! simulated days, the metrics file read back by a Prometheus parser,
//! `status` agreeing with `check`, and the Healthchecks-style pings
//! against a small HTTP server of the test's own.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Local};
use graphvault::graph::KnowledgeGraph;
use graphvault::store::Store;
use graphvault::store::check::CheckOptions;
use graphvault::store::save::SaveOptions;
use graphvault::store::scrub::{HashReason, ScrubOptions};
use graphvault::store::status::Health;

use crate::common;
use crate::s3server::{self, ACCESS_KEY, SECRET_KEY};

/// Runs the binary. Other tests of this process fork children, which hold
/// a copy of any lock file descriptor until they exec: a short wait rides
/// that out, as it does for a real timer (`--wait`).
fn gv(store: &Path, args: &[&str]) -> Output {
    gv_waiting(store, "5", args)
}

fn gv_waiting(store: &Path, wait: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_graphvault"))
        .arg("--store")
        .arg(store)
        .args(["--wait", wait])
        .args(args)
        .output()
        .expect("run graphvault")
}

/// The store in-process, with the same short wait as [`gv`].
fn open(root: &Path) -> Store {
    Store::open(root)
        .expect("open")
        .with_lock_wait(std::time::Duration::from_secs(5))
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn graph(nodes: usize, salt: &str) -> KnowledgeGraph {
    KnowledgeGraph::from_slice(common::app_graph(nodes, 2, false, salt).as_bytes())
        .expect("fixture graph")
}

/// A store saved `backups` times, one save a day, the last `newest_age` ago.
fn store_with_backups(backups: usize, newest_age: Duration) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("storage");
    let store = open(&root);
    let newest = Local::now() - newest_age;
    for i in 0..backups {
        let at = newest - Duration::days((backups - 1 - i) as i64);
        store
            .save_with(
                &graph(3 + i % 4, &format!("s{i}")),
                &SaveOptions {
                    rotate: false,
                    at: Some(at),
                },
            )
            .expect("save");
    }
    (dir, root)
}

fn backup_files(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(root.join("backups"))
        .expect("ls")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    v.sort();
    v
}

/// Runs `check` and `status` and asserts they agree; returns check's code.
fn check_and_status(root: &Path, extra: &[&str]) -> i32 {
    let mut args = vec!["--json", "check"];
    args.extend_from_slice(extra);
    let out = gv(root, &args);
    let code = out.status.code().expect("exit code");
    let doc = json(&out);
    assert_eq!(doc["exit_code"], code, "{doc}");
    let status = gv(root, &["--json", "status"]);
    let sdoc = json(&status);
    assert_eq!(
        status.status.code(),
        Some(code),
        "status disagrees with check:\ncheck: {doc}\nstatus: {sdoc}"
    );
    assert_eq!(
        sdoc["result"]["health"], doc["result"]["health"],
        "{sdoc}\n{doc}"
    );
    code
}

#[test]
fn each_exit_code_and_status_agrees_with_check() {
    // 0: healthy.
    let (_d, root) = store_with_backups(4, Duration::hours(3));
    assert_eq!(check_and_status(&root, &[]), 0);
    let line = String::from_utf8_lossy(&gv(&root, &["status"]).stdout).to_string();
    assert!(
        line.starts_with("healthy · newest valid backup 3 h ago") && line.contains("last check"),
        "{line}"
    );
    assert_eq!(line.lines().count(), 1, "{line}");

    // 6: stale, by the default 2 days and by --max-age.
    let (_d2, old) = store_with_backups(3, Duration::days(3));
    assert_eq!(check_and_status(&old, &[]), 6);
    assert_eq!(
        gv(&root, &["check", "--max-age", "1h"]).status.code(),
        Some(6)
    );
    let doc = json(&gv(&root, &["--json", "status", "--max-age", "1h"]));
    assert_eq!(doc["exit_code"], 6);
    assert!(
        doc["result"]["stale"][0]
            .as_str()
            .is_some_and(|s| s.contains("newest valid backup")),
        "{doc}"
    );

    // 1: a corrupt backup (found at once: its stat changed), and it beats
    // stale.
    let victim = backup_files(&root)[1].clone();
    let mut bytes = fs::read(&victim).expect("read");
    bytes[10] ^= 0x01;
    fs::write(&victim, &bytes).expect("flip a bit");
    assert_eq!(check_and_status(&root, &[]), 1);
    assert_eq!(
        gv(&root, &["check", "--max-age", "1m"]).status.code(),
        Some(1)
    );
    let doc = json(&gv(&root, &["--json", "check"]));
    assert_eq!(doc["result"]["health"], "integrity");
    assert!(
        doc["result"]["record"]["integrity"][0]
            .as_str()
            .is_some_and(|s| s.contains("checksum mismatch")),
        "{doc}"
    );
    // The corrupt backup is kept by retention, and reported every day.
    assert!(victim.exists());

    // 1 again, with a step failing after it: the failure is recorded and
    // does not hide the finding.
    let out = gv(
        &root,
        &[
            "--json",
            "check",
            "--metrics-file",
            "/nonexistent-dir/graphvault.prom",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let doc = json(&out);
    let failures = doc["result"]["record"]["failures"].to_string();
    assert!(failures.contains("metrics"), "{doc}");

    // 5: a step failed on a store where nothing else is wrong.
    let (_d3, fine) = store_with_backups(2, Duration::hours(1));
    let out = gv(
        &fine,
        &["check", "--metrics-file", "/nonexistent-dir/x.prom"],
    );
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(gv(&fine, &["status"]).status.code(), Some(5));

    // 1: a corrupt primary.
    let (_d4, broken) = store_with_backups(2, Duration::hours(1));
    fs::write(broken.join("graph.json"), b"{").expect("break primary");
    assert_eq!(check_and_status(&broken, &[]), 1);

    // 3: locked; nothing is checked and status.json keeps the last check.
    let (_d5, busy) = store_with_backups(2, Duration::hours(1));
    assert_eq!(check_and_status(&busy, &[]), 0);
    let before = fs::read(busy.join(".graphvault/status.json")).expect("status.json");
    let guard = open(&busy).lock().expect("hold lock");
    let out = gv_waiting(&busy, "0", &["check"]);
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("retry later"), "{text}");
    drop(guard);
    assert_eq!(
        fs::read(busy.join(".graphvault/status.json")).expect("status.json"),
        before
    );

    // status on a store never checked: stale, with the reason.
    let (_d6, never) = store_with_backups(1, Duration::hours(1));
    let out = gv(&never, &["status"]);
    assert_eq!(out.status.code(), Some(6));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.matches("no check has been recorded").count(),
        1,
        "the reason, once: {text}"
    );
}

#[test]
fn status_turns_stale_when_checks_stop() {
    let (_d, root) = store_with_backups(3, Duration::hours(1));
    let store = open(&root);
    let report = store.check(&CheckOptions::default()).expect("check");
    assert_eq!(report.health, Health::Healthy, "{:?}", report.steps);
    let now = Local::now();
    assert_eq!(store.status(now, None).health, Health::Healthy);
    // Three days later nobody has checked: the record cannot vouch.
    let later = store.status(now + Duration::days(3), None);
    assert_eq!(later.health, Health::Stale);
    assert_eq!(later.exit_code, 6);
    assert!(
        later.stale.iter().any(|s| s.contains("last check")),
        "{:?}",
        later.stale
    );
}

#[test]
fn a_config_can_switch_steps_off() {
    let (_d, root) = store_with_backups(3, Duration::hours(1));
    fs::write(
        root.join(".graphvault/config.json"),
        r#"{"check": {"scrub": false, "retention": false, "purge_trash": false, "push": false}}"#,
    )
    .expect("config");
    let store = open(&root);
    assert!(store.config_problem().is_none());
    let report = store.check(&CheckOptions::default()).expect("check");
    let skipped: Vec<&str> = report
        .steps
        .iter()
        .filter(|s| s.outcome == graphvault::store::check::StepOutcome::Skipped)
        .map(|s| s.step)
        .collect();
    assert_eq!(skipped, ["scrub", "purge_trash", "retention", "push"]);
    // With no scrub the check vouches for no backup: stale, not healthy.
    assert_eq!(report.health, Health::Stale);

    fs::write(
        root.join(".graphvault/config.json"),
        r#"{"check": {"scrub_dayz": 3}}"#,
    )
    .expect("config");
    let store = open(&root);
    assert!(
        store.config_problem().is_some(),
        "a misspelt key is refused"
    );
    let report = store.check(&CheckOptions::default()).expect("check");
    assert_eq!(report.exit_code, 5, "{:?}", report.record.failures);
}

#[test]
fn the_scrub_rehashes_every_backup_within_n_days_and_a_changed_one_at_once() {
    let (_d, root) = store_with_backups(30, Duration::hours(1));
    let store = open(&root);
    let days = 7u32;
    let start = Local::now();
    let mut last: BTreeMap<String, DateTime<Local>> = BTreeMap::new();
    let mut worst_gap = Duration::zero();
    let share = 30usize.div_ceil(days as usize);
    for day in 0..40i64 {
        // Daily runs at a time that wanders by up to an hour, as a timer
        // with RandomizedDelaySec does.
        let now = start + Duration::days(day) + Duration::minutes((day * 37) % 60);
        let r = store
            .scrub(ScrubOptions {
                days,
                full: false,
                now,
                threads: 2,
            })
            .expect("scrub");
        assert_eq!(r.backups.len(), 30);
        assert_eq!(r.valid, 30);
        if day == 0 {
            assert_eq!(r.hashed, 30, "first run hashes everything it never saw");
            assert!(r.backups.iter().all(|b| b.hashed == HashReason::New));
        } else {
            assert_eq!(r.hashed, share, "day {day}: the load is spread evenly");
        }
        for b in &r.backups {
            if b.hashed != HashReason::NotDue {
                if let Some(prev) = last.get(&b.id.to_string()) {
                    worst_gap = worst_gap.max(now - *prev);
                }
                last.insert(b.id.to_string(), now);
            }
            let since = now - last[&b.id.to_string()];
            assert!(
                since <= Duration::days(i64::from(days)),
                "day {day}: {} last hashed {} h ago",
                b.id,
                since.num_hours()
            );
        }
    }
    assert!(
        worst_gap <= Duration::days(i64::from(days)) && worst_gap >= Duration::days(4),
        "worst gap {} h",
        worst_gap.num_hours()
    );

    // A backup changed in place, same size (a bit flip): its stat moved,
    // so the very next run re-hashes it, whatever the schedule says.
    let victim = backup_files(&root)[5].clone();
    let mut bytes = fs::read(&victim).expect("read");
    bytes[20] ^= 0x04;
    fs::write(&victim, &bytes).expect("flip");
    let now = start + Duration::days(40) + Duration::minutes(5);
    let r = store
        .scrub(ScrubOptions {
            days,
            full: false,
            now,
            threads: 1,
        })
        .expect("scrub");
    let name = victim.file_stem().and_then(|s| s.to_str()).expect("name");
    let hit = r
        .backups
        .iter()
        .find(|b| b.id.to_string() == name)
        .expect("victim listed");
    assert_eq!(hit.hashed, HashReason::Changed);
    assert_eq!(hit.status, graphvault::store::verify::Status::Corrupt);
    assert_eq!(r.corrupt, 1);
    assert_eq!(
        r.hashed,
        share + 1,
        "the change is extra work, not the share"
    );

    // --full re-hashes everything.
    let r = store
        .scrub(ScrubOptions {
            days,
            full: true,
            now,
            threads: 2,
        })
        .expect("scrub");
    assert_eq!(r.hashed, 30);
}

#[test]
fn a_damaged_scrub_record_is_ignored_and_rebuilt() {
    let (_d, root) = store_with_backups(5, Duration::hours(1));
    let store = open(&root);
    let opts = |now| ScrubOptions {
        days: 7,
        full: false,
        now,
        threads: 1,
    };
    let now = Local::now();
    assert_eq!(store.scrub(opts(now)).expect("scrub").hashed, 5);
    let record = root.join(".graphvault/scrub.json");
    let good = fs::read(&record).expect("record");
    for damage in [
        b"".to_vec(),
        good[..good.len() / 2].to_vec(),
        b"{\"format\": 99, \"backups\": {}}".to_vec(),
        b"\x00\xffgarbage".to_vec(),
    ] {
        fs::write(&record, &damage).expect("damage");
        let r = store.scrub(opts(now + Duration::hours(1))).expect("scrub");
        assert!(r.record_problem.is_some(), "damage noticed");
        assert_eq!(r.hashed, 5, "everything is hashed again");
        assert_eq!(r.valid, 5);
        assert!(r.record_error.is_none());
        // Rebuilt: the next run is back on schedule.
        let r = store.scrub(opts(now + Duration::hours(2))).expect("scrub");
        assert!(r.record_problem.is_none());
        assert_eq!(r.hashed, 1);
    }
    // A forged entry for other content never makes a corrupt file valid:
    // a file changed under it has a new stat.
    let victim = backup_files(&root)[0].clone();
    fs::write(&victim, b"{}").expect("replace");
    let r = store.scrub(opts(now + Duration::hours(3))).expect("scrub");
    assert_eq!(r.corrupt, 1);
}

#[test]
fn the_metrics_file_parses_as_prometheus_text_and_matches_the_record() {
    let (d, root) = store_with_backups(4, Duration::hours(2));
    let metrics = d.path().join("textfile").join("graphvault.prom");
    fs::create_dir_all(metrics.parent().expect("parent")).expect("dir");
    // One corrupt backup, so that the counts are not all alike.
    let victim = backup_files(&root)[0].clone();
    fs::write(&victim, b"not json").expect("corrupt");
    let out = gv(
        &root,
        &["check", "--metrics-file", metrics.to_str().expect("utf-8")],
    );
    assert_eq!(out.status.code(), Some(1));
    let text = fs::read_to_string(&metrics).expect("metrics written");
    let sample_lines = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .count();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("Prometheus text parses");
    assert_eq!(scrape.samples.len(), sample_lines, "every line is a sample");
    let store_label = root.display().to_string();
    let value = |name: &str, status: Option<&str>| -> f64 {
        let s = scrape
            .samples
            .iter()
            .find(|s| {
                s.metric == name
                    && s.labels.get("store") == Some(store_label.as_str())
                    && s.labels.get("status") == status
            })
            .unwrap_or_else(|| panic!("no sample {name} {status:?} in\n{text}"));
        match s.value {
            prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Counter(v) => v,
            ref other => panic!("{name}: unexpected type {other:?}"),
        }
    };
    let record: serde_json::Value =
        serde_json::from_slice(&fs::read(root.join(".graphvault/status.json")).expect("status"))
            .expect("status.json");
    assert_eq!(value("graphvault_primary_status", Some("valid")), 1.0);
    assert_eq!(value("graphvault_primary_status", Some("corrupt")), 0.0);
    assert_eq!(value("graphvault_backups", Some("valid")), 3.0);
    assert_eq!(value("graphvault_backups", Some("corrupt")), 1.0);
    assert_eq!(value("graphvault_backups", Some("missing")), 0.0);
    assert_eq!(value("graphvault_last_check_exit_code", None), 1.0);
    assert_eq!(value("graphvault_last_check_success", None), 0.0);
    assert_eq!(
        value("graphvault_newest_valid_backup_timestamp_seconds", None),
        record["newest_valid_backup"]["unix"]
            .as_f64()
            .expect("unix")
    );
    let checked = DateTime::parse_from_rfc3339(record["checked_at"].as_str().expect("time"))
        .expect("rfc3339");
    assert!(
        (value("graphvault_last_check_timestamp_seconds", None)
            - checked.timestamp_millis() as f64 / 1e3)
            .abs()
            < 0.01
    );
    assert!(value("graphvault_last_check_duration_seconds", None) > 0.0);
    assert_eq!(
        value("graphvault_scrubbed_bytes_total", None),
        record["scrubbed_bytes_total"].as_f64().expect("total")
    );
    assert!(value("graphvault_last_check_scrubbed_bytes", None) > 0.0);
    assert_eq!(value("graphvault_evidence_bytes", None), 0.0);
    // Types follow the naming conventions.
    for s in &scrape.samples {
        if s.metric.ends_with("_total") {
            assert!(
                matches!(s.value, prometheus_parse::Value::Counter(_)),
                "{}",
                s.metric
            );
        } else {
            assert!(
                matches!(s.value, prometheus_parse::Value::Gauge(_)),
                "{}",
                s.metric
            );
        }
        assert!(s.metric.starts_with("graphvault_"));
        assert!(scrape.docs.contains_key(&s.metric), "{} has HELP", s.metric);
    }
    // No success yet, so no last-success sample: the alert rule's absent()
    // case (see docs/RECOVERY.md).
    assert!(!text.contains("graphvault_last_success_timestamp_seconds{"));

    // Repaired: a success is recorded; nothing is left beside the file.
    fs::remove_file(&victim).expect("remove data");
    for meta in [".meta", ".json.meta"] {
        let m = victim.with_extension("").with_extension(&meta[1..]);
        let _ = fs::remove_file(m);
    }
    let out = gv(
        &root,
        &["check", "--metrics-file", metrics.to_str().expect("utf-8")],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = fs::read_to_string(&metrics).expect("metrics");
    assert!(text.contains("graphvault_last_success_timestamp_seconds{"));
    let leftovers: Vec<String> = fs::read_dir(metrics.parent().expect("dir"))
        .expect("ls")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(leftovers, ["graphvault.prom"]);
}

/// A tiny HTTP/1.1 server on 127.0.0.1 that records each request line and
/// body and answers `status`, for `count` requests, then stops.
fn ping_server(count: usize, status: u16) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(count) {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut request = String::new();
            let _ = reader.read_line(&mut request);
            let mut length = 0usize;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                    break;
                }
                if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            log.lock().expect("log").push(format!(
                "{} {}",
                request.trim(),
                String::from_utf8_lossy(&body).lines().next().unwrap_or("")
            ));
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK"
            );
        }
    });
    (format!("http://{addr}/ping/abc"), seen)
}

#[test]
fn check_pings_start_then_its_exit_code() {
    let (_d, root) = store_with_backups(2, Duration::hours(1));
    let (url, seen) = ping_server(2, 200);
    let out = gv(&root, &["check", "--ping", &url]);
    assert_eq!(out.status.code(), Some(0));
    let log = seen.lock().expect("log").clone();
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(
        log[0].starts_with("POST /ping/abc/start HTTP/1.1"),
        "{log:?}"
    );
    assert!(log[1].starts_with("POST /ping/abc/0 HTTP/1.1"), "{log:?}");
    assert!(
        log[1].contains("healthy"),
        "the body carries the summary: {log:?}"
    );

    // A failing check pings its code.
    fs::write(root.join("graph.json"), b"{").expect("break");
    let (url, seen) = ping_server(2, 200);
    let out = gv(&root, &["--json", "check", "--ping", &format!("{url}/")]);
    assert_eq!(out.status.code(), Some(1));
    let log = seen.lock().expect("log").clone();
    assert!(log[1].starts_with("POST /ping/abc/1 "), "{log:?}");
    let doc = json(&out);
    assert_eq!(doc["ping"][0]["ok"], true);
    assert_eq!(doc["ping"][1]["ok"], true);
}

#[test]
fn an_unreachable_or_failing_ping_changes_nothing_but_is_reported() {
    let (_d, root) = store_with_backups(2, Duration::hours(1));
    // A port nobody listens on: bind, note, close.
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let url = format!("http://127.0.0.1:{port}/hc");
    let out = gv(&root, &["check", "--ping", &url]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the check's result is unaffected"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ping") && err.contains("/hc/start") && err.contains("failed"),
        "{err}"
    );
    assert!(err.contains("/hc/0"), "{err}");
    let doc = json(&gv(&root, &["--json", "check", "--ping", &url]));
    assert_eq!(doc["exit_code"], 0);
    assert_eq!(doc["ping"][0]["ok"], false);
    assert!(
        doc["ping"][0]["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty())
    );
    assert_eq!(gv(&root, &["status"]).status.code(), Some(0));

    // A server that answers 500.
    let (url, seen) = ping_server(2, 500);
    let doc = json(&gv(&root, &["--json", "check", "--ping", &url]));
    assert_eq!(doc["exit_code"], 0);
    assert_eq!(doc["ping"][1]["ok"], false);
    assert!(doc["ping"][1]["error"].to_string().contains("500"), "{doc}");
    assert_eq!(seen.lock().expect("log").len(), 2);
}

/// Runs the binary with S3 credentials (`secret`) and an empty HOME, so
/// that no real AWS config is read.
fn gv_s3(store: &Path, secret: &str, args: &[&str]) -> Output {
    let home = tempfile::tempdir().expect("home");
    Command::new(env!("CARGO_BIN_EXE_graphvault"))
        .arg("--store")
        .arg(store)
        .args(["--wait", "5"])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("HOME", home.path())
        .output()
        .expect("run graphvault")
}

fn config_with(root: &Path, edit: impl FnOnce(&mut graphvault::store::StoreConfig)) {
    let mut store = open(root);
    let mut config = store.config().clone();
    edit(&mut config);
    store.set_config(config).expect("config");
}

fn auto_push_remote(name: &str, url: &str, endpoint: &str) -> graphvault::remote::RemoteConfig {
    graphvault::remote::RemoteConfig {
        name: name.to_string(),
        url: url.to_string(),
        endpoint: Some(endpoint.to_string()),
        region: None,
        auto_push: true,
        encryption: None,
        retention: None,
    }
}

/// A port nobody listens on: bind, note, close.
fn refused_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

#[test]
fn check_purges_expired_trash_but_never_what_it_trashed_itself() {
    let (_d, root) = store_with_backups(6, Duration::hours(1));
    config_with(&root, |c| {
        c.retention = graphvault::store::retention::RetentionPolicy {
            keep_last: Some(2),
            keep_within: None,
            min_valid: 1,
            ..graphvault::store::retention::RetentionPolicy::application()
        };
        c.trash_grace = Duration::days(1);
    });
    let now = Local::now();
    let at = |days: i64| CheckOptions {
        at: Some(now + Duration::days(days)),
        max_age: Some(Duration::days(30)),
        ..CheckOptions::default()
    };
    let store = open(&root);
    let first = store.check(&at(0)).expect("check");
    assert_eq!(first.exit_code, 0, "{:?}", first.record.failures);
    assert_eq!(first.retention.as_ref().map(|r| r.removed), Some(4));
    assert_eq!(first.purged.as_ref().map(Vec::len), Some(0));
    let trash = store.list_trash().expect("trash");
    assert_eq!(trash.items.len(), 4, "what this check trashed stays");
    assert!(trash.total_size > 0);
    assert_eq!(first.record.trash_bytes, trash.total_size);
    let order: Vec<&str> = first.steps.iter().map(|s| s.step).collect();
    assert_eq!(
        order,
        [
            "verify_primary",
            "scrub",
            "purge_trash",
            "retention",
            "index_nodes",
            "push",
            "record"
        ]
    );

    // Switched off, a later check purges nothing, and neither does its
    // retention: the config is not overruled by the rotation.
    config_with(&root, |c| c.check.purge_trash = false);
    let store = open(&root);
    let off = store.check(&at(2)).expect("check");
    assert!(off.purged.is_none());
    assert_eq!(store.list_trash().expect("trash").items.len(), 4);

    // On again, past the grace period by the clock alone: no backup made
    // since says time passed, so nothing is purged on the clock's word.
    config_with(&root, |c| c.check.purge_trash = true);
    let store = open(&root);
    let held = store.check(&at(2)).expect("check");
    assert_eq!(held.purged.as_ref().map(Vec::len), Some(0));
    assert_eq!(store.list_trash().expect("trash").items.len(), 4);

    // A backup made after their grace ended vouches for the clock: purged,
    // and the size says so (only what this check trashed is left).
    store
        .save_with(
            &graph(5, "later"),
            &SaveOptions {
                rotate: false,
                at: Some(now + Duration::days(2) - Duration::hours(1)),
            },
        )
        .expect("save");
    let later = store.check(&at(2)).expect("check");
    assert_eq!(later.exit_code, 0, "{:?}", later.record.failures);
    assert_eq!(later.purged.as_ref().map(Vec::len), Some(4));
    let left = store.list_trash().expect("trash");
    assert_eq!(
        left.items.len(),
        later.retention.as_ref().map(|r| r.removed).unwrap_or(0),
        "only what this check trashed is left"
    );
    assert_eq!(later.record.trash_bytes, left.total_size);
    let record: serde_json::Value =
        serde_json::from_slice(&fs::read(root.join(".graphvault/status.json")).expect("status"))
            .expect("status.json");
    assert_eq!(record["trash_bytes"], left.total_size);
}

#[test]
fn the_offsite_lag_counts_toward_stale_and_is_in_the_metrics() {
    let (d, root) = store_with_backups(3, Duration::hours(1));
    let endpoint = format!("http://127.0.0.1:{}", refused_port());
    config_with(&root, |c| {
        c.remotes = vec![auto_push_remote("off", "s3://gv-lag/x", &endpoint)];
        c.check.push = false;
    });
    let state = root.join(".graphvault/remotes/off.json");
    fs::create_dir_all(state.parent().expect("dir")).expect("dir");
    let pushed_ago = |age: Duration| {
        let at = (chrono::Utc::now() - age).format("%Y-%m-%dT%H:%M:%SZ");
        fs::write(&state, format!(r#"{{"last_success_at": "{at}"}}"#)).expect("state");
    };
    let metrics = d.path().join("gv.prom");
    let metrics_arg = metrics.to_str().expect("utf-8").to_string();

    // Pushed three days ago: stale, for that reason, and status agrees.
    pushed_ago(Duration::days(3));
    assert_eq!(
        check_and_status(&root, &["--metrics-file", &metrics_arg]),
        6
    );
    let doc = json(&gv(&root, &["--json", "status"]));
    assert!(
        doc["result"]["stale"][0]
            .as_str()
            .is_some_and(|s| s.contains("remote off") && s.contains("3d")),
        "{doc}"
    );
    let text = fs::read_to_string(&metrics).expect("metrics");
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("Prometheus text parses");
    let lag = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "graphvault_offsite_lag_seconds"
                && s.labels.get("remote") == Some("off")
                && s.labels.get("store") == Some(root.display().to_string().as_str())
        })
        .unwrap_or_else(|| panic!("no lag sample in\n{text}"));
    match lag.value {
        prometheus_parse::Value::Gauge(v) => {
            assert!((v - 3.0 * 86_400.0).abs() < 600.0, "{v}")
        }
        ref other => panic!("{other:?}"),
    }
    assert!(text.contains("graphvault_offsite_last_success_timestamp_seconds{"));
    assert!(text.contains("graphvault_trash_bytes{"));

    // Pushed an hour ago: healthy, and the line shows the lag.
    pushed_ago(Duration::hours(1));
    assert_eq!(check_and_status(&root, &[]), 0);
    let line = String::from_utf8_lossy(&gv(&root, &["status"]).stdout).to_string();
    assert!(line.contains("off-site lag 1 h"), "{line}");

    // Never pushed: stale as well.
    fs::write(&state, "{}").expect("state");
    assert_eq!(check_and_status(&root, &[]), 6);

    // The push on, to a server that is down: a failed step (5), and a
    // corrupt backup found earlier still wins (1) with the push failure
    // beside it.
    pushed_ago(Duration::hours(1));
    config_with(&root, |c| c.check.push = true);
    let out = gv_s3(&root, SECRET_KEY, &["--json", "check"]);
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(5), "{doc}");
    let failures = doc["result"]["record"]["failures"].to_string();
    assert!(failures.contains("push to remote off"), "{failures}");
    assert_eq!(doc["result"]["offsite"][0]["pushed"], false);
    // The earlier success still dates the lag.
    assert!(
        doc["result"]["record"]["offsite"][0]["lag_seconds"]
            .as_f64()
            .is_some()
    );
    fs::write(&backup_files(&root)[0], b"not json").expect("corrupt");
    let out = gv_s3(&root, SECRET_KEY, &["--json", "check"]);
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(1), "{doc}");
    assert!(
        !doc["result"]["record"]["integrity"]
            .as_array()
            .expect("list")
            .is_empty()
    );
    assert!(
        doc["result"]["record"]["failures"]
            .to_string()
            .contains("push to remote off"),
        "{doc}"
    );
}

/// Found from outside with faketime: a check run with the clock a year
/// ahead left a status that, with the clock right again, read "healthy ·
/// newest valid backup in 364 d · last check in 364 d" and nothing more.
#[test]
fn status_says_when_its_times_are_ahead_of_the_clock() {
    let (_d, root) = store_with_backups(3, Duration::hours(1));
    let store = open(&root);
    store
        .check(&CheckOptions {
            at: Some(Local::now() + Duration::days(365)),
            ..CheckOptions::default()
        })
        .expect("check a year ahead");
    let out = gv(&root, &["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("in 364 d") && text.contains("dated in the future by this clock"),
        "{text}"
    );
    // With the clock and the times agreeing, no such warning.
    let (_d, root) = store_with_backups(3, Duration::hours(1));
    open(&root).check(&CheckOptions::default()).expect("check");
    let text = String::from_utf8_lossy(&gv(&root, &["status"]).stdout).into_owned();
    assert!(!text.contains("dated in the future"), "{text}");
}

#[test]
fn check_pushes_to_the_auto_push_remotes_against_a_real_s3_server() {
    let server = s3server::shared();
    let bucket = server.bucket(&s3server::unique_bucket("check"));
    let (_d, root) = store_with_backups(3, Duration::hours(1));
    config_with(&root, |c| {
        c.remotes = vec![auto_push_remote(
            "off",
            &format!("s3://{bucket}/c"),
            &server.endpoint,
        )];
    });
    let out = gv_s3(&root, SECRET_KEY, &["--json", "check"]);
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert_eq!(doc["result"]["offsite"][0]["pushed"], true, "{doc}");
    assert_eq!(doc["result"]["offsite"][0]["sent"], 3, "{doc}");
    let lag = doc["result"]["record"]["offsite"][0]["lag_seconds"]
        .as_f64()
        .expect("lag");
    assert!((0.0..600.0).contains(&lag), "{lag}");
    // Nothing new: nothing sent, still fine.
    let out = gv_s3(&root, SECRET_KEY, &["--json", "check"]);
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert_eq!(doc["result"]["offsite"][0]["sent"], 0, "{doc}");

    // Credentials refused: the push fails, the check says so (5), and the
    // earlier success is kept as the time the lag runs from.
    let out = gv_s3(&root, "wrong-secret", &["--json", "check"]);
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(5), "{doc}");
    assert!(
        doc["result"]["record"]["failures"]
            .to_string()
            .contains("push to remote off"),
        "{doc}"
    );
    assert!(
        doc["result"]["record"]["offsite"][0]["last_success_unix"]
            .as_i64()
            .is_some(),
        "{doc}"
    );
    assert_eq!(gv(&root, &["status"]).status.code(), Some(5));
}

#[test]
fn check_indexes_each_graph_once_so_that_history_scans_no_file() {
    use graphvault::store::history::HistoryOptions;
    let (_dir, root) = store_with_backups(4, Duration::hours(1));
    // One backup fails its checksum: it is the scrub's finding, and not indexed.
    let damaged = backup_files(&root)[1].clone();
    let mut bytes = fs::read(&damaged).expect("read");
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    fs::write(&damaged, &bytes).expect("write");

    let store = open(&root);
    let first = store
        .check(&CheckOptions {
            full: true,
            ..CheckOptions::default()
        })
        .expect("check");
    let step = first
        .steps
        .iter()
        .find(|s| s.step == "index_nodes")
        .expect("an index step");
    // The primary has the newest backup's content: one index serves both.
    assert!(
        step.detail.starts_with("3 indexed, 1 already indexed"),
        "{}",
        step.detail
    );
    assert!(step.detail.contains("checksum mismatch"), "{}", step.detail);

    let history = store
        .history("N1", HistoryOptions::default())
        .expect("history");
    assert_eq!(history.index_built, 0, "{history:?}");
    assert_eq!(history.index_hits, history.entries.len() - 1, "{history:?}");

    let again = store.check(&CheckOptions::default()).expect("check");
    let step = again
        .steps
        .iter()
        .find(|s| s.step == "index_nodes")
        .expect("an index step");
    assert!(
        step.detail.starts_with("0 indexed, 4 already indexed"),
        "{}",
        step.detail
    );
}
