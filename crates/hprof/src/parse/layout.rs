//! Between the passes: classes laid out, objects sorted by address and
//! sized, the edge array allocated and the GC roots resolved.

use rustc_hash::FxHashMap;

use super::Header;
use super::scan::{CLASS_OBJECT, Scan};
use crate::error::HprofError;
use crate::format::{basic, java_class_name, primitive_name, value_size};
use crate::model::{
    ClassInfo, ClassKind, Frame, HprofDump, NULL, ROOT, RootKind, SizeModel, Thread,
};

/// Heaps whose every address is below this use compressed references.
const COMPRESSED_OOPS_LIMIT: u64 = 32 << 30;

/// The dump between the passes: everything but the references' targets.
pub(crate) struct Laid {
    pub(crate) classes: Vec<ClassInfo>,
    pub(crate) names: Vec<String>,
    pub(crate) class_nodes: Vec<(u32, u32)>,
    pub(crate) addr: Vec<u64>,
    pub(crate) index: AddressIndex,
    pub(crate) class: Vec<u32>,
    pub(crate) size: Vec<u32>,
    pub(crate) first_edge: Vec<u32>,
    pub(crate) to: Vec<u32>,
    pub(crate) roots: Vec<RootKind>,
    pub(crate) threads: Vec<(u32, Thread)>,
    pub(crate) sizes: SizeModel,
    pub(crate) references: u64,
    pub(crate) dangling: u64,
    /// Whether every reference is stored already (no second reading needed).
    pub(crate) resolved: bool,
    pub(crate) warnings: Vec<String>,
}

impl Laid {
    /// The node at `address`, if the dump has an object there.
    #[inline]
    pub(crate) fn node_at(&self, address: u64) -> Option<u32> {
        self.index.find(&self.addr, address)
    }

    pub(crate) fn finish(mut self, header: Header) -> HprofDump {
        if self.dangling > 0 {
            self.warnings.push(format!(
                "{} references point to objects the dump does not contain; they are left out",
                self.dangling
            ));
        }
        HprofDump {
            format: header.format,
            id_size: header.id_size,
            timestamp_ms: header.timestamp_ms,
            classes: self.classes,
            names: self.names,
            class_nodes: self.class_nodes,
            addr: self.addr,
            class: self.class,
            size: self.size,
            first_edge: self.first_edge,
            to: self.to,
            roots: self.roots,
            threads: self.threads,
            sizes: self.sizes,
            references: self.references,
            warnings: self.warnings,
        }
    }
}

/// Finds a node by address: buckets of the address range, then a binary
/// search in the few nodes of one bucket.
pub(crate) struct AddressIndex {
    base: u64,
    max: u64,
    shift: u32,
    starts: Vec<u32>,
}

impl AddressIndex {
    /// `addr` is sorted; `addr[0]` is the root's 0 and not indexed.
    fn build(addr: &[u64]) -> AddressIndex {
        let objects = &addr[1.min(addr.len())..];
        let (Some(&base), Some(&max)) = (objects.first(), objects.last()) else {
            return AddressIndex {
                base: 1,
                max: 0,
                shift: 0,
                starts: vec![1, 1],
            };
        };
        let want = (objects.len() as u64 / 4).max(1);
        let span = max - base;
        let mut shift = 0;
        while (span >> shift) >= want {
            shift += 1;
        }
        let buckets = (span >> shift) as usize + 1;
        let mut starts = vec![0u32; buckets + 1];
        let mut i = 0usize;
        for (b, start) in starts.iter_mut().enumerate() {
            while i < objects.len() && ((objects[i] - base) >> shift) < b as u64 {
                i += 1;
            }
            *start = (i + 1) as u32;
        }
        starts[buckets] = addr.len() as u32;
        AddressIndex {
            base,
            max,
            shift,
            starts,
        }
    }

    #[inline]
    pub(crate) fn find(&self, addr: &[u64], address: u64) -> Option<u32> {
        if address < self.base || address > self.max {
            return None;
        }
        let b = ((address - self.base) >> self.shift) as usize;
        let (lo, hi) = (self.starts[b] as usize, self.starts[b + 1] as usize);
        addr[lo..hi]
            .binary_search(&address)
            .ok()
            .map(|i| (lo + i) as u32)
    }
}

fn align8(n: u64) -> u32 {
    (n.div_ceil(8) * 8).min(u64::from(u32::MAX)) as u32
}

/// Memory size of a field of basic type `ty`.
fn field_bytes(ty: u8, sizes: &SizeModel) -> u64 {
    if ty == basic::OBJECT {
        u64::from(sizes.reference)
    } else {
        u64::from(value_size(ty, 8).unwrap_or(8))
    }
}

pub(crate) fn lay_out(scan: Scan) -> Result<Laid, HprofError> {
    let Scan {
        id_size,
        strings,
        class_names,
        class_serials,
        frames,
        traces,
        thread_objects,
        thread_names,
        classes: raw,
        class_index,
        primitive_classes,
        addr: scan_addr,
        class: scan_class,
        length: scan_length,
        degree: scan_degree,
        roots: scan_roots,
        raw_refs,
        raw_complete,
        unknown_records,
        ..
    } = scan;
    let mut warnings = Vec::new();
    if unknown_records > 0 {
        warnings.push(format!(
            "{unknown_records} records of unknown kinds were skipped"
        ));
    }
    let max_address = scan_addr.iter().copied().max().unwrap_or(0);
    let sizes = if id_size == 4 {
        SizeModel {
            header: 8,
            array_header: 12,
            reference: 4,
        }
    } else {
        SizeModel {
            header: 12,
            array_header: 16,
            reference: if max_address < COMPRESSED_OOPS_LIMIT {
                4
            } else {
                8
            },
        }
    };

    // Names and kinds.
    let mut classes: Vec<ClassInfo> = raw
        .iter()
        .map(|c| {
            let internal = class_names
                .get(&c.id)
                .and_then(|name| strings.get(name))
                .cloned();
            let (name, kind) = match (&internal, c.kind) {
                (_, Some(ClassKind::PrimitiveArray(t))) if c.id == 0 => (
                    format!("{}[]", primitive_name(t).unwrap_or("unknown")),
                    ClassKind::PrimitiveArray(t),
                ),
                (Some(internal), kind) => (
                    java_class_name(internal),
                    kind.unwrap_or_else(|| kind_of(internal)),
                ),
                (None, kind) => (
                    format!("unknown class 0x{:x}", c.id),
                    kind.unwrap_or(ClassKind::Instance),
                ),
            };
            ClassInfo {
                name,
                id: c.id,
                node: None,
                super_id: c.super_id,
                loader_id: c.loader_id,
                kind,
                fields: c.fields.clone(),
                statics: c.statics.clone(),
                constant_refs: c.constant_refs,
                ref_fields: Vec::new(),
                ref_offsets: Vec::new(),
                data_size: 0,
                weak_slot: None,
                instance_size: 0,
                mirror_size: 0,
            }
        })
        .collect();
    drop(raw);

    // Primitive arrays point at the dumped `[B`... classes when there are some.
    let mut remap: Vec<u32> = (0..classes.len() as u32).collect();
    let by_name: FxHashMap<String, u32> = classes
        .iter()
        .enumerate()
        .filter(|(_, c)| c.id != 0)
        .map(|(i, c)| (c.name.clone(), i as u32))
        .collect();
    for index in primitive_classes.into_iter().flatten() {
        if let Some(&real) = by_name.get(&classes[index as usize].name) {
            remap[index as usize] = real;
            classes[real as usize].kind = classes[index as usize].kind;
        }
    }
    let class_class = by_name.get("java.lang.Class").copied().or_else(|| {
        classes.push(synthetic_class("java.lang.Class"));
        Some(classes.len() as u32 - 1)
    });

    // Instance layouts, superclasses first.
    let mut names: Vec<String> = Vec::new();
    let mut name_ids: FxHashMap<String, u32> = FxHashMap::default();
    for index in 0..classes.len() {
        let mut chain = Vec::new();
        let mut current = Some(index);
        while let Some(c) = current {
            if chain.len() > 1024 || chain.contains(&c) {
                return Err(HprofError::malformed(
                    0,
                    format!("the superclasses of {} form a cycle", classes[index].name),
                ));
            }
            chain.push(c);
            let super_id = classes[c].super_id;
            current = if super_id == 0 {
                None
            } else {
                class_index.get(&super_id).map(|&i| i as usize)
            };
        }
        let mut offset = 0u32;
        let mut memory = 0u64;
        let mut ref_fields = Vec::new();
        let mut ref_offsets = Vec::new();
        let mut weak_slot = None;
        for &c in &chain {
            let declaring_reference = classes[c].name == "java.lang.ref.Reference";
            for field in &classes[c].fields {
                if field.ty == basic::OBJECT {
                    if declaring_reference && field.name == "referent" {
                        weak_slot = Some(ref_fields.len() as u32);
                    }
                    let next = name_ids.len() as u32;
                    let id = *name_ids.entry(field.name.clone()).or_insert_with(|| {
                        names.push(field.name.clone());
                        next
                    });
                    ref_fields.push(id);
                    ref_offsets.push(offset);
                }
                offset += u32::from(value_size(field.ty, id_size).unwrap_or(0));
                memory += field_bytes(field.ty, &sizes);
            }
        }
        for &c in &chain {
            memory += hidden_bytes(&classes[c].name, &sizes);
        }
        let class = &mut classes[index];
        class.ref_fields = ref_fields;
        class.ref_offsets = ref_offsets;
        class.data_size = offset;
        class.weak_slot = weak_slot;
        class.instance_size = align8(u64::from(sizes.header) + memory);
    }
    let mirror_base = class_class.map_or(u64::from(sizes.header), |c| {
        u64::from(classes[c as usize].instance_size)
    });
    for class in &mut classes {
        let statics: u64 = class
            .statics
            .iter()
            .filter(|f| !f.name.starts_with('<'))
            .map(|f| field_bytes(f.ty, &sizes))
            .sum();
        class.mirror_size = align8(mirror_base + statics);
    }

    // Objects in address order; the root first.
    let n = scan_addr.len() + 1;
    let sorted = scan_addr.windows(2).all(|w| w[0] < w[1]);
    let order: Option<Vec<u32>> = if sorted {
        None
    } else {
        let mut pairs: Vec<(u64, u32)> = scan_addr
            .iter()
            .enumerate()
            .map(|(i, &a)| (a, i as u32))
            .collect();
        pairs.sort_unstable();
        if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(HprofError::malformed(
                0,
                format!("the object at 0x{:x} is dumped twice", w[0].0),
            ));
        }
        Some(pairs.into_iter().map(|(_, i)| i).collect())
    };
    if scan_addr.contains(&0) {
        return Err(HprofError::malformed(0, "an object is dumped at address 0"));
    }
    let pick = |i: usize| -> usize { order.as_ref().map_or(i, |o| o[i] as usize) };
    let mut addr = Vec::with_capacity(n);
    addr.push(0u64);
    addr.extend((0..n - 1).map(|i| scan_addr[pick(i)]));
    drop(scan_addr);
    let index = AddressIndex::build(&addr);

    let mut class = Vec::with_capacity(n);
    let mut size = Vec::with_capacity(n);
    let mut first_edge = Vec::with_capacity(n + 1);
    let mut class_nodes = Vec::new();
    class.push(class_class.unwrap_or(0));
    size.push(0u32);
    first_edge.push(0u32);
    first_edge.push(0u32);
    for (node, &address) in addr.iter().enumerate().skip(1) {
        let i = pick(node - 1);
        let raw_class = scan_class[i];
        let length = u64::from(scan_length[i]);
        let (c, bytes, degree) = if raw_class == CLASS_OBJECT {
            let described = class_index
                .get(&address)
                .copied()
                .map(|c| remap[c as usize])
                .unwrap_or(0);
            class_nodes.push((node as u32, described));
            classes[described as usize].node = Some(node as u32);
            (
                class_class.unwrap_or(0),
                classes[described as usize].mirror_size,
                scan_degree[i],
            )
        } else {
            let c = remap[raw_class as usize];
            let info = &classes[c as usize];
            match info.kind {
                ClassKind::Instance => (c, info.instance_size, info.ref_fields.len() as u32),
                ClassKind::ObjectArray => (
                    c,
                    align8(u64::from(sizes.array_header) + length * u64::from(sizes.reference)),
                    scan_degree[i],
                ),
                ClassKind::PrimitiveArray(t) => (
                    c,
                    align8(u64::from(sizes.array_header) + length * field_bytes(t, &sizes)),
                    0,
                ),
            }
        };
        class.push(c);
        size.push(bytes);
        first_edge.push(degree);
    }
    drop((scan_class, scan_length));

    // GC roots: the root node's edges.
    let mut roots = Vec::new();
    let mut root_targets = Vec::new();
    let mut unresolved = 0u64;
    for (kind, object) in scan_roots {
        match index.find(&addr, object) {
            Some(node) => {
                roots.push(kind);
                root_targets.push(node);
            }
            None => unresolved += 1,
        }
    }
    if unresolved > 0 {
        warnings.push(format!(
            "{unresolved} GC roots name objects the dump does not contain; they are left out"
        ));
    }
    first_edge[1] = roots.len() as u32;
    let mut total = 0u64;
    for slot in first_edge.iter_mut() {
        total += u64::from(*slot);
        if total >= u64::from(NULL) {
            return Err(HprofError::malformed(
                0,
                "the dump holds more than 4 billion references, more than heapwise can index",
            ));
        }
        *slot = total as u32;
    }
    // Entry 0 was 0 and entry i + 1 held node i's degree: the running sums are the starts.
    let mut to = vec![NULL; total as usize];
    let mut references = root_targets.len() as u64;
    to[..root_targets.len()].copy_from_slice(&root_targets);
    let mut dangling = 0u64;
    let resolved = raw_complete;
    if raw_complete {
        // Pass 1 kept every reference: resolve them here, no second reading.
        // `scan_degree` becomes each object's first slot in `raw_refs` (file order).
        let mut starts = scan_degree;
        let mut running = 0u64;
        for slot in starts.iter_mut() {
            let degree = u64::from(*slot);
            *slot = u32::try_from(running).unwrap_or(u32::MAX);
            running += degree;
        }
        if running != raw_refs.len() as u64 || running >= u64::from(u32::MAX) {
            return Err(HprofError::malformed(
                0,
                "the references read do not match the objects' layouts",
            ));
        }
        for node in 1..n {
            let i = pick(node - 1);
            let from = starts[i] as usize;
            let first = first_edge[node] as usize;
            let count = first_edge[node + 1] as usize - first;
            for (k, &address) in raw_refs[from..from + count].iter().enumerate() {
                if address == 0 {
                    continue;
                }
                match index.find(&addr, address) {
                    Some(target) => {
                        to[first + k] = target;
                        references += 1;
                    }
                    None => dangling += 1,
                }
            }
        }
    } else {
        drop(scan_degree);
    }
    drop((raw_refs, order));
    class_nodes.sort_unstable();

    // Threads and their stacks.
    let class_name_of_serial = |serial: u32| -> String {
        class_serials
            .get(&serial)
            .and_then(|id| class_names.get(id))
            .and_then(|name| strings.get(name))
            .map_or_else(|| "?".to_string(), |n| java_class_name(n))
    };
    let mut threads: Vec<(u32, Thread)> = thread_objects
        .iter()
        .map(|&(serial, object, trace)| {
            let frames = traces
                .get(&trace)
                .map(|ids| {
                    ids.iter()
                        .filter_map(|id| frames.get(id))
                        .map(|f| Frame {
                            method: format!(
                                "{}.{}",
                                class_name_of_serial(f.class_serial),
                                strings.get(&f.method).map_or("?", String::as_str)
                            ),
                            file: strings.get(&f.source).cloned(),
                            line: (f.line > 0).then_some(f.line as u32),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let thread = Thread {
                node: index.find(&addr, object),
                name: thread_names
                    .get(&serial)
                    .and_then(|id| strings.get(id))
                    .cloned(),
                frames,
            };
            (serial, thread)
        })
        .collect();
    threads.sort_by_key(|&(serial, _)| serial);
    threads.dedup_by_key(|(serial, _)| *serial);

    Ok(Laid {
        classes,
        names,
        class_nodes,
        addr,
        index,
        class,
        size,
        first_edge,
        to,
        roots,
        threads,
        sizes,
        references,
        dangling,
        resolved,
        warnings,
    })
}

/// Bytes HotSpot adds to instances of a class beyond the fields the dump
/// lists: the fields the VM injects (JDK 17's `javaClasses.hpp`: a class's
/// `Klass*`, a class loader's `ClassLoaderData*`...) and the padding of
/// `@Contended` fields (128 bytes on each side of `Thread`'s
/// `threadLocalRandom*` group).
fn hidden_bytes(class: &str, sizes: &SizeModel) -> u64 {
    let reference = u64::from(sizes.reference);
    match class {
        // klass, array_klass, oop_size, static_oop_field_count, protection_domain, signers, source_file
        "java.lang.Class" => 8 + 8 + 4 + 4 + 3 * reference,
        // loader_data; module_entry; vmindex
        "java.lang.ClassLoader" | "java.lang.Module" | "java.lang.invoke.MemberName" => 8,
        // vmtarget, vmholder
        "java.lang.invoke.ResolvedMethodName" => 8 + reference,
        // vmdependencies, last_cleanup
        "java.lang.invoke.MethodHandleNatives$CallSiteContext" => 16,
        // version
        "java.lang.StackFrameInfo" => 2,
        // during_unsafe_access
        "java.lang.InternalError" => 1,
        "java.lang.Thread" => 256,
        _ => 0,
    }
}

fn kind_of(internal: &str) -> ClassKind {
    match internal.as_bytes() {
        [b'[', b'L' | b'[', ..] => ClassKind::ObjectArray,
        [b'[', t, ..] => ClassKind::PrimitiveArray(match t {
            b'Z' => basic::BOOLEAN,
            b'C' => basic::CHAR,
            b'F' => basic::FLOAT,
            b'D' => basic::DOUBLE,
            b'B' => basic::BYTE,
            b'S' => basic::SHORT,
            b'I' => basic::INT,
            _ => basic::LONG,
        }),
        _ => ClassKind::Instance,
    }
}

fn synthetic_class(name: &str) -> ClassInfo {
    ClassInfo {
        name: name.to_string(),
        id: 0,
        node: None,
        super_id: 0,
        loader_id: 0,
        kind: ClassKind::Instance,
        fields: Vec::new(),
        statics: Vec::new(),
        constant_refs: 0,
        ref_fields: Vec::new(),
        ref_offsets: Vec::new(),
        data_size: 0,
        weak_slot: None,
        instance_size: 0,
        mirror_size: 0,
    }
}

/// The root node is node 0 and is never an object.
const _: () = assert!(ROOT == 0);
