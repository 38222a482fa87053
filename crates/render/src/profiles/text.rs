//! `heapwise profiles` as text.

use heapwise_words as words;
use std::io::{self, Write};

use heapwise_profiles::{Format, HeapGrowth, ProfilesReport, StackGrowth, TimeAxis};

use crate::native::time::sparkline;

/// Options of the text report.
#[derive(Debug, Clone)]
pub struct TextOptions {
    /// Frames shown per call stack.
    pub max_frames: usize,
}

impl Default for TextOptions {
    fn default() -> Self {
        TextOptions { max_frames: 8 }
    }
}

/// A slope for people: per second when the profiles have times, per
/// profile when they do not.
fn rate(per_s: Option<f64>, per_profile: Option<f64>) -> String {
    match (per_s, per_profile) {
        (Some(s), _) => words::rate_signed(s),
        (None, Some(p)) => format!("{} per profile", words::bytes_f64_signed(p)),
        _ => "?".to_owned(),
    }
}

/// Writes the report.
pub fn write<W: Write + ?Sized>(
    out: &mut W,
    report: &ProfilesReport,
    options: &TextOptions,
) -> io::Result<()> {
    header(out, report)?;
    writeln!(out)?;
    writeln!(out, "Verdict: {}", report.verdict.summary)?;
    writeln!(out)?;
    heap(out, &report.live_heap, report.time_axis)?;
    writeln!(out)?;
    stacks(out, report, options)?;
    if let Some(sampling) = &report.sampling {
        writeln!(out)?;
        let detectable = match sampling.detectable_rate_bytes_per_s {
            Some(r) => format!(
                "a leak slower than about {} over this long could go unseen",
                words::rate(r)
            ),
            None => "a leak that grows less than that over the series could go unseen".to_owned(),
        };
        writeln!(
            out,
            "Sampling: one sample per {} allocated; a stack's growth counts only beyond twice its sampling error, about {} at least, so {detectable}.",
            words::bytes(sampling.rate_bytes),
            words::bytes_f64(sampling.detectable_growth_bytes)
        )?;
    }
    if !report.warnings.is_empty() {
        writeln!(out)?;
        writeln!(out, "Warnings:")?;
        for warning in &report.warnings {
            writeln!(out, "  - {warning}")?;
        }
    }
    Ok(())
}

fn header<W: Write + ?Sized>(out: &mut W, report: &ProfilesReport) -> io::Result<()> {
    let n = report.profiles.len() as u64;
    let kind = match report.format {
        Format::Pprof => "pprof heap profile",
        Format::Jemalloc => "jemalloc heap_v2 dump",
    };
    let over = report
        .duration_s
        .map(|d| format!(" over {}", words::duration(d)))
        .unwrap_or_default();
    writeln!(
        out,
        "Heap profiles: {} {kind}{}{over}, {}",
        words::thousands(n),
        words::plural(n, "", "s"),
        report.time_axis.describe()
    )?;
    if let Some(sampling) = &report.sampling {
        writeln!(
            out,
            "  sampled (one sample per {} allocated): every figure is an estimate; the last profile's live heap ± {}",
            words::bytes(sampling.rate_bytes),
            words::bytes_f64(sampling.live_bytes_standard_error)
        )?;
    }
    let width = report
        .profiles
        .iter()
        .map(|p| words::file_name(&p.name).chars().count())
        .max()
        .unwrap_or(0);
    for profile in &report.profiles {
        let at = match report.time_axis {
            TimeAxis::Order => String::new(),
            _ => format!("  at {:>8}", words::duration(profile.t)),
        };
        writeln!(
            out,
            "  {:<width$}{at}  {:>10} live in {} object{}, {} stack{}",
            words::file_name(&profile.name),
            words::bytes(profile.live_bytes),
            words::thousands(profile.live_objects),
            words::plural(profile.live_objects, "", "s"),
            words::thousands(profile.stacks),
            words::plural(profile.stacks, "", "s")
        )?;
    }
    Ok(())
}

fn heap<W: Write + ?Sized>(out: &mut W, heap: &HeapGrowth, axis: TimeAxis) -> io::Result<()> {
    let first = heap.live_bytes.first().copied().unwrap_or(0);
    let last = heap.live_bytes.last().copied().unwrap_or(0);
    let per_s = heap
        .verdict
        .slope_bytes_per_s
        .filter(|_| axis != TimeAxis::Order);
    let leak = if heap.verdict.leak { ", LEAK" } else { "" };
    writeln!(
        out,
        "Live heap: {} → {}  {}  ({}{leak}, {})",
        words::bytes(first),
        words::bytes(last),
        sparkline(&heap.live_bytes, 40),
        heap.verdict.pattern,
        rate(per_s, heap.slope_bytes_per_profile)
    )?;
    writeln!(out, "  {}", heap.verdict.reason)
}

fn stacks<W: Write + ?Sized>(
    out: &mut W,
    report: &ProfilesReport,
    options: &TextOptions,
) -> io::Result<()> {
    writeln!(
        out,
        "Call stacks, most suspicious first ({} of {} judged; {} growing):",
        words::thousands(report.stacks.len() as u64),
        words::thousands(report.stacks_judged),
        words::thousands(report.stacks_growing)
    )?;
    for (i, stack) in report.stacks.iter().enumerate() {
        stack_entry(out, i + 1, stack, options)?;
    }
    Ok(())
}

fn stack_entry<W: Write + ?Sized>(
    out: &mut W,
    number: usize,
    stack: &StackGrowth,
    options: &TextOptions,
) -> io::Result<()> {
    let mark = if stack.leak { "LEAK " } else { "" };
    let error = stack
        .sampling_error_bytes
        .map(|e| format!(" ± {}", words::bytes_f64(e)))
        .unwrap_or_default();
    writeln!(
        out,
        "  {number:>2}. {mark}{}, {}: {} live at the end, {}{error} over the series  {}",
        stack.pattern,
        rate(stack.slope_bytes_per_s, stack.slope_bytes_per_profile),
        words::bytes(stack.live_bytes_end),
        words::bytes_f64_signed(stack.growth_bytes),
        sparkline(&stack.live_bytes, 40)
    )?;
    for frame in stack.frames.iter().take(options.max_frames) {
        writeln!(out, "        {}", frame.describe())?;
    }
    let hidden = stack.frames.len().saturating_sub(options.max_frames) as u64;
    if hidden > 0 {
        writeln!(
            out,
            "        … {} more frame{}",
            words::thousands(hidden),
            words::plural(hidden, "", "s")
        )?;
    }
    writeln!(out, "      {}", stack.verdict.reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use heapwise_profiles::{
        AnalysisOptions, Frame, HeapProfile, Input, StackSample, analyze, sampling_variance,
    };

    fn report(times: bool) -> ProfilesReport {
        let inputs = (0..8)
            .map(|i| {
                let bytes = (i as f64 + 1.0) * 1_048_576.0;
                Input {
                    name: format!("/tmp/dump-{i}.heap"),
                    mtime_unix_ns: None,
                    profile: HeapProfile {
                        format: if times {
                            heapwise_profiles::Format::Pprof
                        } else {
                            heapwise_profiles::Format::Jemalloc
                        },
                        time_unix_ns: times.then_some(i * 10_000_000_000),
                        sampling_rate_bytes: Some(16384),
                        stacks: vec![StackSample {
                            key: "grow:3".into(),
                            frames: vec![Frame {
                                address: Some("0x401000".into()),
                                function: Some("grow".into()),
                                file: Some("/src/grow.c".into()),
                                line: Some(3),
                                module: Some("prog".into()),
                                offset: None,
                                inlined: false,
                            }],
                            live_bytes: bytes as u64,
                            live_objects: (bytes / 1024.0) as u64,
                            allocated_bytes: 0,
                            allocated_objects: 0,
                            live_variance: sampling_variance(bytes, bytes / 1024.0, Some(16384)),
                        }],
                    },
                }
            })
            .collect();
        analyze(inputs, &AnalysisOptions::default()).unwrap()
    }

    fn text(report: &ProfilesReport) -> String {
        let mut out = Vec::new();
        write(&mut out, report, &TextOptions::default()).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_leak_is_named_with_its_rate_frames_and_error() {
        let text = text(&report(true));
        assert!(
            text.contains("Heap profiles: 8 pprof heap profiles over 70 s"),
            "{text}"
        );
        assert!(
            text.contains("Verdict: leak: the live bytes of grow (grow.c:3)"),
            "{text}"
        );
        // 1 MiB per 10 s.
        assert!(
            text.contains("LEAK linear, +102.4 KiB/s: 8.0 MiB live at the end"),
            "{text}"
        );
        assert!(text.contains("        grow (grow.c:3)"), "{text}");
        assert!(text.contains("one sample per 16.0 KiB allocated"), "{text}");
        assert!(text.contains("could go unseen"), "{text}");
    }

    #[test]
    fn without_times_rates_are_per_profile() {
        let text = text(&report(false));
        assert!(text.contains("in the order given"), "{text}");
        assert!(text.contains("+1.0 MiB per profile"), "{text}");
        assert!(
            text.contains("(the profiles carry no times: each second here is one profile)"),
            "{text}"
        );
        assert!(
            !text.contains("KiB/s") && !text.contains("over 7"),
            "{text}"
        );
    }
}
