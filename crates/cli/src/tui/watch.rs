//! The `watch` screen: verdict at the top, figures on the left, anonymous
//! memory (and RSS, PSS) over time with the trend line on the right.

use heapwise_series::Series;
use heapwise_watch::{History, LimitSource, PssState, Snapshot, TrendBasis, WatchVerdict};
use heapwise_words as words;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::widgets::{Figures, MemoryChart, thin};

/// Draws the whole screen. `note` is a line for the footer (where the
/// launched program's output goes, for instance).
pub fn draw(frame: &mut Frame, snapshot: &Snapshot, history: &History, note: Option<&str>) {
    let [top, middle, footer] = Layout::vertical([
        Constraint::Length(5),
        Constraint::Min(8),
        Constraint::Length(2),
    ])
    .areas(frame.area());
    draw_verdict(frame, top, snapshot);
    let [left, right] =
        Layout::horizontal([Constraint::Length(40), Constraint::Min(20)]).areas(middle);
    frame.render_widget(&figures(snapshot), left);
    frame.render_widget(&chart(snapshot, history, right.width), right);
    let mut lines = vec![Line::from(format!(
        "{} samples every {} · {} · q quits the view (the process keeps running)",
        snapshot.sample_count,
        words::duration(snapshot.interval_s),
        pss_words(snapshot)
    ))];
    if let Some(note) = note {
        lines.push(Line::from(note.to_owned()));
    }
    frame.render_widget(
        Paragraph::new(lines).style(Style::default().fg(Color::Gray)),
        footer,
    );
}

fn draw_verdict(frame: &mut Frame, area: Rect, s: &Snapshot) {
    let v = &s.verdict;
    let (word, color) = if v.leak {
        ("LEAK", Color::Red)
    } else if v.whole_watch.enough_data {
        ("no leak", Color::Green)
    } else {
        ("judging…", Color::Yellow)
    };
    let children = if s.children { " + children" } else { "" };
    let title = format!(" heapwise watch · PID {}{children} · {} ", s.pid, s.command);
    let headline = Line::from(vec![
        Span::styled(
            word,
            Style::default().fg(color).add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(
            " · pattern {} · slope {} · time to limit {} · confidence {} ({:.2})",
            v.pattern,
            words::mb_per_hour(v.slope_bytes_per_s),
            time_to_limit(v),
            v.confidence_level.as_str(),
            v.confidence
        )),
    ]);
    let note = Line::styled(v.confidence_note.clone(), Style::default().fg(Color::Gray));
    let paragraph = Paragraph::new(vec![headline, Line::from(v.reason.clone()), note])
        .wrap(Wrap { trim: true })
        .block(Block::bordered().title(title));
    frame.render_widget(paragraph, area);
}

fn time_to_limit(v: &WatchVerdict) -> String {
    let limit = match (v.limit_bytes, v.limit_source) {
        (Some(l), Some(LimitSource::Cgroup)) => format!("cgroup limit {}", words::bytes(l)),
        (Some(l), _) => format!("MemTotal {}", words::bytes(l)),
        (None, _) => "no limit".to_owned(),
    };
    match v.time_to_limit_s {
        Some(eta) => format!("{} ({limit})", words::duration(eta)),
        None => format!("— ({limit})"),
    }
}

fn figures(s: &Snapshot) -> Figures {
    let latest = s.latest.as_ref();
    let now =
        |f: fn(&heapwise_watch::Sample) -> Option<u64>| words::bytes_or_unknown(latest.and_then(f));
    let mut table = Figures::new("Memory", &["now", "peak"])
        .row(
            "RSS",
            &[now(|l| Some(l.rss_bytes)), words::bytes(s.peak.rss_bytes)],
        )
        .row_styled(
            "anon",
            &[now(|l| Some(l.anon_bytes)), words::bytes(s.peak.anon_bytes)],
            Style::default().fg(Color::Cyan),
        )
        .row(
            "PSS",
            &[
                words::bytes_or_unknown(s.pss.last_bytes),
                words::bytes_or_unknown(s.peak.pss_bytes),
            ],
        )
        .row(
            "swap",
            &[
                now(|l| l.swap_bytes),
                words::bytes_or_unknown(s.peak.swap_bytes),
            ],
        )
        .row("file", &[now(|l| l.file_bytes), String::new()])
        .row(
            "VmHWM",
            &[String::new(), words::bytes_or_unknown(s.peak.hwm_bytes)],
        );
    if let Some(cg) = latest.and_then(|l| l.cgroup.as_ref()) {
        table = table
            .row(
                "cgroup",
                &[words::bytes_or_unknown(cg.current_bytes), String::new()],
            )
            .row(
                "limit",
                &[
                    cg.limit_bytes.map_or_else(|| "none".into(), words::bytes),
                    String::new(),
                ],
            );
    }
    let kills = s
        .oom_seen
        .oom_kill
        .map_or_else(|| "?".to_owned(), |n| n.to_string());
    let style = if s.oom_seen.oom_kill.is_some_and(|n| n > 0) {
        Style::default().fg(Color::Red)
    } else {
        Style::default()
    };
    table.row_styled("OOM kills", &[kills, String::new()], style)
}

fn chart(s: &Snapshot, history: &History, width: u16) -> MemoryChart {
    let points = usize::from(width.saturating_sub(12)).max(10) * 2;
    let samples = history.samples();
    let rss = Series::from_pairs(samples.iter().map(|x| (x.t_s, x.rss_bytes as f64)));
    let pss = Series::from_pairs(
        samples
            .iter()
            .filter_map(|x| Some((x.t_s, x.pss_bytes? as f64))),
    );
    let title = format!(
        " anonymous memory over {} (RSS grey, PSS blue, trend yellow) ",
        words::duration(s.duration_s)
    );
    let mut chart = MemoryChart::new(title).series("RSS", Color::DarkGray, thin(&rss, points));
    if !pss.is_empty() {
        chart = chart.series("PSS", Color::Blue, thin(&pss, points));
    }
    chart = chart.series("anon", Color::Cyan, thin(history.anon(), points));
    if let Some((from, to)) = trend_line(&s.verdict, history) {
        chart = chart.line("trend", Color::Yellow, from, to);
    }
    chart
}

/// The verdict's slope drawn through the samples: through the median of
/// `value − slope·t` (the Theil–Sen intercept for that slope), or through
/// their 10th percentile when the slope describes a sawtooth's floor.
/// For display only.
fn trend_line(v: &WatchVerdict, history: &History) -> Option<((f64, f64), (f64, f64))> {
    let slope = v.slope_bytes_per_s?;
    let series = history.anon();
    let (t0, t1) = (*series.times().first()?, *series.times().last()?);
    let mut offsets: Vec<f64> = series
        .times()
        .iter()
        .zip(series.values())
        .map(|(t, x)| x - slope * t)
        .collect();
    offsets.sort_by(f64::total_cmp);
    let at = match v.trend_basis {
        TrendBasis::Series => offsets.len() / 2,
        TrendBasis::LowerEnvelope => offsets.len() / 10,
    };
    let intercept = *offsets.get(at)?;
    Some(((t0, intercept + slope * t0), (t1, intercept + slope * t1)))
}

fn pss_words(s: &Snapshot) -> String {
    match s.pss.state {
        PssState::Sampled => "PSS sampled".to_owned(),
        PssState::Off => "PSS off".to_owned(),
        _ => format!(
            "PSS not read: {}",
            s.pss.reason.as_deref().unwrap_or("unknown reason")
        ),
    }
}
