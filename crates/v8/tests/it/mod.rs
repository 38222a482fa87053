mod graph;
mod node;
mod parse;

use std::path::PathBuf;

/// A file under `tests/`.
pub fn test_file(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(relative)
}

/// Parses a fixture and builds its graph.
pub fn fixture_graph(name: &str) -> heapwise_v8::HeapGraph {
    let snapshot =
        heapwise_v8::read_snapshot_file(&test_file(&format!("fixtures/{name}"))).unwrap();
    heapwise_v8::HeapGraph::build(snapshot, None)
}
