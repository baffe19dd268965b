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
        && t.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-' | '_'));
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
            format!("the YAML file is larger than {} MiB", MAX_YAML_BYTES / (1024 * 1024)),
        )
        .at(Span::new(file, 0, 0)));
    }
    // `.inf` and `.nan` are numbers (TVBO writes `hi: .inf` for unbounded domains).
    let opts = serde_saphyr::options! { non_finite_float_policy: serde_saphyr::NonFiniteFloatPolicy::PassThrough };
    let doc: Result<Option<Spanned<Raw>>, serde_saphyr::Error> = serde_saphyr::from_str_with_options(text, opts);
    match doc {
        Ok(Some(raw)) => Ok(convert(file, text, raw)),
        Ok(None) => Ok(Node { kind: Kind::Null, span: Span::new(file, 0, 0) }),
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

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_string()
}

/// The byte span of a saphyr location: its byte offsets when known, else computed from its
/// 1-based line and character column.
fn location_span(file: FileId, text: &str, loc: &serde_saphyr::Location) -> Span {
    let span = loc.span();
    if let (Some(start), Some(len)) = (span.byte_offset(), span.byte_len()) {
        let start = usize::try_from(start).unwrap_or(usize::MAX).min(text.len());
        let end = start.saturating_add(usize::try_from(len).unwrap_or(0)).min(text.len());
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
    offset + line_text.char_indices().nth(col).map_or(line_text.len(), |(k, _)| k)
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

    fn dump(n: &Node, text: &str, out: &mut String, depth: usize) {
        let snippet = &text[n.span.start as usize..n.span.end as usize];
        out.push_str(&format!("{}{:?}@{}..{} {:?}\n", " ".repeat(depth), std::mem::discriminant(&n.kind), n.span.start, n.span.end, snippet));
        match &n.kind {
            Kind::Seq(v) => v.iter().for_each(|x| dump(x, text, out, depth + 1)),
            Kind::Map(m) => m.iter().for_each(|(k, v)| {
                dump(k, text, out, depth + 1);
                dump(v, text, out, depth + 2);
            }),
            _ => {}
        }
    }

    #[test]
    fn explore() {
        let text = "name: X\nparameters:\n  a:\n    value: 1.0\n    unit: ms\n  b: {value: 2}\nrhs: \"v = c; U = U + d\"\nr2: v > thresh\nlist: [1, 2.5]\nn:\nblock: >\n  abc\n  def\nb: true\nq: '800.0'\n";
        let file = FileId(0);
        let n = parse(file, text).unwrap();
        let mut out = String::new();
        dump(&n, text, &mut out, 0);
        println!("{out}");
    }
}
