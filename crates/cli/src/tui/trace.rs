//! The live view of a trace being written: `heapwise run` on a terminal and
//! `heapwise report --follow` on a terminal. Refreshed about once a second:
//! live and peak bytes, RSS, allocation and free rates, the leak rate, the
//! pattern so far, live bytes and RSS over time, the growing call stacks,
//! and (under `run`) the program's latest output.

use heapwise_words as words;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use heapwise_native::Analysis;
use heapwise_native::follow::{Follower, LiveSnapshot, LiveStack};
use heapwise_series::Series;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Row, Table, Wrap};

use super::widgets::{Figures, MemoryChart, thin};
use crate::cmd::symbols::TraceSymbolizer;

/// Call stacks shown, and how many of the largest holders are judged to
/// find them (each judgement is a series analysis).
const SHOWN_STACKS: usize = 8;
const JUDGED_STACKS: usize = 40;

/// A trace followed for the view; opened once its header is written.
pub struct LiveTrace {
    path: PathBuf,
    follower: Option<Follower>,
    symbolizer: Option<TraceSymbolizer>,
    /// The latest snapshot, kept for redraws between refreshes.
    pub snapshot: Option<LiveSnapshot>,
    /// Why the trace cannot be read, if it cannot.
    pub problem: Option<String>,
}

impl LiveTrace {
    /// Follows `path`, which may not exist yet.
    pub fn new(path: &Path) -> LiveTrace {
        LiveTrace {
            path: path.to_path_buf(),
            follower: None,
            symbolizer: None,
            snapshot: None,
            problem: None,
        }
    }

    /// An already opened follower.
    pub fn with(path: &Path, follower: Follower) -> LiveTrace {
        let mut live = LiveTrace::new(path);
        live.symbolizer = Some(TraceSymbolizer::new(&follower.analysis));
        live.follower = Some(follower);
        live
    }

    /// Reads what was written since the last call and takes a new snapshot.
    /// Returns whether anything new was read.
    pub fn refresh(&mut self) -> bool {
        if self.follower.is_none() {
            match Follower::open(&self.path) {
                Ok(follower) => {
                    self.symbolizer = Some(TraceSymbolizer::new(&follower.analysis));
                    self.follower = Some(follower);
                    self.problem = None;
                }
                // Not there yet, or its header is still being written.
                Err(err) => {
                    self.problem = Some(err.to_string());
                    return false;
                }
            }
        }
        let (Some(follower), Some(symbolizer)) = (&mut self.follower, &mut self.symbolizer) else {
            return false;
        };
        let news = match follower.poll() {
            Ok(news) => news,
            Err(err) => {
                self.problem = Some(err.to_string());
                false
            }
        };
        self.snapshot = Some(follower.snapshot(SHOWN_STACKS, JUDGED_STACKS, symbolizer));
        news
    }

    /// Whether the traced program recorded its end.
    pub fn ended(&self) -> bool {
        self.follower.as_ref().is_some_and(Follower::ended)
    }

    /// Everything read, with what waited for the next writer pass replayed.
    pub fn into_analysis(self) -> Option<Analysis> {
        let mut follower = self.follower?;
        follower.finish();
        Some(follower.analysis)
    }
}

/// What surrounds the figures: which command, whose output, which keys.
pub struct ViewContext<'a> {
    /// `heapwise run` or `heapwise report --follow`.
    pub title: &'a str,
    /// The traced command line.
    pub command: &'a str,
    /// Its process id.
    pub pid: u32,
    /// The program's latest output lines (under `run`).
    pub output: Option<Vec<String>>,
    /// The bottom line: the keys.
    pub keys: &'a str,
    /// When the view started (shown until the trace has data).
    pub started: Instant,
    /// The view started with the program: its running time is the time
    /// since then (the trace's own time stands still while it is idle).
    pub started_with_program: bool,
}

/// Draws the whole view.
pub fn draw(frame: &mut Frame, live: &LiveTrace, context: &ViewContext) {
    let output_height = match &context.output {
        Some(_) => (frame.area().height / 5).clamp(3, 12),
        None => 0,
    };
    let stacks_height = (SHOWN_STACKS as u16 + 3)
        .min(frame.area().height / 3)
        .max(4);
    let [top, middle, stacks, output, footer] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Min(8),
        Constraint::Length(stacks_height),
        Constraint::Length(output_height),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let title = format!(
        " {} · PID {} · {} ",
        context.title, context.pid, context.command
    );
    match &live.snapshot {
        Some(snapshot) => {
            let running_s = if context.started_with_program && snapshot.exit.is_none() {
                snapshot
                    .duration_s
                    .max(context.started.elapsed().as_secs_f64())
            } else {
                snapshot.duration_s
            };
            draw_headline(frame, top, snapshot, &title, running_s);
            let [left, right] =
                Layout::horizontal([Constraint::Length(42), Constraint::Min(20)]).areas(middle);
            frame.render_widget(&figures(snapshot), left);
            frame.render_widget(&chart(snapshot, right.width), right);
            draw_stacks(frame, stacks, &snapshot.growing);
        }
        None => {
            let mut waiting = format!(
                "waiting for the trace {} ({})",
                live.path.display(),
                words::duration(context.started.elapsed().as_secs_f64())
            );
            // The preload writes the header within moments of the start: an
            // error that lasts is worth showing.
            if let Some(problem) = live
                .problem
                .as_ref()
                .filter(|_| context.started.elapsed() > Duration::from_secs(3))
            {
                waiting = format!("{waiting}: {problem}");
            }
            frame.render_widget(
                Paragraph::new(waiting).block(Block::bordered().title(title)),
                top,
            );
        }
    }
    if let Some(lines) = &context.output {
        let shown = usize::from(output_height.saturating_sub(2));
        let skip = lines.len().saturating_sub(shown);
        let text: Vec<Line> = lines[skip..]
            .iter()
            .map(|l| Line::from(l.as_str()))
            .collect();
        frame.render_widget(
            Paragraph::new(text).block(Block::bordered().title(" the program's output (latest) ")),
            output,
        );
    }
    frame.render_widget(
        Paragraph::new(context.keys).style(Style::default().fg(Color::Gray)),
        footer,
    );
}

fn rate(bytes_per_s: Option<f64>) -> String {
    bytes_per_s.map_or_else(|| "—".to_owned(), words::rate)
}

fn draw_headline(frame: &mut Frame, area: Rect, s: &LiveSnapshot, title: &str, running_s: f64) {
    let v = &s.live;
    let (word, color) = if v.leak {
        ("LEAK", Color::Red)
    } else if s.fragmentation.is_some() {
        ("RSS grows, live heap does not", Color::Yellow)
    } else if v.enough_data {
        ("no leak so far", Color::Green)
    } else {
        ("judging…", Color::Yellow)
    };
    let state = s.exit.map_or_else(
        || "running".to_owned(),
        |e| heapwise_native::model::ended(e).label(),
    );
    let title = format!("{title}· {} · {state} ", words::duration(running_s));
    let leak_rate = if v.leak {
        format!(" · leak rate {}", rate(v.slope_bytes_per_s))
    } else {
        String::new()
    };
    let headline = Line::from(vec![
        Span::styled(
            word,
            Style::default().fg(color).add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(
            " · live heap {} · pattern {}{leak_rate} · trend {}",
            words::bytes(s.live_bytes),
            v.pattern,
            rate(v.slope_bytes_per_s),
        )),
    ]);
    let reason = match &s.fragmentation {
        Some(f) => f.finding.clone(),
        None => v.reason.clone(),
    };
    frame.render_widget(
        Paragraph::new(vec![headline, Line::from(reason)])
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title(title)),
        area,
    );
}

fn figures(s: &LiveSnapshot) -> Figures {
    let bytes = |b: Option<u64>| b.map_or_else(|| "—".to_owned(), words::bytes);
    let mut table = Figures::new(" Memory ", &["now", "peak"])
        .row_styled(
            "live heap",
            &[words::bytes(s.live_bytes), words::bytes(s.peak_live_bytes)],
            Style::default().fg(Color::Cyan),
        )
        .row("RSS", &[bytes(s.rss_bytes), bytes(s.rss_peak_bytes)])
        .row("allocator heap", &[bytes(s.heap_bytes), String::new()])
        .row(
            "live blocks",
            &[words::thousands(s.live_allocations), String::new()],
        )
        .row(
            "allocations/s",
            &[
                words::thousands(s.allocations_per_s.round() as u64),
                String::new(),
            ],
        )
        .row(
            "frees/s",
            &[
                words::thousands(s.frees_per_s.round() as u64),
                String::new(),
            ],
        )
        .row(
            "allocations",
            &[words::thousands(s.allocations), String::new()],
        )
        .row("peak at", &[String::new(), words::duration(s.peak_t_s)]);
    if s.lost_events > 0 {
        table = table.row_styled(
            "lost events",
            &[words::thousands(s.lost_events), String::new()],
            Style::default().fg(Color::Red),
        );
    }
    table
}

fn chart(s: &LiveSnapshot, width: u16) -> MemoryChart {
    let points = usize::from(width.saturating_sub(12)).max(10) * 2;
    let live = Series::from_pairs(s.timeline.iter().map(|p| (p.t_s, p.live_bytes as f64)));
    let rss = Series::from_pairs(
        s.timeline
            .iter()
            .filter_map(|p| Some((p.t_s, p.rss_bytes? as f64))),
    );
    let title = format!(
        " live heap (cyan) and RSS (grey) over {} ",
        words::duration(s.duration_s)
    );
    let mut chart = MemoryChart::new(title);
    if !rss.is_empty() {
        chart = chart.series("RSS", Color::DarkGray, thin(&rss, points));
    }
    chart.series("live heap", Color::Cyan, thin(&live, points))
}

fn draw_stacks(frame: &mut Frame, area: Rect, stacks: &[LiveStack]) {
    let header = Row::new(["live", "blocks", "trend", "pattern", "", "allocated at"])
        .style(Style::default().add_modifier(Modifier::BOLD));
    let rows = stacks.iter().map(|s| {
        let place: Vec<String> = s.frames.iter().take(3).map(|f| f.text().place()).collect();
        let style = if s.verdict.leak {
            Style::default().fg(Color::Red)
        } else {
            Style::default()
        };
        Row::new([
            words::bytes(s.live_bytes),
            words::thousands(s.live_allocations),
            rate(s.verdict.slope_bytes_per_s),
            s.verdict.pattern.to_string(),
            if s.verdict.leak { "leak" } else { "" }.to_owned(),
            place.join("  <-  "),
        ])
        .style(style)
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(10),
            Constraint::Length(9),
            Constraint::Length(12),
            Constraint::Length(9),
            Constraint::Length(4),
            Constraint::Min(20),
        ],
    )
    .header(header)
    .block(Block::bordered().title(" call stacks holding the most, most suspicious first "));
    frame.render_widget(table, area);
}
