//! `heapwise heap summary|diff|leaks` as one self-contained HTML page each,
//! for V8 snapshots and JVM dumps alike. The leaks page leads with what
//! keeps growing: each accumulation point with its cause, holder, path from
//! the GC roots, objects held and bytes retained, and its clusters as
//! detail under it; then the leaked classes.
//!
//! As the native report's page: askama templates
//! (`crates/render/templates/heap/`) filled from view structs
//! (`view.rs`), every figure worded by `heapwise-words`, every value escaped
//! (class and property names come from the program), no external
//! resources, readable without JavaScript.

mod view;

use std::io::{self, Write};

use askama::Template;
use heapwise_heap::{HeapDiff, HeapSummary, LeakReport};

use super::text::Limits;

/// A file a report was made from, and its role (`BASELINE`, `TARGET`,
/// `FINAL`; `BEFORE`, `AFTER`; `DUMP`): the page names them at the top.
#[derive(Debug, Clone)]
pub struct Input {
    /// The role, as the command line names it.
    pub role: &'static str,
    /// The path as given.
    pub path: String,
}

/// Writes the page of a leak search: the roots first, their clusters as
/// detail, then the leaked classes; as many as `limits` allow.
pub fn write_leaks<W: Write + ?Sized>(
    out: &mut W,
    report: &LeakReport,
    inputs: &[Input],
    limits: &Limits,
) -> io::Result<()> {
    finish(out, view::LeaksPage::new(report, inputs, limits))
}

/// Writes the page of a summary, its table `limits.top` rows long.
pub fn write_summary<W: Write + ?Sized>(
    out: &mut W,
    summary: &HeapSummary,
    inputs: &[Input],
    limits: &Limits,
) -> io::Result<()> {
    finish(out, view::SummaryPage::new(summary, inputs, limits.top))
}

/// Writes the page of a comparison, its table `limits.top` rows long.
pub fn write_diff<W: Write + ?Sized>(
    out: &mut W,
    diff: &HeapDiff,
    inputs: &[Input],
    limits: &Limits,
) -> io::Result<()> {
    finish(out, view::DiffPage::new(diff, inputs, limits.top))
}

fn finish<W: Write + ?Sized>(out: &mut W, page: impl Template) -> io::Result<()> {
    Template::write_into(&page, &mut &mut *out)?;
    // askama drops a template's last newline; the page ends with one.
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use heapwise_heap::{
        Cause, ConstructorDiff, ConstructorSummary, DIFF_SCHEMA, DumpFormat, HeldConstructor,
        LEAKS_SCHEMA, LeakCluster, LeakRoot, LeakedConstructor, PathStep, SUMMARY_SCHEMA,
    };

    use super::*;

    /// What a program may name its classes and properties: markup.
    const EVIL: &str = r#"<script>alert("x")</script> & 'y'"#;

    fn escape(text: &str) -> String {
        askama::filters::escape(text, askama::filters::Html)
            .unwrap()
            .to_string()
    }

    fn step(node: &str, edge: &str, edge_type: &str) -> PathStep {
        PathStep {
            node: node.into(),
            edge: edge.into(),
            edge_type: edge_type.into(),
            node_id: 7,
        }
    }

    fn cluster(constructor: &str, count: u64, retained_bytes: u64, cause: Cause) -> LeakCluster {
        LeakCluster {
            constructor: constructor.into(),
            count,
            retained_bytes,
            cause,
            recommendation: format!("Stop keeping {constructor}."),
            retainer_path: vec![
                step("system / Context", "bus", "context"),
                step("EventEmitter", "_events", "property"),
                step("Array", "[]", "element"),
            ],
            sample_ids: vec![101, 103],
        }
    }

    /// Two roots (the listeners, a Map whose property name is markup), the
    /// clusters they hold, and one cluster no root holds.
    fn report() -> LeakReport {
        let root = |holder: &str, cause, entries, retained_bytes, clusters: Vec<usize>| LeakRoot {
            cause,
            holder: holder.into(),
            holder_class: "Array".into(),
            holder_id: 91371,
            path: vec![
                step("system / Context", "bus", "context"),
                step("EventEmitter", "_events", "property"),
                step("Object", "shutdown", "property"),
            ],
            objects: 5902,
            entries,
            baseline_entries: None,
            retained_bytes,
            holds: (0..8)
                .map(|i| HeldConstructor {
                    name: format!("Class{i}"),
                    count: 100 - i,
                })
                .collect(),
            clusters,
            recommendation: "Remove the listener.".into(),
        };
        LeakReport {
            schema: LEAKS_SCHEMA.into(),
            format: DumpFormat::V8,
            leaked_objects: 6000,
            leaked_self_bytes: 270_000,
            by_constructor: vec![LeakedConstructor {
                name: EVIL.into(),
                count: 60,
                self_bytes: 2400,
                retained_bytes: 768_064,
            }],
            roots: vec![
                root(
                    "the 'shutdown' listeners of EventEmitter 'bus'",
                    Cause::EventListener,
                    60,
                    768_064,
                    vec![0, 2],
                ),
                root(
                    &format!("Map '{EVIL}'"),
                    Cause::UnboundedCollection,
                    60,
                    9000,
                    vec![1],
                ),
            ],
            clusters: vec![
                cluster("IncomingMessage", 60, 500_000, Cause::EventListener),
                cluster(EVIL, 60, 9000, Cause::UnboundedCollection),
                cluster("Socket", 60, 4000, Cause::EventListener),
                cluster("Timeout", 3, 300, Cause::Closure),
            ],
            warnings: vec![format!("warning about {EVIL}")],
        }
    }

    fn inputs() -> Vec<Input> {
        ["BASELINE", "TARGET", "FINAL"]
            .iter()
            .map(|&role| Input {
                role,
                path: format!("/tmp/{}.heapsnapshot", role.to_lowercase()),
            })
            .collect()
    }

    fn leaks_page(report: &LeakReport, limits: &Limits) -> String {
        let mut page = Vec::new();
        write_leaks(&mut page, report, &inputs(), limits).unwrap();
        String::from_utf8(page).unwrap()
    }

    /// The element that opens at the first `start`, to its closing `</tag>`.
    fn element<'a>(page: &'a str, start: &str, tag: &str) -> &'a str {
        let at = page.find(start).unwrap_or_else(|| panic!("no {start}"));
        let end = page[at..].find(&format!("</{tag}>")).unwrap();
        &page[at..at + end]
    }

    /// Every element closed in order (void elements, `/>`, the doctype and
    /// the raw text of `<style>` and `<script>` aside).
    fn assert_balanced(page: &str) {
        let mut open: Vec<&str> = Vec::new();
        let mut rest = page;
        while let Some(at) = rest.find('<') {
            rest = &rest[at..];
            let end = rest.find('>').expect("a tag is never left open");
            let tag = &rest[1..end];
            rest = &rest[end + 1..];
            if tag.starts_with('!') || tag.ends_with('/') {
                continue;
            }
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(open.pop(), Some(name), "</{name}> closes the wrong element");
                continue;
            }
            let name = tag.split_whitespace().next().unwrap();
            if name == "meta" {
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
    fn the_leaks_page_leads_with_the_roots_then_the_classes_then_other_clusters() {
        let page = leaks_page(&report(), &Limits::default());
        assert!(page.starts_with("<!DOCTYPE html>\n"));
        assert!(page.trim_end().ends_with("</html>"));
        let order = [
            r#"<section class="verdict leak""#,
            r#"<section id="roots">"#,
            r#"<article class="root" id="root-1">"#,
            r#"<article class="root" id="root-2">"#,
            r#"<section id="leaked">"#,
            r#"<section id="clusters">"#,
            r#"<section id="warnings">"#,
        ];
        let at: Vec<usize> = order
            .iter()
            .map(|s| page.find(s).unwrap_or_else(|| panic!("{s} missing")))
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{at:?}");
        assert!(page.contains("What keeps growing: 2 things keep growing"));
        assert_balanced(&page);
    }

    #[test]
    fn each_root_shows_its_cause_path_counts_and_its_clusters_as_detail() {
        let page = leaks_page(&report(), &Limits::default());
        let root = element(&page, r#"<article class="root" id="root-1">"#, "article");
        assert!(root.contains(
            r#"<span class="holder">the &#39;shutdown&#39; listeners of EventEmitter &#39;bus&#39;</span>"#
        ));
        assert!(root.contains(r#"<dd class="cause">event-listener</dd>"#));
        assert!(root.contains(r#"<dd class="entries">60</dd>"#));
        assert!(root.contains(r#"<dd class="objects">5,902</dd>"#));
        assert!(root.contains(
            r#"<dd class="retained">750.1 KiB<span class="exact">768,064 bytes</span></dd>"#
        ));
        // The path from the GC roots, one hop a line, to the holder.
        assert!(root.contains(r#"<li class="start"><code>system / Context</code></li>"#));
        assert!(
            root.contains(
                r#"<li><span class="edge">var bus</span> → <code>EventEmitter</code></li>"#
            )
        );
        assert!(
            root.contains(r#"<li><span class="edge">.shutdown</span> → <code>Array</code></li>"#)
        );
        // Six classes on one line, all eight one click away.
        assert!(root.contains("<code>Class5 × 95</code></p>"));
        assert!(root.contains("every class it holds (8)"));
        assert!(root.contains("<td><code>Class7</code></td><td class=\"num\">93</td>"));
        // Its clusters (#1 and #3), not the others.
        let detail = element(root, r#"<details class="detail">"#, "table");
        assert!(detail.contains("Detail: 2 clusters"));
        assert!(detail.contains(r#"<tr id="cluster-1">"#));
        assert!(detail.contains(r#"<tr id="cluster-3">"#));
        assert!(!detail.contains(r#"<tr id="cluster-2">"#));
        // The cluster no root holds is listed on its own.
        let others = element(&page, r#"<section id="clusters">"#, "section");
        assert!(others.contains("Clusters no root above holds"));
        assert!(others.contains(r#"<tr id="cluster-4">"#));
        assert!(!others.contains(r#"<tr id="cluster-1">"#));
        assert!(others.contains("<code>@101 @103</code>"));
    }

    #[test]
    fn names_from_the_program_are_escaped_everywhere() {
        let page = leaks_page(&report(), &Limits::default());
        assert!(!page.contains("<script>alert"), "unescaped markup");
        let escaped = escape(EVIL);
        assert_eq!(
            escaped,
            "&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; &#38; &#39;y&#39;"
        );
        // The holder, the leaked class, a cluster, a warning.
        assert!(page.contains(&format!(
            r#"<span class="holder">Map &#39;{escaped}&#39;</span>"#
        )));
        assert!(page.contains(&format!(
            "<td><code>{escaped}</code></td><td class=\"num\">60</td>"
        )));
        assert!(page.contains(&format!("<li>warning about {escaped}</li>")));
        assert_balanced(&page);
    }

    #[test]
    fn limits_count_what_is_left_out() {
        let limits = Limits {
            top: 20,
            clusters: 10,
            roots: 1,
        };
        let page = leaks_page(&report(), &limits);
        assert!(page.contains(r#"id="root-1""#));
        assert!(!page.contains(r#"id="root-2""#));
        assert!(page.contains("… and 1 more accumulation point (--roots N shows them"));
        // The hidden root's cluster is listed with those no shown root holds.
        let others = element(&page, r#"<section id="clusters">"#, "section");
        assert!(others.contains(r#"<tr id="cluster-2">"#));
    }

    #[test]
    fn without_roots_the_clusters_say_why_and_without_leaks_the_page_says_so() {
        let mut report = report();
        report.roots.clear();
        let page = leaks_page(&report, &Limits::default());
        assert!(!page.contains(r#"<section id="roots">"#));
        assert!(page.contains("<h2>Why they stay alive</h2>"));
        assert_eq!(page.matches(r#"<tr id="cluster-"#).count(), 4);

        report.clusters.clear();
        let page = leaks_page(&report, &Limits::default());
        assert!(page.contains(r#"<section class="verdict possible""#));

        let nothing = LeakReport {
            leaked_objects: 0,
            leaked_self_bytes: 0,
            by_constructor: Vec::new(),
            warnings: Vec::new(),
            ..report
        };
        let page = leaks_page(&nothing, &Limits::default());
        assert!(page.contains(r#"<section class="verdict none""#));
        assert!(page.contains("No leak: nothing allocated after BASELINE"));
        assert!(!page.contains("<nav>"));
        assert_balanced(&page);
    }

    #[test]
    fn jvm_roots_say_what_was_added_since_baseline_and_ids_are_addresses() {
        let mut report = report();
        report.format = DumpFormat::Hprof;
        report.roots[0].baseline_entries = Some(20);
        let page = leaks_page(&report, &Limits::default());
        assert!(page.contains(
            r#"<dd class="entries">60<span class="exact">+40 since BASELINE</span></dd>"#
        ));
        assert!(page.contains("<code>0x65 0x67</code>"));
        assert!(page.contains("<p>JVM heap dumps (HPROF)</p>"));
        assert!(page.contains("<h2>Leaked, by class</h2>"));
    }

    #[test]
    fn the_files_read_are_named_and_nothing_is_fetched_from_elsewhere() {
        let page = leaks_page(&report(), &Limits::default());
        assert!(
            page.contains("<tr><th>FINAL</th><td><code>/tmp/final.heapsnapshot</code></td></tr>")
        );
        for needle in ["http://", "https://", "src=", "<link", "@import", "url("] {
            assert!(!page.contains(needle), "{needle}");
        }
    }

    #[test]
    fn summary_and_diff_pages_list_their_tables() {
        let summary = HeapSummary {
            schema: SUMMARY_SCHEMA.into(),
            format: DumpFormat::Hprof,
            nodes: 32_985,
            edges: 53_649,
            total_bytes: 1_572_864,
            constructors: (0..30)
                .map(|i| ConstructorSummary {
                    name: format!("com.example.C{i}<{i}>"),
                    count: 30 - i,
                    self_bytes: 100,
                    retained_bytes: 2048,
                })
                .collect(),
        };
        let mut page = Vec::new();
        let input = [Input {
            role: "DUMP",
            path: "app.hprof".into(),
        }];
        write_summary(&mut page, &summary, &input, &Limits::default()).unwrap();
        let page = String::from_utf8(page).unwrap();
        assert!(page.contains("Largest classes by retained size (20 of 30)"));
        assert!(page.contains("<dd>32,985<small>53,649 references</small></dd>"));
        assert_eq!(page.matches("<td><code>com.example.C").count(), 20);
        assert!(page.contains("com.example.C3&#60;3&#62;"));
        assert_balanced(&page);

        let diff = HeapDiff {
            schema: DIFF_SCHEMA.into(),
            format: DumpFormat::V8,
            matched_by: "id".into(),
            before_objects: 100,
            after_objects: 175,
            shared_objects: Some(100),
            warnings: Vec::new(),
            constructors: vec![ConstructorDiff {
                name: "Widget".into(),
                new: 75,
                deleted: 0,
                delta: 75,
                alloc_bytes: 3000,
                freed_bytes: 0,
                size_delta: 3000,
            }],
        };
        let mut page = Vec::new();
        write_diff(&mut page, &diff, &input, &Limits::default()).unwrap();
        let page = String::from_utf8(page).unwrap();
        assert!(
            page.contains("Compared by object id: 100 objects before, 175 after, 100 in both.")
        );
        assert!(page.contains(
            r#"<tr><td class="num">+2.9 KiB</td><td class="num">2.9 KiB<span class="exact">3,000 bytes</span></td>"#
        ));
        assert!(page.contains("<td class=\"num\">+75</td><td><code>Widget</code></td>"));
        assert_balanced(&page);
    }
}
