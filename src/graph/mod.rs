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
pub mod spans;

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
        match parse_graph(&json, &[]) {
            Ok(graph) => Ok(graph),
            Err(failure) if !failure.retry => Err(failure.error.confirm_shape(&json)),
            Err(failure) => {
                let found = pyjson::find_non_finite(&json);
                if found.is_empty() {
                    return Err(failure.error);
                }
                pyjson::mask_non_finite(&mut json, &found);
                parse_graph(&json, &found).map_err(|f| f.error.confirm_shape(&json))
            }
        }
    }

    /// The first parse of [`KnowledgeGraph::from_slice`] alone, for a caller that shares
    /// the buffer with another reader meanwhile (a hash on another core). `Ok(None)` means
    /// the file has Python's bare `NaN`/`Infinity` to mask: call
    /// [`KnowledgeGraph::from_mut_slice_masked`] once the buffer is its own again.
    ///
    /// # Errors
    ///
    /// As [`KnowledgeGraph::from_slice`], for a file that masking cannot cure.
    pub fn from_slice_unmasked(json: &[u8]) -> Result<Option<Self>, GraphError> {
        match parse_graph(json, &[]) {
            Ok(graph) => Ok(Some(graph)),
            Err(failure) if !failure.retry => Err(failure.error.confirm_shape(json)),
            Err(failure) if pyjson::find_non_finite(json).is_empty() => Err(failure.error),
            Err(_) => Ok(None),
        }
    }

    /// Parses a file with Python's bare `NaN`/`Infinity` by masking them in place and
    /// putting them back afterwards: the buffer ends as it began, and the parse never
    /// holds a second copy of the file (as [`KnowledgeGraph::from_slice`] must).
    ///
    /// # Errors
    ///
    /// As [`KnowledgeGraph::from_slice`].
    pub fn from_mut_slice_masked(json: &mut [u8]) -> Result<Self, GraphError> {
        let found = pyjson::find_non_finite(json);
        if found.is_empty() {
            return Self::from_slice(json);
        }
        pyjson::mask_non_finite(json, &found);
        let parsed = parse_graph(json, &found).map_err(|f| f.error.confirm_shape(json));
        pyjson::unmask_non_finite(json, &found);
        parsed
    }

    /// [`KnowledgeGraph::from_slice`] without its copy of a file that has bare `NaN`:
    /// masked in place and put back.
    ///
    /// # Errors
    ///
    /// As [`KnowledgeGraph::from_slice`].
    pub fn from_mut_slice(json: &mut [u8]) -> Result<Self, GraphError> {
        match Self::from_slice_unmasked(json)? {
            Some(graph) => Ok(graph),
            None => Self::from_mut_slice_masked(json),
        }
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

    /// Checks the graph's internal references. Problems are corruption; warnings are
    /// states the application itself produces. Each message names the ids concerned (at
    /// most [`MAX_LISTED`], then how many more).
    pub fn check_consistency(&self) -> Consistency {
        // Lookups by node key cost a few cache misses each: on a 100 MB graph the node pass
        // and the edge endpoints take hundreds of milliseconds, so they run on a second core
        // while this one checks the edge ids.
        let node_pass = || {
            let mut duplicate_keys = Vec::new();
            let mut mismatched = Vec::new();
            let mut minimal = Vec::new();
            for (i, node) in self.nodes.iter().enumerate() {
                if self.node_position(node.key()) != Some(i)
                    && !duplicate_keys.contains(&node.key())
                {
                    duplicate_keys.push(node.key());
                }
                if node.key.is_some() {
                    mismatched.push(format!("{:?} has id {:?}", node.key(), node.id()));
                }
                if node.is_minimal() {
                    minimal.push(node.key());
                }
            }
            let mut dangling = Vec::new();
            for edge in &self.edges {
                let missing: Vec<&str> = [edge.from(), edge.to()]
                    .into_iter()
                    .filter(|id| self.node_position(id).is_none())
                    .collect();
                if !missing.is_empty() {
                    dangling.push(format!("{} -> {}", edge.id(), missing.join(", ")));
                }
            }
            (duplicate_keys, mismatched, minimal, dangling)
        };
        let edge_pass = || {
            // Positions of the first edge with each id, found by the id's
            // text: a quarter of the memory of a set of `&str`.
            let id_of = |j: &u32| self.edges[*j as usize].id();
            let mut seen_edges: HashTable<u32> = HashTable::with_capacity(self.edges.len());
            let mut duplicate_edges = Vec::new();
            let mut bad_strength = Vec::new();
            for (i, edge) in self.edges.iter().enumerate() {
                let id = edge.id();
                match seen_edges.entry(
                    self.lookup.key(id),
                    |j| id_of(j) == id,
                    |j| self.lookup.key(id_of(j)),
                ) {
                    hash_table::Entry::Occupied(_) => {
                        if !duplicate_edges.contains(&id) {
                            duplicate_edges.push(id);
                        }
                    }
                    hash_table::Entry::Vacant(slot) => {
                        slot.insert(offset(i));
                    }
                }
                // `null` is what the application writes for an edge it gave no
                // strength: a warning (below), not a fault.
                if edge
                    .strength_json()
                    .is_some_and(|text| text.trim() != "null")
                    && edge.strength().is_none()
                {
                    bad_strength.push(edge.id());
                }
            }
            let mut dangling_connections = Vec::new();
            for node in &self.nodes {
                for (list, direction) in
                    [(&node.connections_in, "in"), (&node.connections_out, "out")]
                {
                    let known = |id: &&str| {
                        seen_edges
                            .find(self.lookup.key(id), |j| id_of(j) == *id)
                            .is_some()
                    };
                    for id in list.iter().filter(|id| !known(id)) {
                        dangling_connections.push(format!("{}: {direction} {id}", node.key()));
                    }
                }
            }
            (duplicate_edges, bad_strength, dangling_connections)
        };
        let (
            (duplicate_keys, mismatched, minimal, dangling),
            (duplicate_edges, bad_strength, dangling_connections),
        ) = if self.edges.len() < PARALLEL_CHECK_MIN_EDGES {
            (node_pass(), edge_pass())
        } else {
            std::thread::scope(|s| {
                let nodes = s.spawn(node_pass);
                let edges = edge_pass();
                let nodes = nodes
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                (nodes, edges)
            })
        };

        let mut report = Consistency::default();
        push_listed(
            &mut report.problems,
            ["duplicate node key", "duplicate node keys"],
            &duplicate_keys,
        );
        push_listed(
            &mut report.problems,
            [
                "node whose id differs from its key",
                "nodes whose id differs from their key",
            ],
            &mismatched,
        );
        push_listed(
            &mut report.problems,
            ["duplicate edge id", "duplicate edge ids"],
            &duplicate_edges,
        );
        push_listed(
            &mut report.problems,
            [
                "dangling edge (endpoint is not a node)",
                "dangling edges (endpoint is not a node)",
            ],
            &dangling,
        );
        push_listed(
            &mut report.problems,
            [
                "edge whose strength is not a number",
                "edges whose strength is not a number",
            ],
            &bad_strength,
        );
        push_listed(
            &mut report.warnings,
            [
                "connection id that names no edge",
                "connection ids that name no edge",
            ],
            &dangling_connections,
        );
        push_listed(
            &mut report.warnings,
            [
                "node with nothing but an id",
                "nodes with nothing but an id",
            ],
            &minimal,
        );
        let missing_strength: Vec<&str> = self
            .edges
            .iter()
            .filter(|e| e.strength_json().is_none_or(|text| text.trim() == "null"))
            .map(Edge::id)
            .collect();
        push_listed(
            &mut report.warnings,
            [
                "edge without a strength (absent or null)",
                "edges without a strength (absent or null)",
            ],
            &missing_strength,
        );
        report
    }

    // -----------------------------------------------------------------------------------------
    // Writing

    /// The graph as the application would write it, unchanged: for a graph read from a file
    /// the application wrote, the same bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.size_estimate());
        // Writing into memory cannot fail.
        let _ = self.write_into(&mut out, None, &mut |_| Ok(()));
        out
    }

    /// Writes the graph as the application would. With `stamp`, the top-level `metadata`
    /// is updated as the application does on every save: `last_saved` replaced, `stats`
    /// recomputed, `"backend": "networkx"` added for version 2 when absent; other keys keep
    /// their place, added keys go at the end. Without `stamp` the graph is written unchanged.
    ///
    /// Output is buffered internally; `w` receives writes of about a megabyte.
    ///
    /// # Errors
    ///
    /// Whatever `w` reports.
    pub fn write_json<W: io::Write>(&self, mut w: W, stamp: Option<&SaveStamp>) -> io::Result<()> {
        let metadata = stamp.map(|s| self.stamped_metadata(s));
        let mut buf = Vec::with_capacity(WRITE_CHUNK + WRITE_CHUNK / 4);
        self.write_into(&mut buf, metadata.as_deref(), &mut |b: &mut Vec<u8>| {
            if b.len() >= WRITE_CHUNK {
                w.write_all(b)?;
                b.clear();
            }
            Ok(())
        })?;
        w.write_all(&buf)?;
        w.flush()
    }

    /// About the length of the written file, a little over rather than under, so that
    /// `to_vec` rarely reallocates.
    fn size_estimate(&self) -> usize {
        // Per-field overhead: key, quotes, indentation, separators (at most ~32 bytes).
        let nodes: usize = self
            .nodes
            .iter()
            .map(|n| {
                let lists = n.connections_in.text.len()
                    + n.connections_out.text.len()
                    + 14 * (n.connections_in.len() + n.connections_out.len());
                let extras: usize = n
                    .extras
                    .iter()
                    .map(|e| e.key.len() + e.value.len() + 16)
                    .sum();
                n.fields.text.len() + n.key().len() + lists + extras + 32 * 9
            })
            .sum();
        let edges: usize = self
            .edges
            .iter()
            .map(|e| {
                let extras: usize = e
                    .extras
                    .iter()
                    .map(|x| x.key.len() + x.value.len() + 16)
                    .sum();
                e.fields.text.len() + extras + 32 * 9
            })
            .sum();
        let top: usize = [&self.patterns, &self.forecasts, &self.metadata]
            .iter()
            .map(|t| t.as_deref().map_or(0, str::len))
            .sum();
        let estimate = nodes + edges + top + 256;
        estimate.max(self.source_len + self.source_len / 64)
    }

    fn stamped_metadata(&self, stamp: &SaveStamp) -> String {
        let stats = pyjson::to_python_json(&self.stats(), 2).unwrap_or_else(|_| "{}".to_owned());
        let last_saved = pyjson::str_literal(&stamp.last_saved);
        let existing = self.metadata.as_deref().unwrap_or("{}");
        let entries = pyjson::object_entries(existing)
            .ok()
            .flatten()
            .unwrap_or_default();
        let mut out: Vec<(&str, &str)> = Vec::with_capacity(entries.len() + 3);
        let (mut saw_saved, mut saw_backend, mut saw_stats) = (false, false, false);
        for (key, range) in &entries {
            let value = match key.as_str() {
                "last_saved" => {
                    saw_saved = true;
                    last_saved.as_str()
                }
                "stats" => {
                    saw_stats = true;
                    stats.as_str()
                }
                other => {
                    saw_backend |= other == "backend";
                    existing.get(range.clone()).unwrap_or("null")
                }
            };
            out.push((key, value));
        }
        if !saw_saved {
            out.push(("last_saved", &last_saved));
        }
        if !saw_backend && self.version() >= 2 {
            out.push(("backend", "\"networkx\""));
        }
        if !saw_stats {
            out.push(("stats", &stats));
        }
        let mut text = String::from("{");
        for (i, (key, value)) in out.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            pyjson::push_newline_indent(&mut text, 2);
            pyjson::push_str_literal(&mut text, key);
            text.push_str(": ");
            text.push_str(value);
        }
        pyjson::push_newline_indent(&mut text, 1);
        text.push('}');
        text
    }

    fn write_into(
        &self,
        out: &mut Vec<u8>,
        metadata: Option<&str>,
        flush: &mut dyn FnMut(&mut Vec<u8>) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut open = Open::new(out, b'{');
        for slot in self.layout.slots() {
            match slot.resolve() {
                SlotRef::Field(f) => {
                    open.item(1);
                    out_key(open.out, TOP_FIELDS.get(f).copied().unwrap_or("?"));
                    match f {
                        T_VERSION => {
                            let v = self.version.unwrap_or(1).to_string();
                            open.out.extend_from_slice(v.as_bytes());
                        }
                        T_NODES => self.write_nodes(open.out, flush)?,
                        T_EDGES => self.write_edges(open.out, flush)?,
                        T_PATTERNS => push_opt(open.out, self.patterns.as_deref()),
                        T_FORECASTS => push_opt(open.out, self.forecasts.as_deref()),
                        _ => push_opt(open.out, metadata.or(self.metadata.as_deref())),
                    }
                }
                SlotRef::Extra(i) => {
                    if let Some(extra) = self.extras.get(i) {
                        open.item(1);
                        write_extra(open.out, extra);
                    }
                }
            }
        }
        if let Some(metadata) = metadata
            && !self.layout.has_field(T_METADATA)
        {
            open.item(1);
            out_key(open.out, "metadata");
            open.out.extend_from_slice(metadata.as_bytes());
        }
        open.close(0, b'}');
        Ok(())
    }

    fn write_nodes(
        &self,
        out: &mut Vec<u8>,
        flush: &mut dyn FnMut(&mut Vec<u8>) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut open = Open::new(out, b'{');
        for node in &self.nodes {
            open.item(2);
            pyjson::push_str_literal(open.out, node.key());
            open.out.extend_from_slice(b": ");
            write_node(open.out, node);
            flush(open.out)?;
        }
        open.close(1, b'}');
        Ok(())
    }

    fn write_edges(
        &self,
        out: &mut Vec<u8>,
        flush: &mut dyn FnMut(&mut Vec<u8>) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut open = Open::new(out, b'[');
        for edge in &self.edges {
            open.item(2);
            write_edge(open.out, edge);
            flush(open.out)?;
        }
        open.close(1, b']');
        Ok(())
    }
}

/// Writes a container's items Python's way: `{}` when empty, else each item on its own
/// line and the closing bracket on a line at the container's depth.
struct Open<'a> {
    out: &'a mut Vec<u8>,
    any: bool,
}

impl<'a> Open<'a> {
    fn new(out: &'a mut Vec<u8>, bracket: u8) -> Self {
        out.push(bracket);
        Open { out, any: false }
    }

    fn item(&mut self, depth: usize) {
        if self.any {
            self.out.push(b',');
        }
        self.any = true;
        pyjson::push_newline_indent(self.out, depth);
    }

    fn close(self, depth: usize, bracket: u8) {
        if self.any {
            pyjson::push_newline_indent(self.out, depth);
        }
        self.out.push(bracket);
    }
}

fn out_key(out: &mut Vec<u8>, name: &str) {
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\": ");
}

fn push_opt(out: &mut Vec<u8>, text: Option<&str>) {
    out.extend_from_slice(text.unwrap_or("null").as_bytes());
}

fn write_extra(out: &mut Vec<u8>, extra: &Extra) {
    pyjson::push_str_literal(out, &extra.key);
    out.extend_from_slice(b": ");
    out.extend_from_slice(extra.value.as_bytes());
}

fn write_connections(out: &mut Vec<u8>, list: &Connections) {
    let mut open = Open::new(out, b'[');
    for id in list.iter() {
        open.item(FIELD_DEPTH + 1);
        pyjson::push_str_literal(open.out, id);
    }
    open.close(FIELD_DEPTH, b']');
}

fn write_node(out: &mut Vec<u8>, node: &Node) {
    let mut open = Open::new(out, b'{');
    for slot in node.layout.slots() {
        match slot.resolve() {
            SlotRef::Field(f) if f < NODE_KEYS.len() => {
                open.item(FIELD_DEPTH);
                open.out.extend_from_slice(NODE_KEYS[f].as_bytes());
                match f {
                    N_ID => pyjson::push_str_literal(open.out, node.id()),
                    N_TYPE if node.type_null => open.out.extend_from_slice(b"null"),
                    N_TYPE => pyjson::push_str_literal(open.out, node.fields.get(N_TYPE)),
                    N_CONN_IN => write_connections(open.out, &node.connections_in),
                    N_CONN_OUT => write_connections(open.out, &node.connections_out),
                    _ => open.out.extend_from_slice(node.fields.get(f).as_bytes()),
                }
            }
            SlotRef::Field(_) => {}
            SlotRef::Extra(i) => {
                if let Some(extra) = node.extras.get(i) {
                    open.item(FIELD_DEPTH);
                    write_extra(open.out, extra);
                }
            }
        }
    }
    open.close(FIELD_DEPTH - 1, b'}');
}

fn write_edge(out: &mut Vec<u8>, edge: &Edge) {
    let mut open = Open::new(out, b'{');
    for slot in edge.layout.slots() {
        match slot.resolve() {
            SlotRef::Field(f) if f < EDGE_KEYS.len() => {
                open.item(FIELD_DEPTH);
                open.out.extend_from_slice(EDGE_KEYS[f].as_bytes());
                match f {
                    E_ID | E_FROM | E_TO => pyjson::push_str_literal(open.out, edge.fields.get(f)),
                    E_TYPE if edge.type_null => open.out.extend_from_slice(b"null"),
                    E_TYPE => pyjson::push_str_literal(open.out, edge.fields.get(E_TYPE)),
                    _ => open.out.extend_from_slice(edge.fields.get(f).as_bytes()),
                }
            }
            SlotRef::Field(_) => {}
            SlotRef::Extra(i) => {
                if let Some(extra) = edge.extras.get(i) {
                    open.item(FIELD_DEPTH);
                    write_extra(open.out, extra);
                }
            }
        }
    }
    open.close(FIELD_DEPTH - 1, b'}');
}

/// At most this many ids are named in one consistency message.
pub const MAX_LISTED: usize = 20;

/// Below this many edges the consistency check is a few milliseconds: not worth a thread.
const PARALLEL_CHECK_MIN_EDGES: usize = 20_000;

/// `what` is the singular and the plural: "1 dangling edge", "2 dangling edges".
fn push_listed<T: fmt::Display>(messages: &mut Vec<String>, what: [&str; 2], items: &[T]) {
    if items.is_empty() {
        return;
    }
    let what = if items.len() == 1 { what[0] } else { what[1] };
    let mut message = format!("{} {what}: ", items.len());
    for (i, item) in items.iter().take(MAX_LISTED).enumerate() {
        if i > 0 {
            message.push_str(", ");
        }
        message.push_str(&item.to_string());
    }
    if items.len() > MAX_LISTED {
        message.push_str(&format!(" and {} more", items.len() - MAX_LISTED));
    }
    messages.push(message);
}

/// Compares two graphs by node key and edge id; a node or edge counts as changed when its
/// serialized text differs.
pub fn diff(old: &KnowledgeGraph, new: &KnowledgeGraph) -> GraphDiff {
    let mut report = GraphDiff {
        old_node_count: old.node_count(),
        new_node_count: new.node_count(),
        old_edge_count: old.edge_count(),
        new_edge_count: new.edge_count(),
        ..GraphDiff::default()
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for (i, node) in new.nodes.iter().enumerate() {
        // Only the node a key resolves to takes part, as in the application's dict.
        if new.node_position(node.key()) != Some(i) {
            continue;
        }
        match old.node(node.key()) {
            None => report.nodes_added.push(node.key().to_owned()),
            Some(before) => {
                a.clear();
                b.clear();
                write_node(&mut a, before);
                write_node(&mut b, node);
                if a != b {
                    report.nodes_changed.push(node.key().to_owned());
                }
            }
        }
    }
    for (i, node) in old.nodes.iter().enumerate() {
        if old.node_position(node.key()) == Some(i) && new.node(node.key()).is_none() {
            report.nodes_removed.push(node.key().to_owned());
        }
    }
    for (i, edge) in new.edges.iter().enumerate() {
        if new.edge_position(edge.id()) != Some(i) {
            continue;
        }
        match old.edge(edge.id()) {
            None => report.edges_added.push(edge.id().to_owned()),
            Some(before) => {
                a.clear();
                b.clear();
                write_edge(&mut a, before);
                write_edge(&mut b, edge);
                if a != b {
                    report.edges_changed.push(edge.id().to_owned());
                }
            }
        }
    }
    for (i, edge) in old.edges.iter().enumerate() {
        if old.edge_position(edge.id()) == Some(i) && new.edge(edge.id()).is_none() {
            report.edges_removed.push(edge.id().to_owned());
        }
    }
    report
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// A step of the path to where a shape error was found.
enum PathSeg {
    Key(String),
    Index(usize),
}

fn render_path(segments: &[PathSeg]) -> String {
    let mut path = String::from("$");
    // Segments are recorded while the error unwinds, innermost first.
    for segment in segments.iter().rev() {
        match segment {
            PathSeg::Key(key)
                if !key.is_empty()
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
            {
                path.push('.');
                path.push_str(key);
            }
            PathSeg::Key(key) => {
                path.push('[');
                pyjson::push_str_literal(&mut path, key);
                path.push(']');
            }
            PathSeg::Index(i) => path.push_str(&format!("[{i}]")),
        }
    }
    path
}

struct ParseFailure {
    error: GraphError,
    /// A syntax error that masking non-finite tokens might cure.
    retry: bool,
}

/// State shared by the visitors while one document is read.
struct ParseState<'m> {
    /// Address of the buffer being parsed: raw values borrowed from it give their offset.
    base: usize,
    /// Tokens masked in that buffer, put back into every raw text copied out of it.
    masked: &'m [NonFinite],
    scratch: String,
    list_text: String,
    list_ends: Vec<u32>,
    slots: Vec<Slot>,
    path: Vec<PathSeg>,
    lookup: Lookup,
    /// How many nodes and edges the file holds, as far as a scan for their
    /// keys can tell: the lists and the index are sized once from it, so
    /// that a parse never holds an outgrown copy beside the grown one.
    expected: Expected,
}

/// Counts of nodes and edges expected in a file, read off its bytes by a
/// scan for the keys every node (`"connections_in"`) and every edge
/// (`"from"`) of the application's format has. An estimate: a key inside
/// another value may count once too often, and a hand-written graph
/// without them counts none (its lists then grow as they go). Bounded by
/// the smallest size a node or an edge can take in the file.
#[derive(Clone, Copy, Default)]
struct Expected {
    nodes: usize,
    edges: usize,
}

impl Expected {
    fn scan(json: &[u8]) -> Expected {
        let bound = json.len() / 16;
        let count = |key: &str| {
            memchr::memmem::find_iter(json, key.as_bytes())
                .count()
                .min(bound)
        };
        Expected {
            nodes: count("\"connections_in\""),
            edges: count("\"from\""),
        }
    }
}

impl ParseState<'_> {
    fn push_raw(&mut self, raw: &str) {
        if self.masked.is_empty() {
            self.scratch.push_str(raw);
        } else {
            let offset = (raw.as_ptr() as usize).wrapping_sub(self.base);
            pyjson::push_unmasked(&mut self.scratch, raw, offset, self.masked);
        }
    }

    fn raw_text(&self, raw: &str) -> Box<str> {
        if self.masked.is_empty() {
            return raw.into();
        }
        let mut text = String::with_capacity(raw.len());
        let offset = (raw.as_ptr() as usize).wrapping_sub(self.base);
        pyjson::push_unmasked(&mut text, raw, offset, self.masked);
        text.into_boxed_str()
    }
}

fn parse_graph(json: &[u8], masked: &[NonFinite]) -> Result<KnowledgeGraph, ParseFailure> {
    let mut state = ParseState {
        base: json.as_ptr() as usize,
        masked,
        scratch: String::new(),
        list_text: String::new(),
        list_ends: Vec::new(),
        slots: Vec::new(),
        path: Vec::new(),
        lookup: Lookup::default(),
        expected: Expected::scan(json),
    };
    state.lookup.nodes.reserve(state.expected.nodes);
    let mut de = serde_json::Deserializer::from_slice(json);
    let result = TopSeed { st: &mut state }
        .deserialize(&mut de)
        .and_then(|top| de.end().map(|()| top));
    match result {
        Ok(top) => Ok(KnowledgeGraph {
            version: top.version,
            nodes: top.nodes,
            edges: top.edges,
            patterns: top.patterns,
            forecasts: top.forecasts,
            metadata: top.metadata,
            layout: top.layout,
            extras: top.extras,
            lookup: state.lookup,
            ids: IdRng::random(),
            source_len: json.len(),
        }),
        Err(err) => {
            let retry = pyjson::worth_masking(&err);
            let json_err = JsonError::from(&err);
            let error = match json_err.kind {
                pyjson::JsonErrorKind::Syntax => GraphError::Syntax {
                    line: json_err.line,
                    column: json_err.column,
                    message: json_err.message,
                },
                pyjson::JsonErrorKind::Data => GraphError::Shape {
                    path: render_path(&state.path),
                    message: json_err.message,
                    line: json_err.line,
                    column: json_err.column,
                },
            };
            Err(ParseFailure { error, retry })
        }
    }
}

/// A key of an object whose known keys are `names`.
enum Key {
    Known(usize),
    Unknown(Box<str>),
}

struct KeySeed(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(match self.0.iter().position(|name| *name == v) {
            Some(i) => Key::Known(i),
            None => Key::Unknown(v.into()),
        })
    }
}

/// Any key, owned.
struct OwnedKey;

impl<'de> DeserializeSeed<'de> for OwnedKey {
    type Value = Box<str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Box<str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for OwnedKey {
    type Value = Box<str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Box<str>, E> {
        Ok(v.into())
    }
}

/// Reports a number as "number": masked `NaN` reaches visitors as `0.0`, which must not
/// show up in a message about a file that says `NaN`.
fn number_unexpected<E: de::Error>(expected: &dyn de::Expected) -> E {
    E::invalid_type(Unexpected::Other("number"), expected)
}

/// Appends a string value to a buffer; `null` accepted when `nullable`.
struct StrInto<'a> {
    out: &'a mut String,
    nullable: bool,
}

impl<'de> DeserializeSeed<'de> for StrInto<'_> {
    /// True when the value was `null`.
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrInto<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.nullable {
            "a string or null"
        } else {
            "a string"
        })
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        self.out.push_str(v);
        Ok(false)
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        if self.nullable {
            Ok(true)
        } else {
            Err(E::invalid_type(Unexpected::Unit, &self))
        }
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<bool, E> {
        Err(number_unexpected(&self))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<bool, E> {
        Err(number_unexpected(&self))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
        Err(number_unexpected(&self))
    }
}

/// Reads a list of edge ids.
struct ListSeed<'a> {
    text: &'a mut String,
    ends: &'a mut Vec<u32>,
    path: &'a mut Vec<PathSeg>,
}

impl<'de> DeserializeSeed<'de> for ListSeed<'_> {
    type Value = Connections;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Connections, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ListSeed<'_> {
    type Value = Connections;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of edge ids")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Connections, A::Error> {
        self.text.clear();
        self.ends.clear();
        loop {
            let element = seq.next_element_seed(StrInto {
                out: self.text,
                nullable: false,
            });
            match element {
                Ok(Some(_)) => self.ends.push(offset(self.text.len())),
                Ok(None) => break,
                Err(e) => {
                    self.path.push(PathSeg::Index(self.ends.len()));
                    return Err(e);
                }
            }
        }
        // Copies sized exactly: the scratch buffers keep their capacity for the next list.
        Ok(Connections {
            text: self.text.as_str().to_owned(),
            ends: self.ends.clone(),
        })
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Connections, E> {
        Err(number_unexpected(&self))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Connections, E> {
        Err(number_unexpected(&self))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Connections, E> {
        Err(number_unexpected(&self))
    }
}

/// Reads the top-level `version`.
struct VersionSeed;

impl<'de> DeserializeSeed<'de> for VersionSeed {
    type Value = u32;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u32, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for VersionSeed {
    type Value = u32;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer version")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u32, E> {
        u32::try_from(v).map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u32, E> {
        u32::try_from(v).map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<u32, E> {
        Err(E::invalid_type(
            Unexpected::Other("non-integer number"),
            &self,
        ))
    }
}

struct TopParts {
    version: Option<u32>,
    nodes: Vec<Node>,
    edges: Vec<Edge>,
    patterns: Option<Box<str>>,
    forecasts: Option<Box<str>>,
    metadata: Option<Box<str>>,
    layout: Layout,
    extras: Vec<Extra>,
}

fn duplicate_key<E: de::Error>(name: &str) -> E {
    E::custom(format_args!("duplicate key `{name}`"))
}

fn too_many_keys<E: de::Error>() -> E {
    E::custom("too many keys in one object")
}

struct TopSeed<'s, 'm> {
    st: &'s mut ParseState<'m>,
}

impl<'de> DeserializeSeed<'de> for TopSeed<'_, '_> {
    type Value = TopParts;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<TopParts, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TopSeed<'_, '_> {
    type Value = TopParts;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a knowledge graph object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopParts, A::Error> {
        let st = self.st;
        let mut parts = TopParts {
            version: None,
            nodes: Vec::new(),
            edges: Vec::new(),
            patterns: None,
            forecasts: None,
            metadata: None,
            layout: Layout::Standard(&TOP_FULL),
            extras: Vec::new(),
        };
        let mut slots = Vec::with_capacity(6);
        let mut present = 0u8;
        while let Some(key) = map.next_key_seed(KeySeed(&TOP_FIELDS))? {
            match key {
                Key::Known(f) => {
                    if present & (1 << f) != 0 {
                        return Err(duplicate_key(TOP_FIELDS[f]));
                    }
                    present |= 1 << f;
                    slots.push(Slot::field(f));
                    let result = match f {
                        T_VERSION => map
                            .next_value_seed(VersionSeed)
                            .map(|v| parts.version = Some(v)),
                        T_NODES => map.next_value_seed(NodesSeed { st: &mut *st }).map(|n| {
                            parts.nodes = n;
                        }),
                        T_EDGES => map
                            .next_value_seed(EdgesSeed { st: &mut *st })
                            .map(|e| parts.edges = e),
                        _ => map.next_value::<&'de RawValue>().map(|raw| {
                            let text = Some(st.raw_text(raw.get()));
                            match f {
                                T_PATTERNS => parts.patterns = text,
                                T_FORECASTS => parts.forecasts = text,
                                _ => parts.metadata = text,
                            }
                        }),
                    };
                    if let Err(e) = result {
                        st.path.push(PathSeg::Key(TOP_FIELDS[f].to_owned()));
                        return Err(e);
                    }
                }
                Key::Unknown(name) => match map.next_value::<&'de RawValue>() {
                    Ok(raw) => {
                        slots.push(Slot::extra(parts.extras.len()).ok_or_else(too_many_keys)?);
                        parts.extras.push(Extra {
                            key: name,
                            value: st.raw_text(raw.get()),
                        });
                    }
                    Err(e) => {
                        st.path.push(PathSeg::Key(name.into()));
                        return Err(e);
                    }
                },
            }
        }
        parts.layout = Layout::of(&slots, &TOP_LAYOUTS);
        Ok(parts)
    }
}

struct NodesSeed<'s, 'm> {
    st: &'s mut ParseState<'m>,
}

impl<'de> DeserializeSeed<'de> for NodesSeed<'_, '_> {
    type Value = Vec<Node>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Node>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for NodesSeed<'_, '_> {
    type Value = Vec<Node>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of nodes keyed by id")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<Node>, A::Error> {
        let st = self.st;
        let mut nodes = Vec::with_capacity(st.expected.nodes);
        while let Some(key) = map.next_key_seed(OwnedKey)? {
            match map.next_value_seed(NodeSeed { st: &mut *st }) {
                Ok(mut node) => {
                    st.lookup.nodes.insert(st.lookup.key(&key), nodes.len());
                    if *key != *node.id() {
                        node.key = Some(key);
                    }
                    nodes.push(node);
                }
                Err(e) => {
                    st.path.push(PathSeg::Key(key.into()));
                    return Err(e);
                }
            }
        }
        Ok(nodes)
    }
}

struct NodeSeed<'s, 'm> {
    st: &'s mut ParseState<'m>,
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_, '_> {
    type Value = Node;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_, '_> {
    type Value = Node;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a node object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let st = self.st;
        st.scratch.clear();
        st.slots.clear();
        let mut spans = [(0usize, 0usize); 8];
        let mut present = 0u8;
        let mut type_null = false;
        let mut connections_in = Connections::default();
        let mut connections_out = Connections::default();
        let mut extras = Vec::new();
        while let Some(key) = map.next_key_seed(KeySeed(&NODE_FIELDS))? {
            match key {
                Key::Known(f) => {
                    if present & (1 << f) != 0 {
                        return Err(duplicate_key(NODE_FIELDS[f]));
                    }
                    let start = st.scratch.len();
                    let result = match f {
                        N_ID | N_TYPE => map
                            .next_value_seed(StrInto {
                                out: &mut st.scratch,
                                nullable: f == N_TYPE,
                            })
                            .map(|null| type_null |= null),
                        N_CONN_IN | N_CONN_OUT => map
                            .next_value_seed(ListSeed {
                                text: &mut st.list_text,
                                ends: &mut st.list_ends,
                                path: &mut st.path,
                            })
                            .map(|list| {
                                if f == N_CONN_IN {
                                    connections_in = list;
                                } else {
                                    connections_out = list;
                                }
                            }),
                        _ => map
                            .next_value::<&'de RawValue>()
                            .map(|raw| st.push_raw(raw.get())),
                    };
                    if let Err(e) = result {
                        st.path.push(PathSeg::Key(NODE_FIELDS[f].to_owned()));
                        return Err(e);
                    }
                    spans[f] = (start, st.scratch.len());
                    present |= 1 << f;
                    st.slots.push(Slot::field(f));
                }
                Key::Unknown(name) => match map.next_value::<&'de RawValue>() {
                    Ok(raw) => {
                        st.slots
                            .push(Slot::extra(extras.len()).ok_or_else(too_many_keys)?);
                        extras.push(Extra {
                            key: name,
                            value: st.raw_text(raw.get()),
                        });
                    }
                    Err(e) => {
                        st.path.push(PathSeg::Key(name.into()));
                        return Err(e);
                    }
                },
            }
        }
        if present & (1 << N_ID) == 0 {
            return Err(de::Error::custom("node has no `id`"));
        }
        Ok(Node {
            fields: Packed::gather(&st.scratch, &spans),
            key: None,
            connections_in,
            connections_out,
            present,
            type_null,
            layout: Layout::of(&st.slots, &NODE_LAYOUTS),
            extras: extras.into_boxed_slice(),
        })
    }
}

struct EdgesSeed<'s, 'm> {
    st: &'s mut ParseState<'m>,
}

impl<'de> DeserializeSeed<'de> for EdgesSeed<'_, '_> {
    type Value = Vec<Edge>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Edge>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EdgesSeed<'_, '_> {
    type Value = Vec<Edge>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of edges")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Edge>, A::Error> {
        let st = self.st;
        let mut edges = Vec::with_capacity(st.expected.edges);
        loop {
            match seq.next_element_seed(EdgeSeed { st: &mut *st }) {
                Ok(Some(edge)) => edges.push(edge),
                Ok(None) => break,
                Err(e) => {
                    st.path.push(PathSeg::Index(edges.len()));
                    return Err(e);
                }
            }
        }
        Ok(edges)
    }
}

struct EdgeSeed<'s, 'm> {
    st: &'s mut ParseState<'m>,
}

impl<'de> DeserializeSeed<'de> for EdgeSeed<'_, '_> {
    type Value = Edge;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Edge, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EdgeSeed<'_, '_> {
    type Value = Edge;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an edge object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Edge, A::Error> {
        let st = self.st;
        st.scratch.clear();
        st.slots.clear();
        let mut spans = [(0usize, 0usize); 8];
        let mut present = 0u8;
        let mut type_null = false;
        let mut extras = Vec::new();
        while let Some(key) = map.next_key_seed(KeySeed(&EDGE_FIELDS))? {
            match key {
                Key::Known(f) => {
                    if present & (1 << f) != 0 {
                        return Err(duplicate_key(EDGE_FIELDS[f]));
                    }
                    let start = st.scratch.len();
                    let result = match f {
                        E_ID | E_FROM | E_TO | E_TYPE => map
                            .next_value_seed(StrInto {
                                out: &mut st.scratch,
                                nullable: f == E_TYPE,
                            })
                            .map(|null| type_null |= null),
                        _ => map
                            .next_value::<&'de RawValue>()
                            .map(|raw| st.push_raw(raw.get())),
                    };
                    if let Err(e) = result {
                        st.path.push(PathSeg::Key(EDGE_FIELDS[f].to_owned()));
                        return Err(e);
                    }
                    spans[f] = (start, st.scratch.len());
                    present |= 1 << f;
                    st.slots.push(Slot::field(f));
                }
                Key::Unknown(name) => match map.next_value::<&'de RawValue>() {
                    Ok(raw) => {
                        st.slots
                            .push(Slot::extra(extras.len()).ok_or_else(too_many_keys)?);
                        extras.push(Extra {
                            key: name,
                            value: st.raw_text(raw.get()),
                        });
                    }
                    Err(e) => {
                        st.path.push(PathSeg::Key(name.into()));
                        return Err(e);
                    }
                },
            }
        }
        for f in [E_ID, E_FROM, E_TO] {
            if present & (1 << f) == 0 {
                return Err(de::Error::custom(format_args!(
                    "edge has no `{}`",
                    EDGE_FIELDS[f]
                )));
            }
        }
        Ok(Edge {
            fields: Packed::gather(&st.scratch, &spans),
            present,
            type_null,
            layout: Layout::of(&st.slots, &EDGE_LAYOUTS),
            extras: extras.into_boxed_slice(),
        })
    }
}

#[cfg(test)]
mod tests {
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
            "{}",
            "{\n  \"nodes\": {}\n}",
            "{\n  \"version\": 1,\n  \"extra\": null,\n  \"edges\": []\n}",
            // A null type, a node stored under another key, keys in an unusual order.
            "{\n  \"nodes\": {\n    \"a\": {\n      \"type\": null,\n      \"id\": \"b\"\n    }\n  },\n  \"edges\": [\n    {\n      \"to\": \"a\",\n      \"type\": null,\n      \"from\": \"a\",\n      \"id\": \"e\"\n    }\n  ]\n}",
            // Duplicate node keys are kept, not merged.
            "{\n  \"nodes\": {\n    \"a\": {\n      \"id\": \"a\"\n    },\n    \"a\": {\n      \"id\": \"a\",\n      \"type\": \"x\"\n    }\n  }\n}",
        ];
        for case in cases {
            let g = parse(case);
            assert_eq!(text(&g), case);
        }
        let g = parse(cases[4]);
        assert_eq!(g.node_count(), 2);
        assert_eq!(
            g.node("a").and_then(Node::kind),
            Some("x"),
            "the last one wins, as in Python"
        );
        let g = parse(cases[3]);
        assert_eq!(g.node("a").map(Node::id), Some("b"));
        assert_eq!(g.edges().next().and_then(Edge::relationship), None);
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
        let err =
            KnowledgeGraph::from_slice(b"{\"nodes\": [], \"edges\": [NaN]}").expect_err("shape");
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
        g.set_patterns_json(
            r#"{"transitive": [1, 2, 3], "cycle": [[1], [2]], "note": "x", "n": NaN}"#,
        )
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
}
