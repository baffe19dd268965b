//! Which ComponentType each component element is an instance of.
//!
//! A component's type is, in order: its `type=` attribute; for a nested element, the type of
//! the parent type's `<Child>`/`<Children>` whose name is the element's tag; otherwise the tag
//! itself (NeuroML's `<izhikevich2007Cell ..>`, or `<population>` inside `<network>` matching
//! `<Children name="populations" type="population">` by type).

use myelin_ir::{Component, Model};

pub(crate) fn resolve_component_types(model: &mut Model) {
    let mut components = std::mem::take(&mut model.components);
    for c in &mut components {
        resolve(model, c, None);
    }
    model.components = components;
}

fn resolve(model: &Model, c: &mut Component, parent_type: Option<&str>) {
    if c.type_name.is_empty() {
        c.type_name = infer(model, &c.tag, parent_type).unwrap_or_else(|| c.tag.clone());
    }
    let t = c.type_name.clone();
    for k in &mut c.children {
        resolve(model, k, Some(&t));
    }
}

fn infer(model: &Model, tag: &str, parent_type: Option<&str>) -> Option<String> {
    if let Some(p) = parent_type {
        for t in model.type_chain(p) {
            if let Some(decl) = t.children.iter().find(|d| d.name == tag) {
                return Some(decl.type_name.clone());
            }
            if let Some(att) = t.attachments.iter().find(|d| d.name == tag) {
                return Some(att.type_name.clone());
            }
        }
    }
    None
}
