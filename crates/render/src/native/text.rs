//! The report a person reads first: what ran, the totals, the size
//! distribution, and the leaking call stacks, largest first.

use std::io::{self, Write};

use heapwise_native::model::{Exit, Frame, Leak, NativeReport};

use super::{file_name, frame_label};
use crate::output::human_bytes;
// Also reachable here: the CLI and the other native views import it from
// this module.
pub use crate::output::thousands;

/// Options of the text report.
#[derive(Clone, Debug)]
pub struct TextOptions {
    /// Leak groups shown (the rest are counted).
    pub max_leaks: usize,
    /// Frames shown per stack (the rest are counted).
    pub max_frames: usize,
}

impl Default for TextOptions {
    fn default() -> TextOptions {
        TextOptions {
            max_leaks: 20,
            max_frames: 16,
        }
    }
}

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
    let ended = match report.process.exit {
        Some(Exit::Code(code)) => format!("exited with code {code}"),
        Some(Exit::Signal(signal)) => format!("killed by signal {signal}"),
        None => "end unknown".to_string(),
    };
    writeln!(
        out,
        "{command} (pid {}), {ended}, traced for {:.2} s",
        report.process.pid, report.summary.duration_s
    )?;
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
        human_bytes(s.allocated_bytes),
        thousands(s.allocations)
    )?;
    writeln!(out, "  freed      {:>12} frees", thousands(s.frees))?;
    writeln!(
        out,
        "  peak       {:>12} live, at {:.2} s",
        human_bytes(s.peak_live_bytes),
        s.peak_t_s
    )?;
    writeln!(
        out,
        "  leaked     {:>12} in {} blocks still allocated at the end",
        human_bytes(s.leaked_bytes),
        thousands(s.leaked_allocations)
    )
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
            thousands(class.allocations),
            human_bytes(class.allocated_bytes),
            thousands(class.leaked_allocations),
            human_bytes(class.leaked_bytes)
        )?;
    }
    Ok(())
}

/// The leak groups: the program's first, largest first; then what the
/// runtime holds until exit by design.
pub fn write_leaks<W: Write + ?Sized>(
    out: &mut W,
    report: &NativeReport,
    options: &TextOptions,
) -> io::Result<()> {
    if report.leaks.is_empty() {
        return writeln!(out, "Nothing recorded was still allocated at the end.");
    }
    let (program, runtime): (Vec<&Leak>, Vec<&Leak>) =
        report.leaks.iter().partition(|l| l.note.is_none());
    if program.is_empty() {
        writeln!(
            out,
            "Of what was recorded, only blocks the runtime holds (below) were still allocated at the end."
        )?;
    } else {
        writeln!(
            out,
            "Leaks, largest first ({} call stacks):",
            thousands(program.len() as u64)
        )?;
    }
    for (i, leak) in program.iter().take(options.max_leaks).enumerate() {
        writeln!(out)?;
        writeln!(
            out,
            "#{} {} in {} {}",
            i + 1,
            human_bytes(leak.bytes),
            thousands(leak.allocations),
            blocks(leak.allocations)
        )?;
        write_frames(out, leak, options)?;
    }
    let hidden = program.len().saturating_sub(options.max_leaks);
    if hidden > 0 {
        let bytes: u64 = program
            .iter()
            .skip(options.max_leaks)
            .map(|l| l.bytes)
            .sum();
        writeln!(out)?;
        writeln!(
            out,
            "... and {} more call stacks holding {} (see --format json)",
            thousands(hidden as u64),
            human_bytes(bytes)
        )?;
    }
    if !runtime.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "Held by the runtime until exit, by design (not leaks of the program):"
        )?;
        for leak in runtime {
            let first = leak.frames.first().map(describe_frame).unwrap_or_default();
            writeln!(
                out,
                "  {} in {} {}: {}\n      {first}",
                human_bytes(leak.bytes),
                thousands(leak.allocations),
                blocks(leak.allocations),
                leak.note.unwrap_or_default()
            )?;
        }
    }
    Ok(())
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
        human_bytes(inherited.bytes_at_fork),
        thousands(inherited.blocks_at_fork),
        blocks(inherited.blocks_at_fork),
        human_bytes(inherited.held_bytes),
        thousands(inherited.held_blocks),
        blocks(inherited.held_blocks)
    )?;
    for (i, group) in inherited.groups.iter().take(options.max_leaks).enumerate() {
        writeln!(out)?;
        writeln!(
            out,
            "#{} {} in {} {}, allocated by the parent at",
            i + 1,
            human_bytes(group.bytes),
            thousands(group.allocations),
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
        writeln!(out, "    {}", describe_frame(frame))?;
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

/// `function  file:line` or `function  (module)`.
pub fn describe_frame(frame: &Frame) -> String {
    let name = frame_label(frame);
    let inlined = if frame.inlined { " [inlined]" } else { "" };
    match (&frame.file, frame.line, &frame.module) {
        (Some(file), Some(line), _) => format!("{name}{inlined}  {file}:{line}"),
        (Some(file), None, _) => format!("{name}{inlined}  {file}"),
        (None, _, Some(module)) if frame.function.is_some() => {
            format!("{name}{inlined}  ({})", file_name(module))
        }
        _ => format!("{name}{inlined}"),
    }
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
