//! Allocations made by the C/C++ runtime on the program's behalf and held
//! until exit by design — not leaks the program can fix. They are still
//! counted (they are allocated when the trace ends); reports set them
//! apart with a note saying what they are.

use std::sync::Arc;

use crate::model::Frame;

/// (function name fragment, what it is).
const KNOWN: [(&str, &str); 9] = [
    (
        "_IO_file_doallocate",
        "the buffer of a stdio stream (stdout, a FILE): allocated on first use, freed only by fclose",
    ),
    (
        "(anonymous namespace)::pool::pool",
        "libstdc++'s emergency exception pool, allocated once at start-up",
    ),
    (
        "__cxa_get_globals",
        "libstdc++'s per-thread exception state",
    ),
    (
        "_dl_allocate_tls",
        "thread-local storage of a thread, kept by glibc's thread-stack cache",
    ),
    (
        "allocate_dtv",
        "thread-local storage of a thread, kept by glibc's thread-stack cache",
    ),
    ("_dlfo_", "the dynamic loader's table of loaded objects"),
    (
        "_dl_new_object",
        "the dynamic loader's record of a loaded library",
    ),
    ("_nl_", "locale data loaded by setlocale"),
    ("__tzfile_read", "time-zone data loaded by tzset"),
];

/// What libstdc++ allocates while it is loaded, when its symbols are not
/// there to name it (Debian's libstdc++ is stripped).
const LIBSTDCXX_START_UP: &str =
    "libstdc++'s start-up allocation (its emergency exception pool), made while it was loaded";

/// A note for a leak group held by the runtime, if it is one.
pub fn note(frames: &[Arc<Frame>]) -> Option<&'static str> {
    // Allocated by libstdc++ itself, called from the loader running its
    // constructors: only a stripped libstdc++ hides the pool's name.
    let in_libstdcxx = frames.first().is_some_and(|f| {
        f.module.as_deref().is_some_and(|m| {
            m.rsplit('/')
                .next()
                .is_some_and(|n| n.starts_with("libstdc++"))
        })
    });
    let from_loader = frames.iter().take(8).any(|f| {
        f.function
            .as_deref()
            .is_some_and(|n| n == "call_init" || n == "_dl_init")
    });
    if in_libstdcxx && from_loader {
        return Some(LIBSTDCXX_START_UP);
    }
    // The runtime's allocation is near the top of the stack; deeper frames
    // are the program's.
    frames
        .iter()
        .take(8)
        .filter_map(|f| f.function.as_deref())
        .find_map(|name| {
            KNOWN
                .iter()
                .find(|(fragment, _)| name.contains(fragment))
                .map(|(_, what)| *what)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(name: &str) -> Frame {
        Frame::named(name)
    }

    fn arcs(frames: impl IntoIterator<Item = Frame>) -> Vec<Arc<Frame>> {
        frames.into_iter().map(Arc::new).collect()
    }

    #[test]
    fn a_stripped_libstdcxx_allocating_while_loaded_is_its_start_up_pool() {
        let mut pool = frame("?");
        pool.function = None;
        pool.module = Some("/lib/x86_64-linux-gnu/libstdc++.so.6".into());
        let loader = [pool.clone(), frame("call_init"), frame("_dl_init")];
        assert_eq!(note(&arcs(loader)), Some(LIBSTDCXX_START_UP));
        // A plugin's constructor, also run by the loader, is the program's.
        let mut plugin = pool.clone();
        plugin.module = Some("/opt/app/libplugin.so".into());
        assert_eq!(note(&arcs([plugin, frame("call_init")])), None);
        // libstdc++ called from the program later is the program's too.
        assert_eq!(note(&arcs([pool, frame("main")])), None);
    }

    #[test]
    fn stdio_buffers_and_loader_records_are_recognised() {
        assert!(
            note(&arcs([
                frame("__GI__IO_file_doallocate"),
                frame("puts"),
                frame("main")
            ]))
            .unwrap()
            .contains("stdio")
        );
        assert!(
            note(&arcs([
                frame("allocate_dtv"),
                frame("__GI__dl_allocate_tls")
            ]))
            .unwrap()
            .contains("thread-local")
        );
        assert_eq!(note(&arcs([frame("leak_small"), frame("main")])), None);
    }
}
