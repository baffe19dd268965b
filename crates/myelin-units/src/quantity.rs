//! Quantity strings as NeuroML and LEMS write them: a number, optional whitespace, an optional
//! unit symbol (`-60mV`, `0.7 nS_per_mV`, `1e-3 s`, `30 degC`, `.5`, `3`).

use crate::{Dimension, UnitTable};
use std::fmt;

/// A value converted to SI, with its dimension and the unit symbol it was written with.
#[derive(Clone, Debug, PartialEq)]
pub struct Quantity {
    pub si: f64,
    pub dimension: Dimension,
    pub unit: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QuantityError {
    /// The text does not start with a number.
    NotANumber,
    /// The number is followed by a symbol that is not a known unit.
    UnknownUnit(String),
    /// The number overflows to infinity or is NaN.
    NotFinite,
}

impl fmt::Display for QuantityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuantityError::NotANumber => f.write_str("expected a number, optionally followed by a unit (e.g. `-60mV`)"),
            QuantityError::UnknownUnit(u) => write!(f, "unknown unit `{u}`"),
            QuantityError::NotFinite => f.write_str("the number is not finite"),
        }
    }
}

impl std::error::Error for QuantityError {}

/// Splits the longest leading decimal number (sign, digits, point, exponent) off `s`.
/// Returns the number and the rest, or `None` if `s` does not start with a number.
pub fn parse_number_prefix(s: &str) -> Option<(f64, &str)> {
    let b = s.as_bytes();
    let mut k = 0;
    if k < b.len() && (b[k] == b'+' || b[k] == b'-') {
        k += 1;
    }
    let digits_start = k;
    while k < b.len() && b[k].is_ascii_digit() {
        k += 1;
    }
    let mut mantissa_digits = k - digits_start;
    if k < b.len() && b[k] == b'.' {
        k += 1;
        let frac_start = k;
        while k < b.len() && b[k].is_ascii_digit() {
            k += 1;
        }
        mantissa_digits += k - frac_start;
    }
    if mantissa_digits == 0 {
        return None;
    }
    // An exponent only counts if digits follow it: `1e-3` is a number, `1 eV` is not our business.
    if k < b.len() && (b[k] == b'e' || b[k] == b'E') {
        let mut e = k + 1;
        if e < b.len() && (b[e] == b'+' || b[e] == b'-') {
            e += 1;
        }
        let exp_start = e;
        while e < b.len() && b[e].is_ascii_digit() {
            e += 1;
        }
        if e > exp_start {
            k = e;
        }
    }
    let value: f64 = s[..k].parse().ok()?;
    Some((value, &s[k..]))
}

/// Parses a quantity string against the units of a document.
pub fn parse_quantity(text: &str, units: &UnitTable) -> Result<Quantity, QuantityError> {
    let (si, dimension, unit) = parse_quantity_ref(text, units)?;
    Ok(Quantity { si, dimension, unit: unit.map(str::to_string) })
}

/// [`parse_quantity`] without allocating: the SI value, the dimension and the unit symbol as
/// written (a slice of `text`). For checking hundreds of thousands of attributes.
pub fn parse_quantity_ref<'t>(text: &'t str, units: &UnitTable) -> Result<(f64, Dimension, Option<&'t str>), QuantityError> {
    let trimmed = text.trim();
    let (value, rest) = parse_number_prefix(trimmed).ok_or(QuantityError::NotANumber)?;
    if !value.is_finite() {
        return Err(QuantityError::NotFinite);
    }
    let symbol = rest.trim();
    if symbol.is_empty() {
        return Ok((value, Dimension::NONE, None));
    }
    let unit = units.get(symbol).ok_or_else(|| QuantityError::UnknownUnit(symbol.to_string()))?;
    let si = unit.to_si(value);
    if !si.is_finite() {
        return Err(QuantityError::NotFinite);
    }
    Ok((si, unit.dimension, Some(symbol)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Unit;

    fn table() -> UnitTable {
        let v = Dimension::new(1, 2, -3, -1, 0, 0, 0);
        let mut t = UnitTable::new();
        let mut add = |s: &str, d: Dimension, p: i32, sc: f64, off: f64| {
            t.insert(Unit { symbol: s.into(), dimension: d, dimension_name: String::new(), power: p, scale: sc, offset: off });
        };
        add("mV", v, -3, 1.0, 0.0);
        add("nS_per_mV", Dimension::new(-2, -4, 6, 3, 0, 0, 0), -6, 1.0, 0.0);
        add("s", Dimension::TIME, 0, 1.0, 0.0);
        add("degC", Dimension { k: 1, ..Dimension::NONE }, 0, 1.0, 273.15);
        add("per_min", Dimension::PER_TIME, 0, 0.01666666667, 0.0);
        t
    }

    #[test]
    fn neuroml_styles() {
        let t = table();
        let q = parse_quantity("-60mV", &t).unwrap();
        assert!((q.si + 0.06).abs() < 1e-15);
        assert_eq!(q.unit.as_deref(), Some("mV"));
        assert!((parse_quantity("0.7 nS_per_mV", &t).unwrap().si - 0.7e-6).abs() < 1e-18);
        assert_eq!(parse_quantity("1e-3 s", &t).unwrap().si, 1e-3);
        assert!((parse_quantity("30 degC", &t).unwrap().si - 303.15).abs() < 1e-9);
        assert_eq!(parse_quantity(".5", &t).unwrap().si, 0.5);
        assert_eq!(parse_quantity(" 3 ", &t).unwrap().dimension, Dimension::NONE);
        assert_eq!(parse_quantity("1e", &t), Err(QuantityError::UnknownUnit("e".into())));
        assert_eq!(parse_quantity("mV", &t), Err(QuantityError::NotANumber));
        assert_eq!(parse_quantity("10 lightyears", &t), Err(QuantityError::UnknownUnit("lightyears".into())));
        assert_eq!(parse_quantity("1e400", &t), Err(QuantityError::NotFinite));
        assert_eq!(parse_quantity("", &t), Err(QuantityError::NotANumber));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = parse_quantity(&s, &table());
        }

        #[test]
        fn numbers_round_trip(x in proptest::num::f64::NORMAL) {
            let q = parse_quantity(&format!("{x:e}"), &table()).unwrap();
            proptest::prop_assert_eq!(q.si, x);
        }
    }
}
