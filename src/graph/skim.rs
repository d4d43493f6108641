//! One node's place in a `graph.json`, found without indexing the rest of the file.
//!
//! A history asks each graph for one node's object and the edges at it. For a graph with
//! no node index yet, building one means recording every node and edge, hashing each and
//! encoding the result: several times the cost of reading the file. A skim instead walks
//! the file's structure as fast as bytes can be skipped. It looks only at the keys under
//! `nodes` and at the `id`, `from` and `to` of each edge, and keeps the ranges of what
//! names the node.
//!
//! # Only on content known to be a graph
//! The skim checks nothing: it does not match brackets, numbers, escapes or UTF-8. It is
//! run only on bytes whose SHA-256 the memo of verified content records as a graph that
//! parsed (JSON, with Python's `NaN` and `Infinity`). On such bytes it finds what
//! [`super::spans::scan_spans`] finds for the node. Anything it does not expect gives
//! `None`, and the caller builds the index, whose scan is the one that judges.

use std::ops::Range;

use super::spans::{Cursor, EdgeSpan};

/// What one graph holds for one node id: the range of the node's object (the last one, as
/// Python reads a repeated key) and each edge that starts or ends at it, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Skimmed {
    pub node: Option<Range<usize>>,
    pub edges: Vec<EdgeSpan>,
}

/// Finds `key`'s node and edges in `json`, or `None` when the bytes are not laid out as
/// a graph the skim reads (the caller then scans them in full).
pub fn skim_node(json: &[u8], key: &str) -> Option<Skimmed> {
    let literal = (!key.is_empty() && !key.bytes().any(|c| c == b'"' || c == b'\\' || c < 0x20))
        .then(|| {
            let quoted = format!("\"{key}\"");
            (
                memchr::memmem::Finder::new(quoted.as_bytes()).into_owned(),
                Next::default(),
            )
        });
    let mut walk = Walk {
        b: json,
        i: 0,
        backslash: Next::default(),
        literal,
    };
    let mut found = Skimmed::default();
    walk.eat(b'{')?;
    if !walk.closes(b'}')? {
        loop {
            let name = walk.key()?;
            match name.as_ref() {
                b"nodes" => walk.nodes(key, &mut found)?,
                b"edges" => walk.edges(key, &mut found)?,
                _ => walk.skip_value()?,
            }
            if !walk.more(b'}')? {
                break;
            }
        }
    }
    walk.ws();
    (walk.i == json.len()).then_some(found)
}

const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

fn word(b: &[u8], at: usize) -> Option<u64> {
    let chunk: [u8; 8] = b.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(chunk))
}

/// A mask with the top bit of each zero byte of `x` set. Only the lowest set bit is
/// exact (a borrow out of a zero byte can mark the byte above it too), and that is
/// the only one read: it says where the first zero byte is.
fn zeros(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// The lowest byte of `w` that is `c`, as a mask (see [`zeros`]).
fn bytes_of(w: u64, c: u8) -> u64 {
    zeros(w ^ (ONES * u64::from(c)))
}

/// Whether any byte of `w` is `c`.
#[cfg(test)]
fn holds(w: u64, c: u8) -> bool {
    bytes_of(w, c) != 0
}

/// Or-ing 0x26 into `{` `}` `[` `]` (0x7b 0x7d 0x5b 0x5d) gives 0x7f for each. A few
/// other bytes give it too (`Y`, `_`, `y`, 0x7f): those are looked at and passed over.
const BRACKET_BITS: u64 = u64::from_ne_bytes([0x26; 8]);

/// Where, in the word at `at`, the first byte that may be a quote or a bracket is.
fn next_structural(w: u64) -> u64 {
    bytes_of(w, b'"') | bytes_of(w | BRACKET_BITS, 0x7f)
}

/// The index just after the closing quote of the string whose text starts at `i`.
fn string_end(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        // Eight bytes at a time to the first quote or backslash.
        while let Some(w) = word(b, i) {
            let m = bytes_of(w, b'"') | bytes_of(w, b'\\');
            if m != 0 {
                i += (m.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
        }
        match *b.get(i)? {
            b'"' => return Some(i + 1),
            // Whatever follows a backslash is part of the string (a `\uXXXX`'s
            // digits hold no quote).
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
}

/// A string's text between its quotes, and whether it holds an escape.
#[derive(Clone)]
struct Text {
    range: Range<usize>,
    escaped: bool,
}

struct Walk<'a> {
    b: &'a [u8],
    i: usize,
    /// The first backslash at or after where it was last looked for from.
    backslash: Next,
    /// The first `"key"`, as written without escapes, likewise; none when the key
    /// cannot be written so (it holds a quote, a backslash or a control byte, or is
    /// empty, which an edge without `from` names).
    literal: Option<(memchr::memmem::Finder<'static>, Next)>,
}

/// The first match of some search at or after `from`: searched again only when a
/// range starting past it is asked about, so a whole file is searched once.
#[derive(Clone, Copy)]
struct Next {
    from: usize,
    at: Option<usize>,
}

impl Default for Next {
    /// Not searched yet: any range is searched.
    fn default() -> Self {
        Next {
            from: usize::MAX,
            at: None,
        }
    }
}

impl Next {
    fn within(&mut self, range: &Range<usize>, find: impl Fn(usize) -> Option<usize>) -> bool {
        if range.start < self.from || self.at.is_some_and(|at| at < range.start) {
            self.from = range.start;
            self.at = find(range.start);
        }
        self.at.is_some_and(|at| at < range.end)
    }
}

impl Cursor for Walk<'_> {
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

impl<'a> Walk<'a> {
    /// The string that starts at the cursor (which must be its opening quote).
    fn string(&mut self) -> Option<Text> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.i + 1;
        let end = string_end(self.b, start)?;
        self.i = end;
        let range = start..end - 1;
        let escaped = self.has_backslash(&range);
        Some(Text { range, escaped })
    }

    fn has_backslash(&mut self, range: &Range<usize>) -> bool {
        let b = self.b;
        self.backslash.within(range, |from| {
            memchr::memchr(b'\\', &b[from..]).map(|at| from + at)
        })
    }

    /// Whether an edge's text may name the key: it holds an escape, or the key quoted
    /// as it is written without one. Without either, every string in it is its own
    /// text, and none is the key.
    fn may_name(&mut self, range: &Range<usize>) -> bool {
        let b = self.b;
        let Some((finder, next)) = &mut self.literal else {
            return true;
        };
        let found = next.within(range, |from| finder.find(&b[from..]).map(|at| from + at));
        found || self.has_backslash(range)
    }

    /// The text of a string, escapes decoded.
    fn decode(&self, t: &Text) -> Option<String> {
        if t.escaped {
            serde_json::from_slice(self.b.get(t.range.start - 1..t.range.end + 1)?).ok()
        } else {
            std::str::from_utf8(self.b.get(t.range.clone())?)
                .ok()
                .map(str::to_owned)
        }
    }

    /// Whether a string's text is `key`. An escape is never shorter than what it
    /// stands for, so a shorter raw text cannot be `key` and is not decoded.
    fn names(&self, t: &Text, key: &str) -> bool {
        if !t.escaped {
            return self.b.get(t.range.clone()) == Some(key.as_bytes());
        }
        t.range.len() >= key.len() && self.decode(t).is_some_and(|s| s == key)
    }

    /// A member's key and its colon: the key's raw bytes, or its decoded text.
    fn key(&mut self) -> Option<std::borrow::Cow<'a, [u8]>> {
        self.ws();
        let t = self.string()?;
        self.eat(b':')?;
        if t.escaped {
            return Some(self.decode(&t)?.into_bytes().into());
        }
        Some(self.b.get(t.range)?.into())
    }

    /// Skips the value at the cursor.
    fn skip_value(&mut self) -> Option<()> {
        self.ws();
        match self.peek()? {
            b'"' => {
                self.string()?;
            }
            b'{' | b'[' => self.skip_container()?,
            _ => {
                let from = self.i;
                while let Some(&c) = self.b.get(self.i) {
                    if matches!(c, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                        break;
                    }
                    self.i += 1;
                }
                if self.i == from {
                    return None;
                }
            }
        }
        Some(())
    }

    /// Skips the object or array at the cursor: strings jumped over, brackets counted,
    /// eight bytes at a time between them.
    fn skip_container(&mut self) -> Option<()> {
        let b = self.b;
        let mut i = self.i;
        let mut depth = 0usize;
        loop {
            while let Some(w) = word(b, i) {
                let m = next_structural(w);
                if m != 0 {
                    i += (m.trailing_zeros() / 8) as usize;
                    break;
                }
                i += 8;
            }
            match *b.get(i)? {
                b'"' => i = string_end(b, i + 1)?,
                b'{' | b'[' => {
                    depth += 1;
                    i += 1;
                }
                b'}' | b']' => {
                    depth = depth.checked_sub(1)?;
                    i += 1;
                    if depth == 0 {
                        self.i = i;
                        return Some(());
                    }
                }
                _ => i += 1,
            }
        }
    }

    /// The members of `nodes`: each key compared, each value skipped.
    fn nodes(&mut self, key: &str, found: &mut Skimmed) -> Option<()> {
        self.eat(b'{')?;
        if self.closes(b'}')? {
            return Some(());
        }
        loop {
            self.ws();
            let name = self.string()?;
            self.eat(b':')?;
            self.ws();
            let start = self.i;
            self.skip_value()?;
            if self.names(&name, key) {
                found.node = Some(start..self.i);
            }
            if !self.more(b'}')? {
                return Some(());
            }
        }
    }

    /// The elements of `edges`: each an object whose `id`, `from` and `to` are strings
    /// or absent (anything else is left to the full scan, as is a repeated one).
    fn edges(&mut self, key: &str, found: &mut Skimmed) -> Option<()> {
        self.eat(b'[')?;
        if self.closes(b']')? {
            return Some(());
        }
        loop {
            self.ws();
            let start = self.i;
            if self.peek()? != b'{' {
                return None;
            }
            // Most edges do not name the key: skipped whole, then looked into only
            // when they may.
            if self.literal.is_some() {
                self.skip_container()?;
                if !self.may_name(&(start..self.i)) {
                    if !self.more(b']')? {
                        return Some(());
                    }
                    continue;
                }
                self.i = start;
            }
            self.i += 1;
            let mut fields: [Option<Text>; 3] = [None, None, None];
            if !self.closes(b'}')? {
                loop {
                    let slot = match self.key()?.as_ref() {
                        b"id" => Some(0),
                        b"from" => Some(1),
                        b"to" => Some(2),
                        _ => None,
                    };
                    match slot {
                        Some(k) => {
                            if fields[k].is_some() {
                                return None;
                            }
                            self.ws();
                            fields[k] = Some(self.string()?);
                        }
                        None => self.skip_value()?,
                    }
                    if !self.more(b'}')? {
                        break;
                    }
                }
            }
            let at_key = |t: &Option<Text>| match t {
                Some(t) => self.names(t, key),
                None => key.is_empty(),
            };
            if at_key(&fields[1]) || at_key(&fields[2]) {
                let text = |t: &Option<Text>| match t {
                    Some(t) => self.decode(t),
                    None => Some(String::new()),
                };
                let [id, from, to] = &fields;
                found.edges.push(EdgeSpan {
                    id: text(id)?,
                    from: text(from)?,
                    to: text(to)?,
                    range: start..self.i,
                });
            }
            if !self.more(b']')? {
                return Some(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::spans::scan_spans;

    /// What the full scan finds for `key`: the last node of that key, and the edges at it.
    fn scanned(json: &[u8], key: &str) -> Skimmed {
        let spans = scan_spans(json).expect("scan");
        Skimmed {
            node: spans
                .nodes
                .iter()
                .rev()
                .find(|n| n.key == key)
                .map(|n| n.range.clone()),
            edges: spans
                .edges
                .into_iter()
                .filter(|e| e.from == key || e.to == key)
                .collect(),
        }
    }

    fn agrees(json: &[u8], keys: &[&str]) {
        for key in keys {
            let skimmed = skim_node(json, key).unwrap_or_else(|| {
                panic!("no skim of {key:?} in {}", String::from_utf8_lossy(json))
            });
            assert_eq!(
                skimmed,
                scanned(json, key),
                "{key:?} in {}",
                String::from_utf8_lossy(json)
            );
        }
    }

    #[test]
    fn the_skim_finds_what_the_scan_finds_in_generated_graphs() {
        for seed in 0..2 {
            let g = crate::generate::sized_graph(300, seed);
            let bytes = g.to_vec();
            let keys: Vec<String> = g.nodes().step_by(7).map(|n| n.key().to_owned()).collect();
            let mut keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            keys.extend(["", "no such node", "edges", "nodes"]);
            agrees(&bytes, &keys);
        }
    }

    #[test]
    fn the_skim_reads_escapes_nested_look_alikes_and_any_layout() {
        let cases: &[(&str, &[&str])] = &[
            (r#"{"nodes": {}, "edges": []}"#, &["A", ""]),
            (
                r#"{"version":2,"nodes":{"A\u00e9\"q":{"data":{"x":[1,-2.5e+3,NaN,Infinity,-Infinity,null,true,false]}}},"edges":[{"id":"e\n1","from":"A\u00e9\"q","to":"A\u00e9\"q","strength":0.5}],"meta":{"a":[[],{}]}}"#,
                &["A\u{e9}\"q", "A"],
            ),
            (
                "{\n \"nodes\" : { \"A\" : {\"t\":\"x\"} } ,\n\t\"edges\" : [ { \"to\" : \"A\" } ] }\n",
                &["A", ""],
            ),
            // A node's data that holds the same id as a key, and strings with brackets,
            // quotes and backslashes: only the node under `nodes` counts.
            (
                r#"{"nodes": {"B": {"data": {"A": {"from": "A"}, "s": "}]\"{[\\", "t": "\\"}}, "A": {"k": 1}}, "edges": [{"id": "e", "from": "B", "to": "A", "data": {"from": "A", "id": 3}}, {"id": "f", "from": "C", "to": "D", "x": ["A"]}]}"#,
                &["A", "B", "C", "D", "e"],
            ),
            (
                r#"{"edges": [{"id": "e", "from": "A", "to": "B", "data": {"id": 3}}], "nodes": {"A": 1, "B": "s"}}"#,
                &["A", "B"],
            ),
            // Repeated keys: the last node counts, and every `nodes` and `edges` is read.
            (
                r#"{"nodes": {"A": {"v": 1}}, "nodes": {"B": {}, "A": {"v": 2}}, "edges": [{"id": "1", "from": "A"}], "edges": [{"id": "2", "to": "A"}]}"#,
                &["A", "B", ""],
            ),
            (
                r#"{"nodes": {"\u0041": {"k": "\ud83d\ude00 \/ \\"}}, "edges": [{"i\u0064": "x", "fr\u006fm": "\u0041", "to": "B"}]}"#,
                &["A", "B"],
            ),
        ];
        for (json, keys) in cases {
            agrees(json.as_bytes(), keys);
        }
    }

    #[test]
    fn what_the_skim_does_not_expect_goes_to_the_full_scan() {
        let cases: &[&str] = &[
            "",
            "{",
            r#"{"nodes": [], "edges": []}"#,
            r#"{"nodes": {}, "edges": [1]}"#,
            r#"{"nodes": {}, "edges": [{"id": 5, "to": "A"}]}"#,
            r#"{"nodes": {}, "edges": [{"id": null, "to": "A"}]}"#,
            r#"{"nodes": {}, "edges": [{"id": "a", "id": "b", "to": "A"}]}"#,
            r#"{"nodes": {}, "edges": [{"id": "a", "to": "\u0041", "to": "B"}]}"#,
            r#"{"nodes": {}, "edges": []} x"#,
            r#"{"nodes": {"A": {"s": "unterminated}}, "edges": []}"#,
            r#"[1, 2]"#,
        ];
        for case in cases {
            assert_eq!(skim_node(case.as_bytes(), "A"), None, "{case}");
        }
        // An edge that cannot name the key (no escape, no `"A"`) is skipped whole,
        // unread: what is wrong inside it is the full scan's to find.
        let unread = r#"{"nodes": {}, "edges": [{"id": 5, "to": "B"}]}"#;
        assert_eq!(skim_node(unread.as_bytes(), "A"), Some(Skimmed::default()));
        assert_eq!(skim_node(unread.as_bytes(), "B"), None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
        /// One byte of a small graph changed, removed or added anywhere: whenever the
        /// result is still a graph to the full scan, the skim finds the same or declines.
        #[test]
        fn damaged_graphs_skim_alike_or_not_at_all(at in 0usize..4096, byte in proptest::prelude::any::<u8>(), op in 0u8..3) {
            let mut g = crate::graph::KnowledgeGraph::new(2);
            g.seed_ids(5);
            g.add_node_json_at("stock", r#"{"pe": NaN, "name": "A\u00e9", "l": [1, 2.5, true, null], "B": {"from": "A"}}"#, Some("A"), "t")
                .expect("node");
            g.add_node_at("stock", &serde_json::json!({"x": {"y": "z}"}}), Some("B"), "t");
            g.connect_at("A", "B", "peer", 0.5, "t").expect("edge");
            let mut bytes = g.to_vec();
            let at = at % bytes.len();
            match op {
                0 => bytes[at] = byte,
                1 => { bytes.remove(at); }
                _ => bytes.insert(at, byte),
            }
            if scan_spans(&bytes).is_ok() {
                for key in ["A", "B"] {
                    if let Some(skimmed) = skim_node(&bytes, key) {
                        proptest::prop_assert_eq!(skimmed, scanned(&bytes, key));
                    }
                }
            }
        }
    }

    /// Escapes, quotes and brackets inside strings at every alignment to the eight-byte
    /// words, and strings that end or start across them.
    #[test]
    fn the_skip_is_right_at_every_alignment() {
        for pad in 0..17 {
            let x = "x".repeat(pad);
            let json = format!(
                r#"{{"nodes": {{"B": {{"s{x}": "{x}\"}}]\\", "t": ["{x}", {{"u": "\\\"{{"}}], "v": {{}}}}, "A": {{"w": "{x}\\"}}}}, "edges": [{{"id": "{x}\\", "from": "A", "to": "B"}}]}}"#
            );
            agrees(json.as_bytes(), &["A", "B"]);
        }
    }

    #[test]
    fn a_byte_test_finds_its_byte_at_any_position() {
        for at in 0..8 {
            let mut b = [b'a'; 8];
            assert!(!holds(u64::from_le_bytes(b), b'"'));
            b[at] = b'"';
            assert!(holds(u64::from_le_bytes(b), b'"'), "at {at}");
            assert!(!holds(u64::from_le_bytes(b), b'\\'), "at {at}");
            // The lowest mark is the first match, whatever follows it.
            b[7] = b'"';
            b[at] = b'"';
            assert_eq!(
                bytes_of(u64::from_le_bytes(b), b'"').trailing_zeros() / 8,
                at as u32
            );
            for c in [b'{', b'}', b'[', b']'] {
                let mut w = [b' '; 8];
                w[at] = c;
                assert_eq!(
                    next_structural(u64::from_le_bytes(w)).trailing_zeros() / 8,
                    at as u32
                );
            }
        }
        // Spaces, digits, commas, colons and newlines are passed over.
        assert_eq!(next_structural(u64::from_le_bytes(*b" 12.5,:\n")), 0);
    }
}
