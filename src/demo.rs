//! The demo store: a sandbox built from `assets/demo/graph.json` with a
//! history of backups over several weeks in which the graph grows and
//! changes, including backups with the application's legacy metas.

use std::path::{Path, PathBuf};

use chrono::{Duration, Local, Timelike};
use serde::Serialize;

use crate::store::error::{Result, StoreError};
use crate::store::graph::KnowledgeGraph;
use crate::store::save::SaveOptions;
use crate::store::{BACKUPS_DIR, Store};

/// The sample graph shipped with graphvault (the application's format).
pub const DEMO_GRAPH: &[u8] = include_bytes!("../assets/demo/graph.json");

/// Number of saves in the demo history.
pub const HISTORY_LEN: usize = 12;

/// What [`build_demo_store`] made.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    pub root: PathBuf,
    pub backups: usize,
    pub node_count: usize,
    pub edge_count: usize,
}

/// The graph as it was at step `step` of `HISTORY_LEN` (the last step is
/// the full sample): fewer nodes early on, and prices that drift.
pub fn history_state(full: &KnowledgeGraph, step: usize) -> KnowledgeGraph {
    let mut g = full.clone();
    let total = g.node_count();
    let keep = total * (50 + 50 * step / (HISTORY_LEN - 1)) / 100;
    let doomed: Vec<String> = g.nodes().skip(keep).map(|n| n.id().to_string()).collect();
    for id in doomed {
        g.remove_node(&id);
    }
    let drift = (HISTORY_LEN - 1 - step) as f64;
    let updates: Vec<(String, String, serde_json::Value)> = g
        .nodes()
        .filter_map(|n| {
            let kind = n.kind()?.to_string();
            let mut data: serde_json::Value = serde_json::from_str(n.data_json()?).ok()?;
            let price = data.get("price")?.as_f64()?;
            if drift > 0.0 {
                let factor = 1.0 - 0.011 * drift + 0.004 * (drift * 1.7).sin();
                data["price"] = serde_json::json!((price * factor * 100.0).round() / 100.0);
                Some((n.id().to_string(), kind, data))
            } else {
                None
            }
        })
        .collect();
    for (id, kind, data) in updates {
        g.add_node(&kind, data, Some(&id));
    }
    g
}

/// Builds the demo store in `root` (which must be absent, empty, or an
/// earlier demo store, which is rebuilt).
///
/// # Errors
/// `root` holds something that is not a sandbox store, or an I/O error.
pub fn build_demo_store(root: &Path) -> Result<DemoReport> {
    let existing = Store::open(root)?;
    let non_empty = std::fs::read_dir(root)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if non_empty && !existing.is_sandbox() {
        return Err(StoreError::Refused {
            path: root.to_path_buf(),
            reason: "is not empty and not a graphvault sandbox; the demo never writes over real data (pick another --dir)".into(),
        });
    }
    if non_empty {
        // An earlier demo: start over (only a marked sandbox gets here).
        std::fs::remove_dir_all(root)
            .map_err(|e| StoreError::io("remove old demo store", root, e))?;
    }
    let store = Store::open(root)?;
    store.mark_sandbox("demo store built by `graphvault demo`")?;
    let full = KnowledgeGraph::from_slice(DEMO_GRAPH).map_err(|e| StoreError::Graph {
        path: PathBuf::from("assets/demo/graph.json"),
        source: e,
    })?;
    let now = Local::now().with_nanosecond(0).unwrap_or_else(Local::now);
    let start = now - Duration::days(40);
    let mut last = full.clone();
    for step in 0..HISTORY_LEN {
        let at = start + Duration::hours((step as i64) * 83 + (step as i64 % 3) * 5);
        let at = if step + 1 == HISTORY_LEN {
            now - Duration::hours(2)
        } else {
            at
        };
        last = history_state(&full, step);
        store.save_with(
            &last,
            &SaveOptions {
                rotate: false,
                at: Some(at),
            },
        )?;
    }
    legacyize_oldest(&store)?;
    let backups = store.backups_dir();
    let _ = std::fs::create_dir_all(backups.join("20251001_161329"));
    let _ = std::fs::write(backups.join(".gitkeep"), "");
    let count = store.list_backups()?.backups.len();
    Ok(DemoReport {
        root: root.to_path_buf(),
        backups: count,
        node_count: last.node_count(),
        edge_count: last.edge_count(),
    })
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
