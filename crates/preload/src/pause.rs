//! Pausing and resuming a sampled trace at run time, through a control
//! file: `HEAPWISE_CONTROL` names it (`{pid}` becomes the process id), by
//! default the trace's path with `.control` appended. The writer reads it
//! once a second: a file whose first word is `off` (or `pause`) pauses
//! sampling, `on` (or `resume`) — or no file — resumes it. A file rather
//! than a signal: a signal handler would change the program (a service may
//! use every signal itself), and a file works the same for one process or
//! for every process of a service (`HEAPWISE_CONTROL` without `{pid}`).
//!
//! Paused, an allocation costs the sampled trace's countdown and nothing
//! more (`sample.rs`): no stack is unwound and nothing is recorded. The
//! frees of blocks sampled before the pause are still recorded (a free
//! looks its address up in the filter of sampled blocks), so the blocks
//! that are live stay known. The trace records each change (`SAMPLING`);
//! the report leaves paused time out of its growth verdicts and says how
//! long sampling was paused. A full trace cannot be paused (its counts
//! would no longer be exact): its control file is ignored, with a note.

use std::ffi::CString;

use heapwise_trace::ControlRecord;

use crate::{control, sample, sys};

/// The control file and what it said last.
pub struct Pause {
    path: CString,
    paused: bool,
    /// A full trace: the file is only read to say it is ignored.
    full: bool,
    ignored_said: bool,
}

impl Pause {
    /// The control file named by `template` (or beside `trace`), for a
    /// trace sampled (`sampled`) or full.
    pub fn new(template: Option<&str>, trace: &str, pid: u32, sampled: bool) -> Option<Pause> {
        let path = match template {
            Some(t) if !t.is_empty() => t.replace("{pid}", &pid.to_string()),
            _ => format!("{trace}.control"),
        };
        // A new trace (a forked child's, another attach) starts unpaused.
        sample::set_paused(false);
        Some(Pause {
            path: CString::new(path).ok()?,
            paused: false,
            full: !sampled,
            ignored_said: false,
        })
    }

    /// Reads the control file and applies a change.
    pub fn poll(&mut self) {
        let wanted = self.read();
        if self.full {
            if wanted && !self.ignored_said {
                self.ignored_said = true;
                control::push(&ControlRecord::Note {
                    ts: sys::ticks(),
                    message: "the control file asks to pause, but a full trace cannot be paused (its counts would no longer be exact): ignored".into(),
                });
            }
            return;
        }
        if wanted != self.paused {
            self.paused = wanted;
            sample::set_paused(wanted);
            control::push(&ControlRecord::Sampling {
                ts: sys::ticks(),
                paused: wanted,
            });
        }
    }

    /// Whether the file asks for a pause.
    fn read(&self) -> bool {
        let mut buf = [0u8; 64];
        // Never blocks: the path may name a FIFO.
        // SAFETY: a NUL-terminated path; the fd is closed below.
        let fd = unsafe {
            libc::open(
                self.path.as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK,
            )
        };
        if fd < 0 {
            return false;
        }
        // SAFETY: reading into our buffer, then closing our fd.
        let len = unsafe {
            let len = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
            libc::close(fd);
            len
        };
        let text = String::from_utf8_lossy(&buf[..len.max(0) as usize]);
        matches!(
            text.split_whitespace()
                .next()
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("off" | "pause" | "paused")
        )
    }
}
