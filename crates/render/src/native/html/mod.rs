//! The report as one self-contained HTML page: the verdict first, then the
//! figures, a chart of memory over time, and every section of the text
//! report with the full call stacks one click away.
//!
//! The page comes from askama templates (`crates/render/templates/native/`)
//! filled from a view struct (`view::Page`); askama checks them at compile
//! time and escapes every value it prints (C++ names are full of `<`, `>`
//! and `&`).
//! The page has no external resources (no fonts, no stylesheets, no
//! scripts to fetch: the style and script are included into it) and reads
//! fully without JavaScript; one line of script only opens the collapsed
//! call stacks before printing.

mod chart;
mod view;

use std::io::{self, Write};

use askama::Template;
use heapwise_native::model::NativeReport;

/// Writes `report` as one self-contained HTML page. `flamegraph_svg`, if
/// given, is an SVG document (as written by
/// [`flamegraph::write`](super::flamegraph::write)) embedded inline, as it
/// is: pass only SVG that heapwise wrote.
pub fn write<W: Write + ?Sized>(
    out: &mut W,
    report: &NativeReport,
    flamegraph_svg: Option<&str>,
) -> io::Result<()> {
    let page = view::Page::new(report, flamegraph_svg);
    page.write_into(&mut &mut *out)?;
    // askama drops a template's last newline; the page ends with one.
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use heapwise_native::model::{
        Fragmentation, Growth, MemoryOverTime, OldAllocations, Peak, Process, SizeClass,
        StackBlocks, StackBytes, StackCount, Summary, Temporary, TraceInfo,
    };
    use heapwise_native::{Profile, ProfileStack, report::memory::live_verdict, verdict};
    use heapwise_series::{Options, Series, analyze};

    use std::sync::Arc;

    use heapwise_native::model::{Exit, Frame, Leak, TimelinePoint};

    use super::view::rate;
    use super::*;
    use crate::native::{Metric, flamegraph};

    /// `text` as the page shows it: escaped by askama's HTML escaper, the
    /// one the templates use.
    fn escape(text: &str) -> String {
        askama::filters::escape(text, askama::filters::Html)
            .unwrap()
            .to_string()
    }

    const CPP_PUSH_BACK: &str = "std::vector<int>::push_back(int const&)";

    fn frame(function: Option<&str>, file: Option<&str>, line: Option<u32>) -> Frame {
        Frame {
            function: function.map(Into::into),
            file: file.map(Into::into),
            line,
            module: Some("/usr/bin/server".into()),
            address: "0x401136".into(),
            inlined: false,
        }
    }

    fn cpp_stack() -> Vec<Arc<Frame>> {
        [
            Frame {
                inlined: true,
                ..frame(
                    Some(CPP_PUSH_BACK),
                    Some("/usr/include/c++/13/bits/stl_vector.h"),
                    Some(1283),
                )
            },
            frame(
                Some("Cache::insert(std::string const&)"),
                Some("/src/cache.cpp"),
                Some(42),
            ),
            frame(Some("main"), Some("/src/main.cpp"), Some(10)),
        ]
        .into_iter()
        .map(Arc::new)
        .collect()
    }

    fn c_stack() -> Vec<Arc<Frame>> {
        vec![
            Arc::new(frame(Some("leak_small"), None, None)),
            Arc::new(frame(None, None, None)),
        ]
    }

    /// `points` points over 10 s; the live heap grows by 1 KiB a point,
    /// RSS is sampled from the sixth point on when `rss` is set.
    fn timeline(points: usize, rss: bool) -> Vec<TimelinePoint> {
        (0..points)
            .map(|i| TimelinePoint {
                t_s: 10.0 * (i + 1) as f64 / points as f64,
                live_bytes: 1024 * i as u64,
                max_live_bytes: 1024 * i as u64 + 100,
                allocations: 3,
                allocated_bytes: 3000,
                frees: 2,
                allocated_bytes_per_s: 300.0,
                rss_bytes: (rss && i >= 5).then_some((4 << 20) + 4096 * i as u64),
                heap_bytes: None,
            })
            .collect()
    }

    fn empty_report() -> NativeReport {
        let class = |name, min_bytes, max_bytes| SizeClass {
            name,
            min_bytes,
            max_bytes,
            allocations: 0,
            allocated_bytes: 0,
            leaked_allocations: 0,
            leaked_bytes: 0,
        };
        NativeReport {
            schema: heapwise_native::model::SCHEMA,
            process: Process {
                pid: 7,
                command: Vec::new(),
                exit: None,
            },
            verdict: verdict::verdict(&verdict::Evidence::default()),
            allocator: None,
            sampling: None,
            summary: Summary::default(),
            reachability_scan: Default::default(),
            suppressions: None,
            size_classes: vec![
                class("< 1 KiB", 0, Some(1023)),
                class("1 KiB - 1 MiB", 1024, Some(1048575)),
                class("> 1 MiB", 1048576, None),
            ],
            leaks: Vec::new(),
            timeline: Vec::new(),
            growth: Vec::new(),
            memory: MemoryOverTime {
                live: live_verdict(&[]),
                rss: None,
                leak_rate_bytes_per_s: None,
                fragmentation: None,
            },
            peak: Peak {
                t_s: 0.0,
                live_bytes: 0,
                stacks: Vec::new(),
            },
            old_allocations: OldAllocations {
                min_age_s: 0.0,
                allocations: 0,
                bytes: 0,
                stacks: Vec::new(),
            },
            temporary: Temporary {
                allocations: 0,
                fraction: 0.0,
                stacks: Vec::new(),
            },
            recommendations: Vec::new(),
            trace: TraceInfo {
                path: "empty.hwt".to_string(),
                truncated: false,
                damage: None,
                lost_events: 0,
                threads: 0,
                bytes: 0,
                crash_safe: true,
                ..TraceInfo::default()
            },
            inherited: None,
            warnings: Vec::new(),
        }
    }

    /// A C++ server with a cache that grows (40,000 bytes in 10 blocks), a
    /// small C leak, and a stdio buffer the runtime keeps.
    fn leaky_report(points: usize) -> NativeReport {
        let timeline = timeline(points, true);
        let rss = Series::from_pairs(
            timeline
                .iter()
                .filter_map(|p| Some((p.t_s, p.rss_bytes? as f64))),
        );
        let live = live_verdict(&timeline);
        let stack_verdict = live_verdict(&timeline);
        let mut report = empty_report();
        report.process = Process {
            pid: 4242,
            command: vec!["./server".into(), "--port".into(), "8080".into()],
            exit: Some(Exit::Code(0)),
        };
        report.summary = Summary {
            allocations: 1_234_567,
            frees: 1_234_555,
            allocated_bytes: 98_765_432,
            peak_live_bytes: 52_224,
            peak_t_s: 9.5,
            leaked_bytes: 40_000 + 512 + 4096,
            leaked_allocations: 12,
            duration_s: 10.0,
            reachability: None,
        };
        report.size_classes[0].allocations = 1_234_000;
        report.size_classes[0].leaked_allocations = 1;
        report.size_classes[0].leaked_bytes = 512;
        report.leaks = vec![
            Leak {
                bytes: 40_000,
                allocations: 10,
                frames: cpp_stack(),
                note: None,
                kind: None,
                suppressed: None,
            },
            Leak {
                bytes: 4096,
                allocations: 1,
                frames: vec![Arc::new(frame(Some("_IO_file_doallocate"), None, None))],
                note: Some("the stdio buffer of a FILE stream"),
                kind: None,
                suppressed: None,
            },
            Leak {
                bytes: 512,
                allocations: 1,
                frames: c_stack(),
                note: None,
                kind: None,
                suppressed: None,
            },
        ];
        report.growth = vec![Growth {
            frames: cpp_stack(),
            pattern: stack_verdict.pattern,
            leak: stack_verdict.leak,
            slope_bytes_per_s: stack_verdict.slope_bytes_per_s,
            live_bytes_end: 40_000,
            allocations_end: 10,
            verdict: stack_verdict,
        }];
        report.memory = MemoryOverTime {
            leak_rate_bytes_per_s: live.slope_bytes_per_s,
            live,
            rss: Some(analyze(&rss, &Options::default())),
            fragmentation: Some(Fragmentation {
                kind: "fragmentation",
                finding: "RSS grew while the live heap did not".to_string(),
                rss_growth_bytes: 8 << 20,
                live_growth_bytes: -2048,
                heap_growth_bytes: Some(7 << 20),
                advice: vec!["Try MALLOC_ARENA_MAX=2 & compare <RSS>".to_string()],
            }),
        };
        report.peak = Peak {
            t_s: 9.5,
            live_bytes: 52_224,
            stacks: vec![StackBytes {
                bytes: 40_000,
                frames: cpp_stack(),
            }],
        };
        report.old_allocations = OldAllocations {
            min_age_s: 5.0,
            allocations: 4,
            bytes: 16_000,
            stacks: vec![StackBlocks {
                allocations: 4,
                bytes: 16_000,
                frames: cpp_stack(),
            }],
        };
        report.temporary = Temporary {
            allocations: 600_000,
            fraction: 0.486,
            stacks: vec![StackCount {
                allocations: 600_000,
                frames: c_stack(),
            }],
        };
        report.recommendations =
            vec!["Bound the cache filled in Cache::insert<std::string>.".to_string()];
        report.trace = TraceInfo {
            path: "server.hwt".to_string(),
            truncated: false,
            damage: None,
            lost_events: 0,
            threads: 4,
            bytes: 48_213_004,
            blocks: 31,
            crash_safe: true,
            ..TraceInfo::default()
        };
        report.warnings = vec!["module /usr/lib/libfoo.so (deleted) was not symbolized".into()];
        report.timeline = timeline;
        report
    }

    /// The flame graph of the report's leaks, as `--format flamegraph`
    /// writes it.
    fn flamegraph_of(report: &NativeReport) -> String {
        let profile = Profile {
            stacks: report
                .leaks
                .iter()
                .map(|l| ProfileStack {
                    frames: l.frames.clone(),
                    allocations: l.allocations,
                    allocated_bytes: l.bytes,
                    live_allocations: l.allocations,
                    live_bytes: l.bytes,
                })
                .collect(),
            start_realtime_ns: 0,
            executable: String::new(),
            duration_ns: 10_000_000_000,
            sample_interval: 0,
        };
        let mut svg = Vec::new();
        flamegraph::write(&mut svg, &profile, Metric::LeakedBytes, "Leaked bytes").unwrap();
        String::from_utf8(svg).unwrap()
    }

    /// The page of `report`, its verdict decided from the fixture's figures
    /// as `heapwise_native::report` decides it.
    fn render(report: &NativeReport, flamegraph_svg: Option<&str>) -> String {
        let report = decided(report);
        let mut page = Vec::new();
        write(&mut page, &report, flamegraph_svg).unwrap();
        String::from_utf8(page).unwrap()
    }

    fn decided(report: &NativeReport) -> NativeReport {
        let mut report = report.clone();
        let held = |runtime: bool| {
            report
                .leaks
                .iter()
                .filter(|l| l.note.is_some() == runtime)
                .fold(verdict::Held::default(), |h, l| verdict::Held {
                    bytes: h.bytes + l.bytes,
                    allocations: h.allocations + l.allocations,
                })
        };
        let exit = report.process.exit.map(|e| match e {
            Exit::Code(code) => heapwise_native::ExitStatus::Code(code),
            Exit::Signal(signal) => heapwise_native::ExitStatus::Signal(signal),
        });
        report.verdict = verdict::verdict(&verdict::Evidence {
            allocations: report.summary.allocations,
            own: held(false),
            runtime: held(true),
            heap_grows: report.memory.live.leak,
            growing_stacks: report.growth.iter().filter(|g| g.leak).count() as u64,
            exit,
            missing: verdict::MissingEvidence::of(&report.trace, exit),
            allocator: None,
            ..verdict::Evidence::default()
        });
        report
    }

    /// The points of the polyline of class `class`, if there is one.
    fn polyline_points(page: &str, class: &str) -> Option<usize> {
        let start = format!(r#"<polyline class="{class}" points=""#);
        let at = page.find(&start)? + start.len();
        let end = page[at..].find('"')?;
        Some(page[at..at + end].split_whitespace().count())
    }

    /// Every element closed in order: a small check of the page's nesting
    /// (void elements, `/>`, the doctype, comments and raw text of `<style>`
    /// and `<script>` aside).
    fn assert_balanced(page: &str) {
        const VOID: [&str; 3] = ["meta", "br", "hr"];
        let mut open: Vec<&str> = Vec::new();
        let mut rest = page;
        while let Some(at) = rest.find('<') {
            rest = &rest[at..];
            let end = rest.find('>').expect("a tag is never left open");
            let tag = &rest[1..end];
            rest = &rest[end + 1..];
            if tag.starts_with('!') || tag.starts_with('?') || tag.ends_with('/') {
                continue;
            }
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(open.pop(), Some(name), "</{name}> closes the wrong element");
                continue;
            }
            let name = tag.split_whitespace().next().unwrap();
            if VOID.contains(&name) {
                continue;
            }
            open.push(name);
            if name == "style" || name == "script" {
                let close = format!("</{name}>");
                rest = &rest[rest.find(&close).expect("raw text is closed")..];
            }
        }
        assert!(open.is_empty(), "left open: {open:?}");
    }

    #[test]
    fn page_starts_with_a_doctype_and_names_the_process() {
        let page = render(&leaky_report(50), None);
        assert!(page.starts_with("<!DOCTYPE html>\n"));
        assert!(page.contains("<title>heapwise report: ./server --port 8080</title>"));
        assert!(page.contains("<code>./server --port 8080</code>"));
        assert!(page.contains("pid 4242, exited with code 0, traced for 10.00 s"));
        assert!(page.trim_end().ends_with("</html>"));
    }

    #[test]
    fn sections_come_in_order() {
        let report = leaky_report(50);
        let page = render(&report, Some(&flamegraph_of(&report)));
        let order = [
            r#"<section class="verdict"#,
            r#"<section id="summary">"#,
            r#"<section id="memory">"#,
            r#"<section id="recommendations">"#,
            r#"<section id="leaks">"#,
            r#"<section id="growth">"#,
            r#"<section id="peak">"#,
            r#"<section id="old">"#,
            r#"<section id="temporary">"#,
            r#"<section id="sizes">"#,
            r#"<section id="flamegraph">"#,
            r#"<section id="warnings">"#,
            r#"<section id="trace">"#,
        ];
        let at: Vec<usize> = order
            .iter()
            .map(|s| page.find(s).unwrap_or_else(|| panic!("{s} missing")))
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{at:?}");
    }

    #[test]
    fn the_verdict_says_leak_with_the_pattern_rate_and_reason() {
        let report = leaky_report(50);
        let page = render(&report, None);
        let verdict = &page[page.find(r#"<section class="verdict leak""#).unwrap()..];
        let verdict = &verdict[..verdict.find("</section>").unwrap()];
        assert!(report.memory.live.leak, "{:?}", report.memory.live);
        assert!(verdict.contains("Leak: the live heap keeps growing"));
        assert!(verdict.contains(&format!("<b>{}</b>", report.memory.live.pattern)));
        assert!(verdict.contains(&escape(&report.memory.live.reason)));
        assert!(verdict.contains(&format!(
            "Leak rate: <b>{}</b>",
            rate(report.memory.leak_rate_bytes_per_s)
        )));
        assert!(verdict.contains("RSS grew while the live heap did not"));
        assert!(verdict.contains("Try MALLOC_ARENA_MAX=2 &#38; compare &#60;RSS&#62;"));
    }

    #[test]
    fn leaks_show_their_exact_bytes_the_runtimes_last() {
        let page = render(&leaky_report(50), None);
        assert!(page.contains(
            r#"<td class="num">39.1 KiB<span class="exact">40,000 bytes</span></td><td class="num">10</td>"#
        ));
        let leaks = &page[page.find(r#"<section id="leaks">"#).unwrap()..];
        let leaks = &leaks[..leaks.find("</section>").unwrap()];
        let cpp = leaks.find("Cache::insert").unwrap();
        let c = leaks.find("leak_small").unwrap();
        let runtime = leaks.find("Held by the runtime").unwrap();
        let stdio = leaks.find("the stdio buffer of a FILE stream").unwrap();
        assert!(cpp < c && c < runtime && runtime < stdio);
        assert!(leaks.contains("(2 call stacks)"));
        // The full stack, one frame per line with file:line.
        assert!(leaks.contains(
            "<li><code>Cache::insert(std::string const&#38;)  /src/cache.cpp:42</code></li>"
        ));
        assert!(leaks.contains("<li><code>main  /src/main.cpp:10</code></li>"));
        assert!(leaks.contains("<li><code>[server 0x401136]</code></li>"));
    }

    #[test]
    fn cpp_names_are_escaped_everywhere() {
        let report = leaky_report(50);
        let page = render(&report, Some(&flamegraph_of(&report)));
        assert!(page.contains(
            "std::vector&#60;int&#62;::push_back(int const&#38;) [inlined]  \
             /usr/include/c++/13/bits/stl_vector.h:1283"
        ));
        assert!(!page.contains("std::vector<int>"));
        assert!(page.contains("Cache::insert&#60;std::string&#62;"));
        assert!(!page.contains("insert<std::string>"));
        assert_balanced(&page);
    }

    #[test]
    fn the_chart_has_one_point_per_timeline_point() {
        let report = leaky_report(50);
        let page = render(&report, None);
        assert_eq!(page.matches("<svg").count(), 1);
        assert_eq!(polyline_points(&page, "live"), Some(50));
        assert_eq!(polyline_points(&page, "rss"), Some(45));
        // Axes labelled with byte sizes and seconds.
        assert!(page.contains(">0 B</text>"));
        assert!(page.contains(">2.0 MiB</text>"));
        assert!(page.contains(">6.0 MiB</text>"));
        assert!(page.contains(">10 s</text>"));
        assert!(page.contains("live heap, max 49.0 KiB"));

        let mut report = report;
        for p in &mut report.timeline {
            p.rss_bytes = None;
        }
        let page = render(&report, None);
        assert_eq!(polyline_points(&page, "live"), Some(50));
        assert_eq!(polyline_points(&page, "rss"), None);
        assert!(page.contains("RSS was not sampled"));
    }

    #[test]
    fn the_flame_graph_is_embedded_inline_when_given() {
        let report = leaky_report(50);
        let svg = flamegraph_of(&report);
        let page = render(&report, Some(&svg));
        let body = svg.find("<svg").unwrap();
        assert!(page.contains(svg[body..].trim_end()));
        assert!(!page.contains("<?xml"));
        assert!(page.contains(r##"<a href="#flamegraph">"##));

        let page = render(&report, None);
        assert!(!page.contains(r#"id="flamegraph""#));
        assert!(!page.contains(r##"href="#flamegraph""##));
    }

    #[test]
    fn nothing_is_fetched_from_elsewhere() {
        let report = leaky_report(50);
        let page = render(&report, Some(&flamegraph_of(&report)));
        let svg_namespace = r#"xmlns="http://www.w3.org/2000/svg""#;
        for scheme in ["http://", "https://"] {
            for (at, _) in page.match_indices(scheme) {
                let start = at.saturating_sub(r#"xmlns=""#.len());
                assert!(
                    page[start..].starts_with(svg_namespace),
                    "external reference: {}",
                    &page[start..(at + 40).min(page.len())]
                );
            }
        }
        for attribute in ["src=", "<link", "@import", "url("] {
            assert!(!page.contains(attribute), "{attribute}");
        }
    }

    #[test]
    fn an_empty_report_renders() {
        let page = render(&empty_report(), None);
        assert!(page.starts_with("<!DOCTYPE html>"));
        // Nothing recorded and the end unknown: never "no leak".
        assert!(page.contains(r#"<section class="verdict unknown""#));
        assert!(page.contains("Nothing was recorded"));
        assert!(page.contains("No timeline"));
        assert!(!page.contains("<svg"));
        assert!(page.contains("<code>?</code>"));
        assert!(page.contains("end unknown"));
        assert_balanced(&page);

        // One point at time zero, without RSS: a chart all the same.
        let mut report = empty_report();
        report.timeline = timeline(1, false);
        report.timeline[0].t_s = 0.0;
        let page = render(&report, None);
        assert_eq!(polyline_points(&page, "live"), Some(1));
        assert_balanced(&page);
    }

    #[test]
    fn blocks_left_by_a_killed_program_are_a_possible_leak() {
        let mut report = leaky_report(50);
        report.process.exit = Some(Exit::Signal(9));
        report.memory.live = live_verdict(&[]);
        report.growth.clear();
        let page = render(&report, None);
        assert!(page.contains(r#"<section class="verdict possible""#));
        assert!(page.contains(&escape(&decided(&report).verdict.headline)));
        assert!(page.contains("Possible leak: 40,"), "{page}");
        assert!(page.contains("killed by signal 9"));
    }

    /// askama's HTML escaper spells the five characters as numeric
    /// entities; the assertions above spell them so.
    #[test]
    fn escape_replaces_markup_characters() {
        let mut report = empty_report();
        report.process.command = vec![r#"a<b>&"c""#.into(), "'d'".into()];
        let page = render(&report, None);
        let escaped = "a&#60;b&#62;&#38;&#34;c&#34; &#39;d&#39;";
        assert!(page.contains(&format!("<title>heapwise report: {escaped}</title>")));
        assert!(page.contains(&format!("<code>{escaped}</code>")));
        assert_eq!(escape(r#"a<b>&"c" 'd'"#), escaped);
        assert_eq!(escape("plain"), "plain");
    }

    #[test]
    fn a_long_run_with_many_leaks_stays_small() {
        let mut report = leaky_report(2000);
        let deep: Vec<Arc<Frame>> = (0..20)
            .map(|i| {
                Arc::new(frame(
                    Some(&format!("handler_{i}")),
                    Some("/src/handlers.c"),
                    Some(i),
                ))
            })
            .collect();
        report.leaks = (0..20)
            .map(|i| Leak {
                bytes: 1000 * (20 - i),
                allocations: 20 - i,
                frames: deep.clone(),
                note: None,
                kind: None,
                suppressed: None,
            })
            .collect();
        let page = render(&report, None);
        assert_eq!(polyline_points(&page, "live"), Some(2000));
        assert!(page.len() < 200_000, "{} bytes", page.len());
    }
}
