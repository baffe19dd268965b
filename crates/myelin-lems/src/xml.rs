//! A small read-only XML tree, built from `quick-xml`'s events: just what the reader needs.
//!
//! Why not a general DOM crate: validating a 12.8 MB NeuroML network (125 000 connections) spent
//! about 70 ms of its ~190 ms building a general-purpose tree (roxmltree) and most of its memory
//! traffic on it. This tree keeps elements only, each a few integers (byte offsets into the
//! source, indices into flat arrays); names and attribute values borrow the source unless a
//! reference had to be decoded or whitespace normalised. `quick-xml` finds the markup; the rules
//! below are checked here, so that a broken document is refused with a position:
//!
//! - no DTD (`<!DOCTYPE`): entities could expand without bound or reach outside the document;
//! - only the five predefined entities (`&lt;` ..) and character references (`&#..;`);
//! - names are XML names with at most one `:`, every prefix is declared (`xml` is built in);
//! - attributes are `name="value"` after whitespace, once each, with no `<` in the value;
//! - end tags match, there is exactly one root element and no text outside it;
//! - no character outside XML's character set; comments hold no `--`;
//! - at most [`MAX_NODES`](crate::read::MAX_NODES) nodes.
//!
//! Nesting depth is not limited here (the tree is built without recursion); the reader refuses
//! elements nested deeper than it accepts. Messages and positions follow roxmltree's, which this
//! replaced, so diagnostics stayed the same.

use quick_xml::events::Event;
use std::ops::Range;

/// The namespace `xml:` is bound to without a declaration.
const XML_URI: &str = "http://www.w3.org/XML/1998/namespace";
/// The namespace of `xmlns` itself, which no declaration may name.
const XMLNS_URI: &str = "http://www.w3.org/2000/xmlns/";
/// "None" for the `u32` indices below.
const NONE: u32 = u32::MAX;

/// Why a document is not well-formed: a message and the byte offset it is about.
#[derive(Debug)]
pub(crate) struct XmlError {
    pub(crate) offset: usize,
    pub(crate) message: String,
    /// The document has a DTD (refused on principle, not broken).
    pub(crate) dtd: bool,
}

impl XmlError {
    fn new(offset: usize, message: impl Into<String>) -> Self {
        XmlError { offset, message: message.into(), dtd: false }
    }
}

/// A parsed document. Everything borrows `src`, whose offsets every range refers to.
pub(crate) struct Document<'s> {
    src: &'s str,
    /// Elements in document order; the root is element 0.
    elements: Vec<ElementData>,
    attributes: Vec<AttrData>,
    /// Attribute values that differ from their source text, and elements' text.
    strings: Vec<String>,
    /// Namespace declarations: index 0 is `xml`'s, then the root's, then the others'.
    namespaces: Vec<Namespace<'s>>,
    /// How many namespaces the root element declares (after `xml`'s).
    root_namespaces: usize,
}

struct Namespace<'s> {
    prefix: Option<&'s str>,
    uri: Str,
}

/// A string held either as a range of the source or as an index into `Document::strings`.
#[derive(Clone, Copy)]
struct Str {
    start: u32,
    end: u32,
    /// Index into `strings`, or [`NONE`] for the source range.
    owned: u32,
}

struct ElementData {
    /// From `<` to the end of the end tag (or of `/>`).
    start: u32,
    end: u32,
    /// Length of the qualified name, which starts just after `<`.
    qname_len: u32,
    /// Length of `prefix:` (0 without a prefix).
    prefix_len: u32,
    /// Resolved while parsing (an undeclared prefix is an error); read only by the tests.
    #[cfg_attr(not(test), allow(dead_code))]
    namespace: u32,
    /// The element's attributes are `attributes[attrs_start..attrs_end]`.
    attrs_start: u32,
    attrs_end: u32,
    first_child: u32,
    next_sibling: u32,
    children: u32,
    /// Index into `strings` of the text directly inside, when some of it is not whitespace.
    text: u32,
}

/// 24 bytes: a big network has half a million attributes.
struct AttrData {
    /// The qualified name is `start..start + name_len`, its local part from `start + prefix_len`.
    start: u32,
    name_len: u16,
    prefix_len: u16,
    /// The value between the quotes, as written.
    value_start: u32,
    value_end: u32,
    /// The value as read: an index into `strings`, or [`NONE`] for the text as written.
    value: u32,
    namespace: u32,
}

impl AttrData {
    fn name_end(&self) -> usize {
        self.start as usize + usize::from(self.name_len)
    }

    fn local_start(&self) -> usize {
        self.start as usize + usize::from(self.prefix_len)
    }
}

impl<'s> Document<'s> {
    /// Parses `src`. A document needs one root element; see the module docs for what else.
    pub(crate) fn parse(src: &'s str, max_nodes: u32) -> Result<Self, XmlError> {
        if u32::try_from(src.len()).is_err() {
            return Err(XmlError::new(0, "the document is larger than 4 GiB"));
        }
        Builder::new(src, max_nodes).run()
    }

    pub(crate) fn root_element(&self) -> Node<'_, 's> {
        Node { doc: self, id: 0 }
    }

    /// The namespaces the root element declares, in order: (prefix, URI).
    pub(crate) fn root_namespaces(&self) -> impl Iterator<Item = (Option<&'s str>, &str)> + '_ {
        self.namespaces[1..1 + self.root_namespaces].iter().map(|ns| (ns.prefix, self.str(ns.uri)))
    }

    fn str(&self, s: Str) -> &str {
        match s.owned {
            NONE => &self.src[s.start as usize..s.end as usize],
            k => &self.strings[k as usize],
        }
    }
}

/// An element of a [`Document`].
#[derive(Clone, Copy)]
pub(crate) struct Node<'d, 's> {
    doc: &'d Document<'s>,
    id: u32,
}

impl<'d, 's> Node<'d, 's> {
    fn data(&self) -> &'d ElementData {
        &self.doc.elements[self.id as usize]
    }

    /// The local name (without a prefix).
    pub(crate) fn name(&self) -> &'s str {
        let e = self.data();
        let start = e.start as usize + 1;
        &self.doc.src[start + e.prefix_len as usize..start + e.qname_len as usize]
    }

    /// The namespace URI, if the element is in one.
    #[cfg(test)]
    pub(crate) fn namespace(&self) -> Option<&'d str> {
        let k = self.data().namespace;
        (k != NONE).then(|| self.doc.str(self.doc.namespaces[k as usize].uri))
    }

    /// From `<` to the end of the end tag.
    pub(crate) fn range(&self) -> Range<usize> {
        let e = self.data();
        e.start as usize..e.end as usize
    }

    /// The qualified name in the start tag.
    pub(crate) fn qname_range(&self) -> Range<usize> {
        let e = self.data();
        let start = e.start as usize + 1;
        start..start + e.qname_len as usize
    }

    /// Attributes in document order (namespace declarations are not attributes).
    pub(crate) fn attributes(&self) -> impl ExactSizeIterator<Item = Attr<'d, 's>> + 'd {
        let e = self.data();
        let doc = self.doc;
        (e.attrs_start..e.attrs_end).map(move |id| Attr { doc, id })
    }

    /// The attribute `name` without a namespace.
    pub(crate) fn attribute_node(&self, name: &str) -> Option<Attr<'d, 's>> {
        self.attributes().find(|a| a.data().namespace == NONE && a.name() == name)
    }

    /// The value of the attribute `name` without a namespace.
    pub(crate) fn attribute(&self, name: &str) -> Option<&'d str> {
        self.attribute_node(name).map(|a| a.value())
    }

    /// Child elements in document order.
    pub(crate) fn children(&self) -> Children<'d, 's> {
        Children { doc: self.doc, next: self.data().first_child }
    }

    /// How many child elements there are.
    pub(crate) fn child_count(&self) -> usize {
        self.data().children as usize
    }

    /// The text directly inside (references decoded, pieces between child elements joined),
    /// or `None` when all of it is whitespace. Leading whitespace-only pieces may be missing;
    /// callers trim.
    pub(crate) fn text(&self) -> Option<&'d str> {
        let k = self.data().text;
        (k != NONE).then(|| self.doc.strings[k as usize].as_str())
    }
}

#[derive(Clone, Copy)]
pub(crate) struct Children<'d, 's> {
    doc: &'d Document<'s>,
    next: u32,
}

impl<'d, 's> Iterator for Children<'d, 's> {
    type Item = Node<'d, 's>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.next == NONE {
            return None;
        }
        let id = self.next;
        self.next = self.doc.elements[id as usize].next_sibling;
        Some(Node { doc: self.doc, id })
    }
}

/// An attribute of an element.
#[derive(Clone, Copy)]
pub(crate) struct Attr<'d, 's> {
    doc: &'d Document<'s>,
    id: u32,
}

impl<'d, 's> Attr<'d, 's> {
    fn data(&self) -> &'d AttrData {
        &self.doc.attributes[self.id as usize]
    }

    /// The local name (without a prefix).
    pub(crate) fn name(&self) -> &'s str {
        let a = self.data();
        &self.doc.src[a.local_start()..a.name_end()]
    }

    /// The namespace URI, for a prefixed name.
    pub(crate) fn namespace(&self) -> Option<&'d str> {
        let k = self.data().namespace;
        (k != NONE).then(|| self.doc.str(self.doc.namespaces[k as usize].uri))
    }

    /// The value, references decoded and whitespace normalised as XML prescribes.
    pub(crate) fn value(&self) -> &'d str {
        let a = self.data();
        match a.value {
            NONE => &self.doc.src[a.value_start as usize..a.value_end as usize],
            k => &self.doc.strings[k as usize],
        }
    }

    /// The qualified name in the source.
    pub(crate) fn range_qname(&self) -> Range<usize> {
        let a = self.data();
        a.start as usize..a.name_end()
    }

    /// The value between the quotes, in the source.
    pub(crate) fn range_value(&self) -> Range<usize> {
        let a = self.data();
        a.value_start as usize..a.value_end as usize
    }
}

/// An element whose end tag has not been read yet.
struct Open {
    id: u32,
    /// The last child element so far, to link the next one to.
    last_child: u32,
    /// How many namespaces were in scope before this element's declarations.
    scope_len: usize,
    /// Its text so far, once some piece of it is not whitespace.
    text: Option<String>,
}

struct Builder<'s> {
    src: &'s str,
    doc: Document<'s>,
    open: Vec<Open>,
    /// Indices into `doc.namespaces` in scope, innermost last.
    scope: Vec<u32>,
    /// The root element has been closed.
    done: bool,
    nodes: u32,
    max_nodes: u32,
}

impl<'s> Builder<'s> {
    fn new(src: &'s str, max_nodes: u32) -> Self {
        // Elements and attributes are guessed from `<` and `=`: too many only reserves address
        // space, while growing would copy the arrays.
        // Guessed from the size (an element in 40 bytes, an attribute in 16): too many only
        // reserves address space; too few grows the arrays as usual.
        let (tags, equals) = (src.len() / 40, src.len() / 16);
        let doc = Document {
            src,
            elements: Vec::with_capacity(tags),
            attributes: Vec::with_capacity(equals),
            strings: vec![],
            namespaces: vec![Namespace { prefix: Some("xml"), uri: Str { start: 0, end: 0, owned: 0 } }],
            root_namespaces: 0,
        };
        let mut b = Builder { src, doc, open: vec![], scope: vec![], done: false, nodes: 0, max_nodes };
        b.doc.strings.push(XML_URI.to_string());
        b
    }

    fn run(mut self) -> Result<Document<'s>, XmlError> {
        let mut reader = quick_xml::Reader::from_str(self.src);
        let config = reader.config_mut();
        // Checked here, with roxmltree's messages and positions.
        config.check_end_names = false;
        config.allow_unmatched_ends = true;
        config.check_comments = false;
        config.trim_markup_names_in_closing_tags = false;
        // quick-xml skips a UTF-8 byte order mark and counts positions after it; ours count it.
        let bom = if self.src.starts_with('\u{feff}') { 3 } else { 0 };
        let mut decl_at = bom;
        loop {
            let pos = reader.buffer_position() as usize + bom;
            let event = match reader.read_event() {
                Ok(e) => e,
                Err(e) => return Err(self.quick_xml_error(&e, pos, reader.error_position() as usize + bom)),
            };
            let end = reader.buffer_position() as usize + bom;
            match event {
                Event::Start(_) => self.start_tag(pos, end, false)?,
                Event::Empty(_) => self.start_tag(pos, end, true)?,
                Event::End(_) => self.end_tag(pos, end)?,
                Event::Text(_) => self.text(pos, end)?,
                Event::GeneralRef(_) => self.reference(pos, end)?,
                Event::CData(_) => {
                    self.count(pos)?;
                    self.in_root(pos)?;
                    let inner = &self.src[pos + 9..end - 3];
                    self.check_chars(inner, pos + 9)?;
                    self.add_text(&normalise_line_ends(inner));
                }
                Event::Comment(_) => {
                    self.count(pos)?;
                    let inner = &self.src[pos + 4..end - 3];
                    if inner.contains("--") || inner.ends_with('-') {
                        return Err(XmlError::new(pos, format!("comment at {} contains '--'", self.text_pos(pos))));
                    }
                }
                Event::Decl(_) => {
                    if pos != decl_at {
                        return Err(XmlError::new(pos, "unexpected XML declaration"));
                    }
                }
                Event::PI(_) => self.count(pos)?,
                Event::DocType(_) => {
                    if !self.open.is_empty() || self.done {
                        return Err(XmlError::new(pos, "unknown token"));
                    }
                    return Err(XmlError { offset: pos, message: "XML with DTD detected".into(), dtd: true });
                }
                Event::Eof => break,
            }
            // Only the very first thing may be the declaration.
            decl_at = usize::MAX;
        }
        if !self.open.is_empty() {
            return Err(XmlError::new(0, "the root node was opened but never closed"));
        }
        if !self.done {
            return Err(XmlError::new(0, "the document does not have a root node"));
        }
        Ok(self.doc)
    }

    /// Counts one more node against the limit.
    fn count(&mut self, pos: usize) -> Result<(), XmlError> {
        self.nodes += 1;
        if self.nodes > self.max_nodes {
            return Err(XmlError::new(pos, "nodes limit reached"));
        }
        Ok(())
    }

    /// Text and references belong inside the root element.
    fn in_root(&self, pos: usize) -> Result<(), XmlError> {
        if self.open.is_empty() {
            return Err(XmlError::new(pos, "unknown token"));
        }
        Ok(())
    }

    /// `line:column` (in characters) of a byte offset, for messages that quote a position.
    fn text_pos(&self, offset: usize) -> String {
        let before = &self.src[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before.rfind('\n').map_or(before, |k| &before[k + 1..]).chars().count() + 1;
        format!("{line}:{col}")
    }

    fn quick_xml_error(&self, e: &quick_xml::Error, pos: usize, at: usize) -> XmlError {
        use quick_xml::errors::{IllFormedError, SyntaxError};
        match e {
            quick_xml::Error::Syntax(s) => {
                let expected = match s {
                    SyntaxError::InvalidBangMarkup => return XmlError::new(pos, "unknown token"),
                    SyntaxError::UnclosedPI | SyntaxError::UnclosedXmlDecl => "'?>'",
                    SyntaxError::UnclosedComment => "'-->'",
                    SyntaxError::UnclosedDoctype => {
                        return XmlError { offset: pos, message: "XML with DTD detected".into(), dtd: true };
                    }
                    SyntaxError::UnclosedCData => "']]>'",
                    SyntaxError::UnclosedTag => "'>'",
                    SyntaxError::UnclosedSingleQuotedAttributeValue => "'''",
                    SyntaxError::UnclosedDoubleQuotedAttributeValue => "'\"'",
                };
                if matches!(s, SyntaxError::UnclosedSingleQuotedAttributeValue | SyntaxError::UnclosedDoubleQuotedAttributeValue)
                    && let Some(k) = self.src[pos + 1..].find('<')
                {
                    // Most likely a quote is missing: the value runs into the next tag.
                    return XmlError::new(pos + 1 + k, format!("expected {expected} not '<'"));
                }
                // The markup runs to the end of the document: say so where it starts.
                XmlError::new(pos, format!("expected {expected} before the end of the document"))
            }
            quick_xml::Error::IllFormed(IllFormedError::UnclosedReference) => XmlError::new(at, "malformed entity reference"),
            other => XmlError::new(at, other.to_string()),
        }
    }

    /// A start tag `src[pos..end]` (`<` to `>`).
    fn start_tag(&mut self, pos: usize, end: usize, empty: bool) -> Result<(), XmlError> {
        self.count(pos)?;
        if self.done {
            return Err(XmlError::new(pos, "unknown token"));
        }
        let src = self.src;
        let bytes = src.as_bytes();
        // Between the name and `>` (or `/>`).
        let content_end = if empty { end - 2 } else { end - 1 };
        let name_start = pos + 1;
        let (name_end, prefix_len) = qname(src, name_start, content_end)?;
        let prefix = if prefix_len > 0 { &src[name_start..name_start + prefix_len - 1] } else { "" };
        if prefix == "xmlns" {
            return Err(XmlError::new(
                name_start,
                format!("the 'xmlns' prefix is used at {}, but it must not be", self.text_pos(name_start)),
            ));
        }
        let scope_len = self.scope.len();
        let attrs_start = self.doc.attributes.len();
        let mut prefixed = false;
        let mut i = name_end;
        loop {
            let had_space = i < content_end && is_space(bytes[i]);
            while i < content_end && is_space(bytes[i]) {
                i += 1;
            }
            if i == content_end {
                break;
            }
            if bytes[i] == b'/' {
                // A `/` not just before `>`.
                return Err(XmlError::new(i + 1, format!("expected '>' not '{}'", char_at(src, i + 1))));
            }
            if !had_space {
                return Err(XmlError::new(i, format!("expected a whitespace not '{}'", char_at(src, i))));
            }
            let attr_start = i;
            let (attr_name_end, attr_prefix_len) = qname(src, i, content_end)?;
            i = attr_name_end;
            while i < content_end && is_space(bytes[i]) {
                i += 1;
            }
            if i >= content_end || bytes[i] != b'=' {
                return Err(XmlError::new(i, format!("expected '=' not '{}'", char_at(src, i))));
            }
            i += 1;
            while i < content_end && is_space(bytes[i]) {
                i += 1;
            }
            let quote = bytes[i];
            if i >= content_end || (quote != b'"' && quote != b'\'') {
                return Err(XmlError::new(i, format!("expected a quote not '{}'", char_at(src, i))));
            }
            let value_start = i + 1;
            // Up to the closing quote (quick-xml matched the quotes when it found the end of the
            // tag), noting whether the value needs a closer look.
            let mut value_end = value_start;
            let mut special = false;
            while value_end < content_end && bytes[value_end] != quote {
                special |= VALUE_SPECIAL[bytes[value_end] as usize];
                value_end += 1;
            }
            if value_end == content_end {
                return Err(XmlError::new(content_end, format!("expected '{}' not '{}'", quote as char, char_at(src, content_end))));
            }
            i = value_end + 1;
            let value = if special { self.attribute_value(value_start, value_end, quote)? } else { NONE };
            let name = &src[attr_start..attr_name_end];
            let uri = Str { start: value_start as u32, end: value_end as u32, owned: value };
            if attr_prefix_len > 0 {
                if let Some(declared) = name.strip_prefix("xmlns:") {
                    self.declare(attr_start, Some(declared), uri, scope_len)?;
                    continue;
                }
                prefixed = true;
            } else if name == "xmlns" {
                self.declare(attr_start, None, uri, scope_len)?;
                continue;
            }
            let (Ok(name_len), Ok(prefix_len)) = (u16::try_from(attr_name_end - attr_start), u16::try_from(attr_prefix_len)) else {
                return Err(XmlError::new(attr_start, "names are limited to 65535 bytes"));
            };
            self.doc.attributes.push(AttrData {
                start: attr_start as u32,
                name_len,
                prefix_len,
                value_start: value_start as u32,
                value_end: value_end as u32,
                value,
                namespace: NONE,
            });
        }
        // Prefixes resolve against this element's declarations too, wherever they are written.
        let namespace = self.resolve(name_start, prefix, prefix_len > 0, true)?;
        if prefixed {
            for k in attrs_start..self.doc.attributes.len() {
                let a = &self.doc.attributes[k];
                if a.prefix_len > 0 {
                    let start = a.start as usize;
                    let prefix = &src[start..a.local_start() - 1];
                    self.doc.attributes[k].namespace = if prefix == "xml" { 0 } else { self.resolve(start, prefix, true, false)? };
                }
            }
        }
        self.check_duplicates(attrs_start)?;
        let id = self.doc.elements.len() as u32;
        self.doc.elements.push(ElementData {
            start: pos as u32,
            end: end as u32,
            qname_len: (name_end - name_start) as u32,
            prefix_len: prefix_len as u32,
            namespace,
            attrs_start: attrs_start as u32,
            attrs_end: self.doc.attributes.len() as u32,
            first_child: NONE,
            next_sibling: NONE,
            children: 0,
            text: NONE,
        });
        if id == 0 {
            self.doc.root_namespaces = self.doc.namespaces.len() - 1;
        }
        if let Some(parent) = self.open.last_mut() {
            let p = parent.id as usize;
            match parent.last_child {
                NONE => self.doc.elements[p].first_child = id,
                last => self.doc.elements[last as usize].next_sibling = id,
            }
            parent.last_child = id;
            self.doc.elements[p].children += 1;
        }
        if empty {
            self.scope.truncate(scope_len);
            self.done = self.open.is_empty();
        } else {
            self.open.push(Open { id, last_child: NONE, scope_len, text: None });
        }
        Ok(())
    }

    /// No two of `attributes[from..]` (one element's) have the same name and namespace.
    fn check_duplicates(&self, from: usize) -> Result<(), XmlError> {
        let src = self.src;
        let attrs = &self.doc.attributes[from..];
        let local = |a: &AttrData| &src[a.local_start()..a.name_end()];
        let uri = |k: u32| (k != NONE).then(|| self.doc.str(self.doc.namespaces[k as usize].uri));
        let duplicate = |k: usize| {
            let a = &attrs[k];
            let error = format!("attribute '{}' at {} is already defined", local(a), self.text_pos(a.start as usize));
            Err(XmlError::new(a.start as usize, error))
        };
        if attrs.len() <= 32 {
            for k in 1..attrs.len() {
                let a = &attrs[k];
                let same = |b: &AttrData| {
                    b.name_len - b.prefix_len == a.name_len - a.prefix_len
                        && local(b) == local(a)
                        && (b.namespace == a.namespace || uri(b.namespace) == uri(a.namespace))
                };
                if attrs[..k].iter().any(same) {
                    return duplicate(k);
                }
            }
        } else {
            // Many attributes (a hostile document): no quadratic search.
            let mut seen = rustc_hash::FxHashSet::default();
            for (k, a) in attrs.iter().enumerate() {
                if !seen.insert((uri(a.namespace), local(a))) {
                    return duplicate(k);
                }
            }
        }
        Ok(())
    }

    /// A namespace declaration (`xmlns:prefix=` or `xmlns=`) at `at` on the element being read.
    fn declare(&mut self, at: usize, prefix: Option<&'s str>, uri: Str, scope_len: usize) -> Result<(), XmlError> {
        let value = self.doc.str(uri);
        if value == XMLNS_URI {
            return Err(XmlError::new(at, format!("the 'xmlns' URI is used at {}, but it must not be declared", self.text_pos(at))));
        }
        let is_xml_uri = value == XML_URI;
        if prefix == Some("xml") {
            if !is_xml_uri {
                return Err(XmlError::new(at, "'xml' namespace prefix mapped to wrong URI"));
            }
            // Already bound: nothing to add.
            return Ok(());
        }
        if is_xml_uri {
            return Err(XmlError::new(at, "the 'xml' namespace URI is used for not 'xml' prefix"));
        }
        if self.scope[scope_len..].iter().any(|&k| self.doc.namespaces[k as usize].prefix == prefix) {
            let name = prefix.unwrap_or("");
            return Err(XmlError::new(at, format!("namespace '{name}' at {} is already defined", self.text_pos(at))));
        }
        self.scope.push(self.doc.namespaces.len() as u32);
        self.doc.namespaces.push(Namespace { prefix, uri });
        Ok(())
    }

    /// The namespace of a name with `prefix` (`has_prefix` false: none written). An element
    /// without a prefix is in the default namespace; an attribute is in none.
    fn resolve(&self, at: usize, prefix: &str, has_prefix: bool, element: bool) -> Result<u32, XmlError> {
        if !has_prefix && !element {
            return Ok(NONE);
        }
        let wanted = has_prefix.then_some(prefix);
        if let Some(&k) = self.scope.iter().rev().find(|&&k| self.doc.namespaces[k as usize].prefix == wanted) {
            return Ok(k);
        }
        if !has_prefix {
            return Ok(NONE);
        }
        if prefix == "xml" {
            return Ok(0);
        }
        Err(XmlError::new(at, format!("an unknown namespace prefix '{prefix}'")))
    }

    /// An attribute value `src[start..end]` with a [`VALUE_SPECIAL`] byte, checked,
    /// references decoded, whitespace normalised (tab, newline and carriage return read as a
    /// space): the index of the value in `strings`, or [`NONE`] when it is the source text.
    fn attribute_value(&mut self, start: usize, end: usize, quote: u8) -> Result<u32, XmlError> {
        let raw = &self.src[start..end];
        let bytes = raw.as_bytes();
        let mut out = String::with_capacity(raw.len());
        let mut k = 0;
        while k < raw.len() {
            let c = char_at(raw, k);
            match c {
                '<' => return Err(XmlError::new(start + k, format!("expected '{}' not '<'", quote as char))),
                '&' => {
                    let (decoded, len) = self.reference_at(start + k)?;
                    out.push(decoded);
                    k += len;
                    continue;
                }
                '\r' if bytes.get(k + 1) == Some(&b'\n') => {}
                '\t' | '\n' | '\r' => out.push(' '),
                c if !is_xml_char(c) => return Err(non_xml_char(c, start + k)),
                c => out.push(c),
            }
            k += c.len_utf8();
        }
        if out == raw {
            return Ok(NONE);
        }
        self.doc.strings.push(out);
        Ok((self.doc.strings.len() - 1) as u32)
    }

    /// The reference starting with the `&` at `at`: the character and the reference's length.
    fn reference_at(&self, at: usize) -> Result<(char, usize), XmlError> {
        let rest = &self.src[at + 1..];
        let Some(semi) = rest.bytes().take(64).position(|b| b == b';') else {
            return Err(XmlError::new(at, "malformed entity reference"));
        };
        let name = &rest[..semi];
        let c = match name {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "apos" => '\'',
            "quot" => '"',
            _ => match name.strip_prefix('#') {
                Some(num) => {
                    let code = match num.strip_prefix('x') {
                        Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => u32::from_str_radix(hex, 16).ok(),
                        Some(_) => None,
                        None if !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()) => num.parse().ok(),
                        None => None,
                    };
                    match code.and_then(char::from_u32).filter(|&c| is_xml_char(c)) {
                        Some(c) => c,
                        None => return Err(XmlError::new(at, "malformed entity reference")),
                    }
                }
                None if is_name(name) => return Err(XmlError::new(at, format!("unknown entity reference '{name}'"))),
                None => return Err(XmlError::new(at, "malformed entity reference")),
            },
        };
        Ok((c, semi + 2))
    }

    /// An end tag `src[pos..end]`.
    fn end_tag(&mut self, pos: usize, end: usize) -> Result<(), XmlError> {
        let src = self.src;
        let (name_end, _) = qname(src, pos + 2, end - 1)?;
        let rest = &src[name_end..end - 1];
        if let Some(k) = rest.bytes().position(|b| !is_space(b)) {
            return Err(XmlError::new(name_end + k, format!("expected '>' not '{}'", char_at(src, name_end + k))));
        }
        let Some(open) = self.open.pop() else {
            return Err(XmlError::new(pos, "unexpected close tag"));
        };
        let e = &mut self.doc.elements[open.id as usize];
        let open_name = &src[e.start as usize + 1..(e.start + 1 + e.qname_len) as usize];
        let name = &src[pos + 2..name_end];
        if name != open_name {
            return Err(XmlError::new(pos, format!("expected '{open_name}' tag, not '{name}'")));
        }
        e.end = end as u32;
        if let Some(text) = open.text {
            e.text = self.doc.strings.len() as u32;
            self.doc.strings.push(text);
        }
        self.scope.truncate(open.scope_len);
        self.done = self.open.is_empty();
        Ok(())
    }

    /// Text `src[pos..end]` between markup.
    fn text(&mut self, pos: usize, end: usize) -> Result<(), XmlError> {
        let raw = &self.src[pos..end];
        let blank = raw.bytes().all(is_space);
        if self.open.is_empty() {
            if blank {
                return Ok(());
            }
            let k = raw.bytes().position(|b| !is_space(b)).unwrap_or(0);
            return Err(XmlError::new(pos + k, "unknown token"));
        }
        self.count(pos)?;
        if blank {
            // Indentation: kept only between pieces of real text.
            if let Some(text) = self.open.last_mut().and_then(|o| o.text.as_mut()) {
                text.push_str(&normalise_line_ends(raw));
            }
            return Ok(());
        }
        self.check_chars(raw, pos)?;
        if let Some(k) = raw.find("]]>") {
            return Err(XmlError::new(pos + k, format!("']]>' at {} is not allowed inside a character data", self.text_pos(pos + k))));
        }
        self.add_text(&normalise_line_ends(raw));
        Ok(())
    }

    /// A reference `src[pos..end]` (`&..;`) in text.
    fn reference(&mut self, pos: usize, end: usize) -> Result<(), XmlError> {
        self.in_root(pos)?;
        let (c, len) = self.reference_at(pos)?;
        debug_assert_eq!(pos + len, end);
        let mut buf = [0; 4];
        self.add_text(c.encode_utf8(&mut buf));
        Ok(())
    }

    /// Appends to the text of the innermost open element. Whitespace before any real text is
    /// dropped (readers trim it).
    fn add_text(&mut self, piece: &str) {
        if let Some(open) = self.open.last_mut() {
            match &mut open.text {
                Some(text) => text.push_str(piece),
                None if piece.trim().is_empty() => {}
                None => open.text = Some(piece.to_string()),
            }
        }
    }

    /// Every character of `text` (at `offset`) is one XML allows.
    fn check_chars(&self, text: &str, offset: usize) -> Result<(), XmlError> {
        if !text.bytes().any(|b| (b < 0x20 && !is_space(b)) || b == 0xEF) {
            return Ok(());
        }
        match text.char_indices().find(|&(_, c)| !is_xml_char(c)) {
            Some((k, c)) => Err(non_xml_char(c, offset + k)),
            None => Ok(()),
        }
    }
}

/// Bytes that make an attribute value need a closer look: controls (tab, newline and carriage
/// return are normalised, the others refused), `&` (a reference), `<` (refused), and 0xEF (which
/// starts U+FFFE and U+FFFF, refused).
const VALUE_SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = b < 0x20 || b == b'&' as usize || b == b'<' as usize || b == 0xEF;
        b += 1;
    }
    table
};

/// How each byte takes part in a name: [`NAME_END`], an ASCII name character, `:`, or the
/// start of a multi-byte character (checked as a `char`).
const NAME_BYTES: [u8; 256] = {
    let mut table = [NAME_END; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = match b as u8 {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => NAME_ASCII,
            b':' => NAME_COLON,
            0x80.. => NAME_WIDE,
            _ => NAME_END,
        };
        b += 1;
    }
    table
};
const NAME_END: u8 = 0;
const NAME_ASCII: u8 = 1;
const NAME_COLON: u8 = 2;
const NAME_WIDE: u8 = 3;

/// Reads the qualified name at `start` (before `limit`): its end and the length of its
/// `prefix:` (0 without a prefix). The name ends at the first byte that cannot be in one.
fn qname(src: &str, start: usize, limit: usize) -> Result<(usize, usize), XmlError> {
    let bytes = &src.as_bytes()[..limit];
    // The common case first: a run of ASCII name bytes (a tight loop; ~1M names in a big
    // network), then the general loop for what follows it, if anything.
    let run = bytes.get(start..).map_or(0, |rest| rest.iter().position(|&b| NAME_BYTES[b as usize] != NAME_ASCII).unwrap_or(rest.len()));
    let mut end = start + run;
    let mut colon = None;
    while let Some(&b) = bytes.get(end) {
        match NAME_BYTES[b as usize] {
            NAME_ASCII => end += 1,
            NAME_COLON if colon.is_none() => {
                colon = Some(end);
                end += 1;
            }
            NAME_COLON => return Err(XmlError::new(start, "invalid name token")),
            NAME_WIDE => {
                let c = char_at(src, end);
                if !is_name_char(c) {
                    break;
                }
                end += c.len_utf8();
            }
            _ => break,
        }
    }
    // Each part must start with a letter or `_` (or a non-ASCII name-start character).
    let starts_well = |k: usize| match bytes.get(k) {
        Some(b) if b.is_ascii() => b.is_ascii_alphabetic() || *b == b'_',
        Some(_) => is_name_start_char(char_at(src, k)),
        None => false,
    };
    let valid = match colon {
        None => end > start && starts_well(start),
        Some(c) => c > start && c + 1 < end && starts_well(start) && starts_well(c + 1),
    };
    if !valid {
        return Err(XmlError::new(start, "invalid name token"));
    }
    Ok((end, colon.map_or(0, |c| c + 1 - start)))
}

/// Whether `s` is an XML name (an entity's, say).
fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(is_name_start_char) && chars.all(is_name_char)
}

fn is_name_start_char(c: char) -> bool {
    matches!(c,
        'A'..='Z' | 'a'..='z' | '_' | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
        | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}' | '\u{2070}'..='\u{218F}'
        | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}'
        | '\u{10000}'..='\u{EFFFF}')
}

fn is_name_char(c: char) -> bool {
    is_name_start_char(c)
        || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// XML's `Char`: tab, newline, carriage return, and everything from space on but surrogates
/// and U+FFFE, U+FFFF.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// The character at byte offset `k` (a space at the end).
fn char_at(s: &str, k: usize) -> char {
    s.get(k..).and_then(|r| r.chars().next()).unwrap_or(' ')
}

fn non_xml_char(c: char, at: usize) -> XmlError {
    XmlError::new(at, format!("a non-XML character {c:?} found"))
}

/// XML's line-end handling for text: `\r\n` and a lone `\r` read as `\n`.
fn normalise_line_ends(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('\r') {
        return s.into();
    }
    s.replace("\r\n", "\n").replace('\r', "\n").into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything the reader can see of a tree, as text, from this module's tree.
    fn describe(doc: &Document<'_>) -> String {
        let mut out = String::new();
        for (prefix, uri) in doc.root_namespaces() {
            out += &format!("xmlns {prefix:?}={uri:?}\n");
        }
        let mut stack = vec![(doc.root_element(), 0)];
        while let Some((n, depth)) = stack.pop() {
            out += &format!("{depth} <{}> ns={:?} {:?} name={:?} children={}\n", n.name(), n.namespace(), n.range(), n.qname_range(), n.child_count());
            for a in n.attributes() {
                out += &format!("  @{} ns={:?} = {:?} {:?} {:?}\n", a.name(), a.namespace(), a.value(), a.range_qname(), a.range_value());
            }
            out += &format!("  text={:?}\n", n.text().map(str::trim));
            let kids: Vec<_> = n.children().collect();
            stack.extend(kids.into_iter().rev().map(|k| (k, depth + 1)));
        }
        out
    }

    /// The same, from roxmltree's tree (the reference this module replaced).
    fn describe_roxmltree(doc: &roxmltree::Document<'_>) -> String {
        let mut out = String::new();
        let root = doc.root_element();
        for ns in root.namespaces() {
            out += &format!("xmlns {:?}={:?}\n", ns.name(), ns.uri());
        }
        let mut stack = vec![(root, 0)];
        while let Some((n, depth)) = stack.pop() {
            let r = n.range();
            // roxmltree has no qualified-name range: the name runs from after `<` to the first
            // whitespace, `/` or `>`.
            let qlen = doc.input_text()[r.start + 1..].find(|c: char| c.is_whitespace() || c == '/' || c == '>').unwrap_or(0);
            let kids: Vec<_> = n.children().filter(roxmltree::Node::is_element).collect();
            out += &format!("{depth} <{}> ns={:?} {:?} name={:?} children={}\n", n.tag_name().name(), n.tag_name().namespace(), r, r.start + 1..r.start + 1 + qlen, kids.len());
            for a in n.attributes() {
                out += &format!("  @{} ns={:?} = {:?} {:?} {:?}\n", a.name(), a.namespace(), a.value(), a.range_qname(), a.range_value());
            }
            let text: String = n.children().filter(roxmltree::Node::is_text).filter_map(|k| k.text()).collect();
            let text = text.trim();
            out += &format!("  text={:?}\n", (!text.is_empty()).then_some(text));
            stack.extend(kids.into_iter().rev().map(|k| (k, depth + 1)));
        }
        out
    }

    /// Parses `src` with both; returns this module's error offset, or `None` when both read the
    /// same tree. Panics when they disagree.
    fn compare(name: &str, src: &str) -> Option<(usize, String)> {
        let opts = roxmltree::ParsingOptions { allow_dtd: false, nodes_limit: u32::MAX, ..Default::default() };
        let theirs = roxmltree::Document::parse_with_options(src, opts);
        let ours = Document::parse(src, u32::MAX);
        match (ours, theirs) {
            (Ok(ours), Ok(theirs)) => {
                assert_eq!(describe(&ours), describe_roxmltree(&theirs), "{name}: the trees differ");
                None
            }
            (Err(e), Err(_)) => Some((e.offset, e.message)),
            (Ok(_), Err(e)) => panic!("{name}: roxmltree refuses it ({e}), this parser does not"),
            (Err(e), Ok(_)) => panic!("{name}: roxmltree reads it, this parser refuses it at {}: {}", e.offset, e.message),
        }
    }

    #[test]
    fn reads_what_roxmltree_reads() {
        let docs = [
            "<Lems/>",
            "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- c --><Lems a='1' b = \"x'y\" >\n<a/></Lems >\n<?pi x?>\n",
            "<neuroml xmlns=\"http://www.neuroml.org/schema/neuroml2\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
             xsi:schemaLocation=\"u v\" id=\"n\"><x xsi:type=\"t\" xml:lang=\"en\" p=\"1\"/></neuroml>",
            "<Lems xmlns:p=\"u\"><p:a p:b=\"1\" b=\"2\"><c xmlns=\"d\"/></p:a></Lems>",
            "<Lems><Foo a=\"\t1\n2\r\n3 &#9;&#10; &lt;&gt;&amp;&apos;&quot;&#x41;&#65;\"/></Lems>",
            "<Lems>\r\n<Component type=\"x\">a\r\nb &amp; &#13; c<!-- c --> d <b/> e <![CDATA[ <f> ]]> </Component></Lems>",
            "<Lems><notes>\u{a0}</notes><notes> &#32; </notes><é ü=\"ö\">text</é></Lems>",
            "<Lems xmlns:a=\"u\" xmlns:b=\"v\" a:x=\"1\" b:x=\"2\"/>",
            "<Lems xmlns:xml=\"http://www.w3.org/XML/1998/namespace\" xmlns:p=\"\"/>",
        ];
        for (k, src) in docs.iter().enumerate() {
            assert_eq!(compare(&format!("document {k}"), src), None);
        }
    }

    #[test]
    fn refuses_what_roxmltree_refuses_at_the_same_place() {
        // (document, the offset roxmltree gives, or `None` where this parser's is better).
        let broken: &[(&str, Option<usize>)] = &[
            ("", Some(0)),
            ("<Lems>", Some(0)),
            ("<Lems><a></Lems>", Some(9)),
            ("<Lems></a>", Some(6)),
            ("<Lems a=\"1\" a=\"2\"/>", Some(12)),
            ("<Lems xmlns:p=\"u\" xmlns:q=\"u\" p:a=\"1\" q:a=\"2\"/>", Some(38)),
            ("<Lems a=\"x<y\"/>", Some(10)),
            ("<Lems a=\"&foo;\"/>", Some(9)),
            ("<Lems>&foo;</Lems>", Some(6)),
            ("<Lems a=\"&#0;\"/>", Some(9)),
            ("<Lems>&#xZZ;</Lems>", Some(6)),
            ("<Lems>& </Lems>", Some(6)),
            ("<Lems p:a=\"1\"/>", Some(6)),
            ("<p:Lems/>", Some(1)),
            ("<Lems a=\"1\"b=\"2\"/>", Some(11)),
            ("<1Lems/>", Some(1)),
            ("<Lems><!-- a -- b --></Lems>", Some(6)),
            ("text<Lems/>", Some(0)),
            ("<Lems/>text", Some(7)),
            ("<Lems><?xml version=\"1.0\"?></Lems>", Some(6)),
            ("<?xml version=\"1.0\"?>\n<?xml version=\"1.0\"?><Lems/>", Some(22)),
            ("<Lems>\u{1}</Lems>", Some(6)),
            ("<Lems a=\"\u{1}\"/>", Some(9)),
            ("<Lems><</Lems>", Some(7)),
            ("<Lems><a</Lems>", Some(8)),
            ("<Lems/><Lems/>", Some(7)),
            ("<Lems><!DOCTYPE x></Lems>", Some(6)),
            ("<Lems><!ELEMENT></Lems>", Some(6)),
            ("<Lems a=1/>", Some(8)),
            ("<Lems a/>", Some(7)),
            ("<Lems xmlns:xml=\"wrong\"/>", Some(6)),
            ("<Lems xmlns=\"http://www.w3.org/XML/1998/namespace\"/>", Some(6)),
            ("<xmlns:Lems/>", Some(1)),
            ("<Lems><p:a/></Lems>", Some(7)),
            ("<Lems><a:b:c/></Lems>", Some(7)),
            ("<Lems><a b:=\"1\"/></Lems>", Some(9)),
            ("<Lems>< a/></Lems>", Some(7)),
            ("<Lems><a ></ a></Lems>", Some(12)),
            ("<Lems><a/ ></Lems>", Some(9)),
            ("<Lems><a b=\"1></a></Lems>", Some(14)),
            ("<!DOCTYPE Lems [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><Lems>&e;</Lems>", Some(0)),
            ("<Lems><a>]]></a></Lems>", None),
            ("<Lems a=\"1\"", None),
            ("<Lems/>\n<", None),
            ("</Lems>", None),
            ("<Lems><!-- unterminated </Lems>", None),
            ("<Lems><![CDATA[ x </Lems>", None),
            ("<Lems><?pi </Lems>", None),
        ];
        for (src, offset) in broken {
            let (at, message) = compare(src, src).unwrap_or_else(|| panic!("{src:?} should be refused"));
            if let Some(offset) = offset {
                assert_eq!(at, *offset, "{src:?}: {message}");
            }
        }
    }

    /// Every official example and core-type file gives the same tree as roxmltree's.
    #[test]
    fn reference_files_read_alike() {
        let Some(jnml) = myelin_testkit::jnml_dir() else { return };
        let mut files = myelin_testkit::files_in(&jnml.join("NeuroML2CoreTypes"), |n| n.ends_with(".xml"));
        files.extend(myelin_testkit::files_in(&jnml.join("LEMSexamples"), |n| n.ends_with(".xml")));
        files.extend(myelin_testkit::files_in(&jnml.join("examples"), |n| n.ends_with(".nml")));
        assert!(files.len() > 40, "found only {} reference files", files.len());
        for f in &files {
            let src = std::fs::read_to_string(f).expect("readable");
            if let Some((at, message)) = compare(&f.display().to_string(), &src) {
                panic!("{}: refused at {at}: {message}", f.display());
            }
        }
    }

    /// Too many nodes, or a DTD, are refused as such.
    #[test]
    fn limits_and_dtds() {
        let err = Document::parse("<Lems><a/><b/><c/></Lems>", 3).err().expect("over the limit");
        assert_eq!(err.message, "nodes limit reached");
        let err = Document::parse("<?xml version=\"1.0\"?>\n<!DOCTYPE Lems []><Lems/>", 100).err().expect("a DTD");
        assert!(err.dtd && err.offset == 22, "{err:?}");
    }
}
