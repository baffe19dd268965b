//! Reading TVBO YAML (a node tree from [`crate::yaml`]) into the schema types, reporting every
//! problem as a diagnostic with the span of the offending key or value.

use crate::schema::*;
use crate::util::did_you_mean;
use crate::yaml::{Kind, Node};
use myelin_diag::{Diagnostic, Diagnostics, FileId, SourceMap, Span};
use myelin_expr::Dialect;

/// Finds the text of a model that an experiment names without defining it: given the name,
/// returns the path to show in messages and the file's text.
pub type Resolver<'r> = &'r dyn Fn(&str) -> Option<(String, String)>;

/// Reads one document: an experiment, or a bare model wrapped as one.
pub(crate) fn document(
    file: FileId,
    text: &str,
    root: &Node,
    sources: &mut SourceMap,
    diags: &mut Diagnostics,
    resolve: Resolver<'_>,
) -> Option<Experiment> {
    let mut r = Reader { file, text, diags };
    let Some(entries) = root.entries() else {
        let what = if root.is_null() {
            "an empty document"
        } else {
            root.describe()
        };
        r.diags.push(
            Diagnostic::error(
                "bad-field",
                format!("a TVBO file must be a mapping (a model or an experiment), found {what}"),
            )
            .at(root.span),
        );
        return None;
    };
    let is_experiment = ["dynamics", "integration", "network"]
        .iter()
        .any(|k| get(text, entries, k).is_some());
    if !is_experiment {
        let dynamics = r.dynamics(root, "model")?;
        return Some(Experiment {
            id: None,
            label: None,
            description: None,
            dynamics,
            dynamics_by_name: false,
            network: None,
            coupling: None,
            coupling_spec: None,
            integration: Integration::default(),
            bare: true,
            file,
        });
    }
    r.check_fields(entries, fields::EXPERIMENT, "a simulation experiment");
    let id = get(text, entries, "id").and_then(|n| r.scalar_string(n, "`id`"));
    let label = r.opt_string(entries, "label");
    let description = r.opt_string(entries, "description");
    let integration = match get(text, entries, "integration") {
        Some(n) => r.integration(n),
        None => Integration::default(),
    };
    let network = get(text, entries, "network").map(|n| r.network(n));
    let coupling_node = get(text, entries, "coupling").filter(|n| !n.is_null());
    let coupling = coupling_node.map(|n| n.span);
    let coupling_spec = coupling_node.and_then(|n| r.experiment_coupling(n));
    let Some(dyn_node) = get(text, entries, "dynamics") else {
        r.diags.push(
            Diagnostic::error(
                "missing-field",
                "the experiment has no `dynamics`: nothing to simulate",
            )
            .at(key_span(text, entries).unwrap_or(root.span)),
        );
        return None;
    };
    let (dynamics, by_name) = match &dyn_node.kind {
        Kind::Str(name) => {
            let at = At::new(name.clone(), dyn_node.span);
            (
                by_name(file, text, sources, r.diags, resolve, &at, None)?,
                true,
            )
        }
        Kind::Map(_) => {
            let inline = r.dynamics(dyn_node, "the experiment's dynamics")?;
            if inline.state_variables.is_empty() && inline.components.is_none() {
                let name = inline.name.clone();
                (
                    by_name(file, text, sources, r.diags, resolve, &name, Some(inline))?,
                    true,
                )
            } else {
                (inline, false)
            }
        }
        _ => {
            r.diags.push(
                Diagnostic::error(
                    "bad-field",
                    format!(
                        "`dynamics` must be a model or a model's name, found {}",
                        dyn_node.describe()
                    ),
                )
                .at(dyn_node.span),
            );
            return None;
        }
    };
    Some(Experiment {
        id,
        label,
        description,
        dynamics,
        dynamics_by_name: by_name,
        network,
        coupling,
        coupling_spec,
        integration,
        bare: false,
        file,
    })
}

/// Reads the model an experiment names, and applies what the experiment's inline `dynamics`
/// says on top of it (parameter values, iri, label, description).
fn by_name(
    file: FileId,
    text: &str,
    sources: &mut SourceMap,
    diags: &mut Diagnostics,
    resolve: Resolver<'_>,
    name: &At<String>,
    inline: Option<Dynamics>,
) -> Option<Dynamics> {
    let _ = (file, text);
    let Some((path, db_text)) = resolve(&name.value) else {
        diags.push(
            Diagnostic::error(
                "unknown-model",
                format!("the dynamics `{}` define no state variables, and no model file named `{}` was found", name.value, name.value),
            )
            .at(name.span)
            .with_note("define the model inline, or keep the experiment inside TVBO's database tree (models/<Name>.yaml)"),
        );
        return None;
    };
    let db_file = sources.add(path, db_text.clone());
    let root = match crate::yaml::parse(db_file, &db_text) {
        Ok(n) => n,
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    let mut r = Reader {
        file: db_file,
        text: &db_text,
        diags,
    };
    let mut base = r.dynamics(&root, "model")?;
    if let Some(inline) = inline {
        for p in inline.parameters {
            match base
                .parameters
                .iter_mut()
                .find(|q| q.name.value == p.name.value)
            {
                Some(q) => {
                    if p.value.is_some() || p.array.is_some() {
                        q.value = p.value;
                        q.array = p.array;
                    }
                    if p.unit.is_some() {
                        q.unit = p.unit;
                    }
                }
                None => base.parameters.push(p),
            }
        }
        if inline.iri.is_some() {
            base.iri = inline.iri;
        }
        if inline.label.is_some() {
            base.label = inline.label;
        }
        if inline.description.is_some() {
            base.description = inline.description;
        }
    }
    Some(base)
}

/// The value of `key` in a mapping's entries.
pub(crate) fn get<'n>(text: &str, entries: &'n [(Node, Node)], key: &str) -> Option<&'n Node> {
    entries
        .iter()
        .find(|(k, _)| key_name(text, k) == key)
        .map(|(_, v)| v)
}

fn key_span(_text: &str, entries: &[(Node, Node)]) -> Option<Span> {
    entries.first().map(|(k, _)| k.span)
}

/// A mapping key as a name. Keys that YAML reads as something else (`n` and `y` are booleans
/// in YAML 1.1, `1` is a number) are taken as written.
pub(crate) fn key_name(text: &str, k: &Node) -> String {
    match &k.kind {
        Kind::Str(s) => s.clone(),
        _ => text
            .get(k.span.start as usize..k.span.end as usize)
            .unwrap_or("")
            .trim()
            .to_string(),
    }
}

pub(crate) struct Reader<'a> {
    pub(crate) file: FileId,
    pub(crate) text: &'a str,
    pub(crate) diags: &'a mut Diagnostics,
}

impl Reader<'_> {
    fn error(&mut self, code: &'static str, message: impl Into<String>, span: Span) {
        self.diags.push(Diagnostic::error(code, message).at(span));
    }

    /// The entries of a mapping; `null` is an empty mapping; anything else is reported.
    fn mapping<'n>(&mut self, n: &'n Node, what: &str) -> Option<&'n [(Node, Node)]> {
        match &n.kind {
            Kind::Map(m) => Some(m),
            Kind::Null => Some(&[]),
            _ => {
                self.error(
                    "bad-field",
                    format!("{what} must be a mapping, found {}", n.describe()),
                    n.span,
                );
                None
            }
        }
    }

    fn check_fields(&mut self, entries: &[(Node, Node)], allowed: &[&str], what: &str) {
        for (k, _) in entries {
            let name = key_name(self.text, k);
            if !allowed.contains(&name.as_str()) {
                let mut d =
                    Diagnostic::error("unknown-field", format!("unknown field `{name}` in {what}"))
                        .at(k.span);
                if let Some(h) = did_you_mean(&name, allowed.iter().copied()) {
                    d = d.with_note(h);
                }
                self.diags.push(d);
            }
        }
    }

    fn scalar_string(&mut self, n: &Node, what: &str) -> Option<At<String>> {
        match n.scalar_text(self.text) {
            Some(s) => Some(At::new(s, n.span)),
            None if n.is_null() => None,
            None => {
                self.error(
                    "bad-field",
                    format!("{what} must be a string, found {}", n.describe()),
                    n.span,
                );
                None
            }
        }
    }

    fn opt_string(&mut self, entries: &[(Node, Node)], key: &str) -> Option<String> {
        let n = get(self.text, entries, key)?;
        self.scalar_string(n, &format!("`{key}`")).map(|s| s.value)
    }

    fn opt_at_string(&mut self, entries: &[(Node, Node)], key: &str) -> Option<At<String>> {
        let n = get(self.text, entries, key)?;
        self.scalar_string(n, &format!("`{key}`"))
    }

    fn number(&mut self, n: &Node, what: &str) -> Option<At<f64>> {
        if n.is_null() {
            return None;
        }
        match n.as_f64() {
            Some(v) => Some(At::new(v, n.span)),
            None => {
                self.error(
                    "bad-field",
                    format!("{what} must be a number, found {}", n.describe()),
                    n.span,
                );
                None
            }
        }
    }

    fn opt_number(&mut self, entries: &[(Node, Node)], key: &str) -> Option<At<f64>> {
        let n = get(self.text, entries, key)?;
        self.number(n, &format!("`{key}`"))
    }

    fn boolean(&mut self, entries: &[(Node, Node)], key: &str) -> bool {
        let Some(n) = get(self.text, entries, key) else {
            return false;
        };
        match &n.kind {
            Kind::Bool(b) => *b,
            Kind::Null => false,
            Kind::Str(s) if s.eq_ignore_ascii_case("true") => true,
            Kind::Str(s) if s.eq_ignore_ascii_case("false") => false,
            _ => {
                self.error(
                    "bad-field",
                    format!("`{key}` must be true or false, found {}", n.describe()),
                    n.span,
                );
                false
            }
        }
    }

    fn unit(&mut self, entries: &[(Node, Node)]) -> Option<At<String>> {
        let u = self.opt_at_string(entries, "unit")?;
        if !UNITS.contains(&u.value.as_str()) {
            let mut d =
                Diagnostic::error("unknown-unit", format!("unknown unit `{}`", u.value)).at(u.span);
            match did_you_mean(&u.value, UNITS.iter().copied()) {
                Some(h) => d = d.with_note(h),
                None => {
                    d = d.with_note(
                        "TVBO's units are those of its `UnitEnum` (ms, mV, per_ms, nS, ...)",
                    )
                }
            }
            self.diags.push(d);
        }
        Some(u)
    }

    /// Where each byte of `text` (the value of scalar `n`) is in the file, and its end.
    fn offsets_of(&self, n: &Node, text: &str) -> Option<Vec<u32>> {
        let raw = self.text.get(n.span.start as usize..n.span.end as usize)?;
        trace(raw, n.span.start, text)
    }

    /// An expression written as a scalar.
    fn expression(&mut self, n: &Node, what: &str) -> Option<Equation> {
        let Some(text) = n.scalar_text(self.text) else {
            if !n.is_null() {
                self.error(
                    "bad-field",
                    format!(
                        "{what} must be an expression (a string), found {}",
                        n.describe()
                    ),
                    n.span,
                );
            }
            return None;
        };
        let offsets = self.offsets_of(n, &text);
        Some(self.parse_equation(text, n.span, offsets))
    }

    pub(crate) fn parse_equation(
        &mut self,
        text: String,
        span: Span,
        offsets: Option<Vec<u32>>,
    ) -> Equation {
        let mut eq = Equation {
            text,
            span,
            offsets,
            parsed: None,
        };
        match myelin_expr::parse(&eq.text, Dialect::Sympy) {
            Ok(e) => eq.parsed = Some(e),
            Err(err) => {
                let at = eq.span_of(&err.span);
                self.diags.push(
                    Diagnostic::error(
                        "expression-syntax",
                        format!("cannot read the expression: {}", err.message),
                    )
                    .at(at),
                );
            }
        }
        eq
    }

    /// `equation: {rhs: ...}` (or a bare expression).
    fn equation(&mut self, n: &Node, what: &str) -> Option<Equation> {
        match &n.kind {
            Kind::Map(entries) => {
                self.check_fields(entries, fields::EQUATION, "an equation");
                match get(self.text, entries, "rhs") {
                    Some(rhs) => self.expression(rhs, &format!("the `rhs` of {what}")),
                    None => {
                        self.error(
                            "missing-field",
                            format!("the equation of {what} has no `rhs`"),
                            n.span,
                        );
                        None
                    }
                }
            }
            Kind::Null => None,
            _ => self.expression(n, what),
        }
    }

    fn opt_equation(
        &mut self,
        entries: &[(Node, Node)],
        key: &str,
        what: &str,
    ) -> Option<Equation> {
        let n = get(self.text, entries, key)?;
        self.equation(n, what)
    }

    fn domain(&mut self, n: &Node) -> Option<Domain> {
        let entries = self.mapping(n, "`domain`")?;
        self.check_fields(entries, fields::RANGE, "a domain");
        let lo = self.opt_number(entries, "lo").map(|x| x.value);
        let hi = self.opt_number(entries, "hi").map(|x| x.value);
        let step = self.opt_number(entries, "step").map(|x| x.value);
        let enforce = match self.opt_at_string(entries, "enforce") {
            None => None,
            Some(s) => match s.value.as_str() {
                "none" => Some(At::new(Enforce::None, s.span)),
                "clamp" => Some(At::new(Enforce::Clamp, s.span)),
                "wrap" => Some(At::new(Enforce::Wrap, s.span)),
                other => {
                    self.error(
                        "bad-field",
                        format!("`enforce` must be none, clamp or wrap, found `{other}`"),
                        s.span,
                    );
                    None
                }
            },
        };
        Some(Domain {
            lo,
            hi,
            step,
            enforce,
        })
    }

    /// A collection of named items: a mapping `name: {fields}` (TVBO's form) or a list of
    /// mappings with a `name` field. Calls `item(name, fields)` for each.
    fn named_items(
        &mut self,
        n: &Node,
        what: &str,
        mut item: impl FnMut(&mut Self, At<String>, &[(Node, Node)], Span),
    ) {
        match &n.kind {
            Kind::Null => {}
            Kind::Map(entries) => {
                let mut seen: Vec<String> = Vec::new();
                for (k, v) in entries {
                    let name = At::new(key_name(self.text, k), k.span);
                    if seen.contains(&name.value) {
                        self.error(
                            "duplicate-definition",
                            format!("`{}` is defined twice in {what}", name.value),
                            k.span,
                        );
                        continue;
                    }
                    seen.push(name.value.clone());
                    let Some(fields) = self.mapping(v, &format!("`{}`", name.value)) else {
                        continue;
                    };
                    item(self, name, fields, k.span);
                }
            }
            Kind::Seq(items) => {
                for v in items {
                    let Some(fields) = self.mapping(v, &format!("an entry of {what}")) else {
                        continue;
                    };
                    match get(self.text, fields, "name")
                        .and_then(|n| n.scalar_text(self.text).map(|s| At::new(s, n.span)))
                    {
                        Some(name) => item(self, name, fields, v.span),
                        None => self.error(
                            "missing-field",
                            format!("an entry of {what} has no `name`"),
                            v.span,
                        ),
                    }
                }
            }
            _ => self.error(
                "bad-field",
                format!(
                    "{what} must be a mapping of names to definitions, found {}",
                    n.describe()
                ),
                n.span,
            ),
        }
    }

    fn check_name(&mut self, name: &At<String>, fields: &[(Node, Node)]) {
        if let Some(n) = get(self.text, fields, "name")
            && let Some(s) = n.scalar_text(self.text)
            && s != name.value
        {
            self.error(
                "bad-field",
                format!("`name: {s}` disagrees with the key `{}`", name.value),
                n.span,
            );
        }
    }

    pub(crate) fn dynamics(&mut self, n: &Node, what: &str) -> Option<Dynamics> {
        let entries = self.mapping(n, what)?;
        self.check_fields(entries, fields::DYNAMICS, "a model (Dynamics)");
        let name = match get(self.text, entries, "name") {
            Some(v) => self.scalar_string(v, "`name`"),
            None => None,
        };
        let name = match name {
            Some(n) => n,
            None => {
                self.error(
                    "missing-field",
                    format!("{what} has no `name`"),
                    entries.first().map_or(n.span, |(k, _)| k.span),
                );
                At::new("Model".to_string(), n.span)
            }
        };
        let span = name.span;
        let mut d = Dynamics {
            name,
            iri: self.opt_at_string(entries, "iri"),
            label: self.opt_string(entries, "label"),
            description: self.opt_string(entries, "description"),
            model_type: self.opt_at_string(entries, "model_type"),
            system_type: self.opt_at_string(entries, "system_type"),
            number_of_modes: None,
            parameters: vec![],
            derived_parameters: vec![],
            state_variables: vec![],
            derived_variables: vec![],
            functions: vec![],
            events: vec![],
            coupling_inputs: vec![],
            output: vec![],
            components: None,
            components_tree: None,
            file: self.file,
            span,
        };
        if let Some(m) = get(self.text, entries, "number_of_modes")
            && let Some(v) = self.number(m, "`number_of_modes`")
        {
            if v.value.fract() != 0.0 || v.value < 0.0 {
                self.error(
                    "bad-field",
                    "`number_of_modes` must be a whole number",
                    m.span,
                );
            }
            d.number_of_modes = Some(At::new(v.value as i64, v.span));
        }
        if let Some(p) = get(self.text, entries, "parameters") {
            self.named_items(p, "`parameters`", |r, name, fs, _| {
                r.check_fields(fs, fields::PARAMETER, "a parameter");
                r.check_name(&name, fs);
                let (value, array) = match get(r.text, fs, "value") {
                    Some(v) if matches!(v.kind, Kind::Seq(_)) => (None, Some(v.span)),
                    Some(v) => (r.number(v, &format!("the value of `{}`", name.value)), None),
                    None => (None, None),
                };
                let unit = r.unit(fs);
                let domain = get(r.text, fs, "domain").and_then(|n| r.domain(n));
                let label = r.opt_string(fs, "label");
                let description = r.opt_string(fs, "description");
                d.parameters.push(Parameter {
                    name,
                    value,
                    array,
                    unit,
                    domain,
                    label,
                    description,
                });
            });
        }
        if let Some(p) = get(self.text, entries, "derived_parameters") {
            self.named_items(p, "`derived_parameters`", |r, name, fs, span| {
                r.check_fields(fs, fields::PARAMETER, "a derived parameter");
                r.check_name(&name, fs);
                let what = format!("derived parameter `{}`", name.value);
                let equation = r.opt_equation(fs, "equation", &what);
                if equation.is_none() && get(r.text, fs, "equation").is_none() {
                    r.error("missing-field", format!("{what} has no `equation`"), span);
                }
                let unit = r.unit(fs);
                let description = r.opt_string(fs, "description");
                d.derived_parameters.push(DerivedParameter {
                    name,
                    equation,
                    unit,
                    description,
                });
            });
        }
        if let Some(p) = get(self.text, entries, "state_variables") {
            self.named_items(p, "`state_variables`", |r, name, fs, span| {
                r.check_fields(fs, fields::STATE_VARIABLE, "a state variable");
                r.check_name(&name, fs);
                let what = format!("state variable `{}`", name.value);
                let equation = r.opt_equation(fs, "equation", &what);
                if get(r.text, fs, "equation").is_none() {
                    r.error("missing-field", format!("{what} has no `equation`"), span);
                }
                if let Some(o) = get(r.text, fs, "equation_order")
                    && let Some(v) = o.as_f64()
                    && v != 1.0
                {
                    r.error("unsupported", format!("{what} has `equation_order: {v}`; only first-order equations are supported"), o.span);
                }
                let initial_value = r.opt_number(fs, "initial_value");
                let domain = get(r.text, fs, "domain").and_then(|n| r.domain(n));
                let unit = r.unit(fs);
                let label = r.opt_string(fs, "label");
                let description = r.opt_string(fs, "description");
                let coupling_variable = r.boolean(fs, "coupling_variable");
                let variable_of_interest = r.boolean(fs, "variable_of_interest");
                let record = r.boolean(fs, "record");
                let noise = r.noise(fs, false);
                d.state_variables.push(StateVariable {
                    noise,
                    name,
                    equation,
                    initial_value,
                    domain,
                    unit,
                    label,
                    description,
                    coupling_variable,
                    variable_of_interest,
                    record,
                });
            });
        }
        if let Some(p) = get(self.text, entries, "derived_variables") {
            self.named_items(p, "`derived_variables`", |r, name, fs, span| {
                r.check_fields(fs, fields::DERIVED_VARIABLE, "a derived variable");
                r.check_name(&name, fs);
                let what = format!("derived variable `{}`", name.value);
                let equation = r.opt_equation(fs, "equation", &what);
                if get(r.text, fs, "equation").is_none() {
                    r.error("missing-field", format!("{what} has no `equation`"), span);
                }
                let unit = r.unit(fs);
                let label = r.opt_string(fs, "label");
                let description = r.opt_string(fs, "description");
                let record = r.boolean(fs, "record");
                d.derived_variables.push(DerivedVariable {
                    name,
                    equation,
                    unit,
                    label,
                    description,
                    record,
                });
            });
        }
        if let Some(p) = get(self.text, entries, "functions") {
            self.named_items(p, "`functions`", |r, name, fs, span| {
                r.check_fields(fs, fields::FUNCTION, "a function");
                r.check_name(&name, fs);
                let what = format!("function `{}`", name.value);
                let mut arguments = Vec::new();
                match get(r.text, fs, "arguments").map(|n| &n.kind) {
                    None | Some(Kind::Null) => {}
                    Some(Kind::Map(args)) => {
                        for (k, v) in args {
                            if let Some(f) = r.mapping(v, "a function argument") {
                                r.check_fields(f, fields::ARGUMENT, "a function argument");
                            }
                            arguments.push(At::new(key_name(r.text, k), k.span));
                        }
                    }
                    Some(Kind::Seq(args)) => {
                        for a in args {
                            match &a.kind {
                                Kind::Map(f) => match get(r.text, f, "name")
                                    .and_then(|n| n.scalar_text(r.text).map(|s| At::new(s, n.span)))
                                {
                                    Some(n) => arguments.push(n),
                                    None => r.error(
                                        "missing-field",
                                        "a function argument has no `name`",
                                        a.span,
                                    ),
                                },
                                _ => match a.scalar_text(r.text) {
                                    Some(s) => arguments.push(At::new(s, a.span)),
                                    None => r.error(
                                        "bad-field",
                                        "a function argument must be a name",
                                        a.span,
                                    ),
                                },
                            }
                        }
                    }
                    Some(_) => {
                        let n = get(r.text, fs, "arguments").map_or(span, |n| n.span);
                        r.error(
                            "bad-field",
                            format!(
                                "the `arguments` of {what} must be a mapping or a list of names"
                            ),
                            n,
                        );
                    }
                }
                for (k, a) in arguments.iter().enumerate() {
                    if arguments[..k].iter().any(|b| b.value == a.value) {
                        r.error(
                            "duplicate-definition",
                            format!("argument `{}` of {what} is named twice", a.value),
                            a.span,
                        );
                    }
                }
                let equation = r.opt_equation(fs, "equation", &what);
                if get(r.text, fs, "equation").is_none() {
                    r.error("missing-field", format!("{what} has no `equation`"), span);
                }
                let definition = r.opt_string(fs, "definition");
                let description = r.opt_string(fs, "description");
                d.functions.push(Function {
                    name,
                    arguments,
                    equation,
                    definition,
                    description,
                });
            });
        }
        if let Some(p) = get(self.text, entries, "events") {
            self.named_items(p, "`events`", |r, name, fs, span| {
                r.check_fields(fs, fields::EVENT, "an event");
                r.check_name(&name, fs);
                let what = format!("event `{}`", name.value);
                let condition =
                    r.opt_equation(fs, "condition", &format!("the condition of {what}"));
                if condition.is_none() && get(r.text, fs, "condition").is_none() {
                    r.error("missing-field", format!("{what} has no `condition`"), span);
                }
                let affect = match get(r.text, fs, "affect") {
                    Some(n) => r.affect_text(n, &what),
                    None => None,
                };
                let assignments = match &affect {
                    Some(a) => r.assignments(a),
                    None => vec![],
                };
                let description = r.opt_string(fs, "description");
                d.events.push(Event {
                    name,
                    condition,
                    affect,
                    assignments,
                    description,
                });
            });
        }
        if let Some(p) = get(self.text, entries, "coupling_inputs") {
            self.named_items(p, "`coupling_inputs`", |r, name, fs, _| {
                r.check_fields(fs, fields::COUPLING_INPUT, "a coupling input");
                r.check_name(&name, fs);
                let local = r.boolean(fs, "local");
                let description = r.opt_string(fs, "description");
                let mut keys = Vec::new();
                if let Some(k) = get(r.text, fs, "keys") {
                    match &k.kind {
                        Kind::Seq(items) => {
                            for i in items {
                                if let Some(s) = r.scalar_string(i, "a coupling key") {
                                    keys.push(s);
                                }
                            }
                        }
                        Kind::Null => {}
                        _ => r.error(
                            "bad-field",
                            format!("`keys` must be a list of names, found {}", k.describe()),
                            k.span,
                        ),
                    }
                }
                d.coupling_inputs.push(CouplingInput {
                    name,
                    keys,
                    local,
                    description,
                });
            });
        }
        if let Some(o) = get(self.text, entries, "output") {
            match &o.kind {
                Kind::Seq(items) => {
                    for i in items {
                        if let Some(s) = self.scalar_string(i, "an `output` entry") {
                            d.output.push(s);
                        }
                    }
                }
                Kind::Null => {}
                _ => self.error(
                    "bad-field",
                    format!(
                        "`output` must be a list of variable names, found {}",
                        o.describe()
                    ),
                    o.span,
                ),
            }
        }
        if let Some((k, v)) = entries
            .iter()
            .find(|(k, _)| key_name(self.text, k) == "components")
            && !v.is_null()
        {
            d.components = Some(k.span);
            d.components_tree = Some(crate::yaml::with_string_keys(v, self.text));
        }
        Some(d)
    }

    /// The `affect` of an event: an equation whose `rhs` holds the assignments.
    fn affect_text(&mut self, n: &Node, what: &str) -> Option<Equation> {
        let node = match &n.kind {
            Kind::Map(entries) => {
                self.check_fields(entries, fields::EQUATION, "an equation");
                match get(self.text, entries, "rhs") {
                    Some(r) => r,
                    None => {
                        self.error(
                            "missing-field",
                            format!("the `affect` of {what} has no `rhs`"),
                            n.span,
                        );
                        return None;
                    }
                }
            }
            Kind::Null => return None,
            _ => n,
        };
        let Some(text) = node.scalar_text(self.text) else {
            self.error(
                "bad-field",
                format!("the `affect` of {what} must be assignments such as `v = c; u = u + d`"),
                node.span,
            );
            return None;
        };
        let offsets = self.offsets_of(node, &text);
        Some(Equation {
            text,
            span: node.span,
            offsets,
            parsed: None,
        })
    }

    /// Splits `v = c; U = U + d` (statements separated by `;` or new lines) into assignments.
    fn assignments(&mut self, affect: &Equation) -> Vec<Assignment> {
        let mut out = Vec::new();
        let text = affect.text.clone();
        let mut start = 0usize;
        for (k, c) in text
            .char_indices()
            .chain(std::iter::once((text.len(), ';')))
        {
            if c != ';' && c != '\n' {
                continue;
            }
            let stmt = &text[start..k];
            let stmt_start = start;
            start = k + 1;
            if stmt.trim().is_empty() {
                continue;
            }
            let sub = |a: usize, b: usize| affect.span_of(&((a as u32)..(b as u32)));
            let Some(eq) = assignment_operator(stmt) else {
                let (a, b) = trimmed(stmt, stmt_start);
                self.diags.push(
                    Diagnostic::error(
                        "expression-syntax",
                        format!(
                            "`{}` is not an assignment (`variable = expression`)",
                            stmt.trim()
                        ),
                    )
                    .at(sub(a, b)),
                );
                continue;
            };
            let (la, lb) = trimmed(&stmt[..eq], stmt_start);
            let target = text[la..lb].to_string();
            let is_ident = !target.is_empty()
                && target.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && target
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !is_ident {
                self.diags.push(
                    Diagnostic::error("expression-syntax", format!("the left side of an assignment must be a variable name, found `{target}`"))
                        .at(sub(la, lb.max(la))),
                );
                continue;
            }
            let (ra, rb) = trimmed(&stmt[eq + 1..], stmt_start + eq + 1);
            if ra >= rb {
                self.diags.push(
                    Diagnostic::error(
                        "expression-syntax",
                        format!("the assignment to `{target}` has no value"),
                    )
                    .at(sub(la, lb)),
                );
                continue;
            }
            let offsets = affect
                .offsets
                .as_ref()
                .and_then(|m| m.get(ra..=rb))
                .map(<[u32]>::to_vec);
            let span = sub(ra, rb);
            let value = self.parse_equation(text[ra..rb].to_string(), span, offsets);
            out.push(Assignment {
                target: At::new(target, sub(la, lb)),
                value,
            });
        }
        out
    }

    fn integration(&mut self, n: &Node) -> Integration {
        let mut out = Integration {
            span: Some(n.span),
            ..Integration::default()
        };
        let Some(entries) = self.mapping(n, "`integration`") else {
            return out;
        };
        self.check_fields(entries, fields::INTEGRATOR, "`integration`");
        out.method = self.opt_at_string(entries, "method");
        out.step_size = self.opt_number(entries, "step_size");
        out.duration = self.opt_number(entries, "duration");
        out.transient_time = self.opt_number(entries, "transient_time");
        out.time_scale = self.opt_at_string(entries, "time_scale");
        if let Some(ts) = &out.time_scale
            && !TIME_SCALES.iter().any(|(u, _)| *u == ts.value)
        {
            let d = Diagnostic::error(
                "unknown-unit",
                format!("unknown `time_scale` `{}`", ts.value),
            )
            .at(ts.span)
            .with_note("use s, ms or us");
            self.diags.push(d);
        }
        for (key, v) in [("step_size", &out.step_size), ("duration", &out.duration)] {
            if let Some(v) = v
                && !(v.value > 0.0 && v.value.is_finite())
            {
                self.diags.push(
                    Diagnostic::error("bad-field", format!("`{key}` must be a positive number"))
                        .at(v.span),
                );
            }
        }
        out.noise = self.noise(entries, true);
        out
    }

    /// The `noise` entry of `entries` (a state variable's or, with `targets`, the
    /// integration's), if any and not null.
    fn noise(&mut self, entries: &[(Node, Node)], integration: bool) -> Option<Noise> {
        let (k, v) = entries.iter().find(|(k, _)| key_name(self.text, k) == "noise")?;
        if v.is_null() {
            return None;
        }
        let fs = self.mapping(v, "`noise`")?;
        self.check_fields(fs, fields::NOISE, "`noise`");
        let mut out = Noise { span: k.span, sigma: None, seed: None, targets: vec![], unsupported: None };
        let flag = |r: &mut Self, key: &str| get(r.text, fs, key).filter(|n| !n.is_null()).map(|n| (r.boolean(fs, key), n.span));
        let mut unsupported = |what: &str, span: Span| {
            out.unsupported.get_or_insert(At::new(what.to_string(), span));
        };
        if let Some((false, span)) = flag(self, "additive") {
            unsupported("multiplicative noise (`additive: false`)", span);
        }
        if let Some((true, span)) = flag(self, "correlated") {
            unsupported("correlated noise", span);
        }
        if let Some((false, span)) = flag(self, "gaussian") {
            unsupported("non-Gaussian noise (`gaussian: false`)", span);
        }
        for key in ["distribution", "equation", "function", "pycode"] {
            if let Some(n) = get(self.text, fs, key).filter(|n| !n.is_null()) {
                unsupported(&format!("noise given by `{key}`"), n.span);
            }
        }
        if let Some(t) = self.opt_at_string(fs, "noise_type")
            && !["additive", "gaussian", "white"].iter().any(|k| t.value.eq_ignore_ascii_case(k))
        {
            unsupported(&format!("noise of type `{}`", t.value), t.span);
        }
        let value = |r: &mut Self, n: &Node, what: &str| -> Option<At<f64>> {
            let pf = r.mapping(n, what)?;
            r.check_fields(pf, fields::PARAMETER, what);
            r.opt_number(pf, "value")
        };
        if let Some(p) = get(self.text, fs, "parameters").filter(|n| !n.is_null())
            && let Some(ps) = self.mapping(p, "noise `parameters`")
        {
            for (pk, pv) in ps {
                let name = key_name(self.text, pk);
                if name == "sigma" {
                    out.sigma = value(self, pv, "noise parameter `sigma`");
                } else {
                    unsupported(&format!("noise parameter `{name}` (myelin knows `sigma`)"), pk.span);
                }
            }
        }
        if out.sigma.is_none()
            && let Some(n) = get(self.text, fs, "intensity").filter(|n| !n.is_null())
        {
            out.sigma = value(self, n, "noise `intensity`");
        }
        if let Some(sg) = &out.sigma
            && !(sg.value >= 0.0 && sg.value.is_finite())
        {
            self.error("bad-field", "noise `sigma` must be a non-negative number", sg.span);
        }
        if let Some(n) = get(self.text, fs, "seed").filter(|n| !n.is_null()) {
            match n.as_f64() {
                Some(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => out.seed = Some(At::new(x as i64, n.span)),
                _ => self.error("bad-field", "noise `seed` must be an integer", n.span),
            }
        }
        if let Some(t) = get(self.text, fs, "targets").filter(|n| !n.is_null()) {
            if !integration {
                self.error("bad-field", "`targets` belongs to the integration's noise, not a state variable's", t.span);
            } else {
                match &t.kind {
                    Kind::Map(ts) => out.targets = ts.iter().map(|(tk, _)| At::new(key_name(self.text, tk), tk.span)).collect(),
                    Kind::Seq(items) => out.targets = items.iter().filter_map(|i| i.scalar_text(self.text).map(|x| At::new(x, i.span))).collect(),
                    _ => self.error("bad-field", "noise `targets` must list state variables", t.span),
                }
            }
        }
        Some(out)
    }

    fn network(&mut self, n: &Node) -> Network {
        let mut out = Network {
            span: Some(n.span),
            ..Network::default()
        };
        let Some(entries) = self.mapping(n, "`network`") else {
            return out;
        };
        self.check_fields(entries, fields::NETWORK, "`network`");
        if let Some(v) = get(self.text, entries, "number_of_nodes")
            && let Some(x) = self.number(v, "`number_of_nodes`")
        {
            if x.value.fract() != 0.0 || x.value < 1.0 {
                self.error(
                    "bad-field",
                    "`number_of_nodes` must be a whole number of at least 1",
                    v.span,
                );
            }
            out.number_of_nodes = Some(At::new(x.value as i64, x.span));
        }
        for (key, slot) in [("nodes", &mut out.nodes), ("edges", &mut out.edges)] {
            if let Some((k, v)) = entries.iter().find(|(k, _)| key_name(self.text, k) == key) {
                let count = match &v.kind {
                    Kind::Seq(items) => items.len(),
                    Kind::Map(items) => items.len(),
                    _ => 0,
                };
                *slot = Some(At::new(count, k.span));
            }
        }
        if let Some((k, v)) = entries
            .iter()
            .find(|(k, _)| key_name(self.text, k) == "coupling")
            && !v.is_null()
        {
            out.coupling = Some(k.span);
            let mut list = Vec::new();
            self.named_items(v, "`coupling`", |r, name, fs, span| {
                list.push(r.coupling(name, fs, span));
            });
            out.couplings = list;
        }
        if let Some(Kind::Seq(items)) = get(self.text, entries, "nodes").map(|n| &n.kind) {
            for (k, item) in items.iter().enumerate() {
                let Some(fs) = item.entries() else { continue };
                let id = get(self.text, fs, "id")
                    .and_then(|n| n.scalar_text(self.text))
                    .unwrap_or_else(|| k.to_string());
                let mut state = Vec::new();
                if let Some(st) = get(self.text, fs, "state").and_then(|n| n.entries()) {
                    for (sk, sv) in st {
                        let value = match sv.entries() {
                            Some(e) => get(self.text, e, "value").and_then(|n| n.as_f64()),
                            None => sv.as_f64(),
                        };
                        if let Some(v) = value {
                            state.push((At::new(key_name(self.text, sk), sk.span), v));
                        }
                    }
                }
                out.node_list.push(NetworkNode { id, state, span: item.span });
            }
        }
        if let Some(Kind::Seq(items)) = get(self.text, entries, "edges").map(|n| &n.kind) {
            for item in items {
                let Some(fs) = item.entries() else { continue };
                let text_of = |key: &str| {
                    get(self.text, fs, key)
                        .and_then(|n| n.scalar_text(self.text).map(|s| At::new(s, n.span)))
                };
                let (source, target, coupling) = (text_of("source"), text_of("target"), text_of("coupling"));
                let weight = self.opt_number(fs, "weight");
                let delay = self.opt_number(fs, "delay");
                out.edge_list.push(Edge { source, target, weight, delay, coupling, span: item.span });
            }
        }
        out
    }

    /// An experiment-level `coupling:`: one coupling (`{name: .., pre_expression: ..}`), or a
    /// mapping of names to couplings (the first is used).
    fn experiment_coupling(&mut self, n: &Node) -> Option<Coupling> {
        let entries = n.entries()?;
        let single = ["name", "pre_expression", "post_expression", "parameters", "incoming_states", "iri", "delayed", "coupling_function"]
            .iter()
            .any(|k| get(self.text, entries, k).is_some());
        if single {
            let name = get(self.text, entries, "name")
                .and_then(|v| v.scalar_text(self.text).map(|s| At::new(s, v.span)))
                .unwrap_or_else(|| At::new("coupling".to_string(), n.span));
            return Some(self.coupling(name, entries, n.span));
        }
        let mut list = Vec::new();
        self.named_items(n, "`coupling`", |r, name, fs, span| {
            list.push(r.coupling(name, fs, span));
        });
        list.into_iter().next()
    }

    fn coupling(&mut self, name: At<String>, fs: &[(Node, Node)], span: Span) -> Coupling {
        let iri = self.opt_at_string(fs, "iri");
        let eq = |r: &mut Self, key: &str| -> Option<Equation> {
            let n = get(r.text, fs, key)?;
            let n = match n.entries() {
                Some(e) => get(r.text, e, "rhs")?,
                None => n,
            };
            let text = n.scalar_text(r.text)?;
            let rewritten = index_to_suffix(&text);
            let offsets = if rewritten == text { r.offsets_of(n, &text) } else { None };
            Some(r.parse_equation(rewritten, n.span, offsets))
        };
        let pre = eq(self, "pre_expression");
        let post = eq(self, "post_expression");
        let function = eq(self, "coupling_function");
        let mut parameters = Vec::new();
        let mut collect = |r: &mut Self, n: &Node| {
            if let Some(ps) = n.entries() {
                for (k, v) in ps {
                    let value = match v.entries() {
                        Some(e) => get(r.text, e, "value").and_then(|n| n.as_f64()),
                        None => v.as_f64(),
                    };
                    if let Some(x) = value {
                        parameters.push((At::new(key_name(r.text, k), k.span), x));
                    }
                }
            }
        };
        if let Some(p) = get(self.text, fs, "parameters") {
            collect(self, p);
        }
        if let Some(cf) = get(self.text, fs, "coupling_function").and_then(|n| n.entries())
            && let Some(p) = get(self.text, cf, "parameters")
        {
            collect(self, p);
        }
        let mut incoming_states = Vec::new();
        for key in ["incoming_states", "local_states"] {
            if !incoming_states.is_empty() {
                break;
            }
            match get(self.text, fs, key).map(|n| &n.kind) {
                Some(Kind::Seq(items)) => {
                    for it in items {
                        if let Some(t) = it.scalar_text(self.text) {
                            incoming_states.push(At::new(t, it.span));
                        }
                    }
                }
                Some(_) => {
                    if let Some(n) = get(self.text, fs, key)
                        && let Some(t) = n.scalar_text(self.text)
                    {
                        incoming_states.push(At::new(t, n.span));
                    }
                }
                None => {}
            }
        }
        let delayed = get(self.text, fs, "delayed").and_then(|n| match n.kind {
            Kind::Bool(b) => Some(At::new(b, n.span)),
            _ => None,
        });
        Coupling { name, iri, pre, post, function, parameters, incoming_states, delayed, span }
    }
}

/// Traces the value `text` of a scalar written as `raw` (at file offset `start`) back to the
/// file: the offset of each byte of `text`, then of its end. Follows quotes, and line folding
/// (a space or newline of the value standing for a run of whitespace); gives up on escapes.
fn trace(raw: &str, start: u32, text: &str) -> Option<Vec<u32>> {
    let mut j = usize::from(raw.starts_with('"') || raw.starts_with('\''));
    let mut map = Vec::with_capacity(text.len() + 1);
    let at = |j: usize| start + u32::try_from(j).unwrap_or(u32::MAX);
    for c in text.chars() {
        loop {
            let rc = raw.get(j..)?.chars().next()?;
            if rc == c {
                for k in 0..c.len_utf8() {
                    map.push(at(j + k));
                }
                j += rc.len_utf8();
                break;
            }
            if rc.is_whitespace() && (c == ' ' || c == '\n') {
                for _ in 0..c.len_utf8() {
                    map.push(at(j));
                }
                while raw
                    .get(j..)
                    .and_then(|r| r.chars().next())
                    .is_some_and(char::is_whitespace)
                {
                    j += 1;
                }
                break;
            }
            if rc.is_whitespace() {
                j += rc.len_utf8();
                continue;
            }
            return None;
        }
    }
    map.push(at(j));
    Some(map)
}

/// Byte offset of the `=` of an assignment: the first `=` that is not part of `==`, `<=`,
/// `>=` or `!=`.
fn assignment_operator(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    (0..b.len()).find(|&k| {
        b[k] == b'='
            && !(k > 0 && matches!(b[k - 1], b'<' | b'>' | b'!' | b'='))
            && !(k + 1 < b.len() && b[k + 1] == b'=')
    })
}

/// The range `[a, b)` of `s` without surrounding whitespace, shifted by `offset`.
fn trimmed(s: &str, offset: usize) -> (usize, usize) {
    let lead = s.len() - s.trim_start().len();
    let trail = s.len() - s.trim_end().len();
    let a = offset + lead;
    let b = (offset + s.len() - trail).max(a);
    (a, b)
}

/// `x_j[0]` → `x_j_0`: TVBO indexes the coupling variables of a multi-variable coupling.
fn index_to_suffix(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut k = 0;
    while k < b.len() {
        if b[k] == b'[' && k > 0 && (b[k - 1].is_ascii_alphanumeric() || b[k - 1] == b'_') {
            let end = text[k..].find(']').map(|e| k + e);
            if let Some(e) = end {
                let inner = text[k + 1..e].trim();
                if !inner.is_empty() && inner.bytes().all(|c| c.is_ascii_digit()) {
                    out.push('_');
                    out.push_str(inner);
                    k = e + 1;
                    continue;
                }
            }
        }
        let ch = text[k..].chars().next().unwrap_or(' ');
        out.push(ch);
        k += ch.len_utf8();
    }
    out
}
