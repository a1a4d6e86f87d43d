//! `tzhost`: parse, dispatch, and turn every error into one line.

use std::process::ExitCode;

use clap::Parser;
use tz_host::cli::{Cli, Command};
use tz_host::cmd;
use tz_logging as logging;
use tz_plugin_host::{search_dirs, Registry};

fn main() -> ExitCode {
    // A bug must still end in one readable line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!("error: internal error{at}: {msg} (please report this)");
    }));
    let cli = Cli::parse();
    logging::init(if cli.global.quiet { -1 } else { cli.global.verbose as i8 });
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", logging::one_line(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let env_path = std::env::var("TZ_PLUGIN_PATH").ok();
    let registry = || -> anyhow::Result<Registry> {
        Ok(Registry::discover(&search_dirs(&cli.global.plugin_dirs, env_path.as_deref())?)?)
    };
    match &cli.command {
        None => cmd::train::run(&cli.train, &registry()?),
        Some(Command::Train(args)) => cmd::train::run(args, &registry()?),
        Some(Command::Plugins(args)) => cmd::plugins::run(args, &registry()?),
        Some(Command::Config(args)) => cmd::config::run(args, registry),
        Some(Command::Sweep(args)) => cmd::sweep::run(args, &cli.global, registry),
        Some(Command::Doctor(args)) => cmd::doctor::run(args, &cli.global, env_path.as_deref()),
        Some(Command::Report(args)) => cmd::report::run(args),
        Some(Command::Resume(args)) => cmd::resume::run(args, &registry()?),
        Some(Command::Data(args)) => cmd::data::run(args, &registry, !cli.global.quiet),
        Some(Command::Reward(args)) => cmd::reward::run(args, &registry()?, !cli.global.quiet),
        Some(Command::Generate(args)) => Ok(tz_eval::generate::run(args)?),
        Some(Command::Eval(args)) => Ok(tz_eval::command::run(args, &registry()?)?),
        Some(Command::Plan(args)) => cmd::plan::run(args, &registry()?),
    }
}
