//! `heapwise run --sample`: what the preload records of a program whose
//! allocations are known (`programs/sampled.c`), read straight from the
//! trace. The report side of sampled traces is tested with the report.

use std::collections::{HashMap, VecDeque};
use std::path::Path;

use heapwise_trace::{AllocApi, Event, Header, StackTable, TraceReader};

use super::util::*;

const SMALL: u64 = 64;
const SMALL_COUNT: u64 = 100_000;
const BIG: u64 = 1 << 20;
const BIG_COUNT: u64 = 200;

/// What a trace recorded, replayed in time order.
#[derive(Default, Debug)]
struct Recorded {
    /// Allocations recorded, by size (a realloc's new block included).
    allocs_by_size: HashMap<u64, u64>,
    /// Frees recorded (a realloc's old block included), by the size of the
    /// allocation they free.
    frees_by_size: HashMap<u64, u64>,
    /// Frees of an address no recorded allocation had returned.
    unknown_frees: Vec<u64>,
    /// Allocations of an address that was still allocated.
    double_allocs: Vec<u64>,
    /// `REALLOC` records that free a block, and that only allocate one.
    reallocs_with_old: u64,
    reallocs_without_old: u64,
    calloc_big: u64,
    notes: Vec<String>,
    lost: u64,
}

/// One operation of a trace: (tick, rank, pointer, size — none for a
/// free). Rank 0: a free, 1: an allocation; frees go first at equal ticks
/// between streams, as in the replay. Within a stream the file's order is
/// kept: its ticks may tie (a realloc entered in the tick the previous one
/// returned in), and a free named by its distance from its allocation
/// carries the stream's previous tick.
type Op = (u64, u8, u64, Option<u64>);

fn read(path: &Path) -> (Header, Recorded) {
    let mut reader = TraceReader::open(path).expect("the trace opens");
    let header = reader.header().clone();
    let mut streams: HashMap<u32, VecDeque<Op>> = HashMap::new();
    let mut recorded = Recorded::default();
    reader
        .read_all(&mut |event: Event<'_>, _: &StackTable| match event {
            Event::Alloc {
                stream,
                ts,
                size,
                ptr,
                api,
                ..
            } => {
                if api == AllocApi::Calloc && size == BIG {
                    recorded.calloc_big += 1;
                }
                let ops = streams.entry(stream).or_default();
                ops.push_back((ts, 1, ptr, Some(size)));
            }
            Event::Free {
                stream, ts, ptr, ..
            } => streams
                .entry(stream)
                .or_default()
                .push_back((ts, 0, ptr, None)),
            Event::Realloc {
                stream,
                entry,
                ts,
                old,
                new,
                size,
                ..
            } => {
                // As the report reads it (`ops::split`): the old block's
                // free at entry, then the new block.
                let ops = streams.entry(stream).or_default();
                if old != 0 {
                    recorded.reallocs_with_old += 1;
                    ops.push_back((entry, 0, old, None));
                } else {
                    recorded.reallocs_without_old += 1;
                }
                ops.push_back((ts, 1, new, Some(size)));
            }
            Event::Lost { count, .. } => recorded.lost += count,
            Event::Control(heapwise_trace::ControlRecord::Note { message, .. }) => {
                recorded.notes.push(message.clone())
            }
            _ => {}
        })
        .expect("the trace reads");
    let mut live: HashMap<u64, u64> = HashMap::new();
    let mut streams: Vec<VecDeque<Op>> = streams.into_values().collect();
    // Merge: the stream whose next operation comes first.
    while let Some(next) = streams
        .iter_mut()
        .filter(|ops| !ops.is_empty())
        .min_by_key(|ops| (ops[0].0, ops[0].1))
    {
        let (_, _, ptr, size) = next.pop_front().unwrap();
        if let Some(size) = size {
            *recorded.allocs_by_size.entry(size).or_default() += 1;
            if live.insert(ptr, size).is_some() {
                recorded.double_allocs.push(ptr);
            }
        } else {
            match live.remove(&ptr) {
                Some(size) => *recorded.frees_by_size.entry(size).or_default() += 1,
                None => recorded.unknown_frees.push(ptr),
            }
        }
    }
    (header, recorded)
}

fn count(map: &HashMap<u64, u64>, size: u64) -> u64 {
    map.get(&size).copied().unwrap_or(0)
}

/// Whether `observed` is within 5 standard deviations of Binomial(n, p).
fn within_five_sigma(observed: u64, n: u64, p: f64) -> (bool, String) {
    let mean = n as f64 * p;
    let sigma = (n as f64 * p * (1.0 - p)).sqrt();
    (
        (observed as f64 - mean).abs() <= 5.0 * sigma,
        format!("{observed}, expected {mean:.1} ± 5 × {sigma:.1}"),
    )
}

#[test]
fn a_sampled_run_records_blocks_with_probability_one_minus_e_to_the_minus_z_over_r() {
    let dir = test_dir("sampled");
    let program = program("sampled.c");
    let out = run_traced_with(
        &dir,
        "s.hwt",
        &["--no-tui", "--sample", "64KiB"],
        &program,
        &[],
    );
    // 0: every realloc kept the block's bytes and every calloc's block was
    // zero (the program checks), sampled or not.
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (header, recorded) = read(&dir.join("s.hwt"));
    assert_eq!(header.sample_interval, 65_536);

    // Every recorded free is of a recorded allocation, and no address is
    // allocated twice: the table of sampled blocks holds exactly those.
    assert!(
        recorded.unknown_frees.is_empty(),
        "{} frees of blocks that were not recorded: {:x?}",
        recorded.unknown_frees.len(),
        &recorded.unknown_frees[..recorded.unknown_frees.len().min(10)]
    );
    assert!(
        recorded.double_allocs.is_empty(),
        "{:x?}",
        recorded.double_allocs
    );
    assert_eq!(recorded.lost, 0);
    assert!(
        recorded.notes.iter().all(|n| !n.contains("table")),
        "{:?}",
        recorded.notes
    );

    // 1 MiB against a 64 KiB mean: p = 1 − e^(−16), every block, calloc's
    // counted as count × size; the freed half is recorded freed.
    assert_eq!(
        count(&recorded.allocs_by_size, BIG),
        BIG_COUNT,
        "{recorded:?}"
    );
    assert_eq!(recorded.calloc_big, BIG_COUNT / 2);
    assert_eq!(count(&recorded.frees_by_size, BIG), BIG_COUNT / 2);

    // 64 B: p = 1 − e^(−64/65536) ≈ 0.000976, about 98 of 100,000.
    let p = 1.0 - (-(SMALL as f64) / 65_536.0).exp();
    let small = count(&recorded.allocs_by_size, SMALL);
    let (ok, what) = within_five_sigma(small, SMALL_COUNT, p);
    assert!(ok, "64-byte blocks recorded: {what}");
    // Each thread freed every other one of its blocks.
    let freed = count(&recorded.frees_by_size, SMALL);
    let (ok, what) = within_five_sigma(freed, SMALL_COUNT / 2, p);
    assert!(ok, "64-byte frees recorded: {what}");
    assert!(freed <= small);

    // Each realloc chain (1,000 → 150,000 bytes, 2,000 chains): the last
    // sizes are nearly always sampled, the first rarely, so realloc was
    // recorded as an allocation alone, as both, and (checked above) frees
    // of blocks whose successor was not sampled pair with their block.
    assert!(recorded.reallocs_without_old > 0, "{recorded:?}");
    assert!(recorded.reallocs_with_old > 0, "{recorded:?}");
    let last = count(&recorded.allocs_by_size, 150_000);
    let p_last = 1.0 - (-150_000.0f64 / 65_536.0).exp();
    let (ok, what) = within_five_sigma(last, 2000, p_last);
    assert!(ok, "150,000-byte blocks recorded: {what}");
    assert_eq!(count(&recorded.frees_by_size, 150_000), last, "all freed");
}

#[test]
fn without_sample_the_same_program_is_traced_in_full() {
    let dir = test_dir("sampled-full");
    let program = program("sampled.c");
    // A HEAPWISE_SAMPLE in heapwise's own environment does not apply.
    let out = heapwise()
        .current_dir(&dir)
        .env("HEAPWISE_SAMPLE", "65536")
        .args(["run", "--no-tui", "-o"])
        .arg(dir.join("f.hwt"))
        .arg("--")
        .arg(&program)
        .output()
        .expect("heapwise runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (header, recorded) = read(&dir.join("f.hwt"));
    assert_eq!(header.sample_interval, 0);
    assert!(
        recorded.unknown_frees.is_empty(),
        "{:x?}",
        recorded.unknown_frees
    );
    assert_eq!(count(&recorded.allocs_by_size, SMALL), SMALL_COUNT);
    assert_eq!(count(&recorded.frees_by_size, SMALL), SMALL_COUNT / 2);
    assert_eq!(count(&recorded.allocs_by_size, BIG), BIG_COUNT);
    assert_eq!(count(&recorded.frees_by_size, BIG), BIG_COUNT / 2);
    for size in [1000, 5000, 30_000, 100_000, 150_000] {
        assert_eq!(count(&recorded.allocs_by_size, size), 2000, "{size}");
    }
    assert_eq!(recorded.reallocs_with_old, 4 * 2000);
}

#[test]
fn the_preload_alone_samples_from_its_environment_and_refuses_a_bad_setting() {
    let dir = test_dir("sampled-env");
    let program = program("sampled.c");
    // What a service manager does: the preload and its variables, no
    // heapwise process.
    let _built = heapwise();
    let preload = Path::new(env!("CARGO_BIN_EXE_heapwise"))
        .parent()
        .unwrap()
        .join("libheapwise_preload.so");
    let run = |sample: &str, trace: &str| {
        std::process::Command::new(&program)
            .current_dir(&dir)
            .env("LD_PRELOAD", &preload)
            .env("HEAPWISE_OUTPUT", dir.join(trace))
            .env("HEAPWISE_PARENT", std::process::id().to_string())
            .env("HEAPWISE_SAMPLE", sample)
            .output()
            .expect("the program runs")
    };
    let out = run("1MiB", "env.hwt");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (header, recorded) = read(&dir.join("env.hwt"));
    assert_eq!(header.sample_interval, 1 << 20);
    assert!(recorded.unknown_frees.is_empty());
    // p = 1 − e^(−1) for a 1 MiB block.
    let (ok, what) = within_five_sigma(
        count(&recorded.allocs_by_size, BIG),
        BIG_COUNT,
        1.0 - (-1.0f64).exp(),
    );
    assert!(ok, "1 MiB blocks recorded: {what}");

    // A setting that is not a size: no trace (never a full one), one line
    // on stderr, the program unharmed.
    let out = run("lots", "bad.hwt");
    assert_eq!(out.status.code(), Some(0));
    let text = stderr(&out);
    assert!(
        text.contains("HEAPWISE_SAMPLE") && text.contains("not tracing"),
        "{text}"
    );
    assert!(!dir.join("bad.hwt").exists());
}

#[test]
fn sample_sizes_are_checked_before_the_program_starts() {
    let dir = test_dir("sampled-bad");
    for bad in ["0", "lots", "1.5MiB"] {
        let out = heapwise()
            .current_dir(&dir)
            .args(["run", "--no-tui", "--sample", bad, "--", "true"])
            .output()
            .expect("heapwise runs");
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let text = stderr(&out);
        assert!(text.contains("--sample"), "{bad}: {text}");
    }
    // `--sample` alone is 512 KiB.
    let program = program("sampled.c");
    let out = run_traced_with(&dir, "d.hwt", &["--no-tui", "--sample"], &program, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (header, _) = read(&dir.join("d.hwt"));
    assert_eq!(header.sample_interval, 512 * 1024);
}

#[test]
fn a_signal_handler_that_interrupts_a_hook_records_its_sampled_blocks() {
    // A mean of one byte samples every block: the handler's 48-byte blocks
    // (recorded on the nested path, into the side buffer) and the main
    // loop's, whose frees go through the table — exactly as many as the
    // program says, none lost.
    let dir = test_dir("sampled-signals");
    let out = run_traced_with(
        &dir,
        "s.hwt",
        &["--no-tui", "--sample", "1"],
        &program("signals.c"),
        &["300"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let fired: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("the program prints its count");
    assert!(fired >= 300);
    let (header, recorded) = read(&dir.join("s.hwt"));
    assert_eq!(header.sample_interval, 1);
    assert!(
        recorded.unknown_frees.is_empty(),
        "{:x?}",
        recorded.unknown_frees
    );
    assert!(recorded.double_allocs.is_empty());
    assert_eq!(recorded.lost, 0);
    // The handler's blocks are the program's only 48-byte blocks, never
    // freed.
    let leaked = count(&recorded.allocs_by_size, 48) - count(&recorded.frees_by_size, 48);
    assert_eq!(leaked, fired, "{recorded:?}");
}

#[test]
fn a_full_table_of_sampled_blocks_is_said_once_in_the_trace() {
    // A mean of one byte samples every block; 1.2 million live blocks do
    // not fit in the table's 2^20 slots. The blocks it cannot take are
    // not recorded (their frees could not be), and a note says so.
    let dir = test_dir("sampled-full-table");
    let out = run_traced_with(
        &dir,
        "k.hwt",
        &["--no-tui", "--sample", "1"],
        &program("sampled.c"),
        &["keep", "1200000"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (_, recorded) = read(&dir.join("k.hwt"));
    let kept = count(&recorded.allocs_by_size, 32);
    assert!(
        (900_000..1_048_576).contains(&kept),
        "{kept} of 1,200,000 blocks recorded"
    );
    let notes: Vec<&String> = recorded
        .notes
        .iter()
        .filter(|n| n.contains("table of sampled blocks was full"))
        .collect();
    assert_eq!(notes.len(), 1, "{:?}", recorded.notes);
    assert!(notes[0].contains("estimates"), "{}", notes[0]);
}
