//! `export_plugin_library!` writes the loader symbol by hand (so plugin
//! crates need no direct abi_stable dependency); it must be the name
//! abi_stable's loader looks up.

#[test]
fn export_symbol_matches_abi_stable_loader_name() {
    assert_eq!(
        tz_sdk::export::ROOT_MODULE_LOADER_SYMBOL,
        abi_stable_shared::mangled_root_module_loader_name()
    );
}

#[test]
fn export_macro_uses_the_same_symbol() {
    let src = include_str!("../src/export.rs");
    let needle = format!("#[export_name = \"{}\"]", tz_sdk::export::ROOT_MODULE_LOADER_SYMBOL);
    assert!(src.contains(&needle), "export_plugin_library! must use {needle}");
}
