//! `heapwise run`: start a program under the preload, scan it for
//! reachability when it exits (`reach.rs`), wait for it, append how it
//! ended and what the scan found to its trace, and print a short leak
//! summary.
//!
//! heapwise's own output goes to stderr; the program keeps its stdin,
//! stdout, stderr and environment (apart from the preload variables), and
//! `heapwise run` exits with the program's own status (128 + signal when it
//! was killed).

use heapwise_words as words;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;

use heapwise_native::Analysis;
use heapwise_native::suppress::SuppressionList;
use heapwise_trace::{ControlRecord, ExitStatus, Reachability, TraceReader, TraceWriter};

use super::args::{parse_max_size, parse_sample_interval};
use super::launch::{check_traceable, locate_preload, resolve_command};
use super::native;
use super::pty::{Pty, Relay};
use super::reach::{self, ReachListener};
use super::symbols::ReportSymbolizer;
use crate::tui::trace::{self as trace_view, LiveTrace, ViewContext};
use crate::tui::{self, Closed, Screen};

/// When the tracer compresses the trace (`HEAPWISE_COMPRESS`).
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Compress {
    Auto,
    Always,
    Never,
}

impl Compress {
    fn as_str(self) -> &'static str {
        match self {
            Compress::Auto => "auto",
            Compress::Always => "always",
            Compress::Never => "never",
        }
    }
}

/// Run a program and trace every allocation it makes.
#[derive(Args)]
#[command(
    after_help = "Example:\n  heapwise run -o server.hwt -- ./server --port 8080\n  heapwise report server.hwt"
)]
pub struct RunArgs {
    /// Trace file of the main process [default: heapwise-COMMAND-PID.hwt in the current directory]. Other processes it starts write theirs beside it, with their pid in the name.
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
    /// Do not trace child processes created with fork.
    #[arg(long)]
    no_follow_fork: bool,
    /// Memory for events waiting to be written, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 64, value_parser = clap::value_parser!(u32).range(4..=65536))]
    buffer_mb: u32,
    /// Compression of the trace: `auto` compresses except while the
    /// program keeps every CPU busy (then compressing would take its time;
    /// the trace is then about 1.6x larger).
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = Compress::Auto)]
    compress: Compress,
    /// Leaking call stacks shown in the summary.
    #[arg(long, value_name = "N", default_value_t = 5)]
    top: usize,
    /// Exit with code 10 if the program leaks (and exited 0; a failing
    /// program keeps its own status) — the verdict the summary prints:
    /// memory that keeps growing, or blocks of its own lost at exit
    /// (definitely, indirectly or possibly lost, as valgrind says, from a
    /// scan of its memory at exit; blocks still reachable from globals,
    /// stacks, thread-local storage or registers do not count). Without a
    /// scan (a killed program, a sampled trace) every block of its own
    /// still allocated counts. Blocks the C/C++ runtime holds until exit by
    /// design (stdio buffers, libstdc++'s exception pool, the loader's
    /// records) and suppressed ones never count.
    #[arg(long)]
    fail_on_leak: bool,
    /// Known leaks to ignore, in valgrind's suppression format
    /// (`{ name Memcheck:Leak fun:... }`) or LeakSanitizer's
    /// (`leak:pattern`): they are listed as suppressed and not counted.
    #[arg(long, value_name = "FILE")]
    suppressions: Option<PathBuf>,
    /// Record a sample of the allocations instead of all of them: on
    /// average one per SIZE bytes allocated (default 512KiB; sizes like
    /// 64KiB, 1MiB, 512k or bytes), at a small fraction of a full trace's
    /// cost; reports then show estimates.
    #[arg(
        long,
        value_name = "SIZE",
        num_args = 0..=1,
        default_missing_value = "512KiB",
        value_parser = parse_sample_interval
    )]
    sample: Option<u64>,
    /// The trace never grows past SIZE, however long the program runs
    /// (at least 64KiB; `none`: no limit) [default: 64MiB with --sample,
    /// no limit otherwise]. Past it the trace is compacted: totals and
    /// leaks stay exact, memory over time before the compaction is kept as
    /// snapshots, thinned as they age.
    #[arg(long, value_name = "SIZE", value_parser = parse_max_size)]
    max_size: Option<u64>,
    /// No live view: on a terminal, heapwise otherwise shows the program's
    /// memory live while it runs (`q` closes the view, not the program).
    #[arg(long)]
    no_tui: bool,
    /// The program and its arguments.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    command: Vec<OsString>,
}

static CHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward_signal(signal: libc::c_int) {
    let child = CHILD.load(Ordering::Acquire);
    if child > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(child, signal) };
    }
}

/// Runs `heapwise run`.
pub fn run(args: RunArgs) -> Result<ExitCode> {
    let suppressions = native::suppressions(args.suppressions.as_deref())?;
    let preload = locate_preload()?;
    let program = resolve_command(&args.command[0])?;
    check_traceable(&program)?;
    warn_own_allocator(&program);
    let template = trace_template(&args)?;
    let session = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    // A sampled trace holds a sample of the blocks: no scan for it.
    let mut reach = match args.sample {
        None => Some(
            ReachListener::bind(&session)
                .map_err(|e| format!("heapwise could not listen for the program's exit: {e}")),
        ),
        Some(_) => None,
    };
    let reach_name = match &reach {
        Some(Ok(listener)) => Some(listener.name().to_string()),
        _ => None,
    };
    let mut command = traced_command(&args, &preload, &template, &session, reach_name.as_deref());
    let pty = if !args.no_tui && tui::on_terminal() {
        open_pty(&mut command)
    } else {
        None
    };
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot run {}", program.display()))?;
    let pid = child.id() as i32;
    CHILD.store(pid, Ordering::Release);
    leave_signals_to_the_program();
    let listener = match &mut reach {
        Some(Ok(listener)) => {
            listener.set_child(pid as u32);
            Some(listener)
        }
        _ => None,
    };
    let trace_of = |pid: u32| {
        session_traces(&template, &session)
            .into_iter()
            .filter(|t| t.pid == pid)
            .max_by_key(|t| t.sequence)
            .map(|t| t.path)
    };
    let first_trace = PathBuf::from(
        template
            .to_string_lossy()
            .replace("{pid}", &pid.to_string()),
    );
    // The summary's symbolizer, warmed while the program runs.
    let mut symbolizer = None;
    let (status, followed) = match pty {
        Some(mut pty) => {
            pty.spawned();
            let status = wait_with_view(
                &mut child,
                pty,
                &first_trace,
                &args.command,
                listener,
                &trace_of,
            )?;
            (status, None)
        }
        None => {
            // Replayed while it runs: the scan at exit and the summary are
            // then nearly ready when the program ends.
            let (warmed, feeder) = super::symbols::Warmed::start();
            symbolizer = Some(warmed);
            let mut followed = Some(native::Background::follow(
                first_trace.clone(),
                Some(feeder),
            ));
            let status = wait(&mut child, listener, &trace_of, &mut followed)?;
            (status, followed.and_then(native::Background::finish))
        }
    };
    let ended = match (status.code(), status.signal()) {
        (Some(code), _) => ExitStatus::Code(code),
        (None, Some(signal)) => ExitStatus::Signal(signal),
        _ => ExitStatus::Code(1),
    };
    let traces = session_traces(&template, &session);
    let main = traces
        .iter()
        .filter(|t| t.pid == pid as u32)
        .max_by_key(|t| t.sequence);
    let mut stderr = std::io::stderr().lock();
    let Some(main) = main else {
        writeln!(
            stderr,
            "heapwise: {} ran but wrote no trace (it may clear LD_PRELOAD, or have been killed before it started)",
            program.display()
        )?;
        return Ok(exit_code(ended));
    };
    let scanned = reach.map(|r| r.and_then(|listener| listener.finish(ended)));
    let followed = followed.filter(|_| main.path == first_trace);
    let analysis = read_main_trace(&main.path, ended, scanned, followed, args.compress)?;
    // Only writing can fail here; a closed stderr (the terminal hung up)
    // must not change the exit status, which is the program's.
    // The analysis is saved on a thread of its own while the summary is
    // judged and written.
    let (summarized, not_saved) = std::thread::scope(|scope| {
        let saving = scope.spawn(|| save_analysis(&analysis, &main.path));
        let summarized = summarize(
            &mut stderr,
            &analysis,
            &main.path,
            (args.top, suppressions.as_ref()),
            symbolizer.as_mut(),
        );
        (summarized, saving.join().unwrap_or(None))
    });
    if let Some(why) = not_saved {
        let _ = writeln!(stderr, "{why}");
    }
    let Ok(leak) = summarized else {
        return Ok(exit_code(ended));
    };
    let others: Vec<&SessionTrace> = traces.iter().filter(|t| t.path != main.path).collect();
    let _ = list_other_traces(&mut stderr, &others);
    Ok(
        if args.fail_on_leak && leak && matches!(ended, ExitStatus::Code(0)) {
            ExitCode::from(crate::exit::LEAK_FOUND)
        } else {
            exit_code(ended)
        },
    )
}

/// `heapwise run` exits as the program did (128 + signal when killed).
fn exit_code(ended: ExitStatus) -> ExitCode {
    match ended {
        ExitStatus::Code(code) => ExitCode::from((code & 0xff) as u8),
        ExitStatus::Signal(signal) => ExitCode::from((128 + signal).clamp(0, 255) as u8),
        ExitStatus::Exec => ExitCode::SUCCESS,
    }
}

/// Says at the start when the program has an allocator of its own, which
/// LD_PRELOAD cannot see into.
fn warn_own_allocator(program: &Path) {
    let Some(allocator) = native::own_allocator(&program.to_string_lossy()) else {
        return;
    };
    let (what, seen) = if allocator.replaces_malloc {
        (
            "defines malloc itself".to_string(),
            "heapwise will see (almost) none of its allocations",
        )
    } else {
        (
            format!("has {} linked in statically", allocator.name),
            "only what libc and other libraries allocate with malloc will be seen",
        )
    };
    eprintln!(
        "heapwise: warning: {} {what}, which LD_PRELOAD cannot intercept: {seen}",
        program.display()
    );
}

/// The trace's path, `{pid}` standing for each process's id: `-o`, or
/// `heapwise-COMMAND-{pid}.hwt` in the current directory.
fn trace_template(args: &RunArgs) -> Result<PathBuf> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    if let Some(path) = &args.output {
        let path = cwd.join(path);
        prepare_output(&path)?;
        return Ok(path);
    }
    let name = Path::new(&args.command[0])
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "program".into());
    let name = super::launch::file_safe(&name);
    check_directory_writable(&cwd)?;
    Ok(cwd.join(format!("heapwise-{name}-{{pid}}.hwt")))
}

/// Waits for the program, answering its question at exit (`reach.rs`).
fn wait(
    child: &mut Child,
    listener: Option<&mut ReachListener>,
    trace_of: &dyn Fn(u32) -> Option<PathBuf>,
    followed: &mut Option<native::Background>,
) -> Result<std::process::ExitStatus> {
    let Some(listener) = listener else {
        return child.wait().context("cannot wait for the traced program");
    };
    // The program's end wakes the wait at once (a pidfd is readable when
    // its process has ended); without one (Linux before 5.3) it is seen
    // within the poll's 20 ms.
    let exit = pidfd(child.id());
    loop {
        if let Some(status) = child
            .try_wait()
            .context("cannot wait for the traced program")?
        {
            return Ok(status);
        }
        listener.poll(Duration::from_millis(20), exit.as_ref(), trace_of, followed);
    }
}

/// A pidfd of process `pid` (`pidfd_open`), if the kernel has them.
fn pidfd(pid: u32) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor
    // or −1; it touches no memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    // SAFETY: a descriptor just opened, owned by no one else.
    (fd >= 0).then(|| unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}

/// The program's command with the preload and its settings in the
/// environment (an `LD_PRELOAD` of its own is kept, after ours).
fn traced_command(
    args: &RunArgs,
    preload: &Path,
    template: &Path,
    session: &str,
    reach: Option<&str>,
) -> Command {
    let mut ld_preload = preload.as_os_str().to_os_string();
    if let Some(existing) = std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) {
        ld_preload.push(":");
        ld_preload.push(existing);
    }
    let mut command = Command::new(&args.command[0]);
    command
        .args(&args.command[1..])
        .env("LD_PRELOAD", ld_preload)
        .env("HEAPWISE_OUTPUT", template)
        .env("HEAPWISE_SESSION", session)
        .env("HEAPWISE_PARENT", std::process::id().to_string())
        .env("HEAPWISE_BUFFER_MB", args.buffer_mb.to_string())
        .env("HEAPWISE_COMPRESS", args.compress.as_str());
    if args.no_follow_fork {
        command.env("HEAPWISE_FOLLOW_FORK", "0");
    }
    match reach {
        Some(name) => command.env("HEAPWISE_REACH", name),
        None => command.env_remove("HEAPWISE_REACH"),
    };
    match args.sample {
        Some(interval) => command.env("HEAPWISE_SAMPLE", interval.to_string()),
        // A setting inherited from heapwise's own environment does not
        // apply: without --sample, every allocation is traced.
        None => command.env_remove("HEAPWISE_SAMPLE"),
    };
    match args.max_size {
        Some(bytes) => command.env("HEAPWISE_MAX_SIZE", bytes.to_string()),
        // Nor does an inherited limit: the preload's default applies.
        None => command.env_remove("HEAPWISE_MAX_SIZE"),
    };
    command
}

/// A pseudo-terminal for the program, so that the live view can own the
/// real one; none (and no view) when it cannot be opened.
fn open_pty(command: &mut Command) -> Option<Pty> {
    match Pty::open(libc::STDOUT_FILENO) {
        Ok(terminal) => {
            terminal.attach(command);
            Some(terminal)
        }
        Err(err) => {
            eprintln!(
                "heapwise: no live view: cannot open a pseudo-terminal for the program: {err}"
            );
            None
        }
    }
}

/// The terminal sends Ctrl-C and Ctrl-\ to the whole process group: let
/// the program decide what they do, and stay alive to finish the trace.
/// Termination requests sent to heapwise go to the program.
fn leave_signals_to_the_program() {
    // SAFETY: installing dispositions in our own process.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGQUIT, libc::SIG_IGN);
        libc::signal(
            libc::SIGTERM,
            forward_signal as *const () as libc::sighandler_t,
        );
        libc::signal(
            libc::SIGHUP,
            forward_signal as *const () as libc::sighandler_t,
        );
    }
}

/// Reads the main process's trace (replayed already if it was scanned at
/// exit), appending how it ended when it could not say so itself (a
/// signal), and what the scan at exit found or why there was none.
fn read_main_trace(
    path: &Path,
    ended: ExitStatus,
    scanned: Option<Result<reach::Scanned, String>>,
    followed: Option<heapwise_native::follow::Follower>,
    compress: Compress,
) -> Result<Analysis> {
    // The trace as replayed while the program ran (caught up), else read.
    let replay = |followed: Option<heapwise_native::follow::Follower>| -> Result<Analysis> {
        match followed {
            Some(mut follower) => {
                native::recover(path);
                follower
                    .poll()
                    .with_context(|| format!("while reading trace {}", path.display()))?;
                follower.finish();
                Ok(follower.analysis)
            }
            None => native::analyze(path),
        }
    };
    let (mut analysis, scanned) = match scanned {
        Some(Ok(s)) if reach::same_trace(&s, path) => {
            let record = s.record.clone();
            (s.analysis, Some(Ok((record, s.lost))))
        }
        Some(Ok(_)) => (
            replay(followed)?,
            Some(Err(
                "the process scanned at exit did not write this trace".into()
            )),
        ),
        Some(Err(why)) => (replay(followed)?, Some(Err(why))),
        None => (replay(followed)?, None),
    };
    let mut records = Vec::new();
    if analysis.replay.exit.is_none() || matches!(ended, ExitStatus::Signal(_)) {
        records.push(ControlRecord::Exit {
            ts: 0,
            status: ended,
        });
    }
    if let Some(scanned) = scanned {
        let (record, lost) = match scanned {
            Ok((record, lost)) => (record, lost),
            Err(why) => (Reachability::NotScanned(why), Vec::new()),
        };
        records.extend(reach::records(&record, &lost));
    }
    // Appending goes after the last block read, cutting off what follows.
    // After damage that is everything the reader could not get past —
    // megabytes a better reader (or the next version) may still read: a
    // damaged trace is left as it is, its end said only in this summary.
    if analysis.status.damage.is_none() {
        append(path, analysis.status.bytes_read, &records, compress)?;
        // Read back as a report reads them, so that the analysis is the
        // whole trace's (and can be saved for reports: `save_analysis`).
        native::read_on(&mut analysis, path)?;
    } else {
        for record in &records {
            analysis.replay.control(record);
        }
    }
    Ok(analysis)
}

/// Saves the analysis beside its trace for the reports that follow
/// (`heapwise_native::saved`), unless the trace is damaged (then the
/// analysis is not the whole trace's); an analysis saved by an earlier run
/// at the same path goes in any case. Returns what to say if it could not
/// be saved (said by the caller: this runs beside the summary, which holds
/// stderr's lock until it is written).
fn save_analysis(analysis: &Analysis, path: &Path) -> Option<String> {
    let saved = heapwise_native::saved::path_of(path);
    std::fs::remove_file(&saved).ok();
    if analysis.status.damage.is_some() || analysis.status.truncated() {
        return None;
    }
    let symbols = native::record_symbols(analysis);
    let err = heapwise_native::saved::save(analysis, Some(&symbols), path).err()?;
    Some(format!(
        "heapwise: could not save the analysis beside the trace ({}): {err}; reports will read the trace",
        saved.display()
    ))
}

/// One line for each other process's trace of this run.
fn list_other_traces(out: &mut dyn Write, others: &[&SessionTrace]) -> std::io::Result<()> {
    if others.is_empty() {
        return Ok(());
    }
    writeln!(out, "heapwise: {} more traces from this run:", others.len())?;
    for trace in others {
        match native::analyze(&trace.path) {
            Ok(other) => writeln!(
                out,
                "  {}  pid {} ({})  {} still allocated in {} blocks",
                trace.path.display(),
                trace.pid,
                other.header.argv.first().map_or("?", String::as_str),
                words::bytes(other.replay.live_bytes),
                words::thousands(other.replay.live_allocations())
            )?,
            Err(err) => writeln!(
                out,
                "  {}  pid {}  unreadable: {err:#}",
                trace.path.display(),
                trace.pid
            )?,
        }
    }
    Ok(())
}

/// Waits for the program while the live view is on the terminal. The view
/// closes when the program ends or on `q`; from then on the program's
/// terminal is passed through (see `pty.rs`).
fn wait_with_view<'a>(
    child: &'a mut Child,
    pty: Pty,
    trace: &Path,
    command: &[OsString],
    listener: Option<&'a mut ReachListener>,
    trace_of: &'a dyn Fn(u32) -> Option<PathBuf>,
) -> Result<std::process::ExitStatus> {
    let relay = pty.relay().context("cannot relay the program's terminal")?;
    let mut screen = Screen::enter().context("cannot draw on this terminal (try --no-tui)")?;
    // Raw mode stays on after the view closes: the program's own terminal
    // does the echoing and line editing of what is typed.
    let _raw = RawMode;
    let mut view = RunView {
        pid: child.id(),
        child,
        relay,
        live: LiveTrace::new(trace),
        command: command
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" "),
        started: Instant::now(),
        ended: None,
        listener,
        trace_of,
    };
    match tui::show(&mut screen, &mut view)? {
        Closed::HungUp => {
            // Nothing to restore, show or read: wait for the program (it
            // got the hangup too) to finish its trace.
            screen.abandon();
            view.relay.hang_up();
        }
        Closed::Quit => {
            screen.leave()?;
            crossterm::terminal::enable_raw_mode()?;
            view.relay.pass_through();
        }
        Closed::Ended | Closed::Interrupted => {
            screen.leave()?;
            crossterm::terminal::enable_raw_mode()?;
        }
    }
    let status = loop {
        if let Some(status) = view.ended {
            break status;
        }
        if let Ok((columns, rows)) = crossterm::terminal::size() {
            view.relay.resize(columns, rows);
        }
        std::thread::sleep(Duration::from_millis(100));
        view.exited()?;
    };
    view.relay.finish(Duration::from_millis(500));
    Ok(status)
}

/// `heapwise run`'s live view: the trace as it grows, and the program's
/// latest output, until the program ends.
struct RunView<'a> {
    child: &'a mut Child,
    pid: u32,
    relay: Relay,
    live: LiveTrace,
    command: String,
    started: Instant,
    /// How the program ended, once it has.
    ended: Option<std::process::ExitStatus>,
    /// Where the program asks to be scanned at exit.
    listener: Option<&'a mut ReachListener>,
    trace_of: &'a dyn Fn(u32) -> Option<PathBuf>,
}

impl RunView<'_> {
    fn exited(&mut self) -> Result<bool> {
        if let Some(listener) = self.listener.as_deref_mut() {
            listener.poll(Duration::ZERO, None, self.trace_of, &mut None);
        }
        if self.ended.is_none() {
            self.ended = self
                .child
                .try_wait()
                .context("cannot wait for the traced program")?;
        }
        Ok(self.ended.is_some())
    }
}

impl tui::View for RunView<'_> {
    fn refresh(&mut self) -> Result<bool> {
        if self.exited()? {
            return Ok(true);
        }
        if let Ok((columns, rows)) = crossterm::terminal::size() {
            self.relay.resize(columns, rows);
        }
        self.live.refresh();
        Ok(false)
    }

    fn draw(&self, frame: &mut ratatui::Frame) {
        let context = ViewContext {
            title: "heapwise run",
            command: &self.command,
            pid: self.pid,
            output: Some(self.relay.last_lines(12)),
            keys: "q closes this view (the program keeps running; its output then shows here) · Ctrl-C interrupts the program",
            started: self.started,
            started_with_program: true,
        };
        trace_view::draw(frame, &self.live, &context);
    }

    fn ended(&mut self) -> Result<bool> {
        self.exited()
    }

    fn interrupt(&mut self) -> bool {
        self.relay.type_bytes(b"\x03");
        false
    }
}

/// Leaves raw mode when dropped (also on an early return).
struct RawMode;

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

/// Checks that the trace can be created at `path`: the preload creates it
/// with O_EXCL, so an old trace there is removed first. Only a regular file
/// is ever removed: `-o /dev/null` must not delete the device.
pub(super) fn prepare_output(path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => bail!(
            "cannot write the trace to {}: it is a directory",
            path.display()
        ),
        Ok(meta) if !meta.is_file() => bail!(
            "cannot write the trace to {}: it is not a regular file (a trace must be a file heapwise can read back)",
            path.display()
        ),
        _ => {}
    }
    let probe = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path);
    match probe {
        Ok(_) => std::fs::remove_file(path)
            .with_context(|| format!("cannot write the trace to {}", path.display())),
        Err(err) => bail!(
            "cannot write the trace to {}: {}",
            path.display(),
            plain(&err)
        ),
    }
}

fn check_directory_writable(dir: &Path) -> Result<()> {
    let probe = dir.join(format!(".heapwise-probe-{}", std::process::id()));
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(err) => bail!(
            "cannot write a trace in {}: {} (choose another place with -o PATH)",
            dir.display(),
            plain(&err)
        ),
    }
}

/// An I/O error's message without the "(os error N)" suffix.
fn plain(err: &std::io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// A trace written during this run.
struct SessionTrace {
    path: PathBuf,
    pid: u32,
    sequence: u32,
}

/// Every trace beside the template that belongs to `session`. The preload
/// names every trace after the template's stem (`NAME.EXT` for the main
/// process, `NAME.PID.EXT` and `NAME.PID.N.EXT` for the others, whatever
/// the extension, if any), so those are the candidates; a file is one of
/// this run's if it is a trace whose header carries the session.
fn session_traces(template: &Path, session: &str) -> Vec<SessionTrace> {
    let dir = match template.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = template
        .file_name()
        .map(|n| n.to_string_lossy().replace("{pid}", ""))
        .unwrap_or_default();
    let stem = match name.rfind('.') {
        Some(dot) if dot > 0 => name[..dot].to_string(),
        _ => name,
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut traces: Vec<SessionTrace> = entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| {
            entry.file_name().to_string_lossy().starts_with(&stem)
                && entry.file_type().is_ok_and(|t| t.is_file())
        })
        .map(|entry| entry.path())
        .filter_map(|path| {
            let reader = TraceReader::open(&path).ok()?;
            let header = reader.header();
            (header.session == session).then(|| SessionTrace {
                pid: header.pid,
                sequence: header.exec_seq,
                path: path.clone(),
            })
        })
        .collect();
    traces.sort_by(|a, b| a.path.cmp(&b.path));
    traces
}

/// Appends `records` to the trace after its first `valid_len` bytes: how
/// the process ended (the preload cannot record a kill), the scan at exit;
/// compressed unless `compress` says never.
fn append(
    path: &Path,
    valid_len: u64,
    records: &[ControlRecord],
    compress: Compress,
) -> Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let context = || format!("cannot record how the program ended in {}", path.display());
    let mut writer = TraceWriter::append_after(path, valid_len).with_context(context)?;
    // One block per record: a long list of lost blocks is split over
    // several records, each well under a block's size limit.
    for record in records {
        writer.control(record);
        match compress {
            Compress::Never => writer.flush_stored(),
            _ => writer.flush(),
        }
        .with_context(context)?;
    }
    Ok(())
}

/// The end-of-run summary (`heapwise_render::native::summary`); returns the
/// report's verdict on leaks.
fn summarize(
    out: &mut dyn Write,
    analysis: &Analysis,
    path: &Path,
    (top, suppressions): (usize, Option<&SuppressionList>),
    symbolizer: Option<&mut super::symbols::Warmed>,
) -> Result<bool> {
    // Every leak group: the summary counts them and lists the top ones.
    let symbolizer = symbolizer.map(|s| s.for_report(analysis) as &mut dyn ReportSymbolizer);
    let report = native::summary_report(analysis, top, suppressions, symbolizer);
    heapwise_render::native::summary::write(out, &report, path, top)?;
    Ok(report.verdict.leak)
}
