//! The `berth` binary: parses the command line, opens the engine, runs one
//! command, and turns errors into one line on stderr and Docker's exit codes.

mod cli;
mod commands;
mod format;
mod progress;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use cli::{Cli, Command, ImageCommand, SystemCommand};

/// Exit status of berth's own failures, as Docker's.
const EXIT_BERTH: u8 = 125;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::env::var_os("NO_COLOR").is_none())
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if e.downcast_ref::<commands::Reported>().is_none() {
                eprintln!("Error: {}", commands::describe(&e));
            }
            ExitCode::from(EXIT_BERTH)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Completion { shell } = cli.command {
        clap_complete::generate(shell, &mut Cli::command(), "berth", &mut std::io::stdout());
        return Ok(());
    }
    let engine = commands::open_engine(&cli)?;
    use commands::{archive, images, registry, system};
    match cli.command {
        Command::Import(a) | Command::Image(ImageCommand::Import(a)) => archive::import(&engine, a),
        Command::Images(a) | Command::Image(ImageCommand::Ls(a)) => images::list(&engine, a),
        Command::Tag(a) | Command::Image(ImageCommand::Tag(a)) => images::tag(&engine, a),
        Command::Rmi(a) | Command::Image(ImageCommand::Rm(a)) => images::remove(&engine, a),
        Command::Image(ImageCommand::Prune(a)) => images::prune(&engine, a),
        Command::Inspect(a) | Command::Image(ImageCommand::Inspect(a)) => {
            images::inspect(&engine, a)
        }
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
        Command::Completion { .. } => Ok(()),
    }
}
