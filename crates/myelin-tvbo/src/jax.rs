//! `--to jax`: a model as a runnable Python script with JAX, in the spirit of TVBO's
//! `render("jax")`.
//!
//! The script defines `dfun(state, params, t)` (the right-hand sides with `jax.numpy`, user
//! functions inlined, derived parameters and derived variables computed in dependency order,
//! `Piecewise` as nested `jnp.where`), `after_step` (events, then `enforce: clamp|wrap`
//! domains, as the LEMS export applies them: conditions on the new state, assignments in
//! order), an Euler / Heun / RK4 step, and `simulate`, a `jax.lax.scan` over the steps. Run as a
//! program it writes `results/<Model>.dat` beside itself, in the LEMS export's layout: time in
//! seconds, then every state variable in the YAML's order, `round(duration/dt)+1` rows,
//! tab-separated. A coupled network (nodes and weighted edges without delays, read as the LEMS
//! export reads it) integrates all nodes at once: `coupling(states)` computes every node's
//! coupled inputs from the state at the start of the step (TVB's order), `dfun` runs per node
//! under `jax.vmap`, and the file has `<sv>_<node>` columns node by node, as the LEMS export
//! records them. A single node's coupling inputs are parameters that default to 0.

use crate::lems::{ExportOptions, TimeValue};
use crate::schema::{self as tvbo, Enforce, Experiment, defaults};
use crate::sema::{self, Symbols};
use myelin_diag::{Diagnostic, Diagnostics, Span};
use myelin_expr::{BinaryOp, Constant, Expr, ExprKind, Func, UnaryOp};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

/// Python keywords and the names the script itself uses inside `dfun`.
const RESERVED: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield", "jax", "jnp", "state", "params", "t", "dt",
];

/// Converts an experiment into a Python/JAX script. `None` when it cannot be converted (the
/// diagnostics say why).
pub fn to_jax(exp: &Experiment, opts: &ExportOptions, diags: &mut Diagnostics) -> Option<String> {
    let d = &exp.dynamics;
    let model = format!("model `{}`", d.name.value);
    let start = diags.error_count();
    let refuse = |diags: &mut Diagnostics, msg: String, span: Span| {
        diags.push(Diagnostic::error("export-refused", msg).at(span));
    };
    if let Some(span) = d.components {
        refuse(
            diags,
            format!(
                "{model} is a tree of native NeuroML components; only models written as equations can be exported to JAX"
            ),
            span,
        );
        return None;
    }
    if d.state_variables.is_empty() {
        refuse(
            diags,
            format!("{model} has no state variables: nothing to simulate"),
            d.name.span,
        );
    }
    if let Some(st) = &d.system_type
        && st.value == "discrete"
    {
        refuse(
            diags,
            format!(
                "{model} is a discrete map (`system_type: discrete`); the JAX export integrates differential equations"
            ),
            st.span,
        );
    }
    for p in &d.parameters {
        if let Some(span) = p.array {
            refuse(
                diags,
                format!(
                    "parameter `{}` of {model} is an array; the JAX export handles scalar parameters",
                    p.name.value
                ),
                span,
            );
        }
    }
    if diags.error_count() > start {
        return None;
    }
    // A coupled network, read as the LEMS export reads it.
    let net = crate::lems::network_plan(exp, diags)?;

    let syms = Symbols::new(d);
    let defs = sema::function_defs(d, &syms);
    // Python names for the model's names.
    let mut taken: HashSet<String> = syms.kinds.keys().cloned().collect();
    let mut rename: HashMap<String, String> = HashMap::new();
    let mut names: Vec<&String> = syms.kinds.keys().collect();
    names.sort();
    for n in names {
        let reserved = RESERVED.contains(&n.as_str()) && !(n == "t" && syms.time_is_free());
        if reserved || !is_identifier(n) {
            let base: String = n
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let mut new = format!("{base}_m");
            while taken.contains(&new) {
                new.push('_');
            }
            taken.insert(new.clone());
            rename.insert(n.clone(), new);
        }
    }
    let py_name = |n: &str| rename.get(n).cloned().unwrap_or_else(|| n.to_string());

    let mut failed = false;
    let mut prep = |eq: &tvbo::Equation, diags: &mut Diagnostics| -> Option<Expr> {
        let e = sema::prepare(eq, &syms)?;
        match myelin_expr::inline_functions(&e, &defs) {
            Ok(e) => Some(myelin_expr::substitute(&e, &|v| {
                rename.get(v).map(|n| Expr::var(n))
            })),
            Err(err) => {
                diags.push(
                    Diagnostic::error("inline-failed", format!("{err}")).at(eq.span_of(err.span())),
                );
                failed = true;
                None
            }
        }
    };
    let mut printer = Printer {
        diags,
        model: &model,
        span: d.name.span,
        failed: false,
    };

    // Derived parameters and derived variables, each list in dependency order.
    let mut assigns: Vec<(String, Expr)> = Vec::new();
    for p in &d.derived_parameters {
        if let Some(eq) = &p.equation
            && let Some(e) = prep(eq, printer.diags)
        {
            assigns.push((py_name(&p.name.value), e));
        }
    }
    let n_dp = assigns.len();
    let dps = order(assigns);
    let mut dvs: Vec<(String, Expr)> = Vec::new();
    for v in &d.derived_variables {
        if let Some(eq) = &v.equation
            && let Some(e) = prep(eq, printer.diags)
        {
            dvs.push((py_name(&v.name.value), e));
        }
    }
    let dvs = order(dvs);
    let mut rates: Vec<(String, Expr)> = Vec::new();
    for s in &d.state_variables {
        match &s.equation {
            Some(eq) => {
                if let Some(e) = prep(eq, printer.diags) {
                    rates.push((py_name(&s.name.value), e));
                }
            }
            None => rates.push((py_name(&s.name.value), Expr::num(0.0))),
        }
    }
    let svs: Vec<String> = d
        .state_variables
        .iter()
        .map(|s| py_name(&s.name.value))
        .collect();
    let mut events: Vec<(Expr, Vec<(String, Expr)>)> = Vec::new();
    for ev in &d.events {
        let Some(cond) = ev.condition.as_ref().and_then(|c| prep(c, printer.diags)) else {
            continue;
        };
        let mut list = Vec::new();
        for a in &ev.assignments {
            if d.state_variable(&a.target.value).is_none() {
                refuse(
                    printer.diags,
                    format!(
                        "event `{}` of {model} assigns `{}`, which is not a state variable; the JAX export assigns state variables only",
                        ev.name.value, a.target.value
                    ),
                    a.target.span,
                );
                continue;
            }
            if let Some(e) = prep(&a.value, printer.diags) {
                list.push((py_name(&a.target.value), e));
            }
        }
        events.push((cond, list));
    }
    let noise = crate::lems::noise_intensities(exp, d, printer.diags);
    if failed || noise.is_none() || printer.diags.error_count() > start {
        return None;
    }
    let noise = noise.unwrap_or_default();
    let noisy = noise.iter().any(Option::is_some);

    // Integration settings, in the model's time unit.
    let time_unit = exp
        .integration
        .time_scale
        .as_ref()
        .map_or(defaults::TIME_SCALE, |t| t.value.as_str());
    let unit_s = |u: &str| {
        tvbo::TIME_SCALES
            .iter()
            .find(|(n, _)| *n == u)
            .map_or(1e-3, |(_, s)| *s)
    };
    let in_model = |t: &TimeValue| t.value * unit_s(&t.unit) / unit_s(time_unit);
    let dt = opts
        .dt
        .as_ref()
        .map(in_model)
        .or(exp.integration.step_size.as_ref().map(|x| x.value))
        .unwrap_or(defaults::STEP_SIZE);
    let duration = opts
        .duration
        .as_ref()
        .map(in_model)
        .or(exp.integration.duration.as_ref().map(|x| x.value))
        .unwrap_or(defaults::DURATION);
    let method_written = exp
        .integration
        .method
        .as_ref()
        .map_or(defaults::METHOD.to_string(), |m| m.value.to_lowercase());
    let method = if method_written.contains("heun") {
        "heun"
    } else if method_written.contains("rk4") || method_written.contains("runge") {
        "rk4"
    } else if method_written.contains("euler") {
        "euler"
    } else {
        printer.diags.push(
            Diagnostic::warning(
                "jax-method",
                format!("integration method `{method_written}` is written as Heun's"),
            )
            .at_opt(exp.integration.method.as_ref().map(|m| m.span)),
        );
        "heun"
    };
    // The same name as the LEMS export's ComponentType, so both write results/<name>.dat.
    let type_name = crate::lems::component_type_name(&d.name.value);

    // The script.
    let mut py = String::new();
    let title = format!(
        "{} as a JAX script, exported by myelin from TVBO YAML.",
        d.name.value
    );
    let _ = writeln!(py, "#!/usr/bin/env python3");
    let _ = writeln!(py, "\"\"\"{title}");
    let _ = writeln!(py);
    if let Some(desc) = &d.description {
        for line in wrap(&desc.replace('\\', "\\\\").replace("\"\"\"", "'''"), 96) {
            let _ = writeln!(py, "{line}");
        }
        let _ = writeln!(py);
    }
    let _ = writeln!(
        py,
        "Run it to integrate the model ({method}, dt = {} {time_unit}, {} {time_unit}) and write",
        fmt(dt),
        fmt(duration)
    );
    match &net {
        None => {
            let _ = writeln!(py, "results/{type_name}.dat beside this file: time in seconds, then {}, tab-separated.", svs.join(", "));
        }
        Some(plan) => {
            let _ = writeln!(
                py,
                "results/{type_name}.dat beside this file: time in seconds, then {} of node 0, of node 1, ... (of {} nodes),\n\
                 tab-separated. The nodes are coupled through the network's edges.",
                svs.join(", "),
                plan.nodes.len()
            );
        }
    }
    let _ = writeln!(
        py,
        "Options: --method euler|heun|rk4, --dt, --duration (in {time_unit}), --seed N, --out-dir DIR."
    );
    if noisy {
        let _ = writeln!(
            py,
            "Additive noise as the experiment asks: after each step's update, sigma * sqrt(dt) * N(0, 1)\n\
             per state variable (NOISE_SIGMA), from jax.random seeded with --seed."
        );
    }
    let _ = writeln!(py, "\"\"\"");
    let _ = writeln!(py);
    let _ = writeln!(py, "import argparse");
    let _ = writeln!(py, "import os");
    let _ = writeln!(py);
    let _ = writeln!(py, "import jax");
    let _ = writeln!(py);
    let _ = writeln!(py, "jax.config.update(\"jax_enable_x64\", True)");
    let _ = writeln!(py, "import jax.numpy as jnp  # noqa: E402");
    let _ = writeln!(py, "import jax.scipy.special  # noqa: E402,F401");
    let _ = writeln!(py);
    let _ = writeln!(py, "MODEL = {:?}", type_name);
    let _ = writeln!(
        py,
        "STATE_VARIABLES = ({})",
        svs.iter()
            .map(|s| format!("{s:?}, "))
            .collect::<String>()
            .trim_end()
    );
    let _ = writeln!(
        py,
        "# Parameters, and coupling inputs (0 for a single node)."
    );
    let _ = writeln!(py, "PARAMS = {{");
    let mut param_names: Vec<String> = Vec::new();
    for p in &d.parameters {
        let v = p.value.as_ref().map_or(0.0, |v| v.value);
        let n = py_name(&p.name.value);
        let _ = writeln!(py, "    {:?}: {},", n, fmt(v));
        param_names.push(n);
    }
    for c in &d.coupling_inputs {
        for n in c.symbols() {
            if syms.kinds.get(&n.value) == Some(&sema::SymbolKind::CouplingInput) {
                let n = py_name(&n.value);
                if !param_names.contains(&n) {
                    let _ = writeln!(py, "    {n:?}: 0.0,");
                    param_names.push(n);
                }
            }
        }
    }
    let _ = writeln!(py, "}}");
    let init: Vec<String> = d
        .state_variables
        .iter()
        .map(|s| fmt(s.initial_value.as_ref().map_or(0.0, |v| v.value)))
        .collect();
    match &net {
        None => {
            let _ = writeln!(py, "INITIAL = jnp.array([{}])", init.join(", "));
        }
        Some(plan) => {
            // One row per node: the model's initial values, with the node's own overrides.
            let _ = writeln!(py, "# One row per node; each row the state variables in order.");
            let _ = writeln!(py, "INITIAL = jnp.array([");
            for (id, overrides) in &plan.nodes {
                let row: Vec<String> = d
                    .state_variables
                    .iter()
                    .zip(&init)
                    .map(|(s, v)| overrides.iter().find(|(n, _)| *n == s.name.value).map_or_else(|| v.clone(), |(_, x)| fmt(*x)))
                    .collect();
                let _ = writeln!(py, "    [{}],  # node {id}", row.join(", "));
            }
            let _ = writeln!(py, "])");
        }
    }
    let _ = writeln!(py, "DT = {}  # {time_unit}", fmt(dt));
    let _ = writeln!(py, "DURATION = {}  # {time_unit}", fmt(duration));
    let _ = writeln!(
        py,
        "SECONDS_PER_UNIT = {}  # one {time_unit} in seconds",
        fmt(unit_s(time_unit))
    );
    let _ = writeln!(py, "METHOD = {method:?}");
    let sigmas: Vec<String> = noise.iter().map(|x| fmt(x.unwrap_or(0.0))).collect();
    let _ = writeln!(py, "# Intensity of the additive noise on each state variable (0: none).");
    let _ = writeln!(py, "NOISE_SIGMA = jnp.array([{}])", sigmas.join(", "));
    let _ = writeln!(py, "NOISY = {}", if noisy { "True" } else { "False" });
    let _ = writeln!(py);
    let _ = writeln!(py);

    let unpack = |py: &mut String| {
        let _ = writeln!(py, "    {}, = state", svs.join(", "));
        for n in &param_names {
            let _ = writeln!(py, "    {n} = params[{n:?}]");
        }
    };
    let _ = writeln!(py, "def dfun(state, params, t=0.0):");
    let _ = writeln!(
        py,
        "    \"\"\"The time derivatives of the state variables.\"\"\""
    );
    unpack(&mut py);
    if n_dp > 0 {
        let _ = writeln!(py, "    # derived parameters");
    }
    for (n, e) in &dps {
        let s = printer.print(e);
        let _ = writeln!(py, "    {n} = {s}");
    }
    if !dvs.is_empty() {
        let _ = writeln!(py, "    # derived variables");
    }
    for (n, e) in &dvs {
        let s = printer.print(e);
        let _ = writeln!(py, "    {n} = {s}");
    }
    let _ = writeln!(py, "    return jnp.stack([");
    for (n, e) in &rates {
        let s = printer.print(e);
        let _ = writeln!(py, "        {s},  # d{n}/dt");
    }
    let _ = writeln!(py, "    ])");
    let _ = writeln!(py);
    let _ = writeln!(py);

    let _ = writeln!(py, "def after_step(state, params, t=0.0):");
    let _ = writeln!(
        py,
        "    \"\"\"Events (conditions on the new state, assignments in order), then domains.\"\"\""
    );
    let clamps: Vec<(usize, &tvbo::StateVariable, Enforce)> = d
        .state_variables
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let e = s.domain.as_ref()?.enforce.as_ref()?.value;
            (e != Enforce::None).then_some((i, s, e))
        })
        .collect();
    if events.is_empty() && clamps.is_empty() {
        let _ = writeln!(py, "    return state");
    } else {
        unpack(&mut py);
        if !events.is_empty() {
            // Derived parameters and variables as the new state gives them.
            for (n, e) in dps.iter().chain(&dvs) {
                let s = printer.print(e);
                let _ = writeln!(py, "    {n} = {s}");
            }
        }
        for (k, (cond, list)) in events.iter().enumerate() {
            let c = printer.print(cond);
            let _ = writeln!(py, "    fire{k} = {c}");
            for (n, e) in list {
                let s = printer.print(e);
                let _ = writeln!(py, "    {n} = jnp.where(fire{k}, {s}, {n})");
            }
        }
        for (i, s, e) in &clamps {
            let n = &svs[*i];
            let dom = s.domain.as_ref();
            let lo = dom.and_then(|d| d.lo).filter(|x| x.is_finite());
            let hi = dom.and_then(|d| d.hi).filter(|x| x.is_finite());
            match (e, lo, hi) {
                (Enforce::Wrap, Some(lo), Some(hi)) => {
                    let _ = writeln!(
                        py,
                        "    {n} = {} + jnp.mod({n} - {}, {})",
                        fmt(lo),
                        fmt(lo),
                        fmt(hi - lo)
                    );
                }
                _ => {
                    let lo = lo.map_or("None".to_string(), fmt);
                    let hi = hi.map_or("None".to_string(), fmt);
                    let _ = writeln!(py, "    {n} = jnp.clip({n}, {lo}, {hi})");
                }
            }
        }
        let _ = writeln!(py, "    return jnp.stack([{}])", svs.join(", "));
    }
    let _ = writeln!(py);
    let _ = writeln!(py);
    match &net {
        None => py.push_str(STEP_NODE),
        Some(plan) => {
            write_coupling(&mut py, plan, d, &py_name, &mut printer);
            py.push_str(STEP_NETWORK);
        }
    }
    py.push_str(SCRIPT_TAIL);
    if printer.failed {
        return None;
    }
    Some(py)
}

/// The network's coupling as a function of all nodes' states: per coupled input,
/// `post(sum over the node's incoming edges of weight * pre(x_i, x_j))`, with the
/// coupling's parameters in `COUPLING`.
fn write_coupling(py: &mut String, plan: &crate::lems::NetPlan, d: &tvbo::Dynamics, py_name: &dyn Fn(&str) -> String, printer: &mut Printer<'_>) {
    let list = |xs: Vec<String>| xs.join(", ");
    let _ = writeln!(py, "# The network: {} nodes; edge k takes node EDGE_SOURCE[k]'s coupling variables to node", plan.nodes.len());
    let _ = writeln!(py, "# EDGE_TARGET[k] with weight EDGE_WEIGHT[k].");
    let _ = writeln!(py, "N_NODES = {}", plan.nodes.len());
    let _ = writeln!(py, "EDGE_SOURCE = jnp.array([{}], dtype=jnp.int32)", list(plan.edges.iter().map(|e| e.0.to_string()).collect()));
    let _ = writeln!(py, "EDGE_TARGET = jnp.array([{}], dtype=jnp.int32)", list(plan.edges.iter().map(|e| e.1.to_string()).collect()));
    let _ = writeln!(py, "EDGE_WEIGHT = jnp.array([{}])", list(plan.edges.iter().map(|e| fmt(e.2)).collect()));
    let _ = writeln!(py, "COUPLING = {{");
    for (n, v) in &plan.params {
        let _ = writeln!(py, "    {n:?}: {},", fmt(*v));
    }
    let _ = writeln!(py, "}}");
    let _ = writeln!(py);
    let _ = writeln!(py);
    let _ = writeln!(py, "def coupling(states, cp=COUPLING):");
    let _ = writeln!(py, "    \"\"\"Every node's coupled inputs from all nodes' states (nodes x state variables).\"\"\"");
    let _ = writeln!(py, "    x_i = states[EDGE_TARGET]");
    let _ = writeln!(py, "    x_j = states[EDGE_SOURCE]");
    for (k, c) in plan.cvars.iter().enumerate() {
        let col = d.state_variables.iter().position(|s| s.name.value == *c).unwrap_or(0);
        let _ = writeln!(py, "    x_i_{k} = x_i[:, {col}]  # {}", py_name(c));
        let _ = writeln!(py, "    x_j_{k} = x_j[:, {col}]");
    }
    let cpl = |e: &Expr| myelin_expr::substitute(e, &|v| plan.params.iter().any(|(n, _)| n == v).then(|| Expr::var(&format!("cpl_{v}"))));
    for (n, _) in &plan.params {
        let _ = writeln!(py, "    cpl_{n} = cp[{n:?}]");
    }
    let _ = writeln!(py, "    inputs = {{}}");
    for (k, (pre, input)) in plan.pre.iter().zip(&plan.inputs).enumerate() {
        let pre = printer.print(&cpl(pre));
        let _ = writeln!(py, "    gx = jax.ops.segment_sum(EDGE_WEIGHT * ({pre}), EDGE_TARGET, num_segments=N_NODES)");
        let post = printer.print(&cpl(&plan.post));
        let _ = writeln!(py, "    inputs[{:?}] = {post}  # output {k}", py_name(input));
    }
    let _ = writeln!(py, "    return inputs");
    let _ = writeln!(py);
    let _ = writeln!(py);
}

/// One step of a single node.
const STEP_NODE: &str = r#"def step(state, params, t, dt, method=METHOD, noise=0.0):
    """One step from time t to t + dt; `noise` is added after the update, before events."""
    if method == "euler":
        new = state + dt * dfun(state, params, t)
    elif method == "heun":
        k1 = dfun(state, params, t)
        k2 = dfun(state + dt * k1, params, t + dt)
        new = state + dt / 2 * (k1 + k2)
    elif method == "rk4":
        k1 = dfun(state, params, t)
        k2 = dfun(state + dt / 2 * k1, params, t + dt / 2)
        k3 = dfun(state + dt / 2 * k2, params, t + dt / 2)
        k4 = dfun(state + dt * k3, params, t + dt)
        new = state + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    else:
        raise ValueError(f"unknown method {method!r} (euler, heun or rk4)")
    return after_step(new + noise, params, t + dt)


"#;

/// One step of a network: the coupling from the state at the start of the step (as TVB
/// computes it, once per step), every node's derivatives with its inputs, events and domains
/// per node.
const STEP_NETWORK: &str = r#"def field(states, params, t, inputs):
    """Every node's derivatives, given its coupled inputs."""
    return jax.vmap(lambda s, c: dfun(s, {**params, **c}, t))(states, inputs)


def step(state, params, t, dt, method=METHOD, noise=0.0):
    """One step of every node from time t to t + dt; `noise` is added after the update, before
    events."""
    c = coupling(state)
    if method == "euler":
        new = state + dt * field(state, params, t, c)
    elif method == "heun":
        k1 = field(state, params, t, c)
        k2 = field(state + dt * k1, params, t + dt, c)
        new = state + dt / 2 * (k1 + k2)
    elif method == "rk4":
        k1 = field(state, params, t, c)
        k2 = field(state + dt / 2 * k1, params, t + dt / 2, c)
        k3 = field(state + dt / 2 * k2, params, t + dt / 2, c)
        k4 = field(state + dt * k3, params, t + dt, c)
        new = state + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    else:
        raise ValueError(f"unknown method {method!r} (euler, heun or rk4)")
    return jax.vmap(after_step, in_axes=(0, None, None))(new + noise, params, t + dt)


"#;

/// The scan and the command line: the same for every model.
const SCRIPT_TAIL: &str = r#"def simulate(params=None, initial=None, dt=DT, duration=DURATION, method=METHOD, seed=0):
    """Integrates the model; returns (times, states), round(duration/dt)+1 rows each,
    the first row the initial state."""
    params = dict(PARAMS if params is None else params)
    initial = INITIAL if initial is None else jnp.asarray(initial, dtype=jnp.float64)
    n = int(round(duration / dt))
    keys = jax.random.split(jax.random.PRNGKey(seed), n)

    def body(state, inputs):
        k, key = inputs
        noise = jnp.sqrt(dt) * NOISE_SIGMA * jax.random.normal(key, state.shape) if NOISY else 0.0
        new = step(state, params, k * dt, dt, method, noise)
        return new, new

    _, states = jax.lax.scan(body, initial, (jnp.arange(n), keys))
    states = jnp.concatenate([initial[None, :], states])
    times = jnp.arange(n + 1) * dt
    return times, states


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--method", default=METHOD, choices=("euler", "heun", "rk4"))
    ap.add_argument("--dt", type=float, default=DT)
    ap.add_argument("--duration", type=float, default=DURATION)
    ap.add_argument("--seed", type=int, default=0, help="seed of the noise (when there is noise)")
    ap.add_argument("--out-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    args = ap.parse_args()
    times, states = simulate(dt=args.dt, duration=args.duration, method=args.method, seed=args.seed)
    os.makedirs(args.out_dir, exist_ok=True)
    path = os.path.join(args.out_dir, MODEL + ".dat")
    with open(path, "w") as f:
        for t, row in zip((times * SECONDS_PER_UNIT).tolist(), states.reshape(states.shape[0], -1).tolist()):
            f.write("\t".join(repr(x) for x in [t] + row) + "\n")
    print(path)


if __name__ == "__main__":
    main()
"#;

struct Printer<'a> {
    diags: &'a mut Diagnostics,
    model: &'a str,
    /// Where problems found while printing are reported (the model).
    span: Span,
    failed: bool,
}

impl Printer<'_> {
    fn print(&mut self, e: &Expr) -> String {
        match &e.kind {
            ExprKind::Num(x) => fmt(*x),
            ExprKind::Bool(b) => if *b { "True" } else { "False" }.to_string(),
            ExprKind::Var(v) => v.clone(),
            ExprKind::Const(Constant::Pi) => "jnp.pi".to_string(),
            ExprKind::Const(Constant::E) => "jnp.e".to_string(),
            ExprKind::Unary(UnaryOp::Neg, a) => format!("(-{})", self.print(a)),
            ExprKind::Unary(UnaryOp::Not, a) => format!("jnp.logical_not({})", self.print(a)),
            ExprKind::Binary(BinaryOp::Pow, a, b) if matches!(b.kind, ExprKind::Num(n) if n.fract() == 0.0 && n.abs() <= 64.0) =>
            {
                // An integer power (lax.integer_pow): exact, and defined for negative bases.
                let ExprKind::Num(n) = b.kind else {
                    unreachable!()
                };
                format!("({} ** {})", self.print(a), n as i64)
            }
            ExprKind::Binary(op, a, b) => {
                let (a, b) = (self.print(a), self.print(b));
                match op {
                    BinaryOp::And => format!("jnp.logical_and({a}, {b})"),
                    BinaryOp::Or => format!("jnp.logical_or({a}, {b})"),
                    _ => {
                        let o = match op {
                            BinaryOp::Add => "+",
                            BinaryOp::Sub => "-",
                            BinaryOp::Mul => "*",
                            BinaryOp::Div => "/",
                            BinaryOp::Pow => "**",
                            BinaryOp::Lt => "<",
                            BinaryOp::Le => "<=",
                            BinaryOp::Gt => ">",
                            BinaryOp::Ge => ">=",
                            BinaryOp::Eq => "==",
                            BinaryOp::Ne => "!=",
                            BinaryOp::And | BinaryOp::Or => unreachable!(),
                        };
                        format!("({a} {o} {b})")
                    }
                }
            }
            ExprKind::Piecewise(pieces) => {
                let mut out = "jnp.nan".to_string();
                for (v, c) in pieces.iter().rev() {
                    let v = self.print(v);
                    if matches!(c.kind, ExprKind::Bool(true)) {
                        out = v;
                    } else {
                        let c = self.print(c);
                        out = format!("jnp.where({c}, {v}, {out})");
                    }
                }
                out
            }
            ExprKind::Call(f, args) => {
                let a: Vec<String> = args.iter().map(|x| self.print(x)).collect();
                let one = |name: &str| format!("{name}({})", a.join(", "));
                match f {
                    Func::Sin => one("jnp.sin"),
                    Func::Cos => one("jnp.cos"),
                    Func::Tan => one("jnp.tan"),
                    Func::Asin => one("jnp.arcsin"),
                    Func::Acos => one("jnp.arccos"),
                    Func::Atan => one("jnp.arctan"),
                    Func::Atan2 => one("jnp.arctan2"),
                    Func::Sinh => one("jnp.sinh"),
                    Func::Cosh => one("jnp.cosh"),
                    Func::Tanh => one("jnp.tanh"),
                    Func::Asinh => one("jnp.arcsinh"),
                    Func::Acosh => one("jnp.arccosh"),
                    Func::Atanh => one("jnp.arctanh"),
                    Func::Exp => one("jnp.exp"),
                    Func::Log if a.len() == 2 => format!("(jnp.log({}) / jnp.log({}))", a[0], a[1]),
                    Func::Log => one("jnp.log"),
                    Func::Sqrt => one("jnp.sqrt"),
                    Func::Abs => one("jnp.abs"),
                    Func::Ceil => one("jnp.ceil"),
                    Func::Floor => one("jnp.floor"),
                    Func::Sign => one("jnp.sign"),
                    Func::Heaviside if a.len() == 2 => one("jnp.heaviside"),
                    Func::Heaviside => format!("jnp.heaviside({}, 0.5)", a.join(", ")),
                    Func::Erf => one("jax.scipy.special.erf"),
                    Func::Erfc => one("jax.scipy.special.erfc"),
                    Func::Factorial => {
                        format!("jnp.exp(jax.scipy.special.gammaln({} + 1))", a.join(", "))
                    }
                    Func::Mod => one("jnp.mod"),
                    Func::Min | Func::Max => {
                        let name = if *f == Func::Min {
                            "jnp.minimum"
                        } else {
                            "jnp.maximum"
                        };
                        let mut it = a.into_iter();
                        let first = it.next().unwrap_or_else(|| "jnp.nan".into());
                        it.fold(first, |acc, x| format!("{name}({acc}, {x})"))
                    }
                    Func::Random | Func::User(_) => {
                        let what = match f {
                            Func::User(n) => format!("function `{n}` could not be inlined"),
                            _ => "`random()` has no deterministic JAX form".to_string(),
                        };
                        self.diags.push(
                            Diagnostic::error("export-refused", format!("{}: {what}", self.model))
                                .at(self.span),
                        );
                        self.failed = true;
                        "jnp.nan".to_string()
                    }
                }
            }
        }
    }
}

/// Assignments in dependency order (each after the ones it reads); a cycle keeps the rest in
/// their written order (the checker reports cycles).
fn order(items: Vec<(String, Expr)>) -> Vec<(String, Expr)> {
    let names: HashSet<String> = items.iter().map(|(n, _)| n.clone()).collect();
    let mut done: HashSet<String> = HashSet::new();
    let mut out = Vec::new();
    let mut pending = items;
    while !pending.is_empty() {
        let before = pending.len();
        let mut rest = Vec::new();
        for (n, e) in pending {
            let ready = e
                .free_vars()
                .iter()
                .all(|v| v == &n || !names.contains(v) || done.contains(v));
            if ready {
                done.insert(n.clone());
                out.push((n, e));
            } else {
                rest.push((n, e));
            }
        }
        pending = rest;
        if pending.len() == before {
            out.append(&mut pending);
        }
    }
    out
}

fn is_identifier(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// A float as Python reads it back exactly.
fn fmt(x: f64) -> String {
    if x.is_nan() {
        "jnp.nan".into()
    } else if x.is_infinite() {
        if x > 0.0 {
            "jnp.inf".into()
        } else {
            "(-jnp.inf)".into()
        }
    } else {
        let s = format!("{x:?}");
        if s.contains(['.', 'e', 'E']) {
            s
        } else {
            format!("{s}.0")
        }
    }
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for w in text.split_whitespace() {
        if !cur.is_empty() && cur.len() + 1 + w.len() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(w);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}
