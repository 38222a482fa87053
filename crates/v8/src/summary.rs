//! Summary by constructor, as DevTools' "Summary" view.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::graph::HeapGraph;
use crate::snapshot::{ClassKey, HeapSnapshot, NodeType};

/// Schema string of [`HeapSummary`].
pub const SUMMARY_SCHEMA: &str = "heapwise.heap-summary/1";

/// `heapwise heap summary`: what the heap holds, grouped by constructor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeapSummary {
    /// Always [`SUMMARY_SCHEMA`].
    pub schema: String,
    /// Nodes in the snapshot.
    pub nodes: u64,
    /// Edges in the snapshot.
    pub edges: u64,
    /// Sum of all self sizes, in bytes.
    pub total_bytes: u64,
    /// One entry per constructor, largest `retained_bytes` first.
    pub constructors: Vec<ConstructorSummary>,
}

/// One constructor (class) in a [`HeapSummary`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConstructorSummary {
    /// The constructor, or `(closure)`, `(string)`, `(system)`... for other kinds of node.
    pub name: String,
    /// Number of objects.
    pub count: u64,
    /// Sum of their own sizes, in bytes.
    pub self_bytes: u64,
    /// Bytes freed if all of them were released: the retained sizes of the
    /// objects not dominated by another object of the same constructor.
    pub retained_bytes: u64,
}

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
    for (row, bytes) in rows.iter_mut().zip(retained) {
        row.retained_bytes = bytes;
    }
    rows.retain(|r| r.count > 0);
    rows.sort_by(|a, b| {
        b.retained_bytes
            .cmp(&a.retained_bytes)
            .then_with(|| a.name.cmp(&b.name))
    });
    HeapSummary {
        schema: SUMMARY_SCHEMA.to_string(),
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
    let (first, children) = graph.dominated();
    let mut totals = vec![0u64; class_count];
    let mut active = vec![0u32; class_count];
    let root = graph.snapshot().root();
    // Stack of (node, next child offset); a node's class is active while it is on the stack.
    let mut stack: Vec<(u32, u32)> = vec![(root, first[root as usize])];
    let enter = |node: u32, active: &mut Vec<u32>, totals: &mut Vec<u64>| {
        if include(node) {
            let class = classes[node as usize] as usize;
            if active[class] == 0 {
                totals[class] += graph.retained_size(node);
            }
            active[class] += 1;
        }
    };
    enter(root, &mut active, &mut totals);
    while let Some(top) = stack.last_mut() {
        let (node, next) = *top;
        if next < first[node as usize + 1] {
            top.1 += 1;
            let child = children[next as usize];
            enter(child, &mut active, &mut totals);
            stack.push((child, first[child as usize]));
        } else {
            stack.pop();
            if include(node) {
                active[classes[node as usize] as usize] -= 1;
            }
        }
    }
    totals
}
