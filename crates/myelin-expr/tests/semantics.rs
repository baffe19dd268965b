//! Rewrites, dimension inference and evaluation.

mod common;

use common::{lems, sexp, sympy};
use myelin_expr::{
    DimType, Expr, FunctionDef, InlineError, MAX_INLINE_SIZE, eval, fold_constants,
    infer_dimension, inline_functions, print_sympy, shadow_constants, substitute,
};
use myelin_units::Dimension;

fn def(name: &str, params: &[&str], body: &str) -> FunctionDef {
    FunctionDef {
        name: name.to_owned(),
        params: params.iter().map(|p| (*p).to_owned()).collect(),
        body: sympy(body),
    }
}

fn no_rng() -> f64 {
    panic!("rng not expected")
}

fn eval_with(e: &Expr, vars: &[(&str, f64)]) -> f64 {
    let env = |name: &str| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
    eval(e, &env, &mut no_rng).unwrap_or_else(|err| panic!("{}: {err}", print_sympy(e)))
}

fn eval_const(src: &str) -> f64 {
    eval_with(&sympy(src), &[])
}

// ---- substitute / shadow_constants ------------------------------------------------------------

#[test]
fn substitute_replaces_variables_simultaneously() {
    let e = sympy("a*x + b*y + a");
    let map = |name: &str| match name {
        "a" => Some(sympy("b + 1")),
        "b" => Some(sympy("a")),
        _ => None,
    };
    let out = substitute(&e, &map);
    assert_eq!(print_sympy(&out), "(b + 1)*x + a*y + (b + 1)");
    assert!(sympy("(b + 1)*x + a*y + (b + 1)").same(&out));
    // Function names are not variables.
    let out = substitute(&sympy("f(f)"), &|n: &str| {
        (n == "f").then(|| Expr::num(2.0))
    });
    assert_eq!(print_sympy(&out), "f(2)");
}

#[test]
fn shadow_constants_turns_declared_constants_into_variables() {
    let e = sympy("local_coupling*E + 2*pi");
    let out = shadow_constants(&e, &|n: &str| n == "E");
    assert_eq!(sexp(&out), "(+ (* local_coupling E) (* 2 #pi))");
    assert_eq!(out.free_vars(), ["E", "local_coupling"]);
}

// ---- inline_functions -----------------------------------------------------------------------

#[test]
fn inline_nested_functions() {
    let defs = [
        def("sigm", &["x"], "1/(1 + exp(-r*(x - v0)))"),
        def("rate", &["a", "b"], "sigm(a) - sigm(b)"),
        def("unused", &["q"], "undefined_function(q)"),
    ];
    let e = sympy("rate(y1, y2 + 1)*c");
    let out = inline_functions(&e, &defs).unwrap();
    let want = sympy("(1/(1 + exp(-r*(y1 - v0))) - 1/(1 + exp(-r*(y2 + 1 - v0))))*c");
    assert!(out.same(&want), "{}", print_sympy(&out));
    assert!(out.calls().is_empty());
    assert_eq!(out.free_vars(), ["c", "r", "v0", "y1", "y2"]);
    // Nodes from a body carry the span of the call they replace; arguments keep theirs.
    let myelin_expr::ExprKind::Binary(_, call, _) = &out.kind else {
        panic!()
    };
    assert_eq!(call.span, 0..16);
    // An expression without calls comes back unchanged.
    assert!(
        inline_functions(&sympy("a + b"), &[])
            .unwrap()
            .same(&sympy("a + b"))
    );
}

#[test]
fn inline_errors() {
    let defs = [
        def("f", &["x"], "g(x) + 1"),
        def("g", &["y"], "h(y)*2"),
        def("h", &["z"], "f(z)"),
        def("self_ref", &["x"], "self_ref(x - 1)"),
        def("two", &["a", "b"], "a + b"),
        def("bad_body", &["a"], "two(a)"),
        def("calls_missing", &["a"], "nope(a)"),
    ];
    match inline_functions(&sympy("1 + two(x)"), &defs[..4]) {
        Err(InlineError::UnknownFunction {
            name,
            span,
            within: None,
        }) => {
            assert_eq!((name.as_str(), span), ("two", 4..10));
        }
        other => panic!("{other:?}"),
    }
    match inline_functions(&sympy("two(x)"), &defs) {
        Err(InlineError::WrongArity {
            name,
            expected: 2,
            found: 1,
            span,
            within: None,
        }) => {
            assert_eq!((name.as_str(), span), ("two", 0..6));
        }
        other => panic!("{other:?}"),
    }
    match inline_functions(&sympy("bad_body(x)"), &defs) {
        Err(InlineError::WrongArity {
            within: Some(w), ..
        }) => assert_eq!(w, "bad_body"),
        other => panic!("{other:?}"),
    }
    match inline_functions(&sympy("calls_missing(x)"), &defs) {
        Err(e @ InlineError::UnknownFunction { .. }) => {
            assert_eq!(
                e.to_string(),
                "call of unknown function `nope` in the body of `calls_missing`"
            );
        }
        other => panic!("{other:?}"),
    }
    match inline_functions(&sympy("a + f(x)"), &defs) {
        Err(e @ InlineError::Recursion { .. }) => {
            let InlineError::Recursion { cycle, span } = &e else {
                unreachable!()
            };
            assert_eq!(cycle, &["f", "g", "h", "f"]);
            assert_eq!(span, &(4..8));
            assert!(e.to_string().contains("f -> g -> h -> f"));
        }
        other => panic!("{other:?}"),
    }
    match inline_functions(&sympy("self_ref(3)"), &defs) {
        Err(InlineError::Recursion { cycle, .. }) => assert_eq!(cycle, ["self_ref", "self_ref"]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn inline_refuses_exponential_blowup() {
    // f0(x) = x + x, f_{k+1}(x) = f_k(x) + f_k(x): 2^40 leaves if expanded.
    let mut defs = vec![def("f0", &["x"], "x + x")];
    for k in 0..40 {
        defs.push(def(
            &format!("f{}", k + 1),
            &["x"],
            &format!("f{k}(x) + f{k}(x)"),
        ));
    }
    match inline_functions(&sympy("f40(y)"), &defs) {
        Err(InlineError::TooLarge { .. }) => {}
        other => panic!("{other:?}"),
    }
    // A moderate expansion is fine.
    let out = inline_functions(&sympy("f5(y)"), &defs).unwrap();
    assert_eq!(out.size(), 127);
    assert!(out.size() < MAX_INLINE_SIZE);
}

// ---- fold_constants -------------------------------------------------------------------------

#[test]
fn fold_constants_rewrites() {
    let cases = [
        ("2*3 + x", "6 + x"),
        ("x*1 + 1*y + z/1", "x + y + z"),
        ("x + 0 + (0 + y) - 0", "x + y"),
        ("--x", "x"),
        ("-(-(x))", "x"),
        ("-(2)", "-2"),
        ("x**1 + y**0", "x + 1"),
        ("exp(0)*v", "v"),
        ("2*pi", "6.283185307179586"),
        ("pi", "pi"),
        ("sqrt(4) + Abs(-3) + Heaviside(0)", "5.5"),
        ("True & (x > 1)", "x > 1"),
        ("(1 < 2) & (x > 1)", "x > 1"),
        ("False & (x > 1)", "False"),
        ("(x > 1) | True", "True"),
        ("(x > 1) | (2 < 1)", "x > 1"),
        ("~~(x > 1)", "x > 1"),
        ("~(1 > 2)", "True"),
        (
            "Piecewise((a, 1 > 2), (b, x > 0), (c, True))",
            "Piecewise((b, x > 0), (c, True))",
        ),
        ("Piecewise((a, 1 < 2), (b, True))", "a"),
        (
            "Piecewise((a, x > 0), (b, True), (c, y > 0))",
            "Piecewise((a, x > 0), (b, True))",
        ),
        ("1/0 + x", "1/0 + x"),
        ("log(-1)", "log(-1)"),
        ("random(2) + f(1 + 1)", "random(2) + f(2)"),
        ("factorial(5)", "120"),
        ("x*0", "x*0"),
        ("x - x", "x - x"),
    ];
    for (src, want) in cases {
        let got = print_sympy(&fold_constants(&sympy(src)));
        let want = print_sympy(&sympy(want));
        assert_eq!(got, want, "{src}");
    }
    // `~~x` for a non-boolean `x` is not `x` (it is 1 or 0).
    assert_eq!(print_sympy(&fold_constants(&sympy("~~x"))), "~~x");
    // Folding keeps spans of the folded nodes.
    let folded = fold_constants(&lems("a + 2*3"));
    let myelin_expr::ExprKind::Binary(_, _, six) = &folded.kind else {
        panic!()
    };
    assert_eq!(six.span, 4..7);
}

// ---- infer_dimension ------------------------------------------------------------------------

const VOLTAGE: Dimension = Dimension::new(1, 2, -3, -1, 0, 0, 0);
const CONDUCTANCE: Dimension = Dimension::new(-1, -2, 3, 2, 0, 0, 0);
const CURRENT: Dimension = Dimension::new(0, 0, 0, 1, 0, 0, 0);
const AREA: Dimension = Dimension::new(0, 2, 0, 0, 0, 0, 0);
const LENGTH: Dimension = Dimension::new(0, 1, 0, 0, 0, 0, 0);

fn dims(name: &str) -> Option<Dimension> {
    Some(match name {
        "v" | "erev" | "thresh" => VOLTAGE,
        "g" => CONDUCTANCE,
        "t" | "tau" => Dimension::TIME,
        "area" => AREA,
        "len" => LENGTH,
        "x" | "y" | "n" => Dimension::NONE,
        _ => return None,
    })
}

fn dim_ok(src: &str) -> DimType {
    infer_dimension(&lems(src), &dims).unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn dim_err(src: &str, needle: &str) -> std::ops::Range<u32> {
    let e = infer_dimension(&lems(src), &dims).expect_err(src);
    assert!(e.message.contains(needle), "{src}: {}", e.message);
    e.span
}

#[test]
fn dimensions_of_hh_style_expressions() {
    assert_eq!(dim_ok("g * (v - erev)"), DimType::Quantity(CURRENT));
    assert_eq!(
        dim_ok("(v - erev) / tau"),
        DimType::Quantity(VOLTAGE.checked_div(Dimension::TIME).unwrap())
    );
    assert_eq!(dim_ok("x^3 * n^4"), DimType::Quantity(Dimension::NONE));
    assert_eq!(dim_ok("v^2"), DimType::Quantity(VOLTAGE.powi(2).unwrap()));
    assert_eq!(dim_ok("area^(1/2) + len"), DimType::Quantity(LENGTH));
    assert_eq!(dim_ok("sqrt(area)"), DimType::Quantity(LENGTH));
    assert_eq!(
        dim_ok("len^-1"),
        DimType::Quantity(LENGTH.powi(-1).unwrap())
    );
    assert_eq!(dim_ok("abs(v) + random(v)"), DimType::Quantity(VOLTAGE));
    assert_eq!(
        dim_ok("exp(v / thresh)"),
        DimType::Quantity(Dimension::NONE)
    );
    assert_eq!(dim_ok("x^y"), DimType::Quantity(Dimension::NONE));
    assert_eq!(dim_ok("0"), DimType::Zero);
    assert_eq!(dim_ok("-0 + 0"), DimType::Zero);
    assert!(dim_ok("0").is_compatible_with(VOLTAGE));
}

#[test]
fn dimension_zero_fits_anything_where_operands_must_agree() {
    assert_eq!(dim_ok("v .gt. 0"), DimType::Boolean);
    assert_eq!(dim_ok("0 .lt. v"), DimType::Boolean);
    assert_eq!(dim_ok("v - 0"), DimType::Quantity(VOLTAGE));
    assert_eq!(dim_ok("0 + v"), DimType::Quantity(VOLTAGE));
    assert_eq!(dim_ok("v .gt. thresh .and. t .lt. tau"), DimType::Boolean);
    dim_err("v .gt. 1", "a comparison needs operands of one dimension");
}

#[test]
fn dimension_errors_point_at_the_offender() {
    assert_eq!(
        dim_err("exp(v)", "argument of `exp` must be dimensionless"),
        4..5
    );
    assert_eq!(dim_err("2 * (v + t)", "addition"), 4..11);
    assert_eq!(
        dim_err("x + unknown_var", "unknown variable `unknown_var`"),
        4..15
    );
    assert_eq!(dim_err("v^x", "constant exponent"), 2..3);
    assert_eq!(dim_err("x^v", "exponent must be dimensionless"), 2..3);
    assert_eq!(
        dim_err("v^0.37", "not an integer or a simple fraction"),
        2..6
    );
    assert_eq!(dim_err("v^0.3", "no 3/10 power"), 0..5);
    assert_eq!(dim_err("len^(1/2)", "no 1/2 power"), 0..9);
    assert_eq!(dim_err("sqrt(len)", "square root"), 5..8);
    assert_eq!(dim_err("H(v)", "argument of `Heaviside`"), 2..3);
    assert_eq!(dim_err("ceil(t)", "argument of `ceiling`"), 5..6);
    assert_eq!(dim_err("(v .gt. 0) + 1", "expected a number"), 0..10);
    assert_eq!(dim_err("v .and. x .gt. 0", "expected a condition"), 0..1);
    dim_err(".not. v", "expected a condition");
}

#[test]
fn dimensions_of_sympy_constructs() {
    let dim = |src: &str| infer_dimension(&sympy(src), &dims);
    assert_eq!(
        dim("Piecewise((v, x > 0), (0, True))").unwrap(),
        DimType::Quantity(VOLTAGE)
    );
    assert_eq!(
        dim("Piecewise((0, x > 0), (erev, True))").unwrap(),
        DimType::Quantity(VOLTAGE)
    );
    let err = dim("Piecewise((v, x > 0), (t, True))").unwrap_err();
    assert!(
        err.message
            .contains("Piecewise values must share one dimension"),
        "{}",
        err.message
    );
    assert_eq!(err.span, 23..24);
    let err = dim("Piecewise((v, x), (v, True))").unwrap_err();
    assert_eq!(
        (err.span, err.message.contains("expected a condition")),
        (14..15, true)
    );
    assert_eq!(dim("Min(v, erev, 0)").unwrap(), DimType::Quantity(VOLTAGE));
    assert!(dim("Max(v, t)").is_err());
    assert_eq!(
        dim("sign(v) + atan2(v, erev)").unwrap(),
        DimType::Quantity(Dimension::NONE)
    );
    assert!(dim("atan2(v, t)").is_err());
    assert_eq!(dim("v % erev").unwrap(), DimType::Quantity(VOLTAGE));
    assert!(dim("v % t").is_err());
    assert_eq!(dim("Eq(v, 0) & ~(x > 1)").unwrap(), DimType::Boolean);
    assert_eq!(dim("2*pi*x").unwrap(), DimType::Quantity(Dimension::NONE));
    let err = dim("f(v)").unwrap_err();
    assert!(err.message.contains("must be inlined"), "{}", err.message);
}

// ---- eval -----------------------------------------------------------------------------------

#[test]
fn eval_builtins() {
    assert_eq!(eval_const("H(0)"), 0.5);
    assert_eq!(eval_const("H(-2)"), 0.0);
    assert_eq!(eval_const("H(3)"), 1.0);
    assert_eq!(eval_const("Heaviside(0, 1)"), 1.0);
    assert!((eval_const("log(E)") - 1.0).abs() < 1e-15);
    assert_eq!(eval_const("ln(100)"), 100f64.ln());
    assert_eq!(eval_with(&lems("log(100)"), &[]), 100f64.ln());
    assert_eq!(eval_const("factorial(0)"), 1.0);
    assert_eq!(eval_const("factorial(5)"), 120.0);
    assert_eq!(eval_const("factorial(9)"), 362880.0);
    assert!(eval_const("factorial(-1)").is_nan());
    assert!(eval_const("factorial(1.5)").is_nan());
    assert_eq!(eval_const("ceil(1.00001)"), 2.0);
    assert_eq!(eval_const("floor(-1.5)"), -2.0);
    assert_eq!(eval_const("sign(-3) + 10*sign(0) + 100*sign(2)"), 99.0);
    assert_eq!(eval_const("Min(3, 1, 2) + Max(3, 1, 2)"), 4.0);
    assert!(eval_const("Min(1, nan)").is_nan());
    assert_eq!(eval_const("atan2(1, 1)"), std::f64::consts::FRAC_PI_4);
    assert_eq!(eval_const("erf(0) + erfc(0)"), 1.0);
    assert_eq!(eval_const("abs(-2) + sqrt(9)"), 5.0);
    assert_eq!(eval_const("2**10"), 1024.0);
    assert_eq!(eval_with(&lems("2^3^2"), &[]), 64.0);
    assert_eq!(eval_const("2**3**2"), 512.0);
    assert!(eval_const("sqrt(-1)").is_nan());
    assert_eq!(eval_with(&lems("sinh(0) + cosh(0) + tanh(0)"), &[]), 1.0);
    // Python's remainder: the sign of the divisor.
    assert_eq!(eval_const("7 % 3"), 1.0);
    assert_eq!(eval_const("-7 % 3"), 2.0);
    assert_eq!(eval_const("7 % -3"), -2.0);
    assert_eq!(eval_const("Mod(5.5, 2)"), 1.5);
    assert_eq!(eval_const("6 % 3"), 0.0);
}

#[test]
fn eval_conditions_and_piecewise() {
    assert_eq!(
        eval_with(&lems("v .gt. 0 .and. t .lt. 1"), &[("v", 1.0), ("t", 0.5)]),
        1.0
    );
    assert_eq!(
        eval_with(&lems("v .gt. 0 .and. t .lt. 1"), &[("v", 1.0), ("t", 2.0)]),
        0.0
    );
    assert_eq!(
        eval_with(&lems("v .lt. 0 .or. t .eq. 2"), &[("v", 1.0), ("t", 2.0)]),
        1.0
    );
    assert_eq!(eval_const("~(1 > 2)"), 1.0);
    assert_eq!(eval_const("Ne(1, 2) + Eq(1, 1) + (1 >= 1) + (1 <= 0)"), 3.0);
    let pw = sympy("Piecewise((-1, x < 0), (0, Eq(x, 0)), (1, True))");
    assert_eq!(eval_with(&pw, &[("x", -5.0)]), -1.0);
    assert_eq!(eval_with(&pw, &[("x", 0.0)]), 0.0);
    assert_eq!(eval_with(&pw, &[("x", 5.0)]), 1.0);
    assert!(eval_const("Piecewise((1, 1 > 2))").is_nan());
}

#[test]
fn eval_random_uses_rng() {
    let e = lems("random(10) + random(1)");
    let mut draws = [0.25, 0.5].into_iter();
    let v = eval(&e, &|_: &str| None, &mut || draws.next().unwrap()).unwrap();
    assert_eq!(v, 3.0);
    assert!(draws.next().is_none());
}

#[test]
fn eval_errors() {
    let e = lems("a + b");
    let err = eval(&e, &|n: &str| (n == "a").then_some(1.0), &mut no_rng).unwrap_err();
    assert_eq!(
        (err.message.as_str(), err.span),
        ("unknown variable `b`", 4..5)
    );
    let err = eval(&sympy("1 + f(2)"), &|_: &str| None, &mut no_rng).unwrap_err();
    assert!(err.message.contains("inlined"));
    assert_eq!(err.span, 4..8);
}
