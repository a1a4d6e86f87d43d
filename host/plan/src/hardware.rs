//! The device a plan is checked against, and the fixed memory a process
//! holds on it before any tensor.
//!
//! Capacities are totals as CUDA reports them for the 80 GB / 141 GB parts
//! (what PyTorch prints as "total capacity"). The runtime overheads are
//! assumptions, stated where the plan prints them: on CUDA the context,
//! cuBLAS workspaces and loaded kernels (about 1 GiB per process); on the CPU
//! libtorch's resident code and data, measured by `scripts/bench_memory.sh`
//! (the `baseline` row).

use serde::Serialize;

use crate::error::PlanError;
use crate::run::DeviceKind;

const GIB: f64 = (1u64 << 30) as f64;

/// Memory of one device.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hardware {
    /// `H100 80 GB`, `24 GiB GPU`, `CPU`.
    pub name: String,
    pub kind: DeviceKind,
    pub capacity: u64,
}

/// What a process holds on a device before allocating tensors.
pub fn runtime_overhead(kind: DeviceKind) -> u64 {
    match kind {
        DeviceKind::Cuda => GIB as u64,
        // VmHWM of a process that loaded libtorch and ran one small op
        // (scripts/bench_memory.sh, `baseline`): about 0.35 GiB.
        DeviceKind::Cpu => (0.35 * GIB) as u64,
    }
}

impl Hardware {
    pub fn h100() -> Hardware {
        Hardware { name: "H100 80 GB".into(), kind: DeviceKind::Cuda, capacity: (79.1 * GIB) as u64 }
    }

    pub fn h200() -> Hardware {
        Hardware { name: "H200 141 GB".into(), kind: DeviceKind::Cuda, capacity: (139.8 * GIB) as u64 }
    }

    pub fn cpu(capacity: u64) -> Hardware {
        Hardware { name: "CPU".into(), kind: DeviceKind::Cpu, capacity }
    }

    /// `h100`, `h200`, or a GPU size in GiB (`24`, `40.5`).
    pub fn parse_gpu(spec: &str) -> Result<Hardware, PlanError> {
        match spec.trim().to_ascii_lowercase().as_str() {
            "h100" => Ok(Hardware::h100()),
            "h200" => Ok(Hardware::h200()),
            s => match s.trim_end_matches("gib").trim().parse::<f64>() {
                Ok(gib) if gib.is_finite() && gib > 0.0 && gib < 1e6 => Ok(Hardware {
                    name: format!("{gib} GiB GPU"),
                    kind: DeviceKind::Cuda,
                    capacity: (gib * GIB) as u64,
                }),
                _ => Err(PlanError::BadGpu(spec.into())),
            },
        }
    }
}

/// The intended hardware a config states in its header comment:
/// `# Hardware: 2 × H100 80 GB` (also `x`, and H200 141 GB).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatedHardware {
    pub count: u64,
    pub gpu: Hardware,
    /// The line as written, for messages.
    pub line: String,
}

/// Finds and parses the `# hardware:` line of a config's text (`N × GPU`,
/// after `tzhost:` when the line first names the seed's hardware); `Ok(None)`
/// when there is none, an error naming the line when it cannot be read.
pub fn stated_hardware(config_text: &str) -> Result<Option<StatedHardware>, PlanError> {
    let Some(line) = config_text.lines().map(str::trim).find(|l| {
        l.strip_prefix('#')
            .map(str::trim_start)
            .is_some_and(|r| r.to_ascii_lowercase().starts_with("hardware:"))
    }) else {
        return Ok(None);
    };
    let bad = || {
        PlanError::BadRun(format!(
            "cannot read '{line}': write e.g. '# hardware: 2 × H100 80 GB' (or '# hardware: <the seed's>; tzhost: 2 × H100 80 GB')"
        ))
    };
    let rest = line.trim_start_matches('#').trim_start()["hardware:".len()..].trim();
    // A line may first say what the seed ran on, then what tzhost needs.
    let rest = rest.split_once("tzhost:").map_or(rest, |(_, ours)| ours.trim());
    let (count, gpu) = rest.split_once(['×', 'x', 'X']).ok_or_else(bad)?;
    let count: u64 = count.trim().parse().map_err(|_| bad())?;
    let name = gpu.split_whitespace().next().ok_or_else(bad)?;
    let gpu = match name.to_ascii_lowercase().as_str() {
        "h100" => Hardware::h100(),
        "h200" => Hardware::h200(),
        _ => return Err(bad()),
    };
    if count == 0 {
        return Err(bad());
    }
    Ok(Some(StatedHardware { count, gpu, line: line.to_string() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpu_names_and_sizes_parse() {
        assert_eq!(Hardware::parse_gpu("H100").unwrap(), Hardware::h100());
        assert_eq!(Hardware::parse_gpu("24").unwrap().capacity, 24 << 30);
        assert_eq!(Hardware::parse_gpu("40.5GiB").unwrap().capacity, (40.5 * GIB) as u64);
        assert!(Hardware::parse_gpu("a100-ish").is_err());
        assert!(Hardware::parse_gpu("-3").is_err());
    }

    #[test]
    fn the_header_hardware_line_is_found_and_read() {
        let text = "# A run.\n# Hardware: 2 × H100 80 GB\n\n[model]\n";
        let hw = stated_hardware(text).unwrap().unwrap();
        assert_eq!((hw.count, hw.gpu.name.as_str()), (2, "H100 80 GB"));
        assert_eq!(stated_hardware("# hardware: 1 x H200 141 GB").unwrap().unwrap().gpu, Hardware::h200());
        assert_eq!(stated_hardware("[model]\n").unwrap(), None);
        let err = stated_hardware("# Hardware: a lot of GPUs").unwrap_err();
        assert!(err.to_string().contains("'# Hardware: a lot of GPUs'"), "{err}");
    }
}
