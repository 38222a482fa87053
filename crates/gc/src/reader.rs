//! [`GcLogReader`]: feeds bytes or lines to the right parser, detecting the
//! format when asked, and keeps the log readable while it grows.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::error::GcError;
use crate::foreign;
use crate::model::{GcLog, LogFile, LogFormat};
use crate::parse::{FormatParser, LineUse, parser_for};
use crate::rotation;

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
    /// What the lines look like when they are of a runtime heapwise does
    /// not read (sniffed while detecting).
    foreign: Option<&'static str>,
    /// Files started with [`GcLogReader::start_file`], until a format is
    /// found.
    files: Vec<LogFile>,
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
            foreign: None,
            files: Vec::new(),
        }
    }

    /// The bytes fed from now on are another file of the same log (the
    /// next file of a rotated set): a last line without its newline ends
    /// where the file ends, and each parser knows that the file's header
    /// lines are no restart.
    pub fn start_file(&mut self, name: &str, gzip: bool) {
        self.end_file();
        let file = LogFile {
            name: name.to_string(),
            first_line: self.line_number + 1,
            gzip,
        };
        match &mut self.state {
            State::Locked(parser, log) => {
                parser.new_file();
                log.files.push(file);
            }
            State::Detecting(candidates) => {
                for (parser, _) in candidates.iter_mut() {
                    parser.new_file();
                }
                self.files.push(file);
            }
        }
    }

    /// A file ended: its last line, even without a newline, is complete.
    fn end_file(&mut self) {
        if !self.pending.is_empty() && !self.discarding {
            let line = std::mem::take(&mut self.pending);
            self.process(&line);
        }
        self.pending.clear();
        self.discarding = false;
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
    ///
    /// The input has ended: a last line without its newline is read when
    /// it is a complete event (a log copied without its final newline),
    /// otherwise it is reported as cut off (`truncated_last_line`). An
    /// event still open (a JDK 8 event whose `]` never came) is counted as
    /// unfinished.
    pub fn finish(mut self) -> Result<GcLog, GcError> {
        self.finish_last_line();
        let lines = self.line_number;
        match self.state {
            State::Locked(mut parser, mut log) => {
                parser.finish(&mut log);
                if !log.events.is_empty() {
                    return Ok(*log);
                }
                Err(GcError::NoEvents {
                    lines,
                    tried: vec![log.format],
                    forced: self.requested.is_some(),
                    looks_like: self.foreign,
                })
            }
            State::Detecting(_) => Err(GcError::NoEvents {
                lines,
                tried: LogFormat::ALL.to_vec(),
                forced: false,
                looks_like: self.foreign,
            }),
        }
    }

    /// Reads the incomplete last line: an event is kept; anything else is
    /// reported as a cut-off line (not as an unreadable one).
    fn finish_last_line(&mut self) {
        if self.discarding || self.pending.is_empty() {
            return;
        }
        let line = std::mem::take(&mut self.pending);
        let used = self.process(&line);
        let cut = used != LineUse::Event;
        match &mut self.state {
            State::Locked(_, log) => {
                log.lines.truncated_last_line = cut;
                if used == LineUse::Malformed {
                    // An event cut off by the end of the input: unfinished,
                    // not garbled.
                    log.lines.malformed -= 1;
                    log.lines.unfinished_events += 1;
                }
            }
            State::Detecting(candidates) => {
                for (_, log) in candidates {
                    log.lines.truncated_last_line = cut;
                }
            }
        }
    }

    fn process(&mut self, raw: &[u8]) -> LineUse {
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
                used
            }
            State::Detecting(candidates) => {
                let mut found = None;
                let mut line_use = LineUse::Skipped;
                for (at, (parser, log)) in candidates.iter_mut().enumerate() {
                    let used = parser.line(line, number, log);
                    count(log, used);
                    if used == LineUse::Event && found.is_none() {
                        found = Some(at);
                        line_use = used;
                    } else if found.is_none() && used == LineUse::Malformed {
                        line_use = used;
                    }
                }
                if self.foreign.is_none() && number <= foreign::SNIFF_LINES {
                    self.foreign = foreign::sniff(line);
                }
                if let Some(at) = found {
                    let (parser, mut log) = candidates.swap_remove(at);
                    log.files = std::mem::take(&mut self.files);
                    self.state = State::Locked(parser, Box::new(log));
                }
                line_use
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
            log.lines.unread += 1;
        }
    }
}

/// Reads a whole log from `reader` (gzip-compressed or not: the first
/// bytes tell). `format`: `None` to detect it.
pub fn read_log<R: Read>(reader: R, format: Option<LogFormat>) -> Result<GcLog, GcError> {
    let mut log = GcLogReader::new(format);
    let (mut input, gzip) = decompressed(reader).map_err(GcError::Io)?;
    feed_all(&mut log, &mut input, gzip)?;
    log.finish()
}

/// Reads the log file at `path` (`.gz` or not). `format`: `None` to detect
/// it.
pub fn read_path(path: &Path, format: Option<LogFormat>) -> Result<GcLog, GcError> {
    read_paths(&[path.to_path_buf()], format)
}

/// Reads several files as one log: the files of a rotated set (`gc.log.0`
/// … `gc.log.N.current`, `gc.log` with `gc.log.0` …, a `gc-%t.log`
/// series), in the order they were written (see `rotation`), each `.gz`
/// or not. A restart of the program inside them starts a new run as in
/// one file.
pub fn read_paths(paths: &[PathBuf], format: Option<LogFormat>) -> Result<GcLog, GcError> {
    let ordered = rotation::order(paths);
    let mut log = GcLogReader::new(format);
    for path in &ordered {
        let file = File::open(path).map_err(|err| GcError::Open {
            path: path.clone(),
            source: err,
        })?;
        let (mut input, gzip) = decompressed(file).map_err(GcError::Io)?;
        if ordered.len() > 1 {
            log.start_file(&path.display().to_string(), gzip);
        }
        feed_all(&mut log, &mut input, gzip)?;
    }
    log.finish()
}

fn feed_all(log: &mut GcLogReader, input: &mut dyn Read, gzip: bool) -> Result<(), GcError> {
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = match input.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) if gzip => return Err(GcError::Gzip(err)),
            Err(err) => return Err(GcError::Io(err)),
        };
        log.feed(&buffer[..n]);
    }
}

/// `reader` as it is, or decompressed when it starts with the gzip magic
/// bytes; and whether it was compressed.
pub fn decompressed<'a, R: Read + 'a>(reader: R) -> std::io::Result<(Box<dyn Read + 'a>, bool)> {
    let mut buffered = BufReader::with_capacity(256 * 1024, reader);
    let head = loop {
        match buffered.fill_buf() {
            Ok(head) => break head,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        }
    };
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok((Box::new(flate2::read::MultiGzDecoder::new(buffered)), true))
    } else {
        Ok((Box::new(buffered), false))
    }
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
            // The cut last line is read, found cut, and not counted.
            assert_eq!(log.lines.total, 5);
            assert_eq!(log.lines.skipped, 3);
            assert_eq!(log.lines.malformed, 0);
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

    #[test]
    fn a_last_line_without_newline_is_read_when_it_is_complete() {
        let log = read_log(NODE.trim_end().as_bytes(), None).unwrap();
        assert_eq!((log.lines.total, log.events.len()), (1, 1));
        assert!(!log.lines.truncated_last_line);
        let cut = format!("{NODE}{}", &NODE[..60]);
        let log = read_log(cut.as_bytes(), None).unwrap();
        assert_eq!((log.lines.total, log.events.len()), (2, 1));
        assert!(log.lines.truncated_last_line);
        assert_eq!(log.lines.malformed, 0);
    }

    #[test]
    fn gzip_is_read_transparently_and_a_corrupt_one_is_an_error() {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(NODE.repeat(3).as_bytes()).unwrap();
        let compressed = encoder.finish().unwrap();
        let log = read_log(&compressed[..], None).unwrap();
        assert_eq!(log.events.len(), 3);
        let err = read_log(&compressed[..compressed.len() / 2], None).unwrap_err();
        assert!(matches!(err, GcError::Gzip(_)), "{err}");
    }
}
