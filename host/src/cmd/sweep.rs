//! `tzhost sweep FILE` and `tzhost sweep report DIR`.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Result};

use tz_config::{check_plugin_tables, check_plugins_accept};
use tz_plugin_host::Registry;
use tz_report::sweep_report;
use tz_sweep::{self as sweep, ProcessRunner, SweepSpec};

use super::global::GlobalArgs;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SweepArgs {
    #[command(subcommand)]
    pub action: Option<SweepAction>,
    /// The sweep file (see configs/sweeps/).
    pub file: Option<PathBuf>,
    /// Runs at a time [default: the file's sweep.parallel, else 1].
    #[arg(long, value_name = "N")]
    pub parallel: Option<usize>,
    /// List the runs and what would happen to each (start, resume, skip); run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The sweep directory [default: the file's sweep.out, else <logging.runs_dir>/<sweep name>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Override a config key in every run (after the sweep's own keys); repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Do not write the report when the sweep ends.
    #[arg(long)]
    pub no_report: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum SweepAction {
    /// Write the summary table (report.md, report.csv) and plots (plots/*.png) of a sweep directory.
    Report {
        /// The sweep directory (holding sweep.json and one directory per run).
        dir: PathBuf,
    },
}

pub fn run(args: &SweepArgs, global: &GlobalArgs, registry: impl FnOnce() -> Result<Registry>) -> Result<()> {
    if let Some(SweepAction::Report { dir }) = &args.action {
        return report(dir);
    }
    let Some(file) = &args.file else {
        bail!("give a sweep file (tzhost sweep FILE) or `tzhost sweep report DIR`");
    };
    let spec = SweepSpec::from_file(file)?;
    let plan = sweep::expand(&spec, &args.set, args.out.as_deref())?;
    // Check every run's plugin settings now rather than hours into the sweep.
    let registry = registry()?;
    for run in &plan.runs {
        check_plugin_tables(&run.resolved, &registry)
            .and_then(|()| check_plugins_accept(&run.resolved.config, &registry))
            .map_err(|e| anyhow::anyhow!("run '{}': {e}", run.name))?;
    }
    let mut out = std::io::stdout().lock();
    if args.dry_run {
        return Ok(sweep::print_plan(&plan, &mut out)?);
    }
    let parallel = args.parallel.unwrap_or(spec.parallel);
    if parallel == 0 {
        bail!("--parallel must be at least 1");
    }
    let runner = ProcessRunner::current(child_args(global)?)?;
    let outcome = sweep::execute(&plan, &runner, parallel, &mut out)?;
    if !args.no_report {
        let r = sweep_report::write_report(&plan.dir)?;
        writeln!(out, "\n{}", r.markdown())?;
        writeln!(out, "report: {}", plan.dir.join("report.md").display())?;
    }
    if !outcome.failed.is_empty() {
        // In plan order, not in the order they ended.
        let list: Vec<String> = plan
            .runs
            .iter()
            .filter(|r| outcome.failed.iter().any(|(n, _)| *n == r.name))
            .map(|r| r.name.clone())
            .collect();
        bail!(
            "{} of {} runs failed ({}); re-run the same command to retry them (finished runs are skipped)",
            outcome.failed.len(),
            plan.runs.len(),
            list.join(", ")
        );
    }
    Ok(())
}

fn report(dir: &std::path::Path) -> Result<()> {
    let r = sweep_report::write_report(dir)?;
    let mut out = std::io::stdout().lock();
    write!(out, "{}", r.markdown())?;
    writeln!(
        out,
        "\nwritten: {}, {}, {} plots",
        dir.join("report.md").display(),
        dir.join("report.csv").display(),
        r.plots.len()
    )?;
    Ok(())
}

/// The global flags each child `tzhost` gets (plugin directories made absolute).
fn child_args(global: &GlobalArgs) -> Result<Vec<OsString>> {
    let mut args = Vec::new();
    for d in &global.plugin_dirs {
        args.push(OsString::from("--plugin-dir"));
        args.push(std::path::absolute(d)?.into_os_string());
    }
    if global.quiet {
        args.push("-q".into());
    }
    for _ in 0..global.verbose {
        args.push("-v".into());
    }
    Ok(args)
}
