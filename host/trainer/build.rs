//! The shared libtorch link step (build-support/link_libtorch.rs), plus one
//! flag for this crate's tests: they link several plugin crates (rlibs) to
//! create their plugins in-process, and each exports the same abi_stable
//! root-module symbol, which only a dlopen'd library needs. The linker keeps
//! the first.

#[path = "../../build-support/link_libtorch.rs"]
mod link_libtorch;

fn main() {
    link_libtorch::main();
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-tests=-Wl,--allow-multiple-definition");
    }
}
