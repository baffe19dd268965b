//! Shared by the integration tests: finding the reference cache, running the `myelin` binary
//! (with a time limit), and reading its JSON output.

#![allow(dead_code, unreachable_pub, clippy::print_stderr)]

use serde_json::Value;
use std::ffi::OsStr;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The files of the NeuroML2 core-type library (a document including one needs the cache).
pub use myelin_lems::CORE_TYPE_FILES;

/// Longest a single `myelin validate` run may take before the test kills it and fails.
pub const RUN_LIMIT: Duration = Duration::from_secs(120);

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn tests_dir() -> PathBuf {
    manifest_dir().join("tests")
}

/// A scratch directory for files the tests write.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// `$MYELIN_CACHE`, else `~/.cache/myelin` (as `scripts/fetch-reference.sh` uses).
pub fn cache_dir() -> PathBuf {
    myelin_testkit::cache_dir()
}

pub fn skip_reference() -> bool {
    std::env::var("MYELIN_SKIP_REFERENCE").is_ok_and(|v| v == "1")
}

/// The jNeuroML resource directory of the cache (`NeuroML2CoreTypes/`, `LEMSexamples/`,
/// `examples/`). `None` when it is missing and `MYELIN_SKIP_REFERENCE=1`; otherwise a missing
/// cache fails the test with instructions.
pub fn jnml_dir(what: &str) -> Option<PathBuf> {
    let dir = cache_dir().join("jnml");
    if dir.join("NeuroML2CoreTypes").join("Cells.xml").is_file() {
        return Some(dir);
    }
    if skip_reference() {
        eprintln!("note: {what}: the reference files are missing from {}; skipping (MYELIN_SKIP_REFERENCE=1)", dir.display());
        return None;
    }
    panic!(
        "{what}: the NeuroML2 core types are missing from {}.\n\
         Run `scripts/fetch-reference.sh` (it prints the cache directory; set MYELIN_CACHE to use another one),\n\
         or set MYELIN_SKIP_REFERENCE=1 to skip the tests that need them.",
        dir.join("NeuroML2CoreTypes").display()
    );
}

/// Whether a document needs the NeuroML2 core types: a `<neuroml>` document, or one including
/// a core-type file.
pub fn needs_core_types(text: &str) -> bool {
    text.contains("<neuroml")
        || CORE_TYPE_FILES.iter().any(|f| text.contains(&format!("\"{f}\"")) || text.contains(&format!("/{f}\"")))
}

/// What one run of the binary did.
pub struct Run {
    /// Exit status; `None` when killed by a signal (a crash, e.g. a stack overflow) or by the
    /// time limit.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    pub timed_out: bool,
}

impl Run {
    /// A one-line summary of how it ended, for failure messages.
    pub fn ended(&self) -> String {
        match (self.code, self.timed_out) {
            (_, true) => format!("killed after {:?} (time limit)", self.elapsed),
            (Some(c), _) => format!("exit {c}"),
            (None, _) => "killed by a signal (crash?)".to_string(),
        }
    }

    pub fn panicked(&self) -> bool {
        self.stderr.contains("panicked") || self.stdout.contains("panicked")
    }
}

/// Runs `myelin` with `args` in the crate directory, killing it after [`RUN_LIMIT`].
pub fn run_myelin<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_myelin"))
        .args(args)
        .current_dir(manifest_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn myelin");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for myelin") {
            break s;
        }
        if start.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            timed_out = true;
            break child.wait().expect("wait for myelin");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    let stdout = String::from_utf8_lossy(&t_out.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&t_err.join().unwrap_or_default()).into_owned();
    Run { code: if timed_out { None } else { status.code() }, stdout, stderr, elapsed, timed_out }
}

/// `myelin validate --format json [-I dir]... file`.
pub fn validate_json(file: &Path, include_dirs: &[PathBuf]) -> Run {
    validate_json_with(file, include_dirs, &[])
}

/// `myelin validate --format json [extra]... [-I dir]... file`.
pub fn validate_json_with(file: &Path, include_dirs: &[PathBuf], extra: &[String]) -> Run {
    let mut args: Vec<&OsStr> = vec![OsStr::new("validate"), OsStr::new("--format"), OsStr::new("json")];
    args.extend(extra.iter().map(OsStr::new));
    for d in include_dirs {
        args.push(OsStr::new("-I"));
        args.push(d.as_os_str());
    }
    args.push(file.as_os_str());
    run_myelin(args)
}

/// `myelin validate [-I dir]... file` (text output), for failure messages.
pub fn validate_text(file: &Path, include_dirs: &[PathBuf]) -> Run {
    let mut args: Vec<&OsStr> = vec![OsStr::new("validate")];
    for d in include_dirs {
        args.push(OsStr::new("-I"));
        args.push(d.as_os_str());
    }
    args.push(file.as_os_str());
    run_myelin(args)
}

/// One diagnostic from the JSON output.
#[derive(Clone, Debug)]
pub struct Diag {
    pub severity: String,
    pub code: String,
    pub message: String,
    pub file: Option<String>,
    pub line: u64,
    pub column: u64,
}

impl Diag {
    pub fn is_error(&self) -> bool {
        self.severity == "error"
    }

    /// Whether the diagnostic's location is in `path` (file names in the output are relative
    /// to the directory the binary ran in).
    pub fn is_in(&self, path: &Path) -> bool {
        let Some(f) = &self.file else { return false };
        let p = Path::new(f);
        let p = if p.is_absolute() { p.to_path_buf() } else { manifest_dir().join(p) };
        match (p.canonicalize(), path.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => p == path,
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "{}:{}:{}: {}[{}]: {}",
            self.file.as_deref().unwrap_or("?"),
            self.line,
            self.column,
            self.severity,
            self.code,
            self.message
        )
    }
}

/// One file's entry in the JSON output.
#[derive(Debug)]
pub struct FileReport {
    pub file: String,
    pub valid: bool,
    pub diagnostics: Vec<Diag>,
}

/// Parses `validate --format json` output: an array with one object per file.
pub fn parse_reports(stdout: &str) -> Result<Vec<FileReport>, String> {
    let v: Value = serde_json::from_str(stdout).map_err(|e| format!("output is not JSON ({e}): {}", clip(stdout, 400)))?;
    let arr = v.as_array().ok_or("output is not a JSON array")?;
    let mut out = vec![];
    for f in arr {
        let file = f.get("file").and_then(Value::as_str).ok_or("a file entry has no \"file\"")?.to_string();
        let valid = f.get("valid").and_then(Value::as_bool).ok_or("a file entry has no boolean \"valid\"")?;
        let mut diagnostics = vec![];
        for d in f.get("diagnostics").and_then(Value::as_array).ok_or("a file entry has no \"diagnostics\" array")? {
            let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
            let loc = d.get("location").filter(|l| !l.is_null());
            let n = |k: &str| loc.and_then(|l| l.get(k)).and_then(Value::as_u64).unwrap_or(0);
            diagnostics.push(Diag {
                severity: s("severity"),
                code: s("code"),
                message: s("message"),
                file: loc.and_then(|l| l.get("file")).and_then(Value::as_str).map(str::to_string),
                line: n("line"),
                column: n("column"),
            });
        }
        out.push(FileReport { file, valid, diagnostics });
    }
    Ok(out)
}

pub fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n).collect();
        t.push_str(" …");
        t
    }
}

/// Line `line` (1-based) of `text` with a caret under column `col` (in characters).
pub fn snippet(text: &str, line: u64, col: u64) -> String {
    match text.lines().nth(line.saturating_sub(1) as usize) {
        Some(l) if line > 0 => {
            let pad: String = l.chars().take(col.saturating_sub(1) as usize).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
            format!("        | {l}\n        | {pad}^")
        }
        _ => "        | (no such line)".to_string(),
    }
}

/// Runs `f` on every item using a few threads; results keep the items' order.
pub fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 8);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<R>>> = items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if k >= items.len() {
                    break;
                }
                let r = f(&items[k]);
                *results[k].lock().unwrap() = Some(r);
            });
        }
    });
    results.into_iter().map(|m| m.into_inner().unwrap().expect("every item ran")).collect()
}
