//! The round × group × epochs schedule shared by `continual` and `random`,
//! and the checks on its config.

use tz_sdk::{Plan, PluginResult, Stage};

/// `rounds` passes over `groups` in order, `epochs` per group per pass.
pub fn stages(rounds: u32, groups: &[String], epochs: u32) -> Plan {
    let stages = (1..=rounds)
        .flat_map(|round| groups.iter().map(move |g| Stage { round, group: g.clone(), epochs }))
        .collect();
    Plan { stages }
}

/// Rounds and epochs must be positive; group names non-empty and distinct.
pub fn check(rounds: u32, groups: &[String], epochs: u32) -> PluginResult<()> {
    if rounds == 0 {
        return Err("config key 'rounds': must be at least 1".into());
    }
    if epochs == 0 {
        return Err("config key 'epochs_per_group': must be at least 1".into());
    }
    for (i, g) in groups.iter().enumerate() {
        if g.trim().is_empty() {
            return Err(format!("config key 'groups': entry {i} is an empty name"));
        }
        if groups[..i].contains(g) {
            return Err(format!("config key 'groups': group '{g}' is listed twice"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_run_rounds_over_groups_in_order() {
        let groups = vec!["a".to_string(), "b".to_string()];
        let plan = stages(2, &groups, 3);
        let got: Vec<(u32, &str, u32)> =
            plan.stages.iter().map(|s| (s.round, s.group.as_str(), s.epochs)).collect();
        assert_eq!(got, [(1, "a", 3), (1, "b", 3), (2, "a", 3), (2, "b", 3)]);
    }

    #[test]
    fn bad_schedules_are_rejected() {
        let g = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(check(0, &g(&["a"]), 1).unwrap_err().contains("'rounds'"));
        assert!(check(1, &g(&["a"]), 0).unwrap_err().contains("'epochs_per_group'"));
        assert!(check(1, &g(&["a", " "]), 1).unwrap_err().contains("entry 1 is an empty name"));
        assert!(check(1, &g(&["a", "b", "a"]), 1).unwrap_err().contains("'a' is listed twice"));
        assert!(check(3, &g(&["a", "b"]), 15).is_ok());
    }
}
