//! Analysing a trace while it is still being written (`heapwise report
//! --follow`, the live view of `heapwise run`).

use std::path::Path;

use heapwise_trace::{ExitStatus, TraceReader};

use crate::clock::ClockFit;
use crate::merge::{Feed, Merger};
use crate::replay::Replay;
use crate::{Analysis, NativeError};

/// A trace being read as it grows.
pub struct Follower {
    reader: TraceReader,
    merger: Merger,
    /// Everything read so far. Events of the last writer pass wait in the
    /// merger until the next `SYNC` (a fraction of a second).
    pub analysis: Analysis,
    finished: bool,
}

impl Follower {
    /// Opens a trace (which must have its header written).
    pub fn open(path: &Path) -> Result<Follower, NativeError> {
        let reader = TraceReader::open(path)?;
        let header = reader.header().clone();
        let replay = Replay::new(ClockFit::new(header.tick_source, header.start));
        let clock = replay.clock.clock();
        let analysis = Analysis {
            path: path.display().to_string(),
            header,
            status: reader.status().clone(),
            stacks: heapwise_trace::StackTable::new(),
            replay,
            clock,
        };
        Ok(Follower {
            reader,
            merger: Merger::new(),
            analysis,
            finished: false,
        })
    }

    /// Reads every block completed since the last call. Returns whether
    /// anything new was read.
    pub fn poll(&mut self) -> Result<bool, NativeError> {
        if self.finished {
            return Ok(false);
        }
        let before = self.reader.status().blocks;
        std::mem::swap(self.reader.stacks_mut(), &mut self.analysis.stacks);
        let mut feed = Feed {
            merger: &mut self.merger,
            replay: &mut self.analysis.replay,
        };
        let result = (|| {
            while self.reader.read_block(&mut feed)? {}
            Ok::<(), NativeError>(())
        })();
        std::mem::swap(self.reader.stacks_mut(), &mut self.analysis.stacks);
        result?;
        self.analysis.status = self.reader.status().clone();
        self.analysis.clock = self.analysis.replay.clock.clock();
        if self.ended() {
            self.finish();
        }
        Ok(self.reader.status().blocks > before)
    }

    /// Whether the traced process recorded its end (exit, signal).
    pub fn ended(&self) -> bool {
        matches!(
            self.analysis.replay.exit,
            Some(ExitStatus::Code(_) | ExitStatus::Signal(_))
        ) || self.analysis.status.damage.is_some()
    }

    /// Replays what is still waiting for the next writer pass: call when
    /// no more data will come.
    pub fn finish(&mut self) {
        if !self.finished {
            self.merger.finish(&mut self.analysis.replay);
            self.finished = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use heapwise_trace::{AllocApi, ControlRecord, ExitStatus, Header, StreamEncoder, TraceWriter};

    #[test]
    fn a_growing_trace_is_picked_up_block_by_block() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("live.hwt");
        let mut writer = TraceWriter::create(&path, &Header::new(1, vec!["x".into()])).unwrap();
        let mut follower = Follower::open(&path).unwrap();
        assert!(!follower.poll().unwrap());
        let mut enc = StreamEncoder::new();
        let mut buf = vec![0u8; 4096];
        let mut tick = 0;
        for round in 1..=3u64 {
            let mut pos = if round == 1 {
                enc.node(&mut buf, 0, 0, 0x1000)
            } else {
                0
            };
            for _ in 0..10 {
                tick += 10;
                pos = enc.alloc(
                    &mut buf,
                    pos,
                    AllocApi::Malloc,
                    tick,
                    100,
                    1,
                    0x10_0000 + tick * 16,
                );
            }
            writer.stream(2, &buf[..pos]);
            writer.control(&ControlRecord::Sync { tick: tick + 1 });
            writer.flush().unwrap();
            assert!(follower.poll().unwrap());
            // Released one writer pass later.
            assert_eq!(follower.analysis.replay.allocations, (round - 1) * 10);
        }
        writer.control(&ControlRecord::Exit {
            ts: tick + 5,
            status: ExitStatus::Code(0),
        });
        writer.flush().unwrap();
        follower.poll().unwrap();
        assert!(follower.ended());
        assert_eq!(follower.analysis.replay.allocations, 30);
        assert_eq!(follower.analysis.replay.live_bytes, 3000);
        assert_eq!(follower.analysis.stacks.len(), 2);
    }
}
