//! Text for people: the largest constructors, what changed, and each leak
//! cluster with the chain of references that holds it and what to do.

use heapwise_words as words;
use std::io::{self, Write};

use heapwise_heap::{
    DumpFormat, HeapDiff, HeapSummary, LeakCluster, LeakReport, LeakRoot, PathStep,
};

use super::wording::{self, TEXT_NAME};

/// How much the text and HTML reports show.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Rows of constructor tables.
    pub top: usize,
    /// Leak clusters shown in full.
    pub clusters: usize,
    /// Accumulation points (roots) shown in full.
    pub roots: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            top: 20,
            clusters: 10,
            roots: 10,
        }
    }
}

/// `heapwise heap summary` as text.
pub fn write_summary<W: Write + ?Sized>(
    out: &mut W,
    summary: &HeapSummary,
    options: &Limits,
) -> io::Result<()> {
    writeln!(
        out,
        "{}: {} objects, {} references, {} in total.",
        wording::dump_kind(summary.format),
        words::thousands(summary.nodes),
        words::thousands(summary.edges),
        words::bytes(summary.total_bytes)
    )?;
    writeln!(out)?;
    let shown = summary.constructors.len().min(options.top);
    writeln!(
        out,
        "Largest constructors by retained size ({shown} of {}):",
        summary.constructors.len()
    )?;
    writeln!(
        out,
        "{:>12}  {:>12}  {:>10}  constructor",
        "retained", "self", "count"
    )?;
    for row in summary.constructors.iter().take(options.top) {
        writeln!(
            out,
            "{:>12}  {:>12}  {:>10}  {}",
            words::bytes(row.retained_bytes),
            words::bytes(row.self_bytes),
            words::thousands(row.count),
            one_line(&row.name)
        )?;
    }
    Ok(())
}

/// `heapwise heap diff` as text.
pub fn write_diff<W: Write + ?Sized>(
    out: &mut W,
    diff: &HeapDiff,
    options: &Limits,
) -> io::Result<()> {
    writeln!(out, "{}", wording::comparison(diff))?;
    for warning in &diff.warnings {
        writeln!(out, "warning: {warning}")?;
    }
    writeln!(out)?;
    if diff.constructors.is_empty() {
        writeln!(
            out,
            "No object was created or freed between the two snapshots."
        )?;
        return Ok(());
    }
    let shown = diff.constructors.len().min(options.top);
    writeln!(
        out,
        "Largest growth first ({shown} of {} constructors that changed):",
        diff.constructors.len()
    )?;
    writeln!(
        out,
        "{:>12}  {:>10}  {:>10}  {:>8}  {:>8}  {:>8}  constructor",
        "size delta", "allocated", "freed", "new", "deleted", "delta"
    )?;
    for row in diff.constructors.iter().take(options.top) {
        writeln!(
            out,
            "{:>12}  {:>10}  {:>10}  {:>8}  {:>8}  {:>8}  {}",
            words::bytes_signed(row.size_delta),
            words::bytes(row.alloc_bytes),
            words::bytes(row.freed_bytes),
            words::thousands(row.new),
            words::thousands(row.deleted),
            words::thousands_signed(row.delta),
            one_line(&row.name)
        )?;
    }
    Ok(())
}

/// `heapwise heap leaks` as text.
pub fn write_leaks<W: Write + ?Sized>(
    out: &mut W,
    report: &LeakReport,
    options: &Limits,
) -> io::Result<()> {
    for warning in &report.warnings {
        writeln!(out, "warning: {warning}")?;
    }
    writeln!(out, "{}", wording::leaks_headline(report))?;
    if report.leaked_objects == 0 {
        return Ok(());
    }
    writeln!(out)?;
    if !report.roots.is_empty() {
        let shown = report.roots.len().min(options.roots);
        writeln!(
            out,
            "{} ({shown} shown, largest first).",
            wording::roots_headline(report.roots.len())
        )?;
        for (index, root) in report.roots.iter().take(options.roots).enumerate() {
            writeln!(out)?;
            write_root(out, index + 1, root, report)?;
        }
        writeln!(out)?;
    }
    writeln!(out, "Leaked constructors:")?;
    writeln!(out, "{:>10}  {:>12}  constructor", "count", "retained")?;
    for row in report.by_constructor.iter().take(options.top) {
        writeln!(
            out,
            "{:>10}  {:>12}  {}",
            words::thousands(row.count),
            words::bytes(row.retained_bytes),
            one_line(&row.name)
        )?;
    }
    if report.by_constructor.len() > options.top {
        writeln!(
            out,
            "{:>10}  ({} more)",
            "...",
            report.by_constructor.len() - options.top
        )?;
    }
    let shown = report.clusters.len().min(options.clusters);
    writeln!(out)?;
    let title = if report.roots.is_empty() {
        "Why they stay alive"
    } else {
        "Detail: the leaked objects by class and path"
    };
    writeln!(
        out,
        "{title} ({shown} of {} clusters, largest first):",
        report.clusters.len()
    )?;
    for (index, cluster) in report.clusters.iter().take(options.clusters).enumerate() {
        writeln!(out)?;
        write_cluster(out, index + 1, cluster, report.format)?;
    }
    Ok(())
}

/// One accumulation point: what it is, how it is reached, what it holds, what to do.
fn write_root<W: Write + ?Sized>(
    out: &mut W,
    number: usize,
    root: &LeakRoot,
    report: &LeakReport,
) -> io::Result<()> {
    let added = wording::added_since_baseline(root)
        .map(|added| format!(" ({added})"))
        .unwrap_or_default();
    writeln!(
        out,
        "#{number} {} - {} entries{added}, holding {} leaked objects, retaining {} - cause: {}",
        one_line(&root.holder),
        words::thousands(root.entries),
        words::thousands(root.objects),
        words::bytes(root.retained_bytes),
        root.cause.as_str()
    )?;
    write_path(out, &root.path, &root.holder_class)?;
    let holds: Vec<String> = root
        .holds
        .iter()
        .take(6)
        .map(|h| format!("{} x {}", one_line(&h.name), words::thousands(h.count)))
        .collect();
    if !holds.is_empty() {
        let more = if root.holds.len() > 6 {
            format!(" and {} more classes", root.holds.len() - 6)
        } else {
            String::new()
        };
        writeln!(out, "  Holds: {}{more}", holds.join(", "))?;
    }
    writeln!(out, "  What to do: {}", root.recommendation)?;
    let clusters: Vec<String> = root
        .clusters
        .iter()
        .filter(|&&i| i < report.clusters.len())
        .map(|&i| format!("#{}", i + 1))
        .collect();
    if !clusters.is_empty() {
        writeln!(out, "  Clusters: {}", clusters.join(" "))?;
    }
    Ok(())
}

/// A path from the roots to `last`, one hop a line, runs of equal hops as one.
fn write_path<W: Write + ?Sized>(out: &mut W, steps: &[PathStep], last: &str) -> io::Result<()> {
    let path = wording::hops(steps, last, TEXT_NAME);
    let hops = path.hops;
    writeln!(out, "    {}", path.start)?;
    let (head, tail) = if hops.len() > MAX_STEPS {
        (3, hops.len() - (MAX_STEPS - 3))
    } else {
        (hops.len(), hops.len())
    };
    for (index, (edge, node, repeat)) in hops.iter().enumerate() {
        if index == head && tail > head {
            writeln!(out, "      ... {} more ...", tail - head)?;
        }
        if index >= head && index < tail {
            continue;
        }
        let times = if *repeat > 1 {
            format!("  (x{repeat})")
        } else {
            String::new()
        };
        writeln!(out, "      --{edge}--> {node}{times}")?;
    }
    Ok(())
}

/// Paths longer than this are shortened in the middle.
const MAX_STEPS: usize = 14;

fn write_cluster<W: Write + ?Sized>(
    out: &mut W,
    number: usize,
    cluster: &LeakCluster,
    format: DumpFormat,
) -> io::Result<()> {
    writeln!(
        out,
        "#{number} {} x {} retaining {} - cause: {}",
        one_line(&cluster.constructor),
        words::thousands(cluster.count),
        words::bytes(cluster.retained_bytes),
        cluster.cause.as_str()
    )?;
    write_path(out, &cluster.retainer_path, &cluster.constructor)?;
    writeln!(
        out,
        "    ({} objects like the last one)",
        words::thousands(cluster.count)
    )?;
    writeln!(out, "  What to do: {}", cluster.recommendation)?;
    if !cluster.sample_ids.is_empty() {
        let ids: Vec<String> = cluster
            .sample_ids
            .iter()
            .map(|&id| wording::object_id(id, format))
            .collect();
        writeln!(out, "  Examples (ids): {}", ids.join(" "))?;
    }
    Ok(())
}

/// A name on one line of text.
fn one_line(text: &str) -> String {
    wording::one_line(text, TEXT_NAME)
}
