//! Every expression in the NeuroML2 core types and jLEMS's examples (from the jNeuroML jar,
//! unpacked by `scripts/fetch-reference.sh` into `$MYELIN_CACHE/jnml`) parses in the LEMS
//! dialect, and prints back to LEMS text that parses to the same tree.

mod common;

use common::{files_with, reference_dir, sexp};
use myelin_expr::{Dialect, parse, print_lems, print_sympy};

/// Elements whose attributes hold expressions, and those attributes.
const EXPRESSION_ATTRIBUTES: &[(&str, &[&str])] = &[
    ("TimeDerivative", &["value"]),
    ("DerivedVariable", &["value"]),
    ("DerivedParameter", &["value"]),
    ("Case", &["condition", "value"]),
    ("StateAssignment", &["value"]),
    ("OnCondition", &["test"]),
];

#[test]
#[allow(clippy::print_stdout)]
fn every_lems_expression_parses_and_round_trips() {
    let Some(jnml) = reference_dir("jnml") else {
        println!("MYELIN_SKIP_REFERENCE=1: skipping the NeuroML2/LEMS expression test");
        return;
    };
    let mut files = files_with(&jnml.join("NeuroML2CoreTypes"), &["xml"]);
    let core_files = files.len();
    files.extend(files_with(&jnml.join("LEMSexamples"), &["xml"]));
    assert!(
        core_files >= 10,
        "expected the NeuroML2 core types in {}, found {core_files} files",
        jnml.display()
    );

    let mut failures = Vec::new();
    let mut parsed = 0;
    let mut core_parsed = 0;
    for (index, file) in files.iter().enumerate() {
        let name = file
            .strip_prefix(&jnml)
            .unwrap_or(file)
            .display()
            .to_string();
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(err) => {
                failures.push(format!("{name}: {err}"));
                continue;
            }
        };
        let doc = match roxmltree::Document::parse(&text) {
            Ok(d) => d,
            Err(err) => {
                failures.push(format!("{name}: not XML: {err}"));
                continue;
            }
        };
        for node in doc.descendants().filter(roxmltree::Node::is_element) {
            let tag = node.tag_name().name();
            let Some((_, attributes)) = EXPRESSION_ATTRIBUTES.iter().find(|(t, _)| *t == tag)
            else {
                continue;
            };
            for attribute in *attributes {
                let Some(src) = node.attribute(*attribute) else {
                    continue;
                };
                let line = doc.text_pos_at(node.range().start).row;
                let at = format!("{name}:{line}: <{tag} {attribute}={src:?}>");
                let e = match parse(src, Dialect::Lems) {
                    Ok(e) => e,
                    Err(err) => {
                        failures.push(format!("{at}: {err}"));
                        continue;
                    }
                };
                parsed += 1;
                if index < core_files {
                    core_parsed += 1;
                }
                match print_lems(&e) {
                    Ok(printed) => match parse(&printed, Dialect::Lems) {
                        Ok(back) if back.same(&e) => {}
                        Ok(back) => failures.push(format!(
                            "{at}: printed {printed:?} reads back as {}",
                            sexp(&back)
                        )),
                        Err(err) => failures
                            .push(format!("{at}: printed {printed:?} does not parse: {err}")),
                    },
                    Err(err) => failures.push(format!("{at}: cannot print: {err}")),
                }
                let sympy = print_sympy(&e);
                if !parse(&sympy, Dialect::Sympy).is_ok_and(|back| back.same(&e)) {
                    failures.push(format!("{at}: SymPy form {sympy:?} does not read back"));
                }
            }
        }
    }
    println!(
        "NeuroML2/LEMS: {parsed} expressions from {} files parsed and round-tripped ({core_parsed} from the core types)",
        files.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        core_parsed > 300,
        "only {core_parsed} expressions in the core types: is the scan missing some?"
    );
}
