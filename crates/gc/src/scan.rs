//! Small hand-written scanners shared by the parsers: numbers, sizes with
//! units, ISO-8601 timestamps, and an interner for event names.
//!
//! Everything here returns `None` on anything unexpected; nothing panics on
//! any input.

use std::collections::HashMap;
use std::sync::Arc;

/// A leading decimal number (`12`, `1.5`; `.5` is not accepted) and the rest
/// of the text after it. A decimal comma (`0,0387`, as the JVM writes under
/// a German or French locale) is read like a point when a digit follows it:
/// no GC log writes a thousands separator, and a list separator is always
/// followed by a blank.
pub fn number(text: &str) -> Option<(f64, &str)> {
    let bytes = text.as_bytes();
    let mut end = 0;
    while end < bytes.len() && bytes[end].is_ascii_digit() {
        end += 1;
    }
    if end == 0 {
        return None;
    }
    let mut comma = None;
    if end < bytes.len() && (bytes[end] == b'.' || bytes[end] == b',') {
        let mut frac = end + 1;
        while frac < bytes.len() && bytes[frac].is_ascii_digit() {
            frac += 1;
        }
        if frac > end + 1 {
            if bytes[end] == b',' {
                comma = Some(end);
            }
            end = frac;
        }
    }
    let value: f64 = match comma {
        None => text[..end].parse().ok()?,
        Some(at) => format!("{}.{}", &text[..at], &text[at + 1..end])
            .parse()
            .ok()?,
    };
    value.is_finite().then_some((value, &text[end..]))
}

/// A leading unsigned integer and the rest.
pub fn integer(text: &str) -> Option<(u64, &str)> {
    let end = text
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(text.len());
    if end == 0 {
        return None;
    }
    Some((text[..end].parse().ok()?, &text[end..]))
}

/// The multiplier of a JVM size unit (`B`, `K`, `M`, `G`, `T`; binary).
fn unit_scale(unit: u8) -> Option<f64> {
    match unit {
        b'B' => Some(1.0),
        b'K' | b'k' => Some(1024.0),
        b'M' => Some(1024.0 * 1024.0),
        b'G' => Some(1024.0 * 1024.0 * 1024.0),
        b'T' => Some(1024.0 * 1024.0 * 1024.0 * 1024.0),
        _ => None,
    }
}

/// A leading JVM size (`78M`, `3072.0K`, `0.0B`, `1G`) in bytes, and the
/// rest.
pub fn size(text: &str) -> Option<(u64, &str)> {
    let (value, rest) = number(text)?;
    let unit = *rest.as_bytes().first()?;
    let bytes = value * unit_scale(unit)?;
    Some((to_bytes(bytes)?, &rest[1..]))
}

/// A non-negative finite byte count as an integer.
pub fn to_bytes(value: f64) -> Option<u64> {
    (0.0..1.8e19).contains(&value).then(|| value.round() as u64)
}

/// Megabytes (V8 and Go print MB meaning MiB) to bytes.
pub fn mib(value: f64) -> Option<u64> {
    to_bytes(value * 1024.0 * 1024.0)
}

/// The byte index just after the last char of `text` for which `pred` is
/// true, or 0 (always a char boundary).
pub fn after_last(text: &str, pred: impl Fn(char) -> bool) -> usize {
    text.char_indices()
        .rev()
        .find(|&(_, c)| pred(c))
        .map_or(0, |(i, c)| i + c.len_utf8())
}

/// Skips leading spaces and tabs.
pub fn skip_ws(text: &str) -> &str {
    text.trim_start_matches([' ', '\t'])
}

/// `prefix` at the start of `text` (after optional blanks), and the rest.
pub fn expect<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    skip_ws(text).strip_prefix(prefix)
}

/// Seconds since the Unix epoch of an ISO-8601 timestamp as the JVM prints
/// it: `2024-05-01T10:00:00.123+0000`, `…+02:00`, `…Z`, or no zone (taken
/// as UTC). Returns the seconds and the rest of the text.
pub fn iso_timestamp(text: &str) -> Option<(f64, &str)> {
    let b = text.as_bytes();
    let digits = |from: usize, n: usize| -> Option<i64> {
        let part = text.get(from..from + n)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let year = digits(0, 4)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let month = digits(5, 2)?;
    let day = digits(8, 2)?;
    if !matches!(b.get(10), Some(b'T') | Some(b' ')) {
        return None;
    }
    let hour = digits(11, 2)?;
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return None;
    }
    let minute = digits(14, 2)?;
    let second = digits(17, 2)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let mut at = 19;
    let mut fraction = 0.0;
    if b.get(at) == Some(&b'.') {
        let start = at + 1;
        let mut end = start;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
        if end > start {
            fraction = format!("0.{}", &text[start..end]).parse().unwrap_or(0.0);
        }
        at = end;
    }
    let mut offset_s = 0i64;
    match b.get(at) {
        Some(b'Z') => at += 1,
        Some(&sign @ (b'+' | b'-')) => {
            let hh = digits(at + 1, 2)?;
            let (mm, len) = if b.get(at + 3) == Some(&b':') {
                (digits(at + 4, 2)?, 6)
            } else {
                (digits(at + 3, 2)?, 5)
            };
            offset_s = (hh * 3600 + mm * 60) * if sign == b'-' { -1 } else { 1 };
            at += len;
        }
        _ => {}
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_s;
    Some((seconds as f64 + fraction, &text[at..]))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Hands out one shared `Arc<str>` per distinct name, so a million events
/// named `Scavenge` share one allocation.
#[derive(Debug, Default)]
pub struct Interner {
    names: HashMap<Box<str>, Arc<str>>,
}

impl Interner {
    /// The shared copy of `name`.
    pub fn get(&mut self, name: &str) -> Arc<str> {
        if let Some(shared) = self.names.get(name) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(name);
        // Bounded: a garbled log could otherwise make every line a new name.
        if self.names.len() < 4096 {
            self.names.insert(name.into(), shared.clone());
        }
        shared
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_sizes() {
        assert_eq!(number("12.5 ms"), Some((12.5, " ms")));
        assert_eq!(number("0,0282200 secs]"), Some((0.02822, " secs]")));
        assert_eq!(number("16578,506: ["), Some((16578.506, ": [")));
        assert_eq!(number("12, 3"), Some((12.0, ", 3")));
        assert_eq!(
            size("214,9M(256,0M)"),
            Some(((214.9f64 * 1048576.0).round() as u64, "(256,0M)"))
        );
        assert_eq!(number("7."), Some((7.0, ".")));
        assert_eq!(number("x"), None);
        assert_eq!(size("78M->"), Some((78 * 1024 * 1024, "->")));
        assert_eq!(size("3072.0K)"), Some((3072 * 1024, ")")));
        assert_eq!(size("0.0B"), Some((0, "")));
        assert_eq!(size("12"), None);
        assert_eq!(size("12Q"), None);
        assert_eq!(integer("42)"), Some((42, ")")));
    }

    #[test]
    fn iso_timestamps_with_zones() {
        let (t, rest) = iso_timestamp("1970-01-02T00:00:01.500+0000]x").unwrap();
        assert_eq!(t, 86_401.5);
        assert_eq!(rest, "]x");
        let (t, _) = iso_timestamp("1970-01-01T02:00:00.000+02:00").unwrap();
        assert_eq!(t, 0.0);
        let (t, _) = iso_timestamp("2015-05-26T14:45:37.987-0200: 151.126").unwrap();
        assert_eq!(t, 1_432_658_737.987);
        assert!(iso_timestamp("2015-13-26T14:45:37").is_none());
        assert!(iso_timestamp("20x5").is_none());
    }

    #[test]
    fn interner_shares() {
        let mut names = Interner::default();
        let a = names.get("Scavenge");
        let b = names.get("Scavenge");
        assert!(Arc::ptr_eq(&a, &b));
    }
}
