//! Swings: the rises and falls of a series that are larger than a threshold
//! (a "zig-zag" filter).
//!
//! A move counts only once the series has retraced by at least the threshold
//! from its last extreme, so noise below the threshold never registers, and a
//! slow triangle wave counts as fully as a sawtooth with sudden drops. This is
//! how "rises and falls back" is measured: the number of falls, and how much of
//! the total rise the falls give back. O(n).

/// Summary of the swings of a series.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Swings {
    /// Number of rises of at least the threshold.
    pub rises: usize,
    /// Number of falls of at least the threshold.
    pub falls: usize,
    /// Sum of the rises.
    pub rise_total: f64,
    /// Sum of the falls (positive).
    pub fall_total: f64,
    /// Times of the peaks that started a fall.
    pub peak_times: Vec<f64>,
}

#[derive(Clone, Copy)]
enum Direction {
    Unknown,
    Up,
    Down,
}

/// Swings of `values` of at least `threshold` (which must be positive; a
/// non-positive or non-finite threshold finds nothing).
pub(crate) fn zigzag(times: &[f64], values: &[f64], threshold: f64) -> Swings {
    let mut out = Swings::default();
    let n = times.len().min(values.len());
    if n < 2 || !(threshold.is_finite() && threshold > 0.0) {
        return out;
    }
    let mut direction = Direction::Unknown;
    let (mut low, mut high) = (0usize, 0usize);
    for i in 1..n {
        let v = values[i];
        match direction {
            Direction::Unknown => {
                if v < values[low] {
                    low = i;
                }
                if v > values[high] {
                    high = i;
                }
                if v - values[low] >= threshold && low < i {
                    direction = Direction::Up;
                    high = i;
                } else if values[high] - v >= threshold && high < i {
                    direction = Direction::Down;
                    low = i;
                }
            }
            Direction::Up => {
                if v >= values[high] {
                    high = i;
                } else if values[high] - v >= threshold {
                    out.rises += 1;
                    out.rise_total += values[high] - values[low];
                    out.peak_times.push(times[high]);
                    direction = Direction::Down;
                    low = i;
                }
            }
            Direction::Down => {
                if v <= values[low] {
                    low = i;
                } else if v - values[low] >= threshold {
                    out.falls += 1;
                    out.fall_total += values[high] - values[low];
                    direction = Direction::Up;
                    high = i;
                }
            }
        }
    }
    // The last, unconfirmed leg already exceeds the threshold (that is how
    // its direction was set), so it counts too.
    match direction {
        Direction::Up => {
            out.rises += 1;
            out.rise_total += values[high] - values[low];
        }
        Direction::Down => {
            out.falls += 1;
            out.fall_total += values[high] - values[low];
        }
        Direction::Unknown => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(values: &[f64], threshold: f64) -> Swings {
        let times: Vec<f64> = (0..values.len()).map(|i| i as f64).collect();
        zigzag(&times, values, threshold)
    }

    #[test]
    fn counts_a_sawtooth() {
        let values: Vec<f64> = (0..100).map(|i| (i % 20) as f64).collect();
        let s = run(&values, 5.0);
        assert_eq!(s.falls, 4);
        assert_eq!(s.rises, 5);
        assert_eq!(s.fall_total, 4.0 * 19.0);
        assert_eq!(s.peak_times, vec![19.0, 39.0, 59.0, 79.0]);
    }

    #[test]
    fn ignores_noise_below_the_threshold() {
        let values: Vec<f64> = (0..100).map(|i| (i % 3) as f64).collect();
        assert_eq!(run(&values, 5.0), Swings::default());
    }

    #[test]
    fn a_falling_line_is_one_fall() {
        let values: Vec<f64> = (0..50).map(|i| 100.0 - i as f64).collect();
        let s = run(&values, 5.0);
        assert_eq!((s.rises, s.falls), (0, 1));
        assert_eq!(s.fall_total, 49.0);
        assert!(run(&values, f64::NAN).falls == 0);
    }
}
