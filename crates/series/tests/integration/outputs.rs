//! What other parts of heapwise consume: JSON names, timelines, forecasts.

use heapwise_series::{Aggregate, Options, Pattern, Series, analyze, downsample, time_to_limit};

use crate::synth::{GIB, KIB, MIB, sampled};

#[test]
fn patterns_serialise_to_the_contract_vocabulary() {
    let names: Vec<String> = [
        Pattern::Stable,
        Pattern::Plateau,
        Pattern::Sawtooth,
        Pattern::Linear,
        Pattern::Step,
        Pattern::Periodic,
        Pattern::Spike,
    ]
    .iter()
    .map(|p| serde_json::to_string(p).expect("serialise"))
    .collect();
    assert_eq!(
        names,
        [
            "\"stable\"",
            "\"plateau\"",
            "\"sawtooth\"",
            "\"linear\"",
            "\"step\"",
            "\"periodic\"",
            "\"spike\""
        ]
    );
    for (p, name) in [(Pattern::Sawtooth, "sawtooth"), (Pattern::Spike, "spike")] {
        assert_eq!(p.as_str(), name);
        assert_eq!(p.to_string(), name);
    }
}

#[test]
fn verdict_json_has_the_contract_fields_and_nulls_for_unknowns() {
    let leak = analyze(
        &Series::from_pairs(sampled(300, MIB, 41, |t| 300.0 * MIB + 50.0 * KIB * t)),
        &Options::default(),
    );
    let json: serde_json::Value = serde_json::to_value(&leak).expect("serialise");
    assert_eq!(json["pattern"], "linear");
    assert_eq!(json["leak"], true);
    assert!(json["slope_bytes_per_s"].as_f64().is_some_and(|s| s > 0.0));
    assert_eq!(json["trend_basis"], "series");
    let back: heapwise_series::Verdict = serde_json::from_value(json).expect("deserialise");
    assert_eq!(back, leak);

    let short = analyze(&Series::from_pairs([(0.0, 1.0)]), &Options::default());
    let json = serde_json::to_value(&short).expect("serialise");
    assert!(json["slope_bytes_per_s"].is_null());
    assert!(json["mann_kendall"].is_null());
    assert_eq!(json["pattern"], "stable");
}

#[test]
fn timelines_of_a_few_thousand_points() {
    // 100,000 samples with one 1-sample peak; 2,000 points.
    let mut pairs = sampled(100_000, 0.0, 42, |t| GIB + KIB * t);
    pairs[54_321].1 += 512.0 * MIB;
    let series = Series::from_pairs(pairs);
    let in_effect = downsample(&series, 2000, Aggregate::InEffect);
    let max = downsample(&series, 2000, Aggregate::Max);
    assert_eq!(in_effect.len(), 2000);
    assert_eq!(max.len(), 2000);
    assert_eq!(in_effect[0].t_s, 0.0);
    assert_eq!(in_effect[1999].t_s, 99_999.0);
    let step = 99_999.0 / 1999.0;
    for (k, p) in in_effect.iter().enumerate() {
        assert!((p.t_s - k as f64 * step).abs() < 1e-6);
        // Value in effect: the last sample at or before the point's time.
        let expected = GIB + KIB * p.t_s.floor();
        assert!(
            (p.value - expected).abs() < 1.0,
            "{k}: {} vs {expected}",
            p.value
        );
    }
    let peak = max.iter().map(|p| p.value).fold(f64::MIN, f64::max);
    assert!(peak >= GIB + 512.0 * MIB, "{peak}");
    // Max never reports less than the value in effect.
    assert!(max.iter().zip(&in_effect).all(|(m, e)| m.value >= e.value));
}

#[test]
fn time_to_limit_uses_the_pessimistic_rate_and_only_for_leaks() {
    let leak = analyze(
        &Series::from_pairs(sampled(600, MIB, 43, |t| GIB + 100.0 * KIB * t)),
        &Options::default(),
    );
    assert!(leak.leak);
    let current = leak.last_bytes.expect("last");
    let limit = 2.0 * GIB;
    let eta = leak.time_to_limit(current, limit).expect("growing");
    let upper = leak.slope_upper_bytes_per_s.expect("upper");
    assert!((eta - (limit - current) / upper).abs() < 1e-6);
    // The upper bound is pessimistic: sooner than at the point slope.
    let at_slope = (limit - current) / leak.slope_bytes_per_s.expect("slope");
    assert!(eta <= at_slope);
    // About (2 GiB - 1.06 GiB) / 100 KiB/s.
    assert!(
        (eta - (limit - current) / (100.0 * KIB)).abs() < 0.05 * eta,
        "{eta}"
    );
    assert_eq!(leak.time_to_limit(3.0 * GIB, limit), Some(0.0));

    let flat = analyze(
        &Series::from_pairs(sampled(600, MIB, 44, |_| GIB)),
        &Options::default(),
    );
    assert_eq!(flat.time_to_limit(GIB, limit), None);
    assert_eq!(time_to_limit(GIB, -1.0, limit), None);
}
