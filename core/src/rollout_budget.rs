//! How much the rollout engine may hold at once: rows in flight and KV-cache
//! positions. A step's rows beyond the budget wait, and take the slot of a
//! finished row as soon as one frees (continuous refill); randomness is keyed
//! per row, so the samples are the same as in one wave.
//!
//! Both limits default to 0 = derived: on CUDA from the device's free memory
//! (driver-free plus what libtorch's caching allocator holds unused), on the
//! CPU from the machine's available memory, leaving room for everything else
//! a training step keeps.

use serde::{Deserialize, Serialize};
use tch::{Device, Kind};

use crate::config::Qwen2Config;
use crate::slot_cache::SlotCache;

/// The engine's memory limits (`rollout.max_rows_in_flight`,
/// `rollout.kv_budget_tokens`, `rollout.cuda_graphs` in a run config).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RolloutBudget {
    /// At most this many sequences decode at once; 0 = no limit of its own.
    pub max_rows_in_flight: usize,
    /// At most this many KV-cache positions (rows × (longest prompt + new
    /// tokens)) at once; 0 = derived from the device's free memory.
    pub kv_budget_tokens: usize,
    /// Replay the decode step from CUDA graphs (CUDA only; ignored on the CPU).
    pub cuda_graphs: bool,
}

impl Default for RolloutBudget {
    fn default() -> Self {
        Self { max_rows_in_flight: 0, kv_budget_tokens: 0, cuda_graphs: true }
    }
}

/// Fraction of the available memory the derived KV budget may take: the rest
/// stays for the training step's activations, gradients and fragmentation.
const CUDA_SHARE: f64 = 0.8;
/// On the CPU the same memory also holds the process's other data and other
/// processes': stay well below the available memory.
const CPU_SHARE: f64 = 0.25;
/// Bytes of the per-row temporaries of one sampling step, per vocabulary
/// entry: f32 logits and log-probs, their exp, and the f64 CDF.
const SAMPLING_BYTES_PER_VOCAB: usize = 4 + 4 + 4 + 8;

impl RolloutBudget {
    /// Rows to decode at once, `1..=rows_wanted`, for slots of `capacity`
    /// positions of `cfg` in `kind` on `device`.
    pub fn rows_in_flight(
        &self,
        rows_wanted: usize,
        capacity: usize,
        cfg: &Qwen2Config,
        kind: Kind,
        device: Device,
    ) -> usize {
        let mut rows = rows_wanted.max(1);
        if self.max_rows_in_flight > 0 {
            rows = rows.min(self.max_rows_in_flight);
        }
        let capacity = capacity.max(1);
        if self.kv_budget_tokens > 0 {
            rows = rows.min(self.kv_budget_tokens / capacity);
        } else if let Some(bytes) = available_bytes(device) {
            let per_row = capacity * SlotCache::bytes_per_position(cfg, kind)
                + cfg.vocab_size * SAMPLING_BYTES_PER_VOCAB;
            rows = rows.min((bytes / per_row as u64) as usize);
        }
        rows.max(1)
    }
}

/// The share of `device`'s memory a derived budget may use (None: unknown,
/// then only the explicit limits apply).
fn available_bytes(device: Device) -> Option<u64> {
    match device {
        Device::Cuda(i) => {
            tz_cuda_graph::device_memory(i).ok().map(|m| (m.available() as f64 * CUDA_SHARE) as u64)
        }
        _ => mem_available_bytes().map(|b| (b as f64 * CPU_SHARE) as u64),
    }
}

/// `MemAvailable` of /proc/meminfo.
fn mem_available_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_limits_bound_the_rows_and_never_go_below_one() {
        let cfg = crate::presets::tiny_config();
        let rows = |b: RolloutBudget, wanted| b.rows_in_flight(wanted, 100, &cfg, Kind::Float, Device::Cpu);
        let budget = |rows, tokens| RolloutBudget {
            max_rows_in_flight: rows,
            kv_budget_tokens: tokens,
            ..Default::default()
        };
        assert_eq!(rows(budget(8, 0), 64), 8);
        assert_eq!(rows(budget(0, 1_000), 64), 10);
        assert_eq!(rows(budget(4, 1_000), 64), 4);
        assert_eq!(rows(budget(0, 50), 64), 1, "a budget below one row still decodes one");
        assert_eq!(rows(budget(100, 1_000_000), 3), 3);
        // Derived: the tiny model's few rows always fit a CPU machine.
        assert_eq!(rows(RolloutBudget::default(), 16), 16);
    }
}
