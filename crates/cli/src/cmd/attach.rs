//! `heapwise attach`: trace a process that runs already, then detach and
//! leave it as it was. The injector is `heapwise-attach` (ptrace, the
//! process's own `dlopen`); inside the process, the preload's
//! `heapwise_attach` starts recording and redirects the `malloc` family
//! through every module's GOT, and `heapwise_detach` writes it back (see
//! `crates/preload/src/attach.rs`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;

use super::args::{parse_duration, parse_max_size, parse_sample_interval};
use super::interrupts;
use super::launch::locate_preload;
use super::native;
use crate::tui::trace::{self as trace_view, LiveTrace, ViewContext};
use crate::tui::{self, Closed, Screen};

/// Trace a running process, then detach and leave it running as before.
#[derive(Args)]
#[command(
    after_help = "Example:\n  heapwise attach --pid 4242 --duration 10m -o server.hwt\n  heapwise report server.hwt\n\nSampled by default (one allocation per 512 KiB on average); --sample 1 traces every allocation. Blocks the process allocated before the attach are not known: the report covers what it allocated since. The library stays loaded (dormant) after the detach."
)]
pub struct AttachArgs {
    /// The process to trace.
    #[arg(long, value_name = "PID")]
    pid: i32,
    /// Detach after this long (e.g. `30s`, `10m`, `2h`); without it, on
    /// Ctrl-C or SIGTERM, or when the process ends.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Trace file [default: heapwise-COMMAND-PID.hwt in the current directory].
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
    /// Record a sample of the allocations: on average one per SIZE bytes
    /// allocated, at a cost a production service does not notice (sizes
    /// like 64KiB, 1MiB, 512k or bytes). `--sample 1` traces every
    /// allocation instead, exactly.
    #[arg(long, value_name = "SIZE", default_value = "512KiB", value_parser = parse_sample_interval)]
    sample: u64,
    /// The trace never grows past SIZE, however long heapwise stays
    /// attached (at least 64KiB; `none`: no limit) [default: 64MiB, no
    /// limit with --sample 1]. Past it the trace is compacted: totals and
    /// leaks stay exact, memory over time before the compaction is kept as
    /// snapshots, thinned as they age.
    #[arg(long, value_name = "SIZE", value_parser = parse_max_size)]
    max_size: Option<u64>,
    /// Memory for events waiting to be written, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 64, value_parser = clap::value_parser!(u32).range(4..=65536))]
    buffer_mb: u32,
    /// Leaking call stacks shown in the summary.
    #[arg(long, value_name = "N", default_value_t = 5)]
    top: usize,
    /// No live view: on a terminal, heapwise otherwise shows the process's
    /// memory live while attached (`q` detaches).
    #[arg(long)]
    no_tui: bool,
}

/// The preload's answers (`crates/preload/src/attach.rs`).
const ATTACHED: i64 = 0;
const ALREADY: i64 = 1;
const BAD_SETTINGS: i64 = 2;
const NO_TRACE: i64 = 3;

/// Runs `heapwise attach`.
pub fn run(args: AttachArgs) -> Result<ExitCode> {
    let pid = args.pid;
    heapwise_attach::check(pid)?;
    let preload = locate_preload()?;
    refuse_if_loaded(pid, &preload)?;
    let trace = trace_path(&args)?;
    // HEAPWISE_PARENT names the process's parent, so that the trace gets
    // the name asked for (as the process `heapwise run` starts does).
    let settings = format!(
        "HEAPWISE_OUTPUT={}\nHEAPWISE_SESSION=attach-{}\nHEAPWISE_BUFFER_MB={}\nHEAPWISE_PARENT={}\nHEAPWISE_SAMPLE={}\n",
        trace.display(),
        std::process::id(),
        args.buffer_mb,
        parent_of(pid),
        // 1: every allocation, exactly (a full trace).
        if args.sample <= 1 { 0 } else { args.sample }
    ) + &args
        .max_size
        .map_or_else(String::new, |bytes| format!("HEAPWISE_MAX_SIZE={bytes}\n"));
    interrupts::catch_interrupts();
    let started = Instant::now();
    match heapwise_attach::load_and_call(pid, &preload, "heapwise_attach", &settings)? {
        ATTACHED => {}
        ALREADY => bail!("process {pid} is traced by heapwise already"),
        BAD_SETTINGS => bail!("heapwise's library refused its settings (a bug: please report it)"),
        NO_TRACE => bail!(
            "process {pid} could not create its trace {} (its own stderr says why; it must be able to write there)",
            trace.display()
        ),
        other => bail!("heapwise's library in process {pid} answered {other}"),
    }
    let actual = trace_of(&trace, pid);
    eprintln!(
        "heapwise: attached to process {pid}, tracing into {}; {}",
        actual.display(),
        match args.duration {
            Some(d) => format!(
                "detaching after {}",
                heapwise_words::duration(d.as_secs_f64())
            ),
            None => "Ctrl-C detaches".to_string(),
        }
    );
    let process_ended = if !args.no_tui && crate::tui::on_terminal() {
        watch_live(pid, &actual, args.duration, started)?
    } else {
        wait(pid, args.duration, started)
    };
    if !process_ended {
        heapwise_attach::call_loaded(pid, &preload, "heapwise_detach", "")
            .context("while detaching (the process keeps running; its trace may end early)")?;
        eprintln!("heapwise: detached from process {pid}; it keeps running as before");
    }
    let analysis = native::analyze(&actual)?;
    let report = native::report(&analysis, 0, None);
    let mut stderr = std::io::stderr().lock();
    heapwise_render::native::summary::write(&mut stderr, &report, &actual, args.top)?;
    let _ = stderr.flush();
    Ok(ExitCode::SUCCESS)
}

/// A process that has the library already (started under `heapwise run`,
/// or attached before) is not attached again.
fn refuse_if_loaded(pid: i32, preload: &Path) -> Result<()> {
    let maps = heapwise_attach::mappings(pid)
        .with_context(|| format!("cannot read the mappings of process {pid}"))?;
    let name = preload.file_name();
    if maps
        .iter()
        .any(|m| m.path.as_deref().and_then(Path::file_name) == name)
    {
        bail!(
            "process {pid} has heapwise's library loaded already (started under `heapwise run`, or attached before): it cannot be attached again"
        );
    }
    Ok(())
}

/// The trace's path as an absolute template (the process has its own
/// working directory).
fn trace_path(args: &AttachArgs) -> Result<PathBuf> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    Ok(match &args.output {
        Some(path) => cwd.join(path),
        None => {
            let comm =
                std::fs::read_to_string(format!("/proc/{}/comm", args.pid)).unwrap_or_default();
            let name = super::launch::file_safe(comm.trim());
            cwd.join(format!("heapwise-{name}-{{pid}}.hwt"))
        }
    })
}

/// The file the process writes: the template with its pid.
fn trace_of(template: &Path, pid: i32) -> PathBuf {
    PathBuf::from(
        template
            .to_string_lossy()
            .replace("{pid}", &pid.to_string()),
    )
}

/// Waits for the duration, an interrupt, or the process's end; returns
/// whether the process ended.
fn wait(pid: i32, duration: Option<Duration>, started: Instant) -> bool {
    loop {
        if !Path::new(&format!("/proc/{pid}")).exists() || zombie(pid) {
            return true;
        }
        if interrupts::interrupted() || duration.is_some_and(|d| started.elapsed() >= d) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Shows the live view of the trace until the duration is up, the person
/// closes it (`q`, Ctrl-C) or the process ends; returns whether it ended.
fn watch_live(
    pid: i32,
    trace: &Path,
    duration: Option<Duration>,
    started: Instant,
) -> Result<bool> {
    let mut view = AttachView {
        pid,
        command: std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .unwrap_or_default()
            .replace('\0', " ")
            .trim()
            .to_string(),
        live: LiveTrace::new(trace),
        duration,
        started,
        ended: false,
    };
    let mut screen = Screen::enter().context("cannot draw on this terminal (try --no-tui)")?;
    let closed = tui::show(&mut screen, &mut view)?;
    if closed == Closed::HungUp {
        screen.abandon();
    } else {
        let _ = screen.leave();
    }
    Ok(view.ended)
}

/// `heapwise attach`'s live view: the trace as it grows.
struct AttachView {
    pid: i32,
    command: String,
    live: LiveTrace,
    duration: Option<Duration>,
    started: Instant,
    /// The process ended.
    ended: bool,
}

impl tui::View for AttachView {
    fn refresh(&mut self) -> Result<bool> {
        self.live.refresh();
        self.ended()
    }

    fn draw(&self, frame: &mut ratatui::Frame) {
        let context = ViewContext {
            title: "heapwise attach",
            command: &self.command,
            pid: self.pid as u32,
            output: None,
            keys: "q detaches (the process keeps running) and prints the summary",
            started: self.started,
            started_with_program: true,
        };
        trace_view::draw(frame, &self.live, &context);
    }

    fn ended(&mut self) -> Result<bool> {
        self.ended = !Path::new(&format!("/proc/{}", self.pid)).exists() || zombie(self.pid);
        Ok(self.ended
            || interrupts::interrupted()
            || self.duration.is_some_and(|d| self.started.elapsed() >= d))
    }

    fn interrupt(&mut self) -> bool {
        true
    }
}

/// The parent's pid (0 when unknown).
fn parent_of(pid: i32) -> i32 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let (_, rest) = s.rsplit_once(')')?;
            rest.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

fn zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}
