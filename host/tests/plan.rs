//! `tzhost plan` (the memory planner) and where second models live
//! (`model.ref_device`).

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// `tzhost plan ARGS --json` with an empty Hugging Face cache (so hub ids
/// resolve to the built-in shapes, the same on every machine).
fn plan(args: &[&str]) -> (std::process::Output, Option<Value>) {
    let cache = tempfile::tempdir().unwrap();
    let hub = cache.path().to_str().unwrap();
    let mut all = vec!["plan"];
    all.extend_from_slice(args);
    let o = tzhost_env(&all, &[("HF_HUB_CACHE", hub), ("HF_HUB_OFFLINE", "1")]);
    let json = if all.contains(&"--json") && o.status.success() {
        Some(serde_json::from_slice(&o.stdout).unwrap())
    } else {
        None
    };
    (o, json)
}

fn gib(v: &Value) -> f64 {
    v.as_u64().unwrap() as f64 / (1u64 << 30) as f64
}

#[test]
fn every_paper_config_states_its_hardware_and_fits_it() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("configs/paper"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for file in files {
        let name = file.display().to_string();
        // Several GPUs mean data-parallel ranks, which these configs shard with ZeRO-1.
        let text = std::fs::read_to_string(&file).unwrap();
        let multi = text.lines().any(|l| l.starts_with("# hardware:") && !l.contains("tzhost: 1 ×"));
        let mut args = vec!["--config", &name, "--json"];
        if multi {
            args.push("--zero1");
        }
        let (o, json) = plan(&args);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let report = json.unwrap();
        let from = report["hardware_from"].as_str().unwrap();
        assert!(from.contains("# hardware:"), "{name} has no '# hardware: ... N × GPU' header line ({from})");
        assert!(
            report["fit"]["fits"].as_bool().unwrap(),
            "{name} does not fit {}: peak {:.1} GiB in {}; see `tzhost plan --config {name}`",
            report["hardware"]["name"],
            gib(&report["peak"]),
            report["peak_phase"]
        );
    }
}

#[test]
fn a_model_directory_needs_only_its_config_json_and_the_tiny_preset_plans_too() {
    let dir = repo().join("host/plan/testdata/qwen2.5-0.5b");
    let (o, json) = plan(&["--model", dir.to_str().unwrap(), "--cpu", "64", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = json.unwrap();
    assert_eq!(r["shape"]["hidden_size"], 896);
    assert!(r["model_from"].as_str().unwrap().ends_with("config.json"));
    // f32 on the CPU: weights, gradients and two moments, 16 bytes a parameter.
    let policy: f64 = r["plan"]["devices"][0]["resident"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["name"].as_str().unwrap().starts_with("policy"))
        .map(|i| i["bytes"].as_f64().unwrap())
        .sum();
    assert!((policy / 1e9 - 7.90).abs() < 0.01, "{policy}");

    let (o, json) = plan(&["--cpu", "8", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = json.unwrap();
    assert_eq!(r["model_from"], "the tiny preset");
    assert!(r["fit"]["fits"].as_bool().unwrap());
}

#[test]
fn a_run_that_does_not_fit_gets_the_changes_that_would_make_it_fit() {
    let config = repo().join("configs/paper/countdown-qwen2.5-0.5b.toml");
    let config = config.to_str().unwrap();
    let (o, _) = plan(&["--config", config, "--gpu", "40"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("does NOT fit"), "{text}");
    assert!(text.contains("to fit"), "{text}");
    assert!(text.contains("trainer.micro_batch_size = ") || text.contains("ZeRO-1"), "{text}");
    let (o, _) = plan(&["--config", config, "--gpu", "40", "--check"]);
    let err = assert_one_line_error(&o);
    assert!(err.contains("does not fit"), "{err}");
}

#[test]
fn bad_devices_and_unknown_models_are_one_line_errors() {
    let (o, _) = plan(&["--gpu", "tpu-v9"]);
    assert!(assert_one_line_error(&o).contains("--gpu 'tpu-v9'"));
    let (o, _) = plan(&["--model", "nobody/not-a-model"]);
    let err = assert_one_line_error(&o);
    assert!(err.contains("nobody/not-a-model") && err.contains("no built-in shape"), "{err}");
}

/// GRPO with the KL term in the loss on the tiny model: the reference policy
/// goes where `model.ref_device` says.
fn kl_run(out: &Path, ref_device: &str) -> std::process::Output {
    tiny_train_cmd(out, "grpo", "adaptive")
        .args(SMALL_RUN)
        .args(["--set", "trainer.total_steps=2", "--set", "algorithm.plugins.grpo.kl_placement=\"loss\""])
        .args(["--set", &format!("model.ref_device=\"{ref_device}\"")])
        .output()
        .unwrap()
}

#[test]
fn the_reference_model_is_loaded_on_model_ref_device() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let o = kl_run(&run, "cpu");
    assert!(o.status.success(), "{}", stderr(&o));
    let m = metrics(&run);
    assert!(m[1]["actor/kl_loss"].is_number() && m[1]["timing_s/ref"].is_number(), "{}", m[1]);

    let o = kl_run(&dir.path().join("bad"), "cuda:7");
    let err = assert_one_line_error(&o);
    assert!(err.contains("model.ref_device"), "{err}");
}
