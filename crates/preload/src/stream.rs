//! Streams: one per thread slot, each a chain of fixed-size blocks that its
//! thread fills and the writer thread drains.
//!
//! No lock is shared on the allocation path. The owning thread appends whole
//! records to its active block and publishes the new length with one release
//! store; the writer copies what is published. A full block goes through a
//! single-producer/single-consumer ring to the writer, which hands emptied
//! blocks back through the stream's `spare` slot — of any stream, so a
//! block in the ring is never its stream's `active` one any more
//! ([`StreamPrivate::hand_over`] says why). The total memory of blocks
//! is bounded: when it is reached the producing thread waits for the writer
//! (back-pressure) instead of growing without limit.
//!
//! Blocks live in the spill file (`spill.rs`) so that they outlive a process
//! that dies. Each carries its stream and the offset of its first byte in the
//! stream's records (`base`), and the writer hands a drained block back only
//! after the records it copied from it are in the trace file: whatever a
//! stream recorded and the trace does not hold is always in some block.
//!
//! **One trace after another.** A process attached again after a detach
//! records a new trace, which a reader decodes from its first byte: every
//! stream must start over (offsets from 0, a fresh delta encoder, no stack
//! known, a `THREAD` record first). Only a stream's thread may touch its
//! state, and it may be inside a hook at any moment — even one it entered
//! before the detach. So each stream carries the trace it is armed for
//! ([`Stream::epoch`], against `state::epoch`), and its own thread re-arms
//! it ([`arm`]) the next time it records, before touching anything else;
//! a thread that takes over a stream does the same. Until then the stream
//! belongs to the old trace: the writer of the new one does not read it (a
//! stream whose thread exited goes back to the free list as it is), and
//! its thread, should it fill a block still inside an old hook, writes over
//! that block rather than wait for a writer that will never drain it. Its
//! old blocks stay mapped until [`oldest_epoch_in_use`] says no stream in
//! use can still write to them (`spill::sweep`).

use std::cell::{Cell, UnsafeCell};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use heapwise_trace::record::{MAX_RECORD_LEN, StreamEncoder};
use heapwise_trace::spill::{CONTROL_SLOT, SLOT_HEADER_LEN, SLOT_LEN};

use crate::intern::Interner;
use crate::state;
use crate::sys::{self, SpinLock};
use crate::unwind::UnwindState;

/// Bytes of records per block.
pub const BLOCK_SIZE: usize = heapwise_trace::spill::BLOCK_DATA_LEN;

/// A buffer of whole records: one slot of the spill file (its layout is
/// `heapwise_trace::spill`'s), or private memory when there is none.
#[repr(C)]
pub struct Block {
    /// The stream writing it (the control stream as `CONTROL_SLOT`); 0
    /// before its first use.
    stream: AtomicU32,
    _pad: u32,
    /// Offset of `data[0]` in the stream's records.
    base: AtomicU64,
    /// Bytes of complete records (written by the owner, read by the writer).
    committed: AtomicUsize,
    /// Bytes the writer has already copied (writer only).
    flushed: Cell<usize>,
    data: UnsafeCell<[u8; BLOCK_SIZE]>,
}

const _: () = assert!(std::mem::offset_of!(Block, base) == 8);
const _: () = assert!(std::mem::offset_of!(Block, committed) == 16);
const _: () = assert!(std::mem::offset_of!(Block, data) == SLOT_HEADER_LEN);
const _: () = assert!(std::mem::size_of::<Block>() == SLOT_LEN);

impl Block {
    fn alloc() -> *mut Block {
        if let Some(slot) = crate::spill::take_slot() {
            return slot.cast();
        }
        crate::spill::VOLATILE_BLOCKS.fetch_add(1, Ordering::Relaxed);
        let layout = std::alloc::Layout::new::<Block>();
        // SAFETY: the layout is non-zero; all-zero bytes are a valid Block
        // (zero atomics, zero cell, zero data).
        unsafe { std::alloc::alloc_zeroed(layout).cast() }
    }

    /// Makes an empty block the one stream `id` writes from offset `base`
    /// on. The length is reset first: a reader of the spill file after a
    /// death in between sees an empty block, never old bytes at new offsets.
    fn assign(block: *mut Block, id: u32, base: u64) {
        // SAFETY: blocks are never freed; the caller owns this one.
        let block = unsafe { &*block };
        block.committed.store(0, Ordering::Release);
        block.flushed.set(0);
        block.base.store(base, Ordering::Release);
        let slot_id = if id == 0 { CONTROL_SLOT } else { id };
        block.stream.store(slot_id, Ordering::Release);
    }

    /// Offset in the stream of the byte after the block's records.
    fn end(block: *mut Block) -> u64 {
        // SAFETY: blocks are never freed.
        let block = unsafe { &*block };
        block.base.load(Ordering::Acquire) + block.committed.load(Ordering::Acquire) as u64
    }
}

const RING_SLOTS: usize = 64;

/// Single-producer (the stream's thread), single-consumer (the writer) ring
/// of full blocks.
struct Ring {
    slots: [AtomicPtr<Block>; RING_SLOTS],
    head: AtomicUsize,
    tail: AtomicUsize,
}

impl Ring {
    fn push(&self, block: *mut Block) -> bool {
        let tail = self.tail.load(Ordering::Relaxed);
        if tail.wrapping_sub(self.head.load(Ordering::Acquire)) >= RING_SLOTS {
            return false;
        }
        self.slots[tail % RING_SLOTS].store(block, Ordering::Relaxed);
        self.tail.store(tail.wrapping_add(1), Ordering::Release);
        true
    }

    fn pop(&self) -> Option<*mut Block> {
        let head = self.head.load(Ordering::Relaxed);
        if head == self.tail.load(Ordering::Acquire) {
            return None;
        }
        let block = self.slots[head % RING_SLOTS].load(Ordering::Relaxed);
        self.head.store(head.wrapping_add(1), Ordering::Release);
        Some(block)
    }

    fn is_empty(&self) -> bool {
        self.head.load(Ordering::Acquire) == self.tail.load(Ordering::Acquire)
    }
}

/// A thread slot's stream.
pub struct Stream {
    /// Stream id in the trace (1-based; 0 is the control stream).
    pub id: u32,
    /// Next stream in the registry (push-only list).
    next: *mut Stream,
    /// Next stream in the free list.
    free_next: Cell<*mut Stream>,
    /// [`ATTACHED`], [`DETACHED`] or [`FREE`].
    state: AtomicU8,
    /// The kernel thread id of the thread it was last attached to (0 for
    /// a queue).
    tid: AtomicU64,
    /// The trace (`state::epoch`) the stream is armed for: its records and
    /// offsets belong to that trace. Written by the owner only.
    epoch: AtomicU32,
    /// A thread's stream waits for the writer when buffer memory is used
    /// up; a queue (control records, the shared stream), which the writer
    /// itself writes to, takes memory beyond the limit instead.
    bounded: bool,
    active: AtomicPtr<Block>,
    full: Ring,
    spare: AtomicPtr<Block>,
    /// Self-contained records of signal handlers that interrupted a hook on
    /// the owning thread, moved into the stream when the hook finishes.
    pub side: Box<crate::side::SideBuffer>,
    /// Owner-only state.
    private: UnsafeCell<StreamPrivate>,
}

// SAFETY: the owner-only parts are only touched by the attached thread; the
// rest are atomics or writer-only cells (see the module docs).
unsafe impl Sync for Stream {}

/// Owner-only state of a stream.
pub struct StreamPrivate {
    block: *mut Block,
    pos: usize,
    /// Delta state of the records written so far.
    pub enc: StreamEncoder,
    /// Interned stacks of this stream.
    pub interner: Interner,
    /// Unwinding caches and the thread's stack bounds.
    pub unwind: UnwindState,
}

/// A live thread owns the stream.
const ATTACHED: u8 = 1;
/// A new thread is taking it over from one that exited (only the thread
/// that moved it here may).
const CLAIMING: u8 = 4;
/// Its thread exited; the writer has not drained it yet.
const DETACHED: u8 = 2;
/// On the free list, waiting for a new thread.
const FREE: u8 = 3;

/// Every stream ever created (newest first).
static STREAMS: AtomicPtr<Stream> = AtomicPtr::new(ptr::null_mut());
/// Thread streams start at 2: 0 is the control stream, 1 the shared one.
static NEXT_STREAM_ID: AtomicU32 = AtomicU32::new(2);
/// Streams whose thread exited, ready for a new thread.
static FREE_STREAMS: AtomicPtr<Stream> = AtomicPtr::new(ptr::null_mut());
pub static FREE_LOCK: SpinLock = SpinLock::new();
/// Blocks in existence and the most there may be.
static BLOCKS: AtomicUsize = AtomicUsize::new(0);
pub static MAX_BLOCKS: AtomicUsize = AtomicUsize::new(512);
/// Set while the writer sleeps; producers wake it when a block fills.
pub static WRITER_WAKE: AtomicU32 = AtomicU32::new(0);
/// Times a thread had to wait for the writer to hand back a block (the
/// writer is not keeping up: it then stops compressing, see `gauge.rs`).
pub static STALLS: AtomicU32 = AtomicU32::new(0);
/// Threads waiting right now for a block (the writer then writes at once,
/// which is what hands blocks back).
static WAITING: AtomicU32 = AtomicU32::new(0);

/// Whether a thread is waiting for the writer to hand back a block.
pub fn threads_waiting() -> bool {
    WAITING.load(Ordering::Relaxed) > 0
}

/// Wakes the writer thread.
pub fn wake_writer() {
    if WRITER_WAKE.swap(1, Ordering::AcqRel) == 0 {
        sys::futex_wake_all(&WRITER_WAKE);
    }
}

fn new_block() -> Option<*mut Block> {
    let limit = MAX_BLOCKS.load(Ordering::Relaxed);
    if BLOCKS.fetch_add(1, Ordering::Relaxed) >= limit {
        BLOCKS.fetch_sub(1, Ordering::Relaxed);
        return None;
    }
    let block = Block::alloc();
    if block.is_null() {
        BLOCKS.fetch_sub(1, Ordering::Relaxed);
        return None;
    }
    Some(block)
}

/// Takes a free stream or creates one, and attaches it to the calling
/// thread. `None` if memory is exhausted. The stream may be left unarmed
/// ([`is_current`] false) when no block could be had.
pub fn attach() -> Option<&'static Stream> {
    let recycled = FREE_LOCK.lock_for(1000).and_then(|_guard| {
        let head = FREE_STREAMS.load(Ordering::Acquire);
        if head.is_null() {
            return None;
        }
        // SAFETY: streams are never freed.
        let next = unsafe { (*head).free_next.get() };
        FREE_STREAMS.store(next, Ordering::Release);
        Some(head)
    });
    let tid = sys::gettid();
    let stream: &'static Stream = match recycled {
        // SAFETY: streams are never freed.
        Some(stream) => unsafe { &*stream },
        None => match reclaim() {
            Some(stream) => stream,
            None => create(tid)?,
        },
    };
    stream.tid.store(tid, Ordering::Release);
    // Sequentially consistent, and before the epoch is read: see
    // `oldest_epoch_in_use`.
    stream.state.store(ATTACHED, Ordering::SeqCst);
    let epoch = state::epoch();
    // SAFETY: the stream is now owned by this thread.
    let private = unsafe { &mut *stream.private.get() };
    if stream.epoch.load(Ordering::Relaxed) != epoch {
        // A new stream, or one of an earlier trace: armed for this one
        // (with its `THREAD` record). Should there be no block for it now,
        // the thread's next record tries again.
        arm(stream, private, epoch, tid);
        return Some(stream);
    }
    private.unwind.attach_thread();
    let buf = private.reserve(stream, MAX_RECORD_LEN);
    let end = private.enc.thread(buf, private.pos, tid);
    private.commit(end);
    Some(stream)
}

/// Arms the calling thread's stream for trace `epoch`: it starts over as
/// a stream of that trace — a new block from this trace's spill file,
/// offsets from 0, a fresh delta encoder, no stack interned, nothing
/// parked by signal handlers, and a `THREAD` record for `tid` (0 for a
/// queue, which has none). What it held of an earlier trace is dropped:
/// that trace's writer is gone. False (the stream unchanged) if there is
/// no block to be had.
///
/// Only the stream's owner may call this: its thread, or for a queue the
/// holder of the queue's lock.
pub fn arm(stream: &Stream, p: &mut StreamPrivate, epoch: u32, tid: u64) -> bool {
    let block = if stream.bounded {
        new_block()
    } else {
        queue_block()
    };
    let Some(block) = block else {
        return false;
    };
    // The writer of the earlier trace is gone and this trace's writer does
    // not read a stream armed for another (`drain`), so the owner is the
    // ring's only consumer here. The blocks dropped are in a retired
    // mapping or private memory, never handed out again.
    while stream.full.pop().is_some() {}
    stream.spare.store(ptr::null_mut(), Ordering::Release);
    Block::assign(block, stream.id, 0);
    stream.active.store(block, Ordering::Release);
    p.block = block;
    p.pos = 0;
    p.enc = StreamEncoder::new();
    p.interner.clear();
    p.unwind.attach_thread();
    stream.side.drain(|_| {});
    if tid != 0 {
        let buf = p.reserve(stream, MAX_RECORD_LEN);
        let end = p.enc.thread(buf, p.pos, tid);
        p.commit(end);
    }
    // Last: from here on the writer reads the stream.
    stream.epoch.store(epoch, Ordering::Release);
    true
}

/// The trace the stream is armed for.
pub fn epoch_of(stream: &Stream) -> u32 {
    stream.epoch.load(Ordering::SeqCst)
}

/// Whether the stream is armed for the trace being recorded now.
#[inline(always)]
pub fn is_current(stream: &Stream, epoch: u32) -> bool {
    stream.epoch.load(Ordering::Relaxed) == epoch
}

/// The oldest trace that a stream in use may still write records of (and
/// so blocks of): `u32::MAX` if none. A stream is in use while its thread
/// lives or another thread is taking it over; a free stream, or one whose
/// thread is gone, is only ever written again after the thread that takes
/// it re-arms it, never to its old blocks.
///
/// Why a thread taking a stream over cannot slip past: it marks the stream
/// `ATTACHED` (or `CLAIMING`) and only then reads the epoch, both
/// sequentially consistent; the caller moved the epoch on before calling
/// this, and this reads each stream's state after. So either this sees
/// the stream in use, or the thread sees the new epoch and re-arms.
pub fn oldest_epoch_in_use() -> u32 {
    let mut oldest = u32::MAX;
    let mut cursor = STREAMS.load(Ordering::Acquire);
    while !cursor.is_null() {
        // SAFETY: streams are never freed.
        let stream = unsafe { &*cursor };
        cursor = stream.next;
        let in_use = match stream.state.load(Ordering::SeqCst) {
            CLAIMING => true,
            ATTACHED => !thread_gone(stream.tid.load(Ordering::Acquire)),
            _ => false,
        };
        if in_use {
            oldest = oldest.min(stream.epoch.load(Ordering::SeqCst));
        }
    }
    oldest
}

/// A new trace of an attached process is starting (`attach.rs`): the
/// blocks in existence are the last trace's, and no longer count against
/// this one's buffer limit.
pub fn restart() {
    BLOCKS.store(0, Ordering::Release);
}

/// A new stream for thread `tid`, in the registry. It holds no block and
/// is armed for no trace (epoch 0): its thread arms it ([`attach`]). So
/// every block a thread writes belongs to a stream in the registry first,
/// and [`oldest_epoch_in_use`] never misses one being written.
fn create(tid: u64) -> Option<&'static Stream> {
    let stream = new_stream(
        NEXT_STREAM_ID.fetch_add(1, Ordering::Relaxed),
        ptr::null_mut(),
        true,
        0,
    );
    stream.tid.store(tid, Ordering::Release);
    let stream: &'static mut Stream = Box::leak(stream);
    let mut head = STREAMS.load(Ordering::Acquire);
    loop {
        stream.next = head;
        match STREAMS.compare_exchange_weak(head, stream, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return Some(stream),
            Err(current) => head = current,
        }
    }
}

/// A stream for a queue of self-contained records (the control stream, the
/// shared stream), written by any thread under the queue's lock and drained
/// by the writer with [`drain`]. Not in the registry of thread streams.
pub fn create_queue(id: u32) -> Option<&'static Stream> {
    let epoch = state::epoch();
    let block = queue_block()?;
    Some(Box::leak(new_stream(id, block, false, epoch)))
}

/// A block for a queue, which the writer itself writes to: beyond the
/// buffer limit if need be.
fn queue_block() -> Option<*mut Block> {
    if let Some(block) = new_block() {
        return Some(block);
    }
    BLOCKS.fetch_add(1, Ordering::Relaxed);
    let block = Block::alloc();
    (!block.is_null()).then_some(block)
}

/// A stream writing `block` (null: none yet, see [`create`]).
fn new_stream(id: u32, block: *mut Block, bounded: bool, epoch: u32) -> Box<Stream> {
    if !block.is_null() {
        Block::assign(block, id, 0);
    }
    Box::new(Stream {
        id,
        next: ptr::null_mut(),
        free_next: Cell::new(ptr::null_mut()),
        state: AtomicU8::new(ATTACHED),
        tid: AtomicU64::new(0),
        epoch: AtomicU32::new(epoch),
        bounded,
        active: AtomicPtr::new(block),
        full: Ring {
            slots: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
        },
        spare: AtomicPtr::new(ptr::null_mut()),
        side: crate::side::SideBuffer::boxed(),
        private: UnsafeCell::new(StreamPrivate {
            block,
            pos: 0,
            enc: StreamEncoder::new(),
            interner: Interner::new(),
            unwind: UnwindState::new(),
        }),
    })
}

/// Streams looked at for a dead owner when a new thread finds no free one.
const RECLAIM_SCAN: usize = 16;

/// Whether the thread `tid` of this process has exited (a thread id is
/// only reused after the kernel went round all of them).
fn thread_gone(tid: u64) -> bool {
    // SAFETY: signal 0 only checks that the thread exists.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_tgkill,
            libc::c_long::from(sys::getpid() as i32),
            tid as libc::c_long,
            0,
        )
    };
    rc != 0 && sys::errno() == libc::ESRCH
}

/// Takes over a stream whose thread has exited and that the writer has not
/// recycled yet (threads that come and go faster than the writer looks):
/// among the newest streams, one already detached, or one whose thread is
/// gone. The stream goes on where its last thread left it.
fn reclaim() -> Option<&'static Stream> {
    let mut cursor = STREAMS.load(Ordering::Acquire);
    for _ in 0..RECLAIM_SCAN {
        if cursor.is_null() {
            return None;
        }
        // SAFETY: streams are never freed.
        let stream = unsafe { &*cursor };
        cursor = stream.next;
        let state = stream.state.load(Ordering::Acquire);
        let dead = state == DETACHED
            || (state == ATTACHED && thread_gone(stream.tid.load(Ordering::Acquire)));
        // Through `CLAIMING`: of two threads that find the same dead stream,
        // one moves it there and the other's exchange fails (from
        // `ATTACHED` back to `ATTACHED`, both would succeed).
        if dead
            && stream
                .state
                .compare_exchange(state, CLAIMING, Ordering::SeqCst, Ordering::Acquire)
                .is_ok()
        {
            return Some(stream);
        }
    }
    None
}

/// The writer's check for threads that exited (without a thread-exit
/// destructor: a pthread key would be the program's, and glibc's
/// thread-exit list takes the loader's lock): their streams are detached,
/// drained and recycled.
pub fn detach_exited() {
    let mut cursor = STREAMS.load(Ordering::Acquire);
    while !cursor.is_null() {
        // SAFETY: streams are never freed.
        let stream = unsafe { &*cursor };
        cursor = stream.next;
        let tid = stream.tid.load(Ordering::Acquire);
        if stream.state.load(Ordering::Acquire) == ATTACHED && tid != 0 && thread_gone(tid) {
            let _ = stream.state.compare_exchange(
                ATTACHED,
                DETACHED,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
    }
}

/// Forgets every stream (in a forked child, whose other threads are gone and
/// whose buffered events belong to the parent's trace).
pub fn reset_after_fork() {
    STREAMS.store(ptr::null_mut(), Ordering::Release);
    FREE_STREAMS.store(ptr::null_mut(), Ordering::Release);
    FREE_LOCK.force_unlock();
    NEXT_STREAM_ID.store(2, Ordering::Release);
    BLOCKS.store(0, Ordering::Release);
}

impl Stream {
    /// The owner-only state.
    ///
    /// # Safety
    /// Only the attached thread may call this, and not re-entrantly.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn private(&self) -> &mut StreamPrivate {
        // SAFETY: guaranteed by the caller.
        unsafe { &mut *self.private.get() }
    }
}

impl StreamPrivate {
    /// Makes sure the active block has `need` bytes free (`need` ≤
    /// [`BLOCK_SIZE`]), moving to a new block if necessary, and returns the
    /// block's bytes. Write records at `self.pos()` and then call
    /// [`StreamPrivate::commit`].
    #[inline(always)]
    pub fn reserve(&mut self, stream: &Stream, need: usize) -> &'static mut [u8] {
        if self.pos + need > BLOCK_SIZE {
            self.next_block(stream);
        }
        // SAFETY: the active block belongs to this thread until it is handed
        // to the writer, which only reads bytes below `committed`; blocks
        // are never freed. The slice must not be kept past the next reserve.
        unsafe { &mut (&mut *(*self.block).data.get())[..] }
    }

    /// Where the next record goes in the reserved buffer.
    #[inline(always)]
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Publishes the records written up to `end`.
    #[inline(always)]
    pub fn commit(&mut self, end: usize) {
        self.pos = end;
        // SAFETY: the block is alive while it is ours.
        unsafe { (*self.block).committed.store(end, Ordering::Release) };
    }

    #[cold]
    fn next_block(&mut self, stream: &Stream) {
        let saved = sys::errno();
        self.switch_block(stream);
        sys::set_errno(saved);
    }

    fn switch_block(&mut self, stream: &Stream) {
        let full = self.block;
        let base = Block::end(full);
        if !is_current(stream, state::epoch()) {
            // A stream of an earlier trace (its thread is still inside a
            // hook it entered before a detach): no writer will drain it, so
            // it writes over its block instead of waiting for one.
            self.restart_block(stream.id, base);
            return;
        }
        let Some(mut waited) = self.hand_over(stream) else {
            return;
        };
        let next = loop {
            let spare = stream.spare.swap(ptr::null_mut(), Ordering::AcqRel);
            if !spare.is_null() {
                break spare;
            }
            if let Some(block) = new_block() {
                break block;
            }
            wake_writer();
            if !crate::state::tracing() || !stream.bounded {
                // No writer will ever return a block, or this queue must
                // not wait: keep writing into a fresh one so the program is
                // not blocked.
                let block = Block::alloc();
                if !block.is_null() {
                    BLOCKS.fetch_add(1, Ordering::Relaxed);
                    break block;
                }
            }
            WAITING.fetch_add(1, Ordering::Relaxed);
            sys::nap_us(50);
            WAITING.fetch_sub(1, Ordering::Relaxed);
            waited += 1;
        };
        Block::assign(next, stream.id, base);
        stream.active.store(next, Ordering::Release);
        self.block = next;
        self.pos = 0;
        if waited == 0 {
            wake_writer();
        } else {
            STALLS.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Hands the full active block to the writer (its ring); the naps it
    /// took waiting for room, or `None` if it kept the block instead.
    ///
    /// The block stops being the stream's `active` one *before* it goes
    /// into the ring. Once in the ring, the writer may copy it, write it
    /// out and hand it to another stream as its spare — while this thread,
    /// preempted before it stores its next block, would still name it
    /// `active`. The writer would then copy the other stream's records as
    /// this one's, and mark them copied (a loaded two-core machine did
    /// that: 17 bytes of one stream in another's, the trace damaged from
    /// there). With `active` null in between, the writer copies nothing of
    /// this stream until the next block is stored.
    fn hand_over(&mut self, stream: &Stream) -> Option<u32> {
        let full = self.block;
        let base = Block::end(full);
        stream.active.store(ptr::null_mut(), Ordering::Release);
        let mut waited = 0u32;
        while !stream.full.push(full) {
            wake_writer();
            if !crate::state::tracing() || !stream.bounded {
                // The writer is gone (exit), or is the one writing to this
                // queue: drop what this block holds (the gap it leaves in
                // the stream's offsets tells a reader something is lost),
                // and keep writing into it.
                self.restart_block(stream.id, base);
                stream.active.store(full, Ordering::Release);
                return None;
            }
            sys::nap_us(50);
            waited += 1;
        }
        Some(waited)
    }

    fn restart_block(&mut self, id: u32, base: u64) {
        self.pos = 0;
        Block::assign(self.block, id, base);
    }
}

/// The writer's view: copies every thread stream's new records into `out`
/// (via `emit(stream id, bytes)`), and frees streams whose thread has
/// exited. Blocks it emptied go to `drained`: they go back to the threads
/// (through `pool`) only after what was copied from them is in the file.
/// Must be called from the writer thread only.
pub fn drain_all(
    drained: &mut Vec<*mut Block>,
    pool: &mut Vec<*mut Block>,
    emit: &mut dyn FnMut(u32, &[u8]),
) {
    let mut cursor = STREAMS.load(Ordering::Acquire);
    while !cursor.is_null() {
        // SAFETY: streams are never freed.
        let stream = unsafe { &*cursor };
        drain(stream, drained, pool, emit);
        cursor = stream.next;
    }
}

/// [`drain_all`] for one stream (also for queues).
pub fn drain(
    stream: &Stream,
    drained: &mut Vec<*mut Block>,
    pool: &mut Vec<*mut Block>,
    emit: &mut dyn FnMut(u32, &[u8]),
) {
    let detached = stream.state.load(Ordering::Acquire) == DETACHED;
    if stream.epoch.load(Ordering::Acquire) != state::epoch() {
        // Armed for an earlier trace: its records are not this trace's,
        // and its blocks are its thread's until it re-arms. A stream whose
        // thread exited goes back to the free list as it is (the thread
        // that takes it re-arms it).
        if detached {
            release(stream);
        }
        return;
    }
    let active = stream.active.load(Ordering::Acquire);
    let mut active_done = false;
    while let Some(block) = stream.full.pop() {
        copy_new(stream.id, block, emit);
        if block == active {
            active_done = true;
        }
        drained.push(block);
    }
    // Null while its thread hands a full block over (`hand_over`).
    if !active_done && !active.is_null() {
        copy_new(stream.id, active, emit);
    }
    if stream.spare.load(Ordering::Acquire).is_null()
        && let Some(block) = pool.pop()
    {
        stream.spare.store(block, Ordering::Release);
    }
    if detached && stream.full.is_empty() && is_drained(active) {
        release(stream);
    }
}

fn copy_new(id: u32, block: *mut Block, emit: &mut dyn FnMut(u32, &[u8])) {
    // SAFETY: blocks are never freed; bytes below `committed` are immutable
    // until the block is recycled, which only this thread does.
    let block = unsafe { &*block };
    let committed = block.committed.load(Ordering::Acquire);
    let flushed = block.flushed.get();
    if committed > flushed {
        // SAFETY: as above.
        let data = unsafe { &(&*block.data.get())[flushed..committed] };
        emit(id, data);
        block.flushed.set(committed);
    }
}

/// Whether the writer copied all of `block` (never for a null one: its
/// stream's thread was between two blocks).
fn is_drained(block: *mut Block) -> bool {
    if block.is_null() {
        return false;
    }
    // SAFETY: blocks are never freed.
    let block = unsafe { &*block };
    block.flushed.get() >= block.committed.load(Ordering::Acquire)
}

fn release(stream: &Stream) {
    let Some(_guard) = FREE_LOCK.lock_for(10_000) else {
        return;
    };
    if stream
        .state
        .compare_exchange(DETACHED, FREE, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return;
    }
    stream.free_next.set(FREE_STREAMS.load(Ordering::Acquire));
    FREE_STREAMS.store(stream as *const Stream as *mut Stream, Ordering::Release);
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
