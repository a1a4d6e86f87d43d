//! # tz-data: data sets and the data/reward commands
//!
//! Rows in the TinyZero/veRL layout (`target, nums, data_source, prompt,
//! ability, reward_model, extra_info`, plus this project's `group` and
//! `difficulty`) are read from parquet written by any tool (HF `datasets`,
//! pyarrow, polars) or from JSONL, and written as parquet that pyarrow reads
//! with the same column types ([`rows`], [`schema`]).
//!
//! The command logic behind `tzhost data gen|split-random|show` and
//! `tzhost reward` lives in [`commands`] as plain functions over a loaded
//! task ([`tz_sdk::handle::Task`]), so the CLI only parses arguments.

pub mod commands;
mod error;
pub mod progress;
pub mod rows;
pub mod schema;

pub use error::{DataError, Result};
pub use rows::{read_jsonl, read_parquet, read_rows, write_jsonl, write_parquet};
