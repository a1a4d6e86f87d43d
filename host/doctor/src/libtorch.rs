//! libtorch: which library this process loaded, its version, and whether a
//! tensor operation runs.

use std::path::{Path, PathBuf};

use super::{mapped, Check};

/// The PyTorch release tch 0.24 is built for.
pub const EXPECTED_TORCH: &str = "2.11.0";

const FIX_SETUP: &str = "run scripts/setup.sh (it installs torch 2.11.0 into the shared venv), then cargo build --release --workspace";

pub fn check() -> Vec<Check> {
    let mut out = Vec::new();
    // A tensor op first: it also makes sure libtorch is mapped.
    let sum = std::panic::catch_unwind(|| {
        tch::Tensor::from_slice(&[1.0f32, 2.0, 3.0]).sum(tch::Kind::Float).double_value(&[])
    });
    let lib = mapped("libtorch_cpu.so");
    match &lib {
        Some(path) => {
            let dir = path.parent().unwrap_or(Path::new("/"));
            match torch_version(dir) {
                Some(v) if v.split('+').next() == Some(EXPECTED_TORCH) => {
                    out.push(Check::ok("libtorch", format!("{v} at {}", dir.display())))
                }
                Some(v) => out.push(Check::fail(
                    "libtorch",
                    format!("{v} at {}, but tch 0.24 needs {EXPECTED_TORCH}", dir.display()),
                    FIX_SETUP,
                )),
                None => out.push(Check::warn(
                    "libtorch",
                    format!(
                        "found at {}, version unknown (no version.py or build-version beside it)",
                        dir.display()
                    ),
                    format!("make sure it is PyTorch {EXPECTED_TORCH}; {FIX_SETUP}"),
                )),
            }
        }
        None => out.push(Check::fail("libtorch", "libtorch_cpu.so is not loaded in this process", FIX_SETUP)),
    }
    match sum {
        Ok(s) if (s - 6.0).abs() < 1e-6 => out.push(Check::ok(
            "libtorch ops",
            format!("a CPU tensor sum works ({} intra-op threads)", tch::get_num_threads()),
        )),
        Ok(s) => out.push(Check::fail("libtorch ops", format!("1+2+3 gave {s}"), FIX_SETUP)),
        Err(_) => out.push(Check::fail("libtorch ops", "a CPU tensor sum failed", FIX_SETUP)),
    }
    out
}

/// The version of the libtorch in `lib_dir`: PyTorch's `torch/version.py`
/// (`__version__ = '2.11.0+cpu'`) or a standalone libtorch's `build-version`.
pub fn torch_version(lib_dir: &Path) -> Option<String> {
    let root = lib_dir.parent()?;
    let candidates: [PathBuf; 2] = [root.join("version.py"), root.join("build-version")];
    for c in candidates {
        let Ok(text) = std::fs::read_to_string(&c) else { continue };
        if c.ends_with("build-version") {
            return text.lines().next().map(|l| l.trim().to_string()).filter(|s| !s.is_empty());
        }
        for line in text.lines() {
            if let Some(rest) = line.trim().strip_prefix("__version__") {
                let v = rest.trim_start_matches([' ', '=', ':']).trim_start_matches("str").trim();
                let v = v.trim_start_matches([' ', '=']).trim().trim_matches(['\'', '"']);
                if !v.is_empty() {
                    return Some(v.to_string());
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_pytorch_and_standalone_layouts() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("lib");
        std::fs::create_dir_all(&lib).unwrap();
        assert_eq!(torch_version(&lib), None);
        std::fs::write(dir.path().join("build-version"), "2.11.0+cu128\n").unwrap();
        assert_eq!(torch_version(&lib).as_deref(), Some("2.11.0+cu128"));
        std::fs::write(
            dir.path().join("version.py"),
            "from typing import Optional\n__version__ = '2.11.0+cpu'\ndebug = False\n",
        )
        .unwrap();
        assert_eq!(torch_version(&lib).as_deref(), Some("2.11.0+cpu"));
        std::fs::write(dir.path().join("version.py"), "__version__: str = '2.10.0'\n").unwrap();
        assert_eq!(torch_version(&lib).as_deref(), Some("2.10.0"));
    }

    #[test]
    fn this_process_has_a_working_libtorch() {
        let checks = check();
        assert!(
            checks.iter().any(|c| c.name == "libtorch ops" && c.status == super::super::Status::Ok),
            "{checks:?}"
        );
        let lib = checks.iter().find(|c| c.name == "libtorch").unwrap();
        assert!(lib.detail.contains(EXPECTED_TORCH), "{lib}");
    }
}
