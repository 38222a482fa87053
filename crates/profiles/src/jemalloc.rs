//! jemalloc's `heap_v2` dumps (`MALLOC_CONF=prof:true`, written every
//! `lg_prof_interval`, at exit with `prof_final`, or on `prof.dump`).
//!
//! ```text
//! heap_v2/524288                          one sample per 2^19 bytes, on average
//!   t*: 28106: 56637512 [0: 0]            the whole heap (then per thread)
//!   t0: 28106: 56637512 [0: 0]
//! @ 0x7f4e44ea2630 0x7f4e44ea2d21 ...     a stack, innermost first
//!   t*: 13: 6688 [0: 0]                   live objects: bytes [allocated objects: bytes]
//!   t0: 13: 6688 [0: 0]
//!
//! MAPPED_LIBRARIES:
//! 55d1b2c4d000-55d1b2c4e000 r--p 00000000 fe:00 10043953   /usr/bin/prog
//! ```
//!
//! The values are not scaled in the file. jeprof scales each stack's pair
//! the way its `AdjustSamples` does for heap_v2 — by 1/(1 − e^(−mean
//! size / R)) — and jemalloc (5.3) writes values chosen so that this gives
//! its own per-allocation unbiased sums (doc_internal/PROFILING_INTERNALS.md,
//! "Implementation realities"); heapwise scales them the same way.

use rustc_hash::FxHashMap;

use crate::error::ProfileError;
use crate::model::{Format, Frame, HeapProfile, StackSample, sampling_variance};

/// The first line's prefix.
pub const MAGIC: &str = "heap_v2/";

/// jeprof's `AdjustSamples` for heap_v2: (objects, bytes) scaled by
/// 1/(1 − e^(−(bytes/objects)/rate)).
pub fn adjust(objects: u64, bytes: u64, rate: u64) -> (f64, f64) {
    let (n, s) = (objects as f64, bytes as f64);
    if objects == 0 || rate == 0 {
        return (n, s);
    }
    let ratio = (s / n) / rate as f64;
    let scale = 1.0 / -(-ratio).exp_m1();
    (n * scale, s * scale)
}

struct Mapping {
    start: u64,
    end: u64,
    offset: u64,
    name: String,
}

/// One `t*:` (or `tN:`) line: (live objects, live bytes, allocated
/// objects, allocated bytes).
type Counts = (u64, u64, u64, u64);

fn counts(text: &str) -> Option<Counts> {
    // "t*: 13: 6688 [0: 0]"
    let (_, rest) = text.split_once(':')?;
    let (live, rest) = rest.split_once('[')?;
    let alloc = rest.strip_suffix(']')?;
    let pair = |s: &str| -> Option<(u64, u64)> {
        let (n, b) = s.split_once(':')?;
        Some((n.trim().parse().ok()?, b.trim().parse().ok()?))
    };
    let (n1, s1) = pair(live)?;
    let (n2, s2) = pair(alloc)?;
    Some((n1, s1, n2, s2))
}

fn hex(text: &str) -> Option<u64> {
    u64::from_str_radix(text.strip_prefix("0x").unwrap_or(text), 16).ok()
}

/// Reads a dump.
pub fn read(bytes: &[u8]) -> Result<HeapProfile, ProfileError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ProfileError::Foreign)?;
    let mut lines = text.split('\n');
    let header = lines.next().unwrap_or_default();
    let rate: u64 = header
        .strip_prefix(MAGIC)
        .and_then(|r| r.trim().parse().ok())
        .ok_or(ProfileError::Foreign)?;
    let bad = |line: usize, text: &str| ProfileError::JemallocLine {
        line,
        text: text.chars().take(80).collect(),
    };

    // Each stack's addresses and its `t*:` counts.
    let mut raw: Vec<(Vec<u64>, Option<Counts>)> = Vec::new();
    let mut totals = None;
    let mut maps_at = None;
    let mut number = 1;
    for line in lines.by_ref() {
        number += 1;
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if trimmed == "MAPPED_LIBRARIES:" {
            maps_at = Some(number);
            break;
        }
        if let Some(stack) = trimmed.strip_prefix('@') {
            if let Some((_, None)) = raw.last() {
                return Err(bad(number, trimmed));
            }
            let addresses: Option<Vec<u64>> = stack.split_whitespace().map(hex).collect();
            raw.push((addresses.ok_or_else(|| bad(number, trimmed))?, None));
        } else if trimmed.starts_with('t') {
            let values = counts(trimmed).ok_or_else(|| bad(number, trimmed))?;
            if trimmed.starts_with("t*:") {
                match raw.last_mut() {
                    Some((_, slot @ None)) => *slot = Some(values),
                    Some(_) => return Err(bad(number, trimmed)),
                    None => totals = Some(values),
                }
            }
        } else {
            return Err(bad(number, trimmed));
        }
    }
    let Some(_) = maps_at else {
        return Err(ProfileError::JemallocTruncated(number));
    };
    if totals.is_none() || raw.iter().any(|(_, v)| v.is_none()) {
        return Err(ProfileError::JemallocTruncated(number));
    }
    // /proc/self/maps, as it was: ends with a newline.
    if !text.ends_with('\n') {
        return Err(ProfileError::JemallocTruncated(text.split('\n').count()));
    }
    let mut mappings = Vec::new();
    for line in lines {
        number += 1;
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split_whitespace();
        let range = fields.next().unwrap_or_default();
        let _perms = fields.next();
        let offset = fields.next().and_then(hex);
        let (_dev, _inode) = (fields.next(), fields.next());
        let path: Vec<&str> = fields.collect();
        let parsed = range
            .split_once('-')
            .and_then(|(a, b)| Some((hex(a)?, hex(b)?)));
        let (Some((start, end)), Some(offset)) = (parsed, offset) else {
            return Err(bad(number, line));
        };
        let path = path.join(" ");
        if !path.is_empty() && !path.starts_with('[') {
            mappings.push(Mapping {
                start,
                end,
                offset,
                name: heapwise_words::file_name(&path).to_owned(),
            });
        }
    }
    mappings.sort_by_key(|m| m.start);

    let mut by_key: FxHashMap<String, usize> = FxHashMap::default();
    let mut stacks: Vec<StackSample> = Vec::new();
    let mut sums: Vec<(f64, f64, f64, f64)> = Vec::new();
    for (addresses, values) in raw {
        let (n1, s1, n2, s2) = values.expect("checked above");
        let frames = frames(&addresses, &mappings);
        let (live_objects, live_bytes) = adjust(n1, s1, rate);
        let (allocated_objects, allocated_bytes) = adjust(n2, s2, rate);
        let key = crate::stack_key(&frames);
        let i = *by_key.entry(key.clone()).or_insert_with(|| {
            stacks.push(StackSample::empty(key, frames));
            sums.push((0.0, 0.0, 0.0, 0.0));
            stacks.len() - 1
        });
        stacks[i].live_variance += sampling_variance(live_bytes, live_objects, Some(rate));
        let sum = &mut sums[i];
        sum.0 += live_objects;
        sum.1 += live_bytes;
        sum.2 += allocated_objects;
        sum.3 += allocated_bytes;
    }
    for (stack, sum) in stacks.iter_mut().zip(sums) {
        stack.live_objects = sum.0.round() as u64;
        stack.live_bytes = sum.1.round() as u64;
        stack.allocated_objects = sum.2.round() as u64;
        stack.allocated_bytes = sum.3.round() as u64;
    }
    crate::sort_stacks(&mut stacks);
    Ok(HeapProfile {
        format: Format::Jemalloc,
        time_unix_ns: None,
        sampling_rate_bytes: (rate > 1).then_some(rate),
        stacks,
    })
}

/// The stack's frames, without the allocator's own (the innermost frames
/// in libjemalloc: its backtrace, `malloc` and what it calls).
fn frames(addresses: &[u64], mappings: &[Mapping]) -> Vec<Frame> {
    let module = |address: u64| {
        let i = mappings.partition_point(|m| m.start <= address);
        i.checked_sub(1)
            .map(|i| &mappings[i])
            .filter(|m| address < m.end)
    };
    let mut frames: Vec<Frame> = addresses
        .iter()
        .map(|&address| {
            let mapping = module(address);
            Frame {
                address: Some(format!("{address:#x}")),
                function: None,
                file: None,
                line: None,
                module: mapping.map(|m| m.name.clone()),
                offset: mapping.map(|m| format!("{:#x}", address - m.start + m.offset)),
                inlined: false,
            }
        })
        .collect();
    let allocator = frames
        .iter()
        .take_while(|f| {
            f.module
                .as_deref()
                .is_some_and(|m| m.starts_with("libjemalloc"))
        })
        .count();
    if allocator < frames.len() {
        frames.drain(..allocator);
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "heap_v2/524288
  t*: 3: 3072 [0: 0]
  t0: 3: 3072 [0: 0]
@ 0x7f0000001000 0x555500001010 0x555500001100
  t*: 2: 2048 [0: 0]
  t0: 2: 2048 [0: 0]
@ 0x7f0000001000 0x555500001020
  t*: 1: 1024 [4: 4096]
  t0: 1: 1024 [4: 4096]

MAPPED_LIBRARIES:
555500000000-555500002000 r-xp 00001000 fe:00 1 /usr/bin/prog
7f0000000000-7f0000002000 r-xp 00000000 fe:00 2 /usr/lib/x86_64-linux-gnu/libjemalloc.so.2
7ffe2fc9d000-7ffe2fcbe000 rw-p 00000000 00:00 0                          [stack]
";

    #[test]
    fn values_are_scaled_as_jeprof_scales_them() {
        let profile = read(DUMP.as_bytes()).unwrap();
        assert_eq!(profile.format, Format::Jemalloc);
        assert_eq!(profile.sampling_rate_bytes, Some(524_288));
        // 1 KiB objects at R = 512 KiB: each stands for 1/(1 − e^(−1/512)).
        let scale = 1.0 / -(-1024.0f64 / 524_288.0).exp_m1();
        let first = &profile.stacks[0];
        assert_eq!(first.live_bytes, (2048.0 * scale).round() as u64);
        assert_eq!(first.live_objects, (2.0 * scale).round() as u64);
        let second = &profile.stacks[1];
        assert_eq!(second.allocated_bytes, (4096.0 * scale).round() as u64);
        // The allocator's frame is dropped; the others are placed in
        // their binary.
        assert_eq!(first.frames.len(), 2);
        assert_eq!(first.frames[0].module.as_deref(), Some("prog"));
        assert_eq!(first.frames[0].offset.as_deref(), Some("0x2010"));
        assert_eq!(first.key, "prog+0x2010\nprog+0x2100");
    }

    #[test]
    fn bad_lines_are_named() {
        let damaged = DUMP.replace("  t*: 2: 2048 [0: 0]", "  t*: 2: 2048 [0 0]");
        let err = read(damaged.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("line 5"), "{err}");
        let missing = DUMP.replace("  t*: 2: 2048 [0: 0]\n", "");
        assert!(read(missing.as_bytes()).is_err());
    }
}
