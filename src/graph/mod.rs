//! The application's knowledge graph (`graph.json`), read and written byte for byte.
//!
//! This is the application's file format, not storage: [`crate::store`] uses it to
//! check and compare graphs, and never the other way round.
//!
//! [`KnowledgeGraph`] owns the in-memory form of the file described in `LEGACY_FORMAT.md`
//! (versions 1 and 2), the edits the application makes (`add_node`, `connect`), and the
//! checks and comparisons the store needs (`stats`, `check_consistency`, [`diff`]).
//!
//! # Design
//!
//! The round trip is the core property: for any file the application writes,
//! `KnowledgeGraph::from_slice(b)?.to_vec() == b`. To get it without paying for a generic
//! JSON tree:
//!
//! - Only what the store reasons about is typed: node `id`, `type`, `connections_in`,
//!   `connections_out`; edge `id`, `from`, `to`, `type`; the top-level `version`.
//! - Every other value (payloads, timestamps, strengths, unknown keys) is kept as its
//!   original text. Python writes a value's inner lines at its nesting depth, and the writer
//!   puts each value back at the depth it came from, so the text re-emits unchanged.
//! - Each node and edge keeps all its field texts in one allocation, and its key order only
//!   when it is not the application's standard order.
//! - Unknown keys are kept, in place, everywhere.
//! - Bare `NaN`/`Infinity` are read through [`pyjson`]'s length-preserving masking, and the
//!   stored text is the original, so nothing needs fixing on the way out.
//!
//! Typed strings are re-escaped on output the way Python escapes them (`ensure_ascii`), which
//! is how the application writes them; a hand-edited file with, say, a literal `é` in a node
//! id is written back with `\u00e9`: same JSON, not the same bytes.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::io;
use std::sync::OnceLock;

use chrono::Timelike as _;
use hashbrown::{HashTable, hash_table};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Unexpected, Visitor};
use serde_json::value::RawValue;

pub mod change;
pub mod merge;
pub mod pyjson;
pub mod select;
pub mod skim;
pub mod spans;

mod check;
mod diff;
mod parse;
mod write;

pub use check::MAX_LISTED;
pub use diff::diff;
use parse::parse_graph;
use write::{write_edge, write_node};

use pyjson::{JsonError, NonFinite};

// ---------------------------------------------------------------------------------------------
// Errors

/// Why a graph could not be read or changed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GraphError {
    /// The bytes are not JSON (Python-flavoured JSON with bare `NaN`/`Infinity` is JSON here).
    #[error("not valid JSON: {message} at line {line} column {column}")]
    Syntax {
        /// 1-based line of the first offending byte.
        line: usize,
        /// Column (in bytes) within that line.
        column: usize,
        /// What the parser expected.
        message: String,
    },

    /// Valid JSON that is not a knowledge graph (`nodes` is an array, an edge has no `from`).
    #[error("not a knowledge graph: {path}: {message} (line {line} column {column})")]
    Shape {
        /// Where in the document, e.g. `$.edges[3]` or `$.nodes.AAPL.connections_in`.
        path: String,
        /// What is wrong there.
        message: String,
        /// 1-based line where the problem was detected.
        line: usize,
        /// Column (in bytes) within that line.
        column: usize,
    },

    /// An edge strength outside `[0, 1]` or not finite.
    #[error("invalid strength {value}: must be a finite number between 0 and 1")]
    InvalidStrength {
        /// The rejected value.
        value: f64,
    },

    /// JSON text handed to an editing method is not valid.
    #[error("invalid JSON payload: {0}")]
    InvalidPayload(JsonError),
}

impl GraphError {
    /// A shape error is only a shape error if the whole text is JSON: a mismatch seen early
    /// (a top-level `[`) must not hide that the file is truncated or garbled further on.
    /// `json` is the text that was parsed (masked, when it had bare `NaN`).
    fn confirm_shape(self, json: &[u8]) -> GraphError {
        if !matches!(self, GraphError::Shape { .. }) {
            return self;
        }
        match pyjson::parse_lenient::<de::IgnoredAny>(json) {
            Err(e) if e.kind == pyjson::JsonErrorKind::Syntax => GraphError::Syntax {
                line: e.line,
                column: e.column,
                message: e.message,
            },
            _ => self,
        }
    }
}

/// Why JSON without a top-level `nodes` object is refused, by the parse and by the span
/// scan alike: the application writes one in every graph, even an empty one.
pub(crate) const NO_NODES: &str =
    "no `nodes` object at the top level (every graph.json has one, even a graph of no nodes)";

// ---------------------------------------------------------------------------------------------
// Field tables

/// Where a known field or an unknown key sits in an object's key order. Values below
/// `EXTRA_BASE` name a known field; the rest index the object's unknown keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot(u32);

const EXTRA_BASE: u32 = 16;

enum SlotRef {
    Field(usize),
    Extra(usize),
}

impl Slot {
    const fn field(f: usize) -> Slot {
        Slot(f as u32)
    }

    fn extra(i: usize) -> Option<Slot> {
        u32::try_from(i)
            .ok()
            .and_then(|i| i.checked_add(EXTRA_BASE))
            .map(Slot)
    }

    fn resolve(self) -> SlotRef {
        if self.0 < EXTRA_BASE {
            SlotRef::Field(self.0 as usize)
        } else {
            SlotRef::Extra((self.0 - EXTRA_BASE) as usize)
        }
    }
}

/// An object's key order. The application's standard orders are shared statics, so most
/// objects store no order of their own.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Layout {
    Standard(&'static [Slot]),
    Custom(Box<[Slot]>),
}

impl Layout {
    fn slots(&self) -> &[Slot] {
        match self {
            Layout::Standard(slots) => slots,
            Layout::Custom(slots) => slots,
        }
    }

    fn of(slots: &[Slot], standards: &[&'static [Slot]]) -> Layout {
        match standards.iter().find(|s| **s == slots) {
            Some(s) => Layout::Standard(s),
            None => Layout::Custom(slots.into()),
        }
    }

    fn appended(&self, slot: Slot, standards: &[&'static [Slot]]) -> Layout {
        let mut slots = self.slots().to_vec();
        slots.push(slot);
        Layout::of(&slots, standards)
    }

    fn has_field(&self, f: usize) -> bool {
        self.slots().contains(&Slot::field(f))
    }
}

const N_ID: usize = 0;
const N_TYPE: usize = 1;
const N_DATA: usize = 2;
const N_CREATED: usize = 3;
const N_MODIFIED: usize = 4;
const N_CONN_IN: usize = 5;
const N_CONN_OUT: usize = 6;
const N_METADATA: usize = 7;
const NODE_FIELDS: [&str; 8] = [
    "id",
    "type",
    "data",
    "created",
    "modified",
    "connections_in",
    "connections_out",
    "metadata",
];
const NODE_KEYS: [&str; 8] = [
    "\"id\": ",
    "\"type\": ",
    "\"data\": ",
    "\"created\": ",
    "\"modified\": ",
    "\"connections_in\": ",
    "\"connections_out\": ",
    "\"metadata\": ",
];
static NODE_FULL: [Slot; 8] = [
    Slot::field(N_ID),
    Slot::field(N_TYPE),
    Slot::field(N_DATA),
    Slot::field(N_CREATED),
    Slot::field(N_MODIFIED),
    Slot::field(N_CONN_IN),
    Slot::field(N_CONN_OUT),
    Slot::field(N_METADATA),
];
static NODE_ID_ONLY: [Slot; 1] = [Slot::field(N_ID)];
static NODE_LAYOUTS: [&[Slot]; 2] = [&NODE_FULL, &NODE_ID_ONLY];

const E_ID: usize = 0;
const E_FROM: usize = 1;
const E_TO: usize = 2;
const E_TYPE: usize = 3;
const E_STRENGTH: usize = 4;
const E_METADATA: usize = 5;
const E_CREATED: usize = 6;
const E_ACTIVATIONS: usize = 7;
const EDGE_FIELDS: [&str; 8] = [
    "id",
    "from",
    "to",
    "type",
    "strength",
    "metadata",
    "created",
    "activations",
];
const EDGE_KEYS: [&str; 8] = [
    "\"id\": ",
    "\"from\": ",
    "\"to\": ",
    "\"type\": ",
    "\"strength\": ",
    "\"metadata\": ",
    "\"created\": ",
    "\"activations\": ",
];
/// Version 1 (dict backend) writes `id` first.
static EDGE_V1: [Slot; 8] = [
    Slot::field(E_ID),
    Slot::field(E_FROM),
    Slot::field(E_TO),
    Slot::field(E_TYPE),
    Slot::field(E_STRENGTH),
    Slot::field(E_METADATA),
    Slot::field(E_CREATED),
    Slot::field(E_ACTIVATIONS),
];
/// Version 2 (networkx backend) rebuilds edges from `(from, to, attrs)`, so `id` comes third.
static EDGE_V2: [Slot; 8] = [
    Slot::field(E_FROM),
    Slot::field(E_TO),
    Slot::field(E_ID),
    Slot::field(E_TYPE),
    Slot::field(E_STRENGTH),
    Slot::field(E_METADATA),
    Slot::field(E_CREATED),
    Slot::field(E_ACTIVATIONS),
];
static EDGE_LAYOUTS: [&[Slot]; 2] = [&EDGE_V1, &EDGE_V2];

const T_VERSION: usize = 0;
const T_NODES: usize = 1;
const T_EDGES: usize = 2;
const T_PATTERNS: usize = 3;
const T_FORECASTS: usize = 4;
const T_METADATA: usize = 5;
const TOP_FIELDS: [&str; 6] = [
    "version",
    "nodes",
    "edges",
    "patterns",
    "forecasts",
    "metadata",
];
static TOP_FULL: [Slot; 6] = [
    Slot::field(T_VERSION),
    Slot::field(T_NODES),
    Slot::field(T_EDGES),
    Slot::field(T_PATTERNS),
    Slot::field(T_FORECASTS),
    Slot::field(T_METADATA),
];
/// Version 1 files may have no `version` key at all.
static TOP_NO_VERSION: [Slot; 5] = [
    Slot::field(T_NODES),
    Slot::field(T_EDGES),
    Slot::field(T_PATTERNS),
    Slot::field(T_FORECASTS),
    Slot::field(T_METADATA),
];
static TOP_LAYOUTS: [&[Slot]; 2] = [&TOP_FULL, &TOP_NO_VERSION];

/// Depth (in indentation levels) of a node's or an edge's field values.
const FIELD_DEPTH: usize = 3;
/// Buffered output is handed to the writer in chunks of about this size.
const WRITE_CHUNK: usize = 1 << 20;

// ---------------------------------------------------------------------------------------------
// Packed field texts

/// The texts of an object's eight fields in one allocation: typed strings unescaped, other
/// values as their original JSON text. Absent fields are empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Packed {
    text: Box<str>,
    /// Where each field ends in `text`. `u32`: a field lies within one file, and files
    /// are smaller than 4 GiB (`MAX_GRAPH_LEN`); half the size per node and edge.
    ends: [u32; 8],
}

impl Packed {
    fn get(&self, f: usize) -> &str {
        let start = if f == 0 { 0 } else { self.ends[f - 1] as usize };
        self.text.get(start..self.ends[f] as usize).unwrap_or("")
    }

    fn from_parts(parts: [&str; 8]) -> Packed {
        let mut text = String::with_capacity(parts.iter().map(|p| p.len()).sum());
        let mut ends = [0; 8];
        for (end, part) in ends.iter_mut().zip(parts) {
            text.push_str(part);
            *end = offset(text.len());
        }
        Packed {
            text: text.into_boxed_str(),
            ends,
        }
    }

    /// Gathers fields written to `scratch` in arrival order into field order.
    fn gather(scratch: &str, spans: &[(usize, usize); 8]) -> Packed {
        let parts = spans.map(|(start, end)| scratch.get(start..end).unwrap_or(""));
        Packed::from_parts(parts)
    }

    fn replaced(&self, f: usize, value: &str) -> Packed {
        let mut parts: [&str; 8] = std::array::from_fn(|i| self.get(i));
        parts[f] = value;
        Packed::from_parts(parts)
    }
}

/// An unknown key and its value's original text.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Extra {
    key: Box<str>,
    value: Box<str>,
}

/// A node's list of edge ids (`connections_in` or `connections_out`), packed into one
/// string.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Connections {
    text: String,
    ends: Vec<u32>,
}

/// An offset within one node's or edge's text, which is shorter than the file it came
/// from, itself under 4 GiB (saturating rather than wrapping if that ever failed).
fn offset(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

impl Connections {
    /// Number of ids, duplicates included.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when the list is empty (or absent).
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The id at `index`.
    pub fn get(&self, index: usize) -> Option<&str> {
        let end = *self.ends.get(index)? as usize;
        let start = if index == 0 {
            0
        } else {
            self.ends[index - 1] as usize
        };
        self.text.get(start..end)
    }

    /// The ids in file order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.ends.len()).map(|i| self.get(i).unwrap_or(""))
    }

    /// True when `id` is in the list.
    pub fn contains(&self, id: &str) -> bool {
        self.iter().any(|x| x == id)
    }

    fn push(&mut self, id: &str) {
        self.text.push_str(id);
        self.ends.push(offset(self.text.len()));
    }

    fn remove_all(&mut self, id: &str) -> bool {
        if !self.contains(id) {
            return false;
        }
        let mut kept = Connections::default();
        for x in self.iter().filter(|x| *x != id) {
            kept.push(x);
        }
        *self = kept;
        true
    }
}

// ---------------------------------------------------------------------------------------------
// Nodes and edges

/// One node of the graph, exactly as the file has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    fields: Packed,
    /// The key under `nodes` when it differs from the inner `id` (a consistency problem).
    key: Option<Box<str>>,
    connections_in: Connections,
    connections_out: Connections,
    present: u8,
    type_null: bool,
    layout: Layout,
    extras: Box<[Extra]>,
}

impl Node {
    fn minimal(id: &str) -> Node {
        Node {
            fields: Packed::from_parts([id, "", "", "", "", "", "", ""]),
            key: None,
            connections_in: Connections::default(),
            connections_out: Connections::default(),
            present: 1 << N_ID,
            type_null: false,
            layout: Layout::Standard(&NODE_ID_ONLY),
            extras: Box::new([]),
        }
    }

    fn has(&self, f: usize) -> bool {
        self.present & (1 << f) != 0
    }

    fn raw(&self, f: usize) -> Option<&str> {
        self.has(f).then(|| self.fields.get(f))
    }

    /// The node's `id` field.
    pub fn id(&self) -> &str {
        self.fields.get(N_ID)
    }

    /// The key the node is stored under in `nodes` (normally equal to [`Node::id`]).
    pub fn key(&self) -> &str {
        self.key.as_deref().unwrap_or_else(|| self.id())
    }

    /// The node's `type`; `None` when absent or `null`.
    pub fn kind(&self) -> Option<&str> {
        (self.has(N_TYPE) && !self.type_null).then(|| self.fields.get(N_TYPE))
    }

    /// Ids of the edges that end at this node, as recorded in the file.
    pub fn connections_in(&self) -> &Connections {
        &self.connections_in
    }

    /// Ids of the edges that start at this node, as recorded in the file.
    pub fn connections_out(&self) -> &Connections {
        &self.connections_out
    }

    /// The `data` payload's JSON text as the file has it (indented for its place in the
    /// file; may hold bare `NaN`, read it with [`pyjson::parse_lenient`]).
    pub fn data_json(&self) -> Option<&str> {
        self.raw(N_DATA)
    }

    /// The `metadata` object's JSON text as the file has it.
    pub fn metadata_json(&self) -> Option<&str> {
        self.raw(N_METADATA)
    }

    /// The `created` timestamp, when it is a string.
    pub fn created(&self) -> Option<Cow<'_, str>> {
        self.raw(N_CREATED).and_then(pyjson::string_value)
    }

    /// The `modified` timestamp, when it is a string.
    pub fn modified(&self) -> Option<Cow<'_, str>> {
        self.raw(N_MODIFIED).and_then(pyjson::string_value)
    }

    /// True when the node holds nothing but its `id` (as nodes created implicitly by an
    /// edge to an unknown id do).
    pub fn is_minimal(&self) -> bool {
        self.present == 1 << N_ID && self.extras.is_empty()
    }

    /// Keys the application did not define, in file order.
    pub fn unknown_keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.extras.iter().map(|e| &*e.key)
    }

    fn set_field(&mut self, f: usize, value: &str) {
        self.fields = self.fields.replaced(f, value);
        if f == N_TYPE {
            self.type_null = false;
        }
        if !self.has(f) {
            self.present |= 1 << f;
            self.layout = self.layout.appended(Slot::field(f), &NODE_LAYOUTS);
        }
    }

    /// Records an edge id in a connection list the node has. Nodes without the list (the
    /// minimal `{"id": ...}` nodes an edge creates) are left as the application leaves them.
    fn record_connection(&mut self, f: usize, edge_id: &str) {
        if !self.has(f) {
            return;
        }
        if f == N_CONN_IN {
            self.connections_in.push(edge_id);
        } else {
            self.connections_out.push(edge_id);
        }
    }
}

/// One edge of the graph, exactly as the file has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    fields: Packed,
    present: u8,
    type_null: bool,
    layout: Layout,
    extras: Box<[Extra]>,
}

impl Edge {
    fn has(&self, f: usize) -> bool {
        self.present & (1 << f) != 0
    }

    fn raw(&self, f: usize) -> Option<&str> {
        self.has(f).then(|| self.fields.get(f))
    }

    /// The edge's `id`.
    pub fn id(&self) -> &str {
        self.fields.get(E_ID)
    }

    /// Id of the node the edge starts at.
    pub fn from(&self) -> &str {
        self.fields.get(E_FROM)
    }

    /// Id of the node the edge ends at.
    pub fn to(&self) -> &str {
        self.fields.get(E_TO)
    }

    /// The relationship (the edge's `type`); `None` when absent or `null`.
    pub fn relationship(&self) -> Option<&str> {
        (self.has(E_TYPE) && !self.type_null).then(|| self.fields.get(E_TYPE))
    }

    /// The `strength` when it is a number (`NaN` and infinities included).
    pub fn strength(&self) -> Option<f64> {
        self.raw(E_STRENGTH).and_then(pyjson::number_value)
    }

    /// The `strength` value's text as the file has it.
    pub fn strength_json(&self) -> Option<&str> {
        self.raw(E_STRENGTH)
    }

    /// The `metadata` object's JSON text as the file has it.
    pub fn metadata_json(&self) -> Option<&str> {
        self.raw(E_METADATA)
    }

    /// The `created` timestamp, when it is a string.
    pub fn created(&self) -> Option<Cow<'_, str>> {
        self.raw(E_CREATED).and_then(pyjson::string_value)
    }

    /// The `activations` counter, when it is an integer.
    pub fn activations(&self) -> Option<i64> {
        self.raw(E_ACTIVATIONS).and_then(|t| t.parse().ok())
    }

    /// Keys the application did not define, in file order.
    pub fn unknown_keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.extras.iter().map(|e| &*e.key)
    }

    fn set_field(&mut self, f: usize, value: &str) {
        self.fields = self.fields.replaced(f, value);
        if f == E_TYPE {
            self.type_null = false;
        }
        if !self.has(f) {
            self.present |= 1 << f;
            self.layout = self.layout.appended(Slot::field(f), &EDGE_LAYOUTS);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Lookup

/// Hasher for keys that are already 64-bit hashes.
#[derive(Default, Clone, Copy)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Position by hash of the key. Storing hashes rather than keys keeps the index small; a
/// hit is confirmed against the element, and a mismatch (two keys with one hash) falls back
/// to a scan, so a collision costs time, never correctness.
type HashIndex = HashMap<u64, usize, BuildHasherDefault<PreHashed>>;

#[derive(Clone, Debug, Default)]
struct Lookup {
    hasher: RandomState,
    /// Node key -> position of the last node with that key (the one Python would keep).
    nodes: HashIndex,
    /// Edge id -> position; built on first use.
    edges: OnceLock<HashIndex>,
    /// (from, to) -> position; built on first use.
    pairs: OnceLock<HashIndex>,
}

impl Lookup {
    fn key(&self, key: &str) -> u64 {
        self.hasher.hash_one(key)
    }

    fn pair(&self, from: &str, to: &str) -> u64 {
        self.hasher.hash_one((from, to))
    }

    fn node_index(&self, nodes: &[Node]) -> HashIndex {
        let mut index = HashIndex::with_capacity_and_hasher(nodes.len(), Default::default());
        for (i, node) in nodes.iter().enumerate() {
            index.insert(self.key(node.key()), i);
        }
        index
    }

    fn edge_index(&self, edges: &[Edge]) -> &HashIndex {
        self.edges.get_or_init(|| {
            let mut index = HashIndex::with_capacity_and_hasher(edges.len(), Default::default());
            for (i, edge) in edges.iter().enumerate() {
                index.entry(self.key(edge.id())).or_insert(i);
            }
            index
        })
    }

    fn pair_index(&self, edges: &[Edge]) -> &HashIndex {
        self.pairs.get_or_init(|| {
            let mut index = HashIndex::with_capacity_and_hasher(edges.len(), Default::default());
            for (i, edge) in edges.iter().enumerate() {
                index.entry(self.pair(edge.from(), edge.to())).or_insert(i);
            }
            index
        })
    }
}

/// splitmix64: ids only need to be spread out and, when seeded, reproducible.
#[derive(Clone, Debug)]
struct IdRng(u64);

impl IdRng {
    fn random() -> IdRng {
        IdRng(RandomState::new().hash_one(0x5eed_u64))
    }

    fn next_u32(&mut self) -> u32 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 32) as u32
    }
}

// ---------------------------------------------------------------------------------------------
// Reports

/// Counts the application records in `metadata.stats` on every save.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GraphStats {
    /// Number of nodes.
    pub total_nodes: usize,
    /// Number of edges.
    pub total_edges: usize,
    /// Entries in `patterns`: an array value counts its elements, any other value counts 1.
    pub total_patterns: usize,
    /// Nodes per `type`, in order of first appearance (`"unknown"` for untyped nodes).
    #[serde(serialize_with = "serialize_counts")]
    pub node_types: Vec<(String, usize)>,
    /// Edges per relationship, in order of first appearance.
    #[serde(serialize_with = "serialize_counts")]
    pub edge_types: Vec<(String, usize)>,
    /// Edges per node (`0.0` for an empty graph).
    pub avg_connections: f64,
}

fn serialize_counts<S: serde::Serializer>(
    counts: &[(String, usize)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = serializer.serialize_map(Some(counts.len()))?;
    for (name, count) in counts {
        map.serialize_entry(name, count)?;
    }
    map.end()
}

/// What [`KnowledgeGraph::check_consistency`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Consistency {
    /// Corruption: duplicate node keys or edge ids, node keys that differ from the node's
    /// `id`, edges whose endpoints are not nodes, strengths that are not numbers.
    pub problems: Vec<String>,
    /// Legal in files the application writes, but worth knowing: connection ids that name
    /// no edge, nodes with nothing but an id.
    pub warnings: Vec<String>,
}

impl Consistency {
    /// True when no problem was found (warnings allowed).
    pub fn is_consistent(&self) -> bool {
        self.problems.is_empty()
    }
}

/// How two graphs differ, by node key and by edge id.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct GraphDiff {
    /// Node keys only in the new graph, in its order.
    pub nodes_added: Vec<String>,
    /// Node keys only in the old graph, in its order.
    pub nodes_removed: Vec<String>,
    /// Node keys in both whose serialized node differs, in the new graph's order.
    pub nodes_changed: Vec<String>,
    /// Edge ids only in the new graph.
    pub edges_added: Vec<String>,
    /// Edge ids only in the old graph.
    pub edges_removed: Vec<String>,
    /// Edge ids in both whose serialized edge differs.
    pub edges_changed: Vec<String>,
    /// Nodes in the old graph.
    pub old_node_count: usize,
    /// Nodes in the new graph.
    pub new_node_count: usize,
    /// Edges in the old graph.
    pub old_edge_count: usize,
    /// Edges in the new graph.
    pub new_edge_count: usize,
}

impl GraphDiff {
    /// True when no node or edge was added, removed or changed.
    pub fn is_empty(&self) -> bool {
        self.nodes_added.is_empty()
            && self.nodes_removed.is_empty()
            && self.nodes_changed.is_empty()
            && self.edges_added.is_empty()
            && self.edges_removed.is_empty()
            && self.edges_changed.is_empty()
    }
}

/// What the application writes into `metadata` when it saves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveStamp {
    /// The save time, naive local ISO-8601 as Python's `isoformat()` writes it.
    pub last_saved: String,
}

impl SaveStamp {
    /// A stamp for now, in local time.
    pub fn now() -> SaveStamp {
        SaveStamp {
            last_saved: python_now(),
        }
    }
}

/// `t` as Python's `datetime.isoformat()` writes it: microseconds when not zero.
pub fn python_timestamp(t: &chrono::NaiveDateTime) -> String {
    let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    // A leap second shows as 1_000_000+ microseconds in chrono; Python has no such time.
    let micros = (t.nanosecond() % 1_000_000_000) / 1000;
    if micros == 0 {
        base
    } else {
        format!("{base}.{micros:06}")
    }
}

/// The local time now as the application writes timestamps.
pub fn python_now() -> String {
    python_timestamp(&chrono::Local::now().naive_local())
}

// ---------------------------------------------------------------------------------------------
// The graph

/// The knowledge graph of `graph.json`: nodes in file order with an index by key, edges in
/// file order, and every other value kept as its original text.
#[derive(Clone, Debug)]
pub struct KnowledgeGraph {
    version: Option<u32>,
    nodes: Vec<Node>,
    edges: Vec<Edge>,
    patterns: Option<Box<str>>,
    forecasts: Option<Box<str>>,
    metadata: Option<Box<str>>,
    layout: Layout,
    extras: Vec<Extra>,
    lookup: Lookup,
    ids: IdRng,
    /// Size of the file it was read from, to size output buffers.
    source_len: usize,
}

impl Default for KnowledgeGraph {
    /// An empty version 2 graph.
    fn default() -> Self {
        KnowledgeGraph::new(2)
    }
}

impl KnowledgeGraph {
    /// An empty graph in the application's shape: `version`, empty `nodes`, `edges`,
    /// `patterns`, `forecasts` and `metadata`.
    pub fn new(version: u32) -> Self {
        KnowledgeGraph {
            version: Some(version),
            nodes: Vec::new(),
            edges: Vec::new(),
            patterns: Some("{}".into()),
            forecasts: Some("{}".into()),
            metadata: Some("{}".into()),
            layout: Layout::Standard(&TOP_FULL),
            extras: Vec::new(),
            lookup: Lookup::default(),
            ids: IdRng::random(),
            source_len: 0,
        }
    }

    /// Reads a `graph.json` (Python flavour: bare `NaN`/`Infinity` accepted).
    ///
    /// # Errors
    ///
    /// [`GraphError::Syntax`] when the bytes are not JSON, [`GraphError::Shape`] when they are
    /// JSON but not a graph; both carry the line and column in `json`.
    pub fn from_slice(json: &[u8]) -> Result<Self, GraphError> {
        match parse_graph(json, &[]) {
            Ok(graph) => Ok(graph),
            Err(failure) if !failure.retry => Err(failure.error.confirm_shape(json)),
            Err(failure) => {
                let found = pyjson::find_non_finite(json);
                if found.is_empty() {
                    return Err(failure.error);
                }
                let mut masked = json.to_vec();
                pyjson::mask_non_finite(&mut masked, &found);
                parse_graph(&masked, &found).map_err(|f| f.error.confirm_shape(&masked))
            }
        }
    }

    /// Like [`KnowledgeGraph::from_slice`], but takes the buffer so that a file with bare
    /// `NaN` is masked in place instead of copied (peak memory stays at one copy of the
    /// file plus the graph).
    ///
    /// # Errors
    ///
    /// As [`KnowledgeGraph::from_slice`].
    pub fn from_vec(mut json: Vec<u8>) -> Result<Self, GraphError> {
        Self::from_mut_slice(&mut json)
    }

    /// [`KnowledgeGraph::from_slice`] without its copy of a file that has bare `NaN`:
    /// masked in place and put back, so the buffer ends as it began. The tokens are
    /// looked for first (a search for `NaN` and `Infinity` costs a few percent of a
    /// parse), so a file with one near its end is parsed once, not twice.
    ///
    /// # Errors
    ///
    /// As [`KnowledgeGraph::from_slice`].
    pub fn from_mut_slice(json: &mut [u8]) -> Result<Self, GraphError> {
        let found = pyjson::find_non_finite(json);
        pyjson::mask_non_finite(json, &found);
        let parsed = Self::from_masked(json, &found);
        pyjson::unmask_non_finite(json, &found);
        parsed
    }

    /// Parses text whose bare `NaN`/`Infinity` (`found`, by [`pyjson::find_non_finite`])
    /// are already masked ([`pyjson::mask_non_finite`]): for a caller that masks a buffer
    /// once and shares it, read only, with a hash or writes that put the tokens back as they
    /// go ([`pyjson::for_each_unmasked`]). The graph holds the original tokens.
    ///
    /// # Errors
    ///
    /// As [`KnowledgeGraph::from_slice`] on the original text.
    pub fn from_masked(json: &[u8], found: &[pyjson::NonFinite]) -> Result<Self, GraphError> {
        parse_graph(json, found).map_err(|f| f.error.confirm_shape(json))
    }

    /// The file's `version`; 1 when the key is absent.
    pub fn version(&self) -> u32 {
        self.version.unwrap_or(1)
    }

    /// Number of nodes (duplicate keys counted separately).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Number of edges.
    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }

    /// Nodes in file order.
    pub fn nodes(&self) -> impl ExactSizeIterator<Item = &Node> + '_ {
        self.nodes.iter()
    }

    /// Edges in file order.
    pub fn edges(&self) -> impl ExactSizeIterator<Item = &Edge> + '_ {
        self.edges.iter()
    }

    /// The node stored under `key` (the last one, as Python would keep it, when the file
    /// repeats the key).
    pub fn node(&self, key: &str) -> Option<&Node> {
        self.node_position(key).map(|i| &self.nodes[i])
    }

    /// The edge with `id` (the first one when ids repeat).
    pub fn edge(&self, id: &str) -> Option<&Edge> {
        self.edge_position(id).map(|i| &self.edges[i])
    }

    /// The `patterns` value's JSON text as the file has it.
    pub fn patterns_json(&self) -> Option<&str> {
        self.patterns.as_deref()
    }

    /// The `forecasts` value's JSON text as the file has it.
    pub fn forecasts_json(&self) -> Option<&str> {
        self.forecasts.as_deref()
    }

    /// The top-level `metadata` value's JSON text as the file has it.
    pub fn metadata_json(&self) -> Option<&str> {
        self.metadata.as_deref()
    }

    /// Makes generated node and edge ids reproducible.
    pub fn seed_ids(&mut self, seed: u64) {
        self.ids = IdRng(seed);
    }

    fn node_position(&self, key: &str) -> Option<usize> {
        let &i = self.lookup.nodes.get(&self.lookup.key(key))?;
        if self.nodes.get(i).is_some_and(|n| n.key() == key) {
            return Some(i);
        }
        self.nodes.iter().rposition(|n| n.key() == key)
    }

    fn edge_position(&self, id: &str) -> Option<usize> {
        let &i = self
            .lookup
            .edge_index(&self.edges)
            .get(&self.lookup.key(id))?;
        if self.edges.get(i).is_some_and(|e| e.id() == id) {
            return Some(i);
        }
        self.edges.iter().position(|e| e.id() == id)
    }

    fn edge_between(&self, from: &str, to: &str) -> Option<usize> {
        let &i = self
            .lookup
            .pair_index(&self.edges)
            .get(&self.lookup.pair(from, to))?;
        if self
            .edges
            .get(i)
            .is_some_and(|e| e.from() == from && e.to() == to)
        {
            return Some(i);
        }
        self.edges
            .iter()
            .position(|e| e.from() == from && e.to() == to)
    }

    fn push_node(&mut self, node: Node) {
        self.lookup
            .nodes
            .insert(self.lookup.key(node.key()), self.nodes.len());
        self.nodes.push(node);
    }

    fn push_edge(&mut self, edge: Edge) {
        let i = self.edges.len();
        let id_hash = self.lookup.key(edge.id());
        let pair_hash = self.lookup.pair(edge.from(), edge.to());
        if let Some(index) = self.lookup.edges.get_mut() {
            index.entry(id_hash).or_insert(i);
        }
        if let Some(index) = self.lookup.pairs.get_mut() {
            index.entry(pair_hash).or_insert(i);
        }
        self.edges.push(edge);
    }

    fn reindex(&mut self) {
        self.lookup.nodes = self.lookup.node_index(&self.nodes);
        self.lookup.edges = OnceLock::new();
        self.lookup.pairs = OnceLock::new();
    }

    fn fresh_node_id(&mut self, kind: &str) -> String {
        loop {
            let id = format!("{kind}_{:08x}", self.ids.next_u32());
            if self.node_position(&id).is_none() {
                return id;
            }
        }
    }

    fn fresh_edge_id(&mut self) -> String {
        loop {
            let id = format!("edge_{:08x}", self.ids.next_u32());
            if self.edge_position(&id).is_none() {
                return id;
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Editing

    /// Adds a node the way the application does, timestamped now: full node with
    /// `created`/`modified`, empty connections and metadata
    /// `{access_count: 0, last_accessed: null, confidence: 1.0}`. Without `id` one is
    /// generated (`{kind}_{8 hex}`). An existing `id` gets its `type`, `data` and `modified`
    /// replaced and keeps everything else. Returns the node's id.
    ///
    /// `data` is written with its keys in `serde_json::Map` order (sorted); use
    /// [`KnowledgeGraph::add_node_json`] to control key order or to store non-finite floats.
    pub fn add_node(&mut self, kind: &str, data: serde_json::Value, id: Option<&str>) -> String {
        self.add_node_at(kind, &data, id, &python_now())
    }

    /// [`KnowledgeGraph::add_node`] with an explicit timestamp (as written by
    /// [`python_timestamp`]), for reproducible graphs.
    pub fn add_node_at(
        &mut self,
        kind: &str,
        data: &serde_json::Value,
        id: Option<&str>,
        now: &str,
    ) -> String {
        let data = pyjson::value_to_python_json(data, FIELD_DEPTH);
        self.put_node(kind, &data, id, now)
    }

    /// [`KnowledgeGraph::add_node`] with `data` given as JSON text (Python flavour: bare
    /// `NaN`/`Infinity` allowed), laid out as the application would write it; key order and
    /// number spelling are kept.
    ///
    /// # Errors
    ///
    /// [`GraphError::InvalidPayload`] when `data_json` is not one valid JSON value.
    pub fn add_node_json(
        &mut self,
        kind: &str,
        data_json: &str,
        id: Option<&str>,
    ) -> Result<String, GraphError> {
        self.add_node_json_at(kind, data_json, id, &python_now())
    }

    /// [`KnowledgeGraph::add_node_json`] with an explicit timestamp.
    ///
    /// # Errors
    ///
    /// [`GraphError::InvalidPayload`] when `data_json` is not one valid JSON value.
    pub fn add_node_json_at(
        &mut self,
        kind: &str,
        data_json: &str,
        id: Option<&str>,
        now: &str,
    ) -> Result<String, GraphError> {
        let data = pyjson::relayout(data_json, FIELD_DEPTH).map_err(GraphError::InvalidPayload)?;
        Ok(self.put_node(kind, &data, id, now))
    }

    fn put_node(&mut self, kind: &str, data: &str, id: Option<&str>, now: &str) -> String {
        let now = pyjson::str_literal(now);
        if let Some(i) = id.and_then(|id| self.node_position(id)) {
            let node = &mut self.nodes[i];
            node.set_field(N_TYPE, kind);
            node.set_field(N_DATA, data);
            node.set_field(N_MODIFIED, &now);
            return node.key().to_owned();
        }
        let id = match id {
            Some(id) => id.to_owned(),
            None => self.fresh_node_id(kind),
        };
        let mut metadata = String::from("{");
        for (i, entry) in [
            "\"access_count\": 0",
            "\"last_accessed\": null",
            "\"confidence\": 1.0",
        ]
        .iter()
        .enumerate()
        {
            if i > 0 {
                metadata.push(',');
            }
            pyjson::push_newline_indent(&mut metadata, FIELD_DEPTH + 1);
            metadata.push_str(entry);
        }
        pyjson::push_newline_indent(&mut metadata, FIELD_DEPTH);
        metadata.push('}');
        let node = Node {
            fields: Packed::from_parts([&id, kind, data, &now, &now, "", "", &metadata]),
            key: None,
            connections_in: Connections::default(),
            connections_out: Connections::default(),
            present: 0xff,
            type_null: false,
            layout: Layout::Standard(&NODE_FULL),
            extras: Box::new([]),
        };
        self.push_node(node);
        id
    }

    /// Connects two nodes the way the application does, timestamped now: a new edge
    /// `edge_` + 8 hex with `metadata {}` and `activations 0`, recorded in the endpoints'
    /// `connections_out`/`connections_in`; endpoints that do not exist are created as
    /// minimal `{"id": ...}` nodes, which (as in the application's files) get no connection
    /// lists. A version 2 graph keeps one edge per `(from, to)` pair:
    /// connecting a connected pair updates that edge's relationship and strength and
    /// returns its id.
    ///
    /// # Errors
    ///
    /// [`GraphError::InvalidStrength`] unless `strength` is finite and within `[0, 1]`.
    pub fn connect(
        &mut self,
        from: &str,
        to: &str,
        relationship: &str,
        strength: f64,
    ) -> Result<String, GraphError> {
        self.connect_at(from, to, relationship, strength, &python_now())
    }

    /// [`KnowledgeGraph::connect`] with an explicit timestamp.
    ///
    /// # Errors
    ///
    /// [`GraphError::InvalidStrength`] unless `strength` is finite and within `[0, 1]`.
    pub fn connect_at(
        &mut self,
        from: &str,
        to: &str,
        relationship: &str,
        strength: f64,
        now: &str,
    ) -> Result<String, GraphError> {
        if !(strength.is_finite() && (0.0..=1.0).contains(&strength)) {
            return Err(GraphError::InvalidStrength { value: strength });
        }
        for id in [from, to] {
            if self.node_position(id).is_none() {
                self.push_node(Node::minimal(id));
            }
        }
        let strength = pyjson::float_repr(strength);
        if self.version() >= 2
            && let Some(i) = self.edge_between(from, to)
        {
            let edge = &mut self.edges[i];
            edge.set_field(E_TYPE, relationship);
            edge.set_field(E_STRENGTH, &strength);
            return Ok(edge.id().to_owned());
        }
        let id = self.fresh_edge_id();
        let layout: &'static [Slot] = if self.version() >= 2 {
            &EDGE_V2
        } else {
            &EDGE_V1
        };
        let edge = Edge {
            fields: Packed::from_parts([
                &id,
                from,
                to,
                relationship,
                &strength,
                "{}",
                &pyjson::str_literal(now),
                "0",
            ]),
            present: 0xff,
            type_null: false,
            layout: Layout::Standard(layout),
            extras: Box::new([]),
        };
        self.push_edge(edge);
        if let Some(i) = self.node_position(from) {
            self.nodes[i].record_connection(N_CONN_OUT, &id);
        }
        if let Some(i) = self.node_position(to) {
            self.nodes[i].record_connection(N_CONN_IN, &id);
        }
        Ok(id)
    }

    /// Removes the edge with `id` and its id from its endpoints' connection lists. Returns
    /// false when there is no such edge. Costs time linear in the number of edges.
    pub fn remove_edge(&mut self, id: &str) -> bool {
        let Some(i) = self.edge_position(id) else {
            return false;
        };
        let edge = self.edges.remove(i);
        self.forget_edge(&edge);
        self.reindex();
        true
    }

    fn forget_edge(&mut self, edge: &Edge) {
        if let Some(i) = self.node_position(edge.from()) {
            self.nodes[i].connections_out.remove_all(edge.id());
        }
        if let Some(i) = self.node_position(edge.to()) {
            self.nodes[i].connections_in.remove_all(edge.id());
        }
    }

    /// Removes the node stored under `key`, every edge that starts or ends at it, and those
    /// edges' ids from the other endpoints' connection lists. Returns false when there is no
    /// such node. Costs time linear in the size of the graph.
    pub fn remove_node(&mut self, key: &str) -> bool {
        let Some(i) = self.node_position(key) else {
            return false;
        };
        let (gone, kept): (Vec<Edge>, Vec<Edge>) = std::mem::take(&mut self.edges)
            .into_iter()
            .partition(|e| e.from() == key || e.to() == key);
        self.edges = kept;
        for edge in &gone {
            self.forget_edge(edge);
        }
        self.nodes.remove(i);
        self.reindex();
        true
    }

    /// Replaces the `data` of the node stored under `key` with `data_json` (Python-flavoured
    /// JSON text, laid out as the application would write it) and sets its `modified` to
    /// `now`. Returns false when there is no such node.
    ///
    /// # Errors
    ///
    /// [`GraphError::InvalidPayload`] when `data_json` is not one valid JSON value.
    pub fn set_node_data_json(
        &mut self,
        key: &str,
        data_json: &str,
        now: &str,
    ) -> Result<bool, GraphError> {
        let data = pyjson::relayout(data_json, FIELD_DEPTH).map_err(GraphError::InvalidPayload)?;
        let Some(i) = self.node_position(key) else {
            return Ok(false);
        };
        let node = &mut self.nodes[i];
        node.set_field(N_DATA, &data);
        node.set_field(N_MODIFIED, &pyjson::str_literal(now));
        Ok(true)
    }

    /// Replaces `patterns` with `patterns_json` (Python-flavoured JSON text).
    ///
    /// # Errors
    ///
    /// [`GraphError::InvalidPayload`] when `patterns_json` is not one valid JSON value.
    pub fn set_patterns_json(&mut self, patterns_json: &str) -> Result<(), GraphError> {
        let text = pyjson::relayout(patterns_json, 1).map_err(GraphError::InvalidPayload)?;
        self.set_top_raw(T_PATTERNS, text.into_boxed_str());
        Ok(())
    }

    fn set_top_raw(&mut self, f: usize, text: Box<str>) {
        let slot = match f {
            T_PATTERNS => &mut self.patterns,
            T_FORECASTS => &mut self.forecasts,
            _ => &mut self.metadata,
        };
        *slot = Some(text);
        if !self.layout.has_field(f) {
            self.layout = self.layout.appended(Slot::field(f), &TOP_LAYOUTS);
        }
    }

    /// Updates `metadata` in memory as a save does (see [`KnowledgeGraph::write_json`]).
    pub fn stamp(&mut self, stamp: &SaveStamp) {
        let text = self.stamped_metadata(stamp);
        self.set_top_raw(T_METADATA, text.into_boxed_str());
    }

    // -----------------------------------------------------------------------------------------
    // Reports

    /// The counts the application stores in `metadata.stats`.
    pub fn stats(&self) -> GraphStats {
        fn count<'a>(names: impl Iterator<Item = &'a str>) -> Vec<(String, usize)> {
            let mut counts: Vec<(String, usize)> = Vec::new();
            let mut position: HashMap<&str, usize> = HashMap::new();
            for name in names {
                match position.get(name) {
                    Some(&i) => counts[i].1 += 1,
                    None => {
                        position.insert(name, counts.len());
                        counts.push((name.to_owned(), 1));
                    }
                }
            }
            counts
        }
        let total_patterns = self
            .patterns
            .as_deref()
            .and_then(|text| {
                pyjson::object_entries(text)
                    .ok()
                    .flatten()
                    .map(|e| (text, e))
            })
            .map_or(0, |(text, entries)| {
                entries
                    .iter()
                    .map(|(_, range)| {
                        text.get(range.clone())
                            .and_then(|v| pyjson::array_len(v).ok().flatten())
                            .unwrap_or(1)
                    })
                    .sum()
            });
        let avg_connections = if self.nodes.is_empty() {
            0.0
        } else {
            self.edges.len() as f64 / self.nodes.len() as f64
        };
        GraphStats {
            total_nodes: self.nodes.len(),
            total_edges: self.edges.len(),
            total_patterns,
            node_types: count(self.nodes.iter().map(|n| n.kind().unwrap_or("unknown"))),
            edge_types: count(
                self.edges
                    .iter()
                    .map(|e| e.relationship().unwrap_or("unknown")),
            ),
            avg_connections,
        }
    }
}

#[cfg(test)]
mod tests;
