//! `heapwise report`: read a trace and print its report.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;

use heapwise_render::native::TextOptions;

use super::native::{self, MetricArg, ReportFormat};
use crate::exit;

/// Report on a trace written by `heapwise run`.
#[derive(Args)]
pub struct ReportArgs {
    /// The trace file.
    #[arg(value_name = "TRACE")]
    trace: PathBuf,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = ReportFormat::Text)]
    format: ReportFormat,
    /// Write to this file instead of standard output.
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
    /// What flame graphs and folded stacks measure.
    #[arg(long, value_enum, default_value_t = MetricArg::Leaked)]
    metric: MetricArg,
    /// Leak groups (call stacks) listed: 20 by default in the text report;
    /// in JSON and HTML every one unless this is given (a C++ compiler's
    /// 23,000 groups of deep stacks made 234 MB of JSON). The totals always
    /// count every group.
    #[arg(long, value_name = "N")]
    max_leaks: Option<usize>,
    /// Exit with code 10 if the program leaks — the report's verdict:
    /// memory that keeps growing, or blocks of its own lost at exit
    /// (definitely, indirectly or possibly lost, as valgrind says; blocks
    /// still reachable do not count). Without a scan at exit (a trace not
    /// written by `heapwise run`, a killed program), every block of its
    /// own still allocated counts. Blocks the C/C++ runtime holds until
    /// exit by design (stdio buffers, libstdc++'s exception pool, the
    /// loader's records) and suppressed ones never count.
    #[arg(long)]
    fail_on_leak: bool,
    /// Known leaks to ignore, in valgrind's suppression format
    /// (`{ name Memcheck:Leak fun:... }`) or LeakSanitizer's
    /// (`leak:pattern`): they are listed as suppressed and not counted.
    #[arg(long, value_name = "FILE")]
    suppressions: Option<PathBuf>,
    /// Blocks allocated at least this long before the end count as "old"
    /// (e.g. 30s, 5m) [default: 5m for runs of 10 minutes or more, half the
    /// run otherwise].
    #[arg(long, value_name = "DURATION", value_parser = super::args::parse_duration)]
    min_age: Option<std::time::Duration>,
    /// The trace is still being written: follow it until the traced program
    /// ends, then report. On a terminal, a live view shows it meanwhile (`q`
    /// stops following).
    #[arg(long)]
    follow: bool,
    /// With --follow: no live view, just the report at the end.
    #[arg(long)]
    no_tui: bool,
    /// Read and replay the whole trace, even when `heapwise run` saved its
    /// analysis beside it (TRACE.analysis, used only by the heapwise build
    /// that saved it and only while the trace is unchanged).
    #[arg(long)]
    replay: bool,
}

/// Runs `heapwise report`.
pub fn run(args: ReportArgs) -> Result<ExitCode> {
    let suppressions = native::suppressions(args.suppressions.as_deref())?;
    let analysis = if args.follow {
        super::interrupts::catch_interrupts();
        native::follow_to_end(&args.trace, !args.no_tui && crate::tui::on_terminal())?
    } else {
        let options = heapwise_native::AnalyzeOptions {
            ignore_saved: args.replay,
        };
        native::analyze_with(&args.trace, &options)?
    };
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => {
            Box::new(BufWriter::new(File::create(path).with_context(|| {
                format!("could not create {}", path.display())
            })?))
        }
        None => {
            if args.format == ReportFormat::Pprof && std::io::stdout().is_terminal() {
                bail!("pprof output is binary; write it to a file with -o PATH (or pipe it)");
            }
            Box::new(BufWriter::new(std::io::stdout().lock()))
        }
    };
    let text = TextOptions {
        max_leaks: args.max_leaks.unwrap_or(TextOptions::default().max_leaks),
        ..TextOptions::default()
    };
    native::render(
        &mut out,
        &analysis,
        args.format,
        args.metric,
        &text,
        args.max_leaks,
        args.min_age,
        suppressions.as_ref(),
    )?;
    if args.fail_on_leak
        && native::report(&analysis, 1, args.min_age, suppressions.as_ref())
            .verdict
            .leak
    {
        return Ok(ExitCode::from(exit::LEAK_FOUND));
    }
    Ok(ExitCode::SUCCESS)
}
