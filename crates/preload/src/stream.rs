//! Streams: one per thread slot, each a chain of fixed-size blocks that its
//! thread fills and the writer thread drains.
//!
//! No lock is shared on the allocation path. The owning thread appends whole
//! records to its active block and publishes the new length with one release
//! store; the writer copies what is published. A full block goes through a
//! single-producer/single-consumer ring to the writer, which hands emptied
//! blocks back through the stream's `spare` slot. The total memory of blocks
//! is bounded: when it is reached the producing thread waits for the writer
//! (back-pressure) instead of growing without limit.

use std::cell::{Cell, UnsafeCell};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicU32, AtomicUsize, Ordering};

use heapwise_trace::record::{MAX_RECORD_LEN, StreamEncoder};

use crate::intern::Interner;
use crate::sys::{self, SpinLock};
use crate::unwind::UnwindState;

/// Bytes of records per block.
pub const BLOCK_SIZE: usize = 128 * 1024;

/// A buffer of whole records.
pub struct Block {
    /// Bytes of complete records (written by the owner, read by the writer).
    committed: AtomicUsize,
    /// Bytes the writer has already copied (writer only).
    flushed: Cell<usize>,
    data: UnsafeCell<[u8; BLOCK_SIZE]>,
}

impl Block {
    fn alloc() -> *mut Block {
        let layout = std::alloc::Layout::new::<Block>();
        // SAFETY: the layout is non-zero; all-zero bytes are a valid Block
        // (zero atomics, zero cell, zero data).
        unsafe { std::alloc::alloc_zeroed(layout).cast() }
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
    active: AtomicPtr<Block>,
    full: Ring,
    spare: AtomicPtr<Block>,
    /// Self-contained records of signal handlers that interrupted a hook on
    /// the owning thread, moved into the stream when the hook finishes.
    pub side: Box<crate::record::SideBuffer>,
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
/// thread. `None` if memory is exhausted or the free list is busy.
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
    let stream: &'static Stream = match recycled {
        // SAFETY: streams are never freed.
        Some(stream) => unsafe { &*stream },
        None => create()?,
    };
    stream.state.store(ATTACHED, Ordering::Release);
    // SAFETY: the stream is now owned by this thread.
    let private = unsafe { &mut *stream.private.get() };
    private.unwind.attach_thread();
    let tid = sys::gettid();
    let buf = private.reserve(stream, MAX_RECORD_LEN);
    let end = private.enc.thread(buf, private.pos, tid);
    private.commit(end);
    Some(stream)
}

fn create() -> Option<&'static Stream> {
    let block = new_block()?;
    let stream = Box::new(Stream {
        id: NEXT_STREAM_ID.fetch_add(1, Ordering::Relaxed),
        next: ptr::null_mut(),
        free_next: Cell::new(ptr::null_mut()),
        state: AtomicU8::new(ATTACHED),
        active: AtomicPtr::new(block),
        full: Ring {
            slots: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
        },
        spare: AtomicPtr::new(ptr::null_mut()),
        side: crate::record::SideBuffer::boxed(),
        private: UnsafeCell::new(StreamPrivate {
            block,
            pos: 0,
            enc: StreamEncoder::new(),
            interner: Interner::new(),
            unwind: UnwindState::new(),
        }),
    });
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

/// Called by the thread's exit destructor: the thread will not touch the
/// stream again; the writer frees it once drained.
pub fn detach(stream: &Stream) {
    stream.state.store(DETACHED, Ordering::Release);
    wake_writer();
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
        let mut waited = 0u32;
        while !stream.full.push(full) {
            wake_writer();
            if !crate::state::tracing() {
                // The writer is gone (exit): drop what this block holds.
                self.restart_block();
                return;
            }
            sys::nap_us(50);
            waited += 1;
        }
        let next = loop {
            let spare = stream.spare.swap(ptr::null_mut(), Ordering::AcqRel);
            if !spare.is_null() {
                break spare;
            }
            if let Some(block) = new_block() {
                break block;
            }
            wake_writer();
            if !crate::state::tracing() {
                // No writer will ever return a block: keep writing into a
                // fresh one so the program is not blocked, and lose it.
                match Block::alloc() {
                    b if !b.is_null() => break b,
                    _ => {}
                }
            }
            sys::nap_us(50);
            waited += 1;
        };
        // SAFETY: `next` came back from the writer (or is new) and nobody
        // else references it.
        unsafe {
            (*next).committed.store(0, Ordering::Relaxed);
            (*next).flushed.set(0);
        }
        stream.active.store(next, Ordering::Release);
        self.block = next;
        self.pos = 0;
        if waited == 0 {
            wake_writer();
        } else {
            STALLS.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn restart_block(&mut self) {
        self.pos = 0;
        // SAFETY: the block is ours.
        unsafe {
            (*self.block).committed.store(0, Ordering::Release);
            (*self.block).flushed.set(0);
        }
    }
}

/// The writer's view: copies every stream's new records into `out` (via
/// `emit(stream id, bytes)`), recycles drained blocks into `pool`, and frees
/// streams whose thread has exited. Must be called from the writer thread
/// only.
pub fn drain_all(pool: &mut Vec<*mut Block>, emit: &mut dyn FnMut(u32, &[u8])) {
    let mut cursor = STREAMS.load(Ordering::Acquire);
    while !cursor.is_null() {
        // SAFETY: streams are never freed.
        let stream = unsafe { &*cursor };
        drain(stream, pool, emit);
        cursor = stream.next;
    }
}

fn drain(stream: &Stream, pool: &mut Vec<*mut Block>, emit: &mut dyn FnMut(u32, &[u8])) {
    let detached = stream.state.load(Ordering::Acquire) == DETACHED;
    let active = stream.active.load(Ordering::Acquire);
    let mut active_done = false;
    while let Some(block) = stream.full.pop() {
        copy_new(stream.id, block, emit);
        if block == active {
            active_done = true;
        }
        if stream.spare.load(Ordering::Acquire).is_null() {
            stream.spare.store(block, Ordering::Release);
        } else {
            pool.push(block);
        }
    }
    if !active_done {
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

fn is_drained(block: *mut Block) -> bool {
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
