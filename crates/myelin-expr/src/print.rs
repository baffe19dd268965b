//! Printers for both dialects.
//!
//! Both printers write the fewest parentheses that make the dialect's parser rebuild the same
//! tree, with a few deliberate extras so that other readers agree too:
//! - LEMS: a power whose base or exponent is itself a power is parenthesised (jLEMS groups `^`
//!   to the left, most readers to the right), as is a power under a unary minus (`-(x^2)`:
//!   jLEMS's reading of `-x^2` depends on what precedes it); `.and.`/`.or.` mixtures are
//!   parenthesised, and so are `.eq.`/`.neq.` operands of `.and.`/`.or.` (jLEMS gives `.eq.`
//!   the precedence of `.and.`).
//! - SymPy: comparisons under `&`, `|` and `~` are parenthesised as SymPy prints them, so the
//!   output is also valid Python for `sympify`.

use crate::ast::{BinaryOp, Constant, Dialect, Expr, ExprKind, Func, Span, UnaryOp};
use std::fmt;

/// An expression that LEMS cannot express, with the node that could not be written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrintError {
    /// Names the construct (e.g. "`Piecewise` cannot be written in LEMS ...").
    pub message: String,
    /// Span of the offending node.
    pub span: Span,
}

impl fmt::Display for PrintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (at {}..{})",
            self.message, self.span.start, self.span.end
        )
    }
}

impl std::error::Error for PrintError {}

/// Writes `e` in LEMS syntax.
///
/// `pi` and `E` become numeric literals and `True`/`False` become `0 .eq. 0` / `0 .eq. 1`.
/// Fails, naming the construct, on what LEMS cannot express: `Piecewise`, logical not, calls of
/// functions LEMS lacks (`Min`, `Max`, `Mod`, `atan2`, `erf`, `floor`, `sign`, ...), user
/// function calls (inline them first), non-finite numbers and variable names that are not
/// LEMS identifiers (`x_j[0]`).
pub fn print_lems(e: &Expr) -> Result<String, PrintError> {
    let mut p = Printer {
        dialect: Dialect::Lems,
        out: String::new(),
    };
    p.expr(e)?;
    Ok(p.out)
}

/// Writes `e` in SymPy syntax (as SymPy's `str()` would, and readable by `sympify`).
///
/// LEMS's `random(x)` has no SymPy counterpart and is written as a call of `random`. A
/// variable named like a SymPy literal (`E`, `pi`, `True`, ...; see [`Dialect::is_reserved`])
/// is written as its bare name, as SymPy itself does, and so reads back as the literal unless
/// the reader knows the symbol ([`shadow_constants`](crate::shadow_constants)).
pub fn print_sympy(e: &Expr) -> String {
    let mut p = Printer {
        dialect: Dialect::Sympy,
        out: String::new(),
    };
    // Only LEMS output can fail; the SymPy printer writes everything.
    let _ = p.expr(e);
    p.out
}

/// Formats a finite, non-negative number so that both parsers read back the same `f64`:
/// integers below 1e16 without a fraction (`2`, SymPy's exact `Integer`), everything else as
/// Rust's shortest round-trip form (`0.1`, `1.5e-7`, `1e16`).
pub(crate) fn format_number(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e16 {
        format!("{v}")
    } else {
        format!("{v:?}")
    }
}

/// Printing precedence levels, loosest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Or,
    And,
    Not,
    Cmp,
    Add,
    Mul,
    Neg,
    Pow,
    Atom,
}

struct Printer {
    dialect: Dialect,
    out: String,
}

impl Printer {
    fn lems(&self) -> bool {
        self.dialect == Dialect::Lems
    }

    fn level(&self, e: &Expr) -> Level {
        match &e.kind {
            ExprKind::Num(v) if v.is_sign_negative() && !v.is_nan() => Level::Neg,
            ExprKind::Bool(_) if self.lems() => Level::Cmp,
            ExprKind::Num(_) | ExprKind::Bool(_) | ExprKind::Var(_) | ExprKind::Const(_) => {
                Level::Atom
            }
            ExprKind::Call(..) | ExprKind::Piecewise(_) => Level::Atom,
            ExprKind::Unary(UnaryOp::Neg, _) => Level::Neg,
            ExprKind::Unary(UnaryOp::Not, _) => Level::Not,
            ExprKind::Binary(op, _, _) => match op {
                BinaryOp::Or => Level::Or,
                BinaryOp::And if self.lems() => Level::Or,
                BinaryOp::And => Level::And,
                BinaryOp::Eq | BinaryOp::Ne if !self.lems() => Level::Atom,
                BinaryOp::Lt
                | BinaryOp::Le
                | BinaryOp::Gt
                | BinaryOp::Ge
                | BinaryOp::Eq
                | BinaryOp::Ne => Level::Cmp,
                BinaryOp::Add | BinaryOp::Sub => Level::Add,
                BinaryOp::Mul | BinaryOp::Div => Level::Mul,
                BinaryOp::Pow => Level::Pow,
            },
        }
    }

    /// "`what` cannot be written in LEMS", with an optional hint after a semicolon.
    fn unsupported(&self, what: &str, e: &Expr) -> PrintError {
        let message = match what.split_once(';') {
            Some((what, hint)) => format!("{what} cannot be written in LEMS;{hint}"),
            None => format!("{what} cannot be written in LEMS"),
        };
        PrintError {
            message,
            span: e.span.clone(),
        }
    }

    fn expr(&mut self, e: &Expr) -> Result<(), PrintError> {
        match &e.kind {
            ExprKind::Num(v) => self.number(*v, e),
            ExprKind::Bool(b) => {
                let text = match (self.lems(), b) {
                    (true, true) => "0 .eq. 0",
                    (true, false) => "0 .eq. 1",
                    (false, true) => "True",
                    (false, false) => "False",
                };
                self.out.push_str(text);
                Ok(())
            }
            ExprKind::Var(name) => {
                let identifier = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if self.lems() && !identifier {
                    return Err(self.unsupported(&format!("the variable name `{name}`"), e));
                }
                self.out.push_str(name);
                Ok(())
            }
            ExprKind::Const(c) => {
                match (self.lems(), c) {
                    (true, c) => self.out.push_str(&format_number(c.value())),
                    (false, Constant::Pi) => self.out.push_str("pi"),
                    (false, Constant::E) => self.out.push('E'),
                }
                Ok(())
            }
            ExprKind::Unary(UnaryOp::Neg, operand) => {
                self.out.push('-');
                let parens = match self.level(operand) {
                    Level::Atom | Level::Neg => false,
                    Level::Pow => self.lems(),
                    _ => true,
                };
                self.child(operand, parens)
            }
            ExprKind::Unary(UnaryOp::Not, operand) => {
                if self.lems() {
                    return Err(self.unsupported("logical negation (`.not.`)", e));
                }
                self.out.push('~');
                let parens = !matches!(self.level(operand), Level::Atom | Level::Not);
                self.child(operand, parens)
            }
            ExprKind::Binary(op @ (BinaryOp::Eq | BinaryOp::Ne), a, b) if !self.lems() => {
                self.out
                    .push_str(if *op == BinaryOp::Eq { "Eq(" } else { "Ne(" });
                self.expr(a)?;
                self.out.push_str(", ");
                self.expr(b)?;
                self.out.push(')');
                Ok(())
            }
            ExprKind::Binary(op, a, b) => self.binary(*op, a, b, e),
            ExprKind::Call(func, args) => self.call(func, args, e),
            ExprKind::Piecewise(pieces) => {
                if self.lems() {
                    return Err(
                        self.unsupported("`Piecewise`; use a ConditionalDerivedVariable", e)
                    );
                }
                self.out.push_str("Piecewise(");
                for (i, (value, condition)) in pieces.iter().enumerate() {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    self.out.push('(');
                    self.expr(value)?;
                    self.out.push_str(", ");
                    self.expr(condition)?;
                    self.out.push(')');
                }
                self.out.push(')');
                Ok(())
            }
        }
    }

    fn number(&mut self, v: f64, e: &Expr) -> Result<(), PrintError> {
        if v.is_nan() {
            if self.lems() {
                return Err(self.unsupported("NaN", e));
            }
            self.out.push_str("nan");
            return Ok(());
        }
        if v.is_sign_negative() {
            self.out.push('-');
        }
        if v.is_infinite() {
            if self.lems() {
                return Err(self.unsupported("an infinite number", e));
            }
            self.out.push_str("oo");
        } else {
            self.out.push_str(&format_number(v.abs()));
        }
        Ok(())
    }

    fn child(&mut self, e: &Expr, parens: bool) -> Result<(), PrintError> {
        if parens {
            self.out.push('(');
        }
        self.expr(e)?;
        if parens {
            self.out.push(')');
        }
        Ok(())
    }

    /// Whether an operand of a logical operator needs parentheses beyond precedence.
    fn logic_operand_parens(&self, operand: &Expr) -> bool {
        match &operand.kind {
            ExprKind::Binary(op, _, _) if op.is_comparison() => {
                // SymPy writes `(a < b) & (c < d)` (but `Eq(a, b) & c`); jLEMS misreads
                // `.eq.` beside `.and.`.
                self.lems() == matches!(op, BinaryOp::Eq | BinaryOp::Ne)
            }
            ExprKind::Bool(_) => self.lems(),
            _ => false,
        }
    }

    fn binary(&mut self, op: BinaryOp, a: &Expr, b: &Expr, e: &Expr) -> Result<(), PrintError> {
        let me = self.level(e);
        let (la, lb) = (self.level(a), self.level(b));
        let (left_parens, right_parens) = match op {
            BinaryOp::Pow => {
                let right_ok =
                    matches!(lb, Level::Atom | Level::Neg) || (lb == Level::Pow && !self.lems());
                (la != Level::Atom, !right_ok)
            }
            _ if op.is_comparison() => (la <= Level::Cmp, lb <= Level::Cmp),
            BinaryOp::And | BinaryOp::Or => {
                let mixed = |x: &Expr| matches!(&x.kind, ExprKind::Binary(o, _, _) if o.is_logical() && *o != op);
                let left = la < me || self.logic_operand_parens(a) || (self.lems() && mixed(a));
                let right = lb <= me || self.logic_operand_parens(b);
                (left, right)
            }
            _ => (la < me, lb <= me),
        };
        let symbol = match (op, self.lems()) {
            (BinaryOp::Add, _) => " + ",
            (BinaryOp::Sub, _) => " - ",
            (BinaryOp::Mul, _) => "*",
            (BinaryOp::Div, _) => "/",
            (BinaryOp::Pow, true) => "^",
            (BinaryOp::Pow, false) => "**",
            (BinaryOp::Lt, true) => " .lt. ",
            (BinaryOp::Le, true) => " .leq. ",
            (BinaryOp::Gt, true) => " .gt. ",
            (BinaryOp::Ge, true) => " .geq. ",
            (BinaryOp::Eq, true) => " .eq. ",
            (BinaryOp::Ne, true) => " .neq. ",
            (BinaryOp::And, true) => " .and. ",
            (BinaryOp::Or, true) => " .or. ",
            (BinaryOp::Lt, false) => " < ",
            (BinaryOp::Le, false) => " <= ",
            (BinaryOp::Gt, false) => " > ",
            (BinaryOp::Ge, false) => " >= ",
            (BinaryOp::Eq, false) => " == ",
            (BinaryOp::Ne, false) => " != ",
            (BinaryOp::And, false) => " & ",
            (BinaryOp::Or, false) => " | ",
        };
        self.child(a, left_parens)?;
        self.out.push_str(symbol);
        self.child(b, right_parens)
    }

    fn call(&mut self, func: &Func, args: &[Expr], e: &Expr) -> Result<(), PrintError> {
        let name = if self.lems() {
            match (func, func.lems_name()) {
                (Func::User(name), _) => {
                    return Err(self.unsupported(
                        &format!("the call of user function `{name}`; inline it first"),
                        e,
                    ));
                }
                (Func::Heaviside, _) if args.len() != 1 => {
                    return Err(self.unsupported("`Heaviside` with a value at zero", e));
                }
                (_, Some(name)) => name,
                (f, None) => {
                    return Err(self.unsupported(&format!("function `{}`", f.sympy_name()), e));
                }
            }
        } else {
            func.sympy_name()
        };
        self.out.push_str(name);
        self.out.push('(');
        for (i, arg) in args.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.expr(arg)?;
        }
        self.out.push(')');
        Ok(())
    }
}
