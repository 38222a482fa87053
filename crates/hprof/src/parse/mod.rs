//! The streaming reader: one pass over the file (two for writers that put an
//! instance before its class), neither of which holds more than a 1 MiB
//! buffer of it.
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

mod input;
pub(crate) mod layout;
mod refs;
pub(crate) mod scan;

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

/// Reads a dump from a file.
pub fn read_dump_file(
    path: &Path,
    progress: Option<&mut dyn FnMut(u64)>,
) -> Result<HprofDump, HprofError> {
    read_dump(File::open(path)?, progress)
}

/// Reads a dump; `progress`, when given, is told the bytes read so far over
/// both passes (twice the file's size in all).
pub fn read_dump<R: Read + Seek>(
    mut reader: R,
    mut progress: Option<&mut dyn FnMut(u64)>,
) -> Result<HprofDump, HprofError> {
    let start = reader.stream_position()?;
    let mut input = Input::new(&mut reader);
    let header = scan::header(&mut input)?;
    let mut first = scan::Scan::new(header.id_size);
    first.records(&mut input, &mut |at| {
        if let Some(p) = progress.as_mut() {
            p(at)
        }
    })?;
    let length = input.offset();
    drop(input);
    let mut laid = layout::lay_out(first)?;
    if !laid.resolved {
        reader.seek(SeekFrom::Start(start))?;
        let mut input = Input::new(&mut reader);
        scan::header(&mut input)?;
        refs::read_references(&mut input, &mut laid, &mut |at| {
            if let Some(p) = progress.as_mut() {
                p(length + at)
            }
        })?;
    } else if let Some(p) = progress.as_mut() {
        p(2 * length);
    }
    Ok(laid.finish(header))
}

/// What the header says.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub(crate) format: String,
    pub(crate) id_size: u8,
    pub(crate) timestamp_ms: u64,
}
