//! Summary by constructor, as DevTools' "Summary" view.

use std::collections::HashMap;

use heapwise_heap::{ConstructorSummary, DumpFormat, HeapSummary, SUMMARY_SCHEMA};

use crate::graph::HeapGraph;
use crate::snapshot::{ClassKey, HeapSnapshot, NodeType};

/// Whether DevTools counts a node in its class aggregates: it skips empty
/// nodes (the synthetic roots and such), except native ones.
pub(crate) fn counted(snapshot: &HeapSnapshot, node: u32) -> bool {
    snapshot.self_size(node) > 0 || snapshot.node_type(node) == NodeType::Native
}

/// Dense class numbers for every node, and the key of each number.
pub(crate) fn class_indices(snapshot: &HeapSnapshot) -> (Vec<u32>, Vec<ClassKey>) {
    let mut index_of: HashMap<ClassKey, u32> = HashMap::new();
    let mut keys = Vec::new();
    let classes = (0..snapshot.node_count())
        .map(|n| {
            let key = snapshot.class_key(n);
            *index_of.entry(key).or_insert_with(|| {
                keys.push(key);
                keys.len() as u32 - 1
            })
        })
        .collect();
    (classes, keys)
}

/// Groups the snapshot by constructor.
pub fn summarize(graph: &HeapGraph) -> HeapSummary {
    let snapshot = graph.snapshot();
    let (classes, keys) = class_indices(snapshot);
    let mut rows: Vec<ConstructorSummary> = keys
        .iter()
        .map(|&key| ConstructorSummary {
            name: snapshot.class_key_name(key),
            count: 0,
            self_bytes: 0,
            retained_bytes: 0,
        })
        .collect();
    for node in 0..snapshot.node_count() {
        if counted(snapshot, node) {
            let row = &mut rows[classes[node as usize] as usize];
            row.count += 1;
            row.self_bytes += u64::from(snapshot.self_size(node));
        }
    }
    let retained = class_retained(graph, &classes, keys.len(), |node| counted(snapshot, node));
    ConstructorSummary::finish(&mut rows, retained);
    HeapSummary {
        schema: SUMMARY_SCHEMA.to_string(),
        format: DumpFormat::V8,
        nodes: u64::from(snapshot.node_count()),
        edges: u64::from(snapshot.edge_count()),
        total_bytes: graph.total_bytes(),
        constructors: rows,
    }
}

/// Retained bytes per class, counting each object only when no dominator of it
/// (up to the root) is an included object of the same class, so nested objects
/// of one class are not counted twice.
pub(crate) fn class_retained(
    graph: &HeapGraph,
    classes: &[u32],
    class_count: usize,
    include: impl Fn(u32) -> bool,
) -> Vec<u64> {
    graph.tree().class_retained(
        &graph.dominated(),
        &|n| classes[n as usize],
        class_count,
        &include,
    )
}
