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
        ExprKind::Binary(op, a, b) => {
            let (a, b) = (compile(a, slot_of)?, compile(b, slot_of)?);
            match (op, &a, &b) {
                // `x^2` of a variable as `x * x`: the correctly rounded square, without a call
                // to `pow` every step (rate constants squared, as in TVBO's neural masses).
                (BinaryOp::Pow, CExpr::Slot(_), CExpr::Const(c)) if *c == 2.0 => CExpr::Bin(BinaryOp::Mul, Box::new(a.clone()), Box::new(a)),
                _ => CExpr::Bin(*op, Box::new(a), Box::new(b)),
            }
        }
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
    /// Calls `f` with every slot the expression reads; returns whether it draws `random()`.
    pub(crate) fn visit_slots(&self, f: &mut dyn FnMut(u32)) -> bool {
        match self {
            CExpr::Const(_) => false,
            CExpr::Slot(k) => {
                f(*k);
                false
            }
            CExpr::Neg(x) | CExpr::Not(x) => x.visit_slots(f),
            CExpr::Bin(_, a, b) => a.visit_slots(f) | b.visit_slots(f),
            CExpr::Call(func, args) => args.iter().fold(*func == Func::Random, |r, a| a.visit_slots(f) | r),
            CExpr::Piecewise(cases) => cases.iter().fold(false, |r, (v, c)| v.visit_slots(f) | c.visit_slots(f) | r),
        }
    }

    /// The expression with the slots `known` gives values for replaced by those values, and
    /// what that leaves constant folded (with the evaluator's own arithmetic, so the result
    /// computes exactly what the original would).
    pub(crate) fn specialize(&self, known: &dyn Fn(u32) -> Option<f64>) -> CExpr {
        let c = |x: f64| CExpr::Const(x);
        match self {
            CExpr::Const(x) => c(*x),
            CExpr::Slot(k) => known(*k).map_or(CExpr::Slot(*k), c),
            CExpr::Neg(x) => match x.specialize(known) {
                CExpr::Const(v) => c(-v),
                e => CExpr::Neg(Box::new(e)),
            },
            CExpr::Not(x) => match x.specialize(known) {
                CExpr::Const(v) => c(b(!truth(v))),
                e => CExpr::Not(Box::new(e)),
            },
            CExpr::Bin(op, l, r) => match (l.specialize(known), r.specialize(known)) {
                (CExpr::Const(x), CExpr::Const(y)) => c(myelin_expr::apply_binary(*op, x, y)),
                // `x^1` is `x`, and `x^2` of a variable `x * x`, exactly (a gate's
                // `q^instances` once `instances` is known).
                (x, CExpr::Const(y)) if *op == BinaryOp::Pow && y == 1.0 => x,
                (x @ CExpr::Slot(_), CExpr::Const(y)) if *op == BinaryOp::Pow && y == 2.0 => CExpr::Bin(BinaryOp::Mul, Box::new(x.clone()), Box::new(x)),
                (x, y) => CExpr::Bin(*op, Box::new(x), Box::new(y)),
            },
            CExpr::Call(f, args) => {
                let args: Vec<CExpr> = args.iter().map(|a| a.specialize(known)).collect();
                let consts: Option<Vec<f64>> = args.iter().map(|a| if let CExpr::Const(x) = a { Some(*x) } else { None }).collect();
                match consts {
                    Some(v) if *f != Func::Random && !matches!(f, Func::User(_)) => c(myelin_expr::apply_func(f, &v)),
                    _ => CExpr::Call(f.clone(), args),
                }
            }
            CExpr::Piecewise(cases) => CExpr::Piecewise(cases.iter().map(|(v, k)| (v.specialize(known), k.specialize(known))).collect()),
        }
    }

    /// Evaluates against an instance's slots; `rng` gives U[0,1) for `random()`.
    pub(crate) fn eval(&self, v: &[f64], rng: &mut dyn FnMut() -> f64) -> f64 {
        match self {
            CExpr::Const(x) => *x,
            CExpr::Slot(k) => v[*k as usize],
            CExpr::Neg(x) => -x.eval(v, rng),
            CExpr::Not(x) => b(!truth(x.eval(v, rng))),
            CExpr::Bin(op, l, r) => {
                let a = l.eval(v, rng);
                // Logic short-circuits (a `random()` on the right is not drawn needlessly).
                match op {
                    BinaryOp::And if !truth(a) => return 0.0,
                    BinaryOp::Or if truth(a) => return 1.0,
                    _ => {}
                }
                myelin_expr::apply_binary(*op, a, r.eval(v, rng))
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

fn call(f: &Func, args: &[CExpr], v: &[f64], rng: &mut dyn FnMut() -> f64) -> f64 {
    if *f == Func::Random {
        return args.first().map_or(f64::NAN, |a| a.eval(v, rng)) * rng();
    }
    let vals: Vec<f64> = args.iter().map(|a| a.eval(v, rng)).collect();
    myelin_expr::apply_func(f, &vals)
}
