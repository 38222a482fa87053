//! `heapwise`: is growing memory a leak, where is it, and why?
//!
//! This binary is glue: it parses flags, calls the library crates, renders
//! their results and maps errors to exit codes (see `docs/cli.md`).

mod cmd;
mod exit;
mod tui;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Is growing memory a leak, where is it, and why?
#[derive(Parser)]
#[command(name = "heapwise", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a program and trace every allocation it makes
    Run(cmd::run::RunArgs),
    /// Trace a running process, then detach and leave it as it was
    Attach(cmd::attach::AttachArgs),
    /// Report on a trace: totals, sizes, leaking call stacks
    Report(cmd::report::ReportArgs),
    /// Analyse heap snapshots and dumps: V8/Node.js, JVM (HPROF)
    Heap {
        #[command(subcommand)]
        command: cmd::heap::HeapCommand,
    },
    /// Watch a running process's memory: verdict, forecast, dashboard
    Watch(cmd::watch::WatchArgs),
    /// Analyse a GC log (Node.js, JVM, Go)
    Gc(cmd::gc::GcArgs),
    /// Judge a series of Go (pprof) or jemalloc heap profiles for growth
    Profiles(cmd::profiles::ProfilesArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return exit::usage_error(err),
    };
    let result: anyhow::Result<ExitCode> = match cli.command {
        Command::Run(args) => cmd::run::run(args),
        Command::Attach(args) => cmd::attach::run(args),
        Command::Report(args) => cmd::report::run(args),
        Command::Heap { command } => cmd::heap::run(command),
        Command::Watch(args) => cmd::watch::run(args),
        Command::Gc(args) => cmd::gc::run(args),
        Command::Profiles(args) => cmd::profiles::run(args),
    };
    exit::finish(result)
}
