//! # tz-report: reports over run directories
//!
//! Reports over run directories: reading runs ([`runs`]), statistics
//! ([`stats`]), PNG plots ([`plot`]: overlay lines, heatmaps), the sweep
//! summary ([`sweep_report`]) and the overlay report of `tzhost report`
//! ([`run_report`]). Other reports (evaluation) reuse the same pieces.

mod error;
pub mod plot;
pub mod run_report;
pub mod runs;
pub mod stage_plots;
pub mod stats;
pub mod sweep_report;

pub use error::{ReportError, Result};
