//! The host side of the engine: which row sits in which slot, when waiting
//! rows are admitted, when the batch shrinks, and what each sampled token
//! does to its sequence.
//!
//! Rows wait in prompt order (longest prompts first, so a prefill pads
//! little). Whenever enough slots are free, the next waiting rows are
//! admitted: their prompts are prefilled once each (all but the last
//! token, right-padded, causal) and copied into the free slots — `n`
//! samples of a prompt share one prefill. Each step decodes every slot;
//! finished rows free their slots. Once nothing waits, the running rows are
//! packed into the front slots whenever a smaller batch suffices (exactly
//! the running count when eager; the next power of two with CUDA graphs, so
//! a few graphs cover every size).

use std::collections::VecDeque;

use tch::Tensor;

use super::decode_state::{Admission, DecodeState};
use super::sequence::{Sequence, Stopper};
use super::step_runner::StepRunner;
use super::{Completion, StopCriteria};
use crate::model::Qwen2;
use crate::sampling::{draw_uniform, row_rng, SamplingParams};

/// Generates every (prompt, sample) row; output ordered by prompt, then
/// sample. Row `r`'s random stream is keyed by `first_row + r`.
pub(super) fn run(
    model: &Qwen2,
    prompts: &[Vec<u32>],
    n: usize,
    params: &SamplingParams,
    stop: &StopCriteria,
    first_row: u64,
) -> crate::Result<Vec<Completion>> {
    let rows = prompts.len() * n;
    let max_new = params.max_new_tokens;
    let longest = prompts.iter().map(Vec::len).max().unwrap_or(1);
    // The last prompt token is fed by the first decode step, so a slot holds
    // at most (prompt - 1) + max_new positions.
    let capacity = longest - 1 + max_new;
    let slots = params.budget.rows_in_flight(rows, capacity, model.config(), model.kind(), model.device());
    let mut engine = Engine {
        model,
        prompts,
        n,
        params,
        first_row,
        stopper: Stopper::new(stop, max_new),
        sequences: (0..rows).map(|r| Sequence::new(r / n, r % n)).collect(),
        waiting: waiting_order(prompts, n),
        slot_row: vec![None; slots],
        batch: slots,
        state: DecodeState::new(model, slots, capacity, max_new, params.is_greedy()),
        runner: StepRunner::new(model.device(), params.budget.cuda_graphs && model.decode_step_capturable()),
    };
    engine.decode_all()?;
    engine.sequences.into_iter().map(|s| s.into_completion(stop.decoder)).collect()
}

/// Row ids (`prompt * n + sample`), longest prompts first, samples in order.
fn waiting_order(prompts: &[Vec<u32>], n: usize) -> VecDeque<usize> {
    let mut order: Vec<usize> = (0..prompts.len()).collect();
    order.sort_by_key(|&p| std::cmp::Reverse(prompts[p].len()));
    order.into_iter().flat_map(|p| (0..n).map(move |s| p * n + s)).collect()
}

struct Engine<'a> {
    model: &'a Qwen2,
    prompts: &'a [Vec<u32>],
    n: usize,
    params: &'a SamplingParams,
    /// The global index of row 0 (a data-parallel rank's part of a batch).
    first_row: u64,
    stopper: Stopper<'a>,
    sequences: Vec<Sequence>,
    waiting: VecDeque<usize>,
    /// The row each slot holds (None: free).
    slot_row: Vec<Option<usize>>,
    /// Slots the step runs over: `0..batch`.
    batch: usize,
    state: DecodeState,
    runner: StepRunner,
}

impl Engine<'_> {
    fn decode_all(&mut self) -> crate::Result<()> {
        let _no_grad = tch::no_grad_guard();
        loop {
            self.admit_waiting();
            let running = self.slot_row.iter().filter(|r| r.is_some()).count();
            if running == 0 {
                return Ok(());
            }
            if self.waiting.is_empty() {
                self.shrink(running);
            }
            self.runner.step(&mut self.state, self.model, self.params, self.batch as i64)?;
            let (tokens, logps) = self.state.read_out(self.batch)?;
            let mut finished = false;
            for slot in 0..self.batch {
                if let Some(row) = self.slot_row[slot] {
                    let seq = &mut self.sequences[row];
                    self.stopper.push(seq, tokens[slot], logps[slot])?;
                    if seq.finish.is_some() {
                        self.slot_row[slot] = None;
                        finished = true;
                    }
                }
            }
            if finished {
                let flags: Vec<i64> =
                    self.slot_row[..self.batch].iter().map(|r| r.is_some() as i64).collect();
                self.state.set_active(&flags);
            }
        }
    }

    /// Admits waiting rows into free slots once enough are free (a prefill
    /// per few rows, not per row) or nothing runs.
    fn admit_waiting(&mut self) {
        if self.waiting.is_empty() {
            return;
        }
        let free: Vec<usize> = (0..self.batch).filter(|&s| self.slot_row[s].is_none()).collect();
        let slots = self.slot_row.len();
        let worth_a_prefill = self.n.max(slots / 8).min(slots).min(self.waiting.len());
        if free.len() < worth_a_prefill {
            return;
        }
        let take = free.len().min(self.waiting.len());
        let admitted: Vec<(usize, usize)> = free.into_iter().zip(self.waiting.drain(..take)).collect();
        // One prefill row per distinct prompt, in admission order.
        let mut prompts: Vec<usize> = Vec::new();
        let mut entries = Vec::with_capacity(admitted.len());
        for &(slot, row) in &admitted {
            let prompt = row / self.n;
            let prefill_row = prompts.iter().position(|&p| p == prompt).unwrap_or_else(|| {
                prompts.push(prompt);
                prompts.len() - 1
            });
            let ids = &self.prompts[prompt];
            let uniforms = if self.params.is_greedy() {
                Vec::new()
            } else {
                let mut rng = row_rng(self.params.seed, self.first_row + row as u64);
                (0..self.params.max_new_tokens).map(|_| draw_uniform(&mut rng)).collect()
            };
            entries.push(Admission {
                slot,
                prefill_row,
                last_token: ids[ids.len() - 1],
                cached: ids.len() - 1,
                uniforms,
            });
            self.slot_row[slot] = Some(row);
        }
        let prefill = self.prefill(&prompts);
        self.state.admit(prefill.as_ref(), &entries);
    }

    /// All but the last token of each prompt, right-padded, through the
    /// model into a fresh cache (None when every prompt is one token).
    fn prefill(&self, prompts: &[usize]) -> Option<crate::KvCache> {
        let len = prompts.iter().map(|&p| self.prompts[p].len() - 1).max().unwrap_or(0);
        if len == 0 {
            return None;
        }
        let mut ids = vec![0i64; prompts.len() * len];
        for (row, &p) in prompts.iter().enumerate() {
            let body = &self.prompts[p][..self.prompts[p].len() - 1];
            for (j, &t) in body.iter().enumerate() {
                ids[row * len + j] = t as i64;
            }
        }
        let ids =
            Tensor::from_slice(&ids).view([prompts.len() as i64, len as i64]).to_device(self.model.device());
        let mut cache = self.model.new_cache(prompts.len() as i64, len as i64);
        // Right padding keeps every real token at its own position under a
        // plain causal mask; the padded positions are never attended later.
        let _ = self.model.forward(&ids, None, Some(&mut cache));
        Some(cache)
    }

    /// Packs the `running` rows into the front slots when a smaller batch
    /// holds them.
    fn shrink(&mut self, running: usize) {
        let target = if self.runner.uses_buckets() {
            running.next_power_of_two().min(self.slot_row.len())
        } else if running * 2 <= self.batch {
            running
        } else {
            self.batch
        };
        if target >= self.batch {
            return;
        }
        let keep: Vec<usize> = (0..self.batch).filter(|&s| self.slot_row[s].is_some()).collect();
        self.state.compact(&keep);
        let rows: Vec<Option<usize>> = keep.iter().map(|&s| self.slot_row[s]).collect();
        self.slot_row.iter_mut().for_each(|r| *r = None);
        self.slot_row[..rows.len()].copy_from_slice(&rows);
        self.batch = target;
        // Slots between the running rows and the new batch end hold stale rows: mask them.
        let flags: Vec<i64> = (0..target).map(|s| (s < rows.len()) as i64).collect();
        self.state.set_active(&flags);
    }
}
