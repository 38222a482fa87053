//! Times `analyze` on long series (run in release):
//!
//! ```text
//! cargo run --release -p heapwise-series --example long_series
//! ```
//!
//! A benchmark, not a test: it prints timings and asserts nothing about them.

use std::time::Instant;

use heapwise_series::{Options, Series, analyze};

const MIB: f64 = 1024.0 * 1024.0;

/// Deterministic noise in [-1, 1) from a 64-bit mix of the index.
fn noise(i: u64) -> f64 {
    let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

fn time(name: &str, series: &Series) {
    let options = Options::default();
    // One warm-up run, then the best of five.
    let verdict = analyze(series, &options);
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let start = Instant::now();
        let again = analyze(series, &options);
        best = best.min(start.elapsed().as_secs_f64());
        assert_eq!(again, verdict);
    }
    println!(
        "{name:<40} n = {:>7}  {:>8.2} ms  {:<9} leak = {}",
        series.len(),
        best * 1000.0,
        verdict.pattern.as_str(),
        verdict.leak
    );
}

fn main() {
    for n in [100u64, 300, 1_000, 10_000, 100_000, 1_000_000] {
        let linear = Series::from_pairs((0..n).map(|i| {
            (
                i as f64,
                500.0 * MIB + 10240.0 * i as f64 + 2.0 * MIB * noise(i),
            )
        }));
        time(&format!("10 KiB/s + 2 MiB noise, {n} samples"), &linear);
    }
    let sawtooth = Series::from_pairs((0..100_000u64).map(|i| {
        let phase = (i % 30) as f64 / 30.0;
        (i as f64, 200.0 * MIB + 300.0 * MIB * phase + MIB * noise(i))
    }));
    time("GC sawtooth, 100000 samples", &sawtooth);
    let flat =
        Series::from_pairs((0..100_000u64).map(|i| (i as f64, 1024.0 * MIB + 4096.0 * noise(i))));
    time("stable, 100000 samples", &flat);
}
