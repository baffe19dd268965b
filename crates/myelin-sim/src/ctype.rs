//! Component types compiled for simulation: a slot layout for every variable an instance has,
//! and the dynamics as compiled expressions over those slots.

use crate::bytecode::Code;
use crate::cexpr::{compile, CompileError};
use crate::SimError;
use myelin_ir::{Action, Behaviour, Dynamics, Model, Reduce, TypeScope};
use rustc_hash::FxHashMap;
use std::rc::Rc;

/// What fills a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SlotKind {
    Parameter,
    DerivedParameter,
    Constant,
    Property,
    Requirement,
    State,
    Derived,
    Time,
}

#[derive(Clone, Debug)]
pub(crate) enum CAction {
    Assign(u32, Code),
    /// Send on an out port (index into the type's out ports).
    Emit(u32),
    Transition(u32),
}

/// How a derived variable is computed.
#[derive(Clone, Debug)]
pub(crate) enum Derive {
    Expr(u32, Code),
    /// (value, condition) cases; a missing condition is the default.
    Cases(u32, Vec<(Option<Code>, Code)>),
    /// `select=` a path, reduced when it names several values; the index is into
    /// [`CType::selects`].
    Select(u32, usize),
}

#[derive(Clone, Debug)]
pub(crate) struct Select {
    pub(crate) path: String,
    pub(crate) reduce: Option<Reduce>,
    pub(crate) required: bool,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct CBehaviour {
    pub(crate) rates: Vec<(u32, Code)>,
    pub(crate) conditions: Vec<(Code, Rc<[CAction]>)>,
    /// By in-port index.
    pub(crate) on_events: Vec<(u32, Rc<[CAction]>)>,
    pub(crate) on_entry: Rc<[CAction]>,
}

#[derive(Clone, Debug)]
pub(crate) struct CRegime {
    pub(crate) body: CBehaviour,
}

/// A component type ready to run.
#[derive(Debug)]
pub(crate) struct CType {
    pub(crate) name: String,
    pub(crate) slot_names: Vec<String>,
    pub(crate) slot_kinds: Vec<SlotKind>,
    pub(crate) index: FxHashMap<String, u32>,
    pub(crate) time_slot: u32,
    /// Derived parameters in dependency order.
    pub(crate) derived_parameters: Vec<(u32, Code)>,
    pub(crate) requirements: Vec<u32>,
    pub(crate) derived: Vec<Derive>,
    pub(crate) selects: Vec<Select>,
    pub(crate) body: CBehaviour,
    pub(crate) on_start: Rc<[CAction]>,
    pub(crate) regimes: Vec<CRegime>,
    /// Regime names, known before any action is compiled (transitions name them).
    pub(crate) regime_names: Vec<String>,
    pub(crate) initial_regime: Option<u32>,
    pub(crate) in_ports: Vec<String>,
    pub(crate) out_ports: Vec<String>,
    /// Exposure name → slot.
    pub(crate) exposures: FxHashMap<String, u32>,
    /// Slots other instances and recorders read through the exposure snapshot, which is taken
    /// at the end of the Euler update, before the regime acts (jLEMS's
    /// `synchronizeExposures`).
    pub(crate) exposed_slots: Vec<u32>,
    /// Per slot: whether it is in `exposed_slots`.
    pub(crate) exposed_mask: Vec<bool>,
    pub(crate) kinetic_schemes: Vec<myelin_ir::KineticScheme>,
    pub(crate) simultaneous: bool,
}

impl CType {
    pub(crate) fn slot(&self, name: &str) -> Option<u32> {
        self.index.get(name).copied()
    }

    pub(crate) fn len(&self) -> usize {
        self.slot_names.len()
    }

    /// Whether instances of this type do anything per step.
    pub(crate) fn is_dynamic(&self) -> bool {
        !self.derived.is_empty()
            || !self.body.rates.is_empty()
            || !self.body.conditions.is_empty()
            || !self.regimes.is_empty()
            || !self.kinetic_schemes.is_empty()
    }
}

fn err(ty: &str, what: impl std::fmt::Display) -> SimError {
    SimError::new(format!("component type `{ty}`: {what}"))
}

pub(crate) fn compile_type(model: &Model, name: &str) -> Result<CType, SimError> {
    let scope = TypeScope::new(model, name).ok_or_else(|| SimError::new(format!("unknown component type `{name}`")))?;
    let dynamics = scope.dynamics();
    let mut t = CType {
        name: name.to_string(),
        slot_names: vec![],
        slot_kinds: vec![],
        index: FxHashMap::default(),
        time_slot: 0,
        derived_parameters: vec![],
        requirements: vec![],
        derived: vec![],
        selects: vec![],
        body: CBehaviour::default(),
        on_start: Rc::from(vec![]),
        regimes: vec![],
        regime_names: vec![],
        initial_regime: None,
        in_ports: vec![],
        out_ports: vec![],
        exposures: FxHashMap::default(),
        exposed_slots: vec![],
        exposed_mask: vec![],
        kinetic_schemes: dynamics.map(|d| d.kinetic_schemes.clone()).unwrap_or_default(),
        simultaneous: dynamics.is_some_and(|d| d.simultaneous),
    };
    let add = |t: &mut CType, n: &str, k: SlotKind| {
        if !t.index.contains_key(n) {
            t.index.insert(n.to_string(), t.slot_names.len() as u32);
            t.slot_names.push(n.to_string());
            t.slot_kinds.push(k);
        }
    };
    add(&mut t, "t", SlotKind::Time);
    for p in scope.parameters() {
        add(&mut t, &p.name, SlotKind::Parameter);
    }
    for p in scope.properties() {
        add(&mut t, &p.name, SlotKind::Property);
    }
    for c in scope.constants() {
        add(&mut t, &c.name, SlotKind::Constant);
    }
    for p in scope.derived_parameters() {
        add(&mut t, &p.name, SlotKind::DerivedParameter);
    }
    if let Some(d) = dynamics {
        for s in &d.state_variables {
            add(&mut t, &s.name, SlotKind::State);
        }
        for v in &d.derived_variables {
            add(&mut t, &v.name, SlotKind::Derived);
        }
        for v in &d.conditional_derived_variables {
            add(&mut t, &v.name, SlotKind::Derived);
        }
    }
    for r in scope.requirements() {
        if !t.index.contains_key(&r.name) {
            add(&mut t, &r.name, SlotKind::Requirement);
            let k = t.index[&r.name];
            t.requirements.push(k);
        }
    }
    // Global constants are visible everywhere.
    for c in model.constants.values() {
        add(&mut t, &c.name, SlotKind::Constant);
    }
    t.time_slot = t.index["t"];
    // Ports, base types first (the "first" port of a type is its most basic one).
    for ty in scope.chain.iter().rev() {
        for p in &ty.event_ports {
            let list = match p.direction {
                myelin_ir::PortDirection::In => &mut t.in_ports,
                myelin_ir::PortDirection::Out => &mut t.out_ports,
            };
            if !list.contains(&p.name) {
                list.push(p.name.clone());
            }
        }
    }
    for e in scope.exposures() {
        if let Some(k) = t.slot(&e.name) {
            t.exposures.insert(e.name.clone(), k);
        }
    }
    if let Some(d) = dynamics {
        for s in &d.state_variables {
            if let (Some(x), Some(k)) = (&s.exposure, t.slot(&s.name)) {
                t.exposures.insert(x.clone(), k);
            }
        }
        for v in &d.derived_variables {
            if let (Some(x), Some(k)) = (&v.exposure, t.slot(&v.name)) {
                t.exposures.insert(x.clone(), k);
            }
        }
        for v in &d.conditional_derived_variables {
            if let (Some(x), Some(k)) = (&v.exposure, t.slot(&v.name)) {
                t.exposures.insert(x.clone(), k);
            }
        }
    }
    let mut exposed: Vec<u32> = t.exposures.values().copied().collect();
    exposed.sort_unstable();
    exposed.dedup();
    t.exposed_mask = vec![false; t.slot_names.len()];
    for &s in &exposed {
        t.exposed_mask[s as usize] = true;
    }
    t.exposed_slots = exposed;
    let c = |t: &CType, e: &myelin_ir::Expression| -> Result<Code, SimError> {
        let parsed = e.parsed.as_ref().ok_or_else(|| err(&t.name, format!("expression `{}` did not parse", e.text)))?;
        let folded = myelin_expr::fold_constants(parsed);
        compile(&folded, &|n| t.slot(n)).map(Code::new).map_err(|x| match x {
            CompileError::UnknownSymbol(s) => err(&t.name, format!("`{s}` in `{}` is not defined", e.text)),
            CompileError::Unsupported(s) => err(&t.name, s),
        })
    };
    // Derived parameters, in dependency order.
    let dps: Vec<_> = scope.derived_parameters().collect();
    let mut done: Vec<bool> = vec![false; dps.len()];
    for _ in 0..dps.len() {
        for (k, p) in dps.iter().enumerate() {
            if done[k] {
                continue;
            }
            let deps = p.value.parsed.as_ref().map(|e| e.free_vars()).unwrap_or_default();
            let ready = deps.iter().all(|d| dps.iter().enumerate().all(|(j, q)| q.name != *d || done[j] || j == k));
            if ready {
                let slot = t.slot(&p.name).unwrap_or(0);
                t.derived_parameters.push((slot, c(&t, &p.value)?));
                done[k] = true;
            }
        }
    }
    if let Some(d) = dynamics {
        compile_dynamics(&mut t, d, &c)?;
    }
    Ok(t)
}

/// Builds one derived variable once the variables it reads are placed.
type MakeDerive<'a> = Box<dyn Fn(&mut CType) -> Result<Derive, SimError> + 'a>;

fn compile_dynamics(t: &mut CType, d: &Dynamics, c: &impl Fn(&CType, &myelin_ir::Expression) -> Result<Code, SimError>) -> Result<(), SimError> {
    // Derived variables in dependency order (a variable is computed after those it reads).
    struct Dv<'a> {
        name: &'a str,
        deps: Vec<String>,
        make: MakeDerive<'a>,
    }
    let mut dvs: Vec<Dv<'_>> = vec![];
    for v in &d.derived_variables {
        let slot = t.slot(&v.name).unwrap_or(0);
        if let Some(e) = &v.value {
            let deps = e.parsed.as_ref().map(|x| x.free_vars()).unwrap_or_default();
            dvs.push(Dv { name: &v.name, deps, make: Box::new(move |t: &mut CType| Ok(Derive::Expr(slot, c(t, e)?))) });
        } else if let Some(path) = &v.select {
            let sel = Select { path: path.clone(), reduce: v.reduce, required: v.required.unwrap_or(false) };
            dvs.push(Dv {
                name: &v.name,
                deps: vec![],
                make: Box::new(move |t: &mut CType| {
                    t.selects.push(sel.clone());
                    Ok(Derive::Select(slot, t.selects.len() - 1))
                }),
            });
        }
    }
    for v in &d.conditional_derived_variables {
        let slot = t.slot(&v.name).unwrap_or(0);
        let mut deps = vec![];
        for case in &v.cases {
            deps.extend(case.value.parsed.as_ref().map(|x| x.free_vars()).unwrap_or_default());
            if let Some(cond) = &case.condition {
                deps.extend(cond.parsed.as_ref().map(|x| x.free_vars()).unwrap_or_default());
            }
        }
        dvs.push(Dv {
            name: &v.name,
            deps,
            make: Box::new(move |t: &mut CType| {
                let mut cases = vec![];
                for case in &v.cases {
                    let cond = case.condition.as_ref().map(|x| c(t, x)).transpose()?;
                    cases.push((cond, c(t, &case.value)?));
                }
                Ok(Derive::Cases(slot, cases))
            }),
        });
    }
    let names: Vec<&str> = dvs.iter().map(|d| d.name).collect();
    let mut placed = vec![false; dvs.len()];
    let mut order = vec![];
    for _ in 0..dvs.len() {
        let mut progress = false;
        for k in 0..dvs.len() {
            if placed[k] {
                continue;
            }
            let ready = dvs[k].deps.iter().all(|dep| names.iter().enumerate().all(|(j, n)| *n != dep || placed[j] || j == k));
            if ready {
                placed[k] = true;
                order.push(k);
                progress = true;
            }
        }
        if !progress {
            break;
        }
    }
    // A dependency cycle: keep the declared order for what is left (jLEMS computes those with
    // stale values).
    order.extend((0..dvs.len()).filter(|k| !placed[*k]));
    for k in order {
        let dv = (dvs[k].make)(t)?;
        t.derived.push(dv);
    }
    // Ports and regime names are known; compile behaviour.
    t.regime_names = d.regimes.iter().map(|r| r.name.clone()).collect();
    t.body = compile_behaviour(t, &d.body, c)?;
    let mut on_start = vec![];
    for s in &d.body.on_start {
        on_start.extend(compile_actions(t, &s.actions, c)?);
    }
    t.on_start = on_start.into();
    for (k, r) in d.regimes.iter().enumerate() {
        let body = compile_behaviour(t, &r.body, c)?;
        t.regimes.push(CRegime { body });
        if r.initial {
            t.initial_regime = Some(k as u32);
        }
    }
    if !d.regimes.is_empty() && t.initial_regime.is_none() {
        t.initial_regime = Some(0);
    }
    Ok(())
}

fn compile_behaviour(t: &CType, b: &Behaviour, c: &impl Fn(&CType, &myelin_ir::Expression) -> Result<Code, SimError>) -> Result<CBehaviour, SimError> {
    let mut out = CBehaviour::default();
    for td in &b.time_derivatives {
        let slot = t.slot(&td.variable).ok_or_else(|| err(&t.name, format!("no state variable `{}`", td.variable)))?;
        out.rates.push((slot, c(t, &td.value)?));
    }
    for oc in &b.on_conditions {
        out.conditions.push((c(t, &oc.test)?, compile_actions(t, &oc.actions, c)?.into()));
    }
    for oe in &b.on_events {
        let port = t.in_ports.iter().position(|p| *p == oe.port).ok_or_else(|| err(&t.name, format!("no in port `{}`", oe.port)))?;
        out.on_events.push((port as u32, compile_actions(t, &oe.actions, c)?.into()));
    }
    let mut on_entry = vec![];
    for oe in &b.on_entry {
        on_entry.extend(compile_actions(t, &oe.actions, c)?);
    }
    out.on_entry = on_entry.into();
    Ok(out)
}

fn compile_actions(t: &CType, actions: &[Action], c: &impl Fn(&CType, &myelin_ir::Expression) -> Result<Code, SimError>) -> Result<Vec<CAction>, SimError> {
    let mut out = vec![];
    for a in actions {
        out.push(match a {
            Action::StateAssignment { variable, value, .. } => {
                let slot = t.slot(variable).ok_or_else(|| err(&t.name, format!("no variable `{variable}`")))?;
                CAction::Assign(slot, c(t, value)?)
            }
            Action::EventOut { port, .. } => {
                let k = t.out_ports.iter().position(|p| p == port).ok_or_else(|| err(&t.name, format!("no out port `{port}`")))?;
                CAction::Emit(k as u32)
            }
            Action::Transition { regime, .. } => {
                let k = t.regime_names.iter().position(|r| r == regime).ok_or_else(|| err(&t.name, format!("no regime `{regime}`")))?;
                CAction::Transition(k as u32)
            }
        });
    }
    Ok(out)
}
