//! `myelin`: the command-line front of the toolchain. It owns terminal output and exit codes;
//! everything else lives in the library crates.

#![forbid(unsafe_code)]

#![allow(clippy::print_stdout, clippy::print_stderr)] // a CLI prints

mod run_cmd;
mod tvbo_cmd;

use clap::{Parser, Subcommand, ValueEnum};
use myelin_diag::{Diagnostics, SourceMap};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit code for valid input / success.
pub(crate) const EXIT_OK: u8 = 0;
/// Exit code for input that was read but is invalid.
pub(crate) const EXIT_INVALID: u8 = 1;
/// Exit code for input that could not be used at all (missing file, bad arguments).
pub(crate) const EXIT_UNUSABLE: u8 = 2;

#[derive(Parser)]
#[command(name = "myelin", version, about = "Validate, simulate and convert NeuroML2/LEMS and TVBO models", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check LEMS / NeuroML2 documents and report every problem with file:line:col.
    ///
    /// Exit status: 0 when every file is valid, 1 when any is invalid, 2 when a file cannot be
    /// read at all.
    Validate {
        /// Documents to check; each is checked together with everything it includes.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Extra directories to search for included files.
        #[arg(short = 'I', long = "include", value_name = "DIR")]
        include_dirs: Vec<PathBuf>,
        /// How to print diagnostics.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Print nothing for valid files.
        #[arg(short, long)]
        quiet: bool,
        /// Treat warnings (e.g. a population whose `size` disagrees with its instances) as errors.
        #[arg(long)]
        strict: bool,
    },
    /// Run the simulation of a LEMS / NeuroML file (its `<Target>`) and write its output files
    /// where jNeuroML would, in the same layout.
    Run {
        file: PathBuf,
        #[arg(short = 'I', long = "include", value_name = "DIR")]
        include_dirs: Vec<PathBuf>,
        /// Override the simulated time (e.g. `100ms`).
        #[arg(long)]
        duration: Option<String>,
        /// Override the time step (e.g. `0.01ms`).
        #[arg(long)]
        dt: Option<String>,
        /// Seed for `random()` (default: the Simulation's `seed`, else jLEMS's 1234).
        #[arg(long)]
        seed: Option<i64>,
        /// Integration method: `euler` (jLEMS's forward Euler; the default for LEMS/NeuroML),
        /// `heun` (the default for TVBO models, as in TVB) or `rk4`.
        #[arg(long)]
        method: Option<String>,
        /// Write outputs under this directory instead of the LEMS file's; also allows output
        /// paths that leave it.
        #[arg(long)]
        out_dir: Option<PathBuf>,
        /// No progress bar and no summary line.
        #[arg(short, long)]
        quiet: bool,
        /// Use the plain reference interpreter (slow), to cross-check the fast engine.
        ///
        /// One synapse instance per connection (as jNeuroML) and one instance stepped at a
        /// time: no merged synapses, no batched populations. The fast engine's results equal
        /// these up to the rounding of a different summation order. Much slower on big
        /// networks (hundreds of times for 125k synapses).
        #[arg(long)]
        reference: bool,
        /// Interpret the engine's flat programs instead of compiling them to machine code.
        ///
        /// Same results, slower. Only matters in builds with the `jit` feature (the default).
        #[arg(long)]
        no_jit: bool,
    },
    /// Export a TVBO model or experiment (YAML) as LEMS that jNeuroML runs, or as TVBO YAML.
    Export {
        /// The TVBO file (a model or a SimulationExperiment), or the name of a built-in model
        /// (`myelin models`; a file of that name wins).
        file: PathBuf,
        /// What to write.
        #[arg(long, value_enum, default_value_t = tvbo_cmd::Target::Lems)]
        to: tvbo_cmd::Target,
        /// Write three files chained by <Include> (dynamics, network, simulation) into the
        /// directory given with -o, and print their paths.
        #[arg(long)]
        split: bool,
        /// Output file (a directory with --split); default: standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Simulated time (e.g. `50ms`; a bare number is in the model's time unit).
        #[arg(long)]
        duration: Option<String>,
        /// Time step (e.g. `0.01ms`).
        #[arg(long)]
        dt: Option<String>,
    },
    /// List myelin's built-in TVBO models, or print one (`myelin models NAME`) as TVBO YAML.
    ///
    /// `export`, `validate` and `run` accept a built-in model's name where a file is expected.
    Models {
        /// The model to print.
        name: Option<String>,
    },
    /// Read a document (and its includes) and write it back as LEMS / NeuroML XML.
    Write {
        file: PathBuf,
        #[arg(short = 'I', long = "include", value_name = "DIR")]
        include_dirs: Vec<PathBuf>,
        /// Write every definition and component of the model into one self-contained `<Lems>`
        /// file instead of just the given document.
        #[arg(long)]
        flatten: bool,
        /// Output file (default: standard output). Written only if the model is valid.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Validate { files, include_dirs, format, quiet, strict } => validate(&files, include_dirs, format, quiet, strict),
        Command::Write { file, include_dirs, flatten, output } => write(&file, include_dirs, flatten, output),
        Command::Models { name } => tvbo_cmd::models(name.as_deref()),
        Command::Export { file, to, split, output, duration, dt } => tvbo_cmd::export(tvbo_cmd::ExportArgs { file, to, split, output, duration, dt }),
        Command::Run { file, include_dirs, duration, dt, seed, method, out_dir, quiet, reference, no_jit } => {
            run_cmd::run(run_cmd::RunArgs { file, include_dirs, duration, dt, seed, method, out_dir, quiet, reference, no_jit })
        }
    };
    ExitCode::from(code)
}

/// Loads and checks one document. `Err` means it could not be read at all.
pub(crate) fn load_and_check(
    file: &std::path::Path,
    include_dirs: &[PathBuf],
    sources: &mut SourceMap,
    diags: &mut Diagnostics,
) -> Result<myelin_lems::Loaded, myelin_lems::Unusable> {
    if tvbo_cmd::is_tvbo(file) {
        return tvbo_cmd::load_and_check(file, sources, diags, true, None);
    }
    let opts = myelin_lems::LoadOptions { include_dirs: include_dirs.to_vec() };
    let loaded = myelin_lems::load(file, &opts, &myelin_lems::OsFs, sources, diags)?;
    myelin_check::check(&loaded.model, diags);
    diags.sort();
    Ok(loaded)
}

fn validate(files: &[PathBuf], include_dirs: Vec<PathBuf>, format: Format, quiet: bool, strict: bool) -> u8 {
    let mut worst = EXIT_OK;
    let mut json_out = Vec::new();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for (i, file) in files.iter().enumerate() {
        let mut sources = SourceMap::new();
        let mut diags = Diagnostics::new();
        let loaded = if tvbo_cmd::is_tvbo(file) { tvbo_cmd::load_and_check(file, &mut sources, &mut diags, false, None) } else { load_and_check(file, &include_dirs, &mut sources, &mut diags) };
        match loaded {
            Err(e) => {
                worst = worst.max(EXIT_UNUSABLE);
                match format {
                    Format::Text => eprintln!("error[unreadable]: cannot read {e}"),
                    Format::Json => json_out.push(serde_json::json!({
                        "file": file.display().to_string(), "valid": false, "unusable": e.message,
                        "diagnostics": [],
                    })),
                }
            }
            Ok(loaded) => {
                // A big model takes a noticeable time to free (~0.2e9 instructions for 125k
                // components). After the last file the process only prints and exits, so leave
                // that model to the OS; earlier ones are freed, so that memory stays bounded
                // when many files are checked at once.
                if i + 1 == files.len() {
                    std::mem::forget(loaded);
                } else {
                    drop(loaded);
                }
                if strict {
                    diags.promote_warnings();
                }
                let errors = diags.error_count();
                if errors > 0 {
                    worst = worst.max(EXIT_INVALID);
                }
                match format {
                    Format::Text => {
                        for d in diags.iter() {
                            let _ = write!(out, "{}", myelin_diag::render_text(&sources, d));
                        }
                        if errors > 0 {
                            let _ = writeln!(out, "{}: invalid ({errors} error{})", file.display(), if errors == 1 { "" } else { "s" });
                        } else if !quiet {
                            let _ = writeln!(out, "{}: valid", file.display());
                        }
                    }
                    Format::Json => {
                        let list: Vec<_> = diags.iter().map(|d| myelin_diag::to_json(&sources, d)).collect();
                        json_out.push(serde_json::json!({
                            "file": file.display().to_string(), "valid": errors == 0, "diagnostics": list,
                        }));
                    }
                }
            }
        }
    }
    if format == Format::Json {
        let _ = writeln!(out, "{}", serde_json::to_string_pretty(&json_out).unwrap_or_default());
    }
    worst
}

fn write(file: &std::path::Path, include_dirs: Vec<PathBuf>, flatten: bool, output: Option<PathBuf>) -> u8 {
    let mut sources = SourceMap::new();
    let mut diags = Diagnostics::new();
    let loaded = match load_and_check(file, &include_dirs, &mut sources, &mut diags) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error[unreadable]: cannot read {e}");
            return EXIT_UNUSABLE;
        }
    };
    for d in diags.iter() {
        eprint!("{}", myelin_diag::render_text(&sources, d));
    }
    if diags.has_errors() {
        eprintln!("{}: invalid; nothing written", file.display());
        return EXIT_INVALID;
    }
    let opts = myelin_lems::WriteOptions { file: if flatten { None } else { Some(loaded.root) } };
    let xml = myelin_lems::write_document(&loaded.model, &opts);
    match output {
        None => {
            let _ = std::io::stdout().lock().write_all(xml.as_bytes());
            EXIT_OK
        }
        Some(path) => match write_atomically(&path, xml.as_bytes()) {
            Ok(()) => EXIT_OK,
            Err(e) => {
                eprintln!("error[write-failed]: cannot write {}: {e}", path.display());
                EXIT_UNUSABLE
            }
        },
    }
}

/// Writes to a temporary file beside `path`, then renames it, so a failed write never leaves a
/// file that looks complete.
pub(crate) fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let name = path.file_name().ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path"))?;
    let tmp = dir.join(format!(".{}.myelin-tmp", name.to_string_lossy()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
