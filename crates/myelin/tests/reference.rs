//! The reference corpus: jNeuroML's 31 `LEMS_NML2_Ex*.xml` examples and its `examples/*.nml`,
//! read from the cache that `scripts/fetch-reference.sh` fills (`MYELIN_CACHE`, default
//! `~/.cache/myelin`; never copied into the repository).
//!
//! (a) Every one of them must validate (exit 0).
//! (b) For each, broken copies are written to a scratch directory, each with ONE fault
//!     injected by string surgery, and the validator must report it (exit 1, a diagnostic with
//!     the expected code on the line of the fault):
//!     - the first component element's tag gets an `X` appended → `unknown-type`;
//!     - the first component element gets ` bogus="1"` → `unknown-attribute`;
//!     - the first voltage or time quantity in a component gets a unit of the other dimension
//!       → `wrong-dimension`;
//!     - the first reference to another component by id (`component=`, `synapse=`,
//!       `ionChannel=`, `input=`) is pointed at an id that does not exist → `dangling-reference`.
//!     The copies keep resolving their includes through `-I` (the originals' directories and
//!     the core types).
//!
//! Without the cache these tests fail with instructions, unless `MYELIN_SKIP_REFERENCE=1`.

mod common;

use common::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Top-level elements that are not components (LEMS definitions and NeuroML metadata).
const NOT_COMPONENTS: &[&str] = &[
    "Include", "include", "Target", "Dimension", "Unit", "Constant", "ComponentType", "Meta", "Assertion", "Component",
    "notes", "annotation", "property",
];
/// Simulation-control elements whose quantities may take any dimension (`Line scale="1mV"`).
const SIMULATION_ELEMENTS: &[&str] = &["Simulation", "Display", "Line", "OutputFile", "OutputColumn", "EventOutputFile", "EventSelection"];

struct Reference {
    jnml: PathBuf,
    files: Vec<PathBuf>,
}

impl Reference {
    fn load(what: &str) -> Option<Reference> {
        let jnml = jnml_dir(what)?;
        let list = |dir: &Path, keep: &dyn Fn(&str) -> bool| -> Vec<PathBuf> {
            let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
                .unwrap_or_else(|e| panic!("cannot list {}: {e} (run scripts/fetch-reference.sh)", dir.display()))
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(keep))
                .collect();
            v.sort();
            v
        };
        let lems = list(&jnml.join("LEMSexamples"), &|n| n.starts_with("LEMS_NML2_Ex") && n.ends_with(".xml"));
        let nml = list(&jnml.join("examples"), &|n| n.ends_with(".nml"));
        assert_eq!(lems.len(), 31, "expected the 31 LEMS_NML2_Ex*.xml examples in {}", jnml.join("LEMSexamples").display());
        assert!(!nml.is_empty(), "no examples/*.nml in {}", jnml.display());
        Some(Reference { files: lems.into_iter().chain(nml).collect(), jnml })
    }

    /// `-I` directories: the core types, the examples and the LEMS examples (so that
    /// `../examples/X.nml` resolves from a copy in another directory too).
    fn include_dirs(&self) -> Vec<PathBuf> {
        vec![self.jnml.join("NeuroML2CoreTypes"), self.jnml.join("examples"), self.jnml.join("LEMSexamples")]
    }

    fn rel(&self, p: &Path) -> String {
        p.strip_prefix(&self.jnml).unwrap_or(p).display().to_string()
    }
}

#[test]
fn reference_documents_are_valid() {
    let Some(r) = Reference::load("the reference corpus") else { return };
    let include = r.include_dirs();
    let results = par_map(&r.files, |f| {
        let run = validate_json(f, &include);
        let mut problems = String::new();
        if run.panicked() {
            let _ = writeln!(problems, "  the validator panicked:\n{}", clip(&run.stderr, 2000));
        }
        if run.code != Some(0) {
            let _ = writeln!(problems, "  expected exit 0, got {}", run.ended());
            // Show the diagnostics the way a user sees them.
            let text = validate_text(f, &include);
            for l in text.stdout.lines().chain(text.stderr.lines()).take(60) {
                let _ = writeln!(problems, "    {l}");
            }
        }
        problems
    });
    let mut report = String::new();
    let mut failed = 0;
    for (f, p) in r.files.iter().zip(&results) {
        if !p.is_empty() {
            failed += 1;
            let _ = writeln!(report, "{}:\n{p}", r.rel(f));
        }
    }
    assert!(failed == 0, "{failed} of {} reference documents did not validate:\n\n{report}", r.files.len());
}

/// One injected fault.
struct Fault {
    what: &'static str,
    code: &'static str,
    /// 1-based line of the fault in the broken copy.
    line: u64,
    text: String,
}

fn line_of(text: &str, offset: usize) -> u64 {
    text[..offset].matches('\n').count() as u64 + 1
}

fn local_name<'a>(n: roxmltree::Node<'a, '_>) -> &'a str {
    n.tag_name().name()
}

/// The top-level component elements, in document order.
fn top_components<'a, 'i>(doc: &'a roxmltree::Document<'i>) -> Vec<roxmltree::Node<'a, 'i>> {
    doc.root_element().children().filter(|n| n.is_element() && !NOT_COMPONENTS.contains(&local_name(*n))).collect()
}

fn rename_first_component(text: &str, doc: &roxmltree::Document<'_>) -> Option<Fault> {
    let n = *top_components(doc).first()?;
    let r = n.range();
    let name = local_name(n);
    let open_name_end = r.start + 1 + name.len();
    debug_assert_eq!(&text[r.start + 1..open_name_end], name);
    let element = &text[r.clone()];
    let mut out = String::with_capacity(text.len() + 2);
    out.push_str(&text[..open_name_end]);
    out.push('X');
    if element.ends_with("/>") {
        out.push_str(&text[open_name_end..]);
    } else {
        let close = r.start + element.rfind("</")? + 2;
        debug_assert_eq!(&text[close..close + name.len()], name);
        out.push_str(&text[open_name_end..close + name.len()]);
        out.push('X');
        out.push_str(&text[close + name.len()..]);
    }
    Some(Fault { what: "tag of the first component renamed with an X", code: "unknown-type", line: line_of(text, r.start), text: out })
}

fn bogus_attribute(text: &str, doc: &roxmltree::Document<'_>) -> Option<Fault> {
    let n = *top_components(doc).first()?;
    let at = n.range().start + 1 + local_name(n).len();
    let out = format!("{} bogus=\"1\"{}", &text[..at], &text[at..]);
    Some(Fault { what: "bogus=\"1\" added to the first component", code: "unknown-attribute", line: line_of(text, n.range().start), text: out })
}

/// `-60mV` → `-60ms`, `5 ms` → `5 mV`, and so for V and s.
fn swap_unit(value: &str) -> Option<String> {
    let v = value.trim();
    let num_end = v.find(|c: char| !(c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E')))?;
    let (num, unit) = v.split_at(num_end);
    if num.is_empty() || num.parse::<f64>().is_err() {
        return None;
    }
    let sep = if unit.starts_with(' ') { " " } else { "" };
    let to = match unit.trim() {
        "mV" => "ms",
        "ms" => "mV",
        "V" => "s",
        "s" => "V",
        _ => return None,
    };
    Some(format!("{num}{sep}{to}"))
}

fn change_unit(text: &str, doc: &roxmltree::Document<'_>) -> Option<Fault> {
    fn walk<'a, 'i>(n: roxmltree::Node<'a, 'i>, out: &mut Vec<roxmltree::Node<'a, 'i>>) {
        for k in n.children().filter(roxmltree::Node::is_element) {
            let name = local_name(k);
            if NOT_COMPONENTS.contains(&name) && name != "Component" || SIMULATION_ELEMENTS.contains(&name) {
                continue; // skips definitions (and their subtrees), metadata and simulation control
            }
            out.push(k);
            walk(k, out);
        }
    }
    let mut nodes = vec![];
    walk(doc.root_element(), &mut nodes);
    for n in nodes {
        for a in n.attributes() {
            if a.namespace().is_some() || matches!(a.name(), "id" | "type" | "scale" | "timeScale") {
                continue;
            }
            if let Some(new) = swap_unit(a.value()) {
                let r = a.range_value();
                let out = format!("{}{new}{}", &text[..r.start], &text[r.end..]);
                return Some(Fault {
                    what: "the unit of the first voltage/time quantity swapped for one of the other dimension",
                    code: "wrong-dimension",
                    line: line_of(text, r.start),
                    text: out,
                });
            }
        }
    }
    None
}

/// Attributes that name another component by id.
const REFERENCE_ATTRIBUTES: &[&str] = &["component", "synapse", "ionChannel", "input"];

fn dangle_reference(text: &str, doc: &roxmltree::Document<'_>) -> Option<Fault> {
    fn first<'a, 'i>(n: roxmltree::Node<'a, 'i>) -> Option<roxmltree::Attribute<'a, 'i>> {
        for k in n.children().filter(roxmltree::Node::is_element) {
            let name = local_name(k);
            if NOT_COMPONENTS.contains(&name) && name != "Component" || SIMULATION_ELEMENTS.contains(&name) {
                continue;
            }
            if let Some(a) = k.attributes().find(|a| a.namespace().is_none() && REFERENCE_ATTRIBUTES.contains(&a.name())) {
                return Some(a);
            }
            if let Some(a) = first(k) {
                return Some(a);
            }
        }
        None
    }
    let a = first(doc.root_element())?;
    let r = a.range_value();
    let out = format!("{}{}_nosuch{}", &text[..r.start], a.value(), &text[r.end..]);
    Some(Fault {
        what: "the first reference by id pointed at an id that does not exist",
        code: "dangling-reference",
        line: line_of(text, r.start),
        text: out,
    })
}

#[test]
fn injected_faults_are_found() {
    let Some(r) = Reference::load("the reference corpus") else { return };
    let include = r.include_dirs();
    let scratch = scratch_dir("reference-faults");
    // (original, fault kind, copy path, fault)
    let mut cases: Vec<(PathBuf, PathBuf, Fault)> = vec![];
    let mut setup = String::new();
    for f in &r.files {
        let text = std::fs::read_to_string(f).expect("read reference file");
        let doc = match roxmltree::Document::parse(&text) {
            Ok(d) => d,
            Err(e) => {
                let _ = writeln!(setup, "{}: cannot parse: {e}", r.rel(f));
                continue;
            }
        };
        let stem = f.file_stem().and_then(|s| s.to_str()).unwrap_or("x");
        let ext = f.extension().and_then(|s| s.to_str()).unwrap_or("xml");
        let faults: Vec<(&str, Option<Fault>)> =
            vec![("rename", rename_first_component(&text, &doc)), ("bogus", bogus_attribute(&text, &doc)), ("unit", change_unit(&text, &doc)), ("dangle", dangle_reference(&text, &doc))];
        let mut any = false;
        for (kind, fault) in faults {
            let Some(fault) = fault else { continue };
            any = true;
            let copy = scratch.join(format!("{stem}.{kind}.{ext}"));
            std::fs::write(&copy, &fault.text).expect("write broken copy");
            cases.push((f.clone(), copy, fault));
        }
        if !any {
            let _ = writeln!(setup, "{}: no fault could be injected", r.rel(f));
        }
    }
    assert!(setup.is_empty(), "{setup}");
    for kind in ["rename", "bogus", "unit", "dangle"] {
        let n = cases.iter().filter(|(_, copy, _)| copy.to_string_lossy().contains(&format!(".{kind}."))).count();
        assert!(n >= 10, "only {n} reference documents got a `{kind}` fault; has the cache changed?");
    }

    let results = par_map(&cases, |(orig, copy, fault)| {
        let run = validate_json(copy, &include);
        let mut problems = String::new();
        if run.panicked() {
            let _ = writeln!(problems, "  the validator panicked:\n{}", clip(&run.stderr, 2000));
        }
        if run.code != Some(1) {
            let _ = writeln!(problems, "  expected exit 1, got {}", run.ended());
        }
        match parse_reports(&run.stdout) {
            Err(e) => {
                let _ = writeln!(problems, "  {e}");
            }
            Ok(reports) => {
                let diags: Vec<&Diag> = reports.iter().flat_map(|x| &x.diagnostics).collect();
                let hit = diags.iter().any(|d| d.is_error() && d.code == fault.code && d.line == fault.line && d.is_in(copy));
                if !hit {
                    let _ = writeln!(problems, "  expected error[{}] on line {}:", fault.code, fault.line);
                    let _ = writeln!(problems, "{}", snippet(&fault.text, fault.line, 1));
                    let _ = writeln!(problems, "  reported:");
                    for d in diags.iter().filter(|d| d.is_error()).take(12) {
                        let _ = writeln!(problems, "    {}", d.describe());
                    }
                    if diags.iter().all(|d| !d.is_error()) {
                        let _ = writeln!(problems, "    (no errors)");
                    }
                }
            }
        }
        if problems.is_empty() { Ok(()) } else { Err(format!("{} [{}] ({}):\n{problems}", r.rel(orig), fault.what, copy.display())) }
    });
    let failures: Vec<&String> = results.iter().filter_map(|x| x.as_ref().err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} injected faults were not reported as expected:\n\n{}",
        failures.len(),
        cases.len(),
        failures.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn unit_swapping() {
    assert_eq!(swap_unit("-60mV").as_deref(), Some("-60ms"));
    assert_eq!(swap_unit("5 ms").as_deref(), Some("5 mV"));
    assert_eq!(swap_unit("0.5s").as_deref(), Some("0.5V"));
    assert_eq!(swap_unit("1e-3 V").as_deref(), Some("1e-3 s"));
    assert_eq!(swap_unit("10pS"), None);
    assert_eq!(swap_unit("ms"), None);
    assert_eq!(swap_unit("abc"), None);
}
