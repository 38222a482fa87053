//! The [`Symbolizer`]: runtime addresses of one module in, frames out.

use std::collections::HashMap;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use blazesym::symbolize::source::{Elf, Source};
use blazesym::symbolize::{CodeInfo, Input, Reason, Sym, Symbolized};
use heapwise_trace::ModuleLoad;

use crate::module::{display_name, locate};
use crate::{Frame, Options, Warning};

/// Turns runtime addresses recorded in a trace into source-level frames,
/// reading the module files on disk.
///
/// Parsed symbol tables and debug info are kept per module file, so call
/// [`Symbolizer::symbolize`] once per module with all its addresses. A
/// module that cannot be symbolized (gone, rebuilt, not ELF) yields frames
/// with `function: None` and one [`Warning`]; nothing here fails or panics
/// because of what is in a trace or a file.
///
/// Not `Send`: blazesym's caches are single-threaded.
pub struct Symbolizer {
    options: Options,
    inner: blazesym::symbolize::Symbolizer,
    modules: HashMap<ModuleKey, ModuleState>,
    warnings: Vec<Warning>,
}

/// A module is the same module when both its path and build-id are.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ModuleKey {
    path: String,
    build_id: Vec<u8>,
}

#[derive(Debug)]
enum ModuleState {
    /// Symbolize from this file.
    Usable {
        file: PathBuf,
        said_no_symbols: bool,
    },
    /// Not symbolized (already said why, or nothing to say).
    Skipped,
}

/// How an address relates to the instruction to look up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AddressKind {
    /// A return address: the call is the instruction before it.
    Return,
    /// The instruction's own address.
    Exact,
}

impl Default for Symbolizer {
    fn default() -> Symbolizer {
        Symbolizer::new(Options::default())
    }
}

impl std::fmt::Debug for Symbolizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Symbolizer")
            .field("options", &self.options)
            .field("modules", &self.modules.len())
            .field("warnings", &self.warnings)
            .finish_non_exhaustive()
    }
}

impl Symbolizer {
    /// A symbolizer with these options.
    pub fn new(options: Options) -> Symbolizer {
        let builder = blazesym::symbolize::Symbolizer::builder()
            .enable_demangling(options.demangle)
            .enable_code_info(options.code_info)
            .enable_inlined_fns(options.code_info && options.inlined)
            // Module files are not expected to change during an analysis;
            // one stat per batch is not worth it.
            .enable_auto_reload(false)
            .set_debug_dirs(options.debug_dirs.as_deref());
        Symbolizer {
            options,
            inner: builder.build(),
            modules: HashMap::new(),
            warnings: Vec::new(),
        }
    }

    /// The options this symbolizer was made with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The frames of each of `return_addresses` (runtime addresses inside
    /// `module`, as stacks record them): innermost inlined function first,
    /// then the function making the call. The call instruction, one byte
    /// before the return address, is what is looked up, so lines are those
    /// of the calls.
    ///
    /// Returns one non-empty list per address, in order.
    pub fn symbolize(&mut self, module: &ModuleLoad, return_addresses: &[u64]) -> Vec<Vec<Frame>> {
        self.symbolize_as(module, return_addresses, AddressKind::Return)
    }

    /// Like [`Symbolizer::symbolize`], for addresses of instructions
    /// themselves (a function's entry, a faulting instruction) rather than
    /// return addresses.
    pub fn symbolize_exact(&mut self, module: &ModuleLoad, addresses: &[u64]) -> Vec<Vec<Frame>> {
        self.symbolize_as(module, addresses, AddressKind::Exact)
    }

    /// What kept modules from being symbolized so far, once per module.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// Takes the warnings collected so far, leaving none.
    pub fn take_warnings(&mut self) -> Vec<Warning> {
        std::mem::take(&mut self.warnings)
    }

    fn symbolize_as(
        &mut self,
        module: &ModuleLoad,
        addresses: &[u64],
        kind: AddressKind,
    ) -> Vec<Vec<Frame>> {
        let name = display_name(module, &self.options);
        // The ELF virtual address to look up for each address, if it is in
        // the module at all.
        let lookups: Vec<Option<u64>> = addresses
            .iter()
            .map(|&address| lookup_address(module, address, kind))
            .collect();
        let unknown = |address: u64| {
            vec![Frame::unknown(
                &name,
                address,
                address.wrapping_sub(module.base),
            )]
        };
        let file = match self.module_state(module) {
            ModuleState::Usable { file, .. } => file.clone(),
            ModuleState::Skipped => {
                return addresses.iter().map(|&address| unknown(address)).collect();
            }
        };
        let wanted: Vec<u64> = lookups.iter().flatten().copied().collect();
        let resolved = match self.resolve(&file, &wanted, &name) {
            Ok(resolved) => resolved,
            Err(reason) => {
                self.give_up(
                    module,
                    Warning::Unreadable {
                        module: name.clone(),
                        file,
                        reason,
                    },
                );
                return addresses.iter().map(|&address| unknown(address)).collect();
            }
        };
        let mut resolved = resolved.into_iter();
        let mut no_symbols = false;
        let frames = addresses
            .iter()
            .zip(&lookups)
            .map(|(&address, lookup)| {
                let offset = address.wrapping_sub(module.base);
                let found = if lookup.is_some() {
                    resolved.next()
                } else {
                    None
                };
                match found {
                    Some(Resolved::Frames(mut frames)) => {
                        for frame in &mut frames {
                            frame.address = address;
                            frame.module_offset = offset;
                        }
                        frames
                    }
                    Some(Resolved::Unknown(reason)) => {
                        no_symbols |= reason == Reason::MissingSyms;
                        unknown(address)
                    }
                    None => unknown(address),
                }
            })
            .collect();
        if no_symbols {
            self.say_no_symbols(module, &name);
        }
        frames
    }

    /// Looks `addresses` (ELF virtual addresses) up in `file`, one result
    /// per address, or why the file could not be used at all.
    fn resolve(&self, file: &Path, addresses: &[u64], name: &str) -> Result<Vec<Resolved>, String> {
        if addresses.is_empty() {
            return Ok(Vec::new());
        }
        let source = Source::Elf(Elf::new(file));
        // blazesym parses files a traced program or a user handed us; a
        // parser bug must cost this module its names, not the whole report.
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            self.inner
                .symbolize(&source, Input::VirtOffset(addresses))
                .map(|symbols| {
                    symbols
                        .into_iter()
                        .map(|symbolized| match symbolized {
                            Symbolized::Sym(sym) => Resolved::Frames(frames_of(&sym, name)),
                            Symbolized::Unknown(reason) => Resolved::Unknown(reason),
                        })
                        .collect::<Vec<_>>()
                })
        }));
        match outcome {
            Ok(Ok(resolved)) if resolved.len() == addresses.len() => Ok(resolved),
            Ok(Ok(resolved)) => Err(format!(
                "{} results for {} addresses",
                resolved.len(),
                addresses.len()
            )),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err("the symbolizer panicked".to_string()),
        }
    }

    /// The state of `module`, finding and checking its file on first use.
    fn module_state(&mut self, module: &ModuleLoad) -> &ModuleState {
        let key = ModuleKey {
            path: module.path.clone(),
            build_id: module.build_id.clone(),
        };
        if !self.modules.contains_key(&key) {
            let state = match locate(module, &self.options) {
                Ok(file) => ModuleState::Usable {
                    file,
                    said_no_symbols: false,
                },
                Err(warning) => {
                    if let Some(warning) = warning {
                        self.warn(warning);
                    }
                    ModuleState::Skipped
                }
            };
            self.modules.insert(key.clone(), state);
        }
        self.modules.get(&key).unwrap_or(&ModuleState::Skipped)
    }

    /// Stops symbolizing `module`, saying why.
    fn give_up(&mut self, module: &ModuleLoad, warning: Warning) {
        self.warn(warning);
        let key = ModuleKey {
            path: module.path.clone(),
            build_id: module.build_id.clone(),
        };
        self.modules.insert(key, ModuleState::Skipped);
    }

    fn say_no_symbols(&mut self, module: &ModuleLoad, name: &str) {
        let key = ModuleKey {
            path: module.path.clone(),
            build_id: module.build_id.clone(),
        };
        let warning = match self.modules.get_mut(&key) {
            Some(ModuleState::Usable {
                file,
                said_no_symbols,
            }) if !*said_no_symbols => {
                *said_no_symbols = true;
                Warning::NoSymbols {
                    module: name.to_string(),
                    file: file.clone(),
                }
            }
            _ => return,
        };
        self.warn(warning);
    }

    fn warn(&mut self, warning: Warning) {
        if !self.warnings.contains(&warning) {
            self.warnings.push(warning);
        }
    }
}

/// What one looked-up address became.
enum Resolved {
    Frames(Vec<Frame>),
    Unknown(Reason),
}

/// The ELF virtual address to look up for runtime `address`, `None` if it
/// is not inside `module`. Return addresses are looked up one byte earlier,
/// in the call instruction; a call that ends its segment (to a function that
/// does not return) has its return address just past the segment.
fn lookup_address(module: &ModuleLoad, address: u64, kind: AddressKind) -> Option<u64> {
    let instruction = match kind {
        AddressKind::Return => address.checked_sub(1)?,
        AddressKind::Exact => address,
    };
    if !module.segments.is_empty() && !module.contains(instruction) {
        return None;
    }
    instruction.checked_sub(module.base)
}

/// The frames of one symbol, innermost inlined function first. Addresses
/// are filled in by the caller.
fn frames_of(sym: &Sym<'_>, module: &str) -> Vec<Frame> {
    let frame = |name: &str, code_info: Option<&CodeInfo<'_>>, inlined: bool| {
        let mut frame = Frame::unknown(module, 0, 0);
        frame.function = (!name.is_empty()).then(|| name.to_string());
        frame.inlined = inlined;
        if let Some(info) = code_info {
            frame.file = Some(info.to_path().to_string_lossy().into_owned());
            frame.line = info.line;
            frame.column = info.column.map(u32::from);
        }
        frame
    };
    // blazesym lists inlined calls outermost first; each carries the
    // location inside that inlined function, and the symbol's own location
    // is inside the function the code belongs to.
    let mut frames: Vec<Frame> = sym
        .inlined
        .iter()
        .rev()
        .map(|inlined| frame(&inlined.name, inlined.code_info.as_ref(), true))
        .collect();
    frames.push(frame(&sym.name, sym.code_info.as_deref(), false));
    frames
}

#[cfg(test)]
mod tests {
    use super::*;
    use heapwise_trace::LoadSegment;

    fn module_at(base: u64, path: &str) -> ModuleLoad {
        ModuleLoad {
            id: 1,
            ts: 0,
            base,
            path: path.into(),
            build_id: vec![],
            segments: vec![
                LoadSegment {
                    vaddr: 0,
                    memsz: 0x1000,
                    file_offset: 0,
                    flags: 4,
                },
                LoadSegment {
                    vaddr: 0x1000,
                    memsz: 0x2000,
                    file_offset: 0x1000,
                    flags: 5,
                },
            ],
        }
    }

    #[test]
    fn a_return_address_is_looked_up_in_its_call_instruction() {
        let module = module_at(0x7f00_0000_0000, "/lib/libfoo.so");
        assert_eq!(
            lookup_address(&module, 0x7f00_0000_1235, AddressKind::Return),
            Some(0x1234)
        );
        assert_eq!(
            lookup_address(&module, 0x7f00_0000_1235, AddressKind::Exact),
            Some(0x1235)
        );
    }

    #[test]
    fn a_call_ending_a_segment_still_belongs_to_it() {
        let module = module_at(0x7f00_0000_0000, "/lib/libfoo.so");
        let end = 0x7f00_0000_3000;
        assert_eq!(
            lookup_address(&module, end, AddressKind::Return),
            Some(0x2fff)
        );
        assert_eq!(lookup_address(&module, end, AddressKind::Exact), None);
    }

    #[test]
    fn addresses_outside_the_module_are_not_looked_up() {
        let module = module_at(0x7f00_0000_0000, "/lib/libfoo.so");
        assert_eq!(lookup_address(&module, 0x1000, AddressKind::Return), None);
        assert_eq!(lookup_address(&module, 0, AddressKind::Return), None);
        assert_eq!(
            lookup_address(&module, 0x7f00_0000_4000, AddressKind::Return),
            None
        );
    }

    #[test]
    fn without_segments_only_the_base_is_checked() {
        let mut module = module_at(0x5000, "/lib/libfoo.so");
        module.segments.clear();
        assert_eq!(
            lookup_address(&module, 0x9001, AddressKind::Return),
            Some(0x4000)
        );
        assert_eq!(lookup_address(&module, 0x4000, AddressKind::Return), None);
    }

    #[test]
    fn a_missing_module_gives_one_unknown_frame_per_address_and_one_warning() {
        let mut symbolizer = Symbolizer::default();
        let module = module_at(0x7f00_0000_0000, "/nonexistent/heapwise/libgone.so");
        let addresses = [0x7f00_0000_1235, 0x7f00_0000_2001, 0x42];
        for _ in 0..2 {
            let frames = symbolizer.symbolize(&module, &addresses);
            assert_eq!(frames.len(), 3);
            for (frames, &address) in frames.iter().zip(&addresses) {
                assert_eq!(
                    frames,
                    &[Frame::unknown(
                        "/nonexistent/heapwise/libgone.so",
                        address,
                        address.wrapping_sub(module.base)
                    )]
                );
            }
        }
        assert_eq!(
            symbolizer.warnings(),
            &[Warning::Missing {
                module: module.path.clone(),
                file: module.path.clone().into()
            }]
        );
        assert_eq!(symbolizer.take_warnings().len(), 1);
        assert!(symbolizer.warnings().is_empty());
    }

    #[test]
    fn the_vdso_is_skipped_silently() {
        let mut symbolizer = Symbolizer::default();
        let frames = symbolizer.symbolize(
            &module_at(0x7fff_0000_0000, "linux-vdso.so.1"),
            &[0x7fff_0000_1100],
        );
        assert_eq!(
            frames,
            vec![vec![Frame::unknown(
                "linux-vdso.so.1",
                0x7fff_0000_1100,
                0x1100
            )]]
        );
        assert!(symbolizer.warnings().is_empty());
    }

    #[test]
    fn a_broken_elf_file_gives_one_warning_and_unknown_frames() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        // ELF magic, then a header and program headers of pseudo-random bytes.
        let mut bytes = b"\x7fELF\x02\x01\x01".to_vec();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        bytes.extend((0..8192).map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        }));
        let path = dir.path().join("libbroken.so");
        std::fs::write(&path, &bytes)?;
        let module = module_at(0x7f00_0000_0000, &path.to_string_lossy());
        let mut symbolizer = Symbolizer::default();
        for _ in 0..2 {
            let frames = symbolizer.symbolize(&module, &[0x7f00_0000_1235]);
            assert_eq!(frames.len(), 1);
            assert_eq!(frames[0].len(), 1);
            assert_eq!(frames[0][0].function, None);
        }
        assert!(
            matches!(symbolizer.warnings(), [Warning::Unreadable { file, .. }] if *file == path),
            "{:?}",
            symbolizer.warnings()
        );
        Ok(())
    }

    #[test]
    fn no_addresses_give_no_frames() {
        let mut symbolizer = Symbolizer::default();
        assert!(
            symbolizer
                .symbolize(&module_at(0, "/nonexistent/x.so"), &[])
                .is_empty()
        );
    }
}
