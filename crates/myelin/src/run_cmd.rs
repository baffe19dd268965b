//! `myelin run`: simulate a LEMS / NeuroML model and write its output files where jNeuroML
//! would (paths relative to the LEMS file), in jLEMS's text layout.

use myelin_diag::{Diagnostics, SourceMap};
use myelin_sim::{Simulation, Sink};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Component as PathComponent, Path, PathBuf};
use std::time::Instant;

pub(crate) struct RunArgs {
    pub(crate) file: PathBuf,
    pub(crate) include_dirs: Vec<PathBuf>,
    pub(crate) duration: Option<String>,
    pub(crate) dt: Option<String>,
    pub(crate) seed: Option<i64>,
    pub(crate) out_dir: Option<PathBuf>,
    pub(crate) quiet: bool,
}

/// Formats a value as jLEMS writes it: cast to float32, printed as Java's `Float.toString`.
pub(crate) fn java_float(x: f64) -> String {
    let f = x as f32;
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    // Shortest digits that read back to the same float32, as Java picks them.
    let sci = format!("{f:e}"); // e.g. "-6.49997e-2"
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let sign = if neg { "-" } else { "" };
    let a = f.abs();
    if (1e-3..1e7).contains(&a) {
        // Plain decimal with at least one digit after the point.
        let point = exp + 1; // digits before the point
        let s = if point <= 0 {
            format!("0.{}{}", "0".repeat((-point) as usize), digits)
        } else if (point as usize) >= digits.len() {
            format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
        } else {
            format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
        };
        format!("{sign}{s}")
    } else {
        let frac = if digits.len() > 1 { &digits[1..] } else { "0" };
        format!("{sign}{}.{}E{}", &digits[..1], frac, exp)
    }
}

/// Output files written through a temporary name and renamed when the run completes, so a
/// failed run leaves nothing that looks complete.
struct FileSink {
    data: Vec<(BufWriter<File>, PathBuf, PathBuf)>,
    events: Vec<(BufWriter<File>, PathBuf, PathBuf, bool)>,
    error: Option<std::io::Error>,
    progress: Option<indicatif::ProgressBar>,
}

impl Sink for FileSink {
    fn row(&mut self, file: usize, t: f64, values: &[f64]) {
        let (w, _, _) = &mut self.data[file];
        let mut line = String::with_capacity(16 * (values.len() + 1));
        line.push_str(&java_float(t));
        line.push('\t');
        for v in values {
            line.push_str(&java_float(*v));
            line.push('\t');
        }
        line.push('\n');
        if let Err(e) = w.write_all(line.as_bytes()) {
            self.error.get_or_insert(e);
        }
    }

    fn event(&mut self, file: usize, t: f64, id: usize) {
        let (w, _, _, time_first) = &mut self.events[file];
        let line = if *time_first { format!("{}\t{id}\n", java_float(t)) } else { format!("{id}\t{}\n", java_float(t)) };
        if let Err(e) = w.write_all(line.as_bytes()) {
            self.error.get_or_insert(e);
        }
    }

    fn progress(&mut self, done: u64, total: u64) {
        if let Some(p) = &self.progress {
            p.set_length(total);
            p.set_position(done);
        }
    }
}

/// Where an output file goes: relative to the LEMS file's directory (or `--out-dir`), never
/// outside it.
fn output_path(base: &Path, name: &str, allow_outside: bool) -> Result<PathBuf, String> {
    let rel = Path::new(name);
    if rel.is_absolute() && !allow_outside {
        return Err(format!("output file `{name}` is an absolute path; pass --out-dir to choose where outputs go"));
    }
    let mut depth: i32 = 0;
    for c in rel.components() {
        match c {
            PathComponent::ParentDir => depth -= 1,
            PathComponent::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 && !allow_outside {
            return Err(format!("output file `{name}` would be written outside the model's directory; pass --out-dir to choose where outputs go"));
        }
    }
    Ok(base.join(rel))
}

fn temp_name(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    path.with_file_name(format!(".{name}.myelin-partial"))
}

pub(crate) fn run(args: RunArgs) -> u8 {
    let mut sources = SourceMap::new();
    let mut diags = Diagnostics::new();
    let loaded = match crate::load_and_check(&args.file, &args.include_dirs, &mut sources, &mut diags) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error[unreadable]: cannot read {e}");
            return crate::EXIT_UNUSABLE;
        }
    };
    if diags.has_errors() {
        for d in diags.iter().filter(|d| d.is_error()) {
            eprint!("{}", myelin_diag::render_text(&sources, d));
        }
        eprintln!("{}: invalid; not run (see `myelin validate`)", args.file.display());
        return crate::EXIT_INVALID;
    }
    let report = |e: &myelin_sim::SimError, sources: &SourceMap| {
        eprint!("{}", myelin_diag::render_text(sources, &e.to_diagnostic()));
    };
    let mut sim = match Simulation::build(&loaded.model, None) {
        Ok(s) => s,
        Err(e) => {
            report(&e, &sources);
            return crate::EXIT_INVALID;
        }
    };
    let units = loaded.model.unit_table();
    let quantity = |text: &str, what: &str| -> Result<f64, String> {
        myelin_units::parse_quantity(text, &units).map(|q| q.si).map_err(|e| format!("bad {what} `{text}`: {e}"))
    };
    if let Some(d) = &args.duration {
        match quantity(d, "--duration") {
            Ok(x) if x >= 0.0 => sim.spec.length = x,
            Ok(_) | Err(_) => {
                eprintln!("error[bad-argument]: --duration needs a time such as `100ms`");
                return crate::EXIT_UNUSABLE;
            }
        }
    }
    if let Some(d) = &args.dt {
        match quantity(d, "--dt") {
            Ok(x) if x > 0.0 => sim.spec.step = x,
            Ok(_) | Err(_) => {
                eprintln!("error[bad-argument]: --dt needs a positive time such as `0.01ms`");
                return crate::EXIT_UNUSABLE;
            }
        }
    }
    if let Some(s) = args.seed {
        sim.set_seed(s);
    }
    let base = match &args.out_dir {
        Some(d) => d.clone(),
        None => args.file.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    let allow_outside = args.out_dir.is_some();
    let mut sink = FileSink { data: vec![], events: vec![], error: None, progress: None };
    let open = |name: &str| -> Result<(BufWriter<File>, PathBuf, PathBuf), String> {
        let path = output_path(&base, name, allow_outside)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let tmp = temp_name(&path);
        let f = File::create(&tmp).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        Ok((BufWriter::with_capacity(1 << 16, f), tmp, path))
    };
    let cleanup = |sink: &FileSink| {
        for (_, tmp, _) in &sink.data {
            let _ = std::fs::remove_file(tmp);
        }
        for (_, tmp, _, _) in &sink.events {
            let _ = std::fs::remove_file(tmp);
        }
    };
    for o in sim.spec.outputs.clone() {
        match open(&o.file_name) {
            Ok(x) => sink.data.push(x),
            Err(m) => {
                cleanup(&sink);
                eprint!("{}", myelin_diag::render_text(&sources, &myelin_diag::Diagnostic::error("bad-output", m).at(o.span)));
                return crate::EXIT_UNUSABLE;
            }
        }
    }
    for o in sim.spec.events.clone() {
        match open(&o.file_name) {
            Ok((w, t, p)) => sink.events.push((w, t, p, o.format != "ID_TIME")),
            Err(m) => {
                cleanup(&sink);
                eprint!("{}", myelin_diag::render_text(&sources, &myelin_diag::Diagnostic::error("bad-output", m).at(o.span)));
                return crate::EXIT_UNUSABLE;
            }
        }
    }
    use std::io::IsTerminal as _;
    if !args.quiet && std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(sim.steps());
        bar.set_style(indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} steps ({eta})").unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()));
        sink.progress = Some(bar);
    }
    let start = Instant::now();
    sim.run(&mut sink);
    if let Some(p) = sink.progress.take() {
        p.finish_and_clear();
    }
    let elapsed = start.elapsed();
    if let Some(e) = sink.error.take() {
        cleanup(&sink);
        eprintln!("error[write-failed]: {e}");
        return crate::EXIT_UNUSABLE;
    }
    let mut written = vec![];
    let mut finish = |w: BufWriter<File>, tmp: PathBuf, path: PathBuf| -> Result<(), String> {
        let f = w.into_inner().map_err(|e| e.to_string())?;
        f.sync_all().map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, &path).map_err(|e| e.to_string())?;
        written.push(path);
        Ok(())
    };
    let data = std::mem::take(&mut sink.data);
    let events = std::mem::take(&mut sink.events);
    for (w, tmp, path) in data {
        if let Err(e) = finish(w, tmp, path) {
            eprintln!("error[write-failed]: {e}");
            return crate::EXIT_UNUSABLE;
        }
    }
    for (w, tmp, path, _) in events {
        if let Err(e) = finish(w, tmp, path) {
            eprintln!("error[write-failed]: {e}");
            return crate::EXIT_UNUSABLE;
        }
    }
    if !args.quiet {
        eprintln!(
            "{}: {} steps of {} s, {} instances, in {:.3} s; wrote {}",
            args.file.display(),
            sim.steps(),
            sim.spec.step,
            sim.instance_count(),
            elapsed.as_secs_f64(),
            if written.is_empty() { "no files (the simulation records nothing to files)".to_string() } else { written.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ") }
        );
    }
    crate::EXIT_OK
}

#[cfg(test)]
mod tests {
    use super::java_float;

    #[test]
    fn prints_like_java_float_to_string() {
        assert_eq!(java_float(1.0e-5), "1.0E-5");
        assert_eq!(java_float(-0.06499970), "-0.0649997");
        assert_eq!(java_float(0.0), "0.0");
        assert_eq!(java_float(100.0), "100.0");
        assert_eq!(java_float(0.001), "0.001");
        assert_eq!(java_float(1.5e7), "1.5E7");
        assert_eq!(java_float(0.1), "0.1");
        assert_eq!(java_float(-70.0), "-70.0");
        assert_eq!(java_float(12345.678), "12345.678");
    }
}
