//! Canonical small models with known answers (diffsol's `test_models` habit), run through the
//! whole path: LEMS text → reader → checker → engine.

use myelin_diag::{Diagnostics, SourceMap};
use myelin_lems::{load_str, LoadOptions, MemFs};
use myelin_sim::{Simulation, Sink};

const UNITS: &str = r#"
  <Dimension name="time" t="1"/>
  <Dimension name="per_time" t="-1"/>
  <Dimension name="voltage" m="1" l="2" t="-3" i="-1"/>
  <Unit symbol="s" dimension="time" power="0"/>
  <Unit symbol="ms" dimension="time" power="-3"/>
  <Unit symbol="mV" dimension="voltage" power="-3"/>
"#;

/// Dimensions, units and the simulation element types every model here uses.
fn header() -> String {
    format!("{UNITS}{}", myelin_testkit::SIMULATION_TYPES)
}

#[derive(Default)]
struct Memory {
    rows: Vec<(f64, Vec<f64>)>,
    events: Vec<(f64, usize)>,
}

impl Sink for Memory {
    fn row(&mut self, _file: usize, t: f64, values: &[f64]) {
        self.rows.push((t, values.to_vec()));
    }
    fn event(&mut self, _file: usize, t: f64, id: usize) {
        self.events.push((t, id));
    }
}

fn run(body: &str) -> Memory {
    let text = format!("<Lems><Target component=\"sim\"/>{}{body}</Lems>", header());
    let mut sources = SourceMap::new();
    let mut diags = Diagnostics::new();
    let loaded = load_str("/m.xml", &text, &LoadOptions::default(), &MemFs::new(), &mut sources, &mut diags);
    myelin_check::check(&loaded.model, &mut diags);
    let errors: String = diags.iter().filter(|d| d.is_error()).map(|d| myelin_diag::render_text(&sources, d)).collect();
    assert!(errors.is_empty(), "{errors}");
    let mut sim = Simulation::build(&loaded.model, None).unwrap_or_else(|e| panic!("{e}"));
    let mut sink = Memory::default();
    sim.run(&mut sink);
    sink
}

#[test]
fn leaky_integrator_matches_forward_euler() {
    let m = run(r#"
      <ComponentType name="leak">
        <Parameter name="tau" dimension="time"/>
        <Parameter name="v0" dimension="voltage"/>
        <Exposure name="v" dimension="voltage"/>
        <Dynamics>
          <StateVariable name="v" dimension="voltage" exposure="v"/>
          <TimeDerivative variable="v" value="-v / tau"/>
          <OnStart><StateAssignment variable="v" value="v0"/></OnStart>
        </Dynamics>
      </ComponentType>
      <leak id="x" tau="10ms" v0="10mV"/>
      <Simulation id="sim" length="5ms" step="0.1ms" target="x">
        <OutputFile id="o" fileName="x.dat"><OutputColumn id="v" quantity="v"/></OutputFile>
      </Simulation>"#);
    assert_eq!(m.rows.len(), 51, "round(length/step)+1 rows");
    let mut v = 0.010f64;
    for (k, (t, vals)) in m.rows.iter().enumerate() {
        assert!((t - k as f64 * 1e-4).abs() < 1e-12);
        assert!((vals[0] - v).abs() < 1e-15, "row {k}: {} vs {v}", vals[0]);
        v += 1e-4 * (-v / 0.010);
    }
}

#[test]
fn threshold_events_reset_and_are_recorded() {
    // v rises at 1 V/s from 0; crossing 0.5 mV resets to 0 and emits a spike.
    let m = run(r#"
      <ComponentType name="ramp">
        <Parameter name="thresh" dimension="voltage"/>
        <Constant name="RATE" dimension="voltage" value="1mV"/>
        <Constant name="MSEC" dimension="time" value="1ms"/>
        <Exposure name="v" dimension="voltage"/>
        <EventPort name="spike" direction="out"/>
        <Dynamics>
          <StateVariable name="v" dimension="voltage" exposure="v"/>
          <TimeDerivative variable="v" value="RATE / MSEC"/>
          <OnCondition test="v .gt. thresh">
            <StateAssignment variable="v" value="0 * thresh"/>
            <EventOut port="spike"/>
          </OnCondition>
        </Dynamics>
      </ComponentType>
      <ComponentType name="net"><Children name="cells" type="ramp"/></ComponentType>
      <net id="n"><ramp id="c" thresh="0.5mV"/></net>
      <Simulation id="sim" length="2ms" step="0.1ms" target="n">
        <OutputFile id="o" fileName="x.dat"><OutputColumn id="v" quantity="c/v"/></OutputFile>
        <EventOutputFile id="e" fileName="x.spikes" format="TIME_ID">
          <EventSelection id="0" select="c" eventPort="spike"/>
        </EventOutputFile>
      </Simulation>"#);
    // 0.1 mV per step: above 0.5 mV after 6 steps, reset at once (tested on the new state).
    let spikes: Vec<f64> = m.events.iter().map(|e| e.0).collect();
    assert_eq!(spikes.len(), 3, "{spikes:?}");
    assert!((spikes[0] - 6e-4).abs() < 1e-12, "{spikes:?}");
    assert!(m.rows[6].1[0].abs() < 1e-15, "the reset is visible in the same row");
}

#[test]
fn regime_changes_show_in_exposures_one_row_later() {
    // As jLEMS: exposures are synchronised after the Euler update, before the regime acts.
    let m = run(r#"
      <ComponentType name="flip">
        <Exposure name="x" dimension="none"/>
        <Dynamics>
          <StateVariable name="x" dimension="none" exposure="x"/>
          <Regime name="a" initial="true">
            <OnCondition test="t .gt. 0"><Transition regime="b"/></OnCondition>
          </Regime>
          <Regime name="b"><OnEntry><StateAssignment variable="x" value="1"/></OnEntry></Regime>
        </Dynamics>
      </ComponentType>
      <flip id="f"/>
      <Simulation id="sim" length="0.3ms" step="0.1ms" target="f">
        <OutputFile id="o" fileName="x.dat"><OutputColumn id="x" quantity="x"/></OutputFile>
      </Simulation>"#);
    let xs: Vec<f64> = m.rows.iter().map(|r| r.1[0]).collect();
    assert_eq!(xs, vec![0.0, 0.0, 1.0, 1.0]);
}

#[test]
fn unsupported_constructs_are_refused_not_ignored() {
    let text = format!(
        "<Lems><Target component=\"sim\"/>{}{}</Lems>",
        header(),
        r#"<ComponentType name="s"><Dynamics simultaneous="true"><StateVariable name="x" dimension="none"/></Dynamics></ComponentType>
           <s id="a"/><Simulation id="sim" length="1ms" step="0.1ms" target="a"/>"#
    );
    let mut sources = SourceMap::new();
    let mut diags = Diagnostics::new();
    let loaded = load_str("/m.xml", &text, &LoadOptions::default(), &MemFs::new(), &mut sources, &mut diags);
    let err = Simulation::build(&loaded.model, None).err().expect("refused");
    assert!(err.message.contains("simultaneous"), "{}", err.message);
    assert!(err.span.is_some(), "the refusal points into the file");
}

fn decay(method: myelin_sim::Method) -> Vec<f64> {
    let text = format!(
        "<Lems><Target component=\"sim\"/>{}{}</Lems>",
        header(),
        r#"<ComponentType name="decay">
             <Parameter name="tau" dimension="time"/>
             <Exposure name="x" dimension="none"/>
             <Dynamics>
               <StateVariable name="x" dimension="none" exposure="x"/>
               <TimeDerivative variable="x" value="-x / tau"/>
               <OnStart><StateAssignment variable="x" value="1"/></OnStart>
             </Dynamics>
           </ComponentType>
           <decay id="d" tau="1ms"/>
           <Simulation id="sim" length="1ms" step="0.1ms" target="d">
             <OutputFile id="o" fileName="x.dat"><OutputColumn id="x" quantity="x"/></OutputFile>
           </Simulation>"#
    );
    let mut sources = SourceMap::new();
    let mut diags = Diagnostics::new();
    let loaded = load_str("/m.xml", &text, &LoadOptions::default(), &MemFs::new(), &mut sources, &mut diags);
    let mut sim = Simulation::build(&loaded.model, None).unwrap();
    sim.set_method(method).unwrap();
    let mut sink = Memory::default();
    sim.run(&mut sink);
    sink.rows.iter().map(|r| r.1[0]).collect()
}

#[test]
fn heun_and_rk4_have_their_amplification_factors() {
    // x' = -x/tau with h = dt/tau = 0.1: one step multiplies x by the method's factor.
    let h: f64 = 0.1;
    for (method, factor) in [
        (myelin_sim::Method::Euler, 1.0 - h),
        (myelin_sim::Method::Heun, 1.0 - h + h * h / 2.0),
        (myelin_sim::Method::Rk4, 1.0 - h + h * h / 2.0 - h.powi(3) / 6.0 + h.powi(4) / 24.0),
    ] {
        let xs = decay(method);
        assert_eq!(xs.len(), 11);
        for (k, x) in xs.iter().enumerate() {
            let want = factor.powi(k as i32);
            assert!((x - want).abs() < 1e-12, "{method:?} step {k}: {x} vs {want}");
        }
    }
    // RK4 is close to the exact solution.
    let exact = (-1.0f64).exp();
    assert!((decay(myelin_sim::Method::Rk4)[10] - exact).abs() < 1e-6);
}
