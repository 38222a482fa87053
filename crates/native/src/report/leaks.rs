//! The leaks section: the stacks still holding blocks at the end, each
//! told apart as the program's own or the runtime's by design.

use crate::model::Leak;
use crate::verdict::Held;
use crate::{Analysis, Resolver, runtime};

/// The program's and the runtime's blocks still allocated at the end.
pub(crate) struct Leaks {
    /// The listed leak groups, largest first.
    pub listed: Vec<Leak>,
    /// What the program's own stacks hold (listed or not).
    pub own: Held,
    /// What the runtime holds by design (listed or not).
    pub runtime: Held,
}

/// Every leaking stack is resolved, listed or not: the verdict needs to
/// know which of them the runtime holds by design. `leaking` comes from
/// [`Analysis::leaking_stacks`]; the first `listed` are listed.
pub(crate) fn section(
    analysis: &Analysis,
    leaking: &[heapwise_trace::StackId],
    listed: usize,
    resolver: &Resolver<'_>,
) -> Leaks {
    let mut out = Leaks {
        listed: Vec::with_capacity(listed),
        own: Held::default(),
        runtime: Held::default(),
    };
    for (i, &stack) in leaking.iter().enumerate() {
        let stats = &analysis.replay.stacks[stack as usize];
        let frames = resolver.frames(stack);
        let note = runtime::note(&frames);
        let held = if note.is_some() {
            &mut out.runtime
        } else {
            &mut out.own
        };
        held.bytes += stats.live_bytes;
        held.allocations += stats.live_allocations;
        if i < listed {
            out.listed.push(Leak {
                bytes: stats.live_bytes,
                allocations: stats.live_allocations,
                note,
                frames,
            });
        }
    }
    out
}
