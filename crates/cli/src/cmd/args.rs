//! Values of flags that more than one subcommand takes: durations such as
//! `500ms`, `10s`, `2m`, `1h`.

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

#[cfg(test)]
mod tests {
    use super::{parse_duration, parse_positive_duration, parse_seconds};
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
}
