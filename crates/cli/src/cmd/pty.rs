//! The traced program's own terminal while `heapwise run` shows its live
//! view (the `script(1)` model).
//!
//! The dashboard owns the real terminal (raw mode, alternate screen), so the
//! program cannot write to it directly: its lines would tear the screen
//! apart. Redirecting its output to a file or pipe would change it instead
//! (`isatty` turns false, stdio switches to full buffering, colours go
//! away). So the program gets a pseudo-terminal of the same size and modes
//! as ours, as its controlling terminal and its stdin, stdout and stderr;
//! it cannot tell the difference.
//!
//! Everything it writes is kept, in order, in an unnamed temporary file (in
//! memory if none can be made) while the view is up; the view shows the last
//! lines. When the view closes (`q`, or the program's end), the kept output
//! is written to the real terminal and from then on the relay is a plain
//! pass-through in both directions: what the program writes goes to our
//! stdout, what is typed goes to the program (Ctrl-C included, which the
//! pseudo-terminal turns into SIGINT for the program). Nothing is lost and
//! nothing is reordered.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Lines of output the view can show.
const TAIL_LINES: usize = 200;

/// A pseudo-terminal pair shaped like the terminal `like`.
pub struct Pty {
    master: File,
    slave: Option<OwnedFd>,
}

fn check(result: libc::c_int) -> io::Result<libc::c_int> {
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

/// The window size of terminal `fd`.
pub fn window_size(fd: RawFd) -> Option<libc::winsize> {
    // SAFETY: winsize is plain data; TIOCGWINSZ fills it in.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a winsize.
    let ok = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) } == 0;
    ok.then_some(size)
}

impl Pty {
    /// Opens a pseudo-terminal with the modes and window size of `like`.
    pub fn open(like: RawFd) -> io::Result<Pty> {
        // SAFETY: termios is plain data; tcgetattr fills it in.
        let mut modes: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: a valid pointer to a termios.
        let have_modes = unsafe { libc::tcgetattr(like, &mut modes) } == 0;
        let mut size = window_size(like);
        let (mut master, mut slave) = (-1, -1);
        // SAFETY: out-pointers to two ints; the modes and size are read only.
        check(unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                if have_modes { &modes } else { std::ptr::null() },
                size.as_mut()
                    .map_or(std::ptr::null(), |s| s as *const libc::winsize),
            )
        })?;
        // SAFETY: openpty returned two new descriptors that we now own.
        let (master, slave) = unsafe { (File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        for fd in [master.as_raw_fd(), slave.as_raw_fd()] {
            // SAFETY: setting close-on-exec on our own descriptors.
            check(unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) })?;
        }
        Ok(Pty {
            master,
            slave: Some(slave),
        })
    }

    /// Makes the pseudo-terminal `command`'s controlling terminal, stdin,
    /// stdout and stderr (in a session of its own, as a terminal emulator
    /// does). Call before spawning; call [`Pty::spawned`] after.
    pub fn attach(&self, command: &mut Command) {
        let slave = self.slave.as_ref().map_or(-1, |s| s.as_raw_fd());
        // SAFETY: the closure runs between fork and exec and only makes
        // async-signal-safe system calls.
        unsafe {
            command.pre_exec(move || {
                check(libc::setsid())?;
                check(libc::ioctl(slave, libc::TIOCSCTTY, 0))?;
                for fd in 0..3 {
                    check(libc::dup2(slave, fd))?;
                }
                Ok(())
            });
        }
    }

    /// Closes our copy of the terminal's program side, so reading our side
    /// ends once the program (and whatever it started) has closed it.
    pub fn spawned(&mut self) {
        self.slave = None;
    }

    /// Starts relaying: output is kept for the view until
    /// [`Relay::pass_through`].
    pub fn relay(self) -> io::Result<Relay> {
        let master = Arc::new(self.master);
        let shared = Arc::new(Mutex::new(Shared {
            passing: false,
            kept: Kept::new(),
            tail: Tail::default(),
            bytes: 0,
        }));
        let output = {
            let (master, shared) = (Arc::clone(&master), Arc::clone(&shared));
            std::thread::Builder::new()
                .name("heapwise-pty-out".into())
                .spawn(move || relay_output(&master, &shared))?
        };
        Ok(Relay {
            master,
            shared,
            output: Some(output),
            input: None,
            stop_input: Arc::new(AtomicBool::new(false)),
            size: None,
        })
    }
}

/// Where output waits while the view is up.
enum Kept {
    File(File),
    Memory(Vec<u8>),
}

impl Kept {
    fn new() -> Kept {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_TMPFILE)
            .open(std::env::temp_dir())
            .map_or_else(|_| Kept::Memory(Vec::new()), Kept::File)
    }

    fn write(&mut self, bytes: &[u8]) {
        let written = match self {
            Kept::File(file) => file.write_all(bytes),
            Kept::Memory(buffer) => {
                buffer.extend_from_slice(bytes);
                Ok(())
            }
        };
        if written.is_err() {
            // The disk is full: keep the rest in memory rather than lose it.
            let mut memory = self.take();
            memory.extend_from_slice(bytes);
            *self = Kept::Memory(memory);
        }
    }

    /// Everything kept so far, leaving this empty.
    fn take(&mut self) -> Vec<u8> {
        match std::mem::replace(self, Kept::Memory(Vec::new())) {
            Kept::File(mut file) => {
                let mut all = Vec::new();
                let _ = file
                    .rewind()
                    .and_then(|()| file.read_to_end(&mut all).map(|_| ()));
                all
            }
            Kept::Memory(buffer) => buffer,
        }
    }

    fn copy_to(&mut self, out: &mut dyn Write) -> io::Result<()> {
        match self {
            Kept::File(file) => {
                file.rewind()?;
                io::copy(file, out)?;
                file.set_len(0)?;
                file.rewind()
            }
            Kept::Memory(buffer) => {
                out.write_all(buffer)?;
                buffer.clear();
                Ok(())
            }
        }
    }
}

struct Shared {
    passing: bool,
    kept: Kept,
    tail: Tail,
    bytes: u64,
}

/// The last lines of output as text: escape sequences removed, a carriage
/// return starting the line over (progress bars), UTF-8 decoded.
#[derive(Default)]
pub struct Tail {
    lines: VecDeque<String>,
    partial: Vec<u8>,
    escape: Escape,
    /// A carriage return came: the next text starts the line over (but
    /// `\r\n` just ends it).
    carriage: bool,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Escape {
    #[default]
    None,
    /// After ESC.
    Start,
    /// Inside `ESC [ ...` until a final byte.
    Csi,
    /// Inside `ESC ] ...` until BEL or `ESC \`.
    Osc,
    /// ESC inside an OSC (the start of its `ESC \` end).
    OscEnd,
}

impl Tail {
    /// Takes in more output.
    pub fn push(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.escape = match (self.escape, byte) {
                (Escape::None, 0x1b) => Escape::Start,
                (Escape::None, b'\n') => {
                    self.end_line();
                    Escape::None
                }
                (Escape::None, b'\r') => {
                    self.carriage = true;
                    Escape::None
                }
                (Escape::None, b'\t') => {
                    self.text(b"    ");
                    Escape::None
                }
                (Escape::None, b) if b < 0x20 || b == 0x7f => Escape::None,
                (Escape::None, b) => {
                    self.text(&[b]);
                    Escape::None
                }
                (Escape::Start, b'[') => Escape::Csi,
                (Escape::Start, b']') => Escape::Osc,
                (Escape::Start, _) => Escape::None,
                (Escape::Csi, 0x40..=0x7e) => Escape::None,
                (Escape::Csi, _) => Escape::Csi,
                (Escape::Osc, 0x07) => Escape::None,
                (Escape::Osc, 0x1b) => Escape::OscEnd,
                (Escape::Osc, _) => Escape::Osc,
                (Escape::OscEnd, b'\\') => Escape::None,
                (Escape::OscEnd, _) => Escape::Osc,
            };
        }
        if self.partial.len() > 4096 {
            self.end_line();
        }
    }

    fn text(&mut self, bytes: &[u8]) {
        if std::mem::take(&mut self.carriage) {
            self.partial.clear();
        }
        self.partial.extend_from_slice(bytes);
    }

    fn end_line(&mut self) {
        self.carriage = false;
        let line = String::from_utf8_lossy(&self.partial).into_owned();
        self.partial.clear();
        if self.lines.len() == TAIL_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }

    /// The last `count` lines, the unfinished one included.
    pub fn last(&self, count: usize) -> Vec<String> {
        let partial =
            (!self.partial.is_empty()).then(|| String::from_utf8_lossy(&self.partial).into_owned());
        let complete = count.saturating_sub(usize::from(partial.is_some()));
        let skip = self.lines.len().saturating_sub(complete);
        self.lines
            .iter()
            .skip(skip)
            .cloned()
            .chain(partial)
            .collect()
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn relay_output(master: &File, shared: &Mutex<Shared>) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let count = match (&*master).read(&mut buffer) {
            Ok(0) => break,
            Ok(count) => count,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            // EIO: every copy of the program's side is closed.
            Err(_) => break,
        };
        let bytes = &buffer[..count];
        let mut shared = lock(shared);
        shared.bytes += count as u64;
        if shared.passing {
            let mut out = io::stdout().lock();
            let _ = out.write_all(bytes).and_then(|()| out.flush());
        } else {
            shared.kept.write(bytes);
            shared.tail.push(bytes);
        }
    }
}

/// Copies what is typed to the program until `stop`.
fn relay_input(master: &File, stop: &AtomicBool) {
    let mut buffer = [0u8; 4096];
    while !stop.load(Ordering::Acquire) {
        let mut poll = libc::pollfd {
            fd: libc::STDIN_FILENO,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut poll, 1, 100) };
        if ready <= 0 {
            continue;
        }
        // SAFETY: reading into our own buffer.
        let count =
            unsafe { libc::read(libc::STDIN_FILENO, buffer.as_mut_ptr().cast(), buffer.len()) };
        if count <= 0 {
            break;
        }
        if (&*master).write_all(&buffer[..count as usize]).is_err() {
            break;
        }
    }
}

/// The running relay between the program's pseudo-terminal and ours.
pub struct Relay {
    master: Arc<File>,
    shared: Arc<Mutex<Shared>>,
    output: Option<JoinHandle<()>>,
    input: Option<JoinHandle<()>>,
    stop_input: Arc<AtomicBool>,
    size: Option<(u16, u16)>,
}

impl Relay {
    /// The last `count` lines the program wrote.
    pub fn last_lines(&self, count: usize) -> Vec<String> {
        lock(&self.shared).tail.last(count)
    }

    /// Bytes the program wrote so far.
    #[cfg(test)]
    pub fn bytes(&self) -> u64 {
        lock(&self.shared).bytes
    }

    /// Types `bytes` for the program (Ctrl-C is `\x03`).
    pub fn type_bytes(&self, bytes: &[u8]) {
        let _ = (&*self.master).write_all(bytes);
    }

    /// Gives the program's terminal this size (it gets SIGWINCH).
    pub fn resize(&mut self, columns: u16, rows: u16) {
        if self.size == Some((columns, rows)) {
            return;
        }
        self.size = Some((columns, rows));
        let size = libc::winsize {
            ws_row: rows,
            ws_col: columns,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: a valid winsize for our own descriptor.
        unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
    }

    /// The view is gone: writes everything kept to stdout, then passes
    /// output through as it comes and what is typed to the program. The
    /// caller keeps our terminal in raw mode meanwhile (the program's
    /// terminal does the echoing and line editing).
    pub fn pass_through(&mut self) {
        if !self.release_kept() {
            return;
        }
        let (master, stop) = (Arc::clone(&self.master), Arc::clone(&self.stop_input));
        self.input = std::thread::Builder::new()
            .name("heapwise-pty-in".into())
            .spawn(move || relay_input(&master, &stop))
            .ok();
    }

    /// Writes the kept output and switches to passing output through;
    /// false if that was done before.
    fn release_kept(&self) -> bool {
        let mut shared = lock(&self.shared);
        if shared.passing {
            return false;
        }
        let mut out = io::stdout().lock();
        let _ = shared.kept.copy_to(&mut out).and_then(|()| out.flush());
        shared.passing = true;
        true
    }

    /// Our terminal is gone: the program's output is dropped from now on
    /// (there is nowhere to show it) rather than kept.
    pub fn hang_up(&mut self) {
        let mut shared = lock(&self.shared);
        shared.kept = Kept::Memory(Vec::new());
        shared.passing = true;
    }

    /// The program has ended: waits up to `grace` for the rest of its
    /// output, writes it out, and stops relaying input. Output of processes
    /// it left running, which still hold its terminal, keeps being passed
    /// through until heapwise exits.
    pub fn finish(mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        while self.output.as_ref().is_some_and(|o| !o.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if self.output.as_ref().is_some_and(|o| o.is_finished()) {
            let _ = self.output.take().map(JoinHandle::join);
        }
        self.release_kept();
        self.stop_input.store(true, Ordering::Release);
        if let Some(input) = self.input.take() {
            let _ = input.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_is_text_without_escapes_and_progress_redraws() {
        let mut tail = Tail::default();
        tail.push(b"\x1b[1;32mready\x1b[0m on port 80\r\n");
        tail.push(b"progress 10%\rprogress 100%\r\n");
        tail.push(b"\x1b]0;title\x07caf\xc3");
        tail.push(b"\xa9 open");
        assert_eq!(
            tail.last(10),
            ["ready on port 80", "progress 100%", "café open"]
        );
        assert_eq!(tail.last(1), ["café open"]);
        for n in 0..300 {
            tail.push(format!("line {n}\n").as_bytes());
        }
        assert_eq!(tail.last(2), ["line 298", "line 299"]);
        assert_eq!(tail.lines.len(), TAIL_LINES);
    }

    #[test]
    fn kept_output_comes_back_whole_and_in_order() {
        let mut kept = Kept::new();
        for n in 0..1000 {
            kept.write(format!("{n}\n").as_bytes());
        }
        let mut out = Vec::new();
        kept.copy_to(&mut out).unwrap();
        let expected: String = (0..1000).map(|n| format!("{n}\n")).collect();
        assert_eq!(String::from_utf8(out).unwrap(), expected);
        kept.write(b"more");
        assert_eq!(kept.take(), b"more");
    }

    #[test]
    fn a_program_on_the_pty_sees_a_terminal_and_its_output_is_kept() {
        // Our own stdin may not be a terminal under `cargo test`: shape the
        // pseudo-terminal like another one.
        let probe = Pty::open(-1).unwrap();
        let mut pty = Pty::open(probe.master.as_raw_fd()).unwrap();
        let mut command = Command::new("sh");
        command.args(["-c", "test -t 0 && test -t 1 && echo tty; echo done"]);
        pty.attach(&mut command);
        let mut child = command.spawn().unwrap();
        pty.spawned();
        let relay = pty.relay().unwrap();
        assert!(child.wait().unwrap().success());
        let deadline = Instant::now() + Duration::from_secs(5);
        while relay.last_lines(5).len() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(relay.last_lines(5), ["tty", "done"]);
        assert_eq!(relay.bytes(), "tty\r\ndone\r\n".len() as u64);
    }
}
