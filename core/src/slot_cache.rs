//! A KV cache of fixed slots for capturable decoding.
//!
//! Each layer owns two buffers `[slots, n_kv_heads, capacity, head_dim]`,
//! allocated once. Unlike [`crate::KvCache`], rows do not share a length:
//! each slot holds one sequence from position 0, and a decode step writes
//! every slot's new key/value at that slot's own position, taken from a
//! device tensor. Attention always covers the full capacity behind a length
//! mask, so a step has the same shapes and the same buffer addresses every
//! time — what a CUDA graph replay needs — and a slot can be refilled with a
//! new sequence while the others keep decoding.
//!
//! The cache holds no autograd history; it is for generation under `no_grad`.

use tch::{Device, Kind, Tensor};

use crate::config::Qwen2Config;
use crate::kv_cache::{KvCache, LayerCache};

#[derive(Debug)]
pub struct SlotCache {
    keys: Vec<Tensor>,
    values: Vec<Tensor>,
    /// `0..capacity` as i64, `[1, 1, 1, capacity]`: compared with positions
    /// to build the length mask without allocating a range every step.
    key_positions: Tensor,
}

impl SlotCache {
    /// Empty slots (every buffer zero) for `slots` sequences of up to `capacity` positions.
    pub fn new(cfg: &Qwen2Config, slots: i64, capacity: i64, kind: Kind, device: Device) -> Self {
        let shape = [slots, cfg.num_key_value_heads as i64, capacity, cfg.head_dim() as i64];
        let alloc = || Tensor::zeros(shape, (kind, device));
        let layers = cfg.num_hidden_layers;
        Self {
            keys: (0..layers).map(|_| alloc()).collect(),
            values: (0..layers).map(|_| alloc()).collect(),
            key_positions: Tensor::arange(capacity, (Kind::Int64, device)).view([1, 1, 1, capacity]),
        }
    }

    pub fn slots(&self) -> i64 {
        self.keys.first().map_or(0, |k| k.size()[0])
    }

    pub fn capacity(&self) -> i64 {
        self.key_positions.size()[3]
    }

    /// Bytes of one position of one slot over all layers (keys and values).
    pub fn bytes_per_position(cfg: &Qwen2Config, kind: Kind) -> usize {
        cfg.num_hidden_layers * 2 * cfg.num_key_value_heads * cfg.head_dim() * kind.elt_size_in_bytes()
    }

    /// Copies the filled prefix of `prefill` row `src_rows[i]` into slot
    /// `slots[i]` (positions `0..prefill.len()`; later positions of those
    /// slots keep stale values that the length mask hides until decoding
    /// overwrites them). Both index tensors are i64 on this cache's device.
    pub fn admit(&mut self, prefill: &KvCache, src_rows: &Tensor, slots: &Tensor) {
        let len = prefill.len();
        if len == 0 {
            return;
        }
        for (layer, (k, v)) in self.keys.iter_mut().zip(self.values.iter_mut()).enumerate() {
            let (pk, pv) = prefill.layer(layer);
            for (dst, src) in [(k, pk), (v, pv)] {
                let rows = src.narrow(2, 0, len).index_select(0, src_rows);
                let _ = dst.narrow(2, 0, len).index_copy_(0, slots, &rows);
            }
        }
    }

    /// Moves slot `keep[i]` to slot `i` for every `i` (i64 indices): packs
    /// the running sequences into the front slots so a smaller step can run.
    pub fn compact(&mut self, keep: &Tensor) {
        let k = keep.size()[0];
        for buf in self.keys.iter_mut().chain(self.values.iter_mut()) {
            buf.narrow(0, 0, k).copy_(&buf.index_select(0, keep));
        }
    }

    /// The writer a decode step over the first `rows` slots uses: slot `i`'s
    /// new key/value goes to position `positions[i]` (`[rows]` i64, below
    /// the capacity), and its query sees positions `0..=positions[i]`.
    pub fn front(&mut self, rows: i64, positions: &Tensor) -> SlotWriter<'_> {
        let (_, kv_heads, _, head_dim) = self.keys[0].size4().expect("slot buffers are 4-d");
        let at = positions.view([rows, 1, 1, 1]);
        let index = at.expand([rows, kv_heads, 1, head_dim], false).contiguous();
        let hidden = self.key_positions.gt_tensor(&at);
        let bias = Tensor::zeros([rows, 1, 1, self.capacity()], (Kind::Float, positions.device()))
            .masked_fill(&hidden, f64::NEG_INFINITY);
        SlotWriter { cache: self, rows, index, bias }
    }
}

/// One decode step's view of the first rows of a [`SlotCache`].
pub struct SlotWriter<'a> {
    cache: &'a mut SlotCache,
    rows: i64,
    /// Scatter index `[rows, n_kv, 1, d]`: each row's write position.
    index: Tensor,
    /// `[rows, 1, 1, capacity]` f32: 0 where a row's query may attend, else -inf.
    bias: Tensor,
}

impl SlotWriter<'_> {
    /// The additive attention bias of this step, `[rows, 1, 1, capacity]`.
    pub fn bias(&self) -> &Tensor {
        &self.bias
    }
}

impl LayerCache for SlotWriter<'_> {
    fn store(&mut self, layer: usize, k: &Tensor, v: &Tensor) -> (Tensor, Tensor) {
        let mut keys = self.cache.keys[layer].narrow(0, 0, self.rows);
        let mut values = self.cache.values[layer].narrow(0, 0, self.rows);
        let _ = keys.scatter_(2, &self.index, k);
        let _ = values.scatter_(2, &self.index, v);
        (keys, values)
    }
}
