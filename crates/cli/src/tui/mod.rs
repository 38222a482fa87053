//! The live terminal views (ratatui on crossterm), shared by every command
//! that has one:
//!
//! - this module: the terminal session ([`Screen`]), keyboard input
//!   ([`Input`]) and the one loop that refreshes, draws and reads keys
//!   ([`show`]) for the views of a trace being written;
//! - `widgets.rs`: a memory chart with a trend line and a table of figures;
//! - `trace.rs`: the view of a trace being written (`heapwise run` and
//!   `heapwise report --follow` on a terminal);
//! - `watch.rs`: `heapwise watch`'s dashboard (its loop waits for the next
//!   sample instead, in `cmd/watch`).
//!
//! ```ignore
//! let mut screen = Screen::enter()?;            // raw mode + alternate screen
//! match tui::show(&mut screen, &mut my_view)? { // until it ends, q, Ctrl-C or a hangup
//!     Closed::HungUp => screen.abandon(),
//!     _ => screen.leave()?,                     // also done on drop and on panic
//! }
//! ```

pub mod trace;
pub mod watch;
pub mod widgets;

use std::io;
use std::time::{Duration, Instant};

use ratatui::DefaultTerminal;
use ratatui::Frame;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};

/// The terminal in dashboard mode: raw input, alternate screen, hidden
/// cursor. Restored by [`Screen::leave`], on drop, and on panic.
pub struct Screen {
    terminal: Option<DefaultTerminal>,
    /// The size at the last look, to notice resizes.
    size: Option<(u16, u16)>,
}

/// What the user did while [`Screen::wait_for_input`] waited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// `q` or `Esc`: close the view.
    Quit,
    /// Ctrl-C (raw mode turns it into a key): stop what is watched, or
    /// close the view where nothing else can be stopped.
    Interrupt,
    /// The terminal was resized: draw again now.
    Redraw,
    /// Nothing (the timeout passed), or a key with no meaning.
    Nothing,
    /// The terminal is gone (hung up): nothing can be shown or typed.
    Hangup,
}

impl Screen {
    /// Switches the terminal to dashboard mode.
    pub fn enter() -> io::Result<Screen> {
        Ok(Screen {
            terminal: Some(ratatui::try_init()?),
            size: crossterm::terminal::size().ok(),
        })
    }

    /// Draws one frame.
    pub fn draw(&mut self, render: impl FnOnce(&mut Frame)) -> io::Result<()> {
        match &mut self.terminal {
            Some(terminal) => terminal.draw(render).map(|_| ()),
            None => Ok(()),
        }
    }

    /// Waits up to `timeout` for a key press or a resize.
    ///
    /// Waits on the terminal itself first: crossterm's reader spins forever
    /// on a terminal that hung up (a read of 0 bytes is not an end for
    /// it), so it is only asked to parse input that is there, and a hangup
    /// is reported as [`Input::Hangup`]. Resizes are noticed by size.
    pub fn wait_for_input(&mut self, timeout: Duration) -> io::Result<Input> {
        let mut terminal = libc::pollfd {
            fd: libc::STDIN_FILENO,
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut terminal, 1, millis) };
        if ready < 0 {
            let err = io::Error::last_os_error();
            return match err.kind() {
                io::ErrorKind::Interrupted => Ok(self.resized()),
                _ => Err(err),
            };
        }
        if terminal.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            return Ok(Input::Hangup);
        }
        let mut input = self.resized();
        while terminal.revents & libc::POLLIN != 0 && event::poll(Duration::ZERO)? {
            let read = match event::read()? {
                Event::Key(key) if key.kind != KeyEventKind::Release => match key.code {
                    KeyCode::Char('q' | 'Q') | KeyCode::Esc => Input::Quit,
                    KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                        Input::Interrupt
                    }
                    _ => Input::Nothing,
                },
                Event::Resize(..) => Input::Redraw,
                _ => Input::Nothing,
            };
            if read != Input::Nothing {
                input = read;
                if matches!(read, Input::Quit | Input::Interrupt) {
                    break;
                }
            }
        }
        Ok(input)
    }

    /// [`Input::Redraw`] if the terminal's size changed since the last look.
    fn resized(&mut self) -> Input {
        let size = crossterm::terminal::size().ok();
        if size.is_some() && size != self.size {
            self.size = size;
            Input::Redraw
        } else {
            Input::Nothing
        }
    }

    /// Lets go of a terminal that hung up without touching it: restoring
    /// it would fail, and ratatui reports that failure with `eprintln!`,
    /// which panics when stderr is the dead terminal too.
    pub fn abandon(&mut self) {
        if let Some(terminal) = self.terminal.take() {
            std::mem::forget(terminal);
        }
    }

    /// Gives the terminal back as it was.
    pub fn leave(mut self) -> io::Result<()> {
        self.restore()
    }

    fn restore(&mut self) -> io::Result<()> {
        if self.terminal.take().is_some() {
            ratatui::try_restore()?;
        }
        Ok(())
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = self.restore();
    }
}

/// Whether a live view can be drawn: keys come from a terminal and the
/// screen is one (and not a dumb one).
pub fn on_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal()
        && std::io::stdout().is_terminal()
        && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// How often a view refreshes.
pub const REFRESH: Duration = Duration::from_secs(1);

/// Keys are read in slices of this, so that an end is noticed promptly.
const INPUT_SLICE: Duration = Duration::from_millis(100);

/// What a live view shows, and when what it shows has ended.
pub trait View {
    /// Reads what is new; `true` once what it shows has ended.
    fn refresh(&mut self) -> anyhow::Result<bool>;
    /// Draws one frame of it.
    fn draw(&self, frame: &mut Frame);
    /// Asked between keys: whether what it shows has ended meanwhile.
    fn ended(&mut self) -> anyhow::Result<bool>;
    /// Ctrl-C was pressed: `true` closes the view, `false` keeps it (the
    /// view passed the key on).
    fn interrupt(&mut self) -> bool;
}

/// Why [`show`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    /// What the view shows ended.
    Ended,
    /// `q` or Esc.
    Quit,
    /// Ctrl-C, and the view closes on it.
    Interrupted,
    /// The terminal is gone: [`Screen::abandon`] it.
    HungUp,
}

/// Shows `view` on `screen`, refreshed every [`REFRESH`] and redrawn on a
/// resize, until what it shows ends or the person closes it.
pub fn show(screen: &mut Screen, view: &mut impl View) -> anyhow::Result<Closed> {
    loop {
        if view.refresh()? {
            return Ok(Closed::Ended);
        }
        // A terminal that cannot be drawn on is gone: same as a hangup.
        if screen.draw(|frame| view.draw(frame)).is_err() {
            return Ok(Closed::HungUp);
        }
        let next = Instant::now() + REFRESH;
        while let Some(left) = next.checked_duration_since(Instant::now()) {
            let input = screen
                .wait_for_input(left.min(INPUT_SLICE))
                .unwrap_or(Input::Hangup);
            match input {
                Input::Quit => return Ok(Closed::Quit),
                Input::Interrupt if view.interrupt() => return Ok(Closed::Interrupted),
                Input::Hangup => return Ok(Closed::HungUp),
                Input::Redraw if screen.draw(|frame| view.draw(frame)).is_err() => {
                    return Ok(Closed::HungUp);
                }
                _ => {}
            }
            if view.ended()? {
                return Ok(Closed::Ended);
            }
        }
    }
}
