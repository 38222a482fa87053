//! Builds small C and C++ programs at test time, runs them, and reads back
//! what they say about themselves: every module as the dynamic loader
//! reports it (`dl_iterate_phdr`, as the tracer records it) and the return
//! addresses their functions saw (`__builtin_return_address(0)`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use heapwise_trace::{LoadSegment, ModuleLoad};

/// C (and C++) code every test program starts with: `hw_dump_modules()`
/// prints one `module`, its `segment`s and `build-id` per loaded module.
pub const PRELUDE: &str = r#"#define _GNU_SOURCE
#include <elf.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hw_dump_module(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    (void)data;
    printf("module %lx %s\n", (unsigned long)info->dlpi_addr, info->dlpi_name);
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD) {
            printf("segment %lx %lx %lx %x\n", (unsigned long)ph->p_vaddr, (unsigned long)ph->p_memsz,
                   (unsigned long)ph->p_offset, (unsigned)ph->p_flags);
        }
        if (ph->p_type == PT_NOTE) {
            unsigned long align = ph->p_align == 8 ? 7 : 3;
            const unsigned char *p = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
            const unsigned char *end = p + ph->p_memsz;
            while (p + sizeof(ElfW(Nhdr)) <= end) {
                const ElfW(Nhdr) *note = (const ElfW(Nhdr) *)p;
                const unsigned char *name = p + sizeof(*note);
                const unsigned char *desc = name + ((note->n_namesz + align) & ~align);
                if (note->n_type == NT_GNU_BUILD_ID && note->n_namesz == 4 && memcmp(name, "GNU", 4) == 0) {
                    printf("build-id ");
                    for (unsigned j = 0; j < note->n_descsz; j++) printf("%02x", desc[j]);
                    printf("\n");
                }
                p = desc + ((note->n_descsz + align) & ~align);
            }
        }
    }
    return 0;
}

static void hw_dump_modules(void) { dl_iterate_phdr(hw_dump_module, NULL); }
"#;

/// Compiles `sources` (files in `dir`) with `compiler` and `args` (given
/// after the sources) into `dir/output`.
pub fn compile(
    compiler: &str,
    dir: &Path,
    sources: &[&str],
    output: &str,
    args: &[&str],
) -> PathBuf {
    let out = dir.join(output);
    let result = Command::new(compiler)
        .current_dir(dir)
        .arg("-o")
        .arg(&out)
        .args(sources.iter().map(|s| dir.join(s)))
        // After the sources, so that libraries (`-l`) resolve their symbols.
        .args(args)
        .arg("-Wl,--build-id")
        .output()
        .unwrap_or_else(|err| panic!("cannot run {compiler}: {err}"));
    assert!(
        result.status.success(),
        "{compiler} failed:\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
    out
}

/// Writes `text` to `dir/name`.
pub fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap_or_else(|err| panic!("cannot write {name}: {err}"));
}

/// The 1-based line of the only line of `source` containing `marker`.
pub fn line_of(source: &str, marker: &str) -> u32 {
    let lines: Vec<usize> = source
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(marker))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "marker {marker} must be on exactly one line"
    );
    u32::try_from(lines[0]).expect("line number fits u32")
}

/// What a test program said about itself.
#[derive(Debug)]
pub struct Run {
    /// Every module mapped, as the tracer would record it.
    pub modules: Vec<ModuleLoad>,
    /// `ret LABEL HEX` lines: return addresses by label.
    pub returns: HashMap<String, u64>,
    /// `fn NAME HEX` lines: function addresses by name.
    pub functions: HashMap<String, u64>,
}

impl Run {
    /// The return address recorded under `label`.
    pub fn ret(&self, label: &str) -> u64 {
        *self
            .returns
            .get(label)
            .unwrap_or_else(|| panic!("no return address {label} in {self:?}"))
    }

    /// The module whose segments hold `address`.
    pub fn module_of(&self, address: u64) -> &ModuleLoad {
        self.modules
            .iter()
            .find(|m| m.contains(address))
            .unwrap_or_else(|| panic!("no module holds {address:#x}: {:#?}", self.modules))
    }

    /// The module whose recorded path is `path`.
    pub fn module_named(&self, path: &str) -> &ModuleLoad {
        self.modules
            .iter()
            .find(|m| m.path == path)
            .unwrap_or_else(|| panic!("no module {path}: {:#?}", self.modules))
    }
}

/// Runs `exe` and parses what it printed.
pub fn run(exe: &Path) -> Run {
    let output = Command::new(exe)
        .output()
        .unwrap_or_else(|err| panic!("cannot run {}: {err}", exe.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{} failed: {stdout}{}",
        exe.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    parse(&stdout)
}

fn hex(text: &str) -> u64 {
    u64::from_str_radix(text, 16).unwrap_or_else(|err| panic!("bad hex {text:?}: {err}"))
}

fn parse(stdout: &str) -> Run {
    let mut run = Run {
        modules: Vec::new(),
        returns: HashMap::new(),
        functions: HashMap::new(),
    };
    for line in stdout.lines() {
        let (kind, rest) = line.split_once(' ').unwrap_or((line, ""));
        match kind {
            "module" => {
                let (base, path) = rest.split_once(' ').unwrap_or((rest, ""));
                let id = u32::try_from(run.modules.len()).expect("few modules");
                run.modules.push(ModuleLoad {
                    id,
                    ts: 0,
                    base: hex(base),
                    path: path.to_string(),
                    build_id: vec![],
                    segments: vec![],
                });
            }
            "segment" => {
                let fields: Vec<u64> = rest.split(' ').map(hex).collect();
                let module = run.modules.last_mut().expect("segment after module");
                let flags = u32::try_from(fields[3]).expect("flags fit u32");
                module.segments.push(LoadSegment {
                    vaddr: fields[0],
                    memsz: fields[1],
                    file_offset: fields[2],
                    flags,
                });
            }
            "build-id" => {
                let module = run.modules.last_mut().expect("build-id after module");
                module.build_id = (0..rest.len() / 2)
                    .map(|i| hex(&rest[2 * i..2 * i + 2]) as u8)
                    .collect();
            }
            "ret" | "fn" => {
                let (label, address) = rest.split_once(' ').expect("label and address");
                let map = if kind == "ret" {
                    &mut run.returns
                } else {
                    &mut run.functions
                };
                map.insert(label.to_string(), hex(address));
            }
            _ => {}
        }
    }
    run
}
