//! From the IR to a tree of instances.

use crate::ctype::{compile_type, CType, SlotKind};
use crate::rng::JavaRandom;
use crate::run::{EventFile, OutputFile};
use crate::SimError;
use myelin_ir::{Component, Model, StructureItem, TypeScope};
use rustc_hash::FxHashMap;

/// One running instance of a component.
#[derive(Debug)]
pub(crate) struct Inst<'m> {
    pub(crate) ty: u32,
    pub(crate) comp: Option<&'m Component>,
    /// The variables while the simulation is built; moved into [`Simulation::vals`] (at
    /// `base`, `len` of them) when it runs.
    pub(crate) vars: Vec<f64>,
    /// Exposed values as others see them (see [`crate::ctype::CType::exposed_slots`]); moved
    /// into [`Simulation::shadows`] like `vars`.
    pub(crate) shadow: Vec<f64>,
    /// Where slot `s` lies once running: `base + s * stride` (see [`Inst::at`]). Members of a
    /// batch are stored slot by slot across the batch (stride = batch size); everything else
    /// one instance after the other (stride 1).
    pub(crate) base: usize,
    pub(crate) stride: u32,
    /// A contiguous copy's place for a batch member (where scalar code works on it, see
    /// `Simulation::with_contiguous`); `base` itself otherwise.
    pub(crate) home: usize,
    pub(crate) len: u32,
    pub(crate) parent: Option<u32>,
    /// Advanced in this order, before the instance itself.
    pub(crate) children: Vec<u32>,
    /// Names a path can use to reach a child: child-slot names, ids, attachment containers.
    pub(crate) named: Vec<(&'m str, u32)>,
    /// Members of this instance's `MultiInstantiate`, by index.
    pub(crate) multi: Vec<u32>,
    /// Sources of each requirement slot: (instance, slot).
    pub(crate) req_links: Vec<(u32, u32)>,
    /// Sources of each `select` path: (instance, slot) per matched variable.
    pub(crate) select_links: Vec<Vec<(u32, u32)>>,
    /// Per out port: (target instance, in port, delay in s).
    pub(crate) out: Vec<Vec<(u32, u32, f64)>>,
    pub(crate) regime: Option<u32>,
    pub(crate) schemes: Vec<Scheme>,
}

impl Inst<'_> {
    /// Where the instance's variables lie in [`Simulation::vals`] (and its snapshot in
    /// [`Simulation::shadows`]) once the simulation runs.
    /// Only for instances stored contiguously (stride 1).
    pub(crate) fn range(&self) -> std::ops::Range<usize> {
        debug_assert_eq!(self.stride, 1, "a strided instance's variables are not one slice");
        self.base..self.base + self.len as usize
    }

    /// Where slot `slot` lies in [`Simulation::vals`] and [`Simulation::shadows`].
    pub(crate) fn at(&self, slot: usize) -> usize {
        self.base + slot * self.stride as usize
    }
}

/// A kinetic scheme of one instance: its states' occupancy slots and its transitions.
#[derive(Debug, Clone)]
pub(crate) struct Scheme {
    /// (state instance, occupancy slot)
    pub(crate) nodes: Vec<(u32, u32)>,
    /// (source node, target node, transition instance, forward-rate slot, reverse-rate slot)
    pub(crate) edges: Vec<(usize, usize, u32, u32, u32)>,
}

/// What the `<Simulation>` asks for.
#[derive(Debug, Clone)]
pub struct SimulationSpec {
    pub length: f64,
    pub step: f64,
    pub seed: i64,
    pub method: crate::Method,
    pub outputs: Vec<OutputFile>,
    pub events: Vec<EventFile>,
}

/// A built simulation, ready to run.
pub struct Simulation<'m> {
    pub(crate) model: &'m Model,
    pub(crate) types: Vec<CType>,
    pub(crate) type_index: FxHashMap<String, u32>,
    pub(crate) insts: Vec<Inst<'m>>,
    /// Every instance's variables, side by side (see [`Inst::range`]), and their exposure
    /// snapshots, once running.
    pub(crate) vals: Vec<f64>,
    pub(crate) shadows: Vec<f64>,
    pub(crate) root: u32,
    pub spec: SimulationSpec,
    /// Recorded columns: (instance, slot, scale) per output file.
    pub(crate) columns: Vec<Vec<(u32, u32, f64)>>,
    /// Event recorders: (instance, out port) → (file, id).
    pub(crate) event_taps: FxHashMap<(u32, u32), Vec<(usize, usize)>>,
    pub(crate) rng: JavaRandom,
    /// Scratch row for recording.
    pub(crate) row: Vec<f64>,
    /// Scratch rates of one instance (see `advance`).
    pub(crate) rate_buf: Vec<f64>,
    pub(crate) ids: FxHashMap<&'m str, &'m Component>,
    units: myelin_units::UnitTable,
    /// Whether identical linear synapses on one target share an instance (see [`crate::merge`]).
    merge: bool,
    /// Whether independent population members are stepped in batches (see [`crate::vector`]).
    pub(crate) batch: bool,
    /// Whether runs of scalar steps run as flat programs (see [`crate::flat`]).
    pub(crate) flat: bool,
    /// Whether flat programs are compiled to machine code (see `crate::jit`).
    #[cfg_attr(not(feature = "jit"), allow(dead_code))]
    pub(crate) jit: bool,
    /// See [`Simulation::flat_coverage`].
    pub(crate) coverage: (usize, usize),
    /// See [`Simulation::compiled_pieces`].
    pub(crate) compiled: usize,
    /// Per type: whether its instances may be merged (computed on first use).
    mergeable: FxHashMap<u32, bool>,
    /// Merged receivers: (target, component, container) → instances, each with how many
    /// connections it stands for.
    receivers: FxHashMap<(u32, usize, &'m str), Vec<u32>>,
    pub(crate) merged: FxHashMap<u32, u32>,
    /// Event handlers applied as plain additions (see `Plan::increments`), set when running.
    pub(crate) increments: crate::plan::Increments,
    /// Per type id: the type with its ancestors.
    scopes: Vec<std::rc::Rc<TypeScope<'m>>>,
    /// Per component (by address): its instances' starting values, which depend on the
    /// component alone.
    start_values: FxHashMap<(u32, usize), std::rc::Rc<[f64]>>,
    /// Per type id: whether it is a `cell`.
    is_cell: Vec<bool>,
    /// (parent type, child type) → the parent's `Children` collection the child belongs to.
    collections: FxHashMap<(u32, u32), Option<&'m str>>,
}

fn component_name(c: &Component) -> String {
    c.id.as_deref().unwrap_or(&c.tag).to_string()
}

impl<'m> Simulation<'m> {
    /// Builds the simulation `sim_id` (the `<Target>`'s component when `None`).
    pub fn build(model: &'m Model, sim_id: Option<&str>) -> Result<Self, SimError> {
        Self::build_with_options(model, sim_id, crate::Options::default())
    }

    /// [`Simulation::build`] with the engine's shortcuts chosen (see [`crate::Options`]).
    pub fn build_with_options(model: &'m Model, sim_id: Option<&str>, options: crate::Options) -> Result<Self, SimError> {
        let mut s = Self::build_with(model, sim_id, options.merge_synapses)?;
        s.batch = options.batch;
        s.flat = options.flat;
        s.jit = options.jit;
        if !options.merge_synapses {
            return Ok(s);
        }
        if s.merges_visible() {
            // Something records or reads one merged synapse by itself: build them one by one.
            let mut s = Self::build_with(model, sim_id, false)?;
            s.batch = options.batch;
            s.flat = options.flat;
            s.jit = options.jit;
        s.jit = options.jit;
            return Ok(s);
        }
        Ok(s)
    }

    /// Whether a merged instance is observed where the merge would show: recorded, tapped for
    /// events, or read by a `select` that does not add up its values.
    fn merges_visible(&self) -> bool {
        let is_merged = |i: u32| self.merged.get(&i).is_some_and(|&n| n > 1);
        if self.columns.iter().flatten().any(|&(i, _, _)| is_merged(i)) || self.event_taps.keys().any(|&(i, _)| is_merged(i)) {
            return true;
        }
        self.insts.iter().any(|inst| {
            let t = &self.types[inst.ty as usize];
            inst.select_links.iter().enumerate().any(|(k, links)| {
                t.selects[k].reduce != Some(myelin_ir::Reduce::Add) && links.iter().any(|&(j, _)| is_merged(j))
            }) || inst.req_links.iter().any(|&(j, _)| j != u32::MAX && is_merged(j))
        })
    }

    fn build_with(model: &'m Model, sim_id: Option<&str>, merge: bool) -> Result<Self, SimError> {
        let mut ids: FxHashMap<&str, &Component> = FxHashMap::default();
        for c in &model.components {
            if let Some(id) = &c.id {
                ids.entry(id.as_str()).or_insert(c);
            }
        }
        for c in &model.components {
            c.walk(&mut |k| {
                if let Some(id) = &k.id {
                    ids.entry(id.as_str()).or_insert(k);
                }
            });
        }
        let sim_id = match sim_id {
            Some(s) => s.to_string(),
            None => match model.targets.as_slice() {
                [t] => t.component.clone(),
                [] => {
                    let sims: Vec<&Component> = model.components.iter().filter(|c| model.is_a(&c.type_name, "Simulation")).collect();
                    match sims.as_slice() {
                        [s] => component_name(s),
                        [] => return Err(SimError::new("the model has no <Target> and no Simulation to run")),
                        _ => return Err(SimError::new("the model has several Simulations and no <Target>: name one")),
                    }
                }
                _ => return Err(SimError::new("the model has several <Target>s")),
            },
        };
        let sim = *ids.get(sim_id.as_str()).ok_or_else(|| SimError::new(format!("no component `{sim_id}` to run")))?;
        let units = model.unit_table();
        let mut s = Simulation {
            model,
            types: vec![],
            type_index: FxHashMap::default(),
            insts: vec![],
            vals: vec![],
            shadows: vec![],
            root: 0,
            spec: SimulationSpec { length: 0.0, step: 0.0, seed: 0, method: crate::Method::Euler, outputs: vec![], events: vec![] },
            columns: vec![],
            event_taps: FxHashMap::default(),
            rng: JavaRandom::new(0),
            row: vec![],
            rate_buf: vec![],
            ids,
            units,
            merge,
            batch: true,
            flat: true,
            coverage: (0, 0),
            compiled: 0,
            jit: true,
            mergeable: FxHashMap::default(),
            receivers: FxHashMap::default(),
            merged: FxHashMap::default(),
            increments: FxHashMap::default(),
            scopes: vec![],
            start_values: FxHashMap::default(),
            is_cell: vec![],
            collections: FxHashMap::default(),
        };
        s.read_simulation(sim)?;
        let target_id = sim.attribute("target").map(|a| a.value.clone()).ok_or_else(|| SimError::new("the Simulation has no `target`").at(sim.name_span))?;
        let target = *s.ids.get(target_id.as_str()).ok_or_else(|| SimError::new(format!("the Simulation's target `{target_id}` does not exist")).at(sim.name_span))?;
        s.root = s.instantiate(target, None, 0)?;
        // Connections create attachments, which may themselves need wiring: a worklist.
        let mut k = 0;
        while k < s.insts.len() {
            s.connect(k as u32)?;
            k += 1;
        }
        for k in 0..s.insts.len() {
            s.link(k as u32)?;
            s.link_schemes(k as u32)?;
        }
        s.rng = JavaRandom::new(s.spec.seed);
        s.wire_records(sim)?;
        Ok(s)
    }

    fn quantity(&self, text: &str, c: &Component) -> Result<f64, SimError> {
        myelin_units::parse_quantity(text, &self.units)
            .map(|q| q.si)
            .map_err(|e| SimError::new(format!("bad quantity `{text}` in `{}`: {e}", component_name(c))).at(c.name_span))
    }

    fn read_simulation(&mut self, sim: &'m Component) -> Result<(), SimError> {
        let get = |name: &str| sim.attribute(name).map(|a| a.value.clone());
        let length = get("length").ok_or_else(|| SimError::new("the Simulation has no `length`").at(sim.name_span))?;
        let step = get("step").ok_or_else(|| SimError::new("the Simulation has no `step`").at(sim.name_span))?;
        self.spec.length = self.quantity(&length, sim)?;
        self.spec.step = self.quantity(&step, sim)?;
        if self.spec.step.is_nan() || self.spec.step <= 0.0 || self.spec.length.is_nan() || self.spec.length < 0.0 {
            return Err(SimError::new("the Simulation needs step > 0 and length ≥ 0").at(sim.name_span));
        }
        // jLEMS seeds its generator with 1234 unless the Simulation gives a seed.
        self.spec.seed = get("seed").and_then(|s| s.trim().parse::<f64>().ok()).map_or(1234, |x| x as i64);
        Ok(())
    }

    pub(crate) fn type_id(&mut self, name: &str) -> Result<u32, SimError> {
        if let Some(&k) = self.type_index.get(name) {
            return Ok(k);
        }
        let t = compile_type(self.model, name)?;
        let scope = TypeScope::new(self.model, name).ok_or_else(|| SimError::new(format!("unknown type `{name}`")))?;
        let k = self.types.len() as u32;
        self.types.push(t);
        self.scopes.push(std::rc::Rc::new(scope));
        self.is_cell.push(self.model.is_a(name, "cell"));
        self.type_index.insert(name.to_string(), k);
        Ok(k)
    }

    /// Creates the instance of `c` (and, recursively, its children and structure).
    fn instantiate(&mut self, c: &'m Component, parent: Option<u32>, depth: usize) -> Result<u32, SimError> {
        if depth > 200 {
            return Err(SimError::new("instances are nested more than 200 levels deep").at(c.name_span));
        }
        let ty = self.type_id(&c.type_name).map_err(|e| e.at(c.name_span))?;
        let scope = self.scopes[ty as usize].clone();
        if self.is_cell[ty as usize] {
            let morphology = c.children.iter().find(|k| k.type_name == "morphology").or_else(|| {
                c.attribute("morphology").and_then(|a| self.ids.get(a.value.as_str()).copied())
            });
            let segments = morphology.map_or(0, |m| m.children.iter().filter(|k| k.type_name == "segment").count());
            if segments > 1 {
                return Err(SimError::new(format!(
                    "cell `{}` has {segments} segments: multi-compartment cells need a cable-equation solver, \
                     which myelin does not have yet (jNeuroML refuses them too)",
                    component_name(c)
                ))
                .at(c.name_span));
            }
        }
        if self.types[ty as usize].simultaneous {
            return Err(SimError::new(format!("`{}` asks for simultaneous dynamics, which myelin cannot simulate yet", c.type_name)).at(c.name_span));
        }
        let vars: Vec<f64> = self.start_values(c, ty, &scope)?.to_vec();
        let id = self.insts.len() as u32;
        let n_sel = self.types[ty as usize].selects.len();
        let n_req = self.types[ty as usize].requirements.len();
        let n_out = self.types[ty as usize].out_ports.len();
        self.insts.push(Inst {
            ty,
            comp: Some(c),
            shadow: vars.clone(),
            vars,
            base: 0,
            stride: 1,
            home: 0,
            len: 0,
            parent,
            children: vec![],
            named: vec![],
            multi: vec![],
            req_links: vec![(u32::MAX, 0); n_req],
            select_links: vec![vec![]; n_sel],
            out: vec![vec![]; n_out],
            regime: self.types[ty as usize].initial_regime,
            schemes: vec![],
        });
        // Children written inside the component.
        for k in &c.children {
            if k.tag == "annotation" || k.type_name.is_empty() || !self.model.component_types.contains_key(k.type_name.as_str()) {
                continue;
            }
            let child = self.instantiate(k, Some(id), depth + 1)?;
            self.insts[id as usize].children.push(child);
            self.insts[id as usize].named.push((k.tag.as_str(), child));
            if let Some(kid) = &k.id {
                self.insts[id as usize].named.push((kid.as_str(), child));
            }
            // Children collections are reachable by their collection name too.
            let child_ty = self.insts[child as usize].ty;
            let model = self.model;
            let collection = self
                .collections
                .entry((ty, child_ty))
                .or_insert_with(|| scope.children().find(|d| d.multiple && model.is_a(&k.type_name, &d.type_name)).map(|d| d.name.as_str()));
            if let Some(name) = *collection
                && name != k.tag
            {
                self.insts[id as usize].named.push((name, child));
            }
        }
        // Structure that creates instances.
        // The nearest type in the chain that declares a Structure defines it (a subtype's
        // Structure replaces its parent's).
        if let Some(st) = scope.chain.iter().find_map(|t| t.structure.as_ref()) {
            for item in &st.items {
                match item {
                    StructureItem::ChildInstance { component, span } => {
                        let target = self.referenced(c, id, component).map_err(|e| e.at(*span))?;
                        let child = self.instantiate(target, Some(id), depth + 1)?;
                        self.insts[id as usize].children.push(child);
                        if let Some(kid) = &target.id {
                            self.insts[id as usize].named.push((kid.as_str(), child));
                        }
                        self.insts[id as usize].named.push((component.trim_start_matches("../"), child));
                    }
                    StructureItem::MultiInstantiate { component: Some(component), number, span, .. } => {
                        let target = self.referenced(c, id, component).map_err(|e| e.at(*span))?;
                        let count_slot = self.types[ty as usize].slot(number);
                        let count = match count_slot {
                            Some(k) => self.insts[id as usize].vars[k as usize],
                            None => number.trim().parse::<f64>().map_err(|_| SimError::new(format!("MultiInstantiate number `{number}` is not known")).at(*span))?,
                        };
                        if !(0.0..=1e8).contains(&count) || count.fract() != 0.0 {
                            return Err(SimError::new(format!("cannot create {count} instances of `{}`", component_name(target))).at(c.name_span));
                        }
                        for _ in 0..count as usize {
                            let child = self.instantiate(target, Some(id), depth + 1)?;
                            self.insts[id as usize].multi.push(child);
                        }
                    }
                    StructureItem::MultiInstantiate { span, .. } => {
                        return Err(SimError::new("MultiInstantiate by componentType is not supported yet").at(*span));
                    }
                    StructureItem::ForEach { span, .. } => {
                        return Err(SimError::new("<ForEach> structure is not supported yet").at(*span));
                    }
                    StructureItem::With { .. } | StructureItem::EventConnection(_) => {}
                    StructureItem::Tunnel(_) => {}
                }
            }
        }
        Ok(id)
    }

    /// Parameter values (attributes, Fixed values, Property defaults, constants) and derived
    /// parameters of an instance of `c`: the same for every instance of `c`, so computed once.
    fn start_values(&mut self, c: &'m Component, ty: u32, scope: &TypeScope<'m>) -> Result<std::rc::Rc<[f64]>, SimError> {
        let t = &self.types[ty as usize];
        // Without parameters or properties the values depend on the type alone (a network's
        // connections: one computation for all of them).
        let by_component = t.slot_kinds.iter().any(|k| matches!(k, SlotKind::Parameter | SlotKind::Property));
        let key = (ty, if by_component { std::ptr::from_ref(c) as usize } else { 0 });
        if let Some(v) = self.start_values.get(&key) {
            return Ok(v.clone());
        }
        let mut vars = vec![0.0; t.len()];
        for (k, kind) in t.slot_kinds.iter().enumerate() {
            let name = &t.slot_names[k];
            let text = match kind {
                SlotKind::Parameter | SlotKind::Property => c
                    .attribute(name)
                    .map(|a| a.value.as_str())
                    .or_else(|| scope.fixed(name).map(|f| f.value.as_str()))
                    .or_else(|| scope.properties().find(|p| p.name == *name).and_then(|p| p.default_value.as_deref())),
                SlotKind::Constant => scope
                    .constants()
                    .find(|x| x.name == *name)
                    .map(|x| x.value.as_str())
                    .or_else(|| self.model.constants.get(name).map(|x| x.value.as_str())),
                _ => None,
            };
            if let Some(text) = text {
                vars[k] = self.quantity(text, c)?;
            }
        }
        for (slot, e) in &t.derived_parameters {
            vars[*slot as usize] = e.eval(&vars, &mut || 0.0);
        }
        let v: std::rc::Rc<[f64]> = vars.into();
        self.start_values.insert(key, v.clone());
        Ok(v)
    }

    /// The component a structure element names: `component` (an attribute of this component
    /// that references another by id) or `../component` (the parent's).
    fn referenced(&self, c: &'m Component, inst: u32, name: &str) -> Result<&'m Component, SimError> {
        let (owner, attr) = match name.strip_prefix("../") {
            Some(rest) => {
                let p = self.insts[inst as usize].parent.and_then(|p| self.insts[p as usize].comp).ok_or_else(|| SimError::new(format!("`{name}`: no parent")))?;
                (p, rest)
            }
            None => (c, name),
        };
        let value = owner
            .attribute(attr)
            .map(|a| a.value.as_str())
            .ok_or_else(|| SimError::new(format!("`{}` has no `{attr}` to instantiate", component_name(owner))).at(owner.name_span))?;
        self.ids.get(value).copied().ok_or_else(|| SimError::new(format!("`{value}` does not exist")).at(owner.name_span))
    }

    /// Resolves a path of instances: `..`, child names and ids, `[i]` and `/i/` indices into
    /// populations, relative to `base`.
    pub(crate) fn resolve_path(&self, base: u32, path: &str) -> Option<u32> {
        let mut cur = base;
        let mut after_index = false;
        for bit in path_bits(path) {
            if bit == ".." {
                cur = self.insts[cur as usize].parent?;
                after_index = false;
                continue;
            }
            let inst = &self.insts[cur as usize];
            let index = bit.strip_prefix('[').and_then(|b| b.strip_suffix(']')).unwrap_or(bit);
            if let Ok(i) = index.parse::<usize>() {
                if !inst.multi.is_empty() {
                    cur = *inst.multi.get(i)?;
                } else {
                    // populationList: <instance id="i"> children, each holding the cell it
                    // instantiates (named `component`).
                    let member = inst.children.iter().copied().find(|k| {
                        let ki = &self.insts[*k as usize];
                        ki.comp.is_some_and(|c| c.type_name == "instance" && c.id.as_deref() == Some(index))
                    })?;
                    let m = &self.insts[member as usize];
                    cur = m.named.iter().find(|(n, _)| *n == "component").map(|(_, k)| *k).or_else(|| m.children.first().copied())?;
                }
                after_index = true;
                continue;
            }
            // `container:id:index`: the index-th attachment with that component id.
            if let Some((container, rest)) = bit.split_once(':') {
                let (cid, idx) = rest.rsplit_once(':')?;
                let idx: usize = idx.parse().ok()?;
                let found = inst
                    .named
                    .iter()
                    .filter(|(n, k)| *n == container && self.insts[*k as usize].comp.and_then(|c| c.id.as_deref()) == Some(cid))
                    .nth(idx)?;
                cur = found.1;
                after_index = false;
                continue;
            }
            match inst.named.iter().find(|(n, _)| *n == bit) {
                Some((_, k)) => cur = *k,
                None if after_index => {
                    // `pop/0/cellType`: the component's own id or type after an index.
                    let c = inst.comp?;
                    if c.id.as_deref() != Some(bit) && c.type_name != bit {
                        return None;
                    }
                }
                None => return None,
            }
            after_index = false;
        }
        Some(cur)
    }

    /// A variable reachable from `base` by a path ending in a variable name.
    pub(crate) fn resolve_variable(&self, base: u32, path: &str) -> Option<(u32, u32)> {
        let (inst_path, var) = match path.rfind('/') {
            Some(k) => (&path[..k], &path[k + 1..]),
            None => ("", path),
        };
        let inst = if inst_path.is_empty() { base } else { self.resolve_path(base, inst_path)? };
        let t = &self.types[self.insts[inst as usize].ty as usize];
        let slot = t.exposures.get(var).copied().or_else(|| t.slot(var))?;
        Some((inst, slot))
    }

    /// Whether receivers of `comp` may be merged: its type qualifies (see [`crate::merge`])
    /// and it has no child components.
    fn merge_candidate(&mut self, comp: &'m Component) -> Result<bool, SimError> {
        if !self.merge || comp.children.iter().any(|k| k.tag != "annotation" && self.model.component_types.contains_key(k.type_name.as_str())) {
            return Ok(false);
        }
        let ty = self.type_id(&comp.type_name).map_err(|e| e.at(comp.name_span))?;
        if let Some(&ok) = self.mergeable.get(&ty) {
            return Ok(ok);
        }
        let ok = crate::merge::mergeable(self.model, &self.types[ty as usize].name);
        self.mergeable.insert(ty, ok);
        Ok(ok)
    }

    /// For a connection (instance `id`) onto `to` through a receiver of `comp`: an earlier
    /// receiver of the same component on the same target, with the same values once this
    /// connection's assignments are applied, when `comp` may be merged. That instance then
    /// receives this connection's events too, and no new one is made.
    fn merge_receiver(&mut self, id: u32, to: u32, comp: &'m Component, container: &'m str, assigns: &[myelin_ir::Assign]) -> Result<Option<u32>, SimError> {
        if !self.merge_candidate(comp)? {
            return Ok(None);
        }
        let key = (to, std::ptr::from_ref(comp) as usize, container);
        if !self.receivers.contains_key(&key) {
            return Ok(None);
        }
        let ty = self.type_id(&comp.type_name)?;
        let scope = self.scopes[ty as usize].clone();
        let start = self.start_values(comp, ty, &scope)?;
        let vars: std::borrow::Cow<'_, [f64]> = if assigns.is_empty() {
            std::borrow::Cow::Borrowed(&start)
        } else {
            let mut v = start.to_vec();
            for (slot, x) in self.assigned(id, ty, assigns)? {
                v[slot as usize] = x;
            }
            std::borrow::Cow::Owned(v)
        };
        let same = |a: &[f64]| a.len() == vars.len() && a.iter().zip(vars.iter()).all(|(x, y)| x.to_bits() == y.to_bits());
        let found = self.receivers[&key].iter().copied().find(|&p| same(&self.insts[p as usize].vars));
        if let Some(peer) = found {
            *self.merged.entry(peer).or_insert(1) += 1;
        }
        Ok(found)
    }

    /// `With` / `EventConnection`: event wiring and attachments.
    fn connect(&mut self, id: u32) -> Result<(), SimError> {
        let Some(c) = self.insts[id as usize].comp else { return Ok(()) };
        let scope = self.scopes[self.insts[id as usize].ty as usize].clone();
        let mut withs: Vec<(&'m str, u32)> = vec![];
        if let Some(st) = scope.chain.iter().find_map(|t| t.structure.as_ref()) {
            for item in &st.items {
                match item {
                    StructureItem::With { instance: Some(inst_attr), as_name, span, .. } => {
                        let path = c.attribute(inst_attr).map_or(inst_attr.as_str(), |a| a.value.as_str());
                        let base = match path {
                            "this" => Some(id),
                            "parent" => self.insts[id as usize].parent,
                            p if p.starts_with("./") => self.resolve_path(id, &p[2..]),
                            p => self.insts[id as usize].parent.and_then(|parent| self.resolve_path(parent, p)),
                        };
                        let target = base.ok_or_else(|| SimError::new(format!("cannot find `{path}` from `{}`", component_name(c))).at(*span).at(c.name_span))?;
                        withs.push((as_name.as_str(), target));
                    }
                    StructureItem::With { list: Some(list), index: Some(index), as_name, span, .. } => {
                        let target = self.list_member(id, c, list, index).ok_or_else(|| {
                            SimError::new(format!("cannot find member `{index}` of `{list}` from `{}`", component_name(c))).at(*span).at(c.name_span)
                        })?;
                        withs.push((as_name.as_str(), target));
                    }
                    StructureItem::With { span, .. } => {
                        return Err(SimError::new("<With> needs `instance`, or `list` and `index`").at(*span));
                    }
                    StructureItem::EventConnection(ec) => self.event_connection(id, c, ec, &withs)?,
                    StructureItem::Tunnel(tu) => self.tunnel(id, c, tu, &withs)?,
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// `<With list="presynapticPopulation" index="preCell">`: the population named by the
    /// list requirement (an attribute of this component or, as a ComponentRequirement, of an
    /// ancestor's), at the index this component's index parameter gives.
    fn list_member(&self, id: u32, c: &Component, list: &str, index: &str) -> Option<u32> {
        let mut owner = Some(id);
        let mut pop_name = None;
        while let Some(o) = owner {
            if let Some(a) = self.insts[o as usize].comp.and_then(|k| k.attribute(list)) {
                pop_name = Some((o, a.value.clone()));
                break;
            }
            owner = self.insts[o as usize].parent;
        }
        let (holder, pop_name) = pop_name?;
        let base = self.insts[holder as usize].parent?;
        let pop = self.resolve_path(base, &pop_name)?;
        let i: usize = c.attribute(index).and_then(|a| a.value.trim().parse().ok())?;
        self.resolve_path(pop, &format!("[{i}]")).or_else(|| self.resolve_path(pop, &i.to_string()))
    }

    /// `<Tunnel>`: a pair of components, one attached at each end, each seeing the other as its
    /// `name` (gap junctions, graded synapses).
    fn tunnel(&mut self, id: u32, c: &'m Component, tu: &'m myelin_ir::Tunnel, withs: &[(&'m str, u32)]) -> Result<(), SimError> {
        let get = |name: &str| withs.iter().rev().find(|(n, _)| *n == name).map(|(_, k)| k);
        let a = *get(&tu.end_a).ok_or_else(|| SimError::new(format!("Tunnel end `{}` is unknown", tu.end_a)).at(tu.span))?;
        let b = *get(&tu.end_b).ok_or_else(|| SimError::new(format!("Tunnel end `{}` is unknown", tu.end_b)).at(tu.span))?;
        let comp_a = self.referenced(c, id, &tu.component_a).map_err(|e| e.at(tu.span))?;
        let comp_b = self.referenced(c, id, &tu.component_b).map_err(|e| e.at(tu.span))?;
        let ia = self.attach(comp_a, a)?;
        let ib = self.attach(comp_b, b)?;
        self.insts[ia as usize].named.push((tu.name.as_str(), ib));
        self.insts[ib as usize].named.push((tu.name.as_str(), ia));
        for end in [ia, ib] {
            self.assign(id, end, &tu.assigns)?;
        }
        Ok(())
    }

    /// A new instance of `comp` attached to `to`'s first attachments container.
    fn attach(&mut self, comp: &'m Component, to: u32) -> Result<u32, SimError> {
        let inst = self.instantiate(comp, Some(to), 1)?;
        let container = self.scopes[self.insts[to as usize].ty as usize]
            .attachments()
            .next()
            .map_or("synapses", |a| a.name.as_str());
        self.insts[to as usize].children.push(inst);
        self.insts[to as usize].named.push((container, inst));
        Ok(inst)
    }

    /// `<Assign property=.. value=..>`: values computed in the connecting component, set on `dest`.
    fn assign(&mut self, id: u32, dest: u32, assigns: &[myelin_ir::Assign]) -> Result<(), SimError> {
        let values = self.assigned(id, self.insts[dest as usize].ty, assigns)?;
        for (slot, v) in values {
            self.insts[dest as usize].vars[slot as usize] = v;
            self.insts[dest as usize].shadow[slot as usize] = v;
        }
        Ok(())
    }

    /// The (slot, value) pairs `assigns` give an instance of type `dest_ty`, evaluated in
    /// instance `id`'s variables.
    fn assigned(&self, id: u32, dest_ty: u32, assigns: &[myelin_ir::Assign]) -> Result<Vec<(u32, f64)>, SimError> {
        let mut out = Vec::with_capacity(assigns.len());
        for a in assigns {
            let base_ty = &self.types[self.insts[id as usize].ty as usize];
            let parsed = a.value.parsed.as_ref().ok_or_else(|| SimError::new("unparsed Assign").at(a.span))?;
            let ce = crate::cexpr::compile(parsed, &|n| base_ty.slot(n)).map_err(|_| SimError::new(format!("cannot evaluate `{}`", a.value.text)).at(a.span))?;
            let v = ce.eval(&self.insts[id as usize].vars, &mut || 0.0);
            let dty = &self.types[dest_ty as usize];
            let slot = dty.slot(&a.property).ok_or_else(|| SimError::new(format!("`{}` has no property `{}`", dty.name, a.property)).at(a.span))?;
            out.push((slot, v));
        }
        Ok(out)
    }

    fn text_attr<'c>(c: &'c Component, name: &str) -> Option<&'c str> {
        c.attribute(name).map(|a| a.value.as_str())
    }

    fn event_connection(&mut self, id: u32, c: &'m Component, ec: &myelin_ir::EventConnection, withs: &[(&'m str, u32)]) -> Result<(), SimError> {
        let find = |name: &str| withs.iter().rev().find(|(n, _)| *n == name).map(|(_, k)| *k);
        let from = find(&ec.from).ok_or_else(|| SimError::new(format!("EventConnection from `{}`: unknown", ec.from)).at(ec.span))?;
        let to = find(&ec.to).ok_or_else(|| SimError::new(format!("EventConnection to `{}`: unknown", ec.to)).at(ec.span))?;
        let delay = match &ec.delay {
            Some(d) => {
                let t = &self.types[self.insts[id as usize].ty as usize];
                match t.slot(d) {
                    Some(k) => self.insts[id as usize].vars[k as usize],
                    None => 0.0,
                }
            }
            None => 0.0,
        };
        let source_port_name = ec.source_port.as_deref().and_then(|p| Self::text_attr(c, p));
        let target_port_name = ec.target_port.as_deref().and_then(|p| Self::text_attr(c, p));
        let receiver = match &ec.receiver {
            Some(r) => {
                let comp = self.referenced(c, id, r).map_err(|e| e.at(ec.span))?;
                let container: &'m str = match ec.receiver_container.as_deref().and_then(|x| Self::text_attr(c, x)) {
                    Some(x) => x,
                    None => self.scopes[self.insts[to as usize].ty as usize].attachments().next().map_or("synapses", |a| a.name.as_str()),
                };
                match self.merge_receiver(id, to, comp, container, &ec.assigns)? {
                    Some(peer) => Some(peer),
                    None => {
                        let inst = self.instantiate(comp, Some(to), 1)?;
                        // Assignments (e.g. weight) evaluated in the connection's own variables.
                        self.assign(id, inst, &ec.assigns)?;
                        self.insts[to as usize].children.push(inst);
                        self.insts[to as usize].named.push((container, inst));
                        if let Some(cid) = &comp.id {
                            self.insts[to as usize].named.push((cid.as_str(), inst));
                        }
                        if self.merge_candidate(comp)? {
                            let key = (to, std::ptr::from_ref(comp) as usize, container);
                            self.receivers.entry(key).or_default().push(inst);
                            self.merged.insert(inst, 1);
                        }
                        Some(inst)
                    }
                }
            }
            None => None,
        };
        let dest = receiver.unwrap_or(to);
        if receiver.is_none() {
            self.assign(id, dest, &ec.assigns)?;
        }
        let sty = &self.types[self.insts[from as usize].ty as usize];
        let out_port = match source_port_name {
            Some(p) => sty.out_ports.iter().position(|x| x == p),
            None => (!sty.out_ports.is_empty()).then_some(0),
        };
        let dty = &self.types[self.insts[dest as usize].ty as usize];
        let in_port = match target_port_name {
            Some(p) => dty.in_ports.iter().position(|x| x == p),
            None => (!dty.in_ports.is_empty()).then_some(0),
        };
        match (out_port, in_port) {
            (Some(o), Some(i)) => {
                self.insts[from as usize].out[o].push((dest, i as u32, delay));
                Ok(())
            }
            (None, _) => Err(SimError::new(format!("`{}` has no output port to connect", sty.name)).at(ec.span).at(c.name_span)),
            (_, None) => Err(SimError::new(format!("`{}` has no input port to connect", dty.name)).at(ec.span).at(c.name_span)),
        }
    }

    /// Requirements and `select` paths, once every instance exists.
    fn link(&mut self, id: u32) -> Result<(), SimError> {
        let ty = self.insts[id as usize].ty as usize;
        for (k, &slot) in self.types[ty].requirements.iter().enumerate() {
            let name = &self.types[ty].slot_names[slot as usize];
            let mut up = self.insts[id as usize].parent;
            let mut found = None;
            while let Some(p) = up {
                let pt = &self.types[self.insts[p as usize].ty as usize];
                if let Some(s) = pt.exposures.get(name).copied().or_else(|| pt.slot(name)) {
                    found = Some((p, s));
                    break;
                }
                up = self.insts[p as usize].parent;
            }
            let Some(link) = found else {
                let c = self.insts[id as usize].comp;
                return Err(SimError::new(format!("`{}` requires `{name}`, which no enclosing component provides", self.types[ty].name))
                    .at_opt(c.map(|c| c.name_span)));
            };
            self.insts[id as usize].req_links[k] = link;
        }
        for k in 0..self.types[ty].selects.len() {
            let sel = self.types[ty].selects[k].clone();
            let links = self.select(id, &sel.path);
            if links.is_empty() && sel.required {
                return Err(SimError::new(format!("required path `{}` of `{}` matches nothing", sel.path, self.types[ty].name)));
            }
            if sel.reduce.is_none() && links.len() > 1 {
                return Err(SimError::new(format!("path `{}` of `{}` matches {} values but has no `reduce`", sel.path, self.types[ty].name, links.len())));
            }
            self.insts[id as usize].select_links[k] = links;
        }
        Ok(())
    }

    /// Kinetic schemes: nodes are the children collection `nodes`, edges the collection
    /// `edges`, whose `edgeSource`/`edgeTarget` attributes name nodes by id. All occupancy
    /// starts in the first node.
    fn link_schemes(&mut self, id: u32) -> Result<(), SimError> {
        let ty = self.insts[id as usize].ty as usize;
        let defs = self.types[ty].kinetic_schemes.clone();
        for ks in &defs {
            let members = |name: &str| -> Vec<u32> { self.insts[id as usize].named.iter().filter(|(n, _)| *n == name).map(|(_, k)| *k).collect() };
            let node_insts = members(&ks.nodes);
            let edge_insts = members(&ks.edges);
            let mut nodes = vec![];
            for &n in &node_insts {
                let nt = &self.types[self.insts[n as usize].ty as usize];
                let slot = nt.slot(&ks.state_variable).ok_or_else(|| SimError::new(format!("kinetic scheme `{}`: `{}` has no `{}`", ks.name, nt.name, ks.state_variable)).at(ks.span))?;
                nodes.push((n, slot));
            }
            let node_index = |sim: &Self, name: &str| node_insts.iter().position(|&n| sim.insts[n as usize].comp.and_then(|c| c.id.as_deref()) == Some(name));
            let mut edges = vec![];
            for &e in &edge_insts {
                let comp = self.insts[e as usize].comp.ok_or_else(|| SimError::new("kinetic scheme edge without a component").at(ks.span))?;
                let end = |attr: &str| -> Result<usize, SimError> {
                    let v = comp.attribute(attr).map(|a| a.value.as_str()).unwrap_or("");
                    node_index(self, v).ok_or_else(|| SimError::new(format!("kinetic scheme `{}`: transition names unknown state `{v}`", ks.name)).at(comp.name_span))
                };
                let (src, tgt) = (end(&ks.edge_source)?, end(&ks.edge_target)?);
                let et = &self.types[self.insts[e as usize].ty as usize];
                let rate = |name: &str| et.exposures.get(name).copied().or_else(|| et.slot(name));
                let (f, r) = match (rate(&ks.forward_rate), rate(&ks.reverse_rate)) {
                    (Some(f), Some(r)) => (f, r),
                    _ => return Err(SimError::new(format!("kinetic scheme `{}`: `{}` lacks its rates", ks.name, et.name)).at(comp.name_span)),
                };
                edges.push((src, tgt, e, f, r));
            }
            for (k, &(n, slot)) in nodes.iter().enumerate() {
                let v = if k == 0 { 1.0 } else { 0.0 };
                self.insts[n as usize].vars[slot as usize] = v;
                self.insts[n as usize].shadow[slot as usize] = v;
            }
            self.insts[id as usize].schemes.push(Scheme { nodes, edges });
        }
        Ok(())
    }

    /// `select` paths: `child/var`, `children[*]/var`, `children[attr='x']/var`, nested.
    fn select(&self, base: u32, path: &str) -> Vec<(u32, u32)> {
        let mut current = vec![base];
        let bits: Vec<&str> = path.split('/').collect();
        let (var, steps) = bits.split_last().map_or(("", &bits[..0]), |(v, s)| (*v, s));
        for step in steps {
            let (name, pred) = match step.find('[') {
                Some(k) => (&step[..k], Some(step[k + 1..].trim_end_matches(']'))),
                None => (*step, None),
            };
            let mut next = vec![];
            for &i in &current {
                for (n, k) in &self.insts[i as usize].named {
                    if *n != name || next.contains(k) {
                        continue;
                    }
                    let keep = match pred {
                        None | Some("*") => true,
                        Some(p) => match p.split_once('=') {
                            Some((attr, val)) => {
                                let val = val.trim().trim_matches('\'').trim_matches('"');
                                self.insts[*k as usize].comp.and_then(|c| c.attribute(attr.trim())).is_some_and(|a| a.value == val)
                            }
                            None => false,
                        },
                    };
                    if keep {
                        next.push(*k);
                    }
                }
            }
            current = next;
        }
        current
            .into_iter()
            .filter_map(|i| {
                let t = &self.types[self.insts[i as usize].ty as usize];
                t.exposures.get(var).copied().or_else(|| t.slot(var)).map(|s| (i, s))
            })
            .collect()
    }

    /// Output files and event files of the Simulation, with their columns resolved.
    fn wire_records(&mut self, sim: &'m Component) -> Result<(), SimError> {
        for out in sim.children.iter().filter(|k| self.model.is_a(&k.type_name, "OutputFile")) {
            let file = out.attribute("fileName").map(|a| a.value.to_string()).ok_or_else(|| SimError::new("OutputFile without fileName").at(out.name_span))?;
            let mut cols = vec![];
            let mut names = vec![];
            for col in out.children.iter().filter(|k| self.model.is_a(&k.type_name, "OutputColumn")) {
                let q = col.attribute("quantity").map(|a| a.value.as_str()).unwrap_or("");
                let (inst, slot) = self
                    .resolve_variable(self.root, q)
                    .ok_or_else(|| SimError::new(format!("cannot find the quantity `{q}` to record")).at(col.name_span))?;
                let scale = match col.attribute("scale") {
                    Some(a) => self.quantity(&a.value, col)?,
                    None => 1.0,
                };
                cols.push((inst, slot, scale));
                names.push(component_name(col));
            }
            self.spec.outputs.push(OutputFile { file_name: file, columns: names, span: out.name_span });
            self.columns.push(cols);
        }
        for ev in sim.children.iter().filter(|k| self.model.is_a(&k.type_name, "EventOutputFile")) {
            let file = ev.attribute("fileName").map(|a| a.value.to_string()).ok_or_else(|| SimError::new("EventOutputFile without fileName").at(ev.name_span))?;
            let format = ev.attribute("format").map_or("TIME_ID".to_string(), |a| a.value.to_string());
            let file_index = self.spec.events.len();
            let mut selections = vec![];
            for sel in ev.children.iter().filter(|k| self.model.is_a(&k.type_name, "EventSelection")) {
                let path = sel.attribute("select").map(|a| a.value.as_str()).unwrap_or("");
                let port = sel.attribute("eventPort").map(|a| a.value.as_str()).unwrap_or("spike");
                let inst = self.resolve_path(self.root, path).ok_or_else(|| SimError::new(format!("cannot find `{path}` to record events from")).at(sel.name_span))?;
                let t = &self.types[self.insts[inst as usize].ty as usize];
                let p = t.out_ports.iter().position(|x| x == port).ok_or_else(|| SimError::new(format!("`{path}` has no event port `{port}`")).at(sel.name_span))?;
                let id: usize = sel.id.as_deref().and_then(|s| s.parse().ok()).unwrap_or(selections.len());
                self.event_taps.entry((inst, p as u32)).or_default().push((file_index, id));
                selections.push(id);
            }
            self.spec.events.push(EventFile { file_name: file, format, span: ev.name_span });
        }
        Ok(())
    }

    /// Number of instances (for summaries).
    pub fn instance_count(&self) -> usize {
        self.insts.len()
    }

    /// Of the last run's scalar instance steps per time step (after the first few, see
    /// `crate::plan`), how many ran as flat code: (flat, all).
    pub fn flat_coverage(&self) -> (usize, usize) {
        self.coverage
    }

    /// How many pieces of the last run's flat programs ran as machine code (always 0 without
    /// the `jit` feature).
    pub fn compiled_pieces(&self) -> usize {
        self.compiled
    }
}

/// The steps of a path: `a/b[3]/../c` gives `a`, `b`, `[3]`, `..`, `c` (empty and `.` steps
/// dropped).
fn path_bits(path: &str) -> impl Iterator<Item = &str> + '_ {
    path.split('/').filter(|b| !b.is_empty() && *b != ".").flat_map(|seg| {
        let first = seg.find('[').unwrap_or(seg.len());
        let head = (first > 0).then(|| &seg[..first]);
        let mut rest = &seg[first..];
        let indices = std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            let end = rest[1..].find('[').map_or(rest.len(), |k| k + 1);
            let (bit, tail) = rest.split_at(end);
            rest = tail;
            Some(bit)
        });
        head.into_iter().chain(indices)
    })
}

trait AtOpt {
    fn at_opt(self, span: Option<myelin_diag::Span>) -> Self;
}

impl AtOpt for SimError {
    fn at_opt(self, span: Option<myelin_diag::Span>) -> Self {
        match span {
            Some(s) => self.at(s),
            None => self,
        }
    }
}

impl Simulation<'_> {
    /// Chooses the integration method. Methods other than Euler evaluate rates at intermediate
    /// states, which is only well defined when each component's dynamics read nothing but its
    /// own variables (a single TVBO model, a FitzHugh-Nagumo cell): anything else is refused.
    pub fn set_method(&mut self, method: crate::Method) -> Result<(), SimError> {
        if method != crate::Method::Euler {
            for inst in &self.insts {
                let t = &self.types[inst.ty as usize];
                if t.body.rates.is_empty() && t.regimes.iter().all(|r| r.body.rates.is_empty()) {
                    continue;
                }
                let reads_others = !t.requirements.is_empty() || t.derived.iter().any(|d| matches!(d, crate::ctype::Derive::Select(..)));
                let why = if reads_others {
                    Some("its dynamics read other components")
                } else if !t.regimes.is_empty() {
                    Some("it has regimes")
                } else if !t.kinetic_schemes.is_empty() {
                    Some("it has kinetic schemes")
                } else {
                    None
                };
                if let Some(why) = why {
                    return Err(SimError::new(format!(
                        "--method {method:?} needs components whose dynamics read only their own state; `{}` cannot use it because {why} (use --method euler)",
                        t.name
                    ))
                    .at_opt(inst.comp.map(|c| c.name_span)));
                }
            }
        }
        self.spec.method = method;
        Ok(())
    }

    /// Reseeds `random()`.
    pub fn set_seed(&mut self, seed: i64) {
        self.spec.seed = seed;
        self.rng = JavaRandom::new(seed);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn path_bits_split_steps_and_indices() {
        fn bits(p: &str) -> Vec<&str> {
            super::path_bits(p).collect()
        }
        assert_eq!(bits("../IzPop0[0]"), ["..", "IzPop0", "[0]"]);
        assert_eq!(bits("net/pop[2][3]/./v"), ["net", "pop", "[2]", "[3]", "v"]);
        assert_eq!(bits("hhpop[0]/bioPhys1/membraneProperties"), ["hhpop", "[0]", "bioPhys1", "membraneProperties"]);
        assert_eq!(bits("/a//b/"), ["a", "b"]);
        assert_eq!(bits("syns:syn0:3"), ["syns:syn0:3"]);
    }
}
