//! GC logs of runtimes heapwise does not read, recognised so that the
//! error names what the file is instead of listing the formats tried.

/// Lines looked at for a foreign format (its first lines say what it is).
pub(crate) const SNIFF_LINES: u64 = 200;

/// What `line` says the log is, when it is a line only a foreign runtime
/// writes.
pub(crate) fn sniff(line: &str) -> Option<&'static str> {
    let line = line.trim_start();
    const J9_XML: [&str; 8] = [
        "<verbosegc",
        "<af type=",
        "<gc type=",
        "<cycle-start ",
        "<gc-start ",
        "<exclusive-start ",
        "<af-start ",
        "<concurrent-kickoff",
    ];
    if J9_XML.iter().any(|tag| line.starts_with(tag)) {
        return Some("an OpenJ9 / IBM J9 verbose GC log (XML)");
    }
    // IBM JDK 1.4 and earlier: `<AF[3]: Allocation Failure. …>`, `<GC(12): …>`.
    if line.starts_with("<AF[") || line.starts_with("<GC(") {
        return Some("an IBM JDK verbose GC log");
    }
    if line.starts_with("[memory ]")
        || line.starts_with("[memory ][")
        || line.starts_with("[INFO ][memory ]")
    {
        return Some("a JRockit GC log");
    }
    if line.starts_with("<GC: ") {
        return Some("an HP-UX JVM GC log (-Xverbosegc)");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::sniff;

    #[test]
    fn foreign_logs_are_named() {
        assert!(
            sniff("<verbosegc xmlns=\"http://www.ibm.com/j9/verbosegc\" version=\"R28\">")
                .unwrap()
                .contains("OpenJ9")
        );
        assert!(
            sniff("[memory ] 226.002-226.547: GC 1048576K->133204K (1048576K), 544.511 ms")
                .unwrap()
                .contains("JRockit")
        );
        assert!(
            sniff("<GC: 1 4  2.331445 1 0 31 2883584 0 0>")
                .unwrap()
                .contains("HP-UX")
        );
        assert_eq!(sniff("[0.049s][info][gc] Using G1"), None);
        assert_eq!(sniff("gc 1 @0.012s 2%: …"), None);
    }
}
