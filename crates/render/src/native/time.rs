//! The time-based sections of the text report: verdicts over time with a
//! small chart, growing stacks, the peak, old and temporary allocations,
//! fragmentation and recommendations.

use heapwise_words as words;
use std::io::{self, Write};

use heapwise_native::model::{NativeReport, TimelinePoint};
use heapwise_series::Verdict;

use super::TextOptions;

const CHART_WIDTH: usize = 64;
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// A one-line chart of `values` squeezed into `width` columns (the
/// maximum of each column), scaled from 0 to the largest value.
pub fn sparkline(values: &[u64], width: usize) -> String {
    if values.is_empty() {
        return String::new();
    }
    let columns = width.min(values.len()).max(1);
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    (0..columns)
        .map(|c| {
            let start = c * values.len() / columns;
            let end = ((c + 1) * values.len() / columns).max(start + 1);
            let v = values[start..end].iter().copied().max().unwrap_or(0);
            BARS[((v as u128 * (BARS.len() as u128 - 1) + max as u128 / 2) / max as u128) as usize]
        })
        .collect()
}

fn verdict_line(verdict: &Verdict) -> String {
    let leak = if verdict.leak { ", LEAK" } else { "" };
    format!("{}{leak} — {}", verdict.pattern, verdict.reason)
}

/// Writes the time-based sections.
pub fn write<W: Write + ?Sized>(
    out: &mut W,
    report: &NativeReport,
    options: &TextOptions,
) -> io::Result<()> {
    write_memory(out, report)?;
    write_growing(out, report, options)?;
    write_peak(out, report)?;
    write_old(out, report)?;
    write_temporary(out, report)?;
    if !report.recommendations.is_empty() {
        writeln!(out)?;
        writeln!(out, "What to do:")?;
        for r in &report.recommendations {
            writeln!(out, "  - {r}")?;
        }
    }
    Ok(())
}

/// The first frame of a stack, where it is.
fn first_place(frames: &[std::sync::Arc<heapwise_native::model::Frame>]) -> String {
    frames.first().map(|f| f.text().place()).unwrap_or_default()
}

/// Live heap and RSS over time as sparklines, their verdicts, the leak
/// rate, and RSS growing without the heap.
fn write_memory<W: Write + ?Sized>(out: &mut W, report: &NativeReport) -> io::Result<()> {
    let timeline: &[TimelinePoint] = &report.timeline;
    writeln!(
        out,
        "Memory over time ({}):",
        words::seconds_exact(report.summary.duration_s)
    )?;
    let live: Vec<u64> = timeline.iter().map(|p| p.live_bytes).collect();
    let peak_live = live.iter().copied().max().unwrap_or(0);
    writeln!(
        out,
        "  live heap  {}  max {}",
        sparkline(&live, CHART_WIDTH),
        words::bytes(peak_live)
    )?;
    let rss: Vec<u64> = timeline.iter().filter_map(|p| p.rss_bytes).collect();
    if !rss.is_empty() {
        let max_rss = rss.iter().copied().max().unwrap_or(0);
        writeln!(
            out,
            "  RSS        {}  max {}",
            sparkline(&rss, CHART_WIDTH),
            words::bytes(max_rss)
        )?;
    }
    writeln!(out, "  live heap: {}", verdict_line(&report.memory.live))?;
    if let Some(rss) = &report.memory.rss {
        writeln!(out, "  RSS:       {}", verdict_line(rss))?;
    }
    if let Some(rate) = report.memory.leak_rate_bytes_per_s {
        writeln!(out, "  leak rate: {}", words::rate_signed(rate))?;
    }
    if let Some(f) = &report.memory.fragmentation {
        writeln!(out)?;
        writeln!(
            out,
            "  {} ({}): RSS {} while the live heap changed {}",
            f.finding,
            f.kind,
            words::bytes_signed(f.rss_growth_bytes),
            words::bytes_signed(f.live_growth_bytes)
        )?;
    }
    Ok(())
}

/// The call stacks whose live bytes grow, most suspicious first.
fn write_growing<W: Write + ?Sized>(
    out: &mut W,
    report: &NativeReport,
    options: &TextOptions,
) -> io::Result<()> {
    let growing: Vec<_> = report
        .growth
        .iter()
        .filter(|g| g.leak || g.slope_bytes_per_s.unwrap_or(0.0) > 0.0)
        .collect();
    if growing.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "Growing call stacks, most suspicious first:")?;
    for g in growing.iter().take(options.max_leaks) {
        let leak = if g.leak { "LEAK" } else { "    " };
        writeln!(
            out,
            "  {leak} {:<9} {:>12}  {:>10} at the end  {}",
            g.pattern.to_string(),
            g.slope_bytes_per_s
                .map_or_else(|| "?".into(), words::rate_signed),
            words::bytes(g.live_bytes_end),
            first_place(&g.frames)
        )?;
    }
    Ok(())
}

/// The peak and who held it.
fn write_peak<W: Write + ?Sized>(out: &mut W, report: &NativeReport) -> io::Result<()> {
    writeln!(out)?;
    writeln!(
        out,
        "Peak: {} live at {}, held by:",
        words::bytes(report.peak.live_bytes),
        words::seconds_exact(report.peak.t_s)
    )?;
    for stack in report.peak.stacks.iter().take(5) {
        writeln!(
            out,
            "  {:>10}  {}",
            words::bytes(stack.bytes),
            first_place(&stack.frames)
        )?;
    }
    Ok(())
}

/// Blocks still live that were allocated long before the end.
fn write_old<W: Write + ?Sized>(out: &mut W, report: &NativeReport) -> io::Result<()> {
    let old = &report.old_allocations;
    if old.allocations == 0 {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(
        out,
        "Old allocations: {} blocks ({}) allocated more than {} before the end are still live:",
        words::thousands(old.allocations),
        words::bytes(old.bytes),
        words::duration(old.min_age_s)
    )?;
    for stack in old.stacks.iter().take(5) {
        writeln!(
            out,
            "  {:>10} in {:>7} blocks  {}",
            words::bytes(stack.bytes),
            words::thousands(stack.allocations),
            first_place(&stack.frames)
        )?;
    }
    Ok(())
}

/// Allocations freed before their thread allocated anything else.
fn write_temporary<W: Write + ?Sized>(out: &mut W, report: &NativeReport) -> io::Result<()> {
    let temporary = &report.temporary;
    if temporary.allocations == 0 {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(
        out,
        "Temporary allocations (freed before the thread allocated anything else): {} ({} of all):",
        words::thousands(temporary.allocations),
        words::percent(temporary.fraction)
    )?;
    for stack in temporary.stacks.iter().take(5) {
        writeln!(
            out,
            "  {:>10}  {}",
            words::thousands(stack.allocations),
            first_place(&stack.frames)
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_scale_to_the_maximum_and_fit_the_width() {
        assert_eq!(sparkline(&[0, 7, 14], 10), "▁▅█");
        assert_eq!(
            sparkline(&(0..1000).collect::<Vec<_>>(), 8).chars().count(),
            8
        );
        assert_eq!(sparkline(&[], 8), "");
        assert_eq!(sparkline(&[5, 5], 4), "██");
    }
}
