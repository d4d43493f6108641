//! The node index: for one graph file, each node id with a content hash and the byte
//! range of its object, and the same for the edges at it. A node's history across many
//! large backups then costs a few small reads per backup instead of a parse of each.
//!
//! # A cache, never a source of truth
//! Index files live in `.graphvault/node-index/<sha256>.idx`, named by the SHA-256 of
//! the graph file they describe, which was checked against the file's meta when the index
//! was built: a backup never changes, so an index cannot go stale. An index is used only
//! when its header names that checksum and the file's current size; the header, the
//! directory and every record carry a digest, and every range read from a graph file is
//! hashed again before its text is used. Anything that does not check out is ignored and
//! rebuilt; failing to write an index is logged and never an error. Index files are written
//! through [`fs::write_cache`] (a temp file renamed into place, with no fsync: a crash costs a
//! rebuild, never a wrong answer), and indexes of checksums no graph has any more are removed.
//!
//! # Format (little endian)
//! ```text
//! header    96 bytes: "GVNIDX03", data size u64, checksum [32], directory entries u64,
//!           records length u64, directory digest [16], header digest [16]
//! directory entries x (id hash u64, record offset u64), sorted by id hash
//! records   key, present u8, node hash [16], offset u64, length u64, edge count u32,
//!           edges x (id, direction u8, [other end], hash [16], offset u64, length u32),
//!           record digest [16]
//! ```
//! An edge's direction is 0 when it leaves the node (the other end is its `to`), 1 when
//! it arrives (the other end is its `from`), 2 for a loop (no other end is written): an
//! edge is written in full once per endpoint, so the ends that the record's key already
//! names are left out (a third of a large index).
//! ```text
//! ```
//! Strings are a u32 length and UTF-8 bytes; digests are the first 16 bytes of SHA-256.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::Store;
use super::digest::hex;
use super::fs::{self, EntryKind};
use crate::graph::skim::{Skimmed, skim_node};
use crate::graph::spans::scan_spans;

/// The directory of index files inside `.graphvault/`.
pub const INDEX_DIR: &str = "node-index";
/// 03: builds before it indexed JSON without a `nodes` object as a graph of no nodes;
/// their files are rebuilt, and such JSON is refused.
const MAGIC: &[u8; 8] = b"GVNIDX03";
const HEADER_LEN: usize = 96;
const DIR_ENTRY_LEN: usize = 16;
/// A node's span in a record: hash, offset u64, length u64.
const NODE_SPAN_LEN: usize = 16 + 8 + 8;
/// An edge's span in a record: hash, offset u64, length u32.
const EDGE_SPAN_LEN: usize = 16 + 8 + 4;
/// No real graph has this many nodes; a header claiming more is damaged.
const MAX_ENTRIES: u64 = 1 << 28;

type Digest16 = [u8; 16];

fn digest16(bytes: &[u8]) -> Digest16 {
    let full = Sha256::digest(bytes);
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

fn id_hash(key: &str) -> u64 {
    let full = Sha256::digest(key.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&full[..8]);
    u64::from_le_bytes(b)
}

/// Where an object's text is in the graph file, and its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanRef {
    pub hash: Digest16,
    pub offset: u64,
    pub len: u64,
}

/// An edge at the node, as indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedEdge {
    pub id: String,
    pub from: String,
    pub to: String,
    pub span: SpanRef,
}

/// Everything the index knows about one node id in one file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeRecord {
    pub key: String,
    /// The node's object; `None` when only edges name the id.
    pub node: Option<SpanRef>,
    pub edges: Vec<IndexedEdge>,
}

/// How an index was obtained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IndexOutcome {
    /// Read from the cache.
    Hit,
    /// Not cached yet: built from the graph file.
    Built,
    /// Cached but unusable (damaged, or not describing this file): rebuilt.
    Rebuilt { why: String },
    /// Not cached yet, and the file's content is one the memo records as a valid
    /// graph: read for this node alone, no index built.
    Skimmed,
}

/// What [`Store::index_missing`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IndexingReport {
    /// Graphs indexed by this call.
    pub built: usize,
    /// Graphs whose index was there already (or shares its content with one).
    pub already: usize,
    /// Graphs that could not be indexed, and why (a file that fails its checksum is
    /// the scrub's finding; here it is only not indexed).
    pub failed: Vec<(String, String)>,
    /// Graphs left unindexed because the call was asked to stop.
    #[serde(skip_serializing_if = "is_zero")]
    pub left: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Why a graph file could not be indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexFailure {
    /// The data file is not there.
    Missing,
    /// Its bytes do not hash to the checksum its meta records.
    ChecksumMismatch { expected: String, actual: String },
    /// Reading failed, or it is not a graph.
    Unreadable(String),
}

impl std::fmt::Display for IndexFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IndexFailure::Missing => f.write_str("data file is missing"),
            IndexFailure::ChecksumMismatch { expected, actual } => write!(
                f,
                "checksum mismatch (meta says {}, file hashes to {})",
                &expected[..expected.len().min(12)],
                &actual[..actual.len().min(12)]
            ),
            IndexFailure::Unreadable(why) => f.write_str(why),
        }
    }
}

enum Bytes {
    Memory(Vec<u8>),
    File(PathBuf),
}

/// An index opened for lookups.
pub struct NodeIndex {
    bytes: Bytes,
    /// The SHA-256 of the graph file it describes.
    pub checksum: String,
    directory: Vec<(u64, u64)>,
    records_start: u64,
    records_len: u64,
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let end = self.at.checked_add(n)?;
        let s = self.buf.get(self.at..end)?;
        self.at = end;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    }
    fn digest(&mut self) -> Option<Digest16> {
        self.take(16).and_then(|b| b.try_into().ok())
    }
    fn string(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        self.take(n)
            .and_then(|b| std::str::from_utf8(b).ok())
            .map(str::to_owned)
    }
    fn span(&mut self) -> Option<SpanRef> {
        Some(SpanRef {
            hash: self.digest()?,
            offset: self.u64()?,
            len: self.u64()?,
        })
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_span(out: &mut Vec<u8>, s: &SpanRef) {
    out.extend_from_slice(&s.hash);
    out.extend_from_slice(&s.offset.to_le_bytes());
    out.extend_from_slice(&s.len.to_le_bytes());
}

fn span_of(bytes: &[u8], range: std::ops::Range<usize>) -> SpanRef {
    SpanRef {
        hash: digest16(bytes.get(range.clone()).unwrap_or(&[])),
        offset: range.start as u64,
        len: range.len() as u64,
    }
}

/// An edge's direction at the node whose record holds it, as written in the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Out = 0,
    In = 1,
    Loop = 2,
}

/// Builds the index file of a graph file's `bytes` whose SHA-256 is `checksum`.
///
/// # Errors
/// The bytes are not a graph (the message says why).
pub fn build(bytes: &[u8], checksum: &str) -> Result<Vec<u8>, String> {
    let spans = scan_spans(bytes).map_err(|e| format!("not a valid graph: {e}"))?;
    // Records borrow their keys from the scan and name their edges by
    // position in it: an edge is held once, not copied to each endpoint.
    struct Building<'a> {
        key: &'a str,
        node: Option<SpanRef>,
        /// Each edge's position in the scan, with its direction at this node.
        edges: Vec<(u32, Direction)>,
    }
    let edge_spans: Vec<SpanRef> = spans
        .edges
        .iter()
        .map(|e| span_of(bytes, e.range.clone()))
        .collect();
    let mut records: Vec<Building> = Vec::with_capacity(spans.nodes.len());
    let mut position: HashMap<&str, usize> = HashMap::with_capacity(spans.nodes.len());
    for node in &spans.nodes {
        let span = span_of(bytes, node.range.clone());
        match position.get(node.key.as_str()) {
            // A repeated key: the last one is the node, as Python reads it.
            Some(&i) => records[i].node = Some(span),
            None => {
                position.insert(&node.key, records.len());
                records.push(Building {
                    key: &node.key,
                    node: Some(span),
                    edges: Vec::new(),
                });
            }
        }
    }
    for (j, edge) in spans.edges.iter().enumerate() {
        let ends: &[(&str, Direction)] = if edge.from == edge.to {
            &[(edge.from.as_str(), Direction::Loop)]
        } else {
            &[
                (edge.from.as_str(), Direction::Out),
                (edge.to.as_str(), Direction::In),
            ]
        };
        for &(end, direction) in ends {
            let i = match position.get(end) {
                Some(&i) => i,
                None => {
                    position.insert(end, records.len());
                    records.push(Building {
                        key: end,
                        node: None,
                        edges: Vec::new(),
                    });
                    records.len() - 1
                }
            };
            // Positions fit: a file under 4 GiB holds fewer edges.
            records[i].edges.push((j as u32, direction));
        }
    }
    drop(position);
    let mut keyed: Vec<(u64, Building)> =
        records.into_iter().map(|r| (id_hash(r.key), r)).collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.key.cmp(b.1.key)));

    // Sized exactly first, so that the index is written into one buffer that never
    // moves: at a third of the graph's size, copies and page faults would cost more
    // than the encoding.
    let str_len = |s: &str| 4 + s.len();
    let record_len = |r: &Building| -> usize {
        let edges: usize = r
            .edges
            .iter()
            .map(|&(j, direction)| {
                let e = &spans.edges[j as usize];
                let other = match direction {
                    Direction::Out => str_len(&e.to),
                    Direction::In => str_len(&e.from),
                    Direction::Loop => 0,
                };
                str_len(&e.id) + 1 + other + EDGE_SPAN_LEN
            })
            .sum();
        str_len(r.key) + 1 + NODE_SPAN_LEN + 4 + edges + 16
    };
    let dir_len = keyed.len() * DIR_ENTRY_LEN;
    let body_len: usize = keyed.iter().map(|(_, r)| record_len(r)).sum();
    let mut out = Vec::with_capacity(HEADER_LEN + dir_len + body_len);
    out.resize(HEADER_LEN + dir_len, 0);
    let body_start = out.len();
    for (k, (hash, r)) in keyed.iter().enumerate() {
        let start = out.len();
        let at = HEADER_LEN + k * DIR_ENTRY_LEN;
        out[at..at + 8].copy_from_slice(&hash.to_le_bytes());
        out[at + 8..at + 16].copy_from_slice(&((start - body_start) as u64).to_le_bytes());
        put_str(&mut out, r.key);
        let absent = SpanRef {
            hash: [0; 16],
            offset: 0,
            len: 0,
        };
        out.push(u8::from(r.node.is_some()));
        put_span(&mut out, r.node.as_ref().unwrap_or(&absent));
        out.extend_from_slice(&(r.edges.len() as u32).to_le_bytes());
        for &(j, direction) in &r.edges {
            let e = &spans.edges[j as usize];
            put_str(&mut out, &e.id);
            out.push(direction as u8);
            match direction {
                Direction::Out => put_str(&mut out, &e.to),
                Direction::In => put_str(&mut out, &e.from),
                Direction::Loop => {}
            }
            let span = &edge_spans[j as usize];
            out.extend_from_slice(&span.hash);
            out.extend_from_slice(&span.offset.to_le_bytes());
            let len = u32::try_from(span.len)
                .map_err(|_| format!("edge {} is larger than an index can say", e.id))?;
            out.extend_from_slice(&len.to_le_bytes());
        }
        let d = digest16(&out[start..]);
        out.extend_from_slice(&d);
    }
    debug_assert_eq!(out.len(), HEADER_LEN + dir_len + body_len);
    let mut checksum_bin = [0u8; 32];
    for (i, b) in checksum_bin.iter_mut().enumerate() {
        *b = checksum
            .get(i * 2..i * 2 + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0);
    }
    let dir_digest = digest16(&out[HEADER_LEN..body_start]);
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    header.extend_from_slice(&checksum_bin);
    header.extend_from_slice(&(keyed.len() as u64).to_le_bytes());
    header.extend_from_slice(&(body_len as u64).to_le_bytes());
    header.extend_from_slice(&dir_digest);
    let header_digest = digest16(&header);
    header.extend_from_slice(&header_digest);
    out[..HEADER_LEN].copy_from_slice(&header);
    Ok(out)
}

impl NodeIndex {
    /// Opens an index from its header and directory, checking both. `expected_size` is
    /// the graph file's size now.
    fn open(
        header: &[u8],
        directory: &[u8],
        bytes: Bytes,
        expected_checksum: &str,
        expected_size: u64,
    ) -> Result<NodeIndex, String> {
        let fields = parse_header(header)?;
        #[cfg(feature = "negative-controls")]
        let trusted = super::negative_controls::trust_node_index();
        #[cfg(not(feature = "negative-controls"))]
        let trusted = false;
        if fields.checksum != expected_checksum && !trusted {
            return Err("it describes other content".into());
        }
        if fields.data_size != expected_size && !trusted {
            return Err(format!(
                "it describes a file of {} bytes, the file has {expected_size}",
                fields.data_size
            ));
        }
        if directory.len() as u64 != fields.entries * DIR_ENTRY_LEN as u64
            || digest16(directory) != fields.dir_digest
        {
            return Err("its directory is damaged".into());
        }
        let mut r = Reader {
            buf: directory,
            at: 0,
        };
        let mut dir = Vec::with_capacity(fields.entries as usize);
        for _ in 0..fields.entries {
            let (Some(h), Some(o)) = (r.u64(), r.u64()) else {
                return Err("its directory is truncated".into());
            };
            dir.push((h, o));
        }
        Ok(NodeIndex {
            bytes,
            checksum: expected_checksum.to_owned(),
            directory: dir,
            records_start: (HEADER_LEN + directory.len()) as u64,
            records_len: fields.records_len,
        })
    }

    /// Opens a freshly built index held in memory.
    ///
    /// # Errors
    /// Only if `built` is not what [`build`] makes.
    pub fn from_built(built: Vec<u8>, checksum: &str, size: u64) -> Result<NodeIndex, String> {
        let header = built.get(..HEADER_LEN).ok_or("too short")?.to_vec();
        let fields = parse_header(&header)?;
        let dir_end = HEADER_LEN + (fields.entries as usize) * DIR_ENTRY_LEN;
        let directory = built.get(HEADER_LEN..dir_end).ok_or("too short")?.to_vec();
        NodeIndex::open(&header, &directory, Bytes::Memory(built), checksum, size)
    }

    /// Number of node ids indexed.
    pub fn len(&self) -> usize {
        self.directory.len()
    }

    /// True when the graph has no node and no edge.
    pub fn is_empty(&self) -> bool {
        self.directory.is_empty()
    }

    fn record_bytes(&self, fs: &dyn fs::Fs, i: usize) -> Result<Vec<u8>, String> {
        let start = self.directory[i].1;
        let end = self
            .directory
            .get(i + 1)
            .map_or(self.records_len, |next| next.1);
        if end < start || end > self.records_len {
            return Err("its directory points outside the records".into());
        }
        let len = (end - start) as usize;
        match &self.bytes {
            Bytes::Memory(b) => {
                let from = (self.records_start + start) as usize;
                b.get(from..from + len)
                    .map(<[u8]>::to_vec)
                    .ok_or_else(|| "a record is truncated".to_string())
            }
            Bytes::File(path) => fs
                .read_at(path, self.records_start + start, len, u64::MAX)
                .map_err(|e| format!("reading a record: {e}")),
        }
    }

    /// What the index knows about `key`: `Ok(None)` when the file has neither a node nor
    /// an edge with that id.
    ///
    /// # Errors
    /// The index is damaged (the caller rebuilds it).
    pub fn record(&self, fs: &dyn fs::Fs, key: &str) -> Result<Option<NodeRecord>, String> {
        let h = id_hash(key);
        let first = self.directory.partition_point(|(x, _)| *x < h);
        for i in first..self.directory.len() {
            if self.directory[i].0 != h {
                break;
            }
            let bytes = self.record_bytes(fs, i)?;
            let record = decode_record(&bytes)?;
            if record.key == key {
                return Ok(Some(record));
            }
        }
        Ok(None)
    }
}

struct HeaderFields {
    data_size: u64,
    checksum: String,
    entries: u64,
    records_len: u64,
    dir_digest: Digest16,
}

fn parse_header(header: &[u8]) -> Result<HeaderFields, String> {
    if header.len() != HEADER_LEN || &header[..8] != MAGIC {
        return Err("it is not a node index of this version".into());
    }
    if digest16(&header[..HEADER_LEN - 16]) != header[HEADER_LEN - 16..] {
        return Err("its header is damaged".into());
    }
    let mut r = Reader { buf: header, at: 8 };
    let data_size = r.u64().unwrap_or(0);
    let checksum = hex(r.take(32).unwrap_or(&[]));
    let entries = r.u64().unwrap_or(0);
    let records_len = r.u64().unwrap_or(0);
    let dir_digest = r.digest().unwrap_or([0; 16]);
    if entries > MAX_ENTRIES {
        return Err("its header claims too many entries".into());
    }
    Ok(HeaderFields {
        data_size,
        checksum,
        entries,
        records_len,
        dir_digest,
    })
}

fn decode_record(bytes: &[u8]) -> Result<NodeRecord, String> {
    let damaged = || "a record is damaged".to_string();
    let body_len = bytes.len().checked_sub(16).ok_or_else(damaged)?;
    if digest16(&bytes[..body_len]) != bytes[body_len..] {
        return Err(damaged());
    }
    let mut r = Reader {
        buf: &bytes[..body_len],
        at: 0,
    };
    let key = r.string().ok_or_else(damaged)?;
    let present = r.u8().ok_or_else(damaged)? == 1;
    let span = r.span().ok_or_else(damaged)?;
    let n = r.u32().ok_or_else(damaged)?;
    let mut edges = Vec::new();
    for _ in 0..n {
        let id = r.string().ok_or_else(damaged)?;
        let (from, to) = match r.u8().ok_or_else(damaged)? {
            0 => (key.clone(), r.string().ok_or_else(damaged)?),
            1 => (r.string().ok_or_else(damaged)?, key.clone()),
            2 => (key.clone(), key.clone()),
            _ => return Err(damaged()),
        };
        let span = SpanRef {
            hash: r.digest().ok_or_else(damaged)?,
            offset: r.u64().ok_or_else(damaged)?,
            len: u64::from(r.u32().ok_or_else(damaged)?),
        };
        edges.push(IndexedEdge { id, from, to, span });
    }
    Ok(NodeRecord {
        key,
        node: present.then_some(span),
        edges,
    })
}

/// Reads the text of a span of a graph file and checks it against the index's hash.
///
/// # Errors
/// The range cannot be read, or its bytes are not those indexed.
pub fn read_span(fs: &dyn fs::Fs, data: &Path, span: &SpanRef) -> Result<String, String> {
    let len = usize::try_from(span.len).map_err(|_| "range too large".to_string())?;
    let bytes = super::codec::read_plain_range(fs, data, span.offset, len, super::MAX_GRAPH_LEN)
        .map_err(|e| format!("read {}: {e}", data.display()))?;
    if digest16(&bytes) != span.hash {
        return Err(format!(
            "{} changed since it was indexed (its bytes no longer match)",
            data.display()
        ));
    }
    String::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())
}

impl Store {
    /// `.graphvault/node-index/`.
    pub fn node_index_dir(&self) -> PathBuf {
        self.state_dir().join(INDEX_DIR)
    }

    fn node_index_path(&self, checksum: &str) -> PathBuf {
        self.node_index_dir().join(format!("{checksum}.idx"))
    }

    fn load_cached_index(&self, checksum: &str, size: u64) -> Result<NodeIndex, Option<String>> {
        let path = self.node_index_path(checksum);
        let header = match self.fs.read_at(&path, 0, HEADER_LEN, u64::MAX) {
            Ok(h) => h,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(None),
            Err(e) => return Err(Some(format!("cannot read it: {e}"))),
        };
        let fields = parse_header(&header).map_err(Some)?;
        let dir_len = usize::try_from(fields.entries)
            .ok()
            .and_then(|n| n.checked_mul(DIR_ENTRY_LEN))
            .ok_or_else(|| Some("its header claims too many entries".to_string()))?;
        let directory = self
            .fs
            .read_at(&path, HEADER_LEN as u64, dir_len, u64::MAX)
            .map_err(|e| Some(format!("its directory cannot be read: {e}")))?;
        NodeIndex::open(&header, &directory, Bytes::File(path), checksum, size).map_err(Some)
    }

    /// Whether a cached index's header (digest checked) names this checksum and size:
    /// enough to know it need not be built (its directory and records are checked
    /// when they are read, and rebuilt then if damaged).
    fn cached_index_names(&self, checksum: &str, size: u64) -> bool {
        self.fs
            .read_at(&self.node_index_path(checksum), 0, HEADER_LEN, u64::MAX)
            .ok()
            .and_then(|header| parse_header(&header).ok())
            .is_some_and(|h| h.checksum == checksum && h.data_size == size)
    }

    fn write_cached_index(&self, checksum: &str, built: &[u8]) {
        let dir = self.node_index_dir();
        // Only inside a store (a primary or backups/ there), and never through a
        // symlinked directory of ours.
        let is_store = [self.primary_path(), self.backups_dir()]
            .iter()
            .any(|p| self.fs.entry(p).is_ok());
        let usable = is_store
            && self.check_own_dir(&self.state_dir()).is_ok()
            && self.check_own_dir(&dir).is_ok();
        if !usable {
            return;
        }
        let result = self
            .fs
            .create_dir_all(&dir)
            .map_err(|e| super::StoreError::io("create directory", &dir, e))
            .and_then(|()| fs::write_cache(&*self.fs, &self.node_index_path(checksum), built));
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not cache a node index; it is rebuilt when needed");
        }
    }

    /// The size an index of `data` records: the plain size (a compressed file's is in
    /// its frame's header, which must agree with what its meta records, if anything).
    fn indexed_size(&self, data: &Path, recorded_size: Option<u64>) -> Result<u64, IndexFailure> {
        let size = match self.fs.entry(data) {
            Ok(e) if e.kind == EntryKind::File => e.len,
            Ok(_) => return Err(IndexFailure::Unreadable("not a regular file".into())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(IndexFailure::Missing);
            }
            Err(e) => return Err(IndexFailure::Unreadable(format!("cannot inspect: {e}"))),
        };
        match super::codec::StoredForm::of_path(data) {
            super::codec::StoredForm::Plain => Ok(size),
            super::codec::StoredForm::Zstd | super::codec::StoredForm::Delta => {
                let declared = super::codec::plain_len(&*self.fs, data, super::MAX_GRAPH_LEN)
                    .map_err(|e| IndexFailure::Unreadable(format!("cannot open: {e}")))?;
                // Damage, or a frame made to inflate: not decoded.
                match recorded_size {
                    Some(recorded) if recorded != declared => {
                        Err(IndexFailure::Unreadable(format!(
                            "its frame says it holds {declared} bytes, its meta {recorded}: not decoded"
                        )))
                    }
                    _ => Ok(declared),
                }
            }
        }
    }

    /// The cached index of the graph file `data`, whose meta records `expected` (when it
    /// has a meta), when a usable one is there; otherwise how a build
    /// would be reported (built, or rebuilt and why the cached one was not usable).
    pub(crate) fn cached_node_index(
        &self,
        data: &Path,
        expected: Option<&str>,
        recorded_size: Option<u64>,
    ) -> Result<Result<NodeIndex, IndexOutcome>, IndexFailure> {
        let size = self.indexed_size(data, recorded_size)?;
        // Without a meta there is no recorded checksum: the file's own hash names its
        // index (one hash, still no parse).
        let hashed = match expected {
            Some(_) => None,
            None => super::codec::hash_plain(&*self.fs, data, super::MAX_GRAPH_LEN)
                .ok()
                .map(|(h, _)| h),
        };
        let Some(checksum) = expected.or(hashed.as_deref()) else {
            return Ok(Err(IndexOutcome::Built));
        };
        match self.load_cached_index(checksum, size) {
            Ok(index) => Ok(Ok(index)),
            Err(None) => Ok(Err(IndexOutcome::Built)),
            Err(Some(why)) => {
                tracing::warn!(index = %self.node_index_path(checksum).display(), why = %why, "ignoring an unusable node index");
                Ok(Err(IndexOutcome::Rebuilt { why }))
            }
        }
    }

    /// What `data` holds for node `key`, for a caller that found no usable cached index.
    /// The file is read and hashed once. When the memo of verified content vouches for
    /// those bytes (they parsed as a graph), the node is found by a skim and no index is
    /// built; otherwise the index is built from the same bytes, cached, and asked.
    /// Returns the record, how it was obtained, and the file's checksum.
    pub(crate) fn node_record_unindexed(
        &self,
        data: &Path,
        expected: Option<&str>,
        recorded_size: Option<u64>,
        key: &str,
    ) -> Result<(Option<NodeRecord>, IndexOutcome, String), IndexFailure> {
        self.with_graph_bytes(data, recorded_size, |bytes| {
            let len = bytes.len() as u64;
            let vouches = |sum: &str| {
                let vouched = self.memo_lookup(sum, len).is_some();
                #[cfg(feature = "negative-controls")]
                let vouched = vouched || super::negative_controls::skim_unvouched();
                vouched
            };
            // With a meta, the bytes are the ones it names or refused, so whether the
            // memo vouches is known before the hash: content it does not vouch for is
            // indexed beside its hash at once, with no skim to throw away.
            let known = expected.map(vouches);
            if known == Some(false) {
                let (actual, built) = hash_beside(bytes, || build(bytes, ""));
                check_expected(expected, &actual)?;
                let indexed = self.cache_built_index(built, &actual, len, IndexOutcome::Built);
                return record_from(&*self.fs, indexed?, key, actual);
            }
            let (actual, skimmed) = hash_beside(bytes, || skim_node(bytes, key));
            check_expected(expected, &actual)?;
            if let (true, Some(found)) = (known.unwrap_or_else(|| vouches(&actual)), skimmed) {
                return Ok((record_of(bytes, key, found), IndexOutcome::Skimmed, actual));
            }
            let indexed = self.index_from_bytes(bytes, &actual, IndexOutcome::Built);
            record_from(&*self.fs, indexed?, key, actual)
        })
    }

    /// Reads `data` and checks that its bytes hash to `expected`, the checksum its meta
    /// records: for a graph whose meta names content another graph was just read for,
    /// before it takes that content's index.
    pub(crate) fn confirm_graph_bytes(
        &self,
        data: &Path,
        expected: Option<&str>,
        recorded_size: Option<u64>,
    ) -> Result<(), IndexFailure> {
        self.with_graph_bytes(data, recorded_size, |bytes| {
            check_expected(expected, &super::digest::sha256_hex(bytes))
        })
    }

    /// Builds (and caches) the index of `data`, ignoring any cached one.
    pub(crate) fn build_node_index(
        &self,
        data: &Path,
        expected: Option<&str>,
        recorded_size: Option<u64>,
        outcome: IndexOutcome,
    ) -> Result<(NodeIndex, IndexOutcome), IndexFailure> {
        self.with_graph_bytes(data, recorded_size, |bytes| {
            let (actual, built) = hash_beside(bytes, || build(bytes, ""));
            check_expected(expected, &actual)?;
            self.cache_built_index(built, &actual, bytes.len() as u64, outcome)
        })
    }

    /// Builds and caches the index of `bytes`, whose SHA-256 is `checksum`.
    fn index_from_bytes(
        &self,
        bytes: &[u8],
        checksum: &str,
        outcome: IndexOutcome,
    ) -> Result<(NodeIndex, IndexOutcome), IndexFailure> {
        self.cache_built_index(build(bytes, ""), checksum, bytes.len() as u64, outcome)
    }

    fn cache_built_index(
        &self,
        built: Result<Vec<u8>, String>,
        checksum: &str,
        size: u64,
        outcome: IndexOutcome,
    ) -> Result<(NodeIndex, IndexOutcome), IndexFailure> {
        let mut built = built.map_err(IndexFailure::Unreadable)?;
        // The checksum goes into the header once it is known.
        set_header_checksum(&mut built, checksum);
        self.write_cached_index(checksum, &built);
        let index =
            NodeIndex::from_built(built, checksum, size).map_err(IndexFailure::Unreadable)?;
        Ok((index, outcome))
    }

    /// Runs `f` on the plain bytes of the graph file `data` (a compressed file decoded up
    /// to the plain size its meta records), read into this thread's buffer.
    fn with_graph_bytes<T>(
        &self,
        data: &Path,
        recorded_size: Option<u64>,
        f: impl FnOnce(&[u8]) -> Result<T, IndexFailure>,
    ) -> Result<T, IndexFailure> {
        if let Some(reason) = self.sparse_reason(data) {
            return Err(IndexFailure::Unreadable(reason));
        }
        let limit = match super::codec::StoredForm::of_path(data) {
            super::codec::StoredForm::Plain => super::MAX_GRAPH_LEN,
            _ => recorded_size.map_or(super::MAX_GRAPH_LEN, |s| s.min(super::MAX_GRAPH_LEN)),
        };
        // Each thread keeps its read buffer from one file to the next (a history
        // reads many): its pages are faulted in once, not once per file.
        thread_local! {
            static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let read = |bytes: &mut Vec<u8>| -> Result<T, IndexFailure> {
            match super::codec::read_plain_into(&*self.fs, data, limit, bytes) {
                Ok(()) => f(bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(IndexFailure::Missing),
                Err(e) => Err(IndexFailure::Unreadable(format!("cannot read: {e}"))),
            }
        };
        BUFFER.with(|buffer| match buffer.try_borrow_mut() {
            Ok(mut bytes) => read(&mut bytes),
            Err(_) => read(&mut Vec::new()),
        })
    }

    /// Builds the node index of every graph (the primary and each backup) that has no
    /// usable one yet, on `threads` workers (0: one per core), so that a later `history`
    /// reads indexes instead of scanning files. Backups never change, so each is built
    /// once. Reads only, writes caches; needs no lock.
    ///
    /// # Errors
    /// Listing `backups/` failed.
    pub fn index_missing(&self, threads: usize) -> super::Result<IndexingReport> {
        self.index_missing_until(threads, &std::sync::atomic::AtomicBool::new(false))
    }

    /// [`Store::index_missing`], which starts no new graph once `stop` is set (the one
    /// being indexed is finished: an index is written whole or not at all).
    ///
    /// # Errors
    /// Listing `backups/` failed.
    pub fn index_missing_until(
        &self,
        threads: usize,
        stop: &std::sync::atomic::AtomicBool,
    ) -> super::Result<IndexingReport> {
        let sources: Vec<(String, PathBuf, Option<String>, Option<u64>)> = self
            .history_sources(&super::history::HistoryOptions::default())?
            .into_iter()
            .map(|s| (s.target.to_string(), s.data, s.checksum, s.plain_size))
            .collect();
        let mut report = IndexingReport::default();
        // Only what has no usable index is read; one build per content.
        let mut claimed: HashSet<String> = HashSet::new();
        let mut todo = Vec::new();
        for (name, data, checksum, plain_size) in sources {
            let size = match self.indexed_size(&data, plain_size) {
                Ok(size) => size,
                Err(IndexFailure::Missing) => continue,
                Err(why) => {
                    report.failed.push((name, why.to_string()));
                    continue;
                }
            };
            match &checksum {
                Some(sum) if self.cached_index_names(sum, size) => report.already += 1,
                Some(sum) if !claimed.insert(sum.clone()) => report.already += 1,
                _ => todo.push((name, data, checksum, plain_size)),
            }
        }
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        }
        .min(todo.len().max(1));
        let next = std::sync::atomic::AtomicUsize::new(0);
        let outcomes = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    loop {
                        if stop.load(std::sync::atomic::Ordering::Relaxed) {
                            break;
                        }
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((name, data, checksum, plain_size)) = todo.get(i) else {
                            break;
                        };
                        let result = self
                            .build_node_index(
                                data,
                                checksum.as_deref(),
                                *plain_size,
                                IndexOutcome::Built,
                            )
                            .map(|_| ());
                        if let Ok(mut all) = outcomes.lock() {
                            all.push((name.clone(), result));
                        }
                    }
                });
            }
        });
        let outcomes = outcomes.into_inner().unwrap_or_default();
        report.left = todo.len().saturating_sub(outcomes.len());
        for (name, result) in outcomes {
            match result {
                Ok(()) => report.built += 1,
                Err(why) => report.failed.push((name, why.to_string())),
            }
        }
        report.failed.sort();
        Ok(report)
    }

    /// Removes the cached indexes of checksums not in `keep` (graphs that are gone).
    pub(crate) fn prune_node_indexes(&self, keep: &HashSet<String>) {
        let dir = self.node_index_dir();
        let Ok(entries) = self.fs.read_dir(&dir) else {
            return;
        };
        let mut removed = false;
        for entry in entries {
            let Some(checksum) = entry.name.strip_suffix(".idx") else {
                continue;
            };
            if entry.kind == EntryKind::File
                && checksum.len() == 64
                && checksum.bytes().all(|b| b.is_ascii_hexdigit())
                && !keep.contains(checksum)
            {
                let path = dir.join(&entry.name);
                if self.fs.remove_file(&path).is_ok() {
                    removed = true;
                }
            }
        }
        if removed {
            let _ = self.fs.sync_dir(&dir);
        }
    }
}

/// The SHA-256 of `bytes`, computed on a second thread while `work` runs on this one:
/// the checksum and the scan of a graph are independent, one core each.
fn hash_beside<T>(bytes: &[u8], work: impl FnOnce() -> T) -> (String, T) {
    std::thread::scope(|s| {
        let hashing = s.spawn(|| super::digest::sha256_hex(bytes));
        let done = work();
        let actual = hashing
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (actual, done)
    })
}

/// `key`'s record in a just-built `index` of the file whose checksum is `actual`.
fn record_from(
    fs: &dyn fs::Fs,
    (index, outcome): (NodeIndex, IndexOutcome),
    key: &str,
    actual: String,
) -> Result<(Option<NodeRecord>, IndexOutcome, String), IndexFailure> {
    let record = index.record(fs, key).map_err(IndexFailure::Unreadable)?;
    Ok((record, outcome, actual))
}

/// Refuses bytes that do not hash to the checksum their meta records.
fn check_expected(expected: Option<&str>, actual: &str) -> Result<(), IndexFailure> {
    match expected {
        Some(expected) if expected != actual => Err(IndexFailure::ChecksumMismatch {
            expected: expected.to_owned(),
            actual: actual.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// The record a skim found, with each object's hash, as an index would give it (none
/// when the file has neither a node nor an edge with that id).
fn record_of(bytes: &[u8], key: &str, found: Skimmed) -> Option<NodeRecord> {
    if found.node.is_none() && found.edges.is_empty() {
        return None;
    }
    Some(NodeRecord {
        key: key.to_owned(),
        node: found.node.map(|r| span_of(bytes, r)),
        edges: found
            .edges
            .into_iter()
            .map(|e| IndexedEdge {
                span: span_of(bytes, e.range.clone()),
                id: e.id,
                from: e.from,
                to: e.to,
            })
            .collect(),
    })
}

/// Writes `checksum` into a built index's header and re-seals the header digest.
fn set_header_checksum(built: &mut [u8], checksum: &str) {
    if built.len() < HEADER_LEN {
        return;
    }
    for i in 0..32 {
        built[16 + i] = checksum
            .get(i * 2..i * 2 + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0);
    }
    let d = digest16(&built[..HEADER_LEN - 16]);
    built[HEADER_LEN - 16..HEADER_LEN].copy_from_slice(&d);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::KnowledgeGraph;
    use crate::store::fs::RealFs;

    fn sample() -> Vec<u8> {
        let mut g = KnowledgeGraph::new(2);
        g.seed_ids(9);
        for id in ["A", "B", "C"] {
            g.add_node_at("stock", &serde_json::json!({"p": 1}), Some(id), "t");
        }
        g.connect_at("A", "B", "peer", 0.5, "t").expect("edge");
        g.connect_at("B", "C", "peer", 0.5, "t").expect("edge");
        g.connect_at("C", "C", "self", 0.5, "t").expect("edge");
        g.to_vec()
    }

    #[test]
    fn records_find_nodes_and_their_edges() {
        let bytes = sample();
        let sum = crate::store::digest::sha256_hex(&bytes);
        let mut built = build(&bytes, "").expect("build");
        set_header_checksum(&mut built, &sum);
        let index = NodeIndex::from_built(built, &sum, bytes.len() as u64).expect("open");
        assert_eq!(index.len(), 3);
        let b = index.record(&RealFs, "B").expect("ok").expect("B");
        assert_eq!(b.edges.len(), 2);
        let node = b.node.expect("node");
        let text = &bytes[node.offset as usize..(node.offset + node.len) as usize];
        assert!(text.starts_with(b"{") && text.ends_with(b"}"));
        let c = index.record(&RealFs, "C").expect("ok").expect("C");
        assert_eq!(c.edges.len(), 2, "the self-loop once");
        assert!(index.record(&RealFs, "Z").expect("ok").is_none());
        assert!(NodeIndex::from_built(build(&bytes, "").expect("b"), &sum, 1).is_err());
    }

    #[test]
    fn damaged_records_are_detected() {
        let bytes = sample();
        let sum = crate::store::digest::sha256_hex(&bytes);
        let mut built = build(&bytes, "").expect("build");
        set_header_checksum(&mut built, &sum);
        let last = built.len() - 20;
        built[last] ^= 1;
        let index = NodeIndex::from_built(built, &sum, bytes.len() as u64).expect("header ok");
        let results: Vec<_> = ["A", "B", "C"]
            .iter()
            .map(|k| index.record(&RealFs, k))
            .collect();
        assert!(results.iter().any(Result::is_err), "{results:?}");
    }
}
