//! How heapwise says things to people. Every sentence and every figure a
//! report shows — the analysis crates' `reason` sentences, the text, HTML
//! and terminal views — formats its numbers here, so that "12.0 MiB" in a
//! verdict is "12.0 MiB" in the table below it and in the live view.
//!
//! One rule per kind of figure:
//!
//! - **counts** with thousands separators: `1,234,567` ([`thousands`]);
//! - **bytes** in binary units, one decimal above 1 KiB: `512 B`,
//!   `1.5 KiB`, `12.0 MiB` ([`bytes`]); estimates and signed changes have
//!   their variants ([`bytes_f64`], [`bytes_signed`]);
//! - **rates** per second, minute or hour, whichever makes the number at
//!   least 1 KiB: `1.2 MiB/s`, `10.0 MiB/h` ([`rate`]);
//! - **durations** of whatever scale, one or two significant digits:
//!   `250 ms`, `4.2 s`, `40 s`, `3.5 min`, `2.0 h`, `3.0 days`
//!   ([`duration`]); pauses, which people compare to the millisecond, in
//!   milliseconds ([`millis`]);
//! - **how a process ended** ([`Ended`]);
//! - **call-stack frames** ([`FrameText`]).
//!
//! No dependencies and no I/O: every crate can use it.

mod ended;
mod frame;
mod number;

pub use ended::Ended;
pub use frame::{FrameText, file_name};
pub use number::{
    bytes, bytes_f64, bytes_f64_signed, bytes_or_unknown, bytes_signed, duration, mb_per_hour,
    millis, p_value, percent, plural, rate, rate_signed, seconds_exact, thousands,
    thousands_signed,
};
