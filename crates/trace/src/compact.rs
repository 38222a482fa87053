//! Compacting a trace: a checkpoint in place of everything before it
//! ([`crate::checkpoint`]). The tracer does this as it writes a
//! size-limited trace, with a [`Compactor`] fed every payload it writes;
//! [`compact_file`] does the same to a finished trace (tests, tools).

use std::path::Path;

use crate::block::put_segment_header;
use crate::checkpoint::CHECKPOINT_STREAM;
use crate::decode::SegmentDecoder;
use crate::error::TraceError;
use crate::header::Header;
use crate::reader::TraceReader;
use crate::tally::Tally;

/// Decodes what is written and keeps its tally.
pub struct Compactor {
    decoder: SegmentDecoder,
    tally: Tally,
}

impl Compactor {
    /// A compactor for the trace with this header, before its first block.
    pub fn new(header: &Header) -> Compactor {
        Compactor {
            decoder: SegmentDecoder::new(),
            tally: Tally::new(header),
        }
    }

    /// Takes in one payload (a block's bytes before framing), in file
    /// order. An error says what could not be decoded.
    pub fn observe(&mut self, payload: &[u8]) -> Result<(), String> {
        self.decoder.decode(payload, &mut self.tally)
    }

    /// The tally so far.
    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// Halves the resolution of the history (for a smaller checkpoint).
    pub fn thin(&mut self) {
        self.tally.thin();
    }

    /// Counts the compaction done with the last [`Compactor::checkpoint`].
    pub fn compacted(&mut self) {
        self.tally.compacted();
    }

    /// The checkpoint of everything taken in so far, as payloads to write
    /// as blocks right after the header (each one segment of
    /// [`CHECKPOINT_STREAM`]).
    pub fn checkpoint(&self) -> Vec<Vec<u8>> {
        self.tally
            .encode_checkpoint(&self.decoder)
            .into_iter()
            .map(|segment| {
                let mut payload = Vec::with_capacity(segment.len() + 16);
                put_segment_header(&mut payload, CHECKPOINT_STREAM, segment.len());
                payload.extend_from_slice(&segment);
                payload
            })
            .collect()
    }
}

/// Writes to `output` the trace `input` compacted after its first `split`
/// blocks: the same header, a checkpoint of those blocks, then the
/// remaining blocks as they are. Returns the number of blocks copied.
pub fn compact_file(input: &Path, output: &Path, split: usize) -> Result<usize, TraceError> {
    let mut reader = TraceReader::open(input)?;
    if reader.version() != crate::FORMAT_VERSION {
        // Its blocks, copied as they are, would be read as this format's.
        return Err(TraceError::BadHeader(format!(
            "cannot compact a trace of format {}: only format {}",
            reader.version(),
            crate::FORMAT_VERSION
        )));
    }
    let header = reader.header().clone();
    let mut compactor = Compactor::new(&header);
    let damaged = |reason: String| TraceError::BadHeader(format!("cannot compact: {reason}"));
    let mut seen = 0;
    while seen < split {
        let Some(payload) = reader.next_payload()? else {
            break;
        };
        compactor.observe(payload).map_err(damaged)?;
        seen += 1;
    }
    let mut writer = crate::TraceWriter::create(output, &header)?;
    let io = |source| TraceError::Io {
        path: output.to_path_buf(),
        source,
    };
    for payload in compactor.checkpoint() {
        writer.payload(&payload);
        writer.flush().map_err(io)?;
    }
    let mut copied = 0;
    while let Some(payload) = reader.next_payload()? {
        writer.payload(payload);
        writer.flush().map_err(io)?;
        copied += 1;
    }
    Ok(copied)
}
