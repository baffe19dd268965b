//! XML text → a compact element tree that borrows the source.
//!
//! A single pass over the text that checks it the way roxmltree (the parser the reader used
//! before) does, with the same error messages and positions, so diagnostics did not change:
//!
//! - DTDs are refused (no entity expansion, no external entities); the only references are the
//!   five predefined entities and character references;
//! - names, attribute syntax, end tags, comments, CDATA sections, processing instructions and
//!   the XML declaration are checked; only XML characters are accepted;
//! - attributes are unique per element (by namespace and local name) and prefixes must be
//!   declared;
//! - nothing but whitespace, comments and processing instructions may surround the root.
//!
//! The tree is a flat list of elements in document order, built without recursion, so any
//! nesting depth is safe here (the reader limits how deep it descends). Only what the reader
//! needs is kept: elements, their attributes (values normalised as XML requires, borrowed
//! unless they contain references or whitespace other than spaces), their character data and
//! byte ranges. Attribute positions and exact error positions are why this does not use a
//! tokenizer such as quick-xml: every tag would have to be scanned twice.

use std::borrow::Cow;
use std::ops::Range;

/// Most XML nodes (elements, text runs, comments, processing instructions) accepted in one
/// document, counting the document itself.
pub(crate) const MAX_NODES: u64 = 50_000_000;

const NONE: u32 = u32::MAX;
const NS_XML_URI: &str = "http://www.w3.org/XML/1998/namespace";
const NS_XMLNS_URI: &str = "http://www.w3.org/2000/xmlns/";

/// A document that is not well-formed XML, or that is refused.
#[derive(Debug)]
pub(crate) struct XmlError {
    /// Byte offset the error points at.
    pub(crate) offset: usize,
    /// What is wrong (without a position, except where the wording itself has one).
    pub(crate) message: String,
    /// The document has a DTD.
    pub(crate) dtd: bool,
}

/// Errors are boxed: the hot paths return small `Result`s.
pub(crate) type Error = Box<XmlError>;

/// A parsed document.
pub(crate) struct Document<'s> {
    src: &'s str,
    elems: Vec<ElemData>,
    attrs: Vec<AttrData>,
    /// Attribute values that differ from their source text (references, normalised whitespace).
    owned: Vec<String>,
    /// Text content of the elements that have some.
    texts: Vec<Cow<'s, str>>,
    /// Every namespace declaration; entry 0 is the predefined `xml` prefix.
    namespaces: Vec<Namespace<'s>>,
}

struct ElemData {
    /// `<` of the start tag.
    start: u32,
    /// Just after the `>` of the end tag (of the start tag for an empty element).
    end: u32,
    /// Start of the local name (after `prefix:`).
    local_start: u32,
    /// End of the qualified name.
    qname_end: u32,
    attrs_start: u32,
    attrs_end: u32,
    /// Index of the first element after this element's subtree.
    next: u32,
    /// Content between the start and end tags (empty for `<a/>`).
    inner_start: u32,
    inner_end: u32,
    /// Index into `texts`, or NONE.
    text: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum AttrKind {
    /// `name="..."`.
    Plain,
    /// `prefix:name="..."`.
    Prefixed,
    /// `xmlns:p="..."`, `xmlns="..."` (or, as roxmltree has it, `q:xmlns="..."`): a namespace
    /// declaration, not an attribute.
    Declaration,
}

struct AttrData {
    /// Start of the qualified name.
    start: u32,
    local_start: u32,
    qname_end: u32,
    value_start: u32,
    value_end: u32,
    /// Index into `owned`, or NONE when the value is the source text.
    owned: u32,
    /// For `Prefixed`, the namespace (index into `namespaces`); for `Declaration`, the
    /// declared namespace, or NONE for the redundant `xmlns:xml` declaration.
    ns: u32,
    kind: AttrKind,
}

struct Namespace<'s> {
    prefix: Option<&'s str>,
    uri: Cow<'s, str>,
}

impl<'s> Document<'s> {
    #[inline]
    pub(crate) fn root_element(&self) -> Node<'_, 's> {
        Node { doc: self, id: 0 }
    }

    #[inline]
    fn attr_value(&self, a: &AttrData) -> &str {
        if a.owned == NONE {
            &self.src[a.value_start as usize..a.value_end as usize]
        } else {
            &self.owned[a.owned as usize]
        }
    }
}

/// An element.
#[derive(Clone, Copy)]
pub(crate) struct Node<'a, 's> {
    doc: &'a Document<'s>,
    id: u32,
}

impl<'a, 's> Node<'a, 's> {
    #[inline]
    fn data(&self) -> &'a ElemData {
        &self.doc.elems[self.id as usize]
    }

    /// The local name (without a namespace prefix).
    #[inline]
    pub(crate) fn name(&self) -> &'a str {
        let d = self.data();
        &self.doc.src[d.local_start as usize..d.qname_end as usize]
    }

    /// The whole element, from `<` to the end of its end tag.
    #[inline]
    pub(crate) fn range(&self) -> Range<usize> {
        let d = self.data();
        d.start as usize..d.end as usize
    }

    /// The qualified name in the start tag.
    #[inline]
    pub(crate) fn name_range(&self) -> Range<usize> {
        let d = self.data();
        d.start as usize + 1..d.qname_end as usize
    }

    /// The source text between the start and end tags (empty for `<a/>`).
    pub(crate) fn inner_text(&self) -> &'a str {
        let d = self.data();
        &self.doc.src[d.inner_start as usize..d.inner_end as usize]
    }

    /// The element's character data (text and CDATA children, references resolved, line ends
    /// normalised), concatenated; leading whitespace-only pieces are left out. `None` when
    /// there is nothing but whitespace.
    #[inline]
    pub(crate) fn text(&self) -> Option<&'a str> {
        let t = self.data().text;
        (t != NONE).then(|| self.doc.texts[t as usize].as_ref())
    }

    #[inline]
    fn raw_attrs(&self) -> &'a [AttrData] {
        let d = self.data();
        &self.doc.attrs[d.attrs_start as usize..d.attrs_end as usize]
    }

    /// Attributes in document order; namespace declarations are not attributes.
    #[inline]
    pub(crate) fn attributes(&self) -> impl Iterator<Item = Attr<'a, 's>> + use<'a, 's> {
        let doc = self.doc;
        self.raw_attrs().iter().filter(|a| a.kind != AttrKind::Declaration).map(move |a| Attr { doc, data: a })
    }

    /// The first attribute whose local name is `name`, whatever its namespace (as roxmltree
    /// looks attributes up).
    #[inline]
    pub(crate) fn attribute_node(&self, name: &str) -> Option<Attr<'a, 's>> {
        let doc = self.doc;
        self.raw_attrs()
            .iter()
            .find(|a| a.kind != AttrKind::Declaration && &doc.src[a.local_start as usize..a.qname_end as usize] == name)
            .map(|a| Attr { doc, data: a })
    }

    /// The value of the first attribute whose local name is `name`.
    #[inline]
    pub(crate) fn attribute(&self, name: &str) -> Option<&'a str> {
        self.attribute_node(name).map(|a| a.value())
    }

    /// Child elements in document order.
    #[inline]
    pub(crate) fn children(&self) -> Children<'a, 's> {
        Children { doc: self.doc, next: self.id + 1, end: self.data().next }
    }

    /// The namespaces this element declares, in document order, as (prefix, URI); the
    /// default namespace has no prefix.
    pub(crate) fn namespaces(&self) -> impl Iterator<Item = (Option<&'a str>, &'a str)> + use<'a, 's> {
        let doc = self.doc;
        self.raw_attrs().iter().filter(|a| a.kind == AttrKind::Declaration && a.ns != NONE).map(move |a| {
            let ns = &doc.namespaces[a.ns as usize];
            (ns.prefix, ns.uri.as_ref())
        })
    }
}

/// Child elements of an element.
pub(crate) struct Children<'a, 's> {
    doc: &'a Document<'s>,
    next: u32,
    end: u32,
}

impl<'a, 's> Iterator for Children<'a, 's> {
    type Item = Node<'a, 's>;

    #[inline]
    fn next(&mut self) -> Option<Node<'a, 's>> {
        if self.next >= self.end {
            return None;
        }
        let id = self.next;
        self.next = self.doc.elems[id as usize].next;
        Some(Node { doc: self.doc, id })
    }
}

/// An attribute.
#[derive(Clone, Copy)]
pub(crate) struct Attr<'a, 's> {
    doc: &'a Document<'s>,
    data: &'a AttrData,
}

impl<'a> Attr<'a, '_> {
    /// The local name (without a namespace prefix).
    #[inline]
    pub(crate) fn name(&self) -> &'a str {
        &self.doc.src[self.data.local_start as usize..self.data.qname_end as usize]
    }

    /// Whether the local name is `name`.
    #[inline]
    pub(crate) fn name_is(&self, name: &str) -> bool {
        &self.doc.src.as_bytes()[self.data.local_start as usize..self.data.qname_end as usize] == name.as_bytes()
    }

    /// Whether the attribute has a namespace (a prefix).
    #[inline]
    pub(crate) fn has_namespace(&self) -> bool {
        self.data.kind == AttrKind::Prefixed
    }

    /// The namespace URI of a prefixed attribute.
    #[inline]
    pub(crate) fn namespace(&self) -> Option<&'a str> {
        match self.data.kind {
            AttrKind::Prefixed => Some(self.doc.namespaces[self.data.ns as usize].uri.as_ref()),
            _ => None,
        }
    }

    /// The value, references resolved and whitespace normalised.
    #[inline]
    pub(crate) fn value(&self) -> &'a str {
        self.doc.attr_value(self.data)
    }

    /// The qualified name.
    #[inline]
    pub(crate) fn range_qname(&self) -> Range<usize> {
        self.data.start as usize..self.data.qname_end as usize
    }

    /// The value as written, between the quotes.
    #[inline]
    pub(crate) fn range_value(&self) -> Range<usize> {
        self.data.value_start as usize..self.data.value_end as usize
    }
}

// ---------------------------------------------------------------------------------------------
// Byte classes

const NAME_START: u8 = 1;
const NAME: u8 = 2;
/// An ASCII name character other than `:`.
const NAME_NC: u8 = 16;
const SPACE: u8 = 4;
/// Ends the fast scan of an attribute value: quotes, `<`, `&`, control characters, non-ASCII.
const VALUE_STOP: u8 = 8;

const fn byte_classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut c = 0;
        if matches!(b, b'A'..=b'Z' | b'a'..=b'z' | b':' | b'_') {
            c |= NAME_START | NAME;
        }
        if matches!(b, b'0'..=b'9' | b'-' | b'.') {
            c |= NAME;
        }
        if matches!(b, b'A'..=b'Z' | b'a'..=b'z' | b'_' | b'0'..=b'9' | b'-' | b'.') {
            c |= NAME_NC;
        }
        if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            c |= SPACE;
        }
        if matches!(b, b'"' | b'\'' | b'<' | b'&') || b < 0x20 || b >= 0x80 {
            c |= VALUE_STOP;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static CLASS: [u8; 256] = byte_classes();

// Flags of a piece of text.
const T_BAD: u8 = 1; // a control character other than tab, line feed, carriage return
const T_CR: u8 = 2;
const T_AMP: u8 = 4;
const T_GT: u8 = 8;
const T_HIGH: u8 = 16; // non-ASCII: U+FFFE and U+FFFF are not XML characters

const fn text_classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = match b {
            b'\r' => T_CR,
            b'\t' | b'\n' => 0,
            0..=0x1f => T_BAD,
            b'&' => T_AMP,
            b'>' => T_GT,
            0x80..=0xff => T_HIGH,
            _ => 0,
        };
        i += 1;
    }
    t
}

static TEXT_CLASS: [u8; 256] = text_classes();

fn is_space(b: u8) -> bool {
    CLASS[b as usize] & SPACE != 0
}

fn is_xml_char(c: char) -> bool {
    if (c as u32) < 0x20 {
        return matches!(c, '\t' | '\n' | '\r');
    }
    !matches!(c as u32, 0xFFFE | 0xFFFF)
}

fn is_name_start_char(c: char) -> bool {
    if (c as u32) <= 128 {
        return (c as u32) < 128 && CLASS[c as usize] & NAME_START != 0;
    }
    matches!(c as u32,
        0xC0..=0xD6 | 0xD8..=0xF6 | 0xF8..=0x2FF | 0x370..=0x37D | 0x37F..=0x1FFF | 0x200C..=0x200D
        | 0x2070..=0x218F | 0x2C00..=0x2FEF | 0x3001..=0xD7FF | 0xF900..=0xFDCF | 0xFDF0..=0xFFFD
        | 0x10000..=0xEFFFF)
}

fn is_name_char(c: char) -> bool {
    if (c as u32) <= 128 {
        return (c as u32) < 128 && CLASS[c as usize] & NAME != 0;
    }
    matches!(c as u32,
        0xB7 | 0xC0..=0xD6 | 0xD8..=0xF6 | 0xF8..=0x2FF | 0x300..=0x36F | 0x370..=0x37D
        | 0x37F..=0x1FFF | 0x200C..=0x200D | 0x203F..=0x2040 | 0x2070..=0x218F | 0x2C00..=0x2FEF
        | 0x3001..=0xD7FF | 0xF900..=0xFDCF | 0xFDF0..=0xFFFD | 0x10000..=0xEFFFF)
}

/// `\r\n` and a lone `\r` become `\n` (XML's end-of-line handling).
fn normalise_line_ends(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(k) = rest.find('\r') {
        out.push_str(&rest[..k]);
        out.push('\n');
        rest = &rest[k + 1..];
        if let Some(r) = rest.strip_prefix('\n') {
            rest = r;
        }
    }
    out.push_str(rest);
    out
}

fn append_text<'s>(acc: &mut Option<Cow<'s, str>>, piece: Cow<'s, str>) {
    match acc {
        None => *acc = Some(piece),
        Some(a) => a.to_mut().push_str(&piece),
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the root element.
    Prolog,
    /// Inside the root element.
    Content,
    /// After the root element.
    Epilog,
}

struct Frame<'s> {
    elem: u32,
    /// Length of the namespace scope before this element's declarations.
    scope_len: u32,
    text: Option<Cow<'s, str>>,
}

/// What a start tag turned out to be.
struct StartTag {
    elem: u32,
    end: usize,
    empty: bool,
    scope_len: u32,
}

struct Builder<'s> {
    src: &'s str,
    b: &'s [u8],
    doc: Document<'s>,
    /// Namespaces in scope (indices into `doc.namespaces`), innermost last.
    scope: Vec<u32>,
    /// Length of the scope before the declarations of the start tag being read.
    tag_scope: usize,
    nodes: u64,
}

/// Parses a document.
pub(crate) fn parse(src: &str) -> Result<Document<'_>, Error> {
    if src.len() >= NONE as usize {
        return Err(Box::new(XmlError { offset: 0, message: "the document is larger than 4 GiB".to_string(), dtd: false }));
    }
    let mut p = Builder {
        src,
        b: src.as_bytes(),
        doc: Document {
            src,
            elems: Vec::with_capacity(src.len() / 64),
            attrs: Vec::with_capacity(src.len() / 24),
            owned: vec![],
            texts: vec![],
            namespaces: vec![Namespace { prefix: Some("xml"), uri: Cow::Borrowed(NS_XML_URI) }],
        },
        scope: vec![],
        tag_scope: 0,
        nodes: 1,
    };
    let b = src.as_bytes();
    let mut stack: Vec<Frame<'_>> = vec![];
    let mut state = State::Prolog;
    // A byte order mark, then perhaps the XML declaration.
    let mut k = if src.starts_with('\u{FEFF}') { 3 } else { 0 };
    if src[k..].starts_with("<?xml ") {
        k = p.declaration(k)?;
    }
    // Whether the previous node was character data (text and CDATA make one node).
    let mut after_text = false;
    while k < b.len() {
        if b[k] != b'<' {
            // Character data, up to the next markup.
            let start = k;
            let mut flags = 0;
            while k < b.len() && b[k] != b'<' {
                flags |= TEXT_CLASS[b[k] as usize];
                k += 1;
            }
            match stack.last_mut() {
                Some(frame) => {
                    if !after_text {
                        p.count_node()?;
                    }
                    after_text = true;
                    p.text(start, k, flags, &mut frame.text)?;
                }
                None => {
                    if let Some(j) = (start..k).find(|&j| !is_space(b[j])) {
                        return Err(unknown_token(j));
                    }
                }
            }
            continue;
        }
        let rest = &src[k..];
        let next = b.get(k + 1).copied();
        let was_text = std::mem::replace(&mut after_text, false);
        if next == Some(b'!') && rest.starts_with("<!--") {
            k = p.comment(k)?;
            p.count_node()?;
            continue;
        }
        if next == Some(b'?') {
            if rest.starts_with("<?xml ") {
                return Err(unexpected_declaration(k));
            }
            k = p.pi(k)?;
            p.count_node()?;
            continue;
        }
        match state {
            State::Epilog => return Err(unknown_token(k)),
            State::Prolog if rest.starts_with("<!DOCTYPE") => return Err(p.dtd(k)),
            State::Content if next.is_none() => return Err(unknown_token(k)),
            State::Content if next == Some(b'!') => {
                if !rest.starts_with("<![CDATA[") {
                    return Err(unknown_token(k));
                }
                if !was_text {
                    p.count_node()?;
                }
                after_text = true;
                let Some(frame) = stack.last_mut() else { return Err(unknown_token(k)) };
                k = p.cdata(k, &mut frame.text)?;
            }
            State::Content if next == Some(b'/') => {
                let Some(frame) = stack.pop() else { return Err(unknown_token(k)) };
                let end = p.end_tag(k, frame.elem)?;
                let text = match frame.text {
                    Some(t) => {
                        p.doc.texts.push(t);
                        p.doc.texts.len() as u32 - 1
                    }
                    None => NONE,
                };
                let n = p.doc.elems.len() as u32;
                let e = &mut p.doc.elems[frame.elem as usize];
                e.end = end as u32;
                e.inner_end = k as u32;
                e.next = n;
                e.text = text;
                p.scope.truncate(frame.scope_len as usize);
                if stack.is_empty() {
                    state = State::Epilog;
                }
                k = end;
            }
            // A start tag (in the prolog, also anything else that begins with `<`).
            _ => {
                let Some(tag) = p.start_tag(k)? else {
                    return Err(p.truncated(state));
                };
                p.count_node()?;
                k = tag.end;
                if tag.empty {
                    let n = p.doc.elems.len() as u32;
                    p.doc.elems[tag.elem as usize].next = n;
                    p.scope.truncate(tag.scope_len as usize);
                    if stack.is_empty() {
                        state = State::Epilog;
                    }
                } else {
                    stack.push(Frame { elem: tag.elem, scope_len: tag.scope_len, text: None });
                    state = State::Content;
                }
            }
        }
    }
    if state != State::Epilog {
        return Err(p.truncated(state));
    }
    let mut doc = p.doc;
    doc.elems.shrink_to_fit();
    doc.attrs.shrink_to_fit();
    Ok(doc)
}

#[cold]
fn error(offset: usize, message: impl Into<String>) -> Error {
    Box::new(XmlError { offset, message: message.into(), dtd: false })
}

#[cold]
fn invalid_name(at: usize) -> Error {
    error(at, "invalid name token")
}

#[cold]
fn unknown_token(at: usize) -> Error {
    error(at, "unknown token")
}

#[cold]
fn end_of_stream() -> Error {
    error(0, "unexpected end of stream")
}

#[cold]
fn unexpected_declaration(at: usize) -> Error {
    error(at, "unexpected XML declaration")
}

#[cold]
fn invalid_char(expected: u8, actual: u8, at: usize) -> Error {
    error(at, format!("expected '{}' not '{}'", expected as char, actual as char))
}

#[cold]
fn invalid_char2(expected: &str, actual: u8, at: usize) -> Error {
    error(at, format!("expected {expected} not '{}'", actual as char))
}

#[cold]
fn invalid_string(expected: &str, at: usize) -> Error {
    error(at, format!("expected '{expected}'"))
}

#[cold]
fn non_xml_char(c: char, at: usize) -> Error {
    error(at, format!("a non-XML character {c:?} found"))
}

#[cold]
fn malformed_reference(at: usize) -> Error {
    error(at, "malformed entity reference")
}

impl<'s> Builder<'s> {
    /// roxmltree's `row:col` of a byte offset, for the messages that include one.
    fn text_pos(&self, offset: usize) -> String {
        let mut offset = offset.min(self.src.len());
        while !self.src.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.src[..offset];
        let row = before.bytes().filter(|&b| b == b'\n').count() + 1;
        let col = before.chars().rev().take_while(|&c| c != '\n').count() + 1;
        format!("{row}:{col}")
    }

    fn dtd(&self, at: usize) -> Error {
        Box::new(XmlError { offset: at, message: "XML with DTD detected".to_string(), dtd: true })
    }

    /// The input ended inside the document.
    fn truncated(&self, state: State) -> Error {
        match state {
            State::Prolog => error(0, "the document does not have a root node"),
            _ => error(0, "the root node was opened but never closed"),
        }
    }

    fn count_node(&mut self) -> Result<(), Error> {
        if self.nodes >= MAX_NODES {
            return Err(error(0, "nodes limit reached"));
        }
        self.nodes += 1;
        Ok(())
    }

    #[inline(always)]
    fn skip_spaces(&self, mut k: usize) -> usize {
        while k < self.b.len() && is_space(self.b[k]) {
            k += 1;
        }
        k
    }

    #[inline(always)]
    fn consume_byte(&self, k: usize, c: u8) -> Result<usize, Error> {
        match self.b.get(k) {
            None => Err(end_of_stream()),
            Some(&x) if x == c => Ok(k + 1),
            Some(&x) => Err(invalid_char(c, x, k)),
        }
    }

    /// `S? '=' S?`.
    #[inline(always)]
    fn consume_eq(&self, k: usize) -> Result<usize, Error> {
        let k = self.skip_spaces(k);
        let k = self.consume_byte(k, b'=')?;
        Ok(self.skip_spaces(k))
    }

    #[inline(always)]
    fn consume_quote(&self, k: usize) -> Result<u8, Error> {
        match self.b.get(k) {
            None => Err(end_of_stream()),
            Some(&q) if q == b'"' || q == b'\'' => Ok(q),
            Some(&x) => Err(invalid_char2("a quote", x, k)),
        }
    }

    fn char_at(&self, k: usize) -> Option<char> {
        self.src.get(k..).and_then(|s| s.chars().next())
    }

    /// Whether a name may start at `k`.
    #[inline(always)]
    fn name_start_at(&self, k: usize) -> bool {
        match self.b.get(k) {
            Some(&c) if c < 0x80 => CLASS[c as usize] & NAME_START != 0,
            Some(_) => self.char_at(k).is_some_and(is_name_start_char),
            None => false,
        }
    }

    /// A qualified name `prefix:local` or `local` at `start`; returns (start of the local
    /// name, end). As in roxmltree, `:local` is a name with an empty prefix.
    #[inline(always)]
    fn qname(&self, start: usize) -> Result<(usize, usize), Error> {
        let b = self.b;
        let mut k = start;
        while k < b.len() && CLASS[b[k] as usize] & NAME_NC != 0 {
            k += 1;
        }
        let mut colon = None;
        while k < b.len() {
            let c = b[k];
            if c < 0x80 {
                if c == b':' {
                    if colon.is_some() {
                        return Err(invalid_name(start));
                    }
                    colon = Some(k);
                    k += 1;
                } else if CLASS[c as usize] & NAME != 0 {
                    k += 1;
                } else {
                    break;
                }
            } else {
                match self.char_at(k) {
                    Some(ch) if is_name_char(ch) => k += ch.len_utf8(),
                    _ => break,
                }
            }
        }
        let local = match colon {
            Some(c) => {
                if c > start && !self.name_start_at(start) {
                    return Err(invalid_name(start));
                }
                c + 1
            }
            None => start,
        };
        if local >= k || !self.name_start_at(local) {
            return Err(invalid_name(start));
        }
        Ok((local, k))
    }

    /// A name (a processing instruction's target, an entity's name) at `start`; returns its end.
    fn name(&self, start: usize) -> Result<usize, Error> {
        let mut k = start;
        match self.char_at(k) {
            Some(c) if is_name_start_char(c) => k += c.len_utf8(),
            _ => return Err(invalid_name(start)),
        }
        while let Some(c) = self.char_at(k) {
            if !is_name_char(c) {
                break;
            }
            k += c.len_utf8();
        }
        Ok(k)
    }

    /// The first character in `from..to` that XML does not allow.
    fn bad_char(&self, from: usize, to: usize) -> Option<(usize, char)> {
        let s = &self.src[from..to];
        if s.is_ascii() {
            s.bytes().position(|b| b < 0x20 && !is_space(b)).map(|k| (from + k, char::from(s.as_bytes()[k])))
        } else {
            s.char_indices().find(|&(_, c)| !is_xml_char(c)).map(|(k, c)| (from + k, c))
        }
    }

    fn check_chars(&self, from: usize, to: usize) -> Result<(), Error> {
        match self.bad_char(from, to) {
            Some((k, c)) => Err(non_xml_char(c, k)),
            None => Ok(()),
        }
    }

    /// A reference `&name;`, `&#N;` or `&#xH;` at `amp`, reading no further than `end`.
    /// Returns the character and the end of the reference.
    fn reference(&self, amp: usize, end: usize) -> Result<(char, usize), Error> {
        let b = &self.b[..end];
        let mut k = amp + 1;
        let c = if b.get(k) == Some(&b'#') {
            k += 1;
            let hex = b.get(k) == Some(&b'x');
            if hex {
                k += 1;
            }
            let digits = k;
            while k < end && if hex { b[k].is_ascii_hexdigit() } else { b[k].is_ascii_digit() } {
                k += 1;
            }
            let n = u32::from_str_radix(&self.src[digits..k], if hex { 16 } else { 10 }).map_err(|_| malformed_reference(amp))?;
            let c = char::from_u32(n).unwrap_or('\u{FFFD}');
            if !is_xml_char(c) {
                return Err(malformed_reference(amp));
            }
            Ok(c)
        } else {
            let name_end = match self.name(k) {
                Ok(e) if e <= end => e,
                _ => return Err(malformed_reference(amp)),
            };
            let name = &self.src[k..name_end];
            k = name_end;
            match name {
                "quot" => Ok('"'),
                "amp" => Ok('&'),
                "apos" => Ok('\''),
                "lt" => Ok('<'),
                "gt" => Ok('>'),
                _ => Err(name),
            }
        };
        if b.get(k) != Some(&b';') {
            return Err(malformed_reference(amp));
        }
        match c {
            Ok(c) => Ok((c, k + 1)),
            Err(name) => Err(error(amp, format!("unknown entity reference '{name}'"))),
        }
    }

    /// An attribute value between `start` and `end` as XML normalises it: references resolved,
    /// each tab, line feed, carriage return or `\r\n` a space.
    fn normalise_value(&self, start: usize, end: usize) -> Result<String, Error> {
        let b = self.b;
        let mut out = String::with_capacity(end - start);
        let mut run = start;
        let mut k = start;
        while k < end {
            match b[k] {
                b'&' => {
                    out.push_str(&self.src[run..k]);
                    let (c, next) = self.reference(k, end)?;
                    out.push(c);
                    k = next;
                    run = k;
                }
                b'\r' if k + 1 < end && b[k + 1] == b'\n' => {
                    out.push_str(&self.src[run..k]);
                    k += 1;
                    run = k;
                }
                b'\t' | b'\n' | b'\r' => {
                    out.push_str(&self.src[run..k]);
                    out.push(' ');
                    k += 1;
                    run = k;
                }
                _ => k += 1,
            }
        }
        out.push_str(&self.src[run..end]);
        Ok(out)
    }

    /// A start tag at `start` (`<`). Records the element and its attributes. `None` when the
    /// input ends inside the tag but outside an attribute value (roxmltree then ignores it).
    fn start_tag(&mut self, start: usize) -> Result<Option<StartTag>, Error> {
        let (local, qname_end) = self.qname(start + 1)?;
        let prefix = self.prefix(start + 1, local);
        if prefix == "xmlns" {
            return Err(error(start + 1, format!("the 'xmlns' prefix is used at {}, but it must not be", self.text_pos(start + 1))));
        }
        let b = self.b;
        let attrs_start = self.doc.attrs.len();
        let scope_len = self.scope.len() as u32;
        self.tag_scope = self.scope.len();
        let mut k = qname_end;
        let mut found = None;
        while k < b.len() {
            let has_space = is_space(b[k]);
            k = self.skip_spaces(k);
            let Some(&c) = b.get(k) else { return Err(end_of_stream()) };
            match c {
                b'/' => {
                    k = self.consume_byte(k + 1, b'>')?;
                    found = Some(true);
                    break;
                }
                b'>' => {
                    k += 1;
                    found = Some(false);
                    break;
                }
                _ => {
                    if !has_space {
                        return Err(invalid_char2("a whitespace", c, k));
                    }
                    k = self.attribute(k)?;
                }
            }
        }
        let Some(empty) = found else {
            self.doc.attrs.truncate(attrs_start);
            self.scope.truncate(scope_len as usize);
            return Ok(None);
        };
        self.resolve_attributes(attrs_start)?;
        if !prefix.is_empty() && self.lookup(prefix).is_none() {
            return Err(error(start + 1, format!("an unknown namespace prefix '{prefix}'")));
        }
        let elem = self.doc.elems.len() as u32;
        self.doc.elems.push(ElemData {
            start: start as u32,
            end: k as u32,
            local_start: local as u32,
            qname_end: qname_end as u32,
            attrs_start: attrs_start as u32,
            attrs_end: self.doc.attrs.len() as u32,
            next: NONE,
            inner_start: k as u32,
            inner_end: k as u32,
            text: NONE,
        });
        Ok(Some(StartTag { elem, end: k, empty, scope_len }))
    }

    /// One `name="value"` at `start`; returns where it ends.
    #[inline]
    fn attribute(&mut self, start: usize) -> Result<usize, Error> {
        let b = self.b;
        let (local, qname_end) = self.qname(start)?;
        // Usually `="`: no spaces around `=`.
        let mut k = qname_end;
        let quote = match (b.get(k), b.get(k + 1)) {
            (Some(b'='), Some(&q)) if q == b'"' || q == b'\'' => {
                k += 1;
                q
            }
            _ => {
                k = self.consume_eq(k)?;
                self.consume_quote(k)?
            }
        };
        k += 1;
        let value_start = k;
        let mut special = false; // `&`, tab, line feed, carriage return
        let mut check = false; // control characters or non-ASCII
        loop {
            while k < b.len() && CLASS[b[k] as usize] & VALUE_STOP == 0 {
                k += 1;
            }
            let Some(&c) = b.get(k) else { return Err(end_of_stream()) };
            if c == quote || c == b'<' {
                break;
            }
            match c {
                b'&' | b'\t' | b'\n' | b'\r' => special = true,
                b'"' | b'\'' => {}
                _ => check = true,
            }
            k += 1;
        }
        let value_end = k;
        if check {
            self.check_chars(value_start, value_end)?;
        }
        if b[k] != quote {
            return Err(invalid_char(quote, b[k], k));
        }
        let owned = if special {
            let v = self.normalise_value(value_start, value_end)?;
            self.doc.owned.push(v);
            self.doc.owned.len() as u32 - 1
        } else {
            NONE
        };
        // A prefix is never empty (`:name` has none).
        let prefixed = local > start + 1;
        // As in roxmltree, `xmlns:p` declares a prefix and any other `…xmlns` (even `q:xmlns`)
        // the default namespace.
        let declares_prefix = prefixed && &b[start..local - 1] == b"xmlns";
        let declaration = declares_prefix || &b[local..qname_end] == b"xmlns";
        let (kind, ns) = if declaration {
            (AttrKind::Declaration, self.declare(start, local, qname_end, declares_prefix, value_start, value_end, owned)?)
        } else if prefixed {
            (AttrKind::Prefixed, NONE)
        } else {
            (AttrKind::Plain, NONE)
        };
        self.doc.attrs.push(AttrData {
            start: start as u32,
            local_start: local as u32,
            qname_end: qname_end as u32,
            value_start: value_start as u32,
            value_end: value_end as u32,
            owned,
            ns,
            kind,
        });
        Ok(k + 1)
    }

    /// A namespace declaration `xmlns="uri"` or `xmlns:p="uri"`: checks it and brings it into
    /// scope. Returns the namespace, or NONE for the redundant `xmlns:xml`.
    #[cold]
    #[allow(clippy::too_many_arguments)]
    fn declare(&mut self, start: usize, local: usize, qname_end: usize, declares_prefix: bool, value_start: usize, value_end: usize, owned: u32) -> Result<u32, Error> {
        let uri = if owned == NONE { Cow::Borrowed(&self.src[value_start..value_end]) } else { Cow::Owned(self.doc.owned[owned as usize].clone()) };
        if uri == NS_XMLNS_URI {
            return Err(error(start, format!("the 'xmlns' URI is used at {}, but it must not be declared", self.text_pos(start))));
        }
        let is_xml_uri = uri == NS_XML_URI;
        let declared_prefix = declares_prefix.then(|| &self.src[local..qname_end]);
        match declared_prefix {
            Some("xml") if !is_xml_uri => return Err(error(start, "'xml' namespace prefix mapped to wrong URI")),
            Some("xml") => {}
            _ if is_xml_uri => return Err(error(start, "the 'xml' namespace URI is used for not 'xml' prefix")),
            _ => {}
        }
        if let Some(p) = declared_prefix {
            let duplicate = self.scope[self.tag_scope..].iter().any(|&i| self.doc.namespaces[i as usize].prefix == Some(p));
            if duplicate {
                return Err(error(start, format!("namespace '{p}' at {} is already defined", self.text_pos(start))));
            }
        }
        if is_xml_uri {
            return Ok(NONE);
        }
        self.doc.namespaces.push(Namespace { prefix: declared_prefix, uri });
        let ns = self.doc.namespaces.len() as u32 - 1;
        self.scope.push(ns);
        Ok(ns)
    }

    /// The innermost namespace declared with `prefix`.
    fn lookup(&self, prefix: &str) -> Option<u32> {
        self.scope.iter().rev().copied().find(|&i| self.doc.namespaces[i as usize].prefix == Some(prefix))
    }

    /// Resolves the prefixes of the attributes read since `from` and rejects duplicates (by
    /// namespace and local name), in document order.
    #[inline]
    fn resolve_attributes(&mut self, from: usize) -> Result<(), Error> {
        let b = self.b;
        for i in from..self.doc.attrs.len() {
            let a = &self.doc.attrs[i];
            let (start, local_start, qname_end) = (a.start as usize, a.local_start as usize, a.qname_end as usize);
            match a.kind {
                AttrKind::Declaration => continue,
                AttrKind::Prefixed => {
                    let prefix = &self.src[start..local_start - 1];
                    let ns = if prefix == "xml" {
                        0
                    } else {
                        match self.lookup(prefix) {
                            Some(ns) => ns,
                            None => return Err(error(start, format!("an unknown namespace prefix '{prefix}'"))),
                        }
                    };
                    self.doc.attrs[i].ns = ns;
                }
                AttrKind::Plain => {}
            }
            let a = &self.doc.attrs[i];
            let local = &b[local_start..qname_end];
            let uri = |x: &AttrData| (x.kind == AttrKind::Prefixed).then(|| self.doc.namespaces[x.ns as usize].uri.as_ref());
            let duplicate = self.doc.attrs[from..i].iter().any(|o| {
                o.kind != AttrKind::Declaration
                    && (o.qname_end - o.local_start) as usize == local.len()
                    && &b[o.local_start as usize..o.qname_end as usize] == local
                    && (o.kind == AttrKind::Plain && a.kind == AttrKind::Plain || uri(o) == uri(a))
            });
            if duplicate {
                let local = &self.src[local_start..qname_end];
                return Err(error(start, format!("attribute '{local}' at {} is already defined", self.text_pos(start))));
            }
        }
        Ok(())
    }

    /// The prefix of a qualified name starting at `start` whose local name starts at `local`
    /// (empty when there is none).
    fn prefix(&self, start: usize, local: usize) -> &'s str {
        if local > start { &self.src[start..local - 1] } else { "" }
    }

    /// An end tag at `start` (`</`) that should close `elem`; returns where it ends.
    fn end_tag(&self, start: usize, elem: u32) -> Result<usize, Error> {
        let (local, qname_end) = self.qname(start + 2)?;
        let k = self.skip_spaces(qname_end);
        let end = self.consume_byte(k, b'>')?;
        let e = &self.doc.elems[elem as usize];
        let (open_local, open_start) = (e.local_start as usize, e.start as usize + 1);
        let expected = (self.prefix(open_start, open_local), &self.src[open_local..e.qname_end as usize]);
        let actual = (self.prefix(start + 2, local), &self.src[local..qname_end]);
        if expected != actual {
            let qualified = |(p, l): (&str, &str)| if p.is_empty() { l.to_string() } else { format!("{p}:{l}") };
            return Err(error(start, format!("expected '{}' tag, not '{}'", qualified(expected), qualified(actual))));
        }
        Ok(end)
    }

    /// Character data between `start` and `end` (up to the next `<`), whose bytes have the
    /// `flags`: checked, references resolved and line ends normalised, and added to `acc`.
    #[inline]
    fn text(&self, start: usize, end: usize, flags: u8, acc: &mut Option<Cow<'s, str>>) -> Result<(), Error> {
        if flags & (T_BAD | T_HIGH) != 0 {
            self.check_chars(start, end)?;
        }
        if flags & T_GT != 0 && self.src[start..end].contains("]]>") {
            return Err(error(end, format!("']]>' at {} is not allowed inside a character data", self.text_pos(end))));
        }
        let raw = &self.src[start..end];
        // Leading whitespace is dropped (see `Node::text`), also when written with `\r\n`.
        if acc.is_none() && flags & T_AMP == 0 && raw.trim().is_empty() {
            return Ok(());
        }
        let piece = if flags & (T_AMP | T_CR) != 0 { Cow::Owned(self.resolve_text(start, end)?) } else { Cow::Borrowed(raw) };
        if acc.is_none() && piece.trim().is_empty() {
            return Ok(());
        }
        append_text(acc, piece);
        Ok(())
    }

    /// Character data with its references resolved and line ends normalised, byte for byte as
    /// roxmltree does it (a character from a reference is taken as is, and so is the byte
    /// after it; a `\r` just before a reference stays).
    #[cold]
    fn resolve_text(&self, start: usize, end: usize) -> Result<String, Error> {
        let b = self.b;
        let mut out: Vec<u8> = Vec::with_capacity(end - start);
        let mut as_is = false;
        let mut k = start;
        while k < end {
            let c = b[k];
            if c == b'&' {
                let (ch, next) = self.reference(k, end)?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                as_is = true;
                k = next;
                continue;
            }
            k += 1;
            let at_end = k == end;
            if as_is {
                out.push(c);
                as_is = false;
            } else if out.last() == Some(&b'\r') {
                if let Some(last) = out.last_mut() {
                    *last = b'\n';
                }
                if at_end && c == b'\r' {
                    out.push(b'\n');
                } else if c != b'\n' {
                    out.push(c);
                }
            } else if at_end && c == b'\r' {
                out.push(b'\n');
            } else {
                out.push(c);
            }
        }
        // Only whole characters were copied, so this is UTF-8.
        Ok(String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    /// A CDATA section at `start` (`<![CDATA[`); returns where it ends.
    fn cdata(&self, start: usize, acc: &mut Option<Cow<'s, str>>) -> Result<usize, Error> {
        let from = start + 9;
        let (to, end) = match self.src[from..].find("]]>") {
            Some(k) => (from + k, from + k + 3),
            None => {
                self.check_chars(from, self.src.len())?;
                return Err(invalid_string("]]>", self.src.len()));
            }
        };
        self.check_chars(from, to)?;
        let piece = &self.src[from..to];
        if acc.is_none() && piece.trim().is_empty() {
            return Ok(end);
        }
        let piece = if piece.contains('\r') { Cow::Owned(normalise_line_ends(piece)) } else { Cow::Borrowed(piece) };
        append_text(acc, piece);
        Ok(end)
    }

    /// A comment at `start` (`<!--`); returns where it ends.
    fn comment(&self, start: usize) -> Result<usize, Error> {
        let from = start + 4;
        let Some(k) = self.src[from..].find("-->") else {
            self.check_chars(from, self.src.len())?;
            return Err(invalid_string("-->", self.src.len()));
        };
        let to = from + k;
        self.check_chars(from, to)?;
        let text = &self.src[from..to];
        if text.contains("--") || text.ends_with('-') {
            return Err(error(start, format!("comment at {} contains '--'", self.text_pos(start))));
        }
        Ok(to + 3)
    }

    /// A processing instruction at `start` (`<?`, not an XML declaration); returns where it ends.
    fn pi(&self, start: usize) -> Result<usize, Error> {
        let target_end = self.name(start + 2)?;
        let from = self.skip_spaces(target_end);
        let Some(k) = self.src[from..].find("?>") else {
            self.check_chars(from, self.src.len())?;
            return Err(invalid_string("?>", self.src.len()));
        };
        self.check_chars(from, from + k)?;
        Ok(from + k + 2)
    }

    /// The XML declaration at `start` (`<?xml `); returns where it ends.
    fn declaration(&self, start: usize) -> Result<usize, Error> {
        let spaces = |k: usize| -> Result<usize, Error> {
            match self.b.get(k) {
                Some(&c) if is_space(c) => Ok(self.skip_spaces(k)),
                Some(&c) if !self.src[k..].starts_with("?>") => Err(invalid_char2("a whitespace", c, k)),
                _ => Ok(k),
            }
        };
        let mut k = spaces(start + 5)?;
        if !self.src[k..].starts_with("version") {
            return Err(invalid_string("version", k));
        }
        k = self.declaration_attribute(k)?;
        k = spaces(k)?;
        if self.src[k..].starts_with("encoding") {
            k = self.declaration_attribute(k)?;
            k = spaces(k)?;
        }
        if self.src[k..].starts_with("standalone") {
            k = self.declaration_attribute(k)?;
        }
        k = self.skip_spaces(k);
        if !self.src[k..].starts_with("?>") {
            return Err(invalid_string("?>", k));
        }
        Ok(k + 2)
    }

    fn declaration_attribute(&self, start: usize) -> Result<usize, Error> {
        let (_, name_end) = self.qname(start)?;
        let k = self.consume_eq(name_end)?;
        let quote = self.consume_quote(k)?;
        let from = k + 1;
        let to = self.src[from..].find([quote as char, '<']).map_or(self.src.len(), |e| from + e);
        self.check_chars(from, to)?;
        self.consume_byte(to, quote)
    }
}
