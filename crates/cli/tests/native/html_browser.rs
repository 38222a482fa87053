//! The HTML report in a real browser (`common/browser.rs`): headless
//! Chromium loads the page of a real trace, and the tests check what a
//! person would see there: the DOM after scripts ran (the verdict, the
//! chart's points, the flame graph, the leak table) and a screenshot that
//! is not blank.

use std::path::PathBuf;
use std::sync::OnceLock;

use heapwise_words::thousands;
use serde_json::Value;

use super::util::*;
use crate::common::browser::*;

/// Requests the server program handles: each leaks a 64-byte cache entry
/// (`cache_add`), every 1000th leaks 50 blocks of 1 KiB (`batch_leak`).
const REQUESTS: u64 = 2000;
const CACHE_ADD_BYTES: u64 = REQUESTS * 64;
const BATCH_LEAK_BYTES: u64 = REQUESTS / 1000 * 50 * 1024;

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

/// The page's DOM as Chromium holds it after loading it and running its
/// scripts; `None` when the browser tests are skipped.
fn dom(test: &str) -> Option<&'static str> {
    let chromium = chromium(test)?;
    static DOM: OnceLock<String> = OnceLock::new();
    Some(DOM.get_or_init(|| dump_dom(&chromium, &page().html)))
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
    let colours = screenshot(&chromium, &page().html, (1200, 900));
    let distinct = distinct_colours(&colours);
    assert!(distinct > 16, "{distinct} colours: a blank page");
    // The leak verdict's box (background #fdecea) is painted at the top.
    let verdict = colours.iter().filter(|&&c| c == [0xfd, 0xec, 0xea]).count();
    assert!(
        verdict > colours.len() / 100,
        "the verdict box covers {verdict} of {} pixels",
        colours.len()
    );
}
