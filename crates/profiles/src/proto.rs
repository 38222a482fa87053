//! The messages of pprof's `profile.proto` (github.com/google/pprof,
//! `proto/profile.proto`; field numbers as there), declared by hand with
//! prost. One definition for both directions: heapwise-render's pprof
//! writer builds them, [`crate::pprof`] reads them. Fields heapwise uses
//! neither way are left out (prost skips them when reading).

/// `perftools.profiles.Profile`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Profile {
    /// Kinds of values in each sample.
    #[prost(message, repeated, tag = "1")]
    pub sample_type: Vec<ValueType>,
    /// The samples.
    #[prost(message, repeated, tag = "2")]
    pub sample: Vec<Sample>,
    /// Mapped binaries.
    #[prost(message, repeated, tag = "3")]
    pub mapping: Vec<Mapping>,
    /// Locations (addresses with their lines).
    #[prost(message, repeated, tag = "4")]
    pub location: Vec<Location>,
    /// Functions.
    #[prost(message, repeated, tag = "5")]
    pub function: Vec<Function>,
    /// Every string; `string_table[0]` is `""`.
    #[prost(string, repeated, tag = "6")]
    pub string_table: Vec<String>,
    /// Start time, ns since the Unix epoch.
    #[prost(int64, tag = "9")]
    pub time_nanos: i64,
    /// Length of the profile.
    #[prost(int64, tag = "10")]
    pub duration_nanos: i64,
    /// The kind of events between samples (Go's heap profile: `space`,
    /// `bytes`).
    #[prost(message, optional, tag = "11")]
    pub period_type: Option<ValueType>,
    /// The number of events between samples (Go's heap profile:
    /// `runtime.MemProfileRate`, one sample per this many bytes allocated
    /// on average).
    #[prost(int64, tag = "12")]
    pub period: i64,
    /// Index (into `sample_type`'s string) of the type shown by default.
    #[prost(int64, tag = "14")]
    pub default_sample_type: i64,
}

/// `ValueType`: string-table indexes of a type and its unit.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ValueType {
    /// e.g. `inuse_space`.
    #[prost(int64, tag = "1")]
    pub r#type: i64,
    /// e.g. `bytes`.
    #[prost(int64, tag = "2")]
    pub unit: i64,
}

/// `Sample`: one stack and its values.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// Location ids, innermost first.
    #[prost(uint64, repeated, tag = "1")]
    pub location_id: Vec<u64>,
    /// One value per sample type.
    #[prost(int64, repeated, tag = "2")]
    pub value: Vec<i64>,
}

/// `Mapping`: a binary mapped in the process.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Mapping {
    /// 1-based id.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// File name (string index).
    #[prost(int64, tag = "5")]
    pub filename: i64,
    /// Whether function names are known.
    #[prost(bool, tag = "7")]
    pub has_functions: bool,
    /// Whether file names are known.
    #[prost(bool, tag = "8")]
    pub has_filenames: bool,
    /// Whether line numbers are known.
    #[prost(bool, tag = "9")]
    pub has_line_numbers: bool,
    /// Whether inlined functions are known.
    #[prost(bool, tag = "10")]
    pub has_inline_frames: bool,
}

/// `Location`: an address and the source lines it maps to.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Location {
    /// 1-based id.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// The mapping holding it.
    #[prost(uint64, tag = "2")]
    pub mapping_id: u64,
    /// Instruction address.
    #[prost(uint64, tag = "3")]
    pub address: u64,
    /// Inlined functions first, the caller last.
    #[prost(message, repeated, tag = "4")]
    pub line: Vec<Line>,
}

/// `Line`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Line {
    /// The function.
    #[prost(uint64, tag = "1")]
    pub function_id: u64,
    /// Line number (0: unknown).
    #[prost(int64, tag = "2")]
    pub line: i64,
}

/// `Function`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Function {
    /// 1-based id.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// Name (string index).
    #[prost(int64, tag = "2")]
    pub name: i64,
    /// Name as in the binary (string index).
    #[prost(int64, tag = "3")]
    pub system_name: i64,
    /// Source file (string index).
    #[prost(int64, tag = "4")]
    pub filename: i64,
}
