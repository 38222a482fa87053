//! The process being watched when `watch` starts it (`-- COMMAND`).
//!
//! A started program keeps the environment and, when the report goes to a
//! file, the standard streams. When the report goes to standard output its
//! output goes to standard error instead, so `heapwise watch --format json
//! -- prog | jq` reads only the report. Under the dashboard its input is
//! `/dev/null` and its output a log file, so it cannot scribble over the
//! screen. `watch` never stops it: when the watch ends first, it runs on.

use std::ffi::OsString;
use std::fs::File;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result};

use heapwise_watch::ExitStatus;

use super::super::launch::resolve_command;

/// Where a started program's standard streams go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildIo {
    /// Inherit everything (the report goes to a file).
    Inherit,
    /// Standard output to our standard error (the report is on stdout).
    StdoutToStderr,
    /// Input from `/dev/null`, output to a log file (the dashboard is up).
    LogFile,
}

/// A program `watch` started.
pub struct Launched {
    child: Child,
    /// The log file its output goes to under the dashboard.
    pub log: Option<PathBuf>,
    exit: Option<ExitStatus>,
}

impl Launched {
    /// Starts `command`; fails with one sentence when it cannot start.
    pub fn start(command: &[OsString], io: ChildIo) -> Result<Launched> {
        let Some(program) = command.first() else {
            anyhow::bail!("no command to watch: give --pid PID or -- COMMAND [ARGS...]");
        };
        resolve_command(program)?;
        let mut cmd = Command::new(program);
        cmd.args(&command[1..]);
        let mut log = None;
        match io {
            ChildIo::Inherit => {}
            ChildIo::StdoutToStderr => {
                cmd.stdout(std::io::stderr());
            }
            ChildIo::LogFile => {
                let path =
                    std::env::temp_dir().join(format!("heapwise-watch-{}.log", std::process::id()));
                let file = File::create(&path)
                    .with_context(|| format!("cannot create the log file {}", path.display()))?;
                cmd.stdin(Stdio::null())
                    .stdout(file.try_clone()?)
                    .stderr(file);
                log = Some(path);
            }
        }
        let child = cmd.spawn().map_err(|err| {
            anyhow::anyhow!(
                "cannot run {}: {}",
                program.to_string_lossy(),
                plain_io_message(&err)
            )
        })?;
        Ok(Launched {
            child,
            log,
            exit: None,
        })
    }

    /// Its PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Collects its exit status if it has ended (without waiting).
    pub fn poll_exit(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none()
            && let Ok(Some(status)) = self.child.try_wait()
        {
            self.exit = Some(match (status.code(), status.signal()) {
                (Some(code), _) => ExitStatus::Code { code },
                (None, Some(signal)) => ExitStatus::Signal { signal },
                (None, None) => ExitStatus::Code { code: -1 },
            });
        }
        self.exit
    }

    /// Waits up to `timeout` for it to end (it is known to be exiting).
    pub fn wait_exit(&mut self, timeout: std::time::Duration) -> Option<ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(exit) = self.poll_exit() {
                return Some(exit);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

/// `Permission denied (os error 13)` → `permission denied`.
fn plain_io_message(err: &std::io::Error) -> String {
    let text = err.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_that_cannot_start_are_one_sentence() {
        let err = Launched::start(&["no-such-heapwise-cmd".into()], ChildIo::Inherit)
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "cannot run no-such-heapwise-cmd: command not found"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not-executable");
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        let err = Launched::start(&[path.clone().into()], ChildIo::Inherit)
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            format!("cannot run {}: permission denied", path.display())
        );
    }

    #[test]
    fn exit_status_is_collected() {
        let mut child = Launched::start(
            &["sh".into(), "-c".into(), "exit 3".into()],
            ChildIo::Inherit,
        )
        .unwrap();
        assert_eq!(
            child.wait_exit(std::time::Duration::from_secs(5)),
            Some(ExitStatus::Code { code: 3 })
        );
    }
}
