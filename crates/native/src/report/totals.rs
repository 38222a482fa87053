//! Totals: the process, the summary and the size classes.

use crate::model::{Exit, Process, SizeClass, Summary};
use crate::replay::{SIZE_CLASS_LIMITS, size_class};
use crate::{Analysis, ExitStatus};

/// The traced process and how it ended (an `exec` is no end: its successor
/// wrote its own trace).
pub(crate) fn process(analysis: &Analysis) -> Process {
    let exit = match analysis.replay.exit {
        Some(ExitStatus::Code(code)) => Some(Exit::Code(code)),
        Some(ExitStatus::Signal(signal)) => Some(Exit::Signal(signal)),
        _ => None,
    };
    Process {
        pid: analysis.header.pid,
        command: analysis.header.argv.clone(),
        exit,
    }
}

/// Totals over the whole trace.
pub(crate) fn summary(analysis: &Analysis) -> Summary {
    let replay = &analysis.replay;
    Summary {
        allocations: replay.allocations,
        frees: replay.frees,
        allocated_bytes: replay.allocated_bytes,
        peak_live_bytes: replay.peak_live_bytes,
        peak_t_s: analysis.peak_t_s(),
        leaked_bytes: replay.live_bytes,
        leaked_allocations: replay.live_allocations(),
        duration_s: analysis.duration_s(),
    }
}

/// Allocations and leaks by size class.
pub(crate) fn size_classes(analysis: &Analysis) -> Vec<SizeClass> {
    let replay = &analysis.replay;
    let mut leaked_by_class = [(0u64, 0u64); 3];
    replay.for_each_live(|size, _| {
        let class = &mut leaked_by_class[size_class(size)];
        class.0 += 1;
        class.1 += size;
    });
    let names = ["< 1 KiB", "1 KiB - 1 MiB", "> 1 MiB"];
    (0..3)
        .map(|i| SizeClass {
            name: names[i],
            min_bytes: if i == 0 { 0 } else { SIZE_CLASS_LIMITS[i - 1] },
            max_bytes: SIZE_CLASS_LIMITS.get(i).map(|limit| limit - 1),
            allocations: replay.classes[i].allocations,
            allocated_bytes: replay.classes[i].allocated_bytes,
            leaked_allocations: leaked_by_class[i].0,
            leaked_bytes: leaked_by_class[i].1,
        })
        .collect()
}
