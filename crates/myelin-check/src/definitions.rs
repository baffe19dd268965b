//! Checks of what the model defines: units, component types, their members and dynamics.

use myelin_ir::{SymbolKind, TypeScope};
use myelin_diag::suggest::did_you_mean;
use crate::Ctx;
use myelin_diag::{Diagnostic, Span};
use myelin_expr::DimType;
use myelin_ir::*;
use std::collections::HashSet;

pub(crate) fn check(ctx: &mut Ctx<'_>) {
    let model = ctx.model;
    for u in model.units.values() {
        if !model.dimensions.contains_key(&u.dimension) && u.dimension != "none" {
            let d = Diagnostic::error("unknown-dimension", format!("unit `{}` uses unknown dimension `{}`", u.symbol, u.dimension))
                .at(u.dimension_span);
            ctx.push(with_hint(d, &u.dimension, model.dimensions.keys().map(String::as_str)));
        }
    }
    for c in model.constants.values() {
        check_constant(ctx, c);
    }
    // Types are checked where the user can act on them: every type of the root document, and
    // every type the model uses (a library's unused types are not the user's problem).
    let used = used_types(model);
    let root = model.documents.first().map(|d| d.file);
    for t in model.component_types.values() {
        if Some(t.span.file) == root || used.contains(t.name.as_str()) {
            check_type(ctx, t);
        }
    }
}

/// Names of the types the model's components instantiate, with everything those types extend or
/// declare as children, attachments or required instances, transitively.
fn used_types(model: &Model) -> HashSet<&str> {
    let mut used: HashSet<&str> = HashSet::new();
    // Siblings mostly share a type (a network's connections): each run of one name is taken once.
    let mut todo: Vec<&str> = Vec::new();
    for c in &model.components {
        c.walk(&mut |k| {
            if todo.last() != Some(&k.type_name.as_str()) {
                todo.push(&k.type_name);
            }
        });
    }
    while let Some(name) = todo.pop() {
        if !used.insert(name) {
            continue;
        }
        let Some(t) = model.component_types.get(name) else { continue };
        todo.extend(t.extends.as_deref());
        todo.extend(t.children.iter().map(|c| c.type_name.as_str()));
        todo.extend(t.attachments.iter().map(|c| c.type_name.as_str()));
        todo.extend(t.instance_requirements.iter().map(|c| c.type_name.as_str()));
    }
    used
}

fn with_hint<'a>(d: Diagnostic, name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Diagnostic {
    match did_you_mean(name, candidates) {
        Some(h) => d.with_note(h),
        None => d,
    }
}

/// Resolves a dimension name, reporting unknown ones. Empty means dimensionless; `*` (any
/// dimension) gives `None` without a report.
fn dimension(ctx: &mut Ctx<'_>, name: &str, span: Span) -> Option<Dimension> {
    if is_any_dimension(name) {
        return None;
    }
    match ctx.model.dimension(name) {
        Some(d) => Some(d),
        None => {
            let d = Diagnostic::error("unknown-dimension", format!("unknown dimension `{name}`")).at(span);
            ctx.push(with_hint(d, name, ctx.model.dimensions.keys().map(String::as_str)));
            None
        }
    }
}

fn check_constant(ctx: &mut Ctx<'_>, c: &Constant) {
    let Some(dim) = dimension(ctx, &c.dimension, c.span) else { return };
    match myelin_units::parse_quantity(&c.value, ctx.units) {
        Ok(q) => {
            if q.dimension != dim && q.unit.is_some() {
                ctx.push(
                    Diagnostic::error(
                        "wrong-dimension",
                        format!("constant `{}` is declared `{}` but `{}` has dimension {}", c.name, c.dimension, c.value, q.dimension),
                    )
                    .at(c.value_span),
                );
            }
        }
        Err(e) => ctx.push(Diagnostic::error("bad-quantity", format!("bad value for constant `{}`: {e}", c.name)).at(c.value_span)),
    }
}

fn check_type(ctx: &mut Ctx<'_>, t: &ComponentType) {
    let model = ctx.model;
    if let Some(parent) = &t.extends {
        if !model.component_types.contains_key(parent) {
            let d = Diagnostic::error("unknown-type", format!("`{}` extends unknown component type `{parent}`", t.name))
                .at(t.extends_span.unwrap_or(t.span));
            ctx.push(with_hint(d, parent, model.component_types.keys().map(String::as_str)));
        } else if model.type_chain(&t.name).len() <= model.type_chain(parent).len() {
            ctx.push(Diagnostic::error("extends-cycle", format!("`{}` extends itself through `{parent}`", t.name)).at(t.extends_span.unwrap_or(t.span)));
        }
    }
    // Member names must be unique within the type.
    let mut seen: HashSet<&str> = HashSet::new();
    let members = t
        .parameters
        .iter()
        .map(|p| (&p.name, p.name_span))
        .chain(t.derived_parameters.iter().map(|p| (&p.name, p.span)))
        .chain(t.properties.iter().map(|p| (&p.name, p.span)))
        .chain(t.constants.iter().map(|p| (&p.name, p.span)))
        .chain(t.texts.iter().map(|p| (&p.name, p.name_span)))
        .chain(t.paths.iter().map(|p| (&p.name, p.name_span)))
        .chain(t.component_references.iter().map(|p| (&p.name, p.span)))
        .chain(t.links.iter().map(|p| (&p.name, p.span)));
    for (name, span) in members {
        if !seen.insert(name) {
            ctx.push(Diagnostic::error("duplicate-definition", format!("`{name}` is declared twice in `{}`", t.name)).at(span));
        }
    }
    for n in t.parameters.iter().chain(&t.exposures).chain(&t.requirements) {
        dimension(ctx, &n.dimension, n.dimension_span);
    }
    for p in &t.properties {
        dimension(ctx, &p.dimension, p.span);
    }
    for c in &t.constants {
        check_constant(ctx, c);
    }
    let type_refs = t
        .children
        .iter()
        .map(|c| (&c.type_name, c.span))
        .chain(t.links.iter().map(|c| (&c.type_name, c.span)))
        .chain(t.attachments.iter().map(|c| (&c.type_name, c.span)))
        .chain(t.component_references.iter().map(|c| (&c.type_name, c.span)))
        .chain(t.instance_requirements.iter().map(|c| (&c.type_name, c.span)));
    for (ty, span) in type_refs {
        if ty != ANY_TYPE && !model.component_types.contains_key(ty) {
            let d = Diagnostic::error("unknown-type", format!("unknown component type `{ty}`")).at(span);
            ctx.push(with_hint(d, ty, model.component_types.keys().map(String::as_str)));
        }
    }
    let scope = TypeScope { model, chain: model.type_chain(&t.name) };
    for f in &t.fixed {
        if scope.parameter(&f.parameter).is_none() {
            ctx.push(Diagnostic::error("undefined-symbol", format!("`<Fixed>` names unknown parameter `{}`", f.parameter)).at(f.span));
        }
    }
    for p in &t.derived_parameters {
        if let Some(want) = dimension(ctx, &p.dimension, p.span) {
            expect_dim(ctx, &scope, &p.value, Want::Quantity(want), &format!("derived parameter `{}`", p.name));
        }
    }
    for e in &t.exposures {
        let exposed = t.dynamics.as_ref().is_some_and(|d| {
            d.state_variables.iter().any(|s| s.exposure.as_deref() == Some(&e.name))
                || d.derived_variables.iter().any(|s| s.exposure.as_deref() == Some(&e.name))
                || d.conditional_derived_variables.iter().any(|s| s.exposure.as_deref() == Some(&e.name))
        });
        let _ = exposed; // An exposure may be provided by a subtype's dynamics; nothing to report here.
    }
    if let Some(d) = &t.dynamics {
        check_dynamics(ctx, &scope, t, d);
    }
}

enum Want {
    Quantity(Dimension),
    Boolean,
}

fn expect_dim(ctx: &mut Ctx<'_>, scope: &TypeScope<'_>, e: &Expression, want: Want, what: &str) {
    let Some(parsed) = &e.parsed else { return };
    // Undefined symbols first: one diagnostic each, pointing at the name.
    let mut undefined = false;
    for name in parsed.free_vars() {
        if scope.symbol(&name).is_none() {
            undefined = true;
            let offset = find_word(&e.text, &name).unwrap_or(0);
            let span = e.span.sub(offset as u32, (offset + name.len()) as u32);
            let d = Diagnostic::error("undefined-symbol", format!("`{name}` is not defined in `{}`", scope.name())).at(span);
            ctx.push(with_hint(d, &name, scope.symbol_names()));
        }
    }
    if undefined {
        return;
    }
    // A symbol whose declared dimension is unknown has been reported where it is declared.
    let unknown_dimension = parsed.free_vars().iter().any(|name| {
        scope.symbol(name).is_some_and(|(kind, dim)| kind != SymbolKind::Time && !is_any_dimension(dim) && scope.model.dimension(dim).is_none())
    });
    if unknown_dimension {
        return;
    }
    let dim_of = |name: &str| scope.symbol(name).and_then(|(kind, dim)| if kind == SymbolKind::Time { Some(Dimension::TIME) } else { scope.model.dimension(dim) });
    match myelin_expr::infer_dimension(parsed, &dim_of) {
        Ok(got) => {
            let ok = match &want {
                Want::Quantity(w) => got.is_compatible_with(*w),
                Want::Boolean => got == DimType::Boolean,
            };
            if !ok {
                let expected = match want {
                    Want::Quantity(w) => format!("dimension {w}"),
                    Want::Boolean => "a condition (true/false)".to_string(),
                };
                let found = match got {
                    DimType::Quantity(g) => format!("dimension {g}"),
                    DimType::Zero => "dimension dimensionless".to_string(),
                    DimType::Boolean => "a condition (true/false)".to_string(),
                };
                ctx.push(
                    Diagnostic::error("dimension-mismatch", format!("{what} should have {expected}, but `{}` has {found}", e.text)).at(e.span),
                );
            }
        }
        Err(err) => {
            let span = e.span.sub(err.span.start, err.span.end);
            ctx.push(Diagnostic::error("dimension-mismatch", format!("in {what}: {}", err.message)).at(span));
        }
    }
}

/// Byte offset of `word` in `text` as a whole identifier.
fn find_word(text: &str, word: &str) -> Option<usize> {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut from = 0;
    while let Some(k) = text[from..].find(word) {
        let start = from + k;
        let end = start + word.len();
        let before = text[..start].chars().next_back();
        let after = text[end..].chars().next();
        if !before.is_some_and(is_ident) && !after.is_some_and(is_ident) {
            return Some(start);
        }
        from = end;
    }
    None
}

fn check_dynamics(ctx: &mut Ctx<'_>, scope: &TypeScope<'_>, t: &ComponentType, d: &Dynamics) {
    let exposures: Vec<&str> = scope.exposures().map(|e| e.name.as_str()).collect();
    let mut names: HashSet<&str> = HashSet::new();
    for (name, dim, exposure, span, dim_span, exp_span) in d
        .state_variables
        .iter()
        .map(|s| (&s.name, &s.dimension, &s.exposure, s.span, s.dimension_span, s.exposure_span))
        .chain(d.derived_variables.iter().map(|s| (&s.name, &s.dimension, &s.exposure, s.span, s.dimension_span, s.exposure_span)))
        .chain(d.conditional_derived_variables.iter().map(|s| (&s.name, &s.dimension, &s.exposure, s.span, s.dimension_span, s.exposure_span)))
    {
        if !names.insert(name) {
            // jLEMS accepts this (the core types' pinskyRinzelCA3Cell relies on it); the later
            // declaration shadows the earlier one in expressions.
            ctx.push(Diagnostic::warning("duplicate-definition", format!("variable `{name}` is declared twice in `{}`", t.name)).at(span));
        }
        dimension(ctx, dim, dim_span);
        if let Some(x) = exposure
            && !exposures.contains(&x.as_str()) {
                let d = Diagnostic::error("undefined-symbol", format!("`{name}` is exposed as `{x}`, but `{}` declares no such `<Exposure>`", t.name))
                    .at(exp_span);
                ctx.push(with_hint(d, x, exposures.iter().copied()));
            }
    }
    for v in &d.derived_variables {
        if let (Some(e), Some(want)) = (&v.value, declared_dimension(scope, &v.dimension, v.exposure.as_deref())) {
            expect_dim(ctx, scope, e, Want::Quantity(want), &format!("derived variable `{}`", v.name));
        }
        if let (Some(sel), Some(span)) = (&v.select, v.select_span) {
            check_select(ctx, scope, sel, span);
        }
    }
    for v in &d.conditional_derived_variables {
        let Some(want) = declared_dimension(scope, &v.dimension, v.exposure.as_deref()) else { continue };
        for c in &v.cases {
            if let Some(cond) = &c.condition {
                expect_dim(ctx, scope, cond, Want::Boolean, &format!("a condition of `{}`", v.name));
            }
            expect_dim(ctx, scope, &c.value, Want::Quantity(want), &format!("a case of `{}`", v.name));
        }
    }
    let regimes: Vec<&str> = d.regimes.iter().map(|r| r.name.as_str()).collect();
    check_behaviour(ctx, scope, &d.body, &regimes);
    for r in &d.regimes {
        check_behaviour(ctx, scope, &r.body, &regimes);
    }
    for k in &d.kinetic_schemes {
        if !scope.has_child_slot(&k.nodes) || !scope.has_child_slot(&k.edges) {
            ctx.push(
                Diagnostic::error("undefined-symbol", format!("kinetic scheme `{}` needs children `{}` and `{}` in `{}`", k.name, k.nodes, k.edges, t.name))
                    .at(k.span),
            );
        }
    }
}

/// The dimension a variable must have: as declared; when not declared, that of the exposure it
/// feeds; `None` (unchecked, as in jLEMS) when neither says.
fn declared_dimension(scope: &TypeScope<'_>, dimension: &str, exposure: Option<&str>) -> Option<Dimension> {
    if !dimension.is_empty() {
        return if is_any_dimension(dimension) { None } else { scope.model.dimension(dimension) };
    }
    let e = scope.exposures().find(|e| Some(e.name.as_str()) == exposure)?;
    if e.dimension.is_empty() || is_any_dimension(&e.dimension) { None } else { scope.model.dimension(&e.dimension) }
}

fn check_select(ctx: &mut Ctx<'_>, scope: &TypeScope<'_>, sel: &str, span: Span) {
    let first = sel.split('/').next().unwrap_or("");
    let first = first.split('[').next().unwrap_or("");
    if first.is_empty() || first == "." || first == ".." {
        return;
    }
    let known = scope.has_child_slot(first)
        || scope.component_references().any(|r| r.name == first)
        || scope.links().any(|l| l.name == first)
        || scope.instance_requirements().any(|r| r.name == first);
    if !known {
        let d = Diagnostic::error("undefined-symbol", format!("`select` path starts at `{first}`, which is not a child, attachment or reference of `{}`", scope.name()))
            .at(span);
        let cands: Vec<&str> = scope.children().map(|c| c.name.as_str()).chain(scope.attachments().map(|a| a.name.as_str())).collect();
        ctx.push(with_hint(d, first, cands));
    }
}

fn check_behaviour(ctx: &mut Ctx<'_>, scope: &TypeScope<'_>, b: &Behaviour, regimes: &[&str]) {
    let model = ctx.model;
    let state_dim = |name: &str| {
        scope.dynamics().and_then(|d| d.state_variables.iter().find(|s| s.name == name)).map(|s| model.dimension(&s.dimension))
    };
    for td in &b.time_derivatives {
        match state_dim(&td.variable) {
            None => {
                let cands: Vec<&str> = scope.dynamics().map(|d| d.state_variables.iter().map(|s| s.name.as_str()).collect()).unwrap_or_default();
                let d = Diagnostic::error("undefined-symbol", format!("`{}` is not a state variable of `{}`", td.variable, scope.name())).at(td.variable_span);
                ctx.push(with_hint(d, &td.variable, cands));
            }
            // jLEMS accepts a dimensionless rate for a dimensionless state variable (read as
            // per second; several core types rely on it), so only dimensional states are checked.
            Some(Some(dim)) if dim.is_dimensionless() => {}
            Some(Some(dim)) => {
                if let Some(rate) = dim.checked_div(Dimension::TIME) {
                    expect_dim(ctx, scope, &td.value, Want::Quantity(rate), &format!("the time derivative of `{}`", td.variable));
                }
            }
            Some(None) => {}
        }
    }
    let blocks = b
        .on_start
        .iter()
        .map(|x| &x.actions)
        .chain(b.on_entry.iter().map(|x| &x.actions))
        .chain(b.on_conditions.iter().map(|x| &x.actions))
        .chain(b.on_events.iter().map(|x| &x.actions));
    let blocks: Vec<&Vec<Action>> = blocks.collect();
    for oc in &b.on_conditions {
        expect_dim(ctx, scope, &oc.test, Want::Boolean, "an `<OnCondition>` test");
    }
    for oe in &b.on_events {
        match scope.event_ports().find(|p| p.name == oe.port) {
            None => {
                let d = Diagnostic::error("unknown-port", format!("`{}` has no event port `{}`", scope.name(), oe.port)).at(oe.port_span);
                ctx.push(with_hint(d, &oe.port, scope.event_ports().map(|p| p.name.as_str())));
            }
            Some(p) if p.direction != PortDirection::In => {
                ctx.push(Diagnostic::error("unknown-port", format!("`<OnEvent>` listens on `{}`, which is an output port", oe.port)).at(oe.port_span));
            }
            Some(_) => {}
        }
    }
    for actions in blocks {
        for a in actions {
            match a {
                Action::StateAssignment { variable, value, at, .. } => match state_dim(variable) {
                    None => {
                        ctx.push(Diagnostic::error("undefined-symbol", format!("`{variable}` is not a state variable of `{}`", scope.name())).at(*at));
                    }
                    Some(Some(dim)) => expect_dim(ctx, scope, value, Want::Quantity(dim), &format!("the assignment to `{variable}`")),
                    Some(None) => {}
                },
                Action::EventOut { port, at, .. } => match scope.event_ports().find(|p| &p.name == port) {
                    None => {
                        let d = Diagnostic::error("unknown-port", format!("`{}` has no event port `{port}`", scope.name())).at(*at);
                        ctx.push(with_hint(d, port, scope.event_ports().map(|p| p.name.as_str())));
                    }
                    Some(p) if p.direction != PortDirection::Out => {
                        ctx.push(Diagnostic::error("unknown-port", format!("`<EventOut>` sends on `{port}`, which is an input port")).at(*at));
                    }
                    Some(_) => {}
                },
                Action::Transition { regime, at, .. } => {
                    if !regimes.contains(&regime.as_str()) {
                        let d = Diagnostic::error("unknown-regime", format!("no regime called `{regime}`")).at(*at);
                        ctx.push(with_hint(d, regime, regimes.iter().copied()));
                    }
                }
            }
        }
    }
}
