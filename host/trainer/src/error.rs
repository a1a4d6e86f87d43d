//! The trainer's errors: one enum whose kinds a caller can act on (resume
//! instead of start, rebuild a plugin, fix a setting), each a one-line
//! message naming what went wrong.
//!
//! The core's errors ([`tz_core::CoreError`]) arrive here as
//! [`TrainError::Core`] with their whole message chain kept.

use std::fmt::Display;
use std::path::PathBuf;

use tz_plugin_host::PluginHostError;
use tz_run_dir::RunDirError;
use tz_sdk::handle::CallError;

/// Why a run could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// `start` on a directory that holds another run's output (without `overwrite`).
    #[error(
        "{} already holds a run ({found}): `tzhost resume {}` continues it, --overwrite deletes it, \
         or choose another --out",
        .dir.display(),
        .dir.display()
    )]
    RunExists { dir: PathBuf, found: String },
    /// `resume` of a run that has finished.
    #[error("the run in {} has finished; nothing to resume", .0.display())]
    Finished(PathBuf),
    /// `resume` of a run killed before its first checkpoint.
    #[error(
        "{} has no finished checkpoint to resume from (the run stopped before its first save): \
         start it again with `tzhost --config {} --overwrite`",
        .0.display(),
        .0.join("config.toml").display()
    )]
    NoCheckpoint(PathBuf),
    /// Every checkpoint of a run failed [`crate::checkpoint::check_readable`].
    #[error("no checkpoint of {} can be read: {last}", .dir.display())]
    NoReadableCheckpoint { dir: PathBuf, last: Box<TrainError> },
    /// SIGINT or SIGTERM stopped the run after a step (saved; it can resume).
    #[error("stopped by a signal after step {step}; continue with `tzhost resume {}`", .dir.display())]
    Interrupted { step: u64, dir: PathBuf },
    /// Another process holds the run (or sweep) directory.
    #[error(transparent)]
    Lock(#[from] tz_run_dir::LockError),
    /// A plugin refused a call (its own one-line message).
    #[error(transparent)]
    Plugin(#[from] CallError),
    /// Finding or creating the run's plugins failed.
    #[error(transparent)]
    PluginHost(#[from] PluginHostError),
    /// Writing the run directory failed.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    /// The core failed: loading a model, a forward pass, a checkpoint file.
    #[error(transparent)]
    Core(#[from] tz_core::CoreError),
    /// The run's log file cannot be opened or written.
    #[error(transparent)]
    Log(#[from] tz_logging::LogFileError),
    /// Reading a data file failed.
    #[error(transparent)]
    Data(#[from] tz_data::DataError),
    /// A setting or a saved config is unusable.
    #[error(transparent)]
    Config(#[from] tz_config::ConfigError),
    /// The core's step batch was driven out of order (a bug).
    #[error(transparent)]
    Batch(#[from] tz_core::rl_batch::BatchError),
    /// A collective of a data-parallel job failed (names the rank).
    #[error(transparent)]
    Dist(#[from] tz_core::parallel::DistError),
    /// `tzhost resume` on another world size than the run was saved with.
    #[error("{} was saved by {saved} data-parallel rank(s), this job has {now}: resume with the same world size", .dir.display())]
    WorldSize { dir: PathBuf, saved: usize, now: usize },
    /// Bad input or state, described in the message.
    #[error("{0}")]
    Invalid(String),
    /// An error with what was being done when it happened.
    #[error("{context}")]
    Context {
        context: String,
        #[source]
        source: Box<TrainError>,
    },
}

pub type Result<T, E = TrainError> = std::result::Result<T, E>;

impl From<std::io::Error> for TrainError {
    fn from(e: std::io::Error) -> Self {
        TrainError::Core(e.into())
    }
}

impl From<serde_json::Error> for TrainError {
    fn from(e: serde_json::Error) -> Self {
        TrainError::Invalid(e.to_string())
    }
}

impl TrainError {
    /// The message and every cause, `: `-separated (as anyhow's `{:#}`).
    pub fn chain(&self) -> String {
        tz_logging::one_line(self)
    }
}

/// `anyhow`-style context on any result whose error converts into a
/// [`TrainError`] (and on options).
pub trait Context<T> {
    fn context(self, context: impl Display) -> Result<T>;
    fn with_context<C: Display>(self, f: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: Into<TrainError>> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl Display) -> Result<T> {
        self.map_err(|e| TrainError::Context { context: context.to_string(), source: Box::new(e.into()) })
    }
    fn with_context<C: Display>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| TrainError::Context { context: f().to_string(), source: Box::new(e.into()) })
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, context: impl Display) -> Result<T> {
        self.ok_or_else(|| TrainError::Invalid(context.to_string()))
    }
    fn with_context<C: Display>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.ok_or_else(|| TrainError::Invalid(f().to_string()))
    }
}

/// Returns early with [`TrainError::Invalid`] (like `anyhow::bail!`).
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::error::TrainError::Invalid(format!($($arg)*)))
    };
}

/// [`bail!`] unless the condition holds (like `anyhow::ensure!`).
macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            $crate::error::bail!($($arg)*);
        }
    };
}

pub(crate) use {bail, ensure};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_reads_like_a_chain_and_kinds_survive() {
        let e: Result<()> = Err(CallError::from("plugin 'x': bad".to_string())).context("scoring");
        let e = e.unwrap_err();
        let chain: Vec<String> = std::iter::successors(Some(&e as &dyn std::error::Error), |e| e.source())
            .map(|e| e.to_string())
            .collect();
        assert_eq!(chain, ["scoring", "plugin 'x': bad"]);
        let TrainError::Context { source, .. } = e else { panic!("not a context") };
        assert!(matches!(*source, TrainError::Plugin(_)));
    }
}
