//! The matrix exponential kinetic schemes advance with.

/// `exp(A t)` for a dense `n`×`n` matrix `a` (row-major), by scaling and squaring: scale until
/// every element of `A t / 2^p` is below 1e-12, take `I + M`, and square `p` times (computing
/// `(I+M)^2 - I = 2M + M^2` so the identity does not swamp the small terms). The same method
/// as the reference simulator, accurate to ~1e-12.
pub(crate) fn expm(a: &[f64], n: usize, t: f64) -> Vec<f64> {
    let mut m: Vec<f64> = a.iter().map(|x| x * t).collect();
    let biggest = m.iter().fold(0.0f64, |acc, x| acc.max(x.abs()));
    let mut p = 0;
    let mut f = 1.0;
    while biggest * f > 1e-12 && p < 200 {
        f *= 0.5;
        p += 1;
    }
    for x in &mut m {
        *x *= f;
    }
    let mut sq = vec![0.0; n * n];
    for _ in 0..p {
        for r in 0..n {
            for c in 0..n {
                sq[r * n + c] = (0..n).map(|k| m[r * n + k] * m[k * n + c]).sum();
            }
        }
        for (x, s) in m.iter_mut().zip(&sq) {
            *x = 2.0 * *x + s;
        }
    }
    for d in 0..n {
        m[d * n + d] += 1.0;
    }
    m
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_state_scheme_relaxes_to_equilibrium() {
        // closed -> open at rate 3, back at rate 1: equilibrium open fraction 3/4.
        let a = [-3.0, 1.0, 3.0, -1.0];
        let m = super::expm(&a, 2, 10.0);
        let open = m[2]; // starting all closed: (m * [1,0])[1]
        assert!((open - 0.75).abs() < 1e-9, "{open}");
        let m = super::expm(&a, 2, 0.1);
        let exact = 0.75 * (1.0 - (-0.4f64).exp());
        assert!((m[2] - exact).abs() < 1e-9);
    }
}
