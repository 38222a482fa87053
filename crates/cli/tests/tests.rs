//! End-to-end tests of the `heapwise` binary: real programs with known
//! leaks, traced for real, checked through the JSON report.

mod common;
mod suite;
