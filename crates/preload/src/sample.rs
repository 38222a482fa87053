//! Sampled traces (`HEAPWISE_SAMPLE=R`): which allocations are recorded.
//!
//! Each thread counts down the bytes it allocates (`Tls::sample_left`, in
//! initial-exec TLS). While the countdown stays above zero an allocation
//! goes straight to glibc: [`skip`] is a TLS load, a compare and a store
//! (after the hook's one load that tells a sampled trace from a full one,
//! [`on`]), with no guard, no unwinding and no record. The allocation that uses the
//! countdown up is sampled, and [`take`] draws the next countdown afresh.
//!
//! Countdowns are exponential with mean R, rounded up to whole bytes: the
//! bytes a program allocates are then cut by a Poisson process of rate 1/R,
//! and a block of Z bytes is sampled when a cut falls inside it, with
//! probability 1 − e^(−Z/R) exactly, independently of every other block
//! (the exponential is memoryless, so a countdown left over from earlier
//! blocks is as good as a fresh one, and a fresh one after a sample is
//! exact). A thread's first countdown is drawn at its first allocation.
//! The PRNG is a xorshift64* per thread, seeded by splitmix64 from the
//! thread's TLS address, the clock and a process-wide counter.
//!
//! In a full trace the live-block table (`live.rs`) is not mapped, so
//! [`on`] is false, and `sample_left` stays 0.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::tls::Tls;

/// The mean interval R in bytes (0: a full trace). Set at start-up, before
/// the live-block table is published (`live::enabled` is what the hooks
/// read; this is read only when a countdown is drawn).
static INTERVAL: AtomicU64 = AtomicU64::new(0);

/// Sampling is paused (`pause.rs`): a countdown that runs out draws the
/// next one but samples nothing, so a paused trace costs what the
/// countdown costs and nothing more.
static PAUSED: AtomicBool = AtomicBool::new(false);

/// Pauses (or resumes) sampling.
pub fn set_paused(paused: bool) {
    PAUSED.store(paused, Ordering::Release);
}

/// Makes every thread's countdowns exponential with mean `interval` bytes.
pub fn set_interval(interval: u64) {
    INTERVAL.store(interval, Ordering::Release);
}

/// The mean interval in bytes (0: a full trace).
pub fn interval() -> u64 {
    INTERVAL.load(Ordering::Acquire)
}

/// Whether this is a sampled trace (the live-block table exists).
#[inline(always)]
pub fn on() -> bool {
    crate::live::enabled()
}

/// Whether an allocation of `size` bytes leaves the countdown above zero:
/// then it is not sampled, goes straight to glibc, and the countdown is
/// `size` bytes lower. Always false in a full trace (the countdown is 0).
#[inline(always)]
pub fn skip(tls: *mut Tls, size: u64) -> bool {
    // SAFETY: the calling thread's TLS. A signal handler that interrupts
    // this between the load and the store only makes its own bytes count
    // once less. A countdown below zero as a signed number is one the fast
    // path in `hooks.rs` found run out and has not set to 0 yet (this is a
    // signal handler that interrupted it): run out here too.
    unsafe {
        let left = (*tls).sample_left;
        if (left as i64) > 0 && left > size {
            (*tls).sample_left = left - size;
            return true;
        }
    }
    false
}

/// In a sampled trace, once the countdown did not [`skip`] an allocation
/// of `size` bytes: draws the next countdown and returns whether the block
/// is sampled. It is, except on a thread's first draw, whose countdown may
/// reach past the block (then it counts down from there), and while
/// sampling is paused.
#[inline(never)]
pub fn take(tls: *mut Tls, size: u64) -> bool {
    let mean = interval() as f64;
    // SAFETY: the calling thread's TLS.
    unsafe {
        if (*tls).rng == 0 {
            (*tls).rng = seed(tls as u64);
            let left = countdown(&mut (*tls).rng, mean);
            if left > size {
                (*tls).sample_left = left - size;
                return false;
            }
        }
        (*tls).sample_left = countdown(&mut (*tls).rng, mean);
    }
    !PAUSED.load(Ordering::Relaxed)
}

/// A forked child: the forking thread's PRNG is reseeded, so that parent
/// and child do not make the same draws from now on (the countdown goes on).
pub fn reseed_after_fork(tls: *mut Tls) {
    // SAFETY: the calling thread's TLS.
    unsafe {
        if (*tls).rng != 0 {
            (*tls).rng = seed((*tls).rng ^ tls as u64);
        }
    }
}

/// Seeds drawn so far (so that two seeds of one tick still differ).
static SEEDS: AtomicU64 = AtomicU64::new(0);

/// A non-zero PRNG state from `salt`, the clock and a counter.
fn seed(salt: u64) -> u64 {
    let mut x = salt
        ^ crate::sys::ticks().rotate_left(32)
        ^ SEEDS
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0xD6E8_FEB8_6659_FD93);
    match splitmix64(&mut x) {
        0 => 0x9E37_79B9_7F4A_7C15,
        state => state,
    }
}

/// splitmix64: one step.
fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xorshift64*: the next 64 random bits (`state` is never 0).
#[inline]
fn next_bits(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// The longest countdown (a mean this large makes no sense anyway).
const MAX_COUNTDOWN: u64 = 1 << 62;

/// The exponential of mean `mean` that `bits` (uniform) stand for, rounded
/// up to a whole byte: at least 1, so a block of Z bytes is sampled iff
/// the draw is at most Z, with probability 1 − e^(−Z/mean).
pub fn exponential(bits: u64, mean: f64) -> u64 {
    // Uniform in (0, 1]: never ln(0).
    let u = ((bits >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64);
    let x = (-u.ln() * mean).ceil();
    // `as` saturates (and turns NaN into 0).
    (x as u64).clamp(1, MAX_COUNTDOWN)
}

fn countdown(state: &mut u64, mean: f64) -> u64 {
    exponential(next_bits(state), mean)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draws(mean: f64, n: usize, seed_value: u64) -> Vec<u64> {
        let mut state = seed(seed_value);
        (0..n).map(|_| countdown(&mut state, mean)).collect()
    }

    #[test]
    fn a_million_draws_have_the_mean_and_spread_of_the_exponential() {
        for mean in [64.0 * 1024.0, 512.0 * 1024.0] {
            let values = draws(mean, 1_000_000, 42);
            let n = values.len() as f64;
            let avg = values.iter().map(|&v| v as f64).sum::<f64>() / n;
            // The mean of ceil(X) is mean + ~0.5; the standard error of the
            // mean over 10^6 draws is mean / 1000.
            assert!((avg / mean - 1.0).abs() < 0.01, "mean {avg} for {mean}");
            let var = values
                .iter()
                .map(|&v| (v as f64 - avg).powi(2))
                .sum::<f64>()
                / n;
            assert!(
                (var.sqrt() / mean - 1.0).abs() < 0.02,
                "sd {} for {mean}",
                var.sqrt()
            );
            // P(X ≤ mean) = 1 − 1/e: the sampling probability of a block
            // of `mean` bytes.
            let below = values.iter().filter(|&&v| v as f64 <= mean).count() as f64 / n;
            let p = 1.0 - (-1.0f64).exp();
            assert!((below - p).abs() < 0.005, "P(X <= mean) = {below}");
        }
    }

    #[test]
    fn small_blocks_are_sampled_with_probability_one_minus_e_to_the_minus_z_over_r() {
        // What a thread does: count down, sample when the countdown does
        // not cover the block, draw again.
        let mean = 65536.0;
        let mut state = seed(7);
        let mut left = 0u64;
        let (blocks, size) = (2_000_000u64, 64u64);
        let mut sampled = 0u64;
        for _ in 0..blocks {
            if left > size {
                left -= size;
            } else {
                sampled += 1;
                left = countdown(&mut state, mean);
            }
        }
        let p = 1.0 - (-(size as f64) / mean).exp();
        let expected = blocks as f64 * p;
        let sigma = (blocks as f64 * p * (1.0 - p)).sqrt();
        assert!(
            (sampled as f64 - expected).abs() < 5.0 * sigma,
            "{sampled} sampled, {expected:.0} ± {sigma:.0} expected"
        );
    }

    #[test]
    fn draws_are_whole_positive_bytes_even_at_the_extremes() {
        assert_eq!(
            exponential(u64::MAX, 1.0),
            1,
            "u = 1: ln 1 = 0, rounded up to 1"
        );
        assert!(exponential(0, 512.0 * 1024.0) > 512 * 1024 * 30);
        assert_eq!(exponential(0, 1e30), MAX_COUNTDOWN);
        // A mean of one byte samples every block of a byte or more.
        let mut state = seed(3);
        assert!((0..10_000).all(|_| countdown(&mut state, 1.0) <= 64));
    }

    #[test]
    fn seeds_differ_and_are_never_zero() {
        let a = seed(0);
        let b = seed(0);
        assert_ne!(a, b);
        assert_ne!(a, 0);
        assert_ne!(draws(1000.0, 8, 1), draws(1000.0, 8, 1));
    }

    #[test]
    fn a_threads_first_allocation_draws_its_countdown() {
        // SAFETY: a zeroed Tls is what a new thread has.
        let mut tls: Tls = unsafe { std::mem::zeroed() };
        set_interval(1 << 20);
        let tls_ptr = &raw mut tls;
        assert!(!skip(tls_ptr, 64), "a fresh thread has no countdown");
        let sampled = take(tls_ptr, 64);
        assert_ne!(tls.rng, 0);
        // A 64-byte block against a 1 MiB mean: almost never sampled, and
        // then the countdown is what was left after it.
        if !sampled {
            assert!(tls.sample_left > 0);
            let left = tls.sample_left;
            assert!(skip(tls_ptr, 64));
            assert_eq!(tls.sample_left, left - 64);
        }
        set_interval(0);
    }
}
