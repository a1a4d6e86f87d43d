//! The curricula through the same FFI objects and typed handles the host
//! uses (`tz_sdk::export::in_process`), including config errors and state.

use tz_sdk::export::in_process;
use tz_sdk::handle::Curriculum;
use tz_sdk::prelude::*;
use tz_sdk::testing::recording_host;

fn curriculum(name: &str, config: &str) -> Result<Curriculum, String> {
    let (host, _) = recording_host();
    in_process::curriculum(name, config, host).map_err(|e| e.message)
}

#[test]
fn the_library_describes_all_five_curricula_with_documented_keys() {
    let mut names: Vec<String> = in_process::descriptors().iter().map(|d| d.name.to_string()).collect();
    names.sort();
    assert_eq!(names, ["adaptive", "continual", "fixed", "full", "random"]);
    for d in in_process::descriptors() {
        assert_eq!(d.kind, PluginKind::Curriculum);
        for key in tz_sdk::config::describe_keys(&d.default_config, &d.config_schema) {
            assert!(!key.doc.is_empty(), "{}: key '{}' has no doc", d.name, key.key);
        }
    }
}

#[test]
fn continual_plans_through_the_ffi_object() {
    let c = curriculum("continual", r#"{"rounds": 1, "epochs_per_group": 2}"#).unwrap();
    let plan = c.plan(&["x".to_string()]).unwrap().unwrap();
    let groups: Vec<&str> = plan.stages.iter().map(|s| s.group.as_str()).collect();
    assert_eq!(groups, ["plus", "plus_minus", "plus_minus_mul", "plus_minus_mul_div"]);
    assert!(c.window().unwrap().is_none());
}

#[test]
fn adaptive_state_round_trips_through_the_ffi_object() {
    let config = r#"{"warmup_steps": 1, "epsilon": 0}"#;
    let mut a = curriculum("adaptive", config).unwrap();
    let stats = BatchStats {
        step: 1,
        window: 1024,
        max_window: 1024,
        lengths: vec![100, 300],
        correct: vec![true, false],
        truncated: vec![false, false],
    };
    let metrics = a.observe(&stats).unwrap();
    let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
    for want in [
        "adaptive_window/current_window",
        "adaptive_window/mean_success_length",
        "adaptive_window/success_rate",
        "adaptive_window/explored",
    ] {
        assert!(names.contains(&want), "missing {want} in {names:?}");
    }
    assert_eq!(a.window().unwrap(), Some(192)); // ceil_to(100 · 1.5, 64)
    let saved = a.state().unwrap();
    let mut b = curriculum("adaptive", config).unwrap();
    b.restore(&saved).unwrap();
    assert_eq!(b.window().unwrap(), Some(192));
    let err = b.restore("not json").unwrap_err().message;
    assert!(err.starts_with("plugin 'adaptive': saved state is not valid JSON"), "{err}");
}

#[test]
fn unknown_config_key_suggests_the_closest() {
    let err = curriculum("adaptive", r#"{"shrink_factr": 0.8}"#).err().unwrap();
    assert!(err.contains("did you mean 'shrink_factor'?"), "{err}");
}

#[test]
fn wrong_type_names_the_key() {
    let err = curriculum("continual", r#"{"rounds": "three"}"#).err().unwrap();
    assert!(err.contains("config key 'rounds'"), "{err}");
}

#[test]
fn inconsistent_windows_are_one_line_errors() {
    let err = curriculum("adaptive", r#"{"min_window": 900, "max_window": 512}"#).err().unwrap();
    assert_eq!(err, "plugin 'adaptive': config key 'min_window': 900 exceeds max_window 512");
    let err = curriculum("full", r#"{"max_window": 512}"#).err().unwrap();
    assert!(err.contains("unknown config key 'max_window'"), "{err}");
}
