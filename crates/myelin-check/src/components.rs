//! Checks of components against their types: attributes, quantities, references, children,
//! ids.

use myelin_ir::TypeScope;
use myelin_diag::suggest::did_you_mean;
use crate::Ctx;
use myelin_diag::Diagnostic;
use myelin_ir::*;
use rustc_hash::FxHashMap as HashMap;
use std::rc::Rc;

/// Components with ids, by id: top-level ones first, then nested ones (which references may
/// also name).
pub(crate) type Ids<'m> = HashMap<&'m str, &'m Component>;

pub(crate) fn id_index(model: &Model) -> Ids<'_> {
    fn count(c: &Component) -> usize {
        usize::from(c.id.is_some()) + c.children.iter().map(count).sum::<usize>()
    }
    let n = model.components.iter().map(count).sum();
    let mut index: HashMap<&str, &Component> = HashMap::with_capacity_and_hasher(n, Default::default());
    for c in &model.components {
        if let Some(id) = &c.id {
            index.entry(id.as_str()).or_insert(c);
        }
    }
    for c in &model.components {
        c.walk(&mut |k| {
            if let Some(id) = &k.id {
                index.entry(id.as_str()).or_insert(k);
            }
        });
    }
    index
}

/// How a type reads one of its attributes.
#[derive(Clone, Copy)]
enum AttrKind<'m> {
    /// A quantity of the named dimension (Parameter, Property).
    /// The dimension itself is looked up once, with the type (`None` when it is unknown).
    Quantity(&'m str, &'static str, Option<Dimension>),
    /// A non-negative integer (IndexParameter).
    Index,
    /// The id of another component (ComponentReference).
    Reference(&'m str),
    /// Text, Path, Link, a Fixed parameter, or metadata the NeuroML schema allows.
    Free,
}

/// What the checker needs to know about a type, computed once per type.
struct TypeInfo<'m> {
    scope: TypeScope<'m>,
    attrs: HashMap<&'m str, AttrKind<'m>>,
    /// Parameters an instance must set (not fixed by the type).
    required: Vec<&'m Named>,
}

impl<'m> TypeInfo<'m> {
    fn new(model: &'m Model, scope: TypeScope<'m>) -> Self {
        let mut attrs: HashMap<&str, AttrKind<'_>> = HashMap::default();
        // Later inserts do not override earlier ones: the most derived declaration wins, and
        // parameters take precedence over the other kinds, as in `check_attribute` before.
        let mut put = |k: &'m str, v: AttrKind<'m>| {
            attrs.entry(k).or_insert(v);
        };
        for p in scope.parameters() {
            put(&p.name, AttrKind::Quantity(&p.dimension, "parameter", model.dimension(&p.dimension)));
        }
        for p in scope.properties() {
            put(&p.name, AttrKind::Quantity(&p.dimension, "property", model.dimension(&p.dimension)));
        }
        for p in scope.index_parameters() {
            put(&p.name, AttrKind::Index);
        }
        for r in scope.component_references() {
            put(&r.name, AttrKind::Reference(&r.type_name));
        }
        for x in scope.texts().chain(scope.paths()) {
            put(&x.name, AttrKind::Free);
        }
        for x in scope.links() {
            put(&x.name, AttrKind::Free);
        }
        for t in &scope.chain {
            for f in &t.fixed {
                put(&f.parameter, AttrKind::Free);
            }
        }
        for name in crate::neuroml::schema_only_attributes(model, scope.name()) {
            put(name, AttrKind::Free);
        }
        // A parameter without a name was reported where it is declared.
        let required = scope.parameters().filter(|p| !p.name.is_empty() && scope.fixed(&p.name).is_none()).collect();
        TypeInfo { scope, attrs, required }
    }

    /// Names an instance may set, for hints.
    fn attribute_names(&self) -> Vec<&'m str> {
        let mut names: Vec<&str> = self.scope.parameters().map(|p| p.name.as_str()).collect();
        names.extend(self.scope.texts().map(|p| p.name.as_str()));
        names.extend(self.scope.paths().map(|p| p.name.as_str()));
        names.extend(self.scope.component_references().map(|p| p.name.as_str()));
        names.extend(self.scope.properties().map(|p| p.name.as_str()));
        names
    }
}

/// Per-run caches: type information and type compatibility.
struct Cache<'m> {
    types: HashMap<&'m str, Option<Rc<TypeInfo<'m>>>>,
    is_a: HashMap<(&'m str, &'m str), bool>,
}

impl<'m> Cache<'m> {
    fn info(&mut self, model: &'m Model, name: &'m str) -> Option<Rc<TypeInfo<'m>>> {
        self.types
            .entry(name)
            .or_insert_with(|| TypeScope::new(model, name).map(|s| Rc::new(TypeInfo::new(model, s))))
            .clone()
    }

    fn is_a(&mut self, model: &'m Model, name: &'m str, ancestor: &'m str) -> bool {
        *self.is_a.entry((name, ancestor)).or_insert_with(|| model.is_a(name, ancestor))
    }
}

pub(crate) fn check(ctx: &mut Ctx<'_>) {
    let model = ctx.model;
    let ids = ctx.ids;
    let mut cache = Cache { types: HashMap::default(), is_a: HashMap::default() };
    duplicate_ids(ctx, &model.components, "the document");
    for c in &model.components {
        check_component(ctx, &mut cache, ids, c, None, 0, &mut Siblings::default());
    }
    for t in &model.targets {
        if !ids.contains_key(t.component.as_str()) {
            let d = Diagnostic::error("dangling-reference", format!("`<Target>` names `{}`, but no component has that id", t.component)).at(t.component_span);
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
    let mut first: HashMap<&str, &Component> = HashMap::with_capacity_and_hasher(siblings.len(), Default::default());
    for c in siblings {
        let Some(id) = c.id.as_deref() else { continue };
        if let Some(prev) = first.get(id) {
            ctx.push(
                Diagnostic::error("duplicate-id", format!("id `{id}` is used twice in {place}"))
                    .at(c.id_span.unwrap_or(c.name_span))
                    .with_label(prev.id_span.unwrap_or(prev.name_span), "first used here"),
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

/// What siblings share, remembered from one to the next: they mostly repeat one tag and type
/// (a projection's connections), so the type is looked up, and the pair's fit to the parent's
/// slots decided, once.
#[derive(Default)]
struct Siblings<'m> {
    /// The type looked up last, by name.
    info: Option<(&'m str, Option<Rc<TypeInfo<'m>>>)>,
    /// The last (tag, type) pair found to fit the parent.
    fits_parent: Option<(&'m str, &'m str)>,
}

fn check_component<'m>(
    ctx: &mut Ctx<'m>,
    cache: &mut Cache<'m>,
    ids: &HashMap<&'m str, &'m Component>,
    c: &'m Component,
    parent: Option<(&'m Component, &TypeInfo<'m>)>,
    depth: usize,
    siblings: &mut Siblings<'m>,
) {
    let model = ctx.model;
    if c.tag == "annotation" {
        return; // metadata, kept verbatim
    }
    if c.type_name.is_empty() {
        return; // `<Component>` without `type`: reported by the reader
    }
    let info = match &siblings.info {
        Some((name, info)) if *name == c.type_name => info.clone(),
        _ => {
            let info = cache.info(model, &c.type_name);
            siblings.info = Some((&c.type_name, info.clone()));
            info
        }
    };
    let Some(info) = info else {
        let what = if c.explicit_type || c.lems_style { format!("unknown component type `{}`", c.type_name) } else { format!("unknown element or component type `<{}>`", c.tag) };
        let span = if c.explicit_type { c.type_span.unwrap_or(c.name_span) } else { c.name_span };
        let mut d = Diagnostic::error("unknown-type", what).at(span);
        d = hint(d, &c.type_name, model.component_types.keys().map(String::as_str));
        if let Some((_, pi)) = parent {
            let slots: Vec<String> = pi.scope.children().map(|k| k.name.clone()).collect();
            if !slots.is_empty() {
                d = d.with_note(format!("`{}` accepts the children: {}", pi.scope.name(), slots.join(", ")));
            }
        }
        // Attributes and children of an unknown type cannot be checked.
        ctx.push(d);
        return;
    };
    if let Some((p, pi)) = parent {
        let known = siblings.fits_parent.is_some_and(|(tag, ty)| tag == c.tag && ty == c.type_name);
        if !known && check_child_slot(ctx, cache, c, p, pi) {
            siblings.fits_parent = Some((&c.tag, &c.type_name));
        }
    }
    check_attributes(ctx, ids, c, &info);
    if c.children.len() > 1 {
        duplicate_ids(ctx, &c.children, &format!("`{}`", c.id.as_deref().unwrap_or(&c.tag)));
    }
    if depth < 512 {
        let mut siblings = Siblings::default();
        for k in &c.children {
            check_component(ctx, cache, ids, k, Some((c, &info)), depth + 1, &mut siblings);
        }
    }
}

/// A nested component must fill a `<Child>`, `<Children>` or `<Attachments>` slot of its
/// parent's type, with a compatible type.
fn check_child_slot<'m>(ctx: &mut Ctx<'m>, cache: &mut Cache<'m>, c: &'m Component, parent: &Component, pi: &TypeInfo<'m>) -> bool {
    let model = ctx.model;
    let ps = &pi.scope;
    // By name: <forwardRate type="HHExpRate"> in a slot called forwardRate.
    if let Some(decl) = ps.children().find(|d| d.name == c.tag) {
        if !cache.is_a(model, &c.type_name, &decl.type_name) {
            ctx.push(
                Diagnostic::error("wrong-type", format!("`{}` must be a `{}`, but `{}` is not", decl.name, decl.type_name, c.type_name))
                    .at(c.name_span),
            );
            return false;
        }
        return true;
    }
    // By type: <population> in a slot <Children name="populations" type="population">.
    let fits = ps.children().any(|d| cache.is_a(model, &c.type_name, &d.type_name))
        || ps.attachments().any(|d| cache.is_a(model, &c.type_name, &d.type_name));
    if fits {
        return true;
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
    false
}

fn check_attributes<'m>(ctx: &mut Ctx<'m>, ids: &HashMap<&'m str, &'m Component>, c: &'m Component, info: &TypeInfo<'m>) {
    let model = ctx.model;
    for a in &c.attributes {
        match info.attrs.get(a.name.as_str()) {
            Some(AttrKind::Quantity(dim, what, want)) => check_quantity(ctx, a, dim, *want, what),
            Some(AttrKind::Index) => {
                if a.value.trim().parse::<u64>().is_err() {
                    ctx.push(Diagnostic::error("bad-number", format!("`{}` must be a non-negative integer, found `{}`", a.name, a.value)).at(a.value_span));
                }
            }
            Some(AttrKind::Reference(ty)) => {
                if let Some(target) = ids.get(a.value.as_str()) {
                    if !reference_fits(model, &target.type_name, ty) {
                        ctx.push(
                            Diagnostic::error(
                                "wrong-type",
                                format!("`{}` must refer to a `{ty}`, but `{}` is a `{}`", a.name, a.value, target.type_name),
                            )
                            .at(a.value_span),
                        );
                    }
                } else {
                    let d = Diagnostic::error(
                        "dangling-reference",
                        format!("`{}` refers to `{}`, but no component has that id", a.name, a.value),
                    )
                    .at(a.value_span)
                    .with_note(format!("expected the id of a `{ty}`"));
                    let cands: Vec<&str> = ids.iter().filter(|(_, k)| model.is_a(&k.type_name, ty)).map(|(id, _)| *id).collect();
                    ctx.push(hint(d, &a.value, cands));
                }
            }
            // Free text, paths into the instance tree and links are checked where they are used.
            Some(AttrKind::Free) => {}
            None => {
                let names = info.attribute_names();
                let name = info.scope.name();
                let d = Diagnostic::error("unknown-attribute", format!("`{name}` has no attribute `{}`", a.name)).at(a.name_span);
                let d = match did_you_mean(&a.name, names.iter().copied()) {
                    Some(h) => d.with_note(h),
                    None if !names.is_empty() => d.with_note(format!("`{name}` takes: {}", names.join(", "))),
                    None => d,
                };
                ctx.push(d);
            }
        }
    }
    for p in &info.required {
        if c.attribute(&p.name).is_none() {
            ctx.push(
                Diagnostic::error("missing-parameter", format!("`{}` needs a value for parameter `{}` ({})", c.id.as_deref().unwrap_or(&c.tag), p.name, dim_label(&p.dimension)))
                    .at(c.name_span),
            );
        }
    }
}

/// Types NeuroML accepts where the core types' ComponentReference names another (the core types
/// are looser than the language: a population of spike sources refers to a `baseCell`, inputs
/// with dimensionless currents stand for `basePointCurrent`s, a `populationList` is a
/// `population`).
const ACCEPTED_FOR: &[(&str, &str)] = &[
    ("baseCell", "baseSpikeSource"),
    ("basePointCurrent", "basePointCurrentDL"),
    ("basePointCurrent", "baseSpikeSource"),
    ("population", "basePopulation"),
];

/// Whether a component of type `actual` may be referenced where `wanted` is declared.
fn reference_fits(model: &Model, actual: &str, wanted: &str) -> bool {
    // Untyped or unknown targets are reported elsewhere.
    !model.component_types.contains_key(actual)
        || model.is_a(actual, wanted)
        || ACCEPTED_FOR.iter().any(|(w, alt)| *w == wanted && model.is_a(actual, alt))
}

fn dim_label(name: &str) -> String {
    if name.is_empty() || name == "none" { "dimensionless".to_string() } else { name.to_string() }
}

/// Checks a quantity attribute; `kind` is `parameter` or `property`, for messages.
/// `want` is `ctx.model.dimension(dim_name)`.
fn check_quantity(ctx: &mut Ctx<'_>, a: &Attribute, dim_name: &str, want: Option<Dimension>, kind: &str) {
    let what = &format_args!("{kind} `{}`", a.name);
    if is_any_dimension(dim_name) {
        // `*`: any dimension, but still a well-formed quantity.
        if let Err(e) = myelin_units::parse_quantity_ref(&a.value, ctx.units) {
            ctx.push(Diagnostic::error(if matches!(e, myelin_units::QuantityError::UnknownUnit(_)) { "unknown-unit" } else { "bad-quantity" }, format!("bad value `{}` for {what}: {e}", a.value)).at(a.value_span));
        }
        return;
    }
    let Some(want) = want else { return }; // reported with the type
    match myelin_units::parse_quantity_ref(&a.value, ctx.units) {
        Ok((_, dimension, unit)) => {
            if dimension != want {
                let mut d = match unit {
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
