//! Summary by class (what `jmap -histo:live` counts, with retained sizes)
//! and the class histogram two dumps are compared by.

use std::collections::BTreeMap;

use heapwise_heap::{
    ConstructorDiff, ConstructorSummary, DIFF_SCHEMA, DumpFormat, HeapDiff, HeapSummary,
    SUMMARY_SCHEMA,
};
use rustc_hash::FxHashMap;

use crate::graph::HprofGraph;
use crate::model::{HprofDump, ROOT};

/// Dense numbers for class names (classes of one name from several loaders
/// are one row, as `constructors[].name` is the class name), and each node's.
pub(crate) struct NameGroups {
    pub(crate) names: Vec<String>,
    /// Class index → name group.
    pub(crate) of_class: Vec<u32>,
}

impl NameGroups {
    pub(crate) fn new(dump: &HprofDump) -> NameGroups {
        let mut names = Vec::new();
        let mut ids: FxHashMap<&str, u32> = FxHashMap::default();
        let of_class = dump
            .classes()
            .iter()
            .map(|c| {
                *ids.entry(c.name.as_str()).or_insert_with(|| {
                    names.push(c.name.clone());
                    names.len() as u32 - 1
                })
            })
            .collect();
        NameGroups { names, of_class }
    }

    pub(crate) fn of_node(&self, dump: &HprofDump, n: u32) -> u32 {
        self.of_class[dump.class_of(n) as usize]
    }
}

/// Groups the dump's objects by class: count, shallow and retained bytes.
pub fn summarize(graph: &HprofGraph) -> HeapSummary {
    let dump = graph.dump();
    let groups = NameGroups::new(dump);
    let mut rows: Vec<ConstructorSummary> = groups
        .names
        .iter()
        .map(|name| ConstructorSummary {
            name: name.clone(),
            count: 0,
            self_bytes: 0,
            retained_bytes: 0,
        })
        .collect();
    for n in 1..dump.node_count() {
        let row = &mut rows[groups.of_node(dump, n) as usize];
        row.count += 1;
        row.self_bytes += u64::from(dump.self_size(n));
    }
    let tree = graph.tree();
    let retained = tree.class_retained(
        &tree.dominated(),
        &|n| groups.of_node(dump, n),
        groups.names.len(),
        &|n| n != ROOT,
    );
    ConstructorSummary::finish(&mut rows, retained);
    HeapSummary {
        schema: SUMMARY_SCHEMA.to_string(),
        format: DumpFormat::Hprof,
        nodes: dump.object_count(),
        edges: dump.reference_count(),
        total_bytes: tree.total(),
        constructors: rows,
    }
}

/// Objects per class name: what a comparison of two dumps can rely on, as
/// object ids are addresses that the garbage collector changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassHistogram {
    /// Class name → (count, shallow bytes).
    pub classes: BTreeMap<String, (u64, u64)>,
}

impl ClassHistogram {
    /// Counts the dump's objects per class name.
    pub fn new(dump: &HprofDump) -> ClassHistogram {
        let groups = NameGroups::new(dump);
        let mut totals = vec![(0u64, 0u64); groups.names.len()];
        for n in 1..dump.node_count() {
            let row = &mut totals[groups.of_node(dump, n) as usize];
            row.0 += 1;
            row.1 += u64::from(dump.self_size(n));
        }
        ClassHistogram {
            classes: groups
                .names
                .into_iter()
                .zip(totals)
                .filter(|(_, (count, _))| *count > 0)
                .collect(),
        }
    }

    /// Objects counted.
    pub fn objects(&self) -> u64 {
        self.classes.values().map(|v| v.0).sum()
    }

    /// Objects of class `name`.
    pub fn count(&self, name: &str) -> u64 {
        self.classes.get(name).map_or(0, |v| v.0)
    }
}

/// Compares two dumps class by class.
pub fn diff(before: &ClassHistogram, after: &ClassHistogram) -> HeapDiff {
    let mut names: Vec<&String> = before.classes.keys().chain(after.classes.keys()).collect();
    names.sort();
    names.dedup();
    let mut constructors: Vec<ConstructorDiff> = names
        .into_iter()
        .filter_map(|name| {
            let (c0, b0) = before.classes.get(name).copied().unwrap_or((0, 0));
            let (c1, b1) = after.classes.get(name).copied().unwrap_or((0, 0));
            if c0 == c1 && b0 == b1 {
                return None;
            }
            Some(ConstructorDiff {
                name: name.clone(),
                new: c1.saturating_sub(c0),
                deleted: c0.saturating_sub(c1),
                delta: c1 as i64 - c0 as i64,
                alloc_bytes: b1.saturating_sub(b0),
                freed_bytes: b0.saturating_sub(b1),
                size_delta: b1 as i64 - b0 as i64,
            })
        })
        .collect();
    constructors.sort_by(|a, b| {
        b.size_delta
            .cmp(&a.size_delta)
            .then_with(|| a.name.cmp(&b.name))
    });
    HeapDiff {
        schema: DIFF_SCHEMA.to_string(),
        format: DumpFormat::Hprof,
        matched_by: "count".to_string(),
        before_objects: before.objects(),
        after_objects: after.objects(),
        shared_objects: None,
        warnings: Vec::new(),
        constructors,
    }
}
