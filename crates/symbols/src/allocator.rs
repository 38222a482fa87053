//! Allocators linked into an executable, which `LD_PRELOAD` cannot see.
//!
//! The preload records an allocation when the program calls the `malloc`
//! family through the dynamic linker. A program that brings its own
//! allocator never does, or does so only for part of what it allocates:
//!
//! - an executable that defines `malloc` itself (its own allocator, or a
//!   statically linked jemalloc, tcmalloc or mimalloc built to replace
//!   `malloc`): the dynamic linker binds every `malloc` call, libc's own
//!   included, to the executable's definition, which comes first in the
//!   lookup order, before any preloaded library;
//! - an executable that allocates through a statically linked allocator
//!   under other names, as a Rust program does with a `#[global_allocator]`
//!   (tikv-jemallocator's `_rjem_*`, mimalloc's `mi_*`) or a C++ program
//!   with tcmalloc's `tc_*`: what libc and other libraries allocate is
//!   still seen, the program's own allocations are not.
//!
//! [`linked_allocator`] finds both from the executable's symbol tables
//! (`.symtab` and `.dynsym`); a stripped executable keeps only `.dynsym`,
//! where an exported `malloc` still shows but a Rust program's prefixed
//! jemalloc does not.

use std::fmt;
use std::path::Path;

use blazesym::SymType;
use blazesym::inspect::Inspector;
use blazesym::inspect::source::{Elf, Source};

/// Which allocator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocatorKind {
    /// `malloc` defined in the executable, by none of the allocators below.
    OwnMalloc,
    /// jemalloc (`_rjem_*` as tikv-jemallocator builds it, `je_*`,
    /// `mallocx`).
    Jemalloc,
    /// mimalloc (`mi_*`).
    Mimalloc,
    /// tcmalloc (`tc_*`).
    Tcmalloc,
}

impl AllocatorKind {
    /// Its usual name: `jemalloc`, `mimalloc`, `tcmalloc`, or `its own
    /// malloc`.
    pub fn name(self) -> &'static str {
        match self {
            AllocatorKind::OwnMalloc => "its own malloc",
            AllocatorKind::Jemalloc => "jemalloc",
            AllocatorKind::Mimalloc => "mimalloc",
            AllocatorKind::Tcmalloc => "tcmalloc",
        }
    }
}

impl fmt::Display for AllocatorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An allocator found in an executable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkedAllocator {
    /// Which one.
    pub kind: AllocatorKind,
    /// Whether the executable defines `malloc` itself, so that no call of
    /// the `malloc` family reaches the preload (only the few functions it
    /// does not define, if any).
    pub replaces_malloc: bool,
    /// The defined function symbols that gave it away, in the order looked
    /// for.
    pub symbols: Vec<String>,
}

/// Why an executable could not be inspected.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the symbol tables of {path}: {message}")]
pub struct InspectError {
    /// The file.
    pub path: String,
    /// What went wrong.
    pub message: String,
}

/// The malloc family: any of these defined in the executable replaces the
/// system allocator for the whole process.
const MALLOC_FAMILY: [&str; 4] = ["malloc", "free", "calloc", "realloc"];

/// Function symbols that name an allocator, with it. Only functions the
/// allocator defines under that name; each allocator's internal symbols
/// would do as well but change between versions.
const MARKERS: [(&str, AllocatorKind); 11] = [
    ("_rjem_malloc", AllocatorKind::Jemalloc),
    ("_rjem_mallocx", AllocatorKind::Jemalloc),
    ("je_malloc", AllocatorKind::Jemalloc),
    ("je_mallocx", AllocatorKind::Jemalloc),
    ("mallocx", AllocatorKind::Jemalloc),
    ("mi_malloc", AllocatorKind::Mimalloc),
    ("mi_free", AllocatorKind::Mimalloc),
    ("tc_malloc", AllocatorKind::Tcmalloc),
    ("tc_free", AllocatorKind::Tcmalloc),
    ("tc_new", AllocatorKind::Tcmalloc),
    ("tc_calloc", AllocatorKind::Tcmalloc),
];

/// The file offset of the function `name` defined in the ELF file `path`
/// (its dynamic or static symbol table), `None` when it defines no such
/// function. What a process maps at that offset of the file is the
/// function's code: `heapwise attach` finds `dlopen` in the target's libc
/// this way.
pub fn function_file_offset(path: &Path, name: &str) -> Result<Option<u64>, InspectError> {
    let mut elf = Elf::new(path);
    elf.debug_syms = false;
    let inspector = Inspector::new();
    let found = inspector
        .lookup(&Source::Elf(elf), &[name])
        .map_err(|err| InspectError {
            path: path.display().to_string(),
            message: err.to_string(),
        })?;
    Ok(found
        .into_iter()
        .flatten()
        .find(|s| s.sym_type == SymType::Function)
        .and_then(|s| s.file_offset))
}

/// The allocator linked into the executable at `exe`, if it has one other
/// than the system's (see the [module documentation](self)). `Ok(None)` for
/// an ordinary dynamically linked program.
pub fn linked_allocator(exe: &Path) -> Result<Option<LinkedAllocator>, InspectError> {
    let mut elf = Elf::new(exe);
    // The symbol tables of the file itself, not its separate debug file.
    elf.debug_syms = false;
    let source = Source::Elf(elf);
    let names: Vec<&str> = MALLOC_FAMILY
        .iter()
        .copied()
        .chain(MARKERS.iter().map(|(name, _)| *name))
        .collect();
    let inspector = Inspector::new();
    let found = inspector
        .lookup(&source, &names)
        .map_err(|err| InspectError {
            path: exe.display().to_string(),
            message: err.to_string(),
        })?;
    let defined: Vec<&str> = names
        .iter()
        .zip(&found)
        .filter(|(_, symbols)| symbols.iter().any(|s| s.sym_type == SymType::Function))
        .map(|(name, _)| *name)
        .collect();
    let replaces_malloc = defined.iter().any(|name| MALLOC_FAMILY.contains(name));
    let marker = MARKERS
        .iter()
        .find(|(name, _)| defined.contains(name))
        .map(|(_, kind)| *kind);
    let kind = match (marker, replaces_malloc) {
        (Some(kind), _) => kind,
        (None, true) => AllocatorKind::OwnMalloc,
        (None, false) => return Ok(None),
    };
    let symbols = defined
        .iter()
        .filter(|name| {
            MALLOC_FAMILY.contains(name) || MARKERS.iter().any(|(m, k)| m == *name && *k == kind)
        })
        .map(|name| name.to_string())
        .collect();
    Ok(Some(LinkedAllocator {
        kind,
        replaces_malloc,
        symbols,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_not_elf_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("script.sh");
        std::fs::write(&path, "#!/bin/sh\necho hi\n").unwrap();
        let err = linked_allocator(&path).unwrap_err();
        assert!(err.to_string().contains("script.sh"), "{err}");
    }
}
