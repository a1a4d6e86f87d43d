//! Starting a job of N local processes the way torchrun does (its
//! environment variables, a free port on 127.0.0.1), for tests and
//! benchmarks. Users launch with torchrun itself.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound, then released: another process may
/// take it in between, which tests tolerate).
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The variables torchrun gives rank `rank` of `world_size` local processes,
/// without its agent (rank 0 hosts the store).
pub fn torchrun_env(rank: usize, world_size: usize, port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("RANK", rank.to_string()),
        ("LOCAL_RANK", rank.to_string()),
        ("GROUP_RANK", "0".into()),
        ("WORLD_SIZE", world_size.to_string()),
        ("LOCAL_WORLD_SIZE", world_size.to_string()),
        ("MASTER_ADDR", "127.0.0.1".into()),
        ("MASTER_PORT", port.to_string()),
        ("TORCHELASTIC_USE_AGENT_STORE", "False".into()),
        ("OMP_NUM_THREADS", "1".into()),
    ]
}

/// Starts `world_size` processes; `command(rank)` builds each one, and the
/// launcher variables are added to it.
pub fn spawn_ranks(world_size: usize, command: impl Fn(usize) -> Command) -> std::io::Result<Vec<Child>> {
    let port = free_port()?;
    (0..world_size)
        .map(|rank| {
            let mut cmd = command(rank);
            cmd.envs(torchrun_env(rank, world_size, port));
            cmd.spawn()
        })
        .collect()
}

/// The running test binary again, running only its test `name` (an
/// `#[ignore]`d rank entry point of a multi-process test), with piped
/// output. libtest's own flags select it.
pub fn this_test_binary(name: &str) -> std::io::Result<Command> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["--exact", name, "--ignored", "--nocapture", "--test-threads=1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    Ok(cmd)
}

/// What a finished (or killed) rank left behind.
#[derive(Debug)]
pub struct RankOutput {
    /// `None` when the process was killed at the deadline or by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Waits for every child, killing all of them when `deadline` passes (so a
/// broken test fails instead of hanging). Piped stdout/stderr are drained
/// while waiting, so a chatty child cannot block on a full pipe.
pub fn wait_all(children: Vec<Child>, deadline: Duration) -> Vec<RankOutput> {
    let start = Instant::now();
    let mut readers = Vec::new();
    let mut children: Vec<Child> = children
        .into_iter()
        .map(|mut child| {
            readers.push((drain(child.stdout.take()), drain(child.stderr.take())));
            child
        })
        .collect();
    let mut codes: Vec<Option<Option<i32>>> = vec![None; children.len()];
    while codes.iter().any(Option::is_none) {
        if start.elapsed() > deadline {
            for (child, code) in children.iter_mut().zip(&codes) {
                if code.is_none() {
                    let _ = child.kill();
                }
            }
        }
        for (child, code) in children.iter_mut().zip(codes.iter_mut()) {
            if code.is_none() {
                match child.try_wait() {
                    Ok(Some(status)) => *code = Some(status.code()),
                    Ok(None) => {}
                    Err(_) => *code = Some(None),
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    codes
        .into_iter()
        .zip(readers)
        .map(|(code, (out, err))| RankOutput {
            code: code.flatten(),
            stdout: out.join().unwrap_or_default(),
            stderr: err.join().unwrap_or_default(),
        })
        .collect()
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    })
}
