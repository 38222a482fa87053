//! A small growable encoder and a bounds-checked cursor for the records that
//! are not on the hot path (header and control records).

use crate::varint::{MAX_VARINT_LEN, get_u64, put_u64};

/// Appends varints, strings and byte strings to a `Vec<u8>`.
#[derive(Debug, Default)]
pub struct Writer {
    /// The encoded bytes.
    pub buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Writer {
        Writer::default()
    }

    /// Appends one byte.
    pub fn u8(&mut self, value: u8) {
        self.buf.push(value);
    }

    /// Appends an unsigned varint.
    pub fn u64(&mut self, value: u64) {
        let mut tmp = [0u8; MAX_VARINT_LEN];
        let len = put_u64(&mut tmp, 0, value);
        self.buf.extend_from_slice(&tmp[..len]);
    }

    /// Appends a signed varint (zig-zag).
    pub fn i64(&mut self, value: i64) {
        self.u64(crate::varint::zigzag(value));
    }

    /// Appends a length-prefixed byte string.
    pub fn bytes(&mut self, value: &[u8]) {
        self.u64(value.len() as u64);
        self.buf.extend_from_slice(value);
    }
}

/// Reads what [`Writer`] wrote; every read fails cleanly at the end.
#[derive(Debug)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Cursor<'a> {
        Cursor { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Whether everything was consumed.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Bytes not consumed yet.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Option<u8> {
        let value = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(value)
    }

    /// Reads an unsigned varint.
    pub fn u64(&mut self) -> Option<u64> {
        get_u64(self.buf, &mut self.pos)
    }

    /// Reads an unsigned varint that must fit in `u32`.
    pub fn u32(&mut self) -> Option<u32> {
        u32::try_from(self.u64()?).ok()
    }

    /// Reads a signed varint.
    pub fn i64(&mut self) -> Option<i64> {
        Some(crate::varint::unzigzag(self.u64()?))
    }

    /// Reads a length-prefixed byte string.
    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.u64()?).ok()?;
        let end = self.pos.checked_add(len)?;
        let value = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(value)
    }

    /// Reads a length-prefixed string, replacing invalid UTF-8.
    pub fn string(&mut self) -> Option<String> {
        Some(String::from_utf8_lossy(self.bytes()?).into_owned())
    }
}
