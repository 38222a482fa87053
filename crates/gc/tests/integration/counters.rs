//! Independent counts of the corpus logs: deliberately simple scanners
//! written apart from the parsers (no code shared), each counting a
//! format's events by its own terminal markers. They say how many
//! collections and pauses a log holds and how long they are; the corpus
//! test checks the parsers against them.

/// What a counter finds in a log.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Tally {
    pub collections: u64,
    pub pauses: u64,
    pub max_pause_ms: f64,
    pub total_pause_ms: f64,
    /// Events the counter saw begin but could not read (cut, garbled).
    pub unreadable: u64,
}

impl Tally {
    fn pause(&mut self, ms: f64) {
        self.pauses += 1;
        self.total_pause_ms += ms;
        if ms > self.max_pause_ms {
            self.max_pause_ms = ms;
        }
    }
}

/// A decimal number written with a point or a comma.
fn decimal(text: &str) -> Option<f64> {
    text.trim().replace(',', ".").parse().ok()
}

/// JDK 8 `-XX:+PrintGCDetails`: every `[GC…`, `[Full GC…` or (Shenandoah
/// backport) `[Pause …` bracket, at any depth, whose matching `]` is
/// preceded by `, N secs` (`, N ms` for `[Pause`) is one pause event. The
/// text is walked byte by byte with a stack of open brackets; a `[0x…`
/// heap address range, up to its `)` or `]`, opens nothing. Collections: every `[GC` and
/// `[Full GC` event, and each Shenandoah `Pause Init Mark` / `Pause Full`.
pub fn jdk8(text: &str) -> Tally {
    let mut tally = Tally::default();
    // (where the bracket's text starts, what it opens)
    let mut stack: Vec<(usize, Opens)> = Vec::new();
    let bytes = text.as_bytes();
    let mut skip_to = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if i < skip_to {
            continue;
        }
        if (i == 0 || bytes[i - 1] == b'\n') && histogram_row(&text[i..]) {
            // A class histogram's row names a class, maybe `[C` or
            // `[Ljava.lang.String;`: no bracket there.
            skip_to = i + text[i..].find('\n').unwrap_or(text.len() - i);
            continue;
        }
        if b == b'[' {
            let after = &text[i + 1..];
            if after.starts_with("0x") {
                // An address range: `[0x…, 0x…)` or `[0x…,0x…]`, on one line.
                let line_end = after.find('\n').unwrap_or(after.len());
                if let Some(close) = after[..line_end].find([')', ']']) {
                    skip_to = i + 1 + close + 1;
                }
                continue;
            }
            stack.push((i + 1, opens(after)));
        } else if b == b']' {
            let Some((start, what)) = stack.pop() else {
                continue;
            };
            if what == Opens::Other {
                continue;
            }
            let body = text[start..i].trim_end();
            let unit = if what == Opens::Shenandoah {
                "ms"
            } else {
                "secs"
            };
            let value = body
                .strip_suffix(unit)
                .and_then(|b| b.rfind(", ").map(|at| &b[at + 2..]))
                .and_then(decimal);
            match value {
                Some(value) => {
                    let ms = if what == Opens::Shenandoah {
                        value
                    } else {
                        value * 1000.0
                    };
                    tally.pause(ms);
                    let cycle_start =
                        body.starts_with("Pause Init Mark") || body.starts_with("Pause Full");
                    if what == Opens::Collection || cycle_start {
                        tally.collections += 1;
                    }
                }
                None => tally.unreadable += 1,
            }
        }
    }
    tally.unreadable += stack.iter().filter(|(_, w)| *w != Opens::Other).count() as u64;
    tally
}

/// `  12:    626801    56922584  [Ljava.util.HashMap$Entry;`: a rank, a
/// colon, two counts and a class name.
fn histogram_row(rest: &str) -> bool {
    let line = rest.split('\n').next().unwrap_or("");
    let words: Vec<&str> = line.split_whitespace().collect();
    words.len() >= 4
        && words[0].len() > 1
        && words[0].ends_with(':')
        && words[..3].iter().enumerate().all(|(n, w)| {
            w.trim_end_matches(if n == 0 { ":" } else { "" })
                .parse::<u64>()
                .is_ok()
        })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Opens {
    Collection,
    Shenandoah,
    Other,
}

/// What the text after a `[` opens.
fn opens(after: &str) -> Opens {
    const NOT_EVENTS: [&str; 4] = ["GC concurrent", "GC Worker", "GC ref-proc", "GC Lock"];
    if NOT_EVENTS.iter().any(|n| after.starts_with(n)) {
        return Opens::Other;
    }
    if let Some(rest) = after.strip_prefix("Pause ") {
        return if rest.chars().next().is_some_and(|c| c.is_ascii_uppercase()) {
            Opens::Shenandoah
        } else {
            Opens::Other
        };
    }
    let rest = after
        .strip_prefix("Full GC")
        .or_else(|| after.strip_prefix("GC"));
    match rest.and_then(|r| r.chars().next()) {
        Some(' ' | '(' | '[' | '-' | '0'..='9') => Opens::Collection,
        Some('B') if rest.is_some_and(|r| r.starts_with("Before")) => Opens::Collection,
        // JDK 1.4's adaptive size policy glued to the bracket.
        Some('A') if rest.is_some_and(|r| r.starts_with("AdaptiveSize")) => Opens::Collection,
        _ => Opens::Other,
    }
}

/// JVM unified logging: a line with `GC(N) Pause …` ending in a duration
/// is a pause. A collection is a distinct `N` of a line that is a pause, a
/// collection summary (`Garbage Collection`, `Minor Collection`, `Major
/// Collection`, `Concurrent cleanup` with sizes) or a concurrent cycle's
/// end with its duration. `Using …` after GC lines, or an uptime that goes
/// back, starts a new JVM whose ids are counted apart.
pub fn unified(text: &str) -> Tally {
    let mut tally = Tally::default();
    let mut ids = std::collections::BTreeSet::new();
    let mut run = 0u32;
    let mut seen_gc = false;
    let mut last_uptime: Option<f64> = None;
    for line in text.lines() {
        let uptime = line
            .strip_prefix('[')
            .and_then(|l| l.split(']').next())
            .and_then(|first| first.strip_suffix('s'))
            .filter(|t| !t.ends_with('m') && !t.ends_with('n'))
            .and_then(decimal);
        if let (Some(t), Some(last)) = (uptime, last_uptime)
            && t < last - 1.0
            && seen_gc
        {
            run += 1;
            seen_gc = false;
        }
        if uptime.is_some() {
            last_uptime = uptime;
        }
        if line.contains("] Using ") && !line.contains("GC(") && seen_gc {
            run += 1;
            seen_gc = false;
        }
        let Some(at) = line.find("GC(") else {
            continue;
        };
        let Some(close) = line[at..].find(')') else {
            continue;
        };
        let Ok(id) = line[at + 3..at + close].parse::<u64>() else {
            continue;
        };
        let message = line[at + close + 1..].trim();
        // Generational ZGC: `Y:`/`O:` in a major collection, `y:` in a minor one.
        let message = ["Y: ", "O: ", "y: ", "o: "]
            .iter()
            .find_map(|p| message.strip_prefix(p))
            .unwrap_or(message);
        let last = message.rsplit(' ').next().unwrap_or("");
        let duration = duration_ms(last);
        let has_sizes = message.contains("->");
        let is_pause = message.starts_with("Pause ") && duration.is_some();
        let is_summary = (message.starts_with("Garbage Collection")
            || message.starts_with("Minor Collection")
            || message.starts_with("Major Collection")
            || message.starts_with("Concurrent cleanup"))
            && has_sizes;
        let is_cycle_end = (message.starts_with("Concurrent Mark Cycle")
            || message.starts_with("Concurrent Undo Cycle"))
            && duration.is_some();
        if is_pause && let Some(ms) = duration {
            tally.pause(ms);
        }
        if is_pause || is_summary || is_cycle_end {
            seen_gc = true;
            ids.insert((run, id));
        }
    }
    tally.collections = ids.len() as u64;
    tally
}

/// `1.234ms`, `0,021s`, `15us`, `1200ns` in milliseconds.
fn duration_ms(token: &str) -> Option<f64> {
    for (unit, scale) in [("ms", 1.0), ("us", 1e-3), ("ns", 1e-6), ("s", 1e3)] {
        if let Some(value) = token.strip_suffix(unit)
            && let Some(value) = decimal(value)
        {
            return Some(value * scale);
        }
    }
    None
}

/// Node `--trace-gc`: every `N ms: ` followed by a collection's name
/// (`Scavenge`, `Minor Mark-Sweep`, `Minor Mark-Compact`, `Mark-sweep`,
/// `Mark-Compact`) whose sizes end in ` MB, ` is an event, its pause the
/// number after that (after a `pooled: P MB, `), ended by ` / ` or ` ms`.
/// Several events on one line (V8 glued two) count apart.
pub fn node(text: &str) -> Tally {
    const NAMES: [&str; 5] = [
        "Scavenge",
        "Minor Mark-Sweep",
        "Minor Mark-Compact",
        "Mark-sweep",
        "Mark-Compact",
    ];
    let mut tally = Tally::default();
    for line in text.lines() {
        for piece in line.split(" ms: ").skip(1) {
            if !NAMES.iter().any(|n| piece.starts_with(n)) {
                continue;
            }
            let Some(at) = piece.find(" MB, ") else {
                tally.unreadable += 1;
                continue;
            };
            let mut rest = &piece[at + 5..];
            if let Some(pooled) = rest.strip_prefix("pooled: ") {
                rest = match pooled.find(" MB, ") {
                    Some(end) => &pooled[end + 5..],
                    None => "",
                };
            }
            let end = rest.find([' ', '/']).unwrap_or(rest.len());
            let terminated = rest[end..].starts_with(" / ") || rest[end..].starts_with(" ms");
            match decimal(&rest[..end]) {
                Some(ms) if terminated => {
                    tally.pause(ms);
                    tally.collections += 1;
                }
                _ => tally.unreadable += 1,
            }
        }
    }
    tally
}

/// Node `--trace-gc-nvp`: `pause=P … gc=s|mms|mmc|mc|ms` pairs.
pub fn node_nvp(text: &str) -> Tally {
    let mut tally = Tally::default();
    for line in text.lines() {
        if !line.contains(" ms: pause=") {
            continue;
        }
        let value = |key: &str| {
            line.split(' ')
                .find_map(|pair| pair.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        };
        match (value("pause").and_then(decimal), value("gc")) {
            (Some(pause), Some("s" | "mms" | "mmc" | "mc" | "ms")) => {
                tally.pause(pause);
                tally.collections += 1;
            }
            (_, Some(_)) => {}
            _ => tally.unreadable += 1,
        }
    }
    tally
}

/// Go `gctrace`: each `gc N @` line; the pause is the first plus the last
/// of the wall-clock phases before ` ms clock`.
pub fn go(text: &str) -> Tally {
    let mut tally = Tally::default();
    for line in text.lines() {
        let Some(at) = line.find("gc ") else { continue };
        let rest = &line[at + 3..];
        let number_end = rest.find(' ').unwrap_or(rest.len());
        if rest[..number_end].parse::<u64>().is_err() || !rest[number_end..].starts_with(" @") {
            continue;
        }
        let clock = rest
            .split_once("%: ")
            .and_then(|(_, r)| r.split_once(" ms clock"))
            .map(|(c, _)| c);
        let phases: Option<Vec<f64>> =
            clock.and_then(|c| c.split('+').map(decimal).collect::<Option<_>>());
        let end = line.trim_end();
        let complete = end.ends_with(" P") || end.ends_with(" P (forced)");
        match phases {
            Some(p) if p.len() >= 3 && complete => {
                tally.pause(p[0] + p[p.len() - 1]);
                tally.collections += 1;
            }
            _ => tally.unreadable += 1,
        }
    }
    tally
}
