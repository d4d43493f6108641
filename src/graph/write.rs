//! Writing a graph as the application writes it (Python's `json.dump` with
//! `indent=2`), byte for byte for a graph read from the application's file.

use super::*;

impl KnowledgeGraph {
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
    pub(super) fn size_estimate(&self) -> usize {
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

    pub(super) fn stamped_metadata(&self, stamp: &SaveStamp) -> String {
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

pub(super) fn write_node(out: &mut Vec<u8>, node: &Node) {
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

pub(super) fn write_edge(out: &mut Vec<u8>, edge: &Edge) {
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
