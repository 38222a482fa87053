//! "Held the same way": the clustering key of a leaked object.
//!
//! Shortest paths are a poor key on their own: objects in a linked list (the
//! timers of one duration, a hand-written queue) each have a path of a
//! different length, and a doubly linked list is entered from both ends. The
//! key therefore uses the dominator tree: walk up from the leaked object
//! through the objects that are also new (not in the baseline) until the
//! first old one, the *holder* that existed before the action and now keeps
//! the new objects alive. Two leaked objects are held the same way when they
//! have the same constructor, the same chain of constructors between them and
//! their holder (repeats collapsed), and holders reached the same way
//! (the holder's class and its normalised shortest path, repeats collapsed).

use std::collections::HashMap;

use crate::graph::HeapGraph;
use crate::snapshot::NodeType;

/// Chains longer than this keep only the part nearest the leaked object.
const MAX_CHAIN: usize = 8;

/// A node's type and, where people see it, its name.
type ClassTag = [u32; 2];

/// Computes clustering keys, remembering what it has seen.
pub(crate) struct HolderKeys<'g> {
    graph: &'g HeapGraph,
    is_new: &'g dyn Fn(u32) -> bool,
    /// For a new node: its holder and the id of its chain (classes from the holder down to it).
    memo: HashMap<u32, (u32, u32)>,
    chains: Vec<Vec<ClassTag>>,
    chain_ids: HashMap<Vec<ClassTag>, u32>,
    holder_keys: HashMap<u32, u32>,
    holder_key_ids: HashMap<Vec<[u32; 3]>, u32>,
}

/// The clustering key: holder key id and chain id.
pub(crate) type HolderKey = (u32, u32);

impl<'g> HolderKeys<'g> {
    pub(crate) fn new(graph: &'g HeapGraph, is_new: &'g dyn Fn(u32) -> bool) -> Self {
        let mut chain_ids = HashMap::new();
        chain_ids.insert(Vec::new(), 0);
        HolderKeys {
            graph,
            is_new,
            memo: HashMap::new(),
            chains: vec![Vec::new()],
            chain_ids,
            holder_keys: HashMap::new(),
            holder_key_ids: HashMap::new(),
        }
    }

    fn tag(&self, node: u32) -> ClassTag {
        let s = self.graph.snapshot();
        let named = matches!(
            s.node_type(node),
            NodeType::Object | NodeType::Native | NodeType::Hidden | NodeType::Synthetic
        );
        [
            s.nodes.kind[node as usize],
            if named {
                s.node_name_index(node)
            } else {
                u32::MAX
            },
        ]
    }

    fn intern_chain(&mut self, chain: Vec<ClassTag>) -> u32 {
        if let Some(&id) = self.chain_ids.get(&chain) {
            return id;
        }
        let id = self.chains.len() as u32;
        self.chains.push(chain.clone());
        self.chain_ids.insert(chain, id);
        id
    }

    /// Holder and chain of a node above a leaked object (memoised, iterative).
    fn resolve(&mut self, start: u32) -> (u32, u32) {
        let root = self.graph.snapshot().root();
        let mut pending = Vec::new();
        let mut current = start;
        let mut base = loop {
            if current == root || !(self.is_new)(current) {
                break (current, 0);
            }
            if let Some(&known) = self.memo.get(&current) {
                break known;
            }
            pending.push(current);
            current = self.graph.dominator(current);
        };
        while let Some(node) = pending.pop() {
            let mut chain = self.chains[base.1 as usize].clone();
            let tag = self.tag(node);
            if chain.last() != Some(&tag) {
                chain.push(tag);
                if chain.len() > MAX_CHAIN {
                    chain.remove(0);
                }
            }
            let id = self.intern_chain(chain);
            base = (base.0, id);
            self.memo.insert(node, base);
        }
        base
    }

    fn holder_key(&mut self, holder: u32) -> u32 {
        if let Some(&id) = self.holder_keys.get(&holder) {
            return id;
        }
        let graph = self.graph;
        let mut key = super::path::key(graph, &graph.retainer_path(holder));
        // Collapse runs (linked lists): keep one hop per run of equal hops.
        key.dedup();
        let tag = self.tag(holder);
        key.push([tag[0], tag[1], u32::MAX - 1]);
        let next = self.holder_key_ids.len() as u32;
        let id = *self.holder_key_ids.entry(key).or_insert(next);
        self.holder_keys.insert(holder, id);
        id
    }

    /// The holder of leaked object `node`: the first object above it in the
    /// dominator tree that existed before the action.
    pub(crate) fn holder(&mut self, node: u32) -> u32 {
        let above = self.graph.dominator(node);
        self.resolve(above).0
    }

    /// The key of leaked object `node`.
    pub(crate) fn key(&mut self, node: u32) -> HolderKey {
        let above = self.graph.dominator(node);
        let (holder, chain) = self.resolve(above);
        (self.holder_key(holder), chain)
    }
}
