//! A source-level frame: what one runtime address turned into.

/// One frame of a symbolized address.
///
/// An address yields one frame per function active there: first the
/// innermost function inlined at it (`inlined: true`), then the functions it
/// was inlined into, and last the function the machine code belongs to
/// (`inlined: false`). An address that could not be symbolized yields one
/// frame with `function: None` that still names the module and offsets.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Frame {
    /// The function's name, demangled if asked for; `None` if unknown.
    pub function: Option<String>,
    /// The source file, a full path when the debug info names its directory.
    pub file: Option<String>,
    /// The source line: for a return address, the line of the call.
    pub line: Option<u32>,
    /// The source column, when the debug info has it.
    pub column: Option<u32>,
    /// Whether this function was inlined into the next frame.
    pub inlined: bool,
    /// The module as recorded in the trace (for the main executable, whose
    /// recorded path is empty, the executable path given in the options).
    pub module: String,
    /// The runtime address that was given.
    pub address: u64,
    /// The address in the module's ELF file: `address - base` (a return
    /// address is looked up one byte earlier, in the call instruction).
    /// Meaningless for an address outside the module.
    pub module_offset: u64,
}

impl Frame {
    /// A frame that says only where the address is.
    pub(crate) fn unknown(module: &str, address: u64, module_offset: u64) -> Frame {
        Frame {
            function: None,
            file: None,
            line: None,
            column: None,
            inlined: false,
            module: module.to_string(),
            address,
            module_offset,
        }
    }

    /// Whether the frame has a function name.
    pub fn is_symbolized(&self) -> bool {
        self.function.is_some()
    }

    /// The file name without its directory, if there is a file.
    pub fn file_name(&self) -> Option<&str> {
        let file = self.file.as_deref()?;
        Some(file.rsplit('/').next().unwrap_or(file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_frame_keeps_where_the_address_is() {
        let frame = Frame::unknown("/lib/libfoo.so", 0x7f00_0000_1234, 0x1234);
        assert!(!frame.is_symbolized());
        assert_eq!(frame.module, "/lib/libfoo.so");
        assert_eq!(
            (frame.address, frame.module_offset),
            (0x7f00_0000_1234, 0x1234)
        );
        assert_eq!(frame.file_name(), None);
    }

    #[test]
    fn the_file_name_drops_the_directory() {
        let mut frame = Frame::unknown("", 1, 1);
        frame.file = Some("/src/app/main.c".into());
        assert_eq!(frame.file_name(), Some("main.c"));
        frame.file = Some("main.c".into());
        assert_eq!(frame.file_name(), Some("main.c"));
    }
}
