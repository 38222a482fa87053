//! pprof's `profile.proto` heap profiles (Go's `/debug/pprof/heap`,
//! anything else that writes the four heap sample types).
//!
//! Go's values are already scaled by Go (`scaleHeapSample`: each record
//! of a stack and size, divided by 1 − e^(−mean size / rate)), so they are
//! read as they are; `period` is the sampling rate. Go keeps one record per
//! stack and object size, so samples with the same frames are merged.

use prost::Message;
use rustc_hash::FxHashMap;

use crate::error::ProfileError;
use crate::model::{Format, Frame, HeapProfile, StackSample, sampling_variance};
use crate::proto;

/// Reads an uncompressed `profile.proto`.
pub fn read(bytes: &[u8]) -> Result<HeapProfile, ProfileError> {
    let profile = proto::Profile::decode(bytes).map_err(|_| ProfileError::Foreign)?;
    convert(&profile)
}

/// Looks like a profile at all: a string table that starts with `""` and
/// at least one sample type. (A decoded message of another kind rarely
/// has both.)
pub(crate) fn plausible(profile: &proto::Profile) -> bool {
    profile.string_table.first().is_some_and(|s| s.is_empty()) && !profile.sample_type.is_empty()
}

struct Strings<'a>(&'a [String]);

impl Strings<'_> {
    fn get(&self, index: i64) -> Result<&str, ProfileError> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.0.get(i))
            .map(String::as_str)
            .ok_or_else(|| {
                ProfileError::PprofDamaged(format!(
                    "it refers to string {index} of a table of {}",
                    self.0.len()
                ))
            })
    }

    fn optional(&self, index: i64) -> Result<Option<String>, ProfileError> {
        let s = self.get(index)?;
        Ok((!s.is_empty()).then(|| s.to_owned()))
    }
}

/// Converts a decoded profile.
pub fn convert(profile: &proto::Profile) -> Result<HeapProfile, ProfileError> {
    if !plausible(profile) {
        return Err(ProfileError::Foreign);
    }
    let strings = Strings(&profile.string_table);
    let mut types = Vec::new();
    for t in &profile.sample_type {
        types.push((
            strings.get(t.r#type)?.to_owned(),
            strings.get(t.unit)?.to_owned(),
        ));
    }
    let index = |names: &[&str]| {
        names
            .iter()
            .find_map(|name| types.iter().position(|(t, _)| t == name))
    };
    let Some(inuse_space) = index(&["inuse_space", "space"]) else {
        let names: Vec<String> = types.iter().map(|(t, u)| format!("{t}/{u}")).collect();
        return Err(ProfileError::NotHeap(names.join(", ")));
    };
    let inuse_objects = index(&["inuse_objects", "objects"]);
    let alloc_space = index(&["alloc_space"]);
    let alloc_objects = index(&["alloc_objects"]);

    let mut mappings: FxHashMap<u64, Option<String>> = FxHashMap::default();
    for m in &profile.mapping {
        let name = strings
            .optional(m.filename)?
            .map(|f| heapwise_words::file_name(&f).to_owned());
        mappings.insert(m.id, name);
    }
    let mut functions: FxHashMap<u64, &proto::Function> = FxHashMap::default();
    for f in &profile.function {
        strings.get(f.name)?;
        strings.get(f.system_name)?;
        strings.get(f.filename)?;
        functions.insert(f.id, f);
    }
    // Each location's frames: inlined functions first, the caller last.
    let mut locations: FxHashMap<u64, Vec<Frame>> = FxHashMap::default();
    for location in &profile.location {
        let module = match location.mapping_id {
            0 => None,
            id => mappings
                .get(&id)
                .ok_or_else(|| {
                    ProfileError::PprofDamaged(format!(
                        "location {} refers to mapping {id}, which it does not have",
                        location.id
                    ))
                })?
                .clone(),
        };
        let address = (location.address != 0).then(|| format!("{:#x}", location.address));
        let mut frames = Vec::new();
        for (i, line) in location.line.iter().enumerate() {
            let function = functions.get(&line.function_id).ok_or_else(|| {
                ProfileError::PprofDamaged(format!(
                    "location {} refers to function {}, which it does not have",
                    location.id, line.function_id
                ))
            })?;
            let name = strings
                .optional(function.name)?
                .or(strings.optional(function.system_name)?);
            frames.push(Frame {
                address: address.clone(),
                function: name,
                file: strings.optional(function.filename)?,
                line: (line.line != 0).then_some(line.line),
                module: module.clone(),
                offset: None,
                inlined: i + 1 < location.line.len(),
            });
        }
        if frames.is_empty() {
            frames.push(Frame {
                address,
                function: None,
                file: None,
                line: None,
                module,
                offset: None,
                inlined: false,
            });
        }
        locations.insert(location.id, frames);
    }

    let rate = sampling_rate(profile, &strings)?;
    let mut by_key: FxHashMap<String, usize> = FxHashMap::default();
    let mut stacks: Vec<StackSample> = Vec::new();
    for (n, sample) in profile.sample.iter().enumerate() {
        if sample.value.len() != types.len() {
            return Err(ProfileError::PprofDamaged(format!(
                "sample {} has {} values for {} sample types",
                n + 1,
                sample.value.len(),
                types.len()
            )));
        }
        let value = |i: Option<usize>| -> Result<u64, ProfileError> {
            let Some(i) = i else { return Ok(0) };
            u64::try_from(sample.value[i]).map_err(|_| {
                ProfileError::PprofDamaged(format!(
                    "sample {} has a negative value ({})",
                    n + 1,
                    sample.value[i]
                ))
            })
        };
        let live_bytes = value(Some(inuse_space))?;
        let live_objects = value(inuse_objects)?;
        let mut frames = Vec::new();
        for id in &sample.location_id {
            let location = locations.get(id).ok_or_else(|| {
                ProfileError::PprofDamaged(format!(
                    "sample {} refers to location {id}, which it does not have",
                    n + 1
                ))
            })?;
            frames.extend(location.iter().cloned());
        }
        let variance = sampling_variance(live_bytes as f64, live_objects as f64, rate);
        let key = crate::stack_key(&frames);
        let stack = match by_key.get(&key) {
            Some(&i) => &mut stacks[i],
            None => {
                by_key.insert(key.clone(), stacks.len());
                stacks.push(StackSample::empty(key, frames));
                stacks.last_mut().expect("just pushed")
            }
        };
        stack.live_bytes += live_bytes;
        stack.live_objects += live_objects;
        stack.allocated_bytes += value(alloc_space)?;
        stack.allocated_objects += value(alloc_objects)?;
        stack.live_variance += variance;
    }
    crate::sort_stacks(&mut stacks);
    Ok(HeapProfile {
        format: Format::Pprof,
        time_unix_ns: (profile.time_nanos > 0).then_some(profile.time_nanos),
        sampling_rate_bytes: rate,
        stacks,
    })
}

/// `period` when it counts bytes (Go: `space`/`bytes`), else none.
fn sampling_rate(profile: &proto::Profile, strings: &Strings) -> Result<Option<u64>, ProfileError> {
    let bytes = match &profile.period_type {
        Some(t) => strings.get(t.unit)? == "bytes",
        None => false,
    };
    Ok((bytes && profile.period > 1).then_some(profile.period as u64))
}
