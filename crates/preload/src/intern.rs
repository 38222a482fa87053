//! Per-stream stack interning: each distinct call stack is written to the
//! trace once, as a chain of trie nodes; allocation records then carry one
//! node id.
//!
//! A lookup hashes the frames and probes a table of known stacks; a hit is
//! verified by walking the trie from the leaf, so two stacks with equal
//! hashes are never confused. A miss walks the trie from the root, creating
//! (and emitting) the nodes that are new.

use std::mem::MaybeUninit;

/// A trie node: its parent and its instruction pointer.
#[derive(Clone, Copy)]
struct Node {
    parent: u32,
    ip: u64,
}

#[derive(Clone, Copy, Default)]
struct ChildSlot {
    ip: u64,
    parent: u32,
    /// 0 = empty.
    child: u32,
}

#[derive(Clone, Copy, Default)]
struct StackSlot {
    hash: u64,
    /// 0 = empty.
    leaf: u32,
    len: u32,
}

/// The stacks one stream has defined.
pub struct Interner {
    nodes: Vec<Node>,
    children: Vec<ChildSlot>,
    stacks: Vec<StackSlot>,
    stack_count: usize,
}

/// Hashes a stack (innermost first).
#[inline(always)]
pub fn hash_frames(ips: &[u64]) -> u64 {
    let mut h = 0x243f_6a88_85a3_08d3u64 ^ ips.len() as u64;
    for &ip in ips {
        h = (h ^ ip).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
    }
    h ^ (h >> 32)
}

#[inline(always)]
fn slot_of(hash: u64, mask: usize) -> usize {
    (hash as usize) & mask
}

impl Interner {
    /// An interner that knows only the empty stack (node 0).
    pub fn new() -> Interner {
        Interner {
            nodes: vec![Node { parent: 0, ip: 0 }],
            children: vec![ChildSlot::default(); 1024],
            stacks: vec![StackSlot::default(); 1024],
            stack_count: 0,
        }
    }

    /// Forgets every stack but the empty one (a stream re-armed for a new
    /// trace, whose reader knows none of them), keeping the tables' memory:
    /// nothing is allocated or freed.
    pub fn clear(&mut self) {
        self.nodes.truncate(1);
        self.children.fill(ChildSlot::default());
        self.stacks.fill(StackSlot::default());
        self.stack_count = 0;
    }

    /// The leaf node of a known stack; `path[i]` is set to the node of
    /// frame `i` (innermost first) and everything outside it (`path` is at
    /// least as long as `ips`).
    #[inline(always)]
    pub fn lookup(&self, ips: &[u64], hash: u64, path: &mut [MaybeUninit<u32>]) -> Option<u32> {
        let mask = self.stacks.len() - 1;
        let mut i = slot_of(hash, mask);
        loop {
            let slot = self.stacks[i];
            if slot.leaf == 0 {
                return None;
            }
            if slot.hash == hash
                && slot.len as usize == ips.len()
                && self.matches(slot.leaf, ips, path)
            {
                return Some(slot.leaf);
            }
            i = (i + 1) & mask;
        }
    }

    #[inline(always)]
    fn matches(&self, leaf: u32, ips: &[u64], path: &mut [MaybeUninit<u32>]) -> bool {
        let mut node = leaf;
        for (&ip, on_path) in ips.iter().zip(&mut path[..ips.len()]) {
            on_path.write(node);
            let n = self.nodes[node as usize];
            if n.ip != ip {
                return false;
            }
            node = n.parent;
        }
        node == 0
    }

    /// Interns a stack that [`Interner::lookup`] did not find; `emit` is
    /// called for every new node (parent, ip), parents first, in id order;
    /// `path` is set as by [`Interner::lookup`].
    pub fn insert(
        &mut self,
        ips: &[u64],
        hash: u64,
        path: &mut [MaybeUninit<u32>],
        mut emit: impl FnMut(u32, u64),
    ) -> u32 {
        let mut parent = 0u32;
        for (&ip, on_path) in ips.iter().zip(&mut path[..ips.len()]).rev() {
            parent = match self.child(parent, ip) {
                Some(child) => child,
                None => {
                    let id = self.nodes.len() as u32;
                    self.nodes.push(Node { parent, ip });
                    self.add_child(parent, ip, id);
                    emit(parent, ip);
                    id
                }
            };
            on_path.write(parent);
        }
        if self.stack_count * 2 >= self.stacks.len() {
            self.grow_stacks();
        }
        let mask = self.stacks.len() - 1;
        let mut i = slot_of(hash, mask);
        while self.stacks[i].leaf != 0 {
            i = (i + 1) & mask;
        }
        self.stacks[i] = StackSlot {
            hash,
            leaf: parent,
            len: ips.len() as u32,
        };
        self.stack_count += 1;
        parent
    }

    /// Nodes defined so far, the empty stack included.
    #[cfg(test)]
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    fn child_hash(parent: u32, ip: u64) -> u64 {
        (ip ^ (u64::from(parent) << 40) ^ u64::from(parent)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    /// The node of `ip` called from the stack `parent`, if it is known.
    #[inline(always)]
    pub fn child(&self, parent: u32, ip: u64) -> Option<u32> {
        let mask = self.children.len() - 1;
        let mut i = (Self::child_hash(parent, ip) >> 20) as usize & mask;
        loop {
            let slot = self.children[i];
            if slot.child == 0 {
                return None;
            }
            if slot.parent == parent && slot.ip == ip {
                return Some(slot.child);
            }
            i = (i + 1) & mask;
        }
    }

    /// Defines the node of `ip` called from the stack `parent`, which
    /// [`Interner::child`] does not know; `emit` is called for it as by
    /// [`Interner::insert`]. (The stack is not entered in the table of
    /// whole stacks: a later [`Interner::insert`] of it finds its nodes.)
    pub fn push(&mut self, parent: u32, ip: u64, emit: impl FnOnce(u32, u64)) -> u32 {
        let id = self.nodes.len() as u32;
        self.nodes.push(Node { parent, ip });
        self.add_child(parent, ip, id);
        emit(parent, ip);
        id
    }

    fn add_child(&mut self, parent: u32, ip: u64, child: u32) {
        if self.nodes.len() * 2 >= self.children.len() {
            let doubled = vec![ChildSlot::default(); self.children.len() * 2];
            let old = std::mem::replace(&mut self.children, doubled);
            for slot in old.into_iter().filter(|s| s.child != 0) {
                self.place_child(slot);
            }
        }
        self.place_child(ChildSlot { ip, parent, child });
    }

    fn place_child(&mut self, slot: ChildSlot) {
        let mask = self.children.len() - 1;
        let mut i = (Self::child_hash(slot.parent, slot.ip) >> 20) as usize & mask;
        while self.children[i].child != 0 {
            i = (i + 1) & mask;
        }
        self.children[i] = slot;
    }

    fn grow_stacks(&mut self) {
        let doubled = vec![StackSlot::default(); self.stacks.len() * 2];
        let old = std::mem::replace(&mut self.stacks, doubled);
        let mask = self.stacks.len() - 1;
        for slot in old.into_iter().filter(|s| s.leaf != 0) {
            let mut i = slot_of(slot.hash, mask);
            while self.stacks[i].leaf != 0 {
                i = (i + 1) & mask;
            }
            self.stacks[i] = slot;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path<const N: usize>() -> [MaybeUninit<u32>; N] {
        [MaybeUninit::new(0); N]
    }

    fn read<const N: usize>(path: [MaybeUninit<u32>; N]) -> [u32; N] {
        // SAFETY: every entry was initialised by `path`.
        path.map(|node| unsafe { node.assume_init() })
    }

    #[test]
    fn stacks_are_interned_once_and_share_prefixes() {
        let mut interner = Interner::new();
        let mut emitted = Vec::new();
        let a = [0x30, 0x20, 0x10];
        let b = [0x31, 0x20, 0x10];
        assert_eq!(interner.lookup(&a, hash_frames(&a), &mut path::<8>()), None);
        let leaf_a = interner.insert(&a, hash_frames(&a), &mut path::<8>(), |p, ip| {
            emitted.push((p, ip))
        });
        let leaf_b = interner.insert(&b, hash_frames(&b), &mut path::<8>(), |p, ip| {
            emitted.push((p, ip))
        });
        assert_eq!(emitted, vec![(0, 0x10), (1, 0x20), (2, 0x30), (2, 0x31)]);
        assert_eq!(
            interner.lookup(&a, hash_frames(&a), &mut path::<8>()),
            Some(leaf_a)
        );
        assert_eq!(
            interner.lookup(&b, hash_frames(&b), &mut path::<8>()),
            Some(leaf_b)
        );
        // A suffix of a known stack is a different stack.
        let c = [0x20, 0x10];
        assert_eq!(interner.lookup(&c, hash_frames(&c), &mut path::<8>()), None);
    }

    #[test]
    fn a_cleared_interner_defines_every_stack_again_from_node_one() {
        let mut interner = Interner::new();
        let stacks: Vec<[u64; 2]> = (0..3000u64).map(|i| [0x1000 + i, 0x10]).collect();
        for s in &stacks {
            interner.insert(s, hash_frames(s), &mut path::<8>(), |_, _| {});
        }
        interner.clear();
        assert_eq!(interner.node_count(), 1);
        assert_eq!(
            interner.lookup(&stacks[7], hash_frames(&stacks[7]), &mut path::<8>()),
            None
        );
        let mut emitted = Vec::new();
        let leaf = interner.insert(
            &stacks[7],
            hash_frames(&stacks[7]),
            &mut path::<8>(),
            |p, ip| emitted.push((p, ip)),
        );
        assert_eq!(emitted, vec![(0, 0x10), (1, 0x1007)]);
        assert_eq!(leaf, 2);
    }

    #[test]
    fn equal_hashes_never_confuse_stacks() {
        let mut interner = Interner::new();
        let a = [1, 2, 3];
        let b = [4, 5, 6];
        let leaf = interner.insert(&a, 42, &mut path::<8>(), |_, _| {});
        assert_eq!(interner.lookup(&b, 42, &mut path::<8>()), None);
        assert_eq!(interner.lookup(&a, 42, &mut path::<8>()), Some(leaf));
    }

    #[test]
    fn lookup_and_insert_give_every_frame_its_node_and_push_extends_a_stack() {
        let mut interner = Interner::new();
        let a = [0x30, 0x20, 0x10];
        let mut inserted = path::<3>();
        let leaf = interner.insert(&a, hash_frames(&a), &mut inserted, |_, _| {});
        let inserted = read(inserted);
        // Frame i's node is the stack from frame i outwards.
        let suffix = [0x20, 0x10];
        let inner = interner.insert(&suffix, hash_frames(&suffix), &mut path::<2>(), |_, _| {});
        assert_eq!(inserted, [leaf, inner, interner.child(0, 0x10).unwrap()]);
        let mut looked_up = path::<3>();
        assert_eq!(
            interner.lookup(&a, hash_frames(&a), &mut looked_up),
            Some(leaf)
        );
        assert_eq!(read(looked_up), inserted);
        // A stack grown from a known one by push is the stack insert would
        // have made, and a later insert of it defines nothing.
        let mut emitted = Vec::new();
        let deeper = interner.push(leaf, 0x40, |p, ip| emitted.push((p, ip)));
        assert_eq!(emitted, vec![(leaf, 0x40)]);
        let b = [0x40, 0x30, 0x20, 0x10];
        assert_eq!(interner.child(leaf, 0x40), Some(deeper));
        let mut grown = path::<4>();
        let again = interner.insert(&b, hash_frames(&b), &mut grown, |_, _| {
            panic!("defined twice")
        });
        assert_eq!(again, deeper);
        assert_eq!(read(grown), [deeper, leaf, inner, inserted[2]]);
    }

    #[test]
    fn tables_grow_past_their_initial_size() {
        let mut interner = Interner::new();
        let stacks: Vec<[u64; 2]> = (0..5000u64).map(|i| [0x1000 + i, 0x10]).collect();
        let leaves: Vec<u32> = stacks
            .iter()
            .map(|s| interner.insert(s, hash_frames(s), &mut path::<8>(), |_, _| {}))
            .collect();
        for (s, leaf) in stacks.iter().zip(leaves) {
            assert_eq!(
                interner.lookup(s, hash_frames(s), &mut path::<8>()),
                Some(leaf)
            );
        }
        assert_eq!(interner.node_count(), 5002);
    }
}
