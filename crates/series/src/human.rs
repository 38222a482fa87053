//! Human-readable numbers for the `reason` sentence: bytes in binary units,
//! rates in the unit that gives a readable number, durations, p-values —
//! and counts with thousands separators, which every crate's sentences use
//! (the start of one home for wording: issue 11).

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

/// `1536` → `"1.5 KiB"`, `-3e9` → `"-2.8 GiB"`, `12` → `"12 B"`.
pub(crate) fn bytes(value: f64) -> String {
    if !value.is_finite() {
        return "?".to_owned();
    }
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let sign = if value < 0.0 { "-" } else { "" };
    let mut v = value.abs();
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{sign}{v:.0} B")
    } else if v < 10.0 {
        format!("{sign}{v:.1} {}", UNITS[unit])
    } else {
        format!("{sign}{v:.0} {}", UNITS[unit])
    }
}

/// A rate in bytes per second, shown per second, minute or hour so that
/// the number is at least 1 KiB where possible: `"1.2 MiB/s"`, `"10 MiB/h"`.
pub(crate) fn rate(bytes_per_s: f64) -> String {
    if !bytes_per_s.is_finite() {
        return "?".to_owned();
    }
    let magnitude = bytes_per_s.abs();
    if magnitude >= 1024.0 || magnitude == 0.0 {
        format!("{}/s", bytes(bytes_per_s))
    } else if magnitude * 60.0 >= 1024.0 {
        format!("{}/min", bytes(bytes_per_s * 60.0))
    } else {
        format!("{}/h", bytes(bytes_per_s * 3600.0))
    }
}

/// `0.25` → `"250 ms"`, `40` → `"40 s"`, `210` → `"3.5 min"`, `7200` → `"2.0 h"`.
pub(crate) fn duration(seconds: f64) -> String {
    if !seconds.is_finite() {
        return "?".to_owned();
    }
    let s = seconds.max(0.0);
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else if s < 120.0 {
        format!("{s:.0} s")
    } else if s < 2.0 * 3600.0 {
        format!("{:.1} min", s / 60.0)
    } else if s < 2.0 * 86400.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{:.1} d", s / 86400.0)
    }
}

/// `"p < 0.001"` or `"p = 0.042"`.
pub(crate) fn p_value(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".to_owned()
    } else {
        format!("p = {p:.3}")
    }
}

/// `0.0123` → `"1.2 %"`.
pub(crate) fn percent(fraction: f64) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(bytes(12.0), "12 B");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(bytes(-3.0 * 1024.0 * 1024.0 * 1024.0), "-3.0 GiB");
        assert_eq!(bytes(f64::NAN), "?");
        assert_eq!(rate(1.2 * 1024.0 * 1024.0), "1.2 MiB/s");
        assert_eq!(rate(10.0 * 1024.0 * 1024.0 / 3600.0), "2.8 KiB/s");
        assert_eq!(rate(20.0), "1.2 KiB/min");
        assert_eq!(rate(2.0), "7.0 KiB/h");
        assert_eq!(rate(0.0), "0 B/s");
        assert_eq!(duration(0.25), "250 ms");
        assert_eq!(duration(40.0), "40 s");
        assert_eq!(duration(210.0), "3.5 min");
        assert_eq!(duration(7200.0), "2.0 h");
        assert_eq!(p_value(0.0001), "p < 0.001");
        assert_eq!(p_value(0.0421), "p = 0.042");
        assert_eq!(percent(0.0123), "1.2 %");
    }
}
