//! Reference evaluator.
//!
//! Semantics, shared with [`fold_constants`](crate::fold_constants):
//! - arithmetic is IEEE `f64`; `x^y` is `powf`; domain errors give NaN (`log(-1)`, `sqrt(-1)`),
//!   as do Piecewise expressions with no true condition (SymPy's `nan`);
//! - booleans are `1.0` (true) and `0.0` (false); a value used as a condition is true when it
//!   is neither zero nor NaN; `.and.`/`.or.` evaluate both operands;
//! - `H(x)`/`Heaviside(x)` is 0 below zero, 1 above and 0.5 at zero (as jLEMS and SymPy ≥ 1.9;
//!   older SymPy left `Heaviside(0)` undefined); `Heaviside(x, h0)` gives `h0` at zero;
//! - `log` and `ln` are the natural logarithm; `sign(0)` is 0; `factorial(n)` is defined for
//!   non-negative integers (NaN otherwise, infinity above 170); `Min`/`Max` are NaN if any
//!   argument is; `Mod(a, b)` (`a % b`) has the sign of `b`, as in Python; `random(x)` is `x`
//!   times one draw of `rng`;
//! - `erf`/`erfc` are computed here (series and continued fraction), accurate to about 1e-15.

use crate::ast::{BinaryOp, Expr, ExprKind, Func, Span, UnaryOp};
use std::fmt;

/// Why an expression could not be evaluated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvalError {
    /// Human-readable description.
    pub message: String,
    /// The node that could not be evaluated.
    pub span: Span,
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (at {}..{})",
            self.message, self.span.start, self.span.end
        )
    }
}

impl std::error::Error for EvalError {}

/// Evaluates `e` with variable values from `env`; `rng` returns uniform draws from `[0, 1)`
/// for `random(x)`. Fails on unknown variables and on user function calls (inline them first).
pub fn eval(
    e: &Expr,
    env: &impl Fn(&str) -> Option<f64>,
    rng: &mut impl FnMut() -> f64,
) -> Result<f64, EvalError> {
    Evaluator { env, rng }.eval(e)
}

struct Evaluator<'a> {
    env: &'a dyn Fn(&str) -> Option<f64>,
    rng: &'a mut dyn FnMut() -> f64,
}

impl Evaluator<'_> {
    fn eval(&mut self, e: &Expr) -> Result<f64, EvalError> {
        Ok(match &e.kind {
            ExprKind::Num(v) => *v,
            ExprKind::Bool(b) => from_bool(*b),
            ExprKind::Var(name) => (self.env)(name).ok_or_else(|| EvalError {
                message: format!("unknown variable `{name}`"),
                span: e.span.clone(),
            })?,
            ExprKind::Const(c) => c.value(),
            ExprKind::Unary(op, x) => unary(*op, self.eval(x)?),
            ExprKind::Binary(op, a, b) => {
                let a = self.eval(a)?;
                let b = self.eval(b)?;
                apply_binary(*op, a, b)
            }
            ExprKind::Call(Func::User(name), _) => {
                return Err(EvalError {
                    message: format!("user function `{name}` must be inlined before evaluation"),
                    span: e.span.clone(),
                });
            }
            ExprKind::Call(func, args) => {
                let mut values = Vec::with_capacity(args.len());
                for a in args {
                    values.push(self.eval(a)?);
                }
                if *func == Func::Random {
                    values.first().copied().unwrap_or(f64::NAN) * (self.rng)()
                } else {
                    apply_func(func, &values)
                }
            }
            ExprKind::Piecewise(pieces) => {
                for (value, condition) in pieces {
                    if truthy(self.eval(condition)?) {
                        return self.eval(value);
                    }
                }
                f64::NAN
            }
        })
    }
}

/// `1.0` for true, `0.0` for false.
pub(crate) fn from_bool(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// A value used as a condition: true unless zero or NaN.
pub(crate) fn truthy(v: f64) -> bool {
    v != 0.0 && !v.is_nan()
}

pub(crate) fn unary(op: UnaryOp, x: f64) -> f64 {
    match op {
        UnaryOp::Neg => -x,
        UnaryOp::Not => from_bool(!truthy(x)),
    }
}

/// A binary operator on values (booleans as 1.0/0.0), shared by every evaluator.
pub fn apply_binary(op: BinaryOp, a: f64, b: f64) -> f64 {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Pow => a.powf(b),
        BinaryOp::Lt => from_bool(a < b),
        BinaryOp::Le => from_bool(a <= b),
        BinaryOp::Gt => from_bool(a > b),
        BinaryOp::Ge => from_bool(a >= b),
        BinaryOp::Eq => from_bool(a == b),
        BinaryOp::Ne => from_bool(a != b),
        BinaryOp::And => from_bool(truthy(a) && truthy(b)),
        BinaryOp::Or => from_bool(truthy(a) || truthy(b)),
    }
}

/// Applies a deterministic built-in (not `Random`, not `User`: those give NaN) to argument
/// values whose count the parser has checked (missing arguments read as NaN). Evaluators
/// elsewhere (the engine's compiled forms) call this so every one agrees on the semantics.
pub fn apply_func(func: &Func, args: &[f64]) -> f64 {
    let x = args.first().copied().unwrap_or(f64::NAN);
    match func {
        Func::Sin => x.sin(),
        Func::Cos => x.cos(),
        Func::Tan => x.tan(),
        Func::Asin => x.asin(),
        Func::Acos => x.acos(),
        Func::Atan => x.atan(),
        Func::Atan2 => x.atan2(args.get(1).copied().unwrap_or(f64::NAN)),
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
            if x.is_nan() || x == 0.0 {
                x
            } else {
                x.signum()
            }
        }
        Func::Heaviside => {
            if x.is_nan() {
                f64::NAN
            } else if x < 0.0 {
                0.0
            } else if x > 0.0 {
                1.0
            } else {
                args.get(1).copied().unwrap_or(0.5)
            }
        }
        Func::Erf => erf(x),
        Func::Erfc => erfc(x),
        Func::Factorial => factorial(x),
        Func::Min => extremum(args, f64::min),
        Func::Max => extremum(args, f64::max),
        Func::Mod => python_mod(x, args.get(1).copied().unwrap_or(f64::NAN)),
        Func::Random | Func::User(_) => f64::NAN,
    }
}

fn extremum(args: &[f64], pick: fn(f64, f64) -> f64) -> f64 {
    if args.is_empty() || args.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    args.iter().copied().reduce(pick).unwrap_or(f64::NAN)
}

/// Python's `a % b`: the remainder takes the sign of `b`.
fn python_mod(a: f64, b: f64) -> f64 {
    let r = a % b;
    if r != 0.0 && (r < 0.0) != (b < 0.0) {
        r + b
    } else {
        r
    }
}

fn factorial(x: f64) -> f64 {
    if x.is_nan() || x < 0.0 || x != x.trunc() {
        return f64::NAN;
    }
    if x > 170.0 {
        return f64::INFINITY;
    }
    let mut acc = 1.0;
    let mut k = 2.0;
    while k <= x {
        acc *= k;
        k += 1.0;
    }
    acc
}

const FRAC_2_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI;

/// erf(x) for 0 <= x: `2/sqrt(pi) * exp(-x^2) * sum_n x (2x^2)^n / (1*3*...*(2n+1))`, a series
/// of positive terms (no cancellation).
fn erf_series(x: f64) -> f64 {
    let two_x2 = 2.0 * x * x;
    let mut term = x;
    let mut sum = x;
    let mut n = 0.0;
    while term > sum * 1e-17 {
        n += 1.0;
        term *= two_x2 / (2.0 * n + 1.0);
        sum += term;
        if n > 500.0 {
            break;
        }
    }
    FRAC_2_SQRT_PI * (-x * x).exp() * sum
}

/// erfc(x) for x >= 2 by the continued fraction
/// `exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))`, evaluated from the tail.
fn erfc_fraction(x: f64) -> f64 {
    let mut t = x;
    for k in (1..=120).rev() {
        t = x + (f64::from(k) / 2.0) / t;
    }
    (-x * x).exp() / (t * std::f64::consts::PI.sqrt())
}

pub(crate) fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    let a = x.abs();
    let v = if a < 2.0 {
        erf_series(a)
    } else {
        1.0 - erfc_fraction(a)
    };
    v.copysign(x)
}

pub(crate) fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 2.0 {
        1.0 - erf(x)
    } else {
        erfc_fraction(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-14 * b.abs().max(1e-300)
    }

    #[test]
    fn erf_matches_reference_values() {
        // Reference values from high-precision tables.
        let cases = [
            (0.0, 0.0),
            (0.1, 0.1124629160182849),
            (0.5, 0.5204998778130465),
            (1.0, 0.8427007929497149),
            (1.5, 0.9661051464753108),
            (2.0, 0.9953222650189527),
            (3.0, 0.9999779095030014),
            (-1.0, -0.8427007929497149),
        ];
        for (x, want) in cases {
            assert!(close(erf(x), want), "erf({x}) = {} want {want}", erf(x));
        }
        let tails = [
            (2.0, 4.677734981047266e-3),
            (2.5, 4.06952017444959e-4),
            (3.0, 2.209049699858544e-5),
            (5.0, 1.537459794428035e-12),
            (10.0, 2.088487583762545e-45),
            (-1.0, 1.842700792949715),
        ];
        for (x, want) in tails {
            assert!(
                (erfc(x) - want).abs() <= 1e-13 * want,
                "erfc({x}) = {} want {want}",
                erfc(x)
            );
        }
        assert_eq!(erf(f64::INFINITY), 1.0);
        assert!(erf(f64::NAN).is_nan());
    }

    #[test]
    fn factorials() {
        assert_eq!(factorial(0.0), 1.0);
        assert_eq!(factorial(1.0), 1.0);
        assert_eq!(factorial(5.0), 120.0);
        assert_eq!(factorial(9.0), 362880.0);
        assert!(factorial(-1.0).is_nan());
        assert!(factorial(2.5).is_nan());
        assert!(factorial(f64::NAN).is_nan());
        assert_eq!(factorial(171.0), f64::INFINITY);
        assert_eq!(factorial(1e300), f64::INFINITY);
    }
}
