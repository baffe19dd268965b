//! `myelin run`: simulate a LEMS / NeuroML model and write its output files where jNeuroML
//! would (paths relative to the LEMS file), in jLEMS's text layout.

use myelin_diag::{Diagnostics, SourceMap};
use myelin_sim::{Simulation, Sink};
use std::fs::File;
use std::io::Write;
use std::path::{Component as PathComponent, Path, PathBuf};
use std::time::Instant;

pub(crate) struct RunArgs {
    pub(crate) file: PathBuf,
    pub(crate) include_dirs: Vec<PathBuf>,
    pub(crate) duration: Option<String>,
    pub(crate) dt: Option<String>,
    pub(crate) seed: Option<i64>,
    pub(crate) method: Option<String>,
    pub(crate) out_dir: Option<PathBuf>,
    pub(crate) quiet: bool,
    /// Build with [`myelin_sim::Options::reference`] (no merged synapses, no batching).
    pub(crate) reference: bool,
    /// Interpret flat programs (see [`myelin_sim::Options::jit`]).
    pub(crate) no_jit: bool,
}

/// Formats a value as jLEMS writes it: cast to float32, printed as Java's `Float.toString`.
#[cfg(test)]
pub(crate) fn java_float(x: f64) -> String {
    let mut s = vec![];
    push_java_float(&mut s, x);
    String::from_utf8(s).unwrap_or_default()
}

/// Appends `x` as jLEMS writes it: cast to float32 and printed like Java's `Float.toString`
/// (the shortest digits that read back to the same float32; plain decimal with at least one
/// fractional digit for 1e-3 ≤ |x| < 1e7, else `d.dddE±n`).
pub(crate) fn push_java_float(out: &mut Vec<u8>, x: f64) {
    let f = x as f32;
    // Between 1e-3 and 1e7 the shortest digits in plain decimal with at least one fractional
    // digit are Java's layout already. zmij writes them (the same text as ryu there, checked
    // for every float32 in that range, and faster); the general path below gives the same
    // text, only slower.
    if (1e-3..1e7).contains(&f.abs()) {
        out.extend_from_slice(zmij::Buffer::new().format_finite(f).as_bytes());
        return;
    }
    // Below 1e-3 Java writes `d.dddE-n`; ryu writes `0.000ddd` or `d.ddde-n` (shortest digits,
    // no trailing zeros): rearrange those bytes.
    if f.is_finite() && f != 0.0 && f.abs() < 1e-3 {
        let mut buf = ryu::Buffer::new();
        let text = buf.format_finite(f.abs()).as_bytes();
        if f < 0.0 {
            out.push(b'-');
        }
        if let Some(e) = text.iter().rposition(|&b| b == b'e') {
            let mantissa = &text[..e];
            out.extend_from_slice(mantissa);
            if !mantissa.contains(&b'.') {
                out.extend_from_slice(b".0");
            }
            out.push(b'E');
            out.extend_from_slice(&text[e + 1..]);
            return;
        }
        if let Some(rest) = text.strip_prefix(b"0.") {
            let zeros = rest.iter().take_while(|&&b| b == b'0').count();
            let digits = &rest[zeros..];
            if let Some((first, more)) = digits.split_first() {
                out.push(*first);
                out.push(b'.');
                if more.is_empty() {
                    out.push(b'0');
                } else {
                    out.extend_from_slice(more);
                }
                out.extend_from_slice(b"E-");
                let e = zeros + 1;
                if e >= 10 {
                    out.push(b'0' + (e / 10) as u8);
                }
                out.push(b'0' + (e % 10) as u8);
                return;
            }
        }
        if f < 0.0 {
            out.pop();
        }
    }
    push_java_float_general(out, f);
}

fn push_java_float_general(out: &mut Vec<u8>, f: f32) {
    if f.is_nan() {
        out.extend_from_slice(b"NaN");
        return;
    }
    if f.is_infinite() {
        out.extend_from_slice(if f > 0.0 { b"Infinity" } else { b"-Infinity" });
        return;
    }
    if f == 0.0 {
        out.extend_from_slice(if f.is_sign_negative() { b"-0.0" } else { b"0.0" });
        return;
    }
    // ryu gives the shortest round-trip digits; take them apart without allocating.
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(f.abs()).as_bytes();
    let mut digits = [0u8; 16];
    let mut nd = 0;
    let mut point: i32 = 0; // digits before the decimal point in the mantissa
    let mut seen_point = false;
    let mut exp10: i32 = 0;
    let mut k = 0;
    while k < text.len() {
        let b = text[k];
        k += 1;
        match b {
            b'.' => seen_point = true,
            b'e' | b'E' => {
                let (neg, rest) = match text.get(k) {
                    Some(b'-') => (true, &text[k + 1..]),
                    Some(b'+') => (false, &text[k + 1..]),
                    _ => (false, &text[k..]),
                };
                let mut e: i32 = 0;
                for &c in rest {
                    e = e * 10 + i32::from(c - b'0');
                }
                exp10 = if neg { -e } else { e };
                break;
            }
            _ => {
                if nd < digits.len() {
                    digits[nd] = b;
                    nd += 1;
                    if !seen_point {
                        point += 1;
                    }
                }
            }
        }
    }
    // Strip leading zeros (e.g. "0.0012") and trailing zeros.
    let mut start = 0;
    while start + 1 < nd && digits[start] == b'0' {
        start += 1;
        point -= 1;
    }
    let mut end = nd;
    while end > start + 1 && digits[end - 1] == b'0' {
        end -= 1;
    }
    let d = &digits[start..end];
    let exp = point - 1 + exp10; // scientific exponent of the first digit
    let mut line = [0u8; 48];
    let mut n = 0;
    let mut put = |bytes: &[u8]| {
        line[n..n + bytes.len()].copy_from_slice(bytes);
        n += bytes.len();
    };
    if f.is_sign_negative() {
        put(b"-");
    }
    let a = f.abs();
    if (1e-3..1e7).contains(&a) {
        let before = exp + 1;
        if before <= 0 {
            put(b"0.");
            for _ in 0..(-before) {
                put(b"0");
            }
            put(d);
        } else if before as usize >= d.len() {
            put(d);
            for _ in 0..(before as usize - d.len()) {
                put(b"0");
            }
            put(b".0");
        } else {
            put(&d[..before as usize]);
            put(b".");
            put(&d[before as usize..]);
        }
    } else {
        put(&d[..1]);
        put(b".");
        if d.len() > 1 {
            put(&d[1..]);
        } else {
            put(b"0");
        }
        put(b"E");
        if exp < 0 {
            put(b"-");
        }
        let e = exp.unsigned_abs();
        if e >= 10 {
            put(&[b'0' + (e / 10) as u8, b'0' + (e % 10) as u8]);
        } else {
            put(&[b'0' + e as u8]);
        }
    }
    out.extend_from_slice(&line[..n]);
}

/// The straightforward version [`push_java_float_general`] must agree with.
#[cfg(test)]
fn push_java_float_reference(out: &mut String, f: f32) {
    if f.is_nan() {
        out.push_str("NaN");
        return;
    }
    if f.is_infinite() {
        out.push_str(if f > 0.0 { "Infinity" } else { "-Infinity" });
        return;
    }
    if f == 0.0 {
        out.push_str(if f.is_sign_negative() { "-0.0" } else { "0.0" });
        return;
    }
    // ryu gives the shortest round-trip digits; take them apart without allocating.
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(f.abs());
    let (mantissa, exp10) = match text.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (text, 0),
    };
    let mut digits = [0u8; 16];
    let mut nd = 0;
    let mut point: i32 = 0; // digits before the decimal point in `mantissa`
    let mut seen_point = false;
    for b in mantissa.bytes() {
        if b == b'.' {
            seen_point = true;
        } else if nd < digits.len() {
            digits[nd] = b;
            nd += 1;
            if !seen_point {
                point += 1;
            }
        }
    }
    // Strip leading zeros (e.g. "0.0012") and trailing zeros.
    let mut start = 0;
    while start + 1 < nd && digits[start] == b'0' {
        start += 1;
        point -= 1;
    }
    let mut end = nd;
    while end > start + 1 && digits[end - 1] == b'0' {
        end -= 1;
    }
    let d = &digits[start..end];
    let exp = point - 1 + exp10; // scientific exponent of the first digit
    if f.is_sign_negative() {
        out.push('-');
    }
    let a = f.abs();
    let push_digits = |out: &mut String, ds: &[u8]| {
        for &c in ds {
            out.push(c as char);
        }
    };
    if (1e-3..1e7).contains(&a) {
        let before = exp + 1;
        if before <= 0 {
            out.push_str("0.");
            for _ in 0..(-before) {
                out.push('0');
            }
            push_digits(out, d);
        } else if before as usize >= d.len() {
            push_digits(out, d);
            for _ in 0..(before as usize - d.len()) {
                out.push('0');
            }
            out.push_str(".0");
        } else {
            push_digits(out, &d[..before as usize]);
            out.push('.');
            push_digits(out, &d[before as usize..]);
        }
    } else {
        push_digits(out, &d[..1]);
        out.push('.');
        if d.len() > 1 {
            push_digits(out, &d[1..]);
        } else {
            out.push('0');
        }
        out.push('E');
        out.push_str(itoa_i32(exp).as_str());
    }
}

#[cfg(test)]
fn itoa_i32(x: i32) -> String {
    x.to_string()
}

/// One output file being written: its own byte buffer (rows are formatted straight into it and
/// it goes to the file in large writes), the temporary name it is written under and its final
/// path.
struct OutFile {
    file: File,
    buf: Vec<u8>,
    tmp: PathBuf,
    path: PathBuf,
}

/// Bytes an [`OutFile`] buffers before it writes them.
const FLUSH_BYTES: usize = 1 << 18;

impl OutFile {
    fn create(tmp: PathBuf, path: PathBuf) -> std::io::Result<OutFile> {
        let file = File::create(&tmp)?;
        Ok(OutFile { file, buf: Vec::with_capacity(FLUSH_BYTES + 4096), tmp, path })
    }

    fn write_if_full(&mut self) -> std::io::Result<()> {
        if self.buf.len() >= FLUSH_BYTES {
            self.write_out()?;
        }
        Ok(())
    }

    fn write_out(&mut self) -> std::io::Result<()> {
        let r = self.file.write_all(&self.buf);
        self.buf.clear();
        r
    }
}

/// Output files written through a temporary name and renamed when the run completes, so a
/// failed run leaves nothing that looks complete.
struct FileSink {
    data: Vec<OutFile>,
    /// Event files, with whether the time comes first on a line.
    events: Vec<(OutFile, bool)>,
    error: Option<std::io::Error>,
    progress: Option<indicatif::ProgressBar>,
}

/// One output row as jLEMS writes it: time, then the values, tab-separated.
fn format_row(line: &mut Vec<u8>, t: f64, values: &[f64]) {
    push_java_float(line, t);
    line.push(b'\t');
    for v in values {
        push_java_float(line, *v);
        line.push(b'\t');
    }
    line.push(b'\n');
}

impl FileSink {
    /// Rows already formatted (by the engine's thread, see [`ThreadedSink::flush`]).
    fn text(&mut self, file: usize, bytes: &[u8]) {
        let out = &mut self.data[file];
        out.buf.extend_from_slice(bytes);
        if let Err(e) = out.write_if_full() {
            self.error.get_or_insert(e);
        }
    }
}

impl Sink for FileSink {
    fn row(&mut self, file: usize, t: f64, values: &[f64]) {
        let out = &mut self.data[file];
        format_row(&mut out.buf, t, values);
        if let Err(e) = out.write_if_full() {
            self.error.get_or_insert(e);
        }
    }

    fn event(&mut self, file: usize, t: f64, id: usize) {
        let (out, time_first) = &mut self.events[file];
        let line = &mut out.buf;
        // (Writing into a Vec<u8> cannot fail.)
        if *time_first {
            push_java_float(line, t);
            let _ = writeln!(line, "\t{id}");
        } else {
            let _ = write!(line, "{id}\t");
            push_java_float(line, t);
            line.push(b'\n');
        }
        if let Err(e) = out.write_if_full() {
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


/// Rows sent to the formatting thread at a time.
const BATCH_ROWS: usize = 1024;

enum Batch {
    /// Rows of one output file: `width` numbers each (time first).
    Rows { file: usize, width: usize, data: Vec<f64> },
    /// Rows of one output file, already formatted.
    Text { file: usize, bytes: Vec<u8> },
    Event { file: usize, t: f64, id: usize },
}

/// The engine's sink during a run: rows are batched and formatted on a second thread (text
/// output is a large share of a run), which owns the [`FileSink`] until the run ends.
struct ThreadedSink {
    tx: Option<std::sync::mpsc::SyncSender<Batch>>,
    handle: Option<std::thread::JoinHandle<FileSink>>,
    pending: Vec<Vec<f64>>,
    widths: Vec<usize>,
    progress: Option<indicatif::ProgressBar>,
}

impl ThreadedSink {
    fn start(mut files: FileSink) -> Self {
        let n = files.data.len();
        let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(4);
        let handle = std::thread::spawn(move || {
            for batch in rx {
                match batch {
                    Batch::Rows { file, width, data } => {
                        for row in data.chunks(width) {
                            files.row(file, row[0], &row[1..]);
                        }
                    }
                    Batch::Text { file, bytes } => files.text(file, &bytes),
                    Batch::Event { file, t, id } => files.event(file, t, id),
                }
            }
            files
        });
        ThreadedSink { tx: Some(tx), handle: Some(handle), pending: vec![Vec::new(); n], widths: vec![1; n], progress: None }
    }

    fn flush(&mut self, file: usize) {
        let data = std::mem::take(&mut self.pending[file]);
        if let (false, Some(tx)) = (data.is_empty(), &self.tx) {
            // When the formatting thread is behind, this thread formats the batch itself
            // (order is kept: the channel delivers in order). A send fails only if the thread
            // is gone; `finish` then reports it.
            let width = self.widths[file];
            if let Err(std::sync::mpsc::TrySendError::Full(Batch::Rows { data, .. })) = tx.try_send(Batch::Rows { file, width, data }) {
                let mut bytes = Vec::with_capacity(data.len() * 12);
                for row in data.chunks(width) {
                    format_row(&mut bytes, row[0], &row[1..]);
                }
                let _ = tx.send(Batch::Text { file, bytes });
            }
        }
    }

    /// Sends what is left, waits for the formatting thread and hands back the files.
    fn finish(mut self) -> Option<FileSink> {
        for f in 0..self.pending.len() {
            self.flush(f);
        }
        drop(self.tx.take());
        self.handle.take()?.join().ok()
    }
}

impl Sink for ThreadedSink {
    fn row(&mut self, file: usize, t: f64, values: &[f64]) {
        let width = values.len() + 1;
        self.widths[file] = width;
        let p = &mut self.pending[file];
        if p.capacity() == 0 {
            p.reserve(width * BATCH_ROWS);
        }
        p.push(t);
        p.extend_from_slice(values);
        if p.len() >= width * BATCH_ROWS {
            self.flush(file);
        }
    }

    fn event(&mut self, file: usize, t: f64, id: usize) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Batch::Event { file, t, id });
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
    let setup_start = Instant::now();
    let wall_start = std::time::SystemTime::now();
    let mut sources = SourceMap::new();
    let mut diags = Diagnostics::new();
    let tvbo = crate::tvbo_cmd::is_tvbo(&args.file);
    let loaded = if tvbo {
        crate::tvbo_cmd::load_and_check(&args.file, &mut sources, &mut diags, true, args.dt.as_deref())
    } else {
        crate::load_and_check(&args.file, &args.include_dirs, &mut sources, &mut diags)
    };
    let loaded = match loaded {
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
    // `--reference`: the plain interpreter, to cross-check the engine's shortcuts against.
    let mut options = if args.reference { myelin_sim::Options::reference() } else { myelin_sim::Options::default() };
    options.jit &= !args.no_jit;
    let mut sim = match Simulation::build_with_options(&loaded.model, None, options) {
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
    // `--seed`, else the seed a TVBO experiment's noise gives.
    let seed = args.seed.or_else(|| if tvbo { crate::tvbo_cmd::integration(&args.file).and_then(|(_, s)| s) } else { None });
    if let Some(s) = seed {
        sim.set_seed(s);
    }
    // TVBO models integrate with Heun by default, as TVB does; LEMS/NeuroML with jLEMS's Euler.
    let method = match args.method.as_deref() {
        Some(m) => match m.parse::<myelin_sim::Method>() {
            Ok(m) => m,
            Err(e) => {
                eprintln!("error[bad-argument]: --method: {e}");
                return crate::EXIT_UNUSABLE;
            }
        },
        None if tvbo => {
            // The experiment's own integrator, else TVB's default, Heun.
            match crate::tvbo_cmd::integration(&args.file).and_then(|(m, _)| m) {
                Some(name) => match crate::tvbo_cmd::method_from_tvbo(&name) {
                    Some(m) => m,
                    None => {
                        eprintln!("error[unsupported-method]: the experiment asks for the integrator `{name}`, which myelin does not have (choose --method euler, heun or rk4)");
                        return crate::EXIT_INVALID;
                    }
                },
                None => myelin_sim::Method::Heun,
            }
        }
        None => myelin_sim::Method::Euler,
    };
    if let Err(e) = sim.set_method(method) {
        eprint!("{}", myelin_diag::render_text(&sources, &e.to_diagnostic()));
        return crate::EXIT_INVALID;
    }
    let base = match &args.out_dir {
        Some(d) => d.clone(),
        None => args.file.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    let allow_outside = args.out_dir.is_some();
    let mut sink = FileSink { data: vec![], events: vec![], error: None, progress: None };
    let open = |name: &str| -> Result<OutFile, String> {
        let path = output_path(&base, name, allow_outside)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let tmp = temp_name(&path);
        OutFile::create(tmp.clone(), path).map_err(|e| format!("cannot write {}: {e}", tmp.display()))
    };
    let cleanup = |sink: &FileSink| {
        for o in sink.data.iter().chain(sink.events.iter().map(|(o, _)| o)) {
            let _ = std::fs::remove_file(&o.tmp);
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
            Ok(f) => sink.events.push((f, o.format != "ID_TIME")),
            Err(m) => {
                cleanup(&sink);
                eprint!("{}", myelin_diag::render_text(&sources, &myelin_diag::Diagnostic::error("bad-output", m).at(o.span)));
                return crate::EXIT_UNUSABLE;
            }
        }
    }
    let temp_files: Vec<PathBuf> =
        sink.data.iter().chain(sink.events.iter().map(|(o, _)| o)).map(|o| o.tmp.clone()).collect();
    let mut threaded = ThreadedSink::start(sink);
    use std::io::IsTerminal as _;
    if !args.quiet && std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(sim.steps());
        bar.set_style(indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} steps ({eta})").unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()));
        threaded.progress = Some(bar);
    }
    let setup_time = setup_start.elapsed();
    let start = Instant::now();
    sim.run(&mut threaded);
    if let Some(p) = threaded.progress.take() {
        p.finish_and_clear();
    }
    let Some(mut sink) = threaded.finish() else {
        for tmp in &temp_files {
            let _ = std::fs::remove_file(tmp);
        }
        eprintln!("error[write-failed]: the output thread stopped unexpectedly");
        return crate::EXIT_UNUSABLE;
    };
    let elapsed = start.elapsed();
    if let Some(e) = sink.error.take() {
        cleanup(&sink);
        eprintln!("error[write-failed]: {e}");
        return crate::EXIT_UNUSABLE;
    }
    let mut written = vec![];
    // The rename makes a file appear only once it is complete. No fsync before it: like
    // jLEMS, a run does not force its outputs to disk (that took ~5 ms, a fifth of a 1 s
    // JansenRit run); a crash of the machine itself can lose them, a failed run cannot leave a
    // partial one under the final name.
    let mut finish = |mut o: OutFile| -> Result<(), String> {
        o.write_out().map_err(|e| e.to_string())?;
        drop(o.file);
        std::fs::rename(&o.tmp, &o.path).map_err(|e| e.to_string())?;
        written.push(o.path);
        Ok(())
    };
    let data = std::mem::take(&mut sink.data);
    let events = std::mem::take(&mut sink.events);
    for o in data.into_iter().chain(events.into_iter().map(|(o, _)| o)) {
        let tmp = o.tmp.clone();
        if let Err(e) = finish(o) {
            let _ = std::fs::remove_file(&tmp);
            eprintln!("error[write-failed]: {e}");
            return crate::EXIT_UNUSABLE;
        }
    }
    // `<Target reportFile=..>`: a summary of the run, as jLEMS writes one.
    if let Some(report) = loaded.model.targets.first().and_then(|t| t.report_file.as_deref()) {
        let save_time = start.elapsed().saturating_sub(elapsed);
        let name = report.replace("__SIMULATOR__", "myelin").replace("__TIMESTAMP__", &timestamp(wall_start, '_'));
        let text = format!(
            "# Report of running simulation with myelin v{v}\nSimulator=myelin\nSimulatorVersion={v}\nSimulationFile={file}\nStartTime={start}\nSetupTime={setup:.3}\nRealSimulationTime={run:.3}\nSimulationSaveTime={save:.3}\n",
            v = env!("CARGO_PKG_VERSION"),
            file = std::fs::canonicalize(&args.file).unwrap_or_else(|_| args.file.clone()).display(),
            start = timestamp(wall_start, ' '),
            setup = setup_time.as_secs_f64(),
            run = elapsed.as_secs_f64(),
            save = save_time.as_secs_f64(),
        );
        let result = output_path(&base, &name, allow_outside).and_then(|path| {
            crate::write_atomically(&path, text.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Ok(path)
        });
        match result {
            Ok(path) => written.push(path),
            Err(m) => {
                eprintln!("error[write-failed]: report file: {m}");
                return crate::EXIT_UNUSABLE;
            }
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
    // Every output is written, closed and renamed, and the process exits next: freeing the
    // simulation and the model (for a big network, ~10^5 instances and components, a
    // noticeable part of a short run) would be wasted work, so leave that to the OS. Neither
    // owns anything that needs flushing (the output files were consumed above).
    std::mem::forget(sim);
    std::mem::forget(loaded);
    crate::EXIT_OK
}

/// UTC time as `YYYY-MM-DD HH:MM:SS` (with `sep` between date and time).
fn timestamp(t: std::time::SystemTime, sep: char) -> String {
    let secs = t.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let time = if sep == ' ' {
        format!("{:02}:{:02}:{:02}", rem / 3600, rem / 60 % 60, rem % 60)
    } else {
        format!("{:02}-{:02}-{:02}", rem / 3600, rem / 60 % 60, rem % 60)
    };
    format!("{year:04}-{month:02}-{day:02}{sep}{time}")
}

#[cfg(test)]
mod tests {
    use super::java_float;

    #[test]
    fn timestamps_are_civil_utc() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_795_378_232);
        assert_eq!(super::timestamp(t, ' '), "2026-11-22 20:10:32");
    }

    #[test]
    #[allow(clippy::excessive_precision)] // edge cases written as the float32 values they are
    fn the_fast_path_writes_what_the_general_one_does() {
        // A spread of float32 bit patterns covering every exponent, plus the range edges.
        let mut bits: u32 = 0x1234_5678;
        let check = |f: f32| {
            let mut fast = vec![];
            super::push_java_float(&mut fast, f as f64);
            let mut general = vec![];
            super::push_java_float_general(&mut general, f);
            assert_eq!(fast, general, "{f:e}");
            let mut reference = String::new();
            super::push_java_float_reference(&mut reference, f);
            assert_eq!(fast, reference.as_bytes(), "{f:e}");
        };
        for _ in 0..2_000_000 {
            bits ^= bits << 13;
            bits ^= bits >> 17;
            bits ^= bits << 5;
            let f = f32::from_bits(bits);
            if f.is_finite() {
                check(f);
            }
        }
        for k in -46..40 {
            for m in [1.0f32, 1.5, 9.999999, 8.294101, 1.2345678, 3.0] {
                let f = m * 10f32.powi(k);
                if f.is_finite() && f != 0.0 {
                    check(f);
                    check(-f);
                }
            }
        }
        for f in [1e-3f32, 1e7, 9999999.0, 0.00099999, 0.001, 0.0010000001, 1.0, 100.0, 123456.7, -0.5, -1e-3, 1e-5, 1e-6, 1e-7, f32::MIN_POSITIVE, 1e-45] {
            check(f);
            check(f32::from_bits(f.to_bits() + 1));
            check(f32::from_bits(f.to_bits() - 1));
        }
    }

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
        assert_eq!(java_float(1.2e-7), "1.2E-7");
        assert_eq!(java_float(-3.5e-4), "-3.5E-4");
        assert_eq!(java_float(0.0012345), "0.0012345");
        assert_eq!(java_float(1e7), "1.0E7");
        assert_eq!(java_float(9999999.0), "9999999.0");
    }
}
