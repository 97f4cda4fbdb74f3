//! `berth build`: a Dockerfile's stages run in order, each step on the
//! snapshot the one before left; RUN in a real container, COPY and ADD into a
//! mounted snapshot; each step's layer committed as its chain's snapshot (no
//! re-extraction) and recorded in the build cache under a key made of its
//! parent's key, its instruction after substitution and, for COPY and ADD, the
//! digest of what it copies. A rebuild of what did not change only hashes.

pub(crate) mod changes;
pub(crate) mod copy;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use berth_build::dockerfile::{Line, parse_line};
use berth_build::ignore::Ignore;
use berth_build::instruction::{Command, join_workdir, shell_of};
use berth_build::plan::{self, Plan, Scope, Stage};
use berth_build::{Expander, apply_metadata};
use berth_layer::diff::{Change, ChangeKind};
use berth_layer::tree::{Entry, EntryKind, Owner, write_entries};
use berth_oci::image::Descriptor;
use berth_oci::image::{History, ImageConfig, Platform, RootFs, RunConfig};
use berth_oci::{ChainId, Digest, Hasher, Reference, chain_id, chain_ids, media};
use berth_runtime::attach::{kind, read_frame};
use berth_snapshot::mount::{mount_all, unmount_if_mounted};
use berth_store::db::{BuildLayer, BuildStep, LayerRecord};

use crate::containers::{Base, CreateOptions};
use crate::images::import::descriptor;
use crate::keys::{self, Purpose};
use crate::layers::unpack::LayerBlob;
use crate::{Engine, Error, NoProgress, PullOptions, Result, is_url};

/// What `berth build` was asked.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct BuildOptions {
    /// The build context: a directory.
    pub context: PathBuf,
    /// The Dockerfile's text.
    pub dockerfile: String,
    /// The `.dockerignore` text, if any.
    pub dockerignore: Option<String>,
    /// `-t`.
    pub tags: Vec<String>,
    /// `--build-arg K=V`.
    pub build_args: Vec<(String, String)>,
    /// `--target`.
    pub target: Option<String>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--pull`: fetch base images even when present.
    pub pull: bool,
    /// `--label` for the final image.
    pub labels: Vec<(String, String)>,
    /// `--network` for RUN steps: the default bridge when absent, host or none.
    pub network: Option<String>,
    /// Credentials for the registries FROM pulls from, by host (`docker.io`
    /// for Docker Hub): a daemon client's `X-Registry-Config`. A registry
    /// not named here is pulled from with the stored login.
    pub credentials: std::collections::BTreeMap<String, berth_oci::auth::Credentials>,
}

/// What a build tells the user as it goes. Steps are numbered from 1.
pub trait BuildProgress: Send + Sync {
    /// A step starts.
    fn step(&self, _n: usize, _title: &str) {}
    /// The step's result came from the cache.
    fn cached(&self, _n: usize) {}
    /// Output of a RUN step.
    fn output(&self, _n: usize, _data: &[u8]) {}
    /// The step ended.
    fn done(&self, _n: usize, _elapsed: Duration) {}
    /// A warning.
    fn warning(&self, _text: &str) {}
}

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Mount points the runtime creates in a RUN's root when missing; a step's
/// layer must not keep them.
const STUB_FILES: &[&str] = &["etc/hosts", "etc/hostname", "etc/resolv.conf"];
const STUB_DIRS: &[&str] = &["dev", "proc", "sys", "etc"];

/// A stage's image as it builds.
#[derive(Clone)]
struct State {
    config: ImageConfig,
    layers: Vec<Descriptor>,
    /// The image recorded for its containers (the base image's ID).
    base: Digest,
    key: Digest,
    args: BTreeMap<String, Option<String>>,
    cmd_set: bool,
}

impl State {
    fn run(&self) -> &RunConfig {
        static EMPTY: std::sync::OnceLock<RunConfig> = std::sync::OnceLock::new();
        self.config
            .config
            .as_ref()
            .unwrap_or_else(|| EMPTY.get_or_init(RunConfig::default))
    }

    fn run_mut(&mut self) -> &mut RunConfig {
        self.config.config.get_or_insert_with(RunConfig::default)
    }

    fn top(&self) -> Option<ChainId> {
        chain_ids(&self.config.rootfs.diff_ids).pop()
    }

    fn env(&self) -> &[String] {
        self.run().env.as_deref().unwrap_or_default()
    }

    /// A variable's value in the stage (ENV wins over ARG).
    fn lookup(&self, name: &str) -> Option<String> {
        plan::lookup(self.env(), &self.args, name)
    }

    fn history(&mut self, created: &str, created_by: String, empty_layer: bool) {
        self.config.created = Some(created.to_string());
        self.config.history.push(History {
            created: Some(created.to_string()),
            created_by: Some(created_by),
            author: None,
            comment: None,
            empty_layer,
        });
    }
}

/// The build's fixed inputs.
struct Run<'a> {
    opts: &'a BuildOptions,
    progress: &'a dyn BuildProgress,
    cancel: &'a AtomicBool,
    plan: &'a Plan,
    ignore: Option<Ignore>,
    build_args: BTreeMap<String, String>,
    used_args: std::cell::RefCell<HashSet<String>>,
    step: std::cell::Cell<usize>,
}

impl Engine {
    /// Builds the Dockerfile in `opts`; returns the image ID. Cancelled when
    /// `cancel` turns true (a RUN's container is killed, nothing is left).
    pub fn build(
        &self,
        opts: &BuildOptions,
        progress: &dyn BuildProgress,
        cancel: &AtomicBool,
    ) -> Result<Digest> {
        let df = berth_build::parse(&opts.dockerfile)?;
        let tags = opts
            .tags
            .iter()
            .map(|t| Reference::parse(t).map(Reference::with_default_tag))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let build_args: BTreeMap<String, String> = opts.build_args.iter().cloned().collect();
        let plan = Plan::new(df, &build_args, opts.target.as_deref(), &Platform::host())?;
        let run = Run {
            opts,
            progress,
            cancel,
            plan: &plan,
            ignore: opts.dockerignore.as_deref().map(Ignore::parse),
            build_args,
            used_args: std::cell::RefCell::new(plan.used_args.clone()),
            step: std::cell::Cell::new(0),
        };
        let mut built: HashMap<usize, State> = HashMap::new();
        for &i in &plan.needed {
            if cancel.load(Ordering::SeqCst) {
                return Err(Error::Canceled("build".into()));
            }
            let state = self.build_stage(&run, &plan.stages[i], &built)?;
            built.insert(i, state);
        }
        let unused = plan::unused_build_args(&run.build_args, &run.used_args.borrow());
        if !unused.is_empty() {
            progress.warning(&format!(
                "[Warning] One or more build-args [{}] were not consumed",
                unused.join(" ")
            ));
        }
        let state = built
            .remove(&plan.target)
            .ok_or_else(|| Error::Invariant("the target stage was not built"))?;
        self.write_built_image(state, opts, &tags)
    }

    /// The base image of a FROM: in the store, else pulled.
    fn base_image(&self, run: &Run<'_>, name: &str) -> Result<crate::Image> {
        let present = self.resolve(name);
        if present.is_ok() && !run.opts.pull {
            return present;
        }
        let mut pull = PullOptions::default();
        if let Ok(reference) = Reference::parse(name) {
            pull.credentials = run.opts.credentials.get(reference.domain()).cloned();
        }
        match self.pull(name, &pull, &NoProgress) {
            Ok(_) => self.resolve(name),
            // --pull with the image here and no registry: use what is here.
            Err(e) => present.map_err(|_| e),
        }
    }

    fn build_stage(
        &self,
        run: &Run<'_>,
        stage: &Stage,
        built: &HashMap<usize, State>,
    ) -> Result<State> {
        let total = stage.lines.len() + 1;
        let label = run.plan.label(stage);
        let title = |i: usize, l: &Line| {
            let flags: String = l.flags.iter().map(|f| format!("--{f} ")).collect();
            format!("[{label}{i}/{total}] {} {flags}{}", l.keyword, l.args)
        };
        let n = self.next_step(run, &title(1, &stage.from));
        let started = Instant::now();
        let mut state = self.base_step(run, stage, built)?;
        run.progress.done(n, started.elapsed());
        // The base image's ONBUILD triggers run first, and go no further.
        let triggers = state.run_mut().on_build.take().unwrap_or_default();
        // Refused before any step runs when the stage would end with too many layers.
        let added = stage
            .lines
            .iter()
            .filter(|l| plan::makes_layer(&l.keyword))
            .count()
            + triggers
                .iter()
                .filter(|t| t.split_whitespace().next().is_some_and(plan::makes_layer))
                .count();
        crate::images::catalog::check_layer_count("being built", state.layers.len() + added)
            .map_err(|e| Error::Build {
                line: stage.from.line,
                message: e.to_string(),
            })?;
        for t in triggers {
            let line = parse_line(&t, stage.from.line)?;
            let n = self.next_step(run, &format!("[{label}1/{total}] ONBUILD {t}"));
            let started = Instant::now();
            self.step(run, &mut state, &line, n, built)?;
            run.progress.done(n, started.elapsed());
        }
        for (i, line) in stage.lines.iter().enumerate() {
            if run.cancel.load(Ordering::SeqCst) {
                return Err(Error::Canceled("build".into()));
            }
            let n = self.next_step(run, &title(i + 2, line));
            let started = Instant::now();
            self.step(run, &mut state, line, n, built)?;
            run.progress.done(n, started.elapsed());
        }
        Ok(state)
    }

    fn next_step(&self, run: &Run<'_>, title: &str) -> usize {
        let n = run.step.get() + 1;
        run.step.set(n);
        run.progress.step(n, title);
        n
    }

    fn base_step(
        &self,
        run: &Run<'_>,
        stage: &Stage,
        built: &HashMap<usize, State>,
    ) -> Result<State> {
        let line = stage.from.line;
        let lookup = |n: &str| run.plan.meta_value(n);
        let ex = Expander::new(&lookup, run.plan.escape);
        let Command::From { image, .. } = stage.from.command()?.expand(&ex, line)? else {
            return Err(Error::Build {
                line,
                message: "not a FROM".into(),
            });
        };
        let fresh = |config: ImageConfig, layers, base: Digest| {
            let key = plan::cache_key(&base, &[plan::CACHE_VERSION, "FROM"]);
            State {
                config,
                layers,
                base,
                key,
                args: BTreeMap::new(),
                cmd_set: false,
            }
        };
        let mut state = if image.eq_ignore_ascii_case("scratch") {
            let host = Platform::host();
            let config = ImageConfig {
                architecture: host.architecture,
                os: host.os,
                variant: host.variant,
                config: Some(RunConfig::default()),
                rootfs: RootFs {
                    kind: "layers".into(),
                    diff_ids: Vec::new(),
                },
                ..Default::default()
            };
            fresh(config, Vec::new(), Hasher::new().finish())
        } else if let Some(i) = run.plan.stage_ref(&image, stage.index) {
            let mut s = built.get(&i).cloned().ok_or_else(|| Error::Build {
                line,
                message: format!("stage {image:?} was not built"),
            })?;
            s.args.clear();
            s.cmd_set = false;
            s.key = plan::cache_key(&s.key, &["FROM stage"]);
            s
        } else {
            let img = self.base_image(run, &image).map_err(|e| Error::Build {
                line,
                message: format!("FROM {image}: {e}"),
            })?;
            self.ensure_unpacked(&img)?;
            let (_, manifest) = self.manifest_of(&img)?;
            let (_, mut config) = self.config_of(&img)?;
            // Docker's own fields of the base (container, comment, …) are the
            // base's story, not this image's; BuildKit drops them too.
            config.extra.clear();
            fresh(config, manifest.layers.clone(), img.id.clone())
        };
        let run_config = state.run_mut();
        let env = run_config.env.get_or_insert_with(Vec::new);
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.insert(0, DEFAULT_PATH.to_string());
        }
        Ok(state)
    }

    fn step(
        &self,
        run: &Run<'_>,
        state: &mut State,
        line: &Line,
        n: usize,
        built: &HashMap<usize, State>,
    ) -> Result<()> {
        let at = |message: String| Error::Build {
            line: line.line,
            message,
        };
        let command = line.command()?;
        if let Command::Arg(kv) = &command {
            for (k, default) in kv {
                let s = &*state;
                let scope = |name: &str| s.lookup(name);
                let value = plan::arg_value(
                    k,
                    default.as_deref(),
                    &run.build_args,
                    &scope,
                    run.plan,
                    line.line,
                )?;
                run.used_args.borrow_mut().insert(k.clone());
                state.args.insert(k.clone(), value);
            }
            return Ok(());
        }
        let expanded = {
            let s = &*state;
            let lookup = |name: &str| s.lookup(name);
            command.expand(&Expander::new(&lookup, run.plan.escape), line.line)?
        };
        let shell = shell_of(state.run());
        match &expanded {
            Command::From { .. } => Err(at("FROM inside a stage".into())),
            Command::Run {
                form,
                heredocs,
                network,
            } => {
                let planned = plan::run_step(
                    form,
                    heredocs,
                    Scope {
                        shell: &shell,
                        args: &state.args,
                        env: state.env(),
                    },
                    &run.build_args,
                    network.clone().or_else(|| run.opts.network.clone()),
                    &state.key,
                );
                let mut config = state.run().clone();
                config.env.get_or_insert_with(Vec::new).extend(planned.env);
                let base = state.base.clone();
                let (argv, network) = (planned.argv, planned.network);
                self.layer_step(
                    run,
                    state,
                    n,
                    planned.key,
                    planned.created_by,
                    |engine, parent| {
                        let base = Base {
                            image: base,
                            config,
                            top: parent.cloned(),
                            init_layer: false,
                        };
                        engine.run_step(run, base, parent, argv, network, n, line.line)
                    },
                )
            }
            Command::Copy { .. } => self.copy_step(run, state, &expanded, line, n, built),
            Command::Maintainer(m) => {
                state.config.author = Some(m.clone());
                self.metadata_step(run, state, &expanded, n)
            }
            _ => {
                let mut cmd_set = state.cmd_set;
                apply_metadata(state.run_mut(), &expanded, &shell, &mut cmd_set, line.line)?;
                state.cmd_set = cmd_set;
                self.metadata_step(run, state, &expanded, n)
            }
        }
    }

    /// A step that only changes the config: its history entry, with the time
    /// of the first build that made it (so an unchanged rebuild is the same
    /// image).
    fn metadata_step(
        &self,
        run: &Run<'_>,
        state: &mut State,
        cmd: &Command,
        n: usize,
    ) -> Result<()> {
        let text = plan::instruction_text(cmd, &shell_of(state.run()));
        let key = plan::cache_key(&state.key, &[&text]);
        let created = match self.cached_step(run, &key)? {
            Some(step) => {
                run.progress.cached(n);
                step.created
            }
            None => {
                let created = crate::rfc3339_now();
                self.db.put_build_step(&BuildStep {
                    key: key.clone(),
                    created: created.clone(),
                    layer: None,
                })?;
                created
            }
        };
        state.key = key;
        state.history(&created, format!("/bin/sh -c #(nop)  {text}"), true);
        Ok(())
    }

    fn cached_step(&self, run: &Run<'_>, key: &Digest) -> Result<Option<BuildStep>> {
        if run.opts.no_cache {
            return Ok(None);
        }
        Ok(self.db.build_step(key)?)
    }

    /// A step that makes a layer: from the cache when its key is there and its
    /// blob still is, else by `make` (given the parent chain). The GC lock is
    /// held shared from the layer's making to its cache row.
    fn layer_step(
        &self,
        run: &Run<'_>,
        state: &mut State,
        n: usize,
        key: Digest,
        created_by: String,
        make: impl FnOnce(&Engine, Option<&ChainId>) -> Result<BuildLayer>,
    ) -> Result<()> {
        let _guard = self.gc.shared()?;
        let cached = self.cached_step(run, &key)?.filter(|s| {
            s.layer
                .as_ref()
                .is_some_and(|l| self.blobs.size(&l.blob).is_ok())
        });
        let (created, layer) = match cached {
            Some(BuildStep {
                created,
                layer: Some(layer),
                ..
            }) => {
                run.progress.cached(n);
                (created, layer)
            }
            _ => {
                let parent = state.top();
                let layer = make(self, parent.as_ref())?;
                let created = crate::rfc3339_now();
                self.db.put_build_step(&BuildStep {
                    key: key.clone(),
                    created: created.clone(),
                    layer: Some(layer.clone()),
                })?;
                (created, layer)
            }
        };
        state.key = key;
        state.config.rootfs.diff_ids.push(layer.diff_id.clone());
        state.layers.push(descriptor(
            media::OCI_LAYER_GZIP,
            layer.blob.clone(),
            layer.blob_size,
        ));
        state.history(&created, created_by, false);
        // A cached layer whose snapshot went (a new storage driver): extract it.
        if self
            .snapshotter()?
            .stat(&keys::layer(&layer.chain))
            .is_err()
        {
            let layers: Vec<LayerBlob> = state
                .layers
                .iter()
                .zip(&state.config.rootfs.diff_ids)
                .map(|(l, d)| LayerBlob {
                    blob: l.digest.clone(),
                    diff_id: d.clone(),
                    pending: None,
                })
                .collect();
            self.unpack(&layers, &NoProgress)?;
        }
        Ok(())
    }

    /// Turns the active snapshot `key` into the layer on `parent`: its changes
    /// as a blob, the snapshot committed under the new chain ID. With
    /// `drop_stubs`, the mount points a RUN's runtime made go first.
    fn commit_step_layer(
        &self,
        key: &str,
        parent: Option<&ChainId>,
        drop_stubs: bool,
    ) -> Result<BuildLayer> {
        let source = self.change_source(key)?;
        let dir = source.dir().to_path_buf();
        let mut changes: Vec<Change> = Vec::new();
        source
            .each(&mut |c| {
                changes.push(c);
                Ok(())
            })
            .map_err(Error::io(dir.display()))?;
        if drop_stubs {
            remove_stubs(&dir, &mut changes).map_err(Error::io(dir.display()))?;
        }
        let written = self.write_layer_blob(
            &dir,
            &|each| changes.iter().cloned().try_for_each(&mut *each),
            None,
        )?;
        let chain = chain_id(parent, &written.diff_id);
        let snap = self.snapshotter()?;
        match snap.commit(&keys::layer(&chain), key) {
            Ok(()) => {}
            Err(e) if e.kind() == berth_oci::Kind::AlreadyExists => snap.remove(key)?,
            Err(e) => return Err(e.into()),
        }
        self.db.put_layer(&LayerRecord {
            chain: chain.clone(),
            diff_id: written.diff_id.clone(),
            size: written.size,
        })?;
        Ok(BuildLayer {
            blob: written.blob,
            diff_id: written.diff_id,
            blob_size: written.blob_size,
            chain,
        })
    }

    /// RUN: a container on the parent snapshot, its output to the progress,
    /// its layer committed when it exits 0.
    #[allow(clippy::too_many_arguments)]
    fn run_step(
        &self,
        run: &Run<'_>,
        base: Base,
        parent: Option<&ChainId>,
        argv: Vec<String>,
        network: Option<String>,
        n: usize,
        line: usize,
    ) -> Result<BuildLayer> {
        let opts = CreateOptions {
            cmd: argv.clone(),
            entrypoint: Some(String::new()),
            network,
            ..Default::default()
        };
        let id = self.create_from(&opts, &base)?;
        let outcome = self.run_attached(run, &id, n);
        let fail = |message: String| Error::Build { line, message };
        let code = match outcome {
            Ok(code) => code,
            Err(e) => {
                let _ = self.remove_container(&id, true);
                return Err(e);
            }
        };
        if code != 0 {
            let _ = self.remove_container(&id, true);
            return Err(fail(format!(
                "process {:?} did not complete successfully: exit code: {code}",
                argv.join(" ")
            )));
        }
        self.consume_container(&id, |key| self.commit_step_layer(key, parent, true))
    }

    /// Starts the container attached; relays its output until it exits.
    fn run_attached(&self, run: &Run<'_>, id: &str, n: usize) -> Result<i32> {
        let started = self.start_container(id, true)?;
        let Some(stream) = started.attach else {
            return Err(Error::Invariant(
                "a build step started without its attach stream",
            ));
        };
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .map_err(Error::io("attach"))?;
        let mut reader: &UnixStream = &stream;
        let mut killed = false;
        loop {
            if run.cancel.load(Ordering::SeqCst) && !killed {
                killed = true;
                let _ = self.kill_container(id, "KILL");
            }
            match read_frame(&mut reader) {
                Ok(Some((kind::STDOUT | kind::STDERR, data))) => run.progress.output(n, &data),
                Ok(Some((kind::EXIT, data))) if data.len() == 4 => {
                    if killed {
                        return Err(Error::Canceled("build".into()));
                    }
                    return Ok(i32::from_be_bytes([data[0], data[1], data[2], data[3]]));
                }
                Ok(Some(_)) => {}
                Ok(None) => {
                    return Err(Error::ContainerVanished(id[..12].to_string()));
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(Error::io("attach")(e)),
            }
        }
    }

    /// COPY and ADD.
    fn copy_step(
        &self,
        run: &Run<'_>,
        state: &mut State,
        cmd: &Command,
        line: &Line,
        n: usize,
        built: &HashMap<usize, State>,
    ) -> Result<()> {
        let Command::Copy {
            add,
            sources,
            dest,
            from,
            chown,
            chmod,
            checksum,
            heredocs,
        } = cmd
        else {
            return Ok(());
        };
        let at = |message: String| Error::Build {
            line: line.line,
            message: format!("{}: {message}", line.keyword),
        };
        let workdir = state
            .run()
            .working_dir
            .clone()
            .unwrap_or_else(|| "/".into());
        let mut dest_abs = join_workdir(&workdir, dest);
        if (dest.ends_with('/') || dest == "." || dest.ends_with("/.")) && dest_abs != "/" {
            dest_abs.push('/');
        }
        let mode = chmod
            .as_deref()
            .map(|m| u32::from_str_radix(m, 8).map_err(|_| at(format!("invalid chmod {m:?}"))))
            .transpose()?;
        // Where the sources come from: the context, another stage, an image.
        let mut view: Option<View<'_>> = None;
        let src_root: PathBuf = match from {
            None => run.opts.context.clone(),
            Some(f) => {
                let top = match run.plan.stage_ref(f, usize::MAX) {
                    Some(i) => built
                        .get(&i)
                        .ok_or_else(|| at(format!("stage {f:?} is not built before this one")))?
                        .top(),
                    None => {
                        let img = self.base_image(run, f).map_err(|e| at(e.to_string()))?;
                        self.ensure_unpacked(&img)?.pop()
                    }
                };
                let v = self.view(top.as_ref())?;
                let p = v.path.clone();
                view = Some(v);
                p
            }
        };
        let heredoc_names: HashSet<&str> = heredocs.iter().map(|h| h.name.as_str()).collect();
        let mut items = Vec::new();
        let mut archives = Vec::new();
        let mut file_sources = Vec::new();
        for s in sources {
            if let Some(h) = heredocs.iter().find(|h| &h.name == s) {
                let dst = if dest_abs.ends_with('/') {
                    format!("{dest_abs}{}", h.name)
                } else {
                    dest_abs.clone()
                };
                items.push(Entry {
                    src: None,
                    dst,
                    kind: EntryKind::Data(h.body.clone().into_bytes()),
                    mode: 0o644,
                    mtime: 0,
                });
            } else if *add && is_url(s) {
                let data = fetch_url(s, checksum.as_deref()).map_err(&at)?;
                let name = s
                    .split(['?', '#'])
                    .next()
                    .and_then(|u| u.rsplit('/').next())
                    .filter(|n| !n.is_empty())
                    .unwrap_or("download")
                    .to_string();
                let dst = if dest_abs.ends_with('/') {
                    format!("{dest_abs}{name}")
                } else {
                    dest_abs.clone()
                };
                items.push(Entry {
                    src: None,
                    dst,
                    kind: EntryKind::Data(data),
                    mode: 0o600,
                    mtime: 0,
                });
            } else if !heredoc_names.contains(s.as_str()) {
                file_sources.push(s.clone());
            }
        }
        if *add && checksum.is_some() && !file_sources.is_empty() {
            return Err(at("--checksum is only for URL sources".into()));
        }
        let ignore = if from.is_none() {
            run.ignore.as_ref()
        } else {
            None
        };
        if !file_sources.is_empty() {
            let mut planned =
                copy::plan(&src_root, &file_sources, &dest_abs, &|| false, ignore).map_err(&at)?;
            if *add {
                // Local archives are unpacked into the destination, not copied.
                planned.retain(|i| {
                    let is_archive = i.kind == EntryKind::File
                        && i.src
                            .as_deref()
                            .and_then(|p| std::fs::File::open(p).ok())
                            .is_some_and(is_tar_archive);
                    if is_archive {
                        archives.push(i.clone());
                    }
                    !is_archive
                });
            }
            items.extend(planned);
        }
        let many_sources = sources.len() > 1;
        let digest = copy::digest(&items).map_err(|e| at(e.to_string()))?;
        let archive_digest = copy::digest(&archives).map_err(|e| at(e.to_string()))?;
        let text = format!(
            "{} {}{}",
            line.keyword,
            line.flags
                .iter()
                .map(|f| format!("--{f} "))
                .collect::<String>(),
            sources
                .iter()
                .chain(std::iter::once(dest))
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")
        );
        let key = plan::cache_key(&state.key, &[&text, &dest_abs, &digest, &archive_digest]);
        let ctx_root = src_root.clone();
        let user = chown.clone();
        let result = self.layer_step(run, state, n, key, text, |engine, parent| {
            engine.copy_into_snapshot(parent, |root| {
                let (uid, gid) = match &user {
                    Some(u) => {
                        let r =
                            berth_runtime::user::resolve(root, u).map_err(|e| at(e.to_string()))?;
                        (r.uid, r.gid)
                    }
                    None => (0, 0),
                };
                let o = Owner { uid, gid, mode };
                // Now that the root is here, a destination that is a directory
                // there takes the file under its own name.
                let dest_dir =
                    || berth_layer::root::resolve(root, &dest_abs, true).is_ok_and(|p| p.is_dir());
                let mut final_items = items.clone();
                if !file_sources.is_empty()
                    && !many_sources
                    && !dest_abs.ends_with('/')
                    && dest_dir()
                {
                    let planned = copy::plan(
                        &ctx_root,
                        &file_sources,
                        &format!("{dest_abs}/"),
                        &|| true,
                        ignore,
                    )
                    .map_err(&at)?;
                    final_items.retain(|i| i.src.is_none());
                    final_items.extend(
                        planned
                            .into_iter()
                            .filter(|i| !archives.iter().any(|a| a.src == i.src)),
                    );
                }
                write_entries(root, &final_items, o).map_err(|e| at(e.to_string()))?;
                for a in &archives {
                    let Some(src) = &a.src else { continue };
                    let dir = dest_abs.trim_end_matches('/');
                    let dir = if dir.is_empty() { "/" } else { dir };
                    write_entries(
                        root,
                        &[Entry {
                            src: None,
                            dst: dir.to_string(),
                            kind: EntryKind::Dir,
                            mode: 0o755,
                            mtime: 0,
                        }],
                        o,
                    )
                    .map_err(|e| at(e.to_string()))?;
                    let target = berth_layer::root::resolve(root, dir, true)
                        .map_err(|e| at(e.to_string()))?;
                    engine
                        .extract_archive(src, &target)
                        .map_err(|e| at(e.to_string()))?;
                }
                Ok(())
            })
        });
        drop(view);
        result
    }

    /// Prepares a snapshot on `parent`, mounts it, lets `fill` write into it,
    /// and commits it as the next layer.
    fn copy_into_snapshot(
        &self,
        parent: Option<&ChainId>,
        fill: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<BuildLayer> {
        let snap = self.snapshotter()?;
        let key = keys::extract(Purpose::BuildStep);
        let mounts = snap.prepare(&key, parent.map(keys::layer).as_deref())?;
        let target = self.paths.build_mount(&key);
        let filled = std::fs::create_dir_all(&target)
            .map_err(Error::io(target.display()))
            .and_then(|()| Ok(mount_all(&mounts, &target)?))
            .and_then(|()| {
                let r = fill(&target);
                unmount_if_mounted(&target)?;
                r
            });
        let _ = std::fs::remove_dir(&target);
        match filled.and_then(|()| self.commit_step_layer(&key, parent, false)) {
            Ok(l) => Ok(l),
            Err(e) => {
                let _ = snap.remove(&key);
                Err(e)
            }
        }
    }

    /// A read-only view of a chain, mounted for as long as it lives.
    fn view(&self, top: Option<&ChainId>) -> Result<View<'_>> {
        let key = keys::extract(Purpose::BuildView);
        let path = self.paths.build_mount(&key);
        std::fs::create_dir_all(&path).map_err(Error::io(path.display()))?;
        let v = View {
            engine: self,
            key,
            path,
        };
        if let Some(t) = top {
            let mounts = self.snapshotter()?.view(&v.key, Some(&keys::layer(t)))?;
            mount_all(&mounts, &v.path)?;
        }
        Ok(v)
    }

    /// Writes the final image (its labels from `--label`) and tags it.
    fn write_built_image(
        &self,
        mut state: State,
        opts: &BuildOptions,
        tags: &[Reference],
    ) -> Result<Digest> {
        if !opts.labels.is_empty() {
            let labels = state.run_mut().labels.get_or_insert_with(Default::default);
            for (k, v) in &opts.labels {
                labels.insert(k.clone(), v.clone());
            }
        }
        if state.config.created.is_none() {
            state.config.created = Some(crate::rfc3339_now());
        }
        let _guard = self.gc.shared()?;
        self.write_image(&state.config, state.layers, tags)
    }

    /// A build context given as the URL of a tar archive, unpacked into `dir`.
    pub fn fetch_build_context(&self, url: &str, dir: &Path) -> Result<()> {
        let (body, _) = berth_distribution::fetch(url)?;
        self.unpack_context(body, dir, None)
    }

    /// Unpacks a tar archive (plain or compressed) into `dir`, confined to
    /// it, within the layer size limit: what a client uploads (`docker cp`).
    pub fn extract_tar(&self, input: impl std::io::Read, dir: &Path) -> Result<()> {
        self.unpack_archive(input, dir, None)
            .map_err(Error::Tarball)
    }

    /// Unpacks a build context given as a tar archive (plain or compressed,
    /// from stdin or a URL) into `dir`, confined to it, and to `limit` bytes
    /// when given (else the layer size limit).
    pub fn unpack_context(
        &self,
        input: impl std::io::Read,
        dir: &Path,
        limit: Option<u64>,
    ) -> Result<()> {
        self.unpack_archive(input, dir, limit)
            .map_err(Error::Context)
    }

    /// Unpacks a tar archive (plain or compressed) into `dir`, confined to it
    /// and to the layer size limit (what it unpacks becomes one layer);
    /// `.wh.` entries delete, as they would in any other archive's unpacking.
    fn unpack_archive(
        &self,
        input: impl std::io::Read,
        dir: &Path,
        limit: Option<u64>,
    ) -> std::result::Result<(), berth_layer::Error> {
        let (_, tar) = berth_layer::decompress(input)?;
        let mut opts = berth_layer::ApplyOptions::default();
        opts.whiteouts = berth_layer::WhiteoutMode::Direct;
        opts.max_size = limit
            .unwrap_or(self.max_layer_size)
            .min(self.max_layer_size);
        berth_layer::apply_layer(tar, dir, &opts).map(|_| ())
    }

    /// Unpacks the archive at `src` into `target` (ADD).
    fn extract_archive(&self, src: &Path, target: &Path) -> std::result::Result<(), String> {
        let f = std::fs::File::open(src).map_err(|e| format!("{}: {e}", src.display()))?;
        self.unpack_archive(f, target, None)
            .map_err(|e| format!("{}: {e}", src.display()))
    }

    /// `berth builder prune`: forgets the build cache and removes what only
    /// it kept. Returns the entries and bytes freed.
    pub fn prune_build_cache(&self) -> Result<(usize, u64)> {
        let entries = self.db.clear_build_cache()?;
        let swept = self.sweep(true)?;
        Ok((entries, swept.bytes))
    }
}

/// Whether `input` is a tar archive, plain or compressed (what ADD unpacks,
/// and what `build -` takes for a context rather than a Dockerfile).
pub fn is_tar_archive(input: impl std::io::Read) -> bool {
    let Ok((_, mut r)) = berth_layer::decompress(input) else {
        return false;
    };
    let mut head = [0u8; 512];
    let mut got = 0;
    while got < head.len() {
        match std::io::Read::read(&mut r, &mut head[got..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => got += k,
        }
    }
    got == 512 && &head[257..262] == b"ustar"
}

/// A mounted read-only view; unmounted and removed on drop.
struct View<'a> {
    engine: &'a Engine,
    key: String,
    path: PathBuf,
}

impl Drop for View<'_> {
    fn drop(&mut self) {
        let _ = unmount_if_mounted(&self.path);
        let _ = std::fs::remove_dir(&self.path);
        if let Ok(s) = self.engine.snapshotter() {
            let _ = s.remove(&self.key);
        }
    }
}

/// Removes from `dir` (and `changes`) the mount points a runtime created that
/// did not exist below: empty files and directories at [`STUB_FILES`] and
/// [`STUB_DIRS`].
fn remove_stubs(dir: &Path, changes: &mut Vec<Change>) -> std::io::Result<()> {
    let mut gone: Vec<String> = Vec::new();
    for f in STUB_FILES {
        let added = changes
            .iter()
            .any(|c| c.path == *f && c.kind == ChangeKind::Added);
        let p = dir.join(f);
        if added && std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_file() && m.len() == 0) {
            std::fs::remove_file(&p)?;
            gone.push(f.to_string());
        }
    }
    for d in STUB_DIRS {
        let added = changes
            .iter()
            .any(|c| c.path == *d && c.kind == ChangeKind::Added);
        let prefix = format!("{d}/");
        let others = changes
            .iter()
            .any(|c| c.path.starts_with(&prefix) && !gone.contains(&c.path));
        if added && !others && std::fs::read_dir(dir.join(d)).is_ok_and(|mut r| r.next().is_none())
        {
            std::fs::remove_dir(dir.join(d))?;
            gone.push(d.to_string());
        }
    }
    changes.retain(|c| !gone.contains(&c.path));
    Ok(())
}

/// ADD of a URL: its bytes, checked against `--checksum` when given.
fn fetch_url(url: &str, checksum: Option<&str>) -> std::result::Result<Vec<u8>, String> {
    let (mut body, _) = berth_distribution::fetch(url).map_err(|e| format!("{url}: {e}"))?;
    let mut data = Vec::new();
    std::io::Read::read_to_end(&mut body, &mut data).map_err(|e| format!("{url}: {e}"))?;
    if let Some(want) = checksum {
        let got = Digest::of(&data);
        if got.to_string() != want {
            return Err(format!(
                "{url}: checksum mismatch: expected {want}, got {got}"
            ));
        }
    }
    Ok(data)
}
