//! Which synapse types may be merged: several identical instances on one target replaced by
//! one instance that receives all their events.
//!
//! A network with 125,000 connections creates 125,000 synapse instances in jLEMS, but when a
//! synapse's dynamics are *linear and homogeneous* in its state (every rate, every derived
//! variable others can see, is a sum of terms each proportional to exactly one state
//! variable), and its event handlers only add state-free increments, then the sum of N such
//! instances with equal parameters obeys the same equations as one instance that receives
//! all N instances' events. The merged instance's exposures are the sums of the originals'
//! (what the post-synaptic cell reduces with `add`), so the cell sees the same currents, up to
//! the rounding of a different summation order. `expOneSynapse`, `expTwoSynapse`,
//! `alphaSynapse` and the like qualify; anything with conditions, regimes, outgoing events,
//! random numbers, children or state-free exposures does not, and is instantiated one per
//! connection as jLEMS does.

use myelin_expr::{BinaryOp, Expr, ExprKind, UnaryOp};
use myelin_ir::{Action, Model, TypeScope};
use rustc_hash::FxHashMap;

/// How an expression depends on the state variables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lin {
    /// Reads no state: the same for every merged instance.
    Free,
    /// A sum of terms each proportional to one state variable (degree one, no constant term).
    Linear,
    /// Anything else.
    Other,
}

struct Classes<'a> {
    states: &'a [String],
    derived: FxHashMap<&'a str, Lin>,
}

impl Classes<'_> {
    fn var(&self, name: &str) -> Lin {
        if self.states.iter().any(|s| s == name) {
            Lin::Linear
        } else {
            self.derived.get(name).copied().unwrap_or(Lin::Free)
        }
    }

    fn of(&self, e: &Expr) -> Lin {
        use Lin::*;
        match &e.kind {
            ExprKind::Num(x) if *x == 0.0 => Free,
            ExprKind::Num(_) | ExprKind::Bool(_) | ExprKind::Const(_) => Free,
            ExprKind::Var(n) => self.var(n),
            ExprKind::Unary(UnaryOp::Neg, a) => self.of(a),
            ExprKind::Unary(_, a) => match self.of(a) {
                Free => Free,
                _ => Other,
            },
            ExprKind::Binary(op, a, b) => {
                let (x, y) = (self.of(a), self.of(b));
                match op {
                    BinaryOp::Add | BinaryOp::Sub => match (x, y) {
                        (Free, Free) => Free,
                        (Linear, Linear) => Linear,
                        _ => Other,
                    },
                    BinaryOp::Mul => match (x, y) {
                        (Free, Free) => Free,
                        (Free, Linear) | (Linear, Free) => Linear,
                        _ => Other,
                    },
                    BinaryOp::Div => match (x, y) {
                        (Free, Free) => Free,
                        (Linear, Free) => Linear,
                        _ => Other,
                    },
                    _ => match (x, y) {
                        (Free, Free) => Free,
                        _ => Other,
                    },
                }
            }
            ExprKind::Call(f, args) => {
                // `random()` differs between instances; any function of state is non-linear.
                if matches!(f, myelin_expr::Func::Random) || args.iter().any(|a| self.of(a) != Free) {
                    Other
                } else {
                    Free
                }
            }
            ExprKind::Piecewise(cases) => {
                if cases.iter().any(|(_, c)| self.of(c) != Free) {
                    return Other;
                }
                same_class(cases.iter().map(|(v, _)| self.of(v)))
            }
        }
    }
}

/// The class of a choice between values (under state-free conditions): free if all are, linear
/// if all are, otherwise neither.
fn same_class(mut values: impl Iterator<Item = Lin>) -> Lin {
    let first = values.next().unwrap_or(Lin::Free);
    if first != Lin::Other && values.all(|k| k == first) { first } else { Lin::Other }
}

/// Whether instances of `type_name` may be merged (see the module documentation).
pub(crate) fn mergeable(model: &Model, type_name: &str) -> bool {
    let Some(scope) = TypeScope::new(model, type_name) else { return false };
    let Some(d) = scope.dynamics() else { return false };
    if d.simultaneous || !d.regimes.is_empty() || !d.kinetic_schemes.is_empty() || !d.body.on_conditions.is_empty() || !d.body.on_entry.is_empty() {
        return false;
    }
    // Children declarations are fine as long as the instance has none (checked where the
    // merge happens); structure that wires events or tunnels is not.
    if scope.chain.iter().any(|t| t.structure.as_ref().is_some_and(|s| !s.items.is_empty())) || scope.attachments().next().is_some() {
        return false;
    }
    let states: Vec<String> = d.state_variables.iter().map(|s| s.name.clone()).collect();
    if states.is_empty() {
        return false;
    }
    let mut cls = Classes { states: &states, derived: FxHashMap::default() };
    // Derived variables in document order may read later ones; iterate to a fixed point,
    // starting from "free" and only ever moving towards `Other`.
    for _ in 0..=d.derived_variables.len() + d.conditional_derived_variables.len() {
        let mut changed = false;
        for v in &d.derived_variables {
            let k = match (&v.value, &v.select) {
                (Some(e), None) => match &e.parsed {
                    Some(p) => cls.of(p),
                    None => Lin::Other,
                },
                _ => Lin::Other, // selects read other instances
            };
            if cls.derived.insert(v.name.as_str(), k) != Some(k) {
                changed = true;
            }
        }
        for v in &d.conditional_derived_variables {
            let conds_free = v.cases.iter().all(|c| c.condition.as_ref().is_none_or(|e| e.parsed.as_ref().is_some_and(|p| cls.of(p) == Lin::Free)));
            let k = if conds_free {
                same_class(v.cases.iter().map(|c| c.value.parsed.as_ref().map_or(Lin::Other, |p| cls.of(p))))
            } else {
                Lin::Other
            };
            if cls.derived.insert(v.name.as_str(), k) != Some(k) {
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    // Everything others can read must add up: state variables and linear derived variables.
    for e in scope.exposures() {
        let exposing = |x: &Option<String>| x.as_deref() == Some(e.name.as_str());
        let class = if d.state_variables.iter().any(|s| exposing(&s.exposure)) {
            Lin::Linear
        } else if let Some(v) = d.derived_variables.iter().find(|v| exposing(&v.exposure)) {
            cls.var(&v.name)
        } else if let Some(v) = d.conditional_derived_variables.iter().find(|v| exposing(&v.exposure)) {
            cls.var(&v.name)
        } else {
            cls.var(&e.name)
        };
        if class != Lin::Linear {
            return false;
        }
    }
    // Rates proportional to the state.
    for td in &d.body.time_derivatives {
        if td.value.parsed.as_ref().map(|p| cls.of(p)) != Some(Lin::Linear) {
            return false;
        }
    }
    // Start from zero (a state set to anything else would be counted once per original).
    for b in &d.body.on_start {
        for a in &b.actions {
            let Action::StateAssignment { value, .. } = a else { return false };
            let zero = value.parsed.as_ref().is_some_and(|p| matches!(myelin_expr::fold_constants(p).kind, ExprKind::Num(x) if x == 0.0));
            if !zero {
                return false;
            }
        }
    }
    // Events add a state-free increment: `s = s + free` or `s = free + s`.
    for h in &d.body.on_events {
        for a in &h.actions {
            let Action::StateAssignment { variable, value, .. } = a else { return false };
            let Some(p) = &value.parsed else { return false };
            let ExprKind::Binary(BinaryOp::Add, l, r) = &p.kind else { return false };
            let is_self = |e: &Expr| matches!(&e.kind, ExprKind::Var(n) if n == variable);
            let ok = (is_self(l) && cls.of(r) == Lin::Free) || (is_self(r) && cls.of(l) == Lin::Free);
            if !ok {
                return false;
            }
        }
    }
    true
}
