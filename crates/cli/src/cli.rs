//! The command line: every clap definition, and nothing else.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// berth: a container image engine. Images are stacks of shared read-only layers,
/// kept in a content store and unpacked once into snapshots.
#[derive(Debug, Parser)]
#[command(name = "berth", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalFlags,
    #[command(subcommand)]
    pub command: Command,
}

/// The name a container's start runs berth under for the container's
/// monitor (not a user's command).
pub const MONITOR_COMMAND: &str = "container-monitor";

/// A container's monitor, `berth container-monitor ID`: a command of its own,
/// parsed without the user's command tree, which a monitor never uses and
/// which was a share of every container start.
#[derive(Debug, Parser)]
#[command(name = "berth container-monitor")]
pub struct MonitorCli {
    #[command(flatten)]
    pub global: GlobalFlags,
    #[command(flatten)]
    pub monitor: MonitorArgs,
}

/// The flags every command takes: where the store is and how the engine runs.
#[derive(Debug, Args)]
pub struct GlobalFlags {
    /// Where images live.
    #[arg(
        long,
        global = true,
        env = "BERTH_ROOT",
        default_value = "/var/lib/berth",
        value_name = "DIR"
    )]
    pub root: PathBuf,
    /// Where runtime state (mount points) lives.
    #[arg(
        long,
        global = true,
        env = "BERTH_RUNROOT",
        default_value = "/run/berth",
        value_name = "DIR"
    )]
    pub runroot: PathBuf,
    /// Storage driver: overlay or vfs [default: what this root used, else overlay where the kernel allows]
    #[arg(
        long,
        global = true,
        env = "BERTH_STORAGE_DRIVER",
        value_name = "DRIVER"
    )]
    pub storage_driver: Option<String>,
    /// Log level: error, warn, info, debug, trace.
    #[arg(long, global = true, default_value = "warn", value_name = "LEVEL")]
    pub log_level: String,
    /// The default bridge, as dockerd's -b: `none` gives containers without
    /// --network no network at all instead of the default bridge
    /// [default: the config's bridge, else berth0]
    #[arg(
        long,
        global = true,
        env = "BERTH_BRIDGE",
        hide_short_help = true,
        value_name = "BRIDGE"
    )]
    pub bridge: Option<String>,
    /// User namespaces for every container, as dockerd's: `default` (berth's
    /// own subordinate IDs, added to /etc/subuid and /etc/subgid if missing)
    /// or USER[:GROUP], whose ranges in /etc/subuid and /etc/subgid map the
    /// containers' IDs; --userns=host opts one out
    /// [default: the config's userns-remap, else none]
    #[arg(long, global = true, hide_short_help = true, value_name = "USER")]
    pub userns_remap: Option<String>,
    /// Largest uncompressed layer that import, load, pull and build unpack (a guard against
    /// decompression bombs), e.g. 500MB or 1GiB; 0 for no limit [default: the config's
    /// max-layer-size, else 32GiB]
    #[arg(long, global = true, env = "BERTH_MAX_LAYER_SIZE", value_parser = crate::size::parse_size, hide_short_help = true, value_name = "SIZE")]
    pub max_layer_size: Option<u64>,
    /// Largest total of one image's uncompressed layers, e.g. 100GiB; 0 for no limit
    /// [default: the config's max-image-size, else 64GiB]
    #[arg(long, global = true, env = "BERTH_MAX_IMAGE_SIZE", value_parser = crate::size::parse_size, hide_short_help = true, value_name = "SIZE")]
    pub max_image_size: Option<u64>,
    /// Settings in daemon.json's words: registries (insecure-registries, registry-mirrors,
    /// max-concurrent-downloads, certs-dir) and limits (max-layer-size, max-image-size).
    #[arg(
        long,
        global = true,
        env = "BERTH_REGISTRIES_CONFIG",
        default_value = "/etc/berth/registries.json",
        value_name = "FILE",
        hide_short_help = true
    )]
    pub registries_config: PathBuf,
    /// Require HTTPS and verify certificates when talking to registries (loopback
    /// and insecure-registries excepted); `--tls-verify=false` allows plain HTTP and unverified TLS everywhere.
    #[arg(long, global = true, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set, value_name = "BOOL")]
    pub tls_verify: bool,
    /// Layers a pull downloads at once [default: registries config, else 3].
    #[arg(long, global = true, value_name = "N", hide_short_help = true)]
    pub max_concurrent_downloads: Option<usize>,
    /// Blobs a push uploads at once [default: registries config, else 5].
    #[arg(long, global = true, value_name = "N", hide_short_help = true)]
    pub max_concurrent_uploads: Option<usize>,
}

/// Top-level commands, named as Docker's.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build an image from a Dockerfile.
    Build(BuildArgs),
    /// Manage the build cache.
    #[command(subcommand)]
    Builder(BuilderCommand),
    /// Import a rootfs tarball as a one-layer image.
    Import(ImportArgs),
    /// List images.
    Images(ImagesArgs),
    /// Manage images.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Create a tag TARGET that refers to SOURCE.
    Tag(TagArgs),
    /// Remove one or more images.
    Rmi(RmiArgs),
    /// Display detailed information on one or more images or containers.
    Inspect(ObjectInspectArgs),
    /// Show the history of an image.
    History(HistoryArgs),
    /// Save one or more images to a tar archive (streamed to stdout by default).
    Save(SaveArgs),
    /// Load images from a tar archive or stdin.
    Load(LoadArgs),
    /// Download an image from a registry.
    Pull(PullArgs),
    /// Upload an image to a registry.
    Push(PushArgs),
    /// Log in to a registry (Docker Hub by default).
    Login(LoginArgs),
    /// Log out from a registry.
    Logout(LogoutArgs),
    /// Search a registry for images (Docker Hub by default).
    Search(SearchArgs),
    /// List containers.
    Ps(PsArgs),
    #[command(flatten)]
    Op(Box<ContainerOp>),
    /// Manage containers.
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Manage berth.
    #[command(subcommand)]
    System(SystemCommand),
    /// Show the version of berth's client and engine.
    Version(FormatArgs),
    /// Get real time events: what containers, images and volumes went
    /// through, whichever berth process (or the daemon) did it.
    Events(EventsArgs),
    /// Display system-wide information.
    Info(FormatArgs),
    /// Manage volumes.
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// Manage networks.
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Serves DNS for user-defined networks (started by berth, not by users).
    #[command(hide = true)]
    NetworkDns,
    /// Host a registry: serve it, collect its garbage.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Serve the Docker Engine API, so docker, docker-compose and docker-py
    /// drive berth (DOCKER_HOST=unix:///run/berth/docker.sock).
    Daemon(DaemonArgs),
    /// Print a shell completion script.
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `berth volume …`.
#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume (a random name when none is given).
    Create {
        /// The volume's name.
        #[arg(value_name = "VOLUME")]
        name: Option<String>,
        /// The volume's name (docker's older spelling).
        #[arg(long = "name", value_name = "NAME", conflicts_with = "name")]
        named: Option<String>,
        /// Volume driver: local, the only one.
        #[arg(short, long, default_value = "local")]
        driver: String,
    },
    /// List volumes.
    #[command(alias = "list")]
    Ls {
        /// Only display volume names.
        #[arg(short, long)]
        quiet: bool,
        /// Filter output: name=SUBSTRING, dangling=true|false, driver=local.
        #[arg(short, long = "filter", value_name = "FILTER")]
        filters: Vec<String>,
        /// Format output with a Go template, `table TEMPLATE`, or json.
        #[arg(long)]
        format: Option<String>,
    },
    /// Display detailed information on one or more volumes.
    Inspect {
        /// Format output with a Go template, or json.
        #[arg(short, long)]
        format: Option<String>,
        /// Volumes.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove one or more volumes (not while a container uses one).
    #[command(alias = "remove")]
    Rm {
        /// Do not fail on a volume that does not exist.
        #[arg(short, long)]
        force: bool,
        /// Volumes.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove every volume no container uses.
    Prune {
        /// Do not prompt for confirmation.
        #[arg(short, long)]
        force: bool,
    },
}

/// `berth network …`.
#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a bridge network.
    Create(NetworkCreateArgs),
    /// List networks.
    #[command(alias = "list")]
    Ls {
        /// Provide filter values (driver=, id=, label=, name=, scope=, type=custom|builtin).
        #[arg(short, long, value_name = "FILTER")]
        filter: Vec<String>,
        /// Format output with a Go template, `table TEMPLATE`, or json.
        #[arg(long)]
        format: Option<String>,
        /// Do not truncate the output.
        #[arg(long)]
        no_trunc: bool,
        /// Only display network IDs.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Display detailed information on one or more networks.
    Inspect {
        /// Format output with a Go template, or json.
        #[arg(short, long)]
        format: Option<String>,
        /// Networks.
        #[arg(required = true, value_name = "NETWORK")]
        names: Vec<String>,
    },
    /// Remove one or more networks (not while a container is on one).
    #[command(alias = "remove")]
    Rm {
        /// Do not fail on a network that does not exist.
        #[arg(short, long)]
        force: bool,
        /// Networks.
        #[arg(required = true, value_name = "NETWORK")]
        names: Vec<String>,
    },
    /// Remove all user-defined networks no container is on.
    Prune {
        /// Do not prompt for confirmation.
        #[arg(short, long)]
        force: bool,
    },
    /// Connect a container to a network (a running one at once).
    Connect {
        /// Add a network-scoped alias for the container.
        #[arg(long, value_name = "NAME")]
        alias: Vec<String>,
        /// IPv4 address.
        #[arg(long, value_name = "IP")]
        ip: Option<String>,
        /// The network.
        #[arg(value_name = "NETWORK")]
        network: String,
        /// The container.
        #[arg(value_name = "CONTAINER")]
        container: String,
    },
    /// Disconnect a container from a network.
    Disconnect {
        /// Force the container to disconnect from a network.
        #[arg(short, long)]
        force: bool,
        /// The network.
        #[arg(value_name = "NETWORK")]
        network: String,
        /// The container.
        #[arg(value_name = "CONTAINER")]
        container: String,
    },
}

/// `berth network create`.
#[derive(Debug, Args)]
pub struct NetworkCreateArgs {
    /// Driver to manage the network (bridge).
    #[arg(short, long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format, e.g. 172.30.0.0/16 [default: a free one from the address pools]
    #[arg(long, value_name = "CIDR")]
    pub subnet: Option<String>,
    /// IPv4 gateway for the subnet [default: its first address]
    #[arg(long, value_name = "IP")]
    pub gateway: Option<String>,
    /// Allocate container IPs from a sub-range.
    #[arg(long, value_name = "CIDR")]
    pub ip_range: Option<String>,
    /// Restrict external access to the network.
    #[arg(long)]
    pub internal: bool,
    /// Set metadata on a network.
    #[arg(long, value_name = "K=V")]
    pub label: Vec<String>,
    /// Set driver specific options (com.docker.network.bridge.name, com.docker.network.driver.mtu).
    #[arg(short, long = "opt", value_name = "K=V")]
    pub opt: Vec<String>,
    /// The network's name.
    #[arg(value_name = "NETWORK")]
    pub name: String,
}

/// `berth daemon`.
#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Where to listen: unix:///PATH or tcp://ADDR:PORT (loopback, or any
    /// address with --tlsverify), as many as wanted
    /// [default: unix://RUNROOT/docker.sock]
    #[arg(short = 'H', long = "host", value_name = "ADDRESS")]
    pub hosts: Vec<String>,
    /// The group that may use the unix socket (mode 0660); when it does not
    /// exist, only root may [default: the config's group, else docker]
    #[arg(short = 'G', long)]
    pub group: Option<String>,
    /// The settings file, in daemon.json's words (hosts, group, tls…,
    /// registries, limits); the same file as --registries-config
    #[arg(long, value_name = "FILE")]
    pub config_file: Option<std::path::PathBuf>,
    /// Serve TCP over TLS (the server's --tlscert and --tlskey)
    #[arg(long)]
    pub tls: bool,
    /// Serve TCP over TLS and require client certificates signed by
    /// --tlscacert; needed to listen on an address other than loopback
    #[arg(long)]
    pub tlsverify: bool,
    /// The CA that signs clients' certificates [default: ~/.docker/ca.pem]
    #[arg(long, value_name = "FILE")]
    pub tlscacert: Option<std::path::PathBuf>,
    /// The server's certificate [default: ~/.docker/cert.pem]
    #[arg(long, value_name = "FILE")]
    pub tlscert: Option<std::path::PathBuf>,
    /// The server's private key [default: ~/.docker/key.pem]
    #[arg(long, value_name = "FILE")]
    pub tlskey: Option<std::path::PathBuf>,
}

/// `berth registry …`.
#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Serve a registry (OCI distribution spec 1.1, Docker Registry v2, /v1/search, /metrics).
    ///
    /// Data lives in --root DIR (default /var/lib/berth-registry) or an S3 bucket.
    /// Without --htpasswd or --token-realm everyone may pull and push. A request
    /// log line goes to stderr per request; SIGTERM lets in-flight requests finish.
    Serve(RegistryServeArgs),
    /// Remove blobs that no manifest references (safe while servers serve).
    Gc(RegistryGcArgs),
}

/// Where a registry keeps its data, and its config file.
#[derive(Debug, Args)]
pub struct RegistryStorageArgs {
    /// A TOML config file (see the registry docs); flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Keep the data in this S3 bucket instead of --root (credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).
    #[arg(long, value_name = "BUCKET")]
    pub s3_bucket: Option<String>,
    /// The S3 endpoint, e.g. http://127.0.0.1:9000 [default: AWS].
    #[arg(long, value_name = "URL", requires = "s3_bucket")]
    pub s3_endpoint: Option<String>,
    /// The S3 region.
    #[arg(long, value_name = "REGION", requires = "s3_bucket")]
    pub s3_region: Option<String>,
}

/// `berth registry serve`.
#[derive(Debug, Args)]
pub struct RegistryServeArgs {
    /// Address to listen on [default: 127.0.0.1:5000].
    #[arg(long, value_name = "HOST:PORT")]
    pub addr: Option<String>,
    /// Also serve /metrics, without authentication, on this address (a bare PORT means
    /// 127.0.0.1:PORT); on --addr, /metrics answers only logged-in users when auth is on.
    #[arg(long, value_name = "[HOST:]PORT")]
    pub metrics_addr: Option<String>,
    #[command(flatten)]
    pub storage: RegistryStorageArgs,
    /// Require basic auth against this htpasswd file (bcrypt: htpasswd -B).
    #[arg(long, value_name = "FILE")]
    pub htpasswd: Option<PathBuf>,
    /// Use Docker token auth; clients fetch tokens from this URL (this server's /token).
    #[arg(long, value_name = "URL")]
    pub token_realm: Option<String>,
    /// The tokens' issuer [default: berth-registry].
    #[arg(long, value_name = "NAME")]
    pub token_issuer: Option<String>,
    /// The service name in challenges and tokens [default: berth-registry].
    #[arg(long, value_name = "NAME")]
    pub token_service: Option<String>,
    /// EC P-256 private key (PEM) that signs tokens; servers sharing a bucket share it [default: one generated per start].
    #[arg(long, value_name = "FILE")]
    pub token_key: Option<PathBuf>,
    /// Serve HTTPS with this certificate chain (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Refuse every write.
    #[arg(long)]
    pub read_only: bool,
    /// Refuse DELETE of manifests, tags and blobs.
    #[arg(long)]
    pub no_delete: bool,
    /// Do not log a line per request.
    #[arg(long)]
    pub quiet: bool,
}

/// `berth registry gc`.
#[derive(Debug, Args)]
pub struct RegistryGcArgs {
    #[command(flatten)]
    pub storage: RegistryStorageArgs,
    /// Only report what would be removed.
    #[arg(short = 'd', long)]
    pub dry_run: bool,
    /// Also remove manifests that no tag reaches.
    #[arg(short = 'm', long)]
    pub delete_untagged: bool,
    /// Keep unreferenced blobs younger than this (pushes whose manifest has not arrived yet), e.g. 30m, 1h, 0s.
    #[arg(long, default_value = "1h", value_name = "DURATION")]
    pub grace: String,
}

/// `berth builder …`.
#[derive(Debug, Subcommand)]
pub enum BuilderCommand {
    /// Build an image from a Dockerfile (as `berth build`).
    Build(Box<BuildArgs>),
    /// Remove the build cache.
    Prune(BuilderPruneArgs),
}

/// `berth builder prune`.
#[derive(Debug, Args)]
pub struct BuilderPruneArgs {
    /// Do not prompt for confirmation (berth never prompts; accepted for docker's sake).
    #[arg(short, long)]
    pub force: bool,
    /// Remove all build cache (berth's cache has no shared/private split).
    #[arg(short, long)]
    pub all: bool,
}

/// How `build` shows its progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BuildProgressMode {
    /// `tty` on a terminal, else `plain`.
    Auto,
    /// One line per event, as BuildKit's plain output.
    Plain,
    /// BuildKit-like step lines with timings.
    Tty,
}

/// `berth build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Name and optionally a tag in the "name:tag" format (repeatable).
    #[arg(short, long = "tag", value_name = "NAME[:TAG]")]
    pub tag: Vec<String>,
    /// Name of the Dockerfile (default: PATH/Dockerfile; "-" reads it from stdin).
    #[arg(short, long, value_name = "FILE")]
    pub file: Option<String>,
    /// Set build-time variables (KEY=VALUE, or KEY to take it from the environment).
    #[arg(long = "build-arg", value_name = "KEY[=VALUE]")]
    pub build_arg: Vec<String>,
    /// Set the target build stage to build.
    #[arg(long, value_name = "STAGE")]
    pub target: Option<String>,
    /// Remove intermediate containers (berth's builder makes none: RUN
    /// steps run in containers that never outlive them).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = true, action = clap::ArgAction::Set)]
    pub rm: bool,
    /// Always remove intermediate containers (there are none to keep).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub force_rm: bool,
    /// Do not use cache when building the image.
    #[arg(long)]
    pub no_cache: bool,
    /// Always attempt to pull newer versions of the base images.
    #[arg(long)]
    pub pull: bool,
    /// Set metadata for the image (KEY=VALUE, repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// Target platform (berth builds for this host's: linux/amd64).
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// Suppress the build output and print the image ID on success.
    #[arg(short, long)]
    pub quiet: bool,
    /// Write the image ID to the file.
    #[arg(long, value_name = "FILE")]
    pub iidfile: Option<std::path::PathBuf>,
    /// Type of progress output.
    #[arg(long, value_enum, default_value_t = BuildProgressMode::Auto)]
    pub progress: BuildProgressMode,
    /// Networking mode for the RUN instructions: default (the default bridge), host, none or a network.
    #[arg(long, value_name = "MODE")]
    pub network: Option<String>,
    /// The build context: a directory, "-" (a tar archive or a Dockerfile on
    /// stdin), or the URL of a tar archive.
    #[arg(value_name = "PATH|URL|-")]
    pub context: String,
}

/// `berth image …`.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build an image from a Dockerfile.
    Build(BuildArgs),
    /// List images.
    #[command(visible_alias = "list")]
    Ls(ImagesArgs),
    /// Remove one or more images.
    Rm(RmiArgs),
    /// Remove unused images.
    Prune(PruneArgs),
    /// Display detailed information on one or more images.
    Inspect(InspectArgs),
    /// Show the history of an image.
    History(HistoryArgs),
    /// Create a tag TARGET that refers to SOURCE.
    Tag(TagArgs),
    /// Save one or more images to a tar archive.
    Save(SaveArgs),
    /// Load images from a tar archive or stdin.
    Load(LoadArgs),
    /// Import a rootfs tarball as a one-layer image.
    Import(ImportArgs),
    /// Download an image from a registry.
    Pull(PullArgs),
    /// Upload an image to a registry.
    Push(PushArgs),
    /// Mount an image's union view (all layers overlaid, read-only) and print its path.
    Mount(MountArgs),
    /// Unmount an image's union view.
    #[command(visible_alias = "unmount")]
    Umount(MountArgs),
}

/// `berth system …`.
#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Show disk usage: images, layers, and what prune would reclaim.
    Df(DfArgs),
    /// Display system-wide information.
    Info(FormatArgs),
    /// Get real time events.
    Events(EventsArgs),
    /// Remove unused data: stopped containers, unused networks, dangling
    /// images and the build cache (and, with --volumes, unused volumes).
    Prune(SystemPruneArgs),
}

/// `berth system prune`.
#[derive(Debug, Args)]
pub struct SystemPruneArgs {
    /// Remove all unused images, not just dangling ones.
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
    /// Prune volumes too.
    #[arg(long)]
    pub volumes: bool,
}

/// `berth events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Show events since: a Unix time, an RFC 3339 date, or a duration ago (10m, 1h30m)
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this time (same forms); without it, follow
    #[arg(long)]
    pub until: Option<String>,
    /// Filter: type=, event=, container=, image=, volume=, label=
    #[arg(short, long = "filter", value_name = "KEY=VALUE")]
    pub filters: Vec<String>,
    /// Format output: json, or a Go template ({{.Type}} {{.Action}} {{.Actor.ID}}…)
    #[arg(long)]
    pub format: Option<String>,
}

/// `--format` alone: docker's text when absent, `json`, or a Go template
/// (`{{.Server.Version}}`, `{{.Driver}}`…) over the JSON document.
#[derive(Debug, Args)]
pub struct FormatArgs {
    /// Format output: json, or a Go template.
    #[arg(short, long)]
    pub format: Option<String>,
}

/// Output format of list commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Compress {
    /// gzip.
    Gzip,
    /// Zstandard.
    Zstd,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply a Dockerfile instruction to the image (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER, VOLUME, WORKDIR, STOPSIGNAL).
    #[arg(short = 'c', long = "change", value_name = "INSTRUCTION")]
    pub changes: Vec<String>,
    /// Set the commit message (the history comment).
    #[arg(short, long)]
    pub message: Option<String>,
    /// Do not show progress.
    #[arg(short, long)]
    pub quiet: bool,
    /// The tarball: a file, or - for stdin (plain, gzip, zstd or xz).
    #[arg(value_name = "FILE|-")]
    pub source: String,
    /// Name the image.
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show only images of this repository (and tag).
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
    /// Show all images (default hides intermediate images).
    #[arg(short, long)]
    pub all: bool,
    /// Only show image IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Show digests.
    #[arg(long)]
    pub digests: bool,
    /// Don't truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter output: dangling=true|false, reference=PATTERN, before=IMAGE, since=IMAGE, label=KEY[=VALUE].
    #[arg(short, long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,
    /// Format output: table, json, or a Go template (`table {{.Repository}}\t{{.Tag}}`).
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct TagArgs {
    /// The image: name or ID.
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    pub source: String,
    /// The new name.
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    pub target: String,
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Force removal of an image referenced by several tags.
    #[arg(short, long)]
    pub force: bool,
    /// Do not delete untagged parents (berth's images have no parent
    /// images: layers are shared, not chained).
    #[arg(long)]
    pub no_prune: bool,
    /// Images: names or IDs.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones.
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output with a Go template, or json.
    #[arg(short, long)]
    pub format: Option<String>,
    /// Images: names or IDs.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

/// `berth inspect`: any kind of object, or one kind with `--type`.
#[derive(Debug, Args)]
pub struct ObjectInspectArgs {
    /// Only this kind of object.
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub kind: Option<ObjectKind>,
    #[command(flatten)]
    pub inspect: InspectArgs,
}

/// The kinds of object `inspect --type` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ObjectKind {
    Container,
    Image,
    Network,
    Volume,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format.
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set)]
    pub human: bool,
    /// Don't truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Format output: table, json, or a Go template.
    #[arg(long)]
    pub format: Option<String>,
    /// The image.
    pub image: String,
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file instead of stdout (compressed when it ends in .gz or .zst).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Compress the archive.
    #[arg(long, value_enum)]
    pub compress: Option<Compress>,
    /// Do not show progress.
    #[arg(short, long)]
    pub quiet: bool,
    /// Images: names or IDs.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from a tar archive file instead of stdin (plain, gzip, zstd or xz).
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Suppress the load output.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct MountArgs {
    /// The image.
    pub image: String,
}

#[derive(Debug, Args)]
pub struct DfArgs {
    /// Show detailed information on space usage.
    #[arg(short, long)]
    pub verbose: bool,
    /// Format output: table, json, or a Go template.
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// The image: NAME[:TAG|@DIGEST] (Docker Hub unless NAME starts with a registry host).
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    pub name: String,
    /// Download every tagged image of the repository.
    #[arg(short, long)]
    pub all_tags: bool,
    /// Print only the image's name.
    #[arg(short, long)]
    pub quiet: bool,
    /// The platform to pick from a multi-platform image: os/arch[/variant].
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The image: NAME[:TAG] (the registry is NAME's first component, Docker Hub otherwise).
    #[arg(value_name = "NAME[:TAG]")]
    pub name: String,
    /// Push every local tag of the repository.
    #[arg(short, long)]
    pub all_tags: bool,
    /// Print only the pushed digest.
    #[arg(short, long)]
    pub quiet: bool,
    /// How to compress uncompressed layers.
    #[arg(long, value_enum, default_value_t = PushCompressionArg::Gzip)]
    pub compression: PushCompressionArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PushCompressionArg {
    Gzip,
    Zstd,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The registry (Docker Hub by default).
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
    /// User name.
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password (prefer --password-stdin: this one shows in the process list).
    #[arg(short, long)]
    pub password: Option<String>,
    /// Read the password from stdin.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The registry (Docker Hub by default).
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// What to look for; `HOST[:PORT]/TERM` searches that registry.
    #[arg(value_name = "TERM")]
    pub term: String,
    /// Most results to show.
    #[arg(long, default_value_t = 25)]
    pub limit: usize,
    /// Filter output: is-official=true|false, is-automated=true|false, stars=N.
    #[arg(short, long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,
    /// Don't truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Format output: table, json, or a Go template.
    #[arg(long)]
    pub format: Option<String>,
}

/// The flags `create` and `run` share.
#[derive(Debug, Args)]
pub struct CreateFlags {
    /// Keep STDIN open.
    #[arg(short, long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub tty: bool,
    /// Assign a name to the container.
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables (`K=V`, or `K` to pass this shell's value).
    #[arg(short, long = "env", value_name = "LIST")]
    pub env: Vec<String>,
    /// Read environment variables from a file (lines of `K=V`).
    #[arg(long, value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Read in a line-delimited file of labels (`K=V`).
    #[arg(long, value_name = "FILE")]
    pub label_file: Vec<PathBuf>,
    /// Write the container ID to the file (which must not exist).
    #[arg(long, value_name = "FILE")]
    pub cidfile: Option<PathBuf>,
    /// Working directory inside the container.
    #[arg(short, long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>]).
    #[arg(short, long)]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image.
    #[arg(long, value_name = "CMD")]
    pub entrypoint: Option<String>,
    /// Container host name.
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Bind mount a volume: HOST-DIR:CONTAINER-DIR[:ro], or NAME:CONTAINER-DIR.
    #[arg(short, long = "volume", value_name = "LIST")]
    pub volume: Vec<String>,
    /// Attach a filesystem mount: type=bind|tmpfs|volume,source=…,target=…[,readonly].
    #[arg(long, value_name = "MOUNT")]
    pub mount: Vec<String>,
    /// Mount a tmpfs directory: PATH[:OPTIONS].
    #[arg(long, value_name = "PATH")]
    pub tmpfs: Vec<String>,
    /// Mount the container's root filesystem as read only.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub read_only: bool,
    /// Connect a container to a network: bridge (the default), host, none, container:NAME or a user-defined network.
    #[arg(long, alias = "net", value_name = "NETWORK")]
    pub network: Option<String>,
    /// Add a network-scoped alias for the container (user-defined networks).
    #[arg(long, alias = "net-alias", value_name = "LIST")]
    pub network_alias: Vec<String>,
    /// IPv4 address on the network (user-defined networks), e.g. 172.30.100.104.
    #[arg(long, value_name = "IP")]
    pub ip: Option<String>,
    /// Container MAC address (e.g. 92:d0:c6:0a:29:33).
    #[arg(long, value_name = "MAC")]
    pub mac_address: Option<String>,
    /// Publish a container's port(s) to the host: [IP:][HOSTPORT:]CONTAINERPORT[/PROTO], ranges allowed.
    #[arg(short, long, value_name = "LIST")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random host ports.
    #[arg(short = 'P', long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub publish_all: bool,
    /// Expose a port or a range of ports.
    #[arg(long, value_name = "LIST")]
    pub expose: Vec<String>,
    /// Set custom DNS servers.
    #[arg(long, value_name = "IP")]
    pub dns: Vec<String>,
    /// Set custom DNS search domains.
    #[arg(long, value_name = "DOMAIN")]
    pub dns_search: Vec<String>,
    /// Set DNS options.
    #[arg(long, alias = "dns-opt", value_name = "OPTION")]
    pub dns_option: Vec<String>,
    /// Add a custom host-to-IP mapping (NAME:IP, or NAME:host-gateway).
    #[arg(long, value_name = "LIST")]
    pub add_host: Vec<String>,
    /// Memory limit (e.g. 64m, 1g).
    #[arg(short, long, value_name = "BYTES", value_parser = crate::size::parse_bytes)]
    pub memory: Option<i64>,
    /// Number of CPUs.
    #[arg(long, value_name = "DECIMAL")]
    pub cpus: Option<f64>,
    /// CPU shares (relative weight; docker's default 1024).
    #[arg(short = 'c', long, value_name = "N")]
    pub cpu_shares: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1).
    #[arg(long, value_name = "LIST")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes in which to allow execution (0-3, 0,1).
    #[arg(long, value_name = "LIST")]
    pub cpuset_mems: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) period, microseconds.
    #[arg(long, value_name = "N")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota, microseconds.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// Memory soft limit (e.g. 32m).
    #[arg(long, value_name = "BYTES", value_parser = crate::size::parse_bytes)]
    pub memory_reservation: Option<i64>,
    /// Tune container memory swappiness (0 to 100; -1 for the default).
    #[arg(long, value_name = "N", allow_hyphen_values = true, value_parser = crate::size::parse_swappiness)]
    pub memory_swappiness: Option<i64>,
    /// Memory plus swap limit (e.g. 128m); -1 for unlimited swap.
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true, value_parser = crate::size::parse_swap)]
    pub memory_swap: Option<i64>,
    /// Block IO (relative weight), between 10 and 1000.
    #[arg(long, value_name = "N")]
    pub blkio_weight: Option<u16>,
    /// Add a host device to the container: HOST[:CONTAINER][:PERMISSIONS] (rwm).
    #[arg(long, value_name = "LIST")]
    pub device: Vec<String>,
    /// Add a rule to the cgroup allowed devices list: `c 1:3 rwm`, `b 8:* r`.
    #[arg(long, value_name = "RULE")]
    pub device_cgroup_rule: Vec<String>,
    /// Cgroup namespace to use: private or host [default: host on cgroup v1, private on v2].
    #[arg(long, value_name = "MODE", value_parser = ["private", "host"])]
    pub cgroupns: Option<String>,
    /// User namespace to use: host (the host's, whatever userns-remap says)
    /// or auto (a range of 65536 IDs of its own, out of the `berth` entries
    /// of /etc/subuid and /etc/subgid, added if missing)
    /// [default: userns-remap's, else the host's]
    #[arg(long, value_name = "MODE", value_parser = ["host", "auto"])]
    pub userns: Option<String>,
    /// Command to run to check health (run by `/bin/sh -c`).
    #[arg(long, value_name = "CMD")]
    pub health_cmd: Option<String>,
    /// Time between running the check (e.g. 30s, 1m30s) [default: 30s].
    #[arg(long, value_name = "DURATION", value_parser = crate::size::parse_go_duration)]
    pub health_interval: Option<i64>,
    /// Maximum time to allow one check to run [default: 30s].
    #[arg(long, value_name = "DURATION", value_parser = crate::size::parse_go_duration)]
    pub health_timeout: Option<i64>,
    /// Consecutive failures needed to report unhealthy [default: 3].
    #[arg(long, value_name = "N")]
    pub health_retries: Option<i64>,
    /// Start period for the container to initialize before failures count.
    #[arg(long, value_name = "DURATION", value_parser = crate::size::parse_go_duration)]
    pub health_start_period: Option<i64>,
    /// Time between running the check during the start period [default: 5s].
    #[arg(long, value_name = "DURATION", value_parser = crate::size::parse_go_duration)]
    pub health_start_interval: Option<i64>,
    /// Disable any container-specified HEALTHCHECK.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub no_healthcheck: bool,
    /// Disable OOM Killer.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub oom_kill_disable: bool,
    /// Tune container pids limit (-1 for unlimited).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Add Linux capabilities.
    #[arg(long, value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities.
    #[arg(long, value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// Ulimit options: NAME=SOFT[:HARD] (nofile, nproc, core, memlock…; -1 unlimited)
    #[arg(long, value_name = "NAME=SOFT[:HARD]")]
    pub ulimit: Vec<String>,
    /// Size of /dev/shm (e.g. 128m) [default: 64m]
    #[arg(long, value_name = "BYTES", value_parser = crate::size::parse_bytes)]
    pub shm_size: Option<i64>,
    /// Tune the host's OOM preferences for the container (-1000 to 1000)
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub oom_score_adj: Option<i32>,
    /// Namespaced kernel parameters: kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, net.* (not with --network host)
    #[arg(long, value_name = "NAME=VALUE")]
    pub sysctl: Vec<String>,
    /// Logging driver: json-file (rotated: 20m x 5 files unless --log-opt says otherwise), local (berth's compact lines, rotated alike) or none.
    #[arg(long, value_name = "DRIVER")]
    pub log_driver: Option<String>,
    /// Log driver options: max-size=10m, max-file=3.
    #[arg(long, value_name = "K=V")]
    pub log_opt: Vec<String>,
    /// Security options: seccomp=unconfined, seccomp=PROFILE.json (docker's format), no-new-privileges[=true|false].
    #[arg(long, value_name = "OPTION")]
    pub security_opt: Vec<String>,
    /// Give extended privileges to this container.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub privileged: bool,
    /// Run an init inside the container that forwards signals and reaps processes.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub init: bool,
    /// Signal to stop the container.
    #[arg(long, value_name = "SIGNAL")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container.
    #[arg(long, value_name = "SECONDS")]
    pub stop_timeout: Option<i64>,
    /// Set meta data on a container.
    #[arg(short, long = "label", value_name = "LIST")]
    pub label: Vec<String>,
    /// OCI runtime to use: the path of a runc-compatible binary [default: built in].
    #[arg(long, value_name = "PATH")]
    pub runtime: Option<String>,
    /// Automatically remove the container when it exits.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub rm: bool,
    /// Restart policy: no, always, unless-stopped, on-failure[:max-retries] (kept by the container's monitor).
    #[arg(long, value_name = "POLICY")]
    pub restart: Option<String>,
    /// Pull image before running: missing, always, never.
    #[arg(long, default_value = "missing", value_parser = ["missing", "always", "never"])]
    pub pull: String,
    /// Platform if the image must be pulled (os/arch[/variant]).
    #[arg(long)]
    pub platform: Option<String>,
    /// Suppress the pull output.
    #[arg(short, long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub quiet: bool,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// The image, then the command and its arguments. One list, so that
    /// flags end at the image as docker's do (`IMAGE -c 'x'` is the
    /// command's `-c`, not `--cpu-shares`).
    #[arg(
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        value_name = "IMAGE [COMMAND] [ARG]"
    )]
    pub image_and_command: Vec<String>,
}

impl CreateFlags {
    /// The image named.
    pub fn image(&self) -> &str {
        &self.image_and_command[0]
    }

    /// The command after the image (empty: the image's own).
    pub fn command(&self) -> &[String] {
        &self.image_and_command[1..]
    }
}

/// `berth run`.
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Run container in background and print container ID.
    #[arg(short, long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub detach: bool,
    /// Proxy received signals to the process (non-TTY mode only).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = true, action = clap::ArgAction::Set)]
    pub sig_proxy: bool,
    /// Override the key sequence for detaching a container.
    #[arg(long, default_value = "ctrl-p,ctrl-q", value_name = "KEYS")]
    pub detach_keys: String,
    #[command(flatten)]
    pub create: CreateFlags,
}

/// `berth create`.
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    #[command(flatten)]
    pub create: CreateFlags,
}

/// `berth start`.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals.
    #[arg(short, long)]
    pub attach: bool,
    /// Attach container's STDIN.
    #[arg(short, long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container.
    #[arg(long, default_value = "ctrl-p,ctrl-q", value_name = "KEYS")]
    pub detach_keys: String,
    /// Start every container whose restart policy wants it running (at boot:
    /// contrib/berth-restart.service), as dockerd does when it starts.
    #[arg(long, conflicts_with_all = ["attach", "interactive"])]
    pub all_restartable: bool,
    /// The containers.
    #[arg(required_unless_present = "all_restartable", value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// `berth stop` / `restart`.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container.
    #[arg(
        short,
        long = "time",
        alias = "timeout",
        value_name = "SECONDS",
        allow_hyphen_values = true
    )]
    pub time: Option<i64>,
    /// Signal to send (default: the container's stop signal).
    #[arg(short, long)]
    pub signal: Option<String>,
    /// The containers.
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// `berth kill`.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container.
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    /// The containers.
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// Commands that take only containers.
#[derive(Debug, Args)]
pub struct ContainersArgs {
    /// The containers.
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// `berth wait`.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// What to wait for: not-running, next-exit (the end of the next run),
    /// removed (the Engine API's conditions).
    #[arg(long, default_value = "not-running", value_parser = ["not-running", "next-exit", "removed"])]
    pub condition: String,
    /// The containers.
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// `berth rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL).
    #[arg(short, long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container.
    #[arg(short, long)]
    pub volumes: bool,
    /// The containers.
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// `berth ps`.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running).
    #[arg(short, long)]
    pub all: bool,
    /// Only display container IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Show the latest created container (includes all states).
    #[arg(short, long)]
    pub latest: bool,
    /// Show n last created containers (includes all states).
    #[arg(short = 'n', long, value_name = "N")]
    pub last: Option<usize>,
    /// Display total file sizes.
    #[arg(short, long)]
    pub size: bool,
    /// Don't truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter output: status=, name=, id=, ancestor=, label=, exited=.
    #[arg(short, long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,
    /// Format output: table, json, or a Go template.
    #[arg(long)]
    pub format: Option<String>,
}

/// `berth logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow log output.
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs ("all" for every line).
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps.
    #[arg(short, long)]
    pub timestamps: bool,
    /// Show logs since a timestamp (RFC 3339) or relative (e.g. 42m).
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp (RFC 3339) or relative (e.g. 42m).
    #[arg(long)]
    pub until: Option<String>,
    /// The container.
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// `berth attach`.
#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Do not attach STDIN.
    #[arg(long)]
    pub no_stdin: bool,
    /// Proxy all received signals to the process.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub sig_proxy: bool,
    /// Override the key sequence for detaching a container.
    #[arg(long, default_value = "ctrl-p,ctrl-q", value_name = "KEYS")]
    pub detach_keys: String,
    /// The container.
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// `berth top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// The container.
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// `ps` options.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "PS OPTIONS"
    )]
    pub ps_args: Vec<String>,
}

/// `berth rename`.
#[derive(Debug, Args)]
pub struct RenameArgs {
    /// The container.
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// Its new name.
    #[arg(value_name = "NEW_NAME")]
    pub new_name: String,
}

/// `berth exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background.
    #[arg(short, long)]
    pub detach: bool,
    /// Keep STDIN open even if not attached.
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    pub tty: bool,
    /// Set environment variables.
    #[arg(short, long = "env", value_name = "LIST")]
    pub env: Vec<String>,
    /// Read in a file of environment variables (lines of `K=V`).
    #[arg(long, value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container.
    #[arg(short, long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>]).
    #[arg(short, long)]
    pub user: Option<String>,
    /// Give extended privileges to the command.
    #[arg(long)]
    pub privileged: bool,
    /// The container, then the command and its arguments (one list, so
    /// that flags end at the container, as docker's do).
    #[arg(
        required = true,
        num_args = 2..,
        trailing_var_arg = true,
        value_name = "CONTAINER COMMAND [ARG]"
    )]
    pub container_and_command: Vec<String>,
}

impl ExecArgs {
    /// The container named.
    pub fn container(&self) -> &str {
        &self.container_and_command[0]
    }

    /// The command to run in it.
    pub fn command(&self) -> &[String] {
        &self.container_and_command[1..]
    }
}

/// `berth diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The container.
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// `berth port`.
#[derive(Debug, Args)]
pub struct PortArgs {
    /// The container.
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// One of its ports: PRIVATE_PORT[/PROTO].
    #[arg(value_name = "PRIVATE_PORT[/PROTO]")]
    pub port: Option<String>,
}

/// `berth commit`.
#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>").
    #[arg(short, long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image.
    #[arg(short, long = "change", value_name = "INSTRUCTION")]
    pub change: Vec<String>,
    /// Commit message.
    #[arg(short, long)]
    pub message: Option<String>,
    /// Pause container during commit.
    #[arg(short, long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set, value_name = "BOOL")]
    pub pause: bool,
    /// The container.
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// The new image's name.
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

/// `berth export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The container.
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// `berth cp`.
#[derive(Debug, Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information).
    #[arg(short, long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH.
    #[arg(short = 'L', long)]
    pub follow_link: bool,
    /// CONTAINER:SRC_PATH or a host path (`-` for a tar on stdin).
    #[arg(value_name = "SRC")]
    pub src: String,
    /// CONTAINER:DEST_PATH or a host path (`-` for a tar on stdout).
    #[arg(value_name = "DEST")]
    pub dest: String,
}

/// `berth container …`.
#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// List containers.
    #[command(visible_alias = "list", alias = "ps")]
    Ls(PsArgs),
    /// Remove all stopped containers.
    Prune(ContainerPruneArgs),
    /// Display detailed information on one or more containers.
    Inspect(InspectArgs),
    #[command(flatten)]
    Op(Box<ContainerOp>),
}

/// What is done to containers, declared once: both top-level commands
/// (`berth run`) and `berth container` subcommands (`berth container run`),
/// as in docker.
#[derive(Debug, Subcommand)]
pub enum ContainerOp {
    /// Create and run a new container from an image.
    Run(RunArgs),
    /// Create a new container.
    Create(CreateArgs),
    /// Start one or more stopped containers.
    Start(StartArgs),
    /// Stop one or more running containers.
    Stop(StopArgs),
    /// Restart one or more containers.
    Restart(StopArgs),
    /// Kill one or more running containers.
    Kill(KillArgs),
    /// Pause all processes within one or more containers.
    Pause(ContainersArgs),
    /// Unpause all processes within one or more containers.
    Unpause(ContainersArgs),
    /// Remove one or more containers.
    Rm(RmArgs),
    /// Fetch the logs of a container.
    Logs(LogsArgs),
    /// Block until one or more containers stop, then print their exit codes.
    Wait(WaitArgs),
    /// Attach local standard input, output, and error streams to a running container.
    Attach(AttachArgs),
    /// Display the running processes of a container.
    Top(TopArgs),
    /// Display a live stream of containers' resource usage (CPU, memory,
    /// block I/O, processes) from their cgroups.
    Stats(StatsArgs),
    /// Update the resource limits of one or more containers, live and kept.
    Update(UpdateArgs),
    /// Rename a container.
    Rename(RenameArgs),
    /// Execute a command in a running container.
    Exec(ExecArgs),
    /// Inspect changes to files or directories on a container's filesystem.
    Diff(DiffArgs),
    /// List port mappings or a specific mapping for the container.
    Port(PortArgs),
    /// Create a new image from a container's changes.
    Commit(CommitArgs),
    /// Export a container's filesystem as a tar archive.
    Export(ExportArgs),
    /// Copy files/folders between a container and the local filesystem.
    Cp(CpArgs),
}

/// `berth update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Memory limit (e.g. 64m, 1g)
    #[arg(short, long, value_name = "BYTES", value_parser = crate::size::parse_bytes)]
    pub memory: Option<i64>,
    /// Number of CPUs
    #[arg(long, value_name = "DECIMAL")]
    pub cpus: Option<f64>,
    /// Tune container pids limit (-1 for unlimited)
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy: no, always, unless-stopped, on-failure[:max-retries]
    #[arg(long, value_name = "POLICY")]
    pub restart: Option<String>,
    /// The containers
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// `berth stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Print one sample and exit
    #[arg(long)]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Format output: table, json, or a Go template ({{.Name}} {{.CPUPerc}}…)
    #[arg(long)]
    pub format: Option<String>,
    /// Containers (default: all running)
    #[arg(value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// `berth container prune`.
#[derive(Debug, Args)]
pub struct ContainerPruneArgs {
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

/// What a container's start gives its monitor ([`MONITOR_COMMAND`]).
#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// The container.
    pub id: String,
    /// Hold the start until an attach client connects.
    #[arg(long)]
    pub wait_attach: bool,
}
