//! The end-of-run summary `heapwise run` prints on stderr: one line on the
//! run, the verdict's headline, the call stacks that hold the most, what the
//! runtime holds by design, what a forked child inherited, the warnings, and
//! where the trace is.

use heapwise_words as words;
use std::io::{self, Write};
use std::path::Path;

use heapwise_native::model::NativeReport;

/// Writes the summary of `report` (built with every leak group) for the
/// trace at `trace`, listing at most `top` of the program's leak groups.
pub fn write<W: Write + ?Sized>(
    out: &mut W,
    report: &NativeReport,
    trace: &Path,
    top: usize,
) -> io::Result<()> {
    let s = &report.summary;
    let program = format!(
        "{} (pid {})",
        report.process.command.join(" "),
        report.process.pid
    );
    let ended = match report.process.exit {
        Some(exit) => exit.ended().said_of(&program),
        None => format!("{program} ended"),
    };
    writeln!(
        out,
        "heapwise: {ended} after {}: {} allocations, {} allocated, peak {} live",
        words::seconds_exact(s.duration_s),
        words::thousands(s.allocations),
        words::bytes(s.allocated_bytes),
        words::bytes(s.peak_live_bytes)
    )?;
    if let Some(sampling) = &report.sampling {
        writeln!(out, "heapwise: {}", super::sampling_sentence(sampling))?;
    }
    if let Some(compacted) = &report.trace.compacted {
        writeln!(out, "heapwise: {}", super::compaction_sentence(compacted))?;
    }
    writeln!(out, "heapwise: {}", report.verdict.headline)?;
    for detail in &report.verdict.details {
        writeln!(out, "heapwise: {detail}")?;
    }
    if let Some(sentence) = super::reachability_sentence(report) {
        writeln!(out, "heapwise: {sentence}")?;
    }
    if s.leaked_allocations > 0 {
        writeln!(
            out,
            "heapwise: {} still allocated at the end in {} blocks, from {} call stacks:",
            words::bytes(s.leaked_bytes),
            words::thousands(s.leaked_allocations),
            words::thousands(report.leaks.len() as u64)
        )?;
        let lists = super::leak_lists(report);
        // The program's groups, most serious kind first.
        let own = lists
            .own
            .iter()
            .flat_map(|(kind, groups)| groups.iter().map(move |l| (*kind, l)));
        for (kind, leak) in own.take(top) {
            let frames: Vec<String> = leak
                .frames
                .iter()
                .take(3)
                .map(|f| f.text().place())
                .collect();
            writeln!(
                out,
                "  {:>10} in {:>7} blocks  {}{}",
                words::bytes(leak.bytes),
                words::thousands(leak.allocations),
                kind.map_or(String::new(), |k| format!("{:<16} ", k.words())),
                frames.join("  <-  ")
            )?;
        }
        if !lists.suppressed.is_empty() {
            let bytes: u64 = lists.suppressed.iter().map(|l| l.bytes).sum();
            writeln!(
                out,
                "  {:>10} matched --suppressions ({} call stacks): not counted",
                words::bytes(bytes),
                words::thousands(lists.suppressed.len() as u64)
            )?;
        }
        if !lists.runtime.is_empty() {
            let bytes: u64 = lists.runtime.iter().map(|l| l.bytes).sum();
            writeln!(
                out,
                "  {:>10} held by the C/C++ runtime until exit by design (stdio buffers, loader records): not leaks",
                words::bytes(bytes)
            )?;
        }
    }
    if let Some(inherited) = &report.inherited {
        writeln!(
            out,
            "heapwise: it still holds {} in {} blocks it inherited from its parent (pid {})",
            words::bytes(inherited.held_bytes),
            words::thousands(inherited.held_blocks),
            inherited.parent_pid
        )?;
    }
    for warning in &report.warnings {
        writeln!(out, "heapwise: warning: {warning}")?;
    }
    writeln!(
        out,
        "heapwise: trace written to {}; for the full report: heapwise report {}",
        trace.display(),
        trace.display()
    )
}
