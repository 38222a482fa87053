//! A watch: a [`Sampler`] and a [`History`], the verdict kept up to date
//! within a CPU budget, and the plain data that renderers turn into text,
//! JSON, CSV, Prometheus metrics or a dashboard.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::cgroup::CgroupInfo;
use crate::error::WatchError;
use crate::history::{History, JudgeOptions, OomSeen, Peak, WatchVerdict};
use crate::sample::{PssStatus, Sample};
use crate::sampler::{Sampler, SamplerOptions, Target};

/// The `schema` of [`Report`].
pub const SCHEMA: &str = "heapwise.watch/1";

/// At most this share of one core goes to re-judging the series while
/// watching (an analysis of a day of 1 Hz samples takes a few ms).
const JUDGE_CPU_SHARE: f64 = 0.002;

/// Everything that shapes a watch.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchOptions {
    /// What to sample.
    pub sampler: SamplerOptions,
    /// How to judge.
    pub judge: JudgeOptions,
    /// Time between samples (recorded in the output; the caller keeps time).
    pub interval: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            sampler: SamplerOptions::default(),
            judge: JudgeOptions::default(),
            interval: Duration::from_secs(1),
        }
    }
}

/// Why a watch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndReason {
    /// `--duration` elapsed.
    Duration,
    /// The process exited.
    Exited,
    /// heapwise was interrupted (Ctrl-C, SIGTERM).
    Interrupted,
    /// The dashboard was closed.
    Quit,
}

/// How a process started by `watch` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ExitStatus {
    /// It exited with this code.
    Code {
        /// The exit code.
        code: i32,
    },
    /// A signal killed it.
    Signal {
        /// The signal number.
        signal: i32,
    },
}

impl ExitStatus {
    /// How the process ended, for sentences (`heapwise_words::Ended`).
    pub fn ended(self) -> heapwise_words::Ended {
        match self {
            ExitStatus::Code { code } => heapwise_words::Ended::Code(code),
            ExitStatus::Signal { signal } => heapwise_words::Ended::Signal(signal),
        }
    }
}

/// The end of a watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchEnd {
    /// Why it ended.
    pub reason: EndReason,
    /// The exit status, for a process `watch` started and saw end; `null`
    /// otherwise (another process's parent collects its status).
    pub exit: Option<ExitStatus>,
}

/// What is known now, without the samples: what a dashboard or a metrics
/// scrape shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The watched process.
    pub pid: i32,
    /// Its command line (or name).
    pub command: String,
    /// Its process name.
    pub name: String,
    /// Whether its descendants are added in.
    pub children: bool,
    /// Time between samples, seconds.
    pub interval_s: f64,
    /// Time from the first to the last sample, seconds.
    pub duration_s: f64,
    /// Number of samples.
    pub sample_count: usize,
    /// The latest sample.
    pub latest: Option<Sample>,
    /// Peaks over the watch.
    pub peak: Peak,
    /// Whether PSS is read, and why not.
    pub pss: PssStatus,
    /// The process's memory cgroup.
    pub cgroup: Option<CgroupInfo>,
    /// The machine's memory.
    pub mem_total_bytes: Option<u64>,
    /// OOM events during the watch.
    pub oom_seen: OomSeen,
    /// The latest verdict.
    pub verdict: WatchVerdict,
    /// How the watch ended, once it has.
    pub end: Option<WatchEnd>,
}

/// The document `watch --format json` writes (`"schema": "heapwise.watch/1"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Everything but the samples.
    #[serde(flatten)]
    pub snapshot: Snapshot,
    /// Every sample, in time order.
    pub samples: Vec<Sample>,
}

/// One watched process: sample it, judge it, report on it.
#[derive(Debug)]
pub struct Watch {
    sampler: Sampler,
    history: History,
    options: WatchOptions,
    verdict: WatchVerdict,
    judged_at: Option<Instant>,
    judge_cost: Duration,
    judged_samples: usize,
    end: Option<WatchEnd>,
}

impl Watch {
    /// Attaches to process `pid` (see [`Sampler::attach`]).
    pub fn attach(pid: i64, options: WatchOptions) -> Result<Self, WatchError> {
        let sampler = Sampler::attach(pid, options.sampler.clone())?;
        let history = History::new();
        let verdict = history.judge(&options.judge, sampler.mem_total_bytes());
        Ok(Watch {
            sampler,
            history,
            options,
            verdict,
            judged_at: None,
            judge_cost: Duration::ZERO,
            judged_samples: 0,
            end: None,
        })
    }

    /// The watched process.
    pub fn target(&self) -> &Target {
        self.sampler.target()
    }

    /// The samples so far.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Takes a sample stamped `t_s` seconds. `Ok(None)` once the process
    /// has exited.
    pub fn sample(&mut self, t_s: f64) -> Result<Option<&Sample>, WatchError> {
        match self.sampler.sample(t_s)? {
            Some(sample) => {
                self.history.push(sample);
                Ok(self.history.latest())
            }
            None => Ok(None),
        }
    }

    /// The latest verdict (from [`Watch::judge`] or [`Watch::refresh`]).
    pub fn verdict(&self) -> &WatchVerdict {
        &self.verdict
    }

    /// Judges all samples now.
    pub fn judge(&mut self) -> &WatchVerdict {
        let started = Instant::now();
        self.verdict = self
            .history
            .judge(&self.options.judge, self.sampler.mem_total_bytes());
        self.judge_cost = started.elapsed();
        self.judged_at = Some(started);
        self.judged_samples = self.history.samples().len();
        &self.verdict
    }

    /// Judges again if there are new samples and the last analysis is long
    /// enough ago that analysing stays under 0.2 % of a core. Returns
    /// whether it did.
    pub fn refresh(&mut self) -> bool {
        if self.judged_samples == self.history.samples().len() {
            return false;
        }
        let due = match self.judged_at {
            None => true,
            Some(at) => {
                at.elapsed().as_secs_f64() >= self.judge_cost.as_secs_f64() / JUDGE_CPU_SHARE
            }
        };
        if due {
            self.judge();
        }
        due
    }

    /// Records how the watch ended.
    pub fn finish(&mut self, end: WatchEnd) {
        self.end = Some(end);
    }

    /// What is known now, without the samples.
    pub fn snapshot(&self) -> Snapshot {
        let target = self.sampler.target();
        Snapshot {
            pid: target.pid,
            command: target.command(),
            name: target.name.clone(),
            children: self.options.sampler.children,
            interval_s: self.options.interval.as_secs_f64(),
            duration_s: self.history.duration_s(),
            sample_count: self.history.samples().len(),
            latest: self.history.latest().cloned(),
            peak: self.history.peak().clone(),
            pss: self.sampler.pss_status().clone(),
            cgroup: self.sampler.cgroup().cloned(),
            mem_total_bytes: self.sampler.mem_total_bytes(),
            oom_seen: self.history.oom_seen(),
            verdict: self.verdict.clone(),
            end: self.end,
        }
    }

    /// The full report, judged on every sample.
    pub fn report(&mut self) -> Report {
        if self.judged_samples != self.history.samples().len() || self.judged_at.is_none() {
            self.judge();
        }
        Report {
            schema: SCHEMA.to_owned(),
            snapshot: self.snapshot(),
            samples: self.history.samples().to_vec(),
        }
    }
}
