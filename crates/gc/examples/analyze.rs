//! Reads one GC log, analyses it and prints the JSON report, with the time
//! each stage took on standard error: the library alone, for profiling.
//!
//! `cargo run --release -p heapwise-gc --example analyze -- app.log`

use std::time::Instant;

use heapwise_gc::{AnalysisOptions, analyze, read_path};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(path) = std::env::args_os().nth(1) else {
        return Err("usage: analyze LOGFILE".into());
    };
    let start = Instant::now();
    let log = read_path(path.as_ref(), None)?;
    let parsed = start.elapsed();
    let report = analyze(&log, &AnalysisOptions::default());
    let analysed = start.elapsed() - parsed;
    let json = serde_json::to_string(&report)?;
    println!("{json}");
    eprintln!(
        "{} lines, {} events: parse {:.0} ms, analyse {:.0} ms",
        log.lines.total,
        log.events.len(),
        parsed.as_secs_f64() * 1e3,
        analysed.as_secs_f64() * 1e3
    );
    Ok(())
}
