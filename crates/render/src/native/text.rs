//! The report a person reads first: what ran, the totals, the size
//! distribution, and the leaking call stacks, largest first.

use heapwise_words as words;
use std::io::{self, Write};

use heapwise_native::model::{Exit, Leak, NativeReport};

use super::TextOptions;

/// Writes the full text report.
pub fn write<W: Write + ?Sized>(
    out: &mut W,
    report: &NativeReport,
    options: &TextOptions,
) -> io::Result<()> {
    write_header(out, report)?;
    writeln!(out)?;
    write_summary(out, report)?;
    writeln!(out)?;
    write_size_classes(out, report)?;
    writeln!(out)?;
    write_leaks(out, report, options)?;
    writeln!(out)?;
    if write_inherited(out, report, options)? {
        writeln!(out)?;
    }
    super::time::write(out, report, options)?;
    write_warnings(out, report)
}

/// One line: which process, how it ended, how long it ran.
pub fn write_header<W: Write + ?Sized>(out: &mut W, report: &NativeReport) -> io::Result<()> {
    let command = if report.process.command.is_empty() {
        "?".to_string()
    } else {
        report.process.command.join(" ")
    };
    let ended = words::Ended::label_of(report.process.exit.map(Exit::ended));
    writeln!(
        out,
        "{command} (pid {}), {ended}, traced for {}",
        report.process.pid,
        words::seconds_exact(report.summary.duration_s)
    )?;
    if let Some(sampling) = &report.sampling {
        writeln!(out, "{}", super::sampling_sentence(sampling))?;
    }
    if let Some(compacted) = &report.trace.compacted {
        writeln!(out, "{}", super::compaction_sentence(compacted))?;
    }
    write_verdict(out, report)
}

/// The verdict: its headline (the same sentence every format prints) and
/// the sentences that explain it.
pub fn write_verdict<W: Write + ?Sized>(out: &mut W, report: &NativeReport) -> io::Result<()> {
    writeln!(out, "{}", report.verdict.headline)?;
    for detail in &report.verdict.details {
        writeln!(out, "{detail}")?;
    }
    Ok(())
}

/// The totals.
pub fn write_summary<W: Write + ?Sized>(out: &mut W, report: &NativeReport) -> io::Result<()> {
    let s = &report.summary;
    writeln!(
        out,
        "  allocated  {:>12} in {} allocations",
        words::bytes(s.allocated_bytes),
        words::thousands(s.allocations)
    )?;
    writeln!(out, "  freed      {:>12} frees", words::thousands(s.frees))?;
    writeln!(
        out,
        "  peak       {:>12} live, at {}",
        words::bytes(s.peak_live_bytes),
        words::seconds_exact(s.peak_t_s)
    )?;
    writeln!(
        out,
        "  leaked     {:>12} in {} blocks still allocated at the end",
        words::bytes(s.leaked_bytes),
        words::thousands(s.leaked_allocations)
    )?;
    if let Some(sentence) = super::reachability_sentence(report) {
        writeln!(out, "{sentence}")?;
    }
    Ok(())
}

/// The size distribution.
pub fn write_size_classes<W: Write + ?Sized>(out: &mut W, report: &NativeReport) -> io::Result<()> {
    writeln!(
        out,
        "  {:<15} {:>14} {:>12} {:>14} {:>12}",
        "size", "allocations", "allocated", "leaked blocks", "leaked"
    )?;
    for class in &report.size_classes {
        writeln!(
            out,
            "  {:<15} {:>14} {:>12} {:>14} {:>12}",
            class.name,
            words::thousands(class.allocations),
            words::bytes(class.allocated_bytes),
            words::thousands(class.leaked_allocations),
            words::bytes(class.leaked_bytes)
        )?;
    }
    Ok(())
}

/// The leak groups: the program's first — by leak kind when the process
/// was scanned at exit (definitely, indirectly, possibly lost, still
/// reachable), largest first — then the suppressed ones, then what the
/// runtime holds until exit by design.
pub fn write_leaks<W: Write + ?Sized>(
    out: &mut W,
    report: &NativeReport,
    options: &TextOptions,
) -> io::Result<()> {
    if report.leaks.is_empty() {
        return writeln!(out, "Nothing recorded was still allocated at the end.");
    }
    let lists = super::leak_lists(report);
    if lists.own.is_empty() {
        writeln!(
            out,
            "Of what was recorded, only blocks the runtime holds or suppressions match (below) were still allocated at the end."
        )?;
    }
    let mut shown = 0;
    for (kind, groups) in &lists.own {
        if shown > 0 {
            writeln!(out)?;
        }
        let held: (u64, u64) = groups
            .iter()
            .fold((0, 0), |(b, n), l| (b + l.bytes, n + l.allocations));
        match kind {
            None => writeln!(
                out,
                "Leaks, largest first ({} call stacks):",
                words::thousands(groups.len() as u64)
            )?,
            Some(kind) => writeln!(
                out,
                "{}: {} in {} {}, from {} call {}{}:",
                super::kind_heading(*kind),
                words::bytes(held.0),
                words::thousands(held.1),
                blocks(held.1),
                words::thousands(groups.len() as u64),
                if groups.len() == 1 { "stack" } else { "stacks" },
                if kind.is_lost() {
                    ""
                } else {
                    " (pointed to at exit: not counted as leaks)"
                }
            )?,
        }
        let listed = groups.len().min(options.max_leaks.saturating_sub(shown));
        for leak in &groups[..listed] {
            shown += 1;
            writeln!(out)?;
            writeln!(
                out,
                "#{shown} {} in {} {}",
                words::bytes(leak.bytes),
                words::thousands(leak.allocations),
                blocks(leak.allocations)
            )?;
            write_frames(out, leak, options)?;
        }
        let hidden = &groups[listed..];
        if !hidden.is_empty() {
            let bytes: u64 = hidden.iter().map(|l| l.bytes).sum();
            writeln!(out)?;
            writeln!(
                out,
                "... and {} more call stacks holding {} (see --format json)",
                words::thousands(hidden.len() as u64),
                words::bytes(bytes)
            )?;
        }
    }
    if !lists.suppressed.is_empty() {
        writeln!(out)?;
        writeln!(out, "Suppressed (matched --suppressions, not counted):")?;
        for leak in &lists.suppressed {
            writeln!(
                out,
                "  {} in {} {}{} by {:?}\n      {}",
                words::bytes(leak.bytes),
                words::thousands(leak.allocations),
                blocks(leak.allocations),
                leak.kind
                    .map_or(String::new(), |k| format!(", {}", k.words())),
                leak.suppressed.as_deref().unwrap_or_default(),
                first_place(leak)
            )?;
        }
    }
    if !lists.runtime.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "Held by the runtime until exit, by design (not leaks of the program):"
        )?;
        for leak in &lists.runtime {
            writeln!(
                out,
                "  {} in {} {}{}: {}\n      {}",
                words::bytes(leak.bytes),
                words::thousands(leak.allocations),
                blocks(leak.allocations),
                leak.kind
                    .map_or(String::new(), |k| format!(", {}", k.words())),
                leak.note.unwrap_or_default(),
                first_place(leak)
            )?;
        }
    }
    Ok(())
}

fn first_place(leak: &Leak) -> String {
    leak.frames
        .first()
        .map(|f| f.text().place())
        .unwrap_or_default()
}

/// For a forked child: what it still holds of its parent's blocks. Returns
/// whether anything was written.
pub fn write_inherited<W: Write + ?Sized>(
    out: &mut W,
    report: &NativeReport,
    options: &TextOptions,
) -> io::Result<bool> {
    let Some(inherited) = &report.inherited else {
        return Ok(false);
    };
    writeln!(
        out,
        "Inherited from the parent (pid {}) at the fork: {} in {} {}; still held at the end: {} in {} {} (not counted above)",
        inherited.parent_pid,
        words::bytes(inherited.bytes_at_fork),
        words::thousands(inherited.blocks_at_fork),
        blocks(inherited.blocks_at_fork),
        words::bytes(inherited.held_bytes),
        words::thousands(inherited.held_blocks),
        blocks(inherited.held_blocks)
    )?;
    for (i, group) in inherited.groups.iter().take(options.max_leaks).enumerate() {
        writeln!(out)?;
        writeln!(
            out,
            "#{} {} in {} {}, allocated by the parent at",
            i + 1,
            words::bytes(group.bytes),
            words::thousands(group.allocations),
            blocks(group.allocations)
        )?;
        write_frames(out, group, options)?;
    }
    Ok(true)
}

fn blocks(n: u64) -> &'static str {
    if n == 1 { "block" } else { "blocks" }
}

fn write_frames<W: Write + ?Sized>(
    out: &mut W,
    leak: &Leak,
    options: &TextOptions,
) -> io::Result<()> {
    for frame in leak.frames.iter().take(options.max_frames) {
        writeln!(out, "    {}", frame.text().place())?;
    }
    if leak.frames.len() > options.max_frames {
        writeln!(
            out,
            "    ... {} more frames",
            leak.frames.len() - options.max_frames
        )?;
    }
    Ok(())
}

/// The warnings, if any.
pub fn write_warnings<W: Write + ?Sized>(out: &mut W, report: &NativeReport) -> io::Result<()> {
    if report.warnings.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    for warning in &report.warnings {
        writeln!(out, "warning: {warning}")?;
    }
    Ok(())
}
