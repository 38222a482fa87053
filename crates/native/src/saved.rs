//! The analysis of a trace, saved beside it so that reports need not
//! replay it again.
//!
//! `heapwise run` replays its trace while the program runs (the follower),
//! as heaptrack interprets its trace while the program runs. At the end it
//! holds the whole trace's [`Analysis`], and it saves it here, in
//! `<trace>.analysis`; `heapwise report` then starts from that instead of
//! reading and replaying the trace (for CPython's 21 M events, most of the
//! report's time and memory).
//!
//! The saved analysis is a cache, never the only copy of anything: it is
//! used only when it was written by this very build of heapwise for the
//! trace file as it is now (its length, modification time and inode), and
//! anything else about it (missing, stale, damaged, another build's) means
//! the trace is read as if it were not there. `heapwise report --replay`
//! ignores it.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use heapwise_trace::{Header, ReadStatus, StackTable};
use serde::{Deserialize, Serialize};

use crate::Analysis;
use crate::replay::Replay;

/// The file's first bytes.
const MAGIC: &[u8; 8] = b"HWSAVED\x01";

/// Where the analysis of `trace` is saved.
pub fn path_of(trace: &Path) -> PathBuf {
    let mut name = trace.as_os_str().to_owned();
    name.push(".analysis");
    PathBuf::from(name)
}

/// What a saved analysis is valid for: one build of heapwise, one trace
/// file as it was when the analysis was saved.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Key {
    heapwise: String,
    /// The heapwise executable's size and modification time: the saved
    /// form is the build's own structures, which another build may lay
    /// out differently.
    build: (u64, i64, i64),
    /// The trace's size, modification time and inode.
    trace: (u64, i64, i64, u64),
}

impl Key {
    fn of(trace: &Path) -> std::io::Result<Key> {
        let exe = std::fs::metadata("/proc/self/exe")?;
        let file = std::fs::metadata(trace)?;
        Ok(Key {
            heapwise: env!("CARGO_PKG_VERSION").to_owned(),
            build: (exe.len(), exe.mtime(), exe.mtime_nsec()),
            trace: (file.len(), file.mtime(), file.mtime_nsec(), file.ino()),
        })
    }
}

/// The parts of an [`Analysis`] that are saved (its path and clock are
/// known from where it is loaded and from its replay).
#[derive(Serialize)]
struct Saving<'a> {
    header: &'a Header,
    status: &'a ReadStatus,
    stacks: &'a StackTable,
    replay: &'a Replay,
}

#[derive(Deserialize)]
struct Loaded {
    header: Header,
    status: ReadStatus,
    stacks: StackTable,
    replay: Replay,
}

/// Saves `analysis`, which must be the whole of `trace` as the file is
/// now, beside it. Returns the saved file's path and size.
pub fn save(analysis: &Analysis, trace: &Path) -> std::io::Result<(PathBuf, u64)> {
    let key = Key::of(trace)?;
    let path = path_of(trace);
    // Written under another name and renamed: a report never reads half of
    // one.
    let mut partial = path.clone().into_os_string();
    partial.push(".part");
    let partial = PathBuf::from(partial);
    let write = || -> std::io::Result<u64> {
        let mut out = BufWriter::new(File::create(&partial)?);
        out.write_all(MAGIC)?;
        let key = postcard::to_stdvec(&key).map_err(std::io::Error::other)?;
        out.write_all(&(key.len() as u32).to_le_bytes())?;
        out.write_all(&key)?;
        let mut zstd = zstd::Encoder::new(out, 1)?;
        zstd.include_checksum(true)?;
        let saving = Saving {
            header: &analysis.header,
            status: &analysis.status,
            stacks: &analysis.stacks,
            replay: &analysis.replay,
        };
        postcard::to_io(&saving, &mut zstd).map_err(std::io::Error::other)?;
        // Not synced to disk: a cache, and a file cut short by a crash
        // fails its checksum and is not used.
        let file = zstd.finish()?.into_inner().map_err(|e| e.into_error())?;
        Ok(file.metadata()?.len())
    };
    match write() {
        Ok(bytes) => {
            std::fs::rename(&partial, &path)?;
            Ok((path, bytes))
        }
        Err(err) => {
            std::fs::remove_file(&partial).ok();
            Err(err)
        }
    }
}

/// The analysis saved beside `trace`, if there is one valid for this build
/// and for the trace as it is now; `None` otherwise (the trace must then be
/// read).
pub fn load(trace: &Path) -> Option<Analysis> {
    let key = Key::of(trace).ok()?;
    let mut file = File::open(path_of(trace)).ok()?;
    let mut head = [0u8; 12];
    file.read_exact(&mut head).ok()?;
    if &head[..8] != MAGIC {
        return None;
    }
    let len = u32::from_le_bytes(head[8..12].try_into().ok()?) as usize;
    if len > 4096 {
        return None;
    }
    let mut saved_key = vec![0u8; len];
    file.read_exact(&mut saved_key).ok()?;
    if postcard::from_bytes::<Key>(&saved_key).ok()? != key {
        return None;
    }
    let mut bytes = Vec::new();
    zstd::Decoder::new(file)
        .ok()?
        .read_to_end(&mut bytes)
        .ok()?;
    let mut loaded: Loaded = postcard::from_bytes(&bytes).ok()?;
    drop(bytes);
    loaded.replay.shrink_to_fit();
    if !loaded.replay.consistent_with(&loaded.stacks) {
        return None;
    }
    let clock = loaded.replay.clock.clock();
    Some(Analysis {
        path: trace.display().to_string(),
        header: loaded.header,
        status: loaded.status,
        stacks: loaded.stacks,
        replay: loaded.replay,
        clock,
    })
}
