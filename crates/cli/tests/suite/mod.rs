mod bad_input;
mod formats;
mod native_run;
pub mod util;
