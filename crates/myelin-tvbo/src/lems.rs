//! TVBO experiment → LEMS model IR.
//!
//! The layout follows TVBO's "LEMS Export" guide: a `<Target>`; inline `Dimension`s and `Unit`s;
//! inline `Simulation`, `OutputFile` and `OutputColumn` component types (no includes); one
//! component type per model with, in order, its parameters, its coupling inputs (parameters set
//! to 0), `<sv>_0` initial-value parameters, a time constant `SEC`, one exposure per state
//! variable, and dynamics (state variables, derived and conditional derived variables, time
//! derivatives `(rhs) / SEC`, `OnStart` setting the initial values, `OnCondition`s for events);
//! an instance with the model's values; and a `Simulation` that writes every state variable to
//! `results/<Model>.dat`.
//!
//! **Dimensions.** TVBO annotates units on some symbols only, and its equations are written for
//! numbers in model units (ms, mV), not for dimensional consistency. Every quantity is therefore
//! dimensionless, values are written in model units, and each rate is divided by `SEC`, one unit
//! of the experiment's `time_scale` (1 ms by default); time `t` in an equation becomes `t / SEC`.
//! jLEMS's dimension check then passes for every model, and the numbers are those of the YAML.
//!
//! **Expressions.** User functions are inlined (nested calls included), derived parameters are
//! substituted, `pi` and `E` are written as numbers. Functions jLEMS lacks are rewritten exactly:
//! `sign(x)` → `H(x) - H(-x)`, `floor(x)` → `-ceil(-x)`, `Mod(a, b)` → `a + b*ceil(-(a/b))`,
//! `asinh`/`acosh`/`atanh` → logarithms, `Min`/`Max`/`Heaviside(x, h0)` → conditional variables.
//! `atan`, `atan2`, `asin`, `acos`, `erf`, `erfc` and `factorial` have no exact rewrite and are
//! refused with an error naming the function and the model.
//!
//! **Conditionals.** A derived variable whose right-hand side is a `Piecewise` becomes a
//! `ConditionalDerivedVariable` with one `Case` per piece; a `Piecewise` anywhere else becomes an
//! extra conditional variable. Case conditions are made mutually exclusive (each case's
//! condition includes the negation of the earlier ones), so the result does not depend on the
//! order in which a LEMS engine tries them; a final `True` piece becomes the default case.
//! jLEMS cannot check a `DerivedVariable` that reads a conditional one, so such variables are
//! written as conditional variables with a single default case, and all derived variables are
//! written in dependency order.
//!
//! **Events** become `OnCondition`s with one `StateAssignment` per assignment of the `affect`
//! (in order, later ones seeing earlier ones, as in LEMS) and an `EventOut` on a port named after
//! the event. A state variable with `domain: {enforce: clamp}` is clamped after every step by
//! `OnCondition`s (`wrap` wraps it into `[lo, hi)`), as TVB does.

use crate::schema::{self as tvbo, At, Enforce, Equation, Experiment, defaults};
use crate::sema::{self, Symbols};
use crate::util::{format_f64, is_identifier};
use myelin_diag::{Diagnostic, Diagnostics, FileId, Span};
use myelin_expr::{BinaryOp, Expr, ExprKind, Func, FunctionDef, UnaryOp};
use myelin_ir::*;
use std::collections::{HashMap, HashSet};

/// A time given on the command line: a value and a time unit (`s`, `ms` or `us`).
#[derive(Clone, Debug, PartialEq)]
pub struct TimeValue {
    pub value: f64,
    pub unit: String,
}

/// How the exported model is laid out in files.
#[derive(Clone, Debug, Default)]
pub enum Layout {
    /// One self-contained document: the simulation targets the model's instance.
    #[default]
    Monolithic,
    /// Three documents chained by `<Include>`: dynamics (dimensions, units, component types,
    /// the default instance), network (a network with a population of the instance; includes
    /// the dynamics file), simulation (the simulation and its outputs; includes the network).
    /// The file ids tag each item with its document; the names are the include paths.
    Split {
        files: [FileId; 3],
        names: [String; 3],
    },
}

/// What [`to_lems`] may change from the experiment's own settings.
#[derive(Clone, Debug, Default)]
pub struct ExportOptions {
    /// Simulated time (default: the experiment's `duration`, else TVBO's 1000 ms).
    pub duration: Option<TimeValue>,
    /// Time step (default: the experiment's `step_size`, else TVBO's 0.01220703125 ms).
    pub dt: Option<TimeValue>,
    pub layout: Layout,
}

/// Names the export gives to what it writes, for callers that need them.
#[derive(Clone, Debug)]
pub struct Names {
    /// The model's component type.
    pub component_type: String,
    /// The model's instance.
    pub instance: String,
    /// The simulation component.
    pub simulation: String,
    /// The output file, relative to the LEMS file (`results/<Model>.dat`).
    pub output_file: String,
    /// The recorded state variables, as the columns after time, in order (LEMS names).
    pub columns: Vec<String>,
}

/// Converts an experiment to a LEMS model. Returns `None` (with errors in `diags`) when the
/// experiment cannot be exported; warnings say what LEMS cannot represent but was left out
/// (noise, a non-Euler integration method).
pub fn to_lems(
    exp: &Experiment,
    opts: &ExportOptions,
    diags: &mut Diagnostics,
) -> Option<(Model, Names)> {
    let mut c = Conv::new(exp, diags);
    c.refusals();
    if c.diags.error_count() > c.start_errors {
        return None;
    }
    let out = c.build(opts);
    if c.diags.error_count() > c.start_errors {
        return None;
    }
    out
}

/// Names that jLEMS reads as something else in an expression.
const LEMS_RESERVED: &[&str] = &[
    "t",
    "sin",
    "cos",
    "tan",
    "sinh",
    "cosh",
    "tanh",
    "exp",
    "log",
    "ln",
    "sqrt",
    "ceil",
    "abs",
    "random",
    "H",
    "factorial",
];

/// Component type names the export defines itself or that LEMS uses as element names.
const RESERVED_TYPES: &[&str] = &[
    "Simulation",
    "OutputFile",
    "OutputColumn",
    "Network",
    "Population",
    "Component",
    "ComponentType",
    "Dynamics",
    "Lems",
    "Include",
    "Target",
    "Dimension",
    "Unit",
    "Constant",
    "Parameter",
    "Exposure",
    "Structure",
    "Coupling",
    "CouplingEdge",
];

/// The ComponentType name a model is exported under (and the `results/<name>.dat` its run
/// writes): the model's name with characters LEMS names cannot hold replaced by `_`, prefixed
/// when it would start with a digit, suffixed when it would clash with a type the export
/// defines itself.
pub(crate) fn component_type_name(model: &str) -> String {
    let mut name: String = model.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name = format!("M_{name}");
    }
    if RESERVED_TYPES.contains(&name.as_str()) {
        name.push_str("_model");
    }
    name
}

/// An event after lowering: its test, its assignments `(target, value, span)`, its port, and
/// its span.
type LoweredEvent = (Expr, Vec<(String, Expr, Span)>, String, Span);

/// One derived variable of the output, plain or conditional.
struct Dv {
    name: String,
    body: DvBody,
    span: Span,
}

enum DvBody {
    Plain(Expr),
    /// `(condition, value)`; `None` is the default case.
    Cases(Vec<(Option<Expr>, Expr)>),
}

struct Conv<'a> {
    exp: &'a Experiment,
    d: &'a tvbo::Dynamics,
    syms: Symbols,
    defs: Vec<FunctionDef>,
    /// Derived parameters, resolved to expressions over parameters (TVBO names).
    derived: HashMap<String, Expr>,
    /// TVBO name → LEMS name, for names that must change.
    rename: HashMap<String, String>,
    /// Every name in use in the component type.
    taken: HashSet<String>,
    sec: String,
    type_name: String,
    dvs: Vec<Dv>,
    /// The coupled network, when the experiment has one with more than one node.
    net: Option<NetPlan>,
    /// Errors already reported when the conversion started (the reader's).
    start_errors: usize,
    diags: &'a mut Diagnostics,
}

impl<'a> Conv<'a> {
    fn new(exp: &'a Experiment, diags: &'a mut Diagnostics) -> Self {
        let d = &exp.dynamics;
        let syms = Symbols::new(d);
        let defs = sema::function_defs(d, &syms);
        let mut taken: HashSet<String> = syms.kinds.keys().cloned().collect();
        taken.insert("t".into());
        let mut rename = HashMap::new();
        let mut names: Vec<&String> = syms.kinds.keys().collect();
        names.sort();
        for n in names {
            if LEMS_RESERVED.contains(&n.as_str()) || !is_identifier(n) {
                let base: String = n
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '_' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                let base = if base.starts_with(|c: char| c.is_ascii_digit()) {
                    format!("v_{base}")
                } else {
                    base
                };
                let new = fresh(&mut taken, &format!("{base}_v"));
                rename.insert(n.clone(), new);
            }
        }
        let sec = fresh(&mut taken, "SEC");
        let type_name = component_type_name(&d.name.value);
        let start_errors = diags.error_count();
        Conv {
            exp,
            d,
            syms,
            defs,
            derived: HashMap::new(),
            rename,
            taken,
            sec,
            type_name,
            dvs: vec![],
            net: None,
            start_errors,
            diags,
        }
    }

    fn model(&self) -> String {
        format!("model `{}`", self.d.name.value)
    }

    fn error(&mut self, code: &'static str, message: String, span: Span) {
        self.diags.push(Diagnostic::error(code, message).at(span));
    }

    fn lems_name(&self, tvbo: &str) -> String {
        self.rename
            .get(tvbo)
            .cloned()
            .unwrap_or_else(|| tvbo.to_string())
    }

    /// What the LEMS export cannot do at all, reported before anything is built.
    fn refusals(&mut self) {
        let d = self.d;
        let model = self.model();
        let refuse = "export-refused";
        if let Some(span) = d.components {
            self.error(
                refuse,
                format!("{model} is a tree of native NeuroML components (`components:`), which the LEMS export does not convert; only models written as equations are exported"),
                span,
            );
            return;
        }
        if d.state_variables.is_empty() {
            self.error(
                refuse,
                format!("{model} has no state variables: nothing to simulate"),
                d.name.span,
            );
        }
        if let Some(st) = &d.system_type
            && st.value == "discrete"
        {
            self.error(refuse, format!("{model} is a discrete map (`system_type: discrete`); LEMS simulates differential equations"), st.span);
        }
        let arrays: Vec<&tvbo::Parameter> =
            d.parameters.iter().filter(|p| p.array.is_some()).collect();
        if let Some(first) = arrays.first() {
            let mut dg = Diagnostic::error(
                refuse,
                format!("parameter `{}` of {model} is an array (a multi-mode model); LEMS parameters are scalars", first.name.value),
            )
            .at(first.array.unwrap_or(first.name.span));
            if arrays.len() > 1 {
                let others: Vec<&str> = arrays[1..].iter().map(|p| p.name.value.as_str()).collect();
                dg = dg.with_note(format!("so are {}", others.join(", ")));
            }
            self.diags.push(dg);
        }
        for p in &d.parameters {
            if p.array.is_some() {
            } else if p.value.is_none() {
                self.error(
                    refuse,
                    format!("parameter `{}` of {model} has no value", p.name.value),
                    p.name.span,
                );
            } else if let Some(v) = &p.value
                && !v.value.is_finite()
            {
                self.error(
                    refuse,
                    format!(
                        "parameter `{}` of {model} is not a finite number",
                        p.name.value
                    ),
                    v.span,
                );
            }
        }
        for s in &d.state_variables {
            if s.equation.is_none() {
                self.error(
                    refuse,
                    format!(
                        "state variable `{}` of {model} has no equation",
                        s.name.value
                    ),
                    s.name.span,
                );
            }
            if let Some(v) = &s.initial_value
                && !v.value.is_finite()
            {
                self.error(
                    refuse,
                    format!(
                        "the initial value of `{}` is not a finite number",
                        s.name.value
                    ),
                    v.span,
                );
            }
        }
        for ev in &d.events {
            for a in &ev.assignments {
                if self.syms.kinds.get(&a.target.value) == Some(&sema::SymbolKind::Parameter) {
                    self.error(
                        refuse,
                        format!("event `{}` of {model} assigns to parameter `{}`; LEMS parameters cannot change during a run", ev.name.value, a.target.value),
                        a.target.span,
                    );
                }
            }
        }
        self.plan_network();
        // Functions without an exact rewrite, reported where they are written.
        let mut eqs: Vec<&Equation> = Vec::new();
        eqs.extend(
            d.derived_parameters
                .iter()
                .filter_map(|p| p.equation.as_ref()),
        );
        eqs.extend(d.state_variables.iter().filter_map(|p| p.equation.as_ref()));
        eqs.extend(
            d.derived_variables
                .iter()
                .filter_map(|p| p.equation.as_ref()),
        );
        eqs.extend(d.functions.iter().filter_map(|p| p.equation.as_ref()));
        for ev in &d.events {
            eqs.extend(ev.condition.as_ref());
            eqs.extend(ev.assignments.iter().map(|a| &a.value));
        }
        for eq in eqs {
            let Some(e) = &eq.parsed else { continue };
            let mut found: Vec<(String, Span)> = Vec::new();
            let mut modes: Vec<(String, Span)> = Vec::new();
            e.walk(|n| {
                if let ExprKind::Call(f, args) = &n.kind {
                    let bad = match f {
                        Func::Atan
                        | Func::Atan2
                        | Func::Asin
                        | Func::Acos
                        | Func::Erf
                        | Func::Erfc => true,
                        Func::Factorial => !args.iter().all(|a| matches!(a.kind, ExprKind::Num(_))),
                        _ => false,
                    };
                    let user = matches!(f, Func::User(_))
                        || self.syms.functions.contains_key(f.sympy_name());
                    if bad && !user {
                        found.push((f.sympy_name().to_string(), eq.span_of(&n.span)));
                    }
                    if let Func::User(name) = f
                        && !self.syms.functions.contains_key(name)
                        && sema::tvbo_builtin(name).is_some()
                    {
                        modes.push((name.clone(), eq.span_of(&n.span)));
                    }
                }
            });
            found.dedup();
            modes.dedup();
            for (name, span) in modes {
                self.diags.push(
                    Diagnostic::error(
                        "export-refused",
                        format!("{model} uses `{name}`, an operation across the modes of a multi-mode model; LEMS variables are scalars"),
                    )
                    .at(span),
                );
            }
            for (name, span) in found {
                self.diags.push(
                    Diagnostic::error(
                        "unsupported-function",
                        format!("{model} uses `{name}`, which jLEMS does not provide and which has no exact rewrite in jLEMS's functions"),
                    )
                    .at(span)
                    .with_note("jLEMS knows sin cos tan sinh cosh tanh exp log sqrt ceil abs H random; the model cannot be exported to LEMS"),
                );
            }
        }
    }

    /// The expression pipeline up to lowering: inline functions, substitute derived parameters
    /// and time, rename, fold constants.
    fn expr(&mut self, eq: &Equation) -> Option<Expr> {
        let e = sema::prepare(eq, &self.syms)?;
        let e = match myelin_expr::inline_functions(&e, &self.defs) {
            Ok(e) => e,
            Err(err) => {
                let span = eq.span_of(err.span());
                self.error("inline-failed", format!("{err}"), span);
                return None;
            }
        };
        Some(self.finish(&e))
    }

    fn finish(&self, e: &Expr) -> Expr {
        let e = myelin_expr::substitute(e, &|v| self.derived.get(v).cloned());
        let e = if self.syms.time_is_free() {
            let sec = self.sec.clone();
            myelin_expr::substitute(&e, &|v| {
                (v == "t").then(|| Expr::binary(BinaryOp::Div, Expr::var("t"), Expr::var(&sec)))
            })
        } else {
            e
        };
        let e = myelin_expr::substitute(&e, &|v| self.rename.get(v).map(|n| Expr::var(n)));
        myelin_expr::fold_constants(&e)
    }

    /// Resolves derived parameters in dependency order (each may use earlier ones).
    fn resolve_derived_parameters(&mut self) {
        let d = self.d;
        let mut pending: Vec<&tvbo::DerivedParameter> = d.derived_parameters.iter().collect();
        let names: HashSet<&str> = pending.iter().map(|p| p.name.value.as_str()).collect();
        let mut raw: HashMap<String, Expr> = HashMap::new();
        for p in &pending {
            let Some(eq) = &p.equation else { continue };
            let Some(e) = sema::prepare(eq, &self.syms) else {
                continue;
            };
            match myelin_expr::inline_functions(&e, &self.defs) {
                Ok(e) => {
                    raw.insert(p.name.value.clone(), e);
                }
                Err(err) => {
                    let span = eq.span_of(err.span());
                    self.error("inline-failed", format!("{err}"), span);
                }
            }
        }
        // Substitute in rounds until nothing refers to another derived parameter.
        let mut done: HashMap<String, Expr> = HashMap::new();
        while !pending.is_empty() {
            let before = pending.len();
            pending.retain(|p| {
                let Some(e) = raw.get(&p.name.value) else {
                    return false;
                };
                let ready = e
                    .free_vars()
                    .iter()
                    .all(|v| !names.contains(v.as_str()) || done.contains_key(v));
                if ready {
                    let r = myelin_expr::substitute(e, &|v| done.get(v).cloned());
                    done.insert(p.name.value.clone(), r);
                }
                !ready
            });
            if pending.len() == before {
                break; // a cycle; reported by the checker
            }
        }
        self.derived = done;
    }

    /// The noise to add, when the experiment asks for any: sqrt(dt) in model time units and
    /// each state variable's intensity (see [`noise_intensities`]).
    fn noise_sigmas(&mut self, opts: &ExportOptions) -> Option<Option<(f64, Vec<Option<f64>>)>> {
        let exp = self.exp;
        let sigmas = noise_intensities(exp, self.d, self.diags)?;
        if sigmas.iter().all(Option::is_none) {
            return Some(None);
        }
        // The step in model time units: `--dt` (any time unit) or the experiment's step_size.
        let scale_of = |u: &str| crate::schema::TIME_SCALES.iter().find(|(n, _)| *n == u).map(|(_, f)| *f);
        let model_unit = exp.integration.time_scale.as_ref().map_or(defaults::TIME_SCALE, |t| t.value.as_str());
        let model_scale = scale_of(model_unit).unwrap_or(1e-3);
        let dt = match &opts.dt {
            Some(t) => t.value * scale_of(&t.unit).unwrap_or(model_scale) / model_scale,
            None => exp.integration.step_size.as_ref().map_or(defaults::STEP_SIZE, |x| x.value),
        };
        Some(Some((dt.sqrt(), sigmas)))
    }

    fn fresh(&mut self, base: &str) -> String {
        fresh(&mut self.taken, base)
    }

    /// Rewrites what jLEMS cannot read: Piecewise and Min/Max become conditional variables
    /// named after `hint`; the other functions jLEMS lacks are rewritten in its own.
    fn lower(&mut self, e: &Expr, hint: &str, span: Span) -> Expr {
        let kind = match &e.kind {
            ExprKind::Num(_) | ExprKind::Bool(_) | ExprKind::Var(_) | ExprKind::Const(_) => {
                return e.clone();
            }
            ExprKind::Unary(UnaryOp::Neg, a) => {
                ExprKind::Unary(UnaryOp::Neg, Box::new(self.lower(a, hint, span)))
            }
            ExprKind::Unary(UnaryOp::Not, a) => {
                let a = self.lower(a, hint, span);
                return negate(&a);
            }
            ExprKind::Binary(op, a, b) => {
                let a = self.lower(a, hint, span);
                let b = self.lower(b, hint, span);
                ExprKind::Binary(*op, Box::new(a), Box::new(b))
            }
            ExprKind::Piecewise(pieces) => {
                let mut cases = Vec::new();
                for (v, c) in pieces {
                    let v = self.lower(v, hint, span);
                    let c = self.lower(c, hint, span);
                    cases.push((c, v));
                }
                return self.lift(hint, cases, span);
            }
            ExprKind::Call(f, args) => {
                let args: Vec<Expr> = args.iter().map(|a| self.lower(a, hint, span)).collect();
                return self.lower_call(f, args, hint, span);
            }
        };
        Expr {
            kind,
            span: e.span.clone(),
        }
    }

    fn lower_call(&mut self, f: &Func, mut args: Vec<Expr>, hint: &str, span: Span) -> Expr {
        use BinaryOp as B;
        let call = |f: Func, a: Vec<Expr>| Expr::call(f, a);
        let num = Expr::num;
        let neg = |x: Expr| Expr::unary(UnaryOp::Neg, x);
        match f {
            Func::Min | Func::Max => {
                let op = if *f == Func::Min { B::Le } else { B::Ge };
                let mut acc = args.remove(0);
                for x in args {
                    let cond = Expr::binary(op, acc.clone(), x.clone());
                    acc = self.lift(
                        hint,
                        vec![(cond, acc), (Expr::synth(ExprKind::Bool(true)), x)],
                        span,
                    );
                }
                acc
            }
            Func::Sign => {
                let x = args.remove(0);
                Expr::binary(
                    B::Sub,
                    call(Func::Heaviside, vec![x.clone()]),
                    call(Func::Heaviside, vec![neg(x)]),
                )
            }
            Func::Floor => neg(call(Func::Ceil, vec![neg(args.remove(0))])),
            Func::Mod => {
                let (a, b) = (args.remove(0), args.remove(0));
                let q = neg(Expr::binary(B::Div, a.clone(), b.clone()));
                Expr::binary(
                    B::Add,
                    a,
                    Expr::binary(B::Mul, b, call(Func::Ceil, vec![q])),
                )
            }
            Func::Heaviside if args.len() == 2 => {
                let (x, h0) = (args.remove(0), args.remove(0));
                let cases = vec![
                    (Expr::binary(B::Lt, x.clone(), num(0.0)), num(0.0)),
                    (Expr::binary(B::Eq, x, num(0.0)), h0),
                    (Expr::synth(ExprKind::Bool(true)), num(1.0)),
                ];
                self.lift(hint, cases, span)
            }
            Func::Asinh => {
                let x = args.remove(0);
                let r = call(
                    Func::Sqrt,
                    vec![Expr::binary(
                        B::Add,
                        Expr::binary(B::Pow, x.clone(), num(2.0)),
                        num(1.0),
                    )],
                );
                call(Func::Log, vec![Expr::binary(B::Add, x, r)])
            }
            Func::Acosh => {
                let x = args.remove(0);
                let r = call(
                    Func::Sqrt,
                    vec![Expr::binary(
                        B::Sub,
                        Expr::binary(B::Pow, x.clone(), num(2.0)),
                        num(1.0),
                    )],
                );
                call(Func::Log, vec![Expr::binary(B::Add, x, r)])
            }
            Func::Atanh => {
                let x = args.remove(0);
                let q = Expr::binary(
                    B::Div,
                    Expr::binary(B::Add, num(1.0), x.clone()),
                    Expr::binary(B::Sub, num(1.0), x),
                );
                Expr::binary(B::Mul, num(0.5), call(Func::Log, vec![q]))
            }
            Func::Factorial if matches!(args.first().map(|a| &a.kind), Some(ExprKind::Num(_))) => {
                let Some(ExprKind::Num(n)) = args.first().map(|a| &a.kind) else {
                    return num(0.0);
                };
                let n = *n;
                if n.fract() == 0.0 && (0.0..=170.0).contains(&n) {
                    num((1..=n as u64).map(|k| k as f64).product())
                } else {
                    call(f.clone(), args)
                }
            }
            _ => call(f.clone(), args),
        }
    }

    /// A new conditional variable from `(condition, value)` pieces; returns a reference to it.
    fn lift(&mut self, hint: &str, pieces: Vec<(Expr, Expr)>, span: Span) -> Expr {
        // A Piecewise whose first condition is true is just its value.
        if let Some((c, v)) = pieces.first()
            && matches!(c.kind, ExprKind::Bool(true))
        {
            return v.clone();
        }
        let name = self.fresh(&format!("{hint}_c"));
        let cases = self.cases(pieces, span);
        self.dvs.push(Dv { name: name.clone(), body: DvBody::Cases(cases), span });
        Expr::var(&name)
    }

    /// [`exclusive`] cases, with a warning when no piece is the default: where no condition
    /// holds SymPy's value is NaN, jLEMS's 0.
    fn cases(&mut self, pieces: Vec<(Expr, Expr)>, span: Span) -> Vec<(Option<Expr>, Expr)> {
        let cases = exclusive(pieces);
        if cases.iter().all(|(c, _)| c.is_some()) {
            self.diags.push(
                Diagnostic::warning(
                    "lems-piecewise-default",
                    "this Piecewise has no `True` piece: where none of its conditions holds, its value is NaN in SymPy but 0 in jLEMS",
                )
                .at(span),
            );
        }
        cases
    }

    fn build(&mut self, opts: &ExportOptions) -> Option<(Model, Names)> {
        let exp = self.exp;
        let d = self.d;
        let model = self.model();
        self.resolve_derived_parameters();
        // Warnings for what LEMS leaves out.
        if let Some(m) = &exp.integration.method
            && !m.value.eq_ignore_ascii_case("euler")
        {
            self.diags.push(
                Diagnostic::warning(
                    "lems-euler",
                    format!("jLEMS integrates with forward Euler; the experiment's method `{}` is not represented in LEMS", m.value),
                )
                .at(m.span),
            );
        }
        let noise = self.noise_sigmas(opts)?;

        // Derived variables (TVBO's), then state equations and events; each may lift more.
        let mut td: Vec<(String, Expr, Span)> = Vec::new();
        for v in &d.derived_variables {
            let Some(eq) = &v.equation else { continue };
            let Some(e) = self.expr(eq) else { continue };
            let name = self.lems_name(&v.name.value);
            let body = match &e.kind {
                ExprKind::Piecewise(pieces) => {
                    let mut cases = Vec::new();
                    for (val, c) in pieces {
                        let val = self.lower(val, &name, eq.span);
                        let c = self.lower(c, &name, eq.span);
                        cases.push((c, val));
                    }
                    if matches!(cases.first(), Some((c, _)) if matches!(c.kind, ExprKind::Bool(true)))
                    {
                        DvBody::Plain(cases.swap_remove(0).1)
                    } else {
                        DvBody::Cases(self.cases(cases, eq.span))
                    }
                }
                _ => DvBody::Plain(self.lower(&e, &name, eq.span)),
            };
            self.dvs.push(Dv {
                name,
                body,
                span: v.name.span,
            });
        }
        for s in &d.state_variables {
            let Some(eq) = &s.equation else { continue };
            let Some(e) = self.expr(eq) else { continue };
            let name = self.lems_name(&s.name.value);
            let e = self.lower(&e, &format!("{name}_rhs"), eq.span);
            td.push((name, e, eq.span));
        }
        let mut events: Vec<LoweredEvent> = Vec::new();
        for ev in &d.events {
            let Some(ceq) = &ev.condition else { continue };
            let Some(cond) = self.expr(ceq) else { continue };
            let port = self.event_port(&ev.name.value);
            let cond = self.lower(&cond, &format!("{port}_cond"), ceq.span);
            if !cond.is_boolean() {
                self.error(
                    "export-refused",
                    format!("the condition of event `{}` of {model} is not a comparison (such as `v > thresh`)", ev.name.value),
                    ceq.span,
                );
                continue;
            }
            let mut assigns = Vec::new();
            for a in &ev.assignments {
                let Some(val) = self.expr(&a.value) else {
                    continue;
                };
                let target = self.lems_name(&a.target.value);
                let val = self.lower(&val, &format!("{port}_{target}"), a.value.span);
                assigns.push((target, val, a.value.span));
            }
            events.push((cond, assigns, port, ev.name.span));
        }
        if self.diags.error_count() > self.start_errors {
            return None;
        }
        let (plain, conditional) = order_derived(std::mem::take(&mut self.dvs));

        // Names of what the component type declares.
        let sv_names: Vec<String> = d
            .state_variables
            .iter()
            .map(|s| self.lems_name(&s.name.value))
            .collect();
        let init_names: Vec<String> = sv_names
            .iter()
            .map(|s| self.fresh(&format!("{s}_0")))
            .collect();
        let file = exp.file;
        let doc_span = Span::new(file, 0, 0);
        let type_span = d.name.span;

        let mut ct = ComponentType::new(self.type_name.clone(), type_span);
        ct.description = Some(format!(
            "Generated by myelin from TVBO Dynamics: {}",
            d.name.value
        ));
        let mut declared: HashSet<String> = HashSet::new();
        let mut values: Vec<(String, String, Span)> = Vec::new();
        for p in &d.parameters {
            let name = self.lems_name(&p.name.value);
            let shadowed = self.syms.kinds.get(&p.name.value) != Some(&sema::SymbolKind::Parameter);
            if !shadowed && declared.insert(name.clone()) {
                ct.parameters.push(named(&name, "none", p.name.span));
                values.push((
                    name,
                    format_f64(p.value.as_ref().map_or(0.0, |v| v.value)),
                    p.name.span,
                ));
            }
        }
        for input in d.coupling_inputs.iter().flat_map(|c| c.symbols()) {
            let name = self.lems_name(&input.value);
            // A coupling input that is also a state variable or derived variable is that variable.
            let is_var =
                self.syms.kinds.get(&input.value) != Some(&sema::SymbolKind::CouplingInput);
            let coupled = self.net.as_ref().is_some_and(|n| n.inputs.contains(&input.value));
            if !is_var && !coupled && declared.insert(name.clone()) {
                ct.parameters.push(named(&name, "none", input.span));
                values.push((name, "0".into(), input.span));
            }
        }
        for (s, init) in d.state_variables.iter().zip(&init_names) {
            ct.parameters.push(named(init, "none", s.name.span));
            values.push((
                init.clone(),
                format_f64(s.initial_value.as_ref().map_or(0.0, |v| v.value)),
                s.name.span,
            ));
        }
        let time_scale = exp
            .integration
            .time_scale
            .as_ref()
            .map_or(defaults::TIME_SCALE, |t| t.value.as_str())
            .to_string();
        ct.constants.push(myelin_ir::Constant {
            name: self.sec.clone(),
            dimension: "time".into(),
            value: format!("1{time_scale}"),
            value_span: type_span,
            description: Some(format!(
                "one unit of model time ({time_scale}); every rate is divided by it"
            )),
            span: type_span,
        });
        for (s, name) in d.state_variables.iter().zip(&sv_names) {
            ct.exposures.push(named(name, "none", s.name.span));
        }
        let mut ports: Vec<String> = events.iter().map(|e| e.2.clone()).collect();
        ports.dedup();
        for p in &ports {
            ct.event_ports.push(EventPort {
                name: p.clone(),
                direction: PortDirection::Out,
                description: None,
                span: type_span,
            });
        }

        let mut dynamics = myelin_ir::Dynamics {
            simultaneous: false,
            state_variables: vec![],
            derived_variables: vec![],
            conditional_derived_variables: vec![],
            body: Behaviour::default(),
            regimes: vec![],
            kinetic_schemes: vec![],
            span: type_span,
        };
        for (s, name) in d.state_variables.iter().zip(&sv_names) {
            dynamics.state_variables.push(StateVariable {
                name: name.clone(),
                dimension: "none".into(),
                exposure: Some(name.clone()),
                description: None,
                span: s.name.span,
                dimension_span: s.name.span,
                exposure_span: s.name.span,
            });
        }
        // Network mode: each coupled input is `post(gx)`, `gx` the sum of the attached
        // couplings' weighted `pre` values.
        if let Some(net) = self.net.clone() {
            ct.attachments.push(TypedRef {
                name: "couplings".into(),
                type_name: COUPLING_TYPE.into(),
                description: None,
                span: type_span,
            });
            let mut pmap: HashMap<String, String> = HashMap::new();
            for (p, v) in &net.params {
                let name = self.fresh(&format!("cpl_{p}"));
                ct.parameters.push(named(&name, "none", type_span));
                values.push((name.clone(), format_f64(*v), type_span));
                pmap.insert(p.clone(), name);
            }
            for (k, input) in net.inputs.iter().enumerate() {
                let gx = self.fresh(&format!("gx_{k}"));
                dynamics.derived_variables.push(DerivedVariable {
                    name: gx.clone(),
                    dimension: "none".into(),
                    exposure: None,
                    value: None,
                    select: Some(format!("couplings[*]/wpre_{k}")),
                    select_span: Some(type_span),
                    reduce: Some(Reduce::Add),
                    required: None,
                    span: type_span,
                    dimension_span: type_span,
                    exposure_span: type_span,
                });
                let post = myelin_expr::substitute(&net.post, &|v| {
                    if v == "gx" {
                        Some(Expr::var(&gx))
                    } else {
                        pmap.get(v).map(|n| Expr::var(n))
                    }
                });
                let value = self.expression(&post, type_span)?;
                dynamics.derived_variables.push(DerivedVariable {
                    name: self.lems_name(input),
                    dimension: "none".into(),
                    exposure: None,
                    value: Some(value),
                    select: None,
                    select_span: None,
                    reduce: None,
                    required: None,
                    span: type_span,
                    dimension_span: type_span,
                    exposure_span: type_span,
                });
            }
        }
        for v in plain {
            let DvBody::Plain(e) = &v.body else { continue };
            let value = self.expression(e, v.span)?;
            dynamics.derived_variables.push(DerivedVariable {
                name: v.name.clone(),
                dimension: "none".into(),
                exposure: None,
                value: Some(value),
                select: None,
                select_span: None,
                reduce: None,
                required: None,
                span: v.span,
                dimension_span: v.span,
                exposure_span: v.span,
            });
        }
        for v in conditional {
            let cases = match &v.body {
                DvBody::Plain(e) => vec![(None, e.clone())],
                DvBody::Cases(c) => c.clone(),
            };
            let mut out = Vec::new();
            for (c, val) in &cases {
                let condition = match c {
                    Some(c) => Some(self.expression(c, v.span)?),
                    None => None,
                };
                out.push(Case {
                    condition,
                    value: self.expression(val, v.span)?,
                    span: v.span,
                });
            }
            dynamics
                .conditional_derived_variables
                .push(ConditionalDerivedVariable {
                    name: v.name.clone(),
                    dimension: "none".into(),
                    exposure: None,
                    cases: out,
                    span: v.span,
                    dimension_span: v.span,
                    exposure_span: v.span,
                });
        }
        for (name, e, span) in &td {
            let text = format!("({}) / {}", self.print(e, *span)?, self.sec);
            dynamics.body.time_derivatives.push(TimeDerivative {
                variable: name.clone(),
                value: self.parse_lems(&text, *span)?,
                span: *span,
                variable_span: *span,
            });
        }
        let mut on_start = Vec::new();
        for ((s, name), init) in d.state_variables.iter().zip(&sv_names).zip(&init_names) {
            on_start.push(Action::StateAssignment {
                variable: name.clone(),
                value: self.parse_lems(init, s.name.span)?,
                span: s.name.span,
                at: s.name.span,
            });
        }
        dynamics.body.on_start.push(EventBlock {
            actions: on_start,
            span: type_span,
        });
        // Additive noise after the deterministic update, before events and clamps (as TVBO's
        // JAX backend adds it): x += sigma * sqrt(dt) * xi, xi ~ N(0, 1) by Box-Muller from two
        // of jLEMS's uniform draws (`1 - random(1)` lies in (0, 1], so the log is finite).
        if let Some((sqrt_dt, sigmas)) = &noise {
            let span = exp.integration.noise.as_ref().map_or(type_span, |n| n.span);
            let sdt = self.fresh("SQRT_DT");
            ct.constants.push(myelin_ir::Constant {
                name: sdt.clone(),
                dimension: "none".into(),
                value: format_f64(*sqrt_dt),
                value_span: span,
                description: Some("square root of the time step in model time units, for the noise".into()),
                span,
            });
            let mut actions = Vec::new();
            for ((s, name), sigma) in d.state_variables.iter().zip(&sv_names).zip(sigmas) {
                let Some(sigma) = sigma else { continue };
                let at = s.noise.as_ref().map_or(span, |n| n.span);
                let c = self.fresh(&format!("SIGMA_{name}"));
                ct.constants.push(myelin_ir::Constant {
                    name: c.clone(),
                    dimension: "none".into(),
                    value: format_f64(*sigma),
                    value_span: at,
                    description: Some(format!("intensity of the additive noise on {name}")),
                    span: at,
                });
                let uniform = || Expr::call(Func::Random, vec![Expr::num(1.0)]);
                let radius = Expr::call(
                    Func::Sqrt,
                    vec![Expr::binary(
                        BinaryOp::Mul,
                        Expr::num(-2.0),
                        Expr::call(Func::Log, vec![Expr::binary(BinaryOp::Sub, Expr::num(1.0), uniform())]),
                    )],
                );
                let angle = Expr::call(Func::Cos, vec![Expr::binary(BinaryOp::Mul, Expr::num(std::f64::consts::TAU), uniform())]);
                let xi = Expr::binary(BinaryOp::Mul, radius, angle);
                let step = Expr::binary(BinaryOp::Mul, Expr::binary(BinaryOp::Mul, Expr::var(&c), Expr::var(&sdt)), xi);
                actions.push(Action::StateAssignment {
                    variable: name.clone(),
                    value: self.expression(&Expr::binary(BinaryOp::Add, Expr::var(name), step), at)?,
                    span: at,
                    at,
                });
            }
            dynamics.body.on_conditions.push(OnCondition {
                test: self.expression(&Expr::binary(BinaryOp::Gt, Expr::var(&sdt), Expr::num(0.0)), span)?,
                actions,
                span,
            });
        }
        for (cond, assigns, port, span) in &events {
            let mut actions = Vec::new();
            for (target, val, vspan) in assigns {
                actions.push(Action::StateAssignment {
                    variable: target.clone(),
                    value: self.expression(val, *vspan)?,
                    span: *vspan,
                    at: *vspan,
                });
            }
            actions.push(Action::EventOut {
                port: port.clone(),
                span: *span,
                at: *span,
            });
            dynamics.body.on_conditions.push(OnCondition {
                test: self.expression(cond, *span)?,
                actions,
                span: *span,
            });
        }
        for (s, name) in d.state_variables.iter().zip(&sv_names) {
            let Some(dom) = &s.domain else { continue };
            let Some(enforce) = &dom.enforce else {
                continue;
            };
            let x = Expr::var(name);
            match enforce.value {
                Enforce::None => {}
                Enforce::Clamp => {
                    for (bound, op) in [(dom.hi, BinaryOp::Gt), (dom.lo, BinaryOp::Lt)] {
                        let Some(b) = bound.filter(|b| b.is_finite()) else {
                            continue;
                        };
                        let test = Expr::binary(op, x.clone(), Expr::num(b));
                        let value = self.expression(&Expr::num(b), enforce.span)?;
                        dynamics.body.on_conditions.push(OnCondition {
                            test: self.expression(&test, enforce.span)?,
                            actions: vec![Action::StateAssignment {
                                variable: name.clone(),
                                value,
                                span: enforce.span,
                                at: enforce.span,
                            }],
                            span: enforce.span,
                        });
                    }
                }
                Enforce::Wrap => {
                    let (Some(lo), Some(hi)) = (
                        dom.lo.filter(|x| x.is_finite()),
                        dom.hi.filter(|x| x.is_finite()),
                    ) else {
                        self.diags.push(
                            Diagnostic::warning(
                                "lems-wrap",
                                format!(
                                    "`enforce: wrap` of `{}` needs both `lo` and `hi`; not applied",
                                    s.name.value
                                ),
                            )
                            .at(enforce.span),
                        );
                        continue;
                    };
                    let period = Expr::num(hi - lo);
                    let test = Expr::binary(
                        BinaryOp::Or,
                        Expr::binary(BinaryOp::Ge, x.clone(), Expr::num(hi)),
                        Expr::binary(BinaryOp::Lt, x.clone(), Expr::num(lo)),
                    );
                    let shifted = Expr::binary(BinaryOp::Sub, x.clone(), Expr::num(lo));
                    let k = Expr::call(
                        Func::Ceil,
                        vec![Expr::unary(
                            UnaryOp::Neg,
                            Expr::binary(BinaryOp::Div, shifted, period.clone()),
                        )],
                    );
                    let value = Expr::binary(
                        BinaryOp::Add,
                        x.clone(),
                        Expr::binary(BinaryOp::Mul, period, k),
                    );
                    let value = self.expression(&value, enforce.span)?;
                    dynamics.body.on_conditions.push(OnCondition {
                        test: self.expression(&test, enforce.span)?,
                        actions: vec![Action::StateAssignment {
                            variable: name.clone(),
                            value,
                            span: enforce.span,
                            at: enforce.span,
                        }],
                        span: enforce.span,
                    });
                }
            }
        }
        ct.dynamics = Some(dynamics);

        // The instance, the simulation, the output.
        let instance = format!("{}_inst", self.type_name);
        let sim_id = format!("sim_{}", self.type_name);
        let output_file = format!("results/{}.dat", self.type_name);
        let time = |v: Option<&TimeValue>, exp_v: Option<&At<f64>>, default: f64| -> String {
            match v {
                Some(t) => format!("{}{}", format_f64(t.value), t.unit),
                None => format!(
                    "{}{}",
                    format_f64(exp_v.map_or(default, |x| x.value)),
                    time_scale
                ),
            }
        };
        let length = time(
            opts.duration.as_ref(),
            exp.integration.duration.as_ref(),
            defaults::DURATION,
        );
        let step = time(
            opts.dt.as_ref(),
            exp.integration.step_size.as_ref(),
            defaults::STEP_SIZE,
        );

        let mut m = Model::default();
        let (dyn_file, net_file, sim_file) = match &opts.layout {
            Layout::Monolithic => (file, file, file),
            Layout::Split { files, .. } => (files[0], files[1], files[2]),
        };
        let at = |f: FileId| Span::new(f, 0, 0);
        match &opts.layout {
            Layout::Monolithic => m.documents.push(Document {
                file,
                root: RootKind::Lems,
                includes: vec![],
                root_attributes: vec![],
            }),
            Layout::Split { files, names } => {
                m.documents.push(Document {
                    file: files[0],
                    root: RootKind::Lems,
                    includes: vec![],
                    root_attributes: vec![],
                });
                m.documents.push(Document {
                    file: files[1],
                    root: RootKind::Lems,
                    includes: vec![Include {
                        href: names[0].clone(),
                        span: at(files[1]),
                        resolved: Some(files[0]),
                    }],
                    root_attributes: vec![],
                });
                m.documents.push(Document {
                    file: files[2],
                    root: RootKind::Lems,
                    includes: vec![Include {
                        href: names[1].clone(),
                        span: at(files[2]),
                        resolved: Some(files[1]),
                    }],
                    root_attributes: vec![],
                });
            }
        }
        m.targets.push(Target {
            component: sim_id.clone(),
            report_file: None,
            times_file: None,
            span: at(sim_file),
            component_span: at(sim_file),
        });
        for (name, dim) in STANDARD_DIMENSIONS {
            m.dimensions.insert(
                name.to_string(),
                DimensionDef {
                    name: name.to_string(),
                    dimension: *dim,
                    span: at(dyn_file),
                },
            );
        }
        for (symbol, dim, power, offset) in STANDARD_UNITS {
            m.units.insert(
                symbol.to_string(),
                UnitDef {
                    symbol: symbol.to_string(),
                    dimension: dim.to_string(),
                    power: *power,
                    scale: 1.0,
                    offset: *offset,
                    span: at(dyn_file),
                    dimension_span: at(dyn_file),
                },
            );
        }
        for t in simulation_types(at(dyn_file)) {
            m.component_types.insert(t.name.clone(), t);
        }
        let split = matches!(opts.layout, Layout::Split { .. });
        if split || self.net.is_some() {
            for t in network_types(at(dyn_file), self.net.is_some()) {
                m.component_types.insert(t.name.clone(), t);
            }
        }
        ct.span = Span {
            file: dyn_file,
            ..type_span
        };
        m.component_types.insert(ct.name.clone(), ct);

        let mut inst = component(
            Some(&instance),
            "Component",
            &self.type_name,
            true,
            at(dyn_file),
        );
        inst.explicit_type = true;
        inst.attributes = values
            .into_iter()
            .map(|(n, v, s)| attribute(&n, &v, s))
            .collect();
        m.components.push(inst);

        let mut columns: Vec<(String, String)> =
            sv_names.iter().map(|n| (n.clone(), n.clone())).collect();
        let net_plan = self.net.clone();
        let (target, prefix) = if let Some(plan) = &net_plan {
            let span = at(dyn_file);
            let ctype = self.coupling_type(plan, &sv_names, span)?;
            m.component_types.insert(ctype.name.clone(), ctype);
            m.component_types.insert(EDGE_TYPE.into(), edge_type(span));
            let inst_attrs = m.components.last().map(|c| c.attributes.clone()).unwrap_or_default();
            for (role, id) in [("0", "coupling_source"), ("1", "coupling_target")] {
                let mut c = component(Some(id), "Component", COUPLING_TYPE, true, span);
                c.explicit_type = true;
                c.attributes = vec![attribute("role", role, span)];
                for (p, v) in &plan.params {
                    c.attributes.push(attribute(&format!("cpl_{p}"), &format_f64(*v), span));
                }
                m.components.push(c);
            }
            let mut net = component(Some("net"), "Component", "Network", true, at(net_file));
            net.explicit_type = true;
            columns.clear();
            for (i, (node_id, state)) in plan.nodes.iter().enumerate() {
                let node_inst = format!("{instance}_node{i}");
                let mut c = component(Some(&node_inst), "Component", &self.type_name, true, span);
                c.explicit_type = true;
                c.attributes = inst_attrs.clone();
                for (sv, v) in state {
                    if let Some(k) = d.state_variables.iter().position(|s| &s.name.value == sv) {
                        let init = &init_names[k];
                        for a in c.attributes.iter_mut().filter(|a| a.name == *init) {
                            a.value = format_f64(*v).into();
                        }
                    }
                }
                m.components.push(c);
                let mut pop = component(Some(&format!("pop{i}")), "Component", "Population", true, doc_span);
                pop.explicit_type = true;
                pop.attributes = vec![
                    attribute("component", &node_inst, doc_span),
                    attribute("size", "1", doc_span),
                ];
                net.children.push(pop);
                for name in &sv_names {
                    let _ = node_id;
                    columns.push((format!("{name}_{i}"), format!("pop{i}[0]/{name}")));
                }
            }
            for (k, (src, dst, w)) in plan.edges.iter().enumerate() {
                let mut e = component(Some(&format!("edge{k}")), "Component", EDGE_TYPE, true, doc_span);
                e.explicit_type = true;
                e.attributes = vec![
                    attribute("source", &format!("pop{src}[0]"), doc_span),
                    attribute("target", &format!("pop{dst}[0]"), doc_span),
                    attribute("weight", &format_f64(*w), doc_span),
                    attribute("sourceEnd", "coupling_source", doc_span),
                    attribute("targetEnd", "coupling_target", doc_span),
                ];
                net.children.push(e);
            }
            m.components.push(net);
            ("net".to_string(), String::new())
        } else if split {
            let mut net = component(Some("net"), "Component", "Network", true, at(net_file));
            net.explicit_type = true;
            let mut pop = component(Some("pop0"), "Component", "Population", true, doc_span);
            pop.explicit_type = true;
            pop.attributes = vec![
                attribute("component", &instance, doc_span),
                attribute("size", "1", doc_span),
            ];
            net.children.push(pop);
            m.components.push(net);
            ("net".to_string(), "pop0[0]/".to_string())
        } else {
            (instance.clone(), String::new())
        };
        let mut sim = component(
            Some(&sim_id),
            "Simulation",
            "Simulation",
            false,
            at(sim_file),
        );
        sim.attributes = vec![
            attribute("length", &length, doc_span),
            attribute("step", &step, doc_span),
            attribute("target", &target, doc_span),
        ];
        let mut of = component(Some("of1"), "OutputFile", "OutputFile", false, doc_span);
        of.attributes = vec![attribute("fileName", &output_file, doc_span)];
        for (id, quantity) in &columns {
            let mut col = component(Some(id), "OutputColumn", "OutputColumn", false, doc_span);
            col.attributes = vec![attribute("quantity", &format!("{prefix}{quantity}"), doc_span)];
            of.children.push(col);
        }
        sim.children.push(of);
        m.components.push(sim);

        let names = Names {
            component_type: self.type_name.clone(),
            instance,
            simulation: sim_id,
            output_file,
            columns: columns.into_iter().map(|c| c.0).collect(),
        };
        Some((m, names))
    }

    fn event_port(&mut self, event: &str) -> String {
        let base: String = event
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if is_identifier(&base) && !self.syms.is_symbol(&base) {
            self.taken.insert(base.clone());
            base
        } else {
            self.fresh(&format!("{base}_event"))
        }
    }

    fn print(&mut self, e: &Expr, span: Span) -> Option<String> {
        match myelin_expr::print_lems(e) {
            Ok(s) => Some(s),
            Err(err) => {
                let model = self.model();
                self.error(
                    "export-refused",
                    format!("{model}: {} ", err.message.trim_end()),
                    span,
                );
                None
            }
        }
    }

    fn parse_lems(&mut self, text: &str, span: Span) -> Option<Expression> {
        let (e, err) = Expression::lems(text, span);
        if let Some(err) = err {
            self.error(
                "internal",
                format!(
                    "myelin wrote LEMS it cannot read back (`{text}`): {}",
                    err.message
                ),
                span,
            );
            return None;
        }
        Some(e)
    }

    fn expression(&mut self, e: &Expr, span: Span) -> Option<Expression> {
        let text = self.print(e, span)?;
        self.parse_lems(&text, span)
    }
}

/// `base`, or `base_1`, `base_2`, ...: the first name not in `taken` (which then holds it).
fn fresh(taken: &mut HashSet<String>, base: &str) -> String {
    let mut name = base.to_string();
    let mut k = 1;
    while taken.contains(&name) {
        name = format!("{base}_{k}");
        k += 1;
    }
    taken.insert(name.clone());
    name
}

/// Makes Piecewise pieces mutually exclusive: each condition also requires that no earlier one
/// holds; a `True` piece becomes the default case and ends the list; `False` pieces vanish.
fn exclusive(pieces: Vec<(Expr, Expr)>) -> Vec<(Option<Expr>, Expr)> {
    let mut out = Vec::new();
    let mut earlier: Vec<Expr> = Vec::new();
    for (c, v) in pieces {
        match c.kind {
            ExprKind::Bool(true) => {
                out.push((None, v));
                break;
            }
            ExprKind::Bool(false) => continue,
            _ => {
                let mut cond = c.clone();
                for n in earlier.iter().rev() {
                    cond = Expr::binary(BinaryOp::And, n.clone(), cond);
                }
                out.push((Some(cond), v));
                earlier.push(negate(&c));
            }
        }
    }
    out
}

/// The logical negation of a condition, without `.not.` (which LEMS lacks).
fn negate(c: &Expr) -> Expr {
    use BinaryOp as B;
    match &c.kind {
        ExprKind::Bool(b) => Expr::synth(ExprKind::Bool(!b)),
        ExprKind::Unary(UnaryOp::Not, a) => (**a).clone(),
        ExprKind::Binary(op, a, b) => {
            let flipped = match op {
                B::Lt => B::Ge,
                B::Le => B::Gt,
                B::Gt => B::Le,
                B::Ge => B::Lt,
                B::Eq => B::Ne,
                B::Ne => B::Eq,
                B::And => return Expr::binary(B::Or, negate(a), negate(b)),
                B::Or => return Expr::binary(B::And, negate(a), negate(b)),
                _ => return Expr::binary(B::Eq, c.clone(), Expr::num(0.0)),
            };
            Expr::binary(flipped, (**a).clone(), (**b).clone())
        }
        // A number used as a condition is true when non-zero.
        _ => Expr::binary(B::Eq, c.clone(), Expr::num(0.0)),
    }
}

/// Splits derived variables into plain ones and conditional ones (a plain variable that reads a
/// conditional one, directly or not, becomes conditional: jLEMS cannot check it otherwise), each
/// group in dependency order, ties in the original order.
fn order_derived(dvs: Vec<Dv>) -> (Vec<Dv>, Vec<Dv>) {
    let names: HashMap<String, usize> = dvs
        .iter()
        .enumerate()
        .map(|(k, v)| (v.name.clone(), k))
        .collect();
    let deps: Vec<Vec<usize>> = dvs
        .iter()
        .map(|v| {
            let mut vars = Vec::new();
            match &v.body {
                DvBody::Plain(e) => vars.extend(e.free_vars()),
                DvBody::Cases(cases) => {
                    for (c, val) in cases {
                        if let Some(c) = c {
                            vars.extend(c.free_vars());
                        }
                        vars.extend(val.free_vars());
                    }
                }
            }
            let mut ds: Vec<usize> = vars.iter().filter_map(|n| names.get(n).copied()).collect();
            ds.sort_unstable();
            ds.dedup();
            ds
        })
        .collect();
    let mut conditional: Vec<bool> = dvs
        .iter()
        .map(|v| matches!(v.body, DvBody::Cases(_)))
        .collect();
    loop {
        let mut changed = false;
        for k in 0..dvs.len() {
            if !conditional[k] && deps[k].iter().any(|&j| conditional[j]) {
                conditional[k] = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    // Kahn's algorithm, always taking the earliest ready variable.
    let n = dvs.len();
    let mut done = vec![false; n];
    let mut order = Vec::with_capacity(n);
    while order.len() < n {
        let next = (0..n)
            .find(|&k| !done[k] && deps[k].iter().all(|&j| done[j] || j == k))
            .or_else(|| (0..n).find(|&k| !done[k]));
        let Some(k) = next else { break };
        done[k] = true;
        order.push(k);
    }
    let mut slots: Vec<Option<Dv>> = dvs.into_iter().map(Some).collect();
    let (mut plain, mut cond) = (Vec::new(), Vec::new());
    for k in order {
        if let Some(v) = slots[k].take() {
            if conditional[k] {
                cond.push(v)
            } else {
                plain.push(v)
            }
        }
    }
    (plain, cond)
}

/// The dimensions the guide declares inline.
const STANDARD_DIMENSIONS: &[(&str, Dimension)] = &[
    ("none", Dimension::NONE),
    ("time", Dimension::new(0, 0, 1, 0, 0, 0, 0)),
    ("voltage", Dimension::new(1, 2, -3, -1, 0, 0, 0)),
    ("per_time", Dimension::new(0, 0, -1, 0, 0, 0, 0)),
    ("conductance", Dimension::new(-1, -2, 3, 2, 0, 0, 0)),
    ("capacitance", Dimension::new(-1, -2, 4, 2, 0, 0, 0)),
    ("current", Dimension::new(0, 0, 0, 1, 0, 0, 0)),
    ("resistance", Dimension::new(1, 2, -3, -2, 0, 0, 0)),
    ("concentration", Dimension::new(0, -3, 0, 0, 0, 1, 0)),
    ("substance", Dimension::new(0, 0, 0, 0, 0, 1, 0)),
    ("charge", Dimension::new(0, 0, 1, 1, 0, 0, 0)),
    ("temperature", Dimension::new(0, 0, 0, 0, 1, 0, 0)),
];

/// The units the guide declares inline: symbol, dimension, power of ten, offset.
const STANDARD_UNITS: &[(&str, &str, i32, f64)] = &[
    ("s", "time", 0, 0.0),
    ("ms", "time", -3, 0.0),
    ("us", "time", -6, 0.0),
    ("V", "voltage", 0, 0.0),
    ("mV", "voltage", -3, 0.0),
    ("A", "current", 0, 0.0),
    ("mA", "current", -3, 0.0),
    ("nA", "current", -9, 0.0),
    ("pA", "current", -12, 0.0),
    ("S", "conductance", 0, 0.0),
    ("mS", "conductance", -3, 0.0),
    ("nS", "conductance", -9, 0.0),
    ("F", "capacitance", 0, 0.0),
    ("uF", "capacitance", -6, 0.0),
    ("nF", "capacitance", -9, 0.0),
    ("ohm", "resistance", 0, 0.0),
    ("Mohm", "resistance", 6, 0.0),
    ("per_s", "per_time", 0, 0.0),
    ("per_ms", "per_time", 3, 0.0),
    ("degC", "temperature", 0, 273.15),
    ("K", "temperature", 0, 0.0),
];

fn named(name: &str, dim: &str, span: Span) -> Named {
    Named {
        name: name.into(),
        dimension: dim.into(),
        description: None,
        span,
        name_span: span,
        dimension_span: span,
    }
}

fn attribute(name: &str, value: &str, span: Span) -> Attribute {
    Attribute {
        name: name.into(),
        value: value.into(),
        name_span: span,
        value_span: span,
    }
}

fn component(
    id: Option<&str>,
    tag: &str,
    type_name: &str,
    lems_style: bool,
    span: Span,
) -> Component {
    Component {
        id: id.map(Into::into),
        tag: tag.into(),
        type_name: type_name.into(),
        lems_style,
        explicit_type: false,
        attributes: vec![],
        children: vec![],
        text: None,
        span,
        name_span: span,
        id_span: None,
        type_span: None,
    }
}

/// `Simulation`, `OutputFile` and `OutputColumn`, defined inline as the guide does.
fn simulation_types(span: Span) -> Vec<ComponentType> {
    let mut sim = ComponentType::new("Simulation", span);
    sim.parameters = vec![named("length", "time", span), named("step", "time", span)];
    sim.children = vec![ChildDecl {
        name: "outputs".into(),
        type_name: "OutputFile".into(),
        multiple: true,
        description: None,
        span,
    }];
    sim.component_references = vec![ComponentReference {
        name: "target".into(),
        type_name: ANY_TYPE.into(),
        local: None,
        description: None,
        span,
    }];
    sim.dynamics = Some(myelin_ir::Dynamics {
        simultaneous: false,
        state_variables: vec![StateVariable {
            name: "t".into(),
            dimension: "time".into(),
            exposure: None,
            description: None,
            span,
            dimension_span: span,
            exposure_span: span,
        }],
        derived_variables: vec![],
        conditional_derived_variables: vec![],
        body: Behaviour::default(),
        regimes: vec![],
        kinetic_schemes: vec![],
        span,
    });
    sim.simulation = Some(SimulationDecl {
        items: vec![SimulationItem::Run {
            component: "target".into(),
            variable: "t".into(),
            increment: "step".into(),
            total: "length".into(),
            span,
        }],
    });
    let mut of = ComponentType::new("OutputFile", span);
    of.children = vec![ChildDecl {
        name: "outputColumn".into(),
        type_name: "OutputColumn".into(),
        multiple: true,
        description: None,
        span,
    }];
    of.texts = vec![named("fileName", "", span), named("path", "", span)];
    of.simulation = Some(SimulationDecl {
        items: vec![SimulationItem::DataWriter {
            path: "path".into(),
            file_name: "fileName".into(),
            span,
        }],
    });
    let mut col = ComponentType::new("OutputColumn", span);
    col.paths = vec![named("quantity", "", span)];
    col.simulation = Some(SimulationDecl {
        items: vec![SimulationItem::Record {
            quantity: "quantity".into(),
            time_scale: None,
            scale: None,
            color: None,
            span,
        }],
    });
    vec![sim, of, col]
}

/// A minimal network of populations, defined inline so the split files need no NeuroML
/// core types: `Network` holds `Population`s, each instantiating `size` copies of a component.
fn network_types(span: Span, with_edges: bool) -> Vec<ComponentType> {
    let mut net = ComponentType::new("Network", span);
    net.children = vec![ChildDecl {
        name: "populations".into(),
        type_name: "Population".into(),
        multiple: true,
        description: None,
        span,
    }];
    if with_edges {
        net.children.push(ChildDecl {
            name: "edges".into(),
            type_name: EDGE_TYPE.into(),
            multiple: true,
            description: None,
            span,
        });
    }
    let mut pop = ComponentType::new("Population", span);
    pop.parameters = vec![named("size", "none", span)];
    pop.component_references = vec![ComponentReference {
        name: "component".into(),
        type_name: ANY_TYPE.into(),
        local: None,
        description: None,
        span,
    }];
    pop.structure = Some(Structure {
        items: vec![StructureItem::MultiInstantiate {
            component: Some("component".into()),
            component_type: None,
            number: "size".into(),
            span,
        }],
    });
    vec![net, pop]
}

/// The coupling component type: one instance at each end of every edge.
const COUPLING_TYPE: &str = "Coupling";
/// The edge component type: a `Tunnel` between two nodes carrying a weight.
const EDGE_TYPE: &str = "CouplingEdge";

/// A coupled network, as the LEMS export writes it (and the JAX export integrates it).
#[derive(Clone, Debug)]
pub(crate) struct NetPlan {
    /// Node ids and their initial-value overrides (TVBO state-variable names).
    pub(crate) nodes: Vec<(String, Vec<(String, f64)>)>,
    /// `(source, target, weight)`, node indices.
    pub(crate) edges: Vec<(usize, usize, f64)>,
    /// The coupling's parameters (TVBO names) and values.
    pub(crate) params: Vec<(String, f64)>,
    /// The coupling variables (TVBO state-variable names), in order.
    pub(crate) cvars: Vec<String>,
    /// One `pre` per output, over `x_i_<k>`, `x_j_<k>` (k indexing `cvars`) and the parameters.
    pub(crate) pre: Vec<Expr>,
    /// `post`, over `gx` and the parameters.
    pub(crate) post: Expr,
    /// The model's coupling inputs the outputs feed, one per output (TVBO names).
    pub(crate) inputs: Vec<String>,
}

/// The experiment's coupled network as the LEMS export reads it: `Some(None)` for a single
/// node, `None` (with errors in `diags`) when it cannot be exported (delays, couplings it
/// cannot express, inputs that do not match).
pub(crate) fn network_plan(exp: &Experiment, diags: &mut Diagnostics) -> Option<Option<NetPlan>> {
    let mut c = Conv::new(exp, diags);
    c.plan_network();
    if c.diags.error_count() > c.start_errors {
        return None;
    }
    Some(c.net.take())
}

/// A built-in coupling: name, parameters with their defaults, pre, post.
type BuiltinCoupling = (&'static str, &'static [(&'static str, f64)], &'static str, &'static str);

/// TVB's standard coupling functions, from their definitions.
const BUILTIN_COUPLINGS: &[BuiltinCoupling] = &[
    ("Linear", &[("a", 0.00390625), ("b", 0.0)], "x_j", "a*gx + b"),
    ("Scaling", &[("a", 1.0)], "x_j", "a*gx"),
    ("Difference", &[("a", 0.1)], "x_j - x_i", "a*gx"),
    ("KuramotoCoupling", &[("a", 1.0)], "sin(x_j - x_i)", "a*gx/N"),
    ("Kuramoto", &[("a", 1.0)], "sin(x_j - x_i)", "a*gx/N"),
    (
        "Sigmoidal",
        &[("cmin", -1.0), ("cmax", 1.0), ("midpoint", 0.0), ("a", 1.0), ("sigma", 230.0)],
        "x_j",
        "cmin + (cmax - cmin)/(1.0 + exp(-a*((gx - midpoint)/sigma)))",
    ),
    (
        "SigmoidalJansenRit",
        &[("cmin", 0.0), ("cmax", 0.005), ("midpoint", 6.0), ("r", 0.56), ("a", 1.0)],
        "cmin + (cmax - cmin)/(1.0 + exp(r*(midpoint - (x_j_0 - x_j_1))))",
        "a*gx",
    ),
];

impl Conv<'_> {
    /// Reads the experiment's network and coupling into a [`NetPlan`], refusing what the LEMS
    /// export cannot represent (delays, several couplings, inputs that do not match).
    fn plan_network(&mut self) {
        let exp = self.exp;
        let Some(net) = &exp.network else { return };
        let refuse = "export-refused";
        let model = self.model();
        let n_nodes = if !net.node_list.is_empty() {
            net.node_list.len()
        } else {
            net.number_of_nodes.as_ref().map_or(1, |n| n.value.max(1) as usize)
        };
        if n_nodes <= 1 && net.edge_list.is_empty() {
            return;
        }
        let net_span = net.span.unwrap_or(self.d.name.span);
        // Delays: LEMS has no delayed continuous coupling.
        for e in &net.edge_list {
            if let Some(dl) = &e.delay
                && dl.value != 0.0
            {
                self.diags.push(
                    Diagnostic::error(refuse, format!("edge delays are not exported to LEMS: this edge has delay {}; LEMS (jLEMS) has no delayed continuous coupling, so an experiment with conduction delays cannot be exported (remove the delays, or simulate it with TVBO)", format_f64(dl.value)))
                        .at(dl.span),
                );
                return;
            }
        }
        // Node ids → indices.
        let ids: Vec<String> = if net.node_list.is_empty() {
            (0..n_nodes).map(|k| k.to_string()).collect()
        } else {
            net.node_list.iter().map(|n| n.id.clone()).collect()
        };
        let mut edges = Vec::new();
        if net.edge_list.is_empty() {
            // `number_of_nodes` only: all-to-all with weight 1, no self-connections.
            for i in 0..n_nodes {
                for j in 0..n_nodes {
                    if i != j {
                        edges.push((j, i, 1.0));
                    }
                }
            }
        } else {
            for e in &net.edge_list {
                let find = |x: &Option<At<String>>| {
                    x.as_ref().and_then(|x| ids.iter().position(|id| *id == x.value))
                };
                let (Some(s), Some(t)) = (find(&e.source), find(&e.target)) else {
                    self.error(refuse, "this edge's `source` or `target` is not the id of a node of the network".into(), e.span);
                    return;
                };
                edges.push((s, t, e.weight.as_ref().map_or(1.0, |w| w.value)));
            }
        }
        // The coupling: the network's, else the experiment's, else TVB's Linear with a = 1.
        let used: Vec<&str> = net.edge_list.iter().filter_map(|e| e.coupling.as_ref().map(|c| c.value.as_str())).collect();
        let mut distinct = used.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() > 1 {
            self.error(refuse, format!("the network's edges use {} different couplings ({}); the LEMS export supports one coupling function per network", distinct.len(), distinct.join(", ")), net_span);
            return;
        }
        let spec = match distinct.first() {
            Some(name) => net.couplings.iter().find(|c| c.name.value == *name),
            None => net.couplings.first(),
        }
        .or(exp.coupling_spec.as_ref());
        let parse = |t: &str| myelin_expr::parse(t, myelin_expr::Dialect::Sympy).ok();
        let (mut params, mut pre, mut post): (Vec<(String, f64)>, Option<Expr>, Option<Expr>) = (vec![], None, None);
        let builtin_name = spec.map(|c| {
            c.iri.as_ref().map(|i| i.value.trim_start_matches("tvbo:").to_string()).unwrap_or_else(|| c.name.value.clone())
        });
        let builtin = builtin_name.as_deref().and_then(|n| {
            BUILTIN_COUPLINGS.iter().find(|b| b.0 == n || spec.is_some_and(|c| c.name.value == b.0))
        });
        if let Some((_, ps, pr, po)) = builtin {
            params = ps.iter().map(|(n, v)| (n.to_string(), *v)).collect();
            pre = parse(pr);
            post = parse(po);
        }
        match spec {
            None => {
                params = vec![("a".into(), 1.0), ("b".into(), 0.0)];
                pre = parse("x_j");
                post = parse("a*gx + b");
                self.diags.push(Diagnostic::warning("lems-default-coupling", "the experiment's network names no coupling; the LEMS export couples its nodes linearly (`c = sum_j w_ij x_j`)").at(net_span));
            }
            Some(c) => {
                if let Some(f) = c.function.as_ref().and_then(|f| f.parsed.clone()) {
                    pre = Some(myelin_expr::substitute(&f, &|v| (v == "x").then(|| Expr::var("x_j"))));
                    post = parse("gx");
                }
                if let Some(e) = c.pre.as_ref().and_then(|e| e.parsed.clone()) {
                    pre = Some(e);
                }
                if let Some(e) = c.post.as_ref().and_then(|e| e.parsed.clone()) {
                    post = Some(e);
                }
                for (name, v) in &c.parameters {
                    match params.iter_mut().find(|(n, _)| *n == name.value) {
                        Some(p) => p.1 = *v,
                        None => params.push((name.value.clone(), *v)),
                    }
                }
                if pre.is_none() {
                    pre = parse("x_j");
                }
                if post.is_none() {
                    if c.pre.is_some() || c.function.is_some() {
                        post = parse("gx");
                    } else {
                        self.error(refuse, format!("coupling `{}` has no `pre_expression`/`post_expression` and is not one of TVB's standard couplings (Linear, Scaling, Difference, KuramotoCoupling, Sigmoidal, SigmoidalJansenRit)", c.name.value), c.span);
                        return;
                    }
                }
            }
        }
        let (Some(pre), Some(post)) = (pre, post) else { return };
        if !params.iter().any(|(n, _)| n == "N") && (pre.free_vars().iter().chain(post.free_vars().iter()).any(|v| v == "N")) {
            params.push(("N".into(), n_nodes as f64));
        }
        // Coupling variables.
        let d = self.d;
        let mut cvars: Vec<String> = spec.map(|c| c.incoming_states.iter().map(|s| s.value.clone()).collect()).unwrap_or_default();
        if cvars.is_empty() {
            cvars = d.state_variables.iter().filter(|s| s.coupling_variable).map(|s| s.name.value.clone()).collect();
        }
        if cvars.is_empty() {
            cvars = d.state_variables.iter().take(1).map(|s| s.name.value.clone()).collect();
        }
        for c in &cvars {
            if d.state_variable(c).is_none() {
                self.error(refuse, format!("the coupling reads `{c}`, which is not a state variable of {model}"), spec.map_or(net_span, |s| s.span));
                return;
            }
        }
        // Outputs: one for an indexed pre (x_j[k]), else one per coupling variable.
        let pnames: HashSet<String> = params.iter().map(|p| p.0.clone()).collect();
        let indexed = pre.free_vars().iter().any(|v| v.starts_with("x_j_") || v.starts_with("x_i_"));
        let mut pres = Vec::new();
        let outputs = if indexed { 1 } else { cvars.len() };
        for k in 0..outputs {
            let e = myelin_expr::substitute(&pre, &|v| {
                if indexed {
                    return None;
                }
                match v {
                    "x_i" => Some(Expr::var(&format!("x_i_{k}"))),
                    "x_j" => Some(Expr::var(&format!("x_j_{k}"))),
                    _ => None,
                }
            });
            // `<sv>_i` / `<sv>_j` for the coupling variables.
            let e = myelin_expr::substitute(&e, &|v| {
                for (m, c) in cvars.iter().enumerate() {
                    if v == format!("{c}_j") {
                        return Some(Expr::var(&format!("x_j_{m}")));
                    }
                    if v == format!("{c}_i") {
                        return Some(Expr::var(&format!("x_i_{m}")));
                    }
                }
                None
            });
            for v in e.free_vars() {
                let ok = pnames.contains(&v)
                    || v.strip_prefix("x_j_").or_else(|| v.strip_prefix("x_i_")).and_then(|k| k.parse::<usize>().ok()).is_some_and(|k| k < cvars.len());
                if !ok {
                    self.error(refuse, format!("the coupling's pre-expression uses `{v}`, which is neither a coupling parameter nor x_i/x_j of a coupling variable ({})", cvars.join(", ")), spec.map_or(net_span, |s| s.span));
                    return;
                }
            }
            pres.push(e);
        }
        for v in post.free_vars() {
            if v != "gx" && !pnames.contains(&v) {
                self.error(refuse, format!("the coupling's post-expression uses `{v}`, which is neither `gx` nor a coupling parameter"), spec.map_or(net_span, |s| s.span));
                return;
            }
        }
        let inputs: Vec<String> = d
            .coupling_inputs
            .iter()
            .filter(|c| !c.local)
            .flat_map(|c| c.symbols().into_iter().map(|s| s.value.clone()))
            .filter(|n| self.syms.kinds.get(n) == Some(&sema::SymbolKind::CouplingInput))
            .collect();
        if inputs.len() < outputs {
            self.error(refuse, format!("{model} has {} global coupling input(s) but the coupling delivers {outputs} value(s) (one per coupling variable: {}); they must match", inputs.len(), cvars.join(", ")), net_span);
            return;
        }
        let inputs: Vec<String> = inputs.into_iter().take(outputs).collect();
        let nodes = if net.node_list.is_empty() {
            ids.iter().map(|i| (i.clone(), vec![])).collect()
        } else {
            net.node_list.iter().map(|n| (n.id.clone(), n.state.iter().map(|(k, v)| (k.value.clone(), *v)).collect())).collect()
        };
        self.net = Some(NetPlan { nodes, edges, params, cvars, pre: pres, post, inputs });
    }

    /// The `Coupling` component type: attached at both ends of an edge (a `Tunnel`), each end
    /// exposing its node's coupling variables; the target end (`role` 1) computes
    /// `weight * pre(x_i, x_j)` from its own node's variables and its peer's.
    fn coupling_type(&mut self, plan: &NetPlan, _sv_names: &[String], span: Span) -> Option<ComponentType> {
        let mut ct = ComponentType::new(COUPLING_TYPE, span);
        ct.description = Some("TVBO coupling: c_i = post(sum_j w_ij * pre(x_i, x_j)); one instance at each end of an edge".into());
        ct.properties.push(Property { name: "weight".into(), dimension: "none".into(), default_value: Some("0".into()), span });
        ct.parameters.push(named("role", "none", span));
        for (p, _) in &plan.params {
            ct.parameters.push(named(&format!("cpl_{p}"), "none", span));
        }
        let req: Vec<String> = plan.cvars.iter().map(|c| self.lems_name(c)).collect();
        for r in &req {
            ct.requirements.push(named(r, "none", span));
        }
        ct.instance_requirements.push(TypedRef { name: "peer".into(), type_name: COUPLING_TYPE.into(), description: None, span });
        let dv = |name: String, value: Option<Expression>, select: Option<String>, exposed: bool| DerivedVariable {
            exposure: exposed.then(|| name.clone()),
            name,
            dimension: "none".into(),
            value,
            select,
            select_span: None,
            reduce: None,
            required: None,
            span,
            dimension_span: span,
            exposure_span: span,
        };
        let mut dvs = Vec::new();
        for (k, r) in req.iter().enumerate() {
            ct.exposures.push(named(&format!("xs_{k}"), "none", span));
            dvs.push(dv(format!("xs_{k}"), Some(self.parse_lems(r, span)?), None, true));
            dvs.push(dv(format!("xj_{k}"), None, Some(format!("peer/xs_{k}")), false));
        }
        for (k, pre) in plan.pre.iter().enumerate() {
            let e = myelin_expr::substitute(pre, &|v| {
                if let Some(m) = v.strip_prefix("x_j_").and_then(|m| m.parse::<usize>().ok()) {
                    return Some(Expr::var(&format!("xj_{m}")));
                }
                if let Some(m) = v.strip_prefix("x_i_").and_then(|m| m.parse::<usize>().ok()) {
                    return req.get(m).map(|r| Expr::var(r));
                }
                plan.params.iter().any(|p| p.0 == v).then(|| Expr::var(&format!("cpl_{v}")))
            });
            let e = Expr::binary(BinaryOp::Mul, Expr::binary(BinaryOp::Mul, Expr::var("role"), Expr::var("weight")), e);
            let value = self.expression(&e, span)?;
            ct.exposures.push(named(&format!("wpre_{k}"), "none", span));
            dvs.push(dv(format!("wpre_{k}"), Some(value), None, true));
        }
        ct.dynamics = Some(myelin_ir::Dynamics {
            simultaneous: false,
            state_variables: vec![],
            derived_variables: dvs,
            conditional_derived_variables: vec![],
            body: Behaviour::default(),
            regimes: vec![],
            kinetic_schemes: vec![],
            span,
        });
        Some(ct)
    }
}

/// `CouplingEdge`: connects `source` to `target` (paths from the network) through a `Tunnel`
/// that attaches `sourceEnd` to the source and `targetEnd` to the target, each seeing the other
/// as `peer`, and sets the edge's weight on both.
fn edge_type(span: Span) -> ComponentType {
    let mut t = ComponentType::new(EDGE_TYPE, span);
    t.parameters.push(named("weight", "none", span));
    t.paths = vec![named("source", "", span), named("target", "", span)];
    for r in ["sourceEnd", "targetEnd"] {
        t.component_references.push(ComponentReference {
            name: r.into(),
            type_name: COUPLING_TYPE.into(),
            local: None,
            description: None,
            span,
        });
    }
    let (value, _) = Expression::lems("weight", span);
    t.structure = Some(Structure {
        items: vec![
            StructureItem::With { instance: Some("source".into()), list: None, index: None, as_name: "a".into(), span },
            StructureItem::With { instance: Some("target".into()), list: None, index: None, as_name: "b".into(), span },
            StructureItem::Tunnel(Tunnel {
                name: "peer".into(),
                end_a: "a".into(),
                end_b: "b".into(),
                component_a: "sourceEnd".into(),
                component_b: "targetEnd".into(),
                assigns: vec![Assign { property: "weight".into(), value, span }],
                span,
            }),
        ],
    });
    t
}

/// Per state variable of `d`, the intensity of its additive noise: its own noise's `sigma`,
/// else the integration's (where its `targets`, if any, name the variable); `None` where there
/// is none. As TVBO's JAX backend reads them. `None` overall (with errors in `diags`) for noise
/// myelin cannot integrate or targets that are not state variables.
pub(crate) fn noise_intensities(exp: &Experiment, d: &tvbo::Dynamics, diags: &mut Diagnostics) -> Option<Vec<Option<f64>>> {
    let global = exp.integration.noise.as_ref();
    let own = d.state_variables.iter().filter_map(|s| s.noise.as_ref());
    let mut ok = true;
    for n in global.into_iter().chain(own) {
        if let Some(what) = &n.unsupported {
            diags.push(
                Diagnostic::error("unsupported-noise", format!("{} is not supported; myelin integrates additive Gaussian white noise", what.value))
                    .at(what.span)
                    .with_note("give the noise as `additive: true` with `parameters: {sigma: {value: ...}}`"),
            );
            ok = false;
        }
    }
    if let Some(g) = global {
        for t in &g.targets {
            if !d.state_variables.iter().any(|s| s.name.value == t.value) {
                diags.push(Diagnostic::error("undefined-symbol", format!("noise target `{}` is not a state variable", t.value)).at(t.span));
                ok = false;
            }
        }
    }
    if !ok {
        return None;
    }
    let sigma_of = |n: Option<&crate::schema::Noise>| n.and_then(|n| n.sigma.as_ref()).map(|x| x.value).filter(|x| *x > 0.0);
    Some(
        d.state_variables
            .iter()
            .map(|s| {
                sigma_of(s.noise.as_ref()).or_else(|| {
                    let g = global?;
                    (g.targets.is_empty() || g.targets.iter().any(|t| t.value == s.name.value)).then(|| sigma_of(Some(g))).flatten()
                })
            })
            .collect(),
    )
}
