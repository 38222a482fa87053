//! One heap profile, whichever profiler wrote it: call stacks with what
//! they hold.

use serde::Serialize;

/// Which profiler's format a profile was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// pprof's `profile.proto`, gzip'd or not (Go's `/debug/pprof/heap`).
    Pprof,
    /// jemalloc's `heap_v2` text dump (`prof:true`).
    Jemalloc,
}

impl Format {
    /// How the format is named to people.
    pub fn describe(self) -> &'static str {
        match self {
            Format::Pprof => "pprof heap profile",
            Format::Jemalloc => "jemalloc heap_v2 dump",
        }
    }
}

/// One frame of a call stack, innermost first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Frame {
    /// The instruction address (`0x…`), when the profile has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The function, when the profile names it (pprof does, jemalloc
    /// dumps do not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// Its source file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Its line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<i64>,
    /// The binary holding the address (its file name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// The address as an offset into that binary's file (`0x…`): the same
    /// in every run, whatever address space layout the run had.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<String>,
    /// Inlined into the next frame.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub inlined: bool,
}

impl Frame {
    /// What identifies this frame across profiles: the function and line
    /// when named, else the binary and offset, else the address.
    pub fn key(&self) -> String {
        match (&self.function, &self.module, &self.offset, &self.address) {
            (Some(function), ..) => format!("{function}:{}", self.line.unwrap_or(0)),
            (None, Some(module), Some(offset), _) => format!("{module}+{offset}"),
            (None, _, _, Some(address)) => address.clone(),
            _ => "?".to_owned(),
        }
    }

    /// One short line for people: `main.leak (leaky.go:42)`,
    /// `leaky+0x1174`, `0x7f4e44ea2630`.
    pub fn describe(&self) -> String {
        match &self.function {
            Some(function) => {
                let mut text = function.clone();
                if let Some(file) = &self.file {
                    text.push_str(&format!(" ({}", heapwise_words::file_name(file)));
                    if let Some(line) = self.line.filter(|&l| l > 0) {
                        text.push_str(&format!(":{line}"));
                    }
                    text.push(')');
                }
                if self.inlined {
                    text.push_str(" [inlined]");
                }
                text
            }
            None => match (&self.module, &self.offset, &self.address) {
                (Some(module), Some(offset), _) => format!("{module}+{offset}"),
                (_, _, Some(address)) => address.clone(),
                _ => "?".to_owned(),
            },
        }
    }
}

/// What one call stack holds in one profile, as the profile estimates it
/// (values a sampling profiler wrote are scaled up to estimates of the
/// whole program, the way its own tools scale them).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackSample {
    /// Frames joined by their [`Frame::key`]: the same stack in every
    /// profile of a series.
    pub key: String,
    /// Innermost first.
    pub frames: Vec<Frame>,
    /// Bytes live (in use) when the profile was taken.
    pub live_bytes: u64,
    /// Objects live then.
    pub live_objects: u64,
    /// Bytes allocated since the program started (0 when the profile does
    /// not count them: jemalloc without `prof_accum`).
    pub allocated_bytes: u64,
    /// Objects allocated since the program started.
    pub allocated_objects: u64,
    /// The variance of `live_bytes` as an estimate (bytes²); 0 when the
    /// profile was not sampled. See [`sampling_variance`].
    pub live_variance: f64,
}

impl StackSample {
    /// A stack with nothing counted yet.
    pub fn empty(key: String, frames: Vec<Frame>) -> StackSample {
        StackSample {
            key,
            frames,
            live_bytes: 0,
            live_objects: 0,
            allocated_bytes: 0,
            allocated_objects: 0,
            live_variance: 0.0,
        }
    }
}

/// One heap profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeapProfile {
    /// The format it was read from.
    pub format: Format,
    /// When it was taken, ns since the Unix epoch (pprof's `time_nanos`;
    /// jemalloc dumps carry no time).
    pub time_unix_ns: Option<i64>,
    /// R: one allocation sampled per R bytes allocated, on average; `None`
    /// when every allocation was recorded (or the profile does not say).
    pub sampling_rate_bytes: Option<u64>,
    /// Per call stack, largest live bytes first; stacks that appear more
    /// than once in the file (Go keeps one record per stack and size) are
    /// merged.
    pub stacks: Vec<StackSample>,
}

impl HeapProfile {
    /// Live bytes of the whole heap.
    pub fn live_bytes(&self) -> u64 {
        self.stacks.iter().map(|s| s.live_bytes).sum()
    }

    /// Live objects of the whole heap.
    pub fn live_objects(&self) -> u64 {
        self.stacks.iter().map(|s| s.live_objects).sum()
    }
}

/// The variance of an estimate of `bytes` live bytes in `objects`
/// objects, sampled one per `rate` bytes allocated on average (an object
/// of Z bytes with probability p = 1 − e^(−Z/R)) and scaled by 1/p:
/// over the objects actually sampled, Σ Z² (1 − p)/p², which with k
/// sampled objects of the mean size z = bytes/objects and k = objects·p is
/// `bytes · z · (1 − p)/p` — about `bytes · R` for objects much smaller
/// than R, i.e. a standard error of √k · R (docs/profiles.md).
pub fn sampling_variance(bytes: f64, objects: f64, rate: Option<u64>) -> f64 {
    let Some(rate) = rate.filter(|&r| r > 1) else {
        return 0.0;
    };
    if bytes <= 0.0 {
        return 0.0;
    }
    let rate = rate as f64;
    if objects <= 0.0 {
        // Sizes unknown: the small-object bound.
        return bytes * rate;
    }
    let mean = bytes / objects;
    let p = -(-mean / rate).exp_m1();
    if p <= 0.0 {
        return bytes * rate;
    }
    bytes * mean * (1.0 - p) / p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_objects_have_an_error_of_about_root_k_times_r() {
        // 100 sampled 1 KiB objects at R = 512 KiB: each stands for
        // ≈ 512.5 KiB, the error is ≈ √100 · R.
        let rate = 512 * 1024;
        let weight = 1024.0 / -(-1024.0f64 / rate as f64).exp_m1();
        let bytes = 100.0 * weight;
        let objects = bytes / 1024.0;
        let error = sampling_variance(bytes, objects, Some(rate)).sqrt();
        let expected = 10.0 * rate as f64;
        assert!(
            (error / expected - 1.0).abs() < 0.01,
            "{error} vs {expected}"
        );
    }

    #[test]
    fn large_objects_are_nearly_exact_and_exact_profiles_exactly() {
        // 10 MiB objects at R = 512 KiB are sampled but for e^(−20).
        let bytes = 10.0 * (10 << 20) as f64;
        let error = sampling_variance(bytes, 10.0, Some(512 * 1024)).sqrt();
        assert!(error / bytes < 1e-4, "{error}");
        assert_eq!(sampling_variance(bytes, 10.0, None), 0.0);
        assert_eq!(sampling_variance(0.0, 0.0, Some(4096)), 0.0);
    }
}
