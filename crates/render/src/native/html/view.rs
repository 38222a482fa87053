//! What the page shows, as the template takes it: [`Page`] is filled from
//! the report, every figure already worded (bytes, counts, rates, frames),
//! so `templates/native/report.html` only lays it out. This is the one
//! place the HTML report calls the shared wording helpers.

use std::sync::Arc;

use askama::Template;
use heapwise_native::model::{Exit, Frame, Leak, NativeReport};
use heapwise_series::Verdict;

use super::chart::Chart;
use heapwise_words::{self as words, plural, thousands};

/// Leak groups of the program listed (the rest are counted).
const MAX_LEAKS: usize = 100;
/// Growing call stacks listed.
const MAX_GROWING: usize = 20;
/// Frames named in a growing stack's one-line summary.
const TOP_FRAMES: usize = 3;

/// The whole page. Every value is escaped by askama's HTML escaper when
/// the template prints it; only the flame graph goes in as markup.
#[derive(Template)]
#[template(path = "native/report.html")]
pub struct Page<'a> {
    /// The traced command line, `?` when unknown.
    pub command: String,
    pub pid: u32,
    /// How the process ended: `exited with code 0`, `killed by signal 9`.
    pub ended: String,
    /// Seconds traced, two decimals.
    pub duration: String,
    /// The table of contents: only sections the page has.
    pub links: Vec<Link>,
    pub verdict: VerdictBox,
    pub figures: Vec<Figure>,
    /// `None` when nothing was recorded over time.
    pub chart: Option<Chart>,
    /// The live heap's and RSS's largest values, for the legend.
    pub live_max: String,
    pub rss_max: Option<String>,
    pub recommendations: &'a [String],
    pub leaks: Leaks,
    pub growth: Vec<GrowthRow>,
    pub peak: PeakView,
    pub old: OldView,
    pub temporary: TemporaryView,
    pub sizes: Vec<SizeRow>,
    /// The flame graph's `<svg>` element and what follows it.
    pub flamegraph: Option<&'a str>,
    pub warnings: &'a [String],
    pub trace: Vec<TraceRow>,
    pub version: &'static str,
}

/// An entry of the table of contents.
pub struct Link {
    pub id: &'static str,
    pub name: &'static str,
}

/// Leak or not, in one box.
pub struct VerdictBox {
    /// `leak`, `possible`, `unknown` or `none`: the box's colour.
    pub level: &'static str,
    pub headline: String,
    pub details: Vec<String>,
    /// For a sampled trace: that its figures are estimates, and how precise.
    pub sampling: Option<String>,
    /// For a trace kept under a size limit: how it keeps its past.
    pub compacted: Option<String>,
    pub live: Judged,
    pub rss: Option<Judged>,
    pub leak_rate: Option<String>,
    pub fragmentation: Option<FragmentationView>,
    /// `3 warnings`, when there are any.
    pub warnings: Option<String>,
}

/// A series' verdict: its pattern, whether it is a leak, and why.
pub struct Judged {
    pub pattern: String,
    pub leak: bool,
    pub reason: String,
}

/// RSS that grew while the live heap did not, and what to try.
pub struct FragmentationView {
    pub finding: String,
    pub kind: &'static str,
    pub rss_growth: String,
    pub live_growth: String,
    /// How the allocator's heap changed, when it was sampled.
    pub heap_growth: Option<String>,
    pub advice: Vec<String>,
}

/// A headline figure of the summary.
pub struct Figure {
    pub name: &'static str,
    pub value: String,
    pub detail: String,
}

/// A number in a table cell; byte counts rounded for people carry the
/// exact figure too.
pub struct Amount {
    pub text: String,
    pub exact: Option<String>,
}

/// A call stack in a table cell: a one-line summary (the top frame by
/// default) that opens onto every frame, one per line with file:line.
pub struct Stack {
    pub summary: String,
    /// Said before the frames.
    pub note: Option<String>,
    pub frames: Vec<String>,
}

/// A table of call stacks: columns of numbers, then the stack.
pub struct StackTable {
    pub columns: &'static [&'static str],
    pub rows: Vec<StackRow>,
}

/// A row of a [`StackTable`].
pub struct StackRow {
    pub cells: Vec<Amount>,
    /// `None` when no frame was recorded.
    pub stack: Option<Stack>,
}

/// The leak groups: the program's, by leak kind (definitely, indirectly,
/// possibly lost, still reachable) when the process was scanned at exit,
/// largest first; then the suppressed ones and what the runtime holds until
/// exit by design.
pub struct Leaks {
    /// Whether anything was still allocated at the end.
    pub any: bool,
    /// The program's groups, one section per kind (one section when the
    /// process was not scanned).
    pub sections: Vec<LeakSection>,
    /// Why the process was not scanned at exit, or what the scan found.
    pub reachability: Option<String>,
    pub suppressed: Vec<RuntimeLeak>,
    pub runtime: Vec<RuntimeLeak>,
}

/// The program's leak groups of one kind, the largest listed.
pub struct LeakSection {
    /// `Definitely lost`, ...; `None` when the process was not scanned.
    pub kind: Option<String>,
    /// A CSS class: `lost` or `reachable`.
    pub class: &'static str,
    /// Bytes and blocks of the section.
    pub held: String,
    /// How many call stacks (`3 call stacks`).
    pub stacks: String,
    pub table: StackTable,
    /// The call stacks not listed, when there are any.
    pub hidden: Option<Hidden>,
}

/// Call stacks left out of a table: how many, and the bytes they hold.
pub struct Hidden {
    pub stacks: String,
    pub bytes: String,
}

/// Blocks the runtime holds until exit by design, or a suppression
/// matched.
pub struct RuntimeLeak {
    pub bytes: Amount,
    pub blocks: String,
    /// What the runtime keeps them for, or which suppression matched.
    pub what: String,
    /// Their leak kind (empty when not scanned).
    pub kind: &'static str,
    pub stack: Option<Stack>,
}

/// A call stack whose live bytes grew.
pub struct GrowthRow {
    pub leak: bool,
    pub pattern: String,
    pub slope: String,
    pub live_end: Amount,
    pub blocks: String,
    pub stack: Option<Stack>,
}

/// The most live bytes, when (seconds, two decimals), and who held them.
pub struct PeakView {
    pub live: String,
    pub at: String,
    pub table: Option<StackTable>,
}

/// Blocks allocated long before the end and still live.
pub struct OldView {
    /// The age from which a block counts as old, one decimal.
    pub min_age: String,
    /// `None` when no old block is live.
    pub found: Option<OldFound>,
}

pub struct OldFound {
    pub blocks: String,
    pub bytes: String,
    pub table: StackTable,
}

/// Blocks freed before their thread allocated anything else.
pub struct TemporaryView {
    /// `None` when there are none.
    pub found: Option<TemporaryFound>,
}

pub struct TemporaryFound {
    pub allocations: String,
    /// Their share of all allocations, in percent, one decimal.
    pub percent: String,
    pub table: StackTable,
}

/// A size class's allocations and leaks.
pub struct SizeRow {
    pub name: &'static str,
    pub allocations: String,
    pub allocated: String,
    pub leaked_blocks: String,
    pub leaked: String,
}

/// A fact about the trace file.
pub struct TraceRow {
    pub name: &'static str,
    pub value: String,
    /// Shown as code (a path).
    pub code: bool,
}

impl<'a> Page<'a> {
    /// The page of `report`; `flamegraph_svg` is an SVG document heapwise
    /// wrote, embedded from its `<svg>` element on (an XML declaration has
    /// no place in HTML).
    pub fn new(report: &'a NativeReport, flamegraph_svg: Option<&'a str>) -> Page<'a> {
        let command = if report.process.command.is_empty() {
            "?".to_string()
        } else {
            report.process.command.join(" ")
        };
        let flamegraph = flamegraph_svg
            .map(|svg| svg.find("<svg").map_or(svg, |start| &svg[start..]))
            .map(str::trim_end);
        let chart = Chart::new(&report.timeline, words::bytes);
        Page {
            command,
            pid: report.process.pid,
            ended: ended(report.process.exit),
            duration: format!("{:.2}", report.summary.duration_s),
            links: links(report, flamegraph.is_some()),
            verdict: verdict(report),
            figures: figures(report),
            live_max: words::bytes(chart.as_ref().map_or(0, |c| c.live_max)),
            rss_max: chart.as_ref().and_then(|c| c.rss_max).map(words::bytes),
            chart,
            recommendations: &report.recommendations,
            leaks: leaks(report),
            growth: growth(report),
            peak: peak(report),
            old: old(report),
            temporary: temporary(report),
            sizes: sizes(report),
            flamegraph,
            warnings: &report.warnings,
            trace: trace(report),
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

fn ended(exit: Option<Exit>) -> String {
    words::Ended::label_of(exit.map(Exit::ended))
}

pub(super) fn rate(bytes_per_s: Option<f64>) -> String {
    bytes_per_s.map_or_else(|| "?".into(), words::rate_signed)
}

/// A byte count for people, with the exact figure when rounded.
fn bytes(bytes: u64) -> Amount {
    Amount {
        text: words::bytes(bytes),
        exact: (bytes >= 1024).then(|| thousands(bytes)),
    }
}

/// A count, exact.
fn count(n: u64) -> Amount {
    Amount {
        text: thousands(n),
        exact: None,
    }
}

fn judged(verdict: &Verdict) -> Judged {
    Judged {
        pattern: verdict.pattern.to_string(),
        leak: verdict.leak,
        reason: verdict.reason.clone(),
    }
}

fn links(report: &NativeReport, flamegraph: bool) -> Vec<Link> {
    [
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
    ]
    .into_iter()
    .filter(|l| l.2)
    .map(|(id, name, _)| Link { id, name })
    .collect()
}

/// The model's verdict, whether memory keeps growing, the verdicts'
/// reasons, fragmentation.
fn verdict(report: &NativeReport) -> VerdictBox {
    let memory = &report.memory;
    let fragmentation = memory.fragmentation.as_ref().map(|f| FragmentationView {
        finding: f.finding.clone(),
        kind: f.kind,
        rss_growth: words::bytes_signed(f.rss_growth_bytes),
        live_growth: words::bytes_signed(f.live_growth_bytes),
        heap_growth: f.heap_growth_bytes.map(words::bytes_signed),
        advice: f.advice.clone(),
    });
    let warnings = (!report.warnings.is_empty()).then(|| {
        let n = report.warnings.len() as u64;
        format!("{} {}", thousands(n), plural(n, "warning", "warnings"))
    });
    VerdictBox {
        level: report.verdict.level.as_str(),
        headline: report.verdict.headline.clone(),
        details: report.verdict.details.clone(),
        sampling: report
            .sampling
            .as_ref()
            .map(crate::native::sampling_sentence),
        compacted: report
            .trace
            .compacted
            .as_ref()
            .map(crate::native::compaction_sentence),
        live: judged(&memory.live),
        rss: memory.rss.as_ref().map(judged),
        leak_rate: memory.leak_rate_bytes_per_s.map(|r| rate(Some(r))),
        fragmentation,
        warnings,
    }
}

fn figures(report: &NativeReport) -> Vec<Figure> {
    let s = &report.summary;
    let threads = report.trace.threads;
    let figure = |name, value, detail| Figure {
        name,
        value,
        detail,
    };
    vec![
        figure(
            "allocated",
            words::bytes(s.allocated_bytes),
            format!("in {} allocations", thousands(s.allocations)),
        ),
        figure("freed", thousands(s.frees), "frees".to_string()),
        figure(
            "peak",
            words::bytes(s.peak_live_bytes),
            format!("live, at {}", words::seconds_exact(s.peak_t_s)),
        ),
        figure(
            "leaked",
            words::bytes(s.leaked_bytes),
            format!(
                "{} bytes in {} blocks still allocated at the end",
                thousands(s.leaked_bytes),
                thousands(s.leaked_allocations)
            ),
        ),
        figure(
            "duration",
            words::seconds_exact(s.duration_s),
            format!(
                "{} {}",
                thousands(threads),
                plural(threads, "thread", "threads")
            ),
        ),
    ]
}

/// `frames` as a table cell: `summary` (the top frame by default) that
/// opens onto every frame, after `note`.
fn stack(frames: &[Arc<Frame>], summary: Option<String>, note: Option<&str>) -> Option<Stack> {
    let first = frames.first()?;
    Some(Stack {
        summary: summary.unwrap_or_else(|| first.text().place()),
        note: note.map(str::to_string),
        frames: frames.iter().map(|f| f.text().place()).collect(),
    })
}

fn stack_table<'f>(
    columns: &'static [&'static str],
    rows: impl IntoIterator<Item = (Vec<Amount>, &'f [Arc<Frame>])>,
) -> StackTable {
    StackTable {
        columns,
        rows: rows
            .into_iter()
            .map(|(cells, frames)| StackRow {
                cells,
                stack: stack(frames, None, None),
            })
            .collect(),
    }
}

fn leaks(report: &NativeReport) -> Leaks {
    let lists = super::super::leak_lists(report);
    let mut listed_so_far = 0;
    let sections = lists
        .own
        .iter()
        .map(|(kind, groups)| {
            let first = listed_so_far;
            let listed = groups.len().min(MAX_LEAKS.saturating_sub(first));
            listed_so_far += listed;
            let rows = groups[..listed].iter().enumerate().map(|(i, leak)| {
                let cells = vec![
                    count((first + i) as u64 + 1),
                    bytes(leak.bytes),
                    count(leak.allocations),
                ];
                (cells, &leak.frames[..])
            });
            let rest = &groups[listed..];
            let hidden = (!rest.is_empty()).then(|| Hidden {
                stacks: thousands(rest.len() as u64),
                bytes: words::bytes(rest.iter().map(|l| l.bytes).sum()),
            });
            let (b, n) = groups
                .iter()
                .fold((0, 0), |(b, n), l| (b + l.bytes, n + l.allocations));
            LeakSection {
                kind: kind.map(super::super::kind_heading),
                class: if kind.is_some_and(|k| !k.is_lost()) {
                    "reachable"
                } else {
                    "lost"
                },
                held: format!(
                    "{} in {} {}",
                    words::bytes(b),
                    thousands(n),
                    plural(n, "block", "blocks")
                ),
                stacks: {
                    let n = groups.len() as u64;
                    format!(
                        "{} {}",
                        thousands(n),
                        plural(n, "call stack", "call stacks")
                    )
                },
                table: stack_table(&["#", "bytes", "blocks"], rows),
                hidden,
            }
        })
        .collect();
    let other = |leak: &&Leak, what: String| RuntimeLeak {
        bytes: bytes(leak.bytes),
        blocks: thousands(leak.allocations),
        what,
        kind: leak.kind.map_or("", |k| k.words()),
        stack: stack(&leak.frames, None, None),
    };
    Leaks {
        any: !report.leaks.is_empty(),
        sections,
        reachability: super::super::reachability_sentence(report),
        suppressed: lists
            .suppressed
            .iter()
            .map(|l| {
                other(
                    l,
                    format!("suppressed by {}", l.suppressed.as_deref().unwrap_or("")),
                )
            })
            .collect(),
        runtime: lists
            .runtime
            .iter()
            .map(|l| other(l, l.note.unwrap_or_default().to_string()))
            .collect(),
    }
}

/// The call stacks that grew, most suspicious first.
fn growth(report: &NativeReport) -> Vec<GrowthRow> {
    report
        .growth
        .iter()
        .filter(|g| g.leak || g.slope_bytes_per_s.unwrap_or(0.0) > 0.0)
        .take(MAX_GROWING)
        .map(|g| {
            let top: Vec<String> = g
                .frames
                .iter()
                .take(TOP_FRAMES)
                .map(|f| f.text().name())
                .collect();
            GrowthRow {
                leak: g.leak,
                pattern: g.pattern.to_string(),
                slope: rate(g.slope_bytes_per_s),
                live_end: bytes(g.live_bytes_end),
                blocks: thousands(g.allocations_end),
                stack: stack(&g.frames, Some(top.join(" ← ")), Some(&g.verdict.reason)),
            }
        })
        .collect()
}

fn peak(report: &NativeReport) -> PeakView {
    let peak = &report.peak;
    let rows = peak
        .stacks
        .iter()
        .map(|s| (vec![bytes(s.bytes)], &s.frames[..]));
    PeakView {
        live: words::bytes(peak.live_bytes),
        at: format!("{:.2}", peak.t_s),
        table: (!peak.stacks.is_empty()).then(|| stack_table(&["bytes"], rows)),
    }
}

fn old(report: &NativeReport) -> OldView {
    let old = &report.old_allocations;
    let rows = old
        .stacks
        .iter()
        .map(|s| (vec![bytes(s.bytes), count(s.allocations)], &s.frames[..]));
    OldView {
        min_age: format!("{:.1}", old.min_age_s),
        found: (old.allocations > 0).then(|| OldFound {
            blocks: thousands(old.allocations),
            bytes: words::bytes(old.bytes),
            table: stack_table(&["bytes", "blocks"], rows),
        }),
    }
}

fn temporary(report: &NativeReport) -> TemporaryView {
    let temporary = &report.temporary;
    let rows = temporary
        .stacks
        .iter()
        .map(|s| (vec![count(s.allocations)], &s.frames[..]));
    TemporaryView {
        found: (temporary.allocations > 0).then(|| TemporaryFound {
            allocations: thousands(temporary.allocations),
            percent: format!("{:.1}", 100.0 * temporary.fraction),
            table: stack_table(&["allocations"], rows),
        }),
    }
}

fn sizes(report: &NativeReport) -> Vec<SizeRow> {
    report
        .size_classes
        .iter()
        .map(|class| SizeRow {
            name: class.name,
            allocations: thousands(class.allocations),
            allocated: words::bytes(class.allocated_bytes),
            leaked_blocks: thousands(class.leaked_allocations),
            leaked: words::bytes(class.leaked_bytes),
        })
        .collect()
}

fn trace(report: &NativeReport) -> Vec<TraceRow> {
    let trace = &report.trace;
    let truncated = if trace.truncated {
        "yes: it ends inside a block (killed, or still being written)"
    } else {
        "no"
    };
    let row = |name, value: String| TraceRow {
        name,
        value,
        code: false,
    };
    vec![
        TraceRow {
            code: true,
            ..row("file", trace.path.clone())
        },
        row("truncated", truncated.to_string()),
        row(
            "damage",
            trace.damage.clone().unwrap_or_else(|| "none".to_string()),
        ),
        row("lost events", thousands(trace.lost_events)),
        row("threads", thousands(trace.threads)),
        row("schema", report.schema.to_string()),
    ]
}
