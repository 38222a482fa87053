//! Whether compressing the trace would take CPU time from the program.
//!
//! The writer thread compresses what the program's threads record (about a
//! third of the tracer's CPU time). While the program leaves a core idle,
//! that costs the program nothing; when its threads keep every core it may
//! use busy, every compressed block is time taken from them — on
//! `bench/native.py` with two threads on two cores it made the traced run
//! about a fifth slower. So in `auto` mode the writer stores blocks as they
//! are (about 1.6× larger, still under twice heaptrack's compressed trace)
//! while the program is that busy, and compresses again when it is not.
//!
//! "That busy": over the last measuring window the program's own threads
//! (the process's CPU time minus the writer's) used more than the cores it
//! may run on (affinity mask, cgroup CPU quota) minus half a core — or a
//! thread had to wait for the writer to hand back a buffer. The second
//! matters because waiting threads use no CPU: a writer slowed down by
//! compressing would otherwise make the program look idle and go on
//! compressing. Until the first window is measured the writer stores:
//! a program that starts on every core is not slowed down by its first
//! blocks.

use crate::sys;

/// The shortest window a decision is based on: CPU clocks tick per
/// scheduler slice, so shorter windows are noise.
const WINDOW_NS: u64 = 20_000_000;

/// Measures the program's CPU use from the writer thread.
pub struct CpuGauge {
    /// Cores the process may use.
    cores: f64,
    wall_ns: u64,
    process_ns: u64,
    writer_ns: u64,
    stalls: u32,
    busy: bool,
}

impl CpuGauge {
    /// Starts measuring; call on the writer thread. `stalls`: how many
    /// times so far a thread had to wait for the writer to hand back a
    /// buffer.
    pub fn new(stalls: u32) -> CpuGauge {
        CpuGauge {
            cores: usable_cores(),
            wall_ns: sys::monotonic_ns(),
            process_ns: sys::process_cpu_ns(),
            writer_ns: sys::thread_cpu_ns(),
            stalls,
            busy: true,
        }
    }

    /// Whether the program's threads left less than half a core idle over
    /// the last window (the previous answer while a window is still short),
    /// or had to wait for the writer (`stalls`, the count so far, changed):
    /// then its time must go to writing, not compressing, however little
    /// CPU the waiting threads used.
    pub fn program_busy(&mut self, stalls: u32) -> bool {
        if stalls != self.stalls {
            self.stalls = stalls;
            self.busy = true;
            return true;
        }
        let wall = sys::monotonic_ns();
        let elapsed = wall.saturating_sub(self.wall_ns);
        if elapsed < WINDOW_NS {
            return self.busy;
        }
        let process = sys::process_cpu_ns();
        let writer = sys::thread_cpu_ns();
        let program = process
            .saturating_sub(self.process_ns)
            .saturating_sub(writer.saturating_sub(self.writer_ns));
        self.busy = leaves_no_core(program, elapsed, self.cores, self.busy);
        self.wall_ns = wall;
        self.process_ns = process;
        self.writer_ns = writer;
        self.busy
    }
}

/// Whether `program_ns` of CPU time in `elapsed_ns` leaves less than half
/// of one of `cores` idle (half of the quota, under a quota below one
/// core). Once busy, the program stays so until it leaves three quarters:
/// a window it lost to other processes must not switch compression back on
/// while it still needs every core.
fn leaves_no_core(program_ns: u64, elapsed_ns: u64, cores: f64, was_busy: bool) -> bool {
    let idle = if was_busy { 0.75 } else { 0.5 } * cores.min(1.0);
    program_ns as f64 > (cores - idle) * elapsed_ns as f64
}

/// The cores this process may run on: its affinity mask, lowered by a
/// cgroup CPU quota (containers).
fn usable_cores() -> f64 {
    // SAFETY: a zeroed cpu_set_t is valid; the kernel fills it.
    let affinity = unsafe {
        let mut set = std::mem::zeroed::<libc::cpu_set_t>();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0 {
            libc::CPU_COUNT(&set).max(1) as f64
        } else {
            1.0
        }
    };
    match cgroup_quota() {
        Some(quota) => affinity.min(quota.max(0.1)),
        None => affinity,
    }
}

/// The CPU quota of this process's cgroup, in cores (v2 `cpu.max`, v1
/// `cpu.cfs_quota_us` / `cpu.cfs_period_us`); `None` when unlimited. A
/// hierarchy whose files cannot be read is skipped (hybrid setups list
/// both).
fn cgroup_quota() -> Option<f64> {
    let mut buf = [0u8; 4096];
    let len = sys::read_file(c"/proc/self/cgroup", &mut buf)?;
    let text = std::str::from_utf8(&buf[..len]).ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        let path = path.trim_end_matches('/');
        if controllers.is_empty() {
            parse_cpu_max(&read_small(&format!("/sys/fs/cgroup{path}/cpu.max"))?)
        } else if controllers.split(',').any(|c| c == "cpu") {
            let dir = format!("/sys/fs/cgroup/{controllers}{path}");
            parse_cfs(
                &read_small(&format!("{dir}/cpu.cfs_quota_us"))?,
                &read_small(&format!("{dir}/cpu.cfs_period_us"))?,
            )
        } else {
            None
        }
    })
}

/// Cores allowed by a v2 `cpu.max` ("QUOTA PERIOD", or "max PERIOD").
fn parse_cpu_max(text: &str) -> Option<f64> {
    let mut parts = text.split_whitespace();
    parse_cfs(parts.next()?, parts.next()?)
}

/// Cores allowed by v1 `cpu.cfs_quota_us` (-1: none) and `cpu.cfs_period_us`.
fn parse_cfs(quota: &str, period: &str) -> Option<f64> {
    let quota = quota.trim().parse::<f64>().ok()?;
    let period = period.trim().parse::<f64>().ok()?;
    (quota > 0.0 && period > 0.0).then(|| quota / period)
}

fn read_small(path: &str) -> Option<String> {
    let path = std::ffi::CString::new(path).ok()?;
    let mut buf = [0u8; 128];
    let len = sys::read_file(&path, &mut buf)?;
    Some(String::from_utf8_lossy(&buf[..len]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_means_less_than_half_a_core_left() {
        let ms = 1_000_000;
        // One thread of a two-core machine: the writer has a core.
        assert!(!leaves_no_core(100 * ms, 100 * ms, 2.0, false));
        assert!(!leaves_no_core(100 * ms, 100 * ms, 2.0, true));
        // Two threads, even slowed down by the writer's compression.
        assert!(leaves_no_core(170 * ms, 100 * ms, 2.0, false));
        // Busy, then a window with other processes on the cores.
        assert!(leaves_no_core(140 * ms, 100 * ms, 2.0, true));
        assert!(!leaves_no_core(140 * ms, 100 * ms, 2.0, false));
        assert!(leaves_no_core(60 * ms, 100 * ms, 1.0, false));
        assert!(!leaves_no_core(40 * ms, 100 * ms, 1.0, false));
        // A cgroup quota of a quarter core.
        assert!(leaves_no_core(24 * ms, 100 * ms, 0.25, false));
        assert!(!leaves_no_core(10 * ms, 100 * ms, 0.25, false));
        assert!(!leaves_no_core(5 * ms, 100 * ms, 0.25, true));
    }

    #[test]
    fn cgroup_quotas_parse_and_unlimited_is_none() {
        assert_eq!(parse_cpu_max("150000 100000\n"), Some(1.5));
        assert_eq!(parse_cpu_max("max 100000\n"), None);
        assert_eq!(parse_cpu_max(""), None);
        assert_eq!(parse_cfs("50000\n", "100000\n"), Some(0.5));
        assert_eq!(parse_cfs("-1\n", "100000\n"), None);
    }

    #[test]
    fn usable_cores_are_at_most_the_machine_s() {
        let cores = usable_cores();
        // SAFETY: sysconf has no preconditions.
        let machine = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as f64;
        assert!((0.1..=machine).contains(&cores), "{cores} of {machine}");
    }

    #[test]
    fn threads_spinning_on_every_core_are_seen_as_busy() {
        let mut gauge = CpuGauge::new(0);
        assert!(gauge.cores >= 0.1);
        let cores = gauge.cores.ceil() as usize;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let spinners: Vec<_> = (0..cores)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        // Other processes may take the cores for a while: any one window
        // of the next two seconds will do.
        let busy = (0..20).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            gauge.program_busy(0)
        });
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for spinner in spinners {
            spinner.join().unwrap();
        }
        assert!(busy, "{cores} spinning threads on {} cores", gauge.cores);
    }
}
