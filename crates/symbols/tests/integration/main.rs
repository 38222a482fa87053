//! heapwise-symbols against real binaries, compiled with gcc and g++ at
//! test time and run so that they report their own modules and return
//! addresses the way the tracer records them.

mod allocator;
mod c_program;
mod cpp;
mod degraded;
mod inlined;
mod shared_library;
mod support;
