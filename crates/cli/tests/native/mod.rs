mod bad_input;
mod death;
mod formats;
mod growth;
mod html_browser;
mod live;
mod native_run;
pub mod util;
mod verdict;
