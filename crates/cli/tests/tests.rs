//! End-to-end tests of the `heapwise` binary: real programs with known
//! leaks, traced for real, checked through the JSON report.
//!
//! Where each behaviour is tested (programs in `tests/programs/`):
//!
//! | behaviour | file |
//! |---|---|
//! | exact counts and stacks of native tracing: sites, C++, threads, realloc, dlopen, signals, fork, exec, exit paths, valgrind's counts, `-o` names, pthread keys, inherited blocks of a forked child | `suite/native_run.rs` |
//! | programs that die (abort, SIGSEGV, SIGKILL from inside and outside, own handlers): nothing lost, the spill file | `suite/death.rs` |
//! | the verdict: one headline in JSON, text, HTML and run's summary; `--fail-on-leak`; an allocator of the program's own | `suite/verdict.rs` |
//! | every output format (text, JSON, HTML, pprof, flame graph, collapsed) | `suite/formats.rs` |
//! | the HTML page in a real browser (headless Chromium): the verdict, the chart's points, the flame graph, the leak table, a screenshot that is not blank | `suite/html_browser.rs` |
//! | memory over time: timeline, growth patterns (also on coarsened series), peak, old and temporary blocks, fragmentation | `suite/growth.rs` |
//! | bad input: missing, cut, damaged and foreign traces; static binaries; bad options | `suite/bad_input.rs` |
//! | the live view of `run` and `report --follow`, in tmux | `suite/live.rs` |
//!
//! The other end-to-end binaries: `heap.rs` (V8 heap snapshots of real
//! Node.js scripts), `gc.rs` (GC logs, real Node.js and JVM runs),
//! `watch.rs` (`heapwise watch` on processes of known shape, Prometheus,
//! the dashboard). Helpers shared by all of them are in `common/`.

mod common;
mod suite;
