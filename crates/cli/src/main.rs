//! The `berth` binary: parses the command line, opens the engine, runs one
//! command, and turns errors into one line on stderr and Docker's exit codes.

mod cli;
mod commands;
mod config;
mod format;
mod progress;
mod size;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser};

use cli::{BuilderCommand, Cli, Command, ImageCommand, RegistryCommand, SystemCommand};

/// Exit status of a failed `run` or a bad command line, as docker's: the
/// container never ran.
const EXIT_BERTH: u8 = 125;
/// Exit status of any other command's failure, as docker's.
const EXIT_FAILED: u8 = 1;
/// Exit status of a `--format` template that does not parse, as docker's.
const EXIT_TEMPLATE: u8 = 64;

fn main() -> ExitCode {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == cli::MONITOR_COMMAND) {
        args.remove(1);
        return monitor(args);
    }
    let matches = Cli::command()
        .try_get_matches_from(args)
        .unwrap_or_else(|e| exit_on_usage_error(e));
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => exit_on_usage_error(e),
    };
    let root_given = matches
        .value_source("root")
        .is_some_and(|s| s != clap::parser::ValueSource::DefaultValue);
    // A registry server logs each request at info level unless told --quiet.
    let access_log = match &cli.command {
        Command::Registry(RegistryCommand::Serve(a)) if !a.quiet => ",berth::registry=info",
        Command::Daemon(_) => ",berth::daemon=info",
        _ => "",
    };
    init_logging(&cli.global, access_log);
    let failed = failure_status(&cli.command);
    exit_code(run(cli, root_given), failed)
}

/// A container's monitor: started by berth itself for each container start.
fn monitor(args: Vec<std::ffi::OsString>) -> ExitCode {
    let cli = cli::MonitorCli::try_parse_from(args).unwrap_or_else(|e| exit_on_usage_error(e));
    init_logging(&cli.global, "");
    let run = commands::open_engine(&cli.global).and_then(|engine| {
        engine.run_monitor(&cli.monitor.id, cli.monitor.wait_attach)?;
        Ok(())
    });
    exit_code(run, EXIT_FAILED)
}

fn init_logging(global: &cli::GlobalFlags, extra: &str) {
    // libcontainer reports what the caller reports again (and warns about
    // cgroup controllers this host lacks): its lines show only when asked for.
    let quiet_runtime = if global.log_level.contains("libc") {
        ""
    } else {
        ",libcontainer=off,libcgroups=off"
    };
    let filter = tracing_subscriber::EnvFilter::try_new(format!(
        "{}{quiet_runtime}{extra}",
        global.log_level
    ))
    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(
            std::env::var_os("NO_COLOR").is_none()
                && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        )
        .init();
}

/// A command's outcome as its exit status, its error as one line on stderr.
fn exit_code(result: anyhow::Result<()>, failed: u8) -> ExitCode {
    let Err(e) = result else {
        return ExitCode::SUCCESS;
    };
    if let Some(commands::ExitWith(code)) = e.downcast_ref::<commands::ExitWith>() {
        return ExitCode::from(*code as u8);
    }
    if e.downcast_ref::<commands::Reported>().is_none() {
        eprintln!("Error: {}", commands::describe(&e));
    }
    if e.downcast_ref::<format::TemplateParseError>().is_some() {
        return ExitCode::from(EXIT_TEMPLATE);
    }
    if e.downcast_ref::<commands::UsageError>().is_some() {
        return ExitCode::from(EXIT_BERTH);
    }
    // docker: 126 when the command cannot be invoked, 127 when it is not
    // found; a failed build is 1.
    match e.downcast_ref::<berth_engine::Error>() {
        Some(berth_engine::Error::Start { code, .. }) => ExitCode::from(*code as u8),
        Some(
            berth_engine::Error::Build { .. }
            | berth_engine::Error::Dockerfile(_)
            | berth_engine::Error::Canceled(_),
        ) => ExitCode::from(1),
        _ => ExitCode::from(failed),
    }
}

/// docker's status for a failed command: 125 for `run` (the container never
/// ran: the failure is the engine's), 1 for every other command.
fn failure_status(command: &Command) -> u8 {
    use cli::{ContainerCommand, ContainerOp};
    match command {
        Command::Op(op) | Command::Container(ContainerCommand::Op(op))
            if matches!(**op, ContainerOp::Run(_)) =>
        {
            EXIT_BERTH
        }
        _ => EXIT_FAILED,
    }
}

/// A command line clap refused: its message and docker's 125 (help and
/// `--version` are not failures).
fn exit_on_usage_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    let _ = e.print();
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => std::process::exit(0),
        _ => std::process::exit(EXIT_BERTH.into()),
    }
}

fn run(mut cli: Cli, root_given: bool) -> anyhow::Result<()> {
    // `berth daemon --config-file F` reads its settings where the rest of
    // berth reads them.
    if let Command::Daemon(a) = &cli.command
        && let Some(f) = &a.config_file
    {
        cli.global.registries_config = f.clone();
    }
    if let Command::Completion { shell } = cli.command {
        clap_complete::generate(shell, &mut Cli::command(), "berth", &mut std::io::stdout());
        return Ok(());
    }
    // The registry server has its own storage: no engine, no image store.
    if let Command::Registry(command) = &cli.command {
        let root = root_given.then_some(cli.global.root.as_path());
        return commands::registry_server::run(command, root);
    }
    let engine = commands::open_engine(&cli.global)?;
    use cli::ContainerCommand as C;
    use commands::{archive, build, containers as ctr, images, registry, system};
    match cli.command {
        Command::Op(op) | Command::Container(C::Op(op)) => ctr::dispatch(&engine, *op),
        Command::Ps(a) | Command::Container(C::Ls(a)) => ctr::ps(&engine, a),
        Command::Container(C::Prune(a)) => ctr::prune(&engine, a),
        Command::Container(C::Inspect(a)) => {
            ctr::inspect(&engine, a, Some(cli::ObjectKind::Container))
        }
        Command::Inspect(a) => ctr::inspect(&engine, a.inspect, a.kind),
        Command::Build(a) | Command::Image(ImageCommand::Build(a)) => build::build(&engine, a),
        Command::Builder(BuilderCommand::Build(a)) => build::build(&engine, *a),
        Command::Builder(BuilderCommand::Prune(a)) => build::prune(&engine, a),
        Command::Import(a) | Command::Image(ImageCommand::Import(a)) => archive::import(&engine, a),
        Command::Images(a) | Command::Image(ImageCommand::Ls(a)) => images::list(&engine, a),
        Command::Tag(a) | Command::Image(ImageCommand::Tag(a)) => images::tag(&engine, a),
        Command::Rmi(a) | Command::Image(ImageCommand::Rm(a)) => images::remove(&engine, a),
        Command::Image(ImageCommand::Prune(a)) => images::prune(&engine, a),
        Command::Image(ImageCommand::Inspect(a)) => images::inspect(&engine, a),
        Command::History(a) | Command::Image(ImageCommand::History(a)) => {
            images::history(&engine, a)
        }
        Command::Save(a) | Command::Image(ImageCommand::Save(a)) => archive::save(&engine, a),
        Command::Load(a) | Command::Image(ImageCommand::Load(a)) => archive::load(&engine, a),
        Command::Pull(a) | Command::Image(ImageCommand::Pull(a)) => registry::pull(&engine, a),
        Command::Push(a) | Command::Image(ImageCommand::Push(a)) => registry::push(&engine, a),
        Command::Login(a) => registry::login(&engine, a),
        Command::Logout(a) => registry::logout(&engine, a),
        Command::Search(a) => registry::search(&engine, a),
        Command::Image(ImageCommand::Mount(a)) => system::mount(&engine, a),
        Command::Image(ImageCommand::Umount(a)) => system::umount(&engine, a),
        Command::System(SystemCommand::Df(a)) => system::df(&engine, a),
        Command::System(SystemCommand::Prune(a)) => system::prune(&engine, a),
        Command::System(SystemCommand::Info(a)) | Command::Info(a) => system::info(&engine, a),
        Command::Version(a) => system::version(&engine, a),
        Command::System(SystemCommand::Events(a)) | Command::Events(a) => {
            system::events(&engine, a)
        }
        Command::Daemon(a) => commands::daemon::run(
            engine,
            a,
            &cli.global.runroot,
            &cli.global.registries_config,
        ),
        Command::Volume(c) => commands::volumes::run(&engine, c),
        Command::Network(c) => commands::networks::run(&engine, c),
        Command::NetworkDns => Ok(berth_engine::serve_dns(&engine)?),
        Command::Completion { .. } | Command::Registry(_) => Ok(()),
    }
}
