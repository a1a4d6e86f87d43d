//! Training path: AdamW state save/restore and supervised fine-tuning.

mod common;

use common::{countdown, random_model, small_config};
use tch::Tensor;
use tz_core::optim::{AdamW, AdamWConfig, Decay};
use tz_core::presets::{tiny_tokenizer, TINY_EOS_ID, TINY_PAD_ID};
use tz_core::sft::{collate, mean_response_nll, sft_step, train_sft, SftConfig, SftExample};

fn examples(seed: u64, n: usize) -> Vec<SftExample> {
    let tok = tiny_tokenizer().unwrap();
    countdown::problems(seed, n, &Default::default())
        .iter()
        .map(|p| SftExample::from_text(&tok, &p.prompt(), &p.solution, Some(TINY_EOS_ID)).unwrap())
        .collect()
}

fn opt_config() -> AdamWConfig {
    AdamWConfig {
        lr: 3e-3,
        weight_decay: 0.1,
        warmup_steps: 2,
        total_steps: 20,
        decay: Decay::Cosine,
        max_grad_norm: Some(0.5),
        ..AdamWConfig::default()
    }
}

fn snapshot(vs: &tch::nn::VarStore) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> =
        vs.variables().into_iter().map(|(n, t)| (n, t.detach().copy())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn restore(vs: &tch::nn::VarStore, snap: &[(String, Tensor)]) {
    let vars = vs.variables();
    tch::no_grad(|| {
        for (n, t) in snap {
            let _ = vars[n].shallow_clone().copy_(t);
        }
    });
}

/// Regression guard for exact resume: saving the optimizer after k steps
/// and restoring it (with the weights) must reproduce the next steps bit for
/// bit, for f32 weights and for bf16 weights with f32 master copies.
#[test]
fn optimizer_state_save_and_restore_gives_identical_next_steps() {
    for bf16 in [false, true] {
        let (mut vs, model) = random_model(&small_config(true), 20);
        if bf16 {
            vs.bfloat16();
        }
        let data = examples(1, 24);
        let batches: Vec<_> = data
            .chunks(4)
            .map(|c| collate(&c.iter().collect::<Vec<_>>(), TINY_PAD_ID, tch::Device::Cpu))
            .collect();
        let mut opt = AdamW::from_var_store(&vs, opt_config());
        for b in &batches[..3] {
            sft_step(&model, &mut opt, b, 3);
        }
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("optimizer.safetensors");
        opt.save(&state).unwrap();
        let weights = snapshot(&vs);
        let run_on = |opt: &mut AdamW| -> Vec<f64> {
            batches[3..].iter().map(|b| sft_step(&model, opt, b, 3).0).collect()
        };
        let losses_a = run_on(&mut opt);
        let after_a = snapshot(&vs);

        restore(&vs, &weights);
        let mut resumed = AdamW::from_var_store(&vs, AdamWConfig { lr: 99.0, ..AdamWConfig::default() });
        resumed.load(&state).unwrap();
        assert_eq!(resumed.steps_taken(), 3);
        assert_eq!(resumed.config(), &opt_config());
        let losses_b = run_on(&mut resumed);
        assert_eq!(losses_a, losses_b, "bf16={bf16}");
        for ((name, a), (_, b)) in after_a.iter().zip(&snapshot(&vs)) {
            assert!(a.equal(b), "{name} differs after resuming (bf16={bf16})");
        }
    }
}

#[test]
fn loading_an_optimizer_state_for_another_model_is_a_clear_error() {
    let (vs, _model) = random_model(&small_config(true), 21);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("opt.safetensors");
    AdamW::from_var_store(&vs, opt_config()).save(&path).unwrap();
    let (other_vs, _other) = random_model(&small_config(false), 21);
    let err = AdamW::from_var_store(&other_vs, opt_config()).load(&path).unwrap_err();
    assert!(err.to_string().contains("lm_head.weight"), "{err}");
    let garbage = dir.path().join("garbage.safetensors");
    std::fs::write(&garbage, b"not a file").unwrap();
    assert!(AdamW::from_var_store(&vs, opt_config()).load(&garbage).is_err());
}

#[test]
fn collate_masks_the_prompt_and_trains_the_response_and_eos() {
    let a = SftExample { prompt_ids: vec![4, 5, 21], response_ids: vec![6, 1] };
    let b = SftExample { prompt_ids: vec![7, 21], response_ids: vec![8, 9, 10, 1] };
    let batch = collate(&[&a, &b], 0, tch::Device::Cpu);
    assert_eq!(
        Vec::<i64>::try_from(batch.input_ids.view([-1])).unwrap(),
        vec![4, 5, 21, 6, 1, 0, 7, 21, 8, 9, 10, 1]
    );
    assert_eq!(
        Vec::<f32>::try_from(batch.loss_mask.view([-1])).unwrap(),
        vec![0., 0., 1., 1., 0., 0., 1., 1., 1., 1.]
    );
    assert_eq!(batch.num_tokens, 6);
}

#[test]
fn sft_reduces_the_response_loss_on_a_small_set() {
    common::test_threads();
    let (vs, model) = {
        let vs = tch::nn::VarStore::new(tch::Device::Cpu);
        let model = tz_core::Qwen2::new(&vs.root(), &small_config(true));
        tz_core::model::init::init_from_seed(&vs, 22);
        (vs, model)
    };
    let data = examples(2, 64);
    let before = mean_response_nll(&model, &data, 32, TINY_PAD_ID);
    let cfg = SftConfig {
        optimizer: AdamWConfig { lr: 3e-3, warmup_steps: 5, ..AdamWConfig::default() },
        batch_size: 16,
        steps: 60,
        logit_chunk: 8,
        seed: 0,
        pad_id: TINY_PAD_ID,
    };
    let mut opt = AdamW::from_var_store(&vs, cfg.optimizer.clone());
    let mut seen = 0;
    let stats = train_sft(&model, &mut opt, &data, &cfg, |_| seen += 1).unwrap();
    let after = mean_response_nll(&model, &data, 32, TINY_PAD_ID);
    assert_eq!((stats.len(), seen), (60, 60));
    assert!(after < before * 0.7, "response NLL {before:.3} -> {after:.3}");
    assert!(stats.iter().all(|s| s.loss.is_finite() && s.tokens > 0));
    // The chunked loss equals the plain one on the same batch.
    let batch = collate(&data[..8].iter().collect::<Vec<_>>(), TINY_PAD_ID, tch::Device::Cpu);
    let t = batch.input_ids.size()[1];
    let logits = model.logits(&model.forward(&batch.input_ids, None, None).narrow(1, 0, t - 1));
    let targets = batch.targets.masked_fill(&batch.loss_mask.eq(0.0), -100).view([-1]);
    let plain =
        logits.view([-1, 22]).cross_entropy_loss::<Tensor>(&targets, None, tch::Reduction::Mean, -100, 0.0);
    let chunked = mean_response_nll(&model, &data[..8], 8, TINY_PAD_ID);
    // The same log-probs (chunked LM head and softmax), then a mean over the
    // response tokens: relative to the loss itself.
    let cfg = small_config(true);
    let tol = tz_testkit::Tol::f32_ops(cfg.hidden_size + 2 * cfg.vocab_size + batch.num_tokens as usize);
    tz_testkit::assert_close("chunked NLL", chunked, plain.double_value(&[]), tol);
}
