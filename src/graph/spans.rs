//! Where each node and edge sits in a `graph.json`, without building the graph.
//!
//! A node's history across many large backups needs, per file, only each node's key and
//! the byte range of its object (and each edge's id, endpoints and range). Skipping values
//! with borrowed raw text is several times cheaper than a full parse, and the ranges let a
//! later reader fetch one node's text from the file without reading the rest.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::pyjson::{self, JsonError};

/// A node's key under `nodes` and the range of its object's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpan {
    pub key: String,
    pub range: Range<usize>,
}

/// An edge's id and endpoints and the range of its object's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeSpan {
    pub id: String,
    pub from: String,
    pub to: String,
    pub range: Range<usize>,
}

/// Every node and edge of a file, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphSpans {
    pub nodes: Vec<NodeSpan>,
    pub edges: Vec<EdgeSpan>,
}

struct Top {
    base: usize,
}

struct Nodes<'a> {
    base: usize,
    out: &'a mut Vec<NodeSpan>,
}

struct Edges<'a> {
    base: usize,
    out: &'a mut Vec<EdgeSpan>,
}

#[derive(Deserialize)]
struct EdgeIds<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    from: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    to: Option<Cow<'a, str>>,
}

fn range_of(raw: &RawValue, base: usize) -> Range<usize> {
    let start = (raw.get().as_ptr() as usize).wrapping_sub(base);
    start..start + raw.get().len()
}

impl<'de> Visitor<'de> for Top {
    type Value = GraphSpans;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a knowledge graph object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<GraphSpans, A::Error> {
        let mut spans = GraphSpans::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match &*key {
                "nodes" => map.next_value_seed(Nodes {
                    base: self.base,
                    out: &mut spans.nodes,
                })?,
                "edges" => map.next_value_seed(Edges {
                    base: self.base,
                    out: &mut spans.edges,
                })?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(spans)
    }
}

impl<'de> DeserializeSeed<'de> for Nodes<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Nodes<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of nodes")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let raw: &'de RawValue = map.next_value()?;
            self.out.push(NodeSpan {
                key: key.into_owned(),
                range: range_of(raw, self.base),
            });
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Edges<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Edges<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of edges")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            let ids: EdgeIds<'_> = serde_json::from_str(raw.get()).map_err(de::Error::custom)?;
            self.out.push(EdgeSpan {
                id: ids.id.map(Cow::into_owned).unwrap_or_default(),
                from: ids.from.map(Cow::into_owned).unwrap_or_default(),
                to: ids.to.map(Cow::into_owned).unwrap_or_default(),
                range: range_of(raw, self.base),
            });
        }
        Ok(())
    }
}

/// The ranges of every node and edge object in `json` (Python flavour: bare `NaN`
/// accepted; ranges are valid in the original bytes).
///
/// # Errors
/// The bytes are not JSON, or `nodes`/`edges` are not an object/array of objects.
pub fn scan_spans(json: &[u8]) -> Result<GraphSpans, JsonError> {
    pyjson::parse_with_masking(json, |bytes, _| {
        let mut d = serde_json::Deserializer::from_slice(bytes);
        let spans = d.deserialize_map(Top {
            base: bytes.as_ptr() as usize,
        })?;
        d.end()?;
        Ok(spans)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::KnowledgeGraph;

    #[test]
    fn spans_point_at_each_object_as_written() {
        let mut g = KnowledgeGraph::new(2);
        g.seed_ids(3);
        g.add_node_json_at("stock", r#"{"pe": NaN}"#, Some("A"), "t")
            .expect("node");
        g.add_node_at("stock", &serde_json::json!({}), Some("B\u{e9}"), "t");
        let e = g
            .connect_at("A", "B\u{e9}", "peer", 0.5, "t")
            .expect("edge");
        let bytes = g.to_vec();
        let spans = scan_spans(&bytes).expect("scan");
        assert_eq!(spans.nodes.len(), 2);
        assert_eq!(spans.nodes[1].key, "B\u{e9}");
        for (span, node) in spans.nodes.iter().zip(g.nodes()) {
            assert_eq!(&bytes[span.range.clone()], node.json_text().as_bytes());
        }
        assert_eq!(spans.edges.len(), 1);
        assert_eq!(spans.edges[0].id, e);
        assert_eq!(spans.edges[0].to, "B\u{e9}");
        let edge = g.edges().next().expect("edge");
        assert_eq!(
            &bytes[spans.edges[0].range.clone()],
            edge.json_text().as_bytes()
        );
        assert!(scan_spans(b"{\"nodes\": [").is_err());
        assert!(scan_spans(b"{\"nodes\": {}, \"edges\": [1]}").is_err());
    }
}
