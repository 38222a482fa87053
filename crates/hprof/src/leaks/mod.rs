//! Three-dump leak finding for the JVM.
//!
//! Object ids in an HPROF file are addresses, which the garbage collector
//! changes, so objects cannot be followed from one dump to the next the way
//! V8 snapshot ids can. What is stable is the class and the path from the
//! GC roots. So:
//!
//! 1. classes are counted in BASELINE, TARGET and FINAL; a class *grows*
//!    when `baseline < target <= final` by at least `min_growth` objects:
//!    the action made them and nothing released them; `count` is
//!    `min(target, final) - baseline`;
//! 2. in FINAL, the accumulation points of the growing classes are found in
//!    the dominator tree ([`points`]): the collection, list or object whose
//!    dominated children include at least `min_entries` objects of one
//!    growing class;
//! 3. the same is done in BASELINE ([`Baseline`]), and points are matched
//!    by their shortest path from the GC roots (the class and static field,
//!    the fields and collections on the way): a point that holds no more
//!    entries of its class in FINAL than in BASELINE is the program's steady
//!    state (the JDK's own tables), not a leak;
//! 4. each point is named by that path (a static field, a thread's
//!    ThreadLocal, a listener list...) and given a cause and a recommendation
//!    ([`describe`]); the objects it holds become clusters, one per class,
//!    under it.

mod describe;
mod points;

use rustc_hash::FxHashMap;

use heapwise_heap::{
    DumpFormat, HeldConstructor, LEAKS_SCHEMA, LeakCluster, LeakReport, LeakRoot,
    LeakedConstructor, PathStep,
};

use crate::graph::HprofGraph;
use crate::summary::{ClassHistogram, NameGroups};

/// Knobs of the leak search.
#[derive(Debug, Clone)]
pub struct LeakOptions {
    /// A class grows when it gained at least this many objects.
    pub min_growth: u64,
    /// An object is an accumulation point when it holds at least this many
    /// objects of one growing class directly.
    pub min_entries: usize,
    /// Addresses listed per cluster.
    pub sample_ids: usize,
}

impl Default for LeakOptions {
    fn default() -> Self {
        LeakOptions {
            min_growth: 10,
            min_entries: 10,
            sample_ids: 5,
        }
    }
}

/// What the leak search needs of BASELINE: its classes and its accumulation
/// points, by path, so that the full dump need not be kept.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    histogram: ClassHistogram,
    /// (point signature, entry class) → entries.
    points: FxHashMap<(String, String), u64>,
}

impl Baseline {
    /// Reads what the search needs from BASELINE's graph (built with paths),
    /// given TARGET's classes.
    pub fn new(graph: &HprofGraph, target: &ClassHistogram, options: &LeakOptions) -> Baseline {
        let dump = graph.dump();
        let histogram = ClassHistogram::new(dump);
        let groups = NameGroups::new(dump);
        // Growing so far: more in TARGET than here (FINAL is not known yet).
        let growing: Vec<bool> = groups
            .names
            .iter()
            .map(|name| target.count(name) > histogram.count(name))
            .collect();
        let mut points = FxHashMap::default();
        for point in points::find(graph, &groups, &growing, options.min_entries.max(2)) {
            let path = describe::steps(graph, point.holder);
            let (class, entries) = entry_class(&point, &groups, dump);
            *points
                .entry((signature(graph, point.holder, &path), class))
                .or_default() += entries;
        }
        Baseline { histogram, points }
    }
}

/// The class most of a point's entries are, and how many objects of it the point holds.
fn entry_class(
    point: &points::Point,
    groups: &NameGroups,
    dump: &crate::HprofDump,
) -> (String, u64) {
    let mut counts: FxHashMap<u32, u64> = FxHashMap::default();
    for &e in &point.entries {
        *counts.entry(groups.of_node(dump, e)).or_default() += 1;
    }
    let group = counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .map_or(0, |(g, _)| g);
    let held = point.held.get(&group).map_or(0, |v| v.len() as u64);
    (groups.names[group as usize].clone(), held)
}

/// A point's identity across dumps: its class and its path, element indexes left out.
fn signature(graph: &HprofGraph, holder: u32, path: &[PathStep]) -> String {
    let mut text = String::new();
    for step in path {
        text.push_str(&step.node);
        text.push(' ');
        text.push_str(&step.edge_type);
        text.push(' ');
        text.push_str(&step.edge);
        text.push('\n');
    }
    text.push_str(&graph.node_label(holder));
    text
}

/// Finds what keeps growing over BASELINE, TARGET and FINAL and what holds it in FINAL.
pub fn find_leaks(
    baseline: &Baseline,
    target: &ClassHistogram,
    final_graph: &HprofGraph,
    options: &LeakOptions,
) -> LeakReport {
    let dump = final_graph.dump();
    let last = ClassHistogram::new(dump);
    let groups = NameGroups::new(dump);
    let growth: Vec<u64> = groups
        .names
        .iter()
        .map(|name| {
            let (b, t, f) = (
                baseline.histogram.count(name),
                target.count(name),
                last.count(name),
            );
            if b < t && t <= f { t.min(f) - b } else { 0 }
        })
        .collect();
    let growing: Vec<bool> = growth
        .iter()
        .map(|&g| g >= options.min_growth.max(1))
        .collect();

    let points = points::find(final_graph, &groups, &growing, options.min_entries.max(2));
    let mut roots = Vec::new();
    let mut clusters = Vec::new();
    let mut retained_by_group = vec![0u64; groups.names.len()];
    for point in &points {
        let path = describe::steps(final_graph, point.holder);
        let (entry_name, entries) = entry_class(point, &groups, dump);
        let before = baseline
            .points
            .get(&(signature(final_graph, point.holder, &path), entry_name))
            .copied()
            .unwrap_or(0);
        if entries <= before {
            continue;
        }
        let mut entry_groups: Vec<u32> = point
            .entries
            .iter()
            .map(|&e| groups.of_node(dump, e))
            .collect();
        entry_groups.sort_unstable();
        entry_groups.dedup();
        // Name what a person recognises: the program's own class most held,
        // rather than the collection's internal nodes.
        let own = point
            .held
            .iter()
            .filter(|(g, _)| {
                let name = &groups.names[**g as usize];
                !name.ends_with("[]")
                    && !["java.", "javax.", "jdk.", "sun."]
                        .iter()
                        .any(|p| name.starts_with(p))
            })
            .max_by(|a, b| a.1.len().cmp(&b.1.len()).then(b.0.cmp(a.0)))
            .map(|(&g, _)| g);
        let entry_classes: Vec<String> = match own {
            Some(g) => vec![groups.names[g as usize].clone()],
            None => entry_groups
                .iter()
                .map(|&g| groups.names[g as usize].clone())
                .collect(),
        };
        let loaders = loaders_held(final_graph, point, &groups, options);
        let description =
            describe::describe(final_graph, point.holder, &path, &entry_classes, &loaders);
        let mut holds: Vec<HeldConstructor> = point
            .held
            .iter()
            .map(|(&g, nodes)| HeldConstructor {
                name: groups.names[g as usize].clone(),
                count: nodes.len() as u64,
            })
            .collect();
        holds.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
        let mut cluster_indexes = Vec::new();
        let mut held_groups: Vec<(&u32, &Vec<u32>)> = point.held.iter().collect();
        held_groups.sort_by_key(|(g, _)| **g);
        for (&g, nodes) in held_groups {
            // Not counting a member nested in another member twice.
            let retained: u64 = nodes
                .iter()
                .filter(|&&n| {
                    let mut up = final_graph.dominator(n);
                    while up != crate::ROOT && !point.entries.contains(&up) {
                        if groups.of_node(dump, up) == g {
                            return false;
                        }
                        up = final_graph.dominator(up);
                    }
                    !(up != crate::ROOT && up != n && groups.of_node(dump, up) == g)
                })
                .map(|&n| final_graph.retained_size(n))
                .sum();
            retained_by_group[g as usize] += retained;
            let example = nodes
                .iter()
                .copied()
                .min_by_key(|&n| final_graph.distance(n))
                .unwrap_or(nodes[0]);
            cluster_indexes.push(clusters.len());
            clusters.push(LeakCluster {
                constructor: groups.names[g as usize].clone(),
                count: nodes.len() as u64,
                retained_bytes: retained,
                cause: description.cause,
                recommendation: description.recommendation.clone(),
                retainer_path: describe::steps(final_graph, example),
                sample_ids: nodes
                    .iter()
                    .take(options.sample_ids)
                    .map(|&n| dump.address(n))
                    .collect(),
            });
        }
        let objects: u64 = point.held.values().map(|v| v.len() as u64).sum();
        roots.push(LeakRoot {
            cause: description.cause,
            holder: description.holder,
            holder_class: final_graph.node_label(point.holder),
            holder_id: dump.address(point.holder),
            path,
            objects,
            entries,
            baseline_entries: Some(before),
            retained_bytes: point.retained,
            holds,
            clusters: cluster_indexes,
            recommendation: description.recommendation,
        });
    }
    // Clusters largest first; roots point at them by index, so renumber.
    let mut order: Vec<usize> = (0..clusters.len()).collect();
    order.sort_by(|&a, &b| {
        clusters[b]
            .retained_bytes
            .cmp(&clusters[a].retained_bytes)
            .then_with(|| clusters[a].constructor.cmp(&clusters[b].constructor))
    });
    let mut new_index = vec![0usize; clusters.len()];
    for (to, &from) in order.iter().enumerate() {
        new_index[from] = to;
    }
    for root in &mut roots {
        for index in &mut root.clusters {
            *index = new_index[*index];
        }
        root.clusters.sort_unstable();
    }
    let mut sorted_clusters: Vec<Option<LeakCluster>> = clusters.into_iter().map(Some).collect();
    let clusters: Vec<LeakCluster> = order
        .iter()
        .filter_map(|&i| sorted_clusters[i].take())
        .collect();

    let mut by_constructor: Vec<LeakedConstructor> = groups
        .names
        .iter()
        .enumerate()
        .filter(|&(g, _)| growth[g] > 0)
        .map(|(g, name)| {
            let (count, bytes) = last.classes.get(name).copied().unwrap_or((0, 0));
            let average = bytes.checked_div(count).unwrap_or(0);
            LeakedConstructor {
                name: name.clone(),
                count: growth[g],
                self_bytes: growth[g] * average,
                retained_bytes: retained_by_group[g],
            }
        })
        .collect();
    by_constructor.sort_by(|a, b| {
        b.retained_bytes
            .cmp(&a.retained_bytes)
            .then_with(|| b.self_bytes.cmp(&a.self_bytes))
            .then_with(|| a.name.cmp(&b.name))
    });
    let leaked_objects = by_constructor
        .iter()
        .filter(|c| growth_of(&groups, &growth, &c.name) >= options.min_growth.max(1))
        .map(|c| c.count)
        .sum();
    let leaked_self_bytes = by_constructor
        .iter()
        .filter(|c| growth_of(&groups, &growth, &c.name) >= options.min_growth.max(1))
        .map(|c| c.self_bytes)
        .sum();
    let mut warnings = dump.warnings().to_vec();
    if roots.is_empty() && leaked_objects > 0 {
        warnings.push(format!(
            "classes grew, but no object holds {} or more of their objects directly and more of them than in \
             BASELINE: nothing accumulates in one place",
            options.min_entries
        ));
    }
    LeakReport {
        schema: LEAKS_SCHEMA.to_string(),
        format: DumpFormat::Hprof,
        leaked_objects,
        leaked_self_bytes,
        by_constructor,
        roots,
        clusters,
        warnings,
    }
}

/// The class loaders point `point` keeps alive: its entries, or (at least
/// `min_entries` of them) among the objects it holds.
fn loaders_held(
    graph: &HprofGraph,
    point: &points::Point,
    groups: &NameGroups,
    options: &LeakOptions,
) -> describe::Loaders {
    let dump = graph.dump();
    if point
        .entries
        .iter()
        .any(|&e| describe::is_class_loader(graph, dump.class_of(e)))
    {
        return describe::Loaders::Entries;
    }
    let mut held: Vec<(&str, u64)> = point
        .held
        .iter()
        .filter(|(_, nodes)| {
            nodes
                .first()
                .is_some_and(|&n| describe::is_class_loader(graph, dump.class_of(n)))
        })
        .map(|(&g, nodes)| (groups.names[g as usize].as_str(), nodes.len() as u64))
        .collect();
    let count: u64 = held.iter().map(|h| h.1).sum();
    if count < options.min_entries.max(1) as u64 {
        return describe::Loaders::None;
    }
    held.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let classes: Vec<&str> = held.iter().map(|h| h.0).collect();
    describe::Loaders::Held {
        count,
        classes: classes.join(", "),
    }
}

fn growth_of(groups: &NameGroups, growth: &[u64], name: &str) -> u64 {
    groups
        .names
        .iter()
        .position(|n| n == name)
        .map_or(0, |g| growth[g])
}
