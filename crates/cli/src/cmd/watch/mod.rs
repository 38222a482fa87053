//! `heapwise watch`: follow a running process's memory, judge whether it
//! leaks, forecast when it hits its limit; live dashboard, headless reports
//! and a Prometheus endpoint.
//!
//! This module is the loop and the glue: sampling and judging are
//! `heapwise-watch`, formats are `heapwise-render`, the screen is
//! `crate::tui::watch`, built from the shared `crate::tui` pieces.

mod listen;
mod target;

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::{ArgGroup, Args, ValueEnum};

use heapwise_render::watch::{write_csv, write_json, write_metrics, write_text};
use heapwise_watch::{
    EndReason, JudgeOptions, PssPolicy, SamplerOptions, Watch, WatchEnd, WatchError, WatchOptions,
};

use super::args::parse_positive_duration;
use super::interrupts;
use crate::exit;
use listen::MetricsServer;
use target::{ChildIo, Launched};

/// Watch a running process's memory: verdict, forecast, dashboard.
#[derive(Args)]
#[command(
    group(ArgGroup::new("target").required(true).args(["pid", "command"])),
    after_help = "Examples:\n  heapwise watch --pid 4242\n  heapwise watch --no-tui --duration 10m --format json -o watch.json --pid 4242\n  heapwise watch --listen 127.0.0.1:9187 --children -- ./server --port 8080"
)]
pub struct WatchArgs {
    /// The process to watch.
    #[arg(long, value_name = "PID", allow_negative_numbers = true)]
    pid: Option<i64>,
    /// Time between samples: 500ms, 1s, 2m ... (at least 10ms).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_interval)]
    interval: Duration,
    /// Stop after this long [default: until the process exits, Ctrl-C, or q].
    #[arg(long, value_name = "DURATION", value_parser = parse_positive_duration)]
    duration: Option<Duration>,
    /// Format of the report written when the watch ends.
    #[arg(short, long, value_enum, default_value_t = WatchFormat::Text)]
    format: WatchFormat,
    /// Write the report to this file instead of standard output.
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
    /// No live dashboard, even on a terminal.
    #[arg(long)]
    no_tui: bool,
    /// Exit with code 10 if the verdict is a leak.
    #[arg(long)]
    fail_on_leak: bool,
    /// Add up the process and all its descendants (pre-forking servers).
    #[arg(long)]
    children: bool,
    /// Serve Prometheus metrics at http://ADDR:PORT/metrics while watching.
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<String>,
    /// Also judge the last DURATION on its own, once the watch is longer.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_positive_duration)]
    window: Duration,
    /// Never read smaps_rollup (PSS).
    #[arg(long)]
    no_pss: bool,
    /// Skip PSS while the process's RSS is above this many MiB (reading it
    /// walks page tables under the process's mmap lock).
    #[arg(long, value_name = "MIB", default_value_t = 2048)]
    pss_max_rss_mib: u64,
    /// The program to start and watch, with its arguments (after --).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    command: Vec<OsString>,
}

/// Formats of the final report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum WatchFormat {
    Text,
    Json,
    Csv,
}

/// The value parser of `--interval`: a positive duration of 10ms or more.
fn parse_interval(text: &str) -> Result<Duration, String> {
    let interval = parse_positive_duration(text)?;
    if interval < Duration::from_millis(10) {
        return Err("too short: sample at most every 10ms".to_string());
    }
    Ok(interval)
}

/// Runs `heapwise watch`.
pub fn run(args: WatchArgs) -> Result<ExitCode> {
    // Open the output first: a watch of hours must not end in "cannot write".
    let mut sink: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout())),
    };
    let server = args
        .listen
        .as_deref()
        .map(MetricsServer::start)
        .transpose()?;
    if let Some(server) = &server {
        eprintln!(
            "heapwise: serving metrics at http://{}/metrics",
            server.local_addr()
        );
    }
    let use_dashboard =
        !args.no_tui && std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    let (mut launched, pid, mut watch) = start(&args, use_dashboard)?;

    interrupts::catch_interrupts();
    let mut view = Dashboard {
        screen: if use_dashboard {
            Some(crate::tui::Screen::enter().context("cannot start the dashboard (try --no-tui)")?)
        } else {
            None
        },
        note: launched
            .as_ref()
            .and_then(|c| c.log.as_ref())
            .map(|log| format!("the program's output goes to {}", log.display())),
    };
    let reason = sample_until_the_end(&args, &mut watch, &mut view, server.as_ref())?;
    let exit = match reason {
        EndReason::Exited => launched
            .as_mut()
            .and_then(|c| c.wait_exit(Duration::from_secs(2))),
        _ => launched.as_mut().and_then(Launched::poll_exit),
    };
    watch.finish(WatchEnd { reason, exit });
    if let Some(screen) = view.screen.take() {
        screen.leave()?;
    }
    if watch.history().samples().is_empty() {
        return Err(exited_early(&args.command, pid, exit));
    }
    let report = watch.report();
    if let Some(server) = &server {
        server.publish(metrics_page(&watch));
    }
    match args.format {
        WatchFormat::Text => write_text(&mut sink, &report)?,
        WatchFormat::Json => write_json(&mut sink, &report)?,
        WatchFormat::Csv => write_csv(&mut sink, &report)?,
    }
    sink.flush()?;
    if let Some(child) = &launched {
        say_what_is_left(&args, child, exit);
    }
    if args.fail_on_leak && report.snapshot.verdict.leak {
        return Ok(ExitCode::from(exit::LEAK_FOUND));
    }
    Ok(ExitCode::SUCCESS)
}

/// What to sample and how to judge it, from the flags.
fn watch_options(args: &WatchArgs) -> WatchOptions {
    WatchOptions {
        sampler: SamplerOptions {
            children: args.children,
            pss: PssPolicy {
                enabled: !args.no_pss,
                max_rss_bytes: args.pss_max_rss_mib.saturating_mul(1 << 20),
                ..PssPolicy::default()
            },
        },
        judge: JudgeOptions {
            window_s: args.window.as_secs_f64(),
            ..JudgeOptions::default()
        },
        interval: args.interval,
    }
}

/// Starts the command (or takes `--pid`) and attaches the watch to it.
fn start(args: &WatchArgs, use_dashboard: bool) -> Result<(Option<Launched>, i64, Watch)> {
    let mut launched = match args.pid {
        Some(_) => None,
        None => {
            let io = if use_dashboard {
                ChildIo::LogFile
            } else if args.output.is_some() {
                ChildIo::Inherit
            } else {
                ChildIo::StdoutToStderr
            };
            Some(Launched::start(&args.command, io)?)
        }
    };
    let pid = match (&launched, args.pid) {
        (Some(child), _) => i64::from(child.pid()),
        (None, Some(pid)) => pid,
        (None, None) => bail!("no process to watch: give --pid PID or -- COMMAND [ARGS...]"),
    };
    match Watch::attach(pid, watch_options(args)) {
        Ok(watch) => Ok((launched, pid, watch)),
        Err(WatchError::Exited(_) | WatchError::NoSuchProcess(_)) if launched.is_some() => {
            let exit = launched
                .as_mut()
                .and_then(|c| c.wait_exit(Duration::from_secs(1)));
            Err(exited_early(&args.command, pid, exit))
        }
        Err(err) => Err(anyhow!(err)),
    }
}

/// The dashboard, when there is one, and the note under it.
struct Dashboard {
    screen: Option<crate::tui::Screen>,
    note: Option<String>,
}

impl Dashboard {
    fn draw(&mut self, watch: &Watch) -> Result<()> {
        if let Some(screen) = &mut self.screen {
            let snapshot = watch.snapshot();
            let note = self.note.as_deref();
            screen.draw(|f| crate::tui::watch::draw(f, &snapshot, watch.history(), note))?;
        }
        Ok(())
    }
}

/// Samples on the interval's absolute schedule until the process ends, the
/// duration is up, or the watch is interrupted or its dashboard closed.
fn sample_until_the_end(
    args: &WatchArgs,
    watch: &mut Watch,
    view: &mut Dashboard,
    server: Option<&MetricsServer>,
) -> Result<EndReason> {
    let (interval, duration) = (args.interval, args.duration);
    let live = view.screen.is_some() || server.is_some();
    let start = Instant::now();
    let mut tick: u64 = 0;
    loop {
        let t_s = start.elapsed().as_secs_f64();
        if watch.sample(t_s)?.is_none() {
            return Ok(EndReason::Exited);
        }
        if live {
            watch.refresh();
        }
        if let Some(server) = server {
            server.publish(metrics_page(watch));
        }
        view.draw(watch)?;
        if duration.is_some_and(|d| start.elapsed() + interval / 2 >= d) {
            return Ok(EndReason::Duration);
        }
        // Next tick on the absolute schedule; ticks missed (a stalled
        // machine) are skipped rather than sampled in a burst.
        let elapsed = start.elapsed();
        tick = tick.max((elapsed.as_secs_f64() / interval.as_secs_f64()) as u64) + 1;
        let mut next = start + Duration::from_secs_f64(interval.as_secs_f64() * tick as f64);
        if let Some(d) = duration {
            next = next.min(start + d);
        }
        if let Some(reason) = wait_until(next, view, watch)? {
            return Ok(reason);
        }
    }
}

/// Says that a program `watch` started is still running (it is not
/// stopped), and where its output went.
fn say_what_is_left(args: &WatchArgs, child: &Launched, exit: Option<heapwise_watch::ExitStatus>) {
    if exit.is_none() {
        eprintln!(
            "heapwise: {} (PID {}) is still running; watch does not stop it",
            args.command[0].to_string_lossy(),
            child.pid()
        );
    }
    if let Some(log) = &child.log {
        eprintln!("heapwise: the program's output is in {}", log.display());
    }
}

/// The process ended between starting (or attaching) and the first sample.
fn exited_early(
    command: &[OsString],
    pid: i64,
    exit: Option<heapwise_watch::ExitStatus>,
) -> anyhow::Error {
    let what = match command.first() {
        Some(program) => program.to_string_lossy().into_owned(),
        None => format!("process {pid}"),
    };
    let how = exit.map_or_else(String::new, |e| format!(" ({})", e.ended().short()));
    anyhow!("{what} exited before its memory could be sampled{how}")
}

/// Waits for the next sample time; `Some` when the watch must end first.
fn wait_until(next: Instant, view: &mut Dashboard, watch: &mut Watch) -> Result<Option<EndReason>> {
    loop {
        if interrupts::interrupted() {
            return Ok(Some(EndReason::Interrupted));
        }
        let now = Instant::now();
        if now >= next {
            return Ok(None);
        }
        // Wake at least every 100 ms to notice SIGINT/SIGTERM.
        let slice = (next - now).min(Duration::from_millis(100));
        let Some(screen) = &mut view.screen else {
            std::thread::sleep(slice);
            continue;
        };
        match screen.wait_for_input(slice)? {
            crate::tui::Input::Quit | crate::tui::Input::Interrupt => {
                return Ok(Some(EndReason::Quit));
            }
            crate::tui::Input::Hangup => {
                // Restoring a hung-up terminal fails loudly: let it go.
                screen.abandon();
                return Ok(Some(EndReason::Quit));
            }
            crate::tui::Input::Redraw => view.draw(watch)?,
            crate::tui::Input::Nothing => {}
        }
    }
}

fn metrics_page(watch: &Watch) -> String {
    let mut page = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = write_metrics(&mut page, &watch.snapshot());
    String::from_utf8_lossy(&page).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_positive_durations_of_10ms_or_more() {
        assert_eq!(parse_interval("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_interval("10ms"), Ok(Duration::from_millis(10)));
        assert_eq!(parse_interval("2m"), Ok(Duration::from_secs(120)));
        for bad in [
            "",
            "0s",
            "-1s",
            "fast",
            "1 fortnight",
            "1e3s",
            "1..2s",
            "nan",
        ] {
            let err = parse_interval(bad).unwrap_err();
            assert!(err.contains("not a duration"), "{bad}: {err}");
        }
        assert!(parse_interval("9ms").unwrap_err().contains("too short"));
    }
}
