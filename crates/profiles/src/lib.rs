//! Other profilers' heap profiles, judged the way heapwise judges its own
//! traces.
//!
//! A service that already runs with a heap profiler — Go's
//! `net/http/pprof`, jemalloc's `prof:true` — can take a profile now and
//! then; a series of them says which call stacks' live bytes keep
//! growing. This crate reads them and judges the series; it never prints.
//!
//! - **Readers** ([`read`], [`read_path`]), recognised by content, not by
//!   file name: pprof's `profile.proto` gzip'd or not ([`pprof`]; Go's
//!   values are already scaled, `period` is the sampling rate) and
//!   jemalloc's `heap_v2` text dumps ([`jemalloc`]; scaled the way jeprof
//!   scales them). Each gives a [`HeapProfile`]: call stacks (keyed by
//!   their frames, so they match across profiles) with live bytes and
//!   objects, allocated bytes and objects, and the sampling variance of
//!   the live bytes. A truncated or foreign file is a [`ProfileError`]
//!   of one sentence.
//! - **Analysis** ([`analyze`]): the profiles in time order (their own
//!   time stamps, their files' modification times, or the order given),
//!   each stack's live bytes over them and the whole heap's, judged by
//!   `heapwise-series` with the options the native report uses; a growth
//!   counts as a leak only beyond twice its sampling error. The result is
//!   a serialisable [`ProfilesReport`], schema `heapwise.profiles/1`.
//!
//! `docs/profiles.md` describes the formats, the scaling and the error.

pub mod analysis;
pub mod error;
pub mod jemalloc;
pub mod model;
pub mod pprof;
pub mod proto;

use std::io::Read;
use std::path::Path;

pub use analysis::{
    AnalysisOptions, HeapGrowth, Input, ORDER_NOTE, ProfileSummary, ProfilesReport, SCHEMA,
    Sampling, StackGrowth, TimeAxis, analyze,
};
pub use error::{ProfileError, SeriesError};
pub use model::{Format, Frame, HeapProfile, StackSample, sampling_variance};

/// A decompressed profile larger than this is refused (a gzip bomb or
/// not a profile).
const MAX_DECOMPRESSED: u64 = 1 << 30;

/// Reads a heap profile of either format from its bytes.
pub fn read(bytes: &[u8]) -> Result<HeapProfile, ProfileError> {
    if bytes.is_empty() {
        return Err(ProfileError::Empty);
    }
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut inflated = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .take(MAX_DECOMPRESSED)
            .read_to_end(&mut inflated)
            .map_err(|e| ProfileError::Gzip(e.to_string()))?;
        if inflated.starts_with(jemalloc::MAGIC.as_bytes()) {
            return jemalloc::read(&inflated);
        }
        return pprof::read(&inflated).map_err(|e| match e {
            ProfileError::Foreign => ProfileError::GzipForeign,
            other => other,
        });
    }
    if bytes.starts_with(jemalloc::MAGIC.as_bytes()) {
        return jemalloc::read(bytes);
    }
    pprof::read(bytes)
}

/// Reads a heap profile from a file.
pub fn read_path(path: &Path) -> Result<HeapProfile, ProfileError> {
    let bytes = std::fs::read(path).map_err(ProfileError::Io)?;
    read(&bytes)
}

/// A stack's key: its frames' keys, one per line.
pub(crate) fn stack_key(frames: &[Frame]) -> String {
    let keys: Vec<String> = frames.iter().map(Frame::key).collect();
    keys.join("\n")
}

/// Largest live bytes first, then by key (a stable order).
pub(crate) fn sort_stacks(stacks: &mut [StackSample]) {
    stacks.sort_by(|a, b| b.live_bytes.cmp(&a.live_bytes).then(a.key.cmp(&b.key)));
}
