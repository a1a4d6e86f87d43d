//! Small statistics for reports: mean ± sample standard deviation, and
//! per-step aggregation of several runs' curves.

use std::collections::BTreeMap;

/// Mean and sample standard deviation (n − 1; 0 for one value).
pub fn mean_std(values: &[f64]) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() == 1 {
        return Some((mean, 0.0));
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    Some((mean, var.sqrt()))
}

/// One x position of an aggregated curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Aggregate {
    pub x: f64,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    /// How many curves had a value here.
    pub n: usize,
}

/// Aggregates curves point by point at equal x (steps), in x order.
pub fn aggregate_curves(curves: &[Vec<(f64, f64)>]) -> Vec<Aggregate> {
    let mut at: BTreeMap<i64, (f64, Vec<f64>)> = BTreeMap::new();
    for curve in curves {
        for &(x, y) in curve {
            if y.is_finite() {
                // Steps are integers; keep fractional x apart at 1e-6.
                let entry = at.entry((x * 1e6).round() as i64).or_insert((x, Vec::new()));
                entry.1.push(y);
            }
        }
    }
    at.into_values()
        .map(|(x, ys)| Aggregate {
            x,
            mean: ys.iter().sum::<f64>() / ys.len() as f64,
            min: ys.iter().copied().fold(f64::INFINITY, f64::min),
            max: ys.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            n: ys.len(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_std() {
        assert_eq!(mean_std(&[]), None);
        assert_eq!(mean_std(&[0.5]), Some((0.5, 0.0)));
        let (m, s) = mean_std(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert!((m - 2.5).abs() < 1e-12);
        assert!((s - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn curves_aggregate_by_step_even_when_runs_stop_early() {
        let a = vec![(0.0, 0.1), (10.0, 0.3), (20.0, 0.5)];
        let b = vec![(0.0, 0.3), (10.0, 0.5)];
        let agg = aggregate_curves(&[a, b]);
        assert_eq!(agg.len(), 3);
        assert_eq!((agg[1].x, agg[1].min, agg[1].max, agg[1].n), (10.0, 0.3, 0.5, 2));
        assert!((agg[1].mean - 0.4).abs() < 1e-12);
        assert_eq!(agg[2].n, 1);
        assert_eq!(agg[2].mean, 0.5);
    }
}
