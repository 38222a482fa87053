//! When a module cannot be symbolized: its frames keep their addresses,
//! `function` is `None`, and one warning says why — never an error.

use std::process::Command;

use heapwise_symbols::{Frame, Options, PathRewrite, Symbolizer, Warning};

use crate::shared_library::{LIBRARY, Shape, build};
use crate::support::line_of;

/// Symbolizes the library's two return addresses with `options`.
fn symbolize_library(shape: &Shape, options: Options) -> (Vec<Vec<Frame>>, Vec<Warning>) {
    let module = shape.run.module_named(&shape.library_path());
    let mut symbolizer = Symbolizer::new(options);
    let frames = symbolizer.symbolize(
        module,
        &[shape.run.ret("helper"), shape.run.ret("shape_area")],
    );
    // A second batch of the same module says nothing new.
    symbolizer.symbolize(module, &[shape.run.ret("helper")]);
    (frames, symbolizer.take_warnings())
}

fn assert_unnamed(frames: &[Vec<Frame>], shape: &Shape) {
    let base = shape.run.module_named(&shape.library_path()).base;
    for (frames, label) in frames.iter().zip(["helper", "shape_area"]) {
        let address = shape.run.ret(label);
        let expected = Frame {
            function: None,
            file: None,
            line: None,
            column: None,
            inlined: false,
            module: shape.library_path(),
            address,
            module_offset: address - base,
        };
        assert_eq!(frames, &[expected]);
    }
}

fn tool(program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .status()
        .unwrap_or_else(|err| panic!("cannot run {program}: {err}"));
    assert!(status.success(), "{program} {args:?} failed");
}

#[test]
fn a_deleted_library_gives_one_warning_and_unnamed_frames() {
    let shape = build();
    std::fs::remove_file(&shape.library).expect("remove library");
    let (frames, warnings) = symbolize_library(&shape, Options::default());
    assert_unnamed(&frames, &shape);
    assert_eq!(
        warnings,
        [Warning::Missing {
            module: shape.library_path(),
            file: shape.library.clone()
        }]
    );
}

#[test]
fn a_rebuilt_library_is_not_trusted() {
    let shape = build();
    let recorded = shape
        .run
        .module_named(&shape.library_path())
        .build_id
        .clone();
    assert_eq!(
        blazesym::helper::read_elf_build_id(&shape.library)
            .expect("read build-id")
            .as_deref(),
        Some(&recorded[..]),
        "the build-id read from memory is the file's"
    );
    shape.rebuild_library(&format!(
        "int shape_perimeter(int side) {{ return 4 * side; }}\n{LIBRARY}"
    ));

    let (frames, warnings) = symbolize_library(&shape, Options::default());
    assert_unnamed(&frames, &shape);
    let [
        Warning::Changed {
            module,
            file,
            recorded: said,
            found: Some(found),
        },
    ] = &warnings[..]
    else {
        panic!("expected one build-id warning, got {warnings:?}");
    };
    assert_eq!(
        (module, file, said),
        (&shape.library_path(), &shape.library, &recorded)
    );
    assert_ne!(found, &recorded);
    assert_eq!(
        warnings[0].to_string(),
        format!(
            "{} changed since the trace was recorded (build-id differs); its frames are not symbolized",
            shape.library_path()
        )
    );
}

#[test]
fn a_file_that_is_no_longer_elf_is_reported() {
    let shape = build();
    std::fs::write(&shape.library, "INPUT(libshape.so.1)\n").expect("overwrite library");
    let (frames, warnings) = symbolize_library(&shape, Options::default());
    assert_unnamed(&frames, &shape);
    assert_eq!(
        warnings,
        [Warning::NotElf {
            module: shape.library_path(),
            file: shape.library.clone()
        }]
    );
}

#[test]
fn the_vdso_is_left_unnamed_without_a_warning() {
    let shape = build();
    let Some(vdso) = shape
        .run
        .modules
        .iter()
        .find(|m| m.path.starts_with("linux-vdso"))
    else {
        eprintln!("no vDSO in this process: nothing to test");
        return;
    };
    let segment = &vdso.segments[0];
    let address = vdso.base + segment.vaddr + segment.memsz / 2;
    let mut symbolizer = Symbolizer::default();
    let frames = symbolizer.symbolize(vdso, &[address]);
    assert_eq!(frames[0].len(), 1);
    assert_eq!(
        (
            frames[0][0].function.as_deref(),
            frames[0][0].module.as_str()
        ),
        (None, vdso.path.as_str())
    );
    assert!(
        symbolizer.warnings().is_empty(),
        "{:?}",
        symbolizer.warnings()
    );
}

#[test]
fn the_main_executable_without_a_path_gives_one_warning() {
    let shape = build();
    let exe = shape.run.module_named("");
    let address = exe.base
        + exe
            .segments
            .iter()
            .find(|s| s.flags & 1 != 0)
            .map_or(0, |s| s.vaddr + 1);
    let mut symbolizer = Symbolizer::default();
    let frames = symbolizer.symbolize(exe, &[address]);
    assert_eq!(frames[0][0].function, None);
    assert_eq!(symbolizer.warnings(), [Warning::NoExecutablePath]);
}

#[test]
fn a_stripped_library_still_names_its_exported_functions() {
    let shape = build();
    let library = shape.library_path();
    tool("strip", &["--strip-all", &library]);
    let (frames, warnings) = symbolize_library(&shape, Options::default());
    // The static helper is gone with the symbol table; the exported
    // function is still in the dynamic symbol table, without a line.
    assert_eq!(frames[0][0].function, None);
    assert_eq!(frames[1][0].function.as_deref(), Some("shape_area"));
    assert_eq!(frames[1][0].line, None);
    assert_eq!(
        warnings,
        [Warning::NoSymbols {
            module: library,
            file: shape.library.clone()
        }]
    );
}

#[test]
fn debug_info_in_a_separate_file_is_found_through_the_debug_link() {
    let shape = build();
    let library = shape.library_path();
    let debug = format!("{library}.debug");
    tool("objcopy", &["--only-keep-debug", &library, &debug]);
    tool(
        "objcopy",
        &[
            "--strip-debug",
            &format!("--add-gnu-debuglink={debug}"),
            &library,
        ],
    );
    let (frames, warnings) = symbolize_library(&shape, Options::default());
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(frames[0][0].function.as_deref(), Some("helper"));
    assert_eq!(frames[0][0].line, Some(line_of(LIBRARY, "CALL:helper")));
}

#[test]
fn a_moved_library_is_found_through_a_path_rewrite() {
    let shape = build();
    let elsewhere = tempfile::tempdir().expect("tempdir");
    std::fs::copy(&shape.library, elsewhere.path().join("libshape.so")).expect("copy library");
    std::fs::remove_file(&shape.library).expect("remove library");
    let options = Options {
        path_rewrites: vec![PathRewrite::new(shape.dir.path(), elsewhere.path())],
        ..Options::default()
    };
    let (frames, warnings) = symbolize_library(&shape, options);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(frames[1][0].function.as_deref(), Some("shape_area"));
    assert_eq!(frames[1][0].line, Some(line_of(LIBRARY, "CALL:shape_area")));
    assert_eq!(
        frames[1][0].module,
        shape.library_path(),
        "frames name the recorded path"
    );
}
