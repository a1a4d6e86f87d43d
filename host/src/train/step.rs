//! One RL step after the rollout: shaping, KL-in-reward, advantages, the
//! actor update, and the step's metrics.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{anyhow, Result};
use tch::{Device, Kind, Tensor};
use tz_core::kl::{kl_penalty, KlController};
use tz_core::optim::AdamW;
use tz_core::rl_batch::SequenceBatch;
use tz_core::rl_update::{update_actor, ActorInputs, ActorUpdateConfig};
use tz_core::rollout::FinishReason;
use tz_sdk::decimal::f32_precision;
use tz_sdk::{AdvantageInput, BatchStats, KlPlacement, LossSettings, ShapeInput};

use super::critic::CriticRun;
use super::policy::Policy;
use super::rollout::Scored;
use crate::cmd::train::AlgorithmChain;
use crate::config::RunConfig;

/// What a step produced besides the weight update.
pub struct StepResult {
    pub metrics: BTreeMap<String, f64>,
    pub stats: BatchStats,
    /// The shaped per-response rewards (for collapse detection).
    pub rewards: Vec<f32>,
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 {
        0.0
    } else {
        s / n as f64
    }
}

fn put_stats(m: &mut BTreeMap<String, f64>, name: &str, v: &[f64]) {
    if v.is_empty() {
        return;
    }
    m.insert(format!("{name}/mean"), mean(v.iter().copied()));
    m.insert(format!("{name}/max"), v.iter().copied().fold(f64::MIN, f64::max));
    m.insert(format!("{name}/min"), v.iter().copied().fold(f64::MAX, f64::min));
}

/// [`put_stats`] of f32 data, written at f32 precision (0.1, not 0.10000000149011612).
fn put_f32_stats(m: &mut BTreeMap<String, f64>, name: &str, v: &[f32]) {
    put_stats(m, name, &v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>());
    for stat in ["mean", "max", "min"] {
        if let Some(x) = m.get_mut(&format!("{name}/{stat}")) {
            *x = f32_precision(*x);
        }
    }
}

/// Everything a step reads or updates besides the rollout.
pub struct StepInputs<'a> {
    pub cfg: &'a RunConfig,
    pub chain: &'a AlgorithmChain,
    pub loss: &'a LossSettings,
    pub policy: &'a Policy,
    pub reference: Option<&'a Policy>,
    pub opt: &'a mut AdamW,
    pub kl: &'a mut KlController,
    /// The PPO critic, when the estimator asks for one.
    pub critic: Option<&'a mut CriticRun>,
    pub device: Device,
    pub step: u64,
    /// The max-new-token limit the batch was generated with.
    pub window: usize,
}

/// Per-response slices of a flat per-token array (`offsets` as in
/// [`AdvantageInput`]) laid into right-padded `[rows, r]` rows.
fn padded(flat: &[f32], offsets: &[u32], r: usize) -> Vec<f32> {
    let rows = offsets.len() - 1;
    let mut out = vec![0f32; rows * r];
    for i in 0..rows {
        let (a, b) = (offsets[i] as usize, offsets[i + 1] as usize);
        out[i * r..i * r + (b - a)].copy_from_slice(&flat[a..b]);
    }
    out
}

/// The valid (unpadded) entries of a right-padded `[rows, r]` array.
fn unpadded(rows: &[f32], lengths: &[u32], r: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(lengths.iter().sum::<u32>() as usize);
    for (i, len) in lengths.iter().enumerate() {
        out.extend_from_slice(&rows[i * r..i * r + *len as usize]);
    }
    out
}

fn plugin_err(e: tz_sdk::abi_stable::std_types::RString) -> anyhow::Error {
    anyhow!("{e}")
}

/// Shapes, estimates advantages and updates the actor on a scored batch.
pub fn train_on(scored: &Scored, mut inp: StepInputs) -> Result<StepResult> {
    let cfg = inp.cfg;
    let n_per = scored.n();
    let rows = scored.completions.len();
    let mut m = BTreeMap::new();
    let lengths: Vec<u32> = scored.completions.iter().map(|c| c.token_ids.len() as u32).collect();
    let correct: Vec<bool> = scored.scores.iter().map(|s| s.correct).collect();
    let truncated: Vec<bool> = scored.completions.iter().map(|c| c.finish == FinishReason::Length).collect();
    let group_ids: Vec<u32> = scored.completions.iter().map(|c| c.prompt_index as u32).collect();
    let raw: Vec<f32> = scored.scores.iter().map(|s| s.reward).collect();

    // Shapers, in chain order.
    let mut rewards = raw.clone();
    for (_, shaper) in &inp.chain.shapers {
        let input = ShapeInput {
            rewards: rewards.clone().into(),
            response_lengths: lengths.clone().into(),
            max_length: inp.window as u32,
            correct: correct.clone().into(),
            truncated: truncated.clone().into(),
            group_ids: group_ids.clone().into(),
        };
        rewards = shaper.shape(&input).into_result().map_err(plugin_err)?.into_vec();
    }

    // Tensors: prompts left-padded, responses right-padded.
    let t0 = Instant::now();
    let prompt_ids: Vec<&[u32]> =
        scored.completions.iter().map(|c| scored.prompts[c.prompt_index].ids.as_slice()).collect();
    let responses: Vec<&[u32]> = scored.completions.iter().map(|c| c.token_ids.as_slice()).collect();
    let batch = SequenceBatch::new(&prompt_ids, &responses, inp.policy.tokenizer.pad_id(), inp.device);
    let micro = cfg.trainer.micro_batch_size.max(1) as i64;
    let update_cfg = ActorUpdateConfig {
        ppo_epochs: cfg.trainer.ppo_epochs,
        mini_batch_size: cfg.trainer.mini_batch_size,
        micro_batch_size: cfg.trainer.micro_batch_size,
        logit_chunk: cfg.trainer.logit_chunk,
        norm_len: inp.window as f64,
        seed: cfg.trainer.seed.wrapping_mul(1_000_003).wrapping_add(inp.step),
    };
    // One on-policy optimizer step: the old log-probs are the current ones
    // (ratio 1), so the update takes them from its own forward. The KL in the
    // reward still needs them.
    let kl_in_reward = inp.loss.kl.placement == KlPlacement::Reward && inp.reference.is_some();
    let skip_old = update_cfg.is_on_policy(rows) && !kl_in_reward;
    let old_logp = (!skip_old).then(|| batch.logprobs(&inp.policy.model, micro, cfg.trainer.logit_chunk));
    m.insert("timing_s/old_log_prob".into(), t0.elapsed().as_secs_f64());
    m.insert("actor/old_log_prob_skipped".into(), f64::from(u8::from(skip_old)));
    let t0 = Instant::now();
    let ref_logp = inp.reference.map(|r| batch.logprobs(&r.model, micro, cfg.trainer.logit_chunk));
    if inp.reference.is_some() {
        m.insert("timing_s/ref".into(), t0.elapsed().as_secs_f64());
    }

    // Token rewards: the (shaped) score on the last response token, minus
    // beta × KL per token when the KL is placed in the reward.
    let r = batch.response_len;
    let mut token_rewards = Tensor::zeros([rows as i64, r], (Kind::Float, Device::Cpu));
    for (i, len) in lengths.iter().enumerate() {
        if *len > 0 {
            let _ = token_rewards.get(i as i64).get(*len as i64 - 1).fill_(f64::from(rewards[i]));
        }
    }
    let mask_cpu = batch.response_mask.to_device(Device::Cpu);
    if inp.loss.kl.placement == KlPlacement::Reward {
        // Both are there whenever the KL is in the reward (old log-probs are then never skipped).
        if let (Some(reference), Some(old_logp)) = (&ref_logp, &old_logp) {
            let kld =
                kl_penalty(old_logp, reference, inp.loss.kl.estimator).to_device(Device::Cpu) * &mask_cpu;
            token_rewards = token_rewards - &kld * inp.kl.coef();
            let per_seq = kld.sum_dim_intlist(1, false, Kind::Float)
                / mask_cpu.sum_dim_intlist(1, false, Kind::Float).clamp_min(1.0);
            let current = per_seq.mean(Kind::Float).double_value(&[]);
            m.insert("actor/reward_kl_penalty".into(), current);
            m.insert("actor/reward_kl_penalty_coeff".into(), inp.kl.coef());
            inp.kl.update(current, rows as u64);
        }
    }

    // Critic values for GAE (value of token t read at position t − 1).
    let r_us = r as usize;
    let old_values = match inp.critic.as_deref() {
        Some(critic) => {
            let t0 = Instant::now();
            let v = critic.values(&batch, micro);
            m.insert("timing_s/values".into(), t0.elapsed().as_secs_f64());
            Some(v)
        }
        None if inp.loss.needs_critic() => {
            anyhow::bail!("'{}' needs a critic, but none was created", inp.chain.estimator.0)
        }
        None => None,
    };
    let flat_values: Vec<f32> = match &old_values {
        Some(v) => unpadded(&Vec::<f32>::try_from(v.to_device(Device::Cpu).flatten(0, -1))?, &lengths, r_us),
        None => Vec::new(),
    };

    // Advantages from the chain's estimator, over flat per-token arrays.
    let t0 = Instant::now();
    let mut offsets = vec![0u32];
    for len in &lengths {
        offsets.push(offsets.last().unwrap() + len);
    }
    let tr: Vec<f32> = token_rewards.flatten(0, -1).try_into()?;
    let flat = unpadded(&tr, &lengths, r_us);
    let (_, estimator) = &inp.chain.estimator;
    let out = estimator
        .estimate(&AdvantageInput {
            token_rewards: flat.into(),
            offsets: offsets.clone().into(),
            group_ids: group_ids.clone().into(),
            values: flat_values.clone().into(),
        })
        .into_result()
        .map_err(plugin_err)?;
    let adv = padded(&out.advantages, &offsets, r_us);
    let advantages = Tensor::from_slice(&adv).view([rows as i64, r]).to_device(inp.device);
    for metric in out.metrics.iter() {
        m.insert(format!("algo/{}", metric.name), metric.value);
    }
    m.insert("timing_s/adv".into(), t0.elapsed().as_secs_f64());

    // The critic learns from the estimator's returns (before the actor, as veRL).
    let mut actor_trains = true;
    if let (Some(critic), Some(old_values)) = (inp.critic.as_deref_mut(), &old_values) {
        anyhow::ensure!(
            out.returns.len() == out.advantages.len(),
            "'{}' returned {} value targets for {} tokens",
            inp.chain.estimator.0,
            out.returns.len(),
            out.advantages.len()
        );
        let returns = Tensor::from_slice(&padded(&out.returns, &offsets, r_us))
            .view([rows as i64, r])
            .to_device(inp.device);
        let t0 = Instant::now();
        for (k, v) in critic.update(&batch, old_values, &returns, cfg, inp.step) {
            m.insert(k.into(), if k.ends_with("/lr") { v } else { f32_precision(v) });
        }
        m.insert("timing_s/update_critic".into(), t0.elapsed().as_secs_f64());
        put_f32_stats(&mut m, "critic/values", &flat_values);
        put_f32_stats(&mut m, "critic/returns", &out.returns);
        actor_trains = !critic.warming_up(inp.step);
    }

    // The actor update (not during the critic's warmup).
    if actor_trains {
        let t0 = Instant::now();
        let kl_loss_ref = if inp.loss.kl.placement == KlPlacement::Loss { ref_logp.as_ref() } else { None };
        let actor = update_actor(
            &inp.policy.model,
            inp.opt,
            &ActorInputs {
                batch: &batch,
                old_logp: old_logp.as_ref(),
                advantages: &advantages,
                ref_logp: kl_loss_ref,
            },
            inp.loss,
            inp.kl.coef(),
            &update_cfg,
        );
        m.insert("timing_s/update_actor".into(), t0.elapsed().as_secs_f64());
        // Losses, entropy and norms of f32 tensors: at f32 precision.
        for (k, v) in actor.named() {
            m.insert(k.into(), if k.ends_with("/lr") { v } else { f32_precision(v) });
        }
    }
    if inp.loss.kl.placement == KlPlacement::Loss {
        m.insert("actor/kl_coef".into(), inp.kl.coef());
    }

    // Batch metrics (veRL names where they exist).
    put_f32_stats(&mut m, "critic/score", &raw);
    put_f32_stats(&mut m, "critic/rewards", &rewards);
    put_f32_stats(&mut m, "critic/advantages", &out.advantages);
    let lens: Vec<f64> = lengths.iter().map(|&l| l as f64).collect();
    put_stats(&mut m, "response_length", &lens);
    let trunc_frac = mean(truncated.iter().map(|&t| t as u8 as f64));
    m.insert("response_length/clip_ratio".into(), trunc_frac);
    m.insert("completion/truncated_frac".into(), trunc_frac);
    m.insert("completion/finished_frac".into(), 1.0 - trunc_frac);
    let acc_where = |want: bool| {
        let v: Vec<f64> = correct
            .iter()
            .zip(&truncated)
            .filter(|(_, &t)| t == want)
            .map(|(&c, _)| c as u8 as f64)
            .collect();
        mean(v.into_iter())
    };
    m.insert("completion/acc_truncated".into(), acc_where(true));
    m.insert("completion/acc_finished".into(), acc_where(false));
    m.insert("train/acc".into(), mean(correct.iter().map(|&c| c as u8 as f64)));
    m.insert(
        "response_length/correct_mean".into(),
        mean(lengths.iter().zip(&correct).filter(|(_, &c)| c).map(|(&l, _)| l as f64)),
    );
    let mut by_difficulty: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
    for (c, ok) in scored.completions.iter().zip(&correct) {
        by_difficulty.entry(scored.samples[c.prompt_index].difficulty).or_default().push(*ok as u8 as f64);
    }
    for (d, v) in by_difficulty {
        m.insert(format!("difficulty/{d}_acc"), mean(v.into_iter()));
    }
    let prompt_tokens: usize =
        scored.completions.iter().map(|c| scored.prompts[c.prompt_index].ids.len()).sum();
    let response_tokens: usize = lengths.iter().map(|&l| l as usize).sum();
    m.insert("tokens/prompt_total".into(), prompt_tokens as f64);
    m.insert("tokens/response_total".into(), response_tokens as f64);
    m.insert("tokens/overall_total".into(), (prompt_tokens + response_tokens) as f64);
    m.insert("timing_s/gen".into(), scored.gen_seconds);
    m.insert("timing_s/reward".into(), scored.reward_seconds);
    let frac_zero_std = {
        let groups = rows / n_per.max(1);
        let flat = (0..groups)
            .filter(|g| rewards[g * n_per..(g + 1) * n_per].windows(2).all(|w| w[0] == w[1]))
            .count();
        flat as f64 / groups.max(1) as f64
    };
    m.insert("critic/frac_reward_zero_std".into(), frac_zero_std);

    let stats = BatchStats {
        step: inp.step,
        window: inp.window as u32,
        max_window: cfg.rollout.max_response_length as u32,
        lengths: lengths.into(),
        correct: correct.into(),
        truncated: truncated.into(),
    };
    Ok(StepResult { metrics: m, stats, rewards })
}
