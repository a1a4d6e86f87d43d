//! Writing a checkpoint in the layout `save_pretrained` writes, so that
//! `AutoModelForCausalLM.from_pretrained(dir)` loads it unchanged.
//!
//! The directory is written under a temporary name next to the target and
//! renamed into place at the end: a crash or a full disk never leaves a
//! half-written checkpoint under the final name.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use safetensors::{Dtype, View};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use super::dtype::{dtype_of, torch_dtype_name};
use super::load::{INDEX_FILE, SINGLE_FILE};
use crate::config::Qwen2Config;
use crate::error::{ensure, Context, CoreError};
use crate::generation_config::GenerationConfig;

/// transformers' default shard limit (`max_shard_size="50GB"`).
pub const DEFAULT_MAX_SHARD_BYTES: u64 = 50_000_000_000;

/// How to write the weights.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SaveOptions {
    /// Floating-point dtype of the saved weights (`config.json`'s
    /// `torch_dtype` says the same).
    pub dtype: Kind,
    /// A shard is closed before it would exceed this many bytes; a tensor
    /// larger than the limit gets a shard of its own.
    pub max_shard_bytes: u64,
}

impl Default for SaveOptions {
    fn default() -> Self {
        SaveOptions { dtype: Kind::BFloat16, max_shard_bytes: DEFAULT_MAX_SHARD_BYTES }
    }
}

/// A tensor converted for writing; its bytes are produced when the writer
/// asks, so a shard holds converted tensors but never a second byte copy of
/// all of them.
struct TensorBytes {
    tensor: Tensor,
    dtype: Dtype,
    shape: Vec<usize>,
    len: usize,
}

impl View for &TensorBytes {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        let mut buf = vec![0u8; self.len];
        self.tensor.copy_data_u8(&mut buf, self.tensor.numel());
        Cow::Owned(buf)
    }
    fn data_len(&self) -> usize {
        self.len
    }
}

/// Writes `vs` as a Hugging Face checkpoint in `dir`: `config.json` (with
/// `torch_dtype` = the saved dtype), `model.safetensors` or shards plus
/// `model.safetensors.index.json`, `generation_config.json` when given, and
/// `extra_files` (tokenizer files) copied verbatim. Models with tied
/// embeddings write no `lm_head.weight`. An existing `dir` is replaced.
pub fn save_pretrained(
    vs: &VarStore,
    cfg: &Qwen2Config,
    generation_config: Option<&GenerationConfig>,
    extra_files: &[PathBuf],
    dir: &Path,
    opts: &SaveOptions,
) -> crate::Result<()> {
    let dtype_name = torch_dtype_name(opts.dtype).with_context(|| {
        format!("cannot save weights as {:?}: choose float32, bfloat16 or float16", opts.dtype)
    })?;
    let file_name = dir.file_name().with_context(|| format!("{} is not a directory name", dir.display()))?;
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let tmp = parent.join(format!("{}.tmp-{}", file_name.to_string_lossy(), std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).with_context(|| format!("cannot remove stale {}", tmp.display()))?;
    }
    std::fs::create_dir(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;

    let written = write_contents(vs, cfg, dtype_name, generation_config, extra_files, &tmp, opts);
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e.context(format!("saving checkpoint {}", dir.display())));
    }
    replace_dir(&tmp, dir)
}

fn write_contents(
    vs: &VarStore,
    cfg: &Qwen2Config,
    dtype_name: &str,
    generation_config: Option<&GenerationConfig>,
    extra_files: &[PathBuf],
    out: &Path,
    opts: &SaveOptions,
) -> crate::Result<()> {
    let mut cfg = cfg.clone();
    cfg.torch_dtype = Some(dtype_name.to_string());
    // transformers 5 writes the same under `dtype`; keep both in agreement.
    if cfg.extra.contains_key("dtype") {
        cfg.extra.insert("dtype".into(), dtype_name.into());
    }
    write_json(&out.join("config.json"), &cfg)?;
    if let Some(generation) = generation_config {
        write_json(&out.join("generation_config.json"), generation)?;
    }
    for file in extra_files {
        let name = file.file_name().with_context(|| format!("{} is not a file", file.display()))?;
        std::fs::copy(file, out.join(name)).with_context(|| format!("cannot copy {}", file.display()))?;
    }
    write_weights(vs, cfg.tie_word_embeddings, out, opts)
}

/// Splits the variables into shards and writes them (plus the index when
/// there is more than one).
fn write_weights(vs: &VarStore, tied: bool, out: &Path, opts: &SaveOptions) -> crate::Result<()> {
    let dtype = dtype_of(opts.dtype).context("unsupported dtype")?;
    let variables = vs.variables();
    let mut names: Vec<&String> =
        variables.keys().filter(|n| !(tied && n.as_str() == "lm_head.weight")).collect();
    names.sort();
    ensure!(!names.is_empty(), Checkpoint: "the model has no variables to save");

    // Greedy sharding in name order, as transformers does in state-dict order.
    let elt = opts.dtype.elt_size_in_bytes() as u64;
    let mut shards: Vec<Vec<&String>> = vec![Vec::new()];
    let mut shard_bytes = 0u64;
    for name in &names {
        let bytes = variables[*name].numel() as u64 * elt;
        if shard_bytes > 0 && shard_bytes + bytes > opts.max_shard_bytes {
            shards.push(Vec::new());
            shard_bytes = 0;
        }
        shards.last_mut().expect("one shard").push(name);
        shard_bytes += bytes;
    }

    let metadata: HashMap<String, String> = [("format".to_string(), "pt".to_string())].into();
    let count = shards.len();
    let mut weight_map = BTreeMap::new();
    let mut total_size = 0u64;
    let mut total_parameters = 0u64;
    let _no_grad = tch::no_grad_guard();
    for (i, shard) in shards.iter().enumerate() {
        let file = if count == 1 {
            SINGLE_FILE.to_string()
        } else {
            format!("model-{:05}-of-{:05}.safetensors", i + 1, count)
        };
        let mut tensors = Vec::with_capacity(shard.len());
        for name in shard {
            let var = &variables[*name];
            let tensor = var.to_device(Device::Cpu).to_kind(opts.dtype).contiguous();
            let shape: Vec<usize> = tensor.size().iter().map(|&d| d as usize).collect();
            let len = tensor.numel() * opts.dtype.elt_size_in_bytes();
            total_size += len as u64;
            total_parameters += tensor.numel() as u64;
            weight_map.insert((*name).clone(), file.clone());
            tensors.push(((*name).clone(), TensorBytes { tensor, dtype, shape, len }));
        }
        let path = out.join(&file);
        safetensors::serialize_to_file(
            tensors.iter().map(|(n, t)| (n.as_str(), t)),
            Some(metadata.clone()),
            &path,
        )
        .map_err(|e| CoreError::Checkpoint(format!("cannot write {}: {e}", path.display())))?;
    }
    if count > 1 {
        let index = serde_json::json!({
            "metadata": {"total_parameters": total_parameters, "total_size": total_size},
            "weight_map": weight_map,
        });
        write_json(&out.join(INDEX_FILE), &index)?;
    }
    Ok(())
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> crate::Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Moves the finished `tmp` to `dir`. An existing `dir` is first moved aside
/// and deleted only after the new one is in place.
fn replace_dir(tmp: &Path, dir: &Path) -> crate::Result<()> {
    if dir.exists() {
        let old = dir.with_file_name(format!(
            "{}.old-{}",
            dir.file_name().unwrap_or_default().to_string_lossy(),
            std::process::id()
        ));
        std::fs::rename(dir, &old).with_context(|| format!("cannot move the old {} aside", dir.display()))?;
        if let Err(e) = std::fs::rename(tmp, dir) {
            let _ = std::fs::rename(&old, dir);
            return Err(CoreError::Checkpoint(format!(
                "cannot move {} to {}: {e}",
                tmp.display(),
                dir.display()
            )));
        }
        std::fs::remove_dir_all(&old).with_context(|| format!("cannot remove the old {}", old.display()))?;
    } else {
        std::fs::rename(tmp, dir)
            .with_context(|| format!("cannot move {} to {}", tmp.display(), dir.display()))?;
    }
    Ok(())
}
