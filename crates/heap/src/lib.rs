//! What every heap-dump reader of heapwise shares.
//!
//! V8 snapshots (`heapwise-v8`) and JVM HPROF dumps (`heapwise-hprof`) are
//! different files with one question behind them: what holds the memory?
//! Both readers turn their file into an object graph and hand it to the
//! same machinery here:
//!
//! - [`dominators`]: immediate dominators by Lengauer–Tarjan, iterative, for
//!   any graph behind the small [`DominatorGraph`] trait;
//! - [`DominatorTree`]: retained sizes, the dominated children of every node,
//!   and retained bytes per class without counting nested objects twice;
//! - [`report`]: the summary, diff and leak report every runtime's dumps
//!   produce, so `heapwise heap` prints and serialises one model.
//!
//! # Example
//!
//! ```
//! use heapwise_heap::{DominatorGraph, DominatorTree};
//!
//! /// root 0 holds 1 and 2; both hold 3.
//! struct Diamond;
//! impl DominatorGraph for Diamond {
//!     fn node_count(&self) -> u32 { 4 }
//!     fn root(&self) -> u32 { 0 }
//!     fn for_each_successor(&self, n: u32, f: &mut dyn FnMut(u32)) {
//!         match n { 0 => { f(1); f(2) } 1 | 2 => f(3), _ => {} }
//!     }
//!     fn for_each_predecessor(&self, n: u32, f: &mut dyn FnMut(u32)) {
//!         match n { 1 | 2 => f(0), 3 => { f(1); f(2) } _ => {} }
//!     }
//!     fn has_only_weak_retainers(&self, _: u32) -> bool { false }
//! }
//! let tree = DominatorTree::build(&Diamond, |n| [0, 10, 20, 40][n as usize]);
//! assert_eq!(tree.dominator(3), 0);
//! assert_eq!((tree.retained_size(1), tree.total()), (10, 70));
//! ```
#![deny(missing_docs)]

pub mod dominators;
pub mod report;
mod tree;

pub use dominators::{DominatorGraph, Dominators};
pub use report::{
    Cause, ConstructorDiff, ConstructorSummary, DIFF_SCHEMA, DumpFormat, HeapDiff, HeapSummary,
    HeldConstructor, LEAKS_SCHEMA, LeakCluster, LeakReport, LeakRoot, LeakedConstructor, PathStep,
    SUMMARY_SCHEMA,
};
pub use tree::{Dominated, DominatorTree};
