//! A stream re-armed for a new trace, and a block handed from one stream
//! to another, as the writer sees them.

use heapwise_trace::AllocApi;
use heapwise_trace::record::{StreamDecoder, StreamRecord};

use super::*;

/// The tests share the trace's epoch (one moves it on): one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

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
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tid = sys::gettid();
    let stream = attach().expect("a stream (in private memory: no spill file here)");
    let first = record_alloc(stream);
    let stack = [0x10u64, 0x20];
    let hash = crate::intern::hash_frames(&stack);
    // SAFETY: the test's thread owns the stream.
    unsafe { stream.private() }.interner.insert(
        &stack,
        hash,
        &mut [std::mem::MaybeUninit::new(0); 2],
        |_, _| {},
    );
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
        unsafe { stream.private() }.interner.lookup(
            &stack,
            hash,
            &mut [std::mem::MaybeUninit::new(0); 2]
        ),
        None
    );
}

/// Records allocations until the next one would need a new block.
fn fill(stream: &Stream) {
    // SAFETY: the test's thread owns the stream.
    while unsafe { stream.private() }.pos() + MAX_RECORD_LEN <= BLOCK_SIZE {
        record_alloc(stream);
    }
}

#[test]
fn a_block_handed_to_the_writer_is_never_read_again_as_its_old_streams() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let epoch = state::epoch();
    let a: &Stream = Box::leak(new_stream(900, Block::alloc(), true, epoch));
    let b: &Stream = Box::leak(new_stream(901, Block::alloc(), true, epoch));
    let (mut drained, mut pool) = (Vec::new(), Vec::new());
    let mut nothing = |_: u32, _: &[u8]| {};

    // A's thread fills its block and hands it over, then is preempted
    // before it stores its next one.
    fill(a);
    // SAFETY: the test's thread owns the stream.
    let full = unsafe { a.private() }.block;
    // SAFETY: as above.
    assert_eq!(unsafe { a.private() }.hand_over(a), Some(0));
    // The writer copies it, writes it out and recycles it: B gets it as
    // its spare.
    drain(a, &mut drained, &mut pool, &mut nothing);
    assert_eq!(drained, vec![full]);
    pool.append(&mut drained);
    drain(b, &mut drained, &mut pool, &mut nothing);
    assert_eq!(b.spare.load(Ordering::Acquire), full);

    // B's thread fills its block and moves on into that one.
    fill(b);
    let into_recycled = record_alloc(b);
    // SAFETY: the test's thread owns the stream.
    assert_eq!(unsafe { b.private() }.block, full);

    // A's stream has nothing more to give while its thread is between
    // blocks; B's records are B's, all of them.
    let mut from_a = Vec::new();
    drain(a, &mut drained, &mut pool, &mut |_, bytes| {
        from_a.extend_from_slice(bytes)
    });
    assert!(
        from_a.is_empty(),
        "A's stream yielded {} bytes of B's block",
        from_a.len()
    );
    let mut from_b = Vec::new();
    drain(b, &mut drained, &mut pool, &mut |id, bytes| {
        assert_eq!(id, 901);
        from_b.extend_from_slice(bytes)
    });
    assert!(from_b.ends_with(&into_recycled), "{from_b:?}");
    // A's thread resumes: its next block, and the writer reads it again.
    // SAFETY: as above.
    let p = unsafe { a.private() };
    let next = new_block().expect("a block");
    Block::assign(next, a.id, Block::end(full));
    a.active.store(next, Ordering::Release);
    p.block = next;
    p.pos = 0;
    let resumed = record_alloc(a);
    let mut again = Vec::new();
    drain(a, &mut drained, &mut pool, &mut |_, bytes| {
        again.extend_from_slice(bytes)
    });
    assert_eq!(again, resumed);
}
