//! Collectives on 2 Gloo ranks, each a copy of this test binary started with
//! torchrun's variables (its `rank_main` test, selected by a scenario
//! variable); failure paths: a killed peer and a hung peer end the survivor
//! with an error naming the operation and its rank, within the timeout.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tch::{Device, Kind, Tensor};
use tz_dist::launch::{free_port, spawn_ranks, this_test_binary, torchrun_env, wait_all, RankOutput};
use tz_dist::{InitOptions, ReduceOp, World};

const SCENARIO: &str = "TZ_DIST_TEST_SCENARIO";
/// Generous: only reached when something is broken.
const DEADLINE: Duration = Duration::from_secs(120);

fn rank_command(scenario: &str) -> Command {
    let mut cmd = this_test_binary("rank_main").unwrap();
    cmd.env(SCENARIO, scenario);
    cmd
}

fn assert_all_succeeded(outputs: &[RankOutput]) {
    for (rank, out) in outputs.iter().enumerate() {
        assert_eq!(out.code, Some(0), "rank {rank} failed:\n{}\n{}", out.stdout, out.stderr);
        assert!(out.stdout.contains("scenario done"), "rank {rank} did not finish:\n{}", out.stdout);
    }
}

fn options(timeout_s: u64) -> InitOptions {
    InitOptions { timeout: Duration::from_secs(timeout_s), bucket_bytes: 64, ..InitOptions::default() }
}

fn floats(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.to_kind(Kind::Float).reshape([-1])).unwrap()
}

/// One rank of a multi-process test; does nothing when run by hand.
#[test]
#[ignore = "a rank of the multi-process tests, started by them"]
fn rank_main() {
    let Ok(scenario) = std::env::var(SCENARIO) else { return };
    match scenario.as_str() {
        "collectives" => collectives(),
        "killed_peer" | "hung_peer" => lose_a_peer(&scenario),
        "alone" => {
            let err = World::from_env(&options(2)).unwrap_err().to_string();
            assert!(err.starts_with("rank 0/2: joining the gloo process group via 127.0.0.1:"), "{err}");
            assert!(err.contains("1/2 clients joined"), "{err}");
        }
        other => panic!("unknown scenario {other}"),
    }
    println!("scenario done");
}

fn collectives() {
    let world = World::from_env(&options(60)).unwrap();
    assert!(world.is_distributed());
    let (rank, size) = (world.rank(), world.size());
    assert_eq!(size, 2);
    let r = rank as f32;

    // Bucketed all-reduce over mixed kinds and shapes (64-byte buckets:
    // several buckets, single-tensor and flattened ones).
    let a = Tensor::from_slice(&[1.0f32 + r, 2.0, 3.0]);
    let b = Tensor::from_slice(&[10.0f64 * (f64::from(r) + 1.0)]);
    let c = Tensor::ones([5, 4], (Kind::Float, Device::Cpu)) * (r + 1.0) as f64;
    let d = Tensor::from_slice(&[r, -r]).transpose(0, 0); // a view
    world
        .all_reduce(
            &[a.shallow_clone(), b.shallow_clone(), c.shallow_clone(), d.shallow_clone()],
            ReduceOp::Sum,
        )
        .unwrap();
    assert_eq!(floats(&a), vec![3.0, 4.0, 6.0]);
    assert_eq!(Vec::<f64>::try_from(&b).unwrap(), vec![30.0]);
    assert_eq!(floats(&c), vec![3.0; 20]);
    assert_eq!(floats(&d), vec![1.0, -1.0]);

    let mut xs = [r as f64, -(r as f64) * 2.0, 7.0];
    world.all_reduce_f64(&mut xs, ReduceOp::Max).unwrap();
    assert_eq!(xs, [1.0, 0.0, 7.0]);
    let mut ys = [r as f64 + 5.0];
    world.all_reduce_f64(&mut ys, ReduceOp::Min).unwrap();
    assert_eq!(ys, [5.0]);

    // Broadcast from rank 1 (bucketed, a bf16 tensor among them).
    let p = Tensor::from_slice(&[r, r + 1.0]);
    let q = (Tensor::ones([3], (Kind::Float, Device::Cpu)) * (r * 4.0) as f64).to_kind(Kind::BFloat16);
    world.broadcast(&[p.shallow_clone(), q.shallow_clone()], 1).unwrap();
    assert_eq!(floats(&p), vec![1.0, 2.0]);
    assert_eq!(floats(&q), vec![4.0; 3]);

    // All-gather: stacked by rank.
    let gathered = world.all_gather(&Tensor::from_slice(&[r, 10.0 + r])).unwrap();
    assert_eq!(gathered.size(), vec![2, 2]);
    assert_eq!(floats(&gathered), vec![0.0, 10.0, 1.0, 11.0]);

    // Reduce-scatter then all-gather on flat buffers (ZeRO's pair): rank k
    // gets the sum of slice k, and the gather rebuilds the whole sum.
    let input = Tensor::arange(6, (Kind::Float, Device::Cpu)) * (r + 1.0) as f64;
    let shard = Tensor::zeros([3], (Kind::Float, Device::Cpu));
    world.reduce_scatter_flat(&shard, &input, ReduceOp::Sum).unwrap();
    let expect_all: Vec<f32> = (0..6).map(|i| 3.0 * i as f32).collect();
    assert_eq!(floats(&shard), expect_all[rank * 3..rank * 3 + 3].to_vec());
    let whole = Tensor::zeros([6], (Kind::Float, Device::Cpu));
    world.all_gather_flat(&whole, &shard).unwrap();
    assert_eq!(floats(&whole), expect_all);

    // A mismatched buffer is refused locally, before any collective.
    let err =
        world.reduce_scatter_flat(&shard, &Tensor::zeros([5], (Kind::Float, Device::Cpu)), ReduceOp::Sum);
    let err = err.unwrap_err().to_string();
    assert!(
        err.contains(&format!("rank {rank}/2: reduce_scatter_flat: 5 elements is not 2 ranks × 3")),
        "{err}"
    );

    // A large tensor: one bucket of its own (above the 64-byte bucket size).
    let big = Tensor::ones([1 << 20], (Kind::Float, Device::Cpu));
    world.all_reduce(&[big.shallow_clone()], ReduceOp::Sum).unwrap();
    assert_eq!(big.sum(Kind::Double).double_value(&[]), 2.0 * (1 << 20) as f64);

    world.barrier().unwrap();
}

/// Both ranks all-reduce in a loop; the parent kills rank 1 (or rank 1 stops
/// taking part, for "hung_peer"). Rank 0 must fail with a clear error.
fn lose_a_peer(scenario: &str) {
    let world = World::from_env(&options(3)).unwrap();
    let t = Tensor::ones([1024], (Kind::Float, Device::Cpu));
    world.all_reduce(&[t.shallow_clone()], ReduceOp::Sum).unwrap();
    println!("joined");
    if world.rank() == 1 && scenario == "hung_peer" {
        std::thread::sleep(Duration::from_secs(600));
    }
    for _ in 0..1_000_000 {
        if let Err(e) = world.all_reduce(&[t.shallow_clone()], ReduceOp::Sum) {
            // Tearing the process group down after a failure must not hang either.
            drop(world);
            eprintln!("error: {e}");
            std::process::exit(3);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("the lost peer was never noticed");
}

#[test]
fn collectives_agree_on_two_gloo_ranks() {
    let children = spawn_ranks(2, |_| rank_command("collectives")).unwrap();
    assert_all_succeeded(&wait_all(children, DEADLINE));
}

#[test]
fn a_rank_that_never_arrives_fails_the_join_within_the_timeout() {
    // Only rank 0 of a world of 2 is started.
    let mut cmd = rank_command("alone");
    cmd.envs(torchrun_env(0, 2, free_port().unwrap()));
    assert_all_succeeded(&wait_all(vec![cmd.spawn().unwrap()], DEADLINE));
}

/// Starts the loop on 2 ranks, waits until both joined, then lets `lose`
/// take rank 1 away; returns rank 0's output and how long it took to fail.
fn survivor_of(scenario: &str, lose: impl FnOnce(&mut std::process::Child)) -> (RankOutput, Duration) {
    let mut children = spawn_ranks(2, |_| rank_command(scenario)).unwrap();
    for child in &mut children {
        let mut line = String::new();
        let mut out = BufReader::new(child.stdout.as_mut().unwrap());
        while !line.contains("joined") {
            line.clear();
            assert!(out.read_line(&mut line).unwrap() > 0, "a rank exited before joining");
        }
    }
    let start = Instant::now();
    lose(&mut children[1]);
    let mut outputs = wait_all(children.drain(..1).collect(), DEADLINE);
    let elapsed = start.elapsed();
    for mut rest in children {
        let _ = rest.kill();
        let _ = rest.wait();
    }
    (outputs.remove(0), elapsed)
}

#[test]
fn a_killed_peer_ends_the_other_rank_with_an_error() {
    let (out, elapsed) = survivor_of("killed_peer", |child| child.kill().unwrap());
    assert_eq!(out.code, Some(3), "rank 0 should report the failure:\n{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("error: rank 0/2: all_reduce failed:"), "{}", out.stderr);
    // The only bound that matters: it ended by itself, well before the deadline.
    assert!(elapsed < DEADLINE / 2, "took {elapsed:?}");
}

#[test]
fn a_hung_peer_ends_the_other_rank_within_the_timeout() {
    let (out, elapsed) = survivor_of("hung_peer", |_| {});
    assert_eq!(out.code, Some(3), "rank 0 should report the failure:\n{}\n{}", out.stdout, out.stderr);
    let err = out.stderr.lines().find(|l| l.starts_with("error:")).unwrap_or_default().to_string();
    assert!(err.contains("rank 0/2: all_reduce failed:"), "{}", out.stderr);
    assert!(elapsed < DEADLINE / 2, "took {elapsed:?}");
}

/// torchrun itself (its agent hosts the store): run when the venv has it.
#[test]
fn torchrun_launches_the_ranks() {
    let torchrun = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/torchrun");
    if !torchrun.exists() {
        eprintln!("skipped: {} not found (scripts/setup.sh makes it)", torchrun.display());
        return;
    }
    let port = free_port().unwrap();
    let child = Command::new(&torchrun)
        .args(["--no-python", "--nnodes", "1", "--nproc-per-node", "2"])
        .args(["--rdzv-backend", "c10d", "--rdzv-endpoint", &format!("127.0.0.1:{port}")])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "rank_main", "--ignored", "--nocapture", "--test-threads=1"])
        .env(SCENARIO, "collectives")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_all(vec![child], DEADLINE).remove(0);
    assert_eq!(out.code, Some(0), "torchrun failed:\n{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.stdout.matches("scenario done").count(), 2, "{}", out.stdout);
}
