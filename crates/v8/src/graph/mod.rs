//! The object graph: retainers, distances, dominators and retained sizes.
//!
//! The rules follow Chrome DevTools (`HeapSnapshot.ts`) so that the numbers a
//! person sees here are the numbers DevTools shows for the same file:
//!
//! - an edge *retains* (takes part in the dominator tree) unless it is weak,
//!   a shortcut from anything but the root, the table side of a WeakMap entry
//!   (the key side is kept), or goes from an object the page does not own to
//!   one it owns (owned = reachable from the root's user globals);
//! - nodes the root cannot reach through retaining edges hang off the root;
//! - distances are breadth-first from the user roots (the non-synthetic
//!   children of the root: in Node.js, `global`), weak edges skipped; what is
//!   only reachable from the system roots gets [`SYSTEM_DISTANCE`] plus its depth.

use std::collections::HashMap;
use std::sync::OnceLock;

use heapwise_heap::{Dominated, DominatorGraph, DominatorTree};

use crate::snapshot::{EdgeType, HeapSnapshot, NodeType};

/// Distance base for nodes reachable only from system roots (as in DevTools).
pub const SYSTEM_DISTANCE: u32 = 100_000_000;
/// Distance of a node that no edge reaches.
pub const NO_DISTANCE: u32 = u32::MAX;
const NO_EDGE: u32 = u32::MAX;

/// A snapshot with everything derived from its graph.
pub struct HeapGraph {
    snapshot: HeapSnapshot,
    /// Every edge pointing at each node (CSR), built on first use: the
    /// summary never needs it, and it is not held while dominators are computed.
    retainers: OnceLock<Retainers>,
    page_owned: Vec<bool>,
    /// String index → WeakMap table id, for `... pair in WeakMap (table @N)` names.
    weakmap_entry_names: HashMap<u32, u32>,
    distance: Vec<u32>,
    parent_edge: Vec<u32>,
    tree: DominatorTree,
    raw: RawTypes,
}

/// The edges pointing at each node: `edge[first[n]..first[n + 1]]`.
struct Retainers {
    first: Vec<u32>,
    edge: Vec<u32>,
}

/// What to compute beyond dominators and retained sizes.
#[derive(Debug, Clone, Copy)]
pub struct GraphOptions {
    /// Distances and shortest retainer paths (needed by leaks, not by a summary).
    pub paths: bool,
}

impl Default for GraphOptions {
    fn default() -> Self {
        GraphOptions { paths: true }
    }
}

/// The essential edges reversed (sources only), for the dominator computation;
/// dropped once dominators are known.
struct EssentialPredecessors<'g> {
    graph: &'g HeapGraph,
    /// One bit per edge: whether it is essential (computed once, read three times).
    essential: Vec<u64>,
    first: Vec<u32>,
    source: Vec<u32>,
    /// Nodes whose every retainer is weak or a shortcut (and that have one).
    only_weak: Vec<bool>,
}

/// Raw type indices used in hot loops (`u32::MAX` when absent).
#[derive(Clone, Copy)]
struct RawTypes {
    weak: u32,
    shortcut: u32,
    internal: u32,
    synthetic: u32,
    hidden_node: u32,
    array_node: u32,
}

impl HeapGraph {
    /// Builds distances, the dominator tree and retained sizes.
    ///
    /// `phase`, when given, is told the name of each step as it starts.
    pub fn build(snapshot: HeapSnapshot, phase: Option<&mut dyn FnMut(&str)>) -> HeapGraph {
        HeapGraph::build_with(snapshot, GraphOptions::default(), phase)
    }

    /// Builds the dominator tree and retained sizes, and distances and
    /// retainer paths when `options.paths` asks for them.
    pub fn build_with(
        snapshot: HeapSnapshot,
        options: GraphOptions,
        mut phase: Option<&mut dyn FnMut(&str)>,
    ) -> HeapGraph {
        let mut say = |what: &str| {
            if let Some(f) = phase.as_mut() {
                f(what);
            }
        };
        let raw = RawTypes {
            weak: snapshot.edge_type_index(EdgeType::Weak).unwrap_or(u32::MAX),
            shortcut: snapshot
                .edge_type_index(EdgeType::Shortcut)
                .unwrap_or(u32::MAX),
            internal: snapshot
                .edge_type_index(EdgeType::Internal)
                .unwrap_or(u32::MAX),
            synthetic: snapshot
                .node_type_index(NodeType::Synthetic)
                .unwrap_or(u32::MAX),
            hidden_node: snapshot
                .node_type_index(NodeType::Hidden)
                .unwrap_or(u32::MAX),
            array_node: snapshot
                .node_type_index(NodeType::Array)
                .unwrap_or(u32::MAX),
        };
        let weakmap_entry_names = weakmap_entry_names(&snapshot);
        let mut graph = HeapGraph {
            page_owned: Vec::new(),
            snapshot,
            retainers: OnceLock::new(),
            weakmap_entry_names,
            distance: Vec::new(),
            parent_edge: Vec::new(),
            tree: DominatorTree::empty(),
            raw,
        };
        say("marking user objects");
        graph.page_owned = graph.mark_page_owned();
        if options.paths {
            say("computing distances");
            graph.compute_distances();
        }
        say("building retainers");
        let tree = {
            let predecessors = EssentialPredecessors::new(&graph);
            say("computing dominators");
            DominatorTree::build(&predecessors, |n| u64::from(graph.snapshot.self_size(n)))
        };
        graph.tree = tree;
        graph
    }

    /// The snapshot this graph was built from.
    pub fn snapshot(&self) -> &HeapSnapshot {
        &self.snapshot
    }

    /// Retained size of `node`: its own size plus everything it dominates.
    pub fn retained_size(&self, node: u32) -> u64 {
        self.tree.retained_size(node)
    }

    /// Immediate dominator of `node` (the root's is the root).
    pub fn dominator(&self, node: u32) -> u32 {
        self.tree.dominator(node)
    }

    /// The dominator tree.
    pub fn tree(&self) -> &DominatorTree {
        &self.tree
    }

    /// Breadth-first distance of `node` from the user roots; see [`SYSTEM_DISTANCE`]
    /// ([`NO_DISTANCE`] when the graph was built without paths).
    pub fn distance(&self, node: u32) -> u32 {
        self.distance
            .get(node as usize)
            .copied()
            .unwrap_or(NO_DISTANCE)
    }

    /// Total of all self sizes (the root's retained size).
    pub fn total_bytes(&self) -> u64 {
        self.tree.total()
    }

    /// The retainers of `node` as `(edge, source node)` pairs.
    pub fn retainers(&self, node: u32) -> impl Iterator<Item = (u32, u32)> + '_ {
        let retainers = self
            .retainers
            .get_or_init(|| build_retainers(&self.snapshot));
        let range =
            retainers.first[node as usize] as usize..retainers.first[node as usize + 1] as usize;
        retainers.edge[range]
            .iter()
            .map(move |&e| (e, self.edge_source(e)))
    }

    /// The edges of the shortest path from the root to `node`, found by the
    /// breadth-first search that computes distances (user roots first), root side first.
    pub fn retainer_path(&self, node: u32) -> Vec<u32> {
        let mut path = Vec::new();
        let mut current = node;
        let limit = self.snapshot.node_count() as usize;
        while self
            .parent_edge
            .get(current as usize)
            .is_some_and(|&e| e != NO_EDGE)
            && path.len() < limit
        {
            let edge = self.parent_edge[current as usize];
            path.push(edge);
            current = self.edge_source(edge);
        }
        path.reverse();
        path
    }

    /// The node an edge leaves from.
    pub fn edge_source(&self, edge: u32) -> u32 {
        // `first_edge` is sorted: the source is the last node whose first edge is <= edge.
        let first = &self.snapshot.nodes.first_edge;
        (first.partition_point(|&f| f <= edge) - 1) as u32
    }

    /// Children of every node in the dominator tree.
    pub fn dominated(&self) -> Dominated {
        self.tree.dominated()
    }

    /// Whether the edge `e` from `from` keeps its target alive, by DevTools' rules.
    fn is_essential(&self, from: u32, e: u32) -> bool {
        let s = &self.snapshot;
        let kind = u32::from(s.edges.kind[e as usize]);
        let root = s.root();
        if kind == self.raw.weak || (kind == self.raw.shortcut && from != root) {
            return false;
        }
        if kind == self.raw.internal {
            let table = self
                .weakmap_entry_names
                .get(&s.edges.name_or_index[e as usize]);
            if table == Some(&s.nodes.id[from as usize]) {
                return false;
            }
        }
        let to = s.edges.to[e as usize];
        !(from != root && self.page_owned[to as usize] && !self.page_owned[from as usize])
    }

    /// Marks what the root's shortcut edges (the user globals) reach through non-weak edges.
    fn mark_page_owned(&self) -> Vec<bool> {
        let s = &self.snapshot;
        let mut owned = vec![false; s.node_count() as usize];
        let mut stack = Vec::new();
        for e in s.edges_of(s.root()) {
            if u32::from(s.edges.kind[e as usize]) == self.raw.shortcut {
                let to = s.edges.to[e as usize];
                if !owned[to as usize] {
                    owned[to as usize] = true;
                    stack.push(to);
                }
            }
        }
        while let Some(node) = stack.pop() {
            for e in s.edges_of(node) {
                let to = s.edges.to[e as usize];
                if u32::from(s.edges.kind[e as usize]) != self.raw.weak && !owned[to as usize] {
                    owned[to as usize] = true;
                    stack.push(to);
                }
            }
        }
        owned
    }

    /// DevTools' distance filter: skips the NativeContext's `sloppy_function_map`
    /// and the descriptor links of `(map descriptors)` arrays.
    fn distance_edge_allowed(&self, node: u32, e: u32) -> bool {
        let s = &self.snapshot;
        let kind = s.nodes.kind[node as usize];
        if kind == self.raw.hidden_node {
            return !(s.node_name(node) == "system / NativeContext"
                && matches!(s.edge_name(e), crate::EdgeName::Name("sloppy_function_map")));
        }
        if kind == self.raw.array_node && s.node_name(node) == "(map descriptors)" {
            let index = match s.edge_name(e) {
                crate::EdgeName::Index(i) => i,
                crate::EdgeName::Name(name) => match name.parse::<u32>() {
                    Ok(i) => i,
                    Err(_) => return true,
                },
            };
            return index < 2 || index % 3 != 1;
        }
        true
    }

    fn compute_distances(&mut self) {
        let n = self.snapshot.node_count() as usize;
        let root = self.snapshot.root();
        let mut distance = vec![NO_DISTANCE; n];
        let mut parent_edge = vec![NO_EDGE; n];
        let mut queue: Vec<u32> = Vec::with_capacity(1024);
        for e in self.snapshot.edges_of(root) {
            let to = self.snapshot.edges.to[e as usize];
            if self.snapshot.nodes.kind[to as usize] != self.raw.synthetic
                && distance[to as usize] == NO_DISTANCE
            {
                distance[to as usize] = 1;
                parent_edge[to as usize] = e;
                queue.push(to);
            }
        }
        let found_user_roots = !queue.is_empty();
        self.bfs(&mut queue, &mut distance, &mut parent_edge);
        distance[root as usize] = if found_user_roots { SYSTEM_DISTANCE } else { 0 };
        queue.clear();
        queue.push(root);
        self.bfs(&mut queue, &mut distance, &mut parent_edge);
        self.distance = distance;
        self.parent_edge = parent_edge;
    }

    fn bfs(&self, queue: &mut Vec<u32>, distance: &mut [u32], parent_edge: &mut [u32]) {
        let s = &self.snapshot;
        let mut head = 0;
        while head < queue.len() {
            let node = queue[head];
            head += 1;
            let next = distance[node as usize].saturating_add(1);
            for e in s.edges_of(node) {
                if u32::from(s.edges.kind[e as usize]) == self.raw.weak {
                    continue;
                }
                let to = s.edges.to[e as usize];
                if distance[to as usize] != NO_DISTANCE || !self.distance_edge_allowed(node, e) {
                    continue;
                }
                distance[to as usize] = next;
                parent_edge[to as usize] = e;
                queue.push(to);
            }
        }
    }
}

impl<'g> EssentialPredecessors<'g> {
    fn new(graph: &'g HeapGraph) -> Self {
        let s = &graph.snapshot;
        let n = s.node_count() as usize;
        let mut first = vec![0u32; n + 1];
        let mut any = vec![false; n];
        let mut only_weak = vec![true; n];
        let mut essential = vec![0u64; (s.edge_count() as usize).div_ceil(64)];
        for node in 0..n as u32 {
            for e in s.edges_of(node) {
                let to = s.edges.to[e as usize] as usize;
                any[to] = true;
                let kind = u32::from(s.edges.kind[e as usize]);
                if kind != graph.raw.weak && kind != graph.raw.shortcut {
                    only_weak[to] = false;
                }
                if graph.is_essential(node, e) {
                    essential[e as usize / 64] |= 1 << (e % 64);
                    first[to + 1] += 1;
                }
            }
        }
        for (flag, &has) in only_weak.iter_mut().zip(&any) {
            *flag &= has;
        }
        drop(any);
        for i in 0..n {
            first[i + 1] += first[i];
        }
        let mut fill = first.clone();
        let mut source = vec![0u32; first[n] as usize];
        for node in 0..n as u32 {
            for e in s.edges_of(node) {
                if essential[e as usize / 64] & (1 << (e % 64)) != 0 {
                    let to = s.edges.to[e as usize] as usize;
                    source[fill[to] as usize] = node;
                    fill[to] += 1;
                }
            }
        }
        EssentialPredecessors {
            graph,
            essential,
            first,
            source,
            only_weak,
        }
    }
}

impl DominatorGraph for EssentialPredecessors<'_> {
    fn node_count(&self) -> u32 {
        self.graph.snapshot.node_count()
    }

    fn root(&self) -> u32 {
        self.graph.snapshot.root()
    }

    fn for_each_successor(&self, node: u32, f: &mut dyn FnMut(u32)) {
        let s = &self.graph.snapshot;
        for e in s.edges_of(node) {
            if self.essential[e as usize / 64] & (1 << (e % 64)) != 0 {
                f(s.edges.to[e as usize]);
            }
        }
    }

    fn for_each_predecessor(&self, node: u32, f: &mut dyn FnMut(u32)) {
        let range = self.first[node as usize] as usize..self.first[node as usize + 1] as usize;
        for &from in &self.source[range] {
            f(from);
        }
    }

    fn has_only_weak_retainers(&self, node: u32) -> bool {
        self.only_weak[node as usize]
    }
}

/// Retainer lists in CSR form: for each node, the edges pointing at it.
fn build_retainers(s: &HeapSnapshot) -> Retainers {
    let n = s.node_count() as usize;
    let mut first = vec![0u32; n + 1];
    for &to in &s.edges.to {
        first[to as usize + 1] += 1;
    }
    for i in 0..n {
        first[i + 1] += first[i];
    }
    let mut fill = first.clone();
    let mut edge = vec![0u32; s.edges.to.len()];
    for (e, &to) in s.edges.to.iter().enumerate() {
        let slot = fill[to as usize] as usize;
        edge[slot] = e as u32;
        fill[to as usize] += 1;
    }
    Retainers { first, edge }
}

/// Finds the names V8 gives WeakMap entries: `N / part of key (K @1) -> value (V @2) pair in WeakMap (table @3)`.
fn weakmap_entry_names(s: &HeapSnapshot) -> HashMap<u32, u32> {
    const MARK: &str = " pair in WeakMap (table @";
    let mut names = HashMap::new();
    for i in 0..s.strings.len() as u32 {
        let text = s.strings.get(i);
        // Most strings are not WeakMap entry names: check the cheap end first.
        if !text.ends_with(')') {
            continue;
        }
        let Some(at) = text.rfind(MARK) else { continue };
        let Some(rest) = text[at + MARK.len()..].strip_suffix(')') else {
            continue;
        };
        if let Ok(id) = rest.parse::<u32>() {
            names.insert(i, id);
        }
    }
    names
}
