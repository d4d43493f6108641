//! Reading `graph.json`: serde visitors over the raw text that keep every value
//! they do not type as its original text, with the path of a failure.

use super::*;

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

pub(super) struct ParseFailure {
    pub(super) error: GraphError,
    /// A syntax error that masking non-finite tokens might cure.
    pub(super) retry: bool,
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
        let mut counts = [0usize; 2];
        let keys = [b"\"connections_in\"".as_slice(), b"\"from\"".as_slice()];
        for (_, key) in pyjson::Occurrences::new(json, keys) {
            counts[key] += 1;
        }
        let bound = json.len() / 16;
        Expected {
            nodes: counts[0].min(bound),
            edges: counts[1].min(bound),
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

pub(super) fn parse_graph(
    json: &[u8],
    masked: &[NonFinite],
) -> Result<KnowledgeGraph, ParseFailure> {
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
    // Strings, and the raw text kept of free-form values, are borrowed from the input:
    // from a `&str` serde_json takes them as they are, from bytes it checks each one's
    // UTF-8 on its own (a tenth of a parse in a profile). One check of the whole file
    // costs less. A file that fails it is parsed from its bytes, which reports the first
    // bad sequence in a string where it is, as before.
    let result = match std::str::from_utf8(json) {
        Ok(text) => parse_top(&mut serde_json::Deserializer::from_str(text), &mut state),
        Err(_) => parse_top(&mut serde_json::Deserializer::from_slice(json), &mut state),
    };
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

/// The whole document: the top-level object, then nothing but whitespace.
fn parse_top<'de, R: serde_json::de::Read<'de>>(
    de: &mut serde_json::Deserializer<R>,
    st: &mut ParseState<'_>,
) -> serde_json::Result<TopParts> {
    TopSeed { st }
        .deserialize(&mut *de)
        .and_then(|top| de.end().map(|()| top))
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
        // The application writes `nodes` in every graph, even an empty one. JSON without
        // it (a config file, an error report, `{}`) is not a graph that holds no nodes:
        // taken as one, a save would replace the primary with it, and recovery and
        // retention would count it as a valid backup.
        if present & (1 << T_NODES) == 0 {
            return Err(de::Error::custom(super::NO_NODES));
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
            match map.next_value_seed(RecordSeed::<Node>::new(&mut *st)) {
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

/// How the object visitor reads one known field of a node or an edge.
enum ReadAs {
    /// A string, kept unescaped (`nullable`: `null` is allowed, the type).
    Str { nullable: bool },
    /// A list of connection ids, into list `0` or `1`.
    List(usize),
    /// Kept as its original text.
    Raw,
}

/// What one node or edge object held, for [`Record::build`].
struct Parts {
    fields: Packed,
    present: u8,
    type_null: bool,
    layout: Layout,
    extras: Box<[Extra]>,
    lists: [Connections; 2],
}

/// A node or an edge as the one object visitor ([`RecordSeed`]) reads it:
/// its known keys, how each is read, and what it must have.
trait Record: Sized {
    const FIELDS: &'static [&'static str; 8];
    /// What the visitor expects, for an error message.
    const WHAT: &'static str;
    /// The standard key orders.
    fn layouts() -> &'static [&'static [Slot]; 2];
    fn read_as(f: usize) -> ReadAs;
    /// The record, or what it lacks.
    fn build(parts: Parts) -> Result<Self, String>;
}

impl Record for Node {
    const FIELDS: &'static [&'static str; 8] = &NODE_FIELDS;
    const WHAT: &'static str = "a node object";
    fn layouts() -> &'static [&'static [Slot]; 2] {
        &NODE_LAYOUTS
    }
    fn read_as(f: usize) -> ReadAs {
        match f {
            N_ID | N_TYPE => ReadAs::Str {
                nullable: f == N_TYPE,
            },
            N_CONN_IN => ReadAs::List(0),
            N_CONN_OUT => ReadAs::List(1),
            _ => ReadAs::Raw,
        }
    }
    fn build(parts: Parts) -> Result<Node, String> {
        if parts.present & (1 << N_ID) == 0 {
            return Err("node has no `id`".to_owned());
        }
        let [connections_in, connections_out] = parts.lists;
        Ok(Node {
            fields: parts.fields,
            key: None,
            connections_in,
            connections_out,
            present: parts.present,
            type_null: parts.type_null,
            layout: parts.layout,
            extras: parts.extras,
        })
    }
}

impl Record for Edge {
    const FIELDS: &'static [&'static str; 8] = &EDGE_FIELDS;
    const WHAT: &'static str = "an edge object";
    fn layouts() -> &'static [&'static [Slot]; 2] {
        &EDGE_LAYOUTS
    }
    fn read_as(f: usize) -> ReadAs {
        match f {
            E_ID | E_FROM | E_TO | E_TYPE => ReadAs::Str {
                nullable: f == E_TYPE,
            },
            _ => ReadAs::Raw,
        }
    }
    fn build(parts: Parts) -> Result<Edge, String> {
        if let Some(f) = [E_ID, E_FROM, E_TO]
            .into_iter()
            .find(|&f| parts.present & (1 << f) == 0)
        {
            return Err(format!("edge has no `{}`", EDGE_FIELDS[f]));
        }
        Ok(Edge {
            fields: parts.fields,
            present: parts.present,
            type_null: parts.type_null,
            layout: parts.layout,
            extras: parts.extras,
        })
    }
}

/// The one visitor of node and edge objects: known keys into one packed
/// allocation, typed strings unescaped, connection lists, unknown keys
/// kept in place, and the key order when it is not the standard one.
struct RecordSeed<'s, 'm, R> {
    st: &'s mut ParseState<'m>,
    record: std::marker::PhantomData<R>,
}

impl<'s, 'm, R> RecordSeed<'s, 'm, R> {
    fn new(st: &'s mut ParseState<'m>) -> Self {
        RecordSeed {
            st,
            record: std::marker::PhantomData,
        }
    }
}

impl<'de, R: Record> DeserializeSeed<'de> for RecordSeed<'_, '_, R> {
    type Value = R;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<R, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, R: Record> Visitor<'de> for RecordSeed<'_, '_, R> {
    type Value = R;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(R::WHAT)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<R, A::Error> {
        let st = self.st;
        st.scratch.clear();
        st.slots.clear();
        let mut spans = [(0usize, 0usize); 8];
        let mut present = 0u8;
        let mut type_null = false;
        let mut lists = [Connections::default(), Connections::default()];
        let mut extras = Vec::new();
        while let Some(key) = map.next_key_seed(KeySeed(R::FIELDS))? {
            match key {
                Key::Known(f) => {
                    if present & (1 << f) != 0 {
                        return Err(duplicate_key(R::FIELDS[f]));
                    }
                    let start = st.scratch.len();
                    let result = match R::read_as(f) {
                        ReadAs::Str { nullable } => map
                            .next_value_seed(StrInto {
                                out: &mut st.scratch,
                                nullable,
                            })
                            .map(|null| type_null |= null),
                        ReadAs::List(i) => map
                            .next_value_seed(ListSeed {
                                text: &mut st.list_text,
                                ends: &mut st.list_ends,
                                path: &mut st.path,
                            })
                            .map(|list| lists[i] = list),
                        ReadAs::Raw => map
                            .next_value::<&'de RawValue>()
                            .map(|raw| st.push_raw(raw.get())),
                    };
                    if let Err(e) = result {
                        st.path.push(PathSeg::Key(R::FIELDS[f].to_owned()));
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
        R::build(Parts {
            fields: Packed::gather(&st.scratch, &spans),
            present,
            type_null,
            layout: Layout::of(&st.slots, R::layouts()),
            extras: extras.into_boxed_slice(),
            lists,
        })
        .map_err(de::Error::custom)
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
            match seq.next_element_seed(RecordSeed::<Edge>::new(&mut *st)) {
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
