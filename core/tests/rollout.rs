//! The rollout engine: reproducibility, log-probs, stop handling and
//! batching invariants, on small random models.

mod common;

use common::{assert_tensors_close, forward_tol, random_model, small_config, Tol};
use tch::{Kind, Tensor};
use tz_core::model::Qwen2;
use tz_core::presets::{tiny_tokenizer, TINY_EOS_ID};
use tz_core::rollout::{generate, generate_part, Completion, FinishReason, StopCriteria, TokenDecoder};
use tz_core::rollout_budget::RolloutBudget;
use tz_core::sampling::SamplingParams;

fn prompts() -> Vec<Vec<u32>> {
    vec![vec![4, 5, 19, 10], vec![6], vec![7, 8, 9, 19, 3, 20, 21]]
}

fn sampling(seed: u64, max_new: usize) -> SamplingParams {
    SamplingParams { temperature: 1.0, max_new_tokens: max_new, seed, ..SamplingParams::default() }
}

fn run(model: &Qwen2, params: &SamplingParams, n: usize, stops: &[&str], eos: bool) -> Vec<Completion> {
    let tok = tiny_tokenizer().unwrap();
    let stop = StopCriteria {
        eos_token_ids: if eos { vec![TINY_EOS_ID] } else { vec![] },
        stop_strings: stops.iter().map(|s| s.to_string()).collect(),
        decoder: &tok,
    };
    generate(model, &prompts(), n, params, &stop).unwrap()
}

/// Logits of the next token after each prefix of `response`, from full
/// forwards without any cache (the reference the engine must agree with).
/// Log-probs from two computations of the logits: the forward's roundings,
/// then the softmax's over the vocabulary; relative to the logits' scale.
fn logprob_tol(cfg: &tz_core::Qwen2Config, seq: usize) -> Tol {
    Tol::new(forward_tol(cfg, seq).rel + Tol::f32_ops(2 * cfg.vocab_size).rel, 0.0)
}

fn reference_logits(model: &Qwen2, prompt: &[u32], response: &[u32]) -> Tensor {
    let all: Vec<i64> = prompt.iter().chain(response).map(|&t| t as i64).collect();
    let input = Tensor::from_slice(&all).view([1, -1]);
    let hidden = tch::no_grad(|| model.forward(&input, None, None));
    model.logits(&hidden.narrow(1, prompt.len() as i64 - 1, response.len() as i64)).squeeze_dim(0)
}

#[test]
fn same_seed_same_output_and_another_seed_differs() {
    let (_vs, model) = random_model(&small_config(true), 10);
    let a = run(&model, &sampling(1, 12), 3, &[], true);
    let b = run(&model, &sampling(1, 12), 3, &[], true);
    let c = run(&model, &sampling(2, 12), 3, &[], true);
    assert_eq!(a, b);
    assert_ne!(
        a.iter().map(|c| &c.token_ids).collect::<Vec<_>>(),
        c.iter().map(|c| &c.token_ids).collect::<Vec<_>>()
    );
    assert_eq!(a.len(), 9);
    for (i, c) in a.iter().enumerate() {
        assert_eq!((c.prompt_index, c.sample_index), (i / 3, i % 3));
    }
}

#[test]
fn logprobs_are_log_softmax_of_temperature_scaled_logits_at_the_chosen_tokens() {
    let cfg = small_config(false);
    let (_vs, model) = random_model(&cfg, 11);
    let temperature = 0.7;
    let params = SamplingParams { temperature, ..sampling(3, 10) };
    for c in run(&model, &params, 2, &[], true) {
        let logits = reference_logits(&model, &prompts()[c.prompt_index], &c.token_ids);
        let logp = (&logits / temperature).log_softmax(-1, Kind::Float);
        let idx =
            Tensor::from_slice(&c.token_ids.iter().map(|&t| t as i64).collect::<Vec<_>>()).unsqueeze(-1);
        let expect = logp.gather(-1, &idx, false).squeeze_dim(-1);
        // A cached decode against full forwards, then the softmax, at the
        // scale of the scaled logits (log-probs inherit their error).
        let bound = logprob_tol(&cfg, prompts()[c.prompt_index].len() + c.token_ids.len())
            .bound((&logits / temperature).abs().max().double_value(&[]));
        assert_tensors_close("log-probs", &Tensor::from_slice(&c.logprobs), &expect, Tol::new(0.0, bound));
    }
}

/// With top-k the reported log-prob is under the renormalised top-k
/// distribution, and no token outside the top k is ever drawn.
#[test]
fn top_k_samples_stay_in_the_top_k_and_report_renormalised_logprobs() {
    let cfg = small_config(true);
    let (_vs, model) = random_model(&cfg, 12);
    let params = SamplingParams { top_k: 3, ..sampling(4, 10) };
    for c in run(&model, &params, 4, &[], false) {
        let logits = reference_logits(&model, &prompts()[c.prompt_index], &c.token_ids);
        let (top, _) = logits.topk(3, -1, true, true);
        let lse = top.logsumexp(&[-1i64][..], false);
        // The engine's logits are the reference's up to the forward's
        // roundings, at the logits' scale (a near tie may rank either way).
        let seq = prompts()[c.prompt_index].len() + c.token_ids.len();
        let bound = forward_tol(&cfg, seq).bound(logits.abs().max().double_value(&[]));
        for (i, &tok) in c.token_ids.iter().enumerate() {
            let z = logits.double_value(&[i as i64, tok as i64]);
            assert!(z >= top.double_value(&[i as i64, 2]) - bound, "token {tok} is outside the top 3");
            let expect = z - lse.double_value(&[i as i64]);
            let diff = (c.logprobs[i] as f64 - expect).abs();
            assert!(diff <= 2.0 * bound, "log-prob {} vs {expect}: more than {bound:e} apart", c.logprobs[i]);
        }
    }
}

#[test]
fn greedy_follows_the_argmax_of_full_forwards_and_top_k_1_equals_greedy() {
    let cfg = small_config(true);
    let (_vs, model) = random_model(&cfg, 13);
    let greedy = run(&model, &SamplingParams::greedy(10), 2, &[], false);
    // Each chosen token is the reference's argmax, or ties with it up to the
    // forward's roundings (another CPU may break a near tie the other way).
    let assert_argmax = |prompt: &[u32], tokens: &[u32]| {
        let logits = reference_logits(&model, prompt, tokens);
        let bound =
            forward_tol(&cfg, prompt.len() + tokens.len()).bound(logits.abs().max().double_value(&[]));
        let max = Vec::<f64>::try_from(logits.amax(-1, false).to_kind(Kind::Double)).unwrap();
        for (i, &tok) in tokens.iter().enumerate() {
            let z = logits.double_value(&[i as i64, tok as i64]);
            assert!(z >= max[i] - bound, "token {i} ({tok}) has logit {z}, the argmax {}", max[i]);
        }
    };
    for c in &greedy {
        assert_argmax(&prompts()[c.prompt_index], &c.token_ids);
        assert_eq!(c.finish, FinishReason::Length);
    }
    // Equal-length prompts take the unmasked fast path; same contract.
    let tok = tiny_tokenizer().unwrap();
    let stop = StopCriteria { eos_token_ids: vec![], stop_strings: vec![], decoder: &tok };
    let same_len = vec![vec![4, 5, 19], vec![7, 8, 9]];
    for c in generate(&model, &same_len, 1, &SamplingParams::greedy(8), &stop).unwrap() {
        assert_argmax(&same_len[c.prompt_index], &c.token_ids);
    }
    // Both samples of a prompt are identical under greedy decoding.
    assert_eq!(greedy[0].token_ids, greedy[1].token_ids);
    let top1 = run(&model, &SamplingParams { top_k: 1, ..sampling(5, 10) }, 2, &[], false);
    let ids = |v: &[Completion]| v.iter().map(|c| c.token_ids.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&greedy), ids(&top1));
}

/// Each sequence has its own random stream, so splitting the request into
/// groups (or compacting finished rows) does not change any sample; only the
/// float rounding of batched matmuls may differ.
#[test]
fn batch_grouping_does_not_change_samples() {
    let cfg = small_config(true);
    let (_vs, model) = random_model(&cfg, 14);
    let together = run(&model, &sampling(6, 16), 3, &[], true);
    let grouped = run(
        &model,
        &SamplingParams {
            budget: RolloutBudget { max_rows_in_flight: 3, ..Default::default() },
            ..sampling(6, 16)
        },
        3,
        &[],
        true,
    );
    assert_eq!(together.len(), grouped.len());
    for (a, b) in together.iter().zip(&grouped) {
        // Identical tokens: a rounding difference flips a draw only when the
        // uniform lands within ~1e-6 of a boundary, far rarer than a bug.
        assert_eq!((&a.token_ids, &a.text, a.finish), (&b.token_ids, &b.text, b.finish));
        if a.token_ids.is_empty() {
            continue;
        }
        let prompt = &prompts()[a.prompt_index];
        let scale = reference_logits(&model, prompt, &a.token_ids).abs().max().double_value(&[]);
        let tol = Tol::new(0.0, logprob_tol(&cfg, prompt.len() + a.token_ids.len()).bound(scale));
        tz_testkit::assert_all_close("log-probs of the grouped batch", &b.logprobs, &a.logprobs, tol);
    }
}

#[test]
fn parts_of_a_batch_sample_what_the_whole_batch_samples() {
    // Two data-parallel ranks: prompts [0] and [1, 2] of the batch.
    let cfg = small_config(true);
    let (_vs, model) = random_model(&cfg, 14);
    let tok = tiny_tokenizer().unwrap();
    let stop = StopCriteria { eos_token_ids: vec![TINY_EOS_ID], stop_strings: vec![], decoder: &tok };
    let params = sampling(6, 16);
    let whole = generate(&model, &prompts(), 3, &params, &stop).unwrap();
    let mut parts = generate_part(&model, &prompts()[..1], 3, &params, &stop, 0).unwrap();
    parts.extend(generate_part(&model, &prompts()[1..], 3, &params, &stop, 1).unwrap());
    assert_eq!(whole.len(), parts.len());
    for (a, b) in whole.iter().zip(&parts) {
        // Identical tokens (see batch_grouping_does_not_change_samples), and
        // prompt indices counted in the whole batch.
        assert_eq!((a.prompt_index, a.sample_index), (b.prompt_index, b.sample_index));
        assert_eq!((&a.token_ids, &a.text, a.finish), (&b.token_ids, &b.text, b.finish));
    }
}

#[test]
fn eos_stop_strings_and_length_finish_as_documented() {
    let (_vs, model) = random_model(&small_config(true), 15);
    let tok = tiny_tokenizer().unwrap();
    let stops = ["+1", "3"];
    let outs = run(&model, &SamplingParams { temperature: 1.5, ..sampling(7, 12) }, 16, &stops, true);
    let (mut by_eos, mut by_string, mut by_length) = (0, 0, 0);
    for c in &outs {
        let full = TokenDecoder::decode(&tok, &c.token_ids).unwrap();
        let before_last = TokenDecoder::decode(&tok, &c.token_ids[..c.token_ids.len() - 1]).unwrap();
        assert_eq!(c.token_ids.len(), c.logprobs.len());
        assert!(
            !stops.iter().any(|s| before_last.contains(s))
                && !c.token_ids[..c.token_ids.len() - 1].contains(&TINY_EOS_ID),
            "generation went on past a stop: {full:?}"
        );
        match c.finish {
            FinishReason::Stop if c.token_ids.last() == Some(&TINY_EOS_ID) => {
                by_eos += 1;
                assert_eq!(c.text, full);
            }
            FinishReason::Stop => {
                by_string += 1;
                assert!(
                    stops.iter().any(|s| c.text.ends_with(s)),
                    "{:?} does not end with a stop string",
                    c.text
                );
                assert!(full.starts_with(&c.text));
            }
            FinishReason::Length => {
                by_length += 1;
                assert_eq!(c.token_ids.len(), 12);
                assert_eq!(c.text, full);
                assert!(!stops.iter().any(|s| full.contains(s)));
            }
        }
    }
    assert!(
        by_eos > 0 && by_string > 0 && by_length > 0,
        "eos {by_eos}, stop string {by_string}, length {by_length}"
    );
}

#[test]
fn a_stop_string_cuts_the_text_right_after_it() {
    // A decoder that spells token 5 as "ab" and everything else as "x", so a
    // stop string "a" lands in the middle of a token's text.
    struct Spell;
    impl TokenDecoder for Spell {
        fn decode(&self, ids: &[u32]) -> tz_core::Result<String> {
            Ok(ids.iter().map(|&t| if t == 5 { "ab" } else { "x" }).collect())
        }
    }
    let (_vs, model) = random_model(&small_config(true), 16);
    let stop = StopCriteria { eos_token_ids: vec![], stop_strings: vec!["a".into()], decoder: &Spell };
    let params = SamplingParams { temperature: 2.0, ..sampling(8, 30) };
    let outs = generate(&model, &prompts(), 8, &params, &stop).unwrap();
    let stopped: Vec<_> = outs.iter().filter(|c| c.finish == FinishReason::Stop).collect();
    assert!(!stopped.is_empty());
    for c in stopped {
        assert_eq!(c.token_ids.last(), Some(&5));
        assert_eq!(c.text, "x".repeat(c.token_ids.len() - 1) + "a");
    }
}

#[test]
fn bad_requests_fail_with_a_message() {
    let (_vs, model) = random_model(&small_config(true), 17);
    let tok = tiny_tokenizer().unwrap();
    let stop = StopCriteria::new(&tok, vec![]);
    let err = generate(&model, &[vec![]], 1, &sampling(0, 4), &stop).unwrap_err();
    assert!(err.to_string().contains("prompt 0 has no tokens"), "{err}");
    let err = generate(&model, &[vec![999]], 1, &sampling(0, 4), &stop).unwrap_err();
    assert!(err.to_string().contains("999"), "{err}");
    let err =
        generate(&model, &[vec![3]], 1, &SamplingParams { top_p: 0.0, ..sampling(0, 4) }, &stop).unwrap_err();
    assert!(err.to_string().contains("top_p"), "{err}");
}
