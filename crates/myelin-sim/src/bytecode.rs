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
    Bin(BinaryOp),
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
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Program {
    ops: Vec<Op>,
    /// Functions called through `Op::CallN` (rare: Min, Max, atan2, erf, Heaviside...).
    others: Vec<Func>,
}

fn truth(x: f64) -> bool {
    x != 0.0 && !x.is_nan()
}

impl Program {
    pub(crate) fn compile(e: &CExpr) -> Program {
        let mut p = Program::default();
        p.emit(e);
        p
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
            CExpr::Bin(op, a, b) => {
                self.emit(a);
                self.emit(b);
                self.ops.push(Op::Bin(*op));
            }
            CExpr::Call(f, args) => {
                for a in args {
                    self.emit(a);
                }
                let one: Option<fn(f64) -> f64> = match f {
                    Func::Sin => Some(f64::sin),
                    Func::Cos => Some(f64::cos),
                    Func::Tan => Some(f64::tan),
                    Func::Asin => Some(f64::asin),
                    Func::Acos => Some(f64::acos),
                    Func::Atan => Some(f64::atan),
                    Func::Sinh => Some(f64::sinh),
                    Func::Cosh => Some(f64::cosh),
                    Func::Tanh => Some(f64::tanh),
                    Func::Asinh => Some(f64::asinh),
                    Func::Acosh => Some(f64::acosh),
                    Func::Atanh => Some(f64::atanh),
                    Func::Exp => Some(f64::exp),
                    Func::Log => Some(f64::ln),
                    Func::Sqrt => Some(f64::sqrt),
                    Func::Abs => Some(f64::abs),
                    Func::Ceil => Some(f64::ceil),
                    Func::Floor => Some(f64::floor),
                    _ => None,
                };
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

    /// Evaluates against an instance's slots; `stack` is scratch space reused between calls.
    pub(crate) fn eval(&self, v: &[f64], stack: &mut Vec<f64>, rng: &mut dyn FnMut() -> f64) -> f64 {
        stack.clear();
        let ops = &self.ops;
        let mut pc = 0;
        while pc < ops.len() {
            match ops[pc] {
                Op::Const(x) => stack.push(x),
                Op::Slot(k) => stack.push(v[k as usize]),
                Op::Neg => {
                    if let Some(x) = stack.last_mut() {
                        *x = -*x;
                    }
                }
                Op::Not => {
                    if let Some(x) = stack.last_mut() {
                        *x = if truth(*x) { 0.0 } else { 1.0 };
                    }
                }
                Op::Truth => {
                    if let Some(x) = stack.last_mut() {
                        *x = if truth(*x) { 1.0 } else { 0.0 };
                    }
                }
                Op::Bin(op) => {
                    let b = stack.pop().unwrap_or(f64::NAN);
                    let a = stack.pop().unwrap_or(f64::NAN);
                    stack.push(myelin_expr::apply_binary(op, a, b));
                }
                Op::Call1(g) => {
                    if let Some(x) = stack.last_mut() {
                        *x = g(*x);
                    }
                }
                Op::Random => {
                    if let Some(x) = stack.last_mut() {
                        *x *= rng();
                    }
                }
                Op::CallN(f, n) => {
                    let at = stack.len().saturating_sub(n as usize);
                    let r = myelin_expr::apply_func(&self.others[f], &stack[at..]);
                    stack.truncate(at);
                    stack.push(r);
                }
                Op::JumpIfFalse(target) => {
                    let x = stack.pop().unwrap_or(f64::NAN);
                    if !truth(x) {
                        pc = target as usize;
                        continue;
                    }
                }
                Op::Jump(target) => {
                    pc = target as usize;
                    continue;
                }
            }
            pc += 1;
        }
        stack.pop().unwrap_or(f64::NAN)
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
        let mut stack = vec![];
        (c.eval(vars, &mut || 0.25), p.eval(vars, &mut stack, &mut || 0.25))
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
}

impl Code {
    pub(crate) fn new(tree: CExpr) -> Code {
        let program = Program::compile(&tree);
        Code { tree, program }
    }

    pub(crate) fn eval(&self, v: &[f64], stack: &mut Vec<f64>, rng: &mut dyn FnMut() -> f64) -> f64 {
        let x = self.program.eval(v, stack, rng);
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
