//! The curricula of a run: at most one plans the data stages, and the first
//! with an opinion sets each batch's window (max new tokens).

use tz_sdk::handle::Curriculum;
use tz_sdk::{BatchStats, Metric, Stage};

use crate::error::{bail, Result};

/// The curricula and the stage plan they made.
pub struct Curricula {
    pub list: Vec<Curriculum>,
    pub plan: Vec<Stage>,
    /// A curriculum planned the stages (else one stage over `all`).
    pub planned: bool,
}

impl Curricula {
    /// Asks every curriculum for a plan over the task's `groups`.
    pub fn new(list: Vec<Curriculum>, groups: &[String]) -> Result<Curricula> {
        let mut plan = None;
        for c in &list {
            if let Some(p) = c.plan(groups)? {
                if plan.is_some() {
                    let names: Vec<&str> = list.iter().map(Curriculum::name).collect();
                    bail!("--curriculum {}: more than one curriculum plans data stages", names.join(","));
                }
                plan = Some(p.stages);
            }
        }
        let planned = plan.is_some();
        let plan = plan.unwrap_or_else(|| vec![Stage { round: 1, group: "all".into(), epochs: 1 }]);
        Ok(Curricula { list, plan, planned })
    }

    /// The window for the next batch: the first curriculum with an opinion, else the max.
    pub fn window(&self, max: usize) -> Result<usize> {
        for c in &self.list {
            if let Some(w) = c.window()? {
                return Ok((w as usize).clamp(1, max));
            }
        }
        Ok(max)
    }

    /// Every curriculum learns from the batch just trained on; their metrics.
    pub fn observe(&mut self, stats: &BatchStats) -> Result<Vec<Metric>> {
        let mut out = Vec::new();
        for c in self.list.iter_mut() {
            out.extend(c.observe(stats)?);
        }
        Ok(out)
    }
}
