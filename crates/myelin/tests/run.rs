//! `myelin run` from the command line: output files where jNeuroML writes them, refusals with
//! file:line:col and non-zero exits, nothing written outside the model's directory.

use std::path::Path;
use std::process::Command;

/// A decaying variable and its simulation (`OUT`: the output file's name).
const DECAY: &str = r#"<Lems>
  <Target component="sim"/>
  <Dimension name="time" t="1"/>
  <Unit symbol="ms" dimension="time" power="-3"/>
  SIMULATION_TYPES
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

/// [`DECAY`] with the simulation element types filled in.
fn model() -> String {
    DECAY.replace("SIMULATION_TYPES", myelin_testkit::SIMULATION_TYPES)
}

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
    std::fs::write(d.join("m.xml"), model().replace("OUT", "results/x.dat")).unwrap();
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
    std::fs::write(d.join("m/m.xml"), model().replace("OUT", "../escape.dat")).unwrap();
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
    std::fs::write(d.join("bad.xml"), model().replace("tau=\"1ms\"", "tau=\"1mV\"")).unwrap();
    let (code, _, err) = myelin(&d, &["run", "--quiet", "bad.xml"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("bad.xml:33:22: error[unknown-unit]"), "{err}");
    let unsupported = model().replace("<Dynamics>", "<Dynamics simultaneous=\"true\">").replace("OUT", "x.dat");
    std::fs::write(d.join("u.xml"), unsupported).unwrap();
    let (code, _, err) = myelin(&d, &["run", "--quiet", "u.xml"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("error[cannot-simulate]") && err.contains("u.xml:"), "{err}");
    assert!(!d.join("x.dat").exists(), "nothing written");
    let (code, _, _) = myelin(&d, &["run", "--quiet", "missing.xml"]);
    assert_eq!(code, 2);
}

#[test]
fn tvbo_runs_choose_the_integrator_and_refuse_unsupported_noise() {
    let d = temp_dir("tvbo");
    // A built-in model by name, with each method; an unknown method is a usage error.
    for m in ["euler", "heun", "rk4"] {
        let (code, _, err) = myelin(&d, &["run", "FitzHughNagumo", "--duration", "1ms", "--method", m, "--out-dir", m, "--quiet"]);
        assert_eq!(code, 0, "{m}: {err}");
        assert!(d.join(m).join("results/FitzHughNagumo.dat").exists());
    }
    let (code, _, err) = myelin(&d, &["run", "FitzHughNagumo", "--method", "leapfrog", "--quiet"]);
    assert_eq!(code, 2, "{err}");
    // Noise myelin cannot integrate is refused where the file asks for it, not run without it.
    let exp = "id: 1\nlabel: noisy\ndynamics:\n  name: FitzHughNagumo\nintegration:\n  method: heun\n  step_size: 0.1\n  duration: 10.0\n  noise:\n    additive: false\n    parameters: {sigma: {value: 0.1}}\n";
    std::fs::write(d.join("noisy.yaml"), exp).unwrap();
    let (code, _, err) = myelin(&d, &["run", "noisy.yaml", "--quiet"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("noisy.yaml:10:15: error[unsupported-noise]"), "{err}");
    assert!(!d.join("results").exists(), "nothing written");
}

/// An Ornstein-Uhlenbeck process: dx/dt = -x (per ms) with additive noise of intensity sigma on
/// x, integrated with `method` at `dt` ms for 2 s.
fn ou_experiment(method: &str, dt: f64, sigma_on_state: bool) -> String {
    let noise = "noise:\n  additive: true\n  parameters:\n    sigma:\n      value: 0.5\n";
    let indent = |n: usize| noise.lines().map(|l| format!("{}{l}\n", " ".repeat(n))).collect::<String>();
    let (own, global) = if sigma_on_state { (indent(6), String::new()) } else { (String::new(), indent(2)) };
    format!(
        "id: 1\nlabel: ou\ndynamics:\n  name: OU\n  state_variables:\n    x:\n      initial_value: 0.0\n      equation: {{rhs: -x}}\n{own}\
         integration:\n  method: {method}\n  step_size: {dt}\n  duration: 2000.0\n{global}"
    )
}

#[test]
fn tvbo_noise_is_additive_gaussian_white_noise() {
    let d = temp_dir("noise");
    for (k, (method, own)) in [("euler", true), ("heun", false)].into_iter().enumerate() {
        let file = format!("ou{k}.yaml");
        std::fs::write(d.join(&file), ou_experiment(method, 0.05, own)).unwrap();
        let (code, _, err) = myelin(&d, &["run", &file, "--quiet", "--seed", "7", "--out-dir", method]);
        assert_eq!(code, 0, "{method}: {err}");
        let rows = table(&d.join(method).join("results/OU.dat"));
        assert_eq!(rows.len(), 40_001);
        // Stationary variance sigma^2 / 2 = 0.125 (Euler-Maruyama at this step: 0.128); a 2 s
        // run holds ~1000 correlation times, so the estimate is good to a few percent.
        let xs: Vec<f64> = rows[200..].iter().map(|r| r[1]).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / xs.len() as f64;
        assert!(mean.abs() < 0.06, "{method}: mean {mean}");
        assert!((var - 0.127).abs() < 0.025, "{method}: variance {var}");
    }
    // The seed decides the path: the same seed gives the same file, another seed another.
    let (code, _, err) = myelin(&d, &["run", "ou0.yaml", "--quiet", "--seed", "7", "--out-dir", "again"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = myelin(&d, &["run", "ou0.yaml", "--quiet", "--seed", "8", "--out-dir", "other"]);
    assert_eq!(code, 0, "{err}");
    let read = |dir: &str| std::fs::read(d.join(dir).join("results/OU.dat")).unwrap();
    assert_eq!(read("euler"), read("again"));
    assert_ne!(read("euler"), read("other"));
}

#[test]
fn help_lists_reference() {
    let d = temp_dir("help");
    let (code, out, err) = myelin(&d, &["run", "--help"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("--reference"), "{out}");
}

/// The numbers of a tab-separated output file, row by row.
fn table(path: &Path) -> Vec<Vec<f64>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|l| l.split_whitespace().map(|x| x.parse::<f64>().unwrap_or_else(|e| panic!("{}: `{x}`: {e}", path.display()))).collect())
        .collect()
}

/// Runs `lems` (with `args`) twice, with the engine's shortcuts and with `--reference`, each
/// writing under its own `--out-dir`, and checks that each of `data` (output files) agrees
/// within 1e-9 of its column's range (or one float32 step) and each of `events` (event files) is identical. Returns
/// the instance counts of the two runs (from their summary lines).
fn fast_equals_reference(name: &str, lems: &Path, args: &[&str], data: &[&str], events: &[&str]) -> (usize, usize) {
    let d = temp_dir(name);
    let lems = lems.to_str().unwrap();
    let mut instances = vec![];
    for (mode, extra) in [("fast", None), ("reference", Some("--reference"))] {
        let mut a = vec!["run", lems, "--out-dir", mode];
        a.extend(args);
        a.extend(extra);
        let (code, _, err) = myelin(&d, &a);
        assert_eq!(code, 0, "{name} ({mode}): {err}");
        let count = err.split(" instances").next().and_then(|s| s.rsplit(' ').next()).and_then(|n| n.parse::<usize>().ok());
        instances.push(count.unwrap_or_else(|| panic!("{name} ({mode}): no instance count in the summary: {err}")));
    }
    for f in data {
        let (fast, reference) = (table(&d.join("fast").join(f)), table(&d.join("reference").join(f)));
        assert_eq!(fast.len(), reference.len(), "{name}: {f}: row counts");
        assert!(fast.len() > 1, "{name}: {f}: rows");
        let columns = fast[0].len();
        for (r, (a, b)) in fast.iter().zip(&reference).enumerate() {
            assert!(a.len() == columns && b.len() == columns, "{name}: {f}: row {r} has {} and {} columns, not {columns}", a.len(), b.len());
        }
        for c in 0..columns {
            let all = fast.iter().chain(&reference).map(|row| row[c]);
            let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| (lo.min(x), hi.max(x)));
            for (r, (a, b)) in fast.iter().zip(&reference).enumerate() {
                // Values are written as float32 (as jLEMS does): a last-bit difference in f64
                // can round to the neighbouring float32, so one float32 step is allowed too.
                let tol = (1e-9 * (hi - lo)).max(f64::from(f32::EPSILON) * a[c].abs().max(b[c].abs()));
                assert!((a[c] - b[c]).abs() <= tol, "{name}: {f}: row {r} column {c}: {} (fast) vs {} (reference), range {}", a[c], b[c], hi - lo);
            }
        }
    }
    for f in events {
        let fast = std::fs::read_to_string(d.join("fast").join(f)).unwrap();
        let reference = std::fs::read_to_string(d.join("reference").join(f)).unwrap();
        assert!(!fast.is_empty(), "{name}: {f}: no events");
        let (a, b): (Vec<_>, Vec<_>) = (fast.lines().collect(), reference.lines().collect());
        assert_eq!(a.len(), b.len(), "{name}: {f}: event counts");
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert_eq!(x, y, "{name}: {f}: event line {i}");
        }
    }
    let _ = std::fs::remove_dir_all(&d);
    (instances[0], instances[1])
}

#[test]
fn reference_engine_agrees_with_the_fast_one_on_official_examples() {
    let Some(jnml) = myelin_testkit::jnml_dir() else { return };
    let core = jnml.join("NeuroML2CoreTypes");
    let core = core.to_str().unwrap();
    let ex = |f: &str| jnml.join("LEMSexamples").join(f);
    // PyNN cells in populations, driven through synapses by spike sources.
    fast_equals_reference("ex14", &ex("LEMS_NML2_Ex14_PyNN.xml"), &["-I", core, "--duration", "200ms"], &["results/ex14.dat", "results/ex14_g.dat"], &[]);
    // Spike sources, a population of IaF cells, three kinds of synapse, and an event file.
    fast_equals_reference("ex12", &ex("LEMS_NML2_Ex12_Net2.xml"), &["-I", core], &["results/ex12.dat"], &["results/ex12.spikes"]);
}

/// Two populations of Izhikevich cells, one projecting onto the other through one
/// `expOneSynapse` with many connections per cell: what the merged synapses and batched
/// stepping are for.
fn izhikevich_network(n: usize) -> String {
    let mut s = String::from(
        "<Lems>\n  <Target component=\"sim\"/>\n  <Include file=\"Cells.xml\"/>\n  <Include file=\"Networks.xml\"/>\n  <Include file=\"Simulation.xml\"/>\n  \
         <expOneSynapse id=\"syn0\" gbase=\"10nS\" erev=\"0mV\" tauDecay=\"3ms\"/>\n  \
         <izhikevich2007Cell id=\"rs\" C=\"100pF\" v0=\"-60mV\" k=\"0.7nS_per_mV\" vr=\"-60mV\" vt=\"-40mV\" vpeak=\"35mV\" a=\"0.03per_ms\" b=\"-2nS\" c=\"-50.0mV\" d=\"100pA\"/>\n",
    );
    for i in 0..2 * n {
        s += &format!("  <pulseGenerator id=\"pg{i}\" delay=\"0ms\" duration=\"1000ms\" amplitude=\"{:.4}nA\"/>\n", 0.05 + 0.15 * ((i * 37) % 101) as f64 / 100.0);
    }
    s += &format!("  <network id=\"net\">\n    <population id=\"pre\" component=\"rs\" size=\"{n}\"/>\n    <population id=\"post\" component=\"rs\" size=\"{n}\"/>\n");
    s += "    <projection id=\"proj\" presynapticPopulation=\"pre\" postsynapticPopulation=\"post\" synapse=\"syn0\">\n";
    let mut id = 0;
    for i in 0..n {
        for j in 0..n {
            if (i * 7 + j * 3) % 5 < 3 {
                s += &format!("      <connection id=\"{id}\" preCellId=\"../pre[{i}]\" postCellId=\"../post[{j}]\"/>\n");
                id += 1;
            }
        }
    }
    s += "    </projection>\n";
    for (p, pop) in ["pre", "post"].iter().enumerate() {
        for i in 0..n {
            s += &format!("    <explicitInput target=\"{pop}[{i}]\" input=\"pg{}\"/>\n", p * n + i);
        }
    }
    s += "  </network>\n  <Simulation id=\"sim\" length=\"300ms\" step=\"0.025ms\" target=\"net\">\n    <OutputFile id=\"v\" fileName=\"net.v.dat\">\n";
    for pop in ["pre", "post"] {
        for i in 0..n {
            s += &format!("      <OutputColumn id=\"{pop}{i}\" quantity=\"{pop}[{i}]/v\"/>\n");
        }
    }
    s += "    </OutputFile>\n    <EventOutputFile id=\"spikes\" fileName=\"net.spikes\" format=\"TIME_ID\">\n";
    for (p, pop) in ["pre", "post"].iter().enumerate() {
        for i in 0..n {
            s += &format!("      <EventSelection id=\"{}\" select=\"{pop}[{i}]\" eventPort=\"spike\"/>\n", p * n + i);
        }
    }
    s + "    </EventOutputFile>\n  </Simulation>\n</Lems>\n"
}

#[test]
fn reference_engine_agrees_with_the_fast_one_on_a_network_with_merged_synapses() {
    let Some(jnml) = myelin_testkit::jnml_dir() else { return };
    let core = jnml.join("NeuroML2CoreTypes");
    let d = temp_dir("izh-net-model");
    std::fs::write(d.join("net.xml"), izhikevich_network(20)).unwrap();
    let (fast, reference) = fast_equals_reference("izh-net", &d.join("net.xml"), &["-I", core.to_str().unwrap()], &["net.v.dat"], &["net.spikes"]);
    // The fast run did merge synapses (else this compares the reference with itself).
    assert!(fast < reference, "{fast} instances (fast) vs {reference} (reference)");
    let _ = std::fs::remove_dir_all(&d);
}

/// Every built-in TVBO model, exported to LEMS and run for 50 ms: the fast engine (flat
/// programs, the JIT) writes exactly the reference interpreter's file.
#[test]
fn builtin_models_run_exactly_as_the_reference_interpreter() {
    let d = temp_dir("builtins-exact");
    let (code, listing, err) = myelin(&d, &["models"]);
    assert_eq!(code, 0, "{err}");
    let names: Vec<&str> = listing.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert!(names.len() >= 17, "{listing}");
    for name in names {
        let xml = format!("{name}.xml");
        let (code, _, err) = myelin(&d, &["export", name, "-o", &xml, "--duration", "50ms"]);
        assert_eq!(code, 0, "{name}: {err}");
        for (dir, extra) in [("fast", None), ("reference", Some("--reference"))] {
            let mut args = vec!["run", xml.as_str(), "--quiet", "--out-dir", dir];
            args.extend(extra);
            let (code, _, err) = myelin(&d, &args);
            assert_eq!(code, 0, "{name} {dir}: {err}");
        }
        let file = |dir: &str| std::fs::read(d.join(dir).join(format!("results/{name}.dat"))).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(file("fast") == file("reference"), "{name}: the fast engine differs from the reference interpreter");
    }
}