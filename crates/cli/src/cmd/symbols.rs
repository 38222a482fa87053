//! Adapts `heapwise-symbols` to the analysis' `Symbolize` trait.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};

use heapwise_native::model::Frame;
use heapwise_native::{Analysis, Symbolize};
use heapwise_symbols::{Options, Symbolizer};
use heapwise_trace::ModuleLoad;

/// Symbolizes the addresses of one trace's modules.
pub struct TraceSymbolizer {
    inner: Symbolizer,
    exe: String,
    /// Every function, file and module name given out, once each: the
    /// frames of a report share them.
    names: HashSet<Arc<str>>,
}

impl TraceSymbolizer {
    /// `name`, shared with every frame that has it.
    fn shared(&mut self, name: &str) -> Arc<str> {
        if let Some(shared) = self.names.get(name) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(name);
        self.names.insert(shared.clone());
        shared
    }
}

impl TraceSymbolizer {
    /// A symbolizer for `analysis`, whose main executable is the header's.
    pub fn new(analysis: &Analysis) -> TraceSymbolizer {
        TraceSymbolizer::for_exe(analysis.header.exe.clone())
    }

    /// A symbolizer for a trace whose main executable is `exe`.
    fn for_exe(exe: String) -> TraceSymbolizer {
        let options = Options {
            exe_path: (!exe.is_empty()).then(|| PathBuf::from(&exe)),
            ..Options::default()
        };
        TraceSymbolizer {
            inner: Symbolizer::new(options),
            exe,
            names: HashSet::new(),
        }
    }

    /// What went wrong along the way, one sentence per module.
    pub fn warnings(&self) -> Vec<String> {
        self.inner
            .warnings()
            .iter()
            .map(|w| w.to_string())
            .collect()
    }
}

impl Symbolize for TraceSymbolizer {
    fn symbolize(&mut self, module: &ModuleLoad, addresses: &[u64]) -> Vec<Vec<Frame>> {
        let symbolized = self.inner.symbolize(module, addresses);
        symbolized
            .into_iter()
            .map(|frames| {
                frames
                    .into_iter()
                    .map(|f| Frame {
                        function: f.function.map(|name| self.shared(&name)),
                        file: f.file.map(|file| self.shared(&file)),
                        line: f.line,
                        module: Some(if f.module.is_empty() {
                            let exe = self.exe.clone();
                            self.shared(&exe)
                        } else {
                            self.shared(&f.module)
                        }),
                        address: format!("{:#x}", f.address).into(),
                        inlined: f.inlined,
                    })
                    .collect()
            })
            .collect()
    }
}

/// What a report symbolizes with: frames, and what kept modules from
/// being symbolized.
pub trait ReportSymbolizer: Symbolize {
    /// What went wrong along the way, one sentence per module.
    fn said(&mut self) -> Vec<String>;
}

impl ReportSymbolizer for TraceSymbolizer {
    fn said(&mut self) -> Vec<String> {
        self.warnings()
    }
}

/// Answers from the symbols saved with an analysis
/// (`heapwise_native::saved::SavedSymbols`); a batch they do not hold (a
/// report with other options than the one `heapwise run` saved for) goes
/// to a symbolizer made then.
pub struct Replaying<'a> {
    saved: &'a heapwise_native::saved::SavedSymbols,
    analysis: &'a Analysis,
    fallback: Option<TraceSymbolizer>,
}

impl<'a> Replaying<'a> {
    /// Answers from `saved`, else symbolizes `analysis`'s modules.
    pub fn new(saved: &'a heapwise_native::saved::SavedSymbols, analysis: &'a Analysis) -> Self {
        Replaying {
            saved,
            analysis,
            fallback: None,
        }
    }
}

impl Symbolize for Replaying<'_> {
    fn symbolize(&mut self, module: &ModuleLoad, addresses: &[u64]) -> Vec<Vec<Frame>> {
        if let Some(frames) = self.saved.answer(module, addresses) {
            return frames;
        }
        let analysis = self.analysis;
        self.fallback
            .get_or_insert_with(|| TraceSymbolizer::new(analysis))
            .symbolize(module, addresses)
    }
}

impl ReportSymbolizer for Replaying<'_> {
    fn said(&mut self) -> Vec<String> {
        let mut said = self.saved.warnings.clone();
        for warning in self.fallback.as_mut().map(|f| f.said()).unwrap_or_default() {
            if !said.contains(&warning) {
                said.push(warning);
            }
        }
        said
    }
}

/// Addresses warmed in all (a few milliseconds of symbolizing): enough to
/// have read every module's symbols and inflated and indexed its debug
/// info, not so many that the symbolizing competes with the replay.
const WARM_ADDRESSES: usize = 4096;
/// Addresses warmed per module, so that one module's many stacks do not
/// take the whole budget before the others are seen.
const WARM_PER_MODULE: usize = 512;

enum Request {
    /// The trace (path, main executable) the next requests are about: a
    /// new one resets the symbolizer and what it remembers.
    Trace { path: String, exe: String },
    /// Symbolize and remember, unless the summary has begun.
    Warm(ModuleLoad, Vec<u64>),
    /// Symbolize (what was warmed is answered from memory).
    Symbolize(ModuleLoad, Vec<u64>),
    /// The warnings so far.
    Warnings,
}

enum Reply {
    Frames(Vec<Vec<Frame>>),
    Warnings(Vec<String>),
}

/// A [`TraceSymbolizer`] on a thread of its own, started with the program:
/// `heapwise run` hands it ([`Feeder`]) addresses of the stacks its
/// follower has replayed, so that by the program's end every module's
/// file is open, its symbols read and its debug info inflated and indexed
/// — work the end-of-run summary did after the program had ended (half of
/// sqlite's 30 ms of symbolizing was inflating the compressed DWARF of
/// libc6-dbg's `libc.so.6` debug file). blazesym's caches are not `Send`,
/// so the symbolizer stays on its thread and the summary asks it. If that
/// thread is gone (it cannot panic on a trace's content, but if it did),
/// the summary symbolizes on its own thread as before.
pub struct Warmed {
    requests: mpsc::Sender<Request>,
    replies: mpsc::Receiver<Reply>,
    /// Set when the summary begins: warming still queued is skipped.
    summary: Arc<AtomicBool>,
    fallback: Option<TraceSymbolizer>,
    exe: String,
}

/// The follower's side of a [`Warmed`] symbolizer (`Send`).
pub struct Feeder {
    requests: mpsc::Sender<Request>,
    /// The trace being fed, once its header was read.
    trace: Option<String>,
    /// Stack nodes looked at so far.
    nodes: usize,
    /// Addresses sent, per module id.
    sent: std::collections::HashMap<u32, HashSet<u64>>,
    budget: usize,
}

impl Warmed {
    /// The symbolizer's thread, and the feeder for the follower.
    pub fn start() -> (Warmed, Feeder) {
        let (requests, incoming) = mpsc::channel::<Request>();
        let (answers, replies) = mpsc::channel::<Reply>();
        let summary = Arc::new(AtomicBool::new(false));
        let begun = summary.clone();
        let spawned = std::thread::Builder::new()
            .name("heapwise-symbols".into())
            .spawn(move || serve(&incoming, &answers, &begun));
        let requests = match spawned {
            Ok(_) => requests,
            // No thread: every request fails and the summary falls back.
            Err(_) => mpsc::channel().0,
        };
        let feeder = Feeder {
            requests: requests.clone(),
            trace: None,
            nodes: 0,
            sent: Default::default(),
            budget: WARM_ADDRESSES,
        };
        let warmed = Warmed {
            requests,
            replies,
            summary,
            fallback: None,
            exe: String::new(),
        };
        (warmed, feeder)
    }

    /// Prepares to symbolize `analysis`'s stacks: stops the warming and
    /// makes sure the thread's symbolizer is for this trace.
    pub fn for_report(&mut self, analysis: &Analysis) -> &mut Warmed {
        self.summary.store(true, Ordering::Release);
        self.exe = analysis.header.exe.clone();
        let trace = Request::Trace {
            path: analysis.path.clone(),
            exe: analysis.header.exe.clone(),
        };
        if self.requests.send(trace).is_err() {
            self.fall_back();
        }
        self
    }

    fn fall_back(&mut self) -> &mut TraceSymbolizer {
        let exe = self.exe.clone();
        self.fallback
            .get_or_insert_with(|| TraceSymbolizer::for_exe(exe))
    }

    fn ask(&mut self, request: Request) -> Option<Reply> {
        if self.fallback.is_some() {
            return None;
        }
        self.requests.send(request).ok()?;
        self.replies.recv().ok()
    }
}

impl Symbolize for Warmed {
    fn symbolize(&mut self, module: &ModuleLoad, addresses: &[u64]) -> Vec<Vec<Frame>> {
        match self.ask(Request::Symbolize(module.clone(), addresses.to_vec())) {
            Some(Reply::Frames(frames)) if frames.len() == addresses.len() => frames,
            _ => self.fall_back().symbolize(module, addresses),
        }
    }
}

impl ReportSymbolizer for Warmed {
    fn said(&mut self) -> Vec<String> {
        let mut said = match self.ask(Request::Warnings) {
            Some(Reply::Warnings(said)) => said,
            _ => Vec::new(),
        };
        if let Some(fallback) = &self.fallback {
            said.extend(fallback.warnings());
        }
        said
    }
}

/// The symbolizer's thread: answers requests until the [`Warmed`] side is
/// dropped.
fn serve(incoming: &mpsc::Receiver<Request>, answers: &mpsc::Sender<Reply>, summary: &AtomicBool) {
    let mut trace = String::new();
    let mut symbolizer: Option<TraceSymbolizer> = None;
    // What was warmed: (module id, address) → frames.
    let mut known: std::collections::HashMap<(u32, u64), Vec<Frame>> = Default::default();
    while let Ok(request) = incoming.recv() {
        match request {
            Request::Trace { path, exe } => {
                if path != trace || symbolizer.is_none() {
                    trace = path;
                    known.clear();
                    symbolizer = Some(TraceSymbolizer::for_exe(exe));
                }
            }
            Request::Warm(module, addresses) => {
                let Some(symbolizer) = &mut symbolizer else {
                    continue;
                };
                if summary.load(Ordering::Acquire) {
                    continue;
                }
                let frames = symbolizer.symbolize(&module, &addresses);
                for (address, frames) in addresses.into_iter().zip(frames) {
                    known.insert((module.id, address), frames);
                }
            }
            Request::Symbolize(module, addresses) => {
                let symbolizer =
                    symbolizer.get_or_insert_with(|| TraceSymbolizer::for_exe(String::new()));
                let missing: Vec<u64> = addresses
                    .iter()
                    .copied()
                    .filter(|&a| !known.contains_key(&(module.id, a)))
                    .collect();
                let mut found = symbolizer.symbolize(&module, &missing).into_iter();
                let frames = addresses
                    .iter()
                    .map(|&a| match known.get(&(module.id, a)) {
                        Some(frames) => frames.clone(),
                        None => found.next().unwrap_or_default(),
                    })
                    .collect();
                if answers.send(Reply::Frames(frames)).is_err() {
                    return;
                }
            }
            Request::Warnings => {
                let said = symbolizer.as_ref().map_or_else(Vec::new, |s| s.warnings());
                if answers.send(Reply::Warnings(said)).is_err() {
                    return;
                }
            }
        }
    }
}

impl Feeder {
    /// Sends the symbolizer's thread addresses of the stacks replayed since
    /// the last call, a bounded number per module, to warm it with.
    pub fn feed(&mut self, analysis: &Analysis) {
        if self.budget == 0 {
            return;
        }
        if self.trace.as_deref() != Some(analysis.path.as_str()) {
            let trace = Request::Trace {
                path: analysis.path.clone(),
                exe: analysis.header.exe.clone(),
            };
            if self.requests.send(trace).is_err() {
                self.budget = 0;
                return;
            }
            self.trace = Some(analysis.path.clone());
            self.nodes = 0;
            self.sent.clear();
        }
        let modules = &analysis.replay.modules;
        let mut batches: std::collections::HashMap<usize, Vec<u64>> = Default::default();
        let stacks = &analysis.stacks;
        let end = stacks.len();
        // Node 0 is the empty stack.
        for node in self.nodes.max(1)..end {
            if self.budget == 0 {
                break;
            }
            let node = node as heapwise_trace::StackId;
            let ip = stacks.ip(node);
            // The module the report's `Resolver` will pick, so that what is
            // remembered is what it asks for.
            let Some(index) = heapwise_native::module_at(modules, ip, analysis.first_tick(node))
            else {
                continue;
            };
            let sent = self.sent.entry(modules[index].load.id).or_default();
            if sent.len() >= WARM_PER_MODULE || !sent.insert(ip) {
                continue;
            }
            batches.entry(index).or_default().push(ip);
            self.budget -= 1;
        }
        self.nodes = end;
        for (index, addresses) in batches {
            let warm = Request::Warm(modules[index].load.clone(), addresses);
            if self.requests.send(warm).is_err() {
                self.budget = 0;
                return;
            }
        }
    }
}
