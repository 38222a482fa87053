//! Trace-wide interned call stacks.
//!
//! Each stream defines its own stack nodes; the reader maps them into one
//! [`StackTable`] so that the same call stack seen by two threads gets one id.
//! A stack is a path in a trie: node `0` is the empty stack, every other node
//! is (parent, instruction pointer) with the outermost frame nearest the root
//! and the node itself being the innermost frame (the caller of the
//! allocation function).

/// Id of an interned stack (a trie node). `0` is the empty stack.
pub type StackId = u32;

/// The trie of all stacks of a trace.
#[derive(Clone, Debug)]
pub struct StackTable {
    parents: Vec<StackId>,
    ips: Vec<u64>,
    index: Index,
}

/// Where each node is, by its (parent, ip): open addressing, linear
/// probing, 8 bytes a slot — the node's id and 32 bits of its key's hash,
/// the key itself read from the table's vectors when the hash bits match.
/// (A hash map of the keys took 24 bytes a slot: 26 MB for cc1plus's
/// 608 k nodes, a fifth of its report's memory.)
#[derive(Clone, Debug, Default)]
struct Index {
    /// `hash << 32 | id`; 0 is empty (node 0, the empty stack, is not in
    /// the index).
    slots: Vec<u64>,
    len: usize,
}

/// Saved as its nodes; the index that interning uses is built again by
/// the first [`StackTable::intern`] after loading.
impl serde::Serialize for StackTable {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (&self.parents, &self.ips).serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for StackTable {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<StackTable, D::Error> {
        let (mut parents, mut ips): (Vec<StackId>, Vec<u64>) =
            serde::Deserialize::deserialize(deserializer)?;
        // Read by doubling: no more room than the nodes need, kept.
        parents.shrink_to_fit();
        ips.shrink_to_fit();
        let nodes = parents.len();
        // The empty stack is node 0, and every node's parent comes before it.
        if nodes == 0
            || ips.len() != nodes
            || parents
                .iter()
                .enumerate()
                .skip(1)
                .any(|(id, &parent)| parent as usize >= id)
        {
            return Err(serde::de::Error::custom("not a stack table"));
        }
        Ok(StackTable {
            parents,
            ips,
            index: Index::default(),
        })
    }
}

impl Index {
    fn hash(parent: StackId, ip: u64) -> u64 {
        (ip ^ u64::from(parent).rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    /// The node of (parent, ip), or the empty slot where it would go.
    #[inline]
    fn find(
        &self,
        parents: &[StackId],
        ips: &[u64],
        parent: StackId,
        ip: u64,
    ) -> Result<StackId, usize> {
        let hash = Index::hash(parent, ip);
        let mask = self.slots.len() - 1;
        // The home slot from the hash's top bits (a product's low bits
        // depend only on the key's low bits), its top 32 bits kept.
        let tag = hash >> 32;
        let mut i = (hash >> (64 - self.slots.len().trailing_zeros())) as usize;
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                return Err(i);
            }
            let id = slot as u32;
            if slot >> 32 == tag && parents[id as usize] == parent && ips[id as usize] == ip {
                return Ok(id);
            }
            i = (i + 1) & mask;
        }
    }

    /// Makes room for one more node than `parents` holds (3/4 full at
    /// most), indexing every node again if it grows (or was forgotten).
    fn reserve(&mut self, parents: &[StackId], ips: &[u64]) {
        // The nodes but the empty stack, and the one to come.
        let need = parents.len();
        if need * 4 <= self.slots.len() * 3 && self.len + 1 == need {
            return;
        }
        let capacity = (need * 4 / 3 + 1).next_power_of_two().max(1024);
        self.slots = vec![0; capacity];
        self.len = 0;
        for id in 1..parents.len() as StackId {
            self.put(parents, ips, id);
        }
    }

    fn put(&mut self, parents: &[StackId], ips: &[u64], id: StackId) {
        let (parent, ip) = (parents[id as usize], ips[id as usize]);
        if let Err(at) = self.find(parents, ips, parent, ip) {
            self.slots[at] = Index::hash(parent, ip) >> 32 << 32 | u64::from(id);
            self.len += 1;
        }
    }
}

impl Default for StackTable {
    fn default() -> StackTable {
        StackTable::new()
    }
}

impl StackTable {
    /// A table holding only the empty stack.
    pub fn new() -> StackTable {
        StackTable {
            parents: vec![0],
            ips: vec![0],
            index: Index::default(),
        }
    }

    /// Number of nodes, the empty stack included.
    pub fn len(&self) -> usize {
        self.parents.len()
    }

    /// Whether only the empty stack exists.
    pub fn is_empty(&self) -> bool {
        self.parents.len() == 1
    }

    /// Frees the index that interning uses, once every stack is read
    /// (cc1plus's 608 k nodes: 8 MB of index beside 7 MB of nodes); a
    /// later [`StackTable::intern`] builds it again.
    pub fn forget_index(&mut self) {
        self.index = Index::default();
    }

    /// The node for `ip` called from the stack `parent`, created if new.
    pub fn intern(&mut self, parent: StackId, ip: u64) -> StackId {
        self.index.reserve(&self.parents, &self.ips);
        match self.index.find(&self.parents, &self.ips, parent, ip) {
            Ok(id) => id,
            Err(at) => {
                let id = self.parents.len() as StackId;
                self.parents.push(parent);
                self.ips.push(ip);
                self.index.slots[at] = Index::hash(parent, ip) >> 32 << 32 | u64::from(id);
                self.index.len += 1;
                id
            }
        }
    }

    /// Interns a whole stack given innermost frame first.
    pub fn intern_frames(&mut self, innermost_first: &[u64]) -> StackId {
        innermost_first
            .iter()
            .rev()
            .fold(0, |parent, &ip| self.intern(parent, ip))
    }

    /// The parent of `id` (the empty stack is its own parent).
    pub fn parent(&self, id: StackId) -> StackId {
        self.parents.get(id as usize).copied().unwrap_or(0)
    }

    /// The instruction pointer of node `id` (0 for the empty stack).
    pub fn ip(&self, id: StackId) -> u64 {
        self.ips.get(id as usize).copied().unwrap_or(0)
    }

    /// The frames of stack `id`, innermost first.
    pub fn frames(&self, id: StackId) -> Frames<'_> {
        Frames {
            table: self,
            next: id,
        }
    }

    /// Whether `id` names a node of this table.
    pub fn contains(&self, id: StackId) -> bool {
        (id as usize) < self.parents.len()
    }
}

/// Iterator over a stack's instruction pointers, innermost first.
#[derive(Clone, Debug)]
pub struct Frames<'a> {
    table: &'a StackTable,
    next: StackId,
}

impl Iterator for Frames<'_> {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        if self.next == 0 || !self.table.contains(self.next) {
            return None;
        }
        let ip = self.table.ips[self.next as usize];
        self.next = self.table.parents[self.next as usize];
        Some(ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_prefixes_share_nodes_and_frames_come_back_innermost_first() {
        let mut table = StackTable::new();
        let a = table.intern_frames(&[0x30, 0x20, 0x10]);
        let b = table.intern_frames(&[0x31, 0x20, 0x10]);
        assert_ne!(a, b);
        assert_eq!(table.parent(a), table.parent(b));
        assert_eq!(table.frames(a).collect::<Vec<_>>(), vec![0x30, 0x20, 0x10]);
        assert_eq!(table.intern_frames(&[0x30, 0x20, 0x10]), a);
        assert_eq!(table.len(), 5);
        assert_eq!(table.frames(0).count(), 0);
        // Without its index, the table finds the same nodes again.
        table.forget_index();
        assert_eq!(table.frames(b).collect::<Vec<_>>(), vec![0x31, 0x20, 0x10]);
        assert_eq!(table.intern_frames(&[0x31, 0x20, 0x10]), b);
        assert_eq!(table.len(), 5);
        let c = table.intern_frames(&[0x32, 0x20, 0x10]);
        assert_eq!((c, table.len()), (5, 6));
    }

    #[test]
    fn many_nodes_through_the_index_growing_are_each_found_once() {
        // A tree of 3 levels of 70 children each (~350 k nodes): every
        // stack interned twice gets one id, and ids come in order.
        let mut table = StackTable::new();
        let mut ids = Vec::new();
        for a in 0..70u64 {
            for b in 0..70u64 {
                for c in 0..70u64 {
                    // Instruction pointers repeat across parents.
                    ids.push(table.intern_frames(&[0x1000 + c, 0x1000 + b, 0x1000 + a]));
                }
            }
        }
        assert_eq!(table.len(), 1 + 70 + 70 * 70 + 70 * 70 * 70);
        let mut n = 0;
        for a in 0..70u64 {
            for b in 0..70u64 {
                for c in 0..70u64 {
                    let id = table.intern_frames(&[0x1000 + c, 0x1000 + b, 0x1000 + a]);
                    assert_eq!(id, ids[n]);
                    assert_eq!(
                        table.frames(id).collect::<Vec<_>>(),
                        vec![0x1000 + c, 0x1000 + b, 0x1000 + a]
                    );
                    n += 1;
                }
            }
        }
        assert_eq!(
            table.len(),
            1 + 70 + 70 * 70 + 70 * 70 * 70,
            "no node added twice"
        );
    }
}
