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
            if args.is_empty() {
                format!("({name})")
            } else {
                format!("({name} {})", args.join(" "))
            }
        }
        ExprKind::Piecewise(pieces) => {
            let p: Vec<String> = pieces
                .iter()
                .map(|(v, c)| format!("[{} {}]", sexp(v), sexp(c)))
                .collect();
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

/// `$MYELIN_CACHE/<sub>` (default cache: `~/.cache/myelin`) if it exists. If it does not,
/// panics telling how to fetch it, unless `MYELIN_SKIP_REFERENCE=1`, in which case `None`
/// (the caller skips).
pub fn reference_dir(sub: &str) -> Option<std::path::PathBuf> {
    let cache = std::env::var_os("MYELIN_CACHE")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache/myelin"))
        })
        .unwrap_or_else(|| std::path::PathBuf::from(".cache/myelin"));
    let dir = cache.join(sub);
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("MYELIN_SKIP_REFERENCE").as_deref() == Ok("1") {
        return None;
    }
    panic!(
        "reference files missing: {} does not exist; run `scripts/fetch-reference.sh` \
         (or set MYELIN_SKIP_REFERENCE=1 to skip this test)",
        dir.display()
    );
}

/// Files under `dir` (recursively) whose names end with one of `extensions`, sorted.
pub fn files_with(dir: &std::path::Path, extensions: &[&str]) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| extensions.contains(&e))
            {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}
