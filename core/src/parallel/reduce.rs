//! Batch-wide quantities from per-rank parts: metric statistics, moments
//! for whitening, and gathers of plain per-row data, so every rank computes
//! what one process with the whole batch would.

use tch::kind::Element;
use tch::{Device, Kind, Tensor};
use tz_dist::{DistError, ReduceOp, World};

/// One rank's contribution to a batch-wide statistic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stat {
    /// Added over ranks.
    Sum(f64),
    /// `Σ sum / Σ count` over ranks (0 when no rank counted anything).
    Mean { sum: f64, count: f64 },
    /// Smallest over ranks (pass `f64::INFINITY` when this rank has no data).
    Min(f64),
    /// Largest over ranks (pass `f64::NEG_INFINITY` when this rank has no data).
    Max(f64),
}

/// Reduces every statistic over the ranks; at most three small collectives
/// (sums and means together, minima, maxima), whatever the count.
pub fn reduce_stats(world: &World, stats: &[Stat]) -> Result<Vec<f64>, DistError> {
    let mut sums = Vec::new();
    let mut mins = Vec::new();
    let mut maxs = Vec::new();
    for s in stats {
        match *s {
            Stat::Sum(v) => sums.push(v),
            Stat::Mean { sum, count } => sums.extend([sum, count]),
            Stat::Min(v) => mins.push(v),
            Stat::Max(v) => maxs.push(v),
        }
    }
    world.all_reduce_f64(&mut sums, ReduceOp::Sum)?;
    world.all_reduce_f64(&mut mins, ReduceOp::Min)?;
    world.all_reduce_f64(&mut maxs, ReduceOp::Max)?;
    let (mut sums, mut mins, mut maxs) = (sums.into_iter(), mins.into_iter(), maxs.into_iter());
    let next = |it: &mut std::vec::IntoIter<f64>| it.next().expect("one value per statistic");
    Ok(stats
        .iter()
        .map(|s| match s {
            Stat::Sum(_) => next(&mut sums),
            Stat::Mean { .. } => {
                let (sum, count) = (next(&mut sums), next(&mut sums));
                if count > 0.0 {
                    sum / count
                } else {
                    0.0
                }
            }
            Stat::Min(_) => next(&mut mins),
            Stat::Max(_) => next(&mut maxs),
        })
        .collect())
}

/// Count, mean and Bessel-corrected variance of values spread over ranks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moments {
    pub count: f64,
    pub mean: f64,
    /// `Σ (x − mean)² / (count − 1)`; 0 with fewer than two values.
    pub var: f64,
}

/// [`Moments`] of every rank's `values` together (two passes, two tiny
/// collectives: no cancellation from `Σx² − n·mean²`). What PPO's
/// advantage whitening needs over the global batch.
pub fn moments(world: &World, values: &[f64]) -> Result<Moments, DistError> {
    let mut first = [values.len() as f64, values.iter().sum()];
    world.all_reduce_f64(&mut first, ReduceOp::Sum)?;
    let [count, sum] = first;
    let mean = if count > 0.0 { sum / count } else { 0.0 };
    let mut second = [values.iter().map(|v| (v - mean).powi(2)).sum()];
    world.all_reduce_f64(&mut second, ReduceOp::Sum)?;
    let var = if count > 1.0 { second[0] / (count - 1.0) } else { 0.0 };
    Ok(Moments { count, mean, var })
}

/// [`Moments`] of the masked entries of `x` over all ranks.
pub fn masked_moments(world: &World, x: &Tensor, mask: &Tensor) -> Result<Moments, DistError> {
    let _no_grad = tch::no_grad_guard();
    let x = x.to_kind(Kind::Double);
    let m = mask.to_kind(Kind::Double);
    let mut first = [m.sum(Kind::Double).double_value(&[]), (&x * &m).sum(Kind::Double).double_value(&[])];
    world.all_reduce_f64(&mut first, ReduceOp::Sum)?;
    let [count, sum] = first;
    let mean = if count > 0.0 { sum / count } else { 0.0 };
    let mut second = [((x - mean).square() * &m).sum(Kind::Double).double_value(&[])];
    world.all_reduce_f64(&mut second, ReduceOp::Sum)?;
    let var = if count > 1.0 { second[0] / (count - 1.0) } else { 0.0 };
    Ok(Moments { count, mean, var })
}

/// `1 − Var(R − V) / Var(R)` over the valid tokens of every rank
/// ([`crate::loss::explained_variance`] for the global batch).
pub fn explained_variance(
    world: &World,
    returns: &Tensor,
    values: &Tensor,
    mask: &Tensor,
) -> Result<f64, DistError> {
    if !world.is_distributed() {
        return Ok(crate::loss::explained_variance(returns, values, mask).double_value(&[]));
    }
    let residual = masked_moments(world, &(returns - values), mask)?;
    let target = masked_moments(world, returns, mask)?;
    Ok(1.0 - residual.var / (target.var + crate::loss::EXPLAINED_VAR_EPS))
}

/// Every rank's `values` (lengths may differ), concatenated in rank order:
/// plain per-row or per-token data (rewards, lengths, values) that a
/// batch-wide computation, such as an advantage estimator, needs whole.
pub fn all_gather_vec<T: Element + Copy + Default>(world: &World, values: &[T]) -> Result<Vec<T>, DistError> {
    if !world.is_distributed() {
        return Ok(values.to_vec());
    }
    let usage = |e: tch::TchError| DistError::Usage {
        op: "all_gather_vec",
        rank: world.rank(),
        world: world.size(),
        problem: e.to_string(),
    };
    let device = world.device();
    let lengths = world.all_gather(&Tensor::from_slice(&[values.len() as i64]).to_device(device))?;
    let lengths = Vec::<i64>::try_from(lengths.to_device(Device::Cpu).view([-1])).map_err(usage)?;
    let longest = lengths.iter().copied().max().unwrap_or(0) as usize;
    let mut padded = values.to_vec();
    padded.resize(longest, T::default());
    let gathered = world.all_gather(&Tensor::from_slice(&padded).to_device(device))?;
    let rows = Vec::<T>::try_from(gathered.to_device(Device::Cpu).view([-1])).map_err(usage)?;
    Ok(rows.chunks(longest.max(1)).zip(&lengths).flat_map(|(row, &n)| row[..n as usize].to_vec()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_process_statistics_are_the_plain_ones() {
        let w = World::single();
        let got = reduce_stats(
            &w,
            &[Stat::Sum(3.0), Stat::Mean { sum: 6.0, count: 4.0 }, Stat::Min(-1.0), Stat::Max(2.0)],
        )
        .unwrap();
        assert_eq!(got, vec![3.0, 1.5, -1.0, 2.0]);
        assert_eq!(reduce_stats(&w, &[Stat::Mean { sum: 0.0, count: 0.0 }]).unwrap(), vec![0.0]);
        let m = moments(&w, &[1.0, 2.0, 3.0, 10.0]).unwrap();
        assert_eq!((m.count, m.mean), (4.0, 4.0));
        assert!((m.var - 50.0 / 3.0).abs() < 1e-12);
        let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 10.0, 99.0]);
        let mask = Tensor::from_slice(&[1.0f32, 1.0, 1.0, 1.0, 0.0]);
        assert_eq!(masked_moments(&w, &x, &mask).unwrap(), m);
        assert_eq!(all_gather_vec(&w, &[1.5f32, 2.5]).unwrap(), vec![1.5, 2.5]);
    }
}
