//! The engine's shortcuts (merged synapses, batched populations, flat programs) against the
//! plain reference interpreter: on every official example, and on a network written here that
//! exercises them, the two must give the same traces (up to summation-order rounding; exactly
//! for flat programs) and the same events.

use myelin_diag::{Diagnostics, SourceMap};
use myelin_lems::{load, load_str, LoadOptions, MemFs, OsFs};
use myelin_sim::{Options, Simulation, Sink};

#[derive(Default)]
struct Memory {
    rows: Vec<(usize, f64, Vec<f64>)>,
    events: Vec<(usize, f64, usize)>,
}

impl Sink for Memory {
    fn row(&mut self, file: usize, t: f64, values: &[f64]) {
        self.rows.push((file, t, values.to_vec()));
    }
    fn event(&mut self, file: usize, t: f64, id: usize) {
        self.events.push((file, t, id));
    }
}

fn simulate(model: &myelin_ir::Model, options: Options, length: Option<f64>) -> Result<Memory, String> {
    let mut sim = Simulation::build_with_options(model, None, options).map_err(|e| e.to_string())?;
    if let Some(l) = length {
        sim.spec.length = sim.spec.length.min(l);
    }
    let mut sink = Memory::default();
    sim.run(&mut sink);
    Ok(sink)
}

/// Same rows (values within `1e-9` of each column's range) and the same events, in the same
/// order. Returns a description of the first difference.
fn compare(fast: &Memory, reference: &Memory) -> Result<(), String> {
    if fast.events != reference.events {
        let n = fast.events.iter().zip(&reference.events).take_while(|(a, b)| a == b).count();
        return Err(format!(
            "events differ ({} vs {}), first at #{n}: {:?} vs {:?}",
            fast.events.len(),
            reference.events.len(),
            fast.events.get(n),
            reference.events.get(n)
        ));
    }
    if fast.rows.len() != reference.rows.len() {
        return Err(format!("{} rows vs {}", fast.rows.len(), reference.rows.len()));
    }
    let width = reference.rows.iter().map(|r| r.2.len()).max().unwrap_or(0);
    let mut range = vec![0.0f64; width];
    let mut lo = vec![f64::INFINITY; width];
    let mut hi = vec![f64::NEG_INFINITY; width];
    for (_, _, v) in &reference.rows {
        for (k, x) in v.iter().enumerate() {
            lo[k] = lo[k].min(*x);
            hi[k] = hi[k].max(*x);
        }
    }
    for k in 0..width {
        range[k] = (hi[k] - lo[k]).abs().max(1e-300);
    }
    for (a, b) in fast.rows.iter().zip(&reference.rows) {
        if a.0 != b.0 || a.1 != b.1 || a.2.len() != b.2.len() {
            return Err(format!("row layout differs at t = {}", b.1));
        }
        for (k, (x, y)) in a.2.iter().zip(&b.2).enumerate() {
            let close = (x - y).abs() <= 1e-9 * range[k] || (x.is_nan() && y.is_nan());
            if !close {
                return Err(format!("column {k} at t = {}: {x} vs {y}", b.1));
            }
        }
    }
    Ok(())
}

#[test]
fn official_examples_agree_with_the_reference_interpreter() {
    let Some(jnml) = myelin_testkit::jnml_dir() else { return };
    let dir = jnml.join("LEMSexamples");
    let examples = myelin_testkit::files_in(&dir, |n| n.starts_with("LEMS_NML2_Ex") && n.ends_with(".xml"));
    assert_eq!(examples.len(), 31);
    let opts = LoadOptions { include_dirs: vec![jnml.join("NeuroML2CoreTypes"), jnml.join("examples")] };
    let mut failures = vec![];
    for ex in &examples {
        let mut sources = SourceMap::new();
        let mut diags = Diagnostics::new();
        let Ok(loaded) = load(ex, &opts, &OsFs, &mut sources, &mut diags) else {
            failures.push(format!("{}: does not load", ex.display()));
            continue;
        };
        // 50 ms is enough for every example's cells to spike and its synapses to act.
        let fast = simulate(&loaded.model, Options::default(), Some(0.05));
        let reference = simulate(&loaded.model, Options::reference(), Some(0.05));
        // Flat programs, interpreted or compiled (with the `jit` feature), compute exactly
        // what the instance-by-instance path computes.
        for jit in [false, true] {
            let flat = simulate(&loaded.model, Options { flat: true, jit, ..Options::reference() }, Some(0.05));
            match (&flat, &reference) {
                (Ok(f), Ok(r)) => {
                    if f.rows != r.rows || f.events != r.events {
                        failures.push(format!("{}: flat program (jit: {jit}) differs from the reference", ex.display()));
                    }
                }
                (Err(a), Err(b)) if a == b => {}
                _ => failures.push(format!("{}: flat program and reference disagree on refusing", ex.display())),
            }
        }
        match (fast, reference) {
            (Ok(f), Ok(r)) => {
                if let Err(e) = compare(&f, &r) {
                    failures.push(format!("{}: {e}", ex.display()));
                }
            }
            (Err(a), Err(b)) if a == b => {} // refused either way (Ex25)
            (a, b) => failures.push(format!("{}: {:?} vs {:?}", ex.display(), a.err(), b.err())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Two populations of threshold cells; every cell of the first drives every cell of the
/// second through its own instance of a linear synapse (the shortcut merges them into one
/// per target), and each first-population cell also gets a constant drive that differs
/// between cells (so batches see per-instance parameters).
const NETWORK: &str = r#"
<Lems>
  <Target component="sim"/>
  <Dimension name="time" t="1"/>
  <Dimension name="per_time" t="-1"/>
  <Unit symbol="s" dimension="time" power="0"/>
  <Unit symbol="ms" dimension="time" power="-3"/>
  <Unit symbol="per_s" dimension="per_time" power="0"/>
  SIMULATION_TYPES

  <ComponentType name="expSyn">
    <Parameter name="tau" dimension="time"/>
    <Parameter name="w" dimension="none"/>
    <Requirement name="x" dimension="none"/>
    <EventPort name="in" direction="in"/>
    <Exposure name="i" dimension="none"/>
    <Dynamics>
      <StateVariable name="g" dimension="none"/>
      <DerivedVariable name="i" dimension="none" exposure="i" value="g * (2 - x)"/>
      <TimeDerivative variable="g" value="-g / tau"/>
      <OnEvent port="in"><StateAssignment variable="g" value="g + w"/></OnEvent>
    </Dynamics>
  </ComponentType>
  <ComponentType name="cell">
    <Parameter name="tau" dimension="time"/>
    <Parameter name="drive" dimension="per_time"/>
    <Exposure name="x" dimension="none"/>
    <EventPort name="spike" direction="out"/>
    <Attachments name="synapses" type="expSyn"/>
    <Dynamics>
      <StateVariable name="x" dimension="none" exposure="x"/>
      <DerivedVariable name="isyn" dimension="none" select="synapses[*]/i" reduce="add"/>
      <TimeDerivative variable="x" value="drive - x / tau + isyn / tau"/>
      <OnCondition test="x .gt. 1"><StateAssignment variable="x" value="0"/><EventOut port="spike"/></OnCondition>
    </Dynamics>
  </ComponentType>
  <ComponentType name="pop">
    <ComponentReference name="cell" type="cell"/>
    <Parameter name="size" dimension="none"/>
    <Structure><MultiInstantiate number="size" component="cell"/></Structure>
  </ComponentType>
  <ComponentType name="syncon">
    <ComponentReference name="synapse" type="expSyn"/>
    <Path name="from"/><Path name="to"/>
    <Structure>
      <With instance="from" as="a"/>
      <With instance="to" as="b"/>
      <EventConnection from="a" to="b" receiver="synapse"/>
    </Structure>
  </ComponentType>
  <ComponentType name="net">
    <Children name="pops" type="pop"/>
    <Children name="cons" type="syncon"/>
  </ComponentType>

  <expSyn id="syn" tau="3ms" w="0.8"/>
  <cell id="c0" tau="10ms" drive="130 per_s"/>
  <cell id="c1" tau="20ms" drive="0 per_s"/>
  <net id="net">
    <pop id="p0" cell="c0" size="6"/>
    <pop id="p1" cell="c1" size="5"/>
    CONNECTIONS
  </net>
  <Simulation id="sim" length="200ms" step="0.05ms" target="net">
    <OutputFile id="f" fileName="x.dat">
      <OutputColumn id="a" quantity="p0[0]/x"/>
      <OutputColumn id="b" quantity="p0[5]/x"/>
      <OutputColumn id="c" quantity="p1[0]/x"/>
      <OutputColumn id="d" quantity="p1[4]/x"/>
    </OutputFile>
    <EventOutputFile id="e" fileName="s.dat" format="TIME_ID">
      <EventSelection id="0" select="p0[0]" eventPort="spike"/>
      <EventSelection id="1" select="p0[3]" eventPort="spike"/>
      <EventSelection id="2" select="p1[0]" eventPort="spike"/>
      <EventSelection id="3" select="p1[4]" eventPort="spike"/>
    </EventOutputFile>
  </Simulation>
</Lems>
"#;

#[test]
fn merged_and_batched_network_agrees_with_the_reference_interpreter() {
    let mut connections = String::new();
    for a in 0..6 {
        for b in 0..5 {
            connections.push_str(&format!("<syncon synapse=\"syn\" from=\"p0[{a}]\" to=\"p1[{b}]\"/>\n"));
        }
    }
    let text = NETWORK.replace("CONNECTIONS", &connections).replace("SIMULATION_TYPES", myelin_testkit::SIMULATION_TYPES);
    let mut sources = SourceMap::new();
    let mut diags = Diagnostics::new();
    let loaded = load_str("/net.xml", &text, &LoadOptions::default(), &MemFs::new(), &mut sources, &mut diags);
    myelin_check::check(&loaded.model, &mut diags);
    let errors: String = diags.iter().filter(|d| d.is_error()).map(|d| myelin_diag::render_text(&sources, d)).collect();
    assert!(errors.is_empty(), "{errors}");
    let fast = simulate(&loaded.model, Options::default(), None).unwrap();
    let reference = simulate(&loaded.model, Options::reference(), None).unwrap();
    for jit in [false, true] {
        let flat = simulate(&loaded.model, Options { flat: true, jit, ..Options::reference() }, None).unwrap();
        assert!(flat.rows == reference.rows && flat.events == reference.events, "flat programs (jit: {jit}) change the results");
    }
    assert!(fast.events.len() > 20, "the network should spike: {} events", fast.events.len());
    assert!(fast.events.iter().any(|e| e.2 >= 2), "the second population should spike");
    compare(&fast, &reference).unwrap();
    // Both shortcuts really applied: 30 synapse instances became 5.
    let merged = Simulation::build_with_options(&loaded.model, None, Options::default()).unwrap();
    let plain = Simulation::build_with_options(&loaded.model, None, Options::reference()).unwrap();
    assert_eq!(plain.instance_count() - merged.instance_count(), 25);
}

/// Flat programs really run: a cell with channels, gates and rates (Ex15) is stepped almost
/// entirely by flat code.
#[test]
fn flat_programs_cover_a_detailed_cell() {
    let Some(jnml) = myelin_testkit::jnml_dir() else { return };
    let opts = LoadOptions { include_dirs: vec![jnml.join("NeuroML2CoreTypes"), jnml.join("examples")] };
    let mut sources = SourceMap::new();
    let mut diags = Diagnostics::new();
    let loaded = load(&jnml.join("LEMSexamples/LEMS_NML2_Ex15_CaDynamics.xml"), &opts, &OsFs, &mut sources, &mut diags).unwrap();
    let mut sim = Simulation::build_with_options(&loaded.model, None, Options::default()).unwrap();
    // 3000 steps: enough for the JIT to be worth it.
    sim.spec.length = 0.003;
    sim.run(&mut Memory::default());
    let (flat, all) = sim.flat_coverage();
    assert!(flat * 10 >= all * 9, "only {flat} of {all} scalar steps ran as flat code");
    if cfg!(feature = "jit") {
        assert!(sim.compiled_pieces() > 0, "the JIT compiled nothing");
    }
}

/// Conditional derived variables whose later cases read what an earlier case's value (not
/// taken) reads first: flat programs must not reuse a value that path never loaded.
const CASES: &str = r#"
<Lems>
  <Target component="sim"/>
  <Dimension name="time" t="1"/>
  <Dimension name="per_time" t="-1"/>
  <Unit symbol="ms" dimension="time" power="-3"/>
  <Unit symbol="per_ms" dimension="per_time" power="3"/>
  SIMULATION_TYPES
  <ComponentType name="pw">
    <Parameter name="p" dimension="none"/>
    <Parameter name="rate" dimension="per_time"/>
    <Exposure name="x" dimension="none"/>
    <Exposure name="h" dimension="none"/>
    <Dynamics>
      <StateVariable name="x" dimension="none" exposure="x"/>
      <StateVariable name="y" dimension="none"/>
      <ConditionalDerivedVariable name="h" dimension="none" exposure="h">
        <Case condition="p .gt. 0" value="2 * y + x"/>
        <Case condition="x .gt. 10" value="y * x"/>
        <Case value="y + 1 + x"/>
      </ConditionalDerivedVariable>
      <TimeDerivative variable="x" value="h * rate"/>
      <TimeDerivative variable="y" value="-y * rate"/>
      <OnStart><StateAssignment variable="y" value="3"/></OnStart>
    </Dynamics>
  </ComponentType>
  <pw id="c" p="-1" rate="0.5 per_ms"/>
  <Simulation id="sim" length="50ms" step="0.01ms" target="c">
    <OutputFile id="f" fileName="x.dat">
      <OutputColumn id="x" quantity="x"/>
      <OutputColumn id="h" quantity="h"/>
    </OutputFile>
  </Simulation>
</Lems>
"#;

#[test]
fn flat_programs_keep_conditional_cases_apart() {
    let mut sources = SourceMap::new();
    let mut diags = Diagnostics::new();
    let text = CASES.replace("SIMULATION_TYPES", myelin_testkit::SIMULATION_TYPES);
    let loaded = load_str("/cases.xml", &text, &LoadOptions::default(), &MemFs::new(), &mut sources, &mut diags);
    myelin_check::check(&loaded.model, &mut diags);
    let errors: String = diags.iter().filter(|d| d.is_error()).map(|d| myelin_diag::render_text(&sources, d)).collect();
    assert!(errors.is_empty(), "{errors}");
    let reference = simulate(&loaded.model, Options::reference(), None).unwrap();
    assert!(reference.rows.last().unwrap().2[0] > 10.0, "the second case should come into play");
    for jit in [false, true] {
        let flat = simulate(&loaded.model, Options { flat: true, jit, ..Options::reference() }, None).unwrap();
        assert!(flat.rows == reference.rows, "flat programs (jit: {jit}) change the results");
    }
}