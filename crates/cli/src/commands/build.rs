//! `berth build` and `berth builder prune`: the build context and Dockerfile
//! gathered from the command line, the build's progress shown as BuildKit
//! shows it, Ctrl-C turned into a clean cancel.

use std::collections::HashMap;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use berth_engine::{BuildOptions, BuildProgress, Engine};

use crate::cli::{BuildArgs, BuildProgressMode, BuilderPruneArgs};

/// Set by SIGINT/SIGTERM while a build runs.
static CANCEL: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    CANCEL.store(true, Ordering::SeqCst);
}

fn catch_interrupts() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe; the sigaction struct is fully initialised.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaction(sig, &act, std::ptr::null_mut());
        }
    }
}

/// A directory removed when the build ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> anyhow::Result<TempDir> {
        let base = std::env::temp_dir();
        for n in 0..1000u32 {
            let p = base.join(format!("berth-build-{}-{n}", std::process::id()));
            match std::fs::create_dir(&p) {
                Ok(()) => return Ok(TempDir(p)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e).with_context(|| format!("creating {}", p.display())),
            }
        }
        bail!("no temporary directory for the build context")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Shows the build as BuildKit does: `plain` one line per event (`#2 [2/4]
/// RUN …`, its output, `#2 DONE 0.3s`), `tty` step lines with timings.
struct Display {
    tty: bool,
    start: Instant,
    state: Mutex<DisplayState>,
}

#[derive(Default)]
struct DisplayState {
    started: HashMap<usize, Instant>,
    partial: HashMap<usize, Vec<u8>>,
    cached: HashMap<usize, bool>,
}

impl Display {
    fn print(&self, line: &str) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{line}");
    }

    fn output_line(&self, n: usize, at: Duration, text: &str) {
        if self.tty {
            self.print(&format!(" => => # {text}"));
        } else {
            self.print(&format!("#{n} {:.3} {text}", at.as_secs_f64()));
        }
    }
}

impl BuildProgress for Display {
    fn step(&self, n: usize, title: &str) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.started.insert(n, Instant::now());
        drop(s);
        if self.tty {
            self.print(&format!(" => {title}"));
        } else {
            self.print(&format!("\n#{n} {title}"));
        }
    }

    fn cached(&self, n: usize) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.cached.insert(n, true);
        drop(s);
        if self.tty {
            self.print(" => => CACHED");
        } else {
            self.print(&format!("#{n} CACHED"));
        }
    }

    fn output(&self, n: usize, data: &[u8]) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let at = s.started.get(&n).map(|t| t.elapsed()).unwrap_or_default();
        let buf = s.partial.entry(n).or_default();
        buf.extend_from_slice(data);
        let mut lines = Vec::new();
        while let Some(i) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=i).collect();
            lines.push(String::from_utf8_lossy(&line[..line.len() - 1]).into_owned());
        }
        drop(s);
        for l in lines {
            self.output_line(n, at, l.trim_end_matches('\r'));
        }
    }

    fn done(&self, n: usize, elapsed: Duration) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let rest = s.partial.remove(&n).filter(|b| !b.is_empty());
        let cached = s.cached.get(&n).copied().unwrap_or(false);
        drop(s);
        if let Some(rest) = rest {
            self.output_line(n, elapsed, &String::from_utf8_lossy(&rest));
        }
        if cached {
            return;
        }
        if self.tty {
            self.print(&format!(" => => done {:.1}s", elapsed.as_secs_f64()));
        } else {
            self.print(&format!("#{n} DONE {:.1}s", elapsed.as_secs_f64()));
        }
    }

    fn warning(&self, text: &str) {
        self.print(text);
    }
}

/// `KEY=VALUE` pairs; a bare `KEY` takes the environment's value (and is
/// dropped when it has none), as docker's `--build-arg` does.
fn key_values(
    list: &[String],
    from_env: bool,
    what: &str,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for item in list {
        match item.split_once('=') {
            Some((k, v)) if !k.is_empty() => out.push((k.to_string(), v.to_string())),
            None if from_env => {
                if let Ok(v) = std::env::var(item) {
                    out.push((item.clone(), v));
                }
            }
            _ => bail!("invalid {what} {item:?}: expected KEY=VALUE"),
        }
    }
    Ok(out)
}

fn read_file(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("reading the Dockerfile {}", path.display()))
}

pub fn build(engine: &Engine, a: BuildArgs) -> anyhow::Result<()> {
    if let Some(p) = &a.platform
        && p != "linux/amd64"
        && !(p == "linux/x86_64" || p == "amd64")
    {
        bail!("berth builds for this host's platform only (linux/amd64), not {p}");
    }
    let mut temp = None;
    let mut stdin_used = false;
    let mut stdin_dockerfile = None;
    let context: PathBuf = if a.context == "-" {
        stdin_used = true;
        let mut data = Vec::new();
        std::io::stdin()
            .read_to_end(&mut data)
            .context("reading the build context from stdin")?;
        let dir = TempDir::new()?;
        if berth_engine::is_tar_archive(data.as_slice()) {
            engine.unpack_context(data.as_slice(), &dir.0, None)?;
        } else {
            stdin_dockerfile =
                Some(String::from_utf8(data).context("the Dockerfile on stdin is not UTF-8")?);
        }
        let p = dir.0.clone();
        temp = Some(dir);
        p
    } else if berth_engine::is_url(&a.context) {
        let dir = TempDir::new()?;
        engine
            .fetch_build_context(&a.context, &dir.0)
            .with_context(|| format!("fetching the build context {}", a.context))?;
        let p = dir.0.clone();
        temp = Some(dir);
        p
    } else {
        let p = PathBuf::from(&a.context);
        if !p.is_dir() {
            bail!("unable to prepare context: path {:?} not found", a.context);
        }
        std::fs::canonicalize(&p).with_context(|| format!("the build context {}", p.display()))?
    };
    // The Dockerfile: -f (relative to here for a directory context, to the
    // context's root for an archive), stdin, or the context's Dockerfile.
    let (dockerfile, dockerfile_path) = match (a.file.as_deref(), stdin_dockerfile) {
        (Some("-"), _) => {
            if stdin_used {
                bail!("the context and the Dockerfile cannot both come from stdin");
            }
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading the Dockerfile from stdin")?;
            (text, None)
        }
        (None, Some(text)) => (text, None),
        (Some(f), _) => {
            let p = if temp.is_some() {
                context.join(f)
            } else {
                PathBuf::from(f)
            };
            (read_file(&p)?, Some(p))
        }
        (None, None) => {
            let p = context.join("Dockerfile");
            let p = if p.exists() {
                p
            } else {
                context.join("dockerfile")
            };
            (read_file(&p)?, Some(p))
        }
    };
    // BuildKit reads <Dockerfile>.dockerignore first, then the context's.
    let dockerignore = dockerfile_path
        .as_ref()
        .map(|p| PathBuf::from(format!("{}.dockerignore", p.display())))
        .into_iter()
        .chain([context.join(".dockerignore")])
        .find_map(|p| std::fs::read_to_string(p).ok());

    let mut opts = BuildOptions::default();
    opts.context = context;
    opts.dockerfile = dockerfile;
    opts.dockerignore = dockerignore;
    opts.tags = a.tag.clone();
    opts.build_args = key_values(&a.build_arg, true, "--build-arg")?;
    opts.target = a.target.clone();
    opts.no_cache = a.no_cache;
    opts.pull = a.pull;
    opts.labels = key_values(&a.label, false, "--label")?;
    opts.network = a.network.clone();

    let tty = match a.progress {
        BuildProgressMode::Auto => std::io::stderr().is_terminal(),
        BuildProgressMode::Tty => true,
        BuildProgressMode::Plain => false,
    };
    let display = Display {
        tty,
        start: Instant::now(),
        state: Mutex::new(DisplayState::default()),
    };
    struct Quiet;
    impl BuildProgress for Quiet {}
    let progress: &dyn BuildProgress = if a.quiet { &Quiet } else { &display };
    catch_interrupts();
    let id = engine.build(&opts, progress, &CANCEL)?;
    drop(temp);
    if let Some(f) = &a.iidfile {
        std::fs::write(f, id.to_string()).with_context(|| format!("writing {}", f.display()))?;
    }
    if a.quiet {
        println!("{id}");
        return Ok(());
    }
    let total = display.start.elapsed().as_secs_f64();
    if tty {
        display.print(" => exporting to image");
        display.print(&format!(" => => writing image {id}"));
        for t in &opts.tags {
            display.print(&format!(" => => naming to {}", full_name(t)));
        }
        display.print(&format!("[+] Building {total:.1}s FINISHED"));
    } else {
        display.print("\n#0 exporting to image");
        display.print(&format!("#0 writing image {id} done"));
        for t in &opts.tags {
            display.print(&format!("#0 naming to {} done", full_name(t)));
        }
        display.print(&format!("#0 DONE {total:.1}s"));
    }
    Ok(())
}

fn full_name(tag: &str) -> String {
    berth_oci::Reference::parse(tag)
        .map(|r| r.with_default_tag().to_string())
        .unwrap_or_else(|_| tag.to_string())
}

pub fn prune(engine: &Engine, _a: BuilderPruneArgs) -> anyhow::Result<()> {
    let (entries, bytes) = engine.prune_build_cache()?;
    println!(
        "Deleted build cache objects: {entries}\nTotal reclaimed space: {}",
        berth_engine::human_size(bytes)
    );
    Ok(())
}
