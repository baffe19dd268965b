//! Writing an experiment (or a bare model) back as TVBO YAML.
//!
//! What is written is what the reader keeps: the model (names, values, units, domains,
//! equations as written, events, coupling inputs, metadata such as labels and descriptions),
//! and the experiment's id, label, description, node count and integration settings. A model
//! that the experiment named is written inline, so the output stands alone. Strings are
//! double-quoted with JSON escapes (valid YAML), so nothing is misread as a number or boolean.

use crate::schema::*;
use crate::util::format_f64;
use crate::yaml::{Kind, Node};
use std::fmt::Write as _;

/// The YAML text, and what could not be written (one message each).
pub fn write_yaml(exp: &Experiment) -> (String, Vec<String>) {
    let mut w = W {
        out: String::new(),
        lost: Vec::new(),
    };
    if exp.bare {
        w.dynamics(&exp.dynamics, 0);
        return (w.out, w.lost);
    }
    if let Some(id) = &exp.id {
        w.line(0, "id", &scalar_or_string(&id.value));
    }
    w.opt(0, "label", exp.label.as_deref());
    w.opt(0, "description", exp.description.as_deref());
    w.key(0, "dynamics");
    w.dynamics(&exp.dynamics, 1);
    if let Some(net) = &exp.network {
        w.key(0, "network");
        if let Some(n) = &net.number_of_nodes {
            w.line(1, "number_of_nodes", &n.value.to_string());
        } else {
            w.line(1, "number_of_nodes", "1");
        }
        if net.nodes.is_some() || net.edges.is_some() || net.coupling.is_some() {
            w.lost
                .push("the network's nodes, edges and coupling are not written".into());
        }
    }
    if exp.coupling.is_some() {
        w.lost
            .push("the experiment's coupling is not written".into());
    }
    let i = &exp.integration;
    if i.method.is_some()
        || i.step_size.is_some()
        || i.duration.is_some()
        || i.time_scale.is_some()
        || i.transient_time.is_some()
        || i.noise.is_some()
    {
        w.key(0, "integration");
        if let Some(m) = &i.method {
            w.line(1, "method", &quote(&m.value));
        }
        for (k, v) in [
            ("step_size", &i.step_size),
            ("duration", &i.duration),
            ("transient_time", &i.transient_time),
        ] {
            if let Some(v) = v {
                w.line(1, k, &number(v.value));
            }
        }
        if let Some(t) = &i.time_scale {
            w.line(1, "time_scale", &quote(&t.value));
        }
        if let Some(n) = &i.noise {
            w.noise(1, n);
        }
    }
    (w.out, w.lost)
}

struct W {
    out: String,
    lost: Vec<String>,
}

impl W {
    fn indent(&mut self, level: usize) {
        for _ in 0..level {
            self.out.push_str("  ");
        }
    }

    fn key(&mut self, level: usize, key: &str) {
        self.indent(level);
        let _ = writeln!(self.out, "{}:", yaml_key(key));
    }

    fn line(&mut self, level: usize, key: &str, value: &str) {
        self.indent(level);
        let _ = writeln!(self.out, "{}: {value}", yaml_key(key));
    }

    fn opt(&mut self, level: usize, key: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.line(level, key, &quote(v));
        }
    }

    fn equation(&mut self, level: usize, key: &str, eq: &Equation) {
        self.key(level, key);
        self.line(level + 1, "rhs", &quote(&eq.text));
    }

    fn domain(&mut self, level: usize, d: &Domain) {
        let mut parts = Vec::new();
        for (k, v) in [("lo", d.lo), ("hi", d.hi), ("step", d.step)] {
            if let Some(v) = v {
                parts.push(format!("{k}: {}", number(v)));
            }
        }
        if let Some(e) = &d.enforce {
            parts.push(format!("enforce: {}", e.value.as_str()));
        }
        self.line(level, "domain", &format!("{{{}}}", parts.join(", ")));
    }

    /// A noise as the reader keeps it: additive Gaussian with `sigma`, its seed and targets
    /// (what myelin cannot integrate is refused on reading, so it is not written).
    fn noise(&mut self, level: usize, n: &Noise) {
        self.key(level, "noise");
        self.line(level + 1, "additive", "true");
        if let Some(sg) = &n.sigma {
            self.key(level + 1, "parameters");
            self.key(level + 2, "sigma");
            self.line(level + 3, "value", &number(sg.value));
        }
        if let Some(seed) = &n.seed {
            self.line(level + 1, "seed", &seed.value.to_string());
        }
        if !n.targets.is_empty() {
            let names: Vec<String> = n.targets.iter().map(|t| quote(&t.value)).collect();
            self.line(level + 1, "targets", &format!("[{}]", names.join(", ")));
        }
        if let Some(u) = &n.unsupported {
            self.lost.push(format!("the noise's {} is not written", u.value));
        }
    }

    fn dynamics(&mut self, d: &Dynamics, l: usize) {
        self.line(l, "name", &quote(&d.name.value));
        self.opt(l, "iri", d.iri.as_ref().map(|x| x.value.as_str()));
        self.opt(l, "label", d.label.as_deref());
        self.opt(l, "description", d.description.as_deref());
        self.opt(
            l,
            "model_type",
            d.model_type.as_ref().map(|x| x.value.as_str()),
        );
        self.opt(
            l,
            "system_type",
            d.system_type.as_ref().map(|x| x.value.as_str()),
        );
        if let Some(n) = &d.number_of_modes {
            self.line(l, "number_of_modes", &n.value.to_string());
        }
        if !d.parameters.is_empty() {
            self.key(l, "parameters");
            for p in &d.parameters {
                self.key(l + 1, &p.name.value);
                match &p.value {
                    Some(v) => self.line(l + 2, "value", &number(v.value)),
                    None if p.array.is_some() => self.lost.push(format!(
                        "the array value of parameter `{}` is not written",
                        p.name.value
                    )),
                    None => {}
                }
                self.opt(l + 2, "unit", p.unit.as_ref().map(|x| x.value.as_str()));
                if let Some(dm) = &p.domain {
                    self.domain(l + 2, dm);
                }
                self.opt(l + 2, "label", p.label.as_deref());
                self.opt(l + 2, "description", p.description.as_deref());
                if p.value.is_none()
                    && p.unit.is_none()
                    && p.domain.is_none()
                    && p.label.is_none()
                    && p.description.is_none()
                {
                    self.line(l + 2, "value", "null");
                }
            }
        }
        if !d.derived_parameters.is_empty() {
            self.key(l, "derived_parameters");
            for p in &d.derived_parameters {
                self.key(l + 1, &p.name.value);
                if let Some(eq) = &p.equation {
                    self.equation(l + 2, "equation", eq);
                }
                self.opt(l + 2, "unit", p.unit.as_ref().map(|x| x.value.as_str()));
                self.opt(l + 2, "description", p.description.as_deref());
            }
        }
        if !d.functions.is_empty() {
            self.key(l, "functions");
            for f in &d.functions {
                self.key(l + 1, &f.name.value);
                self.opt(l + 2, "definition", f.definition.as_deref());
                self.opt(l + 2, "description", f.description.as_deref());
                if f.arguments.is_empty() {
                    self.line(l + 2, "arguments", "{}");
                } else {
                    self.key(l + 2, "arguments");
                    for a in &f.arguments {
                        self.line(l + 3, &a.value, "{}");
                    }
                }
                if let Some(eq) = &f.equation {
                    self.equation(l + 2, "equation", eq);
                }
            }
        }
        if !d.derived_variables.is_empty() {
            self.key(l, "derived_variables");
            for v in &d.derived_variables {
                self.key(l + 1, &v.name.value);
                if let Some(eq) = &v.equation {
                    self.equation(l + 2, "equation", eq);
                }
                self.opt(l + 2, "unit", v.unit.as_ref().map(|x| x.value.as_str()));
                self.opt(l + 2, "label", v.label.as_deref());
                self.opt(l + 2, "description", v.description.as_deref());
                if v.record {
                    self.line(l + 2, "record", "true");
                }
            }
        }
        if !d.coupling_inputs.is_empty() {
            self.key(l, "coupling_inputs");
            for c in &d.coupling_inputs {
                if !c.local && c.description.is_none() && c.keys.is_empty() {
                    self.line(l + 1, &c.name.value, "{}");
                    continue;
                }
                self.key(l + 1, &c.name.value);
                if c.local {
                    self.line(l + 2, "local", "true");
                }
                if !c.keys.is_empty() {
                    let keys: Vec<String> = c.keys.iter().map(|k| quote(&k.value)).collect();
                    self.line(l + 2, "keys", &format!("[{}]", keys.join(", ")));
                }
                self.opt(l + 2, "description", c.description.as_deref());
            }
        }
        if !d.state_variables.is_empty() {
            self.key(l, "state_variables");
            for s in &d.state_variables {
                self.key(l + 1, &s.name.value);
                if let Some(eq) = &s.equation {
                    self.equation(l + 2, "equation", eq);
                }
                if let Some(v) = &s.initial_value {
                    self.line(l + 2, "initial_value", &number(v.value));
                }
                if let Some(dm) = &s.domain {
                    self.domain(l + 2, dm);
                }
                self.opt(l + 2, "unit", s.unit.as_ref().map(|x| x.value.as_str()));
                self.opt(l + 2, "label", s.label.as_deref());
                self.opt(l + 2, "description", s.description.as_deref());
                for (k, b) in [
                    ("coupling_variable", s.coupling_variable),
                    ("variable_of_interest", s.variable_of_interest),
                    ("record", s.record),
                ] {
                    if b {
                        self.line(l + 2, k, "true");
                    }
                }
                if let Some(n) = &s.noise {
                    self.noise(l + 2, n);
                }
            }
        }
        if !d.events.is_empty() {
            self.key(l, "events");
            for e in &d.events {
                self.key(l + 1, &e.name.value);
                if let Some(c) = &e.condition {
                    self.equation(l + 2, "condition", c);
                }
                if let Some(a) = &e.affect {
                    self.equation(l + 2, "affect", a);
                }
                self.opt(l + 2, "description", e.description.as_deref());
            }
        }
        if let Some(tree) = &d.components_tree {
            self.key(l, "components");
            self.block(l + 1, tree);
        }
        if !d.output.is_empty() {
            let items: Vec<String> = d.output.iter().map(|o| quote(&o.value)).collect();
            self.line(l, "output", &format!("[{}]", items.join(", ")));
        }
    }
}

impl W {
    /// The entries of a mapping node in block style (nested mappings indented, lists and
    /// scalars inline in flow style).
    fn block(&mut self, level: usize, n: &Node) {
        let Kind::Map(entries) = &n.kind else { return };
        for (k, v) in entries {
            let key = match &k.kind {
                Kind::Str(s) => s.clone(),
                _ => flow(k),
            };
            match &v.kind {
                Kind::Map(m) if !m.is_empty() => {
                    self.key(level, &key);
                    self.block(level + 1, v);
                }
                _ => self.line(level, &key, &flow(v)),
            }
        }
    }
}

/// A node in YAML flow style.
fn flow(n: &Node) -> String {
    match &n.kind {
        Kind::Null => "null".into(),
        Kind::Bool(b) => b.to_string(),
        Kind::Int(i) => i.to_string(),
        Kind::Float(f) => number(*f),
        Kind::Str(s) => quote(s),
        Kind::Seq(items) => format!(
            "[{}]",
            items.iter().map(flow).collect::<Vec<_>>().join(", ")
        ),
        Kind::Map(entries) => {
            let parts: Vec<String> = entries
                .iter()
                .map(|(k, v)| {
                    let key = match &k.kind {
                        Kind::Str(s) => yaml_key(s),
                        _ => flow(k),
                    };
                    format!("{key}: {}", flow(v))
                })
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
    }
}

/// A number as YAML reads it back to the same `f64`.
fn number(v: f64) -> String {
    if v.is_nan() {
        ".nan".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        }
    } else {
        let s = format_f64(v);
        // `1e-5` is a string to YAML 1.1 readers (PyYAML, hence TVBO); write it so both read a float.
        if s.contains('e') && !s.contains('.') {
            let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
            let e = if e.starts_with('-') {
                e.to_string()
            } else {
                format!("+{e}")
            };
            format!("{m}.0e{e}")
        } else {
            s
        }
    }
}

/// A double-quoted YAML string (JSON escapes are valid YAML escapes).
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A key, quoted unless it is a plain name YAML cannot misread (`n`, `y`, `on`, `null` and
/// numbers are quoted).
fn yaml_key(k: &str) -> String {
    let plain = k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !matches!(
            k.to_ascii_lowercase().as_str(),
            "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null"
        );
    if plain { k.to_string() } else { quote(k) }
}

/// An experiment id: a bare number when it reads as one, else a quoted string.
fn scalar_or_string(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) {
        s.to_string()
    } else {
        quote(s)
    }
}
