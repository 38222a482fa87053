//! `/proc/PID/maps`: what the process has mapped, with the permissions and
//! names the root set is decided from.

/// One line of `/proc/PID/maps`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// Readable.
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// Executable.
    pub exec: bool,
    /// Shared (`s`) rather than private.
    pub shared: bool,
    /// The file's inode (0 for anonymous memory).
    pub inode: u64,
    /// What the kernel names it: a file's path, `[heap]`, `[stack]`,
    /// `[vvar]`, ... ; empty for anonymous memory.
    pub name: String,
}

impl Mapping {
    /// Whether a file is mapped here (not anonymous memory nor a
    /// pseudo-mapping like `[heap]`).
    pub fn is_file(&self) -> bool {
        self.inode != 0 && self.name.starts_with('/')
    }

    /// Whether it holds `address`.
    pub fn contains(&self, address: u64) -> bool {
        (self.start..self.end).contains(&address)
    }

    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether it is empty (never, for a line the kernel wrote).
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// The file name of its path (`libc.so.6`), empty for anonymous memory.
    pub fn file_name(&self) -> &str {
        if self.is_file() {
            self.name.rsplit('/').next().unwrap_or("")
        } else {
            ""
        }
    }

    /// A device file other than `/dev/zero` (valgrind leaves those alone:
    /// reading one may have side effects or hang).
    pub fn is_device(&self) -> bool {
        self.name.starts_with("/dev/")
            && !self.name.starts_with("/dev/shm/")
            && self.name != "/dev/zero"
            && !self.name.starts_with("/dev/zero ")
    }
}

/// The mappings of process `pid`, in address order.
pub fn read(pid: u32) -> std::io::Result<Vec<Mapping>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
    Ok(parse(&text))
}

/// Parses the text of a maps file (lines that are not mappings are
/// skipped).
pub fn parse(text: &str) -> Vec<Mapping> {
    text.lines().filter_map(parse_line).collect()
}

/// `start-end perms offset dev inode [name]`.
fn parse_line(line: &str) -> Option<Mapping> {
    let mut fields = line.splitn(6, ' ');
    let (start, end) = fields.next()?.split_once('-')?;
    let perms = fields.next()?.as_bytes();
    let _offset = fields.next()?;
    let _dev = fields.next()?;
    let inode = fields.next()?.parse().ok()?;
    let name = fields.next().map_or("", str::trim).to_string();
    if perms.len() < 4 {
        return None;
    }
    Some(Mapping {
        start: u64::from_str_radix(start, 16).ok()?,
        end: u64::from_str_radix(end, 16).ok()?,
        read: perms[0] == b'r',
        write: perms[1] == b'w',
        exec: perms[2] == b'x',
        shared: perms[3] == b's',
        inode,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_anonymous_memory_and_pseudo_mappings_are_read() {
        let maps = parse(
            "55d0c0a00000-55d0c0a21000 rw-p 00000000 00:00 0                          [heap]\n\
             7f0c8a7bd000-7f0c8a7c1000 rw-p 001c2000 fe:01 1048602                    /usr/lib/x86_64-linux-gnu/libc.so.6\n\
             7f0c8a7c1000-7f0c8a7cd000 rw-p 00000000 00:00 0 \n\
             7f0c8a7cd000-7f0c8a7ce000 rw-s 00000000 00:1a 77 /dev/shm/heapwise-1-2.spill (deleted)\n\
             7ffd1a2f0000-7ffd1a311000 rw-p 00000000 00:00 0                          [stack]\n\
             ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n",
        );
        assert_eq!(maps.len(), 6);
        assert_eq!(maps[0].name, "[heap]");
        assert!(!maps[0].is_file());
        assert!(maps[1].is_file() && maps[1].write && !maps[1].exec);
        assert_eq!(maps[1].file_name(), "libc.so.6");
        assert_eq!(maps[2].name, "");
        assert_eq!(maps[2].len(), 0xc000);
        assert!(maps[3].shared && !maps[3].is_device());
        assert!(maps[5].exec && !maps[5].read);
        assert_eq!(maps[5].end, 0xffff_ffff_ff60_1000);
    }

    #[test]
    fn devices_are_told_from_dev_zero_and_shared_memory() {
        let device = |name: &str| Mapping {
            start: 0,
            end: 4096,
            read: true,
            write: true,
            exec: false,
            shared: true,
            inode: 5,
            name: name.into(),
        };
        assert!(device("/dev/dri/card0").is_device());
        assert!(!device("/dev/zero (deleted)").is_device());
        assert!(!device("/dev/shm/x").is_device());
        assert!(!device("/home/a").is_device());
    }
}
