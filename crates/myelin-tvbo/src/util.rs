//! Small helpers shared by the reader and the converter.

pub(crate) use myelin_diag::suggest::did_you_mean;

/// Whether `s` is an identifier in both LEMS and SymPy: `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn is_identifier(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Shortest text that reads back as the same `f64` (`1`, `0.1`, `1e-5`).
pub(crate) fn format_f64(x: f64) -> String {
    if x == x.trunc() && x.abs() < 1e16 {
        return format!("{x}");
    }
    format!("{x:?}")
}
