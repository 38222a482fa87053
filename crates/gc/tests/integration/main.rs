//! Integration tests of `heapwise-gc`: real logs generated on this machine
//! (Node.js and JDK 17), synthetic Go and JDK 8 logs written from the
//! documented formats, and logs as they are found in the wild.

mod analysis;
mod corpus;
mod counters;
mod fixtures;
mod jvm;
mod node;
mod robustness;
mod util;
