//! Taking a heap dump of a running JVM through HotSpot's attach mechanism,
//! as `jcmd PID GC.heap_dump FILE` does, without a JDK on the machine.
//!
//! The protocol (HotSpot on Linux): the JVM listens on the UNIX socket
//! `/tmp/.java_pid<PID>` once its attach listener runs. To start it, create
//! `.attach_pid<PID>` in the process's working directory (or `/tmp`) and
//! send SIGQUIT; the JVM sees the file and opens the socket instead of
//! printing a thread dump. A request is `1\0jcmd\0<command line>\0\0\0`; the
//! answer is a status line (`0` for success) and the command's output.
//!
//! Paths go through `/proc/PID/root`, and the pid through `NSpid`, so a JVM
//! in a container is reached too. Only a process that has `libjvm.so`
//! mapped is ever sent SIGQUIT (to anything else it is fatal).

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Why a dump could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    /// No such process, or its files cannot be read.
    #[error("process {pid} cannot be inspected: {cause}")]
    Process {
        /// The process.
        pid: u32,
        /// What failed.
        cause: io::Error,
    },
    /// The process is not a HotSpot JVM.
    #[error("process {0} is not a Java virtual machine (no libjvm.so is mapped)")]
    NotJvm(u32),
    /// The attach listener did not start or answer.
    #[error(
        "the JVM {pid} did not open its attach socket ({detail}); it may run with -XX:+DisableAttachMechanism or as another user"
    )]
    NoListener {
        /// The process.
        pid: u32,
        /// What was seen.
        detail: String,
    },
    /// The socket broke.
    #[error("the attach connection to JVM {pid} failed: {cause}")]
    Io {
        /// The process.
        pid: u32,
        /// What failed.
        cause: io::Error,
    },
    /// The JVM refused or failed the command.
    #[error("the JVM {pid} could not write the dump: {message}")]
    Refused {
        /// The process.
        pid: u32,
        /// What the JVM said.
        message: String,
    },
}

/// Whether process `pid` is a HotSpot JVM (it has `libjvm.so` mapped).
pub fn is_jvm(pid: u32) -> io::Result<bool> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
    Ok(maps.lines().any(|l| l.ends_with("/libjvm.so")))
}

/// The pid the JVM knows itself by (the last `NSpid`, for a process in a container).
fn namespace_pid(pid: u32) -> u32 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("NSpid:"))
                .and_then(|ids| ids.split_whitespace().last()?.parse().ok())
        })
        .unwrap_or(pid)
}

/// Asks JVM `pid` to write a dump of its live objects (after a full GC) to
/// `file`, an absolute path the JVM can write (it writes the file itself).
/// Returns what the JVM said.
pub fn heap_dump(pid: u32, file: &Path, timeout: Duration) -> Result<String, AttachError> {
    let process = |cause| AttachError::Process { pid, cause };
    if !is_jvm(pid).map_err(process)? {
        return Err(AttachError::NotJvm(pid));
    }
    let mut stream = connect(pid, timeout)?;
    let command = format!("GC.heap_dump {}", file.display());
    let mut request = Vec::new();
    for part in ["1", "jcmd", &command, "", ""] {
        request.extend_from_slice(part.as_bytes());
        request.push(0);
    }
    let io = |cause| AttachError::Io { pid, cause };
    stream.write_all(&request).map_err(io)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(3600)))
        .map_err(io)?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).map_err(io)?;
    let (status, output) = answer.split_once('\n').unwrap_or((answer.as_str(), ""));
    let output = output.trim().to_string();
    if status.trim() != "0" {
        return Err(AttachError::Refused {
            pid,
            message: format!("status {}: {output}", status.trim()),
        });
    }
    // GC.heap_dump reports its own failures on a successful status line.
    if output.contains("Heap dump file created") {
        Ok(output)
    } else {
        Err(AttachError::Refused {
            pid,
            message: if output.is_empty() {
                "no answer".into()
            } else {
                output
            },
        })
    }
}

/// Connects to the attach socket, starting the listener when it is not running.
fn connect(pid: u32, timeout: Duration) -> Result<UnixStream, AttachError> {
    let ns_pid = namespace_pid(pid);
    let root = PathBuf::from(format!("/proc/{pid}/root"));
    let socket = root.join(format!("tmp/.java_pid{ns_pid}"));
    if let Ok(stream) = UnixStream::connect(&socket) {
        return Ok(stream);
    }
    // Start the attach listener: a trigger file, then SIGQUIT.
    let cwd_trigger = PathBuf::from(format!("/proc/{pid}/cwd/.attach_pid{ns_pid}"));
    let tmp_trigger = root.join(format!("tmp/.attach_pid{ns_pid}"));
    let trigger = if std::fs::write(&cwd_trigger, b"").is_ok() {
        cwd_trigger
    } else {
        std::fs::write(&tmp_trigger, b"").map_err(|cause| AttachError::NoListener {
            pid,
            detail: format!("could not create {}: {cause}", tmp_trigger.display()),
        })?;
        tmp_trigger
    };
    // SAFETY: kill has no memory-safety preconditions; the target was checked to be a JVM.
    let sent = unsafe { libc::kill(pid as libc::pid_t, libc::SIGQUIT) };
    let result = if sent != 0 {
        Err(AttachError::NoListener {
            pid,
            detail: format!("SIGQUIT failed: {}", io::Error::last_os_error()),
        })
    } else {
        let deadline = Instant::now() + timeout;
        loop {
            match UnixStream::connect(&socket) {
                Ok(stream) => break Ok(stream),
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(err) => {
                    break Err(AttachError::NoListener {
                        pid,
                        detail: format!(
                            "{} after {} ms: {err}",
                            socket.display(),
                            timeout.as_millis()
                        ),
                    });
                }
            }
        }
    };
    let _ = std::fs::remove_file(&trigger);
    result
}
