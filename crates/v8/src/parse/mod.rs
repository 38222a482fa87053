//! The streaming `.heapsnapshot` parser.
//!
//! A snapshot is one JSON object: `snapshot` (the metadata), then the big
//! integer arrays `nodes` and `edges`, a few small arrays, and `strings` last.
//! The parser walks it once with a [`scanner::Scanner`]: the metadata is
//! captured and read with `serde_json` (it is small), the integer arrays are
//! scanned straight into one vector per field, and the strings go into one
//! buffer. Field positions come from `snapshot.meta` by name, so extra fields
//! and reordered fields are fine; unknown node and edge types are kept.

mod scanner;
mod strings;

use std::fs::File;
use std::io::Read;
use std::path::Path;

use serde_json::Value;

use crate::error::ParseError;
use crate::snapshot::{EdgeType, Edges, HeapSnapshot, NodeType, Nodes, StringTable};
use scanner::Scanner;

/// Reads a whole snapshot from `reader`.
///
/// `progress`, when given, is called with the number of bytes read so far each
/// time a buffer (1 MiB) is consumed.
pub fn read_snapshot<R: Read>(
    reader: R,
    progress: Option<&mut dyn FnMut(u64)>,
) -> Result<HeapSnapshot, ParseError> {
    let mut parser = Parser::new(reader, progress, false);
    parser.run()?;
    parser.finish()
}

/// Reads a snapshot file; see [`read_snapshot`].
pub fn read_snapshot_file(path: &Path) -> Result<HeapSnapshot, ParseError> {
    read_snapshot(std::io::BufReader::new(File::open(path)?), None)
}

/// Reads only the node ids of a snapshot, sorted, stopping after `nodes`.
///
/// This is what the baseline and target of a leak search need, at a fraction
/// of the time and memory of a full parse.
pub fn read_node_ids<R: Read>(
    reader: R,
    progress: Option<&mut dyn FnMut(u64)>,
) -> Result<Vec<u32>, ParseError> {
    let mut parser = Parser::new(reader, progress, true);
    parser.run()?;
    if !parser.seen_nodes {
        return Err(ParseError::Meta(
            "the snapshot has no \"nodes\" array".into(),
        ));
    }
    let mut ids = std::mem::take(&mut parser.nodes.id);
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// Where each needed field sits in a node or edge record.
struct Layout {
    node_fields: usize,
    /// For each node field position: which vector it goes to.
    node_slots: Vec<Slot>,
    edge_fields: usize,
    edge_slots: Vec<Slot>,
    node_count: Option<u64>,
    edge_count: Option<u64>,
    root_offset: u64,
    node_type_names: Vec<String>,
    edge_type_names: Vec<String>,
    has_detachedness: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    Skip,
    NodeType,
    NodeName,
    NodeId,
    NodeSelfSize,
    NodeEdgeCount,
    NodeDetachedness,
    EdgeType,
    EdgeName,
    EdgeTo,
}

struct Parser<'p, R> {
    scanner: Scanner<'p, R>,
    ids_only: bool,
    layout: Option<Layout>,
    nodes: Nodes,
    edges: Edges,
    strings: Option<StringTable>,
    seen_nodes: bool,
    seen_edges: bool,
}

impl<'p, R: Read> Parser<'p, R> {
    fn new(reader: R, progress: Option<&'p mut dyn FnMut(u64)>, ids_only: bool) -> Self {
        Parser {
            scanner: Scanner::new(reader, progress),
            ids_only,
            layout: None,
            nodes: Nodes::default(),
            edges: Edges::default(),
            strings: None,
            seen_nodes: false,
            seen_edges: false,
        }
    }

    fn run(&mut self) -> Result<(), ParseError> {
        if self.scanner.peek()?.is_none() {
            return Err(ParseError::Truncated {
                offset: 0,
                context: "the start of the document (the file is empty)",
            });
        }
        self.scanner.expect(b'{', "at the start of the document")?;
        let mut key_raw = Vec::new();
        let mut key = String::new();
        if self.scanner.skip_ws("in the top-level object")? == b'}' {
            return Err(ParseError::Meta("the document is an empty object".into()));
        }
        loop {
            self.scanner
                .read_string(&mut key_raw, &mut key, "for a top-level key")?;
            self.scanner.expect(b':', "after a top-level key")?;
            match key.as_str() {
                "snapshot" => self.read_meta()?,
                "nodes" => {
                    self.read_nodes()?;
                    if self.ids_only {
                        return Ok(());
                    }
                }
                "edges" if self.ids_only => self.scanner.skip_value("in \"edges\"")?,
                "edges" => self.read_edges()?,
                "strings" => self.read_strings()?,
                _ => self.scanner.skip_value("in a top-level value")?,
            }
            if !self.scanner.comma_or(b'}', "between top-level entries")? {
                break;
            }
        }
        self.scanner.expect_end()
    }

    fn layout(&self, what: &str) -> Result<&Layout, ParseError> {
        self.layout.as_ref().ok_or_else(|| {
            ParseError::Meta(format!(
                "\"{what}\" comes before \"snapshot\": the metadata must come first"
            ))
        })
    }

    fn read_meta(&mut self) -> Result<(), ParseError> {
        let offset = self.scanner.offset();
        let bytes = self.scanner.capture_value("in \"snapshot\"")?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|err| {
            ParseError::Meta(format!(
                "\"snapshot\" at byte {offset} is not valid JSON: {err}"
            ))
        })?;
        self.layout = Some(layout_from_meta(&value)?);
        Ok(())
    }

    fn read_nodes(&mut self) -> Result<(), ParseError> {
        self.layout("nodes")?;
        let Some(layout) = self.layout.as_ref() else {
            return Ok(());
        };
        let fields = layout.node_fields;
        let slots = layout.node_slots.clone();
        let ids_only = self.ids_only;
        let has_detachedness = layout.has_detachedness;
        if let Some(count) = layout.node_count {
            // The declared count only sizes the first allocation: a wrong header
            // cannot make it huge, and the vectors still grow past it if needed.
            let count = usize::try_from(count).unwrap_or(0).min(1 << 26);
            self.nodes.id.reserve(count);
            if !ids_only {
                self.nodes.kind.reserve(count);
                self.nodes.name.reserve(count);
                self.nodes.self_size.reserve(count);
                self.nodes.first_edge.reserve(count + 1);
                if has_detachedness {
                    self.nodes.detachedness.reserve(count);
                }
            }
        }
        let nodes = &mut self.nodes;
        nodes.first_edge.clear();
        nodes.first_edge.push(0);
        let mut position = 0usize;
        let mut edge_total: u64 = 0;
        let mut overflow = false;
        self.scanner.read_u32_array("in \"nodes\"", |value| {
            match slots[position] {
                Slot::NodeId => nodes.id.push(value),
                _ if ids_only => {}
                Slot::NodeType => nodes.kind.push(value),
                Slot::NodeName => nodes.name.push(value),
                Slot::NodeSelfSize => nodes.self_size.push(value),
                Slot::NodeEdgeCount => {
                    edge_total += u64::from(value);
                    overflow |= edge_total > u64::from(u32::MAX);
                    nodes.first_edge.push(edge_total as u32);
                }
                Slot::NodeDetachedness => nodes.detachedness.push(value.min(255) as u8),
                _ => {}
            }
            position += 1;
            if position == fields {
                position = 0;
            }
            Ok(())
        })?;
        if position != 0 {
            return Err(ParseError::Inconsistent(format!(
                "\"nodes\" holds {} numbers, not a multiple of the {fields} node fields",
                nodes.id.len() * fields + position
            )));
        }
        if overflow {
            return Err(ParseError::Inconsistent(
                "the edge counts add up to more than 2^32 edges".into(),
            ));
        }
        self.seen_nodes = true;
        Ok(())
    }

    fn read_edges(&mut self) -> Result<(), ParseError> {
        self.layout("edges")?;
        let Some(layout) = self.layout.as_ref() else {
            return Ok(());
        };
        let fields = layout.edge_fields;
        let node_fields = layout.node_fields as u32;
        let slots = layout.edge_slots.clone();
        if let Some(count) = layout.edge_count {
            let count = usize::try_from(count).unwrap_or(0).min(1 << 28);
            self.edges.kind.reserve(count);
            self.edges.name_or_index.reserve(count);
            self.edges.to.reserve(count);
        }
        let edges = &mut self.edges;
        let mut position = 0usize;
        let mut misaligned: Option<u32> = None;
        let divide = Divisor::new(node_fields);
        self.scanner.read_u32_array("in \"edges\"", |value| {
            match slots[position] {
                Slot::EdgeType => edges.kind.push(u8::try_from(value).unwrap_or(u8::MAX)),
                Slot::EdgeName => edges.name_or_index.push(value),
                Slot::EdgeTo => {
                    let node = divide.of(value);
                    if node * node_fields != value && misaligned.is_none() {
                        misaligned = Some(value);
                    }
                    edges.to.push(node);
                }
                _ => {}
            }
            position += 1;
            if position == fields {
                position = 0;
            }
            Ok(())
        })?;
        if position != 0 {
            return Err(ParseError::Inconsistent(format!(
                "\"edges\" holds a number of values that is not a multiple of the {fields} edge fields"
            )));
        }
        if let Some(value) = misaligned {
            return Err(ParseError::Inconsistent(format!(
                "an edge points to node offset {value}, which is not a multiple of the {node_fields} node fields"
            )));
        }
        self.seen_edges = true;
        Ok(())
    }

    fn read_strings(&mut self) -> Result<(), ParseError> {
        let mut table = StringTable::new();
        let mut raw = Vec::new();
        let mut text = String::new();
        self.scanner.expect(b'[', "at the start of \"strings\"")?;
        if self.scanner.skip_ws("in \"strings\"")? == b']' {
            self.scanner.expect(b']', "in \"strings\"")?;
        } else {
            loop {
                self.scanner
                    .read_string(&mut raw, &mut text, "in \"strings\"")?;
                table.push(&text);
                if !self.scanner.comma_or(b']', "in \"strings\"")? {
                    break;
                }
            }
        }
        self.strings = Some(table);
        Ok(())
    }

    fn finish(self) -> Result<HeapSnapshot, ParseError> {
        let layout = self
            .layout
            .ok_or_else(|| ParseError::Meta("the document has no \"snapshot\" metadata".into()))?;
        if !self.seen_nodes {
            return Err(ParseError::Meta(
                "the snapshot has no \"nodes\" array".into(),
            ));
        }
        if !self.seen_edges {
            return Err(ParseError::Meta(
                "the snapshot has no \"edges\" array".into(),
            ));
        }
        let strings = self
            .strings
            .ok_or_else(|| ParseError::Meta("the snapshot has no \"strings\" array".into()))?;
        let nodes = self.nodes;
        let edges = self.edges;
        let node_count = nodes.id.len() as u64;
        let edge_count = edges.to.len() as u64;
        if let Some(declared) = layout.node_count.filter(|&d| d != node_count) {
            return Err(ParseError::Inconsistent(format!(
                "snapshot.node_count says {declared} nodes but \"nodes\" holds {node_count}"
            )));
        }
        if let Some(declared) = layout.edge_count.filter(|&d| d != edge_count) {
            return Err(ParseError::Inconsistent(format!(
                "snapshot.edge_count says {declared} edges but \"edges\" holds {edge_count}"
            )));
        }
        let summed = nodes.first_edge.last().copied().unwrap_or(0);
        if u64::from(summed) != edge_count {
            return Err(ParseError::Inconsistent(format!(
                "the nodes' edge counts add up to {summed} but \"edges\" holds {edge_count}"
            )));
        }
        if node_count == 0 {
            return Err(ParseError::Inconsistent("the snapshot has no nodes".into()));
        }
        if let Some(bad) = edges.to.iter().find(|&&to| u64::from(to) >= node_count) {
            return Err(ParseError::Inconsistent(format!(
                "an edge points to node {bad}, but there are only {node_count} nodes"
            )));
        }
        let string_count = strings.len() as u64;
        if let Some(bad) = nodes.name.iter().find(|&&s| u64::from(s) >= string_count) {
            return Err(ParseError::Inconsistent(format!(
                "a node name refers to string {bad}, but there are only {string_count} strings"
            )));
        }
        let node_types: Vec<NodeType> = (0u32..)
            .zip(&layout.node_type_names)
            .map(|(i, name)| NodeType::from_name(name, i))
            .collect();
        let edge_types: Vec<EdgeType> = (0u32..)
            .zip(&layout.edge_type_names)
            .map(|(i, name)| EdgeType::from_name(name, i))
            .collect();
        for (e, (&kind, &name)) in edges.kind.iter().zip(&edges.name_or_index).enumerate() {
            let by_index = edge_types
                .get(kind as usize)
                .is_some_and(|t| t.has_index_name());
            if !by_index && u64::from(name) >= string_count {
                return Err(ParseError::Inconsistent(format!(
                    "edge {e} is named by string {name}, but there are only {string_count} strings"
                )));
            }
        }
        let root = layout.root_offset / layout.node_fields as u64;
        if layout.root_offset % layout.node_fields as u64 != 0 || root >= node_count {
            return Err(ParseError::Inconsistent(format!(
                "snapshot.root_index {} is not a node",
                layout.root_offset
            )));
        }
        Ok(HeapSnapshot {
            node_types,
            node_type_names: layout.node_type_names,
            edge_types,
            edge_type_names: layout.edge_type_names,
            nodes,
            edges,
            strings,
            root: root as u32,
        })
    }
}

fn string_list(value: &Value, what: &str) -> Result<Vec<String>, ParseError> {
    let array = value
        .as_array()
        .ok_or_else(|| ParseError::Meta(format!("{what} is not an array")))?;
    array
        .iter()
        .map(|item| {
            item.as_str().map(str::to_string).ok_or_else(|| {
                ParseError::Meta(format!("{what} holds something other than a string"))
            })
        })
        .collect()
}

fn position(fields: &[String], name: &str, what: &str) -> Result<usize, ParseError> {
    fields
        .iter()
        .position(|f| f == name)
        .ok_or_else(|| ParseError::Meta(format!("{what} has no \"{name}\" field")))
}

fn layout_from_meta(snapshot: &Value) -> Result<Layout, ParseError> {
    let meta = snapshot
        .get("meta")
        .ok_or_else(|| ParseError::Meta("\"snapshot\" has no \"meta\"".into()))?;
    let field = |name: &str| {
        meta.get(name)
            .ok_or_else(|| ParseError::Meta(format!("snapshot.meta has no \"{name}\"")))
    };
    let node_fields = string_list(field("node_fields")?, "snapshot.meta.node_fields")?;
    let edge_fields = string_list(field("edge_fields")?, "snapshot.meta.edge_fields")?;
    let node_type_at = position(&node_fields, "type", "snapshot.meta.node_fields")?;
    let edge_type_at = position(&edge_fields, "type", "snapshot.meta.edge_fields")?;
    let node_types = field("node_types")?.get(node_type_at).ok_or_else(|| {
        ParseError::Meta("snapshot.meta.node_types has no entry for \"type\"".into())
    })?;
    let edge_types = field("edge_types")?.get(edge_type_at).ok_or_else(|| {
        ParseError::Meta("snapshot.meta.edge_types has no entry for \"type\"".into())
    })?;
    let node_type_names = string_list(node_types, "the node type list")?;
    let edge_type_names = string_list(edge_types, "the edge type list")?;

    let mut node_slots = vec![Slot::Skip; node_fields.len()];
    for (name, slot) in [
        ("type", Slot::NodeType),
        ("name", Slot::NodeName),
        ("id", Slot::NodeId),
        ("self_size", Slot::NodeSelfSize),
        ("edge_count", Slot::NodeEdgeCount),
    ] {
        node_slots[position(&node_fields, name, "snapshot.meta.node_fields")?] = slot;
    }
    let detached_at = node_fields.iter().position(|f| f == "detachedness");
    if let Some(at) = detached_at {
        node_slots[at] = Slot::NodeDetachedness;
    }
    let mut edge_slots = vec![Slot::Skip; edge_fields.len()];
    for (name, slot) in [
        ("type", Slot::EdgeType),
        ("name_or_index", Slot::EdgeName),
        ("to_node", Slot::EdgeTo),
    ] {
        edge_slots[position(&edge_fields, name, "snapshot.meta.edge_fields")?] = slot;
    }
    let count = |name: &str| -> Result<Option<u64>, ParseError> {
        match snapshot.get(name) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                ParseError::Meta(format!("snapshot.{name} is not a non-negative integer"))
            }),
        }
    };
    Ok(Layout {
        node_fields: node_fields.len(),
        node_slots,
        edge_fields: edge_fields.len(),
        edge_slots,
        node_count: count("node_count")?,
        edge_count: count("edge_count")?,
        root_offset: count("root_index")?.unwrap_or(0),
        node_type_names,
        edge_type_names,
        has_detachedness: detached_at.is_some(),
    })
}

/// Division of any `u32` by a fixed small divisor as a multiply and a
/// shift (a hardware division per edge was a tenth of the parse).
#[derive(Clone, Copy)]
struct Divisor {
    divisor: u32,
    /// `ceil(2^40 / divisor)`, exact for every `u32` when the divisor is at most 16.
    magic: u64,
}

impl Divisor {
    fn new(divisor: u32) -> Divisor {
        let divisor = divisor.max(1);
        Divisor {
            divisor,
            magic: (1u64 << 40).div_ceil(u64::from(divisor)),
        }
    }

    #[inline]
    fn of(self, value: u32) -> u32 {
        if self.divisor <= 16 {
            ((u128::from(value) * u128::from(self.magic)) >> 40) as u32
        } else {
            value / self.divisor
        }
    }
}

#[cfg(test)]
mod divisor_tests {
    use super::Divisor;

    #[test]
    fn multiply_and_shift_divide_exactly() {
        for d in 1..=20u32 {
            let divide = Divisor::new(d);
            let mut values: Vec<u32> = (0..100_000).collect();
            values.extend((0..100_000).map(|i| u32::MAX - i));
            values.extend((0..32).map(|b| 1u32 << b));
            for v in values {
                assert_eq!(divide.of(v), v / d, "{v} / {d}");
            }
        }
    }
}
