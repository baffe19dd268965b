//! The model IR: what every front end produces and every back end consumes.
//!
//! A [`Model`] is the LEMS view of a model, which is general enough for NeuroML (whose core
//! types are LEMS component types) and TVBO (whose models become component types): dimensions,
//! units, constants, [`ComponentType`] definitions with their dynamics and structure,
//! [`Component`] instances, and the [`Target`] simulation.
//!
//! Every item keeps the [`Span`] it was read from, so later phases (the checker, the engine's
//! lowering) can report problems in the user's file. Expressions are kept both as written and
//! parsed ([`Expression`]). Items are stored in definition order; lookups go through the
//! `IndexMap`s keyed by name or id.
//!
//! This crate is pure data: it does no I/O and has no opinion about validity. The checker
//! (`myelin-check`) decides what is valid; the readers (`myelin-lems`, later TVBO) fill it.

#![forbid(unsafe_code)]

use indexmap::IndexMap;
/// The string type of [`Component`]s and [`Attribute`]s: as big as a `String`, but strings of
/// up to 24 bytes (tags, ids, attribute names and most values) live inline, without a heap
/// allocation. A network has hundreds of thousands of components, so this decides much of the
/// time and memory reading it takes. Derefs to `&str`.
pub use compact_str::CompactString;
pub use myelin_diag::{FileId, Span};
pub use myelin_units::Dimension;

mod scope;
mod types;
pub use scope::{SymbolKind, TypeScope};
pub use types::*;

/// The type name that stands for "any component type" in `<ComponentReference type=..>` and
/// `<Children type=..>` (as in jLEMS).
pub const ANY_TYPE: &str = "Component";

/// The dimension name that stands for "any dimension" (`<Parameter dimension="*">`).
pub const ANY_DIMENSION: &str = "*";

/// Whether a dimension name is the wildcard [`ANY_DIMENSION`].
pub fn is_any_dimension(name: &str) -> bool {
    name == ANY_DIMENSION
}

/// A whole model: the union of the root document and everything it includes.
#[derive(Clone, Debug, Default)]
pub struct Model {
    pub dimensions: IndexMap<String, DimensionDef>,
    pub units: IndexMap<String, UnitDef>,
    /// Global `<Constant>`s (outside any ComponentType).
    pub constants: IndexMap<String, Constant>,
    pub component_types: IndexMap<String, ComponentType>,
    /// Top-level components in document order (NeuroML elements inside `<neuroml>` included).
    pub components: Vec<Component>,
    pub targets: Vec<Target>,
    /// Every document read, in the order it was first included; the root is first.
    pub documents: Vec<Document>,
}

/// One document that contributed to the model.
#[derive(Clone, Debug)]
pub struct Document {
    pub file: FileId,
    /// How the root element was written.
    pub root: RootKind,
    /// The `<Include file=>` / `<include href=>` references as written, in order.
    pub includes: Vec<Include>,
    /// Attributes of the root element as written (namespaces, NeuroML document `id`).
    pub root_attributes: Vec<(String, String)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootKind {
    Lems,
    NeuroML,
}

#[derive(Clone, Debug)]
pub struct Include {
    pub href: String,
    pub span: Span,
    /// The file it resolved to, if the reader found it.
    pub resolved: Option<FileId>,
}

#[derive(Clone, Debug)]
pub struct DimensionDef {
    pub name: String,
    pub dimension: Dimension,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct UnitDef {
    pub symbol: String,
    pub dimension: String,
    pub power: i32,
    pub scale: f64,
    pub offset: f64,
    pub span: Span,
    pub dimension_span: Span,
}

/// `<Target component="sim1" reportFile=.. timesFile=..>`.
#[derive(Clone, Debug)]
pub struct Target {
    pub component: String,
    pub report_file: Option<String>,
    pub times_file: Option<String>,
    pub span: Span,
    pub component_span: Span,
}

/// A component instance, as written and with its resolved type.
///
/// LEMS writes `<Component id="x" type="T" p="1mV">`; NeuroML writes `<T id="x" p="1mV">` or
/// `<childName type="T" ...>` inside a parent. Both end up here: `tag` keeps what was
/// written, `type_name` is the type the reader determined (empty if it could not).
#[derive(Clone, Debug)]
pub struct Component {
    pub id: Option<CompactString>,
    pub tag: CompactString,
    pub type_name: CompactString,
    /// True when written as `<Component ...>` rather than in tag style.
    pub lems_style: bool,
    /// True when `type=` was written explicitly.
    pub explicit_type: bool,
    /// Attributes other than `id` and `type`, in document order.
    pub attributes: Vec<Attribute>,
    pub children: Vec<Component>,
    /// Character content (e.g. of `<notes>`), trimmed; `None` if empty.
    pub text: Option<CompactString>,
    pub span: Span,
    /// The span of the element name, where most diagnostics about the component point.
    pub name_span: Span,
    /// Spans of the `id` and `type` values, when written.
    pub id_span: Option<Span>,
    pub type_span: Option<Span>,
}

#[derive(Clone, Debug)]
pub struct Attribute {
    pub name: CompactString,
    pub value: CompactString,
    /// Span of the attribute name.
    pub name_span: Span,
    /// Span of the value between the quotes.
    pub value_span: Span,
}

impl Component {
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// Depth-first walk over this component and all its descendants.
    pub fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Component)) {
        f(self);
        for c in &self.children {
            c.walk(f);
        }
    }
}

impl Model {
    pub fn component_type(&self, name: &str) -> Option<&ComponentType> {
        self.component_types.get(name)
    }

    /// The chain `name, its parent, grandparent, ...` following `extends`; stops at a cycle or an
    /// unknown type.
    pub fn type_chain<'a>(&'a self, name: &str) -> Vec<&'a ComponentType> {
        let mut out: Vec<&ComponentType> = Vec::new();
        let mut cur = self.component_types.get(name);
        while let Some(t) = cur {
            if out.iter().any(|x| x.name == t.name) {
                break;
            }
            out.push(t);
            cur = t.extends.as_deref().and_then(|p| self.component_types.get(p));
        }
        out
    }

    /// Whether type `name` is `ancestor` or extends it (directly or not). Every type is a
    /// [`ANY_TYPE`].
    pub fn is_a(&self, name: &str, ancestor: &str) -> bool {
        ancestor == ANY_TYPE || self.type_chain(name).iter().any(|t| t.name == ancestor)
    }

    /// Top-level components and all their descendants, depth first.
    pub fn all_components(&self) -> Vec<&Component> {
        let mut out = Vec::new();
        for c in &self.components {
            c.walk(&mut |x| out.push(x));
        }
        out
    }

    /// The unit table built from the `<Unit>` definitions whose dimensions are known.
    pub fn unit_table(&self) -> myelin_units::UnitTable {
        let mut t = myelin_units::UnitTable::new();
        for u in self.units.values() {
            if let Some(d) = self.dimensions.get(&u.dimension) {
                t.insert(myelin_units::Unit {
                    symbol: u.symbol.clone(),
                    dimension: d.dimension,
                    dimension_name: u.dimension.clone(),
                    power: u.power,
                    scale: u.scale,
                    offset: u.offset,
                });
            }
        }
        t
    }

    /// The dimension named `name`; `none` is the dimensionless one even if not declared.
    /// [`ANY_DIMENSION`] (`*`) has no single dimension and gives `None`; check with
    /// [`is_any_dimension`] first.
    pub fn dimension(&self, name: &str) -> Option<Dimension> {
        match self.dimensions.get(name) {
            Some(d) => Some(d.dimension),
            None if name == "none" || name.is_empty() => Some(Dimension::NONE),
            None => None,
        }
    }
}
