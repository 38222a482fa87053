//! The dump as an object graph: dominators and retained sizes, and the
//! shortest path from the GC roots to any object.
//!
//! Rules (documented in docs/hprof.md):
//! - every non-null reference retains its target except
//!   `java.lang.ref.Reference.referent` (weak, soft, phantom and final
//!   references do not keep their referent alive);
//! - a class retains its superclass, its class loader, its signers and
//!   protection domain, its static fields and constant-pool references;
//! - an object retains its class, as in the JVM (an object keeps its class
//!   loaded, and so its class loader and everything that loader loaded):
//!   this is the edge through which a plugin object kept in a registry keeps
//!   its class loader alive. It is left out for classes a GC root holds
//!   directly (the boot loader's: it could change no dominator), which is
//!   most objects;
//! - objects no GC root reaches hang off the root, as in V8's rules, but
//!   they keep nothing alive: their references count for no object a GC
//!   root reaches (a constructor cached under a soft reference does not
//!   keep its class alive);
//! - paths are breadth-first from the classes (static fields, the JVM's
//!   globals) and then from the GC roots (thread stacks, JNI references...),
//!   weak references skipped.

use heapwise_heap::{DominatorGraph, DominatorTree};

use crate::model::{ClassKind, HprofDump, NULL, ROOT, RootKind};

/// Distance of a node no path reaches.
pub const NO_DISTANCE: u32 = u32::MAX;
const NO_EDGE: u32 = u32::MAX;
/// The parent "edge" of a class, which paths start from.
const CLASS_START: u32 = u32::MAX - 1;

/// A dump with its dominator tree and, when asked for, its shortest paths.
pub struct HprofGraph {
    dump: HprofDump,
    tree: DominatorTree,
    distance: Vec<u32>,
    parent_edge: Vec<u32>,
}

/// The dump's retaining edges, reversed, for Lengauer–Tarjan.
struct Retaining<'d> {
    dump: &'d HprofDump,
    /// Per class index: its class object's node when an object of the class
    /// retains it, [`NULL`] when a GC root holds it directly (or the dump has
    /// no class object for it).
    class_edge: Vec<u32>,
    first: Vec<u32>,
    source: Vec<u32>,
}

impl HprofDump {
    /// The absolute edge slot of node `n`'s weak referent, if it has one.
    #[inline]
    fn weak_edge(&self, n: u32) -> u32 {
        if n == ROOT {
            return NULL;
        }
        match self.classes[self.class[n as usize] as usize].weak_slot {
            Some(slot) if self.class_described(n).is_none() => self.first_edge[n as usize] + slot,
            _ => NULL,
        }
    }

    /// Calls `f` with each target node `n` retains.
    #[inline]
    fn for_each_retained(&self, n: u32, mut f: impl FnMut(u32, u32)) {
        let weak = self.weak_edge(n);
        for e in self.edges_of(n) {
            let to = self.to[e as usize];
            if to != NULL && e != weak {
                f(e, to);
            }
        }
    }
}

impl<'d> Retaining<'d> {
    fn new(dump: &'d HprofDump) -> Self {
        let n = dump.node_count() as usize;
        let mut rooted = vec![false; n];
        for e in dump.edges_of(ROOT) {
            let to = dump.to[e as usize];
            if to != NULL {
                rooted[to as usize] = true;
            }
        }
        let mut class_edge: Vec<u32> = dump
            .classes
            .iter()
            .map(|c| match c.node {
                Some(node) if !rooted[node as usize] => node,
                _ => NULL,
            })
            .collect();
        // A class object's class is java.lang.Class, which it does not retain.
        for &(node, _) in &dump.class_nodes {
            class_edge[dump.class[node as usize] as usize] = NULL;
        }
        let mut retaining = Retaining {
            dump,
            class_edge,
            first: vec![0u32; n + 1],
            source: Vec::new(),
        };
        let mut first = std::mem::take(&mut retaining.first);
        for node in 0..n as u32 {
            retaining.for_each_retained(node, |to| first[to as usize + 1] += 1);
        }
        for i in 0..n {
            first[i + 1] += first[i];
        }
        let mut fill = first.clone();
        let mut source = vec![0u32; first[n] as usize];
        for node in 0..n as u32 {
            retaining.for_each_retained(node, |to| {
                source[fill[to as usize] as usize] = node;
                fill[to as usize] += 1;
            });
        }
        retaining.first = first;
        retaining.source = source;
        retaining
    }

    /// Calls `f` with each node `n` retains: its references, and its class
    /// unless a GC root holds that directly.
    #[inline]
    fn for_each_retained(&self, n: u32, mut f: impl FnMut(u32)) {
        self.dump.for_each_retained(n, |_, to| f(to));
        if n != ROOT {
            let class = self.class_edge[self.dump.class[n as usize] as usize];
            if class != NULL {
                f(class);
            }
        }
    }
}

impl DominatorGraph for Retaining<'_> {
    fn node_count(&self) -> u32 {
        self.dump.node_count()
    }

    fn root(&self) -> u32 {
        ROOT
    }

    fn for_each_successor(&self, node: u32, f: &mut dyn FnMut(u32)) {
        self.for_each_retained(node, f);
    }

    fn for_each_predecessor(&self, node: u32, f: &mut dyn FnMut(u32)) {
        let range = self.first[node as usize] as usize..self.first[node as usize + 1] as usize;
        for &from in &self.source[range] {
            f(from);
        }
    }

    fn has_only_weak_retainers(&self, _node: u32) -> bool {
        false
    }

    fn ignores_unreachable_retainers(&self) -> bool {
        true
    }
}

impl HprofGraph {
    /// Computes dominators and retained sizes; with `paths`, also the
    /// shortest paths from the roots (needed to explain leaks).
    pub fn build(
        dump: HprofDump,
        paths: bool,
        mut phase: Option<&mut dyn FnMut(&str)>,
    ) -> HprofGraph {
        let mut say = |what: &str| {
            if let Some(f) = phase.as_mut() {
                f(what);
            }
        };
        say("building retainers");
        let tree = {
            let retaining = Retaining::new(&dump);
            say("computing dominators");
            DominatorTree::build(&retaining, |n| u64::from(dump.size[n as usize]))
        };
        let mut graph = HprofGraph {
            dump,
            tree,
            distance: Vec::new(),
            parent_edge: Vec::new(),
        };
        if paths {
            say("computing paths");
            graph.compute_paths();
        }
        graph
    }

    /// The dump.
    pub fn dump(&self) -> &HprofDump {
        &self.dump
    }

    /// The dominator tree.
    pub fn tree(&self) -> &DominatorTree {
        &self.tree
    }

    /// Retained size of node `n`.
    pub fn retained_size(&self, n: u32) -> u64 {
        self.tree.retained_size(n)
    }

    /// Immediate dominator of node `n`.
    pub fn dominator(&self, n: u32) -> u32 {
        self.tree.dominator(n)
    }

    /// Breadth-first distance of `n` from the classes and GC roots
    /// ([`NO_DISTANCE`] when unreachable or when paths were not computed).
    pub fn distance(&self, n: u32) -> u32 {
        self.distance
            .get(n as usize)
            .copied()
            .unwrap_or(NO_DISTANCE)
    }

    fn compute_paths(&mut self) {
        let dump = &self.dump;
        let n = dump.node_count() as usize;
        let mut distance = vec![NO_DISTANCE; n];
        let mut parent = vec![NO_EDGE; n];
        let mut queue: Vec<u32> = Vec::with_capacity(1024);
        distance[ROOT as usize] = 0;
        for &(node, _) in &dump.class_nodes {
            distance[node as usize] = 1;
            parent[node as usize] = CLASS_START;
            queue.push(node);
        }
        for e in dump.edges_of(ROOT) {
            let to = dump.to[e as usize];
            if distance[to as usize] == NO_DISTANCE {
                distance[to as usize] = 1;
                parent[to as usize] = e;
                queue.push(to);
            }
        }
        let mut head = 0;
        while head < queue.len() {
            let node = queue[head];
            head += 1;
            let next = distance[node as usize] + 1;
            dump.for_each_retained(node, |e, to| {
                if distance[to as usize] == NO_DISTANCE {
                    distance[to as usize] = next;
                    parent[to as usize] = e;
                    queue.push(to);
                }
            });
        }
        self.distance = distance;
        self.parent_edge = parent;
    }

    /// The edges of the shortest path to `n`, root side first. A path that
    /// starts at a class (a static field) has no root edge.
    pub fn path(&self, n: u32) -> Vec<u32> {
        let mut path = Vec::new();
        let mut current = n;
        let limit = self.dump.node_count() as usize;
        while let Some(&edge) = self.parent_edge.get(current as usize) {
            if edge == NO_EDGE || edge == CLASS_START || path.len() > limit {
                break;
            }
            path.push(edge);
            current = self.edge_source(edge);
        }
        path.reverse();
        path
    }

    /// The node edge slot `e` leaves from.
    pub fn edge_source(&self, e: u32) -> u32 {
        (self.dump.first_edge.partition_point(|&f| f <= e) - 1) as u32
    }

    /// How people name node `n` on a path: `class com.example.Registry`,
    /// `java.util.HashMap`, `(GC roots)`.
    pub fn node_label(&self, n: u32) -> String {
        if n == ROOT {
            return "(GC roots)".to_string();
        }
        match self.dump.class_described(n) {
            Some(class) => format!("class {}", self.dump.class_name(class)),
            None => self.dump.class_name(self.dump.class_of(n)).to_string(),
        }
    }

    /// Edge slot `e`'s name and type: a field (`field`), a static field
    /// (`static`), an array element (`element`, named `[]`), a GC root
    /// (`root`), or a class's own references (`internal`).
    pub fn edge_label(&self, e: u32) -> (String, &'static str) {
        let dump = &self.dump;
        let from = self.edge_source(e);
        let slot = e - dump.first_edge[from as usize];
        if from == ROOT {
            return (self.root_label(dump.roots[e as usize]), "root");
        }
        if let Some(class) = dump.class_described(from) {
            let info = &dump.classes[class as usize];
            return match slot {
                0 => ("<super>".into(), "internal"),
                1 => ("<classloader>".into(), "internal"),
                2 => ("<signers>".into(), "internal"),
                3 => ("<protection domain>".into(), "internal"),
                k => {
                    let statics: Vec<&str> = info
                        .statics
                        .iter()
                        .filter(|f| f.ty == crate::format::basic::OBJECT)
                        .map(|f| f.name.as_str())
                        .collect();
                    match statics.get(k as usize - 4) {
                        Some(name) => (name.to_string(), "static"),
                        None => ("<constant pool>".into(), "internal"),
                    }
                }
            };
        }
        let info = &dump.classes[dump.class_of(from) as usize];
        match info.kind {
            ClassKind::Instance => {
                let name = info
                    .ref_fields
                    .get(slot as usize)
                    .map_or("?", |&i| dump.names[i as usize].as_str());
                (name.to_string(), "field")
            }
            _ => ("[]".into(), "element"),
        }
    }

    /// A GC root as people read it: `Java frame of thread 'main' in Leak.main (Leak.java:9)`.
    pub fn root_label(&self, kind: RootKind) -> String {
        let thread = |serial: u32| -> String {
            let known = self.dump.thread(serial);
            match (
                known.and_then(|t| t.name.clone()),
                known.and_then(|t| t.frames.last()),
            ) {
                (Some(name), _) => format!("thread '{name}'"),
                (None, Some(bottom)) => format!("thread #{serial} ({})", bottom.method),
                (None, None) => format!("thread #{serial}"),
            }
        };
        let frame = |serial: u32, depth: u32| -> String {
            self.dump
                .thread(serial)
                .and_then(|t| t.frames.get(depth as usize))
                .map(|f| {
                    let place = match (&f.file, f.line) {
                        (Some(file), Some(line)) => format!(" ({file}:{line})"),
                        (Some(file), None) => format!(" ({file})"),
                        _ => String::new(),
                    };
                    format!(" in {}{place}", f.method)
                })
                .unwrap_or_default()
        };
        match kind {
            RootKind::Unknown => "unknown root".into(),
            RootKind::JniGlobal => "JNI global reference".into(),
            RootKind::JniLocal {
                thread: t,
                frame: d,
            } => {
                format!("JNI local of {}{}", thread(t), frame(t, d))
            }
            RootKind::JavaFrame {
                thread: t,
                frame: d,
            } => {
                format!("local variable of {}{}", thread(t), frame(t, d))
            }
            RootKind::NativeStack { thread: t } => format!("native stack of {}", thread(t)),
            RootKind::StickyClass => "system class".into(),
            RootKind::ThreadBlock { thread: t } => format!("thread block of {}", thread(t)),
            RootKind::MonitorUsed => "monitor in use".into(),
            RootKind::ThreadObject { thread: t } => thread(t),
            RootKind::Android(tag) => format!("VM root (0x{tag:02X})"),
        }
    }
}
