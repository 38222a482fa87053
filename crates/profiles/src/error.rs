//! Why a profile, or a series of them, could not be read.

/// Why a file is not a heap profile heapwise reads. Each says it in one
/// sentence.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file is empty.
    #[error("the file is empty")]
    Empty,
    /// Neither format.
    #[error(
        "not a heap profile heapwise reads: neither a pprof profile.proto (gzip'd or not) nor a jemalloc heap_v2 dump, or one cut short"
    )]
    Foreign,
    /// A gzip stream that ends early or is damaged.
    #[error("the gzip stream is cut short or damaged ({0}): the profile is incomplete")]
    Gzip(String),
    /// gzip'd, but not a pprof profile inside.
    #[error("gzip-compressed, but what it holds is not a pprof profile.proto")]
    GzipForeign,
    /// A pprof profile whose contents do not hold together.
    #[error("the pprof profile is damaged or cut short: {0}")]
    PprofDamaged(String),
    /// A pprof profile of something else than the heap.
    #[error(
        "a pprof profile, but not of the heap: its sample types are {0} (a heap profile has inuse_space)"
    )]
    NotHeap(String),
    /// A jemalloc dump that ends before its `MAPPED_LIBRARIES:` section.
    #[error(
        "the jemalloc dump ends before its MAPPED_LIBRARIES: section (after {0} lines): it was cut short"
    )]
    JemallocTruncated(usize),
    /// A jemalloc dump with a line that is not of the format.
    #[error("line {line} of the jemalloc dump is not of the heap_v2 format: {text:?}")]
    JemallocLine {
        /// 1-based.
        line: usize,
        /// The line (its first 80 characters).
        text: String,
    },
    /// Reading the file failed.
    #[error("could not read the file")]
    Io(#[source] std::io::Error),
}

/// Why a series of profiles cannot be judged together.
#[derive(Debug, thiserror::Error)]
pub enum SeriesError {
    /// Fewer than two profiles.
    #[error("a series needs at least two profiles, got {0}")]
    TooFew(usize),
    /// Profiles of different formats.
    #[error(
        "{first} is a {first_format} but {other} is a {other_format}: a series is of one profiler"
    )]
    MixedFormats {
        /// The first profile's name.
        first: String,
        /// Its format.
        first_format: &'static str,
        /// The first profile of another format.
        other: String,
        /// That one's format.
        other_format: &'static str,
    },
    /// `--by-mtime` without a modification time.
    #[error("{0} has no modification time to order it by")]
    NoMtime(String),
}
