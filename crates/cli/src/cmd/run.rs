//! `heapwise run`: start a program under the preload, wait for it, append
//! how it ended to its trace, and print a short leak summary.
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
use heapwise_trace::{ControlRecord, ExitStatus, TraceReader, TraceWriter};

use super::launch::{check_traceable, locate_preload, resolve_command};
use super::live::{self, LiveTrace, ViewContext};
use super::native;
use super::pty::{Pty, Relay};
use super::watch::tui::{Input, Screen};

/// When the tracer compresses the trace (`HEAPWISE_COMPRESS`).
#[derive(Clone, Copy, clap::ValueEnum)]
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
    /// program keeps its own status): blocks of its own still allocated at
    /// the end, or memory that keeps growing — the verdict the summary
    /// prints. Blocks the C/C++ runtime holds until exit by design (stdio
    /// buffers, libstdc++'s exception pool, the loader's records) do not
    /// count.
    #[arg(long)]
    fail_on_leak: bool,
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
    let preload = locate_preload()?;
    let program = resolve_command(&args.command[0])?;
    check_traceable(&program)?;
    if let Some(allocator) = native::own_allocator(&program.to_string_lossy()) {
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
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let template = match &args.output {
        Some(path) => {
            let path = cwd.join(path);
            prepare_output(&path)?;
            path
        }
        None => {
            let name = Path::new(&args.command[0])
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "program".into());
            let name: String = name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            check_directory_writable(&cwd)?;
            cwd.join(format!("heapwise-{name}-{{pid}}.hwt"))
        }
    };
    let session = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let mut ld_preload = preload.as_os_str().to_os_string();
    if let Some(existing) = std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) {
        ld_preload.push(":");
        ld_preload.push(existing);
    }
    let mut command = Command::new(&args.command[0]);
    command
        .args(&args.command[1..])
        .env("LD_PRELOAD", ld_preload)
        .env("HEAPWISE_OUTPUT", &template)
        .env("HEAPWISE_SESSION", &session)
        .env("HEAPWISE_PARENT", std::process::id().to_string())
        .env("HEAPWISE_BUFFER_MB", args.buffer_mb.to_string())
        .env("HEAPWISE_COMPRESS", args.compress.as_str());
    if args.no_follow_fork {
        command.env("HEAPWISE_FOLLOW_FORK", "0");
    }
    let mut pty = None;
    if !args.no_tui && live::on_terminal() {
        match Pty::open(libc::STDOUT_FILENO) {
            Ok(terminal) => {
                terminal.attach(&mut command);
                pty = Some(terminal);
            }
            Err(err) => eprintln!(
                "heapwise: no live view: cannot open a pseudo-terminal for the program: {err}"
            ),
        }
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot run {}", program.display()))?;
    let pid = child.id() as i32;
    CHILD.store(pid, Ordering::Release);
    // The terminal sends Ctrl-C and Ctrl-\ to the whole process group: let
    // the program decide what they do, and stay alive to finish the trace.
    // Termination requests sent to heapwise go to the program.
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
    let status = match pty {
        Some(mut pty) => {
            pty.spawned();
            let trace = PathBuf::from(
                template
                    .to_string_lossy()
                    .replace("{pid}", &pid.to_string()),
            );
            wait_with_view(&mut child, pty, &trace, &args.command)?
        }
        None => child.wait().context("cannot wait for the traced program")?,
    };
    let ended = match (status.code(), status.signal()) {
        (Some(code), _) => ExitStatus::Code(code),
        (None, Some(signal)) => ExitStatus::Signal(signal),
        _ => ExitStatus::Code(1),
    };
    let exit_code = match ended {
        ExitStatus::Code(code) => ExitCode::from((code & 0xff) as u8),
        ExitStatus::Signal(signal) => ExitCode::from((128 + signal).clamp(0, 255) as u8),
        ExitStatus::Exec => ExitCode::SUCCESS,
    };
    let traces = session_traces(&template, &session);
    let mut stderr = std::io::stderr().lock();
    let main = traces
        .iter()
        .filter(|t| t.pid == pid as u32)
        .max_by_key(|t| t.sequence);
    let Some(main) = main else {
        writeln!(
            stderr,
            "heapwise: {} ran but wrote no trace (it may clear LD_PRELOAD, or have been killed before it started)",
            program.display()
        )?;
        return Ok(exit_code);
    };
    let mut analysis = native::analyze(&main.path)?;
    if analysis.replay.exit.is_none() || matches!(ended, ExitStatus::Signal(_)) {
        record_exit(&main.path, analysis.status.bytes_read, ended)?;
        analysis.replay.exit = Some(ended);
    }
    // Only writing can fail here; a closed stderr (the terminal hung up)
    // must not change the exit status, which is the program's.
    let leak = match summarize(&mut stderr, &analysis, &main.path, args.top) {
        Ok(leak) => leak,
        Err(_) => return Ok(exit_code),
    };
    let exit_code = if args.fail_on_leak && leak && matches!(ended, ExitStatus::Code(0)) {
        ExitCode::from(crate::exit::LEAK_FOUND)
    } else {
        exit_code
    };
    let others: Vec<&SessionTrace> = traces.iter().filter(|t| t.path != main.path).collect();
    if !others.is_empty() {
        writeln!(
            stderr,
            "heapwise: {} more traces from this run:",
            others.len()
        )?;
        for trace in others {
            match native::analyze(&trace.path) {
                Ok(other) => writeln!(
                    stderr,
                    "  {}  pid {} ({})  {} still allocated in {} blocks",
                    trace.path.display(),
                    trace.pid,
                    other.header.argv.first().map_or("?", String::as_str),
                    words::bytes(other.replay.live_bytes),
                    words::thousands(other.replay.live_allocations())
                )?,
                Err(err) => writeln!(
                    stderr,
                    "  {}  pid {}  unreadable: {err:#}",
                    trace.path.display(),
                    trace.pid
                )?,
            }
        }
    }
    Ok(exit_code)
}

/// Waits for the program while the live view is on the terminal. The view
/// closes when the program ends or on `q`; from then on the program's
/// terminal is passed through (see `pty.rs`).
fn wait_with_view(
    child: &mut Child,
    pty: Pty,
    trace: &Path,
    command: &[OsString],
) -> Result<std::process::ExitStatus> {
    let mut relay = pty.relay().context("cannot relay the program's terminal")?;
    let command_line = command
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let mut live = LiveTrace::new(trace);
    let started = Instant::now();
    let pid = child.id();
    let mut screen = Some(Screen::enter().context("cannot draw on this terminal (try --no-tui)")?);
    // Raw mode stays on after the view closes: the program's own terminal
    // does the echoing and line editing of what is typed.
    let _raw = RawMode;
    let keys = "q closes this view (the program keeps running; its output then shows here) · Ctrl-C interrupts the program";
    let mut ended = None;
    let mut hung_up = false;
    let exited =
        |child: &mut Child, ended: &mut Option<std::process::ExitStatus>| -> Result<bool> {
            if ended.is_none() {
                *ended = child
                    .try_wait()
                    .context("cannot wait for the traced program")?;
            }
            Ok(ended.is_some())
        };
    'view: while let Some(view) = screen.as_mut() {
        if exited(child, &mut ended)? {
            break;
        }
        if let Ok((columns, rows)) = crossterm::terminal::size() {
            relay.resize(columns, rows);
        }
        live.refresh();
        let draw = |view: &mut Screen, live: &LiveTrace, relay: &Relay| {
            let context = ViewContext {
                title: "heapwise run",
                command: &command_line,
                pid,
                output: Some(relay.last_lines(12)),
                keys,
                started,
                started_with_program: true,
            };
            view.draw(|frame| live::draw(frame, live, &context))
        };
        // A terminal that cannot be drawn on is gone: same as a hangup.
        if draw(view, &live, &relay).is_err() {
            hung_up = true;
        }
        let next = Instant::now() + live::REFRESH;
        while let Some(left) = next.checked_duration_since(Instant::now()) {
            let input = if hung_up {
                Input::Hangup
            } else {
                view.wait_for_input(left.min(Duration::from_millis(100)))
                    .unwrap_or(Input::Hangup)
            };
            match input {
                Input::Quit => {
                    if let Some(view) = screen.take() {
                        view.leave()?;
                    }
                    crossterm::terminal::enable_raw_mode()?;
                    relay.pass_through();
                    break 'view;
                }
                Input::Interrupt => relay.type_bytes(b"\x03"),
                Input::Hangup => {
                    // Nothing to restore, show or read: wait for the
                    // program (it got the hangup too) to finish its trace.
                    if let Some(mut view) = screen.take() {
                        view.abandon();
                    }
                    hung_up = true;
                    break 'view;
                }
                Input::Redraw => hung_up = draw(view, &live, &relay).is_err(),
                Input::Nothing => {}
            }
            if exited(child, &mut ended)? {
                break 'view;
            }
        }
    }
    if let Some(view) = screen.take() {
        view.leave()?;
        crossterm::terminal::enable_raw_mode()?;
    }
    if hung_up {
        relay.hang_up();
    }
    let status = loop {
        if let Some(status) = ended {
            break status;
        }
        if let Ok((columns, rows)) = crossterm::terminal::size() {
            relay.resize(columns, rows);
        }
        std::thread::sleep(Duration::from_millis(100));
        exited(child, &mut ended)?;
    };
    relay.finish(Duration::from_millis(500));
    Ok(status)
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
fn prepare_output(path: &Path) -> Result<()> {
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

/// Appends how the process ended (the preload cannot record a kill).
fn record_exit(path: &Path, valid_len: u64, status: ExitStatus) -> Result<()> {
    let mut writer = TraceWriter::append_after(path, valid_len)
        .with_context(|| format!("cannot record the exit status in {}", path.display()))?;
    writer.control(&ControlRecord::Exit { ts: 0, status });
    writer
        .flush()
        .with_context(|| format!("cannot record the exit status in {}", path.display()))?;
    Ok(())
}

/// The end-of-run summary (`heapwise_render::native::summary`); returns the
/// report's verdict on leaks.
fn summarize(out: &mut dyn Write, analysis: &Analysis, path: &Path, top: usize) -> Result<bool> {
    // Every leak group: the summary counts them and lists the top ones.
    let report = native::report(analysis, 0, None);
    heapwise_render::native::summary::write(out, &report, path, top)?;
    Ok(report.verdict.leak)
}
