//! Physical dimensions, units and quantities as LEMS defines them.
//!
//! A [`Dimension`] is a vector of integer exponents over the seven LEMS base quantities
//! (mass `m`, length `l`, time `t`, current `i`, temperature `k`, amount `n`, luminous
//! intensity `j`). A [`Unit`] maps a value written in that unit to SI:
//! `si = value * scale * 10^power + offset`. A [`UnitTable`] holds the units a document
//! defines; [`parse_quantity`] turns strings such as `-60mV`, `0.7 nS_per_mV` or `30 degC`
//! into an SI value and a dimension.
//!
//! Nothing here does I/O and nothing panics on user input.

#![forbid(unsafe_code)]

use std::fmt;

mod quantity;
pub use quantity::{parse_quantity, parse_quantity_ref, parse_number_prefix, Quantity, QuantityError};

/// Exponents of the seven LEMS base dimensions.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Dimension {
    pub m: i8,
    pub l: i8,
    pub t: i8,
    pub i: i8,
    pub k: i8,
    pub n: i8,
    pub j: i8,
}

impl Dimension {
    pub const NONE: Dimension = Dimension { m: 0, l: 0, t: 0, i: 0, k: 0, n: 0, j: 0 };
    pub const TIME: Dimension = Dimension { t: 1, ..Self::NONE };
    pub const PER_TIME: Dimension = Dimension { t: -1, ..Self::NONE };

    pub const fn new(m: i8, l: i8, t: i8, i: i8, k: i8, n: i8, j: i8) -> Self {
        Dimension { m, l, t, i, k, n, j }
    }

    fn array(self) -> [i8; 7] {
        [self.m, self.l, self.t, self.i, self.k, self.n, self.j]
    }

    fn from_array(a: [i8; 7]) -> Self {
        Dimension::new(a[0], a[1], a[2], a[3], a[4], a[5], a[6])
    }

    fn zip(self, other: Dimension, f: impl Fn(i8, i8) -> Option<i8>) -> Option<Dimension> {
        let (a, b) = (self.array(), other.array());
        let mut out = [0i8; 7];
        for k in 0..7 {
            out[k] = f(a[k], b[k])?;
        }
        Some(Dimension::from_array(out))
    }

    pub fn is_dimensionless(self) -> bool {
        self == Dimension::NONE
    }

    /// Product of two dimensions; `None` if an exponent overflows.
    pub fn checked_mul(self, other: Dimension) -> Option<Dimension> {
        self.zip(other, i8::checked_add)
    }

    /// Quotient of two dimensions; `None` if an exponent overflows.
    pub fn checked_div(self, other: Dimension) -> Option<Dimension> {
        self.zip(other, i8::checked_sub)
    }

    /// Integer power; `None` if an exponent overflows.
    pub fn powi(self, p: i32) -> Option<Dimension> {
        let p = i8::try_from(p).ok()?;
        self.zip(Dimension::NONE, |a, _| a.checked_mul(p))
    }

    /// Rational power `1/q`, defined when every exponent is divisible by `q` (e.g. `sqrt` of an area).
    pub fn root(self, q: i32) -> Option<Dimension> {
        let q = i8::try_from(q).ok().filter(|q| *q != 0)?;
        self.zip(Dimension::NONE, |a, _| if a % q == 0 { Some(a / q) } else { None })
    }
}

impl fmt::Debug for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dimension({self})")
    }
}

impl fmt::Display for Dimension {
    /// Written as LEMS attributes would name the exponents, e.g. `m=1 l=2 t=-3 i=-1`,
    /// or `dimensionless`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_dimensionless() {
            return f.write_str("dimensionless");
        }
        let mut first = true;
        for (name, e) in ["m", "l", "t", "i", "k", "n", "j"].iter().zip(self.array()) {
            if e != 0 {
                if !first {
                    f.write_str(" ")?;
                }
                first = false;
                write!(f, "{name}={e}")?;
            }
        }
        Ok(())
    }
}

/// A named unit: `si = value * scale * 10^power + offset`.
#[derive(Clone, Debug, PartialEq)]
pub struct Unit {
    pub symbol: String,
    pub dimension: Dimension,
    /// Name of the dimension as written in the document (e.g. `voltage`).
    pub dimension_name: String,
    pub power: i32,
    pub scale: f64,
    pub offset: f64,
}

impl Unit {
    /// Factor that takes a value in this unit to SI (ignoring the offset).
    pub fn factor(&self) -> f64 {
        self.scale * 10f64.powi(self.power)
    }

    /// Converts a value written in this unit to SI.
    pub fn to_si(&self, value: f64) -> f64 {
        value * self.factor() + self.offset
    }

    /// Converts an SI value to this unit.
    pub fn from_si(&self, si: f64) -> f64 {
        (si - self.offset) / self.factor()
    }
}

/// The units known to a document, by symbol.
#[derive(Clone, Debug, Default)]
pub struct UnitTable {
    /// Fx-hashed: symbols are short and looked up once per quantity attribute of a model.
    units: indexmap::IndexMap<String, Unit, rustc_hash::FxBuildHasher>,
}

impl UnitTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a unit; returns the previous definition with that symbol, if any.
    pub fn insert(&mut self, unit: Unit) -> Option<Unit> {
        self.units.insert(unit.symbol.clone(), unit)
    }

    pub fn get(&self, symbol: &str) -> Option<&Unit> {
        self.units.get(symbol)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Unit> {
        self.units.values()
    }

    pub fn len(&self) -> usize {
        self.units.len()
    }

    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    /// The unit of dimension `dim` that writes `si` most compactly: prefers a factor of 1,
    /// then a unit whose value lands in [1, 1000). Used by writers to print SI values back.
    pub fn best_for(&self, dim: Dimension, si: f64) -> Option<&Unit> {
        let mut candidates: Vec<&Unit> =
            self.units.values().filter(|u| u.dimension == dim && u.offset == 0.0).collect();
        candidates.sort_by(|a, b| {
            let score = |u: &Unit| {
                let v = (si / u.factor()).abs();
                if v == 0.0 { 0.0 } else if (1.0..1000.0).contains(&v) { 1.0 } else { 2.0 + v.log10().abs() }
            };
            score(a).total_cmp(&score(b))
        });
        candidates.first().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algebra() {
        let v = Dimension::new(1, 2, -3, -1, 0, 0, 0);
        let i = Dimension { i: 1, ..Dimension::NONE };
        let g = i.checked_div(v).unwrap();
        assert_eq!(g, Dimension::new(-1, -2, 3, 2, 0, 0, 0));
        assert_eq!(g.checked_mul(v).unwrap(), i);
        assert_eq!(Dimension::new(0, 2, 0, 0, 0, 0, 0).root(2), Some(Dimension::new(0, 1, 0, 0, 0, 0, 0)));
        assert_eq!(Dimension::new(0, 1, 0, 0, 0, 0, 0).root(2), None);
        assert_eq!(Dimension::new(100, 0, 0, 0, 0, 0, 0).powi(2), None);
        assert_eq!(v.to_string(), "m=1 l=2 t=-3 i=-1");
        assert_eq!(Dimension::NONE.to_string(), "dimensionless");
    }
}
