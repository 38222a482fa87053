//! A compacted trace reports what the whole trace reports: a program of
//! known behaviour — a steady leak, a cache that fills then stays full,
//! temporaries, messages allocated by one thread and freed by another
//! whose records come first in each block — is written as a trace, then
//! compacted after every possible block (and compacted again), and every
//! compacted trace must give the same totals, the same leaks per stack,
//! the same peak, and the same growth verdicts as the original.

use std::path::Path;

use heapwise_native::model::{Frame, NativeReport};
use heapwise_native::{AnalyzeOptions, ReportOptions, Symbolize, analyze, report};
use heapwise_trace::compact::compact_file;
use heapwise_trace::{
    AllocApi, ClockSync, ControlRecord, ExitStatus, Header, LoadSegment, ModuleLoad, StreamEncoder,
    TickSource, TraceWriter,
};

/// Names each frame by its address.
struct Addresses;

impl Symbolize for Addresses {
    fn symbolize(&mut self, module: &ModuleLoad, addresses: &[u64]) -> Vec<Vec<Frame>> {
        addresses
            .iter()
            .map(|ip| {
                vec![Frame {
                    function: Some(format!("f{ip:x}").into()),
                    file: None,
                    line: None,
                    module: Some(module.path.as_str().into()),
                    address: format!("{ip:#x}").into(),
                    inlined: false,
                }]
            })
            .collect()
    }
}

const LEAK: u64 = 0x40_1000;
const CACHE: u64 = 0x40_2000;
const TEMP: u64 = 0x40_3000;
const MESSAGE: u64 = 0x40_4000;
/// Writer passes (one block each), 200 ms apart.
const PASSES: u64 = 150;
const PASS_NS: u64 = 200_000_000;
/// Entries the cache holds once full.
const CACHE_ENTRIES: u64 = 40;

/// Writes the program's trace; returns the number of blocks.
fn write_program(path: &Path, sample_interval: u64) -> usize {
    let mut header = Header::new(7, vec!["program".into()]);
    header.tick_source = TickSource::MonotonicNs;
    header.start = ClockSync {
        tick: 1_000,
        monotonic_ns: 1_000,
        realtime_ns: 1_700_000_000_000_000_000,
    };
    header.sample_interval = sample_interval;
    let mut writer = TraceWriter::create(path, &header).unwrap();
    writer.control(&ControlRecord::ModuleLoad(ModuleLoad {
        id: 1,
        ts: 1_000,
        base: 0,
        path: "/bin/program".into(),
        build_id: vec![1, 2, 3],
        segments: vec![LoadSegment {
            vaddr: 0x40_0000,
            memsz: 0x10_0000,
            file_offset: 0,
            flags: 5,
        }],
    }));
    // Thread A (stream 2) allocates everything; thread B (stream 3)
    // frees the messages A sent it in the pass before.
    let (mut a, mut b) = (StreamEncoder::new(), StreamEncoder::new());
    let mut abuf = vec![0u8; 1 << 16];
    let mut bbuf = vec![0u8; 1 << 16];
    let mut apos = 0;
    let mut nodes = std::collections::HashMap::new();
    for (i, ip) in [LEAK, CACHE, TEMP, MESSAGE].into_iter().enumerate() {
        apos = a.node(&mut abuf, apos, 0, ip);
        nodes.insert(ip, i as u32 + 1);
    }
    let mut cache = std::collections::VecDeque::new();
    let mut sent: Vec<u64> = Vec::new();
    let mut next_ptr = 0x1000_0000u64;
    let mut ptr = || {
        next_ptr += 0x100;
        next_ptr
    };
    let mut blocks = 1;
    for pass in 0..PASSES {
        let start = 1_000 + pass * PASS_NS;
        let mut bpos = 0;
        // B frees what A sent last pass (its records are written first).
        for (k, &p) in sent.iter().enumerate() {
            bpos = b.free(&mut bbuf, bpos, p, || start + 1_000 + k as u64);
        }
        sent.clear();
        for k in 0..10u64 {
            let t = start + 10_000 + k * 1_000_000;
            // A steady leak: 64 B, twice a pass.
            if k % 5 == 0 {
                apos = a.alloc(
                    &mut abuf,
                    apos,
                    AllocApi::Malloc,
                    t,
                    64,
                    nodes[&LEAK],
                    ptr(),
                );
            }
            // The cache: a 256 B entry a step, the oldest evicted once full.
            let entry = ptr();
            apos = a.alloc(
                &mut abuf,
                apos,
                AllocApi::Malloc,
                t + 10,
                256,
                nodes[&CACHE],
                entry,
            );
            cache.push_back(entry);
            if cache.len() as u64 > CACHE_ENTRIES {
                let old = cache.pop_front().unwrap();
                apos = a.free(&mut abuf, apos, old, || t + 20);
            }
            // A temporary.
            let tmp = ptr();
            apos = a.alloc(
                &mut abuf,
                apos,
                AllocApi::Malloc,
                t + 30,
                1000,
                nodes[&TEMP],
                tmp,
            );
            apos = a.free(&mut abuf, apos, tmp, || t + 40);
            // A message for B.
            let message = ptr();
            apos = a.alloc(
                &mut abuf,
                apos,
                AllocApi::Calloc,
                t + 50,
                48,
                nodes[&MESSAGE],
                message,
            );
            sent.push(message);
        }
        writer.stream(3, &bbuf[..bpos]);
        writer.stream(2, &abuf[..apos]);
        apos = 0;
        let end = start + PASS_NS - 1_000;
        writer.control(&ControlRecord::Counters(heapwise_trace::Counters {
            ts: end,
            rss_bytes: Some(10_000_000 + pass * 1000),
            ..Default::default()
        }));
        writer.control(&ControlRecord::Sync { tick: start });
        writer.control(&ControlRecord::Clock(ClockSync {
            tick: end,
            monotonic_ns: end,
            realtime_ns: 1_700_000_000_000_000_000 + end,
        }));
        writer.flush().unwrap();
        blocks += 1;
    }
    writer.control(&ControlRecord::Exit {
        ts: 1_000 + PASSES * PASS_NS,
        status: ExitStatus::Code(0),
    });
    writer.flush().unwrap();
    blocks + 1
}

fn report_of(path: &Path) -> NativeReport {
    let analysis = analyze(path, &AnalyzeOptions::default()).unwrap();
    report(&analysis, &mut Addresses, &ReportOptions::default())
}

fn leaks(r: &NativeReport) -> Vec<(String, u64, u64)> {
    let mut out: Vec<_> = r
        .leaks
        .iter()
        .map(|l| (l.frames[0].address.to_string(), l.bytes, l.allocations))
        .collect();
    out.sort();
    out
}

fn growth_of(r: &NativeReport, ip: u64) -> (String, bool) {
    let g = r
        .growth
        .iter()
        .find(|g| g.frames.first().map(|f| &*f.address) == Some(&format!("{ip:#x}")))
        .unwrap_or_else(|| panic!("no growth entry for {ip:#x}"));
    (format!("{:?}", g.pattern), g.leak)
}

fn same_figures(full: &NativeReport, compacted: &NativeReport, what: &str) {
    let (f, c) = (&full.summary, &compacted.summary);
    assert_eq!(
        (f.allocations, f.frees, f.allocated_bytes),
        (c.allocations, c.frees, c.allocated_bytes),
        "{what}: totals"
    );
    assert_eq!(
        (f.leaked_bytes, f.leaked_allocations, f.peak_live_bytes),
        (c.leaked_bytes, c.leaked_allocations, c.peak_live_bytes),
        "{what}: leaked and peak"
    );
    assert!(
        (f.duration_s - c.duration_s).abs() < 1e-6,
        "{what}: duration"
    );
    assert_eq!(leaks(full), leaks(compacted), "{what}: leaks per stack");
    assert_eq!(
        full.temporary.allocations, compacted.temporary.allocations,
        "{what}: temporary"
    );
    assert_eq!(
        growth_of(full, LEAK),
        growth_of(compacted, LEAK),
        "{what}: the leak"
    );
    // The cache fills in the first 0.8 s: kept as history, its warm-up is
    // one or two snapshots (a plateau may then look stable), never a leak.
    assert!(!growth_of(compacted, CACHE).1, "{what}: the cache");
}

fn check(sample_interval: u64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.hwt");
    let blocks = write_program(&path, sample_interval);
    let full = report_of(&path);
    // The program's truth.
    if sample_interval == 0 {
        assert_eq!(
            full.summary.allocations,
            PASSES * (2 + 10 * 3),
            "allocations"
        );
        // The leak, the full cache, and the last pass's messages (B never
        // got to free them).
        let leaked = PASSES * 2 * 64 + CACHE_ENTRIES * 256 + 10 * 48;
        assert_eq!(full.summary.leaked_bytes, leaked);
    }
    assert_eq!(growth_of(&full, LEAK), ("Linear".into(), true));
    assert!(!growth_of(&full, CACHE).1, "the cache is not a leak");
    for split in [1, 2, blocks / 3, blocks / 2, blocks - 2, blocks - 1, blocks] {
        let compacted = dir.path().join(format!("c{split}.hwt"));
        compact_file(&path, &compacted, split).unwrap();
        let c = report_of(&compacted);
        same_figures(
            &full,
            &c,
            &format!("compacted after {split} of {blocks} blocks"),
        );
        // Compacting a compacted trace again.
        let twice = dir.path().join(format!("cc{split}.hwt"));
        compact_file(&compacted, &twice, 3).unwrap();
        same_figures(
            &full,
            &report_of(&twice),
            &format!("compacted twice ({split})"),
        );
    }
}

#[test]
fn a_full_trace_compacted_after_any_block_reports_the_same_figures() {
    check(0);
}

#[test]
fn a_sampled_trace_compacted_after_any_block_reports_the_same_estimates() {
    check(4096);
}

/// Fewer groups listed, or fewer with frames, change only that: the groups
/// listed are the full list's first ones, with the same figures, and a
/// group has frames exactly when asked for (the full list's frames).
#[test]
fn listing_fewer_leak_groups_or_fewer_frames_keeps_the_rest_of_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.hwt");
    write_program(&path, 0);
    let analysis = analyze(&path, &AnalyzeOptions::default()).unwrap();
    let with = |max_leaks, framed_per_kind| {
        report(
            &analysis,
            &mut Addresses,
            &ReportOptions {
                max_leaks,
                framed_per_kind,
                ..ReportOptions::default()
            },
        )
    };
    let full = with(0, 0);
    // The leak, the cache and the messages: one group each, no scan.
    assert_eq!(full.leaks.len(), 3);
    assert!(full.leaks.iter().all(|l| !l.frames.is_empty()));
    let figures = |r: &NativeReport| -> Vec<(u64, u64)> {
        r.leaks.iter().map(|l| (l.bytes, l.allocations)).collect()
    };
    let two = with(2, 0);
    assert_eq!(figures(&two), figures(&full)[..2]);
    for (listed, whole) in two.leaks.iter().zip(&full.leaks) {
        assert_eq!(listed.frames, whole.frames);
    }
    let framed_one = with(0, 1);
    assert_eq!(figures(&framed_one), figures(&full));
    assert_eq!(framed_one.leaks[0].frames, full.leaks[0].frames);
    assert!(framed_one.leaks[1..].iter().all(|l| l.frames.is_empty()));
    assert_eq!(framed_one.verdict.headline, full.verdict.headline);
}

/// The end-of-run summary (`ReportOptions::summary`) of a program whose
/// live heap keeps growing judges no stack — the verdict names the heap's
/// growth whatever the stacks' — and says what the full report says: the
/// same verdict, the same leak groups.
#[test]
fn the_summary_of_a_growing_heap_judges_no_stack_and_gives_the_reports_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.hwt");
    write_program(&path, 0);
    let analysis = analyze(&path, &AnalyzeOptions::default()).unwrap();
    let full = report(&analysis, &mut Addresses, &ReportOptions::default());
    let summary = report(
        &analysis,
        &mut Addresses,
        &ReportOptions {
            summary: true,
            ..ReportOptions::default()
        },
    );
    assert!(full.memory.live.leak, "the live heap grows");
    assert!(!full.growth.is_empty());
    assert!(summary.growth.is_empty(), "no stack judged");
    assert_eq!(
        format!("{:?}", summary.verdict),
        format!("{:?}", full.verdict)
    );
    assert!(
        summary.verdict.headline.contains("live heap keeps growing"),
        "{:?}",
        summary.verdict
    );
    assert_eq!(leaks(&summary), leaks(&full));
    assert_eq!(summary.memory.live, full.memory.live);
}
