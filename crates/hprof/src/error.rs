//! Why an HPROF file could not be read.

use std::io;

/// Why a heap dump could not be read. Every message is one sentence a
/// person can act on; offsets are byte positions in the file.
#[derive(Debug, thiserror::Error)]
pub enum HprofError {
    /// The underlying reader failed.
    #[error("could not read the heap dump: {0}")]
    Io(#[from] io::Error),
    /// The file does not start with an HPROF header.
    #[error(
        "this is not an HPROF heap dump (it does not start with \"JAVA PROFILE 1.0.x\"): take one with `jcmd PID GC.heap_dump FILE` or `jmap -dump:live,format=b,file=FILE PID`"
    )]
    NotHprof,
    /// The header declares an identifier size other than 4 or 8.
    #[error("the heap dump declares {0}-byte identifiers; only 4 and 8 exist")]
    IdSize(u32),
    /// The file ended inside a record.
    #[error(
        "the heap dump ends early at byte {offset} (inside {context}): the file is cut short, as when the JVM is killed while dumping; take the dump again"
    )]
    Truncated {
        /// Bytes read before the end of the file.
        offset: u64,
        /// What was being read.
        context: &'static str,
    },
    /// A gzip-compressed dump ends before its end: the file was cut.
    #[error(
        "the compressed heap dump ends early at byte {offset}: the gzip file is cut short (an unfinished copy or download, or the JVM killed while dumping); copy or take the dump again"
    )]
    GzipTruncated {
        /// Bytes of the file read before its end.
        offset: u64,
    },
    /// A gzip-compressed dump whose compressed data is damaged.
    #[error(
        "the compressed heap dump is damaged near byte {offset} ({message}): copy or take the dump again"
    )]
    GzipDamaged {
        /// About where, in the file.
        offset: u64,
        /// What the decompressor said.
        message: String,
    },
    /// The bytes do not follow the format.
    #[error("malformed heap dump at byte {offset}: {message}")]
    Malformed {
        /// Where the problem is.
        offset: u64,
        /// What was expected and what was found.
        message: String,
    },
}

impl HprofError {
    pub(crate) fn malformed(offset: u64, message: impl Into<String>) -> HprofError {
        HprofError::Malformed {
            offset,
            message: message.into(),
        }
    }
}
