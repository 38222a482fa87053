//! The geometry of the page's chart of memory over time: where each point,
//! grid line and tick goes in the SVG, computed here so the template only
//! lays the elements out. Coordinates come as the strings the SVG carries
//! (one decimal); byte labels are written by the caller's `bytes` function.

use heapwise_native::model::TimelinePoint;

const WIDTH: f64 = 800.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 40.0;

/// Live bytes and RSS over time: two polylines, one point per timeline
/// point (per RSS sample for RSS), on a grid of round byte sizes and
/// seconds.
pub struct Chart {
    pub width: f64,
    pub height: f64,
    /// The plot area: the axes' positions.
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
    /// Horizontal grid lines, one per round byte size, from 0 up.
    pub byte_ticks: Vec<ByteTick>,
    /// Ticks on the time axis, one per round number of seconds, from 0 up.
    pub time_ticks: Vec<TimeTick>,
    /// Where the time ticks end below the axis, and their labels' baseline.
    pub time_tick_end: String,
    pub time_label_y: String,
    /// Where the time axis's title goes.
    pub axis_title_x: String,
    pub axis_title_y: String,
    /// RSS, when it was sampled: drawn first, under the live heap.
    pub rss: Option<Line>,
    pub live: Line,
    /// The largest live heap and RSS, in bytes.
    pub live_max: u64,
    pub rss_max: Option<u64>,
}

/// A grid line at a round byte size, labelled at the left.
pub struct ByteTick {
    pub y: String,
    pub label_x: String,
    pub label_y: String,
    pub label: String,
}

/// A tick on the time axis, labelled below it.
pub struct TimeTick {
    pub x: String,
    pub label: String,
}

/// One line of the chart.
pub struct Line {
    /// The CSS class that colours it (`live`, `rss`) and its tooltip.
    pub class: &'static str,
    pub title: &'static str,
    /// `x,y` pairs separated by spaces, as `<polyline points>` takes them.
    pub points: String,
    /// A lone point is drawn as a dot too: its centre.
    pub dot: Option<(String, String)>,
}

impl Chart {
    /// The chart of `timeline`, or `None` when it is empty (nothing was
    /// recorded over time). `bytes` writes the byte axis's labels.
    pub fn new(timeline: &[TimelinePoint], bytes: impl Fn(u64) -> String) -> Option<Chart> {
        if timeline.is_empty() {
            return None;
        }
        let t_max = timeline.iter().map(|p| finite(p.t_s)).fold(0.0, f64::max);
        let t_span = if t_max > 0.0 { t_max } else { 1.0 };
        let live_max = timeline.iter().map(|p| p.live_bytes).max().unwrap_or(0);
        let rss_max = timeline.iter().filter_map(|p| p.rss_bytes).max();
        let y_max = live_max.max(rss_max.unwrap_or(0));
        let y_step = byte_step(y_max);
        let y_top = y_max.div_ceil(y_step).max(1).saturating_mul(y_step);
        let (left, top) = (LEFT, TOP);
        let right = WIDTH - RIGHT;
        let bottom = HEIGHT - BOTTOM;
        let x = |t: f64| left + finite(t).clamp(0.0, t_span) / t_span * (right - left);
        let y = |bytes: u64| bottom - bytes as f64 / y_top as f64 * (bottom - top);

        let mut byte_ticks = Vec::new();
        let mut tick: u64 = 0;
        while tick <= y_top {
            byte_ticks.push(ByteTick {
                y: one_decimal(y(tick)),
                label_x: one_decimal(left - 6.0),
                label_y: one_decimal(y(tick) + 4.0),
                label: bytes(tick),
            });
            let Some(next) = tick.checked_add(y_step) else {
                break;
            };
            tick = next;
        }
        let (t_step, decimals) = seconds_step(t_span);
        let time_ticks = (0..=(t_span / t_step + 1e-9).floor() as usize)
            .map(|i| {
                let t = i as f64 * t_step;
                TimeTick {
                    x: one_decimal(x(t)),
                    label: format!("{t:.decimals$} s"),
                }
            })
            .collect();
        let rss = rss_max.map(|_| {
            let points = timeline
                .iter()
                .filter_map(|p| Some((x(p.t_s), y(p.rss_bytes?))));
            Line::new("rss", "RSS", points)
        });
        let live = timeline.iter().map(|p| (x(p.t_s), y(p.live_bytes)));
        Some(Chart {
            width: WIDTH,
            height: HEIGHT,
            left,
            right,
            top,
            bottom,
            byte_ticks,
            time_ticks,
            time_tick_end: one_decimal(bottom + 4.0),
            time_label_y: one_decimal(bottom + 16.0),
            axis_title_x: one_decimal((left + right) / 2.0),
            axis_title_y: one_decimal(HEIGHT - 4.0),
            rss,
            live: Line::new("live", "live heap", live),
            live_max,
            rss_max,
        })
    }
}

impl Chart {
    /// The lines in the order they are drawn: RSS under the live heap.
    pub fn lines(&self) -> impl Iterator<Item = &Line> {
        self.rss.iter().chain(std::iter::once(&self.live))
    }
}

impl Line {
    fn new(
        class: &'static str,
        title: &'static str,
        points: impl Iterator<Item = (f64, f64)>,
    ) -> Line {
        let points: Vec<String> = points
            .map(|(x, y)| format!("{},{}", one_decimal(x), one_decimal(y)))
            .collect();
        let dot = match &points[..] {
            [only] => only
                .split_once(',')
                .map(|(x, y)| (x.to_string(), y.to_string())),
            _ => None,
        };
        Line {
            class,
            title,
            points: points.join(" "),
            dot,
        }
    }
}

fn one_decimal(value: f64) -> String {
    format!("{value:.1}")
}

/// A round step for about four intervals up to `max` bytes: 1, 2, 5, 10,
/// 20, 50, 100, 200 or 500 of a binary unit, or one unit more.
fn byte_step(max: u64) -> u64 {
    let raw = (max / 4).max(1);
    let mut unit: u64 = 1;
    while unit <= u64::MAX / 1024 && unit * 1024 <= raw {
        unit *= 1024;
    }
    let mantissa = raw.div_ceil(unit);
    let nice = [1, 2, 5, 10, 20, 50, 100, 200, 500]
        .into_iter()
        .find(|&n| n >= mantissa)
        .unwrap_or(1024);
    unit.saturating_mul(nice)
}

/// A round step of 1, 2 or 5 times a power of ten for about five intervals
/// up to `max` seconds, and how many decimals its labels need.
fn seconds_step(max: f64) -> (f64, usize) {
    let raw = (max / 5.0).max(1e-6);
    let power = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|&s| s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * power);
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    (step, decimals)
}

fn finite(t: f64) -> f64 {
    if t.is_finite() { t } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_steps_are_round() {
        assert_eq!(byte_step(0), 1);
        assert_eq!(byte_step(10_000), 5 * 1024);
        assert_eq!(byte_step(4 << 20), 1 << 20);
        assert_eq!(byte_step(3_900_000), 1 << 20);
        assert_eq!(byte_step(u64::MAX), 5 << 60);
        assert_eq!(seconds_step(10.0), (2.0, 0));
        assert_eq!(seconds_step(12.0), (5.0, 0));
        let (step, decimals) = seconds_step(0.3);
        assert!((step - 0.1).abs() < 1e-12 && decimals == 1);
    }
}
