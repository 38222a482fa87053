//! The parsed dump: classes, objects and references as struct-of-arrays,
//! the GC roots, and the threads and frames they name.
//!
//! Node 0 is a synthetic root whose edges go to every GC root object. Every
//! other node is one object of the dump — an instance, an array, or a class
//! (its `java.lang.Class` mirror) — and nodes are numbered in ascending
//! address order, so looking an address up is a search in `addr`.

use std::ops::Range;

/// An edge slot whose reference was null (kept so that an instance's slot
/// `k` is its class's `k`-th reference field).
pub const NULL: u32 = u32::MAX;

/// What kind of object a class describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassKind {
    /// Instances with fields.
    Instance,
    /// Arrays of references.
    ObjectArray,
    /// Arrays of a primitive type (a basic type code).
    PrimitiveArray(u8),
}

/// One field of a class.
#[derive(Debug, Clone)]
pub struct Field {
    /// Its name.
    pub name: String,
    /// Its basic type code (2 = reference).
    pub ty: u8,
}

/// One class of the dump.
#[derive(Debug, Clone)]
pub struct ClassInfo {
    /// The name as Java prints it (`java.util.HashMap`, `byte[]`).
    pub name: String,
    /// The address of its `java.lang.Class` object (0 when the dump has none).
    pub id: u64,
    /// Its node, when the dump has a CLASS DUMP for it.
    pub node: Option<u32>,
    /// The address of its superclass (0 for none).
    pub super_id: u64,
    /// The address of its class loader (0 for the boot loader).
    pub loader_id: u64,
    /// Instances, reference arrays or primitive arrays.
    pub kind: ClassKind,
    /// Instance fields it declares (not inherited ones), in dump order.
    pub fields: Vec<Field>,
    /// Static fields, in dump order.
    pub statics: Vec<Field>,
    /// Constant-pool entries that hold references.
    pub constant_refs: u32,
    /// Names of every reference field of an instance, its own first, then
    /// its superclass's, and so on (the order of an instance's edges).
    pub ref_fields: Vec<u32>,
    /// Byte offsets of those references in an instance's field data.
    pub ref_offsets: Vec<u32>,
    /// Bytes of field data an instance carries in the dump.
    pub data_size: u32,
    /// The slot of `java.lang.ref.Reference.referent` (a weak edge), if a subclass.
    pub weak_slot: Option<u32>,
    /// Shallow size of an instance in the JVM's memory.
    pub instance_size: u32,
    /// Shallow size of its `java.lang.Class` object (with its static fields).
    pub mirror_size: u32,
}

/// What kind of GC root a root edge is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootKind {
    /// `ROOT UNKNOWN`.
    Unknown,
    /// A JNI global reference.
    JniGlobal,
    /// A JNI local reference in a native frame of a thread.
    JniLocal {
        /// The thread's serial number.
        thread: u32,
        /// The frame's depth (0 = top).
        frame: u32,
    },
    /// A local variable or operand of a Java frame.
    JavaFrame {
        /// The thread's serial number.
        thread: u32,
        /// The frame's depth (0 = top).
        frame: u32,
    },
    /// Held by native code of a thread.
    NativeStack {
        /// The thread's serial number.
        thread: u32,
    },
    /// A class the VM keeps alive (the boot loader's).
    StickyClass,
    /// Held by a thread's block.
    ThreadBlock {
        /// The thread's serial number.
        thread: u32,
    },
    /// An object used as a monitor (`synchronized`).
    MonitorUsed,
    /// A thread object.
    ThreadObject {
        /// The thread's serial number.
        thread: u32,
    },
    /// Android: an interned string, a finalizing object, the debugger,
    /// reference cleanup, VM internals, a JNI monitor, or an unreachable object.
    Android(u8),
}

impl RootKind {
    /// The thread the root belongs to, if any.
    pub fn thread(self) -> Option<u32> {
        match self {
            RootKind::JniLocal { thread, .. }
            | RootKind::JavaFrame { thread, .. }
            | RootKind::NativeStack { thread }
            | RootKind::ThreadBlock { thread }
            | RootKind::ThreadObject { thread } => Some(thread),
            _ => None,
        }
    }
}

/// One stack frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// `Class.method`.
    pub method: String,
    /// The source file, if recorded.
    pub file: Option<String>,
    /// The line (`> 0`), if known.
    pub line: Option<u32>,
}

/// One thread: its object and its stack.
#[derive(Debug, Clone, Default)]
pub struct Thread {
    /// Its `java.lang.Thread` object's node.
    pub node: Option<u32>,
    /// Its name, when the dump records it.
    pub name: Option<String>,
    /// Its frames, the top first.
    pub frames: Vec<Frame>,
}

/// How object sizes in memory were estimated (the dump does not record them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeModel {
    /// Bytes of an object header.
    pub header: u32,
    /// Offset of an array's first element.
    pub array_header: u32,
    /// Bytes of a reference field.
    pub reference: u32,
}

/// A parsed HPROF dump.
#[derive(Debug)]
pub struct HprofDump {
    pub(crate) format: String,
    pub(crate) id_size: u8,
    pub(crate) timestamp_ms: u64,
    pub(crate) classes: Vec<ClassInfo>,
    /// Names of reference fields ([`ClassInfo::ref_fields`] indexes them).
    pub(crate) names: Vec<String>,
    /// `(node, class index)` of every class object, sorted by node.
    pub(crate) class_nodes: Vec<(u32, u32)>,
    pub(crate) addr: Vec<u64>,
    pub(crate) class: Vec<u32>,
    pub(crate) size: Vec<u32>,
    pub(crate) first_edge: Vec<u32>,
    pub(crate) to: Vec<u32>,
    /// One per edge of the root node, in the same order.
    pub(crate) roots: Vec<RootKind>,
    pub(crate) threads: Vec<(u32, Thread)>,
    pub(crate) sizes: SizeModel,
    pub(crate) references: u64,
    pub(crate) warnings: Vec<String>,
}

/// The synthetic root node.
pub const ROOT: u32 = 0;

impl HprofDump {
    /// The format name from the header (`JAVA PROFILE 1.0.2`).
    pub fn format(&self) -> &str {
        &self.format
    }

    /// Identifier size in bytes (4 or 8).
    pub fn id_size(&self) -> u8 {
        self.id_size
    }

    /// When the dump was taken, in milliseconds since the Unix epoch.
    pub fn timestamp_ms(&self) -> u64 {
        self.timestamp_ms
    }

    /// Nodes, the synthetic root included.
    pub fn node_count(&self) -> u32 {
        self.addr.len() as u32
    }

    /// Objects in the dump (nodes less the root).
    pub fn object_count(&self) -> u64 {
        self.addr.len() as u64 - 1
    }

    /// Non-null references between objects.
    pub fn reference_count(&self) -> u64 {
        self.references
    }

    /// Every class.
    pub fn classes(&self) -> &[ClassInfo] {
        &self.classes
    }

    /// The size model used for shallow sizes.
    pub fn size_model(&self) -> SizeModel {
        self.sizes
    }

    /// Things the reader noticed that a person should know.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The address of node `n` (0 for the root).
    pub fn address(&self, n: u32) -> u64 {
        self.addr[n as usize]
    }

    /// The class of node `n` (`java.lang.Class` for class objects).
    pub fn class_of(&self, n: u32) -> u32 {
        self.class[n as usize]
    }

    /// The class's name.
    pub fn class_name(&self, class: u32) -> &str {
        &self.classes[class as usize].name
    }

    /// The shallow size of node `n` in bytes.
    pub fn self_size(&self, n: u32) -> u32 {
        self.size[n as usize]
    }

    /// When node `n` is a class object, the class it describes.
    pub fn class_described(&self, n: u32) -> Option<u32> {
        self.class_nodes
            .binary_search_by_key(&n, |&(node, _)| node)
            .ok()
            .map(|i| self.class_nodes[i].1)
    }

    /// The edge slots of node `n` (null references included as [`NULL`]).
    pub fn edges_of(&self, n: u32) -> Range<u32> {
        self.first_edge[n as usize]..self.first_edge[n as usize + 1]
    }

    /// The target of edge slot `e`, or [`NULL`].
    pub fn edge_target(&self, e: u32) -> u32 {
        self.to[e as usize]
    }

    /// The GC root kind of root edge `e` (an edge of [`ROOT`]).
    pub fn root_kind(&self, e: u32) -> RootKind {
        self.roots[e as usize]
    }

    /// Thread `serial`, if the dump names it.
    pub fn thread(&self, serial: u32) -> Option<&Thread> {
        self.threads
            .binary_search_by_key(&serial, |&(s, _)| s)
            .ok()
            .map(|i| &self.threads[i].1)
    }

    /// Whether edge slot `e` of node `from` is weak (`Reference.referent`).
    pub fn is_weak(&self, from: u32, e: u32) -> bool {
        if from == ROOT {
            return false;
        }
        let class = &self.classes[self.class[from as usize] as usize];
        match class.weak_slot {
            Some(slot) => {
                e - self.first_edge[from as usize] == slot && self.class_described(from).is_none()
            }
            None => false,
        }
    }

    /// Node of the object at `address`, if it is in the dump.
    pub fn node_at(&self, address: u64) -> Option<u32> {
        if address == 0 {
            return None;
        }
        self.addr.binary_search(&address).ok().map(|i| i as u32)
    }
}
