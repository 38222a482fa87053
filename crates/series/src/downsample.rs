//! Evenly spaced downsampling for timelines ("at most a few thousand points").
//!
//! `count` points are placed at even times from the first to the last sample
//! (both included). Memory is a level that holds until the next sample, so a
//! gap in the samples is filled with the value in effect, never interpolated
//! or left empty.

use serde::{Deserialize, Serialize};

use crate::series::Series;

/// How a downsampled point summarises the samples it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Aggregate {
    /// The value in effect at the point's time: the last sample at or before
    /// it. Faithful to what a reader of the process would have seen then.
    InEffect,
    /// The highest value in effect during the interval since the previous
    /// point: the value carried in from before, and every sample inside.
    /// Keeps short peaks visible in a chart, where `InEffect` may skip them.
    Max,
}

/// One point of a downsampled timeline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Time, seconds (same clock as the input).
    pub t_s: f64,
    /// Value, bytes.
    pub value: f64,
}

/// `count` evenly spaced points over `series` (see [`Aggregate`]).
///
/// Empty when the series is empty or `count` is 0; a single point (at the
/// last time) when `count` is 1 or all samples share one time. O(n + count).
pub fn downsample(series: &Series, count: usize, how: Aggregate) -> Vec<Point> {
    let (times, values) = (series.times(), series.values());
    let (Some(&first), Some(&last)) = (times.first(), times.last()) else {
        return Vec::new();
    };
    if count == 0 {
        return Vec::new();
    }
    let span = last - first;
    if count == 1 || !(span.is_finite() && span > 0.0) {
        let value = match how {
            Aggregate::InEffect => values.last().copied(),
            Aggregate::Max => values.iter().copied().reduce(f64::max),
        };
        return value
            .map(|value| vec![Point { t_s: last, value }])
            .unwrap_or_default();
    }
    let step = span / (count - 1) as f64;
    let mut out = Vec::with_capacity(count);
    let mut next = 0usize; // first sample not yet consumed
    let mut in_effect = values[0];
    for k in 0..count {
        let t = if k + 1 == count {
            last
        } else {
            first + step * k as f64
        };
        let mut peak = in_effect;
        while next < times.len() && times[next] <= t {
            in_effect = values[next];
            peak = peak.max(in_effect);
            next += 1;
        }
        let value = match how {
            Aggregate::InEffect => in_effect,
            Aggregate::Max if k == 0 => in_effect,
            Aggregate::Max => peak,
        };
        out.push(Point { t_s: t, value });
    }
    out
}

/// Value-in-effect grid of `count` points over raw sorted columns, as two
/// columns (for the periodicity analysis).
pub(crate) fn in_effect_grid(times: &[f64], values: &[f64], count: usize) -> (Vec<f64>, Vec<f64>) {
    let n = times.len().min(values.len());
    let series = Series::from_pairs(times[..n].iter().copied().zip(values[..n].iter().copied()));
    downsample(&series, count, Aggregate::InEffect)
        .into_iter()
        .map(|p| (p.t_s, p.value))
        .unzip()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(pairs: &[(f64, f64)]) -> Series {
        Series::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn in_effect_carries_values_over_gaps() {
        let series = s(&[(0.0, 1.0), (1.0, 5.0), (9.0, 2.0), (10.0, 3.0)]);
        let points = downsample(&series, 6, Aggregate::InEffect);
        let times: Vec<f64> = points.iter().map(|p| p.t_s).collect();
        let values: Vec<f64> = points.iter().map(|p| p.value).collect();
        assert_eq!(times, vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(values, vec![1.0, 5.0, 5.0, 5.0, 5.0, 3.0]);
    }

    #[test]
    fn max_keeps_short_peaks() {
        let series = s(&[(0.0, 1.0), (0.5, 100.0), (0.6, 1.0), (2.0, 1.0)]);
        let in_effect = downsample(&series, 3, Aggregate::InEffect);
        let max = downsample(&series, 3, Aggregate::Max);
        assert_eq!(in_effect[1].value, 1.0);
        assert_eq!(max[1].value, 100.0);
        // The point after the peak starts from the value in effect (1.0).
        assert_eq!(max[2].value, 1.0);
    }

    #[test]
    fn degenerate_inputs() {
        assert!(downsample(&Series::new(), 10, Aggregate::Max).is_empty());
        assert!(downsample(&s(&[(0.0, 1.0)]), 0, Aggregate::Max).is_empty());
        let one = downsample(&s(&[(4.0, 7.0)]), 10, Aggregate::InEffect);
        assert_eq!(
            one,
            vec![Point {
                t_s: 4.0,
                value: 7.0
            }]
        );
        let single = downsample(&s(&[(0.0, 7.0), (1.0, 9.0), (2.0, 8.0)]), 1, Aggregate::Max);
        assert_eq!(
            single,
            vec![Point {
                t_s: 2.0,
                value: 9.0
            }]
        );
    }

    #[test]
    fn exactly_count_points_even_with_fewer_samples() {
        let points = downsample(&s(&[(0.0, 1.0), (3.0, 2.0)]), 1000, Aggregate::InEffect);
        assert_eq!(points.len(), 1000);
        assert_eq!(points[999].t_s, 3.0);
        assert_eq!(points[999].value, 2.0);
        assert!(points.windows(2).all(|w| w[0].t_s < w[1].t_s));
    }
}
