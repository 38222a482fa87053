//! The HPROF format's constants: record tags, heap-dump sub-record tags,
//! basic types, and the class names as Java prints them.
//!
//! Layout (all integers big-endian): the header `JAVA PROFILE 1.0.x\0`, a
//! `u4` identifier size, a `u8` time in milliseconds; then records, each a
//! `u1` tag, a `u4` time offset, a `u4` body length and the body. The heap
//! itself is in `HEAP DUMP` or `HEAP DUMP SEGMENT` records, whose bodies are
//! sequences of sub-records that carry no length of their own. See
//! docs/hprof.md for every record's fields.

/// Top-level record tags.
pub(crate) mod tag {
    pub(crate) const UTF8: u8 = 0x01;
    pub(crate) const LOAD_CLASS: u8 = 0x02;
    pub(crate) const UNLOAD_CLASS: u8 = 0x03;
    pub(crate) const STACK_FRAME: u8 = 0x04;
    pub(crate) const STACK_TRACE: u8 = 0x05;
    pub(crate) const ALLOC_SITES: u8 = 0x06;
    pub(crate) const HEAP_SUMMARY: u8 = 0x07;
    pub(crate) const START_THREAD: u8 = 0x0A;
    pub(crate) const END_THREAD: u8 = 0x0B;
    pub(crate) const HEAP_DUMP: u8 = 0x0C;
    pub(crate) const CPU_SAMPLES: u8 = 0x0D;
    pub(crate) const CONTROL_SETTINGS: u8 = 0x0E;
    pub(crate) const HEAP_DUMP_SEGMENT: u8 = 0x1C;
    pub(crate) const HEAP_DUMP_END: u8 = 0x2C;
}

/// Sub-record tags inside a heap dump (segment). Those from 0x89 on are
/// Android's additions.
pub(crate) mod sub {
    pub(crate) const ROOT_UNKNOWN: u8 = 0xFF;
    pub(crate) const ROOT_JNI_GLOBAL: u8 = 0x01;
    pub(crate) const ROOT_JNI_LOCAL: u8 = 0x02;
    pub(crate) const ROOT_JAVA_FRAME: u8 = 0x03;
    pub(crate) const ROOT_NATIVE_STACK: u8 = 0x04;
    pub(crate) const ROOT_STICKY_CLASS: u8 = 0x05;
    pub(crate) const ROOT_THREAD_BLOCK: u8 = 0x06;
    pub(crate) const ROOT_MONITOR_USED: u8 = 0x07;
    pub(crate) const ROOT_THREAD_OBJECT: u8 = 0x08;
    pub(crate) const CLASS_DUMP: u8 = 0x20;
    pub(crate) const INSTANCE_DUMP: u8 = 0x21;
    pub(crate) const OBJECT_ARRAY_DUMP: u8 = 0x22;
    pub(crate) const PRIMITIVE_ARRAY_DUMP: u8 = 0x23;
    pub(crate) const ROOT_INTERNED_STRING: u8 = 0x89;
    pub(crate) const ROOT_FINALIZING: u8 = 0x8A;
    pub(crate) const ROOT_DEBUGGER: u8 = 0x8B;
    pub(crate) const ROOT_REFERENCE_CLEANUP: u8 = 0x8C;
    pub(crate) const ROOT_VM_INTERNAL: u8 = 0x8D;
    pub(crate) const ROOT_JNI_MONITOR: u8 = 0x8E;
    pub(crate) const UNREACHABLE: u8 = 0x90;
    pub(crate) const PRIMITIVE_ARRAY_NODATA: u8 = 0xC3;
    pub(crate) const HEAP_DUMP_INFO: u8 = 0xFE;
}

/// Basic type codes of fields and array elements.
pub(crate) mod basic {
    pub(crate) const OBJECT: u8 = 2;
    pub(crate) const BOOLEAN: u8 = 4;
    pub(crate) const CHAR: u8 = 5;
    pub(crate) const FLOAT: u8 = 6;
    pub(crate) const DOUBLE: u8 = 7;
    pub(crate) const BYTE: u8 = 8;
    pub(crate) const SHORT: u8 = 9;
    pub(crate) const INT: u8 = 10;
    pub(crate) const LONG: u8 = 11;
}

/// Size in the dump of a value of basic type `t` (`id_size` for objects), or
/// `None` for a code the format does not define.
pub(crate) fn value_size(t: u8, id_size: u8) -> Option<u8> {
    Some(match t {
        basic::OBJECT => id_size,
        basic::BOOLEAN | basic::BYTE => 1,
        basic::CHAR | basic::SHORT => 2,
        basic::FLOAT | basic::INT => 4,
        basic::DOUBLE | basic::LONG => 8,
        _ => return None,
    })
}

/// The Java name of a primitive array's element type (`byte` for [`basic::BYTE`]).
pub(crate) fn primitive_name(t: u8) -> Option<&'static str> {
    Some(match t {
        basic::BOOLEAN => "boolean",
        basic::CHAR => "char",
        basic::FLOAT => "float",
        basic::DOUBLE => "double",
        basic::BYTE => "byte",
        basic::SHORT => "short",
        basic::INT => "int",
        basic::LONG => "long",
        _ => return None,
    })
}

/// A class name as Java source spells it: `java/util/HashMap` →
/// `java.util.HashMap`, `[Ljava/lang/Object;` → `java.lang.Object[]`,
/// `[[I` → `int[][]`; a hidden class `Foo$$Lambda$1+0x0800` → `Foo$$Lambda$1/0x0800`
/// (as `jmap -histo` prints it).
pub fn java_class_name(internal: &str) -> String {
    let dims = internal.bytes().take_while(|&b| b == b'[').count();
    if dims == 0 {
        return internal.replace('/', ".").replace('+', "/");
    }
    let element = &internal[dims..];
    let base = match element.as_bytes().first() {
        Some(b'L') => element[1..]
            .trim_end_matches(';')
            .replace('/', ".")
            .replace('+', "/"),
        Some(b'Z') => "boolean".into(),
        Some(b'C') => "char".into(),
        Some(b'F') => "float".into(),
        Some(b'D') => "double".into(),
        Some(b'B') => "byte".into(),
        Some(b'S') => "short".into(),
        Some(b'I') => "int".into(),
        Some(b'J') => "long".into(),
        _ => element.replace('/', "."),
    };
    let mut name = base;
    for _ in 0..dims {
        name.push_str("[]");
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_read_as_java_prints_them() {
        assert_eq!(java_class_name("java/util/HashMap"), "java.util.HashMap");
        assert_eq!(
            java_class_name("java/util/HashMap$Node"),
            "java.util.HashMap$Node"
        );
        assert_eq!(java_class_name("[Ljava/lang/Object;"), "java.lang.Object[]");
        assert_eq!(java_class_name("[[I"), "int[][]");
        assert_eq!(java_class_name("[B"), "byte[]");
        assert_eq!(
            java_class_name("Leak$$Lambda$1+0x00007fa0fc000c18"),
            "Leak$$Lambda$1/0x00007fa0fc000c18"
        );
        // Some writers already use dots.
        assert_eq!(java_class_name("java.lang.String"), "java.lang.String");
    }
}
