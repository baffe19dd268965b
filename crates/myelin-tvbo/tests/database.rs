//! Every model of TVBO's database (from the reference cache; see scripts/fetch-reference.sh):
//! it loads without errors, and exports to LEMS that myelin's validator accepts, or is refused
//! for a stated reason; its TVBO YAML reads back to the same model.

use myelin_diag::{Diagnostics, SourceMap};
use myelin_tvbo::{Experiment, ExportOptions};
use std::path::{Path, PathBuf};

/// The 54 model files: models/*.yaml|yml and models/neuroml/*.yaml.
fn model_files(db: &Path) -> Vec<PathBuf> {
    let yaml = |n: &str| n.ends_with(".yaml") || n.ends_with(".yml");
    let mut v = myelin_testkit::files_in(&db.join("models"), yaml);
    v.extend(myelin_testkit::files_in(
        &db.join("models").join("neuroml"),
        yaml,
    ));
    v
}

/// Finds a database model by file stem, else by its `name:`.
fn resolver(db: &Path) -> impl Fn(&str) -> Option<(String, String)> + '_ {
    move |name: &str| {
        let files = model_files(db);
        let by_stem = files
            .iter()
            .find(|p| p.file_stem().and_then(|s| s.to_str()) == Some(name));
        let by_name = || {
            files.iter().find(|p| {
                std::fs::read_to_string(p)
                    .is_ok_and(|t| t.lines().any(|l| l.trim_end() == format!("name: {name}")))
            })
        };
        let p = by_stem.or_else(by_name)?;
        Some((p.display().to_string(), std::fs::read_to_string(p).ok()?))
    }
}

fn load(path: &Path, db: &Path) -> (Option<Experiment>, SourceMap, Diagnostics) {
    let mut sources = SourceMap::new();
    let mut diags = Diagnostics::new();
    let text = std::fs::read_to_string(path).expect("readable");
    let resolve = resolver(db);
    let exp = myelin_tvbo::load(
        &path.display().to_string(),
        &text,
        &mut sources,
        &mut diags,
        &resolve,
    );
    (exp, sources, diags)
}

fn render(sources: &SourceMap, diags: &Diagnostics) -> String {
    diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| myelin_diag::render_text(sources, d))
        .collect()
}

/// Models the LEMS export refuses, and the code it gives.
const REFUSED: &[(&str, &str)] = &[
    ("EpileptorCodim3", "unsupported-function"), // atan2
    ("EpileptorCodim3SlowMod", "unsupported-function"), // atan2
    ("ReducedSetFitzHughNagumo", "export-refused"), // array parameters, mode_dot
    ("ReducedSetHindmarshRose", "export-refused"), // array parameters, mode_dot
    ("ZerlautAdaptationFirstOrder", "unsupported-function"), // erfc
    ("ZerlautAdaptationSecondOrder", "unsupported-function"), // erfc
    ("HH_KineticScheme", "export-refused"),      // native NeuroML components
];

#[test]
fn every_model_file_loads_and_exports_or_is_refused_for_a_reason() {
    let Some(db) = myelin_testkit::tvbo_database() else {
        return;
    };
    let files = model_files(&db);
    assert_eq!(files.len(), 54, "TVBO 0.5.3's database has 54 model files");
    let mut failures = Vec::new();
    let mut exported = 0;
    for path in &files {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("")
            .to_string();
        let (exp, sources, mut diags) = load(path, &db);
        let Some(exp) = exp.filter(|_| !diags.has_errors()) else {
            failures.push(format!(
                "{stem} does not load:\n{}",
                render(&sources, &diags)
            ));
            continue;
        };
        let result = myelin_tvbo::to_lems(&exp, &ExportOptions::default(), &mut diags);
        let expected = REFUSED.iter().find(|(n, _)| *n == stem).map(|(_, c)| *c);
        match (result, expected) {
            (Some((model, _)), None) => {
                myelin_check::check(&model, &mut diags);
                if diags.has_errors() {
                    failures.push(format!(
                        "{stem}: the export does not check:\n{}",
                        render(&sources, &diags)
                    ));
                    continue;
                }
                // The XML reads back through the LEMS reader and checks clean too.
                let xml =
                    myelin_lems::write_document(&model, &myelin_lems::WriteOptions { file: None });
                let mut s2 = SourceMap::new();
                let mut d2 = Diagnostics::new();
                let fs = myelin_lems::MemFs::new();
                let back = myelin_lems::load_str(
                    "x.xml",
                    &xml,
                    &myelin_lems::LoadOptions::default(),
                    &fs,
                    &mut s2,
                    &mut d2,
                );
                myelin_check::check(&back.model, &mut d2);
                if d2.has_errors() {
                    failures.push(format!(
                        "{stem}: the written XML does not check:\n{}",
                        render(&s2, &d2)
                    ));
                }
                exported += 1;
            }
            (Some(_), Some(code)) => {
                failures.push(format!("{stem} exported, but should be refused ({code})"))
            }
            (None, Some(code)) => {
                if !diags.iter().any(|d| d.is_error() && d.code == code) {
                    failures.push(format!(
                        "{stem} refused, but not with {code}:\n{}",
                        render(&sources, &diags)
                    ));
                }
            }
            (None, None) => failures.push(format!("{stem} refused:\n{}", render(&sources, &diags))),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(exported, 54 - REFUSED.len());
}

#[test]
fn neuroml_experiments_load_and_export() {
    let Some(db) = myelin_testkit::tvbo_database() else {
        return;
    };
    let files = myelin_testkit::files_in(&db.join("experiments").join("neuroml"), |n| {
        n.ends_with(".yaml")
    });
    assert_eq!(files.len(), 9);
    for path in files {
        let (exp, sources, mut diags) = load(&path, &db);
        assert!(!diags.has_errors(), "{}", render(&sources, &diags));
        let exp = exp.expect("experiment");
        assert!(!exp.bare);
        let (model, names) = myelin_tvbo::to_lems(&exp, &ExportOptions::default(), &mut diags)
            .unwrap_or_else(|| panic!("{}: {}", path.display(), render(&sources, &diags)));
        myelin_check::check(&model, &mut diags);
        assert!(!diags.has_errors(), "{}", render(&sources, &diags));
        // The experiment's integration settings reach the Simulation.
        let sim = model
            .components
            .iter()
            .find(|c| c.id.as_deref() == Some(&names.simulation))
            .expect("simulation");
        let step = exp.integration.step_size.as_ref().expect("step_size").value;
        let unit = exp
            .integration
            .time_scale
            .as_ref()
            .map_or("ms", |t| t.value.as_str());
        assert_eq!(
            sim.attribute("step").map(|a| a.value.to_string()),
            Some(format!("{step}{unit}")),
            "{}",
            path.display()
        );
    }
}

#[test]
fn every_model_reads_back_from_its_yaml() {
    let Some(db) = myelin_testkit::tvbo_database() else {
        return;
    };
    let mut failures = Vec::new();
    for path in model_files(&db) {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("")
            .to_string();
        let (exp, _, _) = load(&path, &db);
        let exp = exp.expect("loads");
        let (yaml, _lost) = myelin_tvbo::write_yaml(&exp);
        let mut sources = SourceMap::new();
        let mut diags = Diagnostics::new();
        let back = myelin_tvbo::load(
            "back.yaml",
            &yaml,
            &mut sources,
            &mut diags,
            &myelin_tvbo::no_resolver,
        );
        let Some(back) = back.filter(|_| !diags.has_errors()) else {
            failures.push(format!(
                "{stem}: the written YAML does not load:\n{}",
                render(&sources, &diags)
            ));
            continue;
        };
        if myelin_tvbo::write_yaml(&back).0 != yaml {
            failures.push(format!(
                "{stem}: writing the YAML read back gives different YAML"
            ));
        }
        let lems = |e: &Experiment| {
            let mut d = Diagnostics::new();
            myelin_tvbo::to_lems(e, &ExportOptions::default(), &mut d).map(|(m, _)| {
                myelin_lems::write_document(&m, &myelin_lems::WriteOptions { file: None })
            })
        };
        if lems(&exp) != lems(&back) {
            failures.push(format!(
                "{stem}: the YAML read back exports to different LEMS"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
