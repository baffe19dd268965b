//! Stepping: jLEMS's order, events, recording.

use crate::build::Simulation;
use crate::ctype::{CAction, Derive};
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

/// A batch step: its kernel, its members and where their variables start.
#[derive(Clone, Copy)]
struct Batch<'a> {
    kernel: &'a crate::vector::Kernel,
    members: &'a [u32],
    bases: &'a [usize],
}

/// A pending delayed event.
#[derive(Debug, Clone, Copy)]
struct Pending {
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
        let plan = Plan::new(self);
        self.pack(&plan);
        self.initialize(&plan.full);
        self.record(sink, t);
        t += dt;
        // Full steps until the static slots have settled (see `crate::plan`), then fast ones.
        let mut frozen = false;
        let (mut before, mut after) = (vec![], vec![]);
        plan.snapshot(self, &mut before);
        let mut ready: Vec<Pending> = vec![];
        let mut columns: Vec<crate::vector::Columns> = plan.kernels.iter().map(|_| Default::default()).collect();
        // Where each batch's members' variables start.
        let mut bases: Vec<Vec<usize>> = vec![vec![]; plan.kernels.len()];
        for s in plan.full_steps.iter().chain(&plan.fast_steps) {
            if let Step::Batch(k, members) = s {
                bases[*k as usize] = members.iter().map(|&i| self.insts[i as usize].base).collect();
            }
        }
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
            for s in steps {
                match s {
                    Step::One(i) => self.advance(&plans[*i as usize], *i, t, dt, &mut queue, sink),
                    Step::Batch(k, members) => {
                        let k = *k as usize;
                        let batch = Batch { kernel: &plan.kernels[k], members, bases: &bases[k] };
                        self.advance_batch(&batch, plans, t, dt, &mut queue, sink, &mut columns[k]);
                    }
                }
            }
            if !frozen && step <= 64 {
                plan.snapshot(self, &mut after);
                frozen = after == before;
                std::mem::swap(&mut before, &mut after);
            }
            self.record(sink, t);
            if step % 1000 == 0 {
                sink.progress(step, n);
            }
            t += dt;
        }
        sink.progress(n, n);
    }

    /// Moves every instance's variables and exposure snapshot into one array each, in the
    /// order the fast plan steps them, so that the members of a batch lie side by side.
    fn pack(&mut self, plan: &Plan) {
        if self.insts.iter().all(|x| x.vars.is_empty()) && !self.vals.is_empty() {
            return; // already packed by an earlier run
        }
        let mut order: Vec<u32> = Vec::with_capacity(self.insts.len());
        let mut placed = vec![false; self.insts.len()];
        for s in plan.fast_steps.iter().chain(&plan.full_steps) {
            let list: &[u32] = match s {
                Step::One(i) => std::slice::from_ref(i),
                Step::Batch(_, members) => members,
            };
            for &i in list {
                if !std::mem::replace(&mut placed[i as usize], true) {
                    order.push(i);
                }
            }
        }
        order.extend((0..self.insts.len() as u32).filter(|&i| !placed[i as usize]));
        let total: usize = self.insts.iter().map(|x| x.vars.len()).sum();
        self.vals = Vec::with_capacity(total);
        self.shadows = Vec::with_capacity(total);
        for i in order {
            let inst = &mut self.insts[i as usize];
            inst.base = self.vals.len();
            inst.len = inst.vars.len() as u32;
            self.vals.append(&mut inst.vars);
            self.shadows.append(&mut inst.shadow);
            inst.vars = Vec::new();
            inst.shadow = Vec::new();
        }
    }

    fn record(&mut self, sink: &mut dyn Sink, t: f64) {
        let mut values = std::mem::take(&mut self.row);
        for (k, cols) in self.columns.iter().enumerate() {
            values.clear();
            values.extend(cols.iter().map(|&(i, s, scale)| self.seen(i, s) / scale));
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
        self.vals[self.insts[i as usize].base + slot as usize] = v;
    }

    /// A variable of instance `i` as other instances and recorders see it: exposed variables
    /// through the snapshot, the rest directly.
    fn seen(&self, i: u32, slot: u32) -> f64 {
        let inst = &self.insts[i as usize];
        if self.types[inst.ty as usize].exposed_mask[slot as usize] {
            self.shadows[inst.base + slot as usize]
        } else {
            self.vals[inst.base + slot as usize]
        }
    }

    /// Whether others see `slot` of instance `i` through its exposure snapshot.
    pub(crate) fn exposed(&self, i: u32, slot: u32) -> bool {
        self.types[self.insts[i as usize].ty as usize].exposed_mask[slot as usize]
    }

    fn sync_exposures(&mut self, i: u32, exposed: &[u32]) {
        let base = self.insts[i as usize].base;
        for &s in exposed {
            self.shadows[base + s as usize] = self.vals[base + s as usize];
        }
    }

    fn pull_requirements(&mut self, i: u32, pulls: &[Link]) {
        for l in pulls {
            let at = self.insts[l.src as usize].base + l.slot as usize;
            let v = if l.shadow { self.shadows[at] } else { self.vals[at] };
            self.vals[self.insts[i as usize].base + l.dst as usize] = v;
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
            let vals = sel.links.iter().map(|&(j, s, shadow)| {
                let at = self.insts[j as usize].base + s as usize;
                if shadow { self.shadows[at] } else { self.vals[at] }
            });
            // The same folds as `derive_one`.
            let v = match sel.reduce {
                Some(Reduce::Add) => vals.sum(),
                Some(Reduce::Multiply) => vals.product(),
                None => vals.into_iter().next().unwrap_or(0.0),
            };
            self.vals[self.insts[i as usize].base + sel.slot as usize] = v;
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
                let reduce = self.types[ty].selects[*k].reduce;
                let vals = links.iter().map(|&(j, s)| self.seen(j, s));
                let v = match reduce {
                    Some(Reduce::Add) => vals.sum(),
                    Some(Reduce::Multiply) => vals.product(),
                    None => vals.into_iter().next().unwrap_or(0.0),
                };
                (*slot, v)
            }
        };
        self.vals[self.insts[i as usize].base + slot as usize] = v;
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
        self.vals[self.insts[i as usize].base + p.time_slot as usize] = t;
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
            let mut rates = [0.0f64; 32];
            let mut big: Vec<f64> = vec![];
            let buf: &mut [f64] = if n_rates <= 32 {
                &mut rates[..n_rates]
            } else {
                big.resize(n_rates, 0.0);
                &mut big
            };
            let rates: &[(u32, crate::bytecode::Code)] = p.rates.as_deref().unwrap_or(&self.types[ty].body.rates);
            {
                let vars = &self.vals[self.insts[i as usize].range()];
                let rng = &mut self.rng;
                for (k, (_, e)) in rates.iter().enumerate() {
                    buf[k] = e.eval(vars, &mut || rng.next_f64());
                }
            }
            for (k, (slot, _)) in rates.iter().enumerate() {
                self.vals[self.insts[i as usize].base + *slot as usize] += dt * buf[k];
            }
        }
        self.fire_conditions(i, ty, 0, t, queue, sink);
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
                self.vals[self.insts[i as usize].base + slot as usize] += dt * v;
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
        let Batch { kernel, members, bases } = *batch;
        let ty = self.insts[members[0] as usize].ty as usize;
        let p0 = &plans[members[0] as usize];
        let ts = p0.time_slot as usize;
        for &b in bases {
            self.vals[b + ts] = t;
        }
        for &i in members {
            let p = &plans[i as usize];
            if !p.pulls.is_empty() {
                self.pull_requirements(i, &p.pulls);
            }
            match &p.block {
                Some((selects, _)) => self.select_values(i, selects),
                None => {
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
            Io::Get(slot, col) => {
                for (c, &b) in col.iter_mut().zip(bases) {
                    *c = vals[b + slot as usize];
                }
            }
            Io::Put(slot, col) => {
                for (c, &b) in col.iter().zip(bases) {
                    vals[b + slot as usize] = *c;
                }
            }
        });
        if !kernel.conditions.is_empty() {
            for (k, &i) in members.iter().enumerate() {
                if kernel.conditions.iter().any(|&c| columns.holds(c, k)) {
                    self.fire_conditions(i, ty, kernel.first_scalar as usize, t, queue, sink);
                }
            }
        }
        // Every member has the same exposed slots (checked when the batch was made).
        for &s in &p0.exposed {
            for &b in bases {
                self.shadows[b + s as usize] = self.vals[b + s as usize];
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
        let x0: Vec<f64> = slots.iter().map(|&s| self.vals[self.insts[i as usize].base + s as usize]).collect();
        let ts = p.time_slot as usize;
        // Rates at time `at` with states `x`.
        let stage = |sim: &mut Self, at: f64, x: &[f64]| -> Vec<f64> {
            for (k, &s) in slots.iter().enumerate() {
                sim.vals[sim.insts[i as usize].base + s as usize] = x[k];
            }
            sim.vals[sim.insts[i as usize].base + ts] = at;
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
            self.vals[self.insts[i as usize].base + s as usize] = x1[k];
        }
        self.vals[self.insts[i as usize].base + ts] = t;
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
            let occ: Vec<f64> = s.nodes.iter().map(|&(k, slot)| self.vals[self.insts[k as usize].base + slot as usize]).collect();
            for (row, &(k, slot)) in s.nodes.iter().enumerate() {
                let v: f64 = (0..n).map(|c| m[row * n + c] * occ[c]).sum();
                self.vals[self.insts[k as usize].base + slot as usize] = v;
            }
        }
        self.insts[i as usize].schemes = schemes;
    }

    fn run_actions(&mut self, i: u32, actions: &[CAction], t: f64, queue: &mut Vec<Pending>, sink: &mut dyn Sink) {
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
        let ty = self.insts[target as usize].ty as usize;
        // The handlers of the type and of the active regime, chosen before any runs.
        let mut lists: Vec<std::rc::Rc<[CAction]>> = vec![];
        for (p, a) in &self.types[ty].body.on_events {
            if *p == port {
                lists.push(a.clone());
            }
        }
        if let Some(r) = self.insts[target as usize].regime {
            for (p, a) in &self.types[ty].regimes[r as usize].body.on_events {
                if *p == port {
                    lists.push(a.clone());
                }
            }
        }
        for actions in &lists {
            self.run_actions(target, actions, t, queue, sink);
        }
    }
}
