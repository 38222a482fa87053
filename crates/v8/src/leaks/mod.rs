//! Three-snapshot leak finding (memlab's method), clustered by retainer path.
//!
//! Take BASELINE, exercise the program (the action that may leak), take
//! TARGET, let it settle (or exercise it again), take FINAL. An object leaked
//! if its id is absent from BASELINE, present in TARGET and still present in
//! FINAL: it was made by the action and outlived it.
//!
//! Leaked objects are then
//! 1. filtered: V8 and Node.js internals (hidden nodes, code, maps, internal
//!    arrays, heap numbers) and objects only Node.js itself keeps (see
//!    [`internal`]) are left out;
//! 2. grouped by constructor ([`LeakedConstructor`]);
//! 3. clustered: objects with a constructor name are grouped by how they
//!    are held — their constructor, the chain of new objects between them and
//!    the first pre-existing object that dominates them (the holder), and how
//!    that holder is reached (see [`holder`]) — so a thousand objects held the
//!    same way are one finding; functions, strings and other unnamed objects
//!    form clusters only when no named leaked object is held through them;
//! 4. diagnosed: each cluster gets a [`Cause`] and a recommendation.

mod cause;
mod holder;
mod internal;
mod path;
mod roots;

use std::collections::HashMap;

use heapwise_heap::{DumpFormat, LEAKS_SCHEMA, LeakCluster, LeakReport, LeakedConstructor};

use crate::graph::{HeapGraph, NO_DISTANCE};
use crate::snapshot::{HeapSnapshot, NodeType};

/// Knobs of the leak search.
#[derive(Debug, Clone)]
pub struct LeakOptions {
    /// Keep objects that only Node.js internals retain (off by default).
    pub include_internals: bool,
    /// Object ids listed per cluster, for looking them up in DevTools (`@id`).
    pub sample_ids: usize,
    /// An accumulation point is reported when it holds at least this many
    /// leaked objects directly (its entries).
    pub min_entries: u64,
}

impl Default for LeakOptions {
    fn default() -> Self {
        LeakOptions {
            include_internals: false,
            sample_ids: 5,
            min_entries: 2,
        }
    }
}

/// Finds leaked objects in `final_graph`, given the sorted node ids of the
/// baseline and target snapshots (see [`crate::read_node_ids`]).
pub fn find_leaks(
    baseline_ids: &[u32],
    target_ids: &[u32],
    final_graph: &HeapGraph,
    options: &LeakOptions,
) -> LeakReport {
    let s = final_graph.snapshot();
    let mut warnings = Vec::new();
    if !baseline_ids.is_empty() && !target_ids.is_empty() && !shares_any(baseline_ids, target_ids) {
        warnings.push(
            "BASELINE and TARGET share no object id: they come from different processes, so every object looks \
             new. Take all three snapshots from one running process."
                .to_string(),
        );
    }
    let mut leaked = vec![false; s.node_count() as usize];
    let mut leaked_count = 0u64;
    let mut any_in_final = false;
    for node in 0..s.node_count() {
        let id = s.node_id(node);
        let in_target = target_ids.binary_search(&id).is_ok();
        any_in_final |= in_target;
        if !in_target || baseline_ids.binary_search(&id).is_ok() {
            continue;
        }
        if !is_candidate(s, node) || final_graph.distance(node) == NO_DISTANCE {
            continue;
        }
        if !options.include_internals && internal::is_internal(final_graph, node) {
            continue;
        }
        leaked[node as usize] = true;
        leaked_count += 1;
    }
    if !target_ids.is_empty() && !any_in_final {
        warnings.push(
            "TARGET and FINAL share no object id: they come from different processes, so nothing can be \
             followed from one to the other."
                .to_string(),
        );
    }

    let (by_constructor, self_bytes) = group_by_constructor(final_graph, &leaked);
    let is_new = |node: u32| baseline_ids.binary_search(&s.node_id(node)).is_err();
    let (clusters, members) = cluster(final_graph, &leaked, &is_new, options);
    let roots = roots::find(final_graph, &leaked, &is_new, &clusters, &members, options);
    LeakReport {
        schema: LEAKS_SCHEMA.to_string(),
        format: DumpFormat::V8,
        leaked_objects: leaked_count,
        leaked_self_bytes: self_bytes,
        by_constructor,
        roots,
        clusters,
        warnings,
    }
}

/// Node kinds a program allocates (as opposed to V8's own structures).
fn is_candidate(s: &HeapSnapshot, node: u32) -> bool {
    !matches!(
        s.node_type(node),
        NodeType::Hidden
            | NodeType::Code
            | NodeType::Synthetic
            | NodeType::ObjectShape
            | NodeType::Number
            | NodeType::Array
    )
}

/// Whether a node has a constructor name (objects and native objects).
fn is_named(s: &HeapSnapshot, node: u32) -> bool {
    matches!(s.node_type(node), NodeType::Object | NodeType::Native)
}

fn shares_any(a: &[u32], b: &[u32]) -> bool {
    let (small, large) = if a.len() < b.len() { (a, b) } else { (b, a) };
    small.iter().any(|id| large.binary_search(id).is_ok())
}

fn group_by_constructor(graph: &HeapGraph, leaked: &[bool]) -> (Vec<LeakedConstructor>, u64) {
    let s = graph.snapshot();
    let (classes, keys) = crate::summary::class_indices(s);
    let mut rows: Vec<LeakedConstructor> = keys
        .iter()
        .map(|&k| LeakedConstructor {
            name: s.class_key_name(k),
            count: 0,
            self_bytes: 0,
            retained_bytes: 0,
        })
        .collect();
    let mut total_self = 0;
    for (node, _) in leaked.iter().enumerate().filter(|(_, l)| **l) {
        let row = &mut rows[classes[node] as usize];
        row.count += 1;
        row.self_bytes += u64::from(s.self_size(node as u32));
        total_self += u64::from(s.self_size(node as u32));
    }
    let retained =
        crate::summary::class_retained(graph, &classes, keys.len(), |n| leaked[n as usize]);
    for (row, bytes) in rows.iter_mut().zip(retained) {
        row.retained_bytes = bytes;
    }
    rows.retain(|r| r.count > 0);
    rows.sort_by(|a, b| {
        b.retained_bytes
            .cmp(&a.retained_bytes)
            .then_with(|| a.name.cmp(&b.name))
    });
    (rows, total_self)
}

fn cluster(
    graph: &HeapGraph,
    leaked: &[bool],
    is_new: &dyn Fn(u32) -> bool,
    options: &LeakOptions,
) -> (Vec<LeakCluster>, Vec<Vec<u32>>) {
    let s = graph.snapshot();
    let n = s.node_count() as usize;
    // Nodes on the path of a named leaked object: unnamed leaked objects there
    // are part of that finding, not findings of their own.
    let mut covered = vec![false; n];
    let mut paths: HashMap<u32, Vec<u32>> = HashMap::new();
    for node in (0..n as u32).filter(|&x| leaked[x as usize] && is_named(s, x)) {
        let path = graph.retainer_path(node);
        for &e in path.iter().rev() {
            let from = graph.edge_source(e) as usize;
            if covered[from] {
                break;
            }
            covered[from] = true;
        }
        paths.insert(node, path);
    }

    let mut keys = holder::HolderKeys::new(graph, is_new);
    let mut groups: HashMap<(crate::ClassKey, holder::HolderKey), Vec<u32>> = HashMap::new();
    for node in (0..n as u32).filter(|&x| leaked[x as usize]) {
        let path = match paths.remove(&node) {
            Some(path) => path,
            None => {
                if covered[node as usize] {
                    continue;
                }
                let path = graph.retainer_path(node);
                if path.iter().any(|&e| leaked[graph.edge_source(e) as usize]) {
                    continue;
                }
                path
            }
        };
        let key = (s.class_key(node), keys.key(node));
        groups.entry(key).or_default().push(node);
        paths.insert(node, path);
    }

    // Retained bytes per cluster without counting nested members twice.
    let mut cluster_of = vec![0u32; n];
    let none = groups.len() as u32;
    cluster_of.iter_mut().for_each(|c| *c = none);
    let groups: Vec<(crate::ClassKey, Vec<u32>)> = groups
        .into_iter()
        .map(|((k, _), nodes)| (k, nodes))
        .collect();
    for (index, (_, nodes)) in groups.iter().enumerate() {
        for &node in nodes {
            cluster_of[node as usize] = index as u32;
        }
    }
    let retained = crate::summary::class_retained(graph, &cluster_of, groups.len() + 1, |x| {
        cluster_of[x as usize] != none
    });

    let mut clusters: Vec<(LeakCluster, &Vec<u32>)> = groups
        .iter()
        .enumerate()
        .map(|(index, (class, nodes))| {
            let constructor = s.class_key_name(*class);
            // The member with the shortest path makes the clearest example.
            let example = nodes
                .iter()
                .copied()
                .min_by_key(|x| paths.get(x).map_or(usize::MAX, Vec::len))
                .unwrap_or(nodes[0]);
            let path = paths.get(&example).map_or(&[][..], Vec::as_slice);
            let diagnosis = cause::diagnose(graph, path, example, &constructor);
            let cluster = LeakCluster {
                count: nodes.len() as u64,
                retained_bytes: retained[index],
                cause: diagnosis.cause,
                recommendation: diagnosis.recommendation,
                retainer_path: path::steps(graph, path),
                sample_ids: nodes
                    .iter()
                    .take(options.sample_ids)
                    .map(|&x| u64::from(s.node_id(x)))
                    .collect(),
                constructor,
            };
            (cluster, nodes)
        })
        .collect();
    clusters.sort_by(|(a, _), (b, _)| {
        b.retained_bytes
            .cmp(&a.retained_bytes)
            .then_with(|| b.count.cmp(&a.count))
            .then_with(|| a.constructor.cmp(&b.constructor))
            .then_with(|| a.sample_ids.cmp(&b.sample_ids))
    });
    clusters
        .into_iter()
        .map(|(cluster, nodes)| (cluster, nodes.clone()))
        .unzip()
}
