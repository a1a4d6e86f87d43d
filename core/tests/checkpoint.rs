//! Checkpoint save/load round trips and their error messages, on VarStores
//! with Hugging Face names (no model forward needed here; the comparison
//! with transformers is in parity_transformers.rs).

use std::path::Path;

use tch::nn::{Init, VarStore};
use tch::{Device, Kind};
use tz_core::checkpoint::{
    load_weights, read_all_tensors, save_pretrained, ModelDir, SaveOptions, WeightFiles,
};
use tz_core::{GenerationConfig, Qwen2Config};

fn config(tied: bool) -> Qwen2Config {
    serde_json::from_value(serde_json::json!({
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
        "vocab_size": 11, "hidden_size": 8, "intermediate_size": 12, "num_hidden_layers": 1,
        "num_attention_heads": 2, "num_key_value_heads": 1, "tie_word_embeddings": tied,
        "torch_dtype": "float32", "eos_token_id": 3
    }))
    .unwrap()
}

/// A VarStore with a few variables under HF names (shapes from `cfg`).
fn named_vars(cfg: &Qwen2Config, init: Init) -> VarStore {
    let vs = VarStore::new(Device::Cpu);
    let root = vs.root();
    let (v, h) = (cfg.vocab_size as i64, cfg.hidden_size as i64);
    let _ = root.sub("model").sub("embed_tokens").var("weight", &[v, h], init);
    let layer = root.sub("model").sub("layers").sub(0);
    let _ = layer.sub("self_attn").sub("q_proj").var("weight", &[h, h], init);
    let _ = layer.sub("self_attn").sub("q_proj").var("bias", &[h], init);
    let _ = layer.sub("mlp").sub("up_proj").var("weight", &[cfg.intermediate_size as i64, h], init);
    let _ = root.sub("model").sub("norm").var("weight", &[h], init);
    if !cfg.tie_word_embeddings {
        let _ = root.sub("lm_head").var("weight", &[v, h], init);
    }
    vs
}

fn random_vars(cfg: &Qwen2Config) -> VarStore {
    tch::manual_seed(7);
    named_vars(cfg, Init::Randn { mean: 0.0, stdev: 1.0 })
}

fn assert_same_values(a: &VarStore, b: &VarStore) {
    let (va, vb) = (a.variables(), b.variables());
    assert_eq!(va.len(), vb.len());
    for (name, t) in &va {
        assert!(t.equal(&vb[name]), "{name} differs");
    }
}

#[test]
fn f32_single_file_round_trip_is_exact() {
    let cfg = config(false);
    let vs = random_vars(&cfg);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ckpt");
    let opts = SaveOptions { dtype: Kind::Float, ..Default::default() };
    save_pretrained(&vs, &cfg, None, &[], &out, &opts).unwrap();
    assert!(out.join("model.safetensors").is_file());
    assert!(!out.join("model.safetensors.index.json").exists());

    let model_dir = ModelDir::open(&out).unwrap();
    assert_eq!(model_dir.config().torch_dtype.as_deref(), Some("float32"));
    let fresh = named_vars(&cfg, Init::Const(0.0));
    let report = model_dir.load_weights(&fresh).unwrap();
    assert_eq!(report.loaded, 6);
    assert!(report.ignored.is_empty());
    assert_same_values(&vs, &fresh);
}

#[test]
fn sharded_save_writes_an_index_and_loads_back() {
    let cfg = config(false);
    let vs = random_vars(&cfg);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sharded");
    // 300 bytes: the 11x8 f32 matrices (352 bytes) get a shard each.
    let opts = SaveOptions { dtype: Kind::Float, max_shard_bytes: 300 };
    save_pretrained(&vs, &cfg, None, &[], &out, &opts).unwrap();
    let weights = WeightFiles::discover(&out).unwrap();
    assert!(weights.files.len() >= 3, "{:?}", weights.files);
    assert!(weights.files[0].ends_with(format!("model-00001-of-{:05}.safetensors", weights.files.len())));
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("model.safetensors.index.json")).unwrap())
            .unwrap();
    assert_eq!(index["weight_map"].as_object().unwrap().len(), 6);
    let params: i64 = vs.variables().values().map(|t| t.numel() as i64).sum();
    assert_eq!(index["metadata"]["total_size"].as_i64().unwrap(), params * 4);

    let fresh = named_vars(&cfg, Init::Const(0.0));
    load_weights(&fresh, &weights, false).unwrap();
    assert_same_values(&vs, &fresh);
}

#[test]
fn bf16_checkpoint_loads_into_f32_variables_rounded() {
    let cfg = config(false);
    let vs = random_vars(&cfg);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bf16");
    save_pretrained(&vs, &cfg, None, &[], &out, &SaveOptions::default()).unwrap();
    let files = WeightFiles::discover(&out).unwrap();
    let stored = read_all_tensors(&files).unwrap();
    assert!(stored.values().all(|t| t.kind() == Kind::BFloat16));
    let model_dir = ModelDir::open(&out).unwrap();
    assert_eq!(model_dir.config().torch_dtype.as_deref(), Some("bfloat16"));

    let fresh = named_vars(&cfg, Init::Const(0.0));
    model_dir.load_weights(&fresh).unwrap();
    for (name, t) in fresh.variables() {
        assert_eq!(t.kind(), Kind::Float, "{name} keeps the VarStore's dtype");
        let want = vs.variables()[&name].to_kind(Kind::BFloat16).to_kind(Kind::Float);
        assert!(t.equal(&want), "{name} is the bf16 rounding of the original");
    }
}

#[test]
fn tied_models_write_no_lm_head_and_ignore_one_on_load() {
    let untied = config(false);
    let vs = random_vars(&untied);
    let dir = tempfile::tempdir().unwrap();
    let with_head = dir.path().join("with_head");
    save_pretrained(
        &vs,
        &untied,
        None,
        &[],
        &with_head,
        &SaveOptions { dtype: Kind::Float, ..Default::default() },
    )
    .unwrap();

    let tied = config(true);
    let tied_vs = named_vars(&tied, Init::Const(0.0));
    let report = load_weights(&tied_vs, &WeightFiles::discover(&with_head).unwrap(), true).unwrap();
    assert_eq!(report.ignored, ["lm_head.weight"]);

    // A tied VarStore that still has an lm_head variable does not save it.
    let out = dir.path().join("tied");
    save_pretrained(&vs, &tied, None, &[], &out, &SaveOptions { dtype: Kind::Float, ..Default::default() })
        .unwrap();
    let stored = read_all_tensors(&WeightFiles::discover(&out).unwrap()).unwrap();
    assert!(!stored.contains_key("lm_head.weight"));
    assert_eq!(stored.len(), 5);
}

#[test]
fn missing_tensor_and_wrong_shape_name_the_tensor_and_file() {
    let cfg = config(true);
    let vs = random_vars(&cfg);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c");
    save_pretrained(&vs, &cfg, None, &[], &out, &SaveOptions { dtype: Kind::Float, ..Default::default() })
        .unwrap();
    let weights = WeightFiles::discover(&out).unwrap();

    // The model expects an lm_head the (tied) checkpoint does not have.
    let untied_vs = named_vars(&config(false), Init::Const(0.0));
    let err = load_weights(&untied_vs, &weights, false).unwrap_err().to_string();
    assert!(err.contains("tensor 'lm_head.weight' is missing from"), "{err}");
    assert!(err.contains("model.safetensors"), "{err}");

    let mut bigger = config(true);
    bigger.hidden_size = 10;
    let err = load_weights(&named_vars(&bigger, Init::Const(0.0)), &weights, true).unwrap_err().to_string();
    assert!(err.contains("has shape [11, 8], the model expects [11, 10]"), "{err}");

    // Sharded: the index is what names the missing tensor.
    let sharded = dir.path().join("s");
    save_pretrained(
        &vs,
        &cfg,
        None,
        &[],
        &sharded,
        &SaveOptions { dtype: Kind::Float, max_shard_bytes: 300 },
    )
    .unwrap();
    let err =
        load_weights(&untied_vs, &WeightFiles::discover(&sharded).unwrap(), false).unwrap_err().to_string();
    assert!(
        err.contains("tensor 'lm_head.weight' is missing: ") && err.contains("model.safetensors.index.json"),
        "{err}"
    );
}

#[test]
fn model_dir_errors_are_one_line_and_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    assert!(ModelDir::open(&missing).unwrap_err().to_string().contains("does not exist"));
    let err = ModelDir::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("has no config.json"), "{err}");
    std::fs::write(dir.path().join("config.json"), serde_json::to_string(&config(true)).unwrap()).unwrap();
    let err = ModelDir::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("has no model.safetensors or model.safetensors.index.json"), "{err}");
    std::fs::write(dir.path().join("pytorch_model.bin"), "").unwrap();
    let err = ModelDir::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("safe_serialization=True"), "{err}");
    std::fs::write(
        dir.path().join("model.safetensors.index.json"),
        r#"{"weight_map": {"a": "gone.safetensors"}}"#,
    )
    .unwrap();
    let err = ModelDir::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("lists gone.safetensors, which does not exist"), "{err}");
    std::fs::remove_file(dir.path().join("model.safetensors.index.json")).unwrap();
    std::fs::write(dir.path().join("model.safetensors"), "not safetensors").unwrap();
    let model_dir = ModelDir::open(dir.path()).unwrap();
    let err = model_dir.load_weights(&named_vars(&config(true), Init::Const(0.0))).unwrap_err().to_string();
    assert!(err.contains("is not a valid safetensors file"), "{err}");
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn save_replaces_atomically_and_copies_side_files() {
    let cfg = config(true);
    let vs = random_vars(&cfg);
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("tokenizer_config.json");
    std::fs::write(&src, r#"{"eos_token": "<e>"}"#).unwrap();
    let out = dir.path().join("ckpt");
    let generation = GenerationConfig { temperature: Some(0.7), ..Default::default() };
    let opts = SaveOptions { dtype: Kind::Float, ..Default::default() };
    save_pretrained(&vs, &cfg, Some(&generation), std::slice::from_ref(&src), &out, &opts).unwrap();
    assert_eq!(
        entries(&out),
        ["config.json", "generation_config.json", "model.safetensors", "tokenizer_config.json"]
    );

    // Saving again over it replaces the whole directory.
    tch::no_grad(|| {
        for (_, mut t) in vs.variables() {
            let _ = t.fill_(0.5);
        }
    });
    std::fs::write(out.join("stale.txt"), "from the old checkpoint").unwrap();
    save_pretrained(&vs, &cfg, None, &[], &out, &opts).unwrap();
    assert_eq!(entries(&out), ["config.json", "model.safetensors"]);
    let stored = read_all_tensors(&WeightFiles::discover(&out).unwrap()).unwrap();
    assert!(stored.values().all(|t| t.eq(0.5).all().int64_value(&[]) == 1));

    // A failed save (integer dtype) leaves the old checkpoint and no temp dir.
    let err = save_pretrained(
        &vs,
        &cfg,
        None,
        &[],
        &out,
        &SaveOptions { dtype: Kind::Int64, ..Default::default() },
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("cannot save weights as Int64"), "{err}");
    let bad = save_pretrained(&vs, &cfg, None, &[dir.path().join("missing.json")], &out, &opts).unwrap_err();
    assert!(format!("{bad:#}").contains("cannot copy"), "{bad:#}");
    assert_eq!(entries(&out), ["config.json", "model.safetensors"]);
    assert_eq!(entries(dir.path()), ["ckpt", "tokenizer_config.json"]);
}
