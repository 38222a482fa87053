//! One module per subcommand, plus what they share.

pub mod heap;
mod launch;
mod native;
pub mod report;
pub mod run;
mod symbols;
