//! Writes a trace's decoded payloads (each block's bytes before framing)
//! to stdout, back to back: for measuring what compressors make of the
//! encoding. `cargo run -p heapwise-trace --example payloads -- TRACE > raw`
use std::io::Write;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: payloads TRACE")?;
    let mut reader = heapwise_trace::TraceReader::open(&path)?;
    let mut out = std::io::stdout().lock();
    while let Some(payload) = reader.next_payload()? {
        out.write_all(payload)?;
    }
    Ok(())
}
