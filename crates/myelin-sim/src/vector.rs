//! One step of many instances of one type at once.
//!
//! The scalar engine interprets each instance's expressions one after the other, so every
//! operation pays for its dispatch. A population of identical cells runs the same
//! operations on different numbers: here they are compiled once into a register program in
//! which every register is a column holding one value per instance, and each operation is a
//! tight loop over the column (which the compiler vectorizes). Values are gathered from the
//! instances' slots at the start and written back at the end, so the rest of the engine
//! (events, records, links) sees exactly what the scalar path would leave.
//!
//! Only what can be computed without branching per instance is compiled: no `random()`
//! (a draw per instance in instance order), no regimes, no kinetic schemes. Conditions are
//! evaluated as columns; an instance whose condition holds runs its actions through the
//! scalar path, which re-tests its conditions in order on its current state, as jLEMS does.

use crate::cexpr::CExpr;
use crate::ctype::{CAction, CType, Derive};
use myelin_expr::{BinaryOp, Func};
use rustc_hash::FxHashMap;

/// An operand: a register (a column) or a constant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Src {
    Reg(u32),
    Const(f64),
}

#[derive(Clone, Debug)]
enum VOp {
    Bin(BinaryOp, u32, Src, Src),
    Neg(u32, Src),
    Not(u32, Src),
    Call1(u32, fn(f64) -> f64, Src),
    CallN(u32, Func, Vec<Src>),
    /// `dst = truth(cond) ? a : b`
    Select(u32, Src, Src, Src),
}

/// The compiled step of a type: derived variables, rates, the Euler update and the
/// condition tests, over columns.
#[derive(Clone, Debug)]
pub(crate) struct Kernel {
    ops: Vec<VOp>,
    n_regs: u32,
    /// Slots read at the start of every step: (slot, register).
    loads: Vec<(u32, u32)>,
    /// Slots read once, on the first step: (slot, register).
    fixed: Vec<(u32, u32)>,
    /// Slots written at the end: (slot, register), derived variables then new states.
    stores: Vec<(u32, Src)>,
    /// Registers holding the value of each condition from `first_scalar` on, on the new
    /// state; an instance for which one holds runs those conditions by the scalar path.
    pub(crate) conditions: Vec<Src>,
    pub(crate) first_scalar: u32,
}

/// What the kernel may assume about a slot of the instances it steps.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Known {
    /// Changes during the run: read every step.
    Varies,
    /// Never changes during the run, but differs between instances: read once.
    Fixed,
    /// The same value in every instance, for the whole run: compiled in.
    Uniform(f64),
}

/// Register loads that are not slots: the step and the time.
const DT: u32 = u32::MAX;
const TIME: u32 = u32::MAX - 1;

struct Builder<'a> {
    ops: Vec<VOp>,
    n_regs: u32,
    loads: Vec<(u32, u32)>,
    fixed: Vec<(u32, u32)>,
    /// What each slot holds now.
    env: FxHashMap<u32, Src>,
    known: &'a dyn Fn(u32) -> Known,
    time_slot: u32,
}

impl Builder<'_> {
    fn reg(&mut self) -> u32 {
        self.n_regs += 1;
        self.n_regs - 1
    }

    fn slot(&mut self, k: u32) -> Src {
        if let Some(&s) = self.env.get(&k) {
            return s;
        }
        let src = match (self.known)(k) {
            Known::Uniform(x) => Src::Const(x),
            known => {
                let r = self.reg();
                match known {
                    Known::Fixed => self.fixed.push((k, r)),
                    _ if k == self.time_slot => self.loads.push((TIME, r)),
                    _ => self.loads.push((k, r)),
                }
                Src::Reg(r)
            }
        };
        self.env.insert(k, src);
        src
    }

    /// `op` applied to `a` and `b`, folded when both are constants.
    fn bin(&mut self, op: BinaryOp, a: Src, b: Src) -> Src {
        if let (Src::Const(x), Src::Const(y)) = (a, b) {
            return Src::Const(myelin_expr::apply_binary(op, x, y));
        }
        let d = self.reg();
        self.ops.push(VOp::Bin(op, d, a, b));
        Src::Reg(d)
    }

    fn expr(&mut self, e: &CExpr) -> Src {
        match e {
            CExpr::Const(x) => Src::Const(*x),
            CExpr::Slot(k) => self.slot(*k),
            CExpr::Neg(x) => {
                let a = self.expr(x);
                if let Src::Const(c) = a {
                    return Src::Const(-c);
                }
                let d = self.reg();
                self.ops.push(VOp::Neg(d, a));
                Src::Reg(d)
            }
            CExpr::Not(x) => {
                let a = self.expr(x);
                let d = self.reg();
                self.ops.push(VOp::Not(d, a));
                Src::Reg(d)
            }
            CExpr::Bin(op, a, b) => {
                let (a, b) = (self.expr(a), self.expr(b));
                self.bin(*op, a, b)
            }
            CExpr::Call(f, args) => {
                let args: Vec<Src> = args.iter().map(|a| self.expr(a)).collect();
                let d = self.reg();
                match (crate::bytecode::unary_fn(f), args.as_slice()) {
                    (Some(g), [a]) => self.ops.push(VOp::Call1(d, g, *a)),
                    _ => self.ops.push(VOp::CallN(d, f.clone(), args)),
                }
                Src::Reg(d)
            }
            CExpr::Piecewise(cases) => {
                let cases: Vec<(Option<&CExpr>, &CExpr)> = cases.iter().map(|(v, c)| (Some(c), v)).collect();
                self.cases(&cases)
            }
        }
    }

    /// The first case whose condition holds (a missing condition always does); NaN if none.
    fn cases(&mut self, cases: &[(Option<&CExpr>, &CExpr)]) -> Src {
        let mut acc = Src::Const(f64::NAN);
        for (cond, val) in cases.iter().rev() {
            let v = self.expr(val);
            acc = match cond {
                None => v,
                Some(c) => {
                    let c = self.expr(c);
                    let d = self.reg();
                    self.ops.push(VOp::Select(d, c, v, acc));
                    Src::Reg(d)
                }
            };
        }
        acc
    }
}

/// Compiles the step of `t` for instances whose plan runs `derived` (indices into the type's
/// derived variables; `select`s among them are computed before the kernel runs and read as
/// inputs). `None` when something in it must run instance by instance.
pub(crate) fn compile(t: &CType, derived: &[u32], known: &dyn Fn(u32) -> Known) -> Option<Kernel> {
    if !t.regimes.is_empty() || !t.kinetic_schemes.is_empty() {
        return None;
    }
    let mut random = false;
    let mut note = |c: &CExpr| random |= c.visit_slots(&mut |_| {});
    for &d in derived {
        match &t.derived[d as usize] {
            Derive::Expr(_, e) => note(&e.tree),
            Derive::Cases(_, cases) => {
                for (c, v) in cases {
                    if let Some(c) = c {
                        note(&c.tree);
                    }
                    note(&v.tree);
                }
            }
            Derive::Select(..) => {}
        }
    }
    for (_, e) in &t.body.rates {
        note(&e.tree);
    }
    for (c, _) in &t.body.conditions {
        note(&c.tree);
    }
    if random {
        return None;
    }
    let mut b = Builder { ops: vec![], n_regs: 0, loads: vec![], fixed: vec![], env: FxHashMap::default(), known, time_slot: t.time_slot };
    let mut written: Vec<u32> = vec![];
    let mut wrote = |slot: u32| {
        if !written.contains(&slot) {
            written.push(slot);
        }
    };
    for &d in derived {
        let (slot, value) = match &t.derived[d as usize] {
            Derive::Expr(slot, e) => (*slot, b.expr(&e.tree)),
            Derive::Cases(slot, cases) => {
                let cases: Vec<(Option<&CExpr>, &CExpr)> = cases.iter().map(|(c, v)| (c.as_ref().map(|c| &c.tree), &v.tree)).collect();
                (*slot, b.cases(&cases))
            }
            Derive::Select(slot, _) => {
                b.slot(*slot);
                continue;
            }
        };
        b.env.insert(slot, value);
        wrote(slot);
    }
    // All rates from the current values, then the update.
    let rates: Vec<(u32, Src)> = t.body.rates.iter().map(|(slot, e)| (*slot, b.expr(&e.tree))).collect();
    let dt = b.reg(); // filled with the step before running
    for (slot, rate) in rates {
        let old = b.slot(slot);
        let inc = b.bin(BinaryOp::Mul, Src::Reg(dt), rate);
        let new = b.bin(BinaryOp::Add, old, inc);
        b.env.insert(slot, new);
        wrote(slot);
    }
    // Conditions whose actions only assign (a pulse generator switching on and off) become
    // selections, each tested on what the ones before it left; from the first that sends
    // events or changes regime on, they are tested here and run one instance at a time.
    let mut first_scalar = t.body.conditions.len();
    for (k, (c, actions)) in t.body.conditions.iter().enumerate() {
        let assigns_only = actions.iter().all(|a| matches!(a, CAction::Assign(_, e) if !e.tree.visit_slots(&mut |_| {})));
        if !assigns_only {
            first_scalar = k;
            break;
        }
        let cond = b.expr(&c.tree);
        for a in actions.iter() {
            if let CAction::Assign(slot, e) = a {
                let v = b.expr(&e.tree);
                let old = b.slot(*slot);
                let d = b.reg();
                b.ops.push(VOp::Select(d, cond, v, old));
                b.env.insert(*slot, Src::Reg(d));
                wrote(*slot);
            }
        }
    }
    let conditions = t.body.conditions[first_scalar..].iter().map(|(c, _)| b.expr(&c.tree)).collect();
    let stores = written.iter().map(|s| (*s, b.env[s])).collect();
    b.loads.insert(0, (DT, dt));
    Some(Kernel { ops: b.ops, n_regs: b.n_regs, loads: b.loads, fixed: b.fixed, stores, conditions, first_scalar: first_scalar as u32 })
}

fn truth(x: f64) -> bool {
    x != 0.0 && !x.is_nan()
}

/// A transfer between the instances' slots and a column (one value per instance).
pub(crate) enum Io<'a> {
    /// Fill the column from the slot.
    Get(u32, &'a mut [f64]),
    /// Write the column into the slot.
    Put(u32, &'a [f64]),
}

/// Column storage for running kernels, reused between calls.
#[derive(Default)]
pub(crate) struct Columns {
    regs: Vec<Vec<f64>>,
    /// Whether the kernel's fixed slots have been read.
    fixed_loaded: bool,
}

impl Columns {
    fn value(&self, s: Src, k: usize) -> f64 {
        match s {
            Src::Reg(r) => self.regs[r as usize][k],
            Src::Const(c) => c,
        }
    }

    /// The members for which any of `conditions` holds after [`Kernel::run`], in order.
    pub(crate) fn firing(&self, conditions: &[Src], n: usize) -> Vec<usize> {
        match conditions {
            [Src::Reg(r)] => self.regs[*r as usize][..n].iter().enumerate().filter(|(_, v)| truth(**v)).map(|(k, _)| k).collect(),
            _ => (0..n).filter(|&k| conditions.iter().any(|&c| self.holds(c, k))).collect(),
        }
    }

    /// Whether condition `c` of the kernel holds for member `k` after [`Kernel::run`].
    pub(crate) fn holds(&self, c: Src, k: usize) -> bool {
        truth(self.value(c, k))
    }
}

impl Kernel {
    /// Runs the kernel for `n` instances; `io` moves a slot's values between the instances
    /// and a column.
    pub(crate) fn run(&self, cols: &mut Columns, n: usize, t: f64, dt: f64, io: &mut dyn FnMut(Io<'_>)) {
        let regs = &mut cols.regs;
        if regs.len() < self.n_regs as usize {
            regs.resize_with(self.n_regs as usize, Vec::new);
        }
        if !cols.fixed_loaded {
            for r in regs.iter_mut().take(self.n_regs as usize) {
                r.resize(n, 0.0);
            }
            for &(slot, r) in &self.fixed {
                io(Io::Get(slot, &mut regs[r as usize]));
            }
            cols.fixed_loaded = true;
        }
        for &(slot, r) in &self.loads {
            match slot {
                DT => regs[r as usize].fill(dt),
                TIME => regs[r as usize].fill(t),
                _ => io(Io::Get(slot, &mut regs[r as usize])),
            }
        }
        for op in &self.ops {
            match op {
                VOp::Bin(o, d, a, b) => {
                    let mut out = std::mem::take(&mut regs[*d as usize]);
                    binary(*o, &mut out, *a, *b, regs);
                    regs[*d as usize] = out;
                }
                VOp::Neg(d, a) => {
                    let mut out = std::mem::take(&mut regs[*d as usize]);
                    unary(&mut out, *a, regs, |x| -x);
                    regs[*d as usize] = out;
                }
                VOp::Not(d, a) => {
                    let mut out = std::mem::take(&mut regs[*d as usize]);
                    unary(&mut out, *a, regs, |x| if truth(x) { 0.0 } else { 1.0 });
                    regs[*d as usize] = out;
                }
                VOp::Call1(d, g, a) => {
                    let mut out = std::mem::take(&mut regs[*d as usize]);
                    unary(&mut out, *a, regs, g);
                    regs[*d as usize] = out;
                }
                VOp::CallN(d, f, args) => {
                    let mut out = std::mem::take(&mut regs[*d as usize]);
                    let mut vals = vec![0.0; args.len()];
                    for (k, o) in out.iter_mut().enumerate() {
                        for (v, a) in vals.iter_mut().zip(args) {
                            *v = match *a {
                                Src::Reg(r) => regs[r as usize][k],
                                Src::Const(c) => c,
                            };
                        }
                        *o = myelin_expr::apply_func(f, &vals);
                    }
                    regs[*d as usize] = out;
                }
                VOp::Select(d, c, a, b) => {
                    let mut out = std::mem::take(&mut regs[*d as usize]);
                    select(&mut out, *c, *a, *b, regs);
                    regs[*d as usize] = out;
                }
            }
        }
        let mut tmp = vec![];
        for &(slot, s) in &self.stores {
            match s {
                Src::Reg(r) => io(Io::Put(slot, &regs[r as usize])),
                Src::Const(c) => {
                    tmp.clear();
                    tmp.resize(n, c);
                    io(Io::Put(slot, &tmp));
                }
            }
        }
    }
}

/// An operand seen as a column: a register's values, or one constant repeated.
enum Column<'a> {
    Values(&'a [f64]),
    Repeat(f64),
}

impl Column<'_> {
    fn of(s: Src, regs: &[Vec<f64>]) -> Column<'_> {
        match s {
            Src::Reg(r) => Column::Values(&regs[r as usize]),
            Src::Const(x) => Column::Repeat(x),
        }
    }
}

/// `out = truth(c) ? a : b` element by element.
fn select(out: &mut [f64], c: Src, a: Src, b: Src, regs: &[Vec<f64>]) {
    let pick = |c: f64, a: f64, b: f64| if truth(c) { a } else { b };
    match (Column::of(c, regs), Column::of(a, regs), Column::of(b, regs)) {
        (Column::Values(c), Column::Values(a), Column::Values(b)) => {
            for (((o, &c), &a), &b) in out.iter_mut().zip(c).zip(a).zip(b) {
                *o = pick(c, a, b);
            }
        }
        (Column::Values(c), Column::Repeat(a), Column::Values(b)) => {
            for ((o, &c), &b) in out.iter_mut().zip(c).zip(b) {
                *o = pick(c, a, b);
            }
        }
        (Column::Values(c), Column::Values(a), Column::Repeat(b)) => {
            for ((o, &c), &a) in out.iter_mut().zip(c).zip(a) {
                *o = pick(c, a, b);
            }
        }
        (c, a, b) => {
            let at = |x: &Column<'_>, k: usize| match x {
                Column::Values(v) => v[k],
                Column::Repeat(r) => *r,
            };
            for (k, o) in out.iter_mut().enumerate() {
                *o = pick(at(&c, k), at(&a, k), at(&b, k));
            }
        }
    }
}

fn unary(out: &mut [f64], a: Src, regs: &[Vec<f64>], f: impl Fn(f64) -> f64) {
    match a {
        Src::Reg(r) => {
            for (o, x) in out.iter_mut().zip(&regs[r as usize]) {
                *o = f(*x);
            }
        }
        Src::Const(c) => out.fill(f(c)),
    }
}

/// `out = a op b` element by element; the arithmetic operators get their own loops.
fn binary(op: BinaryOp, out: &mut [f64], a: Src, b: Src, regs: &[Vec<f64>]) {
    macro_rules! each {
        ($f:expr) => {{
            let f = $f;
            match (a, b) {
                (Src::Reg(x), Src::Reg(y)) => {
                    for ((o, p), q) in out.iter_mut().zip(&regs[x as usize]).zip(&regs[y as usize]) {
                        *o = f(*p, *q);
                    }
                }
                (Src::Reg(x), Src::Const(q)) => {
                    for (o, p) in out.iter_mut().zip(&regs[x as usize]) {
                        *o = f(*p, q);
                    }
                }
                (Src::Const(p), Src::Reg(y)) => {
                    for (o, q) in out.iter_mut().zip(&regs[y as usize]) {
                        *o = f(p, *q);
                    }
                }
                (Src::Const(p), Src::Const(q)) => out.fill(f(p, q)),
            }
        }};
    }
    match op {
        BinaryOp::Add => each!(|p: f64, q: f64| p + q),
        BinaryOp::Sub => each!(|p: f64, q: f64| p - q),
        BinaryOp::Mul => each!(|p: f64, q: f64| p * q),
        BinaryOp::Div => each!(|p: f64, q: f64| p / q),
        // The comparisons as `myelin_expr::apply_binary` defines them, spelled out so the
        // loops need no call.
        BinaryOp::Lt => each!(|p: f64, q: f64| if p < q { 1.0 } else { 0.0 }),
        BinaryOp::Le => each!(|p: f64, q: f64| if p <= q { 1.0 } else { 0.0 }),
        BinaryOp::Gt => each!(|p: f64, q: f64| if p > q { 1.0 } else { 0.0 }),
        BinaryOp::Ge => each!(|p: f64, q: f64| if p >= q { 1.0 } else { 0.0 }),
        other => each!(|p: f64, q: f64| myelin_expr::apply_binary(other, p, q)),
    }
}
