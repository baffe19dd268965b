//! A component type seen together with everything it inherits through `extends`.

use crate::*;

/// A ComponentType and its ancestors, most derived first.
#[derive(Clone, Debug)]
pub struct TypeScope<'m> {
    pub model: &'m Model,
    pub chain: Vec<&'m ComponentType>,
}

/// What a name used in an expression of a type refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SymbolKind {
    Parameter,
    DerivedParameter,
    Property,
    Constant,
    Requirement,
    StateVariable,
    DerivedVariable,
    Time,
    IndexParameter,
}

impl<'m> TypeScope<'m> {
    pub fn new(model: &'m Model, name: &str) -> Option<Self> {
        let chain = model.type_chain(name);
        (!chain.is_empty()).then_some(TypeScope { model, chain })
    }

    pub fn name(&self) -> &'m str {
        &self.chain[0].name
    }

    fn all<T: 'm>(&self, f: fn(&'m ComponentType) -> &'m [T]) -> impl Iterator<Item = &'m T> + '_ {
        self.chain.iter().flat_map(move |t| f(t).iter())
    }

    pub fn parameters(&self) -> impl Iterator<Item = &'m Named> + '_ {
        self.all(|t| &t.parameters)
    }

    pub fn parameter(&self, name: &str) -> Option<&'m Named> {
        self.parameters().find(|p| p.name == name)
    }

    pub fn fixed(&self, name: &str) -> Option<&'m Fixed> {
        self.all(|t| &t.fixed).find(|f| f.parameter == name)
    }

    pub fn derived_parameters(&self) -> impl Iterator<Item = &'m DerivedParameter> + '_ {
        self.all(|t| &t.derived_parameters)
    }

    pub fn properties(&self) -> impl Iterator<Item = &'m Property> + '_ {
        self.all(|t| &t.properties)
    }

    pub fn index_parameters(&self) -> impl Iterator<Item = &'m Named> + '_ {
        self.all(|t| &t.index_parameters)
    }

    pub fn constants(&self) -> impl Iterator<Item = &'m Constant> + '_ {
        self.all(|t| &t.constants)
    }

    pub fn exposures(&self) -> impl Iterator<Item = &'m Named> + '_ {
        self.all(|t| &t.exposures)
    }

    pub fn requirements(&self) -> impl Iterator<Item = &'m Named> + '_ {
        self.all(|t| &t.requirements)
    }

    pub fn texts(&self) -> impl Iterator<Item = &'m Named> + '_ {
        self.all(|t| &t.texts)
    }

    pub fn paths(&self) -> impl Iterator<Item = &'m Named> + '_ {
        self.all(|t| &t.paths)
    }

    pub fn links(&self) -> impl Iterator<Item = &'m TypedRef> + '_ {
        self.all(|t| &t.links)
    }

    pub fn component_references(&self) -> impl Iterator<Item = &'m ComponentReference> + '_ {
        self.all(|t| &t.component_references)
    }

    pub fn children(&self) -> impl Iterator<Item = &'m ChildDecl> + '_ {
        self.all(|t| &t.children)
    }

    pub fn attachments(&self) -> impl Iterator<Item = &'m TypedRef> + '_ {
        self.all(|t| &t.attachments)
    }

    pub fn event_ports(&self) -> impl Iterator<Item = &'m EventPort> + '_ {
        self.all(|t| &t.event_ports)
    }

    pub fn component_requirements(&self) -> impl Iterator<Item = &'m Named> + '_ {
        self.all(|t| &t.component_requirements)
    }

    pub fn instance_requirements(&self) -> impl Iterator<Item = &'m TypedRef> + '_ {
        self.all(|t| &t.instance_requirements)
    }

    /// The dynamics in force: the most derived type's own, else the nearest ancestor's.
    pub fn dynamics(&self) -> Option<&'m Dynamics> {
        self.chain.iter().find_map(|t| t.dynamics.as_ref())
    }

    /// The dimension name of a symbol usable in this type's expressions, and what it is.
    pub fn symbol(&self, name: &str) -> Option<(SymbolKind, &'m str)> {
        if name == "t" {
            return Some((SymbolKind::Time, "time"));
        }
        if let Some(p) = self.parameter(name) {
            return Some((SymbolKind::Parameter, &p.dimension));
        }
        if let Some(p) = self.derived_parameters().find(|p| p.name == name) {
            return Some((SymbolKind::DerivedParameter, &p.dimension));
        }
        if let Some(p) = self.properties().find(|p| p.name == name) {
            return Some((SymbolKind::Property, &p.dimension));
        }
        if let Some(c) = self.constants().find(|c| c.name == name) {
            return Some((SymbolKind::Constant, &c.dimension));
        }
        if let Some(r) = self.requirements().find(|r| r.name == name) {
            return Some((SymbolKind::Requirement, &r.dimension));
        }
        if let Some(p) = self.index_parameters().find(|p| p.name == name) {
            return Some((SymbolKind::IndexParameter, &p.dimension));
        }
        if let Some(d) = self.dynamics() {
            if let Some(s) = d.state_variables.iter().find(|s| s.name == name) {
                return Some((SymbolKind::StateVariable, &s.dimension));
            }
            if let Some(v) = d.derived_variables.iter().find(|v| v.name == name) {
                return Some((SymbolKind::DerivedVariable, &v.dimension));
            }
            if let Some(v) = d.conditional_derived_variables.iter().find(|v| v.name == name) {
                return Some((SymbolKind::DerivedVariable, &v.dimension));
            }
        }
        if let Some(c) = self.model.constants.get(name) {
            return Some((SymbolKind::Constant, &c.dimension));
        }
        None
    }

    /// Every symbol name usable in expressions (for suggestions).
    pub fn symbol_names(&self) -> Vec<&'m str> {
        let mut v: Vec<&str> = vec![];
        v.extend(self.parameters().map(|p| p.name.as_str()));
        v.extend(self.derived_parameters().map(|p| p.name.as_str()));
        v.extend(self.properties().map(|p| p.name.as_str()));
        v.extend(self.constants().map(|p| p.name.as_str()));
        v.extend(self.requirements().map(|p| p.name.as_str()));
        if let Some(d) = self.dynamics() {
            v.extend(d.state_variables.iter().map(|p| p.name.as_str()));
            v.extend(d.derived_variables.iter().map(|p| p.name.as_str()));
            v.extend(d.conditional_derived_variables.iter().map(|p| p.name.as_str()));
        }
        v
    }

    /// Whether the type declares a child, children or attachments called `name`.
    pub fn has_child_slot(&self, name: &str) -> bool {
        self.children().any(|c| c.name == name) || self.attachments().any(|a| a.name == name)
    }
}
