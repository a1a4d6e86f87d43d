//! A preallocated key/value cache for incremental decoding.
//!
//! Each layer owns two buffers `[B, n_kv_heads, capacity, head_dim]` that are
//! written in place (`narrow(..).copy_`), never grown with `cat`, so a decode
//! step costs no reallocation and attention reads a view of the filled prefix.
//! All rows share one length: left padding (see [`crate::model::Qwen2::forward`])
//! keeps the prompts of a batch aligned on the right.
//!
//! The cache holds no autograd history; it is for generation under `no_grad`.

use tch::{Device, Kind, Tensor};

use crate::config::Qwen2Config;

/// Where a decoder layer's new keys/values go during generation, and what
/// attention then reads: [`KvCache`] appends at one shared length;
/// [`crate::slot_cache::SlotCache`] writes each row at its own position.
pub trait LayerCache {
    /// Stores `k`, `v` `[B, n_kv, T, d]` of `layer`; returns the keys and
    /// values attention covers.
    fn store(&mut self, layer: usize, k: &Tensor, v: &Tensor) -> (Tensor, Tensor);
}

#[derive(Debug)]
pub struct KvCache {
    keys: Vec<Tensor>,
    values: Vec<Tensor>,
    len: i64,
    capacity: i64,
}

impl KvCache {
    /// An empty cache for `batch` rows and up to `capacity` positions.
    pub fn new(cfg: &Qwen2Config, batch: i64, capacity: i64, kind: Kind, device: Device) -> Self {
        let shape = [batch, cfg.num_key_value_heads as i64, capacity, cfg.head_dim() as i64];
        let alloc = || Tensor::zeros(shape, (kind, device));
        let layers = cfg.num_hidden_layers;
        Self {
            keys: (0..layers).map(|_| alloc()).collect(),
            values: (0..layers).map(|_| alloc()).collect(),
            len: 0,
            capacity,
        }
    }

    /// Filled positions (the same for every row).
    pub fn len(&self) -> i64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> i64 {
        self.capacity
    }

    pub fn batch_size(&self) -> i64 {
        self.keys.first().map_or(0, |k| k.size()[0])
    }

    /// Writes `k`, `v` [B, n_kv, T, d] of `layer` at positions `len..len+T` and
    /// returns views of positions `0..len+T`. [`KvCache::advance`] commits the
    /// new length once every layer has been written.
    ///
    /// Panics if the cache is full: the rollout engine sizes it for the longest
    /// prompt plus the new-token limit, so overflowing is a bug, not bad input.
    pub fn append(&mut self, layer: usize, k: &Tensor, v: &Tensor) -> (Tensor, Tensor) {
        let t = k.size()[2];
        assert!(
            self.len + t <= self.capacity,
            "KV cache overflow: {} + {} positions > capacity {}",
            self.len,
            t,
            self.capacity
        );
        self.keys[layer].narrow(2, self.len, t).copy_(k);
        self.values[layer].narrow(2, self.len, t).copy_(v);
        let end = self.len + t;
        (self.keys[layer].narrow(2, 0, end), self.values[layer].narrow(2, 0, end))
    }

    /// The key and value buffers of `layer`, `[B, n_kv, capacity, d]`
    /// (positions `len()..` are not filled).
    pub fn layer(&self, layer: usize) -> (&Tensor, &Tensor) {
        (&self.keys[layer], &self.values[layer])
    }

    /// Commits `t` positions written by [`KvCache::append`] in every layer.
    pub fn advance(&mut self, t: i64) {
        self.len += t;
    }

    /// Keeps only the rows in `rows` (i64 indices, in that order): used to
    /// drop finished sequences from the batch.
    pub fn select_rows(&mut self, rows: &Tensor) {
        for buf in self.keys.iter_mut().chain(self.values.iter_mut()) {
            *buf = buf.index_select(0, rows);
        }
    }

    /// A new cache of `capacity` positions whose row `i` is a copy of this
    /// cache's row `rows[i]` (e.g. each prompt repeated n times after prefill).
    /// Only the filled prefix is copied.
    pub fn gather_rows(&self, rows: &Tensor, capacity: i64) -> KvCache {
        assert!(capacity >= self.len, "gather_rows: capacity {} < filled length {}", capacity, self.len);
        let copy = |bufs: &[Tensor]| -> Vec<Tensor> {
            bufs.iter()
                .map(|buf| {
                    let mut shape = buf.size();
                    shape[0] = rows.size()[0];
                    shape[2] = capacity;
                    let out = Tensor::zeros(&shape, (buf.kind(), buf.device()));
                    out.narrow(2, 0, self.len).copy_(&buf.narrow(2, 0, self.len).index_select(0, rows));
                    out
                })
                .collect()
        };
        KvCache { keys: copy(&self.keys), values: copy(&self.values), len: self.len, capacity }
    }
}

impl LayerCache for KvCache {
    fn store(&mut self, layer: usize, k: &Tensor, v: &Tensor) -> (Tensor, Tensor) {
        self.append(layer, k, v)
    }
}
