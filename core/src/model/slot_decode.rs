//! The capturable decode step: one new token for each of a fixed set of
//! cache slots, every row at its own position.
//!
//! Nothing here reads a value back to the host or makes a shape that depends
//! on a sequence's length: positions come from a device tensor, the new
//! keys/values are scattered into the [`SlotCache`] at those positions, and
//! attention covers the cache's whole capacity behind a length mask
//! ([`super::attention::grouped_decode_attention`]). So the same step can be
//! captured once in a CUDA graph and replayed.

use tch::Tensor;

use super::decoder::Decoder;
use crate::slot_cache::SlotCache;

impl Decoder {
    /// Hidden states `[B, H]` after the final norm for one token per slot.
    ///
    /// - `tokens` `[B]` (i64): the token each of the first `B` slots feeds;
    /// - `positions` `[B]` (i64): where it goes, i.e. how many tokens the
    ///   slot already holds (also its rotary position: slots hold no padding).
    ///   Must be below the cache's capacity.
    pub fn decode_slots(&self, tokens: &Tensor, positions: &Tensor, cache: &mut SlotCache) -> Tensor {
        let rows = tokens.size()[0];
        let mut writer = cache.front(rows, positions);
        let bias = writer.bias().shallow_clone();
        let hidden =
            self.run_slot_layers(&tokens.view([rows, 1]), &positions.view([rows, 1]), &bias, &mut writer);
        hidden.squeeze_dim(1)
    }

    /// An empty [`SlotCache`] sized for this model.
    pub fn new_slot_cache(&self, slots: i64, capacity: i64) -> SlotCache {
        SlotCache::new(self.config(), slots, capacity, self.kind(), self.device())
    }
}
