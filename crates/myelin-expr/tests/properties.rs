//! Property tests: printer/parser round trips, parser robustness, folding preserves values.

mod common;

use common::sexp;
use myelin_expr::{
    BinaryOp, Constant, Dialect, Expr, ExprKind, Func, UnaryOp, eval, fold_constants,
    infer_dimension, parse, print_lems, print_sympy,
};
use myelin_units::Dimension;
use proptest::prelude::*;

const NAMES: &[&str] = &["a", "b", "x1", "v_rest", "I", "_t"];
/// Variables only the SymPy dialect can write.
const SYMPY_NAMES: &[&str] = &["x_j[0]", "y[12]"];

const ALL_BINARY: &[BinaryOp] = &[
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Div,
    BinaryOp::Pow,
    BinaryOp::Lt,
    BinaryOp::Le,
    BinaryOp::Gt,
    BinaryOp::Ge,
    BinaryOp::Eq,
    BinaryOp::Ne,
    BinaryOp::And,
    BinaryOp::Or,
];

const LEMS_FUNCS: &[Func] = &[
    Func::Sin,
    Func::Cos,
    Func::Tan,
    Func::Sinh,
    Func::Cosh,
    Func::Tanh,
    Func::Exp,
    Func::Log,
    Func::Sqrt,
    Func::Ceil,
    Func::Abs,
    Func::Heaviside,
    Func::Random,
    Func::Factorial,
];

const SYMPY_ONLY_FUNCS: &[Func] = &[
    Func::Asin,
    Func::Acos,
    Func::Atan,
    Func::Atan2,
    Func::Asinh,
    Func::Acosh,
    Func::Atanh,
    Func::Floor,
    Func::Sign,
    Func::Heaviside,
    Func::Erf,
    Func::Erfc,
    Func::Min,
    Func::Max,
    Func::Mod,
];

/// Non-negative finite numbers, as the parsers produce them.
fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        (0u32..1000).prop_map(f64::from),
        0.0..1e3f64,
        prop::sample::select(vec![
            0.5,
            1e-3,
            0.1,
            1e16,
            1e20,
            2.5e-300,
            1.7976931348623157e308
        ]),
        any::<f64>().prop_filter_map("finite", |v| v.is_finite().then_some(v.abs())),
    ]
}

fn var() -> impl Strategy<Value = Expr> {
    prop::sample::select(NAMES).prop_map(Expr::var)
}

fn value_of(name: &str, values: &[f64]) -> Option<f64> {
    match NAMES.iter().position(|n| *n == name) {
        Some(i) => values.get(i).copied(),
        None => SYMPY_NAMES.contains(&name).then_some(0.75),
    }
}

fn lems_leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![var(), number().prop_map(Expr::num)]
}

/// Trees using only what LEMS can express (not type-checked: the parser does not type-check).
fn lems_tree() -> impl Strategy<Value = Expr> {
    lems_leaf().prop_recursive(6, 48, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|a| Expr::unary(UnaryOp::Neg, a)),
            (
                prop::sample::select(ALL_BINARY),
                inner.clone(),
                inner.clone()
            )
                .prop_map(|(op, a, b)| Expr::binary(op, a, b)),
            (prop::sample::select(LEMS_FUNCS), inner).prop_map(|(f, a)| Expr::call(f, vec![a])),
        ]
    })
}

fn sympy_leaf(with_special_numbers: bool) -> impl Strategy<Value = Expr> {
    let special = if with_special_numbers {
        vec![f64::INFINITY, f64::NAN]
    } else {
        vec![0.0]
    };
    prop_oneof![
        4 => var(),
        1 => prop::sample::select(SYMPY_NAMES).prop_map(Expr::var),
        4 => number().prop_map(Expr::num),
        1 => prop::sample::select(vec![Constant::Pi, Constant::E]).prop_map(|c| Expr::synth(ExprKind::Const(c))),
        1 => any::<bool>().prop_map(|b| Expr::synth(ExprKind::Bool(b))),
        1 => prop::sample::select(special).prop_map(Expr::num),
    ]
}

/// A call of `f` with an argument count it accepts, drawn from `args`.
fn call_with(f: Func, args: Vec<Expr>) -> Expr {
    let arity = f.arity();
    let n = args.len().clamp(arity.min, arity.max.unwrap_or(usize::MAX));
    let mut args = args;
    while args.len() < n {
        args.push(Expr::var("a"));
    }
    args.truncate(n);
    Expr::call(f, args)
}

/// Trees over the whole IR. `user`: include user function calls; `random`: include `random`.
fn sympy_tree(user: bool, random: bool, special_numbers: bool) -> impl Strategy<Value = Expr> {
    let mut funcs: Vec<Func> = LEMS_FUNCS.iter().chain(SYMPY_ONLY_FUNCS).cloned().collect();
    if !random {
        funcs.retain(|f| *f != Func::Random);
    }
    if user {
        funcs.extend(["f", "g_2", "Derivative"].map(|n| Func::User(n.to_owned())));
    }
    sympy_leaf(special_numbers).prop_recursive(6, 48, 3, move |inner| {
        prop_oneof![
            inner.clone().prop_map(|a| Expr::unary(UnaryOp::Neg, a)),
            inner.clone().prop_map(|a| Expr::unary(UnaryOp::Not, a)),
            (
                prop::sample::select(ALL_BINARY),
                inner.clone(),
                inner.clone()
            )
                .prop_map(|(op, a, b)| Expr::binary(op, a, b)),
            (
                prop::sample::select(funcs.clone()),
                prop::collection::vec(inner.clone(), 0..4)
            )
                .prop_map(|(f, args)| call_with(f, args)),
            prop::collection::vec((inner.clone(), inner), 1..4)
                .prop_map(|pieces| Expr::synth(ExprKind::Piecewise(pieces))),
        ]
    })
}

const TOKENS: &[&str] = &[
    "a",
    "b",
    "x1",
    "2",
    "0.5",
    "1e-3",
    ".5",
    "2.",
    "1e",
    "(",
    ")",
    ",",
    "+",
    "-",
    "*",
    "/",
    "^",
    "**",
    ".gt.",
    ".lt.",
    ".geq.",
    ".eq.",
    ".and.",
    ".or.",
    ".not.",
    ".gt",
    ".",
    "<",
    "<=",
    ">",
    "==",
    "!=",
    "&",
    "|",
    "~",
    "exp",
    "H",
    "sin",
    "log",
    "Piecewise",
    "Eq",
    "Ne",
    "Min",
    "atan2",
    "True",
    "pi",
    "E",
    "oo",
    "f",
    "=",
    "é",
];

fn token_soup() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(prop::sample::select(TOKENS), 0..40),
        any::<bool>(),
    )
        .prop_map(|(toks, spaced)| toks.join(if spaced { " " } else { "" }))
}

/// Whatever parses must print and parse back to the same tree, and no operation may panic.
fn exercise(src: &str) {
    for dialect in [Dialect::Lems, Dialect::Sympy] {
        let Ok(e) = parse(src, dialect) else { continue };
        let s = print_sympy(&e);
        if e.free_vars().iter().any(|v| Dialect::Sympy.is_reserved(v)) {
            // A LEMS variable called `E` or `True` reads back as SymPy's literal.
            continue;
        }
        let back =
            parse(&s, Dialect::Sympy).unwrap_or_else(|err| panic!("{src:?} -> {s:?}: {err}"));
        assert!(back.same(&e), "{src:?} -> {s:?} -> {}", sexp(&back));
        // LEMS writes `pi`, `E` and booleans as numbers and comparisons: no exact round trip.
        let mut exact = true;
        e.walk(|n| exact &= !matches!(n.kind, ExprKind::Const(_) | ExprKind::Bool(_)));
        if let (true, Ok(l)) = (exact, print_lems(&e)) {
            let back =
                parse(&l, Dialect::Lems).unwrap_or_else(|err| panic!("{src:?} -> {l:?}: {err}"));
            assert!(back.same(&e), "{src:?} -> {l:?} -> {}", sexp(&back));
        }
        let _ = fold_constants(&e);
        let _ = infer_dimension(&e, &|_: &str| Some(Dimension::NONE));
        let _ = eval(&e, &|_: &str| Some(1.5), &mut || 0.5);
    }
}

fn approx_equal(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

proptest! {
    // 512 cases unless PROPTEST_CASES says otherwise.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn lems_print_parse_round_trip(e in lems_tree()) {
        let printed = print_lems(&e).map_err(|err| TestCaseError::fail(err.to_string()))?;
        let back = parse(&printed, Dialect::Lems).map_err(|err| TestCaseError::fail(format!("{printed:?}: {err}")))?;
        prop_assert!(back.same(&e), "{} printed as {:?} reads back as {}", sexp(&e), printed, sexp(&back));
    }

    #[test]
    fn sympy_print_parse_round_trip(e in sympy_tree(true, true, true)) {
        let printed = print_sympy(&e);
        let back = parse(&printed, Dialect::Sympy).map_err(|err| TestCaseError::fail(format!("{printed:?}: {err}")))?;
        prop_assert!(back.same(&e), "{} printed as {:?} reads back as {}", sexp(&e), printed, sexp(&back));
    }

    #[test]
    fn lems_trees_also_round_trip_through_sympy(e in lems_tree()) {
        let printed = print_sympy(&e);
        let back = parse(&printed, Dialect::Sympy).map_err(|err| TestCaseError::fail(format!("{printed:?}: {err}")))?;
        prop_assert!(back.same(&e), "{} printed as {:?} reads back as {}", sexp(&e), printed, sexp(&back));
    }

    #[test]
    fn parse_never_panics_on_arbitrary_text(src in "\\PC*") {
        exercise(&src);
    }

    #[test]
    fn parse_never_panics_on_token_soup(src in token_soup()) {
        exercise(&src);
    }

    #[test]
    fn folding_preserves_values(
        e in sympy_tree(false, false, false),
        values in prop::collection::vec(-3.0..3.0f64, NAMES.len()),
    ) {
        let env = |name: &str| value_of(name, &values);
        let mut rng = || 0.5;
        let folded = fold_constants(&e);
        let before = eval(&e, &env, &mut rng).map_err(|err| TestCaseError::fail(err.to_string()))?;
        let after = eval(&folded, &env, &mut rng).map_err(|err| TestCaseError::fail(err.to_string()))?;
        prop_assert!(
            approx_equal(before, after),
            "{} = {before} but folded {} = {after}", print_sympy(&e), print_sympy(&folded)
        );
        // Folding is idempotent.
        prop_assert!(fold_constants(&folded).same(&folded), "{}", print_sympy(&folded));
    }
}
