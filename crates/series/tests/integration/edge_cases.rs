//! Inputs that must not break the analysis: too short, NaN, unsorted,
//! duplicated, constant, huge, epoch-timed; and options that make no sense.

use heapwise_series::{Options, Pattern, Series, SeriesError, analyze};

use crate::synth::{GIB, KIB, MIB, Noise, sampled};

fn leak_pairs() -> Vec<(f64, f64)> {
    sampled(300, MIB, 21, |t| 200.0 * MIB + 200.0 * KIB * t)
}

#[test]
fn three_samples_or_fewer_is_not_enough_data() {
    for n in 0..=3 {
        let series = Series::from_pairs((0..n).map(|i| (i as f64, GIB * (1.0 + i as f64))));
        let v = analyze(&series, &Options::default());
        assert!(!v.enough_data, "n = {n}");
        assert!(!v.leak);
        assert_eq!(v.pattern, Pattern::Stable);
        assert_eq!(v.confidence, 0.0);
        assert_eq!(v.samples, n);
        assert!(v.slope_bytes_per_s.is_none() && v.mann_kendall.is_none());
        assert!(v.reason.contains("not enough data"), "{}", v.reason);
    }
    // Four samples are judged (though they cannot prove a leak at 5 %).
    let four = Series::from_pairs((0..4).map(|i| (i as f64, GIB * (1.0 + i as f64))));
    let v = analyze(&four, &Options::default());
    assert!(v.enough_data);
    assert!(!v.leak, "{}", v.reason);
    assert!(v.confidence < 0.5);
}

#[test]
fn non_finite_samples_are_dropped_and_counted() {
    let clean = leak_pairs();
    let mut dirty = clean.clone();
    dirty.insert(10, (f64::NAN, 5.0));
    dirty.insert(50, (60.5, f64::INFINITY));
    dirty.insert(90, (f64::NEG_INFINITY, f64::NAN));
    let a = analyze(&Series::from_pairs(clean), &Options::default());
    let b = analyze(&Series::from_pairs(dirty), &Options::default());
    assert_eq!(b.dropped_samples, 3);
    assert_eq!(
        (a.pattern, a.leak, a.slope_bytes_per_s),
        (b.pattern, b.leak, b.slope_bytes_per_s)
    );

    let all_nan = Series::from_pairs((0..100).map(|_| (f64::NAN, f64::NAN)));
    let v = analyze(&all_nan, &Options::default());
    assert!(!v.enough_data && !v.leak);
    assert_eq!(v.dropped_samples, 100);
}

#[test]
fn unsorted_input_gives_the_same_verdict_as_sorted() {
    let sorted = leak_pairs();
    let mut shuffled = sorted.clone();
    let mut noise = Noise::new(22);
    for i in (1..shuffled.len()).rev() {
        let j = (noise.uniform() * (i + 1) as f64) as usize;
        shuffled.swap(i, j);
    }
    let a = analyze(&Series::from_pairs(sorted), &Options::default());
    let b = analyze(&Series::from_pairs(shuffled), &Options::default());
    assert_eq!(a, b);
    assert!(a.leak);
}

#[test]
fn equal_times_collapse_and_a_single_instant_is_not_enough() {
    let same_instant = Series::from_pairs((0..50).map(|i| (7.0, i as f64)));
    assert_eq!(same_instant.len(), 1);
    let v = analyze(&same_instant, &Options::default());
    assert!(!v.enough_data && !v.leak);
    assert_eq!(v.last_bytes, Some(49.0));

    // Every sample given twice: the later value wins, the verdict holds.
    let doubled: Vec<(f64, f64)> = leak_pairs()
        .into_iter()
        .flat_map(|(t, v)| [(t, v - 100.0 * MIB), (t, v)])
        .collect();
    let v = analyze(&Series::from_pairs(doubled), &Options::default());
    assert!(v.leak, "{}", v.reason);
    assert_eq!(v.dropped_samples, 300);
}

#[test]
fn constant_and_zero_series_are_stable() {
    for level in [0.0, 1.0, GIB, -5.0 * MIB] {
        let series = Series::from_pairs((0..200).map(|i| (i as f64, level)));
        let v = analyze(&series, &Options::default());
        assert_eq!(v.pattern, Pattern::Stable, "{level}: {}", v.reason);
        assert!(!v.leak);
        assert_eq!(v.slope_bytes_per_s, Some(0.0));
        assert!(v.change_points.is_empty());
        assert_eq!(v.transient_samples, 0);
    }
}

#[test]
fn huge_values_do_not_overflow() {
    // A leak at 1e300 bytes: every sum of squares would overflow without
    // the internal normalisation.
    let pairs: Vec<(f64, f64)> = (0..300)
        .map(|i| (i as f64, 1e300 * (1.0 + 0.001 * i as f64)))
        .collect();
    let v = analyze(&Series::from_pairs(pairs), &Options::default());
    assert_eq!(v.pattern, Pattern::Linear, "{}", v.reason);
    assert!(v.leak);
    let slope = v.slope_bytes_per_s.expect("slope");
    assert!((slope / 1e297 - 1.0).abs() < 1e-9, "{slope}");

    // Values at the edge of f64 must not panic, whatever they produce.
    let edge: Vec<(f64, f64)> = (0..100)
        .map(|i| (i as f64, if i % 2 == 0 { f64::MAX } else { -f64::MAX }))
        .collect();
    let v = analyze(&Series::from_pairs(edge), &Options::default());
    assert!(v.confidence.is_finite());
    for bound in [
        v.slope_bytes_per_s,
        v.slope_lower_bytes_per_s,
        v.slope_upper_bytes_per_s,
    ] {
        assert!(bound.is_none_or(f64::is_finite));
    }
}

#[test]
fn epoch_timestamps_give_the_same_verdict() {
    let epoch = 1.7e9;
    let base = leak_pairs();
    let shifted: Vec<(f64, f64)> = base.iter().map(|&(t, v)| (t + epoch, v)).collect();
    let a = analyze(&Series::from_pairs(base), &Options::default());
    let b = analyze(&Series::from_pairs(shifted), &Options::default());
    assert_eq!((a.pattern, a.leak), (b.pattern, b.leak));
    let (sa, sb) = (
        a.slope_bytes_per_s.expect("a"),
        b.slope_bytes_per_s.expect("b"),
    );
    assert!((sa - sb).abs() < 1e-6 * sa.abs(), "{sa} vs {sb}");

    // Times spanning more than f64 can represent: no panic, not judged.
    let absurd = Series::from_pairs([(-f64::MAX, 1.0), (0.0, 2.0), (1.0, 3.0), (f64::MAX, 4.0)]);
    let v = analyze(&absurd, &Options::default());
    assert!(!v.enough_data && !v.leak);
}

#[test]
fn warm_up_window_is_excluded_when_asked() {
    // Grows for 100 s, then flat: a plateau; ignoring the first 120 s, stable.
    let pairs = sampled(600, MIB, 23, |t| 100.0 * MIB + 3.0 * MIB * t.min(100.0));
    let series = Series::from_pairs(pairs);
    let v = analyze(&series, &Options::default());
    assert_eq!(v.pattern, Pattern::Plateau, "{}", v.reason);
    let opts = Options {
        warmup_s: 120.0,
        ..Options::default()
    };
    let v = analyze(&series, &opts);
    assert_eq!(v.pattern, Pattern::Stable, "{}", v.reason);
    assert_eq!(v.samples, 480);
    let opts = Options {
        warmup_s: 1e6,
        ..Options::default()
    };
    let v = analyze(&series, &opts);
    assert!(!v.enough_data);
    assert!(v.reason.contains("warm-up"), "{}", v.reason);
}

#[test]
fn nonsense_options_behave_like_the_defaults() {
    let series = Series::from_pairs(leak_pairs());
    let nonsense = Options {
        alpha: f64::NAN,
        max_points: 0,
        min_growth_fraction: -1.0,
        min_growth_bytes: f64::NAN,
        min_leak_rate_bytes_per_s: f64::NEG_INFINITY,
        outlier_z: 0.0,
        penalty_factor: -3.0,
        jump_z: f64::NAN,
        jump_share: 2.0,
        tail_fraction: 0.0,
        confidence_time_s: 0.0,
        ..Options::default()
    };
    let v = analyze(&series, &nonsense);
    // max_points is clamped up to 16 rather than reset, so compare the
    // verdict that does not depend on the bucketing.
    let d = analyze(&series, &Options::default());
    assert_eq!((v.pattern, v.leak), (d.pattern, d.leak));
    assert!(v.confidence.is_finite());
}

#[test]
fn mismatched_columns_are_rejected() {
    assert_eq!(
        Series::from_columns(&[1.0, 2.0, 3.0], &[1.0]),
        Err(SeriesError::LengthMismatch {
            times: 3,
            values: 1
        })
    );
    let ok = Series::from_columns(&[2.0, 1.0], &[20.0, 10.0]).expect("same length");
    assert_eq!(ok.times(), &[1.0, 2.0]);
}

#[test]
fn pushing_samples_one_by_one_matches_the_batch_verdict() {
    // The `watch` use: a new sample every second, a verdict every time.
    let pairs = leak_pairs();
    let mut live = Series::new();
    let mut last = None;
    for &(t, v) in &pairs {
        live.push(t, v);
        last = Some(analyze(&live, &Options::default()));
    }
    let batch = analyze(&Series::from_pairs(pairs), &Options::default());
    assert_eq!(last, Some(batch));
}
