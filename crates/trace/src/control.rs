//! Control records: what is true of the whole process rather than of one
//! thread — module maps, clock synchronisation, counters, how it ended.
//!
//! Control records are rare and written by the tracer's writer thread (or
//! while it starts), never on the allocation path, so they are plain structs
//! encoded into a `Vec<u8>`.

use crate::bytes::{Cursor, Writer};
use crate::record::tag;

/// One loadable segment of a module (an ELF `PT_LOAD` program header).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LoadSegment {
    /// `p_vaddr`: the segment's address before relocation.
    pub vaddr: u64,
    /// `p_memsz`: its size in memory.
    pub memsz: u64,
    /// `p_offset`: where it starts in the file.
    pub file_offset: u64,
    /// `p_flags` (`PF_X` = 1, `PF_W` = 2, `PF_R` = 4).
    pub flags: u32,
}

/// A module (the executable, a shared library, the vDSO) mapped into the
/// process, recorded when it was first seen so that addresses inside it can
/// be symbolized later even if it was unloaded before the end.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModuleLoad {
    /// Trace-wide module id, unique for the trace's lifetime.
    pub id: u32,
    /// Tick at which it was seen loaded.
    pub ts: u64,
    /// Load bias (`dlpi_addr`): runtime address = `base + vaddr`.
    pub base: u64,
    /// Path as the dynamic loader knows it (empty for the main executable
    /// when the loader does not name it; the header's `exe` is used then).
    pub path: String,
    /// GNU build-id, empty if the module has none.
    pub build_id: Vec<u8>,
    /// Loadable segments.
    pub segments: Vec<LoadSegment>,
}

impl ModuleLoad {
    /// Whether the runtime address `addr` lies in one of the segments.
    pub fn contains(&self, addr: u64) -> bool {
        self.segment_for(addr).is_some()
    }

    /// The segment holding runtime address `addr`.
    pub fn segment_for(&self, addr: u64) -> Option<&LoadSegment> {
        self.segments.iter().find(|seg| {
            let start = self.base.wrapping_add(seg.vaddr);
            addr >= start && addr - start < seg.memsz
        })
    }

    /// The file offset of runtime address `addr`, if it is in a segment.
    pub fn file_offset(&self, addr: u64) -> Option<u64> {
        let seg = self.segment_for(addr)?;
        Some(addr - self.base.wrapping_add(seg.vaddr) + seg.file_offset)
    }
}

/// A tick count read together with the system clocks, so ticks can be
/// converted to seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClockSync {
    /// Tick (the header's [`crate::TickSource`]).
    pub tick: u64,
    /// `CLOCK_MONOTONIC` in nanoseconds.
    pub monotonic_ns: u64,
    /// `CLOCK_REALTIME` in nanoseconds since the Unix epoch.
    pub realtime_ns: u64,
}

/// How a traced process image ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ExitStatus {
    /// `exit(code)` or return from `main`.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
    /// Replaced itself with `exec`; its successor writes its own trace.
    Exec,
}

/// Process counters sampled by the tracer.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counters {
    /// Tick of the sample.
    pub ts: u64,
    /// Resident set size (bytes).
    pub rss_bytes: Option<u64>,
    /// Bytes of glibc's heaps (its `brk` heap and its thread arenas' heaps),
    /// as the preload reads them from its maps: what `mallinfo2().arena`
    /// counts, without its walk of the free chunks. The four fields below
    /// were `mallinfo2`'s; the preload no longer writes them.
    pub heap_arena_bytes: Option<u64>,
    /// `mallinfo2().uordblks`: bytes in use by allocations.
    pub heap_in_use_bytes: Option<u64>,
    /// `mallinfo2().fordblks`: bytes free inside the heap.
    pub heap_free_bytes: Option<u64>,
    /// `mallinfo2().ordblks`: number of free chunks.
    pub heap_free_chunks: Option<u64>,
    /// `mallinfo2().hblkhd`: bytes in mmapped chunks.
    pub heap_mmap_bytes: Option<u64>,
}

/// Counter keys inside a `COUNTERS` record.
mod counter_key {
    pub const RSS: u8 = 1;
    pub const HEAP_ARENA: u8 = 2;
    pub const HEAP_IN_USE: u8 = 3;
    pub const HEAP_FREE: u8 = 4;
    pub const HEAP_FREE_CHUNKS: u8 = 5;
    pub const HEAP_MMAP: u8 = 6;
}

/// A decoded control record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControlRecord {
    /// See [`ModuleLoad`].
    ModuleLoad(ModuleLoad),
    /// The module with this id was unmapped at this tick.
    ModuleUnload {
        /// Module id from its [`ModuleLoad`].
        id: u32,
        /// Tick at which it was seen gone.
        ts: u64,
    },
    /// See [`ClockSync`].
    Clock(ClockSync),
    /// How the process ended, and when (tick; 0 when written by `heapwise
    /// run` after the process was gone).
    Exit {
        /// Tick, or 0 when unknown.
        ts: u64,
        /// The status.
        status: ExitStatus,
    },
    /// A message from the tracer, e.g. why tracking was switched off.
    Note {
        /// Tick.
        ts: u64,
        /// Text.
        message: String,
    },
    /// See [`Counters`].
    Counters(Counters),
    /// The writer started a pass over all streams at this tick: every
    /// record committed before it is in the file up to this point. Records
    /// stamped just before it but committed after (a thread was inside a
    /// hook when the pass began) can still follow, so readers that order
    /// events by time wait one more `Sync` before trusting a tick.
    Sync {
        /// Tick at which the pass started.
        tick: u64,
    },
    /// The process died before its writer wrote everything it had recorded;
    /// the segments before this record were recovered from its spill file
    /// (see [`crate::spill`]) by whoever read the trace next.
    Recovered(Recovery),
    /// The reachability scan at exit (`heapwise run`, after the process
    /// let it read its memory), or why there was none.
    Reachability(Reachability),
    /// Blocks the scan found lost: `(address, kind)` with kind 0 definitely,
    /// 1 indirectly, 2 possibly lost; every other block still allocated
    /// at the end is still reachable. A long list is split over several
    /// records.
    LostBlocks(Vec<(u64, u8)>),
    /// Sampling was paused or resumed (its control file, `HEAPWISE_CONTROL`):
    /// while paused no allocation is recorded (the frees of blocks sampled
    /// before still are), so allocations and growth over that time are
    /// unknown.
    Sampling {
        /// Tick.
        ts: u64,
        /// Paused from now on (else resumed).
        paused: bool,
    },
}

/// The reachability scan at exit: valgrind's four leak kinds of the blocks
/// still allocated (`heapwise-reach`; docs/reachability.md).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Reachability {
    /// The process's memory was read and every live block classified.
    Scanned(ReachScan),
    /// It was not, for this reason (one sentence).
    NotScanned(String),
}

/// What a reachability scan found, and what it took.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReachScan {
    /// Bytes and blocks definitely lost, indirectly lost, possibly lost and
    /// still reachable, in that order.
    pub totals: [(u64, u64); 4],
    /// Still reachable bytes and blocks that only one of valgrind's
    /// heuristics made so: `stdstring`, `length64`, `newarray`,
    /// `multipleinheritance`.
    pub heuristics: [(u64, u64); 4],
    /// Threads whose stacks and registers were roots.
    pub threads: u64,
    /// Bytes of root memory scanned.
    pub root_bytes: u64,
    /// Bytes of blocks scanned.
    pub block_bytes: u64,
    /// Bytes of memory copied from the process.
    pub copied_bytes: u64,
    /// Bytes of writable memory that could not be read.
    pub unread_bytes: u64,
    /// Blocks whose memory could not be read.
    pub unreadable_blocks: u64,
    /// How long the process was held stopped, nanoseconds.
    pub held_ns: u64,
    /// How long the scan took once the memory was copied, nanoseconds.
    pub scan_ns: u64,
    /// How long the exiting program waited for heapwise, nanoseconds: the
    /// trace's replay, then the stop, the copy and the scan.
    pub waited_ns: u64,
}

/// What a recovery from the spill file found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Recovery {
    /// Bytes of stream records recovered (appended to the trace).
    pub bytes: u64,
    /// Streams that had records to recover.
    pub streams: u64,
    /// Streams whose records could not all be recovered: a buffer of theirs
    /// was not in the spill file (it was full or could not be created), so
    /// their records stop at the last one before the gap.
    pub cut_streams: u64,
    /// Bytes of records known to be missing in those streams (`0` when the
    /// size of what is missing is unknown).
    pub missing_bytes: u64,
}

impl ControlRecord {
    /// Appends the encoding of this record to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer {
            buf: std::mem::take(out),
        };
        match self {
            ControlRecord::ModuleLoad(m) => {
                w.u8(tag::MODULE_LOAD);
                w.u64(u64::from(m.id));
                w.u64(m.ts);
                w.u64(m.base);
                w.bytes(m.path.as_bytes());
                w.bytes(&m.build_id);
                w.u64(m.segments.len() as u64);
                for seg in &m.segments {
                    w.u64(seg.vaddr);
                    w.u64(seg.memsz);
                    w.u64(seg.file_offset);
                    w.u64(u64::from(seg.flags));
                }
            }
            ControlRecord::ModuleUnload { id, ts } => {
                w.u8(tag::MODULE_UNLOAD);
                w.u64(u64::from(*id));
                w.u64(*ts);
            }
            ControlRecord::Clock(c) => {
                w.u8(tag::CLOCK);
                w.u64(c.tick);
                w.u64(c.monotonic_ns);
                w.u64(c.realtime_ns);
            }
            ControlRecord::Exit { ts, status } => {
                w.u8(tag::EXIT);
                w.u64(*ts);
                match status {
                    ExitStatus::Code(code) => {
                        w.u8(0);
                        w.i64(i64::from(*code));
                    }
                    ExitStatus::Signal(sig) => {
                        w.u8(1);
                        w.i64(i64::from(*sig));
                    }
                    ExitStatus::Exec => w.u8(2),
                }
            }
            ControlRecord::Note { ts, message } => {
                w.u8(tag::NOTE);
                w.u64(*ts);
                w.bytes(message.as_bytes());
            }
            ControlRecord::Sync { tick } => {
                w.u8(tag::SYNC);
                w.u64(*tick);
            }
            ControlRecord::Sampling { ts, paused } => {
                w.u8(tag::SAMPLING);
                w.u64(*ts);
                w.u8(u8::from(*paused));
            }
            ControlRecord::Reachability(Reachability::NotScanned(why)) => {
                w.u8(tag::REACHABILITY);
                w.u8(1);
                w.bytes(why.as_bytes());
            }
            ControlRecord::Reachability(Reachability::Scanned(scan)) => {
                w.u8(tag::REACHABILITY);
                w.u8(0);
                for &(bytes, blocks) in scan.totals.iter().chain(&scan.heuristics) {
                    w.u64(bytes);
                    w.u64(blocks);
                }
                for value in [
                    scan.threads,
                    scan.root_bytes,
                    scan.block_bytes,
                    scan.copied_bytes,
                    scan.unread_bytes,
                    scan.unreadable_blocks,
                    scan.held_ns,
                    scan.scan_ns,
                    scan.waited_ns,
                ] {
                    w.u64(value);
                }
            }
            ControlRecord::LostBlocks(blocks) => {
                w.u8(tag::LOST_BLOCKS);
                w.u64(blocks.len() as u64);
                let mut previous = 0u64;
                for &(address, kind) in blocks {
                    w.i64(address.wrapping_sub(previous) as i64);
                    w.u8(kind);
                    previous = address;
                }
            }
            ControlRecord::Recovered(r) => {
                w.u8(tag::RECOVERED);
                w.u64(r.bytes);
                w.u64(r.streams);
                w.u64(r.cut_streams);
                w.u64(r.missing_bytes);
            }
            ControlRecord::Counters(c) => {
                w.u8(tag::COUNTERS);
                w.u64(c.ts);
                let fields = [
                    (counter_key::RSS, c.rss_bytes),
                    (counter_key::HEAP_ARENA, c.heap_arena_bytes),
                    (counter_key::HEAP_IN_USE, c.heap_in_use_bytes),
                    (counter_key::HEAP_FREE, c.heap_free_bytes),
                    (counter_key::HEAP_FREE_CHUNKS, c.heap_free_chunks),
                    (counter_key::HEAP_MMAP, c.heap_mmap_bytes),
                ];
                let present = fields.iter().filter(|(_, v)| v.is_some()).count();
                w.u64(present as u64);
                for (key, value) in fields {
                    if let Some(value) = value {
                        w.u8(key);
                        w.u64(value);
                    }
                }
            }
        }
        *out = w.buf;
    }

    /// Decodes one record from `cur`. `None` means the bytes are not a valid
    /// control record.
    pub fn decode(cur: &mut Cursor<'_>) -> Option<ControlRecord> {
        let record = match cur.u8()? {
            tag::MODULE_LOAD => {
                let id = cur.u32()?;
                let ts = cur.u64()?;
                let base = cur.u64()?;
                let path = cur.string()?;
                let build_id = cur.bytes()?.to_vec();
                let count = cur.u64()?;
                if count > 4096 {
                    return None;
                }
                let mut segments = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    segments.push(LoadSegment {
                        vaddr: cur.u64()?,
                        memsz: cur.u64()?,
                        file_offset: cur.u64()?,
                        flags: cur.u32()?,
                    });
                }
                ControlRecord::ModuleLoad(ModuleLoad {
                    id,
                    ts,
                    base,
                    path,
                    build_id,
                    segments,
                })
            }
            tag::MODULE_UNLOAD => ControlRecord::ModuleUnload {
                id: cur.u32()?,
                ts: cur.u64()?,
            },
            tag::CLOCK => ControlRecord::Clock(ClockSync {
                tick: cur.u64()?,
                monotonic_ns: cur.u64()?,
                realtime_ns: cur.u64()?,
            }),
            tag::EXIT => {
                let ts = cur.u64()?;
                let status = match cur.u8()? {
                    0 => ExitStatus::Code(i32::try_from(cur.i64()?).ok()?),
                    1 => ExitStatus::Signal(i32::try_from(cur.i64()?).ok()?),
                    2 => ExitStatus::Exec,
                    _ => return None,
                };
                ControlRecord::Exit { ts, status }
            }
            tag::NOTE => ControlRecord::Note {
                ts: cur.u64()?,
                message: cur.string()?,
            },
            tag::SYNC => ControlRecord::Sync { tick: cur.u64()? },
            tag::SAMPLING => ControlRecord::Sampling {
                ts: cur.u64()?,
                paused: match cur.u8()? {
                    0 => false,
                    1 => true,
                    _ => return None,
                },
            },
            tag::REACHABILITY => ControlRecord::Reachability(match cur.u8()? {
                0 => {
                    let mut scan = ReachScan::default();
                    for pair in scan.totals.iter_mut().chain(scan.heuristics.iter_mut()) {
                        *pair = (cur.u64()?, cur.u64()?);
                    }
                    for value in [
                        &mut scan.threads,
                        &mut scan.root_bytes,
                        &mut scan.block_bytes,
                        &mut scan.copied_bytes,
                        &mut scan.unread_bytes,
                        &mut scan.unreadable_blocks,
                        &mut scan.held_ns,
                        &mut scan.scan_ns,
                        &mut scan.waited_ns,
                    ] {
                        *value = cur.u64()?;
                    }
                    Reachability::Scanned(scan)
                }
                1 => Reachability::NotScanned(cur.string()?),
                _ => return None,
            }),
            tag::LOST_BLOCKS => {
                let count = cur.u64()?;
                // Each entry takes at least two bytes.
                if count > (cur.remaining() / 2) as u64 {
                    return None;
                }
                let mut blocks = Vec::with_capacity(count as usize);
                let mut previous = 0u64;
                for _ in 0..count {
                    let address = previous.wrapping_add(cur.i64()? as u64);
                    let kind = cur.u8()?;
                    if kind > 2 {
                        return None;
                    }
                    blocks.push((address, kind));
                    previous = address;
                }
                ControlRecord::LostBlocks(blocks)
            }
            tag::RECOVERED => ControlRecord::Recovered(Recovery {
                bytes: cur.u64()?,
                streams: cur.u64()?,
                cut_streams: cur.u64()?,
                missing_bytes: cur.u64()?,
            }),
            tag::COUNTERS => {
                let mut c = Counters {
                    ts: cur.u64()?,
                    ..Counters::default()
                };
                let count = cur.u64()?;
                for _ in 0..count {
                    let key = cur.u8()?;
                    let value = Some(cur.u64()?);
                    match key {
                        counter_key::RSS => c.rss_bytes = value,
                        counter_key::HEAP_ARENA => c.heap_arena_bytes = value,
                        counter_key::HEAP_IN_USE => c.heap_in_use_bytes = value,
                        counter_key::HEAP_FREE => c.heap_free_bytes = value,
                        counter_key::HEAP_FREE_CHUNKS => c.heap_free_chunks = value,
                        counter_key::HEAP_MMAP => c.heap_mmap_bytes = value,
                        // Counters added by later writers are skipped.
                        _ => {}
                    }
                }
                ControlRecord::Counters(c)
            }
            _ => return None,
        };
        Some(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(record: ControlRecord) {
        let mut buf = Vec::new();
        record.encode(&mut buf);
        let mut cur = Cursor::new(&buf);
        assert_eq!(ControlRecord::decode(&mut cur), Some(record));
        assert!(cur.is_empty());
    }

    #[test]
    fn every_control_record_round_trips() {
        round_trip(ControlRecord::ModuleLoad(ModuleLoad {
            id: 3,
            ts: 99,
            base: 0x7f00_0000_0000,
            path: "/usr/lib/x86_64-linux-gnu/libc.so.6".into(),
            build_id: vec![0xde, 0xad, 0xbe, 0xef],
            segments: vec![LoadSegment {
                vaddr: 0x1000,
                memsz: 0x2000,
                file_offset: 0x1000,
                flags: 5,
            }],
        }));
        round_trip(ControlRecord::ModuleUnload { id: 3, ts: 100 });
        round_trip(ControlRecord::Recovered(Recovery {
            bytes: 1 << 20,
            streams: 3,
            cut_streams: 1,
            missing_bytes: 131_072,
        }));
        round_trip(ControlRecord::Clock(ClockSync {
            tick: 1,
            monotonic_ns: 2,
            realtime_ns: 3,
        }));
        round_trip(ControlRecord::Exit {
            ts: 5,
            status: ExitStatus::Code(-1),
        });
        round_trip(ControlRecord::Exit {
            ts: 0,
            status: ExitStatus::Signal(9),
        });
        round_trip(ControlRecord::Exit {
            ts: 7,
            status: ExitStatus::Exec,
        });
        round_trip(ControlRecord::Sampling {
            ts: 77,
            paused: true,
        });
        round_trip(ControlRecord::Sampling {
            ts: 78,
            paused: false,
        });
        round_trip(ControlRecord::Note {
            ts: 8,
            message: "disk full".into(),
        });
        round_trip(ControlRecord::Sync { tick: 12345 });
        round_trip(ControlRecord::Reachability(Reachability::NotScanned(
            "the program was killed by signal 9".into(),
        )));
        round_trip(ControlRecord::Reachability(Reachability::Scanned(
            ReachScan {
                totals: [(24, 1), (48, 2), (0, 0), (4096, 1)],
                heuristics: [(0, 0), (0, 0), (88, 1), (0, 0)],
                threads: 3,
                root_bytes: 1 << 20,
                block_bytes: 4168,
                copied_bytes: 2 << 20,
                unread_bytes: 4096,
                unreadable_blocks: 0,
                held_ns: 1_500_000,
                scan_ns: 200_000,
                waited_ns: 9_000_000,
            },
        )));
        round_trip(ControlRecord::LostBlocks(vec![
            (0x5555_0000_1010, 0),
            (0x5555_0000_1000, 1),
            (0x7f00_0000_0010, 2),
        ]));
        round_trip(ControlRecord::Counters(Counters {
            ts: 9,
            rss_bytes: Some(4096),
            heap_in_use_bytes: Some(100),
            ..Counters::default()
        }));
    }

    #[test]
    fn module_addresses_map_to_file_offsets() {
        let m = ModuleLoad {
            id: 1,
            ts: 0,
            base: 0x5555_0000_0000,
            path: "/bin/x".into(),
            build_id: vec![],
            segments: vec![
                LoadSegment {
                    vaddr: 0,
                    memsz: 0x1000,
                    file_offset: 0,
                    flags: 4,
                },
                LoadSegment {
                    vaddr: 0x1000,
                    memsz: 0x500,
                    file_offset: 0x1000,
                    flags: 5,
                },
            ],
        };
        assert_eq!(m.file_offset(0x5555_0000_1010), Some(0x1010));
        assert!(m.contains(0x5555_0000_14ff));
        assert!(!m.contains(0x5555_0000_1500));
        assert!(!m.contains(0x5554_ffff_ffff));
    }
}
