//! Why a doctor check failed. The checks report failures as lines of the
//! doctor's table, so every message is flattened: the cause is part of the
//! line, not a separate source.

use std::path::PathBuf;

use tz_core::CoreError;

#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    /// A file that cannot be opened or read (`action`: "read", "open").
    #[error("cannot {action} {}: {error}", path.display())]
    File { action: &'static str, path: PathBuf, error: std::io::Error },
    /// A JSONL line that is not JSON.
    #[error("line {line}: not JSON: {error}")]
    NotJson { line: usize, error: serde_json::Error },
    /// A file that is not parquet.
    #[error("{} is not a parquet file: {message}", path.display())]
    NotParquet { path: PathBuf, message: String },
    /// Rows of a parquet file that do not decode (the reader's message).
    #[error("{0}")]
    Decode(String),
    /// A model that loads but computes something unusable.
    #[error("{0}")]
    Unusable(String),
    /// The core failed (its whole chain, as `{:#}` shows it).
    #[error(transparent)]
    Core(#[from] CoreError),
}

pub type Result<T, E = DoctorError> = std::result::Result<T, E>;

/// `map_err` for a reader's errors that have no better home.
pub(crate) fn decode(e: impl std::fmt::Display) -> DoctorError {
    DoctorError::Decode(e.to_string())
}
