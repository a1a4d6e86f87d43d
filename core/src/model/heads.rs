//! Scalar heads on top of a [`Decoder`](super::Decoder) backbone (any family).
//!
//! - [`ValueHead`]: the PPO critic, one value per position. Variables
//!   `value_head.weight` [1, H] and `value_head.bias` [1] (the TRL
//!   `AutoModelForCausalLMWithValueHead` naming, `v_head.summary` there), next
//!   to the backbone's `model.*`. Initialised to zero output so a fresh critic
//!   starts at V = 0.
//! - [`ScoreHead`]: transformers' `*ForSequenceClassification` layout
//!   (`GenericForSequenceClassification`: Qwen2, Llama, Qwen3, Mistral),
//!   `score.weight` [num_labels, H] without bias, read at the last non-pad
//!   token of each row (a reward model). Build the backbone with
//!   [`Decoder::backbone`](super::Decoder::backbone) so no `lm_head` is expected.

use tch::{nn, nn::Module, Kind, Tensor};

use super::init::normal_init;

#[derive(Debug)]
pub struct ValueHead {
    linear: nn::Linear,
}

impl ValueHead {
    /// Pass `&vs.root()`: the variables are `value_head.weight` and `value_head.bias`.
    pub fn new(root: &nn::Path, hidden_size: usize) -> Self {
        let cfg = nn::LinearConfig {
            ws_init: nn::Init::Const(0.0),
            bs_init: Some(nn::Init::Const(0.0)),
            bias: true,
        };
        Self { linear: nn::linear(root / "value_head", hidden_size as i64, 1, cfg) }
    }

    /// `hidden` [B, T, H] → values [B, T] (f32).
    pub fn forward(&self, hidden: &Tensor) -> Tensor {
        self.linear.forward(hidden).squeeze_dim(-1).to_kind(Kind::Float)
    }
}

#[derive(Debug)]
pub struct ScoreHead {
    weight: Tensor,
}

impl ScoreHead {
    /// Pass `&vs.root()`: the variable is `score.weight` [num_labels, H].
    pub fn new(root: &nn::Path, hidden_size: usize, num_labels: usize) -> Self {
        let weight = (root / "score").var("weight", &[num_labels as i64, hidden_size as i64], normal_init());
        Self { weight }
    }

    /// Scores [B, num_labels] (f32) at the last non-pad token of each row of
    /// `input_ids` [B, T], as transformers picks it: the right-most position
    /// whose id differs from `pad_token_id` (so both left and right padding
    /// work; a row of only padding reads position 0).
    pub fn forward(&self, hidden: &Tensor, input_ids: &Tensor, pad_token_id: i64) -> Tensor {
        let last = last_non_pad_index(input_ids, pad_token_id).to_device(hidden.device());
        let (b, _, h) = hidden.size3().expect("hidden must be [B, T, H]");
        let picked = hidden.gather(1, &last.view([b, 1, 1]).expand([b, 1, h], true), false).squeeze_dim(1);
        picked.matmul(&self.weight.tr()).to_kind(Kind::Float)
    }
}

/// Index of the right-most token that is not `pad_token_id`, per row [B] i64.
pub fn last_non_pad_index(input_ids: &Tensor, pad_token_id: i64) -> Tensor {
    let t = input_ids.size()[1];
    let positions = Tensor::arange(t, (Kind::Int64, input_ids.device())).unsqueeze(0);
    (positions * input_ids.ne(pad_token_id).to_kind(Kind::Int64)).argmax(-1, false)
}
