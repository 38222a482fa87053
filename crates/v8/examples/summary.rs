//! `cargo run --release -p heapwise-v8 --example summary SNAPSHOT`: the
//! summary's phases timed on stderr (parse, graph, summary), the summary's
//! size on stdout — for benchmarks (docs/performance.md).

use std::time::Instant;

use heapwise_v8::{GraphOptions, HeapGraph, read_snapshot_file, summarize};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: summary SNAPSHOT")?;
    let start = Instant::now();
    let snapshot = read_snapshot_file(path.as_ref())?;
    let parsed = start.elapsed().as_secs_f64();
    let graph = HeapGraph::build_with(snapshot, GraphOptions { paths: false }, None);
    let built = start.elapsed().as_secs_f64();
    let summary = summarize(&graph);
    let done = start.elapsed().as_secs_f64();
    eprintln!(
        "parse {parsed:.2} s, graph {:.2} s, summary {:.2} s, total {done:.2} s",
        built - parsed,
        done - built
    );
    println!(
        "{} constructors, {} bytes",
        summary.constructors.len(),
        summary.total_bytes
    );
    Ok(())
}
