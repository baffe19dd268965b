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

use myelin_diag::{Diagnostic, Diagnostics};
use myelin_ir::Model;

mod components;
mod definitions;
mod neuroml;

pub use myelin_ir::TypeScope;

/// Checks the whole model; appends what it finds to `diags`.
pub fn check(model: &Model, diags: &mut Diagnostics) {
    let ids = components::id_index(model);
    let mut ctx = Ctx { model, diags, units: model.unit_table(), ids };
    definitions::check(&mut ctx);
    components::check(&mut ctx);
    neuroml::check(&mut ctx);
}

pub(crate) struct Ctx<'a> {
    pub(crate) model: &'a Model,
    pub(crate) diags: &'a mut Diagnostics,
    pub(crate) units: myelin_units::UnitTable,
    /// Components by id (see [`components::id_index`]), built once.
    pub(crate) ids: rustc_hash::FxHashMap<&'a str, &'a myelin_ir::Component>,
}

impl Ctx<'_> {
    pub(crate) fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }
}
