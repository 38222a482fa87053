//! Pass 1: every record read, the references counted but not stored.

use std::io::Read;

use rustc_hash::FxHashMap;

use super::Header;
use super::input::Input;
use crate::error::HprofError;
use crate::format::{basic, sub, tag, value_size};
use crate::model::{ClassKind, Field, RootKind};

/// Reads the header: `JAVA PROFILE 1.0.x\0`, the identifier size and the time.
pub(crate) fn header<R: Read>(input: &mut Input<R>) -> Result<Header, HprofError> {
    input.context = "the header";
    let Some(name) = input.until_zero(64)? else {
        return Err(HprofError::NotHprof);
    };
    if !super::is_hprof(&name) {
        return Err(HprofError::NotHprof);
    }
    let id_size = input.u32()?;
    if id_size != 4 && id_size != 8 {
        return Err(HprofError::IdSize(id_size));
    }
    input.set_id_size(id_size as u8);
    let timestamp_ms = input.u64()?;
    Ok(Header {
        format: String::from_utf8_lossy(&name).into_owned(),
        id_size: id_size as u8,
        timestamp_ms,
    })
}

/// A class as pass 1 knows it: what the dump says, nothing derived yet.
#[derive(Debug, Clone)]
pub(crate) struct RawClass {
    pub(crate) id: u64,
    pub(crate) dumped: bool,
    pub(crate) super_id: u64,
    pub(crate) loader_id: u64,
    pub(crate) kind: Option<ClassKind>,
    pub(crate) fields: Vec<Field>,
    pub(crate) statics: Vec<Field>,
    pub(crate) constant_refs: u32,
}

impl RawClass {
    fn new(id: u64) -> RawClass {
        RawClass {
            id,
            dumped: false,
            super_id: 0,
            loader_id: 0,
            kind: None,
            fields: Vec::new(),
            statics: Vec::new(),
            constant_refs: 0,
        }
    }
}

/// Marks, in `Scan::class`, an object that is a class (its `java.lang.Class` mirror).
pub(crate) const CLASS_OBJECT: u32 = u32::MAX;

/// A stack frame record, names still as string ids.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawFrame {
    pub(crate) method: u64,
    pub(crate) source: u64,
    pub(crate) class_serial: u32,
    pub(crate) line: i32,
}

/// Everything pass 1 collects.
pub(crate) struct Scan {
    pub(crate) id_size: u8,
    pub(crate) strings: FxHashMap<u64, String>,
    /// LOAD CLASS: class object id → name string id, and serial → class id.
    pub(crate) class_names: FxHashMap<u64, u64>,
    pub(crate) class_serials: FxHashMap<u32, u64>,
    pub(crate) frames: FxHashMap<u64, RawFrame>,
    /// Stack trace serial → frame ids.
    pub(crate) traces: FxHashMap<u32, Vec<u64>>,
    /// Thread serial → (thread object id, stack trace serial).
    pub(crate) thread_objects: Vec<(u32, u64, u32)>,
    /// START THREAD: thread serial → thread name string id.
    pub(crate) thread_names: FxHashMap<u32, u64>,
    pub(crate) classes: Vec<RawClass>,
    pub(crate) class_index: FxHashMap<u64, u32>,
    /// Classes standing for primitive arrays, by element type.
    pub(crate) primitive_classes: [Option<u32>; 12],
    /// Per object, in file order: address, class (or [`CLASS_OBJECT`]),
    /// array length (0 for instances), references (arrays and classes).
    pub(crate) addr: Vec<u64>,
    pub(crate) class: Vec<u32>,
    pub(crate) length: Vec<u32>,
    pub(crate) degree: Vec<u32>,
    pub(crate) roots: Vec<(RootKind, u64)>,
    /// Every object's reference slots (addresses, 0 for null), in file order,
    /// while `raw_complete` holds: then no second reading is needed.
    pub(crate) raw_refs: Vec<u64>,
    /// False once an instance came before its class's layout was known
    /// (HotSpot writes every class first; other writers may not).
    pub(crate) raw_complete: bool,
    /// Byte offsets of the references in an instance of each class, when known.
    ref_offsets: FxHashMap<u32, Option<Vec<u32>>>,
    pub(crate) heap_dumps: u32,
    pub(crate) saw_segment: bool,
    pub(crate) saw_end: bool,
    pub(crate) unknown_records: u32,
}

impl Scan {
    pub(crate) fn new(id_size: u8) -> Scan {
        Scan {
            id_size,
            strings: FxHashMap::default(),
            class_names: FxHashMap::default(),
            class_serials: FxHashMap::default(),
            frames: FxHashMap::default(),
            traces: FxHashMap::default(),
            thread_objects: Vec::new(),
            thread_names: FxHashMap::default(),
            classes: Vec::new(),
            class_index: FxHashMap::default(),
            primitive_classes: [None; 12],
            addr: Vec::new(),
            class: Vec::new(),
            length: Vec::new(),
            degree: Vec::new(),
            roots: Vec::new(),
            raw_refs: Vec::new(),
            raw_complete: true,
            ref_offsets: FxHashMap::default(),
            heap_dumps: 0,
            saw_segment: false,
            saw_end: false,
            unknown_records: 0,
        }
    }

    /// The index of the class whose object is at `id`, created on first sight.
    pub(crate) fn class_for(&mut self, id: u64) -> u32 {
        if let Some(&index) = self.class_index.get(&id) {
            return index;
        }
        let index = self.classes.len() as u32;
        self.classes.push(RawClass::new(id));
        self.class_index.insert(id, index);
        index
    }

    fn primitive_class(&mut self, element: u8) -> u32 {
        if let Some(index) = self.primitive_classes[element as usize] {
            return index;
        }
        let index = self.classes.len() as u32;
        let mut class = RawClass::new(0);
        class.kind = Some(ClassKind::PrimitiveArray(element));
        self.classes.push(class);
        self.primitive_classes[element as usize] = Some(index);
        index
    }

    fn object(&mut self, addr: u64, class: u32, length: u32, degree: u32) {
        self.addr.push(addr);
        self.class.push(class);
        self.length.push(length);
        self.degree.push(degree);
    }

    /// Reads every record to the end of the file.
    pub(crate) fn records<R: Read>(
        &mut self,
        input: &mut Input<R>,
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
            let at = input.offset();
            let record = input.u8()?;
            let _time = input.u32()?;
            let length = u64::from(input.u32()?);
            let end = input.offset() + length;
            match record {
                tag::UTF8 => {
                    input.context = "a string record";
                    let id = input.id()?;
                    let n = length
                        .checked_sub(u64::from(input.id_size()))
                        .ok_or_else(|| {
                            HprofError::malformed(at, "a string record shorter than its identifier")
                        })?;
                    let text = read_text(input, n)?;
                    self.strings.insert(id, text);
                }
                tag::LOAD_CLASS => {
                    input.context = "a LOAD CLASS record";
                    let serial = input.u32()?;
                    let id = input.id()?;
                    let _trace = input.u32()?;
                    let name = input.id()?;
                    self.class_names.insert(id, name);
                    self.class_serials.insert(serial, id);
                }
                tag::STACK_FRAME => {
                    input.context = "a STACK FRAME record";
                    let id = input.id()?;
                    let method = input.id()?;
                    let _signature = input.id()?;
                    let source = input.id()?;
                    let class_serial = input.u32()?;
                    let line = input.u32()? as i32;
                    self.frames.insert(
                        id,
                        RawFrame {
                            method,
                            source,
                            class_serial,
                            line,
                        },
                    );
                }
                tag::STACK_TRACE => {
                    input.context = "a STACK TRACE record";
                    let serial = input.u32()?;
                    let _thread = input.u32()?;
                    let count = input.u32()?;
                    if u64::from(count) * u64::from(input.id_size()) + 12 != length {
                        return Err(HprofError::malformed(
                            at,
                            format!(
                                "a stack trace of {count} frames in a record of {length} bytes"
                            ),
                        ));
                    }
                    let frames = (0..count)
                        .map(|_| input.id())
                        .collect::<Result<Vec<u64>, _>>()?;
                    self.traces.insert(serial, frames);
                }
                tag::START_THREAD => {
                    input.context = "a START THREAD record";
                    let serial = input.u32()?;
                    let _object = input.id()?;
                    let _trace = input.u32()?;
                    let name = input.id()?;
                    self.thread_names.insert(serial, name);
                    input.skip(end.saturating_sub(input.offset()))?;
                }
                tag::HEAP_DUMP | tag::HEAP_DUMP_SEGMENT => {
                    self.heap_dumps += 1;
                    self.saw_segment |= record == tag::HEAP_DUMP_SEGMENT;
                    self.heap_dump(input, end)?;
                }
                tag::HEAP_DUMP_END => self.saw_end = true,
                tag::UNLOAD_CLASS
                | tag::ALLOC_SITES
                | tag::HEAP_SUMMARY
                | tag::END_THREAD
                | tag::CPU_SAMPLES
                | tag::CONTROL_SETTINGS => {
                    input.context = "a record";
                    input.skip(length)?;
                }
                other => {
                    // Records carry their length, so an unknown one can be
                    // skipped; but a tag no writer uses is more likely damage.
                    if other > 0x2C || other == 0 {
                        return Err(HprofError::malformed(
                            at,
                            format!(
                                "record tag 0x{other:02X} is not an HPROF record: the file is damaged or was cut \
                                 while being written"
                            ),
                        ));
                    }
                    self.unknown_records += 1;
                    input.context = "a record";
                    input.skip(length)?;
                }
            }
            if input.offset() != end {
                return Err(HprofError::malformed(
                    at,
                    format!(
                        "a record of tag 0x{record:02X} declares {length} bytes but holds {}",
                        input.offset() - (end - length)
                    ),
                ));
            }
        }
        progress(input.offset());
        if self.heap_dumps == 0 {
            return Err(HprofError::malformed(
                input.offset(),
                "the file holds no heap dump record (HEAP DUMP or HEAP DUMP SEGMENT)",
            ));
        }
        if self.saw_segment && !self.saw_end {
            return Err(HprofError::Truncated {
                offset: input.offset(),
                context: "the heap dump: its segments are not followed by HEAP DUMP END",
            });
        }
        Ok(())
    }

    /// The sub-records of one HEAP DUMP (SEGMENT) record, up to `end`.
    fn heap_dump<R: Read>(&mut self, input: &mut Input<R>, end: u64) -> Result<(), HprofError> {
        let id = u64::from(input.id_size());
        while input.offset() < end {
            let at = input.offset();
            input.context = "a heap dump sub-record";
            let kind = input.u8()?;
            match kind {
                sub::ROOT_UNKNOWN => self.root(RootKind::Unknown, input)?,
                sub::ROOT_JNI_GLOBAL => {
                    self.root(RootKind::JniGlobal, input)?;
                    input.skip(id)?;
                }
                sub::ROOT_JNI_LOCAL | sub::ROOT_JAVA_FRAME => {
                    let object = input.id()?;
                    let thread = input.u32()?;
                    let frame = input.u32()?;
                    let root = if kind == sub::ROOT_JNI_LOCAL {
                        RootKind::JniLocal { thread, frame }
                    } else {
                        RootKind::JavaFrame { thread, frame }
                    };
                    self.roots.push((root, object));
                }
                sub::ROOT_NATIVE_STACK | sub::ROOT_THREAD_BLOCK => {
                    let object = input.id()?;
                    let thread = input.u32()?;
                    let root = if kind == sub::ROOT_NATIVE_STACK {
                        RootKind::NativeStack { thread }
                    } else {
                        RootKind::ThreadBlock { thread }
                    };
                    self.roots.push((root, object));
                }
                sub::ROOT_STICKY_CLASS => self.root(RootKind::StickyClass, input)?,
                sub::ROOT_MONITOR_USED => self.root(RootKind::MonitorUsed, input)?,
                sub::ROOT_THREAD_OBJECT => {
                    let object = input.id()?;
                    let thread = input.u32()?;
                    let trace = input.u32()?;
                    self.roots.push((RootKind::ThreadObject { thread }, object));
                    self.thread_objects.push((thread, object, trace));
                }
                sub::ROOT_INTERNED_STRING
                | sub::ROOT_FINALIZING
                | sub::ROOT_DEBUGGER
                | sub::ROOT_REFERENCE_CLEANUP
                | sub::ROOT_VM_INTERNAL
                | sub::UNREACHABLE => self.root(RootKind::Android(kind), input)?,
                sub::ROOT_JNI_MONITOR => {
                    self.root(RootKind::Android(kind), input)?;
                    input.skip(8)?;
                }
                sub::HEAP_DUMP_INFO => {
                    input.u32()?;
                    input.id()?;
                }
                sub::CLASS_DUMP => self.class_dump(input)?,
                sub::INSTANCE_DUMP => {
                    input.context = "an INSTANCE DUMP";
                    let object = input.id()?;
                    let _trace = input.u32()?;
                    let class = input.id()?;
                    let bytes = input.u32()?;
                    let class = self.class_for(class);
                    let mut degree = 0;
                    if self.raw_complete && !self.ref_offsets.contains_key(&class) {
                        let offsets = self.offsets_of(class);
                        self.ref_offsets.insert(class, offsets);
                    }
                    if self.raw_complete {
                        match self.ref_offsets.get(&class) {
                            Some(Some(offsets)) => {
                                let data = input.bytes(bytes as usize)?;
                                let size = id as usize;
                                degree = offsets.len() as u32;
                                for &offset in offsets {
                                    let offset = offset as usize;
                                    self.raw_refs.push(if offset + size <= data.len() {
                                        super::input::id_at(&data[offset..], size)
                                    } else {
                                        0
                                    });
                                }
                            }
                            _ => {
                                self.raw_complete = false;
                                self.raw_refs = Vec::new();
                                input.skip(u64::from(bytes))?;
                            }
                        }
                    } else {
                        input.skip(u64::from(bytes))?;
                    }
                    self.object(object, class, 0, degree);
                }
                sub::OBJECT_ARRAY_DUMP => {
                    input.context = "an OBJECT ARRAY DUMP";
                    let object = input.id()?;
                    let _trace = input.u32()?;
                    let length = input.u32()?;
                    let class = input.id()?;
                    let size = id as usize;
                    let mut non_null = 0u32;
                    let keep = self.raw_complete;
                    let raw = &mut self.raw_refs;
                    input.chunks(u64::from(length) * id, size, |chunk| {
                        for b in chunk.chunks_exact(size) {
                            let address = super::input::id_at(b, size);
                            if address != 0 {
                                non_null += 1;
                                if keep {
                                    raw.push(address);
                                }
                            }
                        }
                    })?;
                    let class = self.class_for(class);
                    self.classes[class as usize].kind = Some(ClassKind::ObjectArray);
                    self.object(object, class, length, non_null);
                }
                sub::PRIMITIVE_ARRAY_DUMP | sub::PRIMITIVE_ARRAY_NODATA => {
                    input.context = "a PRIMITIVE ARRAY DUMP";
                    let object = input.id()?;
                    let _trace = input.u32()?;
                    let length = input.u32()?;
                    let element = input.u8()?;
                    let Some(size) =
                        value_size(element, input.id_size()).filter(|_| element != basic::OBJECT)
                    else {
                        return Err(HprofError::malformed(
                            at,
                            format!(
                                "a primitive array of element type {element}, which is not a primitive type"
                            ),
                        ));
                    };
                    if kind == sub::PRIMITIVE_ARRAY_DUMP {
                        input.skip(u64::from(length) * u64::from(size))?;
                    }
                    let class = self.primitive_class(element);
                    self.object(object, class, length, 0);
                }
                other => {
                    return Err(HprofError::malformed(
                        at,
                        format!(
                            "heap dump sub-record tag 0x{other:02X} is not one the format defines: the file is \
                             damaged or was cut while being written"
                        ),
                    ));
                }
            }
        }
        if input.offset() != end {
            return Err(HprofError::malformed(
                input.offset(),
                "a heap dump sub-record runs past the end of its segment",
            ));
        }
        Ok(())
    }

    fn root<R: Read>(&mut self, kind: RootKind, input: &mut Input<R>) -> Result<(), HprofError> {
        let object = input.id()?;
        self.roots.push((kind, object));
        Ok(())
    }

    fn class_dump<R: Read>(&mut self, input: &mut Input<R>) -> Result<(), HprofError> {
        input.context = "a CLASS DUMP";
        let at = input.offset();
        let id = input.id()?;
        let _trace = input.u32()?;
        let super_id = input.id()?;
        let loader_id = input.id()?;
        let signers = input.id()?;
        let domain = input.id()?;
        let _reserved = (input.id()?, input.id()?);
        let _instance_size = input.u32()?;
        let id_size = input.id_size();
        let mut constant_refs = 0;
        let mut constants = Vec::new();
        for _ in 0..input.u16()? {
            let _index = input.u16()?;
            let ty = input.u8()?;
            let size = value_size(ty, id_size).ok_or_else(|| bad_type(at, ty))?;
            if ty == basic::OBJECT {
                constants.push(input.id()?);
                constant_refs += 1;
            } else {
                input.skip(u64::from(size))?;
            }
        }
        let mut statics = Vec::new();
        let mut static_refs = Vec::new();
        for _ in 0..input.u16()? {
            let name = input.id()?;
            let ty = input.u8()?;
            let size = value_size(ty, id_size).ok_or_else(|| bad_type(at, ty))?;
            if ty == basic::OBJECT {
                static_refs.push(input.id()?);
            } else {
                input.skip(u64::from(size))?;
            }
            statics.push(Field {
                name: self.string(name),
                ty,
            });
        }
        if self.raw_complete {
            // The order of a class's edges: super, loader, signers, protection
            // domain, static fields, constant pool (as the second reading does).
            self.raw_refs
                .extend_from_slice(&[super_id, loader_id, signers, domain]);
            self.raw_refs.extend_from_slice(&static_refs);
            self.raw_refs.extend_from_slice(&constants);
        }
        let mut fields = Vec::new();
        for _ in 0..input.u16()? {
            let name = input.id()?;
            let ty = input.u8()?;
            value_size(ty, id_size).ok_or_else(|| bad_type(at, ty))?;
            fields.push(Field {
                name: self.string(name),
                ty,
            });
        }
        let index = self.class_for(id);
        let class = &mut self.classes[index as usize];
        if class.dumped {
            return Err(HprofError::malformed(
                at,
                format!("class 0x{id:x} is dumped twice"),
            ));
        }
        let degree =
            4 + statics.iter().filter(|f| f.ty == basic::OBJECT).count() as u32 + constant_refs;
        class.dumped = true;
        class.super_id = super_id;
        class.loader_id = loader_id;
        class.fields = fields;
        class.statics = statics;
        class.constant_refs = constant_refs;
        self.object(id, CLASS_OBJECT, 0, degree);
        Ok(())
    }

    /// The reference offsets of an instance of `class`, when the class and
    /// all its superclasses are dumped already.
    fn offsets_of(&self, class: u32) -> Option<Vec<u32>> {
        let mut offsets = Vec::new();
        let mut offset = 0u32;
        let mut current = Some(class);
        let mut hops = 0;
        while let Some(c) = current {
            let raw = &self.classes[c as usize];
            if !raw.dumped || hops > 1024 {
                return None;
            }
            for field in &raw.fields {
                if field.ty == basic::OBJECT {
                    offsets.push(offset);
                }
                offset += u32::from(value_size(field.ty, self.id_size).unwrap_or(0));
            }
            hops += 1;
            current = if raw.super_id == 0 {
                None
            } else {
                Some(*self.class_index.get(&raw.super_id)?)
            };
        }
        Some(offsets)
    }

    fn string(&self, id: u64) -> String {
        self.strings
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("<string 0x{id:x}>"))
    }
}

fn bad_type(at: u64, ty: u8) -> HprofError {
    HprofError::malformed(at, format!("basic type {ty} is not one the format defines"))
}

/// A string record's text, invalid UTF-8 replaced.
fn read_text<R: Read>(input: &mut Input<R>, mut n: u64) -> Result<String, HprofError> {
    let mut bytes = Vec::with_capacity(n.min(1 << 16) as usize);
    while n > 0 {
        let step = n.min(1 << 16) as usize;
        bytes.extend_from_slice(input.bytes(step)?);
        n -= step as u64;
    }
    Ok(match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
    })
}
