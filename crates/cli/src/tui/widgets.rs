//! Widgets of the live views: a memory chart with a trend line and a
//! table of figures, and thinning a series to what a chart can show.

use heapwise_words as words;

use heapwise_series::{Aggregate, Series, downsample};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Chart, Dataset, GraphType, LegendPosition, Row, Table, Widget,
};

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
