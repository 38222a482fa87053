//! Functions forced inline at `-O2` (`outer` ← `middle` ← `inner`): the
//! address yields the innermost inlined function first, then each function
//! it was inlined into, each with the line of its own call.

use heapwise_symbols::{Options, Symbolizer};

use crate::support::{PRELUDE, compile, line_of, run, write};

const MAIN: &str = r#"
__attribute__((noinline, noipa)) int record(const char *label) {
    printf("ret %s %lx\n", label, (unsigned long)__builtin_return_address(0));
    return (int)strlen(label);
}

static inline __attribute__((always_inline)) int inner(int x) {
    int n = record("inner"); /* CALL:inner */
    return n * x + 1;
}

static inline __attribute__((always_inline)) int middle(int x) {
    int m = inner(x) - 2; /* CALL:middle */
    return m * m;
}

__attribute__((noinline)) int outer(int x) {
    int total = middle(x) * 3; /* CALL:outer */
    return total + x;
}

int main(int argc, char **argv) {
    (void)argv;
    hw_dump_modules();
    return outer(argc) == 0;
}
"#;

#[test]
fn inlined_calls_yield_the_innermost_frame_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = format!("{PRELUDE}{MAIN}");
    write(dir.path(), "inline.c", &source);
    let exe = compile(
        "gcc",
        dir.path(),
        &["inline.c"],
        "inline",
        &["-g", "-O2", "-fPIE", "-pie"],
    );
    let run = run(&exe);
    let address = run.ret("inner");
    let module = run.module_of(address);
    let file = dir.path().join("inline.c").to_string_lossy().into_owned();

    let mut symbolizer = Symbolizer::new(Options {
        exe_path: Some(exe.clone()),
        ..Options::default()
    });
    let frames = symbolizer.symbolize(module, &[address]).remove(0);
    assert!(
        symbolizer.warnings().is_empty(),
        "{:?}",
        symbolizer.warnings()
    );
    let summary: Vec<_> = frames
        .iter()
        .map(|f| (f.function.as_deref(), f.line, f.inlined))
        .collect();
    assert_eq!(
        summary,
        [
            (Some("inner"), Some(line_of(&source, "CALL:inner")), true),
            (Some("middle"), Some(line_of(&source, "CALL:middle")), true),
            (Some("outer"), Some(line_of(&source, "CALL:outer")), false),
        ]
    );
    for frame in &frames {
        assert_eq!(frame.file.as_deref(), Some(file.as_str()));
        assert_eq!(
            (frame.address, frame.module_offset),
            (address, address - module.base)
        );
    }

    // Without inlined frames, the function the code belongs to remains.
    let options = Options {
        exe_path: Some(exe.clone()),
        inlined: false,
        ..Options::default()
    };
    let frames = Symbolizer::new(options)
        .symbolize(module, &[address])
        .remove(0);
    assert_eq!(frames.len(), 1);
    assert_eq!(
        (frames[0].function.as_deref(), frames[0].inlined),
        (Some("outer"), false)
    );
}
