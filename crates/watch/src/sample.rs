//! One reading of a process's memory, and the state of PSS sampling.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cgroup::CgroupSample;

/// The memory of the watched process (or process tree, with `--children`)
/// at one instant. Bytes throughout; `None` (JSON `null`) where the kernel
/// did not say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Seconds since the watch started.
    pub t_s: f64,
    /// Resident set size (`VmRSS`).
    pub rss_bytes: u64,
    /// Resident anonymous memory (`RssAnon`; `statm` resident − shared on
    /// kernels before 4.5). The series the verdict judges.
    pub anon_bytes: u64,
    /// Resident file-backed memory (`RssFile`).
    pub file_bytes: Option<u64>,
    /// Resident shared memory (`RssShmem`).
    pub shmem_bytes: Option<u64>,
    /// Proportional set size from `smaps_rollup`, when it was read (see
    /// [`PssPolicy`]).
    pub pss_bytes: Option<u64>,
    /// Swapped-out anonymous memory (`VmSwap`).
    pub swap_bytes: Option<u64>,
    /// Virtual memory size (`statm` size).
    pub vm_bytes: Option<u64>,
    /// The kernel's peak RSS of the watched process since it started
    /// (`VmHWM`; the main process only, also with `--children`).
    pub hwm_bytes: Option<u64>,
    /// Processes summed into this sample (1 unless watching children).
    pub processes: usize,
    /// The process's memory cgroup, when it has one we can read.
    pub cgroup: Option<CgroupSample>,
}

/// When `smaps_rollup` is read for PSS.
///
/// Reading `smaps_rollup` walks the page tables of every mapping while
/// holding the process's mmap lock, and the walk runs on the reader's CPU:
/// on a 200 GB process one read froze it for 4.5 s (process-exporter #246);
/// on this project's machines a 256 MiB process takes 5–20 ms a read. So:
///
/// - PSS is read only while a process's RSS is at most `max_rss_bytes`;
/// - never again after one read took longer than `max_read`;
/// - and no more often than keeps the reads under `max_cpu_share` of one
///   core: after a read that took `d`, the next waits `d / max_cpu_share`
///   (at every sample for a small process, every few seconds for a large one).
///
/// Samples between reads have `pss_bytes: null`; [`PssStatus::last_bytes`]
/// keeps the most recent reading.
#[derive(Debug, Clone, PartialEq)]
pub struct PssPolicy {
    /// Read PSS at all. Default true.
    pub enabled: bool,
    /// Skip the read while the process's RSS is above this. Default 2 GiB.
    pub max_rss_bytes: u64,
    /// Stop reading PSS for the rest of the watch after a read (of any one
    /// process) took longer than this. Default 50 ms: longer stalls of the
    /// process's `mmap`/`munmap` calls are felt.
    pub max_read: Duration,
    /// Share of one core the reads may take on average. Default 0.001
    /// (0.1 %).
    pub max_cpu_share: f64,
}

impl Default for PssPolicy {
    fn default() -> Self {
        PssPolicy {
            enabled: true,
            max_rss_bytes: 2 << 30,
            max_read: Duration::from_millis(50),
            max_cpu_share: 0.001,
        }
    }
}

impl PssPolicy {
    /// Seconds to wait after reads that took `took` in all.
    pub(crate) fn pause_after(&self, took: Duration) -> f64 {
        let share = if self.max_cpu_share > 0.0 && self.max_cpu_share <= 1.0 {
            self.max_cpu_share
        } else {
            PssPolicy::default().max_cpu_share
        };
        took.as_secs_f64() / share
    }
}

/// Whether PSS is being read, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PssState {
    /// Being read (at the latest sample, or at the next one the CPU budget
    /// allows).
    Sampled,
    /// Not read at the latest sample because RSS is above the cap; resumes
    /// below it.
    Skipped,
    /// A read was slow: not read again during this watch.
    Stopped,
    /// Cannot be read (not permitted, or the kernel has no `smaps_rollup`).
    Unavailable,
    /// Turned off by the user.
    Off,
}

/// PSS sampling as the output reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PssStatus {
    /// The state at the latest sample.
    pub state: PssState,
    /// Why PSS is not (or was not always) read; `None` while all is well.
    pub reason: Option<String>,
    /// Reads of `smaps_rollup` made so far.
    pub reads: u64,
    /// The longest single read, milliseconds.
    pub slowest_read_ms: Option<f64>,
    /// The most recent PSS reading (of the whole tree with `--children`).
    pub last_bytes: Option<u64>,
    /// When it was taken, seconds since the watch started.
    pub last_t_s: Option<f64>,
}

impl PssStatus {
    pub(crate) fn new(policy: &PssPolicy) -> Self {
        PssStatus {
            state: if policy.enabled {
                PssState::Sampled
            } else {
                PssState::Off
            },
            reason: (!policy.enabled).then(|| "PSS sampling was turned off (--no-pss)".into()),
            reads: 0,
            slowest_read_ms: None,
            last_bytes: None,
            last_t_s: None,
        }
    }

    pub(crate) fn record_read(&mut self, took: Duration) {
        self.reads += 1;
        let ms = took.as_secs_f64() * 1000.0;
        if self.slowest_read_ms.is_none_or(|slowest| ms > slowest) {
            self.slowest_read_ms = Some(ms);
        }
    }

    /// True when reading may be attempted at the next sample.
    pub(crate) fn may_read(&self) -> bool {
        matches!(self.state, PssState::Sampled | PssState::Skipped)
    }
}
