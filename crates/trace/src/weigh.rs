//! What one recorded block stands for. In a full trace, itself: one block
//! of its size. In a sampled trace (`Header::sample_interval` R > 0) a
//! block of Z bytes was recorded with probability p = 1 − e^(−Z/R),
//! independently of the others (docs/trace-format.md, "Sampled traces"),
//! so it stands for Z / p bytes and 1 / p blocks: every sum of those over
//! recorded blocks is an unbiased estimate of the program's own sum (the
//! Horvitz–Thompson estimator; docs/statistics.md, "Sampled traces").
//!
//! The replay keeps whole numbers. Bytes are rounded to the nearest byte
//! (a bias under half a byte a block); blocks are rounded up or down at
//! random, with the chance of rounding up equal to the fraction, from a
//! hash of the block's address and allocation time — so the estimate
//! stays unbiased, and a block's free takes away what its allocation
//! added.

/// How much one recorded block stands for.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Weigh {
    /// R in bytes; 0 for a full trace.
    interval: f64,
}

impl Weigh {
    /// For a trace with this `sample_interval` (0: a full trace).
    pub fn new(sample_interval: u64) -> Weigh {
        Weigh {
            interval: sample_interval as f64,
        }
    }

    /// Whether the trace is sampled.
    #[inline(always)]
    pub fn sampled(&self) -> bool {
        self.interval > 0.0
    }

    /// R, the mean bytes between samples (0 for a full trace).
    pub fn interval(&self) -> f64 {
        self.interval
    }

    /// The chance that a block of `size` bytes was recorded.
    pub fn probability(&self, size: u64) -> f64 {
        if !self.sampled() {
            return 1.0;
        }
        // 1 − e^(−x), precise for small x.
        (-(-(size.max(1) as f64) / self.interval).exp_m1()).clamp(f64::MIN_POSITIVE, 1.0)
    }

    /// The bytes a recorded block of `size` bytes stands for.
    #[inline(always)]
    pub fn bytes(&self, size: u64) -> u64 {
        if !self.sampled() {
            return size;
        }
        self.bytes_sampled(size)
    }

    #[cold]
    fn bytes_sampled(&self, size: u64) -> u64 {
        (size as f64 / self.probability(size)).round() as u64
    }

    /// The blocks a recorded block of `size` bytes at `ptr`, allocated at
    /// `tick`, stands for: 1 / p rounded up or down at random (see the
    /// module documentation), at most `u32::MAX`.
    #[inline(always)]
    pub fn count(&self, size: u64, ptr: u64, tick: u64) -> u32 {
        if !self.sampled() {
            return 1;
        }
        self.count_sampled(size, ptr, tick)
    }

    #[cold]
    fn count_sampled(&self, size: u64, ptr: u64, tick: u64) -> u32 {
        let blocks = 1.0 / self.probability(size);
        let whole = blocks.floor();
        let fraction = blocks - whole;
        let up = (unit(ptr ^ tick.rotate_left(32)) < fraction) as u64 as f64;
        (whole + up).min(f64::from(u32::MAX)) as u32
    }
}

/// A uniform number in [0, 1) from `key` (splitmix64's finaliser).
fn unit(key: u64) -> f64 {
    let mut z = key.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_trace_weighs_every_block_as_itself() {
        let w = Weigh::new(0);
        assert!(!w.sampled());
        assert_eq!((w.bytes(100), w.count(100, 0x1000, 7)), (100, 1));
    }

    #[test]
    fn large_blocks_stand_for_themselves_and_small_ones_for_the_interval() {
        let w = Weigh::new(512 << 10);
        // p ≈ 1 for blocks far over R.
        assert_eq!(w.bytes(64 << 20), 64 << 20);
        assert_eq!(w.count(64 << 20, 0x1000, 1), 1);
        // A 64 B block stands for about R bytes and R / 64 blocks.
        let bytes = w.bytes(64) as f64;
        assert!((bytes - (512 << 10) as f64).abs() < 64.0, "{bytes}");
        let blocks = w.count(64, 0x1000, 1);
        assert!((8192..=8193).contains(&blocks), "{blocks}");
    }

    #[test]
    fn random_rounding_keeps_the_block_estimate_unbiased() {
        // A size whose 1 / p has a large fraction: R = 1 MiB, Z = 1 MiB
        // gives 1 / p = 1.582.
        let w = Weigh::new(1 << 20);
        let exact = 1.0 / w.probability(1 << 20);
        let n = 200_000u64;
        let total: u64 = (0..n)
            .map(|i| u64::from(w.count(1 << 20, 0x7f00_0000 + i * 48, i * 977)))
            .sum();
        let mean = total as f64 / n as f64;
        // Standard error of a mean of 0/1 roundings: ≤ 0.5 / sqrt(n).
        assert!(
            (mean - exact).abs() < 5.0 * 0.5 / (n as f64).sqrt(),
            "{mean} vs {exact}"
        );
    }

    /// Draws samples the way the preload does (an exponential countdown of
    /// mean R, fresh after each sample) from a known list of block sizes
    /// and checks the weighed total against the list's true total, over
    /// many draws: the mean error is ~0 and the spread is what the theory
    /// says (Var = Σ Z² (1 − p) / p).
    #[test]
    fn countdown_sampling_weighed_by_one_over_p_is_unbiased_with_the_predicted_spread() {
        let r = 64.0 * 1024.0;
        let w = Weigh::new(64 << 10);
        let sizes: Vec<u64> = (0..20_000u64).map(|i| 16 + (i * 7919) % 4000).collect();
        let truth: u64 = sizes.iter().sum();
        let variance: f64 = sizes
            .iter()
            .map(|&z| {
                let p = w.probability(z);
                (z as f64).powi(2) * (1.0 - p) / p
            })
            .sum();
        let mut state = 0x1234_5678_u64;
        let mut uniform = || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            unit(state).max(1e-300)
        };
        let runs = 400;
        let mut errors = Vec::with_capacity(runs);
        for _ in 0..runs {
            let mut countdown = -uniform().ln() * r;
            let mut estimate = 0u64;
            for &z in &sizes {
                countdown -= z as f64;
                if countdown <= 0.0 {
                    estimate += w.bytes(z);
                    countdown = -uniform().ln() * r;
                }
            }
            errors.push(estimate as f64 - truth as f64);
        }
        let mean = errors.iter().sum::<f64>() / runs as f64;
        let sd =
            (errors.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (runs - 1) as f64).sqrt();
        let predicted = variance.sqrt();
        // The mean of 400 runs is within 4 standard errors of 0 …
        assert!(
            mean.abs() < 4.0 * predicted / (runs as f64).sqrt(),
            "mean error {mean}, sd {predicted}"
        );
        // … and the spread within 15 % of the predicted one.
        assert!(
            (sd / predicted - 1.0).abs() < 0.15,
            "sd {sd} vs predicted {predicted}"
        );
    }
}
