//! The trainer's place in a data-parallel job launched by torchrun.
//!
//! Every rank runs the whole loop on the same data in the same order; only
//! two things are split: the rollout's prompts ([`my_prompts`], gathered
//! back with [`gather_completions`], so every rank scores and shapes the
//! whole batch, identically) and the update's rows (the core's
//! [`BatchShard`], gradients summed once per mini-batch). Whatever a rank
//! decides from its own clock or signals goes through [`agree_stop`] or
//! [`any`], so no rank enters a collective the others skip. Without
//! launcher variables the world is [`World::single`] and all of this is the
//! identity.

use std::ops::Range;
use std::time::Duration;

use tz_config::RunConfig;
use tz_core::device::{parse_device, set_threads};
use tz_core::parallel::{all_gather_vec, BatchShard, InitOptions, LaunchEnv, ReduceOp, StateSharding, World};
use tz_core::rollout::{Completion, FinishReason};
use tz_core::Device;

use crate::error::Result;
use crate::stop::Stop;

/// Joins the job torchrun describes, or returns [`World::single`] without
/// launcher variables. A rank trains on `cuda:LOCAL_RANK` when the config
/// asks for CUDA, else on the CPU with its share of the cores as libtorch
/// threads.
pub fn join(cfg: &RunConfig) -> Result<World> {
    let Some(env) = LaunchEnv::from_env()? else { return Ok(World::single()) };
    let device = match parse_device(&cfg.model.device)? {
        Device::Cuda(_) => Device::Cuda(env.local_rank),
        other => {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            set_threads((cores / env.local_world_size.max(1)).max(1));
            other
        }
    };
    let options = InitOptions {
        device,
        timeout: Duration::from_secs_f64(cfg.dist.timeout_s),
        ..InitOptions::default()
    };
    let world = World::init(&env, &options)?;
    let backend = world.backend().map_or("no", |b| b.name());
    tracing::info!("rank {}/{} joined the {backend} process group on {device:?}", world.rank(), world.size());
    Ok(world)
}

/// How the optimizer state is laid out across ranks (`dist.zero1`).
pub fn sharding(cfg: &RunConfig) -> StateSharding {
    if cfg.dist.zero1 {
        StateSharding::Zero1
    } else {
        StateSharding::Replicated
    }
}

/// The model device of this rank: the world's in a launched job, else the config's.
pub fn device(world: &World, cfg: &RunConfig) -> Result<Device> {
    if world.is_distributed() {
        return Ok(world.device());
    }
    Ok(parse_device(&cfg.model.device)?)
}

/// This rank's contiguous prompts of a batch of `prompts` (all `n` samples
/// of a prompt stay on one rank, so group statistics are local).
pub fn my_prompts(world: &World, prompts: usize) -> Range<usize> {
    let rows = BatchShard::split_groups(world.clone(), prompts, 1).rows();
    rows.start..rows.end
}

/// This rank's rows of a batch of `prompts` × `n` responses (prompt-major).
pub fn my_rows(world: &World, prompts: usize, n: usize) -> BatchShard {
    BatchShard::split_groups(world.clone(), prompts, n)
}

/// Every rank's completions, in rank order (= prompt order, since each
/// rank holds a contiguous run of prompts): the whole batch on every rank.
pub fn gather_completions(world: &World, local: Vec<Completion>) -> Result<Vec<Completion>> {
    if !world.is_distributed() {
        return Ok(local);
    }
    // Per completion: prompt, sample, finish, tokens, text bytes.
    let mut heads: Vec<i64> = Vec::with_capacity(local.len() * 5);
    let mut tokens: Vec<i64> = Vec::new();
    let mut logprobs: Vec<f32> = Vec::new();
    let mut text: Vec<u8> = Vec::new();
    for c in &local {
        let finish = match c.finish {
            FinishReason::Stop => 0,
            FinishReason::Length => 1,
        };
        heads.extend([c.prompt_index as i64, c.sample_index as i64, finish, c.token_ids.len() as i64]);
        heads.push(c.text.len() as i64);
        tokens.extend(c.token_ids.iter().map(|&t| i64::from(t)));
        logprobs.extend(&c.logprobs);
        text.extend(c.text.as_bytes());
    }
    let heads = all_gather_vec(world, &heads)?;
    let tokens = all_gather_vec(world, &tokens)?;
    let logprobs = all_gather_vec(world, &logprobs)?;
    let text = all_gather_vec(world, &text)?;
    let (mut t, mut b) = (0usize, 0usize);
    let mut out = Vec::with_capacity(heads.len() / 5);
    for h in heads.chunks_exact(5) {
        let (n, bytes) = (h[3] as usize, h[4] as usize);
        out.push(Completion {
            prompt_index: h[0] as usize,
            sample_index: h[1] as usize,
            token_ids: tokens[t..t + n].iter().map(|&x| x as u32).collect(),
            text: String::from_utf8_lossy(&text[b..b + bytes]).into_owned(),
            logprobs: logprobs[t..t + n].to_vec(),
            finish: if h[2] == 0 { FinishReason::Stop } else { FinishReason::Length },
        });
        t += n;
        b += bytes;
    }
    Ok(out)
}

/// True on every rank when `flag` is true on any.
pub fn any(world: &World, flag: bool) -> Result<bool> {
    let mut v = [f64::from(u8::from(flag))];
    world.all_reduce_f64(&mut v, ReduceOp::Max)?;
    Ok(v[0] > 0.0)
}

/// Rank 0's `text` on every rank (a run directory's name, made from the clock).
pub fn from_main(world: &World, text: &str) -> Result<String> {
    if !world.is_distributed() {
        return Ok(text.to_string());
    }
    let lengths = all_gather_vec(world, &[text.len() as i64])?;
    let bytes = all_gather_vec(world, text.as_bytes())?;
    Ok(String::from_utf8_lossy(&bytes[..lengths[0] as usize]).into_owned())
}

/// One stop decision for all ranks: a rank whose rules fired stops every
/// rank (a signal or a clock is rank-local); the strongest kind wins
/// (interrupted over collapsed over plain).
pub fn agree_stop(world: &World, local: Option<Stop>) -> Result<Option<Stop>> {
    if !world.is_distributed() {
        return Ok(local);
    }
    let code = |s: &Stop| {
        if s.interrupted {
            3.0
        } else if s.collapsed {
            2.0
        } else {
            1.0
        }
    };
    let mut v = [local.as_ref().map_or(0.0, code)];
    world.all_reduce_f64(&mut v, ReduceOp::Max)?;
    let strongest = v[0];
    if strongest == 0.0 {
        return Ok(None);
    }
    if let Some(stop) = local.filter(|s| code(s) == strongest) {
        return Ok(Some(stop));
    }
    let kind = match strongest as u8 {
        3 => "a signal",
        2 => "a reward collapse",
        _ => "a stop rule",
    };
    Ok(Some(Stop {
        reason: format!("another rank stopped the run ({kind})"),
        collapsed: strongest == 2.0,
        interrupted: strongest == 3.0,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completion(prompt: usize) -> Completion {
        Completion {
            prompt_index: prompt,
            sample_index: 0,
            token_ids: vec![1, 2],
            text: "ab".into(),
            logprobs: vec![-0.5, -1.0],
            finish: FinishReason::Stop,
        }
    }

    #[test]
    fn a_single_process_holds_every_prompt_and_decides_alone() {
        let w = World::single();
        assert_eq!(my_prompts(&w, 5), 0..5);
        assert_eq!(my_rows(&w, 5, 4).rows(), 0..20);
        let batch = vec![completion(0), completion(1)];
        assert_eq!(gather_completions(&w, batch.clone()).unwrap(), batch);
        assert!(!any(&w, false).unwrap() && any(&w, true).unwrap());
        assert_eq!(from_main(&w, "runs/x").unwrap(), "runs/x");
        assert_eq!(agree_stop(&w, None).unwrap(), None);
        let stop = Stop::new("3 steps done");
        assert_eq!(agree_stop(&w, Some(stop.clone())).unwrap(), Some(stop));
    }
}
