//! Stepping: jLEMS's order, events, recording.

use crate::build::Simulation;
use crate::ctype::{CAction, Derive};
use crate::flat::{Chunk, Flat};
use crate::plan::{InstPlan, Link, Plan, Step};
use crate::vector::Io;
use myelin_diag::Span;
use myelin_ir::Reduce;

/// An `OutputFile`: where jNeuroML writes it (relative to the LEMS file) and its columns.
#[derive(Debug, Clone)]
pub struct OutputFile {
    pub file_name: String,
    pub columns: Vec<String>,
    pub span: Span,
}

/// An `EventOutputFile`: `TIME_ID` or `ID_TIME` lines.
#[derive(Debug, Clone)]
pub struct EventFile {
    pub file_name: String,
    pub format: String,
    pub span: Span,
}

/// Where results go while the simulation runs.
pub trait Sink {
    /// One row of output file `file`: the time and the recorded values, in SI.
    fn row(&mut self, file: usize, t: f64, values: &[f64]);
    /// An event recorded into event file `file`.
    fn event(&mut self, file: usize, t: f64, id: usize);
    /// Called every `every` steps with the number of steps done (for progress reports).
    fn progress(&mut self, _done: u64, _total: u64) {}
}

/// A `select`'s values folded as its `reduce` says (without one, the first value; 0 if none).
pub(crate) fn reduce(how: Option<Reduce>, values: impl Iterator<Item = f64>) -> f64 {
    let mut values = values;
    match how {
        Some(Reduce::Add) => values.sum(),
        Some(Reduce::Multiply) => values.product(),
        None => values.next().unwrap_or(0.0),
    }
}

/// A batch step: its kernel, its members and how their variables are stored.
#[derive(Clone, Copy)]
struct Batch<'a> {
    kernel: &'a crate::vector::Kernel,
    members: &'a [u32],
    layout: &'a Layout,
    inputs: Option<&'a Inputs>,
}

/// What a batch's members read from other instances before their kernel runs, as flat lists
/// of places in the packed arrays: requirements, then `select` sums.
#[derive(Clone, Debug, Default)]
struct Inputs {
    /// (destination, source, through the snapshot)
    pulls: Vec<(usize, usize, bool)>,
    /// (destination, reduce, sources as a range of `sources`)
    selects: Vec<(usize, Option<Reduce>, std::ops::Range<usize>)>,
    sources: Vec<(usize, bool)>,
}

impl Inputs {
    /// `None` when a member derives its selects one by one (no block).
    fn of(sim: &Simulation<'_>, members: &[u32], plans: &[InstPlan]) -> Option<Inputs> {
        let mut x = Inputs::default();
        for &i in members {
            let p = &plans[i as usize];
            let inst = &sim.insts[i as usize];
            for l in &p.pulls {
                x.pulls.push((inst.at(l.dst as usize), l.at, l.shadow));
            }
            match &p.block {
                Some((selects, _)) => {
                    for sel in selects {
                        let from = x.sources.len();
                        x.sources.extend(sel.at.iter().copied());
                        x.selects.push((inst.at(sel.slot as usize), sel.reduce, from..x.sources.len()));
                    }
                }
                None if !p.derived.is_empty() => return None,
                None => {}
            }
        }
        Some(x)
    }

    fn apply(&self, vals: &mut [f64], shadows: &[f64]) {
        for &(dst, src, shadow) in &self.pulls {
            vals[dst] = if shadow { shadows[src] } else { vals[src] };
        }
        for (dst, how, range) in &self.selects {
            let values = self.sources[range.clone()].iter().map(|&(at, shadow)| if shadow { shadows[at] } else { vals[at] });
            vals[*dst] = reduce(*how, values);
        }
    }
}

/// Where a batch's members keep their variables.
#[derive(Clone, Debug)]
enum Layout {
    /// Slot `s` of member `k` at `start + s * n + k`: every slot a contiguous column.
    Columns { start: usize, n: usize },
    /// Anywhere: each member's (base, stride).
    Scattered(Vec<(usize, usize)>),
}

impl Layout {
    fn of(insts: &[crate::build::Inst<'_>], members: &[u32]) -> Layout {
        let n = members.len();
        let first = &insts[members[0] as usize];
        let columns = first.stride as usize == n
            && members.iter().enumerate().all(|(k, &i)| insts[i as usize].stride as usize == n && insts[i as usize].base == first.base + k);
        if columns {
            Layout::Columns { start: first.base, n }
        } else {
            Layout::Scattered(members.iter().map(|&i| (insts[i as usize].base, insts[i as usize].stride as usize)).collect())
        }
    }

    /// Copies slot `slot` of every member into `col`.
    fn get(&self, from: &[f64], slot: usize, col: &mut [f64]) {
        match self {
            Layout::Columns { start, n } => col.copy_from_slice(&from[start + slot * n..][..*n]),
            Layout::Scattered(at) => {
                for (c, &(b, st)) in col.iter_mut().zip(at) {
                    *c = from[b + slot * st];
                }
            }
        }
    }

    /// Writes `col` into slot `slot` of every member.
    fn put(&self, to: &mut [f64], slot: usize, col: &[f64]) {
        match self {
            Layout::Columns { start, n } => to[start + slot * n..][..*n].copy_from_slice(col),
            Layout::Scattered(at) => {
                for (c, &(b, st)) in col.iter().zip(at) {
                    to[b + slot * st] = *c;
                }
            }
        }
    }

    /// Copies slot `slot` of every member from `vals` into `shadows`.
    fn expose(&self, vals: &[f64], shadows: &mut [f64], slot: usize) {
        match self {
            Layout::Columns { start, n } => {
                let r = start + slot * n..start + slot * n + n;
                shadows[r.clone()].copy_from_slice(&vals[r]);
            }
            Layout::Scattered(at) => {
                for &(b, st) in at {
                    shadows[b + slot * st] = vals[b + slot * st];
                }
            }
        }
    }
}

/// What the general path of one step needs besides the simulation.
struct StepCtx<'a> {
    plans: &'a [InstPlan],
    kernels: &'a [crate::vector::Kernel],
    layouts: &'a [Layout],
    inputs: &'a [Option<Inputs>],
    columns: &'a mut [crate::vector::Columns],
    t: f64,
    dt: f64,
}

/// Steps during which the engine checks whether the static slots have settled (see
/// `crate::plan`).
const FREEZE_STEPS: u64 = 64;

/// Fewest steps for which flat programs are compiled to machine code: compiling costs about
/// as much as interpreting a program for a couple of thousand steps.
const JIT_MIN_STEPS: u64 = 2000;

/// A pending delayed event.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pending {
    time: f64,
    target: u32,
    port: u32,
}

impl Simulation<'_> {
    /// Number of steps: `round(length / step)`.
    pub fn steps(&self) -> u64 {
        (self.spec.length / self.spec.step).round() as u64
    }

    /// Runs the whole simulation, sending rows and events to `sink`.
    pub fn run(&mut self, sink: &mut dyn Sink) {
        let dt = self.spec.step;
        let n = self.steps();
        let mut queue: Vec<Pending> = vec![];
        let mut t = 0.0;
        let mut plan = Plan::new(self);
        self.pack(&plan);
        plan.locate(self);
        self.increments = plan.increments(self);
        self.initialize(&plan.full);
        let places = self.column_places();
        self.record(&places, sink, t);
        t += dt;
        // Full steps until the static slots have settled (see `crate::plan`), then fast ones.
        let mut frozen = false;
        let (mut before, mut after) = (vec![], vec![]);
        plan.snapshot(self, &mut before);
        let mut ready: Vec<Pending> = vec![];
        let mut columns: Vec<crate::vector::Columns> = plan.kernels.iter().map(|_| Default::default()).collect();
        // How each batch's members are stored: side by side slot by slot, or anywhere.
        let mut layouts: Vec<Layout> = vec![Layout::Scattered(vec![]); plan.kernels.len()];
        let mut inputs: Vec<Option<Inputs>> = vec![None; plan.kernels.len()];
        for (steps, plans) in [(&plan.full_steps, &plan.full), (&plan.fast_steps, &plan.fast)] {
            for s in steps {
                if let Step::Batch(k, members) = s {
                    layouts[*k as usize] = Layout::of(&self.insts, members);
                    inputs[*k as usize] = Inputs::of(self, members, plans);
                }
            }
        }
        // Runs of scalar steps as flat programs, one per plan (see `crate::flat`).
        // Machine code pays off only over enough steps; the full plan usually runs for the
        // first few steps only, so it is compiled only if it is still in use after them.
        let long = n >= JIT_MIN_STEPS;
        let mut flats: [Option<(Flat, Vec<Chunk>)>; 2] = if self.flat {
            [Flat::compile(self, &plan.full_steps, &plan.full, false), Flat::compile(self, &plan.fast_steps, &plan.fast, long)]
        } else {
            [None, None]
        };
        let last = if plan.fast_steps.is_empty() { 0 } else { 1 };
        let last_steps = if last == 0 { &plan.full_steps } else { &plan.fast_steps };
        self.coverage = flats[last].as_ref().map_or((0, last_steps.iter().filter(|s| matches!(s, Step::One(_))).count()), |(_, c)| Flat::coverage(last_steps, c));
        let mut regs: [Vec<f64>; 2] = [0, 1].map(|k| flats[k].as_ref().map_or_else(Vec::new, |(f, _)| f.registers()));
        for step in 1..=n {
            // Delayed events due by now.
            let due = queue.partition_point(|p| p.time <= t);
            if due > 0 {
                ready.clear();
                ready.extend(queue.drain(..due));
                for p in std::mem::take(&mut ready) {
                    self.deliver(p.target, p.port, t, &mut queue, sink);
                }
            }
            let (plans, steps) = if frozen { (&plan.fast, &plan.fast_steps) } else { (&plan.full, &plan.full_steps) };
            let which = usize::from(frozen);
            let mut ctx = StepCtx { plans, kernels: &plan.kernels, layouts: &layouts, inputs: &inputs, columns: &mut columns, t, dt };
            match &flats[which] {
                Some((flat, chunks)) => {
                    for c in chunks {
                        match c {
                            Chunk::Flat(pieces) => self.exec_flat(flat, pieces, &mut regs[which], t, dt, &mut queue, sink),
                            Chunk::Step(k) => self.step(&steps[*k], &mut ctx, &mut queue, sink),
                        }
                    }
                }
                None => {
                    for s in steps {
                        self.step(s, &mut ctx, &mut queue, sink);
                    }
                }
            }
            if !frozen && step <= FREEZE_STEPS {
                plan.snapshot(self, &mut after);
                frozen = after == before;
                std::mem::swap(&mut before, &mut after);
                if step == FREEZE_STEPS && !frozen && self.flat && n - step >= JIT_MIN_STEPS {
                    flats[0] = Flat::compile(self, &plan.full_steps, &plan.full, true);
                    regs[0] = flats[0].as_ref().map_or_else(Vec::new, |(f, _)| f.registers());
                }
            }
            self.record(&places, sink, t);
            if step % 1000 == 0 {
                sink.progress(step, n);
            }
            t += dt;
        }
        self.compiled = flats[usize::from(frozen)].as_ref().map_or(0, |(_, c)| Flat::compiled(c));
        sink.progress(n, n);
    }

    /// One entry of a plan's schedule, by the general path.
    fn step(&mut self, s: &Step, cx: &mut StepCtx<'_>, queue: &mut Vec<Pending>, sink: &mut dyn Sink) {
        let (t, dt) = (cx.t, cx.dt);
        match s {
            Step::One(i) if self.insts[*i as usize].stride == 1 => self.advance(&cx.plans[*i as usize], *i, t, dt, queue, sink),
            Step::One(i) => {
                let p = &cx.plans[*i as usize];
                self.with_contiguous(*i, &mut |sim| sim.advance(p, *i, t, dt, queue, sink));
            }
            Step::Batch(k, members) => {
                let k = *k as usize;
                let batch = Batch { kernel: &cx.kernels[k], members, layout: &cx.layouts[k], inputs: cx.inputs[k].as_ref() };
                self.advance_batch(&batch, cx.plans, t, dt, queue, sink, &mut cx.columns[k]);
            }
        }
    }

    /// Moves every instance's variables and exposure snapshot into one array each, in the
    /// order the fast plan steps them, so that the members of a batch lie side by side.
    fn pack(&mut self, plan: &Plan) {
        if self.insts.iter().all(|x| x.vars.is_empty()) && !self.vals.is_empty() {
            return; // already packed by an earlier run
        }
        let mut placed = vec![false; self.insts.len()];
        // Batches of the fast plan (or, without one, of the full plan) are stored slot by
        // slot: each slot of all members one contiguous column, which the kernels copy in
        // and out whole. Each member also gets a home for a contiguous copy.
        let batches = if plan.fast_steps.is_empty() { &plan.full_steps } else { &plan.fast_steps };
        let mut groups: Vec<&[u32]> = vec![];
        for s in batches {
            if let Step::Batch(_, members) = s
                && members.iter().all(|&i| !placed[i as usize])
            {
                for &i in members.iter() {
                    placed[i as usize] = true;
                }
                groups.push(members);
            }
        }
        let mut order: Vec<u32> = Vec::with_capacity(self.insts.len());
        let mut seen = placed.clone();
        for s in plan.fast_steps.iter().chain(&plan.full_steps) {
            if let Step::One(i) = s
                && !std::mem::replace(&mut seen[*i as usize], true)
            {
                order.push(*i);
            }
        }
        order.extend((0..self.insts.len() as u32).filter(|&i| !seen[i as usize]));
        let total: usize = self.insts.iter().map(|x| x.vars.len()).sum::<usize>() * 2;
        self.vals = Vec::with_capacity(total);
        self.shadows = Vec::with_capacity(total);
        for members in groups {
            let n = members.len();
            let len = self.insts[members[0] as usize].vars.len();
            let start = self.vals.len();
            let homes = start + len * n;
            self.vals.resize(homes + len * n, 0.0);
            self.shadows.resize(homes + len * n, 0.0);
            for (k, &i) in members.iter().enumerate() {
                let inst = &mut self.insts[i as usize];
                debug_assert_eq!(inst.vars.len(), len);
                inst.base = start + k;
                inst.stride = n as u32;
                inst.home = homes + k * len;
                inst.len = len as u32;
                for s in 0..len {
                    self.vals[start + s * n + k] = inst.vars[s];
                    self.shadows[start + s * n + k] = inst.shadow[s];
                }
                inst.vars = Vec::new();
                inst.shadow = Vec::new();
            }
        }
        for i in order {
            let inst = &mut self.insts[i as usize];
            inst.base = self.vals.len();
            inst.home = inst.base;
            inst.stride = 1;
            inst.len = inst.vars.len() as u32;
            self.vals.append(&mut inst.vars);
            self.shadows.append(&mut inst.shadow);
            inst.vars = Vec::new();
            inst.shadow = Vec::new();
        }
    }

    /// Where each recorded column's value lies once packed: (place, through the snapshot,
    /// scale).
    fn column_places(&self) -> Vec<Vec<(usize, bool, f64)>> {
        self.columns
            .iter()
            .map(|cols| {
                cols.iter()
                    .map(|&(i, s, scale)| {
                        let inst = &self.insts[i as usize];
                        (inst.at(s as usize), self.types[inst.ty as usize].exposed_mask[s as usize], scale)
                    })
                    .collect()
            })
            .collect()
    }

    /// One row per output file: each column as others see it (see [`Self::seen`]), scaled.
    fn record(&mut self, places: &[Vec<(usize, bool, f64)>], sink: &mut dyn Sink, t: f64) {
        let mut values = std::mem::take(&mut self.row);
        for (k, cols) in places.iter().enumerate() {
            values.clear();
            values.extend(cols.iter().map(|&(at, shadow, scale)| if shadow { self.shadows[at] } else { self.vals[at] } / scale));
            sink.row(k, t, &values);
        }
        self.row = values;
    }

    /// Start values, in jLEMS's order: an instance runs its `OnStart` (without derived
    /// variables), initializes its children, runs `OnStart` again with derived variables,
    /// initializes its children again, and runs `OnStart` a third time. Idempotent assignments
    /// (the usual `v = v0`) end the same either way; this order also lets an `OnStart` read
    /// derived variables computed from children (a cell's `initMembPot`).
    fn initialize(&mut self, plan: &[InstPlan]) {
        // Subtrees in which no instance has anything to initialize are skipped (a network's
        // connections, say). Children come after their parents, so a reverse pass sees every
        // child first.
        let mut needed = vec![false; self.insts.len()];
        for i in (0..self.insts.len()).rev() {
            let p = &plan[i];
            let inst = &self.insts[i];
            let own = !p.pulls.is_empty() || !p.derived.is_empty() || !p.exposed.is_empty() || inst.regime.is_some() || !self.types[inst.ty as usize].on_start.is_empty();
            needed[i] = own || p.children.iter().any(|&c| needed[c as usize]);
        }
        self.init_instance(plan, &needed, self.root, 0);
    }

    fn init_instance(&mut self, plan: &[InstPlan], needed: &[bool], i: u32, depth: usize) {
        if !needed[i as usize] {
            return;
        }
        self.init_self(plan, i, false);
        if depth < 64 {
            self.init_children(plan, needed, i, depth);
            self.init_self(plan, i, true);
            self.init_children(plan, needed, i, depth);
        }
        self.init_self(plan, i, true);
    }

    fn init_children(&mut self, plan: &[InstPlan], needed: &[bool], i: u32, depth: usize) {
        for &c in &plan[i as usize].children {
            self.init_instance(plan, needed, c, depth + 1);
        }
    }

    fn init_self(&mut self, plan: &[InstPlan], i: u32, with_derived: bool) {
        self.with_contiguous(i, &mut |sim| sim.init_self_contiguous(plan, i, with_derived));
    }

    fn init_self_contiguous(&mut self, plan: &[InstPlan], i: u32, with_derived: bool) {
        let ty = self.insts[i as usize].ty as usize;
        let p = &plan[i as usize];
        self.pull_requirements(i, &p.pulls);
        if with_derived {
            self.derive(i, p);
        }
        let actions = self.types[ty].on_start.clone();
        self.assign_all(i, &actions);
        if let Some(r) = self.insts[i as usize].regime {
            let entry = self.types[ty].regimes[r as usize].body.on_entry.clone();
            self.assign_all(i, &entry);
        }
        self.sync_exposures(i, &p.exposed);
    }

    /// Runs the assignments of an action list (start-up blocks send no events).
    fn assign_all(&mut self, i: u32, actions: &[CAction]) {
        for a in actions {
            if let CAction::Assign(slot, e) = a {
                self.assign_slot(i, *slot, e);
            }
        }
    }

    /// `slot = e`, evaluated in instance `i`'s variables.
    fn assign_slot(&mut self, i: u32, slot: u32, e: &crate::bytecode::Code) {
        let v = {
            let vars = &self.vals[self.insts[i as usize].range()];
            let rng = &mut self.rng;
            e.eval(vars, &mut || rng.next_f64())
        };
        self.vals[self.insts[i as usize].at(slot as usize)] = v;
    }

    /// A variable of instance `i` as other instances and recorders see it: exposed variables
    /// through the snapshot, the rest directly.
    fn seen(&self, i: u32, slot: u32) -> f64 {
        let inst = &self.insts[i as usize];
        if self.types[inst.ty as usize].exposed_mask[slot as usize] {
            self.shadows[inst.at(slot as usize)]
        } else {
            self.vals[inst.at(slot as usize)]
        }
    }

    /// Whether others see `slot` of instance `i` through its exposure snapshot.
    pub(crate) fn exposed(&self, i: u32, slot: u32) -> bool {
        self.types[self.insts[i as usize].ty as usize].exposed_mask[slot as usize]
    }

    fn sync_exposures(&mut self, i: u32, exposed: &[u32]) {
        let inst = &self.insts[i as usize];
        for &s in exposed {
            let a = inst.at(s as usize);
            self.shadows[a] = self.vals[a];
        }
    }

    fn pull_requirements(&mut self, i: u32, pulls: &[Link]) {
        for l in pulls {
            let v = if l.shadow { self.shadows[l.at] } else { self.vals[l.at] };
            self.vals[self.insts[i as usize].at(l.dst as usize)] = v;
        }
    }

    fn derive(&mut self, i: u32, p: &InstPlan) {
        let ty = self.insts[i as usize].ty as usize;
        let Some((selects, block)) = &p.block else {
            for &d in &p.derived {
                self.derive_one(i, ty, d);
            }
            return;
        };
        self.select_values(i, selects);
        let vars = &mut self.vals[self.insts[i as usize].range()];
        let rng = &mut self.rng;
        block.exec(vars, &mut || rng.next_f64());
    }

    /// The `select` derived variables of instance `i`, from their resolved sources.
    fn select_values(&mut self, i: u32, selects: &[crate::plan::SelectPlan]) {
        for sel in selects {
            let vals = sel.at.iter().map(|&(at, shadow)| if shadow { self.shadows[at] } else { self.vals[at] });
            let v = reduce(sel.reduce, vals);
            self.vals[self.insts[i as usize].at(sel.slot as usize)] = v;
        }
    }

    fn derive_one(&mut self, i: u32, ty: usize, d: u32) {
        let (slot, v) = match &self.types[ty].derived[d as usize] {
            Derive::Expr(slot, e) => {
                let vars = &self.vals[self.insts[i as usize].range()];
                let rng = &mut self.rng;
                (*slot, e.eval(vars, &mut || rng.next_f64()))
            }
            Derive::Cases(slot, cases) => {
                let vars = &self.vals[self.insts[i as usize].range()];
                let rng = &mut self.rng;
                let mut v = f64::NAN;
                for (cond, val) in cases {
                    let take = match cond {
                        Some(c) => {
                            let x = c.eval(vars, &mut || rng.next_f64());
                            x != 0.0 && !x.is_nan()
                        }
                        None => true,
                    };
                    if take {
                        v = val.eval(vars, &mut || rng.next_f64());
                        break;
                    }
                }
                (*slot, v)
            }
            Derive::Select(slot, k) => {
                let links = &self.insts[i as usize].select_links[*k];
                let how = self.types[ty].selects[*k].reduce;
                let v = reduce(how, links.iter().map(|&(j, s)| self.seen(j, s)));
                (*slot, v)
            }
        };
        self.vals[self.insts[i as usize].at(slot as usize)] = v;
    }

    /// One step of one instance and, first, of everything below it.
    /// One step of one instance (its children have had theirs).
    fn advance(&mut self, p: &InstPlan, i: u32, t: f64, dt: f64, queue: &mut Vec<Pending>, sink: &mut dyn Sink) {
        if p.has_schemes {
            self.advance_schemes(i, dt);
        }
        if !p.dynamic {
            // Nothing to integrate, but events may have changed what others see.
            self.sync_exposures(i, &p.exposed);
            return;
        }
        self.vals[self.insts[i as usize].at(p.time_slot as usize)] = t;
        if !p.pulls.is_empty() {
            self.pull_requirements(i, &p.pulls);
        }
        if !p.derived.is_empty() {
            self.derive(i, p);
        }
        if !p.has_body && p.exposed.is_empty() && !p.has_regimes {
            return;
        }
        let ty = self.insts[i as usize].ty as usize;
        // All rates from the current state, then the simultaneous update.
        let n_rates = self.types[ty].body.rates.len();
        if n_rates > 0 && self.spec.method != crate::Method::Euler {
            self.integrate_staged(p, i, t, dt);
        } else if n_rates > 0 {
            // All rates first (into a buffer kept between steps), then the update.
            let mut buf = std::mem::take(&mut self.rate_buf);
            buf.clear();
            let rates: &[(u32, crate::bytecode::Code)] = p.rates.as_deref().unwrap_or(&self.types[ty].body.rates);
            {
                let range = self.insts[i as usize].range();
                let vars = &self.vals[range];
                let rng = &mut self.rng;
                buf.extend(rates.iter().map(|(_, e)| e.eval(vars, &mut || rng.next_f64())));
            }
            let base = self.insts[i as usize].base;
            for ((slot, _), r) in rates.iter().zip(&buf) {
                self.vals[base + *slot as usize] += dt * r;
            }
            self.rate_buf = buf;
        }
        if !self.types[ty].body.conditions.is_empty() {
            self.fire_conditions(i, ty, 0, t, queue, sink);
        }
        self.sync_exposures(i, &p.exposed);
        // The active regime: its derivatives one after the other, then its conditions.
        if let Some(r) = self.insts[i as usize].regime {
            let r = r as usize;
            let n_rates = self.types[ty].regimes[r].body.rates.len();
            for k in 0..n_rates {
                let (slot, v) = {
                    let (slot, e) = &self.types[ty].regimes[r].body.rates[k];
                    let vars = &self.vals[self.insts[i as usize].range()];
                    let rng = &mut self.rng;
                    (*slot, e.eval(vars, &mut || rng.next_f64()))
                };
                self.vals[self.insts[i as usize].at(slot as usize)] += dt * v;
            }
            let n_cond = self.types[ty].regimes[r].body.conditions.len();
            for k in 0..n_cond {
                if self.insts[i as usize].regime != Some(r as u32) {
                    break; // a transition happened
                }
                let fire = {
                    let vars = &self.vals[self.insts[i as usize].range()];
                    let rng = &mut self.rng;
                    let x = self.types[ty].regimes[r].body.conditions[k].0.eval(vars, &mut || rng.next_f64());
                    x != 0.0 && !x.is_nan()
                };
                if fire {
                    let actions = self.types[ty].regimes[r].body.conditions[k].1.clone();
                    self.run_actions(i, &actions, t, queue, sink);
                }
            }
        }
    }

    /// Conditions on the new state, in order; actions at once.
    fn fire_conditions(&mut self, i: u32, ty: usize, from: usize, t: f64, queue: &mut Vec<Pending>, sink: &mut dyn Sink) {
        let n_cond = self.types[ty].body.conditions.len();
        for k in from..n_cond {
            let fire = {
                let vars = &self.vals[self.insts[i as usize].range()];
                let rng = &mut self.rng;
                let x = self.types[ty].body.conditions[k].0.eval(vars, &mut || rng.next_f64());
                x != 0.0 && !x.is_nan()
            };
            if fire {
                let actions = self.types[ty].body.conditions[k].1.clone();
                self.run_actions(i, &actions, t, queue, sink);
            }
        }
    }

    /// One step of several instances of one type that cannot affect each other within it
    /// (see [`crate::plan::Step::Batch`]): the same work as [`Self::advance`] for each, with
    /// derived variables, rates, the update and the condition tests run by `kernel` over all
    /// of them at once.
    #[allow(clippy::too_many_arguments)]
    fn advance_batch(&mut self, batch: &Batch<'_>, plans: &[InstPlan], t: f64, dt: f64, queue: &mut Vec<Pending>, sink: &mut dyn Sink, columns: &mut crate::vector::Columns) {
        let Batch { kernel, members, layout, .. } = *batch;
        let ty = self.insts[members[0] as usize].ty as usize;
        let p0 = &plans[members[0] as usize];
        match layout {
            Layout::Columns { start, n } => {
                let ts = start + p0.time_slot as usize * n;
                self.vals[ts..ts + n].fill(t);
            }
            Layout::Scattered(at) => {
                for &(b, st) in at {
                    self.vals[b + p0.time_slot as usize * st] = t;
                }
            }
        }
        match batch.inputs {
            Some(inputs) => inputs.apply(&mut self.vals, &self.shadows),
            None => {
                for &i in members {
                    let p = &plans[i as usize];
                    self.pull_requirements(i, &p.pulls);
                    for &d in &p.derived {
                        if let Derive::Select(..) = self.types[ty].derived[d as usize] {
                            self.derive_one(i, ty, d);
                        }
                    }
                }
            }
        }
        let vals = &mut self.vals;
        kernel.run(columns, members.len(), t, dt, &mut |io| match io {
            Io::Get(slot, col) => layout.get(vals, slot as usize, col),
            Io::Put(slot, col) => layout.put(vals, slot as usize, col),
        });
        if !kernel.conditions.is_empty() {
            for k in columns.firing(&kernel.conditions, members.len()) {
                let i = members[k];
                self.with_contiguous_vars(i, &mut |sim| sim.fire_conditions(i, ty, kernel.first_scalar as usize, t, queue, sink));
            }
        }
        // Every member has the same exposed slots (checked when the batch was made).
        for &s in &p0.exposed {
            layout.expose(&self.vals, &mut self.shadows, s as usize);
        }
    }

    /// Runs `f` with instance `i`'s variables in one slice (at its home), as the scalar code
    /// expects; a batch member stored slot by slot is copied there and back.
    fn with_contiguous(&mut self, i: u32, f: &mut dyn FnMut(&mut Self)) {
        self.contiguous(i, true, f);
    }

    /// [`Self::with_contiguous`] for work that leaves the exposure snapshot alone (event
    /// handlers, conditions' actions): only the variables are copied.
    fn with_contiguous_vars(&mut self, i: u32, f: &mut dyn FnMut(&mut Self)) {
        self.contiguous(i, false, f);
    }

    fn contiguous(&mut self, i: u32, shadows: bool, f: &mut dyn FnMut(&mut Self)) {
        let inst = &self.insts[i as usize];
        if inst.stride == 1 {
            return f(self);
        }
        let (base, stride, home, len) = (inst.base, inst.stride as usize, inst.home, inst.len as usize);
        for s in 0..len {
            self.vals[home + s] = self.vals[base + s * stride];
        }
        if shadows {
            for s in 0..len {
                self.shadows[home + s] = self.shadows[base + s * stride];
            }
        }
        self.insts[i as usize].base = home;
        self.insts[i as usize].stride = 1;
        f(self);
        self.insts[i as usize].base = base;
        self.insts[i as usize].stride = stride as u32;
        for s in 0..len {
            self.vals[base + s * stride] = self.vals[home + s];
        }
        if shadows {
            for s in 0..len {
                self.shadows[base + s * stride] = self.shadows[home + s];
            }
        }
    }

    /// Occupancies of each kinetic scheme advance by the exponential of the rate matrix over
    /// the step (before the owner's own update, as jLEMS does).
    /// Heun or RK4 over one step for an instance whose rates read only its own variables
    /// (checked by `set_method`): stages at the start, middle and end of the step, derived
    /// variables recomputed at each stage.
    fn integrate_staged(&mut self, p: &InstPlan, i: u32, t: f64, dt: f64) {
        let ty = self.insts[i as usize].ty as usize;
        let slots: Vec<u32> = self.types[ty].body.rates.iter().map(|(s, _)| *s).collect();
        let x0: Vec<f64> = slots.iter().map(|&s| self.vals[self.insts[i as usize].at(s as usize)]).collect();
        let ts = p.time_slot as usize;
        // Rates at time `at` with states `x`.
        let stage = |sim: &mut Self, at: f64, x: &[f64]| -> Vec<f64> {
            for (k, &s) in slots.iter().enumerate() {
                sim.vals[sim.insts[i as usize].at(s as usize)] = x[k];
            }
            sim.vals[sim.insts[i as usize].at(ts)] = at;
            if !p.derived.is_empty() {
                sim.derive(i, p);
            }
            let vars = &sim.vals[sim.insts[i as usize].range()];
            let rng = &mut sim.rng;
            sim.types[ty].body.rates.iter().map(|(_, e)| e.eval(vars, &mut || rng.next_f64())).collect()
        };
        let axpy = |a: &[f64], h: f64, b: &[f64]| -> Vec<f64> { a.iter().zip(b).map(|(x, k)| x + h * k).collect() };
        let t0 = t - dt;
        let x1: Vec<f64> = match self.spec.method {
            crate::Method::Heun => {
                let k1 = stage(self, t0, &x0);
                let k2 = stage(self, t, &axpy(&x0, dt, &k1));
                x0.iter().zip(k1.iter().zip(&k2)).map(|(x, (a, b))| x + 0.5 * dt * (a + b)).collect()
            }
            _ => {
                let k1 = stage(self, t0, &x0);
                let k2 = stage(self, t0 + 0.5 * dt, &axpy(&x0, 0.5 * dt, &k1));
                let k3 = stage(self, t0 + 0.5 * dt, &axpy(&x0, 0.5 * dt, &k2));
                let k4 = stage(self, t, &axpy(&x0, dt, &k3));
                (0..x0.len()).map(|k| x0[k] + dt / 6.0 * (k1[k] + 2.0 * k2[k] + 2.0 * k3[k] + k4[k])).collect()
            }
        };
        for (k, &s) in slots.iter().enumerate() {
            self.vals[self.insts[i as usize].at(s as usize)] = x1[k];
        }
        self.vals[self.insts[i as usize].at(ts)] = t;
    }

    fn advance_schemes(&mut self, i: u32, dt: f64) {
        let schemes = std::mem::take(&mut self.insts[i as usize].schemes);
        for s in &schemes {
            let n = s.nodes.len();
            let mut a = vec![0.0; n * n];
            for &(src, tgt, e, f, r) in &s.edges {
                let fr = self.seen(e, f);
                let rr = self.seen(e, r);
                a[src * n + src] -= fr;
                a[tgt * n + src] += fr;
                a[tgt * n + tgt] -= rr;
                a[src * n + tgt] += rr;
            }
            let m = crate::kinetic::expm(&a, n, dt);
            let occ: Vec<f64> = s.nodes.iter().map(|&(k, slot)| self.vals[self.insts[k as usize].at(slot as usize)]).collect();
            for (row, &(k, slot)) in s.nodes.iter().enumerate() {
                let v: f64 = (0..n).map(|c| m[row * n + c] * occ[c]).sum();
                self.vals[self.insts[k as usize].at(slot as usize)] = v;
            }
        }
        self.insts[i as usize].schemes = schemes;
    }

    pub(crate) fn run_actions(&mut self, i: u32, actions: &[CAction], t: f64, queue: &mut Vec<Pending>, sink: &mut dyn Sink) {
        for a in actions {
            match a {
                CAction::Assign(slot, e) => self.assign_slot(i, *slot, e),
                CAction::Emit(port) => self.emit(i, *port, t, queue, sink),
                CAction::Transition(r) => {
                    self.insts[i as usize].regime = Some(*r);
                    let ty = self.insts[i as usize].ty as usize;
                    let entry = self.types[ty].regimes[*r as usize].body.on_entry.clone();
                    self.run_actions(i, &entry, t, queue, sink);
                }
            }
        }
    }

    fn emit(&mut self, i: u32, port: u32, t: f64, queue: &mut Vec<Pending>, sink: &mut dyn Sink) {
        if let Some(taps) = self.event_taps.get(&(i, port)) {
            for &(file, id) in taps {
                sink.event(file, t, id);
            }
        }
        let n = self.insts[i as usize].out[port as usize].len();
        for k in 0..n {
            let (target, in_port, delay) = self.insts[i as usize].out[port as usize][k];
            if delay > 0.0 {
                let p = Pending { time: t + delay, target, port: in_port };
                let at = queue.partition_point(|q| q.time <= p.time);
                queue.insert(at, p);
            } else {
                self.deliver(target, in_port, t, queue, sink);
            }
        }
    }

    fn deliver(&mut self, target: u32, port: u32, t: f64, queue: &mut Vec<Pending>, sink: &mut dyn Sink) {
        if let Some(adds) = self.increments.get(&(target, port)) {
            let inst = &self.insts[target as usize];
            for &(slot, c) in adds.iter() {
                let at = inst.at(slot as usize);
                self.vals[at] += c;
            }
            return;
        }
        let ty = self.insts[target as usize].ty as usize;
        // The handlers of the type and of the active regime, chosen before any runs.
        let regime = self.insts[target as usize].regime;
        let body = self.types[ty].body.on_events.iter().filter(|(p, _)| *p == port).map(|(_, a)| a.clone());
        let in_regime = regime.into_iter().flat_map(|r| self.types[ty].regimes[r as usize].body.on_events.iter()).filter(|(p, _)| *p == port).map(|(_, a)| a.clone());
        let lists: Vec<std::rc::Rc<[CAction]>> = body.chain(in_regime).collect();
        if lists.is_empty() {
            return;
        }
        self.with_contiguous_vars(target, &mut |sim| {
            for actions in &lists {
                sim.run_actions(target, actions, t, queue, sink);
            }
        });
    }
}
