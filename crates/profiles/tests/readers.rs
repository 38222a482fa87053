//! The readers on profiles real programs wrote (tests/README.md says how
//! each was made), checked against what the profilers' own tools print,
//! and on files cut at every byte and files of other kinds.

use std::path::PathBuf;

use heapwise_profiles::{Format, HeapProfile, ProfileError, proto, read, read_path};
use prost::Message;

fn data(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(relative)
}

fn go(series: &str, n: usize) -> HeapProfile {
    read_path(&data(&format!("go/{series}/heap-{n:02}.pb.gz"))).unwrap()
}

fn dump(n: usize) -> HeapProfile {
    read_path(&data(&format!("jemalloc/leaky/dump-{n:02}.heap"))).unwrap()
}

/// Live bytes of the stacks whose innermost frame is `function` (pprof's
/// "flat").
fn flat(profile: &HeapProfile, function: &str) -> (u64, u64) {
    profile
        .stacks
        .iter()
        .filter(|s| s.frames.first().and_then(|f| f.function.as_deref()) == Some(function))
        .fold((0, 0), |(b, o), s| (b + s.live_bytes, o + s.live_objects))
}

/// Per profile, the totals `go tool pprof` printed:
///     go tool pprof -top -sample_index=inuse_space -unit=B FILE   ("of N B total")
///     go tool pprof -top -sample_index=inuse_objects FILE         ("of N total")
/// with go1.19.8, for heap-01 … heap-13 of each series.
const GO_TOTALS: [(&str, [(u64, u64); 13]); 2] = [
    (
        "rate-16k",
        [
            (1608333, 213),
            (4631311, 2045),
            (7723507, 4017),
            (9182719, 5195),
            (10143743, 6237),
            (11399043, 7614),
            (12820653, 8897),
            (13766095, 9733),
            (14610456, 10659),
            (15122058, 11303),
            (16246840, 12329),
            (17524441, 13403),
            (18945573, 14727),
        ],
    ),
    (
        "rate-512k",
        [
            (3146827, 6730),
            (5740452, 8516),
            (8923728, 10319),
            (7840677, 10054),
            (8890790, 10824),
            (10991528, 12105),
            (12074578, 12370),
            (13616041, 14412),
            (12597329, 13907),
            (12038566, 14411),
            (14138792, 15949),
            (17322580, 17495),
            (14663079, 16717),
        ],
    ),
];

#[test]
fn go_heap_profiles_read_as_go_tool_pprof_reads_them() {
    for (series, totals) in GO_TOTALS {
        for (i, &(bytes, objects)) in totals.iter().enumerate() {
            let profile = go(series, i + 1);
            assert_eq!(profile.format, Format::Pprof);
            assert_eq!(profile.live_bytes(), bytes, "{series} heap-{:02}", i + 1);
            assert_eq!(
                profile.live_objects(),
                objects,
                "{series} heap-{:02}",
                i + 1
            );
        }
    }
    // The leaking function's flat inuse_space and inuse_objects in the
    // last profiles (`main.leak`'s row of the same commands).
    assert_eq!(flat(&go("rate-16k", 13), "main.leak"), (12321071, 12032));
    assert_eq!(flat(&go("rate-512k", 13), "main.leak"), (8396802, 8200));
    // `period` (runtime.MemProfileRate) and `time_nanos` ("Time:" of
    // go tool pprof -raw: 2026-12-02 16:51:40.719805913 UTC).
    let last = go("rate-16k", 13);
    assert_eq!(last.sampling_rate_bytes, Some(16384));
    assert_eq!(go("rate-512k", 1).sampling_rate_bytes, Some(524288));
    assert_eq!(last.time_unix_ns, Some(1_796_230_300_719_805_913));
}

#[test]
fn go_stacks_have_names_and_match_across_profiles() {
    let first = go("rate-16k", 2);
    let last = go("rate-16k", 13);
    let leak = |p: &HeapProfile| {
        p.stacks
            .iter()
            .find(|s| s.frames[0].function.as_deref() == Some("main.leak"))
            .map(|s| s.key.clone())
            .unwrap()
    };
    assert_eq!(leak(&first), leak(&last));
    let stack = last.stacks.iter().find(|s| s.key == leak(&last)).unwrap();
    let frame = &stack.frames[0];
    assert!(
        frame.file.as_deref().unwrap().ends_with("leaky.go"),
        "{frame:?}"
    );
    assert!(frame.line.unwrap() > 0);
    assert_eq!(frame.module.as_deref(), Some("leaky"));
    // Go keeps one record per stack and size; merged, a key is unique.
    let mut keys: Vec<&str> = last.stacks.iter().map(|s| s.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), last.stacks.len());
}

/// Per dump, jeprof's "Total:" line of
///     jeprof --text --show_bytes WORK/leaky DUMP     (data/jemalloc/leaky/jeprof-NN.txt)
const JEPROF_TOTALS: [u64; 12] = [
    2223095, 3629648, 4796632, 5503849, 6225851, 7352205, 7900684, 8902103, 9541989, 10006237,
    11186723, 11845351,
];

#[test]
fn jemalloc_dumps_read_as_jeprof_reads_them() {
    for (i, &total) in JEPROF_TOTALS.iter().enumerate() {
        let profile = dump(i + 1);
        assert_eq!(profile.format, Format::Jemalloc);
        assert_eq!(profile.sampling_rate_bytes, Some(16384));
        assert_eq!(profile.time_unix_ns, None);
        // jeprof sums the scaled values unrounded; heapwise rounds each
        // stack: at most a byte apart here.
        let diff = profile.live_bytes().abs_diff(total);
        assert!(
            diff <= 1,
            "dump {}: {} vs jeprof's {total}",
            i + 1,
            profile.live_bytes()
        );
    }
    // jeprof-12.txt: leak_one 9515529 B flat, one stack; the largest.
    let last = dump(12);
    assert!(last.stacks[0].live_bytes.abs_diff(9_515_529) <= 1);
    // No frame of jemalloc's own is left; the others are placed in the
    // program's file.
    for stack in &last.stacks {
        assert!(
            !stack.frames[0]
                .module
                .as_deref()
                .unwrap_or("")
                .starts_with("libjemalloc"),
            "{stack:?}"
        );
    }
    assert_eq!(last.stacks[0].frames[0].module.as_deref(), Some("leaky"));
}

#[test]
fn jemalloc_leak_is_the_programs_truth_within_its_sampling_error() {
    // leaky.c leaks 8 MiB × 1,024 / 11,264 = 762,601 B between dumps
    // (truth.txt, tests/README.md); its stack is the same in every dump.
    let key = dump(12).stacks[0].key.clone();
    for n in [3, 6, 9, 12] {
        let profile = dump(n);
        let stack = profile.stacks.iter().find(|s| s.key == key).unwrap();
        let truth = n as f64 * 762_601.0;
        let error = stack.live_variance.sqrt();
        // √k · R for k ≈ truth / R samples of 1 KiB.
        let expected_error = (truth / 16384.0).sqrt() * 16384.0;
        assert!(
            (error / expected_error - 1.0).abs() < 0.1,
            "{error} vs {expected_error}"
        );
        assert!(
            (stack.live_bytes as f64 - truth).abs() < 3.0 * error,
            "dump {n}: {} vs {truth} ± {error}",
            stack.live_bytes
        );
    }
}

/// Whatever a cut leaves, the reader either refuses it or reads the same
/// numbers as from the whole file: a cut never gives a wrong answer.
fn check_every_cut(bytes: &[u8], whole: &HeapProfile, must_fail_before: usize) -> usize {
    let numbers = |p: &HeapProfile| -> Vec<(u64, u64)> {
        p.stacks
            .iter()
            .map(|s| (s.live_bytes, s.live_objects))
            .collect()
    };
    let mut refused = 0;
    for cut in 0..bytes.len() {
        match read(&bytes[..cut]) {
            Err(err) => {
                refused += 1;
                let text = err.to_string();
                assert!(!text.is_empty() && !text.contains('\n'), "{text}");
            }
            Ok(profile) => {
                assert!(cut >= must_fail_before, "a cut at {cut} was read");
                assert_eq!(numbers(&profile), numbers(whole), "a cut at {cut}");
            }
        }
    }
    refused
}

#[test]
fn go_profiles_cut_at_every_byte_are_refused() {
    let path = data("go/rate-16k/heap-05.pb.gz");
    let bytes = std::fs::read(&path).unwrap();
    let whole = read(&bytes).unwrap();
    // gzip'd as Go serves them: every cut is refused.
    assert_eq!(check_every_cut(&bytes, &whole, bytes.len()), bytes.len());
    // The same profile uncompressed: every cut is refused or reads the
    // whole profile's numbers (Go writes its string table last).
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut raw).unwrap();
    let refused = check_every_cut(&raw, &whole, 0);
    assert!(refused + 2 >= raw.len(), "{refused} of {}", raw.len());
}

#[test]
fn jemalloc_dumps_cut_at_every_byte_are_refused() {
    let bytes = std::fs::read(data("jemalloc/leaky/dump-04.heap")).unwrap();
    let whole = read(&bytes).unwrap();
    let maps = String::from_utf8_lossy(&bytes)
        .find("MAPPED_LIBRARIES:")
        .unwrap();
    // Every cut before the end of the MAPPED_LIBRARIES: line is refused;
    // inside the memory map (which heapwise needs only to place frames in
    // their binaries), every cut but those at a line's end.
    let refused = check_every_cut(&bytes, &whole, maps + "MAPPED_LIBRARIES:".len());
    let map_lines = bytes[maps..].iter().filter(|&&b| b == b'\n').count();
    assert_eq!(
        refused,
        bytes.len() - (map_lines - 1),
        "{refused} of {}",
        bytes.len()
    );
    let err = read(&bytes[..maps / 2]).unwrap_err();
    assert!(matches!(err, ProfileError::JemallocTruncated(_)), "{err}");
}

#[test]
fn foreign_files_are_refused_in_one_sentence() {
    let source =
        std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/programs/leaky.go"))
            .unwrap();
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01".to_vec();
    let mut noise = Vec::new();
    let mut x: u32 = 12345;
    for _ in 0..4096 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        noise.push((x >> 16) as u8);
    }
    for bytes in [source, png, noise] {
        let err = read(&bytes).unwrap_err();
        assert!(matches!(err, ProfileError::Foreign), "{err}");
    }
    assert!(matches!(read(b"").unwrap_err(), ProfileError::Empty));
    // gzip'd text.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, b"hello, world\n").unwrap();
    let err = read(&gz.finish().unwrap()).unwrap_err();
    assert!(matches!(err, ProfileError::GzipForeign), "{err}");
    // A CPU profile is a pprof profile, but not of the heap.
    let cpu = proto::Profile {
        sample_type: vec![proto::ValueType { r#type: 1, unit: 2 }],
        string_table: vec!["".into(), "cpu".into(), "nanoseconds".into()],
        ..Default::default()
    };
    let err = read(&cpu.encode_to_vec()).unwrap_err();
    assert!(
        err.to_string()
            .contains("not of the heap: its sample types are cpu/nanoseconds"),
        "{err}"
    );
    // A heap_v2 header and nothing else.
    let err = read(b"heap_v2/524288\n").unwrap_err();
    assert!(matches!(err, ProfileError::JemallocTruncated(_)), "{err}");
}

#[test]
fn heapwise_own_pprof_output_reads_back() {
    // What heapwise's pprof writer builds (the same messages) is a heap
    // profile to the reader: four sample types, not sampled.
    let profile = proto::Profile {
        sample_type: [(1, 2), (3, 4), (5, 2), (6, 4)]
            .map(|(t, u)| proto::ValueType { r#type: t, unit: u })
            .to_vec(),
        sample: vec![proto::Sample {
            location_id: vec![1],
            value: vec![10, 1000, 4, 400],
        }],
        location: vec![proto::Location {
            id: 1,
            mapping_id: 0,
            address: 0x1234,
            line: vec![proto::Line {
                function_id: 1,
                line: 7,
            }],
        }],
        function: vec![proto::Function {
            id: 1,
            name: 7,
            system_name: 7,
            filename: 8,
        }],
        string_table: [
            "",
            "alloc_objects",
            "count",
            "alloc_space",
            "bytes",
            "inuse_objects",
            "inuse_space",
            "grow",
            "grow.c",
        ]
        .map(String::from)
        .to_vec(),
        ..Default::default()
    };
    let read = read(&profile.encode_to_vec()).unwrap();
    assert_eq!(read.sampling_rate_bytes, None);
    let stack = &read.stacks[0];
    assert_eq!((stack.live_bytes, stack.live_objects), (400, 4));
    assert_eq!((stack.allocated_bytes, stack.allocated_objects), (1000, 10));
    assert_eq!(stack.live_variance, 0.0);
    assert_eq!(stack.frames[0].describe(), "grow (grow.c:7)");
}
