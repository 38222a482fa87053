//! Which local file holds a recorded module, and whether it is still the
//! file the traced process mapped.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

use heapwise_trace::ModuleLoad;

use crate::Options;
use crate::Warning;

/// The name frames give a module: its recorded path, or for the main
/// executable (recorded with an empty path) the executable path given.
pub(crate) fn display_name(module: &ModuleLoad, options: &Options) -> String {
    match (&module.path[..], &options.exe_path) {
        ("", Some(exe)) => exe.to_string_lossy().into_owned(),
        (path, _) => path.to_string(),
    }
}

/// Whether the dynamic loader's name is that of the vDSO, which has no file.
pub(crate) fn is_vdso(path: &str) -> bool {
    path == "[vdso]"
        || (!path.contains('/')
            && (path.starts_with("linux-vdso") || path.starts_with("linux-gate")))
}

/// The file to symbolize `module` from, or why there is none (`None`: no
/// file and nothing to say, as for the vDSO).
pub(crate) fn locate(module: &ModuleLoad, options: &Options) -> Result<PathBuf, Option<Warning>> {
    if is_vdso(&module.path) {
        return Err(None);
    }
    let recorded: &Path = match (&module.path[..], &options.exe_path) {
        ("", Some(exe)) => exe,
        ("", None) => return Err(Some(Warning::NoExecutablePath)),
        (path, _) => Path::new(path),
    };
    let name = display_name(module, options);
    let file = options.local_path(recorded);
    match check_file(&file, &module.build_id) {
        Ok(()) => Ok(file),
        Err(problem) => Err(Some(problem.into_warning(name, file))),
    }
}

/// What is wrong with a module file.
#[derive(Debug, PartialEq)]
enum Problem {
    Missing,
    NotElf,
    Unreadable(String),
    Changed {
        found: Option<Vec<u8>>,
        recorded: Vec<u8>,
    },
}

impl Problem {
    fn into_warning(self, module: String, file: PathBuf) -> Warning {
        match self {
            Problem::Missing => Warning::Missing { module, file },
            Problem::NotElf => Warning::NotElf { module, file },
            Problem::Unreadable(reason) => Warning::Unreadable {
                module,
                file,
                reason,
            },
            Problem::Changed { found, recorded } => Warning::Changed {
                module,
                file,
                recorded,
                found,
            },
        }
    }
}

/// Checks that `file` exists, is ELF, and has the recorded build-id (when
/// one was recorded: without it a replaced file cannot be told apart).
fn check_file(file: &Path, recorded_build_id: &[u8]) -> Result<(), Problem> {
    let mut handle = File::open(file).map_err(|err| match err.kind() {
        ErrorKind::NotFound => Problem::Missing,
        _ => Problem::Unreadable(err.to_string()),
    })?;
    let mut magic = [0u8; 4];
    match handle.read_exact(&mut magic) {
        Ok(()) if magic == *b"\x7fELF" => {}
        Ok(()) => return Err(Problem::NotElf),
        Err(err) if err.kind() == ErrorKind::UnexpectedEof => return Err(Problem::NotElf),
        Err(err) => return Err(Problem::Unreadable(err.to_string())),
    }
    drop(handle);
    if recorded_build_id.is_empty() {
        return Ok(());
    }
    let found = blazesym::helper::read_elf_build_id(file)
        .map_err(|err| Problem::Unreadable(err.to_string()))?;
    match found {
        Some(found) if *found == *recorded_build_id => Ok(()),
        found => Err(Problem::Changed {
            found: found.map(|id| id.into_owned()),
            recorded: recorded_build_id.to_vec(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PathRewrite;

    fn module(path: &str) -> ModuleLoad {
        ModuleLoad {
            id: 1,
            ts: 0,
            base: 0,
            path: path.into(),
            build_id: vec![],
            segments: vec![],
        }
    }

    #[test]
    fn the_vdso_is_recognised_by_the_loader_names() {
        assert!(is_vdso("linux-vdso.so.1"));
        assert!(is_vdso("linux-gate.so.1"));
        assert!(is_vdso("[vdso]"));
        assert!(!is_vdso("/usr/lib/linux-vdso.so.1"));
        assert!(!is_vdso("/lib/x86_64-linux-gnu/libc.so.6"));
        assert_eq!(
            locate(&module("linux-vdso.so.1"), &Options::default()),
            Err(None)
        );
    }

    #[test]
    fn the_main_executable_needs_an_executable_path() {
        assert_eq!(
            locate(&module(""), &Options::default()),
            Err(Some(Warning::NoExecutablePath))
        );
        let options = Options {
            exe_path: Some("/nonexistent/heapwise-app".into()),
            ..Options::default()
        };
        assert_eq!(
            display_name(&module(""), &options),
            "/nonexistent/heapwise-app"
        );
        assert_eq!(
            locate(&module(""), &options),
            Err(Some(Warning::Missing {
                module: "/nonexistent/heapwise-app".into(),
                file: "/nonexistent/heapwise-app".into()
            }))
        );
    }

    #[test]
    fn a_rewritten_path_is_looked_for_but_the_recorded_one_is_named() {
        let options = Options {
            path_rewrites: vec![PathRewrite::new("/usr", "/nonexistent/root/usr")],
            ..Options::default()
        };
        assert_eq!(
            locate(&module("/usr/lib/libfoo.so"), &options),
            Err(Some(Warning::Missing {
                module: "/usr/lib/libfoo.so".into(),
                file: "/nonexistent/root/usr/lib/libfoo.so".into()
            }))
        );
    }

    #[test]
    fn files_that_are_not_elf_are_refused() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let text = dir.path().join("libtext.so");
        std::fs::write(&text, "not an ELF file\n")?;
        let empty = dir.path().join("libempty.so");
        std::fs::write(&empty, "")?;
        assert_eq!(check_file(&text, &[]), Err(Problem::NotElf));
        assert_eq!(check_file(&empty, &[]), Err(Problem::NotElf));
        assert!(matches!(
            check_file(dir.path(), &[]),
            Err(Problem::Unreadable(_))
        ));
        Ok(())
    }

    #[test]
    fn a_truncated_elf_file_is_unreadable_when_its_build_id_is_checked() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("libcut.so");
        std::fs::write(&file, b"\x7fELF\x02\x01\x01")?;
        assert_eq!(check_file(&file, &[]), Ok(()));
        assert!(matches!(
            check_file(&file, &[0xab; 20]),
            Err(Problem::Unreadable(_))
        ));
        Ok(())
    }
}
