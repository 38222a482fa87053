//! A PIE C program at `-O0`: each call is one frame, named, with the exact
//! line of the call.

use heapwise_symbols::{Options, Symbolizer};

use crate::support::{PRELUDE, compile, line_of, run, write};

const MAIN: &str = r#"
__attribute__((noinline)) void *alloc_node(const char *who) {
    printf("ret %s %lx\n", who, (unsigned long)__builtin_return_address(0));
    return malloc(16);
}

__attribute__((noinline)) static void *build_list(void) {
    void *node = alloc_node("build_list"); /* CALL:build_list */
    return node;
}

static volatile int counter;

int main(void) {
    hw_dump_modules();
    printf("fn alloc_node %lx\n", (unsigned long)&alloc_node);
    void *a = alloc_node("main"); /* CALL:main */
    void *b = build_list();
    alloc_node("discarded"); /* CALL:discarded */
    counter++; /* AFTER:discarded */
    free(a);
    free(b);
    return 0;
}
"#;

struct Built {
    _dir: tempfile::TempDir,
    exe: std::path::PathBuf,
    source_path: String,
    source: String,
}

fn build() -> Built {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = format!("{PRELUDE}{MAIN}");
    write(dir.path(), "main.c", &source);
    let exe = compile(
        "gcc",
        dir.path(),
        &["main.c"],
        "app",
        &["-g", "-O0", "-fPIE", "-pie"],
    );
    let source_path = dir.path().join("main.c").to_string_lossy().into_owned();
    Built {
        _dir: dir,
        exe,
        source_path,
        source,
    }
}

#[test]
fn a_pie_program_gives_the_caller_file_and_line_of_each_call() {
    let built = build();
    let run = run(&built.exe);
    let (main_ret, list_ret) = (run.ret("main"), run.ret("build_list"));
    let exe = run.module_of(main_ret);
    assert_eq!(exe.path, "", "the loader does not name the main executable");
    assert_ne!(exe.base, 0, "a PIE is loaded at a non-zero base");
    assert!(!exe.build_id.is_empty());

    let mut symbolizer = Symbolizer::new(Options {
        exe_path: Some(built.exe.clone()),
        ..Options::default()
    });
    let frames = symbolizer.symbolize(exe, &[main_ret, list_ret]);
    assert!(
        symbolizer.warnings().is_empty(),
        "{:?}",
        symbolizer.warnings()
    );
    assert_eq!(frames.len(), 2);

    for (frames, (function, address)) in frames
        .iter()
        .zip([("main", main_ret), ("build_list", list_ret)])
    {
        assert_eq!(frames.len(), 1, "{frames:#?}");
        let frame = &frames[0];
        assert_eq!(frame.function.as_deref(), Some(function));
        assert_eq!(frame.file.as_deref(), Some(built.source_path.as_str()));
        assert_eq!(
            frame.line,
            Some(line_of(&built.source, &format!("CALL:{function} "))),
            "{frame:#?}"
        );
        assert!(frame.column.is_some());
        assert!(!frame.inlined);
        assert_eq!(frame.module, built.exe.to_string_lossy());
        assert_eq!(frame.address, address);
        assert_eq!(frame.module_offset, address - exe.base);
    }
}

#[test]
fn a_function_address_is_symbolized_exactly_and_others_are_left_unnamed() {
    let built = build();
    let run = run(&built.exe);
    let entry = run.functions["alloc_node"];
    let exe = run.module_of(entry);
    let mut symbolizer = Symbolizer::new(Options {
        exe_path: Some(built.exe.clone()),
        ..Options::default()
    });

    let frames = symbolizer.symbolize_exact(exe, &[entry, 0x10]);
    assert_eq!(frames[0][0].function.as_deref(), Some("alloc_node"));
    assert_eq!(
        frames[0][0].line,
        Some(line_of(
            &built.source,
            "void *alloc_node(const char *who) {"
        ))
    );
    // An address outside the module is not looked up.
    assert_eq!(frames[1].len(), 1);
    assert_eq!(frames[1][0].function, None);
    assert!(
        symbolizer.warnings().is_empty(),
        "{:?}",
        symbolizer.warnings()
    );
}

#[test]
fn without_code_info_frames_have_names_only() {
    let built = build();
    let run = run(&built.exe);
    let address = run.ret("build_list");
    let options = Options {
        exe_path: Some(built.exe.clone()),
        code_info: false,
        ..Options::default()
    };
    let frames = Symbolizer::new(options).symbolize(run.module_of(address), &[address]);
    assert_eq!(frames[0].len(), 1);
    assert_eq!(frames[0][0].function.as_deref(), Some("build_list"));
    assert_eq!(
        (frames[0][0].file.as_deref(), frames[0][0].line),
        (None, None)
    );
}

#[test]
fn a_return_address_on_the_next_line_is_attributed_to_the_call() {
    let built = build();
    let run = run(&built.exe);
    let address = run.ret("discarded");
    let exe = run.module_of(address);
    let mut symbolizer = Symbolizer::new(Options {
        exe_path: Some(built.exe.clone()),
        ..Options::default()
    });
    // The call's result is discarded: the instruction after the call
    // already belongs to the next line.
    let after = symbolizer.symbolize_exact(exe, &[address]).remove(0);
    assert_eq!(
        after[0].line,
        Some(line_of(&built.source, "AFTER:discarded"))
    );
    let call = symbolizer.symbolize(exe, &[address]).remove(0);
    assert_eq!(call[0].function.as_deref(), Some("main"));
    assert_eq!(call[0].line, Some(line_of(&built.source, "CALL:discarded")));
    assert_eq!(call[0].module_offset, address - exe.base);
}
