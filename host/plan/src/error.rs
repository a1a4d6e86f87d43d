//! Errors of the planner: each one line, naming what is wrong.

/// Why a shape, a run or a device could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("not a valid config.json: {0}")]
    Json(String),
    #[error("missing key '{0}'")]
    MissingKey(String),
    #[error("key '{key}': {why}")]
    BadKey { key: String, why: String },
    #[error("{0}")]
    BadRun(String),
    #[error("--gpu '{0}' is not h100, h200 or a size in GiB (e.g. 24)")]
    BadGpu(String),
    #[error("unknown dtype '{0}' (f32, bf16, f16)")]
    BadDtype(String),
}
