//! Every pattern on a synthetic series whose truth is known.

use heapwise_series::{Options, Pattern, Series, TrendBasis, Verdict, analyze};

use crate::synth::{GIB, KIB, MIB, Noise, sampled};

fn judge(pairs: Vec<(f64, f64)>) -> Verdict {
    analyze(&Series::from_pairs(pairs), &Options::default())
}

fn slope_interval(v: &Verdict) -> (f64, f64) {
    (
        v.slope_lower_bytes_per_s.expect("lower bound"),
        v.slope_upper_bytes_per_s.expect("upper bound"),
    )
}

#[test]
fn pure_noise_is_stable_and_not_a_leak() {
    for seed in 0..10 {
        // 4 KiB of noise on a 1 GiB process, and 1 % noise on 10 MiB.
        for (level, sigma) in [(GIB, 4.0 * KIB), (10.0 * MIB, 100.0 * KIB)] {
            let v = judge(sampled(600, sigma, seed, |_| level));
            assert_eq!(v.pattern, Pattern::Stable, "seed {seed}: {}", v.reason);
            assert!(!v.leak);
            assert!(v.enough_data);
            assert!(v.change_points.is_empty(), "{:?}", v.change_points);
            assert!(v.reason.contains("stayed flat"), "{}", v.reason);
        }
    }
}

#[test]
fn linear_growth_with_noise_and_outliers_is_a_linear_leak() {
    let true_slope = 100.0 * KIB;
    let mut pairs = sampled(600, 2.0 * MIB, 3, |t| 500.0 * MIB + true_slope * t);
    // Ten single-sample glitches of +200 MiB and two of -150 MiB.
    for i in (17..600).step_by(61) {
        pairs[i].1 += 200.0 * MIB;
    }
    pairs[100].1 -= 150.0 * MIB;
    pairs[400].1 -= 150.0 * MIB;
    let v = judge(pairs);
    assert_eq!(v.pattern, Pattern::Linear, "{}", v.reason);
    assert!(v.leak);
    assert_eq!(v.trend_basis, TrendBasis::Series);
    let (lo, hi) = slope_interval(&v);
    assert!(lo <= true_slope && true_slope <= hi, "{lo}..{hi}");
    assert!(v.transient_samples >= 12, "{}", v.transient_samples);
    let mk = v.mann_kendall.expect("test");
    assert!(mk.p_value < 0.001 && mk.z > 0.0);
    assert!(
        v.reason.contains("rose") && v.reason.contains("p < 0.001"),
        "{}",
        v.reason
    );
    assert!(v.confidence > 0.9, "{}", v.confidence);
}

#[test]
fn slope_interval_covers_the_true_slope_about_95_percent_of_the_time() {
    let true_slope = 20.0 * KIB;
    let mut covered = 0;
    for seed in 0..60 {
        let v = judge(sampled(300, MIB, 100 + seed, |t| {
            100.0 * MIB + true_slope * t
        }));
        let (lo, hi) = slope_interval(&v);
        if lo <= true_slope && true_slope <= hi {
            covered += 1;
        }
    }
    // Nominal 95 %: fewer than 51 of 60 has probability below 0.5 %.
    assert!(covered >= 51, "covered {covered} of 60");
    // And the interval is not trivially wide.
    let v = judge(sampled(300, MIB, 7, |t| 100.0 * MIB + true_slope * t));
    let (lo, hi) = slope_interval(&v);
    assert!(hi - lo < true_slope, "{lo}..{hi}");
}

#[test]
fn ten_mib_per_hour_on_one_gib_is_a_leak_but_4_kib_of_noise_is_not() {
    let rate = 10.0 * MIB / 3600.0;
    let leak = judge(sampled(600, 4.0 * KIB, 5, |t| GIB + rate * t));
    assert_eq!(leak.pattern, Pattern::Linear, "{}", leak.reason);
    assert!(leak.leak);
    // Far below 1 % of the level after ten minutes: the absolute rate counts.
    assert!(leak.growth_bytes.expect("growth") < 0.01 * GIB);
    let flat = judge(sampled(600, 4.0 * KIB, 5, |_| GIB));
    assert_eq!(flat.pattern, Pattern::Stable, "{}", flat.reason);
    assert!(!flat.leak);
}

type Curve = Box<dyn Fn(f64) -> f64>;

#[test]
fn warm_up_then_flat_is_a_plateau_not_a_leak() {
    // Exponential approach, a linear ramp, and a warm-up in two jumps.
    let curves: Vec<(&str, Curve)> = vec![
        (
            "exponential",
            Box::new(|t: f64| 100.0 * MIB + 500.0 * MIB * (1.0 - (-t / 30.0).exp())),
        ),
        (
            "ramp",
            Box::new(|t: f64| 100.0 * MIB + 5.0 * MIB * t.min(80.0)),
        ),
        (
            "jumps",
            Box::new(|t: f64| {
                100.0 * MIB
                    + if t >= 20.0 { 200.0 * MIB } else { 0.0 }
                    + if t >= 60.0 { 100.0 * MIB } else { 0.0 }
            }),
        ),
    ];
    for (name, curve) in curves {
        for seed in 0..5 {
            let v = judge(sampled(600, 2.0 * MIB, 6 + seed, &curve));
            assert_eq!(
                v.pattern,
                Pattern::Plateau,
                "{name} seed {seed}: {}",
                v.reason
            );
            assert!(!v.leak);
            assert!(v.reason.contains("levelled off"), "{}", v.reason);
        }
    }
}

fn sawtooth(t: f64, floor_rise_per_s: f64) -> f64 {
    // A collector: rises 300 MiB over 40 s, drops back to the floor.
    200.0 * MIB + floor_rise_per_s * t + 300.0 * MIB * ((t % 40.0) / 40.0)
}

#[test]
fn sawtooth_returning_to_baseline_is_not_a_leak() {
    for seed in 0..5 {
        let v = judge(sampled(600, 2.0 * MIB, 8 + seed, |t| sawtooth(t, 0.0)));
        assert_eq!(v.pattern, Pattern::Sawtooth, "seed {seed}: {}", v.reason);
        assert!(!v.leak);
        assert_eq!(v.trend_basis, TrendBasis::LowerEnvelope);
        let period = v.period_s.expect("a regular sawtooth has a period");
        assert!((period - 40.0).abs() <= 2.0, "{period}");
        assert!(v.reason.contains("fell back"), "{}", v.reason);
    }
}

#[test]
fn sawtooth_whose_minima_rise_is_a_leak_on_the_lower_envelope() {
    let floor_rise = 200.0 * KIB;
    for seed in 0..5 {
        let v = judge(sampled(600, 2.0 * MIB, 9 + seed, |t| {
            sawtooth(t, floor_rise)
        }));
        assert_eq!(v.pattern, Pattern::Linear, "seed {seed}: {}", v.reason);
        assert!(v.leak);
        assert_eq!(v.trend_basis, TrendBasis::LowerEnvelope);
        let slope = v.slope_bytes_per_s.expect("slope");
        // The envelope moves in steps of one cycle, so allow 15 %.
        assert!((slope - floor_rise).abs() < 0.15 * floor_rise, "{slope}");
        assert!(v.reason.contains("lower envelope"), "{}", v.reason);
    }
}

#[test]
fn heap_after_gc_rising_through_young_collections_is_a_leak() {
    // The GC-log case: heap after each collection at irregular times. Young
    // collections leave a little more each time until a full collection
    // brings it back to the floor — and the floor rises 50 KiB/s.
    let mut noise = Noise::new(77);
    let mut t = 0.0;
    let mut pairs = Vec::new();
    let mut since_full = 0;
    while t < 3600.0 {
        t += 2.0 + 8.0 * noise.uniform();
        since_full += 1;
        if since_full == 12 {
            since_full = 0;
        }
        let young = since_full as f64 * 8.0 * MIB;
        pairs.push((
            t,
            300.0 * MIB + 50.0 * KIB * t + young + 256.0 * KIB * noise.gauss(),
        ));
    }
    let v = judge(pairs);
    assert!(v.leak, "{}", v.reason);
    assert_eq!(v.pattern, Pattern::Linear);
    assert_eq!(v.trend_basis, TrendBasis::LowerEnvelope);
    let slope = v.slope_bytes_per_s.expect("slope");
    assert!((slope - 50.0 * KIB).abs() < 0.15 * 50.0 * KIB, "{slope}");
}

#[test]
fn steps_at_irregular_times_are_a_step_leak() {
    let steps = [70.0, 190.0, 260.0, 430.0];
    let v = judge(sampled(500, MIB, 10, |t| {
        GIB + 50.0 * MIB * steps.iter().filter(|&&s| t >= s).count() as f64
    }));
    assert_eq!(v.pattern, Pattern::Step, "{}", v.reason);
    assert!(v.leak);
    assert_eq!(v.change_points.len(), 4, "{:?}", v.change_points);
    for (cp, &at) in v.change_points.iter().zip(&steps) {
        assert!((cp.t_s - at).abs() <= 2.0, "{cp:?} vs {at}");
        assert!((cp.size_bytes - 50.0 * MIB).abs() < 2.5 * MIB, "{cp:?}");
    }
    assert!(v.reason.contains("4 jumps"), "{}", v.reason);
}

#[test]
fn steps_that_stopped_long_ago_are_not_a_leak() {
    // Two jumps in the middle, then flat for the last 60 %.
    let v = judge(sampled(1000, MIB, 11, |t| {
        GIB + if t >= 300.0 { 40.0 * MIB } else { 0.0 } + if t >= 400.0 { 40.0 * MIB } else { 0.0 }
    }));
    assert_eq!(v.pattern, Pattern::Step, "{}", v.reason);
    assert!(!v.leak);
    assert!(v.reason.contains("stayed flat"), "{}", v.reason);
}

#[test]
fn jumps_at_a_regular_interval_are_a_periodic_leak() {
    for seed in 0..5 {
        let v = judge(sampled(600, MIB, 11 + seed, |t| {
            GIB + 20.0 * MIB * (t / 60.0).floor()
        }));
        assert_eq!(v.pattern, Pattern::Periodic, "seed {seed}: {}", v.reason);
        assert!(v.leak);
        let period = v.period_s.expect("period");
        assert!((period - 60.0).abs() <= 3.0, "{period}");
        assert_eq!(v.change_points.len(), 9, "{:?}", v.change_points);
    }
}

#[test]
fn one_big_jump_that_stays_is_a_spike() {
    let v = judge(sampled(500, MIB, 12, |t| {
        GIB + if t >= 250.0 { 300.0 * MIB } else { 0.0 }
    }));
    assert_eq!(v.pattern, Pattern::Spike, "{}", v.reason);
    assert!(!v.leak);
    assert_eq!(v.change_points.len(), 1);
    let cp = v.change_points[0];
    assert!((cp.t_s - 250.0).abs() <= 1.0, "{cp:?}");
    assert!((cp.size_bytes - 300.0 * MIB).abs() < 3.0 * MIB, "{cp:?}");
}

#[test]
fn a_short_excursion_that_comes_back_is_stable() {
    // 30 s at +200 MiB in the middle of a flat series: one rise, one fall.
    let v = judge(sampled(600, MIB, 13, |t| {
        GIB + if (300.0..330.0).contains(&t) {
            200.0 * MIB
        } else {
            0.0
        }
    }));
    assert_eq!(v.pattern, Pattern::Stable, "{}", v.reason);
    assert!(!v.leak);
}

#[test]
fn warm_up_followed_by_a_slower_leak_is_still_a_leak() {
    // A fast warm-up of 300 MiB, then a steady 100 KiB/s.
    let v = judge(sampled(900, MIB, 14, |t| {
        100.0 * MIB + 300.0 * MIB * (1.0 - (-t / 20.0).exp()) + 100.0 * KIB * t
    }));
    assert!(v.leak, "{}", v.reason);
    assert_eq!(v.pattern, Pattern::Linear);
}

#[test]
fn falling_memory_is_stable_not_a_leak() {
    let v = judge(sampled(600, MIB, 15, |t| GIB - 200.0 * KIB * t));
    assert_eq!(v.pattern, Pattern::Stable, "{}", v.reason);
    assert!(!v.leak);
    assert!(v.reason.contains("fell"), "{}", v.reason);
}

#[test]
fn missing_samples_and_gaps_do_not_change_the_verdict() {
    let true_slope = 100.0 * KIB;
    let mut noise = Noise::new(16);
    let mut pairs = sampled(900, 2.0 * MIB, 16, |t| 500.0 * MIB + true_slope * t);
    // Lose 40 % of samples at random and a 200 s gap.
    pairs.retain(|(t, _)| noise.uniform() > 0.4 && !(300.0..500.0).contains(t));
    let v = judge(pairs);
    assert_eq!(v.pattern, Pattern::Linear, "{}", v.reason);
    assert!(v.leak);
    let (lo, hi) = slope_interval(&v);
    assert!(lo <= true_slope && true_slope <= hi, "{lo}..{hi}");

    // A sawtooth sampled unevenly is still a sawtooth.
    let mut pairs = sampled(900, 2.0 * MIB, 17, |t| sawtooth(t, 0.0));
    pairs.retain(|_| noise.uniform() > 0.3);
    let v = judge(pairs);
    assert_eq!(v.pattern, Pattern::Sawtooth, "{}", v.reason);
    assert!(!v.leak);
}

#[test]
fn confidence_grows_with_observation_time() {
    let curve = |t: f64| 500.0 * MIB + 100.0 * KIB * t;
    let short = judge(sampled(20, 2.0 * MIB, 18, curve));
    let long = judge(sampled(600, 2.0 * MIB, 18, curve));
    assert!(long.leak);
    assert!(
        short.confidence < long.confidence,
        "{} vs {}",
        short.confidence,
        long.confidence
    );
    assert!(long.confidence > 0.9);
    assert!(short.confidence < 0.5);
}

#[test]
fn a_stack_that_leaks_a_block_now_and_then_is_a_linear_leak() {
    // `report`'s per-stack live bytes: 8 KiB blocks leaked at random times
    // (about one in ten seconds), never freed. Dozens of irregular jumps
    // are steady growth in coarse increments, not "a few steps".
    let mut noise = Noise::new(19);
    let mut live = 0.0;
    let pairs: Vec<(f64, f64)> = (0..600)
        .map(|i| {
            if noise.uniform() < 0.1 {
                live += 8.0 * KIB;
            }
            (i as f64, live)
        })
        .collect();
    let v = analyze(
        &Series::from_pairs(pairs),
        &Options {
            subject: "live bytes".into(),
            ..Options::default()
        },
    );
    assert_eq!(v.pattern, Pattern::Linear, "{}", v.reason);
    assert!(v.leak);
    // About 60 blocks of 8 KiB in 600 s: 0.8 KiB/s.
    let slope = v.slope_bytes_per_s.expect("slope");
    assert!((slope - 0.8 * KIB).abs() < 0.25 * 0.8 * KIB, "{slope}");
    assert!(v.reason.starts_with("live bytes rose"), "{}", v.reason);
}
