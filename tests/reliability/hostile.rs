//! Hostile restore ids and backup directories, on the real filesystem:
//! path traversal, absolute paths, symlinks to files and directories
//! outside the store, FIFOs, devices, oversized files, malformed names, and
//! a `backups/` or `.graphvault/` that is itself a symlink. Each is refused
//! with a clear error (or, for a stray name, left alone), and nothing
//! outside the store is read or written: the outside directory holds
//! graphs with matching metas, so following a link would visibly succeed.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use graphvault::store::recover::RecoverOptions;
use graphvault::store::restore::RestoreOptions;
use graphvault::store::retention::RetentionPolicy;
use graphvault::store::rotate::RotateOptions;
use graphvault::store::verify::{Depth, Status, Target, sha256_hex};
use graphvault::store::{Store, StoreError};

use graphvault::graph::KnowledgeGraph;

use crate::fixtures::{self, AppStore, app_graph, app_meta};
use crate::scenario::{LOCK_GRACE, open_real};

/// Every file under `dir` with its size and SHA-256, symlinks by their
/// target, never following one (and never reading a huge file: the
/// oversized case is a 4 GiB sparse file).
fn snapshot_tree(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(dir).expect("under dir").to_path_buf();
            let Ok(meta) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            let ft = meta.file_type();
            // Taking the lock creates these; they hold no data.
            if rel == Path::new(".graphvault") || rel.ends_with(".graphvault/lock") {
                continue;
            }
            let what = if ft.is_symlink() {
                format!("-> {:?}", std::fs::read_link(&p).ok())
            } else if ft.is_dir() {
                stack.push(p);
                "dir".to_string()
            } else if ft.is_file() && meta.len() <= 1 << 26 {
                format!(
                    "{} {}",
                    meta.len(),
                    sha256_hex(&std::fs::read(&p).expect("read"))
                )
            } else {
                format!("{:?} {} bytes", ft, meta.len())
            };
            out.push((rel, what));
        }
    }
    out.sort();
    out
}

/// A store as the application leaves it, and beside it (outside the
/// store) a directory of valid graphs with metas under backup names.
struct Hostile {
    s: AppStore,
    outside: PathBuf,
}

const OUTSIDE_ID: &str = "graph_20251004_000000";

fn hostile() -> Hostile {
    let s = fixtures::app_store();
    let outside = s.dir.path().join("outside");
    std::fs::create_dir_all(&outside).expect("outside");
    let g = app_graph(6, 2, false, "outside");
    std::fs::write(outside.join(format!("{OUTSIDE_ID}.json")), &g).expect("outside graph");
    std::fs::write(
        outside.join(format!("{OUTSIDE_ID}.meta")),
        app_meta(g.as_bytes(), None),
    )
    .expect("outside meta");
    std::fs::write(outside.join("graph.json"), &g).expect("outside primary-like");
    Hostile { s, outside }
}

impl Hostile {
    fn link(&self, name: &str, target: &Path) {
        symlink(target, self.s.backups().join(name)).expect("symlink");
    }

    /// Restores `id` and returns the error, checking that the primary and
    /// everything outside stayed as they were.
    fn refused(&self, id: &str, options: RestoreOptions) -> StoreError {
        let root_before = snapshot_tree(&self.s.root());
        let outside_before = snapshot_tree(&self.outside);
        let store = open_real(&self.s.root());
        let owned = id.to_string();
        let err = run_with_timeout(move || {
            owned
                .parse::<graphvault::store::names::BackupId>()
                .and_then(|id| store.restore(&id, options))
                .map(drop)
        })
        .expect_err("must be refused");
        assert_eq!(
            snapshot_tree(&self.s.root()),
            root_before,
            "{id}: the store changed"
        );
        assert_eq!(
            snapshot_tree(&self.outside),
            outside_before,
            "{id}: outside changed"
        );
        err
    }
}

/// Runs `f` on a thread and fails the test if it hangs (a FIFO opened for
/// reading without O_NONBLOCK would).
fn run_with_timeout<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("the operation hung")
}

#[test]
fn restore_ids_that_are_not_backup_names_are_refused() {
    let h = hostile();
    let real = h.s.backups().join("graph_20251003_100000.json");
    let long = "graph_".to_string() + &"1".repeat(10_000);
    let ids: Vec<String> = vec![
        "../x".into(),
        "../graph_20251003_100000".into(),
        "../../outside/graph_20251004_000000".into(),
        "/etc/passwd".into(),
        real.display().to_string(),
        h.outside.join(OUTSIDE_ID).display().to_string(),
        "graph_20251003_100000/../../x".into(),
        "graph_20251003_100000.json".into(),
        "graph_20251003_100000.meta".into(),
        "./graph_20251003_100000".into(),
        "backups/graph_20251003_100000".into(),
        "".into(),
        " ".into(),
        "graph_20251003_100000\0".into(),
        "graph_20251003_100000\n".into(),
        "graph_20251003_100000 ".into(),
        "GRAPH_20251003_100000".into(),
        "graph_20251303_100000".into(),
        "graph_20250230_100000".into(),
        "graph_20251003_246000".into(),
        "graph_20251003_100000_1".into(),
        "graph_20251003_100000_01".into(),
        "graph_20251003_100000_1234567".into(),
        "graph_２０２５１００３_100000".into(),
        "%2e%2e/graph_20251003_100000".into(),
        "~/graph_20251003_100000".into(),
        long,
    ];
    for id in &ids {
        match h.refused(id, RestoreOptions::default()) {
            StoreError::InvalidBackupId { reason, .. } => assert!(!reason.is_empty()),
            other => panic!("{id:?}: expected an invalid-id error, got {other}"),
        }
    }
    // Through the command line: exit code 2 and a message naming the id.
    for id in ["../x", "/etc/passwd"] {
        let out = Command::new(env!("CARGO_BIN_EXE_graphvault"))
            .arg("--store")
            .arg(h.s.root())
            .args(["restore", id])
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{id}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("invalid backup id"));
    }
    println!(
        "hostile restore ids: {} refused, primary untouched",
        ids.len()
    );
}

#[test]
fn backups_that_are_links_fifos_devices_or_oversized_are_refused() {
    let mut refused = Vec::new();
    let outside_graph = |h: &Hostile| h.outside.join(format!("{OUTSIDE_ID}.json"));
    let meta_of_outside = |h: &Hostile, id: &str| {
        let g = std::fs::read(outside_graph(h)).expect("outside graph");
        std::fs::write(h.s.backups().join(format!("{id}.meta")), app_meta(&g, None)).expect("meta");
    };

    // A data file that is a symlink to a valid graph outside, with a meta
    // that matches it: following the link would restore it.
    let h = hostile();
    h.link("graph_20251005_000000.json", &outside_graph(&h));
    meta_of_outside(&h, "graph_20251005_000000");
    let e = h.refused("graph_20251005_000000", RestoreOptions::default());
    assert!(e.to_string().contains("symlink"), "{e}");
    refused.push(("data file symlinked outside", e.to_string()));

    // A meta that is a symlink to the outside meta: no usable meta.
    let h = hostile();
    std::fs::copy(
        outside_graph(&h),
        h.s.backups().join("graph_20251005_000000.json"),
    )
    .expect("copy");
    h.link(
        "graph_20251005_000000.meta",
        &h.outside.join(format!("{OUTSIDE_ID}.meta")),
    );
    let e = h.refused("graph_20251005_000000", RestoreOptions::default());
    assert!(e.to_string().contains("symlink"), "{e}");
    refused.push(("meta symlinked outside", e.to_string()));

    // A symlink to a directory outside.
    let h = hostile();
    h.link("graph_20251005_000000.json", &h.outside);
    meta_of_outside(&h, "graph_20251005_000000");
    let e = h.refused("graph_20251005_000000", RestoreOptions::default());
    refused.push(("symlink to a directory", e.to_string()));

    // A symlink to a device.
    let h = hostile();
    h.link("graph_20251005_000000.json", Path::new("/dev/zero"));
    meta_of_outside(&h, "graph_20251005_000000");
    let e = h.refused(
        "graph_20251005_000000",
        RestoreOptions {
            dry_run: false,
            allow_unverified: true,
        },
    );
    assert!(e.to_string().contains("symlink"), "{e}");
    refused.push(("symlink to /dev/zero", e.to_string()));

    // A FIFO: must be refused, not waited on.
    let h = hostile();
    let fifo = h.s.backups().join("graph_20251005_000000.json");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    meta_of_outside(&h, "graph_20251005_000000");
    let e = h.refused("graph_20251005_000000", RestoreOptions::default());
    assert!(e.to_string().contains("FIFO"), "{e}");
    refused.push(("FIFO", e.to_string()));

    // A real character device, where this user may make one.
    let h = hostile();
    let dev = h.s.backups().join("graph_20251005_000000.json");
    let made = Command::new("mknod")
        .arg(&dev)
        .args(["c", "1", "5"])
        .output();
    if made.as_ref().is_ok_and(|o| o.status.success()) {
        meta_of_outside(&h, "graph_20251005_000000");
        let e = h.refused("graph_20251005_000000", RestoreOptions::default());
        assert!(e.to_string().contains("device"), "{e}");
        refused.push(("character device", e.to_string()));
    } else {
        println!("hostile inputs: device node skipped (mknod not permitted here)");
    }

    // Oversized: a sparse file one byte over the 4 GiB limit, refused
    // without being read.
    let h = hostile();
    let big = h.s.backups().join("graph_20251005_000000.json");
    let f = std::fs::File::create(&big).expect("create");
    f.set_len(graphvault::store::MAX_GRAPH_LEN + 1)
        .expect("sparse");
    drop(f);
    meta_of_outside(&h, "graph_20251005_000000");
    let t = Instant::now();
    let e = h.refused("graph_20251005_000000", RestoreOptions::default());
    assert!(e.to_string().contains("limit"), "{e}");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "the oversized file was read"
    );
    refused.push(("oversized data file", e.to_string()));

    // An oversized meta: unusable, so the backup is unverified.
    let h = hostile();
    let g = app_graph(2, 2, false, "m");
    std::fs::write(h.s.backups().join("graph_20251005_000000.json"), &g).expect("data");
    std::fs::write(
        h.s.backups().join("graph_20251005_000000.meta"),
        vec![b' '; (graphvault::store::meta::MAX_META_LEN + 1) as usize],
    )
    .expect("meta");
    let e = h.refused("graph_20251005_000000", RestoreOptions::default());
    assert!(e.to_string().contains("limit"), "{e}");
    refused.push(("oversized meta", e.to_string()));

    for (what, why) in &refused {
        println!("hostile backup refused: {what}: {why}");
    }
}

#[test]
fn stray_names_in_backups_are_never_listed_rotated_or_restored() {
    let h = hostile();
    let g = app_graph(2, 2, false, "stray");
    let meta = app_meta(g.as_bytes(), None);
    let names: Vec<Vec<u8>> = vec![
        b"graph_20251003_100000.json.tmp".to_vec(),
        b"graph_2025.json".to_vec(),
        b"graph_20251003_100000 .json".to_vec(),
        b"GRAPH_20251003_090000.json".to_vec(),
        b"graph_20251003_090000.JSON".to_vec(),
        b"graph_20251003_090000_1.json".to_vec(),
        b"graph_20251003_090000_01.json".to_vec(),
        b"graph_\xff\xfe.json".to_vec(),
        b"graph_20251003_090000\n.json".to_vec(),
        b".graph_20251003_090000.json".to_vec(),
        b"..json".to_vec(),
        b"graph_20251003_090000.json~".to_vec(),
    ];
    for name in &names {
        let path = h.s.backups().join(std::ffi::OsStr::from_bytes(name));
        std::fs::write(&path, &g).expect("stray file");
        let mut meta_name = name.clone();
        meta_name.extend_from_slice(b".meta");
        std::fs::write(
            h.s.backups().join(std::ffi::OsStr::from_bytes(&meta_name)),
            &meta,
        )
        .expect("meta");
    }
    let store = open_real(&h.s.root());
    let listing = store.list_backups().expect("list");
    assert_eq!(
        listing.backups.len(),
        4,
        "only the four real backups are listed"
    );
    // Rotation keeping one backup removes real backups only.
    let report = store
        .rotate(
            &RetentionPolicy {
                keep_last: Some(1),
                keep_within: None,
                min_valid: 1,
                ..RetentionPolicy::default()
            },
            RotateOptions { dry_run: false },
        )
        .expect("rotate");
    assert!(!report.removed_files.is_empty());
    for name in &names {
        let path = h.s.backups().join(std::ffi::OsStr::from_bytes(name));
        assert!(path.exists(), "{path:?} was removed");
    }
    // Application directories inside backups/ stay too.
    assert!(h.s.backups().join("20251001_161329").is_dir());
    assert!(
        h.s.backups()
            .join("backup_20251001_161329/manifest.json")
            .is_file()
    );
    assert!(h.s.backups().join(".gitkeep").is_file());
    println!(
        "stray names in backups/: {} files left alone by list and rotate",
        names.len() * 2
    );
}

/// `backups/`, `.graphvault/` or `.graphvault/evidence/` replaced by a
/// symlink to a directory outside: reading, writing or deleting through it
/// would touch files that are not the store's.
#[test]
fn a_backups_or_state_directory_that_is_a_symlink_is_refused() {
    for which in ["backups", ".graphvault", ".graphvault/evidence"] {
        let h = hostile();
        let dir = h.s.root().join(which);
        std::fs::create_dir_all(dir.parent().expect("parent")).expect("parent dir");
        if dir.exists() {
            std::fs::rename(&dir, h.s.dir.path().join("moved")).expect("move away");
        }
        symlink(&h.outside, &dir).expect("symlink the directory");
        let outside_before = snapshot_tree(&h.outside);
        let store = Store::open(h.s.root()).map(|s| s.with_lock_wait(LOCK_GRACE));
        let mut errors = Vec::new();
        if let Ok(store) = store {
            errors.push((
                "save",
                store.save_graph_with_backup(&input_graph()).map(drop).err(),
            ));
            errors.push(("snapshot", store.snapshot().map(drop).err()));
            // A backup the outside directory has, or one the store has.
            let id = if which == "backups" {
                OUTSIDE_ID
            } else {
                "graph_20251003_100000"
            };
            errors.push((
                "restore",
                id.parse::<graphvault::store::names::BackupId>()
                    .and_then(|id| store.restore(&id, RestoreOptions::default()))
                    .map(drop)
                    .err(),
            ));
            errors.push((
                "rotate",
                store
                    .rotate(
                        &RetentionPolicy {
                            keep_last: Some(1),
                            keep_within: None,
                            min_valid: 1,
                            ..RetentionPolicy::default()
                        },
                        RotateOptions { dry_run: false },
                    )
                    .map(drop)
                    .err(),
            ));
            errors.push((
                "recover",
                store
                    .load_with_recovery(RecoverOptions { dry_run: false })
                    .map(drop)
                    .err(),
            ));
            if which == "backups" {
                errors.push(("list", store.list_backups().map(drop).err()));
                errors.push((
                    "verify backup",
                    store
                        .verify(
                            &Target::Backup(OUTSIDE_ID.parse().expect("id")),
                            Depth::Full,
                        )
                        .map(drop)
                        .err(),
                ));
            }
        } else if let Err(e) = store {
            errors.push(("open", Some(e)));
        }
        assert_eq!(
            snapshot_tree(&h.outside),
            outside_before,
            "{which}: outside changed"
        );
        for (op, err) in errors {
            let err = err.unwrap_or_else(|| panic!("{which} symlinked: {op} went through it"));
            assert!(
                matches!(err, StoreError::Refused { .. }),
                "{which} symlinked: {op}: expected a refusal, got {err}"
            );
        }
        // The primary is still what it was and verifies.
        let r = Store::open(h.s.root())
            .ok()
            .map(|s| s.verify(&Target::Primary, Depth::Full));
        if let Some(Ok(r)) = r {
            assert_eq!(r.status, Status::Valid, "{which}: {}", r.summary());
        }
    }
}

fn input_graph() -> KnowledgeGraph {
    KnowledgeGraph::from_slice(app_graph(3, 2, false, "in").as_bytes()).expect("graph")
}

/// Sparse files of a gigabyte planted as backups, beside a copy of a real
/// backup's meta (which records its size), beside the application's kind
/// of meta (which does not), and after real JSON bytes: each is judged
/// corrupt from a stat and at most one byte (a hole reads as zero bytes,
/// which no graph's JSON holds), never read whole, and a save with
/// retention keeps every one of them.
#[test]
fn sparse_backups_are_judged_without_being_read_and_kept() {
    use graphvault::store::save::SaveOptions;
    use graphvault::store::verify::VerifyAllOptions;
    use std::io::Write as _;

    let h = hostile();
    let store = open_real(&h.s.root());
    store
        .save_with(&input_graph(), &SaveOptions::default())
        .expect("save");
    let real = store.list_backups().expect("list").backups[0].clone();
    let real_meta = std::fs::read(real.meta_path.as_ref().expect("meta")).expect("meta bytes");
    let real_data = std::fs::read(&real.data_path).expect("data");
    let legacy_meta = app_meta(&real_data, None);
    const GIB: u64 = 1 << 30;
    let plant = |id: &str, meta: &[u8], prefix: &[u8]| -> bool {
        let path = h.s.backups().join(format!("{id}.json"));
        let mut f = std::fs::File::create(&path).expect("create");
        f.write_all(prefix).expect("prefix");
        f.set_len(GIB).expect("sparse");
        std::fs::write(h.s.backups().join(format!("{id}.meta")), meta).expect("meta");
        // Whether this filesystem made a hole at all (else it wrote zeros).
        use std::os::unix::fs::MetadataExt as _;
        let m = std::fs::metadata(&path).expect("stat");
        m.blocks() * 512 < m.len()
    };
    let sized = "graph_20250901_000001";
    let unsized_ = "graph_20250901_000002";
    let after_json = "graph_20250901_000003";
    plant(sized, &real_meta, b"");
    let holes = plant(unsized_, legacy_meta.as_bytes(), b"");
    plant(
        after_json,
        legacy_meta.as_bytes(),
        &real_data[..4096.min(real_data.len())],
    );

    let report = store
        .verify_all(
            VerifyAllOptions {
                depth: Depth::Full,
                include_primary: false,
                threads: 0,
            },
            &std::sync::atomic::AtomicBool::new(false),
            &|_| {},
        )
        .expect("verify all");
    let verdict = |id: &str| {
        report
            .files
            .iter()
            .find(|f| f.target.backup_id().is_some_and(|b| b.to_string() == id))
            .unwrap_or_else(|| panic!("{id} not verified"))
            .clone()
    };
    // The meta records another size: judged by the stat alone, not hashed.
    let v = verdict(sized);
    assert_eq!(v.status, Status::Corrupt);
    assert!(
        v.reason.as_deref().unwrap_or("").contains("meta says"),
        "{v:?}"
    );
    assert_eq!(v.actual_checksum, None, "the sparse file was hashed");
    for (id, hole_at) in [(unsized_, 0), (after_json, 4096)] {
        let v = verdict(id);
        assert_eq!(v.status, Status::Corrupt, "{id}");
        let why = v.reason.clone().unwrap_or_default();
        if holes {
            assert!(
                why.contains(&format!("a hole at byte {hole_at} ")),
                "{id}: {why}"
            );
            assert_eq!(v.actual_checksum, None, "{id}: the sparse file was hashed");
        } else {
            assert!(why.contains("checksum mismatch"), "{id}: {why}");
        }
    }
    // Looking inside refuses the sparse file by the same rule rather than
    // reading a gigabyte of zeros; history skips it and reads the rest.
    if holes {
        let sparse = Target::Backup(unsized_.parse().expect("id"));
        let refusal = |e: StoreError| {
            let text = e.to_string();
            assert!(text.contains("sparse file"), "{text}");
        };
        refusal(
            store
                .show(&sparse, &Default::default())
                .expect_err("show read a sparse backup"),
        );
        refusal(
            store
                .diff(&sparse, &Target::Primary)
                .expect_err("diff read a sparse backup"),
        );
        store
            .history("N0", Default::default())
            .expect("history beside a sparse backup");
    }
    // A save with the store's retention keeps what it judged corrupt.
    store
        .save_with(
            &KnowledgeGraph::from_slice(app_graph(4, 2, false, "next").as_bytes()).expect("g"),
            &SaveOptions {
                rotate: true,
                at: None,
            },
        )
        .expect("save beside sparse backups");
    for id in [sized, unsized_, after_json] {
        let path = h.s.backups().join(format!("{id}.json"));
        assert_eq!(std::fs::metadata(&path).expect("kept").len(), GIB, "{id}");
    }
    println!("hostile sparse backups: 3 of 1 GiB judged corrupt without a read (holes: {holes})");
}

/// Files of the store that are hard links to files outside it: a save, a
/// rotation and a restore replace names by rename and move them whole, so
/// the outside files keep their bytes, whatever graphvault does inside.
#[test]
fn hard_links_to_outside_files_are_never_written_through() {
    use graphvault::store::save::SaveOptions;

    let h = hostile();
    let precious = h.outside.join("precious-primary.json");
    let precious_backup = h.outside.join("precious-backup.json");
    let g1 = app_graph(5, 2, false, "precious primary");
    let g2 = app_graph(5, 2, false, "precious backup");
    std::fs::write(&precious, &g1).expect("outside primary");
    std::fs::write(&precious_backup, &g2).expect("outside backup");
    let primary = h.s.root().join("graph.json");
    std::fs::remove_file(&primary).expect("unlink primary");
    std::fs::hard_link(&precious, &primary).expect("hard link primary");
    std::fs::write(
        h.s.root().join("graph.json.meta"),
        app_meta(g1.as_bytes(), None),
    )
    .expect("primary meta");
    let linked_id = "graph_20250902_000000";
    std::fs::hard_link(
        &precious_backup,
        h.s.backups().join(format!("{linked_id}.json")),
    )
    .expect("hard link backup");
    std::fs::write(
        h.s.backups().join(format!("{linked_id}.meta")),
        app_meta(g2.as_bytes(), None),
    )
    .expect("backup meta");
    let outside_before = snapshot_tree(&h.outside);

    let store = open_real(&h.s.root());
    store
        .save_with(
            &input_graph(),
            &SaveOptions {
                rotate: true,
                at: None,
            },
        )
        .expect("save over a hard-linked primary");
    store
        .rotate(
            &RetentionPolicy {
                keep_last: Some(1),
                keep_within: None,
                min_valid: 1,
                ..RetentionPolicy::default()
            },
            RotateOptions { dry_run: false },
        )
        .expect("rotate");
    let newest = store.list_backups().expect("list").backups[0].id.clone();
    store
        .restore(&newest, RestoreOptions::default())
        .expect("restore over the new primary");
    assert_eq!(
        snapshot_tree(&h.outside),
        outside_before,
        "a file outside the store changed through a hard link"
    );
    // The hard-linked primary's bytes existed nowhere else: kept.
    let kept = std::fs::read_dir(h.s.root().join(".graphvault/evidence"))
        .expect("evidence")
        .filter_map(|e| std::fs::read(e.ok()?.path()).ok())
        .any(|b| b == g1.as_bytes());
    assert!(kept, "the replaced primary was not kept in evidence");
}

/// Passes every call through: a filesystem without a directory handle, so
/// that a listing looks each file up along its path.
struct PathsOnly;

impl crate::hookfs::Hook for PathsOnly {
    fn before(&self, _op: &crate::hookfs::Op) -> std::io::Result<()> {
        Ok(())
    }
}

/// Metas and data files that are links, FIFOs, directories or oversized are
/// listed with what they are, never followed or waited on, and the same
/// whether each is looked up from the open directory or along its path.
#[test]
fn a_listing_of_hostile_entries_follows_nothing_and_agrees_with_the_paths() {
    use graphvault::store::fs::RealFs;
    use std::sync::Arc;
    let h = hostile();
    let outside_meta = h.outside.join(format!("{OUTSIDE_ID}.meta"));
    let g = app_graph(2, 2, false, "l");
    let data = |id: &str| {
        std::fs::write(h.s.backups().join(format!("{id}.json")), &g).expect("data");
    };
    data("graph_20251006_000000");
    h.link("graph_20251006_000000.meta", &outside_meta);
    data("graph_20251006_000001");
    let fifo = h.s.backups().join("graph_20251006_000001.meta");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo")
            .success()
    );
    data("graph_20251006_000002");
    std::fs::create_dir(h.s.backups().join("graph_20251006_000002.meta")).expect("dir");
    data("graph_20251006_000003");
    std::fs::write(
        h.s.backups().join("graph_20251006_000003.meta"),
        vec![b' '; (graphvault::store::meta::MAX_META_LEN + 1) as usize],
    )
    .expect("oversized meta");
    data("graph_20251006_000005");
    let _socket =
        std::os::unix::net::UnixListener::bind(h.s.backups().join("graph_20251006_000005.meta"))
            .expect("socket");
    h.link(
        "graph_20251006_000004.json",
        &h.outside.join(format!("{OUTSIDE_ID}.json")),
    );
    std::fs::copy(
        &outside_meta,
        h.s.backups().join("graph_20251006_000004.meta"),
    )
    .expect("meta");

    let root = h.s.root();
    let notes = |store: Store| {
        run_with_timeout(move || {
            let listing = store.list_backups().expect("list");
            listing
                .backups
                .iter()
                .filter(|b| b.id.to_string().starts_with("graph_20251006"))
                .map(|b| {
                    (
                        b.id.to_string(),
                        b.size,
                        b.checksum.clone(),
                        b.notes.join("; "),
                    )
                })
                .collect::<Vec<_>>()
        })
    };
    let by_name = notes(open_real(&root));
    let by_path = notes(
        Store::open_with(
            &root,
            Arc::new(crate::hookfs::HookFs::new(
                Arc::new(RealFs),
                Arc::new(PathsOnly),
            )),
        )
        .expect("open"),
    );
    assert_eq!(by_name, by_path);
    let note = |id: &str| {
        by_name
            .iter()
            .find(|(i, ..)| i == id)
            .map(|(_, size, checksum, notes)| (*size, checksum.clone(), notes.clone()))
            .expect(id)
    };
    for (id, says) in [
        ("graph_20251006_000000", "symlink"),
        ("graph_20251006_000001", "FIFO"),
        ("graph_20251006_000002", "directory"),
        ("graph_20251006_000003", "limit"),
        ("graph_20251006_000005", "a socket"),
    ] {
        let (size, checksum, notes) = note(id);
        assert_eq!(size, Some(g.len() as u64), "{id}");
        assert_eq!(checksum, None, "{id}: the meta was read: {notes}");
        assert!(
            notes.contains("cannot read meta") && notes.contains(says),
            "{id}: {notes}"
        );
    }
    let (size, _, notes) = note("graph_20251006_000004");
    assert_eq!(size, None, "{notes}");
    assert!(notes.contains("a symlink"), "{notes}");
}

/// A listing's handle on `backups/` keeps reading the directory it opened:
/// the directory swapped for a symlink to another one afterwards is never
/// followed, and a symlink in its place is never opened as the handle.
/// (A red-team pass swapped `backups/` during listings: a listing that fell
/// back to paths mixed the two directories' files in one answer.)
#[test]
fn a_backups_directory_swapped_for_a_symlink_is_never_read_through() {
    use graphvault::store::fs::{Fs as _, RealFs};
    let tmp = tempfile::tempdir().expect("tempdir");
    let ours = tmp.path().join("backups");
    let theirs = tmp.path().join("theirs");
    for (dir, text) in [(&ours, "ours"), (&theirs, "theirs")] {
        std::fs::create_dir(dir).expect("dir");
        std::fs::write(dir.join("graph_20251001_000000.meta"), text).expect("meta");
        std::fs::write(dir.join(format!("only_{text}")), text).expect("file");
    }
    let handle = RealFs.open_dir(&ours).expect("open").expect("a handle");
    // Swapped: our directory moved aside, a symlink to theirs in its place.
    std::fs::rename(&ours, tmp.path().join("moved")).expect("move");
    symlink(&theirs, &ours).expect("symlink");
    let mut names: Vec<String> = handle
        .entries()
        .expect("entries")
        .into_iter()
        .map(|e| e.name)
        .collect();
    names.sort();
    assert_eq!(names, ["graph_20251001_000000.meta", "only_ours"]);
    let mut buf = Vec::new();
    handle
        .read_into("graph_20251001_000000.meta", 1024, &mut buf)
        .expect("read");
    assert_eq!(buf, b"ours");
    assert_eq!(handle.entry("only_ours").expect("stat").len, 4);
    assert!(handle.entry("only_theirs").is_err());
    // A symlink is never opened as the handle, and the listing refuses it.
    assert!(RealFs.open_dir(&ours).is_err());
    let store_root = tmp.path();
    let e = Store::open(store_root)
        .expect("open")
        .list_backups()
        .expect_err("refused");
    assert!(e.to_string().contains("symlink"), "{e}");
}

/// Swaps `backups/` for a symlink to `outside` when the first file is
/// created in the trash (the manifest of a move, written after the backup's
/// files were hashed and before they are linked).
struct SwapBackupsOnRead {
    backups: PathBuf,
    outside: PathBuf,
    done: std::sync::atomic::AtomicBool,
}

impl crate::hookfs::Hook for SwapBackupsOnRead {
    fn before(&self, op: &crate::hookfs::Op) -> std::io::Result<()> {
        let in_trash = op.path.parent().is_some_and(|p| p.ends_with("trash"));
        if op.kind == crate::hookfs::OpKind::CreateNew
            && in_trash
            && !self.done.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            std::fs::rename(&self.backups, self.backups.with_extension("moved"))?;
            symlink(&self.outside, &self.backups)?;
        }
        Ok(())
    }
}

/// A rotation whose `backups/` is swapped for a symlink to another
/// directory while it moves backups to the trash moves nothing from there:
/// the directory's identity is checked before each file is linked and
/// removed. (A red-team pass swapped it during `rotate --apply`, and files
/// of the other directory were moved into the store's trash.)
#[test]
fn a_rotation_never_moves_files_from_a_directory_swapped_in_for_backups() {
    use graphvault::store::fs::RealFs;
    use graphvault::store::save::SaveOptions;
    use std::sync::Arc;
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("storage");
    let store = open_real(&root);
    for i in 0..4 {
        let graph = KnowledgeGraph::from_slice(app_graph(2, 2, false, &format!("r{i}")).as_bytes())
            .expect("graph");
        store
            .save_with(
                &graph,
                &SaveOptions {
                    rotate: false,
                    at: Some(chrono::Local::now() - chrono::Duration::days(40 - i * 10)),
                },
            )
            .expect("save");
    }
    // Another directory with the same names and other bytes.
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).expect("outside");
    for entry in std::fs::read_dir(store.backups_dir()).expect("list") {
        let name = entry.expect("entry").file_name();
        std::fs::write(outside.join(&name), b"not the store's").expect("outside file");
    }
    let outside_before = snapshot_tree(&outside);
    let backups = store.backups_dir();
    let swapping = Store::open_with(
        &root,
        Arc::new(crate::hookfs::HookFs::new(
            Arc::new(RealFs),
            Arc::new(SwapBackupsOnRead {
                backups: backups.clone(),
                outside: outside.clone(),
                done: std::sync::atomic::AtomicBool::new(false),
            }),
        )),
    )
    .expect("open")
    .with_lock_wait(LOCK_GRACE);
    let policy = RetentionPolicy {
        keep_last: Some(1),
        keep_within: None,
        min_valid: 1,
        ..Default::default()
    };
    let result = swapping.rotate(&policy, RotateOptions { dry_run: false });
    let message = match &result {
        Ok(report) => format!("{report:?}"),
        Err(e) => e.to_string(),
    };
    assert!(
        std::fs::symlink_metadata(&backups)
            .expect("swapped")
            .file_type()
            .is_symlink(),
        "the swap happened: {message}"
    );
    assert_eq!(snapshot_tree(&outside), outside_before, "{message}");
    let trash = root.join(".graphvault").join("trash");
    for entry in std::fs::read_dir(&trash).into_iter().flatten() {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).unwrap_or_default();
        assert!(
            !bytes.starts_with(b"not the store's"),
            "{} came from the other directory: {message}",
            path.display()
        );
    }
    assert!(result.is_err() || message.contains("replaced"), "{message}");
}
