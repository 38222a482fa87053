//! Immediate dominators: semi-dominators as Lengauer–Tarjan computes them
//! (the simple version, with path compression), then the dominators as
//! nearest common ancestors (semi-NCA, as LLVM does: no buckets, six arrays
//! of `u32` per node instead of nine); iterative throughout so deep object
//! chains cannot overflow the stack.
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
    /// Whether a node the root reaches ignores predecessors the root does
    /// not reach (they were attached to the root by a virtual edge). True
    /// for the JVM: an object only a weak or soft reference reaches is
    /// garbage, and it keeps nothing alive — without this rule its
    /// references would make the root dominate what they point at. False
    /// (the default) keeps DevTools' rule for V8.
    fn ignores_unreachable_retainers(&self) -> bool {
        false
    }
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
    // Nodes numbered below this are the ones the root reaches.
    let reached = if graph.ignores_unreachable_retainers() {
        vertex.len() as u32
    } else {
        u32::MAX
    };
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

    // Semi-dominators (Lengauer–Tarjan's first step), in reverse preorder.
    let count = vertex.len();
    let mut semi: Vec<u32> = (0..count as u32).collect();
    let mut label: Vec<u32> = (0..count as u32).collect();
    let mut ancestor = vec![NONE; count];
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
            if pd == NONE || (pd >= reached && (w as u32) < reached) {
                continue;
            }
            let u = eval(pd, &mut ancestor, &mut label, &semi, &mut chain);
            best = best.min(semi[u as usize]);
        }
        semi[w] = best;
        ancestor[w] = parent[w];
    }
    drop((label, dfnum, virtual_child, preds, chain));
    // Immediate dominators as nearest common ancestors (semi-NCA, Georgiadis):
    // in preorder, climb from the parent while above the semi-dominator. The
    // `ancestor` array is reused: entries before `w` already hold idoms.
    let mut idom = ancestor;
    if count > 0 {
        idom[0] = 0;
    }
    for w in 1..count {
        let mut d = parent[w];
        while d > semi[w] {
            d = idom[d as usize];
        }
        idom[w] = d;
    }
    drop((semi, parent));

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

    /// The same graph, with the JVM's rule for retainers the root cannot reach.
    struct LiveOnly(Adjacency);

    impl DominatorGraph for LiveOnly {
        fn node_count(&self) -> u32 {
            self.0.n
        }
        fn root(&self) -> u32 {
            self.0.root
        }
        fn for_each_successor(&self, node: u32, f: &mut dyn FnMut(u32)) {
            self.0.for_each_successor(node, f)
        }
        fn for_each_predecessor(&self, node: u32, f: &mut dyn FnMut(u32)) {
            self.0.for_each_predecessor(node, f)
        }
        fn has_only_weak_retainers(&self, _node: u32) -> bool {
            false
        }
        fn ignores_unreachable_retainers(&self) -> bool {
            true
        }
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

    /// 0 → 1 → 2 → 3, and 4 (reached by nothing: garbage a soft reference
    /// held) → 3. By DevTools' rule 4 hangs off the root and so the root
    /// dominates 3; by the JVM's rule 4 keeps nothing alive and 2 does.
    #[test]
    fn retainers_the_root_cannot_reach_count_only_when_asked() {
        let graph = || Adjacency {
            root: 0,
            n: 5,
            edges: vec![(0, 1), (1, 2), (2, 3), (4, 3)],
        };
        assert_eq!(compute(&graph()).idom, vec![0, 0, 1, 0, 0]);
        let d = compute(&LiveOnly(graph()));
        assert_eq!(d.idom, vec![0, 0, 1, 2, 0]);
        assert_eq!(d.preorder.len(), 5);
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

    /// Dominators by the definition: d dominates v when removing d makes v
    /// unreachable from the root.
    fn by_definition(g: &Adjacency) -> Vec<u32> {
        let n = g.n as usize;
        let reach = |removed: Option<u32>| -> Vec<bool> {
            let mut seen = vec![false; n];
            let mut stack = vec![g.root];
            if removed == Some(g.root) {
                return seen;
            }
            seen[g.root as usize] = true;
            while let Some(x) = stack.pop() {
                for &(a, b) in &g.edges {
                    if a == x && Some(b) != removed && !seen[b as usize] {
                        seen[b as usize] = true;
                        stack.push(b);
                    }
                }
            }
            seen
        };
        let all = reach(None);
        let dominated_by: Vec<Vec<bool>> = (0..n as u32).map(|d| reach(Some(d))).collect();
        (0..n as u32)
            .map(|v| {
                if v == g.root || !all[v as usize] {
                    return g.root;
                }
                // The immediate dominator is the strict dominator that all others dominate.
                let strict: Vec<u32> = (0..n as u32)
                    .filter(|&d| d != v && !dominated_by[d as usize][v as usize])
                    .collect();
                *strict
                    .iter()
                    .find(|&&d| {
                        strict
                            .iter()
                            .all(|&o| o == d || !dominated_by[o as usize][d as usize])
                    })
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn matches_the_definition_on_random_graphs() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |bound: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % bound) as u32
        };
        for round in 0..300 {
            let n = 2 + next(40);
            let m = next(u64::from(n) * 3);
            let mut edges: Vec<(u32, u32)> = (0..m)
                .map(|_| (next(u64::from(n)), next(u64::from(n))))
                .collect();
            // Every node reachable (unreachable ones hang off the root by design).
            for v in 1..n {
                edges.push((next(u64::from(v)), v));
            }
            let g = Adjacency { root: 0, n, edges };
            let reachable_only: Vec<u32> = compute(&g).idom;
            let expected = by_definition(&g);
            // Unreachable nodes hang off the root (and their own subgraphs) here; compare the reachable ones.
            let all = {
                let mut seen = vec![false; n as usize];
                let mut stack = vec![0u32];
                seen[0] = true;
                while let Some(x) = stack.pop() {
                    for &(a, b) in &g.edges {
                        if a == x && !seen[b as usize] {
                            seen[b as usize] = true;
                            stack.push(b);
                        }
                    }
                }
                seen
            };
            for v in 0..n as usize {
                if all[v] {
                    assert_eq!(
                        reachable_only[v], expected[v],
                        "round {round}, node {v}, edges {:?}",
                        g.edges
                    );
                }
            }
        }
    }
    /// Garbage pointing into the live graph changes no live node's
    /// dominator when retainers the root cannot reach are ignored.
    #[test]
    fn garbage_pointing_into_the_live_graph_changes_no_dominator() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |bound: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % bound) as u32
        };
        for round in 0..300 {
            let live = 2 + next(30);
            let mut edges: Vec<(u32, u32)> = (1..live).map(|v| (next(u64::from(v)), v)).collect();
            for _ in 0..next(u64::from(live) * 2) {
                edges.push((next(u64::from(live)), next(u64::from(live))));
            }
            let expected = by_definition(&Adjacency {
                root: 0,
                n: live,
                edges: edges.clone(),
            });
            // Garbage: nodes `live..n`, among themselves and into the live graph.
            let n = live + 1 + next(10);
            for _ in 0..next(30) + 1 {
                edges.push((live + next(u64::from(n - live)), next(u64::from(n))));
            }
            let idom = compute(&LiveOnly(Adjacency { root: 0, n, edges })).idom;
            assert_eq!(idom[..live as usize], expected[..], "round {round}");
        }
    }
}
