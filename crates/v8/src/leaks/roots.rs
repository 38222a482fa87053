//! Roots: the accumulation points that hold the leaked objects.
//!
//! Every leaked object has a *holder*, the first object above it in the
//! dominator tree that existed before the action (see [`super::holder`]).
//! Objects with the same holder accumulate in one place, however many
//! constructors and paths they span: the listeners of one EventEmitter hold
//! requests, responses, sockets and their buffers, which are one finding,
//! not a cluster each. A holder that is an engine array (a Map's `table`, an
//! array's `elements`) is reported as the object that owns it.
//!
//! A root's *entries* are the leaked objects it holds directly — walking up
//! from one, the holder comes before any other leaked object, and something
//! outside the leak refers to it: the listener functions, the Map's values
//! (not a string that a leaked request and a leaked Map value share, whose
//! dominator is merely their common ancestor). A root needs at least
//! `min_entries` of them.

use std::collections::HashMap;

use heapwise_heap::{HeldConstructor, LeakCluster, LeakRoot};

use super::LeakOptions;
use super::holder::HolderKeys;
use super::path::{display_name, normalized_edge, steps};
use crate::graph::HeapGraph;
use crate::snapshot::NodeType;

/// Edges by which an object holds its backing store.
const BACKING_EDGES: &[&str] = &["table", "elements", "properties"];

pub(crate) fn find(
    graph: &HeapGraph,
    leaked: &[bool],
    is_new: &dyn Fn(u32) -> bool,
    clusters: &[LeakCluster],
    members: &[Vec<u32>],
    options: &LeakOptions,
) -> Vec<LeakRoot> {
    let s = graph.snapshot();
    let root = s.root();
    let mut keys = HolderKeys::new(graph, is_new);
    // Raw holder → the leaked objects it holds.
    let mut by_holder: HashMap<u32, Vec<u32>> = HashMap::new();
    for node in (0..s.node_count()).filter(|&n| leaked[n as usize]) {
        let holder = keys.holder(node);
        if holder != root && s.node_type(holder) != NodeType::Synthetic {
            by_holder.entry(holder).or_default().push(node);
        }
    }
    // Merge the holders that are one object's backing stores.
    let mut by_owner: HashMap<u32, (Vec<u32>, Vec<u32>)> = HashMap::new();
    for (holder, nodes) in by_holder {
        let owner = owner(graph, holder);
        let entry = by_owner.entry(owner).or_default();
        entry.0.push(holder);
        entry.1.extend(nodes);
    }
    let mut cluster_of: HashMap<u32, usize> = HashMap::new();
    for (index, nodes) in members.iter().enumerate() {
        for &node in nodes {
            cluster_of.insert(node, index);
        }
    }
    let mut roots: Vec<LeakRoot> = by_owner
        .into_iter()
        .filter_map(|(owner, (holders, nodes))| {
            let entries: Vec<u32> = nodes
                .iter()
                .copied()
                .filter(|&n| {
                    // Held directly: something outside the leak refers to it
                    // (not, say, a string that two leaked objects share).
                    if graph.retainers(n).all(|(_, from)| leaked[from as usize]) {
                        return false;
                    }
                    let mut up = graph.dominator(n);
                    while !holders.contains(&up) && up != root {
                        if leaked[up as usize] {
                            return false;
                        }
                        up = graph.dominator(up);
                    }
                    up != root
                })
                .collect();
            if (entries.len() as u64) < options.min_entries.max(1) {
                return None;
            }
            let mut held: HashMap<String, u64> = HashMap::new();
            for &n in &nodes {
                *held.entry(s.class_name(n)).or_default() += 1;
            }
            let mut holds: Vec<HeldConstructor> = held
                .into_iter()
                .map(|(name, count)| HeldConstructor { name, count })
                .collect();
            holds.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
            let mut cluster_indexes: Vec<usize> = nodes
                .iter()
                .filter_map(|n| cluster_of.get(n).copied())
                .collect();
            cluster_indexes.sort_unstable();
            cluster_indexes.dedup();
            // The largest cluster held here says why (clusters are sorted by size).
            let lead = cluster_indexes.first().map(|&i| &clusters[i]);
            let path_edges = graph.retainer_path(owner);
            let holder = describe(graph, owner, &path_edges);
            Some(LeakRoot {
                cause: lead.map_or(heapwise_heap::Cause::Unknown, |c| c.cause),
                recommendation: lead.map_or_else(
                    || {
                        format!(
                            "Objects accumulate in {holder}: release them when their work is done."
                        )
                    },
                    |c| c.recommendation.clone(),
                ),
                holder,
                holder_class: s.class_name(owner),
                holder_id: u64::from(s.node_id(owner)),
                path: steps(graph, &path_edges),
                objects: nodes.len() as u64,
                entries: entries.len() as u64,
                baseline_entries: None,
                retained_bytes: entries.iter().map(|&n| graph.retained_size(n)).sum(),
                holds,
                clusters: cluster_indexes,
            })
        })
        .collect();
    roots.sort_by(|a, b| {
        b.retained_bytes
            .cmp(&a.retained_bytes)
            .then_with(|| b.objects.cmp(&a.objects))
            .then_with(|| a.holder_id.cmp(&b.holder_id))
    });
    roots
}

/// The object that owns `holder` when `holder` is its backing store.
fn owner(graph: &HeapGraph, holder: u32) -> u32 {
    let s = graph.snapshot();
    if matches!(s.node_type(holder), NodeType::Object | NodeType::Closure) {
        return holder;
    }
    let parent = graph.dominator(holder);
    let holds_it = s.edges_of(parent).any(|e| {
        s.edge_target(e) == holder && BACKING_EDGES.contains(&normalized_edge(s, e).as_str())
    });
    if holds_it && parent != s.root() {
        parent
    } else {
        holder
    }
}

/// A point as people name it: `the 'shutdown' listeners of EventEmitter 'bus'`, `Map 'audit'`.
fn describe(graph: &HeapGraph, node: u32, path: &[u32]) -> String {
    let s = graph.snapshot();
    let name = |i: usize| path.get(i).map(|&e| normalized_edge(s, e));
    let last = path.len().checked_sub(1);
    let class = display_name(s, node);
    // `emitter._events.<event>` → the listeners of that event.
    if let Some(at) = last
        && at >= 1
        && matches!(name(at - 1).as_deref(), Some("_events" | "Symbol(kEvents)"))
    {
        let event = name(at).unwrap_or_default();
        let emitter_node = graph.edge_source(path[at - 1]);
        let emitter = display_name(s, emitter_node);
        let variable = at
            .checked_sub(2)
            .and_then(name)
            .filter(|v| v != "[]")
            .map_or_else(String::new, |v| format!(" '{v}'"));
        return format!("the '{event}' listeners of {emitter}{variable}");
    }
    match last.and_then(name).filter(|v| v != "[]") {
        Some(variable) => format!("{class} '{variable}'"),
        None => class,
    }
}
