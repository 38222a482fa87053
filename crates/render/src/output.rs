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

// The native HTML page still calls these names while it moves to templates
// (issue 11); every other renderer calls `heapwise_words` itself.
pub(crate) use heapwise_words::{
    bytes as human_bytes, bytes_signed as human_bytes_signed, thousands,
};
