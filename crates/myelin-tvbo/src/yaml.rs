//! A YAML document as a tree of nodes that know where they were written.
//!
//! serde-saphyr parses the text; every node comes back wrapped in its `Spanned`, whose byte
//! offsets (available because we parse from a string) become [`Span`]s in the caller's
//! [`SourceMap`](myelin_diag::SourceMap) file. The schema readers then walk this tree by hand,
//! so that one file can yield many diagnostics instead of serde's first error.

use myelin_diag::{Diagnostic, FileId, Span};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;

/// Largest YAML text accepted (bytes).
pub const MAX_YAML_BYTES: usize = 64 * 1024 * 1024;

/// One YAML node with its span in the source file.
#[derive(Clone, Debug)]
pub struct Node {
    pub kind: Kind,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in document order (keys are nodes too, so they keep their spans).
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// What the node is, for messages ("a mapping", "a string", ...).
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            Kind::Null => "nothing (null)",
            Kind::Bool(_) => "a boolean",
            Kind::Int(_) | Kind::Float(_) => "a number",
            Kind::Str(_) => "a string",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null)
    }

    /// The entries of a mapping, `None` for anything else.
    pub fn entries(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            Kind::Map(m) => Some(m),
            _ => None,
        }
    }

    /// A scalar as text: strings as they are, numbers and booleans as YAML wrote them.
    pub fn scalar_text(&self, source: &str) -> Option<String> {
        match &self.kind {
            Kind::Str(s) => Some(s.clone()),
            Kind::Int(_) | Kind::Float(_) | Kind::Bool(_) => {
                let raw = source.get(self.span.start as usize..self.span.end as usize)?;
                Some(raw.trim().to_string())
            }
            _ => None,
        }
    }

    /// A number (an integer, a float, or a string that reads as one).
    pub fn as_f64(&self) -> Option<f64> {
        match &self.kind {
            Kind::Int(i) => Some(*i as f64),
            Kind::Float(f) => Some(*f),
            Kind::Str(s) => parse_number(s),
            _ => None,
        }
    }
}

/// A copy of `n` whose mapping keys are all strings, as written in `source` (so that `n:` stays
/// the name `n`).
pub fn with_string_keys(n: &Node, source: &str) -> Node {
    let kind = match &n.kind {
        Kind::Seq(items) => Kind::Seq(items.iter().map(|x| with_string_keys(x, source)).collect()),
        Kind::Map(entries) => Kind::Map(
            entries
                .iter()
                .map(|(k, v)| {
                    let key = Node {
                        kind: Kind::Str(crate::read::key_name(source, k)),
                        span: k.span,
                    };
                    (key, with_string_keys(v, source))
                })
                .collect(),
        ),
        k => k.clone(),
    };
    Node { kind, span: n.span }
}

/// Reads a number the way Python's `float()` would accept it (plus `.inf`/`.nan` spellings).
pub fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim();
    match t {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "inf" | "+inf" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" | "-inf" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" | "nan" => return Some(f64::NAN),
        _ => {}
    }
    let ok = !t.is_empty()
        && t.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-' | '_'));
    if !ok {
        return None;
    }
    t.replace('_', "").parse::<f64>().ok()
}

/// Parses `text` (file `file`) into a node tree. A syntax error becomes one diagnostic.
pub fn parse(file: FileId, text: &str) -> Result<Node, Diagnostic> {
    if text.len() > MAX_YAML_BYTES {
        return Err(Diagnostic::error(
            "file-too-large",
            format!(
                "the YAML file is larger than {} MiB",
                MAX_YAML_BYTES / (1024 * 1024)
            ),
        )
        .at(Span::new(file, 0, 0)));
    }
    // `.inf` and `.nan` are numbers (TVBO writes `hi: .inf` for unbounded domains).
    let opts = serde_saphyr::options! { non_finite_float_policy: serde_saphyr::NonFiniteFloatPolicy::PassThrough };
    let doc: Result<Option<Spanned<Raw>>, serde_saphyr::Error> =
        serde_saphyr::from_str_with_options(text, opts);
    match doc {
        Ok(Some(raw)) => Ok(convert(file, text, raw)),
        Ok(None) => Ok(Node {
            kind: Kind::Null,
            span: Span::new(file, 0, 0),
        }),
        Err(e) => {
            let span = e
                .location()
                .map(|loc| location_span(file, text, &loc))
                .unwrap_or_else(|| Span::new(file, 0, 0));
            let message = first_line(&e.to_string());
            Err(Diagnostic::error("yaml-syntax", format!("invalid YAML: {message}")).at(span))
        }
    }
}

/// The first line of a saphyr message, without the location it starts with (the diagnostic
/// carries it).
fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("").trim();
    let line = line.strip_prefix("error: ").unwrap_or(line);
    if let Some(rest) = line.strip_prefix("line ")
        && let Some((_, msg)) = rest.split_once(": ")
        && rest
            .split(": ")
            .next()
            .is_some_and(|loc| loc.split_whitespace().count() == 3)
    {
        return msg.to_string();
    }
    line.to_string()
}

/// The byte span of a saphyr location: its byte offsets when known, else computed from its
/// 1-based line and character column.
fn location_span(file: FileId, text: &str, loc: &serde_saphyr::Location) -> Span {
    let span = loc.span();
    if let (Some(start), Some(len)) = (span.byte_offset(), span.byte_len()) {
        let start = usize::try_from(start).unwrap_or(usize::MAX).min(text.len());
        let end = start
            .saturating_add(usize::try_from(len).unwrap_or(0))
            .min(text.len());
        return Span::new(file, start, end);
    }
    let start = line_col_to_offset(text, loc.line(), loc.column());
    Span::new(file, start, start)
}

/// Byte offset of a 1-based line and 1-based character column (clamped to the text).
pub fn line_col_to_offset(text: &str, line: u64, column: u64) -> usize {
    let mut offset = 0usize;
    for _ in 1..line.max(1) {
        match text[offset..].find('\n') {
            Some(k) => offset += k + 1,
            None => return text.len(),
        }
    }
    let line_text = &text[offset..text[offset..].find('\n').map_or(text.len(), |k| offset + k)];
    let col = usize::try_from(column.max(1) - 1).unwrap_or(usize::MAX);
    offset
        + line_text
            .char_indices()
            .nth(col)
            .map_or(line_text.len(), |(k, _)| k)
}

fn convert(file: FileId, text: &str, raw: Spanned<Raw>) -> Node {
    let span = location_span(file, text, &raw.referenced);
    let kind = match raw.value {
        Raw::Null => Kind::Null,
        Raw::Bool(b) => Kind::Bool(b),
        Raw::Int(i) => Kind::Int(i),
        Raw::Float(f) => Kind::Float(f),
        Raw::Str(s) => Kind::Str(s),
        Raw::Seq(items) => Kind::Seq(items.into_iter().map(|x| convert(file, text, x)).collect()),
        Raw::Map(entries) => Kind::Map(
            entries
                .into_iter()
                .map(|(k, v)| (convert(file, text, k), convert(file, text, v)))
                .collect(),
        ),
    };
    Node { kind, span }
}

/// What serde-saphyr hands us, before spans are turned into ours.
enum Raw {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Raw>>),
    Map(Vec<(Spanned<Raw>, Spanned<Raw>)>),
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        Raw::deserialize(d)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => Raw::Int(i),
            Err(_) => Raw::Float(v as f64),
        })
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Raw, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => Raw::Int(i),
            Err(_) => Raw::Float(v as f64),
        })
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Raw, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => Raw::Int(i),
            Err(_) => Raw::Float(v as f64),
        })
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Str(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(x) = seq.next_element::<Spanned<Raw>>()? {
            items.push(x);
        }
        Ok(Raw::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some((k, v)) = map.next_entry::<Spanned<Raw>, Spanned<Raw>>()? {
            entries.push((k, v));
        }
        Ok(Raw::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_at<'a>(n: &Node, text: &'a str) -> &'a str {
        &text[n.span.start as usize..n.span.end as usize]
    }

    #[test]
    fn nodes_know_where_they_were_written() {
        let text = "name: X\nparameters:\n  a: {value: 1.5, unit: ms}\nrhs: \"v = c\"\nn: 2\nlist: [1, .inf]\n";
        let root = parse(FileId(0), text).unwrap();
        let entries = root.entries().unwrap();
        let keys: Vec<String> = entries
            .iter()
            .map(|(k, _)| crate::read::key_name(text, k))
            .collect();
        // `n` is a YAML 1.1 boolean; as a key it stays the name written.
        assert_eq!(keys, ["name", "parameters", "rhs", "n", "list"]);
        assert_eq!(text_at(&entries[0].1, text), "X");
        let a = &entries[1].1.entries().unwrap()[0].1;
        let value = &a.entries().unwrap()[0].1;
        assert!(matches!(value.kind, Kind::Float(v) if v == 1.5));
        assert_eq!(text_at(value, text), "1.5");
        assert_eq!(text_at(&entries[2].1, text), "\"v = c\"");
        let Kind::Seq(items) = &entries[4].1.kind else {
            panic!("a list")
        };
        assert!(matches!(items[1].kind, Kind::Float(v) if v == f64::INFINITY));
    }

    #[test]
    fn syntax_errors_point_into_the_text() {
        let text = "a: 1\nb: [1, 2\n";
        let d = parse(FileId(0), text).unwrap_err();
        assert_eq!(d.code, "yaml-syntax");
        assert!(d.span.is_some());
    }

    #[test]
    fn line_and_column_to_offsets() {
        let text = "ab\nc\u{e9}d\n";
        assert_eq!(line_col_to_offset(text, 1, 1), 0);
        assert_eq!(line_col_to_offset(text, 2, 3), 6);
        assert_eq!(line_col_to_offset(text, 9, 1), text.len());
    }
}
