//! Reports over run directories: reading runs ([`runs`]), statistics
//! ([`stats`]), PNG plots ([`plot`]: overlay lines, heatmaps) and the sweep
//! summary ([`sweep_report`]). Other reports (curricula, evaluation) reuse
//! the same pieces.

pub mod plot;
pub mod runs;
pub mod stats;
pub mod sweep_report;
