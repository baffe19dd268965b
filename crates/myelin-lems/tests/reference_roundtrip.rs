//! Every official example reads, writes and reads back to the same model.

use myelin_diag::{Diagnostics, SourceMap};
use myelin_lems::{load, load_str, write_document, LoadOptions, OsFs, WriteOptions};

#[test]
fn official_examples_round_trip() {
    let Some(jnml) = myelin_testkit::jnml_dir() else { return };
    let opts = LoadOptions { include_dirs: vec![jnml.join("NeuroML2CoreTypes"), jnml.join("examples")] };
    let mut files = myelin_testkit::files_in(&jnml.join("LEMSexamples"), |n| n.starts_with("LEMS_NML2_Ex") && n.ends_with(".xml"));
    files.extend(myelin_testkit::files_in(&jnml.join("examples"), |n| n.ends_with(".nml")));
    assert!(files.len() >= 31 + 17, "expected the 31 LEMS examples and the NeuroML examples, found {}", files.len());
    let mut failures = vec![];
    for f in &files {
        let mut sources = SourceMap::new();
        let mut diags = Diagnostics::new();
        let first = load(f, &opts, &OsFs, &mut sources, &mut diags).expect("readable");
        myelin_check::check(&first.model, &mut diags);
        if diags.has_errors() {
            failures.push(format!("{}: does not validate", f.display()));
            continue;
        }
        let written = write_document(&first.model, &WriteOptions { file: Some(first.root) });
        // Read the written text as if it were the original file, so its includes resolve alike.
        let mut sources2 = SourceMap::new();
        let mut diags2 = Diagnostics::new();
        let second = load_str(&f.to_string_lossy(), &written, &opts, &OsFs, &mut sources2, &mut diags2);
        myelin_check::check(&second.model, &mut diags2);
        if diags2.has_errors() {
            let text: String = diags2.iter().map(|d| myelin_diag::render_text(&sources2, d)).collect();
            failures.push(format!("{}: written copy does not validate:\n{text}", f.display()));
            continue;
        }
        let rewritten = write_document(&second.model, &WriteOptions { file: Some(second.root) });
        if written != rewritten {
            failures.push(format!("{}: writing is not a fixpoint", f.display()));
        }
        let flat1 = write_document(&first.model, &WriteOptions { file: None });
        let flat2 = write_document(&second.model, &WriteOptions { file: None });
        if flat1 != flat2 {
            failures.push(format!("{}: the model read back differs", f.display()));
        }
        if first.model.components.len() != second.model.components.len() || first.model.component_types.len() != second.model.component_types.len() {
            failures.push(format!("{}: item counts differ", f.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
