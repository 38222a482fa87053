//! Which leaked objects belong to V8 or Node.js itself rather than to the program.
//!
//! Four rules, all cheap and all visible in a snapshot:
//! - V8 names its own heap structures `system / ...` (`system / Context`,
//!   `system / Map`...) even when it types them `object`; they come and go
//!   with the program's objects but are never what a person fixes.
//! - Objects whose shortest retainer path enters through one of V8's own root
//!   groups (internalized strings, compilation cache, builtins...) are held
//!   by the engine, not by the program.
//! - Objects reached through compiled code (function names, scope infos,
//!   literal boilerplates hanging off `SharedFunctionInfo`s) are V8 metadata
//!   that appears as functions get compiled.
//! - Objects reached through `BuiltinModule` (Node.js's registry of its own
//!   `node:` modules) are the state of Node.js's internal modules, loaded on
//!   demand while the program runs.

use crate::graph::HeapGraph;
use crate::snapshot::NodeType;

/// Root groups under `(GC roots)` that hold only engine data.
const ENGINE_ROOTS: &[&str] = &[
    "(Internalized strings)",
    "(External strings)",
    "(Smi roots)",
    "(Bootstrapper)",
    "(Relocatable)",
    "(Debugger)",
    "(Compilation cache)",
    "(Builtins)",
    "(Read-only roots)",
    "(Startup object cache)",
    "(Shared heap object cache)",
    "(Code flusher)",
];

/// Whether `node` is kept only by Node.js or V8 internals.
pub(crate) fn is_internal(graph: &HeapGraph, node: u32) -> bool {
    let s = graph.snapshot();
    if s.node_name(node).starts_with("system / ") {
        return true;
    }
    let path = graph.retainer_path(node);
    path.iter().enumerate().any(|(i, &e)| {
        let from = graph.edge_source(e);
        (i < 3
            && s.node_type(from) == NodeType::Synthetic
            && ENGINE_ROOTS.contains(&s.node_name(from)))
            || (i < 3 && ENGINE_ROOTS.contains(&s.node_name(s.edge_target(e))))
            || s.node_type(from) == NodeType::Code
            || (s.node_type(from) == NodeType::Object && s.node_name(from) == "BuiltinModule")
    })
}
