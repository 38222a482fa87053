//! Helpers shared by every renderer.

use std::io::{self, Write};

/// Writes `value` as pretty-printed JSON followed by a newline.
pub fn write_json<W: Write + ?Sized, T: serde::Serialize>(
    out: &mut W,
    value: &T,
) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::other)?;
    out.write_all(b"\n")
}
