//! Small parsers for the few `/proc` files `watch` reads.
//!
//! Why not the `procfs` crate: we read five small line-oriented files
//! (`status`, `statm`, `smaps_rollup`, `meminfo`, `cmdline`) plus cgroup
//! files the crate does not cover. Hand-written parsers over a reused buffer
//! read them with one `pread` each and no allocation per sample, let us time
//! the `smaps_rollup` read ourselves (the cost rule in [`crate::PssPolicy`]),
//! and keep an open file descriptor per file, so a recycled PID can never be
//! mistaken for the watched process. `procfs` would parse every field of
//! every file into owned structures and bring a dozen dependencies for about
//! 150 lines of code here.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Reads the whole of a `/proc` or cgroup file from offset 0 into `buf`.
///
/// `pread` at offset 0 makes the kernel regenerate the file, so the same
/// descriptor can be read at every sample.
pub(crate) fn read_at_start(file: &File, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        let n = file.read_at(&mut chunk, buf.len() as u64)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The `key:   value unit` lines of `status`, `smaps_rollup` and `meminfo`.
fn fields(text: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    text.split(|&b| b == b'\n').filter_map(|line| {
        let colon = line.iter().position(|&b| b == b':')?;
        Some((&line[..colon], line[colon + 1..].trim_ascii()))
    })
}

/// Parses `1234 kB` (or a bare number) into bytes.
fn kib_value(value: &[u8]) -> Option<u64> {
    let mut parts = value
        .split(|b| b.is_ascii_whitespace())
        .filter(|p| !p.is_empty());
    let number: u64 = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
    match parts.next() {
        Some(b"kB") => number.checked_mul(1024),
        None => Some(number),
        Some(_) => None,
    }
}

/// What `watch` uses from `/proc/PID/status`, in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcStatus {
    /// The process name (`Name:`), as the kernel escapes it.
    pub name: String,
    /// First letter of `State:` (`R`, `S`, `D`, `Z`, `X`, ...).
    pub state: Option<u8>,
    /// `VmRSS`: resident set size. Absent for zombies and kernel threads.
    pub rss: Option<u64>,
    /// `RssAnon`: resident anonymous memory (Linux 4.5+).
    pub rss_anon: Option<u64>,
    /// `RssFile`: resident file-backed memory.
    pub rss_file: Option<u64>,
    /// `RssShmem`: resident shared memory (shmem, tmpfs, shared anonymous).
    pub rss_shmem: Option<u64>,
    /// `VmSwap`: swapped-out anonymous memory.
    pub swap: Option<u64>,
    /// `VmHWM`: peak resident set size since the process started.
    pub hwm: Option<u64>,
    /// `VmSize`: virtual memory size.
    pub vm_size: Option<u64>,
    /// `Kthread: 1` (Linux 6.0+), or no `VmRSS` while not a zombie.
    pub kernel_thread: bool,
}

impl ProcStatus {
    /// A zombie (`Z`) or dead (`X`) process: it has no memory left to watch.
    pub fn is_gone(&self) -> bool {
        matches!(self.state, Some(b'Z' | b'X'))
    }
}

/// Parses `/proc/PID/status`.
pub fn parse_status(text: &[u8]) -> ProcStatus {
    let mut status = ProcStatus::default();
    for (key, value) in fields(text) {
        match key {
            b"Name" => status.name = String::from_utf8_lossy(value).into_owned(),
            b"State" => status.state = value.first().copied(),
            b"VmRSS" => status.rss = kib_value(value),
            b"RssAnon" => status.rss_anon = kib_value(value),
            b"RssFile" => status.rss_file = kib_value(value),
            b"RssShmem" => status.rss_shmem = kib_value(value),
            b"VmSwap" => status.swap = kib_value(value),
            b"VmHWM" => status.hwm = kib_value(value),
            b"VmSize" => status.vm_size = kib_value(value),
            b"Kthread" => status.kernel_thread = value == b"1",
            _ => {}
        }
    }
    if status.rss.is_none() && !status.is_gone() && status.state.is_some() {
        status.kernel_thread = true;
    }
    status
}

/// `/proc/PID/statm`, converted from pages to bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Statm {
    /// Virtual memory size.
    pub size: u64,
    /// Resident set size.
    pub resident: u64,
    /// Resident file-backed and shared memory (`RssFile + RssShmem`).
    pub shared: u64,
    /// Data and stack.
    pub data: u64,
}

impl Statm {
    /// Resident anonymous memory as `statm` sees it: resident minus shared.
    /// Used where `status` has no `RssAnon` (kernels before 4.5).
    pub fn anon(&self) -> u64 {
        self.resident.saturating_sub(self.shared)
    }
}

/// Parses `/proc/PID/statm` (`size resident shared text lib data dt`, pages).
pub fn parse_statm(text: &[u8], page_size: u64) -> Option<Statm> {
    let mut numbers = text
        .split(|b| b.is_ascii_whitespace())
        .filter(|p| !p.is_empty())
        .map(|p| std::str::from_utf8(p).ok()?.parse::<u64>().ok());
    let size = numbers.next()??;
    let resident = numbers.next()??;
    let shared = numbers.next()??;
    let _text = numbers.next()??;
    let _lib = numbers.next()??;
    let data = numbers.next()??;
    Some(Statm {
        size: size.saturating_mul(page_size),
        resident: resident.saturating_mul(page_size),
        shared: shared.saturating_mul(page_size),
        data: data.saturating_mul(page_size),
    })
}

/// Proportional set size from `/proc/PID/smaps_rollup`, bytes.
pub fn parse_smaps_rollup_pss(text: &[u8]) -> Option<u64> {
    fields(text)
        .find(|(key, _)| *key == b"Pss")
        .and_then(|(_, value)| kib_value(value))
}

/// `MemTotal` from `/proc/meminfo`, bytes.
pub fn parse_meminfo_total(text: &[u8]) -> Option<u64> {
    fields(text)
        .find(|(key, _)| *key == b"MemTotal")
        .and_then(|(_, value)| kib_value(value))
}

/// The parent PID from `/proc/PID/stat` (the name in parentheses may itself
/// contain spaces and parentheses, so fields are counted after the last `)`).
pub fn parse_stat_ppid(text: &[u8]) -> Option<i32> {
    let close = text.iter().rposition(|&b| b == b')')?;
    let mut rest = text[close + 1..]
        .split(|b| b.is_ascii_whitespace())
        .filter(|p| !p.is_empty());
    let _state = rest.next()?;
    std::str::from_utf8(rest.next()?).ok()?.parse().ok()
}

/// `/proc/PID/cmdline` as arguments (NUL-separated, lossily decoded).
pub fn parse_cmdline(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|&b| b == 0)
        .filter(|arg| !arg.is_empty())
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect()
}

/// The system page size in bytes.
pub fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 { size as u64 } else { 4096 }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &[u8] = b"Name:\tmy server\nUmask:\t0022\nState:\tS (sleeping)\nVmPeak:\t    3776 kB\n\
VmSize:\t    3760 kB\nVmHWM:\t    2128 kB\nVmRSS:\t    2120 kB\nRssAnon:\t     148 kB\n\
RssFile:\t    1972 kB\nRssShmem:\t       0 kB\nVmData:\t     292 kB\nVmSwap:\t      12 kB\nThreads:\t1\n";

    #[test]
    fn status_fields_are_bytes() {
        let s = parse_status(STATUS);
        assert_eq!(s.name, "my server");
        assert_eq!(s.state, Some(b'S'));
        assert_eq!(s.rss, Some(2120 * 1024));
        assert_eq!(s.rss_anon, Some(148 * 1024));
        assert_eq!(s.rss_file, Some(1972 * 1024));
        assert_eq!(s.rss_shmem, Some(0));
        assert_eq!(s.swap, Some(12 * 1024));
        assert_eq!(s.hwm, Some(2128 * 1024));
        assert_eq!(s.vm_size, Some(3760 * 1024));
        assert!(!s.kernel_thread && !s.is_gone());
    }

    #[test]
    fn zombies_and_kernel_threads_are_told_apart() {
        let zombie = parse_status(b"Name:\tsleep\nState:\tZ (zombie)\nThreads:\t1\n");
        assert!(zombie.is_gone());
        assert!(!zombie.kernel_thread);
        assert_eq!(zombie.rss, None);
        let kthread = parse_status(b"Name:\tkworker/0:1\nState:\tI (idle)\nKthread:\t1\n");
        assert!(kthread.kernel_thread);
        let old_kthread = parse_status(b"Name:\tkswapd0\nState:\tS (sleeping)\n");
        assert!(old_kthread.kernel_thread);
    }

    #[test]
    fn malformed_lines_are_unknown_not_zero() {
        let s = parse_status(b"VmRSS:\tlots kB\nRssAnon:\t12 MB\nVmSwap\n\xff\xfe:\x00\n");
        assert_eq!(s.rss, None);
        assert_eq!(s.rss_anon, None);
        assert_eq!(s.swap, None);
        assert_eq!(parse_status(b""), ProcStatus::default());
    }

    #[test]
    fn statm_is_in_pages() {
        let m = parse_statm(b"765 418 390 5 0 123 0\n", 4096).unwrap();
        assert_eq!(m.size, 765 * 4096);
        assert_eq!(m.resident, 418 * 4096);
        assert_eq!(m.shared, 390 * 4096);
        assert_eq!(m.data, 123 * 4096);
        assert_eq!(m.anon(), 28 * 4096);
        assert_eq!(parse_statm(b"1 2 3", 4096), None);
        assert_eq!(parse_statm(b"", 4096), None);
    }

    #[test]
    fn rollup_meminfo_stat_and_cmdline() {
        let rollup = b"55a0-7ffc ---p 00000000 00:00 0    [rollup]\nRss:   1764 kB\nPss:    593 kB\nPss_Anon:   112 kB\n";
        assert_eq!(parse_smaps_rollup_pss(rollup), Some(593 * 1024));
        assert_eq!(parse_smaps_rollup_pss(b""), None);
        assert_eq!(
            parse_meminfo_total(b"MemTotal:       24684084 kB\nMemFree:  1 kB\n"),
            Some(24684084 * 1024)
        );
        assert_eq!(parse_stat_ppid(b"42 (a (b) c) S 7 42 42 0"), Some(7));
        assert_eq!(parse_stat_ppid(b"42 (x"), None);
        assert_eq!(
            parse_cmdline(b"./server\0--port\08080\0"),
            vec!["./server", "--port", "8080"]
        );
        assert!(parse_cmdline(b"").is_empty());
    }

    #[test]
    fn the_same_descriptor_reads_fresh_content() {
        let file = File::open("/proc/self/statm").unwrap();
        let mut buf = Vec::new();
        read_at_start(&file, &mut buf).unwrap();
        assert!(parse_statm(&buf, page_size()).is_some());
        read_at_start(&file, &mut buf).unwrap();
        assert!(parse_statm(&buf, page_size()).is_some());
    }
}
