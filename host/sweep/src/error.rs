//! What can go wrong reading, planning or running a sweep: one enum whose
//! kinds a caller can act on (fix the sweep file, fix a run's config, look
//! at a failed run's log), each a one-line message.

use std::path::PathBuf;

use tz_config::ConfigError;

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// A file or directory operation failed (`action`: "read", "create", ...).
    #[error("cannot {action} {}", path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A failed run directory could not be moved out of the way.
    #[error("cannot move {} aside", path.display())]
    MoveAside {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The sweep file is wrong: an unknown key, a bad axis, a duplicate
    /// label (`problem` names it), after the file when there is one.
    #[error("{}{problem}", file.as_ref().map(|f| format!("{}: ", f.display())).unwrap_or_default())]
    Spec { file: Option<PathBuf>, problem: String },
    /// The base config, the `[config]` table or a `--set` is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// One run's resolved config is wrong.
    #[error("run '{run}': {error}")]
    RunConfig { run: String, error: Box<ConfigError> },
    /// Two combinations of labels give the same run name.
    #[error("two runs are both named '{0}'; give the variants or axis values distinct labels")]
    DuplicateRun(String),
    /// The arms differ in keys `sweep.compares` does not name.
    #[error(
        "sweep {sweep}: its arms also differ in {}, which sweep.compares ({}) does not name; \
         set it alike for every arm, or add it to sweep.compares",
        stray.join("; "),
        compares.join(", ")
    )]
    Confounded { sweep: String, stray: Vec<String>, compares: Vec<String> },
    /// A sweep directory's manifest that is not one.
    #[error("{} is not a sweep manifest", path.display())]
    Manifest {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A directory with neither a manifest nor run directories.
    #[error("{} holds no {} and no run directories", .0.display(), crate::manifest::MANIFEST)]
    NotASweep(PathBuf),
    /// The running executable cannot be found (to start the runs).
    #[error("cannot find the tzhost executable")]
    NoExecutable(#[source] std::io::Error),
    /// A run's process failed: its exit status and the last line of its log.
    #[error("{status}: {last} (log: {})", log.display())]
    RunFailed { status: String, last: String, log: PathBuf },
    /// Another [`crate::Runner`]'s own reason for a failed run.
    #[error(transparent)]
    Runner(Box<dyn std::error::Error + Send + Sync>),
    /// A run ended without saying it finished.
    #[error("the run ended without a summary.json saying finished: true")]
    Unfinished,
    /// Another process holds the sweep directory.
    #[error(transparent)]
    Lock(#[from] tz_run_dir::LockError),
    #[error(transparent)]
    RunDir(#[from] tz_run_dir::RunDirError),
    /// Writing the progress lines failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = SweepError> = std::result::Result<T, E>;

impl SweepError {
    /// The message and every cause, `: `-separated.
    pub fn chain(&self) -> String {
        tz_logging::one_line(self)
    }
}

/// `map_err` for I/O: the action and the path.
pub(crate) fn file(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> SweepError {
    let path = path.into();
    move |source| SweepError::File { action, path, source }
}
