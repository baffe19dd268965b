//! `myelin export` and `myelin validate` on TVBO YAML, through the binary.

mod common;

use common::*;
use std::path::PathBuf;

/// TVBO's database in the reference cache; `None` (skip) when absent and
/// `MYELIN_SKIP_REFERENCE=1`.
fn database() -> Option<PathBuf> {
    myelin_testkit::tvbo_database()
}

const OSC: &str = "name: Osc\nparameters:\n  a: {value: 0.5}\nstate_variables:\n  V:\n    equation: {rhs: '-a*V'}\n    initial_value: 1\n";

#[test]
fn export_writes_lems_to_stdout_or_a_file() {
    let dir = scratch_dir("tvbo-export");
    let model = dir.join("osc.yaml");
    std::fs::write(&model, OSC).unwrap();
    let r = run_myelin([
        std::ffi::OsStr::new("export"),
        model.as_os_str(),
        "--duration".as_ref(),
        "50ms".as_ref(),
        "--dt".as_ref(),
        "0.1ms".as_ref(),
    ]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stdout.starts_with("<?xml"));
    assert!(r.stdout.contains("<Target component=\"sim_Osc\"/>"));
    assert!(
        r.stdout
            .contains("<TimeDerivative variable=\"V\" value=\"(-a*V) / SEC\"/>")
    );
    assert!(
        r.stdout
            .contains("length=\"50ms\" step=\"0.1ms\" target=\"Osc_inst\"")
    );
    let out = dir.join("osc.xml");
    let r = run_myelin([
        std::ffi::OsStr::new("export"),
        model.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stdout.is_empty());
    let xml = std::fs::read_to_string(&out).unwrap();
    assert!(xml.contains("fileName=\"results/Osc.dat\""));
    // What myelin writes, myelin validates clean.
    let v = run_myelin([std::ffi::OsStr::new("validate"), out.as_os_str()]);
    assert_eq!(v.code, Some(0), "{}{}", v.stdout, v.stderr);
    // Nothing else is left in the directory (the write is atomic: no temporary file).
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["osc.xml", "osc.yaml"]);
}

#[test]
fn export_to_yaml_reads_back_to_the_same_model() {
    let dir = scratch_dir("tvbo-yaml");
    let model = dir.join("osc.yaml");
    std::fs::write(&model, OSC).unwrap();
    let again = dir.join("again.yaml");
    let r = run_myelin([
        std::ffi::OsStr::new("export"),
        model.as_os_str(),
        "--to".as_ref(),
        "yaml".as_ref(),
        "-o".as_ref(),
        again.as_os_str(),
    ]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let a = run_myelin([std::ffi::OsStr::new("export"), model.as_os_str()]);
    let b = run_myelin([std::ffi::OsStr::new("export"), again.as_os_str()]);
    assert_eq!(a.code, Some(0));
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn validate_reports_yaml_problems_with_their_location() {
    let dir = scratch_dir("tvbo-validate");
    let good = dir.join("good.yaml");
    std::fs::write(&good, OSC).unwrap();
    let r = run_myelin([std::ffi::OsStr::new("validate"), good.as_os_str()]);
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("good.yaml: valid"));
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "name: Osc\nstate_variables:\n  V:\n    equation: {rhs: '-aa*V'}\n    inital_value: 1\n",
    )
    .unwrap();
    let r = run_myelin([std::ffi::OsStr::new("validate"), bad.as_os_str()]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stdout
            .contains("bad.yaml:4:23: error[undefined-symbol]: `aa` is not defined"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("bad.yaml:5:5: error[unknown-field]: unknown field `inital_value`"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("did you mean `initial_value`?"),
        "{}",
        r.stdout
    );
    let json = run_myelin([
        std::ffi::OsStr::new("validate"),
        "--format".as_ref(),
        "json".as_ref(),
        bad.as_os_str(),
    ]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    assert_eq!(v[0]["valid"], false);
    // Export refuses an invalid file and writes nothing.
    let out = dir.join("bad.xml");
    let r = run_myelin([
        std::ffi::OsStr::new("export"),
        bad.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ]);
    assert_eq!(r.code, Some(1));
    assert!(!out.exists());
}

#[test]
fn a_model_jlems_cannot_run_is_refused_with_the_reason() {
    let dir = scratch_dir("tvbo-refused");
    let model = dir.join("cardano.yaml");
    std::fs::write(
        &model,
        "name: Cardano\nstate_variables:\n  x:\n    equation: {rhs: 'cos(atan2(x, 1)/3)'}\n",
    )
    .unwrap();
    let out = dir.join("cardano.xml");
    let r = run_myelin([
        std::ffi::OsStr::new("export"),
        model.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr
            .contains("error[unsupported-function]: model `Cardano` uses `atan2`"),
        "{}",
        r.stderr
    );
    assert!(!out.exists());
    // The TVBO file itself is valid: validate warns.
    let v = run_myelin([std::ffi::OsStr::new("validate"), model.as_os_str()]);
    assert_eq!(v.code, Some(0), "{}", v.stdout);
    assert!(
        v.stdout
            .contains("warning[unsupported-function]: cannot be exported to LEMS"),
        "{}",
        v.stdout
    );
}

#[test]
fn split_export_writes_three_chained_files() {
    let Some(db) = database() else { return };
    let dir = scratch_dir("tvbo-split");
    let exp = db
        .join("experiments")
        .join("neuroml")
        .join("JansenRit_LEMS.yaml");
    let r = run_myelin([
        std::ffi::OsStr::new("export"),
        exp.as_os_str(),
        "--split".as_ref(),
        "-o".as_ref(),
        dir.as_os_str(),
    ]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let paths: Vec<&str> = r.stdout.lines().collect();
    let want: Vec<String> = ["dynamics", "network", "simulation"]
        .iter()
        .map(|k| {
            dir.join(format!("ses-908_desc-JansenRit_{k}.xml"))
                .display()
                .to_string()
        })
        .collect();
    assert_eq!(paths, want);
    let net = std::fs::read_to_string(&want[1]).unwrap();
    assert!(net.contains("<Include file=\"ses-908_desc-JansenRit_dynamics.xml\"/>"));
    let sim = std::fs::read_to_string(&want[2]).unwrap();
    assert!(sim.contains("<Include file=\"ses-908_desc-JansenRit_network.xml\"/>"));
    // The experiment's integration settings (euler, 0.1 ms, 2000 ms).
    assert!(
        sim.contains("length=\"2000ms\" step=\"0.1ms\" target=\"net\""),
        "{sim}"
    );
    let v = run_myelin([std::ffi::OsStr::new("validate"), want[2].as_ref()]);
    assert_eq!(v.code, Some(0), "{}{}", v.stdout, v.stderr);
    // --split needs a directory.
    let r = run_myelin([
        std::ffi::OsStr::new("export"),
        exp.as_os_str(),
        "--split".as_ref(),
    ]);
    assert_eq!(r.code, Some(2));
}

#[test]
fn database_models_export_and_validate() {
    let Some(db) = database() else { return };
    let jr = db.join("models").join("JansenRit.yaml");
    let r = run_myelin([std::ffi::OsStr::new("export"), jr.as_os_str()]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stdout.contains("<ComponentType name=\"JansenRit\""));
    let r = run_myelin([std::ffi::OsStr::new("validate"), jr.as_os_str()]);
    assert_eq!(r.code, Some(0), "{}", r.stdout);
}
