//! gzip-compressed dumps: as `jcmd PID GC.heap_dump -gz=1` writes them (one
//! gzip member per block) and as `gzip` does (one member), read as the dump
//! itself; cut or damaged, refused in one sentence. (A real `-gz=1` dump is
//! read in `crates/cli/tests/heap/hprof.rs`.)

use std::io::{Cursor, Write};

use flate2::Compression;
use flate2::write::GzEncoder;
use heapwise_hprof::{Content, HprofError, HprofGraph, content_of, read_dump, summarize};

use super::format::small_dump;

/// `bytes` as gzip members of at most `block` bytes each.
fn gzip(bytes: &[u8], block: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in bytes.chunks(block) {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(chunk).unwrap();
        out.extend(encoder.finish().unwrap());
    }
    out
}

/// The summary of a dump, as JSON.
fn summary(bytes: Vec<u8>) -> String {
    let dump = read_dump(Cursor::new(bytes), None).unwrap();
    serde_json::to_string(&summarize(&HprofGraph::build(dump, true, None))).unwrap()
}

#[test]
fn a_gzipped_dump_reads_as_the_dump_itself_in_one_member_or_many() {
    // Classes after instances: the second pass decompresses the file again.
    for classes_first in [true, false] {
        let plain = small_dump(8, classes_first);
        let expected = summary(plain.clone());
        for block in [plain.len(), 100, 7] {
            let compressed = gzip(&plain, block);
            assert_eq!(summary(compressed), expected, "members of {block} bytes");
        }
    }
}

#[test]
fn progress_counts_the_bytes_of_the_compressed_file() {
    for classes_first in [true, false] {
        let compressed = gzip(&small_dump(8, classes_first), 100);
        let mut last = 0;
        let mut progress = |bytes: u64| last = bytes;
        read_dump(Cursor::new(compressed.clone()), Some(&mut progress)).unwrap();
        assert_eq!(
            last,
            2 * compressed.len() as u64,
            "both passes over the file"
        );
    }
}

#[test]
fn a_gzipped_dump_cut_anywhere_is_refused_in_one_sentence() {
    let whole = gzip(&small_dump(8, true), 100);
    for cut in 2..whole.len() {
        let error = read_dump(Cursor::new(whole[..cut].to_vec()), None)
            .err()
            .unwrap_or_else(|| panic!("cut at byte {cut} of {} was accepted", whole.len()));
        let message = error.to_string();
        assert!(!message.contains('\n'), "{message}");
        assert!(
            matches!(error, HprofError::GzipTruncated { offset } if offset == cut as u64),
            "cut at {cut}: {error:?}"
        );
        assert!(message.contains("cut short"), "{message}");
    }
}

#[test]
fn a_damaged_gzipped_dump_is_refused_in_one_sentence() {
    let mut damaged = gzip(&small_dump(8, true), usize::MAX);
    // The last member's CRC-32, in its trailer.
    let crc = damaged.len() - 8;
    damaged[crc] ^= 0xff;
    let error = read_dump(Cursor::new(damaged), None).unwrap_err();
    assert!(matches!(error, HprofError::GzipDamaged { .. }), "{error:?}");
    assert!(!error.to_string().contains('\n'), "{error}");
}

#[test]
fn content_is_recognised_by_its_first_bytes_compressed_or_not() {
    let plain = small_dump(4, true);
    let cases = [
        (plain.clone(), Content::Hprof { compressed: false }),
        (gzip(&plain, 50), Content::Hprof { compressed: true }),
        (gzip(b"{\"snapshot\":{}}", 100), Content::OtherCompressed),
        (b"{\"snapshot\":{}}".to_vec(), Content::Other),
        (Vec::new(), Content::Other),
    ];
    for (bytes, expected) in cases {
        assert_eq!(content_of(bytes.as_slice()).unwrap(), expected);
    }
    let cut = gzip(&plain, 50);
    assert!(matches!(
        content_of(&cut[..5]),
        Err(HprofError::GzipTruncated { .. })
    ));
}
