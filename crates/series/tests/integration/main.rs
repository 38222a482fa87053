//! Integration tests of heapwise-series: synthetic series with known truth.
//! One binary for all of them (see STYLE.md).

mod edge_cases;
mod long_series;
mod outputs;
mod patterns;
mod properties;
mod synth;
