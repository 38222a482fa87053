//! A big-endian byte reader over any `Read`, with its own buffer and the
//! byte offset of everything it returns (for error messages).

use std::io::{self, Read};

use crate::error::HprofError;

const BUFFER: usize = 1 << 20;

/// Reads the dump front to back; an end of file inside a value is [`HprofError::Truncated`].
pub(crate) struct Input<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    /// File offset of `buf[0]`.
    base: u64,
    id_size: u8,
    /// What is being read, for a truncation message.
    pub(crate) context: &'static str,
}

impl<R: Read> Input<R> {
    pub(crate) fn new(inner: R) -> Self {
        Input {
            inner,
            buf: vec![0; BUFFER].into_boxed_slice(),
            pos: 0,
            end: 0,
            base: 0,
            id_size: 8,
            context: "the header",
        }
    }

    pub(crate) fn set_id_size(&mut self, size: u8) {
        self.id_size = size;
    }

    pub(crate) fn id_size(&self) -> u8 {
        self.id_size
    }

    /// Offset of the next byte.
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn truncated(&self) -> HprofError {
        HprofError::Truncated {
            offset: self.base + self.end as u64,
            context: self.context,
        }
    }

    /// Makes at least `n` (at most the buffer size) bytes available; false at end of file.
    fn fill(&mut self, n: usize) -> Result<bool, HprofError> {
        if self.end - self.pos >= n {
            return Ok(true);
        }
        self.buf.copy_within(self.pos..self.end, 0);
        self.base += self.pos as u64;
        self.end -= self.pos;
        self.pos = 0;
        while self.end < n {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(read) => self.end += read,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err.into()),
            }
        }
        Ok(true)
    }

    /// Whether the input is at its end.
    pub(crate) fn at_end(&mut self) -> Result<bool, HprofError> {
        Ok(!self.fill(1)?)
    }

    /// `n` bytes (at most 1 MiB) as a slice.
    pub(crate) fn bytes(&mut self, n: usize) -> Result<&[u8], HprofError> {
        if n > self.buf.len() {
            return Err(HprofError::malformed(
                self.offset(),
                format!("a value of {n} bytes where at most {} fit", self.buf.len()),
            ));
        }
        if !self.fill(n)? {
            return Err(self.truncated());
        }
        let start = self.pos;
        self.pos += n;
        Ok(&self.buf[start..start + n])
    }

    /// Bytes up to the first zero (the header's format name), not including it.
    pub(crate) fn until_zero(&mut self, max: usize) -> Result<Option<Vec<u8>>, HprofError> {
        let mut out = Vec::new();
        loop {
            if !self.fill(1)? {
                return Ok(None);
            }
            let byte = self.buf[self.pos];
            self.pos += 1;
            if byte == 0 {
                return Ok(Some(out));
            }
            out.push(byte);
            if out.len() > max {
                return Ok(None);
            }
        }
    }

    pub(crate) fn u8(&mut self) -> Result<u8, HprofError> {
        Ok(self.bytes(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, HprofError> {
        let b = self.bytes(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, HprofError> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, HprofError> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// An identifier (4 or 8 bytes).
    pub(crate) fn id(&mut self) -> Result<u64, HprofError> {
        if self.id_size == 4 {
            Ok(u64::from(self.u32()?))
        } else {
            self.u64()
        }
    }

    /// Skips `n` bytes.
    pub(crate) fn skip(&mut self, mut n: u64) -> Result<(), HprofError> {
        while n > 0 {
            let available = (self.end - self.pos) as u64;
            if available == 0 {
                if !self.fill(1)? {
                    return Err(self.truncated());
                }
                continue;
            }
            let step = available.min(n);
            self.pos += step as usize;
            n -= step;
        }
        Ok(())
    }

    /// Calls `f` with successive chunks of the next `n` bytes, each a whole
    /// number of `unit`-byte values.
    pub(crate) fn chunks(
        &mut self,
        mut n: u64,
        unit: usize,
        mut f: impl FnMut(&[u8]),
    ) -> Result<(), HprofError> {
        while n > 0 {
            if !self.fill(unit)? {
                return Err(self.truncated());
            }
            let available = ((self.end - self.pos) / unit * unit) as u64;
            let step = available.min(n) as usize;
            f(&self.buf[self.pos..self.pos + step]);
            self.pos += step;
            n -= step as u64;
        }
        Ok(())
    }
}

/// Reads a big-endian identifier of `size` bytes from the start of `b`.
#[inline]
pub(crate) fn id_at(b: &[u8], size: usize) -> u64 {
    if size == 4 {
        u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    } else {
        u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
    }
}
