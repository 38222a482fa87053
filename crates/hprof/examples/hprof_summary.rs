//! `cargo run --release -p heapwise-hprof --example hprof_summary DUMP`: reads a
//! dump, builds its dominator tree and prints the summary as JSON with the
//! time of each phase on stderr (for benchmarks and checking against jmap).

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: summary DUMP")?;
    let start = Instant::now();
    let dump = heapwise_hprof::read_dump_file(path.as_ref(), None)?;
    eprintln!(
        "read: {:.2} s ({} objects, {} references)",
        start.elapsed().as_secs_f64(),
        dump.object_count(),
        dump.reference_count()
    );
    let graph = heapwise_hprof::HprofGraph::build(dump, false, None);
    eprintln!("graph: {:.2} s", start.elapsed().as_secs_f64());
    let summary = heapwise_hprof::summarize(&graph);
    eprintln!("summary: {:.2} s", start.elapsed().as_secs_f64());
    serde_json::to_writer_pretty(std::io::stdout().lock(), &summary)?;
    Ok(())
}
