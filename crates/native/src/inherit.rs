//! What a forked child inherited from its parent and still holds.
//!
//! A child's trace records only what the child allocated, but a worker of a
//! pre-fork server starts with every block its master held at the fork, and
//! leaks on those structures (a cache built before the fork that the worker
//! keeps filling, a list it never trims) are the child's too. The child's
//! header names the parent's trace and the tick of the fork. The blocks
//! live in the parent at that tick come from the parent's trace
//! ([`live_at`]); the child freed those it frees without having allocated
//! them (the replay keeps those pointers); the rest it still holds at the
//! end.
//!
//! Which blocks were live at the fork is read straight from the parent's
//! events, without the time-ordered replay: for each address, the latest
//! event stamped no later than the fork decides (an allocation: live; a
//! free: not). A stream's events are in order, so of two events with the
//! same tick in one stream the later one wins; the tracer stamps frees
//! before glibc takes a block back and allocations after it hands one out,
//! so across threads the order by tick is right too.

use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;

use heapwise_trace::{Event, StackId, StackTable, TraceReader};

use crate::error::NativeError;

/// The blocks a process held at one moment, with their stacks.
#[derive(Debug)]
pub struct LiveAt {
    /// The trace read.
    pub path: PathBuf,
    /// Pid of that process.
    pub pid: u32,
    /// Stacks of that trace.
    pub stacks: StackTable,
    /// Address → (size, stack) of each block live at the tick.
    pub blocks: FxHashMap<u64, (u64, StackId)>,
}

/// The latest event of an address seen so far.
#[derive(Clone, Copy)]
struct Latest {
    tick: u64,
    /// `Some((size, stack))` for an allocation, `None` for a free.
    alloc: Option<(u64, StackId)>,
}

/// The blocks live in the process of `trace` at `tick`.
pub fn live_at(trace: &Path, tick: u64) -> Result<LiveAt, NativeError> {
    let mut reader = TraceReader::open(trace)?;
    let pid = reader.header().pid;
    let mut latest: FxHashMap<u64, Latest> = FxHashMap::default();
    let mut note = |ptr: u64, at: u64, alloc: Option<(u64, StackId)>| {
        if at > tick || ptr == 0 {
            return;
        }
        let entry = latest.entry(ptr).or_insert(Latest { tick: 0, alloc });
        if at >= entry.tick {
            *entry = Latest { tick: at, alloc };
        }
    };
    reader.read_all(&mut |event: Event<'_>, _: &StackTable| match event {
        Event::Alloc {
            ts,
            size,
            stack,
            ptr,
            ..
        } => note(ptr, ts, Some((size, stack))),
        Event::Free { ts, ptr, .. } => note(ptr, ts, None),
        Event::Realloc {
            entry,
            ts,
            old,
            size,
            stack,
            new,
            ..
        } => {
            note(old, entry, None);
            note(new, ts, Some((size, stack)));
        }
        // A compacted parent trace: the blocks live at its checkpoint (those
        // allocated before the fork and freed before the checkpoint are
        // not known any more).
        Event::Checkpoint(checkpoint) => {
            for l in &checkpoint.live {
                note(l.ptr, l.tick, Some((l.size, l.stack)));
            }
        }
        _ => {}
    })?;
    let blocks = latest
        .into_iter()
        .filter_map(|(ptr, l)| l.alloc.map(|a| (ptr, a)))
        .collect();
    Ok(LiveAt {
        path: trace.to_path_buf(),
        pid,
        stacks: std::mem::take(reader.stacks_mut()),
        blocks,
    })
}

/// Where the parent's trace of a child trace is: as the child's header
/// names it, or, if it was moved, beside the child's trace.
pub fn parent_trace(child_trace: &Path, named: &str) -> Option<PathBuf> {
    if named.is_empty() {
        return None;
    }
    let named = PathBuf::from(named);
    if named.is_file() {
        return Some(named);
    }
    let beside = child_trace.parent()?.join(named.file_name()?);
    beside.is_file().then_some(beside)
}

/// The report's section on inherited blocks, for a child trace whose
/// parent's trace can be read: `Ok(None)` for a trace that is not a forked
/// child's; `Err` says why the parent's blocks are unknown.
pub fn section(
    analysis: &crate::Analysis,
    symbolizer: &mut dyn crate::Symbolize,
    max_groups: usize,
) -> Result<Option<crate::model::Inherited>, String> {
    let header = &analysis.header;
    if header.fork_tick == 0 {
        return Ok(None);
    }
    let child = Path::new(&analysis.path);
    let Some(parent) = parent_trace(child, &header.parent_trace) else {
        return Err(format!(
            "this process was forked from pid {}, whose trace {} is not there: what it inherited is unknown",
            header.ppid, header.parent_trace
        ));
    };
    let at_fork = live_at(&parent, header.fork_tick).map_err(|err| {
        format!(
            "what this process inherited from {} is unknown: {err}",
            parent.display()
        )
    })?;
    let mut groups: FxHashMap<StackId, (u64, u64)> = FxHashMap::default();
    let (mut bytes_at_fork, mut held_blocks, mut held_bytes) = (0, 0, 0);
    for (&ptr, &(size, stack)) in &at_fork.blocks {
        bytes_at_fork += size;
        if analysis.replay.freed_before_allocated(ptr) {
            continue;
        }
        held_blocks += 1;
        held_bytes += size;
        let group = groups.entry(stack).or_default();
        group.0 += size;
        group.1 += 1;
    }
    let mut order: Vec<(StackId, (u64, u64))> = groups.into_iter().collect();
    order.sort_by(|a, b| {
        b.1.0
            .cmp(&a.1.0)
            .then(b.1.1.cmp(&a.1.1))
            .then(a.0.cmp(&b.0))
    });
    if max_groups > 0 {
        order.truncate(max_groups);
    }
    // The child's modules are the parent's at the fork: announced again in
    // the child's trace.
    let any_time = |_: StackId| u64::MAX;
    let mut resolver =
        crate::resolve::Resolver::new(&at_fork.stacks, &analysis.replay.modules, &any_time);
    resolver.prepare(order.iter().map(|g| g.0), symbolizer);
    let groups = order
        .into_iter()
        .map(|(stack, (bytes, allocations))| {
            let frames = resolver.frames(stack);
            crate::model::Leak {
                kind: None,
                suppressed: None,
                bytes,
                allocations,
                note: crate::runtime::note(&frames),
                frames,
            }
        })
        .collect();
    Ok(Some(crate::model::Inherited {
        parent_pid: at_fork.pid,
        parent_trace: at_fork.path.display().to_string(),
        blocks_at_fork: at_fork.blocks.len() as u64,
        bytes_at_fork,
        held_blocks,
        held_bytes,
        groups,
    }))
}
