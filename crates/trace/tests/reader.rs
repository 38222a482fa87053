//! The reader on whole, cut, damaged and foreign files.

use heapwise_trace::{
    AllocApi, ControlRecord, Event, Header, StackTable, StreamEncoder, TraceError, TraceReader,
    TraceWriter,
};
use proptest::prelude::*;

/// Writes a trace of `blocks` blocks; block `b` holds 100 allocations of
/// size `b + 1` on one stack. Returns the file bytes and the byte offset
/// where each block ends.
fn sample_trace(dir: &std::path::Path, blocks: u64) -> (Vec<u8>, Vec<usize>) {
    let path = dir.join("sample.hwt");
    let mut writer = TraceWriter::create(&path, &Header::new(7, vec!["sample".into()])).unwrap();
    let mut ends = Vec::new();
    let mut enc = StreamEncoder::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut pos = enc.node(&mut buf, 0, 0, 0x1000);
    for b in 0..blocks {
        for i in 0..100u64 {
            pos = enc.alloc(
                &mut buf,
                pos,
                AllocApi::Malloc,
                b * 1000 + i,
                b + 1,
                1,
                0x10_0000 + (b * 100 + i) * 64,
            );
        }
        writer.stream(2, &buf[..pos]);
        writer.control(&ControlRecord::Sync {
            tick: b * 1000 + 100,
        });
        writer.flush().unwrap();
        pos = 0;
        ends.push(std::fs::metadata(&path).unwrap().len() as usize);
    }
    (std::fs::read(&path).unwrap(), ends)
}

/// Reads `bytes` as a trace: (allocations seen, their total size, status).
fn read(
    dir: &std::path::Path,
    bytes: &[u8],
) -> Result<(u64, u64, heapwise_trace::ReadStatus), TraceError> {
    let path = dir.join("cut.hwt");
    std::fs::write(&path, bytes).unwrap();
    let mut reader = TraceReader::open(&path)?;
    let (mut count, mut total) = (0, 0);
    let status = reader.read_all(&mut |event: Event<'_>, _: &StackTable| {
        if let Event::Alloc { size, .. } = event {
            count += 1;
            total += size;
        }
    })?;
    Ok((count, total, status))
}

fn header_len(bytes: &[u8]) -> usize {
    20 + u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize
}

#[test]
fn a_trace_cut_at_every_block_boundary_reads_exactly_the_blocks_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, ends) = sample_trace(dir.path(), 6);
    let cuts = std::iter::once(header_len(&bytes)).chain(ends.iter().copied());
    for (blocks, cut) in cuts.enumerate() {
        let (count, total, status) = read(dir.path(), &bytes[..cut]).unwrap();
        let blocks = blocks as u64;
        assert_eq!(count, blocks * 100, "cut at {cut}");
        assert_eq!(total, 100 * blocks * (blocks + 1) / 2, "cut at {cut}");
        assert_eq!(status.blocks, blocks);
        assert!(!status.truncated() && status.damage.is_none());
    }
}

#[test]
fn a_trace_cut_at_any_byte_reads_every_complete_block_and_says_it_was_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, ends) = sample_trace(dir.path(), 4);
    let start = header_len(&bytes);
    for cut in start..bytes.len() {
        let complete = ends.iter().filter(|&&end| end <= cut).count() as u64;
        let (count, _, status) = read(dir.path(), &bytes[..cut]).unwrap();
        assert_eq!(count, complete * 100, "cut at {cut}");
        assert_eq!(
            status.truncated(),
            cut != start && !ends.contains(&cut),
            "cut at {cut}"
        );
        assert_eq!(
            status.partial_tail_bytes as usize,
            cut - ends
                .iter()
                .copied()
                .filter(|&e| e <= cut)
                .max()
                .unwrap_or(start)
        );
        assert!(status.damage.is_none());
    }
    // Inside the header: a clear error, never a panic.
    for cut in 1..start {
        let err = read(dir.path(), &bytes[..cut]).unwrap_err();
        assert!(
            matches!(err, TraceError::TruncatedHeader),
            "cut at {cut}: {err}"
        );
    }
}

#[test]
fn a_damaged_block_stops_reading_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let (mut bytes, ends) = sample_trace(dir.path(), 3);
    // Flip a bit in the middle of the second block's payload.
    let middle = (ends[0] + ends[1]) / 2;
    bytes[middle] ^= 0x04;
    let (count, _, status) = read(dir.path(), &bytes).unwrap();
    assert_eq!(count, 100, "only the first block is used");
    let damage = status.damage.expect("damage reported");
    assert!(
        damage.contains(&format!("block at byte {}", ends[0])),
        "{damage}"
    );
}

#[test]
fn files_that_are_not_traces_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(read(dir.path(), b""), Err(TraceError::Empty)));
    assert!(matches!(
        read(dir.path(), b"GIF89a........................"),
        Err(TraceError::NotATrace)
    ));
    let mut newer = sample_trace(dir.path(), 1).0;
    let next = heapwise_trace::FORMAT_VERSION + 1;
    newer[8..10].copy_from_slice(&next.to_le_bytes());
    assert!(matches!(
        read(dir.path(), &newer),
        Err(TraceError::UnsupportedVersion {
            found,
            supported: heapwise_trace::FORMAT_VERSION
        }) if found == next
    ));
    // Older traces are still read: version 1 (full traces, before
    // sampling), 2 (before checkpoints), 3 (before packed segments), 4
    // (before the coarser tick source).
    for version in [1, 2, 3, 4] {
        let mut older = sample_trace(dir.path(), 1).0;
        older[8] = version;
        assert!(read(dir.path(), &older).is_ok());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(garbage in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let dir = tempfile::tempdir().unwrap();
        let _ = read(dir.path(), &garbage);
    }

    #[test]
    fn random_bytes_after_a_valid_header_are_damage_not_a_crash(garbage in proptest::collection::vec(any::<u8>(), 1..4096)) {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, _) = sample_trace(dir.path(), 1);
        let mut file = bytes[..header_len(&bytes)].to_vec();
        file.extend_from_slice(&garbage);
        let (count, _, status) = read(dir.path(), &file).unwrap();
        prop_assert_eq!(count, 0);
        prop_assert!(status.damage.is_some() || status.truncated());
    }

    #[test]
    fn random_bit_flips_are_caught(index in 0usize..10_000, bit in 0u8..8) {
        let dir = tempfile::tempdir().unwrap();
        let (mut bytes, _) = sample_trace(dir.path(), 3);
        let start = header_len(&bytes);
        let at = start + index % (bytes.len() - start);
        bytes[at] ^= 1 << bit;
        // A flipped bit in a block is either damage or (in a length field)
        // an apparently unfinished block; it never yields wrong events.
        let (count, total, status) = read(dir.path(), &bytes).unwrap();
        prop_assert!(status.damage.is_some() || status.truncated());
        prop_assert!(count % 100 == 0 && total == 100 * (count / 100) * (count / 100 + 1) / 2);
    }
}

/// `compact_file` writes this format's header over the blocks it copies,
/// so a trace of an older format is refused in one sentence, not misread.
#[test]
fn compacting_a_trace_of_an_older_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut older = sample_trace(dir.path(), 3).0;
    older[8..10].copy_from_slice(&4u16.to_le_bytes());
    let input = dir.path().join("older.hwt");
    std::fs::write(&input, &older).unwrap();
    let output = dir.path().join("compacted.hwt");
    match heapwise_trace::compact::compact_file(&input, &output, 1) {
        Err(TraceError::BadHeader(why)) => assert!(why.contains("format 4"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(!output.exists(), "nothing is written");
}
