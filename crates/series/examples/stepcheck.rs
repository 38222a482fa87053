use heapwise_series::{Options, Series, analyze};
fn main() {
    for (n, step, jitter) in [
        (1433usize, 8usize, 0u64),
        (1433, 16, 0),
        (2048, 8, 0),
        (1433, 6, 0),
        (1024, 12, 0),
        (1433, 8, 1),
    ] {
        // A steady leak of 30 kB/s sampled every 5.6 ms, held as steps.
        let pts: Vec<(f64, f64)> = (0..n)
            .map(|i| {
                let t = i as f64 * 0.0056;
                let held = ((i / step) * step) as f64 * 0.0056 * 30000.0
                    + if jitter > 0 {
                        ((i * 7919) % 13) as f64
                    } else {
                        0.0
                    };
                (t, held)
            })
            .collect();
        let v = analyze(&Series::from_pairs(pts), &Options::default());
        println!(
            "n={n} step={step}: {:?} leak={} reason={}",
            v.pattern, v.leak, v.reason
        );
    }
}
