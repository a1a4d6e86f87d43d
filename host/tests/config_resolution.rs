//! Run-config resolution (issue 7): defaults < file < flags with each value's
//! origin, one-line errors for unknown keys (naming the closest valid key)
//! and wrong types (naming the key and the expected type), plugin tables,
//! `tzhost config show`, and re-launching from a saved config.

mod common;

use clap::Parser;
use common::*;
use tz_host::cli::{Cli, Command};
use tz_host::config::{fill_plugin_defaults, Origin, Resolved, RunConfig};
use tz_host::plugins::{load_library, Registry};

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Parses `tzhost train ARGS` and resolves its config.
fn resolve(args: &[&str]) -> anyhow::Result<Resolved> {
    let cli = Cli::try_parse_from(
        std::iter::once("tzhost").chain(std::iter::once("train")).chain(args.iter().copied()),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let Some(Command::Train(train)) = cli.command else { panic!("not the train command") };
    train.resolve()
}

fn origin(r: &Resolved, key: &str) -> Origin {
    r.origins.get(key).cloned().unwrap_or_else(|| panic!("no origin for {key}: {:?}", r.origins.keys()))
}

/// Algorithms and curricula as built beside tzhost.
fn builtin_registry() -> Registry {
    let mut r = Registry::default();
    for lib in ["tz_algorithms", "tz_curricula"] {
        r.add(load_library(&library(lib)).unwrap()).unwrap();
    }
    r
}

#[test]
fn values_resolve_default_then_file_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        &dir,
        "run.toml",
        "[algorithm]\nchain = [\"cosine\", \"grpo\"]\n[trainer]\nlr = 1e-5\nseed = 7\n[rollout]\nn = 4\n",
    );
    let f = file.to_str().unwrap();
    // The file alone.
    let r = resolve(&["--config", f]).unwrap();
    assert_eq!(r.config.trainer.lr, 1e-5);
    assert_eq!(r.config.rollout.n, 4);
    assert_eq!(r.config.trainer.seed, 7);
    assert_eq!(r.config.rollout.temperature, RunConfig::default().rollout.temperature);
    assert_eq!(origin(&r, "trainer.lr"), Origin::File(file.clone()));
    assert_eq!(origin(&r, "rollout.temperature"), Origin::Default);
    // Named flags and --set win over the file; --set comes last.
    let r = resolve(&[
        "--config",
        f,
        "--seed",
        "3",
        "--algo",
        "ppo",
        "--set",
        "rollout.n=16",
        "--set",
        "trainer.seed=9",
    ])
    .unwrap();
    assert_eq!(r.config.algorithm.chain, ["ppo"]);
    assert_eq!(origin(&r, "algorithm.chain"), Origin::Flag("--algo".into()));
    assert_eq!(r.config.rollout.n, 16);
    assert_eq!(origin(&r, "rollout.n"), Origin::Flag("--set rollout.n=16".into()));
    assert_eq!(r.config.trainer.seed, 9, "--set is applied after --seed");
    assert_eq!(r.config.trainer.lr, 1e-5, "keys the flags do not touch keep the file's value");
    // No file: flags over defaults.
    let r = resolve(&["--task", "math", "--curriculum", "continual,adaptive", "--device", "cpu"]).unwrap();
    assert_eq!(r.config.task.name, "math");
    assert_eq!(r.config.curriculum.chain, ["continual", "adaptive"]);
    assert_eq!(r.config.model.device, "cpu");
    assert_eq!(origin(&r, "task.name"), Origin::Flag("--task".into()));
    assert_eq!(origin(&r, "trainer.lr"), Origin::Default);
}

#[test]
fn every_train_flag_maps_to_a_config_key() {
    let r = resolve(&[
        "--task",
        "multiplication",
        "--algo",
        "grpo",
        "--curriculum",
        "fixed",
        "--model",
        "Qwen/Qwen2.5-0.5B",
        "--device",
        "cuda:1",
        "--seed",
        "42",
        "--out",
        "exp/run-a",
    ])
    .unwrap();
    let c = &r.config;
    assert_eq!(
        (c.task.name.as_str(), c.model.path.as_str(), c.model.device.as_str(), c.trainer.seed),
        ("multiplication", "Qwen/Qwen2.5-0.5B", "cuda:1", 42)
    );
    assert_eq!(c.logging.runs_dir, std::path::PathBuf::from("exp"));
    assert_eq!(c.logging.run_name, "run-a");
    for (key, flag) in [
        ("task.name", "--task"),
        ("algorithm.chain", "--algo"),
        ("curriculum.chain", "--curriculum"),
        ("model.path", "--model"),
        ("model.device", "--device"),
        ("trainer.seed", "--seed"),
        ("logging.runs_dir", "--out"),
        ("logging.run_name", "--out"),
    ] {
        assert_eq!(origin(&r, key), Origin::Flag(flag.into()), "{key}");
    }
}

#[test]
fn set_values_are_typed_and_lists_may_be_written_bare() {
    let r = resolve(&[
        "--set",
        "algorithm.chain=cosine,grpo",
        "--set",
        "rollout.stop=[\"</answer>\", \"\\n\\n\"]",
        "--set",
        "logging.run_name=2024",
        "--set",
        "trainer.max_minutes=5",
        "--set",
        "eval.greedy=false",
        "--set",
        "trainer.betas=[0.9, 0.95]",
        "--set",
        "algorithm.plugins.grpo.kl_coef=0.01",
    ])
    .unwrap();
    let c = &r.config;
    assert_eq!(c.algorithm.chain, ["cosine", "grpo"]);
    assert_eq!(c.rollout.stop, ["</answer>", "\n\n"]);
    assert_eq!(c.logging.run_name, "2024", "a bare number for a string key stays text");
    assert_eq!(c.trainer.max_minutes, 5.0, "an integer fits a float key");
    assert!(!c.eval.greedy);
    assert_eq!(c.trainer.betas, (0.9, 0.95));
    assert_eq!(c.algorithm.plugins["grpo"]["kl_coef"].as_float(), Some(0.01));
}

#[test]
fn unknown_keys_name_the_closest_valid_key_and_where_they_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, "bad.toml", "[trainer]\nlr = 1e-6\nlearning_rate = 1e-6\n");
    let e = resolve(&["--config", file.to_str().unwrap()]).unwrap_err().to_string();
    assert!(e.starts_with("unknown key 'trainer.learning_rate'"), "{e}");
    assert!(e.ends_with(&format!("(in file {})", file.display())), "{e}");
    let file = write(&dir, "bad2.toml", "[rollout]\ntemperatur = 0.7\n");
    let e = resolve(&["--config", file.to_str().unwrap()]).unwrap_err().to_string();
    assert!(e.starts_with("unknown key 'rollout.temperatur' (did you mean 'rollout.temperature'?)"), "{e}");
    // A key in the wrong section points at the right one.
    let e = resolve(&["--set", "trainer.top_p=0.9"]).unwrap_err().to_string();
    assert_eq!(
        e,
        "unknown key 'trainer.top_p' (did you mean 'rollout.top_p'?) (in flag --set trainer.top_p=0.9)"
    );
    // A misspelt section.
    let e = resolve(&["--set", "rolout.n=3"]).unwrap_err().to_string();
    assert!(e.starts_with("unknown key 'rolout' (did you mean 'rollout'?)"), "{e}");
}

#[test]
fn type_errors_name_the_key_and_the_expected_type() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, "t.toml", "[rollout]\nn = \"eight\"\n");
    let e = resolve(&["--config", file.to_str().unwrap()]).unwrap_err().to_string();
    assert!(e.starts_with("key 'rollout.n' expects an integer, got the string \"eight\""), "{e}");
    let e = resolve(&["--set", "trainer.lr=fast"]).unwrap_err().to_string();
    assert_eq!(
        e,
        "key 'trainer.lr' expects a number, got the string \"fast\" (in flag --set trainer.lr=fast)"
    );
    let e = resolve(&["--set", "eval.greedy=3"]).unwrap_err().to_string();
    assert!(e.starts_with("key 'eval.greedy' expects a boolean (true or false), got the integer 3"), "{e}");
    let e = resolve(&["--set", "trainer.seed=-1"]).unwrap_err().to_string();
    assert!(e.starts_with("key 'trainer.seed'"), "serde's range error still names the key: {e}");
    let file = write(&dir, "syntax.toml", "[rollout\nn = 3\n");
    let e = resolve(&["--config", file.to_str().unwrap()]).unwrap_err().to_string();
    assert!(e.contains("syntax.toml") && !e.contains('\n'), "{e}");
}

#[test]
fn plugin_tables_are_checked_against_the_plugins_and_get_their_defaults() {
    let registry = builtin_registry();
    let with_task = |task: &str| {
        let flags = ["--task", task, "--algo", "cosine,grpo", "--curriculum", "adaptive"];
        resolve(&[&flags[..], &["--set", "algorithm.plugins.grpo.kl_coef=0.01"]].concat()).unwrap()
    };
    // The task (countdown) is not in this registry.
    let err = fill_plugin_defaults(&mut with_task("countdown"), &registry).unwrap_err().to_string();
    assert!(err.contains("unknown task plugin 'countdown'"), "{err}");

    let mut reg = registry.clone();
    reg.add(load_library(&library("fixture_test_plugins")).unwrap()).unwrap();
    let mut r = with_task("echo");
    fill_plugin_defaults(&mut r, &reg).unwrap();
    let grpo = &r.config.algorithm.plugins["grpo"];
    assert_eq!(grpo["kl_coef"].as_float(), Some(0.01));
    assert_eq!(grpo["clip_ratio_low"].as_float().map(|x| (x * 1e6).round() / 1e6), Some(0.2));
    assert_eq!(origin(&r, "algorithm.plugins.grpo.clip_ratio_low"), Origin::PluginDefault("grpo".into()));
    assert_eq!(
        origin(&r, "algorithm.plugins.grpo.kl_coef"),
        Origin::Flag("--set algorithm.plugins.grpo.kl_coef=0.01".into())
    );
    assert!(r.config.algorithm.plugins["cosine"].contains_key("max_len_margin"));
    assert!(
        !r.config.algorithm.plugins["cosine"].contains_key("exceed_length"),
        "an unset Option has no TOML form"
    );
    assert!(r.config.curriculum.plugins["adaptive"].contains_key("step_size"));

    // A typo in a plugin key names the plugin's closest key.
    let mut bad = resolve(&["--task", "echo", "--set", "algorithm.plugins.grpo.kl_coeff=0.01"]).unwrap();
    let e = fill_plugin_defaults(&mut bad, &reg).unwrap_err().to_string();
    assert_eq!(
        e,
        "unknown key 'algorithm.plugins.grpo.kl_coeff' (did you mean 'algorithm.plugins.grpo.kl_coef'?) \
         (in flag --set algorithm.plugins.grpo.kl_coeff=0.01)"
    );
    // A table for a plugin that does not exist names the closest plugin.
    let mut bad = resolve(&["--task", "echo", "--set", "algorithm.plugins.gpro.kl_coef=0.01"]).unwrap();
    let e = fill_plugin_defaults(&mut bad, &reg).unwrap_err().to_string();
    assert!(
        e.starts_with("algorithm.plugins.gpro: unknown algorithm plugin 'gpro' (did you mean 'grpo'?)"),
        "{e}"
    );
}

#[test]
fn a_saved_config_relaunches_the_same_run() {
    let mut reg = builtin_registry();
    reg.add(load_library(&library("fixture_test_plugins")).unwrap()).unwrap();
    let mut r =
        resolve(&["--task", "echo", "--algo", "grpo", "--seed", "5", "--set", "rollout.stop=[\"x\"]"])
            .unwrap();
    fill_plugin_defaults(&mut r, &reg).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let saved = write(&dir, "config.toml", &r.config.to_toml_string());
    let mut again = resolve(&["--config", saved.to_str().unwrap()]).unwrap();
    fill_plugin_defaults(&mut again, &reg).unwrap();
    assert_eq!(again.config, r.config);
    assert_eq!(RunConfig::from_file(&saved).unwrap(), r.config);
    // `config show`'s output is itself a config file that resolves to the same run.
    let shown = write(&dir, "shown.toml", &tz_host::config::annotated::render(&r));
    assert_eq!(RunConfig::from_file(&shown).unwrap(), r.config);
}

#[test]
fn config_show_prints_each_value_with_its_origin() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, "run.toml", "[trainer]\nlr = 1e-5\n");
    let o = tzhost(&[
        "config",
        "show",
        "--no-plugins",
        "--config",
        file.to_str().unwrap(),
        "--algo",
        "ppo",
        "--set",
        "rollout.n=3",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let line = |key: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("{key} missing:\n{out}"))
    };
    assert!(line("lr").ends_with(&format!("# file {}", file.display())), "{}", line("lr"));
    assert!(line("chain").contains("[\"ppo\"]") && line("chain").ends_with("# flag --algo"));
    assert!(line("n").ends_with("# flag --set rollout.n=3"));
    assert!(line("temperature").ends_with("# default"));
    // JSON form.
    let o = tzhost(&["config", "show", "--no-plugins", "--json", "--seed", "4"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["trainer.seed"]["value"], 4);
    assert_eq!(v["trainer.seed"]["origin"], "flag");
    assert_eq!(v["trainer.lr"]["origin"], "default");
    // With the plugins: their defaults, and what the trainer sets for the tiny model.
    let o = tzhost(&["config", "show", "--algo", "cosine,grpo"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("\n[algorithm.plugins.cosine]\n"), "{out}");
    let in_section = |section: &str, key: &str| -> String {
        let start = out.find(&format!("[{section}]\n")).unwrap_or_else(|| panic!("no [{section}]:\n{out}"));
        out[start..].lines().find(|l| l.starts_with(&format!("{key} = "))).unwrap().to_string()
    };
    assert!(in_section("algorithm.plugins.grpo", "clip_ratio_low").ends_with("# default of plugin grpo"));
    assert!(in_section("task.plugins.countdown", "max_operands").ends_with("# default for the tiny model"));
    assert!(in_section("task.plugins.countdown", "max_target").ends_with("# default of plugin countdown"));
    // Errors are one line.
    let o = tzhost(&["config", "show", "--no-plugins", "--set", "trainer.lrr=1"]);
    let line = assert_one_line_error(&o);
    assert!(line.contains("did you mean 'trainer.lr'?"), "{line}");
}

#[test]
fn tiny_ppo_defaults_are_marked_and_the_users_values_win() {
    let o = tzhost(&["config", "show", "--algo", "ppo", "--set", "algorithm.plugins.ppo.kl_coef=0.01"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let start = out.find("[algorithm.plugins.ppo]\n").unwrap_or_else(|| panic!("no ppo table:\n{out}"));
    let key = |k: &str| -> String {
        out[start..].lines().find(|l| l.starts_with(&format!("{k} = "))).unwrap().to_string()
    };
    assert!(
        key("critic_lr").starts_with("critic_lr = 0.001")
            && key("critic_lr").ends_with("# default for the tiny model")
    );
    assert!(
        key("kl_placement").contains("\"none\"")
            && key("kl_placement").ends_with("# default for the tiny model")
    );
    assert!(
        key("kl_coef").ends_with("# flag --set algorithm.plugins.ppo.kl_coef=0.01"),
        "{}",
        key("kl_coef")
    );
    assert!(key("critic_clip_value").ends_with("# default of plugin ppo"));
    let trainer = out.find("[trainer]\n").unwrap();
    let lr = out[trainer..].lines().find(|l| l.starts_with("lr = ")).unwrap();
    assert!(lr.starts_with("lr = 0.0001 ") && lr.ends_with("# default for the tiny model"), "{lr}");
    // A value the user sets is kept.
    let o = tzhost(&["config", "show", "--algo", "ppo", "--set", "algorithm.plugins.ppo.critic_lr=1e-5"]);
    let out = stdout(&o);
    let line = out.lines().find(|l| l.starts_with("critic_lr = ")).unwrap();
    assert!(line.contains("1e-5") || line.contains("0.00001"), "{line}");
    assert!(!line.contains("tiny model"), "{line}");
    // A learning rate the user sets is kept, even when it equals GRPO's default.
    let o = tzhost(&["config", "show", "--algo", "ppo", "--set", "trainer.lr=2e-4"]);
    let out = stdout(&o);
    let trainer = out.find("[trainer]\n").unwrap();
    let lr = out[trainer..].lines().find(|l| l.starts_with("lr = ")).unwrap();
    assert!(lr.starts_with("lr = 0.0002 ") && lr.contains("flag"), "{lr}");
    // GRPO keeps its own recipe.
    let o = tzhost(&["config", "show", "--algo", "grpo"]);
    let out = stdout(&o);
    assert!(!out.contains("[algorithm.plugins.ppo]"), "{out}");
    let trainer = out.find("[trainer]\n").unwrap();
    assert!(out[trainer..].lines().any(|l| l.starts_with("lr = 0.0002 ")), "{out}");
}

/// Every shipped config (configs/**/*.toml) resolves through the real
/// resolver and its plugins accept their settings; paper configs name their
/// seed and hardware in their header. Sweeps are expanded in tests/sweeps.rs.
#[test]
fn every_shipped_config_resolves_and_paper_configs_name_seed_and_hardware() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut registry = builtin_registry();
    for lib in ["tz_countdown", "tz_math", "tz_multiplication"] {
        registry.add(load_library(&library(lib)).unwrap()).unwrap();
    }
    let mut files = Vec::new();
    let mut dirs = vec![root.join("configs")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "toml") {
                files.push(path);
            }
        }
    }
    files.sort();
    // Paths in a config are relative to where tzhost runs: the repository root for the shipped ones.
    std::env::set_current_dir(&root).unwrap();
    let runs: Vec<_> = files.iter().filter(|f| !f.parent().unwrap().ends_with("sweeps")).collect();
    assert!(runs.len() >= 15, "{runs:?}");
    for file in runs {
        let name = file.strip_prefix(&root).unwrap().display().to_string();
        let mut resolved =
            tz_host::config::resolve(Some(file), vec![], &[]).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        tz_host::config::check_plugin_tables(&resolved, &registry)
            .and_then(|()| tz_host::config::check_plugins_accept(&resolved.config, &registry))
            .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        fill_plugin_defaults(&mut resolved, &registry).unwrap();
        let c = &resolved.config;
        assert!(["error", "left", "right"].contains(&c.task.truncation.as_str()), "{name}: task.truncation");
        if name.contains("/paper/") {
            let text = std::fs::read_to_string(file).unwrap();
            let header: Vec<&str> = text.lines().take_while(|l| l.starts_with('#') || l.is_empty()).collect();
            assert!(
                header.iter().any(|l| l.starts_with("# seed: 00")),
                "{name}: no '# seed:' line in the header"
            );
            assert!(header.iter().any(|l| l.starts_with("# hardware:")), "{name}: no '# hardware:' line");
            assert!(c.model.path.contains('/') && c.model.device == "cuda", "{name}: a hub model on CUDA");
            assert!(c.task.max_prompt_length > 0, "{name}: no task.max_prompt_length");
        }
    }
}

/// A `--set` value falls back to a string only when it is clearly a bare
/// word: text that starts like TOML (a quote, `[`, `{`) but does not parse is
/// a typo, and silently training with the stop string `["unterminated`
/// would hide it.
#[test]
fn set_with_broken_toml_syntax_is_an_error_not_a_string() {
    let e = resolve(&["--set", "rollout.stop=[\"unterminated"]).unwrap_err().to_string();
    assert!(
        e.starts_with("--set 'rollout.stop=[\"unterminated': '[\"unterminated' is not a valid TOML value"),
        "{e}"
    );
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let o = tzhost(&["--set", "rollout.stop=[\"unterminated", "--out", run.to_str().unwrap()]);
    assert!(assert_one_line_error(&o).contains("is not a valid TOML value"));
    assert!(!run.exists(), "nothing is written before the config resolves");
    // Bare words stay strings (and lists of them, for list keys).
    let r = resolve(&["--set", "rollout.stop=</answer>", "--set", "model.device=cuda:0"]).unwrap();
    assert_eq!(r.config.rollout.stop, ["</answer>"]);
    assert_eq!(r.config.model.device, "cuda:0");
}
