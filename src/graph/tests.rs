use super::*;
use proptest::prelude::*;
use serde_json::json;
use std::collections::HashSet;

// Fixtures below were written by CPython 3.11's `json.dumps(graph, indent=2)`.
/// A version 2 file: NaN/Infinity/-Infinity, escaped non-ASCII and an astral
/// character, unknown keys at top level, in a node and in an edge between known keys, a
/// minimal node, empty containers, a dangling connection id.
const V2_FIXTURE: &str = r##"{
  "version": 2,
  "nodes": {
    "AAPL": {
      "id": "AAPL",
      "type": "stock",
      "data": {
        "symbol": "AAPL",
        "price": 175.5,
        "pe": NaN,
        "hi": Infinity,
        "lo": -Infinity,
        "name": "Apple Caf\u00e9 \ud83d\ude00",
        "tags": [],
        "extra": {}
      },
      "created": "2025-10-03T00:05:41.999417",
      "modified": "2025-10-03T00:05:41.999426",
      "connections_in": [],
      "connections_out": [
        "edge_b7ae5ae2"
      ],
      "metadata": {
        "access_count": 0,
        "last_accessed": null,
        "confidence": 1.0
      }
    },
    "GOOGL": {
      "id": "GOOGL",
      "x_unknown": {
        "a": [
          1,
          2.5e-07
        ]
      },
      "type": "stock",
      "data": {
        "symbol": "GOOGL"
      },
      "created": "2025-10-03T00:05:41",
      "modified": "2025-10-03T00:05:41.999430",
      "connections_in": [
        "edge_b7ae5ae2",
        "edge_deadbeef"
      ],
      "connections_out": [],
      "metadata": {
        "access_count": 3,
        "last_accessed": "2025-10-04T10:00:00.000001",
        "confidence": 0.75
      }
    },
    "MSFT": {
      "id": "MSFT"
    }
  },
  "edges": [
    {
      "from": "AAPL",
      "to": "GOOGL",
      "id": "edge_b7ae5ae2",
      "type": "sector_peer",
      "note": "hand \"added\"\n",
      "strength": 0.8,
      "metadata": {},
      "created": "2025-10-03T00:05:41.999439",
      "activations": 0
    },
    {
      "from": "MSFT",
      "to": "GOOGL",
      "id": "edge_0badf00d",
      "type": "correlates_with",
      "strength": NaN,
      "metadata": {
        "why": "\u2028"
      },
      "created": "2025-10-03T00:05:42.000001",
      "activations": 12
    }
  ],
  "patterns": {
    "transitive": [
      {
        "path": [
          "AAPL",
          "GOOGL",
          "MSFT"
        ],
        "confidence": 0.64
      }
    ],
    "cycle": []
  },
  "forecasts": {},
  "custom_top": [
    1,
    {
      "k": null
    }
  ],
  "metadata": {
    "last_saved": "2025-10-03T00:05:41.999491",
    "backend": "networkx",
    "stats": {
      "total_nodes": 3,
      "total_edges": 2,
      "total_patterns": 1,
      "node_types": {
        "stock": 2,
        "unknown": 1
      },
      "edge_types": {
        "sector_peer": 1,
        "correlates_with": 1
      },
      "avg_connections": 0.6666666666666666
    }
  }
}"##;

/// A version 1 file: no `version` key, `id`-first edges, Python float spellings.
const V1_FIXTURE: &str = r##"{
  "nodes": {
    "n1": {
      "id": "n1",
      "type": "concept",
      "data": {
        "text": "caf\u00e9",
        "weights": [
          0.1,
          1e-05,
          1.5e+16,
          123456789.0
        ]
      },
      "created": "2025-10-01T12:00:00.000001",
      "modified": "2025-10-01T12:00:00.000002",
      "connections_in": [],
      "connections_out": [
        "edge_00000001"
      ],
      "metadata": {
        "access_count": 0,
        "last_accessed": null,
        "confidence": 1.0
      }
    },
    "n2": {
      "id": "n2",
      "type": "concept",
      "data": {},
      "created": "2025-10-01T12:00:00.000003",
      "modified": "2025-10-01T12:00:00.000004",
      "connections_in": [
        "edge_00000001"
      ],
      "connections_out": [],
      "metadata": {
        "access_count": 0,
        "last_accessed": null,
        "confidence": 1.0
      }
    }
  },
  "edges": [
    {
      "id": "edge_00000001",
      "from": "n1",
      "to": "n2",
      "type": "related",
      "strength": 1.0,
      "metadata": {
        "source": "manual"
      },
      "created": "2025-10-01T12:00:00.000005",
      "activations": 2
    }
  ],
  "patterns": {},
  "forecasts": {},
  "metadata": {
    "last_saved": "2025-10-01T12:00:01.5",
    "stats": {
      "total_nodes": 2
    }
  }
}"##;

/// What `KnowledgeGraph::new(2)` must write.
const EMPTY_FIXTURE: &str = r##"{
  "version": 2,
  "nodes": {},
  "edges": [],
  "patterns": {},
  "forecasts": {},
  "metadata": {}
}"##;

/// The version 2 editing scenario of `editing_matches_the_application`.
const EDIT_V2: &str = r##"{
  "version": 2,
  "nodes": {
    "AAPL": {
      "id": "AAPL",
      "type": "stock",
      "data": {
        "price": 175.5,
        "symbol": "AAPL"
      },
      "created": "2025-10-03T00:05:41.999417",
      "modified": "2025-10-03T00:05:41.999417",
      "connections_in": [],
      "connections_out": [
        "EID1"
      ],
      "metadata": {
        "access_count": 0,
        "last_accessed": null,
        "confidence": 1.0
      }
    },
    "GOOGL": {
      "id": "GOOGL",
      "type": "stock",
      "data": {
        "symbol": "GOOGL"
      },
      "created": "2025-10-03T00:05:42",
      "modified": "2025-10-03T00:05:42",
      "connections_in": [
        "EID1",
        "EID2"
      ],
      "connections_out": [],
      "metadata": {
        "access_count": 0,
        "last_accessed": null,
        "confidence": 1.0
      }
    },
    "MSFT": {
      "id": "MSFT"
    }
  },
  "edges": [
    {
      "from": "AAPL",
      "to": "GOOGL",
      "id": "EID1",
      "type": "competes_with",
      "strength": 0.5,
      "metadata": {},
      "created": "2025-10-03T00:05:43.000100",
      "activations": 0
    },
    {
      "from": "MSFT",
      "to": "GOOGL",
      "id": "EID2",
      "type": "correlates_with",
      "strength": 1.0,
      "metadata": {},
      "created": "2025-10-03T00:05:44.5",
      "activations": 0
    }
  ],
  "patterns": {},
  "forecasts": {},
  "metadata": {}
}"##;

/// The version 1 editing scenario of `editing_matches_the_application`.
const EDIT_V1: &str = r##"{
  "version": 1,
  "nodes": {
    "AAPL": {
      "id": "AAPL",
      "type": "stock",
      "data": {
        "price": 175.5,
        "symbol": "AAPL"
      },
      "created": "2025-10-03T00:05:41.999417",
      "modified": "2025-10-03T00:05:41.999417",
      "connections_in": [],
      "connections_out": [
        "EID1",
        "EID3"
      ],
      "metadata": {
        "access_count": 0,
        "last_accessed": null,
        "confidence": 1.0
      }
    },
    "GOOGL": {
      "id": "GOOGL",
      "type": "stock",
      "data": {
        "symbol": "GOOGL"
      },
      "created": "2025-10-03T00:05:42",
      "modified": "2025-10-03T00:05:42",
      "connections_in": [
        "EID1",
        "EID2",
        "EID3"
      ],
      "connections_out": [],
      "metadata": {
        "access_count": 0,
        "last_accessed": null,
        "confidence": 1.0
      }
    },
    "MSFT": {
      "id": "MSFT"
    }
  },
  "edges": [
    {
      "id": "EID1",
      "from": "AAPL",
      "to": "GOOGL",
      "type": "sector_peer",
      "strength": 0.8,
      "metadata": {},
      "created": "2025-10-03T00:05:43.000100",
      "activations": 0
    },
    {
      "id": "EID2",
      "from": "MSFT",
      "to": "GOOGL",
      "type": "correlates_with",
      "strength": 1.0,
      "metadata": {},
      "created": "2025-10-03T00:05:44.5",
      "activations": 0
    },
    {
      "id": "EID3",
      "from": "AAPL",
      "to": "GOOGL",
      "type": "competes_with",
      "strength": 0.5,
      "metadata": {},
      "created": "2025-10-03T00:05:45.000001",
      "activations": 0
    }
  ],
  "patterns": {},
  "forecasts": {},
  "metadata": {}
}"##;

/// An empty version 2 graph written with a save stamp.
const STAMPED_EMPTY: &str = r##"{
  "version": 2,
  "nodes": {},
  "edges": [],
  "patterns": {},
  "forecasts": {},
  "metadata": {
    "last_saved": "2025-10-05T08:00:00.123456",
    "backend": "networkx",
    "stats": {
      "total_nodes": 0,
      "total_edges": 0,
      "total_patterns": 0,
      "node_types": {},
      "edge_types": {},
      "avg_connections": 0.0
    }
  }
}"##;

const T1: &str = "2025-10-03T00:05:41.999417";
const T2: &str = "2025-10-03T00:05:42";
const T3: &str = "2025-10-03T00:05:43.000100";
const T4: &str = "2025-10-03T00:05:44.5";
const T5: &str = "2025-10-03T00:05:45.000001";

fn parse(text: &str) -> KnowledgeGraph {
    KnowledgeGraph::from_slice(text.as_bytes()).expect("fixture parses")
}

fn text(graph: &KnowledgeGraph) -> String {
    String::from_utf8(graph.to_vec()).expect("output is UTF-8")
}

fn syntax_position(err: &GraphError) -> (usize, usize) {
    match err {
        GraphError::Syntax { line, column, .. } => (*line, *column),
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

fn shape(err: &GraphError) -> (&str, &str, usize) {
    match err {
        GraphError::Shape {
            path,
            message,
            line,
            ..
        } => (path.as_str(), message.as_str(), *line),
        other => panic!("expected a shape error, got {other:?}"),
    }
}

#[test]
fn fixtures_round_trip_byte_for_byte() {
    for fixture in [
        V2_FIXTURE,
        V1_FIXTURE,
        EMPTY_FIXTURE,
        EDIT_V1,
        EDIT_V2,
        STAMPED_EMPTY,
    ] {
        let graph = parse(fixture);
        assert_eq!(text(&graph), fixture);
        let owned = KnowledgeGraph::from_vec(fixture.as_bytes().to_vec()).expect("parses");
        assert_eq!(text(&owned), fixture);
        let mut written = Vec::new();
        graph.write_json(&mut written, None).expect("writes");
        assert_eq!(written, fixture.as_bytes());
    }
}

#[test]
fn reads_typed_fields() {
    let g = parse(V2_FIXTURE);
    assert_eq!(g.version(), 2);
    assert_eq!((g.node_count(), g.edge_count()), (3, 2));
    let aapl = g.node("AAPL").expect("AAPL");
    assert_eq!(aapl.id(), "AAPL");
    assert_eq!(aapl.kind(), Some("stock"));
    assert_eq!(
        aapl.connections_out().iter().collect::<Vec<_>>(),
        ["edge_b7ae5ae2"]
    );
    assert!(aapl.connections_in().is_empty());
    let data = aapl.data_json().expect("data");
    assert!(
        data.contains("\"pe\": NaN"),
        "payload keeps the bare token: {data}"
    );
    assert_eq!(
        aapl.created().as_deref(),
        Some("2025-10-03T00:05:41.999417")
    );
    let googl = g.node("GOOGL").expect("GOOGL");
    assert_eq!(googl.unknown_keys().collect::<Vec<_>>(), ["x_unknown"]);
    assert_eq!(googl.connections_in().len(), 2);
    assert_eq!(googl.connections_in().get(1), Some("edge_deadbeef"));
    let msft = g.node("MSFT").expect("MSFT");
    assert!(msft.is_minimal());
    assert_eq!(msft.kind(), None);
    let edge = g.edge("edge_b7ae5ae2").expect("edge");
    assert_eq!((edge.from(), edge.to()), ("AAPL", "GOOGL"));
    assert_eq!(edge.relationship(), Some("sector_peer"));
    assert_eq!(edge.strength(), Some(0.8));
    assert_eq!(edge.activations(), Some(0));
    assert_eq!(edge.unknown_keys().collect::<Vec<_>>(), ["note"]);
    let nan = g.edge("edge_0badf00d").expect("edge");
    assert!(nan.strength().is_some_and(f64::is_nan));
    assert_eq!(nan.strength_json(), Some("NaN"));
    assert!(g.edge("edge_ffffffff").is_none());
    assert!(g.node("nope").is_none());
    assert!(g.patterns_json().is_some_and(|p| p.contains("transitive")));

    let v1 = parse(V1_FIXTURE);
    assert_eq!(v1.version(), 1);
    assert_eq!(v1.edges().next().map(Edge::id), Some("edge_00000001"));
}

#[test]
fn typed_strings_unescape_and_re_escape() {
    let file = "{\n  \"nodes\": {\n    \"caf\\u00e9\": {\n      \"id\": \"caf\\u00e9\",\n      \"type\": \"\\ud83d\\ude00\"\n    }\n  },\n  \"edges\": []\n}";
    let g = parse(file);
    let node = g.node("caf\u{e9}").expect("unescaped key");
    assert_eq!(node.kind(), Some("\u{1f600}"));
    assert_eq!(text(&g), file);
}

#[test]
fn unusual_but_valid_shapes_round_trip() {
    let cases = [
        "{\n  \"nodes\": {}\n}",
        "{\n  \"version\": 1,\n  \"extra\": null,\n  \"nodes\": {},\n  \"edges\": []\n}",
        // A null type, a node stored under another key, keys in an unusual order.
        "{\n  \"nodes\": {\n    \"a\": {\n      \"type\": null,\n      \"id\": \"b\"\n    }\n  },\n  \"edges\": [\n    {\n      \"to\": \"a\",\n      \"type\": null,\n      \"from\": \"a\",\n      \"id\": \"e\"\n    }\n  ]\n}",
        // Duplicate node keys are kept, not merged.
        "{\n  \"nodes\": {\n    \"a\": {\n      \"id\": \"a\"\n    },\n    \"a\": {\n      \"id\": \"a\",\n      \"type\": \"x\"\n    }\n  }\n}",
    ];
    for case in cases {
        let g = parse(case);
        assert_eq!(text(&g), case);
    }
    let g = parse(cases[3]);
    assert_eq!(g.node_count(), 2);
    assert_eq!(
        g.node("a").and_then(Node::kind),
        Some("x"),
        "the last one wins, as in Python"
    );
    let g = parse(cases[2]);
    assert_eq!(g.node("a").map(Node::id), Some("b"));
    assert_eq!(g.edges().next().and_then(Edge::relationship), None);
}

#[test]
fn json_without_a_nodes_object_is_not_a_graph() {
    // Valid JSON that is not the application's graph: taken as an empty graph, a save
    // would replace the primary with it and recovery would restore it as a good backup.
    for case in [
        "{}",
        "{\"hello\": [1, 2, 3]}",
        "{\n  \"version\": 1,\n  \"edges\": []\n}",
        "{\"error\": \"upstream timeout\", \"edges\": []}",
    ] {
        let err = KnowledgeGraph::from_slice(case.as_bytes()).expect_err(case);
        assert!(
            matches!(err, GraphError::Shape { .. }),
            "{case}: a shape error, not {err:?}"
        );
        assert!(
            err.to_string().contains("no `nodes` object"),
            "{case}: the error says what is missing: {err}"
        );
    }
    // The same JSON broken further on is reported at its syntax error.
    let err = KnowledgeGraph::from_slice(b"{\"hello\": [1, 2,]}").expect_err("syntax");
    assert!(matches!(err, GraphError::Syntax { .. }), "{err:?}");
}

/// The parse checks the whole file's UTF-8 once and then reads it as text; a file that
/// fails the check is read as bytes, which find the bad sequence in its string.
#[test]
fn utf8_is_checked_once_and_a_bad_sequence_is_found_where_it_is() {
    let good = "{\n  \"nodes\": {\n    \"é\": {\n      \"id\": \"é\",\n      \"data\": {\"note\": \"naïve ✓ 𝄞\"}\n    }\n  }\n}";
    let g = parse(good);
    assert!(g.node("é").is_some());
    // Typed strings are written as Python does (`\u00e9`); free-form values as they were.
    assert!(
        text(&g).contains("{\"note\": \"naïve ✓ 𝄞\"}"),
        "{}",
        text(&g)
    );

    // One byte of the note's "ï" replaced by 0xFF: invalid UTF-8 inside a string, on line 5.
    let mut bad = good.as_bytes().to_vec();
    let at = good.find("ï").expect("ï") + 1;
    bad[at] = 0xFF;
    let err = KnowledgeGraph::from_slice(&bad).expect_err("invalid UTF-8");
    assert!(matches!(err, GraphError::Syntax { .. }), "{err:?}");
    assert_eq!(syntax_position(&err).0, 5, "{err}");
    // The same byte in free-form raw text outside the node table.
    let mut bad = b"{\"nodes\": {}, \"patterns\": {\"p\": \"x".to_vec();
    bad.push(0xC3);
    bad.extend_from_slice(b"\"}}");
    let err = KnowledgeGraph::from_slice(&bad).expect_err("invalid UTF-8 in raw text");
    assert!(matches!(err, GraphError::Syntax { .. }), "{err:?}");
}

#[test]
fn syntax_errors_point_at_the_original_position() {
    // Truncated mid-file.
    let truncated = &V2_FIXTURE[..200];
    let err = KnowledgeGraph::from_slice(truncated.as_bytes()).expect_err("truncated");
    let lines = truncated.lines().count();
    assert_eq!(syntax_position(&err).0, lines);

    // A missing comma, no NaN anywhere.
    let broken = "{\n  \"version\": 2\n  \"nodes\": {}\n}";
    let err = KnowledgeGraph::from_slice(broken.as_bytes()).expect_err("broken");
    assert_eq!(syntax_position(&err), (3, 3));
    assert!(err.to_string().contains("line 3 column 3"), "{err}");

    // A real error after bare NaN tokens on the same line and earlier lines: the
    // position is where the error is, not where the first NaN is, and the columns are
    // not shifted by the masking.
    let with_nan =
        "{\n  \"nodes\": {},\n  \"patterns\": {\"a\": NaN, \"b\": -Infinity, \"c\": ]}\n}";
    let err = KnowledgeGraph::from_slice(with_nan.as_bytes()).expect_err("broken");
    let col = "  \"patterns\": {\"a\": NaN, \"b\": -Infinity, \"c\": ]".len();
    assert_eq!(syntax_position(&err), (3, col));
    let err = KnowledgeGraph::from_vec(with_nan.as_bytes().to_vec()).expect_err("broken");
    assert_eq!(syntax_position(&err), (3, col));

    // An error before the first NaN is the one reported.
    let early = "{\n  \"nodes\": {,\n  \"patterns\": NaN\n}";
    let err = KnowledgeGraph::from_slice(early.as_bytes()).expect_err("broken");
    assert_eq!(syntax_position(&err), (2, 13));

    // Trailing garbage, and NaN that is not a value token.
    let err = KnowledgeGraph::from_slice(b"{} x").expect_err("trailing");
    assert_eq!(syntax_position(&err), (1, 4));
    let err = KnowledgeGraph::from_slice(b"{\"patterns\": NaNa}").expect_err("bad token");
    assert_eq!(syntax_position(&err), (1, 14));
    assert!(matches!(
        KnowledgeGraph::from_slice(b""),
        Err(GraphError::Syntax { .. })
    ));
}

#[test]
fn shape_errors_name_the_path() {
    let cases: &[(&str, &str, &str)] = &[
        ("[]", "$", "expected a knowledge graph object"),
        (
            "{\"nodes\": []}",
            "$.nodes",
            "expected an object of nodes keyed by id",
        ),
        ("{\"edges\": {}}", "$.edges", "expected a list of edges"),
        (
            "{\"version\": \"2\"}",
            "$.version",
            "expected an integer version",
        ),
        ("{\"version\": 2.0}", "$.version", "non-integer number"),
        (
            "{\"version\": -1}",
            "$.version",
            "expected an integer version",
        ),
        (
            "{\"nodes\": {\"a\": {\"type\": \"x\"}}}",
            "$.nodes.a",
            "node has no `id`",
        ),
        (
            "{\"nodes\": {\"a b\": {\"id\": 1}}}",
            "$.nodes[\"a b\"].id",
            "invalid type: number, expected a string",
        ),
        (
            "{\"nodes\": {\"a\": {\"id\": \"a\", \"connections_in\": [\"e\", 5]}}}",
            "$.nodes.a.connections_in[1]",
            "expected a string",
        ),
        (
            "{\"nodes\": {\"a\": {\"id\": \"a\", \"connections_out\": null}}}",
            "$.nodes.a.connections_out",
            "expected a list of edge ids",
        ),
        (
            "{\"edges\": [{\"id\": \"e\", \"to\": \"a\"}]}",
            "$.edges[0]",
            "edge has no `from`",
        ),
        (
            "{\"edges\": [{\"id\": \"e\", \"from\": \"a\", \"to\": \"b\"}, {\"from\": \"a\", \"to\": \"b\"}]}",
            "$.edges[1]",
            "edge has no `id`",
        ),
        (
            "{\"edges\": [{\"id\": \"e\", \"from\": \"a\", \"from\": \"b\", \"to\": \"b\"}]}",
            "$.edges[0]",
            "duplicate key `from`",
        ),
        (
            "{\"nodes\": {}, \"nodes\": {}}",
            "$",
            "duplicate key `nodes`",
        ),
        // Bare NaN where a string belongs: the message must not show the mask.
        (
            "{\"edges\": [{\"id\": \"e\", \"from\": NaN, \"to\": \"b\"}]}",
            "$.edges[0].from",
            "invalid type: number, expected a string",
        ),
    ];
    for (input, path, message) in cases {
        let err = KnowledgeGraph::from_slice(input.as_bytes()).expect_err(input);
        let (got_path, got_message, line) = shape(&err);
        assert_eq!(got_path, *path, "{input}");
        assert!(got_message.contains(message), "{input}: {got_message}");
        assert!(!got_message.contains("0.0"), "{got_message}");
        assert_eq!(line, 1);
    }
    // Position of a shape error on a later line.
    let file = "{\n  \"nodes\": {\n    \"a\": {\n      \"id\": 5\n    }\n  }\n}";
    let err = KnowledgeGraph::from_slice(file.as_bytes()).expect_err("shape");
    assert_eq!(shape(&err).2, 4);
}

#[test]
fn graphs_cross_threads() {
    fn assert_shared<T: Send + Sync + 'static>(_: &T) {}
    let g = parse(V2_FIXTURE);
    assert_shared(&g);
    let bytes = std::thread::spawn(move || g.to_vec())
        .join()
        .expect("thread");
    assert_eq!(bytes, V2_FIXTURE.as_bytes());
}

#[test]
fn size_estimate_covers_the_output() {
    let (g, _) = scenario(2);
    assert!(g.size_estimate() >= g.to_vec().len());
    let g = parse(V2_FIXTURE);
    assert!(g.size_estimate() >= g.to_vec().len());
}

#[test]
fn errors_are_shareable() {
    fn assert_error<E: std::error::Error + Send + Sync + 'static>(_: &E) {}
    let err = KnowledgeGraph::from_slice(b"[").expect_err("invalid");
    assert_error(&err);
    let store_error: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
    assert!(
        store_error.to_string().starts_with("not valid JSON"),
        "{store_error}"
    );
    // Wrong shape early, broken later: the file is reported as not JSON.
    let err =
        KnowledgeGraph::from_slice(b"{\"nodes\": [], \"edges\": [NaN, }").expect_err("invalid");
    assert_eq!(syntax_position(&err), (1, 30));
    let err = KnowledgeGraph::from_slice(b"{\"nodes\": [], \"edges\": [NaN]}").expect_err("shape");
    assert_eq!(shape(&err).0, "$.nodes");
}

fn scenario(version: u32) -> (KnowledgeGraph, Vec<String>) {
    let mut g = KnowledgeGraph::new(version);
    g.seed_ids(7);
    g.add_node_at(
        "stock",
        &json!({"symbol": "AAPL", "price": 175.5}),
        Some("AAPL"),
        T1,
    );
    g.add_node_at("stock", &json!({"symbol": "GOOGL"}), Some("GOOGL"), T2);
    let e1 = g
        .connect_at("AAPL", "GOOGL", "sector_peer", 0.8, T3)
        .expect("connect");
    let e2 = g
        .connect_at("MSFT", "GOOGL", "correlates_with", 1.0, T4)
        .expect("connect");
    let e3 = g
        .connect_at("AAPL", "GOOGL", "competes_with", 0.5, T5)
        .expect("connect");
    (g, vec![e1, e2, e3])
}

#[test]
fn editing_matches_the_application() {
    let (g, ids) = scenario(2);
    assert_eq!(ids[0], ids[2], "version 2 keeps one edge per pair");
    let expected = EDIT_V2.replace("EID1", &ids[0]).replace("EID2", &ids[1]);
    assert_eq!(text(&g), expected);

    let (g, ids) = scenario(1);
    assert_ne!(ids[0], ids[2], "version 1 allows parallel edges");
    let expected = EDIT_V1
        .replace("EID1", &ids[0])
        .replace("EID2", &ids[1])
        .replace("EID3", &ids[2]);
    assert_eq!(text(&g), expected);
    for id in &ids {
        assert!(id.starts_with("edge_") && id.len() == 13, "{id}");
        assert!(
            id[5..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }
    assert!(g.check_consistency().is_consistent());
}

#[test]
fn add_node_updates_an_existing_node_in_place() {
    let (mut g, ids) = scenario(2);
    let id = g.add_node_at("etf", &json!({"v": 1}), Some("AAPL"), T5);
    assert_eq!(id, "AAPL");
    let node = g.node("AAPL").expect("AAPL");
    assert_eq!(node.kind(), Some("etf"));
    assert_eq!(node.created().as_deref(), Some(T1), "created is kept");
    assert_eq!(node.modified().as_deref(), Some(T5));
    assert_eq!(
        node.connections_out().iter().collect::<Vec<_>>(),
        [ids[0].as_str()]
    );
    assert_eq!(node.data_json(), Some("{\n        \"v\": 1\n      }"));
    assert_eq!(g.node_count(), 3);

    // A minimal node gains the fields at the end, as a Python dict would.
    g.add_node_at("stock", &json!({}), Some("MSFT"), T5);
    let expected = "    \"MSFT\": {\n      \"id\": \"MSFT\",\n      \"type\": \"stock\",\n      \"data\": {},\n      \"modified\": \"2025-10-03T00:05:45.000001\"\n    }";
    assert!(text(&g).contains(expected), "{}", text(&g));
    let reparsed = parse(&text(&g));
    assert_eq!(text(&reparsed), text(&g));
}

#[test]
fn generated_ids_are_unique_and_shaped() {
    let mut g = KnowledgeGraph::new(2);
    g.seed_ids(1);
    let mut seen = HashSet::new();
    for _ in 0..500 {
        let id = g.add_node_at("company", &json!(null), None, T1);
        assert!(
            id.starts_with("company_") && id.len() == "company_".len() + 8,
            "{id}"
        );
        assert!(seen.insert(id));
    }
    // Same seed, same ids.
    let mut again = KnowledgeGraph::new(2);
    again.seed_ids(1);
    let first = again.add_node_at("company", &json!(null), None, T1);
    assert_eq!(
        Some(&first),
        g.nodes().next().map(|n| n.id().to_owned()).as_ref()
    );
}

#[test]
fn add_node_json_keeps_order_and_non_finite_numbers() {
    let mut g = KnowledgeGraph::new(2);
    let id = g
        .add_node_json_at("company", r#"{"z": NaN, "a": [1.50, "é"]}"#, Some("X"), T1)
        .expect("valid payload");
    assert_eq!(id, "X");
    assert_eq!(
        g.node("X").and_then(Node::data_json),
        Some(
            "{\n        \"z\": NaN,\n        \"a\": [\n          1.50,\n          \"\\u00e9\"\n        ]\n      }"
        )
    );
    let out = text(&g);
    assert_eq!(text(&parse(&out)), out);
    assert!(matches!(
        g.add_node_json("company", "{", None),
        Err(GraphError::InvalidPayload(_))
    ));
    assert_eq!(g.set_node_data_json("X", "[Infinity]", T2), Ok(true));
    assert_eq!(g.set_node_data_json("nope", "1", T2), Ok(false));
    assert!(text(&g).contains("\"data\": [\n        Infinity\n      ]"));
}

#[test]
fn connect_rejects_bad_strength() {
    let mut g = KnowledgeGraph::new(2);
    for bad in [f64::NAN, f64::INFINITY, -0.1, 1.5] {
        assert!(matches!(
            g.connect("a", "b", "r", bad),
            Err(GraphError::InvalidStrength { .. })
        ));
    }
    assert_eq!(g.node_count(), 0, "nothing is created on error");
    assert!(g.connect("a", "b", "r", 0.0).is_ok());
    assert!(g.connect("a", "a", "self", 1.0).is_ok());
    assert_eq!((g.node_count(), g.edge_count()), (2, 2));
}

#[test]
fn stats_count_like_the_application() {
    let g = parse(V2_FIXTURE);
    let stats = g.stats();
    assert_eq!(stats.total_nodes, 3);
    assert_eq!(stats.total_edges, 2);
    assert_eq!(stats.total_patterns, 1);
    assert_eq!(
        stats.node_types,
        vec![("stock".into(), 2), ("unknown".into(), 1)]
    );
    assert_eq!(
        stats.edge_types,
        vec![("sector_peer".into(), 1), ("correlates_with".into(), 1)]
    );
    assert_eq!(stats.avg_connections, 2.0 / 3.0);
    assert_eq!(
        pyjson::to_python_json(&stats, 0).expect("serializes"),
        "{\n  \"total_nodes\": 3,\n  \"total_edges\": 2,\n  \"total_patterns\": 1,\n  \"node_types\": {\n    \"stock\": 2,\n    \"unknown\": 1\n  },\n  \"edge_types\": {\n    \"sector_peer\": 1,\n    \"correlates_with\": 1\n  },\n  \"avg_connections\": 0.6666666666666666\n}"
    );

    let mut g = KnowledgeGraph::new(2);
    assert_eq!(g.stats().avg_connections, 0.0);
    g.set_patterns_json(r#"{"transitive": [1, 2, 3], "cycle": [[1], [2]], "note": "x", "n": NaN}"#)
        .expect("valid");
    assert_eq!(g.stats().total_patterns, 3 + 2 + 1 + 1);
}

#[test]
fn stamp_updates_metadata_as_a_save_does() {
    let stamp = SaveStamp {
        last_saved: "2025-10-05T08:00:00.123456".into(),
    };
    let mut out = Vec::new();
    KnowledgeGraph::new(2)
        .write_json(&mut out, Some(&stamp))
        .expect("writes");
    assert_eq!(String::from_utf8(out).expect("utf8"), STAMPED_EMPTY);

    // The stats in the fixture are already right, so only last_saved changes.
    let g = parse(V2_FIXTURE);
    let mut out = Vec::new();
    g.write_json(&mut out, Some(&stamp)).expect("writes");
    let expected = V2_FIXTURE.replace(
        "\"last_saved\": \"2025-10-03T00:05:41.999491\"",
        "\"last_saved\": \"2025-10-05T08:00:00.123456\"",
    );
    assert_eq!(String::from_utf8(out).expect("utf8"), expected);

    // Version 1: no backend added; unknown metadata keys keep their place; stats are
    // recomputed wherever they were.
    let file = "{\n  \"nodes\": {},\n  \"edges\": [],\n  \"metadata\": {\n    \"stats\": 1,\n    \"mine\": [\n      NaN\n    ]\n  }\n}";
    let mut g = parse(file);
    g.stamp(&stamp);
    let written = text(&g);
    assert!(
        written.contains("\"metadata\": {\n    \"stats\": {\n      \"total_nodes\": 0,"),
        "{written}"
    );
    assert!(written.contains("\"mine\": [\n      NaN\n    ],\n    \"last_saved\": \"2025-10-05T08:00:00.123456\"\n  }\n}"), "{written}");
    assert!(!written.contains("backend"));

    // No metadata at all: it is added at the end.
    let mut g = parse("{\n  \"version\": 2,\n  \"nodes\": {}\n}");
    let mut out = Vec::new();
    g.write_json(&mut out, Some(&stamp)).expect("writes");
    g.stamp(&stamp);
    assert_eq!(out, g.to_vec());
    assert!(text(&g).ends_with("\"avg_connections\": 0.0\n    }\n  }\n}"));
}

#[test]
fn python_timestamps() {
    let t = chrono::NaiveDate::from_ymd_opt(2025, 10, 3)
        .and_then(|d| d.and_hms_micro_opt(0, 5, 41, 999_417))
        .expect("valid date");
    assert_eq!(python_timestamp(&t), "2025-10-03T00:05:41.999417");
    let t = chrono::NaiveDate::from_ymd_opt(2025, 1, 2)
        .and_then(|d| d.and_hms_opt(3, 4, 5))
        .expect("valid date");
    assert_eq!(python_timestamp(&t), "2025-01-02T03:04:05");
    assert!(SaveStamp::now().last_saved.starts_with("20"));
}

#[test]
fn consistency_reports_every_problem_kind() {
    let g = parse(V2_FIXTURE);
    let report = g.check_consistency();
    assert!(report.is_consistent(), "{report:?}");
    assert_eq!(
        report.warnings,
        vec![
            "1 connection id that names no edge: GOOGL: in edge_deadbeef".to_owned(),
            "1 node with nothing but an id: MSFT".to_owned(),
        ]
    );

    let file = r#"{
  "nodes": {
    "a": {"id": "a", "connections_out": ["e1"]},
    "a": {"id": "a"},
    "b": {"id": "c", "type": "t"}
  },
  "edges": [
    {"id": "e1", "from": "a", "to": "b", "strength": 0.5},
    {"id": "e1", "from": "a", "to": "zz", "strength": "high"},
    {"id": "e2", "from": "qq", "to": "b", "strength": NaN},
    {"id": "e3", "from": "a", "to": "b", "strength": null},
    {"id": "e4", "from": "a", "to": "b"}
  ]
}"#;
    let report = parse(file).check_consistency();
    assert_eq!(
        report.problems,
        vec![
            "1 duplicate node key: a".to_owned(),
            "1 node whose id differs from its key: \"b\" has id \"c\"".to_owned(),
            "1 duplicate edge id: e1".to_owned(),
            "2 dangling edges (endpoint is not a node): e1 -> zz, e2 -> qq".to_owned(),
            "1 edge whose strength is not a number: e1".to_owned(),
        ]
    );
    // `null` is what the application writes for no strength: a warning.
    assert_eq!(
        report.warnings,
        vec![
            "1 node with nothing but an id: a".to_owned(),
            "2 edges without a strength (absent or null): e3, e4".to_owned(),
        ]
    );
}

#[test]
fn consistency_lists_are_capped() {
    let mut g = KnowledgeGraph::new(2);
    for i in 0..25 {
        g.connect_at("hub", &format!("n{i:02}"), "r", 0.5, T1)
            .expect("connect");
    }
    let report = g.check_consistency();
    assert!(report.is_consistent());
    let minimal = &report.warnings[0];
    assert!(
        minimal.starts_with("26 nodes with nothing but an id: hub, n00, "),
        "{minimal}"
    );
    assert!(minimal.ends_with(", n18 and 6 more"), "{minimal}");
}

#[test]
fn removal_keeps_connections_consistent() {
    let (mut g, ids) = scenario(1);
    assert!(g.remove_edge(&ids[0]));
    assert!(!g.remove_edge(&ids[0]));
    assert!(g.edge(&ids[0]).is_none());
    assert!(
        !g.node("AAPL")
            .expect("AAPL")
            .connections_out()
            .contains(&ids[0])
    );
    assert!(
        !g.node("GOOGL")
            .expect("GOOGL")
            .connections_in()
            .contains(&ids[0])
    );
    let report = g.check_consistency();
    assert!(report.is_consistent(), "{report:?}");

    assert!(g.remove_node("GOOGL"));
    assert!(!g.remove_node("GOOGL"));
    assert_eq!(g.edge_count(), 0, "every edge touched GOOGL");
    assert!(g.node("AAPL").expect("AAPL").connections_out().is_empty());
    let report = g.check_consistency();
    assert!(
        report.problems.is_empty() && report.warnings.len() == 1,
        "{report:?}"
    );
    // Lookups still work after the indexes were rebuilt.
    assert!(g.node("MSFT").is_some());
    let again = parse(&text(&g));
    assert_eq!(text(&again), text(&g));
}

#[test]
fn diff_calls_the_same_values_escaped_another_way_unchanged() {
    let doc = |name: &str, strength: &str| {
        format!(
            r#"{{"nodes": {{"A": {{"id": "A", "type": "stock", "data": {{"name": "{name}"}}}}, "B": {{"id": "B", "type": "stock", "data": {{}}}}}},
               "edges": [{{"id": "e1", "from": "A", "to": "B", "relationship": "r", "strength": {strength}, "data": {{"note": "{name}"}}}}]}}"#
        )
    };
    let escaped =
        KnowledgeGraph::from_slice(doc(r"Soci\u00e9t\u00e9", "0.5").as_bytes()).expect("graph");
    let by_hand = KnowledgeGraph::from_slice(doc("Société", "0.5").as_bytes()).expect("graph");
    let d = diff(&escaped, &by_hand);
    assert!(d.is_empty(), "{d:?}");
    // Another value is a change, node and edge alike.
    let other = KnowledgeGraph::from_slice(doc("Societe", "0.5").as_bytes()).expect("graph");
    let d = diff(&escaped, &other);
    assert_eq!(
        (d.nodes_changed.as_slice(), d.edges_changed.as_slice()),
        (&["A".to_string()][..], &["e1".to_string()][..])
    );
}

#[test]
fn diff_by_key_and_id() {
    let (old, ids) = scenario(1);
    assert!(diff(&old, &old).is_empty());
    let mut new = old.clone();
    new.add_node_at(
        "stock",
        &json!({"symbol": "GOOGL", "price": 1.0}),
        Some("GOOGL"),
        T5,
    );
    new.add_node_at("bond", &json!({}), Some("TLT"), T5);
    assert!(new.remove_node("MSFT"));
    let added = new
        .connect_at("TLT", "AAPL", "hedges", 0.3, T5)
        .expect("connect");
    let d = diff(&old, &new);
    assert_eq!(d.nodes_added, ["TLT"]);
    assert_eq!(d.nodes_removed, ["MSFT"]);
    // AAPL changed too: it lost nothing but gained an incoming connection.
    assert_eq!(d.nodes_changed, ["AAPL", "GOOGL"]);
    assert_eq!(d.edges_added, [added]);
    assert_eq!(d.edges_removed, [ids[1].clone()]);
    assert!(d.edges_changed.is_empty());
    assert_eq!((d.old_node_count, d.new_node_count), (3, 3));
    assert_eq!((d.old_edge_count, d.new_edge_count), (3, 3));

    let mut changed = old.clone();
    changed
        .connect_at("AAPL", "GOOGL", "x", 0.1, T5)
        .expect("connect");
    let mut v2 = KnowledgeGraph::new(2);
    v2.connect_at("a", "b", "r", 0.5, T1).expect("connect");
    let mut v2b = v2.clone();
    let e = v2b.connect_at("a", "b", "s", 0.5, T1).expect("connect");
    assert_eq!(diff(&v2, &v2b).edges_changed, [e]);
    let json = serde_json::to_value(diff(&v2, &v2b)).expect("serializes");
    assert_eq!(json["edges_changed"].as_array().map(Vec::len), Some(1));
}

#[test]
fn write_json_streams_in_chunks() {
    struct Counting {
        bytes: Vec<u8>,
        writes: usize,
    }
    impl io::Write for Counting {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.writes += 1;
            self.bytes.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut g = KnowledgeGraph::new(2);
    let payload = json!({"text": "x".repeat(10_000)});
    for i in 0..300 {
        g.add_node_at("doc", &payload, Some(&format!("d{i}")), T1);
    }
    let mut sink = Counting {
        bytes: Vec::new(),
        writes: 0,
    };
    g.write_json(&mut sink, None).expect("writes");
    assert_eq!(sink.bytes, g.to_vec());
    assert!(sink.writes > 1, "a 3 MB graph goes out in several writes");
    let failing = FailingWriter;
    assert!(g.write_json(failing, None).is_err());
}

struct FailingWriter;
impl io::Write for FailingWriter {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::other("disk full"))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One editing step of a random graph-building program.
#[derive(Debug, Clone)]
enum Op {
    Add {
        kind: u8,
        id: Option<u8>,
        value: i64,
        text: String,
    },
    Connect {
        from: u8,
        to: u8,
        rel: u8,
        strength: f64,
    },
    RemoveEdge(u8),
    RemoveNode(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (
            0u8..4,
            proptest::option::of(0u8..12),
            any::<i64>(),
            "\\PC{0,12}"
        )
            .prop_map(|(kind, id, value, text)| Op::Add {
                kind,
                id,
                value,
                text
            }),
        (0u8..14, 0u8..14, 0u8..3, 0.0f64..=1.0).prop_map(|(from, to, rel, strength)| {
            Op::Connect {
                from,
                to,
                rel,
                strength,
            }
        }),
        (0u8..20).prop_map(Op::RemoveEdge),
        (0u8..14).prop_map(Op::RemoveNode),
    ]
}

fn run(version: u32, ops: &[Op]) -> KnowledgeGraph {
    let kinds = ["company", "sector", "caf\u{e9}", "\u{1f4c8}"];
    let mut g = KnowledgeGraph::new(version);
    g.seed_ids(3);
    let mut edges = Vec::new();
    for op in ops {
        match op {
            Op::Add {
                kind,
                id,
                value,
                text,
            } => {
                let id = id.map(|i| format!("n{i}"));
                g.add_node_at(
                    kinds[usize::from(*kind)],
                    &json!({"value": value, "text": text, "list": [value, 0.5]}),
                    id.as_deref(),
                    T1,
                );
            }
            Op::Connect {
                from,
                to,
                rel,
                strength,
            } => {
                let id = g
                    .connect_at(
                        &format!("n{from}"),
                        &format!("n{to}"),
                        ["a", "b", "c"][usize::from(*rel)],
                        *strength,
                        T2,
                    )
                    .expect("strength in range");
                edges.push(id);
            }
            Op::RemoveEdge(i) => {
                if let Some(id) = edges.get(usize::from(*i)) {
                    g.remove_edge(id);
                }
            }
            Op::RemoveNode(i) => {
                g.remove_node(&format!("n{i}"));
            }
        }
    }
    g
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = KnowledgeGraph::from_slice(&bytes);
        let _ = KnowledgeGraph::from_vec(bytes);
    }

    #[test]
    fn damaged_fixtures_never_panic(at in 0usize..V2_FIXTURE.len(), byte in any::<u8>(), cut in 0usize..V2_FIXTURE.len()) {
        let mut bytes = V2_FIXTURE.as_bytes().to_vec();
        bytes[at] = byte;
        if let Ok(g) = KnowledgeGraph::from_slice(&bytes) {
            // Whatever parses also round-trips through our own writer.
            let out = g.to_vec();
            let again = KnowledgeGraph::from_slice(&out).expect("own output parses");
            prop_assert_eq!(again.to_vec(), out);
            let _ = g.check_consistency();
            let _ = g.stats();
        }
        let _ = KnowledgeGraph::from_slice(&V2_FIXTURE.as_bytes()[..cut]);
    }

    #[test]
    fn built_graphs_round_trip(version in 1u32..=2, ops in proptest::collection::vec(op(), 0..40)) {
        let g = run(version, &ops);
        let out = g.to_vec();
        let reparsed = KnowledgeGraph::from_slice(&out).expect("own output parses");
        prop_assert_eq!(reparsed.to_vec(), out.clone());
        prop_assert_eq!(reparsed.node_count(), g.node_count());
        prop_assert_eq!(reparsed.edge_count(), g.edge_count());
        prop_assert!(diff(&g, &reparsed).is_empty());
        let report = g.check_consistency();
        prop_assert!(report.is_consistent(), "{:?}", report);
        // Python would read the same document.
        let value: serde_json::Value = serde_json::from_slice(&out).expect("strict JSON");
        prop_assert_eq!(value["nodes"].as_object().map(|m| m.len()), Some(g.node_count()));
    }
}
