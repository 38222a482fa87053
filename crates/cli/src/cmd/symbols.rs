//! Adapts `heapwise-symbols` to the analysis' `Symbolize` trait.

use std::path::PathBuf;

use heapwise_native::model::Frame;
use heapwise_native::{Analysis, Symbolize};
use heapwise_symbols::{Options, Symbolizer};
use heapwise_trace::ModuleLoad;

/// Symbolizes the addresses of one trace's modules.
pub struct TraceSymbolizer {
    inner: Symbolizer,
    exe: String,
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
        self.inner
            .symbolize(module, addresses)
            .into_iter()
            .map(|frames| {
                frames
                    .into_iter()
                    .map(|f| Frame {
                        function: f.function,
                        file: f.file,
                        line: f.line,
                        module: Some(if f.module.is_empty() {
                            self.exe.clone()
                        } else {
                            f.module
                        }),
                        address: format!("{:#x}", f.address),
                        inlined: f.inlined,
                    })
                    .collect()
            })
            .collect()
    }
}
