//! Errors of attaching to and sampling a process.

use std::io;
use std::path::PathBuf;

/// Why a process cannot be watched. Messages are full sentences.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The PID is zero or negative.
    #[error("{0} is not a process ID (PIDs are positive numbers)")]
    InvalidPid(i64),
    /// No process has this PID.
    #[error("no process with PID {0} is running")]
    NoSuchProcess(i32),
    /// The process exists but we may not read its memory figures.
    #[error(
        "not permitted to read {path}: watch process {pid} as its own user or as root",
        path = path.display()
    )]
    NotPermitted {
        /// The process.
        pid: i32,
        /// The file that could not be read.
        path: PathBuf,
    },
    /// The process has already exited (a zombie waiting for its parent).
    #[error("process {0} has already exited (it is a zombie waiting for its parent to reap it)")]
    Exited(i32),
    /// A kernel thread has no user memory.
    #[error("process {pid} ({name}) is a kernel thread: it has no memory of its own to watch")]
    KernelThread {
        /// The thread.
        pid: i32,
        /// Its name.
        name: String,
    },
    /// Any other failure to read a `/proc` file.
    #[error("could not read {path}: {source}", path = path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
}

impl WatchError {
    /// Maps an error opening or reading a file of process `pid`.
    pub(crate) fn from_io(pid: i32, path: PathBuf, source: io::Error) -> Self {
        match source.raw_os_error() {
            Some(libc::ENOENT | libc::ESRCH) => WatchError::NoSuchProcess(pid),
            Some(libc::EACCES | libc::EPERM) => WatchError::NotPermitted { pid, path },
            _ => WatchError::Io { path, source },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_become_sentences() {
        let path = PathBuf::from("/proc/7/status");
        let e = WatchError::from_io(7, path.clone(), io::Error::from_raw_os_error(libc::ENOENT));
        assert_eq!(e.to_string(), "no process with PID 7 is running");
        let e = WatchError::from_io(7, path.clone(), io::Error::from_raw_os_error(libc::EACCES));
        assert_eq!(
            e.to_string(),
            "not permitted to read /proc/7/status: watch process 7 as its own user or as root"
        );
        let e = WatchError::from_io(7, path, io::Error::from_raw_os_error(libc::EIO));
        assert!(e.to_string().starts_with("could not read /proc/7/status: "));
    }
}
