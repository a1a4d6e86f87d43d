//! The one error type of the distributed layer.

/// What went wrong, always with enough context for a one-line message:
/// the variable, or the operation and this process's rank.
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    /// A launcher variable is missing or malformed.
    #[error("launcher environment: {var}: {problem}")]
    Env { var: &'static str, problem: String },
    /// Joining the process group failed (store unreachable, peers missing
    /// within the timeout, a backend this build lacks).
    #[error("rank {rank}/{world}: joining the {backend} process group via {store} failed: {message}")]
    Init { rank: usize, world: usize, backend: &'static str, store: String, message: String },
    /// A collective failed on this rank: a peer died, hung past the
    /// timeout, or the inputs did not match across ranks.
    #[error("rank {rank}/{world}: {op} failed: {message}")]
    Collective { op: &'static str, rank: usize, world: usize, message: String },
    /// The arguments of a collective are inconsistent on this rank.
    #[error("rank {rank}/{world}: {op}: {problem}")]
    Usage { op: &'static str, rank: usize, world: usize, problem: String },
}

/// c10d messages span several lines (context, then the cause); errors here
/// are one line.
pub(crate) fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}
