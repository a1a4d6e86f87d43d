//! What can go wrong reading runs or writing a report: one enum whose kinds
//! a caller can act on (a path that is not a run, a file that cannot be
//! read or written, a plot that cannot be drawn), each a one-line message.

use std::fmt::Display;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file or directory operation failed (`action`: "read", "create", ...).
    #[error("cannot {action} {}", path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A path given as a run that is not a directory.
    #[error("{} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// A directory without `metrics.jsonl`.
    #[error("{} is not a run directory (it has no metrics.jsonl)", .0.display())]
    NotARun(PathBuf),
    /// A run's JSON file that does not parse.
    #[error("{} is not valid JSON", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// `report` without a run directory.
    #[error("no run directory given")]
    NoRuns,
    /// Nothing to draw, or data of the wrong shape.
    #[error("{0}")]
    Plot(String),
    /// The plotting library failed (its own message; the file when known).
    #[error("{}{message}", path.as_ref().map(|p| format!("cannot write {}: ", p.display())).unwrap_or_default())]
    Draw { path: Option<PathBuf>, message: String },
    /// Reading the sweep's manifest failed.
    #[error(transparent)]
    Sweep(#[from] tz_sweep::SweepError),
    /// Writing a report file failed.
    #[error(transparent)]
    RunDir(#[from] tz_run_dir::RunDirError),
}

pub type Result<T, E = ReportError> = std::result::Result<T, E>;

/// `map_err` for I/O: the action and the path.
pub(crate) fn file(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> ReportError {
    let path = path.into();
    move |source| ReportError::File { action, path, source }
}

/// `map_err` for the plotting library's errors.
pub(crate) fn plotting(e: impl Display) -> ReportError {
    ReportError::Draw { path: None, message: e.to_string() }
}
