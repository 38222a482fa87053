//! Three-dump leak finding (placeholder until the next step).

/// Knobs of the leak search.
#[derive(Debug, Clone, Default)]
pub struct LeakOptions {}

/// Finds leaks.
pub fn find_leaks() {}
