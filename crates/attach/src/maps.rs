//! `/proc/PID/maps`: what a process has mapped where.

use std::path::PathBuf;

/// One line of `/proc/PID/maps`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// Mapped with execute permission.
    pub executable: bool,
    /// Offset in the file of `start`.
    pub offset: u64,
    /// The file, for a file mapping (not `[stack]`, `[heap]`, ...).
    pub path: Option<PathBuf>,
    /// The file's inode number (0 for memory that is not a file's).
    pub inode: u64,
    /// The file was deleted (or replaced by another under its name) since
    /// it was mapped.
    pub deleted: bool,
}

/// The mappings of process `pid`, in address order.
pub fn mappings(pid: i32) -> std::io::Result<Vec<Mapping>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
    Ok(text.lines().filter_map(parse_line).collect())
}

/// `start-end perms offset dev inode [path]`.
fn parse_line(line: &str) -> Option<Mapping> {
    let mut fields = line.splitn(6, ' ');
    let range = fields.next()?;
    let perms = fields.next()?;
    let offset = u64::from_str_radix(fields.next()?, 16).ok()?;
    let _dev = fields.next()?;
    let inode = fields.next()?.parse().ok()?;
    let path = fields.next().map(str::trim).filter(|p| p.starts_with('/'));
    let deleted = path.is_some_and(|p| p.ends_with(" (deleted)"));
    let (start, end) = range.split_once('-')?;
    Some(Mapping {
        start: u64::from_str_radix(start, 16).ok()?,
        end: u64::from_str_radix(end, 16).ok()?,
        executable: perms.as_bytes().get(2) == Some(&b'x'),
        offset,
        // A deleted file keeps its old path with " (deleted)".
        path: path.map(|p| PathBuf::from(p.trim_end_matches(" (deleted)"))),
        inode,
        deleted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_every_kind_are_read() {
        let m = parse_line(
            "7f0c8a628000-7f0c8a7bd000 r-xp 00028000 fe:01 1048602                    /usr/lib/x86_64-linux-gnu/libc.so.6",
        )
        .unwrap();
        assert_eq!(m.start, 0x7f0c_8a62_8000);
        assert_eq!(m.end, 0x7f0c_8a7b_d000);
        assert!(m.executable);
        assert_eq!(m.offset, 0x28000);
        assert_eq!(
            m.path.unwrap(),
            PathBuf::from("/usr/lib/x86_64-linux-gnu/libc.so.6")
        );
        assert_eq!(m.inode, 1_048_602);
        assert!(!m.deleted);
        let gone = parse_line(
            "7f0c8a628000-7f0c8a7bd000 r-xp 00000000 fe:01 77 /opt/lib/libold.so (deleted)",
        )
        .unwrap();
        assert!(gone.deleted);
        assert_eq!(gone.path.unwrap(), PathBuf::from("/opt/lib/libold.so"));
        let stack = parse_line(
            "7ffd1c2e1000-7ffd1c302000 rw-p 00000000 00:00 0                          [stack]",
        )
        .unwrap();
        assert!(!stack.executable);
        assert_eq!(stack.path, None);
        let anon = parse_line("7f0c8a400000-7f0c8a421000 rw-p 00000000 00:00 0 ").unwrap();
        assert_eq!(anon.path, None);
        assert!(parse_line("garbage").is_none());
    }

    #[test]
    fn this_process_has_its_own_executable_mapped() {
        let maps = mappings(std::process::id() as i32).unwrap();
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        assert!(
            maps.iter()
                .any(|m| m.path.as_ref() == Some(&exe) && m.executable)
        );
    }
}
