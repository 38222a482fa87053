//! The errors a snapshot can cause.

use std::io;

/// Why a `.heapsnapshot` file could not be read.
///
/// Every variant carries enough context (a byte offset or the field concerned)
/// for a person to find the problem in the file.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The underlying reader failed.
    #[error("could not read the snapshot: {0}")]
    Io(#[from] io::Error),
    /// The file ended before the JSON document was complete.
    #[error(
        "the snapshot ends early at byte {offset} (while reading {context}): the file is truncated"
    )]
    Truncated {
        /// Bytes read before the end of the file.
        offset: u64,
        /// What was being read when the file ended.
        context: &'static str,
    },
    /// The bytes are not the JSON the format requires at this place.
    #[error("malformed snapshot at byte {offset}: {message}")]
    Syntax {
        /// Position of the offending byte.
        offset: u64,
        /// What was expected and what was found.
        message: String,
    },
    /// `snapshot.meta` is missing a field the analysis needs or has the wrong shape.
    #[error("invalid snapshot metadata: {0}")]
    Meta(String),
    /// The arrays do not agree with each other or with the declared counts.
    #[error("inconsistent snapshot: {0}")]
    Inconsistent(String),
}
