//! Measures how often the verdict is right on synthetic series with known
//! truth (200 noise realisations each), for `docs/statistics.md`:
//!
//! ```text
//! cargo run --release -p heapwise-series --example calibration
//! ```
//!
//! A measurement, not a test: the integration tests assert the truths; this
//! prints the rates behind the documented limits.

use heapwise_series::{Options, Pattern, Series, Verdict, analyze};

const KIB: f64 = 1024.0;
const MIB: f64 = 1024.0 * 1024.0;
const RUNS: u64 = 200;

/// SplitMix64 with Box–Muller: deterministic Gaussian noise.
struct Noise(u64);

impl Noise {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn gauss(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// `n` samples at 1 Hz: `f(t)` plus noise `e(i)`.
fn series(n: usize, f: impl Fn(f64) -> f64, mut e: impl FnMut() -> f64) -> Series {
    Series::from_pairs((0..n).map(|i| (i as f64, f(i as f64) + e())))
}

fn rate(name: &str, judge: impl Fn(u64) -> bool) {
    let hits = (0..RUNS).filter(|&seed| judge(seed)).count();
    println!("{name:<62} {:>5.1} %", 100.0 * hits as f64 / RUNS as f64);
}

fn white(seed: u64, sigma: f64) -> impl FnMut() -> f64 {
    let mut n = Noise(seed);
    move || sigma * n.gauss()
}

fn ar1(seed: u64, phi: f64, sigma: f64) -> impl FnMut() -> f64 {
    let mut n = Noise(seed);
    let mut e = 0.0;
    move || {
        e = phi * e + sigma * n.gauss();
        e
    }
}

fn covers(v: &Verdict, slope: f64) -> bool {
    matches!((v.slope_lower_bytes_per_s, v.slope_upper_bytes_per_s), (Some(lo), Some(hi)) if lo <= slope && slope <= hi)
}

fn main() {
    let o = Options::default();
    let judge = |s: &Series| analyze(s, &o);
    let leak = 20.0 * KIB;
    let line = move |t: f64| 100.0 * MIB + leak * t;
    let saw = |rise: f64| move |t: f64| 200.0 * MIB + rise * t + 300.0 * MIB * ((t % 40.0) / 40.0);

    println!("slope interval (95 %) contains the true slope:");
    rate(
        "  linear 20 KiB/s, white noise σ = 1 MiB, 300 samples",
        |s| covers(&judge(&series(300, line, white(s, MIB))), leak),
    );
    rate(
        "  linear 20 KiB/s, AR(1) φ = 0.8 noise σ = 1 MiB, 300 samples",
        |s| covers(&judge(&series(300, line, ar1(s, 0.8, 0.6 * MIB))), leak),
    );

    println!("leak found (true positives):");
    for (growth_in_sigmas, n) in [(1.0, 300), (3.0, 300), (6.0, 300), (3.0, 3000)] {
        let slope = growth_in_sigmas * MIB / n as f64;
        rate(
            &format!("  linear, total growth {growth_in_sigmas} σ (white σ = 1 MiB), {n} samples"),
            |s| judge(&series(n, |t| 100.0 * MIB + slope * t, white(s, MIB))).leak,
        );
    }
    rate("  sawtooth, floor rising 100 KiB/s, 600 samples", |s| {
        judge(&series(600, saw(100.0 * KIB), white(s, 2.0 * MIB))).leak
    });

    println!("leak reported where there is none (false positives):");
    rate("  flat, white noise σ = 2 % of level, 600 samples", |s| {
        judge(&series(600, |_| 100.0 * MIB, white(s, 2.0 * MIB))).leak
    });
    rate("  flat, AR(1) φ = 0.9 noise, 600 samples", |s| {
        judge(&series(600, |_| 100.0 * MIB, ar1(s, 0.9, 0.5 * MIB))).leak
    });
    rate("  sawtooth with a flat floor, 600 samples", |s| {
        judge(&series(600, saw(0.0), white(s, 2.0 * MIB))).leak
    });
    rate(
        "  warm-up (exponential, τ = 30 s) then flat, 600 samples",
        |s| {
            let v = judge(&series(
                600,
                |t| 100.0 * MIB + 500.0 * MIB * (1.0 - (-t / 30.0).exp()),
                white(s, 2.0 * MIB),
            ));
            v.leak
        },
    );
    rate(
        "  random walk without drift (σ = 0.3 MiB/step), 600 samples",
        |s| {
            let mut n = Noise(s);
            let mut x = 100.0 * MIB;
            let walk = Series::from_pairs((0..600).map(|i| {
                x += 0.3 * MIB * n.gauss();
                (i as f64, x)
            }));
            judge(&walk).leak
        },
    );

    println!("pattern recognised:");
    rate("  warm-up then flat → plateau", |s| {
        let v = judge(&series(
            600,
            |t| 100.0 * MIB + 500.0 * MIB * (1.0 - (-t / 30.0).exp()),
            white(s, 2.0 * MIB),
        ));
        v.pattern == Pattern::Plateau
    });
    rate(
        "  4 steps of 50 MiB at irregular times, σ = 1 MiB → step",
        |s| {
            let steps = [70.0, 190.0, 260.0, 430.0];
            let v = judge(&series(
                500,
                |t| 1024.0 * MIB + 50.0 * MIB * steps.iter().filter(|&&x| t >= x).count() as f64,
                white(s, MIB),
            ));
            v.pattern == Pattern::Step && v.leak
        },
    );
    rate("  +20 MiB every 60 s, σ = 1 MiB → periodic", |s| {
        let v = judge(&series(
            600,
            |t| 1024.0 * MIB + 20.0 * MIB * (t / 60.0).floor(),
            white(s, MIB),
        ));
        v.pattern == Pattern::Periodic && v.leak
    });
    rate("  sawtooth with a flat floor → sawtooth", |s| {
        judge(&series(600, saw(0.0), white(s, 2.0 * MIB))).pattern == Pattern::Sawtooth
    });
}
