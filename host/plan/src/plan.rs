//! The planner's answer: per device, what stays allocated for the whole run
//! and what each phase adds on top; the peak is the resident sum plus the
//! largest phase.

use serde::Serialize;

/// One block of memory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    pub name: String,
    pub bytes: u64,
}

impl Item {
    pub fn new(name: impl Into<String>, bytes: f64) -> Item {
        // `as` saturates: an absurd run gives u64::MAX, never a wrap-around.
        Item { name: name.into(), bytes: bytes.max(0.0).round() as u64 }
    }
}

/// What one phase of a step holds besides the resident memory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Phase {
    pub name: String,
    /// Counted in the phase's total.
    pub items: Vec<Item>,
    /// Shown for comparison, not counted (e.g. activations with the other
    /// checkpointing setting).
    pub info: Vec<Item>,
}

impl Phase {
    pub fn new(name: impl Into<String>) -> Phase {
        Phase { name: name.into(), items: Vec::new(), info: Vec::new() }
    }

    pub fn with(mut self, name: impl Into<String>, bytes: f64) -> Phase {
        self.items.push(Item::new(name, bytes));
        self
    }

    pub fn total(&self) -> u64 {
        self.items.iter().fold(0u64, |sum, i| sum.saturating_add(i.bytes))
    }
}

/// One device of one rank.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DevicePlan {
    /// `policy device`, `cpu`, `cuda:1`.
    pub name: String,
    pub resident: Vec<Item>,
    pub phases: Vec<Phase>,
}

impl DevicePlan {
    pub fn new(name: impl Into<String>) -> DevicePlan {
        DevicePlan { name: name.into(), resident: Vec::new(), phases: Vec::new() }
    }

    pub fn resident_total(&self) -> u64 {
        self.resident.iter().fold(0u64, |sum, i| sum.saturating_add(i.bytes))
    }

    /// The phase with the largest transient memory (`None` with no phases).
    pub fn peak_phase(&self) -> Option<&Phase> {
        self.phases.iter().max_by_key(|p| p.total())
    }

    /// Resident memory plus the largest phase.
    pub fn peak(&self) -> u64 {
        self.resident_total().saturating_add(self.peak_phase().map_or(0, Phase::total))
    }

    /// Resident memory plus the named phase, if there is one.
    pub fn peak_of(&self, phase: &str) -> Option<u64> {
        self.phases.iter().find(|p| p.name == phase).map(|p| self.resident_total().saturating_add(p.total()))
    }
}

/// Per-rank memory of a run. `devices[0]` is the policy's device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub devices: Vec<DevicePlan>,
}

impl Plan {
    /// The policy device of one rank.
    pub fn policy_device(&self) -> &DevicePlan {
        &self.devices[0]
    }

    /// The policy device's peak: the number to compare with a GPU's memory.
    pub fn peak(&self) -> u64 {
        self.policy_device().peak()
    }
}

/// Whether a peak fits a device, keeping a share free for the allocator's
/// fragmentation (libtorch's CUDA caching allocator rounds and splits blocks).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Fit {
    pub peak: u64,
    pub capacity: u64,
    pub fits: bool,
}

/// Share of a device's memory kept free in the verdict.
pub const HEADROOM: f64 = 0.05;

impl Fit {
    pub fn check(peak: u64, capacity: u64) -> Fit {
        Fit { peak, capacity, fits: (peak as f64) <= capacity as f64 * (1.0 - HEADROOM) }
    }
}
