//! Builds the C++ shim over c10d against the headers of the libtorch that
//! torch-sys links (the PyTorch wheel), the way torch-sys builds its own C
//! API, and links the test binaries of this crate like every other crate.
//!
//! - Gloo: `ProcessGroupGloo.hpp` includes `<gloo/...>`, which the wheel does
//!   not ship; Debian's `libgloo-dev` does (scripts/setup.sh installs it, or
//!   point `GLOO_INCLUDE_DIR` at another copy).
//! - NCCL: compiled in whenever libtorch has CUDA (`libtorch_cuda.so`), with
//!   the CUDA and NCCL headers of the `nvidia-*` wheels next to torch
//!   (`nvidia-cuda-crt`, `nvidia-cuda-cccl` from scripts/setup.sh; NCCL's from
//!   the wheel torch depends on). `TZ_DIST_NO_NCCL=1` leaves it out.
use std::path::{Path, PathBuf};

#[path = "../../build-support/link_libtorch.rs"]
mod link_libtorch;

const SHIM: &str = "csrc/c10d_shim.cpp";

fn main() {
    link_libtorch::link();
    println!("cargo:rerun-if-changed={SHIM}");
    println!("cargo:rerun-if-changed=csrc/c10d_shim.h");
    println!("cargo:rerun-if-env-changed=GLOO_INCLUDE_DIR");
    println!("cargo:rerun-if-env-changed=TZ_DIST_NO_NCCL");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let lib_dir = match std::env::var("DEP_TCH_LIBTORCH_LIB") {
        Ok(dir) => std::fs::canonicalize(&dir).unwrap_or_else(|_| PathBuf::from(dir)),
        Err(_) => fail("DEP_TCH_LIBTORCH_LIB is not set (torch-sys found no libtorch): run scripts/setup.sh"),
    };
    let torch_dir = lib_dir.parent().expect("libtorch's lib directory has a parent");
    let site_packages = torch_dir.parent().expect("the torch package has a parent directory");

    let mut build = cc::Build::new();
    build
        .cpp(true)
        .pic(true)
        .warnings(false)
        .std("c++17")
        .include("csrc")
        .include(torch_dir.join("include"))
        .include(torch_dir.join("include/torch/csrc/api/include"))
        // Must match the wheel, like torch-sys (LIBTORCH_CXX11_ABI, default 1).
        .define(
            "_GLIBCXX_USE_CXX11_ABI",
            std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into()).as_str(),
        )
        .define("GLOG_USE_GLOG_EXPORT", None)
        .define("USE_DISTRIBUTED", None)
        .define("USE_C10D_GLOO", None)
        // Not GLOO_STORE_HAS_STORE_V2: Debian's 2022 gloo Store lacks those methods.
        .flag_if_supported("-Wno-interference-size");
    if let Some(gloo) = gloo_include_dir() {
        build.include(gloo);
    } else {
        fail("the Gloo headers (gloo/algorithm.h) are missing: run scripts/setup.sh (apt-get install libgloo-dev) or set GLOO_INCLUDE_DIR");
    }

    let has_cuda = lib_dir.join("libtorch_cuda.so").exists();
    let skip_nccl = std::env::var("TZ_DIST_NO_NCCL").is_ok_and(|v| v == "1");
    if has_cuda && !skip_nccl {
        let cuda = site_packages.join("nvidia/cu13/include");
        let nccl = site_packages.join("nvidia/nccl/include");
        for header in [cuda.join("crt/host_config.h"), cuda.join("nv/target"), nccl.join("nccl.h")] {
            if !header.exists() {
                fail(&format!(
                    "{} is missing (needed by the NCCL backend): run scripts/setup.sh, or set TZ_DIST_NO_NCCL=1",
                    header.display()
                ));
            }
        }
        build.include(cuda).include(nccl).define("USE_C10D_NCCL", None).define("TZ_DIST_NCCL", None);
        // The NCCL process group's inline code calls into c10_cuda, which
        // torch-sys does not link.
        println!("cargo:rustc-link-lib=dylib=c10_cuda");
    } else if !has_cuda {
        println!("cargo:warning=libtorch has no CUDA: tz-dist is built with Gloo only");
    }
    build.file(SHIM).compile("tz_dist_c10d");
}

fn gloo_include_dir() -> Option<PathBuf> {
    let candidates = std::env::var_os("GLOO_INCLUDE_DIR")
        .map(PathBuf::from)
        .into_iter()
        .chain(["/usr/include", "/usr/local/include"].map(PathBuf::from));
    candidates.into_iter().find(|dir| Path::new(dir).join("gloo/algorithm.h").exists())
}

fn fail(message: &str) -> ! {
    eprintln!("tz-dist: {message}");
    panic!("tz-dist: {message}");
}
