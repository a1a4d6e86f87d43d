//! What a report draws from a planned run's stage records
//! (`metrics/consolidated_metrics_{size}.json`, seed 001's layout): the
//! stage boundaries marked on line plots, the success matrix and the weight
//! change per stage and layer type as heatmaps, and the overall weight
//! change per stage as a curve.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::plot::{Heatmap, Marker, Series};

/// The consolidated stage file of a run directory and the model-size suffix
/// in its name (`consolidated_metrics_1.5b.json` → `1.5b`), if it has one.
pub fn consolidated_file(run: &Path) -> Option<(PathBuf, Option<String>)> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(run.join("metrics"))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            name.starts_with("consolidated_metrics") && name.ends_with(".json")
        })
        .collect();
    found.sort();
    let path = found.into_iter().next()?;
    let stem = path.file_stem()?.to_string_lossy().to_string();
    let size = stem.strip_prefix("consolidated_metrics_").map(str::to_string);
    Some((path, size))
}

fn stages(consolidated: &Value) -> &[Value] {
    consolidated.get("stages").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

fn stage_label(record: &Value) -> String {
    format!("R{} {}", record["round"], record["group"].as_str().unwrap_or("?"))
}

/// Where each stage begins: `(step, "R{round} {group}")`, in the colour of series `color`.
pub fn boundaries(consolidated: &Value, color: usize) -> Vec<Marker> {
    stages(consolidated)
        .iter()
        .filter_map(|r| Some(Marker { x: r["initial"]["step"].as_f64()?, label: stage_label(r), color }))
        .collect()
}

/// Problems per group at the stage evaluations (the first one recorded).
pub fn problems_per_group(consolidated: &Value) -> Option<u64> {
    let first = stages(consolidated).first()?;
    first["initial"]["eval"].as_object()?.values().next()?.get("problems")?.as_u64()
}

/// The success matrix (stage × group) as a heatmap.
pub fn matrix_heatmap(run: &str, consolidated: &Value) -> Option<Heatmap> {
    let m = consolidated.get("success_matrix")?;
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
            .unwrap_or_default()
    };
    let groups = strings(&m["groups"]);
    let rows = strings(&m["rows"]);
    let values: Vec<Vec<Option<f64>>> = m["acc"]
        .as_array()?
        .iter()
        .map(|r| r.as_array().map(|c| c.iter().map(Value::as_f64).collect()).unwrap_or_default())
        .collect();
    if rows.is_empty() || groups.is_empty() {
        return None;
    }
    let problems =
        problems_per_group(consolidated).map(|n| format!(" ({n} problems per group)")).unwrap_or_default();
    Some(Heatmap {
        title: format!("{run}: success rate{problems}"),
        x_label: "evaluated group".into(),
        y_label: "after stage".into(),
        col_labels: groups,
        row_labels: rows,
        values,
        range: Some((0.0, 1.0)),
    })
}

/// The relative weight change of every stage (its start to its end),
/// overall and per layer type, as a heatmap.
pub fn weight_change_heatmap(run: &str, consolidated: &Value) -> Option<Heatmap> {
    let changes: Vec<(String, &Value)> = stages(consolidated)
        .iter()
        .filter_map(|r| {
            Some((stage_label(r), r.get("final")?.get("weight_change").filter(|w| w.is_object())?))
        })
        .collect();
    let mut types: Vec<String> = Vec::new();
    for (_, wc) in &changes {
        for t in wc["by_type"].as_object().into_iter().flat_map(|m| m.keys()) {
            if !types.contains(t) {
                types.push(t.clone());
            }
        }
    }
    if changes.is_empty() {
        return None;
    }
    let mut cols = vec!["overall".to_string()];
    cols.extend(types.iter().cloned());
    let values = changes
        .iter()
        .map(|(_, wc)| {
            std::iter::once(wc["overall"].as_f64())
                .chain(types.iter().map(|t| wc["by_type"][t].as_f64()))
                .collect()
        })
        .collect();
    Some(Heatmap {
        title: format!("{run}: weight change per stage (relative L2)"),
        x_label: "layer type".into(),
        y_label: "stage".into(),
        col_labels: cols,
        row_labels: changes.into_iter().map(|(l, _)| l).collect(),
        values,
        range: None,
    })
}

/// The overall weight change of each finished stage, at the step it ended.
pub fn weight_change_curve(run: &str, consolidated: &Value) -> Series {
    let points = stages(consolidated)
        .iter()
        .filter_map(|r| {
            let f = r.get("final")?;
            Some((f["step"].as_f64()?, f["weight_change"]["overall"].as_f64()?))
        })
        .collect();
    Series { label: run.to_string(), points, band: vec![] }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn consolidated() -> Value {
        let eval = json!({"plus": {"acc": 0.5, "score": 0.5, "problems": 1000}});
        let wc = |x: f64| json!({"overall": x, "by_type": {"attn_q": x * 2.0, "norms": x / 2.0}, "abs_l2": 1.0, "parameters": 3});
        json!({
            "size": "1.5b",
            "success_matrix": {"groups": ["plus"], "rows": ["start", "R1 plus"], "steps": [0, 4], "acc": [[0.1], [0.5]]},
            "stages": [
                {"round": 1, "group": "plus", "initial": {"step": 0, "eval": eval}, "final": {"step": 4, "eval": eval, "weight_change": wc(0.02)}},
                {"round": 1, "group": "plus_minus", "initial": {"step": 4, "eval": eval}, "final": null},
            ],
        })
    }

    #[test]
    fn boundaries_weight_changes_and_problem_counts_come_from_the_stage_records() {
        let c = consolidated();
        let b = boundaries(&c, 2);
        assert_eq!(
            b.iter().map(|m| (m.x, m.label.as_str())).collect::<Vec<_>>(),
            [(0.0, "R1 plus"), (4.0, "R1 plus_minus")]
        );
        assert_eq!(problems_per_group(&c), Some(1000));
        assert!(matrix_heatmap("run", &c).unwrap().title.contains("1000 problems per group"));
        let w = weight_change_heatmap("run", &c).unwrap();
        assert_eq!(w.col_labels, ["overall", "attn_q", "norms"]);
        assert_eq!(w.row_labels, ["R1 plus"], "an unfinished stage has no change yet");
        assert_eq!(w.values, [[Some(0.02), Some(0.04), Some(0.01)]]);
        assert_eq!(weight_change_curve("run", &c).points, [(4.0, 0.02)]);
    }

    #[test]
    fn the_size_suffix_is_read_from_the_file_name() {
        let dir = tempfile::tempdir().unwrap();
        assert!(consolidated_file(dir.path()).is_none());
        std::fs::create_dir(dir.path().join("metrics")).unwrap();
        std::fs::write(dir.path().join("metrics/consolidated_metrics_0.5b.json"), "{}").unwrap();
        let (path, size) = consolidated_file(dir.path()).unwrap();
        assert!(path.ends_with("consolidated_metrics_0.5b.json"));
        assert_eq!(size.as_deref(), Some("0.5b"));
    }
}
