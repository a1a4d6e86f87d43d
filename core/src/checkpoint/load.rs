//! Loading safetensors weights into a [`VarStore`] by Hugging Face name.
//!
//! Files are memory-mapped and each tensor is copied straight into its
//! variable (`f_copy_` converts dtype and device), so the checkpoint's dtype
//! never changes the model's: a bf16 file loads into fp32 master weights.
//! Loading is strict about what the model needs and lenient about the rest.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use safetensors::SafeTensors;
use serde::Deserialize;
use tch::nn::VarStore;
use tch::Tensor;

use super::dtype::kind_of;
use crate::error::{bail, ensure, Context, CoreError};

/// The single-file weights name.
pub const SINGLE_FILE: &str = "model.safetensors";
/// The index of sharded weights.
pub const INDEX_FILE: &str = "model.safetensors.index.json";

/// The safetensors files of a checkpoint, and for sharded checkpoints which
/// file holds which tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightFiles {
    /// Every weight file, in order.
    pub files: Vec<PathBuf>,
    /// Tensor name -> file, from `model.safetensors.index.json`.
    pub index: Option<BTreeMap<String, PathBuf>>,
    /// The index file itself, for error messages.
    pub index_path: Option<PathBuf>,
}

#[derive(Deserialize)]
struct IndexFile {
    weight_map: BTreeMap<String, String>,
}

impl WeightFiles {
    /// Finds `model.safetensors.index.json` (preferred, as in transformers)
    /// or `model.safetensors` in `dir`.
    pub fn discover(dir: &Path) -> crate::Result<Self> {
        let index_path = dir.join(INDEX_FILE);
        if index_path.is_file() {
            let text = std::fs::read_to_string(&index_path)
                .with_context(|| format!("cannot read {}", index_path.display()))?;
            let index: IndexFile = serde_json::from_str(&text).with_context(|| {
                format!("{} is not a valid safetensors index (no weight_map?)", index_path.display())
            })?;
            let mut files: Vec<PathBuf> = Vec::new();
            let mut map = BTreeMap::new();
            for (name, file) in index.weight_map {
                ensure!(
                    !file.contains('/') && !file.contains('\\') && file != "..",
                    Checkpoint: "{} maps '{name}' to '{file}', which is not a file name in the checkpoint directory",
                    index_path.display()
                );
                let path = dir.join(&file);
                if !files.contains(&path) {
                    ensure!(
                        path.is_file(),
                        Checkpoint: "{} lists {file}, which does not exist (an incomplete download?)",
                        index_path.display()
                    );
                    files.push(path.clone());
                }
                map.insert(name, path);
            }
            files.sort();
            return Ok(WeightFiles { files, index: Some(map), index_path: Some(index_path) });
        }
        let single = dir.join(SINGLE_FILE);
        if single.is_file() {
            return Ok(WeightFiles { files: vec![single], index: None, index_path: None });
        }
        let legacy =
            ["pytorch_model.bin", "pytorch_model.bin.index.json"].iter().any(|f| dir.join(f).is_file());
        if legacy {
            bail!(
                Checkpoint: "{} has only pytorch_model.bin weights; re-save them as safetensors \
                 (model.save_pretrained(dir, safe_serialization=True))",
                dir.display()
            );
        }
        bail!(Checkpoint: "{} has no {SINGLE_FILE} or {INDEX_FILE}", dir.display())
    }
}

/// What a load did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    /// Variables filled from the checkpoint (all of the VarStore's).
    pub loaded: usize,
    /// Tensors in the checkpoint the model has no variable for.
    pub ignored: Vec<String>,
}

/// Fills every variable of `vs` from `weights`. A variable missing from the
/// checkpoint, or of another shape, is an error naming the tensor and file.
/// Extra tensors are skipped with a debug log; `lm_head.weight` in a model
/// with tied embeddings is skipped silently (transformers ties it too).
pub fn load_weights(
    vs: &VarStore,
    weights: &WeightFiles,
    tied_embeddings: bool,
) -> crate::Result<LoadReport> {
    let variables = vs.variables();
    // Which file each variable comes from.
    let mut by_file: BTreeMap<PathBuf, Vec<(&String, &Tensor)>> = BTreeMap::new();
    let mut names: Vec<&String> = variables.keys().collect();
    names.sort();
    for name in names {
        let file = match (&weights.index, &weights.index_path) {
            (Some(index), Some(index_path)) => index.get(name.as_str()).cloned().with_context(|| {
                format!("tensor '{name}' is missing: {} does not list it", index_path.display())
            })?,
            _ => weights.files.first().cloned().context("no weight files")?,
        };
        by_file.entry(file).or_default().push((name, &variables[name]));
    }

    let mut report = LoadReport::default();
    let _no_grad = tch::no_grad_guard();
    for file in &weights.files {
        let handle = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
        // SAFETY: the map is read-only and lives until the end of this
        // iteration; a concurrent writer truncating the file would fault,
        // which is the same contract as every mmap-based loader.
        let mmap = unsafe { memmap2::Mmap::map(&handle) }
            .with_context(|| format!("cannot map {}", file.display()))?;
        let tensors = SafeTensors::deserialize(&mmap).map_err(|e| {
            CoreError::Checkpoint(format!("{} is not a valid safetensors file: {e}", file.display()))
        })?;
        for (name, var) in by_file.get(file).map(Vec::as_slice).unwrap_or_default() {
            let view = tensors.tensor(name).map_err(|_| {
                CoreError::Checkpoint(format!("tensor '{name}' is missing from {}", file.display()))
            })?;
            let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
            ensure!(
                shape == var.size(),
                Checkpoint: "tensor '{name}' in {} has shape {:?}, the model expects {:?} (does config.json match the weights?)",
                file.display(),
                shape,
                var.size()
            );
            let kind = kind_of(view.dtype()).with_context(|| {
                format!("tensor '{name}' in {} has unsupported dtype {:?}", file.display(), view.dtype())
            })?;
            let src = Tensor::f_from_data_size(view.data(), &shape, kind)
                .with_context(|| format!("tensor '{name}' in {}", file.display()))?;
            let mut dst = (*var).shallow_clone();
            dst.f_copy_(&src)
                .with_context(|| format!("cannot copy tensor '{name}' from {}", file.display()))?;
            report.loaded += 1;
        }
        for name in tensors.names() {
            if variables.contains_key(name) {
                continue;
            }
            if !(tied_embeddings && name == "lm_head.weight") {
                tracing::debug!(tensor = name, file = %file.display(), "checkpoint tensor has no model variable; ignored");
            }
            report.ignored.push(name.to_string());
        }
    }
    report.ignored.sort();
    Ok(report)
}

/// Every tensor in `weights`, as CPU tensors in the file's dtype. For tests
/// and tools; a model loads with [`load_weights`].
pub fn read_all_tensors(weights: &WeightFiles) -> crate::Result<HashMap<String, Tensor>> {
    let mut out = HashMap::new();
    for file in &weights.files {
        let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let tensors = SafeTensors::deserialize(&bytes).map_err(|e| {
            CoreError::Checkpoint(format!("{} is not a valid safetensors file: {e}", file.display()))
        })?;
        for (name, view) in tensors.tensors() {
            let kind =
                kind_of(view.dtype()).with_context(|| format!("tensor '{name}' has unsupported dtype"))?;
            let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
            out.insert(name, Tensor::f_from_data_size(view.data(), &shape, kind)?);
        }
    }
    Ok(out)
}
