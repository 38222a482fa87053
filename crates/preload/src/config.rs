//! The settings (read from the environment at start), where a process's
//! trace goes, and its header.
//!
//! `HEAPWISE_OUTPUT` names the trace of the process `heapwise run` started
//! (a `{pid}` in it is replaced by the process id). Every other process of
//! the session — forked children, programs started by exec, successors of
//! an exec — writes beside it: `NAME.PID.hwt`, or `NAME.PID.N.hwt` when that
//! exists. Files are created with `O_EXCL`, so two processes never share a
//! file, and `O_CLOEXEC`, so a started program does not inherit the fd.

use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicPtr, Ordering};

use heapwise_trace::{Header, TickSource};

use crate::sys::{self, Locked};

/// Settings read from the environment at start.
pub struct Config {
    /// `HEAPWISE_OUTPUT`.
    pub template: String,
    /// `HEAPWISE_SESSION`.
    pub session: String,
    /// `HEAPWISE_PARENT`: the pid of `heapwise run`.
    pub parent: Option<u32>,
    /// `HEAPWISE_BUFFER_MB`: memory for buffered events.
    pub buffer_mb: usize,
    /// `HEAPWISE_FOLLOW_FORK`: trace forked children (default on).
    pub follow_fork: bool,
    /// `HEAPWISE_COMPRESS`: `auto` (default), `always` or `never`.
    pub compress: Compress,
    /// `HEAPWISE_SPILL_DIR`: where the spill file goes (default `/dev/shm`;
    /// `none` keeps buffers in private memory, so a process that dies loses
    /// what its writer had not written yet).
    pub spill_dir: Option<String>,
    /// `HEAPWISE_SAMPLE`: record a sample of the allocations, one per this
    /// many bytes allocated on average (0, the default: every allocation).
    /// Bytes, or a size such as `512KiB`, `64k`, `1MiB`.
    pub sample: u64,
    /// `HEAPWISE_MAX_SIZE`: the trace never grows past this many bytes
    /// (`bound.rs`); 0 for no limit (`none` or `0`). Default: 64 MiB for
    /// a sampled trace, no limit for a full one.
    pub max_size: u64,
    /// `HEAPWISE_CONTROL`: the file that pauses and resumes sampling
    /// (`pause.rs`); by default the trace's path with `.control` appended.
    pub control: Option<String>,
    /// `HEAPWISE_REACH`: the abstract Unix socket on which `heapwise run`
    /// waits to scan the process at exit (`reach.rs`).
    pub reach: Option<String>,
}

/// The size limit of a sampled trace when none is given: a sampled
/// service writes tens of kilobytes a second, so a few hours fill it,
/// after which the trace is compacted and stays under it for weeks.
pub const DEFAULT_SAMPLED_MAX_SIZE: u64 = 64 << 20;
/// The smallest size limit: room for a checkpoint and a few blocks.
pub const MIN_MAX_SIZE: u64 = 64 << 10;

/// How a trace's blocks are compressed (`HEAPWISE_COMPRESS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compress {
    /// Compress unless the program keeps every core busy.
    Auto,
    /// Always compress.
    Always,
    /// Never compress.
    Never,
}

impl Compress {
    /// Parses `auto`, `always` or `never`.
    pub fn parse(value: &str) -> Option<Compress> {
        match value {
            "auto" => Some(Compress::Auto),
            "always" => Some(Compress::Always),
            "never" => Some(Compress::Never),
            _ => None,
        }
    }
}

fn env(name: &CStr) -> Option<String> {
    // SAFETY: getenv returns a pointer into the environment or null.
    let value = unsafe { libc::getenv(name.as_ptr()) };
    if value.is_null() {
        return None;
    }
    // SAFETY: a NUL-terminated environment string.
    Some(
        unsafe { CStr::from_ptr(value) }
            .to_string_lossy()
            .into_owned(),
    )
}

/// Parses a size in bytes: a whole number, optionally followed by `k`,
/// `KB`, `KiB`, `m`, `MB`, `MiB`, `g`, `GB` or `GiB` (any case; all powers
/// of 1024) or `B`. `None` for anything else, or more than 2^62.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().ok()?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return None,
    };
    number
        .checked_mul(1 << shift)
        .filter(|&bytes| bytes <= 1 << 62)
}

impl Config {
    /// Reads the settings from the environment; `None` when tracing was
    /// not asked for, an error (tracing off) for a setting that cannot be
    /// understood and must not be guessed: a wrong `HEAPWISE_SAMPLE` taken
    /// for a full trace would slow a production service down many times.
    pub fn from_env() -> Option<Result<Config, String>> {
        Config::from_lookup(env)
    }

    /// Reads the settings from `KEY=VALUE` lines with the environment's
    /// names (what `heapwise attach` hands the library, whose process's
    /// environment was fixed long before).
    pub fn from_lines(lines: &str) -> Option<Result<Config, String>> {
        Config::from_lookup(|name| {
            let name = name.to_str().ok()?;
            lines.lines().find_map(|line| {
                let (key, value) = line.split_once('=')?;
                (key == name).then(|| value.to_string())
            })
        })
    }

    fn from_lookup(env: impl Fn(&CStr) -> Option<String>) -> Option<Result<Config, String>> {
        let template = env(c"HEAPWISE_OUTPUT").filter(|t| !t.is_empty())?;
        let sample = match env(c"HEAPWISE_SAMPLE").filter(|v| !v.trim().is_empty()) {
            None => 0,
            Some(value) => match parse_size(&value) {
                Some(bytes) => bytes,
                None => {
                    return Some(Err(format!(
                        "HEAPWISE_SAMPLE={value:?} is not a size in bytes (such as 524288, 64KiB or 1MiB; 0 traces every allocation)"
                    )));
                }
            },
        };
        let max_size = match env(c"HEAPWISE_MAX_SIZE").filter(|v| !v.trim().is_empty()) {
            None if sample > 0 => DEFAULT_SAMPLED_MAX_SIZE,
            None => 0,
            Some(value) if value.trim() == "none" => 0,
            Some(value) => match parse_size(&value) {
                Some(0) => 0,
                Some(bytes) if bytes >= MIN_MAX_SIZE => bytes,
                _ => {
                    return Some(Err(format!(
                        "HEAPWISE_MAX_SIZE={value:?} is not a size of at least 64KiB (such as 64MiB or 1GiB; none or 0 for no limit)"
                    )));
                }
            },
        };
        Some(Ok(Config {
            control: env(c"HEAPWISE_CONTROL"),
            reach: env(c"HEAPWISE_REACH").filter(|name| !name.is_empty()),
            max_size,
            template,
            session: env(c"HEAPWISE_SESSION").unwrap_or_default(),
            parent: env(c"HEAPWISE_PARENT").and_then(|p| p.parse().ok()),
            buffer_mb: env(c"HEAPWISE_BUFFER_MB")
                .and_then(|v| v.parse().ok())
                .filter(|&v| v >= 4)
                .unwrap_or(64),
            follow_fork: env(c"HEAPWISE_FOLLOW_FORK").is_none_or(|v| v != "0"),
            compress: env(c"HEAPWISE_COMPRESS")
                .and_then(|v| Compress::parse(&v))
                .unwrap_or(Compress::Auto),
            spill_dir: match env(c"HEAPWISE_SPILL_DIR") {
                Some(dir) if dir == "none" => None,
                Some(dir) if !dir.is_empty() => Some(dir.trim_end_matches('/').to_string()),
                _ => Some("/dev/shm".to_string()),
            },
            sample,
        }))
    }
}

/// The settings of the trace being recorded (null before start-up).
static CONFIG: AtomicPtr<Config> = AtomicPtr::new(std::ptr::null_mut());

/// The settings (once start-up has read them).
pub fn get() -> Option<&'static Config> {
    // SAFETY: set only by `set`, from a leaked box never freed.
    unsafe { CONFIG.load(Ordering::Acquire).as_ref() }
}

/// Keeps the settings of the trace that starts: read from the environment
/// at start-up, or handed to `heapwise_attach` — again for each trace of a
/// process attached several times. The previous settings are leaked, not
/// freed: code that read them may still hold the reference (a few hundred
/// bytes per attach).
pub fn set(config: Config) {
    CONFIG.store(Box::into_raw(Box::new(config)), Ordering::Release);
}

/// An open trace file.
pub struct Opened {
    pub fd: i32,
    pub path: String,
    /// 0 when the first name was free; n for the n-th fallback name.
    pub sequence: u32,
}

/// Creates this process's trace file.
pub fn open(config: &Config, pid: u32) -> Result<Opened, String> {
    let has_pid = config.template.contains("{pid}");
    let base = config.template.replace("{pid}", &pid.to_string());
    // SAFETY: no arguments.
    let ppid = unsafe { libc::getppid() } as u32;
    let is_root = config.parent == Some(ppid);
    let (stem, ext) = match base.rfind('.') {
        Some(dot) if !base[dot..].contains('/') => (&base[..dot], &base[dot..]),
        _ => (base.as_str(), ""),
    };
    let mut last_error = String::new();
    for sequence in 0..1000u32 {
        let name = match (sequence, has_pid) {
            (0, _) if has_pid || is_root => base.clone(),
            (0, _) => continue,
            (n, true) => format!("{stem}.{n}{ext}"),
            (1, false) => format!("{stem}.{pid}{ext}"),
            (n, false) => format!("{stem}.{pid}.{n}{ext}"),
        };
        let Ok(c_name) = CString::new(name.as_bytes()) else {
            return Err("the output path contains a NUL byte".into());
        };
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC;
        // SAFETY: a valid path; the fd is owned by the caller.
        let fd = unsafe { libc::open(c_name.as_ptr(), flags, 0o644) };
        if fd >= 0 {
            return Ok(Opened {
                fd,
                path: name,
                sequence,
            });
        }
        let err = sys::errno();
        if err != libc::EEXIST {
            return Err(format!(
                "could not create {name}: {}",
                std::io::Error::from_raw_os_error(err)
            ));
        }
        last_error = format!("{name} already exists");
    }
    Err(format!("no free trace name near {base} ({last_error})"))
}

/// The trace this process writes (empty before it has one).
static TRACE_PATH: Locked<String> = Locked::new(String::new());
/// For a forked child: its parent's trace and the tick of the fork.
static FORKED_FROM: Locked<(String, u64)> = Locked::new((String::new(), 0));

/// Remembers the path of this process's trace (for its forked children).
/// A relative path is made absolute (the child may change directory).
pub fn remember_trace(path: &str) {
    let mut full = String::new();
    if !path.starts_with('/') {
        let mut cwd = [0u8; 4096];
        // SAFETY: the buffer is valid for its length.
        if !unsafe { libc::getcwd(cwd.as_mut_ptr().cast(), cwd.len()) }.is_null() {
            let len = cwd.iter().position(|&b| b == 0).unwrap_or(0);
            full.push_str(&String::from_utf8_lossy(&cwd[..len]));
            full.push('/');
        }
    }
    full.push_str(path);
    TRACE_PATH.with(100_000, |p| *p = full);
}

/// The absolute path of this process's trace (empty before it has one).
pub fn trace_path() -> String {
    TRACE_PATH.with(100_000, |p| p.clone()).unwrap_or_default()
}

/// In a forked child (fork's child handler: the only thread): the parent's
/// trace is the one this process was writing, forked at `tick` (taken
/// before the fork, after the forking thread's last event; the parent
/// stamps what it does after the fork later).
pub fn forked(tick: u64) {
    TRACE_PATH.lock.force_unlock();
    FORKED_FROM.lock.force_unlock();
    let parent = TRACE_PATH.with(0, std::mem::take).unwrap_or_default();
    FORKED_FROM.with(0, |f| *f = (parent, tick));
}

/// The header of this process's trace.
pub fn header(
    config: &Config,
    pid: u32,
    sequence: u32,
    start: heapwise_trace::ClockSync,
) -> Header {
    let mut buf = vec![0u8; 1 << 16];
    let argv = sys::read_file(c"/proc/self/cmdline", &mut buf)
        .map(|len| {
            buf[..len]
                .split(|&b| b == 0)
                .filter(|arg| !arg.is_empty())
                .map(|arg| String::from_utf8_lossy(arg).into_owned())
                .collect()
        })
        .unwrap_or_default();
    let mut exe = vec![0u8; 4096];
    // SAFETY: the buffer is valid for its length.
    let len = unsafe {
        libc::readlink(
            c"/proc/self/exe".as_ptr(),
            exe.as_mut_ptr().cast(),
            exe.len(),
        )
    };
    let exe = if len > 0 {
        String::from_utf8_lossy(&exe[..len as usize]).into_owned()
    } else {
        String::new()
    };
    Header {
        pid,
        // SAFETY: no arguments.
        ppid: unsafe { libc::getppid() } as u32,
        exec_seq: sequence,
        session: config.session.clone(),
        argv,
        exe,
        tick_source: if sys::TICKS_ARE_TSC {
            TickSource::TscSubMs
        } else {
            TickSource::MonotonicNs
        },
        start,
        // SAFETY: no arguments.
        page_size: unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u32,
        tracer_version: env!("CARGO_PKG_VERSION").to_string(),
        spill: crate::spill::path(),
        parent_trace: FORKED_FROM
            .with(100_000, |f| f.0.clone())
            .unwrap_or_default(),
        fork_tick: FORKED_FROM.with(100_000, |f| f.1).unwrap_or(0),
        sample_interval: config.sample,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_nothing_else_does() {
        assert_eq!(Compress::parse("auto"), Some(Compress::Auto));
        assert_eq!(Compress::parse("always"), Some(Compress::Always));
        assert_eq!(Compress::parse("never"), Some(Compress::Never));
        assert_eq!(Compress::parse("yes"), None);
    }

    #[test]
    fn sizes_are_bytes_or_powers_of_1024() {
        assert_eq!(parse_size("524288"), Some(524_288));
        assert_eq!(parse_size("0"), Some(0));
        assert_eq!(parse_size("64KiB"), Some(65_536));
        assert_eq!(parse_size("512k"), Some(524_288));
        assert_eq!(parse_size("1MiB"), Some(1 << 20));
        assert_eq!(parse_size(" 2 mb "), Some(2 << 20));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("100B"), Some(100));
        for bad in [
            "",
            "k",
            "1.5MiB",
            "-1",
            "64 parsecs",
            "1TiB",
            "99999999999GiB",
        ] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }
}
