//! The `hybrid` task: math problems rewarded by the verifier and the host's
//! neural reward model together, with a difficulty weight (seed 003).
//!
//! Per response: the math verifier's outcome (correct or not) sets the base
//! reward and the RM score, normalised to r̂ ∈ [0, 1] with bounds calibrated
//! on a warm-up, adds a bonus weighted by α (not correct) or β (correct) and
//! by a difficulty weight w ([`combine`], [`calibration`], [`difficulty`]
//! define every quantity and say why).
//!
//! Lifecycle with the trainer (the sdk's stateful-task methods):
//! 1. `warm_up`: before training the host samples `warm_up_samples`
//!    responses of the initial policy (whole groups of `rollout.n`); their RM
//!    scores give (min_rm, max_rm), their groups the first σ̄. The bounds are
//!    logged ("RM bounds: min=…, max=…").
//! 2. `score`: each batch is scored with the committed bounds and σ̄ blended
//!    with the batch's own mean σ_u; the batch's statistics stay pending.
//! 3. `end_batch`: the host calls it after each *training* batch; the
//!    pending σ̄ is committed and the step's metrics returned
//!    (`reward/rm_fallback_count`, `reward/rm_score/mean`, ...). Validation
//!    scoring is never committed, so it cannot move σ̄.
//! 4. `state`/`restore`: bounds, σ̄ and counters go into trainer_state.json
//!    with every checkpoint, so a resumed run rewards exactly as before.
//!
//! When the RM fails (no RM configured, a load error, an error or a
//! non-finite score) the affected responses get the verifier's reward alone,
//! a warning is logged and `reward/rm_fallback_count` counts them: training
//! never stops because of the RM.

pub mod calibration;
pub mod combine;
pub mod difficulty;
pub mod rows;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use serde_json::Value;
use tz_sdk::prelude::*;

use crate::{verify_input, Math, MathConfig, Problem};
use calibration::RmBounds;
use difficulty::{group_uncertainty, sigmoid_weight, tanh_weight, update_running_mean, Scorer, WeightRange};

/// Configuration of the `hybrid` task (`task.plugins.hybrid.*`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct HybridConfig {
    /// Problems: a JSONL file of {"question", "answer"} lines (or veRL-style
    /// rows); the trainer draws training and held-out problems from it.
    pub data: String,
    /// Difficulty weight: `sigmoid` (per question, from σ_u − σ̄) or `tanh` (per response, from r̂).
    pub scorer: Scorer,
    /// Weight of the RM bonus for answers that are not correct.
    pub alpha: f64,
    /// Weight of the RM bonus for correct answers.
    pub beta: f64,
    /// Smallest difficulty weight.
    pub w_min: f64,
    /// Largest difficulty weight.
    pub w_max: f64,
    /// Steepness k of the sigmoid scorer.
    pub k: f64,
    /// Momentum of the running mean σ̄ over training batches.
    pub sigma_momentum: f64,
    /// Warm-up responses N scored by the RM before training to calibrate
    /// (min_rm, max_rm); 0 = use `min_rm`/`max_rm` as given.
    pub warm_up_samples: u64,
    /// RM score mapped to r̂ = 0 when there is no warm-up.
    pub min_rm: f64,
    /// RM score mapped to r̂ = 1 when there is no warm-up.
    pub max_rm: f64,
    /// Verifier reward of a final answer that is found but wrong.
    pub format_score: f32,
    /// Verifier reward of a correct final answer.
    pub correct_score: f32,
    /// Relative tolerance when comparing non-integer numbers.
    pub tolerance: f64,
}

impl Default for HybridConfig {
    /// Seed 003's α = β = 0.5 and 10 warm-up samples.
    fn default() -> Self {
        HybridConfig {
            data: String::new(),
            scorer: Scorer::Sigmoid,
            alpha: 0.5,
            beta: 0.5,
            w_min: 0.5,
            w_max: 1.5,
            k: 10.0,
            sigma_momentum: 0.9,
            warm_up_samples: 10,
            min_rm: -1.0,
            max_rm: 1.0,
            format_score: 0.0,
            correct_score: 1.0,
            tolerance: 1e-6,
        }
    }
}

/// What is saved with checkpoints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Committed {
    /// Calibrated RM bounds; `None` until a warm-up (or a first batch) set them.
    pub bounds: Option<RmBounds>,
    /// The running mean σ̄; `None` before any batch.
    pub sigma_bar: Option<f64>,
    /// Training batches committed.
    pub batches: u64,
    /// Responses scored by the verifier alone so far.
    pub fallback_total: u64,
}

/// Statistics of the last scored batch, committed by `end_batch`.
#[derive(Debug, Clone, Default)]
struct Pending {
    sigma_bar: Option<f64>,
    sigma_u_mean: f64,
    fallbacks: u64,
    rm_scores: Vec<f64>,
    r_hats: Vec<f64>,
    weights: Vec<f64>,
    rewards: Vec<f64>,
}

#[derive(Debug, Default)]
struct State {
    committed: Committed,
    pending: Option<Pending>,
}

/// The hybrid task plugin.
pub struct Hybrid {
    config: HybridConfig,
    math: Math,
    rows: Vec<Sample>,
    host: HostServices,
    state: Mutex<State>,
}

impl Hybrid {
    fn range(&self) -> WeightRange {
        WeightRange { w_min: self.config.w_min, w_max: self.config.w_max, k: self.config.k }
    }

    /// The state lock; a poisoned lock (a panic while held) still holds valid data.
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// RM scores of `batch`, or why there are none. Questions go to the RM
    /// as the user turn (not the policy's rendered prompt), as RMs such as
    /// AceMath-RM are trained on.
    fn rm_scores(&self, batch: &[ScoreInput]) -> Result<Vec<f32>, String> {
        let requests = batch
            .iter()
            .map(|input| {
                let p = Problem::from_sample(&input.sample)?;
                Ok(RewardModelRequest { prompt: p.question, response: input.response.clone() })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let scores = self.host.reward_model_score(&requests)?;
        if scores.len() != requests.len() {
            return Err(format!(
                "the reward model returned {} scores for {} responses",
                scores.len(),
                requests.len()
            ));
        }
        Ok(scores)
    }

    /// σ_u of each response's question (groups = responses to the same sample).
    fn uncertainties(batch: &[ScoreInput], scores: &[Score]) -> (Vec<f64>, f64) {
        let mut groups: HashMap<(u64, &str), Vec<usize>> = HashMap::new();
        for (i, input) in batch.iter().enumerate() {
            groups.entry((input.sample.index, input.sample.data.as_str())).or_default().push(i);
        }
        let mut per_response = vec![0.0; batch.len()];
        let mut sum = 0.0;
        for members in groups.values() {
            let correct: Vec<bool> = members.iter().map(|&i| scores[i].correct).collect();
            let sigma = group_uncertainty(&correct);
            sum += sigma;
            for &i in members {
                per_response[i] = sigma;
            }
        }
        let mean = if groups.is_empty() { 0.0 } else { sum / groups.len() as f64 };
        (per_response, mean)
    }
}

impl Plugin for Hybrid {
    const NAME: &'static str = "hybrid";
    const DESCRIPTION: &'static str =
        "Math problems rewarded by the verifier plus the host's reward model, with a sigmoid or tanh difficulty weight";
    type Config = HybridConfig;

    fn new(config: HybridConfig, host: HostServices) -> PluginResult<Self> {
        let positive = |v: f64, key: &str| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(format!("{key} must be a finite number >= 0, got {v}"))
            }
        };
        positive(config.alpha, "alpha")?;
        positive(config.beta, "beta")?;
        positive(config.w_min, "w_min")?;
        positive(config.k, "k")?;
        if !(config.w_max.is_finite() && config.w_max >= config.w_min) {
            return Err(format!("w_max ({}) must be >= w_min ({})", config.w_max, config.w_min));
        }
        if !(0.0..1.0).contains(&config.sigma_momentum) {
            return Err(format!("sigma_momentum must be in [0, 1), got {}", config.sigma_momentum));
        }
        if config.warm_up_samples == 0 && !(config.min_rm.is_finite() && config.max_rm > config.min_rm) {
            return Err(format!(
                "without a warm-up, max_rm ({}) must be above min_rm ({})",
                config.max_rm, config.min_rm
            ));
        }
        let math = Math::new(
            MathConfig {
                format_score: config.format_score,
                correct_score: config.correct_score,
                tolerance: config.tolerance,
                ..MathConfig::default()
            },
            host.clone(),
        )?;
        let rows = if config.data.is_empty() {
            Vec::new()
        } else {
            rows::read_jsonl(Path::new(&config.data), |row| math.sample_from_row(row))?
        };
        let mut state = State::default();
        if config.warm_up_samples == 0 {
            state.committed.bounds = Some(RmBounds { min_rm: config.min_rm, max_rm: config.max_rm });
        }
        Ok(Hybrid { config, math, rows, host, state: Mutex::new(state) })
    }
}

impl Task for Hybrid {
    fn groups(&self) -> Vec<String> {
        self.math.groups()
    }

    fn templates(&self) -> Vec<String> {
        self.math.templates()
    }

    fn generate(&self, _group: &str, count: u64, seed: u64) -> PluginResult<Vec<Sample>> {
        if self.rows.is_empty() {
            return Err("hybrid draws its problems from a data file: set task.plugins.hybrid.data to a JSONL file of {\"question\", \"answer\"} lines".into());
        }
        Ok(rows::draw(&self.rows, count, seed))
    }

    fn sample_from_row(&self, row: &Value) -> PluginResult<Sample> {
        self.math.sample_from_row(row)
    }

    fn sample_to_row(&self, sample: &Sample, template: &str) -> PluginResult<Value> {
        let mut row = self.math.sample_to_row(sample, template)?;
        row["data_source"] = Value::from("hybrid");
        Ok(row)
    }

    fn prompt(&self, sample: &Sample, template: &str) -> PluginResult<PromptSpec> {
        self.math.prompt(sample, template)
    }

    fn reference_solution(&self, sample: &Sample, template: &str) -> PluginResult<Option<String>> {
        self.math.reference_solution(sample, template)
    }

    fn score(&self, batch: &[ScoreInput]) -> PluginResult<Vec<Score>> {
        let mut scores = batch
            .iter()
            .map(|input| verify_input(&self.math.config, input))
            .collect::<PluginResult<Vec<_>>>()?;
        if batch.is_empty() {
            return Ok(scores);
        }
        let (sigma_u, sigma_u_mean) = Self::uncertainties(batch, &scores);
        let rm = self.rm_scores(batch);
        let mut state = self.state();
        let sigma_bar =
            update_running_mean(state.committed.sigma_bar, sigma_u_mean, self.config.sigma_momentum);
        let rm = rm.and_then(|s| {
            if state.committed.bounds.is_none() {
                // No warm-up ran (e.g. scoring outside training): calibrate on this batch.
                let bounds = RmBounds::calibrate(&s).ok_or("every reward model score was non-finite")?;
                self.host.warn(&format!(
                    "no warm-up calibration: RM bounds taken from this batch: min={:.4}, max={:.4}",
                    bounds.min_rm, bounds.max_rm
                ));
                state.committed.bounds = Some(bounds);
            }
            Ok(s)
        });
        let mut pending = Pending { sigma_bar: Some(sigma_bar), sigma_u_mean, ..Default::default() };
        let failure = match (&rm, state.committed.bounds) {
            (Ok(raw), Some(bounds)) => {
                let mut non_finite = 0;
                for (i, score) in scores.iter_mut().enumerate() {
                    let s = f64::from(raw[i]);
                    if !s.is_finite() {
                        non_finite += 1;
                        pending.rewards.push(f64::from(score.reward));
                        continue;
                    }
                    let r_hat = bounds.normalise(s);
                    let w = match self.config.scorer {
                        Scorer::Sigmoid => sigmoid_weight(self.range(), sigma_u[i], sigma_bar),
                        Scorer::Tanh => tanh_weight(self.range(), r_hat),
                    };
                    let reward = combine::hybrid_reward(
                        f64::from(score.reward),
                        score.correct,
                        self.config.alpha,
                        self.config.beta,
                        w,
                        r_hat,
                    );
                    score.reason = format!("{}; rm {s:.4}, r̂ {r_hat:.3}, w {w:.3}", score.reason);
                    score.reward = reward as f32;
                    pending.rm_scores.push(s);
                    pending.r_hats.push(r_hat);
                    pending.weights.push(w);
                    pending.rewards.push(reward);
                }
                pending.fallbacks = non_finite;
                (non_finite > 0).then(|| format!("{non_finite} non-finite reward model score(s)"))
            }
            (Err(e), _) => {
                pending.fallbacks = batch.len() as u64;
                pending.rewards = scores.iter().map(|s| f64::from(s.reward)).collect();
                Some(e.clone())
            }
            (Ok(_), None) => unreachable!("bounds are set above whenever the RM answered"),
        };
        if let Some(why) = failure {
            self.host.warn(&format!(
                "reward model failed ({why}): {} of {} responses rewarded by the verifier alone",
                pending.fallbacks,
                batch.len()
            ));
        }
        state.pending = Some(pending);
        Ok(scores)
    }

    fn warm_up_size(&self) -> u64 {
        self.config.warm_up_samples
    }

    fn warm_up(&self, batch: &[ScoreInput]) -> PluginResult<Vec<Metric>> {
        let verdicts = batch
            .iter()
            .map(|input| verify_input(&self.math.config, input))
            .collect::<PluginResult<Vec<_>>>()?;
        let (_, sigma_u_mean) = Self::uncertainties(batch, &verdicts);
        let mut metrics = vec![Metric::new("reward/warm_up_samples", batch.len() as f64)];
        let mut state = self.state();
        state.committed.sigma_bar = Some(sigma_u_mean);
        metrics.push(Metric::new("reward/sigma_bar", sigma_u_mean));
        match self.rm_scores(batch) {
            Ok(scores) => match RmBounds::calibrate(&scores) {
                Some(bounds) => {
                    self.host.info(&format!(
                        "RM bounds: min={:.4}, max={:.4} (from {} warm-up samples)",
                        bounds.min_rm,
                        bounds.max_rm,
                        batch.len()
                    ));
                    state.committed.bounds = Some(bounds);
                    metrics.push(Metric::new("reward/rm_min", bounds.min_rm));
                    metrics.push(Metric::new("reward/rm_max", bounds.max_rm));
                }
                None => {
                    self.host.warn("warm-up: every reward model score was non-finite; bounds not calibrated")
                }
            },
            Err(e) => {
                self.host.warn(&format!(
                    "warm-up: reward model failed ({e}); bounds not calibrated, rewards fall back to the verifier while it fails"
                ));
                metrics.push(Metric::new("reward/rm_fallback_count", batch.len() as f64));
            }
        }
        Ok(metrics)
    }

    fn state(&self) -> PluginResult<Value> {
        serde_json::to_value(&self.state().committed).map_err(|e| e.to_string())
    }

    fn restore(&self, state: &Value) -> PluginResult<()> {
        if state.is_null() {
            return Ok(());
        }
        let committed: Committed = serde_json::from_value(state.clone())
            .map_err(|e| format!("saved hybrid state is not valid: {e}"))?;
        let mut s = self.state();
        s.committed = committed;
        s.pending = None;
        Ok(())
    }

    fn end_batch(&self) -> Vec<Metric> {
        let mut state = self.state();
        let Some(p) = state.pending.take() else { return Vec::new() };
        let c = &mut state.committed;
        c.sigma_bar = p.sigma_bar;
        c.batches += 1;
        c.fallback_total += p.fallbacks;
        let mean = |v: &[f64]| if v.is_empty() { f64::NAN } else { v.iter().sum::<f64>() / v.len() as f64 };
        let mut m = vec![
            Metric::new("reward/rm_fallback_count", p.fallbacks as f64),
            Metric::new("reward/rm_fallback_total", c.fallback_total as f64),
            Metric::new("reward/sigma_u/mean", p.sigma_u_mean),
            Metric::new("reward/sigma_bar", p.sigma_bar.unwrap_or(f64::NAN)),
            Metric::new("reward/hybrid/mean", mean(&p.rewards)),
        ];
        if !p.rm_scores.is_empty() {
            m.push(Metric::new("reward/rm_score/mean", mean(&p.rm_scores)));
            m.push(Metric::new("reward/rm_norm/mean", mean(&p.r_hats)));
            m.push(Metric::new("reward/difficulty_weight/mean", mean(&p.weights)));
        }
        if let Some(b) = c.bounds {
            m.push(Metric::new("reward/rm_min", b.min_rm));
            m.push(Metric::new("reward/rm_max", b.max_rm));
        }
        m
    }
}

tz_sdk::register_task!(Hybrid);
