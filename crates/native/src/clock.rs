//! Converting event ticks to seconds since the trace started.

use heapwise_trace::{ClockSync, TickSource};

/// Maps ticks to seconds, fitted on the clock samples of the trace.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct TickClock {
    start_tick: u64,
    ns_per_tick: f64,
}

/// Collects clock samples while a trace is read.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ClockFit {
    source: TickSource,
    first: ClockSync,
    last: ClockSync,
}

impl ClockFit {
    /// Starts from the header's clock sample.
    pub fn new(source: TickSource, start: ClockSync) -> ClockFit {
        ClockFit {
            source,
            first: start,
            last: start,
        }
    }

    /// What the ticks count.
    pub fn source(&self) -> TickSource {
        self.source
    }

    /// The tick at which the trace started.
    pub fn start_tick(&self) -> u64 {
        self.first.tick
    }

    /// Adds a later sample.
    pub fn add(&mut self, sample: ClockSync) {
        if sample.tick > self.last.tick && sample.monotonic_ns >= self.last.monotonic_ns {
            self.last = sample;
        }
    }

    /// The clock: the slope between the first and the last sample (the TSC
    /// is invariant, so a straight line is exact up to the sampling jitter).
    pub fn clock(&self) -> TickClock {
        let ns_per_tick = if self.source.fitted() {
            let ticks = self.last.tick.saturating_sub(self.first.tick);
            let ns = self
                .last
                .monotonic_ns
                .saturating_sub(self.first.monotonic_ns);
            // Too short to measure (a process that lived a few ms, or a
            // few ticks of the coarse counter): assume a 2.5 GHz counter;
            // the error only affects sub-second durations.
            if ns < 1_000_000 || ticks < 40 {
                self.source.nominal_ns_per_tick()
            } else {
                ns as f64 / ticks as f64
            }
        } else {
            1.0
        };
        TickClock {
            start_tick: self.first.tick,
            ns_per_tick,
        }
    }
}

impl TickClock {
    /// Seconds from the trace's start to `tick` (negative before it).
    pub fn seconds(&self, tick: u64) -> f64 {
        (tick as i128 - self.start_tick as i128) as f64 * self.ns_per_tick / 1e9
    }

    /// Nanoseconds per tick.
    pub fn ns_per_tick(&self) -> f64 {
        self.ns_per_tick
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_convert_through_the_fitted_slope() {
        let start = ClockSync {
            tick: 1_000,
            monotonic_ns: 5_000_000_000,
            realtime_ns: 0,
        };
        let mut fit = ClockFit::new(TickSource::Tsc, start);
        fit.add(ClockSync {
            tick: 1_000 + 40_000_000,
            monotonic_ns: 6_000_000_000,
            realtime_ns: 0,
        });
        let clock = fit.clock();
        assert!((clock.ns_per_tick() - 25.0).abs() < 1e-9);
        assert!((clock.seconds(1_000 + 20_000_000) - 0.5).abs() < 1e-9);
        assert!(clock.seconds(0) < 0.0);
    }
}
