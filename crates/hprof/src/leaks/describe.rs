//! Naming an accumulation point and why objects pile up there.

use heapwise_heap::{Cause, PathStep};

use crate::graph::HprofGraph;
use crate::model::{ClassKind, ROOT};

/// Words that name listener lists, in field and class names (lower case).
const LISTENER_WORDS: &[&str] = &["listener", "observer", "subscriber", "callback", "handler"];
/// Fields of `java.lang.Thread` that hold its ThreadLocal values.
const THREAD_LOCAL_FIELDS: &[&str] = &["threadLocals", "inheritableThreadLocals"];

/// The class loaders a point keeps alive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Loaders {
    /// None, or too few to matter.
    None,
    /// The entries are class loaders.
    Entries,
    /// The entries are objects of classes that other loaders loaded, and
    /// through them (an object keeps its class loaded) `count` loaders of
    /// the classes `classes` are held here.
    Held { count: u64, classes: String },
}

/// A point as people read it.
pub(crate) struct Description {
    pub(crate) cause: Cause,
    pub(crate) holder: String,
    pub(crate) recommendation: String,
}

/// The path of `node` as displayable steps.
pub(crate) fn steps(graph: &HprofGraph, node: u32) -> Vec<PathStep> {
    let path = graph.path(node);
    let mut steps = Vec::with_capacity(path.len() + 1);
    for &e in &path {
        let from = graph.edge_source(e);
        let (edge, edge_type) = graph.edge_label(e);
        steps.push(PathStep {
            node: graph.node_label(from),
            edge,
            edge_type: edge_type.to_string(),
            node_id: graph.dump().address(from),
        });
    }
    steps
}

/// Whether class `class` is `java.lang.ClassLoader` or extends it.
pub(crate) fn is_class_loader(graph: &HprofGraph, class: u32) -> bool {
    let dump = graph.dump();
    let mut current = Some(class);
    let mut hops = 0;
    while let Some(c) = current {
        let info = &dump.classes()[c as usize];
        if info.name == "java.lang.ClassLoader" {
            return true;
        }
        hops += 1;
        if hops > 64 || info.super_id == 0 {
            return false;
        }
        current = dump
            .node_at(info.super_id)
            .and_then(|n| dump.class_described(n));
    }
    false
}

fn has_listener_word(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    LISTENER_WORDS.iter().any(|w| lower.contains(w))
}

fn is_collection(graph: &HprofGraph, node: u32) -> bool {
    let dump = graph.dump();
    let info = &dump.classes()[dump.class_of(node) as usize];
    if !matches!(info.kind, ClassKind::Instance) {
        return true;
    }
    let name = &info.name;
    [
        "Map",
        "List",
        "Set",
        "Queue",
        "Deque",
        "Vector",
        "Stack",
        "Table",
        "Collection",
        "Cache",
    ]
    .iter()
    .any(|w| name.contains(w))
}

/// Describes the point `holder`, whose entries are of classes `entry_classes`.
pub(crate) fn describe(
    graph: &HprofGraph,
    holder: u32,
    path: &[PathStep],
    entry_classes: &[String],
    loaders: &Loaders,
) -> Description {
    let dump = graph.dump();
    let class = graph.node_label(holder);
    let last = path.last();
    let thread_local = path
        .iter()
        .any(|s| s.node == "java.lang.Thread" || s.node.ends_with("Thread"))
        && path
            .iter()
            .any(|s| THREAD_LOCAL_FIELDS.contains(&s.edge.as_str()));
    let holder_text = match last {
        Some(step) if step.edge_type == "static" => {
            let owner = step.node.strip_prefix("class ").unwrap_or(&step.node);
            format!("static field {owner}.{} ({class})", step.edge)
        }
        _ if thread_local => {
            let thread = path
                .iter()
                .find(|s| s.edge_type == "root")
                .map_or_else(|| "a thread".to_string(), |s| s.edge.clone());
            format!("a ThreadLocal value of {thread} ({class})")
        }
        Some(step) if step.edge_type == "field" => format!("{}.{} ({class})", step.node, step.edge),
        Some(step) if step.edge_type == "root" => format!("{class} held by {}", step.edge),
        Some(step) => format!("{class} in {}", step.node),
        None if dump.class_described(holder).is_some() || holder == ROOT => class.clone(),
        None => class.clone(),
    };
    let listener = path
        .iter()
        .rev()
        .take(2)
        .any(|s| has_listener_word(&s.edge))
        || entry_classes.iter().any(|c| has_listener_word(c));
    let entries = entry_classes.join(", ");
    let (cause, recommendation) = if *loaders == Loaders::Entries {
        (
            Cause::ClassLoader,
            format!(
                "Class loaders pile up in {holder_text}; each keeps every class it loaded and their static fields \
                 alive: drop the reference when the plugin or application it loaded is undeployed, and clear the \
                 ThreadLocals, static caches and listeners that still hold its objects."
            ),
        )
    } else if let Loaders::Held { count, classes } = loaders {
        (
            Cause::ClassLoader,
            format!(
                "{entries} objects kept in {holder_text} keep {count} class loaders ({classes}) alive, each with \
                 every class it loaded and their static fields (an object keeps its class loaded): remove the \
                 entries when what they belong to is unloaded (deregister the plugin, driver or listener on \
                 undeploy), or reuse one loader rather than a new one each time."
            ),
        )
    } else if thread_local {
        (
            Cause::ThreadLocal,
            format!(
                "{entries} objects accumulate in {holder_text}: call ThreadLocal.remove() (in a finally block) when \
                 the work is done, above all on pooled threads, which never die."
            ),
        )
    } else if listener {
        (
            Cause::EventListener,
            format!(
                "{entries} listeners are added to {holder_text} and never removed: remove each when its owner is done, \
                 or register once rather than per request; each listener keeps alive everything it refers to."
            ),
        )
    } else if is_collection(graph, holder) {
        (
            Cause::UnboundedCollection,
            format!(
                "{entries} entries are added to {holder_text} and never removed: remove them when their work is done, \
                 bound it (evict by size or age: LinkedHashMap.removeEldestEntry, a cache with a maximum size), or \
                 key a WeakHashMap by the owning object."
            ),
        )
    } else if last.is_some_and(|s| s.edge_type == "static") {
        (
            Cause::Global,
            format!(
                "{entries} objects hang off {holder_text}: keep per-request data out of static fields, or clear it when done."
            ),
        )
    } else {
        (
            Cause::Unknown,
            "Follow the path: the first object on it that your code owns is what keeps these objects alive; \
             release the reference there."
                .to_string(),
        )
    };
    Description {
        cause,
        holder: holder_text,
        recommendation,
    }
}
