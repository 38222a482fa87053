//! Time-to-limit forecast.

/// Seconds until a series now at `current_bytes`, growing at
/// `rate_bytes_per_s`, reaches `limit_bytes`.
///
/// Pass the *upper* bound of the slope's confidence interval as the rate:
/// the forecast is then the earliest time the limit is plausibly hit, which
/// is the one an operator must act on. `None` when the rate is not positive
/// (not growing) or any input is not finite; `Some(0.0)` when the limit is
/// already reached.
pub fn time_to_limit(current_bytes: f64, rate_bytes_per_s: f64, limit_bytes: f64) -> Option<f64> {
    if !(current_bytes.is_finite() && rate_bytes_per_s.is_finite() && limit_bytes.is_finite()) {
        return None;
    }
    if rate_bytes_per_s <= 0.0 {
        return None;
    }
    if current_bytes >= limit_bytes {
        return Some(0.0);
    }
    let seconds = (limit_bytes - current_bytes) / rate_bytes_per_s;
    seconds.is_finite().then_some(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forecasts_only_growth() {
        assert_eq!(time_to_limit(100.0, 10.0, 200.0), Some(10.0));
        assert_eq!(time_to_limit(250.0, 10.0, 200.0), Some(0.0));
        assert_eq!(time_to_limit(100.0, 0.0, 200.0), None);
        assert_eq!(time_to_limit(100.0, -5.0, 200.0), None);
        assert_eq!(time_to_limit(f64::NAN, 1.0, 200.0), None);
        assert_eq!(time_to_limit(0.0, f64::MIN_POSITIVE, f64::MAX), None);
    }
}
