//! The actor update of PPO-style RL (GRPO, PPO, Dr. GRPO, DAPO): `ppo_epochs`
//! passes over the batch in shuffled mini-batches, each one optimizer step
//! accumulated over micro-batches.
//!
//! Per token: the clipped policy loss ([`crate::loss::policy_loss`]), minus
//! `entropy_coef ×` entropy, plus `kl_coef ×` KL to the reference when the
//! KL is placed in the loss. Every term is aggregated with the mini-batch's
//! token and sequence counts, so the micro-batch losses add up to the
//! mini-batch loss exactly. The LM head runs in chunks of positions
//! ([`Qwen2::backward_chunked`]): no `[batch, seq, vocab]` tensor exists.
//! A mini-batch whose loss or gradient norm is not finite is skipped (no
//! update) and counted. [`update_actor_parallel`] runs the same update on one
//! rank's rows of a data-parallel batch ([`crate::parallel`]).
//!
//! Speed without changing the result (beyond float rounding):
//! - **On-policy updates need no old log-probs.** With one epoch and one
//!   mini-batch the policy being updated *is* the rollout policy, so the
//!   ratio is exactly 1: pass `old_logp: None` and the loss uses the detached
//!   current log-probs (TRL does the same). When the update takes several
//!   optimizer steps, `None` makes it compute the old log-probs first.
//! - **Rows with zero advantage are not run** when the loss has no entropy
//!   or KL term (a GRPO group whose rewards are all equal): their gradient is
//!   exactly 0. They still count in the normalisers.
//! - **Micro-batches of whole groups, alike in length.** Within a mini-batch
//!   the rows are ordered by prompt (so a micro-batch runs each prompt once,
//!   see [`SequenceBatch::response_hidden`]) and groups by response length
//!   (so each trimmed micro-batch carries little padding). The micro-batch
//!   losses are normalised by the mini-batch's counts, so the order only
//!   moves float rounding.

use tch::{Kind, Tensor};
use tz_sdk::{KlPlacement, LossAggregation, LossSettings};

use crate::kl::kl_penalty;
use crate::loss::{agg_loss, policy_loss, AggScale};
use crate::model::Qwen2;
use crate::optim::AdamW;
use crate::parallel::{BatchShard, DistError, Optimizer};
use crate::rl_batch::SequenceBatch;

/// How the batch is cut and iterated.
#[derive(Debug, Clone, PartialEq)]
pub struct ActorUpdateConfig {
    pub ppo_epochs: usize,
    /// Rows per optimizer step; 0 = the whole batch.
    pub mini_batch_size: usize,
    /// Rows per forward/backward.
    pub micro_batch_size: usize,
    /// Positions per LM-head chunk.
    pub logit_chunk: i64,
    /// The `L` of `seq-mean-token-sum-norm` (the max response length).
    pub norm_len: f64,
    /// Seed of the mini-batch shuffle.
    pub seed: u64,
}

/// What the update needs besides the batch.
pub struct ActorInputs<'a> {
    pub batch: &'a SequenceBatch,
    /// Log-probs at rollout time under the current weights, `[N, R]`;
    /// `None` when the caller did not compute them (see the module doc).
    pub old_logp: Option<&'a Tensor>,
    /// Per-token advantages, `[N, R]`.
    pub advantages: &'a Tensor,
    /// Reference-model log-probs, `[N, R]`, when the KL is in the loss.
    pub ref_logp: Option<&'a Tensor>,
}

/// Averages over the optimizer steps of one update (veRL metric names in the docs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActorMetrics {
    /// actor/pg_loss
    pub pg_loss: f64,
    /// actor/pg_clipfrac
    pub pg_clipfrac: f64,
    /// actor/pg_clipfrac_lower
    pub pg_clipfrac_lower: f64,
    /// actor/ppo_kl
    pub ppo_kl: f64,
    /// actor/entropy (token mean)
    pub entropy: f64,
    /// actor/kl_loss (0 when the KL is not in the loss)
    pub kl_loss: f64,
    /// actor/grad_norm (before clipping)
    pub grad_norm: f64,
    /// actor/lr
    pub lr: f64,
    /// actor/is_ratio/{mean,std,p95}, actor/is_log_ratio/{mean,std}, actor/is_clip/outside_frac
    pub is_ratio_mean: f64,
    pub is_ratio_std: f64,
    pub is_ratio_p95: f64,
    pub is_log_ratio_mean: f64,
    pub is_log_ratio_std: f64,
    pub is_clip_outside_frac: f64,
    /// actor/rows_run_frac: the fraction of rows forwarded; the others had
    /// zero advantage and no entropy or KL term (their gradient is 0). The
    /// per-token metrics above are over the rows run.
    pub rows_run_frac: f64,
    /// Optimizer steps taken and skipped (non-finite loss or grad norm).
    pub steps: usize,
    pub skipped: usize,
}

impl ActorMetrics {
    /// `(name, value)` pairs with veRL's names.
    pub fn named(&self) -> Vec<(&'static str, f64)> {
        vec![
            ("actor/pg_loss", self.pg_loss),
            ("actor/pg_clipfrac", self.pg_clipfrac),
            ("actor/pg_clipfrac_lower", self.pg_clipfrac_lower),
            ("actor/ppo_kl", self.ppo_kl),
            ("actor/entropy", self.entropy),
            ("actor/kl_loss", self.kl_loss),
            ("actor/grad_norm", self.grad_norm),
            ("actor/lr", self.lr),
            ("actor/is_ratio/mean", self.is_ratio_mean),
            ("actor/is_ratio/std", self.is_ratio_std),
            ("actor/is_ratio/p95", self.is_ratio_p95),
            ("actor/is_log_ratio/mean", self.is_log_ratio_mean),
            ("actor/is_log_ratio/std", self.is_log_ratio_std),
            ("actor/is_clip/outside_frac", self.is_clip_outside_frac),
            ("actor/skipped_steps", self.skipped as f64),
            ("actor/rows_run_frac", self.rows_run_frac),
        ]
    }
}

/// Token-weighted sums of per-chunk metrics within one mini-batch.
#[derive(Default)]
struct Sums {
    tokens: f64,
    values: [f64; 11],
}

impl Sums {
    fn add(&mut self, tokens: f64, values: [f64; 11]) {
        self.tokens += tokens;
        for (s, v) in self.values.iter_mut().zip(values) {
            *s += v * tokens;
        }
    }
    fn mean(&self, i: usize) -> f64 {
        if self.tokens > 0.0 {
            self.values[i] / self.tokens
        } else {
            0.0
        }
    }
    /// Adds the other ranks' sums.
    fn reduce(&mut self, shard: &BatchShard) -> Result<(), DistError> {
        let mut all = [self.tokens].into_iter().chain(self.values).collect::<Vec<f64>>();
        shard.sum(&mut all)?;
        self.tokens = all[0];
        self.values.copy_from_slice(&all[1..]);
        Ok(())
    }
}

impl ActorUpdateConfig {
    /// True when an update of `rows` rows is one optimizer step on the
    /// rollout policy's own samples, so old log-probs equal the current ones.
    pub fn is_on_policy(&self, rows: usize) -> bool {
        self.ppo_epochs <= 1 && (self.mini_batch_size == 0 || self.mini_batch_size >= rows)
    }
}

/// `rows` reordered so each prompt's rows are adjacent and prompts come in
/// order of their longest response (longest first; ties by first appearance).
fn group_order(rows: &[i64], batch: &SequenceBatch) -> Vec<i64> {
    let (ids, lens) = (batch.prompt_ids(), batch.response_lens());
    let mut longest: std::collections::HashMap<usize, (i64, usize)> = std::collections::HashMap::new();
    for (k, &r) in rows.iter().enumerate() {
        let e = longest.entry(ids[r as usize]).or_insert((0, k));
        e.0 = e.0.max(lens[r as usize]);
    }
    let mut out = rows.to_vec();
    out.sort_by_key(|&r| {
        let (len, first) = longest[&ids[r as usize]];
        (std::cmp::Reverse(len), first)
    });
    out
}

/// Runs the actor update and returns its metrics.
pub fn update_actor(
    model: &Qwen2,
    opt: &mut AdamW,
    inputs: &ActorInputs,
    settings: &LossSettings,
    kl_coef: f64,
    cfg: &ActorUpdateConfig,
) -> ActorMetrics {
    let shard = BatchShard::single(inputs.batch.rows() as usize);
    update_actor_parallel(model, opt, inputs, settings, kl_coef, cfg, &shard)
        .expect("a single process makes no collective call that can fail")
}

/// [`update_actor`] on this rank's rows (`shard`) of a batch spread over
/// ranks: the mini-batches are cut from the global shuffle, losses are
/// normalised by the global counts, gradients are synchronised by `opt`
/// once per mini-batch, and skip decisions and metrics are global, so the
/// weights follow what one process with the whole batch would compute.
pub fn update_actor_parallel(
    model: &Qwen2,
    opt: &mut dyn Optimizer,
    inputs: &ActorInputs,
    settings: &LossSettings,
    kl_coef: f64,
    cfg: &ActorUpdateConfig,
    shard: &BatchShard,
) -> Result<ActorMetrics, DistError> {
    let batch = inputs.batch;
    let n = shard.total();
    assert_eq!(batch.rows() as usize, shard.local(), "the batch holds this rank's rows");
    let device = batch.input_ids.device();
    let mini = if cfg.mini_batch_size == 0 { n } else { cfg.mini_batch_size.min(n) };
    let micro = cfg.micro_batch_size.max(1).min(mini);
    // Per-sequence means need whole sequences in one chunk.
    let chunk =
        if settings.aggregation == LossAggregation::SeqMeanTokenMean { i64::MAX } else { cfg.logit_chunk };
    let kl_in_loss = settings.kl.placement == KlPlacement::Loss && inputs.ref_logp.is_some();
    // Several optimizer steps move the policy: then the ratio needs the rollout policy's log-probs.
    let computed_old = match inputs.old_logp {
        None if !cfg.is_on_policy(n) => Some(batch.logprobs(model, micro as i64, cfg.logit_chunk)),
        _ => None,
    };
    let old_logp = inputs.old_logp.or(computed_old.as_ref());
    let mut out = ActorMetrics::default();
    let mut totals = Sums::default();
    let (mut pg_sum, mut grad_sum, mut lr_sum) = (0.0, 0.0, 0.0);

    // A row whose advantages are all 0 adds nothing to the gradient when the
    // loss has no entropy or KL term: it is counted in the normalisers, not run.
    let runs: Vec<bool> = if settings.entropy_coef == 0.0 && !kl_in_loss {
        let nonzero =
            (inputs.advantages.abs() * &batch.response_mask).sum_dim_intlist(1, false, Kind::Float).ne(0.0);
        Vec::<i64>::try_from(nonzero.to_kind(Kind::Int64).to_device(tch::Device::Cpu))
            .map(|v| v.into_iter().map(|x| x != 0).collect())
            .unwrap_or_else(|_| vec![true; n])
    } else {
        vec![true; n]
    };
    let mut rows_run = 0usize;

    for epoch in 0..cfg.ppo_epochs.max(1) {
        for mb_rows in shard.mini_batches(cfg.seed.wrapping_add(epoch as u64), mini) {
            let mb_rows = group_order(mb_rows.as_slice(), batch);
            opt.zero_grad();
            let mb_index = Tensor::from_slice(&mb_rows).to_device(device);
            let mb_mask = batch.response_mask.index_select(0, &mb_index);
            // The whole mini-batch's counts, over all ranks.
            let mut counts = [
                mb_mask.sum(Kind::Float).double_value(&[]),
                mb_mask.sum_dim_intlist(1, false, Kind::Float).gt(0.0).sum(Kind::Float).double_value(&[]),
            ];
            shard.sum(&mut counts)?;
            let scale = AggScale {
                num_tokens: Some(counts[0].max(1.0)),
                num_seqs: Some(counts[1].max(1.0)),
                norm_len: cfg.norm_len,
            };
            let mut mb_loss = 0.0;
            let mut mb_pg = 0.0;
            let mut run_rows: Vec<i64> = mb_rows.iter().copied().filter(|&r| runs[r as usize]).collect();
            if run_rows.is_empty() {
                // One row keeps every parameter's (zero) gradient defined, so
                // the optimizer step is the one the whole mini-batch would give.
                run_rows.extend(mb_rows.first());
            }
            rows_run += run_rows.len();
            for rows in run_rows.chunks(micro) {
                let idx = Tensor::from_slice(rows).to_device(device);
                let sub = batch.select(&idx);
                let targets = sub.targets();
                let (old, adv) =
                    (old_logp.map(|t| t.index_select(0, &idx)), inputs.advantages.index_select(0, &idx));
                let reference = inputs.ref_logp.map(|t| t.index_select(0, &idx));
                // The LM head and loss per segment, then one backward through
                // the decoder for every segment and their shared prompts.
                let mut surrogate: Option<Tensor> = None;
                for seg in sub.segments(model) {
                    let pick = |t: &Tensor| t.index_select(0, &seg.index).narrow(1, 0, seg.response_len);
                    let (mask, old, adv) = (pick(&sub.response_mask), old.as_ref().map(pick), pick(&adv));
                    let reference = reference.as_ref().map(pick);
                    let (loss, grad) =
                        model.head_backward_chunked(&seg.hidden, &pick(&targets), chunk, |r, lp, ent| {
                            let len = r.end - r.start;
                            let mask = mask.narrow(1, r.start, len);
                            // On-policy: the old log-probs are the current ones, detached.
                            let old_chunk = match &old {
                                Some(o) => o.narrow(1, r.start, len),
                                None => lp.detach(),
                            };
                            let pg = policy_loss(
                                lp,
                                &old_chunk,
                                &adv.narrow(1, r.start, len),
                                &mask,
                                settings,
                                &scale,
                            );
                            let ent_agg = agg_loss(ent, &mask, settings.aggregation, &scale);
                            let mut loss = &pg.loss - ent_agg * f64::from(settings.entropy_coef);
                            let mut kl_value = 0.0;
                            if let Some(reference) = reference.as_ref().filter(|_| kl_in_loss) {
                                let kl =
                                    kl_penalty(lp, &reference.narrow(1, r.start, len), settings.kl.estimator);
                                let kl_agg = agg_loss(&kl, &mask, settings.aggregation, &scale);
                                kl_value = crate::loss::masked_mean(&kl.detach(), &mask).double_value(&[]);
                                loss += kl_agg * kl_coef;
                            }
                            let tokens = mask.sum(Kind::Float).double_value(&[]);
                            mb_pg += pg.loss.double_value(&[]);
                            let v = |t: &Tensor| t.double_value(&[]);
                            totals.add(
                                tokens,
                                [
                                    v(&pg.clipfrac),
                                    v(&pg.clipfrac_lower),
                                    v(&pg.ppo_kl),
                                    v(&crate::loss::masked_mean(&ent.detach(), &mask)),
                                    kl_value,
                                    v(&pg.is.ratio_mean),
                                    v(&pg.is.ratio_std),
                                    v(&pg.is.ratio_p95),
                                    v(&pg.is.log_ratio_mean),
                                    v(&pg.is.log_ratio_std),
                                    v(&pg.is.outside_frac),
                                ],
                            );
                            loss
                        });
                    mb_loss += loss;
                    if let Some(grad) = grad {
                        // d(Σ hidden·g)/d(hidden) = g.
                        let term = (&seg.hidden * grad).sum(Kind::Float);
                        surrogate = Some(match surrogate {
                            Some(s) => s + term,
                            None => term,
                        });
                    }
                }
                if let Some(s) = surrogate.filter(|s| s.requires_grad()) {
                    s.backward();
                }
                // Recomputes checkpointed layers, if any (a no-op otherwise).
                model.backward_through_checkpoints();
            }
            // Each rank's loss is its share of the mini-batch loss.
            let mut losses = [mb_loss, mb_pg];
            shard.sum(&mut losses)?;
            let [mb_loss, mb_pg] = losses;
            if !mb_loss.is_finite() {
                opt.zero_grad();
                out.skipped += 1;
                tracing::warn!(loss = mb_loss, "non-finite actor loss: mini-batch skipped");
                continue;
            }
            let info = opt.step()?;
            if info.skipped {
                out.skipped += 1;
                tracing::warn!(grad_norm = info.grad_norm, "non-finite gradient norm: mini-batch skipped");
                continue;
            }
            out.steps += 1;
            pg_sum += mb_pg;
            grad_sum += info.grad_norm;
            lr_sum += info.lr;
        }
    }
    totals.reduce(shard)?;
    let mut rows_run = [rows_run as f64];
    shard.sum(&mut rows_run)?;
    out.rows_run_frac = rows_run[0] / (n * cfg.ppo_epochs.max(1)).max(1) as f64;
    let steps = out.steps.max(1) as f64;
    out.pg_loss = pg_sum / steps;
    out.grad_norm = grad_sum / steps;
    out.lr = if out.steps > 0 { lr_sum / steps } else { opt.current_lr() };
    out.pg_clipfrac = totals.mean(0);
    out.pg_clipfrac_lower = totals.mean(1);
    out.ppo_kl = totals.mean(2);
    out.entropy = totals.mean(3);
    out.kl_loss = totals.mean(4);
    out.is_ratio_mean = totals.mean(5);
    out.is_ratio_std = totals.mean(6);
    out.is_ratio_p95 = totals.mean(7);
    out.is_log_ratio_mean = totals.mean(8);
    out.is_log_ratio_std = totals.mean(9);
    out.is_clip_outside_frac = totals.mean(10);
    Ok(out)
}
