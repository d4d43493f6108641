//! The parsers that read what others wrote: the graph, the meta and backup
//! names. Arbitrary bytes, and valid documents with random edits, 10,000
//! cases per target per run: no panic, and every refusal is an error that
//! says what is wrong (with a position for JSON).

use std::time::Instant;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use graphvault::graph::{GraphError, KnowledgeGraph};
use graphvault::store::meta::Meta;
use graphvault::store::names::BackupId;

use crate::fixtures::{app_graph, app_meta};
use crate::retention::runner;

pub const PARSER_CASES: u32 = 10_000;

fn run<S: Strategy>(name: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let started = Instant::now();
    let result = runner(PARSER_CASES).run(&strategy, test);
    println!(
        "parser property: {name}: {PARSER_CASES} cases in {:.2}s",
        started.elapsed().as_secs_f64()
    );
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
}

fn graph_verdict(bytes: &[u8]) -> Result<(), TestCaseError> {
    match KnowledgeGraph::from_slice(bytes) {
        Ok(g) => {
            // Whatever parsed must survive the checks and writing it back.
            let _ = g.check_consistency();
            let _ = g.stats();
            let again = KnowledgeGraph::from_slice(&g.to_vec()).map_err(|e| {
                TestCaseError::fail(format!("written back, it no longer parses: {e}"))
            })?;
            prop_assert_eq!(again.node_count(), g.node_count());
            prop_assert_eq!(again.edge_count(), g.edge_count());
        }
        Err(e) => {
            let text = e.to_string();
            prop_assert!(!text.trim().is_empty());
            match e {
                GraphError::Syntax { line, .. } | GraphError::Shape { line, .. } => {
                    prop_assert!(line >= 1, "no position: {}", text)
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// A valid document with up to eight random edits.
fn edited(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = valid.len();
    prop::collection::vec((0..len, any::<u8>(), 0u8..3), 1..8).prop_map(move |edits| {
        let mut b = valid.clone();
        for (at, byte, how) in edits {
            let at = at.min(b.len().saturating_sub(1));
            match how {
                0 if !b.is_empty() => b[at] = byte,
                1 => b.insert(at, byte),
                _ if !b.is_empty() => {
                    b.remove(at);
                }
                _ => {}
            }
        }
        b
    })
}

#[test]
fn the_graph_parser_takes_arbitrary_bytes_without_panicking() {
    run(
        "graph, arbitrary bytes",
        prop::collection::vec(any::<u8>(), 0..512),
        |b| graph_verdict(&b),
    );
}

#[test]
fn the_graph_parser_takes_damaged_graphs_without_panicking() {
    let valid = app_graph(3, 2, true, "fuzz").into_bytes();
    run("graph, edited documents", edited(valid), |b| {
        graph_verdict(&b)
    });
}

fn meta_verdict(bytes: &[u8]) -> Result<(), TestCaseError> {
    match Meta::from_slice(bytes) {
        Ok(m) => {
            let _ = m.sha256();
            let _ = m.counts_are_legacy_zero();
            let again = Meta::from_slice(&m.to_vec()).map_err(|e| {
                TestCaseError::fail(format!("written back, it no longer parses: {e}"))
            })?;
            prop_assert_eq!(again, m);
        }
        Err(e) => prop_assert!(!e.to_string().trim().is_empty()),
    }
    Ok(())
}

#[test]
fn the_meta_parser_takes_arbitrary_bytes_without_panicking() {
    run(
        "meta, arbitrary bytes",
        prop::collection::vec(any::<u8>(), 0..256),
        |b| meta_verdict(&b),
    );
}

#[test]
fn the_meta_parser_takes_damaged_metas_without_panicking() {
    let valid = app_meta(b"graph", Some((3, 2))).into_bytes();
    run("meta, edited documents", edited(valid), |b| {
        meta_verdict(&b)
    });
}

/// An accepted id is exactly `graph_` + 8 digits + `_` + 6 digits, with an
/// optional `_N` (2..999999, no leading zero): it can name nothing but a
/// file in `backups/`.
fn id_verdict(text: &str) -> Result<(), TestCaseError> {
    match text.parse::<BackupId>() {
        Ok(id) => {
            prop_assert_eq!(id.to_string(), text);
            let b = text.as_bytes();
            prop_assert!(text.starts_with("graph_") && b.len() >= 21);
            prop_assert!(b[6..14].iter().all(u8::is_ascii_digit) && b[14] == b'_');
            prop_assert!(b[15..21].iter().all(u8::is_ascii_digit));
            if b.len() > 21 {
                prop_assert!(b[21] == b'_' && b.len() <= 28 && b[22] != b'0');
                prop_assert!(b[22..].iter().all(u8::is_ascii_digit));
            }
        }
        Err(e) => prop_assert!(e.to_string().contains("invalid backup id")),
    }
    if let Some((id, _)) = BackupId::from_file_name(text) {
        let stem = id.to_string();
        prop_assert!(
            [".json", ".meta", ".json.meta"]
                .iter()
                .any(|suffix| text == format!("{stem}{suffix}")),
            "{} is not a backup file name",
            text
        );
    }
    Ok(())
}

#[test]
fn backup_names_take_arbitrary_text_without_panicking() {
    run("backup id, arbitrary text", any::<String>(), |s| {
        id_verdict(&s)
    });
}

#[test]
fn backup_names_take_near_miss_names_without_panicking() {
    run(
        "backup id, near-miss names",
        "graph_[0-9]{7,9}_[0-9]{5,7}(_[0-9]{0,8})?(\\.json|\\.meta|\\.json\\.meta|/\\.\\./x)?",
        |s| id_verdict(&s),
    );
}
