//! Reusable pieces of heapwise's live terminal dashboards (ratatui on
//! crossterm): the terminal session, keyboard input, a memory chart with a
//! trend line, and a table of figures. `watch` builds its screen from them
//! (`dashboard.rs`); other live views (`heapwise run`) can do the same.
//!
//! ```ignore
//! let mut screen = Screen::enter()?;            // raw mode + alternate screen
//! loop {
//!     screen.draw(|frame| {
//!         let chart = MemoryChart::new("RSS")
//!             .series("rss", Color::Cyan, thin(&rss_series, 200))
//!             .line("trend", Color::Yellow, (0.0, 1e6), (60.0, 2e6));
//!         frame.render_widget(&chart, frame.area());
//!     })?;
//!     if screen.wait_for_input(Duration::from_millis(500))? == Input::Quit {
//!         break;
//!     }
//! }
//! screen.leave()?;                              // also done on drop and on panic
//! ```

use heapwise_words as words;
use std::io;
use std::time::Duration;

use heapwise_series::{Aggregate, Series, downsample};
use ratatui::DefaultTerminal;
use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Chart, Dataset, GraphType, LegendPosition, Row, Table, Widget,
};

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

/// At most `count` points of `series` for a chart, keeping each interval's
/// highest value so short peaks stay visible.
pub fn thin(series: &Series, count: usize) -> Vec<(f64, f64)> {
    downsample(series, count, Aggregate::Max)
        .into_iter()
        .map(|p| (p.t_s, p.value))
        .collect()
}

/// One line of a [`MemoryChart`].
struct ChartLine {
    name: String,
    color: Color,
    points: Vec<(f64, f64)>,
}

/// Memory over time: any number of byte series (x in seconds, y in bytes)
/// and straight lines (a trend), on axes labelled in seconds and bytes.
/// The y axis starts at 0 so growth is seen in proportion.
pub struct MemoryChart {
    title: String,
    lines: Vec<ChartLine>,
}

impl MemoryChart {
    /// An empty chart with a title.
    pub fn new(title: impl Into<String>) -> Self {
        MemoryChart {
            title: title.into(),
            lines: Vec::new(),
        }
    }

    /// Adds a series of `(seconds, bytes)` points, drawn connected.
    pub fn series(
        mut self,
        name: impl Into<String>,
        color: Color,
        points: Vec<(f64, f64)>,
    ) -> Self {
        self.lines.push(ChartLine {
            name: name.into(),
            color,
            points,
        });
        self
    }

    /// Adds a straight line from `from` to `to` (`(seconds, bytes)`).
    pub fn line(
        self,
        name: impl Into<String>,
        color: Color,
        from: (f64, f64),
        to: (f64, f64),
    ) -> Self {
        self.series(name, color, vec![from, to])
    }

    fn bounds(&self) -> ([f64; 2], [f64; 2]) {
        let all = self.lines.iter().flat_map(|l| l.points.iter());
        let (mut t0, mut t1, mut top) = (f64::INFINITY, f64::NEG_INFINITY, 0.0f64);
        for &(t, v) in all {
            t0 = t0.min(t);
            t1 = t1.max(t);
            top = top.max(v);
        }
        if !t0.is_finite() || !t1.is_finite() {
            (t0, t1) = (0.0, 1.0);
        }
        if t1 <= t0 {
            t1 = t0 + 1.0;
        }
        let top = if top > 0.0 { top * 1.1 } else { 1.0 };
        ([t0, t1], [0.0, top])
    }
}

impl Widget for &MemoryChart {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let (x, y) = self.bounds();
        let datasets: Vec<Dataset> = self
            .lines
            .iter()
            .map(|line| {
                Dataset::default()
                    .name(line.name.clone())
                    .marker(Marker::Braille)
                    .graph_type(GraphType::Line)
                    .style(Style::default().fg(line.color))
                    .data(&line.points)
            })
            .collect();
        let label = |s: String| Span::styled(s, Style::default().fg(Color::Gray));
        let chart = Chart::new(datasets)
            .block(Block::bordered().title(self.title.clone()))
            .x_axis(Axis::default().bounds(x).labels([
                label(words::duration(x[0])),
                label(words::duration((x[0] + x[1]) / 2.0)),
                label(words::duration(x[1])),
            ]))
            .y_axis(Axis::default().bounds(y).labels([
                label(words::bytes(0)),
                label(words::bytes((y[1] / 2.0) as u64)),
                label(words::bytes(y[1] as u64)),
            ]))
            .legend_position(Some(LegendPosition::TopLeft))
            .hidden_legend_constraints((Constraint::Percentage(50), Constraint::Percentage(50)));
        chart.render(area, buf);
    }
}

/// A bordered table of `label  value  [value...]` rows, with an optional
/// header row; a row can be highlighted.
pub struct Figures {
    title: String,
    header: Vec<String>,
    rows: Vec<(Vec<String>, Style)>,
}

impl Figures {
    /// An empty table; `header` names the value columns (may be empty).
    pub fn new(title: impl Into<String>, header: &[&str]) -> Self {
        Figures {
            title: title.into(),
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row: a label and its values.
    pub fn row(self, label: &str, values: &[String]) -> Self {
        self.row_styled(label, values, Style::default())
    }

    /// Adds a row drawn in `style` (e.g. red for a leak).
    pub fn row_styled(mut self, label: &str, values: &[String], style: Style) -> Self {
        let mut cells = vec![label.to_owned()];
        cells.extend(values.iter().cloned());
        self.rows.push((cells, style));
        self
    }
}

impl Widget for &Figures {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let columns = self
            .rows
            .iter()
            .map(|(cells, _)| cells.len())
            .chain([self.header.len() + 1])
            .max()
            .unwrap_or(1);
        let label_width = self.rows.iter().map(|(c, _)| c[0].len()).max().unwrap_or(0);
        let mut widths = vec![Constraint::Length(label_width as u16 + 1)];
        widths.extend((1..columns).map(|_| Constraint::Length(11)));
        let rows = self.rows.iter().map(|(cells, style)| {
            let mut cells: Vec<Line> = cells.iter().map(|c| Line::from(c.as_str())).collect();
            for cell in cells.iter_mut().skip(1) {
                *cell = std::mem::take(cell).right_aligned();
            }
            Row::new(cells).style(*style)
        });
        let mut table = Table::new(rows, widths)
            .block(Block::bordered().title(self.title.clone()))
            .column_spacing(1);
        if !self.header.is_empty() {
            let mut header = vec![Line::from("")];
            header.extend(
                self.header
                    .iter()
                    .map(|h| Line::from(h.as_str()).right_aligned()),
            );
            table =
                table.header(Row::new(header).style(Style::default().add_modifier(Modifier::BOLD)));
        }
        Widget::render(table, area, buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn screen_text(terminal: &Terminal<TestBackend>) -> String {
        let buffer = terminal.backend().buffer();
        let area = buffer.area;
        (0..area.height)
            .map(|y| {
                (0..area.width)
                    .map(|x| buffer[(x, y)].symbol().to_owned())
                    .collect::<String>()
                    + "\n"
            })
            .collect()
    }

    #[test]
    fn chart_and_figures_draw_their_labels() {
        let mut terminal = Terminal::new(TestBackend::new(80, 20)).unwrap();
        let series =
            Series::from_pairs((0..100).map(|i| (f64::from(i), f64::from(i) * 1024.0 * 1024.0)));
        let chart = MemoryChart::new("anon")
            .series("anon", Color::Cyan, thin(&series, 50))
            .line("trend", Color::Yellow, (0.0, 0.0), (99.0, 99.0 * 1048576.0));
        let figures = Figures::new("Memory", &["now", "peak"])
            .row("RSS", &["1.0 MiB".into(), "2.0 MiB".into()]);
        terminal
            .draw(|frame| {
                let [left, right] = ratatui::layout::Layout::horizontal([
                    Constraint::Length(30),
                    Constraint::Min(10),
                ])
                .areas(frame.area());
                frame.render_widget(&figures, left);
                frame.render_widget(&chart, right);
            })
            .unwrap();
        let text = screen_text(&terminal);
        assert!(text.contains("Memory"));
        assert!(text.contains("RSS"));
        assert!(text.contains("1.0 MiB"));
        assert!(text.contains("99 s"), "{text}");
        assert!(
            text.contains("108.9 MiB"),
            "y axis tops at 110 % of the peak: {text}"
        );
        assert_eq!(thin(&series, 10).len(), 10);
    }
}
