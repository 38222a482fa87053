//! Adapts `heapwise-symbols` to the analysis' `Symbolize` trait.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

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
        let exe = analysis.header.exe.clone();
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
