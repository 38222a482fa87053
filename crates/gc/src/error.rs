//! Errors of reading a GC log.

use std::fmt;
use std::path::PathBuf;

use crate::model::LogFormat;

/// Why a GC log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    /// No line of the file was a GC event of any format tried.
    #[error("{}", no_events_message(*lines, tried, *forced, *looks_like))]
    NoEvents {
        /// Complete lines read.
        lines: u64,
        /// The formats tried.
        tried: Vec<LogFormat>,
        /// True when one format was asked for instead of detected.
        forced: bool,
        /// What the file looks like when it is the GC log of a runtime
        /// heapwise does not read (`an OpenJ9 / IBM J9 verbose GC log
        /// (XML)`, `a JRockit GC log`, `an HP-UX JVM GC log`).
        looks_like: Option<&'static str>,
    },
    /// A file of the log could not be opened.
    #[error("could not open {}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The log is gzip-compressed and its compressed data is cut off or
    /// corrupt.
    #[error("the gzip-compressed log is cut off or corrupt")]
    Gzip(#[source] std::io::Error),
    /// Reading the file failed.
    #[error("could not read the log")]
    Io(#[source] std::io::Error),
}

fn no_events_message(
    lines: u64,
    tried: &[LogFormat],
    forced: bool,
    looks_like: Option<&str>,
) -> String {
    if let Some(what) = looks_like {
        return format!(
            "this looks like {what}, which heapwise does not read (it reads Node.js, HotSpot JVM and Go GC logs)"
        );
    }
    let names: Vec<&str> = tried.iter().map(|f| f.describe()).collect();
    let mut message = format!(
        "no GC events found in {} line{}; tried {}",
        lines,
        if lines == 1 { "" } else { "s" },
        Names(&names)
    );
    if forced {
        message.push_str(" as asked (use --log-format auto to detect the format)");
    } else {
        message.push_str(
            ". Enable GC logging with node --trace-gc, java -Xlog:gc (JDK 8: -XX:+PrintGCDetails) or GODEBUG=gctrace=1",
        );
    }
    message
}

/// `a, b and c`.
struct Names<'a>(&'a [&'a str]);

impl fmt::Display for Names<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, name) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(if i + 1 == self.0.len() { " and " } else { ", " })?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}
