//! The replay's time grid: memory over time, gathered during the single
//! replay pass (the report's points are built from it in `report/memory.rs`).
//!
//! A global grid of time buckets holds the live bytes at the end of each
//! bucket and what was allocated and freed in it; when it reaches
//! [`MAX_BUCKETS`] it halves its resolution by merging neighbours, so it
//! covers any length of trace in bounded memory. Each call stack keeps its
//! own live bytes on the same grid, but only where they changed (a point
//! per bucket in which the stack allocated or freed), capped at
//! [`MAX_STACK_POINTS`] points by merging neighbours locally. The peak is
//! attributed to stacks lazily: reaching a new peak bumps an epoch, and a
//! stack copies its live bytes into "at peak" the next time it changes (or
//! at the end), so no event costs more than a comparison.

/// Buckets of the global grid.
pub const MAX_BUCKETS: usize = 2048;
/// Points of one stack's series.
pub const MAX_STACK_POINTS: usize = 256;
/// The first bucket width, in nanoseconds (in ticks: see
/// [`TimeGrid::new`]).
const FIRST_WIDTH_NS: f64 = 1_600_000.0;

/// One bucket of the global timeline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Bucket {
    /// Live bytes at the end of the bucket.
    pub live_bytes: u64,
    /// The most live bytes during the bucket.
    pub max_live_bytes: u64,
    /// Allocations in the bucket.
    pub allocations: u64,
    /// Bytes allocated in the bucket.
    pub allocated_bytes: u64,
    /// Frees in the bucket.
    pub frees: u64,
}

impl Bucket {
    fn merge(a: Bucket, b: Bucket) -> Bucket {
        Bucket {
            live_bytes: b.live_bytes,
            max_live_bytes: a.max_live_bytes.max(b.max_live_bytes),
            allocations: a.allocations + b.allocations,
            allocated_bytes: a.allocated_bytes + b.allocated_bytes,
            frees: a.frees + b.frees,
        }
    }
}

/// The global timeline.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct TimeGrid {
    start_tick: u64,
    /// The first bucket width in ticks, as a power of two.
    first_width: u64,
    /// Its log2.
    first_shift: u32,
    /// log2 of the bucket width in units of the first width.
    pub level: u32,
    /// The buckets so far.
    pub buckets: Vec<Bucket>,
}

impl TimeGrid {
    /// A timeline starting at `start_tick`, its first buckets about 1.6 ms
    /// wide at `ns_per_tick` (the trace's nominal clock: the buckets are a
    /// power of two of ticks).
    pub fn new(start_tick: u64, ns_per_tick: f64) -> TimeGrid {
        let ticks = (FIRST_WIDTH_NS / ns_per_tick.max(1e-3)).max(1.0) as u64;
        TimeGrid {
            start_tick,
            first_width: ticks.next_power_of_two(),
            first_shift: ticks.next_power_of_two().trailing_zeros(),
            level: 0,
            buckets: Vec::new(),
        }
    }

    /// The width of a bucket in ticks.
    pub fn width(&self) -> u64 {
        self.first_width << self.level
    }

    /// The index of the bucket holding `tick` at the present resolution
    /// (it may be past the last bucket).
    pub fn index_of(&self, tick: u64) -> usize {
        (tick.saturating_sub(self.start_tick) >> (self.level + self.first_shift).min(63)) as usize
    }

    /// The tick at which bucket `index` ends.
    pub fn end_tick(&self, index: usize) -> u64 {
        self.start_tick + (index as u64 + 1) * self.width()
    }

    /// The bucket of `tick`, growing (and if needed coarsening) the grid,
    /// with buckets skipped since the last event carrying the live bytes.
    #[inline]
    pub fn bucket(&mut self, tick: u64, live_bytes: u64) -> usize {
        let mut index =
            tick.saturating_sub(self.start_tick) >> (self.level + self.first_shift).min(63);
        while index as usize >= MAX_BUCKETS {
            self.coarsen();
            index = tick.saturating_sub(self.start_tick) >> (self.level + self.first_shift).min(63);
        }
        let index = index as usize;
        if index >= self.buckets.len() {
            let carried = Bucket {
                live_bytes,
                max_live_bytes: live_bytes,
                ..Bucket::default()
            };
            self.buckets.resize(index + 1, carried);
        }
        // A late event (a bucket already closed): counted there as well.
        index
    }

    fn coarsen(&mut self) {
        let merged = self
            .buckets
            .chunks(2)
            .map(|pair| {
                if pair.len() == 2 {
                    Bucket::merge(pair[0], pair[1])
                } else {
                    pair[0]
                }
            })
            .collect();
        self.buckets = merged;
        self.level += 1;
    }
}

/// A stack's live bytes on the global grid, where they changed.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct StackSeries {
    /// (bucket index at `level`, live bytes at the end of that bucket).
    pub points: Vec<(u32, u64)>,
    /// Resolution of `points`: at least the timeline's level.
    pub level: u32,
}

impl StackSeries {
    /// Records that the stack holds `live_bytes` at the end of `bucket`
    /// (an index at the timeline's `level`).
    #[inline]
    pub fn record(&mut self, bucket: usize, level: u32, live_bytes: u64) {
        if self.level < level {
            self.coarsen_to(level);
        }
        let index = (bucket >> (self.level - level)) as u32;
        match self.points.last_mut() {
            Some(last) if last.0 == index => last.1 = live_bytes,
            Some(last) if last.0 > index => {
                // A late event: apply it to the newest point.
                last.1 = live_bytes;
            }
            // Unchanged since the last point (a block allocated and freed
            // in between): the step function already holds it, and a
            // point per bucket would coarsen a stack that churns but rarely
            // changes, blurring the jumps that tell its pattern.
            Some(last) if last.1 == live_bytes => {}
            _ => {
                if self.points.len() >= MAX_STACK_POINTS {
                    self.coarsen_to(self.level + 1);
                    return self.record(bucket, level, live_bytes);
                }
                self.points.push((index, live_bytes));
            }
        }
    }

    fn coarsen_to(&mut self, level: u32) {
        let shift = level - self.level;
        let mut merged: Vec<(u32, u64)> = Vec::with_capacity(self.points.len());
        for &(index, value) in &self.points {
            let index = index >> shift;
            match merged.last_mut() {
                Some(last) if last.0 == index => last.1 = value,
                _ => merged.push((index, value)),
            }
        }
        self.points = merged;
        self.level = level;
    }

    /// The series expanded onto `count` buckets of the timeline at
    /// `level` (a step function: the value holds until it changes). A point
    /// of a coarser series holds the value at the end of its wide bucket,
    /// so it takes effect in the last narrow bucket that wide one covers.
    pub fn dense(&self, level: u32, count: usize) -> Vec<u64> {
        if self.level < level {
            // Recorded before the grid last coarsened.
            let mut coarse = self.clone();
            coarse.coarsen_to(level);
            return coarse.dense(level, count);
        }
        let shift = self.level - level;
        let mut out = Vec::with_capacity(count);
        let mut value = 0;
        let mut points = self.points.iter().peekable();
        for bucket in 0..count {
            while let Some(&&(index, v)) = points.peek() {
                let effective = ((index as usize + 1) << shift) - 1;
                if effective > bucket {
                    break;
                }
                value = v;
                points.next();
            }
            out.push(value);
        }
        out
    }
}

impl StackSeries {
    /// The series at its own resolution over a grid of `count` buckets at
    /// `level`: one sample per bucket of the series' own width, as
    /// (index of the last grid bucket it covers, live bytes at its end).
    /// A series coarser than the grid knows nothing finer: expanded onto
    /// the grid as a step function it would show flat stretches and jumps
    /// that never happened (a steady leak would look periodic).
    pub fn samples(&self, level: u32, count: usize) -> Vec<(usize, u64)> {
        if count == 0 {
            return Vec::new();
        }
        if self.level < level {
            // Recorded before the grid last coarsened.
            let mut coarse = self.clone();
            coarse.coarsen_to(level);
            return coarse.samples(level, count);
        }
        let shift = self.level - level;
        let wide = count.div_ceil(1 << shift);
        self.dense(self.level, wide)
            .into_iter()
            .enumerate()
            .map(|(i, value)| ((((i + 1) << shift) - 1).min(count - 1), value))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_halves_its_resolution_instead_of_growing() {
        let mut t = TimeGrid::new(1000, 25.6);
        assert_eq!(
            t.width(),
            1 << 16,
            "1.6 ms of 25.6 ns ticks, to a power of two"
        );
        for i in 0..(MAX_BUCKETS as u64 * 5) {
            let index = t.bucket(1000 + i * t.first_width, i);
            t.buckets[index].allocations += 1;
        }
        assert!(t.buckets.len() <= MAX_BUCKETS);
        assert_eq!(t.level, 3);
        assert_eq!(
            t.buckets.iter().map(|b| b.allocations).sum::<u64>(),
            MAX_BUCKETS as u64 * 5
        );
        // Live bytes at the end of each bucket are the last value in it.
        assert_eq!(t.buckets[0].live_bytes, 7);
    }

    #[test]
    fn stack_series_keep_the_last_value_per_bucket_and_stay_small() {
        let mut s = StackSeries::default();
        for bucket in 0..2000usize {
            s.record(bucket, 0, bucket as u64 * 10);
            s.record(bucket, 0, bucket as u64 * 10 + 5);
        }
        assert!(s.points.len() <= MAX_STACK_POINTS);
        let dense = s.dense(0, 2000);
        assert_eq!(dense.len(), 2000);
        assert_eq!(*dense.last().unwrap(), 1999 * 10 + 5);
        // A step function: values never run ahead of the real ones.
        assert!(
            dense
                .iter()
                .enumerate()
                .all(|(i, &v)| v <= i as u64 * 10 + 5)
        );
    }

    #[test]
    fn a_coarse_series_is_sampled_at_its_own_resolution() {
        let mut s = StackSeries::default();
        // 1000 buckets of steady growth: coarsened to at most 256 points.
        for bucket in 0..1000usize {
            s.record(bucket, 0, (bucket as u64 + 1) * 100);
        }
        assert_eq!(s.level, 2);
        let samples = s.samples(0, 1000);
        assert_eq!(samples.len(), 250);
        // Each sample is the value at the end of its four buckets: growth
        // in every sample, no flat stretch in between.
        for (i, &(bucket, value)) in samples.iter().enumerate() {
            assert_eq!(bucket, 4 * i + 3);
            assert_eq!(value, (bucket as u64 + 1) * 100);
        }
        // A series as fine as the grid is the grid.
        let mut fine = StackSeries::default();
        fine.record(2, 0, 5);
        assert_eq!(fine.samples(0, 4), vec![(0, 0), (1, 0), (2, 5), (3, 5)]);
    }

    #[test]
    fn a_sparse_series_holds_its_value_between_changes() {
        let mut s = StackSeries::default();
        s.record(3, 0, 100);
        s.record(10, 0, 40);
        assert_eq!(
            s.dense(0, 12),
            vec![0, 0, 0, 100, 100, 100, 100, 100, 100, 100, 40, 40]
        );
    }
}
