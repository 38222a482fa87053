//! Source-level frames for the addresses in a heapwise trace.
//!
//! The tracer records every module mapped in the traced process (a
//! [`ModuleLoad`]: its path, load bias, GNU build-id and `PT_LOAD`
//! segments) and, for each allocation, the *runtime return addresses* of its
//! stack. Once the analysis knows which stacks matter, it hands each module's
//! addresses to a [`Symbolizer`], which reads the module file on disk with
//! [blazesym](https://docs.rs/blazesym) and answers with [`Frame`]s:
//! demangled function, source file, line and column, one frame per inlined
//! function.
//!
//! How an address is found in the file: the ELF virtual address is the
//! runtime address minus the module's load bias (`dlpi_addr`), and for a
//! return address the call instruction one byte before it is looked up, so
//! the line is the line of the call.
//!
//! Symbolization degrades rather than fails. A module whose file is gone,
//! is not ELF, or was rebuilt since the trace was recorded (its build-id
//! differs) yields frames with `function: None` and one [`Warning`] for the
//! caller to print; the vDSO, which has no file, yields such frames
//! silently.
//!
//! ```
//! use heapwise_symbols::{Options, Symbolizer};
//! use heapwise_trace::{LoadSegment, ModuleLoad};
//!
//! let mut symbolizer = Symbolizer::new(Options {
//!     // The tracer records the main executable with an empty path.
//!     exe_path: Some("/nonexistent/heapwise-demo/app".into()),
//!     ..Options::default()
//! });
//! let exe = ModuleLoad {
//!     id: 0,
//!     ts: 0,
//!     base: 0x5555_5555_4000,
//!     path: String::new(),
//!     build_id: vec![],
//!     segments: vec![LoadSegment { vaddr: 0x1000, memsz: 0x800, file_offset: 0x1000, flags: 5 }],
//! };
//! // One list of frames per address, innermost first.
//! let frames = symbolizer.symbolize(&exe, &[0x5555_5555_5189]);
//! let frame = &frames[0][0];
//! assert_eq!(frame.module, "/nonexistent/heapwise-demo/app");
//! assert_eq!((frame.address, frame.module_offset), (0x5555_5555_5189, 0x1189));
//! // The file does not exist here: no name, and a warning to print once.
//! assert_eq!(frame.function, None);
//! for warning in symbolizer.warnings() {
//!     eprintln!("warning: {warning}");
//! }
//! assert_eq!(
//!     symbolizer.warnings()[0].to_string(),
//!     "/nonexistent/heapwise-demo/app no longer exists; its frames are not symbolized"
//! );
//! ```
#![deny(missing_docs)]

pub mod allocator;
mod frame;
mod module;
mod options;
mod symbolizer;
mod warning;

pub use allocator::{AllocatorKind, LinkedAllocator, function_file_offset, linked_allocator};
pub use frame::Frame;
pub use heapwise_trace::ModuleLoad;
pub use options::{Options, PathRewrite};
pub use symbolizer::Symbolizer;
pub use warning::Warning;
