//! Where documents come from: the file system, behind a trait so tests can use memory.

use std::io;
use std::path::{Path, PathBuf};

/// Largest document myelin reads (bigger files are refused before reading).
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// The operations the loader needs. Paths are as the user gave them or as includes resolved them.
pub trait FileSystem {
    /// Reads a whole UTF-8 file. Implementations refuse anything that is not a regular file or is
    /// larger than [`MAX_FILE_BYTES`].
    fn read(&self, path: &Path) -> io::Result<String>;
    /// Whether `path` names a regular file.
    fn is_file(&self, path: &Path) -> bool;
    /// A canonical form of `path`, used to read each file once however it is reached.
    fn canonical(&self, path: &Path) -> PathBuf;
    /// The working directory, searched after the including file's directory.
    fn current_dir(&self) -> PathBuf;
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsFs;

impl FileSystem for OsFs {
    fn read(&self, path: &Path) -> io::Result<String> {
        let meta = std::fs::metadata(path)?;
        if !meta.is_file() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("file is {} bytes; myelin reads documents up to {} bytes", meta.len(), MAX_FILE_BYTES),
            ));
        }
        let bytes = std::fs::read(path)?;
        String::from_utf8(bytes).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidData, format!("not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to()))
        })
    }

    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }

    fn canonical(&self, path: &Path) -> PathBuf {
        std::fs::canonicalize(path).unwrap_or_else(|_| normalise(path))
    }

    fn current_dir(&self) -> PathBuf {
        std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
    }
}

/// Removes `.` and folds `..` lexically.
pub fn normalise(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// An in-memory file system for tests and embedding.
#[derive(Debug, Default, Clone)]
pub struct MemFs {
    pub files: std::collections::BTreeMap<PathBuf, String>,
    pub cwd: PathBuf,
}

impl MemFs {
    pub fn new() -> Self {
        MemFs { files: Default::default(), cwd: PathBuf::from("/") }
    }

    pub fn with(mut self, path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        self.files.insert(normalise(&path.into()), text.into());
        self
    }
}

impl FileSystem for MemFs {
    fn read(&self, path: &Path) -> io::Result<String> {
        self.files.get(&normalise(path)).cloned().ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))
    }

    fn is_file(&self, path: &Path) -> bool {
        self.files.contains_key(&normalise(path))
    }

    fn canonical(&self, path: &Path) -> PathBuf {
        normalise(&self.cwd.join(path))
    }

    fn current_dir(&self) -> PathBuf {
        self.cwd.clone()
    }
}
