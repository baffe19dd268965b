//! The part of TVBO's schema (the LinkML model shipped as JSON Schema in the `tvbo` wheel) that
//! describes models and simulation experiments, as plain data with spans.
//!
//! Field names follow TVBO's. Metadata that no conversion needs (groundings, references, ...) is
//! accepted by the reader but not kept; what is kept is enough to export a model and to write it
//! back as TVBO YAML.

use myelin_diag::{FileId, Span};
use myelin_expr::Expr;
use std::ops::Range;

/// A value with the span it was read from.
#[derive(Clone, Debug)]
pub struct At<T> {
    pub value: T,
    pub span: Span,
}

impl<T> At<T> {
    pub fn new(value: T, span: Span) -> Self {
        At { value, span }
    }
}

/// An equation's right-hand side: SymPy text as written, and its parse.
#[derive(Clone, Debug)]
pub struct Equation {
    pub text: String,
    /// The YAML scalar that holds the text.
    pub span: Span,
    /// File offset of each byte of the text (and of its end), when the text can be traced in
    /// the file (plain, quoted, folded and block scalars without escapes); `None` otherwise,
    /// and sub-expressions are then reported at the whole scalar.
    pub offsets: Option<Vec<u32>>,
    /// `None` when the text did not parse (the reader has reported why).
    pub parsed: Option<Expr>,
}

impl Equation {
    /// The file span of a byte range of [`Equation::text`].
    pub fn span_of(&self, r: &Range<u32>) -> Span {
        match &self.offsets {
            Some(map) if !map.is_empty() => {
                let last = map.len() - 1;
                let s = (r.start as usize).min(last);
                let e = (r.end as usize).min(last).max(s);
                let (start, end) = (map[s], map[e]);
                // The end of a range is just after its last byte.
                let end = if e > s { map[e - 1] + 1 } else { end };
                Span {
                    file: self.span.file,
                    start,
                    end: end.max(start),
                }
            }
            _ => self.span,
        }
    }
}

/// `domain: {lo, hi, step, enforce}`.
#[derive(Clone, Debug, Default)]
pub struct Domain {
    pub lo: Option<f64>,
    pub hi: Option<f64>,
    pub step: Option<f64>,
    pub enforce: Option<At<Enforce>>,
}

/// What a simulation does when a state variable leaves its domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enforce {
    None,
    Clamp,
    Wrap,
}

impl Enforce {
    pub fn as_str(self) -> &'static str {
        match self {
            Enforce::None => "none",
            Enforce::Clamp => "clamp",
            Enforce::Wrap => "wrap",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Parameter {
    pub name: At<String>,
    /// A scalar value.
    pub value: Option<At<f64>>,
    /// Set when `value` is a list (a vector or matrix parameter): its span.
    pub array: Option<Span>,
    pub unit: Option<At<String>>,
    pub domain: Option<Domain>,
    pub label: Option<String>,
    pub description: Option<String>,
}

#[derive(Clone, Debug)]
pub struct DerivedParameter {
    pub name: At<String>,
    pub equation: Option<Equation>,
    pub unit: Option<At<String>>,
    pub description: Option<String>,
}

#[derive(Clone, Debug)]
pub struct StateVariable {
    pub name: At<String>,
    pub equation: Option<Equation>,
    pub initial_value: Option<At<f64>>,
    pub domain: Option<Domain>,
    pub unit: Option<At<String>>,
    pub label: Option<String>,
    pub description: Option<String>,
    pub coupling_variable: bool,
    pub variable_of_interest: bool,
    pub record: bool,
    /// Its own noise (`noise:`), when it has one.
    pub noise: Option<Noise>,
}

#[derive(Clone, Debug)]
pub struct DerivedVariable {
    pub name: At<String>,
    pub equation: Option<Equation>,
    pub unit: Option<At<String>>,
    pub label: Option<String>,
    pub description: Option<String>,
    pub record: bool,
}

#[derive(Clone, Debug)]
pub struct Function {
    pub name: At<String>,
    pub arguments: Vec<At<String>>,
    pub equation: Option<Equation>,
    pub definition: Option<String>,
    pub description: Option<String>,
}

/// One `target = value` of an event's `affect`.
#[derive(Clone, Debug)]
pub struct Assignment {
    pub target: At<String>,
    pub value: Equation,
}

#[derive(Clone, Debug)]
pub struct Event {
    pub name: At<String>,
    pub condition: Option<Equation>,
    /// The `affect` text as written (statements separated by `;` or new lines).
    pub affect: Option<Equation>,
    /// `affect` split into assignments, in order.
    pub assignments: Vec<Assignment>,
    pub description: Option<String>,
}

#[derive(Clone, Debug)]
pub struct CouplingInput {
    pub name: At<String>,
    /// The names under which a multi-output coupling delivers its outputs (`keys: [a, b]`);
    /// each is an input of the model. Empty: the input is `name`.
    pub keys: Vec<At<String>>,
    pub local: bool,
    pub description: Option<String>,
}

/// A TVBO `Dynamics`: one model.
#[derive(Clone, Debug)]
pub struct Dynamics {
    pub name: At<String>,
    pub iri: Option<At<String>>,
    pub label: Option<String>,
    pub description: Option<String>,
    pub model_type: Option<At<String>>,
    pub system_type: Option<At<String>>,
    pub number_of_modes: Option<At<i64>>,
    pub parameters: Vec<Parameter>,
    pub derived_parameters: Vec<DerivedParameter>,
    pub state_variables: Vec<StateVariable>,
    pub derived_variables: Vec<DerivedVariable>,
    pub functions: Vec<Function>,
    pub events: Vec<Event>,
    pub coupling_inputs: Vec<CouplingInput>,
    pub output: Vec<At<String>>,
    /// Set when the model is a tree of native NeuroML components (`components:`) rather than
    /// equations: the span of that key.
    pub components: Option<Span>,
    /// That tree as read (keys as written), kept so that the model can be written back.
    pub components_tree: Option<crate::yaml::Node>,
    /// The file the model was read from (a database file for a name-only reference).
    pub file: FileId,
    /// Where the model starts (its `name` key, or the document).
    pub span: Span,
}

impl CouplingInput {
    /// The symbols this input provides: its keys, or its name.
    pub fn symbols(&self) -> Vec<&At<String>> {
        if self.keys.is_empty() {
            vec![&self.name]
        } else {
            self.keys.iter().collect()
        }
    }
}

impl Dynamics {
    pub fn parameter(&self, name: &str) -> Option<&Parameter> {
        self.parameters.iter().find(|p| p.name.value == name)
    }

    pub fn state_variable(&self, name: &str) -> Option<&StateVariable> {
        self.state_variables.iter().find(|p| p.name.value == name)
    }
}

/// `integration:` of an experiment.
#[derive(Clone, Debug, Default)]
pub struct Integration {
    pub method: Option<At<String>>,
    pub step_size: Option<At<f64>>,
    pub duration: Option<At<f64>>,
    pub time_scale: Option<At<String>>,
    pub transient_time: Option<At<f64>>,
    /// The integration's noise, applied to every state variable without its own (or to its
    /// `targets`).
    pub noise: Option<Noise>,
    pub span: Option<Span>,
}

/// Noise as TVBO describes it. What myelin integrates is additive Gaussian white noise:
/// after each step's deterministic update a state variable moves by `sigma * sqrt(dt) * xi`,
/// `xi ~ N(0, 1)` drawn afresh per variable and step (`dt` in model time units), as TVBO's own
/// JAX backend does.
#[derive(Clone, Debug)]
pub struct Noise {
    /// The `noise` key.
    pub span: Span,
    /// `parameters.sigma.value` (or `intensity.value`); 0 (no noise) when missing.
    pub sigma: Option<At<f64>>,
    /// `seed`, when given.
    pub seed: Option<At<i64>>,
    /// State variables an integration-level noise is restricted to (`targets`); empty: all.
    pub targets: Vec<At<String>>,
    /// What the noise asks for that myelin cannot integrate (multiplicative, correlated,
    /// non-Gaussian or custom noise), and where.
    pub unsupported: Option<At<String>>,
}

/// `network:` of an experiment, as far as the export needs it.
#[derive(Clone, Debug, Default)]
pub struct Network {
    pub number_of_nodes: Option<At<i64>>,
    /// Number of `nodes` entries, and the span of the key.
    pub nodes: Option<At<usize>>,
    /// Number of `edges` entries, and the span of the key.
    pub edges: Option<At<usize>>,
    /// Span of `coupling`, when the network declares one.
    pub coupling: Option<Span>,
    pub span: Option<Span>,
    /// The `nodes` entries, in order.
    pub node_list: Vec<NetworkNode>,
    /// The `edges` entries, in order.
    pub edge_list: Vec<Edge>,
    /// The couplings the network names (`coupling: {name: {...}}`), in order.
    pub couplings: Vec<Coupling>,
}

/// One entry of `network.nodes`.
#[derive(Clone, Debug)]
pub struct NetworkNode {
    /// The node's `id` as written (a number or a string); its index when absent.
    pub id: String,
    /// `state: {V: {value: 0.1}}`: initial values for this node.
    pub state: Vec<(At<String>, f64)>,
    pub span: Span,
}

/// One entry of `network.edges`: a connection from `source` to `target`.
#[derive(Clone, Debug)]
pub struct Edge {
    pub source: Option<At<String>>,
    pub target: Option<At<String>>,
    pub weight: Option<At<f64>>,
    pub delay: Option<At<f64>>,
    /// The coupling the edge uses, by name.
    pub coupling: Option<At<String>>,
    pub span: Span,
}

/// A TVBO `Coupling`: `c_i = post(sum_j w_ij * pre(x_i, x_j))`, with `gx` the weighted sum.
#[derive(Clone, Debug)]
pub struct Coupling {
    pub name: At<String>,
    pub iri: Option<At<String>>,
    /// `pre_expression`: in terms of `x_i`, `x_j` (or `x_j[k]`), `<sv>_i`, `<sv>_j` and the
    /// coupling's parameters. Indexed `x_j[k]` is read as `x_j_k`.
    pub pre: Option<Equation>,
    /// `post_expression`: in terms of `gx` and the coupling's parameters.
    pub post: Option<Equation>,
    /// `coupling_function: {rhs}`: a function of `x` applied to each source's value.
    pub function: Option<Equation>,
    pub parameters: Vec<(At<String>, f64)>,
    /// `incoming_states` (or `local_states`): the state variables the coupling reads.
    pub incoming_states: Vec<At<String>>,
    pub delayed: Option<At<bool>>,
    pub span: Span,
}

/// A TVBO `SimulationExperiment`, or a bare model file wrapped as one.
#[derive(Clone, Debug)]
pub struct Experiment {
    /// The experiment's `id` as written (a number or a string).
    pub id: Option<At<String>>,
    pub label: Option<String>,
    pub description: Option<String>,
    pub dynamics: Dynamics,
    /// True when the dynamics were referenced by name and read from another file.
    pub dynamics_by_name: bool,
    pub network: Option<Network>,
    /// Span of an experiment-level `coupling:`.
    pub coupling: Option<Span>,
    /// The experiment-level coupling (`coupling: {name: .., pre_expression: ..}`), as read.
    pub coupling_spec: Option<Coupling>,
    pub integration: Integration,
    /// True when the file was a bare `Dynamics` rather than an experiment.
    pub bare: bool,
    /// The file the experiment was read from.
    pub file: FileId,
}

/// TVBO's defaults for a model simulated without an experiment (the `Integrator` defaults).
pub mod defaults {
    pub const METHOD: &str = "heun";
    pub const STEP_SIZE: f64 = 0.012_207_031_25;
    pub const DURATION: f64 = 1000.0;
    pub const TIME_SCALE: &str = "ms";
}

/// Units TVBO's schema allows (`UnitEnum`).
pub const UNITS: &[&str] = &[
    "s",
    "ms",
    "us",
    "per_s",
    "per_ms",
    "Hz",
    "kHz",
    "V",
    "mV",
    "per_mV",
    "mV_per_ms",
    "mV_per_s",
    "A",
    "nA",
    "pA",
    "uA_per_cm2",
    "pF",
    "nF",
    "uF_per_cm2",
    "nS",
    "uS",
    "pS",
    "S_per_cm2",
    "mS_per_cm2",
    "S_per_m2",
    "nS_per_mV",
    "per_nC",
    "per_pC",
    "mol_per_m3",
    "mol_per_cm3",
    "mmol_per_m3",
    "mol_per_m_per_A_per_s",
    "um3",
    "m",
    "mm",
    "cm",
    "m_per_s",
    "mm_per_ms",
    "Hz_per_nA",
    "S_per_m",
    "H_per_m",
    "ohm",
    "Mohm",
    "kohm_cm",
    "degC",
    "rad_per_ms",
    "dimensionless",
    "percent",
    "arbitrary_unit",
    "kg",
    "kg_per_s",
    "m_per_s2",
    "N_per_m",
    "rad",
    "rad_per_s",
    "s2",
    "per_unit",
];

/// Time units an experiment's `time_scale` may name, with their length in seconds.
pub const TIME_SCALES: &[(&str, f64)] = &[("s", 1.0), ("ms", 1e-3), ("us", 1e-6)];

/// Field names of each schema class (TVBO's JSON Schema, version 0.4.0), for the unknown-field
/// check. Fields that exist only in the database files are added where they occur.
pub(crate) mod fields {
    pub(crate) const DYNAMICS: &[&str] = &[
        "autonomous",
        "compile",
        "coupling_inputs",
        "coupling_terms",
        "cse",
        "dataLocation",
        "derived_from_model",
        "derived_parameters",
        "derived_variables",
        "description",
        "events",
        "functions",
        "has_reference",
        "iri",
        "label",
        "local_coupling_term",
        "model_type",
        "modes",
        "modified",
        "name",
        "number_of_modes",
        "observed",
        "output",
        "parameters",
        "references",
        "source",
        "state_variables",
        "stimulus",
        "system_type",
        // Not in the schema, but in the database (a tree of native NeuroML components).
        "components",
    ];
    pub(crate) const PARAMETER: &[&str] = &[
        "comment",
        "dataset_path",
        "datatype",
        "default",
        "definition",
        "description",
        "distribution",
        "domain",
        "element_domains",
        "equation",
        "explored_values",
        "free",
        "grounding",
        "heterogeneous",
        "label",
        "measure",
        "name",
        "reported_optimum",
        "required",
        "shape",
        "source",
        "symbol",
        "unit",
        "value",
    ];
    pub(crate) const STATE_VARIABLE: &[&str] = &[
        "coupling_variable",
        "definition",
        "derivative_initial_value",
        "description",
        "distribution",
        "domain",
        "equation",
        "equation_order",
        "equation_type",
        "grounding",
        "history",
        "initial_value",
        "label",
        "name",
        "noise",
        "record",
        "stimulation_variable",
        "symbol",
        "unit",
        "variable_of_interest",
    ];
    pub(crate) const DERIVED_VARIABLE: &[&str] = &[
        "cases",
        "conditional",
        "description",
        "equation",
        "grounding",
        "label",
        "name",
        "record",
        "symbol",
        "unit",
    ];
    pub(crate) const FUNCTION: &[&str] = &[
        "acronym",
        "aggregate",
        "apply_on_dimension",
        "arguments",
        "callable",
        "definition",
        "description",
        "equation",
        "input",
        "iri",
        "label",
        "name",
        "output",
        "output_equation",
        "requirements",
        "source_code",
        "time_range",
    ];
    pub(crate) const ARGUMENT: &[&str] = &["description", "name", "unit", "value"];
    pub(crate) const EVENT: &[&str] = &[
        "affect",
        "affect_negative",
        "affect_parameters",
        "affect_states",
        "condition",
        "condition_parameters",
        "condition_states",
        "dataLocation",
        "description",
        "duration",
        "equation",
        "event_type",
        "interpolation",
        "label",
        "name",
        "nodes",
        "parameters",
        "sampling_rate",
        "target_component",
        "target_regions",
        "target_variable",
        "trigger_times",
        "weight_distribution",
        "weights",
    ];
    pub(crate) const EQUATION: &[&str] = &[
        "conditionals",
        "definition",
        "description",
        "engine",
        "label",
        "latex",
        "lhs",
        "parameters",
        "pycode",
        "rhs",
    ];
    pub(crate) const NOISE: &[&str] = &[
        "additive",
        "correlated",
        "description",
        "distribution",
        "equation",
        "function",
        "gaussian",
        "intensity",
        "label",
        "name",
        "noise_type",
        "parameters",
        "pycode",
        "random_state",
        "seed",
        "targets",
    ];
    pub(crate) const RANGE: &[&str] = &[
        "element",
        "enforce",
        "explored_values",
        "hi",
        "lo",
        "log_scale",
        "n",
        "step",
    ];
    pub(crate) const COUPLING_INPUT: &[&str] = &[
        "description",
        "dimension",
        "keys",
        "local",
        "name",
        "source",
    ];
    pub(crate) const EXPERIMENT: &[&str] = &[
        "additional_equations",
        "algorithms",
        "connectivity",
        "continuations",
        "coupling",
        "dataset",
        "description",
        "dynamics",
        "environment",
        "events",
        "execution",
        "explorations",
        "field_dynamics",
        "functions",
        "id",
        "inferences",
        "integration",
        "label",
        "model",
        "network",
        "observations",
        "optimizations",
        "references",
        "software",
        "stimulation",
        "workflow",
    ];
    pub(crate) const INTEGRATOR: &[&str] = &[
        "abs_tol",
        "delayed",
        "description",
        "differentiation",
        "duration",
        "intermediate_expressions",
        "method",
        "noise",
        "number_of_stages",
        "parameters",
        "rel_tol",
        "scipy_ode_base",
        "state_wise_sigma",
        "step_size",
        "steps",
        "time_scale",
        "transient_time",
        "unit",
        "update_expression",
    ];
    pub(crate) const NETWORK: &[&str] = &[
        "bids",
        "bids_dir",
        "coordinate_space",
        "coupling",
        "data_file",
        "description",
        "descriptor",
        "distance_unit",
        "dynamics",
        "edge_matrix_files",
        "edge_template",
        "edges",
        "graph_generator",
        "label",
        "mesh",
        "node_mapping",
        "node_template",
        "nodes",
        "number_of_nodes",
        "observational_measures",
        "parameters",
        "parcellation",
        "parent_network",
        "primary_weight",
        "provenance",
        "structural_measures",
        "time_unit",
        "tractogram",
        "transforms",
    ];
}
