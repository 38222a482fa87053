//! The HTML report in a real browser: headless Chromium (Debian's
//! `chromium`; `.ci/run` installs it) loads the page of a real trace, and
//! the tests check what a person would see there: the DOM after scripts ran
//! (the verdict, the chart's points, the flame graph, the leak table) and a
//! screenshot that is not blank.
//!
//! Without Chromium these tests fail, unless `HEAPWISE_SKIP_BROWSER=1`
//! says to skip them (they then print SKIPPED).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use heapwise_words::thousands;
use serde_json::Value;

use super::util::*;

/// Requests the server program handles: each leaks a 64-byte cache entry
/// (`cache_add`), every 1000th leaks 50 blocks of 1 KiB (`batch_leak`).
const REQUESTS: u64 = 2000;
const CACHE_ADD_BYTES: u64 = REQUESTS * 64;
const BATCH_LEAK_BYTES: u64 = REQUESTS / 1000 * 50 * 1024;

/// How long Chromium may take for one page before the test gives up.
const BROWSER_DEADLINE: Duration = Duration::from_secs(120);

/// The page of a run of `server.c`, its JSON report, and where it is.
struct Page {
    html: PathBuf,
    report: Value,
}

fn page() -> &'static Page {
    static PAGE: OnceLock<Page> = OnceLock::new();
    PAGE.get_or_init(|| {
        let dir = test_dir("html-browser");
        let requests = REQUESTS.to_string();
        let out = run_traced(&dir, "server.hwt", &program("server.c"), &[&requests]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let trace = dir.join("server.hwt");
        let out = heapwise()
            .args(["report", "--format", "html"])
            .arg(&trace)
            .output()
            .expect("heapwise runs");
        assert!(out.status.success(), "{}", stderr(&out));
        let html = dir.join("server.html");
        std::fs::write(&html, &out.stdout).expect("write the page");
        Page {
            html,
            report: report_json(&trace),
        }
    })
}

/// The `chromium` binary, or `None` when the tests are to be skipped.
fn chromium(test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("chromium"))
            .find(|bin| bin.is_file())
    });
    if found.is_none() {
        let skip = std::env::var("HEAPWISE_SKIP_BROWSER").is_ok_and(|v| v == "1");
        assert!(
            skip,
            "chromium is not installed: apt-get install -y chromium (.ci/run does), \
             or set HEAPWISE_SKIP_BROWSER=1 to skip the browser tests"
        );
        eprintln!("SKIPPED {test}: chromium is not installed and HEAPWISE_SKIP_BROWSER=1");
    }
    found
}

/// Runs headless Chromium on `page` with `args`, with a profile of its own
/// (as root it needs `--no-sandbox`), killed after [`BROWSER_DEADLINE`].
fn run_chromium(chromium: &Path, args: &[&str], page: &Path) -> Output {
    let profile = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=2000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(page)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    // Read both pipes while waiting: a full pipe would stall Chromium.
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let read = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            pipe.read_to_end(&mut bytes).map(|_| bytes)
        })
    };
    let (stdout, stderr) = (read(Box::new(stdout)), read(Box::new(stderr)));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if started.elapsed() > BROWSER_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium took more than {BROWSER_DEADLINE:?} on {page:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = Output {
        status,
        stdout: stdout.join().unwrap().expect("chromium's stdout"),
        stderr: stderr.join().unwrap().expect("chromium's stderr"),
    };
    assert!(
        output.status.success(),
        "chromium: {}",
        self::stderr(&output)
    );
    output
}

/// The page's DOM as Chromium holds it after loading it and running its
/// scripts; `None` when the browser tests are skipped.
fn dom(test: &str) -> Option<&'static str> {
    let chromium = chromium(test)?;
    static DOM: OnceLock<String> = OnceLock::new();
    Some(DOM.get_or_init(|| {
        let out = run_chromium(&chromium, &["--dump-dom"], &page().html);
        let dom = String::from_utf8(out.stdout).expect("UTF-8");
        assert!(dom.contains("</html>"), "no page in the dump: {dom}");
        dom
    }))
}

/// The element that opens with the tag carrying `id="ID"`, up to its
/// closing `</tag>` (the page nests no element in one of its own kind
/// that these tests look into).
fn element<'a>(dom: &'a str, tag: &str, id: &str) -> &'a str {
    let at = dom
        .find(&format!(r#"id="{id}""#))
        .unwrap_or_else(|| panic!("no element with id {id}"));
    let start = dom[..at].rfind(&format!("<{tag}")).expect("its tag");
    let end = dom[start..]
        .find(&format!("</{tag}>"))
        .unwrap_or_else(|| panic!("<{tag} id={id}> not closed"));
    &dom[start..start + end]
}

/// The text a person reads in `html`: tags dropped, entities decoded,
/// white space collapsed.
fn text(html: &str) -> String {
    let mut text = String::new();
    let mut rest = html;
    while let Some(at) = rest.find('<') {
        text.push_str(&rest[..at]);
        rest = rest[at..].find('>').map_or("", |end| &rest[at + end + 1..]);
    }
    text.push_str(rest);
    let mut decoded = String::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find('&') {
        decoded.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';').filter(|&end| end <= 10) else {
            decoded.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let c = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "nbsp" => Some(' '),
            _ => entity
                .strip_prefix('#')
                .and_then(|n| n.parse().ok())
                .and_then(char::from_u32),
        };
        match c {
            Some(c) => {
                decoded.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                decoded.push('&');
                rest = &rest[1..];
            }
        }
    }
    decoded.push_str(rest);
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The value of attribute `name` in the first tag of `html`.
fn attribute<'a>(html: &'a str, name: &str) -> &'a str {
    let tag = &html[..html.find('>').expect("a tag")];
    let start = tag
        .find(&format!(r#" {name}=""#))
        .unwrap_or_else(|| panic!("no {name} in {tag}"))
        + name.len()
        + 3;
    &tag[start..start + tag[start..].find('"').unwrap()]
}

/// The `x,y` points of the chart's polyline of class `class`.
fn polyline(chart: &str, class: &str) -> Vec<(f64, f64)> {
    let at = chart
        .find(&format!(r#"<polyline class="{class}""#))
        .unwrap_or_else(|| panic!("no {class} line in the chart"));
    attribute(&chart[at..], "points")
        .split_whitespace()
        .map(|pair| {
            let (x, y) = pair.split_once(',').expect("x,y");
            (x.parse().expect("x"), y.parse().expect("y"))
        })
        .collect()
}

/// The cells of the table row (`<tr>`) of `table` whose text has `needle`.
fn row_with<'a>(table: &'a str, needle: &str) -> Vec<&'a str> {
    let row = table
        .split("<tr>")
        .find(|row| text(row).contains(needle))
        .unwrap_or_else(|| panic!("no row with {needle}: {}", text(table)));
    row.split("</td>")
        .filter_map(|cell| cell.find("<td").map(|at| &cell[at..]))
        .collect()
}

#[test]
fn the_browser_shows_the_reports_verdict() {
    let Some(dom) = dom("the_browser_shows_the_reports_verdict") else {
        return;
    };
    let verdict = &page().report["verdict"];
    let section = element(dom, "section", "verdict");
    assert_eq!(verdict["level"], "leak", "{verdict}");
    assert!(
        section.starts_with(r#"<section class="verdict leak""#),
        "{section}"
    );
    let at = section.find(r#"<p class="headline">"#).expect("a headline");
    let headline = text(&section[at..at + section[at..].find("</p>").unwrap()]);
    assert_eq!(headline, verdict["headline"].as_str().unwrap());
    assert!(headline.starts_with("Leak: "), "{headline}");
}

#[test]
fn the_browser_draws_one_chart_point_per_timeline_point() {
    let Some(dom) = dom("the_browser_draws_one_chart_point_per_timeline_point") else {
        return;
    };
    let timeline = page().report["timeline"].as_array().expect("a timeline");
    assert!(timeline.len() > 10, "a run of 1.5 s has a timeline");
    let chart = element(dom, "section", "memory");
    let live = polyline(chart, "live");
    assert_eq!(live.len(), timeline.len());
    let sampled = timeline.iter().filter(|p| p["rss_bytes"].is_u64()).count();
    if sampled > 0 {
        assert_eq!(polyline(chart, "rss").len(), sampled);
    } else {
        assert!(text(chart).contains("RSS was not sampled"));
    }
    // Left to right in time, inside the plot area (the axes' lines).
    let at = chart.find(r#"<svg class="chart""#).expect("the chart");
    let view_box: Vec<f64> = attribute(&chart[at..], "viewBox")
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect();
    let (width, height) = (view_box[2], view_box[3]);
    assert!(live.windows(2).all(|w| w[0].0 <= w[1].0), "{live:?}");
    for &(x, y) in &live {
        assert!((0.0..=width).contains(&x) && (0.0..=height).contains(&y));
    }
    // The line rises from the start (nothing live) to the end (the leaks).
    assert!(live.last().unwrap().1 < live.first().unwrap().1, "{live:?}");
    assert!(text(chart).contains("seconds since the start"));
}

#[test]
fn the_browser_shows_the_flame_graph_of_the_leaks() {
    let Some(dom) = dom("the_browser_shows_the_flame_graph_of_the_leaks") else {
        return;
    };
    let section = element(dom, "section", "flamegraph");
    assert!(section.contains("<svg"), "{section}");
    // Each frame's tooltip: its name and the bytes leaked under it.
    let kib = CACHE_ADD_BYTES as f64 / 1024.0;
    let tooltip = format!("cache_add — leaked bytes {kib:.1} KiB");
    assert!(
        section
            .split("<title>")
            .any(|t| text(&t[..t.find("</title>").unwrap_or(0)]).starts_with(&tooltip)),
        "no frame titled {tooltip}"
    );
    assert!(text(section).contains("cache_add"), "cache_add's label");
}

#[test]
fn the_browser_shows_the_leak_table_with_exact_bytes() {
    let Some(dom) = dom("the_browser_shows_the_leak_table_with_exact_bytes") else {
        return;
    };
    let leaks = element(dom, "section", "leaks");
    let line = line_of("server.c", "cache_add");
    for (function, bytes, blocks) in [
        ("cache_add", CACHE_ADD_BYTES, REQUESTS),
        ("batch_leak", BATCH_LEAK_BYTES, REQUESTS / 1000 * 50),
    ] {
        let cells = row_with(leaks, &format!("{function} "));
        let [_, shown_bytes, shown_blocks, stack] = cells[..] else {
            panic!("{function}'s row: {cells:?}");
        };
        assert!(
            text(shown_bytes).ends_with(&format!("{} bytes", thousands(bytes))),
            "{function}: {}",
            text(shown_bytes)
        );
        assert_eq!(text(shown_blocks), thousands(blocks), "{function}");
        assert!(
            text(stack).starts_with(&format!("{function} ")),
            "{}",
            text(stack)
        );
    }
    let cache_add = row_with(leaks, "cache_add ");
    assert!(
        text(cache_add[3]).contains(&format!("server.c:{line}")),
        "cache_add's file:line"
    );
    // One row per leak group of the program, as in the JSON (a table per
    // leak kind, before what the runtime holds).
    let own = page().report["leaks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["note"].is_null())
        .count();
    let program = &leaks[..leaks.find("Held by the runtime").unwrap_or(leaks.len())];
    let tables = program.matches("<thead>").count();
    assert!(tables >= 1, "{program}");
    assert_eq!(
        program.matches("<tr>").count(),
        own + tables,
        "headers and rows"
    );
}

#[test]
fn the_browser_paints_a_page_that_is_not_blank() {
    let test = "the_browser_paints_a_page_that_is_not_blank";
    let Some(chromium) = chromium(test) else {
        return;
    };
    let shot = test_dir("html-browser").join("screenshot.png");
    let _ = std::fs::remove_file(&shot);
    let screenshot = format!("--screenshot={}", shot.display());
    run_chromium(
        &chromium,
        &[&screenshot, "--window-size=1200,900"],
        &page().html,
    );
    let file = std::fs::read(&shot).expect("chromium wrote the screenshot");
    let mut decoder = png::Decoder::new(std::io::Cursor::new(file));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut pixels).expect("its pixels");
    assert_eq!((info.width, info.height), (1200, 900));
    let samples = info.color_type.samples();
    let colours: Vec<[u8; 3]> = pixels[..info.buffer_size()]
        .chunks_exact(samples)
        .map(|p| match samples {
            1 | 2 => [p[0]; 3],
            _ => [p[0], p[1], p[2]],
        })
        .collect();
    let mut distinct = colours.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(
        distinct.len() > 16,
        "{} colours: a blank page",
        distinct.len()
    );
    // The leak verdict's box (background #fdecea) is painted at the top.
    let verdict = colours.iter().filter(|&&c| c == [0xfd, 0xec, 0xea]).count();
    assert!(
        verdict > colours.len() / 100,
        "the verdict box covers {verdict} of {} pixels",
        colours.len()
    );
}
