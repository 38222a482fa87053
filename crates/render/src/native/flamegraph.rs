//! A self-contained SVG flame graph: the outermost frames at the bottom,
//! each box as wide as the value of the stacks passing through it, a
//! tooltip with the exact value. No scripts; it opens in any browser.

use heapwise_words as words;
use std::collections::BTreeMap;
use std::io::{self, Write};

use heapwise_native::Profile;

use super::Metric;

const WIDTH: f64 = 1200.0;
const FRAME_HEIGHT: f64 = 16.0;
const MARGIN: f64 = 10.0;
const TITLE_HEIGHT: f64 = 40.0;
/// Boxes narrower than this are merged away.
const MIN_WIDTH: f64 = 0.1;

#[derive(Default)]
struct Node {
    value: u64,
    children: BTreeMap<String, Node>,
}

/// Writes the flame graph of `profile` for `metric`.
pub fn write<W: Write + ?Sized>(
    out: &mut W,
    profile: &Profile,
    metric: Metric,
    title: &str,
) -> io::Result<()> {
    let mut root = Node::default();
    for stack in &profile.stacks {
        let value = metric.of(stack);
        if value == 0 {
            continue;
        }
        root.value += value;
        let mut node = &mut root;
        for frame in stack.frames.iter().rev() {
            node = node.children.entry(frame.text().name()).or_default();
            node.value += value;
        }
    }
    let depth = max_depth(&root);
    let height = TITLE_HEIGHT + (depth as f64 + 1.0) * FRAME_HEIGHT + 2.0 * MARGIN;
    writeln!(out, r#"<?xml version="1.0" standalone="no"?>"#)?;
    writeln!(
        out,
        r#"<svg version="1.1" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" xmlns="http://www.w3.org/2000/svg">"#
    )?;
    writeln!(
        out,
        r#"<style>text {{ font-family: monospace; font-size: 12px; }} rect {{ stroke: white; stroke-width: 0.5; }}</style>"#
    )?;
    writeln!(
        out,
        r##"<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#f8f8f8"/>"##
    )?;
    let total = describe(metric, root.value);
    writeln!(
        out,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="17">{} — {}</text>"#,
        WIDTH / 2.0,
        escape(title),
        escape(&total)
    )?;
    if root.value == 0 {
        writeln!(
            out,
            r#"<text x="{}" y="{}" text-anchor="middle">nothing to show: no {}</text>"#,
            WIDTH / 2.0,
            TITLE_HEIGHT + 20.0,
            metric.title().to_lowercase()
        )?;
    } else {
        let scale = (WIDTH - 2.0 * MARGIN) / root.value as f64;
        let bottom = height - MARGIN - FRAME_HEIGHT;
        draw(out, "all", &root, MARGIN, bottom, scale, metric, root.value)?;
    }
    writeln!(out, "</svg>")
}

fn max_depth(node: &Node) -> usize {
    node.children
        .values()
        .map(|c| 1 + max_depth(c))
        .max()
        .unwrap_or(0)
}

#[allow(clippy::too_many_arguments)]
fn draw<W: Write + ?Sized>(
    out: &mut W,
    name: &str,
    node: &Node,
    x: f64,
    y: f64,
    scale: f64,
    metric: Metric,
    total: u64,
) -> io::Result<()> {
    let width = node.value as f64 * scale;
    if width < MIN_WIDTH {
        return Ok(());
    }
    let share = 100.0 * node.value as f64 / total as f64;
    let tooltip = format!("{name} — {} ({share:.1}%)", describe(metric, node.value));
    writeln!(out, "<g><title>{}</title>", escape(&tooltip))?;
    writeln!(
        out,
        r#"<rect x="{x:.2}" y="{y:.2}" width="{width:.2}" height="{:.2}" fill="{}"/>"#,
        FRAME_HEIGHT - 1.0,
        color(name)
    )?;
    // About 7 px per character at 12 px monospace.
    let fits = ((width - 6.0) / 7.0).floor();
    if fits >= 3.0 {
        let chars = fits as usize;
        let label: String = if name.chars().count() > chars {
            name.chars()
                .take(chars.saturating_sub(2))
                .collect::<String>()
                + ".."
        } else {
            name.to_string()
        };
        writeln!(
            out,
            r#"<text x="{:.2}" y="{:.2}">{}</text>"#,
            x + 3.0,
            y + FRAME_HEIGHT - 4.5,
            escape(&label)
        )?;
    }
    writeln!(out, "</g>")?;
    let mut child_x = x;
    for (child_name, child) in &node.children {
        draw(
            out,
            child_name,
            child,
            child_x,
            y - FRAME_HEIGHT,
            scale,
            metric,
            total,
        )?;
        child_x += child.value as f64 * scale;
    }
    Ok(())
}

fn describe(metric: Metric, value: u64) -> String {
    match metric.unit() {
        "bytes" => format!("{} {}", metric.title().to_lowercase(), words::bytes(value)),
        _ => format!("{value} {}", metric.title().to_lowercase()),
    }
}

/// A warm colour derived from the name, so a function keeps its colour.
fn color(name: &str) -> String {
    let hash = name.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    let r = 205 + (hash % 50);
    let g = 80 + ((hash >> 8) % 140);
    let b = 40 + ((hash >> 16) % 50);
    format!("rgb({r},{g},{b})")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
