//! [`World`]: this process's view of the job, and the collectives.
//!
//! A single process (no launcher variables) gets [`World::single`], whose
//! collectives are identities, so code written against a `World` runs
//! unchanged without a launcher. A launched process joins one c10d process
//! group: Gloo for CPU tensors, NCCL for CUDA tensors.
//!
//! Every collective must be called by every rank, in the same order, with
//! tensors of the same kinds and sizes (c10d's contract). All calls block
//! until the operation has completed here; a peer that died, or that does
//! not join within the timeout, turns into a [`DistError::Collective`]
//! instead of a hang.

use std::ffi::CString;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tch::{Device, Kind, Tensor};

use crate::env::LaunchEnv;
use crate::ffi::{self, ConfigStrings, Group, RawConfig};
use crate::DistError;

/// The c10d backend of a process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// CPU tensors, over TCP.
    Gloo,
    /// CUDA tensors, one GPU per rank.
    Nccl,
}

impl Backend {
    /// The backend for tensors on `device`.
    pub fn for_device(device: Device) -> Backend {
        match device {
            Device::Cuda(_) => Backend::Nccl,
            _ => Backend::Gloo,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Gloo => "gloo",
            Backend::Nccl => "nccl",
        }
    }

    /// Whether this build can create it (NCCL needs libtorch with CUDA and
    /// the CUDA/NCCL headers at build time).
    pub fn available(self) -> bool {
        match self {
            Backend::Gloo => true,
            Backend::Nccl => ffi::has_nccl(),
        }
    }
}

/// Element-wise reductions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReduceOp {
    Sum,
    Min,
    Max,
}

impl ReduceOp {
    fn raw(self) -> i32 {
        match self {
            ReduceOp::Sum => 0,
            ReduceOp::Min => 1,
            ReduceOp::Max => 2,
        }
    }
}

/// How to join a launched job.
#[derive(Debug, Clone, PartialEq)]
pub struct InitOptions {
    /// The device this rank trains on; its kind picks the backend (CUDA:
    /// NCCL on that GPU, else Gloo). Collective tensors live there.
    pub device: Device,
    /// Joining, and every collective, fails after this long without progress.
    pub timeout: Duration,
    /// Bucket size of [`World::all_reduce`] and [`World::broadcast`].
    pub bucket_bytes: usize,
}

/// PyTorch DDP's default bucket (25 MiB).
pub const DEFAULT_BUCKET_BYTES: usize = 25 << 20;

impl Default for InitOptions {
    fn default() -> Self {
        // PyTorch's default process-group timeout.
        InitOptions {
            device: Device::Cpu,
            timeout: Duration::from_secs(30 * 60),
            bucket_bytes: DEFAULT_BUCKET_BYTES,
        }
    }
}

/// The ranks of a job and the collectives between them. Cloning shares the
/// process group.
#[derive(Clone)]
pub struct World {
    group: Option<Arc<Group>>,
    backend: Backend,
    rank: usize,
    size: usize,
    local_rank: usize,
    local_size: usize,
    device: Device,
    bucket_bytes: usize,
    timeout: std::time::Duration,
    /// Nanoseconds spent inside collectives (waiting for peers included),
    /// shared by clones.
    busy_ns: Arc<AtomicU64>,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("backend", &self.group.as_ref().map(|_| self.backend.name()))
            .field("rank", &self.rank)
            .field("size", &self.size)
            .field("local_rank", &self.local_rank)
            .field("device", &self.device)
            .finish()
    }
}

impl World {
    /// One process, no launcher: every collective is the identity.
    pub fn single() -> World {
        World {
            group: None,
            backend: Backend::Gloo,
            rank: 0,
            size: 1,
            local_rank: 0,
            local_size: 1,
            device: Device::Cpu,
            bucket_bytes: DEFAULT_BUCKET_BYTES,
            timeout: InitOptions::default().timeout,
            busy_ns: Arc::default(),
        }
    }

    /// Joins the job described by the launcher's variables, or returns
    /// [`World::single`] when there are none.
    pub fn from_env(options: &InitOptions) -> Result<World, DistError> {
        match LaunchEnv::from_env()? {
            Some(env) => World::init(&env, options),
            None => Ok(World::single()),
        }
    }

    /// Joins the job `env` describes (a process group even for one rank).
    pub fn init(env: &LaunchEnv, options: &InitOptions) -> Result<World, DistError> {
        let backend = Backend::for_device(options.device);
        let store = format!("{}:{}", env.master_addr, env.master_port);
        let init_error = |message: String| DistError::Init {
            rank: env.rank,
            world: env.world_size,
            backend: backend.name(),
            store: store.clone(),
            message,
        };
        let c_string =
            |s: &str| CString::new(s).map_err(|_| init_error(format!("'{s}' contains a NUL byte")));
        let loopback = ["127.0.0.1", "localhost", "::1"].contains(&env.master_addr.as_str())
            || env.master_addr.starts_with("127.");
        let strings = ConfigStrings {
            host: c_string(&env.master_addr)?,
            prefix: c_string("tinyzero/")?,
            interface: env.gloo_socket_ifname.as_deref().map(c_string).transpose()?,
            // A single-machine job binds Gloo to loopback; otherwise c10d's
            // default (this host's name) or GLOO_SOCKET_IFNAME.
            hostname: loopback.then(|| c_string("127.0.0.1")).transpose()?,
        };
        let cuda_device = match options.device {
            Device::Cuda(index) => index as i32,
            _ => -1,
        };
        let config = RawConfig {
            backend: match backend {
                Backend::Gloo => 0,
                Backend::Nccl => 1,
            },
            store_host: strings.host.as_ptr(),
            store_port: i32::from(env.master_port),
            host_store: i32::from(env.hosts_store()),
            rank: env.rank as i32,
            world_size: env.world_size as i32,
            timeout_ms: options.timeout.as_millis().min(i64::MAX as u128) as i64,
            store_prefix: strings.prefix.as_ptr(),
            gloo_interface: strings.interface.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            gloo_hostname: strings.hostname.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            cuda_device,
        };
        let group = Group::new(&config).map_err(init_error)?;
        tracing::debug!(
            rank = env.rank,
            world = env.world_size,
            backend = backend.name(),
            "joined the process group"
        );
        Ok(World {
            group: Some(Arc::new(group)),
            backend,
            rank: env.rank,
            size: env.world_size,
            local_rank: env.local_rank,
            local_size: env.local_world_size,
            device: options.device,
            bucket_bytes: options.bucket_bytes.max(1),
            timeout: options.timeout,
            busy_ns: Arc::default(),
        })
    }

    pub fn rank(&self) -> usize {
        self.rank
    }

    pub fn size(&self) -> usize {
        self.size
    }

    pub fn local_rank(&self) -> usize {
        self.local_rank
    }

    pub fn local_size(&self) -> usize {
        self.local_size
    }

    pub fn is_main(&self) -> bool {
        self.rank == 0
    }

    /// True when this process is part of a process group (even of size 1).
    pub fn is_distributed(&self) -> bool {
        self.group.is_some()
    }

    /// The backend of the process group (`None` for [`World::single`]).
    pub fn backend(&self) -> Option<Backend> {
        self.group.as_ref().map(|_| self.backend)
    }

    /// Where collective tensors live (scalar helpers allocate there).
    pub fn device(&self) -> Device {
        self.device
    }

    /// Seconds this process has spent inside collectives so far (the
    /// communication share of a step, waiting for slower peers included).
    pub fn collective_seconds(&self) -> f64 {
        self.busy_ns.load(Ordering::Relaxed) as f64 * 1e-9
    }

    fn timed<R>(&self, f: impl FnOnce() -> R) -> R {
        let t0 = Instant::now();
        let out = f();
        self.busy_ns.fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
        out
    }

    fn failed(&self, op: &'static str) -> impl Fn(String) -> DistError + '_ {
        move |mut message| {
            let lower = message.to_lowercase();
            if lower.contains("timed out") {
                message +=
                    &format!(" (no progress within the {:?} timeout: a peer stalled or died)", self.timeout);
            } else if ["connection reset", "connection closed", "broken pipe"]
                .iter()
                .any(|m| lower.contains(m))
            {
                message += " (a peer process died; the launcher's report names its rank)";
            }
            DistError::Collective { op, rank: self.rank, world: self.size, message }
        }
    }

    fn usage(&self, op: &'static str, problem: String) -> DistError {
        DistError::Usage { op, rank: self.rank, world: self.size, problem }
    }

    /// Reduces `tensors` element-wise across ranks, in place, in buckets of
    /// at most `bucket_bytes` (one collective per bucket).
    pub fn all_reduce(&self, tensors: &[Tensor], op: ReduceOp) -> Result<(), DistError> {
        let Some(group) = &self.group else { return Ok(()) };
        let _no_grad = tch::no_grad_guard();
        for bucket in buckets(tensors, self.bucket_bytes) {
            match bucket.as_slice() {
                [only] if only.is_contiguous() => self.timed(|| group.all_reduce(&[only], op.raw())),
                _ => {
                    let flat = flatten(&bucket);
                    self.timed(|| group.all_reduce(&[&flat], op.raw())).map(|()| unflatten(&flat, &bucket))
                }
            }
            .map_err(self.failed("all_reduce"))?;
        }
        Ok(())
    }

    /// Reduces plain numbers across ranks (one small collective).
    pub fn all_reduce_f64(&self, values: &mut [f64], op: ReduceOp) -> Result<(), DistError> {
        if self.group.is_none() || values.is_empty() {
            return Ok(());
        }
        let t = Tensor::from_slice(values).to_device(self.device);
        self.all_reduce(std::slice::from_ref(&t), op)?;
        let reduced = Vec::<f64>::try_from(t.to_device(Device::Cpu))
            .map_err(|e| self.usage("all_reduce_f64", e.to_string()))?;
        values.copy_from_slice(&reduced);
        Ok(())
    }

    /// Copies `root`'s `tensors` into every rank's, in place, bucketed.
    pub fn broadcast(&self, tensors: &[Tensor], root: usize) -> Result<(), DistError> {
        let Some(group) = &self.group else { return Ok(()) };
        if root >= self.size {
            return Err(self.usage("broadcast", format!("root {root} is not a rank")));
        }
        let _no_grad = tch::no_grad_guard();
        for bucket in buckets(tensors, self.bucket_bytes) {
            match bucket.as_slice() {
                [only] if only.is_contiguous() => self.timed(|| group.broadcast(&[only], root)),
                _ => {
                    let flat = flatten(&bucket);
                    self.timed(|| group.broadcast(&[&flat], root)).map(|()| {
                        if self.rank != root {
                            unflatten(&flat, &bucket)
                        }
                    })
                }
            }
            .map_err(self.failed("broadcast"))?;
        }
        Ok(())
    }

    /// Every rank's `input` (same shape everywhere), stacked: `[world, ...]`.
    pub fn all_gather(&self, input: &Tensor) -> Result<Tensor, DistError> {
        let _no_grad = tch::no_grad_guard();
        let flat_in = input.contiguous().view([-1]);
        let out = Tensor::empty([self.size as i64 * flat_in.numel() as i64], (input.kind(), input.device()));
        self.all_gather_flat(&out, &flat_in)?;
        let mut shape = vec![self.size as i64];
        shape.extend(input.size());
        Ok(out.view(shape.as_slice()))
    }

    /// `output[r·n .. (r+1)·n] = input of rank r`, with `n = input.numel()`
    /// (flat contiguous buffers; ZeRO's parameter all-gather).
    pub fn all_gather_flat(&self, output: &Tensor, input: &Tensor) -> Result<(), DistError> {
        self.check_flat("all_gather_flat", output, input, output.numel(), input.numel())?;
        let _no_grad = tch::no_grad_guard();
        match &self.group {
            None => {
                output.shallow_clone().copy_(input);
                Ok(())
            }
            Some(group) => {
                self.timed(|| group.all_gather_flat(output, input)).map_err(self.failed("all_gather_flat"))
            }
        }
    }

    /// `output = reduce over ranks of input[rank·n .. (rank+1)·n]`, with
    /// `n = output.numel()` (flat contiguous buffers; ZeRO's gradient
    /// reduce-scatter).
    pub fn reduce_scatter_flat(
        &self,
        output: &Tensor,
        input: &Tensor,
        op: ReduceOp,
    ) -> Result<(), DistError> {
        self.check_flat("reduce_scatter_flat", input, output, input.numel(), output.numel())?;
        let _no_grad = tch::no_grad_guard();
        match &self.group {
            None => {
                output.shallow_clone().copy_(input);
                Ok(())
            }
            Some(group) => self
                .timed(|| group.reduce_scatter_flat(output, input, op.raw()))
                .map_err(self.failed("reduce_scatter_flat")),
        }
    }

    /// `big` holds `world` copies of `small`'s size; both contiguous, one kind.
    fn check_flat(
        &self,
        op: &'static str,
        big: &Tensor,
        small: &Tensor,
        big_numel: usize,
        small_numel: usize,
    ) -> Result<(), DistError> {
        if big_numel != small_numel * self.size {
            return Err(
                self.usage(op, format!("{big_numel} elements is not {} ranks × {small_numel}", self.size))
            );
        }
        if big.kind() != small.kind() || !big.is_contiguous() || !small.is_contiguous() {
            return Err(self.usage(op, "buffers must be contiguous and of one kind".into()));
        }
        Ok(())
    }

    /// Returns once every rank has called it.
    pub fn barrier(&self) -> Result<(), DistError> {
        match &self.group {
            None => Ok(()),
            Some(group) => self.timed(|| group.barrier()).map_err(self.failed("barrier")),
        }
    }
}

/// Sets `param.grad` to `grad` (sharing its storage): tch has no setter, and
/// a rank whose micro-batches were all empty still joins the reduction.
pub fn set_grad(param: &Tensor, grad: &Tensor) -> Result<(), tch::TchError> {
    ffi::set_grad(param, grad).map_err(tch::TchError::Torch)
}

fn nbytes(t: &Tensor) -> usize {
    t.numel() * t.kind().elt_size_in_bytes()
}

/// Consecutive runs of one kind and device, each at most `max_bytes` (a
/// larger tensor gets a bucket of its own). Deterministic in the input order,
/// so every rank cuts the same buckets.
fn buckets(tensors: &[Tensor], max_bytes: usize) -> Vec<Vec<&Tensor>> {
    let mut out: Vec<Vec<&Tensor>> = Vec::new();
    let mut bytes = 0;
    let mut key: Option<(Kind, Device)> = None;
    for t in tensors {
        let k = (t.kind(), t.device());
        let size = nbytes(t);
        let fits = key == Some(k) && bytes + size <= max_bytes;
        if !fits {
            out.push(Vec::new());
            bytes = 0;
            key = Some(k);
        }
        out.last_mut().expect("a bucket was just pushed").push(t);
        bytes += size;
    }
    out
}

fn flatten(bucket: &[&Tensor]) -> Tensor {
    let flat: Vec<Tensor> = bucket.iter().map(|t| t.reshape([-1])).collect();
    Tensor::cat(&flat, 0)
}

fn unflatten(flat: &Tensor, bucket: &[&Tensor]) {
    let mut offset = 0;
    for t in bucket {
        let n = t.numel() as i64;
        t.shallow_clone().copy_(&flat.narrow(0, offset, n).view(t.size().as_slice()));
        offset += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_split_by_size_and_kind_in_order() {
        let f = |n: i64| Tensor::zeros([n], (Kind::Float, Device::Cpu));
        let d = |n: i64| Tensor::zeros([n], (Kind::Double, Device::Cpu));
        let ts = vec![f(2), f(2), f(3), d(1), f(10), f(1)];
        let sizes: Vec<Vec<usize>> =
            buckets(&ts, 16).iter().map(|b| b.iter().map(|t| t.numel()).collect()).collect();
        assert_eq!(sizes, vec![vec![2, 2], vec![3], vec![1], vec![10], vec![1]]);
    }

    #[test]
    fn a_single_world_is_the_identity() {
        let w = World::single();
        let t = Tensor::from_slice(&[1.0f32, 2.0]);
        w.all_reduce(&[t.shallow_clone()], ReduceOp::Sum).unwrap();
        w.broadcast(&[t.shallow_clone()], 0).unwrap();
        assert_eq!(Vec::<f32>::try_from(&t).unwrap(), vec![1.0, 2.0]);
        assert_eq!(w.all_gather(&t).unwrap().size(), vec![1, 2]);
        let out = Tensor::zeros([2], (Kind::Float, Device::Cpu));
        w.reduce_scatter_flat(&out, &t, ReduceOp::Sum).unwrap();
        assert_eq!(Vec::<f32>::try_from(&out).unwrap(), vec![1.0, 2.0]);
        let mut xs = [3.0, 4.0];
        w.all_reduce_f64(&mut xs, ReduceOp::Max).unwrap();
        assert_eq!(xs, [3.0, 4.0]);
        w.barrier().unwrap();
        let bad = Tensor::zeros([3], (Kind::Float, Device::Cpu));
        let err = w.all_gather_flat(&bad, &t).unwrap_err().to_string();
        assert!(err.contains("rank 0/1: all_gather_flat: 3 elements is not 1 ranks × 2"), "{err}");
    }
}
