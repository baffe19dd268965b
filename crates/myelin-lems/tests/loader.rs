//! Include resolution, hostile input and the writer's round trip, on documents in memory.

use myelin_diag::{Diagnostics, SourceMap};
use myelin_lems::{load, load_str, write_document, LoadOptions, MemFs, WriteOptions};
use std::path::{Path, PathBuf};

const DIMS: &str = r#"<Lems>
  <Dimension name="voltage" m="1" l="2" t="-3" i="-1"/>
  <Dimension name="time" t="1"/>
  <Unit symbol="mV" dimension="voltage" power="-3"/>
  <Unit symbol="ms" dimension="time" power="-3"/>
</Lems>"#;

const MODEL: &str = r#"<Lems>
  <Include file="dims.xml"/>
  <Include file="./dims.xml"/>
  <ComponentType name="leaky">
    <Parameter name="tau" dimension="time"/>
    <Parameter name="v0" dimension="voltage"/>
    <Exposure name="v" dimension="voltage"/>
    <Dynamics>
      <StateVariable name="v" dimension="voltage" exposure="v"/>
      <TimeDerivative variable="v" value="-v/tau"/>
      <OnStart><StateAssignment variable="v" value="v0"/></OnStart>
    </Dynamics>
  </ComponentType>
  <Component id="c1" type="leaky" tau="10ms" v0="-60mV"/>
  <leaky id="c2" tau="5 ms" v0="1mV"/>
</Lems>"#;

fn fs() -> MemFs {
    MemFs::new().with("/m/dims.xml", DIMS).with("/m/model.xml", MODEL)
}

fn load_path(fs: &MemFs, path: &str, opts: &LoadOptions) -> (myelin_lems::Loaded, Diagnostics, SourceMap) {
    let mut sources = SourceMap::new();
    let mut diags = Diagnostics::new();
    let loaded = load(Path::new(path), opts, fs, &mut sources, &mut diags).expect("readable");
    (loaded, diags, sources)
}

fn render(diags: &Diagnostics, sources: &SourceMap) -> String {
    diags.iter().map(|d| myelin_diag::render_text(sources, d)).collect()
}

#[test]
fn includes_are_read_once_and_resolve_from_the_including_directory() {
    let (loaded, diags, sources) = load_path(&fs(), "/m/model.xml", &LoadOptions::default());
    assert!(diags.is_empty(), "{}", render(&diags, &sources));
    assert_eq!(loaded.model.documents.len(), 2, "dims.xml is read once although included twice");
    assert_eq!(loaded.model.dimensions.len(), 2);
    assert_eq!(loaded.model.components.len(), 2);
    assert_eq!(loaded.model.components[1].type_name, "leaky", "tag-style component resolves to its tag's type");
}

#[test]
fn include_dirs_are_searched_after_the_including_directory() {
    let fs = MemFs::new().with("/lib/dims.xml", DIMS).with("/m/model.xml", MODEL);
    let (_, diags, sources) = load_path(&fs, "/m/model.xml", &LoadOptions::default());
    assert!(diags.iter().any(|d| d.code == "include-not-found"), "{}", render(&diags, &sources));
    let opts = LoadOptions { include_dirs: vec![PathBuf::from("/lib")] };
    let (_, diags, sources) = load_path(&fs, "/m/model.xml", &opts);
    assert!(diags.is_empty(), "{}", render(&diags, &sources));
}

#[test]
fn missing_core_types_say_to_pass_dash_i() {
    let fs = MemFs::new().with("/m/x.xml", r#"<Lems><Include file="Cells.xml"/></Lems>"#);
    let (_, diags, sources) = load_path(&fs, "/m/x.xml", &LoadOptions::default());
    let text = render(&diags, &sources);
    assert!(text.contains("/m/x.xml:1:22: error[include-not-found]"), "{text}");
    assert!(text.contains("-I DIR"), "{text}");
}

#[test]
fn hostile_documents_are_refused_quickly() {
    let laughs = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">{}]><Lems>&lol9;</Lems>",
        (1..10).map(|k| format!("<!ENTITY lol{k} \"{}\">", format!("&lol{};", if k == 1 { String::new() } else { (k - 1).to_string() }).repeat(10))).collect::<String>()
    );
    let external = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><Lems>&e;</Lems>"#;
    let deep = format!("<Lems>{}{}</Lems>", "<Component id=\"a\" type=\"t\">".repeat(400), "</Component>".repeat(400));
    for (name, text, code) in [("laughs", laughs.as_str(), "malformed-xml"), ("external", external, "malformed-xml"), ("deep", deep.as_str(), "too-deep")] {
        let mut sources = SourceMap::new();
        let mut diags = Diagnostics::new();
        let start = std::time::Instant::now();
        let _ = load_str("/h.xml", text, &LoadOptions::default(), &MemFs::new(), &mut sources, &mut diags);
        assert!(start.elapsed().as_secs() < 5, "{name} took too long");
        assert!(diags.iter().any(|d| d.code == code), "{name}: {}", render(&diags, &sources));
    }
}

#[test]
fn written_document_reads_back_to_the_same_model() {
    let (loaded, diags, _) = load_path(&fs(), "/m/model.xml", &LoadOptions::default());
    assert!(diags.is_empty());
    let once = write_document(&loaded.model, &WriteOptions { file: Some(loaded.root) });
    assert!(once.contains(r#"<Include file="dims.xml"/>"#), "{once}");
    assert!(once.contains(r#"<TimeDerivative variable="v" value="-v/tau"/>"#), "{once}");
    assert!(once.contains(r#"<leaky id="c2" tau="5 ms" v0="1mV"/>"#), "{once}");
    let fs2 = fs().with("/m/again.xml", once.clone());
    let (again, diags, sources) = load_path(&fs2, "/m/again.xml", &LoadOptions::default());
    assert!(diags.is_empty(), "{}", render(&diags, &sources));
    let twice = write_document(&again.model, &WriteOptions { file: Some(again.root) });
    assert_eq!(once, twice);
    // The flattened model (everything, includes inlined) is the same too.
    let flat1 = write_document(&loaded.model, &WriteOptions { file: None });
    let flat2 = write_document(&again.model, &WriteOptions { file: None });
    assert_eq!(flat1, flat2);
    assert!(flat1.contains("<Dimension name=\"voltage\""), "{flat1}");
}
