//! Compiles src/shim.cpp against the PyTorch wheel's headers, the way
//! torch-sys compiles its own C API, when libtorch has CUDA (libtorch_cuda.so)
//! and the CUDA runtime headers are there (the wheel's `nvidia-cuda-runtime`
//! plus `nvidia-cuda-crt`; scripts/setup.sh installs both). Otherwise nothing
//! is compiled and the crate reports graphs as unavailable: no GPU is needed
//! to build either way.
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=src/shim.cpp");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-env-changed=TZ_CUDA_INCLUDE");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    println!("cargo:rustc-check-cfg=cfg(tz_cuda_graph)");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        println!(
            "cargo:warning=DEP_TCH_LIBTORCH_LIB is not set (run scripts/setup.sh): CUDA graphs left out"
        );
        return;
    };
    let lib = std::fs::canonicalize(&lib).unwrap_or_else(|_| PathBuf::from(&lib));
    if !lib.join("libtorch_cuda.so").exists() {
        return; // a CPU-only libtorch: nothing to capture on
    }
    let Some(cuda_include) = cuda_include(&lib) else {
        println!(
            "cargo:warning=libtorch has CUDA but no CUDA runtime headers were found (crt/host_defines.h): \
             CUDA graphs left out; run scripts/setup.sh (pip nvidia-cuda-crt) or set TZ_CUDA_INCLUDE"
        );
        return;
    };
    let torch_include = lib.join("../include");
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    cc::Build::new()
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(&torch_include)
        .include(torch_include.join("torch/csrc/api/include"))
        .include(&cuda_include)
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        // Speculative devirtualisation would inline c10's CUDA allocator
        // methods here, and with them direct calls into the CUDA runtime,
        // which binaries do not link (they reach it through libtorch_cuda).
        .flag("-fno-devirtualize-speculatively")
        .file("src/shim.cpp")
        .compile("tz_cuda_graph_shim");
    println!("cargo:rustc-link-search=native={}", lib.display());
    // For this crate's own test binary (dependents get theirs from
    // build-support/link_libtorch.rs).
    println!("cargo:rustc-link-arg=-Wl,-rpath={}", lib.display());
    for name in ["torch_cuda", "c10_cuda", "c10"] {
        println!("cargo:rustc-link-lib=dylib={name}");
    }
    println!("cargo:rustc-cfg=tz_cuda_graph");
}

/// `TZ_CUDA_INCLUDE`, else the wheel's `nvidia/cu13/include` (CUDA 13
/// layout) or `nvidia/cuda_runtime/include` (CUDA 12), else /usr/local/cuda.
fn cuda_include(torch_lib: &Path) -> Option<PathBuf> {
    let usable =
        |dir: &Path| dir.join("cuda_runtime_api.h").exists() && dir.join("crt/host_defines.h").exists();
    if let Ok(dir) = std::env::var("TZ_CUDA_INCLUDE") {
        return Some(PathBuf::from(dir)).filter(|d| usable(d));
    }
    let site_packages = torch_lib.join("../..");
    [
        site_packages.join("nvidia/cu13/include"),
        site_packages.join("nvidia/cuda_runtime/include"),
        PathBuf::from("/usr/local/cuda/include"),
    ]
    .into_iter()
    .find(|d| usable(d))
}
