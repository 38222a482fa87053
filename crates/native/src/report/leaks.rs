//! The leaks section: the blocks still allocated at the end, one group per
//! call stack — and per leak kind once the process was scanned at exit —
//! each told apart as the program's own, the runtime's by design, or
//! suppressed.

use rustc_hash::FxHashMap;

use heapwise_trace::StackId;

use crate::model::{Amount, Leak, LeakKind, ReachabilityTotals, UsedSuppression};
use crate::suppress::SuppressionList;
use crate::verdict::Held;
use crate::{Analysis, Resolver, runtime};

/// The program's and the runtime's blocks still allocated at the end.
pub(crate) struct Leaks {
    /// The listed leak groups, largest first.
    pub listed: Vec<Leak>,
    /// What the program's own stacks hold (listed or not, not suppressed).
    pub own: Held,
    /// Of that, what the scan found lost, by kind (definitely, indirectly,
    /// possibly); `None` when the process was not scanned.
    pub own_lost: Option<[Held; 3]>,
    /// What the runtime holds by design (listed or not).
    pub runtime: Held,
    /// What suppressions matched (the runtime's excepted).
    pub suppressed: Held,
    /// Every block still allocated, by kind (scanned traces only).
    pub totals: Option<ReachabilityTotals>,
    /// Which suppressions matched, most first.
    pub used: Vec<UsedSuppression>,
}

/// One leak group before it is listed.
struct Group {
    stack: StackId,
    kind: Option<LeakKind>,
    held: Amount,
}

/// Every leaking stack is resolved, listed or not: the verdict needs to
/// know which of them the runtime holds by design and which are
/// suppressed. `leaking` comes from [`Analysis::leaking_stacks`]; at most
/// `max_listed` groups are listed (0: all), lost ones first.
pub(crate) fn section(
    analysis: &Analysis,
    leaking: &[StackId],
    (max_listed, framed_per_kind): (usize, usize),
    resolver: &Resolver<'_>,
    suppressions: Option<&SuppressionList>,
) -> Leaks {
    let (groups, totals) = groups(analysis, leaking);
    let mut out = Leaks {
        listed: Vec::new(),
        own: Held::default(),
        own_lost: totals.map(|_| [Held::default(); 3]),
        runtime: Held::default(),
        suppressed: Held::default(),
        totals,
        used: Vec::new(),
    };
    let mut used: FxHashMap<usize, UsedSuppression> = FxHashMap::default();
    // A stack's frames are resolved once, and cloned only for a stack
    // with several groups (one per kind) but its last: most stacks have
    // one group, and a C++ compiler's 23,000 groups of deep stacks spent
    // most of the section copying strings.
    let mut groups_left: FxHashMap<StackId, u32> = FxHashMap::default();
    for group in &groups {
        *groups_left.entry(group.stack).or_default() += 1;
    }
    let mut frames_of: FxHashMap<StackId, Vec<std::sync::Arc<crate::model::Frame>>> =
        FxHashMap::default();
    let mut all: Vec<Leak> = Vec::with_capacity(groups.len());
    // When only some groups will be listed, a group's frames are dropped
    // once it is classified, and only the listed groups' are resolved
    // again at the end: the report holds 1,000 stacks' frames, not 23,000.
    let lazy = max_listed != 0 && groups.len() > max_listed || framed_per_kind != 0;
    let mut stack_of: Vec<StackId> = Vec::with_capacity(groups.len());
    for group in groups {
        let left = groups_left.get_mut(&group.stack).map_or(0, |left| {
            *left -= 1;
            *left
        });
        let frames = match (left, frames_of.remove(&group.stack)) {
            (0, Some(frames)) => frames,
            (0, None) => resolver.frames(group.stack),
            (_, cached) => {
                let frames = cached.unwrap_or_else(|| resolver.frames(group.stack));
                frames_of.insert(group.stack, frames.clone());
                frames
            }
        };
        let note = runtime::note(&frames);
        let matched = match (note, suppressions) {
            (None, Some(list)) => list.matching(&frames, group.kind),
            _ => None,
        };
        let held = Held {
            bytes: group.held.bytes,
            allocations: group.held.blocks,
        };
        if note.is_some() {
            out.runtime.add(held);
        } else if let Some(index) = matched {
            out.suppressed.add(held);
            let list = suppressions.map_or(&[][..], |l| &l.entries);
            let entry = used.entry(index).or_insert_with(|| UsedSuppression {
                name: list[index].name.clone(),
                groups: 0,
                suppressed: Amount::default(),
            });
            entry.groups += 1;
            entry.suppressed.add(held.bytes, held.allocations);
        } else {
            out.own.add(held);
            if let (Some(lost), Some(kind)) = (&mut out.own_lost, group.kind)
                && kind.is_lost()
            {
                lost[kind as usize].add(held);
            }
        }
        stack_of.push(group.stack);
        all.push(Leak {
            bytes: group.held.bytes,
            allocations: group.held.blocks,
            frames: if lazy { Vec::new() } else { frames },
            note,
            kind: group.kind,
            suppressed: matched
                .map(|i| suppressions.map_or(String::new(), |l| l.entries[i].name.clone())),
        });
    }
    out.used = used.into_values().collect();
    out.used.sort_by(|a, b| {
        b.suppressed
            .bytes
            .cmp(&a.suppressed.bytes)
            .then(a.name.cmp(&b.name))
    });
    let kept = choose(&all, max_listed);
    let mut all = all.into_iter().zip(stack_of);
    let mut at = 0;
    let mut framed: FxHashMap<Option<LeakKind>, usize> = FxHashMap::default();
    out.listed = kept
        .into_iter()
        .filter_map(|index| {
            let (mut leak, stack) = all.nth(index - at)?;
            at = index + 1;
            let own = leak.note.is_none() && leak.suppressed.is_none();
            let wanted = framed_per_kind == 0
                || own && {
                    let count = framed.entry(leak.kind).or_default();
                    *count += 1;
                    *count <= framed_per_kind
                };
            if lazy && wanted {
                leak.frames = resolver.frames(stack);
            }
            Some(leak)
        })
        .collect();
    out
}

/// The leak groups: one per stack, or per stack and kind when the process
/// was scanned (then also the totals by kind), largest first.
fn groups(analysis: &Analysis, leaking: &[StackId]) -> (Vec<Group>, Option<ReachabilityTotals>) {
    let replay = &analysis.replay;
    let reach = &replay.reachability;
    let mut groups = Vec::with_capacity(leaking.len());
    let totals = if reach.scanned().is_some() {
        let mut by_stack: FxHashMap<StackId, [Amount; 4]> = FxHashMap::default();
        let mut totals = ReachabilityTotals::default();
        replay.for_each_live(|block| {
            let kind = reach.kind_of(block.ptr).unwrap_or(LeakKind::StillReachable);
            by_stack.entry(block.stack).or_default()[kind as usize].add(block.bytes, block.count);
            totals.of_mut(kind).add(block.bytes, block.count);
        });
        for &stack in leaking {
            let Some(kinds) = by_stack.get(&stack) else {
                continue;
            };
            for kind in LeakKind::ALL {
                let held = kinds[kind as usize];
                if held.blocks > 0 {
                    groups.push(Group {
                        stack,
                        kind: Some(kind),
                        held,
                    });
                }
            }
        }
        Some(totals)
    } else {
        for &stack in leaking {
            let stats = &replay.stacks[stack as usize];
            groups.push(Group {
                stack,
                kind: None,
                held: Amount {
                    bytes: stats.live_bytes,
                    blocks: stats.live_allocations,
                },
            });
        }
        None
    };
    groups.sort_by(|a, b| {
        b.held
            .bytes
            .cmp(&a.held.bytes)
            .then(b.held.blocks.cmp(&a.held.blocks))
            .then(a.kind.cmp(&b.kind))
            .then(a.stack.cmp(&b.stack))
    });
    (groups, totals)
}

/// The indices of at most `max` groups of `all` (0: all), in order (so
/// largest first); when some must be left out, the program's lost ones
/// are kept first, then the rest by size.
fn choose(all: &[Leak], max: usize) -> Vec<usize> {
    if max == 0 || all.len() <= max {
        return (0..all.len()).collect();
    }
    let rank = |l: &Leak| {
        let counts = l.note.is_none() && l.suppressed.is_none();
        let lost = l.kind.is_none_or(LeakKind::is_lost);
        !(counts && lost)
    };
    let mut order: Vec<usize> = (0..all.len()).collect();
    // Stable: within each rank, largest first as `all` is.
    order.sort_by_key(|&i| rank(&all[i]));
    order.truncate(max);
    order.sort_unstable();
    order
}
