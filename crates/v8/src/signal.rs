//! Opening the inspector of a Node.js process that was started without
//! `--inspect`, as `kill -USR1 PID` (or `node --inspect` on a running
//! process) does: Node.js starts its inspector on 127.0.0.1:9229 (or the
//! `--inspect-port` it was given) when it receives SIGUSR1.
//!
//! The port is not guessed: heapwise lists the TCP sockets the process
//! listens on (from `/proc/PID/net/tcp{,6}` and its file descriptors)
//! before and after the signal and talks to the new one; an inspector that
//! was already open is found the same way. Only a process whose executable
//! is Node.js is ever signalled (to most programs SIGUSR1 is fatal).

use std::collections::BTreeSet;
use std::io;
use std::time::{Duration, Instant};

use crate::inspector::Inspector;

/// Why the inspector could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// No such process, or its files cannot be read.
    #[error("process {pid} cannot be inspected: {cause}")]
    Process {
        /// The process.
        pid: u32,
        /// What failed.
        cause: io::Error,
    },
    /// The process is not Node.js.
    #[error("process {pid} is not Node.js (its executable is {exe})")]
    NotNode {
        /// The process.
        pid: u32,
        /// Its executable.
        exe: String,
    },
    /// No inspector answered.
    #[error(
        "Node.js process {pid} opened no inspector within {seconds} s of SIGUSR1 (started with --disable-sigusr1, or its port is taken)"
    )]
    NoInspector {
        /// The process.
        pid: u32,
        /// How long heapwise waited.
        seconds: u64,
    },
}

/// Whether process `pid` runs Node.js.
pub fn is_node(pid: u32) -> io::Result<bool> {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe"))?;
    Ok(exe
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("node")))
}

/// Opens the inspector of Node.js process `pid` (SIGUSR1) and connects to it.
/// Returns its address and the connection.
pub fn open_inspector(pid: u32, timeout: Duration) -> Result<(String, Inspector), OpenError> {
    let process = |cause| OpenError::Process { pid, cause };
    if !is_node(pid).map_err(process)? {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        return Err(OpenError::NotNode { pid, exe });
    }
    let before = listening(pid).map_err(process)?;
    // An inspector already open answers without a signal.
    for addr in &before {
        if let Ok(inspector) = Inspector::connect(addr, Duration::from_secs(2)) {
            return Ok((addr.clone(), inspector));
        }
    }
    // SAFETY: kill has no memory-safety preconditions; the target runs Node.js.
    if unsafe { libc::kill(pid as libc::pid_t, libc::SIGUSR1) } != 0 {
        return Err(process(io::Error::last_os_error()));
    }
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        let now = listening(pid).map_err(process)?;
        for addr in now.difference(&before) {
            if let Ok(inspector) = Inspector::connect(addr, Duration::from_secs(2)) {
                return Ok((addr.clone(), inspector));
            }
        }
    }
    Err(OpenError::NoInspector {
        pid,
        seconds: timeout.as_secs(),
    })
}

/// The loopback-reachable addresses of the TCP sockets `pid` listens on.
fn listening(pid: u32) -> io::Result<BTreeSet<String>> {
    let mut inodes = BTreeSet::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
        let Ok(link) = std::fs::read_link(entry?.path()) else {
            continue;
        };
        let link = link.to_string_lossy().into_owned();
        if let Some(inode) = link
            .strip_prefix("socket:[")
            .and_then(|r| r.strip_suffix(']'))
        {
            inodes.insert(inode.to_string());
        }
    }
    let mut addresses = BTreeSet::new();
    for (table, v6) in [("tcp", false), ("tcp6", true)] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            if fields.len() < 10 || fields[3] != "0A" || !inodes.contains(fields[9]) {
                continue;
            }
            let Some((host, port)) = fields[1].split_once(':') else {
                continue;
            };
            let Ok(port) = u16::from_str_radix(port, 16) else {
                continue;
            };
            let any_or_loopback = if v6 {
                host == "00000000000000000000000000000000"
                    || host == "00000000000000000000000001000000"
            } else {
                host == "00000000" || host.ends_with("7F")
            };
            if any_or_loopback {
                let ip = if v6 && host != "00000000000000000000000000000000" {
                    "[::1]"
                } else {
                    "127.0.0.1"
                };
                addresses.insert(format!("{ip}:{port}"));
            }
        }
    }
    Ok(addresses)
}
