//! The validator.
//!
//! [`check`] runs every semantic check on a [`Model`] and reports every problem it finds as a
//! diagnostic pointing into the source: definitions (dimensions, units, component types and
//! what they refer to), expressions (undefined symbols, dimensional consistency of every
//! `TimeDerivative`, `DerivedVariable`, `Case` condition and value, `OnCondition` test and
//! `StateAssignment`), components (known type, known attributes, quantities with units of the
//! right dimension, missing parameters, dangling references, duplicate ids, children that the
//! type does not declare), and NeuroML's own rules (population sizes, segments and segment
//! groups, projections and inputs).
//!
//! The checker never stops at the first problem and never panics on user input.

#![forbid(unsafe_code)]

use myelin_diag::{Diagnostic, Diagnostics};
use myelin_ir::Model;

mod components;
mod definitions;
mod neuroml;

pub use myelin_ir::TypeScope;

/// Checks the whole model; appends what it finds to `diags`.
///
/// The three groups of checks (definitions, components, NeuroML's rules) only read the model, so
/// they run side by side when threads are available; their findings are appended in that order,
/// exactly as one thread would have produced them.
pub fn check(model: &Model, diags: &mut Diagnostics) {
    let units = model.unit_table();
    let run = |part: fn(&mut Ctx<'_>), ids: &components::Ids<'_>| {
        let mut found = Diagnostics::new();
        part(&mut Ctx { model, diags: &mut found, units: &units, ids });
        found
    };
    // Threads pay off only for big models; a failed spawn just means running here. Definitions
    // need no id index, so they are checked while it is built; then components on a helper
    // thread while NeuroML's rules are checked here.
    let found: [Diagnostics; 3] = if model_is_big(model) {
        // `definitions::check` does not look components up by id (it gets an empty index).
        let no_ids = components::Ids::default();
        std::thread::scope(|s| {
            let defs_helper = std::thread::Builder::new().spawn_scoped(s, || run(definitions::check, &no_ids));
            let ids = components::id_index(model);
            let (comps, nml) = std::thread::scope(|s2| {
                let helper = std::thread::Builder::new().spawn_scoped(s2, || run(components::check, &ids));
                let nml = run(neuroml::check, &ids);
                (join_or_run(helper, || run(components::check, &ids)), nml)
            });
            [join_or_run(defs_helper, || run(definitions::check, &no_ids)), comps, nml]
        })
    } else {
        let ids = components::id_index(model);
        [run(definitions::check, &ids), run(components::check, &ids), run(neuroml::check, &ids)]
    };
    for part in found {
        for d in part {
            diags.push(d);
        }
    }
}

/// The result of a helper thread, or of `f` run here when the thread could not be started.
fn join_or_run<T>(helper: std::io::Result<std::thread::ScopedJoinHandle<'_, T>>, f: impl FnOnce() -> T) -> T {
    match helper {
        Ok(h) => h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
        Err(_) => f(),
    }
}

/// Whether a model has enough components for checking in parallel to be worth a thread.
fn model_is_big(model: &Model) -> bool {
    const BIG: usize = 20_000;
    let mut n = model.components.len();
    let mut stack: Vec<&myelin_ir::Component> = model.components.iter().collect();
    while let Some(c) = stack.pop() {
        n += c.children.len();
        if n >= BIG {
            return true;
        }
        stack.extend(c.children.iter().filter(|k| !k.children.is_empty()));
    }
    false
}

pub(crate) struct Ctx<'a> {
    pub(crate) model: &'a Model,
    pub(crate) diags: &'a mut Diagnostics,
    pub(crate) units: &'a myelin_units::UnitTable,
    /// Components by id (see [`components::id_index`]), built once.
    pub(crate) ids: &'a components::Ids<'a>,
}

impl Ctx<'_> {
    pub(crate) fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }
}
