//! Runs the decode step eagerly, or on CUDA from one captured graph per
//! batch-size bucket.
//!
//! Eager decoding of a small model is bound by kernel launches (hundreds per
//! step, rust-facts §12.4); a graph replays the whole step in one launch.
//! The first step of a bucket runs eagerly; the second runs eagerly on the
//! graph's capture stream (a warm-up whose result is real: cuBLAS and the
//! allocator set up their per-stream state outside the capture), then the
//! same step is captured (nothing runs) and later steps of that bucket are
//! replays. All buckets
//! share one private memory pool; they never run at the same time.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use tch::Device;
use tz_cuda_graph::CudaGraph;

use super::decode_state::DecodeState;
use crate::error::CoreError;
use crate::model::Qwen2;
use crate::sampling::SamplingParams;

/// What the CUDA-graph path did since the process started (benchmarks and
/// the device check report it: a capture that failed falls back to eager
/// decoding with only a log line).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GraphStats {
    pub captures: u64,
    pub replays: u64,
    pub failed_captures: u64,
}

static CAPTURES: AtomicU64 = AtomicU64::new(0);
static REPLAYS: AtomicU64 = AtomicU64::new(0);
static FAILED_CAPTURES: AtomicU64 = AtomicU64::new(0);

pub fn graph_stats() -> GraphStats {
    GraphStats {
        captures: CAPTURES.load(Ordering::Relaxed),
        replays: REPLAYS.load(Ordering::Relaxed),
        failed_captures: FAILED_CAPTURES.load(Ordering::Relaxed),
    }
}

pub(super) enum StepRunner {
    Eager,
    Graphs {
        device: usize,
        graphs: BTreeMap<i64, CudaGraph>,
        /// Eager steps per bucket so far: a bucket is captured on its second
        /// step, so a batch size that occurs once (the tail of a rollout)
        /// costs no capture.
        eager_steps: BTreeMap<i64, u32>,
    },
}

impl StepRunner {
    /// Graphs on a CUDA device when asked for and built in; else eager.
    pub fn new(device: Device, cuda_graphs: bool) -> Self {
        match device {
            Device::Cuda(i) if cuda_graphs && tz_cuda_graph::AVAILABLE => {
                StepRunner::Graphs { device: i, graphs: BTreeMap::new(), eager_steps: BTreeMap::new() }
            }
            _ => StepRunner::Eager,
        }
    }

    /// Whether batch sizes should come in a few fixed buckets (one graph each).
    pub fn uses_buckets(&self) -> bool {
        matches!(self, StepRunner::Graphs { .. })
    }

    /// One step over the first `rows` slots of `state`.
    pub fn step(
        &mut self,
        state: &mut DecodeState,
        model: &Qwen2,
        params: &SamplingParams,
        rows: i64,
    ) -> crate::Result<()> {
        let StepRunner::Graphs { device, graphs, eager_steps } = self else {
            state.step(model, params, rows);
            return Ok(());
        };
        if let Some(graph) = graphs.get(&rows) {
            graph
                .replay()
                .map_err(|e| CoreError::Invalid(format!("replaying the {rows}-row decode step: {e}")))?;
            REPLAYS.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let seen = eager_steps.entry(rows).or_insert(0);
        *seen += 1;
        if *seen < 2 {
            state.step(model, params, rows);
            return Ok(());
        }
        let mut warmed_up = false;
        match capture(*device, graphs.values().next(), state, model, params, rows, &mut warmed_up) {
            Ok(graph) => {
                CAPTURES.fetch_add(1, Ordering::Relaxed);
                graphs.insert(rows, graph);
            }
            Err(e) => {
                FAILED_CAPTURES.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    "CUDA graph capture of the {rows}-row decode step failed ({e}); decoding eagerly"
                );
                *self = StepRunner::Eager;
                if !warmed_up {
                    state.step(model, params, rows);
                }
            }
        }
        Ok(())
    }
}

/// Runs the step once on the capture stream (`warmed_up` says it ran: its
/// result stands), then captures it.
fn capture(
    device: usize,
    pool: Option<&CudaGraph>,
    state: &mut DecodeState,
    model: &Qwen2,
    params: &SamplingParams,
    rows: i64,
    warmed_up: &mut bool,
) -> tz_cuda_graph::Result<CudaGraph> {
    let mut graph = CudaGraph::new(device)?;
    graph.run_on_capture_stream(|| {
        state.step(model, params, rows);
        *warmed_up = true;
    })?;
    graph.capture(pool, || state.step(model, params, rows))?;
    Ok(graph)
}
