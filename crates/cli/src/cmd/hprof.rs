//! JVM heap dumps for `heapwise heap summary|diff|leaks`: which kind of
//! dump a file is (by its first bytes, never its name; gzip-compressed
//! HPROF dumps are recognised inside their compression) and loading HPROF
//! files with a progress bar. Glue only: the reading is `heapwise-hprof`'s.

use std::fs::File;
use std::path::Path;

use anyhow::{Context, Result, bail};
use heapwise_hprof::{ClassHistogram, Content, HprofGraph};

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use heapwise_hprof::attach::{self, AttachError};

use super::heap::{CapturePlan, capture_series, file_label, progress_bar};

/// The kinds of heap dump `heapwise heap` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DumpKind {
    /// A V8 `.heapsnapshot` (JSON).
    V8,
    /// A JVM HPROF dump.
    Hprof,
}

impl DumpKind {
    /// Recognises a dump by content: HPROF files start with `JAVA PROFILE 1.0.`,
    /// gzip-compressed or not; everything else is read as a V8 snapshot
    /// (whose reader says what is wrong).
    pub(crate) fn of(path: &Path) -> Result<DumpKind> {
        let file = File::open(path).with_context(|| format!("while reading {}", path.display()))?;
        match heapwise_hprof::content_of(file)
            .with_context(|| format!("while reading {}", path.display()))?
        {
            Content::Hprof { .. } => Ok(DumpKind::Hprof),
            Content::OtherCompressed => bail!(
                "{} is gzip-compressed but is not a JVM heap dump: heapwise reads HPROF dumps compressed or not, \
                 and V8 heap snapshots uncompressed (gunzip it first)",
                path.display()
            ),
            Content::Other => Ok(DumpKind::V8),
        }
    }

    /// The one kind all `paths` are, or an error naming the odd one out.
    pub(crate) fn of_all(paths: &[&Path]) -> Result<DumpKind> {
        let kinds = paths
            .iter()
            .map(|p| DumpKind::of(p))
            .collect::<Result<Vec<_>>>()?;
        let first = kinds[0];
        if let Some(at) = kinds.iter().position(|&k| k != first) {
            bail!(
                "{} is a {} but {} is a {}: compare dumps of one runtime, taken from one process",
                paths[0].display(),
                first.noun(),
                paths[at].display(),
                kinds[at].noun()
            );
        }
        Ok(first)
    }

    fn noun(self) -> &'static str {
        match self {
            DumpKind::V8 => "V8 heap snapshot",
            DumpKind::Hprof => "JVM heap dump (HPROF)",
        }
    }
}

fn read(path: &Path, label: &str) -> Result<heapwise_hprof::HprofDump> {
    let file =
        File::open(path).with_context(|| format!("while reading heap dump {}", path.display()))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = progress_bar(2 * len, &format!("{label} {}", file_label(path)));
    let mut report = |bytes: u64| bar.set_position(bytes);
    let dump = heapwise_hprof::read_dump(
        std::io::BufReader::with_capacity(0, file),
        Some(&mut report),
    )
    .with_context(|| format!("while reading heap dump {}", path.display()))?;
    bar.finish_and_clear();
    Ok(dump)
}

/// Reads a dump and builds its dominator tree (and, with `paths`, its shortest paths).
pub(crate) fn load_graph(path: &Path, paths: bool) -> Result<HprofGraph> {
    let dump = read(path, "reading")?;
    Ok(HprofGraph::build(dump, paths, None))
}

/// Reads a dump and keeps only its objects per class.
pub(crate) fn load_histogram(path: &Path) -> Result<ClassHistogram> {
    Ok(ClassHistogram::new(&read(path, "reading")?))
}

/// `capture --pid` on a JVM: dumps of live objects, one per `--interval`.
pub(crate) fn capture(
    pid: u32,
    plan: &CapturePlan,
    written: &mut dyn FnMut(&Path) -> std::io::Result<()>,
) -> Result<Vec<PathBuf>> {
    capture_series(plan, "hprof", written, &mut |path| dump_jvm(pid, path))
}

/// One dump of JVM `pid` into `path`: written by the JVM to `path.part`
/// (an absolute path: the JVM resolves it), then renamed.
fn dump_jvm(pid: u32, path: &Path) -> Result<()> {
    let path =
        std::path::absolute(path).with_context(|| format!("while resolving {}", path.display()))?;
    let mut partial = path.as_os_str().to_owned();
    partial.push(".part");
    let partial = PathBuf::from(partial);
    let _ = std::fs::remove_file(&partial);
    let result = match attach::heap_dump(pid, &partial, Duration::from_secs(10)) {
        Err(AttachError::NoListener { .. }) if jcmd_installed() => jcmd_dump(pid, &partial),
        other => other.map(|_| ()).map_err(anyhow::Error::from),
    };
    if let Err(err) = result {
        let _ = std::fs::remove_file(&partial);
        return Err(err).with_context(|| format!("while taking the heap dump {}", path.display()));
    }
    std::fs::rename(&partial, &path)
        .with_context(|| format!("while renaming {} to {}", partial.display(), path.display()))?;
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "heapwise: wrote {} ({})",
        path.display(),
        heapwise_words::bytes(size)
    );
    Ok(())
}

fn jcmd_installed() -> bool {
    Command::new("jcmd").arg("-h").output().is_ok()
}

/// The same dump through the JDK's `jcmd`, when heapwise's own attach could not.
fn jcmd_dump(pid: u32, path: &Path) -> Result<()> {
    let out = Command::new("jcmd")
        .arg(pid.to_string())
        .arg("GC.heap_dump")
        .arg(path)
        .output()
        .context("while running jcmd")?;
    let said = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || !said.contains("Heap dump file created") {
        bail!("jcmd {pid} GC.heap_dump failed: {}", said.trim());
    }
    Ok(())
}
