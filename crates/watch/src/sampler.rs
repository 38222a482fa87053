//! Reading a process's memory from `/proc` and its cgroup, one sample at a
//! time.
//!
//! Everything is read-only and cheap: `status` and `statm` are generated
//! from counters the kernel keeps anyway; `smaps_rollup` (PSS) walks page
//! tables and follows [`PssPolicy`]; cgroup files are counters too. The
//! main process's files stay open for the whole watch: reading them after
//! the process has exited fails (`ESRCH`) instead of silently reading a new
//! process that was given the same PID.

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::time::Instant;

use crate::cgroup::{CgroupInfo, CgroupReader};
use crate::error::WatchError;
use crate::procfs::{
    self, ProcStatus, Statm, page_size, parse_cmdline, parse_meminfo_total, parse_smaps_rollup_pss,
    parse_stat_ppid, parse_statm, parse_status, read_at_start,
};
use crate::sample::{PssPolicy, PssState, PssStatus, Sample};

/// What to sample.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SamplerOptions {
    /// Add up the whole process tree: the process and all its descendants
    /// (pre-forking servers, worker pools).
    pub children: bool,
    /// When PSS is read.
    pub pss: PssPolicy,
}

/// The watched process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Its PID.
    pub pid: i32,
    /// Its name (`Name:` in `status`).
    pub name: String,
    /// Its command line, when the kernel still shows one.
    pub argv: Vec<String>,
}

impl Target {
    /// The command line joined with spaces, or the name when there is none.
    pub fn command(&self) -> String {
        if self.argv.is_empty() {
            self.name.clone()
        } else {
            self.argv.join(" ")
        }
    }
}

/// Samples one process (or process tree). Create with [`Sampler::attach`],
/// then call [`Sampler::sample`] at every interval.
#[derive(Debug)]
pub struct Sampler {
    target: Target,
    options: SamplerOptions,
    status: File,
    statm: File,
    smaps: Option<File>,
    pss: PssStatus,
    cgroup: Option<CgroupReader>,
    mem_total: Option<u64>,
    page_size: u64,
    /// When PSS may be read next (the CPU budget), seconds.
    next_pss_s: f64,
    /// Whether `/proc/PID/task/TID/children` exists (`CONFIG_PROC_CHILDREN`).
    children_files: bool,
    buf: Vec<u8>,
}

fn proc_path(pid: i32, file: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/{file}"))
}

/// Errors that mean the process is gone.
fn is_gone(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::ESRCH | libc::ENOENT))
}

impl Sampler {
    /// Opens process `pid` for watching: checks that it exists, is not a
    /// zombie or kernel thread, and that its memory figures can be read.
    pub fn attach(pid: i64, options: SamplerOptions) -> Result<Self, WatchError> {
        let pid = i32::try_from(pid)
            .ok()
            .filter(|&p| p > 0)
            .ok_or(WatchError::InvalidPid(pid))?;
        let open = |file: &str| {
            let path = proc_path(pid, file);
            File::open(&path).map_err(|e| WatchError::from_io(pid, path, e))
        };
        let status = open("status")?;
        let statm = open("statm")?;
        let mut buf = Vec::new();
        read_at_start(&status, &mut buf)
            .map_err(|e| WatchError::from_io(pid, proc_path(pid, "status"), e))?;
        let parsed = parse_status(&buf);
        if parsed.is_gone() {
            return Err(WatchError::Exited(pid));
        }
        if parsed.kernel_thread {
            return Err(WatchError::KernelThread {
                pid,
                name: parsed.name,
            });
        }
        let argv = std::fs::read(proc_path(pid, "cmdline"))
            .map(|bytes| parse_cmdline(&bytes))
            .unwrap_or_default();
        let mut pss = PssStatus::new(&options.pss);
        let smaps = if options.pss.enabled {
            match File::open(proc_path(pid, "smaps_rollup")) {
                Ok(file) => Some(file),
                Err(err) => {
                    pss.state = PssState::Unavailable;
                    pss.reason = Some(pss_unavailable(pid, &err));
                    None
                }
            }
        } else {
            None
        };
        let cgroup = std::fs::read_to_string(proc_path(pid, "cgroup"))
            .ok()
            .and_then(|text| {
                let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
                CgroupReader::discover(&text, &mountinfo)
            });
        let mem_total = std::fs::read("/proc/meminfo")
            .ok()
            .and_then(|text| parse_meminfo_total(&text));
        let children_files =
            std::fs::exists(format!("/proc/{0}/task/{0}/children", std::process::id()))
                .unwrap_or(false);
        Ok(Sampler {
            target: Target {
                pid,
                name: parsed.name,
                argv,
            },
            options,
            status,
            statm,
            smaps,
            pss,
            cgroup,
            mem_total,
            page_size: page_size(),
            next_pss_s: f64::NEG_INFINITY,
            children_files,
            buf,
        })
    }

    /// The watched process.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The process's memory cgroup, when it has one we can read.
    pub fn cgroup(&self) -> Option<&CgroupInfo> {
        self.cgroup.as_ref().map(CgroupReader::info)
    }

    /// `MemTotal` of the machine, bytes.
    pub fn mem_total_bytes(&self) -> Option<u64> {
        self.mem_total
    }

    /// Whether PSS is being read, and why not.
    pub fn pss_status(&self) -> &PssStatus {
        &self.pss
    }

    /// Reads the memory figures now; `t_s` is stored as the sample's time.
    /// `Ok(None)` once the process has exited.
    pub fn sample(&mut self, t_s: f64) -> Result<Option<Sample>, WatchError> {
        let pid = self.target.pid;
        match read_at_start(&self.status, &mut self.buf) {
            Ok(()) if !self.buf.is_empty() => {}
            Ok(()) => return Ok(None),
            Err(err) if is_gone(&err) => return Ok(None),
            Err(err) => return Err(WatchError::from_io(pid, proc_path(pid, "status"), err)),
        }
        let status = parse_status(&self.buf);
        if status.is_gone() || status.rss.is_none() {
            return Ok(None);
        }
        let statm = match read_at_start(&self.statm, &mut self.buf) {
            Ok(()) => parse_statm(&self.buf, self.page_size),
            Err(err) if is_gone(&err) => return Ok(None),
            Err(_) => None,
        };
        let mut totals = Totals::default();
        totals.add(&status, statm.as_ref());

        let mut pss = PssRound::new(&self.pss, t_s >= self.next_pss_s);
        if pss.active() {
            let rss = status.rss.unwrap_or(0);
            match &self.smaps {
                Some(file) => pss.read(
                    pid,
                    rss,
                    &self.options.pss,
                    &mut self.pss,
                    &mut self.buf,
                    file,
                ),
                None => pss.total = None,
            }
        }
        if self.options.children {
            for child in self.descendants() {
                self.add_child(child, &mut totals, &mut pss);
            }
        }
        if pss.took > std::time::Duration::ZERO {
            self.next_pss_s = t_s + self.options.pss.pause_after(pss.took);
        }
        let pss_bytes = pss.finish(&mut self.pss, t_s);
        let cgroup = self.cgroup.as_mut().map(CgroupReader::sample);
        Ok(Some(Sample {
            t_s,
            rss_bytes: totals.rss,
            anon_bytes: totals.anon,
            file_bytes: totals.file,
            shmem_bytes: totals.shmem,
            pss_bytes,
            swap_bytes: totals.swap,
            vm_bytes: totals.vm,
            hwm_bytes: status.hwm,
            processes: totals.processes,
            cgroup,
        }))
    }

    /// Reads one descendant (opened afresh: the tree changes) into the totals.
    fn add_child(&mut self, child: i32, totals: &mut Totals, pss: &mut PssRound) {
        let Ok(file) = File::open(proc_path(child, "status")) else {
            return;
        };
        if read_at_start(&file, &mut self.buf).is_err() {
            return;
        }
        let status = parse_status(&self.buf);
        if status.is_gone() || status.rss.is_none() {
            return;
        }
        let statm = File::open(proc_path(child, "statm"))
            .and_then(|f| read_at_start(&f, &mut self.buf))
            .ok()
            .and_then(|()| parse_statm(&self.buf, self.page_size));
        totals.add(&status, statm.as_ref());
        if pss.active() {
            let rss = status.rss.unwrap_or(0);
            match File::open(proc_path(child, "smaps_rollup")) {
                Ok(file) => pss.read(
                    child,
                    rss,
                    &self.options.pss,
                    &mut self.pss,
                    &mut self.buf,
                    &file,
                ),
                Err(err) => pss.failed(child, &err, &mut self.pss),
            }
        }
    }

    /// All descendants of the watched process, found through
    /// `/proc/PID/task/TID/children`, or by scanning `/proc` for parent
    /// PIDs where the kernel lacks those files.
    fn descendants(&self) -> Vec<i32> {
        let root = self.target.pid;
        let mut found = Vec::new();
        if self.children_files {
            let mut queue = vec![root];
            while let Some(pid) = queue.pop() {
                for child in children_of(pid) {
                    if child != root && !found.contains(&child) {
                        found.push(child);
                        queue.push(child);
                    }
                }
            }
            return found;
        }
        let parents: Vec<(i32, i32)> = std::fs::read_dir("/proc")
            .map(|dir| {
                dir.flatten()
                    .filter_map(|entry| {
                        let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
                        let stat = std::fs::read(entry.path().join("stat")).ok()?;
                        Some((pid, parse_stat_ppid(&stat)?))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut queue = vec![root];
        while let Some(parent) = queue.pop() {
            for &(pid, ppid) in &parents {
                if ppid == parent && pid != root && !found.contains(&pid) {
                    found.push(pid);
                    queue.push(pid);
                }
            }
        }
        found
    }
}

/// Direct children of every thread of `pid`.
fn children_of(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
            out.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok()),
            );
        }
    }
    out
}

fn pss_unavailable(pid: i32, err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(libc::EACCES | libc::EPERM) => format!(
            "not permitted to read /proc/{pid}/smaps_rollup: PSS needs ptrace access to the process (its own user, or root)"
        ),
        Some(libc::ENOENT) => "this kernel has no smaps_rollup (Linux 4.14 or later has)".into(),
        _ => format!("could not read /proc/{pid}/smaps_rollup: {err}"),
    }
}

/// Sums over the processes of one sample.
#[derive(Debug, Default)]
struct Totals {
    processes: usize,
    rss: u64,
    anon: u64,
    file: Option<u64>,
    shmem: Option<u64>,
    swap: Option<u64>,
    vm: Option<u64>,
}

impl Totals {
    fn add(&mut self, status: &ProcStatus, statm: Option<&Statm>) {
        fn sum(total: &mut Option<u64>, first: bool, value: Option<u64>) {
            *total = match (first, *total, value) {
                (true, _, v) => v,
                (false, Some(t), Some(v)) => Some(t.saturating_add(v)),
                _ => None,
            };
        }
        let first = self.processes == 0;
        self.processes += 1;
        let rss = status.rss.or(statm.map(|m| m.resident)).unwrap_or(0);
        let anon = status
            .rss_anon
            .or(statm.map(procfs::Statm::anon))
            .unwrap_or(0);
        self.rss = self.rss.saturating_add(rss);
        self.anon = self.anon.saturating_add(anon);
        sum(&mut self.file, first, status.rss_file);
        sum(&mut self.shmem, first, status.rss_shmem);
        sum(&mut self.swap, first, status.swap);
        sum(
            &mut self.vm,
            first,
            status.vm_size.or(statm.map(|m| m.size)),
        );
    }
}

/// PSS over the processes of one sample: known only if every process's
/// `smaps_rollup` was read.
struct PssRound {
    total: Option<u64>,
    skipped: Option<String>,
    /// Time spent reading in this round.
    took: std::time::Duration,
}

impl PssRound {
    /// `due`: the CPU budget allows a read now.
    fn new(status: &PssStatus, due: bool) -> Self {
        PssRound {
            total: (due && status.may_read()).then_some(0),
            skipped: None,
            took: std::time::Duration::ZERO,
        }
    }

    fn active(&self) -> bool {
        self.total.is_some()
    }

    /// Reads one process's PSS under the policy, updating the status.
    fn read(
        &mut self,
        pid: i32,
        rss: u64,
        policy: &PssPolicy,
        status: &mut PssStatus,
        buf: &mut Vec<u8>,
        file: &File,
    ) {
        if rss > policy.max_rss_bytes {
            self.total = None;
            self.skipped = Some(format!(
                "RSS of process {pid} ({}) is above the {} cap for reading smaps_rollup",
                heapwise_words::bytes(rss),
                heapwise_words::bytes(policy.max_rss_bytes)
            ));
            return;
        }
        let started = Instant::now();
        let result = read_at_start(file, buf);
        let took = started.elapsed();
        self.took += took;
        match result {
            Ok(()) => {
                status.record_read(took);
                match parse_smaps_rollup_pss(buf) {
                    Some(pss) => self.total = self.total.map(|t| t.saturating_add(pss)),
                    None => self.total = None,
                }
                if took > policy.max_read {
                    status.state = PssState::Stopped;
                    status.reason = Some(format!(
                        "reading /proc/{pid}/smaps_rollup took {:.1} ms (limit {} ms): PSS is no longer read, so as not to stall the process",
                        took.as_secs_f64() * 1000.0,
                        policy.max_read.as_millis()
                    ));
                }
            }
            Err(err) => self.failed(pid, &err, status),
        }
    }

    /// A process's `smaps_rollup` could not be opened or read.
    fn failed(&mut self, pid: i32, err: &io::Error, status: &mut PssStatus) {
        self.total = None;
        // A process that exits between listing and reading just drops out.
        if !is_gone(err) {
            status.state = PssState::Unavailable;
            status.reason = Some(pss_unavailable(pid, err));
        }
    }

    /// The sample's PSS, and the status after this round (taken at `t_s`).
    fn finish(self, status: &mut PssStatus, t_s: f64) -> Option<u64> {
        if status.may_read() {
            if let Some(reason) = self.skipped {
                status.state = PssState::Skipped;
                status.reason = Some(reason);
            } else if self.took > std::time::Duration::ZERO {
                status.state = PssState::Sampled;
            }
        }
        let pss = match status.state {
            PssState::Sampled | PssState::Stopped => self.total,
            _ => None,
        };
        if pss.is_some() {
            status.last_bytes = pss;
            status.last_t_s = Some(t_s);
        }
        pss
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attach_rejects_bad_pids_with_sentences() {
        let err = Sampler::attach(0, SamplerOptions::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "0 is not a process ID (PIDs are positive numbers)"
        );
        let err = Sampler::attach(i64::from(i32::MAX), SamplerOptions::default()).unwrap_err();
        assert!(matches!(err, WatchError::NoSuchProcess(_)), "{err}");
        let err = Sampler::attach(1 << 40, SamplerOptions::default()).unwrap_err();
        assert!(matches!(err, WatchError::InvalidPid(_)));
    }

    #[test]
    fn samples_this_process() {
        let pid = i64::from(std::process::id());
        let mut sampler = Sampler::attach(pid, SamplerOptions::default()).unwrap();
        assert!(!sampler.target().name.is_empty());
        let before = sampler.sample(0.0).unwrap().unwrap();
        assert!(before.rss_bytes > 0);
        assert!(before.anon_bytes <= before.rss_bytes);
        assert_eq!(before.processes, 1);
        assert!(
            before
                .pss_bytes
                .is_some_and(|p| p > 0 && p <= before.rss_bytes)
        );
        assert_eq!(sampler.pss_status().state, PssState::Sampled);

        // Touch 32 MiB of anonymous memory: RssAnon grows by about that.
        let mut block = vec![0u8; 32 << 20];
        for page in block.chunks_mut(4096) {
            page[0] = 1;
        }
        let after = sampler.sample(1.0).unwrap().unwrap();
        let grew = after.anon_bytes as i64 - before.anon_bytes as i64;
        assert!(grew >= 30 << 20, "anon grew only {grew} bytes");
        std::hint::black_box(&block);
    }

    #[test]
    fn pss_cap_skips_and_says_why() {
        let pid = i64::from(std::process::id());
        let options = SamplerOptions {
            children: false,
            pss: PssPolicy {
                max_rss_bytes: 1,
                ..PssPolicy::default()
            },
        };
        let mut sampler = Sampler::attach(pid, options).unwrap();
        let sample = sampler.sample(0.0).unwrap().unwrap();
        assert_eq!(sample.pss_bytes, None);
        let status = sampler.pss_status();
        assert_eq!(status.state, PssState::Skipped);
        assert!(status.reason.as_deref().unwrap().contains("cap"));
        assert_eq!(status.reads, 0);
    }

    #[test]
    fn pss_stops_after_a_slow_read() {
        let pid = i64::from(std::process::id());
        let options = SamplerOptions {
            children: false,
            pss: PssPolicy {
                max_read: std::time::Duration::ZERO,
                ..PssPolicy::default()
            },
        };
        let mut sampler = Sampler::attach(pid, options).unwrap();
        let first = sampler.sample(0.0).unwrap().unwrap();
        assert!(first.pss_bytes.is_some(), "the slow read itself is used");
        assert_eq!(sampler.pss_status().state, PssState::Stopped);
        let second = sampler.sample(1.0).unwrap().unwrap();
        assert_eq!(second.pss_bytes, None);
        assert_eq!(sampler.pss_status().reads, 1);
    }

    #[test]
    fn pss_reads_keep_to_their_cpu_budget() {
        let pid = i64::from(std::process::id());
        let options = SamplerOptions {
            children: false,
            pss: PssPolicy {
                max_cpu_share: 1e-9,
                ..PssPolicy::default()
            },
        };
        let mut sampler = Sampler::attach(pid, options).unwrap();
        let first = sampler.sample(0.0).unwrap().unwrap();
        assert!(first.pss_bytes.is_some());
        // Any read takes far more than a nanosecond per second of watching.
        for t in 1..20 {
            let later = sampler.sample(f64::from(t)).unwrap().unwrap();
            assert_eq!(later.pss_bytes, None);
        }
        let status = sampler.pss_status();
        assert_eq!(status.state, PssState::Sampled);
        assert_eq!(status.reads, 1);
        assert_eq!(status.last_bytes, first.pss_bytes);
        assert_eq!(status.last_t_s, Some(0.0));
    }

    #[test]
    fn children_are_added_up_and_exit_is_seen() {
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & sleep 30 & wait"])
            .process_group(0)
            .spawn()
            .unwrap();
        let options = SamplerOptions {
            children: true,
            ..SamplerOptions::default()
        };
        let mut sampler = Sampler::attach(i64::from(child.id()), options).unwrap();
        let mut processes = 0;
        for i in 0..50 {
            let sample = sampler.sample(f64::from(i)).unwrap().unwrap();
            processes = sample.processes;
            if processes == 3 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(processes, 3);
        // Kill the whole group (the shell and its sleeps).
        // SAFETY: kill with a process group we created.
        unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(sampler.sample(60.0).unwrap(), None);
    }
}
