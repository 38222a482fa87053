//! heapwise-hprof's integration tests, one binary: `it/jvm.rs` runs real
//! Java programs and takes their truth from what they print and from
//! `jmap -histo:live`; `it/format.rs` checks the reader on files written
//! byte by byte (4-byte identifiers, every sub-record kind) and on cut and
//! foreign files.

mod it;
