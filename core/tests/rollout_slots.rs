//! The fixed-slot engine (capturable decode step, continuous refill) against
//! the engine it replaced: the same tokens and log-probs, greedy and seeded,
//! for any rollout budget.
//!
//! `wave_reference` is the previous engine's algorithm, kept here as the
//! reference: one left-padded prefill of every prompt, the cache copied to
//! each sample and narrowed to the filled length every step, uniforms drawn
//! on the host from each row's stream and passed to `sample`.

mod common;

use common::{random_model, small_config};
use tch::{Device, Kind, Tensor};
use tz_core::model::Qwen2;
use tz_core::presets::{tiny_tokenizer, TINY_EOS_ID};
use tz_core::rollout::{generate, Completion, StopCriteria};
use tz_core::rollout_budget::RolloutBudget;
use tz_core::sampling::{draw_uniform, row_rng, sample, SamplingParams};

/// Different lengths (left padding in the reference), one single-token prompt.
fn prompts() -> Vec<Vec<u32>> {
    vec![vec![4, 5, 19, 10], vec![6], vec![7, 8, 9, 19, 3, 20, 21], vec![12, 13, 14]]
}

/// (tokens, log-probs) per row, rows ordered by prompt then sample.
type Rows = Vec<(Vec<u32>, Vec<f32>)>;

fn wave_reference(
    model: &Qwen2,
    prompts: &[Vec<u32>],
    n: usize,
    params: &SamplingParams,
    eos: Option<u32>,
) -> Rows {
    let _no_grad = tch::no_grad_guard();
    let (b, p) = (prompts.len() as i64, prompts.iter().map(Vec::len).max().unwrap() as i64);
    let max_new = params.max_new_tokens as i64;
    let mut ids = vec![0i64; (b * p) as usize];
    let mut mask = vec![0i64; (b * p) as usize];
    for (row, prompt) in prompts.iter().enumerate() {
        let offset = row * p as usize + (p as usize - prompt.len());
        for (j, &t) in prompt.iter().enumerate() {
            ids[offset + j] = t as i64;
            mask[offset + j] = 1;
        }
    }
    let ids = Tensor::from_slice(&ids).view([b, p]);
    let prompt_mask = Tensor::from_slice(&mask).view([b, p]);
    let mut prefill = model.new_cache(b, p);
    let hidden = model.forward(&ids, Some(&prompt_mask), Some(&mut prefill));
    let repeat = Tensor::arange(b, (Kind::Int64, Device::Cpu)).repeat_interleave_self_int(n as i64, 0, None);
    let mut cache = prefill.gather_rows(&repeat, p + max_new);
    let mut logits = model.logits(&hidden.select(1, p - 1)).index_select(0, &repeat);
    let mask = Tensor::zeros([b * n as i64, p + max_new], (Kind::Int64, Device::Cpu));
    mask.narrow(1, 0, p).copy_(&prompt_mask.index_select(0, &repeat));
    let rows = prompts.len() * n;
    let mut rngs: Vec<_> = (0..rows).map(|r| row_rng(params.seed, r as u64)).collect();
    let mut out: Rows = vec![(Vec::new(), Vec::new()); rows];
    let mut done = vec![false; rows];
    for step in 0..max_new {
        let uniforms: Vec<f64> =
            if params.is_greedy() { Vec::new() } else { rngs.iter_mut().map(draw_uniform).collect() };
        let (tokens, logps) = sample(&logits, params, &uniforms);
        let tokens = Vec::<i64>::try_from(tokens).unwrap();
        let logps = Vec::<f32>::try_from(logps).unwrap();
        for r in 0..rows {
            if done[r] {
                continue;
            }
            out[r].0.push(tokens[r] as u32);
            out[r].1.push(logps[r]);
            done[r] = Some(tokens[r] as u32) == eos || out[r].0.len() == max_new as usize;
        }
        if done.iter().all(|&d| d) {
            break;
        }
        let _ = mask.narrow(1, p + step, 1).fill_(1);
        let input = Tensor::from_slice(&tokens).view([-1, 1]);
        let hidden = model.forward(&input, Some(&mask.narrow(1, 0, p + step + 1)), Some(&mut cache));
        logits = model.logits(&hidden.squeeze_dim(1));
    }
    out
}

fn engine(
    model: &Qwen2,
    n: usize,
    params: &SamplingParams,
    eos: Option<u32>,
    stops: &[&str],
) -> Vec<Completion> {
    let tok = tiny_tokenizer().unwrap();
    let stop = StopCriteria {
        eos_token_ids: eos.into_iter().collect(),
        stop_strings: stops.iter().map(|s| s.to_string()).collect(),
        decoder: &tok,
    };
    generate(model, &prompts(), n, params, &stop).unwrap()
}

fn assert_same_rows(got: &[Completion], want: &Rows, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: row count");
    for (i, (c, (tokens, logps))) in got.iter().zip(want).enumerate() {
        assert_eq!(&c.token_ids, tokens, "{what}: row {i} tokens");
        for (a, b) in c.logprobs.iter().zip(logps) {
            assert!((a - b).abs() <= 1e-4 + 1e-4 * b.abs(), "{what}: row {i} log-prob {a} vs {b}");
        }
    }
}

fn with_budget(params: &SamplingParams, rows: usize, kv_tokens: usize) -> SamplingParams {
    let budget =
        RolloutBudget { max_rows_in_flight: rows, kv_budget_tokens: kv_tokens, ..Default::default() };
    SamplingParams { budget, ..params.clone() }
}

#[test]
fn greedy_slot_decoding_equals_the_wave_engine() {
    let (_vs, model) = random_model(&small_config(true), 31);
    let params = SamplingParams::greedy(12);
    let want = wave_reference(&model, &prompts(), 2, &params, None);
    assert_same_rows(&engine(&model, 2, &params, None, &[]), &want, "greedy");
}

#[test]
fn seeded_sampling_equals_the_wave_engine_with_temperature_top_k_top_p_and_eos() {
    let (_vs, model) = random_model(&small_config(false), 32);
    for (i, params) in [
        SamplingParams { temperature: 1.0, max_new_tokens: 14, seed: 5, ..Default::default() },
        SamplingParams { temperature: 0.7, top_k: 5, max_new_tokens: 14, seed: 6, ..Default::default() },
        SamplingParams { temperature: 1.3, top_p: 0.8, max_new_tokens: 14, seed: 7, ..Default::default() },
    ]
    .iter()
    .enumerate()
    {
        let want = wave_reference(&model, &prompts(), 3, params, Some(TINY_EOS_ID));
        let got = engine(&model, 3, params, Some(TINY_EOS_ID), &[]);
        assert_same_rows(&got, &want, &format!("sampling setting {i}"));
    }
}

/// Rows beyond the budget wait and take finished rows' slots; every row's
/// samples come from its own stream, so any budget gives the one-wave result.
#[test]
fn continuous_refill_under_any_budget_gives_the_samples_of_one_wave() {
    let (_vs, model) = random_model(&small_config(true), 33);
    let params = SamplingParams { temperature: 1.2, max_new_tokens: 16, seed: 9, ..Default::default() };
    let stops = ["+1"];
    let one_wave = engine(&model, 4, &params, Some(TINY_EOS_ID), &stops);
    let finished_early = one_wave.iter().filter(|c| c.token_ids.len() < 16).count();
    assert!(finished_early > 2, "the test needs rows that end early to refill their slots");
    // Capacity is 7 - 1 + 16 = 22 positions per row: 50 tokens hold 2 rows.
    for (rows, kv_tokens) in [(1, 0), (2, 0), (3, 0), (5, 0), (0, 50), (7, 70)] {
        let budgeted = engine(&model, 4, &with_budget(&params, rows, kv_tokens), Some(TINY_EOS_ID), &stops);
        assert_eq!(budgeted.len(), one_wave.len());
        for (a, b) in budgeted.iter().zip(&one_wave) {
            let what = format!(
                "budget rows {rows} tokens {kv_tokens}, prompt {} sample {}",
                a.prompt_index, a.sample_index
            );
            assert_eq!((a.prompt_index, a.sample_index), (b.prompt_index, b.sample_index), "{what}");
            assert_eq!((&a.token_ids, &a.text, a.finish), (&b.token_ids, &b.text, b.finish), "{what}");
            for (x, y) in a.logprobs.iter().zip(&b.logprobs) {
                assert!((x - y).abs() <= 1e-4 + 1e-4 * y.abs(), "{what}: log-prob {x} vs {y}");
            }
        }
    }
}

/// The slot step's attention (two batched matmuls over the shared KV heads)
/// against SDPA with grouped heads and the same mask.
#[test]
fn grouped_decode_attention_equals_sdpa_with_a_length_mask() {
    use tz_core::model::attention::grouped_decode_attention;
    tch::manual_seed(3);
    let (b, heads, kv_heads, cap, d) = (3, 6, 2, 9, 8);
    let lens = Tensor::from_slice(&[0i64, 4, 8]).view([b, 1, 1, 1]);
    let visible = Tensor::arange(cap, (Kind::Int64, Device::Cpu)).view([1, 1, 1, cap]).le_tensor(&lens);
    let bias = Tensor::zeros([b, 1, 1, cap], (Kind::Float, Device::Cpu))
        .masked_fill(&visible.logical_not(), f64::NEG_INFINITY);
    for (kind, tol) in [(Kind::Float, 1e-5), (Kind::BFloat16, 2e-2)] {
        let q = Tensor::randn([b, heads, 1, d], (Kind::Float, Device::Cpu)).to_kind(kind);
        let k = Tensor::randn([b, kv_heads, cap, d], (Kind::Float, Device::Cpu)).to_kind(kind);
        let v = Tensor::randn([b, kv_heads, cap, d], (Kind::Float, Device::Cpu)).to_kind(kind);
        let ours = grouped_decode_attention(&q, &k, &v, &bias);
        let sdpa = Tensor::scaled_dot_product_attention(&q, &k, &v, Some(&visible), 0.0, false, None, true);
        let diff = common::max_abs_diff(&ours, &sdpa);
        assert!(diff < tol, "{kind:?}: differs from SDPA by {diff}");
    }
}
