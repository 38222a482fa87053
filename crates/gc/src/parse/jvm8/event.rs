//! One assembled JDK 8 event — the text from its `[GC`, `[Full GC` or
//! (Shenandoah backport) `[Pause` to the matching `]`, across lines — read
//! into its parts.
//!
//! The event's own bracket groups are its sections (`[PSYoungGen: …]`,
//! `[ParNew: …]`, `[CMS: …]`, `[Metaspace: …]`, `[1 CMS-remark: …]`) or
//! text another part of the JVM printed into it: reference phases
//! (`[SoftReference, 0 refs, 0.0001 secs]`), concurrent phases of another
//! thread (`[CMS-concurrent-mark: …] [Times: …]`, `[GC concurrent-…]`),
//! `[G1Ergonomics …]`, class histograms, and a young collection nested in a
//! CMS remark (`-XX:+CMSScavengeBeforeRemark`, read as an event of its
//! own). Only the sections count; the pause is the event's own final
//! `, N secs]`, never a group's; the heap change is the last `A->B(C)` in
//! the event's own text, outside every group.

use crate::model::{Clock, GcKind};
use crate::scan::{after_last, iso_timestamp, number, size, skip_ws};

use super::super::bracketed;

/// What one event says.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Parsed {
    pub kind: GcKind,
    /// `GC`, `Full GC`, `GC pause (young)`, `GC remark`, `Pause Init Mark`.
    pub name: String,
    pub cause: Option<String>,
    pub pause_ms: f64,
    pub heap: Option<Heap>,
    pub promoted_bytes: Option<u64>,
    /// False for marking pauses (their heap figure still holds garbage).
    pub ends_collection: bool,
    pub collector: Option<&'static str>,
    /// A G1 pause whose heap sizes come on a later `[Eden: … Heap: …]` line.
    pub g1: bool,
    /// Shenandoah backport: this pause starts a cycle (`Pause Init Mark`,
    /// `Pause Full`).
    pub starts_cycle: bool,
}

/// The heap change of an event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Heap {
    /// Used before, used after, capacity after.
    Change(u64, u64, Option<u64>),
    /// CMS marking pauses print the occupancy only: used, capacity.
    Occupancy(u64, u64),
}

/// Reads an assembled event; `None` when it has no final duration (cut,
/// garbled). `nested`: the event was printed inside another one (the
/// young collection of `-XX:+CMSScavengeBeforeRemark`).
pub(super) fn parse(text: &str, nested: bool) -> Option<Parsed> {
    let inner = text.strip_prefix('[')?.strip_suffix(']')?;
    let (segments, groups) = split_groups(inner);
    let last = segments.last().copied().unwrap_or("");
    if let Some(rest) = inner.strip_prefix("Pause ") {
        return shenandoah(rest, &segments, last);
    }
    let is_full = inner.starts_with("Full GC");
    let pause_s = final_secs(last, "secs")?;
    let opener = if is_full { "Full GC" } else { "GC" };
    let head = head(
        segments
            .first()
            .map_or("", |s| &s[opener.len().min(s.len())..]),
    );
    let top: String = segments.join("\u{1}");
    let top_lower = top.to_ascii_lowercase();
    let sections: Vec<(&str, &str)> = groups
        .iter()
        .map(|g| (section_name(g), section_value(g)))
        .collect();
    let has = |name: &str| sections.iter().any(|(n, _)| *n == name);
    let has_old = sections
        .iter()
        .any(|(n, _)| matches!(*n, "ParOldGen" | "PSOldGen" | "Tenured" | "CMS"));
    let young = sections.iter().find(|(n, _)| is_young_generation(n));
    let head_lower = head.to_ascii_lowercase();
    let is_g1 = head_lower.starts_with("pause")
        || head_lower.contains("g1 ")
        || (!is_full && head_lower.starts_with("cleanup"));
    let is_remark =
        has("CMS-remark") || (head_lower.contains("remark") && young.is_none() && !nested);
    let is_initial_mark = has("CMS-initial-mark") || head_lower.contains("initial mark");
    let is_cleanup = head_lower.starts_with("cleanup");
    let kind = if is_full || has_old {
        GcKind::Full
    } else if nested {
        GcKind::Minor
    } else if top_lower.contains("(mixed)") || is_remark || is_cleanup || is_initial_mark {
        GcKind::Major
    } else {
        GcKind::Minor
    };
    let (name, cause) = name_and_cause(is_full, &head, &top_lower);
    let heap = heap_change(&segments);
    let mut ends_collection = !(is_remark || is_initial_mark || is_cleanup);
    if matches!(heap, Some(Heap::Occupancy(..))) {
        ends_collection = false;
    }
    let promoted_bytes = match (kind, young, heap) {
        (GcKind::Minor, Some((_, value)), Some(Heap::Change(hb, ha, _))) => match change(value) {
            Some(Heap::Change(yb, ya, _)) => {
                Some(yb.saturating_sub(ya).saturating_sub(hb.saturating_sub(ha)))
            }
            _ => None,
        },
        _ => None,
    };
    Some(Parsed {
        kind,
        name,
        cause,
        pause_ms: pause_s * 1e3,
        heap,
        promoted_bytes,
        ends_collection,
        collector: infer_collector(&head_lower, &sections),
        g1: is_g1,
        starts_cycle: false,
    })
}

/// The Shenandoah backport of JDK 8: `[Pause Init Mark, 43.460 ms]`,
/// `[Pause Final Update Refs 184G->172G(256G), 3.659 ms]`.
fn shenandoah(rest: &str, segments: &[&str], last: &str) -> Option<Parsed> {
    let pause_ms = final_secs(last, "ms")?;
    const NAMES: [&str; 7] = [
        "Init Mark",
        "Final Mark",
        "Init Update Refs",
        "Final Update Refs",
        "Final Evac",
        "Full",
        "Degenerated GC",
    ];
    let words = rest.split_whitespace().collect::<Vec<_>>().join(" ");
    let phase = NAMES
        .iter()
        .find(|n| words.starts_with(*n))
        .copied()
        .unwrap_or_else(|| {
            let end = rest.find([',', '(', '\n']).unwrap_or(rest.len());
            rest[..end].trim()
        });
    let cause = bracketed(rest.split('\n').next().unwrap_or(""), '(', ')')
        .next()
        .map(str::to_string);
    Some(Parsed {
        kind: if phase == "Full" {
            GcKind::Full
        } else {
            GcKind::Major
        },
        name: format!("Pause {phase}"),
        cause,
        pause_ms,
        heap: heap_change(segments),
        promoted_bytes: None,
        ends_collection: matches!(phase, "Final Update Refs" | "Full" | "Degenerated GC"),
        collector: Some("Shenandoah"),
        g1: false,
        starts_cycle: matches!(phase, "Init Mark" | "Full"),
    })
}

/// The text outside the event's own bracket groups (segment `i` comes
/// before group `i`, the last after every group) and the groups' contents.
/// A `[0x…` heap address range (`[0x…, 0x…)` of `-XX:+PrintHeapAtGC`,
/// `[0x…,0x…]` of G1's remembered-set summary) is no group.
fn split_groups(inner: &str) -> (Vec<&str>, Vec<&str>) {
    let mut segments = Vec::new();
    let mut groups = Vec::new();
    let mut depth = 0usize;
    let mut segment_start = 0;
    let mut group_start = 0;
    let mut address_range_end = None;
    for (i, c) in inner.char_indices() {
        if address_range_end.is_some_and(|end| i <= end) {
            continue;
        }
        match c {
            '[' if inner[i + 1..].starts_with("0x") => {
                address_range_end = super::address_range_close(inner, i);
            }
            '[' => {
                if depth == 0 {
                    segments.push(&inner[segment_start..i]);
                    group_start = i + 1;
                }
                depth += 1;
            }
            ']' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    groups.push(&inner[group_start..i]);
                    segment_start = i + 1;
                }
            }
            _ => {}
        }
    }
    if depth == 0 {
        segments.push(&inner[segment_start..]);
    } else {
        // An unclosed group: what follows its start is its content.
        groups.push(&inner[group_start..]);
        segments.push("");
    }
    (segments, groups)
}

/// The seconds (or milliseconds) of a final `…, 0.0195640 secs`.
fn final_secs(segment: &str, unit: &str) -> Option<f64> {
    let trimmed = segment.trim_end();
    let before = trimmed.strip_suffix(unit)?.trim_end();
    let comma = before.rfind(", ")?;
    let (value, rest) = number(skip_ws(&before[comma + 2..]))?;
    rest.trim().is_empty().then_some(value)
}

/// The event's head: `(Allocation Failure)`, `pause (G1 Evacuation Pause)
/// (young)`, `remark`, up to the first size, group, line break or
/// `-XX:+PrintHeapAtGC` block; `Before GC:` (FLS statistics) dropped.
fn head(first: &str) -> String {
    let first = first.split(['\n', '{']).next().unwrap_or("");
    let first = first.replace("Before GC:", "");
    let first = first.trim_start_matches('-');
    let mut depth = 0usize;
    let mut end = first.len();
    for (i, c) in first.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            c if depth == 0 && c.is_ascii_digit() => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    first[..end].trim().trim_end_matches(',').trim().to_string()
}

/// A group's section name: `PSYoungGen`, `ParNew`, `CMS`, `CMS-remark`,
/// `CMS Perm`, `Metaspace`, `YG occupancy`, `GC` (a nested event).
fn section_name(group: &str) -> &str {
    let text = group.trim_start_matches(|c: char| c.is_ascii_digit() || c == ' ');
    let end = text
        .find(|c: char| !(c.is_ascii_alphabetic() || c == '-' || c == ' '))
        .unwrap_or(text.len());
    let name = text[..end].trim();
    // `[CMSCMS: Large block …` (FLS statistics glued to the section).
    if name.starts_with("CMSCMS") {
        return "CMS";
    }
    name
}

/// A section's value: the text after its name's `:` on the section's last
/// line (`ParNew` with tenuring lines ends `: 830688K->25255K(…), … secs`).
fn section_value(group: &str) -> &str {
    let last = group.rsplit('\n').next().unwrap_or(group);
    match last.find(':') {
        Some(at) => last[at + 1..].trim(),
        None => last.trim(),
    }
}

fn is_young_generation(name: &str) -> bool {
    ["PSYoungGen", "DefNew", "ParNew", "ASParNew"].contains(&name)
}

/// The event's heap change: the last `A->B(C)` in its own text (outside
/// groups), searched from the end; else, for CMS marking pauses, the
/// occupancy `A(C)` just before the pause.
fn heap_change(segments: &[&str]) -> Option<Heap> {
    for segment in segments.iter().rev() {
        if let Some(found) = last_change(segment) {
            return Some(found);
        }
    }
    let last = segments.last()?;
    let before_pause = &last[..last.rfind(", ").unwrap_or(last.len())];
    occupancy(before_pause)
}

/// The last `A->B(C)` (or `A->B`) with units in `text`.
fn last_change(text: &str) -> Option<Heap> {
    let mut end = text.len();
    while let Some(arrow) = text[..end].rfind("->") {
        end = arrow;
        if let Some(found) = change(&text[size_start(&text[..arrow])..]) {
            return Some(found);
        }
    }
    None
}

/// `A->B(C)` at the start of `text`.
fn change(text: &str) -> Option<Heap> {
    let (before, rest) = size(text)?;
    let (after, rest) = size(rest.strip_prefix("->")?)?;
    let total = rest.strip_prefix('(').and_then(|r| size(r)).map(|(t, _)| t);
    Some(Heap::Change(before, after, total))
}

/// A CMS mark's `10887844K(12514816K)` ending `text`.
fn occupancy(text: &str) -> Option<Heap> {
    let text = text.trim_end();
    let inner = text.strip_suffix(')')?;
    let open = inner.rfind('(')?;
    let (total, rest) = size(&inner[open + 1..])?;
    if !rest.is_empty() {
        return None;
    }
    let used_text = &inner[..open];
    let (used, rest) = size(&used_text[size_start(used_text)..])?;
    rest.is_empty().then_some(Heap::Occupancy(used, total))
}

/// Where the size that ends `text` starts.
fn size_start(text: &str) -> usize {
    after_last(text, |c| {
        !(c.is_ascii_digit() || c == '.' || c == ',' || "BKMGT".contains(c))
    })
}

/// `GC`, `Full GC`, or G1's `GC pause (young)`, `GC remark`, `GC cleanup`;
/// the cause is the first parenthesised group of the head that is not a
/// G1 type.
fn name_and_cause(is_full: bool, head: &str, top_lower: &str) -> (String, Option<String>) {
    let groups: Vec<&str> = bracketed(head, '(', ')').map(str::trim).collect();
    let word = head.split(['(', ' ']).next().unwrap_or("");
    let mut name = if is_full { "Full GC" } else { "GC" }.to_string();
    if !word.is_empty() {
        name = format!("{name} {word}");
    }
    if word == "pause" {
        for g1_type in ["young", "mixed"] {
            if top_lower.contains(&format!("({g1_type})")) {
                name = format!("{name} ({g1_type})");
                break;
            }
        }
    }
    let cause = groups
        .into_iter()
        .find(|g| {
            !matches!(
                *g,
                "young" | "mixed" | "initial-mark" | "to-space exhausted"
            )
        })
        .map(str::to_string);
    (name, cause)
}

fn infer_collector(head: &str, sections: &[(&str, &str)]) -> Option<&'static str> {
    if head.starts_with("pause") || head.contains("g1 ") {
        return Some("G1");
    }
    for (name, _) in sections {
        match *name {
            "PSYoungGen" | "ParOldGen" | "PSOldGen" => return Some("Parallel"),
            "DefNew" | "Tenured" => return Some("Serial"),
            "ParNew" | "CMS" | "CMS-remark" | "CMS-initial-mark" => return Some("CMS"),
            _ => {}
        }
    }
    head.contains("cms").then_some("CMS")
}

/// `2015-05-26T14:45:37.987-0200: 151.126: ` (and `#3: ` of
/// `-XX:+PrintGCID`) before an event → the uptime (preferred) or the date
/// stamp. Text before them (application output) is ignored.
pub(super) fn prefix_time(prefix: &str) -> Option<(f64, Clock)> {
    let mut prefix = prefix.trim_end();
    // `#12:` of -XX:+PrintGCID.
    if let Some(id_start) = prefix.strip_suffix(':').and_then(|p| p.rfind('#'))
        && prefix[id_start + 1..prefix.len() - 1]
            .bytes()
            .all(|b| b.is_ascii_digit())
    {
        prefix = prefix[..id_start].trim_end();
    }
    let prefix = prefix.strip_suffix(':')?;
    let last = prefix.rsplit([' ', ']', '\n']).next().unwrap_or(prefix);
    if let Some((t, rest)) = number(last)
        && rest.is_empty()
    {
        return Some((t, Clock::Uptime));
    }
    // Only a date stamp: find where it starts.
    let at = after_last(prefix, |c| {
        !(c.is_ascii_alphanumeric() || "-:.+".contains(c))
    });
    let stamp = prefix.get(at..).unwrap_or(prefix);
    iso_timestamp(stamp)
        .filter(|(_, rest)| rest.is_empty())
        .map(|(t, _)| (t, Clock::Wall))
}

/// What G1's heap line says: the heap before, after and total, and the
/// young generation (eden and survivors) before and after.
pub(super) struct G1Heap {
    pub heap: (u64, u64, u64),
    pub young: Option<(u64, u64)>,
}

/// `[Eden: 24.0M(24.0M)->0.0B(13.0M) Survivors: 0.0B->3072.0K Heap:
/// 24.0M(256.0M)->21.8M(256.0M)]`.
pub(super) fn g1_heap_line(line: &str) -> Option<G1Heap> {
    let heap = skip_ws(&line[line.find("Heap:")? + 5..]);
    let (before, rest) = size(heap)?;
    let rest = rest.strip_prefix('(')?.split_once(")->")?.1;
    let (after, rest) = size(rest)?;
    let (total, _) = size(rest.strip_prefix('(')?)?;
    let young = || -> Option<(u64, u64)> {
        let eden = skip_ws(&line[line.find("Eden:")? + 5..]);
        let (eden_before, rest) = size(eden)?;
        let rest = rest.strip_prefix('(')?.split_once(")->")?.1;
        let (eden_after, _) = size(rest)?;
        let survivors = skip_ws(&line[line.find("Survivors:")? + 10..]);
        let (surv_before, rest) = size(survivors)?;
        let (surv_after, _) = size(rest.strip_prefix("->")?)?;
        Some((eden_before + surv_before, eden_after + surv_after))
    };
    Some(G1Heap {
        heap: (before, after, total),
        young: young(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: u64 = 1024;

    #[test]
    fn the_pause_is_the_events_own_never_a_groups() {
        let parsed = parse(
            "[GC (Allocation Failure)2013-10-12T23:05:32.860+0200: 0.198: [SoftReference, 0 refs, 0.0001036 secs]AdaptiveSizeStop: collection: 1 \n [PSYoungGen: 16865K->2545K(19456K)] 16865K->16127K(62976K), 0.0134562 secs]",
            false,
        )
        .unwrap();
        assert!((parsed.pause_ms - 13.4562).abs() < 1e-9);
        assert_eq!(parsed.kind, GcKind::Minor);
        assert_eq!(parsed.cause.as_deref(), Some("Allocation Failure"));
        assert_eq!(
            parsed.heap,
            Some(Heap::Change(16865 * K, 16127 * K, Some(62976 * K)))
        );
        // A reference phase's `, N secs]` alone is no pause.
        assert!(
            parse(
                "[GC (Allocation Failure) [SoftReference, 0 refs, 0.0001 secs]]",
                false
            )
            .is_none()
        );
    }

    #[test]
    fn concurrent_mode_failure_with_a_concurrent_phase_inside_is_full() {
        let parsed = parse(
            "[GC2017-02-15T16:22:05.397+0900: 1223922.228: [ParNew (promotion failed)\nDesired survivor size 8716288 bytes, new threshold 1 (max 15)\n- age   1:   17432496 bytes,   17432496 total\n: 153344K->153344K(153344K), 0.2049130 secs]2017-02-15T16:22:05.602+0900: 1223922.433: [CMS2017-02-15T16:22:06.001+0900: 1223922.832: [CMS-concurrent-mark: 3.589/4.431 secs] [Times: user=6.13 sys=0.89, real=4.43 secs]\n (concurrent mode failure): 3153818K->3162514K(3237504K), 9.4035460 secs] 3282444K->3162514K(3390848K), [CMS Perm : 113749K->113741K(189584K)], 9.6086750 secs]",
            false,
        )
        .unwrap();
        assert_eq!(parsed.kind, GcKind::Full);
        assert!((parsed.pause_ms - 9608.675).abs() < 1e-9);
        assert_eq!(
            parsed.heap,
            Some(Heap::Change(3282444 * K, 3162514 * K, Some(3390848 * K)))
        );
        assert_eq!(parsed.collector, Some("CMS"));
    }

    #[test]
    fn decimal_commas_and_g1_details() {
        let parsed = parse(
            "[GC pause (G1 Evacuation Pause) (young)\nDesired survivor size 8912896 bytes, new threshold 15 (max 15)\n- age   1:     481952 bytes,     481952 total\n 16578,506: [G1Ergonomics (CSet Construction) start choosing CSet, _pending_cards: 1887, predicted base time: 16,71 ms]\n, 0,0282200 secs]",
            false,
        )
        .unwrap();
        assert!((parsed.pause_ms - 28.22).abs() < 1e-9);
        assert_eq!(
            (&*parsed.name, parsed.kind),
            ("GC pause (young)", GcKind::Minor)
        );
        assert_eq!(parsed.cause.as_deref(), Some("G1 Evacuation Pause"));
        assert!(parsed.g1 && parsed.heap.is_none());
    }

    #[test]
    fn cms_marks_and_shenandoah() {
        let remark = parse(
            "[GC (CMS Final Remark) [YG occupancy: 237181 K (471872 K)]61.014: [Rescan (parallel) , 0.0335675 secs]61.047: [weak refs processing, 0.0011687 secs][1 CMS-remark: 1137616K(1572864K)] 1374798K(2044736K), 0.0351204 secs]",
            false,
        )
        .unwrap();
        assert_eq!(remark.kind, GcKind::Major);
        assert!((remark.pause_ms - 35.1204).abs() < 1e-9);
        assert_eq!(remark.heap, Some(Heap::Occupancy(1374798 * K, 2044736 * K)));
        assert!(!remark.ends_collection);
        let nested = parse(
            "[GC (CMS Final Remark)  890910K->620060K(7992832K), 0.1223879 secs]",
            true,
        )
        .unwrap();
        assert_eq!(nested.kind, GcKind::Minor);
        let final_mark = parse(
            "[Pause Final MarkTotal Garbage: 44620M\nImmediate Garbage: 3296M, 103 regions (20% of total)\n 184G->181G(256G), 4.730 ms]",
            false,
        )
        .unwrap();
        assert_eq!(
            (&*final_mark.name, final_mark.pause_ms),
            ("Pause Final Mark", 4.73)
        );
        assert!(!final_mark.starts_cycle && !final_mark.ends_collection);
        let init = parse("[Pause Init Mark (process weakrefs), 3.341 ms]", false).unwrap();
        assert!(init.starts_cycle);
        assert_eq!(init.cause.as_deref(), Some("process weakrefs"));
    }

    #[test]
    fn prefix_times() {
        assert_eq!(
            prefix_time("2022-08-01T17:16:33.170+0000: 0.169: #0: "),
            Some((0.169, Clock::Uptime))
        );
        assert_eq!(prefix_time("16578,506: "), Some((16578.506, Clock::Uptime)));
        let (t, clock) = prefix_time("2017-02-28T11:26:24.135+0100: ").unwrap();
        assert_eq!((t, clock), (1_488_277_584.135, Clock::Wall));
        assert_eq!(prefix_time("no time "), None);
    }
}
