//! The watch report a person reads: the verdict first, then the figures
//! behind it.

use heapwise_words as words;
use std::io::{self, Write};

use heapwise_watch::{Basis, EndReason, LimitSource, PssState, Report, Snapshot, TrendBasis};

/// `heapwise watch --format text`.
pub fn write_text<W: Write + ?Sized>(out: &mut W, report: &Report) -> io::Result<()> {
    write_summary(out, &report.snapshot)
}

/// The text report from a [`Snapshot`] (everything but the samples).
pub fn write_summary<W: Write + ?Sized>(out: &mut W, s: &Snapshot) -> io::Result<()> {
    let tree = if s.children {
        let n = s.latest.as_ref().map_or(1, |l| l.processes);
        format!(" and its children ({n} processes)")
    } else {
        String::new()
    };
    writeln!(out, "heapwise watch: PID {} ({}){tree}", s.pid, s.command)?;
    writeln!(
        out,
        "Watched {} — {} samples every {}; {}.",
        words::duration(s.duration_s),
        words::thousands(s.sample_count as u64),
        words::duration(s.interval_s),
        ending(s)
    )?;
    writeln!(out)?;
    write_verdict(out, s)?;
    writeln!(out)?;
    write_figures(out, s)?;
    Ok(())
}

fn ending(s: &Snapshot) -> String {
    let Some(end) = s.end else {
        return "still watching".to_owned();
    };
    match end.reason {
        EndReason::Duration => "the watch ran for its --duration".to_owned(),
        EndReason::Interrupted => "the watch was interrupted".to_owned(),
        EndReason::Quit => "the dashboard was closed".to_owned(),
        EndReason::Exited => match end.exit {
            Some(exit) => exit.ended().said_of("the process"),
            None => "the process exited".to_owned(),
        },
    }
}

fn write_verdict<W: Write + ?Sized>(out: &mut W, s: &Snapshot) -> io::Result<()> {
    let v = &s.verdict;
    let headline = if v.leak {
        "LEAK"
    } else if v.whole_watch.enough_data {
        "no leak"
    } else {
        "not enough data"
    };
    let floor = if v.trend_basis == TrendBasis::LowerEnvelope {
        " (of the floor it falls back to)"
    } else {
        ""
    };
    writeln!(
        out,
        "Verdict: {headline} — pattern {}, anonymous memory {}{floor}",
        v.pattern,
        words::mb_per_hour(v.slope_bytes_per_s)
    )?;
    if let (Some(lo), Some(hi)) = (v.slope_lower_bytes_per_s, v.slope_upper_bytes_per_s) {
        writeln!(
            out,
            "  slope 95 % interval: {} to {}",
            words::mb_per_hour(Some(lo)),
            words::mb_per_hour(Some(hi))
        )?;
    }
    writeln!(out, "  {}", v.reason)?;
    if v.basis == Basis::LastWindow {
        writeln!(
            out,
            "  (judged on the last {}; over the whole watch: {})",
            words::duration(v.window_s),
            v.whole_watch.pattern
        )?;
    }
    writeln!(out, "  {}", v.confidence_note)?;
    let limit = match (v.limit_bytes, v.limit_source) {
        (Some(limit), Some(LimitSource::Cgroup)) => {
            format!("the cgroup memory limit of {}", words::bytes(limit))
        }
        (Some(limit), _) => format!("MemTotal of {}", words::bytes(limit)),
        (None, _) => "no known limit".to_owned(),
    };
    match v.time_to_limit_s {
        Some(eta) if eta <= 0.0 => writeln!(out, "  Already at {limit}.")?,
        Some(eta) => writeln!(
            out,
            "  Time to limit: {} until {limit} (at the slope's upper bound)",
            words::duration(eta)
        )?,
        None => writeln!(out, "  Time to limit: none forecast (not a leak); {limit}")?,
    }
    Ok(())
}

fn write_figures<W: Write + ?Sized>(out: &mut W, s: &Snapshot) -> io::Result<()> {
    let Some(latest) = &s.latest else {
        writeln!(out, "No sample was taken: the process ended first.")?;
        return Ok(());
    };
    writeln!(out, "{:<22}{:>12}{:>12}", "memory", "now", "peak")?;
    // A cell is a byte count, `?` when unknown, or blank when not tracked.
    let row = |name: &str, now: Option<Option<u64>>, peak: Option<Option<u64>>| {
        let cell = |c: Option<Option<u64>>| c.map_or_else(String::new, words::bytes_or_unknown);
        format!("  {name:<20}{:>12}{:>12}", cell(now), cell(peak))
    };
    let both = |now: Option<u64>, peak: Option<u64>| (Some(now), Some(peak));
    for (name, (now, peak)) in [
        ("RSS", both(Some(latest.rss_bytes), Some(s.peak.rss_bytes))),
        (
            "anonymous",
            both(Some(latest.anon_bytes), Some(s.peak.anon_bytes)),
        ),
        ("file-backed", (Some(latest.file_bytes), None)),
        ("shared (shmem)", (Some(latest.shmem_bytes), None)),
        // PSS is read less often than the rest: its latest reading.
        ("PSS", both(s.pss.last_bytes, s.peak.pss_bytes)),
        ("swap", both(latest.swap_bytes, s.peak.swap_bytes)),
        ("VmHWM (since start)", (None, Some(s.peak.hwm_bytes))),
    ] {
        writeln!(out, "{}", row(name, now, peak))?;
    }
    if latest.anon_bytes < s.peak.anon_bytes {
        writeln!(
            out,
            "  anonymous memory is {} from its peak",
            words::bytes_signed(latest.anon_bytes as i64 - s.peak.anon_bytes as i64)
        )?;
    }
    match s.pss.state {
        PssState::Sampled if s.pss.reason.is_none() => {}
        _ => writeln!(
            out,
            "  PSS {}: {}",
            match s.pss.state {
                PssState::Sampled => "sampled",
                PssState::Skipped => "skipped",
                PssState::Stopped => "stopped",
                PssState::Unavailable => "unavailable",
                PssState::Off => "off",
            },
            s.pss.reason.as_deref().unwrap_or("")
        )?,
    }
    if let (Some(info), Some(cg)) = (&s.cgroup, &latest.cgroup) {
        writeln!(out)?;
        let limit = cg.limit_bytes.map_or_else(
            || "no limit".to_owned(),
            |l| format!("limit {}", words::bytes(l)),
        );
        writeln!(
            out,
            "cgroup v{} {}: {} used, {limit}; anon {}, file {}",
            info.version,
            info.path,
            words::bytes_or_unknown(cg.current_bytes),
            words::bytes_or_unknown(cg.anon_bytes),
            words::bytes_or_unknown(cg.file_bytes)
        )?;
        let count = |n: Option<u64>| n.map_or_else(|| "?".to_owned(), |n| n.to_string());
        writeln!(
            out,
            "  during the watch: {} OOM events, {} OOM kills",
            count(s.oom_seen.oom),
            count(s.oom_seen.oom_kill)
        )?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use heapwise_watch::{History, JudgeOptions, Sample, WatchEnd};

    pub(crate) fn report(leak: bool) -> Report {
        let mut history = History::new();
        for i in 0..60u64 {
            let anon = if leak { (100 + i) << 20 } else { 100 << 20 };
            history.push(Sample {
                t_s: i as f64,
                rss_bytes: anon + (10 << 20),
                anon_bytes: anon,
                file_bytes: Some(10 << 20),
                shmem_bytes: Some(0),
                pss_bytes: Some(anon + (2 << 20)),
                swap_bytes: Some(0),
                vm_bytes: Some(1 << 30),
                hwm_bytes: Some(anon + (10 << 20)),
                processes: 1,
                cgroup: None,
            });
        }
        let verdict = history.judge(&JudgeOptions::default(), Some(8 << 30));
        Report {
            schema: heapwise_watch::SCHEMA.into(),
            snapshot: Snapshot {
                pid: 4242,
                command: "./server --port 8080".into(),
                name: "server".into(),
                children: false,
                interval_s: 1.0,
                duration_s: history.duration_s(),
                sample_count: history.samples().len(),
                latest: history.latest().cloned(),
                peak: history.peak().clone(),
                pss: heapwise_watch::PssStatus {
                    state: PssState::Sampled,
                    reason: None,
                    reads: 60,
                    slowest_read_ms: Some(0.1),
                    last_bytes: history.latest().and_then(|l| l.pss_bytes),
                    last_t_s: history.latest().map(|l| l.t_s),
                },
                cgroup: None,
                mem_total_bytes: Some(8 << 30),
                oom_seen: history.oom_seen(),
                verdict,
                end: Some(WatchEnd {
                    reason: EndReason::Duration,
                    exit: None,
                }),
            },
            samples: history.samples().to_vec(),
        }
    }

    #[test]
    fn a_leak_reads_as_one() {
        let mut out = Vec::new();
        write_text(&mut out, &report(true)).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("heapwise watch: PID 4242 (./server --port 8080)\n"));
        assert!(
            text.contains(
                "Watched 59 s — 60 samples every 1.0 s; the watch ran for its --duration."
            )
        );
        // 1 MiB/s = 3774.9 MB/h.
        assert!(
            text.contains("Verdict: LEAK — pattern linear, anonymous memory +3775 MB/h"),
            "{text}"
        );
        assert!(text.contains("Time to limit: "), "{text}");
        assert!(text.contains("until MemTotal of 8.0 GiB"), "{text}");
        let anon = text
            .lines()
            .find(|l| l.starts_with("  anonymous   "))
            .unwrap();
        assert_eq!(
            anon.split_whitespace().collect::<Vec<_>>(),
            ["anonymous", "159.0", "MiB", "159.0", "MiB"]
        );
    }

    #[test]
    fn flat_memory_is_no_leak_with_no_forecast() {
        let mut out = Vec::new();
        write_text(&mut out, &report(false)).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Verdict: no leak — pattern stable"), "{text}");
        assert!(text.contains("Time to limit: none forecast (not a leak); MemTotal of 8.0 GiB"));
    }
}
