//! What a model's names mean, and the checks that need to know it: undefined symbols, unknown
//! functions and wrong argument counts, cycles among derived quantities, bad event targets.

use crate::schema::*;
use crate::util::did_you_mean;
use myelin_diag::{Diagnostic, Diagnostics};
use myelin_expr::{Expr, ExprKind, Func, FunctionDef, InlineError};
use std::collections::{HashMap, HashSet};

/// What a model-level name denotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SymbolKind {
    Parameter,
    DerivedParameter,
    StateVariable,
    DerivedVariable,
    CouplingInput,
}

impl SymbolKind {
    fn describe(self) -> &'static str {
        match self {
            SymbolKind::Parameter => "a parameter",
            SymbolKind::DerivedParameter => "a derived parameter",
            SymbolKind::StateVariable => "a state variable",
            SymbolKind::DerivedVariable => "a derived variable",
            SymbolKind::CouplingInput => "a coupling input",
        }
    }
}

/// The model's names. Coupling inputs that repeat another name add nothing (TVBO flags a
/// parameter or state variable as a coupling input that way).
pub(crate) struct Symbols {
    pub(crate) kinds: HashMap<String, SymbolKind>,
    pub(crate) functions: HashMap<String, usize>,
}

impl Symbols {
    pub(crate) fn new(d: &Dynamics) -> Self {
        let mut kinds = HashMap::new();
        let groups: [(SymbolKind, Vec<&At<String>>); 4] = [
            (
                SymbolKind::Parameter,
                d.parameters.iter().map(|p| &p.name).collect(),
            ),
            (
                SymbolKind::DerivedParameter,
                d.derived_parameters.iter().map(|p| &p.name).collect(),
            ),
            (
                SymbolKind::StateVariable,
                d.state_variables.iter().map(|p| &p.name).collect(),
            ),
            (
                SymbolKind::DerivedVariable,
                d.derived_variables.iter().map(|p| &p.name).collect(),
            ),
        ];
        // A later kind shadows an earlier one, as in TVBO's generated code (parameters are
        // bound first, then states, then derived variables in order).
        for (kind, names) in groups {
            for n in names {
                kinds.insert(n.value.clone(), kind);
            }
        }
        for c in &d.coupling_inputs {
            for n in c.symbols() {
                kinds
                    .entry(n.value.clone())
                    .or_insert(SymbolKind::CouplingInput);
            }
        }
        let functions = d
            .functions
            .iter()
            .map(|f| (f.name.value.clone(), f.arguments.len()))
            .collect();
        Symbols { kinds, functions }
    }

    pub(crate) fn is_symbol(&self, name: &str) -> bool {
        self.kinds.contains_key(name)
    }

    /// Whether `t` denotes simulation time here (it does unless the model declares a `t`).
    pub(crate) fn time_is_free(&self) -> bool {
        !self.kinds.contains_key("t")
    }
}

/// An equation's parse as the model means it: `E` and `pi` are the model's symbols when it
/// declares them, and a call of a built-in name that the model redefines (`H(x)` in models
/// with a function `H`) is a call of the model's function.
pub(crate) fn prepare(eq: &Equation, syms: &Symbols) -> Option<Expr> {
    let parsed = eq.parsed.as_ref()?;
    let e = myelin_expr::shadow_constants(parsed, &|n| syms.is_symbol(n));
    Some(shadow_builtins(&e, &eq.text, &syms.functions))
}

/// Like [`prepare`], with the function's arguments as symbols too.
fn prepare_body(eq: &Equation, syms: &Symbols, args: &[At<String>]) -> Option<Expr> {
    let parsed = eq.parsed.as_ref()?;
    let e = myelin_expr::shadow_constants(parsed, &|n| {
        syms.is_symbol(n) || args.iter().any(|a| a.value == n)
    });
    Some(shadow_builtins(&e, &eq.text, &syms.functions))
}

fn shadow_builtins(e: &Expr, text: &str, user: &HashMap<String, usize>) -> Expr {
    let kind = match &e.kind {
        ExprKind::Call(f, args) => {
            let args: Vec<Expr> = args
                .iter()
                .map(|a| shadow_builtins(a, text, user))
                .collect();
            let written: String = text
                .get(e.span.start as usize..)
                .unwrap_or("")
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let func = match f {
                Func::User(_) => f.clone(),
                _ if user.contains_key(&written) => Func::User(written),
                _ => f.clone(),
            };
            ExprKind::Call(func, args)
        }
        ExprKind::Unary(op, a) => ExprKind::Unary(*op, Box::new(shadow_builtins(a, text, user))),
        ExprKind::Binary(op, a, b) => ExprKind::Binary(
            *op,
            Box::new(shadow_builtins(a, text, user)),
            Box::new(shadow_builtins(b, text, user)),
        ),
        ExprKind::Piecewise(p) => ExprKind::Piecewise(
            p.iter()
                .map(|(v, c)| {
                    (
                        shadow_builtins(v, text, user),
                        shadow_builtins(c, text, user),
                    )
                })
                .collect(),
        ),
        k => k.clone(),
    };
    Expr {
        kind,
        span: e.span.clone(),
    }
}

/// TVBO's own functions for multi-mode models (`mode_dot(x, A)`, `mode_sum(x)`), which are not
/// SymPy built-ins, and their argument counts.
pub(crate) fn tvbo_builtin(name: &str) -> Option<usize> {
    match name {
        "mode_dot" => Some(2),
        "mode_sum" => Some(1),
        _ => None,
    }
}

/// The model's functions as definitions for [`myelin_expr::inline_functions`].
pub(crate) fn function_defs(d: &Dynamics, syms: &Symbols) -> Vec<FunctionDef> {
    d.functions
        .iter()
        .filter_map(|f| {
            let body = prepare_body(f.equation.as_ref()?, syms, &f.arguments)?;
            Some(FunctionDef {
                name: f.name.value.clone(),
                params: f.arguments.iter().map(|a| a.value.clone()).collect(),
                body,
            })
        })
        .collect()
}

/// Checks the model's names and references; reports into `diags`.
pub(crate) fn check(d: &Dynamics, diags: &mut Diagnostics) {
    let syms = Symbols::new(d);
    // One name, one meaning.
    let mut first: HashMap<&str, SymbolKind> = HashMap::new();
    let named = d
        .parameters
        .iter()
        .map(|p| (&p.name, SymbolKind::Parameter))
        .chain(
            d.derived_parameters
                .iter()
                .map(|p| (&p.name, SymbolKind::DerivedParameter)),
        )
        .chain(
            d.state_variables
                .iter()
                .map(|p| (&p.name, SymbolKind::StateVariable)),
        )
        .chain(
            d.derived_variables
                .iter()
                .map(|p| (&p.name, SymbolKind::DerivedVariable)),
        );
    for (name, kind) in named {
        match first.get(name.value.as_str()) {
            // A parameter redefined by an equation: the equation's value is used (TVBO binds
            // parameters first and derived quantities after them).
            Some(k @ (SymbolKind::Parameter | SymbolKind::DerivedParameter)) if *k != kind => diags
                .push(
                    Diagnostic::warning(
                        "shadowed-parameter",
                        format!(
                            "`{}` is defined as {} and again as {}; the latter is used",
                            name.value,
                            k.describe(),
                            kind.describe()
                        ),
                    )
                    .at(name.span),
                ),
            Some(k) => diags.push(
                Diagnostic::error(
                    "duplicate-definition",
                    format!(
                        "`{}` is defined as {} and again as {}",
                        name.value,
                        k.describe(),
                        kind.describe()
                    ),
                )
                .at(name.span),
            ),
            None => {
                first.insert(&name.value, kind);
            }
        }
    }
    let candidates: Vec<&str> = syms.kinds.keys().map(String::as_str).collect();
    let check_expr =
        |diags: &mut Diagnostics, eq: &Equation, e: &Expr, extra: &[At<String>], what: &str| {
            let mut reported: HashSet<String> = HashSet::new();
            e.walk(|n| match &n.kind {
                ExprKind::Var(v) => {
                    let known = syms.is_symbol(v)
                        || extra.iter().any(|a| &a.value == v)
                        || (v == "t" && syms.time_is_free());
                    if !known && reported.insert(v.clone()) {
                        let mut dg = Diagnostic::error(
                            "undefined-symbol",
                            format!("`{v}` is not defined in {what}"),
                        )
                        .at(eq.span_of(&n.span));
                        let cands = candidates
                            .iter()
                            .copied()
                            .chain(extra.iter().map(|a| a.value.as_str()));
                        if let Some(h) = did_you_mean(v, cands) {
                            dg = dg.with_note(h);
                        }
                        diags.push(dg);
                    }
                }
                ExprKind::Call(Func::User(f), args) => {
                    match syms.functions.get(f).copied().or_else(|| tvbo_builtin(f)) {
                        None => {
                            let mut dg = Diagnostic::error(
                                "unknown-function",
                                format!("unknown function `{f}`"),
                            )
                            .at(eq.span_of(&n.span));
                            if let Some(h) =
                                did_you_mean(f, syms.functions.keys().map(String::as_str))
                            {
                                dg = dg.with_note(h);
                            }
                            diags.push(dg);
                        }
                        Some(k) if k != args.len() => {
                            let s = if k == 1 { "" } else { "s" };
                            diags.push(
                                Diagnostic::error(
                                    "wrong-arity",
                                    format!(
                                        "`{f}` takes {k} argument{s} but is called with {}",
                                        args.len()
                                    ),
                                )
                                .at(eq.span_of(&n.span)),
                            );
                        }
                        Some(_) => {}
                    }
                }
                _ => {}
            });
        };
    let model = format!("model `{}`", d.name.value);
    let each = |eq: Option<&Equation>, diags: &mut Diagnostics| {
        if let Some(eq) = eq
            && let Some(e) = prepare(eq, &syms)
        {
            check_expr(diags, eq, &e, &[], &model);
        }
    };
    for p in &d.derived_parameters {
        each(p.equation.as_ref(), diags);
    }
    for s in &d.state_variables {
        each(s.equation.as_ref(), diags);
    }
    for v in &d.derived_variables {
        each(v.equation.as_ref(), diags);
    }
    for ev in &d.events {
        each(ev.condition.as_ref(), diags);
        for a in &ev.assignments {
            each(Some(&a.value), diags);
        }
    }
    for f in &d.functions {
        if let Some(eq) = &f.equation
            && let Some(e) = prepare_body(eq, &syms, &f.arguments)
        {
            check_expr(
                diags,
                eq,
                &e,
                &f.arguments,
                &format!("function `{}`", f.name.value),
            );
        }
    }
    // Recursion among functions.
    let defs = function_defs(d, &syms);
    for f in &d.functions {
        let call = Expr::call(
            Func::User(f.name.value.clone()),
            f.arguments.iter().map(|a| Expr::var(&a.value)).collect(),
        );
        if let Err(InlineError::Recursion { cycle, .. }) =
            myelin_expr::inline_functions(&call, &defs)
            && cycle.first() == Some(&f.name.value)
        {
            diags.push(
                Diagnostic::error(
                    "recursion",
                    format!(
                        "function `{}` calls itself: {}",
                        f.name.value,
                        cycle.join(" -> ")
                    ),
                )
                .at(f.name.span),
            );
        }
    }
    // Event targets.
    for ev in &d.events {
        for a in &ev.assignments {
            match syms.kinds.get(&a.target.value) {
                Some(SymbolKind::StateVariable | SymbolKind::Parameter) => {}
                Some(k) => diags.push(
                    Diagnostic::error(
                        "bad-assignment",
                        format!(
                            "event `{}` assigns to `{}`, which is {}",
                            ev.name.value,
                            a.target.value,
                            k.describe()
                        ),
                    )
                    .at(a.target.span)
                    .with_note("an event may set state variables (and parameters)"),
                ),
                None => {
                    let mut dg = Diagnostic::error(
                        "undefined-symbol",
                        format!(
                            "event `{}` assigns to undefined `{}`",
                            ev.name.value, a.target.value
                        ),
                    )
                    .at(a.target.span);
                    if let Some(h) = did_you_mean(
                        &a.target.value,
                        d.state_variables.iter().map(|s| s.name.value.as_str()),
                    ) {
                        dg = dg.with_note(h);
                    }
                    diags.push(dg);
                }
            }
        }
    }
    for o in &d.output {
        match syms.kinds.get(&o.value) {
            Some(SymbolKind::StateVariable | SymbolKind::DerivedVariable) => {}
            _ => diags.push(
                Diagnostic::error(
                    "undefined-symbol",
                    format!(
                        "`output` names `{}`, which is not a state or derived variable",
                        o.value
                    ),
                )
                .at(o.span),
            ),
        }
    }
    // Cycles among derived variables and among derived parameters.
    cycles(
        d.derived_variables
            .iter()
            .map(|v| (&v.name, v.equation.as_ref()))
            .collect(),
        &syms,
        "derived variable",
        diags,
    );
    cycles(
        d.derived_parameters
            .iter()
            .map(|v| (&v.name, v.equation.as_ref()))
            .collect(),
        &syms,
        "derived parameter",
        diags,
    );
}

/// Reports each derived quantity that depends on itself.
fn cycles(
    items: Vec<(&At<String>, Option<&Equation>)>,
    syms: &Symbols,
    what: &str,
    diags: &mut Diagnostics,
) {
    let deps: HashMap<&str, Vec<String>> = items
        .iter()
        .map(|(n, eq)| {
            let vars = eq
                .and_then(|eq| prepare(eq, syms))
                .map(|e| e.free_vars())
                .unwrap_or_default();
            (n.value.as_str(), vars)
        })
        .collect();
    for (name, _) in &items {
        // Depth-first search from `name` for a path back to it.
        let mut stack: Vec<(&str, Vec<String>)> =
            vec![(name.value.as_str(), vec![name.value.clone()])];
        let mut seen: HashSet<&str> = HashSet::new();
        let mut found: Option<Vec<String>> = None;
        while let Some((cur, path)) = stack.pop() {
            for next in deps.get(cur).into_iter().flatten() {
                if next == &name.value {
                    let mut p = path.clone();
                    p.push(next.clone());
                    found = Some(p);
                    break;
                }
                if let Some((k, _)) = deps.get_key_value(next.as_str())
                    && seen.insert(k)
                {
                    let mut p = path.clone();
                    p.push(next.clone());
                    stack.push((k, p));
                }
            }
            if found.is_some() {
                break;
            }
        }
        if let Some(path) = found {
            diags.push(
                Diagnostic::error(
                    "cycle",
                    format!(
                        "{what} `{}` depends on itself: {}",
                        name.value,
                        path.join(" -> ")
                    ),
                )
                .at(name.span),
            );
        }
    }
}
