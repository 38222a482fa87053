//! The file header: what process this is and how to read its clock.
//!
//! Layout (all integers little-endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `HEAPWISE` |
//! | 8 | 2 | format version ([`FORMAT_VERSION`]) |
//! | 10 | 2 | flags (0) |
//! | 12 | 4 | payload length |
//! | 16 | 4 | CRC-32 of the payload |
//! | 20 | n | payload: varint-encoded [`Header`] fields |

use crate::bytes::{Cursor, Writer};
use crate::control::ClockSync;
use crate::error::TraceError;

/// The first eight bytes of every trace.
pub const MAGIC: [u8; 8] = *b"HEAPWISE";
/// The version this crate writes. Version 2 added
/// [`Header::sample_interval`]: a reader of version 1 would take a sampled
/// trace for a full one, so it must refuse it. Version 3 added checkpoints
/// (`crate::checkpoint`): a compacted trace starts with one, in a stream a
/// version-2 reader would take for damage. Version 4 added packed segments
/// (`crate::pack`) and the coarse tick source ([`TickSource::TscCoarse`]),
/// version 5 the coarser one ([`TickSource::TscSubMs`]): a version-4 reader
/// would take it for damage.
pub const FORMAT_VERSION: u16 = 5;
/// The oldest version this crate reads (version 1 traces are full traces).
pub const OLDEST_READABLE_VERSION: u16 = 1;
/// Size of the fixed part before the payload.
pub const FIXED_HEADER_LEN: usize = 20;
/// The largest header payload a reader accepts.
pub const MAX_HEADER_PAYLOAD: u32 = 1 << 20;

/// What the event timestamps count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TickSource {
    /// The x86-64 time-stamp counter (invariant TSC) divided by 64;
    /// converted to seconds through the trace's [`ClockSync`] records
    /// (traces of version 3 and before).
    Tsc,
    /// `CLOCK_MONOTONIC` nanoseconds.
    MonotonicNs,
    /// The invariant TSC divided by 65,536 (about 25 µs at 2.5 GHz):
    /// fine enough for ages, timelines and peaks (which follow the order
    /// of events, not their stamps), coarse enough that a busy thread's
    /// consecutive stamps are mostly equal and cost nothing once
    /// compressed. Converted through [`ClockSync`] records like [`Tsc`].
    ///
    /// [`Tsc`]: TickSource::Tsc
    TscCoarse,
    /// The invariant TSC divided by 2^20 (about 0.4 ms at 2.5 GHz), what
    /// the tracer writes since version 5: the stamps of CPython's 21 M
    /// events took 150 kB of its 1.26 MB trace at ÷ 65,536 and take 40 kB,
    /// sqlite's 21 kB and 7 kB. Still 25 times finer than heaptrack's 10 ms.
    TscSubMs,
}

impl TickSource {
    /// Nanoseconds per tick assumed before a trace's clock samples say
    /// (a 2.5 GHz counter for the TSC sources).
    pub fn nominal_ns_per_tick(self) -> f64 {
        match self {
            TickSource::Tsc => 64.0 / 2.5,
            TickSource::MonotonicNs => 1.0,
            TickSource::TscCoarse => 65_536.0 / 2.5,
            TickSource::TscSubMs => 1_048_576.0 / 2.5,
        }
    }

    /// Whether ticks are converted through clock samples (a TSC).
    pub fn fitted(self) -> bool {
        !matches!(self, TickSource::MonotonicNs)
    }
}

/// How the session of a trace recorded by `heapwise attach` begins.
pub const ATTACH_SESSION: &str = "attach-";

/// The trace header.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Header {
    /// Process id.
    pub pid: u32,
    /// Parent process id.
    pub ppid: u32,
    /// 0 for the first program image of this process; n for the image after
    /// the n-th `exec`.
    pub exec_seq: u32,
    /// The `heapwise run` session this trace belongs to (empty if none);
    /// for a process `heapwise attach` attached to, [`ATTACH_SESSION`]
    /// followed by the attaching process's id.
    pub session: String,
    /// Command line (`/proc/self/cmdline`).
    pub argv: Vec<String>,
    /// Executable path (`/proc/self/exe`).
    pub exe: String,
    /// What event timestamps count.
    pub tick_source: TickSource,
    /// Clocks read when tracing started.
    pub start: ClockSync,
    /// Page size of the machine.
    pub page_size: u32,
    /// Version of the tracer that wrote the trace.
    pub tracer_version: String,
    /// The spill file holding the tracer's buffered records while the
    /// process runs, from which a reader recovers what the process had
    /// recorded but not yet written when it died (see [`crate::spill`]).
    /// Empty when the tracer had none.
    pub spill: String,
    /// For a forked child: the trace of the parent it was forked from
    /// (empty otherwise), as the parent named it.
    pub parent_trace: String,
    /// For a forked child: the tick at which it was forked (0 otherwise).
    /// The blocks the parent held then are the child's too.
    pub fork_tick: u64,
    /// 0: every allocation is recorded. Otherwise the mean number of bytes
    /// allocated between two sampled allocations (R): a block of Z bytes
    /// was recorded with probability 1 − e^(−Z/R), and only recorded blocks
    /// have their frees recorded (docs/trace-format.md, "Sampled traces").
    pub sample_interval: u64,
}

impl Header {
    /// Whether `heapwise attach` recorded this trace (of a process that
    /// ran already, from the attach to the detach).
    pub fn attached(&self) -> bool {
        self.session.starts_with(ATTACH_SESSION)
    }

    /// Encodes the whole header, fixed part included.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u64(u64::from(self.pid));
        w.u64(u64::from(self.ppid));
        w.u64(u64::from(self.exec_seq));
        w.bytes(self.session.as_bytes());
        w.u64(self.argv.len() as u64);
        for arg in &self.argv {
            w.bytes(arg.as_bytes());
        }
        w.bytes(self.exe.as_bytes());
        w.u8(match self.tick_source {
            TickSource::Tsc => 0,
            TickSource::MonotonicNs => 1,
            TickSource::TscCoarse => 2,
            TickSource::TscSubMs => 3,
        });
        w.u64(self.start.tick);
        w.u64(self.start.monotonic_ns);
        w.u64(self.start.realtime_ns);
        w.u64(u64::from(self.page_size));
        w.bytes(self.tracer_version.as_bytes());
        w.bytes(self.spill.as_bytes());
        w.bytes(self.parent_trace.as_bytes());
        w.u64(self.fork_tick);
        w.u64(self.sample_interval);
        let payload = w.buf;
        let mut out = Vec::with_capacity(FIXED_HEADER_LEN + payload.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
        out
    }

    /// Parses the fixed part: checks the magic and version and returns the
    /// payload length and CRC.
    pub fn parse_fixed(fixed: &[u8]) -> Result<(u32, u32), TraceError> {
        if fixed.len() < FIXED_HEADER_LEN || fixed[..8] != MAGIC {
            return Err(TraceError::NotATrace);
        }
        let version = u16::from_le_bytes([fixed[8], fixed[9]]);
        if !(OLDEST_READABLE_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(TraceError::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let len = u32::from_le_bytes([fixed[12], fixed[13], fixed[14], fixed[15]]);
        let crc = u32::from_le_bytes([fixed[16], fixed[17], fixed[18], fixed[19]]);
        if len > MAX_HEADER_PAYLOAD {
            return Err(TraceError::BadHeader(
                "the header claims an impossible length".into(),
            ));
        }
        Ok((len, crc))
    }

    /// Decodes the payload (after its CRC was checked).
    pub fn decode_payload(payload: &[u8]) -> Result<Header, TraceError> {
        let bad = || TraceError::BadHeader("the header's fields are malformed".into());
        let mut cur = Cursor::new(payload);
        let pid = cur.u32().ok_or_else(bad)?;
        let ppid = cur.u32().ok_or_else(bad)?;
        let exec_seq = cur.u32().ok_or_else(bad)?;
        let session = cur.string().ok_or_else(bad)?;
        let argc = cur.u64().ok_or_else(bad)?;
        if argc > payload.len() as u64 {
            return Err(bad());
        }
        let mut argv = Vec::with_capacity(argc as usize);
        for _ in 0..argc {
            argv.push(cur.string().ok_or_else(bad)?);
        }
        let exe = cur.string().ok_or_else(bad)?;
        let tick_source = match cur.u8().ok_or_else(bad)? {
            0 => TickSource::Tsc,
            1 => TickSource::MonotonicNs,
            2 => TickSource::TscCoarse,
            3 => TickSource::TscSubMs,
            _ => return Err(bad()),
        };
        let start = ClockSync {
            tick: cur.u64().ok_or_else(bad)?,
            monotonic_ns: cur.u64().ok_or_else(bad)?,
            realtime_ns: cur.u64().ok_or_else(bad)?,
        };
        let page_size = cur.u32().ok_or_else(bad)?;
        let tracer_version = cur.string().ok_or_else(bad)?;
        // Added after the first release: absent in older traces.
        let optional_string = |cur: &mut Cursor<'_>| {
            if cur.is_empty() {
                Ok(String::new())
            } else {
                cur.string().ok_or_else(bad)
            }
        };
        let spill = optional_string(&mut cur)?;
        let parent_trace = optional_string(&mut cur)?;
        let optional_u64 = |cur: &mut Cursor<'_>| {
            if cur.is_empty() {
                Ok(0)
            } else {
                cur.u64().ok_or_else(bad)
            }
        };
        let fork_tick = optional_u64(&mut cur)?;
        let sample_interval = optional_u64(&mut cur)?;
        // Fields added by later minor versions follow; they are ignored.
        Ok(Header {
            pid,
            ppid,
            exec_seq,
            session,
            argv,
            exe,
            tick_source,
            start,
            page_size,
            tracer_version,
            spill,
            parent_trace,
            fork_tick,
            sample_interval,
        })
    }
}

impl Header {
    /// A header for process `pid` with command line `argv`, timestamps in
    /// monotonic nanoseconds starting at zero, and no session. Tools that
    /// write traces other than the preload (tests, converters) start here.
    pub fn new(pid: u32, argv: Vec<String>) -> Header {
        Header {
            pid,
            ppid: 0,
            exec_seq: 0,
            session: String::new(),
            exe: argv.first().cloned().unwrap_or_default(),
            argv,
            tick_source: TickSource::MonotonicNs,
            start: ClockSync::default(),
            page_size: 4096,
            tracer_version: String::new(),
            spill: String::new(),
            parent_trace: String::new(),
            fork_tick: 0,
            sample_interval: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_reject_other_versions() {
        let mut header = Header::new(7, vec!["./a".into(), "b c".into()]);
        header.session = "s1".into();
        header.start = ClockSync {
            tick: 1,
            monotonic_ns: 2,
            realtime_ns: 3,
        };
        let bytes = header.encode();
        let (len, _) = Header::parse_fixed(&bytes).unwrap();
        assert_eq!(len as usize, bytes.len() - FIXED_HEADER_LEN);
        assert_eq!(
            Header::decode_payload(&bytes[FIXED_HEADER_LEN..]).unwrap(),
            header
        );

        let mut other = bytes.clone();
        other[8] = 99;
        assert!(matches!(
            Header::parse_fixed(&other),
            Err(TraceError::UnsupportedVersion { found: 99, .. })
        ));
        assert!(matches!(
            Header::parse_fixed(b"ELF\x7f................"),
            Err(TraceError::NotATrace)
        ));
    }
}
