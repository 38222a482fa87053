//! Times symbolizing many addresses across many modules, the way a report
//! does: one batch per module, every address a return address.
//!
//! ```text
//! cargo run --release -p heapwise-symbols --example symbolize_many -- [--per-module N] [ELF files...]
//! ```
//!
//! Without files, it symbolizes the modules mapped in its own process. Each
//! file gets a made-up load base and N addresses (default 500) spread over
//! its executable segments; the first pass reads the files, the second finds
//! them cached.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

use heapwise_symbols::{Options, Symbolizer};
use heapwise_trace::{LoadSegment, ModuleLoad};

fn main() -> Result<(), Box<dyn Error>> {
    let mut per_module = 500usize;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--per-module" {
            per_module = args.next().ok_or("--per-module needs a number")?.parse()?;
        } else {
            files.push(PathBuf::from(arg));
        }
    }
    if files.is_empty() {
        files = mapped_files()?;
    }

    let mut modules = Vec::new();
    for (index, file) in files.iter().enumerate() {
        let base = 0x7f00_0000_0000 + ((index as u64) << 32);
        match module_for(file, base, index as u32) {
            Ok(module) => modules.push(module),
            Err(err) => eprintln!("skipping {}: {err}", file.display()),
        }
    }
    let batches: Vec<(ModuleLoad, Vec<u64>)> = modules
        .into_iter()
        .map(|module| {
            let addresses = spread(&module, per_module);
            (module, addresses)
        })
        .collect();
    let total: usize = batches.iter().map(|(_, addresses)| addresses.len()).sum();

    let mut symbolizer = Symbolizer::new(Options::default());
    for pass in ["first pass (reads files)", "second pass (cached)"] {
        let start = Instant::now();
        let (mut named, mut with_line) = (0usize, 0usize);
        for (module, addresses) in &batches {
            for frames in symbolizer.symbolize(module, addresses) {
                named += usize::from(frames.iter().any(|f| f.function.is_some()));
                with_line += usize::from(frames.iter().any(|f| f.line.is_some()));
            }
        }
        let elapsed = start.elapsed();
        println!(
            "{pass}: {total} addresses in {} modules: {:.1} ms ({:.2} µs/address); {named} named, {with_line} with a line",
            batches.len(),
            elapsed.as_secs_f64() * 1e3,
            elapsed.as_secs_f64() * 1e6 / total.max(1) as f64,
        );
    }
    for warning in symbolizer.warnings() {
        println!("warning: {warning}");
    }
    Ok(())
}

/// The ELF files mapped in this process.
fn mapped_files() -> Result<Vec<PathBuf>, Box<dyn Error>> {
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    let mut files: Vec<PathBuf> = maps
        .lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .filter(|p| p.starts_with('/'))
        .map(PathBuf::from)
        .collect();
    files.dedup();
    Ok(files)
}

/// The module `file` would be if loaded at `base`: its `PT_LOAD` program
/// headers (ELF64 little-endian only) and its build-id.
fn module_for(file: &Path, base: u64, id: u32) -> Result<ModuleLoad, Box<dyn Error>> {
    let data = std::fs::read(file)?;
    let u16_at = |at: usize| -> Result<u64, Box<dyn Error>> {
        Ok(u64::from(u16::from_le_bytes(
            data.get(at..at + 2).ok_or("truncated")?.try_into()?,
        )))
    };
    let u32_at = |at: usize| -> Result<u32, Box<dyn Error>> {
        Ok(u32::from_le_bytes(
            data.get(at..at + 4).ok_or("truncated")?.try_into()?,
        ))
    };
    let u64_at = |at: usize| -> Result<u64, Box<dyn Error>> {
        Ok(u64::from_le_bytes(
            data.get(at..at + 8).ok_or("truncated")?.try_into()?,
        ))
    };
    if data.get(..6) != Some(b"\x7fELF\x02\x01") {
        return Err("not a 64-bit little-endian ELF file".into());
    }
    let (phoff, phentsize, phnum) = (
        u64_at(0x20)? as usize,
        u16_at(0x36)? as usize,
        u16_at(0x38)? as usize,
    );
    let mut segments = Vec::new();
    for index in 0..phnum {
        let at = phoff + index * phentsize;
        const PT_LOAD: u32 = 1;
        if u32_at(at)? == PT_LOAD {
            segments.push(LoadSegment {
                vaddr: u64_at(at + 16)?,
                memsz: u64_at(at + 40)?,
                file_offset: u64_at(at + 8)?,
                flags: u32_at(at + 4)?,
            });
        }
    }
    let build_id = blazesym::helper::read_elf_build_id(file)?
        .map(|id| id.into_owned())
        .unwrap_or_default();
    Ok(ModuleLoad {
        id,
        ts: 0,
        base,
        path: file.to_string_lossy().into_owned(),
        build_id,
        segments,
    })
}

/// `count` distinct runtime addresses spread over the executable segments.
fn spread(module: &ModuleLoad, count: usize) -> Vec<u64> {
    const PF_X: u32 = 1;
    let code: Vec<&LoadSegment> = module
        .segments
        .iter()
        .filter(|s| s.flags & PF_X != 0 && s.memsz > 0)
        .collect();
    let size: u64 = code.iter().map(|s| s.memsz).sum();
    if size == 0 {
        return Vec::new();
    }
    let step = (size / count.max(1) as u64).max(1);
    let mut addresses = Vec::with_capacity(count);
    let mut offset = step / 2;
    while addresses.len() < count && offset < size {
        let mut rest = offset;
        for segment in &code {
            if rest < segment.memsz {
                addresses.push(module.base + segment.vaddr + rest);
                break;
            }
            rest -= segment.memsz;
        }
        offset += step;
    }
    addresses
}
