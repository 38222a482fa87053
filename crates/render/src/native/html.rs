//! The report as one self-contained HTML page: the verdict first, then the
//! figures, a chart of memory over time, and every section of the text
//! report with the full call stacks one click away.
//!
//! The page has no external resources (no fonts, no stylesheets, no
//! scripts to fetch) and reads fully without JavaScript; one line of script
//! only opens the collapsed call stacks before printing. Everything taken
//! from the report is escaped: C++ names are full of `<`, `>` and `&`.

use std::fmt::Write as _;
use std::io::{self, Write};

use heapwise_native::model::{Exit, Frame, Leak, NativeReport, TimelinePoint};
use heapwise_series::Verdict;

use super::frame_label;
use super::text::{describe_frame, thousands};
use crate::output::{human_bytes, human_bytes_signed};

/// Leak groups of the program listed (the rest are counted).
const MAX_LEAKS: usize = 100;
/// Growing call stacks listed.
const MAX_GROWING: usize = 20;
/// Frames named in a growing stack's one-line summary.
const TOP_FRAMES: usize = 3;

const CHART_WIDTH: f64 = 800.0;
const CHART_HEIGHT: f64 = 260.0;
const CHART_LEFT: f64 = 78.0;
const CHART_RIGHT: f64 = 16.0;
const CHART_TOP: f64 = 12.0;
const CHART_BOTTOM: f64 = 40.0;

const STYLE: &str = "\
:root{color-scheme:light}
body{font:15px/1.45 system-ui,-apple-system,\"Segoe UI\",Roboto,Helvetica,Arial,sans-serif;color:#1d1d1f;background:#fff;max-width:75rem;margin:0 auto;padding:1rem 1.5rem}
h1{font-size:1.5rem;margin:.4rem 0 .2rem}
h2{font-size:1.2rem;margin:2rem 0 .6rem;padding-bottom:.2rem;border-bottom:1px solid #ddd}
h3{font-size:1rem;margin:1.2rem 0 .4rem}
p{margin:.35rem 0}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.88em}
.muted,.exact{color:#666}
.exact{display:block;font-size:.8em}
nav{font-size:.9em;margin:.6rem 0}
nav a{margin-right:.9em;color:#1f5fbf}
.verdict{border:2px solid #888;border-radius:6px;padding:.6rem 1rem;margin:1rem 0}
.verdict.leak{border-color:#c62828;background:#fdecea}
.verdict.possible,.verdict.unknown{border-color:#b26a00;background:#fff4e0}
.verdict.none{border-color:#2e7d32;background:#e8f5e9}
.headline{font-size:1.15rem;font-weight:600}
.figures{display:flex;flex-wrap:wrap;gap:.8rem;margin:0}
.figures div{border:1px solid #ddd;border-radius:6px;padding:.5rem .9rem;min-width:10rem}
.figures dt{color:#666;font-size:.85em}
.figures dd{margin:0;font-size:1.3rem;font-weight:600}
.figures dd small{display:block;font-size:.6em;font-weight:400;color:#555}
table{border-collapse:collapse;width:100%;margin:.4rem 0}
th,td{text-align:left;vertical-align:top;padding:.25rem .5rem;border-bottom:1px solid #e5e5e5}
th{font-size:.85em;color:#555;border-bottom-color:#bbb}
.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.yes{color:#c62828;font-weight:600}
summary{cursor:pointer}
ol.stack{margin:.3rem 0 .3rem 1.6rem;padding:0}
ol.stack li{white-space:pre-wrap;overflow-wrap:anywhere}
svg.chart{display:block;width:100%;max-width:60rem;height:auto}
svg.chart text{font-family:sans-serif;font-size:11px;fill:#555}
svg.chart .grid{stroke:#e6e6e6}
svg.chart .axis{stroke:#888}
svg.chart polyline,svg.chart circle{fill:none;stroke-width:1.5;stroke-linejoin:round}
.swatch{display:inline-block;width:1.6em;vertical-align:middle;border-top:3px solid;margin-right:.3em}
.live{stroke:#1f5fbf;border-color:#1f5fbf}
.rss{stroke:#e07b00;border-color:#e07b00}
.flamegraph svg{width:100%;height:auto}
@media print{nav{display:none}body{max-width:none;font-size:10pt;padding:0}tr,.verdict,.figures,svg{break-inside:avoid}h2,h3{break-after:avoid}}
";

/// Opens every collapsed call stack before printing; the page does not
/// need it otherwise.
const SCRIPT: &str = "addEventListener(\"beforeprint\",function(){document.querySelectorAll(\"details\").forEach(function(d){d.open=true})})";

/// Writes `report` as one self-contained HTML page. `flamegraph_svg`, if
/// given, is an SVG document (as written by
/// [`flamegraph::write`](super::flamegraph::write)) embedded inline, as it
/// is: pass only SVG that heapwise wrote.
pub fn write<W: Write + ?Sized>(
    out: &mut W,
    report: &NativeReport,
    flamegraph_svg: Option<&str>,
) -> io::Result<()> {
    let command = if report.process.command.is_empty() {
        "?".to_string()
    } else {
        report.process.command.join(" ")
    };
    writeln!(
        out,
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>heapwise report: {title}</title>
<style>
{STYLE}</style>
<script>{SCRIPT}</script>
</head>
<body>"#,
        title = escape(&command)
    )?;
    write_title(out, report, &command, flamegraph_svg.is_some())?;
    writeln!(out, "<main>")?;
    write_verdict(out, report)?;
    write_summary(out, report)?;
    write_chart(out, &report.timeline)?;
    if !report.recommendations.is_empty() {
        section(out, "recommendations", "What to do")?;
        write_list(out, &report.recommendations)?;
        writeln!(out, "</section>")?;
    }
    write_leaks(out, report)?;
    write_growth(out, report)?;
    write_peak(out, report)?;
    write_old_allocations(out, report)?;
    write_temporary(out, report)?;
    write_size_classes(out, report)?;
    if let Some(svg) = flamegraph_svg {
        // From the `<svg>` element on: an XML declaration has no place in HTML.
        let svg = svg.find("<svg").map_or(svg, |start| &svg[start..]);
        section(out, "flamegraph", "Flame graph")?;
        writeln!(
            out,
            "<div class=\"flamegraph\">\n{}\n</div>",
            svg.trim_end()
        )?;
        writeln!(out, "</section>")?;
    }
    if !report.warnings.is_empty() {
        section(out, "warnings", "Warnings")?;
        write_list(out, &report.warnings)?;
        writeln!(out, "</section>")?;
    }
    write_trace(out, report)?;
    writeln!(out, "</main>\n</body>\n</html>")
}

/// `text` with the characters that mean something in HTML replaced by
/// entities; safe in element content and in quoted attributes.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

fn ended(exit: Option<Exit>) -> String {
    match exit {
        Some(Exit::Code(code)) => format!("exited with code {code}"),
        Some(Exit::Signal(signal)) => format!("killed by signal {signal}"),
        None => "end unknown".to_string(),
    }
}

fn rate(bytes_per_s: Option<f64>) -> String {
    match bytes_per_s {
        Some(rate) if rate.is_finite() => format!("{}/s", human_bytes_signed(rate.round() as i64)),
        _ => "?".into(),
    }
}

/// A byte count for people, with the exact figure below it when rounded.
fn bytes_html(bytes: u64) -> String {
    if bytes < 1024 {
        return human_bytes(bytes);
    }
    let exact = thousands(bytes);
    format!(
        r#"{}<span class="exact">{exact} bytes</span>"#,
        human_bytes(bytes)
    )
}

fn plural(n: u64, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

fn verdict_html(verdict: &Verdict) -> String {
    let leak = if verdict.leak {
        r#", <span class="yes">leak</span>"#
    } else {
        ""
    };
    format!(
        "<b>{}</b>{leak} — {}",
        verdict.pattern,
        escape(&verdict.reason)
    )
}

/// Opens a section with its heading; the caller closes it.
fn section<W: Write + ?Sized>(out: &mut W, id: &str, title: &str) -> io::Result<()> {
    writeln!(out, "<section id=\"{id}\">\n<h2>{title}</h2>")
}

fn write_list<W: Write + ?Sized>(out: &mut W, items: &[String]) -> io::Result<()> {
    writeln!(out, "<ul>")?;
    for item in items {
        writeln!(out, "<li>{}</li>", escape(item))?;
    }
    writeln!(out, "</ul>")
}

fn write_title<W: Write + ?Sized>(
    out: &mut W,
    report: &NativeReport,
    command: &str,
    flamegraph: bool,
) -> io::Result<()> {
    let ended = ended(report.process.exit);
    writeln!(out, "<header>\n<h1>heapwise report</h1>")?;
    writeln!(out, "<p><code>{}</code></p>", escape(command))?;
    let (pid, duration) = (report.process.pid, report.summary.duration_s);
    writeln!(out, "<p>pid {pid}, {ended}, traced for {duration:.2} s</p>")?;
    let links = [
        ("summary", "Summary", true),
        ("memory", "Memory over time", true),
        ("leaks", "Leaks", true),
        ("growth", "Growth", true),
        ("peak", "Peak", true),
        ("old", "Old allocations", true),
        ("temporary", "Temporary", true),
        ("sizes", "Sizes", true),
        ("flamegraph", "Flame graph", flamegraph),
        ("warnings", "Warnings", !report.warnings.is_empty()),
        ("trace", "Trace", true),
    ];
    write!(out, "<nav>")?;
    for (id, name, _) in links.iter().filter(|l| l.2) {
        write!(out, r##"<a href="#{id}">{name}</a>"##)?;
    }
    writeln!(out, "</nav>\n</header>")
}

/// Leak or not, in one box: the model's verdict, whether memory keeps
/// growing, the verdicts' reasons, fragmentation.
fn write_verdict<W: Write + ?Sized>(out: &mut W, report: &NativeReport) -> io::Result<()> {
    let memory = &report.memory;
    let verdict = &report.verdict;
    writeln!(
        out,
        r#"<section class="verdict {}" id="verdict">"#,
        verdict.level.as_str()
    )?;
    writeln!(
        out,
        r#"<p class="headline">{}</p>"#,
        escape(&verdict.headline)
    )?;
    for detail in &verdict.details {
        writeln!(out, "<p>{}</p>", escape(detail))?;
    }
    writeln!(out, "<p>Live heap: {}</p>", verdict_html(&memory.live))?;
    if let Some(rss) = &memory.rss {
        writeln!(out, "<p>RSS: {}</p>", verdict_html(rss))?;
    }
    if let Some(leak_rate) = memory.leak_rate_bytes_per_s {
        writeln!(out, "<p>Leak rate: <b>{}</b></p>", rate(Some(leak_rate)))?;
    }
    if let Some(f) = &memory.fragmentation {
        let heap = f
            .heap_growth_bytes
            .map(|h| format!(", the allocator's heap {}", human_bytes_signed(h)))
            .unwrap_or_default();
        writeln!(
            out,
            "<p><b>{}</b> ({}): RSS {} while the live heap changed {}{heap}</p>",
            escape(&f.finding),
            escape(f.kind),
            human_bytes_signed(f.rss_growth_bytes),
            human_bytes_signed(f.live_growth_bytes),
        )?;
        if !f.advice.is_empty() {
            write_list(out, &f.advice)?;
        }
    }
    if !report.warnings.is_empty() {
        let n = report.warnings.len() as u64;
        writeln!(
            out,
            r##"<p class="muted">{} {} about the trace: see <a href="#warnings">Warnings</a>.</p>"##,
            thousands(n),
            plural(n, "warning", "warnings")
        )?;
    }
    writeln!(out, "</section>")
}

fn write_summary<W: Write + ?Sized>(out: &mut W, report: &NativeReport) -> io::Result<()> {
    let s = &report.summary;
    let threads = report.trace.threads;
    let figures = [
        (
            "allocated",
            human_bytes(s.allocated_bytes),
            format!("in {} allocations", thousands(s.allocations)),
        ),
        ("freed", thousands(s.frees), "frees".to_string()),
        (
            "peak",
            human_bytes(s.peak_live_bytes),
            format!("live, at {:.2} s", s.peak_t_s),
        ),
        (
            "leaked",
            human_bytes(s.leaked_bytes),
            format!(
                "{} bytes in {} blocks still allocated at the end",
                thousands(s.leaked_bytes),
                thousands(s.leaked_allocations)
            ),
        ),
        (
            "duration",
            format!("{:.2} s", s.duration_s),
            format!(
                "{} {}",
                thousands(threads),
                plural(threads, "thread", "threads")
            ),
        ),
    ];
    section(out, "summary", "Summary")?;
    writeln!(out, r#"<dl class="figures">"#)?;
    for (name, value, detail) in figures {
        writeln!(
            out,
            "<div><dt>{name}</dt><dd>{value}<small>{detail}</small></dd></div>"
        )?;
    }
    writeln!(out, "</dl>\n</section>")
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

/// Live bytes and RSS over time: an inline SVG with two polylines, one
/// point per timeline point (per RSS sample for RSS).
fn write_chart<W: Write + ?Sized>(out: &mut W, timeline: &[TimelinePoint]) -> io::Result<()> {
    section(out, "memory", "Memory over time")?;
    if timeline.is_empty() {
        return writeln!(
            out,
            "<p>No timeline: the trace recorded nothing over time.</p>\n</section>"
        );
    }
    let t_max = timeline.iter().map(|p| finite(p.t_s)).fold(0.0, f64::max);
    let t_span = if t_max > 0.0 { t_max } else { 1.0 };
    let live_max = timeline.iter().map(|p| p.live_bytes).max().unwrap_or(0);
    let rss_max = timeline.iter().filter_map(|p| p.rss_bytes).max();
    let y_max = live_max.max(rss_max.unwrap_or(0));
    let y_step = byte_step(y_max);
    let y_top = y_max.div_ceil(y_step).max(1).saturating_mul(y_step);
    let (left, top) = (CHART_LEFT, CHART_TOP);
    let right = CHART_WIDTH - CHART_RIGHT;
    let bottom = CHART_HEIGHT - CHART_BOTTOM;
    let x = |t: f64| left + finite(t).clamp(0.0, t_span) / t_span * (right - left);
    let y = |bytes: u64| bottom - bytes as f64 / y_top as f64 * (bottom - top);

    writeln!(
        out,
        r#"<svg class="chart" viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" role="img" aria-label="live heap and RSS over time">"#
    )?;
    let mut tick: u64 = 0;
    while tick <= y_top {
        let (ty, label) = (y(tick), human_bytes(tick));
        writeln!(
            out,
            r#"<line class="grid" x1="{left}" y1="{ty:.1}" x2="{right}" y2="{ty:.1}"/><text x="{:.1}" y="{:.1}" text-anchor="end">{label}</text>"#,
            left - 6.0,
            ty + 4.0,
        )?;
        let Some(next) = tick.checked_add(y_step) else {
            break;
        };
        tick = next;
    }
    let (t_step, decimals) = seconds_step(t_span);
    for i in 0..=(t_span / t_step + 1e-9).floor() as usize {
        let t = i as f64 * t_step;
        let tx = x(t);
        writeln!(
            out,
            r#"<line class="axis" x1="{tx:.1}" y1="{bottom}" x2="{tx:.1}" y2="{:.1}"/><text x="{tx:.1}" y="{:.1}" text-anchor="middle">{t:.decimals$} s</text>"#,
            bottom + 4.0,
            bottom + 16.0
        )?;
    }
    writeln!(
        out,
        r#"<line class="axis" x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}"/><line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{bottom}"/>
<text x="{:.1}" y="{:.1}" text-anchor="middle">seconds since the start</text>"#,
        (left + right) / 2.0,
        CHART_HEIGHT - 4.0
    )?;
    if rss_max.is_some() {
        let rss = timeline
            .iter()
            .filter_map(|p| Some((x(p.t_s), y(p.rss_bytes?))));
        write_polyline(out, "rss", "RSS", rss)?;
    }
    let live = timeline.iter().map(|p| (x(p.t_s), y(p.live_bytes)));
    write_polyline(out, "live", "live heap", live)?;
    writeln!(out, "</svg>")?;
    let live_max = human_bytes(live_max);
    write!(
        out,
        r#"<p><span class="swatch live"></span>live heap, max {live_max} &nbsp; "#
    )?;
    match rss_max {
        Some(max) => write!(
            out,
            r#"<span class="swatch rss"></span>RSS, max {}"#,
            human_bytes(max)
        )?,
        None => write!(out, r#"<span class="muted">RSS was not sampled</span>"#)?,
    }
    writeln!(out, "</p>\n</section>")
}

/// One line of the chart; a lone point is drawn as a dot.
fn write_polyline<W: Write + ?Sized>(
    out: &mut W,
    class: &str,
    title: &str,
    points: impl Iterator<Item = (f64, f64)>,
) -> io::Result<()> {
    let (mut list, mut count, mut last) = (String::new(), 0, (0.0, 0.0));
    for (x, y) in points {
        let _ = write!(list, "{}{x:.1},{y:.1}", if count == 0 { "" } else { " " });
        (count, last) = (count + 1, (x, y));
    }
    writeln!(
        out,
        r#"<polyline class="{class}" points="{list}"><title>{title}</title></polyline>"#
    )?;
    if count == 1 {
        let (x, y) = last;
        writeln!(
            out,
            r#"<circle class="{class}" cx="{x:.1}" cy="{y:.1}" r="3"/>"#
        )?;
    }
    Ok(())
}

/// A table cell with a call stack: `summary` (the top frame by default)
/// that opens onto every frame, one per line with file:line, after `note`.
fn write_stack_cell<W: Write + ?Sized>(
    out: &mut W,
    frames: &[Frame],
    summary: Option<String>,
    note: Option<&str>,
) -> io::Result<()> {
    let Some(first) = frames.first() else {
        return write!(out, r#"<td class="muted">no call stack</td>"#);
    };
    let summary = escape(&summary.unwrap_or_else(|| describe_frame(first)));
    write!(
        out,
        "<td><details><summary><code>{summary}</code></summary>"
    )?;
    if let Some(note) = note {
        write!(out, r#"<p class="muted">{}</p>"#, escape(note))?;
    }
    write!(out, r#"<ol class="stack">"#)?;
    for frame in frames {
        write!(
            out,
            "<li><code>{}</code></li>",
            escape(&describe_frame(frame))
        )?;
    }
    write!(out, "</ol></details></td>")
}

/// A table of call stacks: the `columns` of numbers (already formatted),
/// then the stack.
fn write_stack_table<'a, W: Write + ?Sized>(
    out: &mut W,
    columns: &[&str],
    rows: impl IntoIterator<Item = (Vec<String>, &'a [Frame])>,
) -> io::Result<()> {
    write!(out, "<table><thead><tr>")?;
    for column in columns {
        write!(out, r#"<th class="num">{column}</th>"#)?;
    }
    writeln!(out, "<th>allocated by</th></tr></thead><tbody>")?;
    for (cells, frames) in rows {
        write!(out, "<tr>")?;
        for cell in cells {
            write!(out, r#"<td class="num">{cell}</td>"#)?;
        }
        write_stack_cell(out, frames, None, None)?;
        writeln!(out, "</tr>")?;
    }
    writeln!(out, "</tbody></table>")
}

/// The leak groups: the program's, largest first; then what the runtime
/// holds until exit by design.
fn write_leaks<W: Write + ?Sized>(out: &mut W, report: &NativeReport) -> io::Result<()> {
    section(out, "leaks", "Leaks")?;
    if report.leaks.is_empty() {
        let none = "Nothing recorded was still allocated at the end.";
        return writeln!(out, "<p>{none}</p>\n</section>");
    }
    let (program, runtime): (Vec<&Leak>, Vec<&Leak>) =
        report.leaks.iter().partition(|l| l.note.is_none());
    if program.is_empty() {
        let none = "Of what was recorded, only blocks the runtime holds (below) were still allocated at the end.";
        writeln!(out, "<p>{none}</p>")?;
    } else {
        writeln!(
            out,
            "<p>Blocks still allocated at the end, by call stack, largest first ({} call stacks):</p>",
            thousands(program.len() as u64)
        )?;
        let rows = program.iter().take(MAX_LEAKS).enumerate().map(|(i, leak)| {
            let cells = vec![
                (i + 1).to_string(),
                bytes_html(leak.bytes),
                thousands(leak.allocations),
            ];
            (cells, &leak.frames[..])
        });
        write_stack_table(out, &["#", "bytes", "blocks"], rows)?;
        let hidden = program.len().saturating_sub(MAX_LEAKS);
        if hidden > 0 {
            let bytes: u64 = program.iter().skip(MAX_LEAKS).map(|l| l.bytes).sum();
            writeln!(
                out,
                "<p>... and {} more call stacks holding {} (see --format json)</p>",
                thousands(hidden as u64),
                human_bytes(bytes)
            )?;
        }
    }
    if !runtime.is_empty() {
        writeln!(
            out,
            "<h3>Held by the runtime until exit, by design (not leaks of the program)</h3>"
        )?;
        writeln!(
            out,
            r#"<table><thead><tr><th class="num">bytes</th><th class="num">blocks</th><th>what</th><th>allocated by</th></tr></thead><tbody>"#
        )?;
        for leak in runtime {
            write!(
                out,
                r#"<tr><td class="num">{}</td><td class="num">{}</td><td>{}</td>"#,
                bytes_html(leak.bytes),
                thousands(leak.allocations),
                escape(leak.note.unwrap_or_default())
            )?;
            write_stack_cell(out, &leak.frames, None, None)?;
            writeln!(out, "</tr>")?;
        }
        writeln!(out, "</tbody></table>")?;
    }
    writeln!(out, "</section>")
}

fn write_growth<W: Write + ?Sized>(out: &mut W, report: &NativeReport) -> io::Result<()> {
    section(out, "growth", "Growing call stacks")?;
    let growing: Vec<_> = report
        .growth
        .iter()
        .filter(|g| g.leak || g.slope_bytes_per_s.unwrap_or(0.0) > 0.0)
        .collect();
    if growing.is_empty() {
        return writeln!(out, "<p>No call stack grew over time.</p>\n</section>");
    }
    writeln!(out, "<p>Most suspicious first:</p>")?;
    writeln!(
        out,
        r#"<table><thead><tr><th>leak</th><th>pattern</th><th class="num">slope</th><th class="num">live at the end</th><th class="num">blocks</th><th>top frames</th></tr></thead><tbody>"#
    )?;
    for g in growing.iter().take(MAX_GROWING) {
        let leak = if g.leak {
            r#"<span class="yes">yes</span>"#
        } else {
            "no"
        };
        write!(
            out,
            r#"<tr><td>{leak}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td>"#,
            g.pattern,
            rate(g.slope_bytes_per_s),
            bytes_html(g.live_bytes_end),
            thousands(g.allocations_end)
        )?;
        let top: Vec<String> = g.frames.iter().take(TOP_FRAMES).map(frame_label).collect();
        write_stack_cell(
            out,
            &g.frames,
            Some(top.join(" ← ")),
            Some(&g.verdict.reason),
        )?;
        writeln!(out, "</tr>")?;
    }
    writeln!(out, "</tbody></table>\n</section>")
}

fn write_peak<W: Write + ?Sized>(out: &mut W, report: &NativeReport) -> io::Result<()> {
    let peak = &report.peak;
    section(out, "peak", "Peak")?;
    let held_by = if peak.stacks.is_empty() {
        "."
    } else {
        ", held by:"
    };
    let live = human_bytes(peak.live_bytes);
    writeln!(out, "<p>{live} live at {:.2} s{held_by}</p>", peak.t_s)?;
    if !peak.stacks.is_empty() {
        let rows = peak
            .stacks
            .iter()
            .map(|s| (vec![bytes_html(s.bytes)], &s.frames[..]));
        write_stack_table(out, &["bytes"], rows)?;
    }
    writeln!(out, "</section>")
}

fn write_old_allocations<W: Write + ?Sized>(out: &mut W, report: &NativeReport) -> io::Result<()> {
    let old = &report.old_allocations;
    section(out, "old", "Old allocations")?;
    if old.allocations == 0 {
        return writeln!(
            out,
            "<p>No block allocated more than {:.1} s before the end is still live.</p>\n</section>",
            old.min_age_s
        );
    }
    writeln!(
        out,
        "<p>{} blocks ({}) allocated more than {:.1} s before the end are still live:</p>",
        thousands(old.allocations),
        human_bytes(old.bytes),
        old.min_age_s
    )?;
    let rows = old.stacks.iter().map(|s| {
        let cells = vec![bytes_html(s.bytes), thousands(s.allocations)];
        (cells, &s.frames[..])
    });
    write_stack_table(out, &["bytes", "blocks"], rows)?;
    writeln!(out, "</section>")
}

fn write_temporary<W: Write + ?Sized>(out: &mut W, report: &NativeReport) -> io::Result<()> {
    let temporary = &report.temporary;
    section(out, "temporary", "Temporary allocations")?;
    if temporary.allocations == 0 {
        let none = "None: every block outlived its thread's next allocation.";
        return writeln!(out, "<p>{none}</p>\n</section>");
    }
    writeln!(
        out,
        "<p>Freed before the thread allocated anything else: {} ({:.1} % of all):</p>",
        thousands(temporary.allocations),
        100.0 * temporary.fraction
    )?;
    let rows = temporary
        .stacks
        .iter()
        .map(|s| (vec![thousands(s.allocations)], &s.frames[..]));
    write_stack_table(out, &["allocations"], rows)?;
    writeln!(out, "</section>")
}

fn write_size_classes<W: Write + ?Sized>(out: &mut W, report: &NativeReport) -> io::Result<()> {
    section(out, "sizes", "Allocations by size")?;
    writeln!(
        out,
        r#"<table><thead><tr><th>size</th><th class="num">allocations</th><th class="num">allocated</th><th class="num">leaked blocks</th><th class="num">leaked</th></tr></thead><tbody>"#
    )?;
    for class in &report.size_classes {
        writeln!(
            out,
            r#"<tr><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
            escape(class.name),
            thousands(class.allocations),
            human_bytes(class.allocated_bytes),
            thousands(class.leaked_allocations),
            human_bytes(class.leaked_bytes)
        )?;
    }
    writeln!(out, "</tbody></table>\n</section>")
}

fn write_trace<W: Write + ?Sized>(out: &mut W, report: &NativeReport) -> io::Result<()> {
    let trace = &report.trace;
    let truncated = if trace.truncated {
        "yes: it ends inside a block (killed, or still being written)"
    } else {
        "no"
    };
    let rows = [
        ("file", format!("<code>{}</code>", escape(&trace.path))),
        ("truncated", truncated.to_string()),
        (
            "damage",
            trace
                .damage
                .as_deref()
                .map_or_else(|| "none".to_string(), escape),
        ),
        ("lost events", thousands(trace.lost_events)),
        ("threads", thousands(trace.threads)),
        ("schema", escape(report.schema)),
    ];
    section(out, "trace", "Trace")?;
    writeln!(out, "<table><tbody>")?;
    for (name, value) in rows {
        writeln!(out, "<tr><th>{name}</th><td>{value}</td></tr>")?;
    }
    writeln!(out, "</tbody></table>")?;
    let version = env!("CARGO_PKG_VERSION");
    writeln!(
        out,
        "<p class=\"muted\">Written by heapwise {version}.</p>\n</section>"
    )
}

#[cfg(test)]
mod tests {
    use heapwise_native::model::{
        Fragmentation, Growth, MemoryOverTime, OldAllocations, Peak, Process, SizeClass,
        StackBlocks, StackBytes, StackCount, Summary, Temporary, TraceInfo,
    };
    use heapwise_native::{Profile, ProfileStack, report::memory::live_verdict, verdict};
    use heapwise_series::{Options, Series, analyze};

    use super::*;
    use crate::native::{Metric, flamegraph};

    const CPP_PUSH_BACK: &str = "std::vector<int>::push_back(int const&)";

    fn frame(function: Option<&str>, file: Option<&str>, line: Option<u32>) -> Frame {
        Frame {
            function: function.map(str::to_string),
            file: file.map(str::to_string),
            line,
            module: Some("/usr/bin/server".to_string()),
            address: "0x401136".to_string(),
            inlined: false,
        }
    }

    fn cpp_stack() -> Vec<Frame> {
        vec![
            Frame {
                inlined: true,
                ..frame(
                    Some(CPP_PUSH_BACK),
                    Some("/usr/include/c++/13/bits/stl_vector.h"),
                    Some(1283),
                )
            },
            frame(
                Some("Cache::insert(std::string const&)"),
                Some("/src/cache.cpp"),
                Some(42),
            ),
            frame(Some("main"), Some("/src/main.cpp"), Some(10)),
        ]
    }

    fn c_stack() -> Vec<Frame> {
        vec![
            frame(Some("leak_small"), None, None),
            frame(None, None, None),
        ]
    }

    /// `points` points over 10 s; the live heap grows by 1 KiB a point,
    /// RSS is sampled from the sixth point on when `rss` is set.
    fn timeline(points: usize, rss: bool) -> Vec<TimelinePoint> {
        (0..points)
            .map(|i| TimelinePoint {
                t_s: 10.0 * (i + 1) as f64 / points as f64,
                live_bytes: 1024 * i as u64,
                max_live_bytes: 1024 * i as u64 + 100,
                allocations: 3,
                allocated_bytes: 3000,
                frees: 2,
                allocated_bytes_per_s: 300.0,
                rss_bytes: (rss && i >= 5).then_some((4 << 20) + 4096 * i as u64),
                heap_bytes: None,
            })
            .collect()
    }

    fn empty_report() -> NativeReport {
        let class = |name, min_bytes, max_bytes| SizeClass {
            name,
            min_bytes,
            max_bytes,
            allocations: 0,
            allocated_bytes: 0,
            leaked_allocations: 0,
            leaked_bytes: 0,
        };
        NativeReport {
            schema: heapwise_native::model::SCHEMA,
            process: Process {
                pid: 7,
                command: Vec::new(),
                exit: None,
            },
            verdict: verdict::verdict(&verdict::Evidence::default()),
            allocator: None,
            summary: Summary::default(),
            size_classes: vec![
                class("< 1 KiB", 0, Some(1023)),
                class("1 KiB - 1 MiB", 1024, Some(1048575)),
                class("> 1 MiB", 1048576, None),
            ],
            leaks: Vec::new(),
            timeline: Vec::new(),
            growth: Vec::new(),
            memory: MemoryOverTime {
                live: live_verdict(&[]),
                rss: None,
                leak_rate_bytes_per_s: None,
                fragmentation: None,
            },
            peak: Peak {
                t_s: 0.0,
                live_bytes: 0,
                stacks: Vec::new(),
            },
            old_allocations: OldAllocations {
                min_age_s: 0.0,
                allocations: 0,
                bytes: 0,
                stacks: Vec::new(),
            },
            temporary: Temporary {
                allocations: 0,
                fraction: 0.0,
                stacks: Vec::new(),
            },
            recommendations: Vec::new(),
            trace: TraceInfo {
                path: "empty.hwt".to_string(),
                truncated: false,
                damage: None,
                lost_events: 0,
                threads: 0,
                bytes: 0,
                crash_safe: true,
                ..TraceInfo::default()
            },
            inherited: None,
            warnings: Vec::new(),
        }
    }

    /// A C++ server with a cache that grows (40,000 bytes in 10 blocks), a
    /// small C leak, and a stdio buffer the runtime keeps.
    fn leaky_report(points: usize) -> NativeReport {
        let timeline = timeline(points, true);
        let rss = Series::from_pairs(
            timeline
                .iter()
                .filter_map(|p| Some((p.t_s, p.rss_bytes? as f64))),
        );
        let live = live_verdict(&timeline);
        let stack_verdict = live_verdict(&timeline);
        let mut report = empty_report();
        report.process = Process {
            pid: 4242,
            command: vec!["./server".into(), "--port".into(), "8080".into()],
            exit: Some(Exit::Code(0)),
        };
        report.summary = Summary {
            allocations: 1_234_567,
            frees: 1_234_555,
            allocated_bytes: 98_765_432,
            peak_live_bytes: 52_224,
            peak_t_s: 9.5,
            leaked_bytes: 40_000 + 512 + 4096,
            leaked_allocations: 12,
            duration_s: 10.0,
        };
        report.size_classes[0].allocations = 1_234_000;
        report.size_classes[0].leaked_allocations = 1;
        report.size_classes[0].leaked_bytes = 512;
        report.leaks = vec![
            Leak {
                bytes: 40_000,
                allocations: 10,
                frames: cpp_stack(),
                note: None,
            },
            Leak {
                bytes: 4096,
                allocations: 1,
                frames: vec![frame(Some("_IO_file_doallocate"), None, None)],
                note: Some("the stdio buffer of a FILE stream"),
            },
            Leak {
                bytes: 512,
                allocations: 1,
                frames: c_stack(),
                note: None,
            },
        ];
        report.growth = vec![Growth {
            frames: cpp_stack(),
            pattern: stack_verdict.pattern,
            leak: stack_verdict.leak,
            slope_bytes_per_s: stack_verdict.slope_bytes_per_s,
            live_bytes_end: 40_000,
            allocations_end: 10,
            verdict: stack_verdict,
        }];
        report.memory = MemoryOverTime {
            leak_rate_bytes_per_s: live.slope_bytes_per_s,
            live,
            rss: Some(analyze(&rss, &Options::default())),
            fragmentation: Some(Fragmentation {
                kind: "fragmentation",
                finding: "RSS grew while the live heap did not".to_string(),
                rss_growth_bytes: 8 << 20,
                live_growth_bytes: -2048,
                heap_growth_bytes: Some(7 << 20),
                advice: vec!["Try MALLOC_ARENA_MAX=2 & compare <RSS>".to_string()],
            }),
        };
        report.peak = Peak {
            t_s: 9.5,
            live_bytes: 52_224,
            stacks: vec![StackBytes {
                bytes: 40_000,
                frames: cpp_stack(),
            }],
        };
        report.old_allocations = OldAllocations {
            min_age_s: 5.0,
            allocations: 4,
            bytes: 16_000,
            stacks: vec![StackBlocks {
                allocations: 4,
                bytes: 16_000,
                frames: cpp_stack(),
            }],
        };
        report.temporary = Temporary {
            allocations: 600_000,
            fraction: 0.486,
            stacks: vec![StackCount {
                allocations: 600_000,
                frames: c_stack(),
            }],
        };
        report.recommendations =
            vec!["Bound the cache filled in Cache::insert<std::string>.".to_string()];
        report.trace = TraceInfo {
            path: "server.hwt".to_string(),
            truncated: false,
            damage: None,
            lost_events: 0,
            threads: 4,
            bytes: 48_213_004,
            blocks: 31,
            crash_safe: true,
            ..TraceInfo::default()
        };
        report.warnings = vec!["module /usr/lib/libfoo.so (deleted) was not symbolized".into()];
        report.timeline = timeline;
        report
    }

    /// The flame graph of the report's leaks, as `--format flamegraph`
    /// writes it.
    fn flamegraph_of(report: &NativeReport) -> String {
        let profile = Profile {
            stacks: report
                .leaks
                .iter()
                .map(|l| ProfileStack {
                    frames: l.frames.clone(),
                    allocations: l.allocations,
                    allocated_bytes: l.bytes,
                    live_allocations: l.allocations,
                    live_bytes: l.bytes,
                })
                .collect(),
            start_realtime_ns: 0,
            executable: String::new(),
            duration_ns: 10_000_000_000,
        };
        let mut svg = Vec::new();
        flamegraph::write(&mut svg, &profile, Metric::LeakedBytes, "Leaked bytes").unwrap();
        String::from_utf8(svg).unwrap()
    }

    /// The page of `report`, its verdict decided from the fixture's figures
    /// as `heapwise_native::report` decides it.
    fn render(report: &NativeReport, flamegraph_svg: Option<&str>) -> String {
        let report = decided(report);
        let mut page = Vec::new();
        write(&mut page, &report, flamegraph_svg).unwrap();
        String::from_utf8(page).unwrap()
    }

    fn decided(report: &NativeReport) -> NativeReport {
        let mut report = report.clone();
        let held = |runtime: bool| {
            report
                .leaks
                .iter()
                .filter(|l| l.note.is_some() == runtime)
                .fold(verdict::Held::default(), |h, l| verdict::Held {
                    bytes: h.bytes + l.bytes,
                    allocations: h.allocations + l.allocations,
                })
        };
        let exit = report.process.exit.map(|e| match e {
            Exit::Code(code) => heapwise_native::ExitStatus::Code(code),
            Exit::Signal(signal) => heapwise_native::ExitStatus::Signal(signal),
        });
        report.verdict = verdict::verdict(&verdict::Evidence {
            allocations: report.summary.allocations,
            own: held(false),
            runtime: held(true),
            heap_grows: report.memory.live.leak,
            growing_stacks: report.growth.iter().filter(|g| g.leak).count() as u64,
            exit,
            missing: verdict::MissingEvidence::of(&report.trace, exit),
            allocator: None,
        });
        report
    }

    /// The points of the polyline of class `class`, if there is one.
    fn polyline_points(page: &str, class: &str) -> Option<usize> {
        let start = format!(r#"<polyline class="{class}" points=""#);
        let at = page.find(&start)? + start.len();
        let end = page[at..].find('"')?;
        Some(page[at..at + end].split_whitespace().count())
    }

    /// Every element closed in order: a small check of the page's nesting
    /// (void elements, `/>`, the doctype, comments and raw text of `<style>`
    /// and `<script>` aside).
    fn assert_balanced(page: &str) {
        const VOID: [&str; 3] = ["meta", "br", "hr"];
        let mut open: Vec<&str> = Vec::new();
        let mut rest = page;
        while let Some(at) = rest.find('<') {
            rest = &rest[at..];
            let end = rest.find('>').expect("a tag is never left open");
            let tag = &rest[1..end];
            rest = &rest[end + 1..];
            if tag.starts_with('!') || tag.starts_with('?') || tag.ends_with('/') {
                continue;
            }
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(open.pop(), Some(name), "</{name}> closes the wrong element");
                continue;
            }
            let name = tag.split_whitespace().next().unwrap();
            if VOID.contains(&name) {
                continue;
            }
            open.push(name);
            if name == "style" || name == "script" {
                let close = format!("</{name}>");
                rest = &rest[rest.find(&close).expect("raw text is closed")..];
            }
        }
        assert!(open.is_empty(), "left open: {open:?}");
    }

    #[test]
    fn page_starts_with_a_doctype_and_names_the_process() {
        let page = render(&leaky_report(50), None);
        assert!(page.starts_with("<!DOCTYPE html>\n"));
        assert!(page.contains("<title>heapwise report: ./server --port 8080</title>"));
        assert!(page.contains("<code>./server --port 8080</code>"));
        assert!(page.contains("pid 4242, exited with code 0, traced for 10.00 s"));
        assert!(page.trim_end().ends_with("</html>"));
    }

    #[test]
    fn sections_come_in_order() {
        let report = leaky_report(50);
        let page = render(&report, Some(&flamegraph_of(&report)));
        let order = [
            r#"<section class="verdict"#,
            r#"<section id="summary">"#,
            r#"<section id="memory">"#,
            r#"<section id="recommendations">"#,
            r#"<section id="leaks">"#,
            r#"<section id="growth">"#,
            r#"<section id="peak">"#,
            r#"<section id="old">"#,
            r#"<section id="temporary">"#,
            r#"<section id="sizes">"#,
            r#"<section id="flamegraph">"#,
            r#"<section id="warnings">"#,
            r#"<section id="trace">"#,
        ];
        let at: Vec<usize> = order
            .iter()
            .map(|s| page.find(s).unwrap_or_else(|| panic!("{s} missing")))
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{at:?}");
    }

    #[test]
    fn the_verdict_says_leak_with_the_pattern_rate_and_reason() {
        let report = leaky_report(50);
        let page = render(&report, None);
        let verdict = &page[page.find(r#"<section class="verdict leak""#).unwrap()..];
        let verdict = &verdict[..verdict.find("</section>").unwrap()];
        assert!(report.memory.live.leak, "{:?}", report.memory.live);
        assert!(verdict.contains("Leak: the live heap keeps growing"));
        assert!(verdict.contains(&format!("<b>{}</b>", report.memory.live.pattern)));
        assert!(verdict.contains(&escape(&report.memory.live.reason)));
        assert!(verdict.contains(&format!(
            "Leak rate: <b>{}</b>",
            rate(report.memory.leak_rate_bytes_per_s)
        )));
        assert!(verdict.contains("RSS grew while the live heap did not"));
        assert!(verdict.contains("Try MALLOC_ARENA_MAX=2 &amp; compare &lt;RSS&gt;"));
    }

    #[test]
    fn leaks_show_their_exact_bytes_the_runtimes_last() {
        let page = render(&leaky_report(50), None);
        assert!(page.contains(
            r#"<td class="num">39.1 KiB<span class="exact">40,000 bytes</span></td><td class="num">10</td>"#
        ));
        let leaks = &page[page.find(r#"<section id="leaks">"#).unwrap()..];
        let leaks = &leaks[..leaks.find("</section>").unwrap()];
        let cpp = leaks.find("Cache::insert").unwrap();
        let c = leaks.find("leak_small").unwrap();
        let runtime = leaks.find("Held by the runtime").unwrap();
        let stdio = leaks.find("the stdio buffer of a FILE stream").unwrap();
        assert!(cpp < c && c < runtime && runtime < stdio);
        assert!(leaks.contains("(2 call stacks)"));
        // The full stack, one frame per line with file:line.
        assert!(leaks.contains(
            "<li><code>Cache::insert(std::string const&amp;)  /src/cache.cpp:42</code></li>"
        ));
        assert!(leaks.contains("<li><code>main  /src/main.cpp:10</code></li>"));
        assert!(leaks.contains("<li><code>[server 0x401136]</code></li>"));
    }

    #[test]
    fn cpp_names_are_escaped_everywhere() {
        let report = leaky_report(50);
        let page = render(&report, Some(&flamegraph_of(&report)));
        assert!(page.contains(
            "std::vector&lt;int&gt;::push_back(int const&amp;) [inlined]  \
             /usr/include/c++/13/bits/stl_vector.h:1283"
        ));
        assert!(!page.contains("std::vector<int>"));
        assert!(page.contains("Cache::insert&lt;std::string&gt;"));
        assert!(!page.contains("insert<std::string>"));
        assert_balanced(&page);
    }

    #[test]
    fn the_chart_has_one_point_per_timeline_point() {
        let report = leaky_report(50);
        let page = render(&report, None);
        assert_eq!(page.matches("<svg").count(), 1);
        assert_eq!(polyline_points(&page, "live"), Some(50));
        assert_eq!(polyline_points(&page, "rss"), Some(45));
        // Axes labelled with byte sizes and seconds.
        assert!(page.contains(">0 B</text>"));
        assert!(page.contains(">2.0 MiB</text>"));
        assert!(page.contains(">6.0 MiB</text>"));
        assert!(page.contains(">10 s</text>"));
        assert!(page.contains("live heap, max 49.0 KiB"));

        let mut report = report;
        for p in &mut report.timeline {
            p.rss_bytes = None;
        }
        let page = render(&report, None);
        assert_eq!(polyline_points(&page, "live"), Some(50));
        assert_eq!(polyline_points(&page, "rss"), None);
        assert!(page.contains("RSS was not sampled"));
    }

    #[test]
    fn the_flame_graph_is_embedded_inline_when_given() {
        let report = leaky_report(50);
        let svg = flamegraph_of(&report);
        let page = render(&report, Some(&svg));
        let body = svg.find("<svg").unwrap();
        assert!(page.contains(svg[body..].trim_end()));
        assert!(!page.contains("<?xml"));
        assert!(page.contains(r##"<a href="#flamegraph">"##));

        let page = render(&report, None);
        assert!(!page.contains(r#"id="flamegraph""#));
        assert!(!page.contains(r##"href="#flamegraph""##));
    }

    #[test]
    fn nothing_is_fetched_from_elsewhere() {
        let report = leaky_report(50);
        let page = render(&report, Some(&flamegraph_of(&report)));
        let svg_namespace = r#"xmlns="http://www.w3.org/2000/svg""#;
        for scheme in ["http://", "https://"] {
            for (at, _) in page.match_indices(scheme) {
                let start = at.saturating_sub(r#"xmlns=""#.len());
                assert!(
                    page[start..].starts_with(svg_namespace),
                    "external reference: {}",
                    &page[start..(at + 40).min(page.len())]
                );
            }
        }
        for attribute in ["src=", "<link", "@import", "url("] {
            assert!(!page.contains(attribute), "{attribute}");
        }
    }

    #[test]
    fn an_empty_report_renders() {
        let page = render(&empty_report(), None);
        assert!(page.starts_with("<!DOCTYPE html>"));
        // Nothing recorded and the end unknown: never "no leak".
        assert!(page.contains(r#"<section class="verdict unknown""#));
        assert!(page.contains("Nothing was recorded"));
        assert!(page.contains("No timeline"));
        assert!(!page.contains("<svg"));
        assert!(page.contains("<code>?</code>"));
        assert!(page.contains("end unknown"));
        assert_balanced(&page);

        // One point at time zero, without RSS: a chart all the same.
        let mut report = empty_report();
        report.timeline = timeline(1, false);
        report.timeline[0].t_s = 0.0;
        let page = render(&report, None);
        assert_eq!(polyline_points(&page, "live"), Some(1));
        assert_balanced(&page);
    }

    #[test]
    fn blocks_left_by_a_killed_program_are_a_possible_leak() {
        let mut report = leaky_report(50);
        report.process.exit = Some(Exit::Signal(9));
        report.memory.live = live_verdict(&[]);
        report.growth.clear();
        let page = render(&report, None);
        assert!(page.contains(r#"<section class="verdict possible""#));
        assert!(page.contains(&escape(&decided(&report).verdict.headline)));
        assert!(page.contains("Possible leak: 40,"), "{page}");
        assert!(page.contains("killed by signal 9"));
    }

    #[test]
    fn escape_replaces_markup_characters() {
        assert_eq!(
            escape(r#"a<b>&"c" 'd'"#),
            "a&lt;b&gt;&amp;&quot;c&quot; &#39;d&#39;"
        );
        assert_eq!(escape("plain"), "plain");
    }

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

    #[test]
    fn a_long_run_with_many_leaks_stays_small() {
        let mut report = leaky_report(2000);
        let deep: Vec<Frame> = (0..20)
            .map(|i| {
                frame(
                    Some(&format!("handler_{i}")),
                    Some("/src/handlers.c"),
                    Some(i),
                )
            })
            .collect();
        report.leaks = (0..20)
            .map(|i| Leak {
                bytes: 1000 * (20 - i),
                allocations: 20 - i,
                frames: deep.clone(),
                note: None,
            })
            .collect();
        let page = render(&report, None);
        assert_eq!(polyline_points(&page, "live"), Some(2000));
        assert!(page.len() < 200_000, "{} bytes", page.len());
    }
}
