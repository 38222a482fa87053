//! gzip-compressed dumps, read as they are decompressed: `jcmd PID
//! GC.heap_dump -gz=1 FILE` (HotSpot writes one gzip member per block, so
//! that threads can compress blocks in parallel) and `.hprof.gz` files as
//! people pass them around (one member). Recognised by content, never by
//! name. Nothing is decompressed to disk or held in memory beyond the
//! reader's buffers; a second pass decompresses the file again.

use std::cell::Cell;
use std::io::{self, BufReader, Read};

use flate2::read::MultiGzDecoder;

use crate::error::HprofError;

/// The first two bytes of every gzip stream.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Whether `prefix` (the first bytes of a file) starts a gzip stream.
pub fn is_gzip(prefix: &[u8]) -> bool {
    prefix.starts_with(&GZIP_MAGIC)
}

/// What a file holds, by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// An HPROF dump, gzip-compressed or not.
    Hprof {
        /// Whether it is gzip-compressed.
        compressed: bool,
    },
    /// A gzip stream that holds something other than an HPROF dump.
    OtherCompressed,
    /// Anything else (a V8 snapshot, say).
    Other,
}

/// Reads the first bytes of `reader` (decompressing them when they are
/// gzip) and says what it holds. A gzip stream too damaged or too short to
/// show its first bytes is an error.
pub fn content_of<R: Read>(reader: R) -> Result<Content, HprofError> {
    let read = Cell::new(0);
    let mut counted = Counted {
        inner: reader,
        read: &read,
    };
    let mut prefix = [0u8; 2];
    let filled = fill(&mut counted, &mut prefix)?;
    if !is_gzip(&prefix[..filled]) {
        let mut head = [0u8; super::MAGIC.len()];
        head[..filled].copy_from_slice(&prefix[..filled]);
        let more = fill(&mut counted, &mut head[filled..])?;
        return Ok(if super::is_hprof(&head[..filled + more]) {
            Content::Hprof { compressed: false }
        } else {
            Content::Other
        });
    }
    let mut decoder = MultiGzDecoder::new(BufReader::new(prefix.as_slice().chain(counted)));
    let mut head = [0u8; super::MAGIC.len()];
    let filled = fill(&mut decoder, &mut head).map_err(|err| gzip_error(err, read.get()))?;
    Ok(if super::is_hprof(&head[..filled]) {
        Content::Hprof { compressed: true }
    } else {
        Content::OtherCompressed
    })
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
pub(crate) fn fill(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(filled)
}

/// A reader that counts the bytes it passes on: the position in the
/// compressed file, for progress and for error messages.
pub(crate) struct Counted<'c, R> {
    pub(crate) inner: R,
    pub(crate) read: &'c Cell<u64>,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.set(self.read.get() + n as u64);
        Ok(n)
    }
}

/// `reader` decompressed, counting the compressed bytes read into `read`.
pub(crate) fn decompressed<'c, R: Read + 'c>(reader: R, read: &'c Cell<u64>) -> impl Read + 'c {
    MultiGzDecoder::new(BufReader::with_capacity(
        1 << 16,
        Counted {
            inner: reader,
            read,
        },
    ))
}

/// The sentence for what the decompressor said, `offset` compressed bytes
/// into the file.
pub(crate) fn gzip_error(err: io::Error, offset: u64) -> HprofError {
    match err.kind() {
        io::ErrorKind::UnexpectedEof => HprofError::GzipTruncated { offset },
        io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => HprofError::GzipDamaged {
            offset,
            message: err.to_string(),
        },
        _ => HprofError::Io(err),
    }
}
