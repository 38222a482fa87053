//! Finding an allocator linked into an executable, on real binaries.

use std::path::Path;

use heapwise_symbols::{AllocatorKind, linked_allocator};

use crate::support::compile;

#[test]
fn own_malloc_jemalloc_and_mimalloc_are_found_and_a_plain_program_has_none() {
    let dir = tempfile::tempdir().unwrap();
    // The end-to-end test program that defines the malloc family itself.
    let own = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cli/tests/programs/own_malloc.c");
    std::fs::copy(&own, dir.path().join("own_malloc.c")).unwrap();
    let found = linked_allocator(&compile(
        "gcc",
        dir.path(),
        &["own_malloc.c"],
        "own",
        &["-O2"],
    ))
    .unwrap()
    .unwrap();
    assert_eq!(found.kind, AllocatorKind::OwnMalloc);
    assert!(found.replaces_malloc);
    assert_eq!(found.symbols, ["malloc", "free", "calloc", "realloc"]);

    // A statically linked allocator beside malloc, by its entry points
    // (what tikv-jemallocator and the mimalloc crate export).
    for (name, symbols, kind) in [
        ("rjem", "_rjem_malloc", AllocatorKind::Jemalloc),
        ("mi", "mi_malloc", AllocatorKind::Mimalloc),
    ] {
        let source = format!(
            "#include <stdlib.h>\nvoid *{symbols}(size_t n) {{ return malloc(n); }}\nint main(void) {{ return {symbols}(1) == 0; }}\n"
        );
        std::fs::write(dir.path().join(format!("{name}.c")), source).unwrap();
        let exe = compile("gcc", dir.path(), &[&format!("{name}.c")], name, &["-O0"]);
        let found = linked_allocator(&exe).unwrap().unwrap();
        assert_eq!((found.kind, found.replaces_malloc), (kind, false), "{name}");
        assert_eq!(found.symbols, [symbols]);
    }

    std::fs::write(
        dir.path().join("plain.c"),
        "#include <stdlib.h>\nint main(void) { free(malloc(8)); return 0; }\n",
    )
    .unwrap();
    let plain = compile("gcc", dir.path(), &["plain.c"], "plain", &["-O0"]);
    assert_eq!(linked_allocator(&plain).unwrap(), None);
}
