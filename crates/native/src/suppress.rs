//! Suppressions: known leaks to ignore, by call stack, in the formats
//! valgrind and LeakSanitizer users already keep (`--suppressions FILE`).
//!
//! **valgrind** (`--gen-suppressions` writes these):
//!
//! ```text
//! {
//!    libfoo_cache
//!    Memcheck:Leak
//!    match-leak-kinds: definite,possible
//!    fun:malloc
//!    fun:foo_cache_*
//!    ...
//!    obj:/usr/lib/libfoo.so*
//! }
//! ```
//!
//! The name, then `Memcheck:Leak` (entries of other kinds — `Memcheck:Cond`,
//! other tools — are read and ignored), an optional `match-leak-kinds:`
//! (`definite`, `indirect`, `possible`, `reachable`, `all`, `none`), then
//! frames from the innermost: `fun:` a function, `obj:` a module's path,
//! `src:` a source file with an optional `:line`, `...` any number of
//! frames; `*` and `?` are wildcards. As in valgrind the frames must match
//! the start of the allocation's stack. heapwise's stacks start at the
//! function that called the allocator (malloc and `operator new` are
//! trimmed), so a first `fun:` or `obj:` naming an allocation function (or
//! valgrind's preload) stands for that trimmed frame, whichever allocation
//! function it names; an entry that does not start with one is also tried
//! from the first frame. Function names are compared demangled, as
//! heapwise prints them; a mangled name without wildcards (`_ZN3app4initEv`)
//! is demangled first.
//!
//! **LeakSanitizer**: lines `leak:PATTERN`; the pattern matches a leak if
//! it is found in the function name, the source file or the module of any
//! of its frames (`*` any characters, `^`/`$` anchor at the start/end).
//! Lines of other types (`called_from_lib:`, ASan's `interceptor_name:`,
//! ...) are valid in such files and ignored; `#` starts a comment.

use std::path::Path;
use std::sync::Arc;

use crate::model::{Frame, LeakKind};

/// A suppressions file, read.
#[derive(Clone, Debug, Default)]
pub struct SuppressionList {
    /// The file's path.
    pub path: String,
    /// The entries that apply to leaks.
    pub entries: Vec<Suppression>,
}

/// One suppression that applies to leaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suppression {
    /// valgrind's name line, or LSan's pattern.
    pub name: String,
    /// The leak kinds it applies to (`None`: all).
    kinds: Option<Vec<LeakKind>>,
    pattern: Pattern,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Pattern {
    /// valgrind's frames, innermost first.
    Frames(Vec<FramePattern>),
    /// LSan's `leak:` pattern.
    Anywhere(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum FramePattern {
    Fun(String),
    Obj(String),
    Src(String, Option<u32>),
    /// `...`: any number of frames.
    Any,
}

/// A suppressions file that cannot be used, in one sentence.
#[derive(Debug, thiserror::Error)]
pub enum SuppressionError {
    /// It cannot be read.
    #[error("cannot read the suppressions file {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A line is not valid.
    #[error("{path}, line {line}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// The names of allocation functions a valgrind stack starts with.
const ALLOCATORS: [&str; 21] = [
    "malloc",
    "calloc",
    "realloc",
    "reallocarray",
    "memalign",
    "posix_memalign",
    "aligned_alloc",
    "valloc",
    "pvalloc",
    "_Znwm",
    "_Znam",
    "_ZnwmRKSt9nothrow_t",
    "_ZnamRKSt9nothrow_t",
    "_ZnwmSt11align_val_t",
    "_ZnamSt11align_val_t",
    "operator new(unsigned long)",
    "operator new[](unsigned long)",
    "operator new(unsigned long, std::nothrow_t const&)",
    "operator new[](unsigned long, std::nothrow_t const&)",
    "operator new(unsigned long, std::align_val_t)",
    "operator new[](unsigned long, std::align_val_t)",
];

impl SuppressionList {
    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Result<SuppressionList, SuppressionError> {
        let shown = path.display().to_string();
        let text = std::fs::read(path).map_err(|e| SuppressionError::Read {
            path: shown.clone(),
            reason: plain(&e),
        })?;
        let text = String::from_utf8(text).map_err(|_| SuppressionError::Read {
            path: shown.clone(),
            reason: "it is not text (UTF-8)".into(),
        })?;
        SuppressionList::parse(&shown, &text)
    }

    /// Parses the text of a suppressions file named `path`.
    pub fn parse(path: &str, text: &str) -> Result<SuppressionList, SuppressionError> {
        let err = |line: usize, message: String| SuppressionError::Syntax {
            path: path.to_string(),
            line,
            message,
        };
        let mut list = SuppressionList {
            path: path.to_string(),
            entries: Vec::new(),
        };
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
        while let Some((number, line)) = lines.next() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line == "{" {
                if let Some(entry) = valgrind_entry(&mut lines, number, &err)? {
                    list.entries.push(entry);
                }
                continue;
            }
            let Some((kind, pattern)) = line.split_once(':') else {
                return Err(err(
                    number,
                    format!(
                        "{line:?} is neither a valgrind entry (which starts with a line holding only {{) nor a LeakSanitizer line (such as leak:function_name)"
                    ),
                ));
            };
            let kind = kind.trim();
            if !kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || kind.is_empty() {
                return Err(err(
                    number,
                    format!("{kind:?} is not a LeakSanitizer suppression type (such as leak)"),
                ));
            }
            let pattern = pattern.trim();
            if kind == "leak" {
                if pattern.is_empty() {
                    return Err(err(number, "leak: needs a pattern after it".into()));
                }
                list.entries.push(Suppression {
                    name: pattern.to_string(),
                    kinds: None,
                    pattern: Pattern::Anywhere(pattern.to_string()),
                });
            }
        }
        Ok(list)
    }

    /// The index of the first entry that suppresses a leak group with
    /// these frames and kind (`None`: not scanned, every kind).
    pub fn matching(&self, frames: &[Arc<Frame>], kind: Option<LeakKind>) -> Option<usize> {
        self.entries.iter().position(|s| s.matches(frames, kind))
    }
}

type Lines<'a> = dyn Iterator<Item = (usize, &'a str)> + 'a;

/// Reads a valgrind entry after its `{`; `None` for one that is not about
/// leaks.
fn valgrind_entry<'a>(
    lines: &mut Lines<'a>,
    opened: usize,
    err: &dyn Fn(usize, String) -> SuppressionError,
) -> Result<Option<Suppression>, SuppressionError> {
    let mut body: Vec<(usize, &str)> = Vec::new();
    let mut closed = false;
    for (number, line) in &mut *lines {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line == "}" {
            closed = true;
            break;
        }
        if line == "{" {
            return Err(err(
                number,
                format!(
                    "a new entry starts before the one opened on line {opened} is closed with }}"
                ),
            ));
        }
        body.push((number, line));
    }
    if !closed {
        return Err(err(
            opened,
            "this entry is never closed with a line holding only }".into(),
        ));
    }
    let mut body = body.into_iter();
    let Some((_, name)) = body.next() else {
        return Err(err(
            opened,
            "this entry is empty (a name, then e.g. Memcheck:Leak, then frames)".into(),
        ));
    };
    let Some((kind_line, kind)) = body.next() else {
        return Err(err(
            opened,
            format!("entry {name:?} has no kind line (such as Memcheck:Leak)"),
        ));
    };
    let Some((tools, what)) = kind.split_once(':') else {
        return Err(err(
            kind_line,
            format!("{kind:?} is not a kind line (tool:kind, such as Memcheck:Leak)"),
        ));
    };
    let about_leaks = what.trim() == "Leak" && tools.split(',').any(|t| t.trim() == "Memcheck");
    let mut kinds = None;
    let mut frames = Vec::new();
    for (number, line) in body {
        if let Some(list) = line.strip_prefix("match-leak-kinds:") {
            kinds = Some(leak_kinds(list).map_err(|m| err(number, m))?);
        } else if line == "..." {
            frames.push(FramePattern::Any);
        } else if let Some(f) = line.strip_prefix("fun:") {
            frames.push(FramePattern::Fun(f.trim().to_string()));
        } else if let Some(o) = line.strip_prefix("obj:") {
            frames.push(FramePattern::Obj(o.trim().to_string()));
        } else if let Some(s) = line.strip_prefix("src:") {
            let s = s.trim();
            let (file, line_no) = match s.rsplit_once(':') {
                Some((file, n)) if n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty() => {
                    (file.to_string(), n.parse().ok())
                }
                _ => (s.to_string(), None),
            };
            frames.push(FramePattern::Src(file, line_no));
        } else if about_leaks {
            return Err(err(
                number,
                format!(
                    "{line:?} is not a frame of entry {name:?} (fun:NAME, obj:PATH, src:FILE[:LINE] or ...)"
                ),
            ));
        }
    }
    if !about_leaks {
        return Ok(None);
    }
    if frames.is_empty() {
        return Err(err(
            opened,
            format!("entry {name:?} has no frames (fun:, obj:, src: or ... lines)"),
        ));
    }
    Ok(Some(Suppression {
        name: name.to_string(),
        kinds,
        pattern: Pattern::Frames(frames),
    }))
}

fn leak_kinds(list: &str) -> Result<Vec<LeakKind>, String> {
    let mut kinds = Vec::new();
    for word in list.split(',').map(str::trim) {
        match word {
            "definite" => kinds.push(LeakKind::DefinitelyLost),
            "indirect" => kinds.push(LeakKind::IndirectlyLost),
            "possible" => kinds.push(LeakKind::PossiblyLost),
            "reachable" => kinds.push(LeakKind::StillReachable),
            "all" => kinds.extend(LeakKind::ALL),
            "none" => {}
            _ => {
                return Err(format!(
                    "{word:?} is not a leak kind (definite, indirect, possible, reachable, all or none)"
                ));
            }
        }
    }
    Ok(kinds)
}

impl Suppression {
    fn matches(&self, frames: &[Arc<Frame>], kind: Option<LeakKind>) -> bool {
        if let (Some(kinds), Some(kind)) = (&self.kinds, kind)
            && !kinds.contains(&kind)
        {
            return false;
        }
        match &self.pattern {
            Pattern::Anywhere(pattern) => frames.iter().any(|f| {
                [
                    f.function.as_deref(),
                    f.file.as_deref(),
                    f.module.as_deref(),
                ]
                .into_iter()
                .flatten()
                .any(|text| lsan_match(pattern, text))
            }),
            Pattern::Frames(patterns) => {
                let allocator_first = match patterns.first() {
                    Some(FramePattern::Fun(name)) => ALLOCATORS.iter().any(|a| glob(name, a)),
                    Some(FramePattern::Obj(path)) => {
                        glob(
                            path,
                            "/usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so",
                        ) || glob(path, "/usr/lib/x86_64-linux-gnu/libc.so.6")
                            || glob(path, "/usr/lib/x86_64-linux-gnu/libstdc++.so.6")
                    }
                    _ => false,
                };
                (allocator_first && frames_match(&patterns[1..], frames))
                    || frames_match(patterns, frames)
            }
        }
    }
}

/// valgrind's frame matching: the patterns match the start of the stack;
/// `...` matches any number of frames.
fn frames_match(patterns: &[FramePattern], frames: &[Arc<Frame>]) -> bool {
    match patterns.split_first() {
        None => true,
        Some((FramePattern::Any, rest)) => {
            (0..=frames.len()).any(|skip| frames_match(rest, &frames[skip..]))
        }
        Some((pattern, rest)) => match frames.split_first() {
            Some((frame, more)) => frame_matches(pattern, frame) && frames_match(rest, more),
            None => false,
        },
    }
}

fn frame_matches(pattern: &FramePattern, frame: &Frame) -> bool {
    match pattern {
        FramePattern::Any => true,
        FramePattern::Fun(name) => frame
            .function
            .as_deref()
            .is_some_and(|f| function_matches(name, f)),
        FramePattern::Obj(path) => frame.module.as_deref().is_some_and(|m| glob(path, m)),
        FramePattern::Src(file, line) => {
            frame
                .file
                .as_deref()
                .is_some_and(|f| glob(file, f) || glob(file, f.rsplit('/').next().unwrap_or(f)))
                && line.is_none_or(|n| frame.line == Some(n))
        }
    }
}

/// A `fun:` pattern against a demangled name: as a glob, or demangled
/// first when it is a mangled name without wildcards, and in either case
/// also without the parameter lists (a name from debug information may
/// lack them).
fn function_matches(pattern: &str, function: &str) -> bool {
    if glob(pattern, function) {
        return true;
    }
    let demangled = if pattern.starts_with("_Z") && !pattern.contains(['*', '?']) {
        cpp_demangle::Symbol::new(pattern)
            .ok()
            .and_then(|s| s.demangle().ok())
    } else {
        None
    };
    let pattern = demangled.as_deref().unwrap_or(pattern);
    let bare = |s: &str| s.split('(').next().unwrap_or(s).trim().to_string();
    pattern == function || (!pattern.contains('*') && bare(pattern) == bare(function))
}

/// `*` any characters, `?` one; the whole of `text` must match.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// LeakSanitizer's `TemplateMatch`: `^` and `$` anchor, `*` is any
/// characters, otherwise the pattern may match anywhere in `text`.
fn lsan_match(pattern: &str, text: &str) -> bool {
    let anchored_start = pattern.starts_with('^');
    let anchored_end = pattern.ends_with('$') && pattern.len() > usize::from(anchored_start);
    let core = &pattern[usize::from(anchored_start)..pattern.len() - usize::from(anchored_end)];
    let full = format!(
        "{}{core}{}",
        if anchored_start { "" } else { "*" },
        if anchored_end { "" } else { "*" }
    );
    glob(&full, text)
}

fn plain(err: &std::io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(function: &str, file: &str, module: &str) -> Frame {
        Frame {
            function: Some(function.into()),
            file: Some(file.into()),
            line: Some(12),
            module: Some(module.into()),
            address: "0x1".into(),
            inlined: false,
        }
    }

    fn stack() -> Vec<Arc<Frame>> {
        [
            frame("cache_fill", "/src/cache.c", "/usr/lib/libcache.so.1"),
            frame("app::init(int)", "/src/app.cpp", "/usr/bin/app"),
            frame("main", "/src/main.c", "/usr/bin/app"),
        ]
        .into_iter()
        .map(Arc::new)
        .collect()
    }

    fn one(text: &str) -> SuppressionList {
        SuppressionList::parse("s.supp", text).unwrap()
    }

    #[test]
    fn a_generated_valgrind_entry_matches_from_its_malloc_frame() {
        let list = one(
            "# a comment\n{\n   cache\n   Memcheck:Leak\n   match-leak-kinds: definite\n   fun:malloc\n   fun:cache_fill\n   fun:_ZN3app4initEi\n   fun:main\n}\n",
        );
        assert_eq!(list.entries.len(), 1);
        assert_eq!(
            list.matching(&stack(), Some(LeakKind::DefinitelyLost)),
            Some(0)
        );
        assert_eq!(list.matching(&stack(), Some(LeakKind::PossiblyLost)), None);
        assert_eq!(
            list.matching(&stack(), None),
            Some(0),
            "not scanned: any kind"
        );
        assert_eq!(list.matching(&stack()[1..], None), None);
    }

    #[test]
    fn wildcards_ellipses_objects_and_source_lines() {
        let list = one(
            "{\n n\n Memcheck:Leak\n fun:*alloc\n ...\n obj:*/libcache.so*\n}\n{\n m\n Memcheck:Leak\n ...\n src:main.c:12\n}\n",
        );
        assert_eq!(list.matching(&stack(), None), Some(0));
        assert_eq!(list.matching(&stack()[1..], None), Some(1));
        let list = one("{\n n\n Memcheck:Leak\n fun:cache_?ill\n fun:app::*\n}\n");
        assert_eq!(
            list.matching(&stack(), None),
            Some(0),
            "tried from the first frame too"
        );
    }

    #[test]
    fn other_kinds_and_tools_are_read_and_ignored() {
        let list = one(
            "{\n cond\n Memcheck:Cond\n fun:strlen\n}\n{\n p\n Memcheck:Param\n write(buf)\n fun:write\n}\n{\n h\n Helgrind:Race\n fun:x\n}\ncalled_from_lib:libfoo.so\ninterceptor_name:memcpy\n",
        );
        assert!(list.entries.is_empty());
    }

    #[test]
    fn lsan_patterns_match_function_file_or_module_anywhere() {
        let list = one("leak:app::init\nleak:^cache_\nleak:libcache.so$\nleak:main.c\n");
        let names: Vec<&str> = list.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["app::init", "^cache_", "libcache.so$", "main.c"]);
        assert_eq!(list.matching(&stack(), None), Some(0));
        assert_eq!(list.matching(&stack()[2..], None), Some(3));
        assert!(!lsan_match("libcache.so$", "/usr/lib/libcache.so.1"));
        assert!(lsan_match("^cache_", "cache_fill"));
        assert!(!lsan_match("^fill", "cache_fill"));
    }

    #[test]
    fn bad_files_are_refused_with_the_line() {
        let bad = |text: &str| {
            SuppressionList::parse("s.supp", text)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            bad("{\n n\n Memcheck:Leak\n fun:x\n"),
            "s.supp, line 1: this entry is never closed with a line holding only }"
        );
        assert_eq!(
            bad("{\n n\n Memcheck:Leak\n}\n"),
            "s.supp, line 1: entry \"n\" has no frames (fun:, obj:, src: or ... lines)"
        );
        assert_eq!(
            bad("{\n n\n Memcheck:Leak\n match-leak-kinds: sometimes\n fun:x\n}\n"),
            "s.supp, line 4: \"sometimes\" is not a leak kind (definite, indirect, possible, reachable, all or none)"
        );
        assert_eq!(
            bad("{\n n\n Memcheck:Leak\n fun:x\n frame x\n}\n"),
            "s.supp, line 5: \"frame x\" is not a frame of entry \"n\" (fun:NAME, obj:PATH, src:FILE[:LINE] or ...)"
        );
        assert!(bad("hello world\n").starts_with("s.supp, line 1: \"hello world\" is neither"));
        assert_eq!(
            bad("leak:\n"),
            "s.supp, line 1: leak: needs a pattern after it"
        );
        let missing = SuppressionList::read(Path::new("/nonexistent/leaks.supp")).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "cannot read the suppressions file /nonexistent/leaks.supp: No such file or directory"
        );
    }

    #[test]
    fn globs() {
        assert!(glob("a*c", "abbbc"));
        assert!(glob("*", ""));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "ac"));
        assert!(glob("*lib*.so*", "/usr/lib/libc.so.6"));
        assert!(!glob("malloc", "xmalloc"));
    }
}
