//! What the heap pages show, as the templates take them: one struct per page
//! (`templates/heap/{leaks,summary,diff}.html`) filled from the report, every
//! figure already worded (counts, bytes, paths), so the templates only lay
//! it out. This is the one place the heap pages call the wording helpers.

use askama::Template;
use heapwise_heap::{
    DumpFormat, HeapDiff, HeapSummary, LeakCluster, LeakReport, LeakRoot, PathStep,
};
use heapwise_words::{self as words, plural, thousands};

use super::super::text::Limits;
use super::super::wording;
use super::Input;

/// Characters of a name on the page (class names, holders, path nodes).
const NAME: usize = 200;
/// Clusters listed under one root (the rest are counted).
const MAX_CLUSTERS_PER_ROOT: usize = 100;
/// Classes a root's one-line list of what it holds names.
const HOLDS_INLINE: usize = 6;

/// The top of every page: what it is and what it was made from.
pub struct Header {
    /// `heapwise heap leaks`.
    pub title: &'static str,
    /// `V8 heap snapshots` or `JVM heap dumps (HPROF)`.
    pub kind: &'static str,
    pub inputs: Vec<InputRow>,
    /// The table of contents: only sections the page has.
    pub links: Vec<Link>,
}

/// A file read, with its role.
pub struct InputRow {
    pub role: &'static str,
    pub path: String,
}

/// An entry of the table of contents.
pub struct Link {
    pub id: &'static str,
    pub name: &'static str,
}

/// A headline figure.
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

/// A path from the GC roots: where it starts, then each hop.
pub struct PathView {
    pub start: String,
    pub hops: Vec<Hop>,
}

/// One hop of a path: the edge and the node it reaches, `× 3` when repeated.
pub struct Hop {
    pub edge: String,
    pub node: String,
    pub times: Option<String>,
}

/// `heapwise heap leaks` as a page: the verdict, the roots with their
/// clusters as detail, the leaked classes, the clusters no root holds.
#[derive(Template)]
#[template(path = "heap/leaks.html")]
pub struct LeaksPage<'a> {
    pub header: Header,
    /// `leak`, `possible` (objects leaked, but nothing holds enough of them
    /// to be named) or `none`: the verdict box's colour.
    pub level: &'static str,
    pub headline: String,
    /// `What keeps growing: 2 things keep growing`, when something does.
    pub roots_headline: Option<String>,
    pub figures: Vec<Figure>,
    pub roots: Vec<RootView>,
    /// Roots not shown, when there are any.
    pub hidden_roots: Option<String>,
    /// `constructor` (V8) or `class` (JVM).
    pub noun: &'static str,
    pub leaked: Vec<LeakedRow>,
    pub hidden_leaked: Option<String>,
    /// Clusters no shown root holds: all of them when there are no roots.
    pub clusters: Vec<ClusterView>,
    pub clusters_title: &'static str,
    pub hidden_clusters: Option<String>,
    pub warnings: &'a [String],
    pub schema: &'a str,
    pub version: &'static str,
}

/// An accumulation point, as the page shows it.
pub struct RootView {
    pub number: usize,
    pub holder: String,
    pub cause: &'static str,
    pub holder_class: String,
    pub holder_id: String,
    pub entries: String,
    /// `+400 since BASELINE` (JVM).
    pub added: Option<String>,
    pub objects: String,
    pub retained: Amount,
    pub path: PathView,
    /// The first classes it holds, `name × count`, most first.
    pub holds: Vec<String>,
    /// Every class it holds, when there are more than the line names.
    pub holds_all: Option<Vec<(String, String)>>,
    pub recommendation: String,
    pub clusters: Vec<ClusterView>,
    pub hidden_clusters: Option<String>,
}

/// Leaked objects of one class held the same way.
pub struct ClusterView {
    pub number: usize,
    pub constructor: String,
    pub count: String,
    pub retained: Amount,
    pub cause: &'static str,
    pub path: PathView,
    pub recommendation: String,
    /// A few ids, as the dump's tool shows them.
    pub samples: String,
}

/// A leaked class: how many, their own bytes and what they keep alive.
pub struct LeakedRow {
    pub name: String,
    pub count: String,
    pub self_bytes: Amount,
    pub retained: Amount,
}

/// `heapwise heap summary` as a page.
#[derive(Template)]
#[template(path = "heap/summary.html")]
pub struct SummaryPage<'a> {
    pub header: Header,
    pub figures: Vec<Figure>,
    pub noun: &'static str,
    /// `Largest constructors by retained size (20 of 296)`.
    pub table_title: String,
    pub rows: Vec<SummaryRow>,
    pub schema: &'a str,
    pub version: &'static str,
}

/// A constructor or class of a summary.
pub struct SummaryRow {
    pub name: String,
    pub count: String,
    pub self_bytes: Amount,
    pub retained: Amount,
}

/// `heapwise heap diff` as a page.
#[derive(Template)]
#[template(path = "heap/diff.html")]
pub struct DiffPage<'a> {
    pub header: Header,
    /// How objects were matched, and how many each side had.
    pub comparison: String,
    pub warnings: &'a [String],
    pub noun: &'static str,
    /// `None` when nothing changed.
    pub table_title: Option<String>,
    pub rows: Vec<DiffRow>,
    pub schema: &'a str,
    pub version: &'static str,
}

/// A constructor or class that changed between two dumps.
pub struct DiffRow {
    pub name: String,
    pub size_delta: String,
    pub allocated: Amount,
    pub freed: Amount,
    pub new: String,
    pub deleted: String,
    pub delta: String,
}

impl<'a> LeaksPage<'a> {
    /// The page of `report`, read from `inputs`, showing what `limits` allow.
    pub fn new(report: &'a LeakReport, inputs: &[Input], limits: &Limits) -> LeaksPage<'a> {
        let format = report.format;
        let shown_roots = &report.roots[..report.roots.len().min(limits.roots)];
        let mut held_by_shown = vec![false; report.clusters.len()];
        for &i in shown_roots.iter().flat_map(|r| &r.clusters) {
            if let Some(held) = held_by_shown.get_mut(i) {
                *held = true;
            }
        }
        let roots: Vec<RootView> = shown_roots
            .iter()
            .enumerate()
            .map(|(i, root)| root_view(i + 1, root, report))
            .collect();
        let others: Vec<usize> = (0..report.clusters.len())
            .filter(|&i| !held_by_shown[i])
            .collect();
        let clusters = others
            .iter()
            .take(limits.clusters)
            .map(|&i| cluster_view(i, &report.clusters[i], format))
            .collect();
        let noun = noun(format);
        let leaked = report
            .by_constructor
            .iter()
            .take(limits.top)
            .map(|row| LeakedRow {
                name: wording::one_line(&row.name, NAME),
                count: thousands(row.count),
                self_bytes: bytes(row.self_bytes),
                retained: bytes(row.retained_bytes),
            })
            .collect();
        let links = [
            ("roots", "What keeps growing", !roots.is_empty()),
            ("leaked", "Leaked", report.leaked_objects > 0),
            ("clusters", "Clusters", !others.is_empty()),
            ("warnings", "Warnings", !report.warnings.is_empty()),
        ];
        let figures = vec![
            Figure {
                name: "leaked objects",
                value: thousands(report.leaked_objects),
                detail: format!("{} self", words::bytes(report.leaked_self_bytes)),
            },
            Figure {
                name: "accumulation points",
                value: thousands(report.roots.len() as u64),
                detail: "where the leaked objects pile up".to_string(),
            },
            Figure {
                name: "clusters",
                value: thousands(report.clusters.len() as u64),
                detail: format!("leaked objects by {noun} and path"),
            },
        ];
        LeaksPage {
            header: header("heapwise heap leaks", format, inputs, &links),
            level: match (report.leaked_objects > 0, report.found_leak()) {
                (_, true) => "leak",
                (true, false) => "possible",
                (false, false) => "none",
            },
            headline: wording::leaks_headline(report),
            roots_headline: (!report.roots.is_empty())
                .then(|| wording::roots_headline(report.roots.len())),
            figures,
            hidden_roots: hidden(
                report.roots.len() - shown_roots.len(),
                ("accumulation point", "accumulation points"),
                "--roots N",
            ),
            roots,
            noun,
            leaked,
            hidden_leaked: hidden(
                report.by_constructor.len().saturating_sub(limits.top),
                (noun, plural_noun(format)),
                "--top N",
            ),
            clusters,
            clusters_title: if report.roots.is_empty() {
                "Why they stay alive"
            } else {
                "Clusters no root above holds"
            },
            hidden_clusters: hidden(
                others.len().saturating_sub(limits.clusters),
                ("cluster", "clusters"),
                "--clusters N",
            ),
            warnings: &report.warnings,
            schema: &report.schema,
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

impl<'a> SummaryPage<'a> {
    /// The page of `summary`, read from `inputs`, its table `top` rows long.
    pub fn new(summary: &'a HeapSummary, inputs: &[Input], top: usize) -> SummaryPage<'a> {
        let format = summary.format;
        let shown = summary.constructors.len().min(top);
        SummaryPage {
            header: header("heapwise heap summary", format, inputs, &[]),
            figures: vec![
                Figure {
                    name: "objects",
                    value: thousands(summary.nodes),
                    detail: format!("{} references", thousands(summary.edges)),
                },
                Figure {
                    name: "total",
                    value: words::bytes(summary.total_bytes),
                    detail: format!(
                        "{} bytes, every object's own size",
                        thousands(summary.total_bytes)
                    ),
                },
                Figure {
                    name: plural_noun(format),
                    value: thousands(summary.constructors.len() as u64),
                    detail: "with objects in the heap".to_string(),
                },
            ],
            noun: noun(format),
            table_title: format!(
                "Largest {} by retained size ({shown} of {})",
                plural_noun(format),
                thousands(summary.constructors.len() as u64)
            ),
            rows: summary
                .constructors
                .iter()
                .take(top)
                .map(|row| SummaryRow {
                    name: wording::one_line(&row.name, NAME),
                    count: thousands(row.count),
                    self_bytes: bytes(row.self_bytes),
                    retained: bytes(row.retained_bytes),
                })
                .collect(),
            schema: &summary.schema,
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

impl<'a> DiffPage<'a> {
    /// The page of `diff`, read from `inputs`, its table `top` rows long.
    pub fn new(diff: &'a HeapDiff, inputs: &[Input], top: usize) -> DiffPage<'a> {
        let format = diff.format;
        let shown = diff.constructors.len().min(top);
        DiffPage {
            header: header("heapwise heap diff", format, inputs, &[]),
            comparison: wording::comparison(diff),
            warnings: &diff.warnings,
            noun: noun(format),
            table_title: (!diff.constructors.is_empty()).then(|| {
                format!(
                    "Largest growth first ({shown} of {} {} that changed)",
                    thousands(diff.constructors.len() as u64),
                    plural_noun(format)
                )
            }),
            rows: diff
                .constructors
                .iter()
                .take(top)
                .map(|row| DiffRow {
                    name: wording::one_line(&row.name, NAME),
                    size_delta: words::bytes_signed(row.size_delta),
                    allocated: bytes(row.alloc_bytes),
                    freed: bytes(row.freed_bytes),
                    new: thousands(row.new),
                    deleted: thousands(row.deleted),
                    delta: words::thousands_signed(row.delta),
                })
                .collect(),
            schema: &diff.schema,
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

fn header(
    title: &'static str,
    format: DumpFormat,
    inputs: &[Input],
    links: &[(&'static str, &'static str, bool)],
) -> Header {
    Header {
        title,
        kind: match format {
            DumpFormat::V8 => "V8 heap snapshots",
            DumpFormat::Hprof => "JVM heap dumps (HPROF)",
        },
        inputs: inputs
            .iter()
            .map(|input| InputRow {
                role: input.role,
                path: wording::one_line(&input.path, 1000),
            })
            .collect(),
        links: links
            .iter()
            .filter(|l| l.2)
            .map(|&(id, name, _)| Link { id, name })
            .collect(),
    }
}

/// What a row of the tables is: a V8 constructor, a JVM class.
fn noun(format: DumpFormat) -> &'static str {
    match format {
        DumpFormat::V8 => "constructor",
        DumpFormat::Hprof => "class",
    }
}

fn plural_noun(format: DumpFormat) -> &'static str {
    match format {
        DumpFormat::V8 => "constructors",
        DumpFormat::Hprof => "classes",
    }
}

/// A byte count for people, with the exact figure when rounded.
fn bytes(bytes: u64) -> Amount {
    Amount {
        text: words::bytes(bytes),
        exact: (bytes >= 1024).then(|| format!("{} bytes", thousands(bytes))),
    }
}

/// `… and 3 more clusters (--clusters N shows them; every one is in --format json)`.
fn hidden(count: usize, (one, many): (&str, &str), option: &str) -> Option<String> {
    (count > 0).then(|| {
        let n = count as u64;
        let what = if n == 1 { one } else { many };
        format!(
            "… and {} more {what} ({option} shows them; every one is in --format json).",
            thousands(n)
        )
    })
}

fn path_view(steps: &[PathStep], last: &str) -> PathView {
    let path = wording::hops(steps, last, NAME);
    PathView {
        start: path.start,
        hops: path
            .hops
            .into_iter()
            .map(|(edge, node, repeat)| Hop {
                edge,
                node,
                times: (repeat > 1).then(|| format!("× {}", thousands(repeat as u64))),
            })
            .collect(),
    }
}

fn root_view(number: usize, root: &LeakRoot, report: &LeakReport) -> RootView {
    let format = report.format;
    let named = |name: &str, count: u64| (wording::one_line(name, NAME), thousands(count));
    let holds = root
        .holds
        .iter()
        .take(HOLDS_INLINE)
        .map(|h| {
            let (name, count) = named(&h.name, h.count);
            format!("{name} × {count}")
        })
        .collect();
    let holds_all = (root.holds.len() > HOLDS_INLINE)
        .then(|| root.holds.iter().map(|h| named(&h.name, h.count)).collect());
    let listed: Vec<usize> = root
        .clusters
        .iter()
        .copied()
        .filter(|&i| i < report.clusters.len())
        .collect();
    let more = listed.len().saturating_sub(MAX_CLUSTERS_PER_ROOT) as u64;
    let clusters = listed
        .iter()
        .take(MAX_CLUSTERS_PER_ROOT)
        .map(|&i| cluster_view(i, &report.clusters[i], format))
        .collect();
    RootView {
        number,
        holder: wording::one_line(&root.holder, NAME),
        cause: root.cause.as_str(),
        holder_class: wording::one_line(&root.holder_class, NAME),
        holder_id: wording::object_id(root.holder_id, format),
        entries: thousands(root.entries),
        added: wording::added_since_baseline(root),
        objects: thousands(root.objects),
        retained: bytes(root.retained_bytes),
        path: path_view(&root.path, &root.holder_class),
        holds,
        holds_all,
        recommendation: root.recommendation.clone(),
        clusters,
        hidden_clusters: (more > 0).then(|| {
            format!(
                "… and {} more {} (every one is in --format json).",
                thousands(more),
                plural(more, "cluster", "clusters")
            )
        }),
    }
}

fn cluster_view(index: usize, cluster: &LeakCluster, format: DumpFormat) -> ClusterView {
    ClusterView {
        number: index + 1,
        constructor: wording::one_line(&cluster.constructor, NAME),
        count: thousands(cluster.count),
        retained: bytes(cluster.retained_bytes),
        cause: cluster.cause.as_str(),
        path: path_view(&cluster.retainer_path, &cluster.constructor),
        recommendation: cluster.recommendation.clone(),
        samples: cluster
            .sample_ids
            .iter()
            .map(|&id| wording::object_id(id, format))
            .collect::<Vec<_>>()
            .join(" "),
    }
}
