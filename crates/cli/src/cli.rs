//! The command line: every clap definition, and nothing else.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// berth: a container image engine. Images are stacks of shared read-only layers,
/// kept in a content store and unpacked once into snapshots.
#[derive(Debug, Parser)]
#[command(name = "berth", version, about, propagate_version = true)]
pub struct Cli {
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
    /// Largest uncompressed layer accepted, in bytes (a guard against decompression bombs).
    #[arg(long, global = true, env = "BERTH_MAX_LAYER_SIZE", default_value_t = 64 << 30, hide_short_help = true, value_name = "BYTES")]
    pub max_layer_size: u64,
    /// Registry settings (insecure-registries, registry-mirrors, max-concurrent-downloads, certs-dir), in daemon.json's words.
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
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands, named as Docker's.
#[derive(Debug, Subcommand)]
pub enum Command {
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
    /// Display detailed information on one or more images.
    Inspect(InspectArgs),
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
    /// Manage berth.
    #[command(subcommand)]
    System(SystemCommand),
    /// Print a shell completion script.
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `berth image …`.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
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
