//! Text for people: the largest constructors, what changed, and each leak
//! cluster with the chain of references that holds it and what to do.

use heapwise_words as words;
use std::io::{self, Write};

use heapwise_heap::{
    DumpFormat, HeapDiff, HeapSummary, LeakCluster, LeakReport, LeakRoot, PathStep,
};

/// How much to show.
#[derive(Debug, Clone)]
pub struct TextOptions {
    /// Rows of constructor tables.
    pub top: usize,
    /// Leak clusters shown in full.
    pub clusters: usize,
    /// Accumulation points (roots) shown in full.
    pub roots: usize,
}

impl Default for TextOptions {
    fn default() -> Self {
        TextOptions {
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
    options: &TextOptions,
) -> io::Result<()> {
    let kind = match summary.format {
        DumpFormat::V8 => "Heap snapshot",
        DumpFormat::Hprof => "JVM heap dump",
    };
    writeln!(
        out,
        "{kind}: {} objects, {} references, {} in total.",
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
    options: &TextOptions,
) -> io::Result<()> {
    match diff.shared_objects {
        Some(shared) => writeln!(
            out,
            "Compared by object id: {} objects before, {} after, {} in both.",
            words::thousands(diff.before_objects),
            words::thousands(diff.after_objects),
            words::thousands(shared)
        )?,
        None => writeln!(
            out,
            "Compared by counts per class (object ids are addresses that move): {} objects before, {} after.",
            words::thousands(diff.before_objects),
            words::thousands(diff.after_objects),
        )?,
    }
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
    options: &TextOptions,
) -> io::Result<()> {
    for warning in &report.warnings {
        writeln!(out, "warning: {warning}")?;
    }
    if report.leaked_objects == 0 {
        writeln!(
            out,
            "No leak: nothing allocated after BASELINE and present in TARGET is still alive in FINAL."
        )?;
        return Ok(());
    }
    match report.format {
        DumpFormat::V8 => writeln!(
            out,
            "{} objects leaked ({} self): allocated after BASELINE, present in TARGET, still alive in FINAL.",
            words::thousands(report.leaked_objects),
            words::bytes(report.leaked_self_bytes)
        )?,
        DumpFormat::Hprof => writeln!(
            out,
            "{} objects leaked ({} self): classes whose count grew from BASELINE to TARGET and did not fall by FINAL.",
            words::thousands(report.leaked_objects),
            words::bytes(report.leaked_self_bytes)
        )?,
    }
    writeln!(out)?;
    if !report.roots.is_empty() {
        let shown = report.roots.len().min(options.roots);
        let things = if report.roots.len() == 1 {
            "thing keeps"
        } else {
            "things keep"
        };
        writeln!(
            out,
            "What keeps growing: {} {things} growing ({shown} shown, largest first).",
            words::thousands(report.roots.len() as u64)
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
    let added = match root.baseline_entries {
        Some(before) => format!(
            " ({} since BASELINE)",
            words::thousands_signed(root.entries as i64 - before as i64)
        ),
        None => String::new(),
    };
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
    let mut hops: Vec<(String, String, usize)> = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        let next = steps.get(index + 1).map_or(last, |s| s.node.as_str());
        let hop = (edge_label(step), one_line(next));
        match hops.last_mut() {
            Some(previous) if previous.0 == hop.0 && previous.1 == hop.1 => previous.2 += 1,
            _ => hops.push((hop.0, hop.1, 1)),
        }
    }
    let first = steps.first().map_or(last, |s| s.node.as_str());
    writeln!(out, "    {}", one_line(first))?;
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
            .map(|id| match format {
                DumpFormat::V8 => format!("@{id}"),
                DumpFormat::Hprof => format!("0x{id:x}"),
            })
            .collect();
        writeln!(out, "  Examples (ids): {}", ids.join(" "))?;
    }
    Ok(())
}

/// An edge as people read it: `.name`, `[]`, `var name` for a captured variable, `{name}` for V8 internals.
fn edge_label(step: &PathStep) -> String {
    let name = one_line(&step.edge);
    match step.edge_type.as_str() {
        "context" => format!("var {name}"),
        "root" => format!("({name})"),
        _ if name == "[]" => "[]".to_string(),
        "internal" | "hidden" => format!("{{{name}}}"),
        "weak" => format!("[[{name}]]"),
        _ => format!(".{name}"),
    }
}

/// Names can be long strings with newlines (string nodes): keep one short line.
fn one_line(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() > 80 {
        let cut: String = flat.chars().take(77).collect();
        format!("{cut}...")
    } else {
        flat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_read_like_devtools() {
        let step = |edge: &str, edge_type: &str| PathStep {
            node: "x".into(),
            edge: edge.into(),
            edge_type: edge_type.into(),
            node_id: 1,
        };
        assert_eq!(edge_label(&step("_events", "property")), "._events");
        assert_eq!(edge_label(&step("[]", "element")), "[]");
        assert_eq!(edge_label(&step("ctx", "context")), "var ctx");
        assert_eq!(edge_label(&step("table", "internal")), "{table}");
    }
}
