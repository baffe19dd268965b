//! Every equation in TVBO's model database (the `tvbo` 0.5.3 wheel, unpacked by
//! `scripts/fetch-reference.sh` into `$MYELIN_CACHE/tvbo/database`) parses in the SymPy
//! dialect and survives a print/parse round trip.
//!
//! The YAML files are read with a small line-based scalar extractor (below), enough for what a
//! YAML dumper writes: block mappings and sequences, plain scalars continued on more-indented
//! lines, single- and double-quoted scalars over several lines, and `|`/`>` block scalars.

mod common;

use common::{files_with, reference_dir, sexp};
use myelin_expr::{Dialect, ExprKind, parse, print_lems, print_sympy};

/// A scalar value found in a YAML file.
#[derive(Debug)]
struct Scalar {
    /// Keys of the enclosing mappings, outermost first (sequence items are transparent).
    path: Vec<String>,
    key: String,
    value: String,
    /// 1-based line of the key.
    line: usize,
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// Splits `key: rest` (the key a plain identifier); `None` for other lines.
fn split_key(content: &str) -> Option<(&str, &str)> {
    let colon = content.find(':')?;
    let key = &content[..colon];
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    let rest = &content[colon + 1..];
    if !rest.is_empty() && !rest.starts_with(' ') {
        return None;
    }
    Some((key, rest.trim()))
}

/// Joins the lines of a multi-line flow scalar: single line breaks fold to a space, empty
/// lines to newlines.
fn fold_lines(parts: &[String]) -> String {
    let mut out = String::new();
    let mut pending_newlines = 0;
    for (i, p) in parts.iter().enumerate() {
        if i > 0 && p.is_empty() {
            pending_newlines += 1;
            continue;
        }
        if i > 0 {
            if pending_newlines > 0 {
                out.push_str(&"\n".repeat(pending_newlines));
            } else {
                out.push(' ');
            }
        }
        pending_newlines = 0;
        out.push_str(p);
    }
    out
}

/// Reads a quoted scalar starting at `first` (which begins with the quote), continuing over
/// `lines[next..]`. Returns the value and the number of extra lines consumed.
fn quoted(first: &str, lines: &[&str], next: usize) -> (String, usize) {
    let quote = first.chars().next().unwrap_or('\'');
    let mut parts: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut text: String = first[1..].to_owned();
    let mut used = 0;
    loop {
        let mut chars = text.chars().peekable();
        let mut closed = false;
        let mut joined_by_escape = false;
        while let Some(c) = chars.next() {
            match (quote, c) {
                ('\'', '\'') if chars.peek() == Some(&'\'') => {
                    chars.next();
                    current.push('\'');
                }
                ('\'', '\'') | ('"', '"') => {
                    closed = true;
                    break;
                }
                ('"', '\\') => match chars.next() {
                    Some('n') => current.push('\n'),
                    Some('t') => current.push('\t'),
                    Some(other) => current.push(other),
                    None => joined_by_escape = true,
                },
                _ => current.push(c),
            }
        }
        if closed || next + used >= lines.len() {
            parts.push(current);
            return (fold_lines(&parts), used);
        }
        if joined_by_escape {
            // `\` at the end of a line joins it to the next without a space.
            text = lines[next + used].trim_start().to_owned();
            used += 1;
            continue;
        }
        parts.push(current.trim_end().to_owned());
        current = String::new();
        text = lines[next + used].trim_start().to_owned();
        used += 1;
    }
}

/// Removes the quotes of a one-line flow scalar.
fn unquote(v: &str) -> String {
    let v = v.trim();
    if v.len() >= 2 && v.starts_with('\'') && v.ends_with('\'') {
        v[1..v.len() - 1].replace("''", "'")
    } else if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        v[1..v.len() - 1]
            .replace("\\\"", "\"")
            .replace("\\\\", "\\")
    } else {
        v.to_owned()
    }
}

/// Splits the inside of a one-line flow collection at its top-level commas.
fn flow_entries(inner: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quote, mut start) = (0i32, None, 0);
    for (k, c) in inner.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '{' | '[' | '(') => depth += 1,
            (None, '}' | ']' | ')') => depth -= 1,
            (None, ',') if depth == 0 => {
                out.push(&inner[start..k]);
                start = k + 1;
            }
            _ => {}
        }
    }
    out.push(&inner[start..]);
    out.into_iter().filter(|e| !e.trim().is_empty()).collect()
}

/// Emits the scalars of a one-line flow mapping `{k: v, k2: {k3: v3}}` found under `path`.
fn flow_mapping(text: &str, path: &[String], line: usize, out: &mut Vec<Scalar>) {
    let inner = &text[1..text.len() - 1];
    for entry in flow_entries(inner) {
        let Some((key, value)) = split_key(entry.trim()) else {
            continue;
        };
        if value.starts_with('{') && value.ends_with('}') {
            let mut deeper = path.to_vec();
            deeper.push(key.to_owned());
            flow_mapping(value, &deeper, line, out);
        } else {
            out.push(Scalar {
                path: path.to_vec(),
                key: key.to_owned(),
                value: unquote(value),
                line,
            });
        }
    }
}

/// Extracts every scalar value of a block-style YAML document (one-line flow mappings
/// included).
fn scalars(yaml: &str) -> Vec<Scalar> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut out = Vec::new();
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed == "---" {
            continue;
        }
        let mut col = indent_of(line);
        let mut content = &line[col..];
        while let Some(item) = content.strip_prefix("- ") {
            col += 2;
            content = item.trim_start_matches(' ');
            col += item.len() - content.len();
        }
        let Some((key, rest)) = split_key(content) else {
            continue;
        };
        while stack.last().is_some_and(|(c, _)| *c >= col) {
            stack.pop();
        }
        if rest.is_empty() {
            stack.push((col, key.to_owned()));
            continue;
        }
        let path: Vec<String> = stack.iter().map(|(_, k)| k.clone()).collect();
        let line_no = i;
        if rest.starts_with('{') && rest.ends_with('}') {
            let mut inner_path = path;
            inner_path.push(key.to_owned());
            flow_mapping(rest, &inner_path, line_no, &mut out);
            continue;
        }
        let value = if rest.starts_with('\'') || rest.starts_with('"') {
            let (v, used) = quoted(rest, &lines, i);
            i += used;
            v
        } else if rest.starts_with('|') || rest.starts_with('>') {
            let literal = rest.starts_with('|');
            let mut parts = Vec::new();
            while i < lines.len() && (lines[i].trim().is_empty() || indent_of(lines[i]) > col) {
                parts.push(lines[i].trim().to_owned());
                i += 1;
            }
            while parts.last().is_some_and(String::is_empty) {
                parts.pop();
            }
            if literal {
                parts.join("\n")
            } else {
                fold_lines(&parts)
            }
        } else {
            let strip_comment = |s: &str| s.find(" #").map_or(s, |k| &s[..k]).trim().to_owned();
            let mut parts = vec![strip_comment(rest)];
            while i < lines.len() && (lines[i].trim().is_empty() || indent_of(lines[i]) > col) {
                parts.push(strip_comment(lines[i]));
                i += 1;
            }
            while parts.last().is_some_and(String::is_empty) {
                parts.pop();
            }
            fold_lines(&parts)
        };
        out.push(Scalar {
            path,
            key: key.to_owned(),
            value,
            line: line_no,
        });
    }
    out
}

/// Splits an event's `affect` (`v = c; U = U + d`) into assignment sides.
fn assignments(text: &str) -> Vec<(String, String)> {
    text.split(';')
        .filter(|s| !s.trim().is_empty())
        .map(|stmt| {
            let b = stmt.as_bytes();
            let at = (0..b.len()).find(|&k| {
                b[k] == b'='
                    && b.get(k + 1) != Some(&b'=')
                    && !(k > 0 && matches!(b[k - 1], b'=' | b'<' | b'>' | b'!'))
            });
            match at {
                Some(k) => (stmt[..k].trim().to_owned(), stmt[k + 1..].trim().to_owned()),
                None => (String::new(), stmt.trim().to_owned()),
            }
        })
        .collect()
}

#[test]
fn yaml_extractor_reads_the_scalar_forms_tvbo_uses() {
    let doc = "\
a:
  equation:
    lhs: x
    rhs: 1 + 2 # comment
  plain: first
    second
  single: 'it''s

    two'
  double: \"a\\\"b \\
    c\"
  folded: >-
    p +
    q
  seq:
  - condition: 'True'
    equation:
      rhs: '0'
b: {}
c: {equation: {lhs: Aik, rhs: 'f(a, ''b'')', n: {}}, latex: false}
";
    let got: Vec<(String, String, String)> = scalars(doc)
        .into_iter()
        .map(|s| (s.path.join("."), s.key, s.value))
        .collect();
    let want = [
        ("a.equation", "lhs", "x"),
        ("a.equation", "rhs", "1 + 2"),
        ("a", "plain", "first second"),
        ("a", "single", "it's\ntwo"),
        ("a", "double", "a\"b c"),
        ("a", "folded", "p + q"),
        ("a.seq", "condition", "True"),
        ("a.seq.equation", "rhs", "0"),
        ("c.equation", "lhs", "Aik"),
        ("c.equation", "rhs", "f(a, 'b')"),
        ("c", "latex", "false"),
    ];
    let want: Vec<(String, String, String)> = want
        .iter()
        .map(|(p, k, v)| ((*p).to_owned(), (*k).to_owned(), (*v).to_owned()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        assignments("v = c; U = U + d; w = Piecewise((1, x >= 0), (2, True))"),
        [
            ("v".to_owned(), "c".to_owned()),
            ("U".to_owned(), "U + d".to_owned()),
            (
                "w".to_owned(),
                "Piecewise((1, x >= 0), (2, True))".to_owned()
            )
        ]
    );
}

#[test]
#[allow(clippy::print_stdout)]
fn every_tvbo_equation_parses() {
    let Some(db) = reference_dir("tvbo/database") else {
        println!("MYELIN_SKIP_REFERENCE=1: skipping the TVBO database test");
        return;
    };
    let mut files = files_with(&db.join("models"), &["yaml", "yml"]);
    files.extend(files_with(&db.join("coupling_functions"), &["yaml", "yml"]));
    assert!(
        files.len() > 100,
        "expected the TVBO model database, found {} files in {}",
        files.len(),
        db.display()
    );

    let mut failures = Vec::new();
    let mut parsed = 0;
    let mut lems_round_trips = 0;
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            failures.push(format!("{}: unreadable", file.display()));
            continue;
        };
        let name = file.strip_prefix(&db).unwrap_or(file).display().to_string();
        for s in scalars(&text) {
            let parent = s.path.last().map(String::as_str);
            let sources: Vec<String> = match (s.key.as_str(), parent) {
                ("rhs", Some("affect")) => assignments(&s.value)
                    .into_iter()
                    .flat_map(|(l, r)| [l, r])
                    .filter(|x| !x.is_empty())
                    .collect(),
                ("rhs" | "lhs" | "condition", _) => vec![s.value.clone()],
                ("value", Some("equation")) => vec![s.value.clone()],
                _ => continue,
            };
            for src in sources {
                match parse(&src, Dialect::Sympy) {
                    Ok(e) => {
                        parsed += 1;
                        let printed = print_sympy(&e);
                        match parse(&printed, Dialect::Sympy) {
                            Ok(back) if back.same(&e) => {}
                            _ => failures.push(format!(
                                "{name}:{}: {src:?} does not round-trip via {printed:?}",
                                s.line
                            )),
                        }
                        let mut exact = true;
                        e.walk(|n| {
                            exact &= !matches!(n.kind, ExprKind::Const(_) | ExprKind::Bool(_))
                        });
                        if let (true, Ok(l)) = (exact, print_lems(&e)) {
                            match parse(&l, Dialect::Lems) {
                                Ok(back) if back.same(&e) => lems_round_trips += 1,
                                _ => failures.push(format!(
                                    "{name}:{}: {} does not round-trip via LEMS {l:?}",
                                    s.line,
                                    sexp(&e)
                                )),
                            }
                        }
                    }
                    Err(err) => {
                        failures.push(format!("{name}:{}: {}: {src:?}: {err}", s.line, s.key))
                    }
                }
            }
        }
    }
    println!(
        "TVBO database: {parsed} equations from {} files parsed ({lems_round_trips} also written to LEMS and read back)",
        files.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        parsed > 500,
        "only {parsed} equations found: is the extractor missing some?"
    );
}
