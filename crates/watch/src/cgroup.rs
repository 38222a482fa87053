//! The memory cgroup of the watched process: usage, the limit that applies,
//! anonymous vs file memory, and OOM events.
//!
//! cgroup v2 first (`memory.current`, `memory.max` — the lowest one from the
//! process's cgroup up to the root, since any of them can OOM-kill it —
//! `memory.stat`, `memory.events`). Hosts that still mount the memory
//! controller as cgroup v1 ("hybrid" layouts, many CI and container hosts)
//! get the v1 equivalents: `memory.usage_in_bytes`, `hierarchical_memory_limit`
//! and `total_rss`/`total_cache` from `memory.stat`, `oom_kill` from
//! `memory.oom_control`.

use std::fs::File;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::procfs::read_at_start;

/// Limits at or above this are "no limit" (cgroup v1 reports
/// `PAGE_COUNTER_MAX` pages, about 2^63 bytes).
const UNLIMITED: u64 = 1 << 62;

/// Which memory cgroup the process is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupInfo {
    /// 2 for the unified hierarchy, 1 for the legacy memory controller.
    pub version: u8,
    /// The cgroup path as `/proc/PID/cgroup` names it.
    pub path: String,
    /// The directory read, under the cgroup file system's mount point.
    pub dir: PathBuf,
}

/// One reading of the cgroup's memory files. Each field is `None` when its
/// file is missing or unreadable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupSample {
    /// Memory charged to the cgroup (`memory.current`; v1 `memory.usage_in_bytes`).
    pub current_bytes: Option<u64>,
    /// The lowest memory limit from this cgroup up to the root; `None` when
    /// no level sets one.
    pub limit_bytes: Option<u64>,
    /// Anonymous memory of the cgroup (`anon`; v1 `total_rss`).
    pub anon_bytes: Option<u64>,
    /// Page cache of the cgroup (`file`; v1 `total_cache`).
    pub file_bytes: Option<u64>,
    /// Times the cgroup hit its limit and the OOM killer was invoked
    /// (`memory.events` `oom`; not available on v1).
    pub oom: Option<u64>,
    /// Processes in the cgroup killed by the OOM killer (`oom_kill`).
    pub oom_kill: Option<u64>,
}

/// Reads one process's memory cgroup, keeping the files open.
#[derive(Debug)]
pub(crate) struct CgroupReader {
    info: CgroupInfo,
    current: Option<File>,
    stat: Option<File>,
    events: Option<File>,
    /// v2: `memory.max` of the cgroup and of every ancestor that has one.
    limits: Vec<File>,
    buf: Vec<u8>,
}

impl CgroupReader {
    /// Finds the memory cgroup of a process from its `/proc/PID/cgroup`
    /// text and the reader's `/proc/self/mountinfo` text. `None` when the
    /// process is in no memory cgroup we can read (for example the v2 root,
    /// which has no `memory.current`).
    pub(crate) fn discover(proc_cgroup: &str, mountinfo: &str) -> Option<Self> {
        let mounts = parse_mountinfo(mountinfo);
        Self::discover_v2(proc_cgroup, &mounts).or_else(|| Self::discover_v1(proc_cgroup, &mounts))
    }

    fn discover_v2(proc_cgroup: &str, mounts: &[Mount]) -> Option<Self> {
        let path = proc_cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
        let mount = mounts.iter().find(|m| m.fstype == "cgroup2")?;
        let dir = mount.resolve(path)?;
        let current = File::open(dir.join("memory.current")).ok()?;
        let mut limits = Vec::new();
        let mut level = Some(dir.as_path());
        while let Some(at) = level {
            if let Ok(file) = File::open(at.join("memory.max")) {
                limits.push(file);
            }
            if at == mount.point {
                break;
            }
            level = at.parent().filter(|p| p.starts_with(&mount.point));
        }
        Some(Self {
            current: Some(current),
            stat: File::open(dir.join("memory.stat")).ok(),
            events: File::open(dir.join("memory.events")).ok(),
            limits,
            info: CgroupInfo {
                version: 2,
                path: path.to_owned(),
                dir,
            },
            buf: Vec::new(),
        })
    }

    fn discover_v1(proc_cgroup: &str, mounts: &[Mount]) -> Option<Self> {
        let path = proc_cgroup.lines().find_map(|line| {
            let mut parts = line.splitn(3, ':');
            let _id = parts.next()?;
            let controllers = parts.next()?;
            let path = parts.next()?;
            controllers
                .split(',')
                .any(|c| c == "memory")
                .then_some(path)
        })?;
        let mount = mounts
            .iter()
            .find(|m| m.fstype == "cgroup" && m.super_options.split(',').any(|o| o == "memory"))?;
        let dir = mount.resolve(path)?;
        let current = File::open(dir.join("memory.usage_in_bytes")).ok()?;
        Some(Self {
            current: Some(current),
            stat: File::open(dir.join("memory.stat")).ok(),
            events: File::open(dir.join("memory.oom_control")).ok(),
            limits: Vec::new(),
            info: CgroupInfo {
                version: 1,
                path: path.to_owned(),
                dir,
            },
            buf: Vec::new(),
        })
    }

    /// Which cgroup this reads.
    pub(crate) fn info(&self) -> &CgroupInfo {
        &self.info
    }

    /// Reads the cgroup's files now.
    pub(crate) fn sample(&mut self) -> CgroupSample {
        let mut sample = CgroupSample::default();
        if let Some(file) = &self.current
            && read_at_start(file, &mut self.buf).is_ok()
        {
            sample.current_bytes = parse_number(&self.buf);
        }
        let stat = match &self.stat {
            Some(file) if read_at_start(file, &mut self.buf).is_ok() => parse_keyed(&self.buf),
            _ => Vec::new(),
        };
        let get = |key: &str| stat.iter().find(|(k, _)| k == key).map(|(_, v)| *v);
        if self.info.version == 2 {
            sample.anon_bytes = get("anon");
            sample.file_bytes = get("file");
            let mut lowest: Option<u64> = None;
            for file in &self.limits {
                if read_at_start(file, &mut self.buf).is_ok()
                    && let Some(limit) = parse_number(&self.buf)
                {
                    lowest = Some(lowest.map_or(limit, |l| l.min(limit)));
                }
            }
            sample.limit_bytes = lowest.filter(|&l| l < UNLIMITED);
        } else {
            sample.anon_bytes = get("total_rss").or_else(|| get("rss"));
            sample.file_bytes = get("total_cache").or_else(|| get("cache"));
            sample.limit_bytes = get("hierarchical_memory_limit").filter(|&l| l < UNLIMITED);
        }
        if let Some(file) = &self.events
            && read_at_start(file, &mut self.buf).is_ok()
        {
            let events = parse_keyed(&self.buf);
            let get = |key: &str| events.iter().find(|(k, _)| k == key).map(|(_, v)| *v);
            if self.info.version == 2 {
                sample.oom = get("oom");
            }
            sample.oom_kill = get("oom_kill");
        }
        sample
    }
}

/// A single number (`memory.current`, `memory.max`); `max` and garbage are `None`.
fn parse_number(text: &[u8]) -> Option<u64> {
    std::str::from_utf8(text).ok()?.trim().parse().ok()
}

/// `key value` lines (`memory.stat`, `memory.events`, `memory.oom_control`).
fn parse_keyed(text: &[u8]) -> Vec<(String, u64)> {
    String::from_utf8_lossy(text)
        .lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(' ')?;
            Some((key.to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}

/// One line of `/proc/self/mountinfo`, the parts we need.
#[derive(Debug)]
struct Mount {
    /// The directory of the mounted file system that appears at `point`.
    root: String,
    point: PathBuf,
    fstype: String,
    super_options: String,
}

impl Mount {
    /// The directory of cgroup `path` under this mount, or `None` when the
    /// cgroup is outside what this mount shows.
    fn resolve(&self, path: &str) -> Option<PathBuf> {
        let relative = if self.root == "/" {
            path
        } else {
            let rest = path.strip_prefix(self.root.as_str())?;
            if !(rest.is_empty() || rest.starts_with('/')) {
                return None;
            }
            rest
        };
        let relative = relative.trim_start_matches('/');
        if relative.split('/').any(|part| part == "..") {
            return None;
        }
        Some(if relative.is_empty() {
            self.point.clone()
        } else {
            self.point.join(relative)
        })
    }
}

/// `ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER`
fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let mut right = right.split(' ');
            let fstype = right.next()?;
            let _source = right.next()?;
            let super_options = right.next().unwrap_or_default();
            Some(Mount {
                root: unescape(left.get(3)?),
                point: PathBuf::from(unescape(left.get(4)?)),
                fstype: fstype.to_owned(),
                super_options: super_options.to_owned(),
            })
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let value =
                (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(value);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn v2_takes_the_lowest_limit_up_the_hierarchy() {
        let root = tempfile::tempdir().unwrap();
        let mount = root.path().join("cg2");
        let parent = mount.join("system.slice");
        let leaf = parent.join("app.service");
        write(&mount, "cgroup.controllers", "memory\n");
        write(&parent, "memory.max", "536870912\n");
        write(&leaf, "memory.max", "max\n");
        write(&leaf, "memory.current", "123456789\n");
        write(
            &leaf,
            "memory.stat",
            "anon 100000000\nfile 20000000\nkernel 1000\n",
        );
        write(
            &leaf,
            "memory.events",
            "low 0\nhigh 0\nmax 4\noom 2\noom_kill 1\noom_group_kill 0\n",
        );
        let mountinfo = format!(
            "30 22 0:26 / {} rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
            mount.display()
        );
        let mut reader =
            CgroupReader::discover("0::/system.slice/app.service\n", &mountinfo).unwrap();
        assert_eq!(reader.info().version, 2);
        assert_eq!(reader.info().dir, leaf);
        let s = reader.sample();
        assert_eq!(s.current_bytes, Some(123456789));
        assert_eq!(s.limit_bytes, Some(536870912));
        assert_eq!(s.anon_bytes, Some(100000000));
        assert_eq!(s.file_bytes, Some(20000000));
        assert_eq!(s.oom, Some(2));
        assert_eq!(s.oom_kill, Some(1));

        // Raising the parent's limit is seen at the next sample.
        write(&parent, "memory.max", "max\n");
        assert_eq!(reader.sample().limit_bytes, None);
    }

    #[test]
    fn v2_root_without_memory_current_is_no_cgroup() {
        let root = tempfile::tempdir().unwrap();
        write(root.path(), "cgroup.controllers", "");
        let mountinfo = format!(
            "30 22 0:26 / {} rw - cgroup2 cgroup2 rw\n",
            root.path().display()
        );
        assert!(CgroupReader::discover("0::/\n", &mountinfo).is_none());
    }

    #[test]
    fn v1_memory_controller_on_a_hybrid_host() {
        let root = tempfile::tempdir().unwrap();
        let mount = root.path().join("memory");
        let leaf = mount.join("process_api/abc");
        write(&leaf, "memory.usage_in_bytes", "7254016\n");
        write(
            &leaf,
            "memory.stat",
            "cache 5382144\nrss 1871872\nhierarchical_memory_limit 9223372036854771712\ntotal_cache 6000000\ntotal_rss 2000000\n",
        );
        write(
            &leaf,
            "memory.oom_control",
            "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
        );
        let mountinfo = format!(
            "25 22 0:22 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n\
             26 22 0:23 / {} rw,relatime - cgroup cgroup rw,memory\n\
             35 22 0:30 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
            mount.display()
        );
        let cgroup = "9:name=systemd:/\n4:memory:/process_api/abc\n1:cpu:/\n0::/\n";
        let mut reader = CgroupReader::discover(cgroup, &mountinfo).unwrap();
        assert_eq!(reader.info().version, 1);
        let s = reader.sample();
        assert_eq!(s.current_bytes, Some(7254016));
        assert_eq!(s.limit_bytes, None, "PAGE_COUNTER_MAX means no limit");
        assert_eq!(s.anon_bytes, Some(2000000));
        assert_eq!(s.file_bytes, Some(6000000));
        assert_eq!(s.oom, None);
        assert_eq!(s.oom_kill, Some(3));

        write(
            &leaf,
            "memory.stat",
            "rss 1\ncache 2\nhierarchical_memory_limit 1073741824\n",
        );
        assert_eq!(reader.sample().limit_bytes, Some(1 << 30));
    }

    #[test]
    fn namespaced_mounts_and_escapes() {
        let m = parse_mountinfo(
            "40 30 0:26 /kube/pod1 /sys/fs/cgroup\\040x rw - cgroup2 cgroup2 rw\nnot a mount line\n",
        );
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].point, PathBuf::from("/sys/fs/cgroup x"));
        assert_eq!(
            m[0].resolve("/kube/pod1/ctr"),
            Some(PathBuf::from("/sys/fs/cgroup x/ctr"))
        );
        assert_eq!(m[0].resolve("/kube/pod10"), None);
        assert_eq!(m[0].resolve("/other"), None);
        assert_eq!(m[0].resolve("/kube/pod1/../../etc"), None);
        assert_eq!(parse_number(b"max\n"), None);
        assert_eq!(parse_number(b" 42\n"), Some(42));
    }

    #[test]
    fn this_process_cgroup_does_not_fail() {
        let cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        match CgroupReader::discover(&cgroup, &mountinfo) {
            Some(mut reader) => {
                let s = reader.sample();
                assert!(s.current_bytes.is_some_and(|c| c > 0));
            }
            // Said aloud rather than passing in silence: the parsers are
            // tested above on fixed text; this one needs a memory cgroup.
            None => eprintln!(
                "SKIPPED this_process_cgroup_does_not_fail: this process has no readable memory cgroup"
            ),
        }
    }
}
