//! Exit codes shared by every command (see `../shared/CONTRACTS.md`).

use std::io::Write;
use std::process::ExitCode;

/// The input was bad or an operation failed.
pub const FAILURE: u8 = 1;
/// The command line could not be parsed.
pub const USAGE: u8 = 2;
/// A leak was found and `--fail-on-leak` was given.
pub const LEAK_FOUND: u8 = 10;

/// Prints a clap error (or help/version) and returns the matching code.
pub fn usage_error(err: clap::Error) -> ExitCode {
    let code = if err.use_stderr() { USAGE } else { 0 };
    // A closed pipe while printing help is not worth reporting.
    let _ = err.print();
    ExitCode::from(code)
}

/// Maps a command's result to an exit code, printing the error chain.
pub fn finish(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            let mut message = format!("heapwise: {err}");
            for cause in err.chain().skip(1) {
                message.push_str(&format!(": {cause}"));
            }
            // Not eprintln!: it panics when stderr is gone (a hung-up
            // terminal), and there is nobody to tell then anyway.
            let _ = writeln!(std::io::stderr(), "{message}");
            ExitCode::from(FAILURE)
        }
    }
}

/// A reader that closed its end of the pipe (`heapwise ... | head`) is success.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
