//! # tz-host: the `tzhost` command line
//!
//! A thin binary: clap ([`cli`]), plugin discovery, and one small file per
//! subcommand ([`cmd`]) that calls into the libraries behind it:
//!
//! | crate | job |
//! |---|---|
//! | `tz-plugin-host` | find and load plugin libraries, typed plugin handles |
//! | `tz-config` | layered run configs with origins, presets, validation |
//! | `tz-trainer` | the RL trainer (`train`, `resume`) |
//! | `tz-eval` | `eval` (mean@k, pass@k, maj@k) and `generate` |
//! | `tz-report` / `tz-sweep` | `report`, `sweep` |
//! | `tz-doctor` | `doctor` |
//! | `tz-plan` | `plan`'s memory estimates (inputs from a run config: [`memory_plan`]) |
//! | `tz-data` | `data`, `reward` |
//! | `tz-logging` / `tz-run-dir` | log output, the run directory layout |
//!
//! No code here uses tch: tensors live in `tz-core`, behind the trainer.
//! The libraries are re-exported under their old module names
//! (`tz_host::config`, `tz_host::plugins`, ...) for the integration tests.

pub mod cli;
pub mod cmd;

pub mod memory_plan;

pub use tz_config as config;
pub use tz_eval as eval;
pub use tz_logging as logging;
pub use tz_plugin_host as plugins;
pub use tz_report as report;
pub use tz_sweep as sweep;
pub use tz_trainer as train;
