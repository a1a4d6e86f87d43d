//! The text form of a [`PlanReport`]: what was assumed, the memory by
//! device and phase, the verdict and the changes that would make it fit.

use std::fmt::Write;

use tz_plan::{Attention, DevicePlan, Placement, RunShape, Update, HEADROOM};

use super::PlanReport;

fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

const WIDTH: usize = 64;

fn row(out: &mut String, indent: usize, name: &str, bytes: u64) {
    let pad = WIDTH.saturating_sub(indent + name.chars().count());
    let _ = writeln!(out, "{:indent$}{name}{:pad$}{:>8.2}", "", "", gib(bytes));
}

fn describe_run(run: &RunShape) -> String {
    let mut parts = Vec::new();
    if let Some(g) = run.generations.first() {
        parts.push(format!(
            "{} prompts × {} sample{} per step",
            g.prompts,
            g.samples,
            if g.samples == 1 { "" } else { "s" }
        ));
    }
    parts.push(format!("prompt ≤ {} + response ≤ {} tokens", run.prompt_len, run.response_len));
    if let Some(Update { micro_batch, logit_chunk, gradient_checkpointing, critic }) = run.update {
        parts.push(format!("micro-batch {micro_batch}, logit chunk {logit_chunk}"));
        parts.push(format!("checkpointing {}", if gradient_checkpointing { "on" } else { "off" }));
        if critic {
            parts.push("PPO critic".into());
        }
    }
    match &run.reference {
        Some(Placement::Policy) => parts.push("reference on the policy device".into()),
        Some(Placement::Other(d)) => parts.push(format!("reference on {d}")),
        None => {}
    }
    match (run.budget.rows_in_flight, run.budget.kv_tokens) {
        (None, None) => parts.push("no rollout budget (all rows at once)".into()),
        (rows, tokens) => parts.push(format!(
            "rollout budget {}{}",
            rows.map_or(String::new(), |r| format!("{r} rows ")),
            tokens.map_or(String::new(), |t| format!("{t} KV tokens"))
        )),
    }
    parts.push(match run.attention {
        Attention::Math => "attention: math kernel ([heads, T, T] f32 scores)".into(),
        Attention::Fused => "attention: fused kernel".into(),
    });
    format!("{}, {}", run.dtype.name(), parts.join(", "))
}

fn device(out: &mut String, d: &DevicePlan) {
    let _ = writeln!(out, "\n{}{:>w$}", d.name, "GiB", w = WIDTH + 8 - d.name.chars().count());
    let _ = writeln!(out, "  resident for the whole run");
    for item in &d.resident {
        row(out, 4, &item.name, item.bytes);
    }
    row(out, 4, "= resident", d.resident_total());
    let _ = writeln!(out, "  each phase adds (peak = resident + the largest phase)");
    for phase in &d.phases {
        row(out, 4, &phase.name, phase.total());
        for item in &phase.items {
            row(out, 6, &item.name, item.bytes);
        }
        for item in &phase.info {
            row(out, 6, &format!("({}: not counted)", item.name), item.bytes);
        }
    }
}

/// The report as text.
pub fn render(r: &PlanReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "model     {} — {}", r.model, r.shape.summary());
    let _ = writeln!(out, "          shape from {}", r.model_from);
    let _ = writeln!(out, "run       {}", describe_run(&r.run));
    let ranks = if r.run.ranks > 1 {
        format!("{} ranks{}", r.run.ranks, if r.run.shard_optimizer { " with ZeRO-1" } else { "" })
    } else {
        "1 rank".into()
    };
    let _ = writeln!(
        out,
        "hardware  {} ({:.1} GiB), {ranks}; from {}",
        r.hardware.name,
        gib(r.hardware.capacity),
        r.hardware_from
    );
    for d in &r.plan.devices {
        device(&mut out, d);
    }
    let free = r.hardware.capacity as f64 * (1.0 - HEADROOM);
    let verdict = if r.fit.fits {
        format!("fits ({:.0}% of the device)", 100.0 * r.peak as f64 / r.hardware.capacity.max(1) as f64)
    } else {
        format!(
            "does NOT fit ({:.2} GiB usable after {:.0}% headroom)",
            free / (1u64 << 30) as f64,
            HEADROOM * 100.0
        )
    };
    let _ = writeln!(
        out,
        "\npeak per rank: {:.2} GiB in \"{}\" on {} of {:.2} GiB: {verdict}",
        gib(r.peak),
        r.peak_phase,
        r.hardware.name,
        gib(r.hardware.capacity)
    );
    for d in r.plan.devices.iter().skip(1) {
        let _ = writeln!(out, "peak on {}: {:.2} GiB", d.name, gib(d.peak()));
    }
    if !r.fit.fits {
        if r.suggestions.is_empty() {
            let _ = writeln!(out, "no change the planner knows makes it fit: use a larger device");
        } else {
            let alone = r.suggestions.len() > 1 || r.suggestions[0].changes.len() == 1;
            let _ = writeln!(out, "{}", if alone { "to fit, any one of:" } else { "to fit, all of:" });
            for s in &r.suggestions {
                let _ = writeln!(out, "  {}  → peak {:.2} GiB", s.changes.join("; "), gib(s.peak));
            }
        }
    }
    out
}
