//! NeuroML's own rules, beyond what the LEMS core types say (the checks `jnml -validate` runs
//! through the XSD and its semantic tests).

use crate::Ctx;
use myelin_diag::Diagnostic;
use myelin_ir::{Component, Model};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

/// Attributes that NeuroML's schema allows on every element although no core type declares them
/// (metadata, not interpreted by the model).
pub(crate) const SCHEMA_ONLY_ANY: &[&str] = &["metaid", "neuroLexId"];

/// Attributes the NeuroML 2.3 schema allows on an element that its LEMS core type does not
/// declare, by type name (from the XSD, `NeuroML_v2.3.1.xsd`).
const SCHEMA_ONLY: &[(&str, &[&str])] = &[
    ("cell", &["biophysicalProperties", "morphology"]),
    ("cell2CaPools", &["biophysicalProperties", "morphology"]),
    ("channelDensity", &["segment"]),
    ("channelDensityGHK", &["segment"]),
    ("channelDensityGHK2", &["segment"]),
    ("channelDensityNernst", &["segment"]),
    ("channelDensityNernstCa2", &["segment"]),
    ("channelDensityVShift", &["segment"]),
    ("channelPopulation", &["segment", "segmentGroup"]),
    ("continuousConnection", &["postFractionAlong", "postSegment", "preFractionAlong", "preSegment"]),
    ("electricalConnection", &["postFractionAlong", "postSegment", "preFractionAlong", "preSegment"]),
    ("initMembPotential", &["segmentGroup"]),
    ("instance", &["i", "j", "k"]),
    ("network", &["temperature"]),
    ("population", &["extracellularProperties"]),
    ("region", &["space"]),
    ("spikeThresh", &["segmentGroup"]),
    ("q10Fixed", &["experimentalTemp"]),
];

/// The attributes NeuroML's schema allows on a component of type `type_name` (or any type it
/// extends) beyond what the core types declare.
pub(crate) fn schema_only_attributes(model: &Model, type_name: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = SCHEMA_ONLY_ANY.to_vec();
    for t in model.type_chain(type_name) {
        for (name, attrs) in SCHEMA_ONLY {
            if *name == t.name {
                out.extend_from_slice(attrs);
            }
        }
    }
    out
}

pub(crate) fn check(ctx: &mut Ctx<'_>) {
    let model = ctx.model;
    let ids = ctx.ids;
    let mut is_cell: HashMap<&str, bool> = HashMap::default();
    // Siblings mostly share a type: the last answer is kept at hand.
    let mut last: Option<(&str, bool)> = None;
    for c in model.all_components() {
        match c.type_name.as_str() {
            "populationList" => population_list_size(ctx, c),
            "morphology" => morphology(ctx, c),
            "network" | "networkWithTemperature" => network(ctx, c, ids),
            _ => {}
        }
        let cell = match last {
            Some((ty, cell)) if ty == c.type_name => cell,
            _ => {
                let cell = *is_cell.entry(c.type_name.as_str()).or_insert_with(|| model.is_a(&c.type_name, "cell"));
                last = Some((&c.type_name, cell));
                cell
            }
        };
        if cell {
            for key in ["morphology", "biophysicalProperties"] {
                if let Some(a) = c.attribute(key)
                    && !ids.contains_key(a.value.as_str()) {
                        ctx.push(
                            Diagnostic::error("dangling-reference", format!("`{key}` refers to `{}`, but no component has that id", a.value))
                                .at(a.value_span),
                        );
                    }
            }
            cell_regions(ctx, c, ids);
        }
    }
}

/// A cell's morphology: its `<morphology>` child, or the top-level one its `morphology=` names.
fn part_of<'m>(cell: &'m Component, ids: &HashMap<&str, &'m Component>, model: &Model, ty: &str) -> Option<&'m Component> {
    cell.children
        .iter()
        .find(|k| model.is_a(&k.type_name, ty))
        .or_else(|| cell.attribute(ty).and_then(|a| ids.get(a.value.as_str()).copied()))
}

/// Segment and segment-group ids of a morphology.
fn segments_and_groups(m: &Component) -> (HashSet<&str>, HashSet<&str>) {
    let segments = m.children.iter().filter(|k| k.type_name == "segment").filter_map(|k| k.id.as_deref()).collect();
    let groups = m.children.iter().filter(|k| k.type_name == "segmentGroup").filter_map(|k| k.id.as_deref()).collect();
    (segments, groups)
}

/// Channel densities, capacitances and the like name segment groups and segments of the cell's
/// morphology; they must exist (`all` stands for the whole cell even when not declared).
fn cell_regions(ctx: &mut Ctx<'_>, cell: &Component, ids: &HashMap<&str, &Component>) {
    let model = ctx.model;
    let Some(morph) = part_of(cell, ids, model, "morphology") else { return };
    let Some(bio) = part_of(cell, ids, model, "biophysicalProperties") else { return };
    let (segments, groups) = segments_and_groups(morph);
    bio.walk(&mut |k| {
        for a in &k.attributes {
            let missing = match a.name.as_str() {
                "segmentGroup" => a.value != "all" && !groups.contains(a.value.as_str()),
                "segment" => !segments.contains(a.value.as_str()),
                _ => false,
            };
            if missing {
                let what = if a.name == "segment" { "segment" } else { "segment group" };
                ctx.push(
                    Diagnostic::error(
                        "dangling-reference",
                        format!("{what} `{}` does not exist in the morphology of cell `{}`", a.value, cell.id.as_deref().unwrap_or("")),
                    )
                    .at(a.value_span),
                );
            }
        }
    });
}

/// `<population type="populationList" size="3">` must hold exactly `size` `<instance>`s.
fn population_list_size(ctx: &mut Ctx<'_>, c: &Component) {
    let Some(size) = c.attribute("size") else { return };
    let instances = c.children.iter().filter(|k| k.type_name == "instance").count();
    match size.value.trim().parse::<usize>() {
        Ok(n) if n == instances => {}
        // A warning: the instances decide what is simulated (the core type declares `size` as
        // metadata), and an official example (Ex26) has this mismatch. `--strict` makes it fail.
        Ok(n) => ctx.push(
            Diagnostic::warning(
                "population-size",
                format!("population `{}` has size {n}, but lists {instances} instance{}", c.id.as_deref().unwrap_or(""), if instances == 1 { "" } else { "s" }),
            )
            .at(size.value_span),
        ),
        Err(_) => ctx.push(Diagnostic::error("bad-number", format!("population size must be a non-negative integer, found `{}`", size.value)).at(size.value_span)),
    }
}

/// Segments' parents and segment groups' members and includes must exist in the morphology.
fn morphology(ctx: &mut Ctx<'_>, m: &Component) {
    let segments: HashSet<&str> = m.children.iter().filter(|k| k.type_name == "segment").filter_map(|k| k.id.as_deref()).collect();
    let groups: HashSet<&str> = m.children.iter().filter(|k| k.type_name == "segmentGroup").filter_map(|k| k.id.as_deref()).collect();
    for seg in m.children.iter().filter(|k| k.type_name == "segment") {
        for p in seg.children.iter().filter(|k| k.type_name == "parent") {
            if let Some(a) = p.attribute("segment")
                && !segments.contains(a.value.as_str()) {
                    ctx.push(
                        Diagnostic::error("dangling-reference", format!("parent segment `{}` does not exist in this morphology", a.value))
                            .at(a.value_span),
                    );
                }
        }
    }
    for g in m.children.iter().filter(|k| k.type_name == "segmentGroup") {
        for k in &g.children {
            let (key, set, what) = match k.type_name.as_str() {
                "member" => ("segment", &segments, "segment"),
                "include" => ("segmentGroup", &groups, "segment group"),
                _ => continue,
            };
            if let Some(a) = k.attribute(key)
                && !set.contains(a.value.as_str()) {
                    ctx.push(
                        Diagnostic::error("dangling-reference", format!("{what} `{}` does not exist in this morphology", a.value)).at(a.value_span),
                    );
                }
        }
    }
}

/// Populations named by projections, connections and inputs must exist, and cell indices must
/// be within the population's size.
fn network<'m>(ctx: &mut Ctx<'m>, net: &'m Component, ids: &HashMap<&'m str, &'m Component>) {
    // population id -> segment ids of its cell type (when the cell has a morphology)
    let mut pop_segments: HashMap<&str, HashSet<&str>> = HashMap::default();
    for p in net.children.iter().filter(|k| ctx.model.is_a(&k.type_name, "basePopulation")) {
        let (Some(id), Some(comp)) = (p.id.as_deref(), p.attribute("component")) else { continue };
        let Some(cell) = ids.get(comp.value.as_str()) else { continue };
        if let Some(m) = part_of(cell, ids, ctx.model, "morphology") {
            pop_segments.insert(id, segments_and_groups(m).0);
        }
    }
    // population id -> size (None when unknown)
    let mut pops: HashMap<&str, Option<usize>> = HashMap::default();
    for p in net.children.iter().filter(|k| ctx.model.is_a(&k.type_name, "basePopulation")) {
        let Some(id) = p.id.as_deref() else { continue };
        let size = if p.type_name == "populationList" {
            Some(p.children.iter().filter(|k| k.type_name == "instance").count())
        } else {
            p.attribute("size").and_then(|a| a.value.trim().parse::<usize>().ok())
        };
        pops.insert(id, size);
    }
    let pop_ref = |ctx: &mut Ctx<'_>, c: &Component, key: &str| -> Option<(String, Option<usize>)> {
        let a = c.attribute(key)?;
        match pops.get(a.value.as_str()) {
            Some(size) => Some((a.value.to_string(), *size)),
            None => {
                let d = Diagnostic::error("dangling-reference", format!("`{key}` refers to population `{}`, which is not in network `{}`", a.value, net.id.as_deref().unwrap_or("")))
                    .at(a.value_span);
                let d = match myelin_diag::suggest::did_you_mean(&a.value, pops.keys().copied()) {
                    Some(h) => d.with_note(h),
                    None => d,
                };
                ctx.push(d);
                None
            }
        }
    };
    for k in &net.children {
        let ty = k.type_name.as_str();
        let model = ctx.model;
        if model.is_a(ty, "projection") || model.is_a(ty, "electricalProjection") || model.is_a(ty, "continuousProjection") {
            let pre = pop_ref(ctx, k, "presynapticPopulation");
            let post = pop_ref(ctx, k, "postsynapticPopulation");
            for conn in &k.children {
                // One pass over the attributes (a network has hundreds of thousands of
                // connections), then the checks in a fixed order.
                let mut cells: [Option<&myelin_ir::Attribute>; 4] = [None; 4];
                let mut segs: [Option<&myelin_ir::Attribute>; 4] = [None; 4];
                for a in &conn.attributes {
                    // A `match` compiles to a switch on the length and one comparison.
                    let slot = match a.name.as_str() {
                        "preCellId" => &mut cells[0],
                        "postCellId" => &mut cells[1],
                        "preCell" => &mut cells[2],
                        "postCell" => &mut cells[3],
                        "preSegmentId" => &mut segs[0],
                        "postSegmentId" => &mut segs[1],
                        "preSegment" => &mut segs[2],
                        "postSegment" => &mut segs[3],
                        _ => continue,
                    };
                    slot.get_or_insert(a);
                }
                for (a, pop) in cells.into_iter().zip([&pre, &post, &pre, &post]) {
                    if let (Some(a), Some((name, size))) = (a, pop) {
                        cell_index(ctx, a, name, *size, &pops);
                    }
                }
                for (a, pop) in segs.into_iter().zip([&pre, &post, &pre, &post]) {
                    let (Some(a), Some((name, _))) = (a, pop) else { continue };
                    if let Some(segs) = pop_segments.get(name.as_str())
                        && !segs.contains(a.value.trim()) {
                            ctx.push(
                                Diagnostic::error("dangling-reference", format!("segment `{}` does not exist in the cells of population `{name}`", a.value))
                                    .at(a.value_span),
                            );
                        }
                }
            }
        } else if ty == "inputList" || model.is_a(ty, "inputList") {
            let pop = pop_ref(ctx, k, "population");
            for input in &k.children {
                if let (Some(a), Some((name, size))) = (input.attribute("target"), &pop) {
                    cell_index(ctx, a, name, *size, &pops);
                }
            }
        } else if ty == "explicitInput"
            && let Some(a) = k.attribute("target") {
                target_path(ctx, a, &pops);
            }
    }
}

/// A cell reference inside a projection or input list: `../pop/3/cell`, `../pop[3]`, or a bare
/// index.
fn cell_index(ctx: &mut Ctx<'_>, a: &myelin_ir::Attribute, pop: &str, size: Option<usize>, pops: &HashMap<&str, Option<usize>>) {
    let v = trim(&a.value);
    let index = if v.starts_with("../") {
        // `../pop[3]` or `../pop/3/cell`: the usual form, not a bare index.
        match parse_cell_path(v) {
            Some((p, i)) if p == pop => Some(i),
            Some((p, _)) => {
                if !pops.contains_key(p) {
                    ctx.push(Diagnostic::error("dangling-reference", format!("`{}` names population `{p}`, which does not exist", a.name)).at(a.value_span));
                } else {
                    ctx.push(
                        Diagnostic::error("dangling-reference", format!("`{}` names population `{p}`, but the projection connects `{pop}`", a.name))
                            .at(a.value_span),
                    );
                }
                return;
            }
            None => None,
        }
    } else if let Ok(i) = v.parse::<usize>() {
        Some(i)
    } else {
        match parse_cell_path(v) {
            Some((p, i)) => {
                if p != pop {
                    if !pops.contains_key(p) {
                        ctx.push(Diagnostic::error("dangling-reference", format!("`{}` names population `{p}`, which does not exist", a.name)).at(a.value_span));
                        return;
                    }
                    if p != pop {
                        ctx.push(
                            Diagnostic::error("dangling-reference", format!("`{}` names population `{p}`, but the projection connects `{pop}`", a.name))
                                .at(a.value_span),
                        );
                        return;
                    }
                }
                Some(i)
            }
            None => None,
        }
    };
    if let (Some(i), Some(n)) = (index, size)
        && i >= n {
            ctx.push(
                Diagnostic::error("dangling-reference", format!("`{}` refers to cell {i} of `{pop}`, which has only {n} cell{}", a.name, if n == 1 { "" } else { "s" }))
                    .at(a.value_span),
            );
        }
}

/// `pop[3]` or `pop/3/cell` as an explicit input's target.
fn target_path(ctx: &mut Ctx<'_>, a: &myelin_ir::Attribute, pops: &HashMap<&str, Option<usize>>) {
    let Some((p, i)) = parse_cell_path(a.value.trim()) else { return };
    match pops.get(p) {
        None => ctx.push(Diagnostic::error("dangling-reference", format!("target population `{p}` is not in this network")).at(a.value_span)),
        Some(Some(n)) if i >= *n => ctx.push(
            Diagnostic::error("dangling-reference", format!("target `{}` refers to cell {i} of `{p}`, which has only {n} cell{}", a.value, if *n == 1 { "" } else { "s" }))
                .at(a.value_span),
        ),
        Some(_) => {}
    }
}

/// Parses `../pop/3/cell`, `../pop[3]`, `pop[3]`, `pop/3/cell` into (population, index).
fn parse_cell_path(v: &str) -> Option<(&str, usize)> {
    let v = v.strip_prefix("../").unwrap_or(v);
    if let Some(open) = v.bytes().position(|b| b == b'[') {
        let close = v.as_bytes()[open..].iter().position(|&b| b == b']')? + open;
        let i = parse_index(trim(&v[open + 1..close]))?;
        return Some((&v[..open], i));
    }
    let mut parts = v.split('/');
    let pop = parts.next()?;
    let i = parse_index(parts.next()?)?;
    Some((pop, i))
}

/// `s.parse::<usize>().ok()`, with a fast path for plain digits (every connection of a
/// network names two cells).
fn parse_index(s: &str) -> Option<usize> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    s.bytes().try_fold(0usize, |n, b| n.checked_mul(10)?.checked_add(usize::from(b - b'0')))
}

/// `s.trim()`, without looking at characters when the ends are plainly not whitespace.
fn trim(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(a), Some(z)) if a.is_ascii_graphic() && z.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cell_paths() {
        assert_eq!(super::parse_cell_path("../pop/3/cell"), Some(("pop", 3)));
        assert_eq!(super::parse_cell_path("../pop[12]"), Some(("pop", 12)));
        assert_eq!(super::parse_cell_path("pop[0]"), Some(("pop", 0)));
        assert_eq!(super::parse_cell_path("pop"), None);
        assert_eq!(super::parse_cell_path("../pop[ 7 ]"), Some(("pop", 7)));
        assert_eq!(super::parse_cell_path("pop/+4/cell"), Some(("pop", 4)));
        assert_eq!(super::parse_cell_path("pop[99999999999999999999999]"), None);
        assert_eq!(super::trim(" a\u{a0}"), "a");
        assert_eq!(super::trim("a"), "a");
    }
}
