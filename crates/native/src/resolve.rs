//! From stack ids to frames: which module held each address when it was
//! recorded, one symbolization batch per module, and the allocator's own
//! frames trimmed so that `frames[0]` is the caller of the allocation API.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use heapwise_trace::{ModuleLoad, StackId, StackTable};

use crate::model::Frame;
use crate::replay::ModuleSpan;

/// Turns addresses inside one module into frames (innermost inlined frame
/// first for each address).
pub trait Symbolize {
    /// Frames for each of `addresses` (runtime return addresses).
    fn symbolize(&mut self, module: &ModuleLoad, addresses: &[u64]) -> Vec<Vec<Frame>>;
}

/// Symbolizes stacks of one trace, caching every address.
pub struct Resolver<'a> {
    stacks: &'a StackTable,
    modules: &'a [ModuleSpan],
    first_tick: &'a dyn Fn(StackId) -> u64,
    /// Each address's frames, shared by every stack through it (a report
    /// holds the frames of thousands of stacks: cc1plus's, 932 k of 7,450
    /// distinct ones).
    cache: FxHashMap<u64, Vec<Arc<Frame>>>,
}

impl<'a> Resolver<'a> {
    /// A resolver over a trace's stacks and modules; `first_tick(stack)`
    /// tells when a stack was first seen (to pick the right module when an
    /// address range was reused after a `dlclose`).
    pub fn new(
        stacks: &'a StackTable,
        modules: &'a [ModuleSpan],
        first_tick: &'a dyn Fn(StackId) -> u64,
    ) -> Resolver<'a> {
        Resolver {
            stacks,
            modules,
            first_tick,
            cache: FxHashMap::default(),
        }
    }

    /// Symbolizes every address of `wanted` stacks in one batch per module.
    pub fn prepare(
        &mut self,
        wanted: impl IntoIterator<Item = StackId>,
        symbolizer: &mut dyn Symbolize,
    ) {
        let mut by_module: FxHashMap<usize, Vec<u64>> = FxHashMap::default();
        let mut unknown = Vec::new();
        for stack in wanted {
            let tick = (self.first_tick)(stack);
            for ip in self.stacks.frames(stack) {
                if self.cache.contains_key(&ip) {
                    continue;
                }
                match module_at(self.modules, ip, tick) {
                    Some(index) => by_module.entry(index).or_default().push(ip),
                    None => unknown.push(ip),
                }
                // Placeholder so that an address is batched once.
                self.cache.insert(ip, Vec::new());
            }
        }
        for (index, addresses) in by_module {
            let load = &self.modules[index].load;
            let frames = symbolizer.symbolize(load, &addresses);
            for (ip, frames) in addresses.into_iter().zip(frames) {
                let frames = if frames.is_empty() {
                    vec![Arc::new(unknown_frame(ip, Some(&load.path)))]
                } else {
                    frames.into_iter().map(Arc::new).collect()
                };
                self.cache.insert(ip, frames);
            }
        }
        for ip in unknown {
            self.cache
                .insert(ip, vec![Arc::new(unknown_frame(ip, None))]);
        }
    }

    /// The frames of `stack`, innermost first, allocator frames trimmed.
    /// Call [`Resolver::prepare`] with the stack first.
    pub fn frames(&self, stack: StackId) -> Vec<Arc<Frame>> {
        let mut frames: Vec<Arc<Frame>> = Vec::new();
        for ip in self.stacks.frames(stack) {
            match self.cache.get(&ip) {
                Some(list) if !list.is_empty() => frames.extend(list.iter().cloned()),
                _ => frames.push(Arc::new(unknown_frame(ip, None))),
            }
        }
        // heapwise's own frames appear below a signal frame when a handler
        // interrupted a hook: never the program's, drop them everywhere.
        frames.retain(|f| !is_tracer_frame(f));
        let keep_from = frames
            .iter()
            .position(|f| !is_allocator_frame(f))
            .unwrap_or(0);
        frames.drain(..keep_from);
        // A report keeps the frames of every leak group (cc1plus: 23 k
        // groups of 40): no room beyond them.
        frames.shrink_to_fit();
        frames
    }
}

fn unknown_frame(ip: u64, module: Option<&str>) -> Frame {
    Frame {
        function: None,
        file: None,
        line: None,
        module: module.filter(|m| !m.is_empty()).map(Arc::from),
        address: format!("{ip:#x}").into(),
        inlined: false,
    }
}

/// The module that held `ip` at `tick`: among the modules whose segments
/// contain it, one not yet unloaded then, loaded last before it (modules
/// are announced when first needed, so slightly after their first use).
pub fn module_at(modules: &[ModuleSpan], ip: u64, tick: u64) -> Option<usize> {
    let candidates = modules
        .iter()
        .enumerate()
        .filter(|(_, m)| m.load.contains(ip));
    let alive = |m: &ModuleSpan| m.unloaded.is_none_or(|gone| gone > tick);
    let mut best: Option<(usize, &ModuleSpan)> = None;
    for (index, module) in candidates {
        let better = match best {
            None => true,
            Some((_, current)) => {
                let rank = |m: &ModuleSpan| {
                    (
                        alive(m),
                        m.load.ts <= tick,
                        if m.load.ts <= tick {
                            m.load.ts
                        } else {
                            u64::MAX - m.load.ts
                        },
                    )
                };
                rank(module) > rank(current)
            }
        };
        if better {
            best = Some((index, module));
        }
    }
    best.map(|(index, _)| index)
}

/// Frames of the tracer itself.
fn is_tracer_frame(frame: &Frame) -> bool {
    frame
        .module
        .as_deref()
        .is_some_and(|m| m.ends_with("libheapwise_preload.so"))
}

/// Frames that belong to the allocator rather than to the program: the
/// allocation functions' own inlined wrappers, C++ `operator new`, Rust's
/// allocation shims.
fn is_allocator_frame(frame: &Frame) -> bool {
    let Some(name) = frame.function.as_deref() else {
        return false;
    };
    // Inlined wrappers named like the API itself (glibc's and ld.so's).
    const NAMES: [&str; 8] = [
        "malloc",
        "calloc",
        "realloc",
        "free",
        "__libc_malloc",
        "__libc_calloc",
        "__rtld_malloc",
        "__rtld_calloc",
    ];
    if NAMES.contains(&name) {
        return true;
    }
    const PREFIXES: [&str; 12] = [
        "operator new",
        "__rust_alloc",
        "__rust_realloc",
        "__rdl_alloc",
        "__rdl_realloc",
        "__rg_alloc",
        "__rg_realloc",
        "alloc::alloc::",
        "<std::alloc::System as core::alloc::global::GlobalAlloc>::",
        "std::sys::alloc::",
        "std::sys::pal::unix::alloc::",
        "<alloc::alloc::Global as core::alloc::Allocator>::",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use heapwise_trace::LoadSegment;

    fn span(id: u32, base: u64, ts: u64, unloaded: Option<u64>) -> ModuleSpan {
        ModuleSpan {
            load: ModuleLoad {
                id,
                ts,
                base,
                path: format!("/lib/m{id}.so"),
                build_id: vec![],
                segments: vec![LoadSegment {
                    vaddr: 0,
                    memsz: 0x1000,
                    file_offset: 0,
                    flags: 5,
                }],
            },
            unloaded,
        }
    }

    #[test]
    fn a_reused_address_range_belongs_to_the_module_mapped_at_the_time() {
        let modules = [span(1, 0x7000, 10, Some(50)), span(2, 0x7000, 60, None)];
        assert_eq!(module_at(&modules, 0x7010, 20), Some(0));
        assert_eq!(module_at(&modules, 0x7010, 70), Some(1));
        // Announced slightly after its first use.
        assert_eq!(module_at(&modules, 0x7010, 55), Some(1));
        assert_eq!(module_at(&modules, 0x9000, 20), None);
    }

    #[test]
    fn allocator_frames_are_recognised() {
        let frame = Frame::named;
        assert!(is_allocator_frame(&frame("operator new(unsigned long)")));
        assert!(is_allocator_frame(&frame("operator new[](unsigned long)")));
        assert!(is_allocator_frame(&frame("__rust_alloc")));
        assert!(!is_allocator_frame(&frame("make_widget")));
    }
}
