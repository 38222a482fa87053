//! The reader on files written byte by byte: 4-byte identifiers, every
//! sub-record kind, and files cut anywhere or not HPROF at all.

use std::io::Cursor;

use heapwise_hprof::{HprofError, HprofGraph, read_dump, summarize};

/// Writes HPROF records by hand, big-endian, with `id`-byte identifiers.
struct Writer {
    id: usize,
    out: Vec<u8>,
}

impl Writer {
    fn new(id: usize) -> Writer {
        let mut out = b"JAVA PROFILE 1.0.2\0".to_vec();
        out.extend_from_slice(&(id as u32).to_be_bytes());
        out.extend_from_slice(&0u64.to_be_bytes());
        Writer { id, out }
    }

    fn id(&self, body: &mut Vec<u8>, value: u64) {
        body.extend_from_slice(&value.to_be_bytes()[8 - self.id..]);
    }

    fn record(&mut self, tag: u8, body: &[u8]) {
        self.out.push(tag);
        self.out.extend_from_slice(&0u32.to_be_bytes());
        self.out
            .extend_from_slice(&(body.len() as u32).to_be_bytes());
        self.out.extend_from_slice(body);
    }

    fn string(&mut self, id: u64, text: &str) {
        let mut body = Vec::new();
        self.id(&mut body, id);
        body.extend_from_slice(text.as_bytes());
        self.record(0x01, &body);
    }

    fn load_class(&mut self, serial: u32, class: u64, name: u64) {
        let mut body = serial.to_be_bytes().to_vec();
        self.id(&mut body, class);
        body.extend_from_slice(&0u32.to_be_bytes());
        self.id(&mut body, name);
        self.record(0x02, &body);
    }
}

/// A heap of known shape: two `Foo`s (`a.next = b`), an `Object[]` holding
/// both, a `byte[10]`; roots: a Java frame holds `a`, a JNI global holds the array.
pub(super) fn small_dump(id: usize, classes_first: bool) -> Vec<u8> {
    let mut w = Writer::new(id);
    for (i, name) in [
        "java/lang/Object",
        "java/lang/Class",
        "Foo",
        "[Ljava/lang/Object;",
        "[B",
        "next",
        "value",
        "main",
        "Foo.java",
    ]
    .iter()
    .enumerate()
    {
        w.string(0x10 + i as u64, name);
    }
    for (serial, class) in [
        (1u32, 0x100u64),
        (2, 0x104),
        (3, 0x108),
        (4, 0x10c),
        (5, 0x110),
    ] {
        w.load_class(serial, class, 0x10 + u64::from(serial) - 1);
    }
    // A stack frame and trace for thread 1.
    let mut frame = Vec::new();
    w.id(&mut frame, 0x900);
    w.id(&mut frame, 0x17);
    w.id(&mut frame, 0);
    w.id(&mut frame, 0x18);
    frame.extend_from_slice(&3u32.to_be_bytes());
    frame.extend_from_slice(&12u32.to_be_bytes());
    w.record(0x04, &frame);
    let mut trace = 7u32.to_be_bytes().to_vec();
    trace.extend_from_slice(&1u32.to_be_bytes());
    trace.extend_from_slice(&1u32.to_be_bytes());
    w.id(&mut trace, 0x900);
    w.record(0x05, &trace);

    let mut heap = Vec::new();
    let class_dump =
        |w: &Writer, heap: &mut Vec<u8>, class: u64, super_id: u64, fields: &[(u64, u8)]| {
            heap.push(0x20);
            w.id(heap, class);
            heap.extend_from_slice(&0u32.to_be_bytes());
            w.id(heap, super_id);
            for _ in 0..5 {
                w.id(heap, 0);
            }
            heap.extend_from_slice(&0u32.to_be_bytes());
            heap.extend_from_slice(&0u16.to_be_bytes());
            heap.extend_from_slice(&0u16.to_be_bytes());
            heap.extend_from_slice(&(fields.len() as u16).to_be_bytes());
            for &(name, ty) in fields {
                w.id(heap, name);
                heap.push(ty);
            }
        };
    let mut classes = Vec::new();
    class_dump(&w, &mut classes, 0x100, 0, &[]);
    class_dump(&w, &mut classes, 0x104, 0x100, &[]);
    class_dump(&w, &mut classes, 0x108, 0x100, &[(0x15, 2), (0x16, 10)]);
    class_dump(&w, &mut classes, 0x10c, 0x100, &[]);
    class_dump(&w, &mut classes, 0x110, 0x100, &[]);
    if classes_first {
        heap.extend_from_slice(&classes);
    }
    let instance = |w: &Writer, heap: &mut Vec<u8>, object: u64, next: u64| {
        heap.push(0x21);
        w.id(heap, object);
        heap.extend_from_slice(&0u32.to_be_bytes());
        w.id(heap, 0x108);
        heap.extend_from_slice(&((w.id + 4) as u32).to_be_bytes());
        w.id(heap, next);
        heap.extend_from_slice(&42u32.to_be_bytes());
    };
    instance(&w, &mut heap, 0x1000, 0x2000);
    instance(&w, &mut heap, 0x2000, 0);
    heap.push(0x22);
    w.id(&mut heap, 0x3000);
    heap.extend_from_slice(&0u32.to_be_bytes());
    heap.extend_from_slice(&3u32.to_be_bytes());
    w.id(&mut heap, 0x10c);
    for element in [0x1000u64, 0x2000, 0] {
        w.id(&mut heap, element);
    }
    heap.push(0x23);
    w.id(&mut heap, 0x4000);
    heap.extend_from_slice(&0u32.to_be_bytes());
    heap.extend_from_slice(&10u32.to_be_bytes());
    heap.push(8);
    heap.extend_from_slice(&[7u8; 10]);
    // Roots of every kind; the Android ones name objects too.
    heap.push(0x03);
    w.id(&mut heap, 0x1000);
    heap.extend_from_slice(&1u32.to_be_bytes());
    heap.extend_from_slice(&0u32.to_be_bytes());
    heap.push(0x01);
    w.id(&mut heap, 0x3000);
    w.id(&mut heap, 0x77);
    heap.push(0x05);
    w.id(&mut heap, 0x108);
    heap.push(0x02);
    w.id(&mut heap, 0x4000);
    heap.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0]);
    heap.push(0x04);
    w.id(&mut heap, 0x4000);
    heap.extend_from_slice(&1u32.to_be_bytes());
    heap.push(0x06);
    w.id(&mut heap, 0x4000);
    heap.extend_from_slice(&1u32.to_be_bytes());
    heap.push(0x07);
    w.id(&mut heap, 0x4000);
    heap.push(0xFF);
    w.id(&mut heap, 0x4000);
    heap.push(0x08);
    w.id(&mut heap, 0x4000);
    heap.extend_from_slice(&1u32.to_be_bytes());
    heap.extend_from_slice(&7u32.to_be_bytes());
    for android in [0x89u8, 0x8a, 0x8b, 0x8c, 0x8d, 0x90] {
        heap.push(android);
        w.id(&mut heap, 0x4000);
    }
    heap.push(0x8e);
    w.id(&mut heap, 0x4000);
    heap.extend_from_slice(&[0; 8]);
    heap.push(0xfe);
    heap.extend_from_slice(&0u32.to_be_bytes());
    w.id(&mut heap, 0x10);
    // Other writers may put classes after the instances that use them.
    let split = if classes_first {
        heap.iter().position(|&b| b == 0x21).unwrap()
    } else {
        heap.len()
    };
    if !classes_first {
        heap.extend_from_slice(&classes);
    }
    // Two segments and the end marker, as HotSpot writes large dumps.
    let (first, second) = heap.split_at(split);
    w.record(0x1C, first);
    w.record(0x1C, second);
    w.record(0x2C, &[]);
    w.out
}

#[test]
fn four_and_eight_byte_identifiers_and_classes_after_instances_read_the_same_heap() {
    for (id, classes_first) in [(4usize, true), (8, true), (8, false)] {
        let dump = read_dump(Cursor::new(small_dump(id, classes_first)), None).unwrap();
        assert_eq!(dump.id_size() as usize, id);
        assert_eq!(dump.object_count(), 9, "5 classes, 2 instances, 2 arrays");
        assert_eq!(
            dump.reference_count(),
            3 + 4 + 16,
            "a.next, two array elements, four superclasses, sixteen roots"
        );
        let graph = HprofGraph::build(dump, true, None);
        let summary = summarize(&graph);
        let row = |name: &str| {
            summary
                .constructors
                .iter()
                .find(|c| c.name == name)
                .unwrap()
        };
        assert_eq!(row("Foo").count, 2);
        assert_eq!(row("java.lang.Class").count, 5);
        // Addresses below 32 GiB: compressed references either way.
        let reference = 4;
        let header = if id == 4 { 8 } else { 12 };
        let array = if id == 4 { 12 } else { 16 };
        let foo = ((header + reference + 4) as u64).div_ceil(8) * 8;
        assert_eq!(row("Foo").self_bytes, 2 * foo);
        assert_eq!(
            row("java.lang.Object[]").self_bytes,
            ((array + 3 * reference) as u64).div_ceil(8) * 8
        );
        assert_eq!(
            row("byte[]").self_bytes,
            ((array + 10) as u64).div_ceil(8) * 8
        );
        // `b` is held by `a` and by the array: neither dominates it.
        let dump = graph.dump();
        let b = dump.node_at(0x2000).unwrap();
        assert_eq!(graph.dominator(b), heapwise_hprof::ROOT);
        assert_eq!(row("Foo").retained_bytes, 2 * foo);
        // The frame root is named by its thread's stack.
        let a = dump.node_at(0x1000).unwrap();
        let path = graph.path(a);
        assert_eq!(path.len(), 1);
        let (label, kind) = graph.edge_label(path[0]);
        assert_eq!(kind, "root");
        assert!(label.contains("in Foo.main (Foo.java:12)"), "{label}");
        let arr = dump.node_at(0x3000).unwrap();
        let (label, kind) = graph.edge_label(graph.path(arr)[0]);
        assert_eq!((label.as_str(), kind), ("JNI global reference", "root"));
    }
}

#[test]
fn a_dump_cut_anywhere_is_refused_in_one_sentence() {
    let whole = small_dump(8, true);
    for cut in 0..whole.len() {
        let error = read_dump(Cursor::new(whole[..cut].to_vec()), None)
            .err()
            .unwrap_or_else(|| panic!("a dump cut at byte {cut} of {} was accepted", whole.len()));
        let message = error.to_string();
        assert!(!message.contains('\n'), "{message}");
        match error {
            HprofError::NotHprof | HprofError::Truncated { .. } | HprofError::Malformed { .. } => {}
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
}

#[test]
fn a_file_that_is_not_hprof_is_named_so() {
    for text in [
        &b"{\"snapshot\":{}}"[..],
        b"",
        b"JAVA PROFILE 9",
        b"\x00\x01\x02",
    ] {
        let error = read_dump(Cursor::new(text.to_vec()), None).unwrap_err();
        assert!(matches!(error, HprofError::NotHprof), "{error:?}");
        assert!(error.to_string().contains("not an HPROF heap dump"));
    }
    let mut bad_id = b"JAVA PROFILE 1.0.2\0".to_vec();
    bad_id.extend_from_slice(&6u32.to_be_bytes());
    bad_id.extend_from_slice(&[0; 8]);
    assert!(matches!(
        read_dump(Cursor::new(bad_id), None),
        Err(HprofError::IdSize(6))
    ));
}
