//! A minimal client for the inspector of a Node.js process started with
//! `--inspect`: enough of the DevTools protocol to force a GC, read heap
//! usage and stream heap snapshots to disk.
//!
//! It only ever connects to the address it is given: the target list comes
//! from `http://HOST:PORT/json/list`, and of the WebSocket URL found there
//! only the path is used, on a connection to the same HOST:PORT.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

/// How long to wait for the next message once connected.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(600);

/// Why talking to the inspector failed.
#[derive(Debug, thiserror::Error)]
pub enum InspectorError {
    /// The address could not be reached or the connection broke.
    #[error("could not talk to the inspector at {addr}: {cause}")]
    Io {
        /// The HOST:PORT given.
        addr: String,
        /// What failed.
        cause: io::Error,
    },
    /// `/json/list` did not answer as Node.js does.
    #[error("the inspector at {addr} did not list a debuggable target: {message}")]
    Discovery {
        /// The HOST:PORT given.
        addr: String,
        /// What was wrong with the answer.
        message: String,
    },
    /// The WebSocket handshake or a frame failed.
    #[error("the inspector WebSocket failed: {0}")]
    WebSocket(#[from] Box<tungstenite::Error>),
    /// The target answered a command with an error or with something unexpected.
    #[error("the inspector refused {method}: {message}")]
    Protocol {
        /// The command sent.
        method: String,
        /// The error it returned.
        message: String,
    },
    /// Writing a snapshot to its destination failed.
    #[error("could not write the snapshot: {0}")]
    Write(io::Error),
}

/// Heap usage as `Runtime.getHeapUsage` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeapUsage {
    /// Bytes used by live and not-yet-collected objects.
    pub used_bytes: u64,
    /// Bytes the heap has reserved.
    pub total_bytes: u64,
}

/// A connection to one Node.js inspector target.
pub struct Inspector {
    socket: WebSocket<TcpStream>,
    next_id: u64,
    /// The title of the target (its script path, for Node.js).
    pub title: String,
}

impl Inspector {
    /// Connects to the first target listed at `addr` (`HOST:PORT`).
    pub fn connect(addr: &str, timeout: Duration) -> Result<Inspector, InspectorError> {
        let io_err = |cause| InspectorError::Io {
            addr: addr.to_string(),
            cause,
        };
        let discovery = |message: String| InspectorError::Discovery {
            addr: addr.to_string(),
            message,
        };
        let list = http_get(addr, "/json/list", timeout).map_err(io_err)?;
        let targets: Value = serde_json::from_slice(&list)
            .map_err(|err| discovery(format!("/json/list is not JSON: {err}")))?;
        let target = targets
            .as_array()
            .and_then(|all| all.iter().find(|t| t.get("webSocketDebuggerUrl").is_some()))
            .ok_or_else(|| {
                discovery(
                    "no target has a webSocketDebuggerUrl (is another debugger attached?)".into(),
                )
            })?;
        let url = target["webSocketDebuggerUrl"].as_str().unwrap_or_default();
        let path = websocket_path(url)
            .ok_or_else(|| discovery(format!("unexpected WebSocket URL {url:?}")))?;
        let title = target
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();

        let stream = open(addr, timeout).map_err(io_err)?;
        let (mut socket, _response) = tungstenite::client(format!("ws://{addr}{path}"), stream)
            .map_err(|err| match err {
                tungstenite::HandshakeError::Failure(err) => {
                    InspectorError::WebSocket(Box::new(err))
                }
                tungstenite::HandshakeError::Interrupted(_) => {
                    discovery("the WebSocket handshake did not complete".into())
                }
            })?;
        // A large heap can take minutes to serialise before the first chunk.
        socket
            .get_mut()
            .set_read_timeout(Some(SNAPSHOT_TIMEOUT))
            .map_err(io_err)?;
        Ok(Inspector {
            socket,
            next_id: 1,
            title,
        })
    }

    /// Sends a command and waits for its answer, handing events to `on_event`.
    pub fn call_with_events(
        &mut self,
        method: &str,
        params: Value,
        on_event: &mut dyn FnMut(&str, &Value) -> Result<(), InspectorError>,
    ) -> Result<Value, InspectorError> {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({ "id": id, "method": method, "params": params });
        self.socket
            .send(Message::text(request.to_string()))
            .map_err(|e| InspectorError::WebSocket(Box::new(e)))?;
        loop {
            let message = self
                .socket
                .read()
                .map_err(|e| InspectorError::WebSocket(Box::new(e)))?;
            let text = match message {
                Message::Text(text) => text,
                Message::Close(_) => {
                    return Err(InspectorError::Protocol {
                        method: method.to_string(),
                        message: "the target closed the connection".into(),
                    });
                }
                _ => continue,
            };
            let value: Value =
                serde_json::from_str(text.as_str()).map_err(|err| InspectorError::Protocol {
                    method: method.to_string(),
                    message: format!("an answer is not JSON: {err}"),
                })?;
            if let Some(event) = value.get("method").and_then(Value::as_str) {
                on_event(event, value.get("params").unwrap_or(&Value::Null))?;
                continue;
            }
            if value.get("id").and_then(Value::as_u64) != Some(id) {
                continue;
            }
            if let Some(error) = value.get("error") {
                return Err(InspectorError::Protocol {
                    method: method.to_string(),
                    message: error
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown error")
                        .to_string(),
                });
            }
            return Ok(value.get("result").cloned().unwrap_or(Value::Null));
        }
    }

    /// Sends a command and waits for its answer, ignoring events.
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value, InspectorError> {
        self.call_with_events(method, params, &mut |_, _| Ok(()))
    }

    /// Forces a full garbage collection (`HeapProfiler.collectGarbage`).
    pub fn collect_garbage(&mut self) -> Result<(), InspectorError> {
        self.call("HeapProfiler.collectGarbage", json!({}))
            .map(drop)
    }

    /// Reads the JavaScript heap usage (`Runtime.getHeapUsage`).
    pub fn heap_usage(&mut self) -> Result<HeapUsage, InspectorError> {
        let result = self.call("Runtime.getHeapUsage", json!({}))?;
        let field = |name: &str| {
            result
                .get(name)
                .and_then(Value::as_f64)
                .ok_or_else(|| InspectorError::Protocol {
                    method: "Runtime.getHeapUsage".into(),
                    message: format!("the answer has no {name}"),
                })
        };
        Ok(HeapUsage {
            used_bytes: field("usedSize")? as u64,
            total_bytes: field("totalSize")? as u64,
        })
    }

    /// Takes a heap snapshot, writing its chunks to `out` as they arrive.
    /// `progress` is called with the bytes written so far. Returns the size.
    pub fn take_snapshot(
        &mut self,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64, InspectorError> {
        let mut written = 0u64;
        self.call_with_events(
            "HeapProfiler.takeHeapSnapshot",
            json!({ "reportProgress": false }),
            &mut |event, params| {
                if event == "HeapProfiler.addHeapSnapshotChunk" {
                    let chunk = params
                        .get("chunk")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    out.write_all(chunk.as_bytes())
                        .map_err(InspectorError::Write)?;
                    written += chunk.len() as u64;
                    progress(written);
                }
                Ok(())
            },
        )?;
        out.flush().map_err(InspectorError::Write)?;
        Ok(written)
    }
}

/// Opens a TCP connection to `addr` with read and write timeouts.
fn open(addr: &str, timeout: Duration) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the address resolved to nothing");
    for socket_addr in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&socket_addr, timeout) {
            Ok(stream) => {
                stream.set_read_timeout(Some(timeout))?;
                stream.set_write_timeout(Some(timeout))?;
                return Ok(stream);
            }
            Err(err) => last = err,
        }
    }
    Err(last)
}

/// A plain HTTP/1.1 GET that reads exactly `Content-Length` bytes (the
/// inspector keeps the connection open after answering).
fn http_get(addr: &str, path: &str, timeout: Duration) -> io::Result<Vec<u8>> {
    let mut stream = open(addr, timeout)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\n\r\n"
    )?;
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status)?;
    if !status.starts_with("HTTP/1.") || status.split_whitespace().nth(1) != Some("200") {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("GET {path} answered {:?}", status.trim_end()),
        ));
    }
    let mut length: Option<usize> = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the headers ended early",
            ));
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok();
        }
    }
    let length = length
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no Content-Length header"))?;
    if length > 16 << 20 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the answer is implausibly large",
        ));
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(body)
}

/// The path (with query) of a `ws://host:port/path` URL.
fn websocket_path(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("ws://")?;
    let slash = rest.find('/')?;
    Some(&rest[slash..])
}

#[cfg(test)]
mod tests {
    use super::websocket_path;

    #[test]
    fn keeps_only_the_path_of_the_websocket_url() {
        assert_eq!(
            websocket_path("ws://127.0.0.1:9229/abc-123"),
            Some("/abc-123")
        );
        assert_eq!(websocket_path("ws://evil.example:1/x"), Some("/x"));
        assert_eq!(websocket_path("http://x/y"), None);
    }
}
