//! Which ComponentType each component element is an instance of.
//!
//! A component's type is, in order: its `type=` attribute; for a nested element, the type of
//! the parent type's `<Child>`/`<Children>` whose name is the element's tag; otherwise the tag
//! itself (NeuroML's `<izhikevich2007Cell ..>`, or `<population>` inside `<network>` matching
//! `<Children name="populations" type="population">` by type).

use myelin_ir::{Component, CompactString, Model};
use rustc_hash::FxHashMap;

/// (parent type, tag) → the type a child element with that tag has. Big networks repeat the
/// same few pairs hundreds of thousands of times.
type Memo = FxHashMap<CompactString, FxHashMap<CompactString, CompactString>>;

pub(crate) fn resolve_component_types(model: &mut Model) {
    let mut components = std::mem::take(&mut model.components);
    let mut memo = Memo::default();
    for c in &mut components {
        // A top-level element's type is its tag; `<Component>` without `type=` stays untyped
        // (the reader reported it).
        if c.type_name.is_empty() && !c.lems_style {
            c.type_name = c.tag.clone();
        }
        resolve_children(model, &mut memo, c);
    }
    model.components = components;
}

/// Types the children of `c` (whose own type is settled), and their children.
fn resolve_children(model: &Model, memo: &mut Memo, c: &mut Component) {
    if c.children.is_empty() {
        return;
    }
    let parent_type = c.type_name.clone();
    // Siblings mostly share a tag (a projection's connections): remember the last answer.
    let mut last: Option<(usize, CompactString)> = None;
    for k in 0..c.children.len() {
        let child = &c.children[k];
        if child.type_name.is_empty() && !child.lems_style {
            let t = match &last {
                Some((j, t)) if c.children[*j].tag == child.tag => t.clone(),
                _ => {
                    let t = child_type(model, memo, &parent_type, &child.tag);
                    last = Some((k, t.clone()));
                    t
                }
            };
            c.children[k].type_name = t;
        }
        resolve_children(model, memo, &mut c.children[k]);
    }
}

/// The type of a child element with `tag` inside a component of type `parent`.
fn child_type(model: &Model, memo: &mut Memo, parent: &str, tag: &str) -> CompactString {
    if !memo.contains_key(parent) {
        memo.insert(parent.into(), FxHashMap::default());
    }
    let by_tag = memo.get_mut(parent).expect("inserted above");
    if let Some(t) = by_tag.get(tag) {
        return t.clone();
    }
    let t = infer(model, tag, Some(parent)).map_or_else(|| tag.into(), CompactString::from);
    by_tag.insert(tag.into(), t.clone());
    t
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
