//! Errors of the trace reader.

use std::path::PathBuf;

/// Why a trace could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The file could not be opened or read.
    #[error("could not read {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is empty.
    #[error(
        "the file is empty; it is not a heapwise trace (was the traced program started at all?)"
    )]
    Empty,
    /// The file does not start with the trace magic.
    #[error("this is not a heapwise trace (it does not start with the HEAPWISE signature)")]
    NotATrace,
    /// The file was written by a version this reader does not know.
    #[error(
        "this trace has format version {found}, but this heapwise reads versions 1 to {supported}: a newer heapwise wrote it"
    )]
    UnsupportedVersion {
        /// Version in the file.
        found: u16,
        /// The newest version this crate reads.
        supported: u16,
    },
    /// The header is cut short (the writer was killed while starting).
    #[error(
        "the trace header is incomplete (the traced program was stopped while the trace was being created)"
    )]
    TruncatedHeader,
    /// The header is damaged.
    #[error("the trace header is damaged: {0}")]
    BadHeader(String),
    /// Records left in a spill file could not be recovered.
    #[error("cannot recover the records the traced process left in {spill}: {reason}")]
    Unrecoverable {
        /// The spill file.
        spill: PathBuf,
        /// Why.
        reason: String,
    },
}
