//! Graceful stop on SIGINT/SIGTERM: the first signal asks the run to finish
//! its step, save a checkpoint and the summary, and exit non-zero; a second
//! one exits at once. Cluster schedulers send SIGTERM some time before they
//! kill a job, which this makes survivable.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGINT, SIGTERM};

/// Set by the first SIGINT or SIGTERM; read by the training loop between steps.
#[derive(Debug, Clone)]
pub struct StopRequest {
    requested: Arc<AtomicBool>,
}

impl StopRequest {
    /// Installs the handlers for this process.
    pub fn install() -> std::io::Result<StopRequest> {
        let requested = Arc::new(AtomicBool::new(false));
        for signal in [SIGINT, SIGTERM] {
            // Registered first, so it runs before the flag is set: on the
            // second signal the flag is already true and the process exits
            // (128 + the signal, as a shell reports a signal death).
            signal_hook::flag::register_conditional_shutdown(signal, 128 + signal, Arc::clone(&requested))?;
            signal_hook::flag::register(signal, Arc::clone(&requested))?;
        }
        Ok(StopRequest { requested })
    }

    /// A request set by `flag` instead of a signal handler (tests).
    #[cfg(test)]
    pub(crate) fn from_flag(requested: Arc<AtomicBool>) -> StopRequest {
        StopRequest { requested }
    }

    /// True once a stop was asked for.
    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::Relaxed)
    }
}
