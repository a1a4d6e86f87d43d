//! The tiny preset's files as transformers sees them: the tokenizer agrees
//! with ours, and the model directory loads into `Qwen2ForCausalLM` with the
//! same logits (left-padded batch included). Also a short warm start.

mod common;

use std::process::Command;

use common::countdown;
use tch::{nn::VarStore, Device, Kind, Tensor};
use tz_core::model::init::{fill_from_seed, Fill};
use tz_core::model::Qwen2;
use tz_core::presets::{
    ensure_tiny_countdown, tiny_config, tiny_tokenizer, write_model_dir, TinyCountdownRecipe, TINY_EOS_ID,
};
use tz_core::rollout::{generate, StopCriteria};
use tz_core::sampling::SamplingParams;

const TEXTS: [&str; 4] = ["12 7 30>49:", "30+12+7", "(8-3)*4", "99 1 2>50:99/(1+2)"];

/// Runs a Python snippet with the repository venv; returns its stdout as JSON.
fn python_json(code: &str, arg: &std::path::Path) -> serde_json::Value {
    let out =
        Command::new(common::python()).arg("-c").arg(code).arg(arg).output().expect("cannot run python");
    assert!(out.status.success(), "python failed:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("python printed no JSON")
}

#[test]
fn transformers_loads_the_tiny_directory_with_the_same_tokens_and_logits() {
    common::test_threads();
    let cfg = tiny_config();
    let vs = VarStore::new(Device::Cpu);
    let model = Qwen2::new(&vs.root(), &cfg);
    // Larger-than-init weights so the comparison is not between near-uniform logits.
    fill_from_seed(&vs, 30, |_| Fill::Normal { mean: 0.05, std: 0.2 });
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tiny");
    let tok = tiny_tokenizer().unwrap();
    write_model_dir(&dir, &cfg, &vs, &tok, &serde_json::json!({"test": true})).unwrap();
    for f in [
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
        "model.safetensors",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }

    let code = format!(
        r#"
import json, sys, torch
from transformers import AutoTokenizer, PreTrainedTokenizerFast, AutoModelForCausalLM
d = sys.argv[1]
fast = PreTrainedTokenizerFast(tokenizer_file=d + "/tokenizer.json")
auto = AutoTokenizer.from_pretrained(d)
texts = {texts:?}
ids = [fast.encode(t, add_special_tokens=False) for t in texts]
assert ids == [auto.encode(t, add_special_tokens=False) for t in texts]
decoded = [auto.decode(i) for i in ids]
m = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
batch = auto([texts[0], texts[2]], return_tensors="pt", padding=True, add_special_tokens=False)
mask = batch["attention_mask"]
pos = (mask.cumsum(-1) - 1).clamp(min=0)
with torch.no_grad():
    logits = m(input_ids=batch["input_ids"], attention_mask=mask, position_ids=pos).logits
print(json.dumps(dict(ids=ids, decoded=decoded, eos=auto.eos_token_id, pad=auto.pad_token_id,
    padding_side=auto.padding_side, input_ids=batch["input_ids"].tolist(), mask=mask.tolist(),
    logits=logits.tolist())))
"#,
        texts = TEXTS
    );
    let got = python_json(&code, &dir);

    for (i, text) in TEXTS.iter().enumerate() {
        let ours: Vec<u64> = tok.encode(*text, false).unwrap().get_ids().iter().map(|&x| x as u64).collect();
        let theirs: Vec<u64> = serde_json::from_value(got["ids"][i].clone()).unwrap();
        assert_eq!(ours, theirs, "token ids of {text:?}");
        assert_eq!(got["decoded"][i], *text);
    }
    assert_eq!((got["eos"].as_u64(), got["pad"].as_u64()), (Some(1), Some(0)));
    assert_eq!(got["padding_side"], "left");

    let to_tensor = |v: &serde_json::Value| -> Vec<i64> {
        v.as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()))
            .collect()
    };
    let t = got["mask"][0].as_array().unwrap().len() as i64;
    let input = Tensor::from_slice(&to_tensor(&got["input_ids"])).view([2, t]);
    let mask = Tensor::from_slice(&to_tensor(&got["mask"])).view([2, t]);
    let theirs: Vec<f32> = got["logits"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .flat_map(|p| p.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32))
        })
        .collect();
    let theirs = Tensor::from_slice(&theirs).view([2, t, cfg.vocab_size as i64]);
    let ours = tch::no_grad(|| model.logits(&model.forward(&input, Some(&mask), None)));
    // Compare real (unpadded) positions only.
    let real = mask.unsqueeze(-1).to_kind(Kind::Float);
    let tol = common::forward_tol(&cfg, t as usize);
    common::assert_tensors_close("logits against transformers", &(ours * &real), &(theirs * &real), tol);
}

/// A warm start with a shortened recipe: the directory is built once, reused
/// on the next call without asking for pairs, and its responses improve.
#[test]
fn ensure_tiny_countdown_builds_once_and_reuses_the_directory() {
    common::test_threads();
    let tmp = tempfile::tempdir().unwrap();
    let mut recipe = TinyCountdownRecipe::default();
    recipe.num_pairs = 256;
    recipe.sft.steps = 24;
    recipe.sft.batch_size = 16;
    recipe.sft.optimizer.total_steps = 24;
    recipe.sft.optimizer.warmup_steps = 4;
    let mut asked = 0;
    let dir = ensure_tiny_countdown(tmp.path(), 5, &recipe, |n| {
        asked = n;
        Ok(countdown::problems(9, n, &Default::default())
            .into_iter()
            .map(|p| (p.prompt(), p.solution))
            .collect())
    })
    .unwrap();
    assert_eq!(asked, 256);
    assert_eq!(dir, tmp.path().join("tiny-countdown-5"));
    let provenance: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("tinyzero_preset.json")).unwrap()).unwrap();
    assert_eq!(provenance["seed"], 5);
    assert!(provenance["final_loss"].as_f64().unwrap() < 2.8, "{provenance}");
    let again =
        ensure_tiny_countdown(tmp.path(), 5, &recipe, |_| panic!("pairs requested for a cached model"))
            .unwrap();
    assert_eq!(again, dir);
    // The directory opens as a checkpoint; its tokenizer drives the rollout engine.
    let checkpoint = tz_core::ModelDir::open(&dir).unwrap();
    let vs = VarStore::new(Device::Cpu);
    let model = Qwen2::new(&vs.root(), checkpoint.config());
    checkpoint.load_weights(&vs).unwrap();
    let tok = checkpoint.tokenizer().unwrap();
    let stop = StopCriteria::new(&tok, vec![]);
    assert_eq!(stop.eos_token_ids, vec![TINY_EOS_ID]);
    let prompt = tok.encode("12 7 30>49:", false).unwrap();
    let out = generate(&model, &[prompt], 2, &SamplingParams::greedy(12), &stop).unwrap();
    assert_eq!(out.len(), 2);
    assert!(out[0].text.chars().all(|c| "0123456789+-*/() <eos>".contains(c)), "{:?}", out[0].text);
    // Same seed and pairs, another cache dir: the same weights, bit for bit.
    let other = tempfile::tempdir().unwrap();
    let twin = ensure_tiny_countdown(other.path(), 5, &recipe, |n| {
        Ok(countdown::problems(9, n, &Default::default())
            .into_iter()
            .map(|p| (p.prompt(), p.solution))
            .collect())
    })
    .unwrap();
    let same = std::fs::read(dir.join("model.safetensors")).unwrap()
        == std::fs::read(twin.join("model.safetensors")).unwrap();
    assert!(same, "the warm start is not reproducible from its seed");
    let bad = ensure_tiny_countdown(tmp.path(), 6, &recipe, |_| Ok(vec![("1 2>3:".into(), "1+2=3".into())]));
    assert!(bad.unwrap_err().to_string().contains("outside the tiny vocabulary"));
}
