//! Why a cluster of leaked objects is kept alive.
//!
//! The path of a cluster is read from the leaked object back towards the
//! root, and the nearest *holder* decides:
//! - `detached`: the object itself is marked detached (checked first);
//! - `event-listener`: an `_events` (or `Symbol(kEvents)`, `listeners`) edge,
//!   an indexed slot of a listener array under one, or a closure that such a
//!   slot holds;
//! - `unbounded-collection`: an indexed slot of a `Map`, `Set`, `Array`,
//!   `Object`, `WeakMap` or `WeakSet` (directly or through its backing table);
//! - `closure`: a variable captured by a function that is not a listener, or
//!   a Node.js timer (`Timeout`, `Immediate`, `TimersList`) never cleared;
//! - `global`: none of these, and the path starts with a property of `global`;
//! - `unknown`: anything else.

use heapwise_heap::Cause;

use crate::graph::HeapGraph;
use crate::snapshot::{EdgeType, NodeType};

/// A cause with the names from the path that make the advice concrete.
pub(crate) struct Diagnosis {
    pub(crate) cause: Cause,
    pub(crate) recommendation: String,
}

/// Edge names under which Node.js keeps listeners.
const LISTENER_EDGES: &[&str] = &["_events", "Symbol(kEvents)", "listeners", "_listeners"];
/// Node.js timer objects: a timer keeps its callback (and what it captured) alive.
const TIMERS: &[&str] = &["Timeout", "Immediate", "TimersList"];
/// Constructors that are collections.
const COLLECTIONS: &[&str] = &["Map", "Set", "Array", "Object", "WeakMap", "WeakSet"];

/// Classifies a leaked object reached through `path` (edges, root side first).
pub(crate) fn diagnose(
    graph: &HeapGraph,
    path: &[u32],
    leaked: u32,
    constructor: &str,
) -> Diagnosis {
    let s = graph.snapshot();
    let name = |e: u32| super::path::normalized_edge(s, e);

    if s.detachedness(leaked) == 2 || s.node_name(leaked).starts_with("Detached ") {
        return Diagnosis {
            cause: Cause::Detached,
            recommendation: format!(
                "{constructor} objects are detached (no longer part of their tree) but still referenced: drop the \
                 remaining references (caches, listeners, closures) or destroy them explicitly."
            ),
        };
    }

    // The holder nearest to the leaked object decides; a closure only counts
    // when it is not itself a listener.
    for i in (0..path.len()).rev() {
        let e = path[i];
        let edge = name(e);
        if LISTENER_EDGES.contains(&edge.as_str()) {
            return listener(graph, path, i);
        }
        let from_name = s.node_name(graph.edge_source(e));
        if TIMERS.contains(&from_name) {
            return Diagnosis {
                cause: Cause::Closure,
                recommendation: format!(
                    "{constructor} objects are kept by timers that are never cleared ({from_name}): call \
                     clearInterval/clearTimeout when the owner is done, and capture only what the callback \
                     needs."
                ),
            };
        }
        if edge == "[]"
            && let Some((owner_step, collection)) = collection_at(graph, path, i)
        {
            if owner_step >= 2 && is_listener_edge(&name(path[owner_step - 2])) {
                return listener(graph, path, owner_step - 2);
            }
            return Diagnosis {
                cause: Cause::UnboundedCollection,
                recommendation: format!(
                    "{constructor} objects accumulate as entries of {collection}, which only grows: bound \
                         it (evict by size or age, an LRU), delete entries when their work is done, or key a \
                         WeakMap by the owning object so entries die with it."
                ),
            };
        }
        let from = graph.edge_source(e);
        if s.node_type(from) == NodeType::Closure && edge == "context" {
            // A listener closure: `_events.x` holds it, directly or in an array.
            let lower = i.saturating_sub(3);
            if let Some(at) = (lower..i).rev().find(|&j| is_listener_edge(&name(path[j]))) {
                return listener(graph, path, at);
            }
            let function = super::path::display_name(s, from);
            return Diagnosis {
                cause: Cause::Closure,
                recommendation: format!(
                    "{constructor} objects are captured by the scope of {function}, which stays alive (a \
                     timer, callback or cached function): capture only the fields it needs, clear the timer \
                     or callback when done, or set the captured variable to null."
                ),
            };
        }
    }

    if let Some(global_edge) = global_property(graph, path) {
        return Diagnosis {
            cause: Cause::Global,
            recommendation: format!(
                "{constructor} objects hang off the global object (global.{global_edge}): keep per-request data \
                 out of globals, scope it to its owner, or clear it when done."
            ),
        };
    }

    Diagnosis {
        cause: Cause::Unknown,
        recommendation: "Follow the retainer path: the first object on it that your code owns is what keeps these \
                         objects alive; release the reference there."
            .to_string(),
    }
}

fn is_listener_edge(name: &str) -> bool {
    LISTENER_EDGES.contains(&name)
}

/// The event-listener diagnosis, `at` being the index of the `_events` edge.
fn listener(graph: &HeapGraph, path: &[u32], at: usize) -> Diagnosis {
    let s = graph.snapshot();
    let emitter = super::path::display_name(s, graph.edge_source(path[at]));
    let event = path
        .get(at + 1)
        .map(|&e| super::path::normalized_edge(s, e))
        .filter(|n| n != "[]")
        .map_or_else(String::new, |n| format!(" '{n}'"));
    Diagnosis {
        cause: Cause::EventListener,
        recommendation: format!(
            "A{event} listener on {emitter} is added again and again and never removed: call \
             removeListener/off when its owner is done (or register it with once()), and add it once rather \
             than per request. Each listener keeps everything its closure captured alive."
        ),
    }
}

/// When edge `i` of the path is an indexed slot of a collection (in the
/// collection itself or in its backing table), the index of the edge leaving
/// the collection object and its description, e.g. `the Map 'cache'`.
fn collection_at(graph: &HeapGraph, path: &[u32], i: usize) -> Option<(usize, String)> {
    let s = graph.snapshot();
    let holder = graph.edge_source(path[i]);
    let (owner, owner_step) = if s.node_type(holder) == NodeType::Object {
        (holder, i)
    } else if i > 0 {
        (graph.edge_source(path[i - 1]), i - 1)
    } else {
        return None;
    };
    if s.node_type(owner) != NodeType::Object || !COLLECTIONS.contains(&s.node_name(owner)) {
        return None;
    }
    let variable = owner_step
        .checked_sub(1)
        .map(|j| super::path::normalized_edge(s, path[j]))
        .filter(|n| n != "[]");
    let description = match variable {
        Some(v) => format!("the {} '{v}'", s.node_name(owner)),
        None => format!("a {}", s.node_name(owner)),
    };
    Some((owner_step, description))
}

/// The global property the path starts with, when the global object holds it directly.
fn global_property(graph: &HeapGraph, path: &[u32]) -> Option<String> {
    let s = graph.snapshot();
    let first = *path.first()?;
    if s.edge_type(first) != EdgeType::Shortcut && s.node_name(s.edge_target(first)) != "global" {
        return None;
    }
    let second = *path.get(1)?;
    if s.edge_type(second) != EdgeType::Property {
        return None;
    }
    Some(super::path::normalized_edge(s, second))
}
