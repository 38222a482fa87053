//! The running summary a size-limited trace's checkpoint is made of.
//!
//! A [`Tally`] is fed every event of a trace in file order (it is a
//! [`Visitor`]) and keeps, in memory bounded by the live blocks and the
//! call stacks rather than by the trace's length: the report's totals and
//! per-stack counters, the recorded blocks still live (pairing frees as
//! [`LiveSet`] does), the control records a report needs later (modules,
//! notes, the latest clock) and a *history* of memory over time — one
//! [`Snapshot`] per interval, the interval doubling (and every other
//! snapshot merged into its successor) whenever [`MAX_SNAPSHOTS`] are
//! kept, so a week is covered as well as a minute, only more coarsely.
//! [`Tally::checkpoint`] is its state as a [`Checkpoint`].
//!
//! The tracer keeps one while it writes a size-limited trace; reading a
//! checkpoint continues one ([`Tally::event`] with
//! [`Event::Checkpoint`]), so a trace can be compacted again and again.

use crate::checkpoint::{
    self, Checkpoint, ClassTotals, Live, Snapshot, StackLive, StackTotals, Totals, size_class,
};
use crate::control::{ClockSync, ControlRecord, Counters};
use crate::decode::SegmentDecoder;
use crate::header::{Header, TickSource};
use crate::liveset::{Freed, Inserted, LiveSet, Stamped};
use crate::reader::{Event, Visitor};
use crate::stacks::{StackId, StackTable};
use crate::weigh::Weigh;

/// Snapshots a history keeps at most.
pub const MAX_SNAPSHOTS: usize = 512;
/// The first interval between snapshots, in seconds (about a writer
/// pass: a short run's history is as fine as its trace was).
const FIRST_INTERVAL_S: f64 = 0.1;
/// Notes kept (the first ones; the rest are counted in one more note).
const MAX_NOTES: usize = 64;
/// Pending frees are forgotten after this long (see [`LiveSet::sweep`]).
const SWEEP_WINDOW_S: f64 = 10.0;

#[derive(Clone, Copy, Debug, Default)]
struct Held {
    size: u64,
    tick: u64,
    stack: StackId,
    count: u32,
}

impl Stamped for Held {
    fn tick(&self) -> u64 {
        self.tick
    }
}

#[derive(Clone, Debug, Default)]
struct Counts {
    allocations: u64,
    allocated_bytes: u64,
    first_tick: u64,
    temporary: u64,
    live_bytes: u64,
    live_blocks: u64,
    at_peak: u64,
    peak_epoch: u32,
    /// Changed since the last snapshot.
    dirty: bool,
}

/// See the module documentation.
pub struct Tally {
    weigh: Weigh,
    start: ClockSync,
    tick_source: TickSource,
    /// Ticks per second, once known.
    ticks_per_s: Option<f64>,
    totals: Totals,
    classes: [ClassTotals; 3],
    stacks: Vec<Counts>,
    live: LiveSet<Held>,
    live_bytes: u64,
    live_blocks: u64,
    /// Per stream: the last pointer it allocated, while not freed.
    last_alloc: Vec<u64>,
    peak_epoch: u32,
    controls: Vec<ControlRecord>,
    notes: usize,
    counters: Option<Counters>,
    compactions: u32,
    events_since_sweep: u64,
    // The history.
    snapshots: Vec<Snapshot>,
    /// Seconds between snapshots.
    interval_s: f64,
    last_snapshot: Option<u64>,
    max_live: u64,
    dirty: Vec<StackId>,
    /// The latest `SYNC` tick.
    synced: u64,
}

impl Tally {
    /// A tally of the trace with this header, before its first record.
    pub fn new(header: &Header) -> Tally {
        Tally {
            weigh: Weigh::new(header.sample_interval),
            start: header.start,
            tick_source: header.tick_source,
            ticks_per_s: (!header.tick_source.fitted()).then_some(1e9),
            totals: Totals::default(),
            classes: [ClassTotals::default(); 3],
            stacks: Vec::new(),
            live: LiveSet::default(),
            live_bytes: 0,
            live_blocks: 0,
            last_alloc: Vec::new(),
            peak_epoch: 0,
            controls: Vec::new(),
            notes: 0,
            counters: None,
            compactions: 0,
            events_since_sweep: 0,
            snapshots: Vec::new(),
            interval_s: FIRST_INTERVAL_S,
            last_snapshot: None,
            max_live: 0,
            dirty: Vec::new(),
            synced: 0,
        }
    }

    /// Recorded blocks live now.
    pub fn live_records(&self) -> usize {
        self.live.len()
    }

    /// Snapshots in the history.
    pub fn snapshots(&self) -> usize {
        self.snapshots.len()
    }

    /// Halves the history's resolution (every other snapshot merged into
    /// its successor), for a checkpoint that must be smaller.
    pub fn thin(&mut self) {
        self.halve();
    }

    /// The tally as a checkpoint, counting the compaction it is for.
    pub fn checkpoint(&self) -> Checkpoint {
        let at_peak = |c: &Counts| {
            if c.peak_epoch == self.peak_epoch {
                c.at_peak
            } else {
                c.live_bytes
            }
        };
        Checkpoint {
            tick: self.synced.max(self.totals.last_tick),
            compactions: self.compactions + 1,
            totals: self.totals.clone(),
            classes: self.classes,
            stacks: self
                .stacks
                .iter()
                .enumerate()
                .filter(|(_, c)| c.allocations > 0)
                .map(|(id, c)| StackTotals {
                    stack: id as StackId,
                    allocations: c.allocations,
                    allocated_bytes: c.allocated_bytes,
                    first_tick: c.first_tick,
                    temporary: c.temporary,
                    at_peak: at_peak(c),
                })
                .collect(),
            live: self
                .live
                .iter()
                .map(|(ptr, h)| Live {
                    ptr,
                    size: h.size,
                    stack: h.stack,
                    tick: h.tick,
                })
                .collect(),
            history: self.snapshots.clone(),
            streams: Vec::new(),
        }
    }

    /// Counts a compaction done (with the last [`Tally::checkpoint`]).
    pub fn compacted(&mut self) {
        self.compactions += 1;
    }

    /// The checkpoint's segments ([`checkpoint::encode`]), with the
    /// decoding state of `decoder`, which decoded what this tally saw.
    pub fn encode_checkpoint(&self, decoder: &SegmentDecoder) -> Vec<Vec<u8>> {
        let checkpoint = self.checkpoint();
        checkpoint::encode(
            &checkpoint,
            decoder.stacks(),
            &decoder.stream_states(),
            &self.controls,
        )
    }

    fn counts(&mut self, stack: StackId) -> &mut Counts {
        let index = stack as usize;
        if index >= self.stacks.len() {
            self.stacks.resize(index + 1, Counts::default());
        }
        &mut self.stacks[index]
    }

    fn alloc(&mut self, stream: u32, ptr: u64, size: u64, stack: StackId, tick: u64) {
        let count = self.weigh.count(size, ptr, tick);
        let (n, bytes) = (u64::from(count), self.weigh.bytes(size));
        let t = &mut self.totals;
        t.recorded += 1;
        t.allocations += n;
        t.allocated_bytes += bytes;
        t.last_tick = t.last_tick.max(tick);
        let class = &mut self.classes[size_class(size)];
        class.allocations += n;
        class.allocated_bytes += bytes;
        let index = stream as usize;
        if index >= self.last_alloc.len() {
            self.last_alloc.resize(index + 1, 0);
        }
        self.last_alloc[index] = ptr;
        let counts = self.counts(stack);
        if counts.allocations == 0 {
            counts.first_tick = tick;
        }
        counts.allocations += n;
        counts.allocated_bytes += bytes;
        let held = Held {
            size,
            tick,
            stack,
            count,
        };
        match self.live.insert(ptr, held) {
            Inserted::Added => self.add(held),
            Inserted::Replaced(old) => {
                self.remove(old);
                self.add(held);
            }
            Inserted::Gone => {}
        }
    }

    fn free(&mut self, stream: u32, ptr: u64, tick: u64) {
        self.totals.last_tick = self.totals.last_tick.max(tick);
        let temporary = match self.last_alloc.get_mut(stream as usize) {
            Some(last) if *last == ptr => {
                *last = 0;
                true
            }
            _ => false,
        };
        match self.live.free(ptr, tick) {
            Freed::Block(held) => {
                let n = u64::from(held.count);
                self.totals.frees += n;
                self.remove(held);
                if temporary {
                    self.totals.temporary += n;
                    self.counts(held.stack).temporary += n;
                }
            }
            Freed::Stale | Freed::Unknown => self.totals.frees += 1,
        }
    }

    fn change(&mut self, stack: StackId, bytes: i128, blocks: i128) {
        let epoch = self.peak_epoch;
        let counts = self.counts(stack);
        if counts.peak_epoch != epoch {
            counts.at_peak = counts.live_bytes;
            counts.peak_epoch = epoch;
        }
        counts.live_bytes = (i128::from(counts.live_bytes) + bytes).max(0) as u64;
        counts.live_blocks = (i128::from(counts.live_blocks) + blocks).max(0) as u64;
        if !counts.dirty {
            counts.dirty = true;
            self.dirty.push(stack);
        }
    }

    fn add(&mut self, held: Held) {
        let bytes = self.weigh.bytes(held.size);
        self.change(held.stack, i128::from(bytes), i128::from(held.count));
        self.live_bytes += bytes;
        self.live_blocks += u64::from(held.count);
        self.max_live = self.max_live.max(self.live_bytes);
        if self.live_bytes > self.totals.peak_live_bytes {
            self.totals.peak_live_bytes = self.live_bytes;
            self.totals.peak_tick = held.tick;
            self.peak_epoch = self.peak_epoch.wrapping_add(1);
        }
    }

    fn remove(&mut self, held: Held) {
        let bytes = self.weigh.bytes(held.size);
        self.change(held.stack, -i128::from(bytes), -i128::from(held.count));
        self.live_bytes = self.live_bytes.saturating_sub(bytes);
        self.live_blocks = self.live_blocks.saturating_sub(u64::from(held.count));
    }

    fn control(&mut self, record: &ControlRecord) {
        match record {
            ControlRecord::Sync { tick } => {
                self.synced = self.synced.max(*tick);
                self.maybe_snapshot(*tick);
            }
            ControlRecord::Counters(counters) => self.counters = Some(counters.clone()),
            ControlRecord::Clock(sample) => {
                if self.tick_source.fitted()
                    && sample.monotonic_ns > self.start.monotonic_ns + 10_000_000
                {
                    let ticks = sample.tick.saturating_sub(self.start.tick) as f64;
                    let s = (sample.monotonic_ns - self.start.monotonic_ns) as f64 / 1e9;
                    self.ticks_per_s = Some(ticks / s);
                }
                self.controls
                    .retain(|r| !matches!(r, ControlRecord::Clock(_)));
                self.controls.push(record.clone());
            }
            ControlRecord::Note { .. } => {
                self.notes += 1;
                if self.notes <= MAX_NOTES {
                    self.controls.push(record.clone());
                }
            }
            ControlRecord::ModuleLoad(_)
            | ControlRecord::ModuleUnload { .. }
            | ControlRecord::Exit { .. }
            | ControlRecord::Sampling { .. }
            | ControlRecord::Reachability(_)
            | ControlRecord::LostBlocks(_)
            | ControlRecord::Recovered(_) => self.controls.push(record.clone()),
        }
    }

    fn maybe_snapshot(&mut self, tick: u64) {
        let Some(ticks_per_s) = self.ticks_per_s else {
            return;
        };
        // The first pass gives the first snapshot: the history starts
        // where the program did.
        let due = match self.last_snapshot {
            None => true,
            Some(last) => tick.saturating_sub(last) as f64 >= self.interval_s * ticks_per_s,
        };
        if !due {
            return;
        }
        let mut changed: Vec<StackLive> = std::mem::take(&mut self.dirty)
            .into_iter()
            .map(|stack| {
                let counts = &mut self.stacks[stack as usize];
                counts.dirty = false;
                StackLive {
                    stack,
                    bytes: counts.live_bytes,
                    blocks: counts.live_blocks,
                }
            })
            .collect();
        changed.sort_unstable_by_key(|s| s.stack);
        self.snapshots.push(Snapshot {
            tick,
            live_bytes: self.live_bytes,
            live_blocks: self.live_blocks,
            max_live_bytes: self.max_live,
            allocations: self.totals.allocations,
            allocated_bytes: self.totals.allocated_bytes,
            frees: self.totals.frees,
            counters: self.counters.take(),
            stacks: changed,
        });
        self.max_live = self.live_bytes;
        self.last_snapshot = Some(tick);
        if self.snapshots.len() >= MAX_SNAPSHOTS {
            self.halve();
        }
        if self.events_since_sweep >= 1 << 16 {
            self.events_since_sweep = 0;
            let window = (SWEEP_WINDOW_S * ticks_per_s) as u64;
            self.live
                .sweep(self.totals.last_tick.saturating_sub(window));
        }
    }

    /// Merges every other snapshot into its successor (the first is kept)
    /// and doubles the interval.
    fn halve(&mut self) {
        let old = std::mem::take(&mut self.snapshots);
        let mut carried: Option<Snapshot> = None;
        let last = old.len().saturating_sub(1);
        for (i, snapshot) in old.into_iter().enumerate() {
            let snapshot = match carried.take() {
                Some(earlier) => merge(earlier, snapshot),
                None => snapshot,
            };
            // The first is kept: the history starts where the program did.
            if i % 2 == 0 || i == last {
                self.snapshots.push(snapshot);
            } else {
                carried = Some(snapshot);
            }
        }
        // New snapshots as far apart as the kept ones (passes may be
        // sparser than the interval asked for).
        let span_s = match (
            self.snapshots.first(),
            self.snapshots.last(),
            self.ticks_per_s,
        ) {
            (Some(first), Some(last), Some(rate)) if self.snapshots.len() > 1 => {
                (last.tick - first.tick) as f64 / rate / (self.snapshots.len() - 1) as f64
            }
            _ => 0.0,
        };
        self.interval_s = (self.interval_s * 2.0).max(span_s);
    }

    fn seed(&mut self, c: &Checkpoint) {
        self.compactions = c.compactions;
        self.totals = c.totals.clone();
        self.classes = c.classes;
        self.synced = c.tick;
        for s in &c.stacks {
            let counts = self.counts(s.stack);
            counts.allocations = s.allocations;
            counts.allocated_bytes = s.allocated_bytes;
            counts.first_tick = s.first_tick;
            counts.temporary = s.temporary;
            counts.at_peak = s.at_peak;
        }
        for l in &c.live {
            let held = Held {
                size: l.size,
                tick: l.tick,
                stack: l.stack,
                count: self.weigh.count(l.size, l.ptr, l.tick),
            };
            self.live.restore(l.ptr, held);
            let bytes = self.weigh.bytes(l.size);
            let counts = self.counts(l.stack);
            counts.live_bytes += bytes;
            counts.live_blocks += u64::from(held.count);
            self.live_bytes += bytes;
            self.live_blocks += u64::from(held.count);
        }
        self.max_live = self.live_bytes;
        self.snapshots = c.history.clone();
        self.last_snapshot = c.history.last().map(|s| s.tick);
        while self.interval_s * 2.0 < self.covered_s() / MAX_SNAPSHOTS as f64 {
            self.interval_s *= 2.0;
        }
    }

    fn covered_s(&self) -> f64 {
        match (self.ticks_per_s, self.snapshots.last()) {
            (Some(rate), Some(last)) => last.tick.saturating_sub(self.start.tick) as f64 / rate,
            _ => 0.0,
        }
    }
}

/// `later` with what `earlier` changed that `later` did not.
fn merge(earlier: Snapshot, mut later: Snapshot) -> Snapshot {
    later.max_live_bytes = later.max_live_bytes.max(earlier.max_live_bytes);
    if later.counters.is_none() {
        later.counters = earlier.counters;
    }
    if !earlier.stacks.is_empty() {
        let mut stacks = earlier.stacks;
        stacks.retain(|e| {
            later
                .stacks
                .binary_search_by_key(&e.stack, |s| s.stack)
                .is_err()
        });
        stacks.extend_from_slice(&later.stacks);
        stacks.sort_unstable_by_key(|s| s.stack);
        later.stacks = stacks;
    }
    later
}

impl Visitor for Tally {
    fn event(&mut self, event: Event<'_>, _stacks: &StackTable) {
        self.events_since_sweep += 1;
        match event {
            Event::Alloc {
                stream,
                ts,
                size,
                stack,
                ptr,
                ..
            } => self.alloc(stream, ptr, size, stack, ts),
            Event::Free {
                stream, ts, ptr, ..
            } => self.free(stream, ptr, ts),
            Event::Realloc {
                stream,
                entry,
                ts,
                old,
                size,
                stack,
                new,
                ..
            } => {
                if old != 0 {
                    self.free(stream, old, entry);
                }
                self.alloc(stream, new, size, stack, ts);
            }
            Event::Thread { .. } => self.totals.threads += 1,
            Event::Lost { count, .. } => self.totals.lost += count,
            Event::Control(record) => self.control(record),
            Event::Checkpoint(c) => self.seed(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AllocApi;

    fn sync(tally: &mut Tally, tick: u64) {
        tally.event(
            Event::Control(&ControlRecord::Sync { tick }),
            &StackTable::new(),
        );
    }

    fn alloc(tally: &mut Tally, ptr: u64, size: u64, stack: StackId, tick: u64) {
        tally.event(
            Event::Alloc {
                stream: 2,
                api: AllocApi::Malloc,
                ts: tick,
                size,
                stack,
                ptr,
                seq: 0,
            },
            &StackTable::new(),
        );
    }

    #[test]
    fn a_week_of_history_is_kept_in_at_most_max_snapshots_spread_over_the_week() {
        let mut header = Header::new(1, vec![]);
        header.tick_source = TickSource::MonotonicNs;
        let mut tally = Tally::new(&header);
        let week = 7 * 24 * 3600u64;
        // A pass every 200 ms, a 64 B leak every second.
        for second in 0..week {
            let t = second * 1_000_000_000;
            alloc(&mut tally, 0x1000 + second * 64, 64, 1, t + 1);
            sync(&mut tally, t + 200_000_000);
        }
        let c = tally.checkpoint();
        assert!(c.history.len() <= MAX_SNAPSHOTS, "{}", c.history.len());
        assert!(c.history.len() >= MAX_SNAPSHOTS / 2, "{}", c.history.len());
        // From the start to the end of the week, evenly.
        let first = c.history[0].tick;
        let last = c.history.last().unwrap().tick;
        assert!(first < 10_000_000_000, "starts at the start: {first}");
        assert!(
            last > (week - 3600) * 1_000_000_000,
            "ends at the end: {last}"
        );
        let gaps: Vec<u64> = c
            .history
            .windows(2)
            .map(|w| w[1].tick - w[0].tick)
            .collect();
        let (min, max) = (gaps.iter().min().unwrap(), gaps.iter().max().unwrap());
        assert!(max / min <= 2, "gaps from {min} to {max}");
        // Every snapshot's live bytes are the leak's at its time.
        for s in &c.history {
            let seconds = s.tick / 1_000_000_000 + 1;
            assert_eq!(s.live_bytes, seconds * 64, "at {}", s.tick);
        }
        assert_eq!(c.live.len() as u64, week);
        assert_eq!(c.totals.allocations, week);
    }

    #[test]
    fn a_snapshot_names_only_the_stacks_that_changed_and_halving_keeps_their_last_values() {
        let mut header = Header::new(1, vec![]);
        header.tick_source = TickSource::MonotonicNs;
        let mut tally = Tally::new(&header);
        let s = 1_000_000_000;
        alloc(&mut tally, 0x10, 100, 1, 1);
        sync(&mut tally, 2);
        alloc(&mut tally, 0x20, 100, 1, s);
        sync(&mut tally, s + 2);
        alloc(&mut tally, 0x30, 50, 2, 2 * s);
        sync(&mut tally, 2 * s + 2);
        sync(&mut tally, 3 * s + 2);
        let live = |stack, bytes, blocks| StackLive {
            stack,
            bytes,
            blocks,
        };
        let stacks = |c: &Checkpoint| -> Vec<Vec<StackLive>> {
            c.history.iter().map(|s| s.stacks.clone()).collect()
        };
        let c = tally.checkpoint();
        assert_eq!(
            stacks(&c),
            vec![
                vec![live(1, 100, 1)],
                vec![live(1, 200, 2)],
                vec![live(2, 50, 1)],
                vec![],
            ]
        );
        tally.thin();
        let c = tally.checkpoint();
        assert_eq!(
            stacks(&c),
            vec![
                vec![live(1, 100, 1)],
                vec![live(1, 200, 2), live(2, 50, 1)],
                vec![],
            ]
        );
        assert_eq!(
            c.history.iter().map(|s| s.tick).collect::<Vec<_>>(),
            vec![2, 2 * s + 2, 3 * s + 2]
        );
    }
}
