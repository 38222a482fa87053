//! The dominator tree of a heap and what it gives: retained sizes, the
//! objects each object dominates, and retained bytes per class without
//! counting an object nested in another of its class twice.

use crate::dominators::{self, DominatorGraph};

/// Immediate dominators and retained sizes of every node of a heap graph.
///
/// Invariant: `retained[n]` is `n`'s own size plus the retained sizes of the
/// nodes it immediately dominates, so the root's is the sum of all sizes.
#[derive(Debug, Clone)]
pub struct DominatorTree {
    idom: Vec<u32>,
    retained: Vec<u64>,
    root: u32,
}

/// The children of every node in the dominator tree, in CSR form.
#[derive(Debug, Clone)]
pub struct Dominated {
    /// `first[n]..first[n + 1]` indexes `children` for node `n`.
    pub first: Vec<u32>,
    /// The dominated nodes, grouped by dominator.
    pub children: Vec<u32>,
}

impl Dominated {
    /// The nodes `node` immediately dominates.
    pub fn of(&self, node: u32) -> &[u32] {
        &self.children[self.first[node as usize] as usize..self.first[node as usize + 1] as usize]
    }
}

impl DominatorTree {
    /// Computes dominators (Lengauer–Tarjan) and retained sizes; `self_size`
    /// gives each node's own size.
    pub fn build(graph: &dyn DominatorGraph, self_size: impl Fn(u32) -> u64) -> DominatorTree {
        let dominators = dominators::compute(graph);
        let n = graph.node_count() as usize;
        let mut retained: Vec<u64> = (0..n as u32).map(&self_size).collect();
        for &node in dominators.preorder.iter().skip(1).rev() {
            let dominator = dominators.idom[node as usize];
            retained[dominator as usize] += retained[node as usize];
        }
        DominatorTree {
            idom: dominators.idom,
            retained,
            root: graph.root(),
        }
    }

    /// A tree of no nodes, for a graph whose dominators are not computed yet.
    pub fn empty() -> DominatorTree {
        DominatorTree {
            idom: Vec::new(),
            retained: Vec::new(),
            root: 0,
        }
    }

    /// The root.
    pub fn root(&self) -> u32 {
        self.root
    }

    /// Immediate dominator of `node` (the root's is the root).
    pub fn dominator(&self, node: u32) -> u32 {
        self.idom[node as usize]
    }

    /// Retained size of `node`: its own size plus everything it dominates.
    pub fn retained_size(&self, node: u32) -> u64 {
        self.retained[node as usize]
    }

    /// The root's retained size: the sum of every node's own size.
    pub fn total(&self) -> u64 {
        self.retained[self.root as usize]
    }

    /// Children of every node in the dominator tree.
    pub fn dominated(&self) -> Dominated {
        let n = self.idom.len();
        let root = self.root as usize;
        let mut first = vec![0u32; n + 1];
        for (node, &d) in self.idom.iter().enumerate() {
            if node != root {
                first[d as usize + 1] += 1;
            }
        }
        for i in 0..n {
            first[i + 1] += first[i];
        }
        let mut fill = first.clone();
        let mut children = vec![0u32; n.saturating_sub(1)];
        for (node, &d) in self.idom.iter().enumerate() {
            if node != root {
                children[fill[d as usize] as usize] = node as u32;
                fill[d as usize] += 1;
            }
        }
        Dominated { first, children }
    }

    /// Retained bytes per class, counting each included node only when no
    /// dominator of it (up to the root) is an included node of the same class,
    /// so nested objects of one class are not counted twice.
    ///
    /// `classes[n]` is node `n`'s class, below `class_count`.
    pub fn class_retained(
        &self,
        dominated: &Dominated,
        classes: &dyn Fn(u32) -> u32,
        class_count: usize,
        include: &dyn Fn(u32) -> bool,
    ) -> Vec<u64> {
        let first = &dominated.first;
        let children = &dominated.children;
        let mut totals = vec![0u64; class_count];
        let mut active = vec![0u32; class_count];
        let root = self.root;
        let enter = |node: u32, active: &mut Vec<u32>, totals: &mut Vec<u64>| {
            if include(node) {
                let class = classes(node) as usize;
                if active[class] == 0 {
                    totals[class] += self.retained_size(node);
                }
                active[class] += 1;
            }
        };
        // Stack of (node, next child offset); a class is active while one of its nodes is on it.
        let mut stack: Vec<(u32, u32)> = vec![(root, first[root as usize])];
        enter(root, &mut active, &mut totals);
        while let Some(top) = stack.last_mut() {
            let (node, next) = *top;
            if next < first[node as usize + 1] {
                top.1 += 1;
                let child = children[next as usize];
                enter(child, &mut active, &mut totals);
                stack.push((child, first[child as usize]));
            } else {
                stack.pop();
                if include(node) {
                    active[classes(node) as usize] -= 1;
                }
            }
        }
        totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 0 → 1 → 2, 0 → 3, 1 → 3: node 3 is reached two ways, so the root dominates it.
    struct Small;

    impl DominatorGraph for Small {
        fn node_count(&self) -> u32 {
            4
        }
        fn root(&self) -> u32 {
            0
        }
        fn for_each_successor(&self, node: u32, f: &mut dyn FnMut(u32)) {
            match node {
                0 => {
                    f(1);
                    f(3)
                }
                1 => {
                    f(2);
                    f(3)
                }
                _ => {}
            }
        }
        fn for_each_predecessor(&self, node: u32, f: &mut dyn FnMut(u32)) {
            match node {
                1 => f(0),
                2 => f(1),
                3 => {
                    f(0);
                    f(1)
                }
                _ => {}
            }
        }
        fn has_only_weak_retainers(&self, _node: u32) -> bool {
            false
        }
    }

    #[test]
    fn retained_sizes_sum_what_each_node_dominates() {
        let sizes = [0u64, 10, 20, 40];
        let tree = DominatorTree::build(&Small, |n| sizes[n as usize]);
        assert_eq!(tree.dominator(2), 1);
        assert_eq!(tree.dominator(3), 0);
        assert_eq!(tree.retained_size(1), 30);
        assert_eq!(tree.total(), 70);
        assert_eq!(tree.dominated().of(0), &[1, 3]);
    }

    #[test]
    fn a_class_nested_in_itself_is_counted_once() {
        let sizes = [0u64, 10, 20, 40];
        let tree = DominatorTree::build(&Small, |n| sizes[n as usize]);
        // Nodes 1 and 2 are one class (1 dominates 2), node 3 another.
        let class = |n: u32| if n == 3 { 1 } else { 0 };
        let totals = tree.class_retained(&tree.dominated(), &class, 2, &|n| n != 0);
        assert_eq!(totals, vec![30, 40]);
    }
}
