//! Pages in a real browser: headless Chromium (Debian's `chromium`;
//! `.ci/run` installs it) loads a page, and the tests read what a person
//! would see there — the DOM after scripts ran, a screenshot's colours.
//!
//! Without Chromium the browser tests fail, unless `HEAPWISE_SKIP_BROWSER=1`
//! says to skip them (they then print SKIPPED).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super as common;

/// How long Chromium may take for one page before the test gives up.
const BROWSER_DEADLINE: Duration = Duration::from_secs(120);

/// The `chromium` binary, or `None` when the tests are to be skipped.
pub fn chromium(test: &str) -> Option<PathBuf> {
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
pub fn run_chromium(chromium: &Path, args: &[&str], page: &Path) -> Output {
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
        common::stderr(&output)
    );
    output
}

/// The DOM of `page` as Chromium holds it after loading it and running
/// its scripts.
pub fn dump_dom(chromium: &Path, page: &Path) -> String {
    let out = run_chromium(chromium, &["--dump-dom"], page);
    let dom = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(dom.contains("</html>"), "no page in the dump: {dom}");
    dom
}

/// The colour of every pixel of a `width` × `height` screenshot of `page`.
pub fn screenshot(chromium: &Path, page: &Path, (width, height): (u32, u32)) -> Vec<[u8; 3]> {
    let dir = tempfile::tempdir().expect("temp dir");
    let shot = dir.path().join("screenshot.png");
    let screenshot = format!("--screenshot={}", shot.display());
    let size = format!("--window-size={width},{height}");
    run_chromium(chromium, &[&screenshot, &size], page);
    let file = std::fs::read(&shot).expect("chromium wrote the screenshot");
    let mut decoder = png::Decoder::new(std::io::Cursor::new(file));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut pixels).expect("its pixels");
    assert_eq!((info.width, info.height), (width, height));
    let samples = info.color_type.samples();
    pixels[..info.buffer_size()]
        .chunks_exact(samples)
        .map(|p| match samples {
            1 | 2 => [p[0]; 3],
            _ => [p[0], p[1], p[2]],
        })
        .collect()
}

/// How many colours `pixels` has: a blank page has one or two.
pub fn distinct_colours(pixels: &[[u8; 3]]) -> usize {
    let mut distinct = pixels.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    distinct.len()
}

/// The element that opens with the tag carrying `id="ID"`, up to its
/// closing `</tag>` (the page nests no element in one of its own kind
/// that these tests look into).
pub fn element<'a>(dom: &'a str, tag: &str, id: &str) -> &'a str {
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
pub fn text(html: &str) -> String {
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
pub fn attribute<'a>(html: &'a str, name: &str) -> &'a str {
    let tag = &html[..html.find('>').expect("a tag")];
    let start = tag
        .find(&format!(r#" {name}=""#))
        .unwrap_or_else(|| panic!("no {name} in {tag}"))
        + name.len()
        + 3;
    &tag[start..start + tag[start..].find('"').unwrap()]
}

/// The cells of the table row (`<tr>`) of `table` whose text has `needle`.
pub fn row_with<'a>(table: &'a str, needle: &str) -> Vec<&'a str> {
    let row = table
        .split("<tr>")
        .find(|row| text(row).contains(needle))
        .unwrap_or_else(|| panic!("no row with {needle}: {}", text(table)));
    row.split("</td>")
        .filter_map(|cell| cell.find("<td").map(|at| &cell[at..]))
        .collect()
}
