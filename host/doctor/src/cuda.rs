//! CUDA: whether this binary links libtorch_cuda, whether the library was
//! really loaded (`/proc/self/maps`; the linker drops it under `--as-needed`
//! and CUDA is then silently unavailable), the devices libtorch sees and
//! their memory (from nvidia-smi when present).

use std::path::Path;
use std::process::Command;

use tch::{Cuda, Device, Kind, Tensor};

use super::{mapped, Check};
use tz_core::device::LINKS_LIBTORCH_CUDA;

/// One GPU as nvidia-smi reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Gpu {
    pub index: usize,
    pub name: String,
    pub memory_total_mib: u64,
    pub memory_used_mib: u64,
}

/// GPUs per `nvidia-smi` (None when nvidia-smi is missing or fails).
pub fn nvidia_smi() -> Option<Vec<Gpu>> {
    let out = Command::new("nvidia-smi")
        .args(["--query-gpu=index,name,memory.total,memory.used", "--format=csv,noheader,nounits"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(parse_nvidia_smi(&String::from_utf8_lossy(&out.stdout)))
}

pub fn parse_nvidia_smi(text: &str) -> Vec<Gpu> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            if f.len() < 4 {
                return None;
            }
            Some(Gpu {
                index: f[0].parse().ok()?,
                name: f[1].to_string(),
                memory_total_mib: f[2].parse().unwrap_or(0),
                memory_used_mib: f[3].parse().unwrap_or(0),
            })
        })
        .collect()
}

/// Whether the machine has NVIDIA GPUs, by the driver's /proc entries or nvidia-smi.
fn gpus_present(smi: &Option<Vec<Gpu>>) -> bool {
    let proc_gpus = std::fs::read_dir("/proc/driver/nvidia/gpus").map(|d| d.count() > 0).unwrap_or(false);
    proc_gpus || smi.as_ref().is_some_and(|g| !g.is_empty())
}

/// The CUDA version a PyTorch build was made for (`cuda: Optional[str] = '13.0'` in version.py).
pub fn torch_cuda_version(lib_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(lib_dir.parent()?.join("version.py")).ok()?;
    let line = text.lines().find(|l| l.trim_start().starts_with("cuda"))?;
    let v = line.split('=').nth(1)?.trim().trim_matches(['\'', '"']);
    (v != "None" && !v.is_empty()).then(|| v.to_string())
}

/// `requested`: the `--device` the user wants to train on (a CUDA device
/// that is not usable is then a failure, not a skip).
pub fn check(requested: Option<&str>) -> Vec<Check> {
    let mut out = Vec::new();
    let smi = nvidia_smi();
    let present = gpus_present(&smi);
    let wants_cuda = requested.is_some_and(|d| d.starts_with("cuda"));
    let loaded = mapped("libtorch_cuda.so");
    let build_cuda = mapped("libtorch_cpu.so").and_then(|p| p.parent().and_then(torch_cuda_version));
    let fix_cpu_build = "install the CUDA build of PyTorch 2.11.0 into the venv (e.g. pip install torch==2.11.0 \
                         --index-url https://download.pytorch.org/whl/cu128), then cargo build --release --workspace";
    match (LINKS_LIBTORCH_CUDA, &loaded) {
        (true, Some(p)) => out.push(Check::ok(
            "cuda library",
            format!(
                "libtorch_cuda linked and loaded ({}{})",
                p.display(),
                build_cuda.as_deref().map(|v| format!(", built for CUDA {v}")).unwrap_or_default()
            ),
        )),
        (true, None) => out.push(Check::fail(
            "cuda library",
            "this tzhost was linked against libtorch_cuda but the library is not loaded",
            "rebuild (cargo build --release --workspace); the crate's build script must link with \
             -Wl,--no-as-needed (build-support/link_libtorch.rs)",
        )),
        (false, _) if present || wants_cuda => out.push(Check::fail(
            "cuda library",
            "this tzhost links a CPU-only libtorch (no libtorch_cuda.so at build time)",
            fix_cpu_build,
        )),
        (false, _) => {
            out.push(Check::skip("cuda library", "CPU-only libtorch (no GPU on this machine either)"))
        }
    }
    let available = LINKS_LIBTORCH_CUDA && Cuda::is_available();
    if available {
        let n = Cuda::device_count() as usize;
        let names: Vec<String> = match &smi {
            Some(gpus) => gpus
                .iter()
                .map(|g| {
                    format!(
                        "cuda:{} {} ({} MiB, {} MiB used)",
                        g.index, g.name, g.memory_total_mib, g.memory_used_mib
                    )
                })
                .collect(),
            None => (0..n).map(|i| format!("cuda:{i}")).collect(),
        };
        let cudnn = if Cuda::cudnn_is_available() { "cuDNN available" } else { "no cuDNN" };
        out.push(Check::ok("cuda devices", format!("{n} visible: {}; {cudnn}", names.join(", "))));
        if smi.is_none() {
            out.push(Check::skip("gpu memory", "nvidia-smi not found, memory not reported"));
        }
        let op = std::panic::catch_unwind(|| {
            Tensor::ones([1024], (Kind::Float, Device::Cuda(0))).sum(Kind::Float).double_value(&[])
        });
        match op {
            Ok(s) if (s - 1024.0).abs() < 1e-3 => {
                out.push(Check::ok("cuda ops", "a tensor sum on cuda:0 works"))
            }
            _ => out.push(Check::fail(
                "cuda ops",
                "a tensor operation on cuda:0 failed",
                "check nvidia-smi; the driver must support the CUDA version of the torch build",
            )),
        }
        out.push(if tz_core::rollout::CUDA_GRAPHS_BUILT_IN {
            Check::ok("cuda graphs", "the rollout engine replays its decode step from CUDA graphs")
        } else {
            Check::warn(
                "cuda graphs",
                "not built in (no CUDA headers at build time): decoding runs eagerly",
                "install nvidia-cuda-crt into the venv (scripts/setup.sh), then cargo build --release --workspace",
            )
        });
        if let Some(spec) = requested {
            if let Err(e) = tz_core::device::parse_device(spec) {
                out.push(Check::fail(
                    "device",
                    format!("{e:#}"),
                    format!("use one of cpu, cuda:0..cuda:{}", n - 1),
                ));
            }
        }
    } else if LINKS_LIBTORCH_CUDA && present {
        let smi_names = smi
            .as_ref()
            .map(|g| g.iter().map(|g| g.name.clone()).collect::<Vec<_>>().join(", "))
            .unwrap_or_else(|| "an NVIDIA GPU".into());
        let needs =
            build_cuda.map(|v| format!(" (the torch build needs a driver for CUDA {v})")).unwrap_or_default();
        out.push(Check::fail(
            "cuda devices",
            format!("{smi_names} present, but libtorch sees no usable CUDA device"),
            format!("check that nvidia-smi works, update the driver{needs}, and that CUDA_VISIBLE_DEVICES is not empty"),
        ));
    } else if wants_cuda {
        out.push(Check::fail(
            "cuda devices",
            format!("--device {} asked for, but this machine has no GPU", requested.unwrap_or("cuda")),
            "train with --device cpu (or auto), or run on a machine with an NVIDIA GPU",
        ));
    } else {
        out.push(Check::skip("cuda devices", "no GPU on this machine; training runs on the CPU"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvidia_smi_csv_is_parsed() {
        let gpus = parse_nvidia_smi(
            "0, NVIDIA H100 80GB HBM3, 81559, 512\n1, NVIDIA H100 80GB HBM3, 81559, 0\nbad line\n",
        );
        assert_eq!(gpus.len(), 2);
        assert_eq!(
            gpus[0],
            Gpu {
                index: 0,
                name: "NVIDIA H100 80GB HBM3".into(),
                memory_total_mib: 81559,
                memory_used_mib: 512
            }
        );
    }

    #[test]
    fn the_cuda_version_of_a_torch_build_is_read_from_version_py() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("lib");
        std::fs::create_dir_all(&lib).unwrap();
        std::fs::write(
            dir.path().join("version.py"),
            "__version__ = '2.11.0+cu130'\ncuda: Optional[str] = '13.0'\n",
        )
        .unwrap();
        assert_eq!(torch_cuda_version(&lib).as_deref(), Some("13.0"));
        std::fs::write(
            dir.path().join("version.py"),
            "__version__ = '2.11.0+cpu'\ncuda: Optional[str] = None\n",
        )
        .unwrap();
        assert_eq!(torch_cuda_version(&lib), None);
    }
}
