//! What can go wrong reading, writing or converting data rows: one enum
//! whose kinds a caller can act on (a file that cannot be opened, a file
//! that is not parquet, a bad JSONL line, an input or flag to fix, a task
//! plugin that refuses a row), each a one-line message.

use std::path::PathBuf;

use tz_sdk::handle::CallError;

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file or directory operation failed (`action`: "open", "read", "create", ...).
    #[error("cannot {action} {}", path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file that parquet cannot open.
    #[error("{} is not a readable parquet file", path.display())]
    NotParquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// A JSONL line that is not an object.
    #[error("{}:{line}: expected a JSON object, got {got}", path.display())]
    NotObject { path: PathBuf, line: usize, got: String },
    /// Rows whose columns have no common parquet type.
    #[error("{0}")]
    Schema(String),
    /// An output path that names no file.
    #[error("{} is not a file path", .0.display())]
    NotAFilePath(PathBuf),
    /// An output path that is a directory.
    #[error("{} is a directory, not a file", .0.display())]
    IsADirectory(PathBuf),
    /// Input lines or flags a command cannot use (the message names them).
    #[error("{0}")]
    Input(String),
    /// The task plugin refused a call (its own one-line message).
    #[error(transparent)]
    Plugin(#[from] CallError),
    #[error(transparent)]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error(transparent)]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Utf8(#[from] std::str::Utf8Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// An error with what was being read or written when it happened.
    #[error("{context}")]
    Context {
        context: String,
        #[source]
        source: Box<DataError>,
    },
}

pub type Result<T, E = DataError> = std::result::Result<T, E>;

/// `map_err` that says what was being done: `context`, then the error.
pub(crate) fn at<E: Into<DataError>>(context: impl Into<String>) -> impl FnOnce(E) -> DataError {
    move |e| DataError::Context { context: context.into(), source: Box::new(e.into()) }
}

/// `map_err` for I/O: the action and the path.
pub(crate) fn file(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> DataError {
    let path = path.into();
    move |source| DataError::File { action, path, source }
}

/// An [`DataError::Input`] error (like `anyhow::bail!`).
macro_rules! input {
    ($($arg:tt)*) => {
        $crate::error::DataError::Input(format!($($arg)*))
    };
}
pub(crate) use input;
