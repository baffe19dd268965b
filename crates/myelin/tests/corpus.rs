//! The corpus of broken documents: every `tests/invalid/NAME.{xml,nml}` has ONE fault and a
//! `NAME.expected` listing the errors it must produce, one `LINE:COL CODE` a line (the primary
//! location, 1-based, column in characters; `#` starts a comment, and a comment line
//! `# args: --flag ...` passes extra arguments to `validate`). Exactly that set of errors
//! must be reported in the file itself (warnings are ignored), with exit status 1. Every
//! `tests/valid/NAME.{xml,nml}` must give exit 0 with no errors.
//!
//! Where the primary location of each kind of fault is (what the `.expected` files encode):
//! - a value that is wrong or names nothing (a reference by id, a quantity, a unit, a dimension,
//!   an event port, a regime, a state variable, an exposure, an include's file): the first
//!   character of the attribute value; inside an expression, the offending name or token (or
//!   the start of the sub-expression whose dimensions do not agree);
//! - an attribute that is not allowed: the attribute's name;
//! - an unknown, misspelled or misplaced element, a missing attribute or parameter: the
//!   element's name, just after `<`;
//! - something defined twice (a definition, an id): the name or id value of the second one;
//! - malformed XML: where the document stops being well-formed (for a DTD, the `<!DOCTYPE`).
//!
//! The documents that use the NeuroML2 core types are run with `-I <cache>/jnml/NeuroML2CoreTypes`
//! (see `scripts/fetch-reference.sh`; `MYELIN_CACHE` moves the cache). Without the cache the
//! test fails, unless `MYELIN_SKIP_REFERENCE=1`, which skips those documents.
//!
//! `MYELIN_BLESS=1` rewrites the `.expected` files from what the binary reports. The committed
//! files were written by hand from what is right; review every line a bless changes.

#![allow(clippy::print_stderr)] // test notes go to stderr

mod common;

use common::*;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

type Key = (u64, u64, String);

fn corpus(dir: &str) -> Vec<PathBuf> {
    let dir = tests_dir().join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("xml" | "nml")))
        .collect();
    files.sort();
    files
}

/// The expected errors and the extra arguments (`# args: ...`).
fn read_expected(path: &Path) -> Result<(BTreeSet<Key>, Vec<String>), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut set = BTreeSet::new();
    let mut args = vec![];
    for (k, raw) in text.lines().enumerate() {
        if let Some(a) = raw.trim_start().strip_prefix("# args:") {
            args.extend(a.split_whitespace().map(str::to_string));
            continue;
        }
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let parse = || -> Option<Key> {
            let (pos, code) = line.split_once(char::is_whitespace)?;
            let (l, c) = pos.split_once(':')?;
            Some((l.parse().ok()?, c.parse().ok()?, code.trim().to_string()))
        };
        match parse() {
            Some(key) => {
                set.insert(key);
            }
            None => return Err(format!("{}:{}: expected `LINE:COL CODE`, found `{raw}`", path.display(), k + 1)),
        }
    }
    Ok((set, args))
}

fn write_expected(path: &Path, actual: &BTreeSet<Key>) {
    // Keep the comment lines at the top of an existing file.
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let mut out: String = old.lines().take_while(|l| l.trim_start().starts_with('#')).map(|l| format!("{l}\n")).collect();
    for (l, c, code) in actual {
        let _ = writeln!(out, "{l}:{c} {code}");
    }
    std::fs::write(path, out).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

fn rel(path: &Path) -> String {
    path.strip_prefix(tests_dir()).unwrap_or(path).display().to_string()
}

/// Checks one invalid document; `Err` holds a readable report of everything wrong.
fn check_invalid(file: &Path, include: &[PathBuf], bless: bool) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read: {e}"))?;
    let expected_path = file.with_extension("expected");
    let expected = if bless && !expected_path.exists() { Ok((BTreeSet::new(), vec![])) } else { read_expected(&expected_path) };
    let args = expected.as_ref().map(|(_, a)| a.clone()).unwrap_or_default();
    let run = validate_json_with(file, include, &args);
    let mut problems = String::new();
    if run.panicked() {
        let _ = writeln!(problems, "  the validator panicked:\n{}", indent(&clip(&run.stderr, 2000)));
    }
    if run.code != Some(1) {
        let _ = writeln!(problems, "  expected exit 1 (invalid), got {}", run.ended());
    }
    let reports = match parse_reports(&run.stdout) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(problems, "  {e}\n  stderr: {}", clip(&run.stderr, 1000));
            return Err(problems);
        }
    };
    if reports.len() != 1 {
        let _ = writeln!(problems, "  expected one file entry in the JSON output, found {}", reports.len());
    }
    let diags: Vec<&Diag> = reports.iter().flat_map(|r| &r.diagnostics).collect();
    if reports.iter().any(|r| r.valid) {
        let _ = writeln!(problems, "  the JSON output says \"valid\": true");
    }
    let mine: Vec<&Diag> = diags.iter().copied().filter(|d| d.is_error() && d.is_in(file)).collect();
    let actual: BTreeSet<Key> = mine.iter().map(|d| (d.line, d.column, d.code.clone())).collect();
    if bless {
        write_expected(&expected_path, &actual);
    }
    match expected {
        Err(e) => {
            let _ = writeln!(problems, "  {e}");
        }
        Ok((expected, _)) if expected != actual && !bless => {
            let _ = writeln!(problems, "  expected ({}):", rel(&expected_path));
            for k in &expected {
                let mark = if actual.contains(k) { ' ' } else { '-' };
                let _ = writeln!(problems, "    {mark} {}:{} {}", k.0, k.1, k.2);
                if mark == '-' {
                    let _ = writeln!(problems, "{}", snippet(&text, k.0, k.1));
                }
            }
            let _ = writeln!(problems, "  reported:");
            if actual.is_empty() {
                let _ = writeln!(problems, "      (no errors located in this file)");
            }
            for k in &actual {
                let mark = if expected.contains(k) { ' ' } else { '+' };
                let msg = mine.iter().find(|d| (d.line, d.column, &d.code) == (k.0, k.1, &k.2)).map_or("", |d| d.message.as_str());
                let _ = writeln!(problems, "    {mark} {}:{} {}    {msg}", k.0, k.1, k.2);
                if mark == '+' {
                    let _ = writeln!(problems, "{}", snippet(&text, k.0, k.1));
                }
            }
        }
        Ok(_) => {}
    }
    let elsewhere: Vec<&Diag> = diags.iter().copied().filter(|d| d.is_error() && !d.is_in(file)).collect();
    if !problems.is_empty() && !elsewhere.is_empty() {
        let _ = writeln!(problems, "  errors located in other files:");
        for d in elsewhere.iter().take(10) {
            let _ = writeln!(problems, "      {}", d.describe());
        }
    }
    // A document must never leak what an external entity would have read.
    if run.stdout.contains("root:x:0") || run.stdout.contains("/bin/bash") {
        let _ = writeln!(problems, "  the output contains text from /etc/passwd");
    }
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("      {l}\n")).collect()
}

#[test]
fn invalid_documents_report_exactly_the_expected_errors() {
    let files = corpus("invalid");
    assert!(files.len() >= 45, "expected at least 45 documents in tests/invalid, found {}", files.len());
    let needs_cache = files.iter().any(|f| needs_core_types(&std::fs::read_to_string(f).unwrap_or_default()));
    let jnml = if needs_cache { jnml_dir("the invalid-document corpus") } else { None };
    let include: Vec<PathBuf> = jnml.iter().map(|d| d.join("NeuroML2CoreTypes")).collect();
    let bless = std::env::var("MYELIN_BLESS").is_ok_and(|v| v == "1");
    let results = par_map(&files, |f| {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        if jnml.is_none() && needs_core_types(&text) {
            return None; // skipped: MYELIN_SKIP_REFERENCE=1
        }
        Some(check_invalid(f, &include, bless))
    });
    let skipped = results.iter().filter(|r| r.is_none()).count();
    let mut failed = 0;
    let mut report = String::new();
    for (f, r) in files.iter().zip(&results) {
        if let Some(Err(e)) = r {
            failed += 1;
            let _ = writeln!(report, "{}:\n{e}", rel(f));
        }
    }
    if skipped > 0 {
        eprintln!("note: skipped {skipped} documents that need the NeuroML2 core types");
    }
    assert!(
        failed == 0,
        "{failed} of {} invalid documents did not give the expected errors:\n\n{report}\n(`MYELIN_BLESS=1` rewrites the .expected files from the output; review before committing)",
        files.len() - skipped
    );
}

#[test]
fn valid_documents_give_no_errors() {
    let files = corpus("valid");
    assert!(files.len() >= 3, "expected valid documents in tests/valid");
    let needs_cache = files.iter().any(|f| needs_core_types(&std::fs::read_to_string(f).unwrap_or_default()));
    let jnml = if needs_cache { jnml_dir("the valid-document corpus") } else { None };
    let include: Vec<PathBuf> = jnml.iter().map(|d| d.join("NeuroML2CoreTypes")).collect();
    let results = par_map(&files, |f| {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        if jnml.is_none() && needs_core_types(&text) {
            return None;
        }
        let run = validate_json(f, &include);
        let mut problems = String::new();
        if run.panicked() {
            let _ = writeln!(problems, "  the validator panicked:\n{}", indent(&clip(&run.stderr, 2000)));
        }
        if run.code != Some(0) {
            let _ = writeln!(problems, "  expected exit 0 (valid), got {}", run.ended());
        }
        match parse_reports(&run.stdout) {
            Err(e) => {
                let _ = writeln!(problems, "  {e}");
            }
            Ok(reports) => {
                for d in reports.iter().flat_map(|r| &r.diagnostics).filter(|d| d.is_error()) {
                    let _ = writeln!(problems, "    {}", d.describe());
                    if d.is_in(f) {
                        let _ = writeln!(problems, "{}", snippet(&text, d.line, d.column));
                    }
                }
                if reports.len() != 1 || !reports[0].valid {
                    let _ = writeln!(problems, "  the JSON output should hold one entry with \"valid\": true");
                }
            }
        }
        Some(problems)
    });
    let mut report = String::new();
    for (f, r) in files.iter().zip(&results) {
        if let Some(p) = r.as_ref().filter(|p| !p.is_empty()) {
            let _ = writeln!(report, "{}:\n{p}", rel(f));
        }
    }
    assert!(report.is_empty(), "valid documents were not accepted:\n\n{report}");
}

#[test]
fn a_missing_file_is_unusable() {
    let missing = tests_dir().join("invalid").join("no-such-file.xml");
    for format in ["text", "json"] {
        let run = run_myelin([std::ffi::OsStr::new("validate"), "--format".as_ref(), format.as_ref(), missing.as_os_str()]);
        assert!(!run.panicked(), "panicked:\n{}", run.stderr);
        assert_eq!(run.code, Some(2), "a missing file must give exit 2 (--format {format}); got {}\n{}", run.ended(), run.stderr);
        if format == "json" {
            let reports = parse_reports(&run.stdout).unwrap_or_else(|e| panic!("--format json with a missing file: {e}"));
            assert_eq!(reports.len(), 1, "one entry per file, even an unreadable one");
            assert!(!reports[0].valid);
        }
    }
}

#[test]
fn a_directory_is_unusable() {
    let dir = tests_dir().join("invalid");
    let run = run_myelin([std::ffi::OsStr::new("validate"), dir.as_os_str()]);
    assert!(!run.panicked(), "panicked:\n{}", run.stderr);
    assert_eq!(run.code, Some(2), "a directory given as FILE must give exit 2; got {}\n{}{}", run.ended(), run.stdout, run.stderr);
}

#[test]
fn exit_status_is_the_worst_of_all_files() {
    let invalid = tests_dir().join("invalid").join("unknown_root.xml"); // needs no cache
    let scratch = scratch_dir("exit-status");
    let ok = scratch.join("ok.xml");
    std::fs::write(&ok, "<Lems>\n  <Dimension name=\"time\" t=\"1\"/>\n</Lems>\n").unwrap();
    let missing = scratch.join("missing.xml");

    let run = run_myelin([std::ffi::OsStr::new("validate"), ok.as_os_str()]);
    assert_eq!(run.code, Some(0), "a minimal valid LEMS file: {}\n{}{}", run.ended(), run.stdout, run.stderr);

    let run = run_myelin([std::ffi::OsStr::new("validate"), "--format".as_ref(), "json".as_ref(), ok.as_os_str(), invalid.as_os_str()]);
    assert_eq!(run.code, Some(1), "valid + invalid: {}\n{}", run.ended(), run.stderr);
    let reports = parse_reports(&run.stdout).expect("json");
    assert_eq!(reports.len(), 2, "one JSON entry per file");
    assert!(reports[0].valid && !reports[1].valid, "{reports:?}");

    let run = run_myelin([std::ffi::OsStr::new("validate"), ok.as_os_str(), invalid.as_os_str(), missing.as_os_str()]);
    assert_eq!(run.code, Some(2), "valid + invalid + missing: {}\n{}", run.ended(), run.stderr);
    assert!(!run.panicked(), "panicked:\n{}", run.stderr);
}

#[test]
fn text_output_names_file_line_and_column() {
    let file = tests_dir().join("invalid").join("unknown_root.xml");
    let run = run_myelin([std::ffi::OsStr::new("validate"), file.as_os_str()]);
    assert_eq!(run.code, Some(1), "{}\n{}", run.ended(), run.stderr);
    // `file:line:col: error[code]: message`, then the source line and a caret.
    let line = run.stdout.lines().find(|l| l.contains("error[unknown-root]")).unwrap_or_else(|| panic!("no error[unknown-root] line in:\n{}", run.stdout));
    assert!(line.contains("unknown_root.xml:1:2: error[unknown-root]: "), "got: {line}");
    assert!(run.stdout.contains("<Model>"), "the source snippet is missing:\n{}", run.stdout);
    assert!(run.stdout.lines().any(|l| l.trim_end().ends_with('^') || l.contains("^^")), "the caret line is missing:\n{}", run.stdout);
}

/// `population-size` is a warning unless `--strict` (an official example has the mismatch);
/// `invalid/nml_population_size.nml` checks the strict error, this the default.
#[test]
fn population_size_is_a_warning_by_default() {
    let file = tests_dir().join("invalid").join("nml_population_size.nml");
    let Some(jnml) = jnml_dir("population_size_is_a_warning_by_default") else { return };
    let run = validate_json(&file, &[jnml.join("NeuroML2CoreTypes")]);
    assert!(!run.panicked(), "panicked:\n{}", run.stderr);
    assert_eq!(run.code, Some(0), "without --strict a size mismatch is only a warning; got {}\n{}", run.ended(), run.stdout);
    let reports = parse_reports(&run.stdout).expect("json");
    let warned = reports.iter().flat_map(|r| &r.diagnostics).any(|d| d.severity == "warning" && d.code == "population-size" && d.is_in(&file));
    assert!(warned, "expected a population-size warning:\n{}", run.stdout);
}

/// Nesting deeper than 256 levels is refused with `too-deep`, once.
#[test]
fn deep_nesting_is_refused() {
    let scratch = scratch_dir("too-deep");
    let file = scratch.join("deep.xml");
    let depth = 300;
    let mut text = String::from("<Lems>\n  <Dimension name=\"time\" t=\"1\"/>\n  <ComponentType name=\"Box\">\n    <Children name=\"boxes\" type=\"Box\"/>\n  </ComponentType>\n");
    for _ in 0..depth {
        text.push_str("<Component type=\"Box\">\n");
    }
    for _ in 0..depth {
        text.push_str("</Component>\n");
    }
    text.push_str("</Lems>\n");
    std::fs::write(&file, &text).unwrap();
    let run = validate_json(&file, &[]);
    assert!(!run.panicked(), "panicked:\n{}", run.stderr);
    assert_eq!(run.code, Some(1), "{}\n{}", run.ended(), run.stderr);
    let reports = parse_reports(&run.stdout).expect("json");
    let errors: Vec<&Diag> = reports.iter().flat_map(|r| &r.diagnostics).filter(|d| d.is_error()).collect();
    let too_deep: Vec<&&Diag> = errors.iter().filter(|d| d.code == "too-deep").collect();
    assert_eq!(too_deep.len(), 1, "expected one too-deep error, got: {:#?}", errors.iter().map(|d| d.describe()).collect::<Vec<_>>());
    // The first <Component> is on line 6 and at depth 2 (under <Lems>); the element reported
    // is one of the nested ones, at a depth of about 256.
    let line = too_deep[0].line;
    assert!((250..=270).contains(&line), "too-deep should point at the first element past the limit, got line {line}");
    assert_eq!(errors.len(), 1, "nothing but too-deep expected: {:#?}", errors.iter().map(|d| d.describe()).collect::<Vec<_>>());
}

/// Nesting inside a definition (`<Structure>`'s `<ForEach>`) is limited the same way, and
/// reported, not silently cut off.
#[test]
fn deep_structure_is_refused() {
    let scratch = scratch_dir("too-deep-structure");
    let file = scratch.join("deep_foreach.xml");
    let depth = 300;
    let mut text = String::from("<Lems>\n  <ComponentType name=\"Box\">\n    <Children name=\"boxes\" type=\"Box\"/>\n    <Structure>\n");
    for k in 0..depth {
        text.push_str(&format!("<ForEach instances=\"boxes\" as=\"b{k}\">\n"));
    }
    for _ in 0..depth {
        text.push_str("</ForEach>\n");
    }
    text.push_str("    </Structure>\n  </ComponentType>\n</Lems>\n");
    std::fs::write(&file, &text).unwrap();
    let run = validate_json(&file, &[]);
    assert!(!run.panicked(), "panicked:\n{}", run.stderr);
    let reports = parse_reports(&run.stdout).expect("json");
    let errors: Vec<String> = reports.iter().flat_map(|r| &r.diagnostics).filter(|d| d.is_error()).map(Diag::describe).collect();
    assert_eq!(run.code, Some(1), "300 nested <ForEach> must be refused with too-deep; got {} with {errors:#?}", run.ended());
    assert!(errors.iter().any(|e| e.contains("error[too-deep]")), "expected a too-deep error, got {errors:#?}");
}

/// A hostile 100 000-level document must neither crash (stack overflow) nor take long.
#[test]
fn very_deep_nesting_does_not_crash() {
    let scratch = scratch_dir("very-deep");
    let file = scratch.join("deeper.xml");
    let depth = 100_000;
    let mut text = String::with_capacity(depth * 10);
    text.push_str("<Lems>");
    for _ in 0..depth {
        text.push_str("<a>");
    }
    for _ in 0..depth {
        text.push_str("</a>");
    }
    text.push_str("</Lems>\n");
    std::fs::write(&file, &text).unwrap();
    let run = validate_json(&file, &[]);
    assert!(!run.panicked(), "panicked:\n{}", clip(&run.stderr, 2000));
    assert_eq!(run.code, Some(1), "{} (a crash shows as a signal)\n{}", run.ended(), clip(&run.stderr, 2000));
    assert!(run.elapsed.as_secs() < 30, "took {:?}", run.elapsed);
}

/// The entity bomb is in the corpus; here it must also be refused quickly.
#[test]
fn entity_bomb_is_refused_quickly() {
    let file = tests_dir().join("invalid").join("xml_billion_laughs.xml");
    let run = validate_json(&file, &[]);
    assert_eq!(run.code, Some(1), "{}\n{}", run.ended(), run.stderr);
    assert!(run.elapsed.as_secs() < 5, "refusing the entity bomb took {:?}", run.elapsed);
    assert!(run.stdout.len() < 100_000, "the output is {} bytes: was an entity expanded?", run.stdout.len());
}

/// The JSON output's documented shape: `[{"file","valid","diagnostics":[{"severity","code",
/// "message","location":{"file","line","column","end_line","end_column"},"labels","notes"}]}]`.
#[test]
fn json_output_has_the_documented_shape() {
    let file = tests_dir().join("invalid").join("unknown_regime.xml"); // needs no cache
    let run = validate_json(&file, &[]);
    assert_eq!(run.code, Some(1), "{}\n{}", run.ended(), run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON output");
    let files = v.as_array().expect("an array of files");
    assert_eq!(files.len(), 1);
    let f = &files[0];
    assert!(f["file"].as_str().is_some_and(|s| s.ends_with("unknown_regime.xml")), "file: {}", f["file"]);
    assert_eq!(f["valid"], serde_json::Value::Bool(false));
    let diags = f["diagnostics"].as_array().expect("diagnostics array");
    assert!(!diags.is_empty());
    for d in diags {
        for key in ["severity", "code", "message"] {
            assert!(d[key].as_str().is_some_and(|s| !s.is_empty()), "`{key}` should be a non-empty string in {d}");
        }
        assert!(matches!(d["severity"].as_str(), Some("error" | "warning" | "note" | "help" | "info")), "severity in {d}");
        assert!(d["labels"].is_array(), "`labels` should be an array in {d}");
        assert!(d["notes"].is_array(), "`notes` should be an array in {d}");
        let loc = &d["location"];
        assert!(loc["file"].is_string(), "location.file in {d}");
        let n = |k: &str| loc[k].as_u64().unwrap_or_else(|| panic!("location.{k} should be a number in {d}"));
        let (l, c, el, ec) = (n("line"), n("column"), n("end_line"), n("end_column"));
        assert!(l >= 1 && c >= 1, "1-based positions in {d}");
        assert!((el, ec) >= (l, c), "the end is before the start in {d}");
    }
}
