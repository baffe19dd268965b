//! Tree rewrites: variable substitution, function inlining, constant folding.

use crate::ast::{BinaryOp, Constant, Expr, ExprKind, Func, FunctionDef, Span, UnaryOp};
use crate::eval::{apply_binary, apply_func, truthy, unary};
use crate::parser::MAX_DEPTH;
use std::collections::HashMap;
use std::fmt;

/// Replaces every variable `x` for which `map(x)` is `Some(e)` by `e` (simultaneously: the
/// replacements are not themselves rewritten). Replacements keep their own spans.
pub fn substitute(e: &Expr, map: &impl Fn(&str) -> Option<Expr>) -> Expr {
    subst(e, map)
}

fn subst(e: &Expr, map: &dyn Fn(&str) -> Option<Expr>) -> Expr {
    if let ExprKind::Var(name) = &e.kind
        && let Some(r) = map(name)
    {
        return r;
    }
    rebuild(e, e.span.clone(), |c| subst(c, map))
}

/// A copy of `e` with `span` and with each child replaced by `f(child)`.
fn rebuild(e: &Expr, span: Span, mut f: impl FnMut(&Expr) -> Expr) -> Expr {
    let kind = match &e.kind {
        k @ (ExprKind::Num(_) | ExprKind::Bool(_) | ExprKind::Var(_) | ExprKind::Const(_)) => {
            k.clone()
        }
        ExprKind::Unary(op, a) => ExprKind::Unary(*op, Box::new(f(a))),
        ExprKind::Binary(op, a, b) => {
            let a = f(a);
            ExprKind::Binary(*op, Box::new(a), Box::new(f(b)))
        }
        ExprKind::Call(func, args) => {
            ExprKind::Call(func.clone(), args.iter().map(&mut f).collect())
        }
        ExprKind::Piecewise(pieces) => ExprKind::Piecewise(
            pieces
                .iter()
                .map(|(v, c)| {
                    let v = f(v);
                    (v, f(c))
                })
                .collect(),
        ),
    };
    Expr { kind, span }
}

/// Turns the SymPy constants `pi` and `E` back into variables where the model declares a
/// symbol of that name (`is_symbol`), as SymPy's `sympify(..., locals)` would: TVBO models
/// use `E` as a state variable.
pub fn shadow_constants(e: &Expr, is_symbol: &impl Fn(&str) -> bool) -> Expr {
    let map = |e: &Expr| -> Option<Expr> {
        let name = match e.kind {
            ExprKind::Const(Constant::Pi) => "pi",
            ExprKind::Const(Constant::E) => "E",
            _ => return None,
        };
        is_symbol(name).then(|| Expr::new(ExprKind::Var(name.to_owned()), e.span.clone()))
    };
    shadow(e, &map)
}

fn shadow(e: &Expr, map: &dyn Fn(&Expr) -> Option<Expr>) -> Expr {
    map(e).unwrap_or_else(|| rebuild(e, e.span.clone(), |c| shadow(c, map)))
}

// ---------------------------------------------------------------------------------------------
// Inlining

/// Most nodes an inlined expression may have.
pub const MAX_INLINE_SIZE: usize = 200_000;

/// Why user functions could not be inlined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InlineError {
    /// A call of a function that `defs` does not define.
    UnknownFunction {
        /// The called name.
        name: String,
        /// The call.
        span: Span,
        /// The function whose body holds the call (`None`: the expression itself).
        within: Option<String>,
    },
    /// A call with the wrong number of arguments.
    WrongArity {
        /// The called name.
        name: String,
        /// Parameters the definition has.
        expected: usize,
        /// Arguments the call passes.
        found: usize,
        /// The call.
        span: Span,
        /// The function whose body holds the call (`None`: the expression itself).
        within: Option<String>,
    },
    /// Functions that call each other in a cycle, e.g. `["f", "g", "f"]`.
    Recursion {
        /// The cycle, starting and ending with the same name.
        cycle: Vec<String>,
        /// The call in the expression that leads into the cycle.
        span: Span,
    },
    /// The expansion exceeds [`MAX_INLINE_SIZE`] nodes or [`MAX_DEPTH`] levels.
    TooLarge {
        /// The function whose expansion grew too large.
        name: String,
        /// The call being expanded.
        span: Span,
    },
}

impl InlineError {
    /// The span the error points at.
    pub fn span(&self) -> &Span {
        match self {
            InlineError::UnknownFunction { span, .. }
            | InlineError::WrongArity { span, .. }
            | InlineError::Recursion { span, .. }
            | InlineError::TooLarge { span, .. } => span,
        }
    }
}

impl fmt::Display for InlineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let within = |w: &Option<String>| {
            w.as_ref()
                .map(|w| format!(" in the body of `{w}`"))
                .unwrap_or_default()
        };
        match self {
            InlineError::UnknownFunction {
                name, within: w, ..
            } => {
                write!(f, "call of unknown function `{name}`{}", within(w))
            }
            InlineError::WrongArity {
                name,
                expected,
                found,
                within: w,
                ..
            } => {
                let s = if *expected == 1 { "" } else { "s" };
                write!(
                    f,
                    "`{name}` takes {expected} argument{s} but is called with {found}{}",
                    within(w)
                )
            }
            InlineError::Recursion { cycle, .. } => {
                write!(
                    f,
                    "recursive functions cannot be inlined: {}",
                    cycle.join(" -> ")
                )
            }
            InlineError::TooLarge { name, .. } => {
                write!(
                    f,
                    "inlining `{name}` produces an expression that is too large"
                )
            }
        }
    }
}

impl std::error::Error for InlineError {}

/// Replaces every user function call by the function's body with the arguments substituted
/// for its parameters, through any depth of nesting (functions may call functions).
///
/// Only functions reachable from `e` are examined; if `defs` names a function twice the first
/// definition wins. Nodes that come from a function body take the span of the call they
/// replace, so later diagnostics point at the call site. Fails on unknown functions, wrong
/// argument counts, recursion (direct or through other functions) and expansions beyond
/// [`MAX_INLINE_SIZE`] nodes or [`MAX_DEPTH`] levels; never loops.
pub fn inline_functions(e: &Expr, defs: &[FunctionDef]) -> Result<Expr, InlineError> {
    let mut by_name: HashMap<&str, &FunctionDef> = HashMap::new();
    for d in defs {
        by_name.entry(d.name.as_str()).or_insert(d);
    }
    // Check the expression's own calls, then order the reachable functions callees-first.
    let top_calls = call_sites(e);
    check_calls(&top_calls, &by_name, None)?;
    let order = callee_order(&top_calls, &by_name)?;
    let mut expanded: HashMap<&str, Expr> = HashMap::new();
    for name in order {
        let def = by_name[name];
        let body = expand(&def.body, &by_name, &expanded)?;
        expanded.insert(name, body);
    }
    let out = expand(e, &by_name, &expanded)?;
    if out.depth() > MAX_DEPTH {
        let (name, span) = top_calls
            .first()
            .map(|c| (c.name.clone(), c.span.clone()))
            .unwrap_or_default();
        return Err(InlineError::TooLarge { name, span });
    }
    Ok(out)
}

struct CallSite {
    name: String,
    args: usize,
    span: Span,
}

fn call_sites(e: &Expr) -> Vec<CallSite> {
    let mut out = Vec::new();
    e.walk(|n| {
        if let ExprKind::Call(Func::User(name), args) = &n.kind {
            out.push(CallSite {
                name: name.clone(),
                args: args.len(),
                span: n.span.clone(),
            });
        }
    });
    out
}

fn check_calls(
    calls: &[CallSite],
    defs: &HashMap<&str, &FunctionDef>,
    within: Option<&str>,
) -> Result<(), InlineError> {
    for c in calls {
        let within = within.map(str::to_owned);
        let Some(def) = defs.get(c.name.as_str()) else {
            return Err(InlineError::UnknownFunction {
                name: c.name.clone(),
                span: c.span.clone(),
                within,
            });
        };
        if def.params.len() != c.args {
            return Err(InlineError::WrongArity {
                name: c.name.clone(),
                expected: def.params.len(),
                found: c.args,
                span: c.span.clone(),
                within,
            });
        }
    }
    Ok(())
}

/// Depth-first search (iterative) over the functions reachable from `top`, checking their
/// bodies' calls and detecting cycles. Returns them callees first.
fn callee_order<'d>(
    top: &[CallSite],
    defs: &HashMap<&'d str, &'d FunctionDef>,
) -> Result<Vec<&'d str>, InlineError> {
    #[derive(PartialEq)]
    enum State {
        Active,
        Done,
    }
    let mut state: HashMap<&str, State> = HashMap::new();
    let mut order = Vec::new();
    for root in top {
        let Some((&root_name, _)) = defs.get_key_value(root.name.as_str()) else {
            continue;
        };
        if state.contains_key(root_name) {
            continue;
        }
        // Stack of (function, its callees, index of the next callee to visit).
        let mut stack: Vec<(&str, Vec<&str>, usize)> = Vec::new();
        let enter = |name: &'d str,
                     state: &mut HashMap<&'d str, State>|
         -> Result<Vec<&'d str>, InlineError> {
            state.insert(name, State::Active);
            let sites = call_sites(&defs[name].body);
            check_calls(&sites, defs, Some(name))?;
            Ok(sites
                .iter()
                .filter_map(|c| defs.get_key_value(c.name.as_str()).map(|(k, _)| *k))
                .collect())
        };
        let callees = enter(root_name, &mut state)?;
        stack.push((root_name, callees, 0));
        while let Some((name, callees, next)) = stack.last_mut() {
            let Some(&callee) = callees.get(*next) else {
                state.insert(*name, State::Done);
                order.push(*name);
                stack.pop();
                continue;
            };
            *next += 1;
            match state.get(callee) {
                Some(State::Done) => {}
                Some(State::Active) => {
                    let from = stack.iter().position(|(n, _, _)| *n == callee).unwrap_or(0);
                    let mut cycle: Vec<String> = stack[from..]
                        .iter()
                        .map(|(n, _, _)| (*n).to_owned())
                        .collect();
                    cycle.push(callee.to_owned());
                    return Err(InlineError::Recursion {
                        cycle,
                        span: root.span.clone(),
                    });
                }
                None => {
                    let callees = enter(callee, &mut state)?;
                    stack.push((callee, callees, 0));
                }
            }
        }
    }
    Ok(order)
}

/// Expands the user calls in `e`, given the already expanded bodies of every callee.
fn expand(
    e: &Expr,
    defs: &HashMap<&str, &FunctionDef>,
    expanded: &HashMap<&str, Expr>,
) -> Result<Expr, InlineError> {
    if let ExprKind::Call(Func::User(name), args) = &e.kind {
        let too_large = || InlineError::TooLarge {
            name: name.clone(),
            span: e.span.clone(),
        };
        let (Some(def), Some(body)) = (defs.get(name.as_str()), expanded.get(name.as_str())) else {
            // Unreachable after the checks in `inline_functions`; report rather than panic.
            return Err(InlineError::UnknownFunction {
                name: name.clone(),
                span: e.span.clone(),
                within: None,
            });
        };
        let mut values = Vec::with_capacity(args.len());
        for a in args {
            values.push(expand(a, defs, expanded)?);
        }
        // Predict the size before building: each use of a parameter copies its argument.
        let mut size = body.size();
        body.walk(|n| {
            if let ExprKind::Var(v) = &n.kind
                && let Some(i) = def.params.iter().position(|p| p == v)
            {
                size = size.saturating_add(values[i].size()).saturating_sub(1);
            }
        });
        if size > MAX_INLINE_SIZE {
            return Err(too_large());
        }
        let out = instantiate(body, &def.params, &values, &e.span);
        if out.depth() > MAX_DEPTH {
            return Err(too_large());
        }
        return Ok(out);
    }
    let mut err = None;
    let out = rebuild(e, e.span.clone(), |c| match expand(c, defs, expanded) {
        Ok(x) => x,
        Err(x) => {
            err.get_or_insert(x);
            Expr::num(0.0)
        }
    });
    match err {
        Some(x) => Err(x),
        None => Ok(out),
    }
}

/// Copies `body` with parameters replaced by arguments and every other node given `span`.
fn instantiate(body: &Expr, params: &[String], args: &[Expr], span: &Span) -> Expr {
    if let ExprKind::Var(v) = &body.kind
        && let Some(i) = params.iter().position(|p| p == v)
    {
        return args[i].clone();
    }
    rebuild(body, span.clone(), |c| instantiate(c, params, args, span))
}

// ---------------------------------------------------------------------------------------------
// Constant folding

/// Evaluates constant subtrees and applies rewrites that never change a value:
/// `x*1`, `1*x`, `x/1`, `x^1` → `x`; `x^0` → `1` (true even for NaN); `x+0`, `0+x`, `x-0` → `x`
/// (equal values; only the sign of a zero result can differ); `--x` → `x`; `~~c` → `c` and
/// `True & c`, `False | c` → `c` for boolean `c`; `False & c` → `False`, `True | c` → `True`;
/// Piecewise branches with a constant false condition are dropped, and a constant true
/// condition ends the Piecewise (or replaces it by its value when first).
///
/// Constant subtrees are evaluated exactly as [`eval`](crate::eval) would, except that a
/// result that is not finite is left unfolded; `random(...)` and user calls are never folded.
/// A lone `pi` or `E` stays symbolic.
pub fn fold_constants(e: &Expr) -> Expr {
    let span = e.span.clone();
    let with = |kind: ExprKind| Expr {
        kind,
        span: span.clone(),
    };
    match &e.kind {
        ExprKind::Num(_) | ExprKind::Bool(_) | ExprKind::Var(_) | ExprKind::Const(_) => e.clone(),
        ExprKind::Unary(op, a) => {
            let a = fold_constants(a);
            if let Some(v) = literal(&a) {
                return literal_result(unary(*op, v), *op == UnaryOp::Not, e.span.clone())
                    .unwrap_or_else(|| with(ExprKind::Unary(*op, Box::new(a))));
            }
            match (op, a.kind) {
                (UnaryOp::Neg, ExprKind::Unary(UnaryOp::Neg, inner)) => *inner,
                (UnaryOp::Not, ExprKind::Unary(UnaryOp::Not, inner)) if inner.is_boolean() => {
                    *inner
                }
                (op, kind) => with(ExprKind::Unary(*op, Box::new(Expr { kind, span: a.span }))),
            }
        }
        ExprKind::Binary(op, a, b) => {
            let (a, b) = (fold_constants(a), fold_constants(b));
            if let (Some(x), Some(y)) = (literal(&a), literal(&b)) {
                let is_bool = op.is_comparison() || op.is_logical();
                if let Some(r) = literal_result(apply_binary(*op, x, y), is_bool, e.span.clone()) {
                    return r;
                }
            }
            simplify_binary(*op, a, b, span)
        }
        ExprKind::Call(func, args) => {
            let args: Vec<Expr> = args.iter().map(fold_constants).collect();
            if !matches!(func, Func::Random | Func::User(_)) {
                let values: Option<Vec<f64>> = args.iter().map(literal).collect();
                if let Some(values) = values
                    && let Some(r) = literal_result(apply_func(func, &values), false, e.span.clone())
                {
                    return r;
                }
            }
            with(ExprKind::Call(func.clone(), args))
        }
        ExprKind::Piecewise(pieces) => {
            let mut kept = Vec::new();
            for (v, c) in pieces {
                let (v, c) = (fold_constants(v), fold_constants(c));
                match literal(&c).map(truthy) {
                    Some(false) => continue,
                    Some(true) => {
                        if kept.is_empty() {
                            return v;
                        }
                        kept.push((
                            v,
                            Expr {
                                kind: ExprKind::Bool(true),
                                span: c.span,
                            },
                        ));
                        break;
                    }
                    None => kept.push((v, c)),
                }
            }
            if kept.is_empty() {
                // No condition can hold: keep the (folded) original so the NaN stays visible.
                let pieces = pieces
                    .iter()
                    .map(|(v, c)| (fold_constants(v), fold_constants(c)))
                    .collect();
                return with(ExprKind::Piecewise(pieces));
            }
            with(ExprKind::Piecewise(kept))
        }
    }
}

/// The value of a literal node (numbers, booleans as 1/0, named constants).
fn literal(e: &Expr) -> Option<f64> {
    match e.kind {
        ExprKind::Num(v) => Some(v),
        ExprKind::Bool(b) => Some(if b { 1.0 } else { 0.0 }),
        ExprKind::Const(c) => Some(c.value()),
        _ => None,
    }
}

/// A literal node for a folded value, or `None` when the value is not finite.
fn literal_result(v: f64, is_bool: bool, span: Span) -> Option<Expr> {
    if is_bool {
        Some(Expr {
            kind: ExprKind::Bool(truthy(v)),
            span,
        })
    } else if v.is_finite() {
        Some(Expr {
            kind: ExprKind::Num(v),
            span,
        })
    } else {
        None
    }
}

fn is_num(e: &Expr, v: f64) -> bool {
    matches!(e.kind, ExprKind::Num(x) if x == v)
}

fn is_bool(e: &Expr, v: bool) -> bool {
    matches!(e.kind, ExprKind::Bool(x) if x == v)
}

fn simplify_binary(op: BinaryOp, a: Expr, b: Expr, span: Span) -> Expr {
    match op {
        BinaryOp::Mul if is_num(&a, 1.0) => return b,
        BinaryOp::Mul | BinaryOp::Div | BinaryOp::Pow if is_num(&b, 1.0) => return a,
        BinaryOp::Pow if is_num(&b, 0.0) => {
            return Expr {
                kind: ExprKind::Num(1.0),
                span,
            };
        }
        BinaryOp::Add if is_num(&a, 0.0) => return b,
        BinaryOp::Add | BinaryOp::Sub if is_num(&b, 0.0) => return a,
        BinaryOp::And if is_bool(&a, false) || is_bool(&b, false) => {
            return Expr {
                kind: ExprKind::Bool(false),
                span,
            };
        }
        BinaryOp::Or if is_bool(&a, true) || is_bool(&b, true) => {
            return Expr {
                kind: ExprKind::Bool(true),
                span,
            };
        }
        BinaryOp::And if is_bool(&a, true) && b.is_boolean() => return b,
        BinaryOp::And if is_bool(&b, true) && a.is_boolean() => return a,
        BinaryOp::Or if is_bool(&a, false) && b.is_boolean() => return b,
        BinaryOp::Or if is_bool(&b, false) && a.is_boolean() => return a,
        _ => {}
    }
    Expr {
        kind: ExprKind::Binary(op, Box::new(a), Box::new(b)),
        span,
    }
}
