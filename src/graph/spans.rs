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
        let mut has_nodes = false;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match &*key {
                "nodes" => {
                    has_nodes = true;
                    map.next_value_seed(Nodes {
                        base: self.base,
                        out: &mut spans.nodes,
                    })?
                }
                "edges" => map.next_value_seed(Edges {
                    base: self.base,
                    out: &mut spans.edges,
                })?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        // As the graph's parse: JSON without `nodes` is not a graph of no nodes.
        if !has_nodes {
            return Err(de::Error::custom(super::NO_NODES));
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
/// A structural scanner does the work: strings are skipped with `memchr`, scalars are
/// checked for their shape, and no value is built. Whatever it does not accept goes to
/// serde's scan, whose answer (spans, or the error with its line and column) stands.
///
/// # Errors
/// The bytes are not JSON, or `nodes`/`edges` are not an object/array of objects.
pub fn scan_spans(json: &[u8]) -> Result<GraphSpans, JsonError> {
    if let Some(spans) = Scanner::new(json).graph() {
        return Ok(spans);
    }
    scan_spans_serde(json)
}

/// The serde scan: slower, and the one that explains what is wrong with a file.
fn scan_spans_serde(json: &[u8]) -> Result<GraphSpans, JsonError> {
    pyjson::parse_with_masking(json, |bytes, _| {
        let mut d = serde_json::Deserializer::from_slice(bytes);
        let spans = d.deserialize_map(Top {
            base: bytes.as_ptr() as usize,
        })?;
        d.end()?;
        Ok(spans)
    })
}

/// Deeper input than this is left to serde (whose own limit is 128 for what it builds).
const MAX_DEPTH: usize = 128;

const SPACES: u64 = u64::from_ne_bytes([b' '; 8]);
const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

fn word(chunk: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(chunk);
    u64::from_ne_bytes(w)
}

/// Whether `text` holds a byte below 0x20 (JSON allows none in a string), eight bytes
/// at a time: a byte below 0x20 is one whose value minus 0x20 borrows into its top bit
/// while the byte itself had that bit clear.
fn has_control(text: &[u8]) -> bool {
    let mut chunks = text.chunks_exact(8);
    let found = chunks.by_ref().fold(0u64, |acc, chunk| {
        let w = word(chunk);
        acc | (w.wrapping_sub(ONES * 0x20) & !w & HIGHS)
    });
    found != 0 || chunks.remainder().iter().any(|&c| c < 0x20)
}

/// Moving over JSON's punctuation and blanks, shared by the scanners of this module and
/// [`super::skim`]: each is a cursor over bytes.
pub(super) trait Cursor {
    fn bytes(&self) -> &[u8];
    fn pos(&self) -> usize;
    fn set_pos(&mut self, i: usize);

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos()).copied()
    }

    fn ws(&mut self) {
        let mut i = self.pos();
        let b = self.bytes();
        while let Some(&c) = b.get(i) {
            match c {
                // Indentation: eight spaces at a time.
                b' ' => {
                    i += 1;
                    while let Some(chunk) = b.get(i..i + 8)
                        && word(chunk) == SPACES
                    {
                        i += 8;
                    }
                }
                b'\n' | b'\r' | b'\t' => i += 1,
                _ => break,
            }
        }
        self.set_pos(i);
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.peek()? == c).then(|| self.set_pos(self.pos() + 1))
    }

    /// After `{` or `[` and blanks: true (and consumed) when the container ends here.
    fn closes(&mut self, close: u8) -> Option<bool> {
        self.ws();
        let empty = self.peek()? == close;
        if empty {
            self.set_pos(self.pos() + 1);
        }
        Some(empty)
    }

    /// After a member: true when another follows (`,` consumed), false at `close`.
    fn more(&mut self, close: u8) -> Option<bool> {
        self.ws();
        let c = self.peek()?;
        if c == b',' || c == close {
            self.set_pos(self.pos() + 1);
        }
        match c {
            b',' => Some(true),
            c if c == close => Some(false),
            _ => None,
        }
    }
}

impl Cursor for Scanner<'_> {
    fn bytes(&self) -> &[u8] {
        self.b
    }
    fn pos(&self) -> usize {
        self.i
    }
    fn set_pos(&mut self, i: usize) {
        self.i = i;
    }
}

/// A JSON scanner that only finds where things are. Every method returns `None` at the
/// first byte it does not accept; the caller then asks serde, which either accepts the
/// file (the scanner was stricter than JSON) or says what is wrong.
struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn new(b: &'a [u8]) -> Self {
        Scanner { b, i: 0 }
    }

    /// A string at the cursor: the range of its text between the quotes, and whether
    /// it holds an escape.
    fn string(&mut self) -> Option<(Range<usize>, bool)> {
        self.ws();
        if self.peek()? != b'"' {
            return None;
        }
        self.i += 1;
        let start = self.i;
        let mut escaped = false;
        loop {
            let at = self.i + memchr::memchr2(b'"', b'\\', &self.b[self.i..])?;
            if has_control(&self.b[self.i..at]) {
                return None;
            }
            if self.b[at] == b'"' {
                self.i = at + 1;
                return Some((start..at, escaped));
            }
            escaped = true;
            match *self.b.get(at + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i = at + 2,
                b'u' => {
                    let hex = self.b.get(at + 2..at + 6)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return None;
                    }
                    self.i = at + 6;
                }
                _ => return None,
            }
        }
    }

    /// A string's text as Rust text (escapes decoded by serde_json).
    fn text(&self, range: Range<usize>, escaped: bool) -> Option<String> {
        if escaped {
            serde_json::from_slice(&self.b[range.start - 1..range.end + 1]).ok()
        } else {
            std::str::from_utf8(&self.b[range]).ok().map(str::to_owned)
        }
    }

    fn key(&mut self) -> Option<String> {
        let (range, escaped) = self.string()?;
        self.eat(b':')?;
        self.text(range, escaped)
    }

    fn digits(&mut self) -> usize {
        let from = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        self.i - from
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.b.get(self.i..self.i + word.len())? == word {
            self.i += word.len();
            return Some(());
        }
        None
    }

    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.i += 1;
            if self.peek() == Some(b'I') {
                return self.literal(b"Infinity");
            }
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        Some(())
    }

    /// Skips one value; returns the range of its text.
    fn value(&mut self, depth: usize) -> Option<Range<usize>> {
        self.ws();
        let start = self.i;
        match self.peek()? {
            b'"' => {
                self.string()?;
            }
            b'{' => {
                self.i += 1;
                if depth >= MAX_DEPTH {
                    return None;
                }
                if !self.closes(b'}')? {
                    loop {
                        self.string()?;
                        self.eat(b':')?;
                        self.value(depth + 1)?;
                        if !self.more(b'}')? {
                            break;
                        }
                    }
                }
            }
            b'[' => {
                self.i += 1;
                if depth >= MAX_DEPTH {
                    return None;
                }
                if !self.closes(b']')? {
                    loop {
                        self.value(depth + 1)?;
                        if !self.more(b']')? {
                            break;
                        }
                    }
                }
            }
            b't' => self.literal(b"true")?,
            b'f' => self.literal(b"false")?,
            b'n' => self.literal(b"null")?,
            b'N' => self.literal(b"NaN")?,
            b'I' => self.literal(b"Infinity")?,
            _ => self.number()?,
        }
        Some(start..self.i)
    }

    /// An edge object: its id and endpoints (each a string or absent; anything else is
    /// left to serde, as is a repeated field).
    fn edge(&mut self) -> Option<EdgeSpan> {
        self.ws();
        let start = self.i;
        if self.peek()? != b'{' {
            return None;
        }
        self.i += 1;
        let mut fields: [Option<String>; 3] = [None, None, None];
        if !self.closes(b'}')? {
            loop {
                let key = self.key()?;
                let slot = match key.as_str() {
                    "id" => Some(0),
                    "from" => Some(1),
                    "to" => Some(2),
                    _ => None,
                };
                match slot {
                    Some(k) => {
                        if fields[k].is_some() {
                            return None;
                        }
                        let (range, escaped) = self.string()?;
                        fields[k] = Some(self.text(range, escaped)?);
                    }
                    None => {
                        self.value(2)?;
                    }
                }
                if !self.more(b'}')? {
                    break;
                }
            }
        }
        let [id, from, to] = fields;
        Some(EdgeSpan {
            id: id.unwrap_or_default(),
            from: from.unwrap_or_default(),
            to: to.unwrap_or_default(),
            range: start..self.i,
        })
    }

    fn graph(mut self) -> Option<GraphSpans> {
        // serde refuses invalid UTF-8 in any string; one pass over the whole text
        // (std's check runs a word at a time over ASCII) says the same.
        std::str::from_utf8(self.b).ok()?;
        let mut spans = GraphSpans::default();
        let mut has_nodes = false;
        self.eat(b'{')?;
        if !self.closes(b'}')? {
            loop {
                match self.key()?.as_str() {
                    "nodes" => {
                        has_nodes = true;
                        self.eat(b'{')?;
                        if !self.closes(b'}')? {
                            loop {
                                let key = self.key()?;
                                let range = self.value(2)?;
                                spans.nodes.push(NodeSpan { key, range });
                                if !self.more(b'}')? {
                                    break;
                                }
                            }
                        }
                    }
                    "edges" => {
                        self.eat(b'[')?;
                        if !self.closes(b']')? {
                            loop {
                                spans.edges.push(self.edge()?);
                                if !self.more(b']')? {
                                    break;
                                }
                            }
                        }
                    }
                    _ => {
                        self.value(1)?;
                    }
                }
                if !self.more(b'}')? {
                    break;
                }
            }
        }
        self.ws();
        // Without `nodes`, serde's scan gives the error.
        (self.i == self.b.len() && has_nodes).then_some(spans)
    }
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

    /// What the structural scanner accepts, serde accepts with the same spans.
    fn agrees(json: &[u8]) {
        let fast = Scanner::new(json).graph();
        let serde = scan_spans_serde(json);
        if let Some(fast) = fast {
            assert_eq!(Ok(fast), serde, "on {:?}", String::from_utf8_lossy(json));
        }
    }

    #[test]
    fn the_scanner_finds_what_serde_finds_in_generated_graphs() {
        for seed in 0..4 {
            let bytes = crate::generate::sized_graph(300, seed).to_vec();
            assert!(Scanner::new(&bytes).graph().is_some(), "seed {seed}");
            agrees(&bytes);
        }
    }

    #[test]
    fn the_scanner_reads_escapes_python_scalars_and_any_layout() {
        let cases: &[&str] = &[
            r#"{"nodes": {}, "edges": []}"#,
            r#"{"version":2,"nodes":{"A\u00e9\"q":{"data":{"x":[1,-2.5e+3,NaN,Infinity,-Infinity,null,true,false]}}},"edges":[{"id":"e\n1","from":"A\u00e9\"q","to":"A\u00e9\"q","strength":0.5}],"meta":{"a":[[],{}]}}"#,
            "{\n \"nodes\" : { \"A\" : {\"t\":\"x\"} } ,\n\t\"edges\" : [ { \"to\" : \"A\" } ] }\n",
            r#"{"edges": [{"id": "e", "from": "A", "to": "B", "data": {"id": 3}}], "nodes": {"A": 1, "B": "s"}}"#,
            r#"{"nodes": {"A": {}}, "nodes": {"B": {}}, "edges": []}"#,
            r#"{"nodes": {"A": {"k": "\ud83d\ude00 \/ \\"}}, "edges": []}"#,
            r#"{"nodes": {"A": {"k": "\ud800 \udc00x"}}, "edges": []}"#,
        ];
        for case in cases {
            assert!(
                Scanner::new(case.as_bytes()).graph().is_some(),
                "the scanner should read {case}"
            );
            agrees(case.as_bytes());
        }
        let escaped = scan_spans(cases[1].as_bytes()).expect("scan");
        assert_eq!(escaped.nodes[0].key, "A\u{e9}\"q");
        assert_eq!(escaped.edges[0].id, "e\n1");
    }

    #[test]
    fn the_scanner_hands_what_it_does_not_accept_to_serde() {
        let cases: &[&str] = &[
            "",
            "{",
            r#"{"nodes": {"A": {}},}"#,
            r#"{"nodes": {"A": 01}, "edges": []}"#,
            r#"{"nodes": {"A": 1.}, "edges": []}"#,
            r#"{"nodes": {"A": "\x"}, "edges": []}"#,
            "{\"nodes\": {\"A\": \"a\u{1}b\"}, \"edges\": []}",
            r#"{"nodes": {"A": nul}, "edges": []}"#,
            r#"{"nodes": {}, "edges": [1]}"#,
            r#"{"nodes": {}, "edges": [{"id": 5}]}"#,
            r#"{"nodes": {}, "edges": [{"id": null}]}"#,
            r#"{"nodes": {}, "edges": [{"id": "a", "id": "b"}]}"#,
            r#"{"nodes": [], "edges": []}"#,
            r#"{"nodes": {}, "edges": []} x"#,
            r#"[1, 2]"#,
            // Not a graph: no `nodes` (serde's scan says so).
            "{}",
            r#"{"version": 2, "edges": []}"#,
        ];
        for case in cases {
            assert!(
                Scanner::new(case.as_bytes()).graph().is_none(),
                "the scanner should not read {case}"
            );
            agrees(case.as_bytes());
        }
        let deep = format!(
            r#"{{"nodes": {{"A": {}{}}}, "edges": []}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        assert!(Scanner::new(deep.as_bytes()).graph().is_none());
        agrees(deep.as_bytes());
        let none = scan_spans(cases[cases.len() - 1].as_bytes()).expect_err("no nodes");
        assert!(
            none.message.contains("no `nodes` object"),
            "{}",
            none.message
        );
        // serde reads a null id as absent; the answer comes from it.
        let null_id = scan_spans(cases[10].as_bytes()).expect("serde reads it");
        assert_eq!(null_id.edges[0].id, "");
    }

    #[test]
    fn control_bytes_are_found_at_any_position() {
        for len in 0..24 {
            let clean = vec![b'a'; len];
            assert!(!has_control(&clean));
            for at in 0..len {
                for bad in [0x00u8, 0x09, 0x1f] {
                    let mut text = clean.clone();
                    text[at] = bad;
                    assert!(has_control(&text), "{bad:#x} at {at} of {len}");
                }
                let mut text = clean.clone();
                text[at] = 0x20;
                assert!(!has_control(&text));
                text[at] = 0xff;
                assert!(!has_control(&text));
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]
        /// One byte of a small graph changed, removed or added anywhere: the scanner
        /// never accepts what serde refuses, and never disagrees with it.
        #[test]
        fn damaged_graphs_are_read_alike(at in 0usize..4096, byte in proptest::prelude::any::<u8>(), op in 0u8..3) {
            let mut g = KnowledgeGraph::new(2);
            g.seed_ids(5);
            g.add_node_json_at("stock", r#"{"pe": NaN, "name": "A\u00e9", "l": [1, 2.5, true, null]}"#, Some("A"), "t")
                .expect("node");
            g.add_node_at("stock", &serde_json::json!({"x": {"y": "z"}}), Some("B"), "t");
            g.connect_at("A", "B", "peer", 0.5, "t").expect("edge");
            let mut bytes = g.to_vec();
            let at = at % bytes.len();
            match op {
                0 => bytes[at] = byte,
                1 => { bytes.remove(at); }
                _ => bytes.insert(at, byte),
            }
            agrees(&bytes);
        }
    }
}
