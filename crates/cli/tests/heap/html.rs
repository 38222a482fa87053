//! `heapwise heap ... --format html` in a real browser (`common/browser.rs`):
//! the leaks pages of the real express app (`v8.rs`'s snapshots) and of the
//! real leaking Java program (`hprof.rs`'s dumps), loaded by headless
//! Chromium. The page's roots — holder, cause, entries, objects held,
//! bytes retained, clusters under each — are the JSON's; the page is not
//! blank. The summary and diff pages name the JSON's largest rows.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

use super::hprof::dumps;
use super::v8::express_snapshots;
use crate::common::browser::*;
use crate::common::{self, heapwise, stderr, test_dir};

/// A leaks page and the JSON of the same search.
struct LeaksPage {
    html: PathBuf,
    report: Value,
}

/// `heapwise heap leaks` over `paths`, as a page in `dir` and as JSON.
fn leaks_page(dir: &str, paths: &[String]) -> LeaksPage {
    let html = test_dir(dir).join("leaks.html");
    let mut args = vec!["heap", "leaks", "--format", "html", "-o"];
    args.push(html.to_str().unwrap());
    args.extend(paths.iter().map(String::as_str));
    let out = heapwise(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "the page went to -o");
    let mut args = vec!["heap", "leaks", "--format", "json"];
    args.extend(paths.iter().map(String::as_str));
    LeaksPage {
        html,
        report: common::json(&heapwise(&args)),
    }
}

fn jvm_page() -> &'static LeaksPage {
    static PAGE: OnceLock<LeaksPage> = OnceLock::new();
    PAGE.get_or_init(|| leaks_page("html-jvm", &dumps().paths))
}

fn express_page() -> &'static LeaksPage {
    static PAGE: OnceLock<LeaksPage> = OnceLock::new();
    PAGE.get_or_init(|| leaks_page("html-express", &express_snapshots().paths))
}

/// One root as the page shows it.
#[derive(Debug, PartialEq)]
struct ShownRoot {
    holder: String,
    cause: String,
    entries: u64,
    objects: u64,
    retained_bytes: u64,
    clusters: usize,
}

/// A count as the page writes it: `5,902`.
fn count(text: &str) -> u64 {
    text.trim()
        .replace(',', "")
        .parse()
        .unwrap_or_else(|_| panic!("a count: {text:?}"))
}

/// The `<dd class="CLASS">` of `article`: its own text and the exact
/// figure under it, if any.
fn figure(article: &str, class: &str) -> (String, Option<String>) {
    let start = article
        .find(&format!(r#"<dd class="{class}">"#))
        .unwrap_or_else(|| panic!("no {class} in {article}"));
    let dd = &article[start..start + article[start..].find("</dd>").unwrap()];
    match dd.find(r#"<span class="exact">"#) {
        Some(at) => (text(&dd[..at]), Some(text(&dd[at..]))),
        None => (text(dd), None),
    }
}

/// Bytes as the page writes them: `771.5 KiB` over `789,984 bytes`, or `512 B`.
fn bytes((rounded, exact): (String, Option<String>)) -> u64 {
    match exact {
        Some(exact) => count(exact.strip_suffix(" bytes").expect("N bytes")),
        None => count(rounded.strip_suffix(" B").expect("N B")),
    }
}

/// The roots of the page at `html`, read from the DOM Chromium built.
fn shown_roots(chromium: &Path, html: &Path) -> Vec<ShownRoot> {
    let dom = dump_dom(chromium, html);
    let mut roots = Vec::new();
    for number in 1.. {
        let id = format!("root-{number}");
        if !dom.contains(&format!(r#"id="{id}""#)) {
            break;
        }
        let article = element(&dom, "article", &id);
        let holder = &article[article.find(r#"<span class="holder">"#).expect("a holder")..];
        let holder = text(&holder[..holder.find("</span>").unwrap()]);
        let detail = article.find(r#"<details class="detail">"#);
        roots.push(ShownRoot {
            holder,
            cause: figure(article, "cause").0,
            entries: count(&figure(article, "entries").0),
            objects: count(&figure(article, "objects").0),
            retained_bytes: bytes(figure(article, "retained")),
            clusters: detail.map_or(0, |at| article[at..].matches(r#"<tr id="cluster-"#).count()),
        });
    }
    roots
}

/// The roots of the JSON report, as the page should show them.
fn json_roots(report: &Value) -> Vec<ShownRoot> {
    report["roots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| ShownRoot {
            holder: r["holder"].as_str().unwrap().to_string(),
            cause: r["cause"].as_str().unwrap().to_string(),
            entries: r["entries"].as_u64().unwrap(),
            objects: r["objects"].as_u64().unwrap(),
            retained_bytes: r["retained_bytes"].as_u64().unwrap(),
            clusters: r["clusters"].as_array().unwrap().len(),
        })
        .collect()
}

#[test]
fn the_jvm_leaks_page_shows_the_roots_of_the_json() {
    let Some(chromium) = chromium("the_jvm_leaks_page_shows_the_roots_of_the_json") else {
        return;
    };
    let page = jvm_page();
    let expected = json_roots(&page.report);
    assert_eq!(expected.len(), 3, "the map, the list, the plugins' loaders");
    assert_eq!(shown_roots(&chromium, &page.html), expected);
}

#[test]
fn the_express_leaks_page_shows_the_roots_of_the_json() {
    let Some(chromium) = chromium("the_express_leaks_page_shows_the_roots_of_the_json") else {
        return;
    };
    let page = express_page();
    let expected = json_roots(&page.report);
    let holders: Vec<&str> = expected.iter().map(|r| r.holder.as_str()).collect();
    assert_eq!(
        holders,
        [
            "the 'shutdown' listeners of EventEmitter 'bus'",
            "Map 'audit'"
        ]
    );
    assert_eq!(expected[0].entries, express_snapshots().leaked);
    assert_eq!(shown_roots(&chromium, &page.html), expected);
}

#[test]
fn the_leaks_page_is_painted_not_blank() {
    let Some(chromium) = chromium("the_leaks_page_is_painted_not_blank") else {
        return;
    };
    let colours = screenshot(&chromium, &jvm_page().html, (1200, 900));
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

/// The summary and diff pages (no browser needed: askama's output is the
/// page) list the JSON's largest rows first.
#[test]
fn summary_and_diff_pages_list_the_jsons_largest_rows() {
    let [baseline, target, _] = &dumps().paths;
    for (command, paths, field) in [
        ("summary", vec![target.as_str()], "retained_bytes"),
        (
            "diff",
            vec![baseline.as_str(), target.as_str()],
            "size_delta",
        ),
    ] {
        let mut args = vec!["heap", command, "--format"];
        let json = common::json(&heapwise(&[&args[..], &["json"], &paths[..]].concat()));
        args.push("html");
        args.extend(&paths);
        let out = heapwise(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        let page = String::from_utf8(out.stdout).unwrap();
        let rows = json["constructors"].as_array().unwrap();
        assert!(rows.len() >= 2 && rows[0][field].as_i64() >= rows[1][field].as_i64());
        let first = page.find(&format!(
            "<code>{}</code>",
            rows[0]["name"].as_str().unwrap()
        ));
        let second = page.find(&format!(
            "<code>{}</code>",
            rows[1]["name"].as_str().unwrap()
        ));
        assert!(
            first.is_some() && first < second,
            "{command}: {} before {}",
            rows[0]["name"],
            rows[1]["name"]
        );
        assert!(page.contains(&format!(
            "<tr><th>{}</th>",
            if command == "diff" { "AFTER" } else { "DUMP" }
        )));
    }
}
