//! The analysis on the series real programs wrote (tests/README.md): it
//! names the leak the program made, at the program's rate, and does not
//! call the cache that fills and then plateaus a leak.

use std::path::PathBuf;

use heapwise_profiles::{
    AnalysisOptions, Input, ProfilesReport, SeriesError, StackGrowth, TimeAxis, analyze, read_path,
};
use heapwise_series::Pattern;

fn data(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(relative)
}

fn inputs(paths: &[PathBuf]) -> Vec<Input> {
    paths
        .iter()
        .map(|path| Input {
            name: path.display().to_string(),
            profile: read_path(path).unwrap(),
            mtime_unix_ns: None,
        })
        .collect()
}

fn go_series(series: &str) -> Vec<PathBuf> {
    (1..=13)
        .map(|n| data(&format!("go/{series}/heap-{n:02}.pb.gz")))
        .collect()
}

fn dumps() -> Vec<PathBuf> {
    (1..=12)
        .map(|n| data(&format!("jemalloc/leaky/dump-{n:02}.heap")))
        .collect()
}

fn all_stacks() -> AnalysisOptions {
    AnalysisOptions {
        max_stacks: usize::MAX,
        ..AnalysisOptions::default()
    }
}

fn leaf(stack: &StackGrowth) -> &str {
    stack.frames[0].function.as_deref().unwrap_or("?")
}

fn by_function<'a>(report: &'a ProfilesReport, function: &str) -> Vec<&'a StackGrowth> {
    report
        .stacks
        .iter()
        .filter(|s| leaf(s) == function)
        .collect()
}

/// What leaky.go leaks: 1 KiB every 10 ms.
const GO_LEAK_RATE: f64 = 1024.0 / 0.010;

#[test]
fn the_go_leak_is_linear_at_the_programs_rate_and_the_cache_is_not_a_leak() {
    let report = analyze(inputs(&go_series("rate-16k")), &all_stacks()).unwrap();
    assert_eq!(report.time_axis, TimeAxis::ProfileTime);
    assert!(report.verdict.leak, "{}", report.verdict.summary);
    let first = &report.stacks[0];
    assert_eq!(
        leaf(first),
        "main.leak",
        "most suspicious first: {}",
        first.verdict.reason
    );
    assert_eq!(first.pattern, Pattern::Linear, "{}", first.verdict.reason);
    assert!(first.leak);
    let rate = first.slope_bytes_per_s.unwrap();
    assert!(
        (rate / GO_LEAK_RATE - 1.0).abs() < 0.25,
        "{rate} B/s vs {GO_LEAK_RATE}"
    );
    let duration = report.duration_s.unwrap();
    assert!((115.0..125.0).contains(&duration), "{duration}");
    // The cache fills in about 20 s, then plateaus: no stack of it leaks.
    let cache = by_function(&report, "main.fillCache");
    assert!(!cache.is_empty());
    for stack in cache {
        assert!(!stack.leak, "{}", stack.verdict.reason);
    }
    // Nothing else leaks. (The map behind the cache gains overflow
    // buckets after it is full — three sampled ones in 100 s, within
    // twice their sampling error.)
    let leaks: Vec<&str> = report
        .stacks
        .iter()
        .filter(|s| s.leak)
        .map(|s| s.verdict.reason.as_str())
        .collect();
    assert_eq!(leaks.len(), 1, "{leaks:#?}");
    assert_eq!(report.stacks_growing, 1);
    assert!(
        report.live_heap.verdict.leak,
        "{}",
        report.live_heap.verdict.reason
    );
    let sampling = report.sampling.as_ref().unwrap();
    assert_eq!(sampling.rate_bytes, 16384);
    let detectable = sampling.detectable_rate_bytes_per_s.unwrap();
    assert!((detectable - 8.0 * 16384.0 / duration).abs() < 1e-6);
    // The per-profile slope is the per-second one times the interval.
    let per_profile = first.slope_bytes_per_profile.unwrap();
    assert!((per_profile - rate * duration / 12.0).abs() < 1.0);
    assert_eq!(first.live_bytes.len(), 13);
    assert_eq!(first.live_bytes_end, 12_321_071);
}

#[test]
fn at_gos_default_rate_the_leak_is_still_named_and_the_cache_still_not() {
    // 512 KiB: about 16 samples of the leak by the end, so the rate is
    // only roughly right (tests/README.md); the verdicts hold.
    let report = analyze(inputs(&go_series("rate-512k")), &all_stacks()).unwrap();
    let first = &report.stacks[0];
    assert_eq!(leaf(first), "main.leak", "{}", first.verdict.reason);
    assert!(
        first.leak && first.pattern == Pattern::Linear,
        "{}",
        first.verdict.reason
    );
    let error = first.sampling_error_bytes.unwrap();
    // √k · R: k ≈ 16 samples of 524,800 B.
    assert!((1.8e6..2.4e6).contains(&error), "{error}");
    for stack in by_function(&report, "main.fillCache") {
        assert!(!stack.leak, "{}", stack.verdict.reason);
    }
    assert_eq!(report.stacks_growing, 1);
}

/// What leaky.c leaks between two dumps: 8 MiB × 1,024 / 11,264.
const JEMALLOC_LEAK_PER_DUMP: f64 = 8.0 * 1048576.0 * 1024.0 / 11264.0;

#[test]
fn the_jemalloc_leak_is_linear_at_the_programs_rate_per_dump() {
    let report = analyze(inputs(&dumps()), &all_stacks()).unwrap();
    assert_eq!(report.time_axis, TimeAxis::Order);
    assert_eq!(report.duration_s, None);
    assert!(report.verdict.leak, "{}", report.verdict.summary);
    assert!(
        report.verdict.summary.contains("per profile"),
        "{}",
        report.verdict.summary
    );
    let first = &report.stacks[0];
    assert!(
        first.leak && first.pattern == Pattern::Linear,
        "{}",
        first.verdict.reason
    );
    assert_eq!(first.slope_bytes_per_s, None);
    let per_dump = first.slope_bytes_per_profile.unwrap();
    assert!(
        (per_dump / JEMALLOC_LEAK_PER_DUMP - 1.0).abs() < 0.25,
        "{per_dump} vs {JEMALLOC_LEAK_PER_DUMP}"
    );
    // leaky.c's leak_one is its largest stack at the end, placed in the
    // program's file.
    assert_eq!(first.frames[0].module.as_deref(), Some("leaky"));
    assert_eq!(
        report.stacks_growing, 1,
        "{:#?}",
        report.stacks[1].verdict.reason
    );
    assert!(
        report
            .profiles
            .iter()
            .all(|p| p.sampling_rate_bytes == Some(16384))
    );
}

#[test]
fn the_order_given_is_the_order_judged() {
    // The same dumps backwards: the leak's stack falls, nothing leaks.
    let mut paths = dumps();
    paths.reverse();
    let report = analyze(inputs(&paths), &all_stacks()).unwrap();
    assert!(!report.verdict.leak, "{}", report.verdict.summary);
    assert!(report.profiles[0].name.ends_with("dump-12.heap"));
}

#[test]
fn by_mtime_orders_and_times_by_the_files() {
    // Modification times 10 s apart, given shuffled.
    let mut inputs = inputs(&dumps());
    for (i, input) in inputs.iter_mut().enumerate() {
        input.mtime_unix_ns = Some(1_700_000_000_000_000_000 + i as i64 * 10_000_000_000);
    }
    inputs.swap(0, 7);
    inputs.swap(3, 11);
    let options = AnalysisOptions {
        by_mtime: true,
        ..AnalysisOptions::default()
    };
    let report = analyze(inputs, &options).unwrap();
    assert_eq!(report.time_axis, TimeAxis::Mtime);
    assert_eq!(report.duration_s, Some(110.0));
    let names: Vec<&str> = report.profiles.iter().map(|p| p.name.as_str()).collect();
    assert!(names.windows(2).all(|w| w[0] < w[1]), "{names:?}");
    let first = &report.stacks[0];
    let per_s = first.slope_bytes_per_s.unwrap();
    let per_profile = first.slope_bytes_per_profile.unwrap();
    assert!((per_s * 10.0 - per_profile).abs() < 1.0);
    assert!((per_s / (JEMALLOC_LEAK_PER_DUMP / 10.0) - 1.0).abs() < 0.25);
    assert!(report.stacks.len() <= 10);
}

#[test]
fn series_that_cannot_be_judged_are_refused() {
    let one = inputs(&dumps()[..1]);
    assert!(matches!(
        analyze(one, &AnalysisOptions::default()),
        Err(SeriesError::TooFew(1))
    ));
    let mut mixed = inputs(&dumps()[..2]);
    mixed.extend(inputs(&go_series("rate-16k")[..1]));
    let err = analyze(mixed, &AnalysisOptions::default()).unwrap_err();
    assert!(matches!(err, SeriesError::MixedFormats { .. }), "{err}");
    let options = AnalysisOptions {
        by_mtime: true,
        ..AnalysisOptions::default()
    };
    let err = analyze(inputs(&dumps()[..2]), &options).unwrap_err();
    assert!(matches!(err, SeriesError::NoMtime(_)), "{err}");
}
