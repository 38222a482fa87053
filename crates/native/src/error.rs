//! Errors of the native analysis.

/// Why a trace could not be analysed.
#[derive(Debug, thiserror::Error)]
pub enum NativeError {
    /// The trace could not be opened or its header read.
    #[error(transparent)]
    Trace(#[from] heapwise_trace::TraceError),
}
