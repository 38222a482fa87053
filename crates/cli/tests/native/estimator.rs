//! The sampled estimator of the real preload against the exact trace of
//! the same program (`programs/estimate.c`, whose allocations are the same
//! every run): over repeated sampled runs, each run's estimate of leaked
//! bytes misses the exact figure by about the standard error its own
//! report states — the errors centre on zero with a spread near one
//! standard error, as the theory says.

use super::util::*;

const RUNS: usize = 12;

#[test]
fn sampled_estimates_centre_on_the_exact_figure_with_the_spread_their_reports_state() {
    let dir = test_dir("estimator");
    let program = program("estimate.c");
    let out = run_traced_with(&dir, "full.hwt", &["--no-tui"], &program, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed: Vec<u64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    let full = report_json(&dir.join("full.hwt"));
    let exact = leak_from(&full, "make");
    assert_eq!(exact["bytes"], printed[0], "the full trace is exact");
    assert_eq!(exact["allocations"], printed[1]);
    let truth = printed[0] as f64;
    let mut z = Vec::new();
    for run in 0..RUNS {
        let name = format!("sampled{run}.hwt");
        let out = run_traced_with(
            &dir,
            &name,
            &["--no-tui", "--sample", "16KiB"],
            &program,
            &[],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let report = report_json(&dir.join(&name));
        let estimate = leak_from(&report, "make")["bytes"].as_f64().unwrap();
        // The program's other blocks (the C runtime's) are not sampled
        // the same way every run: the stack's own error is what matters,
        // and the whole trace's standard error bounds it from above.
        let error = report["sampling"]["leaked_bytes_standard_error"]
            .as_f64()
            .unwrap();
        z.push((estimate - truth) / error);
    }
    let n = RUNS as f64;
    let mean = z.iter().sum::<f64>() / n;
    let sd = (z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    eprintln!("z-scores {z:.2?}: mean {mean:.2}, sd {sd:.2}");
    assert!(
        mean.abs() < 3.0 / n.sqrt(),
        "biased: mean z {mean:.2} ({z:.2?})"
    );
    assert!(
        (0.4..1.6).contains(&sd),
        "spread {sd:.2} standard errors ({z:.2?})"
    );
    assert!(z.iter().all(|v| v.abs() < 4.0), "{z:.2?}");
}
