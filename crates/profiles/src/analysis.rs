//! A series of heap profiles judged: each call stack's live bytes over
//! the profiles, and the whole heap's, by `heapwise-series` with the
//! options the native report uses for its per-stack series
//! (`crates/native/src/report/stacks.rs`), and a growth counts as a leak
//! only beyond twice its sampling error.

use rustc_hash::FxHashMap;
use serde::Serialize;

use heapwise_series::{Options as SeriesOptions, Pattern, Series, Verdict, analyze as judge};
use heapwise_words as words;

use crate::error::SeriesError;
use crate::model::{Format, Frame, HeapProfile};

/// The schema of [`ProfilesReport`].
pub const SCHEMA: &str = "heapwise.profiles/1";

/// One profile of the series, as read.
#[derive(Debug, Clone)]
pub struct Input {
    /// How it is named to people (its path).
    pub name: String,
    /// The profile.
    pub profile: HeapProfile,
    /// Its file's modification time, ns since the Unix epoch.
    pub mtime_unix_ns: Option<i64>,
}

/// Options of [`analyze`].
#[derive(Debug, Clone)]
pub struct AnalysisOptions {
    /// Order and time the profiles by their files' modification times
    /// (for jemalloc dumps, which carry no time).
    pub by_mtime: bool,
    /// How many stacks the report lists (all are judged).
    pub max_stacks: usize,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        AnalysisOptions {
            by_mtime: false,
            max_stacks: 10,
        }
    }
}

/// Where the profiles' times come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimeAxis {
    /// The time stamps the profiles carry (pprof's `time_nanos`).
    ProfileTime,
    /// The files' modification times (`--by-mtime`).
    Mtime,
    /// No times: the order given, one profile per unit of "time", so
    /// slopes are per profile, not per second.
    Order,
}

impl TimeAxis {
    /// How the order is described to people.
    pub fn describe(self) -> &'static str {
        match self {
            TimeAxis::ProfileTime => "ordered and timed by the time stamps the profiles carry",
            TimeAxis::Mtime => "ordered and timed by the files' modification times",
            TimeAxis::Order => {
                "in the order given, without times (the profiles carry none): rates are per profile"
            }
        }
    }
}

/// One profile in the analysed order.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileSummary {
    /// Its name (path).
    pub name: String,
    /// Its time on the series' axis: seconds since the first profile, or
    /// its index for [`TimeAxis::Order`].
    pub t: f64,
    /// The time stamp it carries, ns since the Unix epoch.
    pub time_unix_ns: Option<i64>,
    /// Its file's modification time, ns since the Unix epoch.
    pub mtime_unix_ns: Option<i64>,
    /// Live bytes of the whole heap.
    pub live_bytes: u64,
    /// Live objects of the whole heap.
    pub live_objects: u64,
    /// Call stacks in it.
    pub stacks: u64,
    /// Its sampling rate R (one sample per R bytes allocated), if sampled.
    pub sampling_rate_bytes: Option<u64>,
}

/// How the profiles were sampled and how precise the verdicts are.
#[derive(Debug, Clone, Serialize)]
pub struct Sampling {
    /// R of the last profile.
    pub rate_bytes: u64,
    /// The standard error of the last profile's live bytes.
    pub live_bytes_standard_error: f64,
    /// The least growth a stack can show and pass as a leak reliably:
    /// 8 R (docs/profiles.md).
    pub detectable_growth_bytes: f64,
    /// That growth over the series' duration: a slower leak could go
    /// unseen. `null` without times or a duration.
    pub detectable_rate_bytes_per_s: Option<f64>,
}

/// The whole heap's live bytes over the series.
#[derive(Debug, Clone, Serialize)]
pub struct HeapGrowth {
    /// One value per profile.
    pub live_bytes: Vec<u64>,
    /// Last minus first.
    pub growth_bytes: f64,
    /// The standard error of that growth as an estimate (sampled
    /// profiles only).
    pub sampling_error_bytes: Option<f64>,
    /// The slope per profile interval (bytes).
    pub slope_bytes_per_profile: Option<f64>,
    /// The judgement (`leak` already accounts for the sampling error).
    pub verdict: Verdict,
}

/// One call stack's live bytes over the series.
#[derive(Debug, Clone, Serialize)]
pub struct StackGrowth {
    /// Innermost first.
    pub frames: Vec<Frame>,
    /// The shape of its series.
    pub pattern: Pattern,
    /// Growth that is significant, material, not levelling off, and
    /// beyond twice its sampling error.
    pub leak: bool,
    /// Theil–Sen slope, bytes per second; `null` for [`TimeAxis::Order`].
    pub slope_bytes_per_s: Option<f64>,
    /// The slope per profile interval (bytes).
    pub slope_bytes_per_profile: Option<f64>,
    /// Live bytes in the last profile.
    pub live_bytes_end: u64,
    /// Live objects in the last profile.
    pub live_objects_end: u64,
    /// Last minus first.
    pub growth_bytes: f64,
    /// The standard error of that growth as an estimate (sampled
    /// profiles only).
    pub sampling_error_bytes: Option<f64>,
    /// Live bytes, one value per profile (0 where the stack was absent).
    pub live_bytes: Vec<u64>,
    /// The judgement behind `pattern`, `leak` and the slope.
    pub verdict: Verdict,
}

/// The one verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Headline {
    /// A stack (or the whole heap) leaks.
    pub leak: bool,
    /// One sentence.
    pub summary: String,
}

/// The report on a series of heap profiles (schema `heapwise.profiles/1`).
#[derive(Debug, Clone, Serialize)]
pub struct ProfilesReport {
    /// `heapwise.profiles/1`.
    pub schema: &'static str,
    /// The profiles' format.
    pub format: Format,
    /// Where the times come from.
    pub time_axis: TimeAxis,
    /// From the first profile to the last, seconds (`null` without times).
    pub duration_s: Option<f64>,
    /// The profiles, in the analysed order.
    pub profiles: Vec<ProfileSummary>,
    /// `null` when the profiles were not sampled.
    pub sampling: Option<Sampling>,
    /// Leak or not, in one sentence.
    pub verdict: Headline,
    /// The whole heap.
    pub live_heap: HeapGrowth,
    /// Stacks judged (every stack live in any profile).
    pub stacks_judged: u64,
    /// Of those, leaks.
    pub stacks_growing: u64,
    /// The most suspicious stacks first (leaks, then by slope), at most
    /// `max_stacks`.
    pub stacks: Vec<StackGrowth>,
    /// What the reader should know (profiles with the same time, rates
    /// that differ, …).
    pub warnings: Vec<String>,
}

fn series_options(subject: &str) -> SeriesOptions {
    // As the native report's `memory::options`.
    SeriesOptions {
        subject: subject.to_string(),
        ..SeriesOptions::default()
    }
}

/// A sampled series is a leak only if its growth is beyond twice the
/// standard error of that growth as an estimate.
fn within_sampling_error(verdict: &mut Verdict, growth: f64, error: f64) {
    if verdict.leak && growth <= 2.0 * error {
        verdict.leak = false;
        verdict.reason = format!(
            "{}; but that growth ({}) is within twice its sampling error (± {}), so it is not called a leak",
            verdict.reason,
            words::bytes_f64_signed(growth),
            words::bytes_f64(error)
        );
    }
}

/// Said after every reason of a series without times: heapwise-series
/// words its time axis in seconds.
pub const ORDER_NOTE: &str = "(the profiles carry no times: each second here is one profile)";

fn note_order(verdict: &mut Verdict, axis: TimeAxis) {
    if axis == TimeAxis::Order {
        verdict.reason = format!("{} {ORDER_NOTE}", verdict.reason);
    }
}

/// The growth a verdict vouches for, to weigh against the sampling
/// error: for a `linear` series [`Verdict::linear_growth_bytes`], else
/// last minus first.
fn claimed_growth(verdict: &Verdict, values: &[u64]) -> f64 {
    verdict
        .linear_growth_bytes()
        .unwrap_or(values[values.len() - 1] as f64 - values[0] as f64)
}

/// The profiles in order: (inputs in order, their times, the axis,
/// warnings).
type Ordered = (Vec<Input>, Vec<f64>, TimeAxis, Vec<String>);

/// Orders the profiles.
fn order(mut inputs: Vec<Input>, options: &AnalysisOptions) -> Result<Ordered, SeriesError> {
    let mut warnings = Vec::new();
    let stamp = |ns: i64, first: i64| (ns - first) as f64 / 1e9;
    if options.by_mtime {
        if let Some(input) = inputs.iter().find(|i| i.mtime_unix_ns.is_none()) {
            return Err(SeriesError::NoMtime(input.name.clone()));
        }
        inputs.sort_by_key(|i| i.mtime_unix_ns);
        let first = inputs[0].mtime_unix_ns.unwrap_or(0);
        let times = inputs
            .iter()
            .map(|i| stamp(i.mtime_unix_ns.unwrap_or(0), first))
            .collect();
        return Ok((inputs, times, TimeAxis::Mtime, warnings));
    }
    if inputs.iter().all(|i| i.profile.time_unix_ns.is_some()) {
        inputs.sort_by_key(|i| i.profile.time_unix_ns);
        let first = inputs[0].profile.time_unix_ns.unwrap_or(0);
        let times: Vec<f64> = inputs
            .iter()
            .map(|i| stamp(i.profile.time_unix_ns.unwrap_or(0), first))
            .collect();
        if times.windows(2).any(|w| w[0] == w[1]) {
            warnings.push(
                "some profiles carry the same time stamp; only one of each is judged".to_owned(),
            );
        }
        return Ok((inputs, times, TimeAxis::ProfileTime, warnings));
    }
    if inputs.iter().any(|i| i.profile.time_unix_ns.is_some()) {
        warnings.push(
            "some profiles carry no time stamp, so all are taken in the order given".to_owned(),
        );
    }
    let times = (0..inputs.len()).map(|i| i as f64).collect();
    Ok((inputs, times, TimeAxis::Order, warnings))
}

/// Judges a series of profiles (at least two, of one format).
pub fn analyze(
    inputs: Vec<Input>,
    options: &AnalysisOptions,
) -> Result<ProfilesReport, SeriesError> {
    if inputs.len() < 2 {
        return Err(SeriesError::TooFew(inputs.len()));
    }
    let format = inputs[0].profile.format;
    if let Some(other) = inputs.iter().find(|i| i.profile.format != format) {
        return Err(SeriesError::MixedFormats {
            first: inputs[0].name.clone(),
            first_format: format.describe(),
            other: other.name.clone(),
            other_format: other.profile.format.describe(),
        });
    }
    let (inputs, times, axis, mut warnings) = order(inputs, options)?;
    let n = inputs.len();
    let span = times[n - 1] - times[0];
    let duration_s = (axis != TimeAxis::Order).then_some(span);
    let per_profile = (n > 1 && span > 0.0).then(|| span / (n - 1) as f64);
    let rate = inputs[n - 1].profile.sampling_rate_bytes;
    let rates: Vec<Option<u64>> = inputs
        .iter()
        .map(|i| i.profile.sampling_rate_bytes)
        .collect();
    if rates.iter().any(|r| *r != rate) {
        warnings.push(
            "the profiles were not all sampled at the same rate; errors are those of the last one's"
                .to_owned(),
        );
    }

    // Every stack's series: index of the stack by key.
    let mut index: FxHashMap<&str, usize> = FxHashMap::default();
    let mut frames: Vec<&[Frame]> = Vec::new();
    let mut live: Vec<Vec<u64>> = Vec::new();
    let mut objects: Vec<Vec<u64>> = Vec::new();
    let mut variance: Vec<Vec<f64>> = Vec::new();
    for (p, input) in inputs.iter().enumerate() {
        for stack in &input.profile.stacks {
            let i = *index.entry(stack.key.as_str()).or_insert_with(|| {
                frames.push(&stack.frames);
                live.push(vec![0; n]);
                objects.push(vec![0; n]);
                variance.push(vec![0.0; n]);
                frames.len() - 1
            });
            live[i][p] += stack.live_bytes;
            objects[i][p] += stack.live_objects;
            variance[i][p] += stack.live_variance;
        }
    }

    let slope_per_profile = |verdict: &Verdict| {
        verdict.slope_bytes_per_s.map(|s| match axis {
            TimeAxis::Order => s,
            _ => s * per_profile.unwrap_or(0.0),
        })
    };
    // The standard error of a growth from the first profile to the last:
    // the two ends' errors taken as independent (docs/profiles.md).
    let growth_error = |variance: &[f64]| (variance[0] + variance[n - 1]).sqrt();

    let stack_options = series_options("live bytes of this call stack");
    let mut stacks: Vec<StackGrowth> = Vec::new();
    for i in 0..frames.len() {
        let values = &live[i];
        if values.iter().all(|&v| v == 0) {
            continue;
        }
        let series = Series::from_pairs(times.iter().zip(values).map(|(&t, &v)| (t, v as f64)));
        let mut verdict = judge(&series, &stack_options);
        let growth = values[n - 1] as f64 - values[0] as f64;
        let sampling_error = rate.map(|_| growth_error(&variance[i]));
        if let Some(error) = sampling_error {
            let claimed = claimed_growth(&verdict, values);
            within_sampling_error(&mut verdict, claimed, error);
        }
        note_order(&mut verdict, axis);
        stacks.push(StackGrowth {
            frames: frames[i].to_vec(),
            pattern: verdict.pattern,
            leak: verdict.leak,
            slope_bytes_per_s: verdict
                .slope_bytes_per_s
                .filter(|_| axis != TimeAxis::Order),
            slope_bytes_per_profile: slope_per_profile(&verdict),
            live_bytes_end: values[n - 1],
            live_objects_end: objects[i][n - 1],
            growth_bytes: growth,
            sampling_error_bytes: sampling_error,
            live_bytes: values.clone(),
            verdict,
        });
    }
    let slope = |g: &StackGrowth| g.verdict.slope_bytes_per_s.unwrap_or(0.0);
    stacks.sort_by(|a, b| {
        b.leak
            .cmp(&a.leak)
            .then(slope(b).total_cmp(&slope(a)))
            .then(b.live_bytes_end.cmp(&a.live_bytes_end))
    });
    let stacks_judged = stacks.len() as u64;
    let stacks_growing = stacks.iter().filter(|s| s.leak).count() as u64;

    let heap_values: Vec<u64> = inputs.iter().map(|i| i.profile.live_bytes()).collect();
    let series = Series::from_pairs(times.iter().zip(&heap_values).map(|(&t, &v)| (t, v as f64)));
    let mut heap_verdict = judge(&series, &series_options("live heap bytes"));
    let heap_growth = heap_values[n - 1] as f64 - heap_values[0] as f64;
    let heap_variance: Vec<f64> = inputs
        .iter()
        .map(|i| i.profile.stacks.iter().map(|s| s.live_variance).sum())
        .collect();
    let heap_error = rate.map(|_| growth_error(&heap_variance));
    if let Some(error) = heap_error {
        let claimed = claimed_growth(&heap_verdict, &heap_values);
        within_sampling_error(&mut heap_verdict, claimed, error);
    }
    note_order(&mut heap_verdict, axis);
    let live_heap = HeapGrowth {
        live_bytes: heap_values,
        growth_bytes: heap_growth,
        sampling_error_bytes: heap_error,
        slope_bytes_per_profile: slope_per_profile(&heap_verdict),
        verdict: heap_verdict,
    };

    let sampling = rate.map(|rate| {
        let last = &inputs[n - 1].profile;
        let variance: f64 = last.stacks.iter().map(|s| s.live_variance).sum();
        let detectable = 8.0 * rate as f64;
        Sampling {
            rate_bytes: rate,
            live_bytes_standard_error: variance.sqrt(),
            detectable_growth_bytes: detectable,
            detectable_rate_bytes_per_s: duration_s.filter(|&d| d > 0.0).map(|d| detectable / d),
        }
    });
    let verdict = headline(&stacks, stacks_growing, &live_heap, n, duration_s);
    let profiles = inputs
        .iter()
        .zip(&times)
        .map(|(input, &t)| ProfileSummary {
            name: input.name.clone(),
            t,
            time_unix_ns: input.profile.time_unix_ns,
            mtime_unix_ns: input.mtime_unix_ns,
            live_bytes: input.profile.live_bytes(),
            live_objects: input.profile.live_objects(),
            stacks: input.profile.stacks.len() as u64,
            sampling_rate_bytes: input.profile.sampling_rate_bytes,
        })
        .collect();
    stacks.truncate(options.max_stacks);
    Ok(ProfilesReport {
        schema: SCHEMA,
        format,
        time_axis: axis,
        duration_s,
        profiles,
        sampling,
        verdict,
        live_heap,
        stacks_judged,
        stacks_growing,
        stacks,
        warnings,
    })
}

fn headline(
    stacks: &[StackGrowth],
    growing: u64,
    heap: &HeapGrowth,
    profiles: usize,
    duration_s: Option<f64>,
) -> Headline {
    let over = match duration_s {
        Some(d) => format!("{profiles} profiles over {}", words::duration(d)),
        None => format!("{profiles} profiles"),
    };
    if growing > 0 {
        let first = &stacks[0];
        let place = first
            .frames
            .first()
            .map(Frame::describe)
            .unwrap_or_else(|| "?".to_owned());
        let rate = match (first.slope_bytes_per_s, first.slope_bytes_per_profile) {
            (Some(s), _) => words::rate_signed(s),
            (None, Some(p)) => format!("{} per profile", words::bytes_f64_signed(p)),
            _ => "?".to_owned(),
        };
        let others = match growing - 1 {
            0 => String::new(),
            k => format!(
                " and {} other{}",
                words::thousands(k),
                words::plural(k, "", "s")
            ),
        };
        return Headline {
            leak: true,
            summary: format!(
                "leak: the live bytes of {place}{others} keep growing ({}, {rate}) across {over}",
                first.pattern
            ),
        };
    }
    if heap.verdict.leak {
        return Headline {
            leak: true,
            summary: format!(
                "leak: the live heap keeps growing ({}) across {over}, though no single call stack does",
                heap.verdict.pattern
            ),
        };
    }
    Headline {
        leak: false,
        summary: format!("no leak: no call stack's live bytes keep growing across {over}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{StackSample, sampling_variance};

    const R: u64 = 512 * 1024;

    /// Ten profiles 10 s apart of one stack of 1 KiB objects holding
    /// `samples[i]` sampled objects (each standing for ≈ 512.5 KiB), or
    /// exactly that many bytes when `sampled` is false.
    fn series(samples: &[u64], sampled: bool) -> Vec<Input> {
        let weight = 1024.0 / -(-1024.0f64 / R as f64).exp_m1();
        samples
            .iter()
            .enumerate()
            .map(|(i, &k)| {
                let bytes = k as f64 * weight;
                let objects = bytes / 1024.0;
                let rate = sampled.then_some(R);
                Input {
                    name: format!("p{i}"),
                    mtime_unix_ns: None,
                    profile: HeapProfile {
                        format: Format::Pprof,
                        time_unix_ns: Some(i as i64 * 10_000_000_000),
                        sampling_rate_bytes: rate,
                        stacks: vec![StackSample {
                            key: "grow:1".into(),
                            frames: vec![],
                            live_bytes: bytes.round() as u64,
                            live_objects: objects.round() as u64,
                            allocated_bytes: 0,
                            allocated_objects: 0,
                            live_variance: sampling_variance(bytes, objects, rate),
                        }],
                    },
                }
            })
            .collect()
    }

    #[test]
    fn growth_within_twice_the_sampling_error_is_not_a_leak() {
        // Three samples gained over 90 s: exact, that is a steady rise;
        // sampled, it is ≈ 1.5 MiB ± 0.9 MiB.
        let steps = [0, 0, 0, 1, 1, 1, 2, 2, 2, 3];
        let exact = analyze(series(&steps, false), &AnalysisOptions::default()).unwrap();
        assert!(exact.stacks[0].leak, "{}", exact.stacks[0].verdict.reason);
        assert_eq!(exact.stacks[0].sampling_error_bytes, None);
        let sampled = analyze(series(&steps, true), &AnalysisOptions::default()).unwrap();
        let stack = &sampled.stacks[0];
        assert!(!stack.leak, "{}", stack.verdict.reason);
        assert!(
            stack
                .verdict
                .reason
                .contains("within twice its sampling error")
        );
        assert!(!sampled.verdict.leak && !sampled.live_heap.verdict.leak);
        // Forty samples gained are well beyond it.
        let many: Vec<u64> = (0..10).map(|i| i * 5).collect();
        let sampled = analyze(series(&many, true), &AnalysisOptions::default()).unwrap();
        assert!(
            sampled.stacks[0].leak,
            "{}",
            sampled.stacks[0].verdict.reason
        );
        let error = sampled.stacks[0].sampling_error_bytes.unwrap();
        assert!(
            (error / (45f64.sqrt() * R as f64) - 1.0).abs() < 0.01,
            "{error}"
        );
    }
}
