//! Prints a trace's header, a count of each event kind, and (with
//! `--events`) every event: a debugging aid for the trace format.
//!
//! `cargo run -p heapwise-trace --example dump -- TRACE [--events]`

use heapwise_trace::{Event, StackTable, TraceReader};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: dump TRACE [--events]")?;
    let verbose = args.next().as_deref() == Some("--events");
    let mut reader = TraceReader::open(&path)?;
    println!("{:#?}", reader.header());
    let mut counts = std::collections::BTreeMap::<&str, u64>::new();
    let status = reader.read_all(&mut |event: Event<'_>, stacks: &StackTable| {
        let kind = match event {
            Event::Alloc { .. } => "alloc",
            Event::Free { .. } => "free",
            Event::Realloc { .. } => "realloc",
            Event::Thread { .. } => "thread",
            Event::Lost { .. } => "lost",
            Event::Control(_) => "control",
            Event::Checkpoint(_) => "checkpoint",
        };
        *counts.entry(kind).or_default() += 1;
        if verbose {
            match event {
                Event::Alloc { stack, .. } | Event::Realloc { stack, .. } => {
                    let frames: Vec<String> =
                        stacks.frames(stack).map(|ip| format!("{ip:#x}")).collect();
                    println!("{event:?} [{}]", frames.join(" "));
                }
                _ => println!("{event:?}"),
            }
        }
    })?;
    println!("{counts:?}");
    println!("{status:?}");
    println!("stacks: {}", reader.stacks().len());
    Ok(())
}
