//! Expressions compiled against a slot layout: names become indices, so evaluation does no
//! lookups. This tree-walking form is the engine's reference evaluator.

use myelin_expr::{BinaryOp, Expr, ExprKind, Func, UnaryOp};

/// A compiled expression over the variable slots of one instance.
#[derive(Clone, Debug)]
pub(crate) enum CExpr {
    Const(f64),
    Slot(u32),
    Neg(Box<CExpr>),
    Not(Box<CExpr>),
    Bin(BinaryOp, Box<CExpr>, Box<CExpr>),
    Call(Func, Vec<CExpr>),
    /// (value, condition) pairs; the first true condition wins; NaN if none.
    Piecewise(Vec<(CExpr, CExpr)>),
}

/// Why an expression could not be compiled.
#[derive(Debug)]
pub(crate) enum CompileError {
    UnknownSymbol(String),
    Unsupported(String),
}

/// Compiles `e`, resolving names with `slot_of`.
pub(crate) fn compile(e: &Expr, slot_of: &impl Fn(&str) -> Option<u32>) -> Result<CExpr, CompileError> {
    Ok(match &e.kind {
        ExprKind::Num(x) => CExpr::Const(*x),
        ExprKind::Bool(b) => CExpr::Const(if *b { 1.0 } else { 0.0 }),
        ExprKind::Const(c) => CExpr::Const(c.value()),
        ExprKind::Var(name) => CExpr::Slot(slot_of(name).ok_or_else(|| CompileError::UnknownSymbol(name.clone()))?),
        ExprKind::Unary(UnaryOp::Neg, x) => CExpr::Neg(Box::new(compile(x, slot_of)?)),
        ExprKind::Unary(UnaryOp::Not, x) => CExpr::Not(Box::new(compile(x, slot_of)?)),
        ExprKind::Binary(op, a, b) => CExpr::Bin(*op, Box::new(compile(a, slot_of)?), Box::new(compile(b, slot_of)?)),
        ExprKind::Call(Func::User(name), _) => return Err(CompileError::Unsupported(format!("call of user function `{name}`"))),
        ExprKind::Call(f, args) => CExpr::Call(f.clone(), args.iter().map(|a| compile(a, slot_of)).collect::<Result<_, _>>()?),
        ExprKind::Piecewise(cases) => {
            CExpr::Piecewise(cases.iter().map(|(v, c)| Ok((compile(v, slot_of)?, compile(c, slot_of)?))).collect::<Result<_, _>>()?)
        }
    })
}

fn truth(x: f64) -> bool {
    x != 0.0 && !x.is_nan()
}

fn b(x: bool) -> f64 {
    if x { 1.0 } else { 0.0 }
}

impl CExpr {
    /// Evaluates against an instance's slots; `rng` gives U[0,1) for `random()`.
    pub(crate) fn eval(&self, v: &[f64], rng: &mut dyn FnMut() -> f64) -> f64 {
        match self {
            CExpr::Const(x) => *x,
            CExpr::Slot(k) => v[*k as usize],
            CExpr::Neg(x) => -x.eval(v, rng),
            CExpr::Not(x) => b(!truth(x.eval(v, rng))),
            CExpr::Bin(op, l, r) => {
                let a = l.eval(v, rng);
                match op {
                    BinaryOp::And => return b(truth(a) && truth(r.eval(v, rng))),
                    BinaryOp::Or => return b(truth(a) || truth(r.eval(v, rng))),
                    _ => {}
                }
                let c = r.eval(v, rng);
                match op {
                    BinaryOp::Add => a + c,
                    BinaryOp::Sub => a - c,
                    BinaryOp::Mul => a * c,
                    BinaryOp::Div => a / c,
                    BinaryOp::Pow => a.powf(c),
                    BinaryOp::Lt => b(a < c),
                    BinaryOp::Le => b(a <= c),
                    BinaryOp::Gt => b(a > c),
                    BinaryOp::Ge => b(a >= c),
                    BinaryOp::Eq => b(a == c),
                    BinaryOp::Ne => b(a != c),
                    BinaryOp::And | BinaryOp::Or => unreachable_logic(),
                }
            }
            CExpr::Call(f, args) => call(f, args, v, rng),
            CExpr::Piecewise(cases) => {
                for (val, cond) in cases {
                    if truth(cond.eval(v, rng)) {
                        return val.eval(v, rng);
                    }
                }
                f64::NAN
            }
        }
    }
}

fn unreachable_logic() -> f64 {
    // Handled before both operands are evaluated.
    f64::NAN
}

fn call(f: &Func, args: &[CExpr], v: &[f64], rng: &mut dyn FnMut() -> f64) -> f64 {
    let x = args.first().map_or(f64::NAN, |a| a.eval(v, rng));
    let y = || args.get(1).map_or(f64::NAN, |a| a.eval(v, &mut || 0.0));
    match f {
        Func::Sin => x.sin(),
        Func::Cos => x.cos(),
        Func::Tan => x.tan(),
        Func::Asin => x.asin(),
        Func::Acos => x.acos(),
        Func::Atan => x.atan(),
        Func::Atan2 => x.atan2(y()),
        Func::Sinh => x.sinh(),
        Func::Cosh => x.cosh(),
        Func::Tanh => x.tanh(),
        Func::Asinh => x.asinh(),
        Func::Acosh => x.acosh(),
        Func::Atanh => x.atanh(),
        Func::Exp => x.exp(),
        Func::Log => x.ln(),
        Func::Sqrt => x.sqrt(),
        Func::Abs => x.abs(),
        Func::Ceil => x.ceil(),
        Func::Floor => x.floor(),
        Func::Sign => {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            }
        }
        Func::Heaviside => {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                0.0
            } else if args.len() > 1 {
                y()
            } else {
                0.5
            }
        }
        Func::Random => x * rng(),
        Func::Factorial => {
            let n = x.round();
            if !(0.0..=170.0).contains(&n) { f64::NAN } else { (1..=n as u32).map(f64::from).product() }
        }
        Func::Min => args.iter().map(|a| a.eval(v, rng)).fold(f64::INFINITY, f64::min),
        Func::Max => args.iter().map(|a| a.eval(v, rng)).fold(f64::NEG_INFINITY, f64::max),
        Func::Mod => {
            let d = y();
            x - d * (x / d).floor()
        }
        Func::Erf | Func::Erfc => {
            // Evaluated by the reference evaluator of myelin-expr, which implements them.
            let e = myelin_expr::Expr::call(f.clone(), vec![myelin_expr::Expr::num(x)]);
            myelin_expr::eval(&e, &|_| None, &mut || 0.0).unwrap_or(f64::NAN)
        }
        Func::User(_) => f64::NAN,
    }
}
