//! Discovery and loading of plugin libraries through the real `tzhost`
//! binary and through the host library (issue 2: several libraries, sdk
//! mismatch refusal, not-a-plugin files, duplicate names, unknown names).

mod common;

use common::*;
use tz_host::plugins::{load_library, search_dirs, Registry};
use tz_sdk::PluginKind;

#[test]
fn several_libraries_from_plugin_dirs_and_env_are_all_listed() {
    let a = plugin_dir(&["reverse_task_plugin"]);
    let b = plugin_dir(&["fixture_test_plugins"]);
    let o = tzhost_env(
        &["plugins", "--json", "--plugin-dir", a.path().to_str().unwrap()],
        &[("TZ_PLUGIN_PATH", b.path().to_str().unwrap())],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    for expected in ["reverse", "echo", "echo-algo", "echo-shaper", "echo-curriculum", "panicky"] {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
    let reverse = list.as_array().unwrap().iter().find(|p| p["name"] == "reverse").unwrap();
    assert_eq!(reverse["kind"], "task");
    assert_eq!(reverse["version"], "0.1.0");
    let keys: Vec<&str> =
        reverse["config"].as_array().unwrap().iter().map(|k| k["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["min_len", "max_len", "format_score"]);
    assert_eq!(reverse["config"][2]["default"], "0.1");
    assert!(reverse["config"][2]["doc"].as_str().unwrap().contains("wrong answer"));
}

#[test]
fn one_library_exports_several_plugins_of_different_kinds() {
    let lib = load_library(&library("fixture_test_plugins")).unwrap();
    let mut kinds: Vec<(String, PluginKind)> =
        lib.plugins.iter().map(|d| (d.name.to_string(), d.kind)).collect();
    kinds.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        kinds,
        vec![
            ("echo".into(), PluginKind::Task),
            ("echo-algo".into(), PluginKind::Algorithm),
            ("echo-curriculum".into(), PluginKind::Curriculum),
            ("echo-shaper".into(), PluginKind::Algorithm),
            ("panicky".into(), PluginKind::Task),
        ]
    );
}

#[test]
fn library_built_against_an_old_sdk_is_refused_naming_both_versions() {
    let err = load_library(&library("fixture_old_sdk_plugin")).err().expect("must be refused").to_string();
    assert!(err.contains("tz-sdk 0.0.1") && err.contains("tz-sdk 0.1.0"), "{err}");
    let o = tzhost(&["plugins", "--plugin-dir", library("fixture_old_sdk_plugin").to_str().unwrap()]);
    let line = assert_one_line_error(&o);
    assert!(line.contains("0.0.1"), "{line}");
}

#[test]
fn a_file_that_is_not_a_library_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("libnotes.so"), "this is not an ELF file").unwrap();
    let o = tzhost(&["plugins", "--plugin-dir", dir.path().to_str().unwrap()]);
    let line = assert_one_line_error(&o);
    assert!(line.contains("libnotes.so") && line.contains("cannot load plugin library"), "{line}");
}

#[test]
fn a_shared_library_without_the_root_module_is_not_a_plugin() {
    // Any real shared library that is not ours: the C math library of this system.
    let libm = ["/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6", "/lib64/libm.so.6"]
        .iter()
        .map(std::path::Path::new)
        .find(|p| p.exists())
        .expect("libm.so.6 not found on this system");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(libm, dir.path().join("libm_copy.so")).unwrap();
    let o = tzhost(&["plugins", "--plugin-dir", dir.path().to_str().unwrap()]);
    let line = assert_one_line_error(&o);
    assert!(line.contains("is not a tinyzero-rs plugin library"), "{line}");
}

#[test]
fn the_same_plugin_name_in_two_libraries_is_an_error_naming_both() {
    let a = plugin_dir(&["reverse_task_plugin"]);
    let b = tempfile::tempdir().unwrap();
    std::fs::copy(library("reverse_task_plugin"), b.path().join("libreverse_copy.so")).unwrap();
    let o = tzhost(&[
        "plugins",
        "--plugin-dir",
        a.path().to_str().unwrap(),
        "--plugin-dir",
        b.path().to_str().unwrap(),
    ]);
    let line = assert_one_line_error(&o);
    assert!(
        line.contains("'reverse' is provided by two libraries") && line.contains("libreverse_copy.so"),
        "{line}"
    );
}

#[test]
fn the_same_file_reached_twice_is_loaded_once() {
    let a = plugin_dir(&["reverse_task_plugin"]);
    let p = a.path().to_str().unwrap();
    let o = tzhost_env(&["plugins", "--json", "--plugin-dir", p], &[("TZ_PLUGIN_PATH", p)]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn unknown_plugin_names_list_the_known_ones_and_the_closest() {
    let dirs = search_dirs(&[library("reverse_task_plugin"), library("fixture_test_plugins")], None).unwrap();
    let registry = Registry::discover(&dirs).unwrap();
    let err = registry.get(PluginKind::Task, "revrse").err().unwrap().to_string();
    assert!(err.contains("unknown task plugin 'revrse' (did you mean 'reverse'?)"), "{err}");
    assert!(err.contains("echo") && err.contains("panicky"), "{err}");
    let err = registry.get(PluginKind::Algorithm, "echo").err().unwrap().to_string();
    assert!(err.contains("'echo' is a task plugin, not an algorithm plugin"), "{err}");

    let o = tzhost(&["--task", "revrse", "--plugin-dir", library("reverse_task_plugin").to_str().unwrap()]);
    let line = assert_one_line_error(&o);
    assert!(line.contains("did you mean 'reverse'"), "{line}");
}

#[test]
fn missing_plugin_dir_is_a_one_line_error() {
    let o = tzhost(&["plugins", "--plugin-dir", "/nonexistent/plugins"]);
    let line = assert_one_line_error(&o);
    assert!(line.contains("/nonexistent/plugins"), "{line}");
    let o = tzhost_env(&["plugins"], &[("TZ_PLUGIN_PATH", "/nonexistent/env")]);
    let line = assert_one_line_error(&o);
    assert!(line.contains("TZ_PLUGIN_PATH") && line.contains("/nonexistent/env"), "{line}");
}
