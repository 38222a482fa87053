//! The reports of `heapwise heap summary|diff|leaks`, the same for every
//! runtime's heap dumps (schemas `heapwise.heap-summary/1`,
//! `heapwise.heap-diff/1`, `heapwise.heap-leaks/1`; see docs/heapsnapshot.md
//! and docs/hprof.md).

use serde::{Deserialize, Serialize};

/// Schema string of [`HeapSummary`].
pub const SUMMARY_SCHEMA: &str = "heapwise.heap-summary/1";
/// Schema string of [`HeapDiff`].
pub const DIFF_SCHEMA: &str = "heapwise.heap-diff/1";
/// Schema string of [`LeakReport`].
pub const LEAKS_SCHEMA: &str = "heapwise.heap-leaks/1";

/// Which kind of heap dump a report was made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DumpFormat {
    /// A V8 `.heapsnapshot` (Node.js, Chrome).
    #[default]
    V8,
    /// A JVM HPROF dump (`jcmd GC.heap_dump`, `jmap -dump`).
    Hprof,
}

/// `heapwise heap summary`: what the heap holds, grouped by constructor or class.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeapSummary {
    /// Always [`SUMMARY_SCHEMA`].
    pub schema: String,
    /// The kind of dump read.
    #[serde(default)]
    pub format: DumpFormat,
    /// Nodes (objects) in the dump.
    pub nodes: u64,
    /// Edges (references) in the dump.
    pub edges: u64,
    /// Sum of all self sizes, in bytes.
    pub total_bytes: u64,
    /// One entry per constructor, largest `retained_bytes` first.
    pub constructors: Vec<ConstructorSummary>,
}

/// One constructor (class) in a [`HeapSummary`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConstructorSummary {
    /// The constructor or class (`java.util.HashMap`, `byte[]`), or
    /// `(closure)`, `(string)`, `(system)`... for V8's other kinds of node.
    pub name: String,
    /// Number of objects.
    pub count: u64,
    /// Sum of their own sizes, in bytes.
    pub self_bytes: u64,
    /// Bytes freed if all of them were released: the retained sizes of the
    /// objects not dominated by another object of the same constructor.
    pub retained_bytes: u64,
}

impl ConstructorSummary {
    /// Finishes a summary's rows, one per constructor in the order of
    /// `retained` (each one's retained bytes): drops constructors with no
    /// object and orders the rest by retained bytes, largest first, then by
    /// name.
    pub fn finish(rows: &mut Vec<ConstructorSummary>, retained: Vec<u64>) {
        for (row, bytes) in rows.iter_mut().zip(retained) {
            row.retained_bytes = bytes;
        }
        rows.retain(|r| r.count > 0);
        rows.sort_by(|a, b| {
            b.retained_bytes
                .cmp(&a.retained_bytes)
                .then_with(|| a.name.cmp(&b.name))
        });
    }
}

/// `heapwise heap diff`: what changed between two dumps, per constructor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeapDiff {
    /// Always [`DIFF_SCHEMA`].
    pub schema: String,
    /// The kind of dumps compared.
    #[serde(default)]
    pub format: DumpFormat,
    /// How objects were matched: `"id"` (V8: by snapshot object id) or
    /// `"count"` (JVM: ids are addresses that move, so by counts per class).
    #[serde(default)]
    pub matched_by: String,
    /// Objects counted in BEFORE.
    pub before_objects: u64,
    /// Objects counted in AFTER.
    pub after_objects: u64,
    /// Object ids present in both (`null` when matched by count).
    pub shared_objects: Option<u64>,
    /// Problems with the comparison itself (e.g. snapshots of different processes).
    pub warnings: Vec<String>,
    /// Constructors that changed, largest `size_delta` first.
    pub constructors: Vec<ConstructorDiff>,
}

/// One constructor in a [`HeapDiff`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConstructorDiff {
    /// The constructor or class.
    pub name: String,
    /// Objects in AFTER whose id is not in BEFORE (by count: the increase, or 0).
    pub new: u64,
    /// Objects in BEFORE whose id is not in AFTER (by count: the decrease, or 0).
    pub deleted: u64,
    /// `new - deleted`.
    pub delta: i64,
    /// Self bytes of the new objects (by count: the increase in bytes, or 0).
    pub alloc_bytes: u64,
    /// Self bytes of the deleted objects (by count: the decrease in bytes, or 0).
    pub freed_bytes: u64,
    /// `alloc_bytes - freed_bytes`.
    pub size_delta: i64,
}

/// `heapwise heap leaks`: what leaked, what holds it, grouped by constructor and by retainer path.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeakReport {
    /// Always [`LEAKS_SCHEMA`].
    pub schema: String,
    /// The kind of dumps searched.
    #[serde(default)]
    pub format: DumpFormat,
    /// Objects that leaked (after filtering).
    pub leaked_objects: u64,
    /// Self bytes of those objects.
    pub leaked_self_bytes: u64,
    /// Leaked objects per constructor, largest `retained_bytes` first.
    pub by_constructor: Vec<LeakedConstructor>,
    /// The accumulation points that hold the leaked objects, largest first.
    #[serde(default)]
    pub roots: Vec<LeakRoot>,
    /// Leaked objects held the same way, largest `retained_bytes` first.
    pub clusters: Vec<LeakCluster>,
    /// Problems with the inputs (e.g. snapshots of different processes).
    pub warnings: Vec<String>,
}

impl LeakReport {
    /// Whether anything leaked: a root or a cluster was found.
    pub fn found_leak(&self) -> bool {
        !self.roots.is_empty() || !self.clusters.is_empty()
    }
}

/// Leaked objects of one constructor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeakedConstructor {
    /// The constructor or class.
    pub name: String,
    /// Number of leaked objects.
    pub count: u64,
    /// Sum of their self sizes.
    pub self_bytes: u64,
    /// Bytes they keep alive, not counting one inside another twice.
    pub retained_bytes: u64,
}

/// One accumulation point: the growing container or closure context that
/// holds leaked objects (an EventEmitter's listener array, a Map, a static
/// `HashMap`, a listener list, a ThreadLocal, a class loader).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeakRoot {
    /// Why the objects accumulate there.
    pub cause: Cause,
    /// The point, as people name it: `Map 'audit'`, `the 'request' listeners
    /// of EventEmitter`, `static field com.example.Registry.sessions (java.util.HashMap)`.
    pub holder: String,
    /// The holder's constructor or class.
    pub holder_class: String,
    /// The holder's id (V8 snapshot id or JVM object address) in the last dump.
    pub holder_id: u64,
    /// The shortest path from the GC roots to the holder (root side first);
    /// the last step's edge points at the holder.
    pub path: Vec<PathStep>,
    /// Leaked objects it holds.
    pub objects: u64,
    /// Leaked objects it holds directly: its elements, entries or listeners
    /// (one per request when a request leaks one).
    pub entries: u64,
    /// For dumps whose object ids do not survive the garbage collector (the
    /// JVM's): the entries the same point (the same path) held in BASELINE;
    /// `entries - baseline_entries` were added since. `null` for V8.
    pub baseline_entries: Option<u64>,
    /// Bytes those objects keep alive.
    pub retained_bytes: u64,
    /// The constructors of the objects it holds, most first.
    pub holds: Vec<HeldConstructor>,
    /// Indexes into `clusters` of the clusters held here.
    pub clusters: Vec<usize>,
    /// What to change.
    pub recommendation: String,
}

/// Leaked objects of one constructor under one [`LeakRoot`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeldConstructor {
    /// The constructor or class.
    pub name: String,
    /// How many.
    pub count: u64,
}

/// Leaked objects of one constructor held through the same retainer path.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeakCluster {
    /// The leaked objects' constructor.
    pub constructor: String,
    /// How many leaked objects share this path.
    pub count: u64,
    /// Bytes they keep alive, not counting one inside another twice.
    pub retained_bytes: u64,
    /// Why they are kept alive.
    pub cause: Cause,
    /// What to change.
    pub recommendation: String,
    /// The shortest path from the roots (root side first); the last step's edge
    /// points at the leaked object.
    pub retainer_path: Vec<PathStep>,
    /// Ids of a few of the objects (V8: search `@id` in DevTools; JVM: addresses).
    pub sample_ids: Vec<u64>,
}

/// One hop of a retainer path: a node and the edge it holds the next one by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathStep {
    /// The retaining node: a constructor or class, `system / Context`,
    /// `function name`, `(GC roots)`, `class com.example.Registry`...
    pub node: String,
    /// The edge from this node to the next step (or to the leaked object):
    /// a property, field or variable name, or `[]` for an element of a collection.
    pub edge: String,
    /// The edge's type (V8: `property`, `element`, `context`, `internal`...;
    /// JVM: `field`, `element`, `static`, `root`...).
    pub edge_type: String,
    /// The retaining node's id (one example).
    pub node_id: u64,
}

/// The leak causes, as CONTRACTS.md names them (`thread-local` and
/// `class-loader` added for the JVM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// Held by an event listener that was never removed (`_events`, a listener list).
    EventListener,
    /// Held as an entry of a Map, Set, array, HashMap or list that only grows.
    UnboundedCollection,
    /// Held by a variable a closure captured (timers, callbacks, long-lived functions).
    Closure,
    /// A detached object (a DOM node or native object no longer in its tree) still referenced.
    Detached,
    /// Held directly by a global: a property of the global object, a static field.
    Global,
    /// Held by a thread's ThreadLocal value (JVM).
    ThreadLocal,
    /// Held by a class loader that never dies, through the classes it loaded (JVM).
    ClassLoader,
    /// None of the patterns above.
    Unknown,
}

impl Cause {
    /// The name used in JSON and text.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::EventListener => "event-listener",
            Cause::UnboundedCollection => "unbounded-collection",
            Cause::Closure => "closure",
            Cause::Detached => "detached",
            Cause::Global => "global",
            Cause::ThreadLocal => "thread-local",
            Cause::ClassLoader => "class-loader",
            Cause::Unknown => "unknown",
        }
    }
}
