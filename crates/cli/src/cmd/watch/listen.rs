//! `--listen ADDR:PORT`: serves the latest Prometheus exposition at
//! `/metrics` from a background thread.
//!
//! A few lines of HTTP/1.1 over `std::net` are all a scraper needs (one GET,
//! one response, connection closed), so no HTTP crate. The sampling loop
//! publishes a freshly rendered page after every sample; the server only
//! copies it out, so a slow or hostile client can delay other scrapes (each
//! connection has a 2 s timeout) but never the sampling.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};

use heapwise_render::watch::prometheus::CONTENT_TYPE;

/// The metrics endpoint.
pub struct MetricsServer {
    page: Arc<Mutex<String>>,
    addr: SocketAddr,
}

impl MetricsServer {
    /// Binds `addr` (`127.0.0.1:9187`, `[::]:9187`, `localhost:0`) and
    /// starts serving an empty page.
    pub fn start(addr: &str) -> Result<Self> {
        let resolved: Vec<SocketAddr> = addr
            .to_socket_addrs()
            .map_err(|_| anyhow!("--listen {addr} is not an ADDRESS:PORT to listen on (for example 127.0.0.1:9187)"))?
            .collect();
        let listener =
            TcpListener::bind(&resolved[..]).with_context(|| format!("cannot listen on {addr}"))?;
        let addr = listener.local_addr()?;
        let page = Arc::new(Mutex::new(String::new()));
        let shared = Arc::clone(&page);
        std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    let _ = serve(stream, &shared);
                }
            })
            .context("cannot start the metrics thread")?;
        Ok(MetricsServer { page, addr })
    }

    /// Where it listens (with the actual port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the page served at `/metrics`.
    pub fn publish(&self, page: String) {
        let mut current = self.page.lock().unwrap_or_else(|e| e.into_inner());
        *current = page;
    }
}

fn serve(mut stream: TcpStream, page: &Mutex<String>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut request = Vec::new();
    let mut chunk = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 * 1024 {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&chunk[..n]);
    }
    let line = request.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let method = parts.next().unwrap_or_default();
    let path = parts.next().unwrap_or_default();
    let path = path.split(|&b| b == b'?').next().unwrap_or_default();
    let head_only = method == b"HEAD";
    let (status, content_type, body) = match (method, path) {
        (b"GET" | b"HEAD", b"/metrics") => (
            "200 OK",
            CONTENT_TYPE,
            page.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        ),
        (b"GET" | b"HEAD", b"/") => (
            "200 OK",
            "text/plain; charset=utf-8",
            "heapwise watch: metrics are at /metrics\n".to_owned(),
        ),
        (b"GET" | b"HEAD", _) => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "not found; metrics are at /metrics\n".to_owned(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "only GET and HEAD\n".to_owned(),
        ),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    if !head_only {
        stream.write_all(body.as_bytes())?;
    }
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(addr: SocketAddr, request: &str) -> String {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    }

    #[test]
    fn serves_the_latest_page() {
        let server = MetricsServer::start("127.0.0.1:0").unwrap();
        server.publish("up 1\n".into());
        let response = get(
            server.local_addr(),
            "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(response.contains("Content-Length: 5\r\n"));
        assert!(response.ends_with("\r\n\r\nup 1\n"));
        let response = get(server.local_addr(), "GET /nope HTTP/1.1\r\n\r\n");
        assert!(response.starts_with("HTTP/1.1 404"));
        let response = get(server.local_addr(), "POST /metrics HTTP/1.1\r\n\r\n");
        assert!(response.starts_with("HTTP/1.1 405"));
    }

    #[test]
    fn bad_addresses_are_one_sentence() {
        let err = MetricsServer::start("nonsense").err().unwrap();
        assert_eq!(
            err.to_string(),
            "--listen nonsense is not an ADDRESS:PORT to listen on (for example 127.0.0.1:9187)"
        );
    }
}
