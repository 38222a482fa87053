//! The report as JSON: serde_json's pretty printing, byte for byte, with
//! each distinct stack frame rendered once.
//!
//! A report lists the frames of every leak group: cc1plus's lists 932,217
//! frames, of 7,450 distinct ones, and writing them token by token was
//! half of its report's time. Within [`write_pretty`], a [`Frame`] is
//! written as a raw fragment from a cache of frames already rendered at
//! the depth where it goes (keyed by its shared strings, so a lookup
//! hashes a few pointers; the formatter keeps the depth).

use std::cell::{Cell, RefCell};
use std::collections::hash_map::Entry;
use std::io::{self, Write};
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::Serialize;
use serde_json::ser::{Formatter, PrettyFormatter};
use serde_json::value::RawValue;

use crate::model::Frame;

/// A frame by identity: its shared strings' addresses, its line and
/// whether it is inlined. Equal keys are equal frames (the strings they
/// point at are alive for the whole of [`write_pretty`], held by the
/// value written); equal frames of different strings only miss the cache.
type Key = (usize, usize, usize, usize, Option<u32>, bool);

/// Frames rendered, by frame and depth.
type Cache = FxHashMap<(Key, usize), Box<RawValue>>;

thread_local! {
    /// Frames rendered during [`write_pretty`] on this thread (`None`
    /// outside it: frames serialize field by field).
    static RENDERED: RefCell<Option<Cache>> = const { RefCell::new(None) };
    /// How deep in arrays and objects the formatter of [`write_pretty`] is.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

fn key(frame: &Frame) -> Key {
    let at = |s: &Option<Arc<str>>| {
        s.as_ref()
            .map_or(0, |s| Arc::as_ptr(s).cast::<u8>() as usize)
    };
    (
        Arc::as_ptr(&frame.address).cast::<u8>() as usize,
        at(&frame.function),
        at(&frame.file),
        at(&frame.module),
        frame.line,
        frame.inlined,
    )
}

/// Writes `value` as `serde_json::to_writer_pretty` does, followed by a
/// newline.
pub fn write_pretty<W: Write + ?Sized, T: Serialize>(out: &mut W, value: &T) -> io::Result<()> {
    /// Ends the cache also when serializing fails.
    struct Scope;
    impl Drop for Scope {
        fn drop(&mut self) {
            RENDERED.with(|r| *r.borrow_mut() = None);
        }
    }
    RENDERED.with(|r| *r.borrow_mut() = Some(FxHashMap::default()));
    DEPTH.with(|d| d.set(0));
    let _scope = Scope;
    let mut serializer = serde_json::Serializer::with_formatter(&mut *out, Indented::default());
    value.serialize(&mut serializer).map_err(io::Error::other)?;
    out.write_all(b"\n")
}

/// What [`serialize_rendered`] did.
pub(crate) enum Rendered<S: serde::Serializer> {
    /// It wrote the frame.
    Written(Result<S::Ok, S::Error>),
    /// Outside [`write_pretty`] (or if rendering failed): the serializer,
    /// to write the frame field by field.
    Not(S),
}

/// Writes `frame` as a fragment rendered once, if [`write_pretty`] is
/// running on this thread.
pub(crate) fn serialize_rendered<S: serde::Serializer>(
    frame: &Frame,
    serializer: S,
) -> Rendered<S> {
    RENDERED.with(|rendered| {
        let mut rendered = rendered.borrow_mut();
        let Some(cache) = rendered.as_mut() else {
            return Rendered::Not(serializer);
        };
        let depth = DEPTH.with(Cell::get);
        let raw = match cache.entry((key(frame), depth)) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                let Ok(text) = serde_json::to_string_pretty(&Fields(frame)) else {
                    return Rendered::Not(serializer);
                };
                // Its lines after the first, indented to where it goes.
                let text = text.replace('\n', &format!("\n{}", "  ".repeat(depth)));
                let Ok(raw) = RawValue::from_string(text) else {
                    return Rendered::Not(serializer);
                };
                entry.insert(raw)
            }
        };
        Rendered::Written(raw.serialize(serializer))
    })
}

/// A frame's fields, serialized one by one.
pub(crate) struct Fields<'a>(pub &'a Frame);

impl Serialize for Fields<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let frame = self.0;
        let mut s = serializer.serialize_struct("Frame", 6)?;
        s.serialize_field("function", &frame.function)?;
        s.serialize_field("file", &frame.file)?;
        s.serialize_field("line", &frame.line)?;
        s.serialize_field("module", &frame.module)?;
        s.serialize_field("address", &frame.address)?;
        s.serialize_field("inlined", &frame.inlined)?;
        s.end()
    }
}

/// serde_json's pretty formatter, which also says how deep it is (in
/// [`DEPTH`]).
#[derive(Default)]
struct Indented {
    pretty: PrettyFormatter<'static>,
}

fn deeper(by: isize) {
    DEPTH.with(|d| d.set(d.get().wrapping_add_signed(by)));
}

impl Formatter for Indented {
    fn begin_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        deeper(1);
        self.pretty.begin_array(writer)
    }

    fn end_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        deeper(-1);
        self.pretty.end_array(writer)
    }

    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.pretty.begin_array_value(writer, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.pretty.end_array_value(writer)
    }

    fn begin_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        deeper(1);
        self.pretty.begin_object(writer)
    }

    fn end_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        deeper(-1);
        self.pretty.end_object(writer)
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.pretty.begin_object_key(writer, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.pretty.begin_object_value(writer)
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.pretty.end_object_value(writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Group {
        name: &'static str,
        frames: Vec<Frame>,
        nested: Vec<Vec<Frame>>,
        empty: Vec<Frame>,
        one: Option<Frame>,
    }

    fn frame(function: Option<&Arc<str>>, address: &Arc<str>, line: Option<u32>) -> Frame {
        thread_local! {
            static FILE: Arc<str> = "a \"quoted\"\nfile.c".into();
        }
        Frame {
            function: function.cloned(),
            file: Some(FILE.with(Arc::clone)),
            line,
            module: None,
            address: address.clone(),
            inlined: line.is_none(),
        }
    }

    #[test]
    fn frames_rendered_once_read_as_serde_json_writes_them_at_every_depth() {
        let (f, g): (Arc<str>, Arc<str>) = ("main".into(), "grow".into());
        let (a, b): (Arc<str>, Arc<str>) = ("0x10".into(), "0x20".into());
        let x = frame(Some(&f), &a, Some(3));
        let y = frame(Some(&g), &b, None);
        // Equal to `x`, of other strings; and `x` with another line.
        let x_again = frame(Some(&"main".into()), &"0x10".into(), Some(3));
        let x_moved = frame(Some(&f), &a, Some(4));
        let groups = vec![
            Group {
                name: "first",
                frames: vec![x.clone(), y.clone(), x.clone(), x_again.clone()],
                nested: vec![vec![y.clone(), x.clone()], vec![]],
                empty: vec![],
                one: Some(x_moved.clone()),
            },
            Group {
                name: "second",
                frames: vec![x_moved, y.clone()],
                nested: vec![vec![x.clone()]],
                empty: vec![],
                one: None,
            },
        ];
        let mut ours = Vec::new();
        write_pretty(&mut ours, &groups).unwrap();
        let mut theirs = serde_json::to_vec_pretty(&groups).unwrap();
        theirs.push(b'\n');
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            String::from_utf8(theirs).unwrap()
        );
        // Outside `write_pretty`, frames serialize field by field.
        assert_eq!(
            serde_json::to_string(&y).unwrap(),
            r#"{"function":"grow","file":"a \"quoted\"\nfile.c","line":null,"module":null,"address":"0x20","inlined":true}"#
        );
    }
}
