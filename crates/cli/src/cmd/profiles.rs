//! `heapwise profiles PROFILE PROFILE...`: a series of other profilers'
//! heap profiles — Go's pprof (`/debug/pprof/heap`), jemalloc's heap_v2
//! dumps — judged for growth per call stack (see `docs/profiles.md`).
//!
//! Glue only: read each file with `heapwise-profiles`, analyse the series,
//! render it with `heapwise-render`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use heapwise_profiles::{AnalysisOptions, Input, ProfilesReport, analyze, read_path};
use heapwise_render::output::write_json;
use heapwise_render::profiles::{TextOptions, write as write_text};

use crate::exit;

/// Judge a series of heap profiles of another profiler: which call stacks' live bytes keep growing.
///
/// Reads Go heap profiles (pprof's profile.proto, gzip'd or not, as
/// net/http/pprof's /debug/pprof/heap serves them) and jemalloc heap_v2
/// dumps (MALLOC_CONF=prof:true), recognised by their content. The
/// profiles are ordered by the time stamps they carry (pprof), else taken
/// in the order given (jemalloc dumps carry none), or by their files'
/// modification times with --by-mtime. Estimates of sampled profiles
/// count as growth only beyond twice their sampling error.
#[derive(Args)]
#[command(
    after_help = "Examples:\n  for i in $(seq -w 1 12); do curl -so heap-$i.pb.gz 'http://127.0.0.1:6060/debug/pprof/heap?gc=1'; sleep 60; done\n  heapwise profiles heap-*.pb.gz\n  heapwise profiles --by-mtime --format json -o verdict.json jeprof.4242.*.heap"
)]
pub struct ProfilesArgs {
    /// The profiles (at least two), of one profiler.
    #[arg(value_name = "PROFILE", num_args = 2.., required = true)]
    pub profiles: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ProfilesFormat::Text)]
    pub format: ProfilesFormat,
    /// Write the report to this file instead of standard output.
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Exit with status 10 when a call stack (or the whole heap) leaks.
    #[arg(long)]
    pub fail_on_leak: bool,
    /// How many call stacks to list, most suspicious first (all are judged).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,
    /// Order and time the profiles by their files' modification times
    /// (for jemalloc dumps, which carry no time).
    #[arg(long)]
    pub by_mtime: bool,
}

/// Output formats of `heapwise profiles`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProfilesFormat {
    /// For people.
    Text,
    /// For tools (schema `heapwise.profiles/1`).
    Json,
}

/// Runs `heapwise profiles`.
pub fn run(args: ProfilesArgs) -> Result<ExitCode> {
    let mut inputs = Vec::with_capacity(args.profiles.len());
    for path in &args.profiles {
        let context = || format!("while reading heap profile {}", path.display());
        let profile = read_path(path).with_context(context)?;
        let mtime_unix_ns = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_nanos()).ok());
        inputs.push(Input {
            name: path.display().to_string(),
            profile,
            mtime_unix_ns,
        });
    }
    let options = AnalysisOptions {
        by_mtime: args.by_mtime,
        max_stacks: args.top,
    };
    let report = analyze(inputs, &options).context("while judging the profiles")?;
    emit(&args, &report)?;
    if args.fail_on_leak && report.verdict.leak {
        return Ok(ExitCode::from(exit::LEAK_FOUND));
    }
    Ok(ExitCode::SUCCESS)
}

fn emit(args: &ProfilesArgs, report: &ProfilesReport) -> Result<()> {
    let render = |out: &mut dyn Write| match args.format {
        ProfilesFormat::Json => write_json(out, report),
        ProfilesFormat::Text => write_text(out, report, &TextOptions::default()),
    };
    match &args.output {
        Some(path) => {
            let context = || format!("while writing {}", path.display());
            let mut out = BufWriter::new(File::create(path).with_context(context)?);
            render(&mut out)
                .and_then(|()| out.flush())
                .with_context(context)
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            render(&mut out)
                .and_then(|()| out.flush())
                .context("while writing the report")
        }
    }
}
