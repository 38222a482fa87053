//! Pass 2: every reference stored as the node it points to.

use std::io::Read;

use super::input::{Input, id_at};
use super::layout::Laid;
use crate::error::HprofError;
use crate::format::{basic, sub, tag, value_size};

pub(crate) fn read_references<R: Read>(
    input: &mut Input<R>,
    laid: &mut Laid,
    progress: &mut dyn FnMut(u64),
) -> Result<(), HprofError> {
    let mut next_report = 0u64;
    loop {
        if input.offset() >= next_report {
            progress(input.offset());
            next_report = input.offset() + (16 << 20);
        }
        input.context = "a record header";
        if input.at_end()? {
            break;
        }
        let record = input.u8()?;
        let _time = input.u32()?;
        let length = u64::from(input.u32()?);
        let end = input.offset() + length;
        if record == tag::HEAP_DUMP || record == tag::HEAP_DUMP_SEGMENT {
            heap_dump(input, laid, end)?;
        } else {
            input.skip(length)?;
        }
    }
    progress(input.offset());
    Ok(())
}

impl Laid {
    /// Stores the reference to `address` in edge slot `slot` (null and
    /// missing objects stay [`NULL`]).
    #[inline]
    fn store(&mut self, slot: usize, address: u64) {
        if address == 0 {
            return;
        }
        match self.node_at(address) {
            Some(node) => {
                self.to[slot] = node;
                self.references += 1;
            }
            None => self.dangling += 1,
        }
    }

    fn own_node(&self, address: u64, at: u64) -> Result<usize, HprofError> {
        self.node_at(address)
            .map(|n| n as usize)
            .ok_or_else(|| HprofError::malformed(at, "the file changed between the two readings"))
    }
}

fn heap_dump<R: Read>(input: &mut Input<R>, laid: &mut Laid, end: u64) -> Result<(), HprofError> {
    let id = input.id_size();
    let idw = u64::from(id);
    while input.offset() < end {
        let at = input.offset();
        input.context = "a heap dump sub-record";
        match input.u8()? {
            sub::ROOT_UNKNOWN
            | sub::ROOT_STICKY_CLASS
            | sub::ROOT_MONITOR_USED
            | sub::ROOT_INTERNED_STRING
            | sub::ROOT_FINALIZING
            | sub::ROOT_DEBUGGER
            | sub::ROOT_REFERENCE_CLEANUP
            | sub::ROOT_VM_INTERNAL
            | sub::UNREACHABLE => input.skip(idw)?,
            sub::ROOT_JNI_GLOBAL => input.skip(2 * idw)?,
            sub::ROOT_JNI_LOCAL
            | sub::ROOT_JAVA_FRAME
            | sub::ROOT_THREAD_OBJECT
            | sub::ROOT_JNI_MONITOR => input.skip(idw + 8)?,
            sub::ROOT_NATIVE_STACK | sub::ROOT_THREAD_BLOCK => input.skip(idw + 4)?,
            sub::HEAP_DUMP_INFO => input.skip(4 + idw)?,
            sub::CLASS_DUMP => class_dump(input, laid, at)?,
            sub::INSTANCE_DUMP => {
                input.context = "an INSTANCE DUMP";
                let object = input.id()?;
                let _trace = input.u32()?;
                let _class = input.id()?;
                let bytes = input.u32()? as usize;
                let node = laid.own_node(object, at)?;
                let class = laid.class[node] as usize;
                let first = laid.first_edge[node] as usize;
                let data = input.bytes(bytes)?;
                let size = id as usize;
                let count = laid.classes[class].ref_offsets.len();
                for k in 0..count {
                    let offset = laid.classes[class].ref_offsets[k] as usize;
                    if offset + size <= data.len() {
                        laid.store(first + k, id_at(&data[offset..], size));
                    }
                }
            }
            sub::OBJECT_ARRAY_DUMP => {
                input.context = "an OBJECT ARRAY DUMP";
                let object = input.id()?;
                let _trace = input.u32()?;
                let length = u64::from(input.u32()?);
                let _class = input.id()?;
                let node = laid.own_node(object, at)?;
                let mut slot = laid.first_edge[node] as usize;
                let limit = laid.first_edge[node + 1] as usize;
                let size = id as usize;
                input.chunks(length * idw, size, |chunk| {
                    for b in chunk.chunks_exact(size) {
                        let address = id_at(b, size);
                        if address != 0 && slot < limit {
                            laid.store(slot, address);
                            slot += 1;
                        }
                    }
                })?;
            }
            kind @ (sub::PRIMITIVE_ARRAY_DUMP | sub::PRIMITIVE_ARRAY_NODATA) => {
                input.context = "a PRIMITIVE ARRAY DUMP";
                input.skip(idw + 4)?;
                let length = u64::from(input.u32()?);
                let element = input.u8()?;
                if kind == sub::PRIMITIVE_ARRAY_DUMP {
                    input.skip(length * u64::from(value_size(element, id).unwrap_or(1)))?;
                }
            }
            other => {
                return Err(HprofError::malformed(
                    at,
                    format!(
                        "heap dump sub-record tag 0x{other:02X} changed between the two readings"
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn class_dump<R: Read>(input: &mut Input<R>, laid: &mut Laid, at: u64) -> Result<(), HprofError> {
    input.context = "a CLASS DUMP";
    let object = input.id()?;
    let _trace = input.u32()?;
    let node = laid.own_node(object, at)?;
    let mut slot = laid.first_edge[node] as usize;
    let limit = laid.first_edge[node + 1] as usize;
    // super, loader, signers, protection domain.
    for _ in 0..4 {
        let address = input.id()?;
        laid.store(slot, address);
        slot += 1;
    }
    input.id()?;
    input.id()?;
    input.u32()?;
    let id = input.id_size();
    let mut constants = Vec::new();
    for _ in 0..input.u16()? {
        input.u16()?;
        let ty = input.u8()?;
        if ty == basic::OBJECT {
            constants.push(input.id()?);
        } else {
            input.skip(u64::from(value_size(ty, id).unwrap_or(0)))?;
        }
    }
    for _ in 0..input.u16()? {
        input.id()?;
        let ty = input.u8()?;
        if ty == basic::OBJECT {
            let address = input.id()?;
            if slot < limit {
                laid.store(slot, address);
            }
            slot += 1;
        } else {
            input.skip(u64::from(value_size(ty, id).unwrap_or(0)))?;
        }
    }
    for address in constants {
        if slot < limit {
            laid.store(slot, address);
        }
        slot += 1;
    }
    for _ in 0..input.u16()? {
        input.id()?;
        input.u8()?;
    }
    Ok(())
}
