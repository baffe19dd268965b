//! The TVBO front end on small inline models: what the reader reports, and what the LEMS
//! export writes (function inlining, Piecewise, events, rewrites, refusals).

use myelin_diag::{Diagnostics, SourceMap};
use myelin_ir::{Action, Model};
use myelin_tvbo::{Experiment, ExportOptions, Layout};

fn load(yaml: &str) -> (Option<Experiment>, SourceMap, Diagnostics) {
    let mut sources = SourceMap::new();
    let mut diags = Diagnostics::new();
    let exp = myelin_tvbo::load(
        "model.yaml",
        yaml,
        &mut sources,
        &mut diags,
        &myelin_tvbo::no_resolver,
    );
    (exp, sources, diags)
}

/// `(line, column, code)` of every diagnostic.
fn problems(yaml: &str) -> Vec<(usize, usize, &'static str)> {
    let (exp, sources, mut diags) = load(yaml);
    if let Some(exp) = exp
        && !diags.has_errors()
    {
        let _ = myelin_tvbo::to_lems(&exp, &ExportOptions::default(), &mut diags);
    }
    let mut out: Vec<(usize, usize, &'static str)> = diags
        .iter()
        .map(|d| {
            let loc = d
                .span
                .and_then(|s| myelin_diag::locate(&sources, s))
                .map_or((0, 0), |l| (l.line, l.column));
            (loc.0, loc.1, d.code)
        })
        .collect();
    out.sort();
    out
}

/// Exports `yaml`; panics with the diagnostics if anything fails, and checks the result with
/// myelin's validator.
fn export(yaml: &str) -> Model {
    let (exp, sources, mut diags) = load(yaml);
    let render = |diags: &Diagnostics| {
        diags
            .iter()
            .map(|d| myelin_diag::render_text(&sources, d))
            .collect::<String>()
    };
    assert!(!diags.has_errors(), "load failed:\n{}", render(&diags));
    let exp = exp.expect("an experiment");
    let (model, _) = myelin_tvbo::to_lems(&exp, &ExportOptions::default(), &mut diags)
        .unwrap_or_else(|| panic!("export failed:\n{}", render(&diags)));
    myelin_check::check(&model, &mut diags);
    assert!(
        !diags.has_errors(),
        "the exported model does not check:\n{}",
        render(&diags)
    );
    model
}

fn xml(model: &Model) -> String {
    myelin_lems::write_document(model, &myelin_lems::WriteOptions { file: None })
}

fn dynamics(model: &Model, name: &str) -> myelin_ir::Dynamics {
    model.component_types[name]
        .dynamics
        .clone()
        .expect("dynamics")
}

fn rate(model: &Model, ty: &str, sv: &str) -> String {
    dynamics(model, ty)
        .body
        .time_derivatives
        .iter()
        .find(|t| t.variable == sv)
        .expect("time derivative")
        .value
        .text
        .clone()
}

#[test]
fn layout_follows_the_guide() {
    let m = export(
        "name: Osc\nparameters:\n  a: {value: 0.5, unit: per_ms}\n  I: {value: 1}\ncoupling_inputs:\n  c_glob: {}\n\
         state_variables:\n  V:\n    equation: {rhs: 'a*(I - V) + c_glob'}\n    initial_value: -1.5\n",
    );
    assert_eq!(m.targets[0].component, "sim_Osc");
    for t in ["Simulation", "OutputFile", "OutputColumn", "Osc"] {
        assert!(m.component_types.contains_key(t), "missing type {t}");
    }
    let ct = &m.component_types["Osc"];
    let params: Vec<&str> = ct.parameters.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(params, ["a", "I", "c_glob", "V_0"]);
    assert!(ct.parameters.iter().all(|p| p.dimension == "none"));
    assert_eq!(ct.constants[0].name, "SEC");
    assert_eq!(ct.constants[0].value, "1ms");
    assert_eq!(ct.exposures[0].name, "V");
    assert_eq!(rate(&m, "Osc", "V"), "(a*(I - V) + c_glob) / SEC");
    let d = dynamics(&m, "Osc");
    assert!(
        matches!(&d.body.on_start[0].actions[0], Action::StateAssignment { variable, value, .. } if variable == "V" && value.text == "V_0")
    );
    let inst = &m.components[0];
    assert_eq!(inst.id.as_deref(), Some("Osc_inst"));
    let attr = |n: &str| inst.attribute(n).map(|a| a.value.clone());
    assert_eq!(attr("a").as_deref(), Some("0.5"));
    assert_eq!(attr("c_glob").as_deref(), Some("0"));
    assert_eq!(attr("V_0").as_deref(), Some("-1.5"));
    let sim = &m.components[1];
    assert_eq!(
        sim.attribute("length").map(|a| a.value.as_str()),
        Some("1000ms")
    );
    assert_eq!(
        sim.attribute("step").map(|a| a.value.as_str()),
        Some("0.01220703125ms")
    );
    assert_eq!(
        sim.attribute("target").map(|a| a.value.as_str()),
        Some("Osc_inst")
    );
    let of = &sim.children[0];
    assert_eq!(
        of.attribute("fileName").map(|a| a.value.as_str()),
        Some("results/Osc.dat")
    );
    assert_eq!(
        of.children[0]
            .attribute("quantity")
            .map(|a| a.value.as_str()),
        Some("V")
    );
    // The written XML reads back through myelin's LEMS reader and checks clean.
    let text = xml(&m);
    let mut sources = SourceMap::new();
    let mut diags = Diagnostics::new();
    let fs = myelin_lems::MemFs::new();
    let loaded = myelin_lems::load_str(
        "osc.xml",
        &text,
        &myelin_lems::LoadOptions::default(),
        &fs,
        &mut sources,
        &mut diags,
    );
    myelin_check::check(&loaded.model, &mut diags);
    assert!(
        !diags.has_errors(),
        "{text}\n{:?}",
        diags.iter().collect::<Vec<_>>()
    );
}

#[test]
fn nested_user_functions_are_inlined() {
    let m = export(
        "name: F\nparameters:\n  e0: {value: 2.5}\n  r: {value: 0.56}\n  v0: {value: 6}\n\
         functions:\n  Sigm:\n    arguments: {v: {}}\n    equation: {rhs: '2*e0/(1 + exp(r*(v0 - v)))'}\n  \
         Twice:\n    arguments: [x]\n    equation: {rhs: '2*Sigm(x)'}\n\
         state_variables:\n  y:\n    equation: {rhs: 'Twice(y - 1) - y'}\n    initial_value: 0\n",
    );
    assert_eq!(
        rate(&m, "F", "y"),
        "(2*(2*e0/(1 + exp(r*(v0 - (y - 1))))) - y) / SEC"
    );
}

#[test]
fn a_model_function_named_like_a_builtin_is_the_models() {
    // ReducedWongWang's `H(x)` is its own sigmoid, not Heaviside.
    let m = export(
        "name: R\nparameters:\n  a: {value: 270}\nfunctions:\n  H:\n    arguments: {x: {}}\n    equation: {rhs: 'a*x'}\n\
         state_variables:\n  S:\n    equation: {rhs: 'H(S) - S'}\n",
    );
    assert_eq!(rate(&m, "R", "S"), "(a*S - S) / SEC");
}

#[test]
fn piecewise_becomes_a_conditional_derived_variable() {
    let m = export(
        "name: G\nstate_variables:\n  V:\n    equation: {rhs: '-alpha_m*V'}\n    initial_value: -65\n\
         derived_variables:\n  alpha_m:\n    equation:\n      rhs: 'Piecewise((1.0, Eq(V, -40)), (0.1*(V + 40)/(1 - exp(-(V + 40)/10)), True))'\n",
    );
    let d = dynamics(&m, "G");
    assert!(d.derived_variables.is_empty());
    let cdv = &d.conditional_derived_variables[0];
    assert_eq!(cdv.name, "alpha_m");
    assert_eq!(cdv.cases.len(), 2);
    assert_eq!(
        cdv.cases[0].condition.as_ref().map(|c| c.text.as_str()),
        Some("V .eq. -40")
    );
    assert_eq!(cdv.cases[0].value.text, "1");
    assert!(cdv.cases[1].condition.is_none());
    assert_eq!(
        cdv.cases[1].value.text,
        "0.1*(V + 40)/(1 - exp(-(V + 40)/10))"
    );
}

#[test]
fn nested_piecewise_becomes_extra_conditional_variables_and_cases_exclude_each_other() {
    let m = export(
        "name: E\nparameters:\n  x0: {value: -1.6}\nstate_variables:\n  x:\n    equation: {rhs: '-x'}\n  z:\n\
         \x20   equation:\n      rhs: 'Piecewise((x0 + 3/(1 + exp(-(x + 0.5)/0.1)), x > 0), (4*(x - x0) + Piecewise((-0.1*z**7, z < 0), (0, True)), True))'\n\
         derived_variables:\n  s:\n    equation: {rhs: 'Piecewise((1, x < -1), (2, x < 1), (3, True))'}\n  u:\n    equation: {rhs: '2*s'}\n",
    );
    let d = dynamics(&m, "E");
    let names: Vec<&str> = d
        .conditional_derived_variables
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    // The inner Piecewise comes first (the outer one reads it); `u` reads a conditional
    // variable, so it is one too (with a single default case), after `s`.
    assert_eq!(names, ["s", "u", "z_rhs_c", "z_rhs_c_1"]);
    let by = |n: &str| {
        d.conditional_derived_variables
            .iter()
            .find(|c| c.name == n)
            .cloned()
            .unwrap()
    };
    let s = by("s");
    let conds: Vec<Option<String>> = s
        .cases
        .iter()
        .map(|c| c.condition.as_ref().map(|x| x.text.clone()))
        .collect();
    assert_eq!(
        conds,
        [
            Some("x .lt. -1".into()),
            Some("x .geq. -1 .and. x .lt. 1".into()),
            None
        ]
    );
    let u = by("u");
    assert_eq!(u.cases.len(), 1);
    assert!(u.cases[0].condition.is_none());
    let inner = by("z_rhs_c");
    assert_eq!(
        inner.cases[0].condition.as_ref().map(|c| c.text.as_str()),
        Some("z .lt. 0")
    );
    assert_eq!(inner.cases[0].value.text, "-0.1*z^7");
    let outer = by("z_rhs_c_1");
    assert_eq!(outer.cases[1].value.text, "4*(x - x0) + z_rhs_c");
    assert_eq!(rate(&m, "E", "z"), "(z_rhs_c_1) / SEC");
}

#[test]
fn events_become_on_condition_with_event_out() {
    let m = export(
        "name: Izh\nparameters:\n  a: {value: 0.02}\n  b: {value: 0.2}\n  c: {value: -65}\n  d: {value: 6}\n  thresh: {value: 30}\n\
         state_variables:\n  v:\n    equation: {rhs: '0.04*v**2 + 5*v + 140 - U'}\n    initial_value: -70\n  U:\n    equation: {rhs: 'a*(b*v - U)'}\n\
         events:\n  spike:\n    condition: {rhs: 'v > thresh'}\n    affect: {rhs: 'v = c; U = U + d'}\n",
    );
    let ct = &m.component_types["Izh"];
    assert_eq!(ct.event_ports[0].name, "spike");
    assert_eq!(ct.event_ports[0].direction, myelin_ir::PortDirection::Out);
    let d = dynamics(&m, "Izh");
    let oc = &d.body.on_conditions[0];
    assert_eq!(oc.test.text, "v .gt. thresh");
    let acts: Vec<String> = oc
        .actions
        .iter()
        .map(|a| match a {
            Action::StateAssignment {
                variable, value, ..
            } => format!("{variable}={}", value.text),
            Action::EventOut { port, .. } => format!("out:{port}"),
            Action::Transition { regime, .. } => format!("to:{regime}"),
        })
        .collect();
    assert_eq!(acts, ["v=c", "U=U + d", "out:spike"]);
    assert!(xml(&m).contains("<EventOut port=\"spike\"/>"));
}

#[test]
fn functions_jlems_lacks_are_rewritten_exactly() {
    let m = export(
        "name: W\nparameters:\n  p: {value: 2}\nstate_variables:\n  x:\n    equation: {rhs: 'sign(x) + floor(x) + Mod(x, p) + asinh(x) + Abs(x) + pi*E'}\n  \
         y:\n    equation: {rhs: 'Min(x, y, p) - Max(x, 0)'}\n",
    );
    assert_eq!(
        rate(&m, "W", "x"),
        "(H(x) - H(-x) + -ceil(-x) + (x + p*ceil(-(x/p))) + log(x + sqrt(x^2 + 1)) + abs(x) + 8.539734222673566) / SEC"
    );
    let d = dynamics(&m, "W");
    let names: Vec<&str> = d
        .conditional_derived_variables
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["y_rhs_c", "y_rhs_c_1", "y_rhs_c_2"]);
    assert_eq!(
        d.conditional_derived_variables[0].cases[0]
            .condition
            .as_ref()
            .unwrap()
            .text,
        "x .leq. y"
    );
    assert_eq!(
        d.conditional_derived_variables[1].cases[0]
            .condition
            .as_ref()
            .unwrap()
            .text,
        "y_rhs_c .leq. p"
    );
    assert_eq!(rate(&m, "W", "y"), "(y_rhs_c_1 - y_rhs_c_2) / SEC");
}

#[test]
fn functions_without_an_exact_rewrite_are_refused_naming_function_and_model() {
    let yaml = "name: Cardano\nstate_variables:\n  x:\n    equation: {rhs: 'cos(atan2(x, 1)/3) - erfc(x)'}\n";
    let (exp, _, mut diags) = load(yaml);
    assert!(!diags.has_errors());
    assert!(myelin_tvbo::to_lems(&exp.unwrap(), &ExportOptions::default(), &mut diags).is_none());
    let msgs: Vec<String> = diags.iter().map(|d| d.message.clone()).collect();
    assert!(
        msgs.iter()
            .any(|m| m.contains("`atan2`") && m.contains("model `Cardano`")),
        "{msgs:?}"
    );
    assert!(msgs.iter().any(|m| m.contains("`erfc`")), "{msgs:?}");
    assert_eq!(
        problems(yaml),
        [
            (4, 26, "unsupported-function"),
            (4, 43, "unsupported-function")
        ]
    );
}

#[test]
fn derived_parameters_are_substituted_and_time_is_in_model_units() {
    let m = export(
        "name: D\nparameters:\n  C: {value: 135}\n  delay: {value: 20, unit: ms}\nderived_parameters:\n  C1: {equation: {rhs: '0.8*C'}}\n  C2: {equation: {rhs: 'C1/2'}}\n\
         state_variables:\n  x:\n    equation: {rhs: 'C2 - x + Piecewise((1, t >= delay), (0, True))'}\n",
    );
    assert_eq!(rate(&m, "D", "x"), "(0.8*C/2 - x + x_rhs_c) / SEC");
    let d = dynamics(&m, "D");
    assert_eq!(
        d.conditional_derived_variables[0].cases[0]
            .condition
            .as_ref()
            .unwrap()
            .text,
        "t/SEC .geq. delay"
    );
}

#[test]
fn clamped_domains_are_enforced_after_each_step() {
    let m = export(
        "name: K\nstate_variables:\n  S:\n    equation: {rhs: '1 - S'}\n    domain: {lo: 0.0, hi: 1.0, enforce: clamp}\n  r:\n    equation: {rhs: '-r'}\n    domain: {lo: 0.0, hi: .inf, enforce: clamp}\n",
    );
    let d = dynamics(&m, "K");
    let tests: Vec<&str> = d
        .body
        .on_conditions
        .iter()
        .map(|c| c.test.text.as_str())
        .collect();
    assert_eq!(tests, ["S .gt. 1", "S .lt. 0", "r .lt. 0"]);
}

#[test]
fn time_scale_and_integration_settings_come_from_the_experiment() {
    let m = export(
        "id: 7\nlabel: x\ndynamics:\n  name: FN\n  parameters: {I: {value: 0.8}}\n  state_variables:\n    V: {equation: {rhs: 'V - V**3/3 + I'}}\n\
         network: {number_of_nodes: 1}\nintegration: {method: euler, step_size: 0.01, duration: 200.0, time_scale: s}\n",
    );
    assert_eq!(m.component_types["FN"].constants[0].value, "1s");
    let sim = &m.components[1];
    assert_eq!(
        sim.attribute("length").map(|a| a.value.as_str()),
        Some("200s")
    );
    assert_eq!(
        sim.attribute("step").map(|a| a.value.as_str()),
        Some("0.01s")
    );
}

#[test]
fn names_lems_reads_otherwise_are_renamed() {
    // `exp` as a parameter and `H` as a state variable would read as functions in LEMS.
    let m = export(
        "name: N\nparameters:\n  exp: {value: 1}\nstate_variables:\n  H:\n    equation: {rhs: 'exp - H'}\n",
    );
    assert_eq!(rate(&m, "N", "H_v"), "(exp_v - H_v) / SEC");
}

#[test]
fn split_layout_chains_three_documents() {
    let yaml = "name: S\nstate_variables:\n  x:\n    equation: {rhs: '-x'}\n    initial_value: 1\n";
    let (exp, mut sources, mut diags) = load(yaml);
    let names = [
        "d.xml".to_string(),
        "n.xml".to_string(),
        "s.xml".to_string(),
    ];
    let files = names.clone().map(|n| sources.add(n, ""));
    let opts = ExportOptions {
        layout: Layout::Split {
            files,
            names: names.clone(),
        },
        ..ExportOptions::default()
    };
    let (m, _) = myelin_tvbo::to_lems(&exp.unwrap(), &opts, &mut diags).unwrap();
    myelin_check::check(&m, &mut diags);
    assert!(!diags.has_errors());
    let write = |k: usize| {
        myelin_lems::write_document(
            &m,
            &myelin_lems::WriteOptions {
                file: Some(files[k]),
            },
        )
    };
    let (d, n, s) = (write(0), write(1), write(2));
    assert!(
        d.contains("<ComponentType name=\"S\"")
            && !d.contains("<Include")
            && !d.contains("<Simulation id")
    );
    assert!(
        n.contains("<Include file=\"d.xml\"/>")
            && n.contains("type=\"Population\"")
            && n.contains("component=\"S_inst\"")
    );
    assert!(
        s.contains("<Include file=\"n.xml\"/>")
            && s.contains("target=\"net\"")
            && s.contains("quantity=\"pop0[0]/x\"")
    );
    // The three files read back (through their includes) and check clean.
    let fs = myelin_lems::MemFs::new()
        .with("/m/d.xml", d)
        .with("/m/n.xml", n);
    let mut sources = SourceMap::new();
    let mut diags = Diagnostics::new();
    let loaded = myelin_lems::load_str(
        "/m/s.xml",
        &s,
        &myelin_lems::LoadOptions::default(),
        &fs,
        &mut sources,
        &mut diags,
    );
    myelin_check::check(&loaded.model, &mut diags);
    assert!(
        !diags.has_errors(),
        "{:?}",
        diags
            .iter()
            .map(|d| myelin_diag::render_text(&sources, d))
            .collect::<Vec<_>>()
    );
}

#[test]
fn yaml_round_trip_keeps_the_model() {
    let yaml = "id: 3\nlabel: L\ndynamics:\n  name: Izh\n  parameters:\n    a: {value: 0.02, unit: ms, domain: {lo: 0, hi: 1}}\n    n: {value: 1e-5}\n\
                \x20 functions:\n    f: {arguments: {x: {}}, equation: {rhs: 'a*x'}}\n  coupling_inputs:\n    c_glob: {}\n    local_coupling: {local: true}\n\
                \x20 state_variables:\n    v:\n      equation: {rhs: \"f(v) - n + c_glob\"}\n      initial_value: -70\n      domain: {lo: -100, hi: 50, enforce: clamp}\n\
                \x20 events:\n    spike: {condition: {rhs: 'v > 30'}, affect: {rhs: 'v = -65'}}\n\
                integration: {method: euler, step_size: 0.005, duration: 200.0, time_scale: ms}\nnetwork: {number_of_nodes: 1}\n";
    let (exp, _, diags) = load(yaml);
    assert!(!diags.has_errors());
    let exp = exp.unwrap();
    let (out, lost) = myelin_tvbo::write_yaml(&exp);
    assert!(lost.is_empty(), "{lost:?}");
    let (back, sources, diags) = load(&out);
    assert!(
        !diags.has_errors(),
        "{out}\n{:?}",
        diags
            .iter()
            .map(|d| myelin_diag::render_text(&sources, d))
            .collect::<Vec<_>>()
    );
    let back = back.unwrap();
    // Same model: the LEMS exports are identical, and writing again gives the same YAML.
    let lems = |e: &Experiment| {
        let mut d = Diagnostics::new();
        xml(&myelin_tvbo::to_lems(e, &ExportOptions::default(), &mut d)
            .unwrap()
            .0)
    };
    assert_eq!(lems(&exp), lems(&back));
    assert_eq!(myelin_tvbo::write_yaml(&back).0, out);
    assert_eq!(back.dynamics.parameters[1].name.value, "n");
    assert_eq!(
        back.dynamics.parameters[1].value.as_ref().unwrap().value,
        1e-5
    );
}

#[test]
fn problems_are_reported_where_they_are_written() {
    let yaml = "name: Bad\nparameters:\n  a: {value: 1, unit: millivolt}\n  b: {valeu: 2}\nfunctions:\n  f:\n    arguments: [x, y]\n    equation: {rhs: 'x*y'}\n\
                state_variables:\n  v:\n    equation: {rhs: 'a*v + f(v) + bb'}\n    inital_value: 3\n\
                events:\n  e:\n    condition: {rhs: 'v > 1'}\n    affect: {rhs: 'v = 0; w = 1; 2 = v'}\n";
    assert_eq!(
        problems(yaml),
        [
            (3, 23, "unknown-unit"),
            (4, 7, "unknown-field"),
            (11, 28, "wrong-arity"),
            (11, 35, "undefined-symbol"),
            (12, 5, "unknown-field"),
            (16, 27, "undefined-symbol"),
            (16, 34, "expression-syntax"),
        ]
    );
}

#[test]
fn unreadable_input_is_a_diagnostic() {
    assert_eq!(
        problems("name: X\nparameters: [\n"),
        [(2, 13, "yaml-syntax")]
    );
    assert_eq!(problems("- a\n- b\n"), [(1, 1, "bad-field")]);
    assert_eq!(
        problems("name: X\nstate_variables:\n  v:\n    equation: {rhs: 'v +* 2'}\n"),
        [(4, 25, "expression-syntax")]
    );
    // `n` is a name, not YAML 1.1's `false`.
    assert_eq!(
        problems("name: X\nstate_variables:\n  n:\n    equation: {rhs: '-n'}\n"),
        []
    );
}

#[test]
fn coupled_networks_need_a_coupling_input_and_no_delays() {
    // A model without coupling inputs cannot be coupled.
    let yaml = "dynamics:\n  name: X\n  state_variables:\n    v: {equation: {rhs: '-v'}}\nnetwork:\n  number_of_nodes: 3\n";
    let codes: Vec<&str> = problems(yaml).iter().map(|p| p.2).collect();
    assert!(codes.contains(&"export-refused"), "{codes:?}");
    // Delays are refused, at the delay.
    let yaml = "dynamics:\n  name: X\n  coupling_inputs: {c: {}}\n  state_variables:\n    v: {equation: {rhs: '-v + c'}}\nnetwork:\n  nodes: [{id: 0}, {id: 1}]\n  edges:\n    - {source: 0, target: 1, weight: 0.5, delay: 2.0}\n";
    assert_eq!(problems(yaml), [(9, 50, "export-refused")]);
}

#[test]
fn coupled_network_exports_coupling_and_edges() {
    let yaml = "dynamics:\n  name: X\n  coupling_inputs: {c: {}}\n  state_variables:\n    v: {equation: {rhs: '-v + c'}, initial_value: 1}\nnetwork:\n  nodes: [{id: 0}, {id: 1}, {id: 2}]\n  edges:\n    - {source: 0, target: 1, weight: 0.5}\n    - {source: 2, target: 1, weight: 0.25}\n  coupling:\n    lin: {pre_expression: {rhs: x_j}, post_expression: {rhs: 'a*gx'}, parameters: {a: {value: 2}}}\n";
    let m = export(yaml);
    assert!(m.component_types.contains_key("Coupling"));
    assert!(m.component_types.contains_key("CouplingEdge"));
    let ct = &m.component_types["X"];
    let dy = ct.dynamics.as_ref().unwrap();
    assert!(dy.derived_variables.iter().any(|d| d.name == "c"));
    assert!(!ct.parameters.iter().any(|p| p.name == "c"));
    let net = m.components.iter().find(|c| c.id.as_deref() == Some("net")).unwrap();
    assert_eq!(net.children.len(), 5);
    // The JAX export integrates the same network: the edges, the coupling and a row per node.
    let (exp, _, mut diags) = load(yaml);
    let script = myelin_tvbo::to_jax(&exp.unwrap(), &ExportOptions::default(), &mut diags).expect("exports to JAX");
    for line in [
        "N_NODES = 3",
        "EDGE_SOURCE = jnp.array([0, 2], dtype=jnp.int32)",
        "EDGE_TARGET = jnp.array([1, 1], dtype=jnp.int32)",
        "EDGE_WEIGHT = jnp.array([0.5, 0.25])",
        "    \"a\": 2.0,",
        "    gx = jax.ops.segment_sum(EDGE_WEIGHT * (x_j_0), EDGE_TARGET, num_segments=N_NODES)",
        "    inputs[\"c\"] = (cpl_a * gx)  # output 0",
        "    [1.0],  # node 0",
        "    c = coupling(state)",
    ] {
        assert!(script.lines().any(|l| l == line), "missing `{line}` in:\n{script}");
    }
}

#[test]
fn noise_becomes_an_assignment_after_each_step() {
    let yaml = "id: 1\nlabel: ou\ndynamics:\n  name: OU\n  state_variables:\n    x:\n      equation: {rhs: -x}\n      noise:\n        parameters: {sigma: {value: 0.5}}\n    y:\n      equation: {rhs: -y}\nintegration:\n  step_size: 0.04\n";
    let model = export(yaml);
    let ct = &model.component_types["OU"];
    let constant = |name: &str| ct.constants.iter().find(|c| c.name == name).map(|c| c.value.clone());
    assert_eq!(constant("SIGMA_x").as_deref(), Some("0.5"));
    assert_eq!(constant("SQRT_DT").as_deref(), Some("0.2"));
    assert!(constant("SIGMA_y").is_none(), "y has no noise");
    // One condition that always holds, assigning x only, before any event or clamp.
    let dynamics = dynamics(&model, "OU");
    let first = &dynamics.body.on_conditions[0];
    assert_eq!(first.test.text, "SQRT_DT .gt. 0");
    let [Action::StateAssignment { variable, value, .. }] = first.actions.as_slice() else { panic!("{:?}", first.actions) };
    assert_eq!(variable, "x");
    assert!(value.text.contains("random(1)") && value.text.starts_with("x + SIGMA_x*SQRT_DT*"), "{}", value.text);
    // It reads back from YAML with its noise.
    let (exp, _, _) = load(yaml);
    let (text, lost) = myelin_tvbo::write_yaml(&exp.unwrap());
    assert!(lost.is_empty(), "{lost:?}");
    let again = export(&text);
    assert_eq!(xml(&again), xml(&model));
}

#[test]
fn noise_myelin_cannot_integrate_is_refused() {
    let base = "id: 1\nlabel: n\ndynamics:\n  name: N\n  state_variables:\n    x:\n      equation: {rhs: -x}\nintegration:\n  noise:\n";
    for (extra, line, col) in [
        ("    additive: false\n", 10, 15),
        ("    correlated: true\n", 10, 17),
        ("    parameters: {nsig: {value: 1}}\n", 10, 18),
        ("    targets: [z]\n", 10, 15),
    ] {
        let found = problems(&format!("{base}{extra}"));
        let code = if extra.contains("targets") { "undefined-symbol" } else { "unsupported-noise" };
        assert!(found.contains(&(line, col, code)), "{extra}: {found:?}");
    }
}