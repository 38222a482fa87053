//! One module per subcommand, plus what they share.

mod args;
pub mod attach;
pub mod gc;
pub mod heap;
mod hprof;
pub mod interrupts;
mod launch;
mod native;
pub mod profiles;
mod pty;
mod reach;
pub mod report;
pub mod run;
pub(crate) mod symbols;
pub mod watch;
