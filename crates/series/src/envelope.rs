//! Lower envelope: the rolling minimum over a trailing time window.
//!
//! A garbage-collected heap, or a program that fills and frees buffers, rises
//! and falls back all the time; what leaks is the floor it falls back to. The
//! rolling minimum over a window of at least ~3 cycles follows that floor (each
//! window contains several troughs, so one high trough cannot lift it), and its
//! trend is the leak signal. O(n) with a monotone deque.

use std::collections::VecDeque;

use crate::series::Series;

/// Rolling minimum over the trailing window `(t − window_s, t]` at every
/// sample, keeping only the samples whose window is complete (`t ≥ first
/// time + window_s`). Empty when the series is shorter than the window or
/// `window_s` is not a positive finite number.
pub fn lower_envelope(series: &Series, window_s: f64) -> Series {
    let (times, values) = rolling_min(series.times(), series.values(), window_s);
    Series::from_pairs(times.into_iter().zip(values))
}

/// [`lower_envelope`] on raw sorted columns.
pub(crate) fn rolling_min(times: &[f64], values: &[f64], window_s: f64) -> (Vec<f64>, Vec<f64>) {
    let n = times.len().min(values.len());
    let mut out_t = Vec::new();
    let mut out_v = Vec::new();
    if n == 0 || !(window_s.is_finite() && window_s > 0.0) {
        return (out_t, out_v);
    }
    let start = times[0] + window_s;
    // Indices whose values increase from front to back; the front is the
    // minimum of the current window.
    let mut deque: VecDeque<usize> = VecDeque::new();
    for i in 0..n {
        while deque.back().is_some_and(|&j| values[j] >= values[i]) {
            deque.pop_back();
        }
        deque.push_back(i);
        while deque
            .front()
            .is_some_and(|&j| times[j] <= times[i] - window_s)
        {
            deque.pop_front();
        }
        if times[i] >= start
            && let Some(&j) = deque.front()
        {
            out_t.push(times[i]);
            out_v.push(values[j]);
        }
    }
    (out_t, out_v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_troughs_of_a_sawtooth() {
        // Period 10: ramps from trough k to trough k + 50; troughs rise by 1.
        let pairs = (0..100).map(|i| {
            let cycle = (i / 10) as f64;
            (i as f64, cycle + 5.0 * (i % 10) as f64)
        });
        let env = lower_envelope(&Series::from_pairs(pairs), 30.0);
        assert_eq!(env.times().first(), Some(&30.0));
        // The window (t−30, t] always contains the trough of the cycle two
        // back, so the envelope is that trough's value.
        for (&t, &v) in env.times().iter().zip(env.values()) {
            let cycle = (t as usize / 10) as f64;
            assert_eq!(v, cycle - 2.0, "at t = {t}");
        }
    }

    #[test]
    fn degenerate_windows() {
        let s = Series::from_pairs((0..5).map(|i| (i as f64, 1.0)));
        assert!(lower_envelope(&s, 0.0).is_empty());
        assert!(lower_envelope(&s, f64::NAN).is_empty());
        assert!(lower_envelope(&s, 10.0).is_empty());
        assert!(lower_envelope(&Series::new(), 1.0).is_empty());
    }
}
