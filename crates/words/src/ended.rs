//! How a process ended, said the same way everywhere.

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// It exited with this code.
    Code(i32),
    /// A signal with this number killed it.
    Signal(i32),
    /// It replaced itself with another program (`exec`).
    Exec,
}

impl Ended {
    /// Without a subject, as in "pid 42, exited with code 0":
    /// `"exited with code 0"`, `"killed by signal 9"`.
    pub fn label(self) -> String {
        match self {
            Ended::Code(code) => format!("exited with code {code}"),
            Ended::Signal(signal) => format!("killed by signal {signal}"),
            Ended::Exec => "replaced itself with exec".to_owned(),
        }
    }

    /// [`Ended::label`] of a possibly unknown end: `"end unknown"` when
    /// nothing says how it ended.
    pub fn label_of(ended: Option<Ended>) -> String {
        ended.map_or_else(|| "end unknown".to_owned(), Ended::label)
    }

    /// A clause with `subject`: `"it exited with code 0"`,
    /// `"the process was killed by signal 9"`.
    pub fn said_of(self, subject: &str) -> String {
        match self {
            Ended::Code(code) => format!("{subject} exited with code {code}"),
            Ended::Signal(signal) => format!("{subject} was killed by signal {signal}"),
            Ended::Exec => format!("{subject} replaced itself with exec"),
        }
    }

    /// The shortest form, for parentheses: `"exit code 0"`, `"signal 9"`.
    pub fn short(self) -> String {
        match self {
            Ended::Code(code) => format!("exit code {code}"),
            Ended::Signal(signal) => format!("signal {signal}"),
            Ended::Exec => "exec".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_names_the_code_or_the_signal() {
        assert_eq!(Ended::Code(3).label(), "exited with code 3");
        assert_eq!(Ended::Signal(9).label(), "killed by signal 9");
        assert_eq!(Ended::label_of(None), "end unknown");
        assert_eq!(Ended::Code(0).said_of("it"), "it exited with code 0");
        assert_eq!(
            Ended::Signal(6).said_of("the process"),
            "the process was killed by signal 6"
        );
        assert_eq!(Ended::Code(1).short(), "exit code 1");
        assert_eq!(Ended::Signal(15).short(), "signal 15");
        assert_eq!(Ended::Exec.said_of("it"), "it replaced itself with exec");
    }
}
