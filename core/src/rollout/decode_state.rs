//! The device side of the engine: every tensor a decode step reads or
//! writes, allocated once per [`super::generate`] call, and the step itself.
//!
//! The step ([`DecodeState::step`]) runs over the first `rows` slots with no
//! host synchronisation and no shape that depends on a sequence: it feeds
//! each slot's token at the slot's position, samples from pre-drawn
//! uniforms indexed by how many tokens the slot's row has generated, and
//! advances only active slots. Free and finished slots keep computing
//! (masked garbage) so the set of rows — and a captured CUDA graph — stays
//! fixed. The host talks to it only between steps: [`DecodeState::admit`],
//! [`DecodeState::set_active`], [`DecodeState::compact`] and one read of
//! the sampled tokens per step.

use tch::{Device, Kind, Tensor};

use crate::error::Context;
use crate::kv_cache::KvCache;
use crate::model::Qwen2;
use crate::sampling::{sample_on_device, SamplingParams};
use crate::slot_cache::SlotCache;

/// A row entering a slot.
pub(super) struct Admission {
    pub slot: usize,
    /// Its prompt's row in the prefill cache.
    pub prefill_row: usize,
    /// The prompt's last token: the first one the decode step feeds.
    pub last_token: u32,
    /// Prompt tokens already in the cache (the prompt's length - 1).
    pub cached: usize,
    /// The row's `max_new_tokens` uniforms, in draw order (empty for greedy).
    pub uniforms: Vec<f64>,
}

pub(super) struct DecodeState {
    cache: SlotCache,
    max_new: i64,
    device: Device,
    /// `[S]` i64: the token each slot feeds next.
    tokens: Tensor,
    /// `[S]` i64: positions each slot holds (where its next token goes).
    lens: Tensor,
    /// `[S]` i64: tokens the slot's row has generated (its uniform's index).
    generated: Tensor,
    /// `[S]` i64: 1 while the slot's row runs, else 0.
    active: Tensor,
    /// `[S, max_new]` f64: each row's pre-drawn uniforms; `None` for greedy.
    uniforms: Option<Tensor>,
    /// `[2, S]` f64: the last step's sampled token and its log-prob per slot
    /// (token ids are exact in f64), read back in one transfer.
    out: Tensor,
}

impl DecodeState {
    pub fn new(model: &Qwen2, slots: usize, capacity: usize, max_new: usize, greedy: bool) -> Self {
        let device = model.device();
        let s = slots as i64;
        let zeros = || Tensor::zeros([s], (Kind::Int64, device));
        Self {
            cache: model.new_slot_cache(s, capacity as i64),
            max_new: max_new as i64,
            device,
            tokens: zeros(),
            lens: zeros(),
            generated: zeros(),
            active: zeros(),
            uniforms: (!greedy).then(|| Tensor::zeros([s, max_new as i64], (Kind::Double, device))),
            out: Tensor::zeros([2, s], (Kind::Double, device)),
        }
    }

    /// One token for each of the first `rows` slots. Capturable: no host
    /// sync, the same shapes and buffers every time for a given `rows`.
    pub fn step(&mut self, model: &Qwen2, params: &SamplingParams, rows: i64) {
        let mut tokens = self.tokens.narrow(0, 0, rows);
        let mut lens = self.lens.narrow(0, 0, rows);
        let mut generated = self.generated.narrow(0, 0, rows);
        let active = self.active.narrow(0, 0, rows);
        // Inactive slots do not advance, but a row that has just finished may
        // sit at the capacity: clamp so its slot's (ignored) write stays inside.
        let positions = lens.clamp_max(self.cache.capacity() - 1);
        let hidden = model.decode_slots(&tokens, &positions, &mut self.cache);
        let logits = model.logits(&hidden);
        let uniforms = self.uniforms.as_ref().map(|u| {
            let index = generated.clamp_max(self.max_new - 1).unsqueeze(1);
            u.narrow(0, 0, rows).gather(1, &index, false).squeeze_dim(1)
        });
        let (next, logp) = sample_on_device(&logits, params, uniforms.as_ref());
        self.out
            .narrow(1, 0, rows)
            .copy_(&Tensor::stack(&[next.to_kind(Kind::Double), logp.to_kind(Kind::Double)], 0));
        tokens.copy_(&next);
        lens += &active;
        generated += &active;
    }

    /// The last step's tokens and log-probs of the first `rows` slots (the
    /// one host synchronisation per step).
    pub fn read_out(&self, rows: usize) -> crate::Result<(Vec<u32>, Vec<f32>)> {
        let out = self.out.narrow(1, 0, rows as i64).to_device(Device::Cpu).contiguous().view([-1]);
        let out = Vec::<f64>::try_from(out).context("reading sampled tokens")?;
        let (tokens, logps) = out.split_at(rows);
        Ok((tokens.iter().map(|&t| t as u32).collect(), logps.iter().map(|&l| l as f32).collect()))
    }

    /// Puts new rows into their slots: the prefilled prompt keys/values
    /// (`prefill`: `None` when every admitted prompt is one token), the
    /// token to feed, the position, the uniforms; marks them active.
    pub fn admit(&mut self, prefill: Option<&KvCache>, rows: &[Admission]) {
        let slots = self.index(rows.iter().map(|a| a.slot));
        if let Some(prefill) = prefill {
            self.cache.admit(prefill, &self.index(rows.iter().map(|a| a.prefill_row)), &slots);
        }
        let _ = self.tokens.index_copy_(0, &slots, &self.index(rows.iter().map(|a| a.last_token as usize)));
        let _ = self.lens.index_copy_(0, &slots, &self.index(rows.iter().map(|a| a.cached)));
        let _ = self.generated.index_fill_(0, &slots, 0);
        let _ = self.active.index_fill_(0, &slots, 1);
        if let Some(table) = &mut self.uniforms {
            let flat: Vec<f64> = rows.iter().flat_map(|a| a.uniforms.iter().copied()).collect();
            let drawn =
                Tensor::from_slice(&flat).view([rows.len() as i64, self.max_new]).to_device(self.device);
            let _ = table.index_copy_(0, &slots, &drawn);
        }
    }

    /// Sets which of the first `flags.len()` slots run (1) or are masked (0).
    pub fn set_active(&mut self, flags: &[i64]) {
        self.active.narrow(0, 0, flags.len() as i64).copy_(&Tensor::from_slice(flags).to_device(self.device));
    }

    /// Moves slot `keep[i]` to slot `i` (cache, tokens, positions, uniforms).
    pub fn compact(&mut self, keep: &[usize]) {
        let index = self.index(keep.iter().copied());
        self.cache.compact(&index);
        let k = keep.len() as i64;
        let tables = [&mut self.tokens, &mut self.lens, &mut self.generated, &mut self.active];
        for t in tables.into_iter().chain(self.uniforms.as_mut()) {
            t.narrow(0, 0, k).copy_(&t.index_select(0, &index));
        }
    }

    fn index(&self, values: impl Iterator<Item = usize>) -> Tensor {
        let v: Vec<i64> = values.map(|x| x as i64).collect();
        Tensor::from_slice(&v).to_device(self.device)
    }
}
