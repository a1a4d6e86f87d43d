//! # tz-sweep: `tzhost sweep`, ablations as a base config plus axes or explicit variants
//!
//! A sweep file ([`spec`]) expands into runs ([`plan`]), each a resolved run
//! config in its own directory `SWEEP_DIR/<run name>/`. [`execute`] runs them
//! as child processes (one at a time or `--parallel N`); re-running a sweep
//! skips finished runs (`summary.json` says `finished: true`), resumes
//! interrupted ones (a checkpoint exists) and starts the rest ([`state`]).
//! `sweep.json` ([`manifest`]) records the runs for the report.

mod error;
pub mod execute;
pub mod manifest;
pub mod plan;
pub mod spec;
pub mod state;

use std::io::Write;

pub use error::{Result, SweepError};
pub use execute::{decide, execute, Action, Decision, Job, Outcome, ProcessRunner, Runner};
pub use manifest::Manifest;
pub use plan::{differing_keys, expand, KeyDiff, Plan, PlannedRun};
pub use spec::SweepSpec;

/// Prints what a sweep would do (`--dry-run`).
pub fn print_plan(plan: &Plan, out: &mut dyn Write) -> Result<()> {
    let decisions = decide(plan);
    let count = |f: &dyn Fn(&Action) -> bool| decisions.iter().filter(|d| f(&d.action)).count();
    writeln!(
        out,
        "sweep {}: {} runs in {} ({} finished, {} to resume, {} to start)",
        plan.spec.name,
        plan.runs.len(),
        plan.dir.display(),
        count(&|a| *a == Action::Skip),
        count(&|a| matches!(a, Action::Resume { .. })),
        count(&|a| matches!(a, Action::Start { .. })),
    )?;
    if let Some(base) = &plan.spec.base_config {
        writeln!(out, "base config: {}", base.display())?;
    }
    let diffs = differing_keys(plan);
    if diffs.is_empty() {
        writeln!(out, "the arms differ in no config key besides the seed")?;
    } else {
        let checked = if plan.spec.compares.is_empty() { "" } else { " (all named by sweep.compares)" };
        writeln!(out, "keys that differ between the arms{checked}:")?;
        for d in &diffs {
            let values: Vec<String> = d.values.iter().map(|(g, v)| format!("{g}: {v}")).collect();
            writeln!(out, "  {}  {}", d.key, values.join(" | "))?;
        }
    }
    let width = plan.runs.iter().map(|r| r.name.len()).max().unwrap_or(0);
    for (run, d) in plan.runs.iter().zip(&decisions) {
        let keys: Vec<String> = plan
            .spec
            .dimensions
            .iter()
            .zip(&run.labels)
            .flat_map(|(dim, (_, label))| {
                let choice = dim.choices.iter().find(|c| &c.label == label).expect("label of this dimension");
                choice.set.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>()
            })
            .collect();
        writeln!(out, "  {:<width$}  {:<16}  {}", run.name, d.action.describe(), keys.join(" "))?;
        if let Some(drift) = &d.drift {
            writeln!(out, "  {:<width$}  warning: config changed since it ran ({drift})", "")?;
        }
    }
    Ok(())
}
