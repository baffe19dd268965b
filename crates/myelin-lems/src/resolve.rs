//! Which ComponentType each component element is an instance of.
//!
//! A component's type is, in order: its `type=` attribute; for a nested element, the type of
//! the parent type's `<Child>`/`<Children>` whose name is the element's tag; otherwise the tag
//! itself (NeuroML's `<izhikevich2007Cell ..>`, or `<population>` inside `<network>` matching
//! `<Children name="populations" type="population">` by type).

use myelin_ir::{Component, Model};
use rustc_hash::FxHashMap;

/// (parent type, tag) → the type a child element with that tag has. Big networks repeat the
/// same few pairs hundreds of thousands of times.
type Memo = FxHashMap<String, FxHashMap<String, String>>;

pub(crate) fn resolve_component_types(model: &mut Model) {
    let mut components = std::mem::take(&mut model.components);
    let mut memo = Memo::default();
    for c in &mut components {
        resolve(model, &mut memo, c, None);
    }
    model.components = components;
}

fn resolve(model: &Model, memo: &mut Memo, c: &mut Component, parent_type: Option<&str>) {
    // `<Component>` without `type=` stays untyped (the reader reported it).
    if c.type_name.is_empty() && !c.lems_style {
        c.type_name = match parent_type {
            Some(p) => {
                if !memo.contains_key(p) {
                    memo.insert(p.to_string(), FxHashMap::default());
                }
                let by_tag = memo.get_mut(p).expect("inserted above");
                match by_tag.get(&c.tag) {
                    Some(t) => t.clone(),
                    None => {
                        let t = infer(model, &c.tag, Some(p)).unwrap_or_else(|| c.tag.clone());
                        by_tag.insert(c.tag.clone(), t.clone());
                        t
                    }
                }
            }
            None => c.tag.clone(),
        };
    }
    if c.children.is_empty() {
        return;
    }
    let t = c.type_name.clone();
    for k in &mut c.children {
        resolve(model, memo, k, Some(&t));
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
