//! Block framing: every flush of the tracer is one self-checking block, so a
//! reader can use every complete block of a trace that was cut anywhere.
//!
//! Layout (little-endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `HWBK` |
//! | 4 | 1 | codec: 0 = stored, 1 = zstd frame |
//! | 5 | 3 | reserved (0) |
//! | 8 | 4 | stored length |
//! | 12 | 4 | raw (decoded) length |
//! | 16 | 4 | CRC-32 of the stored bytes |
//! | 20 | n | stored bytes |
//!
//! The decoded payload is a sequence of *segments*: `stream` (varint),
//! `length` (varint), then `length` bytes of that stream's records. Stream 0
//! carries control records.

use crate::varint::{MAX_VARINT_LEN, put_u64};

/// The first four bytes of every block.
pub const BLOCK_MAGIC: [u8; 4] = *b"HWBK";
/// Size of a block header.
pub const BLOCK_HEADER_LEN: usize = 20;
/// The largest decoded payload a block may carry.
pub const MAX_BLOCK_RAW: u32 = 16 << 20;

/// How a block's bytes are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// As is.
    Stored = 0,
    /// One zstd frame.
    Zstd = 1,
}

/// A parsed block header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockHeader {
    /// Codec of the stored bytes.
    pub codec: Codec,
    /// Bytes that follow the header.
    pub stored_len: u32,
    /// Bytes after decoding.
    pub raw_len: u32,
    /// CRC-32 of the stored bytes.
    pub crc: u32,
}

impl BlockHeader {
    /// Parses and sanity-checks a header; `None` if these bytes are not one.
    pub fn parse(bytes: &[u8; BLOCK_HEADER_LEN]) -> Option<BlockHeader> {
        if bytes[..4] != BLOCK_MAGIC || bytes[5..8] != [0, 0, 0] {
            return None;
        }
        let codec = match bytes[4] {
            0 => Codec::Stored,
            1 => Codec::Zstd,
            _ => return None,
        };
        let word = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let header = BlockHeader {
            codec,
            stored_len: word(8),
            raw_len: word(12),
            crc: word(16),
        };
        let consistent = match codec {
            Codec::Stored => header.stored_len == header.raw_len,
            Codec::Zstd => {
                header.stored_len as usize
                    <= zstd::zstd_safe::compress_bound(header.raw_len as usize)
            }
        };
        (header.raw_len <= MAX_BLOCK_RAW && consistent).then_some(header)
    }
}

/// Frames blocks, compressing with zstd when that makes them smaller. Keeps
/// one compression context for all blocks.
pub struct BlockEncoder {
    compressor: zstd::bulk::Compressor<'static>,
    scratch: Vec<u8>,
}

/// The zstd level the tracer writes with: level 1 (strategy "fast"), with
/// a small match table (see [`BlockEncoder::new`]).
pub const ZSTD_LEVEL: i32 = 1;

impl BlockEncoder {
    /// A new encoder. Fails only if zstd cannot allocate its context.
    ///
    /// The writer thread compresses every byte the program's threads
    /// record; when they keep every core busy, its time is theirs. A hash
    /// table of 2^9 entries and matches of at least 7 bytes (level 1 uses
    /// 2^14 and 6) fit the short, repetitive records: on `bench/native.py`
    /// with 2 threads the traced run went from 0.73 s to 0.53 s while the
    /// trace grew from 1.48 to 1.62 bytes per event (heaptrack: 1.38).
    pub fn new() -> std::io::Result<BlockEncoder> {
        use zstd::zstd_safe::CParameter;
        let mut compressor = zstd::bulk::Compressor::new(ZSTD_LEVEL)?;
        compressor.set_parameter(CParameter::HashLog(9))?;
        compressor.set_parameter(CParameter::MinMatch(7))?;
        compressor.set_parameter(CParameter::SearchLog(1))?;
        Ok(BlockEncoder {
            compressor,
            scratch: Vec::new(),
        })
    }

    /// An encoder at zstd `level` with zstd's own parameters for it (for
    /// payloads of packed records, whose columns reward a deeper search).
    pub fn with_level(level: i32) -> std::io::Result<BlockEncoder> {
        Ok(BlockEncoder {
            compressor: zstd::bulk::Compressor::new(level)?,
            scratch: Vec::new(),
        })
    }

    /// Appends one framed block holding `raw` to `out`, compressed when
    /// that makes it smaller.
    pub fn encode(&mut self, raw: &[u8], out: &mut Vec<u8>) {
        check_raw_len(raw);
        self.scratch.clear();
        self.scratch
            .reserve(zstd::zstd_safe::compress_bound(raw.len()));
        let compressed = self
            .compressor
            .compress_to_buffer(raw, &mut self.scratch)
            .is_ok()
            && self.scratch.len() < raw.len();
        let (codec, stored) = if compressed {
            (Codec::Zstd, self.scratch.as_slice())
        } else {
            (Codec::Stored, raw)
        };
        out.extend_from_slice(&header(codec, stored, raw.len()));
        out.extend_from_slice(stored);
    }
}

/// The header of a block that stores `raw` as is: write it, then `raw`.
/// Costs a checksum and no copy (the tracer uses it when compressing would
/// take CPU time from the program).
pub fn stored_header(raw: &[u8]) -> [u8; BLOCK_HEADER_LEN] {
    check_raw_len(raw);
    header(Codec::Stored, raw, raw.len())
}

fn check_raw_len(raw: &[u8]) {
    assert!(
        raw.len() as u64 <= u64::from(MAX_BLOCK_RAW),
        "block payload too large"
    );
}

fn header(codec: Codec, stored: &[u8], raw_len: usize) -> [u8; BLOCK_HEADER_LEN] {
    let mut header = [0u8; BLOCK_HEADER_LEN];
    header[..4].copy_from_slice(&BLOCK_MAGIC);
    header[4] = codec as u8;
    header[8..12].copy_from_slice(&(stored.len() as u32).to_le_bytes());
    header[12..16].copy_from_slice(&(raw_len as u32).to_le_bytes());
    header[16..20].copy_from_slice(&crc32fast::hash(stored).to_le_bytes());
    header
}

/// Why a block's stored bytes could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockError {
    /// The CRC does not match.
    Checksum,
    /// The compressed data is invalid or decodes to the wrong length.
    Codec,
}

/// Decodes blocks, keeping one decompression context.
pub struct BlockDecoder {
    decompressor: zstd::bulk::Decompressor<'static>,
}

impl BlockDecoder {
    /// A new decoder. Fails only if zstd cannot allocate its context.
    pub fn new() -> std::io::Result<BlockDecoder> {
        Ok(BlockDecoder {
            decompressor: zstd::bulk::Decompressor::new()?,
        })
    }

    /// Checks and decodes a block's stored bytes into `raw` (replacing its
    /// contents).
    pub fn decode(
        &mut self,
        header: &BlockHeader,
        stored: &[u8],
        raw: &mut Vec<u8>,
    ) -> Result<(), BlockError> {
        if crc32fast::hash(stored) != header.crc {
            return Err(BlockError::Checksum);
        }
        raw.clear();
        match header.codec {
            Codec::Stored => raw.extend_from_slice(stored),
            Codec::Zstd => {
                raw.reserve(header.raw_len as usize);
                let n = self
                    .decompressor
                    .decompress_to_buffer(stored, raw)
                    .map_err(|_| BlockError::Codec)?;
                if n != header.raw_len as usize {
                    return Err(BlockError::Codec);
                }
            }
        }
        Ok(())
    }
}

impl std::fmt::Debug for BlockDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlockDecoder")
    }
}

impl std::fmt::Debug for BlockEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlockEncoder")
    }
}

/// Appends a segment header (`stream`, `len`) to a payload being built.
pub fn put_segment_header(out: &mut Vec<u8>, stream: u32, len: usize) {
    let mut tmp = [0u8; 2 * MAX_VARINT_LEN];
    let pos = put_u64(&mut tmp, 0, u64::from(stream));
    let pos = put_u64(&mut tmp, pos, len as u64);
    out.extend_from_slice(&tmp[..pos]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_round_trip_compressed_and_stored() {
        let mut encoder = BlockEncoder::new().unwrap();
        let mut decoder = BlockDecoder::new().unwrap();
        for (raw, codec) in [
            (vec![7u8; 10_000], Codec::Zstd),
            ((0..=255u8).collect::<Vec<_>>(), Codec::Stored),
            (Vec::new(), Codec::Stored),
        ] {
            let mut framed = Vec::new();
            encoder.encode(&raw, &mut framed);
            let header =
                BlockHeader::parse(framed[..BLOCK_HEADER_LEN].try_into().unwrap()).unwrap();
            assert_eq!(header.codec, codec);
            let mut out = Vec::new();
            decoder
                .decode(&header, &framed[BLOCK_HEADER_LEN..], &mut out)
                .unwrap();
            assert_eq!(out, raw);
        }
    }

    #[test]
    fn a_stored_header_frames_the_bytes_as_they_are() {
        let raw = vec![7u8; 10_000];
        let header = stored_header(&raw);
        let parsed = BlockHeader::parse(&header).unwrap();
        assert_eq!(parsed.codec, Codec::Stored);
        assert_eq!(parsed.stored_len, 10_000);
        let mut out = Vec::new();
        BlockDecoder::new()
            .unwrap()
            .decode(&parsed, &raw, &mut out)
            .unwrap();
        assert_eq!(out, raw);
    }

    #[test]
    fn a_flipped_bit_is_caught_by_the_checksum() {
        let mut framed = Vec::new();
        BlockEncoder::new()
            .unwrap()
            .encode(&[1, 2, 3, 4, 5], &mut framed);
        let last = framed.len() - 1;
        framed[last] ^= 0x10;
        let header = BlockHeader::parse(framed[..BLOCK_HEADER_LEN].try_into().unwrap()).unwrap();
        let mut out = Vec::new();
        assert_eq!(
            BlockDecoder::new()
                .unwrap()
                .decode(&header, &framed[BLOCK_HEADER_LEN..], &mut out),
            Err(BlockError::Checksum)
        );
    }
}
