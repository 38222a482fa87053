//! `heapwise watch` results: one module per format.
//!
//! JSON is the [`Report`] as it is ([`write_json`]); [`text`] is for
//! people, [`csv`] is the samples for spreadsheets and plotting, and
//! [`prometheus`] is the text exposition a Prometheus server scrapes. The
//! small formatters below are shared with the live dashboard.

pub mod csv;
pub mod prometheus;
pub mod text;

use std::io::{self, Write};

use heapwise_watch::Report;

pub use csv::write_csv;
pub use prometheus::write_metrics;
pub use text::write_text;

/// Writes the `heapwise.watch/1` JSON document.
pub fn write_json<W: Write + ?Sized>(out: &mut W, report: &Report) -> io::Result<()> {
    crate::output::write_json(out, report)
}

/// A slope in megabytes (10⁶ bytes) per hour, the unit production alert
/// rules use (`+12.5 MB/h`); `?` when unknown.
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

/// `850 ms`, `40 s`, `3 min 20 s`, `5 h 02 min`, `3 d 4 h`.
pub fn duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "?".to_owned();
    }
    if seconds == 0.0 {
        return "0 s".to_owned();
    }
    if seconds < 1.0 {
        return format!("{:.0} ms", seconds * 1000.0);
    }
    let s = seconds.round() as u64;
    match s {
        0..=119 => format!("{s} s"),
        120..=3599 => format!("{} min {:02} s", s / 60, s % 60),
        3600..=172_799 => format!("{} h {:02} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// A byte count or `?`.
pub fn bytes_or_unknown(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "?".to_owned(), crate::output::human_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatters() {
        assert_eq!(mb_per_hour(Some(2777.8)), "+10.0 MB/h");
        assert_eq!(mb_per_hour(Some(-1e6 / 3600.0 * 250.0)), "-250 MB/h");
        assert_eq!(mb_per_hour(None), "?");
        assert_eq!(mb_per_hour(Some(f64::NAN)), "?");
        assert_eq!(duration(0.0), "0 s");
        assert_eq!(duration(0.25), "250 ms");
        assert_eq!(duration(40.2), "40 s");
        assert_eq!(duration(200.0), "3 min 20 s");
        assert_eq!(duration(5.0 * 3600.0 + 120.0), "5 h 02 min");
        assert_eq!(duration(3.0 * 86_400.0 + 4.0 * 3600.0), "3 d 4 h");
        assert_eq!(duration(f64::INFINITY), "?");
        assert_eq!(bytes_or_unknown(None), "?");
        assert_eq!(bytes_or_unknown(Some(2048)), "2.0 KiB");
    }
}
