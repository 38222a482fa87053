//! The streaming reader: one pass over the file (two for writers that put an
//! instance before its class), neither of which holds more than a 1 MiB
//! buffer of it.
//!
//! gzip-compressed dumps are decompressed as they are read
//! ([`compressed`]), each pass anew.
//!
//! 1. [`scan`] reads every record: strings, class names, stack traces and
//!    threads, class layouts, GC roots, and per object its address, class,
//!    length, number of references and the references' addresses.
//! 2. [`layout`] lays classes out (reference fields, shallow sizes), sorts
//!    the objects by address and allocates the edge array.
//! 3. the references become the nodes they point to, found by address:
//!    from the addresses pass 1 kept when every instance's class came before
//!    it (HotSpot writes all classes first), otherwise by [`refs`] reading
//!    the file a second time.

pub(crate) mod compressed;
mod input;
pub(crate) mod layout;
mod refs;
pub(crate) mod scan;

use std::cell::Cell;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::HprofError;
use crate::model::HprofDump;
use input::Input;

/// The first bytes of every HPROF file.
pub const MAGIC: &[u8] = b"JAVA PROFILE 1.0.";

/// Whether `prefix` (the first bytes of a file) starts an HPROF dump.
pub fn is_hprof(prefix: &[u8]) -> bool {
    prefix.starts_with(MAGIC)
}

/// Reads a dump from a file, gzip-compressed or not.
pub fn read_dump_file(
    path: &Path,
    progress: Option<&mut dyn FnMut(u64)>,
) -> Result<HprofDump, HprofError> {
    read_dump(File::open(path)?, progress)
}

/// Reads a dump, gzip-compressed or not (recognised by its first bytes);
/// `progress`, when given, is told the bytes of the file read so far over
/// both passes (twice the file's size in all).
pub fn read_dump<R: Read + Seek>(
    mut reader: R,
    mut progress: Option<&mut dyn FnMut(u64)>,
) -> Result<HprofDump, HprofError> {
    let start = reader.stream_position()?;
    let mut magic = [0u8; 2];
    let filled = compressed::fill(&mut reader, &mut magic)?;
    let compressed = compressed::is_gzip(&magic[..filled]);
    // The compressed bytes read, when the file is gzip: the decompressed
    // offsets the passes know are not positions in the file.
    let read = Cell::new(0u64);
    let gzip = compressed.then_some(&read);
    let at = |offset: u64| if compressed { read.get() } else { offset };
    let mut report = |bytes: u64| {
        if let Some(p) = progress.as_mut() {
            p(bytes)
        }
    };
    let result = (|| {
        let mut input = open_pass(&mut reader, start, gzip)?;
        let header = scan::header(&mut input)?;
        let mut first = scan::Scan::new(header.id_size);
        first.records(&mut input, &mut |offset| report(at(offset)))?;
        let length = at(input.offset());
        drop(input);
        let mut laid = layout::lay_out(first)?;
        if !laid.resolved {
            let mut input = open_pass(&mut reader, start, gzip)?;
            scan::header(&mut input)?;
            refs::read_references(&mut input, &mut laid, &mut |offset| {
                report(length + at(offset))
            })?;
        } else {
            report(2 * length);
        }
        Ok(laid.finish(header))
    })();
    result.map_err(|err| match err {
        HprofError::Io(err) if compressed => compressed::gzip_error(err, read.get()),
        // The decompressed data ended cleanly between two gzip members.
        HprofError::Truncated { .. } if compressed => {
            HprofError::GzipTruncated { offset: read.get() }
        }
        err => err,
    })
}

/// The input of one pass, from the start: the file, or its decompressed
/// content (counting the compressed bytes read into `gzip`).
fn open_pass<'r, R: Read + Seek>(
    reader: &'r mut R,
    start: u64,
    gzip: Option<&'r Cell<u64>>,
) -> Result<Input<Box<dyn Read + 'r>>, HprofError> {
    reader.seek(SeekFrom::Start(start))?;
    Ok(Input::new(match gzip {
        Some(read) => {
            read.set(0);
            Box::new(compressed::decompressed(reader, read))
        }
        None => Box::new(reader),
    }))
}

/// What the header says.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub(crate) format: String,
    pub(crate) id_size: u8,
    pub(crate) timestamp_ms: u64,
}
