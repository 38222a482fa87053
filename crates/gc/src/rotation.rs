//! The order in which the files of a rotated set were written.
//!
//! JDK 8 rotates `gc.log.0`, `gc.log.1`, … with the file being written
//! named `gc.log.N.current`, and starts again at `.0` when the count is
//! reached; JDK 9 and later write `gc.log` and move full files to
//! `gc.log.0`, `gc.log.1`, …; `-Xloggc:gc-%t.log` gives a file per JVM
//! start named by its start time. So the order is, first, that of the first
//! date stamp in each file (JDK 8 `-XX:+PrintGCDateStamps`, unified
//! `time`/`utctime`, the `GC log file created` line of a rotated JDK 8
//! file); else that of the first uptime, when the files are one JVM's
//! numbered rotation; else the names: numbered files in the cycle that
//! ends at the `.current` one, then the file without a number (the one
//! being written), other names in natural order.

use std::cmp::Ordering;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::model::Clock;
use crate::reader::{GcLogReader, decompressed};
use crate::scan::iso_timestamp;

/// Bytes of each file looked at for its first time stamps.
const HEAD_BYTES: u64 = 256 * 1024;

/// `paths` in the order they were written.
pub(crate) fn order(paths: &[PathBuf]) -> Vec<PathBuf> {
    if paths.len() <= 1 {
        return paths.to_vec();
    }
    let heads: Vec<String> = paths.iter().map(|p| head(p)).collect();
    let dates: Vec<Option<f64>> = heads.iter().map(|h| first_date(h)).collect();
    let mut order: Vec<usize> = (0..paths.len()).collect();
    if dates.iter().all(Option::is_some) {
        order.sort_by(|&a, &b| dates[a].partial_cmp(&dates[b]).unwrap_or(Ordering::Equal));
        return order.into_iter().map(|i| paths[i].clone()).collect();
    }
    let keys: Vec<NameKey> = paths.iter().map(|p| name_key(p)).collect();
    let numbered = keys.iter().all(|k| k.number.is_some() || k.bare);
    if numbered {
        let uptimes: Vec<Option<f64>> = heads.iter().map(|h| first_uptime(h)).collect();
        if uptimes.iter().all(Option::is_some) {
            order.sort_by(|&a, &b| {
                uptimes[a]
                    .partial_cmp(&uptimes[b])
                    .unwrap_or(Ordering::Equal)
            });
            return order.into_iter().map(|i| paths[i].clone()).collect();
        }
    }
    let current = keys.iter().find(|k| k.current).and_then(|k| k.number);
    order.sort_by(|&a, &b| compare_names(&keys[a], &keys[b], current));
    order.into_iter().map(|i| paths[i].clone()).collect()
}

/// The first bytes of a file, decompressed, as text.
fn head(path: &Path) -> String {
    let Ok(file) = std::fs::File::open(path) else {
        return String::new();
    };
    let Ok((input, _)) = decompressed(file) else {
        return String::new();
    };
    let mut bytes = Vec::new();
    let _ = input.take(HEAD_BYTES).read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The first ISO-8601 date stamp in the text, seconds since the epoch.
fn first_date(text: &str) -> Option<f64> {
    for line in text.lines() {
        let bytes = line.as_bytes();
        for (i, window) in bytes.windows(11).enumerate() {
            let looks = window[..4].iter().all(u8::is_ascii_digit)
                && window[4] == b'-'
                && window[7] == b'-'
                && matches!(window[10], b'T' | b' ');
            if looks && let Some((t, _)) = line.get(i..).and_then(iso_timestamp) {
                return Some(t);
            }
        }
    }
    None
}

/// The first event's uptime, when the file's events carry one.
fn first_uptime(text: &str) -> Option<f64> {
    let mut reader = GcLogReader::new(None);
    // Only whole lines: the head may end in the middle of one.
    let end = text.rfind('\n').map_or(0, |at| at + 1);
    reader.feed(&text.as_bytes()[..end]);
    let log = reader.log()?;
    if log.clock != Clock::Uptime {
        return None;
    }
    log.events.first().and_then(|e| e.t_s)
}

/// What a rotated file's name says.
struct NameKey {
    name: String,
    /// `gc.log.3` → 3, `gc.log.3.current` → 3.
    number: Option<u64>,
    current: bool,
    /// No rotation number: `gc.log` (the file being written, JDK 9+).
    bare: bool,
}

fn name_key(path: &Path) -> NameKey {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".gz").unwrap_or(&name);
    let (stem, current) = match stem.strip_suffix(".current") {
        Some(stem) => (stem, true),
        None => (stem, false),
    };
    let number = stem
        .rsplit_once('.')
        .and_then(|(_, n)| n.parse::<u64>().ok());
    NameKey {
        bare: number.is_none(),
        name: name.clone(),
        number,
        current,
    }
}

/// Numbered files in the cycle that ends at the current one, then the
/// bare (being written) file, other names in natural order.
fn compare_names(a: &NameKey, b: &NameKey, current: Option<u64>) -> Ordering {
    let rank = |k: &NameKey| -> (u8, u64) {
        match (k.number, current) {
            (Some(n), Some(c)) if n > c => (0, n),
            (Some(n), Some(c)) if n < c => (1, n),
            (Some(n), Some(_)) => (2, n),
            (Some(n), None) => (1, n),
            (None, _) => (3, 0),
        }
    };
    rank(a)
        .cmp(&rank(b))
        .then_with(|| natural(&a.name, &b.name))
}

/// Names compared with their digit runs as numbers (`gc-9.log` before
/// `gc-10.log`).
fn natural(a: &str, b: &str) -> Ordering {
    let chunks = |s: &str| -> Vec<(bool, String)> {
        let mut out: Vec<(bool, String)> = Vec::new();
        for c in s.chars() {
            let digit = c.is_ascii_digit();
            match out.last_mut() {
                Some((d, text)) if *d == digit => text.push(c),
                _ => out.push((digit, c.to_string())),
            }
        }
        out
    };
    let (x, y) = (chunks(a), chunks(b));
    for (p, q) in x.iter().zip(&y) {
        let ordering = match (p.0, q.0) {
            (true, true) => {
                let (m, n) = (p.1.trim_start_matches('0'), q.1.trim_start_matches('0'));
                m.len().cmp(&n.len()).then_with(|| m.cmp(n))
            }
            _ => p.1.cmp(&q.1),
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    x.len().cmp(&y.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        let keys: Vec<NameKey> = list.iter().map(|n| name_key(Path::new(n))).collect();
        let current = keys.iter().find(|k| k.current).and_then(|k| k.number);
        let mut order: Vec<usize> = (0..list.len()).collect();
        order.sort_by(|&a, &b| compare_names(&keys[a], &keys[b], current));
        order.into_iter().map(|i| list[i].to_string()).collect()
    }

    #[test]
    fn rotated_names_in_the_order_written() {
        // JDK 8 after wrapping around: .3 and .4 are older than .0.
        assert_eq!(
            names(&[
                "gc.log.1",
                "gc.log.2.current",
                "gc.log.0",
                "gc.log.4",
                "gc.log.3"
            ]),
            [
                "gc.log.3",
                "gc.log.4",
                "gc.log.0",
                "gc.log.1",
                "gc.log.2.current"
            ]
        );
        assert_eq!(
            names(&["gc.log", "gc.log.1", "gc.log.0"]),
            ["gc.log.0", "gc.log.1", "gc.log"]
        );
        assert_eq!(
            names(&["gc-10.log", "gc-9.log.gz"]),
            ["gc-9.log.gz", "gc-10.log"]
        );
    }

    #[test]
    fn date_stamps_are_found_anywhere_in_a_line() {
        assert_eq!(
            first_date("x\n2016-04-14 22:31:33 GC log file created /logs/gc.log.2\n"),
            iso_timestamp("2016-04-14 22:31:33").map(|(t, _)| t)
        );
        assert!(first_date("0.1: [GC (Allocation Failure) 1K->0K(2K), 0.01 secs]\n").is_none());
    }
}
