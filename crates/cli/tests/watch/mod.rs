//! End-to-end tests of `heapwise watch`: C programs that shape their
//! anonymous memory on purpose (`watch_programs/shape.c`) are watched for
//! real, and the verdicts, figures, formats, the Prometheus endpoint (with
//! `promtool` and a real Prometheus server) and the dashboard (in a real
//! pseudo-terminal, under tmux) are checked against what the programs do.
//!
//! promtool, prometheus and tmux must be installed (`.ci/run` installs
//! them); a test that needs one fails, rather than skips, without it.

mod cli;
mod dashboard;
mod patterns;
mod prometheus;
mod util;
