//! Values of flags that more than one subcommand takes: durations such as
//! `500ms`, `10s`, `2m`, `1h`; sizes such as `64KiB`, `512k`, `1MiB`.

use std::time::Duration;

/// Parses `500ms`, `10s`, `1.5s`, `2m`, `1h`, `1d` or a plain number of
/// seconds into seconds: finite, and zero or more. Commands that need a
/// positive duration or a different message check the value themselves.
pub fn parse_seconds(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 500ms, 10s or 2m"))?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "s" | "" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86_400.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?} (use ms, s, m or h)"
            ));
        }
    };
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(format!("{text:?} is not a valid duration"));
    }
    Ok(seconds)
}

/// [`parse_seconds`] as a [`Duration`]: the value parser of duration flags.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let seconds = parse_seconds(text)?;
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("{:?} is too long", text.trim()))
}

/// [`parse_seconds`] for flags that need a positive duration (at most
/// 1e9 s): the value parser of `watch`'s durations.
pub fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    match parse_seconds(text) {
        Ok(seconds) if seconds > 0.0 => Ok(Duration::from_secs_f64(seconds.min(1e9))),
        _ => Err(
            "not a duration: use a positive number with ms, s, m or h (for example 500ms or 2s)"
                .to_string(),
        ),
    }
}

/// Parses a size in bytes: a whole number, optionally followed by `k`,
/// `KB`, `KiB`, `m`, `MB`, `MiB`, `g`, `GB`, `GiB` (any case, all powers of
/// 1024) or `B`. The preload reads `HEAPWISE_SAMPLE` the same way.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let bad = || format!("{text:?} is not a size: use bytes or a size such as 64KiB, 512k or 1MiB");
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(bad()),
    };
    number
        .checked_mul(1 << shift)
        .filter(|&bytes| bytes <= 1 << 62)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// [`parse_size`] for `--sample`: more than 0 bytes.
pub fn parse_sample_interval(text: &str) -> Result<u64, String> {
    match parse_size(text)? {
        0 => Err(format!(
            "{:?}: the mean interval between samples must be more than 0 bytes (without --sample every allocation is traced)",
            text.trim()
        )),
        bytes => Ok(bytes),
    }
}

/// The smallest `--max-size` (the preload's `HEAPWISE_MAX_SIZE` has the
/// same floor): room for a checkpoint and a few blocks.
pub const MIN_MAX_SIZE: u64 = 64 << 10;

/// [`parse_size`] for `--max-size`: at least [`MIN_MAX_SIZE`], or `none`
/// (0: no limit).
pub fn parse_max_size(text: &str) -> Result<u64, String> {
    if text.trim() == "none" {
        return Ok(0);
    }
    match parse_size(text)? {
        0 => Ok(0),
        bytes if bytes >= MIN_MAX_SIZE => Ok(bytes),
        _ => Err(format!(
            "{:?}: a trace needs at least 64KiB (or none for no limit)",
            text.trim()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::{
        parse_duration, parse_max_size, parse_positive_duration, parse_sample_interval,
        parse_seconds, parse_size,
    };

    #[test]
    fn a_max_size_is_at_least_64_kib_or_none() {
        assert_eq!(parse_max_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_max_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_max_size("none"), Ok(0));
        assert_eq!(parse_max_size("0"), Ok(0));
        assert!(
            parse_max_size("1000")
                .unwrap_err()
                .contains("at least 64KiB")
        );
        assert!(parse_max_size("big").is_err());
    }
    use std::time::Duration;

    #[test]
    fn positive_durations_refuse_zero() {
        assert_eq!(
            parse_positive_duration("1.5s"),
            Ok(Duration::from_millis(1500))
        );
        assert!(parse_positive_duration("0").is_err());
        assert!(parse_positive_duration("-2s").is_err());
    }

    #[test]
    fn durations_take_the_usual_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn zero_and_days_are_durations_but_not_negatives_or_overflows() {
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration(" 1.5 s "), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_seconds("2min"), Ok(120.0));
        assert!(parse_seconds("-1s").is_err());
        assert!(parse_seconds("1e3s").is_err());
        assert!(parse_seconds("1..2s").is_err());
        assert!(parse_seconds("").is_err());
        assert!(parse_duration(&"9".repeat(30)).is_err());
    }

    #[test]
    fn sizes_are_bytes_or_powers_of_1024() {
        assert_eq!(parse_size("524288"), Ok(524_288));
        assert_eq!(parse_size("64KiB"), Ok(65_536));
        assert_eq!(parse_size("512k"), Ok(524_288));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("2 MB"), Ok(2 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("0"), Ok(0));
        for bad in ["", "KiB", "1.5MiB", "-4k", "64 parsecs", "1TiB"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert!(
            parse_size("99999999999GiB")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn a_sample_interval_is_more_than_zero_bytes() {
        assert_eq!(parse_sample_interval("512KiB"), Ok(512 * 1024));
        assert_eq!(parse_sample_interval("1"), Ok(1));
        assert!(
            parse_sample_interval("0")
                .unwrap_err()
                .contains("more than 0")
        );
        assert!(parse_sample_interval("0KiB").is_err());
        assert!(
            parse_sample_interval("lots")
                .unwrap_err()
                .contains("not a size")
        );
    }
}
