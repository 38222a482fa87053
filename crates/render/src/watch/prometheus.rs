//! Prometheus text exposition (format 0.0.4) of a watch: memory gauges, the
//! slope, the leak verdict and the time to the limit, every series labelled
//! `pid` and `command`. Unknown values are left out rather than written as
//! a made-up number; `docs/watch.md` lists every metric.

use std::io::{self, Write};

use heapwise_watch::{LimitSource, Pattern, Snapshot, WatchVerdict};

/// The `Content-Type` of this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Longest `command` label value, bytes (a full command line can be huge).
const MAX_COMMAND_LABEL: usize = 256;

/// Every pattern, for the one-hot `heapwise_watch_pattern` series.
const PATTERNS: [Pattern; 7] = [
    Pattern::Stable,
    Pattern::Plateau,
    Pattern::Sawtooth,
    Pattern::Linear,
    Pattern::Step,
    Pattern::Periodic,
    Pattern::Spike,
];

/// Writes the exposition for one watched process.
pub fn write_metrics<W: Write + ?Sized>(out: &mut W, s: &Snapshot) -> io::Result<()> {
    let mut command = s.command.as_str();
    if command.len() > MAX_COMMAND_LABEL {
        let mut end = MAX_COMMAND_LABEL;
        while !command.is_char_boundary(end) {
            end -= 1;
        }
        command = &command[..end];
    }
    let labels = format!("pid=\"{}\",command=\"{}\"", s.pid, escape_label(command));
    let mut m = Metrics {
        out,
        labels: &labels,
    };
    write_memory(&mut m, s)?;
    write_cgroup(&mut m, s)?;
    write_verdict(&mut m, &s.verdict)?;
    m.gauge(
        "heapwise_watch_duration_seconds",
        "Time from the first to the latest sample.",
        Some(s.duration_s),
    )?;
    m.counter(
        "heapwise_watch_samples_total",
        "Samples taken.",
        Some(s.sample_count as f64),
    )?;
    Ok(())
}

/// The process's memory figures: up, RSS and its parts, PSS, swap, peak.
fn write_memory<W: Write + ?Sized>(m: &mut Metrics<'_, W>, s: &Snapshot) -> io::Result<()> {
    let latest = s.latest.as_ref();
    m.gauge(
        "heapwise_watch_up",
        "1 while the watched process runs, 0 once it has exited.",
        Some(if s.end.is_some() { 0.0 } else { 1.0 }),
    )?;
    m.gauge(
        "heapwise_watch_rss_bytes",
        "Resident set size (VmRSS), summed over the process tree with --children.",
        latest.map(|l| l.rss_bytes as f64),
    )?;
    m.gauge(
        "heapwise_watch_anon_bytes",
        "Resident anonymous memory (RssAnon): the series the leak verdict judges.",
        latest.map(|l| l.anon_bytes as f64),
    )?;
    m.gauge(
        "heapwise_watch_file_bytes",
        "Resident file-backed memory (RssFile).",
        latest.and_then(|l| l.file_bytes).map(|b| b as f64),
    )?;
    m.gauge(
        "heapwise_watch_shmem_bytes",
        "Resident shared memory (RssShmem).",
        latest.and_then(|l| l.shmem_bytes).map(|b| b as f64),
    )?;
    m.gauge(
        "heapwise_watch_pss_bytes",
        "Proportional set size at the latest smaps_rollup read; absent if never read.",
        s.pss.last_bytes.map(|b| b as f64),
    )?;
    m.gauge(
        "heapwise_watch_swap_bytes",
        "Swapped-out anonymous memory (VmSwap).",
        latest.and_then(|l| l.swap_bytes).map(|b| b as f64),
    )?;
    m.gauge(
        "heapwise_watch_rss_peak_bytes",
        "Highest RSS sampled during the watch.",
        latest.map(|_| s.peak.rss_bytes as f64),
    )?;
    m.gauge(
        "heapwise_watch_processes",
        "Processes summed into the figures (1 without --children).",
        latest.map(|l| l.processes as f64),
    )?;
    Ok(())
}

/// The memory cgroup's charge and its out-of-memory counters.
fn write_cgroup<W: Write + ?Sized>(m: &mut Metrics<'_, W>, s: &Snapshot) -> io::Result<()> {
    let latest = s.latest.as_ref();
    let cgroup = latest.and_then(|l| l.cgroup.as_ref());
    m.gauge(
        "heapwise_watch_cgroup_memory_bytes",
        "Memory charged to the process's cgroup (memory.current).",
        cgroup.and_then(|c| c.current_bytes).map(|b| b as f64),
    )?;
    m.counter(
        "heapwise_watch_cgroup_oom_events_total",
        "The cgroup's count of out-of-memory events (memory.events oom).",
        cgroup.and_then(|c| c.oom).map(|n| n as f64),
    )?;
    m.counter(
        "heapwise_watch_cgroup_oom_kills_total",
        "The cgroup's count of processes killed by the OOM killer (memory.events oom_kill).",
        cgroup.and_then(|c| c.oom_kill).map(|n| n as f64),
    )?;
    Ok(())
}

/// The verdict: slope, leak, pattern, confidence, limit and time to it.
fn write_verdict<W: Write + ?Sized>(m: &mut Metrics<'_, W>, v: &WatchVerdict) -> io::Result<()> {
    m.gauge(
        "heapwise_watch_anon_slope_bytes_per_second",
        "Theil-Sen slope of anonymous memory (of its floor for a sawtooth).",
        v.slope_bytes_per_s,
    )?;
    m.gauge(
        "heapwise_watch_anon_slope_upper_bytes_per_second",
        "Upper bound of the slope's 95% interval, the rate the forecast uses.",
        v.slope_upper_bytes_per_s,
    )?;
    m.gauge(
        "heapwise_watch_leak",
        "1 when anonymous memory grows materially, significantly and without levelling off.",
        Some(if v.leak { 1.0 } else { 0.0 }),
    )?;
    m.header(
        "heapwise_watch_pattern",
        "The shape of anonymous memory: 1 for the current pattern, 0 for the others.",
        "gauge",
    )?;
    for pattern in PATTERNS {
        let value = if pattern == v.pattern { 1 } else { 0 };
        writeln!(
            m.out,
            "heapwise_watch_pattern{{{},pattern=\"{pattern}\"}} {value}",
            m.labels
        )?;
    }
    m.gauge(
        "heapwise_watch_verdict_confidence",
        "How sure the verdict is, 0 to 1; grows with observation time.",
        Some(v.confidence),
    )?;
    if let Some(limit) = v.limit_bytes {
        let source = match v.limit_source {
            Some(LimitSource::Cgroup) => "cgroup",
            _ => "memtotal",
        };
        m.header(
            "heapwise_watch_limit_bytes",
            "The memory limit the forecast counts down to: the lowest cgroup limit, else MemTotal.",
            "gauge",
        )?;
        writeln!(
            m.out,
            "heapwise_watch_limit_bytes{{{},source=\"{source}\"}} {limit}",
            m.labels
        )?;
    }
    m.gauge(
        "heapwise_watch_time_to_limit_seconds",
        "Seconds until the limit at the slope's upper bound; absent unless leaking.",
        v.time_to_limit_s,
    )?;
    Ok(())
}

struct Metrics<'a, W: Write + ?Sized> {
    out: &'a mut W,
    labels: &'a str,
}

impl<W: Write + ?Sized> Metrics<'_, W> {
    fn header(&mut self, name: &str, help: &str, kind: &str) -> io::Result<()> {
        writeln!(self.out, "# HELP {name} {}", escape_help(help))?;
        writeln!(self.out, "# TYPE {name} {kind}")
    }

    /// A gauge, or nothing at all when the value is unknown.
    fn gauge(&mut self, name: &str, help: &str, value: Option<f64>) -> io::Result<()> {
        self.sample(name, help, "gauge", value)
    }

    fn counter(&mut self, name: &str, help: &str, value: Option<f64>) -> io::Result<()> {
        self.sample(name, help, "counter", value)
    }

    fn sample(&mut self, name: &str, help: &str, kind: &str, value: Option<f64>) -> io::Result<()> {
        let Some(value) = value.filter(|v| v.is_finite()) else {
            return Ok(());
        };
        self.header(name, help, kind)?;
        writeln!(self.out, "{name}{{{}}} {}", self.labels, number(value))
    }
}

/// Integers without a fraction, others with enough digits to round-trip.
fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

/// Label values escape backslash, double quote and line feed.
fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// HELP text escapes backslash and line feed.
fn escape_help(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_labels_types_and_no_unknowns() {
        let mut report = super::super::text::tests::report(true);
        report.snapshot.command = "sh -c \"a\\b\"\nx".into();
        report.snapshot.end = None;
        let mut out = Vec::new();
        write_metrics(&mut out, &report.snapshot).unwrap();
        let text = String::from_utf8(out).unwrap();
        let labels = r#"{pid="4242",command="sh -c \"a\\b\"\nx"}"#;
        assert!(
            text.contains(&format!("heapwise_watch_up{labels} 1\n")),
            "{text}"
        );
        assert!(text.contains(&format!(
            "heapwise_watch_anon_bytes{labels} {}\n",
            159u64 << 20
        )));
        assert!(text.contains(&format!("heapwise_watch_leak{labels} 1\n")));
        assert!(text.contains("# TYPE heapwise_watch_samples_total counter\n"));
        assert!(text.contains(r#",pattern="linear"} 1"#));
        assert!(text.contains(r#",pattern="stable"} 0"#));
        assert!(text.contains(r#",source="memtotal"} 8589934592"#));
        assert!(text.contains("heapwise_watch_time_to_limit_seconds{"));
        // No cgroup: its series are absent, not zero.
        assert!(!text.contains("heapwise_watch_cgroup"));
        // Every sample line belongs to a declared metric.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split('{').next().unwrap();
            assert!(text.contains(&format!("# TYPE {name} ")), "{line}");
        }
    }

    #[test]
    fn long_commands_are_cut_on_a_character_boundary() {
        let mut report = super::super::text::tests::report(false);
        report.snapshot.command = "é".repeat(200);
        let mut out = Vec::new();
        write_metrics(&mut out, &report.snapshot).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(&format!("command=\"{}\"", "é".repeat(128))));
        assert!(!text.contains("heapwise_watch_time_to_limit_seconds"));
    }
}
