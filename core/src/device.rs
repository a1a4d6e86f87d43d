//! Choosing the libtorch device (with no silent CPU fallback) and dtype, and
//! seeding libtorch's own generator.

use tch::{Cuda, Device, Kind};

use crate::error::{bail, CoreError, Result};

/// Parses `auto`, `cpu`, `cuda` or `cuda:N`. `auto` takes the first GPU when
/// one is usable; asking for CUDA where none is usable is an error rather
/// than a silent fallback to the CPU.
pub fn parse_device(spec: &str) -> Result<Device> {
    let device = match spec {
        "auto" => return Ok(Device::cuda_if_available()),
        "cpu" => Device::Cpu,
        "cuda" => Device::Cuda(0),
        s => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(i)) => Device::Cuda(i),
            _ => bail!("--device '{spec}' is not one of auto, cpu, cuda, cuda:N"),
        },
    };
    if let Device::Cuda(i) = device {
        if !Cuda::is_available() {
            bail!("--device {spec}: CUDA is not available (no GPU or driver found by libtorch)");
        }
        let n = Cuda::device_count() as usize;
        if i >= n {
            bail!("--device {spec}: only {n} CUDA device(s) present");
        }
    }
    Ok(device)
}

/// `f32` or `bf16` (also `float32`, `bfloat16`).
pub fn parse_dtype(name: &str) -> Result<Kind> {
    match name {
        "f32" | "float32" => Ok(Kind::Float),
        "bf16" | "bfloat16" => Ok(Kind::BFloat16),
        other => bail!("model.dtype '{other}' is not one of f32, bf16"),
    }
}

/// Seeds libtorch's global generator (weight init of fresh heads; sampling
/// and shuffles use their own seeded generators).
pub fn manual_seed(seed: u64) {
    tch::manual_seed(seed as i64);
}

/// libtorch's intra-op threads for this process (a data-parallel rank on
/// the CPU gets its share of the cores).
pub fn set_threads(n: usize) {
    tch::set_num_threads(n.max(1) as i32);
}

/// A second model's device (`model.ref_device`, ...): `spec`, or `default`
/// when `spec` is empty. Errors name `key`.
pub fn parse_device_or(key: &str, spec: &str, default: Device) -> Result<Device> {
    if spec.is_empty() {
        return Ok(default);
    }
    parse_device(spec).map_err(|e| CoreError::Invalid(format!("{key}: {e}")))
}

/// Whether this binary links libtorch_cuda (see build-support/link_libtorch.rs).
pub const LINKS_LIBTORCH_CUDA: bool = cfg!(tz_libtorch_cuda);
