//! The XML reader against roxmltree, the parser it replaced: the same documents are accepted
//! with the same content, and the same are refused with the same message at the same place.

use crate::xml;

const XSI: &str = r#"<neuroml xmlns="http://www.neuroml.org/schema/neuroml2" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="a b" id="n">
    <izhikevich2007Cell id="iz" C="100pF" v0="-60mV"/>
    <network id="net">
        <population id="pop0" component="iz" size="2"/>
        <projection id="p" presynapticPopulation="pop0" postsynapticPopulation="pop0" synapse="s">
            <connection id="0" preCellId="../pop0[0]" postCellId="../pop0[1]"/>
        </projection>
    </network>
</neuroml>
"#;

const LEMS: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone='yes' ?>\n<!-- a comment -->\n<?pi target?>\n<Lems>\n  <Dimension name=\"time\" t='1'/>\n  <ComponentType name=\"c\" description=\"a &lt; b &amp; &#x41;&#66;\">\n    <Text name=\"t\"/>\n  </ComponentType>\n  <notes>some <![CDATA[raw <text> & ]]> and &gt; more</notes>\n  <x a=\"tab\there\r\nand\rcr\"> text\r\n with\rlines </x>\n</Lems>\n<!-- trailing -->\n";

const PREFIXES: &str = "\u{FEFF}<a:root xmlns:a='urn:a' xmlns:b=\"urn:b\" xmlns:c='urn:a' a:x='1' b:x='2' xml:lang='en'>\n<b:kid b:y=\"&#10;\" y=\"2\"/><:odd :z='1'/>\n<k xmlns='urn:d'><j/></k>\n<annotation>\n <rdf:RDF xmlns:rdf='urn:rdf'><rdf:Description about=\"x > y\"/></rdf:RDF>\n</annotation>\n</a:root>";

const SMALL: &[&str] = &[
    "",
    "   ",
    "<a/>",
    "<a></a>",
    "<a>",
    "<a",
    "<a ",
    "<a b",
    "<a b=",
    "<a b='",
    "<a b='c'",
    "<a b='c'/",
    "<",
    "<a><",
    "<a></",
    "<a></a",
    "<a></b>",
    "<a/><b/>",
    "<a/>text",
    "text<a/>",
    "<a/> <!-- c --> <?p?> ",
    "<a/><!-- c -- d -->",
    "<a/><!-- c --->",
    "<a/><!-- c",
    "<a><![CDATA[x]]></a>",
    "<a><![CDATA[x</a>",
    "<![CDATA[x]]><a/>",
    "<a/><![CDATA[x]]>",
    "<a>]]></a>",
    "<a>x]]>y</a>",
    "<a>&unknown;</a>",
    "<a>&amp</a>",
    "<a>& </a>",
    "<a>&#0;</a>",
    "<a>&#xD800;</a>",
    "<a>&#99999999999;</a>",
    "<a>&#x;</a>",
    "<a b='&bogus;'/>",
    "<a b='&#1;'/>",
    "<a b='x<y'/>",
    "<a b=\"x'y\" c='x\"y'/>",
    "<a b='1' b='2'/>",
    "<a b = '1'  c\n=\n'2'\t/>",
    "<a b='1'c='2'/>",
    "<a b=c/>",
    "<a 1b='x'/>",
    "<1a/>",
    "<a:b:c/>",
    "<a:b/>",
    "<xml:a/>",
    "<xmlns:a/>",
    "<a xmlns:b='urn:x' xmlns:b='urn:y'/>",
    "<a xmlns:xml='http://www.w3.org/XML/1998/namespace'/>",
    "<a xmlns:xml='urn:x'/>",
    "<a xmlns:x='http://www.w3.org/XML/1998/namespace'/>",
    "<a xmlns='http://www.w3.org/2000/xmlns/'/>",
    "<a xmlns:p='urn:p' xmlns:q='urn:p' p:x='1' q:x='2'/>",
    "<a p:x='1'/>",
    "<p:a/>",
    "<a>\u{1}</a>",
    "<a b='\u{1}'/>",
    "<a>\u{FFFE}</a>",
    "<a><!-- \u{1} --></a>",
    "<?xml version='1.0'?><a/>",
    "<?xml version='1.0' foo='x'?><a/>",
    "<?xml encoding='x'?><a/>",
    "<?xml version='1.0'encoding='x'?><a/>",
    " <?xml version='1.0'?><a/>",
    "<a/><?xml version='1.0'?>",
    "<?xml-stylesheet href='x'?><a/>",
    "<??><a/>",
    "<?1?><a/>",
    "<a><?pi unclosed</a>",
    "<!DOCTYPE a><a/>",
    "<!-- x --><!DOCTYPE a [<!ENTITY e 'x'>]><a>&e;</a>",
    "<!doctype a><a/>",
    "<a><!DOCTYPE a></a>",
    "<a/><!DOCTYPE a>",
    "<a><!x></a>",
    "<a></a >",
    "<a></a b>",
    "<:a></a>",
    "<a:b xmlns:a='u'></b>",
    "<a>x\r\ny\rz</a>",
    "<a>\r</a>",
    "<a>&#13;\r\n</a>",
    "<a>é ü 日本</a>",
    "<é b='ü'/>",
    "<a é='1'/>",
    "<a\u{B7}/>",
];

/// roxmltree's error as the old reader reported it: message without the trailing position,
/// byte offset.
fn old_error(src: &str, e: &roxmltree::Error) -> (String, Option<usize>) {
    let s = e.to_string();
    let s = match s.rfind(" at ") {
        Some(k) if s[k + 4..].chars().all(|c| c.is_ascii_digit() || c == ':') => s[..k].to_string(),
        _ => s,
    };
    if matches!(e, roxmltree::Error::DtdDetected) {
        return (s, None);
    }
    let pos = e.pos();
    let (row, col) = (pos.row as usize, pos.col as usize);
    let mut offset = 0;
    for (k, line) in src.split_inclusive('\n').enumerate() {
        if k + 1 == row {
            let within: usize = line.chars().take(col.saturating_sub(1)).map(char::len_utf8).sum();
            return (s, Some(offset + within));
        }
        offset += line.len();
    }
    (s, Some(src.len()))
}

/// The old reader's span of an element name.
fn old_name_range(src: &str, n: roxmltree::Node<'_, '_>) -> std::ops::Range<usize> {
    let start = n.range().start + 1;
    let qlen = n.tag_name().name().len()
        + n.tag_name().namespace().map_or(0, |_| {
            src[start..].find(|c: char| c.is_whitespace() || c == '>' || c == '/').map_or(0, |end| end - n.tag_name().name().len())
        });
    start..start + qlen
}

fn compare_elements(src: &str, old: roxmltree::Node<'_, '_>, new: xml::Node<'_, '_>, root: bool) {
    assert_eq!(old.tag_name().name(), new.name(), "name in {src:?}");
    assert_eq!(old.range(), new.range(), "range of <{}> in {src:?}", new.name());
    if !old.tag_name().name().is_empty() && !src[new.name_range()].starts_with(':') {
        assert_eq!(old_name_range(src, old), new.name_range(), "name range of <{}> in {src:?}", new.name());
    }
    let old_attrs: Vec<_> = old.attributes().collect();
    let new_attrs: Vec<_> = new.attributes().collect();
    assert_eq!(old_attrs.len(), new_attrs.len(), "attributes of <{}> in {src:?}", new.name());
    for (a, b) in old_attrs.iter().zip(&new_attrs) {
        assert_eq!(a.name(), b.name(), "{src:?}");
        assert_eq!(a.namespace(), b.namespace(), "{src:?}");
        assert_eq!(a.value(), b.value(), "{src:?}");
        assert_eq!(a.range_qname(), b.range_qname(), "{src:?}");
        assert_eq!(a.range_value(), b.range_value(), "{src:?}");
        assert_eq!(old.attribute(a.name()).is_some(), new.attribute(b.name()).is_some(), "{src:?}");
    }
    if root {
        let old_ns: Vec<(Option<&str>, &str)> = old.namespaces().map(|ns| (ns.name(), ns.uri())).collect();
        let new_ns: Vec<(Option<&str>, &str)> = new.namespaces().collect();
        assert_eq!(old_ns, new_ns, "namespaces in {src:?}");
    }
    let old_text: String = old.children().filter(|k| k.is_text()).filter_map(|k| k.text()).collect();
    assert_eq!(old_text.trim(), new.text().unwrap_or("").trim(), "text of <{}> in {src:?}", new.name());
    let old_kids: Vec<_> = old.children().filter(roxmltree::Node::is_element).collect();
    let new_kids: Vec<_> = new.children().collect();
    assert_eq!(old_kids.len(), new_kids.len(), "children of <{}> in {src:?}", new.name());
    for (a, b) in old_kids.into_iter().zip(new_kids) {
        compare_elements(src, a, b, false);
    }
}

fn compare(src: &str) {
    let opts = roxmltree::ParsingOptions { allow_dtd: false, nodes_limit: u32::try_from(xml::MAX_NODES).unwrap(), ..Default::default() };
    let old = roxmltree::Document::parse_with_options(src, opts);
    let new = xml::parse(src);
    match (old, new) {
        (Ok(old), Ok(new)) => compare_elements(src, old.root_element(), new.root_element(), true),
        (Err(old), Err(new)) => {
            let (message, offset) = old_error(src, &old);
            assert_eq!(message, new.message, "message for {src:?}");
            match offset {
                Some(offset) => assert_eq!(offset, new.offset, "offset of `{message}` in {src:?}"),
                None => {
                    assert!(new.dtd, "{src:?}");
                    assert!(src[new.offset..].starts_with("<!DOCTYPE"), "{src:?}");
                }
            }
        }
        (Ok(_), Err(new)) => panic!("roxmltree accepts {src:?}, the new reader says {} at {}", new.message, new.offset),
        (Err(old), Ok(_)) => panic!("roxmltree refuses {src:?} ({old}), the new reader accepts it"),
    }
}

#[test]
fn documents_read_as_roxmltree_reads_them() {
    for src in [XSI, LEMS, PREFIXES] {
        compare(src);
        assert!(xml::parse(src).is_ok(), "{src:?}");
    }
    for src in SMALL {
        compare(src);
    }
}

#[test]
fn the_corpus_reads_as_roxmltree_reads_it() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../myelin/tests");
    let mut seen = 0;
    for sub in ["invalid", "valid"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if matches!(p.extension().and_then(|x| x.to_str()), Some("xml" | "nml")) {
                let text = std::fs::read_to_string(&p).unwrap();
                compare(&text);
                seen += 1;
            }
        }
    }
    assert!(seen > 50, "the corpus was not found under {}", dir.display());
}

/// Small random edits of well-formed documents: wherever roxmltree and the new reader could
/// disagree (errors in every kind of markup), they must not.
#[test]
fn edited_documents_read_as_roxmltree_reads_them() {
    const SNIPPETS: &[&str] = &[
        "<", ">", "/", "/>", "</", "&", ";", "&amp;", "&#x41;", "&#", "\"", "'", "=", " ", "\n", "\r", "\t", ":", "x", "1", "-",
        "!", "?", "[", "]", "]]>", "<!--", "-->", "--", "<![CDATA[", "<?", "?>", "<?xml ", "<!DOCTYPE", "xmlns", "xmlns:p",
        "p:", "xml:", "\u{1}", "\u{FFFE}", "é", "<a>", "</a>", "<b/>",
    ];
    let bases = [XSI, LEMS, PREFIXES, "<a b='1'><c d=\"2\">t</c><!--x--><?p q?><![CDATA[y]]></a>"];
    // MYELIN_XML_EDITS="N SEED MOST" edits N documents, from another seed, with up to MOST
    // edits each (for a longer search).
    let custom = std::env::var("MYELIN_XML_EDITS").ok();
    let mut args = custom.as_deref().unwrap_or("").split_whitespace().map(|x| x.parse::<u64>().unwrap());
    let rounds = args.next().unwrap_or(20_000);
    let mut state = args.next().unwrap_or(0x9E37_79B9_7F4A_7C15_u64) | 1;
    let most = args.next().unwrap_or(3) as usize;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    for _ in 0..rounds {
        let mut s = bases[next(bases.len())].to_string();
        for _ in 0..1 + next(most) {
            let mut at = next(s.len() + 1);
            while !s.is_char_boundary(at) {
                at -= 1;
            }
            match next(3) {
                0 => s.insert_str(at, SNIPPETS[next(SNIPPETS.len())]),
                1 => {
                    let mut end = (at + 1 + next(3)).min(s.len());
                    while !s.is_char_boundary(end) {
                        end += 1;
                    }
                    s.replace_range(at..end, "");
                }
                _ => {
                    let mut end = (at + 1 + next(12)).min(s.len());
                    while !s.is_char_boundary(end) {
                        end += 1;
                    }
                    let copy = s[at..end].to_string();
                    s.insert_str(at, &copy);
                }
            }
        }
        compare(&s);
    }
}

/// Nesting is not limited here (the reader limits it), and a deep document neither
/// overflows the stack nor takes long.
#[test]
fn deep_documents_are_read_without_recursion() {
    let depth = 200_000;
    let src = format!("<Lems>{}{}</Lems>", "<a>".repeat(depth), "</a>".repeat(depth));
    let doc = xml::parse(&src).unwrap();
    let mut n = doc.root_element();
    let mut levels = 0;
    while let Some(k) = n.children().next() {
        n = k;
        levels += 1;
    }
    assert_eq!(levels, depth);
}
