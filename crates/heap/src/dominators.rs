//! Immediate dominators by Lengauer–Tarjan (the simple version, with path
//! compression), iterative throughout so deep object chains cannot overflow
//! the stack.
//!
//! The graph is given as two closures: the essential successors of a node
//! (for the depth-first numbering) and its essential predecessors. Nodes that
//! the depth-first search from the root cannot reach are attached to the root
//! by a virtual edge, as DevTools does, so every node gets a dominator.

const NONE: u32 = u32::MAX;

/// The result: for each node, its immediate dominator (the root's is itself),
/// and the nodes in depth-first preorder (dominators come before the nodes
/// they dominate).
pub struct Dominators {
    /// For each node, its immediate dominator (the root's is itself).
    pub idom: Vec<u32>,
    /// The nodes in depth-first preorder, the root first.
    pub preorder: Vec<u32>,
}

/// Graph access the algorithm needs.
pub trait DominatorGraph {
    /// Number of nodes; nodes are `0..node_count`.
    fn node_count(&self) -> u32;
    /// The root every path starts from.
    fn root(&self) -> u32;
    /// Calls `f` for each essential successor of `node`.
    fn for_each_successor(&self, node: u32, f: &mut dyn FnMut(u32));
    /// Calls `f` for each essential predecessor of `node`.
    fn for_each_predecessor(&self, node: u32, f: &mut dyn FnMut(u32));
    /// Whether `node` has retainers, all of them weak (it is then attached
    /// to the root before other unreachable nodes, as DevTools does).
    fn has_only_weak_retainers(&self, node: u32) -> bool;
}

/// Immediate dominators of every node of `graph`.
pub fn compute(graph: &dyn DominatorGraph) -> Dominators {
    let n = graph.node_count() as usize;
    let root = graph.root();
    let mut dfnum = vec![NONE; n];
    let mut vertex: Vec<u32> = Vec::with_capacity(n);
    let mut parent: Vec<u32> = Vec::with_capacity(n);
    // Nodes attached to the root by a virtual edge.
    let mut virtual_child = vec![false; n];

    let mut stack: Vec<(u32, Vec<u32>)> = Vec::new();
    let mut children_pool: Vec<Vec<u32>> = Vec::new();
    let mut visit = |start: u32,
                     start_parent: u32,
                     dfnum: &mut Vec<u32>,
                     vertex: &mut Vec<u32>,
                     parent: &mut Vec<u32>| {
        // Iterative DFS; each frame holds the successors still to visit.
        dfnum[start as usize] = vertex.len() as u32;
        vertex.push(start);
        parent.push(start_parent);
        let mut successors = children_pool.pop().unwrap_or_default();
        successors.clear();
        graph.for_each_successor(start, &mut |s| successors.push(s));
        successors.reverse();
        stack.push((start, successors));
        while let Some((node, succ)) = stack.last_mut() {
            let node = *node;
            match succ.pop() {
                Some(child) => {
                    if dfnum[child as usize] != NONE {
                        continue;
                    }
                    dfnum[child as usize] = vertex.len() as u32;
                    vertex.push(child);
                    parent.push(dfnum[node as usize]);
                    let mut next = children_pool.pop().unwrap_or_default();
                    next.clear();
                    graph.for_each_successor(child, &mut |s| next.push(s));
                    next.reverse();
                    stack.push((child, next));
                }
                None => {
                    if let Some((_, done)) = stack.pop() {
                        children_pool.push(done);
                    }
                }
            }
        }
    };

    visit(root, 0, &mut dfnum, &mut vertex, &mut parent);
    if vertex.len() < n {
        // DevTools first walks from nodes that only weak edges retain, then
        // attaches whatever is left directly to the root.
        for pass in 0..2 {
            for node in 0..n as u32 {
                if dfnum[node as usize] != NONE {
                    continue;
                }
                if pass == 0 && !graph.has_only_weak_retainers(node) {
                    continue;
                }
                virtual_child[node as usize] = true;
                visit(node, 0, &mut dfnum, &mut vertex, &mut parent);
            }
        }
    }

    let count = vertex.len();
    let mut semi: Vec<u32> = (0..count as u32).collect();
    let mut label: Vec<u32> = (0..count as u32).collect();
    let mut ancestor = vec![NONE; count];
    let mut idom = vec![0u32; count];
    let mut bucket_head = vec![NONE; count];
    let mut bucket_next = vec![NONE; count];
    let mut chain: Vec<u32> = Vec::new();

    let mut preds: Vec<u32> = Vec::new();
    for w in (1..count).rev() {
        let node = vertex[w];
        preds.clear();
        graph.for_each_predecessor(node, &mut |p| preds.push(dfnum[p as usize]));
        if virtual_child[node as usize] {
            preds.push(0);
        }
        let mut best = semi[w];
        for &pd in &preds {
            if pd == NONE {
                continue;
            }
            let u = eval(pd, &mut ancestor, &mut label, &semi, &mut chain);
            if semi[u as usize] < best {
                best = semi[u as usize];
            }
        }
        semi[w] = best;
        let s = best as usize;
        bucket_next[w] = bucket_head[s];
        bucket_head[s] = w as u32;
        let p = parent[w];
        ancestor[w] = p;
        let mut v = bucket_head[p as usize];
        bucket_head[p as usize] = NONE;
        while v != NONE {
            let u = eval(v, &mut ancestor, &mut label, &semi, &mut chain);
            idom[v as usize] = if semi[u as usize] < semi[v as usize] {
                u
            } else {
                p
            };
            v = bucket_next[v as usize];
        }
    }
    for w in 1..count {
        if idom[w] != semi[w] {
            idom[w] = idom[idom[w] as usize];
        }
    }

    let mut idom_by_node = vec![root; n];
    for w in 1..count {
        idom_by_node[vertex[w] as usize] = vertex[idom[w] as usize];
    }
    idom_by_node[root as usize] = root;
    Dominators {
        idom: idom_by_node,
        preorder: vertex,
    }
}

/// Lengauer–Tarjan's EVAL with iterative path compression.
fn eval(
    v: u32,
    ancestor: &mut [u32],
    label: &mut [u32],
    semi: &[u32],
    chain: &mut Vec<u32>,
) -> u32 {
    if ancestor[v as usize] == NONE {
        return v;
    }
    chain.clear();
    let mut x = v;
    while ancestor[ancestor[x as usize] as usize] != NONE {
        chain.push(x);
        x = ancestor[x as usize];
    }
    while let Some(x) = chain.pop() {
        let a = ancestor[x as usize] as usize;
        if semi[label[a] as usize] < semi[label[x as usize] as usize] {
            label[x as usize] = label[a];
        }
        ancestor[x as usize] = ancestor[a];
    }
    label[v as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Adjacency {
        root: u32,
        edges: Vec<(u32, u32)>,
        n: u32,
    }

    impl DominatorGraph for Adjacency {
        fn node_count(&self) -> u32 {
            self.n
        }
        fn root(&self) -> u32 {
            self.root
        }
        fn for_each_successor(&self, node: u32, f: &mut dyn FnMut(u32)) {
            self.edges
                .iter()
                .filter(|e| e.0 == node)
                .for_each(|e| f(e.1));
        }
        fn for_each_predecessor(&self, node: u32, f: &mut dyn FnMut(u32)) {
            self.edges
                .iter()
                .filter(|e| e.1 == node)
                .for_each(|e| f(e.0));
        }
        fn has_only_weak_retainers(&self, _node: u32) -> bool {
            false
        }
    }

    #[test]
    fn matches_the_textbook_example() {
        // Appel's Figure 19.8 style graph: 0 root.
        //   0→1, 1→2, 1→3, 2→4, 3→4, 4→5, 5→1
        let g = Adjacency {
            root: 0,
            n: 6,
            edges: vec![(0, 1), (1, 2), (1, 3), (2, 4), (3, 4), (4, 5), (5, 1)],
        };
        let d = compute(&g);
        assert_eq!(d.idom, vec![0, 0, 1, 1, 1, 4]);
    }

    #[test]
    fn unreachable_nodes_hang_off_the_root() {
        let g = Adjacency {
            root: 0,
            n: 4,
            edges: vec![(0, 1), (2, 3)],
        };
        let d = compute(&g);
        assert_eq!(d.idom, vec![0, 0, 0, 2]);
        assert_eq!(d.preorder.len(), 4);
    }
}
