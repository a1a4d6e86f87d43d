//! # tz-doctor: `tzhost doctor`, checks that a machine can train, one line per check,
//! each either fine or a failure with the fix. The checks: libtorch (found,
//! version, a tensor op), CUDA (linked, loaded, devices, memory), the
//! plugins (each library loads, its sdk version, each plugin instantiates)
//! and optionally a model directory, a data file and a config's reward model.

pub mod config;
pub mod cuda;
pub mod data;
mod error;
pub mod libtorch;
pub mod model;
pub mod plugins;
pub mod reward_model;

pub use error::{DoctorError, Result};

use std::fmt;

/// The device a `--device` value names, when it is usable (the model check
/// runs its forward pass there; without one, on the CPU).
pub fn device_of(spec: Option<&str>) -> Option<tz_core::Device> {
    spec.and_then(|d| tz_core::device::parse_device(d).ok())
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// Works, but something deserves attention.
    Warn,
    /// Not applicable here (no GPU, an optional part missing).
    Skip,
    Fail,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Skip => "skip",
            Status::Fail => "FAIL",
        })
    }
}

/// One check's result: what was checked, what was found and, on failure,
/// how to fix it.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub detail: String,
    pub fix: Option<String>,
}

impl Check {
    pub fn ok(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check { name: name.into(), status: Status::Ok, detail: detail.into(), fix: None }
    }
    pub fn skip(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check { name: name.into(), status: Status::Skip, detail: detail.into(), fix: None }
    }
    pub fn warn(name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { name: name.into(), status: Status::Warn, detail: detail.into(), fix: Some(fix.into()) }
    }
    pub fn fail(name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { name: name.into(), status: Status::Fail, detail: detail.into(), fix: Some(fix.into()) }
    }
}

impl fmt::Display for Check {
    /// `ok    libtorch: 2.11.0 at /path` or `FAIL  cuda: ...; fix: ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<5} {}: {}", self.status.to_string(), self.name, self.detail)?;
        if let Some(fix) = &self.fix {
            write!(f, "; fix: {fix}")?;
        }
        Ok(())
    }
}

/// The libraries mapped into this process (`/proc/self/maps`), e.g. to see
/// whether libtorch_cuda.so was really loaded. Empty where there is no /proc.
pub fn mapped_libraries() -> Vec<std::path::PathBuf> {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return Vec::new();
    };
    let mut libs: Vec<std::path::PathBuf> = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|p| p.starts_with('/') && p.contains(".so"))
        .map(std::path::PathBuf::from)
        .collect();
    libs.sort();
    libs.dedup();
    libs
}

/// The mapped library whose file name starts with `stem` (`libtorch_cuda.so`).
pub fn mapped(stem: &str) -> Option<std::path::PathBuf> {
    mapped_libraries()
        .into_iter()
        .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(stem)))
}
