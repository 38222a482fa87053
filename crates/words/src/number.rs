//! Numbers: counts, bytes, rates, durations, probabilities.

/// `1234567` → `"1,234,567"`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `-1200` → `"-1,200"`, `5` → `"+5"`: [`thousands`] with an explicit sign.
pub fn thousands_signed(n: i64) -> String {
    if n < 0 {
        format!("-{}", thousands(n.unsigned_abs()))
    } else {
        format!("+{}", thousands(n as u64))
    }
}

const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/// `magnitude` (≥ 0) in the largest binary unit that keeps it ≥ 1:
/// whole bytes below 1 KiB, one decimal above.
fn magnitude_bytes(magnitude: f64) -> String {
    let mut value = magnitude;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `512` → `"512 B"`, `1536` → `"1.5 KiB"`, `12 << 20` → `"12.0 MiB"`.
pub fn bytes(n: u64) -> String {
    if n < 1024 {
        return format!("{n} B");
    }
    magnitude_bytes(n as f64)
}

/// [`bytes`] with an explicit sign, for changes: `"+12.0 MiB"`, `"-512 B"`.
pub fn bytes_signed(n: i64) -> String {
    let sign = if n < 0 { '-' } else { '+' };
    format!("{sign}{}", bytes(n.unsigned_abs()))
}

/// An estimate or a fitted value in bytes: like [`bytes`], a `-` when
/// negative, `"?"` when not a number.
pub fn bytes_f64(value: f64) -> String {
    if !value.is_finite() {
        return "?".to_owned();
    }
    let sign = if value < 0.0 { "-" } else { "" };
    format!("{sign}{}", magnitude_bytes(value.abs()))
}

/// [`bytes_f64`] with an explicit `+` for growth.
pub fn bytes_f64_signed(value: f64) -> String {
    if value.is_finite() && value >= 0.0 {
        format!("+{}", bytes_f64(value))
    } else {
        bytes_f64(value)
    }
}

/// A byte count, or `"?"` when it is not known.
pub fn bytes_or_unknown(n: Option<u64>) -> String {
    n.map_or_else(|| "?".to_owned(), bytes)
}

/// A rate in bytes per second, shown per second, minute or hour so that
/// the number is at least 1 KiB where possible: `"1.2 MiB/s"`,
/// `"10.0 MiB/h"`, `"0 B/s"`; `"?"` when not a number.
pub fn rate(bytes_per_s: f64) -> String {
    if !bytes_per_s.is_finite() {
        return "?".to_owned();
    }
    let magnitude = bytes_per_s.abs();
    if magnitude >= 1024.0 || magnitude == 0.0 {
        format!("{}/s", bytes_f64(bytes_per_s))
    } else if magnitude * 60.0 >= 1024.0 {
        format!("{}/min", bytes_f64(bytes_per_s * 60.0))
    } else {
        format!("{}/h", bytes_f64(bytes_per_s * 3600.0))
    }
}

/// [`rate`] with an explicit `+` for growth: `"+1.2 MiB/s"`, `"-3.0 KiB/min"`.
pub fn rate_signed(bytes_per_s: f64) -> String {
    if bytes_per_s.is_finite() && bytes_per_s >= 0.0 {
        format!("+{}", rate(bytes_per_s))
    } else {
        rate(bytes_per_s)
    }
}

/// A slope in megabytes (10⁶ bytes) per hour, the unit production alert
/// rules use: `"+12.5 MB/h"`, `"-250 MB/h"`; `"?"` when unknown.
pub fn mb_per_hour(bytes_per_s: Option<f64>) -> String {
    match bytes_per_s {
        Some(rate) if rate.is_finite() => {
            let per_hour = rate * 3600.0 / 1e6;
            let digits = if per_hour.abs() >= 100.0 { 0 } else { 1 };
            format!("{per_hour:+.digits$} MB/h")
        }
        _ => "?".to_owned(),
    }
}

/// `0.25` → `"250 ms"`, `4.2` → `"4.2 s"`, `40` → `"40 s"`, `210` →
/// `"3.5 min"`, `7200` → `"2.0 h"`, `259200` → `"3.0 days"`; `"?"` when not
/// a number or negative.
pub fn duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "?".to_owned();
    }
    let s = seconds;
    if s == 0.0 {
        "0 s".to_owned()
    } else if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else if s < 10.0 {
        format!("{s:.1} s")
    } else if s < 120.0 {
        format!("{s:.0} s")
    } else if s < 2.0 * 3600.0 {
        format!("{:.1} min", s / 60.0)
    } else if s < 2.0 * 86_400.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{:.1} days", s / 86_400.0)
    }
}

/// A measured run time, to the hundredth of a second: `"10.00 s"`.
pub fn seconds_exact(seconds: f64) -> String {
    format!("{seconds:.2} s")
}

/// A pause, to the precision people compare pauses at: `"0.42 ms"`,
/// `"12.3 ms"`, `"1,234 ms"`.
pub fn millis(ms: f64) -> String {
    if !ms.is_finite() {
        "?".to_owned()
    } else if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{} ms", thousands(ms.round() as u64))
    }
}

/// `"p < 0.001"` or `"p = 0.042"`.
pub fn p_value(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".to_owned()
    } else {
        format!("p = {p:.3}")
    }
}

/// `0.0123` → `"1.2 %"`, `0.25` → `"25 %"`.
pub fn percent(fraction: f64) -> String {
    if !fraction.is_finite() {
        return "?".to_owned();
    }
    let pct = fraction * 100.0;
    if pct.abs() < 10.0 {
        format!("{pct:.1} %")
    } else {
        format!("{pct:.0} %")
    }
}

/// `one` when `n` is 1, `many` otherwise: `plural(n, "block", "blocks")`.
pub fn plural(n: u64, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands_signed(-1200), "-1,200");
        assert_eq!(thousands_signed(5), "+5");
    }

    #[test]
    fn bytes_take_the_largest_unit_below_1024_with_one_decimal() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1.0 KiB");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(12 << 20), "12.0 MiB");
        assert_eq!(bytes(u64::MAX), "16.0 EiB");
        assert_eq!(bytes_signed(-2048), "-2.0 KiB");
        assert_eq!(bytes_signed(10), "+10 B");
        assert_eq!(bytes_f64(-3.0 * 1024.0 * 1024.0 * 1024.0), "-3.0 GiB");
        assert_eq!(bytes_f64(12.4), "12 B");
        assert_eq!(bytes_f64(f64::NAN), "?");
        assert_eq!(bytes_f64_signed(2048.0), "+2.0 KiB");
        assert_eq!(bytes_or_unknown(None), "?");
        // The same figure reads the same whichever way it arrives.
        assert_eq!(bytes(5 << 20), bytes_f64((5 << 20) as f64));
    }

    #[test]
    fn rates_pick_the_period_that_makes_a_readable_number() {
        assert_eq!(rate(1.2 * 1024.0 * 1024.0), "1.2 MiB/s");
        assert_eq!(rate(10.0 * 1024.0 * 1024.0 / 3600.0), "2.8 KiB/s");
        assert_eq!(rate(20.0), "1.2 KiB/min");
        assert_eq!(rate(2.0), "7.0 KiB/h");
        assert_eq!(rate(0.0), "0 B/s");
        assert_eq!(rate(-2048.0), "-2.0 KiB/s");
        assert_eq!(rate(f64::INFINITY), "?");
        assert_eq!(rate_signed(2048.0), "+2.0 KiB/s");
        assert_eq!(rate_signed(-20.0), "-1.2 KiB/min");
        assert_eq!(mb_per_hour(Some(2777.8)), "+10.0 MB/h");
        assert_eq!(mb_per_hour(Some(-1e6 / 3600.0 * 250.0)), "-250 MB/h");
        assert_eq!(mb_per_hour(None), "?");
    }

    #[test]
    fn durations_keep_one_or_two_significant_digits() {
        assert_eq!(duration(0.0), "0 s");
        assert_eq!(duration(0.25), "250 ms");
        assert_eq!(duration(4.25), "4.2 s");
        assert_eq!(duration(40.0), "40 s");
        assert_eq!(duration(210.0), "3.5 min");
        assert_eq!(duration(7200.0), "2.0 h");
        assert_eq!(duration(3.0 * 86_400.0), "3.0 days");
        assert_eq!(duration(-1.0), "?");
        assert_eq!(seconds_exact(10.0), "10.00 s");
        assert_eq!(millis(0.4567), "0.46 ms");
        assert_eq!(millis(441.91), "441.9 ms");
        assert_eq!(millis(12_345.0), "12,345 ms");
    }

    #[test]
    fn probabilities_and_shares() {
        assert_eq!(p_value(0.0001), "p < 0.001");
        assert_eq!(p_value(0.0421), "p = 0.042");
        assert_eq!(percent(0.0123), "1.2 %");
        assert_eq!(percent(0.25), "25 %");
        assert_eq!(plural(1, "block", "blocks"), "block");
        assert_eq!(plural(2, "block", "blocks"), "blocks");
    }
}
