//! C++: a member function in a namespace is named the way it is written.

use heapwise_symbols::{Options, Symbolizer};

use crate::support::{PRELUDE, compile, line_of, run, write};

const MAIN: &str = r#"
namespace ns {
__attribute__((noinline)) void record(const char *label) {
    printf("ret %s %lx\n", label, (unsigned long)__builtin_return_address(0));
}

struct Widget {
    int size;
    static Widget *make(int size);
};

Widget *Widget::make(int size) {
    Widget *widget = new Widget{size};
    record("make"); /* CALL:make */
    return widget;
}
}

int main() {
    hw_dump_modules();
    delete ns::Widget::make(3);
    return 0;
}
"#;

#[test]
fn a_cpp_member_function_is_demangled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = format!("{PRELUDE}{MAIN}");
    write(dir.path(), "widget.cpp", &source);
    let exe = compile(
        "g++",
        dir.path(),
        &["widget.cpp"],
        "widget",
        &["-g", "-O0", "-fPIE", "-pie"],
    );
    let run = run(&exe);
    let address = run.ret("make");
    let module = run.module_of(address);

    let mut symbolizer = Symbolizer::new(Options {
        exe_path: Some(exe.clone()),
        ..Options::default()
    });
    let frames = symbolizer.symbolize(module, &[address]).remove(0);
    assert_eq!(frames.len(), 1, "{frames:#?}");
    assert_eq!(frames[0].function.as_deref(), Some("ns::Widget::make(int)"));
    assert_eq!(frames[0].line, Some(line_of(&source, "CALL:make")));
    assert_eq!(frames[0].file_name(), Some("widget.cpp"));

    let options = Options {
        exe_path: Some(exe.clone()),
        demangle: false,
        ..Options::default()
    };
    let frames = Symbolizer::new(options)
        .symbolize(module, &[address])
        .remove(0);
    assert_eq!(frames[0].function.as_deref(), Some("_ZN2ns6Widget4makeEi"));
}
