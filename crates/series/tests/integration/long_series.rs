//! Very long series: judged on buckets, still right. (Timing is measured by
//! `examples/long_series.rs`, not asserted here.)

use heapwise_series::{Options, Pattern, Series, TrendBasis, analyze};

use crate::synth::{KIB, MIB, sampled};

#[test]
fn a_day_of_one_hertz_samples_with_a_slow_leak() {
    // 100,000 samples (27.8 h), 1 KiB/s on 500 MiB with 2 MiB of noise:
    // 0.2 % of the level per hour, invisible sample to sample.
    let true_slope = 1.0 * KIB;
    let v = analyze(
        &Series::from_pairs(sampled(100_000, 2.0 * MIB, 31, |t| {
            500.0 * MIB + true_slope * t
        })),
        &Options::default(),
    );
    assert_eq!(v.pattern, Pattern::Linear, "{}", v.reason);
    assert!(v.leak);
    assert_eq!(v.samples, 100_000);
    let (lo, hi) = (
        v.slope_lower_bytes_per_s.expect("lower"),
        v.slope_upper_bytes_per_s.expect("upper"),
    );
    assert!(lo <= true_slope && true_slope <= hi, "{lo}..{hi}");
    // The quadratic methods ran on at most max_points buckets.
    assert!(v.mann_kendall.expect("mk").n <= Options::default().max_points);
}

#[test]
fn a_long_gc_sawtooth_with_a_flat_floor_is_not_a_leak() {
    // 30 s collector cycles: far shorter than one bucket (100,000 / 512 s),
    // so the swings must be seen on the full-resolution samples.
    let v = analyze(
        &Series::from_pairs(sampled(100_000, MIB, 32, |t| {
            200.0 * MIB + 300.0 * MIB * ((t % 30.0) / 30.0)
        })),
        &Options::default(),
    );
    assert_eq!(v.pattern, Pattern::Sawtooth, "{}", v.reason);
    assert!(!v.leak);
    assert_eq!(v.period_s, Some(30.0));
}

#[test]
fn a_long_gc_sawtooth_with_a_rising_floor_is_a_leak() {
    let rise = 2.0 * KIB;
    let v = analyze(
        &Series::from_pairs(sampled(100_000, MIB, 33, |t| {
            200.0 * MIB + rise * t + 300.0 * MIB * ((t % 30.0) / 30.0)
        })),
        &Options::default(),
    );
    assert_eq!(v.pattern, Pattern::Linear, "{}", v.reason);
    assert!(v.leak);
    assert_eq!(v.trend_basis, TrendBasis::LowerEnvelope);
    let slope = v.slope_bytes_per_s.expect("slope");
    assert!((slope - rise).abs() < 0.05 * rise, "{slope}");
}
