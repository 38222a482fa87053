//! The spill file: where a traced process keeps its unwritten records, so
//! that they outlive the process.
//!
//! The tracer's threads append their records to buffers (blocks) that the
//! writer thread copies into the trace several times a second. A process
//! that dies — `abort`, a crash, `SIGKILL` from the OOM killer — would take
//! with it everything recorded since the last write. So the blocks do not
//! live in the process's private memory: they are slots of one file in
//! shared memory (`/dev/shm`, mapped `MAP_SHARED`), whose pages the kernel
//! keeps when the process is gone. Whoever reads the trace next (`heapwise
//! run` as soon as the program ended, or `heapwise report`) copies the
//! records that are in the spill file but not in the trace to the end of
//! the trace ([`recover`]) and removes the spill file. A process that ends
//! normally writes everything itself and removes its spill file.
//!
//! Which records are missing from the trace needs no bookkeeping by the
//! process: every block carries the stream it belongs to and the offset of
//! its first byte in that stream's sequence of records (`base`), and the
//! trace holds each stream's records in order, so a stream's records in the
//! trace are exactly its first `n` bytes, `n` being the sum of its segments'
//! lengths. The writer hands a block back to its thread only once the
//! records copied from it are in the file, so the bytes from `n` on are
//! always still in some block — unless a block could not be placed in the
//! spill file (it was full), which [`recover`] reports as a gap.
//!
//! The process holds an exclusive `flock` on the spill file while it runs:
//! a reader that can take the lock knows the process is gone (pids are
//! reused; locks are not inherited across `exec`, and a forked child
//! closes its copy).
//!
//! Layout (little-endian; `SLOT_LEN` = [`SLOT_HEADER_LEN`] + [`BLOCK_DATA_LEN`]):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `HWSPILL1` |
//! | 8 | 4 | slot length |
//! | 12 | 4 | slots the file has room for |
//! | 16 | 4 | pid of the process |
//! | 20 | 4 | slots handed out so far |
//! | [`SPILL_HEADER_LEN`] + i × slot length | slot | slot `i` |
//!
//! A slot: `u32` stream id (0 = not in use), 4 bytes padding, `u64` base,
//! `u64` committed length, 8 bytes for the writer, then the records.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::checkpoint::CHECKPOINT_STREAM;
use crate::control::{ControlRecord, Recovery};
use crate::error::TraceError;
use crate::reader::TraceReader;
use crate::writer::TraceWriter;

/// The first eight bytes of a spill file.
pub const SPILL_MAGIC: [u8; 8] = *b"HWSPILL1";
/// Bytes before the first slot.
pub const SPILL_HEADER_LEN: usize = 4096;
/// Offset of the "slots handed out" counter in the header.
pub const USED_OFFSET: usize = 20;
/// Bytes of a slot's header.
pub const SLOT_HEADER_LEN: usize = 32;
/// Bytes of records one slot (one block) holds.
pub const BLOCK_DATA_LEN: usize = 128 * 1024;
/// Bytes of one slot.
pub const SLOT_LEN: usize = SLOT_HEADER_LEN + BLOCK_DATA_LEN;
/// Stream id of a slot not in use. (Stream 0 is the control stream; its
/// slots are marked with [`CONTROL_SLOT`].)
pub const FREE_SLOT: u32 = 0;
/// The id a slot of the control stream (stream 0) carries.
pub const CONTROL_SLOT: u32 = u32::MAX;

/// What happened when a trace was checked for records left in its spill
/// file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recovered {
    /// The trace names no spill file, or it is gone: nothing to recover
    /// (the process wrote everything, or the records were recovered
    /// before).
    Nothing,
    /// The process still runs (it holds the spill file's lock).
    StillRunning,
    /// Records were appended to the trace (or there were none to append)
    /// and the spill file removed.
    Appended(Recovery),
}

/// One slot's header, as read from the file.
#[derive(Clone, Copy, Debug)]
struct Slot {
    index: usize,
    base: u64,
    committed: u64,
}

/// Appends to `trace` the records its process had recorded but not
/// written when it died, from the spill file its header names, and removes
/// the spill file. Does nothing while the process runs.
pub fn recover(trace: &Path) -> Result<Recovered, TraceError> {
    let mut reader = TraceReader::open(trace)?;
    let spill_path = PathBuf::from(&reader.header().spill);
    if spill_path.as_os_str().is_empty() {
        return Ok(Recovered::Nothing);
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TraceError::Io { path, source }
    };
    let spill = match OpenOptions::new().read(true).write(true).open(&spill_path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Recovered::Nothing),
        Err(err) => return Err(io(&spill_path)(err)),
    };
    match spill.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Ok(Recovered::StillRunning),
        Err(std::fs::TryLockError::Error(err)) => return Err(io(&spill_path)(err)),
    }
    // The lock is free, but a process that closed every descriptor (as
    // some daemons do) dropped it while still running: recovering then
    // would copy records its writer may still write.
    if running(reader.header().pid) {
        return Ok(Recovered::StillRunning);
    }
    let mut written: BTreeMap<u32, u64> = BTreeMap::new();
    let status = reader.scan_segments(&mut |stream, bytes| {
        if stream == CHECKPOINT_STREAM {
            // A compacted trace: what it held of each stream before its
            // checkpoint.
            for (id, consumed) in crate::checkpoint::stream_bases(bytes) {
                *written.entry(id).or_default() += consumed;
            }
        } else if stream == crate::pack::PACKED_STREAM {
            // Records in columns: what their rows took.
            for part in crate::pack::parse(bytes)
                .map(|(parts, _)| parts)
                .unwrap_or_default()
            {
                *written.entry(part.stream).or_default() += part.row_bytes;
            }
        } else {
            *written.entry(stream).or_default() += bytes.len() as u64;
        }
    })?;
    if let Some(damage) = status.damage {
        return Err(TraceError::Unrecoverable {
            spill: spill_path,
            reason: format!("the trace is damaged ({damage}), so what it holds is unknown"),
        });
    }
    let slots = read_slots(&spill).map_err(|err| TraceError::Unrecoverable {
        spill: spill_path.clone(),
        reason: err.to_string(),
    })?;
    let mut writer = TraceWriter::append_after(trace, status.bytes_read)?;
    let mut recovery = Recovery::default();
    // Control records first: a recovered stack may be in a module whose
    // announcement was not written yet.
    let mut streams: Vec<(&u32, &Vec<Slot>)> = slots.iter().collect();
    streams.sort_by_key(|(id, _)| {
        if **id == CONTROL_SLOT {
            0
        } else {
            1 + **id as u64
        }
    });
    let mut pending = 0usize;
    for (&id, blocks) in streams {
        let stream = if id == CONTROL_SLOT { 0 } else { id };
        let mut next = written.get(&stream).copied().unwrap_or(0);
        let mut took = false;
        for slot in blocks {
            let end = slot.base + slot.committed;
            if end <= next {
                continue;
            }
            if slot.base > next {
                recovery.cut_streams += 1;
                recovery.missing_bytes += slot.base - next;
                break;
            }
            let from = (next - slot.base) as usize;
            let mut data = vec![0u8; slot.committed as usize - from];
            let at = (SPILL_HEADER_LEN + slot.index * SLOT_LEN + SLOT_HEADER_LEN + from) as u64;
            spill
                .read_exact_at(&mut data, at)
                .map_err(io(&spill_path))?;
            writer.stream(stream, &data);
            recovery.bytes += data.len() as u64;
            pending += data.len();
            next = end;
            took = true;
            if pending >= 8 << 20 {
                writer.flush().map_err(io(trace))?;
                pending = 0;
            }
        }
        recovery.streams += u64::from(took);
    }
    if recovery.bytes > 0 || recovery.cut_streams > 0 {
        writer.control(&ControlRecord::Recovered(recovery));
    }
    writer.flush().map_err(io(trace))?;
    drop(writer);
    std::fs::remove_file(&spill_path).map_err(io(&spill_path))?;
    Ok(Recovered::Appended(recovery))
}

/// Whether process `pid` exists and has not exited (a zombie has).
fn running(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the command name, which is in parentheses.
    let state = stat
        .rfind(')')
        .and_then(|end| stat[end + 1..].split_whitespace().next());
    !matches!(state, Some("Z" | "X" | "x") | None)
}

/// The slots in use, per stream, in stream order.
fn read_slots(spill: &File) -> std::io::Result<BTreeMap<u32, Vec<Slot>>> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let mut header = [0u8; 24];
    spill.read_exact_at(&mut header, 0)?;
    if header[..8] != SPILL_MAGIC {
        return Err(bad("it is not a heapwise spill file"));
    }
    let word = |at: usize| {
        u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    if word(8) as usize != SLOT_LEN {
        return Err(bad("its slots are not the size this heapwise reads"));
    }
    let capacity = word(12) as usize;
    let used = word(USED_OFFSET).min(word(12)) as usize;
    let file_len = spill.metadata()?.len();
    if ((SPILL_HEADER_LEN + capacity * SLOT_LEN) as u64) > file_len {
        return Err(bad("it is shorter than its header says"));
    }
    let mut by_stream: BTreeMap<u32, Vec<Slot>> = BTreeMap::new();
    let mut raw = [0u8; SLOT_HEADER_LEN];
    for index in 0..used {
        spill.read_exact_at(&mut raw, (SPILL_HEADER_LEN + index * SLOT_LEN) as u64)?;
        let stream = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&raw[at..at + 8]);
            u64::from_le_bytes(b)
        };
        let (base, committed) = (u64_at(8), u64_at(16));
        if stream == FREE_SLOT || committed == 0 || committed > BLOCK_DATA_LEN as u64 {
            continue;
        }
        by_stream.entry(stream).or_default().push(Slot {
            index,
            base,
            committed,
        });
    }
    for slots in by_stream.values_mut() {
        slots.sort_by_key(|s| s.base);
    }
    Ok(by_stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AllocApi, Event, Header, StackTable, StreamEncoder};

    /// Above any `pid_max`: a process that is gone.
    const NO_SUCH_PID: u32 = u32::MAX;

    /// A spill file with `slots` (stream id, base, records) as the tracer
    /// lays it out.
    fn spill_file(path: &Path, slots: &[(u32, u64, &[u8])]) {
        let mut bytes = vec![0u8; SPILL_HEADER_LEN + slots.len() * SLOT_LEN];
        bytes[..8].copy_from_slice(&SPILL_MAGIC);
        bytes[8..12].copy_from_slice(&(SLOT_LEN as u32).to_le_bytes());
        bytes[12..16].copy_from_slice(&(slots.len() as u32).to_le_bytes());
        bytes[USED_OFFSET..USED_OFFSET + 4].copy_from_slice(&(slots.len() as u32).to_le_bytes());
        for (i, (stream, base, records)) in slots.iter().enumerate() {
            let at = SPILL_HEADER_LEN + i * SLOT_LEN;
            bytes[at..at + 4].copy_from_slice(&stream.to_le_bytes());
            bytes[at + 8..at + 16].copy_from_slice(&base.to_le_bytes());
            bytes[at + 16..at + 24].copy_from_slice(&(records.len() as u64).to_le_bytes());
            bytes[at + SLOT_HEADER_LEN..at + SLOT_HEADER_LEN + records.len()]
                .copy_from_slice(records);
        }
        std::fs::write(path, bytes).unwrap();
    }

    /// `n` allocations of 16 bytes encoded as one stream's records.
    fn allocations(enc: &mut StreamEncoder, first_ptr: u64, n: u64) -> Vec<u8> {
        let mut buf = vec![0u8; 64 * n as usize + 64];
        let mut pos = 0;
        for i in 0..n {
            pos = enc.alloc(
                &mut buf,
                pos,
                AllocApi::Malloc,
                10 + i,
                16,
                0,
                first_ptr + 32 * i,
            );
        }
        buf.truncate(pos);
        buf
    }

    fn allocs_in(trace: &Path) -> Vec<u64> {
        let mut reader = TraceReader::open(trace).unwrap();
        let mut ptrs = Vec::new();
        reader
            .read_all(&mut |event: Event<'_>, _: &StackTable| {
                if let Event::Alloc { ptr, .. } = event {
                    ptrs.push(ptr);
                }
            })
            .unwrap();
        ptrs
    }

    #[test]
    fn records_past_the_trace_are_appended_and_a_gap_cuts_the_stream() {
        let dir = tempfile::tempdir().unwrap();
        let (trace, spill) = (dir.path().join("t.hwt"), dir.path().join("t.spill"));
        // Stream 2 wrote 3 allocations to the trace; the block holding them
        // and 2 more is still in the spill file, as is a stale block of
        // stream 2 already written; stream 3 has a block at base 0, then a
        // gap of 7 bytes before its next block (a block in private memory).
        let mut two = StreamEncoder::new();
        let written = allocations(&mut two, 0x1000, 3);
        let rest = allocations(&mut two, 0x1000 + 96, 2);
        let mut three = StreamEncoder::new();
        let first = allocations(&mut three, 0x9000, 4);
        let mut header = Header::new(NO_SUCH_PID, vec!["t".into()]);
        header.spill = spill.display().to_string();
        let mut writer = TraceWriter::create(&trace, &header).unwrap();
        writer.stream(2, &written);
        writer.flush().unwrap();
        drop(writer);
        let mut whole = written.clone();
        whole.extend_from_slice(&rest);
        let after_gap = [0u8; 5];
        spill_file(
            &spill,
            &[
                (2, 0, &written[..2]),
                (2, 0, &whole),
                (3, 0, &first),
                (3, first.len() as u64 + 7, &after_gap),
            ],
        );
        let found = recover(&trace).unwrap();
        assert_eq!(
            found,
            Recovered::Appended(Recovery {
                bytes: (rest.len() + first.len()) as u64,
                streams: 2,
                cut_streams: 1,
                missing_bytes: 7,
            })
        );
        assert!(!spill.exists(), "the spill file is removed");
        let mut ptrs = allocs_in(&trace);
        ptrs.sort_unstable();
        let expected: Vec<u64> = (0..5)
            .map(|i| 0x1000 + 32 * i)
            .chain((0..4).map(|i| 0x9000 + 32 * i))
            .collect();
        assert_eq!(ptrs, expected);
        assert_eq!(recover(&trace).unwrap(), Recovered::Nothing);
    }

    #[test]
    fn a_compacted_trace_counts_what_its_checkpoint_holds_and_gets_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let (full, trace, spill) = (
            dir.path().join("full.hwt"),
            dir.path().join("t.hwt"),
            dir.path().join("t.spill"),
        );
        // Stream 2 wrote 3 allocations; then the trace was compacted; the
        // process died with 2 more in its spill file.
        let mut two = StreamEncoder::new();
        let written = allocations(&mut two, 0x1000, 3);
        let rest = allocations(&mut two, 0x1000 + 96, 2);
        let mut header = Header::new(NO_SUCH_PID, vec!["t".into()]);
        header.spill = spill.display().to_string();
        let mut writer = TraceWriter::create(&full, &header).unwrap();
        writer.stream(2, &written);
        writer.flush().unwrap();
        drop(writer);
        crate::compact::compact_file(&full, &trace, 1).unwrap();
        let mut whole = written.clone();
        whole.extend_from_slice(&rest);
        spill_file(&spill, &[(2, 0, &whole)]);
        let found = recover(&trace).unwrap();
        assert!(
            matches!(found, Recovered::Appended(r) if r.bytes == rest.len() as u64 && r.cut_streams == 0),
            "{found:?}"
        );
        let (mut held, mut allocated) = (Vec::new(), Vec::new());
        TraceReader::open(&trace)
            .unwrap()
            .read_all(&mut |event: Event<'_>, _: &StackTable| match event {
                Event::Checkpoint(c) => held.extend(c.live.iter().map(|l| l.ptr)),
                Event::Alloc { ptr, .. } => allocated.push(ptr),
                _ => {}
            })
            .unwrap();
        assert_eq!(held, vec![0x1000, 0x1020, 0x1040], "in the checkpoint");
        assert_eq!(allocated, vec![0x1060, 0x1080], "recovered after it");
    }

    #[test]
    fn a_spill_file_whose_owner_holds_its_lock_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let (trace, spill) = (dir.path().join("t.hwt"), dir.path().join("t.spill"));
        let mut header = Header::new(NO_SUCH_PID, vec!["t".into()]);
        header.spill = spill.display().to_string();
        TraceWriter::create(&trace, &header).unwrap();
        spill_file(&spill, &[]);
        let owner = File::open(&spill).unwrap();
        owner.lock().unwrap();
        assert_eq!(recover(&trace).unwrap(), Recovered::StillRunning);
        assert!(spill.exists());
        drop(owner);
        assert_eq!(
            recover(&trace).unwrap(),
            Recovered::Appended(Recovery::default())
        );
        assert!(!spill.exists());
    }

    #[test]
    fn a_process_that_dropped_the_lock_but_runs_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let (trace, spill) = (dir.path().join("t.hwt"), dir.path().join("t.spill"));
        let mut header = Header::new(std::process::id(), vec!["t".into()]);
        header.spill = spill.display().to_string();
        TraceWriter::create(&trace, &header).unwrap();
        spill_file(&spill, &[]);
        assert_eq!(recover(&trace).unwrap(), Recovered::StillRunning);
        assert!(spill.exists());
    }
}
