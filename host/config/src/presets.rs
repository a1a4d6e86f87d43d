//! The tiny-model preset: settings the embedded ~1M-parameter model needs,
//! applied as one config layer at the end of resolution, only where the
//! user set nothing, with origin "default for the tiny model" (so
//! `config show` shows each of them as such, and a saved config holds them).
//!
//! It applies when `model.path` is empty (the embedded tiny model):
//! - countdown: 3-number problems (the 24 new tokens fit 3-number answers)
//!   and the adaptive window moved between 8 and 24 tokens in steps of 2
//!   (responses of the compact template are ~5-15 characters);
//! - PPO on countdown: `critic_lr` 1e-3 and `kl_placement = "none"` (see
//!   below);
//! - PPO: `trainer.lr` 1e-4 unless a learning rate was set anywhere.
//!
//! Why the PPO values: TinyZero's critic lr of 1e-5 is tuned for
//! billion-parameter models, and a ~1M-parameter critic barely moves at it
//! in a few hundred steps (3e-3 was measured worse than 1e-3); TinyZero's
//! k1 penalty of 0.001 in the reward is ~1e-5 per token here, far below the
//! 0.1/1 rewards, yet costs a reference forward each step (the tiny GRPO
//! recipe has no KL either). The actor lr: whitened per-token advantages
//! give every token a unit-scale signal (GRPO's are zero on groups with equal
//! rewards), and at 2e-4 the policy's entropy collapsed and greedy success
//! fell by about 5 points within 300 steps.

use crate::run_config::RunConfig;

/// The origin of every value the preset sets.
pub const TINY_MODEL: &str = "the tiny model";

/// The tiny model's PPO actor learning rate.
pub const TINY_PPO_ACTOR_LR: f64 = 1e-4;

/// The preset's actor learning rate for `cfg`: PPO on the tiny model, unless
/// a learning rate was set anywhere (`lr_set`).
pub fn tiny_actor_lr(cfg: &RunConfig, lr_set: bool) -> Option<f64> {
    let tiny_ppo = cfg.model.path.is_empty() && cfg.algorithm.chain.iter().any(|a| a == "ppo");
    (tiny_ppo && !lr_set).then_some(TINY_PPO_ACTOR_LR)
}

/// The preset's plugin settings, each only where the table has no value.
pub fn tiny_defaults(cfg: &mut RunConfig) {
    if !cfg.model.path.is_empty() || cfg.task.name != "countdown" {
        return;
    }
    let int = toml::Value::Integer;
    let table = cfg.task.plugins.entry("countdown".into()).or_default();
    table.entry("min_operands").or_insert(int(3));
    table.entry("max_operands").or_insert(int(3));
    let adaptive = cfg.curriculum.plugins.entry("adaptive".into()).or_default();
    adaptive.entry("min_window").or_insert(int(8));
    adaptive.entry("step_size").or_insert(int(2));
    if cfg.algorithm.chain.iter().any(|a| a == "ppo") {
        let ppo = cfg.algorithm.plugins.entry("ppo".into()).or_default();
        ppo.entry("critic_lr").or_insert(toml::Value::Float(1e-3));
        ppo.entry("kl_placement").or_insert(toml::Value::String("none".into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Layers, Origin, Resolved};

    fn resolve(sets: &[&str]) -> Resolved {
        let mut layers = Layers::defaults();
        for s in sets {
            layers.set(s, Origin::Flag(format!("--set {s}"))).unwrap();
        }
        layers.resolve().unwrap()
    }

    #[test]
    fn the_tiny_model_gets_its_preset_with_its_origin_and_user_values_win() {
        let r = resolve(&["task.plugins.countdown.max_operands=4", "algorithm.chain=ppo"]);
        let countdown = &r.config.task.plugins["countdown"];
        assert_eq!(countdown["min_operands"].as_integer(), Some(3));
        assert_eq!(countdown["max_operands"].as_integer(), Some(4));
        let preset = Origin::Preset(TINY_MODEL.into());
        assert_eq!(r.origins["task.plugins.countdown.min_operands"], preset);
        assert!(matches!(r.origins["task.plugins.countdown.max_operands"], Origin::Flag(_)));
        assert_eq!(r.config.algorithm.plugins["ppo"]["kl_placement"].as_str(), Some("none"));
        assert_eq!((r.config.trainer.lr, &r.origins["trainer.lr"]), (TINY_PPO_ACTOR_LR, &preset));
        let set_lr = resolve(&["algorithm.chain=ppo", "trainer.lr=2e-4"]);
        assert_eq!(set_lr.config.trainer.lr, 2e-4);
    }

    #[test]
    fn another_model_gets_no_preset() {
        let r = resolve(&["model.path=Qwen/Qwen2.5-0.5B", "algorithm.chain=ppo"]);
        assert!(r.config.task.plugins.is_empty() && r.config.algorithm.plugins.is_empty());
        assert_eq!(r.origins["trainer.lr"], Origin::Default);
    }
}
