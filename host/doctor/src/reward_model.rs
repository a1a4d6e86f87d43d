//! The reward model of a run config (`[reward_model]`, e.g. the hybrid
//! task's AceMath-RM), as seed 003's `test_setup.py` checks it: its files
//! (a hub id must already be cached), its config (a one-label
//! sequence classifier of the Qwen2 architecture), its tokenizer and chat
//! template (a sample pair renders and tokenizes), and, when asked, one
//! forward pass that scores the pair.

use tz_core::chat_template::{ChatMessage, RenderOptions};
use tz_core::{ModelDir, RewardModel, RewardModelOptions};

use super::{model, Check, Status};
use crate::error::{DoctorError, Result};
use tz_config::RewardModelSection;

/// A question and a response to render and score.
const PAIR: (&str, &str) = ("What is 5 + 3?", "5 + 3 = 8, so the answer is \\boxed{8}.");

/// Checks `section.path`; `forward`: also load the weights and score [`PAIR`].
pub fn check(section: &RewardModelSection, forward: bool) -> Vec<Check> {
    let fix_files =
        "download it, e.g. huggingface-cli download nvidia/AceMath-7B-RM, or fix reward_model.path";
    let dir = match model::local_dir(&section.path) {
        Ok(d) => d,
        Err(e) => return vec![Check::fail("reward model files", e, fix_files)],
    };
    let model_dir = match ModelDir::open(&dir) {
        Ok(m) => m,
        Err(e) => return vec![Check::fail("reward model files", format!("{e:#}"), fix_files)],
    };
    let mut out = vec![
        Check::ok("reward model files", format!("{}", model_dir.root().display())),
        config(&model_dir),
        tokenizer(&model_dir, section),
    ];
    if !forward {
        out.push(Check::skip("reward model forward", "not run (add --reward-forward to score one pair)"));
    } else if out.iter().any(|c| c.status == Status::Fail) {
        out.push(Check::skip("reward model forward", "skipped: fix the checks above first"));
    } else {
        out.push(score(&dir, section));
    }
    out
}

fn config(dir: &ModelDir) -> Check {
    let c = dir.config();
    let arch = c.extra.get("architectures").and_then(|a| a.get(0)).and_then(|a| a.as_str()).unwrap_or("?");
    let fix = "a reward model is a Qwen2ForSequenceClassification with one label (num_labels = 1), like AceMath-7B-RM";
    if let Err(e) = c.validate() {
        return Check::fail("reward model config", format!("{e:#}"), fix);
    }
    match tz_core::reward_model::num_labels(dir) {
        1 => Check::ok(
            "reward model config",
            format!(
                "{arch}, 1 label, {} layers, hidden {}, {:.0}M parameters",
                c.num_hidden_layers,
                c.hidden_size,
                c.num_parameters() as f64 / 1e6
            ),
        ),
        n => Check::fail("reward model config", format!("{arch} with {n} labels"), fix),
    }
}

fn tokenizer(dir: &ModelDir, section: &RewardModelSection) -> Check {
    let fix = "the reward model renders (question, response) pairs with its chat template: use its own tokenizer_config.json";
    let run = || -> Result<String> {
        let tok = dir.tokenizer()?;
        if tok.chat_template().is_none() {
            return Err(DoctorError::Unusable("the tokenizer has no chat template".into()));
        }
        let mut messages = Vec::new();
        if !section.system_prompt.is_empty() {
            messages.push(ChatMessage::system(section.system_prompt.clone()));
        }
        messages.push(ChatMessage::user(PAIR.0));
        messages.push(ChatMessage::assistant(PAIR.1));
        let text = tok.apply_chat_template(&messages, &RenderOptions::default())?;
        let ids = tok.encode(&text, false)?;
        Ok(format!("chat template renders a (question, response) pair as {} tokens", ids.len()))
    };
    match run() {
        Ok(detail) => Check::ok("reward model tokenizer", detail),
        Err(e) => Check::fail("reward model tokenizer", format!("{e:#}"), fix),
    }
}

/// Loads the reward model as training would and scores [`PAIR`].
fn score(dir: &std::path::Path, section: &RewardModelSection) -> Check {
    let fix = "see the error; reward_model.device and reward_model.dtype choose where and how it runs";
    let run = || -> Result<String> {
        let device = tz_core::device::parse_device(&section.device)?;
        let opts = RewardModelOptions {
            device,
            kind: tz_core::device::parse_dtype(&section.dtype)?,
            batch_size: section.batch_size.max(1),
            max_length: section.max_length,
            system_prompt: section.system_prompt.clone(),
        };
        let t0 = std::time::Instant::now();
        let rm = RewardModel::load(dir, opts)?;
        let s = rm.score(&[PAIR])?;
        if s.len() != 1 || !s[0].is_finite() {
            return Err(DoctorError::Unusable(format!("the score is not a finite number: {s:?}")));
        }
        Ok(format!(
            "score {:.4} for a sample pair on {device:?} ({:.1}s with loading)",
            s[0],
            t0.elapsed().as_secs_f64()
        ))
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
        Ok(Ok(detail)) => Check::ok("reward model forward", detail),
        Ok(Err(e)) => Check::fail("reward model forward", format!("{e:#}"), fix),
        Err(_) => Check::fail("reward model forward", "libtorch failed (panic)", fix),
    }
}
