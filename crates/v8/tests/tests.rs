//! heapwise-v8's integration tests, in one binary.
mod it;
