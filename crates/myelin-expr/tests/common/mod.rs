//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use myelin_expr::{BinaryOp, Constant, Dialect, Expr, ExprKind, Func, UnaryOp, parse};

/// Renders a tree as an S-expression, e.g. `(+ a (* b 2))`, to assert its shape.
pub fn sexp(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Num(v) => format!("{v}"),
        ExprKind::Bool(b) => format!("{b}"),
        ExprKind::Var(name) => name.clone(),
        ExprKind::Const(Constant::Pi) => "#pi".to_owned(),
        ExprKind::Const(Constant::E) => "#e".to_owned(),
        ExprKind::Unary(UnaryOp::Neg, a) => format!("(neg {})", sexp(a)),
        ExprKind::Unary(UnaryOp::Not, a) => format!("(not {})", sexp(a)),
        ExprKind::Binary(op, a, b) => {
            let op = match op {
                BinaryOp::Add => "+",
                BinaryOp::Sub => "-",
                BinaryOp::Mul => "*",
                BinaryOp::Div => "/",
                BinaryOp::Pow => "^",
                BinaryOp::Lt => "<",
                BinaryOp::Le => "<=",
                BinaryOp::Gt => ">",
                BinaryOp::Ge => ">=",
                BinaryOp::Eq => "==",
                BinaryOp::Ne => "!=",
                BinaryOp::And => "and",
                BinaryOp::Or => "or",
            };
            format!("({op} {} {})", sexp(a), sexp(b))
        }
        ExprKind::Call(f, args) => {
            let name = match f {
                Func::User(n) => format!("user:{n}"),
                f => f.sympy_name().to_owned(),
            };
            let args: Vec<String> = args.iter().map(sexp).collect();
            if args.is_empty() { format!("({name})") } else { format!("({name} {})", args.join(" ")) }
        }
        ExprKind::Piecewise(pieces) => {
            let p: Vec<String> = pieces.iter().map(|(v, c)| format!("[{} {}]", sexp(v), sexp(c))).collect();
            format!("(piecewise {})", p.join(" "))
        }
    }
}

/// Parses LEMS, panicking with the error (tests only).
pub fn lems(src: &str) -> Expr {
    parse(src, Dialect::Lems).unwrap_or_else(|e| panic!("{src:?}: {e}"))
}

/// Parses SymPy, panicking with the error (tests only).
pub fn sympy(src: &str) -> Expr {
    parse(src, Dialect::Sympy).unwrap_or_else(|e| panic!("{src:?}: {e}"))
}
