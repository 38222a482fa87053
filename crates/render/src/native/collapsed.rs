//! Folded stacks (`outer;...;inner value`, one line per stack): the input
//! format of flamegraph.pl, inferno, speedscope and most profilers' import.

use std::io::{self, Write};

use heapwise_native::Profile;

use super::Metric;

/// Writes one line per stack with a non-zero value, outermost frame first.
pub fn write<W: Write + ?Sized>(out: &mut W, profile: &Profile, metric: Metric) -> io::Result<()> {
    for line in lines(profile, metric) {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// The folded lines, sorted (so identical inputs give identical output).
pub fn lines(profile: &Profile, metric: Metric) -> Vec<String> {
    let mut lines: Vec<String> = profile
        .stacks
        .iter()
        .filter_map(|stack| {
            let value = metric.of(stack);
            if value == 0 {
                return None;
            }
            // `;` separates frames and the last space the value: keep both
            // out of frame names.
            let names: Vec<String> = stack
                .frames
                .iter()
                .rev()
                .map(|f| f.text().name().replace(';', ":"))
                .collect();
            let path = if names.is_empty() {
                "[unknown]".to_string()
            } else {
                names.join(";")
            };
            Some(format!("{path} {value}"))
        })
        .collect();
    lines.sort();
    lines
}
