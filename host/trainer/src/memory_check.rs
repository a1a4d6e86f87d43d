//! Will it fit? Before a command allocates a model or a batch, a rough lower
//! bound of the memory it needs is compared with what the machine has; a run
//! that clearly cannot fit is refused with one line instead of growing until
//! the OS kills it.
//!
//! The bound counts what certainly gets allocated (weights, gradients, AdamW
//! moments, the reference model, the rollout's KV cache for every row at
//! once as the engine allocates it, the saved activations of one
//! micro-batch) and nothing else, so it errs towards letting a run start.
//! It is a stand-in for the planner (`tzhost plan`): commands build a
//! [`Need`] with [`training`] or [`generation`], and [`ensure_fits`] is the
//! one check.
//!
//! Only host memory is checked (CPU runs); on a GPU the check is skipped.
//! `TZ_MEMORY_LIMIT` (bytes, or with a K/M/G/T suffix) caps the memory the
//! check takes as available, e.g. to leave room for other jobs.

use crate::error::{bail, ensure, Context, Result, TrainError};
use tz_config::RunConfig;
use tz_core::{Device, Kind, Qwen2Config};

/// What a command will allocate, by part: (what, bytes, the settings that drive it).
#[derive(Debug, Clone, Default)]
pub struct Need {
    parts: Vec<(&'static str, f64, &'static str)>,
}

impl Need {
    fn add(&mut self, what: &'static str, bytes: f64, driven_by: &'static str) {
        self.parts.push((what, bytes, driven_by));
    }

    /// The total in bytes.
    pub fn total(&self) -> f64 {
        self.parts.iter().map(|p| p.1).sum()
    }

    /// The largest part.
    fn largest(&self) -> Option<&(&'static str, f64, &'static str)> {
        self.parts.iter().max_by(|a, b| a.1.total_cmp(&b.1))
    }
}

fn bytes_of(kind: Kind) -> f64 {
    match kind {
        Kind::BFloat16 | Kind::Half => 2.0,
        _ => 4.0,
    }
}

/// The parameter count, in f64 so absurd configs cannot overflow.
fn parameters(m: &Qwen2Config) -> f64 {
    let (h, i, v, l) =
        (m.hidden_size as f64, m.intermediate_size as f64, m.vocab_size as f64, m.num_hidden_layers as f64);
    let kv = (m.num_key_value_heads * m.head_dim()) as f64;
    let layer = 2.0 * h * h + 2.0 * h * kv + 3.0 * h * i + 3.0 * h + 2.0 * kv;
    let head = if m.tie_word_embeddings { 0.0 } else { v * h };
    v * h + l * layer + h + head
}

/// Bytes of the KV cache for one token of one row.
fn kv_bytes_per_token(m: &Qwen2Config, kind: Kind) -> f64 {
    2.0 * (m.num_hidden_layers * m.num_key_value_heads * m.head_dim()) as f64 * bytes_of(kind)
}

/// A training run: the policy with its gradients and AdamW moments, the
/// reference model when the loss needs one, the larger of the rollout's and
/// the validation's KV cache, and one micro-batch's activations.
pub fn training(cfg: &RunConfig, model: &Qwen2Config, kind: Kind, with_reference: bool) -> Need {
    let p = parameters(model);
    let w = bytes_of(kind);
    let mut need = Need::default();
    need.add("the policy's weights and gradients", 2.0 * p * w, "the model");
    need.add("AdamW's moments (f32)", 8.0 * p, "the model");
    if with_reference {
        need.add("the reference model", p * w, "the KL settings");
    }
    let tokens = cfg.rollout.max_response_length as f64 + 1.0;
    let per_token = kv_bytes_per_token(model, kind);
    let rollout_rows = (cfg.rollout.prompts_per_step * cfg.rollout.n) as f64;
    let val_rows = (cfg.eval.size * cfg.eval.samples) as f64;
    if rollout_rows >= val_rows {
        need.add(
            "the rollout's KV cache",
            rollout_rows * tokens * per_token,
            "rollout.prompts_per_step × rollout.n × rollout.max_response_length",
        );
    } else {
        need.add(
            "the validation's KV cache",
            val_rows * tokens * per_token,
            "eval.size × eval.samples × rollout.max_response_length",
        );
    }
    let micro = cfg.trainer.micro_batch_size.min(cfg.rollout.prompts_per_step * cfg.rollout.n) as f64;
    let (h, i) = (model.hidden_size as f64, model.intermediate_size as f64);
    let saved = micro * tokens * model.num_hidden_layers as f64 * (4.0 * h + 2.0 * i) * 4.0;
    let logits = micro * tokens.min(cfg.trainer.logit_chunk as f64) * model.vocab_size as f64 * 4.0;
    need.add(
        "one micro-batch's activations",
        saved + logits,
        "trainer.micro_batch_size × rollout.max_response_length",
    );
    need
}

/// Sampling `rows` sequences of up to `tokens` tokens (prompt included).
pub fn generation(
    model: &Qwen2Config,
    kind: Kind,
    rows: usize,
    tokens: usize,
    driven_by: &'static str,
) -> Need {
    let mut need = Need::default();
    need.add("the model's weights", parameters(model) * bytes_of(kind), "the model");
    need.add("the KV cache", rows as f64 * tokens as f64 * kv_bytes_per_token(model, kind), driven_by);
    need
}

/// The config of `model.path` when it is known without a download: the tiny
/// model's (empty path) or a local directory's `config.json`.
pub fn local_model_config(model_path: &str) -> Result<Option<Qwen2Config>> {
    if model_path.is_empty() {
        return Ok(Some(tz_core::presets::tiny_config()));
    }
    let file = std::path::Path::new(model_path).join("config.json");
    if !file.is_file() {
        return Ok(None);
    }
    Ok(Some(Qwen2Config::from_file(&file)?))
}

/// `1.5 GB`, `320 MB`, ...
fn human(bytes: f64) -> String {
    match bytes {
        b if b >= 1e12 => format!("{:.1} TB", b / 1e12),
        b if b >= 1e9 => format!("{:.1} GB", b / 1e9),
        b => format!("{:.0} MB", b / 1e6),
    }
}

/// Refuses `what` when `need` is more than the memory available on `device`.
pub fn ensure_fits(need: &Need, device: Device, what: &str) -> Result<()> {
    if device != Device::Cpu {
        tracing::debug!("memory check skipped on {device:?}: {} of host-side estimate", human(need.total()));
        return Ok(());
    }
    let Some(available) = available_bytes()? else { return Ok(()) };
    let total = need.total();
    if total <= available {
        return Ok(());
    }
    let (part, bytes, driven_by) = need.largest().expect("a need has parts");
    bail!(
        "{what} needs at least {} of memory but {} is available: {part} alone takes {} (lower {driven_by})",
        human(total),
        human(available),
        human(*bytes)
    );
}

/// The memory available to this process: the kernel's estimate
/// (`MemAvailable`), capped by a cgroup limit and by `TZ_MEMORY_LIMIT`.
/// `None` where neither is known (not Linux).
fn available_bytes() -> Result<Option<f64>> {
    let mut available = meminfo_available();
    if let Some(cgroup) = cgroup_available() {
        available = Some(available.map_or(cgroup, |a| a.min(cgroup)));
    }
    if let Ok(limit) = std::env::var("TZ_MEMORY_LIMIT") {
        let limit = parse_size(&limit).with_context(|| format!("TZ_MEMORY_LIMIT={limit}"))?;
        available = Some(available.map_or(limit, |a| a.min(limit)));
    }
    Ok(available)
}

fn meminfo_available() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0)
}

/// cgroup v2: `memory.max` − `memory.current` of this process's group.
fn cgroup_available() -> Option<f64> {
    let group = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = group.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = std::path::Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
    let max: f64 = std::fs::read_to_string(dir.join("memory.max")).ok()?.trim().parse().ok()?;
    let current: f64 = std::fs::read_to_string(dir.join("memory.current")).ok()?.trim().parse().ok()?;
    Some((max - current).max(0.0))
}

/// `1073741824`, `512M`, `4G`, `1.5T` (powers of 1024).
fn parse_size(text: &str) -> Result<f64> {
    let t = text.trim();
    let (number, scale) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let scale = match c.to_ascii_uppercase() {
                'K' => 1024f64,
                'M' => 1024f64.powi(2),
                'G' => 1024f64.powi(3),
                'T' => 1024f64.powi(4),
                _ => bail!("unknown unit '{c}' (use K, M, G or T)"),
            };
            (&t[..i], scale)
        }
        _ => (t, 1.0),
    };
    let n: f64 =
        number.trim().parse().map_err(|e| TrainError::Invalid(format!("not a size like 512M or 8G: {e}")))?;
    ensure!(n.is_finite() && n >= 0.0, "not a size like 512M or 8G");
    Ok(n * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parameter_count_agrees_with_the_core() {
        let m = tz_core::presets::tiny_config();
        assert_eq!(parameters(&m), m.num_parameters() as f64);
        let mut untied = m.clone();
        untied.tie_word_embeddings = false;
        assert_eq!(parameters(&untied), untied.num_parameters() as f64);
    }

    #[test]
    fn the_tiny_default_run_needs_little_and_a_huge_rollout_names_its_keys() {
        let m = tz_core::presets::tiny_config();
        let cfg = RunConfig::default();
        assert!(training(&cfg, &m, Kind::Float, false).total() < 1e9);
        let mut huge = cfg.clone();
        huge.rollout.n = 1 << 20;
        let need = training(&huge, &m, Kind::Float, false);
        let (part, bytes, keys) = need.largest().unwrap();
        assert_eq!(*part, "the rollout's KV cache");
        assert!(*bytes > 1e11 && keys.contains("rollout.n"), "{bytes} {keys}");
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("1024").unwrap(), 1024.0);
        assert_eq!(parse_size("512M").unwrap(), 512.0 * 1024.0 * 1024.0);
        assert_eq!(parse_size("2g").unwrap(), 2.0 * 1024f64.powi(3));
        assert!(parse_size("12Q").is_err() && parse_size("lots").is_err() && parse_size("-1G").is_err());
    }
}
