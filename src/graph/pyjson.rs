//! Python-compatible JSON text: what the application's `json.dump(obj, f, indent=2)` writes,
//! and how to read it back.
//!
//! Python's `json` module differs from strict JSON in ways that matter for byte-exact round
//! trips: every non-ASCII character is escaped as `\uXXXX` (`ensure_ascii`), floats are
//! written as `repr(float)` (`1e-05`, `1.5e+16`, `123456789.0`), and non-finite floats are
//! written as the bare tokens `NaN`, `Infinity` and `-Infinity`, which strict parsers reject.
//!
//! Writing: [`PyFormatter`] makes `serde_json` produce that exact text for any `Serialize`
//! value, at any nesting depth so the result can be spliced into a larger document;
//! [`relayout`] brings existing JSON text into the same layout.
//!
//! Reading: [`parse_lenient`] parses strictly first (no copy) and only when that fails on a
//! non-finite token masks those tokens with numbers of the same length and parses again.
//! Because the lengths do not change, every byte offset, and so every error's line and
//! column, is the same in the masked text as in the original, and a caller that keeps raw
//! slices (as [`crate::graph::KnowledgeGraph`] does) can copy the original text,
//! bare `NaN` included, from the same offsets. No sentinel ever reaches stored data, so
//! writing needs no fix-up pass.

use std::fmt::{self, Write as _};
use std::io;
use std::ops::Range;

use serde::Serialize;
use serde::de::{self, DeserializeOwned, Deserializer as _, IgnoredAny, MapAccess, Visitor};
use serde_json::ser::{CharEscape, Formatter};
use serde_json::value::RawValue;

/// A newline and spaces: indentation up to `MAX_SLICED_DEPTH` is one slice copy.
const NEWLINE_SPACES: &str = "\n                                                                ";
const MAX_SLICED_DEPTH: usize = (NEWLINE_SPACES.len() - 1) / 2;

/// Appends a newline and the indentation of nesting level `depth` (two spaces a level).
pub(crate) fn push_newline_indent(out: &mut impl TextSink, depth: usize) {
    if depth <= MAX_SLICED_DEPTH {
        out.push_text(&NEWLINE_SPACES[..1 + 2 * depth]);
        return;
    }
    out.push_text(NEWLINE_SPACES);
    for _ in MAX_SLICED_DEPTH..depth {
        out.push_text("  ");
    }
}

/// Something text can be appended to; lets one escaping routine serve both the graph
/// writer (bytes) and the builders of stored values (strings).
pub(crate) trait TextSink {
    fn push_text(&mut self, text: &str);
}

impl TextSink for String {
    fn push_text(&mut self, text: &str) {
        self.push_str(text);
    }
}

impl TextSink for Vec<u8> {
    fn push_text(&mut self, text: &str) {
        self.extend_from_slice(text.as_bytes());
    }
}

// ---------------------------------------------------------------------------------------------
// Floats

/// A fixed buffer for one formatted float, so formatting never allocates.
struct FloatBuf {
    bytes: [u8; 48],
    len: usize,
}

impl FloatBuf {
    fn new() -> Self {
        FloatBuf {
            bytes: [0; 48],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        // Only `fmt::Write::write_str` fills the buffer, with whole `&str`s.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl fmt::Write for FloatBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let slot = self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Appends `x` as Python's `repr(float)` writes it.
pub(crate) fn push_float(out: &mut impl TextSink, x: f64) {
    if x.is_nan() {
        out.push_text("NaN");
        return;
    }
    if x.is_infinite() {
        out.push_text(if x > 0.0 { "Infinity" } else { "-Infinity" });
        return;
    }
    // Rust's `{:e}` gives the shortest digits that round-trip, as Python does, but when two
    // such strings are equally near it may pick the other one; formatting again with exactly
    // that many digits rounds the exact value half-to-even, which is Python's choice.
    let mut shortest = FloatBuf::new();
    if write!(shortest, "{x:e}").is_err() {
        out.push_text("0.0");
        return;
    }
    let significant = shortest
        .as_str()
        .split('e')
        .next()
        .unwrap_or("")
        .bytes()
        .filter(u8::is_ascii_digit)
        .count()
        .max(1);
    let mut exact = FloatBuf::new();
    if write!(exact, "{:.*e}", significant - 1, x).is_err() {
        out.push_text("0.0");
        return;
    }
    let text = exact.as_str();
    let (mantissa, exponent) = text.split_once('e').unwrap_or((text, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, mantissa),
    };
    let mut digits = FloatBuf::new();
    for c in mantissa.chars().filter(char::is_ascii_digit) {
        let _ = digits.write_char(c);
    }
    let digits = digits.as_str();
    if negative {
        out.push_text("-");
    }
    if !(-4..16).contains(&exponent) {
        out.push_text(&digits[..1]);
        if digits.len() > 1 {
            out.push_text(".");
            out.push_text(&digits[1..]);
        }
        let mut exp = FloatBuf::new();
        let sign = if exponent < 0 { '-' } else { '+' };
        let _ = write!(exp, "e{sign}{:02}", exponent.unsigned_abs());
        out.push_text(exp.as_str());
    } else if exponent >= 0 {
        let int_len = usize::try_from(exponent).unwrap_or(0) + 1;
        if digits.len() <= int_len {
            out.push_text(digits);
            for _ in digits.len()..int_len {
                out.push_text("0");
            }
            out.push_text(".0");
        } else {
            out.push_text(&digits[..int_len]);
            out.push_text(".");
            out.push_text(&digits[int_len..]);
        }
    } else {
        out.push_text("0.");
        for _ in 1..exponent.unsigned_abs() {
            out.push_text("0");
        }
        out.push_text(digits);
    }
}

/// `x` as Python's `repr(float)` (and so `json.dumps`) writes it: `1.0`, `0.8`, `1e-05`,
/// `1.5e+16`, `123456789.0`, and the bare `NaN`, `Infinity`, `-Infinity`.
pub fn float_repr(x: f64) -> String {
    let mut out = String::new();
    push_float(&mut out, x);
    out
}

// ---------------------------------------------------------------------------------------------
// Strings

fn ascii_escape(b: u8) -> Option<&'static str> {
    Some(match b {
        b'"' => "\\\"",
        b'\\' => "\\\\",
        b'\n' => "\\n",
        b'\r' => "\\r",
        b'\t' => "\\t",
        0x08 => "\\b",
        0x0c => "\\f",
        _ => return None,
    })
}

fn push_u_escape(out: &mut impl TextSink, unit: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [b'\\', b'u', b'0', b'0', b'0', b'0'];
    for (i, slot) in buf[2..].iter_mut().enumerate() {
        let shift = 12 - 4 * i;
        *slot = HEX[((unit >> shift) & 0xf) as usize];
    }
    out.push_text(std::str::from_utf8(&buf).unwrap_or("\\ufffd"));
}

/// Appends the body of a string literal (no quotes) escaped as Python's `ensure_ascii`
/// encoder does: the short escapes, `\u00XX` for other control characters and DEL, and
/// `\uXXXX` (surrogate pairs above U+FFFF) for everything outside ASCII.
pub(crate) fn push_escaped(out: &mut impl TextSink, s: &str) {
    let bytes = s.as_bytes();
    let mut plain_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' {
            i += 1;
            continue;
        }
        out.push_text(&s[plain_start..i]);
        if b < 0x80 {
            match ascii_escape(b) {
                Some(esc) => out.push_text(esc),
                None => push_u_escape(out, u32::from(b)),
            }
            i += 1;
        } else {
            let c = s[i..].chars().next().unwrap_or('\u{fffd}');
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                push_u_escape(out, u32::from(*unit));
            }
            i += c.len_utf8();
        }
        plain_start = i;
    }
    out.push_text(&s[plain_start..]);
}

/// Appends `s` as a quoted, Python-escaped string literal.
pub(crate) fn push_str_literal(out: &mut impl TextSink, s: &str) {
    out.push_text("\"");
    push_escaped(out, s);
    out.push_text("\"");
}

/// `s` as Python's `json.dumps(s)` writes it, quotes included.
pub fn str_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_str_literal(&mut out, s);
    out
}

// ---------------------------------------------------------------------------------------------
// Writing values

/// A `serde_json` formatter that reproduces Python's `json.dump(obj, f, indent=2)` byte for
/// byte: two-space indentation, `": "` after keys, `{}`/`[]` for empty containers,
/// `ensure_ascii` escaping and `repr(float)` numbers.
///
/// `serde_json` turns non-finite floats into `null` before a formatter sees them; write such
/// values with [`float_repr`] or through [`relayout`].
#[derive(Debug, Clone, Default)]
pub struct PyFormatter {
    depth: usize,
    has_value: bool,
}

impl PyFormatter {
    /// A formatter for a top-level document.
    pub fn new() -> Self {
        Self::default()
    }

    /// A formatter for a value that will sit at nesting level `depth` of a larger document
    /// (the top-level object's values are at depth 1), so that its lines line up with the
    /// text around it.
    pub fn at_depth(depth: usize) -> Self {
        PyFormatter {
            depth,
            has_value: false,
        }
    }

    fn indent<W: ?Sized + io::Write>(&self, writer: &mut W) -> io::Result<()> {
        let mut text = String::new();
        push_newline_indent(&mut text, self.depth);
        writer.write_all(text.as_bytes())
    }
}

impl Formatter for PyFormatter {
    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        let mut buf = String::new();
        push_float(&mut buf, value);
        writer.write_all(buf.as_bytes())
    }

    fn write_f32<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        // Python only has doubles.
        self.write_f64(writer, f64::from(value))
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        if fragment.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return writer.write_all(fragment.as_bytes());
        }
        let mut buf = String::with_capacity(fragment.len() * 2);
        push_escaped(&mut buf, fragment);
        writer.write_all(buf.as_bytes())
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        char_escape: CharEscape,
    ) -> io::Result<()> {
        let byte = match char_escape {
            CharEscape::Quote => b'"',
            CharEscape::ReverseSolidus => b'\\',
            CharEscape::Solidus => b'/',
            CharEscape::Backspace => 0x08,
            CharEscape::FormFeed => 0x0c,
            CharEscape::LineFeed => b'\n',
            CharEscape::CarriageReturn => b'\r',
            CharEscape::Tab => b'\t',
            CharEscape::AsciiControl(b) => b,
        };
        let mut buf = String::new();
        match ascii_escape(byte) {
            Some(esc) => buf.push_str(esc),
            // Python never escapes '/'.
            None if byte == b'/' => buf.push('/'),
            None => push_u_escape(&mut buf, u32::from(byte)),
        }
        writer.write_all(buf.as_bytes())
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        writer.write_all(b"[")
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.depth = self.depth.saturating_sub(1);
        if self.has_value {
            self.indent(writer)?;
        }
        writer.write_all(b"]")
    }

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if !first {
            writer.write_all(b",")?;
        }
        self.indent(writer)
    }

    fn end_array_value<W: ?Sized + io::Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        writer.write_all(b"{")
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.depth = self.depth.saturating_sub(1);
        if self.has_value {
            self.indent(writer)?;
        }
        writer.write_all(b"}")
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if !first {
            writer.write_all(b",")?;
        }
        self.indent(writer)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + io::Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// Serializes `value` as Python would write it at nesting level `depth` (0 for a whole
/// document).
///
/// # Errors
///
/// Whatever `value`'s `Serialize` implementation reports (maps with non-string keys, ...).
pub fn to_python_json<T: ?Sized + Serialize>(
    value: &T,
    depth: usize,
) -> Result<String, serde_json::Error> {
    let mut out = Vec::with_capacity(128);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PyFormatter::at_depth(depth));
    value.serialize(&mut ser)?;
    // The formatter escapes everything outside ASCII, so the bytes are ASCII.
    String::from_utf8(out).map_err(|e| serde_json::Error::io(io::Error::other(e)))
}

/// Appends a `serde_json::Value` as Python would write it at nesting level `depth`; unlike
/// going through `Serialize`, this cannot fail. Object keys come in the `Value`'s own order
/// (sorted, as `serde_json::Map` keeps them).
pub(crate) fn push_value(out: &mut impl TextSink, value: &serde_json::Value, depth: usize) {
    use serde_json::Value;
    match value {
        Value::Null => out.push_text("null"),
        Value::Bool(true) => out.push_text("true"),
        Value::Bool(false) => out.push_text("false"),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push_text(&i.to_string());
            } else if let Some(u) = n.as_u64() {
                out.push_text(&u.to_string());
            } else {
                push_float(out, n.as_f64().unwrap_or(f64::NAN));
            }
        }
        Value::String(s) => push_str_literal(out, s),
        Value::Array(items) if items.is_empty() => out.push_text("[]"),
        Value::Array(items) => {
            out.push_text("[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_text(",");
                }
                push_newline_indent(out, depth + 1);
                push_value(out, item, depth + 1);
            }
            push_newline_indent(out, depth);
            out.push_text("]");
        }
        Value::Object(map) if map.is_empty() => out.push_text("{}"),
        Value::Object(map) => {
            out.push_text("{");
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_text(",");
                }
                push_newline_indent(out, depth + 1);
                push_str_literal(out, key);
                out.push_text(": ");
                push_value(out, item, depth + 1);
            }
            push_newline_indent(out, depth);
            out.push_text("}");
        }
    }
}

/// A `serde_json::Value` as Python would write it at nesting level `depth`.
pub fn value_to_python_json(value: &serde_json::Value, depth: usize) -> String {
    let mut out = String::new();
    push_value(&mut out, value, depth);
    out
}

/// Re-lays out JSON text (Python flavoured: bare `NaN`/`Infinity` allowed) as Python's
/// `json.dump(indent=2)` would write it at nesting level `depth`. Scalars are kept as
/// written (numbers are not re-formatted); strings get `ensure_ascii` escaping of anything
/// outside ASCII.
///
/// # Errors
///
/// [`JsonError`] when `json` is not one valid JSON value.
pub fn relayout(json: &str, depth: usize) -> Result<String, JsonError> {
    parse_lenient::<IgnoredAny>(json.as_bytes())?;
    let bytes = json.as_bytes();
    let mut out = String::with_capacity(json.len() + json.len() / 4);
    let mut level = depth;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'"' => {
                let end = string_end(bytes, i);
                push_ascii_string_token(&mut out, &json[i..end]);
                i = end;
            }
            open @ (b'{' | b'[') => {
                let close = if open == b'{' { b'}' } else { b']' };
                let next = skip_whitespace(bytes, i + 1);
                if bytes.get(next) == Some(&close) {
                    out.push_str(if open == b'{' { "{}" } else { "[]" });
                    i = next + 1;
                } else {
                    out.push(char::from(open));
                    level += 1;
                    push_newline_indent(&mut out, level);
                    i += 1;
                }
            }
            close @ (b'}' | b']') => {
                level = level.saturating_sub(1);
                push_newline_indent(&mut out, level);
                out.push(char::from(close));
                i += 1;
            }
            b',' => {
                out.push(',');
                push_newline_indent(&mut out, level);
                i += 1;
            }
            b':' => {
                out.push_str(": ");
                i += 1;
            }
            _ => {
                let start = i;
                while i < bytes.len() && !is_structural_or_space(bytes[i]) {
                    i += 1;
                }
                out.push_str(&json[start..i]);
            }
        }
    }
    Ok(out)
}

fn is_structural_or_space(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t' | b'\n' | b'\r' | b',' | b':' | b'{' | b'}' | b'[' | b']' | b'"'
    )
}

fn skip_whitespace(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// Index just past the string token that starts with the quote at `start` (or the end of
/// input for an unterminated string).
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match memchr::memchr2(b'"', b'\\', &bytes[i..]) {
            None => return bytes.len(),
            Some(p) => {
                i += p;
                if bytes[i] == b'\\' {
                    i += 2;
                } else {
                    return i + 1;
                }
            }
        }
    }
    bytes.len()
}

/// Copies a valid string token, escaping what `ensure_ascii` would have escaped; existing
/// escapes are kept as written.
fn push_ascii_string_token(out: &mut String, token: &str) {
    let mut plain_start = 0;
    for (i, c) in token.char_indices() {
        if c.is_ascii() && c != '\u{7f}' {
            continue;
        }
        out.push_str(&token[plain_start..i]);
        let mut units = [0u16; 2];
        for unit in c.encode_utf16(&mut units) {
            push_u_escape(out, u32::from(*unit));
        }
        plain_start = i + c.len_utf8();
    }
    out.push_str(&token[plain_start..]);
}

// ---------------------------------------------------------------------------------------------
// Reading

/// Which non-finite token Python wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NonFiniteKind {
    /// `NaN`
    NaN,
    /// `Infinity`
    Infinity,
    /// `-Infinity`
    NegInfinity,
}

impl NonFiniteKind {
    /// The token as Python writes it.
    pub fn token(self) -> &'static str {
        match self {
            NonFiniteKind::NaN => "NaN",
            NonFiniteKind::Infinity => "Infinity",
            NonFiniteKind::NegInfinity => "-Infinity",
        }
    }

    /// The float it stands for.
    pub fn value(self) -> f64 {
        match self {
            NonFiniteKind::NaN => f64::NAN,
            NonFiniteKind::Infinity => f64::INFINITY,
            NonFiniteKind::NegInfinity => f64::NEG_INFINITY,
        }
    }

    /// A strict JSON number of the token's exact length: masking with it keeps every byte
    /// offset, and it cannot be mistaken for a string or an integer by a typed field.
    fn placeholder(self) -> &'static str {
        match self {
            NonFiniteKind::NaN => "0.0",
            NonFiniteKind::Infinity => "0.000000",
            NonFiniteKind::NegInfinity => "-0.000000",
        }
    }

    /// The kind whose token is exactly `text`.
    pub fn from_token(text: &str) -> Option<Self> {
        match text {
            "NaN" => Some(NonFiniteKind::NaN),
            "Infinity" => Some(NonFiniteKind::Infinity),
            "-Infinity" => Some(NonFiniteKind::NegInfinity),
            _ => None,
        }
    }
}

/// A non-finite token found outside strings, at byte `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NonFinite {
    /// Byte offset of the token's first character.
    pub offset: usize,
    /// Which token it is.
    pub kind: NonFiniteKind,
}

impl NonFinite {
    /// The bytes the token covers.
    pub fn range(&self) -> Range<usize> {
        self.offset..self.offset + self.kind.token().len()
    }
}

/// Finds every bare `NaN`, `Infinity` and `-Infinity` that stands as a value token: outside
/// strings, preceded by start of input, whitespace, `[`, `:` or `,`, and followed by end of
/// input, whitespace, `,`, `]` or `}`. Anything else (`NaNa`, `1NaN`, a token in a string)
/// is left alone, so masking cannot make invalid text valid.
///
/// A string runs to its closing quote or, in text that is not JSON, to the end of its line:
/// JSON allows no raw line break inside a string, so every line of a valid file starts
/// outside one. The search therefore looks only for the tokens themselves (a vector search
/// for `NaN` and for `Infinity`, both rare) and, for each one that stands as a value, walks
/// the strings of its own line up to it, never the whole file before it.
pub fn find_non_finite(json: &[u8]) -> Vec<NonFinite> {
    let mut found = Vec::new();
    // `json[outside]` is known to be outside any string.
    let mut outside = 0;
    for token in value_tokens(json) {
        if token.offset < outside {
            continue;
        }
        let line = memchr::memrchr(b'\n', &json[outside..token.offset])
            .map_or(outside, |n| outside + n + 1);
        match string_around(json, line, token.offset) {
            Some(end) => outside = end,
            None => {
                outside = token.range().end;
                found.push(token);
            }
        }
    }
    found
}

/// Where the string that holds byte `at` ends, walking the strings from `from` (outside
/// any string, on the same line); `None` when `at` is outside every string.
fn string_around(json: &[u8], from: usize, at: usize) -> Option<usize> {
    let mut i = from;
    while let Some(q) = memchr::memchr(b'"', &json[i..at]) {
        let end = string_end_in_line(json, i + q);
        if end > at {
            return Some(end);
        }
        i = end;
    }
    None
}

/// Index just past the string that starts with the quote at `start`: past its closing
/// quote, or at the line break or end of input that ends an unterminated one.
fn string_end_in_line(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while let Some(p) = memchr::memchr3(b'"', b'\\', b'\n', &bytes[i.min(bytes.len())..]) {
        i += p;
        match bytes[i] {
            // A backslash escapes anything but a line break.
            b'\\' if bytes.get(i + 1) != Some(&b'\n') => i += 2,
            b'"' => return i + 1,
            b'\\' => return i + 1,
            _ => return i,
        }
    }
    bytes.len()
}

/// Each `NaN`, `Infinity` and `-Infinity` in `json`, in order, that has a value's
/// neighbours (see [`find_non_finite`]), whether or not it is in a string.
fn value_tokens(json: &[u8]) -> impl Iterator<Item = NonFinite> + '_ {
    Occurrences::new(json, [b"NaN".as_slice(), b"Infinity".as_slice()])
        .map(|(at, needle)| match needle {
            0 => NonFinite {
                offset: at,
                kind: NonFiniteKind::NaN,
            },
            _ if at > 0 && json[at - 1] == b'-' => NonFinite {
                offset: at - 1,
                kind: NonFiniteKind::NegInfinity,
            },
            _ => NonFinite {
                offset: at,
                kind: NonFiniteKind::Infinity,
            },
        })
        .filter(|token| {
            let (start, end) = (token.offset, token.range().end);
            let before_ok = start == 0
                || matches!(
                    json[start - 1],
                    b' ' | b'\t' | b'\n' | b'\r' | b'[' | b':' | b','
                );
            let after_ok = json
                .get(end)
                .is_none_or(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b',' | b']' | b'}'));
            before_ok && after_ok
        })
}

/// Where each of `N` needles occurs in a haystack, in offset order, as (offset, index of
/// the needle); a needle's occurrences do not overlap within a block. One pass over
/// memory: the haystack is taken in blocks small enough to stay in the CPU's cache while
/// every needle is searched for in them, where a search per needle would read a 77 MB
/// file from memory once per needle (about 9 ms each on this machine's 2 cores).
pub(crate) struct Occurrences<'h, const N: usize> {
    hay: &'h [u8],
    finders: [memchr::memmem::Finder<'h>; N],
    /// Where the next block starts.
    next: usize,
    /// The current block's occurrences, last first.
    found: Vec<(usize, usize)>,
}

impl<'h, const N: usize> Occurrences<'h, N> {
    /// 64 KiB: fits a core's L2 cache with room to spare.
    const BLOCK: usize = 64 << 10;

    pub(crate) fn new(hay: &'h [u8], needles: [&'h [u8]; N]) -> Self {
        Occurrences {
            hay,
            finders: needles.map(memchr::memmem::Finder::new),
            next: 0,
            found: Vec::new(),
        }
    }
}

impl<const N: usize> Iterator for Occurrences<'_, N> {
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        while self.found.is_empty() && self.next < self.hay.len() {
            let start = self.next;
            let end = start.saturating_add(Self::BLOCK).min(self.hay.len());
            for (index, finder) in self.finders.iter().enumerate() {
                // Occurrences that start in the block, whether or not they end in it.
                let stop = (end + finder.needle().len().saturating_sub(1)).min(self.hay.len());
                self.found.extend(
                    finder
                        .find_iter(&self.hay[start..stop])
                        .map(|at| (start + at, index)),
                );
            }
            self.found.sort_unstable_by(|a, b| b.cmp(a));
            self.next = end;
        }
        self.found.pop()
    }
}

/// Overwrites each found token with a strict JSON number of the same length.
pub fn mask_non_finite(json: &mut [u8], found: &[NonFinite]) {
    for token in found {
        if let Some(slot) = json.get_mut(token.range()) {
            slot.copy_from_slice(token.kind.placeholder().as_bytes());
        }
    }
}

/// Puts back the tokens [`mask_non_finite`] replaced.
pub fn unmask_non_finite(json: &mut [u8], found: &[NonFinite]) {
    for token in found {
        if let Some(slot) = json.get_mut(token.range()) {
            slot.copy_from_slice(token.kind.token().as_bytes());
        }
    }
}

/// Calls `f` with the original text of a document masked by [`mask_non_finite`], in order,
/// without unmasking it: a document with no tokens in one call, otherwise in pieces of
/// about 1 MiB, each a slice of `masked` itself unless it holds a token, then a copy with
/// its tokens put back. For readers (a hash, a file's writes) that share the masked buffer
/// with a parse.
///
/// # Errors
///
/// The first error `f` returns; nothing is called after it.
pub fn for_each_unmasked<E>(
    masked: &[u8],
    found: &[NonFinite],
    mut f: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<(), E> {
    const PIECE: usize = 1 << 20;
    if found.is_empty() {
        return f(masked);
    }
    let mut copy = Vec::new();
    let mut next = 0;
    let mut start = 0;
    while start < masked.len() {
        let mut end = (start + PIECE).min(masked.len());
        let first = next;
        // A piece never splits a token.
        while let Some(token) = found.get(next).filter(|t| t.offset < end) {
            end = end.max(token.range().end.min(masked.len()));
            next += 1;
        }
        if first == next {
            f(&masked[start..end])?;
        } else {
            copy.clear();
            copy.extend_from_slice(&masked[start..end]);
            for token in &found[first..next] {
                let range = token.range();
                if let Some(slot) = copy.get_mut(range.start - start..range.end - start) {
                    slot.copy_from_slice(token.kind.token().as_bytes());
                }
            }
            f(&copy)?;
        }
        start = end;
    }
    Ok(())
}

/// Appends `masked` (a slice that started at byte `offset` of a masked document) with the
/// original tokens put back where the document had them.
pub(crate) fn push_unmasked(out: &mut String, masked: &str, offset: usize, found: &[NonFinite]) {
    let end = offset + masked.len();
    let first = found.partition_point(|t| t.offset < offset);
    let mut copied = 0;
    for token in found[first..].iter().take_while(|t| t.offset < end) {
        let local = token.offset - offset;
        let (Some(before), Some(_)) = (
            masked.get(copied..local),
            masked.get(local..local + token.kind.token().len()),
        ) else {
            break;
        };
        out.push_str(before);
        out.push_str(token.kind.token());
        copied = local + token.kind.token().len();
    }
    out.push_str(masked.get(copied..).unwrap_or(""));
}

/// What kind of failure a [`JsonError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonErrorKind {
    /// The text is not JSON (including premature end of input).
    Syntax,
    /// The text is JSON but not of the expected shape.
    Data,
}

/// A parse failure, with the line and column (1-based, counted in bytes as `serde_json`
/// does) in the original text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at line {line} column {column}")]
pub struct JsonError {
    /// Syntax or shape.
    pub kind: JsonErrorKind,
    /// What went wrong, without the position.
    pub message: String,
    /// 1-based line.
    pub line: usize,
    /// Column within the line.
    pub column: usize,
}

impl From<&serde_json::Error> for JsonError {
    fn from(err: &serde_json::Error) -> Self {
        let kind = match err.classify() {
            serde_json::error::Category::Data => JsonErrorKind::Data,
            _ => JsonErrorKind::Syntax,
        };
        let mut message = err.to_string();
        if err.line() != 0 {
            let suffix = format!(" at line {} column {}", err.line(), err.column());
            if message.ends_with(&suffix) {
                message.truncate(message.len() - suffix.len());
            }
        }
        JsonError {
            kind,
            message,
            line: err.line(),
            column: err.column(),
        }
    }
}

impl From<serde_json::Error> for JsonError {
    fn from(err: serde_json::Error) -> Self {
        JsonError::from(&err)
    }
}

/// True when a strict parse failed in a way masking non-finite tokens might fix: only a
/// syntax error can come from a bare `NaN`, and any shape error was met before it.
pub(crate) fn worth_masking(err: &serde_json::Error) -> bool {
    err.classify() == serde_json::error::Category::Syntax
}

/// Runs `parse` on `json`; if that fails with a syntax error and the text holds non-finite
/// tokens, runs it again on a masked copy, handing it the tokens found. Positions in errors
/// and offsets into the slice `parse` receives are valid for the original text.
///
/// # Errors
///
/// The error of the last parse attempted.
pub fn parse_with_masking<R>(
    json: &[u8],
    mut parse: impl FnMut(&[u8], &[NonFinite]) -> Result<R, serde_json::Error>,
) -> Result<R, JsonError> {
    match parse(json, &[]) {
        Ok(value) => Ok(value),
        Err(err) if !worth_masking(&err) => Err(err.into()),
        Err(err) => {
            let found = find_non_finite(json);
            if found.is_empty() {
                return Err(err.into());
            }
            let mut masked = json.to_vec();
            mask_non_finite(&mut masked, &found);
            parse(&masked, &found).map_err(JsonError::from)
        }
    }
}

/// Parses Python-flavoured JSON: strictly first (fast, no copy); only when that fails and
/// the text holds bare `NaN`/`Infinity`/`-Infinity` values, again with those masked.
///
/// Masked tokens reach `T` as the numbers `0.0`, `0.000000` and `-0.000000`: use this for
/// structure, for types that ignore numbers, or with [`find_non_finite`] to learn which
/// numbers were not finite. Error positions always refer to the original text.
///
/// # Errors
///
/// [`JsonError`] with the line and column in `json`.
pub fn parse_lenient<T: DeserializeOwned>(json: &[u8]) -> Result<T, JsonError> {
    parse_with_masking(json, |bytes, _| serde_json::from_slice(bytes))
}

/// An object's entries: each key with the byte range of its value's text.
pub type ObjectEntries = Vec<(String, Range<usize>)>;

/// The entries of a JSON object as (key, byte range of the value's text in `json`), in
/// document order, duplicates kept; `None` when `json` is valid but not an object.
///
/// # Errors
///
/// [`JsonError`] when `json` is not valid (Python-flavoured) JSON.
pub fn object_entries(json: &str) -> Result<Option<ObjectEntries>, JsonError> {
    struct Entries {
        base: usize,
    }
    impl<'de> Visitor<'de> for Entries {
        type Value = ObjectEntries;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut entries = Vec::new();
            while let Some(key) = map.next_key::<String>()? {
                let raw: &'de RawValue = map.next_value()?;
                let start = (raw.get().as_ptr() as usize).wrapping_sub(self.base);
                entries.push((key, start..start + raw.get().len()));
            }
            Ok(entries)
        }
    }
    let first = skip_whitespace(json.as_bytes(), 0);
    let is_object = json.as_bytes().get(first) == Some(&b'{');
    parse_with_masking(json.as_bytes(), |bytes, _| {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let entries = if is_object {
            Some(de.deserialize_map(Entries {
                base: bytes.as_ptr() as usize,
            })?)
        } else {
            de.deserialize_ignored_any(IgnoredAny)?;
            None
        };
        de.end()?;
        Ok(entries)
    })
    .map(|entries| {
        // Offsets were taken in whichever buffer was parsed; both have the same layout.
        entries.map(|list| {
            list.into_iter()
                .filter(|(_, range)| range.end <= json.len())
                .collect()
        })
    })
}

/// Number of elements when `json` is an array, `None` when it is another valid value.
///
/// # Errors
///
/// [`JsonError`] when `json` is not valid (Python-flavoured) JSON.
pub fn array_len(json: &str) -> Result<Option<usize>, JsonError> {
    struct Count;
    impl<'de> Visitor<'de> for Count {
        type Value = Option<usize>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut n = 0;
            while seq.next_element::<IgnoredAny>()?.is_some() {
                n += 1;
            }
            Ok(Some(n))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    parse_with_masking(json.as_bytes(), |bytes, _| {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let n = de.deserialize_any(Count)?;
        de.end()?;
        Ok(n)
    })
}

/// The value of a JSON string literal's text when it has no escapes (the fast, common
/// case), else the decoded string; `None` when `json` is not a string literal.
pub fn string_value(json: &str) -> Option<std::borrow::Cow<'_, str>> {
    let inner = json.strip_prefix('"')?.strip_suffix('"')?;
    if !inner.contains('\\') && !inner.contains('"') {
        return Some(std::borrow::Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(json)
        .ok()
        .map(std::borrow::Cow::Owned)
}

/// The float a number's text stands for, reading Python's non-finite tokens too; `None` when
/// the text is not a number.
pub fn number_value(json: &str) -> Option<f64> {
    if let Some(kind) = NonFiniteKind::from_token(json) {
        return Some(kind.value());
    }
    match json.as_bytes().first() {
        Some(b'-' | b'0'..=b'9') => json.parse::<f64>().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn float_repr_matches_python_examples() {
        // Each right-hand side was checked against CPython 3.11's repr().
        let cases: &[(f64, &str)] = &[
            (1.0, "1.0"),
            (0.8, "0.8"),
            (1e-05, "1e-05"),
            (1.5e16, "1.5e+16"),
            (1e16, "1e+16"),
            (123456789.0, "123456789.0"),
            (0.0001, "0.0001"),
            (0.00012345, "0.00012345"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (-2.5, "-2.5"),
            (1e22, "1e+22"),
            (9999999999999998.0, "9999999999999998.0"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1.0 / 3.0, "0.3333333333333333"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (5e-324, "5e-324"),
            (1e100, "1e+100"),
            (123.456e-10, "1.23456e-08"),
            // Ties between two shortest candidates: Python rounds half to even.
            (f64::from_bits(0xc316_fed6_ebaf_054d), "-1618162129551699.2"),
            (f64::from_bits(0x431c_f965_d898_4c29), "2038878792192778.2"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for (x, expected) in cases {
            assert_eq!(float_repr(*x), *expected, "repr of {x:e}");
        }
    }

    proptest! {
        #[test]
        fn float_repr_round_trips(bits in any::<u64>()) {
            let x = f64::from_bits(bits);
            prop_assume!(x.is_finite());
            let s = float_repr(x);
            prop_assert_eq!(s.parse::<f64>().ok().map(f64::to_bits), Some(x.to_bits()), "{}", s);
            // Python's shape: a '.' or an exponent always, exponent with sign and 2+ digits.
            if let Some((_, exp)) = s.split_once('e') {
                prop_assert!(exp.starts_with('+') || exp.starts_with('-'));
                prop_assert!(exp.len() >= 3);
            } else {
                prop_assert!(s.contains('.'));
            }
        }

        #[test]
        fn float_repr_round_trips_for_plain_decimals(n in -10_000_000i64..10_000_000, scale in 0u32..9) {
            let x = n as f64 / 10f64.powi(scale as i32);
            let s = float_repr(x);
            prop_assert_eq!(s.parse::<f64>().ok(), Some(x));
        }

        #[test]
        fn finder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let found = find_non_finite(&bytes);
            let mut masked = bytes.clone();
            mask_non_finite(&mut masked, &found);
            prop_assert_eq!(masked.len(), bytes.len());
            let _ = parse_lenient::<IgnoredAny>(&bytes);
        }

        #[test]
        fn escaping_round_trips(s in any::<String>()) {
            let literal = str_literal(&s);
            prop_assert!(literal.is_ascii());
            prop_assert_eq!(serde_json::from_str::<String>(&literal).ok(), Some(s));
        }
    }

    #[test]
    fn strings_escape_like_python() {
        assert_eq!(str_literal("caf\u{e9}"), r#""caf\u00e9""#);
        assert_eq!(str_literal("\u{1f600}"), r#""\ud83d\ude00""#);
        assert_eq!(
            str_literal("a\"b\\c\nd\re\tf\u{8}g\u{c}h\u{1}i\u{7f}j/"),
            r#""a\"b\\c\nd\re\tf\bg\fh\u0001i\u007fj/""#
        );
        assert_eq!(str_literal("\u{2028}"), r#""\u2028""#);
    }

    #[test]
    fn formatter_matches_python_layout() {
        let value = json!({
            "a": [1, 2.5, {"b": null, "c": []}],
            "d": {},
            "e": "\u{e9}\u{1}",
            "f": 1e-05,
            "g": true
        });
        // json.dumps(value, indent=2) in CPython 3.11
        let expected = "{\n  \"a\": [\n    1,\n    2.5,\n    {\n      \"b\": null,\n      \"c\": []\n    }\n  ],\n  \"d\": {},\n  \"e\": \"\\u00e9\\u0001\",\n  \"f\": 1e-05,\n  \"g\": true\n}";
        assert_eq!(to_python_json(&value, 0).expect("serializes"), expected);
        assert_eq!(value_to_python_json(&value, 0), expected);
        assert_eq!(to_python_json(&json!([]), 0).expect("serializes"), "[]");
        assert_eq!(to_python_json(&json!({}), 3).expect("serializes"), "{}");
    }

    #[test]
    fn formatter_writes_bare_non_finite_tokens() {
        // serde_json's serializer turns non-finite floats into null before the formatter
        // sees them; called directly, the formatter writes what Python writes.
        let mut out = Vec::new();
        let mut f = PyFormatter::new();
        for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.5] {
            f.write_f64(&mut out, x).expect("writes to memory");
            out.push(b' ');
        }
        f.write_f32(&mut out, 0.1).expect("writes to memory");
        assert_eq!(
            String::from_utf8(out).expect("ASCII"),
            "NaN Infinity -Infinity 0.5 0.10000000149011612"
        );
    }

    #[test]
    fn deep_indentation() {
        let mut deep = String::new();
        push_newline_indent(&mut deep, 40);
        assert_eq!(deep.len(), 81);
        assert!(deep[1..].bytes().all(|b| b == b' '));
        let mut nested = json!(1);
        for _ in 0..40 {
            nested = json!([nested]);
        }
        assert_eq!(
            to_python_json(&nested, 0).expect("serializes"),
            value_to_python_json(&nested, 0)
        );
    }

    #[test]
    fn formatter_respects_starting_depth() {
        let value = json!({"k": [1]});
        let text = to_python_json(&value, 2).expect("serializes");
        assert_eq!(text, "{\n      \"k\": [\n        1\n      ]\n    }");
        assert_eq!(value_to_python_json(&value, 2), text);
    }

    #[test]
    fn relayout_produces_python_layout() {
        let text = relayout(
            r#"{"a":[NaN, -Infinity,{}], "b" : "é/\u00E9", "c":{"d":[]}}"#,
            1,
        )
        .expect("valid");
        assert_eq!(
            text,
            "{\n    \"a\": [\n      NaN,\n      -Infinity,\n      {}\n    ],\n    \"b\": \"\\u00e9/\\u00E9\",\n    \"c\": {\n      \"d\": []\n    }\n  }"
        );
        assert!(relayout("{\"a\": }", 0).is_err());
        assert_eq!(relayout(" 12 ", 0).expect("valid"), "12");
    }

    /// What [`find_non_finite`] must find, found byte by byte.
    fn byte_walk(json: &[u8]) -> Vec<NonFinite> {
        let mut found = Vec::new();
        let mut i = 0;
        while i < json.len() {
            if json[i] == b'"' {
                i = string_end_in_line(json, i);
                continue;
            }
            let kind = [
                NonFiniteKind::NaN,
                NonFiniteKind::Infinity,
                NonFiniteKind::NegInfinity,
            ]
            .into_iter()
            .find(|k| json[i..].starts_with(k.token().as_bytes()));
            if let Some(kind) = kind {
                let end = i + kind.token().len();
                let before = i == 0
                    || matches!(
                        json[i - 1],
                        b' ' | b'\t' | b'\n' | b'\r' | b'[' | b':' | b','
                    );
                let after = json
                    .get(end)
                    .is_none_or(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b',' | b']' | b'}'));
                if before && after {
                    found.push(NonFinite { offset: i, kind });
                    i = end;
                    continue;
                }
            }
            i += 1;
        }
        found
    }

    proptest::proptest! {
        /// The vector search finds exactly what a byte-by-byte walk finds.
        #[test]
        fn finds_what_a_byte_walk_finds(text in "(NaN|-Infinity|Infinity|-I|\"|\\\\|,| |\n|\\[|:|\\]|a|-|I|N|0){0,24}") {
            proptest::prop_assert_eq!(find_non_finite(text.as_bytes()), byte_walk(text.as_bytes()));
        }
    }

    /// The search goes block by block: a token that starts in one block and ends in the
    /// next, or starts right at a boundary, is found once, in order.
    #[test]
    fn tokens_across_the_search_blocks_are_found_once() {
        const BLOCK: usize = 64 << 10;
        let filler = b"    \"price\": 159.62,\n    \"name\": \"NaN Infinity\",\n";
        for token in ["NaN", "Infinity", "-Infinity"] {
            for shift in 0..12 {
                let mut text = b"[\n".to_vec();
                let mut expected = Vec::new();
                for boundary in [BLOCK, 2 * BLOCK, 3 * BLOCK] {
                    // Fill up to a few bytes before the boundary, then the token as a value.
                    while text.len() + filler.len() < boundary - 10 + shift {
                        text.extend_from_slice(filler);
                    }
                    while text.len() < boundary - 10 + shift {
                        text.push(b' ');
                    }
                    expected.push(text.len());
                    text.extend_from_slice(token.as_bytes());
                    text.extend_from_slice(b",\n");
                }
                text.extend_from_slice(b"0\n]");
                let found = find_non_finite(&text);
                assert_eq!(found, byte_walk(&text), "{token} shifted {shift}");
                let offsets: Vec<usize> = found.iter().map(|t| t.offset).collect();
                assert_eq!(offsets, expected, "{token} shifted {shift}");
            }
        }
    }

    /// Every needle's occurrences, merged in order, are what a search per needle finds.
    #[test]
    fn occurrences_are_each_needles_matches_in_order() {
        let mut text = Vec::new();
        while text.len() < 300 << 10 {
            text.extend_from_slice(
                b"{\"from\": \"a\", \"connections_in\": [], \"to\": \"from\"},\n",
            );
            text.extend_from_slice(&b"x".repeat(text.len() % 97));
        }
        let needles = [
            b"\"from\"".as_slice(),
            b"\"connections_in\"".as_slice(),
            b"from".as_slice(),
        ];
        let mut expected: Vec<(usize, usize)> = needles
            .iter()
            .enumerate()
            .flat_map(|(i, n)| memchr::memmem::find_iter(&text, n).map(move |at| (at, i)))
            .collect();
        expected.sort_unstable();
        let found: Vec<(usize, usize)> = Occurrences::new(&text, needles).collect();
        assert!(found.len() > 10_000);
        assert_eq!(found, expected);
        assert_eq!(Occurrences::new(b"", needles).count(), 0);
        assert_eq!(Occurrences::new(b"fro", needles).count(), 0);
    }

    #[test]
    fn finds_only_value_tokens() {
        let text = br#"{"a": NaN, "b": [Infinity,-Infinity], "c": "NaN", "d": NaNx, "e": 1NaN, "f":-Infinity}"#;
        let found = find_non_finite(text);
        let kinds: Vec<_> = found.iter().map(|t| t.kind).collect();
        assert_eq!(
            kinds,
            vec![
                NonFiniteKind::NaN,
                NonFiniteKind::Infinity,
                NonFiniteKind::NegInfinity,
                NonFiniteKind::NegInfinity
            ]
        );
        for token in &found {
            assert_eq!(&text[token.range()], token.kind.token().as_bytes());
        }
        // A string with an escaped quote must not end the string early.
        let tricky = br#"["a\"NaN", NaN]"#;
        assert_eq!(find_non_finite(tricky).len(), 1);
    }

    #[test]
    fn lenient_parse_accepts_python_tokens_and_keeps_positions() {
        let value: serde_json::Value =
            parse_lenient(b"{\"a\": NaN, \"b\": [1, Infinity]}").expect("lenient");
        assert_eq!(value["b"][0], json!(1));
        // Strict parse of ordinary JSON is untouched.
        let value: serde_json::Value = parse_lenient(b"[1.5]").expect("strict");
        assert_eq!(value, json!([1.5]));

        // A real error after a NaN is reported where it is, not at the NaN.
        let text = b"{\n  \"a\": NaN,\n  \"b\": [1, 2,,]\n}";
        let err = parse_lenient::<serde_json::Value>(text).expect_err("invalid");
        assert_eq!(
            (err.kind, err.line, err.column),
            (JsonErrorKind::Syntax, 3, 14)
        );
        // A real error before the NaN is reported first.
        let text = b"{\n  \"a\" 1,\n  \"b\": NaN\n}";
        let err = parse_lenient::<serde_json::Value>(text).expect_err("invalid");
        assert_eq!((err.line, err.column), (2, 7));
        // A NaN in key position stays an error.
        let err = parse_lenient::<serde_json::Value>(b"{NaN: 1}").expect_err("invalid");
        assert_eq!((err.line, err.column), (1, 2));
        // Masked tokens do not make bad numbers valid.
        assert!(parse_lenient::<serde_json::Value>(b"[1NaN]").is_err());
        assert!(parse_lenient::<serde_json::Value>(b"[- Infinity]").is_err());
    }

    #[test]
    fn object_entries_give_original_ranges() {
        let text = "{\"a\": NaN, \"b\": {\"c\": [Infinity]}, \"a\": 1}";
        let entries = object_entries(text).expect("valid").expect("object");
        let got: Vec<(&str, &str)> = entries
            .iter()
            .map(|(k, r)| (k.as_str(), &text[r.clone()]))
            .collect();
        assert_eq!(
            got,
            vec![("a", "NaN"), ("b", "{\"c\": [Infinity]}"), ("a", "1")]
        );
        assert_eq!(object_entries("[1]").expect("valid"), None);
        assert!(object_entries("{").is_err());
        assert_eq!(array_len("[1, NaN, [2]]").expect("valid"), Some(3));
        assert_eq!(array_len("{\"a\": 1}").expect("valid"), None);
    }

    #[test]
    fn pieces_of_a_masked_document_are_its_original_text() {
        // Tokens at the start, on a piece boundary, and at the end.
        let mut original = b"[NaN, ".to_vec();
        original.resize((1 << 20) - 3, b' ');
        original.extend_from_slice(b"-Infinity, ");
        original.resize(3 << 20, b' ');
        original.extend_from_slice(b", Infinity]");
        let found = find_non_finite(&original);
        assert_eq!(found.len(), 3);
        let mut masked = original.clone();
        mask_non_finite(&mut masked, &found);
        assert_ne!(masked, original);
        let mut pieces = Vec::new();
        let mut text = Vec::new();
        for_each_unmasked(&masked, &found, |piece| {
            pieces.push(piece.len());
            text.extend_from_slice(piece);
            Ok::<(), ()>(())
        })
        .expect("no error");
        assert_eq!(text, original);
        assert!(pieces.len() > 1, "{pieces:?}");
        // An error stops the pieces.
        let mut calls = 0;
        assert_eq!(
            for_each_unmasked(&masked, &found, |_| {
                calls += 1;
                Err("full")
            }),
            Err("full")
        );
        assert_eq!(calls, 1);
    }

    #[test]
    fn unmasking_restores_tokens() {
        let original = "[NaN, 1, -Infinity]";
        let found = find_non_finite(original.as_bytes());
        let mut masked = original.as_bytes().to_vec();
        mask_non_finite(&mut masked, &found);
        let masked = String::from_utf8(masked).expect("ascii");
        assert_eq!(masked, "[0.0, 1, -0.000000]");
        let mut out = String::new();
        push_unmasked(&mut out, &masked[1..], 1, &found);
        assert_eq!(out, &original[1..]);
    }

    #[test]
    fn scalar_helpers() {
        assert_eq!(number_value("NaN").map(f64::is_nan), Some(true));
        assert_eq!(number_value("-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(number_value("0.25"), Some(0.25));
        assert_eq!(number_value("\"0.25\""), None);
        assert_eq!(number_value("inf"), None);
        assert_eq!(string_value("\"abc\"").as_deref(), Some("abc"));
        assert_eq!(string_value("\"a\\u00e9\"").as_deref(), Some("a\u{e9}"));
        assert_eq!(string_value("12"), None);
    }
}
