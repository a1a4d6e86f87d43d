//! Behaviour of the Qwen2 forward pass: shapes, causality, padding, the KV
//! cache, chunked log-probs and the heads.

mod common;

use common::{
    assert_tensors_close, backward_tol, forward_tol, ids, max_abs_diff, random_model, small_config, Tol,
};
use tch::{nn::VarStore, Device, Kind, Tensor};
use tz_core::model::{heads::last_non_pad_index, Qwen2, ScoreHead, ValueHead};

#[test]
fn forward_and_logits_have_the_documented_shapes_and_hf_names() {
    for tied in [true, false] {
        let cfg = small_config(tied);
        let (vs, model) = random_model(&cfg, 0);
        let hidden = model.forward(&ids(&[&[3, 4, 5], &[6, 7, 8]]), None, None);
        assert_eq!(hidden.size(), [2, 3, 32]);
        let logits = model.logits(&hidden);
        assert_eq!((logits.size(), logits.kind()), (vec![2, 3, 22], Kind::Float));
        let names = vs.variables();
        for name in [
            "model.embed_tokens.weight",
            "model.layers.1.self_attn.q_proj.bias",
            "model.layers.1.self_attn.o_proj.weight",
            "model.layers.0.mlp.gate_proj.weight",
            "model.layers.0.post_attention_layernorm.weight",
            "model.norm.weight",
        ] {
            assert!(names.contains_key(name), "missing {name}");
        }
        assert!(!names.contains_key("model.layers.0.self_attn.o_proj.bias"));
        assert_eq!(names.contains_key("lm_head.weight"), !tied);
        assert_eq!(names.len(), 1 + 2 * 12 + 1 + usize::from(!tied));
    }
}

#[test]
fn a_position_does_not_see_later_tokens() {
    let (_vs, model) = random_model(&small_config(true), 1);
    let a = model.forward(&ids(&[&[3, 4, 5, 6, 7]]), None, None);
    let b = model.forward(&ids(&[&[3, 4, 5, 9, 10]]), None, None);
    // Same shapes, so the same kernels and summation order: bit for bit.
    assert!(max_abs_diff(&a.narrow(1, 0, 3), &b.narrow(1, 0, 3)) == 0.0);
    assert!(max_abs_diff(&a.narrow(1, 3, 1), &b.narrow(1, 3, 1)) > 1e-3);
}

#[test]
fn left_padding_leaves_each_row_as_if_alone() {
    let cfg = small_config(true);
    let (_vs, model) = random_model(&cfg, 2);
    let alone = model.forward(&ids(&[&[5, 6, 7]]), None, None);
    let mask = ids(&[&[0, 0, 1, 1, 1], &[1, 1, 1, 1, 1]]);
    let batch = model.forward(&ids(&[&[0, 0, 5, 6, 7], &[3, 4, 5, 6, 7]]), Some(&mask), None);
    assert_tensors_close("padded row", &batch.get(0).narrow(0, 2, 3), &alone.get(0), forward_tol(&cfg, 5));
    assert!(batch.isfinite().all().int64_value(&[]) == 1, "padding rows must not produce NaN");
}

/// Regression guard for the KV cache: prefill + one-token decode steps must
/// give the logits of a full forward over the whole sequence, padded or not.
#[test]
fn kv_cache_decode_equals_full_forward_with_left_padding() {
    for tied in [true, false] {
        let cfg = small_config(tied);
        let (_vs, model) = random_model(&cfg, 3);
        let _g = tch::no_grad_guard();
        let prompt = ids(&[&[0, 0, 4, 5], &[7, 8, 9, 10]]);
        let prompt_mask = ids(&[&[0, 0, 1, 1], &[1, 1, 1, 1]]);
        let new_tokens = [[11i64, 12], [13, 3], [4, 4]];
        let mut cache = model.new_cache(2, 4 + new_tokens.len() as i64);
        let h = model.forward(&prompt, Some(&prompt_mask), Some(&mut cache));
        let mut stepped = vec![model.logits(&h.narrow(1, 3, 1))];
        let mut mask = prompt_mask.shallow_clone();
        for tok in &new_tokens {
            mask = Tensor::cat(&[&mask, &Tensor::ones([2, 1], (Kind::Int64, Device::Cpu))], 1);
            let h = model.forward(&Tensor::from_slice(tok).view([2, 1]), Some(&mask), Some(&mut cache));
            stepped.push(model.logits(&h));
        }
        assert_eq!(cache.len(), 7);
        let full_ids = Tensor::cat(&[prompt, Tensor::from_slice2(&new_tokens).tr()], 1);
        let full = model.logits(&model.forward(&full_ids, Some(&mask), None)).narrow(1, 3, 4);
        let what = format!("cached decode against the full forward (tied={tied})");
        assert_tensors_close(&what, &Tensor::cat(&stepped, 1), &full, forward_tol(&cfg, 7));
    }
}

#[test]
fn multi_token_steps_against_a_cache_use_an_offset_causal_mask() {
    let cfg = small_config(true);
    let (_vs, model) = random_model(&cfg, 4);
    let _g = tch::no_grad_guard();
    let seq = ids(&[&[3, 4, 5, 6, 7, 8]]);
    let mut cache = model.new_cache(1, 6);
    let _ = model.forward(&seq.narrow(1, 0, 2), None, Some(&mut cache));
    let chunk = model.forward(&seq.narrow(1, 2, 4), None, Some(&mut cache));
    let full = model.forward(&seq, None, None).narrow(1, 2, 4);
    assert_tensors_close("chunk against the full forward", &chunk, &full, forward_tol(&cfg, 6));
}

#[test]
fn bf16_model_runs_and_stays_close_to_f32() {
    let cfg = small_config(true);
    let (mut vs, model) = random_model(&cfg, 5);
    let input = ids(&[&[3, 4, 5, 6]]);
    let f32_logits = model.logits(&model.forward(&input, None, None));
    vs.bfloat16();
    assert_eq!(model.kind(), Kind::BFloat16);
    let hidden = model.forward(&input, None, None);
    assert_eq!(hidden.kind(), Kind::BFloat16);
    let bf16_logits = model.logits(&hidden);
    assert_eq!(bf16_logits.kind(), Kind::Float);
    // bf16 keeps 8 bits of mantissa (relative error 2⁻⁸ per rounding): close
    // to f32 at the logits' scale, not equal.
    assert_tensors_close("bf16 logits", &bf16_logits, &f32_logits, Tol::new(0.1, 0.0));
}

#[test]
fn chunked_token_logprobs_match_log_softmax_for_any_chunk_size() {
    let cfg = small_config(false);
    let (_vs, model) = random_model(&cfg, 6);
    let input = ids(&[&[3, 4, 5, 6, 7], &[8, 9, 10, 11, 12]]);
    let targets = ids(&[&[4, 5, 6, 7, 1], &[9, 10, 11, 12, 1]]);
    let hidden = model.forward(&input, None, None);
    let logp_all = model.logits(&hidden).log_softmax(-1, Kind::Float);
    let expect = logp_all.gather(-1, &targets.unsqueeze(-1), false).squeeze_dim(-1);
    let expect_entropy = -(logp_all.exp() * &logp_all).sum_dim_intlist(-1, false, Kind::Float);
    // Same hidden states: only the LM head (over the hidden size) and the
    // softmax (over the vocabulary) may round differently.
    let tol = Tol::f32_ops(cfg.hidden_size + 2 * cfg.vocab_size);
    for chunk in [1, 2, 5, 100] {
        let (logp, entropy) = model.token_logprobs(&hidden, &targets, chunk);
        assert_tensors_close(&format!("log-probs, chunk {chunk}"), &logp, &expect, tol);
        assert_tensors_close(&format!("entropy, chunk {chunk}"), &entropy, &expect_entropy, tol);
    }
}

/// The chunked backward must produce exactly the gradients plain autograd
/// gives for the same loss (including the tied embedding's two paths).
#[test]
fn backward_chunked_gives_the_same_gradients_as_autograd() {
    for tied in [true, false] {
        let cfg = small_config(tied);
        let (vs, model) = random_model(&cfg, 7);
        let input = ids(&[&[3, 4, 5, 6, 7], &[8, 9, 10, 11, 12]]);
        let targets = ids(&[&[4, 5, 6, 7, 1], &[9, 10, 11, 12, 1]]);
        let weights = Tensor::from_slice(&[1.0f32, 0.5, 0.0, 2.0, 1.0, 1.0, 1.0, 1.0, 0.0, 3.0]).view([2, 5]);
        let loss_of = |logp: &Tensor, ent: &Tensor, w: &Tensor| -((logp + ent * 0.1) * w).sum(Kind::Float);

        let hidden = model.forward(&input, None, None);
        let (logp, ent) = model.token_logprobs(&hidden, &targets, 100);
        let loss = loss_of(&logp, &ent, &weights);
        loss.backward();
        let mut reference: Vec<(String, Tensor)> =
            vs.variables().into_iter().map(|(n, t)| (n, t.grad().copy())).collect();
        reference.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, t) in vs.variables() {
            let _ = t.grad().zero_();
        }

        let hidden = model.forward(&input, None, None);
        let total = model.backward_chunked(&hidden, &targets, 2, |r, lp, en| {
            loss_of(lp, en, &weights.narrow(1, r.start, r.end - r.start))
        });
        // Summed per chunk instead of at once, from per-token terms of the
        // loss's own magnitude: a sum over the 10 positions.
        let per_token = -(&logp + &ent * 0.1) * &weights;
        let loss_scale = per_token.abs().sum(Kind::Float).double_value(&[]);
        let diff = (total - loss.double_value(&[])).abs();
        assert!(
            diff <= Tol::f32_ops(10).bound(loss_scale),
            "loss {total} vs {} (tied={tied})",
            loss.double_value(&[])
        );
        // Gradients of the same loss through other chunk shapes: the whole
        // backward's roundings, at each gradient's own scale.
        let vars = vs.variables();
        for (name, g) in reference {
            let what = format!("{name}: chunked gradient (tied={tied})");
            assert_tensors_close(&what, &vars[&name].grad(), &g, backward_tol(&cfg, 5));
        }
    }
}

#[test]
fn value_head_starts_at_zero_and_score_head_reads_the_last_real_token() {
    let cfg = small_config(false);
    tch::manual_seed(8);
    let vs = VarStore::new(Device::Cpu);
    let backbone = Qwen2::backbone(&vs.root(), &cfg);
    let value = ValueHead::new(&vs.root(), cfg.hidden_size);
    let score = ScoreHead::new(&vs.root(), cfg.hidden_size, 1);
    let names = vs.variables();
    assert!(names.contains_key("value_head.weight") && names.contains_key("score.weight"));
    assert!(!names.contains_key("lm_head.weight") && !names.contains_key("score.bias"));

    let input = ids(&[&[0, 0, 5, 6], &[5, 6, 7, 0]]);
    let hidden = backbone.forward(&input, None, None);
    let v = value.forward(&hidden);
    assert_eq!(v.size(), [2, 4]);
    assert_eq!(v.abs().max().double_value(&[]), 0.0);

    assert_eq!(Vec::<i64>::try_from(last_non_pad_index(&input, 0)).unwrap(), vec![3, 2]);
    let s = score.forward(&hidden, &input, 0);
    assert_eq!(s.size(), [2, 1]);
    let by_hand = hidden.get(1).get(2).matmul(&vs.variables()["score.weight"].tr());
    assert_tensors_close("score", &s.get(1), &by_hand, Tol::f32_ops(cfg.hidden_size));
}
