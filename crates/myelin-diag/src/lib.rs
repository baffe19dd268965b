//! Source files, spans and diagnostics.
//!
//! Every front end reports problems as [`Diagnostic`]s that point into a [`SourceMap`] by
//! [`Span`]. Rendering is a pure function of the two: [`render_text`] gives the
//! `file:line:col: error[code]: message` form with the source line and a caret, and
//! [`render_json`] gives one JSON object per diagnostic for tools.
//!
//! Nothing here does I/O: sources are added as strings by whoever reads them.

#![forbid(unsafe_code)]

pub mod suggest;

use std::fmt::Write as _;

/// Index of a file in a [`SourceMap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u32);

/// A byte range in one source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Self {
        let clamp = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
        Span { file, start: clamp(start), end: clamp(end.max(start)) }
    }

    /// A sub-range of this span, given byte offsets relative to its start (clamped to the span).
    pub fn sub(self, start: u32, end: u32) -> Span {
        let len = self.end - self.start;
        Span { file: self.file, start: self.start + start.min(len), end: self.start + end.min(len).max(start.min(len)) }
    }
}

/// One source file: its name as the user should see it, and its text.
#[derive(Debug)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
    /// Byte offsets of line starts, computed on first use (most files never need them).
    line_starts: std::sync::OnceLock<Vec<u32>>,
}

impl SourceFile {
    fn new(name: String, text: String) -> Self {
        SourceFile { name, text, line_starts: std::sync::OnceLock::new() }
    }

    fn line_starts(&self) -> &[u32] {
        self.line_starts.get_or_init(|| {
            let mut starts = vec![0];
            starts.extend(memchr_newlines(self.text.as_bytes()).map(|k| u32::try_from(k + 1).unwrap_or(u32::MAX)));
            starts
        })
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: u32) -> (usize, usize) {
        let offset = offset.min(u32::try_from(self.text.len()).unwrap_or(u32::MAX));
        let line_starts = self.line_starts();
        let line = line_starts.partition_point(|&s| s <= offset) - 1;
        let start = line_starts[line] as usize;
        let mut end = offset as usize;
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        let col = self.text[start..end].chars().count() + 1;
        (line + 1, col)
    }

    /// Text of a 1-based line, without its line terminator.
    pub fn line_text(&self, line: usize) -> &str {
        let line_starts = self.line_starts();
        let Some(&start) = line_starts.get(line.wrapping_sub(1)) else { return "" };
        let end = line_starts.get(line).map_or(self.text.len(), |&e| e as usize);
        self.text[start as usize..end].trim_end_matches(['\n', '\r'])
    }
}

fn memchr_newlines(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(k, _)| k)
}

/// All sources read during one run.
#[derive(Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        let id = FileId(u32::try_from(self.files.len()).unwrap_or(u32::MAX));
        self.files.push(SourceFile::new(name.into(), text.into()));
        id
    }

    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    pub fn files(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files.iter().enumerate().map(|(k, f)| (FileId(u32::try_from(k).unwrap_or(u32::MAX)), f))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Note,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// A secondary location with its own message.
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

/// One problem found in the user's input.
///
/// `code` is a stable kebab-case identifier (`unknown-type`, `dimension-mismatch`, ...) that
/// tests and tools match on; `message` is for people.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: &'static str,
    pub message: String,
    pub span: Option<Span>,
    pub labels: Vec<Label>,
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Error, code, message: message.into(), span: None, labels: vec![], notes: vec![] }
    }

    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, ..Self::error(code, message) }
    }

    #[must_use]
    pub fn at(mut self, span: Span) -> Self {
        self.span = Some(span);
        self
    }

    #[must_use]
    pub fn at_opt(mut self, span: Option<Span>) -> Self {
        self.span = span;
        self
    }

    #[must_use]
    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label { span, message: message.into() });
        self
    }

    #[must_use]
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// A list of diagnostics that a phase appends to.
#[derive(Debug, Default)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.items.extend(other);
    }

    /// Makes every warning an error (for `--strict`).
    pub fn promote_warnings(&mut self) {
        for d in &mut self.items {
            if d.severity == Severity::Warning {
                d.severity = Severity::Error;
            }
        }
    }

    /// Sorts by file, then position, keeping the order of diagnostics at the same place.
    pub fn sort(&mut self) {
        self.items.sort_by_key(|d| d.span.map(|s| (s.file, s.start)));
    }

    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.items
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

/// Where a diagnostic points, resolved to a file name, line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

pub fn locate(map: &SourceMap, span: Span) -> Option<Location> {
    let f = map.get(span.file)?;
    let (line, column) = f.line_col(span.start);
    Some(Location { file: f.name.clone(), line, column })
}

/// Renders a diagnostic the way compilers do:
///
/// ```text
/// cells.nml:12:5: error[unknown-type]: unknown component type `izhikevich2007Cel`
///    |
/// 12 |     <izhikevich2007Cel id="iz"/>
///    |     ^^^^^^^^^^^^^^^^^^
///    = note: did you mean `izhikevich2007Cell`?
/// ```
pub fn render_text(map: &SourceMap, d: &Diagnostic) -> String {
    let mut out = String::new();
    let head = format!("{}[{}]: {}", d.severity.as_str(), d.code, d.message);
    match d.span.and_then(|s| Some((s, map.get(s.file)?))) {
        Some((span, file)) => {
            let (line, col) = file.line_col(span.start);
            let _ = writeln!(out, "{}:{line}:{col}: {head}", file.name);
            snippet(&mut out, file, span, line, col, "");
        }
        None => {
            let _ = writeln!(out, "{head}");
        }
    }
    for label in &d.labels {
        if let Some(file) = map.get(label.span.file) {
            let (line, col) = file.line_col(label.span.start);
            let _ = writeln!(out, "  --> {}:{line}:{col}: {}", file.name, label.message);
            snippet(&mut out, file, label.span, line, col, "");
        }
    }
    for note in &d.notes {
        let _ = writeln!(out, "   = note: {note}");
    }
    out
}

fn snippet(out: &mut String, file: &SourceFile, span: Span, line: usize, col: usize, label: &str) {
    const MAX_SHOWN: usize = 200;
    let text = file.line_text(line);
    let gutter = line.to_string().len();
    let shown: String = text.chars().take(MAX_SHOWN).collect();
    let ellipsis = if text.chars().count() > MAX_SHOWN { " ..." } else { "" };
    let (end_line, end_col) = file.line_col(span.end);
    let width = if end_line == line { end_col.saturating_sub(col).max(1) } else { text.chars().count().saturating_sub(col - 1).max(1) };
    let width = width.min(MAX_SHOWN.saturating_sub(col - 1).max(1));
    // Keep tabs so the caret lines up under the source in any terminal.
    let pad: String = text.chars().take(col - 1).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
    let _ = writeln!(out, "{:gutter$} |", "");
    let _ = writeln!(out, "{line} | {shown}{ellipsis}");
    let _ = writeln!(out, "{:gutter$} | {pad}{}{}", "", "^".repeat(width), if label.is_empty() { String::new() } else { format!(" {label}") });
}

/// One JSON object per diagnostic, with resolved locations.
pub fn to_json(map: &SourceMap, d: &Diagnostic) -> serde_json::Value {
    let loc = |s: Span| {
        locate(map, s).map(|l| {
            let (end_line, end_col) = map.get(s.file).map_or((l.line, l.column), |f| f.line_col(s.end));
            serde_json::json!({"file": l.file, "line": l.line, "column": l.column, "end_line": end_line, "end_column": end_col})
        })
    };
    serde_json::json!({
        "severity": d.severity.as_str(),
        "code": d.code,
        "message": d.message,
        "location": d.span.and_then(loc),
        "labels": d.labels.iter().map(|l| serde_json::json!({"message": l.message, "location": loc(l.span)})).collect::<Vec<_>>(),
        "notes": d.notes,
    })
}

/// All diagnostics as one JSON array.
pub fn render_json<'a>(map: &SourceMap, ds: impl IntoIterator<Item = &'a Diagnostic>) -> String {
    let arr: Vec<_> = ds.into_iter().map(|d| to_json(map, d)).collect();
    serde_json::to_string_pretty(&arr).unwrap_or_else(|_| "[]".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_location_line_and_caret() {
        let mut map = SourceMap::new();
        let text = "<Lems>\n  <izhikevich2007Cel id=\"iz\"/>\n</Lems>\n";
        let f = map.add("cells.xml", text);
        let start = text.find("izh").unwrap();
        let d = Diagnostic::error("unknown-type", "unknown component type `izhikevich2007Cel`")
            .at(Span::new(f, start, start + 17))
            .with_note("did you mean `izhikevich2007Cell`?");
        let r = render_text(&map, &d);
        assert_eq!(
            r,
            "cells.xml:2:4: error[unknown-type]: unknown component type `izhikevich2007Cel`\n  |\n2 |   <izhikevich2007Cel id=\"iz\"/>\n  |    ^^^^^^^^^^^^^^^^^\n   = note: did you mean `izhikevich2007Cell`?\n"
        );
        let j = to_json(&map, &d);
        assert_eq!(j["location"]["line"], 2);
        assert_eq!(j["location"]["column"], 4);
        assert_eq!(j["code"], "unknown-type");
    }

    #[test]
    fn columns_count_characters_and_clamp() {
        let mut map = SourceMap::new();
        let f = map.add("u.xml", "é<a/>\nlast");
        let file = map.get(f).unwrap();
        assert_eq!(file.line_col(2), (1, 2));
        assert_eq!(file.line_col(9999), (2, 5));
        assert_eq!(file.line_text(3), "");
        let d = Diagnostic::error("x", "m").at(Span::new(f, 500, 600));
        assert!(render_text(&map, &d).starts_with("u.xml:2:5:"));
    }
}
