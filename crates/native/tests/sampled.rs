//! The estimates of a sampled trace against the truth of the program it
//! sampled. A program of known allocations is sampled the way the preload
//! samples (a per-thread exponential countdown of mean R, drawn afresh
//! after each sample), written as a sampled trace, and read by `analyze`
//! and `report`: over many runs, the estimates of leaked bytes and blocks
//! must centre on the truth, with the spread the report's own standard
//! error predicts.

use heapwise_native::model::Frame;
use heapwise_native::{AnalyzeOptions, ReportOptions, Symbolize, analyze, report};
use heapwise_trace::{
    AllocApi, ControlRecord, ExitStatus, Header, ModuleLoad, StreamEncoder, TraceWriter,
};

struct NoSymbols;

impl Symbolize for NoSymbols {
    fn symbolize(&mut self, _: &ModuleLoad, addresses: &[u64]) -> Vec<Vec<Frame>> {
        addresses.iter().map(|_| Vec::new()).collect()
    }
}

/// A small deterministic generator for the sampler's draws.
struct Draws(u64);

impl Draws {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn exponential(&mut self, mean: f64) -> f64 {
        -self.unit().ln() * mean
    }
}

/// The program: `n` blocks; block `i` has size `size(i)` and is leaked
/// when `leaked(i)`, freed right away otherwise. Returns the truth
/// (leaked bytes, leaked blocks) and writes the sampled trace.
fn sample_program(
    path: &std::path::Path,
    interval: u64,
    seed: u64,
    n: u64,
    size: impl Fn(u64) -> u64,
    leaked: impl Fn(u64) -> bool,
) -> (u64, u64) {
    let mut header = Header::new(1, vec!["program".into()]);
    header.sample_interval = interval;
    let mut writer = TraceWriter::create(path, &header).unwrap();
    let mut enc = StreamEncoder::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = enc.node(&mut buf, 0, 0, 0x40_1000);
    let mut draws = Draws(seed);
    let mut countdown = draws.exponential(interval as f64);
    let (mut truth_bytes, mut truth_blocks) = (0, 0);
    let mut tick = 0;
    for i in 0..n {
        let z = size(i);
        let ptr = 0x1000_0000 + i * 0x1_0000;
        tick += 10;
        let keep = leaked(i);
        if keep {
            truth_bytes += z;
            truth_blocks += 1;
        }
        countdown -= z as f64;
        if countdown > 0.0 {
            continue;
        }
        countdown = draws.exponential(interval as f64);
        pos = enc.alloc(&mut buf, pos, AllocApi::Malloc, tick, z, 1, ptr);
        if !keep {
            tick += 1;
            pos = enc.free(&mut buf, pos, ptr, || tick);
        }
        if pos > buf.len() - 1024 {
            writer.stream(2, &buf[..pos]);
            writer.control(&ControlRecord::Sync { tick: tick + 1 });
            pos = 0;
        }
    }
    writer.stream(2, &buf[..pos]);
    writer.control(&ControlRecord::Sync { tick: tick + 1 });
    writer.control(&ControlRecord::Exit {
        ts: tick + 2,
        status: ExitStatus::Code(0),
    });
    writer.flush().unwrap();
    (truth_bytes, truth_blocks)
}

#[test]
fn a_full_trace_has_no_sampling_section_and_exact_figures() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.hwt");
    // R = 0: a full trace; the "sampler" records everything.
    let mut header = Header::new(1, vec!["program".into()]);
    header.sample_interval = 0;
    let mut writer = TraceWriter::create(&path, &header).unwrap();
    let mut enc = StreamEncoder::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut pos = enc.node(&mut buf, 0, 0, 0x40_1000);
    for i in 0..1000u64 {
        pos = enc.alloc(
            &mut buf,
            pos,
            AllocApi::Malloc,
            10 + i,
            100,
            1,
            0x1000_0000 + i * 128,
        );
    }
    writer.stream(2, &buf[..pos]);
    writer.control(&ControlRecord::Exit {
        ts: 5000,
        status: ExitStatus::Code(0),
    });
    writer.flush().unwrap();
    let analysis = analyze(&path, &AnalyzeOptions::default()).unwrap();
    let r = report(&analysis, &mut NoSymbols, &ReportOptions::default());
    assert!(r.sampling.is_none());
    assert_eq!(
        (r.summary.leaked_bytes, r.summary.leaked_allocations),
        (100_000, 1000)
    );
}

#[test]
fn estimates_of_a_sampled_program_centre_on_the_truth_within_their_standard_error() {
    let dir = tempfile::tempdir().unwrap();
    let interval = 64 << 10;
    // 40,000 blocks of 16 B to 8 KiB; every 5th is leaked.
    let size = |i: u64| 16 + (i * 2_654_435_761) % 8192;
    let leaked = |i: u64| i.is_multiple_of(5);
    let runs = 40;
    let mut z_scores = Vec::new();
    let mut block_errors = Vec::new();
    let mut truth = (0, 0);
    for run in 0..runs {
        let path = dir.path().join(format!("sampled-{run}.hwt"));
        truth = sample_program(&path, interval, 1000 + run, 40_000, size, leaked);
        let analysis = analyze(&path, &AnalyzeOptions::default()).unwrap();
        let r = report(&analysis, &mut NoSymbols, &ReportOptions::default());
        let sampling = r.sampling.as_ref().expect("a sampled trace says so");
        assert_eq!(sampling.mean_interval_bytes, interval);
        assert!(sampling.recorded_allocations > 0);
        let error = r.summary.leaked_bytes as f64 - truth.0 as f64;
        z_scores.push(error / sampling.leaked_bytes_standard_error);
        block_errors.push(r.summary.leaked_allocations as f64 / truth.1 as f64 - 1.0);
    }
    let n = z_scores.len() as f64;
    let mean_z = z_scores.iter().sum::<f64>() / n;
    let sd_z = (z_scores.iter().map(|z| (z - mean_z).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    // Unbiased: the mean error is within 4 standard errors of the mean of
    // 40 runs (1 / sqrt(40) of a standard error each) …
    assert!(
        mean_z.abs() < 4.0 / n.sqrt(),
        "mean z {mean_z:.3} (truth {truth:?})"
    );
    // … and the report's standard error is the real spread (a z-score's
    // spread is 1; with 40 runs, 0.6–1.4 holds with room).
    assert!((0.6..1.4).contains(&sd_z), "z spread {sd_z:.3}");
    // Blocks too: the mean relative error of the block estimate is small.
    let mean_blocks = block_errors.iter().sum::<f64>() / n;
    assert!(
        mean_blocks.abs() < 0.05,
        "blocks off by {:.1} % on average",
        mean_blocks * 100.0
    );
}

/// A server that leaks 64 B on every 10th of 2,000,000 requests over a
/// minute, beside a stack that allocates as much but frees all of it:
/// sampled at 64 KiB, the leaking stack is a linear leak with its rate
/// within 25 % of the truth, the other is not, and the report says how
/// slow a leak could have gone unseen.
#[test]
fn a_steady_leak_is_found_in_a_sampled_trace_with_its_rate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.hwt");
    let interval = 64u64 << 10;
    let mut header = Header::new(1, vec!["server".into()]);
    header.sample_interval = interval;
    let mut writer = TraceWriter::create(&path, &header).unwrap();
    let mut enc = StreamEncoder::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = enc.node(&mut buf, 0, 0, 0x40_1000);
    pos = enc.node(&mut buf, pos, 0, 0x40_2000);
    let mut draws = Draws(7);
    let mut countdown = draws.exponential(interval as f64);
    let requests = 2_000_000u64;
    let seconds = 60.0;
    let mut leaked_bytes = 0u64;
    let mut last_sync = 0;
    for i in 0..requests {
        let tick = (i as f64 / requests as f64 * seconds * 1e9) as u64 + 1;
        // Node 1 leaks every 10th request's 64 B; node 2 allocates a
        // 64 B buffer per request and frees it.
        for (node, keep) in [(1u32, i % 10 == 0), (2u32, false)] {
            let ptr = 0x1000_0000 + (i * 2 + u64::from(node)) * 64;
            if keep {
                leaked_bytes += 64;
            }
            countdown -= 64.0;
            if countdown > 0.0 {
                continue;
            }
            countdown = draws.exponential(interval as f64);
            pos = enc.alloc(&mut buf, pos, AllocApi::Malloc, tick, 64, node, ptr);
            if !keep {
                pos = enc.free(&mut buf, pos, ptr, || tick + 1);
            }
        }
        if tick - last_sync > 100_000_000 {
            writer.stream(2, &buf[..pos]);
            writer.control(&ControlRecord::Sync { tick: tick + 2 });
            pos = 0;
            last_sync = tick;
        }
    }
    let end = (seconds * 1e9) as u64 + 10;
    writer.stream(2, &buf[..pos]);
    writer.control(&ControlRecord::Sync { tick: end });
    writer.control(&ControlRecord::Exit {
        ts: end + 1,
        status: ExitStatus::Code(0),
    });
    writer.flush().unwrap();

    let analysis = analyze(&path, &AnalyzeOptions::default()).unwrap();
    let r = report(&analysis, &mut NoSymbols, &ReportOptions::default());
    let truth_rate = leaked_bytes as f64 / seconds;
    let leaking: Vec<_> = r.growth.iter().filter(|g| g.leak).collect();
    assert_eq!(
        leaking.len(),
        1,
        "{:#?}",
        r.growth
            .iter()
            .map(|g| (&g.verdict.reason, g.leak))
            .collect::<Vec<_>>()
    );
    let leak = leaking[0];
    assert_eq!(leak.pattern.as_str(), "linear", "{}", leak.verdict.reason);
    let rate = leak.slope_bytes_per_s.unwrap();
    assert!(
        (rate / truth_rate - 1.0).abs() < 0.25,
        "estimated {rate:.0} B/s, truth {truth_rate:.0} B/s"
    );
    let estimate = r.summary.leaked_bytes as f64;
    assert!(
        (estimate / leaked_bytes as f64 - 1.0).abs() < 0.15,
        "leaked {estimate} estimated, {leaked_bytes} true"
    );
    let sampling = r.sampling.unwrap();
    let detectable = sampling.detectable_rate_bytes_per_s.unwrap();
    assert!(
        (detectable - 8.0 * interval as f64 / seconds).abs() < 0.05 * detectable,
        "{detectable}"
    );
}
