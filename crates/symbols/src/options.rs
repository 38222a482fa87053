//! What a [`Symbolizer`](crate::Symbolizer) looks up and where it finds the
//! module files.

use std::path::{Path, PathBuf};

/// Options of a [`Symbolizer`](crate::Symbolizer).
///
/// Everything is looked up by default: demangled names, source locations and
/// inlined frames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Demangle C++ and Rust symbol names (`ns::Widget::make(int)` rather
    /// than `_ZN2ns6Widget4makeEi`).
    pub demangle: bool,
    /// Report the functions inlined at an address as frames of their own
    /// (needs `code_info` and DWARF).
    pub inlined: bool,
    /// Look up source file, line and column (needs DWARF).
    pub code_info: bool,
    /// The main executable's file, used for a module whose recorded path is
    /// empty (the dynamic loader does not name the main executable, so the
    /// tracer records it with an empty path; the trace header's `exe` is the
    /// usual value).
    pub exe_path: Option<PathBuf>,
    /// Where to find module files when the trace is analysed on another
    /// machine or in a container: the first rule whose prefix matches a
    /// recorded path rewrites it. Frames still name the recorded path.
    pub path_rewrites: Vec<PathRewrite>,
    /// Directories searched for separate debug files (`.gnu_debuglink`,
    /// `.build-id/xx/yyyy.debug`). `None`: the system's usual ones
    /// (`/usr/lib/debug`, `/lib/debug`).
    pub debug_dirs: Option<Vec<PathBuf>>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            demangle: true,
            inlined: true,
            code_info: true,
            exe_path: None,
            path_rewrites: Vec::new(),
            debug_dirs: None,
        }
    }
}

impl Options {
    /// The local file for a recorded module path, after the first matching
    /// [`PathRewrite`].
    pub fn local_path(&self, recorded: &Path) -> PathBuf {
        self.path_rewrites
            .iter()
            .find_map(|rule| rule.apply(recorded))
            .unwrap_or_else(|| recorded.to_path_buf())
    }
}

/// Replaces a leading path prefix: `/usr/lib` → `/mnt/target/usr/lib`.
///
/// Prefixes match whole components, so `/usr/lib` does not match
/// `/usr/lib64/libc.so.6`. A prefix of `/` maps a whole root file system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathRewrite {
    /// The prefix as recorded in the trace.
    pub from: PathBuf,
    /// What replaces it on this machine.
    pub to: PathBuf,
}

impl PathRewrite {
    /// A rule replacing the prefix `from` with `to`.
    pub fn new(from: impl Into<PathBuf>, to: impl Into<PathBuf>) -> PathRewrite {
        PathRewrite {
            from: from.into(),
            to: to.into(),
        }
    }

    /// `path` rewritten, or `None` if `from` is not a prefix of it.
    pub fn apply(&self, path: &Path) -> Option<PathBuf> {
        let rest = path.strip_prefix(&self.from).ok()?;
        if rest.as_os_str().is_empty() {
            Some(self.to.clone())
        } else {
            Some(self.to.join(rest))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_is_looked_up_by_default() {
        let options = Options::default();
        assert!(options.demangle && options.inlined && options.code_info);
        assert_eq!(options.exe_path, None);
    }

    #[test]
    fn a_rewrite_replaces_whole_leading_components() {
        let rule = PathRewrite::new("/usr/lib", "/mnt/target/usr/lib");
        assert_eq!(
            rule.apply(Path::new("/usr/lib/libfoo.so")),
            Some(PathBuf::from("/mnt/target/usr/lib/libfoo.so"))
        );
        assert_eq!(
            rule.apply(Path::new("/usr/lib")),
            Some(PathBuf::from("/mnt/target/usr/lib"))
        );
        assert_eq!(rule.apply(Path::new("/usr/lib64/libc.so.6")), None);
        assert_eq!(rule.apply(Path::new("/opt/lib/libfoo.so")), None);
    }

    #[test]
    fn a_root_rewrite_maps_a_whole_file_system() {
        let rule = PathRewrite::new("/", "/sysroot");
        assert_eq!(
            rule.apply(Path::new("/lib/x86_64-linux-gnu/libc.so.6")),
            Some(PathBuf::from("/sysroot/lib/x86_64-linux-gnu/libc.so.6"))
        );
        assert_eq!(rule.apply(Path::new("relative/libfoo.so")), None);
    }

    #[test]
    fn the_first_matching_rule_wins() {
        let options = Options {
            path_rewrites: vec![
                PathRewrite::new("/usr/lib/special", "/a"),
                PathRewrite::new("/usr/lib", "/b"),
            ],
            ..Options::default()
        };
        assert_eq!(
            options.local_path(Path::new("/usr/lib/special/x.so")),
            PathBuf::from("/a/x.so")
        );
        assert_eq!(
            options.local_path(Path::new("/usr/lib/y.so")),
            PathBuf::from("/b/y.so")
        );
        assert_eq!(
            options.local_path(Path::new("/opt/z.so")),
            PathBuf::from("/opt/z.so")
        );
    }
}
