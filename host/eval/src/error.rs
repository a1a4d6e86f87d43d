//! What can go wrong in `eval` and `generate`: one enum whose kinds a
//! caller can act on (a flag to fix, a model or data file that does not
//! load, an output that cannot be written), each a one-line message.

use std::path::PathBuf;

use tz_core::CoreError;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A flag value that cannot work (the message names the flag).
    #[error("{0}")]
    Flag(String),
    /// A setting out of its range.
    #[error(transparent)]
    Range(#[from] tz_config::ranges::RangeError),
    /// `--model` does not name a loadable model (the core's whole chain).
    #[error("--model {spec}: {error:#}")]
    Model { spec: String, error: CoreError },
    /// A data file that is missing, empty, or unreadable.
    #[error("data file {} {problem}", path.display())]
    DataFile { path: PathBuf, problem: String },
    /// A data file that does not read as rows.
    #[error(transparent)]
    Data(#[from] tz_data::DataError),
    /// A data row the task cannot read.
    #[error("{}: row {index}", path.display())]
    Row {
        path: PathBuf,
        index: usize,
        #[source]
        source: tz_sdk::handle::CallError,
    },
    /// The task lists no prompt templates.
    #[error("the task lists no templates")]
    NoTemplates,
    /// Nothing to evaluate.
    #[error("no problems to evaluate")]
    NoProblems,
    /// The figures cannot be computed from the results (a bug).
    #[error("{0}")]
    Figures(String),
    /// `--out` or `--responses` cannot be written.
    #[error("{flag} {}", path.display())]
    Output {
        flag: &'static str,
        path: PathBuf,
        #[source]
        source: tz_run_dir::RunDirError,
    },
    /// The tiny model's recipe does not resolve.
    #[error(transparent)]
    Config(#[from] tz_config::ConfigError),
    /// The task plugin is missing or refuses its settings.
    #[error(transparent)]
    PluginHost(#[from] tz_plugin_host::PluginHostError),
    /// The task plugin failed a call.
    #[error(transparent)]
    Plugin(#[from] tz_sdk::handle::CallError),
    /// Building the tiny model or scoring through the trainer failed.
    #[error(transparent)]
    Train(#[from] tz_trainer::TrainError),
    /// The core failed: loading, tokenizing, generating (its whole chain).
    #[error(transparent)]
    Core(#[from] CoreError),
}

pub type Result<T, E = EvalError> = std::result::Result<T, E>;
