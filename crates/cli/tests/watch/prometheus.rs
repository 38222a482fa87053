//! `--listen`: promtool and a real Prometheus server.

use super::util::*;

/// Reads `heapwise: serving metrics at http://ADDR/metrics` from stderr.
fn metrics_address(child: &mut Child) -> String {
    let stderr = child.stderr.take().expect("piped stderr");
    let mut line = String::new();
    BufReader::new(stderr)
        .read_line(&mut line)
        .expect("stderr line");
    line.trim()
        .strip_prefix("heapwise: serving metrics at http://")
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_owned()
}

/// `GET path` over HTTP/1.0; the body.
fn http_get(addr: &str, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok(body.to_owned())
}

fn metric(page: &str, name: &str, labels: &str) -> Option<f64> {
    let prefix = format!("{name}{{{labels}}} ");
    page.lines()
        .find_map(|l| l.strip_prefix(&prefix)?.parse().ok())
}

/// Starts `heapwise watch --listen 127.0.0.1:0` on a process that holds 48 MiB.
fn serve_metrics(held: &Target) -> (Child, String) {
    let mut child = heapwise()
        .args([
            "watch",
            "--no-tui",
            "--format",
            "json",
            "--listen",
            "127.0.0.1:0",
        ])
        .args([
            "--interval",
            "200ms",
            "--duration",
            "60s",
            "--pid",
            &held.pid().to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("heapwise starts");
    let addr = metrics_address(&mut child);
    (child, addr)
}

/// Ctrl-C ends the watch with a report, and exit 0.
fn interrupt(mut child: Child) -> Value {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .expect("piped")
        .read_to_string(&mut stdout)
        .expect("report");
    let status = child.wait().expect("heapwise ends");
    assert!(status.success(), "{status:?}");
    let report: Value = serde_json::from_str(&stdout).expect("JSON report after SIGINT");
    assert_eq!(report["end"]["reason"], "interrupted");
    report
}

#[test]
fn metrics_endpoint_passes_promtool() {
    need("promtool", "prometheus");
    let held = Target::start(&["hold", "48"]);
    let (child, addr) = serve_metrics(&held);
    let labels = format!(
        "pid=\"{}\",command=\"{}\"",
        held.pid(),
        format_args!("{} hold 48", shape().display())
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let page = loop {
        let page = http_get(&addr, "/metrics").expect("scrape");
        if page.contains("heapwise_watch_anon_bytes") || Instant::now() > deadline {
            break page;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let anon = metric(&page, "heapwise_watch_anon_bytes", &labels).expect("anon gauge") / MIB;
    assert!((48.0..=49.5).contains(&anon), "{anon} MiB\n{page}");
    assert_eq!(metric(&page, "heapwise_watch_up", &labels), Some(1.0));
    assert_eq!(metric(&page, "heapwise_watch_leak", &labels), Some(0.0));
    assert_eq!(
        metric(&page, "heapwise_watch_processes", &labels),
        Some(1.0)
    );
    assert!(page.contains("# TYPE heapwise_watch_samples_total counter"));

    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    promtool
        .stdin
        .take()
        .expect("stdin")
        .write_all(page.as_bytes())
        .expect("feed promtool");
    let checked = promtool.wait_with_output().expect("promtool ends");
    let complaints = format!(
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    assert!(checked.status.success(), "promtool: {complaints}");
    assert!(complaints.trim().is_empty(), "promtool lint: {complaints}");

    let report = interrupt(child);
    assert!(alive(held.pid()));
    assert!(report["samples"].as_array().is_some_and(|s| !s.is_empty()));
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[test]
fn a_real_prometheus_server_scrapes_the_endpoint() {
    need("prometheus", "prometheus");
    let held = Target::start(&["hold", "48"]);
    let (child, addr) = serve_metrics(&held);
    let dir = scratch().join("prometheus");
    std::fs::create_dir_all(&dir).expect("prometheus dir");
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: heapwise\n    static_configs:\n      - targets: ['{addr}']\n"
        ),
    )
    .expect("write config");
    let web = format!("127.0.0.1:{}", free_port());
    let mut server = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={web}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus starts");
    struct Stop<'a>(&'a mut Child);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _stop = Stop(&mut server);

    let query = "/api/v1/query?query=heapwise_watch_anon_bytes";
    let deadline = Instant::now() + Duration::from_secs(60);
    let result = loop {
        let body = http_get(&web, query).unwrap_or_default();
        let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let result = parsed["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if !result.is_empty() {
            break result;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never scraped heapwise: {body}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let series = &result[0];
    assert_eq!(series["metric"]["pid"], held.pid().to_string());
    assert_eq!(series["metric"]["job"], "heapwise");
    assert!(
        series["metric"]["command"]
            .as_str()
            .is_some_and(|c| c.ends_with("shape hold 48"))
    );
    let value: f64 = series["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("value");
    assert!((48.0..=49.5).contains(&(value / MIB)), "{value}");
    // The scrape itself succeeded (Prometheus's own `up`).
    let up: Value =
        serde_json::from_str(&http_get(&web, "/api/v1/query?query=up").expect("query up"))
            .expect("JSON");
    assert_eq!(up["data"]["result"][0]["value"][1], "1");
    interrupt(child);
}
