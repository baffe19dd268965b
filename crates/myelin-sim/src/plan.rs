//! What each instance has to do per step, once the values that cannot change are known.
//!
//! jLEMS recomputes every derived variable, pulls every requirement and copies every exposure
//! each step. Many of them read only parameters and constants (a channel's Q10 factor, a
//! population's temperature, the reversal potential a requirement brings down): their inputs
//! cannot change, so neither can they. [`Plan::new`] finds those *static* slots (per instance,
//! through requirement and `select` links), and a second, *fast* plan leaves them out, and
//! skips every instance — and whole subtree — that then has nothing left to do.
//!
//! The fast plan is used only once it is safe: the engine steps with the full plan until one
//! step leaves every static slot (and its exposure snapshot) bit for bit as it was. Each
//! static slot is written at most once per step, from static slots only, so from then on
//! every step would write the same bits again; skipping the writes changes nothing.

use crate::build::Simulation;
use crate::bytecode::Program;
use crate::cexpr::CExpr;
use crate::ctype::{CAction, CBehaviour, CType, Derive, SlotKind};
use rustc_hash::FxHashMap;
use std::rc::Rc;

/// The work of one instance in one step.
#[derive(Debug, Default, Clone)]
pub(crate) struct InstPlan {
    /// Indices into the type's `derived`, in order.
    pub(crate) derived: Vec<u32>,
    /// Requirements to pull (linked ones only).
    pub(crate) pulls: Vec<Link>,
    /// Exposed slots copied into the snapshot.
    pub(crate) exposed: Vec<u32>,
    /// Children then population members, in stepping order.
    pub(crate) children: Vec<u32>,
    /// When set, `derived` runs as the `select`s among them (indices into the type's
    /// `derived`), then this one program for all the others (see [`Program::block`]).
    pub(crate) block: Option<(Vec<SelectPlan>, Rc<Program>)>,
    /// The expressions `block` was compiled from, as `(slot, cases)` (see `crate::flat`).
    pub(crate) trees: Option<Rc<[BlockTree]>>,
    /// The instance's kinetic schemes, if any.
    pub(crate) has_schemes: bool,
    /// Whether its type does anything per step (`CType::is_dynamic`).
    pub(crate) dynamic: bool,
    pub(crate) time_slot: u32,
    /// Whether the type has rates or conditions outside regimes.
    pub(crate) has_body: bool,
    /// The type's rates specialized to this instance's parameters, when it has its own.
    pub(crate) rates: Option<Rc<[(u32, crate::bytecode::Code)]>>,
    pub(crate) has_regimes: bool,
}

/// `dst` of this instance takes the value of `slot` of instance `src` as others see it (its
/// exposure snapshot when `shadow`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Link {
    pub(crate) dst: u32,
    pub(crate) src: u32,
    pub(crate) slot: u32,
    pub(crate) shadow: bool,
    /// Where the source value lies in the packed arrays (set by [`Plan::locate`]).
    pub(crate) at: usize,
}

/// A `select` derived variable with its sources resolved.
#[derive(Debug, Clone)]
pub(crate) struct SelectPlan {
    pub(crate) slot: u32,
    pub(crate) reduce: Option<myelin_ir::Reduce>,
    /// (instance, slot, through the snapshot)
    pub(crate) links: Vec<(u32, u32, bool)>,
    /// The same sources as places in the packed arrays (set by [`Plan::locate`]).
    pub(crate) at: Vec<(usize, bool)>,
}

/// Event handlers that only add fixed amounts: (instance, in port) → (slot, amount)s.
pub(crate) type Increments = FxHashMap<(u32, u32), Box<[(u32, f64)]>>;

/// A derived variable's case: (condition, value); no condition is the default.
pub(crate) type Case = (Option<CExpr>, CExpr);

/// A derived variable of a block: its slot and its cases.
pub(crate) type BlockTree = (u32, Vec<Case>);

/// One entry of a step's schedule.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    /// One instance, by the scalar path.
    One(u32),
    /// Instances of one type stepped together by kernel `.0` (see [`crate::vector`]).
    Batch(u32, Vec<u32>),
}

#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// What each plan does per step, in order: the post-order walk, except that the members
    /// of a population that cannot affect each other within a step are stepped level by level,
    /// in batches (see [`schedule`]).
    pub(crate) full_steps: Vec<Step>,
    pub(crate) fast_steps: Vec<Step>,
    pub(crate) kernels: Vec<crate::vector::Kernel>,
    /// Per type and slot: whether the run may write it (anything else that is a parameter
    /// keeps its starting value).
    pub(crate) written: Vec<Vec<bool>>,
    pub(crate) full: Vec<InstPlan>,
    pub(crate) fast: Vec<InstPlan>,
    /// Static computed slots: (instance, slot, exposed). Compared between steps to decide
    /// when the fast plan may take over.
    pub(crate) statics: Vec<(u32, u32, bool)>,
}

fn action_targets(actions: &[CAction], out: &mut Vec<u32>) {
    for a in actions {
        if let CAction::Assign(s, _) = a {
            out.push(*s);
        }
    }
}

fn behaviour_targets(b: &CBehaviour, out: &mut Vec<u32>) {
    out.extend(b.rates.iter().map(|(s, _)| *s));
    for (_, a) in &b.conditions {
        action_targets(a, out);
    }
    for (_, a) in &b.on_events {
        action_targets(a, out);
    }
    action_targets(&b.on_entry, out);
}

impl Plan {
    pub(crate) fn new(sim: &Simulation<'_>) -> Plan {
        let n = sim.insts.len();
        // Slots written while stepping, per type.
        let written: Vec<Vec<u32>> = sim
            .types
            .iter()
            .map(|t| {
                let mut w = vec![t.time_slot];
                behaviour_targets(&t.body, &mut w);
                for r in &t.regimes {
                    behaviour_targets(&r.body, &mut w);
                }
                w
            })
            .collect();
        let mut dynamic: Vec<Vec<bool>> = sim
            .insts
            .iter()
            .map(|inst| {
                let t = &sim.types[inst.ty as usize];
                let mut d: Vec<bool> = t.slot_kinds.iter().map(|k| matches!(k, SlotKind::State | SlotKind::Time)).collect();
                for &s in &written[inst.ty as usize] {
                    d[s as usize] = true;
                }
                d
            })
            .collect();
        for inst in &sim.insts {
            for s in &inst.schemes {
                for &(k, slot) in &s.nodes {
                    dynamic[k as usize][slot as usize] = true;
                }
            }
        }
        // Propagate along expressions and links until nothing changes.
        loop {
            let mut changed = false;
            for i in 0..n {
                let inst = &sim.insts[i];
                let t = &sim.types[inst.ty as usize];
                for (k, &slot) in t.requirements.iter().enumerate() {
                    let (src, s) = inst.req_links[k];
                    if !dynamic[i][slot as usize] && src != u32::MAX && dynamic[src as usize][s as usize] {
                        dynamic[i][slot as usize] = true;
                        changed = true;
                    }
                }
                for d in &t.derived {
                    let (slot, dyn_) = match d {
                        Derive::Expr(slot, e) => (*slot, reads_dynamic(&[e], &dynamic[i])),
                        Derive::Cases(slot, cases) => {
                            let codes: Vec<&crate::bytecode::Code> = cases.iter().flat_map(|(c, v)| c.iter().chain(std::iter::once(v))).collect();
                            (*slot, reads_dynamic(&codes, &dynamic[i]))
                        }
                        Derive::Select(slot, k) => (*slot, inst.select_links[*k].iter().any(|&(j, s)| dynamic[j as usize][s as usize])),
                    };
                    if dyn_ && !dynamic[i][slot as usize] {
                        dynamic[i][slot as usize] = true;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        // Time slots others read (records, links) must stay current.
        let mut time_read = vec![false; n];
        let mut note = |j: u32, s: u32| {
            let t = &sim.types[sim.insts[j as usize].ty as usize];
            if s == t.time_slot {
                time_read[j as usize] = true;
            }
        };
        for inst in &sim.insts {
            for &(j, s) in &inst.req_links {
                if j != u32::MAX {
                    note(j, s);
                }
            }
            for l in &inst.select_links {
                for &(j, s) in l {
                    note(j, s);
                }
            }
            for sc in &inst.schemes {
                for &(_, _, e, f, r) in &sc.edges {
                    note(e, f);
                    note(e, r);
                }
            }
        }
        for cols in &sim.columns {
            for &(j, s, _) in cols {
                note(j, s);
            }
        }
        let mut full = Vec::with_capacity(n);
        let mut fast = Vec::with_capacity(n);
        let mut statics = vec![];
        for (i, inst) in sim.insts.iter().enumerate() {
            let t = &sim.types[inst.ty as usize];
            let dy = &dynamic[i];
            let derived_slot = |d: &Derive| match d {
                Derive::Expr(s, _) | Derive::Cases(s, _) | Derive::Select(s, _) => *s,
            };
            let children: Vec<u32> = inst.children.iter().chain(&inst.multi).copied().collect();
            let link = |k: usize| {
                let (src, slot) = inst.req_links[k];
                (src != u32::MAX).then(|| Link { dst: t.requirements[k], src, slot, shadow: sim.exposed(src, slot), at: 0 })
            };
            full.push(InstPlan {
                derived: (0..t.derived.len() as u32).collect(),
                pulls: (0..t.requirements.len()).filter_map(&link).collect(),
                exposed: t.exposed_slots.clone(),
                children: children.clone(),
                block: None,
                trees: None,
                has_schemes: !inst.schemes.is_empty(),
                dynamic: t.is_dynamic(),
                time_slot: t.time_slot,
                has_body: !t.body.rates.is_empty() || !t.body.conditions.is_empty(),
                rates: None,
                has_regimes: !t.regimes.is_empty(),
            });
            fast.push(InstPlan {
                derived: (0..t.derived.len() as u32).filter(|&k| dy[derived_slot(&t.derived[k as usize]) as usize]).collect(),
                pulls: (0..t.requirements.len()).filter(|&k| dy[t.requirements[k] as usize]).filter_map(link).collect(),
                exposed: t.exposed_slots.iter().copied().filter(|&s| dy[s as usize]).collect(),
                children,
                block: None,
                trees: None,
                has_schemes: !inst.schemes.is_empty(),
                dynamic: t.is_dynamic(),
                time_slot: t.time_slot,
                has_body: !t.body.rates.is_empty() || !t.body.conditions.is_empty(),
                rates: None,
                has_regimes: !t.regimes.is_empty(),
            });
            let mut computed: Vec<u32> = t.derived.iter().map(derived_slot).chain(t.requirements.iter().copied()).filter(|&s| !dy[s as usize]).collect();
            computed.extend(t.exposed_slots.iter().copied().filter(|&s| !dy[s as usize]));
            computed.sort_unstable();
            computed.dedup();
            statics.extend(computed.into_iter().map(|s| (i as u32, s, t.exposed_slots.binary_search(&s).is_ok())));
        }
        // Instances with nothing to do in the fast plan, and subtrees made only of them, are
        // left out of their parents' lists. Children are created after their parents, so a
        // reverse pass sees every child before its parent.
        let mut busy = vec![false; n];
        for i in (0..n).rev() {
            let inst = &sim.insts[i];
            let t = &sim.types[inst.ty as usize];
            let p = &mut fast[i];
            p.children.retain(|&c| busy[c as usize]);
            let own = !inst.schemes.is_empty()
                || !p.exposed.is_empty()
                || (t.is_dynamic()
                    && (!p.derived.is_empty()
                        || !p.pulls.is_empty()
                        || !t.body.rates.is_empty()
                        || !t.body.conditions.is_empty()
                        || !t.regimes.is_empty()
                        || time_read[i]));
            busy[i] = own || !p.children.is_empty();
        }
        // Derived variables as one program per instance (shared by instances that run the
        // same list of the same type). Selects read other instances only, which do not change
        // while this one derives, so they can go first; a select of the instance's own
        // variables keeps the one-by-one order.
        let written_mask: Vec<Vec<bool>> = written
            .iter()
            .zip(&sim.types)
            .map(|(w, t)| {
                // What `OnStart` sets is not known when the plan is made either.
                let mut mask = vec![false; t.len()];
                let mut start = vec![];
                action_targets(&t.on_start, &mut start);
                for &s in w.iter().chain(&start) {
                    mask[s as usize] = true;
                }
                mask
            })
            .collect();
        // Instances of rare types get their own code, with their parameters compiled in.
        let mut count = vec![0usize; sim.types.len()];
        for inst in &sim.insts {
            count[inst.ty as usize] += 1;
        }
        let fixed_values = |i: usize| {
            let inst = &sim.insts[i];
            let t = &sim.types[inst.ty as usize];
            let mask = &written_mask[inst.ty as usize];
            move |slot: u32| {
                let s = slot as usize;
                let param = matches!(t.slot_kinds[s], SlotKind::Parameter | SlotKind::DerivedParameter | SlotKind::Constant | SlotKind::Property);
                (param && !mask[s]).then(|| inst.vars[s])
            }
        };
        let specialize = |i: usize| count[sim.insts[i].ty as usize] <= SPECIALIZE_MAX;
        for plans in [&mut full, &mut fast] {
            for (i, p) in plans.iter_mut().enumerate() {
                if !specialize(i) || sim.spec.method != crate::Method::Euler {
                    continue;
                }
                let t = &sim.types[sim.insts[i].ty as usize];
                if t.body.rates.is_empty() {
                    continue;
                }
                let known = fixed_values(i);
                p.rates = Some(t.body.rates.iter().map(|(slot, e)| (*slot, crate::bytecode::Code::new(e.tree.specialize(&known)))).collect());
            }
        }
        type Compiled = Option<(Rc<Program>, Rc<[BlockTree]>)>;
        let mut cache: FxHashMap<(u32, Vec<u32>), Compiled> = FxHashMap::default();
        for plans in [&mut full, &mut fast] {
            for (i, p) in plans.iter_mut().enumerate() {
                let inst = &sim.insts[i];
                let t = &sim.types[inst.ty as usize];
                let own = p.derived.iter().any(|&d| match &t.derived[d as usize] {
                    Derive::Select(_, k) => inst.select_links[*k].iter().any(|&(j, _)| j as usize == i),
                    _ => false,
                });
                if own || p.derived.is_empty() {
                    continue;
                }
                let block = if specialize(i) {
                    let known = fixed_values(i);
                    block_of(t, &p.derived, Some(&known))
                } else {
                    let key = (inst.ty, p.derived.clone());
                    cache.entry(key).or_insert_with(|| block_of(t, &p.derived, None)).clone()
                };
                if let Some((b, trees)) = block {
                    let selects = p
                        .derived
                        .iter()
                        .filter_map(|&d| match &t.derived[d as usize] {
                            Derive::Select(slot, k) => Some(SelectPlan {
                                slot: *slot,
                                reduce: t.selects[*k].reduce,
                                links: inst.select_links[*k].iter().map(|&(j, s)| (j, s, sim.exposed(j, s))).collect(),
                                at: vec![],
                            }),
                            _ => None,
                        })
                        .collect();
                    p.block = Some((selects, b));
                    p.trees = Some(trees);
                }
            }
        }
        let full_order = post_order(&full, sim.root);
        let fast_order = if busy[sim.root as usize] { post_order(&fast, sim.root) } else { vec![] };
        let mut kernels = Kernels { list: vec![], written: written_mask.clone() };
        let mut full_steps = vec![];
        let mut fast_steps = vec![];
        if sim.spec.method == crate::Method::Euler && sim.batch {
            schedule(sim, &full, sim.root, &mut kernels, &mut full_steps);
            if busy[sim.root as usize] {
                schedule(sim, &fast, sim.root, &mut kernels, &mut fast_steps);
            }
        } else {
            full_steps = full_order.iter().map(|&i| Step::One(i)).collect();
            fast_steps = fast_order.iter().map(|&i| Step::One(i)).collect();
        }
        Plan { full, fast, statics, full_steps, fast_steps, kernels: kernels.list, written: written_mask }
    }

    /// Once the variables are packed (see `Simulation::pack`), where each link's source lies.
    pub(crate) fn locate(&mut self, sim: &Simulation<'_>) {
        for plans in [&mut self.full, &mut self.fast] {
            for p in plans.iter_mut() {
                for l in &mut p.pulls {
                    l.at = sim.insts[l.src as usize].at(l.slot as usize);
                }
                if let Some((selects, _)) = &mut p.block {
                    for sel in selects {
                        sel.at = sel.links.iter().map(|&(j, s, shadow)| (sim.insts[j as usize].at(s as usize), shadow)).collect();
                    }
                }
            }
        }
    }

    /// Event handlers that only add a fixed amount to state variables (a synapse's
    /// `g = g + weight * gbase`), per (instance, in port): (slot, amount), applied without
    /// interpreting the handler. Instances with regimes are left out.
    pub(crate) fn increments(&self, sim: &Simulation<'_>) -> Increments {
        let mut out = FxHashMap::default();
        for (i, inst) in sim.insts.iter().enumerate() {
            let t = &sim.types[inst.ty as usize];
            if !t.regimes.is_empty() || t.body.on_events.is_empty() {
                continue;
            }
            let mask = &self.written[inst.ty as usize];
            let known = |slot: u32| {
                let s = slot as usize;
                let param = matches!(t.slot_kinds[s], SlotKind::Parameter | SlotKind::DerivedParameter | SlotKind::Constant | SlotKind::Property);
                (param && !mask[s]).then(|| sim.vals[inst.at(s)])
            };
            for port in 0..t.in_ports.len() as u32 {
                let mut adds = vec![];
                let mut plain = true;
                for (_, actions) in t.body.on_events.iter().filter(|(p, _)| *p == port) {
                    for a in actions.iter() {
                        let CAction::Assign(slot, e) = a else {
                            plain = false;
                            break;
                        };
                        match e.tree.specialize(&known) {
                            CExpr::Bin(myelin_expr::BinaryOp::Add, l, r) => match (*l, *r) {
                                (CExpr::Slot(x), CExpr::Const(c)) | (CExpr::Const(c), CExpr::Slot(x)) if x == *slot => adds.push((*slot, c)),
                                _ => plain = false,
                            },
                            _ => plain = false,
                        }
                    }
                }
                if plain && !adds.is_empty() {
                    out.insert((i as u32, port), adds.into_boxed_slice());
                }
            }
        }
        out
    }

    /// The current values of the static slots (and their snapshots), as bits.
    pub(crate) fn snapshot(&self, sim: &Simulation<'_>, out: &mut Vec<u64>) {
        out.clear();
        for &(i, s, exposed) in &self.statics {
            let inst = &sim.insts[i as usize];
            out.push(sim.vals[inst.at(s as usize)].to_bits());
            if exposed {
                out.push(sim.shadows[inst.at(s as usize)].to_bits());
            }
        }
    }
}

/// The non-`select` derived variables of `derived` as one block, when it fits the fast
/// evaluator; with `known`, specialized to those slot values (see [`CExpr::specialize`]).
fn block_of(t: &CType, derived: &[u32], known: Option<&dyn Fn(u32) -> Option<f64>>) -> Option<(Rc<Program>, Rc<[BlockTree]>)> {
    let sp = |e: &CExpr| known.map_or_else(|| e.clone(), |k| e.specialize(k));
    let mut items: Vec<BlockTree> = vec![];
    for &d in derived {
        match &t.derived[d as usize] {
            Derive::Expr(slot, e) => items.push((*slot, vec![(None, sp(&e.tree))])),
            Derive::Cases(slot, cases) => items.push((*slot, cases.iter().map(|(c, v)| (c.as_ref().map(|c| sp(&c.tree)), sp(&v.tree))).collect())),
            Derive::Select(..) => {}
        }
    }
    if items.is_empty() {
        return None;
    }
    let refs: Vec<crate::bytecode::BlockItem<'_>> = items.iter().map(|(s, cases)| (*s, cases.iter().map(|(c, v)| (c.as_ref(), v)).collect())).collect();
    let p = Program::block(&refs);
    p.fits().then(|| (Rc::new(p), items.into()))
}

/// Kernels compiled so far, one per batch, and per type the slots the run never writes.
struct Kernels {
    list: Vec<crate::vector::Kernel>,
    written: Vec<Vec<bool>>,
}

/// Types with at most this many instances get code specialized per instance.
const SPECIALIZE_MAX: usize = 16;

/// Fewest instances worth a batch.
const MIN_BATCH: usize = 4;

/// The steps of `root`'s subtree in `plans`, appended to `out`: each instance after its
/// children, as [`post_order`] walks them, except for population members. When no member's
/// subtree can affect another's within a step (no undelayed event between them, no value read
/// across), the order among members does not matter, so they are stepped level by level: the
/// first instance of every member's subtree, then the second, and so on, which lines up
/// instances of the same type for [`crate::vector`].
fn schedule(sim: &Simulation<'_>, plans: &[InstPlan], root: u32, kernels: &mut Kernels, out: &mut Vec<Step>) {
    let inst = &sim.insts[root as usize];
    let p = &plans[root as usize];
    let multi: rustc_hash::FxHashSet<u32> = inst.multi.iter().copied().collect();
    let (members, others): (Vec<u32>, Vec<u32>) = p.children.iter().partition(|c| multi.contains(c));
    for &c in &others {
        schedule(sim, plans, c, kernels, out);
    }
    let subs: Vec<Vec<u32>> = members.iter().map(|&m| post_order(plans, m)).collect();
    if members.len() >= MIN_BATCH && independent(sim, plans, &subs) {
        let depth = subs.iter().map(Vec::len).max().unwrap_or(0);
        for pos in 0..depth {
            let level: Vec<u32> = subs.iter().filter_map(|s| s.get(pos).copied()).collect();
            match batch_kernel(sim, plans, &level, kernels) {
                Some(k) => out.push(Step::Batch(k, level)),
                None => out.extend(level.into_iter().map(Step::One)),
            }
        }
    } else {
        for &m in &members {
            schedule(sim, plans, m, kernels, out);
        }
    }
    out.push(Step::One(root));
}

/// Whether the member subtrees `subs` cannot affect each other within a step.
fn independent(sim: &Simulation<'_>, plans: &[InstPlan], subs: &[Vec<u32>]) -> bool {
    let mut owner: FxHashMap<u32, usize> = FxHashMap::default();
    for (m, s) in subs.iter().enumerate() {
        for &x in s {
            owner.insert(x, m);
        }
    }
    let other = |m: usize, j: u32| owner.get(&j).is_some_and(|&o| o != m);
    subs.iter().enumerate().all(|(m, s)| {
        s.iter().all(|&x| {
            let inst = &sim.insts[x as usize];
            let p = &plans[x as usize];
            !p.has_schemes
                && inst.out.iter().flatten().all(|&(target, _, delay)| delay > 0.0 || !other(m, target))
                && p.pulls.iter().all(|l| !other(m, l.src))
                && inst.select_links.iter().flatten().all(|&(j, _)| !other(m, j))
        })
    })
}

/// The kernel that steps all of `level` at once, when they are enough instances of one type
/// with the same plan shape and a kernel exists for it.
fn batch_kernel(sim: &Simulation<'_>, plans: &[InstPlan], level: &[u32], kernels: &mut Kernels) -> Option<u32> {
    let &first = level.first()?;
    let ty = sim.insts[first as usize].ty;
    let p0 = &plans[first as usize];
    if level.len() < MIN_BATCH || !p0.dynamic || p0.has_regimes || p0.has_schemes {
        return None;
    }
    let t = &sim.types[ty as usize];
    let same = level.iter().all(|&x| {
        let p = &plans[x as usize];
        sim.insts[x as usize].ty == ty
            && p.derived == p0.derived
            && p.exposed == p0.exposed
            && p.pulls.len() == p0.pulls.len()
            && p.pulls.iter().zip(&p0.pulls).all(|(a, b)| a.dst == b.dst)
            // a `select` of the instance's own variables must see them in order
            && sim.insts[x as usize].select_links.iter().flatten().all(|&(j, _)| j != x)
    });
    if !same {
        return None;
    }
    // Parameters the run never writes are read once, or compiled in when every instance has
    // the same value.
    let written = &kernels.written[ty as usize];
    let known = |slot: u32| {
        let s = slot as usize;
        let constant = matches!(t.slot_kinds[s], SlotKind::Parameter | SlotKind::DerivedParameter | SlotKind::Constant | SlotKind::Property);
        if !constant || written[s] {
            return crate::vector::Known::Varies;
        }
        let v0 = sim.insts[first as usize].vars[s];
        if level.iter().all(|&x| sim.insts[x as usize].vars[s].to_bits() == v0.to_bits()) {
            crate::vector::Known::Uniform(v0)
        } else {
            crate::vector::Known::Fixed
        }
    };
    let k = crate::vector::compile(t, &p0.derived, &known)?;
    kernels.list.push(k);
    Some(kernels.list.len() as u32 - 1)
}

/// Every instance below `root` (and `root`), each after its children: the order the tree
/// walk of jLEMS steps them in.
fn post_order(plans: &[InstPlan], root: u32) -> Vec<u32> {
    let mut out = vec![];
    // (instance, next child to visit)
    let mut stack = vec![(root, 0usize)];
    while let Some((i, k)) = stack.pop() {
        match plans[i as usize].children.get(k) {
            Some(&c) => {
                stack.push((i, k + 1));
                stack.push((c, 0));
            }
            None => out.push(i),
        }
    }
    out
}

fn reads_dynamic(codes: &[&crate::bytecode::Code], dynamic: &[bool]) -> bool {
    let mut any = false;
    for c in codes {
        let random = c.tree.visit_slots(&mut |s| any |= dynamic[s as usize]);
        if random {
            return true;
        }
    }
    any
}
