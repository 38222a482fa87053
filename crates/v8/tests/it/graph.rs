//! Dominators, retained sizes, distances and paths on hand-built snapshots
//! whose dominator trees are known (see `tests/fixtures/README.md`).

use heapwise_v8::{HeapGraph, NO_DISTANCE, SYSTEM_DISTANCE, summarize};

use super::fixture_graph;

/// Node ordinal by name.
fn node(graph: &HeapGraph, name: &str) -> u32 {
    let s = graph.snapshot();
    (0..s.node_count())
        .find(|&n| s.node_name(n) == name)
        .unwrap()
}

#[test]
fn dominators_follow_devtools_edge_rules() {
    let g = fixture_graph("dominators.heapsnapshot");
    let root = g.snapshot().root();
    let idom = |name: &str| g.dominator(node(&g, name));
    assert_eq!(idom("A"), root);
    assert_eq!(idom("(GC roots)"), root);
    // W is only weakly held: it hangs off the root.
    assert_eq!(idom("W"), root);
    assert_eq!(idom("B"), node(&g, "A"));
    assert_eq!(idom("C"), node(&g, "A"));
    // E's edge into D comes from an object the page does not own: it does
    // not count, so A dominates D.
    assert_eq!(idom("D"), node(&g, "A"));
    assert_eq!(idom("E"), node(&g, "(GC roots)"));
    // C's shortcut to X is not from the root, so B alone holds X.
    assert_eq!(idom("X"), node(&g, "B"));
    // W's edge into s is from a non-page object too.
    assert_eq!(idom("s"), node(&g, "D"));
}

#[test]
fn retained_sizes_sum_the_dominated_subtrees() {
    let g = fixture_graph("dominators.heapsnapshot");
    let retained = |name: &str| g.retained_size(node(&g, name));
    assert_eq!(retained("s"), 5);
    assert_eq!(retained("D"), 40 + 5);
    assert_eq!(retained("X"), 7);
    assert_eq!(retained("B"), 20 + 7);
    assert_eq!(retained("C"), 30);
    assert_eq!(retained("A"), 10 + 27 + 30 + 45);
    assert_eq!(retained("E"), 50);
    assert_eq!(retained("W"), 60);
    assert_eq!(g.total_bytes(), 10 + 20 + 30 + 40 + 50 + 60 + 5 + 7);
}

#[test]
fn distances_start_at_user_roots_and_skip_weak_edges() {
    let g = fixture_graph("dominators.heapsnapshot");
    let distance = |name: &str| g.distance(node(&g, name));
    assert_eq!(distance("A"), 1);
    assert_eq!(distance("B"), 2);
    assert_eq!(distance("D"), 3);
    assert_eq!(distance("s"), 4);
    assert_eq!(distance("X"), 3);
    // Only the system roots reach E.
    assert_eq!(distance("E"), SYSTEM_DISTANCE + 2);
    assert_eq!(distance("(GC roots)"), SYSTEM_DISTANCE + 1);
    assert_eq!(distance("W"), NO_DISTANCE);
}

#[test]
fn retainer_path_is_the_shortest_from_the_user_root() {
    let g = fixture_graph("dominators.heapsnapshot");
    let s = g.snapshot();
    let path: Vec<String> = g
        .retainer_path(node(&g, "s"))
        .iter()
        .map(|&e| format!("{}.{}", s.node_name(g.edge_source(e)), s.edge_name(e)))
        .collect();
    assert_eq!(path, ["<dummy>.global", "A.b", "B.d", "D.s"]);
}

#[test]
fn summary_counts_each_class_once_without_double_counting_nesting() {
    let g = fixture_graph("chain.heapsnapshot");
    let summary = summarize(&g);
    assert_eq!(summary.schema, "heapwise.heap-summary/1");
    assert_eq!(summary.nodes, 5);
    assert_eq!(summary.edges, 4);
    assert_eq!(summary.total_bytes, 38);
    let row = summary
        .constructors
        .iter()
        .find(|c| c.name == "Node")
        .unwrap();
    assert_eq!((row.count, row.self_bytes, row.retained_bytes), (3, 30, 30));
    let global = summary.constructors.iter().find(|c| c.name == "G").unwrap();
    assert_eq!(global.retained_bytes, 38);
    // Largest retained first.
    assert_eq!(summary.constructors[0].name, "G");
}
