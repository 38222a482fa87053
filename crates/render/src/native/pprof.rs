//! pprof output: a gzipped `profile.proto` (github.com/google/pprof,
//! `proto/profile.proto`) with the four sample types of Go heap profiles
//! — `alloc_objects`, `alloc_space`, `inuse_objects`, `inuse_space` — as
//! read by `go tool pprof`, Pyroscope and Parca. "In use" is what was still
//! allocated when the trace ended.

use heapwise_words as words;
use std::collections::HashMap;
use std::io::{self, Write};

use flate2::Compression;
use flate2::write::GzEncoder;
use prost::Message;

use heapwise_native::Profile;
use heapwise_native::model::Frame;

pub use heapwise_profiles::proto;

struct Builder {
    profile: proto::Profile,
    strings: HashMap<String, i64>,
    functions: HashMap<(String, String), u64>,
    locations: HashMap<String, u64>,
    mappings: HashMap<String, u64>,
}

impl Builder {
    fn string(&mut self, s: &str) -> i64 {
        if let Some(&index) = self.strings.get(s) {
            return index;
        }
        let index = self.profile.string_table.len() as i64;
        self.profile.string_table.push(s.to_string());
        self.strings.insert(s.to_string(), index);
        index
    }

    fn mapping(&mut self, module: &str) -> u64 {
        if let Some(&id) = self.mappings.get(module) {
            return id;
        }
        let id = self.profile.mapping.len() as u64 + 1;
        let filename = self.string(module);
        self.profile.mapping.push(proto::Mapping {
            id,
            filename,
            has_functions: true,
            has_filenames: true,
            has_line_numbers: true,
            has_inline_frames: true,
        });
        self.mappings.insert(module.to_string(), id);
        id
    }

    fn function(&mut self, frame: &Frame) -> u64 {
        let name = frame.text().name();
        let file = frame.file.as_deref().unwrap_or_default().to_string();
        if let Some(&id) = self.functions.get(&(name.clone(), file.clone())) {
            return id;
        }
        let id = self.profile.function.len() as u64 + 1;
        let name_index = self.string(&name);
        let file_index = self.string(&file);
        self.profile.function.push(proto::Function {
            id,
            name: name_index,
            system_name: name_index,
            filename: file_index,
        });
        self.functions.insert((name, file), id);
        id
    }

    /// One location per address; `frames` are that address's frames,
    /// inlined ones first.
    fn location(&mut self, frames: &[&Frame]) -> u64 {
        let Some(last) = frames.last() else { return 0 };
        let key = format!("{}@{}", last.address, last.module.as_deref().unwrap_or(""));
        if let Some(&id) = self.locations.get(&key) {
            return id;
        }
        let id = self.profile.location.len() as u64 + 1;
        let mapping_id = self.mapping(
            last.module
                .as_deref()
                .map(words::file_name)
                .unwrap_or("[unknown]"),
        );
        let address = u64::from_str_radix(last.address.trim_start_matches("0x"), 16).unwrap_or(0);
        let line = frames
            .iter()
            .map(|f| proto::Line {
                function_id: self.function(f),
                line: i64::from(f.line.unwrap_or(0)),
            })
            .collect();
        self.profile.location.push(proto::Location {
            id,
            mapping_id,
            address,
            line,
        });
        self.locations.insert(key, id);
        id
    }
}

/// Builds the profile message.
pub fn build(profile: &Profile) -> proto::Profile {
    let mut b = Builder {
        profile: proto::Profile::default(),
        strings: HashMap::new(),
        functions: HashMap::new(),
        locations: HashMap::new(),
        mappings: HashMap::new(),
    };
    b.string("");
    let types = [
        ("alloc_objects", "count"),
        ("alloc_space", "bytes"),
        ("inuse_objects", "count"),
        ("inuse_space", "bytes"),
    ];
    for (kind, unit) in types {
        let value_type = proto::ValueType {
            r#type: b.string(kind),
            unit: b.string(unit),
        };
        b.profile.sample_type.push(value_type);
    }
    b.profile.default_sample_type = b.string("inuse_space");
    if profile.sample_interval > 0 {
        // As Go's heap profiles: sampled every `period` bytes on average,
        // the values already scaled to estimates.
        b.profile.period_type = Some(proto::ValueType {
            r#type: b.string("space"),
            unit: b.string("bytes"),
        });
        b.profile.period = i64::try_from(profile.sample_interval).unwrap_or(i64::MAX);
    }
    // pprof takes the first mapping for the main binary (its "File:").
    if !profile.executable.is_empty() {
        b.mapping(words::file_name(&profile.executable));
    }
    for stack in &profile.stacks {
        let mut location_id = Vec::new();
        let mut group: Vec<&Frame> = Vec::new();
        for frame in &stack.frames {
            group.push(frame);
            // An address's frames end with its non-inlined function.
            if !frame.inlined {
                location_id.push(b.location(&group));
                group.clear();
            }
        }
        if !group.is_empty() {
            location_id.push(b.location(&group));
        }
        let value = [
            stack.allocations,
            stack.allocated_bytes,
            stack.live_allocations,
            stack.live_bytes,
        ]
        .map(|v| i64::try_from(v).unwrap_or(i64::MAX))
        .to_vec();
        b.profile.sample.push(proto::Sample { location_id, value });
    }
    b.profile.time_nanos = i64::try_from(profile.start_realtime_ns).unwrap_or(0);
    b.profile.duration_nanos = i64::try_from(profile.duration_ns).unwrap_or(0);
    b.profile
}

/// Writes the gzipped profile.
pub fn write<W: Write + ?Sized>(out: &mut W, profile: &Profile) -> io::Result<()> {
    let bytes = build(profile).encode_to_vec();
    let mut gz = GzEncoder::new(out, Compression::default());
    gz.write_all(&bytes)?;
    gz.finish()?;
    Ok(())
}
