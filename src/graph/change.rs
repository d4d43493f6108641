//! Field-level differences between two versions of one node or edge.
//!
//! Works on the JSON text of the objects as the file has it (a node's or an edge's text, a
//! node's `data`), so that it serves both a parsed [`KnowledgeGraph`](super::KnowledgeGraph)
//! and the byte spans the store's node index points at. Values are compared and reported as
//! compact JSON text, which keeps Python's bare `NaN` and `Infinity` exactly as written.

use serde::Serialize;

use super::pyjson::{self, JsonError};

/// What happened to one key of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldChangeKind {
    Added,
    Removed,
    Changed,
}

/// One key of an object whose value differs between two versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub key: String,
    pub change: FieldChangeKind,
    /// The older value as compact JSON text; `None` when the key was added.
    pub old: Option<String>,
    /// The newer value as compact JSON text; `None` when the key was removed.
    pub new: Option<String>,
}

/// How two versions of a node differ: the keys of its `data`, and its other fields
/// (`type`, `modified`, `connections_in`, `metadata`, unknown keys, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NodeChanges {
    pub data: Vec<FieldChange>,
    pub fields: Vec<FieldChange>,
}

impl NodeChanges {
    /// True when nothing differs.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty() && self.fields.is_empty()
    }

    /// True when something other than the connection lists differs: a change a person
    /// made to the node, not a side effect of an edge being added or removed.
    pub fn touches_content(&self) -> bool {
        !self.data.is_empty()
            || self
                .fields
                .iter()
                .any(|f| f.key != "connections_in" && f.key != "connections_out")
    }
}

/// `text` with the whitespace between tokens removed (strings are kept as they are).
pub fn compact_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_ascii_whitespace() {
            out.push(c);
        }
    }
    out
}

/// `compact` (see [`compact_json`]) with every string literal written one way: escapes
/// decoded and the string re-encoded with only what JSON requires escaped. `"\u00e9"` (as
/// the application and graphvault write it) and a hand-typed `"é"` are the same value,
/// and must not show as a change. A literal that does not decode (a lone surrogate) is
/// kept as written. Numbers keep their text: Python tells `1` from `1.0`.
fn canonical_strings(compact: &str) -> String {
    if !compact.contains('\\') {
        return compact.to_string();
    }
    let b = compact.as_bytes();
    let mut out = String::with_capacity(compact.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'"' {
            // Up to the next string (quotes and backslashes are ASCII: byte scans
            // never land inside a character).
            let next = memchr::memchr(b'"', &b[i..]).map_or(b.len(), |k| i + k);
            out.push_str(&compact[i..next]);
            i = next;
            continue;
        }
        let mut j = i + 1;
        while j < b.len() && b[j] != b'"' {
            j += if b[j] == b'\\' { 2 } else { 1 };
        }
        let end = (j + 1).min(b.len());
        let literal = &compact[i..end];
        match pyjson::string_value(literal) {
            Some(text) => {
                out.push_str(&serde_json::to_string(&*text).unwrap_or_else(|_| literal.into()))
            }
            None => out.push_str(literal),
        }
        i = end;
    }
    out
}

/// The entries of an object's text, the last one winning for a repeated key (as Python
/// reads it), in first-appearance order, with compact value texts. `None` when `text` is
/// JSON but not an object.
fn entries(text: &str) -> Result<Option<Vec<(String, String)>>, JsonError> {
    let Some(raw) = pyjson::object_entries(text)? else {
        return Ok(None);
    };
    let mut out: Vec<(String, String)> = Vec::with_capacity(raw.len());
    for (key, range) in raw {
        let value = canonical_strings(&compact_json(text.get(range).unwrap_or("")));
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => out.push((key, value)),
        }
    }
    Ok(Some(out))
}

fn diff_entries(old: &[(String, String)], new: &[(String, String)]) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    for (key, value) in new {
        match old.iter().find(|(k, _)| k == key) {
            None => changes.push(FieldChange {
                key: key.clone(),
                change: FieldChangeKind::Added,
                old: None,
                new: Some(value.clone()),
            }),
            Some((_, before)) if before != value => changes.push(FieldChange {
                key: key.clone(),
                change: FieldChangeKind::Changed,
                old: Some(before.clone()),
                new: Some(value.clone()),
            }),
            Some(_) => {}
        }
    }
    for (key, value) in old {
        if !new.iter().any(|(k, _)| k == key) {
            changes.push(FieldChange {
                key: key.clone(),
                change: FieldChangeKind::Removed,
                old: Some(value.clone()),
                new: None,
            });
        }
    }
    changes
}

/// The keys whose values differ between two JSON objects' texts: keys of `new` in its
/// order, then keys only in `old`. A value that is not an object on either side is
/// reported as one change under the key `""`.
///
/// # Errors
/// Either text is not valid (Python-flavoured) JSON.
pub fn object_changes(old: &str, new: &str) -> Result<Vec<FieldChange>, JsonError> {
    match (entries(old)?, entries(new)?) {
        (Some(a), Some(b)) => Ok(diff_entries(&a, &b)),
        _ => {
            let (a, b) = (
                canonical_strings(&compact_json(old)),
                canonical_strings(&compact_json(new)),
            );
            Ok(if a == b {
                Vec::new()
            } else {
                vec![FieldChange {
                    key: String::new(),
                    change: FieldChangeKind::Changed,
                    old: Some(a),
                    new: Some(b),
                }]
            })
        }
    }
}

/// How two versions of a node differ, from the texts of the node objects.
///
/// # Errors
/// Either text is not valid (Python-flavoured) JSON.
pub fn node_changes(old_node: &str, new_node: &str) -> Result<NodeChanges, JsonError> {
    let old = entries(old_node)?.unwrap_or_default();
    let new = entries(new_node)?.unwrap_or_default();
    let value = |list: &[(String, String)], key: &str| {
        list.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    };
    let mut changes = NodeChanges::default();
    match (value(&old, "data"), value(&new, "data")) {
        (Some(a), Some(b)) if a != b => changes.data = object_changes(&a, &b)?,
        (Some(a), None) => changes.data = object_changes(&a, "{}")?,
        (None, Some(b)) => changes.data = object_changes("{}", &b)?,
        _ => {}
    }
    let strip = |list: Vec<(String, String)>| -> Vec<(String, String)> {
        list.into_iter().filter(|(k, _)| k != "data").collect()
    };
    changes.fields = diff_entries(&strip(old), &strip(new));
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_string_escaped_two_ways_is_no_change() {
        // As the application writes it, and as a hand-edited file has it.
        let escaped = r#"{"data": {"name": "Soci\u00e9t\u00e9 G\u00e9n\u00e9rale", "tags": ["\u00e9", 1.0]}, "id": "caf\u00e9"}"#;
        let plain = r#"{"data": {"name": "Société Générale", "tags": ["é", 1.0]}, "id": "café"}"#;
        let c = node_changes(escaped, plain).expect("changes");
        assert!(c.is_empty(), "{c:?}");
        // A real difference is still one, shown with the strings decoded.
        let c = node_changes(escaped, &plain.replace("Générale", "Generale")).expect("changes");
        assert_eq!(c.data.len(), 1, "{c:?}");
        assert_eq!(c.data[0].old.as_deref(), Some(r#""Société Générale""#));
        // Numbers keep their text: 1.0 and 1 are not the same to Python.
        assert_eq!(
            object_changes(r#"{"a": 1.0}"#, r#"{"a": 1}"#)
                .expect("changes")
                .len(),
            1
        );
        // Escapes JSON requires survive, and a lone surrogate is kept as written.
        assert_eq!(
            canonical_strings(r#"["a\"b\\c\n","\ud800","\/"]"#),
            r#"["a\"b\\c\n","\ud800","/"]"#
        );
    }

    #[test]
    fn compact_keeps_strings_and_nan() {
        assert_eq!(
            compact_json("{\n  \"a b\": [1, NaN],\n  \"c\": \"x  y\"\n}"),
            "{\"a b\":[1,NaN],\"c\":\"x  y\"}"
        );
        assert_eq!(compact_json(r#""a\" b""#), r#""a\" b""#);
    }

    #[test]
    fn object_changes_names_each_key() {
        let old = r#"{"price": 1.5, "name": "A", "gone": true}"#;
        let new = r#"{"price": 2.5, "name": "A", "pe": NaN}"#;
        let c = object_changes(old, new).expect("valid");
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].key, "price");
        assert_eq!(c[0].change, FieldChangeKind::Changed);
        assert_eq!(
            (c[0].old.as_deref(), c[0].new.as_deref()),
            (Some("1.5"), Some("2.5"))
        );
        assert_eq!(
            (c[1].key.as_str(), c[1].change),
            ("pe", FieldChangeKind::Added)
        );
        assert_eq!(c[1].new.as_deref(), Some("NaN"));
        assert_eq!(
            (c[2].key.as_str(), c[2].change),
            ("gone", FieldChangeKind::Removed)
        );
        assert!(object_changes("[1]", "[1]").expect("valid").is_empty());
        assert_eq!(object_changes("1", "2").expect("valid").len(), 1);
        assert!(object_changes("{", "{}").is_err());
    }

    #[test]
    fn node_changes_split_data_from_fields() {
        let old = r#"{"id": "A", "data": {"p": 1}, "modified": "t1", "connections_out": []}"#;
        let new = r#"{"id": "A", "data": {"p": 2}, "modified": "t2", "connections_out": ["e"]}"#;
        let c = node_changes(old, new).expect("valid");
        assert_eq!(c.data.len(), 1);
        assert_eq!(c.data[0].key, "p");
        let keys: Vec<&str> = c.fields.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(keys, ["modified", "connections_out"]);
        assert!(c.touches_content());
        let only_edges = node_changes(
            r#"{"id": "A", "connections_out": []}"#,
            r#"{"id": "A", "connections_out": ["e"]}"#,
        )
        .expect("valid");
        assert!(!only_edges.is_empty() && !only_edges.touches_content());
    }
}
