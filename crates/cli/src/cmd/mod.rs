//! One module per subcommand, plus what they share.

pub mod gc;
pub mod heap;
pub mod interrupts;
mod launch;
mod native;
pub mod report;
pub mod run;
mod symbols;
pub mod watch;
