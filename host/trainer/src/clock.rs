//! The run's clocks: wall-clock time over every session, and RL time (wall
//! minus validation), which the time budget and the validation schedule
//! count, so validating every few minutes costs no training time.

use std::time::Instant;

/// Seconds since a session started, on top of what earlier sessions took.
#[derive(Debug, Clone)]
pub struct RunClock {
    started: Instant,
    /// Wall and validation seconds of earlier sessions (from the saved state).
    elapsed_before: f64,
    validation_before: f64,
    /// Validation seconds in this session.
    validation: f64,
}

impl RunClock {
    /// Starts a session of a run that has already taken `elapsed_s`
    /// seconds, `validation_s` of them validating.
    pub fn start(elapsed_s: f64, validation_s: f64) -> RunClock {
        RunClock {
            started: Instant::now(),
            elapsed_before: elapsed_s,
            validation_before: validation_s,
            validation: 0.0,
        }
    }

    /// Wall-clock seconds of the run.
    pub fn elapsed(&self) -> f64 {
        self.elapsed_before + self.started.elapsed().as_secs_f64()
    }

    /// Seconds spent validating, every session.
    pub fn validation(&self) -> f64 {
        self.validation_before + self.validation
    }

    /// Wall-clock seconds not spent validating.
    pub fn rl_elapsed(&self) -> f64 {
        self.elapsed() - self.validation()
    }

    /// Counts `seconds` of validation.
    pub fn add_validation(&mut self, seconds: f64) {
        self.validation += seconds;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_time_is_kept_out_of_rl_time() {
        let mut c = RunClock::start(100.0, 30.0);
        c.add_validation(5.0);
        assert_eq!(c.validation(), 35.0);
        // Read RL time first: the clock runs on between the two reads.
        let rl = c.rl_elapsed();
        let wall = c.elapsed();
        assert!(rl >= 65.0 && wall - 35.0 >= rl, "wall {wall} s, RL {rl} s");
    }
}
