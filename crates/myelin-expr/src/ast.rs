//! The expression tree shared by both dialects.

use std::fmt;

/// Byte offsets `start..end` into the string an expression was parsed from.
///
/// Nodes built by code rather than parsed carry `0..0`.
pub type Span = std::ops::Range<u32>;

/// The two surface syntaxes the crate reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// LEMS / NeuroML2 expressions as jLEMS reads them: `^`, `.gt.`, `.and.`, `H(x)`, ...
    Lems,
    /// SymPy's string form as TVBO stores equations: `**`, `<`, `&`, `Piecewise(...)`, ...
    Sympy,
}

impl Dialect {
    /// The literal a bare identifier denotes in this dialect, if any: in SymPy `pi`, `E`,
    /// `True`, `False`, `oo` (infinity) and `nan`; LEMS has none.
    pub fn literal(self, name: &str) -> Option<ExprKind> {
        if self == Dialect::Lems {
            return None;
        }
        Some(match name {
            "pi" => ExprKind::Const(Constant::Pi),
            "E" => ExprKind::Const(Constant::E),
            "True" => ExprKind::Bool(true),
            "False" => ExprKind::Bool(false),
            "oo" => ExprKind::Num(f64::INFINITY),
            "nan" => ExprKind::Num(f64::NAN),
            _ => return None,
        })
    }

    /// Whether a variable called `name` cannot be written in this dialect without being read
    /// back as a literal (see [`Dialect::literal`]).
    pub fn is_reserved(self, name: &str) -> bool {
        self.literal(name).is_some()
    }
}

/// One node of an expression tree, with the source range it was parsed from.
#[derive(Clone, Debug)]
pub struct Expr {
    /// What the node is.
    pub kind: ExprKind,
    /// Where it came from in the source (`0..0` for synthesised nodes).
    pub span: Span,
}

/// The node kinds of the expression IR.
#[derive(Clone, Debug)]
pub enum ExprKind {
    /// A numeric literal. The parsers only produce finite, non-negative values (a minus sign
    /// is a [`UnaryOp::Neg`] node); rewrites may produce any `f64`.
    Num(f64),
    /// A boolean literal (`True`/`False` in SymPy).
    Bool(bool),
    /// A variable reference.
    Var(String),
    /// A named mathematical constant.
    Const(Constant),
    /// A prefix operator applied to an operand.
    Unary(UnaryOp, Box<Expr>),
    /// An infix operator applied to two operands.
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// A call of a built-in or user-defined function.
    Call(Func, Vec<Expr>),
    /// `(value, condition)` pairs tried in order; the first true condition selects its value.
    /// The last condition is often `Bool(true)`. If no condition holds the value is undefined
    /// (SymPy's `nan`).
    Piecewise(Vec<(Expr, Expr)>),
}

/// Named constants (SymPy dialect only; LEMS has none).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Constant {
    /// π
    Pi,
    /// Euler's number e.
    E,
}

impl Constant {
    /// The constant's `f64` value.
    pub fn value(self) -> f64 {
        match self {
            Constant::Pi => std::f64::consts::PI,
            Constant::E => std::f64::consts::E,
        }
    }
}

/// Prefix operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// Arithmetic negation `-x`.
    Neg,
    /// Logical negation (`~c` in SymPy, `.not. c` as a LEMS extension).
    Not,
}

/// Infix operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `^` (LEMS) / `**` (SymPy)
    Pow,
    /// `.lt.` / `<`
    Lt,
    /// `.leq.` / `<=`
    Le,
    /// `.gt.` / `>`
    Gt,
    /// `.geq.` / `>=`
    Ge,
    /// `.eq.` / `Eq(a, b)` / `==`
    Eq,
    /// `.neq.` / `Ne(a, b)` / `!=`
    Ne,
    /// `.and.` / `&`
    And,
    /// `.or.` / `|`
    Or,
}

impl BinaryOp {
    /// True for the six comparison operators.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge | BinaryOp::Eq | BinaryOp::Ne
        )
    }

    /// True for `And` and `Or`.
    pub fn is_logical(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or)
    }

    /// True for `+ - * / ^`.
    pub fn is_arithmetic(self) -> bool {
        matches!(
            self,
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Pow
        )
    }
}

/// Functions: the built-ins of both dialects, or a user-defined function by name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Func {
    /// sine
    Sin,
    /// cosine
    Cos,
    /// tangent
    Tan,
    /// arcsine (SymPy only)
    Asin,
    /// arccosine (SymPy only)
    Acos,
    /// arctangent (SymPy only)
    Atan,
    /// two-argument arctangent `atan2(y, x)` (SymPy only)
    Atan2,
    /// hyperbolic sine
    Sinh,
    /// hyperbolic cosine
    Cosh,
    /// hyperbolic tangent
    Tanh,
    /// inverse hyperbolic sine (SymPy only)
    Asinh,
    /// inverse hyperbolic cosine (SymPy only)
    Acosh,
    /// inverse hyperbolic tangent (SymPy only)
    Atanh,
    /// exponential
    Exp,
    /// natural logarithm (`ln` and `log` in LEMS, `log` in SymPy)
    Log,
    /// square root
    Sqrt,
    /// absolute value (`abs` / `Abs`)
    Abs,
    /// ceiling (`ceil` / `ceiling`)
    Ceil,
    /// floor (SymPy only)
    Floor,
    /// sign: -1, 0 or 1 (SymPy only)
    Sign,
    /// Heaviside step `H(x)` / `Heaviside(x)`: 0 below zero, 1/2 at zero, 1 above. SymPy's
    /// two-argument form `Heaviside(x, h0)` gives `h0` at zero.
    Heaviside,
    /// error function (SymPy only)
    Erf,
    /// complementary error function (SymPy only)
    Erfc,
    /// factorial of a non-negative integer
    Factorial,
    /// LEMS `random(x)`: `x` times a uniform draw from `[0, 1)`
    Random,
    /// minimum of one or more arguments (SymPy only)
    Min,
    /// maximum of one or more arguments (SymPy only)
    Max,
    /// `Mod(a, b)`, also written `a % b`: Python's remainder, with the sign of `b` (SymPy only)
    Mod,
    /// a function defined by the model (SymPy dialect), to be expanded by
    /// [`inline_functions`](crate::inline_functions)
    User(String),
}

/// How many arguments a function takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arity {
    /// Fewest arguments accepted.
    pub min: usize,
    /// Most arguments accepted (`None`: unbounded).
    pub max: Option<usize>,
}

impl Arity {
    const fn exactly(n: usize) -> Arity {
        Arity {
            min: n,
            max: Some(n),
        }
    }

    /// Whether `n` arguments are accepted.
    pub fn accepts(self, n: usize) -> bool {
        n >= self.min && self.max.is_none_or(|m| n <= m)
    }
}

impl fmt::Display for Arity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.max {
            Some(m) if m == self.min => write!(f, "{m}"),
            Some(m) => write!(f, "{} to {m}", self.min),
            None => write!(f, "at least {}", self.min),
        }
    }
}

/// Built-in function names, their functions and the dialects that know them.
/// `(name, func, lems, sympy)`.
const BUILTINS: &[(&str, Func, bool, bool)] = &[
    ("sin", Func::Sin, true, true),
    ("cos", Func::Cos, true, true),
    ("tan", Func::Tan, true, true),
    ("asin", Func::Asin, false, true),
    ("acos", Func::Acos, false, true),
    ("atan", Func::Atan, false, true),
    ("atan2", Func::Atan2, false, true),
    ("sinh", Func::Sinh, true, true),
    ("cosh", Func::Cosh, true, true),
    ("tanh", Func::Tanh, true, true),
    ("asinh", Func::Asinh, false, true),
    ("acosh", Func::Acosh, false, true),
    ("atanh", Func::Atanh, false, true),
    ("exp", Func::Exp, true, true),
    ("ln", Func::Log, true, true),
    ("log", Func::Log, true, true),
    ("sqrt", Func::Sqrt, true, true),
    ("abs", Func::Abs, true, true),
    ("Abs", Func::Abs, false, true),
    ("ceil", Func::Ceil, true, true),
    ("ceiling", Func::Ceil, false, true),
    ("floor", Func::Floor, false, true),
    ("sign", Func::Sign, false, true),
    ("H", Func::Heaviside, true, true),
    ("Heaviside", Func::Heaviside, false, true),
    ("erf", Func::Erf, false, true),
    ("erfc", Func::Erfc, false, true),
    ("factorial", Func::Factorial, true, true),
    ("random", Func::Random, true, true),
    ("Min", Func::Min, false, true),
    ("Max", Func::Max, false, true),
    ("Mod", Func::Mod, false, true),
];

impl Func {
    /// The built-in function `name` denotes in `dialect`, if any.
    pub fn builtin(name: &str, dialect: Dialect) -> Option<Func> {
        BUILTINS.iter().find_map(|(n, f, lems, sympy)| {
            let known = match dialect {
                Dialect::Lems => *lems,
                Dialect::Sympy => *sympy,
            };
            (known && *n == name).then(|| f.clone())
        })
    }

    /// Number of arguments the function takes (user functions: any number).
    pub fn arity(&self) -> Arity {
        match self {
            Func::Atan2 | Func::Mod => Arity::exactly(2),
            Func::Heaviside => Arity {
                min: 1,
                max: Some(2),
            },
            Func::Min | Func::Max => Arity { min: 1, max: None },
            Func::User(_) => Arity { min: 0, max: None },
            _ => Arity::exactly(1),
        }
    }

    /// The name LEMS writes the function with, if LEMS has it.
    pub fn lems_name(&self) -> Option<&'static str> {
        Some(match self {
            Func::Sin => "sin",
            Func::Cos => "cos",
            Func::Tan => "tan",
            Func::Sinh => "sinh",
            Func::Cosh => "cosh",
            Func::Tanh => "tanh",
            Func::Exp => "exp",
            Func::Log => "log",
            Func::Sqrt => "sqrt",
            Func::Abs => "abs",
            Func::Ceil => "ceil",
            Func::Heaviside => "H",
            Func::Factorial => "factorial",
            Func::Random => "random",
            _ => return None,
        })
    }

    /// The name SymPy writes the function with (`random` is LEMS's, kept as is).
    pub fn sympy_name(&self) -> &str {
        match self {
            Func::Sin => "sin",
            Func::Cos => "cos",
            Func::Tan => "tan",
            Func::Asin => "asin",
            Func::Acos => "acos",
            Func::Atan => "atan",
            Func::Atan2 => "atan2",
            Func::Sinh => "sinh",
            Func::Cosh => "cosh",
            Func::Tanh => "tanh",
            Func::Asinh => "asinh",
            Func::Acosh => "acosh",
            Func::Atanh => "atanh",
            Func::Exp => "exp",
            Func::Log => "log",
            Func::Sqrt => "sqrt",
            Func::Abs => "Abs",
            Func::Ceil => "ceiling",
            Func::Floor => "floor",
            Func::Sign => "sign",
            Func::Heaviside => "Heaviside",
            Func::Erf => "erf",
            Func::Erfc => "erfc",
            Func::Factorial => "factorial",
            Func::Random => "random",
            Func::Min => "Min",
            Func::Max => "Max",
            Func::Mod => "Mod",
            Func::User(name) => name,
        }
    }
}

impl fmt::Display for Func {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sympy_name())
    }
}

/// A user-defined function: `name(params...) = body`, expanded by
/// [`inline_functions`](crate::inline_functions).
#[derive(Clone, Debug)]
pub struct FunctionDef {
    /// The function's name as calls write it.
    pub name: String,
    /// Parameter names, in call order.
    pub params: Vec<String>,
    /// The body, in terms of the parameters (and of any other free variables).
    pub body: Expr,
}

impl Expr {
    /// A node with the given kind and span.
    pub fn new(kind: ExprKind, span: Span) -> Expr {
        Expr { kind, span }
    }

    /// A synthesised node (span `0..0`).
    pub fn synth(kind: ExprKind) -> Expr {
        Expr { kind, span: 0..0 }
    }

    /// A synthesised numeric literal.
    pub fn num(v: f64) -> Expr {
        Expr::synth(ExprKind::Num(v))
    }

    /// A synthesised variable reference.
    pub fn var(name: &str) -> Expr {
        Expr::synth(ExprKind::Var(name.to_owned()))
    }

    /// A synthesised unary node.
    pub fn unary(op: UnaryOp, operand: Expr) -> Expr {
        Expr::synth(ExprKind::Unary(op, Box::new(operand)))
    }

    /// A synthesised binary node.
    pub fn binary(op: BinaryOp, lhs: Expr, rhs: Expr) -> Expr {
        Expr::synth(ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)))
    }

    /// A synthesised call.
    pub fn call(func: Func, args: Vec<Expr>) -> Expr {
        Expr::synth(ExprKind::Call(func, args))
    }

    /// Structural equality, ignoring spans. Numbers compare by bit pattern, except that all
    /// NaNs are equal (so `0.0` and `-0.0` differ).
    pub fn same(&self, other: &Expr) -> bool {
        use ExprKind as K;
        match (&self.kind, &other.kind) {
            (K::Num(a), K::Num(b)) => a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
            (K::Bool(a), K::Bool(b)) => a == b,
            (K::Var(a), K::Var(b)) => a == b,
            (K::Const(a), K::Const(b)) => a == b,
            (K::Unary(o1, a), K::Unary(o2, b)) => o1 == o2 && a.same(b),
            (K::Binary(o1, a1, b1), K::Binary(o2, a2, b2)) => {
                o1 == o2 && a1.same(a2) && b1.same(b2)
            }
            (K::Call(f1, a1), K::Call(f2, a2)) => {
                f1 == f2 && a1.len() == a2.len() && a1.iter().zip(a2).all(|(x, y)| x.same(y))
            }
            (K::Piecewise(p1), K::Piecewise(p2)) => {
                p1.len() == p2.len()
                    && p1
                        .iter()
                        .zip(p2)
                        .all(|((v1, c1), (v2, c2))| v1.same(v2) && c1.same(c2))
            }
            _ => false,
        }
    }

    /// The direct children of this node, in source order.
    pub fn children(&self) -> Vec<&Expr> {
        match &self.kind {
            ExprKind::Num(_) | ExprKind::Bool(_) | ExprKind::Var(_) | ExprKind::Const(_) => {
                Vec::new()
            }
            ExprKind::Unary(_, a) => vec![a],
            ExprKind::Binary(_, a, b) => vec![a, b],
            ExprKind::Call(_, args) => args.iter().collect(),
            ExprKind::Piecewise(pieces) => pieces.iter().flat_map(|(v, c)| [v, c]).collect(),
        }
    }

    /// Calls `f` on every node, parents before children (iteratively: no recursion).
    pub fn walk(&self, mut f: impl FnMut(&Expr)) {
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            f(e);
            let children = e.children();
            stack.extend(children.into_iter().rev());
        }
    }

    /// Sorted, deduplicated names of the variables the expression reads.
    pub fn free_vars(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.walk(|e| {
            if let ExprKind::Var(name) = &e.kind {
                out.push(name.clone());
            }
        });
        out.sort();
        out.dedup();
        out
    }

    /// Sorted, deduplicated names of the user-defined functions the expression calls.
    pub fn calls(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.walk(|e| {
            if let ExprKind::Call(Func::User(name), _) = &e.kind {
                out.push(name.clone());
            }
        });
        out.sort();
        out.dedup();
        out
    }

    /// Number of nodes in the tree.
    pub fn size(&self) -> usize {
        let mut n = 0;
        self.walk(|_| n += 1);
        n
    }

    /// Height of the tree: 1 for a leaf.
    pub fn depth(&self) -> usize {
        let mut max = 0;
        let mut stack = vec![(self, 1usize)];
        while let Some((e, d)) = stack.pop() {
            max = max.max(d);
            stack.extend(e.children().into_iter().map(|c| (c, d + 1)));
        }
        max
    }

    /// True if the node is boolean-valued by construction (a comparison, a logical operator,
    /// a boolean literal or a logical negation).
    pub fn is_boolean(&self) -> bool {
        match &self.kind {
            ExprKind::Bool(_) | ExprKind::Unary(UnaryOp::Not, _) => true,
            ExprKind::Binary(op, _, _) => op.is_comparison() || op.is_logical(),
            _ => false,
        }
    }
}

impl fmt::Display for Expr {
    /// Writes the expression in the SymPy dialect.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::print_sympy(self))
    }
}
