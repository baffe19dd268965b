//! Compiled expressions as a flat postfix program: one loop over a `Vec<Op>` with a value
//! stack, instead of a walk over boxed nodes. Same results as [`CExpr::eval`], which stays
//! the reference (the tests compare the two on every expression of the official examples).

use crate::cexpr::CExpr;
use myelin_expr::{BinaryOp, Func};

#[derive(Clone, Copy, Debug)]
pub(crate) enum Op {
    Const(f64),
    Slot(u32),
    Neg,
    Not,
    /// `a op b` with both operands on the stack.
    Bin(BinaryOp),
    Add,
    Sub,
    Mul,
    Div,
    /// `top op slot` / `top op constant`: the right operand folded into the instruction.
    AddS(u32),
    SubS(u32),
    MulS(u32),
    DivS(u32),
    AddC(f64),
    SubC(f64),
    MulC(f64),
    DivC(f64),
    BinS(BinaryOp, u32),
    BinC(BinaryOp, f64),
    /// `constant - top`, `constant / top`, `slot - top`, `slot / top`: a constant or variable
    /// left operand folded in (the right one computed first; neither has side effects).
    RSubC(f64),
    RDivC(f64),
    RSubS(u32),
    RDivS(u32),
    /// A one-argument function.
    Call1(fn(f64) -> f64),
    /// `random(x)`: x times a draw from the generator.
    Random,
    /// Any other call (index into `Program::others`), with its argument count.
    CallN(usize, u8),
    /// Pop; jump to the target when the value is false.
    JumpIfFalse(u32),
    Jump(u32),
    /// Replace the top with 1.0 or 0.0 by its truth.
    Truth,
    /// Pop into a slot (blocks only).
    Store(u32),
}

/// A derived variable for [`Program::block`]: its slot and its `(condition, value)` cases.
pub(crate) type BlockItem<'a> = (u32, Vec<(Option<&'a CExpr>, &'a CExpr)>);

/// Deepest stack the fast evaluator handles (deeper programs use the tree walk).
const DEPTH: usize = 32;
const _: () = assert!(DEPTH.is_power_of_two());

/// A stack position, reduced modulo [`DEPTH`] (a power of two): programs that fit never reach
/// it, and the reduction lets the compiler drop the bounds check on every push and pop.
macro_rules! at {
    ($sp:expr) => {
        ($sp) % DEPTH
    };
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Program {
    ops: Vec<Op>,
    /// Functions called through `Op::CallN` (rare: Min, Max, atan2, erf, Heaviside...).
    others: Vec<Func>,
    /// The most values the program keeps on the stack besides the top.
    depth: usize,
}

/// The plain `f64` function a one-argument call maps to, where there is one.
pub(crate) fn unary_fn(f: &Func) -> Option<fn(f64) -> f64> {
    Some(match f {
        Func::Sin => f64::sin,
        Func::Cos => f64::cos,
        Func::Tan => f64::tan,
        Func::Asin => f64::asin,
        Func::Acos => f64::acos,
        Func::Atan => f64::atan,
        Func::Sinh => f64::sinh,
        Func::Cosh => f64::cosh,
        Func::Tanh => f64::tanh,
        Func::Asinh => f64::asinh,
        Func::Acosh => f64::acosh,
        Func::Atanh => f64::atanh,
        Func::Exp => f64::exp,
        Func::Log => f64::ln,
        Func::Sqrt => f64::sqrt,
        Func::Abs => f64::abs,
        Func::Ceil => f64::ceil,
        Func::Floor => f64::floor,
        _ => return None,
    })
}

fn truth(x: f64) -> bool {
    x != 0.0 && !x.is_nan()
}

/// The interpreter loop, shared by [`Program::eval`] (read-only slots) and [`Program::exec`]
/// (a block that stores into slots): the top of the stack lives in `acc`, the rest in a
/// fixed array.
macro_rules! interpret {
    ($self:ident, $v:ident, $rng:ident, $k:ident, $x:ident, $store:block) => {{
        let mut st = [0.0f64; DEPTH];
            let mut sp = 0usize; // values in `st`
            let mut acc = f64::NAN;
            let ops = &$self.ops[..];
            let mut pc = 0;
            while let Some(op) = ops.get(pc) {
                pc += 1;
                match *op {
                    Op::Const(x) => {
                        st[at!(sp)] = acc;
                        sp += 1;
                        acc = x;
                    }
                    Op::Slot(k) => {
                        st[at!(sp)] = acc;
                        sp += 1;
                        acc = $v[k as usize];
                    }
                    Op::AddS(k) => acc += $v[k as usize],
                    Op::SubS(k) => acc -= $v[k as usize],
                    Op::MulS(k) => acc *= $v[k as usize],
                    Op::DivS(k) => acc /= $v[k as usize],
                    Op::AddC(c) => acc += c,
                    Op::SubC(c) => acc -= c,
                    Op::MulC(c) => acc *= c,
                    Op::DivC(c) => acc /= c,
                    Op::RSubC(c) => acc = c - acc,
                    Op::RDivC(c) => acc = c / acc,
                    Op::RSubS(k) => acc = $v[k as usize] - acc,
                    Op::RDivS(k) => acc = $v[k as usize] / acc,
                    Op::BinS(op, k) => acc = myelin_expr::apply_binary(op, acc, $v[k as usize]),
                    Op::BinC(op, c) => acc = myelin_expr::apply_binary(op, acc, c),
                    Op::Add => {
                        sp -= 1;
                        acc += st[at!(sp)];
                    }
                    Op::Sub => {
                        sp -= 1;
                        acc = st[at!(sp)] - acc;
                    }
                    Op::Mul => {
                        sp -= 1;
                        acc *= st[at!(sp)];
                    }
                    Op::Div => {
                        sp -= 1;
                        acc = st[at!(sp)] / acc;
                    }
                    Op::Bin(op) => {
                        sp -= 1;
                        acc = myelin_expr::apply_binary(op, st[at!(sp)], acc);
                    }
                    Op::Neg => acc = -acc,
                    Op::Not => acc = if truth(acc) { 0.0 } else { 1.0 },
                    Op::Truth => acc = if truth(acc) { 1.0 } else { 0.0 },
                    Op::Call1(g) => acc = g(acc),
                    Op::Random => acc *= $rng(),
                    Op::CallN(f, n) => {
                        // The arguments: `n - 1` in the array, the last in `acc`.
                        let n = n as usize;
                        let mut args = [0.0f64; 8];
                        if n == 0 {
                            st[at!(sp)] = acc;
                            sp += 1;
                            acc = myelin_expr::apply_func(&$self.others[f], &[]);
                        } else if n <= args.len() {
                            let at = sp + 1 - n;
                            args[..n - 1].copy_from_slice(&st[at..sp]);
                            args[n - 1] = acc;
                            sp = at;
                            acc = myelin_expr::apply_func(&$self.others[f], &args[..n]);
                        } else {
                            let at = sp + 1 - n;
                            let mut many: Vec<f64> = st[at..sp].to_vec();
                            many.push(acc);
                            sp = at;
                            acc = myelin_expr::apply_func(&$self.others[f], &many);
                        }
                    }
                    Op::JumpIfFalse(target) => {
                        let x = acc;
                        sp -= 1;
                        acc = st[at!(sp)];
                        if !truth(x) {
                            pc = target as usize;
                        }
                    }
                    Op::Jump(target) => pc = target as usize,
                    Op::Store(k) => {
                        let $k = k;
                        let $x = acc;
                        $store
                        sp -= 1;
                        acc = st[at!(sp)];
                    }
                }
            }
        acc
    }};
}

impl Program {
    pub(crate) fn compile(e: &CExpr) -> Program {
        let mut p = Program::default();
        p.emit(e);
        p.depth = p.max_depth();
        p
    }

    /// One program computing several derived variables in order: `(slot, cases)` where each
    /// case is `(condition, value)`, the first whose condition is missing or true giving the
    /// value (NaN when none does), stored into `slot` before the next is computed. The same
    /// operations, in the same order, as evaluating each expression by itself.
    pub(crate) fn block(items: &[BlockItem<'_>]) -> Program {
        let mut p = Program::default();
        for (slot, cases) in items {
            match cases.as_slice() {
                [(None, value)] => p.emit(value),
                _ => {
                    let mut to_end = vec![];
                    for (cond, val) in cases {
                        let jf = cond.map(|c| {
                            p.emit(c);
                            p.ops.push(Op::JumpIfFalse(0));
                            p.ops.len() - 1
                        });
                        p.emit(val);
                        to_end.push(p.ops.len());
                        p.ops.push(Op::Jump(0));
                        if let Some(jf) = jf {
                            p.ops[jf] = Op::JumpIfFalse(p.ops.len() as u32);
                        }
                    }
                    p.ops.push(Op::Const(f64::NAN));
                    let end = p.ops.len() as u32;
                    for k in to_end {
                        p.ops[k] = Op::Jump(end);
                    }
                }
            }
            p.ops.push(Op::Store(*slot));
        }
        p.depth = p.max_depth();
        p
    }

    /// Stack slots used below the top (the top lives in a register).
    fn max_depth(&self) -> usize {
        // Straight-line depth bound: every push counts, ignoring pops on jumps' other paths
        // (an over-estimate is safe).
        let mut d: isize = 0;
        let mut m: isize = 0;
        for op in &self.ops {
            d += match op {
                Op::Const(_) | Op::Slot(_) => 1,
                Op::Bin(_) | Op::Add | Op::Sub | Op::Mul | Op::Div | Op::JumpIfFalse(_) | Op::Store(_) => -1,
                Op::CallN(_, n) => 1 - *n as isize,
                _ => 0,
            };
            m = m.max(d);
        }
        m.max(1) as usize
    }

    /// A binary operation whose right operand was just pushed: fold a slot or constant push
    /// into the operation.
    fn push_bin(&mut self, op: BinaryOp, right_start: usize) {
        if right_start + 1 == self.ops.len() {
            let last = self.ops[right_start];
            let fused = match (last, op) {
                (Op::Slot(k), BinaryOp::Add) => Some(Op::AddS(k)),
                (Op::Slot(k), BinaryOp::Sub) => Some(Op::SubS(k)),
                (Op::Slot(k), BinaryOp::Mul) => Some(Op::MulS(k)),
                (Op::Slot(k), BinaryOp::Div) => Some(Op::DivS(k)),
                (Op::Slot(k), op) => Some(Op::BinS(op, k)),
                (Op::Const(c), BinaryOp::Add) => Some(Op::AddC(c)),
                (Op::Const(c), BinaryOp::Sub) => Some(Op::SubC(c)),
                (Op::Const(c), BinaryOp::Mul) => Some(Op::MulC(c)),
                (Op::Const(c), BinaryOp::Div) => Some(Op::DivC(c)),
                (Op::Const(c), op) => Some(Op::BinC(op, c)),
                _ => None,
            };
            if let Some(f) = fused {
                self.ops[right_start] = f;
                return;
            }
        }
        self.ops.push(match op {
            BinaryOp::Add => Op::Add,
            BinaryOp::Sub => Op::Sub,
            BinaryOp::Mul => Op::Mul,
            BinaryOp::Div => Op::Div,
            op => Op::Bin(op),
        });
    }

    fn emit(&mut self, e: &CExpr) {
        match e {
            CExpr::Const(x) => self.ops.push(Op::Const(*x)),
            CExpr::Slot(k) => self.ops.push(Op::Slot(*k)),
            CExpr::Neg(x) => {
                self.emit(x);
                self.ops.push(Op::Neg);
            }
            CExpr::Not(x) => {
                self.emit(x);
                self.ops.push(Op::Not);
            }
            CExpr::Bin(BinaryOp::And, a, b) | CExpr::Bin(BinaryOp::Or, a, b) => {
                let is_and = matches!(e, CExpr::Bin(BinaryOp::And, ..));
                // a && b: if !a -> 0 else truth(b);  a || b: if a -> 1 else truth(b)
                self.emit(a);
                if !is_and {
                    self.ops.push(Op::Not);
                }
                let jf = self.ops.len();
                self.ops.push(Op::JumpIfFalse(0));
                self.emit(b);
                self.ops.push(Op::Truth);
                let j = self.ops.len();
                self.ops.push(Op::Jump(0));
                let short = self.ops.len() as u32;
                self.ops.push(Op::Const(if is_and { 0.0 } else { 1.0 }));
                let end = self.ops.len() as u32;
                self.ops[jf] = Op::JumpIfFalse(short);
                self.ops[j] = Op::Jump(end);
            }
            CExpr::Bin(op, a, b) if !matches!(**b, CExpr::Const(_) | CExpr::Slot(_)) && matches!(**a, CExpr::Const(_) | CExpr::Slot(_)) => {
                // A constant or variable on the left of a computed right operand: compute the
                // right one, then apply the left without a stack round trip (`a + b` and
                // `b + a` are the same IEEE operation, as are the products).
                let fused = match (&**a, op) {
                    (CExpr::Const(c), BinaryOp::Add) => Some(Op::AddC(*c)),
                    (CExpr::Const(c), BinaryOp::Mul) => Some(Op::MulC(*c)),
                    (CExpr::Const(c), BinaryOp::Sub) => Some(Op::RSubC(*c)),
                    (CExpr::Const(c), BinaryOp::Div) => Some(Op::RDivC(*c)),
                    (CExpr::Slot(k), BinaryOp::Add) => Some(Op::AddS(*k)),
                    (CExpr::Slot(k), BinaryOp::Mul) => Some(Op::MulS(*k)),
                    (CExpr::Slot(k), BinaryOp::Sub) => Some(Op::RSubS(*k)),
                    (CExpr::Slot(k), BinaryOp::Div) => Some(Op::RDivS(*k)),
                    _ => None,
                };
                match fused {
                    Some(f) => {
                        self.emit(b);
                        self.ops.push(f);
                    }
                    None => {
                        self.emit(a);
                        let right = self.ops.len();
                        self.emit(b);
                        self.push_bin(*op, right);
                    }
                }
            }
            CExpr::Bin(op, a, b) => {
                self.emit(a);
                let right = self.ops.len();
                self.emit(b);
                self.push_bin(*op, right);
            }
            CExpr::Call(f, args) => {
                for a in args {
                    self.emit(a);
                }
                let one = unary_fn(f);
                let n = u8::try_from(args.len()).unwrap_or(u8::MAX);
                match (one, f) {
                    (Some(g), _) if args.len() == 1 => self.ops.push(Op::Call1(g)),
                    (_, Func::Random) => self.ops.push(Op::Random),
                    _ => {
                        self.others.push(f.clone());
                        self.ops.push(Op::CallN(self.others.len() - 1, n));
                    }
                }
            }
            CExpr::Piecewise(cases) => {
                let mut to_end = vec![];
                for (val, cond) in cases {
                    self.emit(cond);
                    let jf = self.ops.len();
                    self.ops.push(Op::JumpIfFalse(0));
                    self.emit(val);
                    to_end.push(self.ops.len());
                    self.ops.push(Op::Jump(0));
                    let next = self.ops.len() as u32;
                    self.ops[jf] = Op::JumpIfFalse(next);
                }
                self.ops.push(Op::Const(f64::NAN));
                let end = self.ops.len() as u32;
                for k in to_end {
                    self.ops[k] = Op::Jump(end);
                }
            }
        }
    }

    /// Whether the fast evaluator can run this program.
    pub(crate) fn fits(&self) -> bool {
        self.depth < DEPTH && !self.ops.is_empty()
    }

    /// Evaluates against an instance's slots.
    pub(crate) fn eval(&self, v: &[f64], rng: &mut dyn FnMut() -> f64) -> f64 {
        interpret!(self, v, rng, _k, _x, {})
    }

    /// Runs a block (see [`Program::block`]), storing into `v`.
    pub(crate) fn exec(&self, v: &mut [f64], rng: &mut dyn FnMut() -> f64) {
        interpret!(self, v, rng, k, x, { v[k as usize] = x });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cexpr::compile;

    fn both(src: &str, vars: &[f64]) -> (f64, f64) {
        let e = myelin_expr::parse(src, myelin_expr::Dialect::Sympy).unwrap();
        let names = ["a", "b", "c"];
        let c = compile(&e, &|n| names.iter().position(|x| *x == n).map(|k| k as u32)).unwrap();
        let p = Program::compile(&c);
        assert!(p.fits());
        (c.eval(vars, &mut || 0.25), p.eval(vars, &mut || 0.25))
    }

    #[test]
    fn agrees_with_the_tree_evaluator() {
        for src in [
            "a + b * c - a / b",
            "-a ** 2 + exp(b) * log(c)",
            "(a < b) & (b < c)",
            "(a > b) | (c > b)",
            "Piecewise((a, b > c), (b, c > 3), (c, True))",
            "Piecewise((1, a > 100))",
            "Min(a, b, c) + Max(a, c) + atan2(a, b) + Heaviside(a - a) + Abs(-c)",
            "~(a > b) + sign(a - b) + erf(a) + floor(c / b)",
            "random(a) * 2",
            "a - (b - c) / (a * (b + 2)) ** c - 3 / a + (b > 2) * 4",
            "exp((a - b) / c) * (1 - c) / (2 + b) - log(Abs(a) + 1) / (a + b + c)",
        ] {
            for vars in [[1.0, 2.0, 3.0], [5.0, -1.0, 0.5], [0.0, 0.0, 0.0]] {
                let (t, b) = both(src, &vars);
                assert!(t == b || (t.is_nan() && b.is_nan()), "{src} with {vars:?}: tree {t}, bytecode {b}");
            }
        }
    }
}

/// A compiled expression: the postfix program the engine runs, and the tree it came from (the
/// reference semantics).
#[derive(Clone, Debug)]
pub(crate) struct Code {
    #[cfg_attr(not(debug_assertions), allow(dead_code))]
    pub(crate) tree: CExpr,
    program: Program,
    /// Whether `program` fits the fast evaluator (else the tree walk runs).
    fast: bool,
}

impl Code {
    pub(crate) fn new(tree: CExpr) -> Code {
        let program = Program::compile(&tree);
        let fast = program.fits();
        Code { tree, program, fast }
    }

    pub(crate) fn eval(&self, v: &[f64], rng: &mut dyn FnMut() -> f64) -> f64 {
        if !self.fast {
            return self.tree.eval(v, rng);
        }
        let x = self.program.eval(v, rng);
        // Debug builds (every test run) check the program against the reference tree walk,
        // except where a second evaluation would draw different random numbers.
        #[cfg(debug_assertions)]
        if !self.program.ops.iter().any(|op| matches!(op, Op::Random)) {
            let reference = self.tree.eval(v, &mut || 0.0);
            debug_assert!(
                reference == x || (reference.is_nan() && x.is_nan()),
                "bytecode {x} differs from the tree walk {reference} for {:?}",
                self.tree
            );
        }
        x
    }
}
