//! `heapwise watch` results: one module per format.
//!
//! JSON is the [`Report`] as it is ([`write_json`]); [`text`] is for
//! people, [`csv`] is the samples for spreadsheets and plotting, and
//! [`prometheus`] is the text exposition a Prometheus server scrapes. The
//! small formatters below are shared with the live dashboard.

pub mod csv;
pub mod prometheus;
pub mod text;

use std::io::{self, Write};

use heapwise_watch::Report;

pub use csv::write_csv;
pub use prometheus::write_metrics;
pub use text::write_text;

/// Writes the `heapwise.watch/1` JSON document.
pub fn write_json<W: Write + ?Sized>(out: &mut W, report: &Report) -> io::Result<()> {
    crate::output::write_json(out, report)
}
