//! Build script shared by every crate that produces a binary, test or bench
//! using tch (see `build = "../build-support/link_libtorch.rs"`).
//!
//! Why: the final executable never references a symbol of libtorch_cuda.so,
//! so the linker's `--as-needed` drops it and CUDA is silently unavailable at
//! run time. We link libtorch and libtorch_cuda with `--no-as-needed` and put
//! an rpath to torch/lib into the binary, so it runs without LD_LIBRARY_PATH
//! and uses a GPU when one is present. The crate must depend on torch-sys
//! directly to see DEP_TCH_LIBTORCH_LIB. A build script with more to do
//! (core/dist's) includes this file as a module and calls [`link`].
use std::path::PathBuf;

#[allow(dead_code)]
pub fn main() {
    link();
}

pub fn link() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        println!("cargo:warning=DEP_TCH_LIBTORCH_LIB is not set: run scripts/setup.sh");
        return;
    };
    // The repo's `.libtorch` is a symlink into the shared venv; resolve it so
    // the binary keeps working when the checkout moves.
    let dir = std::fs::canonicalize(&dir).unwrap_or_else(|_| PathBuf::from(&dir));
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" {
        println!("cargo:rustc-link-arg=-Wl,-rpath={}", dir.display());
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch");
        if dir.join("libtorch_cuda.so").exists() {
            println!("cargo:rustc-link-arg=-ltorch_cuda");
            println!("cargo:rustc-cfg=tz_libtorch_cuda");
        }
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
    println!("cargo:rustc-check-cfg=cfg(tz_libtorch_cuda)");
}
