//! Numeric settings in range, checked when a config is resolved, before any
//! work: a NaN learning rate, zero prompts per step or a response length of
//! 10⁸ tokens is a one-line error naming the user's key, not a run whose
//! weights turn NaN, an internal error after the first evaluation, or an
//! allocation that grows until the OS kills the process.
//!
//! Counts have generous ceilings ([`MAX_COUNT`], ...) far above any real run:
//! they only refuse what is clearly a typo. Whether a plausible setting fits
//! the machine is the question of tz-host's memory check.

use std::fmt;

use super::RunConfig;

/// The largest count of problems, prompts or samples we accept (16.7M).
pub const MAX_COUNT: i128 = 1 << 24;
/// The largest number of tokens per response or input (1M).
pub const MAX_TOKENS: i128 = 1 << 20;
/// The largest number of passes or optimizer steps of one kind (1M).
pub const MAX_STEPS: i128 = 1 << 20;

/// A setting out of its range: "key 'trainer.lr' must be …, got NaN", or
/// for a flag "--samples must be …, got 0".
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{} must be {rule}, got {got}", shown(key))]
pub struct RangeError {
    /// The user's name for the setting: a dotted key or a flag (`--samples`).
    pub key: String,
    /// "a finite number in [0, 1]", "an integer in [1, 16777216]", ...
    pub rule: String,
    pub got: String,
}

fn shown(key: &str) -> String {
    if key.starts_with('-') {
        key.to_string()
    } else {
        format!("key '{key}'")
    }
}

/// An interval end: included or not.
#[derive(Debug, Clone, Copy)]
pub enum End {
    Closed(f64),
    Open(f64),
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            End::Closed(x) | End::Open(x) => write!(f, "{x}"),
        }
    }
}

/// `x` is finite and within `[lo, hi]` (each end closed or open).
pub fn number(key: &str, x: f64, lo: End, hi: End) -> Result<(), RangeError> {
    let above = match lo {
        End::Closed(l) => x >= l,
        End::Open(l) => x > l,
    };
    let below = match hi {
        End::Closed(h) => x <= h,
        End::Open(h) => x < h,
    };
    if x.is_finite() && above && below {
        return Ok(());
    }
    let open = if matches!(lo, End::Open(_)) { '(' } else { '[' };
    let close = if matches!(hi, End::Open(_)) { ')' } else { ']' };
    let rule = match hi {
        End::Closed(h) if h == f64::MAX => {
            format!("a finite number {} {lo}", if open == '[' { ">=" } else { ">" })
        }
        _ => format!("a finite number in {open}{lo}, {hi}{close}"),
    };
    Err(RangeError { key: key.into(), rule, got: x.to_string() })
}

/// The integer `n` is within `[min, max]`.
pub fn count(key: &str, n: impl Into<i128>, min: i128, max: i128) -> Result<(), RangeError> {
    let n = n.into();
    if (min..=max).contains(&n) {
        return Ok(());
    }
    Err(RangeError { key: key.into(), rule: format!("an integer in [{min}, {max}]"), got: n.to_string() })
}

fn non_negative(key: &str, x: f64) -> Result<(), RangeError> {
    number(key, x, End::Closed(0.0), End::Closed(f64::MAX))
}

/// Sampling settings, under the caller's names for them (config keys or flags).
pub fn sampling(
    names: [&str; 4],
    temperature: f64,
    top_p: f64,
    top_k: usize,
    max_new_tokens: usize,
) -> Result<(), RangeError> {
    non_negative(names[0], temperature)?;
    number(names[1], top_p, End::Open(0.0), End::Closed(1.0))?;
    count(names[2], top_k as u64, 0, MAX_COUNT)?;
    count(names[3], max_new_tokens as u64, 1, MAX_TOKENS)
}

/// Every numeric setting of a run config; the first out of range.
pub fn check(c: &RunConfig) -> Result<(), RangeError> {
    let t = &c.trainer;
    number("trainer.lr", t.lr, End::Closed(0.0), End::Closed(1.0))?;
    non_negative("trainer.weight_decay", t.weight_decay)?;
    // AdamW multiplies each weight by 1 − lr·weight_decay every step.
    if t.lr * t.weight_decay > 1.0 {
        return Err(RangeError {
            key: "trainer.weight_decay".into(),
            rule: format!(
                "at most 1 / trainer.lr = {} (weights are scaled by 1 − lr·weight_decay)",
                1.0 / t.lr
            ),
            got: t.weight_decay.to_string(),
        });
    }
    number("trainer.betas[0]", t.betas.0, End::Closed(0.0), End::Open(1.0))?;
    number("trainer.betas[1]", t.betas.1, End::Closed(0.0), End::Open(1.0))?;
    non_negative("trainer.grad_clip", t.grad_clip)?;
    non_negative("trainer.max_minutes", t.max_minutes)?;
    non_negative("trainer.test_every_minutes", t.test_every_minutes)?;
    count("trainer.ppo_epochs", t.ppo_epochs as u64, 1, MAX_STEPS)?;
    count("trainer.mini_batch_size", t.mini_batch_size as u64, 0, MAX_COUNT)?;
    count("trainer.micro_batch_size", t.micro_batch_size as u64, 1, MAX_COUNT)?;
    count("trainer.logit_chunk", t.logit_chunk, 1, MAX_TOKENS)?;
    count("trainer.warmup_steps", t.warmup_steps, 0, MAX_STEPS)?;

    let r = &c.rollout;
    count("rollout.prompts_per_step", r.prompts_per_step as u64, 1, MAX_COUNT)?;
    count("rollout.n", r.n as u64, 1, MAX_COUNT)?;
    count("rollout.prompts_per_step × rollout.n", (r.prompts_per_step as u64) * (r.n as u64), 1, MAX_COUNT)?;
    let names = ["rollout.temperature", "rollout.top_p", "rollout.top_k", "rollout.max_response_length"];
    sampling(names, r.temperature, r.top_p, r.top_k, r.max_response_length)?;

    count("eval.size", c.eval.size as u64, 0, MAX_COUNT)?;
    count("eval.samples", c.eval.samples as u64, 1, MAX_COUNT)?;
    count("stages.eval_size", c.stages.eval_size as u64, 0, MAX_COUNT)?;
    count("task.train_size", c.task.train_size as u64, 0, MAX_COUNT)?;
    count("logging.samples_to_log", c.logging.samples_to_log as u64, 0, MAX_COUNT)?;
    non_negative("logging.progress_every_s", c.logging.progress_every_s)?;
    count("model.tiny_sft_steps", c.model.tiny_sft_steps as u64, 0, MAX_STEPS)?;
    count("reward_model.batch_size", c.reward_model.batch_size as u64, 1, MAX_COUNT)?;
    count("reward_model.max_length", c.reward_model.max_length as u64, 1, MAX_TOKENS)?;
    number("dist.timeout_s", c.dist.timeout_s, End::Open(0.0), End::Closed(7.0 * 24.0 * 3600.0))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(f: impl FnOnce(&mut RunConfig)) -> String {
        let mut c = RunConfig::default();
        f(&mut c);
        check(&c).unwrap_err().to_string()
    }

    #[test]
    fn the_defaults_are_in_range() {
        assert_eq!(check(&RunConfig::default()), Ok(()));
    }

    #[test]
    fn non_finite_and_negative_rates_name_the_key() {
        assert_eq!(
            err(|c| c.trainer.lr = f64::NAN),
            "key 'trainer.lr' must be a finite number in [0, 1], got NaN"
        );
        assert_eq!(
            err(|c| c.trainer.lr = f64::INFINITY),
            "key 'trainer.lr' must be a finite number in [0, 1], got inf"
        );
        assert_eq!(
            err(|c| c.trainer.lr = -1.0),
            "key 'trainer.lr' must be a finite number in [0, 1], got -1"
        );
        assert_eq!(
            err(|c| c.trainer.weight_decay = f64::NAN),
            "key 'trainer.weight_decay' must be a finite number >= 0, got NaN"
        );
        assert_eq!(
            err(|c| c.trainer.betas = (1.5, 2.0)),
            "key 'trainer.betas[0]' must be a finite number in [0, 1), got 1.5"
        );
        assert!(err(|c| c.trainer.weight_decay = 1e6)
            .starts_with("key 'trainer.weight_decay' must be at most 1 / trainer.lr"));
    }

    #[test]
    fn a_data_parallel_timeout_must_be_positive_and_finite() {
        for bad in [0.0, -1.0, f64::NAN] {
            assert!(err(|c| c.dist.timeout_s = bad).starts_with("key 'dist.timeout_s' must be"), "{bad}");
        }
    }

    #[test]
    fn zero_and_absurd_counts_name_the_key() {
        assert_eq!(err(|c| c.rollout.n = 0), "key 'rollout.n' must be an integer in [1, 16777216], got 0");
        assert_eq!(
            err(|c| c.rollout.prompts_per_step = 0),
            "key 'rollout.prompts_per_step' must be an integer in [1, 16777216], got 0"
        );
        assert_eq!(
            err(|c| c.rollout.max_response_length = 100_000_000),
            "key 'rollout.max_response_length' must be an integer in [1, 1048576], got 100000000"
        );
        assert!(err(|c| c.eval.size = 100_000_000).starts_with("key 'eval.size' must be an integer"));
        assert!(err(|c| c.rollout.n = 1 << 20).starts_with("key 'rollout.prompts_per_step × rollout.n'"));
        assert_eq!(
            err(|c| c.rollout.top_p = 0.0),
            "key 'rollout.top_p' must be a finite number in (0, 1], got 0"
        );
    }
}
