//! One XML document → IR items. Knows the LEMS element vocabulary; knows nothing about
//! NeuroML's component types (those are LEMS definitions read from the core-type files).

use myelin_diag::{Diagnostic, Diagnostics, FileId, Span};
use myelin_ir::*;
use crate::xml::{Attr, Document, Node};

/// Deepest element nesting accepted; deeper documents are refused (a hostile-input guard).
pub(crate) const MAX_DEPTH: usize = 256;
/// Most XML nodes accepted in one document.
pub(crate) const MAX_NODES: u32 = 50_000_000;

/// What one document contributed, before it is merged into the model.
pub(crate) struct DocItems {
    pub(crate) root: RootKind,
    pub(crate) root_attributes: Vec<(String, String)>,
    /// (href as written, span) in document order.
    pub(crate) includes: Vec<(String, Span)>,
    pub(crate) dimensions: Vec<DimensionDef>,
    pub(crate) units: Vec<UnitDef>,
    pub(crate) constants: Vec<Constant>,
    pub(crate) component_types: Vec<ComponentType>,
    pub(crate) components: Vec<Component>,
    pub(crate) targets: Vec<Target>,
}

pub(crate) fn read_document(file: FileId, src: &str, diags: &mut Diagnostics) -> Option<DocItems> {
    read_document_with(file, src, diags, true)
}

/// [`read_document`]; `may_split` allows reading long lists of elements on all cores.
fn read_document_with(file: FileId, src: &str, diags: &mut Diagnostics, may_split: bool) -> Option<DocItems> {
    let doc = match Document::parse(src, MAX_NODES) {
        Ok(d) => d,
        Err(e) => {
            let offset = e.offset.min(src.len());
            let mut d = Diagnostic::error("malformed-xml", format!("malformed XML: {}", e.message)).at(Span::new(file, offset, offset + 1));
            if e.dtd {
                d = d.with_note("DTDs are refused: they can expand entities without bound and reach outside the document");
            }
            diags.push(d);
            return None;
        }
    };
    let mut r = Reader { file, src, diags, may_split };
    let root = doc.root_element();
    let root_kind = match root.name() {
        "Lems" => RootKind::Lems,
        "neuroml" => RootKind::NeuroML,
        other => {
            let d = Diagnostic::error("unknown-root", format!("expected a `<Lems>` or `<neuroml>` document, found `<{other}>`"))
                .at(r.name_span(root));
            r.diags.push(d);
            return None;
        }
    };
    let mut items = DocItems {
        root: root_kind,
        root_attributes: root
            .attributes()
            .map(|a| (qualified_attr_name(&a), a.value().to_string()))
            .chain(doc.root_namespaces().map(|(prefix, uri)| match prefix {
                Some(p) => (format!("xmlns:{p}"), uri.to_string()),
                None => ("xmlns".to_string(), uri.to_string()),
            }))
            .filter(|(k, _)| !k.is_empty())
            .collect(),
        includes: vec![],
        dimensions: vec![],
        units: vec![],
        constants: vec![],
        component_types: vec![],
        components: vec![],
        targets: vec![],
    };
    // Namespace declarations are not among the attributes: declarations first, as written.
    items.root_attributes.sort_by_key(|a| !a.0.starts_with("xmlns"));
    items.root_attributes.dedup();
    for child in root.children() {
        r.top_level(child, root_kind, &mut items);
    }
    Some(items)
}

fn qualified_attr_name(a: &Attr<'_, '_>) -> String {
    match a.namespace() {
        Some("http://www.w3.org/2001/XMLSchema-instance") => format!("xsi:{}", a.name()),
        _ => a.name().to_string(),
    }
}

struct Reader<'s> {
    file: FileId,
    src: &'s str,
    diags: &'s mut Diagnostics,
    /// Whether a long list of child elements may be read on all cores (only the first reader
    /// splits; the threads it starts read their elements alone).
    may_split: bool,
}

/// Child elements from which reading them on all cores pays off (a projection's connections).
const SPLIT_AT: usize = 8192;

/// Attributes of one element, with the ones read so far remembered so leftovers can be reported.
struct Attrs<'a, 'i> {
    node: Node<'a, 'i>,
    allowed: &'static [&'static str],
}

impl<'s> Reader<'s> {
    fn span(&self, r: std::ops::Range<usize>) -> Span {
        Span::new(self.file, r.start, r.end)
    }

    /// Span of an element's (qualified) name, just after `<`.
    fn name_span(&self, n: Node<'_, '_>) -> Span {
        self.span(n.qname_range())
    }

    fn value_span(&self, n: Node<'_, '_>, name: &str) -> Span {
        match n.attribute_node(name) {
            Some(a) => self.span(a.range_value()),
            None => self.name_span(n),
        }
    }

    /// Checks attributes against the allowed list and reports the others.
    fn check_attrs<'a, 'i>(&mut self, n: Node<'a, 'i>, allowed: &'static [&'static str]) -> Attrs<'a, 'i> {
        for a in n.attributes() {
            if a.namespace().is_some() {
                continue; // xsi:schemaLocation and the like
            }
            if !allowed.contains(&a.name()) {
                let d = Diagnostic::error(
                    "unknown-attribute",
                    format!("`<{}>` has no attribute `{}`", n.name(), a.name()),
                )
                .at(self.span(a.range_qname()))
                .with_note(format!("allowed: {}", allowed.join(", ")));
                self.diags.push(d);
            }
        }
        Attrs { node: n, allowed }
    }

    fn req(&mut self, a: &Attrs<'_, '_>, name: &str) -> String {
        debug_assert!(a.allowed.contains(&name));
        match a.node.attribute(name) {
            Some(v) => v.to_string(),
            None => {
                let d = Diagnostic::error(
                    "missing-attribute",
                    format!("`<{}>` needs the attribute `{name}`", a.node.name()),
                )
                .at(self.name_span(a.node));
                self.diags.push(d);
                String::new()
            }
        }
    }

    fn opt(a: &Attrs<'_, '_>, name: &str) -> Option<String> {
        debug_assert!(a.allowed.contains(&name));
        a.node.attribute(name).map(str::to_string)
    }

    fn expr(&mut self, a: &Attrs<'_, '_>, name: &str) -> Expression {
        let text = self.req(a, name);
        let span = self.value_span(a.node, name);
        if a.node.attribute(name).is_none() {
            // Already reported as a missing attribute; nothing to parse.
            return Expression { text, span, parsed: None };
        }
        self.parse_expr(&text, span)
    }

    fn parse_expr(&mut self, text: &str, span: Span) -> Expression {
        let (e, err) = Expression::lems(text, span);
        if let Some(err) = err {
            let sub = span.sub(err.span.start, err.span.end.max(err.span.start + 1));
            self.diags.push(Diagnostic::error("bad-expression", format!("cannot parse expression: {}", err.message)).at(sub));
        }
        e
    }

    fn unknown_element(&mut self, n: Node<'_, '_>, context: &str, allowed: &[&str]) {
        let d = Diagnostic::error("unknown-element", format!("`<{}>` is not allowed in {context}", n.name()))
            .at(self.name_span(n))
            .with_note(format!("expected one of: {}", allowed.join(", ")));
        self.diags.push(d);
    }

    fn top_level(&mut self, n: Node<'_, '_>, root: RootKind, items: &mut DocItems) {
        let span = self.span(n.range());
        match n.name() {
            "Include" if root == RootKind::Lems => {
                let a = self.check_attrs(n, &["file"]);
                let file = self.req(&a, "file");
                items.includes.push((file, self.value_span(n, "file")));
            }
            "include" if n.attribute("href").is_some() || root == RootKind::NeuroML => {
                let a = self.check_attrs(n, &["href"]);
                let href = self.req(&a, "href");
                items.includes.push((href, self.value_span(n, "href")));
            }
            "Dimension" => {
                let a = self.check_attrs(n, &["name", "m", "l", "t", "i", "k", "n", "j", "description"]);
                let name = self.req(&a, "name");
                let mut exps = [0i8; 7];
                for (k, key) in ["m", "l", "t", "i", "k", "n", "j"].iter().enumerate() {
                    if let Some(v) = n.attribute(key) {
                        match v.trim().parse::<i8>() {
                            Ok(x) => exps[k] = x,
                            Err(_) => self.diags.push(
                                Diagnostic::error("bad-number", format!("dimension exponent `{key}` must be a small integer, found `{v}`"))
                                    .at(self.value_span(n, key)),
                            ),
                        }
                    }
                }
                let dimension = Dimension::new(exps[0], exps[1], exps[2], exps[3], exps[4], exps[5], exps[6]);
                items.dimensions.push(DimensionDef { name, dimension, span });
            }
            "Unit" => {
                let a = self.check_attrs(n, &["symbol", "name", "dimension", "power", "scale", "offset", "description"]);
                let symbol = self.req(&a, "symbol");
                let dimension = self.req(&a, "dimension");
                let power = self.number::<i32>(n, "power").unwrap_or(0);
                let scale = self.number::<f64>(n, "scale").unwrap_or(1.0);
                let offset = self.number::<f64>(n, "offset").unwrap_or(0.0);
                let dimension_span = self.value_span(n, "dimension");
                items.units.push(UnitDef { symbol, dimension, power, scale, offset, span, dimension_span });
            }
            "Constant" => {
                let c = self.constant(n);
                items.constants.push(c);
            }
            "ComponentType" => {
                let t = self.component_type(n);
                items.component_types.push(t);
            }
            "Target" => {
                let a = self.check_attrs(n, &["component", "reportFile", "timesFile"]);
                let component = self.req(&a, "component");
                items.targets.push(Target {
                    component,
                    report_file: Self::opt(&a, "reportFile"),
                    times_file: Self::opt(&a, "timesFile"),
                    span,
                    component_span: self.value_span(n, "component"),
                });
            }
            "Meta" | "Assertion" => {}
            _ => {
                if let Some(c) = self.component(n, 1) {
                    items.components.push(c);
                }
            }
        }
    }

    fn number<T: std::str::FromStr>(&mut self, n: Node<'_, '_>, key: &str) -> Option<T> {
        let v = n.attribute(key)?;
        match v.trim().parse::<T>() {
            Ok(x) => Some(x),
            Err(_) => {
                self.diags.push(
                    Diagnostic::error("bad-number", format!("`{key}` must be a number, found `{v}`")).at(self.value_span(n, key)),
                );
                None
            }
        }
    }

    fn constant(&mut self, n: Node<'_, '_>) -> Constant {
        let a = self.check_attrs(n, &["name", "symbol", "dimension", "value", "description"]);
        let name = self.req(&a, "name");
        Constant {
            name,
            dimension: Self::opt(&a, "dimension").unwrap_or_default(),
            value: self.req(&a, "value"),
            value_span: self.value_span(n, "value"),
            description: Self::opt(&a, "description"),
            span: self.span(n.range()),
        }
    }

    fn named(&mut self, n: Node<'_, '_>, with_dimension: bool) -> Named {
        let a = if with_dimension {
            self.check_attrs(n, &["name", "dimension", "description"])
        } else {
            self.check_attrs(n, &["name", "description"])
        };
        Named {
            name: self.req(&a, "name"),
            dimension: if with_dimension { Self::opt(&a, "dimension").unwrap_or_default() } else { String::new() },
            description: Self::opt(&a, "description"),
            span: self.span(n.range()),
            name_span: self.value_span(n, "name"),
            dimension_span: self.value_span(n, "dimension"),
        }
    }

    fn typed_ref(&mut self, n: Node<'_, '_>) -> TypedRef {
        let a = self.check_attrs(n, &["name", "type", "description", "min", "max"]);
        TypedRef {
            name: self.req(&a, "name"),
            type_name: self.req(&a, "type"),
            description: Self::opt(&a, "description"),
            span: self.span(n.range()),
        }
    }

    fn component_type(&mut self, n: Node<'_, '_>) -> ComponentType {
        let a = self.check_attrs(n, &["name", "extends", "description"]);
        let name = self.req(&a, "name");
        let mut t = ComponentType::new(name, self.span(n.range()));
        t.name_span = self.value_span(n, "name");
        t.extends = Self::opt(&a, "extends");
        t.extends_span = n.attribute_node("extends").map(|x| self.span(x.range_value()));
        t.description = Self::opt(&a, "description");
        const ALLOWED: &[&str] = &[
            "Parameter", "DerivedParameter", "Fixed", "Property", "IndexParameter", "Constant", "Exposure",
            "Requirement", "ComponentRequirement", "InstanceRequirement", "Child", "Children", "Link",
            "ComponentReference", "Attachments", "EventPort", "Text", "Path", "Dynamics", "Structure",
            "Simulation", "About", "Meta",
        ];
        for c in n.children() {
            let span = self.span(c.range());
            match c.name() {
                "Parameter" => t.parameters.push(self.named(c, true)),
                "DerivedParameter" => {
                    let a = self.check_attrs(c, &["name", "dimension", "value", "description"]);
                    let name = self.req(&a, "name");
                    let dimension = Self::opt(&a, "dimension").unwrap_or_default();
                    let value = self.expr(&a, "value");
                    t.derived_parameters.push(DerivedParameter { name, dimension, value, description: Self::opt(&a, "description"), span });
                }
                "Fixed" => {
                    let a = self.check_attrs(c, &["parameter", "value"]);
                    let parameter = self.req(&a, "parameter");
                    let value = self.req(&a, "value");
                    t.fixed.push(Fixed { parameter, value, span, value_span: self.value_span(c, "value") });
                }
                "Property" => {
                    let a = self.check_attrs(c, &["name", "dimension", "defaultValue", "description"]);
                    t.properties.push(Property {
                        name: self.req(&a, "name"),
                        dimension: Self::opt(&a, "dimension").unwrap_or_default(),
                        default_value: Self::opt(&a, "defaultValue"),
                        span,
                    });
                }
                "IndexParameter" => t.index_parameters.push(self.named(c, false)),
                "Constant" => t.constants.push(self.constant(c)),
                "Exposure" => t.exposures.push(self.named(c, true)),
                "Requirement" => t.requirements.push(self.named(c, true)),
                "ComponentRequirement" => t.component_requirements.push(self.named(c, false)),
                "InstanceRequirement" => t.instance_requirements.push(self.typed_ref(c)),
                "Child" | "Children" => {
                    let r = self.typed_ref(c);
                    t.children.push(ChildDecl {
                        name: r.name,
                        type_name: r.type_name,
                        multiple: c.name() == "Children",
                        description: r.description,
                        span,
                    });
                }
                "Link" => t.links.push(self.typed_ref(c)),
                "Attachments" => t.attachments.push(self.typed_ref(c)),
                "ComponentReference" => {
                    let a = self.check_attrs(c, &["name", "type", "local", "description"]);
                    t.component_references.push(ComponentReference {
                        name: self.req(&a, "name"),
                        type_name: self.req(&a, "type"),
                        local: Self::opt(&a, "local"),
                        description: Self::opt(&a, "description"),
                        span,
                    });
                }
                "EventPort" => {
                    let a = self.check_attrs(c, &["name", "direction", "description"]);
                    let name = self.req(&a, "name");
                    let dir = self.req(&a, "direction");
                    let direction = match dir.to_ascii_lowercase().as_str() {
                        "in" => PortDirection::In,
                        "out" => PortDirection::Out,
                        _ => {
                            if !dir.is_empty() {
                                self.diags.push(
                                    Diagnostic::error("bad-value", format!("event port direction must be `in` or `out`, found `{dir}`"))
                                        .at(self.value_span(c, "direction")),
                                );
                            }
                            PortDirection::In
                        }
                    };
                    t.event_ports.push(EventPort { name, direction, description: Self::opt(&a, "description"), span });
                }
                "Text" => t.texts.push(self.named(c, false)),
                "Path" => t.paths.push(self.named(c, false)),
                "Dynamics" => {
                    let d = self.dynamics(c);
                    if t.dynamics.is_some() {
                        self.diags.push(Diagnostic::error("duplicate-element", "a ComponentType has at most one `<Dynamics>`").at(self.name_span(c)));
                    }
                    t.dynamics = Some(d);
                }
                "Structure" => {
                    let items = self.structure_items(c, 0);
                    t.structure.get_or_insert_with(Structure::default).items.extend(items);
                }
                "Simulation" => {
                    let s = self.simulation(c);
                    t.simulation.get_or_insert_with(SimulationDecl::default).items.extend(s.items);
                }
                "About" | "Meta" => {}
                _ => self.unknown_element(c, "a `<ComponentType>`", ALLOWED),
            }
        }
        t
    }

    fn dynamics(&mut self, n: Node<'_, '_>) -> Dynamics {
        let _ = self.check_attrs(n, &["simultaneous"]);
        let mut d = Dynamics {
            simultaneous: n.attribute("simultaneous").is_some_and(|v| v == "true"),
            state_variables: vec![],
            derived_variables: vec![],
            conditional_derived_variables: vec![],
            body: Behaviour::default(),
            regimes: vec![],
            kinetic_schemes: vec![],
            span: self.span(n.range()),
        };
        const ALLOWED: &[&str] = &[
            "StateVariable", "DerivedVariable", "ConditionalDerivedVariable", "TimeDerivative", "OnStart",
            "OnCondition", "OnEvent", "Regime", "KineticScheme",
        ];
        for c in n.children() {
            let span = self.span(c.range());
            match c.name() {
                "StateVariable" => {
                    let a = self.check_attrs(c, &["name", "dimension", "exposure", "description"]);
                    d.state_variables.push(StateVariable {
                        name: self.req(&a, "name"),
                        dimension: Self::opt(&a, "dimension").unwrap_or_default(),
                        exposure: Self::opt(&a, "exposure"),
                        description: Self::opt(&a, "description"),
                        span,
                        dimension_span: self.value_span(c, "dimension"),
                        exposure_span: self.value_span(c, "exposure"),
                    });
                }
                "DerivedVariable" => {
                    let a = self.check_attrs(
                        c,
                        &["name", "dimension", "exposure", "value", "select", "reduce", "required", "description"],
                    );
                    let name = self.req(&a, "name");
                    let value = c.attribute("value").map(|_| self.expr(&a, "value"));
                    let select = Self::opt(&a, "select");
                    if value.is_none() && select.is_none() {
                        self.diags.push(
                            Diagnostic::error("missing-attribute", format!("DerivedVariable `{name}` needs `value` or `select`"))
                                .at(self.name_span(c)),
                        );
                    }
                    let reduce = match c.attribute("reduce") {
                        None => None,
                        Some("add") => Some(Reduce::Add),
                        Some("multiply") => Some(Reduce::Multiply),
                        Some(other) => {
                            self.diags.push(
                                Diagnostic::error("bad-value", format!("`reduce` must be `add` or `multiply`, found `{other}`"))
                                    .at(self.value_span(c, "reduce")),
                            );
                            None
                        }
                    };
                    d.derived_variables.push(DerivedVariable {
                        name,
                        dimension: Self::opt(&a, "dimension").unwrap_or_default(),
                        exposure: Self::opt(&a, "exposure"),
                        value,
                        select_span: c.attribute_node("select").map(|x| self.span(x.range_value())),
                        select,
                        reduce,
                        required: c.attribute("required").map(|v| v == "true"),
                        span,
                        dimension_span: self.value_span(c, "dimension"),
                        exposure_span: self.value_span(c, "exposure"),
                    });
                }
                "ConditionalDerivedVariable" => {
                    let a = self.check_attrs(c, &["name", "dimension", "exposure", "description"]);
                    let mut cdv = ConditionalDerivedVariable {
                        name: self.req(&a, "name"),
                        dimension: Self::opt(&a, "dimension").unwrap_or_default(),
                        exposure: Self::opt(&a, "exposure"),
                        cases: vec![],
                        span,
                        dimension_span: self.value_span(c, "dimension"),
                        exposure_span: self.value_span(c, "exposure"),
                    };
                    for k in c.children() {
                        if k.name() != "Case" {
                            self.unknown_element(k, "a `<ConditionalDerivedVariable>`", &["Case"]);
                            continue;
                        }
                        let a = self.check_attrs(k, &["condition", "value"]);
                        let condition = k.attribute("condition").map(|_| self.expr(&a, "condition"));
                        let value = self.expr(&a, "value");
                        cdv.cases.push(Case { condition, value, span: self.span(k.range()) });
                    }
                    d.conditional_derived_variables.push(cdv);
                }
                "Regime" => {
                    let a = self.check_attrs(c, &["name", "initial"]);
                    let name = self.req(&a, "name");
                    let initial = c.attribute("initial").is_some_and(|v| v == "true");
                    let mut body = Behaviour::default();
                    for k in c.children() {
                        self.behaviour(k, &mut body, true);
                    }
                    d.regimes.push(Regime { name, initial, body, span });
                }
                "KineticScheme" => {
                    let a = self.check_attrs(
                        c,
                        &["name", "nodes", "stateVariable", "edges", "edgeSource", "edgeTarget", "forwardRate", "reverseRate"],
                    );
                    d.kinetic_schemes.push(KineticScheme {
                        name: self.req(&a, "name"),
                        nodes: self.req(&a, "nodes"),
                        state_variable: self.req(&a, "stateVariable"),
                        edges: self.req(&a, "edges"),
                        edge_source: self.req(&a, "edgeSource"),
                        edge_target: self.req(&a, "edgeTarget"),
                        forward_rate: self.req(&a, "forwardRate"),
                        reverse_rate: self.req(&a, "reverseRate"),
                        span,
                    });
                }
                "TimeDerivative" | "OnStart" | "OnCondition" | "OnEvent" => self.behaviour(c, &mut d.body, false),
                _ => self.unknown_element(c, "`<Dynamics>`", ALLOWED),
            }
        }
        d
    }

    fn behaviour(&mut self, c: Node<'_, '_>, body: &mut Behaviour, in_regime: bool) {
        let span = self.span(c.range());
        match c.name() {
            "TimeDerivative" => {
                let a = self.check_attrs(c, &["variable", "value"]);
                let variable = self.req(&a, "variable");
                let value = self.expr(&a, "value");
                body.time_derivatives.push(TimeDerivative { variable, value, span, variable_span: self.value_span(c, "variable") });
            }
            "OnStart" if !in_regime => {
                let _ = self.check_attrs(c, &[]);
                let actions = self.actions(c, false);
                body.on_start.push(EventBlock { actions, span });
            }
            "OnEntry" if in_regime => {
                let _ = self.check_attrs(c, &[]);
                let actions = self.actions(c, true);
                body.on_entry.push(EventBlock { actions, span });
            }
            "OnCondition" => {
                let a = self.check_attrs(c, &["test"]);
                let test = self.expr(&a, "test");
                let actions = self.actions(c, true);
                body.on_conditions.push(OnCondition { test, actions, span });
            }
            "OnEvent" => {
                let a = self.check_attrs(c, &["port"]);
                let port = self.req(&a, "port");
                let actions = self.actions(c, true);
                body.on_events.push(OnEvent { port, actions, span, port_span: self.value_span(c, "port") });
            }
            _ => {
                let allowed: &[&str] = if in_regime {
                    &["TimeDerivative", "OnEntry", "OnCondition", "OnEvent"]
                } else {
                    &["TimeDerivative", "OnStart", "OnCondition", "OnEvent"]
                };
                self.unknown_element(c, if in_regime { "a `<Regime>`" } else { "`<Dynamics>`" }, allowed);
            }
        }
    }

    fn actions(&mut self, n: Node<'_, '_>, events_allowed: bool) -> Vec<Action> {
        let mut out = vec![];
        for c in n.children() {
            let span = self.span(c.range());
            match c.name() {
                "StateAssignment" => {
                    let a = self.check_attrs(c, &["variable", "value"]);
                    let variable = self.req(&a, "variable");
                    let value = self.expr(&a, "value");
                    out.push(Action::StateAssignment { variable, value, span, at: self.value_span(c, "variable") });
                }
                "EventOut" if events_allowed => {
                    let a = self.check_attrs(c, &["port"]);
                    out.push(Action::EventOut { port: self.req(&a, "port"), span, at: self.value_span(c, "port") });
                }
                "Transition" if events_allowed => {
                    let a = self.check_attrs(c, &["regime"]);
                    out.push(Action::Transition { regime: self.req(&a, "regime"), span, at: self.value_span(c, "regime") });
                }
                _ => {
                    let ctx = format!("`<{}>`", n.name());
                    let allowed: &[&str] = if events_allowed { &["StateAssignment", "EventOut", "Transition"] } else { &["StateAssignment"] };
                    self.unknown_element(c, &ctx, allowed);
                }
            }
        }
        out
    }

    fn structure_items(&mut self, n: Node<'_, '_>, depth: usize) -> Vec<StructureItem> {
        let mut out = vec![];
        const ALLOWED: &[&str] = &["ChildInstance", "MultiInstantiate", "ForEach", "With", "EventConnection", "Tunnel"];
        for c in n.children() {
            let span = self.span(c.range());
            match c.name() {
                "ChildInstance" => {
                    let a = self.check_attrs(c, &["component"]);
                    out.push(StructureItem::ChildInstance { component: self.req(&a, "component"), span });
                }
                "MultiInstantiate" => {
                    let a = self.check_attrs(c, &["component", "componentType", "number"]);
                    out.push(StructureItem::MultiInstantiate {
                        component: Self::opt(&a, "component"),
                        component_type: Self::opt(&a, "componentType"),
                        number: self.req(&a, "number"),
                        span,
                    });
                }
                "ForEach" => {
                    let a = self.check_attrs(c, &["instances", "as"]);
                    let instances = self.req(&a, "instances");
                    let as_name = self.req(&a, "as");
                    let items = if depth < MAX_DEPTH {
                        self.structure_items(c, depth + 1)
                    } else {
                        self.diags.push(
                            Diagnostic::error("too-deep", format!("elements are nested more than {MAX_DEPTH} levels deep")).at(self.name_span(c)),
                        );
                        vec![]
                    };
                    out.push(StructureItem::ForEach { instances, as_name, items, span });
                }
                "With" => {
                    let a = self.check_attrs(c, &["instance", "list", "index", "as"]);
                    out.push(StructureItem::With {
                        instance: Self::opt(&a, "instance"),
                        list: Self::opt(&a, "list"),
                        index: Self::opt(&a, "index"),
                        as_name: self.req(&a, "as"),
                        span,
                    });
                }
                "EventConnection" => {
                    let a = self.check_attrs(
                        c,
                        &["from", "to", "sourcePort", "targetPort", "receiver", "receiverContainer", "delay"],
                    );
                    let assigns = self.assigns(c);
                    out.push(StructureItem::EventConnection(EventConnection {
                        from: self.req(&a, "from"),
                        to: self.req(&a, "to"),
                        source_port: Self::opt(&a, "sourcePort"),
                        target_port: Self::opt(&a, "targetPort"),
                        receiver: Self::opt(&a, "receiver"),
                        receiver_container: Self::opt(&a, "receiverContainer"),
                        delay: Self::opt(&a, "delay"),
                        assigns,
                        span,
                    }));
                }
                "Tunnel" => {
                    let a = self.check_attrs(c, &["name", "endA", "endB", "componentA", "componentB"]);
                    let assigns = self.assigns(c);
                    out.push(StructureItem::Tunnel(Tunnel {
                        name: self.req(&a, "name"),
                        end_a: self.req(&a, "endA"),
                        end_b: self.req(&a, "endB"),
                        component_a: self.req(&a, "componentA"),
                        component_b: self.req(&a, "componentB"),
                        assigns,
                        span,
                    }));
                }
                _ => self.unknown_element(c, "`<Structure>`", ALLOWED),
            }
        }
        out
    }

    fn assigns(&mut self, n: Node<'_, '_>) -> Vec<Assign> {
        let mut out = vec![];
        for c in n.children() {
            if c.name() != "Assign" {
                self.unknown_element(c, &format!("`<{}>`", n.name()), &["Assign"]);
                continue;
            }
            let a = self.check_attrs(c, &["property", "value"]);
            let property = self.req(&a, "property");
            let value = self.expr(&a, "value");
            out.push(Assign { property, value, span: self.span(c.range()) });
        }
        out
    }

    fn simulation(&mut self, n: Node<'_, '_>) -> SimulationDecl {
        let _ = self.check_attrs(n, &[]);
        let mut s = SimulationDecl::default();
        const ALLOWED: &[&str] = &["Run", "Record", "EventRecord", "DataDisplay", "DataWriter", "EventWriter"];
        for c in n.children() {
            let span = self.span(c.range());
            let item = match c.name() {
                "Run" => {
                    let a = self.check_attrs(c, &["component", "variable", "increment", "total"]);
                    SimulationItem::Run {
                        component: self.req(&a, "component"),
                        variable: self.req(&a, "variable"),
                        increment: self.req(&a, "increment"),
                        total: self.req(&a, "total"),
                        span,
                    }
                }
                "Record" => {
                    let a = self.check_attrs(c, &["quantity", "timeScale", "scale", "color"]);
                    SimulationItem::Record {
                        quantity: self.req(&a, "quantity"),
                        time_scale: Self::opt(&a, "timeScale"),
                        scale: Self::opt(&a, "scale"),
                        color: Self::opt(&a, "color"),
                        span,
                    }
                }
                "EventRecord" => {
                    let a = self.check_attrs(c, &["quantity", "eventPort"]);
                    SimulationItem::EventRecord { quantity: self.req(&a, "quantity"), event_port: self.req(&a, "eventPort"), span }
                }
                "DataDisplay" => {
                    let a = self.check_attrs(c, &["title", "dataRegion"]);
                    SimulationItem::DataDisplay { title: self.req(&a, "title"), data_region: self.req(&a, "dataRegion"), span }
                }
                "DataWriter" => {
                    let a = self.check_attrs(c, &["path", "fileName"]);
                    SimulationItem::DataWriter { path: self.req(&a, "path"), file_name: self.req(&a, "fileName"), span }
                }
                "EventWriter" => {
                    let a = self.check_attrs(c, &["path", "fileName", "format"]);
                    SimulationItem::EventWriter {
                        path: self.req(&a, "path"),
                        file_name: self.req(&a, "fileName"),
                        format: self.req(&a, "format"),
                        span,
                    }
                }
                _ => {
                    self.unknown_element(c, "`<Simulation>`", ALLOWED);
                    continue;
                }
            };
            s.items.push(item);
        }
        s
    }

    /// A component in LEMS (`<Component type=..>`) or tag style. Its type is resolved later,
    /// when all definitions are known.
    fn component(&mut self, n: Node<'_, '_>, depth: usize) -> Option<Component> {
        if depth > MAX_DEPTH {
            self.diags.push(
                Diagnostic::error("too-deep", format!("elements are nested more than {MAX_DEPTH} levels deep")).at(self.name_span(n)),
            );
            return None;
        }
        Some(self.component_within_depth(n, depth))
    }

    /// [`Self::component`] for an element `depth` levels deep, at most [`MAX_DEPTH`].
    fn component_within_depth(&mut self, n: Node<'_, '_>, depth: usize) -> Component {
        let tag = CompactString::from(n.name());
        let lems_style = tag == "Component";
        // One pass over the attributes: `id` and `type` are kept apart, the others in order.
        let mut id = None;
        let mut ty = None;
        let plain = |a: &Attr<'_, '_>| a.namespace().is_none() && a.name() != "id" && a.name() != "type";
        let mut attributes = Vec::with_capacity(n.attributes().filter(plain).count());
        for a in n.attributes() {
            if a.namespace().is_some() {
                continue;
            }
            match a.name() {
                "id" => id = Some(a),
                "type" => ty = Some(a),
                name => attributes.push(Attribute {
                    name: name.into(),
                    value: a.value().into(),
                    name_span: self.span(a.range_qname()),
                    value_span: self.span(a.range_value()),
                }),
            }
        }
        let mut c = Component {
            id: id.map(|a| a.value().into()),
            type_name: ty.map(|a| a.value().into()).unwrap_or_default(),
            explicit_type: ty.is_some(),
            lems_style,
            attributes,
            children: vec![],
            text: None,
            span: self.span(n.range()),
            name_span: self.name_span(n),
            id_span: id.map(|a| self.span(a.range_value())),
            type_span: ty.map(|a| self.span(a.range_value())),
            tag,
        };
        if ty.is_none() && lems_style {
            self.diags.push(Diagnostic::error("missing-attribute", "`<Component>` needs the attribute `type`").at(c.name_span));
        }
        if c.tag == "annotation" {
            // RDF and other metadata: kept verbatim, never interpreted.
            let inner = inner_xml(self.src, n);
            c.text = (!inner.trim().is_empty()).then(|| inner.into());
            return c;
        }
        // Text between child elements is almost always indentation, which the tree drops.
        if let Some(text) = n.text() {
            c.text = Some(text.trim().into());
        }
        let elements_count = n.child_count();
        if elements_count >= SPLIT_AT && self.may_split && depth < MAX_DEPTH {
            self.components_parallel(n, depth + 1, &mut c.children);
        } else {
            c.children.reserve_exact(elements_count);
            for k in n.children() {
                if let Some(child) = self.component(k, depth + 1) {
                    c.children.push(child);
                }
            }
        }
        c
    }

    /// Reads the child elements of `n`, `depth` levels deep (at most [`MAX_DEPTH`], so none is
    /// refused), into `out` on all cores. Each thread writes its components straight into
    /// `out` (rayon's `collect_into_vec`): building parts apart and joining them moved a part
    /// once more, ~3 ms per projection of 60 000 connections. The result, diagnostics included
    /// and in order, is what reading them in turn gives.
    fn components_parallel(&mut self, n: Node<'_, '_>, depth: usize, out: &mut Vec<Component>) {
        use rayon::prelude::*;
        let kids: Vec<Node<'_, '_>> = n.children().collect();
        let (file, src) = (self.file, self.src);
        // Diagnostics are rare here: kept with their element's position, put in order after.
        let found = std::sync::Mutex::new(Vec::<(usize, Diagnostics)>::new());
        let read = |out: &mut Vec<Component>| {
            kids.par_iter()
                .enumerate()
                .map(|(k, &kid)| {
                    let mut diags = Diagnostics::new();
                    let c = Reader { file, src, diags: &mut diags, may_split: false }.component_within_depth(kid, depth);
                    if !diags.is_empty() {
                        found.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((k, diags));
                    }
                    c
                })
                .collect_into_vec(out);
        };
        let ran = READ_POOL.with(|pool| pool.as_ref().map(|pool| pool.install(|| read(out))));
        if ran.is_none() {
            // No pool (no threads to be had): read them here, in turn.
            out.reserve_exact(kids.len());
            out.extend(kids.iter().map(|&kid| self.component_within_depth(kid, depth)));
        }
        let mut found = found.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        found.sort_unstable_by_key(|(k, _)| *k);
        for d in found.into_iter().flat_map(|(_, diags)| diags) {
            self.diags.push(d);
        }
    }
}

thread_local! {
    /// The pool that reads long lists of elements, made by the first such list a thread reads
    /// and kept for the thread's later ones. The thread itself is one of its workers
    /// (`use_current_thread`), so one thread fewer is started, and that thread allocates in its
    /// usual malloc arena: glibc grows a new thread's arena a page at a time, an `mprotect`
    /// each (7 000 for the 125 000-connection network when only new threads read, 300 like this).
    static READ_POOL: Option<rayon::ThreadPool> = rayon::ThreadPoolBuilder::new().use_current_thread().build().ok();
}

/// The source text between an element's start and end tags.
fn inner_xml<'s>(src: &'s str, n: Node<'_, '_>) -> &'s str {
    let r = n.range();
    let whole = &src[r.clone()];
    match (whole.find('>'), whole.rfind("</")) {
        (Some(open_end), Some(close)) if open_end < close && !whole[..open_end].ends_with('/') => &whole[open_end + 1..close],
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reading a long list of elements on all cores gives exactly what one thread gives:
    /// the same components in the same order, and the same diagnostics in the same order.
    #[test]
    fn split_reading_matches_sequential_reading() {
        let mut src = String::from(
            "<neuroml xmlns=\"http://www.neuroml.org/schema/neuroml2\" \
             xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" id=\"d\">\n<network id=\"n\">\n",
        );
        for k in 0..(3 * SPLIT_AT + 7) {
            match k % 97 {
                0 => src.push_str(&format!("  <Component id=\"c{k}\" p=\"1\"/>\n")),
                1 => src.push_str(&format!("  <notes>text {k} &amp; more</notes>\n")),
                2 => src.push_str(&format!("  <projection id=\"p{k}\" xsi:type=\"x\"><connection id=\"0\" preCellId=\"a\"/></projection>\n")),
                _ => src.push_str(&format!("  <connection id=\"{k}\" preCellId=\"../pop0[{k}]\" postCellId=\"../pop1[{}]\"/>\n", k % 500)),
            }
        }
        src.push_str("</network>\n</neuroml>\n");
        let read = |may_split: bool| {
            let mut diags = Diagnostics::new();
            let items = read_document_with(FileId(0), &src, &mut diags, may_split).expect("well-formed");
            (format!("{:?}", items.components), format!("{:?}", diags.into_vec()))
        };
        let (one, one_diags) = read(false);
        let (two, two_diags) = read(true);
        assert!(one_diags.contains("missing-attribute"), "the test document should give diagnostics");
        assert!(one == two, "components differ");
        assert_eq!(one_diags, two_diags);
    }
}
