//! Parsing and printing, operator by operator, in both dialects.

mod common;

use common::{lems, sexp, sympy};
use myelin_expr::{Dialect, Expr, ExprKind, Func, MAX_DEPTH, parse, print_lems, print_sympy};

fn lems_tree(src: &str) -> String {
    sexp(&lems(src))
}

fn sympy_tree(src: &str) -> String {
    sexp(&sympy(src))
}

/// Asserts that `src` fails to parse with a message containing `needle` at `span`.
fn fails(src: &str, dialect: Dialect, needle: &str, span: std::ops::Range<u32>) {
    match parse(src, dialect) {
        Ok(e) => panic!("{src:?} parsed as {}", sexp(&e)),
        Err(err) => {
            assert!(
                err.message.contains(needle),
                "{src:?}: message {:?} lacks {needle:?}",
                err.message
            );
            assert_eq!(err.span, span, "{src:?}: {err}");
        }
    }
}

// ---- LEMS -----------------------------------------------------------------------------------

#[test]
fn lems_arithmetic_precedence_and_associativity() {
    assert_eq!(lems_tree("a + b * c"), "(+ a (* b c))");
    assert_eq!(lems_tree("a * b + c"), "(+ (* a b) c)");
    assert_eq!(lems_tree("a - b - c"), "(- (- a b) c)");
    assert_eq!(lems_tree("a - b + c"), "(+ (- a b) c)");
    assert_eq!(lems_tree("a / b / c"), "(/ (/ a b) c)");
    assert_eq!(lems_tree("a / b * c"), "(* (/ a b) c)");
    assert_eq!(lems_tree("a * b ^ c"), "(* a (^ b c))");
    assert_eq!(lems_tree("(a + b) * c"), "(* (+ a b) c)");
    assert_eq!(lems_tree("((a))"), "a");
}

#[test]
fn lems_power_groups_left_like_jlems() {
    // jLEMS claims operators of equal precedence left to right, `^` included.
    assert_eq!(lems_tree("a ^ b ^ c"), "(^ (^ a b) c)");
    assert_eq!(lems_tree("a ^ (b ^ c)"), "(^ a (^ b c))");
}

#[test]
fn lems_unary_minus_follows_jlems() {
    // Leading minus: jLEMS's binary minus with an implied 0, so `^` binds first.
    assert_eq!(lems_tree("-x^2"), "(neg (^ x 2))");
    assert_eq!(lems_tree("(-x^2)"), "(neg (^ x 2))");
    assert_eq!(lems_tree("-a * b"), "(* (neg a) b)");
    assert_eq!(lems_tree("-a + b"), "(+ (neg a) b)");
    assert_eq!(lems_tree("exp(-v/10)"), "(exp (/ (neg v) 10))");
    // After an operator: jLEMS's UnaryMinusNode, tighter than `^`.
    assert_eq!(lems_tree("a * -x^2"), "(* a (^ (neg x) 2))");
    assert_eq!(lems_tree("2^-1"), "(^ 2 (neg 1))");
    assert_eq!(lems_tree("2^-x^2"), "(^ (^ 2 (neg x)) 2)");
    assert_eq!(lems_tree("x .gt. -1"), "(> x (neg 1))");
    assert_eq!(lems_tree("a - -b"), "(- a (neg b))");
    assert_eq!(lems_tree("--a"), "(neg (neg a))");
    assert_eq!(lems_tree("+a"), "a");
    assert_eq!(lems_tree("a * +b"), "(* a b)");
}

#[test]
fn lems_comparisons() {
    assert_eq!(lems_tree("v .gt. 0"), "(> v 0)");
    assert_eq!(lems_tree("v .geq. 0"), "(>= v 0)");
    assert_eq!(lems_tree("v .ge. 0"), "(>= v 0)");
    assert_eq!(lems_tree("v .gte. 0"), "(>= v 0)");
    assert_eq!(lems_tree("v .lt. 0"), "(< v 0)");
    assert_eq!(lems_tree("v .leq. 0"), "(<= v 0)");
    assert_eq!(lems_tree("v .le. 0"), "(<= v 0)");
    assert_eq!(lems_tree("v .eq. 0"), "(== v 0)");
    assert_eq!(lems_tree("v .neq. 0"), "(!= v 0)");
    assert_eq!(lems_tree("v .ne. 0"), "(!= v 0)");
    assert_eq!(
        lems_tree("t .gt. duration + delay"),
        "(> t (+ duration delay))"
    );
    assert_eq!(lems_tree("v.gt.thresh"), "(> v thresh)");
    assert_eq!(lems_tree("1.gt.2"), "(> 1 2)");
}

#[test]
fn lems_logic_operators_share_one_level_like_jlems() {
    assert_eq!(
        lems_tree("active .eq. 1 .and. t .geq. delay"),
        "(and (== active 1) (>= t delay))"
    );
    assert_eq!(
        lems_tree("a .gt. 0 .or. b .gt. 0 .and. c .gt. 0"),
        "(and (or (> a 0) (> b 0)) (> c 0))"
    );
    assert_eq!(
        lems_tree("a .gt. 0 .and. b .gt. 0 .or. c .gt. 0"),
        "(or (and (> a 0) (> b 0)) (> c 0))"
    );
    assert_eq!(
        lems_tree("a .gt. 0 .or. (b .gt. 0 .and. c .gt. 0)"),
        "(or (> a 0) (and (> b 0) (> c 0)))"
    );
    assert_eq!(
        lems_tree(".not. a .gt. b .and. c .lt. d"),
        "(and (not (> a b)) (< c d))"
    );
}

#[test]
fn lems_functions() {
    for name in [
        "sin",
        "cos",
        "tan",
        "sinh",
        "cosh",
        "tanh",
        "exp",
        "sqrt",
        "ceil",
        "abs",
        "H",
        "random",
        "factorial",
    ] {
        let e = lems(&format!("{name}(x)"));
        let ExprKind::Call(f, args) = &e.kind else {
            panic!("{name}: {}", sexp(&e))
        };
        assert_eq!(args.len(), 1);
        assert!(!matches!(f, Func::User(_)), "{name}");
    }
    assert!(matches!(lems("ln(x)").kind, ExprKind::Call(Func::Log, _)));
    assert!(matches!(lems("log(x)").kind, ExprKind::Call(Func::Log, _)));
    assert_eq!(lems_tree("exp (x)"), "(exp x)");
    assert_eq!(lems_tree("H(v - thresh)"), "(Heaviside (- v thresh))");
    assert_eq!(lems_tree("sin(x)^2"), "(^ (sin x) 2)");
}

#[test]
fn lems_numbers() {
    for (src, v) in [
        ("1e-3", 1e-3),
        (".5", 0.5),
        ("2.", 2.0),
        ("1E+3", 1e3),
        ("2.5e2", 250.0),
        ("0.065", 0.065),
    ] {
        match lems(src).kind {
            ExprKind::Num(x) => assert_eq!(x, v, "{src}"),
            ref k => panic!("{src}: {k:?}"),
        }
    }
    assert_eq!(lems_tree("5e-3*x"), "(* 0.005 x)");
}

#[test]
fn lems_spans() {
    let e = lems("g * (v - erev)");
    assert_eq!(e.span, 0..14);
    let ExprKind::Binary(_, g, rhs) = &e.kind else {
        panic!()
    };
    assert_eq!(g.span, 0..1);
    assert_eq!(
        rhs.span,
        4..14,
        "a parenthesised operand spans its parentheses"
    );
    let ExprKind::Binary(_, v, erev) = &rhs.kind else {
        panic!()
    };
    assert_eq!((v.span.clone(), erev.span.clone()), (5..6, 9..13));
    assert_eq!(lems("  exp( x )  ").span, 2..10);
    assert_eq!(lems("-x").span, 0..2);
}

#[test]
fn lems_errors_have_spans() {
    fails("v .gt", Dialect::Lems, "incomplete operator `.gt`", 2..5);
    fails("v .gt.", Dialect::Lems, "unexpected end", 6..6);
    fails("a + * b", Dialect::Lems, "found `*`", 4..5);
    fails("(a + b", Dialect::Lems, "unclosed `(`", 0..1);
    fails("exp(a + b", Dialect::Lems, "unclosed `(`", 3..4);
    fails("a + b)", Dialect::Lems, "unmatched `)`", 5..6);
    fails("(a + b))", Dialect::Lems, "unmatched `)`", 7..8);
    fails("()", Dialect::Lems, "found `)`", 1..2);
    fails("", Dialect::Lems, "empty", 0..0);
    fails("   ", Dialect::Lems, "empty", 0..3);
    fails("a b", Dialect::Lems, "found `b`", 2..3);
    fails("2x", Dialect::Lems, "found `x`", 1..2);
    fails("foo(x)", Dialect::Lems, "unknown function `foo`", 0..3);
    fails(
        "atan2(y, x)",
        Dialect::Lems,
        "unknown function `atan2`",
        0..5,
    );
    fails("exp(x, y)", Dialect::Lems, "takes 1 argument", 0..9);
    fails("exp()", Dialect::Lems, "takes 1 argument", 0..5);
    fails("a < b", Dialect::Lems, "use `.lt.`", 2..3);
    fails("a & b", Dialect::Lems, "use `.and.`", 2..3);
    fails("x ** 2", Dialect::Lems, "`^`", 2..4);
    fails("a .lt. b .lt. c", Dialect::Lems, "chained", 9..13);
    fails("a .foo. b", Dialect::Lems, "unknown operator `.foo.`", 2..7);
    fails("a .GT. b", Dialect::Lems, "unknown operator `.GT.`", 2..6);
    fails("a # b", Dialect::Lems, "unexpected character `#`", 2..3);
    fails("a + é", Dialect::Lems, "unexpected character `é`", 4..6);
    fails("a = b", Dialect::Lems, "`=`", 2..3);
    fails("a + ", Dialect::Lems, "unexpected end", 4..4);
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("{}x{}", "(".repeat(100_000), ")".repeat(100_000));
    fails(
        &deep,
        Dialect::Lems,
        "nested too deeply",
        MAX_DEPTH as u32..MAX_DEPTH as u32 + 1,
    );
    let long_sum = vec!["x"; 100_000].join(" + ");
    assert!(
        parse(&long_sum, Dialect::Sympy)
            .unwrap_err()
            .message
            .contains("nested too deeply")
    );
    let minuses = format!("{}x", "-".repeat(100_000));
    assert!(parse(&minuses, Dialect::Lems).is_err());
    let powers = vec!["x"; 100_000].join("**");
    assert!(parse(&powers, Dialect::Sympy).is_err());
    // Just inside the limit, everything works (in a test thread's default stack).
    let ok = format!(
        "{}x{}",
        "sin(".repeat(MAX_DEPTH - 1),
        ")".repeat(MAX_DEPTH - 1)
    );
    let e = parse(&ok, Dialect::Lems).expect("at the limit");
    assert_eq!(e.depth(), MAX_DEPTH);
    assert!(print_lems(&e).is_ok());
    let sum = vec!["x"; MAX_DEPTH].join(" + ");
    let e = parse(&sum, Dialect::Sympy).expect("at the limit");
    assert!(parse(&print_sympy(&e), Dialect::Sympy).unwrap().same(&e));
    let x = |_: &str| Some(1.0);
    assert_eq!(
        myelin_expr::eval(&e, &x, &mut || 0.0).unwrap(),
        MAX_DEPTH as f64
    );
    // Every recursive operation copes with the deepest trees the parser builds.
    let nested = format!(
        "{}x{}",
        "f(-(".repeat(MAX_DEPTH / 3 - 1),
        "))".repeat(MAX_DEPTH / 3 - 1)
    );
    let e = parse(&nested, Dialect::Sympy).expect("near the limit");
    let defs = [myelin_expr::FunctionDef {
        name: "f".into(),
        params: vec!["y".into()],
        body: parse("2*y", Dialect::Sympy).unwrap(),
    }];
    let inlined = myelin_expr::inline_functions(&e, &defs).expect("inline");
    assert!(inlined.depth() <= MAX_DEPTH);
    let folded = myelin_expr::fold_constants(&inlined);
    assert!(
        myelin_expr::infer_dimension(&folded, &|_: &str| Some(myelin_units::Dimension::NONE))
            .is_ok()
    );
    let substituted = myelin_expr::substitute(&e, &|_: &str| Some(Expr::num(1.0)));
    assert!(substituted.same(&substituted.clone()));
    assert!(print_lems(&inlined).is_ok());
}

// ---- SymPy ----------------------------------------------------------------------------------

#[test]
fn sympy_arithmetic() {
    assert_eq!(sympy_tree("a + b*c"), "(+ a (* b c))");
    assert_eq!(sympy_tree("a - b - c"), "(- (- a b) c)");
    assert_eq!(sympy_tree("a/b/c"), "(/ (/ a b) c)");
    assert_eq!(sympy_tree("x**2"), "(^ x 2)");
    assert_eq!(sympy_tree("x^2"), "(^ x 2)");
    assert_eq!(sympy_tree("a**b**c"), "(^ a (^ b c))");
    assert_eq!(sympy_tree("a^b**c"), "(^ a (^ b c))");
    assert_eq!(sympy_tree("(a**b)**c"), "(^ (^ a b) c)");
    assert_eq!(sympy_tree("-x**2"), "(neg (^ x 2))");
    assert_eq!(sympy_tree("a*-x**2"), "(* a (neg (^ x 2)))");
    assert_eq!(sympy_tree("(-x)**2"), "(^ (neg x) 2)");
    assert_eq!(sympy_tree("2**-1"), "(^ 2 (neg 1))");
    assert_eq!(sympy_tree("2**-x**2"), "(^ 2 (neg (^ x 2)))");
    assert_eq!(sympy_tree("2**-x*3"), "(* (^ 2 (neg x)) 3)");
    assert_eq!(sympy_tree("-a*b"), "(* (neg a) b)");
    assert_eq!(sympy_tree("+x"), "x");
    assert_eq!(sympy_tree("1.0e-3*x"), "(* 0.001 x)");
    assert_eq!(
        sympy_tree("(-a)*x1**2 + b*x1"),
        "(+ (* (neg a) (^ x1 2)) (* b x1))"
    );
}

#[test]
fn sympy_logic_and_comparisons() {
    assert_eq!(sympy_tree("x < 1"), "(< x 1)");
    assert_eq!(sympy_tree("x <= 1"), "(<= x 1)");
    assert_eq!(sympy_tree("x > 1"), "(> x 1)");
    assert_eq!(sympy_tree("x >= 1"), "(>= x 1)");
    assert_eq!(sympy_tree("x == 1"), "(== x 1)");
    assert_eq!(sympy_tree("x != 1"), "(!= x 1)");
    assert_eq!(sympy_tree("Eq(x, 1)"), "(== x 1)");
    assert_eq!(sympy_tree("Ne(x, 1)"), "(!= x 1)");
    assert_eq!(sympy_tree("x < 1 & y > 2"), "(and (< x 1) (> y 2))");
    assert_eq!(
        sympy_tree("(t >= a) & (t < a + d)"),
        "(and (>= t a) (< t (+ a d)))"
    );
    assert_eq!(sympy_tree("a | b & c"), "(or a (and b c))");
    assert_eq!(sympy_tree("a & b | c"), "(or (and a b) c)");
    assert_eq!(sympy_tree("~(x < 1)"), "(not (< x 1))");
    assert_eq!(sympy_tree("~x < 1"), "(not (< x 1))");
    assert_eq!(sympy_tree("~a & b"), "(and (not a) b)");
    assert_eq!(sympy_tree("x .gt. 1"), "(> x 1)");
}

#[test]
fn sympy_calls_constants_and_piecewise() {
    assert_eq!(
        sympy_tree("Piecewise((0.0, x < -0.25), (a*(x + 0.25), True))"),
        "(piecewise [0 (< x (neg 0.25))] [(* a (+ x 0.25)) true])"
    );
    assert_eq!(sympy_tree("Min(a, b, c)"), "(Min a b c)");
    assert_eq!(sympy_tree("Max(a)"), "(Max a)");
    assert_eq!(sympy_tree("atan2(y, x)"), "(atan2 y x)");
    assert_eq!(sympy_tree("Abs(x) + abs(y)"), "(+ (Abs x) (Abs y))");
    assert_eq!(
        sympy_tree("ceiling(x) + ceil(y) + floor(z)"),
        "(+ (+ (ceiling x) (ceiling y)) (floor z))"
    );
    assert_eq!(
        sympy_tree("Heaviside(x) + H(y) + Heaviside(z, 1)"),
        "(+ (+ (Heaviside x) (Heaviside y)) (Heaviside z 1))"
    );
    assert_eq!(
        sympy_tree("sign(x)*erf(x)*erfc(x)"),
        "(* (* (sign x) (erf x)) (erfc x))"
    );
    assert_eq!(
        sympy_tree("asin(x) + acos(x) + atan(x)"),
        "(+ (+ (asin x) (acos x)) (atan x))"
    );
    assert_eq!(sympy_tree("TF_e(E, I, x + 1)"), "(user:TF_e #e I (+ x 1))");
    assert_eq!(sympy_tree("Derivative(y0, t)"), "(user:Derivative y0 t)");
    assert_eq!(sympy_tree("f()"), "(user:f)");
    assert_eq!(sympy_tree("2*pi*E"), "(* (* 2 #pi) #e)");
    assert_eq!(sympy_tree("True"), "true");
    assert_eq!(sympy_tree("False"), "false");
    assert_eq!(sympy_tree("oo"), "inf");
    assert_eq!(sympy_tree("Piecewise"), "Piecewise");
    assert_eq!(sympy_tree("(2*x + y) % 1"), "(Mod (+ (* 2 x) y) 1)");
    assert_eq!(sympy_tree("a*b % c / d"), "(/ (Mod (* a b) c) d)");
    assert_eq!(sympy_tree("x_j[0] - x_j[1]"), "(- x_j[0] x_j[1])");

    // In LEMS, `pi` and `E` are ordinary variables.
    assert_eq!(lems_tree("pi * E"), "(* pi E)");
    assert!(Dialect::Sympy.is_reserved("E") && !Dialect::Lems.is_reserved("E"));
    assert!(!Dialect::Sympy.is_reserved("I"));
}

#[test]
fn sympy_errors_have_spans() {
    fails("Piecewise()", Dialect::Sympy, "at least one", 10..11);
    fails("Piecewise((a))", Dialect::Sympy, "condition", 12..13);
    fails("Piecewise((a, b)", Dialect::Sympy, "unclosed", 9..10);
    fails("Piecewise(a, b)", Dialect::Sympy, "pair", 10..11);
    fails("Eq(a)", Dialect::Sympy, "takes 2 arguments", 0..5);
    fails("Min()", Dialect::Sympy, "at least 1", 0..5);
    fails("atan2(x)", Dialect::Sympy, "takes 2 arguments", 0..8);
    fails("Heaviside(x, y, z)", Dialect::Sympy, "1 to 2", 0..18);
    fails("a < b < c", Dialect::Sympy, "chained", 6..7);
    fails("x = 1", Dialect::Sympy, "`=`", 2..3);
    fails("f(a b)", Dialect::Sympy, "expected `,` or `)`", 4..5);
    fails("a + * b", Dialect::Sympy, "found `*`", 4..5);
    fails("x // 2", Dialect::Sympy, "found `/`", 3..4);
    fails("a !b", Dialect::Sympy, "`!`", 2..3);
    fails("x_j [0]", Dialect::Sympy, "unexpected character `[`", 4..5);
    fails("x[a]", Dialect::Sympy, "unexpected character `[`", 1..2);
    fails("x[0]", Dialect::Lems, "unexpected character `[`", 1..2);
    fails("a % b", Dialect::Lems, "`%` is not LEMS syntax", 2..3);
}

// ---- Printing -------------------------------------------------------------------------------

fn lems_print(src: &str) -> String {
    print_lems(&sympy(src)).unwrap_or_else(|e| panic!("{src}: {e}"))
}

#[test]
fn lems_printing_parenthesises_minimally_but_safely() {
    let cases = [
        ("a - (b - c)", "a - (b - c)"),
        ("(a - b) - c", "a - b - c"),
        ("a + (b + c)", "a + (b + c)"),
        ("a/(b*c)", "a/(b*c)"),
        ("a*(b*c)", "a*(b*c)"),
        ("a*b/c", "a*b/c"),
        ("-x**2", "-(x^2)"),
        ("(-x)**2", "(-x)^2"),
        ("2**-1", "2^-1"),
        ("a**b**c", "a^(b^c)"),
        ("(a**b)**c", "(a^b)^c"),
        ("-a*b", "-a*b"),
        ("-(a*b)", "-(a*b)"),
        ("a*-b", "a*-b"),
        ("a - -b", "a - -b"),
        ("(x > 0) & (y < 1)", "x .gt. 0 .and. y .lt. 1"),
        (
            "(a > 0) | (b > 0) & (c > 0)",
            "a .gt. 0 .or. (b .gt. 0 .and. c .gt. 0)",
        ),
        (
            "((a > 0) | (b > 0)) & (c > 0)",
            "(a .gt. 0 .or. b .gt. 0) .and. c .gt. 0",
        ),
        ("Eq(a, 1) & (t >= d)", "(a .eq. 1) .and. t .geq. d"),
        ("(a + b > c) ", "a + b .gt. c"),
        (
            "(a > b) | (a <= b) | Ne(a, b)",
            "a .gt. b .or. a .leq. b .or. (a .neq. b)",
        ),
        ("exp(-v/10)", "exp(-v/10)"),
        (
            "Abs(x) + ceiling(y) + Heaviside(z) + log(w)",
            "abs(x) + ceil(y) + H(z) + log(w)",
        ),
        ("2*pi", "2*3.141592653589793"),
        ("E", "2.718281828459045"),
        ("0.1 + 1e-7 + 1e20 + 3", "0.1 + 1e-7 + 1e20 + 3"),
        ("True", "0 .eq. 0"),
    ];
    for (src, want) in cases {
        assert_eq!(lems_print(src), want, "{src}");
    }
}

#[test]
fn lems_printing_names_what_lems_cannot_express() {
    let cases = [
        ("Piecewise((a, x > 0), (b, True))", "Piecewise"),
        ("Min(a, b)", "Min"),
        ("Max(a, b)", "Max"),
        ("atan2(y, x)", "atan2"),
        ("erf(x)", "erf"),
        ("floor(x)", "floor"),
        ("sign(x)", "sign"),
        ("~(x > 0)", "not"),
        ("f(x)", "`f`"),
        ("Heaviside(x, 1)", "Heaviside"),
        ("oo", "infinite"),
        ("x % 2", "Mod"),
        ("x_j[0] + 1", "`x_j[0]`"),
    ];
    for (src, needle) in cases {
        let e = sympy(src);
        let err = print_lems(&e).expect_err(src);
        assert!(err.message.contains(needle), "{src}: {}", err.message);
    }
    // The error points at the offending node.
    let err = print_lems(&sympy("a + Min(b, c)")).unwrap_err();
    assert_eq!(err.span, 4..13);
}

#[test]
fn sympy_printing() {
    let cases = [
        ("a - (b - c)", "a - (b - c)"),
        ("-x**2", "-x**2"),
        ("(-x)**2", "(-x)**2"),
        ("2**-1", "2**-1"),
        ("a**b**c", "a**b**c"),
        ("(a**b)**c", "(a**b)**c"),
        ("2**-x**2", "2**-x**2"),
        ("x < 1 & y > 2", "(x < 1) & (y > 2)"),
        ("a | b & c", "a | b & c"),
        ("(a | b) & c", "(a | b) & c"),
        ("~(x < 1)", "~(x < 1)"),
        ("~a & b", "~a & b"),
        ("-(~a)", "-(~a)"),
        ("Eq(a, b) & c", "Eq(a, b) & c"),
        ("a == b", "Eq(a, b)"),
        ("x .ne. 1", "Ne(x, 1)"),
        (
            "Piecewise((a, x > 0), (b, True))",
            "Piecewise((a, x > 0), (b, True))",
        ),
        (
            "abs(x) + ceil(x) + H(x) + ln(x)",
            "Abs(x) + ceiling(x) + Heaviside(x) + log(x)",
        ),
        ("2.0*pi + E", "2*pi + E"),
        ("1.0e-3 + 1e20 + 0.5", "0.001 + 1e20 + 0.5"),
        ("Min(a, b, c)", "Min(a, b, c)"),
        ("(x + y) % 1 + x_j[0]", "Mod(x + y, 1) + x_j[0]"),
    ];
    for (src, want) in cases {
        assert_eq!(print_sympy(&sympy(src)), want, "{src}");
    }
    assert_eq!(print_sympy(&Expr::num(-2.0)), "-2");
    assert_eq!(print_sympy(&Expr::num(f64::NAN)), "nan");
    assert_eq!(print_sympy(&Expr::num(f64::NEG_INFINITY)), "-oo");
    let pow = Expr::binary(myelin_expr::BinaryOp::Pow, Expr::num(-2.0), Expr::var("x"));
    assert_eq!(print_sympy(&pow), "(-2)**x");
    assert_eq!(print_lems(&pow).unwrap(), "(-2)^x");
    assert_eq!(sympy("2*x").to_string(), "2*x");
}

#[test]
fn printed_lems_reads_back_identically_in_both_contexts() {
    // The jLEMS-specific unary-minus rule: printing must not depend on context.
    for src in [
        "a * -x^2",
        "-x^2",
        "2^-x^2",
        "(-x)^2 .gt. -(y^2)",
        "-(a^b)^c",
        "a - -b^2",
    ] {
        let e = lems(src);
        let printed = print_lems(&e).unwrap();
        assert!(lems(&printed).same(&e), "{src} -> {printed}");
        assert!(
            sympy(&print_sympy(&e)).same(&e),
            "{src} -> {}",
            print_sympy(&e)
        );
    }
}

#[test]
fn free_vars_and_calls() {
    let e = sympy("f(x, g(y)) + x*z + h() + sin(w) + pi");
    assert_eq!(e.free_vars(), ["w", "x", "y", "z"]);
    assert_eq!(e.calls(), ["f", "g", "h"]);
    assert!(lems("exp(v)").calls().is_empty());
}

#[test]
fn same_ignores_spans_only() {
    assert!(lems("a+b").same(&lems("  a  +  b ")));
    assert!(!lems("a+b").same(&lems("b+a")));
    assert!(!lems("a-b-c").same(&lems("a-(b-c)")));
    assert!(Expr::num(f64::NAN).same(&Expr::num(f64::NAN)));
    assert!(!Expr::num(0.0).same(&Expr::num(-0.0)));
}
