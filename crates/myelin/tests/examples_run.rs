//! Every official example runs (briefly) in a debug build, where each compiled expression is
//! also checked against the reference tree walk; Ex25 (multi-compartment) is refused with a
//! reason. The comparison of results with jNeuroML is scripts/conformance.py's job.

use std::process::Command;

#[test]
fn official_examples_run_or_are_refused_with_a_reason() {
    let Some(jnml) = myelin_testkit::jnml_dir() else { return };
    let tmp = std::env::temp_dir().join(format!("myelin-examples-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    for dir in ["LEMSexamples", "examples"] {
        std::fs::create_dir_all(tmp.join(dir)).unwrap();
        for f in std::fs::read_dir(jnml.join(dir)).unwrap().flatten() {
            if f.path().is_file() {
                std::fs::copy(f.path(), tmp.join(dir).join(f.file_name())).unwrap();
            }
        }
    }
    let examples = myelin_testkit::files_in(&tmp.join("LEMSexamples"), |n| n.starts_with("LEMS_NML2_Ex") && n.ends_with(".xml"));
    assert_eq!(examples.len(), 31);
    let mut failures = vec![];
    for ex in &examples {
        let out = Command::new(env!("CARGO_BIN_EXE_myelin"))
            .args(["run", "--quiet", "--duration", "2ms"])
            .arg(ex)
            .arg("-I")
            .arg(jnml.join("NeuroML2CoreTypes"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let name = ex.file_name().unwrap().to_string_lossy().to_string();
        let multi = name.contains("Ex25");
        match (out.status.code(), multi) {
            (Some(0), false) => {}
            (Some(1), true) if err.contains("multi-compartment") => {}
            (code, _) => failures.push(format!("{name}: exit {code:?}\n{err}")),
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
