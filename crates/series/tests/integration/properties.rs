//! Properties that must hold for every input (proptest).
//!
//! The seed is fixed so that CI runs are reproducible; change it (or set
//! `PROPTEST_CASES`) to explore further.

use heapwise_series::{Aggregate, Options, Pattern, Series, analyze, downsample, trend};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

use crate::synth::{MIB, Noise};

fn config(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0x6865_6170_7769_7365),
        failure_persistence: None,
        ..Config::default()
    }
}

/// Any f64, with the awkward ones (NaN, ±inf, 0, extremes) much more likely
/// than uniform sampling would make them.
fn awkward_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -1e6f64..1e10,
        1 => any::<f64>(),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(0.0),
        1 => Just(f64::MAX),
        1 => Just(-f64::MAX),
        1 => Just(f64::MIN_POSITIVE),
        1 => (0u32..20).prop_map(f64::from),
    ]
}

/// A synthetic series of a random shape (up to 800 samples, so bucketing
/// above `max_points` is exercised too): flat, linear, steps, sawtooth,
/// warm-up, spike or periodic jumps, with random size and noise.
fn shaped() -> impl Strategy<Value = Vec<(f64, f64)>> {
    (
        0u8..7,
        20usize..800,
        1e5f64..1e9,
        0.0f64..0.05,
        any::<u64>(),
    )
        .prop_map(|(kind, n, amplitude, noise_frac, seed)| {
            let mut noise = Noise::new(seed);
            let period = 5.0 + (seed % 50) as f64;
            (0..n)
                .map(|i| {
                    let t = i as f64;
                    let u = t / n as f64;
                    let shape = match kind {
                        0 => 0.0,
                        1 => u,
                        2 => (u * 4.0).floor() / 4.0,
                        3 => (t % period) / period,
                        4 => 1.0 - (-u * 10.0).exp(),
                        5 => f64::from(u > 0.5),
                        _ => (t / period).floor() * period / n as f64,
                    };
                    let value = amplitude * (1.0 + shape) + amplitude * noise_frac * noise.gauss();
                    (t, value)
                })
                .collect()
        })
}

/// Strictly increasing times with random gaps and never-decreasing values.
fn rising() -> impl Strategy<Value = Vec<(f64, f64)>> {
    prop::collection::vec(
        (
            0.01f64..100.0,
            prop_oneof![3 => Just(0.0), 3 => 0.0f64..1e4, 1 => 0.0f64..1e9],
        ),
        0..300,
    )
    .prop_map(|steps| {
        let (mut t, mut v) = (0.0, 1e6);
        steps
            .into_iter()
            .map(|(dt, dv)| {
                t += dt;
                v += dv;
                (t, v)
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn never_panics_and_the_verdict_is_consistent(
        pairs in prop::collection::vec((awkward_f64(), awkward_f64()), 0..200)
    ) {
        let series = Series::from_pairs(pairs.iter().copied());
        prop_assert_eq!(series.len() + series.dropped(), pairs.len());
        let v = analyze(&series, &Options::default());
        prop_assert!((0.0..=1.0).contains(&v.confidence));
        prop_assert!(v.duration_s.is_finite() && v.duration_s >= 0.0);
        if v.leak {
            prop_assert!(v.enough_data);
            prop_assert!(matches!(v.pattern, Pattern::Linear | Pattern::Step | Pattern::Periodic));
        }
        if !v.enough_data {
            prop_assert!(!v.leak);
            prop_assert_eq!(v.confidence, 0.0);
        }
        for bound in [v.slope_bytes_per_s, v.slope_lower_bytes_per_s, v.slope_upper_bytes_per_s] {
            prop_assert!(bound.is_none_or(f64::is_finite));
        }
        if let (Some(lo), Some(s), Some(hi)) =
            (v.slope_lower_bytes_per_s, v.slope_bytes_per_s, v.slope_upper_bytes_per_s)
        {
            prop_assert!(lo <= s && s <= hi, "{} {} {}", lo, s, hi);
        }
        prop_assert!(serde_json::to_string(&v).is_ok());
        for how in [Aggregate::InEffect, Aggregate::Max] {
            let points = downsample(&series, 50, how);
            prop_assert!(points.len() == 50 || points.len() <= 1);
        }
    }
}

// The shape-based properties analyse up to 800 samples per case, twice:
// fewer cases keep the debug-build test run short.
proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn shapes_never_panic_and_leaks_only_grow(pairs in shaped()) {
        let v = analyze(&Series::from_pairs(pairs), &Options::default());
        if v.leak {
            prop_assert!(v.slope_bytes_per_s.is_some_and(|s| s > 0.0), "{}", v.reason);
        }
    }

    #[test]
    fn adding_a_constant_does_not_change_the_pattern(pairs in shaped(), shift in -1e8f64..1e10) {
        // Relative thresholds depend on the level by design; switch them off
        // and the analysis must not care where the series sits.
        let opts = Options {
            min_growth_fraction: 0.0,
            swing_fraction: 0.0,
            ..Options::default()
        };
        let shifted: Vec<(f64, f64)> = pairs.iter().map(|&(t, v)| (t, v + shift)).collect();
        let a = analyze(&Series::from_pairs(pairs), &opts);
        let b = analyze(&Series::from_pairs(shifted), &opts);
        prop_assert_eq!(a.pattern, b.pattern, "{} / {}", a.reason, b.reason);
        prop_assert_eq!(a.leak, b.leak);
    }

    #[test]
    fn scaling_values_scales_the_slope(pairs in shaped(), exponent in -20i32..20) {
        // Powers of two scale floats exactly, so the verdict must match
        // exactly when the byte thresholds scale along.
        let k = 2f64.powi(exponent);
        let d = Options::default();
        let scaled_opts = Options {
            min_growth_bytes: d.min_growth_bytes * k,
            min_leak_rate_bytes_per_s: d.min_leak_rate_bytes_per_s * k,
            ..Options::default()
        };
        let scaled: Vec<(f64, f64)> = pairs.iter().map(|&(t, v)| (t, v * k)).collect();
        let a = analyze(&Series::from_pairs(pairs), &d);
        let b = analyze(&Series::from_pairs(scaled), &scaled_opts);
        prop_assert_eq!(a.pattern, b.pattern);
        prop_assert_eq!(a.leak, b.leak);
        prop_assert_eq!(a.slope_bytes_per_s.map(|s| s * k), b.slope_bytes_per_s);
        prop_assert_eq!(a.slope_upper_bytes_per_s.map(|s| s * k), b.slope_upper_bytes_per_s);
    }

    #[test]
    fn theil_sen_slope_scales_with_any_factor(pairs in shaped(), k in 1e-3f64..1e3) {
        let scaled: Vec<(f64, f64)> = pairs.iter().map(|&(t, v)| (t, v * k)).collect();
        let a = trend(&Series::from_pairs(pairs), 0.05).map(|t| t.theil_sen.slope);
        let b = trend(&Series::from_pairs(scaled), 0.05).map(|t| t.theil_sen.slope);
        match (a, b) {
            (Some(a), Some(b)) => prop_assert!((a * k - b).abs() <= 1e-9 * (a * k).abs().max(1e-9 * MIB)),
            (a, b) => prop_assert_eq!(a.is_some(), b.is_some()),
        }
    }

    #[test]
    fn reversing_a_rising_series_never_yields_a_leak(pairs in rising()) {
        let n = pairs.len();
        let reversed: Vec<(f64, f64)> =
            (0..n).map(|i| (pairs[i].0, pairs[n - 1 - i].1)).collect();
        let v = analyze(&Series::from_pairs(reversed), &Options::default());
        prop_assert!(!v.leak, "{}", v.reason);
    }
}
