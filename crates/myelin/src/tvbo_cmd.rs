//! TVBO YAML on the command line: `myelin export`, and YAML files for `validate`, `write` and
//! `run` (which see the model's LEMS form).

use crate::{EXIT_INVALID, EXIT_OK, EXIT_UNUSABLE};
use clap::ValueEnum;
use myelin_diag::{Diagnostic, Diagnostics, SourceMap};
use myelin_tvbo::{Experiment, ExportOptions, Layout, TimeValue};
use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// What `myelin export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Target {
    /// LEMS XML that jNeuroML runs.
    Lems,
    /// TVBO YAML.
    Yaml,
    /// A runnable Python script with JAX (`dfun`, an Euler/Heun/RK4 `jax.lax.scan`) that
    /// writes results/<Model>.dat like the LEMS export.
    Jax,
}

pub(crate) struct ExportArgs {
    pub(crate) file: PathBuf,
    pub(crate) to: Target,
    pub(crate) split: bool,
    pub(crate) output: Option<PathBuf>,
    pub(crate) duration: Option<String>,
    pub(crate) dt: Option<String>,
}

/// Whether a path names a YAML file (by extension).
pub(crate) fn is_yaml(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

/// The built-in model that `path` names: a bare name (no directory, no extension) of a model in
/// myelin's database, when no file of that name exists (a path that exists wins).
pub(crate) fn builtin_named(path: &Path) -> Option<&'static myelin_tvbo::builtin::BuiltinModel> {
    if path.exists() || path.components().count() != 1 || path.extension().is_some() {
        return None;
    }
    myelin_tvbo::builtin::find(path.to_str()?)
}

/// Whether a command-line path is TVBO input: a YAML file, or the name of a built-in model.
pub(crate) fn is_tvbo(path: &Path) -> bool {
    is_yaml(path) || builtin_named(path).is_some()
}

/// Finds the file of a model that an experiment names: `$MYELIN_TVBO_DATABASE/models`, then
/// `models/` (and `models/neuroml/`) beside the experiment or in any directory above it (an
/// experiment inside TVBO's database tree finds the database's models), then the reference cache
/// that `scripts/fetch-reference.sh` fills. A file is found by its stem, else by its `name:`;
/// failing both, myelin's built-in model of that name.
fn resolver(file: &Path) -> impl Fn(&str) -> Option<(String, String)> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(db) = std::env::var_os("MYELIN_TVBO_DATABASE") {
        dirs.push(PathBuf::from(db).join("models"));
    }
    let start = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let start = if start.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        start
    };
    dirs.push(start.clone());
    for a in start.ancestors() {
        dirs.push(a.join("models"));
    }
    let cache = match std::env::var_os("MYELIN_CACHE") {
        Some(c) => PathBuf::from(c),
        None => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default()
            .join(".cache")
            .join("myelin"),
    };
    dirs.push(cache.join("tvbo").join("database").join("models"));
    let mut all: Vec<PathBuf> = Vec::new();
    for d in dirs {
        all.push(d.join("neuroml"));
        all.push(d);
    }
    // Search plain model directories before their `neuroml/` subdirectories.
    all.sort_by_key(|d| d.ends_with("neuroml"));
    move |name: &str| {
        for d in &all {
            for ext in ["yaml", "yml"] {
                let p = d.join(format!("{name}.{ext}"));
                if let Ok(text) = std::fs::read_to_string(&p) {
                    return Some((p.display().to_string(), text));
                }
            }
        }
        for d in &all {
            let Ok(rd) = std::fs::read_dir(d) else {
                continue;
            };
            let mut files: Vec<PathBuf> = rd
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| is_yaml(p))
                .collect();
            files.sort();
            for p in files {
                let Ok(text) = std::fs::read_to_string(&p) else {
                    continue;
                };
                if text
                    .lines()
                    .any(|l| l.trim_end() == format!("name: {name}"))
                {
                    return Some((p.display().to_string(), text));
                }
            }
        }
        myelin_tvbo::builtin::find(name).map(|m| (m.file_name(), m.yaml.to_string()))
    }
}

fn read_experiment(
    file: &Path,
    sources: &mut SourceMap,
    diags: &mut Diagnostics,
) -> Result<Option<Experiment>, myelin_lems::Unusable> {
    if let Some(m) = builtin_named(file) {
        let resolve = resolver(file);
        return Ok(myelin_tvbo::load(
            &m.file_name(),
            m.yaml,
            sources,
            diags,
            &resolve,
        ));
    }
    let text = std::fs::read_to_string(file).map_err(|e| myelin_lems::Unusable {
        path: file.to_path_buf(),
        message: match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            _ => e.to_string(),
        },
    })?;
    let resolve = resolver(file);
    Ok(myelin_tvbo::load(
        &file.display().to_string(),
        &text,
        sources,
        diags,
        &resolve,
    ))
}

/// Loads a TVBO file as the LEMS model its export would write, and checks that model.
/// Problems that only stop the LEMS export are errors when `for_lems`, warnings otherwise
/// (`myelin validate`: the TVBO file itself is valid). `dt` is the step the model will run
/// with when it is not the experiment's own (`myelin run --dt`): the noise scales with it.
pub(crate) fn load_and_check(
    file: &Path,
    sources: &mut SourceMap,
    diags: &mut Diagnostics,
    for_lems: bool,
    dt: Option<&str>,
) -> Result<myelin_lems::Loaded, myelin_lems::Unusable> {
    let exp = read_experiment(file, sources, diags)?;
    let mut model = myelin_ir::Model::default();
    let root = myelin_diag::FileId(0);
    if let Some(exp) = exp
        && !diags.has_errors()
    {
        let mut export_diags = Diagnostics::new();
        let mut opts = ExportOptions::default();
        if let Some(dt) = dt {
            let unit = exp.integration.time_scale.as_ref().map_or(myelin_tvbo::defaults::TIME_SCALE, |t| t.value.as_str());
            // A bad value is reported where `myelin run` reads `--dt`.
            opts.dt = parse_time(dt, unit).ok();
        }
        match myelin_tvbo::to_lems(&exp, &opts, &mut export_diags) {
            Some((m, _)) => {
                myelin_check::check(&m, &mut export_diags);
                model = m;
            }
            None if !for_lems => {
                for d in export_diags.into_vec() {
                    if d.is_error() {
                        let mut w = Diagnostic::warning(
                            d.code,
                            format!("cannot be exported to LEMS: {}", d.message),
                        )
                        .at_opt(d.span);
                        w.notes = d.notes;
                        diags.push(w);
                    } else {
                        diags.push(d);
                    }
                }
                export_diags = Diagnostics::new();
            }
            None => {}
        }
        diags.extend(export_diags.into_vec());
    }
    diags.sort();
    Ok(myelin_lems::Loaded {
        model,
        root,
        paths: HashMap::from([(root, file.to_path_buf())]),
    })
}

fn print_diags(sources: &SourceMap, diags: &Diagnostics) {
    for d in diags.iter() {
        eprint!("{}", myelin_diag::render_text(sources, d));
    }
}

/// Reads `50ms`, `0.05 s`, `10us` or a bare number (in the experiment's time unit).
fn parse_time(s: &str, default_unit: &str) -> Result<TimeValue, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a time (write e.g. 50ms, 0.1ms or 1s)"))?;
    let unit = unit.trim();
    let unit = if unit.is_empty() { default_unit } else { unit };
    if !myelin_tvbo::TIME_SCALES.iter().any(|(u, _)| *u == unit) {
        return Err(format!(
            "unknown time unit `{unit}` in `{s}` (use s, ms or us)"
        ));
    }
    if !(value > 0.0 && value.is_finite()) {
        return Err(format!("`{s}` must be a positive time"));
    }
    Ok(TimeValue {
        value,
        unit: unit.to_string(),
    })
}

/// `ses-<id>_desc-<label>`, as TVBO names exported files.
fn file_prefix(exp: &Experiment) -> String {
    let id = exp.id.as_ref().map_or("1".to_string(), |i| i.value.clone());
    let id: String = id.chars().filter(char::is_ascii_alphanumeric).collect();
    let desc = exp
        .dynamics
        .label
        .clone()
        .unwrap_or_else(|| exp.dynamics.name.value.clone());
    let desc: String = desc.chars().filter(char::is_ascii_alphanumeric).collect();
    format!(
        "ses-{}_desc-{}",
        if id.is_empty() { "1" } else { &id },
        if desc.is_empty() { "model" } else { &desc }
    )
}

fn write_out(path: &Path, text: &str) -> Result<(), u8> {
    crate::write_atomically(path, text.as_bytes()).map_err(|e| {
        eprintln!("error[write-failed]: cannot write {}: {e}", path.display());
        EXIT_UNUSABLE
    })
}

/// jNeuroML stops when the directory of an output file is missing: say so when it is.
fn results_note(lems_dir: &Path, output_file: &str) {
    let lems_dir = if lems_dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        lems_dir
    };
    if let Some(parent) = Path::new(output_file).parent()
        && !lems_dir.join(parent).is_dir()
    {
        eprintln!(
            "note: the simulation writes {output_file} relative to the LEMS file; create {} before running it with jNeuroML",
            lems_dir.join(parent).display()
        );
    }
}

pub(crate) fn export(args: ExportArgs) -> u8 {
    match export_inner(args) {
        Ok(()) => EXIT_OK,
        Err(code) => code,
    }
}

fn export_inner(args: ExportArgs) -> Result<(), u8> {
    if !is_tvbo(&args.file) {
        eprintln!(
            "error[bad-input]: {}: `myelin export` reads TVBO YAML (.yaml or .yml) or the name of a built-in model (see `myelin models`)",
            args.file.display()
        );
        return Err(EXIT_UNUSABLE);
    }
    if args.split && args.to != Target::Lems {
        eprintln!("error[bad-arguments]: --split applies to --to lems only");
        return Err(EXIT_UNUSABLE);
    }
    if args.split && args.output.is_none() {
        eprintln!(
            "error[bad-arguments]: --split writes three files: give the directory with -o DIR"
        );
        return Err(EXIT_UNUSABLE);
    }
    let mut sources = SourceMap::new();
    let mut diags = Diagnostics::new();
    let exp = match read_experiment(&args.file, &mut sources, &mut diags) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error[unreadable]: cannot read {e}");
            return Err(EXIT_UNUSABLE);
        }
    };
    diags.sort();
    print_diags(&sources, &diags);
    let Some(exp) = exp.filter(|_| !diags.has_errors()) else {
        eprintln!("{}: invalid; nothing written", args.file.display());
        return Err(EXIT_INVALID);
    };
    if args.to == Target::Yaml {
        let (yaml, lost) = myelin_tvbo::write_yaml(&exp);
        for l in lost {
            eprintln!("warning[yaml-lost]: {l}");
        }
        return match &args.output {
            None => {
                let _ = std::io::stdout().lock().write_all(yaml.as_bytes());
                Ok(())
            }
            Some(p) => write_out(p, &yaml),
        };
    }
    let time_unit = exp
        .integration
        .time_scale
        .as_ref()
        .map_or(myelin_tvbo::defaults::TIME_SCALE, |t| t.value.as_str())
        .to_string();
    let mut opts = ExportOptions::default();
    for (arg, slot) in [
        (&args.duration, &mut opts.duration),
        (&args.dt, &mut opts.dt),
    ] {
        if let Some(s) = arg {
            match parse_time(s, &time_unit) {
                Ok(t) => *slot = Some(t),
                Err(m) => {
                    eprintln!("error[bad-arguments]: {m}");
                    return Err(EXIT_UNUSABLE);
                }
            }
        }
    }
    if args.to == Target::Jax {
        let mut jax_diags = Diagnostics::new();
        let script = myelin_tvbo::to_jax(&exp, &opts, &mut jax_diags);
        jax_diags.sort();
        print_diags(&sources, &jax_diags);
        let Some(script) = script.filter(|_| !jax_diags.has_errors()) else {
            eprintln!(
                "{}: cannot be exported to JAX; nothing written",
                args.file.display()
            );
            return Err(EXIT_INVALID);
        };
        return match &args.output {
            None => {
                let _ = std::io::stdout().lock().write_all(script.as_bytes());
                Ok(())
            }
            Some(p) => write_out(p, &script),
        };
    }
    let prefix = file_prefix(&exp);
    let roles = ["dynamics", "network", "simulation"];
    let names: [String; 3] = roles.map(|r| format!("{prefix}_{r}.xml"));
    if args.split {
        let files = names.clone().map(|n| sources.add(n, String::new()));
        opts.layout = Layout::Split {
            files,
            names: names.clone(),
        };
    }
    let mut export_diags = Diagnostics::new();
    let result = myelin_tvbo::to_lems(&exp, &opts, &mut export_diags);
    if let Some((model, _)) = &result {
        myelin_check::check(model, &mut export_diags);
    }
    export_diags.sort();
    print_diags(&sources, &export_diags);
    let Some((model, names_out)) = result.filter(|_| !export_diags.has_errors()) else {
        eprintln!(
            "{}: cannot be exported to LEMS; nothing written",
            args.file.display()
        );
        return Err(EXIT_INVALID);
    };
    match (&opts.layout, &args.output) {
        (Layout::Monolithic, None) => {
            let xml =
                myelin_lems::write_document(&model, &myelin_lems::WriteOptions { file: None });
            let _ = std::io::stdout().lock().write_all(xml.as_bytes());
        }
        (Layout::Monolithic, Some(p)) => {
            let xml =
                myelin_lems::write_document(&model, &myelin_lems::WriteOptions { file: None });
            write_out(p, &xml)?;
            results_note(p.parent().unwrap_or(Path::new(".")), &names_out.output_file);
        }
        (Layout::Split { files, names }, Some(dir)) => {
            if let Err(e) = std::fs::create_dir_all(dir) {
                eprintln!("error[write-failed]: cannot create {}: {e}", dir.display());
                return Err(EXIT_UNUSABLE);
            }
            let mut written = Vec::new();
            for (f, n) in files.iter().zip(names) {
                let xml = myelin_lems::write_document(
                    &model,
                    &myelin_lems::WriteOptions { file: Some(*f) },
                );
                let path = dir.join(n);
                write_out(&path, &xml)?;
                written.push(path);
            }
            for p in written {
                println!("{}", p.display());
            }
            results_note(dir, &names_out.output_file);
        }
        (Layout::Split { .. }, None) => return Err(EXIT_UNUSABLE),
    }
    Ok(())
}

/// `myelin models`: lists the built-in models (name and one line each), or prints one as TVBO
/// YAML.
pub(crate) fn models(name: Option<&str>) -> u8 {
    let out = std::io::stdout();
    let mut out = out.lock();
    match name {
        None => {
            let width = myelin_tvbo::builtin::MODELS
                .iter()
                .map(|m| m.name.len())
                .max()
                .unwrap_or(0);
            for m in myelin_tvbo::builtin::MODELS {
                let _ = writeln!(out, "{:width$}  {}", m.name, m.summary());
            }
            EXIT_OK
        }
        Some(n) => match myelin_tvbo::builtin::find(n) {
            Some(m) => {
                let _ = out.write_all(m.yaml.as_bytes());
                EXIT_OK
            }
            None => {
                let names: Vec<&str> = myelin_tvbo::builtin::MODELS
                    .iter()
                    .map(|m| m.name)
                    .collect();
                eprintln!(
                    "error[unknown-model]: no built-in model `{n}`; the built-in models are: {}",
                    names.join(", ")
                );
                EXIT_UNUSABLE
            }
        },
    }
}

/// What a TVBO experiment asks of the integrator: its `integration.method` (as written) and
/// the seed its noise gives, if any. `None` when the file cannot be read as TVBO.
pub(crate) fn integration(file: &Path) -> Option<(Option<String>, Option<i64>)> {
    let mut sources = SourceMap::new();
    let mut diags = Diagnostics::new();
    let exp = read_experiment(file, &mut sources, &mut diags).ok()??;
    let seed = exp
        .integration
        .noise
        .iter()
        .chain(exp.dynamics.state_variables.iter().filter_map(|s| s.noise.as_ref()))
        .find_map(|n| n.seed.as_ref().map(|s| s.value));
    Some((exp.integration.method.as_ref().map(|m| m.value.clone()), seed))
}

/// TVB's integrator names (and plain ones) as myelin's methods.
pub(crate) fn method_from_tvbo(name: &str) -> Option<myelin_sim::Method> {
    let n = name.to_ascii_lowercase();
    if n.contains("heun") {
        Some(myelin_sim::Method::Heun)
    } else if n.contains("euler") {
        Some(myelin_sim::Method::Euler)
    } else if n.contains("rungekutta") || n.contains("rk4") || n.contains("runge") {
        Some(myelin_sim::Method::Rk4)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(
            parse_time("50ms", "ms"),
            Ok(TimeValue {
                value: 50.0,
                unit: "ms".into()
            })
        );
        assert_eq!(
            parse_time("0.5 s", "ms"),
            Ok(TimeValue {
                value: 0.5,
                unit: "s".into()
            })
        );
        assert_eq!(
            parse_time("1e-2", "s"),
            Ok(TimeValue {
                value: 0.01,
                unit: "s".into()
            })
        );
        assert_eq!(
            parse_time("2.5e1us", "s"),
            Ok(TimeValue {
                value: 25.0,
                unit: "us".into()
            })
        );
        assert!(parse_time("5 min", "ms").is_err());
        assert!(parse_time("-1ms", "ms").is_err());
    }
}
