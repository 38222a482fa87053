//! A stream re-armed for a new trace, as the writer of each trace sees it.

use heapwise_trace::AllocApi;
use heapwise_trace::record::{StreamDecoder, StreamRecord};

use super::*;

/// What the writer copies from `stream` now.
fn drained(stream: &Stream) -> Vec<u8> {
    let (mut blocks, mut pool) = (Vec::new(), Vec::new());
    let mut out = Vec::new();
    drain(stream, &mut blocks, &mut pool, &mut |_, bytes| {
        out.extend_from_slice(bytes)
    });
    out
}

fn records(bytes: &[u8]) -> Vec<StreamRecord> {
    let mut decoder = StreamDecoder::new();
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < bytes.len() {
        out.push(decoder.next(bytes, &mut pos).expect("a whole record"));
    }
    out
}

/// Writes one allocation record as a hook does; returns its bytes.
fn record_alloc(stream: &Stream) -> Vec<u8> {
    // SAFETY: the test's thread owns the stream.
    let p = unsafe { stream.private() };
    let start = p.pos();
    let buf = p.reserve(stream, MAX_RECORD_LEN);
    let end = p
        .enc
        .alloc(buf, start, AllocApi::Malloc, 1000, 64, 0, 0x5000);
    p.commit(end);
    buf[start..end].to_vec()
}

/// (The only test of this binary that moves the trace's epoch on.)
#[test]
fn a_stream_re_armed_for_a_new_trace_starts_over_and_the_old_one_is_not_read() {
    let tid = sys::gettid();
    let stream = attach().expect("a stream (in private memory: no spill file here)");
    let first = record_alloc(stream);
    let stack = [0x10u64, 0x20];
    let hash = crate::intern::hash_frames(&stack);
    // SAFETY: the test's thread owns the stream.
    unsafe { stream.private() }
        .interner
        .insert(&stack, hash, |_, _| {});
    let old = records(&drained(stream));
    assert!(
        matches!(old[0], StreamRecord::Thread { tid: t } if t == tid),
        "{old:?}"
    );
    assert!(matches!(old[1], StreamRecord::Alloc { ptr: 0x5000, .. }));

    // A new trace: the writer does not read the stream until its thread
    // re-arms it, and the stream counts as in use for the old trace.
    let old_epoch = state::epoch();
    let new_epoch = state::next_epoch();
    record_alloc(stream);
    assert!(!is_current(stream, new_epoch));
    assert!(
        drained(stream).is_empty(),
        "a stream of the old trace was read"
    );
    assert!(oldest_epoch_in_use() <= old_epoch);

    // SAFETY: the test's thread owns the stream.
    assert!(arm(stream, unsafe { stream.private() }, new_epoch, tid));
    assert!(is_current(stream, new_epoch));
    // From its first byte: the THREAD record, then records encoded against
    // nothing, as in a new stream (the same call, the same bytes).
    assert_eq!(record_alloc(stream), first);
    let new = records(&drained(stream));
    assert_eq!(new.len(), 2, "{new:?}");
    assert!(matches!(new[0], StreamRecord::Thread { tid: t } if t == tid));
    // No stack is known to the new trace.
    // SAFETY: as above.
    assert_eq!(
        unsafe { stream.private() }.interner.lookup(&stack, hash),
        None
    );
}
