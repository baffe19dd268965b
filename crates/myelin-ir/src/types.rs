//! `<ComponentType>` and everything that can appear inside it.

use crate::Span;

/// An expression as written in the document, with its parse when it parsed.
#[derive(Clone, Debug)]
pub struct Expression {
    pub text: String,
    /// Span of the text (the attribute value).
    pub span: Span,
    /// `None` when the text did not parse; the reader has reported why.
    pub parsed: Option<myelin_expr::Expr>,
}

impl Expression {
    /// Parses `text` in the LEMS dialect; a parse failure is kept as `parsed: None` and returned.
    pub fn lems(text: &str, span: Span) -> (Self, Option<myelin_expr::ParseError>) {
        match myelin_expr::parse(text, myelin_expr::Dialect::Lems) {
            Ok(e) => (Expression { text: text.to_string(), span, parsed: Some(e) }, None),
            Err(err) => (Expression { text: text.to_string(), span, parsed: None }, Some(err)),
        }
    }
}

/// A name with a dimension: Parameter, Exposure, Requirement, StateVariable...
#[derive(Clone, Debug)]
pub struct Named {
    pub name: String,
    /// Dimension name as written (`voltage`, `none`); empty when not given.
    pub dimension: String,
    pub description: Option<String>,
    pub span: Span,
    /// Span of the `name` value.
    pub name_span: Span,
    /// Span of the `dimension` value (the element's span when absent).
    pub dimension_span: Span,
}

/// A name with a type reference: Child, Children, Link, ComponentReference, Attachments...
#[derive(Clone, Debug)]
pub struct TypedRef {
    pub name: String,
    pub type_name: String,
    pub description: Option<String>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct DerivedParameter {
    pub name: String,
    pub dimension: String,
    pub value: Expression,
    pub description: Option<String>,
    pub span: Span,
}

/// `<Fixed parameter="p" value="..."/>`: a parameter whose value the type fixes.
#[derive(Clone, Debug)]
pub struct Fixed {
    pub parameter: String,
    pub value: String,
    pub span: Span,
    pub value_span: Span,
}

#[derive(Clone, Debug)]
pub struct Property {
    pub name: String,
    pub dimension: String,
    pub default_value: Option<String>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Constant {
    pub name: String,
    pub dimension: String,
    /// The value as written (a quantity, `-60mV`, or a number).
    pub value: String,
    pub value_span: Span,
    pub description: Option<String>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortDirection {
    In,
    Out,
}

#[derive(Clone, Debug)]
pub struct EventPort {
    pub name: String,
    pub direction: PortDirection,
    pub description: Option<String>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct ComponentReference {
    pub name: String,
    pub type_name: String,
    pub local: Option<String>,
    pub description: Option<String>,
    pub span: Span,
}

/// A `<ComponentType>`.
#[derive(Clone, Debug)]
pub struct ComponentType {
    pub name: String,
    pub extends: Option<String>,
    pub extends_span: Option<Span>,
    pub description: Option<String>,
    pub parameters: Vec<Named>,
    pub derived_parameters: Vec<DerivedParameter>,
    pub fixed: Vec<Fixed>,
    pub properties: Vec<Property>,
    pub index_parameters: Vec<Named>,
    pub constants: Vec<Constant>,
    pub exposures: Vec<Named>,
    pub requirements: Vec<Named>,
    pub component_requirements: Vec<Named>,
    pub instance_requirements: Vec<TypedRef>,
    pub children: Vec<ChildDecl>,
    pub links: Vec<TypedRef>,
    pub component_references: Vec<ComponentReference>,
    pub attachments: Vec<TypedRef>,
    pub event_ports: Vec<EventPort>,
    pub texts: Vec<Named>,
    pub paths: Vec<Named>,
    pub dynamics: Option<Dynamics>,
    pub structure: Option<Structure>,
    pub simulation: Option<SimulationDecl>,
    pub span: Span,
    /// Span of the `name` attribute value.
    pub name_span: Span,
}

impl ComponentType {
    pub fn new(name: impl Into<String>, span: Span) -> Self {
        ComponentType {
            name: name.into(),
            extends: None,
            extends_span: None,
            description: None,
            parameters: vec![],
            derived_parameters: vec![],
            fixed: vec![],
            properties: vec![],
            index_parameters: vec![],
            constants: vec![],
            exposures: vec![],
            requirements: vec![],
            component_requirements: vec![],
            instance_requirements: vec![],
            children: vec![],
            links: vec![],
            component_references: vec![],
            attachments: vec![],
            event_ports: vec![],
            texts: vec![],
            paths: vec![],
            dynamics: None,
            structure: None,
            simulation: None,
            span,
            name_span: span,
        }
    }
}

/// `<Child>` (exactly one) or `<Children>` (any number).
#[derive(Clone, Debug)]
pub struct ChildDecl {
    pub name: String,
    pub type_name: String,
    pub multiple: bool,
    pub description: Option<String>,
    pub span: Span,
}

/// `<Dynamics>`: the body outside regimes, plus the regimes and kinetic schemes.
#[derive(Clone, Debug)]
pub struct Dynamics {
    pub simultaneous: bool,
    pub state_variables: Vec<StateVariable>,
    pub derived_variables: Vec<DerivedVariable>,
    pub conditional_derived_variables: Vec<ConditionalDerivedVariable>,
    pub body: Behaviour,
    pub regimes: Vec<Regime>,
    pub kinetic_schemes: Vec<KineticScheme>,
    pub span: Span,
}

/// What may appear both directly in `<Dynamics>` and in a `<Regime>`.
#[derive(Clone, Debug, Default)]
pub struct Behaviour {
    pub time_derivatives: Vec<TimeDerivative>,
    pub on_start: Vec<EventBlock>,
    pub on_conditions: Vec<OnCondition>,
    pub on_events: Vec<OnEvent>,
    pub on_entry: Vec<EventBlock>,
}

#[derive(Clone, Debug)]
pub struct StateVariable {
    pub name: String,
    pub dimension: String,
    pub exposure: Option<String>,
    pub description: Option<String>,
    pub span: Span,
    /// Spans of the `dimension` and `exposure` values (the element's span when absent).
    pub dimension_span: Span,
    pub exposure_span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduce {
    Add,
    Multiply,
}

/// `<DerivedVariable>`: either `value=` or `select=` (with optional `reduce=`).
#[derive(Clone, Debug)]
pub struct DerivedVariable {
    pub name: String,
    pub dimension: String,
    pub exposure: Option<String>,
    pub value: Option<Expression>,
    pub select: Option<String>,
    pub select_span: Option<Span>,
    pub reduce: Option<Reduce>,
    pub required: Option<bool>,
    pub span: Span,
    pub dimension_span: Span,
    pub exposure_span: Span,
}

#[derive(Clone, Debug)]
pub struct ConditionalDerivedVariable {
    pub name: String,
    pub dimension: String,
    pub exposure: Option<String>,
    pub cases: Vec<Case>,
    pub span: Span,
    pub dimension_span: Span,
    pub exposure_span: Span,
}

/// `<Case condition=.. value=..>`; the case without a condition is the default.
#[derive(Clone, Debug)]
pub struct Case {
    pub condition: Option<Expression>,
    pub value: Expression,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct TimeDerivative {
    pub variable: String,
    pub value: Expression,
    pub span: Span,
    pub variable_span: Span,
}

/// `<OnStart>`, `<OnEntry>`: a list of actions.
#[derive(Clone, Debug)]
pub struct EventBlock {
    pub actions: Vec<Action>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct OnCondition {
    pub test: Expression,
    pub actions: Vec<Action>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct OnEvent {
    pub port: String,
    pub actions: Vec<Action>,
    pub span: Span,
    pub port_span: Span,
}

/// An action of an event handler; `span` is the element's, `at` the span of the value that
/// names the variable, port or regime.
#[derive(Clone, Debug)]
pub enum Action {
    StateAssignment { variable: String, value: Expression, span: Span, at: Span },
    EventOut { port: String, span: Span, at: Span },
    Transition { regime: String, span: Span, at: Span },
}

#[derive(Clone, Debug)]
pub struct Regime {
    pub name: String,
    pub initial: bool,
    pub body: Behaviour,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct KineticScheme {
    pub name: String,
    pub nodes: String,
    pub state_variable: String,
    pub edges: String,
    pub edge_source: String,
    pub edge_target: String,
    pub forward_rate: String,
    pub reverse_rate: String,
    pub span: Span,
}

/// `<Structure>`: how instances of this type build their sub-instances.
#[derive(Clone, Debug, Default)]
pub struct Structure {
    pub items: Vec<StructureItem>,
}

#[derive(Clone, Debug)]
pub enum StructureItem {
    ChildInstance { component: String, span: Span },
    MultiInstantiate { component: Option<String>, component_type: Option<String>, number: String, span: Span },
    ForEach { instances: String, as_name: String, items: Vec<StructureItem>, span: Span },
    With { instance: Option<String>, list: Option<String>, index: Option<String>, as_name: String, span: Span },
    EventConnection(EventConnection),
    Tunnel(Tunnel),
}

#[derive(Clone, Debug)]
pub struct EventConnection {
    pub from: String,
    pub to: String,
    pub source_port: Option<String>,
    pub target_port: Option<String>,
    pub receiver: Option<String>,
    pub receiver_container: Option<String>,
    pub delay: Option<String>,
    pub assigns: Vec<Assign>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Tunnel {
    pub name: String,
    pub end_a: String,
    pub end_b: String,
    pub component_a: String,
    pub component_b: String,
    pub assigns: Vec<Assign>,
    pub span: Span,
}

/// `<Assign property="weight" value="..."/>` inside an EventConnection or Tunnel.
#[derive(Clone, Debug)]
pub struct Assign {
    pub property: String,
    pub value: Expression,
    pub span: Span,
}

/// `<Simulation>` inside a ComponentType: what running an instance records and writes.
#[derive(Clone, Debug, Default)]
pub struct SimulationDecl {
    pub items: Vec<SimulationItem>,
}

#[derive(Clone, Debug)]
pub enum SimulationItem {
    Run { component: String, variable: String, increment: String, total: String, span: Span },
    Record { quantity: String, time_scale: Option<String>, scale: Option<String>, color: Option<String>, span: Span },
    EventRecord { quantity: String, event_port: String, span: Span },
    DataDisplay { title: String, data_region: String, span: Span },
    DataWriter { path: String, file_name: String, span: Span },
    EventWriter { path: String, file_name: String, format: String, span: Span },
}
