//! The parsed snapshot: nodes and edges as struct-of-arrays, and the strings.
//!
//! Nodes and edges are addressed by their ordinal (`0..node_count`,
//! `0..edge_count`), not by the offsets the file uses; `to_node` offsets are
//! turned into ordinals while parsing.

use std::ops::Range;

/// The kind of a node, from `snapshot.meta.node_types`.
///
/// Names V8 adds in later versions are kept as [`NodeType::Other`] with their
/// index into [`HeapSnapshot::node_type_names`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeType {
    /// V8 internals (`system / Context`, `system / Map`, ...).
    Hidden,
    /// Internal arrays (`(object elements)`, backing stores).
    Array,
    /// A flat string.
    String,
    /// A JavaScript object; its name is its constructor.
    Object,
    /// Compiled code.
    Code,
    /// A JavaScript function.
    Closure,
    /// A regular expression.
    RegExp,
    /// A heap number.
    Number,
    /// An embedder (Node.js, Blink) object.
    Native,
    /// A synthetic node: the root and the `(GC roots)` groups.
    Synthetic,
    /// A concatenated (cons) string.
    ConsString,
    /// A slice of another string.
    SlicedString,
    /// A symbol.
    Symbol,
    /// A BigInt.
    BigInt,
    /// A hidden class (`Map` in V8 terms).
    ObjectShape,
    /// A WebAssembly object.
    WasmObject,
    /// A type this parser does not know.
    Other(u32),
}

impl NodeType {
    pub(crate) fn from_name(name: &str, index: u32) -> NodeType {
        match name {
            "hidden" => NodeType::Hidden,
            "array" => NodeType::Array,
            "string" => NodeType::String,
            "object" => NodeType::Object,
            "code" => NodeType::Code,
            "closure" => NodeType::Closure,
            "regexp" => NodeType::RegExp,
            "number" => NodeType::Number,
            "native" => NodeType::Native,
            "synthetic" => NodeType::Synthetic,
            "concatenated string" => NodeType::ConsString,
            "sliced string" => NodeType::SlicedString,
            "symbol" => NodeType::Symbol,
            "bigint" => NodeType::BigInt,
            "object shape" => NodeType::ObjectShape,
            "wasm object" => NodeType::WasmObject,
            _ => NodeType::Other(index),
        }
    }
}

/// The kind of an edge, from `snapshot.meta.edge_types`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EdgeType {
    /// A variable in a function context.
    Context,
    /// An indexed element; `name_or_index` is the index.
    Element,
    /// A named property.
    Property,
    /// A V8-internal reference with a name (`table`, `context`, `map`).
    Internal,
    /// An internal reference without a useful name; `name_or_index` is an index.
    Hidden,
    /// A shortcut that bypasses intermediate objects (from the root: the user globals).
    Shortcut,
    /// A weak reference: never keeps its target alive.
    Weak,
    /// A type this parser does not know.
    Other(u32),
}

impl EdgeType {
    pub(crate) fn from_name(name: &str, index: u32) -> EdgeType {
        match name {
            "context" => EdgeType::Context,
            "element" => EdgeType::Element,
            "property" => EdgeType::Property,
            "internal" => EdgeType::Internal,
            "hidden" => EdgeType::Hidden,
            "shortcut" => EdgeType::Shortcut,
            "weak" => EdgeType::Weak,
            _ => EdgeType::Other(index),
        }
    }

    /// Whether `name_or_index` is an index rather than a string id.
    pub fn has_index_name(self) -> bool {
        matches!(self, EdgeType::Element | EdgeType::Hidden)
    }
}

/// The name of an edge: a string for properties and variables, an index for elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeName<'a> {
    /// A property, variable or internal name.
    Name(&'a str),
    /// An element or hidden-slot index.
    Index(u32),
}

impl std::fmt::Display for EdgeName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EdgeName::Name(name) => f.write_str(name),
            EdgeName::Index(index) => write!(f, "{index}"),
        }
    }
}

/// All strings of a snapshot in one buffer.
#[derive(Debug, Default)]
pub struct StringTable {
    data: String,
    /// `offsets[i]..offsets[i + 1]` is string `i`.
    offsets: Vec<usize>,
}

impl StringTable {
    pub(crate) fn new() -> Self {
        StringTable {
            data: String::new(),
            offsets: vec![0],
        }
    }

    pub(crate) fn push(&mut self, s: &str) {
        self.data.push_str(s);
        self.offsets.push(self.data.len());
    }

    /// Number of strings.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Whether there are no strings.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// String `index`, or `""` when out of range (checked at parse time).
    pub fn get(&self, index: u32) -> &str {
        let i = index as usize;
        match (self.offsets.get(i), self.offsets.get(i + 1)) {
            (Some(&start), Some(&end)) => &self.data[start..end],
            _ => "",
        }
    }

    /// Index of the first string equal to `s`, if any.
    pub fn position(&self, s: &str) -> Option<u32> {
        (0..self.len() as u32).find(|&i| self.get(i) == s)
    }
}

/// Node fields, one vector per field.
#[derive(Debug, Default)]
pub(crate) struct Nodes {
    pub(crate) kind: Vec<u32>,
    pub(crate) name: Vec<u32>,
    pub(crate) id: Vec<u32>,
    pub(crate) self_size: Vec<u32>,
    /// `first_edge[i]..first_edge[i + 1]` are node `i`'s edges; `node_count + 1` entries.
    pub(crate) first_edge: Vec<u32>,
    /// Empty when the snapshot has no `detachedness` field.
    pub(crate) detachedness: Vec<u8>,
}

/// Edge fields, one vector per field.
#[derive(Debug, Default)]
pub(crate) struct Edges {
    /// Edge type index (V8 declares seven; an index past 255 is stored as 255, which no type has).
    pub(crate) kind: Vec<u8>,
    pub(crate) name_or_index: Vec<u32>,
    /// Target node ordinal.
    pub(crate) to: Vec<u32>,
}

/// A parsed `.heapsnapshot`.
#[derive(Debug)]
pub struct HeapSnapshot {
    pub(crate) node_types: Vec<NodeType>,
    pub(crate) node_type_names: Vec<String>,
    pub(crate) edge_types: Vec<EdgeType>,
    pub(crate) edge_type_names: Vec<String>,
    pub(crate) nodes: Nodes,
    pub(crate) edges: Edges,
    pub(crate) strings: StringTable,
    pub(crate) root: u32,
}

impl HeapSnapshot {
    /// Number of nodes.
    pub fn node_count(&self) -> u32 {
        self.nodes.id.len() as u32
    }

    /// Number of edges.
    pub fn edge_count(&self) -> u32 {
        self.edges.to.len() as u32
    }

    /// The root node's ordinal (`snapshot.root_index`, normally 0).
    pub fn root(&self) -> u32 {
        self.root
    }

    /// The node type names as the snapshot declares them.
    pub fn node_type_names(&self) -> &[String] {
        &self.node_type_names
    }

    /// The type of node `n`.
    pub fn node_type(&self, n: u32) -> NodeType {
        let raw = self.nodes.kind[n as usize];
        self.node_types
            .get(raw as usize)
            .copied()
            .unwrap_or(NodeType::Other(raw))
    }

    /// The type name of node `n` as written in the snapshot.
    pub fn node_type_name(&self, n: u32) -> &str {
        let raw = self.nodes.kind[n as usize] as usize;
        self.node_type_names
            .get(raw)
            .map_or("unknown", String::as_str)
    }

    /// The name of node `n` (the constructor for objects, the text for strings).
    pub fn node_name(&self, n: u32) -> &str {
        self.strings.get(self.nodes.name[n as usize])
    }

    /// The string index of node `n`'s name.
    pub fn node_name_index(&self, n: u32) -> u32 {
        self.nodes.name[n as usize]
    }

    /// The snapshot object id of node `n`, stable across snapshots of one process.
    pub fn node_id(&self, n: u32) -> u32 {
        self.nodes.id[n as usize]
    }

    /// The shallow size of node `n` in bytes.
    pub fn self_size(&self, n: u32) -> u32 {
        self.nodes.self_size[n as usize]
    }

    /// Detachedness of node `n`: 0 unknown, 1 attached, 2 detached.
    pub fn detachedness(&self, n: u32) -> u8 {
        self.nodes
            .detachedness
            .get(n as usize)
            .copied()
            .unwrap_or(0)
    }

    /// The edges leaving node `n`.
    pub fn edges_of(&self, n: u32) -> Range<u32> {
        self.nodes.first_edge[n as usize]..self.nodes.first_edge[n as usize + 1]
    }

    /// The raw index of an edge type, if the snapshot declares it.
    pub(crate) fn edge_type_index(&self, wanted: EdgeType) -> Option<u32> {
        self.edge_types
            .iter()
            .position(|&t| t == wanted)
            .map(|i| i as u32)
    }

    /// The raw index of a node type, if the snapshot declares it.
    pub(crate) fn node_type_index(&self, wanted: NodeType) -> Option<u32> {
        self.node_types
            .iter()
            .position(|&t| t == wanted)
            .map(|i| i as u32)
    }

    /// The type of edge `e`.
    pub fn edge_type(&self, e: u32) -> EdgeType {
        let raw = u32::from(self.edges.kind[e as usize]);
        self.edge_types
            .get(raw as usize)
            .copied()
            .unwrap_or(EdgeType::Other(raw))
    }

    /// The type name of edge `e` as written in the snapshot.
    pub fn edge_type_name(&self, e: u32) -> &str {
        let raw = self.edges.kind[e as usize] as usize;
        self.edge_type_names
            .get(raw)
            .map_or("unknown", String::as_str)
    }

    /// The name or index of edge `e`.
    pub fn edge_name(&self, e: u32) -> EdgeName<'_> {
        let value = self.edges.name_or_index[e as usize];
        if self.edge_type(e).has_index_name() {
            EdgeName::Index(value)
        } else {
            EdgeName::Name(self.strings.get(value))
        }
    }

    /// The target node of edge `e`.
    pub fn edge_target(&self, e: u32) -> u32 {
        self.edges.to[e as usize]
    }

    /// The strings table.
    pub fn strings(&self) -> &StringTable {
        &self.strings
    }

    /// The class key DevTools groups node `n` under (see [`HeapSnapshot::class_name`]).
    pub fn class_key(&self, n: u32) -> ClassKey {
        match self.node_type(n) {
            NodeType::Object | NodeType::Native => ClassKey::Named(self.nodes.name[n as usize]),
            _ => ClassKey::Type(self.nodes.kind[n as usize]),
        }
    }

    /// The class name DevTools shows for node `n`: the constructor for objects
    /// and native objects, `(system)` for hidden nodes, `(compiled code)` for
    /// code, and `(type)` for everything else (`(closure)`, `(string)`, `(array)`).
    pub fn class_name(&self, n: u32) -> String {
        self.class_key_name(self.class_key(n))
    }

    /// The name of a class key.
    pub fn class_key_name(&self, key: ClassKey) -> String {
        match key {
            ClassKey::Named(string) => self.strings.get(string).to_string(),
            ClassKey::Type(raw) => {
                let kind = self.node_types.get(raw as usize).copied();
                match kind {
                    Some(NodeType::Hidden) => "(system)".to_string(),
                    Some(NodeType::Code) => "(compiled code)".to_string(),
                    _ => {
                        let name = self
                            .node_type_names
                            .get(raw as usize)
                            .map_or("unknown", String::as_str);
                        format!("({name})")
                    }
                }
            }
        }
    }
}

/// What DevTools groups nodes by in its summary view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClassKey {
    /// Objects and native objects, by the string index of their name.
    Named(u32),
    /// Every other node, by its raw type index.
    Type(u32),
}
