//! The scalar path of a whole step as one flat register program.
//!
//! [`crate::run`] steps scalar instances one by one: per instance it stores the time, pulls
//! requirements, runs the derived-variable block, evaluates the rates, applies the Euler
//! update, tests the conditions and copies the exposures, each through its own bookkeeping
//! (instance lookups, slices, a stack machine per expression). For models with many small
//! instances in one cell (Ex15 has ~55: gates, rates, channels), that bookkeeping costs more
//! than the arithmetic. Here the same work for every run of consecutive scalar steps is
//! compiled, once the variables are packed, into one straight program over absolute places
//! in [`Simulation::vals`] / [`Simulation::shadows`] and a register file:
//!
//! - three-address operations on registers (`d = a op b`), no value stack;
//! - constants live in registers filled once; the time is a register set every step;
//! - within one instance a value read or computed once stays in its register (loads are
//!   cached per instance and forgotten across branches and condition tests);
//! - conditions are tested in the program; when one holds, the loop returns to
//!   [`Simulation`], which runs its actions (assignments, events delivered at once) exactly
//!   as the instance-by-instance path does, and resumes.
//!
//! Every operation is the one the reference path performs on the same operands, in the same
//! order, so results are identical to it (the differential tests compare them). Instances this
//! does not cover (regimes, kinetic schemes, strided storage, selects of their own, Heun and
//! RK4) stay steps of their own.

use crate::bytecode::unary_fn;
use crate::build::Simulation;
use crate::cexpr::CExpr;
use crate::ctype::Derive;
use crate::plan::{InstPlan, Step};
use myelin_expr::{BinaryOp, Func};
use myelin_ir::Reduce;
use rustc_hash::FxHashMap;

/// One operation. Registers, places and targets are `u32` indices.
#[derive(Clone, Copy, Debug)]
pub(crate) enum FOp {
    /// `r[d] = vals[a]`
    Load { d: u32, a: u32 },
    /// `r[d] = shadows[a]`
    LoadS { d: u32, a: u32 },
    /// `vals[a] = r[s]`
    Store { a: u32, s: u32 },
    /// `shadows[a] = vals[a]`: an exposure snapshot.
    Expose { a: u32 },
    /// `vals[a] += dt * r[s]`: the Euler update.
    Euler { a: u32, s: u32 },
    Mov { d: u32, s: u32 },
    Add { d: u32, a: u32, b: u32 },
    Sub { d: u32, a: u32, b: u32 },
    Mul { d: u32, a: u32, b: u32 },
    Div { d: u32, a: u32, b: u32 },
    Bin { op: BinaryOp, d: u32, a: u32, b: u32 },
    Neg { d: u32, a: u32 },
    Not { d: u32, a: u32 },
    Truth { d: u32, a: u32 },
    Exp { d: u32, a: u32 },
    /// A one-argument function: [`Flat::unary`]`[f]`.
    Call1 { d: u32, a: u32, f: u32 },
    /// `r[d] = r[a] * U[0,1)`
    Random { d: u32, a: u32 },
    /// Any other call: [`Flat::calls`]`[k]`.
    CallN { d: u32, k: u32 },
    JumpIfNot { c: u32, to: u32 },
    JumpIf { c: u32, to: u32 },
    Jump { to: u32 },
    /// Condition [`Flat::conds`]`[k]` holds when `r[c]` is true: back to the simulation.
    Cond { c: u32, k: u32 },
}

/// A one-argument function: what it is (for the JIT) and the function the interpreter calls.
pub(crate) type Unary = (Func, fn(f64) -> f64);

/// A compiled run of scalar steps.
#[derive(Default)]
pub(crate) struct Flat {
    pub(crate) ops: Vec<FOp>,
    /// The register file's starting contents: the time, then constants, then temporaries.
    pub(crate) regs: Vec<f64>,
    /// How many registers (from the first) hold the time and the constants.
    #[cfg_attr(not(feature = "jit"), allow(dead_code))]
    pub(crate) fixed: usize,
    pub(crate) unary: Vec<Unary>,
    calls: Vec<(Func, Vec<u32>)>,
    /// (instance, index of the condition in its type's body)
    conds: Vec<(u32, u32)>,
    /// Pieces compiled to machine code (see [`crate::jit`]).
    #[cfg(feature = "jit")]
    pub(crate) native: Option<crate::jit::Natives>,
}

/// Registers with this bit are constants (the first of them the time) until
/// [`Builder::finish`] places them before the temporaries.
const CONST_BIT: u32 = 1 << 31;
/// The register holding the current time, while building: the first constant.
const T: u32 = CONST_BIT;
/// Where the time lies in the finished register file.
const T_REG: usize = 0;

/// What a step schedule becomes: runs of flat code and steps left to the simulation.
#[derive(Debug)]
pub(crate) enum Chunk {
    /// Consecutive pieces of the program.
    Flat(Vec<Piece>),
    /// `steps[k]`, run as before.
    Step(usize),
}

/// Operations `ops[range]` of the program, ending after the first condition test in them if
/// any: the unit that runs without returning to the simulation.
#[derive(Debug, Clone)]
pub(crate) struct Piece {
    pub(crate) ops: std::ops::Range<usize>,
    /// Its code in [`Flat::native`], once compiled.
    pub(crate) native: Option<u32>,
}

struct Builder<'s, 'm> {
    sim: &'s Simulation<'m>,
    ops: Vec<FOp>,
    consts: Vec<f64>,
    const_of: FxHashMap<u64, u32>,
    /// Temporaries of the current instance; the most any instance used.
    next: u32,
    most: u32,
    /// Place in `vals` → register holding its current value.
    cache: FxHashMap<u32, u32>,
    unary: Vec<Unary>,
    calls: Vec<(Func, Vec<u32>)>,
    conds: Vec<(u32, u32)>,
}

impl<'s, 'm> Builder<'s, 'm> {
    fn temp(&mut self) -> u32 {
        self.next += 1;
        self.most = self.most.max(self.next);
        self.next - 1
    }

    fn konst(&mut self, x: f64) -> u32 {
        if let Some(&r) = self.const_of.get(&x.to_bits()) {
            return r;
        }
        let r = CONST_BIT | self.consts.len() as u32;
        self.consts.push(x);
        self.const_of.insert(x.to_bits(), r);
        r
    }

    fn load(&mut self, a: u32) -> u32 {
        if let Some(&r) = self.cache.get(&a) {
            return r;
        }
        let d = self.temp();
        self.ops.push(FOp::Load { d, a });
        self.cache.insert(a, d);
        d
    }

    fn store(&mut self, a: u32, s: u32) {
        self.ops.push(FOp::Store { a, s });
        self.cache.insert(a, s);
    }

    fn here(&self) -> u32 {
        self.ops.len() as u32
    }

    fn patch(&mut self, at: usize, to: u32) {
        match &mut self.ops[at] {
            FOp::JumpIfNot { to: t, .. } | FOp::JumpIf { to: t, .. } | FOp::Jump { to: t } => *t = to,
            _ => unreachable!("only jumps are patched"),
        }
    }

    /// `e` over the slots of the instance at `base` (stride 1), into a register.
    fn expr(&mut self, e: &CExpr, base: u32) -> u32 {
        match e {
            CExpr::Const(x) => self.konst(*x),
            CExpr::Slot(k) => self.load(base + k),
            CExpr::Neg(x) => {
                let a = self.expr(x, base);
                let d = self.temp();
                self.ops.push(FOp::Neg { d, a });
                d
            }
            CExpr::Not(x) => {
                let a = self.expr(x, base);
                let d = self.temp();
                self.ops.push(FOp::Not { d, a });
                d
            }
            CExpr::Bin(op @ (BinaryOp::And | BinaryOp::Or), l, r) => {
                // The right operand only when the left does not decide (as the tree walk).
                let a = self.expr(l, base);
                let d = self.temp();
                let is_and = *op == BinaryOp::And;
                let short = self.konst(if is_and { 0.0 } else { 1.0 });
                self.ops.push(FOp::Mov { d, s: short });
                let jump = self.ops.len();
                self.ops.push(if is_and { FOp::JumpIfNot { c: a, to: 0 } } else { FOp::JumpIf { c: a, to: 0 } });
                let saved = self.cache.clone();
                let b = self.expr(r, base);
                self.ops.push(FOp::Truth { d, a: b });
                self.cache = saved;
                let end = self.here();
                self.patch(jump, end);
                d
            }
            CExpr::Bin(op, l, r) => {
                let a = self.expr(l, base);
                let b = self.expr(r, base);
                let d = self.temp();
                self.ops.push(match op {
                    BinaryOp::Add => FOp::Add { d, a, b },
                    BinaryOp::Sub => FOp::Sub { d, a, b },
                    BinaryOp::Mul => FOp::Mul { d, a, b },
                    BinaryOp::Div => FOp::Div { d, a, b },
                    op => FOp::Bin { op: *op, d, a, b },
                });
                d
            }
            CExpr::Call(Func::Random, args) => {
                let a = match args.first() {
                    Some(x) => self.expr(x, base),
                    None => self.konst(f64::NAN),
                };
                let d = self.temp();
                self.ops.push(FOp::Random { d, a });
                d
            }
            CExpr::Call(f, args) => {
                let regs: Vec<u32> = args.iter().map(|x| self.expr(x, base)).collect();
                let d = self.temp();
                match (unary_fn(f), regs.as_slice()) {
                    (Some(_), [a]) if *f == Func::Exp => self.ops.push(FOp::Exp { d, a: *a }),
                    (Some(g), [a]) => {
                        self.unary.push((f.clone(), g));
                        self.ops.push(FOp::Call1 { d, a: *a, f: self.unary.len() as u32 - 1 });
                    }
                    _ => {
                        self.calls.push((f.clone(), regs));
                        self.ops.push(FOp::CallN { d, k: self.calls.len() as u32 - 1 });
                    }
                }
                d
            }
            CExpr::Piecewise(cases) => {
                let cases: Vec<(Option<&CExpr>, &CExpr)> = cases.iter().map(|(v, c)| (Some(c), v)).collect();
                self.cases(&cases, base)
            }
        }
    }

    /// The value of the first case whose condition is missing or true (NaN when none is).
    fn cases(&mut self, cases: &[(Option<&CExpr>, &CExpr)], base: u32) -> u32 {
        if let [(None, v)] = cases {
            return self.expr(v, base);
        }
        let d = self.temp();
        let saved = self.cache.clone();
        let mut to_end = vec![];
        for (cond, val) in cases {
            // Reaching this case means every earlier condition was evaluated (and false), but
            // no earlier value was: only what the conditions loaded is known here.
            let skip = cond.map(|c| {
                let c = self.expr(c, base);
                self.ops.push(FOp::JumpIfNot { c, to: 0 });
                self.ops.len() - 1
            });
            let known = self.cache.clone();
            let v = self.expr(val, base);
            self.ops.push(FOp::Mov { d, s: v });
            to_end.push(self.ops.len());
            self.ops.push(FOp::Jump { to: 0 });
            if let Some(at) = skip {
                let next = self.here();
                self.patch(at, next);
            }
            self.cache = known;
        }
        let nan = self.konst(f64::NAN);
        self.ops.push(FOp::Mov { d, s: nan });
        let end = self.here();
        for at in to_end {
            self.patch(at, end);
        }
        // What was loaded on one path is not loaded on the others.
        self.cache = saved;
        d
    }

    /// A `select`'s value from its sources, folded as `crate::run::reduce` folds them: a sum
    /// starts from -0.0 and a product from 1.0, both exact for the first value, so the fold
    /// is the first value combined with each next one in order.
    fn select(&mut self, how: Option<Reduce>, at: &[(usize, bool)]) -> u32 {
        let source = |b: &mut Self, (a, shadow): (usize, bool)| {
            if shadow {
                let d = b.temp();
                b.ops.push(FOp::LoadS { d, a: a as u32 });
                d
            } else {
                b.load(a as u32)
            }
        };
        let Some((&first, rest)) = at.split_first() else {
            return self.konst(crate::run::reduce(how, std::iter::empty()));
        };
        let mut acc = source(self, first);
        let Some(how) = how else { return acc };
        for &x in rest {
            let b = source(self, x);
            let d = self.temp();
            self.ops.push(match how {
                Reduce::Add => FOp::Add { d, a: acc, b },
                Reduce::Multiply => FOp::Mul { d, a: acc, b },
            });
            acc = d;
        }
        acc
    }

    /// The operations of `Simulation::advance` for instance `i`, or `false` (nothing
    /// emitted) when the instance needs the general path.
    fn instance(&mut self, p: &InstPlan, i: u32) -> bool {
        let sim = self.sim;
        let inst = &sim.insts[i as usize];
        let ty = &sim.types[inst.ty as usize];
        if inst.stride != 1 || p.has_schemes || p.has_regimes || inst.regime.is_some() {
            return false;
        }
        let Ok(base) = u32::try_from(inst.base) else { return false };
        self.next = 0;
        self.cache.clear();
        if !p.dynamic {
            for &s in &p.exposed {
                self.ops.push(FOp::Expose { a: base + s });
            }
            return true;
        }
        self.store(base + p.time_slot, T);
        for l in &p.pulls {
            let d = self.temp();
            let a = l.at as u32;
            self.ops.push(if l.shadow { FOp::LoadS { d, a } } else { FOp::Load { d, a } });
            self.store(base + l.dst, d);
        }
        if let (Some((selects, _)), Some(trees)) = (&p.block, &p.trees) {
            for sel in selects {
                let d = self.select(sel.reduce, &sel.at);
                self.store(base + sel.slot, d);
            }
            for (slot, cases) in trees.iter() {
                let cases: Vec<(Option<&CExpr>, &CExpr)> = cases.iter().map(|(c, v)| (c.as_ref(), v)).collect();
                let v = self.cases(&cases, base);
                self.store(base + slot, v);
            }
        } else {
            // One by one, as `Simulation::derive_one` computes them.
            for &k in &p.derived {
                let (slot, v) = match &ty.derived[k as usize] {
                    Derive::Expr(slot, e) => (*slot, self.expr(&e.tree, base)),
                    Derive::Cases(slot, cases) => {
                        let cases: Vec<(Option<&CExpr>, &CExpr)> = cases.iter().map(|(c, v)| (c.as_ref().map(|c| &c.tree), &v.tree)).collect();
                        (*slot, self.cases(&cases, base))
                    }
                    Derive::Select(slot, n) => {
                        let at: Vec<(usize, bool)> = inst.select_links[*n].iter().map(|&(j, s)| (sim.insts[j as usize].at(s as usize), sim.exposed(j, s))).collect();
                        (*slot, self.select(ty.selects[*n].reduce, &at))
                    }
                };
                self.store(base + slot, v);
            }
        }
        if !p.has_body && p.exposed.is_empty() {
            return true;
        }
        // All rates from the current state, then the simultaneous update.
        let rates: Vec<(u32, &CExpr)> = match &p.rates {
            Some(r) => r.iter().map(|(s, c)| (*s, &c.tree)).collect(),
            None => ty.body.rates.iter().map(|(s, c)| (*s, &c.tree)).collect(),
        };
        let values: Vec<u32> = rates.iter().map(|(_, e)| self.expr(e, base)).collect();
        for ((slot, _), s) in rates.iter().zip(values) {
            self.ops.push(FOp::Euler { a: base + slot, s });
            self.cache.remove(&(base + slot));
        }
        // Each condition on the state as the actions before it left it.
        for (k, (cond, _)) in ty.body.conditions.iter().enumerate() {
            self.cache.clear();
            let c = self.expr(&cond.tree, base);
            self.conds.push((i, k as u32));
            self.ops.push(FOp::Cond { c, k: self.conds.len() as u32 - 1 });
        }
        for &s in &p.exposed {
            self.ops.push(FOp::Expose { a: base + s });
        }
        true
    }

    /// Places every register: the time, the constants, then the temporaries.
    fn finish(mut self) -> Flat {
        let n = self.consts.len() as u32;
        let fix = |r: &mut u32| *r = if *r & CONST_BIT != 0 { *r & !CONST_BIT } else { n + *r };
        for op in &mut self.ops {
            match op {
                FOp::Load { d, .. } | FOp::LoadS { d, .. } | FOp::CallN { d, .. } => fix(d),
                FOp::Store { s, .. } | FOp::Euler { s, .. } => fix(s),
                FOp::Expose { .. } | FOp::Jump { .. } => {}
                FOp::Mov { d, s: a } | FOp::Neg { d, a } | FOp::Not { d, a } | FOp::Truth { d, a } | FOp::Exp { d, a } | FOp::Random { d, a } | FOp::Call1 { d, a, .. } => {
                    fix(d);
                    fix(a);
                }
                FOp::Add { d, a, b } | FOp::Sub { d, a, b } | FOp::Mul { d, a, b } | FOp::Div { d, a, b } | FOp::Bin { d, a, b, .. } => {
                    fix(d);
                    fix(a);
                    fix(b);
                }
                FOp::JumpIfNot { c, .. } | FOp::JumpIf { c, .. } | FOp::Cond { c, .. } => fix(c),
            }
        }
        for (_, args) in &mut self.calls {
            args.iter_mut().for_each(fix);
        }
        let mut regs = vec![0.0; (n + self.most) as usize];
        regs[..n as usize].copy_from_slice(&self.consts);
        Flat {
            ops: self.ops,
            regs,
            fixed: n as usize,
            unary: self.unary,
            calls: self.calls,
            conds: self.conds,
            #[cfg(feature = "jit")]
            native: None,
        }
    }
}

impl Flat {
    /// Compiles `steps` (with their plans): runs of scalar steps this covers become flat
    /// code, the rest stay steps. `None` when the arrays are too large for `u32` places.
    /// With `jit` (and the `jit` feature, and [`Simulation`]'s option), the pieces are also
    /// compiled to machine code.
    pub(crate) fn compile(sim: &Simulation<'_>, steps: &[Step], plans: &[InstPlan], jit: bool) -> Option<(Flat, Vec<Chunk>)> {
        if sim.vals.len() >= (u32::MAX / 2) as usize || sim.spec.method != crate::Method::Euler {
            return None;
        }
        let mut b = Builder {
            sim,
            ops: vec![],
            // The time's register, set every step.
            consts: vec![f64::NAN],
            const_of: FxHashMap::default(),
            next: 0,
            most: 0,
            cache: FxHashMap::default(),
            unary: vec![],
            calls: vec![],
            conds: vec![],
        };
        let mut chunks: Vec<Chunk> = vec![];
        let mut runs: Vec<Option<std::ops::Range<usize>>> = vec![];
        for (k, s) in steps.iter().enumerate() {
            let start = b.ops.len();
            let flat = match s {
                Step::One(i) => b.instance(&plans[*i as usize], *i),
                Step::Batch(..) => false,
            };
            if !flat {
                b.ops.truncate(start);
                runs.push(None);
                chunks.push(Chunk::Step(k));
                continue;
            }
            match runs.last_mut() {
                Some(Some(r)) if r.end == start => r.end = b.ops.len(),
                _ => {
                    runs.push(Some(start..b.ops.len()));
                    chunks.push(Chunk::Flat(vec![]));
                }
            }
        }
        // Temporaries above 2^31 would collide with the constant marker.
        if b.most >= CONST_BIT || b.consts.len() >= CONST_BIT as usize {
            return None;
        }
        #[cfg_attr(not(feature = "jit"), allow(unused_mut))]
        let mut flat = b.finish();
        let flat_chunks = chunks.iter_mut().filter_map(|c| match c {
            Chunk::Flat(pieces) => Some(pieces),
            Chunk::Step(_) => None,
        });
        for (pieces, r) in flat_chunks.zip(runs.into_iter().flatten()) {
            *pieces = flat.pieces(r);
        }
        #[cfg(not(feature = "jit"))]
        let _ = jit;
        #[cfg(feature = "jit")]
        if sim.jit && jit {
            crate::jit::compile(&mut flat, &mut chunks, (sim.vals.len(), sim.shadows.len()));
        }
        Some((flat, chunks))
    }

    /// `range` cut after every condition test.
    fn pieces(&self, range: std::ops::Range<usize>) -> Vec<Piece> {
        let mut out = vec![];
        let mut start = range.start;
        for k in range.clone() {
            if matches!(self.ops[k], FOp::Cond { .. }) {
                out.push(Piece { ops: start..k + 1, native: None });
                start = k + 1;
            }
        }
        if start < range.end {
            out.push(Piece { ops: start..range.end, native: None });
        }
        out
    }

    /// How many of `steps`' scalar steps `chunks` runs as flat code: (flat, all).
    pub(crate) fn coverage(steps: &[Step], chunks: &[Chunk]) -> (usize, usize) {
        let all = steps.iter().filter(|s| matches!(s, Step::One(_))).count();
        let general = chunks.iter().filter(|c| matches!(c, Chunk::Step(k) if matches!(steps[*k], Step::One(_)))).count();
        (all - general, all)
    }

    /// How many pieces of `chunks` run as machine code.
    pub(crate) fn compiled(chunks: &[Chunk]) -> usize {
        chunks.iter().map(|c| if let Chunk::Flat(p) = c { p.iter().filter(|p| p.native.is_some()).count() } else { 0 }).sum()
    }

    /// A fresh register file for [`Simulation::exec_flat`].
    pub(crate) fn registers(&self) -> Vec<f64> {
        self.regs.clone()
    }
}

fn truth(x: f64) -> bool {
    x != 0.0 && !x.is_nan()
}

/// Runs `ops[*pc..end]` until the end or a condition that holds; returns that condition's
/// index in [`Flat::conds`] with `*pc` just past it.
#[allow(clippy::too_many_arguments)]
fn interpret(flat: &Flat, pc: &mut usize, end: usize, r: &mut [f64], vals: &mut [f64], shadows: &mut [f64], dt: f64, rng: &mut dyn FnMut() -> f64) -> Option<usize> {
    let ops = &flat.ops[..end];
    let mut next = *pc;
    while let Some(op) = ops.get(next) {
        next += 1;
        match *op {
            FOp::Load { d, a } => r[d as usize] = vals[a as usize],
            FOp::LoadS { d, a } => r[d as usize] = shadows[a as usize],
            FOp::Store { a, s } => vals[a as usize] = r[s as usize],
            FOp::Expose { a } => shadows[a as usize] = vals[a as usize],
            FOp::Euler { a, s } => vals[a as usize] += dt * r[s as usize],
            FOp::Mov { d, s } => r[d as usize] = r[s as usize],
            FOp::Add { d, a, b } => r[d as usize] = r[a as usize] + r[b as usize],
            FOp::Sub { d, a, b } => r[d as usize] = r[a as usize] - r[b as usize],
            FOp::Mul { d, a, b } => r[d as usize] = r[a as usize] * r[b as usize],
            FOp::Div { d, a, b } => r[d as usize] = r[a as usize] / r[b as usize],
            FOp::Bin { op, d, a, b } => r[d as usize] = myelin_expr::apply_binary(op, r[a as usize], r[b as usize]),
            FOp::Neg { d, a } => r[d as usize] = -r[a as usize],
            FOp::Not { d, a } => r[d as usize] = if truth(r[a as usize]) { 0.0 } else { 1.0 },
            FOp::Truth { d, a } => r[d as usize] = if truth(r[a as usize]) { 1.0 } else { 0.0 },
            FOp::Exp { d, a } => r[d as usize] = r[a as usize].exp(),
            FOp::Call1 { d, a, f } => r[d as usize] = (flat.unary[f as usize].1)(r[a as usize]),
            FOp::Random { d, a } => r[d as usize] = r[a as usize] * rng(),
            FOp::CallN { d, k } => {
                let (f, args) = &flat.calls[k as usize];
                let mut buf = [0.0f64; 8];
                let x = if args.len() <= buf.len() {
                    for (b, &a) in buf.iter_mut().zip(args) {
                        *b = r[a as usize];
                    }
                    myelin_expr::apply_func(f, &buf[..args.len()])
                } else {
                    let many: Vec<f64> = args.iter().map(|&a| r[a as usize]).collect();
                    myelin_expr::apply_func(f, &many)
                };
                r[d as usize] = x;
            }
            FOp::JumpIfNot { c, to } => {
                if !truth(r[c as usize]) {
                    next = to as usize;
                }
            }
            FOp::JumpIf { c, to } => {
                if truth(r[c as usize]) {
                    next = to as usize;
                }
            }
            FOp::Jump { to } => next = to as usize,
            FOp::Cond { c, k } => {
                if truth(r[c as usize]) {
                    *pc = next;
                    return Some(k as usize);
                }
            }
        }
    }
    *pc = next;
    None
}

impl Simulation<'_> {
    /// Runs `pieces` of `flat` at time `t`: the same work as advancing each of their
    /// instances in turn.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn exec_flat(&mut self, flat: &Flat, pieces: &[Piece], regs: &mut [f64], t: f64, dt: f64, queue: &mut Vec<crate::run::Pending>, sink: &mut dyn crate::run::Sink) {
        regs[T_REG] = t;
        for piece in pieces {
            let fired = {
                let Simulation { vals, shadows, rng, .. } = self;
                match piece.native {
                    #[cfg(feature = "jit")]
                    Some(k) if let Some(native) = &flat.native => {
                        let fired = native.call(k as usize, vals, shadows, regs, t, dt);
                        match flat.ops[piece.ops.end - 1] {
                            FOp::Cond { k, .. } if fired => Some(k as usize),
                            _ => None,
                        }
                    }
                    _ => {
                        let mut pc = piece.ops.start;
                        interpret(flat, &mut pc, piece.ops.end, regs, vals, shadows, dt, &mut || rng.next_f64())
                    }
                }
            };
            if let Some(k) = fired {
                let (i, c) = flat.conds[k];
                let ty = self.insts[i as usize].ty as usize;
                let actions = self.types[ty].body.conditions[c as usize].1.clone();
                self.run_actions(i, &actions, t, queue, sink);
            }
        }
    }
}
