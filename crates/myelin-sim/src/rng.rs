//! The random number generator LEMS's `random()` draws from: the 48-bit linear congruential
//! generator of `java.util.Random` (the reference simulator's), seeded by the Simulation's
//! `seed`, so runs are reproducible and comparable.

const MULTIPLIER: u64 = 0x5_DEEC_E66D;
const ADDEND: u64 = 0xB;
const MASK: u64 = (1 << 48) - 1;

#[derive(Clone, Debug)]
pub(crate) struct JavaRandom {
    state: u64,
}

impl JavaRandom {
    pub(crate) fn new(seed: i64) -> Self {
        JavaRandom { state: (seed as u64 ^ MULTIPLIER) & MASK }
    }

    fn next(&mut self, bits: u32) -> u64 {
        self.state = (self.state.wrapping_mul(MULTIPLIER).wrapping_add(ADDEND)) & MASK;
        self.state >> (48 - bits)
    }

    /// Uniform in [0, 1), as `Random.nextDouble()`.
    pub(crate) fn next_f64(&mut self) -> f64 {
        let hi = self.next(26);
        let lo = self.next(27);
        ((hi << 27) + lo) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_java_util_random() {
        // new java.util.Random(42).nextDouble() == 0.7275636800328681
        let mut r = super::JavaRandom::new(42);
        assert!((r.next_f64() - 0.727_563_680_032_868_1).abs() < 1e-16);
    }
}
