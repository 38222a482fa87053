//! The samples as CSV: one row per sample, a header row, bytes as integers,
//! an empty cell where a value is unknown.

use std::io::{self, Write};

use heapwise_watch::{Report, Sample};

/// The header row, in column order.
pub const COLUMNS: [&str; 16] = [
    "t_s",
    "rss_bytes",
    "anon_bytes",
    "file_bytes",
    "shmem_bytes",
    "pss_bytes",
    "swap_bytes",
    "vm_bytes",
    "hwm_bytes",
    "processes",
    "cgroup_current_bytes",
    "cgroup_limit_bytes",
    "cgroup_anon_bytes",
    "cgroup_file_bytes",
    "cgroup_oom",
    "cgroup_oom_kill",
];

/// `heapwise watch --format csv`.
pub fn write_csv<W: Write + ?Sized>(out: &mut W, report: &Report) -> io::Result<()> {
    writeln!(out, "{}", COLUMNS.join(","))?;
    for sample in &report.samples {
        write_row(out, sample)?;
    }
    Ok(())
}

fn write_row<W: Write + ?Sized>(out: &mut W, s: &Sample) -> io::Result<()> {
    let cell = |v: Option<u64>| v.map_or_else(String::new, |v| v.to_string());
    let cg = s.cgroup.clone().unwrap_or_default();
    writeln!(
        out,
        "{:.3},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
        s.t_s,
        s.rss_bytes,
        s.anon_bytes,
        cell(s.file_bytes),
        cell(s.shmem_bytes),
        cell(s.pss_bytes),
        cell(s.swap_bytes),
        cell(s.vm_bytes),
        cell(s.hwm_bytes),
        s.processes,
        cell(cg.current_bytes),
        cell(cg.limit_bytes),
        cell(cg.anon_bytes),
        cell(cg.file_bytes),
        cell(cg.oom),
        cell(cg.oom_kill),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_per_sample_with_empty_unknowns() {
        let report = super::super::text::tests::report(true);
        let mut out = Vec::new();
        write_csv(&mut out, &report).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1 + report.samples.len());
        assert_eq!(lines[0].split(',').count(), COLUMNS.len());
        let first: Vec<&str> = lines[1].split(',').collect();
        assert_eq!(first.len(), COLUMNS.len());
        assert_eq!(first[0], "0.000");
        assert_eq!(first[2], (100u64 << 20).to_string());
        assert_eq!(first[10], "", "no cgroup: empty cell");
    }
}
