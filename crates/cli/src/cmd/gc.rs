//! `heapwise gc LOGFILE`: GC logs of Node.js, the JVM and Go.
//!
//! Glue only: read the log with `heapwise-gc`, analyse it, render it with
//! `heapwise-render`. `--follow` keeps reading a log that is still being
//! written (see `docs/gc-logs.md`): every `--interval` it reads the lines
//! appended since, and when there were any it writes the report again (a
//! terminal is redrawn in place, `-o` is replaced atomically, JSON on
//! standard output becomes one compact document per line). It stops on
//! Ctrl-C (SIGINT/SIGTERM) or when the file has not grown for
//! `--idle-timeout`, writes the final report, and exits like the one-shot
//! command. A file that shrinks or is replaced (log rotation) is read again
//! from its start.

use std::fs::{self, File};
use std::io::{BufWriter, IsTerminal, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use heapwise_gc::{AnalysisOptions, GcLogReader, GcReport, LogFormat, analyze};
use heapwise_render::gc::{TextOptions, write as write_text};
use heapwise_render::output::write_json;

use super::args::parse_duration;
use super::interrupts::{catch_interrupts, interrupted};
use crate::exit;

/// Analyse a GC log: pauses, GC overhead, and whether the heap after GC keeps rising.
///
/// Reads Node.js `--trace-gc` / `--trace-gc-nvp`, JVM unified logging
/// (`-Xlog:gc`, `-Xlog:gc*`) and JDK 8 `-XX:+PrintGCDetails`, and Go
/// `GODEBUG=gctrace=1` output; application output mixed into the log is
/// skipped. `.gz` files are read as they are; the files of a rotated set
/// (`gc.log.0 gc.log.1 gc.log.2.current`, `gc.log gc.log.0`, a
/// `gc-%t.log` series) given together are read as one log, in the order
/// they were written.
#[derive(Args)]
pub struct GcArgs {
    /// The GC log (`-` reads standard input), or every file of a rotated set.
    #[arg(value_name = "LOGFILE", required = true, num_args = 1..)]
    pub logfiles: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = GcFormat::Text)]
    pub format: GcFormat,
    /// The log's format; `auto` detects it.
    #[arg(long, value_enum, default_value_t = LogFormatArg::Auto)]
    pub log_format: LogFormatArg,
    /// Write the report to this file instead of standard output.
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Exit with status 10 when the heap after GC keeps rising (a leak).
    #[arg(long)]
    pub fail_on_leak: bool,
    /// Keep reading the log as it grows and refresh the report, until Ctrl-C
    /// or until the file stops growing for --idle-timeout.
    #[arg(long)]
    pub follow: bool,
    /// With --follow: how often to look for new lines (`500ms`, `2s`).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub interval: Duration,
    /// With --follow: stop when the file has not grown for this long (`0` waits for Ctrl-C).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// The maximum heap, for the time-to-limit forecast (`512m`, `4g`, bytes);
    /// overrides what the log says (JVM logs state it with -Xlog:gc*).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_heap: Option<u64>,
    /// Pauses longer than this are reported (`100ms`, `1s`).
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    pub long_pause: Duration,
}

/// Output formats of `heapwise gc`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GcFormat {
    /// For people.
    Text,
    /// For tools (schema `heapwise.gc/1`).
    Json,
}

/// `--log-format`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormatArg {
    /// Detect the format from the first GC event.
    Auto,
    /// Node.js --trace-gc.
    Node,
    /// Node.js --trace-gc-nvp.
    NodeNvp,
    /// JVM unified logging (-Xlog:gc, -Xlog:gc*), JDK 9 and later.
    Jvm,
    /// JDK 8 -XX:+PrintGCDetails / -verbose:gc.
    Jvm8,
    /// Go GODEBUG=gctrace=1.
    Go,
}

impl LogFormatArg {
    fn format(self) -> Option<LogFormat> {
        match self {
            LogFormatArg::Auto => None,
            LogFormatArg::Node => Some(LogFormat::Node),
            LogFormatArg::NodeNvp => Some(LogFormat::NodeNvp),
            LogFormatArg::Jvm => Some(LogFormat::Jvm),
            LogFormatArg::Jvm8 => Some(LogFormat::Jvm8),
            LogFormatArg::Go => Some(LogFormat::Go),
        }
    }
}

/// Runs `heapwise gc`.
pub fn run(args: GcArgs) -> Result<ExitCode> {
    if args.interval.is_zero() {
        bail!("--interval must be longer than 0");
    }
    let options = AnalysisOptions {
        long_pause_ms: args.long_pause.as_secs_f64() * 1e3,
        max_heap_bytes: args.max_heap,
        ..AnalysisOptions::default()
    };
    let report = if args.follow {
        follow(&args, &options)?
    } else {
        let log = read_all(&args)?;
        let report = analyze(&log, &options);
        let mut sink = Sink::new(&args, false)?;
        sink.emit(&report)?;
        report
    };
    if args.fail_on_leak && report.heap_after_gc.leak {
        return Ok(ExitCode::from(exit::LEAK_FOUND));
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(paths: &[PathBuf]) -> String {
    match paths {
        [path] if path == Path::new("-") => "standard input".to_string(),
        [path] => path.display().to_string(),
        [first, rest @ ..] => format!(
            "{} and {} more file{}",
            first.display(),
            rest.len(),
            if rest.len() == 1 { "" } else { "s" }
        ),
        [] => String::new(),
    }
}

fn read_all(args: &GcArgs) -> Result<heapwise_gc::GcLog> {
    let context = || format!("while reading GC log {}", describe(&args.logfiles));
    let format = args.log_format.format();
    if args.logfiles.iter().any(|p| p == Path::new("-")) {
        if args.logfiles.len() > 1 {
            bail!("standard input (-) cannot be read together with other files");
        }
        return heapwise_gc::read_log(std::io::stdin().lock(), format).with_context(context);
    }
    heapwise_gc::read_paths(&args.logfiles, format).with_context(context)
}

/// Where reports go, and how a refreshed report replaces the previous one.
struct Sink<'a> {
    args: &'a GcArgs,
    following: bool,
    terminal: bool,
    written: u32,
}

impl<'a> Sink<'a> {
    fn new(args: &'a GcArgs, following: bool) -> Result<Self> {
        let terminal = args.output.is_none() && std::io::stdout().is_terminal();
        Ok(Sink {
            args,
            following,
            terminal,
            written: 0,
        })
    }

    fn text_options(&self) -> TextOptions {
        TextOptions {
            source: Some(describe(&self.args.logfiles)),
            ..TextOptions::default()
        }
    }

    fn emit(&mut self, report: &GcReport) -> Result<()> {
        self.written += 1;
        match &self.args.output {
            Some(path) if self.following => self.replace_file(path, report),
            Some(path) => {
                let context = || format!("while writing {}", path.display());
                let mut out = BufWriter::new(File::create(path).with_context(context)?);
                self.render(&mut out, report)
                    .and_then(|()| out.flush())
                    .with_context(context)
            }
            None => {
                let stdout = std::io::stdout();
                let mut out = BufWriter::new(stdout.lock());
                self.render(&mut out, report)
                    .and_then(|()| out.flush())
                    .context("while writing the report")
            }
        }
    }

    fn render(&self, out: &mut dyn Write, report: &GcReport) -> std::io::Result<()> {
        match (self.args.format, self.following) {
            (GcFormat::Json, true) if self.args.output.is_none() => {
                // One compact document per line: a stream tools can read.
                serde_json::to_writer(&mut *out, report).map_err(std::io::Error::other)?;
                out.write_all(b"\n")
            }
            (GcFormat::Json, _) => write_json(out, report),
            (GcFormat::Text, following) => {
                if following && self.args.output.is_none() {
                    if self.terminal {
                        out.write_all(b"\x1b[H\x1b[2J")?;
                    } else if self.written > 1 {
                        writeln!(out, "\n--- refreshed ---\n")?;
                    }
                }
                write_text(out, report, &self.text_options())
            }
        }
    }

    /// Writes the report beside `path` and renames it over `path`, so a
    /// reader never sees half a report.
    fn replace_file(&self, path: &Path, report: &GcReport) -> Result<()> {
        let context = || format!("while writing {}", path.display());
        // Only a regular file is replaced by renaming: renaming over a
        // device (`-o /dev/null`) or a pipe would replace the node itself.
        if fs::metadata(path).is_ok_and(|m| !m.is_file()) {
            let mut out = BufWriter::new(File::create(path).with_context(context)?);
            return self
                .render(&mut out, report)
                .and_then(|()| out.flush())
                .with_context(context);
        }
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        {
            let mut out = BufWriter::new(File::create(&temporary).with_context(context)?);
            self.render(&mut out, report)
                .and_then(|()| out.flush())
                .with_context(context)?;
        }
        fs::rename(&temporary, path).with_context(context)
    }
}

fn follow(args: &GcArgs, options: &AnalysisOptions) -> Result<GcReport> {
    let path = match args.logfiles.as_slice() {
        [path] if path == Path::new("-") => bail!("--follow needs a file, not standard input"),
        [path] => path,
        _ => bail!("--follow reads one file, the one being written"),
    };
    let context = || format!("while reading GC log {}", path.display());
    // Ctrl-C ends the loop, so the final report can be written.
    catch_interrupts();
    let mut sink = Sink::new(args, true)?;
    let mut tail = Tail::open(path, args.log_format.format()).with_context(context)?;
    let mut last_growth = Instant::now();
    let mut last_report: Option<GcReport> = None;
    let mut announced_wait = false;
    let mut first = true;
    loop {
        let grew = tail.read_new().with_context(context)?;
        if grew || first {
            if grew {
                last_growth = Instant::now();
            }
            match tail.reader.log() {
                Some(log) if !log.events.is_empty() => {
                    let report = analyze(log, options);
                    sink.emit(&report)?;
                    last_report = Some(report);
                }
                _ if !announced_wait => {
                    eprintln!(
                        "heapwise: no GC events in {} yet; waiting for them (Ctrl-C to stop)",
                        path.display()
                    );
                    announced_wait = true;
                }
                _ => {}
            }
        }
        first = false;
        if interrupted() {
            break;
        }
        if !args.idle_timeout.is_zero() && last_growth.elapsed() >= args.idle_timeout {
            break;
        }
        sleep_unless_stopped(args.interval);
        if interrupted() {
            // Read what arrived up to the signal, then stop.
            if tail.read_new().with_context(context)?
                && let Some(log) = tail.reader.log().filter(|l| !l.events.is_empty())
            {
                let report = analyze(log, options);
                sink.emit(&report)?;
                last_report = Some(report);
            }
            break;
        }
    }
    match last_report {
        Some(report) => Ok(report),
        None => {
            let reader = std::mem::replace(&mut tail.reader, GcLogReader::new(None));
            Err(reader.finish().err().map_or_else(
                || anyhow::anyhow!("no GC events were read"),
                anyhow::Error::new,
            ))
            .with_context(context)
        }
    }
}

fn sleep_unless_stopped(interval: Duration) {
    let until = Instant::now() + interval;
    while !interrupted() {
        let now = Instant::now();
        if now >= until {
            break;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(50)));
    }
}

/// A log file read incrementally, reopened from its start when it is
/// truncated or replaced.
struct Tail {
    path: PathBuf,
    format: Option<LogFormat>,
    file: File,
    inode: u64,
    position: u64,
    reader: GcLogReader,
}

impl Tail {
    fn open(path: &Path, format: Option<LogFormat>) -> std::io::Result<Tail> {
        let file = File::open(path)?;
        let inode = file.metadata()?.ino();
        Ok(Tail {
            path: path.to_path_buf(),
            format,
            file,
            inode,
            position: 0,
            reader: GcLogReader::new(format),
        })
    }

    /// Reads what was appended since the last call; true when anything was.
    fn read_new(&mut self) -> std::io::Result<bool> {
        let replaced = fs::metadata(&self.path).is_ok_and(|m| m.ino() != self.inode);
        let truncated = self.file.metadata()?.len() < self.position;
        if replaced || truncated {
            if replaced {
                self.file = File::open(&self.path)?;
                self.inode = self.file.metadata()?.ino();
            }
            self.file.seek(SeekFrom::Start(0))?;
            self.position = 0;
            self.reader = GcLogReader::new(self.format);
        }
        let mut buffer = vec![0u8; 256 * 1024];
        let mut grew = false;
        loop {
            let n = match self.file.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            };
            self.reader.feed(&buffer[..n]);
            self.position += n as u64;
            grew = true;
        }
        Ok(grew || replaced || truncated)
    }
}

/// `512m`, `4g`, `1.5GiB`, `536870912`: bytes, with binary units as the
/// JVM's -Xmx reads them.
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size like 512m, 4g or 1073741824"))?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1u64,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?} (use k, m, g or t)"
            ));
        }
    };
    let bytes = value * scale as f64;
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err(format!("{text:?} is not a valid heap size"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512m"), Ok(512 << 20));
        assert_eq!(parse_size("4G"), Ok(4 << 30));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("1024"), Ok(1024));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("5x").is_err());
    }
}
