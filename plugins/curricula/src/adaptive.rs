//! `adaptive`: a controller of the rollout-length window (the max new-token
//! limit of the next batch), after the `AdaptiveSuccessWindowController` of
//! the adaptive-rollout TinyZero fork. Shorter windows make rollouts cheaper;
//! the controller keeps the window just large enough for the answers the
//! model gets right.
//!
//! ## State
//!
//! The controller's window `W`, the exponential moving averages (weight
//! `ema_alpha` on the newest batch) of the batch success rate `S` and of the
//! mean length of correct responses `Lc`, the number of batches seen, whether
//! the next batch explores, and the SplitMix64 RNG. All of it round-trips
//! through `state()` / `restore()`, so a resumed run makes the same decisions.
//!
//! ## Rules, applied after each batch (in this order)
//!
//! 1. **Bounds.** `max` is `max_window`, or the run's max response length
//!    (`BatchStats.max_window`) when 0 (and never above it). `W` is always
//!    clamped to `[min_window, max]`.
//! 2. **Warm-up.** For the first `warmup_steps` batches `W` stays at
//!    `initial_window` (0 = `max`). After the last warm-up batch `W` is fitted:
//!    `W = ceil_to(Lc · headroom, step_size)`; if nothing was correct yet `W`
//!    keeps its warm-up value.
//! 3. **Exploration batches** (see 6) say nothing about `W`'s own fit, so
//!    they only update the averages, plus one rule: if the 90th percentile of
//!    correct lengths exceeds `W` (the window would have cut successes), `W`
//!    grows to cover it, `W = ceil_to(p90, step_size)`.
//! 4. **Grow** when `S <= low_success` (the model needs room) or the batch
//!    saturated the window (truncated fraction `>= saturation_frac`):
//!    `W = ceil_to(W · grow_factor, step_size)`, at least one step more.
//! 5. **Shrink** otherwise, when `S >= high_success` and the correct
//!    responses under-use the window (`p90 < underuse_frac · W`):
//!    `W = floor_to(W · shrink_factor, step_size)`, at least one step less,
//!    but never below `ceil_to(Lc · headroom, step_size)`. Rounding down
//!    when shrinking and up when growing makes every change move by at least
//!    one step, so small windows cannot get stuck.
//! 6. **Explore.** After warm-up, with probability `epsilon` the next batch is
//!    generated with the `max` window instead of `W` (epsilon-greedy), drawn
//!    from the seeded RNG. `W` itself is unchanged by this.
//!
//! Growth wins over shrinking when both apply (a saturated window with high
//! success still grows): truncating answers costs accuracy, an over-large
//! window only costs compute.
//!
//! ## Metrics (per observed batch)
//!
//! `adaptive_window/current_window` (`W` after the update),
//! `adaptive_window/mean_success_length` (`Lc`, 0 before any success),
//! `adaptive_window/success_rate` (`S`), `adaptive_window/explored` (1 when
//! this batch was an exploration batch), plus `batch_window` (the limit the
//! batch was generated with), `batch_success_rate`, `p90_success_length` and
//! `truncated_frac` under the same prefix.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tz_sdk::prelude::*;
use tz_sdk::rng::SplitMix64;

/// Configuration of the `adaptive` window controller.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AdaptiveConfig {
    /// Window (max new tokens) during warm-up; 0 = the max window.
    pub initial_window: u32,
    /// Batches observed before the window is first fitted to the correct responses' length.
    pub warmup_steps: u32,
    /// Fitted windows are the mean correct length times this factor (>= 1); also the floor of a shrink.
    pub headroom: f64,
    /// Windows are rounded to multiples of this many tokens; every change moves at least one step.
    pub step_size: u32,
    /// Smallest window the controller uses.
    pub min_window: u32,
    /// Largest window; 0 = the run's max response length.
    pub max_window: u32,
    /// Weight of the newest batch in the moving averages of success rate and correct length (0 < a <= 1).
    pub ema_alpha: f64,
    /// Shrinking needs a success rate (moving average) at least this high.
    pub high_success: f64,
    /// A success rate (moving average) at or below this grows the window.
    pub low_success: f64,
    /// The window is under-used when the 90th percentile of correct lengths is below this fraction of it.
    pub underuse_frac: f64,
    /// The window is saturated (grow) when at least this fraction of the batch was truncated.
    pub saturation_frac: f64,
    /// Multiplier applied when shrinking (0 < f < 1).
    pub shrink_factor: f64,
    /// Multiplier applied when growing (> 1).
    pub grow_factor: f64,
    /// Probability that a batch after warm-up explores with the max window.
    pub epsilon: f64,
    /// Seed of the exploration draws.
    pub seed: u64,
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        AdaptiveConfig {
            initial_window: 0,
            warmup_steps: 5,
            headroom: 1.5,
            step_size: 64,
            min_window: 128,
            max_window: 0,
            ema_alpha: 0.3,
            high_success: 0.6,
            low_success: 0.2,
            underuse_frac: 0.6,
            saturation_frac: 0.1,
            shrink_factor: 0.85,
            grow_factor: 1.25,
            epsilon: 0.05,
            seed: 0,
        }
    }
}

/// Everything the controller remembers between batches (saved with checkpoints).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct AdaptiveState {
    /// Batches observed.
    step: u64,
    /// The controller's window; `None` until known (warm-up at the max before the max is known).
    window: Option<u32>,
    /// Moving average of the batch success rate.
    ema_success: Option<f64>,
    /// Moving average of the mean length of correct responses.
    ema_success_length: Option<f64>,
    /// The resolved max window, once a batch has told us the run's max.
    max_window: Option<u32>,
    /// The next batch uses the max window.
    explore_next: bool,
    rng: SplitMix64,
}

/// The adaptive rollout-length window controller.
pub struct Adaptive {
    config: AdaptiveConfig,
    state: AdaptiveState,
}

impl Plugin for Adaptive {
    const NAME: &'static str = "adaptive";
    const DESCRIPTION: &'static str =
        "Adaptive rollout-length window: fit to correct-answer lengths, shrink when under-used, grow on low success or truncation, epsilon-explore the max";
    type Config = AdaptiveConfig;

    fn new(config: AdaptiveConfig, _host: HostServices) -> PluginResult<Self> {
        Adaptive::with_config(config)
    }
}

/// `Err("config key 'k': ...")` unless `ok`.
fn require(ok: bool, key: &str, message: impl FnOnce() -> String) -> PluginResult<()> {
    if ok {
        Ok(())
    } else {
        Err(format!("config key '{key}': {}", message()))
    }
}

impl Adaptive {
    /// Validates the config (one-line errors naming the key).
    pub fn with_config(config: AdaptiveConfig) -> PluginResult<Self> {
        let c = &config;
        for (key, v) in [
            ("headroom", c.headroom),
            ("ema_alpha", c.ema_alpha),
            ("high_success", c.high_success),
            ("low_success", c.low_success),
            ("underuse_frac", c.underuse_frac),
            ("saturation_frac", c.saturation_frac),
            ("shrink_factor", c.shrink_factor),
            ("grow_factor", c.grow_factor),
            ("epsilon", c.epsilon),
        ] {
            require(v.is_finite(), key, || format!("must be a finite number, got {v}"))?;
        }
        require(c.step_size >= 1, "step_size", || "must be at least 1".into())?;
        require(c.min_window >= 1, "min_window", || "must be at least 1".into())?;
        require(c.max_window == 0 || c.min_window <= c.max_window, "min_window", || {
            format!("{} exceeds max_window {}", c.min_window, c.max_window)
        })?;
        require(
            c.initial_window == 0
                || (c.initial_window >= c.min_window
                    && (c.max_window == 0 || c.initial_window <= c.max_window)),
            "initial_window",
            || {
                format!(
                    "{} is outside [min_window, max_window] = [{}, {}]",
                    c.initial_window, c.min_window, c.max_window
                )
            },
        )?;
        require(c.headroom >= 1.0, "headroom", || format!("must be >= 1, got {}", c.headroom))?;
        require(c.ema_alpha > 0.0 && c.ema_alpha <= 1.0, "ema_alpha", || {
            format!("must be in (0, 1], got {}", c.ema_alpha)
        })?;
        require((0.0..=1.0).contains(&c.low_success), "low_success", || {
            format!("must be in [0, 1], got {}", c.low_success)
        })?;
        require((0.0..=1.0).contains(&c.high_success), "high_success", || {
            format!("must be in [0, 1], got {}", c.high_success)
        })?;
        require(c.low_success < c.high_success, "low_success", || {
            format!("{} must be below high_success {}", c.low_success, c.high_success)
        })?;
        require(c.underuse_frac > 0.0 && c.underuse_frac <= 1.0, "underuse_frac", || {
            format!("must be in (0, 1], got {}", c.underuse_frac)
        })?;
        require(c.saturation_frac > 0.0 && c.saturation_frac <= 1.0, "saturation_frac", || {
            format!("must be in (0, 1], got {}", c.saturation_frac)
        })?;
        require(c.shrink_factor > 0.0 && c.shrink_factor < 1.0, "shrink_factor", || {
            format!("must be in (0, 1), got {}", c.shrink_factor)
        })?;
        require(c.grow_factor > 1.0, "grow_factor", || format!("must be > 1, got {}", c.grow_factor))?;
        require((0.0..=1.0).contains(&c.epsilon), "epsilon", || {
            format!("must be in [0, 1], got {}", c.epsilon)
        })?;

        let state = AdaptiveState {
            step: 0,
            window: (c.initial_window > 0).then_some(c.initial_window),
            ema_success: None,
            ema_success_length: None,
            max_window: (c.max_window > 0).then_some(c.max_window),
            explore_next: false,
            rng: SplitMix64::new(c.seed),
        };
        Ok(Adaptive { config, state })
    }

    /// The max window for this batch: the configured one, capped by the run's.
    fn resolve_max(&self, run_max: u32) -> PluginResult<u32> {
        let max = match (self.config.max_window, run_max) {
            (0, 0) => return Err("the batch reports max_window 0 and no max_window is configured".into()),
            (0, run) => run,
            (configured, 0) => configured,
            (configured, run) => configured.min(run),
        };
        if self.config.min_window > max {
            return Err(format!("min_window {} exceeds the max window {max}", self.config.min_window));
        }
        Ok(max)
    }

    fn ema(&self, old: Option<f64>, new: f64) -> f64 {
        let a = self.config.ema_alpha;
        old.map_or(new, |old| a * new + (1.0 - a) * old)
    }

    fn ceil_to(&self, x: f64) -> u32 {
        let step = f64::from(self.config.step_size);
        ((x / step).ceil() * step).min(f64::from(u32::MAX)) as u32
    }

    fn floor_to(&self, x: f64) -> u32 {
        let step = f64::from(self.config.step_size);
        ((x / step).floor() * step).max(0.0) as u32
    }

    /// Rules 2–5 of the module doc: the controller's next window.
    fn next_window(&self, w: u32, batch: &BatchSummary, explored: bool) -> u32 {
        let c = &self.config;
        let step = u64::from(c.step_size);
        let warmup = u64::from(c.warmup_steps);
        let headroom = c.headroom;
        let s = self.state.step; // already counts this batch
        if s < warmup {
            return w;
        }
        if s == warmup && warmup > 0 {
            return match self.state.ema_success_length {
                Some(len) => self.ceil_to(len * headroom),
                None => w,
            };
        }
        if explored {
            return match batch.p90_success_length {
                Some(p90) if p90 > w => self.ceil_to(f64::from(p90)),
                _ => w,
            };
        }
        let success = self.state.ema_success.unwrap_or(0.0);
        if success <= c.low_success || batch.truncated_frac >= c.saturation_frac {
            let grown = self.ceil_to(f64::from(w) * c.grow_factor);
            return grown.max((u64::from(w) + step).min(u64::from(u32::MAX)) as u32);
        }
        if success >= c.high_success {
            if let Some(p90) = batch.p90_success_length {
                if f64::from(p90) < c.underuse_frac * f64::from(w) {
                    let shrunk = self.floor_to(f64::from(w) * c.shrink_factor);
                    let shrunk = shrunk.min(w.saturating_sub(c.step_size));
                    let floor = self.state.ema_success_length.map_or(0, |len| self.ceil_to(len * headroom));
                    return shrunk.max(floor).min(w);
                }
            }
        }
        w
    }
}

/// What one batch says, before any smoothing.
struct BatchSummary {
    success_rate: f64,
    mean_success_length: Option<f64>,
    p90_success_length: Option<u32>,
    truncated_frac: f64,
}

impl BatchSummary {
    fn of(stats: &BatchStats) -> PluginResult<Option<Self>> {
        let n = stats.lengths.len();
        if stats.correct.len() != n || stats.truncated.len() != n {
            return Err(format!(
                "batch stats disagree: {n} lengths, {} correctness flags, {} truncation flags",
                stats.correct.len(),
                stats.truncated.len()
            ));
        }
        if n == 0 {
            return Ok(None);
        }
        let mut correct: Vec<u32> =
            stats.lengths.iter().zip(stats.correct.iter()).filter(|(_, &c)| c).map(|(&l, _)| l).collect();
        correct.sort_unstable();
        let mean = (!correct.is_empty())
            .then(|| correct.iter().map(|&l| f64::from(l)).sum::<f64>() / correct.len() as f64);
        // Nearest-rank percentile.
        let p90 = (!correct.is_empty()).then(|| {
            let rank = (0.9 * correct.len() as f64).ceil() as usize;
            correct[rank.max(1) - 1]
        });
        Ok(Some(BatchSummary {
            success_rate: correct.len() as f64 / n as f64,
            mean_success_length: mean,
            p90_success_length: p90,
            truncated_frac: stats.truncated.iter().filter(|&&t| t).count() as f64 / n as f64,
        }))
    }
}

fn metric(name: &str, value: f64) -> Metric {
    Metric::new(format!("adaptive_window/{name}"), value)
}

impl Curriculum for Adaptive {
    fn window(&self) -> Option<u32> {
        if self.state.explore_next {
            return self.state.max_window;
        }
        self.state.window.or(self.state.max_window)
    }

    fn observe(&mut self, stats: &BatchStats) -> PluginResult<Vec<Metric>> {
        let max = self.resolve_max(stats.max_window)?;
        self.state.max_window = Some(max);
        let explored = self.state.explore_next;
        let Some(batch) = BatchSummary::of(stats)? else {
            // An empty batch (everything filtered) teaches nothing.
            return Ok(vec![metric("current_window", f64::from(self.window().unwrap_or(max)))]);
        };

        self.state.step += 1;
        self.state.ema_success = Some(self.ema(self.state.ema_success, batch.success_rate));
        if let Some(len) = batch.mean_success_length {
            self.state.ema_success_length = Some(self.ema(self.state.ema_success_length, len));
        }

        let w = self.state.window.unwrap_or(max).clamp(self.config.min_window, max);
        let w = self.next_window(w, &batch, explored).clamp(self.config.min_window, max);
        self.state.window = Some(w);

        // Draw every step after warm-up, whatever W is, so the sequence of
        // draws depends on the seed alone.
        self.state.explore_next = if self.state.step >= u64::from(self.config.warmup_steps) {
            let draw = self.state.rng.next_f64() < self.config.epsilon;
            draw && w < max
        } else {
            false
        };

        Ok(vec![
            metric("current_window", f64::from(w)),
            metric("mean_success_length", self.state.ema_success_length.unwrap_or(0.0)),
            metric("success_rate", self.state.ema_success.unwrap_or(0.0)),
            metric("explored", if explored { 1.0 } else { 0.0 }),
            metric("batch_window", f64::from(stats.window)),
            metric("batch_success_rate", batch.success_rate),
            metric("p90_success_length", batch.p90_success_length.map_or(0.0, f64::from)),
            metric("truncated_frac", batch.truncated_frac),
        ])
    }

    fn state(&self) -> PluginResult<serde_json::Value> {
        serde_json::to_value(&self.state).map_err(|e| format!("cannot save the adaptive state: {e}"))
    }

    fn restore(&mut self, state: &serde_json::Value) -> PluginResult<()> {
        self.state = AdaptiveState::deserialize(state)
            .map_err(|e| format!("saved adaptive-window state is invalid: {e}"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: u32 = 1024;

    /// A batch generated with `window`: `correct` and `wrong` lengths;
    /// responses at the window count as truncated.
    fn batch(window: u32, correct: &[u32], wrong: &[u32]) -> BatchStats {
        let lengths: Vec<u32> = correct.iter().chain(wrong).copied().collect();
        BatchStats {
            step: 0,
            window,
            max_window: MAX,
            truncated: lengths.iter().map(|&l| l >= window).collect(),
            correct: correct.iter().map(|_| true).chain(wrong.iter().map(|_| false)).collect(),
            lengths,
        }
    }

    fn quiet(config: AdaptiveConfig) -> AdaptiveConfig {
        AdaptiveConfig { epsilon: 0.0, ..config }
    }

    fn adaptive(config: AdaptiveConfig) -> Adaptive {
        Adaptive::with_config(config).unwrap()
    }

    /// Observes a batch generated with the controller's current window.
    fn step(a: &mut Adaptive, correct: &[u32], wrong: &[u32]) -> Vec<Metric> {
        let w = a.window().unwrap_or(MAX);
        a.observe(&batch(w, correct, wrong)).unwrap()
    }

    fn value(metrics: &[Metric], name: &str) -> f64 {
        metrics.iter().find(|m| m.name.as_str() == format!("adaptive_window/{name}")).unwrap().value
    }

    #[test]
    fn warm_up_runs_at_the_max_then_fits_the_correct_length() {
        let mut a = adaptive(quiet(AdaptiveConfig { warmup_steps: 2, ..AdaptiveConfig::default() }));
        assert_eq!(a.window(), None, "before any batch the trainer's max applies");
        step(&mut a, &[100, 200], &[300]);
        assert_eq!(a.window(), Some(MAX));
        // Mean correct length: batch 1 150, batch 2 250 -> EMA 0.3·250 + 0.7·150 = 180;
        // 180 · 1.5 = 270 -> rounded up to 320.
        let m = step(&mut a, &[250], &[]);
        assert_eq!(a.window(), Some(320));
        assert_eq!(value(&m, "current_window"), 320.0);
        assert!((value(&m, "mean_success_length") - 180.0).abs() < 1e-9);
    }

    #[test]
    fn warm_up_without_successes_keeps_the_initial_window() {
        let config = AdaptiveConfig { warmup_steps: 1, initial_window: 512, ..AdaptiveConfig::default() };
        let mut a = adaptive(quiet(config));
        assert_eq!(a.window(), Some(512));
        step(&mut a, &[], &[100, 200]);
        assert_eq!(a.window(), Some(512));
    }

    #[test]
    fn high_success_and_underuse_shrink_the_window() {
        let config = AdaptiveConfig { warmup_steps: 0, initial_window: MAX, ..AdaptiveConfig::default() };
        let mut a = adaptive(quiet(config));
        // Success 1, p90 of correct = 120 < 0.6·1024: 1024·0.85 = 870.4 -> 832;
        // the floor ceil_to(110·1.5) = 192 does not bind.
        step(&mut a, &[100, 110, 120], &[]);
        assert_eq!(a.window(), Some(832));
        step(&mut a, &[100, 110, 120], &[]);
        assert_eq!(a.window(), Some(704)); // 832·0.85 = 707.2 -> 704
    }

    #[test]
    fn shrinking_stops_at_the_correct_length_floor() {
        let config = AdaptiveConfig {
            warmup_steps: 0,
            initial_window: 512,
            underuse_frac: 1.0,
            ..AdaptiveConfig::default()
        };
        let mut a = adaptive(quiet(config));
        // Correct lengths 250: floor = ceil_to(375) = 384; 512·0.85 = 435 -> 384.
        step(&mut a, &[250, 250], &[]);
        assert_eq!(a.window(), Some(384));
        step(&mut a, &[250, 250], &[]);
        assert_eq!(a.window(), Some(384), "never below the fitted length of correct answers");
    }

    #[test]
    fn shrinking_small_windows_still_moves_a_step() {
        let config = AdaptiveConfig {
            warmup_steps: 0,
            initial_window: 256,
            min_window: 64,
            ..AdaptiveConfig::default()
        };
        let mut a = adaptive(quiet(config));
        // 256·0.85 = 217.6 -> 192 (at least one 64-token step down).
        step(&mut a, &[20, 30], &[]);
        assert_eq!(a.window(), Some(192));
    }

    #[test]
    fn low_success_grows_the_window() {
        let config = AdaptiveConfig { warmup_steps: 0, initial_window: 256, ..AdaptiveConfig::default() };
        let mut a = adaptive(quiet(config));
        // Success 0 <= 0.2: 256·1.25 = 320.
        step(&mut a, &[], &[100, 120]);
        assert_eq!(a.window(), Some(320));
        step(&mut a, &[], &[100, 120]);
        assert_eq!(a.window(), Some(448)); // 400 -> 448
    }

    #[test]
    fn saturation_grows_the_window_even_with_high_success() {
        let config = AdaptiveConfig { warmup_steps: 0, initial_window: 512, ..AdaptiveConfig::default() };
        let mut a = adaptive(quiet(config));
        // 9 short correct answers and 1 truncated correct one: success 1, truncated 0.1.
        let mut correct = vec![100; 9];
        correct.push(512);
        step(&mut a, &correct, &[]);
        assert_eq!(a.window(), Some(640));
    }

    #[test]
    fn middling_success_keeps_the_window() {
        let config = AdaptiveConfig { warmup_steps: 0, initial_window: 512, ..AdaptiveConfig::default() };
        let mut a = adaptive(quiet(config));
        step(&mut a, &[100, 100], &[100, 100]); // success 0.5
        assert_eq!(a.window(), Some(512));
    }

    #[test]
    fn the_window_is_clamped_to_its_bounds() {
        let config = AdaptiveConfig { warmup_steps: 0, initial_window: 960, ..AdaptiveConfig::default() };
        let mut a = adaptive(quiet(config));
        step(&mut a, &[], &[100]);
        assert_eq!(a.window(), Some(MAX), "grow stops at the run's max");
        step(&mut a, &[], &[100]);
        assert_eq!(a.window(), Some(MAX));

        let config = AdaptiveConfig {
            warmup_steps: 0,
            initial_window: 192,
            min_window: 128,
            ..AdaptiveConfig::default()
        };
        let mut a = adaptive(quiet(config));
        for _ in 0..5 {
            step(&mut a, &[10, 10], &[]);
        }
        assert_eq!(a.window(), Some(128), "shrink stops at min_window");

        // A configured max below the run's is the ceiling.
        let config = AdaptiveConfig { warmup_steps: 0, max_window: 600, ..AdaptiveConfig::default() };
        let mut a = adaptive(quiet(config));
        assert_eq!(a.window(), Some(600));
        step(&mut a, &[], &[100]);
        assert_eq!(a.window(), Some(600));
    }

    #[test]
    fn exploration_uses_the_max_window_at_about_epsilon() {
        let config = AdaptiveConfig {
            warmup_steps: 0,
            initial_window: 512,
            epsilon: 0.25,
            seed: 7,
            ..AdaptiveConfig::default()
        };
        let mut a = adaptive(config.clone());
        let mut explored = Vec::new();
        for _ in 0..2000 {
            let w = a.window().unwrap();
            explored.push(w == MAX);
            // Middling success, nothing truncated: W itself never moves.
            let m = a.observe(&batch(w, &[100, 100], &[100, 100])).unwrap();
            assert_eq!(value(&m, "explored") == 1.0, w == MAX);
            assert_eq!(value(&m, "current_window"), 512.0);
        }
        let count = explored.iter().filter(|&&e| e).count();
        // Binomial(1999, 0.25): mean ~500, sd ~19.
        assert!((400..=600).contains(&count), "explored {count} of 2000");
        assert!(!explored[0], "the first batch follows the initial window");

        // Same seed, same draws; another seed, other draws.
        let run = |seed: u64| {
            let mut a = adaptive(AdaptiveConfig { seed, ..config.clone() });
            (0..200)
                .map(|_| {
                    let w = a.window().unwrap();
                    a.observe(&batch(w, &[100, 100], &[100, 100])).unwrap();
                    w
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn no_exploration_during_warm_up() {
        let config = AdaptiveConfig {
            warmup_steps: 3,
            initial_window: 256,
            epsilon: 1.0,
            ..AdaptiveConfig::default()
        };
        let mut a = adaptive(config);
        for _ in 0..2 {
            step(&mut a, &[100], &[]);
            assert_eq!(a.window(), Some(256));
        }
        step(&mut a, &[100], &[]);
        assert_eq!(a.window(), Some(MAX), "epsilon 1 explores right after warm-up");
    }

    #[test]
    fn exploration_that_finds_longer_successes_grows_the_window() {
        let config = AdaptiveConfig {
            warmup_steps: 0,
            initial_window: 256,
            epsilon: 1.0,
            ..AdaptiveConfig::default()
        };
        let mut a = adaptive(config);
        step(&mut a, &[100, 100], &[100, 100]); // neutral; next batch explores
        assert_eq!(a.window(), Some(MAX));
        // p90 of correct lengths = 700 > 256 -> W = 704.
        let m = step(&mut a, &[300, 500, 600, 700], &[900]);
        assert_eq!(value(&m, "explored"), 1.0);
        assert_eq!(value(&m, "current_window"), 704.0);
        assert_eq!(value(&m, "batch_window"), f64::from(MAX));
    }

    #[test]
    fn state_round_trips_and_replays_the_same_decisions() {
        let config = AdaptiveConfig { warmup_steps: 2, epsilon: 0.3, seed: 11, ..AdaptiveConfig::default() };
        let script: Vec<(Vec<u32>, Vec<u32>)> = (0..40u32)
            .map(|i| {
                let correct = (0..(i % 5)).map(|k| 80 + 40 * k + 7 * i).collect();
                let wrong = (0..(4 - i % 5)).map(|k| 150 + 90 * k).collect();
                (correct, wrong)
            })
            .collect();
        let mut a = adaptive(config.clone());
        for (c, w) in &script[..15] {
            step(&mut a, c, w);
        }
        let saved = a.state().unwrap();
        let mut b = adaptive(config);
        b.restore(&serde_json::from_str(&saved.to_string()).unwrap()).unwrap();
        assert_eq!(b.state().unwrap(), saved);
        for (c, w) in &script[15..] {
            assert_eq!(a.window(), b.window());
            assert_eq!(step(&mut a, c, w), step(&mut b, c, w));
        }
    }

    #[test]
    fn a_corrupt_state_is_a_one_line_error() {
        let mut a = adaptive(AdaptiveConfig::default());
        let err = a.restore(&serde_json::json!({"step": "x"})).unwrap_err();
        assert!(err.starts_with("saved adaptive-window state is invalid"), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn bad_configs_are_rejected() {
        let bad = |c: AdaptiveConfig| Adaptive::with_config(c).err().unwrap();
        let d = AdaptiveConfig::default;
        assert_eq!(
            bad(AdaptiveConfig { min_window: 512, max_window: 256, ..d() }),
            "config key 'min_window': 512 exceeds max_window 256"
        );
        assert!(bad(AdaptiveConfig { shrink_factor: 1.0, ..d() }).starts_with("config key 'shrink_factor'"));
        assert!(bad(AdaptiveConfig { grow_factor: 0.9, ..d() }).starts_with("config key 'grow_factor'"));
        assert!(bad(AdaptiveConfig { low_success: 0.7, high_success: 0.6, ..d() })
            .starts_with("config key 'low_success'"));
        assert!(bad(AdaptiveConfig { step_size: 0, ..d() }).starts_with("config key 'step_size'"));
        assert!(bad(AdaptiveConfig { epsilon: 1.5, ..d() }).starts_with("config key 'epsilon'"));
        assert!(bad(AdaptiveConfig { initial_window: 64, ..d() }).starts_with("config key 'initial_window'"));
        assert!(bad(AdaptiveConfig { ema_alpha: 0.0, ..d() }).starts_with("config key 'ema_alpha'"));
    }

    #[test]
    fn a_min_window_above_the_runs_max_fails_at_the_first_batch() {
        let mut a = adaptive(AdaptiveConfig { min_window: 2048, ..AdaptiveConfig::default() });
        let err = a.observe(&batch(MAX, &[10], &[])).unwrap_err();
        assert_eq!(err, "min_window 2048 exceeds the max window 1024");
    }

    #[test]
    fn mismatched_batch_stats_are_an_error() {
        let mut a = adaptive(AdaptiveConfig::default());
        let mut b = batch(MAX, &[10, 20], &[]);
        b.truncated = vec![false];
        assert!(a.observe(&b).unwrap_err().contains("disagree"));
    }
}
