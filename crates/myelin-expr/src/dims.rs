//! Dimension inference.
//!
//! Rules (jLEMS's where LEMS has them, `core/expression/*Node.java`):
//! - numeric literals and `pi`/`E` are dimensionless, except that the literal `0` (and `-0`,
//!   and sums of zeros) fits any dimension where operands must agree: `+ -`, comparisons,
//!   Piecewise values and `Min`/`Max` arguments. jLEMS accepts the zero in `-` and in
//!   comparisons (`v .gt. 0`) but, unlike here, not in `+`;
//! - `+ -`, comparisons, Piecewise values, `Min`/`Max`/`Mod`/`atan2` arguments must agree;
//!   `* /` combine dimensions;
//! - `x^p`: `p` must be dimensionless; a dimensionless `x` allows any `p`; otherwise `p` must
//!   fold to a constant integer or a simple fraction `n/q` (q ≤ 12) that leaves integer
//!   exponents (`sqrt` likewise takes the square root of the dimension);
//! - `abs`, `Min`, `Max`, `Mod` and `random` keep their arguments' dimension; `sign` takes any
//!   dimension and is dimensionless; `atan2(y, x)` needs `y` and `x` alike; every other built-in
//!   (including `H`, `ceil` and `floor`, as in jLEMS, whose functions all require dimensionless
//!   arguments: `ceil(1.5 mV)` would depend on the unit) needs dimensionless arguments and is
//!   dimensionless;
//! - comparisons are boolean; `.and.`, `.or.`, `.not.` and Piecewise conditions need booleans;
//!   booleans cannot be used as numbers.

use crate::ast::{BinaryOp, Expr, ExprKind, Func, Span, UnaryOp};
use crate::rewrite::fold_constants;
use myelin_units::Dimension;
use std::fmt;

/// The type of an expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DimType {
    /// A number of the given dimension.
    Quantity(Dimension),
    /// A condition.
    Boolean,
    /// The literal zero (or an expression built from zeros with `+ -`, `abs`, ...), which fits
    /// any dimension.
    Zero,
}

impl DimType {
    /// Whether a value of this type may be assigned to a quantity of dimension `d`.
    pub fn is_compatible_with(self, d: Dimension) -> bool {
        match self {
            DimType::Quantity(q) => q == d,
            DimType::Zero => true,
            DimType::Boolean => false,
        }
    }

    /// The dimension of a numeric type (`Zero` is dimensionless); `None` for booleans.
    pub fn dimension(self) -> Option<Dimension> {
        match self {
            DimType::Quantity(d) => Some(d),
            DimType::Zero => Some(Dimension::NONE),
            DimType::Boolean => None,
        }
    }
}

impl fmt::Display for DimType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DimType::Quantity(d) => write!(f, "{d}"),
            DimType::Boolean => f.write_str("a condition"),
            DimType::Zero => f.write_str("zero (any dimension)"),
        }
    }
}

/// A dimension error, pointing at the offending sub-expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DimError {
    /// Human-readable description.
    pub message: String,
    /// The offending sub-expression.
    pub span: Span,
}

impl fmt::Display for DimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (at {}..{})",
            self.message, self.span.start, self.span.end
        )
    }
}

impl std::error::Error for DimError {}

/// Infers the type of `e`, with variable dimensions from `dim_of`. Unknown variables and user
/// function calls (inline them first) are errors.
pub fn infer_dimension(
    e: &Expr,
    dim_of: &impl Fn(&str) -> Option<Dimension>,
) -> Result<DimType, DimError> {
    infer(e, dim_of)
}

fn error(message: impl Into<String>, e: &Expr) -> DimError {
    DimError {
        message: message.into(),
        span: e.span.clone(),
    }
}

/// The dimension of a numeric operand; error for a condition.
fn numeric(t: DimType, e: &Expr) -> Result<Dimension, DimError> {
    t.dimension()
        .ok_or_else(|| error("expected a number, found a condition", e))
}

fn boolean(t: DimType, e: &Expr) -> Result<(), DimError> {
    match t {
        DimType::Boolean => Ok(()),
        other => Err(error(
            format!("expected a condition, found a number ({other})"),
            e,
        )),
    }
}

fn dimensionless(t: DimType, e: &Expr, context: &str) -> Result<(), DimError> {
    let d = numeric(t, e)?;
    if d.is_dimensionless() {
        Ok(())
    } else {
        Err(error(
            format!("{context} must be dimensionless, found {d}"),
            e,
        ))
    }
}

/// Combines operands that must share a dimension (zero fits any).
fn unify(
    a: DimType,
    ea: &Expr,
    b: DimType,
    eb: &Expr,
    whole: &Expr,
    what: &str,
) -> Result<DimType, DimError> {
    numeric(a, ea)?;
    numeric(b, eb)?;
    match (a, b) {
        (DimType::Zero, other) | (other, DimType::Zero) => Ok(other),
        (DimType::Quantity(x), DimType::Quantity(y)) if x == y => Ok(a),
        _ => Err(error(
            format!("{what} needs operands of one dimension, found {a} and {b}"),
            whole,
        )),
    }
}

fn overflow(e: &Expr) -> DimError {
    error("dimension exponent out of range", e)
}

fn infer(e: &Expr, dim_of: &dyn Fn(&str) -> Option<Dimension>) -> Result<DimType, DimError> {
    let q = DimType::Quantity;
    Ok(match &e.kind {
        ExprKind::Num(v) if *v == 0.0 => DimType::Zero,
        ExprKind::Num(_) | ExprKind::Const(_) => q(Dimension::NONE),
        ExprKind::Bool(_) => DimType::Boolean,
        ExprKind::Var(name) => match dim_of(name) {
            Some(d) => q(d),
            None => return Err(error(format!("unknown variable `{name}`"), e)),
        },
        ExprKind::Unary(UnaryOp::Neg, a) => {
            let t = infer(a, dim_of)?;
            numeric(t, a)?;
            t
        }
        ExprKind::Unary(UnaryOp::Not, a) => {
            boolean(infer(a, dim_of)?, a)?;
            DimType::Boolean
        }
        ExprKind::Binary(op, a, b) => {
            let ta = infer(a, dim_of)?;
            let tb = infer(b, dim_of)?;
            match op {
                BinaryOp::Add => unify(ta, a, tb, b, e, "addition")?,
                BinaryOp::Sub => unify(ta, a, tb, b, e, "subtraction")?,
                BinaryOp::Mul => q(numeric(ta, a)?
                    .checked_mul(numeric(tb, b)?)
                    .ok_or_else(|| overflow(e))?),
                BinaryOp::Div => q(numeric(ta, a)?
                    .checked_div(numeric(tb, b)?)
                    .ok_or_else(|| overflow(e))?),
                BinaryOp::Pow => power(e, a, ta, b, tb)?,
                BinaryOp::And | BinaryOp::Or => {
                    boolean(ta, a)?;
                    boolean(tb, b)?;
                    DimType::Boolean
                }
                _ => {
                    unify(ta, a, tb, b, e, "a comparison")?;
                    DimType::Boolean
                }
            }
        }
        ExprKind::Call(func, args) => call(e, func, args, dim_of)?,
        ExprKind::Piecewise(pieces) => {
            let mut result: Option<(DimType, &Expr)> = None;
            for (value, condition) in pieces {
                boolean(infer(condition, dim_of)?, condition)?;
                let t = infer(value, dim_of)?;
                numeric(t, value)?;
                result = Some(match result {
                    None => (t, value),
                    Some((acc, first)) => match unify(acc, first, t, value, value, "Piecewise") {
                        Ok(u) => (u, first),
                        Err(_) => {
                            return Err(error(
                                format!(
                                    "Piecewise values must share one dimension: {acc} here, but {t} in this branch"
                                ),
                                value,
                            ));
                        }
                    },
                });
            }
            result.map_or(q(Dimension::NONE), |(t, _)| t)
        }
    })
}

/// `base ^ exponent`.
fn power(
    e: &Expr,
    base: &Expr,
    tb: DimType,
    exponent: &Expr,
    te: DimType,
) -> Result<DimType, DimError> {
    let d = numeric(tb, base)?;
    dimensionless(te, exponent, "an exponent")?;
    if d.is_dimensionless() {
        return Ok(DimType::Quantity(Dimension::NONE));
    }
    let ExprKind::Num(p) = fold_constants(exponent).kind else {
        return Err(error(
            format!("a power of a dimensioned base ({d}) needs a constant exponent"),
            exponent,
        ));
    };
    let Some((num, den)) = simple_fraction(p) else {
        return Err(error(
            format!(
                "the exponent {p} of a dimensioned base ({d}) is not an integer or a simple fraction"
            ),
            exponent,
        ));
    };
    let r = d.root(den).and_then(|r| r.powi(num));
    match r {
        Some(r) => Ok(DimType::Quantity(r)),
        None if den > 1 => Err(error(
            format!("{d} has no {num}/{den} power with integer exponents"),
            e,
        )),
        None => Err(overflow(e)),
    }
}

/// `p` as `num/den` in lowest terms with `1 <= den <= 12`, if it is one.
fn simple_fraction(p: f64) -> Option<(i32, i32)> {
    if !p.is_finite() {
        return None;
    }
    (1..=12).find_map(|den: i32| {
        let n = p * f64::from(den);
        let r = n.round();
        if (n - r).abs() > 1e-9 * f64::from(den) || r.abs() > f64::from(i32::MAX) {
            return None;
        }
        // `r` is integral and in range, so the conversion is exact.
        let num = r as i32;
        Some((num, den))
    })
}

fn call(
    e: &Expr,
    func: &Func,
    args: &[Expr],
    dim_of: &dyn Fn(&str) -> Option<Dimension>,
) -> Result<DimType, DimError> {
    let mut types = Vec::with_capacity(args.len());
    for a in args {
        types.push(infer(a, dim_of)?);
    }
    let name = func.sympy_name();
    let first = || -> Result<(DimType, &Expr), DimError> {
        match (types.first(), args.first()) {
            (Some(t), Some(a)) => Ok((*t, a)),
            _ => Err(error(format!("`{name}` needs an argument"), e)),
        }
    };
    let none = DimType::Quantity(Dimension::NONE);
    Ok(match func {
        Func::User(name) => {
            return Err(error(
                format!("user function `{name}` must be inlined before checking dimensions"),
                e,
            ));
        }
        Func::Abs | Func::Random => {
            let (t, a) = first()?;
            numeric(t, a)?;
            t
        }
        Func::Sign => {
            let (t, a) = first()?;
            numeric(t, a)?;
            none
        }
        Func::Min | Func::Max => {
            let (mut acc, mut acc_expr) = first()?;
            numeric(acc, acc_expr)?;
            for (t, a) in types.iter().zip(args).skip(1) {
                acc = unify(acc, acc_expr, *t, a, a, name)?;
                acc_expr = a;
            }
            acc
        }
        Func::Mod => {
            if let (Some(ta), Some(tb), Some(a), Some(b)) =
                (types.first(), types.get(1), args.first(), args.get(1))
            {
                unify(*ta, a, *tb, b, e, "Mod")?
            } else {
                none
            }
        }
        Func::Atan2 => {
            if let (Some(ty), Some(tx), Some(y), Some(x)) =
                (types.first(), types.get(1), args.first(), args.get(1))
            {
                unify(*ty, y, *tx, x, e, "atan2")?;
            }
            none
        }
        Func::Sqrt => {
            let (t, a) = first()?;
            let d = numeric(t, a)?;
            match d.root(2) {
                Some(r) => DimType::Quantity(r),
                None => {
                    return Err(error(
                        format!("the square root of {d} has non-integer exponents"),
                        a,
                    ));
                }
            }
        }
        _ => {
            for (t, a) in types.iter().zip(args) {
                dimensionless(*t, a, &format!("the argument of `{name}`"))?;
            }
            none
        }
    })
}
