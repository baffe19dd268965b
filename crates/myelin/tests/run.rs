//! `myelin run` from the command line: output files where jNeuroML writes them, refusals with
//! file:line:col and non-zero exits, nothing written outside the model's directory.

use std::path::Path;
use std::process::Command;

const MODEL: &str = r#"<Lems>
  <Target component="sim"/>
  <Dimension name="time" t="1"/>
  <Unit symbol="ms" dimension="time" power="-3"/>
  <ComponentType name="Simulation">
    <Parameter name="length" dimension="time"/>
    <Parameter name="step" dimension="time"/>
    <ComponentReference name="target" type="Component"/>
    <Children name="outputs" type="OutputFile"/>
  </ComponentType>
  <ComponentType name="OutputFile">
    <Text name="fileName"/>
    <Children name="columns" type="OutputColumn"/>
  </ComponentType>
  <ComponentType name="OutputColumn"><Path name="quantity"/></ComponentType>
  <ComponentType name="decay">
    <Parameter name="tau" dimension="time"/>
    <Exposure name="x" dimension="none"/>
    <Dynamics>
      <StateVariable name="x" dimension="none" exposure="x"/>
      <TimeDerivative variable="x" value="-x / tau"/>
      <OnStart><StateAssignment variable="x" value="1"/></OnStart>
    </Dynamics>
  </ComponentType>
  <decay id="d" tau="1ms"/>
  <Simulation id="sim" length="1ms" step="0.5ms" target="d">
    <OutputFile id="o" fileName="OUT"><OutputColumn id="x" quantity="x"/></OutputFile>
  </Simulation>
</Lems>
"#;

fn myelin(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_myelin")).args(args).current_dir(dir).output().expect("runs");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("myelin-run-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn writes_jlems_layout_creating_missing_directories() {
    let d = temp_dir("ok");
    std::fs::write(d.join("m.xml"), MODEL.replace("OUT", "results/x.dat")).unwrap();
    let (code, _, err) = myelin(&d, &["run", "--quiet", "m.xml"]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(d.join("results/x.dat")).unwrap();
    assert_eq!(text, "0.0\t1.0\t\n5.0E-4\t0.5\t\n0.001\t0.25\t\n");
    assert!(!d.join("results/.x.dat.myelin-partial").exists());
}

#[test]
fn refuses_outputs_outside_the_model_directory() {
    let d = temp_dir("outside");
    std::fs::create_dir_all(d.join("m")).unwrap();
    std::fs::write(d.join("m/m.xml"), MODEL.replace("OUT", "../escape.dat")).unwrap();
    let (code, _, err) = myelin(&d, &["run", "--quiet", "m/m.xml"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("outside the model's directory"), "{err}");
    assert!(err.contains("m.xml:"), "points into the file: {err}");
    assert!(!d.join("escape.dat").exists());
    // --out-dir chooses where outputs go, and allows it.
    let (code, _, err) = myelin(&d, &["run", "--quiet", "m/m.xml", "--out-dir", "o/p"]);
    assert_eq!(code, 0, "{err}");
    assert!(d.join("o/escape.dat").exists());
}

#[test]
fn invalid_and_unsupported_models_exit_non_zero_with_locations() {
    let d = temp_dir("bad");
    std::fs::write(d.join("bad.xml"), MODEL.replace("tau=\"1ms\"", "tau=\"1mV\"")).unwrap();
    let (code, _, err) = myelin(&d, &["run", "--quiet", "bad.xml"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("bad.xml:25:22: error[unknown-unit]"), "{err}");
    let unsupported = MODEL.replace("<Dynamics>", "<Dynamics simultaneous=\"true\">").replace("OUT", "x.dat");
    std::fs::write(d.join("u.xml"), unsupported).unwrap();
    let (code, _, err) = myelin(&d, &["run", "--quiet", "u.xml"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("error[cannot-simulate]") && err.contains("u.xml:"), "{err}");
    assert!(!d.join("x.dat").exists(), "nothing written");
    let (code, _, _) = myelin(&d, &["run", "--quiet", "missing.xml"]);
    assert_eq!(code, 2);
}

#[test]
fn tvbo_runs_choose_the_integrator_and_refuse_noise() {
    let d = temp_dir("tvbo");
    // A built-in model by name, with each method; an unknown method is a usage error.
    for m in ["euler", "heun", "rk4"] {
        let (code, _, err) = myelin(&d, &["run", "FitzHughNagumo", "--duration", "1ms", "--method", m, "--out-dir", m, "--quiet"]);
        assert_eq!(code, 0, "{m}: {err}");
        assert!(d.join(m).join("results/FitzHughNagumo.dat").exists());
    }
    let (code, _, err) = myelin(&d, &["run", "FitzHughNagumo", "--method", "leapfrog", "--quiet"]);
    assert_eq!(code, 2, "{err}");
    // An experiment asking for noise is refused at its `noise`, not run without it.
    let exp = "id: 1\nlabel: noisy\ndynamics:\n  name: FitzHughNagumo\nintegration:\n  method: heun\n  step_size: 0.1\n  duration: 10.0\n  noise:\n    name: Additive\n";
    std::fs::write(d.join("noisy.yaml"), exp).unwrap();
    let (code, _, err) = myelin(&d, &["run", "noisy.yaml", "--quiet"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("noisy.yaml:9:3: error[unsupported-noise]"), "{err}");
    assert!(!d.join("results").exists(), "nothing written");
}
