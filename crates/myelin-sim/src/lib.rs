//! The simulation engine.
//!
//! [`Simulation::build`] turns a validated [`myelin_ir::Model`] and the id of a LEMS
//! `<Simulation>` component into a tree of instances with LEMS semantics: parameters in SI,
//! children, `Structure` (`ChildInstance`, `MultiInstantiate`, `With` + `EventConnection`,
//! attachments), requirements and `select` paths resolved to slots, event connections with
//! delays, records. [`Simulation::run`] steps it the way jLEMS does: forward Euler, each
//! instance advancing its children first, then itself (derived variables, all rates, the
//! simultaneous update, `OnCondition`s on the new state, then its regime); zero-delay events
//! delivered at once, delayed ones queued; a row recorded after every step.
//!
//! Underneath is a reference interpreter: a tree walk over compiled expressions, no I/O, no
//! unsafe. Three shortcuts make it fast without changing what is computed (see [`Options`]):
//! identical linear synapses on a cell are merged into one instance, the members of a
//! population that cannot affect each other within a step are stepped together by vectorized
//! kernels over their variables, laid out side by side, and the remaining scalar steps run as
//! one flat register program per step. What the engine cannot
//! simulate it refuses with a [`SimError`] naming the construct; it never runs with parts
//! silently ignored.

// Without the JIT nothing here is unsafe; with it, only `jit.rs` is (see there).
#![cfg_attr(not(feature = "jit"), forbid(unsafe_code))]

mod build;
mod bytecode;
mod cexpr;
mod ctype;
mod flat;
#[cfg(feature = "jit")]
mod jit;
mod kinetic;
mod merge;
mod plan;
mod rng;
mod run;
mod vector;

pub use build::{Simulation, SimulationSpec};
pub use run::{EventFile, OutputFile, Sink};

/// How states advance over a step. `Euler` is jLEMS's forward Euler (the default, and the
/// semantics conformance is measured against); `Heun` and `Rk4` are the second- and
/// fourth-order methods TVB users expect, for models whose dynamics read only their own state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    #[default]
    Euler,
    Heun,
    Rk4,
}

impl std::str::FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "euler" => Ok(Method::Euler),
            "heun" => Ok(Method::Heun),
            "rk4" => Ok(Method::Rk4),
            other => Err(format!("unknown method `{other}` (expected euler, heun or rk4)")),
        }
    }
}

/// The engine's shortcuts, all on by default. The first two give jLEMS's results up to the
/// rounding of a different summation order, the third exactly; turning them off gives the
/// plain reference interpreter, for differential testing and for users who want it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Identical linear synapses on one cell (`expOneSynapse` and the like, same parameters
    /// and weight) share one instance that receives all their events (see `merge.rs`).
    pub merge_synapses: bool,
    /// Members of a population that cannot affect each other within a step are stepped
    /// together, type by type, by vectorized kernels (see `vector.rs`).
    pub batch: bool,
    /// Runs of scalar steps are compiled into one register program per step (see
    /// `flat.rs`): the same operations in the same order, without the per-instance
    /// bookkeeping.
    pub flat: bool,
    /// Flat programs are compiled to machine code (when built with the `jit` feature; else
    /// ignored): the same operations, so the same results.
    pub jit: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { merge_synapses: true, batch: true, flat: true, jit: true }
    }
}

impl Options {
    /// No shortcut: one instance per synapse, one instance at a time.
    pub fn reference() -> Self {
        Options { merge_synapses: false, batch: false, flat: false, jit: false }
    }
}

/// Why a model cannot be simulated.
#[derive(Debug, Clone)]
pub struct SimError {
    pub message: String,
    /// Where in the user's files, when known.
    pub span: Option<myelin_diag::Span>,
}

impl SimError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        SimError { message: message.into(), span: None }
    }

    pub(crate) fn at(mut self, span: myelin_diag::Span) -> Self {
        self.span.get_or_insert(span);
        self
    }

    /// As a diagnostic, for rendering with file:line:col.
    pub fn to_diagnostic(&self) -> myelin_diag::Diagnostic {
        myelin_diag::Diagnostic::error("cannot-simulate", self.message.clone()).at_opt(self.span)
    }
}

impl std::fmt::Display for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SimError {}
