//! `heapwise heap watch` for people: the samples' span, the verdict, and
//! the leak search on the snapshots taken after a leak verdict.

use std::io::{self, Write};

use heapwise_v8::watch::HeapWatchReport;
use heapwise_words as words;

use super::text::{Limits, write_leaks};

/// Writes the watch's report as text.
pub fn write_watch<W: Write + ?Sized>(out: &mut W, report: &HeapWatchReport) -> io::Result<()> {
    let verdict = &report.verdict;
    if let (Some(first), Some(last)) = (report.samples.first(), report.samples.last()) {
        writeln!(
            out,
            "{} samples of {} over {}: {} -> {} used.",
            words::thousands(report.samples.len() as u64),
            report.target,
            words::duration(last.t_s - first.t_s),
            words::bytes(first.used_bytes),
            words::bytes(last.used_bytes)
        )?;
    }
    writeln!(
        out,
        "Verdict: {} ({}){}",
        if verdict.leak { "LEAK" } else { "no leak" },
        verdict.pattern,
        verdict
            .slope_bytes_per_s
            .map_or_else(String::new, |s| format!(", slope {}", words::rate(s)))
    )?;
    writeln!(out, "{}", verdict.reason)?;
    if let Some(leaks) = &report.leaks {
        writeln!(out)?;
        let names: Vec<String> = report
            .snapshots
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        writeln!(out, "Snapshots: {}", names.join(" "))?;
        write_leaks(out, leaks, &Limits::default())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use heapwise_v8::watch::{HeapSample, WATCH_SCHEMA, judge};

    #[test]
    fn the_report_says_how_long_what_it_saw_and_the_verdict() {
        let samples: Vec<HeapSample> = (0..60)
            .map(|i| HeapSample {
                t_s: f64::from(i),
                used_bytes: 10_000_000 + 100_000 * i as u64,
                total_bytes: 50_000_000,
            })
            .collect();
        let report = HeapWatchReport {
            schema: WATCH_SCHEMA,
            inspect: "127.0.0.1:9229".into(),
            target: "app.js".into(),
            gc_before_samples: true,
            verdict: judge(&samples, true),
            samples,
            snapshots: Vec::new(),
            leaks: None,
        };
        let mut out = Vec::new();
        write_watch(&mut out, &report).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("60 samples of app.js over 59 s: 9.5 MiB -> 15.2 MiB used.\n"),
            "{text}"
        );
        assert!(
            text.contains("Verdict: LEAK (linear), slope 97.7 KiB/s"),
            "{text}"
        );
    }
}
