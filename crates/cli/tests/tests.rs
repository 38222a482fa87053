//! End-to-end tests of the `heapwise` binary, one test binary for all of
//! them: real programs with known leaks traced for real, real Node.js and
//! JVM processes, real GC logs, processes of known shape watched for real —
//! checked through the JSON reports, the pages in a browser and the
//! terminal views in tmux.
//!
//! Where each behaviour is tested (C/C++ programs in `programs/`, watched
//! programs in `watch_programs/`):
//!
//! | behaviour | file |
//! |---|---|
//! | exact counts and stacks of native tracing: sites, C++, threads, realloc, dlopen, signals, fork, exec, exit paths, valgrind's counts, `-o` names, pthread keys, inherited blocks of a forked child | `native/native_run.rs` |
//! | sampled tracing (`run --sample`, `HEAPWISE_SAMPLE`): what the preload records of known sizes, read from the trace — the rate of each size, frees of sampled blocks only, realloc with either side sampled, a signal handler inside a hook, a full table said in a note, the full trace unchanged, bad sizes | `native/sampling_preload.rs` |
//! | programs that die (abort, SIGSEGV, SIGKILL from inside and outside, own handlers): nothing lost, the spill file | `native/death.rs` |
//! | the verdict: one headline in JSON, text, HTML and run's summary; `--fail-on-leak`; an allocator of the program's own | `native/verdict.rs` |
//! | reachability at exit: blocks held by globals, thread stacks, TLS, registers, interior and unaligned pointers, lost trees, cycles and chains, C++ heuristics — valgrind's four kinds, valgrind as the oracle; `_exit` and exit from another thread; a killed program; `--fail-on-leak` with `--suppressions` in valgrind's and LSan's formats | `native/reach.rs` |
//! | every output format (text, JSON, HTML, pprof, flame graph, collapsed) | `native/formats.rs` |
//! | the HTML page in a real browser (headless Chromium): the verdict, the chart's points, the flame graph, the leak table, a screenshot that is not blank | `native/html_browser.rs` |
//! | memory over time: timeline, growth patterns (also on coarsened series), peak, old and temporary blocks, fragmentation | `native/growth.rs` |
//! | bad input: missing, cut, damaged and foreign traces; static binaries; bad options | `native/bad_input.rs` |
//! | the live view of `run` and `report --follow`, in tmux | `native/live.rs` |
//! | `heapwise attach` to a running process: what leaked while attached, exact; the process left as it was; attached again, exact again; refusals (a process being traced, under `heapwise run`); 50 attach/detach cycles on a churning program (its output, descriptors, state, every trace); the time to attach to 50 threads; fork and exec while attached | `native/attach/` |
//! | `heapwise heap`: V8 snapshots of real Node.js scripts — summary, diff, leaks, capture, watch | `heap/v8.rs` |
//! | `heapwise heap` on JVM dumps of a real leaking Java program — the contract, roots with the program's counts (a class loader that never dies among them), `-gz=1` dumps, cut dumps, mixed kinds | `heap/hprof.rs` |
//! | `heapwise heap ... --format html` in a real browser: the leaks pages of the express app and the Java program show the JSON's roots, not blank; summary and diff pages | `heap/html.rs` |
//! | `heapwise gc`: GC logs of Node.js, the JVM and Go — contract, follow, bad input, a real Node.js leak | `gc/mod.rs` |
//! | `heapwise profiles`: series of real Go heap profiles and jemalloc dumps — the leak at its rate, the cache not, JSON and text, exit codes, order and `--by-mtime`, cut and foreign files | `profiles/mod.rs` |
//! | `heapwise watch` on the command line: formats, children, exits, bad input | `watch/cli.rs` |
//! | `heapwise watch`'s verdicts on programs that shape their memory on purpose | `watch/patterns.rs` |
//! | the Prometheus endpoint, with promtool and a real Prometheus server | `watch/prometheus.rs` |
//! | `heapwise watch`'s dashboard, in tmux | `watch/dashboard.rs` |
//!
//! Helpers: `common/` for everything (running heapwise, scratch
//! directories, tmux, headless Chromium), `native/util.rs` for tracing (it builds the preload,
//! which `cargo test` does not, and the test programs), `watch/util.rs` for
//! starting processes of known shape.

mod common;
mod gc;
mod heap;
mod native;
mod profiles;
mod watch;
