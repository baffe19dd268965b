//! myelin's built-in model database: TVBO `Dynamics` written for myelin from the published
//! equations (each file cites its sources under `references`), under TVBO's model names, with
//! TVBO's state variable names and customary default parameter values. The files are
//! `crates/myelin-tvbo/models/<Name>.yaml`, compiled into the binary.

/// One built-in model.
#[derive(Clone, Copy, Debug)]
pub struct BuiltinModel {
    /// TVBO's name for the model (also the file stem).
    pub name: &'static str,
    /// The model as TVBO YAML.
    pub yaml: &'static str,
}

macro_rules! models {
    ($($name:literal),* $(,)?) => {
        &[$(BuiltinModel { name: $name, yaml: include_str!(concat!("../models/", $name, ".yaml")) }),*]
    };
}

/// Every built-in model, in alphabetical order of name.
pub const MODELS: &[BuiltinModel] = models![
    "AdEx",
    "Epileptor",
    "Epileptor2D",
    "FitzHughNagumo",
    "Generic2dOscillator",
    "IaF",
    "Izhikevich",
    "JansenRit",
    "Kuramoto",
    "LarterBreakspear",
    "Linear",
    "MontbrioPazoRoxin",
    "ReducedWongWang",
    "ReducedWongWangExcInh",
    "SupHopf",
    "WilsonCowan",
    "ZetterbergJansen",
];

/// The built-in model of that name (exact, else ignoring case).
pub fn find(name: &str) -> Option<&'static BuiltinModel> {
    MODELS
        .iter()
        .find(|m| m.name == name)
        .or_else(|| MODELS.iter().find(|m| m.name.eq_ignore_ascii_case(name)))
}

impl BuiltinModel {
    /// The name under which messages show the model's file.
    pub fn file_name(&self) -> String {
        format!("<builtin>/{}.yaml", self.name)
    }

    /// One line about the model: the first clause of its `description` and the first work it
    /// cites (`Brette R, Gerstner W (2005)`, `Jirsa VK et al. (2014)`).
    pub fn summary(&self) -> String {
        let desc = top_level(self.yaml, "description").unwrap_or_default();
        let mut first = match desc.find(". ") {
            Some(i) => &desc[..i],
            None => desc.trim_end_matches('.'),
        };
        if let Some(i) = first.find([':', ';']) {
            first = &first[..i];
        }
        if first.len() > 80
            && let Some((i, _)) = first
                .match_indices(", ")
                .take_while(|(i, _)| *i < 80)
                .last()
        {
            first = &first[..i];
        }
        match self.first_reference() {
            Some(r) => format!("{first} [{r}]"),
            None => first.to_string(),
        }
    }

    /// The authors and year of the first entry of `references`.
    fn first_reference(&self) -> Option<String> {
        let mut lines = self.yaml.lines().skip_while(|l| *l != "references:");
        lines.next()?;
        let entry = lines
            .next()?
            .trim()
            .strip_prefix("- ")?
            .trim_matches(['\'', '"']);
        let open = entry.find(" (")?;
        let close = open + entry[open..].find(')')?;
        let authors: Vec<&str> = entry[..open].split(", ").collect();
        let year = &entry[open + 2..close];
        Some(match authors.as_slice() {
            [a] => format!("{a} ({year})"),
            [a, b] => format!("{a}, {b} ({year})"),
            [a, ..] => format!("{a} et al. ({year})"),
            [] => return None,
        })
    }
}

/// The text of a top-level scalar key (plain, or a folded block `>-` on the following indented
/// lines, joined with spaces).
fn top_level(yaml: &str, key: &str) -> Option<String> {
    let mut lines = yaml.lines();
    let prefix = format!("{key}:");
    while let Some(l) = lines.next() {
        let Some(rest) = l.strip_prefix(&prefix) else {
            continue;
        };
        let rest = rest.trim();
        if rest.starts_with('>') || rest.starts_with('|') {
            let mut words = Vec::new();
            for l in lines.by_ref() {
                if !l.starts_with(' ') {
                    break;
                }
                words.push(l.trim());
            }
            return Some(words.join(" "));
        }
        return Some(rest.trim_matches(['\'', '"']).to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_files_and_are_sorted() {
        for w in MODELS.windows(2) {
            assert!(w[0].name.to_lowercase() < w[1].name.to_lowercase());
        }
        for m in MODELS {
            assert!(
                m.yaml.contains(&format!("\nname: {}\n", m.name)),
                "{} names another model",
                m.name
            );
            assert!(
                m.yaml.contains("\nreferences:\n"),
                "{} cites nothing",
                m.name
            );
            assert!(!m.summary().is_empty());
        }
        assert_eq!(find("jansenrit").map(|m| m.name), Some("JansenRit"));
        assert!(find("NoSuchModel").is_none());
    }
}
