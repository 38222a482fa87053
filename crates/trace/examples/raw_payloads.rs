//! Writes the decoded payload of every block of a trace to stdout: for
//! measuring how well other codecs would compress the record stream.
//!
//! `cargo run -p heapwise-trace --example raw_payloads -- TRACE > raw.bin`

use std::io::Write;

use heapwise_trace::block::{BLOCK_HEADER_LEN, BlockDecoder, BlockHeader};
use heapwise_trace::header::{FIXED_HEADER_LEN, Header};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: raw_payloads TRACE")?;
    let data = std::fs::read(path)?;
    let (len, _) = Header::parse_fixed(&data)?;
    let mut pos = FIXED_HEADER_LEN + len as usize;
    let mut out = std::io::stdout().lock();
    let mut raw = Vec::new();
    let mut decoder = BlockDecoder::new()?;
    while pos + BLOCK_HEADER_LEN <= data.len() {
        let header =
            BlockHeader::parse(data[pos..pos + BLOCK_HEADER_LEN].try_into()?).ok_or("bad block")?;
        let body = pos + BLOCK_HEADER_LEN;
        let end = body + header.stored_len as usize;
        if end > data.len() {
            break;
        }
        decoder
            .decode(&header, &data[body..end], &mut raw)
            .map_err(|e| format!("{e:?}"))?;
        out.write_all(&raw)?;
        pos = end;
    }
    Ok(())
}
