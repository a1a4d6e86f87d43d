//! What a run does, in the numbers memory depends on: batch geometry,
//! precision, where each model lives, and the memory-saving settings
//! (rollout budget, activation checkpointing, optimizer sharding).
//!
//! It is filled from a run config by the host (`tzhost plan`), or by any
//! caller that wants to check a run before allocating.

use serde::Serialize;

use crate::error::PlanError;
use crate::shape::ModelShape;

/// Floating-point format of weights and activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    F32,
    Bf16,
    F16,
}

impl Dtype {
    pub fn parse(name: &str) -> Result<Dtype, PlanError> {
        match name {
            "f32" | "float32" => Ok(Dtype::F32),
            "bf16" | "bfloat16" => Ok(Dtype::Bf16),
            "f16" | "float16" => Ok(Dtype::F16),
            other => Err(PlanError::BadDtype(other.into())),
        }
    }

    pub fn bytes(self) -> u64 {
        match self {
            Dtype::F32 => 4,
            Dtype::Bf16 | Dtype::F16 => 2,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "f32",
            Dtype::Bf16 => "bf16",
            Dtype::F16 => "f16",
        }
    }
}

/// The kind of device the policy runs on: sets the runtime overhead and
/// which attention kernel is assumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    Cpu,
    Cuda,
}

/// How `scaled_dot_product_attention` runs. libtorch's fused kernels keep
/// O(tokens) state per head; its math kernel materialises `[heads, T, T]`
/// scores and keeps them for backward. On CUDA a masked grouped-query call
/// (our training forward: padding mask, fewer KV heads) is refused by flash
/// (no masks) and memory-efficient attention (no GQA) and falls to math
/// unless cuDNN attention is preferred (recent cuDNN on Hopper); on the CPU
/// libtorch 2.11 runs it with its flash kernel (checked with
/// `torch._fused_sdp_choice`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Attention {
    Math,
    Fused,
}

impl Attention {
    /// What a masked grouped-query call gets on `device` by default.
    pub fn default_for(device: DeviceKind) -> Attention {
        match device {
            DeviceKind::Cpu => Attention::Fused,
            DeviceKind::Cuda => Attention::Math,
        }
    }
}

/// Where a second model (reference, reward model) lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "on", content = "device")]
pub enum Placement {
    /// The policy's device (each rank's own GPU).
    Policy,
    /// Another device, by name (`cpu`, `cuda:1`); its memory is planned separately.
    Other(String),
}

/// One call of the rollout engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Generation {
    /// `rollout`, `validation (sampled)`, ...
    pub label: String,
    /// Prompts of the whole run (all ranks); each rank takes its share.
    pub prompts: u64,
    /// Responses per prompt.
    pub samples: u64,
    pub greedy: bool,
    /// top-p filtering sorts the vocabulary each step (more scratch memory).
    pub top_p: bool,
}

/// Caps on what the rollout engine holds at once (item 1 of issue 17).
/// `None` = no cap: every row of the call at once, as the engine does today.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RolloutBudget {
    pub rows_in_flight: Option<u64>,
    /// Positions of KV cache over all rows in flight.
    pub kv_tokens: Option<u64>,
}

/// The optimisation side of a training run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Update {
    /// Rows per forward/backward.
    pub micro_batch: u64,
    /// Response positions per LM-head chunk.
    pub logit_chunk: u64,
    /// Keep only each decoder layer's input and recompute the layer in backward.
    pub gradient_checkpointing: bool,
    /// A PPO critic (a second decoder with its own AdamW).
    pub critic: bool,
}

/// A reward model served during training.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RewardModel {
    pub shape: ModelShape,
    pub dtype: Dtype,
    pub placement: Placement,
    /// Pairs per forward pass.
    pub batch_size: u64,
    /// Longest input in tokens.
    pub max_length: u64,
}

/// A run, as memory sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunShape {
    pub device: DeviceKind,
    pub dtype: Dtype,
    /// Data-parallel processes; each holds a replica and a share of every batch.
    pub ranks: u64,
    /// ZeRO-1: AdamW moments and f32 master weights split across the ranks.
    pub shard_optimizer: bool,
    /// The longest prompt in tokens.
    pub prompt_len: u64,
    /// The longest response in tokens.
    pub response_len: u64,
    /// Generations of a step (training rollouts) and of validation.
    pub generations: Vec<Generation>,
    pub budget: RolloutBudget,
    pub attention: Attention,
    /// `None`: generation only (`tzhost eval`).
    pub update: Option<Update>,
    /// The frozen reference policy for the KL term, when one is loaded.
    pub reference: Option<Placement>,
    pub reward_model: Option<RewardModel>,
}

impl RunShape {
    /// Checks the numbers the estimate divides by or multiplies with.
    pub fn validate(&self) -> Result<(), PlanError> {
        let bad = |what: &str| Err(PlanError::BadRun(what.to_string()));
        if self.ranks == 0 {
            return bad("ranks must be at least 1");
        }
        if self.prompt_len == 0 || self.response_len == 0 {
            return bad("prompt and response lengths must be at least 1 token");
        }
        if self.generations.iter().any(|g| g.samples == 0) {
            return bad("every generation needs at least one sample per prompt");
        }
        if self.budget.rows_in_flight == Some(0) || self.budget.kv_tokens == Some(0) {
            return bad("a rollout budget of 0 cannot generate anything");
        }
        if let Some(u) = &self.update {
            if u.micro_batch == 0 || u.logit_chunk == 0 {
                return bad("micro-batch and logit chunk must be at least 1");
            }
        }
        Ok(())
    }

    /// Positions of one training row: prompt and response.
    pub fn sequence_len(&self) -> u64 {
        self.prompt_len.saturating_add(self.response_len)
    }
}
