//! Why a module's frames were not symbolized, said once per module.

use std::path::PathBuf;

/// Something that kept a module's addresses from being symbolized.
///
/// Warnings never stop symbolization: the module's frames keep their
/// addresses and `function: None`. Each is collected once per module; print
/// them with their `Display` form.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Warning {
    /// The module file is gone.
    #[error("{} no longer exists; its frames are not symbolized", .file.display())]
    Missing {
        /// The module as recorded.
        module: String,
        /// The file looked for.
        file: PathBuf,
    },
    /// The file's GNU build-id is not the one recorded: it was rebuilt or
    /// replaced, so its symbols would name the wrong functions.
    #[error("{} changed since the trace was recorded (build-id differs); its frames are not symbolized", .file.display())]
    Changed {
        /// The module as recorded.
        module: String,
        /// The file looked at.
        file: PathBuf,
        /// The build-id in the trace.
        recorded: Vec<u8>,
        /// The file's build-id, `None` if it has none.
        found: Option<Vec<u8>>,
    },
    /// The file is not an ELF file.
    #[error("{} is not an ELF file; its frames are not symbolized", .file.display())]
    NotElf {
        /// The module as recorded.
        module: String,
        /// The file looked at.
        file: PathBuf,
    },
    /// The file could not be opened or parsed.
    #[error("{} could not be read ({reason}); its frames are not symbolized", .file.display())]
    Unreadable {
        /// The module as recorded.
        module: String,
        /// The file looked at.
        file: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The file has no symbol table and no debug info (it was stripped),
    /// and some addresses were not in an exported function: those have no
    /// name.
    #[error("{} has no symbol table (stripped: its debug symbols package may help); some of its frames are not symbolized", .file.display())]
    NoSymbols {
        /// The module as recorded.
        module: String,
        /// The file looked at.
        file: PathBuf,
    },
    /// The main executable has no recorded path and no
    /// [`exe_path`](crate::Options::exe_path) was given.
    #[error(
        "the main executable's path is unknown (not recorded, no executable path given); its frames are not symbolized"
    )]
    NoExecutablePath,
}

impl Warning {
    /// The module the warning is about, as recorded (`None` for the main
    /// executable whose path is unknown).
    pub fn module(&self) -> Option<&str> {
        match self {
            Warning::Missing { module, .. }
            | Warning::Changed { module, .. }
            | Warning::NotElf { module, .. }
            | Warning::Unreadable { module, .. }
            | Warning::NoSymbols { module, .. } => Some(module),
            Warning::NoExecutablePath => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_module_says_so_in_one_sentence() {
        let warning = Warning::Changed {
            module: "/usr/lib/libfoo.so".into(),
            file: "/usr/lib/libfoo.so".into(),
            recorded: vec![1, 2],
            found: Some(vec![3, 4]),
        };
        assert_eq!(
            warning.to_string(),
            "/usr/lib/libfoo.so changed since the trace was recorded (build-id differs); its frames are not symbolized"
        );
        assert_eq!(warning.module(), Some("/usr/lib/libfoo.so"));
    }

    #[test]
    fn a_missing_module_names_the_file_looked_for() {
        let warning = Warning::Missing {
            module: "/usr/lib/libfoo.so".into(),
            file: "/sysroot/usr/lib/libfoo.so".into(),
        };
        assert_eq!(
            warning.to_string(),
            "/sysroot/usr/lib/libfoo.so no longer exists; its frames are not symbolized"
        );
    }
}
