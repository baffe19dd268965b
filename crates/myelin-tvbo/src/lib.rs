//! The TVBO front end: TVBO YAML in, myelin's model IR out, and TVBO YAML back.
//!
//! [The Virtual Brain Ontology](https://github.com/virtual-twin/tvbo) stores neural mass and
//! spiking models as YAML `Dynamics` (parameters, state variables with SymPy right-hand sides,
//! derived variables, functions, events, coupling inputs) and wraps them in
//! `SimulationExperiment`s (network, coupling, integration settings).
//!
//! - [`load`] reads either kind of file (a bare model becomes an experiment with TVBO's default
//!   integration settings), reading a model that an experiment names from elsewhere through a
//!   caller-supplied [`Resolver`]. Every problem is a diagnostic pointing at `file:line:col`:
//!   YAML syntax, unknown fields (with "did you mean"), wrong value types, unknown units,
//!   unreadable expressions, undefined symbols, unknown functions and wrong argument counts,
//!   cycles, bad event assignments.
//! - [`to_lems`] converts an experiment into a [`myelin_ir::Model`] laid out as TVBO's "LEMS
//!   Export" guide shows (one ComponentType per model, inline dimensions, units and simulation
//!   types, a default instance, a Simulation writing every state variable), with every
//!   quantity dimensionless and rates divided by a time constant `SEC`, so that jLEMS's
//!   dimension check passes for every model. User functions are inlined, derived parameters
//!   substituted, `Piecewise` becomes `ConditionalDerivedVariable`s (nested ones become extra
//!   conditional variables), and functions jLEMS lacks are rewritten exactly with jLEMS's own
//!   or refused with an error naming the function and the model. See [`lems`] for the details.
//! - [`write_yaml`] writes an experiment (or a model) back as TVBO YAML that reads back to the
//!   same model.
//!
//! - [`to_jax`] writes a model as a runnable Python/JAX script (`dfun`, an Euler/Heun/RK4
//!   `jax.lax.scan`), the same output layout as the LEMS export's.
//! - [`builtin`] holds myelin's own model database (TVBO YAML written from the published
//!   equations, compiled in).
//!
//! Like the other front ends, this crate does no I/O: texts come in as strings.

#![forbid(unsafe_code)]

pub mod builtin;
pub mod jax;
pub mod lems;
mod read;
pub mod schema;
mod sema;
mod util;
mod write;
pub mod yaml;

pub use jax::to_jax;
pub use lems::{ExportOptions, Layout, Names, TimeValue, to_lems};
pub use read::Resolver;
pub use schema::*;
pub use write::write_yaml;

use myelin_diag::{Diagnostics, SourceMap};

/// Reads a TVBO file (a model or a simulation experiment) given as text.
///
/// `name` is how messages name the file; it is added to `sources`. A model that the experiment
/// names without defining it (`dynamics: {name: JansenRit}`) is looked up with `resolve`, and its
/// file is added to `sources` too. Returns `None` only when nothing usable could be read (the
/// diagnostics say why); otherwise the experiment, with every problem reported in `diags`.
pub fn load(
    name: &str,
    text: &str,
    sources: &mut SourceMap,
    diags: &mut Diagnostics,
    resolve: Resolver<'_>,
) -> Option<Experiment> {
    let file = sources.add(name, text);
    let root = match yaml::parse(file, text) {
        Ok(n) => n,
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    let exp = read::document(file, text, &root, sources, diags, resolve)?;
    sema::check(&exp.dynamics, diags);
    Some(exp)
}

/// A resolver that finds nothing (for files that define their models inline).
pub fn no_resolver(_: &str) -> Option<(String, String)> {
    None
}
