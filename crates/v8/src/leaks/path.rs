//! Retainer paths as people read them, and their normalised form for clustering.

use heapwise_heap::PathStep;

use crate::graph::HeapGraph;
use crate::snapshot::{EdgeName, EdgeType, HeapSnapshot, NodeType};

/// How a node is named on a path.
pub(crate) fn display_name(s: &HeapSnapshot, node: u32) -> String {
    let name = s.node_name(node);
    match s.node_type(node) {
        NodeType::Synthetic if node == s.root() => "(root)".to_string(),
        NodeType::Object | NodeType::Native | NodeType::Hidden | NodeType::Synthetic => {
            if name.is_empty() {
                s.class_name(node)
            } else {
                name.to_string()
            }
        }
        NodeType::Closure => {
            if name.is_empty() {
                "(anonymous function)".to_string()
            } else {
                format!("function {name}")
            }
        }
        NodeType::Array if !name.is_empty() => name.to_string(),
        _ => s.class_name(node),
    }
}

/// The edge label used for clustering: element indexes and numeric slots become `[]`.
pub(crate) fn normalized_edge(s: &HeapSnapshot, edge: u32) -> String {
    match s.edge_name(edge) {
        EdgeName::Index(_) => "[]".to_string(),
        EdgeName::Name(name) => {
            if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
                "[]".to_string()
            } else if s.edge_type(edge) == EdgeType::Internal && name.contains(" pair in ") {
                // WeakMap/ephemeron entry names embed object ids.
                "[]".to_string()
            } else {
                name.to_string()
            }
        }
    }
}

/// The path of `node` from the root as displayable steps (root side first).
pub(crate) fn steps(graph: &HeapGraph, edges: &[u32]) -> Vec<PathStep> {
    let s = graph.snapshot();
    edges
        .iter()
        .map(|&e| {
            let from = graph.edge_source(e);
            PathStep {
                node: display_name(s, from),
                edge: normalized_edge(s, e),
                edge_type: s.edge_type_name(e).to_string(),
                node_id: u64::from(s.node_id(from)),
            }
        })
        .collect()
}

/// The clustering key of a path: per retainer, its type, its name where the
/// display name uses it, and the normalised edge (`u32::MAX` for `[]`).
pub(crate) fn key(graph: &HeapGraph, edges: &[u32]) -> Vec<[u32; 3]> {
    let s = graph.snapshot();
    edges
        .iter()
        .map(|&e| {
            let from = graph.edge_source(e);
            let named = matches!(
                s.node_type(from),
                NodeType::Object
                    | NodeType::Native
                    | NodeType::Hidden
                    | NodeType::Synthetic
                    | NodeType::Closure
                    | NodeType::Array
            );
            let name = if named {
                s.node_name_index(from)
            } else {
                u32::MAX
            };
            let edge = if normalized_edge(s, e) == "[]" {
                u32::MAX
            } else {
                s.edges.name_or_index[e as usize]
            };
            [s.nodes.kind[from as usize], name, edge]
        })
        .collect()
}
