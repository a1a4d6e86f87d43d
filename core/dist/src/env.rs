//! The launcher's variables: torchrun's (and `torch.distributed`'s `env://`)
//! contract, so a job launches exactly like a PyTorch one.

use crate::DistError;

/// Where this process sits in a launched job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchEnv {
    /// `RANK`: this process among all of them.
    pub rank: usize,
    /// `WORLD_SIZE`: processes in the job.
    pub world_size: usize,
    /// `LOCAL_RANK`: this process on its node (its GPU index); defaults to `RANK`.
    pub local_rank: usize,
    /// `LOCAL_WORLD_SIZE`: processes on this node; defaults to `WORLD_SIZE`.
    pub local_world_size: usize,
    /// `MASTER_ADDR`, `MASTER_PORT`: the rendezvous store.
    pub master_addr: String,
    pub master_port: u16,
    /// `TORCHELASTIC_USE_AGENT_STORE=True`: torchrun's agent already hosts
    /// the store, so every rank (rank 0 too) connects as a client.
    pub use_agent_store: bool,
    /// `GLOO_SOCKET_IFNAME`: the network interface Gloo binds.
    pub gloo_socket_ifname: Option<String>,
}

impl LaunchEnv {
    /// Reads the process environment; `Ok(None)` when no launcher variable
    /// (`RANK`, `WORLD_SIZE`) is set: a plain single-process run.
    pub fn from_env() -> Result<Option<LaunchEnv>, DistError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// [`LaunchEnv::from_env`] over any variable source.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Option<LaunchEnv>, DistError> {
        if get("RANK").is_none() && get("WORLD_SIZE").is_none() {
            return Ok(None);
        }
        let required = |var: &'static str| {
            get(var).ok_or_else(|| DistError::Env {
                var,
                problem: "not set (a launched job needs RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT)"
                    .into(),
            })
        };
        let number = |var: &'static str, text: String| {
            text.trim().parse::<usize>().map_err(|_| DistError::Env {
                var,
                problem: format!("'{text}' is not a non-negative integer"),
            })
        };
        let rank = number("RANK", required("RANK")?)?;
        let world_size = number("WORLD_SIZE", required("WORLD_SIZE")?)?;
        if world_size == 0 || rank >= world_size {
            return Err(DistError::Env {
                var: "RANK",
                problem: format!("rank {rank} is outside a world of {world_size} processes"),
            });
        }
        let local_rank = match get("LOCAL_RANK") {
            Some(text) => number("LOCAL_RANK", text)?,
            None => rank,
        };
        let local_world_size = match get("LOCAL_WORLD_SIZE") {
            Some(text) => number("LOCAL_WORLD_SIZE", text)?,
            None => world_size,
        };
        if local_rank >= local_world_size {
            return Err(DistError::Env {
                var: "LOCAL_RANK",
                problem: format!("local rank {local_rank} is outside {local_world_size} local processes"),
            });
        }
        let master_addr = required("MASTER_ADDR")?;
        let port_text = required("MASTER_PORT")?;
        let master_port = port_text.trim().parse::<u16>().map_err(|_| DistError::Env {
            var: "MASTER_PORT",
            problem: format!("'{port_text}' is not a port number"),
        })?;
        let use_agent_store = match get("TORCHELASTIC_USE_AGENT_STORE").as_deref().map(str::trim) {
            None | Some("") | Some("False") | Some("false") | Some("0") => false,
            Some("True") | Some("true") | Some("1") => true,
            Some(other) => {
                return Err(DistError::Env {
                    var: "TORCHELASTIC_USE_AGENT_STORE",
                    problem: format!("'{other}' is neither True nor False"),
                })
            }
        };
        Ok(Some(LaunchEnv {
            rank,
            world_size,
            local_rank,
            local_world_size,
            master_addr,
            master_port,
            use_agent_store,
            gloo_socket_ifname: get("GLOO_SOCKET_IFNAME").filter(|s| !s.is_empty()),
        }))
    }

    /// This process hosts the store: rank 0 of a launch without torchrun's agent.
    pub fn hosts_store(&self) -> bool {
        self.rank == 0 && !self.use_agent_store
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(vars: &[(&str, &str)]) -> Result<Option<LaunchEnv>, DistError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        LaunchEnv::from_lookup(|k| map.get(k).cloned())
    }

    const TORCHRUN: &[(&str, &str)] = &[
        ("RANK", "1"),
        ("WORLD_SIZE", "4"),
        ("LOCAL_RANK", "1"),
        ("LOCAL_WORLD_SIZE", "2"),
        ("MASTER_ADDR", "10.0.0.7"),
        ("MASTER_PORT", "29500"),
        ("TORCHELASTIC_USE_AGENT_STORE", "True"),
    ];

    #[test]
    fn no_launcher_variables_mean_a_single_process() {
        assert_eq!(parse(&[("MASTER_PORT", "1")]).unwrap(), None);
    }

    #[test]
    fn torchruns_variables_are_read() {
        let env = parse(TORCHRUN).unwrap().unwrap();
        assert_eq!((env.rank, env.world_size, env.local_rank, env.local_world_size), (1, 4, 1, 2));
        assert_eq!((env.master_addr.as_str(), env.master_port), ("10.0.0.7", 29500));
        assert!(env.use_agent_store && !env.hosts_store());
    }

    #[test]
    fn a_plain_env_launch_makes_rank_zero_the_store_host() {
        let env = parse(&[("RANK", "0"), ("WORLD_SIZE", "2"), ("MASTER_ADDR", "h"), ("MASTER_PORT", "5")])
            .unwrap()
            .unwrap();
        assert!(env.hosts_store());
        assert_eq!((env.local_rank, env.local_world_size), (0, 2));
    }

    #[test]
    fn bad_variables_are_named() {
        let missing = parse(&[("RANK", "0"), ("WORLD_SIZE", "2")]).unwrap_err().to_string();
        assert!(missing.contains("MASTER_ADDR: not set"), "{missing}");
        let mut vars = TORCHRUN.to_vec();
        vars[0] = ("RANK", "4");
        let outside = parse(&vars).unwrap_err().to_string();
        assert!(outside.contains("RANK: rank 4 is outside a world of 4"), "{outside}");
        vars[0] = ("RANK", "x");
        assert!(parse(&vars).unwrap_err().to_string().contains("RANK: 'x' is not"));
        vars[0] = ("RANK", "1");
        vars[5] = ("MASTER_PORT", "70000");
        assert!(parse(&vars).unwrap_err().to_string().contains("MASTER_PORT: '70000' is not a port"));
    }
}
