mod bad_input;
mod formats;
mod growth;
mod native_run;
pub mod util;
