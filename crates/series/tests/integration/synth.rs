//! Synthetic series with known truth, and a small deterministic noise
//! source (SplitMix64 + Box–Muller) so the tests need no extra crate.

pub const KIB: f64 = 1024.0;
pub const MIB: f64 = 1024.0 * 1024.0;
pub const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Deterministic pseudo-random numbers.
pub struct Noise {
    state: u64,
}

impl Noise {
    pub fn new(seed: u64) -> Self {
        Noise {
            state: seed ^ 0x5DEE_CE66_D1CE_4E5B,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal.
    pub fn gauss(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// `n` samples one second apart of `f(t)` plus Gaussian noise of `sigma`.
pub fn sampled(n: usize, sigma: f64, seed: u64, f: impl Fn(f64) -> f64) -> Vec<(f64, f64)> {
    let mut noise = Noise::new(seed);
    (0..n)
        .map(|i| {
            let t = i as f64;
            (t, f(t) + sigma * noise.gauss())
        })
        .collect()
}
