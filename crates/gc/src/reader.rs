//! [`GcLogReader`]: feeds bytes or lines to the right parser, detecting the
//! format when asked, and keeps the log readable while it grows.

use std::borrow::Cow;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::GcError;
use crate::model::{GcLog, LogFormat};
use crate::parse::{FormatParser, LineUse, parser_for};

/// Lines longer than this are not GC lines; they are skipped without being
/// held in memory (a binary file has no newlines).
const MAX_LINE: usize = 1 << 20;

/// Reads a GC log incrementally.
///
/// Feed it the file's bytes in chunks of any size ([`GcLogReader::feed`]);
/// complete lines are parsed at once, an incomplete last line is held until
/// its newline arrives. With auto-detection every format's parser reads the
/// lines until one of them recognises a GC event; from then on only that
/// parser runs, with the state it built (collector name, maximum heap).
pub struct GcLogReader {
    requested: Option<LogFormat>,
    state: State,
    pending: Vec<u8>,
    /// Inside an over-long line: skip until the next newline.
    discarding: bool,
    line_number: u64,
}

enum State {
    Detecting(Vec<(Box<dyn FormatParser>, GcLog)>),
    Locked(Box<dyn FormatParser>, Box<GcLog>),
}

impl GcLogReader {
    /// A reader for `format`, or for whichever format the lines turn out to
    /// be when `None`.
    pub fn new(format: Option<LogFormat>) -> Self {
        let state = match format {
            Some(format) => State::Locked(parser_for(format), Box::new(GcLog::new(format))),
            None => State::Detecting(
                LogFormat::ALL
                    .iter()
                    .map(|&f| (parser_for(f), GcLog::new(f)))
                    .collect(),
            ),
        };
        GcLogReader {
            requested: format,
            state,
            pending: Vec::new(),
            discarding: false,
            line_number: 0,
        }
    }

    /// Reads every complete line in `bytes` (plus the incomplete line held
    /// from the previous call) and holds a new incomplete last line.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while let Some(newline) = bytes.iter().position(|&b| b == b'\n') {
            let (head, tail) = (&bytes[..newline], &bytes[newline + 1..]);
            if self.discarding {
                self.discarding = false;
                self.pending.clear();
            } else if self.pending.is_empty() {
                self.process(head);
            } else {
                let mut line = std::mem::take(&mut self.pending);
                line.extend_from_slice(head);
                self.process(&line);
                line.clear();
                self.pending = line;
            }
            bytes = tail;
        }
        if !self.discarding {
            self.pending.extend_from_slice(bytes);
            if self.pending.len() > MAX_LINE {
                self.pending.clear();
                self.discarding = true;
                self.count_long_line();
            }
        }
        self.mark_truncation();
    }

    /// Reads one complete line (without its newline).
    pub fn feed_line(&mut self, line: &str) {
        self.process(line.as_bytes());
    }

    /// The log read so far, once a GC event has been found (or a format was
    /// given); `None` while auto-detection has not found one.
    pub fn log(&self) -> Option<&GcLog> {
        match &self.state {
            State::Locked(_, log) => Some(log),
            State::Detecting(_) => None,
        }
    }

    /// Complete lines read so far.
    pub fn lines_read(&self) -> u64 {
        self.line_number
    }

    /// The log, or the error that says no GC events were found and which
    /// formats were tried.
    pub fn finish(self) -> Result<GcLog, GcError> {
        let lines = self.line_number;
        match self.state {
            State::Locked(_, log) if !log.events.is_empty() => Ok(*log),
            State::Locked(_, log) => Err(GcError::NoEvents {
                lines,
                tried: vec![log.format],
                forced: self.requested.is_some(),
            }),
            State::Detecting(_) => Err(GcError::NoEvents {
                lines,
                tried: LogFormat::ALL.to_vec(),
                forced: false,
            }),
        }
    }

    fn process(&mut self, raw: &[u8]) {
        self.line_number += 1;
        let number = self.line_number;
        let text: Cow<'_, str> = match std::str::from_utf8(raw) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(raw),
        };
        let line = text.strip_suffix('\r').unwrap_or(&text);
        match &mut self.state {
            State::Locked(parser, log) => {
                let used = parser.line(line, number, log);
                count(log, used);
            }
            State::Detecting(candidates) => {
                let mut found = None;
                for (at, (parser, log)) in candidates.iter_mut().enumerate() {
                    let used = parser.line(line, number, log);
                    count(log, used);
                    if used == LineUse::Event && found.is_none() {
                        found = Some(at);
                    }
                }
                if let Some(at) = found {
                    let (parser, log) = candidates.swap_remove(at);
                    self.state = State::Locked(parser, Box::new(log));
                }
            }
        }
    }

    fn count_long_line(&mut self) {
        self.line_number += 1;
        match &mut self.state {
            State::Locked(_, log) => count(log, LineUse::Skipped),
            State::Detecting(candidates) => {
                for (_, log) in candidates {
                    count(log, LineUse::Skipped);
                }
            }
        }
    }

    fn mark_truncation(&mut self) {
        let truncated = !self.pending.is_empty() || self.discarding;
        match &mut self.state {
            State::Locked(_, log) => log.lines.truncated_last_line = truncated,
            State::Detecting(candidates) => {
                for (_, log) in candidates {
                    log.lines.truncated_last_line = truncated;
                }
            }
        }
    }
}

fn count(log: &mut GcLog, used: LineUse) {
    log.lines.total += 1;
    match used {
        LineUse::Event => log.lines.events += 1,
        LineUse::Detail | LineUse::Skipped => log.lines.skipped += 1,
        LineUse::Malformed => {
            log.lines.skipped += 1;
            log.lines.malformed += 1;
        }
    }
}

/// Reads a whole log from `reader`. `format`: `None` to detect it.
pub fn read_log<R: Read>(mut reader: R, format: Option<LogFormat>) -> Result<GcLog, GcError> {
    let mut log = GcLogReader::new(format);
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(GcError::Io(err)),
        };
        log.feed(&buffer[..n]);
    }
    log.finish()
}

/// Reads the log file at `path`. `format`: `None` to detect it.
pub fn read_path(path: &Path, format: Option<LogFormat>) -> Result<GcLog, GcError> {
    let file = File::open(path).map_err(GcError::Io)?;
    read_log(file, format)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE: &str = "[1:0x1]   25 ms: Scavenge 3.9 (4.0) -> 3.5 (5.0) MB, 1.88 / 0.00 ms  (average mu = 1.000, current mu = 1.000) allocation failure;\n";

    #[test]
    fn detects_and_counts_across_chunk_boundaries() {
        let text = format!("starting\n{NODE}app line\n{NODE}{}", &NODE[..30]);
        for chunk in [1, 7, 4096] {
            let mut reader = GcLogReader::new(None);
            for piece in text.as_bytes().chunks(chunk) {
                reader.feed(piece);
            }
            let log = reader.finish().unwrap();
            assert_eq!(log.format, LogFormat::Node);
            assert_eq!(log.events.len(), 2);
            assert_eq!(log.lines.total, 4);
            assert_eq!(log.lines.skipped, 2);
            assert!(log.lines.truncated_last_line);
            assert_eq!(log.events[1].line, 4);
        }
    }

    #[test]
    fn no_events_names_the_formats_tried() {
        let err = read_log("hello\nworld\n".as_bytes(), None).unwrap_err();
        let message = err.to_string();
        for format in LogFormat::ALL {
            assert!(message.contains(format.describe()), "{message}");
        }
        let err = read_log(NODE.as_bytes(), Some(LogFormat::Go)).unwrap_err();
        assert!(err.to_string().contains("Go GODEBUG=gctrace=1"), "{err}");
    }

    #[test]
    fn long_lines_binary_and_crlf() {
        let mut bytes = vec![b'x'; 3 * MAX_LINE];
        bytes.push(b'\n');
        bytes.extend_from_slice(&[0xff, 0xfe, 0, b'\n']);
        bytes.extend_from_slice(NODE.trim_end().as_bytes());
        bytes.extend_from_slice(b"\r\n");
        let log = read_log(&bytes[..], None).unwrap();
        assert_eq!((log.lines.total, log.lines.events), (3, 1));
        assert!(!log.lines.truncated_last_line);
    }
}
