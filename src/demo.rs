//! The demo store: a sandbox built from `assets/demo/graph.json` with a
//! history of backups over several weeks in which the graph grows and
//! changes, including backups with the application's legacy metas.

use std::path::{Path, PathBuf};

use chrono::{Duration, Local, Timelike};
use serde::Serialize;

use crate::graph::KnowledgeGraph;
use crate::store::error::{Result, StoreError};
use crate::store::save::SaveOptions;
use crate::store::{BACKUPS_DIR, Store};

/// Seed of the demo history in `assets/demo/history/` (see the test that
/// regenerates it).
pub const DEMO_SEED: u64 = 20_251_003;

/// The demo's history, oldest first: the application's `graph.json` as it
/// was at each of twelve saves (shipped in `assets/demo/history/`).
pub const HISTORY: [&[u8]; 12] = [
    include_bytes!("../assets/demo/history/01.json"),
    include_bytes!("../assets/demo/history/02.json"),
    include_bytes!("../assets/demo/history/03.json"),
    include_bytes!("../assets/demo/history/04.json"),
    include_bytes!("../assets/demo/history/05.json"),
    include_bytes!("../assets/demo/history/06.json"),
    include_bytes!("../assets/demo/history/07.json"),
    include_bytes!("../assets/demo/history/08.json"),
    include_bytes!("../assets/demo/history/09.json"),
    include_bytes!("../assets/demo/history/10.json"),
    include_bytes!("../assets/demo/history/11.json"),
    include_bytes!("../assets/demo/history/12.json"),
];

/// What [`build_demo_store`] made.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    pub root: PathBuf,
    pub backups: usize,
    pub node_count: usize,
    pub edge_count: usize,
}

/// Builds the demo store in `root` (which must be absent, empty, or an
/// earlier demo store, which is rebuilt).
///
/// # Errors
/// `root` holds something that is not a sandbox store, or an I/O error.
pub fn build_demo_store(root: &Path) -> Result<DemoReport> {
    build_demo_store_keyed(root, None)
}

/// [`build_demo_store`] with every meta it writes signed by `key` (the
/// HMAC of `--key-file`), so the demo shows tamper evidence: a `tampered`
/// primary is then caught at the checksum level. The two legacy metas stay
/// unsigned, as the application writes them ("not authenticated").
///
/// # Errors
/// As [`build_demo_store`].
pub fn build_demo_store_keyed(
    root: &Path,
    key: Option<crate::store::auth::Key>,
) -> Result<DemoReport> {
    let existing = Store::open(root)?;
    let non_empty = match std::fs::read_dir(root) {
        Ok(mut d) => d.next().is_some(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        // Something is there that cannot be listed: never write into it.
        Err(e) => return Err(StoreError::io("list the demo directory", root, e)),
    };
    if non_empty && !existing.has_sandbox_marker() {
        return Err(StoreError::Refused {
            path: root.to_path_buf(),
            reason: "is not empty and not a graphvault sandbox; the demo never writes over real data (pick another --dir)".into(),
        });
    }
    if non_empty {
        // An earlier demo: start over, removing only what it wrote.
        remove_earlier_demo(root)?;
    }
    let store = match key {
        Some(key) => Store::open(root)?.with_key(key),
        None => Store::open(root)?,
    };
    store.mark_sandbox("demo store built by `graphvault demo`")?;
    let now = Local::now().with_nanosecond(0).unwrap_or_else(Local::now);
    let start = now - Duration::days(40);
    let mut last = None;
    for (step, bytes) in HISTORY.iter().enumerate() {
        let graph = KnowledgeGraph::from_slice(bytes).map_err(|e| StoreError::Graph {
            path: PathBuf::from(format!("assets/demo/history/{:02}.json", step + 1)),
            source: e,
        })?;
        // Every three or four days at a different time of day; the last
        // save two hours ago.
        let at = if step + 1 == HISTORY.len() {
            now - Duration::hours(2)
        } else {
            start + Duration::hours((step as i64) * 83 + (step as i64 % 3) * 5)
        };
        store.save_with(
            &graph,
            &SaveOptions {
                rotate: false,
                at: Some(at),
            },
        )?;
        last = Some(graph);
    }
    let last = last.unwrap_or_default();
    legacyize_oldest(&store)?;
    let backups = store.backups_dir();
    let _ = std::fs::create_dir_all(backups.join("20251001_161329"));
    let _ = std::fs::write(backups.join(".gitkeep"), "");
    let count = store.list_backups()?.backups.len();
    write_manifest(root)?;
    Ok(DemoReport {
        root: root.to_path_buf(),
        backups: count,
        node_count: last.node_count(),
        edge_count: last.edge_count(),
    })
}

/// The demo's list of what it wrote, so that a rebuild removes only that.
const MANIFEST: &str = "demo-files.json";

/// What the demo wrote: every directory, and every file with its SHA-256.
#[derive(Debug, Default, Serialize, serde::Deserialize)]
struct Manifest {
    dirs: Vec<String>,
    files: std::collections::BTreeMap<String, String>,
}

/// One entry of a demo directory, found by [`walk`].
struct Found {
    rel: String,
    path: PathBuf,
    kind: Kind,
}

#[derive(PartialEq)]
enum Kind {
    Dir,
    File,
    /// A symlink, FIFO, socket or device: never written by the demo.
    Other,
}

/// Every entry under `root`, parents before children, symlinks not followed.
fn walk(root: &Path) -> Result<Vec<Found>> {
    let mut out = Vec::new();
    let mut pending = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = pending.pop() {
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| StoreError::io("list the demo directory", &dir, e))?;
        let mut names: Vec<_> = entries
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<_>>()
            .map_err(|e| StoreError::io("list the demo directory", &dir, e))?;
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let rel = if rel.is_empty() {
                name.to_string_lossy().into_owned()
            } else {
                format!("{rel}/{}", name.to_string_lossy())
            };
            let ft = std::fs::symlink_metadata(&path)
                .map_err(|e| StoreError::io("inspect the demo directory", &path, e))?
                .file_type();
            let kind = if ft.is_dir() {
                pending.push((path.clone(), rel.clone()));
                Kind::Dir
            } else if ft.is_file() {
                Kind::File
            } else {
                Kind::Other
            };
            out.push(Found { rel, path, kind });
        }
    }
    Ok(out)
}

/// Files graphvault itself writes in a store and makes again on demand:
/// the lock, logs, caches and records of checks, and the demo's own marks.
fn regenerable(rel: &str) -> bool {
    let Some(inner) = rel.strip_prefix(".graphvault/") else {
        return false;
    };
    matches!(
        inner,
        "lock"
            | "ui.log"
            | "sandbox"
            | MANIFEST
            | crate::store::status::STATUS_FILE
            | crate::store::scrub::SCRUB_RECORD_FILE
    ) || inner.starts_with("ui.log.")
        || inner
            .strip_prefix("memo/")
            .or_else(|| inner.strip_prefix(&format!("{}/", crate::store::node_index::INDEX_DIR)))
            .is_some_and(|name| !name.contains('/'))
}

fn manifest_path(root: &Path) -> PathBuf {
    root.join(crate::store::STATE_DIR).join(MANIFEST)
}

fn hash_of(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| StoreError::io("read a demo file", path, e))?;
    Ok(crate::store::digest::sha256_hex(&bytes))
}

/// Records what the demo just wrote in `.graphvault/demo-files.json`.
fn write_manifest(root: &Path) -> Result<()> {
    let mut manifest = Manifest::default();
    for found in walk(root)? {
        match found.kind {
            Kind::Dir => manifest.dirs.push(found.rel),
            Kind::File if !regenerable(&found.rel) => {
                let sha = hash_of(&found.path)?;
                manifest.files.insert(found.rel, sha);
            }
            _ => {}
        }
    }
    let path = manifest_path(root);
    let text = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    std::fs::write(&path, text).map_err(|e| StoreError::io("record the demo's files", &path, e))
}

/// Removes an earlier demo before a rebuild: only the files it wrote, with
/// the bytes it wrote (checked against its manifest), graphvault's caches,
/// and then its directories once empty. Anything else (a file of the
/// user's, a file changed since, a symlink, a FIFO, a new backup) makes it
/// refuse before removing anything.
fn remove_earlier_demo(root: &Path) -> Result<()> {
    let refuse = |reason: String| StoreError::Refused {
        path: root.to_path_buf(),
        reason,
    };
    let manifest_file = manifest_path(root);
    let manifest: Manifest = std::fs::read(&manifest_file)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| {
            refuse(format!(
                "holds a sandbox store without a readable list of the demo's files ({}), so graphvault cannot tell its files from others and removes nothing; pick another --dir, or empty this one yourself",
                manifest_file.display()
            ))
        })?;
    let found = walk(root)?;
    let mut foreign = Vec::new();
    for f in &found {
        let why = match f.kind {
            Kind::Dir if manifest.dirs.contains(&f.rel) => None,
            Kind::Dir if regenerable(&format!("{}/x", f.rel)) => None,
            Kind::Dir => Some("a directory the demo did not make"),
            Kind::File if regenerable(&f.rel) => None,
            Kind::File => match manifest.files.get(&f.rel) {
                Some(sha) if *sha == hash_of(&f.path)? => None,
                Some(_) => Some("changed since the demo wrote it"),
                None => Some("not written by the demo"),
            },
            Kind::Other => Some("not a regular file or directory"),
        };
        if let Some(why) = why {
            foreign.push(format!("{} ({why})", f.rel));
        }
    }
    if !foreign.is_empty() {
        let shown = foreign.len().min(5);
        let more = match foreign.len() - shown {
            0 => String::new(),
            n => format!(" and {n} more"),
        };
        return Err(refuse(format!(
            "holds an earlier demo, but also {}{more}; a rebuild removes only the demo's own unchanged files, so nothing was removed; pick another --dir, or move these away",
            foreign[..shown].join(", ")
        )));
    }
    for f in found.iter().filter(|f| f.kind == Kind::File) {
        std::fs::remove_file(&f.path)
            .map_err(|e| StoreError::io("remove an earlier demo's file", &f.path, e))?;
    }
    // Children were listed after their parents: remove the deepest first,
    // each only if empty (never recursively).
    for f in found.iter().rev().filter(|f| f.kind == Kind::Dir) {
        std::fs::remove_dir(&f.path)
            .map_err(|e| StoreError::io("remove an earlier demo's directory", &f.path, e))?;
    }
    Ok(())
}

/// Rewrites the metas of the two oldest backups as the application's last
/// versions wrote them: zero counts, its own `saved_by`, and for one of
/// them the `.json.meta` name.
fn legacyize_oldest(store: &Store) -> Result<()> {
    let listing = store.list_backups()?;
    let dir = store.root().join(BACKUPS_DIR);
    for (i, b) in listing.backups.iter().rev().take(2).enumerate() {
        let Some(meta_path) = &b.meta_path else {
            continue;
        };
        let checksum = b.checksum.clone().unwrap_or_default();
        let text = format!(
            "{{\n  \"timestamp\": \"{}\",\n  \"checksum\": \"{checksum}\",\n  \"node_count\": 0,\n  \"edge_count\": 0,\n  \"graph_version\": \"1.0\",\n  \"saved_by\": \"DawsOS PersistenceManager\"\n}}",
            b.time.format("%Y-%m-%dT%H:%M:%S%.6f")
        );
        let target = if i == 1 {
            dir.join(b.id.alt_meta_file_name())
        } else {
            meta_path.clone()
        };
        std::fs::write(&target, text)
            .map_err(|e| StoreError::io("write legacy meta", &target, e))?;
        if target != *meta_path {
            std::fs::remove_file(meta_path)
                .map_err(|e| StoreError::io("rename legacy meta", meta_path, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped history is what the generator makes from `DEMO_SEED`.
    /// `GV_REGEN_ASSETS=1 cargo test --lib demo` rewrites it after a
    /// generator change.
    #[test]
    fn shipped_history_matches_the_generator() {
        let states = crate::generate::demo_history(DEMO_SEED);
        assert_eq!(states.len(), HISTORY.len());
        let regen = std::env::var_os("GV_REGEN_ASSETS").is_some();
        for (i, state) in states.iter().enumerate() {
            let bytes = state.to_vec();
            if regen {
                let path = format!(
                    "{}/assets/demo/history/{:02}.json",
                    env!("CARGO_MANIFEST_DIR"),
                    i + 1
                );
                std::fs::write(&path, &bytes).expect("write asset");
            } else {
                assert!(
                    HISTORY[i] == bytes.as_slice(),
                    "assets/demo/history/{:02}.json is stale: regenerate it",
                    i + 1
                );
            }
        }
    }

    #[test]
    fn builds_a_sandbox_with_a_dozen_backups_and_legacy_metas() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("demo");
        let report = build_demo_store(&root).expect("demo");
        assert_eq!(report.backups, 12);
        let store = Store::open(&root).expect("open");
        assert!(store.is_sandbox());
        let listing = store.list_backups().expect("list");
        assert_eq!(
            listing.backups.iter().filter(|b| b.legacy_counts).count(),
            2
        );
        assert!(listing.backups.iter().any(|b| {
            b.meta_path
                .as_ref()
                .is_some_and(|p| p.to_string_lossy().ends_with(".json.meta"))
        }));
        let span = listing.backups[0].time - listing.backups[11].time;
        assert!(span >= Duration::days(21), "spread over weeks: {span}");
        let primary = store
            .verify(
                &crate::store::verify::Target::Primary,
                crate::store::verify::Depth::Full,
            )
            .expect("verify");
        assert_eq!(primary.status, crate::store::verify::Status::Valid);
        assert!(report.node_count >= 300, "{}", report.node_count);
        // Rebuilding over an earlier demo works; over anything else it is refused.
        build_demo_store(&root).expect("rebuild");
        // A rebuild over a demo that also holds what it did not write (or
        // changed since) removes nothing at all.
        for (rel, bytes) in [
            ("notes.txt", &b"mine"[..]),
            ("backups/mine.json", b"{}"),
            (".graphvault/kept.json", b"{}"),
        ] {
            std::fs::write(root.join(rel), bytes).expect("plant");
            let err = build_demo_store(&root).expect_err("refused").to_string();
            assert!(
                err.contains(rel) && err.contains("nothing was removed"),
                "{err}"
            );
            assert_eq!(std::fs::read(root.join(rel)).expect("kept"), bytes);
            assert!(
                root.join("graph.json").exists(),
                "nothing of the demo removed either"
            );
            std::fs::remove_file(root.join(rel)).expect("unplant");
        }
        let primary = root.join("graph.json");
        let original = std::fs::read(&primary).expect("primary");
        std::fs::write(&primary, b"changed by hand").expect("change");
        let err = build_demo_store(&root).expect_err("refused").to_string();
        assert!(
            err.contains("graph.json (changed since the demo wrote it)"),
            "{err}"
        );
        std::fs::write(&primary, &original).expect("restore");
        std::os::unix::fs::symlink("/", root.join("backups/link")).expect("symlink");
        let err = build_demo_store(&root).expect_err("refused").to_string();
        assert!(err.contains("backups/link (not a regular file"), "{err}");
        std::fs::remove_file(root.join("backups/link")).expect("unlink");
        std::fs::remove_file(manifest_path(&root)).expect("no manifest");
        let err = build_demo_store(&root).expect_err("refused").to_string();
        assert!(err.contains("removes nothing"), "{err}");
        let other = dir.path().join("real");
        std::fs::create_dir_all(&other).expect("dir");
        std::fs::write(other.join("graph.json"), "{}").expect("file");
        assert!(build_demo_store(&other).is_err());
        assert_eq!(
            std::fs::read(other.join("graph.json")).expect("kept"),
            b"{}"
        );
    }

    /// The history holds a subgraph deleted by mistake a few saves ago, with other nodes
    /// changed since: `history` finds it and a partial restore brings it back without
    /// losing the newer changes.
    #[test]
    fn a_subgraph_deleted_by_mistake_comes_back_with_the_newer_work() {
        use crate::generate::{DEMO_DELETED, DEMO_MISTAKE_STEP};
        use crate::store::history::{HistoryOptions, NodeState};
        use crate::store::partial::PartialRestoreOptions;
        use crate::store::verify::{Depth, Status, Target};

        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("demo");
        build_demo_store(&root).expect("demo");
        let store = Store::open(&root).expect("open");
        let h = store
            .history(DEMO_DELETED, HistoryOptions::default())
            .expect("history");
        // Newest first: the primary, then 12 backups; gone in the newest few.
        let gone_for = HISTORY.len() - DEMO_MISTAKE_STEP;
        assert!(
            h.entries[..gone_for]
                .iter()
                .all(|e| matches!(e.state, NodeState::Absent | NodeState::Removed))
        );
        let removed = &h.entries[gone_for];
        assert_eq!(removed.state, NodeState::Removed, "{:?}", h.entries);
        let last_good = &h.entries[gone_for + 1];
        let Target::Backup(id) = &last_good.target else {
            panic!("a backup holds it");
        };
        let before =
            KnowledgeGraph::from_slice(&std::fs::read(store.primary_path()).expect("read"))
                .expect("graph");
        let old =
            KnowledgeGraph::from_slice(&std::fs::read(store.backup_data_path(id)).expect("read"))
                .expect("graph");
        // The subgraph: the company and the nodes whose edges point at it.
        let mut nodes: Vec<String> = old
            .edges()
            .filter(|e| {
                e.to() == DEMO_DELETED && matches!(e.relationship(), Some("ceo_of" | "affects"))
            })
            .map(|e| e.from().to_owned())
            .collect();
        nodes.push(DEMO_DELETED.to_owned());
        assert!(nodes.len() >= 3, "{nodes:?}");
        // Nodes changed since the backup, which a full restore would undo.
        let changed_since = crate::graph::diff(&old, &before).nodes_changed;
        assert!(changed_since.len() > 20, "{}", changed_since.len());
        let r = store
            .restore_nodes(
                id,
                &PartialRestoreOptions {
                    nodes: nodes.clone(),
                    with_edges: true,
                    ..PartialRestoreOptions::default()
                },
            )
            .expect("partial restore");
        assert_eq!(r.plan.nodes_added.len(), nodes.len());
        assert!(r.plan.edges_added.len() >= nodes.len());
        assert_eq!(r.after.as_ref().map(|a| a.status), Some(Status::Valid));
        assert_eq!(
            store
                .verify(&Target::Primary, Depth::Full)
                .expect("verify")
                .status,
            Status::Valid
        );
        let after = KnowledgeGraph::from_slice(&std::fs::read(store.primary_path()).expect("read"))
            .expect("graph");
        for node in before.nodes() {
            assert_eq!(
                after.node(node.key()).and_then(|n| n.data_json()),
                node.data_json(),
                "{} keeps its newer data",
                node.key()
            );
        }
        for id in &nodes {
            assert!(after.node(id).is_some(), "{id} is back");
        }
    }
}
