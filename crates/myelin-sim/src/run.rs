//! Stepping: jLEMS's order, events, recording.

use crate::build::Simulation;
use crate::ctype::{CAction, Derive};
use crate::plan::{InstPlan, Link, Plan};
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
        self.initialize(&plan.full);
        self.record(sink, t);
        t += dt;
        // Full steps until the static slots have settled (see `crate::plan`), then fast ones.
        let mut frozen = false;
        let (mut before, mut after) = (vec![], vec![]);
        plan.snapshot(self, &mut before);
        let mut ready: Vec<Pending> = vec![];
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
            let (steps, order) = if frozen { (&plan.fast, &plan.fast_order) } else { (&plan.full, &plan.full_order) };
            for &i in order {
                self.advance(&steps[i as usize], i, t, dt, &mut queue, sink);
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
        self.init_instance(plan, self.root, 0);
    }

    fn init_instance(&mut self, plan: &[InstPlan], i: u32, depth: usize) {
        self.init_self(plan, i, false);
        if depth < 64 {
            self.init_children(plan, i, depth);
            self.init_self(plan, i, true);
            self.init_children(plan, i, depth);
        }
        self.init_self(plan, i, true);
    }

    fn init_children(&mut self, plan: &[InstPlan], i: u32, depth: usize) {
        for &c in &plan[i as usize].children {
            self.init_instance(plan, c, depth + 1);
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
            let vars = &self.insts[i as usize].vars;
            let rng = &mut self.rng;
            e.eval(vars, &mut || rng.next_f64())
        };
        self.insts[i as usize].vars[slot as usize] = v;
    }

    /// A variable of instance `i` as other instances and recorders see it: exposed variables
    /// through the snapshot, the rest directly.
    fn seen(&self, i: u32, slot: u32) -> f64 {
        let inst = &self.insts[i as usize];
        if self.types[inst.ty as usize].exposed_mask[slot as usize] {
            inst.shadow[slot as usize]
        } else {
            inst.vars[slot as usize]
        }
    }

    /// Whether others see `slot` of instance `i` through its exposure snapshot.
    pub(crate) fn exposed(&self, i: u32, slot: u32) -> bool {
        self.types[self.insts[i as usize].ty as usize].exposed_mask[slot as usize]
    }

    fn sync_exposures(&mut self, i: u32, exposed: &[u32]) {
        let inst = &mut self.insts[i as usize];
        for &s in exposed {
            inst.shadow[s as usize] = inst.vars[s as usize];
        }
    }

    fn pull_requirements(&mut self, i: u32, pulls: &[Link]) {
        for l in pulls {
            let src = &self.insts[l.src as usize];
            let v = if l.shadow { src.shadow[l.slot as usize] } else { src.vars[l.slot as usize] };
            self.insts[i as usize].vars[l.dst as usize] = v;
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
        for sel in selects {
            let vals = sel.links.iter().map(|&(j, s, shadow)| {
                let src = &self.insts[j as usize];
                if shadow { src.shadow[s as usize] } else { src.vars[s as usize] }
            });
            // The same folds as `derive_one`.
            let v = match sel.reduce {
                Some(Reduce::Add) => vals.sum(),
                Some(Reduce::Multiply) => vals.product(),
                None => vals.into_iter().next().unwrap_or(0.0),
            };
            self.insts[i as usize].vars[sel.slot as usize] = v;
        }
        let vars = &mut self.insts[i as usize].vars;
        let rng = &mut self.rng;
        block.exec(vars, &mut || rng.next_f64());
    }

    fn derive_one(&mut self, i: u32, ty: usize, d: u32) {
        let (slot, v) = match &self.types[ty].derived[d as usize] {
            Derive::Expr(slot, e) => {
                let vars = &self.insts[i as usize].vars;
                let rng = &mut self.rng;
                (*slot, e.eval(vars, &mut || rng.next_f64()))
            }
            Derive::Cases(slot, cases) => {
                let vars = &self.insts[i as usize].vars;
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
        self.insts[i as usize].vars[slot as usize] = v;
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
        self.insts[i as usize].vars[p.time_slot as usize] = t;
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
            {
                let vars = &self.insts[i as usize].vars;
                let rng = &mut self.rng;
                for (k, (_, e)) in self.types[ty].body.rates.iter().enumerate() {
                    buf[k] = e.eval(vars, &mut || rng.next_f64());
                }
            }
            for (k, (slot, _)) in self.types[ty].body.rates.iter().enumerate() {
                self.insts[i as usize].vars[*slot as usize] += dt * buf[k];
            }
        }
        // Conditions on the new state, in order; actions at once.
        let n_cond = self.types[ty].body.conditions.len();
        for k in 0..n_cond {
            let fire = {
                let vars = &self.insts[i as usize].vars;
                let rng = &mut self.rng;
                let x = self.types[ty].body.conditions[k].0.eval(vars, &mut || rng.next_f64());
                x != 0.0 && !x.is_nan()
            };
            if fire {
                let actions = self.types[ty].body.conditions[k].1.clone();
                self.run_actions(i, &actions, t, queue, sink);
            }
        }
        self.sync_exposures(i, &p.exposed);
        // The active regime: its derivatives one after the other, then its conditions.
        if let Some(r) = self.insts[i as usize].regime {
            let r = r as usize;
            let n_rates = self.types[ty].regimes[r].body.rates.len();
            for k in 0..n_rates {
                let (slot, v) = {
                    let (slot, e) = &self.types[ty].regimes[r].body.rates[k];
                    let vars = &self.insts[i as usize].vars;
                    let rng = &mut self.rng;
                    (*slot, e.eval(vars, &mut || rng.next_f64()))
                };
                self.insts[i as usize].vars[slot as usize] += dt * v;
            }
            let n_cond = self.types[ty].regimes[r].body.conditions.len();
            for k in 0..n_cond {
                if self.insts[i as usize].regime != Some(r as u32) {
                    break; // a transition happened
                }
                let fire = {
                    let vars = &self.insts[i as usize].vars;
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

    /// Occupancies of each kinetic scheme advance by the exponential of the rate matrix over
    /// the step (before the owner's own update, as jLEMS does).
    /// Heun or RK4 over one step for an instance whose rates read only its own variables
    /// (checked by `set_method`): stages at the start, middle and end of the step, derived
    /// variables recomputed at each stage.
    fn integrate_staged(&mut self, p: &InstPlan, i: u32, t: f64, dt: f64) {
        let ty = self.insts[i as usize].ty as usize;
        let slots: Vec<u32> = self.types[ty].body.rates.iter().map(|(s, _)| *s).collect();
        let x0: Vec<f64> = slots.iter().map(|&s| self.insts[i as usize].vars[s as usize]).collect();
        let ts = p.time_slot as usize;
        // Rates at time `at` with states `x`.
        let stage = |sim: &mut Self, at: f64, x: &[f64]| -> Vec<f64> {
            for (k, &s) in slots.iter().enumerate() {
                sim.insts[i as usize].vars[s as usize] = x[k];
            }
            sim.insts[i as usize].vars[ts] = at;
            if !p.derived.is_empty() {
                sim.derive(i, p);
            }
            let vars = &sim.insts[i as usize].vars;
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
            self.insts[i as usize].vars[s as usize] = x1[k];
        }
        self.insts[i as usize].vars[ts] = t;
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
            let occ: Vec<f64> = s.nodes.iter().map(|&(k, slot)| self.insts[k as usize].vars[slot as usize]).collect();
            for (row, &(k, slot)) in s.nodes.iter().enumerate() {
                let v: f64 = (0..n).map(|c| m[row * n + c] * occ[c]).sum();
                self.insts[k as usize].vars[slot as usize] = v;
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
