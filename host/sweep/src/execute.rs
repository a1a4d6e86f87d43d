//! Running a sweep: decide per run (skip a finished one, resume an
//! interrupted one, start the rest), then run the jobs one at a time or `N`
//! at a time. Each job is a child process (`tzhost train --config
//! RUN_DIR/config.toml` or `tzhost resume RUN_DIR`) behind the [`Runner`]
//! trait, so tests can run a sweep with a fake trainer.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use super::manifest::Manifest;
use super::plan::{Plan, PlannedRun};
use super::state::{self, RunState};
use crate::error::{file, Result, SweepError};
use tz_config::{flatten, RunConfig};

/// What the sweep does with one run.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Finished already.
    Skip,
    /// Continue from the newest checkpoint.
    Resume { step: u64 },
    /// Start from scratch; `retry` when an earlier attempt left output but
    /// no checkpoint (it is moved to `.attempts/`).
    Start { retry: bool },
}

impl Action {
    pub fn describe(&self) -> String {
        match self {
            Action::Skip => "finished, skip".into(),
            Action::Resume { step } => format!("resume from step {step}"),
            Action::Start { retry: false } => "start".into(),
            Action::Start { retry: true } => "restart (earlier attempt left no checkpoint)".into(),
        }
    }
}

/// One run's decision.
#[derive(Debug, Clone)]
pub struct Decision {
    pub name: String,
    pub run_dir: PathBuf,
    pub action: Action,
    /// Set when the run directory's saved config differs from the sweep's
    /// (the sweep file changed after the run started).
    pub drift: Option<String>,
}

/// A job handed to a [`Runner`].
#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    pub run_dir: PathBuf,
    /// `RUN_DIR/config.toml`, the resolved config the sweep wrote.
    pub config_path: PathBuf,
    pub action: Action,
}

/// Runs one job to its end.
pub trait Runner: Sync {
    /// Blocks until the run ends; an error says why it failed.
    fn run(&self, job: &Job) -> Result<()>;
}

/// Runs jobs as `tzhost` child processes; their output goes to
/// `RUN_DIR/console.log`.
pub struct ProcessRunner {
    pub exe: PathBuf,
    /// Flags every child gets before the subcommand (`--plugin-dir DIR`).
    pub global_args: Vec<OsString>,
}

impl ProcessRunner {
    /// The running `tzhost` itself.
    pub fn current(global_args: Vec<OsString>) -> Result<ProcessRunner> {
        let exe = std::env::current_exe().map_err(SweepError::NoExecutable)?;
        Ok(ProcessRunner { exe, global_args })
    }

    pub fn command(&self, job: &Job) -> Command {
        let mut cmd = Command::new(&self.exe);
        // The output goes to a log file: no colour codes in it.
        cmd.args(&self.global_args).env("NO_COLOR", "1");
        match job.action {
            Action::Resume { .. } => cmd.arg("resume").arg(&job.run_dir),
            _ => cmd.arg("train").arg("--config").arg(&job.config_path),
        };
        cmd
    }
}

impl Runner for ProcessRunner {
    fn run(&self, job: &Job) -> Result<()> {
        let log_path = job.run_dir.join("console.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(file("open", &log_path))?;
        let status = self
            .command(job)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .status()
            .map_err(file("start", &self.exe))?;
        if !status.success() {
            let last = last_line(&log_path).unwrap_or_default();
            return Err(SweepError::RunFailed { status: status.to_string(), last, log: log_path });
        }
        Ok(())
    }
}

/// The last non-empty line of a log file.
fn last_line(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().rev().map(str::trim).find(|l| !l.is_empty()).map(str::to_string)
}

/// Decides every run's action from its run directory.
pub fn decide(plan: &Plan) -> Vec<Decision> {
    plan.runs
        .iter()
        .map(|run| {
            let run_dir = run.run_dir(&plan.dir);
            let (action, check_drift) = match state::inspect(&run_dir) {
                RunState::Finished => (Action::Skip, true),
                RunState::Interrupted { step, .. } => (Action::Resume { step }, true),
                RunState::Incomplete => (Action::Start { retry: true }, false),
                RunState::NotStarted => (Action::Start { retry: false }, false),
            };
            let drift = if check_drift { config_drift(&run_dir, run) } else { None };
            Decision { name: run.name.clone(), run_dir, action, drift }
        })
        .collect()
}

/// The first key where the run directory's `config.toml` differs from the
/// planned config (keys the trainer added, e.g. plugin defaults, do not count).
fn config_drift(run_dir: &Path, run: &PlannedRun) -> Option<String> {
    let saved = match RunConfig::from_file(&run_dir.join("config.toml")) {
        Ok(c) => flatten(&c.to_table()),
        Err(e) => return Some(format!("its config.toml cannot be read ({e})")),
    };
    for (key, planned) in flatten(&run.resolved.table()) {
        match saved.iter().find(|(k, _)| *k == key) {
            Some((_, v)) if *v == planned => {}
            Some((_, v)) => return Some(format!("{key} = {v} there, {planned} in the sweep")),
            None => return Some(format!("{key} is missing there")),
        }
    }
    None
}

/// Counts of a finished sweep.
#[derive(Debug, Default)]
pub struct Outcome {
    pub skipped: usize,
    pub succeeded: Vec<String>,
    /// `(run, why)`.
    pub failed: Vec<(String, String)>,
}

enum Event {
    Started(usize),
    Ended(usize, Result<()>, Duration),
}

/// Writes the manifest and the run directories' configs, then runs every
/// job that is not finished, `parallel` at a time, reporting to `out`.
pub fn execute(plan: &Plan, runner: &dyn Runner, parallel: usize, out: &mut dyn Write) -> Result<Outcome> {
    std::fs::create_dir_all(&plan.dir).map_err(file("create", &plan.dir))?;
    // Held until the sweep ends: a second sweep on this directory would move
    // this one's live runs aside and report duplicated steps.
    let _lock = tz_run_dir::DirLock::acquire(&plan.dir)?;
    let decisions = decide(plan);
    Manifest::from_plan(plan).write(&plan.dir)?;
    let total = plan.runs.len();
    let mut outcome = Outcome::default();
    let mut queue = VecDeque::new();
    writeln!(
        out,
        "sweep {}: {total} runs in {}, {} at a time",
        plan.spec.name,
        plan.dir.display(),
        parallel.max(1)
    )?;
    for (i, (run, d)) in plan.runs.iter().zip(&decisions).enumerate() {
        let tag = format!("[{:>w$}/{total}] {}", i + 1, d.name, w = total.to_string().len());
        if let Some(drift) = &d.drift {
            writeln!(
                out,
                "{tag}: warning: the sweep's config changed since this run started ({drift}); \
                 it keeps its own config (delete {} to re-run it)",
                d.run_dir.display()
            )?;
        }
        if d.action == Action::Skip {
            writeln!(out, "{tag}: finished, skipped")?;
            outcome.skipped += 1;
            continue;
        }
        if let Action::Start { retry } = d.action {
            if retry {
                let moved = move_aside(&plan.dir, &d.run_dir, &d.name)?;
                writeln!(out, "{tag}: earlier attempt moved to {}", moved.display())?;
            }
            let text = run.resolved.config.to_toml_string();
            tz_run_dir::write_atomic(&d.run_dir.join("config.toml"), text.as_bytes())?;
        }
        let job = Job {
            name: d.name.clone(),
            run_dir: d.run_dir.clone(),
            config_path: d.run_dir.join("config.toml"),
            action: d.action.clone(),
        };
        queue.push_back((i, tag, job));
    }
    let tags: Vec<(usize, String, Job)> = queue.iter().cloned().collect();
    let tag_of = |i: usize| tags.iter().find(|(j, _, _)| *j == i).map(|(_, t, job)| (t.clone(), job.clone()));
    let queue = Mutex::new(queue);
    let (tx, rx) = mpsc::channel::<Event>();
    let workers = parallel.max(1).min(tags.len());
    std::thread::scope(|scope| -> Result<()> {
        for _ in 0..workers {
            let tx = tx.clone();
            let queue = &queue;
            scope.spawn(move || loop {
                let Some((i, _, job)) = queue.lock().expect("queue lock").pop_front() else {
                    break;
                };
                let _ = tx.send(Event::Started(i));
                let t0 = Instant::now();
                let result = runner.run(&job).and_then(|()| {
                    if state::is_finished(&job.run_dir) {
                        Ok(())
                    } else {
                        Err(SweepError::Unfinished)
                    }
                });
                let _ = tx.send(Event::Ended(i, result, t0.elapsed()));
            });
        }
        drop(tx);
        for event in rx {
            match event {
                Event::Started(i) => {
                    let (tag, job) = tag_of(i).expect("queued job");
                    writeln!(out, "{tag}: {}", job.action.describe())?;
                }
                Event::Ended(i, result, took) => {
                    let (tag, job) = tag_of(i).expect("queued job");
                    match result {
                        Ok(()) => {
                            writeln!(out, "{tag}: finished in {}", human_duration(took))?;
                            outcome.succeeded.push(job.name);
                        }
                        Err(e) => {
                            let why = e.chain();
                            writeln!(out, "{tag}: FAILED after {}: {why}", human_duration(took))?;
                            outcome.failed.push((job.name, why));
                        }
                    }
                }
            }
            out.flush()?;
        }
        Ok(())
    })?;
    Ok(outcome)
}

/// Moves an attempt that left no checkpoint to `SWEEP_DIR/.attempts/NAME.K`
/// (kept for its logs, out of the report's way).
fn move_aside(sweep_dir: &Path, run_dir: &Path, name: &str) -> Result<PathBuf> {
    let attempts = sweep_dir.join(".attempts");
    std::fs::create_dir_all(&attempts)?;
    let mut k = 1;
    while attempts.join(format!("{name}.{k}")).exists() {
        k += 1;
    }
    let dest = attempts.join(format!("{name}.{k}"));
    std::fs::rename(run_dir, &dest)
        .map_err(|source| SweepError::MoveAside { path: run_dir.to_path_buf(), source })?;
    Ok(dest)
}

/// `42s`, `3m 12s`, `2h 05m`.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}
