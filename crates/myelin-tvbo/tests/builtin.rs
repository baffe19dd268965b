//! myelin's built-in model database: every model loads without a single diagnostic, exports
//! to LEMS that myelin's checker accepts, writes back to TVBO YAML that reads back to the same
//! model, and is what `myelin models` promises (TVBO's names, cited sources).

use myelin_diag::{Diagnostics, SourceMap};
use myelin_tvbo::builtin::{self, MODELS};
use myelin_tvbo::{Experiment, ExportOptions};

fn load(name: &str, text: &str) -> (Option<Experiment>, SourceMap, Diagnostics) {
    let mut sources = SourceMap::new();
    let mut diags = Diagnostics::new();
    let exp = myelin_tvbo::load(
        name,
        text,
        &mut sources,
        &mut diags,
        &myelin_tvbo::no_resolver,
    );
    (exp, sources, diags)
}

fn render(sources: &SourceMap, diags: &Diagnostics) -> String {
    diags
        .iter()
        .map(|d| myelin_diag::render_text(sources, d))
        .collect()
}

#[test]
fn the_issue_lists_them_all() {
    for name in [
        "JansenRit",
        "FitzHughNagumo",
        "Generic2dOscillator",
        "WilsonCowan",
        "Kuramoto",
        "ReducedWongWang",
        "ReducedWongWangExcInh",
        "MontbrioPazoRoxin",
        "Epileptor",
        "Epileptor2D",
        "LarterBreakspear",
        "SupHopf",
        "Linear",
        "ZetterbergJansen",
        "IaF",
        "Izhikevich",
        "AdEx",
    ] {
        assert!(builtin::find(name).is_some(), "{name} is not built in");
    }
}

#[test]
fn every_builtin_loads_clean_and_exports_to_checked_lems() {
    for m in MODELS {
        let (exp, sources, mut diags) = load(&m.file_name(), m.yaml);
        assert!(
            diags.is_empty(),
            "{} does not load clean:\n{}",
            m.name,
            render(&sources, &diags)
        );
        let exp = exp.unwrap_or_else(|| panic!("{}: nothing read", m.name));
        assert_eq!(exp.dynamics.name.value, m.name);
        assert!(exp.bare);
        let (model, names) = myelin_tvbo::to_lems(&exp, &ExportOptions::default(), &mut diags)
            .unwrap_or_else(|| panic!("{} does not export:\n{}", m.name, render(&sources, &diags)));
        myelin_check::check(&model, &mut diags);
        assert!(
            !diags.has_errors(),
            "the LEMS export of {} does not check:\n{}",
            m.name,
            render(&sources, &diags)
        );
        assert_eq!(names.output_file, format!("results/{}.dat", m.name));
        // The written XML reads back and checks too.
        let xml = myelin_lems::write_document(&model, &myelin_lems::WriteOptions { file: None });
        assert!(
            xml.contains(&format!("<ComponentType name=\"{}\"", m.name)),
            "{}",
            m.name
        );
    }
}

#[test]
fn spiking_builtins_export_their_events() {
    for name in ["IaF", "Izhikevich", "AdEx"] {
        let m = builtin::find(name).expect("built in");
        let (exp, _, mut diags) = load(&m.file_name(), m.yaml);
        let exp = exp.expect("loads");
        assert_eq!(exp.dynamics.events.len(), 1, "{name}");
        let (model, _) =
            myelin_tvbo::to_lems(&exp, &ExportOptions::default(), &mut diags).expect("exports");
        let xml = myelin_lems::write_document(&model, &myelin_lems::WriteOptions { file: None });
        assert!(xml.contains("<OnCondition"), "{name}: no OnCondition");
        assert!(
            xml.contains("<EventOut port=\"spike\""),
            "{name}: no EventOut"
        );
    }
}

#[test]
fn every_builtin_writes_back_to_the_same_model() {
    for m in MODELS {
        let (exp, _, _) = load(&m.file_name(), m.yaml);
        let exp = exp.expect("loads");
        let (yaml, lost) = myelin_tvbo::write_yaml(&exp);
        assert!(lost.is_empty(), "{}: lost {lost:?}", m.name);
        let (again, sources, diags) = load("again.yaml", &yaml);
        assert!(
            diags.is_empty(),
            "{} written back does not load clean:\n{}",
            m.name,
            render(&sources, &diags)
        );
        let again = again.expect("reads back");
        let a = &exp.dynamics;
        let b = &again.dynamics;
        let names = |v: &[myelin_tvbo::StateVariable]| {
            v.iter().map(|s| s.name.value.clone()).collect::<Vec<_>>()
        };
        assert_eq!(
            names(&a.state_variables),
            names(&b.state_variables),
            "{}",
            m.name
        );
        assert_eq!(a.parameters.len(), b.parameters.len(), "{}", m.name);
        for (p, q) in a.parameters.iter().zip(&b.parameters) {
            assert_eq!(p.name.value, q.name.value);
            assert_eq!(
                p.value.as_ref().map(|v| v.value),
                q.value.as_ref().map(|v| v.value),
                "{}.{}",
                m.name,
                p.name.value
            );
        }
        for (s, t) in a.state_variables.iter().zip(&b.state_variables) {
            assert_eq!(
                s.equation
                    .as_ref()
                    .and_then(|e| e.parsed.clone())
                    .map(|e| format!("{e:?}").len()),
                t.equation
                    .as_ref()
                    .and_then(|e| e.parsed.clone())
                    .map(|e| format!("{e:?}").len()),
                "{}.{}",
                m.name,
                s.name.value
            );
        }
    }
}

#[test]
fn every_builtin_exports_to_a_jax_script_that_compiles() {
    let dir = std::env::temp_dir().join(format!("myelin-jax-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let python = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok();
    for m in MODELS {
        let (exp, sources, mut diags) = load(&m.file_name(), m.yaml);
        let exp = exp.expect("loads");
        let script = myelin_tvbo::to_jax(&exp, &ExportOptions::default(), &mut diags)
            .unwrap_or_else(|| {
                panic!(
                    "{} does not export to JAX:\n{}",
                    m.name,
                    render(&sources, &diags)
                )
            });
        assert!(
            script.contains("def dfun(state, params, t=0.0):"),
            "{}",
            m.name
        );
        assert!(script.contains("jax.lax.scan"), "{}", m.name);
        assert!(
            script.contains(&format!("MODEL = \"{}\"", m.name)),
            "{}",
            m.name
        );
        if python {
            let path = dir.join(format!("{}.py", m.name));
            std::fs::write(&path, &script).expect("write");
            let out = std::process::Command::new("python3")
                .args(["-m", "py_compile"])
                .arg(&path)
                .output()
                .expect("python3 runs");
            assert!(
                out.status.success(),
                "{}: {}",
                m.name,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
