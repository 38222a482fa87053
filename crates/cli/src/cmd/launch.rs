//! Checks made before a program is started under the preload: where the
//! preload is, what the command resolves to, and whether the dynamic loader
//! will load the preload into it at all.

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// The preload library's file name.
pub const PRELOAD_NAME: &str = "libheapwise_preload.so";

/// Finds `libheapwise_preload.so`: `$HEAPWISE_PRELOAD`, else beside the
/// `heapwise` executable, else in `../lib/heapwise/` or `../lib/` from it.
pub fn locate_preload() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("HEAPWISE_PRELOAD") {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(std::fs::canonicalize(&path).unwrap_or(path));
        }
        bail!(
            "HEAPWISE_PRELOAD names {}, which does not exist",
            path.display()
        );
    }
    let exe = std::env::current_exe()?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    let candidates = [
        dir.join(PRELOAD_NAME),
        dir.join("../lib/heapwise").join(PRELOAD_NAME),
        dir.join("../lib").join(PRELOAD_NAME),
    ];
    for candidate in &candidates {
        if candidate.is_file() {
            return Ok(std::fs::canonicalize(candidate).unwrap_or_else(|_| candidate.clone()));
        }
    }
    bail!(
        "cannot find {PRELOAD_NAME} (looked in {}); build it with `cargo build --release --workspace` or set HEAPWISE_PRELOAD",
        candidates
            .iter()
            .map(|c| c.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Resolves `command` the way `execvp` would.
pub fn resolve_command(command: &OsStr) -> Result<PathBuf> {
    let as_path = Path::new(command);
    if command.as_encoded_bytes().contains(&b'/') {
        if !as_path.exists() {
            bail!("cannot run {}: no such file", as_path.display());
        }
        return Ok(as_path.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(command);
        if candidate.is_file() && is_executable(&candidate) {
            return Ok(candidate);
        }
    }
    bail!("cannot run {}: command not found", as_path.display())
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

/// What the loader will do with a program file.
#[derive(Debug, PartialEq, Eq)]
pub enum Linkage {
    /// Has an interpreter: LD_PRELOAD applies.
    Dynamic,
    /// No `PT_INTERP`: nothing is preloaded.
    Static,
    /// A `#!` script: the interpreter (checked in turn) is what runs.
    Script(PathBuf),
    /// Not an ELF file or script that we can tell anything about.
    Unknown,
}

/// Reads the program's ELF headers to tell whether the dynamic loader will
/// run (and so whether LD_PRELOAD can reach it).
pub fn linkage(path: &Path) -> Result<Linkage> {
    let mut file = std::fs::File::open(path)
        .map_err(|e| anyhow::anyhow!("cannot run {}: {e}", path.display()))?;
    let mut head = vec![0u8; 4096];
    let n = read_up_to(&mut file, &mut head)?;
    head.truncate(n);
    if head.starts_with(b"#!") {
        let line = head[2..].split(|&b| b == b'\n').next().unwrap_or_default();
        let text = String::from_utf8_lossy(line);
        let interpreter = text.split_whitespace().next().unwrap_or_default();
        return Ok(if interpreter.is_empty() {
            Linkage::Unknown
        } else {
            Linkage::Script(PathBuf::from(interpreter))
        });
    }
    if head.len() < 64 || &head[..4] != b"\x7fELF" || head[4] != 2 || head[5] != 1 {
        return Ok(Linkage::Unknown);
    }
    let u16_at = |at: usize| u16::from_le_bytes([head[at], head[at + 1]]) as u64;
    let u64_at =
        |buf: &[u8], at: usize| u64::from_le_bytes(buf[at..at + 8].try_into().unwrap_or_default());
    let phoff = u64_at(&head, 32);
    let phentsize = u16_at(54);
    let phnum = u16_at(56);
    if phentsize < 56 || phnum == 0 {
        return Ok(Linkage::Unknown);
    }
    let table_len = (phentsize * phnum) as usize;
    let mut table = vec![0u8; table_len];
    use std::io::{Seek, SeekFrom};
    file.seek(SeekFrom::Start(phoff))?;
    if read_up_to(&mut file, &mut table)? < table_len {
        return Ok(Linkage::Unknown);
    }
    const PT_INTERP: u32 = 3;
    let has_interp = (0..phnum as usize).any(|i| {
        let at = i * phentsize as usize;
        u32::from_le_bytes(table[at..at + 4].try_into().unwrap_or_default()) == PT_INTERP
    });
    Ok(if has_interp {
        Linkage::Dynamic
    } else {
        Linkage::Static
    })
}

fn read_up_to(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read(&mut buf[done..])? {
            0 => break,
            n => done += n,
        }
    }
    Ok(done)
}

/// Fails with a clear sentence when LD_PRELOAD cannot reach `program`.
pub fn check_traceable(program: &Path) -> Result<()> {
    let mut current = program.to_path_buf();
    for _ in 0..4 {
        match linkage(&current)? {
            Linkage::Dynamic | Linkage::Unknown => break,
            Linkage::Static => bail!(
                "{} is statically linked: LD_PRELOAD cannot reach its allocations, so heapwise cannot trace it (rebuild it dynamically linked, or use `heapwise watch` to follow its memory from outside)",
                current.display()
            ),
            Linkage::Script(interpreter) => current = interpreter,
        }
    }
    let meta = std::fs::metadata(program)?;
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if meta.permissions().mode() & 0o6000 != 0 && !root {
        bail!(
            "{} is set-user-ID or set-group-ID: the loader ignores LD_PRELOAD for it, so heapwise cannot trace it",
            program.display()
        );
    }
    Ok(())
}

/// `name` with every character but ASCII letters, digits, `-` and `_`
/// replaced by `_`, for the default trace names.
pub fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shell_is_dynamic_and_a_script_names_its_interpreter() {
        assert_eq!(linkage(Path::new("/bin/sh")).unwrap(), Linkage::Dynamic);
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("s");
        std::fs::write(&script, "#!/bin/sh -e\necho hi\n").unwrap();
        assert_eq!(
            linkage(&script).unwrap(),
            Linkage::Script(PathBuf::from("/bin/sh"))
        );
        let text = dir.path().join("t");
        std::fs::write(&text, "hello").unwrap();
        assert_eq!(linkage(&text).unwrap(), Linkage::Unknown);
    }

    #[test]
    fn commands_resolve_through_path_or_fail_clearly() {
        assert!(resolve_command(OsStr::new("sh")).unwrap().ends_with("sh"));
        let err = resolve_command(OsStr::new("no-such-command-heapwise")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot run no-such-command-heapwise: command not found"
        );
    }
}
