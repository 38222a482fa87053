//! How the heap reports say things, once for text and HTML: the headline
//! sentences, edges and paths as people read them, names cut to one line.

use heapwise_heap::{DumpFormat, HeapDiff, LeakReport, LeakRoot, PathStep};
use heapwise_words as words;

/// Names can be long strings with newlines (V8 string nodes): keep one
/// line of at most `max` characters.
pub(crate) fn one_line(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() > max {
        let cut: String = flat.chars().take(max.saturating_sub(3)).collect();
        format!("{cut}...")
    } else {
        flat
    }
}

/// Characters of a name in text output.
pub(crate) const TEXT_NAME: usize = 80;

/// What kind of dump a summary read.
pub(crate) fn dump_kind(format: DumpFormat) -> &'static str {
    match format {
        DumpFormat::V8 => "Heap snapshot",
        DumpFormat::Hprof => "JVM heap dump",
    }
}

/// How `diff` matched objects, and how many each side had.
pub(crate) fn comparison(diff: &HeapDiff) -> String {
    match diff.shared_objects {
        Some(shared) => format!(
            "Compared by object id: {} objects before, {} after, {} in both.",
            words::thousands(diff.before_objects),
            words::thousands(diff.after_objects),
            words::thousands(shared)
        ),
        None => format!(
            "Compared by counts per class (object ids are addresses that move): {} objects before, {} after.",
            words::thousands(diff.before_objects),
            words::thousands(diff.after_objects),
        ),
    }
}

/// The leak search's one-sentence answer: how much leaked and by which rule,
/// or that nothing did.
pub(crate) fn leaks_headline(report: &LeakReport) -> String {
    if report.leaked_objects == 0 {
        return "No leak: nothing allocated after BASELINE and present in TARGET is still alive in FINAL."
            .to_string();
    }
    let rule = match report.format {
        DumpFormat::V8 => "allocated after BASELINE, present in TARGET, still alive in FINAL",
        DumpFormat::Hprof => {
            "classes whose count grew from BASELINE to TARGET and did not fall by FINAL"
        }
    };
    format!(
        "{} objects leaked ({} self): {rule}.",
        words::thousands(report.leaked_objects),
        words::bytes(report.leaked_self_bytes)
    )
}

/// `What keeps growing: 2 things keep growing`.
pub(crate) fn roots_headline(roots: usize) -> String {
    let things = if roots == 1 {
        "thing keeps"
    } else {
        "things keep"
    };
    format!(
        "What keeps growing: {} {things} growing",
        words::thousands(roots as u64)
    )
}

/// ` (+400 since BASELINE)` for a root whose dumps count entries per path (the JVM's).
pub(crate) fn added_since_baseline(root: &LeakRoot) -> Option<String> {
    root.baseline_entries.map(|before| {
        format!(
            "{} since BASELINE",
            words::thousands_signed(root.entries as i64 - before as i64)
        )
    })
}

/// An object's id as its tool shows it: `@123` for DevTools, an address for the JVM.
pub(crate) fn object_id(id: u64, format: DumpFormat) -> String {
    match format {
        DumpFormat::V8 => format!("@{id}"),
        DumpFormat::Hprof => format!("0x{id:x}"),
    }
}

/// An edge as people read it: `.name`, `[]`, `var name` for a captured variable, `{name}` for V8 internals.
pub(crate) fn edge_label(step: &PathStep, max: usize) -> String {
    let name = one_line(&step.edge, max);
    match step.edge_type.as_str() {
        "context" => format!("var {name}"),
        "root" => format!("({name})"),
        _ if name == "[]" => "[]".to_string(),
        "internal" | "hidden" => format!("{{{name}}}"),
        "weak" => format!("[[{name}]]"),
        _ => format!(".{name}"),
    }
}

/// A path from the GC roots as people read it: where it starts, then each
/// hop (the edge and the node it reaches), runs of equal hops as one.
pub(crate) struct Hops {
    /// The first node.
    pub(crate) start: String,
    /// Edge, node reached, how many times in a row.
    pub(crate) hops: Vec<(String, String, usize)>,
}

/// The hops of `steps`, whose last edge reaches `last`; names cut to `max` characters.
pub(crate) fn hops(steps: &[PathStep], last: &str, max: usize) -> Hops {
    let mut hops: Vec<(String, String, usize)> = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        let next = steps.get(index + 1).map_or(last, |s| s.node.as_str());
        let hop = (edge_label(step, max), one_line(next, max));
        match hops.last_mut() {
            Some(previous) if previous.0 == hop.0 && previous.1 == hop.1 => previous.2 += 1,
            _ => hops.push((hop.0, hop.1, 1)),
        }
    }
    let start = steps.first().map_or(last, |s| s.node.as_str());
    Hops {
        start: one_line(start, max),
        hops,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(node: &str, edge: &str, edge_type: &str) -> PathStep {
        PathStep {
            node: node.into(),
            edge: edge.into(),
            edge_type: edge_type.into(),
            node_id: 1,
        }
    }

    #[test]
    fn edges_read_like_devtools() {
        assert_eq!(
            edge_label(&step("x", "_events", "property"), 80),
            "._events"
        );
        assert_eq!(edge_label(&step("x", "[]", "element"), 80), "[]");
        assert_eq!(edge_label(&step("x", "ctx", "context"), 80), "var ctx");
        assert_eq!(edge_label(&step("x", "table", "internal"), 80), "{table}");
    }

    #[test]
    fn runs_of_equal_hops_are_one() {
        let steps = [
            step("(GC roots)", "global", "root"),
            step("Node", "next", "property"),
            step("Node", "next", "property"),
            step("Node", "next", "property"),
        ];
        let path = hops(&steps, "Node", 80);
        assert_eq!(path.start, "(GC roots)");
        assert_eq!(
            path.hops,
            [
                ("(global)".to_string(), "Node".to_string(), 1),
                (".next".to_string(), "Node".to_string(), 3)
            ]
        );
    }

    #[test]
    fn long_names_become_one_short_line() {
        assert_eq!(one_line("a\nb", 80), "a b");
        assert_eq!(one_line(&"x".repeat(100), 10), "xxxxxxx...");
    }
}
