//! Analysing a trace while it is still being written (`heapwise report
//! --follow`, the live view of `heapwise run`).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use heapwise_series::Verdict;
use heapwise_trace::{ExitStatus, StackId, TraceReader};

use crate::GrowthOptions;
use crate::clock::ClockFit;
use crate::merge::Merger;
use crate::model::{Fragmentation, Frame, TimelinePoint};
use crate::pipeline::{Collecting, Collector};
use crate::replay::Replay;
use crate::report::{memory, stacks};
use crate::{Analysis, NativeError, Symbolize};

/// A trace being read as it grows.
pub struct Follower {
    reader: TraceReader,
    /// The batch being gathered (as the report's reading thread gathers
    /// them, so that following a trace replays it as the report does).
    collecting: Collecting,
    merger: Merger,
    /// Everything read so far. Events of the last writer pass wait in the
    /// merger until the next `SYNC` (a fraction of a second).
    pub analysis: Analysis,
    finished: bool,
    /// When the previous snapshot was taken, and the allocations and frees
    /// read by then (for the rates).
    previous: Option<(Instant, u64, u64)>,
    rates: (f64, f64),
}

/// What a live view shows of a trace being followed: everything read so
/// far, judged as the final report would judge it.
pub struct LiveSnapshot {
    /// Seconds of the traced program's run covered so far.
    pub duration_s: f64,
    /// How it ended, once it has.
    pub exit: Option<ExitStatus>,
    /// Bytes live now.
    pub live_bytes: u64,
    /// Blocks live now.
    pub live_allocations: u64,
    /// The most bytes live at once so far, and when (seconds).
    pub peak_live_bytes: u64,
    /// When the peak was reached, seconds from the start.
    pub peak_t_s: f64,
    /// Allocations so far.
    pub allocations: u64,
    /// Frees so far.
    pub frees: u64,
    /// Allocations read per second since the previous snapshot (a rate
    /// over the reader's clock: events arrive a writer pass late).
    pub allocations_per_s: f64,
    /// Frees per second since the previous snapshot.
    pub frees_per_s: f64,
    /// The latest RSS sample and the highest one.
    pub rss_bytes: Option<u64>,
    /// The highest RSS sampled.
    pub rss_peak_bytes: Option<u64>,
    /// The allocator's heap (arenas and mmapped chunks), latest sample.
    pub heap_bytes: Option<u64>,
    /// Events the tracer could not record.
    pub lost_events: u64,
    /// The verdict on live bytes so far.
    pub live: Verdict,
    /// RSS growing while the live heap does not.
    pub fragmentation: Option<Fragmentation>,
    /// Live bytes and RSS over time.
    pub timeline: Vec<TimelinePoint>,
    /// The call stacks holding the most, judged for growth, most suspicious
    /// first.
    pub growing: Vec<LiveStack>,
}

/// One call stack in a [`LiveSnapshot`].
pub struct LiveStack {
    /// The stack.
    pub stack: StackId,
    /// Its frames, innermost (the caller of the allocation API) first.
    pub frames: Vec<Arc<Frame>>,
    /// Bytes it holds now.
    pub live_bytes: u64,
    /// Blocks it holds now.
    pub live_allocations: u64,
    /// The verdict on its live bytes over time.
    pub verdict: Verdict,
}

impl Follower {
    /// Opens a trace (which must have its header written).
    pub fn open(path: &Path) -> Result<Follower, NativeError> {
        let reader = TraceReader::open(path)?;
        let header = reader.header().clone();
        let mut replay = Replay::new(ClockFit::new(header.tick_source, header.start));
        replay.weigh = crate::weigh::Weigh::new(header.sample_interval);
        replay.grow_on_a_thread();
        let clock = replay.clock.clock();
        let analysis = Analysis {
            path: path.display().to_string(),
            header,
            status: reader.status().clone(),
            stacks: heapwise_trace::StackTable::new(),
            replay,
            clock,
            symbols: None,
        };
        Ok(Follower {
            collecting: Collecting::new(reader.header()),
            reader,
            merger: Merger::new(),
            analysis,
            finished: false,
            previous: None,
            rates: (0.0, 0.0),
        })
    }

    /// Reads every block completed since the last call. Returns whether
    /// anything new was read.
    pub fn poll(&mut self) -> Result<bool, NativeError> {
        if self.finished {
            return Ok(false);
        }
        if self.reader.replaced() {
            // The tracer compacted the trace into a new file: read that
            // one from its start (its checkpoint holds everything so far).
            let path = std::path::PathBuf::from(&self.analysis.path);
            let fresh = Follower::open(&path)?;
            self.reader = fresh.reader;
            self.collecting = fresh.collecting;
            self.merger = fresh.merger;
            self.analysis = fresh.analysis;
        }
        let before = self.reader.status().blocks;
        std::mem::swap(self.reader.stacks_mut(), &mut self.analysis.stacks);
        let mut collector = Collector::direct(
            std::mem::take(&mut self.collecting),
            &mut self.merger,
            &mut self.analysis.replay,
        );
        let result = (|| {
            while self.reader.read_block(&mut collector)? {}
            Ok::<(), NativeError>(())
        })();
        self.collecting = collector.into_state();
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
        ) || self.collecting.records_an_end()
            || self.analysis.status.damage.is_some()
    }

    /// Everything a live view shows, from what was read so far: `stacks`
    /// growing call stacks (of the `candidates` holding the most),
    /// symbolized with `symbolizer`. Rates are since the previous snapshot.
    pub fn snapshot(
        &mut self,
        stacks: usize,
        candidates: usize,
        symbolizer: &mut dyn Symbolize,
    ) -> LiveSnapshot {
        let analysis = &self.analysis;
        let replay = &analysis.replay;
        let duration_s = analysis.duration_s();
        let now = Instant::now();
        if let Some((then, allocations, frees)) = self.previous {
            let elapsed = now.duration_since(then).as_secs_f64();
            if elapsed > 0.0 {
                self.rates = (
                    (replay.allocations - allocations) as f64 / elapsed,
                    (replay.frees - frees) as f64 / elapsed,
                );
            }
        }
        self.previous = Some((now, replay.allocations, replay.frees));
        let timeline = memory::timeline(analysis);
        let live = memory::live_verdict_of(&self.analysis, &timeline);
        let rss = memory::rss_verdict(analysis);
        let fragmentation = memory::fragmentation(&timeline, &live, rss.as_ref());
        let mut judged = stacks::stack_growth(
            analysis,
            &timeline,
            &GrowthOptions {
                candidates,
                ..GrowthOptions::default()
            },
        );
        judged.truncate(stacks);
        let first_tick = |s: StackId| analysis.first_tick(s);
        let mut resolver = analysis.resolver(&first_tick);
        resolver.prepare(judged.iter().map(|g| g.stack), symbolizer);
        let growing = judged
            .into_iter()
            .map(|g| {
                let stats = &replay.stacks[g.stack as usize];
                LiveStack {
                    stack: g.stack,
                    frames: resolver.frames(g.stack),
                    live_bytes: stats.live_bytes,
                    live_allocations: stats.live_allocations,
                    verdict: g.verdict,
                }
            })
            .collect();
        let latest = replay.counters.last();
        LiveSnapshot {
            duration_s,
            exit: replay.exit,
            live_bytes: replay.live_bytes,
            live_allocations: replay.live_allocations(),
            peak_live_bytes: replay.peak_live_bytes,
            peak_t_s: analysis.peak_t_s(),
            allocations: replay.allocations,
            frees: replay.frees,
            allocations_per_s: self.rates.0,
            frees_per_s: self.rates.1,
            rss_bytes: latest.and_then(|c| c.rss_bytes),
            rss_peak_bytes: replay.counters.iter().filter_map(|c| c.rss_bytes).max(),
            heap_bytes: latest
                .and_then(|c| Some(c.heap_arena_bytes? + c.heap_mmap_bytes.unwrap_or(0))),
            lost_events: replay.lost,
            live,
            fragmentation,
            timeline,
            growing,
        }
    }

    /// Replays what is still waiting for the next writer pass: call when
    /// no more data will come.
    pub fn finish(&mut self) {
        if !self.finished {
            let mut collector = Collector::direct(
                std::mem::take(&mut self.collecting),
                &mut self.merger,
                &mut self.analysis.replay,
            );
            collector.send();
            self.collecting = collector.into_state();
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
            // Released at once, but for the stream's newest record: one
            // stamped at the same tick may still come.
            assert_eq!(follower.analysis.replay.allocations, round * 10 - 1);
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

    #[test]
    fn a_trace_compacted_into_a_new_file_is_read_anew_from_its_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("live.hwt");
        let mut writer = TraceWriter::create(&path, &Header::new(1, vec!["x".into()])).unwrap();
        let mut enc = StreamEncoder::new();
        let mut buf = vec![0u8; 4096];
        let mut pos = enc.node(&mut buf, 0, 0, 0x1000);
        for i in 0..20u64 {
            pos = enc.alloc(
                &mut buf,
                pos,
                AllocApi::Malloc,
                10 + i,
                100,
                1,
                0x10_0000 + i * 128,
            );
        }
        writer.stream(2, &buf[..pos]);
        writer.control(&ControlRecord::Sync { tick: 100 });
        writer.flush().unwrap();
        let mut follower = Follower::open(&path).unwrap();
        assert!(follower.poll().unwrap());
        // The tracer compacts: a new file renamed over the trace.
        let compacted = dir.path().join(".live.hwt.compacting");
        heapwise_trace::compact::compact_file(&path, &compacted, 1).unwrap();
        std::fs::rename(&compacted, &path).unwrap();
        follower.poll().unwrap();
        follower.finish();
        let replay = &follower.analysis.replay;
        assert!(replay.compacted.is_some(), "read from the new file");
        assert_eq!((replay.allocations, replay.live_bytes), (20, 2000));
    }
}
