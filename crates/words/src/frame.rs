//! Call-stack frames, said the same way in every report and view.

/// What is known of one frame, borrowed from whichever model holds it.
#[derive(Clone, Copy, Debug, Default)]
pub struct FrameText<'a> {
    /// The function (demangled), when known.
    pub function: Option<&'a str>,
    /// The source file, when known.
    pub file: Option<&'a str>,
    /// The line in `file`, when known.
    pub line: Option<u32>,
    /// The module (shared object or executable) the address is in.
    pub module: Option<&'a str>,
    /// The address, as the model writes it (`0x…`).
    pub address: &'a str,
    /// Inlined into the frame below it.
    pub inlined: bool,
}

/// The last component of a path.
pub fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

impl FrameText<'_> {
    /// A short name: the function, or the module and address when the
    /// function is unknown (`[libfoo.so 0x1234]`, `[0x1234]`). Flame graphs,
    /// folded stacks and pprof use it as the frame's name.
    pub fn name(&self) -> String {
        match (self.function, self.module) {
            (Some(function), _) => function.to_owned(),
            (None, Some(module)) => format!("[{} {}]", file_name(module), self.address),
            (None, None) => format!("[{}]", self.address),
        }
    }

    /// The name and where it is, for a line of its own:
    /// `function  file:line`, `function [inlined]  file:line`,
    /// `function  (module)`.
    pub fn place(&self) -> String {
        let name = self.name();
        let inlined = if self.inlined { " [inlined]" } else { "" };
        match (self.file, self.line, self.module) {
            (Some(file), Some(line), _) => format!("{name}{inlined}  {file}:{line}"),
            (Some(file), None, _) => format!("{name}{inlined}  {file}"),
            (None, _, Some(module)) if self.function.is_some() => {
                format!("{name}{inlined}  ({})", file_name(module))
            }
            _ => format!("{name}{inlined}"),
        }
    }

    /// The name with the file's last component, inside a sentence:
    /// `function (file.c:12)`.
    pub fn short(&self) -> String {
        let name = self.name();
        match (self.file, self.line) {
            (Some(file), Some(line)) => format!("{name} ({}:{line})", file_name(file)),
            _ => name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> FrameText<'static> {
        FrameText {
            function: Some("leak_here"),
            file: Some("/src/app/leak.c"),
            line: Some(12),
            module: Some("/usr/bin/app"),
            address: "0x401136",
            inlined: false,
        }
    }

    #[test]
    fn a_known_frame_is_named_by_its_function_and_place() {
        let f = known();
        assert_eq!(f.name(), "leak_here");
        assert_eq!(f.place(), "leak_here  /src/app/leak.c:12");
        assert_eq!(f.short(), "leak_here (leak.c:12)");
        let inlined = FrameText {
            inlined: true,
            ..known()
        };
        assert_eq!(inlined.place(), "leak_here [inlined]  /src/app/leak.c:12");
        let no_line = FrameText {
            file: None,
            line: None,
            ..known()
        };
        assert_eq!(no_line.place(), "leak_here  (app)");
    }

    #[test]
    fn an_unknown_function_is_named_by_its_module_and_address() {
        let f = FrameText {
            function: None,
            file: None,
            line: None,
            ..known()
        };
        assert_eq!(f.name(), "[app 0x401136]");
        assert_eq!(f.place(), "[app 0x401136]");
        let bare = FrameText { module: None, ..f };
        assert_eq!(bare.short(), "[0x401136]");
    }
}
