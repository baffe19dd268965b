//! The LEMS / NeuroML2 XML front end and back end.
//!
//! [`load`] reads a document and everything it includes into one [`myelin_ir::Model`],
//! resolving `<Include file=..>` and NeuroML `<include href=..>` the way jLEMS does: the
//! including file's directory, then the working directory, then the `-I` directories, then the
//! directories of files already included. A file reached twice is read once. Structural
//! problems (malformed XML, unknown elements or attributes inside definitions, missing
//! includes) are reported as diagnostics; the semantic checks live in `myelin-check`.
//!
//! [`write_document`] turns a model back into LEMS/NeuroML XML.
//!
//! This crate does I/O only through the [`FileSystem`] trait.

#![forbid(unsafe_code)]

mod fs;
mod read;
mod resolve;
mod write;
mod xml;

pub use fs::{normalise, FileSystem, MemFs, OsFs, MAX_FILE_BYTES};
pub use write::{write_document, WriteOptions};

use myelin_diag::{Diagnostic, Diagnostics, FileId, SourceMap, Span};
use myelin_ir::{Document, Include, Model};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Names of the files of the NeuroML2 core-type library, which jNeuroML resolves from inside
/// its jar.
pub const CORE_TYPE_FILES: &[&str] = &[
    "NeuroML2CoreTypes.xml",
    "NeuroMLCoreDimensions.xml",
    "NeuroMLCoreCompTypes.xml",
    "Cells.xml",
    "Channels.xml",
    "Synapses.xml",
    "Inputs.xml",
    "Networks.xml",
    "PyNN.xml",
    "Simulation.xml",
];

#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Extra include directories (`-I`), searched after the including file's directory and the
    /// working directory.
    pub include_dirs: Vec<PathBuf>,
}

/// Why a root document could not be used at all (as opposed to being invalid).
#[derive(Debug)]
pub struct Unusable {
    pub path: PathBuf,
    pub message: String,
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

/// The result of loading one root document.
#[derive(Debug)]
pub struct Loaded {
    pub model: Model,
    /// The root document's file.
    pub root: FileId,
    /// The path each file was read from.
    pub paths: HashMap<FileId, PathBuf>,
}

/// Reads `path` and everything it includes.
///
/// Returns `Err` only when the root file cannot be read at all; every other problem is a
/// diagnostic, and the model holds whatever could be read.
pub fn load(
    path: &Path,
    opts: &LoadOptions,
    fs: &dyn FileSystem,
    sources: &mut SourceMap,
    diags: &mut Diagnostics,
) -> Result<Loaded, Unusable> {
    let text = fs.read(path).map_err(|e| Unusable { path: path.to_path_buf(), message: describe_io(&e) })?;
    let mut loader = Loader { fs, opts, sources, diags, seen: HashMap::new(), model: Model::default(), paths: HashMap::new(), extra_dirs: vec![] };
    let root = loader.add_document(path, text);
    loader.implicit_core_types(path, root);
    resolve::resolve_component_types(&mut loader.model);
    Ok(Loaded { model: loader.model, root, paths: loader.paths })
}

/// Reads a document given as a string (for tests and tools); includes resolve against `fs`
/// with `name` as the including path.
pub fn load_str(
    name: &str,
    text: &str,
    opts: &LoadOptions,
    fs: &dyn FileSystem,
    sources: &mut SourceMap,
    diags: &mut Diagnostics,
) -> Loaded {
    let mut loader = Loader { fs, opts, sources, diags, seen: HashMap::new(), model: Model::default(), paths: HashMap::new(), extra_dirs: vec![] };
    let root = loader.add_document(Path::new(name), text.to_string());
    loader.implicit_core_types(Path::new(name), root);
    resolve::resolve_component_types(&mut loader.model);
    Loaded { model: loader.model, root, paths: loader.paths }
}

fn describe_io(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    }
}

struct Loader<'a> {
    fs: &'a dyn FileSystem,
    opts: &'a LoadOptions,
    sources: &'a mut SourceMap,
    diags: &'a mut Diagnostics,
    /// Canonical path → file, so each file is read once.
    seen: HashMap<PathBuf, FileId>,
    model: Model,
    paths: HashMap<FileId, PathBuf>,
    /// Directories of files included so far (searched last, as jLEMS does).
    extra_dirs: Vec<PathBuf>,
}

/// What a `<neuroml>` document may use without including it, as jNeuroML provides it.
pub const NEUROML_IMPLICIT_INCLUDES: &[&str] = &["NeuroML2CoreTypes.xml", "PyNN.xml"];

impl Loader<'_> {
    /// A `<neuroml>` document uses the NeuroML2 core types without including them (jNeuroML
    /// supplies them); read them here, from the same search path as any include.
    fn implicit_core_types(&mut self, path: &Path, root: FileId) {
        let is_neuroml = self.model.documents.first().is_some_and(|d| d.file == root && d.root == myelin_ir::RootKind::NeuroML);
        if !is_neuroml {
            return;
        }
        for name in NEUROML_IMPLICIT_INCLUDES {
            let candidates = self.search_path(path, name);
            match candidates.iter().find(|p| self.fs.is_file(p)).cloned() {
                Some(found) => {
                    let canonical = self.fs.canonical(&found);
                    if self.seen.contains_key(&canonical) {
                        continue;
                    }
                    match self.fs.read(&found) {
                        Ok(text) => {
                            self.add_document(&found, text);
                        }
                        Err(e) => self.diags.push(Diagnostic::error(
                            "include-unreadable",
                            format!("cannot read the NeuroML2 core types at `{}`: {}", found.display(), describe_io(&e)),
                        )),
                    }
                }
                None => {
                    let span = Span::new(root, 0, 0);
                    self.diags.push(
                        Diagnostic::error("include-not-found", format!("a `<neuroml>` document needs the NeuroML2 core types (`{name}`), which were not found"))
                            .at(span)
                            .with_note(
                                "myelin does not bundle the core types yet: pass `-I DIR` with the directory holding \
                                 NeuroML2CoreTypes/*.xml (scripts/fetch-reference.sh downloads them)",
                            ),
                    );
                    return;
                }
            }
        }
    }

    fn add_document(&mut self, path: &Path, text: String) -> FileId {
        let file = self.sources.add(display_path(path), text);
        self.seen.insert(self.fs.canonical(path), file);
        self.paths.insert(file, path.to_path_buf());
        let src = self.sources.get(file).map_or("", |f| f.text.as_str());
        let Some(items) = read::read_document(file, src, self.diags) else {
            return file;
        };
        let doc_index = self.model.documents.len();
        self.model.documents.push(Document {
            file,
            root: items.root,
            includes: vec![],
            root_attributes: items.root_attributes,
        });
        // Includes are processed where they appear, before this document's own definitions are
        // merged, so a document can use what it includes regardless of element order.
        for (href, span) in items.includes {
            let resolved = self.include(path, &href, span);
            self.model.documents[doc_index].includes.push(Include { href, span, resolved });
        }
        self.merge(items.dimensions, items.units, items.constants, items.component_types);
        self.model.components.extend(items.components);
        self.model.targets.extend(items.targets);
        file
    }

    fn merge(
        &mut self,
        dimensions: Vec<myelin_ir::DimensionDef>,
        units: Vec<myelin_ir::UnitDef>,
        constants: Vec<myelin_ir::Constant>,
        types: Vec<myelin_ir::ComponentType>,
    ) {
        for d in dimensions {
            if let Some(prev) = self.model.dimensions.get(&d.name) {
                if prev.dimension != d.dimension {
                    self.diags.push(
                        Diagnostic::error("duplicate-definition", format!("dimension `{}` is defined twice, differently", d.name))
                            .at(d.span)
                            .with_label(prev.span, "first defined here"),
                    );
                }
                continue;
            }
            self.model.dimensions.insert(d.name.clone(), d);
        }
        for u in units {
            if let Some(prev) = self.model.units.get(&u.symbol) {
                if (prev.dimension.as_str(), prev.power, prev.scale, prev.offset) != (u.dimension.as_str(), u.power, u.scale, u.offset) {
                    self.diags.push(
                        Diagnostic::error("duplicate-definition", format!("unit `{}` is defined twice, differently", u.symbol))
                            .at(u.span)
                            .with_label(prev.span, "first defined here"),
                    );
                }
                continue;
            }
            self.model.units.insert(u.symbol.clone(), u);
        }
        for c in constants {
            if let Some(prev) = self.model.constants.get(&c.name) {
                self.diags.push(
                    Diagnostic::error("duplicate-definition", format!("constant `{}` is defined twice", c.name))
                        .at(c.span)
                        .with_label(prev.span, "first defined here"),
                );
                continue;
            }
            self.model.constants.insert(c.name.clone(), c);
        }
        for t in types {
            if let Some(prev) = self.model.component_types.get(&t.name) {
                self.diags.push(
                    Diagnostic::error("duplicate-definition", format!("component type `{}` is defined twice", t.name))
                        .at(t.name_span)
                        .with_label(prev.name_span, "first defined here"),
                );
                continue;
            }
            self.model.component_types.insert(t.name.clone(), t);
        }
    }

    fn include(&mut self, from: &Path, href: &str, span: Span) -> Option<FileId> {
        let candidates = self.search_path(from, href);
        let Some(found) = candidates.iter().find(|p| self.fs.is_file(p)).cloned() else {
            let mut d = Diagnostic::error("include-not-found", format!("cannot find included file `{href}`")).at(span);
            let searched: Vec<String> = candidates.iter().filter_map(|p| p.parent()).map(|p| p.display().to_string()).collect();
            d = d.with_note(format!("searched: {}", searched.join(", ")));
            let base = Path::new(href).file_name().and_then(|s| s.to_str()).unwrap_or("");
            if CORE_TYPE_FILES.contains(&base) {
                d = d.with_note(
                    "this is a NeuroML2 core-type file; myelin does not bundle the core types yet: \
                     pass `-I DIR` with the directory holding NeuroML2CoreTypes/*.xml (see scripts/fetch-reference.sh)",
                );
            } else {
                d = d.with_note("pass `-I DIR` to add a directory to search");
            }
            self.diags.push(d);
            return None;
        };
        let canonical = self.fs.canonical(&found);
        if let Some(&file) = self.seen.get(&canonical) {
            return Some(file);
        }
        let text = match self.fs.read(&found) {
            Ok(t) => t,
            Err(e) => {
                self.diags.push(
                    Diagnostic::error("include-unreadable", format!("cannot read included file `{}`: {}", found.display(), describe_io(&e)))
                        .at(span),
                );
                return None;
            }
        };
        if let Some(dir) = found.parent()
            && !self.extra_dirs.iter().any(|d| d == dir) {
                self.extra_dirs.push(dir.to_path_buf());
            }
        Some(self.add_document(&found, text))
    }

    fn search_path(&self, from: &Path, href: &str) -> Vec<PathBuf> {
        let rel = Path::new(href);
        if rel.is_absolute() {
            return vec![rel.to_path_buf()];
        }
        let mut dirs: Vec<PathBuf> = vec![];
        dirs.push(from.parent().map(Path::to_path_buf).unwrap_or_default());
        dirs.push(self.fs.current_dir());
        dirs.extend(self.opts.include_dirs.iter().cloned());
        dirs.extend(self.extra_dirs.iter().cloned());
        let mut out: Vec<PathBuf> = vec![];
        for d in dirs {
            let p = if d.as_os_str().is_empty() { rel.to_path_buf() } else { d.join(rel) };
            let p = normalise(&p);
            if !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }
}

/// How a path is shown in diagnostics: relative to the working directory when it is inside it.
fn display_path(path: &Path) -> String {
    if path.is_absolute()
        && let Ok(cwd) = std::env::current_dir()
            && let Ok(rel) = path.strip_prefix(&cwd) {
                return rel.display().to_string();
            }
    path.display().to_string()
}
