//! Accumulation points: where the objects of growing classes pile up.
//!
//! The dominator tree is walked from the root. At each object, its
//! dominated children are counted per growing class; when one class has at
//! least `min_entries` children there, the object is an accumulation point
//! for that class: those children are its *entries* (the map's nodes, the
//! list's elements, the listeners) and everything they dominate is *held*
//! by it. A point's entries are not searched for further points, so a
//! session's own small list is part of the session's entry, not a point of
//! its own. An array whose dominator holds it directly (a HashMap's table,
//! an ArrayList's `elementData`) is reported as that owner.

use rustc_hash::FxHashMap;

use crate::graph::HprofGraph;
use crate::model::{ClassKind, ROOT};
use crate::summary::NameGroups;

/// One accumulation point in the last dump.
#[derive(Debug, Clone)]
pub(crate) struct Point {
    /// The node people see: the collection, list or object.
    pub(crate) holder: u32,
    /// Its entries: the dominated children of the growing classes.
    pub(crate) entries: Vec<u32>,
    /// Objects of growing classes held (entries and what they dominate), per name group.
    pub(crate) held: FxHashMap<u32, Vec<u32>>,
    /// Bytes the entries keep alive.
    pub(crate) retained: u64,
}

/// Finds the points holding objects of the `growing` name groups.
pub(crate) fn find(
    graph: &HprofGraph,
    groups: &NameGroups,
    growing: &[bool],
    min_entries: usize,
) -> Vec<Point> {
    let dump = graph.dump();
    let tree = graph.tree();
    let dominated = tree.dominated();
    let mut points: FxHashMap<u32, Point> = FxHashMap::default();
    let mut counts: FxHashMap<u32, usize> = FxHashMap::default();
    let mut stack = vec![ROOT];
    while let Some(node) = stack.pop() {
        let children = dominated.of(node);
        let can_hold = node != ROOT && dump.class_described(node).is_none();
        counts.clear();
        if can_hold {
            for &child in children {
                let g = groups.of_node(dump, child);
                if growing[g as usize] && dump.class_described(child).is_none() {
                    *counts.entry(g).or_default() += 1;
                }
            }
        }
        let accumulating: Vec<u32> = counts
            .iter()
            .filter(|&(_, &n)| n >= min_entries)
            .map(|(&g, _)| g)
            .collect();
        for &child in children {
            let g = groups.of_node(dump, child);
            if accumulating.contains(&g) && dump.class_described(child).is_none() {
                let holder = owner(graph, node);
                let point = points.entry(holder).or_insert_with(|| Point {
                    holder,
                    entries: Vec::new(),
                    held: FxHashMap::default(),
                    retained: 0,
                });
                point.entries.push(child);
                point.retained += tree.retained_size(child);
                collect(graph, &dominated, groups, growing, child, &mut point.held);
            } else {
                stack.push(child);
            }
        }
    }
    let mut points: Vec<Point> = points.into_values().collect();
    points.sort_by(|a, b| b.retained.cmp(&a.retained).then(a.holder.cmp(&b.holder)));
    points
}

/// The object people know an array by: the instance that dominates it and holds it directly.
fn owner(graph: &HprofGraph, node: u32) -> u32 {
    let dump = graph.dump();
    let array = !matches!(
        dump.classes()[dump.class_of(node) as usize].kind,
        ClassKind::Instance
    );
    if !array {
        return node;
    }
    let parent = graph.dominator(node);
    if parent == ROOT || dump.class_described(parent).is_some() {
        return node;
    }
    let holds_directly = dump.edges_of(parent).any(|e| dump.edge_target(e) == node);
    if holds_directly { parent } else { node }
}

/// Adds the objects of growing classes in `start`'s dominator subtree to `held`.
fn collect(
    graph: &HprofGraph,
    dominated: &heapwise_heap::Dominated,
    groups: &NameGroups,
    growing: &[bool],
    start: u32,
    held: &mut FxHashMap<u32, Vec<u32>>,
) {
    let dump = graph.dump();
    let mut stack = vec![start];
    while let Some(node) = stack.pop() {
        let g = groups.of_node(dump, node);
        if growing[g as usize] {
            held.entry(g).or_default().push(node);
        }
        stack.extend_from_slice(dominated.of(node));
    }
}
