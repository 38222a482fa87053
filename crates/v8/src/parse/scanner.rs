//! A small pull scanner over the bytes of a JSON document.
//!
//! It knows just enough JSON to walk a heap snapshot without building a tree:
//! object keys, strings (decoded leniently, see [`super::strings`]), arrays of
//! non-negative integers read straight into a sink, and skipping or capturing
//! any other value. The buffer is refilled from the reader as it goes, so memory
//! stays at one buffer whatever the file size.

use std::io::Read;

use crate::error::ParseError;

const BUFFER_SIZE: usize = 1 << 20;

/// Called with the number of bytes consumed so far.
pub(crate) type ProgressFn<'a> = &'a mut dyn FnMut(u64);

/// A buffered reader with JSON-aware helpers.
pub(crate) struct Scanner<'p, R> {
    reader: R,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    /// Bytes of the file before `buf[0]`.
    base: u64,
    eof: bool,
    progress: Option<ProgressFn<'p>>,
}

impl<'p, R: Read> Scanner<'p, R> {
    pub(crate) fn new(reader: R, progress: Option<ProgressFn<'p>>) -> Self {
        Scanner {
            reader,
            buf: vec![0; BUFFER_SIZE],
            pos: 0,
            len: 0,
            base: 0,
            eof: false,
            progress,
        }
    }

    /// Offset in the file of the next unread byte.
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Refills the buffer once it is fully consumed; returns false at end of file.
    fn fill(&mut self) -> Result<bool, ParseError> {
        if self.pos < self.len {
            return Ok(true);
        }
        if self.eof {
            return Ok(false);
        }
        self.base += self.len as u64;
        self.pos = 0;
        self.len = 0;
        loop {
            match self.reader.read(&mut self.buf) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.len = n;
                    break;
                }
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err.into()),
            }
        }
        if let Some(progress) = self.progress.as_mut() {
            progress(self.base + self.len as u64);
        }
        Ok(true)
    }

    pub(crate) fn truncated(&self, context: &'static str) -> ParseError {
        ParseError::Truncated {
            offset: self.offset(),
            context,
        }
    }

    pub(crate) fn syntax(&self, message: impl Into<String>) -> ParseError {
        ParseError::Syntax {
            offset: self.offset(),
            message: message.into(),
        }
    }

    /// The next byte without consuming it, or `None` at end of file.
    pub(crate) fn peek(&mut self) -> Result<Option<u8>, ParseError> {
        if self.fill()? {
            Ok(Some(self.buf[self.pos]))
        } else {
            Ok(None)
        }
    }

    fn next_byte(&mut self, context: &'static str) -> Result<u8, ParseError> {
        if !self.fill()? {
            return Err(self.truncated(context));
        }
        let byte = self.buf[self.pos];
        self.pos += 1;
        Ok(byte)
    }

    /// Skips whitespace; returns the next byte (not consumed).
    pub(crate) fn skip_ws(&mut self, context: &'static str) -> Result<u8, ParseError> {
        loop {
            if !self.fill()? {
                return Err(self.truncated(context));
            }
            let byte = self.buf[self.pos];
            if matches!(byte, b' ' | b'\n' | b'\r' | b'\t') {
                self.pos += 1;
            } else {
                return Ok(byte);
            }
        }
    }

    /// Skips whitespace and consumes `expected`.
    pub(crate) fn expect(&mut self, expected: u8, context: &'static str) -> Result<(), ParseError> {
        let byte = self.skip_ws(context)?;
        if byte != expected {
            return Err(self.syntax(format!(
                "expected '{}' {context}, found {}",
                expected as char,
                describe(byte)
            )));
        }
        self.pos += 1;
        Ok(())
    }

    /// After a value inside a container: consumes `,` and returns true, or
    /// consumes `close` and returns false.
    pub(crate) fn comma_or(
        &mut self,
        close: u8,
        context: &'static str,
    ) -> Result<bool, ParseError> {
        let byte = self.skip_ws(context)?;
        self.pos += 1;
        match byte {
            b',' => Ok(true),
            b if b == close => Ok(false),
            other => {
                self.pos -= 1;
                Err(self.syntax(format!(
                    "expected ',' or '{}' {context}, found {}",
                    close as char,
                    describe(other)
                )))
            }
        }
    }

    /// Checks that only whitespace remains.
    pub(crate) fn expect_end(&mut self) -> Result<(), ParseError> {
        loop {
            match self.peek()? {
                None => return Ok(()),
                Some(b' ' | b'\n' | b'\r' | b'\t') => self.pos += 1,
                Some(other) => {
                    return Err(self.syntax(format!(
                        "unexpected {} after the end of the document",
                        describe(other)
                    )));
                }
            }
        }
    }

    /// Reads a JSON string (the opening quote not yet consumed) into `out`.
    ///
    /// Raw bytes are collected and decoded by [`super::strings::decode`], so
    /// lone surrogates and invalid UTF-8 become U+FFFD instead of errors.
    pub(crate) fn read_string(
        &mut self,
        raw: &mut Vec<u8>,
        out: &mut String,
        context: &'static str,
    ) -> Result<(), ParseError> {
        self.expect(b'"', context)?;
        raw.clear();
        let start_offset = self.offset();
        loop {
            if !self.fill()? {
                return Err(self.truncated(context));
            }
            let chunk = &self.buf[self.pos..self.len];
            // Copy up to the next quote or backslash in one go.
            match chunk.iter().position(|&b| b == b'"' || b == b'\\') {
                Some(i) => {
                    raw.extend_from_slice(&chunk[..i]);
                    let stop = chunk[i];
                    self.pos += i + 1;
                    if stop == b'"' {
                        break;
                    }
                    raw.push(b'\\');
                    let escaped = self.next_byte(context)?;
                    raw.push(escaped);
                }
                None => {
                    raw.extend_from_slice(chunk);
                    self.pos = self.len;
                }
            }
        }
        super::strings::decode(raw, out).map_err(|message| ParseError::Syntax {
            offset: start_offset,
            message: format!("bad string {context}: {message}"),
        })
    }

    /// Reads an array of non-negative integers that fit in 32 bits, handing
    /// each one to `sink`. The opening bracket must not be consumed yet.
    pub(crate) fn read_u32_array(
        &mut self,
        context: &'static str,
        mut sink: impl FnMut(u32) -> Result<(), ParseError>,
    ) -> Result<(), ParseError> {
        self.expect(b'[', context)?;
        // 0: after '[' (value or ']'), 1: after ',' (value), 2: in a number,
        // 3: after a number and whitespace (',' or ']').
        let mut state: u8 = 0;
        let mut value: u64 = 0;
        loop {
            if !self.fill()? {
                return Err(self.truncated(context));
            }
            let mut i = self.pos;
            let len = self.len;
            while i < len {
                let byte = self.buf[i];
                match byte {
                    b'0'..=b'9' if state != 3 => {
                        // The hot path: a run of digits without dispatching on each.
                        let mut j = i;
                        while j < len && self.buf[j].is_ascii_digit() && j - i < 12 {
                            value = value * 10 + u64::from(self.buf[j] - b'0');
                            j += 1;
                        }
                        if value > u64::from(u32::MAX) {
                            self.pos = i;
                            return Err(
                                self.syntax(format!("a number {context} does not fit in 32 bits"))
                            );
                        }
                        state = 2;
                        i = j;
                        continue;
                    }
                    b' ' | b'\n' | b'\r' | b'\t' => {
                        if state == 2 {
                            sink(value as u32)?;
                            value = 0;
                            state = 3;
                        }
                    }
                    b',' if state >= 2 => {
                        if state == 2 {
                            sink(value as u32)?;
                            value = 0;
                        }
                        state = 1;
                    }
                    b']' if state != 1 => {
                        if state == 2 {
                            sink(value as u32)?;
                        }
                        self.pos = i + 1;
                        return Ok(());
                    }
                    other => {
                        self.pos = i;
                        return Err(self.syntax(format!(
                            "expected a non-negative integer {context}, found {}",
                            describe(other)
                        )));
                    }
                }
                i += 1;
            }
            self.pos = len;
        }
    }

    /// Skips one JSON value of any kind.
    pub(crate) fn skip_value(&mut self, context: &'static str) -> Result<(), ParseError> {
        self.walk_value(context, &mut |_| {})
    }

    /// Returns the bytes of one JSON value of any kind.
    pub(crate) fn capture_value(&mut self, context: &'static str) -> Result<Vec<u8>, ParseError> {
        let mut bytes = Vec::new();
        self.walk_value(context, &mut |chunk| bytes.extend_from_slice(chunk))?;
        Ok(bytes)
    }

    /// Walks one value, tracking nesting and strings, feeding its bytes to `keep`.
    fn walk_value(
        &mut self,
        context: &'static str,
        keep: &mut dyn FnMut(&[u8]),
    ) -> Result<(), ParseError> {
        let first = self.skip_ws(context)?;
        let mut depth: u32 = 0;
        let mut in_string = false;
        let mut escaped = false;
        let scalar = !matches!(first, b'{' | b'[' | b'"');
        if scalar && !matches!(first, b'-' | b'0'..=b'9' | b't' | b'f' | b'n') {
            return Err(self.syntax(format!(
                "expected a value {context}, found {}",
                describe(first)
            )));
        }
        loop {
            if !self.fill()? {
                if scalar {
                    return Ok(());
                }
                return Err(self.truncated(context));
            }
            let start = self.pos;
            let mut i = start;
            let mut done = false;
            while i < self.len {
                let byte = self.buf[i];
                if in_string {
                    if escaped {
                        escaped = false;
                    } else if byte == b'\\' {
                        escaped = true;
                    } else if byte == b'"' {
                        in_string = false;
                        if depth == 0 {
                            i += 1;
                            done = true;
                            break;
                        }
                    }
                } else if scalar {
                    if matches!(byte, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                        done = true;
                        break;
                    }
                } else {
                    match byte {
                        b'"' => in_string = true,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                i += 1;
                                done = true;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                i += 1;
            }
            keep(&self.buf[start..i]);
            self.pos = i;
            if done {
                return Ok(());
            }
        }
    }
}

/// Names a byte for an error message.
fn describe(byte: u8) -> String {
    if byte.is_ascii_graphic() {
        format!("'{}'", byte as char)
    } else {
        format!("byte 0x{byte:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanner(text: &str) -> Scanner<'static, &[u8]> {
        Scanner::new(text.as_bytes(), None)
    }

    #[test]
    fn reads_integer_arrays_with_any_whitespace() {
        let mut values = Vec::new();
        scanner("[1,2\n,30 , 4294967295]")
            .read_u32_array("in test", |v| {
                values.push(v);
                Ok(())
            })
            .unwrap();
        assert_eq!(values, [1, 2, 30, u32::MAX]);
    }

    #[test]
    fn rejects_wrong_types_in_integer_arrays() {
        for bad in [
            "[1,-2]",
            "[1.5]",
            "[\"a\"]",
            "[1,,2]",
            "[1,]",
            "[4294967296]",
            "[1 2",
            "[1 2]",
            "[,1]",
        ] {
            let result = scanner(bad).read_u32_array("in test", |_| Ok(()));
            assert!(result.is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn skips_nested_values_and_strings_with_brackets() {
        let mut s = scanner(r#"{"a":[1,{"b":"]}\""}]} ,7"#);
        s.skip_value("in test").unwrap();
        assert_eq!(s.skip_ws("in test").unwrap(), b',');
    }
}
