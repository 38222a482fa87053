//! A shared library loaded at a non-zero base, found by the path the
//! dynamic loader gave it.

use std::path::PathBuf;

use heapwise_symbols::{Options, Symbolizer};

use crate::support::{PRELUDE, Run, compile, line_of, run, write};

/// The library: `shape_area` (exported) and `helper` (static) each call
/// `record`, which prints its return address.
pub const LIBRARY: &str = r#"#include <stdio.h>

__attribute__((noinline)) static int record(const char *label) {
    printf("ret %s %lx\n", label, (unsigned long)__builtin_return_address(0));
    return 1;
}

__attribute__((noinline)) static int helper(int side) {
    int n = record("helper"); /* CALL:helper */
    return n * side;
}

int shape_area(int side) {
    int n = record("shape_area"); /* CALL:shape_area */
    return n * helper(side) * side;
}
"#;

const MAIN: &str = r#"
int shape_area(int side);

int main(void) {
    int area = shape_area(4);
    hw_dump_modules();
    return area == 16 ? 0 : 1;
}
"#;

/// A program linked against `libshape.so`, built and run.
pub struct Shape {
    /// Holds the files.
    pub dir: tempfile::TempDir,
    /// The library's path, as the loader names it (found through the rpath).
    pub library: PathBuf,
    /// What the program said.
    pub run: Run,
}

impl Shape {
    /// The library's path as a string.
    pub fn library_path(&self) -> String {
        self.library.to_string_lossy().into_owned()
    }

    /// Rebuilds the library from `source` with the flags of the first build.
    pub fn rebuild_library(&self, source: &str) {
        build_library(&self.dir, source, &[]);
    }
}

fn build_library(dir: &tempfile::TempDir, source: &str, flags: &[&str]) -> PathBuf {
    write(dir.path(), "libshape.c", source);
    let mut args = vec!["-g", "-O0", "-shared", "-fPIC"];
    args.extend_from_slice(flags);
    compile("gcc", dir.path(), &["libshape.c"], "libshape.so", &args)
}

/// Builds the library and the program, and runs it.
pub fn build() -> Shape {
    build_with(&[])
}

/// Like [`build`], with extra flags for the library.
pub fn build_with(library_flags: &[&str]) -> Shape {
    let dir = tempfile::tempdir().expect("tempdir");
    let library = build_library(&dir, LIBRARY, library_flags);
    write(dir.path(), "main.c", &format!("{PRELUDE}{MAIN}"));
    let rpath = format!("-Wl,-rpath,{}", dir.path().display());
    let exe = compile(
        "gcc",
        dir.path(),
        &["main.c"],
        "shape",
        &["-g", "-O0", "-L.", "-lshape", &rpath],
    );
    let run = run(&exe);
    Shape { dir, library, run }
}

#[test]
fn a_shared_library_is_symbolized_at_its_load_base() {
    let shape = build();
    assert_ne!(shape.run.module_named(&shape.library_path()).base, 0);
    check_library(&shape);
}

#[test]
fn a_library_linked_at_a_high_virtual_address_is_looked_up_by_virtual_address() {
    // File offsets and virtual addresses differ by 0x400000 here: looking
    // up runtime address - base as a file offset would find nothing. (The
    // loader may well map it at its preferred address: base 0.)
    let shape = build_with(&["-Wl,-Ttext-segment=0x400000"]);
    let module = shape.run.module_named(&shape.library_path());
    assert!(
        module
            .segments
            .iter()
            .all(|s| s.vaddr >= 0x400000 && s.file_offset < 0x400000),
        "{module:#?}"
    );
    check_library(&shape);
}

/// Both library return addresses give their function, file and line.
fn check_library(shape: &Shape) {
    let module = shape.run.module_named(&shape.library_path());
    assert!(!module.build_id.is_empty());
    let (area, helper) = (shape.run.ret("shape_area"), shape.run.ret("helper"));
    assert!(module.contains(area) && module.contains(helper));

    let mut symbolizer = Symbolizer::new(Options::default());
    let frames = symbolizer.symbolize(module, &[helper, area]);
    assert!(
        symbolizer.warnings().is_empty(),
        "{:?}",
        symbolizer.warnings()
    );
    let source_path = shape
        .dir
        .path()
        .join("libshape.c")
        .to_string_lossy()
        .into_owned();
    for (frames, (function, address)) in frames
        .iter()
        .zip([("helper", helper), ("shape_area", area)])
    {
        assert_eq!(frames.len(), 1);
        let frame = &frames[0];
        assert_eq!(frame.function.as_deref(), Some(function));
        assert_eq!(frame.file.as_deref(), Some(source_path.as_str()));
        assert_eq!(
            frame.line,
            Some(line_of(LIBRARY, &format!("CALL:{function} ")))
        );
        assert_eq!(frame.module, shape.library_path());
        assert_eq!(
            (frame.address, frame.module_offset),
            (address, address - module.base)
        );
    }
}
