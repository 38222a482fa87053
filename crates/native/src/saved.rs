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
use std::sync::Arc;

use heapwise_trace::{Header, ModuleLoad, ReadStatus, StackTable};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::Analysis;
use crate::model::Frame;
use crate::replay::Replay;
use crate::resolve::Symbolize;

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
    symbols: Option<&'a SavedSymbols>,
}

#[derive(Deserialize)]
struct Loaded {
    header: Header,
    status: ReadStatus,
    stacks: StackTable,
    replay: Replay,
    symbols: Option<SavedSymbols>,
}

/// What the report's symbolizer answered, saved with the analysis: every
/// batch of addresses it was given (by module) and the frames it gave,
/// and what it said of the modules it could not read. A report from the
/// saved analysis asks the same batches and gets the same frames without
/// reading any module's symbols or debug info (cc1plus's report: its
/// symbol table, 7 MB of the report's memory and more in mapped pages).
#[derive(Default, Serialize, Deserialize)]
pub struct SavedSymbols {
    /// Every name a frame has (function, file, module, address), once.
    names: Vec<String>,
    /// Per module id, per address: its frames.
    answers: Vec<(u32, u64, Vec<SavedFrame>)>,
    /// What the symbolizer said, one sentence per module.
    pub warnings: Vec<String>,
    #[serde(skip)]
    shared: Vec<Arc<str>>,
    #[serde(skip)]
    index: FxHashMap<(u32, u64), usize>,
    #[serde(skip)]
    named: FxHashMap<Arc<str>, u32>,
}

/// A [`Frame`] with its strings as indices in [`SavedSymbols::names`].
#[derive(Serialize, Deserialize)]
struct SavedFrame {
    function: Option<u32>,
    file: Option<u32>,
    line: Option<u32>,
    module: Option<u32>,
    address: u32,
    inlined: bool,
}

impl SavedSymbols {
    fn name(&mut self, name: &Arc<str>) -> u32 {
        if let Some(&index) = self.named.get(name) {
            return index;
        }
        let index = self.names.len() as u32;
        self.names.push(name.to_string());
        self.named.insert(name.clone(), index);
        index
    }

    /// Notes the frames given for `addresses` of `module`.
    fn record(&mut self, module: &ModuleLoad, addresses: &[u64], frames: &[Vec<Frame>]) {
        for (&address, frames) in addresses.iter().zip(frames) {
            let saved = frames
                .iter()
                .map(|f| SavedFrame {
                    function: f.function.as_ref().map(|n| self.name(n)),
                    file: f.file.as_ref().map(|n| self.name(n)),
                    line: f.line,
                    module: f.module.as_ref().map(|n| self.name(n)),
                    address: self.name(&f.address),
                    inlined: f.inlined,
                })
                .collect();
            self.answers.push((module.id, address, saved));
        }
    }

    /// Makes the loaded answers ready to be given; `false` if they name
    /// strings they do not have.
    fn ready(&mut self) -> bool {
        let names = self.names.len();
        let valid = |i: &Option<u32>| i.is_none_or(|i| (i as usize) < names);
        if !self.answers.iter().all(|(_, _, frames)| {
            frames.iter().all(|f| {
                valid(&f.function)
                    && valid(&f.file)
                    && valid(&f.module)
                    && (f.address as usize) < names
            })
        }) {
            return false;
        }
        self.shared = std::mem::take(&mut self.names)
            .into_iter()
            .map(Arc::from)
            .collect();
        self.index = self
            .answers
            .iter()
            .enumerate()
            .map(|(i, (module, address, _))| ((*module, *address), i))
            .collect();
        true
    }

    /// The frames saved for every one of `addresses` of `module`; `None`
    /// if any of them was not asked when the analysis was saved.
    pub fn answer(&self, module: &ModuleLoad, addresses: &[u64]) -> Option<Vec<Vec<Frame>>> {
        let name = |i: u32| self.shared[i as usize].clone();
        addresses
            .iter()
            .map(|&address| {
                let &at = self.index.get(&(module.id, address))?;
                Some(
                    self.answers[at]
                        .2
                        .iter()
                        .map(|f| Frame {
                            function: f.function.map(name),
                            file: f.file.map(name),
                            line: f.line,
                            module: f.module.map(name),
                            address: name(f.address),
                            inlined: f.inlined,
                        })
                        .collect(),
                )
            })
            .collect()
    }
}

/// A symbolizer that also notes every answer, to be saved with the
/// analysis ([`SavedSymbols`]).
pub struct Recording<'a> {
    inner: &'a mut dyn Symbolize,
    saved: SavedSymbols,
}

impl<'a> Recording<'a> {
    /// Notes what `inner` answers.
    pub fn new(inner: &'a mut dyn Symbolize) -> Recording<'a> {
        Recording {
            inner,
            saved: SavedSymbols::default(),
        }
    }

    /// Everything answered, and `warnings`: what the symbolizer said.
    pub fn finish(self, warnings: Vec<String>) -> SavedSymbols {
        SavedSymbols {
            warnings,
            ..self.saved
        }
    }
}

impl Symbolize for Recording<'_> {
    fn symbolize(&mut self, module: &ModuleLoad, addresses: &[u64]) -> Vec<Vec<Frame>> {
        let frames = self.inner.symbolize(module, addresses);
        self.saved.record(module, addresses, &frames);
        frames
    }
}

/// Saves `analysis`, which must be the whole of `trace` as the file is
/// now, beside it, with what its report's symbolizer answered. Returns the
/// saved file's path and size.
pub fn save(
    analysis: &Analysis,
    symbols: Option<&SavedSymbols>,
    trace: &Path,
) -> std::io::Result<(PathBuf, u64)> {
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
            symbols,
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
    if !loaded.replay.consistent_with(&loaded.stacks)
        || loaded.symbols.as_mut().is_some_and(|s| !s.ready())
    {
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
        symbols: loaded.symbols,
    })
}
