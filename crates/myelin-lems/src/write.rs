//! IR → LEMS / NeuroML XML.
//!
//! Writes one document: either the items that came from one file (with its includes, so the
//! result reads back to the same model), or every item of the model in one self-contained
//! `<Lems>` file without includes.

use myelin_ir::*;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    /// Write only what came from this file (and its includes as written). `None`: everything,
    /// self-contained, as `<Lems>`.
    pub file: Option<FileId>,
}

/// Writes a document as XML text.
pub fn write_document(model: &Model, opts: &WriteOptions) -> String {
    let mut w = X { w: Writer::new_with_indent(Vec::new(), b' ', 4) };
    let doc = opts.file.and_then(|f| model.documents.iter().find(|d| d.file == f));
    let keep = |s: Span| opts.file.is_none_or(|f| s.file == f);
    w.event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    let root_name = match doc.map(|d| d.root) {
        Some(RootKind::NeuroML) => "neuroml",
        _ => "Lems",
    };
    let root_attrs: Vec<(String, String)> = doc.map(|d| d.root_attributes.clone()).unwrap_or_default();
    w.open(root_name, root_attrs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    if let Some(doc) = doc {
        for inc in &doc.includes {
            match doc.root {
                RootKind::Lems => w.empty("Include", [("file", inc.href.as_str())]),
                RootKind::NeuroML => w.empty("include", [("href", inc.href.as_str())]),
            }
        }
    }
    for t in model.targets.iter().filter(|t| keep(t.span)) {
        let mut a = vec![("component", t.component.as_str())];
        push_opt(&mut a, "reportFile", &t.report_file);
        push_opt(&mut a, "timesFile", &t.times_file);
        w.empty("Target", a);
    }
    for d in model.dimensions.values().filter(|d| keep(d.span)) {
        let e = d.dimension;
        let nums: Vec<(&str, String)> = [("m", e.m), ("l", e.l), ("t", e.t), ("i", e.i), ("k", e.k), ("n", e.n), ("j", e.j)]
            .into_iter()
            .filter(|(_, v)| *v != 0)
            .map(|(k, v)| (k, v.to_string()))
            .collect();
        let mut a = vec![("name", d.name.as_str())];
        a.extend(nums.iter().map(|(k, v)| (*k, v.as_str())));
        w.empty("Dimension", a);
    }
    for u in model.units.values().filter(|u| keep(u.span)) {
        let power = u.power.to_string();
        let scale = fmt_f64(u.scale);
        let offset = fmt_f64(u.offset);
        let mut a = vec![("symbol", u.symbol.as_str()), ("dimension", u.dimension.as_str()), ("power", power.as_str())];
        if u.scale != 1.0 {
            a.push(("scale", scale.as_str()));
        }
        if u.offset != 0.0 {
            a.push(("offset", offset.as_str()));
        }
        w.empty("Unit", a);
    }
    for c in model.constants.values().filter(|c| keep(c.span)) {
        constant(&mut w, c);
    }
    for t in model.component_types.values().filter(|t| keep(t.span)) {
        component_type(&mut w, t);
    }
    for c in model.components.iter().filter(|c| keep(c.span)) {
        component(&mut w, c);
    }
    w.close(root_name);
    let mut s = String::from_utf8(w.w.into_inner()).unwrap_or_default();
    s.push('\n');
    s
}

/// Escapes only what XML requires (`&`, `<`, `>`, and `"` inside attributes), which every XML
/// reader, jLEMS's included, understands.
fn escape_minimal(s: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\t' if attribute => out.push_str("&#9;"),
            _ => out.push(c),
        }
    }
    out
}

fn fmt_f64(x: f64) -> String {
    // Shortest text that reads back to the same f64.
    let s = format!("{x}");
    if s.parse::<f64>().ok() == Some(x) { s } else { format!("{x:e}") }
}

fn push_opt<'a>(a: &mut Vec<(&'a str, &'a str)>, k: &'a str, v: &'a Option<String>) {
    if let Some(v) = v {
        a.push((k, v.as_str()));
    }
}

struct X {
    w: Writer<Vec<u8>>,
}

impl X {
    fn event(&mut self, e: Event<'_>) {
        // Writing into a Vec cannot fail.
        let _ = self.w.write_event(e);
    }

    fn start<'a>(name: &'a str, attrs: impl IntoIterator<Item = (&'a str, &'a str)>) -> BytesStart<'a> {
        let mut s = BytesStart::new(name);
        for (k, v) in attrs {
            // Escaped here rather than by quick-xml, which writes `'` as `&apos;`: jLEMS's own
            // XML parser does not know that entity.
            let escaped = escape_minimal(v, true);
            s.push_attribute(quick_xml::events::attributes::Attribute { key: quick_xml::name::QName(k), value: escaped.into() });
        }
        s
    }

    fn empty<'a>(&mut self, name: &'a str, attrs: impl IntoIterator<Item = (&'a str, &'a str)>) {
        self.event(Event::Empty(Self::start(name, attrs)));
    }

    fn open<'a>(&mut self, name: &'a str, attrs: impl IntoIterator<Item = (&'a str, &'a str)>) {
        self.event(Event::Start(Self::start(name, attrs)));
    }

    fn close(&mut self, name: &str) {
        self.event(Event::End(BytesEnd::new(name)));
    }
}

fn constant(w: &mut X, c: &Constant) {
    let mut a = vec![("name", c.name.as_str())];
    if !c.dimension.is_empty() {
        a.push(("dimension", c.dimension.as_str()));
    }
    a.push(("value", c.value.as_str()));
    push_opt(&mut a, "description", &c.description);
    w.empty("Constant", a);
}

fn named(w: &mut X, tag: &str, n: &Named, with_dimension: bool) {
    let mut a = vec![("name", n.name.as_str())];
    if with_dimension && !n.dimension.is_empty() {
        a.push(("dimension", n.dimension.as_str()));
    }
    push_opt(&mut a, "description", &n.description);
    w.empty(tag, a);
}

fn typed(w: &mut X, tag: &str, r: &TypedRef) {
    let mut a = vec![("name", r.name.as_str()), ("type", r.type_name.as_str())];
    push_opt(&mut a, "description", &r.description);
    w.empty(tag, a);
}

fn component_type(w: &mut X, t: &ComponentType) {
    let mut a = vec![("name", t.name.as_str())];
    push_opt(&mut a, "extends", &t.extends);
    push_opt(&mut a, "description", &t.description);
    w.open("ComponentType", a);
    for p in &t.parameters {
        named(w, "Parameter", p, true);
    }
    for p in &t.derived_parameters {
        let mut a = vec![("name", p.name.as_str())];
        if !p.dimension.is_empty() {
            a.push(("dimension", p.dimension.as_str()));
        }
        a.push(("value", p.value.text.as_str()));
        push_opt(&mut a, "description", &p.description);
        w.empty("DerivedParameter", a);
    }
    for f in &t.fixed {
        w.empty("Fixed", [("parameter", f.parameter.as_str()), ("value", f.value.as_str())]);
    }
    for p in &t.properties {
        let mut a = vec![("name", p.name.as_str())];
        if !p.dimension.is_empty() {
            a.push(("dimension", p.dimension.as_str()));
        }
        push_opt(&mut a, "defaultValue", &p.default_value);
        w.empty("Property", a);
    }
    for p in &t.index_parameters {
        named(w, "IndexParameter", p, false);
    }
    for c in &t.constants {
        constant(w, c);
    }
    for c in &t.children {
        let mut a = vec![("name", c.name.as_str()), ("type", c.type_name.as_str())];
        push_opt(&mut a, "description", &c.description);
        w.empty(if c.multiple { "Children" } else { "Child" }, a);
    }
    for r in &t.links {
        typed(w, "Link", r);
    }
    for r in &t.component_references {
        let mut a = vec![("name", r.name.as_str()), ("type", r.type_name.as_str())];
        push_opt(&mut a, "local", &r.local);
        push_opt(&mut a, "description", &r.description);
        w.empty("ComponentReference", a);
    }
    for r in &t.attachments {
        typed(w, "Attachments", r);
    }
    for e in &t.exposures {
        named(w, "Exposure", e, true);
    }
    for r in &t.requirements {
        named(w, "Requirement", r, true);
    }
    for r in &t.component_requirements {
        named(w, "ComponentRequirement", r, false);
    }
    for r in &t.instance_requirements {
        typed(w, "InstanceRequirement", r);
    }
    for p in &t.event_ports {
        let dir = match p.direction {
            PortDirection::In => "in",
            PortDirection::Out => "out",
        };
        let mut a = vec![("name", p.name.as_str()), ("direction", dir)];
        push_opt(&mut a, "description", &p.description);
        w.empty("EventPort", a);
    }
    for x in &t.texts {
        named(w, "Text", x, false);
    }
    for x in &t.paths {
        named(w, "Path", x, false);
    }
    if let Some(s) = &t.structure {
        w.open("Structure", []);
        structure_items(w, &s.items);
        w.close("Structure");
    }
    if let Some(s) = &t.simulation {
        simulation(w, s);
    }
    if let Some(d) = &t.dynamics {
        dynamics(w, d);
    }
    w.close("ComponentType");
}

fn structure_items(w: &mut X, items: &[StructureItem]) {
    for it in items {
        match it {
            StructureItem::ChildInstance { component, .. } => w.empty("ChildInstance", [("component", component.as_str())]),
            StructureItem::MultiInstantiate { component, component_type, number, .. } => {
                let mut a = vec![];
                push_opt(&mut a, "component", component);
                push_opt(&mut a, "componentType", component_type);
                a.push(("number", number.as_str()));
                w.empty("MultiInstantiate", a);
            }
            StructureItem::ForEach { instances, as_name, items, .. } => {
                w.open("ForEach", [("instances", instances.as_str()), ("as", as_name.as_str())]);
                structure_items(w, items);
                w.close("ForEach");
            }
            StructureItem::With { instance, list, index, as_name, .. } => {
                let mut a = vec![];
                push_opt(&mut a, "instance", instance);
                push_opt(&mut a, "list", list);
                push_opt(&mut a, "index", index);
                a.push(("as", as_name.as_str()));
                w.empty("With", a);
            }
            StructureItem::EventConnection(e) => {
                let mut a = vec![("from", e.from.as_str()), ("to", e.to.as_str())];
                push_opt(&mut a, "sourcePort", &e.source_port);
                push_opt(&mut a, "targetPort", &e.target_port);
                push_opt(&mut a, "receiver", &e.receiver);
                push_opt(&mut a, "receiverContainer", &e.receiver_container);
                push_opt(&mut a, "delay", &e.delay);
                with_assigns(w, "EventConnection", a, &e.assigns);
            }
            StructureItem::Tunnel(t) => {
                let a = vec![
                    ("name", t.name.as_str()),
                    ("endA", t.end_a.as_str()),
                    ("endB", t.end_b.as_str()),
                    ("componentA", t.component_a.as_str()),
                    ("componentB", t.component_b.as_str()),
                ];
                with_assigns(w, "Tunnel", a, &t.assigns);
            }
        }
    }
}

fn with_assigns<'a>(w: &mut X, tag: &'a str, a: Vec<(&'a str, &'a str)>, assigns: &[Assign]) {
    if assigns.is_empty() {
        w.empty(tag, a);
        return;
    }
    w.open(tag, a);
    for x in assigns {
        w.empty("Assign", [("property", x.property.as_str()), ("value", x.value.text.as_str())]);
    }
    w.close(tag);
}

fn simulation(w: &mut X, s: &SimulationDecl) {
    w.open("Simulation", []);
    for it in &s.items {
        match it {
            SimulationItem::Run { component, variable, increment, total, .. } => w.empty(
                "Run",
                [("component", component.as_str()), ("variable", variable.as_str()), ("increment", increment.as_str()), ("total", total.as_str())],
            ),
            SimulationItem::Record { quantity, time_scale, scale, color, .. } => {
                let mut a = vec![("quantity", quantity.as_str())];
                push_opt(&mut a, "timeScale", time_scale);
                push_opt(&mut a, "scale", scale);
                push_opt(&mut a, "color", color);
                w.empty("Record", a);
            }
            SimulationItem::EventRecord { quantity, event_port, .. } => {
                w.empty("EventRecord", [("quantity", quantity.as_str()), ("eventPort", event_port.as_str())]);
            }
            SimulationItem::DataDisplay { title, data_region, .. } => {
                w.empty("DataDisplay", [("title", title.as_str()), ("dataRegion", data_region.as_str())]);
            }
            SimulationItem::DataWriter { path, file_name, .. } => {
                w.empty("DataWriter", [("path", path.as_str()), ("fileName", file_name.as_str())]);
            }
            SimulationItem::EventWriter { path, file_name, format, .. } => {
                w.empty("EventWriter", [("path", path.as_str()), ("fileName", file_name.as_str()), ("format", format.as_str())]);
            }
        }
    }
    w.close("Simulation");
}

fn with_dim<'a>(a: &mut Vec<(&'a str, &'a str)>, dimension: &'a str, exposure: &'a Option<String>) {
    if !dimension.is_empty() {
        a.push(("dimension", dimension));
    }
    push_opt(a, "exposure", exposure);
}

fn dynamics(w: &mut X, d: &Dynamics) {
    if d.simultaneous {
        w.open("Dynamics", [("simultaneous", "true")]);
    } else {
        w.open("Dynamics", []);
    }
    for s in &d.state_variables {
        let mut a = vec![("name", s.name.as_str())];
        with_dim(&mut a, &s.dimension, &s.exposure);
        push_opt(&mut a, "description", &s.description);
        w.empty("StateVariable", a);
    }
    for v in &d.derived_variables {
        let mut a = vec![("name", v.name.as_str())];
        with_dim(&mut a, &v.dimension, &v.exposure);
        if let Some(e) = &v.value {
            a.push(("value", e.text.as_str()));
        }
        push_opt(&mut a, "select", &v.select);
        match v.reduce {
            Some(Reduce::Add) => a.push(("reduce", "add")),
            Some(Reduce::Multiply) => a.push(("reduce", "multiply")),
            None => {}
        }
        match v.required {
            Some(true) => a.push(("required", "true")),
            Some(false) => a.push(("required", "false")),
            None => {}
        }
        w.empty("DerivedVariable", a);
    }
    for v in &d.conditional_derived_variables {
        let mut a = vec![("name", v.name.as_str())];
        with_dim(&mut a, &v.dimension, &v.exposure);
        w.open("ConditionalDerivedVariable", a);
        for c in &v.cases {
            let mut a = vec![];
            if let Some(cond) = &c.condition {
                a.push(("condition", cond.text.as_str()));
            }
            a.push(("value", c.value.text.as_str()));
            w.empty("Case", a);
        }
        w.close("ConditionalDerivedVariable");
    }
    behaviour(w, &d.body);
    for r in &d.regimes {
        let mut a = vec![("name", r.name.as_str())];
        if r.initial {
            a.push(("initial", "true"));
        }
        w.open("Regime", a);
        behaviour(w, &r.body);
        w.close("Regime");
    }
    for k in &d.kinetic_schemes {
        w.empty(
            "KineticScheme",
            [
                ("name", k.name.as_str()),
                ("nodes", k.nodes.as_str()),
                ("stateVariable", k.state_variable.as_str()),
                ("edges", k.edges.as_str()),
                ("edgeSource", k.edge_source.as_str()),
                ("edgeTarget", k.edge_target.as_str()),
                ("forwardRate", k.forward_rate.as_str()),
                ("reverseRate", k.reverse_rate.as_str()),
            ],
        );
    }
    w.close("Dynamics");
}

fn behaviour(w: &mut X, b: &Behaviour) {
    for t in &b.time_derivatives {
        w.empty("TimeDerivative", [("variable", t.variable.as_str()), ("value", t.value.text.as_str())]);
    }
    for s in &b.on_start {
        block(w, "OnStart", vec![], &s.actions);
    }
    for s in &b.on_entry {
        block(w, "OnEntry", vec![], &s.actions);
    }
    for c in &b.on_conditions {
        block(w, "OnCondition", vec![("test", c.test.text.as_str())], &c.actions);
    }
    for e in &b.on_events {
        block(w, "OnEvent", vec![("port", e.port.as_str())], &e.actions);
    }
}

fn block<'a>(w: &mut X, tag: &'a str, a: Vec<(&'a str, &'a str)>, actions: &[Action]) {
    if actions.is_empty() {
        w.empty(tag, a);
        return;
    }
    w.open(tag, a);
    for act in actions {
        match act {
            Action::StateAssignment { variable, value, .. } => {
                w.empty("StateAssignment", [("variable", variable.as_str()), ("value", value.text.as_str())]);
            }
            Action::EventOut { port, .. } => w.empty("EventOut", [("port", port.as_str())]),
            Action::Transition { regime, .. } => w.empty("Transition", [("regime", regime.as_str())]),
        }
    }
    w.close(tag);
}

fn component(w: &mut X, c: &Component) {
    let tag = c.tag.as_str();
    let mut a: Vec<(&str, &str)> = vec![];
    if let Some(id) = &c.id {
        a.push(("id", id.as_str()));
    }
    if c.explicit_type || c.lems_style {
        a.push(("type", c.type_name.as_str()));
    }
    a.extend(c.attributes.iter().map(|x| (x.name.as_str(), x.value.as_str())));
    if c.tag == "annotation" {
        match &c.text {
            Some(raw) => {
                w.open(tag, a);
                // Kept verbatim from the source: already valid XML content.
                w.event(Event::Text(BytesText::from_escaped(raw.trim().to_string())));
                w.close(tag);
            }
            None => w.empty(tag, a),
        }
        return;
    }
    if c.children.is_empty() && c.text.is_none() {
        w.empty(tag, a);
        return;
    }
    w.open(tag, a);
    if let Some(t) = &c.text {
        w.event(Event::Text(BytesText::from_escaped(escape_minimal(t, false))));
    }
    for k in &c.children {
        component(w, k);
    }
    w.close(tag);
}
