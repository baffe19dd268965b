//! Test support: locating the third-party reference files that `scripts/fetch-reference.sh`
//! downloads into a cache outside the repository (never committed).

#![forbid(unsafe_code)]

use std::path::PathBuf;

/// The component types of LEMS's simulation elements (`Simulation`, `OutputFile`,
/// `OutputColumn`, `EventOutputFile`, `EventSelection`), for self-contained test documents
/// that cannot include the core types. They need a `time` dimension.
pub const SIMULATION_TYPES: &str = r#"
  <ComponentType name="Simulation">
    <Parameter name="length" dimension="time"/>
    <Parameter name="step" dimension="time"/>
    <ComponentReference name="target" type="Component"/>
    <Children name="outputs" type="OutputFile"/>
    <Children name="events" type="EventOutputFile"/>
  </ComponentType>
  <ComponentType name="OutputFile">
    <Text name="fileName"/>
    <Children name="columns" type="OutputColumn"/>
  </ComponentType>
  <ComponentType name="OutputColumn"><Path name="quantity"/></ComponentType>
  <ComponentType name="EventOutputFile">
    <Text name="fileName"/><Text name="format"/>
    <Children name="selections" type="EventSelection"/>
  </ComponentType>
  <ComponentType name="EventSelection"><Path name="select"/><Text name="eventPort"/></ComponentType>
"#;

/// The cache directory: `$MYELIN_CACHE`, else `~/.cache/myelin`.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("MYELIN_CACHE") {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("myelin")
}

/// The unpacked jNeuroML resources (`NeuroML2CoreTypes/`, `LEMSexamples/`, `examples/`), or
/// `None` when they are absent and `MYELIN_SKIP_REFERENCE=1` allows skipping.
///
/// # Panics
/// When the files are absent and skipping is not allowed: a test that silently passes without
/// its data would be worthless.
pub fn jnml_dir() -> Option<PathBuf> {
    require(cache_dir().join("jnml"), "NeuroML2CoreTypes")
}

/// TVBO's unpacked `database/` directory, with the same rules as [`jnml_dir`].
pub fn tvbo_database() -> Option<PathBuf> {
    require(cache_dir().join("tvbo").join("database"), "models")
}

fn require(dir: PathBuf, probe: &str) -> Option<PathBuf> {
    if dir.join(probe).is_dir() {
        return Some(dir);
    }
    if std::env::var_os("MYELIN_SKIP_REFERENCE").is_some_and(|v| v == "1") {
        return None;
    }
    panic!(
        "reference files not found at {}: run `scripts/fetch-reference.sh` first \
         (or set MYELIN_SKIP_REFERENCE=1 to skip the tests that need them)",
        dir.display()
    );
}

/// Sorted files of `dir` whose names satisfy `keep`.
pub fn files_in(dir: &std::path::Path, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(&keep)).collect())
        .unwrap_or_default();
    v.sort();
    v
}
