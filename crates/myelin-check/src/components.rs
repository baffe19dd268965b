//! Checks of components against their types: attributes, quantities, references, children,
//! ids.

use crate::scope::TypeScope;
use crate::suggest::did_you_mean;
use crate::Ctx;
use myelin_diag::Diagnostic;
use myelin_ir::*;
use std::collections::HashMap;

/// Components with ids, by id: top-level ones first, then nested ones (which references may
/// also name).
pub(crate) fn id_index(model: &Model) -> HashMap<&str, &Component> {
    let mut index: HashMap<&str, &Component> = HashMap::new();
    for c in &model.components {
        if let Some(id) = &c.id {
            index.entry(id.as_str()).or_insert(c);
        }
    }
    for c in model.all_components() {
        if let Some(id) = &c.id {
            index.entry(id.as_str()).or_insert(c);
        }
    }
    index
}

pub(crate) fn check(ctx: &mut Ctx<'_>) {
    let model = ctx.model;
    let ids = id_index(model);
    duplicate_ids(ctx, &model.components, "the document");
    for c in &model.components {
        check_component(ctx, &ids, c, None, 0);
    }
    for t in &model.targets {
        if !ids.contains_key(t.component.as_str()) {
            let d = Diagnostic::error("dangling-reference", format!("`<Target>` names `{}`, but no component has that id", t.component)).at(t.span);
            ctx.push(hint(d, &t.component, ids.keys().copied()));
        }
    }
}

fn hint<'a>(d: Diagnostic, name: &str, cands: impl IntoIterator<Item = &'a str>) -> Diagnostic {
    match did_you_mean(name, cands) {
        Some(h) => d.with_note(h),
        None => d,
    }
}

fn duplicate_ids(ctx: &mut Ctx<'_>, siblings: &[Component], place: &str) {
    let mut first: HashMap<&str, &Component> = HashMap::new();
    for c in siblings {
        let Some(id) = c.id.as_deref() else { continue };
        if let Some(prev) = first.get(id) {
            ctx.push(
                Diagnostic::error("duplicate-id", format!("id `{id}` is used twice in {place}"))
                    .at(c.name_span)
                    .with_label(prev.name_span, "first used here"),
            );
        } else {
            first.insert(id, c);
        }
    }
}

/// Units of a given dimension, for hints.
fn units_of(ctx: &Ctx<'_>, dim: Dimension) -> Vec<String> {
    ctx.units.iter().filter(|u| u.dimension == dim).map(|u| u.symbol.clone()).take(6).collect()
}

fn check_component(ctx: &mut Ctx<'_>, ids: &HashMap<&str, &Component>, c: &Component, parent: Option<(&Component, &TypeScope<'_>)>, depth: usize) {
    let model = ctx.model;
    if c.tag == "annotation" {
        return; // metadata, kept verbatim
    }
    let Some(scope) = TypeScope::new(model, &c.type_name) else {
        let what = if c.explicit_type || c.lems_style { format!("unknown component type `{}`", c.type_name) } else { format!("unknown element or component type `<{}>`", c.tag) };
        let span = if c.explicit_type { c.attribute("type").map_or(c.name_span, |a| a.value_span) } else { c.name_span };
        let mut d = Diagnostic::error("unknown-type", what).at(span);
        d = hint(d, &c.type_name, model.component_types.keys().map(String::as_str));
        if let Some((_, ps)) = parent {
            let slots: Vec<String> = ps.children().map(|k| k.name.clone()).collect();
            if !slots.is_empty() {
                d = d.with_note(format!("`{}` accepts the children: {}", ps.name(), slots.join(", ")));
            }
        }
        // Attributes and children of an unknown type cannot be checked.
        ctx.push(d);
        return;
    };
    if let Some((p, ps)) = parent {
        check_child_slot(ctx, c, p, ps);
    }
    check_attributes(ctx, ids, c, &scope);
    if c.children.len() > 1 {
        duplicate_ids(ctx, &c.children, &format!("`{}`", c.id.as_deref().unwrap_or(&c.tag)));
    }
    if depth < 512 {
        for k in &c.children {
            check_component(ctx, ids, k, Some((c, &scope)), depth + 1);
        }
    }
}

/// A nested component must fill a `<Child>`, `<Children>` or `<Attachments>` slot of its
/// parent's type, with a compatible type.
fn check_child_slot(ctx: &mut Ctx<'_>, c: &Component, parent: &Component, ps: &TypeScope<'_>) {
    let model = ctx.model;
    // By name: <forwardRate type="HHExpRate"> in a slot called forwardRate.
    if let Some(decl) = ps.children().find(|d| d.name == c.tag) {
        if !model.is_a(&c.type_name, &decl.type_name) {
            ctx.push(
                Diagnostic::error("wrong-type", format!("`{}` must be a `{}`, but `{}` is not", decl.name, decl.type_name, c.type_name))
                    .at(c.name_span),
            );
        }
        return;
    }
    // By type: <population> in a slot <Children name="populations" type="population">.
    if ps.children().any(|d| model.is_a(&c.type_name, &d.type_name)) || ps.attachments().any(|d| model.is_a(&c.type_name, &d.type_name)) {
        return;
    }
    let slots: Vec<String> = ps.children().map(|k| format!("{} ({})", k.name, k.type_name)).collect();
    let mut d = Diagnostic::error(
        "unexpected-child",
        format!("`<{}>` cannot contain `<{}>`", parent.tag, c.tag),
    )
    .at(c.name_span);
    d = if slots.is_empty() {
        d.with_note(format!("`{}` declares no children", ps.name()))
    } else {
        d.with_note(format!("`{}` accepts: {}", ps.name(), slots.join(", ")))
    };
    ctx.push(d);
}

fn check_attributes(ctx: &mut Ctx<'_>, ids: &HashMap<&str, &Component>, c: &Component, scope: &TypeScope<'_>) {
    let model = ctx.model;
    for a in &c.attributes {
        if let Some(p) = scope.parameter(&a.name) {
            check_quantity(ctx, a, &p.dimension, &format!("parameter `{}`", a.name));
        } else if let Some(p) = scope.properties().find(|p| p.name == a.name) {
            check_quantity(ctx, a, &p.dimension, &format!("property `{}`", a.name));
        } else if scope.index_parameters().any(|p| p.name == a.name) {
            if a.value.trim().parse::<u64>().is_err() {
                ctx.push(Diagnostic::error("bad-number", format!("`{}` must be a non-negative integer, found `{}`", a.name, a.value)).at(a.value_span));
            }
        } else if let Some(r) = scope.component_references().find(|r| r.name == a.name) {
            match ids.get(a.value.as_str()) {
                None => {
                    let d = Diagnostic::error(
                        "dangling-reference",
                        format!("`{}` refers to `{}`, but no component has that id", a.name, a.value),
                    )
                    .at(a.value_span)
                    .with_note(format!("expected the id of a `{}`", r.type_name));
                    let cands: Vec<&str> = ids.iter().filter(|(_, k)| model.is_a(&k.type_name, &r.type_name)).map(|(id, _)| *id).collect();
                    ctx.push(hint(d, &a.value, cands));
                }
                // jLEMS does not check the referenced component's type, and NeuroML relies on
                // that (a population of `spikeArray`s refers to a `baseCell`), so neither do we.
                Some(_) => {}
            }
        } else if scope.texts().any(|x| x.name == a.name)
            || scope.paths().any(|x| x.name == a.name)
            || scope.links().any(|x| x.name == a.name)
            || scope.fixed(&a.name).is_some()
            || crate::neuroml::schema_allows(model, &c.type_name, &a.name)
        {
            // Free text, paths into the instance tree and links are checked where they are used.
        } else {
            let mut names: Vec<&str> = scope.parameters().map(|p| p.name.as_str()).collect();
            names.extend(scope.texts().map(|p| p.name.as_str()));
            names.extend(scope.paths().map(|p| p.name.as_str()));
            names.extend(scope.component_references().map(|p| p.name.as_str()));
            names.extend(scope.properties().map(|p| p.name.as_str()));
            let d = Diagnostic::error("unknown-attribute", format!("`{}` has no attribute `{}`", scope.name(), a.name)).at(a.name_span);
            let d = match did_you_mean(&a.name, names.iter().copied()) {
                Some(h) => d.with_note(h),
                None if !names.is_empty() => d.with_note(format!("`{}` takes: {}", scope.name(), names.join(", "))),
                None => d,
            };
            ctx.push(d);
        }
    }
    for p in scope.parameters() {
        if c.attribute(&p.name).is_none() && scope.fixed(&p.name).is_none() {
            ctx.push(
                Diagnostic::error("missing-parameter", format!("`{}` needs a value for parameter `{}` ({})", c.id.as_deref().unwrap_or(&c.tag), p.name, dim_label(&p.dimension)))
                    .at(c.name_span),
            );
        }
    }
}

fn dim_label(name: &str) -> String {
    if name.is_empty() || name == "none" { "dimensionless".to_string() } else { name.to_string() }
}

fn check_quantity(ctx: &mut Ctx<'_>, a: &Attribute, dim_name: &str, what: &str) {
    if is_any_dimension(dim_name) {
        // `*`: any dimension, but still a well-formed quantity.
        if let Err(e) = myelin_units::parse_quantity(&a.value, &ctx.units) {
            ctx.push(Diagnostic::error(if matches!(e, myelin_units::QuantityError::UnknownUnit(_)) { "unknown-unit" } else { "bad-quantity" }, format!("bad value `{}` for {what}: {e}", a.value)).at(a.value_span));
        }
        return;
    }
    let Some(want) = ctx.model.dimension(dim_name) else { return }; // reported with the type
    match myelin_units::parse_quantity(&a.value, &ctx.units) {
        Ok(q) => {
            if q.dimension != want {
                let mut d = match &q.unit {
                    Some(u) => Diagnostic::error(
                        "wrong-dimension",
                        format!("{what} is a {}, but `{u}` is a unit of {}", dim_label(dim_name), unit_dim_name(ctx, u)),
                    ),
                    None => Diagnostic::error("wrong-dimension", format!("{what} is a {} and needs a unit, but `{}` has none", dim_label(dim_name), a.value)),
                };
                let examples = units_of(ctx, want);
                if !examples.is_empty() {
                    d = d.with_note(format!("units of {}: {}", dim_label(dim_name), examples.join(", ")));
                }
                ctx.push(d.at(a.value_span));
            }
        }
        Err(myelin_units::QuantityError::UnknownUnit(u)) => {
            let mut d = Diagnostic::error("unknown-unit", format!("unknown unit `{u}` in {what}")).at(a.value_span);
            let same_dim: Vec<String> = units_of(ctx, want);
            d = match did_you_mean(&u, ctx.units.iter().map(|x| x.symbol.as_str())) {
                Some(h) => d.with_note(h),
                None if !same_dim.is_empty() => d.with_note(format!("units of {}: {}", dim_label(dim_name), same_dim.join(", "))),
                None => d,
            };
            ctx.push(d);
        }
        Err(e) => ctx.push(Diagnostic::error("bad-quantity", format!("bad value `{}` for {what}: {e}", a.value)).at(a.value_span)),
    }
}

fn unit_dim_name(ctx: &Ctx<'_>, symbol: &str) -> String {
    ctx.units.get(symbol).map(|u| u.dimension_name.clone()).unwrap_or_default()
}
