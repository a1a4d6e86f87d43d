//! Parity with the reference implementation (transformers 5, float32, on the
//! same device: the CPU, or CUDA with `TZ_TEST_DEVICE=cuda`): small random
//! checkpoints of every supported family written by `save_pretrained` are
//! loaded here and there. Qwen2: tied and untied,
//! single file and sharded, odd sizes (hidden 40 with 5 heads over 1 KV head,
//! intermediate 72, vocabulary 97). Llama: Llama 3 RoPE scaling, linear and
//! dynamic scaling, an explicit head_dim, attention and MLP biases. Qwen3:
//! q/k norms with head_dim larger than hidden / heads, a sliding-window
//! layer. Mistral: a sliding window shorter than the sequences, and none.
//!
//! - the logits of our forward agree up to the f32 forward's roundings on a
//!   left-padded batch, and within 1e-2 with both sides in bfloat16;
//! - greedy generations are identical token for token (up to near ties), both from a plain
//!   loop over full forwards and from the rollout engine (KV cache, batched);
//! - checkpoints this core writes load in transformers with the same logits.
//!
//! The checkpoints and the reference answers come from
//! core/tests/python/decoder_reference.py, run once per test binary.

mod reference;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::json;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use tz_core::checkpoint::{read_all_tensors, ModelDir, SaveOptions, WeightFiles};
use tz_core::rollout::{generate, StopCriteria, TokenDecoder};
use tz_core::sampling::SamplingParams;
use tz_core::Decoder;

/// Pad id of the left-padded batch (a real token id; the mask hides it).
const PAD: i64 = 0;
/// Greedy tokens compared per row.
const NEW_TOKENS: usize = 6;

/// One reference checkpoint.
struct Case {
    name: &'static str,
    model_type: &'static str,
    dir: PathBuf,
    /// The transformers answer for [`batch`].
    answer: serde_json::Value,
}

/// A left-padded batch: a full row, a row with 3 pads, a row with 7 pads.
fn batch() -> (Vec<Vec<i64>>, Vec<Vec<i64>>) {
    let rows: [&[i64]; 3] = [&[5, 17, 96, 3, 44, 44, 8, 61, 2], &[90, 12, 33, 7, 7, 50], &[29, 71]];
    let t = rows.iter().map(|r| r.len()).max().unwrap();
    let ids = rows.iter().map(|r| [vec![PAD; t - r.len()], r.to_vec()].concat()).collect();
    let mask = rows.iter().map(|r| [vec![0; t - r.len()], vec![1; r.len()]].concat()).collect();
    (ids, mask)
}

fn model_config(tied: bool, heads: (usize, usize), hidden: usize, rope_theta: f64) -> serde_json::Value {
    json!({
        "vocab_size": 97, "hidden_size": hidden, "intermediate_size": 72, "num_hidden_layers": 2,
        "num_attention_heads": heads.0, "num_key_value_heads": heads.1, "tie_word_embeddings": tied,
        "max_position_embeddings": 128, "rms_norm_eps": 1e-6, "rope_theta": rope_theta,
    })
}

/// `base` with `extra`'s keys added.
fn with(mut base: serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    base
}

/// (name, model_type, config kwargs, max_shard_size)
fn specs() -> Vec<(&'static str, &'static str, serde_json::Value, Option<&'static str>)> {
    let base = || model_config(false, (4, 2), 48, 10000.0);
    vec![
        ("tied_single_file", "qwen2", model_config(true, (5, 1), 40, 10000.0), None),
        ("untied_sharded", "qwen2", model_config(false, (5, 1), 40, 10000.0), Some("20KB")),
        ("untied_gqa_rope1e6", "qwen2", model_config(false, (4, 2), 48, 1e6), None),
        // Llama 3.x RoPE: the 12-dim heads have wavelengths on both sides of 16/4 and 16.
        (
            "llama3_rope",
            "llama",
            with(
                base(),
                json!({"rope_scaling": {"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 1.0,
                "high_freq_factor": 4.0, "original_max_position_embeddings": 16}}),
            ),
            None,
        ),
        (
            "llama_biases_head_dim_linear_rope_sharded",
            "llama",
            with(
                model_config(true, (4, 2), 40, 10000.0),
                json!({"head_dim": 12, "attention_bias": true,
                "mlp_bias": true, "rope_scaling": {"type": "linear", "factor": 2.0}}),
            ),
            Some("20KB"),
        ),
        // The batch is 9 long and generation adds 6: positions pass 8 during the run.
        (
            "llama_dynamic_rope",
            "llama",
            with(
                base(),
                json!({"max_position_embeddings": 8, "rope_scaling": {"rope_type": "dynamic", "factor": 2.0}}),
            ),
            None,
        ),
        (
            "qwen3_tied_head_dim16",
            "qwen3",
            with(model_config(true, (4, 2), 40, 1e6), json!({"head_dim": 16})),
            None,
        ),
        (
            "qwen3_sliding_layer",
            "qwen3",
            with(
                base(),
                json!({"head_dim": 8, "use_sliding_window": true, "sliding_window": 4, "max_window_layers": 1}),
            ),
            None,
        ),
        (
            "mistral_window4",
            "mistral",
            with(base(), json!({"head_dim": 16, "sliding_window": 4})),
            Some("20KB"),
        ),
        ("mistral_no_window", "mistral", with(base(), json!({"sliding_window": null})), None),
    ]
}

fn run_job(dir: &Path) -> serde_json::Value {
    let (ids, mask) = batch();
    json!({"dir": dir, "input_ids": ids, "attention_mask": mask, "new_tokens": NEW_TOKENS,
           "device": reference::torch_device_name(reference::test_device())})
}

/// Where this test binary keeps its checkpoints (fresh each run):
/// `TZ_TEST_TMPDIR` (a carried binary), else cargo's tmp dir.
fn work_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = std::env::var_os("TZ_TEST_TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
        let dir = root.join("parity_transformers");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

/// The reference checkpoints, made and run by transformers in one call.
fn cases() -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(|| {
        let specs = specs();
        let make: Vec<serde_json::Value> = specs
            .iter()
            .enumerate()
            .map(|(i, (name, model_type, config, shard))| {
                json!({"dir": work_dir().join(name), "model_type": model_type, "config": config, "seed": i + 1,
                       "max_shard_size": shard})
            })
            .collect();
        let run: Vec<serde_json::Value> =
            specs.iter().map(|(name, _, _, _)| run_job(&work_dir().join(name))).collect();
        let answer = reference::run_python("decoder_reference.py", &json!({"make": make, "run": run}));
        specs
            .iter()
            .enumerate()
            .map(|(i, (name, model_type, _, _))| Case {
                name,
                model_type,
                dir: work_dir().join(name),
                answer: answer["runs"][i].clone(),
            })
            .collect()
    })
}

/// Logits `[B][T][V]` from an answer.
fn logits_of(answer: &serde_json::Value) -> Vec<Vec<Vec<f64>>> {
    serde_json::from_value(answer["logits"].clone()).expect("logits [B][T][V]")
}

/// Max |a - b| / (1 + |b|) over the real (unmasked) positions: below 1e-4
/// means within 1e-4 absolute plus 1e-4 relative.
fn max_diff_on_real_tokens(a: &[Vec<Vec<f64>>], b: &[Vec<Vec<f64>>]) -> f64 {
    let (_, mask) = batch();
    let mut worst = 0.0f64;
    for (row, row_mask) in mask.iter().enumerate() {
        for (t, &m) in row_mask.iter().enumerate() {
            if m == 1 {
                for (x, y) in a[row][t].iter().zip(&b[row][t]) {
                    worst = worst.max((x - y).abs() / (1.0 + y.abs()));
                }
            }
        }
    }
    worst
}

/// Max |a| over the real positions.
fn max_on_real_tokens(a: &[Vec<Vec<f64>>]) -> f64 {
    let zeros: Vec<Vec<Vec<f64>>> =
        a.iter().map(|r| r.iter().map(|p| vec![0.0; p.len()]).collect()).collect();
    max_diff_on_real_tokens(a, &zeros)
}

/// The forward's roundings (ours against transformers'), at the logits'
/// scale: the bound on a logit difference for this checkpoint's config.
fn logits_bound(dir: &Path, logits: &[Vec<Vec<f64>>]) -> f64 {
    let cfg = ModelDir::open(dir).unwrap().config().clone();
    let seq = logits[0].len();
    tz_testkit::Tol::f32_forward(cfg.num_hidden_layers, cfg.hidden_size, cfg.intermediate_size, seq)
        .bound(max_on_real_tokens(logits))
}

/// A VarStore holding every tensor of a checkpoint under its name (what a
/// model built from the config would hold), in float32.
fn vars_like_checkpoint(dir: &Path) -> VarStore {
    let vs = VarStore::new(Device::Cpu);
    for (name, tensor) in read_all_tensors(&WeightFiles::discover(dir).unwrap()).unwrap() {
        let parts: Vec<&str> = name.split('.').collect();
        let mut path = vs.root();
        for part in &parts[..parts.len() - 1] {
            path = path.sub(*part);
        }
        let _ = path.zeros(parts[parts.len() - 1], &tensor.size());
    }
    vs
}

#[test]
fn checkpoints_written_by_core_load_in_transformers_with_the_same_logits() {
    let mut jobs = Vec::new();
    let mut expected = Vec::new();
    for case in cases() {
        let model_dir = ModelDir::open(&case.dir).unwrap();
        let vs = vars_like_checkpoint(&case.dir);
        let report = model_dir.load_weights(&vs).unwrap();
        assert!(report.ignored.is_empty(), "{}: {:?}", case.name, report.ignored);
        for (suffix, opts) in [
            ("f32", SaveOptions { dtype: Kind::Float, ..Default::default() }),
            ("f32_sharded", SaveOptions { dtype: Kind::Float, max_shard_bytes: 16 * 1024 }),
            ("bf16", SaveOptions { dtype: Kind::BFloat16, ..Default::default() }),
        ] {
            let out = work_dir().join(format!("{}-saved-{suffix}", case.name));
            model_dir.save_like(&vs, &out, &opts).unwrap();
            if suffix == "f32_sharded" {
                assert!(WeightFiles::discover(&out).unwrap().files.len() > 1, "{}: sharded", case.name);
            }
            let device = reference::torch_device_name(reference::test_device());
            jobs.push(
                json!({"dir": out, "input_ids": batch().0, "attention_mask": batch().1, "device": device}),
            );
            expected.push((case, suffix));
        }
    }
    let answer = reference::run_python("decoder_reference.py", &json!({ "run": jobs }));
    for (i, (case, suffix)) in expected.iter().enumerate() {
        let got = &answer["runs"][i];
        let diff = max_diff_on_real_tokens(&logits_of(&case.answer), &logits_of(got));
        let dtype = if *suffix == "bf16" { "bfloat16" } else { "float32" };
        assert_eq!(got["torch_dtype"].as_str(), Some(dtype), "{} {suffix}: config dtype", case.name);
        // The family's own names: transformers builds the same class from our config.json.
        assert_eq!(got["class"], case.answer["class"], "{} {suffix}: model class", case.name);
        if *suffix == "bf16" {
            // bf16 keeps 8 bits of mantissa (2⁻⁸ relative per rounding):
            // close at the logits' scale, not equal.
            let bound = tz_testkit::Tol::new(0.1, 0.0).bound(max_on_real_tokens(&logits_of(&case.answer)));
            assert!(diff <= bound, "{} {suffix}: logits differ by {diff}, more than {bound}", case.name);
        } else {
            // The same weights in the same transformers build and thread
            // count: bit for bit, or the saved weights are not the loaded ones.
            assert_eq!(diff, 0.0, "{} {suffix}: f32 weights must round-trip bit for bit", case.name);
        }
    }
}

/// Our model on the test device in `kind`, built from a checkpoint's
/// config.json and loaded strictly.
fn load_model(dir: &Path, kind: Kind) -> (VarStore, Decoder) {
    let model_dir = ModelDir::open(dir).unwrap();
    let mut vs = VarStore::new(reference::test_device());
    let model = Decoder::new(&vs.root(), model_dir.config());
    vs.set_kind(kind);
    let report = model_dir.load_weights(&vs).unwrap();
    assert_eq!(report.loaded, vs.variables().len());
    (vs, model)
}

fn tensor_2d(rows: &[Vec<i64>]) -> Tensor {
    let flat: Vec<i64> = rows.iter().flatten().copied().collect();
    Tensor::from_slice(&flat)
        .view([rows.len() as i64, rows[0].len() as i64])
        .to_device(reference::test_device())
}

/// Our logits for [`batch`] as `[B][T][V]`.
fn our_logits(model: &Decoder) -> Vec<Vec<Vec<f64>>> {
    let (ids, mask) = batch();
    let logits =
        tch::no_grad(|| model.logits(&model.forward(&tensor_2d(&ids), Some(&tensor_2d(&mask)), None)));
    Vec::<Vec<Vec<f64>>>::try_from(logits.to_kind(Kind::Double).to_device(Device::Cpu)).unwrap()
}

/// The rows of [`batch`] without their padding.
fn unpadded_rows() -> Vec<Vec<i64>> {
    let (ids, mask) = batch();
    ids.iter()
        .zip(&mask)
        .map(|(r, m)| r.iter().zip(m).filter(|(_, &m)| m == 1).map(|(&t, _)| t).collect())
        .collect()
}

#[test]
fn logits_match_transformers_on_a_left_padded_batch() {
    for case in cases() {
        let (_vs, model) = load_model(&case.dir, Kind::Float);
        assert_eq!(model.architecture().family.model_type(), case.model_type, "{}: family", case.name);
        let ours = our_logits(&model);
        let theirs = logits_of(&case.answer);
        let diff = max_diff_on_real_tokens(&ours, &theirs);
        let bound = logits_bound(&case.dir, &theirs);
        assert!(
            diff <= bound,
            "{}: logits differ from transformers by {diff}, more than {bound:e}",
            case.name
        );
    }
}

/// Both sides in bfloat16 on the same device: 8 bits of mantissa, so close
/// within 1e-2 (the logits here are of order 1), not equal.
#[test]
fn bf16_logits_match_transformers_in_bf16() {
    let device = reference::torch_device_name(reference::test_device());
    let jobs: Vec<serde_json::Value> = cases()
        .iter()
        .map(|c| {
            let (ids, mask) = batch();
            json!({"dir": c.dir, "input_ids": ids, "attention_mask": mask, "device": device, "dtype": "bfloat16"})
        })
        .collect();
    let answer = reference::run_python("decoder_reference.py", &json!({ "run": jobs }));
    for (i, case) in cases().iter().enumerate() {
        let (_vs, model) = load_model(&case.dir, Kind::BFloat16);
        let diff = max_diff_on_real_tokens(&our_logits(&model), &logits_of(&answer["runs"][i]));
        assert!(diff < 1e-2, "{}: bf16 logits differ from transformers bf16 by {diff}", case.name);
    }
}

/// Token ids print as numbers: these checkpoints have no tokenizer.
struct IdDecoder;
impl TokenDecoder for IdDecoder {
    fn decode(&self, ids: &[u32]) -> tz_core::Result<String> {
        Ok(ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(" "))
    }
}

/// Our greedy tokens equal transformers', except at a near tie: where they
/// first differ, the two tokens' logits (ours, after the same prefix) must be
/// within the forward's rounding bound, since either implementation may
/// then pick either; the sequences part there, so the comparison stops.
fn assert_same_greedy(
    model: &Decoder,
    cfg: &tz_core::Qwen2Config,
    prompt: &[i64],
    ours: &[u32],
    want: &[u32],
    what: &str,
) {
    assert_eq!(ours.len(), want.len(), "{what}: lengths");
    let Some(i) = ours.iter().zip(want).position(|(a, b)| a != b) else { return };
    let seq: Vec<i64> = prompt.iter().copied().chain(ours[..i].iter().map(|&t| t as i64)).collect();
    let hidden = tch::no_grad(|| model.forward(&Tensor::from_slice(&seq).unsqueeze(0), None, None));
    let logits = model.logits(&hidden.narrow(1, seq.len() as i64 - 1, 1)).view([-1]);
    let bound = tz_testkit::Tol::f32_forward(
        cfg.num_hidden_layers,
        cfg.hidden_size,
        cfg.intermediate_size,
        seq.len(),
    )
    .bound(logits.abs().max().double_value(&[]));
    let (a, b) = (logits.double_value(&[ours[i] as i64]), logits.double_value(&[want[i] as i64]));
    assert!(
        (a - b).abs() <= bound,
        "{what}: token {i} is {} (logit {a}), transformers chose {} (logit {b}): not a tie within {bound:e}",
        ours[i],
        want[i]
    );
}

#[test]
fn greedy_generation_matches_transformers_token_for_token() {
    for case in cases() {
        let want: Vec<Vec<u32>> = serde_json::from_value(case.answer["greedy"].clone()).unwrap();
        assert_eq!(want.len(), 3);
        let (_vs, model) = load_model(&case.dir, Kind::Float);
        let cfg = ModelDir::open(&case.dir).unwrap().config().clone();

        // Dynamic RoPE changes the frequencies as positions grow, and
        // generate() keeps the keys it cached with the older ones: only a
        // KV-cache decode (the rollout engine, below) can equal it. Its
        // scaling also follows the longest row of the whole batch, so a row
        // alone differs.
        let dynamic = case.name.contains("dynamic");

        // A plain loop over the left-padded batch, as generate() runs it:
        // full forward, argmax of the last position, appended to every row.
        let (mut ids, mut mask) = batch();
        for _ in (0..NEW_TOKENS).filter(|_| !dynamic) {
            let hidden = tch::no_grad(|| model.forward(&tensor_2d(&ids), Some(&tensor_2d(&mask)), None));
            let last = hidden.narrow(1, ids[0].len() as i64 - 1, 1);
            let next = Vec::<i64>::try_from(model.logits(&last).argmax(-1, false).flatten(0, -1)).unwrap();
            for (row, token) in next.into_iter().enumerate() {
                ids[row].push(token);
                mask[row].push(1);
            }
        }
        if !dynamic {
            let ours: Vec<Vec<u32>> =
                ids.iter().map(|r| r[r.len() - NEW_TOKENS..].iter().map(|&t| t as u32).collect()).collect();
            assert_eq!(ours, want, "{}: full-forward greedy on the padded batch", case.name);
        }

        // Each row alone, unpadded, gives the same.
        for (row, prompt) in unpadded_rows().iter().enumerate().filter(|_| !dynamic) {
            let mut seq = prompt.clone();
            for _ in 0..NEW_TOKENS {
                let input = Tensor::from_slice(&seq).unsqueeze(0).to_device(model.device());
                let hidden = tch::no_grad(|| model.forward(&input, None, None));
                let last = hidden.narrow(1, seq.len() as i64 - 1, 1);
                seq.push(model.logits(&last).argmax(-1, false).int64_value(&[0, 0]));
            }
            let ours: Vec<u32> = seq[prompt.len()..].iter().map(|&t| t as u32).collect();
            let what = format!("{} row {row}: full-forward greedy", case.name);
            assert_same_greedy(&model, &cfg, prompt, &ours, &want[row], &what);
        }

        // The rollout engine: one batch, KV cache, no EOS so every row runs the full length.
        let prompts: Vec<Vec<u32>> =
            unpadded_rows().iter().map(|r| r.iter().map(|&t| t as u32).collect()).collect();
        let stop = StopCriteria { eos_token_ids: Vec::new(), stop_strings: Vec::new(), decoder: &IdDecoder };
        let out = generate(&model, &prompts, 1, &SamplingParams::greedy(NEW_TOKENS), &stop).unwrap();
        assert_eq!(out.len(), want.len());
        for (row, (c, want)) in out.iter().zip(&want).enumerate() {
            let what = format!("{} row {row}: rollout-engine greedy", case.name);
            assert_same_greedy(&model, &cfg, &unpadded_rows()[row], &c.token_ids, want, &what);
        }
    }
}
