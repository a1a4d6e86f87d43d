//! Sweeps (issue 7): expansion of axes and explicit variants into named
//! runs, skipping finished runs and resuming interrupted ones when a sweep
//! is run again, parallel runs, the report, and the shipped sweep files. The
//! trainer is replaced by fake runners (a closure, or a shell script run as
//! the child process), so no test trains.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use common::*;
use tz_host::report::sweep_report;
use tz_host::sweep::{self, Action, Job, Plan, ProcessRunner, Runner, SweepError, SweepSpec};

fn spec(text: &str) -> SweepSpec {
    SweepSpec::from_str(text, Path::new("configs/sweeps/test.toml")).unwrap()
}

fn plan(text: &str, dir: &Path) -> Plan {
    sweep::expand(&spec(text), &[], Some(dir)).unwrap()
}

const CURRICULUM_X_ALGO_X_SEED: &str = r#"
[sweep]
name = "cva"
[config]
trainer.max_minutes = 1
[[axis]]
name = "curriculum"
values = [
  { name = "continual", set = { "curriculum.chain" = ["continual"], "curriculum.plugins.continual.rounds" = 1 } },
  { name = "random", set = { "curriculum.chain" = ["random"] } },
]
[[axis]]
key = "algorithm.chain"
name = "algo"
values = [["grpo"], ["ppo"]]
[[axis]]
key = "trainer.seed"
values = [1, 2, 3]
"#;

#[test]
fn axes_expand_to_their_product_in_file_order() {
    let dir = tempfile::tempdir().unwrap();
    let p = plan(CURRICULUM_X_ALGO_X_SEED, dir.path());
    let names: Vec<&str> = p.runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names.len(), 12);
    assert_eq!(
        &names[..4],
        ["continual-grpo-seed1", "continual-grpo-seed2", "continual-grpo-seed3", "continual-ppo-seed1"]
    );
    assert_eq!(names[11], "random-ppo-seed3");
    let r = p.runs.iter().find(|r| r.name == "random-ppo-seed2").unwrap();
    assert_eq!(r.group, "random-ppo");
    assert_eq!(r.seed.as_deref(), Some("seed2"));
    let c = &r.resolved.config;
    assert_eq!(c.curriculum.chain, ["random"]);
    assert_eq!(c.algorithm.chain, ["ppo"]);
    assert_eq!(c.trainer.seed, 2);
    assert_eq!(c.trainer.max_minutes, 1.0, "the sweep's [config] applies to every run");
    assert_eq!(c.logging.runs_dir, dir.path());
    assert_eq!(c.logging.run_name, "random-ppo-seed2");
    assert!(!c.logging.progress);
    let cont = &p.runs[0].resolved.config;
    assert_eq!(cont.curriculum.plugins["continual"]["rounds"].as_integer(), Some(1));
    assert!(c.curriculum.plugins.get("continual").is_none(), "an option's keys apply to its runs only");
    // Origins say which axis set a value.
    assert_eq!(
        r.resolved.origins["curriculum.chain"],
        tz_host::config::Origin::Sweep("curriculum = random".into())
    );
}

#[test]
fn explicit_variants_combine_with_a_seed_axis() {
    let dir = tempfile::tempdir().unwrap();
    let p = plan(
        r#"
[sweep]
name = "algos"
[[variant]]
name = "grpo"
set = { "algorithm.chain" = ["grpo"] }
[[variant]]
name = "grpo+cosine"
[variant.set]
algorithm.chain = ["cosine", "grpo"]
rollout.n = 5
[[axis]]
key = "trainer.seed"
values = [1, 2]
labels = ["s1", "s2"]
"#,
        dir.path(),
    );
    let names: Vec<&str> = p.runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["grpo-s1", "grpo-s2", "grpo+cosine-s1", "grpo+cosine-s2"]);
    assert_eq!(p.runs[2].group, "grpo+cosine");
    assert_eq!(p.runs[2].resolved.config.rollout.n, 5);
    assert_eq!(p.runs[0].resolved.config.rollout.n, 8);
    // Only variants, no axes: one run per variant, each its own group.
    let p = plan("[sweep]\nname = \"v\"\n[[variant]]\nname = \"a\"\n[[variant]]\nname = \"b\"\nset.trainer.lr = 1e-3\n", dir.path());
    assert_eq!(
        p.runs.iter().map(|r| (r.name.as_str(), r.seed.is_none())).collect::<Vec<_>>(),
        [("a", true), ("b", true)]
    );
    assert_eq!(p.runs[1].resolved.config.trainer.lr, 1e-3);
}

#[test]
fn bad_sweeps_are_one_line_errors_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let expand =
        |text: &str| sweep::expand(&spec(text), &[], Some(dir.path())).map(|_| ()).unwrap_err().to_string();
    let e = expand("[sweep]\n[[axis]]\nkey = \"trainer.lrr\"\nvalues = [1e-5]\n");
    assert!(e.contains("unknown key 'trainer.lrr' (did you mean 'trainer.lr'?) (in sweep lrr = "), "{e}");
    let e = expand("[sweep]\n[[axis]]\nkey = \"rollout.n\"\nvalues = [\"x\"]\n");
    assert!(e.contains("key 'rollout.n' expects an integer"), "{e}");
    let e = SweepSpec::from_str(
        "[sweep]\n[[axis]]\nkey = \"trainer.lr\"\nvalues = [1e-5, 2e-5]\nlabels = [\"a\", \"a\"]\n",
        Path::new("s.toml"),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(e, "axis 1: axis 'lr' has the label 'a' twice");
    let e = SweepSpec::from_str("[sweep]\nparalel = 2\n", Path::new("s.toml")).unwrap_err().to_string();
    assert_eq!(e, "unknown key 'sweep.paralel' (did you mean 'sweep.parallel'?)");
    let e =
        SweepSpec::from_str("[sweep]\n[[axes]]\nkey = \"x\"\n", Path::new("s.toml")).unwrap_err().to_string();
    assert_eq!(e, "unknown key 'axes' (did you mean 'axis'?)");
    let e = SweepSpec::from_str("[sweep]\n[[axis]]\nvalues = [1]\n", Path::new("s.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("axis 1"), "{e}");
    let e = SweepSpec::from_str("[sweep]\n[[variant]]\nname = \"a/b\"\n", Path::new("s.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("run directory name"), "{e}");
}

#[test]
fn duplicate_run_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // "a-b" + "b" and "a" + "b-b" both make "a-b-b".
    let text = "[sweep]\n[[variant]]\nname = \"a-b\"\n[[variant]]\nname = \"a\"\n[[axis]]\nname = \"x\"\nvalues = [{ name = \"b\" }, { name = \"b-b\" }]\n";
    let e = sweep::expand(&spec(text), &[], Some(dir.path())).unwrap_err().to_string();
    assert!(e.contains("two runs are both named 'a-b-b'"), "{e}");
}

/// What the fake trainer does with a run.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Behaviour {
    Finish,
    /// Writes a checkpoint at step 5, then fails (an interrupted run).
    CrashAfterCheckpoint,
    /// Fails before any checkpoint.
    FailEarly,
}

/// A fake trainer: follows the trainer's run-directory contract.
struct FakeTrainer {
    behaviour: Box<dyn Fn(&str) -> Behaviour + Sync>,
    calls: Mutex<Vec<(String, Action)>>,
}

impl FakeTrainer {
    fn new(f: impl Fn(&str) -> Behaviour + Sync + 'static) -> Self {
        FakeTrainer { behaviour: Box::new(f), calls: Mutex::new(Vec::new()) }
    }
    fn calls(&self) -> Vec<(String, Action)> {
        let mut c = self.calls.lock().unwrap().clone();
        c.sort_by(|a, b| a.0.cmp(&b.0));
        c
    }
}

impl Runner for FakeTrainer {
    fn run(&self, job: &Job) -> sweep::Result<()> {
        self.calls.lock().unwrap().push((job.name.clone(), job.action.clone()));
        assert!(job.config_path.is_file(), "the sweep writes the config before running");
        let seed = tz_host::config::RunConfig::from_file(&job.config_path).unwrap().trainer.seed as f64;
        let d = &job.run_dir;
        let acc = 0.1 * seed + if job.name.starts_with("random") { 0.0 } else { 0.2 };
        match (self.behaviour)(&job.name) {
            Behaviour::Finish => {
                std::fs::write(
                    d.join("metrics.jsonl"),
                    format!(
                        "{{\"step\": 0, \"val/acc\": 0.05}}\n{{\"step\": 5, \"critic/score/mean\": 0.2, \"val/acc\": {}, \"time/elapsed_s\": 30}}\n{{\"step\": 10, \"val/acc\": {acc}, \"time/elapsed_s\": 60}}\n",
                        acc + 0.01
                    ),
                )?;
                std::fs::write(
                    d.join("summary.json"),
                    format!(
                        "{{\"finished\": true, \"steps\": 10, \"val/acc_before\": 0.05, \"val/acc_after\": {acc}, \"tokens\": 1000, \"wall_s\": 60}}"
                    ),
                )?;
                Ok(())
            }
            Behaviour::CrashAfterCheckpoint => {
                std::fs::write(d.join("metrics.jsonl"), "{\"step\": 5, \"critic/score/mean\": 0.1}\n")?;
                std::fs::create_dir_all(d.join("checkpoints/step_000005"))?;
                std::fs::write(d.join("checkpoints/step_000005/trainer_state.json"), "{}")?;
                Err(SweepError::Runner("killed".into()))
            }
            Behaviour::FailEarly => {
                std::fs::write(d.join("metrics.jsonl"), "")?;
                Err(SweepError::Runner("out of memory".into()))
            }
        }
    }
}

#[test]
fn re_running_a_sweep_skips_finished_runs_resumes_interrupted_ones_and_restarts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let p = plan(CURRICULUM_X_ALGO_X_SEED, dir.path());
    let first = FakeTrainer::new(|name| match name {
        "continual-grpo-seed2" => Behaviour::CrashAfterCheckpoint,
        "random-ppo-seed3" => Behaviour::FailEarly,
        _ => Behaviour::Finish,
    });
    let mut log = Vec::new();
    let outcome = sweep::execute(&p, &first, 1, &mut log).unwrap();
    assert_eq!(outcome.skipped, 0);
    assert_eq!(outcome.succeeded.len(), 10);
    let mut failed: Vec<&str> = outcome.failed.iter().map(|(n, _)| n.as_str()).collect();
    failed.sort();
    assert_eq!(failed, ["continual-grpo-seed2", "random-ppo-seed3"]);
    assert!(first.calls().iter().all(|(_, a)| *a == Action::Start { retry: false }));
    let text = String::from_utf8(log).unwrap();
    assert!(text.contains("continual-grpo-seed2: FAILED") && text.contains("killed"), "{text}");
    assert!(dir.path().join("sweep.json").is_file());

    // The plan as --dry-run shows it.
    let decisions = sweep::decide(&p);
    let action = |n: &str| decisions.iter().find(|d| d.name == n).unwrap().action.clone();
    assert_eq!(action("continual-grpo-seed1"), Action::Skip);
    assert_eq!(action("continual-grpo-seed2"), Action::Resume { step: 5 });
    assert_eq!(action("random-ppo-seed3"), Action::Start { retry: true });
    let mut shown = Vec::new();
    sweep::print_plan(&p, &mut shown).unwrap();
    let shown = String::from_utf8(shown).unwrap();
    assert!(shown.contains("12 runs") && shown.contains("(10 finished, 1 to resume, 1 to start)"), "{shown}");

    // Second invocation: only the two unfinished runs run.
    let second = FakeTrainer::new(|_| Behaviour::Finish);
    let outcome = sweep::execute(&p, &second, 1, &mut Vec::new()).unwrap();
    assert_eq!(outcome.skipped, 10);
    assert!(outcome.failed.is_empty());
    assert_eq!(
        second.calls(),
        [
            ("continual-grpo-seed2".to_string(), Action::Resume { step: 5 }),
            ("random-ppo-seed3".to_string(), Action::Start { retry: true }),
        ]
    );
    // The failed attempt was kept aside, out of the report's way.
    assert!(dir.path().join(".attempts/random-ppo-seed3.1/metrics.jsonl").is_file());

    // Third invocation: nothing left to do.
    let third = FakeTrainer::new(|_| Behaviour::Finish);
    let outcome = sweep::execute(&p, &third, 2, &mut Vec::new()).unwrap();
    assert_eq!(outcome.skipped, 12);
    assert!(third.calls().is_empty());
}

#[test]
fn a_run_that_exits_without_a_finished_summary_counts_as_failed() {
    struct Silent;
    impl Runner for Silent {
        fn run(&self, _job: &Job) -> sweep::Result<()> {
            Ok(())
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let p = plan("[sweep]\nname = \"one\"\n", dir.path());
    let outcome = sweep::execute(&p, &Silent, 1, &mut Vec::new()).unwrap();
    assert_eq!(outcome.failed.len(), 1);
    assert!(outcome.failed[0].1.contains("summary.json"), "{:?}", outcome.failed);
}

#[test]
fn parallel_sweeps_run_each_job_once_and_several_at_a_time() {
    /// Each job waits (up to 5 s) until three jobs run at once.
    struct Concurrent {
        active: Mutex<(usize, usize)>,
        cv: Condvar,
        inner: FakeTrainer,
    }
    impl Runner for Concurrent {
        fn run(&self, job: &Job) -> sweep::Result<()> {
            {
                let mut g = self.active.lock().unwrap();
                g.0 += 1;
                g.1 = g.1.max(g.0);
                self.cv.notify_all();
                let _ = self.cv.wait_timeout_while(g, Duration::from_secs(5), |g| g.1 < 3).unwrap();
            }
            let r = self.inner.run(job);
            self.active.lock().unwrap().0 -= 1;
            r
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let p = plan(
        "[sweep]\nname = \"par\"\n[[axis]]\nkey = \"trainer.seed\"\nvalues = [1, 2, 3, 4, 5, 6]\n",
        dir.path(),
    );
    let runner = Concurrent {
        active: Mutex::new((0, 0)),
        cv: Condvar::new(),
        inner: FakeTrainer::new(|_| Behaviour::Finish),
    };
    let outcome = sweep::execute(&p, &runner, 3, &mut Vec::new()).unwrap();
    assert_eq!(outcome.succeeded.len(), 6);
    let calls = runner.inner.calls();
    assert_eq!(calls.len(), 6, "each job exactly once");
    assert_eq!(runner.active.lock().unwrap().1, 3, "three at a time, never more");
}

#[test]
fn the_report_averages_over_seeds_and_draws_one_plot_per_metric() {
    let dir = tempfile::tempdir().unwrap();
    let p = plan(CURRICULUM_X_ALGO_X_SEED, dir.path());
    sweep::execute(&p, &FakeTrainer::new(|_| Behaviour::Finish), 1, &mut Vec::new()).unwrap();
    let report = sweep_report::write_report(dir.path()).unwrap();
    assert_eq!(report.rows.len(), 4);
    let row = report.rows.iter().find(|r| r.group == "continual-ppo").unwrap();
    assert_eq!((row.runs, row.finished), (3, 3));
    // The fake's final accuracy is 0.1 * seed + 0.2: 0.3, 0.4, 0.5 -> 0.4 ± 0.1.
    let md = report.markdown();
    assert!(
        md.contains(
            "| continual-ppo | 3/3 | 0.050 ± 0.000 | 0.400 ± 0.100 | 0.410 ± 0.100 | — | 1.0k | 1m 00s |"
        ),
        "{md}"
    );
    assert!(md.contains("| random-grpo | 3/3 | 0.050 ± 0.000 | 0.200 ± 0.100 |"), "{md}");
    let csv = std::fs::read_to_string(dir.path().join("report.csv")).unwrap();
    let line = csv.lines().find(|l| l.starts_with("random-ppo,")).unwrap();
    let cells: Vec<&str> = line.split(',').collect();
    assert_eq!(&cells[..3], ["random-ppo", "3", "3"]);
    assert!((cells[5].parse::<f64>().unwrap() - 0.2).abs() < 1e-9, "{line}");
    assert!((cells[6].parse::<f64>().unwrap() - 0.1).abs() < 1e-9, "{line}");
    for plot in ["plots/val_acc.png", "plots/critic_score_mean.png", "plots/val_acc_vs_minutes.png"] {
        let bytes = std::fs::read(dir.path().join(plot)).unwrap_or_else(|_| panic!("{plot} missing"));
        assert_eq!(&bytes[..4], b"\x89PNG");
    }
    assert!(!dir.path().join("plots/actor_pg_loss.png").exists(), "no plot for a metric no run logged");
    assert!(md.contains("![val/acc](plots/val_acc.png)"));
    // On demand, through the binary.
    let o = tzhost(&["sweep", "report", dir.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("| continual-ppo | 3/3 |"));
}

#[test]
fn the_process_runner_runs_a_child_and_captures_its_output() {
    // A stand-in for `tzhost train --config FILE`: a shell script that writes
    // the summary for runs named *ok* and fails for the others.
    let script = r#"cfg="$3"; d=$(dirname "$cfg"); echo "training $cfg"
case "$d" in *ok*) echo '{"finished": true}' > "$d/summary.json" ;; *) echo "error: no GPU" >&2; exit 3 ;; esac"#;
    let runner = ProcessRunner {
        exe: PathBuf::from("/bin/sh"),
        global_args: vec!["-c".into(), script.into(), "stub".into()],
    };
    let dir = tempfile::tempdir().unwrap();
    let p = plan(
        "[sweep]\nname = \"proc\"\n[[variant]]\nname = \"ok\"\n[[variant]]\nname = \"bad\"\n",
        dir.path(),
    );
    let outcome = sweep::execute(&p, &runner, 2, &mut Vec::new()).unwrap();
    assert_eq!(outcome.succeeded, ["ok"]);
    let (name, why) = &outcome.failed[0];
    assert_eq!(name, "bad");
    assert!(why.contains("exit status: 3") && why.contains("error: no GPU"), "{why}");
    let log = std::fs::read_to_string(dir.path().join("ok/console.log")).unwrap();
    assert!(log.contains("training") && log.contains("ok/config.toml"), "{log}");
    // Resuming calls `resume RUN_DIR`.
    let job = Job {
        name: "x".into(),
        run_dir: dir.path().join("x"),
        config_path: dir.path().join("x/config.toml"),
        action: Action::Resume { step: 3 },
    };
    let cmd = runner.command(&job);
    let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
    assert_eq!(&args[3..], ["resume", dir.path().join("x").to_str().unwrap()]);
}

#[test]
fn dry_run_lists_the_plan_and_runs_nothing() {
    let plugins = plugin_dir(&["fixture_test_plugins"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.toml");
    std::fs::write(
        &file,
        "[sweep]\nname = \"dry\"\n[config]\ntask.name = \"echo\"\n[[axis]]\nkey = \"algorithm.chain\"\nvalues = [[\"grpo\"], [\"cosine\", \"ppo\"]]\n[[axis]]\nkey = \"trainer.seed\"\nvalues = [1, 2]\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = tzhost(&[
        "sweep",
        file.to_str().unwrap(),
        "--dry-run",
        "--out",
        out.to_str().unwrap(),
        "--plugin-dir",
        plugins.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("sweep dry: 4 runs") && text.contains("(0 finished, 0 to resume, 4 to start)"),
        "{text}"
    );
    assert!(text.contains("cosine+ppo-seed2") && text.contains("trainer.seed=2"), "{text}");
    assert!(!out.exists(), "a dry run writes nothing");
    // A typo in a plugin key fails before anything runs.
    let o = tzhost(&[
        "sweep",
        file.to_str().unwrap(),
        "--dry-run",
        "--set",
        "algorithm.plugins.ppo.gama=0.9",
        "--plugin-dir",
        plugins.path().to_str().unwrap(),
    ]);
    let line = assert_one_line_error(&o);
    assert!(line.contains("did you mean 'algorithm.plugins.ppo.gamma'?"), "{line}");
}

#[test]
fn arms_may_differ_only_in_what_the_sweep_compares() {
    let text = |compares: &str| {
        format!(
            "[sweep]\nname = \"fair\"\n{compares}\n[config]\ntrainer.lr = 1e-4\n[[variant]]\nname = \"a\"\nset = {{ \"algorithm.chain\" = [\"grpo\"] }}\n[[variant]]\nname = \"b\"\nset = {{ \"algorithm.chain\" = [\"ppo\"], \"trainer.mini_batch_size\" = 8 }}\n[[axis]]\nkey = \"trainer.seed\"\nvalues = [1, 2]\n"
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let open = sweep::expand(&spec(&text("")), &[], Some(dir.path())).unwrap();
    let diffs = sweep::differing_keys(&open);
    let keys: Vec<&str> = diffs.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(
        keys,
        ["algorithm.chain", "trainer.mini_batch_size"],
        "the seed and the run name are not arms"
    );
    assert_eq!(diffs[1].values, [("a".to_string(), "0".to_string()), ("b".to_string(), "8".to_string())]);
    let err = sweep::expand(&spec(&text("compares = [\"algorithm\"]")), &[], Some(dir.path())).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("also differ in trainer.mini_batch_size (a: 0, b: 8)"), "{msg}");
    sweep::expand(
        &spec(&text("compares = [\"algorithm\", \"trainer.mini_batch_size\"]")),
        &[],
        Some(dir.path()),
    )
    .unwrap();
    let mut out = Vec::new();
    sweep::print_plan(&open, &mut out).unwrap();
    let printed = String::from_utf8(out).unwrap();
    assert!(
        printed
            .contains("keys that differ between the arms:\n  algorithm.chain  a: [\"grpo\"] | b: [\"ppo\"]"),
        "{printed}"
    );
}

/// Every shipped sweep expands, and its runs resolve against the shipped
/// plugins' config keys.
#[test]
fn the_shipped_sweeps_expand() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut registry = tz_host::plugins::Registry::default();
    for lib in ["tz_algorithms", "tz_curricula", "tz_countdown", "tz_math"] {
        registry.add(tz_host::plugins::load_library(&library(lib)).unwrap()).unwrap();
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("configs/sweeps"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "{files:?}");
    for f in files {
        let spec = SweepSpec::from_file(&f).unwrap();
        let out = tempfile::tempdir().unwrap();
        let mut p =
            sweep::expand(&spec, &[], Some(out.path())).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert!(p.runs.len() >= 2, "{}", f.display());
        assert!(spec.seed_dimension().is_some(), "{}: no seed axis", f.display());
        assert!(!spec.compares.is_empty(), "{}: no sweep.compares", f.display());
        for run in &mut p.runs {
            // Plugin data files are named relative to the repository root,
            // where sweeps are run from; this test runs in host/.
            for table in run.resolved.config.task.plugins.values_mut() {
                if let Some(toml::Value::String(path)) = table.get_mut("data") {
                    if Path::new(path.as_str()).is_relative() {
                        *path = root.join(&*path).to_string_lossy().into_owned();
                    }
                }
            }
            tz_host::config::check_plugin_tables(&run.resolved, &registry)
                .and_then(|()| tz_host::config::check_plugins_accept(&run.resolved.config, &registry))
                .unwrap_or_else(|e| panic!("{} run {}: {e}", f.display(), run.name));
            // With the plugins' defaults written in, the config still resolves.
            tz_host::config::fill_plugin_defaults(&mut run.resolved, &registry).unwrap();
            let text = run.resolved.config.to_toml_string();
            assert_eq!(tz_host::config::RunConfig::from_toml_str(&text).unwrap(), run.resolved.config);
        }
        let scale_ok = if f.to_string_lossy().contains(".tiny.") {
            // The embedded model, or the tiny models a script builds
            // (scripts/make_tiny_hybrid_models.sh); bounded in time or steps.
            p.runs.iter().all(|r| {
                let c = &r.resolved.config;
                (c.model.path.is_empty() || c.model.path.starts_with("runs/tiny-"))
                    && (c.trainer.max_minutes > 0.0 || c.trainer.total_steps > 0)
            })
        } else {
            p.runs.iter().all(|r| {
                r.resolved.config.model.path.contains('/') && r.resolved.config.model.device == "cuda"
            })
        };
        assert!(
            scale_ok,
            "{}: tiny sweeps use the embedded (or a script-built tiny) model with a time or step budget; paper sweeps a hub model on CUDA",
            f.display()
        );
    }
}
